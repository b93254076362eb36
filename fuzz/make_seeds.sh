#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Regenerate the seed corpora in fuzz/corpus/ (commit the result).
#
#   fuzz/make_seeds.sh
#
# Builds fuzz/out/make_seeds (fuzz/build.sh), removes the generated corpora
# and writes them again: the KDF worked examples of docs/PROTOCOL.md,
# records sealed by libm2msec senders, manifests and the policy files of
# docs/POLICY.md (its ```ini blocks) and examples/openssl.cnf.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
out=${FUZZ_OUT:-$here/out}

"$here/build.sh" make_seeds

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Every ```ini block of docs/POLICY.md, one file each.
awk -v dir="$tmp" '
    /^```ini[[:space:]]*$/ { n++; f = sprintf("%s/POLICY.md-ini-%d.cnf", dir, n); inblock = 1; next }
    /^```/ && inblock { inblock = 0; close(f); next }
    inblock { print > f }
' "$root/docs/POLICY.md"
policy_files=("$tmp"/*.cnf "$root/examples/openssl.cnf")

for h in fuzz_session_open fuzz_record_decrypt fuzz_manifest fuzz_policy fuzz_kdf_params; do
    rm -rf "${here:?}/corpus/$h"
done
ASAN_OPTIONS=detect_leaks=1 "$out/make_seeds" "$here/corpus" "${policy_files[@]}"
