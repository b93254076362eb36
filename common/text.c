/* SPDX-License-Identifier: Apache-2.0 */
/* common: the one strict decimal parser and "key value" line reader (text.h). */
#include <string.h>

#include "text.h"

M2M_DEC m2m_dec_parse(const char *s, size_t n, uint64_t max, unsigned flags, uint64_t *out)
{
    uint64_t x = 0;

    if (s == NULL || n == 0)
        return M2M_DEC_NOT_DECIMAL;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return M2M_DEC_NOT_DECIMAL;
    if (n > 1 && s[0] == '0' && !(flags & M2M_DEC_LEADING_ZEROS))
        return M2M_DEC_LEADING_ZERO;
    for (size_t i = 0; i < n; i++) {
        unsigned d = (unsigned)(s[i] - '0');

        if (d > max || x > (max - d) / 10)
            return M2M_DEC_TOO_BIG;
        x = 10 * x + d;
    }
    *out = x;
    return M2M_DEC_OK;
}

M2M_DEC m2m_dec_parse_str(const char *s, uint64_t max, unsigned flags, uint64_t *out)
{
    if (s == NULL)
        return M2M_DEC_NOT_DECIMAL;
    return m2m_dec_parse(s, strlen(s), max, flags, out);
}

void m2m_lines_init(M2M_LINES *r, const char *buf, size_t len)
{
    r->p = buf;
    r->end = buf + len;
    r->no = 0;
}

int m2m_line_next(M2M_LINES *r, M2M_SPAN *line)
{
    const char *lf;

    if (r->p == r->end)
        return 0;
    lf = memchr(r->p, '\n', (size_t)(r->end - r->p));
    if (lf == NULL)
        return -1;
    line->p = r->p;
    line->n = (size_t)(lf - r->p);
    r->p = lf + 1;
    r->no++;
    return 1;
}

int m2m_span_is(const M2M_SPAN *s, const char *text)
{
    return s->n == strlen(text) && memcmp(s->p, text, s->n) == 0;
}

int m2m_kv_value(const M2M_SPAN *line, const char *key, M2M_SPAN *value)
{
    size_t k = strlen(key);

    if (line->n < k + 1 || memcmp(line->p, key, k) != 0 || line->p[k] != ' ')
        return 0;
    value->p = line->p + k + 1;
    value->n = line->n - k - 1;
    return 1;
}

M2M_DEC m2m_kv_u64(const M2M_SPAN *line, const char *key, uint64_t max, unsigned flags, uint64_t *v)
{
    M2M_SPAN value;

    if (!m2m_kv_value(line, key, &value))
        return M2M_DEC_NOT_DECIMAL;
    return m2m_dec_parse(value.p, value.n, max, flags, v);
}
