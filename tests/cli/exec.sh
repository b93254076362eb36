#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# m2msec exec: an intact program runs with its arguments, environment and
# exit code; a tampered, missing, unlisted or symlinked program is refused
# with exit 1 and does not run (it would create a marker file); files the
# policy requires must verify; and what runs is the sealed memfd copy that
# was verified, even when the file on disk is rewritten after it was
# opened (test hook M2M_TEST_EXEC_PAUSE_MS: a delay before fexecve).
set -euo pipefail
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"

M2M=${M2M_TOOL:-${M2M_BUILD_DIR:?}/tools/m2msec}

# no_marker LABEL: the program did not run.
no_marker() {
    if [[ -e "$TMP/marker" ]]; then
        not_ok "$1: the program did not run"
        rm -f "$TMP/marker"
    else
        ok "$1: the program did not run"
    fi
}

cd "$TMP"
mkdir -p root/bin root/etc
# The ELF program: a copy of /bin/sh, driven by -c. It touches the marker
# whenever it runs, so a refused exec must leave no marker.
SH=$(readlink -f /bin/sh)
cp "$SH" root/bin/prog
cp "$SH" other-elf
printf '#!/bin/sh\necho "script $*"\n: >"%s/marker"\nexit 4\n' "$TMP" >root/bin/script
chmod 0755 root/bin/script
printf 'setting = 1\n' >root/etc/conf
"$OPENSSL" genpkey -algorithm ed25519 -out key.pem 2>/dev/null
"$OPENSSL" pkey -in key.pem -pubout -out key.pub
"$M2M" manifest create --root root --version 1 -o M 2>/dev/null
"$M2M" manifest sign --key key.pem M 2>/dev/null
cp root/bin/prog prog.orig
EXEC=("$M2M" exec --manifest M --pubkey key.pub --root root)
# shellcheck disable=SC2016 # expanded by the program's shell
PROG_SCRIPT='echo "args: $*"; echo "env: $M2M_TEST_VALUE"; : >"$MARK"; exit 5'
export MARK="$TMP/marker"

# ---------------------------------------------------------------- intact
M2M_TEST_VALUE=passed run "${EXEC[@]}" -- bin/prog -c "$PROG_SCRIPT" prog "a b" c
expect_run "an intact ELF program runs, its exit code (5) passes through" 5
expect_eq "its arguments pass through" "$(sed -n 1p run.out)" "args: a b c"
expect_eq "the environment passes through" "$(sed -n 2p run.out)" "env: passed"
check "the marker shows it ran" [ -e marker ]
rm -f marker

run "${EXEC[@]}" -- bin/prog -c 'tr "\0" "|" </proc/$$/cmdline; echo; readlink /proc/$$/exe'
expect_run "argv[0] is the program path as given" 0 '^bin/prog\|-c\|'
expect_run "the running image is the memfd copy" 0 '^/memfd:m2msec-exec:prog \(deleted\)$'

run "${EXEC[@]}" -- "$TMP/root/bin/prog" -c 'exit 0'
expect_run "an absolute path inside the root runs" 0
run "${EXEC[@]}" -- ./bin//prog -c 'exit 0'
expect_run "'./' and '//' in the program path are accepted" 0

run "${EXEC[@]}" -- bin/script x y
expect_run "a #! script runs, exit code 4" 4 '^script x y$'
rm -f marker

# ---------------------------------------------------------------- refusals
printf 'x' >>root/bin/prog
run "${EXEC[@]}" -- bin/prog -c "$PROG_SCRIPT"
expect_run "a tampered program (one byte appended): exit 1" 1 \
    'exec refused: bin/prog: modified \(its SHA256 digest differs from the manifest\)'
no_marker "tampered program"
cp prog.orig root/bin/prog

printf '#!/bin/sh\n: >"%s/marker"\nexit 4\n' "$TMP" >root/bin/script
run "${EXEC[@]}" -- bin/script
expect_run "a tampered script: exit 1" 1 'exec refused: bin/script: modified'
no_marker "tampered script"

mv root/bin/prog prog.moved
ln -s ../../prog.moved root/bin/prog
run "${EXEC[@]}" -- bin/prog -c "$PROG_SCRIPT"
expect_run "the program replaced by a symlink: exit 1" 1 'exec refused: bin/prog: a symlink'
no_marker "symlinked program"
rm root/bin/prog
run "${EXEC[@]}" -- bin/prog -c "$PROG_SCRIPT"
expect_run "a missing program: exit 1" 1 'exec refused: bin/prog: missing'
mv prog.moved root/bin/prog

cp "$SH" root/bin/unlisted
run "${EXEC[@]}" -- bin/unlisted -c "$PROG_SCRIPT"
expect_run "a program the manifest does not list: exit 1" 1 'not listed in the manifest'
no_marker "unlisted program"
run "${EXEC[@]}" -- "$SH" -c "$PROG_SCRIPT"
expect_run "a program outside the root: exit 1" 1 'is not a path inside the root'
run "${EXEC[@]}" -- bin/../../other-elf -c "$PROG_SCRIPT"
expect_run "a path with '..': exit 1" 1 'is not a path inside the root'
no_marker "programs outside the root"

mv root/bin root/bin.real
ln -s bin.real root/bin
run "${EXEC[@]}" -- bin/prog -c "$PROG_SCRIPT"
expect_run "a symlinked directory on the way: exit 1" 1 'exec refused: bin/prog: a symlink'
no_marker "symlinked directory"
rm root/bin
mv root/bin.real root/bin

"$OPENSSL" genpkey -algorithm ed25519 -out other.pem 2>/dev/null
cp M.sig M.sig.good
"$M2M" manifest sign --key other.pem M 2>/dev/null
run "${EXEC[@]}" -- bin/prog -c "$PROG_SCRIPT"
expect_run "a manifest signed by another key: exit 1" 1 \
    'exec refused: manifest M: bad manifest signature'
no_marker "bad signature"
cp M.sig.good M.sig

# ---------------------------------------------------------------- policy: required files
cat >policy.cnf <<'EOF'
[integrity]
default_action = deny

[exec.bin/prog]
requires = etc/conf
EOF
run "${EXEC[@]}" --policy policy.cnf -- bin/prog -c "$PROG_SCRIPT"
expect_run "with its required file intact the program runs" 5
rm -f marker
printf 'setting = 2\n' >root/etc/conf
run "${EXEC[@]}" --policy policy.cnf -- bin/prog -c "$PROG_SCRIPT"
expect_run "a modified required file: exit 1" 1 'modified +etc/conf'
no_marker "modified required file"
printf 'setting = 1\n' >root/etc/conf
cat >>policy.cnf <<'EOF'

[exec.bin/script]
requires = etc/not-listed
EOF
run "${EXEC[@]}" --policy policy.cnf -- bin/prog -c "exit 0"
expect_run "the [exec.bin/script] section does not apply to bin/prog" 0

# ---------------------------------------------------------------- swap after verification
# The hook makes the tool wait between copy + verify and fexecve(). Once it
# says so, the file on disk is rewritten in place (same inode) with another
# program, then replaced by rename: what runs is still the verified copy.
swap_case() { # LABEL HOW
    local i
    rm -f marker swap.out swap.err
    M2M_TEST_EXEC_PAUSE_MS=3000 "${EXEC[@]}" -- bin/prog -c 'echo verified-copy; exit 6' \
        >swap.out 2>swap.err &
    local pid=$!
    for ((i = 0; i < 200; i++)); do
        grep -q 'pausing' swap.err 2>/dev/null && break
        sleep 0.05
    done
    printf '#!/bin/sh\necho swapped\n: >"%s/marker"\n' "$TMP" >new-prog
    chmod 755 new-prog
    case $2 in
    inplace) cat new-prog >root/bin/prog ;;
    rename) mv new-prog root/bin/prog ;;
    esac
    if grep -q 'pausing' swap.err && kill -0 "$pid" 2>/dev/null; then
        ok "$1: the file changed while the tool held the verified copy"
    else
        not_ok "$1: the file changed while the tool held the verified copy"
    fi
    rc=0
    wait "$pid" || rc=$?
    out=$(cat swap.out)
    err=$(cat swap.err)
    expect_run "$1: the verified copy runs (exit 6)" 6 '^verified-copy$'
    no_marker "$1"
    cp prog.orig root/bin/prog
}
swap_case "program rewritten in place after verification" inplace
swap_case "program replaced by rename after verification" rename

finish
