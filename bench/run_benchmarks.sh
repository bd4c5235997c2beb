#!/usr/bin/env bash
# Builds Release and prints the ingest and query figures of sendgrid-source.
#
#   bench/run_benchmarks.sh [--ingest-only | --query-only] [--duration 10s] [--query-events N]
#
# Ingest: for 1000-event and 50-event POSTs (16 connections, -m unique, fresh database,
# synchronous=FULL, 2xx only after commit) it starts the daemon, drives it with
# ../shared/bench/run_webhook_bench.sh (wrk), waits until every acknowledged event is in the
# event tables, checks the row count against the 2xx count and prints events/s, p50/p99
# latency and the daemon's peak RSS (VmHWM).
# Query: bench/query_bench fills a store of N events (default 10 000 000) through the real
# write path and times the SPEC §6 lookups.
# Only 127.0.0.1 is used; every run is bounded in time.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
SHARED=${SHARED_BENCH:-$ROOT/../shared/bench}
DURATION=10s CONNS=16 QUERY_EVENTS=10000000 MODE=all
while [ $# -gt 0 ]; do
  case "$1" in
    --ingest-only) MODE=ingest ;; --query-only) MODE=query ;;
    --duration) DURATION=$2; shift ;; --query-events) QUERY_EVENTS=$2; shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
[ -x "$SHARED/run_webhook_bench.sh" ] || { echo "no $SHARED/run_webhook_bench.sh (set SHARED_BENCH)" >&2; exit 2; }

cmake -S . -B build-release -G Ninja -DCMAKE_BUILD_TYPE=Release -DSGS_BUILD_TESTS=OFF -DSGS_BUILD_BENCH=ON >/dev/null
cmake --build build-release -j "$(nproc)" >/dev/null
BIN=${SGS_BIN:-$ROOT/build-release/daemon/sendgrid-source}  # SGS_BIN: compare another build
WORK=$(mktemp -d /tmp/sgs-bench.XXXXXX)
trap 'pkill -f "$WORK/bench.toml" 2>/dev/null || true; rm -rf "$WORK"' EXIT
PORT=18089
URL=http://127.0.0.1:$PORT/webhooks/sendgrid/default

echo "# machine: $(nproc) cores, $(grep MemTotal /proc/meminfo | awk '{print int($2/1048576)}') GiB, $(uname -r)"
echo "# sendgrid-source $($BIN --version | awk '{print $2}'), SQLite $(sqlite3 --version | awk '{print $1}')"

ingest() {  # ingest EVENTS_PER_BATCH
  local epb=$1 dir=$WORK/batches_$1 data=$WORK/data_$1
  [ -d "$dir" ] || python3 "$SHARED/gen_events.py" --seed "$epb" --events-per-batch "$epb" \
      --batches $(( epb >= 1000 ? 100 : 400 )) --out "$dir" >/dev/null
  cat >"$WORK/bench.toml" <<TOML
[server]
listen = "127.0.0.1:$PORT"
[storage]
dir = "$data"
synchronous = "full"
[[source]]
name = "default"
TOML
  rm -rf "$data"
  "$BIN" --config "$WORK/bench.toml" run 2>"$WORK/daemon_$epb.log" &
  local pid=$!
  for _ in $(seq 50); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.1; done
  local out; out=$("$SHARED/run_webhook_bench.sh" -c "$CONNS" -d "$DURATION" -m unique "$URL" "$dir" 2>&1)
  # Wait until every acknowledged body has been moved into the event tables: the time that
  # takes is part of the figure for events that are queryable.
  local drain_start drain_ms
  drain_start=$(date +%s%N)
  for _ in $(seq 1200); do
    curl -s "http://127.0.0.1:$PORT/healthz" | grep -q '"queued_events":0,"pending_events":0' && break
    sleep 0.05
  done
  drain_ms=$(( ($(date +%s%N) - drain_start) / 1000000 ))
  local hwm; hwm=$(awk '/VmHWM/ {print int($2/1024)}' "/proc/$pid/status")
  kill -TERM "$pid"; wait "$pid" || true
  local ok eps p50 p99 rows
  ok=$(echo "$out" | sed -n 's/^ok_2xx=\([0-9]*\).*/\1/p')
  eps=$(echo "$out" | sed -n 's/^events_per_s=//p')
  p50=$(echo "$out" | sed -n 's/.*p50=\([0-9.]*\).*/\1/p' | tail -1)
  p99=$(echo "$out" | sed -n 's/.*p99=\([0-9.]*\).*/\1/p' | tail -1)
  rows=$("$SHARED/count_rows.sh" "$data/default.db" | sed -n 's/^total=//p')  # every table
  local acked=$(( ok * epb )) max=$(( (ok + CONNS) * epb )) verdict=OK
  [ "$rows" -ge "$acked" ] && [ "$rows" -le "$max" ] || verdict=LOST_OR_EXTRA
  # Events in the tables per second of load plus the time their merge took after it.
  local secs=${DURATION%s} in_tables_eps
  in_tables_eps=$(( rows * 1000 / (secs * 1000 + drain_ms) ))
  printf 'ingest %4d-event POSTs, %d conns, %s: events_per_s=%s p50_ms=%s p99_ms=%s peak_rss_mb=%s rows=%s acked_events=%s check=%s merged_after_ms=%s in_tables_events_per_s=%s\n' \
    "$epb" "$CONNS" "$DURATION" "$eps" "$p50" "$p99" "$hwm" "$rows" "$acked" "$verdict" "$drain_ms" "$in_tables_eps"
}

if [ "$MODE" != query ]; then
  ingest 1000
  sync; sleep 3  # let the previous run's writeback settle before the next measurement
  ingest 50
fi
if [ "$MODE" != ingest ]; then
  DB=${QUERY_DB:-/tmp/sgs-query-bench-$QUERY_EVENTS.db}
  echo "# query bench on $DB (reused when it already holds $QUERY_EVENTS events)"
  "$ROOT/build-release/bench/query_bench" "$DB" "$QUERY_EVENTS"
fi
