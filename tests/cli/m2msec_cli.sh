#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The m2msec tool end to end: every subcommand's --help, usage errors (exit
# 2), manifest create -> sign -> verify checked by the stock tools
# (openssl pkeyutl / dgst, sha256sum -c), then each integrity failure with
# its exact exit code and message: a changed byte, a truncated file, a
# symlink, an unreadable file, a missing and an extra file, the wrong
# signer, an expired and a rolled-back manifest; JSON output, ECDSA P-256,
# policy actions and the authenticated status record.
set -euo pipefail
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"

M2M=${M2M_TOOL:-${M2M_BUILD_DIR:?}/tools/m2msec}

# ---------------------------------------------------------------- help
for sub in "" "manifest" "manifest create" "manifest sign" "manifest verify" "verify" "exec" \
    "provider-install" "status"; do
    # shellcheck disable=SC2086 # split the subcommand words on purpose
    run "$M2M" $sub --help
    expect_run "m2msec $sub --help exits 0 and shows usage and exit codes" 0 \
        '^usage: m2msec.*'"$(printf '%s' "${sub%% *}")"
    if grep -qi 'exit codes' <<<"$out"; then
        ok "m2msec $sub --help names the exit codes"
    else
        not_ok "m2msec $sub --help names the exit codes"
    fi
done

# ---------------------------------------------------------------- usage errors (2)
run "$M2M"
expect_run "no command: exit 2" 2 'usage: m2msec'
run "$M2M" frobnicate
expect_run "unknown command: exit 2" 2 "unknown command 'frobnicate'"
run "$M2M" manifest frob
expect_run "unknown manifest subcommand: exit 2" 2 "unknown manifest subcommand"
# every command with subcommands names an unknown one escaped, never with its raw control bytes
for c in manifest keygen state esprim record; do
    run "$M2M" "$c" $'fr\033[2Job'
    expect_run "unknown $c subcommand, escaped: exit 2" 2 "unknown $c subcommand 'fr\\\\x1b\\[2Job'"
    if grep -q $'\033' "$TMP/run.err"; then
        not_ok "unknown $c subcommand: no raw escape byte on stderr"
    else
        ok "unknown $c subcommand: no raw escape byte on stderr"
    fi
done
run "$M2M" manifest create --version 1 -o "$TMP/x"
expect_run "manifest create without --root: exit 2" 2 'required'
run "$M2M" manifest create --root "$TMP" --version one -o "$TMP/x"
expect_run "manifest create --version one: exit 2" 2 "not a decimal number"
run "$M2M" manifest create --root "$TMP" --version 1 --digest md5 -o "$TMP/x"
expect_run "manifest create --digest md5: exit 2" 2 "expected sha256, sha384 or sha512"
run "$M2M" manifest create --root "$TMP" --version 1 --jobs 999 -o "$TMP/x"
expect_run "--jobs 999: exit 2" 2 "--jobs '999'"
run "$M2M" verify --bogus
expect_run "verify --bogus: exit 2" 2 "unknown option or missing value: --bogus"
run "$M2M" verify --manifest "$TMP/x" --pubkey "$TMP/x" --root "$TMP" --status-file "$TMP/s"
expect_run "verify --status-file without --device-key-file: exit 2" 2 "go together"
run "$M2M" exec --manifest "$TMP/x" --pubkey "$TMP/x" --root "$TMP"
expect_run "exec without a program: exit 2" 2 "no PROGRAM"
run "$M2M" manifest sign "$TMP/x"
expect_run "manifest sign without --key: exit 2" 2 "--key is required"
run "$M2M" status --conf "$TMP/does-not-exist.cnf"
expect_run "status with an unreadable configuration: exit 2" 2 "cannot be read"
check "nothing was written by the refused commands" [ ! -e "$TMP/x" ]

# ---------------------------------------------------------------- round trip
cd "$TMP"
mkdir -p root/bin root/etc/app root/lib
printf 'hello\n' >root/bin/app
printf 'key = value\n' >root/etc/app/conf
head -c 300000 /dev/urandom >root/lib/libdata.so
printf 'a file name with blanks\n' >"root/etc/with blanks"
chmod 0755 root/bin/app
"$OPENSSL" genpkey -algorithm ed25519 -out ed.pem 2>/dev/null
"$OPENSSL" pkey -in ed.pem -pubout -out ed.pub
"$OPENSSL" genpkey -algorithm ed25519 -out other.pem 2>/dev/null

run "$M2M" manifest create --root root --version 5 --meta --jobs 2 -o M
expect_run "manifest create: exit 0" 0 'wrote M: 4 files, SHA256, version 5'
run "$M2M" manifest sign --key ed.pem M
expect_run "manifest sign (Ed25519): exit 0, M.sig" 0 'wrote M.sig'
expect_eq "stock openssl pkeyutl -verify -rawin accepts the signature" \
    "$("$OPENSSL" pkeyutl -verify -pubin -inkey ed.pub -rawin -in M -sigfile M.sig 2>&1)" \
    "Signature Verified Successfully"
run bash -c 'cd root && sha256sum -c --strict ../M'
expect_run "sha256sum -c --strict passes in the root" 0 'bin/app: OK'
run "$M2M" manifest verify --pubkey ed.pub M
expect_run "manifest verify: exit 0, verdict ok" 0 '^M: ok \(version 5, .*SHA256, 4 files\)'
run "$M2M" verify --manifest M --pubkey ed.pub --root root
expect_run "verify of the intact tree: exit 0" 0 'summary: 4 files, 4 ok; 0 failures'

# verify_case LABEL RC STATUS PATH [DETAIL-REGEX]: verify, expect the table line.
verify_case() {
    run "$M2M" verify --manifest M --pubkey ed.pub --root root
    expect_run "$1: exit $2, '$3 $4'" "$2" "^$3 +$4( |\$)${5:-}"
}

cp root/etc/app/conf conf.bak
printf 'key = valuE\n' >root/etc/app/conf
verify_case "a changed byte" 1 modified etc/app/conf ' *digest differs'
if grep -q "verification failed: 1 file" <<<"$err"; then
    ok "a changed byte: stderr says the verification failed"
else
    not_ok "a changed byte: stderr says the verification failed"
    diag "$err"
fi
cp conf.bak root/etc/app/conf

cp root/lib/libdata.so data.bak
truncate -s 299999 root/lib/libdata.so
verify_case "a truncated file" 1 modified lib/libdata.so ' *expected 300000 bytes, found 299999'
cp data.bak root/lib/libdata.so

mv root/bin/app app.bak
ln -s ../etc/app/conf root/bin/app
verify_case "a file replaced by a symlink" 1 wrong-type bin/app
rm root/bin/app
verify_case "a missing file" 1 missing bin/app
mv app.bak root/bin/app

# Unreadable: root reads a mode-000 file, so as root the tool runs as nobody
# over a world-readable copy of the tree (the engine's CUnit tests also fake
# an EIO). Without setpriv, the case is skipped and says so.
cp -a root uroot
chmod 000 uroot/etc/app/conf
chmod 755 "$TMP"
chmod 644 M M.sig ed.pub
if [[ $EUID -ne 0 ]]; then
    run "$M2M" verify --manifest M --pubkey ed.pub --root uroot
    expect_run "an unreadable file" 1 '^unreadable +etc/app/conf'
elif command -v setpriv >/dev/null &&
    setpriv --reuid=65534 --regid=65534 --clear-groups "$M2M" --version >/dev/null 2>&1; then
    run setpriv --reuid=65534 --regid=65534 --clear-groups \
        "$M2M" verify --manifest M --pubkey ed.pub --root uroot
    expect_run "an unreadable file (as nobody)" 1 '^unreadable +etc/app/conf'
else
    ok "# SKIP an unreadable file: running as root without setpriv (CUnit covers it)"
fi
rm -rf uroot

printf 'new\n' >root/etc/new-file
verify_case "an extra file" 1 extra etc/new-file
run "$M2M" verify --manifest M --pubkey ed.pub --root root --no-extra
expect_run "an extra file with --no-extra: exit 0" 0 'summary: 4 files, 4 ok'
rm root/etc/new-file

# the manifest and its signature below the root are not extra
cp M M.sig root/
run "$M2M" verify --manifest root/M --pubkey ed.pub --root root
expect_run "the manifest and its signature below the root are not extra" 0 '4 ok; 0 failures'
rm root/M root/M.sig

run "$M2M" verify --manifest M --pubkey ed.pub --root root --json
expect_run "--json: exit 0" 0 '"summary":'
if command -v python3 >/dev/null && python3 -c 'import json' 2>/dev/null; then
    if printf '%s' "$out" | python3 -m json.tool >/dev/null 2>&1; then
        ok "--json output parses (python3 -m json.tool)"
    else
        not_ok "--json output parses (python3 -m json.tool)"
        diag "$out"
    fi
else
    expect_eq "--json output looks like JSON (no python3)" \
        "$(printf '%s' "$out" | head -c 1)$(printf '%s' "$out" | tail -c 1)" "{}"
fi
printf 'x' >>root/bin/app
run "$M2M" verify --manifest M --pubkey ed.pub --root root --json
expect_run "--json with a failure: exit 1, status in the document" 1 \
    '"path":"bin/app","status":"modified"'
printf 'hello\n' >root/bin/app

# ---------------------------------------------------------------- manifest refusals
cp M M.keep
cp M.sig M.sig.keep
run "$M2M" manifest sign --key other.pem M
run "$M2M" manifest verify --pubkey ed.pub M
expect_run "signed by the wrong key: manifest verify exit 1" 1 '^M: bad manifest signature$'
run "$M2M" verify --manifest M --pubkey ed.pub --root root
expect_run "signed by the wrong key: verify exit 1" 1 \
    'manifest M refused: bad manifest signature'
cp M.sig.keep M.sig

printf '# tampered\n' >>M
run "$M2M" verify --manifest M --pubkey ed.pub --root root
expect_run "a manifest changed after signing: exit 1" 1 'refused: bad manifest signature'
cp M.keep M

rm M.sig
run "$M2M" manifest verify --pubkey ed.pub M
expect_run "no signature file: exit 1" 1 'not signed'
cp M.sig.keep M.sig

run "$M2M" manifest create --root root --version 5 --expires-at 1000 -o Mexp
run "$M2M" manifest sign --key ed.pem Mexp
run "$M2M" verify --manifest Mexp --pubkey ed.pub --root root
expect_run "an expired manifest: exit 1" 1 'refused: manifest expired'
run "$M2M" manifest verify --pubkey ed.pub Mexp
expect_run "an expired manifest: manifest verify exit 1" 1 'expired at 1000'

run "$M2M" verify --manifest M --pubkey ed.pub --root root --state state
expect_run "version 5 with a new rollback state: exit 0" 0 '4 ok'
expect_eq "the rollback state records version 5" "$(grep '^version' state)" "version 5"
run "$M2M" manifest create --root root --version 4 -o M4
run "$M2M" manifest sign --key ed.pem M4
run "$M2M" verify --manifest M4 --pubkey ed.pub --root root --state state
expect_run "a rolled-back manifest (4 after 5): exit 1" 1 'refused: manifest rollback'
run "$M2M" manifest verify --pubkey ed.pub --state state M4
expect_run "a rolled-back manifest: manifest verify exit 1" 1 'lower than the last accepted version 5'
expect_eq "the rollback state still says 5" "$(grep '^version' state)" "version 5"

run "$M2M" verify --manifest missing-manifest --pubkey ed.pub --root root
expect_run "a missing manifest: exit 2" 2 'missing-manifest'

# ---------------------------------------------------------------- ECDSA P-256, SHA-512
"$OPENSSL" genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ec.pem 2>/dev/null
"$OPENSSL" pkey -in ec.pem -pubout -out ec.pub
run "$M2M" manifest create --root root --version 6 --digest sha512 -o M512
expect_run "manifest create --digest sha512" 0 'SHA512'
run "$M2M" manifest sign --key ec.pem M512 -o M512.ecsig
expect_run "manifest sign (ECDSA P-256) -o" 0 'wrote M512.ecsig'
expect_eq "stock openssl dgst -sha256 -verify accepts the ECDSA signature" \
    "$("$OPENSSL" dgst -sha256 -verify ec.pub -signature M512.ecsig M512 2>&1)" "Verified OK"
run bash -c 'cd root && sha512sum -c --strict ../M512'
expect_run "sha512sum -c --strict passes" 0 'OK'
run "$M2M" verify --manifest M512 --sig M512.ecsig --pubkey ec.pub --root root
expect_run "verify with an ECDSA P-256 signature: exit 0" 0 '4 ok'
run "$M2M" verify --manifest M512 --sig M512.ecsig --pubkey ed.pub --root root
expect_run "ECDSA signature, Ed25519 key: exit 1" 1 'refused'
"$OPENSSL" genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out p384.pem 2>/dev/null
run "$M2M" manifest sign --key p384.pem M512 -o M512.p384
expect_run "a P-384 key is refused: exit 2" 2 'neither Ed25519 nor ECDSA P-256'
check "no signature left behind by the refused key" [ ! -e M512.p384 ]

# ---------------------------------------------------------------- status record, policy
DEVKEY=00112233445566778899aabbccddeeff0123456789abcdef0123456789abcdef
printf '%s\n' "$DEVKEY" >dev.key
run "$M2M" verify --manifest M --pubkey ed.pub --root root --status-file status --device-key-file dev.key
expect_run "verify writes the status record: exit 0" 0 'status record status: passed'
expect_eq "the record says passed" "$(sed -n 2p status)" "result passed"
expect_eq "the record's MAC is HMAC-SHA-256 under the device key" \
    "$(sed -n 5p status | cut -d' ' -f2)" "$(head -4 status | stock_hmac "$DEVKEY" /dev/stdin)"

"$M2M" provider-install --module "$M2M_MODULES/m2msec.so" -o conf.cnf 2>/dev/null
run "$M2M" status --conf conf.cnf --status-file status --device-key-file dev.key
expect_run "status: provider active, record passed: exit 0" 0 'status active'
if grep -q 'integrity status: .*status: passed, manifest version 5' <<<"$out"; then
    ok "status shows the record: passed, manifest version 5"
else
    not_ok "status shows the record: passed, manifest version 5"
    diag "$out"
fi

printf 'x' >>root/bin/app
run "$M2M" verify --manifest M --pubkey ed.pub --root root --status-file status --device-key-file dev.key
expect_run "a failed verification writes a failed record: exit 1" 1 'status: failed'
run "$M2M" status --conf conf.cnf --status-file status --device-key-file dev.key
expect_run "status with a failed record: exit 1" 1 'status: FAILED'

sed -i 's/^result failed/result passed/' status
run "$M2M" status --conf conf.cnf --status-file status --device-key-file dev.key
expect_run "status with a forged record: exit 1" 1 'MAC does not verify'
rm status
run "$M2M" status --conf conf.cnf --status-file status --device-key-file dev.key
expect_run "status with a missing record: exit 1" 1 'missing'

# policy: quarantine lets the device run, so the record says passed (the status
# follows the policy's verdict: only a denied device is refused session keys)
mkdir -p quarantine repo/bin
printf 'hello\n' >repo/bin/app
cat >policy.cnf <<EOF
[integrity]
default_action = deny
quarantine_dir = $TMP/quarantine
log = $TMP/actions.log
repository = $TMP/repo

[rules]
bin/* = remediate
etc/* = quarantine
EOF
run "$M2M" verify --manifest M --pubkey ed.pub --root root --policy policy.cnf \
    --status-file status --device-key-file dev.key
expect_run "policy remediate: the file is replaced, exit 0, record passed" 0 \
    'status record status: passed'
expect_eq "the remediated file is the verified copy" "$(cat root/bin/app)" "hello"
printf 'new\n' >root/etc/app/conf
run "$M2M" verify --manifest M --pubkey ed.pub --root root --policy policy.cnf \
    --status-file status --device-key-file dev.key
expect_run "policy quarantine: exit 0 (device may run), record passed" 0 \
    'status record status: passed'
check "the quarantined file is gone from the root" [ ! -e root/etc/app/conf ]
cp conf.bak root/etc/app/conf
printf 'x' >>root/lib/libdata.so
run "$M2M" verify --manifest M --pubkey ed.pub --root root --policy policy.cnf
expect_run "policy deny (default action): exit 1" 1 '^modified +lib/libdata.so'
cp data.bak root/lib/libdata.so

# no key material in anything printed
if grep -qi "$DEVKEY" "$TMP/all-output"; then
    not_ok "the device key is never printed (by any command above)"
else
    ok "the device key is never printed (by any command above)"
fi

finish
