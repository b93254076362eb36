#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# CoAP over DTLS-PSK with libcoap (docs/PROTOCOL.md 10.5):
#  - coap-client-gnutls -u IDENTITY -k KEY completes a DTLS-PSK handshake
#    with the example gateway (--coap: a minimal CoAP responder) and gets
#    its 2.05 Content answer to a GET;
#  - the example device (--coap) gets the answer of coap-server-gnutls -k.
# libcoap's -k takes the key as text: the key here is an ASCII string and
# the key table holds its bytes in hex. Exit 77 (skipped) only when
# coap-client-gnutls or coap-server-gnutls is missing (scripts/setup
# installs libcoap3-bin).
set -uo pipefail
# shellcheck source=tests/association/lib.sh
. "${M2M_SOURCE_DIR:?}/tests/association/lib.sh"

for p in coap-client-gnutls coap-server-gnutls; do
    if ! command -v "$p" >/dev/null; then
        echo "SKIP: $p not installed (apt-get install libcoap3-bin, or ./scripts/setup --deps)"
        exit 77
    fi
done
KA=oneM2M-Kpsa-for-coap-0123456789
KH=$(strhex "$KA")
write_table "$TMP/keys" "coap-dev01 $KH $(($(date +%s) + 3600))"

start_gateway "$TMP/gw.out" --keytable "$TMP/keys" --name localhost --serve 1 --coap \
    --timeout-ms 2000 || { finish; exit 1; }
run timeout -k 5 20 coap-client-gnutls -B 10 -u coap-dev01 -k "$KA" "coaps://localhost:$GW_PORT/readings"
stop_gateway
# The answer's payload proves the request completed; its exit status is not
# checked (under CI's sanitizer run, with the ASan runtime preloaded into
# it, coap-client-gnutls prints the answer but lingers until killed).
if grep -q "^m2msec gateway$" <<<"$out"; then
    ok "coap-client-gnutls -> gateway: 2.05 answer"
else
    not_ok "coap-client-gnutls -> gateway: 2.05 answer"
    diag "exit $rc" "stdout: $out" "stderr: $err"
fi
if grep -Eq "^association identity=coap-dev01 suite=[A-Z0-9-]+ version=DTLSv1.2$" "$TMP/gw.out" &&
    grep -q "^coap request from coap-dev01: " "$TMP/gw.out"; then
    ok "coap-client-gnutls -> gateway: DTLS-PSK association with SNI, request received"
else
    not_ok "coap-client-gnutls -> gateway: DTLS-PSK association with SNI, request received"
    diag "$(cat "$TMP/gw.out" "$TMP/gw.out.err")"
fi

# coap-server-gnutls: -p PORT is CoAP, PORT+1 is CoAP over DTLS
port=$(free_port udp)
port=$((port < 65000 ? port : 40000))
timeout -k 5 30 coap-server-gnutls -A 127.0.0.1 -p "$port" -k "$KA" >"$TMP/cs.out" 2>&1 &
PIDS+=($!)
wait_port udp $((port + 1)) || diag "coap-server-gnutls not listening on $((port + 1))"
run timeout -k 5 15 "$DEVICE" --port $((port + 1)) --name localhost --identity coap-dev01 --psk "$KH" \
    --coap
expect_run "device -> coap-server-gnutls: DTLS-PSK association" 0 \
    "association identity=coap-dev01 suite=.* version=DTLSv1.2"
expect_run "device -> coap-server-gnutls: 2.05 Content from libcoap" 0 \
    "coap 2.05 payload=This is a test server made with libcoap"
finish
