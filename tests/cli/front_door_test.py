#!/usr/bin/env python3
"""The public listener under hostile HTTP (issue 12), over raw sockets on 127.0.0.1 against the
real binary: each class of attack gets its answer, the connection is closed where it must be,
the daemon stays up and answers, and the database holds exactly what it should.

Classes: (1) requests that used to end the process (huge trailer fields, on every route);
(2) memory a client can make us hold (bodies on every route, trailers, chunk lines, headers);
(3) request smuggling (every Transfer-Encoding but "chunked", TE with Content-Length);
(4) credentials from the wrong place (trailers, repeated headers, Host);
(5) lenient where the standard says so (Basic scheme case, base64url signatures), strict where
it matters (timestamp not an integer, Content-Encoding); (6) server.admin_listen.

Usage: front_door_test.py <sendgrid-source binary>
"""
import atexit
import base64
import json
import os
import socket
import ssl
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sgs_harness import (Daemon, SANITIZED, SLOWDOWN, check, run_test, scalar, temp_work,  # noqa: E402
                         wait_until)

# SendGrid's official test vector V1 (sendgrid-api.md 9.2): a signed one-event body.
V1_KEY = ("MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE83T4O/n84iotIvIW4mdBgQ/7dAfSmpqIM8kF9mN1flpVKS3GRqe"
          "62gw+2fNNRaINXvVpiglSI8eNEc6wEA3F+g==")
V1_SIG = ("MEUCIGHQVtGj+Y3LkG9fLcxf3qfI10QysgDWmMOVmxG0u6ZUAiEAyBiXDWzM+uOe5W0JuG+luQAbPIqHh89M15Tl"
          "uLtEZtM=")
V1_TS = "1600112502"
V1_BODY = (b'[{"email":"hello@world.com","event":"dropped","reason":"Bounced Address","sg_event_id":'
           b'"ZHJvcC0xMDk5NDkxOS1MUnpYbF9OSFN0T0doUTRrb2ZTbV9BLTA","sg_message_id":"LRzXl_NHStOGhQ4'
           b'kofSm_A.filterdrecv-p3mdw1-756b745b58-kmzbl-18-5F5FC76C-9.0","smtp-id":"<LRzXl_NHStOGhQ'
           b'4kofSm_A@ismtpd0039p1iad1.sendgrid.net>","timestamp":1600112492}]\r\n')

SOURCES = {"open": {}, "signed": {"webhook_verification_key": V1_KEY},
           "basic": {"webhook_basic_auth": "user:pass"}}


def event(event_id):
    return {"email": f"{event_id}@example.com", "timestamp": 1767225600, "event": "delivered",
            "sg_event_id": event_id, "sg_message_id": f"m-{event_id}.filter0001"}


def body_of(*ids):
    return json.dumps([event(i) for i in ids]).encode()


def request(method, path, body=b"", headers=(), host=True, length=True):
    out = f"{method} {path} HTTP/1.1\r\n".encode()
    if host:
        out += b"Host: 127.0.0.1\r\n"
    for h in headers:
        out += h.encode() if isinstance(h, str) else h
        out += b"\r\n"
    if length and body is not None:
        out += f"Content-Length: {len(body)}\r\n".encode()
    return out + b"\r\n" + (body or b"")


def chunked(method, path, chunks, trailer=b"", headers=()):
    out = request(method, path, None, ("Transfer-Encoding: chunked",) + tuple(headers),
                  length=False)
    for c in chunks:
        out += f"{len(c):x}\r\n".encode() + c + b"\r\n"
    return out + b"0\r\n" + trailer + b"\r\n"


class Exchange:
    """Raw bytes out, parsed answers back; `closed` when the server closed the connection."""

    def __init__(self, statuses, closed, raw):
        self.statuses, self.closed, self.raw = statuses, closed, raw

    def __repr__(self):
        return f"statuses={self.statuses} closed={self.closed} raw={self.raw[:300]!r}"


def parse_answers(data):
    statuses, rest = [], data
    while rest.startswith(b"HTTP/1."):
        end = rest.find(b"\r\n\r\n")
        if end < 0:
            break
        head = rest[:end].decode(errors="replace").split("\r\n")
        code = int(head[0].split()[1])
        length = 0
        for line in head[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value.strip())
        if code != 100:
            statuses.append(code)
        rest = rest[end + 4 + (0 if code == 100 else length):]
    return statuses


def exchange(port, data, wait=2.0, send_slowly=False, tls=None):
    """Sends `data`, then reads until the server closes (closed=True) or `wait` seconds pass
    with the connection still open (closed=False). A reset counts as closed. `tls`: an
    ssl.SSLContext to speak HTTPS with."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    if tls is not None:
        s = tls.wrap_socket(s, server_hostname="127.0.0.1")
    received = b""
    closed = False
    try:
        try:
            if send_slowly:
                for i in range(0, len(data), 65536):
                    s.sendall(data[i:i + 65536])
            else:
                s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed before reading everything: read the answer
        deadline = time.monotonic() + wait * SLOWDOWN
        while not closed:
            s.settimeout(max(0.05, deadline - time.monotonic()))
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            except (ConnectionResetError, ssl.SSLError):
                closed = True
                break
            if not chunk:
                closed = True
                break
            received += chunk
    finally:
        s.close()
    return Exchange(parse_answers(received), closed, received)


def expect(x, statuses, closed, what):
    check(x.statuses == statuses and x.closed == closed,
          f"{what}: expected statuses {statuses} closed={closed}, got {x!r}")


def counts(daemon, source):
    db = os.path.join(daemon.storage_dir, f"{source}.db")
    if not os.path.exists(db):
        return 0
    return scalar(db, "SELECT count(*) FROM activity") + scalar(
        db, "SELECT count(*) FROM rejected_events")


def main():
    binary = sys.argv[1]
    work = temp_work("front-door")
    # One daemon with three sources; the harness writes one [[source]]: add the others.
    d = Daemon(binary, work, source="open",
               server={"max_body_bytes": 1048576, "admin_listen": "127.0.0.1:0"})
    with open(d.config, "a") as f:
        for name, extra in SOURCES.items():
            if name == "open":
                continue
            f.write(f"[[source]]\nname = {json.dumps(name)}\n")
            for k, v in extra.items():
                f.write(f"{k} = {json.dumps(v)}\n")
    port = d.start()
    admin_port = wait_until(lambda: admin_port_of(d), 30, "the admin listener's log line")

    def alive(what):
        check(d.alive(), f"the daemon died after {what}:\n{d.log_tail()}")
        x = exchange(port, request("POST", "/webhooks/sendgrid/open", body_of(f"alive-{what}")),
                     wait=0.5)
        check(x.statuses == [200], f"after {what} the daemon does not store: {x!r}")

    stored_before = {s: 0 for s in SOURCES}

    def nothing_stored(what):
        d.wait_idle_on(admin_port)
        for s in ("signed", "basic"):
            check(counts(d, s) == stored_before[s],
                  f"{what}: source {s} holds {counts(d, s)} events, expected {stored_before[s]}")

    # ---- (1) one request must not end the process: a huge trailer field, on every route.
    big = b"X-A: " + b"a" * 65534 + b"\r\n"
    for path in ("/healthz", "/webhooks/sendgrid/open", "/webhooks/sendgrid/nosuch",
                 "/oauth/token/open", "/webhooks/sendgrid/signed", "/metrics", "/nope"):
        x = exchange(port, chunked("POST", path, [b"[]"], trailer=big), wait=3)
        check(x.closed, f"huge trailer on {path}: connection left open: {x!r}")
        check(x.statuses in ([400], [404], [405], [413], []),
              f"huge trailer on {path}: unexpected answer {x!r}")
        alive(f"a 64 KiB trailer field on {path}")
    # A small trailer is refused as well (trailers never count as headers) and closes.
    x = exchange(port, chunked("POST", "/webhooks/sendgrid/open", [body_of("t1")],
                               trailer=b"X-B: 1\r\n"))
    expect(x, [400], True, "a trailer field on a webhook POST")
    check(counts(d, "open") == 0 or scalar(os.path.join(d.storage_dir, "open.db"),
                                           "SELECT count(*) FROM delivered WHERE "
                                           "sg_event_id = 't1'") == 0,
          "an event whose request had a trailer was stored")

    # ---- (2) memory: announced and sent bodies outside the webhook route, trailers, chunk lines.
    hwm_start = d.vm_hwm_kib()
    for path in ("/nope", "/metrics", "/oauth/token/open", "/healthz"):
        x = exchange(port, request("POST", path, None, (f"Content-Length: {300 * 1024 * 1024}",),
                                   length=False) + b"x" * 1024 * 1024, wait=3)
        expect(x, [413], True, f"300 MB Content-Length to {path}")
    # Really sent: 20 MB chunked to a 404 path is cut at 64 KiB.
    blob = b"y" * 65536
    x = exchange(port, chunked("POST", "/nope", [blob] * 320), wait=3, send_slowly=True)
    expect(x, [413], True, "20 MB chunked body to a 404 path")
    # Many small trailer fields, megabytes of them: refused at the first one.
    x = exchange(port, chunked("POST", "/webhooks/sendgrid/open", [b"[]"],
                               trailer=b"X-C: c\r\n" * 300000), wait=3, send_slowly=True)
    check(x.closed and x.statuses in ([400], []), f"2 MB of trailer fields: {x!r}")
    # A chunk-size line / extension longer than the read buffer.
    x = exchange(port, request("POST", "/webhooks/sendgrid/open", None,
                               ("Transfer-Encoding: chunked",), length=False) +
                 b"2;" + b"e" * 200000 + b"\r\n[]\r\n0\r\n\r\n", wait=3, send_slowly=True)
    check(x.closed and x.statuses in ([400], []), f"200 KB chunk extension: {x!r}")
    # A header over 16 KiB.
    x = exchange(port, request("GET", "/healthz", None, ("X-Big: " + "h" * 20000,)), wait=3)
    expect(x, [431], True, "a 20 KB header field")
    # A webhook body over max_body_bytes, announced and chunked.
    x = exchange(port, request("POST", "/webhooks/sendgrid/open", None,
                               ("Content-Length: 5000000",), length=False), wait=3)
    expect(x, [413], True, "Content-Length over max_body_bytes")
    x = exchange(port, chunked("POST", "/webhooks/sendgrid/open", [b"[" + b" " * 65536] * 20),
                 wait=3, send_slowly=True)
    expect(x, [413], True, "chunked body over max_body_bytes")
    hwm_growth_mib = (d.vm_hwm_kib() - hwm_start) / 1024
    # ASan's quarantine and shadow memory make RSS meaningless under the sanitizer build.
    check(SANITIZED or hwm_growth_mib < 40,
          f"peak RSS grew {hwm_growth_mib:.0f} MiB under oversized requests")
    alive("oversized requests")

    # ---- (3) smuggling: every Transfer-Encoding but "chunked" is refused and the connection
    # closed, so a request hidden in the body never runs.
    smuggled = request("POST", "/webhooks/sendgrid/open", body_of("smuggled"))
    for te, status in (("xchunked", 501), ("chunked, chunked", 501), ("identity", 501),
                       ("gzip", 501), ("chunked, identity", 501), ('"chunked"', 501),
                       ("", 400), ("chunk", 501), ("gzip, chunked", 501)):
        x = exchange(port, request("POST", "/webhooks/sendgrid/open", None,
                                   (f"Transfer-Encoding: {te}",), length=False) + smuggled)
        expect(x, [status], True, f"Transfer-Encoding: {te!r}")
        for with_cl in (True,):
            x = exchange(port, request("POST", "/webhooks/sendgrid/open", smuggled,
                                       (f"Transfer-Encoding: {te}",), length=with_cl))
            check(x.statuses in ([400], [501]) and x.closed,
                  f"Transfer-Encoding {te!r} with Content-Length: {x!r}")
    # Two Transfer-Encoding fields, and chunked + Content-Length.
    x = exchange(port, request("POST", "/webhooks/sendgrid/open", None,
                               ("Transfer-Encoding: chunked", "Transfer-Encoding: chunked"),
                               length=False) + b"0\r\n\r\n" + smuggled)
    check(x.statuses in ([400], [501]) and x.closed, f"two Transfer-Encoding fields: {x!r}")
    x = exchange(port, request("POST", "/webhooks/sendgrid/open", b"0\r\n\r\n" + smuggled,
                               ("Transfer-Encoding: chunked",)))
    expect(x, [400], True, "Transfer-Encoding: chunked with Content-Length")
    db_open = os.path.join(d.storage_dir, "open.db")
    d.wait_idle_on(admin_port)
    check(scalar(db_open, "SELECT count(*) FROM delivered WHERE sg_event_id = 'smuggled'") == 0,
          "a smuggled request was stored")
    # Over TLS this is the same code; on a signed source the smuggled body is not signed
    # anyway. An honest keep-alive pair is still served on one connection.
    x = exchange(port, request("POST", "/webhooks/sendgrid/open", body_of("ka1")) +
                 request("POST", "/webhooks/sendgrid/open", body_of("ka2")), wait=0.5)
    expect(x, [200, 200], False, "two honest requests on one keep-alive connection")

    # ---- (4) credentials from the wrong place.
    sig_headers = (f"X-Twilio-Email-Event-Webhook-Timestamp: {V1_TS}",
                   f"X-Twilio-Email-Event-Webhook-Signature: {V1_SIG}")
    x = exchange(port, chunked("POST", "/webhooks/sendgrid/signed", [V1_BODY],
                               trailer=("\r\n".join(sig_headers) + "\r\n").encode()))
    expect(x, [400], True, "signature headers in a chunked trailer")
    nothing_stored("signature in the trailer")
    x = exchange(port, request("POST", "/webhooks/sendgrid/signed", V1_BODY,
                               sig_headers + (sig_headers[1],)))
    expect(x, [400], True, "the signature header twice")
    x = exchange(port, request("POST", "/webhooks/sendgrid/signed", V1_BODY,
                               sig_headers + (sig_headers[0],)))
    expect(x, [400], True, "the timestamp header twice")
    basic = "Authorization: Basic " + base64.b64encode(b"user:pass").decode()
    x = exchange(port, request("POST", "/webhooks/sendgrid/basic", body_of("b0"),
                               (basic, "Authorization: Basic Zm9vOmJhcg==")))
    expect(x, [400], True, "Authorization twice")
    x = exchange(port, request("POST", "/webhooks/sendgrid/basic", body_of("b0"), (basic,),
                               host=False))
    expect(x, [400], True, "no Host on HTTP/1.1")
    x = exchange(port, request("POST", "/webhooks/sendgrid/basic", body_of("b0"),
                               (basic, "Host: other")))
    expect(x, [400], True, "Host twice")
    nothing_stored("repeated credentials")

    # ---- (5) lenient where the standard says so, strict where it matters.
    for scheme in ("basic", "BASIC", "Basic"):
        auth = f"Authorization: {scheme} " + base64.b64encode(b"user:pass").decode()
        x = exchange(port, request("POST", "/webhooks/sendgrid/basic", body_of(f"s-{scheme}"),
                                   (auth,)), wait=0.5)
        expect(x, [200], False, f"the {scheme!r} scheme")
    stored_before["basic"] = 3
    x = exchange(port, request("POST", "/webhooks/sendgrid/basic", body_of("wrong"),
                               ("Authorization: Basic " +
                                base64.b64encode(b"user:nope").decode(),)), wait=0.5)
    check(x.statuses == [401], f"wrong basic credentials: {x!r}")
    x = exchange(port, request("POST", "/webhooks/sendgrid/signed", V1_BODY,
                               ("X-Twilio-Email-Event-Webhook-Timestamp: 1600112502.0",
                                sig_headers[1])), wait=0.5)
    check(x.statuses == [403], f"a timestamp that is not an integer: {x!r}")
    url_sig = V1_SIG.replace("+", "-").replace("/", "_").rstrip("=")
    x = exchange(port, request("POST", "/webhooks/sendgrid/signed", V1_BODY,
                               (sig_headers[0],
                                f"X-Twilio-Email-Event-Webhook-Signature: {url_sig}")), wait=0.5)
    check(x.statuses == [200], f"a base64url signature without padding: {x!r}")
    stored_before["signed"] = 1
    x = exchange(port, request("POST", "/webhooks/sendgrid/signed", V1_BODY,
                               sig_headers + ("Content-Encoding: gzip",)))
    expect(x, [415], True, "Content-Encoding: gzip")
    x = exchange(port, request("POST", "/webhooks/sendgrid/open", body_of("ident"),
                               ("Content-Encoding: identity",)), wait=0.5)
    expect(x, [200], False, "Content-Encoding: identity")
    nothing_stored("lenient/strict checks")

    # ---- (6) admin endpoints off the public listener.
    x = exchange(port, request("GET", "/healthz"), wait=0.5)
    check(x.statuses == [404], f"/healthz on the public listener with admin_listen: {x!r}")
    x = exchange(port, request("GET", "/metrics"), wait=0.5)
    check(x.statuses == [404], f"/metrics on the public listener with admin_listen: {x!r}")
    x = exchange(admin_port, request("GET", "/healthz"), wait=0.5)
    check(x.statuses == [200], f"/healthz on the admin listener: {x!r}")
    x = exchange(admin_port, request("POST", "/webhooks/sendgrid/open", body_of("adm")),
                 wait=0.5)
    check(x.statuses == [404], f"a webhook POST on the admin listener: {x!r}")

    # ---- over TLS the same code serves: a huge trailer and a smuggled request on a signed source.
    tls_checks(binary, work)

    # The daemon never restarted, and nothing failed inside it.
    check(d.starts == 1 and d.alive(), "the daemon restarted")
    contained = metric_on(admin_port, "sendgrid_source_http_contained_errors_total")
    check(contained == 0, f"{contained} connections failed inside the server")
    check(d.stop() == 0, "the daemon did not exit 0 on SIGTERM")


def tls_checks(binary, work):
    cert, key = os.path.join(work, "cert.pem"), os.path.join(work, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-subj", "/CN=127.0.0.1", "-days", "1",
                    "-keyout", key, "-out", cert], check=True, capture_output=True)
    os.chmod(key, 0o600)
    tls_work = os.path.join(work, "tls")
    os.makedirs(tls_work)
    d = Daemon(binary, tls_work, source="signed",
               server={"tls_cert_file": cert, "tls_key_file": key},
               source_extra={"webhook_verification_key": V1_KEY})
    port = start_tls(d)
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    big = b"X-A: " + b"a" * 65534 + b"\r\n"
    x = exchange(port, chunked("POST", "/webhooks/sendgrid/signed", [V1_BODY], trailer=big),
                 wait=3, tls=ctx)
    check(x.closed and x.statuses in ([400], []), f"TLS: huge trailer: {x!r}")
    sig = (f"X-Twilio-Email-Event-Webhook-Timestamp: {V1_TS}",
           f"X-Twilio-Email-Event-Webhook-Signature: {V1_SIG}")
    x = exchange(port, request("POST", "/webhooks/sendgrid/signed", None,
                               ("Transfer-Encoding: xchunked",) + sig, length=False) +
                 request("POST", "/webhooks/sendgrid/signed", V1_BODY, sig), tls=ctx)
    expect(x, [501], True, "TLS: a smuggled signed request behind xchunked")
    check(d.alive(), "TLS: the daemon died:\n" + d.log_tail())
    check(scalar(d.db_file, "SELECT count(*) FROM activity") == 0,
          "TLS: the smuggled request was stored")
    x = exchange(port, request("POST", "/webhooks/sendgrid/signed", V1_BODY, sig), wait=0.5, tls=ctx)
    check(x.statuses == [200], f"TLS: an honest signed post after the attacks: {x!r}")
    check(d.stop() == 0, "TLS: the daemon did not exit 0 on SIGTERM")


def start_tls(d):
    """Daemon.start() waits for an http:// line; this one listens with https://."""
    import re
    _started.append(d)
    d.starts += 1
    log = open(d.log_path, "a")
    d.proc = subprocess.Popen([d.binary, "--config", d.config, "run"], stdout=log,
                              stderr=subprocess.STDOUT)
    log.close()

    def listening():
        check(d.proc.poll() is None, "TLS daemon exited at start:\n" + d.log_tail())
        with open(d.log_path) as f:
            m = re.search(r"listening: POST https://127\.0\.0\.1:(\d+)/", f.read())
        return m and int(m.group(1))
    d.port = wait_until(listening, 30, "the TLS daemon to listen")
    return d.port


def admin_port_of(d):
    import re
    with open(d.log_path) as f:
        m = re.search(r"admin listener: GET http://127\.0\.0\.1:(\d+)/healthz", f.read())
    return m and int(m.group(1))


def metric_on(port, name):
    x = exchange(port, request("GET", "/metrics"), wait=0.5)
    body = x.raw.split(b"\r\n\r\n", 1)[1].decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in body.splitlines()
               if line.startswith(name + " ") or line.startswith(name + "{"))


def wait_idle_on(self, admin_port):
    def idle():
        x = exchange(admin_port, request("GET", "/healthz"), wait=0.5)
        try:
            body = json.loads(x.raw.split(b"\r\n\r\n", 1)[1])
        except (ValueError, IndexError):
            return False
        return all(s["queued_events"] == 0 and s["pending_events"] == 0
                   for s in body["sources"].values())
    wait_until(idle, 30, "every source to be idle", interval=0.1)


Daemon.wait_idle_on = wait_idle_on

# A failed check must not leave a daemon running after the test.
_started = []
_original_start = Daemon.start


def _start_and_remember(self, *args, **kwargs):
    _started.append(self)
    return _original_start(self, *args, **kwargs)


Daemon.start = _start_and_remember


@atexit.register
def _kill_started():
    for daemon in _started:
        if daemon.alive():
            daemon.proc.kill()

if __name__ == "__main__":
    run_test(main)
