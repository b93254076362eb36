/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libm2msec: integrity manifests (include/m2msec/integrity.h,
 * docs/PROTOCOL.md section 7).
 *
 * A manifest is text in the line format of sha256sum with '#' header
 * lines. The parser accepts only the canonical form that the serialiser
 * writes, so serialize(parse(text)) == text for every accepted text.
 * Entries are kept sorted by path (bytewise) and unique.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <openssl/crypto.h>
#include <openssl/err.h>

#include "escape.h"
#include "io.h"
#include "m2msec/integrity.h"
#include "manifest_internal.h"
#include "safe_open.h"
#include "text.h"

#define MAGIC_LINE "# m2msec-manifest 1"

struct m2msec_manifest {
    const char *digest; /* canonical name, static */
    size_t digest_len;
    uint64_t version, expires;
    m2msec_manifest_entry *e;
    size_t n, cap;
};

static const struct {
    const char *name;
    size_t len;
} digests[] = {{"SHA256", 32}, {"SHA384", 48}, {"SHA512", 64}};

const char *m2m_digest_canonical(const char *name, size_t *len)
{
    size_t i;

    if (name == NULL)
        name = "SHA256";
    for (i = 0; i < sizeof(digests) / sizeof(digests[0]); i++) {
        if (strcasecmp(name, digests[i].name) == 0) {
            if (len != NULL)
                *len = digests[i].len;
            return digests[i].name;
        }
    }
    return NULL;
}

const char *m2m_path_problem(const char *path, size_t len)
{
    const unsigned char *p = (const unsigned char *)path;
    size_t i = 0, comp_start = 0;

    if (len == 0)
        return "empty path";
    if (len >= 4096)
        return "path longer than 4095 bytes";
    if (p[0] == '/')
        return "absolute path (leading '/')";
    while (i <= len) {
        if (i == len || p[i] == '/') {
            size_t clen = i - comp_start;

            if (clen == 0)
                return "empty path component ('//' or a trailing '/')";
            if (clen == 1 && p[comp_start] == '.')
                return "'.' path component";
            if (clen == 2 && p[comp_start] == '.' && p[comp_start + 1] == '.')
                return "'..' path component";
            if (clen > 255)
                return "path component longer than 255 bytes";
            comp_start = i + 1;
            i++;
            continue;
        }
        if (p[i] == '\\')
            return "backslash in path";
        {
            uint32_t cp;
            size_t l = m2m_utf8_decode(p + i, len - i, &cp);

            if (l == 0)
                return "path is not valid UTF-8";
            if (cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp < 0xa0))
                return "control character in path";
            i += l;
        }
    }
    return NULL;
}

m2msec_manifest *m2msec_manifest_new(const char *digest, uint64_t version, uint64_t expires)
{
    m2msec_manifest *m;
    size_t dlen;
    const char *name = m2m_digest_canonical(digest, &dlen);

    if (name == NULL) {
        char ed[M2M_ESC_NAME];

        ERR_raise_data(ERR_LIB_USER, ERR_R_PASSED_INVALID_ARGUMENT,
                       "m2msec: unsupported manifest digest '%s' (SHA256, SHA384 or SHA512)",
                       m2m_esc(digest, ed, sizeof(ed)));
        return NULL;
    }
    m = OPENSSL_zalloc(sizeof(*m));
    if (m == NULL) {
        ERR_raise_data(ERR_LIB_USER, ERR_R_MALLOC_FAILURE, "m2msec: out of memory");
        return NULL;
    }
    m->digest = name;
    m->digest_len = dlen;
    m->version = version;
    m->expires = expires;
    return m;
}

void m2msec_manifest_free(m2msec_manifest *m)
{
    size_t i;

    if (m == NULL)
        return;
    for (i = 0; i < m->n; i++)
        OPENSSL_free((char *)m->e[i].path);
    OPENSSL_free(m->e);
    OPENSSL_free(m);
}

/* Index of the first entry with path >= @p path; *found if equal. */
static size_t lower_bound(const m2msec_manifest *m, const char *path, int *found)
{
    size_t lo = 0, hi = m->n;

    *found = 0;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(m->e[mid].path, path);

        if (c == 0) {
            *found = 1;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Checks an entry against the manifest; NULL if fine, else the reason. */
static const char *entry_problem(const m2msec_manifest *m, const m2msec_manifest_entry *e)
{
    const char *why;

    if (e->path == NULL)
        return "NULL path";
    why = m2m_path_problem(e->path, strlen(e->path));
    if (why != NULL)
        return why;
    if (e->digest_len != m->digest_len)
        return "digest length does not match the manifest digest";
    if (e->size < -1)
        return "negative size";
    if (e->mode < -1 || e->mode > 07777)
        return "mode outside 0000..7777";
    if (e->has_attr != 0 && e->has_attr != 1)
        return "has_attr is neither 0 nor 1";
    if (e->has_attr && e->mtime == INT64_MIN)
        return "mtime out of range";
    return NULL;
}

int m2msec_manifest_add(m2msec_manifest *m, const m2msec_manifest_entry *e)
{
    const char *why;
    char *path;
    size_t pos;
    int found;

    if (m == NULL || e == NULL) {
        ERR_raise_data(ERR_LIB_USER, ERR_R_PASSED_NULL_PARAMETER, "m2msec: NULL manifest or entry");
        return 0;
    }
    why = entry_problem(m, e);
    if (why != NULL) {
        ERR_raise_data(ERR_LIB_USER, ERR_R_PASSED_INVALID_ARGUMENT,
                       "m2msec: manifest entry refused: %s", why);
        return 0;
    }
    if (m->n > 0 && strcmp(m->e[m->n - 1].path, e->path) < 0) {
        pos = m->n; /* the common case: added in order */
        found = 0;
    } else {
        pos = lower_bound(m, e->path, &found);
    }
    path = OPENSSL_strdup(e->path);
    if (path == NULL) {
        ERR_raise_data(ERR_LIB_USER, ERR_R_MALLOC_FAILURE, "m2msec: out of memory");
        return 0;
    }
    if (found) {
        OPENSSL_free((char *)m->e[pos].path);
    } else {
        m2msec_manifest_entry *ne = m2m_grow(m->e, m->n, &m->cap, sizeof(*ne), 16);

        if (ne == NULL) {
            OPENSSL_free(path);
            ERR_raise_data(ERR_LIB_USER, ERR_R_MALLOC_FAILURE, "m2msec: out of memory");
            return 0;
        }
        m->e = ne;
        memmove(m->e + pos + 1, m->e + pos, (m->n - pos) * sizeof(*m->e));
        m->n++;
    }
    m->e[pos] = *e;
    m->e[pos].path = path;
    return 1;
}

uint64_t m2msec_manifest_version(const m2msec_manifest *m)
{
    return m != NULL ? m->version : 0;
}

uint64_t m2msec_manifest_expires(const m2msec_manifest *m)
{
    return m != NULL ? m->expires : 0;
}

const char *m2msec_manifest_digest(const m2msec_manifest *m)
{
    return m != NULL ? m->digest : NULL;
}

size_t m2msec_manifest_count(const m2msec_manifest *m)
{
    return m != NULL ? m->n : 0;
}

const m2msec_manifest_entry *m2msec_manifest_entry_at(const m2msec_manifest *m, size_t i)
{
    return m != NULL && i < m->n ? &m->e[i] : NULL;
}

const m2msec_manifest_entry *m2msec_manifest_find(const m2msec_manifest *m, const char *path)
{
    size_t pos;
    int found;

    if (m == NULL || path == NULL)
        return NULL;
    pos = lower_bound(m, path, &found);
    return found ? &m->e[pos] : NULL;
}

/* ---------------------------------------------------------------- */
/* Parsing                                                           */
/* ---------------------------------------------------------------- */

typedef struct {
    const char *s; /* the line, without its '\n' */
    size_t len;
    size_t no; /* 1-based */
} line_t;

static int parse_error(size_t no, const char *why)
{
    ERR_raise_data(ERR_LIB_USER, ERR_R_PASSED_INVALID_ARGUMENT, "m2msec: manifest line %zu: %s", no,
                   why);
    return 0;
}

/* "prefix" followed by the rest; *rest and *rlen point past the prefix. */
static int has_prefix(const line_t *l, const char *prefix, const char **rest, size_t *rlen)
{
    size_t plen = strlen(prefix);

    if (l->len < plen || memcmp(l->s, prefix, plen) != 0)
        return 0;
    *rest = l->s + plen;
    *rlen = l->len - plen;
    return 1;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

static int header_u64(const line_t *l, const char *prefix, const char *want, uint64_t *v)
{
    const char *rest;
    size_t rlen;

    if (!has_prefix(l, prefix, &rest, &rlen) ||
        m2m_dec_parse(rest, rlen, UINT64_MAX, 0, v) != M2M_DEC_OK)
        return parse_error(l->no, want);
    return 1;
}

typedef struct {
    int pending;
    size_t no;
    int64_t size;
    int32_t mode;
    const char *path;
    size_t plen;
    /* a pending '# attr' line (after '# meta', before the digest line) */
    int attr_pending;
    size_t attr_no;
    uint32_t uid, gid;
    int64_t mtime;
    const char *apath;
    size_t aplen;
} meta_t;

/* One space-terminated field of s: its length, or 0 if there is no space. */
static size_t field(const char *s, size_t len)
{
    const char *sp = memchr(s, ' ', len);

    return sp != NULL ? (size_t)(sp - s) : 0;
}

/* '# attr UID GID MTIME PATH' (docs/PROTOCOL.md 7.1): after '# meta', before the digest line. */
static int parse_attr(const line_t *l, const char *s, size_t len, meta_t *meta)
{
    static const char want[] = "'# attr' line needs '<uid> <gid> <mtime> <path>' in decimal";
    uint64_t v[3];
    size_t f;
    int neg;

    if (meta->attr_pending)
        return parse_error(meta->attr_no,
                           "'# attr' line not followed by the digest line of its file");
    for (int i = 0; i < 3; i++) {
        if ((f = field(s, len)) == 0)
            return parse_error(l->no, want);
        /* mtime alone may be negative (before 1970); never "-0" */
        neg = i == 2 && s[0] == '-';
        if ((neg && (f == 1 || (f == 2 && s[1] == '0'))) ||
            m2m_dec_parse(s + neg, f - (size_t)neg, i < 2 ? UINT32_MAX : INT64_MAX, 0, &v[i]) !=
                M2M_DEC_OK)
            return parse_error(l->no, want);
        if (neg)
            v[i] = (uint64_t)(-(int64_t)v[i]);
        s += f + 1, len -= f + 1;
    }
    meta->uid = (uint32_t)v[0];
    meta->gid = (uint32_t)v[1];
    meta->mtime = (int64_t)v[2];
    meta->apath = s;
    meta->aplen = len;
    meta->attr_pending = 1;
    meta->attr_no = l->no;
    return 1;
}

static int parse_meta(const line_t *l, const char *s, size_t len, meta_t *meta)
{
    const char *sp;
    size_t flen;
    uint64_t v;

    if (meta->pending)
        return parse_error(meta->no, "'# meta' line not followed by the digest line of its file");
    if (meta->attr_pending)
        return parse_error(l->no, "'# meta' line after '# attr' (the order is meta, attr, digest)");
    /* mode: 4 octal digits or '-' */
    if (len >= 2 && s[0] == '-' && s[1] == ' ') {
        meta->mode = -1;
        s += 2, len -= 2;
    } else if (len >= 5 && s[4] == ' ') {
        int i, mode = 0;

        for (i = 0; i < 4; i++) {
            if (s[i] < '0' || s[i] > '7')
                return parse_error(l->no, "'# meta' mode must be 4 octal digits or '-'");
            mode = mode * 8 + (s[i] - '0');
        }
        meta->mode = mode;
        s += 5, len -= 5;
    } else {
        return parse_error(l->no, "'# meta' mode must be 4 octal digits or '-'");
    }
    sp = memchr(s, ' ', len);
    if (sp == NULL)
        return parse_error(l->no, "'# meta' line needs '<mode> <size> <path>'");
    flen = (size_t)(sp - s);
    if (flen == 1 && s[0] == '-') {
        meta->size = -1;
    } else if (m2m_dec_parse(s, flen, INT64_MAX, 0, &v) == M2M_DEC_OK) {
        meta->size = (int64_t)v;
    } else {
        return parse_error(l->no, "'# meta' size must be a decimal number or '-'");
    }
    if (meta->size < 0 && meta->mode < 0)
        return parse_error(l->no, "'# meta' line records neither mode nor size");
    meta->path = sp + 1;
    meta->plen = len - flen - 1;
    meta->pending = 1;
    meta->no = l->no;
    return 1;
}

static int parse_entry(m2msec_manifest *m, const line_t *l, meta_t *meta, const char **prev,
                       size_t *prev_len)
{
    size_t hexlen = m->digest_len * 2, i, plen;
    const char *path, *why;
    m2msec_manifest_entry e;
    char *pcopy;
    int ok, c;

    memset(&e, 0, sizeof(e));
    for (i = 0; i < hexlen && i < l->len && l->s[i] != ' '; i++) {
        if (hexval(l->s[i]) < 0)
            return parse_error(l->no, l->s[i] >= 'A' && l->s[i] <= 'F'
                                          ? "uppercase hex digit in digest (must be lowercase)"
                                          : "digest is not hex (or an unknown '#' line)");
    }
    if (i != hexlen || i == l->len || l->s[i] != ' ') {
        char why_buf[80];

        snprintf(why_buf, sizeof(why_buf), "digest must be %zu lowercase hex digits for %s", hexlen,
                 m->digest);
        return parse_error(l->no, why_buf);
    }
    if (l->len < hexlen + 2 || l->s[hexlen + 1] != ' ')
        return parse_error(l->no, "expected two spaces between digest and path");
    path = l->s + hexlen + 2;
    plen = l->len - hexlen - 2;
    why = m2m_path_problem(path, plen);
    if (why != NULL)
        return parse_error(l->no, why);
    if (memchr(path, '\0', plen) != NULL)
        return parse_error(l->no, "NUL byte in path");
    if (meta->pending && (meta->plen != plen || memcmp(meta->path, path, plen) != 0))
        return parse_error(meta->no, "'# meta' path differs from the path of the next digest line");
    if (meta->attr_pending && (meta->aplen != plen || memcmp(meta->apath, path, plen) != 0))
        return parse_error(meta->attr_no,
                           "'# attr' path differs from the path of the next digest line");
    if (*prev != NULL) {
        size_t n = *prev_len < plen ? *prev_len : plen;

        c = memcmp(*prev, path, n);
        if (c == 0)
            c = *prev_len < plen ? -1 : *prev_len > plen ? 1 : 0;
        if (c == 0)
            return parse_error(l->no, "duplicate path");
        if (c > 0)
            return parse_error(l->no, "paths not sorted bytewise");
    }
    for (i = 0; i < m->digest_len; i++)
        e.digest[i] = (unsigned char)(hexval(l->s[2 * i]) * 16 + hexval(l->s[2 * i + 1]));
    e.digest_len = m->digest_len;
    e.size = meta->pending ? meta->size : -1;
    e.mode = meta->pending ? meta->mode : -1;
    meta->pending = 0;
    if (meta->attr_pending) {
        e.has_attr = 1;
        e.uid = meta->uid;
        e.gid = meta->gid;
        e.mtime = meta->mtime;
    }
    meta->attr_pending = 0;
    pcopy = OPENSSL_strndup(path, plen);
    if (pcopy == NULL) {
        ERR_raise_data(ERR_LIB_USER, ERR_R_MALLOC_FAILURE, "m2msec: out of memory");
        return 0;
    }
    e.path = pcopy;
    ok = m2msec_manifest_add(m, &e);
    OPENSSL_free(pcopy);
    *prev = path;
    *prev_len = plen;
    return ok;
}

m2msec_manifest *m2msec_manifest_parse(const unsigned char *buf, size_t len)
{
    m2msec_manifest *m = NULL;
    line_t hdr[4], l;
    const char *prev = NULL, *rest;
    size_t no = 0, nh = 0, rlen, prev_len = 0;
    uint64_t version = 0, expires = 0;
    M2M_LINES lines;
    M2M_SPAN sp;
    meta_t meta;
    int r;

    memset(&meta, 0, sizeof(meta));
    if (buf == NULL && len > 0) {
        ERR_raise_data(ERR_LIB_USER, ERR_R_PASSED_NULL_PARAMETER, "m2msec: NULL manifest text");
        return NULL;
    }
    m2m_lines_init(&lines, (const char *)buf, len);
    while ((r = m2m_line_next(&lines, &sp)) != 0) {
        no = lines.no + (r < 0 ? 1 : 0);
        if (r < 0) {
            parse_error(no, "no newline at the end of the line");
            goto fail;
        }
        l.s = sp.p;
        l.len = sp.n;
        l.no = no;
        if (memchr(l.s, '\0', l.len) != NULL) {
            parse_error(no, "NUL byte");
            goto fail;
        }
        if (nh < 4) {
            hdr[nh++] = l;
            if (nh == 1 && (l.len != strlen(MAGIC_LINE) || memcmp(l.s, MAGIC_LINE, l.len) != 0)) {
                parse_error(1, "not an m2msec manifest version 1 (first line must be '" MAGIC_LINE
                               "')");
                goto fail;
            }
            if (nh < 4)
                continue;
            /* the header lines 2 to 4, in this order */
            if (!header_u64(&hdr[1], "# version ", "expected '# version N'", &version) ||
                !header_u64(&hdr[2], "# expires ", "expected '# expires N' (seconds since 1970)",
                            &expires))
                goto fail;
            if (!has_prefix(&hdr[3], "# digest ", &rest, &rlen) ||
                (rlen != 6 || (memcmp(rest, "SHA256", 6) && memcmp(rest, "SHA384", 6) &&
                               memcmp(rest, "SHA512", 6)))) {
                parse_error(4,
                            "expected '# digest SHA256', '# digest SHA384' or '# digest SHA512'");
                goto fail;
            }
            {
                char dname[7];

                memcpy(dname, rest, 6);
                dname[6] = '\0';
                m = m2msec_manifest_new(dname, version, expires);
            }
            if (m == NULL)
                goto fail;
            continue;
        }
        if (l.len > 0 && l.s[0] == '#') {
            if (has_prefix(&l, "# meta ", &rest, &rlen)) {
                if (!parse_meta(&l, rest, rlen, &meta))
                    goto fail;
            } else if (has_prefix(&l, "# attr ", &rest, &rlen)) {
                if (!parse_attr(&l, rest, rlen, &meta))
                    goto fail;
            } else if (has_prefix(&l, "# version", &rest, &rlen) ||
                       has_prefix(&l, "# expires", &rest, &rlen) ||
                       has_prefix(&l, "# digest", &rest, &rlen) ||
                       has_prefix(&l, "# m2msec-manifest", &rest, &rlen)) {
                parse_error(no, "header line out of place (headers are lines 1 to 4, once each)");
                goto fail;
            } else {
                parse_error(no, "unknown '#' line");
                goto fail;
            }
            continue;
        }
        if (l.len == 0) {
            parse_error(no, "empty line");
            goto fail;
        }
        if (!parse_entry(m, &l, &meta, &prev, &prev_len))
            goto fail;
    }
    if (nh < 4) {
        static const char *const missing[4] = {
            "empty manifest (first line must be '" MAGIC_LINE "')", "missing '# version N' header",
            "missing '# expires N' header", "missing '# digest NAME' header"};
        parse_error(no + 1, missing[nh]);
        goto fail;
    }
    if (meta.pending) {
        parse_error(meta.no, "'# meta' line not followed by the digest line of its file");
        goto fail;
    }
    if (meta.attr_pending) {
        parse_error(meta.attr_no, "'# attr' line not followed by the digest line of its file");
        goto fail;
    }
    return m;
fail:
    m2msec_manifest_free(m);
    return NULL;
}

/* ---------------------------------------------------------------- */
/* Serialising                                                       */
/* ---------------------------------------------------------------- */

int m2msec_manifest_serialize(const m2msec_manifest *m, unsigned char **buf, size_t *len)
{
    size_t cap, i, n, j;
    char *out;
    int w;
    static const char hex[] = "0123456789abcdef";

    if (m == NULL || buf == NULL || len == NULL) {
        ERR_raise_data(ERR_LIB_USER, ERR_R_PASSED_NULL_PARAMETER, "m2msec: NULL argument");
        return 0;
    }
    cap = 128;
    for (i = 0; i < m->n; i++) {
        size_t plen = strlen(m->e[i].path);

        cap += 2 * m->digest_len + 3 + plen;
        if (m->e[i].size >= 0 || m->e[i].mode >= 0)
            cap += 7 + 5 + 21 + 1 + plen + 1;
        if (m->e[i].has_attr)
            cap += 7 + 11 + 11 + 21 + plen + 1;
    }
    out = OPENSSL_malloc(cap);
    if (out == NULL) {
        ERR_raise_data(ERR_LIB_USER, ERR_R_MALLOC_FAILURE, "m2msec: out of memory");
        return 0;
    }
    w = snprintf(out, cap,
                 MAGIC_LINE "\n# version %" PRIu64 "\n# expires %" PRIu64 "\n# digest %s\n",
                 m->version, m->expires, m->digest);
    n = (size_t)w;
    for (i = 0; i < m->n; i++) {
        const m2msec_manifest_entry *e = &m->e[i];
        size_t plen = strlen(e->path);

        if (e->size >= 0 || e->mode >= 0) {
            char mode[16], size[24];

            if (e->mode >= 0)
                snprintf(mode, sizeof(mode), "%04o", (unsigned)e->mode);
            else
                strcpy(mode, "-");
            if (e->size >= 0)
                snprintf(size, sizeof(size), "%" PRId64, e->size);
            else
                strcpy(size, "-");
            w = snprintf(out + n, cap - n, "# meta %s %s %s\n", mode, size, e->path);
            n += (size_t)w;
        }
        if (e->has_attr) {
            w = snprintf(out + n, cap - n, "# attr %" PRIu32 " %" PRIu32 " %" PRId64 " %s\n",
                         e->uid, e->gid, e->mtime, e->path);
            n += (size_t)w;
        }
        for (j = 0; j < e->digest_len; j++) {
            out[n++] = hex[e->digest[j] >> 4];
            out[n++] = hex[e->digest[j] & 15];
        }
        out[n++] = ' ';
        out[n++] = ' ';
        memcpy(out + n, e->path, plen);
        n += plen;
        out[n++] = '\n';
    }
    *buf = (unsigned char *)out;
    *len = n;
    return 1;
}

int m2msec_manifest_write(const m2msec_manifest *m, const char *path)
{
    unsigned char *buf;
    size_t len;
    int ok;

    if (path == NULL) {
        ERR_raise_data(ERR_LIB_USER, ERR_R_PASSED_NULL_PARAMETER, "m2msec: NULL manifest path");
        return 0;
    }
    if (!m2msec_manifest_serialize(m, &buf, &len))
        return 0;
    ok = m2m_write_atomic(path, buf, len, 0644, "manifest");
    OPENSSL_free(buf);
    return ok;
}
