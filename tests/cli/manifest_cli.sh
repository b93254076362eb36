#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The manifest format examples of docs/PROTOCOL.md section 7 against the stock tools: the example manifest
# passes `sha256sum -c --strict` on the tree it describes, its '# meta' lines
# match stat(1), the SHA-384 digests it quotes pass `sha384sum -c`, and the
# signing commands it gives (Ed25519 and ECDSA P-256, pkeyutl -rawin and
# dgst) verify each other. The library side of the same checks is in
# tests/integrity/test_manifest.c.
set -uo pipefail
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"

DOC="$M2M_SOURCE_DIR/docs/PROTOCOL.md"

# The first fenced block after the line that introduces the example.
awk '/^Example, for a root holding/ {f = 1; next}
     f == 1 && /^```/ {f = 2; next}
     f == 2 && /^```/ {exit}
     f == 2 {print}' "$DOC" >"$TMP/MANIFEST"
if [[ -s "$TMP/MANIFEST" ]]; then
    ok "example manifest found in ${DOC#"$M2M_SOURCE_DIR"/}"
else
    not_ok "example manifest found in $DOC"
    finish
    exit 1
fi

mkdir -p "$TMP/root/bin" "$TMP/root/etc"
printf 'hello\n' >"$TMP/root/bin/app"
printf 'key = value\n' >"$TMP/root/etc/conf"
chmod 0755 "$TMP/root/bin/app"
chmod 0644 "$TMP/root/etc/conf"

out=$(cd "$TMP/root" && sha256sum -c --strict "$TMP/MANIFEST" 2>&1)
expect_eq "sha256sum -c --strict accepts the example" "$(printf '%s' "$out" | tr '\n' ' ')" \
    "bin/app: OK etc/conf: OK"

while read -r _ _ mode size path; do
    expect_eq "meta of $path matches stat" "$(stat -c '%04a %s' "$TMP/root/$path")" "$mode $size"
done < <(grep '^# meta ' "$TMP/MANIFEST")

# The SHA-384 variant: the two 96-digit digests quoted in the text.
# shellcheck disable=SC2016 # the backquotes are Markdown code spans, matched literally
mapfile -t d384 < <(grep -oE '`[0-9a-f]{96}`' "$DOC" | tr -d '`' | head -2)
{
    sed -n '1,3p' "$TMP/MANIFEST"
    echo '# digest SHA384'
    echo '# meta 0755 6 bin/app'
    echo "${d384[0]:-}  bin/app"
    echo '# meta 0644 12 etc/conf'
    echo "${d384[1]:-}  etc/conf"
} >"$TMP/MANIFEST384"
out=$(cd "$TMP/root" && sha384sum -c --strict "$TMP/MANIFEST384" 2>&1)
expect_eq "sha384sum -c accepts the quoted SHA-384 digests" "$(printf '%s' "$out" | tr '\n' ' ')" \
    "bin/app: OK etc/conf: OK"

# A change is noticed by the reference, so the check above is real.
printf 'hellO\n' >"$TMP/root/bin/app"
if (cd "$TMP/root" && sha256sum -c --strict --quiet "$TMP/MANIFEST" >/dev/null 2>&1); then
    not_ok "sha256sum -c refuses a changed file"
else
    ok "sha256sum -c refuses a changed file"
fi

# The signing commands of section 7.2.
cd "$TMP" || exit 1
M=MANIFEST
"$OPENSSL" genpkey -algorithm ed25519 -out ed.pem 2>/dev/null
"$OPENSSL" pkey -in ed.pem -pubout -out ed.pub
"$OPENSSL" pkeyutl -sign -inkey ed.pem -rawin -in $M -out $M.sig
expect_eq "Ed25519: 64-byte raw signature" "$(wc -c <$M.sig | tr -d ' ')" "64"
expect_eq "Ed25519: pkeyutl -verify -rawin" \
    "$("$OPENSSL" pkeyutl -verify -pubin -inkey ed.pub -rawin -in $M -sigfile $M.sig 2>&1)" \
    "Signature Verified Successfully"
cp $M $M.changed
printf '# extra\n' >>$M.changed
if "$OPENSSL" pkeyutl -verify -pubin -inkey ed.pub -rawin -in $M.changed -sigfile $M.sig \
    >/dev/null 2>&1; then
    not_ok "Ed25519: a changed manifest fails"
else
    ok "Ed25519: a changed manifest fails"
fi

"$OPENSSL" genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ec.pem
"$OPENSSL" pkey -in ec.pem -pubout -out ec.pub
"$OPENSSL" pkeyutl -sign -inkey ec.pem -rawin -digest sha256 -in $M -out $M.ecsig
expect_eq "P-256: pkeyutl -rawin -digest sha256 verifies" \
    "$("$OPENSSL" pkeyutl -verify -pubin -inkey ec.pub -rawin -digest sha256 -in $M \
        -sigfile $M.ecsig 2>&1)" "Signature Verified Successfully"
expect_eq "P-256: the pkeyutl signature verifies with dgst" \
    "$("$OPENSSL" dgst -sha256 -verify ec.pub -signature $M.ecsig $M 2>&1)" "Verified OK"
"$OPENSSL" dgst -sha256 -sign ec.pem -out $M.dgstsig $M
expect_eq "P-256: the dgst signature verifies with pkeyutl -rawin" \
    "$("$OPENSSL" pkeyutl -verify -pubin -inkey ec.pub -rawin -digest sha256 -in $M \
        -sigfile $M.dgstsig 2>&1)" "Signature Verified Successfully"
if "$OPENSSL" dgst -sha384 -verify ec.pub -signature $M.ecsig $M >/dev/null 2>&1; then
    not_ok "P-256: the signature is bound to SHA-256"
else
    ok "P-256: the signature is bound to SHA-256"
fi

finish
