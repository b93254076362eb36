# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
# Shared helpers of the fault tests (tests/faults/*.sh, sourced): the
# examples' device, gateway and attacker relay started on 127.0.0.1 as
# background processes of this shell, killed with SIGKILL or SIGTERM by
# their own pid, and reaped; every process still running when the script
# ends (any way but SIGKILL) is killed by the EXIT trap, so none is left
# behind.
#
# Env: M2M_MODULES (directory of m2msec.so, required), M2M_BUILD_DIR (the
# build, default: the parent of M2M_MODULES), M2M_EXAMPLES (default
# BUILD/examples), FAULTS_KEEP=1 keeps the work directory.

: "${M2M_MODULES:?M2M_MODULES must name the directory holding the built m2msec.so}"
unset OPENSSL_CONF OPENSSL_MODULES
BUILD=${M2M_BUILD_DIR:-$(cd "$M2M_MODULES/.." && pwd)}
EX=${M2M_EXAMPLES:-$BUILD/examples}
OPENSSL=${OPENSSL:-openssl}

for _p in device gateway attacker; do
    if [[ ! -x $EX/$_p ]]; then
        echo "$EX/$_p not found: build first (ninja -C BUILD) or set M2M_EXAMPLES" >&2
        exit 1
    fi
done

TMP=$(mktemp -d "${TMPDIR:-/tmp}/m2msec-faults.XXXXXX") || exit 1
declare -A LIVE=() # pid -> what, for every process started and not reaped yet

faults_cleanup() {
    local p
    for p in "${!LIVE[@]}"; do
        kill -9 "$p" 2>/dev/null
    done
    for p in "${!LIVE[@]}"; do
        wait "$p" 2>/dev/null
    done
    LIVE=()
    if [[ ${FAULTS_KEEP:-0} == 1 ]]; then
        echo "# work directory kept: $TMP"
    else
        rm -rf -- "$TMP"
    fi
}
trap faults_cleanup EXIT
trap 'exit 130' INT TERM

# started PID WHAT: remember a background process.
started() { LIVE[$1]=$2; }

# reap PID: wait for it (it ended or was killed); its exit status is returned.
reap() {
    local rc=0
    wait "$1" 2>/dev/null || rc=$?
    unset "LIVE[$1]"
    return "$rc"
}

# kill_reap SIG PID: send SIG to our own process PID, then reap it.
kill_reap() {
    kill "-$1" "$2" 2>/dev/null
    reap "$2"
}

alive() { kill -0 "$1" 2>/dev/null; }

# nap SECONDS: sleep without forking (a read that times out on a silent pipe).
exec {NAP_FD}<> <(:)
nap() { read -r -t "$1" -u "$NAP_FD" _; }

# lines FILE...: total number of lines (0 for missing files).
lines() {
    local f n=0
    for f in "$@"; do
        [[ -f $f ]] && n=$((n + $(wc -l <"$f")))
    done
    echo "$n"
}

# now_us: microseconds of the wall clock, in NOW_US (no fork).
now_us() { NOW_US=${EPOCHREALTIME//[!0-9]/}; }

# wait_file FILE PID SECONDS: FILE non-empty while PID lives, within SECONDS.
wait_file() {
    local end
    now_us
    end=$((NOW_US + $3 * 1000000))
    while now_us && ((NOW_US < end)); do
        [[ -s $1 ]] && return 0
        alive "$2" || return 1
        nap 0.005
    done
    [[ -s $1 ]]
}

# wait_lines FILE N SECONDS: FILE has at least N lines, within SECONDS.
wait_lines() {
    local end
    now_us
    end=$((NOW_US + $3 * 1000000))
    while now_us && ((NOW_US < end)); do
        (($(lines "$1") >= $2)) && return 0
        nap 0.01
    done
    (($(lines "$1") >= $2))
}

# counts ARRAY FILE: the "PROG: counts k=v ..." line of FILE into ARRAY[k]=v.
# shellcheck disable=SC2034 # arr is a nameref
counts() {
    local -n arr=$1
    local kv words=()
    read -ra words < <(sed -n 's/^[a-z]*: counts //p' "$2" 2>/dev/null | tail -n 1)
    for kv in "${words[@]}"; do
        arr[${kv%%=*}]=${kv#*=}
    done
}

# state_of FILE: "EPOCH FLOOR" of a session state file, "- -" if there is none.
state_of() {
    if [[ -f $1 ]]; then
        awk '/^epoch /{e=$2} /^seq-floor /{f=$2} END{print (e == "" ? "-" : e), (f == "" ? "-" : f)}' "$1"
    else
        echo "- -"
    fi
}

# The options device and gateway share (key in the work directory).
"$OPENSSL" rand -hex 32 >"$TMP/service.key" || exit 1
SESSION_OPTS=(--provider-dir "$M2M_MODULES" --key-file "$TMP/service.key"
    --device-id CAE-sensor01 --gateway-id CSE-gw01)

# start_gateway DIR LIFE PORT [extra options]: gateway life LIFE on PORT
# (0: any) with state DIR/gw.state (life 1: --init-state, the first start),
# logs DIR/gw.LIFE.{acc,rej,out}; sets GW_PID and GW_PORT once it listens.
# It ends on SIGTERM (or after a minute).
start_gateway() {
    local d=$1 life=$2 port=$3 init=()
    shift 3
    rm -f "$d/gw.$life.port"
    [[ $life == 1 ]] && init=(--init-state) # the first start initialises the state
    "$EX/gateway" "${SESSION_OPTS[@]}" --state "$d/gw.state" "${init[@]}" --port "$port" \
        --port-file "$d/gw.$life.port" --log "$d/gw.$life.acc" --reject-log "$d/gw.$life.rej" \
        --idle-ms 60000 --max-ms 60000 "$@" >"$d/gw.$life.out" 2>&1 &
    GW_PID=$!
    started "$GW_PID" "gateway life $life"
    if ! wait_file "$d/gw.$life.port" "$GW_PID" 10; then
        echo "gateway life $life did not start:" >&2
        sed 's/^/    /' "$d/gw.$life.out" >&2
        return 1
    fi
    # shellcheck disable=SC2034 # used by the scripts that source this file
    GW_PORT=$(<"$d/gw.$life.port")
}

# start_relay DIR GWPORT [attacker options]: relay in front of the gateway,
# log DIR/relay.log, output DIR/relay.out; sets RELAY_PID and RELAY_PORT.
start_relay() {
    local d=$1 gw=$2
    shift 2
    rm -f "$d/relay.port"
    "$EX/attacker" --listen 0 --forward "$gw" --port-file "$d/relay.port" --log "$d/relay.log" \
        --idle-ms 60000 --max-ms 60000 "$@" >"$d/relay.out" 2>&1 &
    RELAY_PID=$!
    started "$RELAY_PID" relay
    if ! wait_file "$d/relay.port" "$RELAY_PID" 10; then
        echo "relay did not start:" >&2
        sed 's/^/    /' "$d/relay.out" >&2
        return 1
    fi
    # shellcheck disable=SC2034 # used by the scripts that source this file
    RELAY_PORT=$(<"$d/relay.port")
}

# start_device DIR LIFE PORT COUNT [options]: device life LIFE sending COUNT
# readings to PORT, state DIR/dev.state (life 1: --init-state, the first
# start), log DIR/dev.LIFE.log; sets DEV_PID.
start_device() {
    local d=$1 life=$2 port=$3 count=$4 init=()
    shift 4
    [[ $life == 1 ]] && init=(--init-state) # the first start initialises the state
    "$EX/device" "${SESSION_OPTS[@]}" --state "$d/dev.state" "${init[@]}" --port "$port" \
        --count "$count" --log "$d/dev.$life.log" "$@" >"$d/dev.$life.out" 2>&1 &
    DEV_PID=$!
    started "$DEV_PID" "device life $life"
}
