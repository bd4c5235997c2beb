#!/usr/bin/env bash
# What each part of the PostgreSQL write costs PostgreSQL, per event, measured in isolation: rows
# the daemon wrote (40 x 1000-event POSTs of ../shared/bench/gen_events.py) are copied out, then
# COPY'd into fresh tables with and without each index, with raw as jsonb/json/text, and the
# dedup keys are inserted the ways the store could (best of 3 each, wall clock: compare the
# lines with each other, on a quiet machine). Decides docs/SCALE.md's "Work per event".
# Usage: bench/pg_write_parts.sh [BUILD_DIR]   (runs under scripts/with-postgres.sh itself)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
if [ -z "${SGS_TEST_PG_URL:-}" ]; then exec "$HERE/../scripts/with-postgres.sh" "$0" "$@"; fi
BUILD=${1:-$HERE/../build}
BIN=$(cd "$BUILD" && pwd)/daemon/sendgrid-source
SHARED=${SHARED_BENCH:-/work/shared/bench}
W=$(mktemp -d /tmp/sgs-pg-parts.XXXXXX)
chmod 777 "$W"  # the server writes the copies (it may run as another user)
RP=
cleanup() { [ -z "$RP" ] || kill "$RP" 2>/dev/null || true; rm -rf "$W"; }
trap cleanup EXIT
sql() { PGOPTIONS="-c client_min_messages=warning" psql "$SGS_TEST_PG_URL" -AtX -v ON_ERROR_STOP=1 -c "$1"; }
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
printf '[server]\nlisten = "127.0.0.1:%s"\n[storage]\nbackend = "postgresql"\nurl = "%s"\n[log]\nlevel = "warn"\n[[source]]\nname = "parts"\n' "$port" "$SGS_TEST_PG_URL" >"$W/r.toml"
sql "DROP SCHEMA IF EXISTS parts CASCADE"
"$BIN" --config "$W/r.toml" migrate >/dev/null
"$BIN" --config "$W/r.toml" run 2>"$W/r.log" &
RP=$!
for _ in $(seq 300); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
curl -sf "http://127.0.0.1:$port/healthz" >/dev/null || { echo "the receiver did not start:" >&2; cat "$W/r.log" >&2; exit 1; }
python3 "$SHARED/gen_events.py" --seed 5 --events-per-batch 1000 --batches 40 --out "$W/b" >/dev/null
for f in "$W"/b/batch_*.json; do
  curl -sf -o /dev/null -H 'Content-Type: application/json' --data-binary "@$f" "http://127.0.0.1:$port/webhooks/sendgrid/parts"
done
kill "$RP"; wait "$RP" 2>/dev/null || true; RP=
cols=$(sql "SELECT string_agg(column_name, ', ' ORDER BY ordinal_position) FROM information_schema.columns WHERE table_schema = 'parts' AND table_name = 'delivered'")
rows=$(sql "SELECT string_agg('SELECT $cols FROM parts.' || c.relname, ' UNION ALL ') FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'parts' AND c.relkind = 'p' AND c.relname NOT IN ('other_events', 'rejected_events')")
sql "COPY ($rows) TO '$W/rows.copy'"
sql "COPY (SELECT k FROM parts.event_keys) TO '$W/keys.copy'"
events=$(wc -l <"$W/rows.copy")
echo "# $events events ($(( $(wc -c <"$W/rows.copy") / events )) bytes each as COPY text), $(wc -l <"$W/keys.copy") keys; load $(cut -d' ' -f1 /proc/loadavg); commit $(git -C "$HERE" rev-parse --short HEAD 2>/dev/null || echo '?')"

best_of_3() {  # SETUP STATEMENT -> microseconds per event
  local best=999999999 t0 us
  for _ in 1 2 3; do
    sql "$1" >/dev/null
    t0=$(date +%s%N)
    sql "$2" >/dev/null
    us=$(( ($(date +%s%N) - t0) / 1000 ))
    [ "$us" -lt "$best" ] && best=$us
  done
  awk -v us="$best" -v n="$events" 'BEGIN { printf "%.1f", us / n }'
}
table() { echo "DROP TABLE IF EXISTS t; CREATE TABLE t (LIKE parts.delivered INCLUDING DEFAULTS); $1"; }
row() { echo "$1: $(best_of_3 "$(table "$2")" "COPY t FROM '$W/rows.copy'") us/event"; }
row "rows, raw jsonb, no index" ""
row "rows, raw json, no index" "ALTER TABLE t ALTER raw TYPE json"
row "rows, raw text, no index" "ALTER TABLE t ALTER raw TYPE text"
idx3="CREATE INDEX ON t (email); CREATE INDEX ON t (sg_message_id); CREATE INDEX ON t (timestamp);"
row "rows + the 4 indexes (as the store)" "$idx3 CREATE INDEX ON t (received_at)"
row "rows + 3 indexes (no received_at)" "$idx3"
row "rows + the 4 indexes, email and sg_message_id COLLATE \"C\"" "ALTER TABLE t ALTER email TYPE text COLLATE \"C\", ALTER sg_message_id TYPE text COLLATE \"C\"; $idx3 CREATE INDEX ON t (received_at)"
row "rows + the 4 indexes, email and sg_message_id as hash indexes" "CREATE INDEX ON t USING hash (email); CREATE INDEX ON t USING hash (sg_message_id); CREATE INDEX ON t (timestamp); CREATE INDEX ON t (received_at)"
keys_setup="DROP TABLE IF EXISTS k; CREATE TABLE k (k uuid PRIMARY KEY, seen_at timestamptz NOT NULL DEFAULT now()); CREATE INDEX ON k USING brin (seen_at); INSERT INTO k (k) SELECT gen_random_uuid() FROM generate_series(1, 400000); DROP TABLE IF EXISTS kk; CREATE TABLE kk AS SELECT k FROM (SELECT NULL::uuid AS k) x WHERE false; COPY kk FROM '$W/keys.copy'; DROP TABLE IF EXISTS ks; CREATE TABLE ks AS SELECT k FROM kk ORDER BY k; CHECKPOINT"
measure() { echo "$2: $(best_of_3 "$1" "$3") us/event"; }  # SETUP LABEL STATEMENT
keys() { measure "$keys_setup" "$@"; }
keys "keys, DISTINCT + ORDER BY + ON CONFLICT RETURNING (before)" "INSERT INTO k (k) SELECT DISTINCT k FROM kk ORDER BY k ON CONFLICT DO NOTHING RETURNING k"
keys "keys, sorted by the receiver, ON CONFLICT RETURNING (now)" "INSERT INTO k (k) SELECT k FROM ks ON CONFLICT DO NOTHING RETURNING k"
keys "keys, probe (= ANY) only" "SELECT count(*) FROM k WHERE k = ANY(ARRAY(SELECT k FROM ks))"
keys "keys, sorted plain INSERT (no conflict check)" "INSERT INTO k (k) SELECT k FROM ks"
keys "keys, sorted plain INSERT from a uuid[] parameter" "INSERT INTO k (k) SELECT unnest(ARRAY(SELECT k FROM ks))"
keys "keys, plain COPY (no conflict check)" "COPY k (k) FROM '$W/keys.copy'"
pairs_setup="$keys_setup; DROP TABLE IF EXISTS kp; CREATE TABLE kp (fp uuid PRIMARY KEY, id uuid UNIQUE, seen_at timestamptz NOT NULL DEFAULT now()); INSERT INTO kp (fp, id) SELECT gen_random_uuid(), gen_random_uuid() FROM generate_series(1, 200000); DROP TABLE IF EXISTS kps; CREATE TABLE kps AS SELECT a.k AS fp, b.k AS id FROM (SELECT k, row_number() OVER () AS n FROM ks) a JOIN (SELECT k, row_number() OVER () AS n FROM ks) b ON b.n = a.n + 1 WHERE a.n % 2 = 1 ORDER BY a.k; CHECKPOINT"
pairs() { measure "$pairs_setup" "$@"; }
pairs "key pairs (fp PRIMARY KEY, id UNIQUE), one row per event, ON CONFLICT RETURNING" "INSERT INTO kp (fp, id) SELECT fp, id FROM kps ON CONFLICT DO NOTHING RETURNING fp"
pairs "key pairs, one row per event, plain INSERT" "INSERT INTO kp (fp, id) SELECT fp, id FROM kps"
sql "DROP TABLE IF EXISTS t, k, kk, ks, kp, kps; DROP SCHEMA parts CASCADE"
