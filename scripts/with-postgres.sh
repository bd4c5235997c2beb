#!/usr/bin/env bash
# Runs a command with a throwaway PostgreSQL server (Debian's postgresql package) on
# 127.0.0.1, for the tests and benchmarks: initdb in a temp dir, pg_ctl start, a role and a
# database, then the command with SGS_TEST_PG_URL (libpq URI), PGPASSWORD and SGS_TEST_PG_CTL
# (a command that runs pg_ctl on this server as its owner, e.g. "$SGS_TEST_PG_CTL restart")
# exported; the server is stopped and removed afterwards. As root, the server runs as the
# `postgres` user (initdb refuses root). Usage: scripts/with-postgres.sh COMMAND [ARGS...]
set -euo pipefail

bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -x "$bindir/initdb" ] || { echo "with-postgres: no PostgreSQL server (scripts/install-deps.sh installs it)" >&2; exit 1; }

dir=$(mktemp -d /tmp/sgs-pg.XXXXXX)
chmod 755 "$dir"
as_owner=()
if [ "$(id -u)" -eq 0 ]; then
  chown postgres: "$dir"
  as_owner=(runuser -u postgres --)
fi
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
password="sgs-test-$RANDOM$RANDOM"

cleanup() {
  "${as_owner[@]}" "$bindir/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap cleanup EXIT

echo "$password" >"$dir/pw"
chmod 644 "$dir/pw"
"${as_owner[@]}" "$bindir/initdb" -D "$dir/data" -U sgs --pwfile="$dir/pw" -A scram-sha-256 \
  -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }
cat >>"$dir/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
max_connections = 200
fsync = on
synchronous_commit = on
shared_buffers = 256MB
max_wal_size = 4GB
log_min_messages = warning
CONF
"${as_owner[@]}" "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w start >/dev/null
PGPASSWORD="$password" "$bindir/psql" -q -h 127.0.0.1 -p "$port" -U sgs -d postgres \
  -c "CREATE DATABASE sgs_test" >/dev/null

export SGS_TEST_PG_URL="postgresql://sgs@127.0.0.1:$port/sgs_test"
export PGPASSWORD="$password"
export SGS_TEST_PG_CTL="${as_owner[*]} $bindir/pg_ctl -D $dir/data -l $dir/server.log -w"
export SGS_TEST_PG_BIN="$bindir"
set +e
"$@"
rc=$?
set -e
exit $rc
