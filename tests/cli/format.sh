#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Every C source and header git tracks is formatted as .clang-format says
# (clang-format --dry-run -Werror). Skipped (exit 77) when clang-format or
# git is missing, or the source is not a git checkout (a release tarball).
set -euo pipefail
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"

src=${M2M_SOURCE_DIR:?}
if ! command -v clang-format >/dev/null || ! command -v git >/dev/null ||
    ! git -C "$src" rev-parse --git-dir >/dev/null 2>&1; then
    echo "format: skipped (needs clang-format and a git checkout)"
    exit 77
fi
mapfile -t files < <(git -C "$src" ls-files '*.c' '*.h')
[[ ${#files[@]} -gt 0 ]] || { echo "format: no C files found"; exit 1; }
# One run over all files; each violation is reported as "FILE:LINE:COL: error: ...".
report=$(cd "$src" && clang-format --dry-run -Werror "${files[@]}" 2>&1) && rc=0 || rc=$?
mapfile -t bad < <(grep -oE '^[^:[:space:]]+\.[ch]:[0-9]+:[0-9]+: error' <<<"$report" | cut -d: -f1 | sort -u)
if [[ $rc -ne 0 && ${#bad[@]} -eq 0 ]]; then
    not_ok "clang-format failed (exit $rc)"
    diag "$report"
elif [[ ${#bad[@]} -eq 0 ]]; then
    ok "${#files[@]} C files formatted as .clang-format says"
else
    not_ok "not formatted: ${bad[*]} (run: clang-format -i FILE)"
fi
finish
