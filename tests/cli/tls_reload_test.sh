#!/usr/bin/env bash
# The binary with HTTPS: a TLS file that does not load exits 2 naming it; curl fetches an
# OAuth token and posts with it over HTTPS, as SendGrid does; SIGHUP after a renewal serves
# the new certificate, and a bad one keeps the old.
# Usage: tls_reload_test.sh PATH_TO_BINARY DATA_DIR
set -uo pipefail
BIN=$1 DATA=$2
WORK=$(mktemp -d /tmp/sgs-tls.XXXXXX)
trap 'kill -9 $PID 2>/dev/null; rm -rf "$WORK"' EXIT
PID=
fail() { echo "FAIL: $*"; [ -f "$WORK/log" ] && tail -20 "$WORK/log"; exit 1; }
command -v openssl >/dev/null || { echo "SKIP: no openssl command"; exit 77; }

# A self-signed P-256 certificate for 127.0.0.1 into $1.crt / $1.key.
make_cert() {
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
    -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
    -keyout "$1.key" -out "$1.crt" 2>/dev/null || fail "openssl req"
}
fingerprint() { openssl x509 -in "$1" -noout -fingerprint -sha256 | cut -d= -f2; }
served_fingerprint() {
  openssl s_client -connect "127.0.0.1:$PORT" </dev/null 2>/dev/null |
    openssl x509 -noout -fingerprint -sha256 | cut -d= -f2
}

make_cert "$WORK/first"
make_cert "$WORK/second"
cp "$WORK/first.crt" "$WORK/live.crt"
cp "$WORK/first.key" "$WORK/live.key"
chmod 600 "$WORK/live.key"

config() {
  cat <<TOML
[server]
listen = "127.0.0.1:0"
tls_cert_file = "$1"
tls_key_file = "$WORK/live.key"
[storage]
dir = "$WORK/data"
[[source]]
name = "shop"
webhook_oauth_client_id = "shop-client"
webhook_oauth_client_secret_file = "$WORK/oauth_secret"
TOML
}
printf 'oauth-s3cret\n' >"$WORK/oauth_secret"
chmod 600 "$WORK/oauth_secret"

config "$WORK/missing.crt" >"$WORK/missing.toml"
"$BIN" --config "$WORK/missing.toml" run >"$WORK/out" 2>&1; rc=$?
[ $rc -eq 2 ] || fail "a missing certificate must exit 2, got $rc"
grep -q "server.tls_cert_file: .*$WORK/missing.crt" "$WORK/out" || fail "error: $(cat "$WORK/out")"

config "$WORK/live.crt" >"$WORK/good.toml"
"$BIN" --config "$WORK/good.toml" run >"$WORK/log" 2>&1 &
PID=$!
PORT=
for _ in $(seq 100); do
  PORT=$(sed -n 's#.*listening: POST https://127.0.0.1:\([0-9]*\)/webhooks/sendgrid/shop.*#\1#p' "$WORK/log")
  [ -n "$PORT" ] && break
  sleep 0.05
done
[ -n "$PORT" ] || fail "daemon did not report an https port"
URL=https://127.0.0.1:$PORT/webhooks/sendgrid/shop
code=$(curl -s --cacert "$WORK/first.crt" -o "$WORK/r" -w '%{http_code}' -X POST \
  --data-binary @"$DATA/webhook/all_types.json" "$URL")
[ "$code" = 401 ] || fail "POST without a bearer token answered $code: $(cat "$WORK/r")"
curl -s --cacert "$WORK/first.crt" -o "$WORK/token" -u shop-client:oauth-s3cret \
  -d grant_type=client_credentials "https://127.0.0.1:$PORT/oauth/token/shop"
TOKEN=$(sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p' "$WORK/token")
[ -n "$TOKEN" ] || fail "no access token: $(cat "$WORK/token")"
code=$(curl -s --cacert "$WORK/first.crt" -o "$WORK/r" -w '%{http_code}' -X POST \
  -H "Authorization: Bearer $TOKEN" --data-binary @"$DATA/webhook/all_types.json" "$URL")
[ "$code" = 200 ] || fail "HTTPS POST with a token answered $code: $(cat "$WORK/r")"
grep -q "oauth-s3cret" "$WORK/log" && fail "the OAuth secret appears in the log"
[ "$(served_fingerprint)" = "$(fingerprint "$WORK/first.crt")" ] || fail "first certificate not served"

# Renewal: new files, SIGHUP, new connections get the new certificate.
cp "$WORK/second.crt" "$WORK/live.crt"
cp "$WORK/second.key" "$WORK/live.key"
kill -HUP $PID
for _ in $(seq 100); do grep -q "TLS certificate reloaded" "$WORK/log" && break; sleep 0.05; done
grep -q "TLS certificate reloaded" "$WORK/log" || fail "no reload logged after SIGHUP"
[ "$(served_fingerprint)" = "$(fingerprint "$WORK/second.crt")" ] || fail "renewed certificate not served"
curl -s --cacert "$WORK/second.crt" -o /dev/null "https://127.0.0.1:$PORT/healthz" || fail "healthz over renewed TLS"

# A broken renewal: the reload fails, is logged, and the daemon keeps the working pair.
echo "garbage" >"$WORK/live.crt"
kill -HUP $PID
for _ in $(seq 100); do grep -q "TLS reload failed" "$WORK/log" && break; sleep 0.05; done
grep -q "TLS reload failed.*server.tls_cert_file" "$WORK/log" || fail "failed reload not logged"
kill -0 $PID 2>/dev/null || fail "daemon died on a bad reload"
[ "$(served_fingerprint)" = "$(fingerprint "$WORK/second.crt")" ] || fail "bad reload changed the certificate"

kill -TERM $PID
wait $PID; rc=$?
PID=
[ $rc -eq 0 ] || fail "exit code after SIGTERM: $rc"
echo "TLS CLI test passed"
