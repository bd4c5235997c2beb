#!/usr/bin/env bash
# Times `sendgrid-source sync --only recipients` against a fake export of N contacts served on
# 127.0.0.1 (bench/fake_export_server.py): first sync (empty database) and second sync (nothing
# changed), printing contacts/s and peak RSS. Usage:
#   bench/sync_bench.sh [BUILD_DIR] [COUNTS...]      (default: build-release, 100000 1000000)
# The default build directory is configured (Release) and built when it has no binary.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
build="${1:-$root/build-release}"
shift || true
counts=("$@")
[ ${#counts[@]} -eq 0 ] && counts=(100000 1000000)
bin="$build/daemon/sendgrid-source"
if [ ! -x "$bin" ] && [ "$build" = "$root/build-release" ]; then
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DSGS_BUILD_TESTS=OFF >/dev/null
  cmake --build "$build" -j "$(nproc)" --target sendgrid-source >/dev/null
fi
[ -x "$bin" ] || { echo "no $bin: build first (cmake --build $build)" >&2; exit 1; }
cache="${SGS_BENCH_CACHE:-/tmp/sgs-sync-bench-cache}"
work="$(mktemp -d /tmp/sgs-sync-bench.XXXXXX)"
server_pid=""
cleanup() { [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

# Runs one sync under /usr/bin/time; prints "seconds rss_kib".
timed_sync() {
  local config="$1" log="$2"
  /usr/bin/time -v "$bin" --config "$config" sync --only recipients >"$log.out" 2>"$log.err" || {
    echo "sync failed:" >&2; cat "$log.out" "$log.err" >&2; exit 1; }
  local wall rss
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$log.err")
  rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$log.err")
  # h:mm:ss or m:ss.ss -> seconds
  python3 -c "import sys; p=sys.argv[1].split(':'); s=sum(float(x)*60**i for i,x in enumerate(reversed(p))); print(f'{s:.2f} {sys.argv[2]}')" "$wall" "$rss"
}

printf "%-10s %-7s %9s %12s %12s\n" contacts sync seconds contacts/s peak_rss_MB
for n in "${counts[@]}"; do
  rm -f "$work/port"
  python3 "$here/fake_export_server.py" --contacts "$n" --files 3 --cache "$cache" --port-file "$work/port" &
  server_pid=$!
  for _ in $(seq 1 600); do [ -s "$work/port" ] && break; sleep 0.5; done  # first run generates the files
  port=$(cat "$work/port")
  rm -rf "$work/data"
  cat >"$work/config.toml" <<TOML
[server]
listen = "127.0.0.1:0"
[storage]
dir = "$work/data"
[log]
level = "warn"
[[source]]
name = "bench"
api_key = "SG.bench-key"
api_base = "http://127.0.0.1:$port"
TOML
  for run in first second; do
    read -r secs rss < <(timed_sync "$work/config.toml" "$work/$n-$run")
    rate=$(python3 -c "print(int($n / $secs))")
    printf "%-10s %-7s %9s %12s %12s\n" "$n" "$run" "$secs" "$rate" "$((rss / 1024))"
  done
  rows=$(sqlite3 "$work/data/bench.db" "SELECT count(*) FROM recipients")
  [ "$rows" = "$n" ] || { echo "expected $n recipients, found $rows" >&2; exit 1; }
  kill "$server_pid"; wait "$server_pid" 2>/dev/null || true; server_pid=""
done
echo "(each sync includes the first export poll wait of 0.5-1 s; database: $(du -sh "$work/data" 2>/dev/null | cut -f1) at the end)"
