#!/usr/bin/env bash
# Soak: the Release daemon under steady mixed webhook load for a long time, with a contact sync
# every few minutes against bench/fake_export_server.py. Not a CI test.
#
#   bench/soak.sh [MINUTES=30] [--rate EVENTS_PER_S=2000] [--sync-interval 3m]
#                 [--contacts 100000] [--out DIR]
#
# Every 10 s bench/soak_load.py appends to DIR/soak.csv: offered and stored events/s, p50/p99
# latency, non-2xx answers, RSS and peak RSS, WAL and database size, WAL restart checkpoints
# and resets (/metrics), pending events and succeeded sync runs. At the end it checks the rows
# against the 2xx count, and bench/soak_plot.py draws DIR/soak.png and says whether RSS and the
# WAL stayed flat. The plot needs python3-matplotlib (scripts/install-deps.sh --bench).
# Only 127.0.0.1 is used; bounded by MINUTES plus a few minutes of build, start and drain.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
MINUTES=30 RATE=2000 SYNC_INTERVAL=3m CONTACTS=100000 OUT=
if [ $# -gt 0 ] && [[ $1 =~ ^[0-9]+([.][0-9]+)?$ ]]; then MINUTES=$1; shift; fi
while [ $# -gt 0 ]; do
  case "$1" in
    --rate) RATE=$2; shift ;; --sync-interval) SYNC_INTERVAL=$2; shift ;;
    --contacts) CONTACTS=$2; shift ;; --out) OUT=$2; shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
OUT=${OUT:-$ROOT/soak-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT"

BIN=${SGS_BIN:-$ROOT/build-release/daemon/sendgrid-source}
if [ -z "${SGS_BIN:-}" ]; then
  cmake -S . -B build-release -G Ninja -DCMAKE_BUILD_TYPE=Release -DSGS_BUILD_TESTS=OFF >/dev/null
  cmake --build build-release -j "$(nproc)" --target sendgrid-source >/dev/null
fi
WORK=$(mktemp -d /tmp/sgs-soak.XXXXXX)
DAEMON= FAKE=
cleanup() {
  [ -n "$DAEMON" ] && kill -TERM "$DAEMON" 2>/dev/null && wait "$DAEMON" 2>/dev/null
  [ -n "$FAKE" ] && kill "$FAKE" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT

python3 bench/fake_export_server.py --contacts "$CONTACTS" --files 3 \
  --cache "${SGS_BENCH_CACHE:-/tmp/sgs-sync-bench-cache}" --port-file "$WORK/fake_port" \
  >"$OUT/fake_export.log" 2>&1 &
FAKE=$!
for _ in $(seq 600); do [ -s "$WORK/fake_port" ] && break; sleep 0.5; done  # first run generates
[ -s "$WORK/fake_port" ] || { echo "fake export server did not start" >&2; exit 1; }

cat >"$WORK/soak.toml" <<TOML
[server]
listen = "127.0.0.1:0"
[storage]
dir = "$WORK/data"
synchronous = "full"
[log]
level = "info"
[[source]]
name = "soak"
api_key = "SG.soak-key"
api_base = "http://127.0.0.1:$(cat "$WORK/fake_port")"
collections = ["recipients"]
sync_interval = "$SYNC_INTERVAL"
TOML
"$BIN" --config "$WORK/soak.toml" run >"$OUT/daemon.log" 2>&1 &
DAEMON=$!
PORT=
for _ in $(seq 200); do
  PORT=$(sed -n 's#.*listening: POST http://127.0.0.1:\([0-9]*\)/webhooks/sendgrid/soak.*#\1#p' "$OUT/daemon.log")
  [ -n "$PORT" ] && break
  sleep 0.1
done
[ -n "$PORT" ] || { echo "daemon did not start:" >&2; tail "$OUT/daemon.log" >&2; exit 1; }

echo "# soak: $MINUTES min, $RATE events/s, sync every $SYNC_INTERVAL of $CONTACTS contacts; $(nproc) cores, $(uname -r); output in $OUT"
status=0
python3 bench/soak_load.py --url "http://127.0.0.1:$PORT" --source soak --pid "$DAEMON" \
  --db "$WORK/data/soak.db" --rate "$RATE" --seconds "$(python3 -c "print($MINUTES * 60)")" \
  --csv "$OUT/soak.csv" | tee "$OUT/soak.log" || status=1
grep -q 'check=OK' "$OUT/soak.log" || status=1
kill -TERM "$DAEMON"; wait "$DAEMON" || status=1
DAEMON=
grep -c 'collection=recipients status=succeeded' "$OUT/daemon.log" | sed 's/^/syncs succeeded: /'
# The Debian matplotlib belongs to /usr/bin/python3 (another python3 may come first in PATH).
PLOT_PY=/usr/bin/python3; [ -x "$PLOT_PY" ] || PLOT_PY=python3
"$PLOT_PY" bench/soak_plot.py "$OUT/soak.csv" "$OUT/soak.png" | tee -a "$OUT/soak.log"
exit $status
