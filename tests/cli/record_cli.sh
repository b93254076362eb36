#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# m2msec record seal | open (docs/m2msec.1): records of a libm2msec session
# from the shell.
#   - the bytes: a first seal from a fresh state is exactly the record of
#     docs/PROTOCOL.md 6.6 (computed there with an independent
#     implementation), for AES-128-GCM and for AES-128-CCM with an 8-byte
#     tag; `record open` opens those published records;
#   - replay protection across runs: the same record opened twice is
#     refused (exit 1) and nothing is written; a record older than the last
#     one opened is refused; every seal run has an epoch of its own;
#   - forged, truncated and wrong-key records: exit 1, no output file;
#   - keys: only from a file, closed to group and others; --key refused;
#   - usage: --help, missing options, a missing state (exit 2).
set -euo pipefail
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"

M2M=${M2M_TOOL:-$M2M_BUILD_DIR/tools/m2msec}
cd "$TMP"
KEY=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f
printf '%s\n' "$KEY" >key
chmod 600 key
PT=temperature=21.5
# docs/PROTOCOL.md 6.6: epoch 1 (a first start), seq 0, "temperature=21.5"
WANT_GCM=0100000001000000000000d6e0d85333a52da9ea40be623c9506f4be4d83a87074eb52fb8bab957a37b9a9
WANT_CCM8=0100000001000000000000740bd13324e5a921044cd78d66e9182a240815957c06a9ca
C=(--key-file key --originator device-1 --receiver gateway-1 --provider-dir "$M2M_MODULES")

# fresh NAME: a newly initialised state file NAME.
fresh() {
    rm -f "$1" "$1.lock"
    "$M2M" state init "$1" >/dev/null
}

echo "# the bytes: the worked examples of PROTOCOL.md 6.6"
fresh s1
printf '%s' "$PT" >pt
run "$M2M" record seal --state s1 "${C[@]}" --in pt --out r1
expect_run "seal: exit 0" 0
expect_eq "seal from a first start = PROTOCOL.md 6.6 record 0 (AES-128-GCM)" "$(hexof <r1)" "$WANT_GCM"
fresh s2
run "$M2M" record seal --state s2 "${C[@]}" --aead M2M-REC-AES-128-CCM --tag-len 8 --in pt --out r2
expect_eq "seal, AES-128-CCM with an 8-byte tag = PROTOCOL.md 6.6" "$(hexof <r2)" "$WANT_CCM8"
fresh rx
unhex "$WANT_GCM" >pub
run "$M2M" record open --state rx "${C[@]}" --in pub
expect_run "open the published record: exit 0" 0
expect_eq "open the published record: its plaintext" "$out" "$PT"
fresh rx8
unhex "$WANT_CCM8" >pub8
run "$M2M" record open --state rx8 "${C[@]}" --aead M2M-REC-AES-128-CCM --tag-len 8 --in pub8
expect_eq "open the published CCM-8 record" "$out" "$PT"
run "$M2M" record open --state rx8 "${C[@]}" --in pub8
expect_run "a CCM-8 record opened as AES-128-GCM: refused" 1 "record is refused"

echo "# a stream from the shell: each seal run has an epoch of its own"
fresh snd
fresh rcv
head -c 1000 /dev/urandom >big
: >empty
for i in 1 2 3; do
    "$M2M" record seal --state snd "${C[@]}" --in big --out "rec$i"
done
"$M2M" record seal --state snd "${C[@]}" --in empty --out rec4
epochs=$(for i in 1 2 3 4; do od -An -tx1 -j1 -N4 "rec$i" | tr -d ' \n'; echo; done | paste -sd,)
expect_eq "four seal runs: epochs 1, 2, 3, 4" "$epochs" "00000001,00000002,00000003,00000004"
expect_eq "record length: input + 27" "$(wc -c <rec1 | tr -d ' ')" 1027
expect_eq "the same input twice: different records" \
    "$(cmp -s rec1 rec2 && echo same || echo different)" different
run "$M2M" record open --state rcv "${C[@]}" --in rec1 --out p1
expect_run "open record 1: exit 0" 0
check "open record 1: the plaintext" cmp -s p1 big
run "$M2M" record open --state rcv "${C[@]}" --in rec1 --out again
expect_run "record 1 opened again: refused (exit 1)" 1 "m2msec: the record is refused: "
check "record 1 opened again: no output file" test ! -e again
run "$M2M" record open --state rcv "${C[@]}" --in rec3 --out p3
expect_run "open record 3 (record 2 skipped)" 0
run "$M2M" record open --state rcv "${C[@]}" --in rec2 --out p2
expect_run "record 2 after record 3: refused (older than the last opened)" 1 "stale epoch"
check "record 2 after record 3: no output file" test ! -e p2
run "$M2M" record open --state rcv "${C[@]}" --in rec3 --out again
expect_run "record 3 opened again: refused" 1 "record is refused"
run "$M2M" record open --state rcv "${C[@]}" --in rec4
expect_run "the empty record: exit 0" 0
expect_eq "the empty record: no plaintext" "$(wc -c <"$TMP/run.out" | tr -d ' ')" 0

echo "# forged, truncated, wrong key"
"$M2M" record seal --state snd "${C[@]}" --in pt --out rec5
# byte 20 (in the ciphertext) XOR 1; no dd: CI runs these scripts with ASan preloaded,
# and coreutils' dd aborts under it (aligned_alloc)
b=$(od -An -tu1 -j20 -N1 rec5 | tr -d ' ')
{
    head -c 20 rec5
    printf '%b' "\\0$(printf '%03o' $((b ^ 1)))"
    tail -c +22 rec5
} >forged
expect_ne "the forged record differs from the genuine one" "$(hexof <forged)" "$(hexof <rec5)"
run "$M2M" record open --state rcv "${C[@]}" --in forged --out pf
expect_run "a flipped ciphertext byte: refused" 1 "authentication failed"
check "forged: no output file" test ! -e pf
head -c 20 rec5 >short
run "$M2M" record open --state rcv "${C[@]}" --in short --out pf
expect_run "a truncated record: refused" 1 "record is refused"
printf '%s\n' "ff${KEY:2}" >key2
chmod 600 key2
run "$M2M" record open --state rcv --key-file key2 --originator device-1 --receiver gateway-1 \
    --provider-dir "$M2M_MODULES" --in rec5 --out pf
expect_run "another key: refused" 1 "authentication failed"
run "$M2M" record open --state rcv --key-file key --originator device-2 --receiver gateway-1 \
    --provider-dir "$M2M_MODULES" --in rec5 --out pf
expect_run "another originator: refused" 1 "authentication failed"
run "$M2M" record open --state rcv "${C[@]}" --in rec5 --out p5
expect_run "the genuine record after the forgeries: exit 0" 0
check "the genuine record: its plaintext" cmp -s p5 pt

echo "# keys"
run "$M2M" record seal --state snd --key "$KEY" --originator a --receiver b --in pt
expect_run "--key on the command line: refused (exit 2)" 2 "never taken on the command line"
cp key open-key
chmod 644 open-key
run "$M2M" record seal --state snd --key-file open-key --originator a --receiver b \
    --provider-dir "$M2M_MODULES" --in pt
expect_run "a key file readable by others: refused (exit 2)" 2 "mode 0644.*chmod 600"
chmod 640 open-key
run "$M2M" record seal --state snd --key-file open-key --originator a --receiver b \
    --provider-dir "$M2M_MODULES" --in pt
expect_run "a key file readable by the group: refused (exit 2)" 2 "mode 0640"
ln -s key key-link
run "$M2M" record seal --state snd --key-file key-link --originator a --receiver b \
    --provider-dir "$M2M_MODULES" --in pt
expect_run "a symlink as key file: refused (exit 2)" 2 "not a regular file"
printf 'not hex\n' >bad-key
chmod 600 bad-key
run "$M2M" record seal --state snd --key-file bad-key --originator a --receiver b \
    --provider-dir "$M2M_MODULES" --in pt
expect_run "a key file that is not hex: refused (exit 2)" 2 "bad-key"

echo "# usage"
run "$M2M" record --help
expect_run "record --help: exit 0" 0 "m2msec record seal"
run "$M2M" record seal --help
expect_run "record seal --help: exit 0" 0 "--key-file FILE"
run "$M2M" record open --help
expect_run "record open --help: exit 0" 0 "opened again is refused|same record opened again"
run "$M2M" record
expect_run "record without a subcommand: exit 2" 2
run "$M2M" record frobnicate
expect_run "an unknown subcommand: exit 2" 2 "unknown record subcommand"
run "$M2M" record seal --state snd --key-file key --in pt
expect_run "no --originator/--receiver: exit 2" 2 "are required"
run "$M2M" record seal --state missing.state "${C[@]}" --in pt --out none
expect_run "a state never initialised: exit 2" 2 "session cannot start"
check "a state never initialised: no record written" test ! -e none
run "$M2M" record seal --state snd "${C[@]}" --tag-len 12 --in pt
expect_run "--tag-len 12: exit 2" 2 "expected 8 or 16"
run "$M2M" record seal --state snd "${C[@]}" --in pt extra
expect_run "an extra argument: exit 2" 2 "unexpected argument"

finish
