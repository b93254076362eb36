#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Every shell script git tracks (*.sh, and the extension-less scripts whose
# first line runs bash or sh) passes shellcheck with no finding at any
# severity. Skipped (exit 77) when shellcheck or git is missing, or the
# source is not a git checkout (a release tarball).
set -euo pipefail
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"

src=${M2M_SOURCE_DIR:?}
if ! command -v shellcheck >/dev/null || ! command -v git >/dev/null ||
    ! git -C "$src" rev-parse --git-dir >/dev/null 2>&1; then
    echo "shellcheck: skipped (needs shellcheck and a git checkout)"
    exit 77
fi
files=()
while IFS= read -r f; do
    case $f in
    *.sh) files+=("$f") ;;
    *.*) ;;
    *) head -n 1 "$src/$f" 2>/dev/null | grep -qE '^#!.*\b(ba)?sh\b' && files+=("$f") ;;
    esac
done < <(git -C "$src" ls-files)
[[ ${#files[@]} -gt 0 ]] || { not_ok "no shell scripts found"; finish; }
# -x follows the sourced helper libraries; one finding per line, FILE:LINE:COL: ...
report=$(cd "$src" && shellcheck -x -f gcc "${files[@]}" 2>&1) && rc=0 || rc=$?
if [[ $rc -eq 0 ]]; then
    ok "${#files[@]} shell scripts pass shellcheck"
else
    not_ok "shellcheck findings (exit $rc): $(grep -c ': ' <<<"$report") line(s)"
    diag "$report"
fi
finish
