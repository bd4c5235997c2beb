#!/usr/bin/env python3
"""Migration test: `migrate` on a store written before index segments (schema version 5),
killed with SIGKILL while it rebuilds the indexes (0006), and again while it copies every event
into event_rows (0010), loses and duplicates nothing; run again it shows its progress and
finishes; the daemon then stores new events into the new layout.

Usage: migration_crash_test.py PATH_TO_BINARY

The version-5 store is built here from the repository's schema/0001..0005 files: events of
every type (and of a type SendGrid may add later), a rejected element, and an acknowledged
body not merged yet in <name>.pending.db. Bounded: about 20 s.
"""
import glob
import os
import random
import sqlite3
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sgs_harness as h  # noqa: E402

SCHEMA_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "schema")
TABLES = ["processed", "dropped", "delivered", "deferred", "bounce", "_open", "click",
          "spam_report", "unsubscribe", "group_unsubscribe", "group_resubscribe",
          "account_status_change", "other_events"]
PER_TABLE = 30000 if not h.SANITIZED else 10000


def build_version5_store(db_file):
    db = sqlite3.connect(db_file, isolation_level=None)
    db.execute("PRAGMA page_size=16384")
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("BEGIN")
    for path in sorted(glob.glob(os.path.join(SCHEMA_DIR, "000[1-5]_*.sql"))):
        with open(path) as f:
            for statement in split_statements(f.read()):
                db.execute(statement)
    db.execute("PRAGMA user_version = 5")
    for n, table in enumerate(TABLES):
        event_col = "event, " if table == "other_events" else ""
        event_val = "'brand_new', " if table == "other_events" else ""
        db.execute(f"""
            WITH RECURSIVE i(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM i WHERE k < {PER_TABLE})
            INSERT INTO {table} ({event_col}sg_event_id, sg_message_id, email, timestamp, raw,
                                 received_at)
            SELECT {event_val}'{n}-' || k, hex(randomblob(12)), hex(randomblob(4)) || '@example.com',
                   1700000000 + k * 37 + {n}, '{{"event":"x"}}', '2026-01-01T00:00:00.000Z'
            FROM i""")
    db.execute("INSERT INTO rejected_events (reason, raw, received_at) "
               "VALUES ('must be a JSON object', '7', '2026-01-01T00:00:00.000Z')")
    db.execute("COMMIT")
    db.close()
    pending = sqlite3.connect(h.pending_file_for(db_file), isolation_level=None)
    pending.execute("PRAGMA journal_mode=WAL")
    pending.execute("CREATE TABLE pending_bodies (id INTEGER PRIMARY KEY AUTOINCREMENT, "
                    "received_at TEXT NOT NULL, body BLOB NOT NULL, events INTEGER NOT NULL, "
                    "duplicates BLOB)")
    body = h.body_of(h.make_events("pending", 25, random.Random(5)))
    pending.execute("INSERT INTO pending_bodies (received_at, body, events) VALUES (?, ?, 25)",
                    ("2026-01-01T00:00:00.000Z", body))
    pending.close()


def split_statements(sql):
    out, current = [], ""
    for line in sql.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            out.append(current)
            current = ""
    return out


def snapshot(db_file):
    """What must survive: every event id per table, the rejected elements, the version."""
    db = h.connect(db_file)
    ids = {t: db.execute(f"SELECT count(*), count(DISTINCT sg_event_id) FROM {t}").fetchone()
           for t in TABLES}
    rejected = db.execute("SELECT count(*) FROM rejected_events").fetchone()[0]
    version = db.execute("PRAGMA user_version").fetchone()[0]
    db.close()
    return ids, rejected, version


def kill_during(binary, config, err_path, migration):
    """Runs `migrate` and SIGKILLs it shortly after it says it applies `migration`."""
    with open(err_path, "w") as err:
        proc = subprocess.Popen([binary, "--config", config, "migrate"],
                                stdout=subprocess.PIPE, stderr=err)
    h.wait_until(lambda: f"applying migration {migration}" in open(err_path).read(), 120,
                 f"migrate to start {migration}")
    time.sleep(random.Random().uniform(0.05, 0.4))
    proc.kill()
    out, _ = proc.communicate(timeout=30)
    h.check(b"schema version" not in out, f"migrate finished {migration} before it could be "
            "killed: the store is too small for this test")


def main(binary):
    work = h.temp_work("sgs-migration-")
    daemon = h.Daemon(binary, work)
    os.makedirs(daemon.storage_dir)
    build_version5_store(daemon.db_file)
    before_ids, before_rejected, version = snapshot(daemon.db_file)
    h.check(version == 5, f"built a version {version} store")

    # SIGKILL while 0006 rebuilds the indexes, then while 0010 copies every row into
    # event_rows: each migration is one transaction, so the store stays at the version before
    # the one killed (0006..0009 committed by the second run), with every row.
    for run, (migration, version_left) in enumerate([("0006", 5), ("0010", 9)], 1):
        kill_during(binary, daemon.config, os.path.join(work, f"migrate{run}.err"), migration)
        ids, rejected, version = snapshot(daemon.db_file)
        h.check(version == version_left,
                f"after the kill in {migration} the store is at version {version}, "
                f"not {version_left}")
        h.check(ids == before_ids and rejected == before_rejected,
                f"the migration killed in {migration} changed the rows")
        h.check(h.integrity(daemon.db_file) == "ok",
                f"integrity_check after the kill in {migration}")

    # Again, to the end: it says what it does, and keeps every row.
    result = subprocess.run([binary, "--config", daemon.config, "migrate"], capture_output=True,
                            text=True, timeout=300)
    h.check(result.returncode == 0, f"migrate exited {result.returncode}: {result.stderr}")
    h.check("is at schema version" in result.stdout, f"migrate said: {result.stdout}")
    h.check("applying migration 0010_one_event_table" in result.stderr,
            f"migrate showed no progress: {result.stderr}")
    ids, rejected, version = snapshot(daemon.db_file)
    h.check(version >= 6, f"migrated store at version {version}")
    expected = dict(before_ids)
    db = h.connect(daemon.db_file)
    merged = {t: db.execute(f"SELECT count(*) FROM {t} WHERE sg_event_id LIKE 'pending%'")
              .fetchone()[0] for t in TABLES}
    for t in TABLES:
        n = before_ids[t][0] + merged[t]
        expected[t] = (n, n)
    h.check(sum(merged.values()) == 25, f"{sum(merged.values())} of the 25 pending events merged")
    h.check(ids == expected, f"rows after migrating: {ids}, expected {expected}")
    h.check(rejected == before_rejected, "rejected elements kept")
    h.check(h.pending_bodies_on_disk(daemon.db_file) == 0, "pending body merged")
    days = db.execute("SELECT day, event, events FROM daily_counts ORDER BY 1, 2").fetchall()
    counted = db.execute("SELECT date(timestamp, 'unixepoch'), event, count(*) FROM activity "
                         "WHERE timestamp IS NOT NULL GROUP BY 1, 2 ORDER BY 1, 2").fetchall()
    h.check(days == counted, "daily_counts after the migration differs from the rows")
    plan = " ".join(r[3] for r in db.execute(
        "EXPLAIN QUERY PLAN SELECT * FROM activity WHERE email = 'x@example.com'"))
    h.check("SCAN" not in plan.replace("SCAN activity", ""), f"email lookup plan: {plan}")
    db.close()

    # The daemon takes new events into the migrated store.
    daemon.start()
    events = h.make_events("after", 300, random.Random(6))
    status, _, _ = h.post(daemon.port, daemon.path, h.body_of(events))
    h.check(status == 200, f"POST after the migration answered {status}")
    h.check(daemon.stop() == 0, "clean stop")
    counts = h.event_id_counts(daemon.db_file, like="after%")
    h.check(len(counts) == 300 and set(counts.values()) == {1},
            f"{len(counts)} of 300 new events stored once")
    h.check(h.integrity(daemon.db_file) == "ok", "integrity_check at the end")
    print(f"PASS: {sum(n for n, _ in before_ids.values())} events kept through a killed and a "
          "complete migration")


if __name__ == "__main__":
    h.run_test(lambda: main(sys.argv[1]))
