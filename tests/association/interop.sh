#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Interoperability of m2msec security associations (docs/PROTOCOL.md 10)
# with independent implementations, over TLS 1.2/1.3 and DTLS 1.2:
#  - gnutls-cli (--pskusername/--pskkey, --udp) against the m2msec example
#    gateway, for each profile suite both support; the Kc/KcID the gateway
#    exports equal what gnutls-cli prints with
#    --keymatexport=EXPORTER-oneM2M-Connection --keymatexportsize=48;
#  - the m2msec example device against gnutls-serv --pskpasswd (--echo);
#  - stock openssl s_client -psk against the gateway, and the device
#    against openssl s_server -psk.
# GnuTLS 3.7's gnutls-cli crashes after an ECDHE-PSK TLS 1.2 handshake
# (gnutls_psk_server_get_username called on a client session while it
# prints the session), so the ECDHE-PSK suites are checked with the
# m2msec device against gnutls-serv and with openssl s_client instead.
# Exit 77 (skipped) only when gnutls-cli or gnutls-serv is not installed
# (scripts/setup installs gnutls-bin).
set -uo pipefail
# shellcheck source=tests/association/lib.sh
. "${M2M_SOURCE_DIR:?}/tests/association/lib.sh"

for p in gnutls-cli gnutls-serv; do
    if ! command -v "$p" >/dev/null; then
        echo "SKIP: $p not installed (apt-get install gnutls-bin, or ./scripts/setup --deps)"
        exit 77
    fi
done
NOW=$(date +%s)
write_table "$TMP/keys" "dev01 $KEY $((NOW + 3600))"
printf 'dev01:%s\n' "$KEY" >"$TMP/psk.txt"

# GnuTLS priority strings, one suite each.
P_TLS12='NORMAL:-VERS-ALL:+VERS-TLS1.2:-KX-ALL'
P_DTLS12='NORMAL:-VERS-ALL:+VERS-DTLS1.2:-KX-ALL'
prio() { # VERS KX CIPHER MAC
    printf '%s:+%s:-CIPHER-ALL:+%s:-MAC-ALL:+%s' "$1" "$2" "$3" "$4"
}

# ---- gnutls-cli -> m2msec gateway, export compared
# transport|gnutls priority|OpenSSL suite name expected
cli_cases=(
    "tls|$(prio "$P_TLS12" PSK AES-128-CBC SHA256)|PSK-AES128-CBC-SHA256"
    "tls|$(prio "$P_TLS12" PSK AES-128-GCM AEAD)|PSK-AES128-GCM-SHA256"
    "tls|$(prio "$P_TLS12" PSK AES-128-CCM AEAD)|PSK-AES128-CCM"
    "tls|$(prio "$P_TLS12" PSK AES-128-CCM-8 AEAD)|PSK-AES128-CCM8"
    "tls|NORMAL:-VERS-ALL:+VERS-TLS1.3:+PSK:+ECDHE-PSK|TLS_AES_128_GCM_SHA256"
    "dtls|$(prio "$P_DTLS12" PSK AES-128-CCM-8 AEAD)|PSK-AES128-CCM8"
    "dtls|$(prio "$P_DTLS12" PSK AES-128-CBC SHA256)|PSK-AES128-CBC-SHA256"
    "dtls|$(prio "$P_DTLS12" PSK AES-128-GCM AEAD)|PSK-AES128-GCM-SHA256"
    "dtls|$(prio "$P_DTLS12" PSK AES-128-CCM AEAD)|PSK-AES128-CCM"
)
# until_ack FILE: keep a client's standard input open until the gateway's ack
# is in FILE (its output), 10 s at most: a client whose input ends closes the
# connection, and a gateway slowed down (sanitizers, a busy machine) may not
# have answered one second after the reading.
until_ack() {
    local i
    for ((i = 0; i < 100; i++)); do
        grep -q "^ack reading" "$1" 2>/dev/null && break
        sleep 0.1
    done
    sleep 0.2
}

for c in "${cli_cases[@]}"; do
    IFS='|' read -r t pr suite <<<"$c"
    udp=()
    [[ $t == dtls ]] && udp=(--udp)
    start_gateway "$TMP/gw.out" --transport "$t" --keytable "$TMP/keys" --name "$NAME" \
        --serve 1 --export --timeout-ms 3000 || continue
    rm -f "$TMP/cli.out" # until_ack must not see the last client's ack
    # shellcheck disable=SC2094 # until_ack only reads what the client writes
    { echo "reading from gnutls"; until_ack "$TMP/cli.out"; } |
        timeout -k 5 15 gnutls-cli "${udp[@]}" --pskusername dev01 --pskkey "$KEY" \
            --sni-hostname "$NAME" --priority "$pr" \
            --keymatexport=EXPORTER-oneM2M-Connection --keymatexportsize=48 \
            -p "$GW_PORT" 127.0.0.1 >"$TMP/cli.out" 2>&1
    stop_gateway
    got=$(sed -n 's/^association identity=dev01 suite=\([^ ]*\) .*/\1/p' "$TMP/gw.out")
    expect_eq "gnutls-cli -> gateway ($t): suite" "$got" "$suite"
    ours=$(sed -n 's/^export KcID=\([0-9a-f]*\) Kc=\([0-9a-f]*\)$/\1\2/p' "$TMP/gw.out")
    theirs=$(sed -n 's/^- Key material: \([0-9a-fA-F]*\)$/\1/p' "$TMP/cli.out" | norm)
    expect_eq "gnutls-cli -> gateway ($t $suite): KcID || Kc = GnuTLS keymatexport" "$ours" "$theirs"
    if grep -q "^reading dev01: reading from gnutls$" "$TMP/gw.out" &&
        grep -q "^ack reading from gnutls" "$TMP/cli.out"; then
        ok "gnutls-cli -> gateway ($t $suite): data both ways"
    else
        not_ok "gnutls-cli -> gateway ($t $suite): data both ways"
        diag "$(cat "$TMP/gw.out" "$TMP/gw.out.err" "$TMP/cli.out")"
    fi
done

# ---- m2msec device -> gnutls-serv
srv_cases=(
    "tls|$(prio "$P_TLS12" PSK AES-128-CBC SHA256)|PSK-AES128-CBC-SHA256|off"
    "tls|$(prio "$P_TLS12" ECDHE-PSK AES-128-CBC SHA256)|ECDHE-PSK-AES128-CBC-SHA256|required"
    "tls|$(prio "$P_TLS12" ECDHE-PSK CHACHA20-POLY1305 AEAD)|ECDHE-PSK-CHACHA20-POLY1305|required"
    "tls|NORMAL:-VERS-ALL:+VERS-TLS1.3:+PSK:+ECDHE-PSK:+DHE-PSK|TLS_AES_128_GCM_SHA256|required"
    "dtls|$(prio "$P_DTLS12" PSK AES-128-CCM-8 AEAD)|PSK-AES128-CCM8|off"
    "dtls|$(prio "$P_DTLS12" PSK AES-128-CBC SHA256)|PSK-AES128-CBC-SHA256|preferred"
    "dtls|$(prio "$P_DTLS12" ECDHE-PSK AES-128-CBC SHA256)|ECDHE-PSK-AES128-CBC-SHA256|required"
    "dtls|$(prio "$P_DTLS12" ECDHE-PSK CHACHA20-POLY1305 AEAD)|ECDHE-PSK-CHACHA20-POLY1305|preferred"
)
for c in "${srv_cases[@]}"; do
    IFS='|' read -r t pr suite fs <<<"$c"
    udp=()
    proto=tcp
    [[ $t == dtls ]] && udp=(--udp) && proto=udp
    port=$(free_port "$proto")
    timeout -k 5 30 gnutls-serv "${udp[@]}" --pskpasswd "$TMP/psk.txt" --echo --priority "$pr" \
        -p "$port" >"$TMP/serv.out" 2>&1 &
    spid=$!
    PIDS+=("$spid")
    wait_port "$proto" "$port" || diag "gnutls-serv not listening on $port"
    run timeout -k 5 15 "$DEVICE" --transport "$t" --port "$port" --name localhost --identity dev01 \
        --psk "$KEY" --fs "$fs" --readings 2 --expect echo
    kill -9 "$spid" 2>/dev/null
    wait "$spid" 2>/dev/null
    expect_run "device -> gnutls-serv ($t, forward secrecy $fs): $suite" 0 \
        "association identity=dev01 suite=$suite "
    expect_run "device -> gnutls-serv ($t $suite): readings echoed" 0 \
        "answer: reading 2: temperature=22.2"
done

# ---- stock openssl s_client -> gateway
for t in tls dtls; do
    for suite in PSK-AES128-CBC-SHA256 PSK-AES128-CCM8 ECDHE-PSK-AES128-CBC-SHA256 \
        ECDHE-PSK-CHACHA20-POLY1305; do
        dtls=(-tls1_2)
        [[ $t == dtls ]] && dtls=(-dtls1_2)
        start_gateway "$TMP/gw.out" --transport "$t" --keytable "$TMP/keys" --name "$NAME" \
            --serve 1 --export --timeout-ms 3000 || continue
        rm -f "$TMP/sc.out"
        # shellcheck disable=SC2094 # until_ack only reads what the client writes
        { echo "reading from openssl"; until_ack "$TMP/sc.out"; } |
            timeout -k 5 15 "$OPENSSL" s_client "${dtls[@]}" -connect "127.0.0.1:$GW_PORT" \
                -psk "$KEY" -psk_identity dev01 -servername "$NAME" -cipher "$suite" \
                >"$TMP/sc.out" 2>&1
        stop_gateway
        if grep -q "^association identity=dev01 suite=$suite " "$TMP/gw.out" &&
            grep -q "^reading dev01: reading from openssl$" "$TMP/gw.out" &&
            grep -q "^ack reading from openssl" "$TMP/sc.out"; then
            ok "openssl s_client -> gateway ($t): $suite, data both ways"
        else
            not_ok "openssl s_client -> gateway ($t): $suite, data both ways"
            diag "$(cat "$TMP/gw.out" "$TMP/gw.out.err" "$TMP/sc.out")"
        fi
    done
done

# ---- stock openssl s_client -> gateway over TLS 1.3 (external PSK, psk_dhe_ke)
rm -f "$TMP/sc.out"
# shellcheck disable=SC2094 # until_ack only reads what the client writes
start_gateway "$TMP/gw.out" --transport tls --keytable "$TMP/keys" --name "$NAME" --serve 1 \
    --export --timeout-ms 3000 &&
    { echo "reading from openssl"; until_ack "$TMP/sc.out"; } |
    timeout -k 5 15 "$OPENSSL" s_client -tls1_3 -connect "127.0.0.1:$GW_PORT" -psk "$KEY" \
        -psk_identity dev01 -servername "$NAME" >"$TMP/sc.out" 2>&1
stop_gateway
if grep -q "^association identity=dev01 suite=TLS_AES_128_GCM_SHA256 version=TLSv1.3$" \
    "$TMP/gw.out" && grep -q "^ack reading from openssl" "$TMP/sc.out"; then
    ok "openssl s_client -> gateway (TLS 1.3 PSK-DHE): data both ways"
else
    not_ok "openssl s_client -> gateway (TLS 1.3 PSK-DHE): data both ways"
    diag "$(cat "$TMP/gw.out" "$TMP/gw.out.err" "$TMP/sc.out")"
fi

# ---- device -> stock openssl s_server
for t in tls dtls; do
    dtls=()
    proto=tcp
    [[ $t == dtls ]] && dtls=(-dtls1_2) && proto=udp
    port=$(free_port "$proto")
    timeout -k 5 30 "$OPENSSL" s_server "${dtls[@]}" -accept "127.0.0.1:$port" -nocert -psk "$KEY" -psk_identity dev01 \
        -naccept 1 >"$TMP/ss.out" 2>&1 < <(sleep 30) &
    spid=$!
    PIDS+=("$spid")
    wait_port "$proto" "$port" || diag "s_server not listening on $port"
    run timeout -k 5 15 "$DEVICE" --transport "$t" --port "$port" --name "$NAME" --identity dev01 \
        --psk "$KEY" --readings 2 --expect none
    sleep 0.3
    kill -9 "$spid" 2>/dev/null
    wait "$spid" 2>/dev/null
    expect_run "device -> openssl s_server ($t): association" 0 "association identity=dev01"
    # (the device closes right after its last write: the TLS 1.3 server's
    # unread session ticket turns the close into a reset, so only the first
    # reading is sure to be read by s_server)
    if grep -q "reading 1: temperature=21.1" "$TMP/ss.out"; then
        ok "device -> openssl s_server ($t): readings arrive"
    else
        not_ok "device -> openssl s_server ($t): readings arrive"
        diag "$(cat "$TMP/ss.out")"
    fi
done

finish
