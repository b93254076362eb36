#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# m2msec loaded from openssl.cnf (OPENSSL_CONF, no -provider flags) and its
# policy keys: max_lifetime and min_key_bits cap the KDFs; a malformed policy
# makes the provider refuse to load; a section without "activate" still gives
# its policy to a provider loaded later on the command line. A typo can never
# weaken security: a misspelt section or key (policy file or openssl.cnf), a
# cross-section reference, a variable, .include, or a relative path makes the
# provider (and libm2msec's reader of the same policy file) refuse, naming the
# file and the line; m2msec status shows that reason.
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

# ---------------------------------------------------------------- strictness (issue 9.6)
: "${M2M_BUILD_DIR:?M2M_BUILD_DIR must name the build directory}"
HELPER=$M2M_BUILD_DIR/tests/actions/status_helper
M2M=${M2M_TOOL:-$M2M_BUILD_DIR/tools/m2msec}
POL=$TMP/policy.cnf

# refused_cli LABEL CONF TEXT...: `openssl kdf -provider m2msec` with OPENSSL_CONF=CONF
# (section without activate) fails to load m2msec, without a key, with each TEXT.
refused_cli() {
    local label=$1 conf=$2
    shift 2
    run_cli "$conf" -keylen 32 -kdfopt "hexkey:$K24" "${IDS[@]}" -kdfopt lifetime:60 \
        M2M-SESSION-KDF
    expect_failure "$label" "unable to load provider m2msec" "$@"
}

# refused_conf LABEL TEXT...: $CNF activates m2msec: it is not active; then, with m2msec's
# activate line commented out (line numbers unchanged), -provider m2msec fails with each TEXT.
refused_conf() {
    local label=$1 n
    shift
    expect_ne "$label: activated from openssl.cnf, m2msec is not active" \
        "$(provider_status "$CNF")" "active"
    n=$(grep -n '^activate = 1$' "$CNF" | tail -n 1 | cut -d: -f1)
    sed -i "${n}s/^/# /" "$CNF"
    refused_cli "$label" "$CNF" "$@"
}

# policy_refused LABEL TEXT...: a config naming $POL; the provider refuses to load, naming
# each TEXT; libm2msec's m2msec_policy_load refuses the same file.
policy_refused() {
    local label=$1
    shift
    write_conf "$CNF" "" "policy = $POL"
    refused_cli "$label (provider)" "$CNF" "$@"
    RC=0
    "$HELPER" --policy "$POL" bin/app >"$TMP/out" 2>"$TMP/err" || RC=$?
    expect_failure "$label (libm2msec m2msec_policy_load)" "$@"
}

echo "# misspelt sections of the policy file"
printf '[sesion]\nmax_lifetime = 600\n' >"$POL"
policy_refused "[sesion]" "policy file $POL line 1: unknown section [sesion]"
printf '[integrity]\ndefault_action = alert\n\n[rule]\nbin/* = deny\n' >"$POL"
policy_refused "[rule]" "policy file $POL line 4: unknown section [rule]"

echo "# misspelt keys of the policy file (each reader checks the other's sections too)"
printf '[session]\nmax_lifetme = 60\n' >"$POL"
policy_refused "max_lifetme in [session]" \
    "policy file $POL line 2: unknown key 'max_lifetme' in [session]"
printf '[integrity]\ndefualt_action = deny\n' >"$POL"
policy_refused "defualt_action in [integrity]" \
    "policy file $POL line 2: unknown key 'defualt_action' in [integrity]"
printf 'max_lifetime = 60\n[session]\n' >"$POL"
policy_refused "a key before any section" "policy file $POL line 1: 'max_lifetime' is outside"

echo "# cross-section references and variables in the policy file"
printf '[integrity]\nrules::bin/* = alert\n[rules]\nbin/* = deny\n' >"$POL"
policy_refused "rules::bin/* from [integrity]" \
    "policy file $POL line 2: cross-section reference 'rules::bin/*' is not allowed"
# shellcheck disable=SC2016 # a literal $ENV reference, for the reader to refuse
printf '[session]\nmax_lifetime = $ENV::M2M_LIFETIME\n' >"$POL"
M2M_LIFETIME=316224000 policy_refused "\$ENV variable" \
    "policy file $POL line 2: variable reference"

echo "# .include and .pragma in the policy file"
printf '[rules]\nbin/* = alert\n' >"$TMP/override.cnf"
printf '[integrity]\ndefault_action = deny\n.include %s\n' "$TMP/override.cnf" >"$POL"
policy_refused ".include" "policy file $POL line 3: directive '.include' is not allowed"
printf '.pragma dollarid:on\n[session]\n' >"$POL"
policy_refused ".pragma" "policy file $POL line 1: directive '.pragma' is not allowed"

echo "# a key written twice in the policy file"
printf '[session]\nmax_lifetime = 600\nmax_lifetime = 86400\n' >"$POL"
policy_refused "max_lifetime twice" \
    "policy file $POL line 3: key 'max_lifetime' appears twice in [session] (first at line 2)"

echo "# a symlinked policy file"
printf '[session]\nmax_lifetime = 600\n' >"$TMP/real-policy.cnf"
ln -sf "$TMP/real-policy.cnf" "$POL"
policy_refused "symlink" "policy file $POL is a symlink (not followed"
rm -f "$POL"

echo "# misspelt key in the provider's openssl.cnf section"
write_conf "$CNF" 1 "max_lifetme = 60"
line=$(grep -n '^max_lifetme' "$CNF" | cut -d: -f1)
refused_conf "max_lifetme" \
    "config file $CNF line $line: unknown key 'max_lifetme' in [m2msec_sect]"
write_conf "$CNF" 1 "max_lifetme = 60"
run "$M2M" status --conf "$CNF"
expect_run "m2msec status shows why the provider refused to load" 1 \
    "refuses to load: config file $CNF line $line: unknown key 'max_lifetme'"

echo "# a section without module or activate, only a typo, for -provider m2msec"
write_conf "$CNF" "" "max_lifetme = 60"
sed -i '/^module = /d' "$CNF"
RC=0
OPENSSL_CONF=$CNF OPENSSL_MODULES=$M2M_MODULES "$OPENSSL" kdf -provider m2msec \
    -provider default -keylen 32 -kdfopt "hexkey:$K24" "${IDS[@]}" -kdfopt lifetime:60 \
    M2M-SESSION-KDF >"$TMP/out" 2>"$TMP/err" || RC=$?
expect_failure "only max_lifetme in the section" "unknown key 'max_lifetme' in [m2msec_sect]"

echo "# a key twice, a value naming a section, a variable in openssl.cnf"
write_conf "$CNF" 1 "max_lifetime = 600" "max_lifetime = 86400"
refused_conf "max_lifetime twice in openssl.cnf" "key 'max_lifetime' appears twice in [m2msec_sect]"
write_conf "$CNF" 1 "max_lifetime = default_sect"
refused_conf "a value naming a section" "the value of 'max_lifetime' in [m2msec_sect] names the section [default_sect]"
write_conf "$CNF" 1
printf '[other]\nm2msec_sect::max_lifetime = 316224000\n' >>"$CNF"
refused_conf "m2msec_sect::max_lifetime from another section" "cross-section reference"
# shellcheck disable=SC2016 # a literal $ENV reference, for the provider to refuse
write_conf "$CNF" 1 'max_lifetime = $ENV::M2M_LIFETIME'
M2M_LIFETIME=316224000 refused_conf "a variable in openssl.cnf" "is a variable reference"

echo "# relative paths"
mkdir -p "$TMP/cwd"
printf '[session]\nmax_lifetime = 600\n' >"$TMP/cwd/policy.cnf"
printf '%s\n' "$K24" "$K24" | tr -d '\n' >"$TMP/cwd/dev.key"
for kv in "policy = policy.cnf" "integrity_status = status" "device_key_file = dev.key" \
    "manifest_state = manifest.state"; do
    write_conf "$CNF" "" "$kv"
    line=$(grep -n "^${kv%% =*} = " "$CNF" | cut -d: -f1)
    RC=0
    (cd "$TMP/cwd" && OPENSSL_CONF=$CNF "$OPENSSL" kdf -provider-path "$M2M_MODULES" \
        -provider m2msec -provider default -keylen 32 -kdfopt "hexkey:$K24" "${IDS[@]}" \
        -kdfopt lifetime:60 M2M-SESSION-KDF) >"$TMP/out" 2>"$TMP/err" || RC=$?
    expect_failure "relative '$kv' in openssl.cnf" "config file $CNF line $line" \
        "'${kv#*= }' is not an absolute path"
done
printf '[session]\nintegrity_status = status\n' >"$POL"
policy_refused "relative integrity_status in the policy file" \
    "policy file $POL line 2: policy integrity_status = 'status' is not an absolute path"

echo "# allowed_aeads: exact names, in the list and for the label (issue 9.10)"
write_conf "$CNF" "" "allowed_aeads = M2M-REC-AES-256-GCM"
run_cli "$CNF" -keylen 32 -kdfopt "hexkey:$K24" "${IDS[@]}" -kdfopt lifetime:60 \
    -kdfopt aead:m2m-rec-aes-256-gcm M2M-SESSION-KDF
expect_failure "the label in lower case, its capital name allowed" "not allowed by policy"
run_cli "$CNF" -keylen 32 -kdfopt "hexkey:$K24" "${IDS[@]}" -kdfopt lifetime:60 \
    -kdfopt aead:M2M-REC-AES-256-GCM M2M-SESSION-KDF
expect_key "the exact label is allowed"
write_conf "$CNF" "" "allowed_aeads = m2m-rec-aes-256-gcm"
refused_cli "a lower-case name in allowed_aeads" "$CNF" \
    "names 'm2m-rec-aes-256-gcm': names are exact" "write 'M2M-REC-AES-256-GCM'"

echo "# the configuration came from a file OpenSSL does not read by default"
write_conf "$TMP/other.cnf" "" "max_lifetime = 600"
write_conf "$CNF" "" "max_lifetime = 86400"
run "$M2M" status --conf "$TMP/other.cnf"
expect_run "m2msec status --conf: the provider checks that file (exit 0)" 0 'status active'

finish
