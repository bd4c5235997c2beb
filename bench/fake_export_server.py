#!/usr/bin/env python3
"""Fake SendGrid contact-export API for bench/sync_bench.sh, bench/soak.sh and the sync fault
test: serves N contacts as gzip CSV files.

Usage: fake_export_server.py --contacts N --files F --cache DIR --port-file PATH
           [--skip-files K] [--throttle-kib-per-s R] [--rate-limit-polls P [--rate-limit-reset S]]
           [--request-log PATH]
Generates the files once (cached in DIR by N and F), listens on 127.0.0.1:0, writes the port to
PORT-FILE, and answers POST /v3/marketing/contacts/exports, GET .../exports/{id} (ready at
once) and GET /files/{i} (refused when an Authorization header is present, as S3 does).
Faults: --skip-files K leaves the first K files out of the export (their contacts were deleted
in SendGrid); --throttle-kib-per-s sends the files at that rate (a download long enough to be
interrupted); --rate-limit-polls P answers the first P status polls of every export job with
429 and X-RateLimit-Reset: S seconds; --request-log appends "<unix time> <method> <path>" for
each request.
"""
import argparse
import gzip
import http.server
import json
import os
import random
import shutil
import threading
import time
import uuid

HEADER = ('"EMAIL","FIRST_NAME","LAST_NAME","ADDRESS_LINE_1","ADDRESS_LINE_2","CITY","STATE_PROVINCE_REGION",'
          '"POSTAL_CODE","COUNTRY","ALTERNATE_EMAILS","PHONE_NUMBER","WHATSAPP","LINE","FACEBOOK","UNIQUE_NAME",'
          '"CREATED_AT","UPDATED_AT","CONTACT_ID","LIST_IDS","NUM_ORDERS","TIER"\n')
FIRST = ["Ann", "Bob", "Chloé", "Dmitri", "Eve", "Farid", "Gus", "Hana"]
LAST = ["Lee", "Smith", "O'Neil", "Müller", "Nguyen", "García"]
CITIES = ["Paris", "Berlin", "New York", "São Paulo", "Tokyo", "Lagos"]
LISTS = [str(uuid.UUID(int=random.Random(i).getrandbits(128))) for i in range(5)]


def generate(path, first, count, seed):
    rnd = random.Random(seed)
    with gzip.open(path, "wt", compresslevel=1, newline="") as out:
        out.write(HEADER)
        lines = []
        for i in range(first, first + count):
            cid = str(uuid.UUID(int=rnd.getrandbits(128), version=4))
            lists = ",".join(rnd.sample(LISTS, rnd.randint(0, 2)))
            lines.append(f'"user{i}@example.com","{rnd.choice(FIRST)}","{rnd.choice(LAST)}","{i} Main St, Apt {i % 50}",,'
                         f'"{rnd.choice(CITIES)}",,"{10000 + i % 89999}","US",,,,,,,'
                         f'"2021-02-01T12:35:22Z","2021-02-0{1 + i % 9}T12:35:51Z","{cid}","{lists}","{i % 17}",'
                         f'"{"gold" if i % 7 == 0 else ""}"\n')
            if len(lines) >= 10000:
                out.write("".join(lines))
                lines.clear()
        out.write("".join(lines))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--contacts", type=int, required=True)
    ap.add_argument("--files", type=int, default=3)
    ap.add_argument("--cache", required=True)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--skip-files", type=int, default=0)
    ap.add_argument("--throttle-kib-per-s", type=int, default=0)
    ap.add_argument("--rate-limit-polls", type=int, default=0)
    ap.add_argument("--rate-limit-reset", type=int, default=2)
    ap.add_argument("--request-log")
    args = ap.parse_args()
    os.makedirs(args.cache, exist_ok=True)
    files = []
    per_file = (args.contacts + args.files - 1) // args.files
    for f in range(args.files):
        first = f * per_file
        count = max(0, min(per_file, args.contacts - first))
        path = os.path.join(args.cache, f"contacts_{args.contacts}_{f}of{args.files}.csv.gz")
        if not os.path.exists(path):
            generate(path + ".tmp", first, count, seed=f)
            os.rename(path + ".tmp", path)
        files.append((path, count))
    served = files[args.skip_files:]
    lock = threading.Lock()
    polls = {}  # export job id -> status polls so far
    jobs = [0]

    class handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def send(self, status, body, ctype="application/json"):
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_request_line(self):
            if args.request_log:
                with lock, open(args.request_log, "a") as log:
                    log.write(f"{time.time():.3f} {self.command} {self.path}\n")

        def do_POST(self):
            self.log_request_line()
            length = int(self.headers.get("Content-Length", "0"))
            self.rfile.read(length)
            if self.path.startswith("/v3/marketing/contacts/exports"):
                with lock:
                    jobs[0] += 1
                    job = f"bench-job-{jobs[0]}"
                return self.send(202, json.dumps({"id": job, "_metadata": {}}))
            self.send(404, '{"errors":[{"field":null,"message":"not found"}]}')

        def do_GET(self):
            self.log_request_line()
            base = f"http://127.0.0.1:{self.server.server_address[1]}"
            if self.path.startswith("/v3/marketing/contacts/exports/"):
                job = self.path.rsplit("/", 1)[1]
                with lock:
                    polls[job] = polls.get(job, 0) + 1
                    limited = polls[job] <= args.rate_limit_polls
                if limited:
                    data = b'{"errors":[{"field":null,"message":"too many requests"}]}'
                    self.send_response(429)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("X-RateLimit-Limit", "1")
                    self.send_header("X-RateLimit-Remaining", "0")
                    self.send_header("X-RateLimit-Reset", str(args.rate_limit_reset))
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return
                urls = [f"{base}/files/{i}" for i in range(args.skip_files, len(files))]
                return self.send(200, json.dumps({"id": job, "status": "ready", "urls": urls,
                                                  "contact_count": sum(n for _, n in served)}))
            if self.path.startswith("/files/"):
                if self.headers.get("Authorization"):
                    return self.send(400, "<Error>Only one auth mechanism allowed</Error>", "application/xml")
                path = files[int(self.path[len("/files/"):])][0]
                self.send_response(200)
                self.send_header("Content-Type", "application/gzip")
                self.send_header("Content-Length", str(os.path.getsize(path)))
                self.end_headers()
                with open(path, "rb") as f:
                    if not args.throttle_kib_per_s:
                        shutil.copyfileobj(f, self.wfile, 1 << 20)
                        return
                    chunk = 16 << 10
                    while data := f.read(chunk):
                        self.wfile.write(data)
                        time.sleep(chunk / 1024 / args.throttle_kib_per_s)
                return
            self.send(404, '{"errors":[{"field":null,"message":"not found"}]}')

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    with open(args.port_file + ".tmp", "w") as f:
        f.write(str(server.server_address[1]))
    os.rename(args.port_file + ".tmp", args.port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
