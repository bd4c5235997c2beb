#!/usr/bin/env bash
# The Debian package as an operator gets it: `cpack -G DEB` in the build directory, lintian
# (no errors, no warnings), then installed with apt into a clean Debian 12 root (debootstrap
# minbase), so apt resolves the Depends that dpkg-shlibdeps computed. Inside that root:
# --version, migrate, run on 127.0.0.1 (a port of its own); one event posted from outside and
# read back with sqlite3 and `status`; the package upgraded over itself keeps an edited
# conffile; remove and purge. `systemd-analyze verify` passes on the installed unit.
#
# Usage: deb_package_test.sh BUILD_DIR VERSION
# Needs root (chroot), debootstrap, lintian, dpkg-dev, file, curl, sqlite3
# and a Debian mirror (SGS_DEBIAN_MIRROR, default http://deb.debian.org/debian). Skips (77)
# without them. The debootstrapped root is cached as a tarball in BUILD_DIR/deb-test-cache
# (made again after 7 days or when deleted), with the .debs apt downloaded, so later runs take
# about a minute instead of four. Nothing is mounted: the daemon, apt and systemd-analyze need
# no /proc here (systemd's postinst warns that it is missing, harmlessly).
set -uo pipefail
BUILD=$(cd "$1" && pwd) VERSION=$2
MIRROR=${SGS_DEBIAN_MIRROR:-http://deb.debian.org/debian}
CACHE=$BUILD/deb-test-cache
DEB=$BUILD/sendgrid-source_${VERSION}_amd64.deb
PID=

skip() { echo "skipped: $*"; exit 77; }
[ "$(id -u)" -eq 0 ] || skip "needs root (chroot, dpkg inside the root)"
for tool in debootstrap lintian cpack dpkg-shlibdeps file curl sqlite3 flock; do
  command -v "$tool" >/dev/null || skip "$tool not installed (scripts/install-deps.sh)"
done

mkdir -p "$CACHE"
# Roots left by a run that was killed (ctest's timeout skips the trap); nothing is mounted in them.
find "$BUILD" -maxdepth 1 -name 'deb-test-*.??????' -mmin +60 -exec rm -rf {} +
ROOT=$(mktemp -d "$BUILD/deb-test-root.XXXXXX")
WORK=$(mktemp -d "$BUILD/deb-test-work.XXXXXX")
cleanup() {
  [ -n "$PID" ] && kill -9 "$PID" 2>/dev/null
  # Nothing is mounted on purpose; should a step ever mount, this undoes it before the rm.
  grep -o " $ROOT/[^ ]*" /proc/mounts | sort -r | while read -r m; do umount -l "$m"; done
  rm -rf --one-file-system "$ROOT" "$WORK"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; [ -f "$WORK/log" ] && tail -20 "$WORK/log"; exit 1; }
# in_root SECONDS COMMAND...: runs COMMAND in the root, with a clean environment and a time limit.
in_root() {
  local seconds=$1
  shift
  timeout "$seconds" chroot "$ROOT" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 \
    DEBIAN_FRONTEND=noninteractive "$@" </dev/null
}
step() { echo "== $* ($SECONDS s)"; }

step "cpack -G DEB"
rm -f "$DEB"
(cd "$BUILD" && timeout 120 cpack -G DEB >"$WORK/cpack.log" 2>&1) || { cat "$WORK/cpack.log"; fail "cpack"; }
[ -f "$DEB" ] || fail "cpack did not make $DEB: $(ls "$BUILD"/*.deb 2>/dev/null)"
info=$(dpkg-deb --info "$DEB")
grep -q '^ Depends: .*libc6' <<<"$info" || fail "no Depends from dpkg-shlibdeps: $info"
contents=$(dpkg-deb --contents "$DEB")
for f in ./usr/bin/sendgrid-source ./lib/systemd/system/sendgrid-source.service \
  ./etc/sendgrid-source/config.toml ./usr/share/man/man1/sendgrid-source.1.gz \
  ./usr/share/doc/sendgrid-source/copyright ./usr/share/doc/sendgrid-source/changelog.gz; do
  grep -q " $f\$" <<<"$contents" || fail "$f is not in the package"
done
grep -q /usr/local <<<"$contents" && fail "the package holds /usr/local paths"

step "lintian"
timeout 180 lintian --fail-on error,warning "$DEB" >"$WORK/lintian.log" 2>&1
rc=$?
cat "$WORK/lintian.log"
[ $rc -eq 0 ] || fail "lintian reports errors or warnings (exit $rc)"

step "a clean Debian 12 root"
# One debootstrap at a time per build directory; the tarball is the finished root, never used.
exec 9>"$CACHE/lock"
flock -w 300 9 || fail "waiting for $CACHE/lock"
TARBALL=$CACHE/bookworm-minbase-root.tar
if [ ! -s "$TARBALL" ] || [ -n "$(find "$TARBALL" -mtime +7)" ]; then
  rm -rf "$CACHE/bootstrap"
  timeout 300 debootstrap --variant=minbase bookworm "$CACHE/bootstrap" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 ||
    { tail -20 "$WORK/debootstrap.log"; fail "debootstrap"; }
  tar -C "$CACHE/bootstrap" -cf "$TARBALL.new" . && mv "$TARBALL.new" "$TARBALL" || fail "tar of the root"
  rm -rf "$CACHE/bootstrap"
fi
tar -C "$ROOT" -xf "$TARBALL" || fail "unpacking $TARBALL"
flock -u 9
cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
mkdir -p "$CACHE/archives"
cp "$CACHE"/archives/*.deb "$ROOT/var/cache/apt/archives/" 2>/dev/null
cp "$DEB" "$ROOT/tmp/"
PKG=/tmp/$(basename "$DEB")
in_root 30 dpkg-query -W sendgrid-source >/dev/null 2>&1 && fail "the clean root already has the package"

step "apt install ./$(basename "$DEB")"
in_root 120 apt-get update -q >"$WORK/apt.log" 2>&1 || { cat "$WORK/apt.log"; fail "apt-get update"; }
in_root 300 apt-get install -y -q --no-install-recommends "$PKG" >>"$WORK/apt.log" 2>&1 ||
  { tail -30 "$WORK/apt.log"; fail "apt-get install $PKG"; }
cp -n "$ROOT"/var/cache/apt/archives/*.deb "$CACHE/archives/" 2>/dev/null
in_root 30 dpkg-query -W -f='${Conffiles}\n' sendgrid-source | grep '/etc/sendgrid-source/config.toml' >/dev/null ||
  fail "config.toml is not a conffile"
[ -e "$ROOT/etc/systemd/system/multi-user.target.wants/sendgrid-source.service" ] &&
  fail "postinst enabled the service"

step "--version, migrate, run"
in_root 30 sendgrid-source --version | grep "^sendgrid-source $VERSION" >/dev/null || fail "--version: $(in_root 30 sendgrid-source --version 2>&1)"
[ -s "$ROOT/usr/share/man/man1/sendgrid-source.1.gz" ] || fail "no man page"
cat >"$ROOT/etc/sendgrid-source/test.toml" <<'TOML'
[server]
listen = "127.0.0.1:0"
[storage]
dir = "/var/lib/sendgrid-source"
[[source]]
name = "pkg"
TOML
in_root 30 sendgrid-source --config /etc/sendgrid-source/test.toml migrate >"$WORK/migrate" 2>&1 ||
  fail "migrate: $(cat "$WORK/migrate")"
grep -q "pkg: .*schema version" "$WORK/migrate" || fail "migrate output: $(cat "$WORK/migrate")"
chroot "$ROOT" /usr/bin/sendgrid-source --config /etc/sendgrid-source/test.toml run >"$WORK/log" 2>&1 </dev/null &
PID=$!
PORT=
for _ in $(seq 200); do
  PORT=$(sed -n 's#.*listening: POST http://127.0.0.1:\([0-9]*\)/webhooks/sendgrid/pkg.*#\1#p' "$WORK/log")
  [ -n "$PORT" ] && break
  kill -0 "$PID" 2>/dev/null || fail "the installed daemon exited"
  sleep 0.05
done
[ -n "$PORT" ] || fail "the installed daemon did not report its port"
body='[{"email":"pkg@example.com","timestamp":1700000000,"event":"delivered","sg_event_id":"deb-test-1","sg_message_id":"m1"}]'
code=$(curl -s -m 10 -o "$WORK/r" -w '%{http_code}' -X POST --data-binary "$body" \
  "http://127.0.0.1:$PORT/webhooks/sendgrid/pkg")
[ "$code" = 200 ] || fail "POST answered $code: $(cat "$WORK/r")"
grep -q '"stored":1' "$WORK/r" || fail "POST body: $(cat "$WORK/r")"
DB=$ROOT/var/lib/sendgrid-source/pkg.db
email=
for _ in $(seq 200); do
  email=$(sqlite3 -cmd '.timeout 2000' "file:$DB?mode=ro" \
    "SELECT email FROM activity WHERE sg_event_id = 'deb-test-1'" 2>/dev/null)
  [ -n "$email" ] && break
  sleep 0.05
done
[ "$email" = pkg@example.com ] || fail "the event is not in $DB (got '$email')"
kill -TERM "$PID"
wait "$PID"
rc=$?
PID=
[ $rc -eq 0 ] || fail "the daemon exited $rc after SIGTERM"
in_root 30 sendgrid-source --config /etc/sendgrid-source/test.toml status >"$WORK/status" 2>&1 ||
  fail "status: $(cat "$WORK/status")"
grep -Eq '^  events stored +1$' "$WORK/status" || fail "status does not count the event: $(cat "$WORK/status")"

step "systemd-analyze verify"
# The operator's machine runs systemd; minbase has none. Installed after the daemon ran, so the
# run above proved that the package's own Depends are enough.
in_root 180 apt-get install -y -q --no-install-recommends systemd >"$WORK/apt-systemd.log" 2>&1 ||
  { tail -30 "$WORK/apt-systemd.log"; fail "apt-get install systemd"; }
cp -n "$ROOT"/var/cache/apt/archives/*.deb "$CACHE/archives/" 2>/dev/null
out=$(in_root 30 systemd-analyze verify /lib/systemd/system/sendgrid-source.service 2>&1)
rc=$?
[ $rc -eq 0 ] && [ -z "$out" ] || fail "systemd-analyze verify on the installed unit: $out"
grep -q '^ExecStart=/usr/bin/sendgrid-source ' "$ROOT/lib/systemd/system/sendgrid-source.service" ||
  fail "the installed unit does not run /usr/bin/sendgrid-source"

step "upgrade over itself with an edited config"
sed -i 's/^level = "info"/level = "debug"  # edited by deb_package_test/' "$ROOT/etc/sendgrid-source/config.toml"
grep -q 'edited by deb_package_test' "$ROOT/etc/sendgrid-source/config.toml" || fail "could not edit config.toml"
in_root 120 apt-get install -y -q --reinstall "$PKG" >"$WORK/apt-upgrade.log" 2>&1 ||
  { tail -30 "$WORK/apt-upgrade.log"; fail "apt-get install --reinstall"; }
grep -q 'edited by deb_package_test' "$ROOT/etc/sendgrid-source/config.toml" || fail "the upgrade replaced the edited config.toml"
[ -f "$ROOT/etc/sendgrid-source/config.toml.dpkg-new" ] && fail "the upgrade left config.toml.dpkg-new"

step "remove and purge"
in_root 60 apt-get remove -y -q sendgrid-source >"$WORK/apt-remove.log" 2>&1 || { cat "$WORK/apt-remove.log"; fail "remove"; }
[ -e "$ROOT/usr/bin/sendgrid-source" ] && fail "remove left the binary"
[ -f "$ROOT/etc/sendgrid-source/config.toml" ] || fail "remove deleted the conffile (only purge may)"
in_root 60 apt-get purge -y -q sendgrid-source >>"$WORK/apt-remove.log" 2>&1 || { cat "$WORK/apt-remove.log"; fail "purge"; }
[ -f "$ROOT/etc/sendgrid-source/config.toml" ] && fail "purge left the conffile"
[ -f "$DB" ] || fail "purge deleted the database (the operator's data stays)"

echo "package installed, run, upgraded and removed in a clean Debian 12 root in $SECONDS s"
