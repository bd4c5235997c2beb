#!/usr/bin/env python3
"""Crash test: SIGKILL during concurrent load loses no acknowledged event and stores none twice.

Usage: crash_test.py PATH_TO_BINARY [ROUNDS=5]

Several clients post distinct batches (1 to 3000 events) over keep-alive connections and
record the sg_event_ids of every 2xx. The daemon is killed with SIGKILL at a random moment of each round (in round 3 right
after the start, while the bodies the previous kill left pending are being merged) and
restarted. A batch that got no 2xx is either re-sent after the restart (as SendGrid retries)
or abandoned. After the last restart a sample of acknowledged events is re-sent in new bodies
(all must be duplicates), the daemon is stopped cleanly, and the database must hold every
acknowledged event exactly once, no event twice, nothing left pending (in <name>.pending.db),
and both files must pass PRAGMA integrity_check. Bounded: rounds of at most 2.5 s of load after the first 2xx.
"""
import http.client
import os
import random
import shutil
import sys
import threading
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sgs_harness as h  # noqa: E402

CLIENTS = 6
SIZES = [1, 5, 20, 50, 50, 200, 1000, 3000] if not h.SANITIZED else [1, 5, 20, 50, 200, 1000]
MAX_BATCHES_PER_CLIENT = 5000


class Shared:
    def __init__(self):
        self.lock = threading.Lock()
        self.port = None            # None while the daemon is down
        self.generation = 0         # bumped at every start
        self.stop = False
        self.acked = set()
        self.sent = set()
        self.acked_in_round = {}
        self.answers = {}           # status -> count
        self.retried = 0


def client(shared, daemon, index, seed):
    rng = random.Random(seed)
    conn, conn_generation = None, -1
    unanswered = None  # (ids, body) of a batch without a 2xx
    for n in range(MAX_BATCHES_PER_CLIENT):
        with shared.lock:
            if shared.stop:
                return
            port, generation = shared.port, shared.generation
        if port is None:
            time.sleep(0.02)
            continue
        if conn is None or conn_generation != generation:
            if conn is not None:
                conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            conn_generation = generation
        if unanswered and rng.random() < 0.5:
            ids, body = unanswered
            with shared.lock:
                shared.retried += 1
        else:
            events = h.make_events(f"c{index}b{n}", rng.choice(SIZES), rng)
            ids, body = [e["sg_event_id"] for e in events], h.body_of(events)
            with shared.lock:
                shared.sent.update(ids)
        status, _, _ = h.post(port, daemon.path, body, conn=conn)
        with shared.lock:
            shared.answers[status] = shared.answers.get(status, 0) + 1
            if status is not None and 200 <= status < 300:
                shared.acked.update(ids)
                shared.acked_in_round[generation] = shared.acked_in_round.get(generation, 0) + 1
                unanswered = None
            else:
                unanswered = (ids, body)
        if status is None:
            conn.close()
            conn = None
            time.sleep(0.02)  # the daemon is down: wait for the next start
    return


def main():
    binary = sys.argv[1]
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    work = h.temp_work("sgs-crash.")
    try:
        daemon = h.Daemon(binary, work, source="crash", storage={"synchronous": "full"})
        shared = Shared()
        seed = os.environ.get("SGS_CRASH_SEED", str(time.time_ns()))
        print(f"seed {seed} (SGS_CRASH_SEED={seed} repeats the kill moments)", flush=True)
        rng = random.Random(seed)
        threads = [threading.Thread(target=client, args=(shared, daemon, i, rng.random()))
                   for i in range(CLIENTS)]
        pending_at_kill = []
        for r in range(1, rounds + 1):
            port = daemon.start()
            with shared.lock:
                shared.port, shared.generation = port, daemon.starts
            if r == 1:
                for t in threads:
                    t.start()
            if r == 3:
                # Right after the start: while the bodies the last kill left pending are being
                # merged (recovery itself is interrupted).
                time.sleep(rng.uniform(0.0, 0.1))
            else:
                # At a random moment once load is under way.
                h.wait_until(lambda: shared.acked_in_round.get(daemon.starts, 0) > 0, 30,
                             f"a 2xx in round {r}")
                time.sleep(rng.uniform(0.05, 2.5))
            with shared.lock:
                shared.port = None
            daemon.kill9()
            pending_at_kill.append(h.pending_bodies_on_disk(daemon.db_file))
            print(f"round {r}: killed; acked events so far {len(shared.acked)}, "
                  f"pending bodies left by the kill {pending_at_kill[-1]}", flush=True)

        # Last start: clients keep going (and re-send what was unanswered) for a moment.
        port = daemon.start()
        with shared.lock:
            shared.port, shared.generation = port, daemon.starts
        h.wait_until(lambda: shared.acked_in_round.get(daemon.starts, 0) >= 3 * CLIENTS, 60,
                     "2xx answers after the last restart")
        with shared.lock:
            shared.stop = True
        for t in threads:
            t.join(timeout=60)
            h.check(not t.is_alive(), "a client did not finish")

        # Re-send a sample of acknowledged events as fresh bodies: every one is a duplicate.
        sample = rng.sample(sorted(shared.acked), min(2000, len(shared.acked)))
        all_events = {}
        for i in sample:
            prefix, n = i.rsplit("-", 1)
            all_events.setdefault(prefix, []).append(int(n))
        redelivered = 0
        for prefix, ns in list(all_events.items())[:200]:
            rebuilt = h.make_events(prefix, max(ns) + 1, random.Random(0))
            # Same ids, different other fields: the sg_event_id alone makes them duplicates.
            body = h.body_of([rebuilt[n] for n in ns])
            status, text, _ = h.post(port, daemon.path, body)
            h.check(status == 200, f"re-sent acknowledged events answered {status}: {text}")
            h.check('"stored":0' in text, f"re-sent acknowledged events were stored again: {text}")
            redelivered += len(ns)

        daemon.wait_idle()
        rc = daemon.stop()
        h.check(rc == 0, f"SIGTERM exit code {rc}:\n{daemon.log_tail()}")
        counts = h.check_exactly_once(daemon.db_file, shared.acked, shared.sent)
        unacked_stored = sum(1 for i in counts if i not in shared.acked)
        h.check(any(p > 0 for p in pending_at_kill) or rounds < 3,
                f"no kill left pending bodies to recover ({pending_at_kill}); the journal path "
                "was not exercised")
        print(f"rounds={rounds} answers={shared.answers} retried_batches={shared.retried} "
              f"sent_events={len(shared.sent)} acked_events={len(shared.acked)} "
              f"stored_events={len(counts)} stored_without_ack={unacked_stored} "
              f"redelivered_duplicates={redelivered} pending_bodies_at_kills={pending_at_kill} "
              "integrity=ok", flush=True)
    finally:
        try:
            if "daemon" in locals() and daemon.alive():
                daemon.kill9()
        finally:
            if os.environ.get("SGS_KEEP_WORK"):
                print(f"work dir kept: {work}")
            else:
                shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    h.run_test(main)
