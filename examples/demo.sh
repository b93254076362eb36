#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# m2msec demo: derives keys with every m2msec KDF through the stock
# `openssl kdf` command and the BUILT provider, and checks each result
# against an independent computation (stock OpenSSL HMAC/HKDF or the RFC's
# published value). Then (step "records") a device and a gateway process
# exchange protected records over UDP on 127.0.0.1 through an attacker
# relay that replays, reorders, truncates and bit-flips datagrams, and the
# gateway's counts are checked against what the attacker injected.
# Finally (step "integrity") the m2msec tool signs a manifest of a small
# device tree, files are tampered with, and the device policy acts:
# remediation and quarantine keep the device running, a tampered program
# is denied, and while the integrity status says "failed" the provider
# refuses to derive session keys. Last (step "association"), a device and a
# gateway establish a oneM2M (D)TLS-PSK security association with a Kpsa
# from ONEM2M-KDF: an expired key is refused, a fresh one accepted, and both
# ends export the same Kc.
#
#   ./examples/demo.sh                 provider from build/provider
#   M2M_MODULES=DIR ./examples/demo.sh provider from DIR
#   M2M_EXAMPLES=DIR                   device, gateway, attacker from DIR
#                                      (default: DIR/../examples of the provider)
#   DEMO_RECORDS=N DEMO_SEED=S         records the device sends (default 150),
#                                      attacker seed (default 2024)
#
# Exit status: 0 only if every step did what it should (including the step
# that must be refused). Each step is one function; to add a step, write a
# function step_NAME that prints its explanation with `say`, does its work
# and returns non-zero on failure, then add NAME to STEPS at the bottom.
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MODULES=${M2M_MODULES:-$root/build/provider}
OPENSSL=${OPENSSL:-openssl}

if [[ ! -f $MODULES/m2msec.so ]]; then
    echo "demo: $MODULES/m2msec.so not found; build first (./scripts/setup) or set M2M_MODULES" >&2
    exit 2
fi
# -provider-path must come first; naming a provider switches off the
# implicit default, so load default explicitly too.
PROV=(-provider-path "$MODULES" -provider m2msec -provider default)

# Inputs shared by the steps.
KE=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f # enrolment key Ke
MAF_ID=MAF-01.example.net
DEVICE=CAE-sensor01 # AE-ID of the device (originator)
GATEWAY=CSE-gw01    # CSE-ID of the gateway (receiver)
KPSA=""             # set by step_kpsa, used by the session-key steps

# The record step's programs, temp dir and background processes.
EXAMPLES=${M2M_EXAMPLES:-$(dirname "$MODULES")/examples}
RECORDS=${DEMO_RECORDS:-150}
SEED=${DEMO_SEED:-2024}
TMP=""
PIDS=()
cleanup() {
    local p
    for p in "${PIDS[@]}"; do
        kill "$p" 2>/dev/null
    done
    [[ -z $TMP ]] || rm -rf -- "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say() { printf '  %s\n' "$*"; }
# colon-hex (openssl kdf output) or upper-case hex -> lower-case plain hex
plainhex() { tr -d ':\n ' | tr 'A-F' 'a-f'; }
hexstr() { printf '%s' "$1" | od -An -v -tx1 | tr -d ' \n'; }
hexfield() { printf '%04x%s' "${#1}" "$(hexstr "$1")"; } # u16 length + bytes (ASCII)

kdf() { "$OPENSSL" kdf "${PROV[@]}" "$@"; }

# HMAC-SHA-256 by stock OpenSSL: hmac HEXKEY TEXT
hmac() { printf '%s' "$2" | "$OPENSSL" mac -digest SHA256 -macopt "hexkey:$1" HMAC | plainhex; }

expect_eq() { # what got want
    if [[ $2 != "$3" ]]; then
        say "MISMATCH in $1: got $2, expected $3"
        return 1
    fi
    say "checked: $1"
}

step_km() {
    say "ONEM2M-KDF km: master credential Km = HMAC-SHA-256(Ke, label || MAF-ID) (TS-0003 10.3)"
    local out
    out=$(kdf -keylen 32 -kdfopt "hexkey:$KE" -kdfopt derivation:km -kdfopt "maf-id:$MAF_ID" \
        ONEM2M-KDF) || return 1
    say "Km   = $(plainhex <<<"$out")"
    expect_eq "Km equals stock openssl HMAC-SHA-256" "$(plainhex <<<"$out")" \
        "$(hmac "$KE" "oneM2M Enrolment Key to Master Credential derivation$MAF_ID")"
}

step_kpsa() {
    say "ONEM2M-KDF kpsa: pre-shared key Kpsa of device $DEVICE for (D)TLS-PSK to its CSE"
    local out
    out=$(kdf -keylen 32 -kdfopt "hexkey:$KE" -kdfopt derivation:kpsa \
        -kdfopt "enrolee-id:$DEVICE" ONEM2M-KDF) || return 1
    KPSA=$(plainhex <<<"$out")
    say "Kpsa = $KPSA"
    expect_eq "Kpsa equals stock openssl HMAC-SHA-256" "$KPSA" \
        "$(hmac "$KE" "oneM2M Enrolment Key to Provisioned Secure Connection Key derivation$DEVICE")"
}

# Arguments shared by the two session-key steps (key = Kpsa from step_kpsa).
session_args() { # lifetime
    printf '%s\n' -keylen 32 -kdfopt "hexkey:$KPSA" -kdfopt purpose:record \
        -kdfopt "originator:$DEVICE" -kdfopt "receiver:$GATEWAY" -kdfopt epoch:1 \
        -kdfopt not-before:1700000000 -kdfopt "lifetime:$1"
}

step_session() {
    say "M2M-SESSION-KDF: 1-hour record key for $DEVICE -> $GATEWAY, epoch 1, from Kpsa"
    [[ -n $KPSA ]] || { say "no Kpsa (step kpsa failed)"; return 1; }
    local out args info
    mapfile -t args < <(session_args 3600)
    out=$(kdf "${args[@]}" M2M-SESSION-KDF) || return 1
    say "Ks   = $(plainhex <<<"$out")"
    # The same key by stock HKDF-SHA-256 over the documented info encoding
    # (docs/PROTOCOL.md section 2): u16-length-prefixed fields, u64/u32 big-endian.
    info=$(hexfield "m2msec session key v1")$(hexfield record)$(hexfield "$DEVICE")
    info+=$(hexfield "$GATEWAY")$(printf '%016x%016x%016x' 1 1700000000 3600)
    info+=$(hexfield M2M-REC-AES-128-GCM)$(printf '%08x' 32)00000000
    expect_eq "Ks equals stock openssl HKDF-SHA-256 over the bound info" \
        "$(plainhex <<<"$out")" \
        "$("$OPENSSL" kdf -keylen 32 -kdfopt digest:SHA2-256 -kdfopt "hexkey:$KPSA" \
            -kdfopt "hexinfo:$info" HKDF | plainhex)"
}

step_session_refused() {
    say "M2M-SESSION-KDF: the same key with a 2-day lifetime is refused (policy max_lifetime, default 1 day)"
    [[ -n $KPSA ]] || { say "no Kpsa (step kpsa failed)"; return 1; }
    local out err args rc
    mapfile -t args < <(session_args 172800)
    err=$(mktemp)
    out=$(kdf "${args[@]}" M2M-SESSION-KDF 2>"$err")
    rc=$?
    if [[ $rc -eq 0 || -n $out ]]; then
        say "NOT REFUSED: exit status $rc, output '$out'"
        rm -f "$err"
        return 1
    fi
    if ! grep -q 'lifetime exceeds policy maximum' "$err"; then
        say "refused, but without the expected reason:"
        sed 's/^/    /' "$err"
        rm -f "$err"
        return 1
    fi
    say "refused as expected, no key printed: $(grep -o 'lifetime exceeds policy maximum.*' "$err" |
        sed 's/:[^:]*:[0-9]*:/: /' | head -n 1)"
    rm -f "$err"
}

step_oscore() {
    say "OSCORE-KDF: RFC 8613 appendix C.1 client Sender Key (Master Secret 0102..10, salt 9e7c..40, Sender ID empty)"
    local out
    out=$(kdf -keylen 16 -kdfopt hexkey:0102030405060708090a0b0c0d0e0f10 \
        -kdfopt hexsalt:9e7ca92223786340 -kdfopt id: -kdfopt type:key OSCORE-KDF) || return 1
    say "Sender Key = $(plainhex <<<"$out")"
    expect_eq "Sender Key equals RFC 8613 C.1" "$(plainhex <<<"$out")" \
        f0910ed7295e6ad4b54fc793154302ff
}

# --- records: device -> attacker relay -> gateway over UDP on 127.0.0.1 ---

# wait_port FILE PID: wait (at most 5 s) for FILE, written once PID listens.
wait_port() {
    local i
    for ((i = 0; i < 50; i++)); do
        [[ -s $1 ]] && return 0
        kill -0 "$2" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

# counts ARRAY FILE: the "PROG: counts k=v ..." line of FILE into ARRAY[k]=v.
# shellcheck disable=SC2034 # arr is a nameref: it fills the caller's array
counts() {
    local -n arr=$1
    local kv words=()
    read -ra words < <(sed -n 's/^[a-z]*: counts //p' "$2" | head -n 1)
    for kv in "${words[@]}"; do
        arr[${kv%%=*}]=${kv#*=}
    done
}

# expect_ge WHAT A B: A >= B, both numbers.
expect_ge() {
    if [[ ! $2 =~ ^[0-9]+$ || ! $3 =~ ^[0-9]+$ || $2 -lt $3 ]]; then
        say "MISMATCH in $1: got $2, expected at least $3"
        return 1
    fi
    say "checked: $1"
}

step_records() {
    say "device $DEVICE sends $RECORDS readings over UDP to gateway $GATEWAY through an attacker"
    say "relay on 127.0.0.1; at most 40 records per epoch key, so the device re-keys several times"
    local p prog common gw_pid at_pid dev_rc gw_rc at_rc fails=0
    local -A D=() A=() G=()
    for prog in device gateway attacker; do
        if [[ ! -x $EXAMPLES/$prog ]]; then
            say "$EXAMPLES/$prog not found; build first or set M2M_EXAMPLES"
            return 1
        fi
    done
    TMP=$(mktemp -d "${TMPDIR:-/tmp}/m2msec-demo.XXXXXX") || return 1
    # The long-term service-layer key both ends hold; nothing else is shared.
    "$OPENSSL" rand -hex 32 >"$TMP/service.key" || return 1
    common=(--provider-dir "$MODULES" --key-file "$TMP/service.key" --device-id "$DEVICE"
        --gateway-id "$GATEWAY" --max-records 40)

    # Free ports: each listener binds port 0 and writes the port it got.
    # A first start on both ends: --init-state creates each state (it refuses an existing one).
    timeout 20 "$EXAMPLES/gateway" "${common[@]}" --state "$TMP/gateway.state" --init-state --port 0 \
        --port-file "$TMP/gateway.port" --idle-ms 2500 --max-ms 15000 >"$TMP/gateway.out" 2>&1 &
    gw_pid=$!
    PIDS+=("$gw_pid")
    if ! wait_port "$TMP/gateway.port" "$gw_pid"; then
        say "gateway did not start:"
        sed 's/^/    /' "$TMP/gateway.out"
        return 1
    fi
    timeout 20 "$EXAMPLES/attacker" --listen 0 --forward "$(<"$TMP/gateway.port")" \
        --port-file "$TMP/attacker.port" --seed "$SEED" --replay-pct 10 --reorder-pct 10 \
        --truncate-pct 5 --flip-pct 10 --idle-ms 1000 --max-ms 15000 >"$TMP/attacker.out" 2>&1 &
    at_pid=$!
    PIDS+=("$at_pid")
    if ! wait_port "$TMP/attacker.port" "$at_pid"; then
        say "attacker relay did not start:"
        sed 's/^/    /' "$TMP/attacker.out"
        return 1
    fi
    timeout 20 "$EXAMPLES/device" "${common[@]}" --state "$TMP/device.state" --init-state \
        --port "$(<"$TMP/attacker.port")" --count "$RECORDS" --interval-ms 10 \
        >"$TMP/device.out" 2>&1
    dev_rc=$?
    wait "$at_pid"
    at_rc=$?
    wait "$gw_pid"
    gw_rc=$?
    PIDS=()
    for p in device attacker gateway; do
        sed 's/^/    /' "$TMP/$p.out"
    done

    expect_eq "device, attacker and gateway exit statuses" "$dev_rc $at_rc $gw_rc" "0 0 0" ||
        return 1
    counts D "$TMP/device.out"
    counts A "$TMP/attacker.out"
    counts G "$TMP/gateway.out"
    local sure_auth=$((A[truncated] + A[flipped_version] + A[flipped_ciphertext] + A[flipped_tag]))
    # epoch_bound: an epoch flip naming an epoch too far ahead, or further ahead than the next
    # while the candidate budget is spent (docs/PROTOCOL.md 6.3): refused before any derivation
    local replay_class=$((G[replayed] + G[outside_window] + G[stale_epoch] + ${G[epoch_bound]:-0}))
    local auth_class=$((G[auth] + G[malformed]))

    expect_eq "the device sent all $RECORDS readings" "${D[sent]}" "$RECORDS" ||
        fails=$((fails + 1))
    expect_eq "the attacker forwarded every original datagram exactly once" \
        "${A[received]} ${A[forwarded]}" "${D[sent]} ${D[sent]}" || fails=$((fails + 1))
    expect_eq "the gateway accepted every original record, none twice (accepted, duplicates)" \
        "${G[accepted]} ${G[duplicates]}" "${D[sent]} 0" || fails=$((fails + 1))
    expect_eq "the gateway rejected every injected datagram (rejected = injected)" \
        "${G[rejected]}" "${A[injected]}" || fails=$((fails + 1))
    expect_eq "the gateway saw every datagram (originals + injected)" "${G[datagrams]}" \
        "$((A[forwarded] + A[injected]))" || fails=$((fails + 1))
    expect_ge "the attacker replayed, reordered, truncated and bit-flipped at least once each" \
        "$(printf '%s\n' "${A[replayed]}" "${A[reordered]}" "${A[truncated]}" "${A[flipped]}" |
            sort -n | head -n 1)" 1 || fails=$((fails + 1))
    expect_ge "replays refused as replayed / outside window / stale epoch / epoch bound (${replay_class} >= ${A[replayed]})" \
        "$replay_class" "${A[replayed]}" || fails=$((fails + 1))
    expect_ge "truncated and body/version-flipped copies refused as authentication failed or malformed (${auth_class} >= ${sure_auth})" \
        "$auth_class" "$sure_auth" || fails=$((fails + 1))
    expect_ge "those refusals come only from replays and epoch/sequence flips ($((A[replayed] + A[flipped_epoch] + A[flipped_seq])) >= ${replay_class})" \
        "$((A[replayed] + A[flipped_epoch] + A[flipped_seq]))" "$replay_class" ||
        fails=$((fails + 1))
    expect_eq "no key expired, no other error (expired, other)" "${G[expired]} ${G[other]}" "0 0" ||
        fails=$((fails + 1))
    expect_eq "the gateway followed every re-key of the device (re-keys, epochs)" \
        "${G[rekeys]} ${G[epochs]}" "${D[rekeys]} ${D[epochs]}" || fails=$((fails + 1))
    expect_ge "re-keyed at least 3 times during the run" "${G[rekeys]}" 3 || fails=$((fails + 1))
    [[ $fails -eq 0 ]]
}

M2M_TOOL=${M2M_TOOL:-$(dirname "$MODULES")/tools/m2msec}

# Run the m2msec tool; print its output indented; return its exit status.
tool() {
    local rc
    "$M2M_TOOL" "$@" >"$TMP/tool.out" 2>&1
    rc=$?
    sed 's/^/    /' "$TMP/tool.out"
    return $rc
}

# M2M-SESSION-KDF through an openssl.cnf whose provider section names the policy.
gated_kdf() {
    OPENSSL_CONF="$TMP/openssl.cnf" "$OPENSSL" kdf -keylen 32 -kdfopt "hexkey:$KE" \
        -kdfopt purpose:demo -kdfopt "originator:$DEVICE" -kdfopt "receiver:$GATEWAY" \
        M2M-SESSION-KDF
}

step_integrity() {
    say "a device tree is described by a signed manifest; files are tampered with and the"
    say "one device policy decides: remediate, quarantine, alert, or deny (and no session keys)"
    local d r k rc
    if [[ ! -x $M2M_TOOL ]]; then
        say "$M2M_TOOL not found; build first or set M2M_TOOL"
        return 1
    fi
    [[ -n $TMP ]] || TMP=$(mktemp -d "${TMPDIR:-/tmp}/m2msec-demo.XXXXXX") || return 1
    d=$TMP/device r=$TMP/repository k=$TMP/keys
    mkdir -p "$d/bin" "$d/etc" "$d/var/log" "$r/etc" "$k" "$TMP/quarantine" || return 1
    cp /bin/echo "$d/bin/sensor-app" || return 1
    printf 'interval=10\nserver=gw01\n' >"$d/etc/sensor.conf"
    printf 'started\n' >"$d/var/log/sensor.log"
    cp "$d/etc/sensor.conf" "$r/etc/sensor.conf" # the vendor's repository copy
    "$OPENSSL" genpkey -algorithm ed25519 -out "$k/signer.pem" 2>/dev/null &&
        "$OPENSSL" pkey -in "$k/signer.pem" -pubout -out "$k/signer.pub" || return 1
    "$OPENSSL" rand -hex 32 >"$k/device.key" || return 1
    cat >"$TMP/policy.cnf" <<POLICY || return 1
[session]
require_integrity = yes
integrity_status = $TMP/integrity.status
device_key_file = $k/device.key
manifest_state = $TMP/manifest.state
[integrity]
default_action = deny
quarantine_dir = $TMP/quarantine
log = $TMP/actions.log
repository = $r
[rules]
var/log/* = alert
etc/*.conf = remediate
tmp/* = quarantine
bin/* = deny
POLICY
    cat >"$TMP/openssl.cnf" <<CNF || return 1
openssl_conf = openssl_init
[openssl_init]
providers = provider_sect
[provider_sect]
default = default_sect
m2msec = m2msec_sect
[default_sect]
activate = 1
[m2msec_sect]
module = $MODULES/m2msec.so
activate = 1
policy = $TMP/policy.cnf
CNF
    local V=(verify --manifest "$TMP/MANIFEST" --pubkey "$k/signer.pub" --root "$d"
        --policy "$TMP/policy.cnf" --state "$TMP/manifest.state"
        --status-file "$TMP/integrity.status" --device-key-file "$k/device.key")

    say "1. the vendor makes and signs the manifest; the stock openssl verifies the signature"
    tool manifest create --root "$d" --version 1 --meta -o "$TMP/MANIFEST" || return 1
    tool manifest sign --key "$k/signer.pem" "$TMP/MANIFEST" || return 1
    "$OPENSSL" pkeyutl -verify -pubin -inkey "$k/signer.pub" -rawin -in "$TMP/MANIFEST" \
        -sigfile "$TMP/MANIFEST.sig" | sed 's/^/    /'
    [[ ${PIPESTATUS[0]} -eq 0 ]] || return 1

    say "2. before the verifier has run, the provider refuses session keys"
    gated_kdf >/dev/null 2>"$TMP/kdf.err"
    rc=$?
    grep -o 'device integrity not verified.*' "$TMP/kdf.err" | head -n 1 | sed 's/^/    /'
    expect_eq "session keys refused without an integrity status (exit status non-zero)" \
        "$([[ $rc -ne 0 ]] && grep -q 'device integrity not verified' "$TMP/kdf.err" && echo refused)" \
        refused || return 1

    say "3. intact device: verification passes and session keys can be derived"
    tool "${V[@]}" || return 1
    gated_kdf | sed 's/^/    /'
    [[ ${PIPESTATUS[0]} -eq 0 ]] || return 1

    say "4. tampering: the config is edited, the log grows, an unknown binary appears"
    printf 'server=evil.example\n' >>"$d/etc/sensor.conf"
    printf 'more\n' >>"$d/var/log/sensor.log"
    mkdir -p "$d/tmp" && printf 'x' >"$d/tmp/implant"
    tool "${V[@]}"
    rc=$?
    expect_eq "the policy repaired the device: verify exits 0" "$rc" 0 || return 1
    expect_eq "the config is the signed version again" \
        "$(cmp -s "$d/etc/sensor.conf" "$r/etc/sensor.conf" && echo same)" same || return 1
    expect_eq "the implant is in quarantine, not on the device" \
        "$([[ ! -e $d/tmp/implant ]] && find "$TMP/quarantine" -maxdepth 1 -name '*implant*' | wc -l)" 1 || return 1
    gated_kdf >/dev/null || return 1
    say "checked: session keys still derive (the device keeps running)"

    say "5. the program itself is tampered with: denied, and the device goes silent"
    printf 'X' >>"$d/bin/sensor-app" # one byte more: no longer the signed program
    tool "${V[@]}"
    rc=$?
    expect_eq "verify denies the device (exit 1)" "$rc" 1 || return 1
    gated_kdf >/dev/null 2>"$TMP/kdf.err"
    rc=$?
    grep -o 'device integrity not verified.*' "$TMP/kdf.err" | head -n 1 | sed 's/^/    /'
    expect_eq "session keys refused while the status says failed" \
        "$([[ $rc -ne 0 ]] && grep -q 'device integrity not verified' "$TMP/kdf.err" && echo refused)" \
        refused || return 1
    tool exec --manifest "$TMP/MANIFEST" --pubkey "$k/signer.pub" --root "$d" \
        --policy "$TMP/policy.cnf" -- bin/sensor-app "should not run"
    rc=$?
    expect_eq "m2msec exec refuses the tampered program (exit 1)" "$rc" 1 || return 1

    say "6. remote remediation of the program: a verified copy replaces it, the device talks again"
    cp /bin/echo "$r/bin-sensor-app.tmp" && mkdir -p "$r/bin" &&
        mv "$r/bin-sensor-app.tmp" "$r/bin/sensor-app" || return 1
    sed -i 's|^bin/\* = deny$|bin/* = remediate|' "$TMP/policy.cnf"
    tool "${V[@]}" || return 1
    tool exec --manifest "$TMP/MANIFEST" --pubkey "$k/signer.pub" --root "$d" \
        --policy "$TMP/policy.cnf" -- bin/sensor-app "sensor-app runs: exactly the verified bytes" ||
        return 1
    gated_kdf >/dev/null || return 1
    say "checked: session keys derive again after remediation"
    say "action log:"
    sed 's/^/    /' "$TMP/actions.log"
}

# Step "association": a device and a gateway establish a oneM2M security
# association over DTLS-PSK (docs/PROTOCOL.md section 10) with psk_identity
# = the device's KpsaID and psk = Kpsa from ONEM2M-KDF. The gateway's key
# table first holds an expired Kpsa: the handshake is refused and the
# gateway logs why. Then the device is re-provisioned (a new enrolment key
# Ke2, a fresh Kpsa with a new not-after), the gateway reloads its table,
# and the association is established: readings go both ways, and both ends
# export the same Kc/KcID (EXPORTER-oneM2M-Connection).
step_association() {
    say "(D)TLS-PSK association of $DEVICE with $GATEWAY over DTLS 1.2 on 127.0.0.1"
    [[ -n $KPSA ]] || { say "no Kpsa (step kpsa failed)"; return 1; }
    local prog now out ke2 kpsa2 gw_kc dev_kc A
    for prog in association_gateway association_device; do
        if [[ ! -x $EXAMPLES/$prog ]]; then
            say "$EXAMPLES/$prog not found; build first or set M2M_EXAMPLES"
            return 1
        fi
    done
    [[ -n $TMP ]] || TMP=$(mktemp -d "${TMPDIR:-/tmp}/m2msec-demo.XXXXXX") || return 1
    A=$TMP/association
    mkdir -p "$A" || return 1
    now=$(date +%s)
    { echo "m2msec-keytable 1"; echo "$DEVICE $KPSA $((now - 60))"; } >"$A/keys"
    chmod 600 "$A/keys"
    say "gateway key table: $DEVICE -> Kpsa, not-after $((now - 60)) (expired a minute ago)"
    rm -f "$A/assoc.port"
    timeout 60 "$EXAMPLES/association_gateway" --keytable "$A/keys" --reload --name "$GATEWAY" \
        --serve 2 --export --port-file "$A/assoc.port" >"$A/assoc-gw.out" 2>"$A/assoc-gw.err" &
    PIDS+=($!)
    for _ in $(seq 100); do [[ -s $A/assoc.port ]] && break; sleep 0.1; done
    [[ -s $A/assoc.port ]] || { say "gateway did not start"; return 1; }
    if "$EXAMPLES/association_device" --port "$(<"$A/assoc.port")" --name "$GATEWAY" \
        --identity "$DEVICE" --psk "$KPSA" --readings 1 >"$A/assoc-dev1.out" 2>&1; then
        say "the expired Kpsa was accepted"
        return 1
    fi
    sleep 0.3
    grep -q "refused: key expired at" "$A/assoc-gw.err" || { cat "$A/assoc-gw.err"; return 1; }
    say "refused as expected: $(grep -o "handshake for psk_identity .*" "$A/assoc-gw.err")"
    ke2=202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f
    out=$(kdf -keylen 32 -kdfopt "hexkey:$ke2" -kdfopt derivation:kpsa \
        -kdfopt "enrolee-id:$DEVICE" ONEM2M-KDF) || return 1
    kpsa2=$(plainhex <<<"$out")
    { echo "m2msec-keytable 1"; echo "$DEVICE $kpsa2 $((now + 3600))"; } >"$A/keys.new"
    chmod 600 "$A/keys.new"
    mv "$A/keys.new" "$A/keys"
    say "re-provisioned: fresh Kpsa from a new enrolment key, valid one hour"
    "$EXAMPLES/association_device" --port "$(<"$A/assoc.port")" --name "$GATEWAY" \
        --identity "$DEVICE" --psk "$kpsa2" --not-after $((now + 3600)) --readings 3 --export \
        >"$A/assoc-dev2.out" 2>&1 || { cat "$A/assoc-dev2.out"; return 1; }
    for _ in $(seq 50); do kill -0 "${PIDS[-1]}" 2>/dev/null || break; sleep 0.1; done
    sed 's/^/    device:  /' "$A/assoc-dev2.out"
    sed 's/^/    gateway: /' "$A/assoc-gw.out"
    dev_kc=$(sed -n 's/^export //p' "$A/assoc-dev2.out")
    gw_kc=$(sed -n 's/^export //p' "$A/assoc-gw.out")
    expect_eq "device and gateway export the same KcID and Kc" "$dev_kc" "$gw_kc" || return 1
    [[ $(grep -c "^answer: ack reading" "$A/assoc-dev2.out") -eq 3 ]] || return 1
    say "checked: 3 readings acknowledged over the association"
}

STEPS=(km kpsa session session_refused oscore records integrity association)

echo "m2msec demo: provider $MODULES/m2msec.so, $("$OPENSSL" version)"
failed=0
for s in "${STEPS[@]}"; do
    echo "[$s]"
    if "step_$s"; then
        echo "[$s] ok"
    else
        echo "[$s] FAILED"
        failed=$((failed + 1))
    fi
done
if [[ $failed -ne 0 ]]; then
    echo "demo: $failed of ${#STEPS[@]} steps FAILED"
    exit 1
fi
echo "demo: all ${#STEPS[@]} steps ok"
