#!/usr/bin/env bash
# Installs the Debian packages, builds, and runs the whole test suite twice: a normal build
# and an ASan+UBSan build; then runs each libFuzzer target for FUZZ_SECONDS (default 60; 0
# skips; about 3 minutes in all with the clang build). Usage: scripts/test.sh [--no-sanitizers]
# (--no-sanitizers also skips fuzzing, which runs under ASan+UBSan).
set -euo pipefail
cd "$(dirname "$0")/.."
sanitizers=1
[ "${1:-}" = "--no-sanitizers" ] && sanitizers=0

./scripts/install-deps.sh
jobs=$(nproc)

echo "== build (RelWithDebInfo)"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$jobs"
echo "== tests"
ctest --test-dir build --output-on-failure -j "$jobs" --timeout 600

if [ "$sanitizers" = 1 ]; then
  echo "== build (ASan+UBSan)"
  cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSGS_SANITIZE=ON -DSGS_BUILD_BENCH=OFF >/dev/null
  cmake --build build-asan -j "$jobs"
  echo "== tests under ASan+UBSan"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir build-asan --output-on-failure -j "$jobs" --timeout 900
  if [ "${FUZZ_SECONDS:-60}" -gt 0 ]; then
    ./scripts/fuzz.sh "${FUZZ_SECONDS:-60}"
  fi
fi
echo "== all tests passed"
