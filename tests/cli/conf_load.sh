#!/bin/bash
# m2msec loaded from openssl.cnf (OPENSSL_CONF, no -provider flags) and its
# policy keys: max_lifetime and min_key_bits cap the KDFs; a malformed policy
# makes the provider refuse to load; a section without "activate" still gives
# its policy to a provider loaded later on the command line.
set -euo pipefail
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"

MODULE=$(cd "$M2M_MODULES" && pwd)/m2msec.so
K24=000102030405060708090a0b0c0d0e0f1011121314151617
K16=${K24:0:32}
IDS=(-kdfopt purpose:record -kdfopt originator:CAE01 -kdfopt receiver:CSE02)
HEXKEY_RE='[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2})+'

# write_conf FILE ACTIVATE(1|"") POLICY-LINES...
write_conf() {
    local file=$1 activate=$2
    shift 2
    {
        echo "openssl_conf = openssl_init"
        echo "[openssl_init]"
        echo "providers = provider_sect"
        echo "[provider_sect]"
        echo "default = default_sect"
        echo "m2msec = m2msec_sect"
        echo "[default_sect]"
        echo "activate = 1"
        echo "[m2msec_sect]"
        echo "module = $MODULE"
        [[ -n "$activate" ]] && echo "activate = 1"
        printf '%s\n' "$@"
    } >"$file"
}

# run CONF OPENSSL-ARGS...: openssl with OPENSSL_CONF=CONF; sets RC, output in $TMP/out, $TMP/err.
run() {
    local conf=$1
    shift
    RC=0
    OPENSSL_CONF=$conf "$OPENSSL" "$@" >"$TMP/out" 2>"$TMP/err" || RC=$?
}

# run_cli CONF KDF-ARGS...: `openssl kdf` loading m2msec on the command line.
run_cli() {
    local conf=$1
    shift
    run "$conf" kdf -provider-path "$M2M_MODULES" -provider m2msec -provider default "$@"
}

# m2msec_status: the "status:" line of m2msec in `openssl list -providers` output ($TMP/out).
m2msec_status() {
    awk '/^  [^ ]/ { in_m2m = ($1 == "m2msec") } in_m2m && /status:/ { print $2 }' "$TMP/out"
}

expect_success() {
    local label=$1
    if [[ $RC -eq 0 ]] && grep -qE "^$HEXKEY_RE\$" "$TMP/out"; then
        ok "$label"
    else
        not_ok "$label"
        diag "exit $RC" "$(cat "$TMP/out" "$TMP/err")"
    fi
}

# expect_failure LABEL [TEXT...]: non-zero exit, each TEXT on stderr, no key on stdout.
expect_failure() {
    local label=$1 text
    shift
    if [[ $RC -ne 0 ]] && ! grep -qE "$HEXKEY_RE" "$TMP/out"; then
        ok "$label: fails without printing a key"
    else
        not_ok "$label: fails without printing a key"
        diag "exit $RC" "$(cat "$TMP/out")"
    fi
    for text in "$@"; do
        if grep -qF -- "$text" "$TMP/err"; then
            ok "$label: stderr says \"$text\""
        else
            not_ok "$label: stderr says \"$text\""
            diag "$(cat "$TMP/err")"
        fi
    done
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
run "$CNF" list -providers
expect_eq "openssl list -providers: m2msec is active" "$(m2msec_status)" "active"

run "$CNF" kdf -keylen 32 -kdfopt "hexkey:$K24" "${IDS[@]}" -kdfopt lifetime:600 M2M-SESSION-KDF
expect_success "M2M-SESSION-KDF with lifetime 600 and a 24-byte key"
expect_eq "... equals the stock HKDF reference" "$(norm <"$TMP/out")" "$(session_ref "$K24" 600)"

run "$CNF" kdf -keylen 32 -kdfopt "hexkey:$K24" "${IDS[@]}" -kdfopt lifetime:601 M2M-SESSION-KDF
expect_failure "lifetime 601" "lifetime exceeds policy maximum" \
    "lifetime 601 s exceeds policy maximum 600 s"

run "$CNF" kdf -keylen 32 -kdfopt "hexkey:$K24" "${IDS[@]}" M2M-SESSION-KDF
expect_failure "default lifetime 3600 above the policy" \
    "lifetime 3600 s exceeds policy maximum 600 s"

run "$CNF" kdf -keylen 32 -kdfopt "hexkey:$K16" "${IDS[@]}" -kdfopt lifetime:600 M2M-SESSION-KDF
expect_failure "16-byte key" "key shorter than policy minimum" \
    "key is 128 bits; policy minimum is 192 bits"

# The key policy covers every m2msec KDF.
run "$CNF" kdf -keylen 32 -kdfopt derivation:km -kdfopt "hexkey:$K16" -kdfopt maf-id:MAF1 \
    ONEM2M-KDF
expect_failure "ONEM2M-KDF with a 16-byte key" "key is 128 bits; policy minimum is 192 bits"
run "$CNF" kdf -keylen 32 -kdfopt derivation:km -kdfopt "hexkey:$K24" -kdfopt maf-id:MAF1 \
    ONEM2M-KDF
expect_success "ONEM2M-KDF with a 24-byte key"
printf '%s%s' "oneM2M Enrolment Key to Master Credential derivation" MAF1 >"$TMP/in"
expect_eq "... equals the stock HMAC reference" "$(norm <"$TMP/out")" \
    "$(stock_hmac "$K24" "$TMP/in")"
run "$CNF" kdf -keylen 16 -kdfopt "hexkey:$K16" -kdfopt hexid:01 -kdfopt type:key OSCORE-KDF
expect_failure "OSCORE-KDF with a 16-byte Master Secret" \
    "key is 128 bits; policy minimum is 192 bits"

echo "# control: without the config the defaults apply (86400 s, 128 bits)"
run /dev/null kdf -provider-path "$M2M_MODULES" -provider m2msec -provider default \
    -keylen 32 -kdfopt "hexkey:$K16" "${IDS[@]}" -kdfopt lifetime:601 M2M-SESSION-KDF
expect_success "no config: lifetime 601 and a 16-byte key are accepted"

echo "# a malformed policy makes the provider refuse to load"
while IFS='|' read -r line detail; do
    write_conf "$CNF" 1 "$line"
    run "$CNF" list -providers
    expect_ne "[$line] openssl list -providers: m2msec not active" "x$(m2msec_status)" "xactive"
    run "$CNF" kdf -keylen 32 -kdfopt "hexkey:$K24" "${IDS[@]}" -kdfopt lifetime:60 \
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
run "$CNF" list -providers
expect_eq "openssl list -providers: m2msec not loaded by the config" "x$(m2msec_status)" "x"
run_cli "$CNF" -keylen 32 -kdfopt "hexkey:$K24" "${IDS[@]}" -kdfopt lifetime:600 M2M-SESSION-KDF
expect_success "-provider m2msec: lifetime 600 with a 24-byte key"
expect_eq "... equals the stock HKDF reference" "$(norm <"$TMP/out")" "$(session_ref "$K24" 600)"
run_cli "$CNF" -keylen 32 -kdfopt "hexkey:$K24" "${IDS[@]}" -kdfopt lifetime:601 M2M-SESSION-KDF
expect_failure "-provider m2msec: lifetime 601" "lifetime 601 s exceeds policy maximum 600 s"
run_cli "$CNF" -keylen 32 -kdfopt "hexkey:$K16" "${IDS[@]}" -kdfopt lifetime:600 M2M-SESSION-KDF
expect_failure "-provider m2msec: 16-byte key" "key is 128 bits; policy minimum is 192 bits"

finish
