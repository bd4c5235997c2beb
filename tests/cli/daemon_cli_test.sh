#!/usr/bin/env bash
# End-to-end test of the binary as an operator runs it: --help, --version, a bad config
# (exit 2 with the key), run + POST + SIGTERM during load (exit 0, every 2xx stored), status,
# migrate, SIGHUP reloads (new verification key, refused bad config, restart-only keys), a
# second SIGTERM exiting at once. Usage: daemon_cli_test.sh PATH_TO_BINARY DATA_DIR
set -uo pipefail
BIN=$1 DATA=$2
WORK=$(mktemp -d /tmp/sgs-cli.XXXXXX)
trap 'kill -9 $PID $SLOW 2>/dev/null; rm -rf "$WORK"' EXIT
PID= SLOW=
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
# Global options after the subcommand as well as before (issue 13), for every subcommand: the
# config named after it is the one used (a source 'shop' without an API key).
"$BIN" run --config "$WORK/bad.toml" >"$WORK/out" 2>&1; rc=$?
[ $rc -eq 2 ] || fail "run --config BAD must exit 2, got $rc: $(cat "$WORK/out")"
grep -q 'server.bogus' "$WORK/out" || fail "run --config BAD did not read that file: $(cat "$WORK/out")"
"$BIN" status --config "$WORK/missing.toml" >/dev/null 2>&1; [ $? -eq 2 ] || fail "status --config MISSING must exit 2"
"$BIN" migrate --config "$WORK/good.toml" | grep -q "shop: .*schema version" || fail "migrate --config"
"$BIN" status --config "$WORK/good.toml" >"$WORK/out" 2>&1 || fail "status --config: $(cat "$WORK/out")"
grep -q "config: $WORK/good.toml" "$WORK/out" || fail "status --config did not use it: $(cat "$WORK/out")"
"$BIN" status --source shop --config "$WORK/good.toml" >/dev/null 2>&1 || fail "status --source shop --config"
"$BIN" check --config "$WORK/good.toml" >"$WORK/out" 2>&1 || fail "check --config: $(cat "$WORK/out")"
grep -q "source shop" "$WORK/out" || fail "check --config did not use it: $(cat "$WORK/out")"
"$BIN" sync --source shop --config "$WORK/good.toml" >"$WORK/out" 2>&1; rc=$?
[ $rc -eq 2 ] && grep -q "source 'shop' has no API key" "$WORK/out" || fail "sync --config: $rc $(cat "$WORK/out")"
for order in "webhook configure --source shop --config $WORK/good.toml" \
             "webhook --config $WORK/good.toml configure --source shop" \
             "--config $WORK/good.toml webhook configure --source shop"; do
  # shellcheck disable=SC2086
  "$BIN" $order --url https://events.example.com/webhooks/sendgrid/shop >"$WORK/out" 2>&1; rc=$?
  [ $rc -eq 2 ] && grep -q "source 'shop' has no API key" "$WORK/out" || fail "$order: $rc $(cat "$WORK/out")"
done
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
grep -Eq "recipients +succeeded .* 1000 +[0-9]+ +20[0-9][0-9]-[0-9][0-9]-[0-9][0-9]T" "$WORK/status2" || fail "status does not show the last success: $(cat "$WORK/status2")"


# SIGHUP: a new webhook verification key is taken live, the old one is refused; an invalid
# config is refused and the daemon keeps its old one; restart-only keys are reported.
for k in a b; do
  openssl ecparam -name prime256v1 -genkey -noout -out "$WORK/$k.pem" 2>/dev/null || fail "openssl ecparam"
  openssl ec -in "$WORK/$k.pem" -pubout -outform DER 2>/dev/null | base64 -w0 >"$WORK/$k.pub"
done
reload_config() {  # KEY_FILE [LISTEN]
  cat >"$WORK/reload.toml" <<TOML
[server]
listen = "${2:-127.0.0.1:0}"
body_timeout_seconds = 20
[storage]
dir = "$WORK/data"
[[source]]
name = "shop"
webhook_verification_key = "$(cat "$1")"
TOML
}
printf '[{"email":"hup@example.com","timestamp":1700000000,"event":"delivered","sg_event_id":"hup-%s"}]' 1 >"$WORK/hup.json"
post_signed() {  # PEM -> HTTP status of a POST signed with that key
  local ts sig
  ts=$(date +%s)
  sig=$({ printf '%s' "$ts"; cat "$WORK/hup.json"; } | openssl dgst -sha256 -sign "$WORK/$1.pem" | base64 -w0)
  curl -s -o /dev/null -w '%{http_code}' -X POST --data-binary @"$WORK/hup.json" \
    -H "X-Twilio-Email-Event-Webhook-Signature: $sig" -H "X-Twilio-Email-Event-Webhook-Timestamp: $ts" \
    "http://127.0.0.1:$PORT/webhooks/sendgrid/shop"
}
wait_log() {  # PATTERN: up to 10 s
  for _ in $(seq 200); do grep -q "$1" "$WORK/log" && return 0; sleep 0.05; done
  return 1
}
reload_config "$WORK/a.pub"
"$BIN" --config "$WORK/reload.toml" run >"$WORK/log" 2>&1 &
PID=$!
PORT=
for _ in $(seq 100); do
  PORT=$(sed -n 's#.*listening: POST http://127.0.0.1:\([0-9]*\)/webhooks/sendgrid/shop.*#\1#p' "$WORK/log")
  [ -n "$PORT" ] && break
  sleep 0.05
done
[ -n "$PORT" ] || fail "daemon did not report its port"
[ "$(post_signed a)" = 200 ] || fail "post signed with key a refused before the reload"
[ "$(post_signed b)" = 403 ] || fail "post signed with key b accepted before the reload"
reload_config "$WORK/b.pub"
kill -HUP $PID
wait_log "reloaded $WORK/reload.toml" || fail "no reload logged after SIGHUP"
grep -q "webhook authentication replaced source=shop verification_keys=1" "$WORK/log" || fail "reload did not replace the key"
[ "$(post_signed b)" = 200 ] || fail "post signed with the new key b refused after the reload"
[ "$(post_signed a)" = 403 ] || fail "post signed with the old key a accepted after the reload"
printf '[server]\nlisten = "127.0.0.1:0"\nbogus = 1\n' >"$WORK/reload.toml"
kill -HUP $PID
wait_log "reload refused" || fail "an invalid config on SIGHUP was not refused"
grep -q "server.bogus" "$WORK/log" || fail "the refused reload does not name the bad key"
kill -0 $PID 2>/dev/null || fail "the daemon died on a bad config reload"
[ "$(post_signed b)" = 200 ] || fail "after a refused reload the running key b no longer works"
reload_config "$WORK/b.pub" "127.0.0.1:1"
kill -HUP $PID
wait_log "key=server.listen" || fail "a changed listen address was not reported as needing a restart"
grep -q "needs a restart" "$WORK/log" || fail "no 'needs a restart' in the log"
[ "$(post_signed b)" = 200 ] || fail "the daemon stopped listening on its port after a restart-only change"

# A second SIGTERM exits at once (exit 1) while the first is still draining: a client that
# sent its headers and part of its body keeps the first one waiting (body_timeout 20 s).
python3 - "$PORT" "$WORK/slow.sent" <<'PY' &
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"POST /webhooks/sendgrid/shop HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n[{")
open(sys.argv[2], "w").close()
time.sleep(30)
PY
SLOW=$!
for _ in $(seq 200); do [ -e "$WORK/slow.sent" ] && break; sleep 0.05; done
[ -e "$WORK/slow.sent" ] || fail "the slow client did not connect"
sleep 0.5  # the daemon reads the headers: the request is now in flight
kill -TERM $PID
sleep 1
kill -0 $PID 2>/dev/null || fail "the first SIGTERM did not wait for the request in flight"
grep -q "a second signal exits at once" "$WORK/log" || fail "the first SIGTERM was not logged"
started=$(date +%s%N)
kill -TERM $PID
wait $PID; rc=$?
elapsed_ms=$(( ($(date +%s%N) - started) / 1000000 ))
kill $SLOW 2>/dev/null
[ $rc -eq 1 ] || fail "second SIGTERM: exit code $rc, expected 1"
[ $elapsed_ms -lt 3000 ] || fail "second SIGTERM took $elapsed_ms ms to exit"
grep -q "second signal: exiting at once" "$WORK/log" || fail "the second SIGTERM said nothing"
PID=

# log.format = "json": every line on stderr is one JSON object (for log shippers), with the
# structured fields as keys. JOURNAL_STREAM naming another stream than stderr is ignored.
reload_config "$WORK/b.pub"
printf '[log]\nformat = "json"\n' >>"$WORK/reload.toml"
JOURNAL_STREAM=1:1 "$BIN" run --config "$WORK/reload.toml" >"$WORK/log" 2>&1 &
PID=$!
wait_log '"msg":"listening: POST' || fail "no JSON listening line"
PORT=$(sed -n 's#.*listening: POST http://127.0.0.1:\([0-9]*\)/webhooks/sendgrid/shop.*#\1#p' "$WORK/log")
[ "$(post_signed a)" = 403 ] || fail "post signed with key a accepted"
wait_log '"msg":"webhook request refused"' || fail "no JSON line for the refused request"
kill -TERM $PID; wait $PID; rc=$?
[ $rc -eq 0 ] || fail "SIGTERM exit code $rc with JSON logs"
python3 - "$WORK/log" <<'PY' || fail "log.format=json wrote a line that is not a JSON object"
import json, sys
lines = open(sys.argv[1]).read().splitlines()
assert lines, "no log lines"
for line in lines:
    obj = json.loads(line)
    assert {"time", "level", "msg"} <= obj.keys(), line
refused = [json.loads(l) for l in lines if '"webhook request refused"' in l]
assert refused and refused[0]["source"] == "shop" and refused[0]["status"] == 403, refused
PY
PID=

echo "daemon CLI test passed: acked=$acked stored=$stored contacts=$contacts second_sigterm_ms=$elapsed_ms"
