#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Build the libFuzzer harnesses of m2msec into fuzz/out/ with clang.
#
#   fuzz/build.sh            # all harnesses and fuzz/out/make_seeds
#   fuzz/build.sh fuzz_kdf_params make_seeds   # only these
#   CC=clang-14 fuzz/build.sh
#
# Not part of the meson build. The provider and the libm2msec sources are
# compiled here, into every harness, with -fsanitize=fuzzer-no-link,address,
# undefined, so that libFuzzer sees their coverage and the sanitizers watch
# them; the provider is registered in each harness's library context with
# OSSL_PROVIDER_add_builtin() instead of being dlopen()ed.
#
# Needs (Debian 12): clang (or clang-14), libclang-rt-14-dev (libFuzzer and
# the sanitizer runtimes), libssl-dev, libutf8proc-dev.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
out=${FUZZ_OUT:-$here/out}
obj=$out/obj

if [[ -z ${CC:-} ]]; then
    if command -v clang >/dev/null 2>&1; then CC=clang
    elif command -v clang-14 >/dev/null 2>&1; then CC=clang-14
    else
        echo "fuzz/build.sh: clang not found (apt-get install clang libclang-rt-14-dev)" >&2
        exit 2
    fi
fi

# The sources under test, listed explicitly (provider/meson.build,
# common/meson.build and libm2msec/meson.build list the same files).
provider_srcs=(
    provider/cipher_record.c provider/cipher_record_aad.c provider/cipher_record_ccm.c
    provider/cipher_record_gcm.c provider/record_key_state.c
    provider/errors.c provider/fork_guard.c provider/hkdf.c provider/hmac.c
    provider/integrity_gate.c provider/kdf_common.c
    provider/kdf_onem2m.c provider/kdf_oscore.c provider/kdf_session.c provider/key_limits.c
    provider/key_registry.c provider/params.c provider/policy.c
    provider/provider.c provider/replay_window.c provider/utf8_nfkc.c
)
# common/: the strict policy-file reader, the status record, the module
# MAC, the text parser, the I/O helpers and the escaping, linked into both.
common_srcs=(
    common/cfile.c common/conf_check.c common/escape.c common/integrity_rule.c common/io.c
    common/manifest_state.c common/module_mac.c common/policy_file.c common/status_record.c
    common/text.c
)
# Only the libm2msec parts the harnesses use: sessions, manifests and
# signatures, the policy file, ESPrim with the file store it locks with (no
# curl, no verification threads).
lib_srcs=(
    libm2msec/kdf.c libm2msec/record_header.c libm2msec/session.c
    libm2msec/manifest.c libm2msec/manifest_sign.c libm2msec/safe_open.c
    libm2msec/policy.c libm2msec/store_file.c libm2msec/store_path.c
    libm2msec/esprim.c libm2msec/esprim_cache.c libm2msec/esprim_json.c libm2msec/esprim_jwe.c
    libm2msec/esprim_rand.c libm2msec/esprim_state.c libm2msec/association_keytable.c
)
all_harnesses=(fuzz_session_open fuzz_record_decrypt fuzz_manifest fuzz_policy fuzz_kdf_params fuzz_jwe
    fuzz_keytable)
if (( $# > 0 )); then targets=("$@"); else targets=("${all_harnesses[@]}" make_seeds); fi

common=(-std=c11 -g -O1 -fno-omit-frame-pointer -D_POSIX_C_SOURCE=200809L
        -DM2M_VERSION='"0.1.0"' -I"$root/include" -I"$root/provider" -I"$root/libm2msec" -I"$root/common"
        -Wall -Wextra -Werror=implicit-function-declaration)
# shellcheck disable=SC2054 # one compiler flag whose value is a comma-separated list
san=(-fsanitize=address,undefined -fno-sanitize=function)
libs=(-lcrypto -lutf8proc -lpthread)

mkdir -p "$obj"
# The whole build is cheap (a few seconds per file): rebuild every time, so
# that a stale object never hides a change made by someone else.
rm -f "$obj"/*.o "$obj"/*.a

compile() { # src obj extra-flags...
    local src=$1 o=$2
    shift 2
    "$CC" "${common[@]}" "${san[@]}" "$@" -c "$root/$src" -o "$o"
}

pids=()
jobs=${FUZZ_BUILD_JOBS:-$(nproc 2>/dev/null || echo 2)}
run_bg() {
    "$@" &
    pids+=($!)
    if (( ${#pids[@]} >= jobs )); then
        wait "${pids[0]}"
        pids=("${pids[@]:1}")
    fi
}

for s in "${provider_srcs[@]}" "${lib_srcs[@]}" "${common_srcs[@]}"; do
    b=$(basename "$s" .c)
    d=$(basename "$(dirname "$s")")
    run_bg compile "$s" "$obj/$d-$b.o" -fsanitize=fuzzer-no-link
done
run_bg compile fuzz/fuzz_common.c "$obj/fuzz_common.o" -fsanitize=fuzzer-no-link
for p in "${pids[@]}"; do wait "$p"; done
pids=()

ar rcs "$obj/libm2msec_fuzz.a" "$obj"/provider-*.o "$obj"/libm2msec-*.o "$obj"/common-*.o

for t in "${targets[@]}"; do
    if [[ $t == make_seeds ]]; then
        # The seed generator: the same objects, no libFuzzer main.
        run_bg "$CC" "${common[@]}" "${san[@]}" "$root/fuzz/make_seeds.c" \
            "$obj/fuzz_common.o" "$obj/libm2msec_fuzz.a" "${libs[@]}" -o "$out/make_seeds"
    elif [[ " ${all_harnesses[*]} " == *" $t "* ]]; then
        run_bg "$CC" "${common[@]}" "${san[@]}" -fsanitize=fuzzer "$root/fuzz/$t.c" \
            "$obj/fuzz_common.o" "$obj/libm2msec_fuzz.a" "${libs[@]}" -o "$out/$t"
    else
        echo "fuzz/build.sh: unknown target $t" >&2
        exit 2
    fi
done
for p in "${pids[@]}"; do wait "$p"; done

echo "fuzz/build.sh: built ${targets[*]} in $out"
