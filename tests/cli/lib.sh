# shellcheck shell=bash
# Shared helpers for the CLI tests; sourced by tests/cli/*.sh (bash).
#
# Every check prints one TAP-like line, "ok - ..." or "not ok - ..."; finish
# prints a summary and fails when any check failed.

: "${M2M_MODULES:?M2M_MODULES must name the directory holding the built m2msec.so}"
OPENSSL=${OPENSSL:-openssl}
# The references use the stock default provider: keep a user's config out.
unset OPENSSL_CONF OPENSSL_MODULES

n_ok=0
n_fail=0

ok() {
    n_ok=$((n_ok + 1))
    echo "ok - $*"
}

not_ok() {
    n_fail=$((n_fail + 1))
    echo "not ok - $*"
}

# diag TEXT: an indented diagnostic under the previous line.
diag() {
    printf '%s\n' "$@" | sed 's/^/#   /'
}

# expect_eq LABEL GOT WANT
expect_eq() {
    if [[ -n "$3" && "$2" == "$3" ]]; then
        ok "$1"
    else
        not_ok "$1"
        diag "got:  $2" "want: $3"
    fi
}

# expect_ne LABEL A B: both non-empty and different.
expect_ne() {
    if [[ -n "$2" && -n "$3" && "$2" != "$3" ]]; then
        ok "$1"
    else
        not_ok "$1"
        diag "a: $2" "b: $3"
    fi
}

finish() {
    echo "# $n_ok passed, $n_fail failed"
    [[ $n_fail -eq 0 ]]
}

# Hex helpers: plain lowercase hex, no separators.
norm() { tr -d ': \r\n' | tr 'A-F' 'a-f'; }
hexof() { od -An -v -tx1 | tr -d ' \n'; }
strhex() { printf '%s' "$1" | hexof; }
# unhex HEX: the raw bytes on stdout.
unhex() { printf '%b' "$(printf '%s' "$1" | sed 's/../\\x&/g')"; }
# Length-prefixed fields and big-endian integers of the M2M-SESSION-KDF info.
lp_hex() { printf '%04x%s' $((${#1} / 2)) "$1"; }
lp_str() { lp_hex "$(strhex "$1")"; }
u32() { printf '%08x' "$1"; }
u64() { printf '%016x' "$1"; }

# m2m_kdf ARGS...: openssl kdf with m2msec and default loaded from the build.
m2m_kdf() {
    "$OPENSSL" kdf -provider-path "$M2M_MODULES" -provider m2msec -provider default "$@"
}

# kdf_hex ARGS...: normalised output of m2m_kdf, or "ERROR: <stderr>".
kdf_hex() {
    local out
    if out=$(m2m_kdf "$@" 2>"$TMP/kdf_err"); then
        printf '%s' "$out" | norm
    else
        printf 'ERROR: %s' "$(tr '\n' ' ' <"$TMP/kdf_err")"
    fi
}

# stock_hkdf DIGEST KEYHEX SALTHEX INFOHEX L: OpenSSL's own HKDF (default provider).
stock_hkdf() {
    local salt=()
    [[ -n "$3" ]] && salt=(-kdfopt "hexsalt:$3")
    "$OPENSSL" kdf -keylen "$5" -kdfopt "digest:$1" -kdfopt "hexkey:$2" "${salt[@]}" \
        -kdfopt "hexinfo:$4" HKDF 2>&1 | norm
}

# stock_hmac KEYHEX FILE: OpenSSL's own HMAC-SHA-256 over the file's bytes.
stock_hmac() {
    "$OPENSSL" mac -digest SHA256 -macopt "hexkey:$1" -in "$2" HMAC 2>&1 | norm
}

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
