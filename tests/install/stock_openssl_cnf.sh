#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# stock_openssl_cnf.sh SUITE CACHE_DIR: print the path of the stock
# /etc/ssl/openssl.cnf of Debian's `openssl` package in SUITE (bookworm =
# Debian 12, trixie = Debian 13), fetched once into CACHE_DIR/SUITE/.
#
# The file comes from the package itself: apt-get with a private sources
# list, package lists and cache under CACHE_DIR (the system's apt
# configuration is neither read nor changed; apt checks the archive's
# signatures as usual), `apt-get download openssl/SUITE`, `dpkg-deb -x`.
# On a Debian 12 machine whose /etc/ssl/openssl.cnf is unchanged (its MD5
# equals the one dpkg recorded for the conffile) that file is used for
# bookworm without a download.
# Env: M2M_DEBIAN_MIRROR (default http://deb.debian.org/debian);
# M2M_STOCK_CNF_DOWNLOAD=1 downloads bookworm's package even so.
set -euo pipefail

suite=${1:?usage: stock_openssl_cnf.sh SUITE CACHE_DIR}
cache=${2:?usage: stock_openssl_cnf.sh SUITE CACHE_DIR}
mirror=${M2M_DEBIAN_MIRROR:-http://deb.debian.org/debian}
dir=$cache/$suite
out=$dir/openssl.cnf

if [[ -s $out ]]; then
    echo "$out"
    exit 0
fi
mkdir -p "$dir"

if [[ -z ${M2M_STOCK_CNF_DOWNLOAD:-} && $suite == bookworm && -r /etc/debian_version && $(cut -d. -f1 /etc/debian_version) == 12 ]]; then
    want=$(dpkg-query -W -f='${Conffiles}\n' openssl 2>/dev/null |
        awk '$1 == "/etc/ssl/openssl.cnf" {print $2}')
    have=$(md5sum /etc/ssl/openssl.cnf 2>/dev/null | awk '{print $1}')
    if [[ -n $want && $want == "$have" ]]; then
        cp /etc/ssl/openssl.cnf "$out.tmp"
        dpkg-query -W -f='${Version} (installed, unchanged)\n' openssl >"$dir/version"
        mv "$out.tmp" "$out"
        echo "$out"
        exit 0
    fi
fi

# apt, dpkg-deb: uninstrumented system tools (the sanitizer stage preloads
# its runtime into every command of the scripts).
unset LD_PRELOAD
apt_dir=$dir/apt
rm -rf "$apt_dir"
mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$apt_dir/deb" "$apt_dir/parts"
echo "deb $mirror $suite main" >"$apt_dir/sources.list"
# The system's apt.conf.d is not read (an empty parts directory): no update
# hooks (appstream, command-not-found) run for these private lists.
apt_opts=(-q -o "Dir::Etc::parts=$apt_dir/parts" -o "Dir::Etc::main=/dev/null"
    -o "Dir::Etc::sourcelist=$apt_dir/sources.list" -o Dir::Etc::sourceparts=-
    -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache"
    -o APT::Get::List-Cleanup=0 -o Debug::NoLocking=1)
if ! apt-get "${apt_opts[@]}" update >"$apt_dir/update.log" 2>&1; then
    cat "$apt_dir/update.log" >&2
    echo "stock_openssl_cnf: apt-get update for $suite from $mirror failed" >&2
    exit 1
fi
if ! (cd "$apt_dir/deb" && apt-get "${apt_opts[@]}" download "openssl/$suite") \
    >"$apt_dir/download.log" 2>&1; then
    cat "$apt_dir/download.log" >&2
    echo "stock_openssl_cnf: apt-get download openssl/$suite failed" >&2
    exit 1
fi
deb=$(find "$apt_dir/deb" -name 'openssl_*.deb' | head -n 1)
dpkg-deb -x "$deb" "$apt_dir/x"
cp "$apt_dir/x/etc/ssl/openssl.cnf" "$out.tmp"
dpkg-deb -f "$deb" Version >"$dir/version"
mv "$out.tmp" "$out"
rm -rf "$apt_dir"
echo "$out"
