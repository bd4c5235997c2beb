#!/usr/bin/env bash
# Issue 16's benchmark: a full `sendgrid-source sync` (collections = "all") of an account with
# 1 million contacts, 500 000 suppressions, 2 years of daily stats and 200 templates, served by
# bench/fake_account_server.py on 127.0.0.1: total time and peak RSS, first sync (empty
# database) and second sync (nothing changed; suppressions incremental). Usage:
#   bench/account_sync_bench.sh [BUILD_DIR] [CONTACTS] [SUPPRESSIONS] [STATS_DAYS] [TEMPLATES]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
build="${1:-$root/build}"
contacts="${2:-1000000}"
suppressions="${3:-500000}"
days="${4:-730}"
templates="${5:-200}"
bin="$build/daemon/sendgrid-source"
[ -x "$bin" ] || { echo "no $bin: build first (cmake --build $build)" >&2; exit 1; }
cache="${SGS_BENCH_CACHE:-/tmp/sgs-sync-bench-cache}"
work="$(mktemp -d /tmp/sgs-account-bench.XXXXXX)"
server_pid=""
cleanup() { [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

python3 "$here/fake_account_server.py" --contacts "$contacts" --suppressions "$suppressions" \
  --stats-days "$days" --templates "$templates" --cache "$cache" --port-file "$work/port" &
server_pid=$!
for _ in $(seq 1 1200); do [ -s "$work/port" ] && break; sleep 0.5; done
port=$(cat "$work/port")
cat >"$work/config.toml" <<TOML
[server]
listen = "127.0.0.1:0"
[storage]
dir = "$work/data"
[log]
level = "warn"
[[source]]
name = "bench"
api_key = "SG.bench-key"
api_base = "http://127.0.0.1:$port"
collections = ["all"]
stats_backfill_days = $days
TOML
echo "account: $contacts contacts, $suppressions suppressions, $days days of stats, $templates templates"
for run in first second; do
  /usr/bin/time -v "$bin" --config "$work/config.toml" sync >"$work/$run.out" 2>"$work/$run.err" || {
    echo "sync failed:" >&2; cat "$work/$run.out" "$work/$run.err" >&2; exit 1; }
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$work/$run.err")
  rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$work/$run.err")
  echo "== $run sync: wall $wall, peak RSS $((rss / 1024)) MB"
  cat "$work/$run.out"
done
echo "== rows"
sqlite3 "$work/data/bench.db" "SELECT 'recipients', count(*) FROM recipients UNION ALL
  SELECT 'suppressions', (SELECT count(*) FROM bounces)+(SELECT count(*) FROM blocks)+
    (SELECT count(*) FROM spam_reports)+(SELECT count(*) FROM invalid_emails)+
    (SELECT count(*) FROM global_unsubscribes) UNION ALL
  SELECT 'stats_daily', count(*) FROM stats_daily UNION ALL
  SELECT 'category_stats_daily', count(*) FROM category_stats_daily UNION ALL
  SELECT 'singlesend_stats days', count(*) FROM singlesend_stats WHERE date IS NOT NULL UNION ALL
  SELECT 'automation_stats days', count(*) FROM automation_stats WHERE date IS NOT NULL UNION ALL
  SELECT 'templates', count(*) FROM templates UNION ALL
  SELECT 'template_versions', count(*) FROM template_versions"
echo "database: $(du -sh "$work/data" | cut -f1)"
