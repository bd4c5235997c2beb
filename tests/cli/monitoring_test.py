#!/usr/bin/env python3
"""The Grafana dashboard and the Prometheus alerts in contrib/ against a real /metrics answer:
`promtool check rules` passes; a daemon receives events (stored, duplicate, rejected, a bad body)
and runs a sync of contacts against bench/fake_export_server.py (with a rate-limit wait); every
metric name and label that the dashboard and the rules use is in its /metrics answer; and every
alert expression evaluates without error over that answer (`promtool test rules`, with the
scraped samples as constant input series: none fires) and selects something in a made-up
series of the situation it is for.

Usage: monitoring_test.py PATH_TO_BINARY
Needs promtool (Debian package prometheus); skips (77) without it. Everything on 127.0.0.1,
bounded (about 10 s).
"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sgs_harness as h  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DASHBOARD = os.path.join(ROOT, "contrib", "grafana", "sendgrid-source.json")
ALERTS = os.path.join(ROOT, "contrib", "prometheus", "alerts.yml")
FAKE = os.path.join(ROOT, "bench", "fake_export_server.py")
ALL_TYPES = os.path.join(ROOT, "tests", "data", "webhook", "all_types.json")

# For each alert, series (promtool's input_series notation, 1m apart) of the situation it is
# for: its expression must select something after 30 minutes of them.
SCENARIOS = {
    "SendGridSourceDown": [("up{job='sendgrid-source',instance='a:8080'}", "0x60")],
    "SendGridSourceSyncStale": [
        ("sendgrid_source_sync_last_success_timestamp_seconds{source='s',collection='lists'}",
         "0x60"),
        ("sendgrid_source_sync_interval_seconds{source='s'}", "60x60")],
    "SendGridSourceSyncFailing": [
        ("sendgrid_source_sync_runs_total{source='s',collection='lists',result='failed'}",
         "0+1x60")],
    "SendGridSourceEventsRefused": [
        ("sendgrid_source_webhook_responses_total{source='s',code='403'}", "0+5x60"),
        ("sendgrid_source_webhook_responses_total{source='s',code='200'}", "0+5x60")],
    "SendGridSourceEventsNotStored": [
        ("sendgrid_source_webhook_responses_total{source='s',code='503'}", "0+1x60")],
    "SendGridSourceStoreNotWritable": [
        ("sendgrid_source_commits_total{source='s',result='failed'}", "0+1x60"),
        ("sendgrid_source_commits_total{source='s',result='ok'}", "0+9x60")],
    "SendGridSourceBacklogGrowing": [
        ("sendgrid_source_pending_events{source='s'}", "0+1000x60"),
        ("sendgrid_source_queued_events{source='s'}", "0x60")],
    "SendGridSourceNoEventsWhileSending": [
        ("sendgrid_source_sync_rows_upserted_total{source='s',collection='stats_daily'}",
         "0+1x60"),
        ("sendgrid_source_sync_rows_upserted_total{source='s',collection='lists'}", "0+1x60"),
        ("sendgrid_source_events_received_total{source='other',table='delivered'}", "0+1x60")],
}
# Series that Prometheus makes itself rather than scraping: name -> labels they carry.
SYNTHETIC = {"up": {"job", "instance"}}
# Grafana's variables in expressions, replaced before PromQL is parsed.
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$__range": "1h", "$__interval": "1m"}
SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL_PAIR = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def scrape_families(text):
    """{sample name: set of label names} and the sample lines of a /metrics answer."""
    names, samples = {}, []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        h.check(m, f"/metrics line not in the text format: {line!r}")
        labels = {k for k, _ in LABEL_PAIR.findall(m.group(2) or "")}
        names.setdefault(m.group(1), set()).update(labels)
        samples.append((m.group(1), m.group(2) or "", m.group(3)))
    return names, samples


def alert_rules(path):
    """[(alert name, expr, annotation text)] from alerts.yml. The file's shape is fixed (a list
    of rules with `alert:`, `expr:` inline or as a `|` block, and `annotations:`), so a small
    reader does; the standard library has no YAML."""
    rules, current, block, block_indent = [], None, None, 0
    for raw in open(path):
        line = raw.rstrip("\n")
        indent = len(line) - len(line.lstrip())
        if block is not None:
            if line.strip() and indent <= block_indent:
                block = None
            else:
                current[block] += line.strip() + "\n"
                continue
        stripped = line.strip()
        if stripped.startswith("- alert:"):
            current = {"alert": stripped.split(":", 1)[1].strip(), "expr": "", "text": ""}
            rules.append(current)
        elif current and stripped.startswith("expr:"):
            value = stripped.split(":", 1)[1].strip()
            if value == "|":
                block, block_indent = "expr", indent
            else:
                current["expr"] = value
        elif current and stripped and not stripped.startswith("#"):
            current["text"] += stripped + "\n"
    return [(r["alert"], r["expr"], r["text"]) for r in rules]


def dashboard_queries(path):
    """[(where, expr, legend)] from the dashboard's panels and its variables."""
    with open(path) as f:
        dash = json.load(f)
    out = []
    variables = [v["name"] for v in dash["templating"]["list"]]
    h.check("source" in variables, f"the dashboard has no `source` variable: {variables}")
    for v in dash["templating"]["list"]:
        if v["type"] == "query":
            q = v["query"]["query"] if isinstance(v["query"], dict) else v["query"]
            m = re.fullmatch(r"label_values\((\w+),\s*(\w+)\)", q)
            h.check(m, f"variable {v['name']}: unexpected query {q!r}")
            out.append((f"variable {v['name']}", f'{m.group(1)}{{{m.group(2)}!=""}}', ""))
    for p in dash["panels"]:
        for t in p.get("targets", []):
            out.append((f"panel {p['title']!r}", t["expr"], t.get("legendFormat", "")))
    h.check(len(out) > 10, f"the dashboard has only {len(out)} queries")
    return out


def used_names_and_labels(expr, extra_text=""):
    """(metric names, label names) that a PromQL expression and its legend/annotations use."""
    for var, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(var, value)
    no_strings = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    labels = set()
    for matchers in re.findall(r"\{([^}]*)\}", no_strings):
        labels.update(re.findall(r"([a-zA-Z_]\w*)\s*(?:=~|!~|!=|=)", matchers))
    for group in re.findall(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)",
                            no_strings):
        labels.update(x.strip() for x in group.split(",") if x.strip())
    labels.update(re.findall(r"\{\{\s*\.?(\w+)\s*\}\}", extra_text))
    labels.update(re.findall(r"\$labels\.(\w+)", extra_text))
    without_groups = re.sub(r"\{[^}]*\}|\[[^\]]*\]", " ", no_strings)
    without_groups = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)",
                            " ", without_groups)
    words = set(re.findall(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\b(?!\s*\()", without_groups))
    keywords = {"and", "or", "unless", "bool", "offset", "inf", "nan", "e", "m", "s", "h", "d"}
    names = {w for w in words if w.startswith("sendgrid_source_") or w in SYNTHETIC}
    stray = {w for w in words - names - keywords if not re.fullmatch(r"\d+\w*", w)}
    h.check(not stray, f"unrecognised words in {expr!r}: {sorted(stray)}")
    return names, labels


def check_against(names, where, expr, text, ignore_labels=()):
    used, labels = used_names_and_labels(expr, text)
    h.check(used, f"{where}: no sendgrid-source metric in {expr!r}")
    available = set()
    for name in used:
        if name in SYNTHETIC:
            available |= SYNTHETIC[name]
            continue
        h.check(name in names, f"{where}: metric {name} is not in /metrics (expr {expr!r})")
        available |= names[name]
    missing = labels - available - set(ignore_labels)
    h.check(not missing, f"{where}: label(s) {sorted(missing)} not on {sorted(used)} in /metrics")
    return used


class FakeExport:
    def __init__(self, work):
        port_file = os.path.join(work, "fake.port")
        self.proc = subprocess.Popen(
            [sys.executable, FAKE, "--contacts", "50", "--files", "1",
             "--cache", os.path.join(work, "cache"), "--port-file", port_file,
             "--rate-limit-polls", "1", "--rate-limit-reset", "1"],
            stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, "fake.err"), "w"))
        h.wait_until(lambda: os.path.exists(port_file) and os.path.getsize(port_file), 60,
                     "the fake export server")
        with open(port_file) as f:
            self.url = f"http://127.0.0.1:{f.read().strip()}"

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=10)


def main():
    binary = sys.argv[1]
    promtool = shutil.which("promtool")
    if not promtool:
        print("promtool not installed (Debian package prometheus): skipped")
        sys.exit(h.SKIP)
    r = subprocess.run([promtool, "check", "rules", ALERTS], capture_output=True, text=True,
                       timeout=60)
    h.check(r.returncode == 0, f"promtool check rules: {r.stdout}{r.stderr}")
    print(r.stdout.strip(), flush=True)

    work = h.temp_work("sgs-monitoring.")
    fake = daemon = None
    try:
        fake = FakeExport(work)
        daemon = h.Daemon(binary, work, source="shop", source_extra={
            "api_key": "SG.test-key", "api_base": fake.url, "collections": ["recipients"],
            "sync_interval": "1h"})
        port = daemon.start()
        with open(ALL_TYPES, "rb") as f:
            body = f.read()
        for expected in (200, 200):  # the second copy: all duplicates
            status, text, _ = h.post(port, daemon.path, body)
            h.check(status == expected, f"POST all_types.json: {status} {text}")
        status, text, _ = h.post(port, daemon.path, b'[{"event":"delivered"}]')
        h.check(status == 200, f"POST of a rejected element: {status} {text}")
        status, text, _ = h.post(port, daemon.path, b"not json")
        h.check(status == 400, f"POST of a bad body: {status} {text}")
        status, text, _ = h.post(port, "/webhooks/sendgrid/nobody", body)
        h.check(status == 404, f"POST to an unknown source: {status} {text}")
        # `run` syncs at start (never synced); the fake answers the first poll 429 (a wait).
        h.wait_until(lambda: daemon.metric("sendgrid_source_sync_last_success_timestamp_seconds"),
                     60, "the sync of recipients to succeed")
        daemon.wait_idle()
        status, metrics_text = daemon.get("/metrics")
        h.check(status == 200, f"/metrics answered {status}")
        h.check(daemon.metric("sendgrid_source_sync_rate_limit_waits_total") == 1,
                "the sync did not wait for the rate limit once")
        code = daemon.stop()
        h.check(code == 0, f"the daemon exited {code}")
    finally:
        if daemon and daemon.alive():
            daemon.kill9()
        if fake:
            fake.stop()

    names, samples = scrape_families(metrics_text)
    used = set()
    for where, expr, legend in dashboard_queries(DASHBOARD):
        used |= check_against(names, where, expr, legend)
    rules = alert_rules(ALERTS)
    h.check(len(rules) >= 7, f"alerts.yml: only {len(rules)} alerts read")
    for alert, expr, text in rules:
        # Annotations may use the labels of the result, which come from the expression's series.
        used |= check_against(names, f"alert {alert}", expr, text)
    print(f"{len(used)} metric names used by the dashboard and the rules are in /metrics: "
          + ", ".join(sorted(used)), flush=True)

    # Every alert expression evaluates over the scraped samples (constant for 30 minutes). With
    # counters that do not move and the sync's success "in the future" of promtool's clock, no
    # alert fires: a rule that fires, or fails to evaluate, fails `promtool test rules`.
    series = [{"series": f"{name}{{{labels}}}", "values": f"{float(value)!r}+0x30"}
              for name, labels, value in samples if value not in ("NaN", "+Inf", "-Inf")]
    tests = {
        "rule_files": [ALERTS],
        "evaluation_interval": "1m",
        "tests": [{
            "interval": "1m",
            "input_series": series,
            "alert_rule_test": [{"eval_time": t, "alertname": alert, "exp_alerts": []}
                                for alert, _, _ in rules for t in ("5m", "30m")],
        }],
    }
    # And each alert selects something in the situation it is for.
    h.check(set(SCENARIOS) == {alert for alert, _, _ in rules},
            f"SCENARIOS and alerts.yml name different alerts: {sorted(SCENARIOS)}")
    for alert, expr, _ in rules:
        tests["tests"].append({
            "name": f"{alert} in its situation",
            "interval": "1m",
            "input_series": [{"series": name.replace("'", '"'), "values": values}
                             for name, values in SCENARIOS[alert]],
            "promql_expr_test": [{"expr": f"count({expr.strip()})", "eval_time": "30m",
                                  "exp_samples": [{"labels": "{}", "value": 1}]}],
        })
    test_file = os.path.join(work, "alerts_test.yml")
    with open(test_file, "w") as f:
        json.dump(tests, f, indent=1)  # JSON is YAML
    r = subprocess.run([promtool, "test", "rules", test_file], capture_output=True, text=True,
                       timeout=60)
    h.check(r.returncode == 0, f"promtool test rules over the scraped series:\n{r.stdout}{r.stderr}")
    print(f"{len(rules)} alert expressions evaluated over {len(series)} scraped series, and each "
          "selects its situation", flush=True)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    h.run_test(main)
