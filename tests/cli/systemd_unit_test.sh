#!/usr/bin/env bash
# `systemd-analyze verify` on the configured unit, pointed at the built binary. Skips (exit 77)
# where systemd-analyze is not installed.
set -uo pipefail
UNIT=$1 BIN=$2
command -v systemd-analyze >/dev/null || { echo "systemd-analyze not installed: skipped"; exit 77; }
WORK=$(mktemp -d /tmp/sgs-unit.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
sed "s|ExecStart\(Pre\)\?=[^ ]*sendgrid-source|&|; s|=/[^ ]*/sendgrid-source |=$BIN |g" "$UNIT" >"$WORK/sendgrid-source.service"
grep -q "Type=notify" "$WORK/sendgrid-source.service" || { echo "FAIL: unit is not Type=notify"; exit 1; }
grep -q 'ExecReload=/bin/kill -HUP $MAINPID' "$WORK/sendgrid-source.service" || { echo "FAIL: no ExecReload sending SIGHUP"; exit 1; }
out=$(systemd-analyze verify "$WORK/sendgrid-source.service" 2>&1)
rc=$?
[ $rc -eq 0 ] && [ -z "$out" ] || { echo "FAIL: systemd-analyze verify: $out"; exit 1; }
echo "unit verified"
