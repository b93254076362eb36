#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Checks every machine-readable worked example in docs/PROTOCOL.md.
#
#   ```example          M2M-SESSION-KDF (section 2)
#   ```onem2m-example   ONEM2M-KDF (section 3)
#   ```oscore-example   OSCORE-KDF (section 4)
#
# For each example the script
#   (a) rebuilds the documented input bytes (HKDF info, or HMAC key and
#       message) from the listed fields, following the byte layout of the
#       document, with nothing but bash, printf and od;
#   (b) recomputes the documented output with the stock OpenSSL HKDF or
#       HMAC (no m2msec code involved) from the documented input bytes;
#   (c) derives the output with the m2msec provider from the listed fields.
# It prints one "ok - ..." or "not ok - ..." line per check and fails if any
# check failed or if too few examples were found.
#
# Block syntax: one "name = value" per line; a line that starts with white
# space continues the hex value of the line before it. Hex values are
# lowercase; "(absent)" means the parameter is not passed, "(empty)" means
# it is passed with a zero-length value, and a trailing " (default)" means
# the value is the default and is not passed. "X.nfkc = v" gives the NFKC
# form of a non-ASCII identifier X; the bytes of the NFKC form are what the
# derivation uses.
#
# Environment: M2M_MODULES (directory holding m2msec.so), M2M_SOURCE_DIR
# (source tree), optionally OPENSSL (the openssl command to run).
set -euo pipefail
export LC_ALL=C

: "${M2M_MODULES:?set M2M_MODULES to the directory that holds m2msec.so}"
: "${M2M_SOURCE_DIR:?set M2M_SOURCE_DIR to the m2msec source tree}"
OPENSSL=${OPENSSL:-openssl}
DOC=$M2M_SOURCE_DIR/docs/PROTOCOL.md
PROV=(-provider-path "$M2M_MODULES" -provider m2msec -provider default)

failures=0
n_session=0
n_onem2m=0
n_oscore=0
onem2m_seen=" "

ok() { printf 'ok - %s\n' "$1"; }
not_ok() {
    printf 'not ok - %s\n' "$1"
    shift
    for l in "$@"; do printf '#   %s\n' "$l"; done
    failures=$((failures + 1))
}
check() { # check DESCRIPTION EXPECTED ACTUAL
    if [[ "$2" == "$3" ]]; then
        ok "$1"
    else
        not_ok "$1" "expected: $2" "got:      $3"
    fi
}

# --- byte helpers -----------------------------------------------------------
str_hex() { printf '%s' "$1" | od -An -v -tx1 | tr -d ' \n'; }
hex_bin() { # write the bytes of a hex string to stdout
    local h=$1 esc=""
    while [[ -n $h ]]; do
        esc+="\\x${h:0:2}"
        h=${h:2}
    done
    printf '%b' "$esc"
}
u16() { printf '%04x' "$1"; }
u32() { printf '%08x' "$1"; }
u64() { printf '%016x' "$1"; }
lp() { u16 $((${#1} / 2)); printf '%s' "$1"; } # lp(hex) = u16be(len) || bytes
cbor_head() {                                  # major type, unsigned argument
    local m=$(($1 << 5)) v=$2
    if ((v < 24)); then
        printf '%02x' $((m | v))
    elif ((v < 256)); then
        printf '%02x%02x' $((m | 24)) "$v"
    elif ((v < 65536)); then
        printf '%02x%04x' $((m | 25)) "$v"
    else
        printf '%02x%08x' $((m | 26)) "$v"
    fi
}
cbor_bstr() { cbor_head 2 $((${#1} / 2)); printf '%s' "$1"; }
cbor_int() { if (($1 >= 0)); then cbor_head 0 "$1"; else cbor_head 1 $((-1 - $1)); fi; }
# openssl kdf prints AB:CD:..., openssl mac prints ABCD...: normalise to abcd...
norm_hex() { tr -d ': \n\r' | tr 'A-F' 'a-f'; }
hmac_sha256() { # key-hex data-hex -> mac hex (stock OpenSSL HMAC)
    hex_bin "$2" | "$OPENSSL" mac -digest SHA256 -macopt "hexkey:$1" HMAC | norm_hex
}

# --- block fields -----------------------------------------------------------
declare -A F
raw() { printf '%s' "${F[$1]-}"; }                 # the documented text
val() { local v=${F[$1]-}; v=${v% (default)}; case $v in "(absent)" | "(empty)") v="" ;; esac; printf '%s' "$v"; }
given() { [[ -n ${F[$1]+x} && ${F[$1]} != "(absent)" && ${F[$1]} != *" (default)" ]]; }
nfkc() { if [[ -n ${F[$1.nfkc]+x} ]]; then printf '%s' "${F[$1.nfkc]}"; else val "$1"; fi; }
need() { # need FIELD... : all fields present in the block
    local f
    for f; do
        if [[ -z ${F[$f]+x} ]]; then
            not_ok "$where: field '$f' is listed" "the block has no '$f = ...' line"
            return 1
        fi
    done
}

# --- M2M-SESSION-KDF (section 2) ---------------------------------------------
hash_len() {
    case ${1^^} in
    SHA2-256 | SHA-256 | SHA256) echo 32 ;;
    SHA2-384 | SHA-384 | SHA384) echo 48 ;;
    SHA2-512 | SHA-512 | SHA512) echo 64 ;;
    *) echo 0 ;;
    esac
}

session_example() {
    local where="example '${F[name]-?}'" info args=() out v f
    need name key salt digest purpose originator receiver epoch not-before lifetime aead \
        originator-nonce receiver-nonce L info okm || return 0
    n_session=$((n_session + 1))

    # (a) info per section 2.3
    info=$(lp "$(str_hex "m2msec session key v1")")
    info+=$(lp "$(str_hex "$(nfkc purpose)")")
    info+=$(lp "$(str_hex "$(nfkc originator)")")
    info+=$(lp "$(str_hex "$(nfkc receiver)")")
    info+=$(u64 "$(val epoch)")$(u64 "$(val not-before)")$(u64 "$(val lifetime)")
    info+=$(lp "$(str_hex "$(nfkc aead)")")
    info+=$(u32 "$(val L)")
    info+=$(lp "$(val originator-nonce)")$(lp "$(val receiver-nonce)")
    check "$where: info rebuilt from the fields matches the documented info" "$(val info)" "$info"

    # (b) stock HKDF (default provider only) on the documented info
    out=$("$OPENSSL" kdf -keylen "$(val L)" -kdfopt "digest:$(val digest)" \
        -kdfopt "hexkey:$(val key)" -kdfopt "hexsalt:$(val salt)" \
        -kdfopt "hexinfo:$(val info)" HKDF | norm_hex) || out="(openssl kdf HKDF failed)"
    check "$where: stock OpenSSL HKDF gives the documented okm" "$(val okm)" "$out"

    # (c) the provider, fed the fields as a user would
    given digest && args+=(-kdfopt "digest:$(val digest)")
    args+=(-kdfopt "hexkey:$(val key)")
    given salt && args+=(-kdfopt "hexsalt:$(val salt)")
    for f in purpose originator receiver aead epoch not-before lifetime; do
        given "$f" && args+=(-kdfopt "$f:$(val "$f")")
    done
    for f in originator-nonce receiver-nonce; do
        given "$f" && args+=(-kdfopt "hex$f:$(val "$f")")
    done
    out=$("$OPENSSL" kdf "${PROV[@]}" -keylen "$(val L)" "${args[@]}" M2M-SESSION-KDF |
        norm_hex) || out="(M2M-SESSION-KDF failed)"
    check "$where: M2M-SESSION-KDF gives the documented okm" "$(val okm)" "$out"

    # (d) identifiers given in NFKC form derive the same key
    if [[ -n ${F[originator.nfkc]+x}${F[receiver.nfkc]+x}${F[purpose.nfkc]+x}${F[aead.nfkc]+x} ]]; then
        for f in purpose originator receiver aead; do
            [[ -n ${F[$f.nfkc]+x} ]] || continue
            for ((v = 0; v < ${#args[@]}; v++)); do
                [[ ${args[v]} == "$f:"* ]] && args[v]="$f:${F[$f.nfkc]}"
            done
        done
        out=$("$OPENSSL" kdf "${PROV[@]}" -keylen "$(val L)" "${args[@]}" M2M-SESSION-KDF |
            norm_hex) || out="(M2M-SESSION-KDF failed)"
        check "$where: the NFKC forms of the identifiers give the same okm" "$(val okm)" "$out"
    fi

    # sanity: L within 1..255*HashLen
    v=$(hash_len "$(val digest)")
    if (($(val L) >= 1 && $(val L) <= 255 * v)); then
        ok "$where: L is within 1..255*HashLen"
    else
        not_ok "$where: L is within 1..255*HashLen" "L=$(val L) HashLen=$v"
    fi
}

# --- ONEM2M-KDF (section 3) ---------------------------------------------------
e2e_label() {
    case $1 in
    1) printf 'E2E Message Authentication Key' ;;
    2) printf 'E2E Message Confidentiality Key' ;;
    3) printf 'E2E Attribute Authenticity Key' ;;
    4) printf 'E2E Attribute Confidentiality Key' ;;
    esac
}

onem2m_example() {
    local d=${F[derivation]-?} where mkey data out master t n i args=()
    where="onem2m-example '$d'"
    need derivation key L mac-key mac-data mac okm || return 0
    n_onem2m=$((n_onem2m + 1))
    onem2m_seen+="$d "
    where="onem2m-example '$d' (#$n_onem2m)"
    args=(-kdfopt "derivation:$d" -kdfopt "hexkey:$(val key)")

    # (a) HMAC key and message per section 3
    case $d in
    km)
        need maf-id || return 0
        mkey=$(val key)
        data=$(str_hex "oneM2M Enrolment Key to Master Credential derivation$(nfkc maf-id)")
        args+=(-kdfopt "maf-id:$(val maf-id)")
        ;;
    kpsa)
        need enrolee-id || return 0
        mkey=$(val key)
        data=$(str_hex "oneM2M Enrolment Key to Provisioned Secure Connection Key derivation$(nfkc enrolee-id)")
        args+=(-kdfopt "enrolee-id:$(val enrolee-id)")
        ;;
    usage-key)
        need suid target-id || return 0
        mkey=$(val key)
        data=$(str_hex "oneM2M Enrolment Key to Usage-Constrained Symmetric Key derivation$(printf '%u' "$(val suid)")$(nfkc target-id)")
        args+=(-kdfopt "suid:$(val suid)" -kdfopt "target-id:$(val target-id)")
        ;;
    esprim-session)
        need receiver-rand originator-rand || return 0
        mkey=$(val key)
        data=$(val receiver-rand)$(val originator-rand)$(str_hex "oneM2M HMAC-SHA256 sessionESPrimKey derivation algorithm")
        args+=(-kdfopt "hexreceiver-rand:$(val receiver-rand)" -kdfopt "hexoriginator-rand:$(val originator-rand)")
        ;;
    e2e-master | e2e-msg-auth | e2e-msg-conf | e2e-att-auth | e2e-att-conf)
        need salt || return 0
        given salt && args+=(-kdfopt "hexsalt:$(val salt)")
        case $d in
        e2e-master) n=0 ;; e2e-msg-auth) n=1 ;; e2e-msg-conf) n=2 ;; e2e-att-auth) n=3 ;; *) n=4 ;;
        esac
        master=$(hmac_sha256 "$(val salt)" "$(val key)")
        if [[ -n ${F[master]+x} ]]; then
            check "$where: Ke2e_master = HMAC-SHA-256(salt, key) matches 'master'" "$(val master)" "$master"
        fi
        if ((n == 0)); then
            mkey=$(val salt)
            data=$(val key)
        else
            mkey=$master
            t=""
            for ((i = 1; i < n; i++)); do
                t=$(hmac_sha256 "$master" "$t$(str_hex "$(e2e_label "$i")")$(printf '%02x' "$i")")
            done
            data=$t$(str_hex "$(e2e_label "$n")")$(printf '%02x' "$n")
        fi
        ;;
    *)
        not_ok "$where: derivation is known" "unknown derivation '$d'"
        return 0
        ;;
    esac
    check "$where: HMAC key rebuilt from the fields matches mac-key" "$(val mac-key)" "$mkey"
    check "$where: HMAC message rebuilt from the fields matches mac-data" "$(val mac-data)" "$data"

    # (b) stock HMAC on the documented key and message; okm = leading L bytes
    out=$(hmac_sha256 "$(val mac-key)" "$(val mac-data)") || out="(openssl mac failed)"
    check "$where: stock OpenSSL HMAC gives the documented mac" "$(val mac)" "$out"
    check "$where: okm is the leading L bytes of mac" "$(val okm)" "${out:0:$((2 * $(val L)))}"
    if [[ $d == e2e-msg-auth ]]; then # T(1) is plain HKDF with info = label_1
        out=$("$OPENSSL" kdf -keylen "$(val L)" -kdfopt digest:SHA2-256 -kdfopt "hexkey:$(val key)" \
            -kdfopt "hexsalt:$(val salt)" -kdfopt "hexinfo:$(str_hex "$(e2e_label 1)")" HKDF |
            norm_hex) || out="(openssl kdf HKDF failed)"
        check "$where: equals stock HKDF(salt, key, label_1, L)" "$(val okm)" "$out"
    fi

    # (c) the provider
    out=$("$OPENSSL" kdf "${PROV[@]}" -keylen "$(val L)" "${args[@]}" ONEM2M-KDF | norm_hex) ||
        out="(ONEM2M-KDF failed)"
    check "$where: ONEM2M-KDF gives the documented okm" "$(val okm)" "$out"
}

# --- OSCORE-KDF (section 4) ---------------------------------------------------
oscore_example() {
    local where="oscore-example '${F[name]-?}'" info out alg args=()
    need name key salt id id-context type alg L info okm || return 0
    n_oscore=$((n_oscore + 1))

    # (a) info = [ id, id_context / nil, alg, "Key" / "IV", L ]
    alg=$(val alg)
    info=$(cbor_head 4 5)
    if [[ $(val type) == iv ]]; then info+=$(cbor_bstr ""); else info+=$(cbor_bstr "$(val id)"); fi
    if given id-context; then info+=$(cbor_bstr "$(val id-context)"); else info+=f6; fi
    info+=$(cbor_int "$alg")
    if [[ $(val type) == iv ]]; then info+=$(cbor_head 3 2)4956; else info+=$(cbor_head 3 3)4b6579; fi
    info+=$(cbor_head 0 "$(val L)")
    check "$where: CBOR info rebuilt from the fields matches the documented info" "$(val info)" "$info"

    # (b) stock HKDF-SHA-256
    out=$("$OPENSSL" kdf -keylen "$(val L)" -kdfopt digest:SHA2-256 -kdfopt "hexkey:$(val key)" \
        -kdfopt "hexsalt:$(val salt)" -kdfopt "hexinfo:$(val info)" HKDF | norm_hex) ||
        out="(openssl kdf HKDF failed)"
    check "$where: stock OpenSSL HKDF gives the documented okm" "$(val okm)" "$out"

    # (c) the provider
    args=(-kdfopt "hexkey:$(val key)" -kdfopt "type:$(val type)")
    given salt && args+=(-kdfopt "hexsalt:$(val salt)")
    given id && args+=(-kdfopt "hexid:$(val id)")
    given id-context && args+=(-kdfopt "hexid-context:$(val id-context)")
    given alg && args+=(-kdfopt "alg:$alg")
    out=$("$OPENSSL" kdf "${PROV[@]}" -keylen "$(val L)" "${args[@]}" OSCORE-KDF | norm_hex) ||
        out="(OSCORE-KDF failed)"
    check "$where: OSCORE-KDF gives the documented okm" "$(val okm)" "$out"
}

# --- parse the document -------------------------------------------------------
if [[ ! -r $DOC ]]; then
    not_ok "docs/PROTOCOL.md is readable" "cannot read $DOC"
    exit 1
fi
kind=""
last=""
lineno=0
while IFS= read -r line || [[ -n $line ]]; do
    lineno=$((lineno + 1))
    if [[ -z $kind ]]; then
        case $line in
        '```example' | '```onem2m-example' | '```oscore-example')
            kind=${line#\`\`\`}
            last=""
            F=()
            ;;
        esac
        continue
    fi
    if [[ $line == '```' ]]; then
        case $kind in
        example) session_example ;;
        onem2m-example) onem2m_example ;;
        oscore-example) oscore_example ;;
        esac
        kind=""
        continue
    fi
    if [[ $line =~ ^[[:space:]]+([0-9a-f]+)$ && -n $last ]]; then
        F[$last]+=${BASH_REMATCH[1]}
    elif [[ $line == *" = "* ]]; then
        last=${line%% = *}
        F[$last]=${line#* = }
    elif [[ -n $line ]]; then
        not_ok "PROTOCOL.md line $lineno is 'name = value' or a hex continuation" "line: $line"
    fi
done <"$DOC"
if [[ -n $kind ]]; then
    not_ok "every example block in PROTOCOL.md is closed" "a '$kind' block is not closed"
fi

# --- coverage -------------------------------------------------------------------
if ((n_session >= 3)); then
    ok "found $n_session M2M-SESSION-KDF examples (at least 3)"
else
    not_ok "found at least 3 M2M-SESSION-KDF examples" "found $n_session"
fi
for d in km kpsa usage-key e2e-master e2e-msg-auth e2e-msg-conf e2e-att-auth e2e-att-conf \
    esprim-session; do
    if [[ $onem2m_seen == *" $d "* ]]; then
        ok "ONEM2M-KDF derivation '$d' has a worked example"
    else
        not_ok "ONEM2M-KDF derivation '$d' has a worked example"
    fi
done
if ((n_oscore >= 3)); then
    ok "found $n_oscore OSCORE-KDF examples (at least 3)"
else
    not_ok "found at least 3 OSCORE-KDF examples" "found $n_oscore"
fi

if ((failures > 0)); then
    printf '# %d check(s) failed\n' "$failures"
    exit 1
fi
printf '# all checks passed (%d session, %d oneM2M, %d OSCORE examples)\n' \
    "$n_session" "$n_onem2m" "$n_oscore"
