#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# m2msec beside AIDE on the same tree (README "m2msec and AIDE"): after a
# changed byte, a mode change, an mtime-only change, a removed and an added
# file, both tools report the same five files, each with the same kind of
# difference; AIDE also lists a second difference of one file (its owner)
# where m2msec reports the first (the mode). Skipped (77) without aide.
set -euo pipefail
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"

M2M=${M2M_TOOL:-${M2M_BUILD_DIR:?}/tools/m2msec}
if ! command -v aide >/dev/null; then
    echo "# SKIP: aide is not installed (apt-get install aide)"
    exit 77
fi
cd "$TMP"
chmod 0700 "$TMP"
mkdir -p root/bin root/etc
printf 'app\n' >root/bin/app
printf 'k=v\n' >root/etc/conf
printf 'x\n' >root/etc/other
printf 'gone\n' >root/etc/gone
cat >aide.conf <<EOF
database_in=file:$TMP/aide.db
database_out=file:$TMP/aide.db.new
report_url=stdout
R = p+u+g+s+m+sha256
$TMP/root R
EOF
aide --config aide.conf --init >/dev/null 2>&1 && mv aide.db.new aide.db
"$M2M" keygen signing-key k.pem k.pub >/dev/null
"$M2M" manifest create --root root --version 1 --meta --attr -o MF 2>/dev/null
"$M2M" manifest sign --key k.pem MF 2>/dev/null

printf 'APP\n' >root/bin/app
touch -d @1500000000 root/bin/app
chmod 0600 root/etc/conf
touch -d @1600000000 root/etc/other
rm root/etc/gone
printf 'new\n' >root/etc/new
owner_changed=0
if [[ $(id -u) -eq 0 ]]; then
    chown 4242 root/etc/conf
    owner_changed=1
fi

rc=0
aide --config aide.conf --check >aide.out 2>&1 || rc=$?
check "aide reports differences (exit status $rc, not 0)" test "$rc" -ne 0
run "$M2M" verify --manifest MF --pubkey k.pub --root root --meta
expect_run "m2msec verify --meta: exit 1" 1

# AIDE's summary lines ("f = ... .   H     : /path") name each changed file
aide_list=$(grep -E '^f[-+= ]' aide.out | sed "s|.*: $TMP/root/||" | sort | tr '\n' ' ')
m2m_list=$(grep -vE '^(STATUS|summary:)' <<<"$out" | awk '{print $2}' | sort | tr '\n' ' ')
expect_eq "both tools name the same five files" "$aide_list" "$m2m_list"
expect_eq "the five files" "$m2m_list" "bin/app etc/conf etc/gone etc/new etc/other "

# the kind of each difference
check "content: AIDE's SHA256 differs for bin/app" grep -qE '^f = .* H .*: .*/root/bin/app$' aide.out
check "content: m2msec says modified" grep -qE '^modified +bin/app +digest differs' <<<"$out"
check "mode: AIDE's Perm differs for etc/conf" grep -qE '^f = p.*: .*/root/etc/conf$' aide.out
check "mode: m2msec says wrong-mode" grep -qE '^wrong-mode +etc/conf +mode 0600, expected 0644' <<<"$out"
check "mtime: AIDE's Mtime differs for etc/other" grep -qE '^f = ... m .*: .*/root/etc/other$' aide.out
check "mtime: m2msec says wrong-attr" grep -qE '^wrong-attr +etc/other +mtime 1600000000, expected' <<<"$out"
check "removed / missing" grep -qE '^missing +etc/gone' <<<"$out"
check "added / extra" grep -qE '^extra +etc/new' <<<"$out"
if [[ $owner_changed -eq 1 ]]; then
    check "AIDE lists the owner of etc/conf as well (Uid)" grep -qE '^ Uid +: 0 +\| 4242' aide.out
    check "m2msec reports the first difference of etc/conf only (the mode)" \
        bash -c "! grep -q 'owner 4242' <<<\"\$1\"" _ "$out"
fi

finish
