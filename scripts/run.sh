#!/usr/bin/env bash
# Installs the Debian packages, builds sendgrid-source (Release) and runs the daemon.
# With no arguments it runs `run` on the built-in default config: 127.0.0.1:8080, data in
# ./data, one source named "default". Arguments are passed to sendgrid-source instead,
# e.g. scripts/run.sh --config config.toml run
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
cmake -S . -B build-release -G Ninja -DCMAKE_BUILD_TYPE=Release -DSGS_BUILD_TESTS=OFF >/dev/null
cmake --build build-release -j "$(nproc)" --target sendgrid-source
if [ $# -eq 0 ]; then set -- run; fi
exec ./build-release/daemon/sendgrid-source "$@"
