#!/usr/bin/env python3
"""Measures how the order of upserts with random UUID keys affects SQLite (docs/SYNC.md).

Usage: upsert_orders.py N DIR. For each strategy, loads N rows of ~400 bytes with random UUID
primary keys into a fresh WAL database (synchronous=FULL, 10 000 rows per transaction) and
prints rows/s and the database size:
  naive         INSERT .. ON CONFLICT in arrival (random) order
  sorted_batch  the same, each 10 000-row transaction sorted by id
  staged        rows appended to a TEMP table, indexed, then merged in id order in
                10 000-row transactions (what the sync does)
"""
import os
import sqlite3
import sys
import time
import uuid
import random

n = int(sys.argv[1])
d = sys.argv[2]
rnd = random.Random(1)
rows = [(str(uuid.UUID(int=rnd.getrandbits(128), version=4)), f"user{i}@example.com", "x" * 300) for i in range(n)]
UPSERT = ("INSERT INTO t(id, email, raw) VALUES (?,?,?) ON CONFLICT(id) DO UPDATE SET email=excluded.email, "
          "raw=excluded.raw WHERE t.raw IS NOT excluded.raw")


def fresh(name):
    path = os.path.join(d, name + ".db")
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.remove(path + suffix)
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("PRAGMA cache_size=-32768")
    db.execute("CREATE TABLE t (id TEXT PRIMARY KEY, email TEXT, raw TEXT)")
    return db, path


def run(name, fn):
    db, path = fresh(name)
    t = time.time()
    fn(db)
    secs = time.time() - t
    db.close()
    print(f"{name:13s} {n:9d} rows {secs:7.1f} s {int(n / secs):9d} rows/s {os.path.getsize(path) >> 20:6d} MiB", flush=True)


def naive(db, sort=False):
    for i in range(0, n, 10000):
        batch = rows[i:i + 10000]
        if sort:
            batch = sorted(batch)
        db.execute("BEGIN IMMEDIATE")
        db.executemany(UPSERT, batch)
        db.execute("COMMIT")


def staged(db):
    db.execute("PRAGMA temp_store=FILE")
    db.execute("CREATE TEMP TABLE s (id, email, raw)")
    for i in range(0, n, 20000):
        db.execute("BEGIN")
        db.executemany("INSERT INTO s VALUES (?,?,?)", rows[i:i + 20000])
        db.execute("COMMIT")
    db.execute("CREATE INDEX temp.s_id ON s(id)")
    lo = ""
    while True:
        hi = db.execute("SELECT id FROM s WHERE id > ? ORDER BY id LIMIT 1 OFFSET 9999", (lo,)).fetchone()
        db.execute("BEGIN IMMEDIATE")
        if hi:
            db.execute("INSERT INTO t(id, email, raw) SELECT id, email, raw FROM s WHERE id > ? AND id <= ? ORDER BY id "
                       "ON CONFLICT(id) DO UPDATE SET email=excluded.email, raw=excluded.raw WHERE t.raw IS NOT excluded.raw",
                       (lo, hi[0]))
        else:
            db.execute("INSERT INTO t(id, email, raw) SELECT id, email, raw FROM s WHERE id > ? ORDER BY id "
                       "ON CONFLICT(id) DO UPDATE SET email=excluded.email, raw=excluded.raw WHERE t.raw IS NOT excluded.raw",
                       (lo,))
        db.execute("COMMIT")
        if not hi:
            break
        lo = hi[0]


run("naive", naive)
run("sorted_batch", lambda db: naive(db, sort=True))
run("staged", staged)
