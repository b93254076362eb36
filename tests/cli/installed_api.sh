#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The installed API is whole and exact (issue 10 point 1). After
# `meson install --destdir` into a temporary directory:
#   - every public header of include/m2msec/ is installed, and nothing else;
#   - the installed libm2msec.so exports exactly the functions that the
#     installed headers declare (nm -D --defined-only against the
#     declarations that gcc -aux-info lists), in both directions: nothing
#     exported that no header declares, nothing declared that is missing;
#   - a program that includes ONE installed header alone and takes the
#     address of every function it declares compiles (-std=c11 -pedantic
#     -Werror) and links through `pkg-config --cflags --libs libm2msec`
#     alone (PKG_CONFIG_SYSROOT_DIR points into the staging directory),
#     and runs against the installed library.
# Env: M2M_BUILD_DIR, M2M_SOURCE_DIR (set by tests/meson.build).
set -uo pipefail

: "${M2M_BUILD_DIR:?}" "${M2M_SOURCE_DIR:?}"
CC=${CC:-cc}
fails=0
pass() { echo "ok:   $*"; }
fail() {
    echo "FAIL: $*"
    fails=$((fails + 1))
}

for tool in gcc nm pkg-config; do
    command -v "$tool" >/dev/null || {
        echo "FAIL: $tool not found"
        exit 1
    }
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
stage=$tmp/stage
work=$tmp/work
mkdir -p "$work"

if ! meson install -C "$M2M_BUILD_DIR" --destdir "$stage" --no-rebuild --quiet >"$work/install.log" 2>&1; then
    cat "$work/install.log"
    echo "FAIL: meson install"
    exit 1
fi

opts=$(meson introspect "$M2M_BUILD_DIR" --buildoptions) || {
    echo "FAIL: meson introspect --buildoptions"
    exit 1
}
opt() { python3 -c 'import json,sys; print(next(o["value"] for o in json.load(sys.stdin) if o["name"] == sys.argv[1]))' "$1" <<<"$opts"; }
prefix=$(opt prefix)
abs() { [[ $1 == /* ]] && echo "$1" || echo "$prefix/$1"; }
libdir=$(abs "$(opt libdir)")
includedir=$(abs "$(opt includedir)")
hdrdir=$stage$includedir/m2msec

# 1. Every public header installed, nothing else under m2msec/.
(cd "$M2M_SOURCE_DIR/include/m2msec" && ls -- *.h) | sort >"$work/src-headers"
(cd "$hdrdir" 2>/dev/null && ls -- *.h) | sort >"$work/inst-headers"
if cmp -s "$work/src-headers" "$work/inst-headers"; then
    pass "installed headers: $(tr '\n' ' ' <"$work/inst-headers")"
else
    fail "headers differ (< source only, > installed only):"
    diff "$work/src-headers" "$work/inst-headers" | grep '^[<>]'
fi

lib=$(find "$stage$libdir" -maxdepth 1 -type f -name 'libm2msec.so.*' | head -n 1)
if [[ -z $lib ]]; then
    echo "FAIL: no libm2msec.so.* in $libdir"
    exit 1
fi

# pkg-config alone gives the flags; the sysroot maps its paths into the stage.
export PKG_CONFIG_PATH=$stage$libdir/pkgconfig
export PKG_CONFIG_SYSROOT_DIR=$stage
if ! flags=$(pkg-config --cflags --libs libm2msec); then
    echo "FAIL: pkg-config --cflags --libs libm2msec"
    exit 1
fi
read -ra pcflags <<<"$flags"
if [[ $flags == *"-I$stage$includedir"* && $flags == *"-L$stage$libdir"* ]]; then
    pass "pkg-config libm2msec: $flags"
else
    fail "pkg-config flags do not point into the stage: $flags"
fi

# 2. The functions each installed header declares, from the compiler itself.
declared() { # header -> function names, one a line, from that header only
    printf '#include <m2msec/%s>\n' "$1" >"$work/decl.c"
    gcc -std=c11 "${pcflags[@]}" -fsyntax-only -aux-info "$work/decl.aux" "$work/decl.c" ||
        return 1
    # (a header may declare no function: no match is not an error)
    { grep -F "/* $hdrdir/$1:" "$work/decl.aux" || true; } |
        sed -n 's/.*[ *]\([A-Za-z_][A-Za-z0-9_]*\) (.*/\1/p' | sort -u
}
: >"$work/declared"
while read -r h; do
    if ! declared "$h" >"$work/decl-$h"; then
        fail "$h does not compile alone"
        continue
    fi
    sort -u "$work/declared" "$work/decl-$h" -o "$work/declared"
done <"$work/inst-headers"

# Defined dynamic symbols, without the version node (type A).
nm -D --defined-only "$lib" | awk '$2 != "A" {print $3}' | sort -u >"$work/exported"

# compare DECLARED EXPORTED: 0 when equal; prints the differences.
compare() {
    local extra missing
    extra=$(comm -13 "$1" "$2")
    missing=$(comm -23 "$1" "$2")
    [[ -z $extra ]] || echo "exported but declared in no installed header: ${extra//$'\n'/ }"
    [[ -z $missing ]] || echo "declared but not exported: ${missing//$'\n'/ }"
    [[ -z $extra && -z $missing ]]
}
if diffs=$(compare "$work/declared" "$work/exported"); then
    pass "exports == declarations: $(wc -l <"$work/exported") functions"
else
    fail "$diffs"
fi
# The comparison itself notices a leak and a missing export.
head -n -1 "$work/declared" >"$work/declared-short"
{ cat "$work/exported"; echo m2msec_internal_leak; } | sort >"$work/exported-leak"
if ! compare "$work/declared" "$work/exported-leak" >/dev/null &&
    ! compare "$work/declared-short" "$work/exported" >/dev/null; then
    pass "the comparison fails on a leaked symbol and on a missing export"
else
    fail "the comparison does not notice a difference"
fi
if [[ $(wc -l <"$work/declared") -lt 40 ]]; then
    fail "only $(wc -l <"$work/declared") declarations found: the extraction is broken"
fi

# 3. One program per header, alone, through pkg-config alone; it takes the
# address of every function the header declares, so linking and loading
# prove each one is exported by the installed library.
while read -r h; do
    prog=$work/use-${h%.h}
    {
        printf '#include <m2msec/%s>\n#include <stdio.h>\n\n' "$h"
        printf 'typedef void (*fn)(void);\n'
        printf 'static fn const volatile used[] = {\n'
        while read -r f; do printf '    (fn)%s,\n' "$f"; done <"$work/decl-$h"
        printf '    (fn)0,\n};\n\n'
        printf 'int main(void)\n{\n    size_t n = 0;\n'
        printf '    while (used[n] != (fn)0)\n        n++;\n'
        printf '    printf("%%zu\\n", n);\n    return 0;\n}\n'
    } >"$prog.c"
    if ! "$CC" -std=c11 -Wall -Wextra -pedantic -Werror "$prog.c" -o "$prog" "${pcflags[@]}" \
        2>"$prog.err"; then
        fail "$h: program does not compile or link through pkg-config:"
        sed 's/^/    /' "$prog.err"
        continue
    fi
    want=$(wc -l <"$work/decl-$h")
    if got=$(LD_LIBRARY_PATH=$stage$libdir "$prog" 2>&1) && [[ $got == "$want" ]]; then
        pass "$h alone: compiles, links, runs ($want functions)"
    else
        fail "$h: program against the installed library: $got (want $want)"
    fi
done <"$work/inst-headers"

echo "exported functions:"
sed 's/^/  /' "$work/exported"
if [[ $fails -ne 0 ]]; then
    echo "$fails check(s) failed"
    exit 1
fi
echo "all installed-API checks passed"
