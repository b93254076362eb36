#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# deb_install.sh DEBDIR: install the Debian packages built by
# scripts/build-debs into a throwaway root, enable the provider there with
# the documented steps, check it, and purge the packages again.
#
# The throwaway root is the running system seen through an overlay: in a
# private mount namespace (unshare -m), a tmpfs holds the overlay's upper
# layer over /, the script chroots into the merged tree and runs dpkg there.
# Maintainer scripts and triggers run for real (ldconfig, man-db), but every
# change lands in the tmpfs and vanishes with the namespace: the host's
# dpkg database, /etc/ssl/openssl.cnf and OpenSSL modules directory are
# untouched (checked at the end). Needs root; the packages' dependencies
# (libssl3, libcurl4, libutf8proc2, libssl-dev) come from the host.
#
# In the root:
#   1. dpkg -i openssl-provider-m2msec, libm2msec0, libm2msec-dev, m2msec;
#   2. before enabling, `openssl list -providers` does not show m2msec;
#   3. the documented enable step (README "Debian packages", m2msec(1)
#      provider-install): m2msec provider-install --section-only -o
#      /etc/ssl/m2msec.cnf and steps 2-4 on /etc/ssl/openssl.cnf;
#   4. `openssl list -providers` (no OPENSSL_CONF) shows m2msec active, and
#      `openssl kdf` derives ONEM2M-KDF equal to stock HMAC-SHA-256;
#   5. a program compiled with `pkg-config libm2msec` (libm2msec-dev) loads
#      the packaged module;
#   6. dpkg --purge of the four packages leaves none of their files.
set -uo pipefail

# Inside the private mount namespace (the script runs itself under unshare):
# deb_install.sh --inner OVERLAY_DIR TESTS_INSTALL_DIR DEB...
if [[ ${1:-} == --inner ]]; then
    ov=$2 here=$3
    shift 3
    mount -t tmpfs -o mode=0755 m2msec-ov "$ov" || exit 1
    mkdir -p "$ov/upper" "$ov/work" "$ov/root"
    mount -t overlay overlay -o "lowerdir=/,upperdir=$ov/upper,workdir=$ov/work" "$ov/root" ||
        exit 1
    r=$ov/root
    mount --rbind /dev "$r/dev" && mount -t proc proc "$r/proc" && mount -t tmpfs tmpfs "$r/tmp" ||
        exit 1
    mkdir -p "$r/tmp/debs" "$r/tmp/t"
    cp "$@" "$r/tmp/debs/"
    cp "$here/enable_steps.sh" "$here/pkgconfig_client.c" "$r/tmp/t/"
    chroot "$r" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
        bash -s <<'EOS'
set -uo pipefail
fails=0
ok() { echo "ok - $*"; }
not_ok() { echo "not ok - $*"; fails=$((fails + 1)); }
status() { # status of m2msec in `openssl list -providers` with the system config
    openssl list -providers 2>/dev/null | awk '/^  m2msec$/ {f = 1; next} /^  [^ ]/ {f = 0}
        f && /status:/ {print $2; found = 1} END {if (!found) print "absent"}'
}
pkgs=(openssl-provider-m2msec libm2msec0 libm2msec-dev m2msec)

if dpkg -i /tmp/debs/*.deb >/tmp/t/dpkg.log 2>&1; then
    ok "dpkg -i ${pkgs[*]}"
else
    cat /tmp/t/dpkg.log
    not_ok "dpkg -i ${pkgs[*]}"
fi
moddir=$(pkg-config --variable=modulesdir libcrypto)
[[ -f $moddir/m2msec.so ]] && ok "module in OpenSSL's modules directory $moddir" ||
    not_ok "no $moddir/m2msec.so"
v=$(m2msec --version 2>&1) && ok "m2msec --version: $v" || not_ok "m2msec --version: $v"
[[ $(status) == absent ]] && ok "before the enable step m2msec is not loaded" ||
    not_ok "m2msec loaded before the enable step: $(status)"

# The documented enable step.
if m2msec provider-install --section-only -o /etc/ssl/m2msec.cnf >/tmp/t/pi.log 2>&1; then
    ok "m2msec provider-install --section-only -o /etc/ssl/m2msec.cnf"
else
    cat /tmp/t/pi.log
    not_ok "m2msec provider-install --section-only -o /etc/ssl/m2msec.cnf"
fi
# shellcheck source=tests/install/enable_steps.sh
source /tmp/t/enable_steps.sh
enable_steps /etc/ssl/openssl.cnf /etc/ssl/m2msec.cnf
st=$(status)
[[ $st == active ]] && ok "openssl list -providers shows m2msec active" ||
    not_ok "openssl list -providers: m2msec $st"
openssl list -providers | sed 's/^/#   /'
ke=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f
got=$(openssl kdf -keylen 32 -kdfopt "hexkey:$ke" -kdfopt derivation:km -kdfopt maf-id:MAF-deb \
    ONEM2M-KDF 2>&1 | tr -d ':\n' | tr 'A-F' 'a-f')
printf '%s' "oneM2M Enrolment Key to Master Credential derivationMAF-deb" >/tmp/t/km.in
want=$(openssl mac -digest SHA256 -macopt "hexkey:$ke" -in /tmp/t/km.in HMAC 2>&1 | tr 'A-F' 'a-f')
[[ -n $got && $got == "$want" ]] && ok "openssl kdf ONEM2M-KDF (system config) = stock HMAC-SHA-256" ||
    not_ok "openssl kdf ONEM2M-KDF: got $got want $want"

# libm2msec-dev: a program built with pkg-config.
# shellcheck disable=SC2046
if cc -std=c11 -Wall -Werror -o /tmp/t/client /tmp/t/pkgconfig_client.c \
    $(pkg-config --cflags --libs libm2msec) 2>/tmp/t/cc.err &&
    out=$(/tmp/t/client "$(pkg-config --variable=modulesdir libm2msec)" 2>&1) &&
    grep -q 'M2M-SESSION-KDF from m2msec' <<<"$out"; then
    ok "pkg-config libm2msec: a program builds, runs and loads the module"
else
    cat /tmp/t/cc.err
    not_ok "pkg-config libm2msec client: ${out:-}"
fi

if dpkg --purge "${pkgs[@]}" >/tmp/t/purge.log 2>&1; then
    ok "dpkg --purge ${pkgs[*]}"
else
    cat /tmp/t/purge.log
    not_ok "dpkg --purge ${pkgs[*]}"
fi
left=0
for p in "${pkgs[@]}"; do
    s=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
    [[ -z $s || $s == not-installed ]] || { not_ok "$p still $s after purge"; left=1; }
done
for f in "$moddir/m2msec.so" /usr/bin/m2msec /usr/include/m2msec/m2msec.h; do
    [[ -e $f ]] && { not_ok "$f still there after purge"; left=1; }
done
[[ $left -eq 0 ]] && ok "purged: no package, no module, no tool, no header left"
[[ $(status) != active ]] && ok "after the purge m2msec no longer loads" ||
    not_ok "m2msec still active after the purge"
echo "# $fails failed"
[[ $fails -eq 0 ]]
EOS
    exit $?
fi

debdir=${1:?usage: deb_install.sh DEBDIR}
debdir=$(cd "$debdir" && pwd)
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
pkgs=(openssl-provider-m2msec libm2msec0 libm2msec-dev m2msec)

if [[ $(id -u) -ne 0 ]]; then
    echo "deb_install: needs root (dpkg in an overlay chroot)" >&2
    exit 1
fi
debs=()
for p in "${pkgs[@]}"; do
    f=$(find "$debdir" -maxdepth 1 -name "${p}_*.deb" | head -n 1)
    [[ -n $f ]] || {
        echo "deb_install: no ${p}_*.deb in $debdir" >&2
        exit 1
    }
    debs+=("$f")
done
sysmod=$(pkg-config --variable=modulesdir libcrypto)
host_cnf_sum=$(md5sum /etc/ssl/openssl.cnf | cut -d' ' -f1)

ov=$(mktemp -d)
trap 'rm -rf "$ov"' EXIT

unshare -m --propagation private bash "$here/deb_install.sh" --inner "$ov" "$here" "${debs[@]}"
rc=$?

# The host is untouched.
if [[ -e $sysmod/m2msec.so ]] && ! dpkg-query -W openssl-provider-m2msec >/dev/null 2>&1; then
    echo "not ok - the host's $sysmod has an m2msec.so after the test"
    rc=1
fi
if [[ $(md5sum /etc/ssl/openssl.cnf | cut -d' ' -f1) != "$host_cnf_sum" ]]; then
    echo "not ok - the host's /etc/ssl/openssl.cnf changed"
    rc=1
fi
[[ $rc -eq 0 ]] && echo "deb_install: all checks passed" || echo "deb_install: FAILED"
exit "$rc"
