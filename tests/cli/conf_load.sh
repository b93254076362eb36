#!/bin/bash
# m2msec loaded from openssl.cnf (OPENSSL_CONF, no -provider flags) and its
# policy keys: max_lifetime and min_key_bits cap the KDFs; a malformed policy
# makes the provider refuse to load; a section without "activate" still gives
# its policy to a provider loaded later on the command line.
set -euo pipefail
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"

K24=000102030405060708090a0b0c0d0e0f1011121314151617
K16=${K24:0:32}
IDS=(-kdfopt purpose:record -kdfopt originator:CAE01 -kdfopt receiver:CSE02)

# run_conf CONF OPENSSL-ARGS...: openssl with OPENSSL_CONF=CONF; sets RC, output in $TMP/out,
# $TMP/err.
run_conf() {
    local conf=$1
    shift
    RC=0
    OPENSSL_CONF=$conf "$OPENSSL" "$@" >"$TMP/out" 2>"$TMP/err" || RC=$?
}

# run_cli CONF KDF-ARGS...: `openssl kdf` loading m2msec on the command line.
run_cli() {
    local conf=$1
    shift
    run_conf "$conf" kdf -provider-path "$M2M_MODULES" -provider m2msec -provider default "$@"
}

# expect_failure LABEL [TEXT...]: non-zero exit, no key on stdout, each TEXT on stderr.
expect_failure() {
    local label=$1
    shift
    expect_no_key "$label: fails without printing a key"
    expect_stderr "$label" "$@"
}

# session_ref KEYHEX LIFETIME: stock HKDF with the M2M-SESSION-KDF info for IDS, L=32.
session_ref() {
    local info
    info=$(lp_str "m2msec session key v1")$(lp_str record)$(lp_str CAE01)$(lp_str CSE02)
    info+=$(u64 0)$(u64 0)$(u64 "$2")$(lp_str M2M-REC-AES-128-GCM)$(u32 32)$(lp_hex "")$(lp_hex "")
    stock_hkdf SHA2-256 "$1" "" "$info" 32
}

CNF=$TMP/openssl.cnf

echo "# activated from openssl.cnf with max_lifetime = 600, min_key_bits = 192"
write_conf "$CNF" 1 "max_lifetime = 600" "min_key_bits = 192"
expect_eq "openssl list -providers: m2msec is active" "$(provider_status "$CNF")" "active"

run_conf "$CNF" kdf -keylen 32 -kdfopt "hexkey:$K24" "${IDS[@]}" -kdfopt lifetime:600 \
    M2M-SESSION-KDF
expect_key "M2M-SESSION-KDF with lifetime 600 and a 24-byte key"
expect_eq "... equals the stock HKDF reference" "$(norm <"$TMP/out")" "$(session_ref "$K24" 600)"

run_conf "$CNF" kdf -keylen 32 -kdfopt "hexkey:$K24" "${IDS[@]}" -kdfopt lifetime:601 \
    M2M-SESSION-KDF
expect_failure "lifetime 601" "lifetime exceeds policy maximum" \
    "lifetime 601 s exceeds policy maximum 600 s"

run_conf "$CNF" kdf -keylen 32 -kdfopt "hexkey:$K24" "${IDS[@]}" M2M-SESSION-KDF
expect_failure "default lifetime 3600 above the policy" \
    "lifetime 3600 s exceeds policy maximum 600 s"

run_conf "$CNF" kdf -keylen 32 -kdfopt "hexkey:$K16" "${IDS[@]}" -kdfopt lifetime:600 \
    M2M-SESSION-KDF
expect_failure "16-byte key" "key shorter than policy minimum" \
    "key is 128 bits; policy minimum is 192 bits"

# The key policy covers every m2msec KDF.
run_conf "$CNF" kdf -keylen 32 -kdfopt derivation:km -kdfopt "hexkey:$K16" -kdfopt maf-id:MAF1 \
    ONEM2M-KDF
expect_failure "ONEM2M-KDF with a 16-byte key" "key is 128 bits; policy minimum is 192 bits"
run_conf "$CNF" kdf -keylen 32 -kdfopt derivation:km -kdfopt "hexkey:$K24" -kdfopt maf-id:MAF1 \
    ONEM2M-KDF
expect_key "ONEM2M-KDF with a 24-byte key"
printf '%s%s' "oneM2M Enrolment Key to Master Credential derivation" MAF1 >"$TMP/in"
expect_eq "... equals the stock HMAC reference" "$(norm <"$TMP/out")" \
    "$(stock_hmac "$K24" "$TMP/in")"
run_conf "$CNF" kdf -keylen 16 -kdfopt "hexkey:$K16" -kdfopt hexid:01 -kdfopt type:key OSCORE-KDF
expect_failure "OSCORE-KDF with a 16-byte Master Secret" \
    "key is 128 bits; policy minimum is 192 bits"

echo "# control: without the config the defaults apply (86400 s, 128 bits)"
run_conf /dev/null kdf -provider-path "$M2M_MODULES" -provider m2msec -provider default \
    -keylen 32 -kdfopt "hexkey:$K16" "${IDS[@]}" -kdfopt lifetime:601 M2M-SESSION-KDF
expect_key "no config: lifetime 601 and a 16-byte key are accepted"

echo "# a malformed policy makes the provider refuse to load"
while IFS='|' read -r line detail; do
    write_conf "$CNF" 1 "$line"
    expect_ne "[$line] openssl list -providers: m2msec not active" "$(provider_status "$CNF")" \
        "active"
    run_conf "$CNF" kdf -keylen 32 -kdfopt "hexkey:$K24" "${IDS[@]}" -kdfopt lifetime:60 \
        M2M-SESSION-KDF
    expect_failure "[$line] activated from config" "M2M-SESSION-KDF"
    # Loaded on the command line, the refusal is reported with the reason in the detail.
    write_conf "$CNF" "" "$line"
    run_cli "$CNF" -keylen 32 -kdfopt "hexkey:$K24" "${IDS[@]}" -kdfopt lifetime:60 \
        M2M-SESSION-KDF
    expect_failure "[$line] loaded with -provider" "unable to load provider m2msec" "$detail"
done <<'EOF'
max_lifetime = abc|policy max_lifetime = 'abc' is not a decimal number
min_key_bits = 64|policy min_key_bits = 64 is out of range [128, 8192]
max_lifetime = 0|policy max_lifetime = 0 is out of range
max_lifetime = -5|policy max_lifetime = '-5' is not a decimal number
max_lifetime = 600s|policy max_lifetime = '600s' is not a decimal number
max_lifetime = 999999999999|policy max_lifetime = 999999999999 is out of range
min_key_bits = 196|policy min_key_bits = 196 is not a multiple of 8
EOF

echo "# a section without activate still gives its policy to -provider m2msec"
write_conf "$CNF" "" "max_lifetime = 600" "min_key_bits = 192"
expect_eq "openssl list -providers: m2msec not loaded by the config" \
    "$(provider_status "$CNF")" "absent"
run_cli "$CNF" -keylen 32 -kdfopt "hexkey:$K24" "${IDS[@]}" -kdfopt lifetime:600 M2M-SESSION-KDF
expect_key "-provider m2msec: lifetime 600 with a 24-byte key"
expect_eq "... equals the stock HKDF reference" "$(norm <"$TMP/out")" "$(session_ref "$K24" 600)"
run_cli "$CNF" -keylen 32 -kdfopt "hexkey:$K24" "${IDS[@]}" -kdfopt lifetime:601 M2M-SESSION-KDF
expect_failure "-provider m2msec: lifetime 601" "lifetime 601 s exceeds policy maximum 600 s"
run_cli "$CNF" -keylen 32 -kdfopt "hexkey:$K16" "${IDS[@]}" -kdfopt lifetime:600 M2M-SESSION-KDF
expect_failure "-provider m2msec: 16-byte key" "key is 128 bits; policy minimum is 192 bits"

finish
