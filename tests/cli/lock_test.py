#!/usr/bin/env python3
"""Locked database, from outside the daemon (another process's sqlite3 connections).

Usage: lock_test.py PATH_TO_BINARY

1. A reader holding a long read transaction on <name>.db (BEGIN; SELECT ...; held) never
   blocks ingestion: batches are acknowledged promptly and merged into the tables meanwhile
   (WAL); the reader's snapshot stays where it began.
2. A writer holding the write lock (BEGIN IMMEDIATE) of <name>.pending.db, where
   acknowledgements are committed, longer than storage.busy_timeout_ms: concurrent POSTs
   answer 503 within about the busy timeout (not a hang, never a 200), /healthz is 503 and
   says the database is locked; once the lock is released ingestion resumes by itself and the
   refused batches, re-sent as SendGrid would, are stored in full.
3. A writer holding the write lock of <name>.db (the tables) for as long: POSTs are still
   acknowledged (durable in the pending file, below the high-water mark) and merged into the
   tables once the lock is released.
At the end every acknowledged event is stored exactly once and integrity_check is ok.
"""
import os
import shutil
import sys
import threading
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sgs_harness as h  # noqa: E402

BUSY_TIMEOUT_MS = 500
HOLD_SECONDS = 3.0 * h.SLOWDOWN


def main():
    binary = sys.argv[1]
    work = h.temp_work("sgs-lock.")
    daemon = None
    try:
        daemon = h.Daemon(binary, work, source="locks",
                          storage={"busy_timeout_ms": BUSY_TIMEOUT_MS})
        port = daemon.start()
        acked, sent = set(), set()
        lock = threading.Lock()
        counter = [0]

        def new_batch(size):
            with lock:
                counter[0] += 1
                n = counter[0]
            events = h.make_events(f"l{n}", size)
            ids = [e["sg_event_id"] for e in events]
            with lock:
                sent.update(ids)
            return ids, h.body_of(events)

        def send(ids, body):
            status, text, seconds = h.post(port, daemon.path, body)
            if status == 200:
                with lock:
                    acked.update(ids)
            return status, text, seconds

        for size in (50, 5000):
            status, text, _ = send(*new_batch(size))
            h.check(status == 200, f"first POSTs answered {status}: {text}")
        daemon.wait_idle()

        # 1. A long read transaction.
        reader = h.connect(daemon.db_file)
        reader.execute("BEGIN")
        before = reader.execute("SELECT count(*) FROM activity").fetchone()[0]
        slowest = 0.0
        for size in (50, 10, 5000, 200, 1, 6000, 50, 50):
            status, text, seconds = send(*new_batch(size))
            h.check(status == 200, f"POST while a reader holds a snapshot answered {status}: "
                    f"{text}")
            slowest = max(slowest, seconds)
        h.check(slowest < 2.0 * h.SLOWDOWN, f"a POST took {slowest:.2f} s while a reader held a snapshot")
        daemon.wait_idle(timeout=20)  # merges commit while the reader still holds its snapshot
        still = reader.execute("SELECT count(*) FROM activity").fetchone()[0]
        h.check(still == before, f"the reader's snapshot moved ({before} -> {still})")
        reader.execute("COMMIT")
        now = reader.execute("SELECT count(*) FROM activity").fetchone()[0]
        h.check(now == len(acked), f"after the read: {now} rows, {len(acked)} acknowledged")
        reader.close()
        print(f"reader held a snapshot of {before} rows; meanwhile 8 POSTs answered 200, "
              f"slowest {slowest:.2f} s, and were merged", flush=True)

        # 2. An outside writer holds the pending file's write lock beyond the busy timeout.
        writer = h.connect(daemon.pending_file, timeout=5)
        writer.execute("BEGIN IMMEDIATE")
        locked_at = time.monotonic()
        refused, results = [], []

        def locked_client(i):
            ids, body = new_batch(20 + i)
            status, text, seconds = send(ids, body)
            with lock:
                results.append((status, text, seconds))
                if status != 200:
                    refused.append((ids, body))

        clients = [threading.Thread(target=locked_client, args=(i,)) for i in range(6)]
        for t in clients:
            t.start()
        for t in clients:
            t.join(timeout=30)
        h.check(all(not t.is_alive() for t in clients), "a POST hung while the database was locked")
        status, src, body = daemon.healthz()
        healthz_during = (status, body)
        held = time.monotonic() - locked_at
        h.check(held < HOLD_SECONDS, f"the 503s took {held:.1f} s, longer than the lock is held")
        time.sleep(HOLD_SECONDS - held)
        writer.execute("ROLLBACK")
        writer.close()

        for status, text, seconds in results:
            h.check(status == 503, f"POST while locked answered {status}: {text}")
            h.check(seconds < (BUSY_TIMEOUT_MS / 1000 * 4 + 1.0) * h.SLOWDOWN,
                    f"503 while locked took {seconds:.2f} s (busy timeout {BUSY_TIMEOUT_MS} ms)")
            h.check("locked" in text, f"the 503 does not say the database is locked: {text}")
        h.check(healthz_during[0] == 503 and "locked" in healthz_during[1],
                f"/healthz while locked: {healthz_during}")
        slowest = max(s for _, _, s in results)
        print(f"6 concurrent POSTs while locked: all 503, slowest {slowest:.2f} s; "
              f"/healthz: {healthz_during[1]}", flush=True)

        # Released: resumes by itself; the refused batches are re-sent and stored in full.
        for ids, body in refused:
            status, text, _ = send(ids, body)
            h.check(status == 200 and f'"stored":{len(ids)},' in text,
                    f"re-sent batch after the lock was released: {status} {text}")
        h.wait_until(lambda: daemon.healthz()[0] == 200, 10, "/healthz to be 200 again")
        daemon.wait_idle()

        # 3. An outside writer holds the tables' write lock: acknowledging goes on.
        in_tables = h.scalar(daemon.db_file, "SELECT count(*) FROM activity")
        writer = h.connect(daemon.db_file, timeout=5)
        writer.execute("BEGIN IMMEDIATE")
        answers = [send(*new_batch(size)) for size in (50, 500, 20, 1000, 5)]
        _, src, body = daemon.healthz()
        time.sleep(max(0.0, HOLD_SECONDS - sum(s for _, _, s in answers)))
        writer.execute("ROLLBACK")
        writer.close()
        for status, text, seconds in answers:
            h.check(status == 200, f"POST while the tables were locked answered {status}: {text}")
            h.check(seconds < 2.0 * h.SLOWDOWN,
                    f"POST while the tables were locked took {seconds:.2f} s")
        h.check(src and src["pending_events"] >= 1575,
                f"acknowledged events were not waiting in the pending file: {body}")
        daemon.wait_idle(timeout=30)
        now = h.scalar(daemon.db_file, "SELECT count(*) FROM activity")
        h.check(now == in_tables + 1575, f"after the tables' lock: {now - in_tables} of 1575 "
                "acknowledged events merged")
        print(f"tables locked for {HOLD_SECONDS:.0f} s: 5 POSTs answered 200 (slowest "
              f"{max(s for _, _, s in answers):.2f} s), {src['pending_events']} events waited "
              "in the pending file and were merged after the release", flush=True)
        rc = daemon.stop()
        h.check(rc == 0, f"SIGTERM exit code {rc}:\n{daemon.log_tail()}")
        counts = h.check_exactly_once(daemon.db_file, acked, sent)
        h.check(len(counts) == len(sent), f"{len(sent) - len(counts)} sent events not stored")
        print(f"acked_events={len(acked)} stored_events={len(counts)} integrity=ok", flush=True)
    finally:
        if daemon is not None and daemon.alive():
            daemon.kill9()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    h.run_test(main)
