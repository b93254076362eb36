# SPDX-License-Identifier: Apache-2.0
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

# check LABEL CMD...: ok when CMD succeeds.
check() {
    local label=$1
    shift
    if "$@"; then ok "$label"; else not_ok "$label"; fi
}

# run CMD...: $rc, $out (stdout) and $err (stderr) of the command; both
# outputs are also appended to $TMP/all-output.
run() {
    rc=0
    "$@" >"$TMP/run.out" 2>"$TMP/run.err" || rc=$?
    out=$(cat "$TMP/run.out")
    err=$(cat "$TMP/run.err")
    cat "$TMP/run.out" "$TMP/run.err" >>"$TMP/all-output"
}

# expect_run LABEL RC [REGEX]: the last run exited RC and, if given, its
# stdout + stderr match the extended regular expression.
expect_run() {
    local label=$1 want=$2 re=${3:-}
    if [[ $rc -ne $want ]]; then
        not_ok "$label"
        diag "exit code $rc, want $want" "stdout: $out" "stderr: $err"
    elif [[ -n "$re" ]] && ! grep -Eq -- "$re" <<<"$out"$'\n'"$err"; then
        not_ok "$label"
        diag "no match for: $re" "stdout: $out" "stderr: $err"
    else
        ok "$label"
    fi
}

# A key as `openssl kdf` prints it: hex bytes separated by colons.
HEXKEY_RE='[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2})+'

# expect_key LABEL: the last command ($RC; output in $TMP/out, $TMP/err)
# exited 0 and printed a key line.
expect_key() {
    if [[ $RC -eq 0 ]] && grep -qE "^$HEXKEY_RE\$" "$TMP/out"; then
        ok "$1"
    else
        not_ok "$1"
        diag "exit $RC" "$(cat "$TMP/out" "$TMP/err")"
    fi
}

# expect_no_key LABEL: the last command ($RC, $TMP/out) exited non-zero and
# printed no key.
expect_no_key() {
    if [[ $RC -ne 0 ]] && ! grep -qE "$HEXKEY_RE" "$TMP/out"; then
        ok "$1"
    else
        not_ok "$1"
        diag "exit $RC" "$(cat "$TMP/out")"
    fi
}

# expect_stderr LABEL TEXT...: each TEXT (a fixed string) is in $TMP/err.
expect_stderr() {
    local label=$1 text
    shift
    for text in "$@"; do
        if grep -qF -- "$text" "$TMP/err"; then
            ok "$label: stderr says \"$text\""
        else
            not_ok "$label: stderr says \"$text\""
            diag "$(cat "$TMP/err")"
        fi
    done
}

# write_conf FILE ACTIVATE(1|"") SECTION-LINES...: an openssl.cnf that
# activates the default provider and gives m2msec (the built module) the
# section m2msec_sect, activated when ACTIVATE is 1, with the given lines.
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
        echo "module = $(cd "$M2M_MODULES" && pwd)/m2msec.so"
        [[ -n "$activate" ]] && echo "activate = 1"
        printf '%s\n' "$@"
    } >"$file"
}

# provider_status CONF: the status of m2msec in `openssl list -providers`
# with OPENSSL_CONF=CONF: "active", "inactive", "absent" (not listed), or
# "openssl failed (exit N)".
provider_status() {
    local list st=0
    list=$(OPENSSL_CONF=$1 "$OPENSSL" list -providers 2>/dev/null) || st=$?
    if [[ $st -ne 0 ]]; then
        echo "openssl failed (exit $st)"
        return
    fi
    awk '/^  m2msec$/ {f = 1; next} /^  [^ ]/ {f = 0} f && /status:/ {print $2; found = 1}
         END {if (!found) print "absent"}' <<<"$list"
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
