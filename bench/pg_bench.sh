#!/usr/bin/env bash
# Issue 17's benchmark: receivers on 127.0.0.1 writing one local PostgreSQL (the throwaway
# server of scripts/with-postgres.sh, fsync and synchronous_commit on). For 1000- and 50-event
# POSTs, 16 connections, DURATION (default 30s) each: two receivers behind HAProxy (round
# robin), then one receiver alone. Prints events/s acknowledged (2xx x events per POST) and
# in the tables (rows counted after the run, which must equal the 2xx events: -m unique
# makes every event new), and p99. Then the SPEC §6 lookups on a PostgreSQL store of
# LOOKUP_EVENTS (default 10 million) events made with generate_series.
# Usage: bench/pg_bench.sh [BUILD_DIR]   (SHARED_BENCH: the shared wrk tools; DURATION;
# LOOKUP_EVENTS=0 skips the lookups, INGEST=0 the ingest runs; SIZES="1000 50" and
# RECEIVERS="2 1" choose the runs; RECEIVER_ENV="NAME=value ..." is set for the receivers;
# GEN_ARGS are more arguments for gen_events.py, e.g. --with-account-status; SEED its seed)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
if [ -z "${SGS_TEST_PG_URL:-}" ]; then exec "$HERE/../scripts/with-postgres.sh" "$0" "$@"; fi
BUILD=${1:-$HERE/../build}
BIN=$(cd "$BUILD" && pwd)/daemon/sendgrid-source
SHARED=${SHARED_BENCH:-/work/shared/bench}
DURATION=${DURATION:-30s}
LOOKUP_EVENTS=${LOOKUP_EVENTS:-10000000}
command -v haproxy >/dev/null || { echo "haproxy not found (scripts/install-deps.sh)" >&2; exit 2; }
WORK=$(mktemp -d /tmp/sgs-pg-bench.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
sql() { PGOPTIONS="-c client_min_messages=warning" psql "$SGS_TEST_PG_URL" -AtX -v ON_ERROR_STOP=1 -c "$1"; }

echo "# machine: $(nproc) cores, $(grep MemTotal /proc/meminfo | awk '{print int($2/1048576)}') GiB; $(sql 'SELECT version()' | cut -d, -f1); HAProxy $(haproxy -v | head -1 | awk '{print $3}'); commit $(git -C "$HERE" rev-parse --short HEAD 2>/dev/null || echo '?')"
for size in 1000 50; do
  python3 "$SHARED/gen_events.py" --seed "${SEED:-17}" --events-per-batch "$size" --batches 100 ${GEN_ARGS:-} --out "$WORK/b$size" >/dev/null
done

start_receiver() {  # source port -> pid
  cat >"$WORK/r$2.toml" <<TOML
[server]
listen = "127.0.0.1:$2"
max_connections = 4096
[storage]
backend = "postgresql"
url = "$SGS_TEST_PG_URL"
[log]
level = "warn"
[[source]]
name = "$1"
TOML
  env ${RECEIVER_ENV:-} "$BIN" --config "$WORK/r$2.toml" run 2>"$WORK/r$2.log" &
  PIDS+=($!)
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$2/healthz" >/dev/null && return; sleep 0.1; done
  echo "receiver on $2 did not start:" >&2; cat "$WORK/r$2.log" >&2; exit 1
}

# CPU seconds (user + system) used so far by the processes given, and by every process of this
# PostgreSQL server (the postmaster's children: backends, WAL writer, checkpointer, ...).
POSTMASTER=$(head -1 "$(sql 'SHOW data_directory')/postmaster.pid")
cpu_seconds() {  # PID... -> "receivers_seconds postgres_seconds"
  python3 - "$POSTMASTER" "$@" <<'PY'
import os, sys
tick = os.sysconf("SC_CLK_TCK")
def stat(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            s = f.read().rsplit(")", 1)[1].split()
        return int(s[1]), (int(s[11]) + int(s[12])) / tick  # ppid, utime + stime
    except OSError:
        return None, 0.0
postmaster = sys.argv[1]
pg = stat(postmaster)[1] + sum(t for p in os.listdir("/proc") if p.isdigit()
                                for pp, t in [stat(p)] if pp == int(postmaster))
print(f"{sum(stat(p)[1] for p in sys.argv[2:]):.2f} {pg:.2f}")
PY
}

# run RECEIVERS SIZE: one measured window; prints a result line.
run() {
  local receivers=$1 size=$2 source="bench_${1}r_$2" ports=() url out ok2xx rows p99 acked port
  sql "DROP SCHEMA IF EXISTS $source CASCADE" >/dev/null
  "$BIN" --config <(printf '[storage]\nbackend = "postgresql"\nurl = "%s"\n[[source]]\nname = "%s"\n' "$SGS_TEST_PG_URL" "$source") migrate >/dev/null
  local first=${#PIDS[@]} wal0
  wal0=$(sql "SELECT pg_current_wal_lsn() - '0/0'")
  local fpi0; fpi0=$(sql "SELECT wal_fpi FROM pg_stat_wal")
  for _ in $(seq "$receivers"); do port=$(free_port); ports+=("$port"); start_receiver "$source" "$port"; done
  if [ "$receivers" -gt 1 ]; then
    local front; front=$(free_port)
    { printf 'global\n  maxconn 4096\ndefaults\n  mode http\n  timeout connect 5s\n  timeout client 60s\n  timeout server 60s\n  option http-keep-alive\n'
      printf 'frontend webhooks\n  bind 127.0.0.1:%s\n  default_backend receivers\nbackend receivers\n  balance roundrobin\n' "$front"
      for p in "${ports[@]}"; do printf '  server r%s 127.0.0.1:%s check\n' "$p" "$p"; done; } >"$WORK/haproxy.cfg"
    haproxy -f "$WORK/haproxy.cfg" -db >"$WORK/haproxy.log" 2>&1 &
    PIDS+=($!)
    sleep 0.5
    url="http://127.0.0.1:$front/webhooks/sendgrid/$source"
  else
    url="http://127.0.0.1:${ports[0]}/webhooks/sendgrid/$source"
  fi
  local cpu0 cpu1
  cpu0=$(cpu_seconds "${PIDS[@]:$first:$receivers}")
  out=$("$SHARED/run_webhook_bench.sh" -c 16 -d "$DURATION" -m unique "$url" "$WORK/b$size" 2>&1)
  cpu1=$(cpu_seconds "${PIDS[@]:$first:$receivers}")
  local hwm=""
  for p in "${PIDS[@]:$first:$receivers}"; do hwm+="${hwm:+,}$(awk '/VmHWM/ {print int($2/1024)}' "/proc/$p/status")"; done
  for p in "${PIDS[@]:$first}"; do kill -TERM "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  PIDS=("${PIDS[@]:0:$first}")
  ok2xx=$(echo "$out" | sed -n 's/^ok_2xx=\([0-9]*\).*/\1/p')
  acked=$(echo "$out" | sed -n 's/^events_per_s=//p')
  p99=$(echo "$out" | sed -n 's/.*p99=\([0-9.]*\).*/\1/p' | tail -1)
  [ -n "$p99" ] || p99=$(echo "$out" | awk '$1 == "99%" {print $2}' | tail -1)
  rows=$(sql "SELECT (SELECT count(*) FROM $source.activity) + (SELECT count(*) FROM $source.rejected_events)")
  local secs=${DURATION%s} wal1 check
  wal1=$(sql "SELECT pg_current_wal_lsn() - '0/0'")
  local fpi1; fpi1=$(sql "SELECT wal_fpi FROM pg_stat_wal")
  local disk keys_disk
  disk=$(sql "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = '$source' AND c.relkind = 'r'")
  keys_disk=$(sql "SELECT pg_total_relation_size('$source.event_keys')")
  # wrk stops counting at the end of the window while up to one POST per connection is still
  # being committed: those rows are stored but their 2xx is not counted. So the rows must be
  # at least the 2xx events and at most 16 POSTs more.
  if [ "$rows" -ge $(( ok2xx * size )) ] && [ "$rows" -le $(( (ok2xx + 16) * size )) ]; then check=ok; else check=MISMATCH; fi
  echo "receivers=$receivers events_per_post=$size load=$(cut -d' ' -f1 /proc/loadavg) acked_events_per_s=$acked in_tables_events_per_s=$(( rows / secs )) p99=$p99 ok_2xx=$ok2xx non_2xx=$(echo "$out" | sed -n 's/.*non_2xx=\([0-9]*\).*/\1/p' | tail -1) rows=$rows rows_vs_2xx=$check wal_bytes_per_event=$(( (wal1 - wal0) / (rows > 0 ? rows : 1) )) full_page_images_per_1000_events=$(( (fpi1 - fpi0) * 1000 / (rows > 0 ? rows : 1) )) disk_bytes_per_event=$(( disk / (rows > 0 ? rows : 1) )) of_which_keys=$(( keys_disk / (rows > 0 ? rows : 1) )) $(echo "$cpu0 $cpu1 $rows" | awk '{n = $5 > 0 ? $5 : 1; printf "cpu_us_per_event: receivers=%.1f postgres=%.1f (not haproxy, wrk)", ($3 - $1) * 1e6 / n, ($4 - $2) * 1e6 / n}') receiver_peak_rss_mb=$hwm"
  sql "DROP SCHEMA $source CASCADE" >/dev/null
}

if [ "${INGEST:-1}" = 1 ]; then
  for size in ${SIZES:-1000 50}; do
    for receivers in ${RECEIVERS:-2 1}; do run "$receivers" "$size"; done
  done
fi

[ "$LOOKUP_EVENTS" -gt 0 ] || exit 0
echo "# lookups on a store of $LOOKUP_EVENTS events (one month of delivered/open/click/processed, generate_series)"
source=bench_lookups
sql "DROP SCHEMA IF EXISTS $source CASCADE" >/dev/null
"$BIN" --config <(printf '[storage]\nbackend = "postgresql"\nurl = "%s"\n[[source]]\nname = "%s"\n' "$SGS_TEST_PG_URL" "$source") migrate >/dev/null
t0=$(date +%s)
for table in delivered _open click processed; do
  sql "INSERT INTO $source.$table (sg_event_id, sg_message_id, email, timestamp, raw, received_at)
       SELECT md5(random()::text || g), 'msg' || (g / 3) || '.filter', 'user' || (g % 500000) || '@example.com',
              1764547200 + (g % 2592000), jsonb_build_object('n', g), now()
       FROM generate_series(1, $LOOKUP_EVENTS / 4) g" >/dev/null
done
sql "VACUUM ANALYZE" >/dev/null  # autovacuum would: index-only scans need the visibility map
# The load leaves ~2.5 GB of dirty buffers: without this, the checkpoint that writes them runs
# during the first lookups and puts its I/O into their p99 (measured: 46 ms instead of ~8).
sql "CHECKPOINT" >/dev/null
echo "# loaded in $(( $(date +%s) - t0 )) s; $(sql "SELECT pg_size_pretty(sum(pg_total_relation_size(c.oid))) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = '$source' AND c.relkind = 'r'")"
python3 - "$SGS_TEST_PG_URL" "$source" <<'PY'
import random, subprocess, sys, time
url, schema = sys.argv[1], sys.argv[2]
def timed(sql, n):
    # One psql session per query set; \timing gives server round-trip times.
    script = f"SET search_path TO {schema};\n\\timing on\n" + "\n".join(sql(i) for i in range(n))
    out = subprocess.run(["psql", url, "-AtXq", "-c", "SELECT 1", "-f", "-"], input=script,
                         capture_output=True, text=True).stdout
    t = sorted(float(l.split()[1]) for l in out.splitlines() if l.startswith("Time:"))
    return t[len(t) // 2], t[min(len(t) - 1, int(len(t) * 0.99))]
r = random.Random(1)
emails = [f"user{r.randrange(500000)}@example.com" for _ in range(200)]
msgs = [f"msg{r.randrange(3000000)}.filter" for _ in range(200)]
p50, p99 = timed(lambda i: f"SELECT count(*) FROM activity WHERE email = '{emails[i]}';", 200)
print(f"email lookup (activity): p50={p50:.2f}ms p99={p99:.2f}ms")
p50, p99 = timed(lambda i: f"SELECT count(*) FROM activity WHERE sg_message_id = '{msgs[i]}';", 200)
print(f"sg_message_id lookup (activity): p50={p50:.2f}ms p99={p99:.2f}ms")
# As an application asks: a prepared statement (planning a query over 13 partitioned tables
# is a good part of the ad-hoc time above).
def prepared(name, sql, keys):
    head = f"PREPARE {name}(text) AS {sql};\n"
    return lambda i: (head if i == 0 else "") + f"EXECUTE {name}('{keys[i]}');"
p50, p99 = timed(prepared("e", "SELECT count(*) FROM activity WHERE email = $1", emails), 200)
print(f"email lookup, prepared: p50={p50:.2f}ms p99={p99:.2f}ms")
p50, p99 = timed(prepared("m", "SELECT count(*) FROM activity WHERE sg_message_id = $1", msgs), 200)
print(f"sg_message_id lookup, prepared: p50={p50:.2f}ms p99={p99:.2f}ms")
p50, p99 = timed(lambda i: "SELECT day, event, events FROM daily_counts WHERE day >= '2025-12-01' AND day < '2026-01-01' ORDER BY 1, 2;", 3)
print(f"daily_counts, one month: median={p50:.0f}ms worst={p99:.0f}ms")
PY
sql "DROP SCHEMA $source CASCADE" >/dev/null
