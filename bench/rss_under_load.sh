#!/usr/bin/env bash
# Peak RSS and per-thread CPU of sendgrid-source binaries under the same webhook load, one
# after the other on a fresh database each: for comparing builds that differ in a memory
# bound (e.g. store_options::max_parsed_events, docs/DESIGN.md "Parse once").
#
#   bench/rss_under_load.sh [--duration 10s] [--batch 1000] BINARY...
#
# Prints per binary: acknowledged events/s, p99, VmHWM, and the CPU seconds of the writer and
# merger threads per million events merged. Needs wrk (../shared/bench/run_webhook_bench.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED=${SHARED_BENCH:-$(pwd)/../shared/bench}
DURATION=10s EPB=1000 CONNS=16
while [ $# -gt 0 ]; do
  case "$1" in
    --duration) DURATION=$2; shift 2 ;; --batch) EPB=$2; shift 2 ;; *) break ;;
  esac
done
[ $# -gt 0 ] || { echo "usage: $0 [--duration 10s] [--batch 1000] BINARY..." >&2; exit 2; }
WORK=$(mktemp -d /tmp/sgs-rss.XXXXXX)
PID=
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT
python3 "$SHARED/gen_events.py" --seed "$EPB" --events-per-batch "$EPB" \
  --batches $(( EPB >= 1000 ? 100 : 400 )) --out "$WORK/batches" >/dev/null
TICKS=$(getconf CLK_TCK)
# CPU seconds (user + system) of the thread named $1 of process $PID.
thread_cpu() {
  for t in /proc/"$PID"/task/*; do
    [ "$(cat "$t/comm")" = "$1" ] || continue
    awk -v hz="$TICKS" '{ sub(/^.*\) /, ""); printf "%.2f", ($12 + $13) / hz }' "$t/stat"
    return
  done
  echo 0
}
echo "| binary | events/s | p99 ms | VmHWM MB | writer CPU s/M | merger CPU s/M | rows |"
echo "|---|---:|---:|---:|---:|---:|---:|"
for bin in "$@"; do
  data=$WORK/data; rm -rf "$data"; mkdir -p "$data"
  printf '[server]\nlisten = "127.0.0.1:0"\n[storage]\ndir = "%s"\n[[source]]\nname = "default"\n' \
    "$data" >"$WORK/bench.toml"
  : >"$WORK/log"
  "$bin" --config "$WORK/bench.toml" run >"$WORK/log" 2>&1 &
  PID=$!
  PORT=
  for _ in $(seq 100); do
    PORT=$(sed -n 's#.*listening: POST http://127.0.0.1:\([0-9]*\)/.*#\1#p' "$WORK/log" || true)
    [ -n "$PORT" ] && break
    sleep 0.1
  done
  [ -n "$PORT" ] || { cat "$WORK/log" >&2; exit 1; }
  out=$("$SHARED/run_webhook_bench.sh" -c "$CONNS" -d "$DURATION" -m unique \
    "http://127.0.0.1:$PORT/webhooks/sendgrid/default" "$WORK/batches" 2>&1)
  for _ in $(seq 1200); do
    curl -s "http://127.0.0.1:$PORT/healthz" | grep -q '"queued_events":0,"pending_events":0' && break
    sleep 0.05
  done
  hwm=$(awk '/VmHWM/ {print int($2/1024)}' "/proc/$PID/status")
  writer=$(thread_cpu sgs-writer) merger=$(thread_cpu sgs-merger)
  kill -TERM "$PID"; wait "$PID" 2>/dev/null || true
  PID=
  rows=$("$SHARED/count_rows.sh" "$data/default.db" | sed -n 's/^total=//p')
  eps=$(echo "$out" | sed -n 's/^events_per_s=//p')
  p99=$(echo "$out" | sed -n 's/.*p99=\([0-9.]*\).*/\1/p' | tail -1)
  per_m() { awk -v c="$1" -v r="$rows" 'BEGIN { printf "%.1f", r ? c * 1e6 / r : 0 }'; }
  echo "| $(basename "$bin") | $eps | $p99 | $hwm | $(per_m "$writer") | $(per_m "$merger") | $rows |"
  sync; sleep 2
done
