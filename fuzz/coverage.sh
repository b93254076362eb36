#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Line coverage of the provider and libm2msec reached by a corpus.
#
#   fuzz/coverage.sh [CORPUS_ROOT]     # default fuzz/corpus
#
# Builds every harness again with clang's source-based coverage
# (-fprofile-instr-generate -fcoverage-mapping, no sanitizers) into
# fuzz/out/cov/, runs each over CORPUS_ROOT/<harness>/ (for example the
# grown corpora that FUZZ_CORPUS_OUT=DIR fuzz/run.sh keeps), and prints the
# llvm-cov report of provider/ and libm2msec/. Needs llvm-14 (llvm-profdata,
# llvm-cov). For finding what the harnesses miss; not run by CI.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
corpora=${1:-$here/corpus}
out=${FUZZ_OUT:-$here/out}/cov
CC=${CC:-$(command -v clang || command -v clang-14)}
profdata=$(command -v llvm-profdata || command -v llvm-profdata-14)
llvmcov=$(command -v llvm-cov || command -v llvm-cov-14)

# The source lists of build.sh.
provider_srcs=() common_srcs=() lib_srcs=() all_harnesses=()
eval "$(sed -n '/^provider_srcs=(/,/^)/p; /^common_srcs=(/,/^)/p; /^lib_srcs=(/,/^)/p; /^all_harnesses=(/p' "$here/build.sh")"

flags=(-std=c11 -g -O1 -D_POSIX_C_SOURCE=200809L -DM2M_VERSION='"0.1.0"' -I"$root/include"
       -I"$root/provider" -I"$root/libm2msec" -I"$root/common" -fprofile-instr-generate
       -fcoverage-mapping)
srcs=()
for s in "${provider_srcs[@]}" "${common_srcs[@]}" "${lib_srcs[@]}"; do srcs+=("$root/$s"); done
mkdir -p "$out"
rm -f "$out"/*.profraw "$out"/*.profdata
objs=()
for h in "${all_harnesses[@]}"; do
    "$CC" "${flags[@]}" -fsanitize=fuzzer "$here/$h.c" "$here/fuzz_common.c" "${srcs[@]}" \
        -lcrypto -lutf8proc -lpthread -o "$out/$h"
    if [[ -d $corpora/$h ]]; then
        LLVM_PROFILE_FILE="$out/$h.profraw" "$out/$h" -runs=0 "$corpora/$h" >/dev/null 2>&1 || true
    fi
    objs+=(-object "$out/$h")
done
"$profdata" merge -sparse "$out"/*.profraw -o "$out/all.profdata"
"$llvmcov" report "${objs[@]:1}" -instr-profile="$out/all.profdata" \
    "$root/provider" "$root/libm2msec"
