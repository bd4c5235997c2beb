#!/usr/bin/env bash
# Installs the Debian 12 packages sendgrid-source needs to build, test, fuzz and benchmark.
# Idempotent: re-running only installs what is missing. Needs root (or sudo).
#   --bench  also what only the benchmark scripts use: python3-matplotlib (bench/soak.sh's
#            plot) and, when no `node` is installed, nodejs + npm (bench/compare_peers.sh's
#            Node.js peer; it needs Node.js 20 or later, newer than Debian 12's).
#            CI does not pass it.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config ccache git
  libboost1.81-dev libboost-system1.81-dev
  libsimdjson-dev
  libsqlite3-dev libsqlitecpp-dev sqlite3
  libspdlog-dev libfmt-dev
  libtomlplusplus-dev libcli11-dev
  libssl-dev libcurl4-openssl-dev zlib1g-dev libsystemd-dev
  libxxhash-dev
  libgtest-dev libgmock-dev
  # The PostgreSQL store (issue 17): libpq to build; a server the tests start themselves
  # (scripts/with-postgres.sh: initdb + pg_ctl in a temp dir); HAProxy for bench/pg_bench.sh.
  libpq-dev postgresql-15 postgresql-common haproxy
  clang libclang-rt-14-dev
  curl wrk python3 time
  # The Debian package and its test (cpack -G DEB, tests/cli/deb_package_test.sh): the man page,
  # Depends from dpkg-shlibdeps (CPack finds the ELF files with `file`), lintian, a clean
  # Debian 12 root.
  help2man dpkg-dev file lintian debootstrap
  # promtool, for contrib/prometheus/alerts.yml (tests/cli/monitoring_test.py)
  prometheus
  # What the tests run besides the binary, so that none of them skips on a fresh Debian 12
  # (debootstrap minbase): openssl (daemon_cli signs posts, tls_reload makes certificates),
  # systemd-analyze (systemd_unit), mount and mkfs.ext4 (disk_full's small filesystem).
  openssl systemd mount e2fsprogs
)
if [ "${1:-}" = --bench ]; then
  packages+=(python3-matplotlib)
  command -v node >/dev/null || packages+=(nodejs npm)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages already installed"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install-deps: run as root or install sudo" >&2; exit 1; }
  SUDO="sudo"
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
# Only promtool is wanted from the prometheus package: a Prometheus server that this script
# installed is not left running (listening on every interface) where systemd started it.
if [[ " ${missing[*]} " == *" prometheus "* ]] && [ -d /run/systemd/system ]; then
  $SUDO systemctl disable --now prometheus.service >/dev/null 2>&1 || true
fi
# Likewise the tests start their own PostgreSQL and the benchmark its own HAProxy: the
# services the packages enabled are not left running.
if [[ " ${missing[*]} " == *" postgresql-15 "* || " ${missing[*]} " == *" haproxy "* ]] &&
  [ -d /run/systemd/system ]; then
  $SUDO systemctl disable --now postgresql.service haproxy.service >/dev/null 2>&1 || true
fi
