#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Build the fuzz harnesses, replay the regression inputs, then fuzz each
# harness for a while.
#
#   fuzz/run.sh [SECONDS_PER_HARNESS]     # default 60; 0 = build and replay only
#
# Environment:
#   FUZZ_JOBS=N          harnesses fuzzed at the same time (default 2)
#   FUZZ_HARNESSES="a b" only these harnesses
#   FUZZ_NO_BUILD=1      use the binaries already in fuzz/out/
#   FUZZ_CORPUS_OUT=DIR  keep each grown working corpus in DIR/<harness>/
#
# Each harness fuzzes a temporary copy of fuzz/corpus/<harness>/ (the
# committed corpus is never modified), with leak detection, a 10 s timeout
# per input and a 2 GiB RSS limit. Inputs in fuzz/regressions/<harness>/
# (crashes found before, now fixed) are replayed first. One line per
# harness:
#   fuzz <name>: <runs> runs, <cov> cov, ok|FAILED
# Crash inputs and logs are kept in fuzz/out/artifacts/ and fuzz/out/logs/.
# Exit status 0 only if no harness crashed, leaked, timed out or reported
# a sanitizer error.
set -uo pipefail

secs=${1:-60}
if ! [[ $secs =~ ^[0-9]+$ ]]; then
    echo "usage: fuzz/run.sh [SECONDS_PER_HARNESS]" >&2
    exit 2
fi
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=${FUZZ_OUT:-$here/out}
jobs=${FUZZ_JOBS:-2}
read -r -a harnesses <<<"${FUZZ_HARNESSES:-fuzz_session_open fuzz_record_decrypt fuzz_manifest fuzz_policy fuzz_kdf_params fuzz_jwe fuzz_keytable}"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
# Symbolised stacks need llvm-symbolizer; Debian's llvm-14 has it under a versioned name.
if [[ -z ${ASAN_SYMBOLIZER_PATH:-} ]] && ! command -v llvm-symbolizer >/dev/null 2>&1; then
    for s in /usr/bin/llvm-symbolizer-14 /usr/lib/llvm-14/bin/llvm-symbolizer; do
        if [[ -x $s ]]; then
            export ASAN_SYMBOLIZER_PATH=$s UBSAN_SYMBOLIZER_PATH=$s
            break
        fi
    done
fi

if [[ -z ${FUZZ_NO_BUILD:-} ]]; then
    "$here/build.sh" "${harnesses[@]}" || { echo "fuzz: build FAILED"; exit 1; }
fi

logs=$out/logs
arts=$out/artifacts
mkdir -p "$logs" "$arts"
work=$(mktemp -d "${TMPDIR:-/tmp}/m2msec-fuzz-run.XXXXXX")
trap 'rm -rf "$work"' EXIT
# The harnesses keep their temporary files under TMPDIR: inside $work.
export TMPDIR=$work

sanitizer_error() { # log
    grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:|SUMMARY: (UndefinedBehavior|Address|Leak)Sanitizer|invariant broken|deadly signal' "$1"
}

failed=0

# 1. Regressions: every input that once failed must pass now.
for h in "${harnesses[@]}"; do
    dir=$here/regressions/$h
    [[ -d $dir ]] || continue
    mapfile -t files < <(find "$dir" -type f ! -name '*.md' ! -name '.*' | sort)
    (( ${#files[@]} > 0 )) || continue
    log=$logs/$h.regressions.log
    if "$out/$h" -timeout=10 -rss_limit_mb=2048 "${files[@]}" >"$log" 2>&1 && ! sanitizer_error "$log"; then
        echo "regressions $h: ${#files[@]} inputs, ok"
    else
        echo "regressions $h: ${#files[@]} inputs, FAILED"
        echo "  log: $log"
        tail -n 40 "$log" | sed 's/^/  /'
        failed=1
    fi
done

# 2. Fuzzing, $jobs harnesses at a time.
fuzz_one() { # harness
    local h=$1
    local corpus=$work/corpus-$h log=$logs/$h.log rc runs cov dict=()
    mkdir -p "$corpus"
    if [[ -d $here/corpus/$h ]]; then
        cp -R "$here/corpus/$h/." "$corpus/"
    fi
    [[ -f $here/dict/$h.dict ]] && dict=(-dict="$here/dict/$h.dict")
    local limit=(-max_total_time="$secs")
    (( secs == 0 )) && limit=(-runs=0)
    mkdir -p "$work/tmp-$h"
    TMPDIR=$work/tmp-$h timeout -k 10 $((secs * 2 + 300)) "$out/$h" "${limit[@]}" \
        -detect_leaks=1 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$arts/$h-" "${dict[@]}" "$corpus" >"$log" 2>&1
    rc=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -n 1 | cut -d' ' -f2)
    if [[ -n ${FUZZ_CORPUS_OUT:-} ]]; then
        mkdir -p "$FUZZ_CORPUS_OUT/$h"
        cp -R "$corpus/." "$FUZZ_CORPUS_OUT/$h/"
    fi
    if (( rc == 0 )) && ! sanitizer_error "$log"; then
        echo "fuzz $h: ${runs:-0} runs, ${cov:-0} cov, ok" >"$work/result-$h"
    else
        {
            echo "fuzz $h: ${runs:-0} runs, ${cov:-0} cov, FAILED"
            echo "  exit status $rc, log: $log"
            grep -E 'invariant broken|ERROR:|SUMMARY:|runtime error:|Test unit written' "$log" |
                head -n 20 | sed 's/^/  /'
            echo "  reproduce: fuzz/out/$h <the crash file>; once fixed, copy it to fuzz/regressions/$h/"
        } >"$work/result-$h"
    fi
}

running=()
for h in "${harnesses[@]}"; do
    fuzz_one "$h" &
    running+=($!)
    if (( ${#running[@]} >= jobs )); then
        wait "${running[0]}"
        running=("${running[@]:1}")
    fi
done
for p in "${running[@]}"; do wait "$p"; done

for h in "${harnesses[@]}"; do
    cat "$work/result-$h"
    head -n 1 "$work/result-$h" | grep -q ', ok$' || failed=1
done
if (( failed )); then
    echo "fuzz: FAILED"
    exit 1
fi
echo "fuzz: all harnesses ok"
