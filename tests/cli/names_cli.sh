#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Output that a file name cannot forge (docs/PROTOCOL.md 7.5): files whose
# names hold a newline and a fake log line, a carriage return, a backslash,
# terminal escape sequences (ESC, a C1 CSI), a right-to-left override, a
# tab and bytes that are not UTF-8 are put in a verified tree. Then:
#  - the report table of `m2msec verify` has one line per file, each name
#    escaped as GNU sha256sum does (\n, \r, \\) plus \t and \xHH for the
#    other control characters and invalid bytes, and such a line starts
#    with a backslash;
#  - the JSON report parses and gives back every exact name (path, or
#    path_hex for bytes that are not UTF-8);
#  - the action log has one escaped line per action, and decoding a line's
#    path gives back the exact name;
#  - every message on stderr (the policy's error naming the first failed
#    file, exec's refusal, manifest create's refusal, a command-line path)
#    is free of control characters, and the names in it are escaped;
#  - the progress line on a terminal (under script(1)) holds no name and no
#    control character but its own \r and erase-line.
set -euo pipefail
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"

M2M=${M2M_TOOL:-${M2M_BUILD_DIR:?}/tools/m2msec}
HAVE_PY=0
if command -v python3 >/dev/null 2>&1 && python3 -c 'import json' 2>/dev/null; then
    HAVE_PY=1
fi

# clean FILE: 0 when FILE is valid UTF-8 with no control character but the
# newline (no C0, DEL, C1, U+2028/U+2029 or bidirectional control);
# otherwise prints what it found.
clean() {
    if [[ $HAVE_PY -eq 1 ]]; then
        python3 - "$1" <<'EOF'
import sys
data = open(sys.argv[1], "rb").read()
try:
    text = data.decode("utf-8")
except UnicodeDecodeError as e:
    print("not UTF-8: %s" % e)
    sys.exit(1)
bad = set(range(0x20)) - {0x0a} | {0x7f} | set(range(0x80, 0xa0)) | {0x2028, 0x2029, 0x061c, 0x200e, 0x200f} | set(range(0x202a, 0x202f)) | set(range(0x2066, 0x206a))
for i, ch in enumerate(text):
    if ord(ch) in bad:
        print("U+%04X at %d in: %r" % (ord(ch), i, text[max(0, i - 40):i + 40]))
        sys.exit(1)
EOF
    else
        # without python: C0 (but the newline) and DEL, and bytes that are not UTF-8
        if LC_ALL=C grep -q $'[\x01-\x09\x0b-\x1f\x7f]' "$1"; then
            echo "control character"
            return 1
        fi
        iconv -f UTF-8 -t UTF-8 "$1" >/dev/null 2>&1 || { echo "not UTF-8"; return 1; }
    fi
}

# expect_clean LABEL FILE
expect_clean() {
    local why
    if why=$(clean "$2"); then ok "$1"; else not_ok "$1" && diag "$why"; fi
}

# expect_messages LABEL FILE: every line of FILE is a message of m2msec (no forged line).
expect_messages() {
    if [[ -s $2 ]] && ! grep -qv '^m2msec: ' "$2"; then
        ok "$1: every line on stderr is a message of m2msec"
    else
        not_ok "$1: every line on stderr is a message of m2msec"
        diag "$(cat "$2")"
    fi
}

# The names, and how the table shows them (no blank escaped there).
NAMES=(
    $'bin/evil\n2030-01-01T00:00:00Z alert forged ok'
    $'bin/cr\rverified: ok'
    'bin/back\slash'
    $'bin/esc\e[2J\e]0;title\a'
    $'bin/c1\xc2\x9b31m'
    $'bin/rlo\xe2\x80\xaetxt.exe'
    $'bin/tab\tx'
    $'bin/bad\xff\xfe'
)
SHOWN=(
    'bin/evil\n2030-01-01T00:00:00Z alert forged ok'
    'bin/cr\rverified: ok'
    'bin/back\\slash'
    'bin/esc\x1b[2J\x1b]0;title\x07'
    'bin/c1\xc2\x9b31m'
    'bin/rlo\xe2\x80\xaetxt.exe'
    'bin/tab\tx'
    'bin/bad\xff\xfe'
)

cd "$TMP"
mkdir -p root/bin
printf 'app\n' >root/bin/app
"$OPENSSL" genpkey -algorithm ed25519 -out key.pem 2>/dev/null
"$OPENSSL" pkey -in key.pem -pubout -out key.pub
"$M2M" manifest create --root root --version 1 -o M 2>/dev/null
"$M2M" manifest sign --key key.pem M 2>/dev/null
for n in "${NAMES[@]}"; do
    printf 'x\n' >"root/$n"
done

# ---------------------------------------------------------------- the table
run "$M2M" verify --manifest M --pubkey key.pub --root root
expect_run "verify with crafted names: exit 1 (extra files)" 1
printf '%s' "$out" >table.out
printf '%s' "$err" >table.err
expect_clean "the table has no control character" table.out
expect_clean "verify's stderr has no control character" table.err
expect_eq "one table line per file: header, 9 files, summary" "$(wc -l <table.out)" 10
for i in "${!NAMES[@]}"; do
    line=$(grep -F -- "${SHOWN[$i]}" table.out || true)
    if [[ $(grep -cF -- "${SHOWN[$i]}" table.out) -eq 1 && $line == '\extra '* ]]; then
        ok "table: '${SHOWN[$i]}' once, on a line that starts with a backslash"
    else
        not_ok "table: '${SHOWN[$i]}' once, on a line that starts with a backslash"
        diag "$(cat table.out)"
    fi
done
if grep -q '^ok          bin/app$' table.out; then
    ok "table: a plain name's line has no backslash"
else
    not_ok "table: a plain name's line has no backslash"
    diag "$(cat table.out)"
fi

# ---------------------------------------------------------------- JSON
run "$M2M" verify --manifest M --pubkey key.pub --root root --json
printf '%s' "$out" >report.json
expect_clean "the JSON report has no raw control character" report.json
if [[ $HAVE_PY -eq 1 ]]; then
    for n in "${NAMES[@]}"; do printf '%s\0' "$n"; done >names.bin
    if python3 - report.json names.bin <<'EOF'; then
import json, sys
d = json.load(open(sys.argv[1], encoding="utf-8"))
got = set()
for f in d["files"]:
    if "path_hex" in f:
        got.add(bytes.fromhex(f["path_hex"]))
    else:
        got.add(f["path"].encode("utf-8"))
want = set(open(sys.argv[2], "rb").read().split(b"\0")[:-1])
missing = want - got
assert not missing, missing
EOF
        ok "the JSON report parses and gives back every exact name"
    else
        not_ok "the JSON report parses and gives back every exact name"
    fi
else
    ok "# SKIP JSON parse (no python3)"
fi

# ---------------------------------------------------------------- the error of the policy
printf '[integrity]\nlog = %s/deny.log\n' "$TMP" >deny.cnf
run "$M2M" verify --manifest M --pubkey key.pub --root root --policy deny.cnf
expect_run "policy deny: exit 1" 1
printf '%s' "$err" >deny.err
expect_clean "the policy's error on stderr has no control character" deny.err
# the first failed file (deepest first, then by path) is named escaped
if grep -qF -- '(first: bin/back\\slash: deny: ' deny.err; then
    ok "the policy's error names the first file escaped"
else
    not_ok "the policy's error names the first file escaped"
    diag "$(cat deny.err)"
fi
expect_messages "policy deny" deny.err

# ---------------------------------------------------------------- the action log
printf '[integrity]\ndefault_action = alert\nlog = %s/alert.log\n' "$TMP" >alert.cnf
run "$M2M" verify --manifest M --pubkey key.pub --root root --policy alert.cnf
expect_run "policy alert: exit 0" 0
expect_clean "the action log has no control character" alert.log
expect_eq "the action log has one line per file" "$(wc -l <alert.log)" "${#NAMES[@]}"
expect_eq "every log line with an escape starts with a backslash" \
    "$(grep -c '^\\[0-9]\{4\}-' alert.log)" "${#NAMES[@]}"
if [[ $HAVE_PY -eq 1 ]]; then
    if python3 - alert.log names.bin <<'EOF'; then
import re, sys
esc = {"n": b"\n", "r": b"\r", "t": b"\t", "\\": b"\\"}
def unescape(field):
    out, i = b"", 0
    while i < len(field):
        if field[i:i + 1] == b"\\":
            c = chr(field[i + 1])
            if c == "x":
                out += bytes([int(field[i + 2:i + 4], 16)])
                i += 4
            else:
                out += esc[c]
                i += 2
        else:
            out += field[i:i + 1]
            i += 1
    return out
got = set()
for line in open(sys.argv[1], "rb").read().split(b"\n")[:-1]:
    assert line.startswith(b"\\"), line
    fields = line[1:].split(b" ")
    assert fields[1] == b"alert" and fields[3] == b"extra", line
    got.add(unescape(fields[2]))
want = set(open(sys.argv[2], "rb").read().split(b"\0")[:-1])
assert got == want, (got ^ want)
EOF
        ok "decoding each log line's path gives back the exact name"
    else
        not_ok "decoding each log line's path gives back the exact name"
        diag "$(cat alert.log)"
    fi
fi

# ---------------------------------------------------------------- other messages
# exec of a program whose name forges a line: refused, named escaped
run "$M2M" exec --manifest M --pubkey key.pub --root root -- "${NAMES[0]}"
expect_run "exec of a crafted name: exit 1" 1
printf '%s' "$err" >exec.err
expect_clean "exec's refusal has no control character" exec.err
expect_messages "exec's refusal" exec.err
if grep -qF -- "exec refused: ${SHOWN[0]} is not listed in the manifest" exec.err; then
    ok "exec's refusal names the program escaped"
else
    not_ok "exec's refusal names the program escaped"
    diag "$(cat exec.err)"
fi
# manifest create over a tree that cannot be listed
run "$M2M" manifest create --root root --version 2 -o M2
expect_run "manifest create over crafted names: exit 2" 2
printf '%s' "$err" >create.err
expect_clean "manifest create's refusal has no control character" create.err
expect_messages "manifest create's refusal" create.err
named=0
for s in "${SHOWN[@]}"; do
    grep -qF -- "m2msec: $s: cannot be listed: " create.err && named=1
done
if [[ $named -eq 1 ]]; then
    ok "manifest create's refusal names the file escaped"
else
    not_ok "manifest create's refusal names the file escaped"
    diag "$(cat create.err)"
fi
# a path from the command line
run "$M2M" verify --manifest $'M\nm2msec: verification passed' --pubkey key.pub --root root
expect_run "a crafted --manifest path: exit 2" 2
printf '%s' "$err" >arg.err
expect_clean "a crafted command-line path: no control character on stderr" arg.err
expect_messages "a crafted command-line path" arg.err
if grep -qF -- 'M\nm2msec: verification passed' arg.err; then
    ok "a crafted command-line path is named escaped"
else
    not_ok "a crafted command-line path is named escaped"
    diag "$(cat arg.err)"
fi
run "$M2M" manifest verify --pubkey key.pub $'M\e[31m'
printf '%s' "$out" >mverify.out
expect_clean "manifest verify's verdict line has no control character" mverify.out
if grep -qF -- '\M\x1b[31m: ' mverify.out; then
    ok "manifest verify: an escaped name's line starts with a backslash"
else
    not_ok "manifest verify: an escaped name's line starts with a backslash"
    diag "$(cat mverify.out)"
fi

# ---------------------------------------------------------------- the progress line
# It appears on a terminal when more than 64 MiB are to be hashed: a listed
# sparse file of 65 MiB, verified under script(1).
if command -v script >/dev/null 2>&1; then
    mkdir -p big/data
    truncate -s 65M big/data/zeros
    "$M2M" manifest create --root big --version 1 -o MB 2>/dev/null
    "$M2M" manifest sign --key key.pem MB 2>/dev/null
    for n in "${NAMES[@]}"; do
        printf 'x\n' >"big/${n#bin/}"
    done
    script -qec "$(printf '%q ' "$M2M" verify --manifest MB --pubkey key.pub --root big \
        --no-extra --jobs 1) >/dev/null" typescript >/dev/null 2>&1 || true
    # the progress output: everything from the first \r[ to the erase-line
    progress=$(LC_ALL=C sed -n 's/.*\(\r\[[#.]\{30\}\].*\)/\1/p' typescript | head -c 4096 |
        LC_ALL=C tr -d '\r' | LC_ALL=C sed 's/\x1b\[K//g')
    if [[ -z $progress ]]; then
        ok "# SKIP the progress line did not show (too fast)"
    else
        printf '%s\n' "$progress" >progress.txt
        expect_clean "the progress line has no control character but \\r and erase-line" \
            progress.txt
        if grep -qE 'evil|esc|back|rlo|bad' progress.txt; then
            not_ok "the progress line holds no file name"
            diag "$(cat progress.txt)"
        else
            ok "the progress line holds no file name"
        fi
    fi
else
    ok "# SKIP the progress line (no script(1))"
fi

finish
