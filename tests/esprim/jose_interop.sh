#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# ESPrim objects between m2msec and an independent JOSE implementation, the
# npm `jose` package (version pinned in tests/esprim/jose/package.json and
# package-lock.json; node:crypto does the HMAC):
#  - the worked examples of docs/PROTOCOL.md 9.7: jose decrypts each one, and
#    re-encrypts it byte for byte from the documented header and IV;
#  - m2msec seals (`m2msec esprim seal`, A128GCM, A192GCM, A256GCM), jose's
#    compactDecrypt opens with the same key;
#  - jose seals (CompactEncrypt, "alg":"dir", A128GCM / A256GCM / A192GCM,
#    kid, ori, rri, oro), `m2msec esprim open` opens;
#  - a tampered protected header, ciphertext or tag is refused by both.
#
# Needs node and npm: without them the test is skipped (exit 77) and says
# so; CI installs them (apt-get install nodejs npm). The package is
# installed with `npm ci` (exact version and integrity from the lock file)
# into $M2M_JOSE_DIR, default $M2M_BUILD_DIR/tests/esprim/jose-node; a
# failed install fails the test.
set -uo pipefail
# shellcheck source=tests/cli/lib.sh
. "${M2M_SOURCE_DIR:?}/tests/cli/lib.sh"

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    echo "SKIP: node and npm are needed for the jose interoperability test" \
        "(apt-get install nodejs npm); CI installs them"
    exit 77
fi
M2M=${M2M_TOOL:-${M2M_BUILD_DIR:?}/tools/m2msec}
SRC=$M2M_SOURCE_DIR/tests/esprim/jose
JD=${M2M_JOSE_DIR:-$M2M_BUILD_DIR/tests/esprim/jose-node}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/m2msec-esprim-jose.XXXXXX")
trap 'rm -rf -- "$TMP"' EXIT
export OPENSSL_MODULES=$M2M_MODULES
# node and npm are not instrumented: keep a sanitizer runtime preload away from them
jnode() { env -u LD_PRELOAD node "$JD/interop.mjs" "$@"; }

want=$(sed -n 's/.*"jose": *"\([^"]*\)".*/\1/p' "$SRC/package.json")
have=$(sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' "$JD/node_modules/jose/package.json" 2>/dev/null |
    head -n 1)
mkdir -p "$JD"
if [[ $have != "$want" ]] || ! cmp -s "$SRC/package-lock.json" "$JD/package-lock.json"; then
    cp "$SRC/package.json" "$SRC/package-lock.json" "$JD/"
    if ! (cd "$JD" && env -u LD_PRELOAD npm ci --no-audit --no-fund --ignore-scripts \
        >"$TMP/npm.log" 2>&1); then
        cat "$TMP/npm.log"
        not_ok "npm ci of jose $want into $JD (see above; the registry must be reachable)"
        finish
        exit 1
    fi
fi
cp "$SRC/interop.mjs" "$JD/"
have=$(sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' "$JD/node_modules/jose/package.json" |
    head -n 1)
expect_eq "jose $want is installed (node $(node --version))" "$have" "$want"

# ---------------------------------------------------------------- the documented examples
run jnode examples "$M2M_SOURCE_DIR/docs/PROTOCOL.md"
printf '%s\n' "$out" | sed 's/^/#   /'
expect_run "jose decrypts and re-encrypts every PROTOCOL.md 9.7 example" 0

# ---------------------------------------------------------------- a Receiver
KEY=$TMP/key
head -c 32 /dev/urandom | od -An -v -tx1 | tr -d ' \n' >"$KEY"
S=$TMP/recv.state
"$M2M" esprim state-init "$S" --kid jose-kid >/dev/null
"$M2M" esprim rand --state "$S" --key-file "$KEY" --kid jose-kid --out "$TMP/r.json"
check "a receiver RandObject" test -s "$TMP/r.json"
printf 'ESPrim primitive for jose\n' >"$TMP/pt"
pt_hex=$(od -An -v -tx1 "$TMP/pt" | tr -d ' \n')

# fresh state per object: each m2msec open below is a first run
m2m_open() { # JWE-FILE OUT -> rc
    local st=$TMP/st.$RANDOM$RANDOM
    head -n 3 "$S" >"$st"
    "$M2M" esprim open --state "$st" --key-file "$KEY" --kid jose-kid --in "$1" --out "$2" \
        2>"$TMP/m2m.err"
}
# tamper KIND JWE -> the object with one part changed (still valid base64url)
tamper() {
    local h k iv ct tag
    IFS=. read -r h k iv ct tag <<<"$2"
    flip() { # change the 2nd character: every value stays a valid encoding
        local c=${1:1:1} n=A
        [[ $c == A ]] && n=B
        printf '%s' "${1:0:1}$n${1:2}"
    }
    case $1 in
    header)
        local json
        json=$(printf '%s' "$h" | tr -- '-_' '+/' |
            { s=$(cat); while ((${#s} % 4)); do s+="="; done; printf '%s' "$s"; } |
            openssl base64 -d -A)
        h=$(printf '%s' "${json%\}},\"x\":1}" | openssl base64 -A | tr '+/' '-_' | tr -d '=')
        ;;
    ciphertext) ct=$(flip "$ct") ;;
    tag) tag=$(flip "$tag") ;;
    esac
    printf '%s.%s.%s.%s.%s' "$h" "$k" "$iv" "$ct" "$tag"
}

# ---------------------------------------------------------------- m2msec -> jose
for enc in A128GCM A192GCM A256GCM; do
    "$M2M" esprim seal --key-file "$KEY" --kid jose-kid --receiver-rand "$TMP/r.json" \
        --enc "$enc" --in "$TMP/pt" --out "$TMP/m.jwe"
    run jnode open "$KEY" "$TMP/r.json" <"$TMP/m.jwe"
    expect_run "m2msec seals $enc, jose compactDecrypt opens it" 0
    expect_eq "jose gets the plaintext ($enc)" "$out" "$pt_hex"
    for kind in header ciphertext tag; do
        tamper "$kind" "$(cat "$TMP/m.jwe")" >"$TMP/t.jwe"
        run jnode open "$KEY" "$TMP/r.json" <"$TMP/t.jwe"
        expect_run "m2msec's $enc object with a tampered $kind: jose refuses it" 1 \
            'JWEDecryptionFailed|decryption operation failed'
        m2m_open "$TMP/t.jwe" "$TMP/t.out"
        rc=$?
        expect_eq "... and m2msec refuses it (exit $rc: $(tr '\n' ' ' <"$TMP/m2m.err"))" \
            "$rc:$(grep -c 'did not authenticate' "$TMP/m2m.err")" "1:1"
    done
    m2m_open "$TMP/m.jwe" "$TMP/m.out"
    expect_eq "m2msec opens its own untampered $enc object" "$?" 0
done

# ---------------------------------------------------------------- jose -> m2msec
for enc in A128GCM A256GCM A192GCM; do
    run jnode seal "$KEY" jose-kid "$TMP/r.json" "$enc" "$TMP/o.json" <"$TMP/pt"
    expect_run "jose CompactEncrypt: dir, $enc, kid, ori, rri, oro" 0
    printf '%s\n' "$out" >"$TMP/j.jwe"
    m2m_open "$TMP/j.jwe" "$TMP/j.out"
    expect_eq "m2msec esprim open accepts jose's $enc object ($(tr '\n' ' ' <"$TMP/m2m.err"))" \
        "$?" 0
    check "m2msec gets the plaintext ($enc)" cmp -s "$TMP/pt" "$TMP/j.out"
    run "$M2M" esprim rand-check --role originator "$TMP/o.json"
    expect_run "jose's originator RandObject passes m2msec's strict parser" 0 '^id oJose'
    for kind in header ciphertext tag; do
        tamper "$kind" "$(cat "$TMP/j.jwe")" >"$TMP/t.jwe"
        m2m_open "$TMP/t.jwe" "$TMP/t.out"
        rc=$?
        expect_eq "jose's $enc object with a tampered $kind: m2msec refuses it (exit $rc)" \
            "$rc:$(grep -c 'did not authenticate' "$TMP/m2m.err")" "1:1"
        check "... and writes nothing" test ! -e "$TMP/t.out"
        run jnode open "$KEY" "$TMP/r.json" <"$TMP/t.jwe"
        expect_run "... and jose refuses it too" 1 'JWEDecryptionFailed|decryption operation failed'
    done
done

finish
