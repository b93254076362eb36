#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# m2msec(1)'s steps for loading the provider from the system openssl.cnf
# (section provider-install), applied literally to the stock
# /etc/ssl/openssl.cnf of Debian 12 (bookworm: the providers lines are all
# commented out) and Debian 13 (trixie: only `activate = 1` is), each taken
# from Debian's openssl package (tests/install/stock_openssl_cnf.sh). After
# the steps, `openssl list -providers` with OPENSSL_CONF pointing to the
# edited copy must show m2msec and default active and the default provider's
# algorithms must still work. The steps the man page gave before (add the
# m2msec line and the .include, nothing uncommented) must leave m2msec absent
# on Debian 12: the check can tell the two apart.
# Env: M2M_BUILD_DIR, M2M_SOURCE_DIR, M2M_MODULES (set by tests/meson.build);
# OPENSSL (the openssl command, default: openssl on the PATH).
set -uo pipefail

: "${M2M_BUILD_DIR:?}" "${M2M_SOURCE_DIR:?}"
# shellcheck source=tests/cli/lib.sh
source "$M2M_SOURCE_DIR/tests/cli/lib.sh"

tool=$M2M_BUILD_DIR/tools/m2msec
cache=$M2M_BUILD_DIR/tests/install/stock-cnf

# Step 1 of the man page: the section file, made by the tool from the module.
section=$TMP/m2msec.cnf
run "$tool" provider-install --module "$M2M_MODULES/m2msec.so" --section-only -o "$section"
expect_run "step 1: m2msec provider-install --section-only -o FILE" 0

# shellcheck source=tests/install/enable_steps.sh
source "$M2M_SOURCE_DIR/tests/install/enable_steps.sh"

# apply_steps IN OUT [old]: the man page's steps 2-4 on a copy.
apply_steps() {
    cp "$1" "$2"
    enable_steps "$2" "$section" "${3:-new}"
}

for suite in bookworm trixie; do
    if ! stock=$("$M2M_SOURCE_DIR/tests/install/stock_openssl_cnf.sh" "$suite" "$cache" 2>"$TMP/fetch.err"); then
        not_ok "$suite: the stock openssl.cnf of Debian's openssl package"
        diag "$(cat "$TMP/fetch.err")"
        continue
    fi
    ok "$suite: stock openssl.cnf of openssl $(cat "$(dirname "$stock")/version")"
    expect_eq "$suite: m2msec absent with the stock file" "$(provider_status "$stock")" "absent"

    edited=$TMP/$suite.cnf
    apply_steps "$stock" "$edited"
    for l in "${enable_step2_lines[@]}"; do
        expect_eq "$suite: after step 2 the line '$l' is present once, not commented" \
            "$(grep -cxF -- "$l" "$edited")" 1
    done
    expect_eq "$suite: after step 3 [provider_sect] names m2msec" \
        "$(awk '/^\[/ {s = $0} s == "[provider_sect]" && $0 == "m2msec = m2msec_sect" {print "yes"}' "$edited")" \
        "yes"
    # Step 5: the check of the man page.
    expect_eq "$suite: step 5: openssl list -providers shows m2msec active" \
        "$(provider_status "$edited")" "active"
    # Debian's OpenSSL reads its default file /usr/lib/ssl/openssl.cnf, a
    # symlink to /etc/ssl/openssl.cnf: the same through a symlink.
    ln -s "$edited" "$TMP/$suite-link.cnf"
    expect_eq "$suite: the same through a symlink (as /usr/lib/ssl/openssl.cnf on Debian)" \
        "$(provider_status "$TMP/$suite-link.cnf")" "active"
    run env OPENSSL_CONF="$edited" "$OPENSSL" list -providers
    expect_run "$suite: the default provider stays active" 0 \
        'default'$'\n''.*name: OpenSSL Default Provider'
    got=$(printf 'abc' | OPENSSL_CONF=$edited "$OPENSSL" dgst -sha256 -r 2>&1 | cut -d' ' -f1)
    expect_eq "$suite: default algorithms still work (SHA-256 of 'abc', FIPS 180-2)" "$got" \
        ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad
    run env OPENSSL_CONF="$edited" "$OPENSSL" list -kdf-algorithms
    expect_run "$suite: M2M-SESSION-KDF offered through the edited file" 0 'M2M-SESSION-KDF @ m2msec'

    apply_steps "$stock" "$TMP/$suite-old.cnf" old
    if [[ $suite == bookworm ]]; then
        expect_eq "$suite: the former steps (nothing uncommented) leave m2msec absent" \
            "$(provider_status "$TMP/$suite-old.cnf")" "absent"
    fi
done

finish
