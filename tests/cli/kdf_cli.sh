#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Every m2msec KDF through `openssl kdf`, compared with independent references:
#   ONEM2M-KDF      stock `openssl mac ... HMAC` over the oneM2M TS-0003 10.3 input bytes
#   OSCORE-KDF      the RFC 8613 Appendix C.1-C.3 values
#   M2M-SESSION-KDF stock `openssl kdf ... HKDF` with info built here per docs/PROTOCOL.md 2.2
set -euo pipefail
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"

K=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f
KPSA=f0e1d2c3b4a5968778695a4b3c2d1e0f00112233445566778899aabbccddeeff
SALT=a0a1a2a3a4a5a6a7a8a9aaabacadaeaf
ZEROS32=0000000000000000000000000000000000000000000000000000000000000000
RRAND=5a5d50575e45484f6a6d60676e75787f
ORAND=c3c8cdd2d7dce1e6ebf0f5faff04090e

LABEL_KM="oneM2M Enrolment Key to Master Credential derivation"
LABEL_KPSA="oneM2M Enrolment Key to Provisioned Secure Connection Key derivation"
LABEL_USAGE="oneM2M Enrolment Key to Usage-Constrained Symmetric Key derivation"
LABEL_ESPRIM="oneM2M HMAC-SHA256 sessionESPrimKey derivation algorithm"
E2E_LABELS=("E2E Message Authentication Key" "E2E Message Confidentiality Key"
    "E2E Attribute Authenticity Key" "E2E Attribute Confidentiality Key")
E2E_NAMES=(e2e-master e2e-msg-auth e2e-msg-conf e2e-att-auth e2e-att-conf)

echo "# ONEM2M-KDF vs openssl mac HMAC-SHA256"

# onem2m LABEL WANTHEX KDFOPTS...: derive at 32, 16 and 1 bytes; each is a prefix of WANTHEX.
onem2m() {
    local label=$1 want=$2 len got
    shift 2
    for len in 32 16 1; do
        got=$(kdf_hex -keylen "$len" "$@" ONEM2M-KDF)
        expect_eq "$label (keylen $len)" "$got" "${want:0:$((2 * len))}"
    done
}

for maf in MAF1 maf.example.org; do
    printf '%s%s' "$LABEL_KM" "$maf" >"$TMP/in"
    onem2m "km maf-id $maf" "$(stock_hmac "$K" "$TMP/in")" \
        -kdfopt derivation:km -kdfopt "hexkey:$K" -kdfopt "maf-id:$maf"
done
# NFKC: "ＭＡＦ①" (fullwidth letters, circled one) is the identifier "MAF1".
printf '%s%s' "$LABEL_KM" MAF1 >"$TMP/in"
onem2m "km maf-id NFKC compatibility form" "$(stock_hmac "$K" "$TMP/in")" \
    -kdfopt derivation:km -kdfopt "hexkey:$K" \
    -kdfopt maf-id:$'\xef\xbc\xad\xef\xbc\xa1\xef\xbc\xa6\xe2\x91\xa0'

for eid in C-CSE-01 S-AE-0042; do
    printf '%s%s' "$LABEL_KPSA" "$eid" >"$TMP/in"
    onem2m "kpsa enrolee-id $eid" "$(stock_hmac "${K:0:32}" "$TMP/in")" \
        -kdfopt derivation:kpsa -kdfopt "hexkey:${K:0:32}" -kdfopt "enrolee-id:$eid"
done

# SUID as decimal ASCII digits.
for suid in 0 42 18446744073709551615; do
    printf '%s%s%s' "$LABEL_USAGE" "$suid" mn-cse.example.com >"$TMP/in"
    onem2m "usage-key suid $suid" "$(stock_hmac "$K" "$TMP/in")" \
        -kdfopt derivation:usage-key -kdfopt "hexkey:$K" -kdfopt "suid:$suid" \
        -kdfopt target-id:mn-cse.example.com
done

# Ke2e_master = HMAC(Salt, Kpsa); T(n) = HMAC(master, T(n-1) || label_n || n).
# No salt: HMAC with an empty key, i.e. the key of HashLen zero bytes (RFC 2104 padding).
for salt in "$SALT" ""; do
    unhex "$KPSA" >"$TMP/in"
    t=("$(stock_hmac "${salt:-$ZEROS32}" "$TMP/in")")
    for n in 1 2 3 4; do
        {
            [[ $n -gt 1 ]] && unhex "${t[n - 1]}"
            printf '%s' "${E2E_LABELS[n - 1]}"
            printf '%b' "\\x0$n"
        } >"$TMP/in"
        t[n]=$(stock_hmac "${t[0]}" "$TMP/in")
    done
    saltopt=() saltname="without salt"
    [[ -n "$salt" ]] && saltopt=(-kdfopt "hexsalt:$salt") saltname="with salt"
    for n in 0 1 2 3 4; do
        onem2m "${E2E_NAMES[n]} $saltname" "${t[n]}" \
            -kdfopt "derivation:${E2E_NAMES[n]}" -kdfopt "hexkey:$KPSA" "${saltopt[@]}"
    done
done
# T(1) is also a standard HKDF-Expand output: cross-check the chain reference.
got=$("$OPENSSL" kdf -keylen 32 -kdfopt digest:SHA256 -kdfopt mode:EXPAND_ONLY \
    -kdfopt "hexkey:${t[0]}" -kdfopt "info:${E2E_LABELS[0]}" HKDF | norm)
expect_eq "reference T(1) == HKDF-Expand(master, label_1)" "$got" "${t[1]}"

{
    unhex "$RRAND"
    unhex "$ORAND"
    printf '%s' "$LABEL_ESPRIM"
} >"$TMP/in"
onem2m "esprim-session" "$(stock_hmac "$K" "$TMP/in")" \
    -kdfopt derivation:esprim-session -kdfopt "hexkey:$K" \
    -kdfopt "hexreceiver-rand:$RRAND" -kdfopt "hexoriginator-rand:$ORAND"

echo "# OSCORE-KDF vs RFC 8613 Appendix C"

SECRET=0102030405060708090a0b0c0d0e0f10
OSALT=9e7ca92223786340
IDCTX=37cbf3210017a2d3
C1_CK=f0910ed7295e6ad4b54fc793154302ff C1_SK=ffb14e093c94c9cac9471648b4f98710
C1_IV=4622d4dd6d944168eefb54987c
C2_CK=321b26943253c7ffb6003b0b64d74041 C2_SK=e57b5635815177cd679ab4bcec9d7dda
C2_IV=be35ae297d2dace910c52e99f9
C3_CK=af2a1300a5e95788b356336eeecd2b92 C3_SK=e39a0c7c77b43f03b4b39ab9a268699f
C3_IV=2ca58fb85ff1b81c0b7181b85e

# name salt id-context sender-id recipient-id sender-key recipient-key common-iv ("-" = absent)
while read -r name salt idctx sid rid skey rkey iv; do
    opts=(-kdfopt "hexkey:$SECRET")
    [[ $salt != - ]] && opts+=(-kdfopt "hexsalt:$salt")
    [[ $idctx != - ]] && opts+=(-kdfopt "hexid-context:$idctx")
    [[ $sid == - ]] && sid=""
    [[ $rid == - ]] && rid=""
    expect_eq "$name Sender Key" \
        "$(kdf_hex -keylen 16 "${opts[@]}" -kdfopt "hexid:$sid" -kdfopt type:key OSCORE-KDF)" \
        "$skey"
    expect_eq "$name Recipient Key" \
        "$(kdf_hex -keylen 16 "${opts[@]}" -kdfopt "hexid:$rid" -kdfopt type:key OSCORE-KDF)" \
        "$rkey"
    expect_eq "$name Common IV" \
        "$(kdf_hex -keylen 13 "${opts[@]}" -kdfopt type:iv OSCORE-KDF)" "$iv"
done <<EOF
C.1-client $OSALT - - 01 $C1_CK $C1_SK $C1_IV
C.1-server $OSALT - 01 - $C1_SK $C1_CK $C1_IV
C.2-client - - 00 01 $C2_CK $C2_SK $C2_IV
C.2-server - - 01 00 $C2_SK $C2_CK $C2_IV
C.3-client $OSALT $IDCTX - 01 $C3_CK $C3_SK $C3_IV
C.3-server $OSALT $IDCTX 01 - $C3_SK $C3_CK $C3_IV
EOF

echo "# M2M-SESSION-KDF vs openssl kdf HKDF with info built per docs/PROTOCOL.md 2.2"

# session LABEL: uses S_* variables ("" = parameter absent) and S_L.
session() {
    local label=$1 opts=() info digest got want
    [[ -n "$S_DIGEST" ]] && opts+=(-kdfopt "digest:$S_DIGEST")
    opts+=(-kdfopt "hexkey:$S_KEY")
    [[ -n "$S_SALT" ]] && opts+=(-kdfopt "hexsalt:$S_SALT")
    opts+=(-kdfopt "purpose:$S_PURPOSE" -kdfopt "originator:$S_ORIG" -kdfopt "receiver:$S_RECV")
    [[ -n "$S_EPOCH" ]] && opts+=(-kdfopt "epoch:$S_EPOCH")
    [[ -n "$S_NB" ]] && opts+=(-kdfopt "not-before:$S_NB")
    [[ -n "$S_LIFE" ]] && opts+=(-kdfopt "lifetime:$S_LIFE")
    [[ -n "$S_AEAD" ]] && opts+=(-kdfopt "aead:$S_AEAD")
    [[ -n "$S_ONONCE" ]] && opts+=(-kdfopt "hexoriginator-nonce:$S_ONONCE")
    [[ -n "$S_RNONCE" ]] && opts+=(-kdfopt "hexreceiver-nonce:$S_RNONCE")
    info=$(lp_str "m2msec session key v1")$(lp_str "$S_PURPOSE")$(lp_str "$S_ORIG")
    info+=$(lp_str "$S_RECV")$(u64 "${S_EPOCH:-0}")$(u64 "${S_NB:-0}")$(u64 "${S_LIFE:-3600}")
    info+=$(lp_str "${S_AEAD:-M2M-REC-AES-128-GCM}")$(u32 "$S_L")
    info+=$(lp_hex "$S_ONONCE")$(lp_hex "$S_RNONCE")
    digest=${S_DIGEST:-SHA2-256}
    got=$(kdf_hex -keylen "$S_L" "${opts[@]}" M2M-SESSION-KDF)
    want=$(stock_hkdf "$digest" "$S_KEY" "$S_SALT" "$info" "$S_L")
    expect_eq "$label" "$got" "$want"
    LAST_SESSION=$got
}

s_defaults() {
    S_DIGEST="" S_KEY=${K:0:32} S_SALT="" S_PURPOSE=record S_ORIG=CAE01 S_RECV=/in-cse
    S_EPOCH="" S_NB="" S_LIFE="" S_AEAD="" S_ONONCE="" S_RNONCE="" S_L=32
}

s_defaults
session "defaults, 16-byte key, L=32"
S_L=1
session "defaults, L=1"
S_L=64
session "defaults, L=64 (key followed by IV material)"
S_L=8160
session "defaults, L=8160 (255 * 32)"

s_defaults
S_DIGEST=SHA2-384 S_KEY=$K S_SALT=$SALT S_EPOCH=7 S_NB=1700000000 S_LIFE=600
S_AEAD=M2M-REC-CHACHA20-POLY1305 S_ONONCE=$RRAND S_RNONCE=$ORAND S_L=48
session "SHA2-384, salt, epoch, not-before, lifetime, aead, both nonces, L=48"

s_defaults
S_DIGEST=SHA2-512 S_KEY=$KPSA S_ORIG=$'Z\xc3\xbcrich-gw' S_RECV=CSE02 S_RNONCE=0102030405 S_L=64
session "SHA2-512, non-ASCII originator, receiver nonce only, L=64"

s_defaults
S_ORIG=ab S_RECV=c
session "originator ab, receiver c"
a=$LAST_SESSION
S_ORIG=a S_RECV=bc
session "originator a, receiver bc"
expect_ne "(ab, c) and (a, bc) give different keys" "$a" "$LAST_SESSION"

finish
