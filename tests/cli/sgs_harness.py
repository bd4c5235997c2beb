"""Shared pieces of the reliability tests (crash, disk full, locked database, overload, sync
faults): start and kill the real binary, post batches over 127.0.0.1, read the SQLite file.

Python 3 standard library only. Every wait is bounded; a helper that gives up raises
TestFailure with what it was waiting for.
"""
import http.client
import json
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time

SKIP = 77  # CTest SKIP_RETURN_CODE of these tests
# The binary is built with ASan+UBSan (tests/CMakeLists.txt sets it): slower, more memory.
SANITIZED = bool(os.environ.get("SGS_SANITIZED"))
SLOWDOWN = 3.0 if SANITIZED else 1.0  # time bounds are multiplied by this


class TestFailure(Exception):
    pass


def check(condition, message):
    if not condition:
        raise TestFailure(message)


def wait_until(predicate, timeout, what, interval=0.05):
    """Polls predicate() until it returns a true value (returned) or timeout seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TestFailure(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def run_test(main):
    """Runs main(); prints PASS/FAIL and exits 0, 1 or SKIP (main may sys.exit(SKIP))."""
    started = time.monotonic()
    try:
        main()
    except TestFailure as e:
        print(f"FAIL: {e}", flush=True)
        sys.exit(1)
    print(f"PASS in {time.monotonic() - started:.1f} s", flush=True)
    sys.exit(0)


# ---------------------------------------------------------------------------------------------
# Events

EVENT_TYPES = ["processed", "delivered", "open", "click", "deferred", "bounce", "dropped"]
# The table each event type lands in (the activity view's `event` column names the type).
TABLES = ["processed", "delivered", "_open", "click", "deferred", "bounce", "dropped",
          "spam_report", "unsubscribe", "group_unsubscribe", "group_resubscribe",
          "account_status_change", "other_events"]


def make_events(prefix, count, rng=None, padding=0):
    """`count` distinct events whose sg_event_id is f"{prefix}-{i}". Distinct sg_message_id
    values keep their content fingerprints distinct too, so none is a duplicate of another."""
    rng = rng or random.Random(prefix)
    out = []
    for i in range(count):
        e = {
            "email": f"u{rng.randrange(10**6)}@example.com",
            "timestamp": 1767225600 + i,
            "event": EVENT_TYPES[rng.randrange(len(EVENT_TYPES))],
            "sg_event_id": f"{prefix}-{i}",
            "sg_message_id": f"m-{prefix}-{i}.filter0001",
        }
        if padding:
            e["useragent"] = "x" * padding
        out.append(e)
    return out


def body_of(events):
    return json.dumps(events, separators=(",", ":")).encode()


# ---------------------------------------------------------------------------------------------
# The daemon

class Daemon:
    """`sendgrid-source run` on a config written into `work`. start() waits until it listens;
    its port may change between starts (listen port 0)."""

    def __init__(self, binary, work, source="default", storage_dir=None, server=None,
                 storage=None, source_extra=None):
        self.binary = binary
        self.work = work
        self.source = source
        self.storage_dir = storage_dir or os.path.join(work, "data")
        self.config = os.path.join(work, f"{source}.toml")
        self.log_path = os.path.join(work, f"{source}.log")
        self.proc = None
        self.port = None
        self.starts = 0
        lines = ["[server]", 'listen = "127.0.0.1:0"']
        lines += [f"{k} = {json.dumps(v)}" for k, v in (server or {}).items()]
        lines += ["[storage]", f"dir = {json.dumps(self.storage_dir)}"]
        lines += [f"{k} = {json.dumps(v)}" for k, v in (storage or {}).items()]
        lines += ["[log]", 'level = "info"', "[[source]]", f"name = {json.dumps(source)}"]
        lines += [f"{k} = {json.dumps(v)}" for k, v in (source_extra or {}).items()]
        with open(self.config, "w") as f:
            f.write("\n".join(lines) + "\n")

    @property
    def db_file(self):
        return os.path.join(self.storage_dir, f"{self.source}.db")

    @property
    def pending_file(self):
        """Where acknowledged bodies wait to be merged: <name>.pending.db beside <name>.db."""
        return pending_file_for(self.db_file)

    @property
    def path(self):
        return f"/webhooks/sendgrid/{self.source}"

    def start(self, timeout=60):
        check(self.proc is None or self.proc.poll() is not None, "daemon already running")
        self.starts += 1
        log = open(self.log_path, "a")
        log.write(f"--- start {self.starts}\n")
        log.flush()
        offset = log.tell()
        self.proc = subprocess.Popen([self.binary, "--config", self.config, "run"],
                                     stdout=log, stderr=subprocess.STDOUT)
        log.close()
        pattern = re.compile(r"listening: POST http://127\.0\.0\.1:(\d+)/webhooks/sendgrid/")

        def listening():
            if self.proc.poll() is not None:
                raise TestFailure(f"daemon exited with {self.proc.returncode} at start:\n"
                                  + self.log_tail())
            with open(self.log_path) as f:
                f.seek(offset)
                m = pattern.search(f.read())
            return m and int(m.group(1))

        self.port = wait_until(listening, timeout, "the daemon to listen")
        return self.port

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self, timeout=60):
        """SIGTERM; returns the exit code."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise TestFailure(f"daemon did not stop within {timeout} s of SIGTERM")

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def pid(self):
        return self.proc.pid

    def log_tail(self, lines=20):
        try:
            with open(self.log_path, errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return ""

    def get(self, path, timeout=10):
        """(status, body) of a GET; (None, error) when the connection fails."""
        try:
            c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
            c.request("GET", path)
            r = c.getresponse()
            out = (r.status, r.read().decode(errors="replace"))
            c.close()
            return out
        except OSError as e:
            return None, str(e)

    def healthz(self):
        """(status, parsed JSON of this source or None, raw body)."""
        status, body = self.get("/healthz")
        try:
            src = json.loads(body)["sources"][self.source]
        except (ValueError, KeyError, TypeError):
            src = None
        return status, src, body

    def metric(self, name):
        """Sum of every sample of a /metrics family (None when absent)."""
        status, body = self.get("/metrics")
        if status != 200:
            return None
        total, found = 0.0, False
        for line in body.splitlines():
            if line.startswith(name + "{") or line.startswith(name + " "):
                total += float(line.rsplit(" ", 1)[1])
                found = True
        return total if found else None

    def wait_idle(self, timeout=60):
        """Waits until nothing is queued or pending: every acknowledged event is in its table."""
        def idle():
            _, src, _ = self.healthz()
            return src and src["queued_events"] == 0 and src["pending_events"] == 0
        wait_until(idle, timeout, "queued and pending events to reach 0", interval=0.1)

    def vm_hwm_kib(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
        return 0


def post(port, path, body, timeout=30, conn=None):
    """POSTs body; returns (status, response body, seconds). status None: connection failed.
    With conn (a keep-alive http.client connection) it is reused; the caller replaces it on
    failure."""
    started = time.monotonic()
    own = conn is None
    try:
        c = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        c.request("POST", path, body=body, headers={"Content-Type": "application/json"})
        r = c.getresponse()
        data = r.read()
        if own:
            c.close()
        return r.status, data.decode(errors="replace"), time.monotonic() - started
    except (OSError, http.client.HTTPException) as e:
        return None, str(e), time.monotonic() - started


# ---------------------------------------------------------------------------------------------
# The database

def connect(db_file, timeout=5.0):
    return sqlite3.connect(db_file, timeout=timeout, isolation_level=None)


def pending_file_for(db_file):
    return db_file[:-len(".db")] + ".pending.db"


def pending_bodies_on_disk(db_file):
    """Acknowledged bodies not yet merged into the tables: those of the pending file above the
    id the last merge recorded (a crash may leave merged ones there, deleted at the next open),
    plus any an older version left in the tables' file."""
    db = connect(db_file)
    try:
        merged = db.execute("SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE "
                            "name = 'merged_bodies'), 0)").fetchone()[0]
        old = db.execute("SELECT count(*) FROM pending_bodies").fetchone()[0]
    finally:
        db.close()
    if not os.path.exists(pending_file_for(db_file)):
        return old
    pdb = connect(pending_file_for(db_file))
    try:
        return old + pdb.execute("SELECT count(*) FROM pending_bodies WHERE id > ?",
                                 (merged,)).fetchone()[0]
    finally:
        pdb.close()


def event_id_counts(db_file, like=None):
    """{sg_event_id: rows} over the activity view (every event table)."""
    db = connect(db_file)
    try:
        if like:
            rows = db.execute("SELECT sg_event_id, count(*) FROM activity WHERE sg_event_id LIKE ?"
                              " GROUP BY sg_event_id", (like,)).fetchall()
        else:
            rows = db.execute("SELECT sg_event_id, count(*) FROM activity GROUP BY sg_event_id"
                              ).fetchall()
        return dict(rows)
    finally:
        db.close()


def integrity(db_file):
    db = connect(db_file)
    try:
        return db.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        db.close()


def scalar(db_file, sql, params=()):
    db = connect(db_file)
    try:
        return db.execute(sql, params).fetchone()[0]
    finally:
        db.close()


def check_exactly_once(db_file, acked_ids, sent_ids):
    """Every acknowledged id stored exactly once; no id stored twice; nothing we never sent."""
    counts = event_id_counts(db_file)
    missing = [i for i in acked_ids if counts.get(i, 0) == 0]
    twice = [i for i, n in counts.items() if n > 1]
    unknown = [i for i in counts if i not in sent_ids]
    check(not missing, f"{len(missing)} acknowledged events are not stored, e.g. {missing[:5]}")
    check(not twice, f"{len(twice)} events are stored more than once, e.g. {twice[:5]}")
    check(not unknown, f"{len(unknown)} stored events were never sent, e.g. {unknown[:5]}")
    pending = pending_bodies_on_disk(db_file)
    check(pending == 0, f"{pending} bodies still pending after the final stop")
    for f in (db_file, pending_file_for(db_file)):
        result = integrity(f)
        check(result == "ok", f"PRAGMA integrity_check of {os.path.basename(f)}: {result}")
    return counts


def temp_work(prefix):
    return tempfile.mkdtemp(prefix=prefix, dir=os.environ.get("TMPDIR", "/tmp"))
