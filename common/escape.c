/* SPDX-License-Identifier: Apache-2.0 */
/*
 * common: escaping names for human-readable output (see escape.h and
 * docs/PROTOCOL.md section 7.5), and the one UTF-8 decoder.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "escape.h"

size_t m2m_utf8_decode(const unsigned char *p, size_t n, uint32_t *cp)
{
    size_t len, i;
    uint32_t c, min;

    if (n == 0)
        return 0;
    if (p[0] < 0x80) {
        *cp = p[0];
        return 1;
    } else if ((p[0] & 0xe0) == 0xc0) {
        len = 2, c = p[0] & 0x1fu, min = 0x80;
    } else if ((p[0] & 0xf0) == 0xe0) {
        len = 3, c = p[0] & 0x0fu, min = 0x800;
    } else if ((p[0] & 0xf8) == 0xf0) {
        len = 4, c = p[0] & 0x07u, min = 0x10000;
    } else {
        return 0;
    }
    if (len > n)
        return 0;
    for (i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80) /* also stops at a NUL */
            return 0;
        c = (c << 6) | (p[i] & 0x3fu);
    }
    if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
        return 0;
    *cp = c;
    return len;
}

/* The same for a NUL-terminated s: the NUL ends a sequence early, as any non-continuation byte. */
static size_t utf8_seq(const unsigned char *s, uint32_t *cp)
{
    return m2m_utf8_decode(s, 4, cp);
}

int m2m_escape_special(uint32_t cp)
{
    return (cp >= 0x80 && cp < 0xa0) || cp == 0x2028 || cp == 0x2029 || cp == 0x061c ||
           cp == 0x200e || cp == 0x200f || (cp >= 0x202a && cp <= 0x202e) ||
           (cp >= 0x2066 && cp <= 0x2069);
}

/*
 * The next piece of the output for the input at @p s: either *keep bytes
 * copied as they are (returns 0), or an escape written to @p esc (returns
 * its length, *keep = the input bytes it stands for). *cols gets the
 * columns the piece takes.
 */
static size_t next_piece(const unsigned char *s, unsigned flags, char esc[8], size_t *keep,
                         size_t *cols)
{
    static const char hex[] = "0123456789abcdef";
    uint32_t cp = 0;
    size_t l = utf8_seq(s, &cp);

    if (l == 1) {
        const char *named = NULL;

        if (cp == '\\' && !(flags & M2M_ESC_TEXT))
            named = "\\\\";
        else if (cp == '\n')
            named = "\\n";
        else if (cp == '\r')
            named = "\\r";
        else if (cp == '\t')
            named = "\\t";
        if (named != NULL) {
            memcpy(esc, named, 3);
            *keep = 1;
            *cols = 2;
            return 2;
        }
        if (cp >= 0x20 && cp != 0x7f && !(cp == ' ' && (flags & M2M_ESC_BLANK))) {
            *keep = 1;
            *cols = 1;
            return 0;
        }
    } else if (l > 1 && !m2m_escape_special(cp)) {
        *keep = l;
        *cols = 1;
        return 0;
    }
    /* one byte as \xHH: a control, an invalid byte, or the first byte of a special sequence */
    esc[0] = '\\';
    esc[1] = 'x';
    esc[2] = hex[s[0] >> 4];
    esc[3] = hex[s[0] & 0x0f];
    esc[4] = '\0';
    *keep = 1;
    *cols = 4;
    return 4;
}

/* Walk @p in piece by piece; write to @p f unless NULL. Returns bytes and columns. */
static size_t walk(const char *in, unsigned flags, FILE *f, size_t *colsum)
{
    const unsigned char *s = (const unsigned char *)(in != NULL ? in : "(null)");
    size_t total = 0;

    *colsum = 0;
    while (*s != '\0') {
        char esc[8];
        size_t keep, cols, elen = next_piece(s, flags, esc, &keep, &cols);

        if (f != NULL)
            fwrite(elen > 0 ? (const void *)esc : (const void *)s, 1, elen > 0 ? elen : keep, f);
        total += elen > 0 ? elen : keep;
        *colsum += cols;
        s += keep;
    }
    return total;
}

size_t m2m_escape(const char *in, unsigned flags, char *out, size_t len)
{
    const unsigned char *s = (const unsigned char *)(in != NULL ? in : "(null)");
    size_t cols, total = walk(in, flags, NULL, &cols), n = 0, room;

    if (out == NULL || len == 0)
        return total;
    /* all of it, or as much as leaves room for "..." and the NUL */
    room = total < len ? total : (len > 4 ? len - 4 : 0);
    while (*s != '\0') {
        char esc[8];
        size_t keep, pcols, elen = next_piece(s, flags, esc, &keep, &pcols);
        size_t plen = elen > 0 ? elen : keep;

        if (n + plen > room)
            break;
        memcpy(out + n, elen > 0 ? (const void *)esc : (const void *)s, plen);
        n += plen;
        s += keep;
    }
    if (*s != '\0') {
        size_t dots = len - 1 - n < 3 ? len - 1 - n : 3;

        memcpy(out + n, "...", dots);
        n += dots;
    }
    out[n] = '\0';
    return total;
}

const char *m2m_esc(const char *in, char *buf, size_t len)
{
    m2m_escape(in, 0, buf, len);
    return buf;
}

int m2m_escape_needed(const char *in, unsigned flags)
{
    const unsigned char *s = (const unsigned char *)(in != NULL ? in : "");

    while (*s != '\0') {
        char esc[8];
        size_t keep, cols;

        if (next_piece(s, flags, esc, &keep, &cols) > 0)
            return 1;
        s += keep;
    }
    return 0;
}

size_t m2m_escape_fputs(const char *in, unsigned flags, FILE *f)
{
    size_t cols;

    walk(in, flags, f, &cols);
    return cols;
}
