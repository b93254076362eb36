#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# m2msec esprim (docs/m2msec.1): help texts and usage errors (exit 2); keys
# only from files, never printed; state-init (exact bytes, refusals);
# rand and rand-check (strict JSON, expired objects); seal from stdin or a
# file, open to stdout or a file (binary primitive round trip, reply);
# refusals (exit 1) with their reasons and no output file: a replay in a
# later run, a wrong kid, a wrong key, tampering, a malformed JWE, an
# expired RandObject; input errors (exit 2): missing state, bad key file.
set -uo pipefail
# shellcheck source=tests/cli/lib.sh
. "${M2M_SOURCE_DIR:?}/tests/cli/lib.sh"

M2M=${M2M_TOOL:-${M2M_BUILD_DIR:?}/tools/m2msec}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/m2msec-esprim-cli.XXXXXX")
trap 'rm -rf -- "$TMP"' EXIT
export OPENSSL_MODULES=$M2M_MODULES

KEY=00112233445566778899aabbccddeeff0123456789abcdef0123456789abcdef
OTHER=ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100
printf '%s\n' "$KEY" >"$TMP/key"
printf '%s\n' "$OTHER" >"$TMP/other.key"
S=$TMP/recv.state
common=(--key-file "$TMP/key" --kid kid-1)

# ---------------------------------------------------------------- help and usage
run "$M2M" --help
expect_run "m2msec --help lists esprim" 0 '^  esprim  '
for sub in "" state-init rand rand-check seal open; do
    # shellcheck disable=SC2086 # an empty $sub is no argument
    run "$M2M" esprim $sub --help
    expect_run "m2msec esprim $sub --help: exit 0" 0 '^usage: m2msec esprim'
    if grep -q 'Exit codes: 0' <<<"$out"; then
        ok "m2msec esprim $sub --help names the exit codes"
    else
        not_ok "m2msec esprim $sub --help names the exit codes"
    fi
done
run "$M2M" esprim
expect_run "esprim without a subcommand: exit 2" 2 'usage: m2msec esprim state-init'
run "$M2M" esprim frob
expect_run "unknown subcommand: exit 2" 2 "unknown esprim subcommand 'frob'"
run "$M2M" esprim seal --key "$KEY" --kid kid-1 --receiver-rand x
expect_run "no option takes a key on the command line: exit 2" 2 \
    'keys are never taken on the command line'
expect_eq "and the key given is not echoed" "$(grep -c "$KEY" <<<"$out$err")" 0
run "$M2M" esprim state-init "$S"
expect_run "state-init without --kid: exit 2" 2 '--kid is required'
run "$M2M" esprim rand --state "$S" --kid kid-1
expect_run "rand without --key-file: exit 2" 2 '--key-file is required'
run "$M2M" esprim seal "${common[@]}" --receiver-rand x --enc A512GCM
expect_run "seal --enc A512GCM: exit 2" 2 "A512GCM"
run "$M2M" esprim rand --state "$S" "${common[@]}" --lifetime 0
expect_run "rand --lifetime 0: exit 2" 2 'lifetime'
run "$M2M" esprim rand --state "$S" "${common[@]}" --aead A128GCM,A128GCM
expect_run "rand --aead with a repeat: exit 2" 2 'listed twice'
run "$M2M" esprim open --state "$S" "${common[@]}" --reply x
expect_run "open --reply without --reply-out: exit 2" 2 'go together'
run "$M2M" esprim rand-check --role sender x
expect_run "rand-check --role sender: exit 2" 2 'receiver or originator'
check "nothing was created by the usage errors" test ! -e "$S"

# ---------------------------------------------------------------- state-init
run "$M2M" esprim state-init "$S" --kid kid-1
expect_run "state-init: exit 0" 0 "initialised for kid kid-1"
expect_eq "the initial state is exactly the documented two lines" \
    "$(od -An -tx1 "$S" | tr -d ' \n')" \
    "$(printf 'm2msec-esprim-state 1\nkid kid-1\n' | od -An -tx1 | tr -d ' \n')"
expect_eq "state mode" "$(stat -c %a "$S")" 600
before=$(cat "$S")
run "$M2M" esprim state-init "$S" --kid kid-1
expect_run "state-init over an existing state: exit 1" 1 'already exists'
expect_eq "the existing state is unchanged" "$(cat "$S")" "$before"
run "$M2M" esprim state-init "$TMP/no/such/dir/s" --kid kid-1
expect_run "state-init in a missing directory: exit 2" 2 'not initialised'
run "$M2M" esprim state-init "$TMP/s2" --kid 'a b'
expect_run "state-init with a bad kid: exit 2" 2 'kid must be'

# ---------------------------------------------------------------- keys from files
run "$M2M" esprim rand --state "$S" --key-file "$TMP/nokey" --kid kid-1
expect_run "a missing key file: exit 2" 2 'nokey'
printf '0011\n' >"$TMP/short.key"
run "$M2M" esprim rand --state "$S" --key-file "$TMP/short.key" --kid kid-1
expect_run "a 2-byte key file: exit 2" 2 'short.key'
run "$M2M" esprim rand --state "$TMP/missing.state" "${common[@]}"
expect_run "rand without a state: exit 2, says how to start" 2 'first start'

# ---------------------------------------------------------------- rand, rand-check
run "$M2M" esprim rand --state "$S" "${common[@]}" --lifetime 600 --out "$TMP/r.json"
expect_run "rand --out: exit 0" 0
R=$(cat "$TMP/r.json")
if [[ $R =~ ^\{\"esprimRandID\":\"r[A-Za-z0-9_-]{16}\",\"esprimRandValue\":\"[A-Za-z0-9_-]{22}\",\"esprimRandExpiry\":\"[0-9]{8}T[0-9]{6}\",\"esprimKeyGenAlgIDs\":\[1\],\"esprimProtocolAndAlgIDs\":\[10,11,12\]\}$ ]]; then
    ok "the RandObject JSON has the documented form"
else
    not_ok "the RandObject JSON has the documented form"
    diag "$R"
fi
rid=$(sed -n 's/.*"esprimRandID":"\([^"]*\)".*/\1/p' <<<"$R")
check "the RandObject is in the state" grep -q "^rand $rid " "$S"
run "$M2M" esprim rand-check --role receiver "$TMP/r.json"
expect_run "rand-check: valid" 0 "^id $rid"
expiry_line=$(grep '^expiry' <<<"$out")
want=$(($(date +%s) + 600))
got=$(awk '{print $3}' <<<"$expiry_line")
if ((got >= want - 5 && got <= want + 5)); then ok "expiry is now + 600 s"; else not_ok "expiry is now + 600 s ($expiry_line)"; fi
run "$M2M" esprim rand-check --role receiver <"$TMP/r.json"
expect_run "rand-check reads standard input" 0 "^aeads 10 11 12$"
run "$M2M" esprim rand-check --role originator "$TMP/r.json"
expect_run "a receiver RandObject checked as an originator's: exit 1" 1 \
    'esprimKeyGenAlgIDs'
sed 's/"esprimRandID"/"esprimRandID":"x","esprimRandID"/' "$TMP/r.json" >"$TMP/dup.json"
run "$M2M" esprim rand-check --role receiver "$TMP/dup.json"
expect_run "a duplicate member: exit 1" 1 'given twice'
sed 's/"esprimRandExpiry":"[0-9T]*"/"esprimRandExpiry":"20200101T000000"/' "$TMP/r.json" >"$TMP/old.json"
run "$M2M" esprim rand-check --role receiver "$TMP/old.json"
expect_run "an expired RandObject is valid JSON, marked expired" 0 '\(expired\)'

# ---------------------------------------------------------------- seal and open
printf 'hello ESPrim' >"$TMP/p1"
run "$M2M" esprim seal "${common[@]}" --receiver-rand "$TMP/r.json" --in "$TMP/p1" \
    --out "$TMP/o1.jwe"
expect_run "seal --in --out: exit 0" 0
J1=$(cat "$TMP/o1.jwe")
IFS=. read -r h k iv _ tag <<<"$J1"
expect_eq "the JWE has an empty encrypted key" "${k:-empty}" "empty"
expect_eq "the IV is 16 base64url characters (12 bytes)" "${#iv}" 16
expect_eq "the tag is 22 base64url characters (16 bytes)" "${#tag}" 22
hdr=$(printf '%s' "$h" | tr -- '-_' '+/' | { s=$(cat); while ((${#s} % 4)); do s+="="; done; printf '%s' "$s"; } | openssl base64 -d -A)
if [[ $hdr == '{"alg":"dir","enc":"A128GCM","kid":"kid-1","ori":"o'*'","rri":"'"$rid"'","oro":{"esprimRandID":"o'* ]]; then
    ok "the protected header is dir / A128GCM / kid / ori / rri / oro"
else
    not_ok "the protected header is dir / A128GCM / kid / ori / rri / oro"
    diag "$hdr"
fi
run "$M2M" esprim open --state "$S" "${common[@]}" --in "$TMP/o1.jwe"
expect_run "open: exit 0" 0 'new session'
expect_eq "open writes the primitive to stdout" "$out" "hello ESPrim"
check "the session is in the state" grep -q "^session $rid o" "$S"
run "$M2M" esprim open --state "$S" "${common[@]}" --in "$TMP/o1.jwe" --out "$TMP/again"
expect_run "the same object in a later run: exit 1 (session closed)" 1 'was closed'
check "no output file after a refusal" test ! -e "$TMP/again"

head -c 100000 /dev/urandom >"$TMP/bin"
"$M2M" esprim seal "${common[@]}" --receiver-rand "$TMP/r.json" --enc A256GCM <"$TMP/bin" \
    >"$TMP/o2.jwe" 2>"$TMP/err"
check "seal from standard input (100 kB of binary, A256GCM)" test -s "$TMP/o2.jwe"
printf 'the reply' >"$TMP/reply"
run "$M2M" esprim open --state "$S" "${common[@]}" --out "$TMP/bin.out" --reply "$TMP/reply" \
    --reply-out "$TMP/reply.jwe" <"$TMP/o2.jwe"
expect_run "open from standard input with a reply: exit 0" 0 'A256GCM'
check "the binary primitive comes back byte for byte" cmp -s "$TMP/bin" "$TMP/bin.out"
expect_eq "the primitive file is mode 0600" "$(stat -c %a "$TMP/bin.out")" 600
rh=$(cut -d. -f1 "$TMP/reply.jwe" | tr -- '-_' '+/' | { s=$(cat); while ((${#s} % 4)); do s+="="; done; printf '%s' "$s"; } | openssl base64 -d -A)
if [[ $rh == '{"alg":"dir","enc":"A256GCM","kid":"kid-1","ori":"o'*'","rri":"'"$rid"'"}' ]]; then
    ok "the reply is sealed under the request's session (same enc, no oro)"
else
    not_ok "the reply is sealed under the request's session"
    diag "$rh"
fi

# ---------------------------------------------------------------- refusals
seal_one() { "$M2M" esprim seal "${common[@]}" --receiver-rand "$TMP/r.json" <<<"$1"; }
J=$(seal_one "for the wrong kid")
run "$M2M" esprim open --state "$S" --key-file "$TMP/key" --kid kid-2 <<<"$J"
expect_run "open with another kid: exit 2 (the state is kid-1's)" 2 'written for kid kid-1'
"$M2M" esprim state-init "$TMP/k2.state" --kid kid-2 >/dev/null
run "$M2M" esprim open --state "$TMP/k2.state" --key-file "$TMP/key" --kid kid-2 <<<"$J"
expect_run "an object for kid-1 at a kid-2 Receiver: exit 1" 1 'is not this end.s pairwiseESPrimKey ID'
run "$M2M" esprim open --state "$S" --key-file "$TMP/other.key" --kid kid-1 <<<"$J"
expect_run "another key: exit 1 (not authentic)" 1 'did not authenticate'
expect_eq "no key material in the messages" "$(grep -ciE "$KEY|$OTHER" "$TMP/all-output")" 0
J=$(seal_one "tampered")
T=${J%?????}X${J: -4}
[[ $T == "$J" ]] && T=${J%?????}Y${J: -4}
run "$M2M" esprim open --state "$S" "${common[@]}" <<<"$T"
expect_run "a tampered tag: exit 1" 1 'did not authenticate'
run "$M2M" esprim open --state "$S" "${common[@]}" <<<"${J%.*}"
expect_run "four parts: exit 1" 1 'has 5 parts'
run "$M2M" esprim open --state "$S" "${common[@]}" <<<"${J%.*}.AAAA"
expect_run "a truncated tag: exit 1" 1 'truncated'
run "$M2M" esprim open --state "$S" "${common[@]}" <<<"eyJhbGciOiJub25lIn0..AAAAAAAAAAAAAAAA.AAAA.AAAAAAAAAAAAAAAAAAAAAA"
expect_run "alg none: exit 1" 1 '"alg":"none"'
run "$M2M" esprim seal "${common[@]}" --receiver-rand "$TMP/old.json" <<<"late"
expect_run "seal for an expired receiver RandObject: exit 1" 1 'expired'
run "$M2M" esprim seal "${common[@]}" --receiver-rand "$TMP/dup.json" <<<"x"
expect_run "seal for a malformed receiver RandObject: exit 1" 1 'given twice'
run "$M2M" esprim seal "${common[@]}" --receiver-rand "$TMP/r.json" --in /dev/null
expect_run "an empty primitive: exit 2" 2 'empty'
run "$M2M" esprim open --state "$TMP/missing.state" "${common[@]}" <<<"$J"
expect_run "open without a state: exit 2" 2 'first start'
check "and it is not created" test ! -e "$TMP/missing.state"

finish
