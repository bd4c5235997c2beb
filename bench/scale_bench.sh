#!/usr/bin/env bash
# Ingest as the warehouse grows (issue 15): fills one store through the webhook itself to N
# events and measures, in the same run, the ingest rate on the empty store and on the full one,
# then the SPEC §6 lookups and the bytes on disk per event. Prints one table.
#
#   bench/scale_bench.sh [--events 11000000] [--window 20s] [--conns 16] [--batch 1000]
#
# Events: 30 days of gen_events.py batches (10 per day, timestamps of that day). Every rate:
# 1000-event POSTs (gen_events.py batches, ids made unique per request by
# ../shared/bench/post_load.lua -m unique), 16 connections, synchronous=FULL, 2xx only after
# commit; "into tables" counts the rows that reached the event tables during the window plus
# the time their merge took after it. Bytes per event: both files of the source (tables and
# pending journal, WAL included) after the daemon stopped cleanly, divided by the events
# stored; JSON bytes per event: the batch files' average. 127.0.0.1 only; bounded (the fill
# stops at N events or after --max-minutes, default 120).
# SGS_BIN=path compares another build; KEEP_STORE=1 keeps the filled store.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
SHARED=${SHARED_BENCH:-$ROOT/../shared/bench}
EVENTS=11000000 WINDOW=20s CONNS=16 BATCH=1000 MAX_MINUTES=120
while [ $# -gt 0 ]; do
  case "$1" in
    --events) EVENTS=$2; shift ;; --window) WINDOW=$2; shift ;; --conns) CONNS=$2; shift ;;
    --batch) BATCH=$2; shift ;; --max-minutes) MAX_MINUTES=$2; shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
[ -x "$SHARED/run_webhook_bench.sh" ] || { echo "no $SHARED/run_webhook_bench.sh (set SHARED_BENCH)" >&2; exit 2; }
if [ -z "${SGS_BIN:-}" ]; then
  cmake -S . -B build-release -G Ninja -DCMAKE_BUILD_TYPE=Release -DSGS_BUILD_TESTS=OFF -DSGS_BUILD_BENCH=ON >/dev/null
  cmake --build build-release -j "$(nproc)" --target sendgrid-source >/dev/null
fi
BIN=${SGS_BIN:-$ROOT/build-release/daemon/sendgrid-source}
WORK=$(mktemp -d /tmp/sgs-scale.XXXXXX)
# KEEP_STORE=1 leaves the filled store in $WORK/data for experiments on copies of it.
trap 'pkill -f "$WORK/scale.toml" 2>/dev/null || true; [ -n "${KEEP_STORE:-}" ] && echo "# store kept in $WORK/data" || rm -rf "$WORK"' EXIT
PORT=18091
URL=http://127.0.0.1:$PORT/webhooks/sendgrid/default
DATA=$WORK/data
DB=$DATA/default.db

echo "# machine: $(nproc) cores, $(grep MemTotal /proc/meminfo | awk '{print int($2/1048576)}') GiB; sendgrid-source $("$BIN" --version | awk '{print $2}'), SQLite $(sqlite3 --version | awk '{print $1}'); commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
# 30 sets of 10 batches, one per day of a month (own seed: own recipients and messages), so
# that "one day" of the lookups below is a thirtieth of the store, as in a warehouse that
# receives every day, and one recipient's events are spread as a month's are.
mkdir -p "$WORK/batches"
for day in $(seq 0 29); do
  python3 "$SHARED/gen_events.py" --seed $((15 + day)) --start-ts $((1700000000 + day * 86400)) \
      --events-per-batch "$BATCH" --batches 10 --out "$WORK/day" >/dev/null 2>&1
  for f in "$WORK"/day/batch_*.json; do mv "$f" "$WORK/batches/batch_d${day}_${f##*/batch_}"; done
  rm -rf "$WORK/day"
done
JSON_BYTES=$(cat "$WORK"/batches/batch_*.json | wc -c)
JSON_PER_EVENT=$(( JSON_BYTES / (300 * BATCH) ))
cat >"$WORK/scale.toml" <<TOML
[server]
listen = "127.0.0.1:$PORT"
[storage]
dir = "$DATA"
synchronous = "full"
[[source]]
name = "default"
TOML
"$BIN" --config "$WORK/scale.toml" run 2>"$WORK/daemon.log" &
PID=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.1; done

rows() { sqlite3 -batch -noheader "file:$DB?mode=ro" "SELECT (SELECT count(*) FROM activity) + (SELECT count(*) FROM rejected_events)"; }
drain() {  # waits until every acknowledged event is in the tables; prints the ms it took
  local t0; t0=$(date +%s%N)
  for _ in $(seq 6000); do
    curl -s "http://127.0.0.1:$PORT/healthz" | grep -q '"queued_events":0,"pending_events":0' && break
    sleep 0.05
  done
  echo $(( ($(date +%s%N) - t0) / 1000000 ))
}
# One measured window: prints "acked_eps in_tables_eps p99_ms rows_after".
window() {
  local before after out drain_ms secs acked_eps p99
  before=$(rows)
  out=$("$SHARED/run_webhook_bench.sh" -c "$CONNS" -d "$WINDOW" -m unique "$URL" "$WORK/batches" 2>&1)
  drain_ms=$(drain)
  after=$(rows)
  secs=${WINDOW%s}
  acked_eps=$(echo "$out" | sed -n 's/^events_per_s=//p')
  p99=$(echo "$out" | sed -n 's/.*p99=\([0-9.]*\).*/\1/p' | tail -1)
  echo "$acked_eps $(( (after - before) * 1000 / (secs * 1000 + drain_ms) )) $p99 $after"
}

echo "# window 1: empty store"
read -r EMPTY_ACK EMPTY_IN EMPTY_P99 STORED <<<"$(window)"
echo "#   acked=$EMPTY_ACK/s into_tables=$EMPTY_IN/s p99=${EMPTY_P99}ms rows=$STORED"
DEADLINE=$(( $(date +%s) + MAX_MINUTES * 60 ))
while [ "$STORED" -lt "$EVENTS" ] && [ "$(date +%s)" -lt "$DEADLINE" ]; do
  # Fill in slices of at most 60 s, stopping near N so the last window starts at about N.
  "$SHARED/run_webhook_bench.sh" -c "$CONNS" -d 60s -m unique \
      -n $(( (EVENTS - STORED) / BATCH + 1 )) "$URL" "$WORK/batches" >/dev/null 2>&1 || true
  drain >/dev/null
  STORED=$(rows)
  echo "#   filled to $STORED events ($(( $(du -sb "$DATA" | cut -f1) / 1048576 )) MiB on disk)"
done
echo "# window 2: store holds $STORED events"
read -r FULL_ACK FULL_IN FULL_P99 STORED <<<"$(window)"
echo "#   acked=$FULL_ACK/s into_tables=$FULL_IN/s p99=${FULL_P99}ms rows=$STORED"
HWM=$(awk '/VmHWM/ {print int($2/1024)}' "/proc/$PID/status")
kill -TERM "$PID"; wait "$PID" || true
DISK=$(du -cb "$DATA"/default.db* "$DATA"/default.pending.db* 2>/dev/null | tail -1 | cut -f1)

echo "# lookups on the stopped store (sqlite3 from Python, as a user queries)"
LOOKUPS=$(python3 - "$DB" <<'PY'
import random, sqlite3, sys, time
db = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True)
rng = random.Random(15)
def p99(sql, values):
    times = []
    for v in values:
        t = time.perf_counter(); db.execute(sql, (v,)).fetchall(); times.append(time.perf_counter() - t)
    times.sort()
    return times[int(len(times) * 0.99) - 1] * 1000
# Rows picked at random by rowid: of event_rows (schema 10 on), of delivered before.
rows = "event_rows" if db.execute(
    "SELECT 1 FROM sqlite_schema WHERE name = 'event_rows'").fetchone() else "delivered"
n = db.execute(f"SELECT max(rowid) FROM {rows}").fetchone()[0] or 1
emails = [r[0] for r in db.execute(f"SELECT email FROM {rows} WHERE email IS NOT NULL AND rowid IN (%s)" %
          ",".join(str(rng.randrange(1, n)) for _ in range(300)))]
msgs = [r[0] for r in db.execute(f"SELECT sg_message_id FROM {rows} WHERE sg_message_id IS NOT NULL AND rowid IN (%s)" %
        ",".join(str(rng.randrange(1, n)) for _ in range(300)))]
email_p99 = p99("SELECT * FROM activity WHERE email = ?", emails)
msg_p99 = p99("SELECT * FROM activity WHERE sg_message_id = ?", msgs)
lo, hi = db.execute(f"SELECT min(timestamp), max(timestamp) FROM {rows}").fetchone()
def timed(sql, params):
    t = time.perf_counter(); db.execute(sql, params).fetchall(); return (time.perf_counter() - t) * 1000
first_day = time.strftime("%Y-%m-%d", time.gmtime(lo))
month_ms = timed("SELECT * FROM daily_counts WHERE day BETWEEN ? AND date(?, '+30 days')",
                 (first_day, first_day))
day_ms = timed("SELECT event, count(*) FROM activity WHERE timestamp BETWEEN ? AND ? GROUP BY event",
               (hi - 86400, hi))
print(f"{email_p99:.2f} {msg_p99:.2f} {month_ms:.0f} {day_ms:.0f}")
PY
)
read -r EMAIL_P99 MSG_P99 MONTH_MS DAY_MS <<<"$LOOKUPS"

printf '\n| measure | value |\n|---|---|\n'
printf '| events stored | %s |\n' "$STORED"
printf '| ingest, empty store: acknowledged / into tables (events/s) | %s / %s (p99 %s ms) |\n' "$EMPTY_ACK" "$EMPTY_IN" "$EMPTY_P99"
printf '| ingest at %s events: acknowledged / into tables (events/s) | %s / %s (p99 %s ms) |\n' "$STORED" "$FULL_ACK" "$FULL_IN" "$FULL_P99"
printf '| into tables, full / empty | %s |\n' "$(awk -v a="$FULL_IN" -v b="$EMPTY_IN" 'BEGIN { printf "%.2fx", a / b }')"
printf '| bytes on disk per event (both files, WAL included) | %s |\n' "$(( DISK / STORED ))"
printf '| JSON bytes received per event | %s |\n' "$JSON_PER_EVENT"
printf '| disk / JSON | %s |\n' "$(awk -v a="$DISK" -v s="$STORED" -v j="$JSON_PER_EVENT" 'BEGIN { printf "%.2fx", a / s / j }')"
printf '| all events of one email, p99 | %s ms |\n' "$EMAIL_P99"
printf '| all events of one sg_message_id, p99 | %s ms |\n' "$MSG_P99"
printf '| a month of daily_counts | %s ms |\n' "$MONTH_MS"
printf '| event counts over one day from activity | %s ms |\n' "$DAY_MS"
printf '| daemon peak RSS | %s MiB |\n' "$HWM"
