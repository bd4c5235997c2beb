#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan+UBSan) in build-fuzz and runs each for a bounded
# time, seeded from tests/data, the shared generator's malformed set and a few hand-made
# requests. A crash, leak or sanitizer report fails the script; the input that caused it is
# left in build-fuzz/artifacts/ (replay: build-fuzz/fuzz/<target> <file>) and belongs in the
# normal test suite as a regression test.
# Usage: scripts/fuzz.sh [seconds per target, default 60]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
build=build-fuzz
shared=${SHARED_BENCH:-$PWD/../shared/bench}

echo "== build fuzz targets (clang, ASan+UBSan, libFuzzer)"
cmake -S . -B "$build" -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DSGS_FUZZ=ON -DSGS_BUILD_TESTS=OFF -DSGS_BUILD_BENCH=OFF >/dev/null
cmake --build "$build" -j "$(nproc)" --target fuzz_parse_batch fuzz_request fuzz_connection

# Seeds: every body in tests/data, the generator's malformed set and two small batches.
seeds=$build/seeds
rm -rf "$seeds"
mkdir -p "$seeds/bodies" "$seeds/requests" "$build/artifacts"
cp tests/data/webhook/*.json tests/data/events/*.json tests/data/signatures/*.json "$seeds/bodies/"
if [ -f "$shared/gen_events.py" ]; then
  python3 "$shared/gen_events.py" --malformed --out "$seeds/gen_bad" >/dev/null
  python3 "$shared/gen_events.py" --seed 7 --events-per-batch 5 --batches 2 --duplicate-rate 0.2 \
    --with-account-status --out "$seeds/gen_ok" >/dev/null
  find "$seeds/gen_bad" "$seeds/gen_ok" -name '*.json' ! -name manifest.json \
    -exec cp {} "$seeds/bodies/" \;
else
  echo "   ($shared/gen_events.py not found: seeding from tests/data only)"
fi
# Requests: each body posted to each source, plus the hand-made ones in fuzz/requests.
python3 - "$seeds/bodies" "$seeds/requests" tests/data/signatures/v1_payload.json <<'PY'
import os, sys
bodies, out, v1 = sys.argv[1:4]
def request(path, body, extra=b""):
    return (b"POST " + path + b" HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" + extra +
            b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
for i, name in enumerate(sorted(os.listdir(bodies))):
    body = open(os.path.join(bodies, name), "rb").read()[:65536]
    open(os.path.join(out, f"open_{i}.http"), "wb").write(request(b"/webhooks/sendgrid/open", body))
    if i % 4 == 0:
        open(os.path.join(out, f"basic_{i}.http"), "wb").write(request(
            b"/webhooks/sendgrid/basic", body, b"Authorization: Basic dXNlcjpwYXNz\r\n"))
signed = open(v1, "rb").read()
open(os.path.join(out, "signed_v1.http"), "wb").write(request(b"/webhooks/sendgrid/signed", signed,
    b"X-Twilio-Email-Event-Webhook-Timestamp: 1600112502\r\n"
    b"X-Twilio-Email-Event-Webhook-Signature: MEUCIGHQVtGj+Y3LkG9fLcxf3qfI10QysgDWmMOVmxG0u6ZUAiEAyBiXDWzM+uOe5W0JuG+luQAbPIqHh89M15TluLtEZtM=\r\n"))
chunk = b'[{"email":"a@b.c","event":"open","timestamp":1}]'
open(os.path.join(out, "chunked.http"), "wb").write(
    b"POST /webhooks/sendgrid/open HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" +
    format(len(chunk), "x").encode() + b"\r\n" + chunk + b"\r\n0\r\n\r\n")
form = b"grant_type=client_credentials&client_id=id&client_secret=secret"
open(os.path.join(out, "oauth_token.http"), "wb").write(
    b"POST /oauth/token/oauth HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
    b"Content-Length: " + str(len(form)).encode() + b"\r\n\r\n" + form)
open(os.path.join(out, "oauth_post.http"), "wb").write(request(b"/webhooks/sendgrid/oauth", chunk,
    b"Authorization: Bearer 0123456789abcdef0123456789abcdef0123456789a\r\n"))
open(os.path.join(out, "healthz.http"), "wb").write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
open(os.path.join(out, "expect.http"), "wb").write(request(
    b"/webhooks/sendgrid/open/?x=1", chunk, b"Expect: 100-continue\r\n"))
# The hostile classes of issue 12: trailers (huge, many, carrying credentials), smuggling
# transfer codings, repeated credentials and Host, content codings, oversized announcements.
def chunked(path, body, trailer=b"", te=b"chunked", extra=b""):
    return (b"POST " + path + b" HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: " + te + b"\r\n" + extra +
            b"\r\n" + format(len(body), "x").encode() + b"\r\n" + body + b"\r\n0\r\n" + trailer + b"\r\n")
hostile = {
    "trailer_big": chunked(b"/healthz", b"[]", b"X-A: " + b"a" * 65534 + b"\r\n"),
    "trailer_many": chunked(b"/webhooks/sendgrid/open", chunk, b"X-C: c\r\n" * 2000),
    "trailer_signature": chunked(b"/webhooks/sendgrid/signed", signed,
        b"X-Twilio-Email-Event-Webhook-Timestamp: 1600112502\r\n"),
    "te_xchunked": chunked(b"/webhooks/sendgrid/open", chunk, te=b"xchunked") + request(b"/webhooks/sendgrid/open", chunk),
    "te_double": chunked(b"/webhooks/sendgrid/open", chunk, te=b"chunked, chunked"),
    "te_identity_cl": request(b"/webhooks/sendgrid/open", chunk, b"Transfer-Encoding: identity\r\n"),
    "te_chunked_cl": chunked(b"/webhooks/sendgrid/open", chunk, extra=b"Content-Length: 5\r\n"),
    "auth_twice": request(b"/webhooks/sendgrid/basic", chunk,
        b"Authorization: Basic dXNlcjpwYXNz\r\nAuthorization: Basic dXNlcjpwYXNz\r\n"),
    "basic_lower": request(b"/webhooks/sendgrid/basic", chunk, b"Authorization: basic dXNlcjpwYXNz\r\n"),
    "no_host": b"GET /healthz HTTP/1.1\r\n\r\n",
    "gzip": request(b"/webhooks/sendgrid/open", chunk, b"Content-Encoding: gzip\r\n"),
    "huge_cl": b"POST /nope HTTP/1.1\r\nHost: x\r\nContent-Length: 314572800\r\n\r\nxxxx",
    "chunk_ext": b"POST /webhooks/sendgrid/open HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2;" +
        b"e" * 60000 + b"\r\n[]\r\n0\r\n\r\n",
    "pipelined": request(b"/webhooks/sendgrid/open", chunk) + b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n",
}
for name, data in hostile.items():
    open(os.path.join(out, f"hostile_{name}.http"), "wb").write(data)
PY

# The corpora grow in build-fuzz/corpus across runs; the seeds are read-only inputs.
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
run() {
  local target=$1 dict=$2
  shift 2
  mkdir -p "$build/corpus/$target"
  echo "== fuzz $target for ${seconds}s"
  "$build/fuzz/$target" "$build/corpus/$target" "$@" -dict="$dict" -max_total_time="$seconds" \
    -timeout=10 -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
    -artifact_prefix="$build/artifacts/$target-" 2>"$build/$target.log" ||
    { tail -60 "$build/$target.log"; echo "fuzz: $target failed; input in $build/artifacts/"; exit 1; }
  grep -E '^(stat::number_of_executed_units|stat::new_units_added|stat::peak_rss_mb)' \
    "$build/$target.log" | tr '\n' ' '
  echo
}
run fuzz_parse_batch fuzz/json.dict "$seeds/bodies"
run fuzz_request fuzz/http.dict "$seeds/requests"
run fuzz_connection fuzz/http.dict "$seeds/requests"
echo "== fuzzing found nothing"
