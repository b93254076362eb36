/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libm2msec ESPrim: the Receiver's state file (docs/PROTOCOL.md 9.6).
 *
 *   m2msec-esprim-state 1
 *   kid <pairwiseESPrimKeyID>
 *   rand <esprimRandID> <value, base64url> <expiry> <keygen IDs> <AEAD IDs>
 *   session <rri> <ori> <expiry>
 *
 * The same rules as the record sessions' state (docs/PROTOCOL.md 6.4):
 * the lock is the libm2msec file store's (an exclusive flock on
 * "<path>.lock", held by one end for its whole life); a missing state is
 * never taken for a first start (m2msec_esprim_state_init() is the
 * explicit one); the file is read back before every save and must still
 * be what this end last read or wrote, else the end stops saving (and so
 * stops accepting new sessions); saves replace the file atomically (temp
 * file, fsync, rename, fsync of the directory).
 */
#define _GNU_SOURCE /* O_NOFOLLOW */

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/crypto.h>

#include "esprim_internal.h"
#include "io.h"
#include "safe_open.h"
#include "text.h"

#define MAGIC "m2msec-esprim-state 1\n"

static int state_err(const char *path, const char *what)
{
    M2M_ESP_ERR(M2MSEC_R_ESPRIM_STATE, "state %s: %s", path, what);
    return 0;
}

/* Whole file, not following a symlink; 1 read, 0 missing, -1 error (raised). */
static int read_state(const char *path, char **buf, size_t *len)
{
    struct stat sb;
    char *b;
    size_t n = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY), err, r;

    *buf = NULL;
    *len = 0;
    if (fd < 0) {
        err = errno;
        if (err == ENOENT)
            return 0;
        M2M_ESP_ERR(M2MSEC_R_ESPRIM_STATE, "state %s: cannot open it: %s", path,
                    err == ELOOP ? "it is a symbolic link" : strerror(err));
        return -1;
    }
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || sb.st_size < 0 ||
        (size_t)sb.st_size > M2M_ESP_STATE_MAX) {
        close(fd);
        M2M_ESP_ERR(M2MSEC_R_ESPRIM_STATE, "state %s: not a regular file of at most %zu bytes",
                    path, M2M_ESP_STATE_MAX);
        return -1;
    }
    if ((b = OPENSSL_malloc((size_t)sb.st_size + 1)) == NULL) {
        close(fd);
        M2M_ESP_ERR(M2MSEC_R_MALLOC_FAILURE, "state %s: out of memory", path);
        return -1;
    }
    r = m2m_read_all(fd, b, (size_t)sb.st_size, &n);
    if (r <= 0) {
        err = errno;
        close(fd);
        OPENSSL_free(b);
        if (r < 0)
            M2M_ESP_ERR(M2MSEC_R_ESPRIM_STATE, "state %s: it grew while it was read", path);
        else
            M2M_ESP_ERR(M2MSEC_R_ESPRIM_STATE, "state %s: cannot read it: %s", path, strerror(err));
        return -1;
    }
    close(fd);
    b[n] = '\0';
    *buf = b;
    *len = n;
    return 1;
}

/* ---------------------------------------------------------------- format */

void m2m_esp_state_data_free(m2m_esp_state_data *d)
{
    OPENSSL_free(d->rands);
    OPENSSL_free(d->sessions);
    memset(d, 0, sizeof(*d));
}

/* The next space- or newline-terminated token of line [*p, end). */
static int token(const char **p, const char *end, const char **t, size_t *tl, int last)
{
    const char *s = *p, *e = s;

    while (e < end && *e != ' ')
        e++;
    if (e == s || (last ? e != end : e == end))
        return 0;
    *t = s;
    *tl = (size_t)(e - s);
    *p = last ? e : e + 1;
    return 1;
}

static int list_tok(const char *t, size_t tl, int *out, size_t *n)
{
    size_t i = 0;

    *n = 0;
    while (i < tl) {
        size_t s = i;
        uint64_t v;

        while (i < tl && t[i] != ',')
            i++;
        if (m2m_dec_parse(t + s, i - s, UINT64_MAX, 0, &v) != M2M_DEC_OK || v > 65535 ||
            *n == M2MSEC_ESPRIM_MAX_ALGS || m2m_esp_has(out, *n, (int)v))
            return 0;
        out[(*n)++] = (int)v;
        if (i < tl && ++i == tl) /* a trailing comma */
            return 0;
    }
    return *n > 0;
}

static int id_tok(const char *t, size_t tl, char out[M2MSEC_ESPRIM_ID_MAX + 1])
{
    if (!m2m_esp_id_ok(t, tl))
        return 0;
    memcpy(out, t, tl);
    out[tl] = '\0';
    return 1;
}

int m2m_esp_state_parse(const char *text, size_t len, const char *name, m2m_esp_state_data *d)
{
    const char *t;
    size_t tl, rcap = 0, scap = 0, bad;
    M2M_LINES lines;
    M2M_SPAN line;
    char msg[128];

    memset(d, 0, sizeof(*d));
    if (len < sizeof(MAGIC) - 1 || memcmp(text, MAGIC, sizeof(MAGIC) - 1) != 0 ||
        memchr(text, '\0', len) != NULL || text[len - 1] != '\n') {
        return state_err(name, "not an ESPrim state (it starts with \"m2msec-esprim-state 1\", "
                               "has no NUL byte and ends with a newline); refusing to guess");
    }
    m2m_lines_init(&lines, text, len);
    m2m_line_next(&lines, &line); /* the magic line, checked above */
    while (m2m_line_next(&lines, &line) == 1) {
        const char *eol = line.p + line.n, *q = line.p;
        void *na;
        int ok = 0;

        if (!token(&q, eol, &t, &tl, 0)) {
            /* fall through to the error below */
        } else if (lines.no == 2) {
            ok = tl == 3 && memcmp(t, "kid", 3) == 0 && token(&q, eol, &t, &tl, 1) &&
                 m2m_esp_token_ok(t, tl, 0);
            if (ok) {
                memcpy(d->kid, t, tl);
                d->kid[tl] = '\0';
            }
        } else if (tl == 4 && memcmp(t, "rand", 4) == 0) {
            m2msec_esprim_rand r;
            size_t vl;

            memset(&r, 0, sizeof(r));
            r.role = M2MSEC_ESPRIM_RECEIVER;
            ok = d->nsessions == 0 && token(&q, eol, &t, &tl, 0) && id_tok(t, tl, r.id) &&
                 token(&q, eol, &t, &tl, 0) && tl == M2M_ESP_B64_RAND &&
                 m2m_b64url_decode(t, tl, r.value, &vl, &bad) && vl == sizeof(r.value) &&
                 token(&q, eol, &t, &tl, 0) &&
                 m2m_dec_parse(t, tl, UINT64_MAX, 0, &r.expiry) == M2M_DEC_OK &&
                 token(&q, eol, &t, &tl, 0) && list_tok(t, tl, r.keygen, &r.nkeygen) &&
                 token(&q, eol, &t, &tl, 1) && list_tok(t, tl, r.aead, &r.naead);
            for (size_t i = 0; ok && i < d->nrands; i++)
                ok = strcmp(d->rands[i].id, r.id) != 0;
            if (ok && (na = m2m_grow(d->rands, d->nrands, &rcap, sizeof(r), 8)) == NULL) {
                m2m_esp_state_data_free(d);
                M2M_ESP_ERR(M2MSEC_R_MALLOC_FAILURE, "state %s: out of memory", name);
                return 0;
            }
            if (ok) {
                d->rands = na;
                d->rands[d->nrands++] = r;
            }
        } else if (tl == 7 && memcmp(t, "session", 7) == 0) {
            m2m_esp_state_session s;

            ok = token(&q, eol, &t, &tl, 0) && id_tok(t, tl, s.rri) && token(&q, eol, &t, &tl, 0) &&
                 id_tok(t, tl, s.ori) && token(&q, eol, &t, &tl, 1) &&
                 m2m_dec_parse(t, tl, UINT64_MAX, 0, &s.expiry) == M2M_DEC_OK;
            for (size_t i = 0; ok && i < d->nsessions; i++)
                ok = strcmp(d->sessions[i].rri, s.rri) != 0 || strcmp(d->sessions[i].ori, s.ori);
            if (ok && (na = m2m_grow(d->sessions, d->nsessions, &scap, sizeof(s), 8)) == NULL) {
                m2m_esp_state_data_free(d);
                M2M_ESP_ERR(M2MSEC_R_MALLOC_FAILURE, "state %s: out of memory", name);
                return 0;
            }
            if (ok) {
                d->sessions = na;
                d->sessions[d->nsessions++] = s;
            }
        }
        if (!ok) {
            m2m_esp_state_data_free(d);
            snprintf(msg, sizeof(msg),
                     "line %zu is malformed (docs/PROTOCOL.md 9.6); refusing "
                     "to guess",
                     lines.no);
            return state_err(name, msg);
        }
    }
    if (d->kid[0] == '\0') {
        m2m_esp_state_data_free(d);
        return state_err(name, "line 2 (kid) is missing; refusing to guess");
    }
    return 1;
}

static int append(char **buf, size_t *len, size_t *cap, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int append(char **buf, size_t *len, size_t *cap, const char *fmt, ...)
{
    va_list ap;
    int w;

    for (;;) {
        va_start(ap, fmt);
        w = vsnprintf(*buf + *len, *cap - *len, fmt, ap);
        va_end(ap);
        if (w < 0)
            return 0;
        if ((size_t)w < *cap - *len) {
            *len += (size_t)w;
            return 1;
        }
        {
            size_t nc = *cap * 2 + (size_t)w;
            char *nb = OPENSSL_realloc(*buf, nc);

            if (nb == NULL)
                return 0;
            *buf = nb;
            *cap = nc;
        }
    }
}

static void list_text(char *out, size_t cap, const int *l, size_t n)
{
    size_t o = 0;

    out[0] = '\0';
    for (size_t i = 0; i < n && o < cap; i++) {
        int w = snprintf(out + o, cap - o, "%s%d", i > 0 ? "," : "", l[i]);

        if (w < 0)
            break;
        o += (size_t)w;
    }
}

char *m2m_esp_state_text(const m2m_esp_state_data *d, size_t *len)
{
    size_t cap = 256, l = 0;
    char *b = OPENSSL_malloc(cap);
    int ok = b != NULL && append(&b, &l, &cap, MAGIC "kid %s\n", d->kid);

    for (size_t i = 0; ok && i < d->nrands; i++) {
        const m2msec_esprim_rand *r = &d->rands[i];
        char v[M2M_ESP_B64_RAND + 1], kg[64], ae[64];

        m2m_b64url_encode(r->value, sizeof(r->value), v);
        v[M2M_ESP_B64_RAND] = '\0';
        list_text(kg, sizeof(kg), r->keygen, r->nkeygen);
        list_text(ae, sizeof(ae), r->aead, r->naead);
        ok = append(&b, &l, &cap, "rand %s %s %" PRIu64 " %s %s\n", r->id, v, r->expiry, kg, ae);
    }
    for (size_t i = 0; ok && i < d->nsessions; i++)
        ok = append(&b, &l, &cap, "session %s %s %" PRIu64 "\n", d->sessions[i].rri,
                    d->sessions[i].ori, d->sessions[i].expiry);
    if (!ok) {
        OPENSSL_free(b);
        M2M_ESP_ERR(M2MSEC_R_MALLOC_FAILURE, "out of memory writing the state");
        return NULL;
    }
    *len = l;
    return b;
}

/* ---------------------------------------------------------------- lock, open, save */

static int lock_path(const char *path, char out[PATH_MAX])
{
    return snprintf(out, PATH_MAX, "%s.lock", path) < PATH_MAX;
}

/* Take the file store's lock on path; 1, or 0 with an error. */
static int take_lock(const char *path, m2msec_store *ls, void **h)
{
    int r;

    *h = NULL;
    if (!m2msec_store_file(ls, path))
        return 0;
    r = ls->lock(ls->arg, h);
    if (r == 1)
        return 1;
    m2msec_store_clear(ls);
    if (r == 0)
        M2M_ESP_ERR(M2MSEC_R_ESPRIM_STATE,
                    "state %s: in use by another ESPrim end (the lock "
                    "%s.lock is held)",
                    path, path);
    else
        M2M_ESP_ERR(M2MSEC_R_ESPRIM_STATE,
                    "state %s: cannot take the lock %s.lock (see the "
                    "errors before this one)",
                    path, path);
    return 0;
}

int m2msec_esprim_state_init(const char *path, const char *kid)
{
    m2msec_store ls;
    void *h;
    struct stat sb;
    char *text;
    size_t len;
    m2m_esp_state_data d;
    int ok = 0;

    if (!m2m_esp_token_ok(kid, strlen(kid), 0)) {
        M2M_ESP_ERR(M2MSEC_R_INVALID_PARAMETER, "kid must be 1..256 printable ASCII characters "
                                                "without space, '\"' or '\\'");
        return 0;
    }
    if (*path == '\0') {
        M2M_ESP_ERR(M2MSEC_R_INVALID_PARAMETER, "empty state path");
        return 0;
    }
    if (!take_lock(path, &ls, &h))
        return 0;
    if (lstat(path, &sb) == 0 || errno != ENOENT) {
        state_err(path, "something already exists there: only a first start is initialised; "
                        "never initialise a state again (docs/SECURITY.md, CM25)");
        goto end;
    }
    memset(&d, 0, sizeof(d));
    strcpy(d.kid, kid);
    if ((text = m2m_esp_state_text(&d, &len)) == NULL)
        goto end;
    ok = m2m_write_atomic(path, text, len, 0600, "ESPrim state file");
    OPENSSL_free(text);
    if (!ok)
        state_err(path, "cannot write the initial state");
end:
    ls.unlock(ls.arg, h);
    m2msec_store_clear(&ls);
    return ok;
}

int m2m_esp_state_open(m2m_esp_state *st, const char *path, m2m_esp_state_data *d)
{
    char lp[PATH_MAX];
    struct stat sb;
    char *buf;
    size_t len;
    int r;

    memset(st, 0, sizeof(*st));
    memset(d, 0, sizeof(*d));
    if (*path == '\0' || !lock_path(path, lp)) {
        M2M_ESP_ERR(M2MSEC_R_INVALID_PARAMETER, "state path empty or too long");
        return 0;
    }
    if ((st->path = OPENSSL_strdup(path)) == NULL) {
        M2M_ESP_ERR(M2MSEC_R_MALLOC_FAILURE, "out of memory");
        return 0;
    }
    if (!take_lock(st->path, &st->lockstore, &st->lock))
        goto fail;
    st->locked = 1;
    if (lstat(lp, &sb) != 0) {
        state_err(path, "the lock file vanished while it was taken");
        goto fail;
    }
    st->lock_dev = sb.st_dev;
    st->lock_ino = sb.st_ino;
    r = read_state(path, &buf, &len);
    if (r < 0)
        goto fail;
    if (r == 0) {
        state_err(path, "there is none: if this is the Receiver's first start, create it with "
                        "m2msec_esprim_state_init() or `m2msec esprim state-init`; never "
                        "recreate a state that was lost (docs/SECURITY.md, CM25)");
        goto fail;
    }
    if (!m2m_esp_state_parse(buf, len, path, d)) {
        OPENSSL_free(buf);
        goto fail;
    }
    st->last = buf;
    st->last_len = len;
    return 1;
fail:
    m2m_esp_state_close(st);
    return 0;
}

void m2m_esp_state_close(m2m_esp_state *st)
{
    if (st->locked)
        st->lockstore.unlock(st->lockstore.arg, st->lock);
    m2msec_store_clear(&st->lockstore);
    OPENSSL_free(st->last);
    OPENSSL_free(st->path);
    memset(st, 0, sizeof(*st));
}

int m2m_esp_state_save(m2m_esp_state *st, const m2m_esp_state_data *d)
{
    char lp[PATH_MAX], *now = NULL, *text;
    size_t nl = 0, len;
    struct stat sb;
    int r;

    if (st->broken)
        return state_err(st->path, "it changed outside this ESPrim end earlier; this end no "
                                   "longer saves (restart it)");
    if (!lock_path(st->path, lp) || lstat(lp, &sb) != 0 || sb.st_dev != st->lock_dev ||
        sb.st_ino != st->lock_ino) {
        st->broken = 1;
        return state_err(st->path, "its lock file was removed or replaced while this end held "
                                   "it; another end may use the state: refusing to save");
    }
    r = read_state(st->path, &now, &nl);
    if (r <= 0 || nl != st->last_len || memcmp(now, st->last, nl) != 0) {
        OPENSSL_free(now);
        st->broken = 1;
        return state_err(st->path, r == 0 ? "it was deleted while this end held it; refusing "
                                            "to save (do not initialise it again)"
                                          : "it changed outside this ESPrim end (another "
                                            "writer, or a restore from a backup); refusing to "
                                            "save");
    }
    OPENSSL_free(now);
    if ((text = m2m_esp_state_text(d, &len)) == NULL)
        return 0;
    if (!m2m_write_atomic(st->path, text, len, 0600, "ESPrim state file")) {
        /*
         * The rename may have happened before the failure (a failed
         * directory sync): the file holds the old or the new text, and a
         * read-back cannot tell. Stop saving rather than guess.
         */
        OPENSSL_free(text);
        st->broken = 1;
        return state_err(st->path, "cannot write it (see the errors before this one); this end "
                                   "no longer saves");
    }
    OPENSSL_free(st->last);
    st->last = text;
    st->last_len = len;
    return 1;
}
