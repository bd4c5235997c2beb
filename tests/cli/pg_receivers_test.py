#!/usr/bin/env python3
"""Several receivers writing one PostgreSQL store (issue 17), against a real server.

Usage: pg_receivers_test.py PATH_TO_BINARY   (run under scripts/with-postgres.sh, which starts
a private server and exports SGS_TEST_PG_URL, PGPASSWORD and SGS_TEST_PG_CTL; CTest does)

Two daemons on two ports write one schema:
 1. the same batches posted to both at the same moment, and batches of their own, from
    concurrent clients: every event is stored exactly once;
 2. PostgreSQL stopped for ~2 s and started again under load: posts meanwhile are answered
    503 (never 2xx), /healthz says why, the receivers recover by themselves;
 3. one receiver SIGKILLed under load: every event either answered with a 2xx is stored.
At the end every acknowledged sg_event_id is in the tables exactly once and nothing stored was
never sent. Bounded: about 30 s.
"""
import os
import subprocess
import sys
import threading
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sgs_harness as h  # noqa: E402

URL = os.environ.get("SGS_TEST_PG_URL")
PG_CTL = os.environ.get("SGS_TEST_PG_CTL")


def psql(sql):
    out = subprocess.run(["psql", URL, "-AtX", "-v", "ON_ERROR_STOP=1", "-c", sql],
                         capture_output=True, text=True, timeout=60)
    h.check(out.returncode == 0, f"psql {sql!r}: {out.stderr}")
    return out.stdout.strip()


class Load:
    """Clients posting distinct batches (prefix-n) to one or two receivers until stopped;
    records the sg_event_ids of every 2xx and every status seen."""

    def __init__(self, name, receivers, clients=2, size=50, same_to_all=False):
        self.name, self.receivers, self.size, self.same = name, receivers, size, same_to_all
        self.acked, self.sent, self.statuses = set(), set(), {}
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self.client, args=(c,)) for c in range(clients)]

    def record(self, status, ids):
        with self.lock:
            self.statuses[status] = self.statuses.get(status, 0) + 1
            if status is not None and 200 <= status < 300:
                self.acked.update(ids)

    def client(self, c):
        n = 0
        while not self.stop.is_set():
            events = h.make_events(f"{self.name}{c}x{n}", self.size)
            ids = [e["sg_event_id"] for e in events]
            body = h.body_of(events)
            with self.lock:
                self.sent.update(ids)
            targets = self.receivers if self.same else [self.receivers[n % len(self.receivers)]]
            if len(targets) == 1:
                st, _, _ = h.post(targets[0].port, targets[0].path, body, timeout=10)
                self.record(st, ids)
            else:
                # The same body to every receiver at the same moment.
                results = [None] * len(targets)
                def send(i, d):
                    results[i] = h.post(d.port, d.path, body, timeout=10)[0]
                ts = [threading.Thread(target=send, args=(i, d)) for i, d in enumerate(targets)]
                for t in ts:
                    t.start()
                for t in ts:
                    t.join()
                for st in results:
                    self.record(st, ids)
            n += 1

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for t in self.threads:
            t.join()


def stored_ids():
    rows = psql("SELECT sg_event_id || ' ' || count(*) FROM \"default\".activity GROUP BY sg_event_id")
    out = {}
    for line in rows.splitlines():
        k, n = line.rsplit(" ", 1)
        out[k] = int(n)
    return out


def main():
    binary = sys.argv[1]
    if not URL or not PG_CTL:
        if os.environ.get("CI") == "true":
            raise h.TestFailure("CI=true but SGS_TEST_PG_URL is not set (scripts/with-postgres.sh)")
        print("SKIP: SGS_TEST_PG_URL not set (run under scripts/with-postgres.sh)")
        sys.exit(h.SKIP)
    work = h.temp_work("sgs-pg-receivers-")
    storage = {"backend": "postgresql", "url": URL}
    a = h.Daemon(binary, os.path.join(work), source="default", storage=storage)
    os.makedirs(os.path.join(work, "b"))
    b = h.Daemon(binary, os.path.join(work, "b"), source="default", storage=storage)
    a.start()
    b.start()
    loads = []
    try:
        # 1. Same and different batches, concurrently, to both receivers.
        with Load("same", [a, b], clients=3, size=100, same_to_all=True) as same, \
                Load("own", [a, b], clients=3, size=50) as own:
            time.sleep(4)
        loads += [same, own]
        counts = stored_ids()
        for load in (same, own):
            h.check(load.acked, f"{load.name}: nothing acknowledged: {load.statuses}")
            twice = [k for k in load.acked if counts.get(k, 0) != 1]
            h.check(not twice, f"{load.name}: {len(twice)} acknowledged events not stored exactly "
                    f"once, e.g. {twice[:3]}")
        h.check(same.statuses.get(503, 0) == 0, f"503s without an outage: {same.statuses}")
        print(f"same+own: {len(same.acked)} + {len(own.acked)} acknowledged, each stored once")

        # 2. PostgreSQL stopped and started again under load.
        with Load("outage", [a, b], clients=2, size=20) as outage:
            time.sleep(1)
            subprocess.run(f"{PG_CTL} -m fast stop", shell=True, check=True,
                           stdout=subprocess.DEVNULL)
            time.sleep(1)
            status, src, body = a.healthz()
            h.check(status == 503 or (src and not src.get("writable", True)),
                    f"/healthz during the outage: {status} {body}")
            time.sleep(1)
            subprocess.run(f"{PG_CTL} start", shell=True, check=True, stdout=subprocess.DEVNULL)
            acked_before = len(outage.acked)
            h.wait_until(lambda: len(outage.acked) > acked_before + 200, 30,
                         "posts to be acknowledged again after PostgreSQL came back")
        loads.append(outage)
        h.check(outage.statuses.get(503, 0) > 0, f"no 503 during the outage: {outage.statuses}")
        print(f"outage: statuses {outage.statuses}")

        # 3. One receiver SIGKILLed under load.
        with Load("kill", [a, b], clients=4, size=50) as kill:
            time.sleep(1.5)
            b.kill9()
            time.sleep(1)
        loads.append(kill)
        print(f"kill: statuses {kill.statuses}")
        h.check(a.stop() == 0, "receiver a did not stop cleanly")

        counts = stored_ids()
        sent = set().union(*(l.sent for l in loads))
        for load in loads:
            missing = [k for k in load.acked if counts.get(k, 0) == 0]
            h.check(not missing, f"{load.name}: {len(missing)} acknowledged events are missing, "
                    f"e.g. {missing[:3]}")
        twice = [k for k, n in counts.items() if n != 1]
        h.check(not twice, f"{len(twice)} events stored more than once, e.g. {twice[:3]}")
        unknown = [k for k in counts if k not in sent]
        h.check(not unknown, f"{len(unknown)} stored events were never sent, e.g. {unknown[:3]}")
        print(f"total: {len(counts)} events stored, each once; every acknowledged one present")
    finally:
        for d in (a, b):
            if d.alive():
                d.proc.kill()
                d.proc.wait()


if __name__ == "__main__":
    h.run_test(main)
