#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Faults on the wire and in processes (issue "Hardening", point 6).
#
# A device sends readings through a UDP relay on 127.0.0.1 (examples/attacker)
# to a gateway. The relay drops, duplicates, reorders and corrupts originals
# and injects replays, truncated and bit-flipped copies at fixed rates; the
# device re-keys about every 30 records (--max-records 40). Scenarios:
#
#   a  wire faults only
#   b  + the device is killed with SIGKILL twice and restarted from its state
#   c  + the gateway is killed with SIGKILL twice and restarted from its state
#   d  + gateway, device, gateway, device killed in turn at different times
#
# Every device life logs each record before sending it (epoch, seq, SHA-256
# of the plaintext), every gateway life each record it accepted and each
# datagram it refused (with the reason), the relay the fate of each original.
# tests/faults/analyze.awk then proves, over all lives of a scenario:
#   P1 no (epoch, seq) pair was sealed twice (and each device life starts in a
#      fresh epoch); P2 every accepted (epoch, seq) was sealed by the device
#      with the same plaintext (no forgery accepted); P3 no (epoch, seq) was
#      accepted twice, across gateway restarts too (no replay accepted);
#   P4 each gateway restart state covers everything accepted before it;
# and accounts for every lost record (dropped, corrupted, in flight at a
# device kill, held back into an epoch the gateway skipped, sent while the
# gateway was dead, below the restart floor),
# each cause within its bound, printing one table per scenario and one
# overall table. Any failed proof or unexplained loss: exit status 1.
#
# Env: M2M_MODULES (required), M2M_BUILD_DIR or M2M_EXAMPLES (the programs),
# FAULTS_RECORDS (default 400), FAULTS_INTERVAL_MS (default 4),
# FAULTS_SEED (default 20240601), FAULTS_KEEP=1 keeps the work directory.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/faults/lib.sh
. "$here/lib.sh"

TOTAL=${FAULTS_RECORDS:-400}
INTERVAL=${FAULTS_INTERVAL_MS:-4}
SEED=${FAULTS_SEED:-20240601}
MAXREC=40
DEV_DOWN_S=0.05 # a killed device stays down this long before its restart
# Wire faults and attacks of the relay, in % per original datagram.
RELAY_OPTS=(--loss-pct 10 --dup-pct 10 --reorder-pct 10 --corrupt-pct 5 --replay-pct 10
    --flip-pct 5 --truncate-pct 2)
DEADLINE=80 # seconds for the whole script (meson's timeout is larger)

fails=0
ROWS=()
start_s=$SECONDS

# The device log of the current life is followed without forking, so that
# kills land where they are meant to: SENT counts the records logged by all
# device lives, LAST is the sequence number of the last one.
DEVLOG_FD=""
follow_open() {
    [[ -z $DEVLOG_FD ]] || exec {DEVLOG_FD}<&-
    : >>"$1"
    exec {DEVLOG_FD}<"$1"
    PARTIAL=""
}
follow() {
    local line
    while IFS= read -r line <&"$DEVLOG_FD"; do
        line=$PARTIAL$line
        PARTIAL=""
        SENT=$((SENT + 1))
        LAST=${line#* }
        LAST=${LAST%% *}
    done
    PARTIAL+=$line # a line still being written
}

# run_scenario ID TITLE EVENT...: EVENT is dev@N or gw@N:MS[:S], a SIGKILL
# of that side once the device lives have logged N records in total (and,
# with S, the last one has a sequence number from S to S + 3: early in an
# epoch, but after the gateway has probably accepted a record of it). A
# killed gateway is restarted after MS ms (plus its start-up time). Killed
# early in an epoch and restarted at once, it is back while the device is
# still in that epoch, whose later records then fall below the restart floor.
run_scenario() {
    local id=$1 title=$2
    shift 2
    local events=("$@") d=$TMP/$id interval=${SCENARIO_INTERVAL:-$INTERVAL} ei=0 who at down minseq devlife=1 gwlife=1 st
    local dev_rc gw_rc relay_rc problems=0 t0=$SECONDS kills=""
    local -A A=() G=()
    mkdir -p "$d"
    : >"$d/scenario.meta"
    echo "== scenario ($id) $title"
    start_gateway "$d" 1 0 --max-records "$MAXREC" || return 1
    echo "gwstart 1 - - 0" >>"$d/scenario.meta"
    start_relay "$d" "$GW_PORT" --seed "$((SEED + ${#ROWS[@]}))" "${RELAY_OPTS[@]}" || return 1
    SENT=0
    LAST=0
    follow_open "$d/dev.1.log"
    start_device "$d" 1 "$RELAY_PORT" "$TOTAL" --interval-ms "$interval" --max-records "$MAXREC"
    echo "devstart 1" >>"$d/scenario.meta"

    while alive "$DEV_PID" || ((ei < ${#events[@]})); do
        if ((SECONDS - start_s > DEADLINE)); then
            echo "  PROBLEM: deadline of $DEADLINE s reached"
            return 1
        fi
        if ((ei < ${#events[@]})); then
            who=${events[ei]%@*}
            at=${events[ei]#*@}
            IFS=: read -r at down minseq <<<"$at"
            down=${down:-0}
            follow
            if { ((SENT >= at)) && [[ -z $minseq || ($LAST -ge $minseq && $LAST -le $((minseq + 3))) ]]; } ||
                ! alive "$DEV_PID"; then
                ei=$((ei + 1))
                if [[ $who == dev ]]; then
                    alive "$DEV_PID" || {
                        echo "  PROBLEM: the device ended before its kill at $at"
                        return 1
                    }
                    kill_reap 9 "$DEV_PID"
                    follow
                    echo "devkill $devlife" >>"$d/scenario.meta"
                    kills+=" device-life-$devlife@$SENT"
                    nap "$DEV_DOWN_S"
                    devlife=$((devlife + 1))
                    follow_open "$d/dev.$devlife.log"
                    start_device "$d" "$devlife" "$RELAY_PORT" "$((TOTAL - SENT))" \
                        --interval-ms "$interval" --max-records "$MAXREC"
                    echo "devstart $devlife" >>"$d/scenario.meta"
                else
                    kill_reap 9 "$GW_PID"
                    echo "gwkill $gwlife" >>"$d/scenario.meta"
                    kills+=" gateway-life-$gwlife@$SENT(seq $LAST, down $down ms)"
                    st=$(state_of "$d/gw.state")
                    ((down == 0)) || nap "$((down / 1000)).$(printf '%03d' $((down % 1000)))"
                    gwlife=$((gwlife + 1))
                    start_gateway "$d" "$gwlife" "$GW_PORT" --max-records "$MAXREC" || return 1
                    echo "gwstart $gwlife $st $(lines "$d/relay.log")" >>"$d/scenario.meta"
                fi
                continue
            fi
        fi
        nap 0.002
    done
    reap "$DEV_PID"
    dev_rc=$?
    exec {DEVLOG_FD}<&-
    DEVLOG_FD=""
    # Let the relay forward what it holds, then the gateway open it.
    sleep 0.3
    kill_reap TERM "$RELAY_PID"
    relay_rc=$?
    sleep 0.3
    kill_reap TERM "$GW_PID"
    gw_rc=$?

    counts A "$d/relay.out"
    counts G "$d/gw.$gwlife.out"
    echo "  one record every $interval ms; device lives $devlife, gateway lives $gwlife, SIGKILLs (at records sent):${kills:- none}"
    echo "  relay: received ${A[received]:-?} forwarded ${A[forwarded]:-?} dropped ${A[dropped]:-?}" \
        "duplicated ${A[duplicated]:-?} corrupted ${A[corrupted]:-?} reordered ${A[reordered]:-?}" \
        "replayed ${A[replayed]:-?} truncated ${A[truncated]:-?} flipped ${A[flipped]:-?}" \
        "(injected ${A[injected]:-?})"
    problem() {
        echo "    PROBLEM: $*"
        problems=$((problems + 1))
    }
    [[ $dev_rc -eq 0 ]] || problem "last device life exited with $dev_rc"
    [[ $relay_rc -eq 0 ]] || problem "relay exited with $relay_rc"
    [[ $gw_rc -eq 0 ]] || problem "last gateway life exited with $gw_rc"
    [[ $(lines "$d/relay.log") -eq ${A[received]:--1} ]] ||
        problem "relay log has $(lines "$d/relay.log") lines for ${A[received]:-?} datagrams received"
    # The last gateway life ended normally: its logs must match its own counts.
    [[ $(lines "$d/gw.$gwlife.acc") -eq ${G[accepted]:--1} ]] ||
        problem "gateway life $gwlife logged $(lines "$d/gw.$gwlife.acc") accepted, counted ${G[accepted]:-?}"
    local r
    for r in replayed outside_window auth expired stale_epoch malformed other; do
        [[ $(grep -c " $r\$" "$d/gw.$gwlife.rej") -eq ${G[$r]:--1} ]] ||
            problem "gateway life $gwlife logged $(grep -c " $r\$" "$d/gw.$gwlife.rej") $r, counted ${G[$r]:-?}"
    done
    [[ ${G[duplicates]:-1} -eq 0 ]] || problem "gateway life $gwlife accepted a plaintext twice"
    if [[ $gwlife -eq 1 ]]; then
        # One gateway life saw everything: datagrams and refusals add up exactly.
        [[ ${G[datagrams]:-0} -eq $((A[forwarded] + A[injected])) ]] ||
            problem "gateway saw ${G[datagrams]:-?} datagrams, relay sent $((A[forwarded] + A[injected]))"
        [[ ${G[rejected]:-0} -eq $((A[injected] + A[corrupted])) ]] ||
            problem "gateway rejected ${G[rejected]:-?}, relay injected ${A[injected]} + corrupted ${A[corrupted]}"
    fi

    local out files=("$d/scenario.meta")
    for ((r = 1; r <= devlife; r++)); do files+=("$d/dev.$r.log"); done
    files+=("$d/relay.log")
    for ((r = 1; r <= gwlife; r++)); do files+=("$d/gw.$r.acc"); done
    for ((r = 1; r <= gwlife; r++)); do files+=("$d/gw.$r.rej"); done
    touch "${files[@]}"
    out=$(awk -v id="$id" -v title="$title" -v expect_exact=$((gwlife == 1)) \
        -f "$here/analyze.awk" "${files[@]}")
    grep -v '^ROW ' <<<"$out"
    local row
    row=$(sed -n 's/^ROW //p' <<<"$out")
    problems=$((problems + ${row##*|}))
    ROWS+=("${row%|*}|$problems|$((SECONDS - t0))")
    if [[ $problems -ne 0 ]]; then
        echo "  scenario ($id): $problems PROBLEM(S); files in $d"
        FAULTS_KEEP=1
        return 1
    fi
    echo "  scenario ($id): ok ($((SECONDS - t0)) s)"
}

echo "wire_faults: $TOTAL records per scenario every $INTERVAL ms (c, d: $((INTERVAL * 2)) ms), --max-records $MAXREC," \
    "relay ${RELAY_OPTS[*]}, seed $SEED"
run_scenario a "faults only" || fails=$((fails + 1))
run_scenario b "device killed twice" "dev@$((TOTAL * 3 / 10))" "dev@$((TOTAL * 13 / 20))" ||
    fails=$((fails + 1))
# Slower in c and d, so that a restarted gateway is often back within the epoch.
SCENARIO_INTERVAL=$((INTERVAL * 2))
run_scenario c "gateway killed twice" "gw@$((TOTAL * 3 / 10)):0:3" "gw@$((TOTAL * 13 / 20)):100" ||
    fails=$((fails + 1))
run_scenario d "both killed in turn" "gw@$((TOTAL / 4)):100" "dev@$((TOTAL * 9 / 20))" \
    "gw@$((TOTAL * 13 / 20)):0:3" "dev@$((TOTAL * 17 / 20))" || fails=$((fails + 1))

echo "== summary (lost: drop = dropped, corr = corrupted, dkill = in flight at a device kill,"
echo "   skip = held back into a skipped epoch,"
echo "   down = gateway dead or queued, floor = below the restart floor, unexp = unexplained;"
echo "   rejected: repl = replayed record, win = outside replay window, auth, exp = key expired,"
echo "   stale = stale epoch, malf = malformed, oth = other)"
printf '%-3s %-22s %5s %5s %5s | %5s %5s %5s %5s %5s %5s %5s | %5s %5s %5s %4s %5s %5s %4s | %4s %4s\n' \
    id scenario sent deliv lost drop corr dkill skip down floor unexp repl win auth exp stale malf oth \
    prob s
for row in "${ROWS[@]}"; do
    IFS='|' read -ra f <<<"$row"
    printf '%-3s %-22s %5s %5s %5s | %5s %5s %5s %5s %5s %5s %5s | %5s %5s %5s %4s %5s %5s %4s | %4s %4s\n' \
        "${f[@]}"
done
echo "wire_faults: $((SECONDS - start_s)) s in all"
if [[ $fails -ne 0 || ${#ROWS[@]} -ne 4 ]]; then
    echo "wire_faults: FAILED ($fails scenario(s))"
    exit 1
fi
echo "wire_faults: all scenarios ok"
