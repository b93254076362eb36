#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The integrity gate of the provider with a device policy file (one file:
# [session] read by the provider, [integrity] and [rules] by libm2msec):
# require_integrity = yes makes M2M-SESSION-KDF derive only while the status
# record written by m2msec_integrity_status_write() (tests/actions/status_helper) says
# passed, its HMAC-SHA-256 under the device key verifies, it is at most
# max_status_age seconds old, and it is for a manifest version at least the
# one in manifest_state. Missing, failed, hand-edited, truncated, symlinked,
# other-key, stale, future-dated, older-manifest and "verifying" records are
# refused with "device integrity not verified". m2msec verify writes
# "verifying" before it checks anything: while its remediation stalls, and
# after it is killed, no key is derived. The record's MAC is also checked with
# the stock `openssl mac`.
set -euo pipefail
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"

: "${M2M_BUILD_DIR:?M2M_BUILD_DIR must name the build directory}"
HELPER=$M2M_BUILD_DIR/tests/actions/status_helper
M2M=${M2M_TOOL:-$M2M_BUILD_DIR/tools/m2msec}
KEY=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f
OTHER_KEY=ff0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f
K16=000102030405060708090a0b0c0d0e0f
IDS=(-kdfopt purpose:record -kdfopt originator:CAE01 -kdfopt receiver:CSE01)
STATUS=$TMP/integrity.status
STATE=$TMP/manifest.state

# Background processes of this test (the stalling server, a verifier) end with it.
BG_PIDS=()
cleanup() {
    local p
    for p in "${BG_PIDS[@]}"; do
        kill -9 "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    rm -rf "$TMP"
}
trap cleanup EXIT

if [[ ! -x $HELPER || ! -x $M2M ]]; then
    not_ok "status helper and m2msec built ($HELPER, $M2M)"
    finish
    exit 1
fi

# The device key file: hex, white space ignored.
printf '%s\n' "${KEY:0:32}" "${KEY:32}" >"$TMP/device.key"

# write_state VERSION: the manifest rollback state as m2msec verify --state writes it.
write_state() {
    printf 'm2msec-manifest-state 1\nversion %s\n' "$1" >"$STATE"
}

# write_policy FILE [SESSION-LINES...]: the device policy, [session] with the gate's keys.
write_policy() {
    local file=$1
    shift
    {
        echo "# device policy: one file for the provider and the verifier"
        echo "[session]"
        echo "require_integrity = yes"
        echo "integrity_status = $STATUS"
        echo "device_key_file = $TMP/device.key"
        echo "manifest_state = $STATE"
        printf '%s\n' "$@"
        echo
        echo "[integrity]"
        echo "default_action = deny"
        echo "quarantine_dir = $TMP/quarantine"
        echo "log = $TMP/actions.log"
        echo "repository = https://updates.example.com/device/"
        echo
        echo "[rules]"
        echo "var/log/* = alert"
        echo "etc/*.conf = remediate"
        echo "bin/* = deny"
    } >"$file"
}
write_policy "$TMP/policy.cnf"

# derive [CONF]: M2M-SESSION-KDF through OPENSSL_CONF=CONF; sets RC, $TMP/out, $TMP/err.
derive() {
    RC=0
    OPENSSL_CONF=${1:-$CNF} "$OPENSSL" kdf -keylen 32 -kdfopt "hexkey:$K16" "${IDS[@]}" \
        M2M-SESSION-KDF >"$TMP/out" 2>"$TMP/err" || RC=$?
}

# expect_refused LABEL TEXT...: non-zero exit, no key, "device integrity not verified" and TEXTs.
expect_refused() {
    local label=$1
    shift
    expect_no_key "$label: refused, no key printed"
    expect_stderr "$label" "device integrity not verified" "$@"
}

# passed_at VERSION TIME: a passed record for VERSION dated TIME.
passed_at() {
    "$HELPER" "$STATUS" "$KEY" passed "$1" "$2"
}

now() { date +%s; }

CNF=$TMP/openssl.cnf
PLAIN=$TMP/plain.cnf
write_conf "$CNF" 1 "policy = $TMP/policy.cnf"
write_conf "$PLAIN" 1
write_state 12

echo "# the policy file serves both readers"
expect_eq "provider active with require_integrity from the policy file" \
    "$(provider_status "$CNF")" "active"
got=$("$HELPER" --policy "$TMP/policy.cnf" var/log/messages etc/app.conf bin/app lib/x.so |
    tr '\n' ' ')
expect_eq "m2msec_policy_load reads [integrity] and [rules] of the same file" "$got" \
    "var/log/messages alert etc/app.conf remediate bin/app deny lib/x.so deny "

echo "# examples/policy.cnf: valid for both readers (its three paths moved here)"
sed -e "s|^integrity_status = .*|integrity_status = $STATUS|" \
    -e "s|^device_key_file = .*|device_key_file = $TMP/device.key|" \
    -e "s|^manifest_state = .*|manifest_state = $STATE|" \
    "$M2M_SOURCE_DIR/examples/policy.cnf" >"$TMP/example-policy.cnf"
write_conf "$TMP/example.cnf" 1 "policy = $TMP/example-policy.cnf"
expect_eq "provider active with examples/policy.cnf" "$(provider_status "$TMP/example.cnf")" \
    "active"
RC=0
OPENSSL_CONF=$TMP/example.cnf "$OPENSSL" kdf -keylen 32 -kdfopt "hexkey:$K16" "${IDS[@]}" \
    -kdfopt aead:M2M-REC-AES-256-GCM M2M-SESSION-KDF >"$TMP/out" 2>"$TMP/err" || RC=$?
expect_refused "examples/policy.cnf, no status record"
got=$("$HELPER" --policy "$M2M_SOURCE_DIR/examples/policy.cnf" lib/plugins/x.so lib/y.so |
    tr '\n' ' ')
expect_eq "m2msec_policy_load reads examples/policy.cnf" "$got" \
    "lib/plugins/x.so quarantine lib/y.so deny "

echo "# require_integrity without manifest_state: the provider refuses to load"
{
    echo "[session]"
    echo "require_integrity = yes"
    echo "integrity_status = $STATUS"
    echo "device_key_file = $TMP/device.key"
} >"$TMP/no-state-policy.cnf"
write_conf "$TMP/no-state.cnf" "" "policy = $TMP/no-state-policy.cnf"
RC=0
OPENSSL_CONF=$TMP/no-state.cnf "$OPENSSL" list -providers -provider-path "$M2M_MODULES" \
    -provider m2msec >"$TMP/out" 2>"$TMP/err" || RC=$?
expect_stderr "no manifest_state" "unable to load provider m2msec" \
    "require_integrity needs integrity_status, device_key_file and manifest_state" \
    "missing: manifest_state"

echo "# the reference: the same derivation without the gate"
derive "$PLAIN"
expect_key "no policy file: M2M-SESSION-KDF derives"
REF=$(norm <"$TMP/out")

echo "# no status record"
derive
expect_refused "no status record" "no device integrity status at $STATUS"

echo "# status written by m2msec_integrity_status_write: passed, now"
passed_at 12 "$(now)"
derive
expect_key "passed record: M2M-SESSION-KDF derives"
expect_eq "... the same key as without the gate" "$(norm <"$TMP/out")" "$REF"
expect_eq "record mode 0644" "$(stat -c %a "$STATUS")" "644"
expect_eq "record lines" "$(head -n 3 "$STATUS" | tr '\n' '|')" \
    "m2msec-integrity-status 2|result passed|manifest-version 12|"
# independently: HMAC-SHA-256 of the first four lines with the stock openssl
head -n 4 "$STATUS" >"$TMP/body"
expect_eq "mac line = openssl mac HMAC-SHA256 over the body" \
    "$(sed -n 's/^mac //p' "$STATUS")" "$(stock_hmac "$KEY" "$TMP/body")"
cp "$STATUS" "$TMP/passed.copy"

echo "# failed"
"$HELPER" "$STATUS" "$KEY" failed 13
derive
expect_refused "failed record" "failed integrity verification (manifest version 13)"

echo "# edited by hand: failed -> passed"
sed -i 's/^result failed$/result passed/' "$STATUS"
expect_eq "the edit took" "$(sed -n 2p "$STATUS")" "result passed"
derive
expect_refused "hand-edited record" "MAC does not verify"

echo "# a passed record under another device key"
"$HELPER" "$STATUS" "$OTHER_KEY" passed 12
derive
expect_refused "other key" "MAC does not verify"

echo "# truncated record"
head -n 4 "$TMP/passed.copy" >"$STATUS"
derive
expect_refused "record without mac line" "malformed"

echo "# a format-1 record (no 'verifying' state) with a right MAC"
printf 'm2msec-integrity-status 1\nresult passed\nmanifest-version 12\ntime %s\n' "$(now)" \
    >"$TMP/v1body"
{
    cat "$TMP/v1body"
    printf 'mac %s\n' "$(stock_hmac "$KEY" "$TMP/v1body")"
} >"$STATUS"
derive
expect_refused "format 1 record" "format 1 is no longer accepted"

echo "# a symlink to a valid record is not followed"
rm -f "$STATUS"
cp "$TMP/passed.copy" "$TMP/passed.link-target"
ln -s "$TMP/passed.link-target" "$STATUS"
derive
expect_refused "symlinked record" "is a symlink (not followed"
rm -f "$STATUS"

echo "# passed again: derives again"
passed_at 14 "$(now)"
derive
expect_key "passed record again: derives"
expect_eq "... the same key" "$(norm <"$TMP/out")" "$REF"

echo "# the gate covers M2M-SESSION-KDF only: ONEM2M-KDF with a failed record"
"$HELPER" "$STATUS" "$KEY" failed 15
RC=0
OPENSSL_CONF=$CNF "$OPENSSL" kdf -keylen 32 -kdfopt derivation:km -kdfopt "hexkey:$K16" \
    -kdfopt maf-id:MAF1 ONEM2M-KDF >"$TMP/out" 2>"$TMP/err" || RC=$?
expect_key "ONEM2M-KDF is not gated"

# ---------------------------------------------------------------- a stale "passed" (9.5)
echo "# a passed record older than max_status_age (default 3600 s) is refused"
passed_at 12 $(($(now) - 7200))
derive
expect_refused "passed 7200 s ago, default max_status_age" \
    "longer than the policy's max_status_age of 3600 s"
passed_at 12 $(($(now) - 60))
derive
expect_key "passed 60 s ago: derives"

echo "# max_status_age = 600 in [session]"
write_policy "$TMP/policy600.cnf" "max_status_age = 600"
write_conf "$TMP/cnf600.cnf" 1 "policy = $TMP/policy600.cnf"
passed_at 12 $(($(now) - 1800))
derive "$TMP/cnf600.cnf"
expect_refused "passed 1800 s ago, max_status_age 600" "max_status_age of 600 s"
passed_at 12 $(($(now) - 30))
derive "$TMP/cnf600.cnf"
expect_key "passed 30 s ago, max_status_age 600: derives"

echo "# a record dated in the future (the clock went back) is refused"
passed_at 12 $(($(now) + 7200))
derive
expect_refused "record dated 2 h ahead" "after the current time"

echo "# bound to the manifest version: older than manifest_state is refused"
write_state 13
passed_at 12 "$(now)"
derive
expect_refused "record for version 12, state 13" \
    "is for manifest version 12, but version 13 has been accepted"
passed_at 13 "$(now)"
derive
expect_key "record for version 13, state 13: derives"
passed_at 14 "$(now)"
derive
expect_key "record for version 14, state 13: derives"
rm -f "$STATE"
derive
expect_refused "no manifest state" "no manifest state at $STATE"
printf 'm2msec-manifest-state 1\nversion 013\n' >"$STATE"
derive
expect_refused "malformed manifest state" "is malformed"
write_state 12

# ---------------------------------------------------------------- m2msec verify invalidates first
echo "# m2msec verify writes 'verifying' before anything is checked"
mkdir -p "$TMP/root/bin" "$TMP/root/etc" "$TMP/quarantine"
printf 'app\n' >"$TMP/root/bin/app"
printf 'a = 1\n' >"$TMP/root/etc/main.conf"
"$OPENSSL" genpkey -algorithm ed25519 -out "$TMP/signer.pem" 2>/dev/null
"$OPENSSL" pkey -in "$TMP/signer.pem" -pubout -out "$TMP/signer.pub"
"$M2M" manifest create --root "$TMP/root" --version 12 -o "$TMP/MANIFEST" >/dev/null
"$M2M" manifest sign --key "$TMP/signer.pem" "$TMP/MANIFEST" >/dev/null
VERIFY=(verify --manifest "$TMP/MANIFEST" --pubkey "$TMP/signer.pub" --root "$TMP/root"
    --state "$STATE" --status-file "$STATUS" --device-key-file "$TMP/device.key")
run "$M2M" "${VERIFY[@]}" --policy "$TMP/policy.cnf"
expect_run "m2msec verify of the intact tree: exit 0" 0 'status record .*: passed'
derive
expect_key "after m2msec verify passed: derives"

run "$M2M" verify --manifest "$TMP/MANIFEST" --pubkey "$TMP/signer.pub" \
    --root "$TMP/no-such-root" --state "$STATE" --status-file "$STATUS" \
    --device-key-file "$TMP/device.key"
expect_run "m2msec verify of a root that cannot be opened: exit 2" 2 'no-such-root'
expect_eq "... the record says verifying" "$(sed -n 2p "$STATUS")" "result verifying"
derive
expect_refused "verification that stopped early" "has not finished"
run "$M2M" status --conf "$CNF"
expect_run "m2msec status: the record is verifying, exit 1" 1 'VERIFYING since'

echo "# while a remediation stalls, and after the verifier is killed: no keys"
run "$M2M" "${VERIFY[@]}" --policy "$TMP/policy.cnf"
expect_run "passed again: exit 0" 0 'status record .*: passed'
# a repository server that accepts the connection and never answers
python3 -c '
import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 0))
s.listen(4)
print(s.getsockname()[1], flush=True)
c, _ = s.accept()
open(sys.argv[1], "w").write("connected\n")
time.sleep(300)
' "$TMP/connected" >"$TMP/port" &
BG_PIDS+=($!)
for _ in $(seq 100); do [[ -s $TMP/port ]] && break; sleep 0.1; done
PORT=$(cat "$TMP/port")
sed -e "s|^repository = .*|repository = http://127.0.0.1:$PORT/repo|" \
    "$TMP/policy.cnf" >"$TMP/stall-policy.cnf"
printf 'a = 2\n' >"$TMP/root/etc/main.conf" # tampered: the policy remediates etc/*.conf
"$M2M" "${VERIFY[@]}" --policy "$TMP/stall-policy.cnf" >"$TMP/stall.out" 2>&1 &
VPID=$!
BG_PIDS+=("$VPID")
for _ in $(seq 300); do [[ -s $TMP/connected ]] && break; sleep 0.1; done
check "the verifier is downloading from the stalled repository" [ -s "$TMP/connected" ]
check "... and still running" kill -0 "$VPID"
expect_eq "the record says verifying during the remediation" "$(sed -n 2p "$STATUS")" \
    "result verifying"
derive
expect_refused "session keys during a stalled remediation" "has not finished"
kill -9 "$VPID"
wait "$VPID" 2>/dev/null || true
derive
expect_refused "session keys after the verifier was killed" "has not finished"
printf 'a = 1\n' >"$TMP/root/etc/main.conf"
# the killed remediation left its temporary file (docs/POLICY.md 4.3, "Limits")
rm -f "$TMP"/root/etc/.m2msec-*.tmp
run "$M2M" "${VERIFY[@]}" --policy "$TMP/policy.cnf"
expect_run "verified again: exit 0" 0 'status record .*: passed'
derive
expect_key "verified again: derives"
expect_eq "... the same key" "$(norm <"$TMP/out")" "$REF"

finish
