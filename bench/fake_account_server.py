#!/usr/bin/env python3
"""Fake SendGrid account for bench/account_sync_bench.sh: every collection of issue 16 at size.

Usage: fake_account_server.py --contacts N --suppressions S --stats-days D --templates T
           --cache DIR --port-file PATH
Serves on 127.0.0.1:0 (port written to PORT-FILE): /v3/scopes (every scope), the contact
export of N contacts (gzip CSV, generated once into DIR by bench/fake_export_server.py's
generator), S suppressions spread over the five lists (bare arrays, limit/offset, start_time/
end_time on created), D days of /v3/stats and of /v3/categories/stats/sums (5 categories),
T templates with 2 versions each (page_size/page_token), unsubscribe groups and members,
senders, verified senders (lastSeenID), field definitions, single send and automation stats.
--drop-scope S (repeatable) leaves S out of /v3/scopes and answers its endpoints with 403.
"""
import argparse
import datetime
import http.server
import json
import os
import shutil
import socket
import sys
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fake_export_server  # noqa: E402  (the contact CSV generator)

SCOPES = ["marketing.read", "suppression.read", "asm.groups.read", "templates.read",
          "stats.read", "categories.stats.read", "email_activity.read"]
SHARES = [("bounces", 0.6), ("blocks", 0.2), ("spam_reports", 0.1), ("invalid_emails", 0.06),
          ("unsubscribes", 0.04)]
CATEGORIES = ["news", "offers", "receipts", "welcome", "digest"]
BASE_CREATED = 1_600_000_000


def metrics(seed):
    return {"blocks": seed % 3, "bounce_drops": 0, "bounces": seed % 11, "clicks": seed % 97,
            "deferred": seed % 5, "delivered": 1000 + seed % 500, "invalid_emails": 0,
            "opens": seed % 300, "processed": 1100 + seed % 500, "requests": 1100 + seed % 500,
            "spam_report_drops": 0, "spam_reports": seed % 2, "unique_clicks": seed % 50,
            "unique_opens": seed % 200, "unsubscribe_drops": 0, "unsubscribes": seed % 4}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--contacts", type=int, default=1_000_000)
    ap.add_argument("--suppressions", type=int, default=500_000)
    ap.add_argument("--stats-days", type=int, default=730)
    ap.add_argument("--templates", type=int, default=200)
    ap.add_argument("--cache", required=True)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--drop-scope", action="append", default=[],
                    help="leave this scope out of /v3/scopes (its endpoints answer 403)")
    args = ap.parse_args()
    scopes = [s for s in SCOPES if s not in args.drop_scope]
    forbidden = {"templates.read": ("/v3/templates",), "suppression.read": ("/v3/suppression/",),
                 "asm.groups.read": ("/v3/asm/",), "stats.read": ("/v3/stats",),
                 "categories.stats.read": ("/v3/categories/",), "email_activity.read": ("/v3/messages",)}
    os.makedirs(args.cache, exist_ok=True)
    files = []
    nfiles = 3
    per_file = (args.contacts + nfiles - 1) // nfiles
    for f in range(nfiles):
        first = f * per_file
        count = max(0, min(per_file, args.contacts - first))
        path = os.path.join(args.cache, f"contacts_{args.contacts}_{f}of{nfiles}.csv.gz")
        if not os.path.exists(path):
            fake_export_server.generate(path + ".tmp", first, count, seed=f)
            os.rename(path + ".tmp", path)
        files.append(path)
    # Suppressions: list name -> (first index, count); email s<i>@example.com, created base + i.
    lists, start = {}, 0
    for name, share in SHARES:
        n = int(args.suppressions * share)
        lists[name] = (start, n)
        start += n
    today = datetime.datetime.now(datetime.timezone.utc).date()
    first_day = today - datetime.timedelta(days=args.stats_days - 1)
    templates = []
    for t in range(args.templates):
        tid = f"d-{t:032x}"
        templates.append({"id": tid, "name": f"Template {t}", "generation": "dynamic" if t % 2 else "legacy",
                          "updated_at": "2024-03-01 10:00:00",
                          "versions": [{"id": f"{tid}-v{v}", "template_id": tid, "active": 1 if v == 0 else 0,
                                        "name": f"v{v}", "subject": "{{subject}}", "updated_at": "2024-03-01 10:00:00",
                                        "generate_plain_content": True, "editor": "design",
                                        "html_content": "<html><body>" + "x" * 2000 + "</body></html>"}
                                       for v in range(2)]})

    class handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self):
            super().setup()
            # Headers and body go out in two writes: without this, Nagle + delayed ACK add
            # 40 ms to every keep-alive response and the fake, not the sync, is measured.
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def log_message(self, *a):
            pass

        def send(self, status, body, ctype="application/json"):
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if self.path.startswith("/v3/marketing/contacts/exports"):
                return self.send(202, {"id": "bench-job", "_metadata": {}})
            self.send(404, {"errors": [{"field": None, "message": "not found"}]})

        def do_GET(self):
            url = urllib.parse.urlsplit(self.path)
            q = {k: v[0] for k, v in urllib.parse.parse_qs(url.query).items()}
            p = url.path
            base = f"http://127.0.0.1:{self.server.server_address[1]}"
            if p == "/v3/scopes":
                return self.send(200, {"scopes": scopes})
            for scope in args.drop_scope:
                if any(p.startswith(prefix) for prefix in forbidden.get(scope, ())):
                    return self.send(403, {"errors": [{"field": None, "message": "access forbidden"}]})
            if p.startswith("/v3/marketing/contacts/exports/"):
                return self.send(200, {"id": "bench-job", "status": "ready", "contact_count": args.contacts,
                                       "urls": [f"{base}/files/{i}" for i in range(len(files))]})
            if p.startswith("/files/"):
                path = files[int(p[len("/files/"):])]
                self.send_response(200)
                self.send_header("Content-Type", "application/gzip")
                self.send_header("Content-Length", str(os.path.getsize(path)))
                self.end_headers()
                with open(path, "rb") as f:
                    shutil.copyfileobj(f, self.wfile, 1 << 20)
                return
            if p in ("/v3/marketing/lists", "/v3/marketing/singlesends"):
                return self.send(200, {"result": [], "_metadata": {"self": base + self.path}})
            if p == "/v3/marketing/segments/2.0":
                return self.send(200, {"results": [], "_metadata": {}})
            if p.startswith("/v3/suppression/"):
                first, n = lists[p[len("/v3/suppression/"):]]
                limit, offset = int(q.get("limit", 500)), int(q.get("offset", 0))
                lo = int(q.get("start_time", 0)) - BASE_CREATED
                hi = int(q.get("end_time", 1 << 62)) - BASE_CREATED
                a, b = max(first, lo), min(first + n - 1, hi)
                page = range(a + offset, min(b + 1, a + offset + limit))
                return self.send(200, [{"created": BASE_CREATED + i, "email": f"s{i}@example.com",
                                        "reason": "550 5.1.1 user unknown", "status": "5.1.1", "ip": "10.0.0.1"}
                                       for i in page])
            if p == "/v3/asm/groups":
                return self.send(200, [{"id": g, "name": f"Group {g}", "description": "d", "is_default": g == 1,
                                        "unsubscribes": 1000} for g in range(1, 4)])
            if p.startswith("/v3/asm/groups/") and p.endswith("/suppressions"):
                g = int(p.split("/")[4])
                return self.send(200, [f"g{g}-{i}@example.com" for i in range(1000)])
            if p == "/v3/templates":
                size, token = int(q["page_size"]), int(q.get("page_token", 0))
                body = {"result": templates[token:token + size], "_metadata": {"self": base + self.path}}
                if token + size < len(templates):
                    body["_metadata"]["next"] = f"{base}/v3/templates?generations=legacy,dynamic&page_size={size}&page_token={token + size}"
                return self.send(200, body)
            if p == "/v3/marketing/senders":
                return self.send(200, [{"id": 1, "nickname": "main", "from": {"email": "news@example.com", "name": "News"},
                                        "reply_to": {"email": "help@example.com", "name": "Help"},
                                        "verified": {"status": True, "reason": None}, "locked": False}])
            if p == "/v3/verified_senders":
                limit, last = int(q.get("limit", 25)), int(q.get("lastSeenID", 0))
                ids = [i for i in range(1, 251) if i > last][:limit]
                return self.send(200, {"results": [{"id": i, "from_email": f"sender{i}@example.com", "verified": True}
                                                   for i in ids]})
            if p == "/v3/marketing/field_definitions":
                return self.send(200, {"custom_fields": [{"id": "w1", "name": "num_orders", "field_type": "Number"},
                                                         {"id": "w2", "name": "tier", "field_type": "Text"}],
                                       "reserved_fields": [{"id": "_rf0_T", "name": "first_name", "field_type": "Text",
                                                            "read_only": False}]})
            if p == "/v3/stats":
                s = datetime.date.fromisoformat(q["start_date"])
                e = datetime.date.fromisoformat(q.get("end_date", today.isoformat()))
                out, d = [], max(s, first_day)
                while d <= e:
                    out.append({"date": d.isoformat(), "stats": [{"metrics": metrics(d.toordinal())}]})
                    d += datetime.timedelta(days=1)
                return self.send(200, out)
            if p == "/v3/categories/stats/sums":
                d = datetime.date.fromisoformat(q["start_date"])
                limit, offset = int(q.get("limit", 5)), int(q.get("offset", 0))
                stats = [] if d < first_day else [
                    {"metrics": metrics(d.toordinal() + i), "name": c, "type": "category"}
                    for i, c in enumerate(CATEGORIES)][offset:offset + limit]
                return self.send(200, {"date": d.isoformat(), "stats": stats})
            if p in ("/v3/marketing/stats/singlesends", "/v3/marketing/stats/automations"):
                return self.send(200, {"results": [{"id": f"ss{i}", "ab_variation": "all", "ab_phase": "all",
                                                    "step_id": "s1", "aggregation": "total",
                                                    "stats": metrics(i)} for i in range(20)], "_metadata": {}})
            # One item's days (aggregated_by=day): every day of the range the account has, paged.
            if p.startswith(("/v3/marketing/stats/singlesends/", "/v3/marketing/stats/automations/")):
                item = p.rsplit("/", 1)[1]
                s = max(datetime.date.fromisoformat(q["start_date"]), first_day)
                e = datetime.date.fromisoformat(q.get("end_date", today.isoformat()))
                days = [s + datetime.timedelta(days=i) for i in range((e - s).days + 1)]
                size, token = int(q.get("page_size", 25)), int(q.get("page_token", 0))
                body = {"results": [{"id": item, "ab_variation": "all", "ab_phase": "all", "step_id": "s1",
                                     "aggregation": d.isoformat(), "stats": metrics(d.toordinal())}
                                    for d in days[token:token + size]], "_metadata": {"self": base + self.path}}
                if token + size < len(days):
                    rest = urllib.parse.urlencode([(k, v) for k, v in urllib.parse.parse_qsl(url.query)
                                                   if k != "page_token"])
                    body["_metadata"]["next"] = f"{base}{p}?{rest}&page_token={token + size}"
                return self.send(200, body)
            self.send(404, {"errors": [{"field": None, "message": "not found"}]})

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    with open(args.port_file + ".tmp", "w") as f:
        f.write(str(server.server_address[1]))
    os.rename(args.port_file + ".tmp", args.port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
