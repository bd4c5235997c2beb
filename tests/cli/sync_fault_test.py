#!/usr/bin/env python3
"""Sync faults at the level of the binary: the daemon killed (SIGKILL) during a sync of many
contacts, once while it waits out a rate limit and once in the middle of the export download;
the next run completes, with no duplicate rows and no tombstones from the broken runs.

Usage: sync_fault_test.py PATH_TO_BINARY

Uses bench/fake_export_server.py on 127.0.0.1: first a complete `sendgrid-source sync` of N
contacts; then the account loses the contacts of its first export file, every export job's
first status poll is answered 429 with X-RateLimit-Reset: 2, and files are sent slowly.
`run` (sync at start) is killed twice mid-sync: after each kill sync_runs shows the run as
'running' (interrupted) and no row is tombstoned. The webhook answers while the sync waits.
The third `run` completes: the deleted contacts, and only they, are tombstoned; no id or email
appears twice. The rate-limit wait is real (2 s) and bounded.
"""
import os
import random
import shutil
import signal
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sgs_harness as h  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FAKE = os.path.join(ROOT, "bench", "fake_export_server.py")
CONTACTS = 30000
FILES = 3


class FakeExport:
    def __init__(self, work, name, *extra):
        self.port_file = os.path.join(work, f"{name}.port")
        self.log = os.path.join(work, f"{name}.requests")
        self.proc = subprocess.Popen(
            [sys.executable, FAKE, "--contacts", str(CONTACTS), "--files", str(FILES),
             "--cache", os.path.join(work, "cache"), "--port-file", self.port_file,
             "--request-log", self.log, *extra],
            stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, f"{name}.err"), "w"))
        h.wait_until(lambda: os.path.exists(self.port_file) and os.path.getsize(self.port_file),
                     120, f"fake export server {name}")
        with open(self.port_file) as f:
            self.url = f"http://127.0.0.1:{f.read().strip()}"

    def requests(self):
        """[(unix time, method, path)] so far."""
        if not os.path.exists(self.log):
            return []
        with open(self.log) as f:
            return [(float(t), m, p) for t, m, p in (line.split() for line in f)]

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=10)


def runs(db):
    conn = h.connect(db)
    try:
        return conn.execute("SELECT id, status, finished_at, rows_tombstoned, rate_limit_waits "
                            "FROM sync_runs WHERE collection='recipients' ORDER BY id").fetchall()
    finally:
        conn.close()


def main():
    binary = sys.argv[1]
    work = h.temp_work("sgs-syncfault.")
    rng = random.Random()
    full = slow = daemon = None
    try:
        full = FakeExport(work, "full")
        slow = FakeExport(work, "slow", "--skip-files", "1", "--throttle-kib-per-s", "256",
                          "--rate-limit-polls", "1", "--rate-limit-reset", "2")
        source = {"api_key": "SG.test-key", "collections": ["recipients"], "sync_interval": "1s"}
        first = h.Daemon(binary, work, source="crm", source_extra={**source, "api_base": full.url})
        r = subprocess.run([binary, "--config", first.config, "sync"], capture_output=True,
                           text=True, timeout=120)
        h.check(r.returncode == 0, f"first sync failed ({r.returncode}): {r.stdout}{r.stderr}")
        db = first.db_file
        h.check(h.scalar(db, "SELECT count(*) FROM recipients") == CONTACTS,
                "first sync did not store every contact")
        full.stop()
        full = None
        time.sleep(1.1)  # older than sync_interval: `run` syncs at start

        daemon = h.Daemon(binary, work, source="crm", source_extra={**source, "api_base": slow.url})
        files_total = FILES - 1
        for round_no, moment in ((1, "rate-limit wait"), (2, "download")):
            seen = len(slow.requests())
            port = daemon.start()

            def newest(kind):
                return [q for q in slow.requests()[seen:] if kind(q)]

            if moment == "rate-limit wait":
                h.wait_until(lambda: newest(lambda q: "/exports/" in q[2]), 30,
                             "the rate-limited export poll")
                # The sync thread sleeps; the webhook keeps answering.
                events = h.make_events(f"s{round_no}", 10)
                status, text, seconds = h.post(port, daemon.path, h.body_of(events))
                h.check(status == 200 and seconds < 1.0 * h.SLOWDOWN,
                        f"POST during the sync's rate-limit wait: {status} in {seconds:.2f} s")
                time.sleep(rng.uniform(0.1, 1.0))
                h.check(not newest(lambda q: q[2].startswith("/files/")),
                        "the sync did not wait out the rate limit")
            else:
                h.wait_until(lambda: newest(lambda q: q[2].startswith("/files/")), 30,
                             "the export download to start")
                time.sleep(rng.uniform(0.1, 1.0))
                polls = newest(lambda q: "/exports/" in q[2])
                h.check(len(polls) >= 2 and polls[1][0] - polls[0][0] >= 1.9,
                        f"the poll after the 429 came too early: {polls}")
            daemon.kill9()
            rows = runs(db)
            h.check(rows[-1][1] == "running" and rows[-1][2] is None,
                    f"round {round_no}: the killed run is not shown as interrupted: {rows[-1]}")
            tomb = h.scalar(db, "SELECT count(*) FROM recipients WHERE deleted_at IS NOT NULL")
            h.check(tomb == 0, f"round {round_no}: the killed run tombstoned {tomb} contacts")
            h.check(h.integrity(db) == "ok", f"round {round_no}: integrity_check failed")
            print(f"round {round_no}: killed during the {moment}; sync_runs shows {rows[-1][1]!r}, "
                  "0 tombstones", flush=True)

        # The next run completes.
        port = daemon.start()
        h.wait_until(lambda: any(r[1] == "succeeded" for r in runs(db)[3:]), 60,
                     "the next run to succeed")
        rc = daemon.stop()
        h.check(rc == 0, f"SIGTERM exit code {rc}:\n{daemon.log_tail()}")
        rows = runs(db)
        statuses = [r[1] for r in rows]
        h.check(statuses[:4] == ["succeeded", "running", "running", "succeeded"],
                f"sync_runs of recipients: {rows}")
        done = rows[3]
        h.check(done[4] == 1, f"the completed run recorded {done[4]} rate-limit waits, not 1")
        per_file = CONTACTS // FILES
        h.check(done[3] == per_file, f"the completed run tombstoned {done[3]}, not {per_file}")
        counts = h.connect(db).execute(
            "SELECT count(*), count(DISTINCT id), count(DISTINCT email), "
            "count(deleted_at) FROM recipients").fetchone()
        h.check(counts == (CONTACTS, CONTACTS, CONTACTS, per_file),
                f"recipients (rows, ids, emails, tombstoned): {counts}")
        # The tombstoned contacts are exactly those of the file the account lost.
        wrong = h.scalar(db, "SELECT count(*) FROM recipients WHERE deleted_at IS NOT NULL AND "
                         "CAST(substr(email, 5, instr(email, '@') - 5) AS INTEGER) >= ?",
                         (per_file,))
        h.check(wrong == 0, f"{wrong} contacts still in the export were tombstoned")
        h.check(h.integrity(db) == "ok", "integrity_check failed at the end")
        print(f"next run: succeeded, {CONTACTS} contacts, no duplicate id or email, "
              f"{per_file} tombstoned (the deleted ones), rate_limit_waits=1; "
              f"sync_runs: {statuses}", flush=True)
    finally:
        if daemon is not None and daemon.alive():
            daemon.kill9()
        for fake in (full, slow):
            if fake is not None and fake.proc.poll() is None:
                fake.proc.kill()
                fake.proc.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    h.run_test(main)
