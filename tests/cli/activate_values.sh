#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The 'activate' value of m2msec's openssl.cnf section, by OpenSSL version
# (README "Supported OpenSSL versions"): OpenSSL 3.0 to 3.2 activate on any
# value, even 0; from 3.3 on only 1, yes, true and on (lower or upper case)
# activate, 0, no, false and off do not, and any other value (False, maybe)
# makes OpenSSL refuse the file, silently for most applications. Checked with `openssl list -providers` (whether
# m2msec is active) and `m2msec status --conf`, which follows the same rule
# and names a value that 3.3 and later do not know. Runs under whichever
# OpenSSL is installed (scripts/ossl-matrix: 3.0, 3.5, 3.6); only the
# version numbers of `openssl version` are read, never OpenSSL's texts.
set -euo pipefail
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"

M2M=$M2M_BUILD_DIR/tools/m2msec
CNF=$TMP/activate.cnf
read -r major minor < <("$OPENSSL" version -v | sed -E 's/^[^0-9]*([0-9]+)\.([0-9]+).*/\1 \2/')
new_rule=0
if [[ $major -gt 3 || ($major -eq 3 && $minor -ge 3) ]]; then
    new_rule=1
fi
echo "# OpenSSL $major.$minor: $([[ $new_rule -eq 1 ]] && echo "1|yes|true|on activate" || echo "any value activates")"

for v in 1 yes TRUE on 0 no FALSE off False maybe; do
    write_conf "$CNF" "" "activate = $v"
    want=active
    known=1
    if [[ $new_rule -eq 1 ]]; then
        case $v in
        1 | yes | YES | true | TRUE | on | ON) ;;
        0 | no | NO | false | FALSE | off | OFF) want=absent ;;
        *) want=absent known=0 ;;
        esac
    fi
    expect_eq "activate = $v: m2msec is $want" "$(provider_status "$CNF")" "$want"
    run "$M2M" status --conf "$CNF"
    if [[ $want == active ]]; then
        expect_run "activate = $v: m2msec status says active" 0 'status active'
    elif [[ $known -eq 0 ]]; then
        # OpenSSL refuses the whole file: status fails, and names the value.
        expect_run "activate = $v: m2msec status names the value OpenSSL does not know" 1 \
            "\[m2msec_sect\] activate = '$v': OpenSSL $major\.$minor takes 1, yes, true or on"
    else
        expect_run "activate = $v: m2msec status loads it itself, no activation claimed" 0 \
            'status active'
        if grep -q "the configuration activates m2msec" <<<"$err"; then
            not_ok "activate = $v: no 'the configuration activates m2msec'"
        fi
    fi
done

finish
