#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The ESPrim relay example (examples/esprim_relay.c): a device sends
# readings sealed as JWE through a gateway that has no key to a server.
#
# Run 1 - the gateway alters object 2 (ciphertext) and object 4 (protected
# header), replays object 3 after its answer, and holds object 6 longer
# than the server's RandObjects live (3.5 s against 3 s):
#  - every reading is delivered exactly once, no object is accepted twice;
#  - both alterations are refused ("authentication failed"), the replay is
#    refused ("ESPrim object replayed"), the late object is refused as
#    expired, and the device recovers from each by itself: after the
#    expiry with a fresh securityInfo 3/4 exchange, not a failure;
#  - the gateway cannot read: it takes no key, and nothing it forwarded
#    (captured) contains a reading or a response in clear.
# Run 2 - the server is killed (SIGKILL) in the middle and restarted on
# its state; afterwards the gateway replays every object it forwarded:
#  - every reading is delivered, the device needs no new RandObject
#    exchange (the server's RandObjects survive the restart): it starts a
#    new originator RandObject when the server answers "session closed";
#  - no object is accepted twice, across the restart too, and every
#    replayed object is refused.
set -uo pipefail
# shellcheck source=tests/cli/lib.sh
. "${M2M_SOURCE_DIR:?}/tests/cli/lib.sh"

EX=${M2M_EXAMPLES:-${M2M_BUILD_DIR:?}/examples}/esprim_relay
TMP=$(mktemp -d "${TMPDIR:-/tmp}/m2msec-esprim-relay.XXXXXX")
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
    rm -rf -- "$TMP"
}
trap cleanup EXIT
export M2M_MODULES
head -c 32 /dev/urandom | od -An -v -tx1 | tr -d ' \n' >"$TMP/key"
KID=relay-kid

wait_file() { # FILE: wait up to 10 s for it to exist
    for _ in $(seq 100); do
        [[ -s $1 ]] && return 0
        sleep 0.1
    done
    return 1
}
count() { grep -cE "$1" "$2" 2>/dev/null || true; }

run "$EX" gateway --server-port 1 --port-file "$TMP/x" --key-file "$TMP/key"
expect_run "the gateway takes no key (usage error)" 2 'a gateway takes no key'

# ---------------------------------------------------------------- run 1
S1=$TMP/server1.state
"$EX" server --state "$S1" --init-state --key-file "$TMP/key" --kid "$KID" \
    --port-file "$TMP/s1.port" --rand-lifetime 3 --log "$TMP/server1.log" 2>"$TMP/server1.err" &
PIDS+=($!)
wait_file "$TMP/s1.port" || not_ok "server 1 started"
"$EX" gateway --server-port "$(cat "$TMP/s1.port")" --port-file "$TMP/g1.port" \
    --capture "$TMP/capture1" --tamper 2 --tamper-header 4 --replay 3 --delay 6:3500 \
    2>"$TMP/gateway1.err" &
PIDS+=($!)
wait_file "$TMP/g1.port" || not_ok "gateway 1 started"
timeout 120 "$EX" device --gateway-port "$(cat "$TMP/g1.port")" --key-file "$TMP/key" \
    --kid "$KID" --count 8 --interval 300 --timeout 6000 --log "$TMP/device1.log" \
    2>"$TMP/device1.err"
rc=$?
expect_eq "run 1: the device delivered every reading (exit $rc)" \
    "$rc:$(count '^device: 8 of 8 delivered' "$TMP/device1.log")" "0:1"
ok_once=1
for k in $(seq 0 7); do
    n=$(count "^accepted [0-9a-f]{64} reading $k " "$TMP/server1.log")
    [[ $n -eq 1 ]] || { ok_once=0; diag "reading $k accepted $n times"; }
done
if ((ok_once)); then
    ok "run 1: the server accepted each of the 8 readings exactly once"
else
    not_ok "run 1: the server accepted each of the 8 readings exactly once"
fi
acc=$(count '^accepted' "$TMP/server1.log")
uniq_objs=$(grep '^accepted' "$TMP/server1.log" | awk '{print $2}' | sort -u | wc -l)
expect_eq "run 1: no object accepted twice" "$uniq_objs" "$acc"
n_auth=$(count '^refused 17 .*did not authenticate' "$TMP/server1.log")
n_replay=$(count '^refused 55 ' "$TMP/server1.log")
n_exp=$(count '^refused 52 ' "$TMP/server1.log")
check "run 1: the gateway altered a ciphertext and a header" \
    grep -q 'altered the header of object 4' "$TMP/gateway1.err"
expect_eq "run 1: both alterations refused: authentication failed" "$n_auth" 2
expect_eq "run 1: the replayed object refused: replay" "$n_replay" 1
if ((n_exp >= 1)); then
    ok "run 1: the held object arrived after its RandObject expired: refused as expired"
else
    not_ok "run 1: the held object refused as expired"
fi
n_x=$(count '^exchange ' "$TMP/device1.log")
if ((n_x >= 2)); then
    ok "run 1: expiry led to fresh securityInfo 3/4 exchanges ($n_x in all), not a failure"
else
    not_ok "run 1: expiry led to a fresh exchange ($n_x exchanges)"
fi
check "run 1: the device saw the expiry refusal and recovered" \
    grep -q '^error 52 ' "$TMP/device1.log"
cap=$(wc -l <"$TMP/capture1")
n_si5=$(count '^SI5 ' "$TMP/capture1")
if ((cap > 0 && n_si5 >= 16)); then
    ok "run 1: the gateway forwarded $cap datagrams, $n_si5 ESPrim objects"
else
    not_ok "run 1: the gateway forwarded the traffic ($cap datagrams, $n_si5 objects)"
fi
expect_eq "run 1: no reading in clear at the gateway" \
    "$(count 'SECRET-|temperature=|ack reading' "$TMP/capture1")" 0
expect_eq "run 1: ... while the server did see them" \
    "$(count 'SECRET-' "$TMP/server1.log")" 8
kill "${PIDS[@]}" 2>/dev/null
wait "${PIDS[@]}" 2>/dev/null
PIDS=()

# ---------------------------------------------------------------- run 2
S2=$TMP/server2.state
start_server2() { # [--init-state]
    "$EX" server --state "$S2" "$@" --key-file "$TMP/key" --kid "$KID" \
        --port-file "$TMP/s2.port" ${PORT:+--port "$PORT"} --rand-lifetime 60 \
        --log "$TMP/server2.log" 2>>"$TMP/server2.err" &
    SRV=$!
    PIDS+=("$SRV")
}
PORT=""
start_server2 --init-state
wait_file "$TMP/s2.port" || not_ok "server 2 started"
PORT=$(cat "$TMP/s2.port")
"$EX" gateway --server-port "$PORT" --port-file "$TMP/g2.port" --capture "$TMP/capture2" \
    2>"$TMP/gateway2.err" &
GW2=$!
PIDS+=("$GW2")
wait_file "$TMP/g2.port" || not_ok "gateway 2 started"
timeout 120 "$EX" device --gateway-port "$(cat "$TMP/g2.port")" --key-file "$TMP/key" \
    --kid "$KID" --count 12 --interval 250 --timeout 1500 --log "$TMP/device2.log" \
    2>"$TMP/device2.err" &
DEV=$!
PIDS+=("$DEV")
for _ in $(seq 200); do
    (($(count '^accepted' "$TMP/server2.log") >= 4)) && break
    sleep 0.05
done
kill -9 "$SRV"
wait "$SRV" 2>/dev/null
before=$(count '^accepted' "$TMP/server2.log")
sleep 0.5
rm -f "$TMP/s2.port"
start_server2
wait_file "$TMP/s2.port" || not_ok "server 2 restarted"
wait "$DEV"
rc=$?
expect_eq "run 2: the device delivered every reading across the restart (exit $rc)" \
    "$rc:$(count '^device: 12 of 12 delivered' "$TMP/device2.log")" "0:1"
diag "server killed after $before accepted objects"
expect_eq "run 2: one RandObject exchange only: the RandObject survived the restart" \
    "$(count '^exchange ' "$TMP/device2.log")" 1
check "run 2: the restarted server closed the earlier session (error 58 at the device)" \
    grep -q '^error 58 ' "$TMP/device2.log"
if (($(count '^new-session ' "$TMP/device2.log") >= 2)); then
    ok "run 2: the device answered with a new originator RandObject"
else
    not_ok "run 2: the device answered with a new originator RandObject"
fi
acc=$(count '^accepted' "$TMP/server2.log")
uniq_objs=$(grep '^accepted' "$TMP/server2.log" | awk '{print $2}' | sort -u | wc -l)
expect_eq "run 2: no object accepted twice, across the restart" "$uniq_objs" "$acc"
missing=0
dups=0
for k in $(seq 0 11); do
    n=$(count "^accepted [0-9a-f]{64} reading $k " "$TMP/server2.log")
    ((n == 0)) && missing=$((missing + 1))
    ((n > 1)) && dups=$((dups + n - 1))
done
expect_eq "run 2: every reading reached the server" "$missing" 0
# a reading can arrive twice only as two different objects, when the kill
# took the answer to the first: at most one, the one in flight at the kill
if ((dups <= 1)); then
    ok "run 2: at most one reading resent as a new object after the kill ($dups)"
else
    not_ok "run 2: at most one reading resent as a new object after the kill ($dups)"
fi
ref_before=$(count '^refused' "$TMP/server2.log")
kill -USR1 "$GW2"
for _ in $(seq 100); do
    grep -q 'replayed [0-9]* objects' "$TMP/gateway2.err" && break
    sleep 0.05
done
replayed=$(sed -n 's/.*replayed \([0-9]*\) objects.*/\1/p' "$TMP/gateway2.err" | tail -n 1)
for _ in $(seq 100); do
    (($(count '^refused' "$TMP/server2.log") - ref_before >= ${replayed:-1})) && break
    sleep 0.05
done
expect_eq "run 2: the gateway replayed every object afterwards: all refused, none accepted" \
    "$(($(count '^refused' "$TMP/server2.log") - ref_before)):$(count '^accepted' "$TMP/server2.log")" \
    "${replayed:-none}:$acc"
diag "replayed: ${replayed:-?}; refused as replays $(count '^refused 55 ' "$TMP/server2.log"), as closed $(count '^refused 58 ' "$TMP/server2.log")"
expect_eq "run 2: no reading in clear at the gateway" \
    "$(count 'SECRET-|temperature=|ack reading' "$TMP/capture2")" 0

finish
