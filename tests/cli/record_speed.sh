#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# `openssl speed -evp` on the four M2M-REC record ciphers (docs/PROTOCOL.md
# 5.6, "Re-init with the same key and IV"): speed re-inits its context with
# the same key and IV before every message, which continues the record
# sequence; each cipher must run and report a throughput, as the stock
# AES-128-GCM does next to it. `-aead` (13 bytes of AAD per message, CCM's
# length call) runs too. `-decrypt` opens one message over and over without
# `seq`: refused by m2msec, never a crash or a throughput.
# (tests/record/test_record_cipher.c checks, against the stock AEADs, that
# every record of speed's loop gets a new sequence number and nonce.)
set -euo pipefail
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"

PROV=(-provider-path "$M2M_MODULES" -provider m2msec -provider default)
CIPHERS=(M2M-REC-AES-128-GCM M2M-REC-AES-256-GCM M2M-REC-CHACHA20-POLY1305 M2M-REC-AES-128-CCM)

# expect_rate LABEL NAME: the last run exited 0 and printed NAME's result
# line ("NAME  <n>.<nn>k ..."), every figure above zero.
expect_rate() {
    local label=$1 name=$2 line
    line=$(grep -E "^$name( +[0-9]+\.[0-9]+k)+\$" <<<"$out" || true)
    if [[ $rc -ne 0 || -z $line ]]; then
        not_ok "$label"
        diag "exit $rc" "stdout: $out" "stderr: $err"
    elif grep -Eq ' 0\.00k' <<<"$line"; then
        not_ok "$label: a zero throughput"
        diag "$line"
    else
        ok "$label: $(tr -s ' ' <<<"$line")"
    fi
}

for c in "${CIPHERS[@]}"; do
    run "$OPENSSL" speed -seconds 1 -bytes 1024 "${PROV[@]}" -evp "$c"
    expect_rate "openssl speed -evp $c" "$c"
done

run "$OPENSSL" speed -seconds 1 -bytes 1024 -evp aes-128-gcm
expect_rate "openssl speed -evp aes-128-gcm (stock, for comparison)" AES-128-GCM

for c in M2M-REC-AES-128-GCM M2M-REC-AES-128-CCM; do
    run "$OPENSSL" speed -seconds 1 -bytes 64 -aead "${PROV[@]}" -evp "$c"
    expect_rate "openssl speed -aead -evp $c (AAD per record)" "$c"
done

run "$OPENSSL" speed -decrypt -seconds 1 -bytes 64 "${PROV[@]}" -evp M2M-REC-AES-128-GCM
expect_run "openssl speed -decrypt: refused without 'seq' (the replay rule)" 1 \
    "m2msec.*set the record's sequence number \('seq'\) first"

finish
