#!/usr/bin/env bash
# sendgrid-source against the hand-written receivers of bench/peers/ in one run, on one machine,
# with the shared wrk harness and the settings of bench/run_benchmarks.sh (16 connections,
# -m unique, fresh database, synchronous=FULL, 2xx only after commit), at 1000- and 50-event
# POSTs; then SQLite's raw insert rate on the same disk as the ceiling. Prints one table:
# events/s acknowledged (wrk's 2xx), and events/s into the tables counting the time the daemon
# took after the load to merge what it had acknowledged (the peers insert before answering).
#
#   bench/compare_peers.sh [--duration 10s] [--conns 16] [--only sendgrid-source,python,node]
#
# Needs wrk, sqlite3, python3 and Node.js >= 20 (scripts/install-deps.sh --bench); the Node
# peer's better-sqlite3 is installed with `npm ci --prefix bench/peers` (built from source when
# no prebuilt binary can be fetched). Builds build-release (Release, with bench/) unless SGS_BIN
# and SGS_CEILING name binaries. Only 127.0.0.1 is used; every run is bounded in time.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
SHARED=${SHARED_BENCH:-$ROOT/../shared/bench}
DURATION=10s CONNS=16 ONLY=sendgrid-source,python,node CEILING_ROWS=${CEILING_ROWS:-1000000}
while [ $# -gt 0 ]; do
  case "$1" in
    --duration) DURATION=$2; shift ;; --conns) CONNS=$2; shift ;; --only) ONLY=$2; shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
[ -x "$SHARED/run_webhook_bench.sh" ] || { echo "no $SHARED/run_webhook_bench.sh (set SHARED_BENCH)" >&2; exit 2; }

if [ -z "${SGS_BIN:-}" ] || [ -z "${SGS_CEILING:-}" ]; then
  cmake -S . -B build-release -G Ninja -DCMAKE_BUILD_TYPE=Release -DSGS_BUILD_TESTS=OFF -DSGS_BUILD_BENCH=ON >/dev/null
  cmake --build build-release -j "$(nproc)" --target sendgrid-source sqlite_ceiling >/dev/null
fi
BIN=${SGS_BIN:-$ROOT/build-release/daemon/sendgrid-source}
CEILING=${SGS_CEILING:-$ROOT/build-release/bench/sqlite_ceiling}

if [[ ,$ONLY, == *,node,* ]]; then
  NODE_MAJOR=$(node --version 2>/dev/null | sed -n 's/^v\([0-9]*\).*/\1/p')
  if [ "${NODE_MAJOR:-0}" -lt 20 ]; then
    echo "# skipping the Node.js peer: needs Node.js >= 20 (have: $(node --version 2>/dev/null || echo none))"
    ONLY=${ONLY//node/}
  elif [ ! bench/peers/node_modules/.package-lock.json -nt bench/peers/package-lock.json ]; then
    # node-gyp builds better-sqlite3 against the installed headers when they are there.
    [ -d /usr/include/node ] && export npm_config_nodedir=/usr
    npm ci --prefix bench/peers --no-audit --no-fund >/dev/null
  fi
fi

WORK=$(mktemp -d /tmp/sgs-peers.XXXXXX)
PID=
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT

echo "# machine: $(nproc) cores ($(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)), $(grep MemTotal /proc/meminfo | awk '{print int($2/1048576)}') GiB, $(uname -r), $(df -T "$WORK" | awk 'NR == 2 {print $2}') on $(df "$WORK" | awk 'NR == 2 {print $1}')"
echo "# sendgrid-source $("$BIN" --version | awk '{print $2}'), SQLite $(sqlite3 --version | awk '{print $1}'), python $(python3 --version | awk '{print $2}'), node $(node --version 2>/dev/null || echo -), wrk -c $CONNS -d $DURATION -m unique"

# start RECEIVER DATA_DIR: starts it on 127.0.0.1, sets PID and PORT.
start() {
  local name=$1 data=$2
  rm -rf "$data"; mkdir -p "$data"; rm -f "$WORK/port"
  : >"$WORK/$name.log"  # exists before the background start opens it: the port is read from it
  case "$name" in
    sendgrid-source)
      printf '[server]\nlisten = "127.0.0.1:0"\n[storage]\ndir = "%s"\nsynchronous = "full"\n[[source]]\nname = "default"\n' \
        "$data" >"$WORK/bench.toml"
      "$BIN" --config "$WORK/bench.toml" run >"$WORK/$name.log" 2>&1 &
      PID=$!
      PORT=
      for _ in $(seq 100); do
        PORT=$(sed -n 's#.*listening: POST http://127.0.0.1:\([0-9]*\)/.*#\1#p' "$WORK/$name.log" || true)
        [ -n "$PORT" ] && break
        sleep 0.1
      done ;;
    python)
      python3 bench/peers/python_receiver.py --db "$data/events.db" --port-file "$WORK/port" >"$WORK/$name.log" 2>&1 &
      PID=$! ;;
    node)
      node bench/peers/node_receiver.js --db "$data/events.db" --port-file "$WORK/port" >"$WORK/$name.log" 2>&1 &
      PID=$! ;;
  esac
  if [ "$name" != sendgrid-source ]; then
    for _ in $(seq 100); do [ -s "$WORK/port" ] && break; sleep 0.1; done
    PORT=$(cat "$WORK/port" 2>/dev/null || true)
  fi
  [ -n "$PORT" ] || { echo "$name did not start:" >&2; cat "$WORK/$name.log" >&2; exit 1; }
}

RESULTS=()
measure() {  # measure RECEIVER EVENTS_PER_BATCH
  local name=$1 epb=$2 dir=$WORK/batches_$2 data=$WORK/data_$1_$2
  [ -d "$dir" ] || python3 "$SHARED/gen_events.py" --seed "$epb" --events-per-batch "$epb" \
      --batches $(( epb >= 1000 ? 100 : 400 )) --out "$dir" >/dev/null
  start "$name" "$data"
  local path=/webhooks/sendgrid/default
  local out; out=$("$SHARED/run_webhook_bench.sh" -c "$CONNS" -d "$DURATION" -m unique "http://127.0.0.1:$PORT$path" "$dir" 2>&1)
  local drain_start drain_ms=0
  if [ "$name" = sendgrid-source ]; then
    # Every acknowledged body into the event tables before counting; the time that takes is
    # part of the figure for events that are queryable (as in bench/run_benchmarks.sh).
    drain_start=$(date +%s%N)
    for _ in $(seq 1200); do
      curl -s "http://127.0.0.1:$PORT/healthz" | grep -q '"queued_events":0,"pending_events":0' && break
      sleep 0.05
    done
    drain_ms=$(( ($(date +%s%N) - drain_start) / 1000000 ))
  else
    sleep 1  # the peers commit to their tables before answering; let the last requests finish
  fi
  local hwm; hwm=$(awk '/VmHWM/ {print int($2/1024)}' "/proc/$PID/status")
  kill -TERM "$PID"; wait "$PID" 2>/dev/null || true
  PID=
  local db=$data/events.db; [ "$name" = sendgrid-source ] && db=$data/default.db
  local ok eps p50 p99 rows
  ok=$(echo "$out" | sed -n 's/^ok_2xx=\([0-9]*\).*/\1/p')
  eps=$(echo "$out" | sed -n 's/^events_per_s=//p')
  p50=$(echo "$out" | sed -n 's/.*p50=\([0-9.]*\).*/\1/p' | tail -1)
  p99=$(echo "$out" | sed -n 's/.*p99=\([0-9.]*\).*/\1/p' | tail -1)
  rows=$("$SHARED/count_rows.sh" "$db" | sed -n 's/^total=//p')
  local acked=$(( ${ok:-0} * epb )) max=$(( (${ok:-0} + CONNS) * epb )) check=OK
  [ "${rows:-0}" -ge "$acked" ] && [ "${rows:-0}" -le "$max" ] || check=LOST_OR_EXTRA
  # Rows in the tables per second of load plus the time their merge took after it.
  local secs=${DURATION%s} in_tables
  in_tables=$(( ${rows:-0} * 1000 / (secs * 1000 + drain_ms) ))
  RESULTS+=("$(printf '| %-16s | %5d | %10s | %10s | %8s | %8s | %6s | %10s | %-11s |' \
    "$name" "$epb" "${eps:-?}" "$in_tables" "${p50:-?}" "${p99:-?}" "$hwm" "$rows" "$check")")
  echo "# $name $epb-event POSTs: events_per_s=${eps:-?} in_tables_events_per_s=$in_tables p99_ms=${p99:-?} rows=$rows acked_events=$acked merged_after_ms=$drain_ms check=$check" >&2
}

for epb in 1000 50; do
  for name in python node sendgrid-source; do
    [[ ,$ONLY, == *,$name,* ]] || continue
    measure "$name" "$epb"
    sync; sleep 2  # let the previous run's writeback settle before the next measurement
  done
done

echo
echo "| receiver         | batch |   events/s |  in tables |   p50 ms |   p99 ms | RSS MB |       rows | rows vs 2xx |"
echo "|------------------|------:|-----------:|-----------:|---------:|---------:|-------:|-----------:|-------------|"
printf '%s\n' "${RESULTS[@]}"
echo
echo "# SQLite raw insert ceiling on the same disk ($CEILING_ROWS rows, no HTTP, no JSON):"
"$CEILING" "$WORK" "$CEILING_ROWS"
