#!/usr/bin/env python3
"""Hostile load on the public listener (issue 12), bounded and on 127.0.0.1 only.

Starts the real daemon with one signed source (a fresh P-256 key made with `openssl`) and, like
systemd's Restart=always, restarts it if it dies, counting restarts. Phase 1: honest signed
posts only, for --honest-seconds (default 20): peak RSS and p99 without attacks. Phase 2: the
same honest posts mixed with every attack of issue 12 from --attackers threads, for --seconds
(default 60). Then it waits until every acknowledged event is in the tables and prints:

  daemon restarts             must be 0
  peak RSS honest / mixed     mixed must stay under 2x honest
  honest events acked/stored  must be equal (and every stored one acknowledged)
  p99 of honest posts         in each phase

Exit status 0 when all three verdicts hold, 1 otherwise.
Usage: bench/hostile_load.py <sendgrid-source binary> [--seconds 60] [--honest-seconds 20]
       [--honest-rate 20] [--events 500] [--attackers 6]
"""
import argparse
import base64
import concurrent.futures
import json
import os
import random
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "cli"))
from sgs_harness import Daemon, scalar, temp_work  # noqa: E402


def make_key(work):
    key = os.path.join(work, "key.pem")
    subprocess.run(["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", key],
                   check=True, capture_output=True)
    der = subprocess.run(["openssl", "ec", "-in", key, "-pubout", "-outform", "DER"], check=True,
                         capture_output=True).stdout
    return key, base64.b64encode(der).decode()


def sign(key, timestamp, body):
    sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", key], input=timestamp + body,
                         check=True, capture_output=True).stdout
    return base64.b64encode(sig).decode()


def honest_bodies(key, count, events, prefix):
    """`count` signed bodies of `events` distinct events each: (ids, body, timestamp, sig)."""
    def one(n):
        ids = [f"{prefix}-{n}-{i}" for i in range(events)]
        body = (json.dumps([{"email": f"u{n}x{i}@example.com", "timestamp": 1767225600 + n,
                             "event": "delivered", "sg_event_id": e,
                             "sg_message_id": f"m-{e}.filter0001"} for i, e in enumerate(ids)])
                + "\r\n").encode()
        ts = str(int(time.time())).encode()
        return ids, body, ts, sign(key, ts, body)
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        return list(pool.map(one, range(count)))


def raw(port, data, wait=1.0):
    """Sends bytes on a fresh connection and reads until close or `wait`; never raises."""
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
    except OSError:
        return
    try:
        for i in range(0, len(data), 65536):
            s.sendall(data[i:i + 65536])
        s.settimeout(wait)
        while s.recv(65536):
            pass
    except OSError:
        pass
    finally:
        s.close()


def req(path, body=b"", headers=(), length=True, host=True):
    out = f"POST {path} HTTP/1.1\r\n".encode() + (b"Host: x\r\n" if host else b"")
    for h in headers:
        out += h.encode() + b"\r\n"
    if length:
        out += f"Content-Length: {len(body)}\r\n".encode()
    return out + b"\r\n" + (body or b"")


def chunked(path, body, trailer=b"", te="chunked"):
    return (req(path, None, (f"Transfer-Encoding: {te}",), length=False) +
            f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n" + trailer + b"\r\n")


def attacks(path):
    """Each entry: a function of (port, rng) that makes one hostile connection."""
    evil_event = json.dumps([{"email": "evil@x", "event": "delivered", "timestamp": 1,
                              "sg_event_id": "smuggled"}]).encode()
    smuggled = req(path, evil_event)
    paths = ["/healthz", "/metrics", path, "/webhooks/sendgrid/nosuch", "/oauth/token/x", "/nope"]
    return [
        ("huge trailer field", lambda p, r: raw(p, chunked(r.choice(paths), b"[]",
                                                           b"X-A: " + b"a" * 65534 + b"\r\n"))),
        ("many trailer fields", lambda p, r: raw(p, chunked(path, b"[]", b"X-C: c\r\n" * 200000))),
        ("signature in trailer", lambda p, r: raw(p, chunked(
            path, evil_event, b"X-Twilio-Email-Event-Webhook-Timestamp: 1\r\n"
                              b"X-Twilio-Email-Event-Webhook-Signature: MEUCIQ==\r\n"))),
        ("300 MB announced", lambda p, r: raw(p, req(r.choice(paths), None,
                                                     ("Content-Length: 314572800",), length=False)
                                              + b"z" * 1048576)),
        ("chunked flood to 404", lambda p, r: raw(p, req("/nope", None, ("Transfer-Encoding: chunked",),
                                                         length=False) +
                                                  (b"10000\r\n" + b"q" * 65536 + b"\r\n") * 64)),
        ("oversized webhook body", lambda p, r: raw(p, req(path, b"[" + b" " * (9 * 1048576)))),
        ("smuggling TE", lambda p, r: raw(p, req(path, None, (
            "Transfer-Encoding: " + r.choice(["xchunked", "chunked, chunked", "identity", "gzip",
                                              '"chunked"', "", "chunk"]),), length=False)
            + smuggled)),
        ("TE with CL", lambda p, r: raw(p, req(path, smuggled, ("Transfer-Encoding: identity",)))),
        ("credentials twice", lambda p, r: raw(p, req(path, evil_event, (
            "X-Twilio-Email-Event-Webhook-Signature: a", "X-Twilio-Email-Event-Webhook-Signature: b",
            "X-Twilio-Email-Event-Webhook-Timestamp: 1")))),
        ("no Host", lambda p, r: raw(p, req(path, evil_event, host=False))),
        ("gzip coding", lambda p, r: raw(p, req(path, evil_event, ("Content-Encoding: gzip",)))),
        ("huge header", lambda p, r: raw(p, req("/healthz", b"", ("X-Big: " + "h" * 70000,)))),
        ("long chunk extension", lambda p, r: raw(p, req(path, None, ("Transfer-Encoding: chunked",),
                                                         length=False) +
                                                  b"2;" + b"e" * 300000 + b"\r\n[]\r\n0\r\n\r\n")),
        ("garbage", lambda p, r: raw(p, bytes(r.randrange(256) for _ in range(r.randrange(1, 4096))),
                                     wait=0.3)),
        ("unsigned post", lambda p, r: raw(p, req(path, evil_event))),
    ]


class Supervisor:
    """Keeps the daemon running as systemd's Restart=always would, counting restarts."""

    def __init__(self, daemon):
        self.daemon = daemon
        self.restarts = 0
        self.hwm_kib = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.loop, daemon=True)

    def loop(self):
        while not self.stop.wait(0.1):
            if not self.daemon.alive():
                self.restarts += 1
                print(f"!! daemon died (exit {self.daemon.proc.returncode}); restarting:\n"
                      + self.daemon.log_tail(5), flush=True)
                self.daemon.start()
            else:
                try:
                    self.hwm_kib = max(self.hwm_kib, self.daemon.vm_hwm_kib())
                except OSError:
                    pass


def honest_phase(daemon, bodies, seconds, rate, acked, latencies, stop_flag):
    """Posts signed bodies at `rate` per second from 4 threads until `seconds` pass."""
    import http.client
    lock = threading.Lock()
    it = iter(bodies)
    end = time.monotonic() + seconds

    def worker():
        conn = None
        interval = 4.0 / rate
        next_at = time.monotonic()
        while time.monotonic() < end and not stop_flag.is_set():
            with lock:
                item = next(it, None)
            if item is None:
                return
            ids, body, ts, sig = item
            next_at += interval
            time.sleep(max(0.0, next_at - time.monotonic()))
            started = time.monotonic()
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", daemon.port, timeout=30)
                conn.request("POST", daemon.path, body, {
                    "Content-Type": "application/json",
                    "X-Twilio-Email-Event-Webhook-Timestamp": ts.decode(),
                    "X-Twilio-Email-Event-Webhook-Signature": sig})
                r = conn.getresponse()
                r.read()
                status = r.status
            except OSError:
                status = None
                conn = None
            latencies.append(time.monotonic() - started)
            if status == 200:
                with lock:
                    acked.update(ids)
    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def p99(values):
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(len(s) * 0.99))]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("binary")
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--honest-seconds", type=float, default=20)
    ap.add_argument("--honest-rate", type=float, default=20, help="honest POSTs per second")
    ap.add_argument("--events", type=int, default=500, help="events per honest POST")
    ap.add_argument("--attackers", type=int, default=6)
    args = ap.parse_args()
    work = temp_work("hostile")
    key, public = make_key(work)
    daemon = Daemon(args.binary, work, source="signed",
                    source_extra={"webhook_verification_key": public})
    n1 = int(args.honest_seconds * args.honest_rate) + 8
    n2 = int(args.seconds * args.honest_rate) + 8
    print(f"signing {n1 + n2} honest bodies of {args.events} events ...", flush=True)
    bodies1 = honest_bodies(key, n1, args.events, "h1")
    bodies2 = honest_bodies(key, n2, args.events, "h2")
    daemon.start()
    sup = Supervisor(daemon)
    sup.thread.start()
    acked = set()
    stop_flag = threading.Event()

    print(f"phase 1: honest only, {args.honest_seconds:.0f} s at {args.honest_rate:.0f} POSTs/s",
          flush=True)
    lat1 = []
    honest_phase(daemon, bodies1, args.honest_seconds, args.honest_rate, acked, lat1, stop_flag)
    hwm_honest = sup.hwm_kib

    print(f"phase 2: honest + {args.attackers} attackers, {args.seconds:.0f} s", flush=True)
    kinds = attacks(daemon.path)
    made = {name: 0 for name, _ in kinds}
    end = time.monotonic() + args.seconds

    def attacker(seed):
        rng = random.Random(seed)
        while time.monotonic() < end:
            name, fn = kinds[rng.randrange(len(kinds))]
            try:
                fn(daemon.port, rng)
            except Exception as e:  # an attacker's own bug must not stop the run silently
                print(f"attack {name!r} failed on the client side: {e!r}", flush=True)
            made[name] += 1

    # Slow clients too: 64 connections that trickle a header byte a second.
    def slowloris():
        socks = []
        for _ in range(64):
            try:
                s = socket.create_connection(("127.0.0.1", daemon.port), timeout=5)
                s.sendall(b"POST " + daemon.path.encode() + b" HTTP/1.1\r\nHost: x\r\n")
                socks.append(s)
            except OSError:
                pass
        while time.monotonic() < end:
            for s in list(socks):
                try:
                    s.sendall(b"X")
                except OSError:
                    socks.remove(s)
            time.sleep(1)
        for s in socks:
            s.close()

    threads = [threading.Thread(target=attacker, args=(i,)) for i in range(args.attackers)]
    threads.append(threading.Thread(target=slowloris))
    for t in threads:
        t.start()
    lat2 = []
    honest_phase(daemon, bodies2, args.seconds, args.honest_rate, acked, lat2, stop_flag)
    for t in threads:
        t.join()
    hwm_mixed = sup.hwm_kib
    sup.stop.set()
    sup.thread.join()
    daemon.wait_idle(timeout=120)
    stored = scalar(daemon.db_file, "SELECT count(*) FROM delivered WHERE sg_event_id LIKE 'h_-%'")
    smuggled = scalar(daemon.db_file,
                      "SELECT count(*) FROM activity WHERE sg_event_id = 'smuggled' OR "
                      "email = 'evil@x'")
    exit_code = daemon.stop()

    print()
    print("attacks made: " + ", ".join(f"{k} {v}" for k, v in made.items()))
    print(f"{'daemon restarts':32} {sup.restarts}")
    print(f"{'peak RSS honest only':32} {hwm_honest / 1024:.1f} MiB")
    print(f"{'peak RSS honest + attacks':32} {hwm_mixed / 1024:.1f} MiB "
          f"({hwm_mixed / max(1, hwm_honest):.2f}x)")
    print(f"{'honest events acknowledged':32} {len(acked)}")
    print(f"{'honest events stored':32} {stored}")
    print(f"{'attacker events stored':32} {smuggled}")
    print(f"{'honest POSTs (phase 1 / 2)':32} {len(lat1)} / {len(lat2)}")
    print(f"{'p99 honest only':32} {p99(lat1) * 1000:.1f} ms")
    print(f"{'p99 honest under attack':32} {p99(lat2) * 1000:.1f} ms")
    print(f"{'exit on SIGTERM':32} {exit_code}")
    ok = (sup.restarts == 0 and hwm_mixed < 2 * hwm_honest and stored == len(acked)
          and smuggled == 0 and exit_code == 0 and len(acked) > 0)
    print("verdict: " + ("PASS" if ok else "FAIL"))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
