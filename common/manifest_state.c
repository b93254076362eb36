/* SPDX-License-Identifier: Apache-2.0 */
/* common: reading the manifest rollback state file (manifest_state.h). */
#include <string.h>

#include "manifest_state.h"

#define STATE_PREFIX "m2msec-manifest-state 1\nversion "

int m2m_manifest_state_parse(const char *buf, size_t len, uint64_t *version)
{
    size_t prefix = sizeof(STATE_PREFIX) - 1;
    uint64_t v = 0;

    if (len < prefix + 2 || memcmp(buf, STATE_PREFIX, prefix) != 0 || buf[len - 1] != '\n' ||
        (buf[prefix] == '0' && len != prefix + 2))
        return 0;
    for (size_t i = prefix; i < len - 1; i++) {
        unsigned d = (unsigned)(buf[i] - '0');

        if (buf[i] < '0' || buf[i] > '9' || v > (UINT64_MAX - d) / 10)
            return 0;
        v = v * 10 + d;
    }
    *version = v;
    return 1;
}

int m2m_manifest_state_read(const char *path, uint64_t *version, M2M_ERRMSG *err)
{
    char buf[M2M_MANIFEST_STATE_MAX];
    size_t len = 0;

    if (!m2m_cf_read_into(path, M2M_CF_NO_SYMLINKS, buf, sizeof(buf), &len, "manifest state", err))
        return 0;
    if (!m2m_manifest_state_parse(buf, len, version)) {
        m2m_errmsg_set(err,
                       "manifest state %s is malformed (not 'm2msec-manifest-state 1' and "
                       "'version N'); refusing to guess",
                       path);
        return 0;
    }
    return 1;
}
