#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Bad input to the m2msec KDFs through `openssl kdf`: openssl must exit
# non-zero, stderr must name the problem in words (every error line has
# text, none reads "reason(N)"), and stdout must carry no key.
set -euo pipefail
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"

KEY16=00112233445566778899aabbccddeeff
KEY15=00112233445566778899aabbccddee
SESSION_IDS=(-kdfopt purpose:record -kdfopt originator:CAE01 -kdfopt receiver:CSE02)
SESSION_OK=(-kdfopt "hexkey:$KEY16" "${SESSION_IDS[@]}")

# expect_error LABEL 'TEXT1|TEXT2...' OPENSSL-KDF-ARGS...
expect_error() {
    local label=$1 texts=() rc=0
    IFS='|' read -ra texts <<<"$2"
    shift 2
    m2m_kdf "$@" >"$TMP/out" 2>"$TMP/err" || rc=$?
    if [[ $rc -ne 0 ]]; then
        ok "$label: exits non-zero ($rc)"
    else
        not_ok "$label: exits non-zero"
    fi
    expect_stderr "$label" "${texts[@]}"
    if grep -q ':m2msec:' "$TMP/err"; then
        ok "$label: error raised by m2msec"
    else
        not_ok "$label: error raised by m2msec"
        diag "$(cat "$TMP/err")"
    fi
    if grep -q 'reason(' "$TMP/err"; then
        not_ok "$label: every error line has text"
        diag "$(cat "$TMP/err")"
    else
        ok "$label: every error line has text"
    fi
    if grep -qE "$HEXKEY_RE" "$TMP/out"; then
        not_ok "$label: no key on stdout"
        diag "$(cat "$TMP/out")"
    else
        ok "$label: no key on stdout"
    fi
}

echo "# the good inputs work (so the failures below are caused by the one bad value)"
for args in "-keylen 32 ${SESSION_OK[*]} M2M-SESSION-KDF" \
    "-keylen 32 -kdfopt derivation:km -kdfopt hexkey:$KEY16 -kdfopt maf-id:MAF1 ONEM2M-KDF" \
    "-keylen 16 -kdfopt hexkey:$KEY16 -kdfopt hexid:01 -kdfopt type:key OSCORE-KDF"; do
    # shellcheck disable=SC2086 # word splitting wanted: none of the values has spaces
    if m2m_kdf $args 2>"$TMP/err" | grep -qE '^[0-9A-F]{2}(:[0-9A-F]{2})+$'; then
        ok "accepted: ${args##* }"
    else
        not_ok "accepted: ${args##* }"
        diag "$(cat "$TMP/err")"
    fi
done

echo "# M2M-SESSION-KDF"
expect_error "missing key" "missing key|set parameter 'key'" \
    -keylen 32 "${SESSION_IDS[@]}" M2M-SESSION-KDF
expect_error "15-byte key" \
    "key shorter than policy minimum|key is 120 bits; policy minimum is 128 bits" \
    -keylen 32 -kdfopt "hexkey:$KEY15" "${SESSION_IDS[@]}" M2M-SESSION-KDF
expect_error "missing originator" "missing parameter|parameter 'originator' is required" \
    -keylen 32 -kdfopt "hexkey:$KEY16" -kdfopt purpose:record -kdfopt receiver:CSE02 \
    M2M-SESSION-KDF
expect_error "missing receiver" "missing parameter|parameter 'receiver' is required" \
    -keylen 32 -kdfopt "hexkey:$KEY16" -kdfopt purpose:record -kdfopt originator:CAE01 \
    M2M-SESSION-KDF
expect_error "missing purpose" "missing parameter|parameter 'purpose' is required" \
    -keylen 32 -kdfopt "hexkey:$KEY16" -kdfopt originator:CAE01 -kdfopt receiver:CSE02 \
    M2M-SESSION-KDF
expect_error "lifetime beyond policy" \
    "lifetime exceeds policy maximum|lifetime 90000 s exceeds policy maximum 86400 s" \
    -keylen 32 "${SESSION_OK[@]}" -kdfopt lifetime:90000 M2M-SESSION-KDF
expect_error "lifetime 0" "invalid parameter|lifetime must be at least 1 s" \
    -keylen 32 "${SESSION_OK[@]}" -kdfopt lifetime:0 M2M-SESSION-KDF
expect_error "unknown digest" "unsupported digest|digest 'MD5' is not supported" \
    -keylen 32 "${SESSION_OK[@]}" -kdfopt digest:MD5 M2M-SESSION-KDF
expect_error "output too long" "bad output length|output length 8161 is outside 1..8160" \
    -keylen 8161 "${SESSION_OK[@]}" M2M-SESSION-KDF
expect_error "invalid UTF-8 originator (0xFF)" \
    "invalid UTF-8|parameter 'originator' is not valid UTF-8" \
    -keylen 32 -kdfopt "hexkey:$KEY16" -kdfopt purpose:record -kdfopt originator:$'\xff' \
    -kdfopt receiver:CSE02 M2M-SESSION-KDF
expect_error "invalid UTF-8 receiver (overlong)" \
    "invalid UTF-8|parameter 'receiver' is not valid UTF-8" \
    -keylen 32 -kdfopt "hexkey:$KEY16" -kdfopt purpose:record -kdfopt originator:CAE01 \
    -kdfopt receiver:$'\xc0\xaf' M2M-SESSION-KDF

echo "# ONEM2M-KDF"
expect_error "unknown derivation" "unknown derivation|derivation 'kmx' is unknown" \
    -keylen 32 -kdfopt derivation:kmx -kdfopt "hexkey:$KEY16" -kdfopt maf-id:MAF1 ONEM2M-KDF
expect_error "output too long (33)" "bad output length|output length 33 is outside 1..32" \
    -keylen 33 -kdfopt derivation:km -kdfopt "hexkey:$KEY16" -kdfopt maf-id:MAF1 ONEM2M-KDF
expect_error "missing maf-id" "missing parameter|derivation 'km' requires parameter 'maf-id'" \
    -keylen 32 -kdfopt derivation:km -kdfopt "hexkey:$KEY16" ONEM2M-KDF
expect_error "missing key (ONEM2M)" "missing key" \
    -keylen 32 -kdfopt derivation:km -kdfopt maf-id:MAF1 ONEM2M-KDF
expect_error "15-byte key (ONEM2M)" "key shorter than policy minimum" \
    -keylen 32 -kdfopt derivation:km -kdfopt "hexkey:$KEY15" -kdfopt maf-id:MAF1 ONEM2M-KDF
expect_error "invalid UTF-8 maf-id (surrogate)" "invalid UTF-8|parameter 'maf-id'" \
    -keylen 32 -kdfopt derivation:km -kdfopt "hexkey:$KEY16" -kdfopt maf-id:$'\xed\xa0\x80' \
    ONEM2M-KDF
expect_error "invalid UTF-8 target-id (truncated)" "invalid UTF-8|parameter 'target-id'" \
    -keylen 32 -kdfopt derivation:usage-key -kdfopt "hexkey:$KEY16" -kdfopt suid:1 \
    -kdfopt target-id:$'mn\xe2\x82' ONEM2M-KDF

echo "# OSCORE-KDF"
expect_error "missing Master Secret" "missing key|no Master Secret" \
    -keylen 16 -kdfopt hexid:01 -kdfopt type:key OSCORE-KDF
expect_error "missing type" "missing parameter|parameter 'type'" \
    -keylen 16 -kdfopt "hexkey:$KEY16" -kdfopt hexid:01 OSCORE-KDF
expect_error "Common IV with an id" "invalid parameter|must be empty when deriving the Common IV" \
    -keylen 13 -kdfopt "hexkey:$KEY16" -kdfopt hexid:01 -kdfopt type:iv OSCORE-KDF

finish
