#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# m2msec state init | show, and the explicit first start of the examples'
# sessions (docs/PROTOCOL.md 6.4, docs/m2msec.1):
#  - help texts and usage errors (exit 2);
#  - init writes exactly the documented initial file (compared with printf),
#    mode 0600, and its lock file; it refuses (exit 1) an existing, used or
#    malformed state and leaves it alone; a missing directory is exit 2;
#  - show prints the state, refuses a missing or malformed one (exit 1);
#  - a gateway without --init-state refuses a missing state and says how to
#    initialise it; with it, it starts; while it runs, init is refused
#    ("state in use by another session") even after its state file was
#    deleted, and show still works; a second gateway on that state is
#    refused.
set -euo pipefail
# shellcheck source=tests/cli/lib.sh
. "${M2M_SOURCE_DIR:?}/tests/cli/lib.sh"

M2M=${M2M_TOOL:-${M2M_BUILD_DIR:?}/tools/m2msec}
EX=${M2M_EXAMPLES:-${M2M_BUILD_DIR:?}/examples}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/m2msec-state-cli.XXXXXX")
GW_PID=""
cleanup() {
    [[ -n $GW_PID ]] && kill -9 "$GW_PID" 2>/dev/null && wait "$GW_PID" 2>/dev/null
    rm -rf -- "$TMP"
}
trap cleanup EXIT

# ---------------------------------------------------------------- help and usage
for sub in "state" "state init" "state show"; do
    # shellcheck disable=SC2086 # split the subcommand words on purpose
    run "$M2M" $sub --help
    expect_run "m2msec $sub --help exits 0" 0 '^usage: m2msec state'
    if grep -q 'Exit codes: 0' <<<"$out"; then
        ok "m2msec $sub --help names the exit codes"
    else
        not_ok "m2msec $sub --help names the exit codes"
    fi
done
run "$M2M" --help
expect_run "m2msec --help lists state" 0 '^  state  '
run "$M2M" state
expect_run "state without a subcommand: exit 2" 2 'usage: m2msec state init FILE'
run "$M2M" state frob x
expect_run "unknown state subcommand: exit 2" 2 "unknown state subcommand 'frob'"
run "$M2M" state init
expect_run "state init without FILE: exit 2" 2 'expected exactly one FILE'
run "$M2M" state init "$TMP/a" "$TMP/b"
expect_run "state init with two FILEs: exit 2" 2 'expected exactly one FILE'
run "$M2M" state show --frob "$TMP/a"
expect_run "state show --frob: exit 2" 2 'frob'
check "nothing was written by the usage errors" test ! -e "$TMP/a" -a ! -e "$TMP/b"

# ---------------------------------------------------------------- init
S=$TMP/dev.state
run "$M2M" state init "$S"
expect_run "state init: exit 0" 0 "^$S: initialised \\(epoch 0, seq-floor 0\\)"
expect_eq "the initial state file is exactly the documented one" \
    "$(od -An -tx1 "$S" | tr -d ' \n')" \
    "$(printf 'm2msec-state 1\nepoch 0\nseq-floor 0\n' | od -An -tx1 | tr -d ' \n')"
expect_eq "state file mode" "$(stat -c %a "$S")" 600
check "the lock file is a regular file" test -f "$S.lock" -a ! -L "$S.lock"
run "$M2M" state show "$S"
expect_run "state show: exit 0" 0
expect_eq "state show prints epoch and seq-floor" "$out" $'epoch 0\nseq-floor 0'

before=$(cat "$S")
run "$M2M" state init "$S"
expect_run "state init over an existing state: exit 1" 1 \
    "a state already exists at $S \\(epoch 0 seq-floor 0\\)"
expect_eq "the existing state is unchanged" "$(cat "$S")" "$before"

printf 'm2msec-state 1\nepoch 41\nseq-floor 7\n' >"$S"
run "$M2M" state show "$S"
expect_eq "state show of a used state" "$out" $'epoch 41\nseq-floor 7'
run "$M2M" state init "$S"
expect_run "state init over a used state: exit 1" 1 'a state already exists at .*epoch 41 seq-floor 7'

printf 'garbage\n' >"$TMP/bad.state"
run "$M2M" state init "$TMP/bad.state"
expect_run "state init over a malformed file: exit 1" 1 'exists but cannot be read'
expect_eq "the malformed file is unchanged" "$(cat "$TMP/bad.state")" garbage
run "$M2M" state show "$TMP/bad.state"
expect_run "state show of a malformed file: exit 1" 1 'is malformed'

run "$M2M" state show "$TMP/never.state"
expect_run "state show of a missing state: exit 1" 1 "no stored state at $TMP/never.state"
check "state show created nothing" [ ! -e "$TMP/never.state" ]
run "$M2M" state init "$TMP/no/such/dir/s"
expect_run "state init in a missing directory: exit 2" 2 'cannot resolve its directory .*No such file'

# ---------------------------------------------------------------- with a session
"$OPENSSL" rand -hex 32 >"$TMP/service.key"
G=$TMP/gw.state
gw=("$EX/gateway" --provider-dir "$M2M_MODULES" --key-file "$TMP/service.key" --state "$G"
    --port 0 --idle-ms 20000 --max-ms 20000)
run "${gw[@]}" --port-file "$TMP/port0"
expect_run "gateway on a missing state: exit 1" 1 \
    "no stored state at $G: if this is the session's first start, initialise it with m2msec_store_init\\(\\) or \`m2msec state init $G\`"
check "the gateway created no state" [ ! -e "$G" ]

"${gw[@]}" --init-state --port-file "$TMP/port1" >"$TMP/gw1.out" 2>&1 &
GW_PID=$!
for _ in $(seq 100); do
    [[ -s $TMP/port1 ]] && break
    kill -0 "$GW_PID" 2>/dev/null || break
    sleep 0.05
done
check "gateway --init-state started" test -s "$TMP/port1"
run "$M2M" state show "$G"
expect_eq "state show while the session runs" "$out" $'epoch 0\nseq-floor 0'
run "${gw[@]}" --port-file "$TMP/port2"
expect_run "a second gateway on the same state: exit 1" 1 "state in use by another session \\($G\\)"
rm -f "$G"
run "$M2M" state init "$G"
expect_run "state init under a running session (its state deleted): exit 1" 1 \
    "state in use by another session \\($G\\)"
check "state init wrote nothing under a running session" [ ! -e "$G" ]
kill -TERM "$GW_PID"
wait "$GW_PID" || true
GW_PID=""
run "$M2M" state init "$G"
expect_run "state init once the session ended" 0 'initialised'
run "${gw[@]}" --init-state --port-file "$TMP/port3"
expect_run "gateway --init-state over an existing state: exit 1" 1 'a state already exists at'

# ------------------------------------------- the LMDB gateway store (--store lmdb:PATH)
DB=$TMP/gw.mdb
lgw=("$EX/gateway" --provider-dir "$M2M_MODULES" --key-file "$TMP/service.key" --store "lmdb:$DB"
    --state dev-1 --port 0 --idle-ms 20000 --max-ms 20000)
run "${lgw[@]}" --port-file "$TMP/lport0"
expect_run "gateway on a name missing from the LMDB store: exit 1" 1 "no stored state at $DB:dev-1"
"${lgw[@]}" --init-state --expect 5 --port-file "$TMP/lport1" >"$TMP/lgw1.out" 2>&1 &
GW_PID=$!
for _ in $(seq 100); do
    [[ -s $TMP/lport1 ]] && break
    kill -0 "$GW_PID" 2>/dev/null || break
    sleep 0.05
done
check "gateway --store lmdb --init-state started" test -s "$TMP/lport1"
run "${lgw[@]}" --port-file "$TMP/lport2"
expect_run "a second gateway on the same LMDB store: exit 1" 1 'in use by another process'
run "$EX/device" --provider-dir "$M2M_MODULES" --key-file "$TMP/service.key" \
    --state "$TMP/dev1.state" --init-state --port "$(<"$TMP/lport1")" --count 5 --interval-ms 10
expect_run "device sends 5 records" 0 ''
wait "$GW_PID"
gw_rc=$?
GW_PID=""
expect_eq "gateway on the LMDB store: exit status" "$gw_rc" 0
check "gateway on the LMDB store accepted the 5 records" grep -q 'counts accepted=5 ' "$TMP/lgw1.out"
run "${lgw[@]}" --store bogus --port-file "$TMP/lport3"
expect_run "--store with an unknown kind: exit 1" 1 'must be file or lmdb:PATH'

finish
