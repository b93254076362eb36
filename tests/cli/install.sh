#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# `meson install --destdir` puts everything where users and OpenSSL look for
# it: the module in its modules directory (OpenSSL's for prefix /usr, else
# under the prefix; tests/install/staging.sh checks a non-system prefix in
# depth) exporting only
# OSSL_provider_init, the header, the library and its pkg-config file, the
# example configuration and the documentation.
# Env: M2M_BUILD_DIR, M2M_SOURCE_DIR (set by tests/meson.build).
set -uo pipefail

: "${M2M_BUILD_DIR:?}" "${M2M_SOURCE_DIR:?}"
OPENSSL=${OPENSSL:-openssl}
fails=0
pass() { echo "ok:   $*"; }
fail() {
    echo "FAIL: $*"
    fails=$((fails + 1))
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

if ! meson install -C "$M2M_BUILD_DIR" --destdir "$tmp" --no-rebuild --quiet >"$tmp.log" 2>&1; then
    cat "$tmp.log"
    rm -f "$tmp.log"
    echo "FAIL: meson install"
    exit 1
fi
rm -f "$tmp.log"

# Installation directories as configured in this build.
opts=$(meson introspect "$M2M_BUILD_DIR" --buildoptions) || {
    echo "FAIL: meson introspect --buildoptions"
    exit 1
}
opt() { python3 -c 'import json,sys; print(next(o["value"] for o in json.load(sys.stdin) if o["name"] == sys.argv[1]))' "$1" <<<"$opts"; }
prefix=$(opt prefix)
libdir=$(opt libdir)
includedir=$(opt includedir)
datadir=$(opt datadir)
modulesdir=$(opt modulesdir)
abs() { [[ $1 == /* ]] && echo "$1" || echo "$prefix/$1"; }
libdir=$(abs "$libdir")
includedir=$(abs "$includedir")
datadir=$(abs "$datadir")
# The module's directory by the rule of meson.build (README "Installing"):
# OpenSSL's own for prefix /usr or -Dmodulesdir=system, else under the prefix.
if [[ $modulesdir == system || (-z $modulesdir && $prefix == /usr) ]]; then
    modulesdir=$(pkg-config --variable=modulesdir libcrypto 2>/dev/null) ||
        modulesdir=$("$OPENSSL" version -m | sed -n 's/^MODULESDIR: "\(.*\)"$/\1/p')
elif [[ -z $modulesdir ]]; then
    modulesdir=$libdir/ossl-modules
else
    modulesdir=$(abs "$modulesdir")
fi
echo "prefix=$prefix libdir=$libdir modulesdir=$modulesdir"

check_file() { # description path
    if [[ -f $2 ]]; then pass "$1: ${2#"$tmp"}"; else fail "$1 missing: ${2#"$tmp"}"; fi
}

module=$tmp$modulesdir/m2msec.so
check_file "provider module in its modules directory" "$module"
check_file "public header" "$tmp$includedir/m2msec/m2msec.h"
check_file "pkg-config file" "$tmp$libdir/pkgconfig/libm2msec.pc"
if compgen -G "$tmp$libdir/libm2msec.so*" >/dev/null; then
    pass "libm2msec: $(cd "$tmp$libdir" && echo libm2msec.so*)"
    [[ -L $tmp$libdir/libm2msec.so.0 ]] || fail "soname link libm2msec.so.0 missing"
else
    fail "libm2msec.so* missing in ${libdir}"
fi
if [[ -f $M2M_SOURCE_DIR/examples/openssl.cnf ]]; then
    check_file "example configuration" "$tmp$datadir/doc/m2msec/examples/openssl.cnf"
else
    echo "note: examples/openssl.cnf not in the source tree yet; not checked"
fi

# Everything meson says it installs (documentation included, whatever
# docs/meson.build lists) must be in the destdir.
installed=$(meson introspect "$M2M_BUILD_DIR" --installed) || {
    fail "meson introspect --installed"
    installed='{}'
}
while IFS= read -r dest; do
    [[ -n $dest ]] || continue
    if [[ -e $tmp$dest || -L $tmp$dest ]]; then
        pass "installed: $dest"
    else
        fail "meson lists $dest but it is not in the destdir"
    fi
done < <(python3 -c 'import json,sys; print("\n".join(sorted(json.load(sys.stdin).values())))' <<<"$installed")
docs=$(find "$tmp$datadir/doc/m2msec" -maxdepth 1 -type f 2>/dev/null | wc -l)
echo "documentation files in $datadir/doc/m2msec: $docs"

# The pkg-config file tells applications where the module lives.
if [[ -f $tmp$libdir/pkgconfig/libm2msec.pc ]] && command -v pkg-config >/dev/null; then
    got=$(PKG_CONFIG_PATH=$tmp$libdir/pkgconfig pkg-config --variable=modulesdir libm2msec)
    if [[ $got == "$modulesdir" ]]; then pass "libm2msec.pc modulesdir=$got"; else fail "libm2msec.pc modulesdir=$got, expected $modulesdir"; fi
fi

# Exports: the module only OSSL_provider_init, the library only m2msec_*.
if [[ -f $module ]]; then
    syms=$(nm -D --defined-only "$module" | awk '{print $NF}' | sort -u)
    if [[ $syms == OSSL_provider_init ]]; then
        pass "module exports only OSSL_provider_init"
    else
        fail "module exports: ${syms//$'\n'/ }"
    fi
    # The installed copy loads and offers its KDFs.
    if out=$("$OPENSSL" list -provider-path "$tmp$modulesdir" -provider m2msec -provider default \
        -kdf-algorithms 2>&1) && grep -q 'M2M-SESSION-KDF @ m2msec' <<<"$out"; then
        pass "installed module loads (openssl list -kdf-algorithms)"
    else
        fail "installed module does not load: $out"
    fi
fi
lib=$(find "$tmp$libdir" -maxdepth 1 -type f -name 'libm2msec.so.*.*.*' | head -n 1)
if [[ -n $lib ]]; then
    other=$(nm -D --defined-only "$lib" | awk '{print $NF}' | grep -v '^m2msec_' | grep -v '^LIBM2MSEC' || true)
    if [[ -z $other ]]; then pass "libm2msec exports only m2msec_*"; else fail "libm2msec also exports: ${other//$'\n'/ }"; fi
fi

if [[ $fails -ne 0 ]]; then
    echo "$fails check(s) failed"
    exit 1
fi
echo "all install checks passed"
