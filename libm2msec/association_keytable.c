/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libm2msec: the association key table (docs/PROTOCOL.md 10.3): a
 * gateway's file of identity -> PSK, not-after.
 *
 *   m2msec-keytable 1
 *   # comment
 *   IDENTITY HEXKEY NOT-AFTER
 *
 * Strict and fail-closed: every line ends with LF; fields are separated by
 * exactly one space; IDENTITY is 1..128 printable ASCII characters, not
 * starting with '#'; HEXKEY is 32..128 lowercase hex digits (16..64
 * bytes); NOT-AFTER is plain decimal seconds since 1970 (no sign, no
 * leading zero, at least 1); an identity appears once. The first bad line
 * refuses the whole file, naming the line. The file itself must be a
 * regular file reached without symlinks, owned by the effective user (or
 * root), with no permission bits for group or others.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <openssl/crypto.h>

#include "association_internal.h"
#include "cfile.h"

#define KT_MAGIC "m2msec-keytable 1"
#define KT_FILE_MAX (4u * 1024u * 1024u)

typedef struct kt_entry {
    char *identity;
    unsigned char key[M2MSEC_ASSOC_PSK_MAX];
    size_t key_len;
    uint64_t not_after;
    long line;
} KT_ENTRY;

struct m2msec_association_keytable {
    atomic_int refs;
    KT_ENTRY *e;
    size_t n;
};

static int entry_cmp(const void *a, const void *b)
{
    return strcmp(((const KT_ENTRY *)a)->identity, ((const KT_ENTRY *)b)->identity);
}

void m2msec_association_keytable_free(m2msec_association_keytable *kt)
{
    if (kt == NULL || atomic_fetch_sub(&kt->refs, 1) > 1)
        return;
    for (size_t i = 0; i < kt->n; i++) {
        OPENSSL_free(kt->e[i].identity);
        OPENSSL_cleanse(kt->e[i].key, sizeof(kt->e[i].key));
    }
    OPENSSL_free(kt->e);
    OPENSSL_free(kt);
}

int m2m_assoc_keytable_up_ref(m2msec_association_keytable *kt)
{
    atomic_fetch_add(&kt->refs, 1);
    return 1;
}

size_t m2msec_association_keytable_count(const m2msec_association_keytable *kt)
{
    return kt->n;
}

static int hexdig(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

#define BAD(...)                                                                                   \
    do {                                                                                           \
        M2M_ASSOC_ERR(M2MSEC_R_ASSOC_KEYTABLE, "key table %s line %ld: " __VA_ARGS__);             \
        goto fail;                                                                                 \
    } while (0)

/* One entry line b..e (no LF). */
static int parse_entry(const char *name, long line, const char *b, const char *e, KT_ENTRY *out)
{
    const char *s1 = memchr(b, ' ', (size_t)(e - b)), *s2, *p;
    size_t idlen, hexlen;
    uint64_t v = 0;

    memset(out, 0, sizeof(*out));
    if (s1 == NULL)
        BAD("not 'IDENTITY HEXKEY NOT-AFTER'", name, line);
    s2 = memchr(s1 + 1, ' ', (size_t)(e - s1 - 1));
    if (s2 == NULL)
        BAD("not 'IDENTITY HEXKEY NOT-AFTER' (two fields)", name, line);
    if (memchr(s2 + 1, ' ', (size_t)(e - s2 - 1)) != NULL)
        BAD("more than three fields, or blanks that are not single spaces", name, line);
    idlen = (size_t)(s1 - b);
    if (idlen == 0 || idlen > M2MSEC_ASSOC_IDENTITY_MAX)
        BAD("identity of %zu characters (1..%d)", name, line, idlen, M2MSEC_ASSOC_IDENTITY_MAX);
    for (p = b; p < s1; p++)
        if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
            BAD("identity holds byte 0x%02x (printable ASCII only)", name, line, (unsigned char)*p);
    hexlen = (size_t)(s2 - s1 - 1);
    if (hexlen % 2 != 0 || hexlen < 2 * M2MSEC_ASSOC_PSK_MIN || hexlen > 2 * M2MSEC_ASSOC_PSK_MAX)
        BAD("key of %zu hex digits (an even number, %d..%d)", name, line, hexlen,
            2 * M2MSEC_ASSOC_PSK_MIN, 2 * M2MSEC_ASSOC_PSK_MAX);
    for (size_t i = 0; i < hexlen; i += 2) {
        int hi = hexdig(s1[1 + i]), lo = hexdig(s1[2 + i]);

        if (hi < 0 || lo < 0)
            BAD("key holds a character that is not a lowercase hex digit", name, line);
        out->key[i / 2] = (unsigned char)(hi << 4 | lo);
    }
    out->key_len = hexlen / 2;
    if (s2 + 1 == e)
        BAD("no not-after", name, line);
    if (s2[1] == '0')
        BAD("not-after starts with 0 (plain decimal seconds since 1970, at least 1)", name, line);
    for (p = s2 + 1; p < e; p++) {
        unsigned d = (unsigned)(*p - '0');

        if (*p < '0' || *p > '9')
            BAD("not-after is not a decimal number of seconds since 1970", name, line);
        if (v > (UINT64_MAX / 2 - d) / 10)
            BAD("not-after is out of range", name, line);
        v = v * 10 + d;
    }
    out->not_after = v;
    out->identity = OPENSSL_strndup(b, idlen);
    if (out->identity == NULL)
        BAD("out of memory", name, line);
    out->line = line;
    return 1;
fail:
    OPENSSL_cleanse(out->key, sizeof(out->key));
    return 0;
}

m2msec_association_keytable *m2msec_association_keytable_parse(const char *text, size_t len,
                                                               const char *name)
{
    m2msec_association_keytable *kt = OPENSSL_zalloc(sizeof(*kt));
    const char *p = text, *end = text + len;
    size_t cap = 0;
    long line = 0;

    if (kt == NULL) {
        M2M_ASSOC_ERR(M2MSEC_R_ASSOC_KEYTABLE, "out of memory");
        return NULL;
    }
    atomic_init(&kt->refs, 1);
    if (len == 0 || text[len - 1] != '\n') {
        line = 0;
        BAD("empty, or the last line does not end with a line feed (truncated?)", name, line);
    }
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));

        line++;
        for (const char *q = p; q < nl; q++)
            if ((unsigned char)*q < 0x20 || *q == 0x7f)
                BAD("control character 0x%02x (CR, tab, NUL, ... are refused)", name, line,
                    (unsigned char)*q);
        if (line == 1) {
            if ((size_t)(nl - p) != strlen(KT_MAGIC) || memcmp(p, KT_MAGIC, strlen(KT_MAGIC)) != 0)
                BAD("the first line must be '" KT_MAGIC "'", name, line);
        } else if (nl != p && *p != '#') {
            if (kt->n == cap) {
                size_t ncap = cap == 0 ? 16 : 2 * cap;
                KT_ENTRY *ne = OPENSSL_realloc(kt->e, ncap * sizeof(*ne));

                if (ne == NULL)
                    BAD("out of memory", name, line);
                kt->e = ne;
                cap = ncap;
            }
            if (!parse_entry(name, line, p, nl, &kt->e[kt->n]))
                goto fail;
            kt->n++;
        }
        p = nl + 1;
    }
    if (kt->n > 1) {
        qsort(kt->e, kt->n, sizeof(*kt->e), entry_cmp);
        for (size_t i = 1; i < kt->n; i++)
            if (strcmp(kt->e[i].identity, kt->e[i - 1].identity) == 0) {
                long a = kt->e[i].line, b = kt->e[i - 1].line;

                line = a > b ? a : b;
                BAD("identity given twice (also on line %ld)", name, line, a > b ? b : a);
            }
    }
    return kt;
fail:
    m2msec_association_keytable_free(kt);
    return NULL;
}

m2msec_association_keytable *m2msec_association_keytable_load(const char *path)
{
    M2M_ERRMSG err;
    struct stat st;
    char *buf = NULL;
    size_t n = 0;
    int fd = m2m_cf_open(path, M2M_CF_NO_SYMLINKS, "association key table", &err);
    m2msec_association_keytable *kt = NULL;

    if (fd < 0) {
        M2M_ASSOC_ERR(M2MSEC_R_ASSOC_KEYTABLE_FILE, "%s", err.text);
        return NULL;
    }
    if (fstat(fd, &st) != 0) {
        M2M_ASSOC_ERR(M2MSEC_R_ASSOC_KEYTABLE_FILE, "key table %s: %s", path, strerror(errno));
        goto end;
    }
    if (st.st_uid != geteuid() && st.st_uid != 0) {
        M2M_ASSOC_ERR(M2MSEC_R_ASSOC_KEYTABLE_FILE,
                      "key table %s is owned by uid %lu, not by this user or root", path,
                      (unsigned long)st.st_uid);
        goto end;
    }
    if ((st.st_mode & 077) != 0) {
        M2M_ASSOC_ERR(M2MSEC_R_ASSOC_KEYTABLE_FILE,
                      "key table %s has mode %04o: group or others may read or change the keys "
                      "(chmod 600)",
                      path, (unsigned)(st.st_mode & 07777));
        goto end;
    }
    if ((uint64_t)st.st_size > KT_FILE_MAX) {
        M2M_ASSOC_ERR(M2MSEC_R_ASSOC_KEYTABLE_FILE, "key table %s is larger than %u bytes", path,
                      KT_FILE_MAX);
        goto end;
    }
    buf = OPENSSL_malloc(KT_FILE_MAX + 1);
    if (buf == NULL) {
        M2M_ASSOC_ERR(M2MSEC_R_ASSOC_KEYTABLE_FILE, "out of memory");
        goto end;
    }
    for (;;) {
        ssize_t r = read(fd, buf + n, KT_FILE_MAX + 1 - n);

        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            M2M_ASSOC_ERR(M2MSEC_R_ASSOC_KEYTABLE_FILE, "key table %s: %s", path, strerror(errno));
            goto end;
        }
        if (r == 0)
            break;
        n += (size_t)r;
        if (n > KT_FILE_MAX) {
            M2M_ASSOC_ERR(M2MSEC_R_ASSOC_KEYTABLE_FILE, "key table %s is larger than %u bytes",
                          path, KT_FILE_MAX);
            goto end;
        }
    }
    kt = m2msec_association_keytable_parse(buf, n, path);
end:
    if (buf != NULL)
        OPENSSL_clear_free(buf, KT_FILE_MAX + 1);
    close(fd);
    return kt;
}

int m2msec_association_keytable_find(const m2msec_association_keytable *kt, const char *identity,
                                     unsigned char key[M2MSEC_ASSOC_PSK_MAX], size_t *key_len,
                                     uint64_t *not_after)
{
    KT_ENTRY probe;
    const KT_ENTRY *e;

    memset(&probe, 0, sizeof(probe));
    probe.identity = (char *)identity;
    e = kt->n == 0 ? NULL : bsearch(&probe, kt->e, kt->n, sizeof(*kt->e), entry_cmp);
    if (e == NULL) {
        *key_len = 0;
        *not_after = 0;
        return 0;
    }
    memcpy(key, e->key, e->key_len);
    *key_len = e->key_len;
    *not_after = e->not_after;
    return 1;
}
