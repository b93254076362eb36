#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The integrity tool and its users' habits (issue 14 point 6): expiry dates
# printed as ISO 8601 UTC next to the seconds (checked against GNU date),
# the failures-only view of verify (table and JSON, checked with python3's
# json module against the full report), the dry run (nothing on disk
# changes) and the owner/group/mtime checks of --attr / verify --meta.
set -euo pipefail
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"

M2M=${M2M_TOOL:-${M2M_BUILD_DIR:?}/tools/m2msec}
cd "$TMP"
chmod 0700 "$TMP"

# iso EPOCH: GNU date's ISO 8601 UTC form, the reference.
iso() { date -u -d "@$1" +%Y-%m-%dT%H:%M:%SZ; }

mkdir -p root/c
printf 'a\n' >root/a
printf 'b\n' >root/b
for i in 1 2 3; do printf '%s\n' "$i" >"root/c/$i"; done
"$M2M" keygen signing-key k.pem k.pub >/dev/null

# ---------------------------------------------------------------- readable expiry
EXP=1900000000
run "$M2M" manifest create --root root --version 4 --expires-at "$EXP" -o M
expect_run "manifest create prints the expiry as seconds and ISO 8601" 0 \
    "expires $EXP $(iso "$EXP")"
"$M2M" manifest sign --key k.pem M 2>/dev/null
run "$M2M" manifest verify --pubkey k.pub M
expect_eq "manifest verify shows the expiry as seconds and ISO 8601" "$out" \
    "M: ok (version 4, expires $EXP $(iso "$EXP"), SHA256, 5 files)"
run "$M2M" manifest create --root root --version 4 --expires-at 1000 -o OLD
expect_run "a past expiry: the warning names the date" 0 \
    "expires at 1000 1970-01-01T00:16:40Z, which is not in the future"
"$M2M" manifest sign --key k.pem OLD 2>/dev/null
run "$M2M" manifest verify --pubkey k.pub OLD
expect_run "an expired manifest: the refusal names both dates" 1 \
    "expired at 1000 1970-01-01T00:16:40Z \\(now [0-9]+ [0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z\\)"
run "$M2M" verify --manifest OLD --pubkey k.pub --root root
expect_run "verify of an expired manifest names the date" 1 "expired at 1000 1970-01-01T00:16:40Z"
run "$M2M" manifest create --root root --version 4 --expires-at 99999999999999999 -o FAR
expect_run "an expiry beyond the calendar is said to be out of range" 0 \
    "expires 99999999999999999 \\(out of range\\)"

# ---------------------------------------------------------------- failures only
printf 'changed\n' >>root/c/2
printf 'new\n' >root/extra
run "$M2M" verify --manifest M --pubkey k.pub --root root
expect_run "full view: exit 1" 1
full=$out
run "$M2M" verify --manifest M --pubkey k.pub --root root --failures
expect_run "--failures: the same exit code" 1 'verification failed: 2 file'
expect_eq "--failures shows the header, the failed files and the summary" "$out" \
    "$(grep -Ev '^ok ' <<<"$full")"
expect_eq "--failures leaves out exactly the ok lines" \
    "$(grep -c '^ok ' <<<"$full") $(grep -c '^ok ' <<<"$out" || true)" "4 0"
run "$M2M" verify --manifest M --pubkey k.pub --root root --json
fulljson=$out
run "$M2M" verify --manifest M --pubkey k.pub --root root --json --failures
expect_eq "--json --failures: only the failed files, the summary unchanged" \
    "$(python3 -c '
import json, sys
a = json.loads(sys.argv[1]); b = json.loads(sys.argv[2])
want = [f for f in a["files"] if f["status"] != "ok"]
print(b["files"] == want, b["summary"] == a["summary"], len(want))' "$fulljson" "$out")" \
    "True True 2"
rm root/extra
printf '2\n' >root/c/2
run "$M2M" verify --manifest M --pubkey k.pub --root root --failures
expect_eq "--failures with nothing failed: only the summary" "$out" \
    "summary: 5 files, 5 ok; 0 failures"

# ---------------------------------------------------------------- dry run
# A policy with every action; the real run afterwards must do what the dry
# run said, and the dry run must change nothing on disk.
mkdir -p var repo/c
printf '1\n' >repo/c/1
"$M2M" keygen device-key dev.key >/dev/null
cat >policy.cnf <<EOF
[integrity]
default_action = deny
quarantine_dir = $TMP/var/quarantine
log = $TMP/var/actions.log
repository = $TMP/repo

[rules]
c/1 = remediate
c/2 = quarantine
c/3 = alert
EOF
"$M2M" verify --manifest M --pubkey k.pub --root root --state var/manifest.state \
    --status-file var/status --device-key-file dev.key >/dev/null 2>&1
check "a first real run writes the rollback state and the status record" \
    test -s var/manifest.state -a -s var/status
printf 'x\n' >>root/c/1
printf 'x\n' >>root/c/2
printf 'x\n' >>root/c/3
printf 'new\n' >root/extra

# snapshot: every path below root/ and var/ with type, mode, size, mtime and content digest
snapshot() {
    find root var -printf '%p %y %m %s %T@\n' | sort
    find root var -type f -exec sha256sum {} + | sort
}
before=$(snapshot)
run "$M2M" verify --manifest M --pubkey k.pub --root root --state var/manifest.state \
    --policy policy.cnf --status-file var/status --device-key-file dev.key --dry-run
expect_run "--dry-run with a deny: exit 1" 1 \
    'dry run: 4 file\(s\) failed, 1 denied; the device would not run'
expect_eq "--dry-run changed nothing below root/ and var/ (no file moved, no log, status, state)" \
    "$(snapshot)" "$before"
check "no quarantine directory and no action log were created" \
    test ! -e var/quarantine -a ! -e var/actions.log
expect_run "the dry run says it leaves the status record alone" 1 \
    'status record var/status is neither read nor written'
expect_eq "the plan names each failure's action" \
    "$(sed -n '/^WOULD /,$p' <<<"$out" | awk 'NR > 1 && $1 != "dry" {print $1, $2, $3}')" \
    "remediate c/1 modified
quarantine c/2 modified
alert c/3 modified
deny extra extra"
expect_run "the plan says what the remediation would do" 1 \
    'would replace it with a verified copy from the repository'
run "$M2M" verify --manifest M --pubkey k.pub --root root --policy policy.cnf --dry-run --json
expect_run "--dry-run --json: usage error" 2 'leave out --json'

# the real run does what the plan said
run "$M2M" verify --manifest M --pubkey k.pub --root root --state var/manifest.state \
    --policy policy.cnf --status-file var/status --device-key-file dev.key
expect_run "the real run: exit 1 (extra is denied)" 1 'the device may not run'
expect_eq "the real run took the planned actions" \
    "$(grep -oE '\[action [a-z]+' <<<"$out" | awk '{print $2}' | sort | tr '\n' ' ')" \
    "alert deny quarantine remediate "
check "the real run wrote the action log" test -s var/actions.log
expect_ne "the real run changed what the dry run left alone" "$(snapshot)" "$before"

# without a policy every failure would deny; a rollback is refused, the state never written
rm -f root/extra
run "$M2M" verify --manifest M --pubkey k.pub --root root --dry-run
expect_run "--dry-run without a policy: deny" 1 'dry run: .* denied; the device would not run'
"$M2M" manifest create --root root --version 9 -o M9 2>/dev/null
"$M2M" manifest sign --key k.pem M9 2>/dev/null
st_before=$(cat var/manifest.state)
run "$M2M" verify --manifest M9 --pubkey k.pub --root root --state var/manifest.state --dry-run
expect_run "--dry-run of a newer manifest, nothing failed: exit 0" 0 'dry run: 0 failure'
expect_eq "--dry-run did not record the newer version in the state" \
    "$(cat var/manifest.state)" "$st_before"
# the status record and device key below the root are ours, not extra, in a dry run too
cp dev.key root/dev.key
run "$M2M" verify --manifest M9 --pubkey k.pub --root root --status-file root/status \
    --device-key-file root/dev.key --dry-run
expect_run "--dry-run: the status and key files below the root are not extra" 0 'dry run: 0 failure'
check "and the status record was not created" test ! -e root/status
rm root/dev.key
"$M2M" verify --manifest M9 --pubkey k.pub --root root --state var/manifest.state >/dev/null 2>&1
run "$M2M" verify --manifest M --pubkey k.pub --root root --state var/manifest.state --dry-run
expect_run "--dry-run of an older manifest: rollback refused, exit 1" 1 'rollback'

# ---------------------------------------------------------------- --attr / verify --meta
# Owner, group and mtime recorded by manifest create --attr (checked against
# stat(1)), still readable by sha256sum -c, ignored by verify unless --meta.
rm -rf mroot && mkdir -p mroot/d
printf 'one\n' >mroot/one
printf 'two\n' >mroot/d/two
touch -d @1600000000 mroot/one
run "$M2M" manifest create --root mroot --version 1 --meta --attr -o MA
expect_run "manifest create --meta --attr: exit 0" 0 'wrote MA: 2 files'
expect_eq "'# attr' of one is stat's uid gid mtime" "$(grep -x '# attr .* one' MA)" \
    "# attr $(stat -c '%u %g %Y' mroot/one) one"
expect_eq "'# attr' of d/two is stat's uid gid mtime" "$(grep -x '# attr .* d/two' MA)" \
    "# attr $(stat -c '%u %g %Y' mroot/d/two) d/two"
expect_eq "each '# attr' line follows its '# meta' line" \
    "$(grep -A1 '^# meta' MA | grep -c '^# attr')" "2"
out=$(cd mroot && sha256sum -c --strict ../MA 2>&1)
expect_eq "sha256sum -c --strict still reads the manifest" "$(tr '\n' ' ' <<<"$out")" \
    "d/two: OK one: OK "
"$M2M" manifest sign --key k.pem MA 2>/dev/null
run "$M2M" manifest create --root mroot --version 1 --meta -o MN
check "without --attr: no '# attr' line (the format of older manifests)" \
    bash -c "! grep -q '^# attr' MN"
run "$M2M" verify --manifest MA --pubkey k.pub --root mroot --meta
expect_run "verify --meta of the unchanged tree: exit 0" 0 '2 ok'
touch -d @1600000001 mroot/one
run "$M2M" verify --manifest MA --pubkey k.pub --root mroot --meta
expect_run "verify --meta notices a changed mtime: exit 1" 1 \
    '^wrong-attr +one +mtime 1600000001, expected 1600000000$'
run "$M2M" verify --manifest MA --pubkey k.pub --root mroot
expect_run "without --meta the mtime is not checked: exit 0" 0 '2 ok'
touch -d @1600000000 mroot/one
if [[ $(id -u) -eq 0 ]]; then
    chown 4242:4343 mroot/d/two
    run "$M2M" verify --manifest MA --pubkey k.pub --root mroot --meta --json
    expect_run "verify --meta notices a changed owner and group (JSON)" 1 \
        '"path":"d/two","status":"wrong-attr","detail":"owner 4242, expected 0; group 4343, expected 0"'
    chown 0:0 mroot/d/two
else
    echo "# not root: the owner check is covered by the library test only"
fi
printf 'changed\n' >mroot/one
touch -d @1600000000 mroot/one
run "$M2M" verify --manifest MA --pubkey k.pub --root mroot --meta
expect_run "content changes still win over attributes: modified" 1 '^modified +one'

finish
