#!/usr/bin/env python3
"""Steady mixed webhook load for bench/soak.sh, and a sampler of the daemon every N seconds.

Usage: soak_load.py --url http://127.0.0.1:PORT --source NAME --pid PID --db FILE
                    --rate EVENTS_PER_S --seconds S --csv OUT [--sample-seconds 10]

Load: open-loop pacing (wrk has no rate limit; wrk2 is not packaged): a scheduler emits one
request every 1/(rate/mean batch size) seconds, workers with keep-alive connections send it,
and a request's latency counts from when it was *due*, so a stalled daemon shows up as latency
instead of silently lowering the rate. Bodies mix SendGrid's shapes: batch sizes 1..1000
events (mean ~146), every event type, ~2% of requests re-send an earlier body verbatim
(a retry: all duplicates), ~0.5% of events without `email` (kept in rejected_events).

Every --sample-seconds the sampler appends a CSV row: elapsed s, offered and stored events/s,
p50/p99 latency (ms) of the requests finished in the window, non-2xx answers, RSS and peak RSS
(MiB, /proc/PID/status), WAL and database size (MiB) of <name>.db and the WAL of
<name>.pending.db (where acknowledged bodies wait), WAL restart checkpoints and WAL resets
(/metrics), pending and queued events (/healthz), succeeded sync runs (sync_runs).
At the end it waits until nothing is pending and checks the stored rows against the 2xx count.
Python 3 standard library only; bounded by --seconds plus a 120 s drain.
"""
import argparse
import csv
import http.client
import json
import os
import queue
import random
import sqlite3
import threading
import time
import urllib.parse

SIZES = [(1, 20), (10, 30), (50, 25), (200, 15), (1000, 10)]  # (events, weight %)
MEAN_BATCH = sum(n * w for n, w in SIZES) / 100
TYPES = ["processed"] * 30 + ["delivered"] * 29 + ["open"] * 22 + ["click"] * 7 + \
    ["deferred"] * 4 + ["bounce"] * 3 + ["dropped"] * 2 + ["unsubscribe", "spamreport",
                                                            "group_unsubscribe"]


def make_batch(rng, serial, size):
    """A body of `size` distinct new events; returns (bytes, stored events, rejected)."""
    events, rejected = [], 0
    now = int(time.time())
    for i in range(size):
        e = {"email": f"user{rng.randrange(200000)}@example.com", "timestamp": now,
             "event": rng.choice(TYPES), "sg_event_id": f"soak{serial}-{i}",
             "sg_message_id": f"soak{serial}.{i}.filter0001", "smtp-id": f"<{serial}.{i}@x>",
             "category": ["newsletter"], "tenant_id": str(rng.randrange(50))}
        if e["event"] == "click":
            e["url"] = f"https://example.com/p/{rng.randrange(1000)}"
        if e["event"] in ("bounce", "dropped", "deferred"):
            e["reason"] = "550 5.1.1 mailbox unavailable"
        if rng.random() < 0.005:
            del e["email"]
            rejected += 1
        events.append(e)
    return json.dumps(events, separators=(",", ":")).encode(), size - rejected, rejected


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.latencies = []       # seconds, requests finished in the current window
        self.non_2xx = 0
        self.offered_events = 0
        self.acked_new_events = 0  # events of 2xx'd first sends (retries excluded)
        self.sent_new_events = 0
        self.dropped_requests = 0  # the client could not keep the pace (queue full)
        self.all_latencies = []


def worker(host, port, path, jobs, stats, stop):
    conn = None
    while not stop.is_set() or not jobs.empty():
        try:
            due, body, events, new = jobs.get(timeout=0.2)
        except queue.Empty:
            continue
        status = None
        for _ in range(2):  # one reconnect for a keep-alive connection closed meanwhile
            try:
                if conn is None:
                    conn = http.client.HTTPConnection(host, port, timeout=60)
                conn.request("POST", path, body=body,
                             headers={"Content-Type": "application/json"})
                r = conn.getresponse()
                r.read()
                status = r.status
                break
            except (OSError, http.client.HTTPException):
                if conn:
                    conn.close()
                conn = None
        latency = time.monotonic() - due
        with stats.lock:
            stats.latencies.append(latency)
            stats.all_latencies.append(latency)
            if status is None or not 200 <= status < 300:
                stats.non_2xx += 1
            elif new:
                stats.acked_new_events += events


def percentile(values, p):
    if not values:
        return 0.0
    values = sorted(values)
    return values[min(len(values) - 1, int(p / 100 * len(values)))]


def get(host, port, path):
    try:
        c = http.client.HTTPConnection(host, port, timeout=10)
        c.request("GET", path)
        r = c.getresponse()
        body = r.read().decode()
        c.close()
        return body
    except OSError:
        return ""


def metric(text, name):
    total = None
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            total = (total or 0) + float(line.rsplit(" ", 1)[1])
    return total


def proc_status(pid):
    out = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(("VmRSS:", "VmHWM:")):
                    out[line.split(":")[0]] = int(line.split()[1]) / 1024
    except OSError:
        pass
    return out


def size_mb(path):
    try:
        return os.path.getsize(path) / 2**20
    except OSError:
        return 0.0


def succeeded_syncs(db):
    try:
        c = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        n = c.execute("SELECT count(*) FROM sync_runs WHERE status='succeeded'").fetchone()[0]
        c.close()
        return n
    except sqlite3.Error:
        return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--source", required=True)
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--db", required=True)
    ap.add_argument("--rate", type=float, required=True, help="events per second")
    ap.add_argument("--seconds", type=float, required=True)
    ap.add_argument("--csv", required=True)
    ap.add_argument("--sample-seconds", type=float, default=10)
    ap.add_argument("--workers", type=int, default=8)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    u = urllib.parse.urlsplit(args.url)
    host, port = u.hostname, u.port
    path = f"/webhooks/sendgrid/{args.source}"
    rng = random.Random(args.seed)
    stats = Stats()
    jobs = queue.Queue(maxsize=1000)
    stop = threading.Event()
    workers = [threading.Thread(target=worker, args=(host, port, path, jobs, stats, stop))
               for _ in range(args.workers)]
    for t in workers:
        t.start()

    interval = MEAN_BATCH / args.rate
    sizes = [n for n, w in SIZES for _ in range(w)]
    recent = []  # recent bodies, re-sent as retries
    fields = ["elapsed_s", "offered_events_per_s", "stored_events_per_s", "p50_ms", "p99_ms",
              "non_2xx", "rss_mb", "peak_rss_mb", "wal_mb", "db_mb", "pending_wal_mb",
              "wal_restart_checkpoints",
              "wal_resets", "pending_events", "queued_events", "syncs_succeeded"]
    out = open(args.csv, "w", newline="")
    writer = csv.writer(out)
    writer.writerow(fields)
    start = time.monotonic()
    next_due, next_sample = start, start + args.sample_seconds
    last_stored = metric(get(host, port, "/metrics"), "sendgrid_source_events_stored_total") or 0
    last_sample_t = start
    serial = 0
    print(f"soak: {args.rate:.0f} events/s as {1 / interval:.1f} requests/s "
          f"(mean {MEAN_BATCH:.0f} events), {args.seconds:.0f} s, CSV {args.csv}", flush=True)
    while True:
        now = time.monotonic()
        if now - start >= args.seconds:
            break
        if now >= next_sample:
            text = get(host, port, "/metrics")
            stored = metric(text, "sendgrid_source_events_stored_total") or 0
            health = get(host, port, "/healthz")
            try:
                src = json.loads(health)["sources"][args.source]
            except (ValueError, KeyError):
                src = {}
            ps = proc_status(args.pid)
            with stats.lock:
                window, stats.latencies = stats.latencies, []
                non_2xx, stats.non_2xx = stats.non_2xx, 0
                offered, stats.offered_events = stats.offered_events, 0
            span = now - last_sample_t
            row = [round(now - start, 1), round(offered / span), round((stored - last_stored) / span),
                   round(percentile(window, 50) * 1000, 1), round(percentile(window, 99) * 1000, 1),
                   non_2xx, round(ps.get("VmRSS", 0), 1), round(ps.get("VmHWM", 0), 1),
                   round(size_mb(args.db + "-wal"), 2), round(size_mb(args.db), 2),
                   round(size_mb(args.db[:-len(".db")] + ".pending.db-wal"), 2),
                   int(metric(text, "sendgrid_source_wal_restart_checkpoints_total") or 0),
                   int(metric(text, "sendgrid_source_wal_resets_total") or 0),
                   src.get("pending_events", ""), src.get("queued_events", ""),
                   succeeded_syncs(args.db)]
            writer.writerow(row)
            out.flush()
            print(" ".join(f"{k}={v}" for k, v in zip(fields, row)), flush=True)
            last_stored, last_sample_t = stored, now
            next_sample += args.sample_seconds
        if now < next_due:
            time.sleep(min(next_due - now, max(0.0, next_sample - now), 0.05))
            continue
        # Due: a retry of a recent body (~2%) or a new batch.
        if recent and rng.random() < 0.02:
            body, events = rng.choice(recent)
            new = False
        else:
            serial += 1
            body, events, _ = make_batch(rng, serial, rng.choice(sizes))
            new = True
            recent.append((body, events))
            if len(recent) > 50:
                recent.pop(0)
        try:
            jobs.put_nowait((next_due, body, events, new))
            with stats.lock:
                stats.offered_events += events
                if new:
                    stats.sent_new_events += events
        except queue.Full:
            with stats.lock:
                stats.dropped_requests += 1
        next_due += interval

    stop.set()
    for t in workers:
        t.join(timeout=120)
    out.close()
    # Drain: every acknowledged body into the tables, then compare with the 2xx count.
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            src = json.loads(get(host, port, "/healthz"))["sources"][args.source]
            if src["pending_events"] == 0 and src["queued_events"] == 0:
                break
        except (ValueError, KeyError):
            pass
        time.sleep(0.5)
    c = sqlite3.connect(f"file:{args.db}?mode=ro", uri=True, timeout=30)
    rows = c.execute("SELECT count(*) FROM activity WHERE sg_event_id LIKE 'soak%'").fetchone()[0]
    c.close()
    verdict = "OK" if stats.acked_new_events <= rows <= stats.sent_new_events else "LOST_OR_EXTRA"
    lat = stats.all_latencies
    print(f"summary: seconds={args.seconds:.0f} requests={len(lat)} "
          f"p50_ms={percentile(lat, 50) * 1000:.1f} p99_ms={percentile(lat, 99) * 1000:.1f} "
          f"acked_new_events={stats.acked_new_events} stored_rows={rows} "
          f"sent_new_events={stats.sent_new_events} client_dropped_requests={stats.dropped_requests} "
          f"check={verdict}", flush=True)
    return 0 if verdict == "OK" else 1


if __name__ == "__main__":
    raise SystemExit(main())
