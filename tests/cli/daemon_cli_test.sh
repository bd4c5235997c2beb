#!/usr/bin/env bash
# End-to-end test of the binary as an operator runs it: --help, --version, a bad config
# (exit 2 with the key), run + POST + SIGTERM during load (exit 0, every 2xx stored), status,
# migrate. Usage: daemon_cli_test.sh PATH_TO_BINARY DATA_DIR
set -uo pipefail
BIN=$1 DATA=$2
WORK=$(mktemp -d /tmp/sgs-cli.XXXXXX)
trap 'kill -9 $PID 2>/dev/null; rm -rf "$WORK"' EXIT
PID=
fail() { echo "FAIL: $*"; [ -f "$WORK/log" ] && tail -20 "$WORK/log"; exit 1; }

"$BIN" --help >"$WORK/help" 2>&1 || fail "--help exited non-zero"
for cmd in run migrate status; do grep -q "$cmd" "$WORK/help" || fail "--help does not list $cmd"; done
"$BIN" run --help >/dev/null 2>&1 || fail "run --help exited non-zero"
"$BIN" --version | grep -q '^sendgrid-source [0-9]' || fail "--version"
"$BIN" frobnicate >/dev/null 2>&1; [ $? -eq 2 ] || fail "unknown command must exit 2"

printf '[server]\nlisten = "127.0.0.1:0"\nbogus = 1\n[[source]]\nname = "Bad Name"\n' >"$WORK/bad.toml"
"$BIN" --config "$WORK/bad.toml" run >"$WORK/out" 2>&1; rc=$?
[ $rc -eq 2 ] || fail "bad config must exit 2, got $rc"
grep -q 'server.bogus' "$WORK/out" || fail "bad config error does not name server.bogus: $(cat "$WORK/out")"
grep -q 'source\[0\].name' "$WORK/out" || fail "bad config error does not name source[0].name: $(cat "$WORK/out")"
"$BIN" --config "$WORK/missing.toml" status >/dev/null 2>&1; [ $? -eq 2 ] || fail "missing --config file must exit 2"

cat >"$WORK/good.toml" <<TOML
[server]
listen = "127.0.0.1:0"
[storage]
dir = "$WORK/data"
[[source]]
name = "shop"
TOML
"$BIN" --config "$WORK/good.toml" migrate | grep -q "shop: .*schema version" || fail "migrate output"
# systemd's notify protocol: a datagram socket standing in for systemd records what we send.
python3 - "$WORK/notify.sock" "$WORK/notify.log" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.settimeout(20)
with open(sys.argv[2], "a") as log:
    try:
        while True:
            log.write(s.recv(4096).decode() + "\n")
            log.flush()
    except socket.timeout:
        pass
PY
NOTIFY_LISTENER=$!
for _ in $(seq 100); do [ -S "$WORK/notify.sock" ] && break; sleep 0.05; done
NOTIFY_SOCKET="$WORK/notify.sock" WATCHDOG_USEC=200000 "$BIN" --config "$WORK/good.toml" run >"$WORK/log" 2>&1 &
PID=$!
PORT=
for _ in $(seq 100); do
  PORT=$(sed -n 's#.*listening: POST http://127.0.0.1:\([0-9]*\)/webhooks/sendgrid/shop.*#\1#p' "$WORK/log")
  [ -n "$PORT" ] && break
  sleep 0.05
done
[ -n "$PORT" ] || fail "daemon did not report its port"
URL=http://127.0.0.1:$PORT/webhooks/sendgrid/shop
code=$(curl -s -o "$WORK/r" -w '%{http_code}' -X POST --data-binary @"$DATA/webhook/all_types.json" "$URL")
[ "$code" = 200 ] || fail "POST answered $code: $(cat "$WORK/r")"
grep -q '"stored":15' "$WORK/r" || fail "POST body: $(cat "$WORK/r")"

# Load from 8 clients, SIGTERM in the middle: every 2xx must be stored, exit 0.
for c in $(seq 8); do
  (
    ok=0
    for i in $(seq 200); do
      body="[{\"email\":\"c$c@x.io\",\"timestamp\":$i,\"event\":\"delivered\",\"sg_event_id\":\"c${c}i$i\"}]"
      code=$(curl -s -o /dev/null -w '%{http_code}' -X POST --data-binary "$body" "$URL" 2>/dev/null)
      [ "$code" = 200 ] && ok=$((ok + 1))
    done
    echo "$ok" >"$WORK/ok.$c"
  ) &
done
# SIGTERM once the load is under way (a slow machine may need longer than a fixed sleep).
for _ in $(seq 200); do
  stored_now=$(curl -s "http://127.0.0.1:$PORT/healthz" | sed -n 's/.*"events_stored":\([0-9]*\).*/\1/p')
  [ "${stored_now:-0}" -ge 60 ] && break
  sleep 0.05
done
kill -TERM $PID
wait $PID; rc=$?
[ $rc -eq 0 ] || fail "SIGTERM exit code $rc"
wait
grep -q "stopped cleanly" "$WORK/log" || fail "no clean stop in the log"
kill $NOTIFY_LISTENER 2>/dev/null
grep -q "READY=1" "$WORK/notify.log" || fail "no READY=1 sent to NOTIFY_SOCKET"
grep -q "WATCHDOG=1" "$WORK/notify.log" || fail "no WATCHDOG=1 sent with WATCHDOG_USEC set"
grep -q "STOPPING=1" "$WORK/notify.log" || fail "no STOPPING=1 sent on SIGTERM"
acked=$(cat "$WORK"/ok.* | awk '{s+=$1} END {print s}')
stored=$(sqlite3 "$WORK/data/shop.db" "SELECT count(*) FROM delivered WHERE email LIKE 'c%@x.io'")
[ "$acked" -gt 0 ] || fail "no POST was acknowledged before SIGTERM"
[ "$stored" -ge "$acked" ] || fail "acknowledged $acked events but only $stored stored"
[ "$(sqlite3 "$WORK/data/shop.db" 'SELECT count(*) FROM pending_bodies')" = 0 ] || fail "pending bodies left after clean stop"
[ "$(sqlite3 "$WORK/data/shop.pending.db" 'SELECT count(*) FROM pending_bodies')" = 0 ] || fail "pending file not emptied by a clean stop"

"$BIN" --config "$WORK/good.toml" status >"$WORK/status" || fail "status exit code"
grep -q "events stored" "$WORK/status" || fail "status output: $(cat "$WORK/status")"
grep -q "_open  *1" "$WORK/status" || fail "status counts: $(cat "$WORK/status")"
"$BIN" --config "$WORK/good.toml" status --source nope >/dev/null 2>&1; [ $? -eq 2 ] || fail "status --source nope must exit 2"
# run with an API key: the scheduler syncs at start (never synced before) from a fake
# SendGrid export API on 127.0.0.1, while the webhook keeps answering.
ROOT=$(cd "$DATA/../.." && pwd)
python3 "$ROOT/bench/fake_export_server.py" --contacts 1000 --files 2 --cache "$WORK/cache" \
  --port-file "$WORK/fake_port" >"$WORK/fake.log" 2>&1 &
FAKE=$!
for _ in $(seq 100); do [ -s "$WORK/fake_port" ] && break; sleep 0.05; done
FPORT=$(cat "$WORK/fake_port" 2>/dev/null)
[ -n "$FPORT" ] || fail "fake export server did not start: $(cat "$WORK/fake.log")"
cat >"$WORK/sync.toml" <<TOML
[server]
listen = "127.0.0.1:0"
[storage]
dir = "$WORK/data"
[[source]]
name = "crm"
api_key = "SG.test-key"
api_base = "http://127.0.0.1:$FPORT"
collections = ["recipients"]
sync_interval = "1h"
TOML
"$BIN" --config "$WORK/sync.toml" run >"$WORK/log" 2>&1 &
PID=$!
for _ in $(seq 300); do grep -q "collection=recipients status=" "$WORK/log" && break; sleep 0.1; done
grep -q "sync source=crm collection=recipients status=succeeded" "$WORK/log" || { kill $FAKE; fail "scheduled sync did not succeed"; }
grep -q "SG.test-key" "$WORK/log" && { kill $FAKE; fail "the API key appears in the log"; }
kill -TERM $PID; wait $PID; rc=$?
kill $FAKE 2>/dev/null
[ $rc -eq 0 ] || fail "SIGTERM exit code $rc after a sync"
contacts=$(sqlite3 "$WORK/data/crm.db" "SELECT count(*) FROM recipients")
[ "$contacts" = 1000 ] || fail "expected 1000 synced contacts, got $contacts"
"$BIN" --config "$WORK/sync.toml" status >"$WORK/status2" || fail "status after sync"
grep -Eq "recipients +succeeded .* 1000 " "$WORK/status2" || fail "status does not show the sync run: $(cat "$WORK/status2")"

echo "daemon CLI test passed: acked=$acked stored=$stored contacts=$contacts"
