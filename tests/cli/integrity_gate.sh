#!/bin/bash
# The integrity gate of the provider with a device policy file (one file:
# [session] read by the provider, [integrity] and [rules] by libm2msec):
# require_integrity = yes makes M2M-SESSION-KDF derive only while the status
# record written by m2msec_status_write() (tests/actions/status_helper) says
# passed and its HMAC-SHA-256 under the device key verifies. Missing, failed,
# hand-edited, truncated, symlinked or other-key records are refused with
# "device integrity not verified". The record's MAC is also checked with the
# stock `openssl mac`.
set -euo pipefail
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"

: "${M2M_BUILD_DIR:?M2M_BUILD_DIR must name the build directory}"
HELPER=$M2M_BUILD_DIR/tests/actions/status_helper
KEY=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f
OTHER_KEY=ff0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f
K16=000102030405060708090a0b0c0d0e0f
IDS=(-kdfopt purpose:record -kdfopt originator:CAE01 -kdfopt receiver:CSE01)
STATUS=$TMP/integrity.status

if [[ ! -x $HELPER ]]; then
    not_ok "status helper built ($HELPER)"
    finish
    exit 1
fi

# The device key file: hex, white space ignored.
printf '%s\n' "${KEY:0:32}" "${KEY:32}" >"$TMP/device.key"

cat >"$TMP/policy.cnf" <<POLICY
# device policy: one file for the provider and the verifier
[session]
require_integrity = yes
integrity_status = $STATUS
device_key_file = $TMP/device.key

[integrity]
default_action = deny
quarantine_dir = $TMP/quarantine
log = $TMP/actions.log
repository = https://updates.example.com/device/

[rules]
var/log/* = alert
etc/*.conf = remediate
bin/* = deny
POLICY

# derive CONF: M2M-SESSION-KDF through OPENSSL_CONF=CONF; sets RC, $TMP/out, $TMP/err.
derive() {
    RC=0
    OPENSSL_CONF=$1 "$OPENSSL" kdf -keylen 32 -kdfopt "hexkey:$K16" "${IDS[@]}" \
        M2M-SESSION-KDF >"$TMP/out" 2>"$TMP/err" || RC=$?
}

# expect_refused LABEL TEXT...: non-zero exit, no key, "device integrity not verified" and TEXTs.
expect_refused() {
    local label=$1
    shift
    expect_no_key "$label: refused, no key printed"
    expect_stderr "$label" "device integrity not verified" "$@"
}

CNF=$TMP/openssl.cnf
PLAIN=$TMP/plain.cnf
write_conf "$CNF" 1 "policy = $TMP/policy.cnf"
write_conf "$PLAIN" 1

echo "# the policy file serves both readers"
expect_eq "provider active with require_integrity from the policy file" \
    "$(provider_status "$CNF")" "active"
got=$("$HELPER" --policy "$TMP/policy.cnf" var/log/messages etc/app.conf bin/app lib/x.so |
    tr '\n' ' ')
expect_eq "m2msec_policy_load reads [integrity] and [rules] of the same file" "$got" \
    "var/log/messages alert etc/app.conf remediate bin/app deny lib/x.so deny "

echo "# examples/policy.cnf: valid for both readers (its two paths moved here)"
sed -e "s|^integrity_status = .*|integrity_status = $STATUS|" \
    -e "s|^device_key_file = .*|device_key_file = $TMP/device.key|" \
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

echo "# the reference: the same derivation without the gate"
derive "$PLAIN"
expect_key "no policy file: M2M-SESSION-KDF derives"
REF=$(norm <"$TMP/out")

echo "# no status record"
derive "$CNF"
expect_refused "no status record" "no device integrity status at $STATUS"

echo "# status written by m2msec_status_write: passed"
"$HELPER" "$STATUS" "$KEY" passed 12
derive "$CNF"
expect_key "passed record: M2M-SESSION-KDF derives"
expect_eq "... the same key as without the gate" "$(norm <"$TMP/out")" "$REF"
expect_eq "record mode 0644" "$(stat -c %a "$STATUS")" "644"
expect_eq "record lines" "$(head -n 3 "$STATUS" | tr '\n' '|')" \
    "m2msec-integrity-status 1|result passed|manifest-version 12|"
# independently: HMAC-SHA-256 of the first four lines with the stock openssl
head -n 4 "$STATUS" >"$TMP/body"
expect_eq "mac line = openssl mac HMAC-SHA256 over the body" \
    "$(sed -n 's/^mac //p' "$STATUS")" "$(stock_hmac "$KEY" "$TMP/body")"
cp "$STATUS" "$TMP/passed.copy"

echo "# failed"
"$HELPER" "$STATUS" "$KEY" failed 13
derive "$CNF"
expect_refused "failed record" "failed integrity verification (manifest version 13)"

echo "# edited by hand: failed -> passed"
sed -i 's/^result failed$/result passed/' "$STATUS"
expect_eq "the edit took" "$(sed -n 2p "$STATUS")" "result passed"
derive "$CNF"
expect_refused "hand-edited record" "MAC does not verify"

echo "# a passed record under another device key"
"$HELPER" "$STATUS" "$OTHER_KEY" passed 12
derive "$CNF"
expect_refused "other key" "MAC does not verify"

echo "# truncated record"
head -n 4 "$TMP/passed.copy" >"$STATUS"
derive "$CNF"
expect_refused "record without mac line" "malformed"

echo "# a symlink to a valid record is not followed"
rm -f "$STATUS"
ln -s "$TMP/passed.copy" "$STATUS"
derive "$CNF"
expect_refused "symlinked record" "no device integrity status"
rm -f "$STATUS"

echo "# passed again: derives again"
"$HELPER" "$STATUS" "$KEY" passed 14
derive "$CNF"
expect_key "passed record again: derives"
expect_eq "... the same key" "$(norm <"$TMP/out")" "$REF"

echo "# the gate covers M2M-SESSION-KDF only: ONEM2M-KDF with a failed record"
"$HELPER" "$STATUS" "$KEY" failed 15
RC=0
OPENSSL_CONF=$CNF "$OPENSSL" kdf -keylen 32 -kdfopt derivation:km -kdfopt "hexkey:$K16" \
    -kdfopt maf-id:MAF1 ONEM2M-KDF >"$TMP/out" 2>"$TMP/err" || RC=$?
expect_key "ONEM2M-KDF is not gated"

finish
