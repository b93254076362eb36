#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Every source file git tracks starts with the licence's SPDX line as its
# first comment line (after a #! line, if any): C sources and headers
# ("/* SPDX-License-Identifier: ID */"), shell and python scripts (*.sh,
# *.py and the extension-less scripts whose #! line runs bash, sh or
# python) and the meson files ("# SPDX-License-Identifier: ID"). ID is the
# licence that meson.build declares (and LICENSE holds). Skipped (exit 77)
# when git is missing or the source is not a git checkout (a release
# tarball).
set -euo pipefail
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"

src=${M2M_SOURCE_DIR:?}
if ! command -v git >/dev/null || ! git -C "$src" rev-parse --git-dir >/dev/null 2>&1; then
    echo "spdx: skipped (needs git and a git checkout)"
    exit 77
fi
id=$(sed -n "s/^[[:space:]]*license[[:space:]]*:[[:space:]]*'\([^']*\)'.*/\1/p" "$src/meson.build")
[[ -n $id ]] || { not_ok "no license in meson.build"; finish; }
if [[ $id == Apache-2.0 ]] && grep -q "Apache License" "$src/LICENSE"; then
    ok "meson.build declares $id, the licence in LICENSE"
else
    not_ok "meson.build declares '$id'; LICENSE does not match"
fi

# The SPDX line FILE must start with (after a #! line): empty if FILE is not a source file.
want_line() {
    local f=$1 first base=${1##*/}
    case $base in
    *.c | *.h) echo "/* SPDX-License-Identifier: $id */" ;;
    *.sh | *.py | meson.build | meson_options.txt) echo "# SPDX-License-Identifier: $id" ;;
    *.*) ;;
    *)
        first=$(head -c 128 "$src/$f" | head -n 1 | tr -d '\0')
        if [[ $first =~ ^\#!.*(bash|/sh|python) ]]; then echo "# SPDX-License-Identifier: $id"; fi
        ;;
    esac
}

n=0
bad=()
while IFS= read -r f; do
    want=$(want_line "$f")
    [[ -n $want ]] || continue
    n=$((n + 1))
    first=$(head -n 1 "$src/$f")
    if [[ $first == '#!'* ]]; then
        line=$(sed -n 2p "$src/$f")
    else
        line=$first
    fi
    [[ $line == "$want" ]] || bad+=("$f")
done < <(git -C "$src" ls-files)
if [[ $n -lt 100 ]]; then
    not_ok "only $n source files found"
elif [[ ${#bad[@]} -eq 0 ]]; then
    ok "$n source files start with the SPDX line ($id)"
else
    not_ok "${#bad[@]} of $n source files lack the SPDX line as their first comment line"
    diag "${bad[@]}"
fi
finish
