#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# m2msec provider-install: the configuration it writes loads the provider
# with OPENSSL_CONF alone (m2msec and default active, M2M-SESSION-KDF
# works), module-mac is the HMAC-SHA-256 of the module under the fixed key
# (checked with the stock openssl mac), and the module self-check works: a
# module changed by one byte leaves the provider inactive and every
# operation fails with "module integrity check failed", until the file is
# restored. Also: --section-only included from a system-style openssl.cnf,
# --policy, awkward paths, and refusals (exit 1 / 2, nothing written).
set -euo pipefail
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"

M2M=${M2M_TOOL:-${M2M_BUILD_DIR:?}/tools/m2msec}
MODULE=$(readlink -f "$M2M_MODULES/m2msec.so")
MAC_KEY="m2msec module integrity v1"

KDF_ARGS=(-keylen 32 -kdfopt hexkey:000102030405060708090a0b0c0d0e0f -kdfopt purpose:record
    -kdfopt originator:CAE01 -kdfopt receiver:CSE01 M2M-SESSION-KDF)
# The reference: the same derivation with the provider loaded on the command line.
WANT_KEY=$(m2m_kdf "${KDF_ARGS[@]}" | norm)

# with_conf FILE CMD...: run CMD with OPENSSL_CONF=FILE.
with_conf() {
    local conf=$1
    shift
    OPENSSL_CONF=$conf "$@"
}

cd "$TMP"

# ---------------------------------------------------------------- install from the build
run "$M2M" provider-install --module "$M2M_MODULES/m2msec.so" -o m2msec.cnf
expect_run "provider-install -o: exit 0, checked" 0 'check: provider m2msec .* status active'
expect_eq "module = the absolute module path" "$(sed -n 's/^module = //p' m2msec.cnf)" "$MODULE"
expect_eq "activate = 1" "$(grep -c '^activate = 1$' m2msec.cnf)" "2"
expect_eq "module-mac is HMAC-SHA-256 of the module under the fixed key (stock openssl mac)" \
    "$(sed -n 's/^module-mac = //p' m2msec.cnf)" \
    "$("$OPENSSL" mac -digest SHA256 -macopt "key:$MAC_KEY" -in "$MODULE" HMAC | norm)"
check "no temporary file left behind" [ -z "$(ls m2msec.cnf.tmp.* 2>/dev/null)" ]
expect_eq "m2msec is active with OPENSSL_CONF alone" "$(provider_status m2msec.cnf)" "active"
expect_eq "default is active too (openssl dgst -sha256 works)" \
    "$(printf abc | with_conf m2msec.cnf "$OPENSSL" dgst -sha256 -r | cut -d' ' -f1)" \
    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
expect_eq "openssl kdf M2M-SESSION-KDF works with OPENSSL_CONF alone" \
    "$(with_conf m2msec.cnf "$OPENSSL" kdf "${KDF_ARGS[@]}" 2>&1 | norm)" "$WANT_KEY"
run "$M2M" status --conf m2msec.cnf
expect_run "m2msec status: active, self-check passed, exit 0" 0 'module-mac set, passed'

run "$M2M" provider-install --module "$M2M_MODULES/m2msec.so"
expect_run "without -o the configuration goes to standard output" 0
expect_eq "standard output holds the same configuration" "$out" "$(cat m2msec.cnf)"

# ---------------------------------------------------------------- included from openssl.cnf
run "$M2M" provider-install --module "$M2M_MODULES/m2msec.so" --section-only -o section.cnf
expect_run "--section-only -o: exit 0" 0
if grep -q '^openssl_conf' section.cnf || ! grep -q '^\[m2msec_sect\]$' section.cnf; then
    not_ok "--section-only writes only [m2msec_sect]"
else
    ok "--section-only writes only [m2msec_sect]"
fi
# A system-style file, as m2msec(1) says to edit /etc/ssl/openssl.cnf.
cat >system.cnf <<EOF
openssl_conf = openssl_init

[openssl_init]
providers = provider_sect

[provider_sect]
default = default_sect
m2msec = m2msec_sect

[default_sect]
activate = 1

.include $TMP/section.cnf
EOF
expect_eq "the section, .include'd from a system-style openssl.cnf, is active" \
    "$(provider_status system.cnf)" "active"

# ---------------------------------------------------------------- --policy
cat >policy.cnf <<'EOF'
[session]
max_lifetime = 600
EOF
run "$M2M" provider-install --module "$M2M_MODULES/m2msec.so" --policy policy.cnf -o pol.cnf
expect_run "--policy: exit 0" 0
expect_eq "policy = the absolute policy path" "$(sed -n 's/^policy = //p' pol.cnf)" \
    "$TMP/policy.cnf"
run with_conf pol.cnf "$OPENSSL" kdf "${KDF_ARGS[@]}"
expect_run "the policy is in force (default lifetime 3600 > max_lifetime 600)" 1 \
    'lifetime exceeds policy maximum'
run "$M2M" status --conf pol.cnf
expect_run "m2msec status shows the policy's max_lifetime" 0 \
    'max_lifetime +600 \(policy \[session\]\)'
printf '[integrity]\nno_such_key = 1\n' >bad-policy.cnf
run "$M2M" provider-install --module "$M2M_MODULES/m2msec.so" --policy bad-policy.cnf -o bad.cnf
expect_run "a policy file with an unknown key: exit 2" 2 "no_such_key"
check "nothing written for the bad policy" [ ! -e bad.cnf ]

# ---------------------------------------------------------------- an awkward directory name
odd="$TMP/mods dir#1 \$HOME 'q'"
mkdir -p "$odd"
cp "$MODULE" "$odd/m2msec.so"
run "$M2M" provider-install --module "$odd/m2msec.so" -o odd.cnf
expect_run "a module path with blanks, '#', '\$' and quotes: exit 0" 0
expect_eq "that path loads (escaped in the configuration)" "$(provider_status odd.cnf)" "active"

# ---------------------------------------------------------------- the self-check
mkdir -p mod
cp "$MODULE" mod/m2msec.so
cp "$MODULE" mod/m2msec.so.orig
run "$M2M" provider-install --module mod/m2msec.so -o copy.cnf
expect_run "install from a copy of the module: exit 0" 0
expect_eq "the copy is active" "$(provider_status copy.cnf)" "active"
printf '\0' >>mod/m2msec.so
expect_eq "one byte appended to the module: status inactive" "$(provider_status copy.cnf)" \
    "inactive"
run with_conf copy.cnf "$OPENSSL" kdf "${KDF_ARGS[@]}"
expect_run "one byte appended: openssl kdf fails with 'module integrity check failed'" 1 \
    'module integrity check failed'
if grep -Eiq '^([0-9A-F]{2}:){31}[0-9A-F]{2}$' <<<"$out"; then
    not_ok "no key is printed by the refused derivation"
else
    ok "no key is printed by the refused derivation"
fi
run "$M2M" status --conf copy.cnf
expect_run "m2msec status: inactive, exit 1" 1 'status inactive'
run "$M2M" provider-install --module mod/m2msec.so -o copy2.cnf --no-check
expect_run "--no-check installs whatever the file is now" 0
cp mod/m2msec.so.orig mod/m2msec.so
expect_eq "the module restored: active again" "$(provider_status copy.cnf)" "active"
expect_eq "the module restored: openssl kdf works again" \
    "$(with_conf copy.cnf "$OPENSSL" kdf "${KDF_ARGS[@]}" 2>&1 | norm)" "$WANT_KEY"
run "$M2M" status --conf copy.cnf
expect_run "m2msec status: active again, exit 0" 0 'status active'
expect_eq "the configuration installed from the changed module fails now" \
    "$(provider_status copy2.cnf)" "inactive"

# ---------------------------------------------------------------- refusals
printf 'not a module\n' >fake.so
cp copy.cnf keep.cnf
run "$M2M" provider-install --module fake.so -o copy.cnf
expect_run "a file that is not a provider: exit 1" 1 'does not load'
expect_eq "the existing configuration is left unchanged" "$(cat copy.cnf)" "$(cat keep.cnf)"
check "no temporary file left after a refusal" [ -z "$(ls copy.cnf.tmp.* 2>/dev/null)" ]
run "$M2M" provider-install --module "$TMP/no-such.so"
expect_run "a missing module: exit 2" 2 'no-such.so'
run "$M2M" provider-install --module "$M2M_MODULES/m2msec.so" -o "$TMP/no-such-dir/x.cnf"
expect_run "an output directory that does not exist: exit 2" 2 'no-such-dir'

finish
