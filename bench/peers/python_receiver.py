#!/usr/bin/env python3
"""A hand-written SendGrid Event Webhook receiver, as teams write one instead of installing a
product (../../shared/PERF.md, "Hand-written receivers"): Python's standard library only.

ThreadingHTTPServer + sqlite3; one table per event type with `sg_event_id TEXT PRIMARY KEY`
and INSERT OR IGNORE (the dedup), the event's raw JSON kept; one transaction per POST,
synchronous=FULL in WAL mode, 200 only after COMMIT. The connection is shared under a lock:
SQLite has one writer anyway. TCP_NODELAY is on, so a keep-alive response is not held back by
Nagle's algorithm (+40 ms); that is the only tuning.

Usage: python_receiver.py --db FILE [--port 0] [--port-file PATH]
POST any path with a JSON array of events; 400 for a body that is not one.
"""
import argparse
import http.server
import json
import os
import sqlite3
import threading

TYPES = ["processed", "delivered", "open", "click", "deferred", "bounce", "dropped",
         "spamreport", "unsubscribe", "group_unsubscribe", "group_resubscribe", "other"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", required=True)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    args = ap.parse_args()

    db = sqlite3.connect(args.db, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    for t in TYPES:
        db.execute(f"CREATE TABLE IF NOT EXISTS {t}_events (sg_event_id TEXT PRIMARY KEY, "
                   "email TEXT, timestamp INTEGER, sg_message_id TEXT, raw TEXT NOT NULL)")
    inserts = {t: f"INSERT OR IGNORE INTO {t}_events VALUES (?, ?, ?, ?, ?)" for t in TYPES}
    lock = threading.Lock()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def log_message(self, *a):
            pass

        def answer(self, status, body):
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            try:
                events = json.loads(body)
                if not isinstance(events, list):
                    raise ValueError("not an array")
            except ValueError as e:
                return self.answer(400, json.dumps({"error": str(e)}))
            rows = {}
            for e in events:
                if not isinstance(e, dict):
                    continue
                t = e.get("event") if e.get("event") in TYPES else "other"
                rows.setdefault(t, []).append((e.get("sg_event_id"), e.get("email"),
                                               e.get("timestamp"), e.get("sg_message_id"),
                                               json.dumps(e)))
            with lock:
                db.execute("BEGIN")
                try:
                    for t, r in rows.items():
                        db.executemany(inserts[t], r)
                    db.execute("COMMIT")
                except sqlite3.Error as e:
                    db.execute("ROLLBACK")
                    return self.answer(503, json.dumps({"error": str(e)}))
            self.answer(200, '{"ok":true}')

    class Server(http.server.ThreadingHTTPServer):
        request_queue_size = 128  # listen backlog (PERF.md: at least 128)

    server = Server(("127.0.0.1", args.port), Handler)
    if args.port_file:
        with open(args.port_file + ".tmp", "w") as f:
            f.write(str(server.server_address[1]))
        os.rename(args.port_file + ".tmp", args.port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
