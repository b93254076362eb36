/* SPDX-License-Identifier: Apache-2.0 */
/* common: reading the manifest rollback state file (manifest_state.h). */
#include <string.h>

#include "manifest_state.h"
#include "text.h"

int m2m_manifest_state_parse(const char *buf, size_t len, uint64_t *version)
{
    M2M_LINES lines;
    M2M_SPAN magic, ver, extra;
    uint64_t v;

    m2m_lines_init(&lines, buf, len);
    if (m2m_line_next(&lines, &magic) != 1 || !m2m_span_is(&magic, "m2msec-manifest-state 1") ||
        m2m_line_next(&lines, &ver) != 1 ||
        m2m_kv_u64(&ver, "version", UINT64_MAX, 0, &v) != M2M_DEC_OK ||
        m2m_line_next(&lines, &extra) != 0)
        return 0;
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
