#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Bad input and attacks against the example gateway over DTLS 1.2 (and TLS
# for the downgrade), docs/PROTOCOL.md 10.6. One gateway serves every
# attempt in turn; after each refusal a good device still gets its
# association (the server keeps serving):
#  - wrong key: the handshake never finishes (the device's Finished is
#    dropped as a bad record, RFC 6347 4.1.2.7): reason 74;
#  - unknown identity: "unknown PSK identity" (reason 63), logged;
#  - expired key: "PSK past its not-after" (reason 64), logged with its time;
#  - downgrade to a suite outside the profile: "no shared cipher";
#  - no SNI: "ClientHello without SNI" (reason 66); another name: reason 67;
#  - corrupted and replayed DTLS records (a relay flips a bit of each
#    application record and sends it twice more): each reading is delivered
#    exactly once;
#  - a flood of cookie-less ClientHellos from 300 source ports: each gets a
#    HelloVerifyRequest, none reaches the key table (no log line), and the
#    good device is served right after;
#  - a record limit makes the device re-establish after a jittered delay;
#  - with require_integrity, a device whose status record says failed opens
#    no association ("device integrity not verified", reason 68), and does
#    once it says passed.
set -uo pipefail
# shellcheck source=tests/association/lib.sh
. "${M2M_SOURCE_DIR:?}/tests/association/lib.sh"
TOOL=$M2M_SOURCE_DIR/tests/association/dtls_tool.py

NOW=$(date +%s)
write_table "$TMP/keys" "dev01 $KEY $((NOW + 3600))" "old01 $KEY $((NOW - 60))"
OTHER=ff0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f

good_device() { # LABEL
    run timeout -k 5 15 "$DEVICE" --port "$GW_PORT" --name "$NAME" --identity dev01 --psk "$KEY" \
        --readings 1
    expect_run "$1: the gateway still serves a good device" 0 "answer: ack reading 1"
}

start_gateway "$TMP/gw.out" --keytable "$TMP/keys" --name "$NAME" --serve 0 --timeout-ms 3000 ||
    { finish; exit 1; }

run timeout -k 5 15 "$DEVICE" --port "$GW_PORT" --name "$NAME" --identity dev01 --psk "$OTHER"
expect_run "wrong key: refused" 1 "association refused"
sleep 0.3
# over DTLS the device's Finished under the wrong key is dropped as a bad record
expect_eq "wrong key: reason 74 (key found, handshake not finished)" \
    "$(grep -c '^refused: reason 74$' "$TMP/gw.out")" 1
good_device "after a wrong key"

run timeout -k 5 15 "$DEVICE" --port "$GW_PORT" --name "$NAME" --identity nobody --psk "$KEY"
expect_run "unknown identity: refused" 1 "unknown psk identity"
sleep 0.3
expect_eq "unknown identity: gateway log" \
    "$(grep -c "psk_identity 'nobody' refused: unknown identity" "$TMP/gw.out.err")" 1
expect_eq "unknown identity: reason 63" "$(grep -c '^refused: reason 63$' "$TMP/gw.out")" 1
good_device "after an unknown identity"

run timeout -k 5 15 "$DEVICE" --port "$GW_PORT" --name "$NAME" --identity old01 --psk "$KEY"
expect_run "expired key: refused" 1 "association refused"
sleep 0.3
if grep -Eq "psk_identity 'old01' refused: key expired at $((NOW - 60)) \(now [0-9]+" \
    "$TMP/gw.out.err" && grep -q '^refused: reason 64$' "$TMP/gw.out"; then
    ok "expired key: reason 64, logged with its not-after"
else
    not_ok "expired key: reason 64, logged with its not-after"
    diag "$(cat "$TMP/gw.out" "$TMP/gw.out.err")"
fi
good_device "after an expired key"

run timeout -k 5 15 "$OPENSSL" s_client -dtls1_2 -connect "127.0.0.1:$GW_PORT" -psk "$KEY" \
    -psk_identity dev01 -servername "$NAME" -cipher PSK-AES256-CBC-SHA384:PSK-NULL-SHA256 \
    </dev/null
sleep 0.3
if [[ $rc -ne 0 ]] && grep -q "no shared cipher" "$TMP/gw.out.err"; then
    ok "downgrade to suites outside the profile: no shared cipher"
else
    not_ok "downgrade to suites outside the profile: no shared cipher"
    diag "$out" "$err" "$(cat "$TMP/gw.out.err")"
fi
good_device "after a downgrade attempt"

run timeout -k 5 15 "$OPENSSL" s_client -dtls1_2 -connect "127.0.0.1:$GW_PORT" -psk "$KEY" \
    -psk_identity dev01 -noservername </dev/null
sleep 0.3
if [[ $rc -ne 0 ]] && grep -q '^refused: reason 66$' "$TMP/gw.out" &&
    grep -q "ClientHello without SNI" "$TMP/gw.out.err"; then
    ok "missing SNI: reason 66"
else
    not_ok "missing SNI: reason 66"
    diag "$out" "$err" "$(cat "$TMP/gw.out" "$TMP/gw.out.err")"
fi
run timeout -k 5 15 "$DEVICE" --port "$GW_PORT" --name other.example --identity dev01 --psk "$KEY"
sleep 0.3
expect_eq "another SNI name: reason 67" "$(grep -c '^refused: reason 67$' "$TMP/gw.out")" 1
good_device "after missing and wrong SNI"

# corrupted and replayed records through a relay
rm -f "$TMP/relay.port"
python3 "$TOOL" relay "$TMP/relay.port" "$GW_PORT" 8 >"$TMP/relay.out" 2>&1 &
PIDS+=($!)
wait_file "$TMP/relay.port"
before=$(grep -c '^reading dev01:' "$TMP/gw.out")
run timeout -k 5 15 "$DEVICE" --port "$(cat "$TMP/relay.port")" --name "$NAME" --identity dev01 \
    --psk "$KEY" --readings 3
expect_run "corrupted and replayed records: the device gets its 3 answers" 0 \
    "answer: ack reading 3"
sleep 0.3
after=$(grep -c '^reading dev01:' "$TMP/gw.out")
expect_eq "corrupted and replayed records: each reading delivered once" "$((after - before))" 3
good_device "after corrupted and replayed records"

# cookie-less flood
logs_before=$(grep -c "m2msec association:" "$TMP/gw.out.err")
flood=$(python3 "$TOOL" flood "$GW_PORT" 300)
expect_eq "flood: every spoofed ClientHello answered by a HelloVerifyRequest" "$flood" \
    "sent 300 answered 300 verify_requests 300"
expect_eq "flood: no key lookup, nothing logged" \
    "$(grep -c "m2msec association:" "$TMP/gw.out.err")" "$logs_before"
good_device "after a cookie-less flood"

# record limit: the device re-establishes (after a jittered delay) and goes on
run timeout -k 5 15 "$DEVICE" --port "$GW_PORT" --name "$NAME" --identity dev01 --psk "$KEY" \
    --readings 5 --max-records 4 --jitter-ms 100
expect_run "max_records 4: the device re-establishes after a jittered delay" 0 \
    "re-establish after [0-9]+ ms"
expect_eq "max_records 4 (2 records per reading): three associations, five readings answered" \
    "$(grep -c "^association identity=dev01" <<<"$out") $(grep -c "^answer: ack" <<<"$out")" "3 5"

# integrity gate (require_integrity in the device policy file)
HELPER=$M2M_BUILD_DIR/tests/actions/status_helper
DKEY=0908070605040302010009080706050403020100090807060504030201000908
printf '%s\n' "$DKEY" >"$TMP/device.key"
printf 'm2msec-manifest-state 1\nversion 3\n' >"$TMP/manifest.state"
printf '[session]\nrequire_integrity = yes\nintegrity_status = %s\ndevice_key_file = %s\nmanifest_state = %s\n' \
    "$TMP/integrity.status" "$TMP/device.key" "$TMP/manifest.state" >"$TMP/policy.cnf"
"$HELPER" "$TMP/integrity.status" "$DKEY" failed 3 >/dev/null
run timeout -k 5 15 "$DEVICE" --port "$GW_PORT" --name "$NAME" --identity dev01 --psk "$KEY" \
    --policy "$TMP/policy.cnf" --readings 1
expect_run "integrity failed: the device opens no association" 1 \
    "\\[reason 68\\] .*device integrity not verified, no association: the device failed"
"$HELPER" "$TMP/integrity.status" "$DKEY" passed 3 >/dev/null
run timeout -k 5 15 "$DEVICE" --port "$GW_PORT" --name "$NAME" --identity dev01 --psk "$KEY" \
    --policy "$TMP/policy.cnf" --readings 1
expect_run "integrity passed: association" 0 "answer: ack reading 1"

check "the gateway is still running" kill -0 "$GW_PID"
finish
