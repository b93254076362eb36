#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A restarted gateway refuses replays of records accepted before its crash.
#
# The relay (examples/attacker, --capture) records every original datagram
# it forwards; `attacker --replay-file` sends captured datagrams again,
# straight to the gateway. The device re-keys about every 30 records.
#
#   1  gateway life 1 accepts records while the device sends; it is killed
#      with SIGKILL mid-run, and the device goes on sending into the void
#   2  gateway life 2 starts from the same state file; every datagram life 1
#      accepted is replayed into it: all refused, none accepted
#   3  a new device life (fresh epoch) sends records: life 2 accepts them all
#   4  every datagram ever captured is replayed into life 2: none accepted
#   5  life 2 is killed with SIGKILL, life 3 starts: replay all, none accepted
#   6  a third device life sends records that life 3 accepts; life 3 ends
#      cleanly (SIGTERM: the exact floor, highest accepted + 1, is saved),
#      life 4 starts: replay all, none accepted
#
# In each replay phase every datagram must be refused as "replayed record",
# "record outside replay window" or "stale epoch" (no other reason: they are
# genuine records) and the gateway's accept log must not grow. Exit status
# 0 only if every phase holds.
# Env: as tests/faults/lib.sh.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/faults/lib.sh
. "$here/lib.sh"

COUNT1=300 # records of device life 1
COUNT2=60  # records of device life 2
COUNT3=20  # records of device life 3
KILL_AT=150 # gateway life 1 is killed once it has accepted this many
INTERVAL=3
MAXREC=40
d=$TMP/replay
mkdir -p "$d"
fails=0
ROWS=()
start_s=$SECONDS

fail() {
    echo "  PROBLEM: $*"
    fails=$((fails + 1))
}

# Capture lines (hex datagrams) whose (epoch, seq) is listed in ACCLOG.
select_accepted() { # ACCLOG CAPTURE
    awk 'function hex(s,  i, v) {
             v = 0
             for (i = 1; i <= length(s); i++)
                 v = v * 16 + index("0123456789abcdef", substr(s, i, 1)) - 1
             return v
         }
         FNR == NR { acc[($1 + 0) " " ($2 + 0)] = 1; next }
         (hex(substr($0, 3, 8)) " " hex(substr($0, 11, 12))) in acc' "$1" "$2"
}

# replay_phase NAME LIFE FILE: send FILE's datagrams to gateway life LIFE;
# none may be accepted, all must be refused as replays.
replay_phase() {
    local name=$1 life=$2 file=$3 n acc0 rej0 acc1 r
    local -A R=()
    n=$(lines "$file")
    acc0=$(lines "$d/gw.$life.acc")
    rej0=$(lines "$d/gw.$life.rej")
    if ! "$EX/attacker" --replay-file "$file" --forward "$GW_PORT" --interval-ms 1 \
        >"$d/replay.$name.out" 2>&1; then
        fail "$name: the replayer failed: $(tail -n 2 "$d/replay.$name.out")"
    fi
    wait_lines "$d/gw.$life.rej" $((rej0 + n)) 10 ||
        fail "$name: gateway life $life refused $(($(lines "$d/gw.$life.rej") - rej0)) of $n replayed datagrams"
    nap 0.2 # anything accepted late would show now
    acc1=$(lines "$d/gw.$life.acc")
    [[ $acc1 -eq $acc0 ]] || fail "$name: gateway life $life ACCEPTED $((acc1 - acc0)) replayed records"
    while read -r r; do
        R[$r]=$((${R[$r]:-0} + 1))
    done < <(tail -n +$((rej0 + 1)) "$d/gw.$life.rej" | cut -d' ' -f3)
    for r in "${!R[@]}"; do
        case $r in
        replayed | outside_window | stale_epoch) ;;
        *) fail "$name: ${R[$r]} replayed genuine records refused as '$r', not as a replay" ;;
        esac
    done
    ROWS+=("$name|$life|$n|$((acc1 - acc0))|${R[replayed]:-0}|${R[outside_window]:-0}|${R[stale_epoch]:-0}|$((n - ${R[replayed]:-0} - ${R[outside_window]:-0} - ${R[stale_epoch]:-0}))")
    echo "  $name: $n datagrams replayed into gateway life $life: accepted $((acc1 - acc0)), refused" \
        "replayed ${R[replayed]:-0}, outside window ${R[outside_window]:-0}, stale epoch ${R[stale_epoch]:-0}"
}

echo "restart_replay: device sends $COUNT1 records (--max-records $MAXREC); gateway killed after $KILL_AT accepted"

# 1: gateway life 1, relay capturing, device life 1; SIGKILL of life 1 mid-run.
start_gateway "$d" 1 0 --max-records "$MAXREC" || exit 1
start_relay "$d" "$GW_PORT" --capture "$d/capture.hex" --seed 99 --reorder-pct 10 --replay-pct 0 \
    --truncate-pct 0 --flip-pct 0 || exit 1
start_device "$d" 1 "$RELAY_PORT" "$COUNT1" --interval-ms "$INTERVAL" --max-records "$MAXREC"
wait_lines "$d/gw.1.acc" "$KILL_AT" 20 || fail "gateway life 1 accepted only $(lines "$d/gw.1.acc")"
kill_reap 9 "$GW_PID"
echo "  phase 1: gateway life 1 killed (SIGKILL) after accepting $(lines "$d/gw.1.acc") records;" \
    "state: epoch/floor $(state_of "$d/gw.state")"
reap "$DEV_PID" || fail "device life 1 failed"
echo "  phase 1: device life 1 sent $(lines "$d/dev.1.log") records, relay captured $(lines "$d/capture.hex")"

# 2: life 2 from the same state; replay what life 1 accepted.
start_gateway "$d" 2 "$GW_PORT" --max-records "$MAXREC" || exit 1
select_accepted "$d/gw.1.acc" "$d/capture.hex" >"$d/accepted-by-1.hex"
[[ $(lines "$d/accepted-by-1.hex") -ge $((KILL_AT - 1)) ]] ||
    fail "only $(lines "$d/accepted-by-1.hex") captured datagrams match life 1's $(lines "$d/gw.1.acc") accepted records"
replay_phase "phase-2-after-crash" 2 "$d/accepted-by-1.hex"

# 3: device life 2 (fresh epoch) through the relay: all accepted by life 2.
# The relay then ends (SIGTERM), forwarding a datagram it may hold back.
start_device "$d" 2 "$RELAY_PORT" "$COUNT2" --interval-ms "$INTERVAL" --max-records "$MAXREC"
reap "$DEV_PID" || fail "device life 2 failed"
kill_reap TERM "$RELAY_PID" || fail "relay failed"
wait_lines "$d/gw.2.acc" "$COUNT2" 10 || fail "gateway life 2 accepted $(lines "$d/gw.2.acc") of $COUNT2 new records"
if ! cmp -s <(sort "$d/dev.2.log") <(sort "$d/gw.2.acc"); then
    fail "gateway life 2 did not accept exactly device life 2's records"
fi
echo "  phase 3: device life 2 started at epoch $(head -n 1 "$d/dev.2.log" | cut -d' ' -f1)" \
    "(life 1 ended at $(tail -n 1 "$d/dev.1.log" | cut -d' ' -f1)); gateway life 2 accepted" \
    "$(lines "$d/gw.2.acc") of $COUNT2"

# 4: everything captured, into life 2.
replay_phase "phase-4-all-into-life-2" 2 "$d/capture.hex"

# 5: SIGKILL of life 2, life 3, replay everything.
kill_reap 9 "$GW_PID"
echo "  phase 5: gateway life 2 killed (SIGKILL); state: epoch/floor $(state_of "$d/gw.state")"
start_gateway "$d" 3 "$GW_PORT" --max-records "$MAXREC" || exit 1
replay_phase "phase-5-after-2nd-crash" 3 "$d/capture.hex"

# 6: device life 3 through a new relay (capture appended), clean end of
# life 3 (exact floor), life 4, replay everything.
start_relay "$d" "$GW_PORT" --capture "$d/capture.hex" --seed 98 --reorder-pct 0 --replay-pct 0 \
    --truncate-pct 0 --flip-pct 0 || exit 1
start_device "$d" 3 "$RELAY_PORT" "$COUNT3" --interval-ms "$INTERVAL" --max-records "$MAXREC"
reap "$DEV_PID" || fail "device life 3 failed"
kill_reap TERM "$RELAY_PID" || fail "relay failed"
wait_lines "$d/gw.3.acc" "$COUNT3" 10 || fail "gateway life 3 accepted $(lines "$d/gw.3.acc") of $COUNT3 new records"
kill_reap TERM "$GW_PID" || fail "gateway life 3 did not end cleanly"
read -r e3 f3 <<<"$(state_of "$d/gw.state")"
hi3=$(awk -v e="$e3" '$1 == e && $2 + 0 > h { h = $2 + 0 } END { print h + 0 }' "$d/gw.3.acc")
[[ $f3 -eq $((hi3 + 1)) ]] ||
    fail "after a clean stop the floor of epoch $e3 is $f3, not highest accepted $hi3 + 1"
echo "  phase 6: gateway life 3 accepted $(lines "$d/gw.3.acc") records of device life 3, ended cleanly" \
    "(SIGTERM); state: epoch $e3 floor $f3 = highest accepted $hi3 + 1"
start_gateway "$d" 4 "$GW_PORT" --max-records "$MAXREC" || exit 1
replay_phase "phase-6-after-clean-stop" 4 "$d/capture.hex"
kill_reap TERM "$GW_PID" || fail "gateway life 4 did not end cleanly"

# No (epoch, seq) accepted twice over all lives, all accepted ones sealed as logged.
dups=$(cat "$d"/gw.*.acc | cut -d' ' -f1,2 | sort | uniq -d | head -n 5)
[[ -z $dups ]] || fail "accepted twice over the gateway lives: $dups"
forged=$(comm -13 <(cat "$d"/dev.*.log | sort -u) <(cat "$d"/gw.*.acc | sort -u) | head -n 5)
[[ -z $forged ]] || fail "accepted but never sealed as logged: $forged"

printf '%-26s %4s %9s %8s %8s %8s %6s %6s\n' phase life replayed accepted replayed window stale other
for row in "${ROWS[@]}"; do
    IFS='|' read -ra f <<<"$row"
    printf '%-26s %4s %9s %8s %8s %8s %6s %6s\n' "${f[@]}"
done
echo "restart_replay: $((SECONDS - start_s)) s"
if [[ $fails -ne 0 || ${#ROWS[@]} -ne 4 ]]; then
    FAULTS_KEEP=1
    echo "restart_replay: FAILED ($fails problem(s))"
    exit 1
fi
echo "restart_replay: ok, no replayed record accepted by any gateway life"
