#!/usr/bin/env python3
"""Times the recipient_activity and list_members views (issue 16) on a large store.

Usage: recipient_activity_bench.py BINARY DB_DIR [EVENTS=10000000] [EMAILS=1000000]
Creates (or reuses) DB_DIR/bench.db with `sendgrid-source migrate` (a store left by an older
version is migrated, and the migration timed), fills event_rows (schema/0010) with EVENTS synthetic
events over EMAILS recipients (timestamps ascending over 30 days, emails at random, and every
million events a new `ingest_segment`, as the merger writes them: store_options::
segment_events) and EMAILS recipients in 5 lists, then prints: one email's row of
recipient_activity (median, p99 and max of 200 random emails), the whole view (every
recipient), and one list's members with their last activity. Reads with Python's sqlite3 and
its defaults, as a user would.
"""
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import time

binary, db_dir = sys.argv[1], sys.argv[2]
events = int(sys.argv[3]) if len(sys.argv) > 3 else 10_000_000
emails = int(sys.argv[4]) if len(sys.argv) > 4 else 1_000_000
os.makedirs(db_dir, exist_ok=True)
db_file = os.path.join(db_dir, "bench.db")
fill = not os.path.exists(db_file)
cfg = os.path.join(db_dir, "config.toml")
with open(cfg, "w") as f:
    f.write(f'[storage]\ndir = "{db_dir}"\n[[source]]\nname = "bench"\n')
t0 = time.time()
migrated = subprocess.run([binary, "--config", cfg, "migrate"], check=True, capture_output=True,
                          text=True)
if not fill and "applying" in migrated.stderr + migrated.stdout:
    print(f"migrated the existing store in {time.time() - t0:.1f} s")
if fill:
    db = sqlite3.connect(db_file)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    # The mix a sender sees: per message processed, delivered, and some opens/clicks/bounces.
    tables = ["processed", "delivered", "_open", "delivered", "_open", "click", "bounce",
              "processed", "delivered", "unsubscribe", "spam_report", "group_unsubscribe"]
    weights = [30, 30, 20, 0, 0, 10, 4, 0, 0, 3, 1, 2]
    rnd = random.Random(1)
    start = 1764547200
    segment = 1_000_000  # store_options::segment_events: the merger's segments, in order
    t0 = time.time()
    KIND = {"processed": 1, "delivered": 3, "bounce": 5, "_open": 6, "click": 7, "spam_report": 8,
            "unsubscribe": 9, "group_unsubscribe": 10}  # event_rows.kind
    batch = []
    for i in range(events):
        table = rnd.choices(tables, weights)[0]
        email = f"user{rnd.randrange(emails)}@example.com"
        ts = start + i * 30 * 86400 // events
        # One event_rows row as the merger writes it (schema/0010): email and sg_message_id in
        # their columns, taken out of body (raw as SendGrid sends it).
        message = f"m{i // 3}"
        head = f'{{"email":"'
        middle = f'","event":"{table.lstrip("_")}","sg_event_id":"ev{i}","sg_message_id":"'
        body = f'{head}{middle}","timestamp":{ts}}}'
        batch.append((KIND[table], email, message, body, len(head), len(head) + len(middle), ts,
                       i // segment))
        if i % 200_000 == 199_999 or i == events - 1:
            db.executemany("INSERT INTO event_rows (kind, email, sg_message_id, body, email_at, "
                           "message_at, timestamp, ingest_segment, received_at_ms) VALUES "
                           "(?, ?, ?, ?, ?, ?, ?, ?, 1764547200000)", batch)
            db.commit()
            batch.clear()
    lists = [f"list-{k}" for k in range(5)]
    db.executemany("INSERT INTO recipients (id, email, list_ids, source_api, raw, synced_at) "
                   "VALUES (?, ?, ?, 'marketing', '{}', 'x')",
                   ((f"c{n}", f"user{n}@example.com",
                     '["' + '","'.join(rnd.sample(lists, rnd.randint(1, 2))) + '"]') for n in range(emails)))
    db.commit()
    db.close()
    print(f"filled {events} events, {emails} recipients in {time.time() - t0:.0f} s")

db = sqlite3.connect(f"file:{db_file}?mode=ro", uri=True)
n_events = db.execute("SELECT count(*) FROM activity").fetchone()[0]
print(f"store: {n_events} events, {os.path.getsize(db_file) >> 20} MiB")
rnd = random.Random(2)
times = []
for _ in range(200):
    e = f"user{rnd.randrange(emails)}@example.com"
    t = time.perf_counter()
    db.execute("SELECT * FROM recipient_activity WHERE email = ?", (e,)).fetchall()
    times.append((time.perf_counter() - t) * 1000)
times.sort()
print(f"recipient_activity, one email: median {statistics.median(times):.2f} ms, "
      f"p99 {times[197]:.2f} ms, max {times[-1]:.2f} ms (200 random emails)")
t = time.perf_counter()
rows = db.execute("SELECT count(*), sum(open_count) FROM recipient_activity").fetchone()
print(f"recipient_activity, whole view: {rows[0]} recipients in {time.perf_counter() - t:.1f} s")
t = time.perf_counter()
rows = db.execute("SELECT count(*) FROM list_members m LEFT JOIN recipient_activity a ON a.email = m.email "
                  "WHERE m.list_id = 'list-3'").fetchone()
print(f"one list's members with their last activity: {rows[0]} rows in {time.perf_counter() - t:.1f} s")
