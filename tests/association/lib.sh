# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
# Shared helpers of the association shell tests (tests/association/*.sh):
# the example gateway and device, a key table, free loopback ports, and
# background processes that always end with the test.
# (The variables are used by the scripts that source this file.)
# shellcheck disable=SC2034
# shellcheck source=tests/cli/lib.sh
. "${M2M_SOURCE_DIR:?}/tests/cli/lib.sh"

EXAMPLES=${M2M_EXAMPLES:-${M2M_BUILD_DIR:?}/examples}
GATEWAY=$EXAMPLES/association_gateway
DEVICE=$EXAMPLES/association_device
KEY=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f
NAME=gw.example
PIDS=()
cleanup() {
    local p
    for p in "${PIDS[@]}"; do
        kill -9 "$p" 2>/dev/null
        wait "$p" 2>/dev/null
    done
    rm -rf -- "$TMP"
}
trap cleanup EXIT

# free_port tcp|udp: a port on 127.0.0.1 that nothing uses right now.
free_port() {
    python3 -c 'import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM if sys.argv[1] == "udp" else socket.SOCK_STREAM)
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])' "$1"
}

# write_table FILE LINES...: a key table (mode 600) with the given entry lines.
write_table() {
    local f=$1
    shift
    { echo "m2msec-keytable 1"; printf '%s\n' "$@"; } >"$f"
    chmod 600 "$f"
}

# wait_file FILE: up to 10 s for FILE to be non-empty.
wait_file() {
    local _i
    for _i in $(seq 100); do
        [[ -s $1 ]] && return 0
        sleep 0.1
    done
    return 1
}

# start_gateway OUT ARGS...: the example gateway in the background, its
# stdout in OUT, stderr in OUT.err; sets GW_PID and GW_PORT.
start_gateway() {
    local out=$1
    shift
    rm -f "$TMP/gw.port"
    timeout -k 5 120 "$GATEWAY" --port-file "$TMP/gw.port" "$@" >"$out" 2>"$out.err" &
    GW_PID=$!
    PIDS+=("$GW_PID")
    if ! wait_file "$TMP/gw.port"; then
        not_ok "gateway started ($*)"
        diag "$(cat "$out" "$out.err")"
        return 1
    fi
    GW_PORT=$(cat "$TMP/gw.port")
}

# stop_gateway: wait for it (it serves a fixed number of handshakes), else kill it.
stop_gateway() {
    local _i
    for _i in $(seq 100); do
        kill -0 "$GW_PID" 2>/dev/null || break
        sleep 0.1
    done
    kill -9 "$GW_PID" 2>/dev/null
    wait "$GW_PID" 2>/dev/null
}

# wait_port tcp|udp PORT: up to 5 s for something to listen there.
wait_port() {
    local _i opt=-tln
    [[ $1 == udp ]] && opt=-uln
    for _i in $(seq 50); do
        ss -H "$opt" "sport = :$2" 2>/dev/null | grep -q . && return 0
        sleep 0.1
    done
    return 1
}
