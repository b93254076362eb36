#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Constant-time comparisons: every comparison of secret or authenticating
# values in provider/, libm2msec/, tools/ and common/ must use CRYPTO_memcmp.
#
# Fails on any call of memcmp, bcmp, strcmp, strncmp, strcasecmp or
# strncasecmp whose arguments name a variable or member like tag, mac,
# digest, hmac, sig or key (any case, as part of a name: "want_tag",
# "e->digest"), unless the call is listed in ct_allowlist.txt with the
# reason why it is not a security comparison (or compares public values
# only). Macros in capitals and string literals do not count as names.
# An allowlist line is "file | call as printed | reason"; a call written
# "glob:PATTERN" matches every call of that file that the shell pattern
# matches (for a family such as the policy's option names).
#
# Usage: ct_compare.sh [SOURCE_DIR]   (default: $M2M_SOURCE_DIR, else ../..)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
src=${1:-${M2M_SOURCE_DIR:-$here/../..}}
allow=$here/ct_allowlist.txt

if [[ ! -d $src/provider || ! -d $src/libm2msec ]]; then
    echo "ct_compare: no provider/ and libm2msec/ under $src" >&2
    exit 2
fi
if [[ ! -r $allow ]]; then
    echo "ct_compare: cannot read $allow" >&2
    exit 2
fi

cd "$src"
files=()
for d in provider libm2msec tools common; do
    [[ -d $d ]] || continue
    for f in "$d"/*.c "$d"/*.h; do
        [[ -e $f ]] && files+=("$f")
    done
done

# perl: every call with its arguments (balanced parentheses, across lines),
# comments and literals removed, whitespace collapsed; then the names in it.
# Output per call: flag<TAB>file<TAB>line<TAB>call ("flag" 1 if a name matches).
report=$(perl -e '
    use strict; use warnings;
    my $fn = qr/\b(?:memcmp|bcmp|strcmp|strncmp|strcasecmp|strncasecmp)\s*\(/;
    my $secret = qr/tag|mac|digest|hmac|sig|key/i;
    for my $file (@ARGV) {
        open(my $fh, "<", $file) or die "$file: $!";
        local $/; my $text = <$fh>; close $fh;
        # blank out comments and literals, keeping offsets and newlines
        my $clean = $text;
        $clean =~ s{(/\*.*?\*/|//[^\n]*|"(?:\\.|[^"\\\n])*"|\x27(?:\\.|[^\x27\\\n])*\x27)}{
            my $m = $1;
            if ($m =~ /^["\x27]/) { substr($m, 0, 1) . (" " x (length($m) - 2)) . substr($m, -1) }
            else { (my $x = $m) =~ s/[^\n]/ /g; $x }
        }gse;
        while ($clean =~ /$fn/g) {
            my $start = $-[0];
            # CRYPTO_memcmp and the like: an identifier character right before the name
            next if $start > 0 && substr($clean, $start - 1, 1) =~ /\w/;
            my $pos = $+[0]; my $depth = 1; my $end = $pos;
            while ($end < length($clean) && $depth > 0) {
                my $c = substr($clean, $end, 1);
                $depth++ if $c eq "("; $depth-- if $c eq ")"; $end++;
            }
            my $args = substr($clean, $pos, $end - $pos - 1);
            my $call = substr($text, $start, $end - $start);
            $call =~ s/\s+/ /g;
            my $line = 1 + (substr($text, 0, $start) =~ tr/\n//);
            my @names = grep { !/^[A-Z0-9_]+$/ } ($args =~ /([A-Za-z_]\w*)/g);
            my $flag = (grep { /$secret/ } @names) ? 1 : 0;
            print "$flag\t$file\t$line\t$call\n";
        }
    }
' "${files[@]}")

total=0
flagged=0
allowed=0
bad=0
declare -A used=()
while IFS=$'\t' read -r flag file line call; do
    [[ -z $file ]] && continue
    total=$((total + 1))
    [[ $flag == 1 ]] || continue
    flagged=$((flagged + 1))
    reason=""
    while IFS='|' read -r afile acall areason; do
        [[ -z $afile || $afile == \#* ]] && continue
        afile=${afile%% } acall=${acall# } acall=${acall% } areason=${areason# }
        # An allowlist entry "glob:PATTERN" matches calls by pattern, unquoted on purpose.
        # shellcheck disable=SC2053
        if [[ $afile == "$file" && -n $areason ]] &&
            { [[ $acall == "$call" ]] || [[ $acall == glob:* && $call == ${acall#glob:} ]]; }; then
            reason=$areason
            used["$afile|$acall"]=1
            break
        fi
    done <"$allow"
    if [[ -n $reason ]]; then
        allowed=$((allowed + 1))
        echo "ok (reviewed) $file:$line: $call  # $reason"
    else
        bad=$((bad + 1))
        echo "NOT CONSTANT-TIME $file:$line: $call" >&2
        echo "  use CRYPTO_memcmp, or list it in tests/hardening/ct_allowlist.txt as" >&2
        echo "  $file | $call | <why this comparison needs no constant time>" >&2
    fi
done <<<"$report"

# Entries that no longer match a call: the code changed, review them.
while IFS='|' read -r afile acall areason; do
    [[ -z $afile || $afile == \#* ]] && continue
    afile=${afile%% } acall=${acall# } acall=${acall% }
    if [[ -z ${used["$afile|$acall"]+x} ]]; then
        echo "warning: stale allowlist entry (no such call any more): $afile | $acall" >&2
    fi
done <"$allow"

echo "ct_compare: $total memcmp/strcmp-family calls in provider/, libm2msec/, tools/, common/;" \
    "$flagged name a tag, MAC, digest, signature or key: $allowed reviewed, $bad not constant-time"
[[ $bad -eq 0 ]]
