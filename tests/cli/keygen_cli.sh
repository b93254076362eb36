#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# m2msec keygen: the device key is read by `m2msec verify`/`status` and its
# status record's MAC checks out with the stock `openssl mac` under the
# file's hex; the Ed25519 pair matches what the stock `openssl pkey` derives,
# and a manifest signed with it verifies with `openssl pkeyutl -rawin`.
# Files are 0600 (private) and 0644 (public), never overwritten, and refused
# in a directory that group or others can write.
set -euo pipefail
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"

M2M=${M2M_TOOL:-${M2M_BUILD_DIR:?}/tools/m2msec}
cd "$TMP"
chmod 0700 "$TMP"

for sub in "keygen" "keygen device-key" "keygen signing-key"; do
    # shellcheck disable=SC2086 # split the subcommand words on purpose
    run "$M2M" $sub --help
    expect_run "m2msec $sub --help: usage and exit codes" 0 'Exit codes'
done
run "$M2M" keygen
expect_run "keygen without a subcommand: exit 2" 2 'usage: m2msec keygen'
run "$M2M" keygen frob
expect_run "unknown keygen subcommand: exit 2" 2 "unknown keygen subcommand 'frob'"
run "$M2M" keygen device-key
expect_run "device-key without FILE: exit 2" 2 'expected exactly one FILE'
for n in 15 65 x -1; do
    run "$M2M" keygen device-key --bytes "$n" dk
    expect_run "device-key --bytes $n: exit 2" 2 'expected 16..64'
done
check "no key left by the refused calls" [ ! -e dk ]
run "$M2M" keygen signing-key a.pem
expect_run "signing-key with one file: exit 2" 2 'PRIV.pem and PUB.pem'
run "$M2M" keygen signing-key a.pem a.pem
expect_run "signing-key with the same file twice: exit 2" 2 'must be different'

# ---------------------------------------------------------------- device key
run "$M2M" keygen device-key dev.key
expect_run "device-key: exit 0" 0 'device key of 32 bytes'
expect_eq "device key mode is 0600" "$(stat -c %a dev.key)" "600"
check "device key is 64 hex digits on one line" grep -qxE '[0-9a-f]{64}' dev.key
expect_eq "device key file is one line" "$(wc -l <dev.key)" "1"
run "$M2M" keygen device-key --bytes 16 dev16.key
expect_run "device-key --bytes 16: exit 0" 0 '16 bytes'
check "16-byte key is 32 hex digits" grep -qxE '[0-9a-f]{32}' dev16.key
"$M2M" keygen device-key dev2.key >/dev/null
expect_ne "two device keys differ" "$(cat dev.key)" "$(cat dev2.key)"

before=$(cat dev.key)
run "$M2M" keygen device-key dev.key
expect_run "device-key over an existing file: exit 1" 1 'exists: a key is never overwritten'
expect_eq "the existing key is unchanged" "$(cat dev.key)" "$before"
ln -s nowhere dangling
run "$M2M" keygen device-key dangling
expect_run "device-key over a dangling symlink: exit 1" 1 'exists'
check "nowhere was not created through the symlink" [ ! -e nowhere ]
mkdir open
chmod 0777 open
run "$M2M" keygen device-key open/k
expect_run "device-key in a world-writable directory: exit 1" 1 'writable by others'
mkdir grp
chmod 0770 grp
run "$M2M" keygen device-key grp/k
expect_run "device-key in a group-writable directory: exit 1" 1 'writable by its group'
check "nothing created in the refused directories" [ -z "$(find open grp -mindepth 1)" ]
run "$M2M" keygen device-key missing/k
expect_run "device-key in a missing directory: exit 2" 2 'missing'
check "no temporary file left next to the keys" [ -z "$(find . -name '*.tmp*')" ]

# The key works where device keys are read, and the record's MAC is the
# stock HMAC-SHA-256 under the key's hex.
mkdir -p root/bin
printf 'hello\n' >root/bin/app
run "$M2M" keygen signing-key sign.pem sign.pub
expect_run "signing-key: exit 0" 0 'Ed25519 private key'
expect_eq "private key mode is 0600" "$(stat -c %a sign.pem)" "600"
expect_eq "public key mode is 0644" "$(stat -c %a sign.pub)" "644"
expect_eq "the stock openssl sees an ED25519 key" \
    "$("$OPENSSL" pkey -in sign.pem -noout -text 2>&1 | head -1)" "ED25519 Private-Key:"
expect_eq "PUB.pem is the public key of PRIV.pem (openssl pkey -pubout)" \
    "$("$OPENSSL" pkey -in sign.pem -pubout)" "$(cat sign.pub)"

"$M2M" manifest create --root root --version 3 -o M
run "$M2M" manifest sign --key sign.pem M
expect_run "manifest sign with the generated key: exit 0" 0
run "$OPENSSL" pkeyutl -verify -pubin -inkey sign.pub -rawin -in M -sigfile M.sig
expect_run "the stock openssl verifies the signature with PUB.pem" 0 'Signature Verified Successfully'
run "$M2M" verify --manifest M --pubkey sign.pub --root root --status-file status \
    --device-key-file dev.key
expect_run "verify with the generated device key: exit 0" 0 'status: passed'
expect_eq "the record's MAC is HMAC-SHA-256 under the generated key" \
    "$(sed -n 5p status | cut -d' ' -f2)" "$(head -4 status | stock_hmac "$(cat dev.key)" /dev/stdin)"

before=$(cat sign.pub)
run "$M2M" keygen signing-key new.pem sign.pub
expect_run "signing-key with an existing PUB.pem: exit 1" 1 'exists'
check "no private key written when PUB.pem exists" [ ! -e new.pem ]
expect_eq "the existing public key is unchanged" "$(cat sign.pub)" "$before"
check "no temporary file left" [ -z "$(find . -name '*.tmp*')" ]
check "no key printed on stdout or stderr" \
    bash -c "! grep -qF -e '$(cat dev.key)' -e '$(cat dev16.key)' '$TMP/all-output'"

finish
