#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The install layout with a non-system prefix, as a user meets it
# (README "Installing"): a separate build of this tree configured with
# --prefix=/opt/m2msec, installed with `meson install --destdir` into a
# staging directory, then
#   - the module lies under the prefix (<prefix>/<libdir>/ossl-modules), and
#     nothing goes to the system's OpenSSL modules directory;
#   - the installed m2msec tool starts with no LD_LIBRARY_PATH (its run path
#     is relative to the tool) and its provider-install subcommand works on
#     the installed module;
#   - the stock openssl command loads the installed module through a config
#     file (`module =` absolute path) and through OPENSSL_MODULES, and
#     `openssl kdf` derives with it (checked against stock HMAC-SHA-256);
#   - a small program compiled with `pkg-config libm2msec` from the staging
#     directory links, runs and loads the installed module.
# The staging build is kept in $M2M_BUILD_DIR/tests/install/staging-build,
# so that a second run rebuilds only what changed.
# Env: M2M_BUILD_DIR, M2M_SOURCE_DIR, M2M_MODULES (set by tests/meson.build).
set -uo pipefail

: "${M2M_BUILD_DIR:?}" "${M2M_SOURCE_DIR:?}"
# shellcheck source=tests/cli/lib.sh
source "$M2M_SOURCE_DIR/tests/cli/lib.sh"
# Under the sanitizer stage the ASan runtime is preloaded into every
# command; the staging build and the tools it runs are not instrumented.
unset LD_PRELOAD LD_LIBRARY_PATH

prefix=/opt/m2msec
bd=$M2M_BUILD_DIR/tests/install/staging-build
stage=$TMP/stage

if [[ ! -f $bd/meson-private/coredata.dat ]]; then
    rm -rf "$bd"
    if ! meson setup --prefix="$prefix" -Dtests=disabled "$bd" "$M2M_SOURCE_DIR" \
        </dev/null >"$TMP/setup.log" 2>&1; then
        cat "$TMP/setup.log"
        echo "FAIL: meson setup of the staging build"
        exit 1
    fi
fi
# Only what is installed: the module, the library and the tool.
if ! nice meson compile -C "$bd" provider/m2msec:shared_module libm2msec/m2msec:shared_library \
    tools/m2msec:executable >"$TMP/build.log" 2>&1 ||
    ! meson install -C "$bd" --no-rebuild --destdir "$stage" >"$TMP/install.log" 2>&1; then
    tail -n 40 "$TMP/build.log" "$TMP/install.log"
    echo "FAIL: staging build or meson install --destdir"
    exit 1
fi

opts=$(meson introspect "$bd" --buildoptions)
opt() { python3 -c 'import json,sys; print(next(o["value"] for o in json.load(sys.stdin) if o["name"] == sys.argv[1]))' "$1" <<<"$opts"; }
libdir=$(opt libdir)
bindir=$(opt bindir)
[[ $libdir == /* ]] || libdir=$prefix/$libdir
[[ $bindir == /* ]] || bindir=$prefix/$bindir
moddir=$libdir/ossl-modules
sysmoddir=$(pkg-config --variable=modulesdir libcrypto)
tool=$stage$bindir/m2msec
module=$stage$moddir/m2msec.so

# 1. Layout: under the prefix, nothing in the system's modules directory.
check "module installed under the prefix: $moddir/m2msec.so" test -f "$module"
if [[ -n $sysmoddir && $sysmoddir != "$moddir" ]]; then
    check "nothing installed into the system modules directory $sysmoddir" \
        test ! -e "$stage$sysmoddir"
fi
outside=$(cd "$stage" && find . -mindepth 1 \( -type f -o -type l \) ! -path ".$prefix/*")
expect_eq "every installed file is under $prefix" "${outside:-none}" "none"

# 2. The installed tool starts as it is.
run env -u LD_LIBRARY_PATH "$tool" --version
expect_run "installed m2msec --version starts without LD_LIBRARY_PATH" 0 '^m2msec [0-9]'
lib_of_tool=$(env -u LD_LIBRARY_PATH ldd "$tool" | awk '$1 ~ /^libm2msec\.so/ {print $3}')
expect_eq "the tool loads the staged libm2msec" "$(realpath "$lib_of_tool" 2>/dev/null)" \
    "$(realpath "$stage$libdir/libm2msec.so.0")"
run readelf -d "$tool"
expect_run "the tool's run path is relative to it (\$ORIGIN)" 0 'RUNPATH.*[$]ORIGIN/'

# 3. The installed module with the stock openssl command.
run "$tool" provider-install --module "$module" -o "$TMP/m2msec.cnf"
expect_run "installed m2msec provider-install writes a config that loads the module" 0
expect_eq "openssl list -providers (config file, module = the staged m2msec.so)" \
    "$(provider_status "$TMP/m2msec.cnf")" "active"
run grep -E '^module = ' "$TMP/m2msec.cnf"
expect_run "the config names the staged module by absolute path" 0 "^module = $module\$"
ke=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f
maf="MAF-staging"
got=$(OPENSSL_CONF=$TMP/m2msec.cnf "$OPENSSL" kdf -keylen 32 -kdfopt "hexkey:$ke" \
    -kdfopt derivation:km -kdfopt "maf-id:$maf" ONEM2M-KDF 2>&1 | norm)
printf '%s' "oneM2M Enrolment Key to Master Credential derivation$maf" >"$TMP/km.in"
expect_eq "openssl kdf ONEM2M-KDF (installed module, config file) = stock HMAC-SHA-256" \
    "$got" "$(stock_hmac "$ke" "$TMP/km.in")"
run env OPENSSL_MODULES="$stage$moddir" "$OPENSSL" list -provider m2msec -provider default -providers
expect_run "OPENSSL_MODULES=<staged modules dir> openssl list -provider m2msec" 0 \
    'name: m2msec'

# 4. A program built with pkg-config against the staging directory.
pcdir=$stage$libdir/pkgconfig
if flags=$(PKG_CONFIG_PATH=$pcdir PKG_CONFIG_SYSROOT_DIR=$stage pkg-config --cflags --libs libm2msec); then
    ok "pkg-config --cflags --libs libm2msec: $flags"
else
    not_ok "pkg-config libm2msec from $pcdir"
fi
# Every public header is installed and compiles on its own.
for h in "$M2M_SOURCE_DIR"/include/m2msec/*.h; do
    h=m2msec/$(basename "$h")
    printf '#include <%s>\nint main(void) { return 0; }\n' "$h" >"$TMP/hdr.c"
    # shellcheck disable=SC2086
    if [[ -f $stage$prefix/include/$h ]] &&
        cc -std=c11 -Wall -Werror -fsyntax-only $flags "$TMP/hdr.c" 2>"$TMP/hdr.err"; then
        ok "installed header <$h> compiles on its own"
    else
        not_ok "installed header <$h> missing or not self-contained"
        diag "$(cat "$TMP/hdr.err" 2>/dev/null)"
    fi
done
pcmod=$(PKG_CONFIG_PATH=$pcdir pkg-config --variable=modulesdir libm2msec)
expect_eq "libm2msec.pc modulesdir" "$pcmod" "$moddir"
# flags holds several words on purpose.
# shellcheck disable=SC2086
if cc -std=c11 -Wall -Werror -o "$TMP/client" "$M2M_SOURCE_DIR/tests/install/pkgconfig_client.c" \
    $flags -Wl,-rpath,"$stage$libdir" 2>"$TMP/cc.err"; then
    ok "a program compiles and links with the pkg-config flags"
    run "$TMP/client" "$stage$pcmod"
    expect_run "it runs with the staged library and loads the staged module" 0 \
        'M2M-SESSION-KDF from m2msec'
    lib_of_client=$(ldd "$TMP/client" | awk '$1 ~ /^libm2msec\.so/ {print $3}')
    expect_eq "the program uses the staged libm2msec" "$(realpath "$lib_of_client" 2>/dev/null)" \
        "$(realpath "$stage$libdir/libm2msec.so.0")"
else
    not_ok "a program compiles and links with the pkg-config flags"
    diag "$(cat "$TMP/cc.err")"
fi

finish
