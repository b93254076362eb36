#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# examples/systemd: the verification unit and its timer pass
# `systemd-analyze verify` without a single warning, the service's exposure
# level (`systemd-analyze security --offline`) stays at 3.0 or below, a
# broken copy is caught (so the check is real), and the unit's exact
# ExecStart command line, with its paths moved into a scratch tree, verifies
# that tree. Skipped (77) without systemd-analyze.
set -euo pipefail
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"

M2M=${M2M_TOOL:-${M2M_BUILD_DIR:?}/tools/m2msec}
SRC="$M2M_SOURCE_DIR/examples/systemd"
if ! command -v systemd-analyze >/dev/null; then
    echo "# SKIP: systemd-analyze is not installed"
    exit 77
fi
cd "$TMP"
chmod 0700 "$TMP"
cp "$SRC/m2msec-verify.service" "$SRC/m2msec-verify.timer" .
# the unit names /usr/bin/m2msec, which must exist for verify: use the build's
sed -i "s|/usr/bin/m2msec|$M2M|" m2msec-verify.service

# analyze UNIT...: $rc and $err of systemd-analyze verify (no man page lookups)
analyze() {
    rc=0
    err=$(systemd-analyze verify --man=no "$@" 2>&1) || rc=$?
}
analyze ./m2msec-verify.service ./m2msec-verify.timer
expect_eq "systemd-analyze verify: exit 0, no warning" "$rc:$err" "0:"

mkdir bad
sed 's/^ProtectSystem=strict/ProtectSystem=bogus/' m2msec-verify.service >bad/m2msec-verify.service
analyze ./bad/m2msec-verify.service
if [[ -n "$err" ]]; then ok "a broken copy is reported"; else not_ok "a broken copy is reported"; fi

for d in NoNewPrivileges=yes ProtectSystem=strict ProtectHome=yes PrivateTmp=yes \
    PrivateDevices=yes ProtectKernelTunables=yes ProtectKernelModules=yes \
    ProtectControlGroups=yes RestrictSUIDSGID=yes MemoryDenyWriteExecute=yes \
    SystemCallArchitectures=native UMask=0077; do
    check "service sets $d" grep -qx "$d" m2msec-verify.service
done
check "the timer starts the service" grep -qx 'Unit=m2msec-verify.service' m2msec-verify.timer

if systemd-analyze security --help 2>/dev/null | grep -q -- '--offline'; then
    exposure=$(systemd-analyze security --offline=true ./m2msec-verify.service 2>/dev/null |
        sed -n 's/.*Overall exposure level for m2msec-verify.service: \([0-9.]*\).*/\1/p')
    if [[ -n "$exposure" ]] && awk -v e="$exposure" 'BEGIN {exit !(e <= 3.0)}'; then
        ok "exposure level $exposure <= 3.0 (systemd-analyze security --offline)"
    else
        not_ok "exposure level <= 3.0 (systemd-analyze security --offline)"
        diag "exposure: ${exposure:-not found}"
    fi
else
    echo "# systemd-analyze security --offline is not available: exposure not measured"
fi

# The ExecStart line, run for real with its paths in a scratch tree.
exec_line=$(awk '/^ExecStart=/ {f = 1}
    f {line = $0; more = sub(/\\$/, "", line); printf "%s ", line; if (!more) exit}' \
    "$SRC/m2msec-verify.service")
exec_line=${exec_line#ExecStart=/usr/bin/m2msec }
exec_line=$(sed -e "s|/etc/m2msec|$TMP/etc|g" -e "s|/var/lib/m2msec|$TMP/var|g" \
    -e "s|/opt/device|$TMP/root|g" <<<"$exec_line")
mkdir -p etc var root/bin
printf 'app\n' >root/bin/app
"$M2M" keygen signing-key signer.pem etc/signer.pub >/dev/null
"$M2M" keygen device-key etc/device.key >/dev/null
"$M2M" manifest create --root root --version 1 -o etc/MANIFEST 2>/dev/null
"$M2M" manifest sign --key signer.pem etc/MANIFEST 2>/dev/null
printf '[integrity]\ndefault_action = deny\n' >etc/policy.cnf
read -r -a args <<<"$exec_line"
run "$M2M" "${args[@]}"
expect_run "the unit's ExecStart command verifies a tree: exit 0, status passed" 0 \
    'status record .*/var/integrity.status: passed'
printf 'x' >>root/bin/app
run "$M2M" "${args[@]}"
expect_run "and fails (exit 1, the unit fails) on a changed file, shown by --failures" 1 \
    '^modified +bin/app'

finish
