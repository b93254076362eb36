# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
# m2msec(1)'s steps 2-4 for loading the provider from the system openssl.cnf
# (section provider-install), as text edits; sourced by cnf_steps.sh (the
# stock files of Debian 12 and 13) and deb_install.sh (the packages).
#
# enable_step2_lines: the five lines of step 2.
enable_step2_lines=('providers = provider_sect' '[provider_sect]' 'default = default_sect'
    '[default_sect]' 'activate = 1')

# enable_steps FILE SECTION_FILE [old]: apply steps 2-4 to FILE in place:
# uncomment the five lines (delete a leading "#" and the blanks after it),
# add "m2msec = m2msec_sect" below "default = default_sect", append
# ".include SECTION_FILE". With "old": only what the man page said before
# (no uncommenting).
enable_steps() {
    local file=$1 section=$2 mode=${3:-new} l re
    if [[ $mode == new ]]; then
        for l in "${enable_step2_lines[@]}"; do
            re=$(printf '%s' "$l" | sed 's/[].[]/\\&/g')
            sed -i -E "s/^#[[:space:]]*($re)[[:space:]]*\$/\\1/" "$file"
        done
    fi
    sed -i '/^default = default_sect$/a m2msec = m2msec_sect' "$file"
    printf '.include %s\n' "$section" >>"$file"
}
