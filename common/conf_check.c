/* SPDX-License-Identifier: Apache-2.0 */
/*
 * common: the strict check of the provider's own openssl.cnf section
 * (conf_check.h).
 *
 * OpenSSL's parser (NCONF) gives the truth about the sections and values;
 * it keeps neither line numbers nor repeated keys, so the text is also
 * scanned line by line (following .include as libcrypto does) for where
 * each key is written, how often, and its raw value.
 */
#define _GNU_SOURCE /* secure_getenv() */

#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/bio.h>
#include <openssl/conf.h>
#include <openssl/crypto.h>
#include <openssl/err.h>

#include "conf_check.h"
#include "io.h"

const char *const m2m_cnf_keys[M2M_CK_COUNT] = {
    M2M_SKEY_NAMES, "policy", "module-mac", "module", "activate", "identity", "soft_load",
};

/* Largest configuration file (or included file) read. */
#define CNF_MAX_BYTES (4u * 1024u * 1024u)
/* How deep .include may nest (libcrypto has no limit; this scan only locates lines). */
#define MAX_INCLUDE_DEPTH 8

static int key_index(const char *name)
{
    for (int i = 0; i < M2M_CK_COUNT; i++)
        if (strcmp(name, m2m_cnf_keys[i]) == 0)
            return i;
    return -1;
}

/* ------------------------------------------------------------------ */
/* The line scan                                                       */
/* ------------------------------------------------------------------ */

typedef struct scan_ent {
    char *section, *key, *raw;
    long line;
    int in_main; /* written in the file itself, not in an included one */
    int foreign; /* written as "section::key" */
    size_t file; /* index in SCAN.files (0: the file itself) */
} SCAN_ENT;

#define MAX_SCAN_FILES 64

typedef struct scan {
    SCAN_ENT *e;
    size_t n, cap;
    char *files[MAX_SCAN_FILES]; /* [0] the file itself, then included files */
    size_t nfiles, cur;          /* cur: the file being scanned */
    int failed;                  /* out of memory: the scan is incomplete */
} SCAN;

static void scan_free(SCAN *s)
{
    for (size_t i = 0; i < s->n; i++) {
        OPENSSL_free(s->e[i].section);
        OPENSSL_free(s->e[i].key);
        OPENSSL_free(s->e[i].raw);
    }
    OPENSSL_free(s->e);
    for (size_t i = 0; i < s->nfiles; i++)
        OPENSSL_free(s->files[i]);
    memset(s, 0, sizeof(*s));
}

static int blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r';
}

static char *trim_dup(const char *b, const char *e)
{
    char *r;

    while (b < e && blank(*b))
        b++;
    while (e > b && blank(e[-1]))
        e--;
    r = OPENSSL_malloc((size_t)(e - b) + 1);
    if (r != NULL) {
        memcpy(r, b, (size_t)(e - b));
        r[e - b] = '\0';
    }
    return r;
}

static void scan_add(SCAN *s, const char *section, char *key, char *raw, long line, int in_main,
                     int foreign)
{
    char *sect = OPENSSL_strdup(section);
    SCAN_ENT *ne = m2m_grow(s->e, s->n, &s->cap, sizeof(*ne), 64);

    if (ne == NULL)
        goto fail;
    s->e = ne;
    if (sect == NULL || key == NULL || raw == NULL)
        goto fail;
    s->e[s->n].section = sect;
    s->e[s->n].key = key;
    s->e[s->n].raw = raw;
    s->e[s->n].line = line;
    s->e[s->n].in_main = in_main;
    s->e[s->n].foreign = foreign;
    s->e[s->n].file = s->cur;
    s->n++;
    return;
fail:
    s->failed = 1;
    OPENSSL_free(sect);
    OPENSSL_free(key);
    OPENSSL_free(raw);
}

/* End of the part of [b, e) before a comment: '#' outside quotes, not escaped. */
static const char *comment_start(const char *b, const char *e)
{
    for (const char *p = b; p < e; p++) {
        if (*p == '\\' && p + 1 < e) {
            p++;
        } else if (*p == '"' || *p == '\'') {
            const char *q = p + 1;

            while (q < e && *q != *p) {
                if (*q == '\\' && q + 1 < e)
                    q++;
                q++;
            }
            if (q >= e)
                return e;
            p = q;
        } else if (*p == '#') {
            return p;
        }
    }
    return e;
}

static void scan_text(SCAN *s, const char *text, size_t len, char **section, int in_main,
                      int depth);

static int has_suffix(const char *name, const char *sfx)
{
    size_t n = strlen(name), k = strlen(sfx);

    return n > k && strcasecmp(name + n - k, sfx) == 0;
}

static void scan_file(SCAN *s, const char *path, char **section, int depth)
{
    unsigned char *text = NULL;
    size_t len = 0;
    M2M_ERRMSG err;

    if (s->nfiles < MAX_SCAN_FILES &&
        m2m_cf_read(path, 0, CNF_MAX_BYTES, "included file", &text, &len, &err)) {
        size_t prev = s->cur;

        s->files[s->nfiles] = OPENSSL_strdup(path);
        if (s->files[s->nfiles] == NULL)
            s->failed = 1;
        s->cur = s->nfiles++;
        scan_text(s, (const char *)text, len, section, 0, depth);
        s->cur = prev;
        OPENSSL_free(text);
    }
}

/* .include PATH: a file, or every *.cnf / *.conf of a directory (as libcrypto). */
static void scan_include(SCAN *s, const char *arg, char **section, int depth)
{
    char path[PATH_MAX];
    const char *dir = secure_getenv("OPENSSL_CONF_INCLUDE");
    struct stat st;
    DIR *d;
    struct dirent *de;

    if (depth >= MAX_INCLUDE_DEPTH || arg[0] == '\0' || strpbrk(arg, "$\"'\\") != NULL)
        return;
    if (arg[0] != '/' && dir != NULL && dir[0] != '\0')
        snprintf(path, sizeof(path), "%s/%s", dir, arg);
    else
        snprintf(path, sizeof(path), "%s", arg);
    if (stat(path, &st) != 0)
        return;
    if (!S_ISDIR(st.st_mode)) {
        scan_file(s, path, section, depth + 1);
        return;
    }
    d = opendir(path);
    if (d == NULL)
        return;
    while ((de = readdir(d)) != NULL) {
        char sub[PATH_MAX];

        if (!has_suffix(de->d_name, ".cnf") && !has_suffix(de->d_name, ".conf"))
            continue;
        if ((size_t)snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name) >= sizeof(sub))
            continue;
        scan_file(s, sub, section, depth + 1);
    }
    closedir(d);
}

static void scan_text(SCAN *s, const char *text, size_t len, char **section, int in_main, int depth)
{
    const char *p = text, *end = text + len;
    long line = 0;

    while (p < end && !s->failed) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl != NULL ? nl : end, *b = p, *stop;
        long first = ++line;

        /* a line ending in a backslash continues on the next one */
        while (nl != NULL && le > p && le[-1] == '\\') {
            const char *nn = memchr(nl + 1, '\n', (size_t)(end - nl - 1));

            line++;
            nl = nn;
            le = nn != NULL ? nn : end;
        }
        while (b < le && blank(*b))
            b++;
        stop = comment_start(b, le);
        while (stop > b && blank(stop[-1]))
            stop--;
        if (b == stop) {
            /* blank or comment */
        } else if (*b == '[') {
            const char *close = memchr(b, ']', (size_t)(stop - b));

            if (close != NULL) {
                char *ns = trim_dup(b + 1, close);

                if (ns == NULL) {
                    s->failed = 1;
                    break;
                }
                OPENSSL_free(*section);
                *section = ns;
            }
        } else if (*b == '.') {
            if (stop - b > 8 && strncmp(b, ".include", 8) == 0 && (blank(b[8]) || b[8] == '=')) {
                const char *a = b + 8;
                char *arg;

                while (a < stop && blank(*a))
                    a++;
                if (a < stop && *a == '=')
                    a++;
                arg = trim_dup(a, stop);
                if (arg == NULL) {
                    s->failed = 1;
                    break;
                }
                scan_include(s, arg, section, depth);
                OPENSSL_free(arg);
            }
            /* .pragma and others: nothing to locate */
        } else {
            const char *eq = memchr(b, '=', (size_t)(stop - b));
            const char *ke = eq != NULL ? eq : stop, *colon = NULL;
            char *key, *raw;

            for (const char *q = b; q + 1 < ke; q++)
                if (q[0] == ':' && q[1] == ':') {
                    colon = q;
                    break;
                }
            raw = trim_dup(eq != NULL ? eq + 1 : stop, stop);
            if (colon != NULL) {
                char *sect = trim_dup(b, colon);

                key = trim_dup(colon + 2, ke);
                if (sect == NULL) {
                    s->failed = 1;
                    OPENSSL_free(key);
                    OPENSSL_free(raw);
                    break;
                }
                scan_add(s, sect, key, raw, first, in_main, 1);
                OPENSSL_free(sect);
            } else {
                key = trim_dup(b, ke);
                scan_add(s, *section, key, raw, first, in_main, 0);
            }
        }
        p = nl != NULL ? nl + 1 : end;
    }
}

/* The scan of @p text (the file @p file itself) and of what it includes. 0 if memory ran out. */
static int scan_all(SCAN *s, const char *file, const char *text, size_t len)
{
    char *section = OPENSSL_strdup("default");

    memset(s, 0, sizeof(*s));
    s->files[0] = OPENSSL_strdup(file);
    s->nfiles = 1;
    if (section == NULL || s->files[0] == NULL) {
        OPENSSL_free(section);
        return 0;
    }
    scan_text(s, text, len, &section, 1, 0);
    OPENSSL_free(section);
    return !s->failed;
}

/* Entries of @p key in @p section: how many, the last line in the file itself, a foreign one. */
static size_t scan_find(const SCAN *s, const char *section, const char *key, long *last_main,
                        long *other_line, const SCAN_ENT **last, const SCAN_ENT **foreign)
{
    size_t c = 0;

    *last_main = 0;
    *other_line = 0;
    *last = NULL;
    *foreign = NULL;
    for (size_t i = 0; i < s->n; i++) {
        const SCAN_ENT *e = &s->e[i];

        if (strcmp(e->section, section) != 0 || strcmp(e->key, key) != 0)
            continue;
        c++;
        if (e->in_main) {
            if (*last_main != 0)
                *other_line = *last_main;
            *last_main = e->line;
        }
        *last = e;
        if (e->foreign && *foreign == NULL)
            *foreign = e;
    }
    return c;
}

/* An unescaped '$' outside quotes: a variable reference that NCONF expands. */
static int has_variable(const char *raw)
{
    for (const char *p = raw; *p != '\0'; p++) {
        if (*p == '\\' && p[1] != '\0') {
            p++;
        } else if (*p == '"' || *p == '\'') {
            const char *q = strchr(p + 1, *p);

            if (q == NULL)
                return 0;
            p = q;
        } else if (*p == '$') {
            return 1;
        }
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Sections                                                            */
/* ------------------------------------------------------------------ */

static STACK_OF(CONF_VALUE) * section_of(const CONF *cnf, const char *name)
{
    STACK_OF(CONF_VALUE) * sk;

    if (name == NULL || name[0] == '\0')
        return NULL;
    ERR_set_mark();
    sk = NCONF_get_section(cnf, name);
    ERR_pop_to_mark();
    return sk;
}

/* The provider name a [providers] entry gives: identity = ..., else the name after its first '.'.
 */
static const char *entry_provider(const CONF *cnf, const CONF_VALUE *cv)
{
    STACK_OF(CONF_VALUE) *sk = section_of(cnf, cv->value);
    const char *dot = strchr(cv->name, '.'), *name = dot != NULL ? dot + 1 : cv->name;

    for (int i = 0; sk != NULL && i < sk_CONF_VALUE_num(sk); i++) {
        const CONF_VALUE *v = sk_CONF_VALUE_value(sk, i);
        const char *d = strchr(v->name, '.');

        if (strcmp(d != NULL ? d + 1 : v->name, "identity") == 0)
            name = v->value;
    }
    return name;
}

/* A module name of an init section is "providers" up to its last '.'. */
static int is_providers_module(const char *name)
{
    const char *dot = strrchr(name, '.');
    size_t n = dot != NULL ? (size_t)(dot - name) : strlen(name);

    return n == 9 && strncmp(name, "providers", 9) == 0;
}

#define MAX_CANDIDATES 16

/* Sections of @p cnf that configure provider @p provname; their count. */
static int find_sections(const CONF *cnf, const char *provname, const char *out[MAX_CANDIDATES])
{
    STACK_OF(CONF_VALUE) *def = section_of(cnf, "default");
    int n = 0;

    for (int i = 0; def != NULL && i < sk_CONF_VALUE_num(def); i++) {
        STACK_OF(CONF_VALUE) *init = section_of(cnf, sk_CONF_VALUE_value(def, i)->value);

        for (int j = 0; init != NULL && j < sk_CONF_VALUE_num(init); j++) {
            const CONF_VALUE *m = sk_CONF_VALUE_value(init, j);
            STACK_OF(CONF_VALUE) * provs;

            if (!is_providers_module(m->name))
                continue;
            provs = section_of(cnf, m->value);
            for (int k = 0; provs != NULL && k < sk_CONF_VALUE_num(provs); k++) {
                const CONF_VALUE *e = sk_CONF_VALUE_value(provs, k);
                int dup = 0;

                if (strcmp(entry_provider(cnf, e), provname) != 0 ||
                    section_of(cnf, e->value) == NULL)
                    continue;
                for (int c = 0; c < n; c++)
                    dup |= strcmp(out[c], e->value) == 0;
                if (!dup && n < MAX_CANDIDATES)
                    out[n++] = e->value;
            }
        }
    }
    return n;
}

/* Does section @p sect hold exactly the values the core gave? */
static int section_matches(const CONF *cnf, const char *sect, const char *const core[M2M_CK_COUNT])
{
    STACK_OF(CONF_VALUE) *sk = section_of(cnf, sect);
    const char *fv[M2M_CK_COUNT] = {NULL};

    for (int i = 0; sk != NULL && i < sk_CONF_VALUE_num(sk); i++) {
        const CONF_VALUE *cv = sk_CONF_VALUE_value(sk, i);
        int k = key_index(cv->name);

        /* a value naming a section reaches the provider as KEY.*, not as KEY */
        if (k >= 0)
            fv[k] = section_of(cnf, cv->value) != NULL ? NULL : cv->value;
    }
    for (int k = 0; k < M2M_CK_COUNT; k++) {
        if ((fv[k] == NULL) != (core[k] == NULL))
            return 0;
        if (fv[k] != NULL && strcmp(fv[k], core[k]) != 0)
            return 0;
    }
    return 1;
}

void m2m_cnf_where(const M2M_CNF_SOURCE *src, int key, char *out, size_t cap)
{
    if (src == NULL || src->file[0] == '\0')
        snprintf(out, cap, "the provider's configuration section");
    else if (key >= 0 && key < M2M_CK_COUNT && src->line[key] > 0)
        snprintf(out, cap, "config file %s line %ld", src->file, src->line[key]);
    else
        snprintf(out, cap, "config file %s, section [%s]", src->file, src->section);
}

static int list_names(char *out, size_t cap, int from, int to)
{
    size_t o = 0;

    out[0] = '\0';
    for (int i = from; i < to && o < cap; i++) {
        int w = snprintf(out + o, cap - o, "%s%s", i > from ? ", " : "", m2m_cnf_keys[i]);

        if (w < 0)
            return 0;
        o += (size_t)w;
    }
    return 1;
}

/* The strict check of one section (and, with @p values, of its session values). */
static int check_section(const CONF *cnf, const SCAN *sc, const char *file, const char *sect,
                         int values, M2M_CNF_SOURCE *src, M2M_ERRMSG *err)
{
    STACK_OF(CONF_VALUE) *sk = section_of(cnf, sect);
    M2M_SESSION_VALUES sv;
    char where[4096 + 300];
    int ok = 0;

    memset(src, 0, sizeof(*src));
    memset(&sv, 0, sizeof(sv));
    snprintf(src->file, sizeof(src->file), "%s", file);
    snprintf(src->section, sizeof(src->section), "%s", sect);
    for (int i = 0; sk != NULL && i < sk_CONF_VALUE_num(sk); i++) {
        const CONF_VALUE *cv = sk_CONF_VALUE_value(sk, i);
        const SCAN_ENT *last, *foreign;
        long line, other;
        size_t count = scan_find(sc, sect, cv->name, &line, &other, &last, &foreign);
        int k = key_index(cv->name);

        if (line > 0)
            snprintf(where, sizeof(where), "config file %s line %ld", file, line);
        else if (last != NULL)
            snprintf(where, sizeof(where), "config file %s line %ld (included from %s)",
                     sc->files[last->file], last->line, file);
        else
            snprintf(where, sizeof(where), "config file %s, section [%s]", file, sect);
        if (k < 0) {
            char mine[600], ossl[100];

            list_names(mine, sizeof(mine), 0, M2M_CK_MODULE);
            list_names(ossl, sizeof(ossl), M2M_CK_MODULE, M2M_CK_COUNT);
            m2m_errmsg_set(err,
                           "%s: unknown key '%s' in [%s], the m2msec provider's section (m2msec "
                           "knows: %s; OpenSSL: %s)",
                           where, cv->name, sect, mine, ossl);
            goto end;
        }
        src->line[k] = line;
        if (section_of(cnf, cv->value) != NULL) {
            m2m_errmsg_set(err,
                           "%s: the value of '%s' in [%s] names the section [%s]: OpenSSL would "
                           "pass that section's keys as %s.* instead; write the value itself",
                           where, cv->name, sect, cv->value, cv->name);
            goto end;
        }
        if (count > 1 && other > 0) {
            m2m_errmsg_set(err,
                           "%s: key '%s' appears twice in [%s] (also at line %ld); OpenSSL would "
                           "silently keep only the last one",
                           where, cv->name, sect, other);
            goto end;
        }
        if (count > 1) {
            m2m_errmsg_set(err,
                           "%s: key '%s' is written more than once for [%s] (also in a file it "
                           "includes); OpenSSL would silently keep only the last one",
                           where, cv->name, sect);
            goto end;
        }
        if (foreign != NULL && k < M2M_CK_MODULE) {
            m2m_errmsg_set(err,
                           "config file %s line %ld: '%s::%s' sets a key of m2msec's section "
                           "from elsewhere (a cross-section reference); write it in [%s]",
                           file, foreign->line, sect, cv->name, sect);
            goto end;
        }
        if (k < M2M_CK_MODULE && last != NULL && has_variable(last->raw)) {
            m2m_errmsg_set(err,
                           "%s: the value of '%s' is a variable reference ('%s'); write the "
                           "value itself",
                           where, cv->name, last->raw);
            goto end;
        }
        if (k == M2M_CK_POLICY && cv->value[0] != '/') {
            m2m_errmsg_set(err,
                           "%s: policy = '%s' is not an absolute path (a relative one would "
                           "depend on the application's working directory)",
                           where, cv->value);
            goto end;
        }
        if (values && k < M2M_SK_COUNT &&
            !m2m_session_set(&sv, (M2M_SKEY)k, cv->value, where, line, err))
            goto end;
    }
    ok = 1;
end:
    m2m_session_values_clear(&sv);
    return ok;
}

/* Load @p file into cnf (NCONF) and the scan, from the same bytes. */
/*
 * The file to read for @p file: @p file itself, or, when @p file is a
 * symlink owned by root or by the effective user, the file it resolves to
 * (realpath into @p buf). Debian's openssl package makes OpenSSL's default
 * file /usr/lib/ssl/openssl.cnf such a symlink to /etc/ssl/openssl.cnf.
 * OpenSSL has already read the configuration through the same link, so
 * following it shows this check the file OpenSSL used and nothing more; a
 * link someone else owns is still refused by m2m_cf_read.
 */
static const char *conf_target(const char *file, char buf[PATH_MAX])
{
    struct stat st;

    if (lstat(file, &st) != 0 || !S_ISLNK(st.st_mode))
        return file;
    if (st.st_uid != 0 && st.st_uid != geteuid())
        return file;
    return realpath(file, buf) != NULL ? buf : file;
}

/* With @p follow, a symlink @p file is read as conf_target() allows. */
static int load_file(const char *file, int follow, CONF **cnf, SCAN *sc, M2M_ERRMSG *err)
{
    unsigned char *text = NULL;
    size_t len = 0;
    BIO *bio = NULL;
    long eline = -1;
    int ok = 0;
    char target[PATH_MAX];

    *cnf = NULL;
    memset(sc, 0, sizeof(*sc));
    if (!m2m_cf_read(follow ? conf_target(file, target) : file, 0, CNF_MAX_BYTES, "config file",
                     &text, &len, err))
        return 0;
    ERR_set_mark();
    *cnf = NCONF_new(NULL);
    bio = BIO_new_mem_buf(text, (int)len);
    if (*cnf == NULL || bio == NULL) {
        m2m_errmsg_set(err, "config file %s: out of memory", file);
        goto end;
    }
    if (NCONF_load_bio(*cnf, bio, &eline) <= 0) {
        if (eline > 0)
            m2m_errmsg_set(err, "config file %s line %ld: syntax error (OpenSSL cannot parse it)",
                           file, eline);
        else
            m2m_errmsg_set(err, "config file %s: OpenSSL cannot parse it", file);
        goto end;
    }
    if (!scan_all(sc, file, (const char *)text, len)) {
        m2m_errmsg_set(err, "config file %s: out of memory", file);
        goto end;
    }
    ok = 1;
end:
    ERR_pop_to_mark();
    BIO_free(bio);
    OPENSSL_free(text);
    if (!ok) {
        NCONF_free(*cnf);
        *cnf = NULL;
        scan_free(sc);
    }
    return ok;
}

int m2m_cnf_check(const char *provname, const char *const core[M2M_CK_COUNT], M2M_CNF_SOURCE *src,
                  M2M_ERRMSG *err)
{
    const char *cand[MAX_CANDIDATES];
    char *file;
    CONF *cnf = NULL;
    SCAN sc;
    int any = 0, n, matched = 0, ok = 0;
    M2M_ERRMSG why;

    memset(src, 0, sizeof(*src));
    if (provname == NULL)
        provname = "m2msec";
    for (int k = 0; k < M2M_CK_COUNT; k++)
        any |= core[k] != NULL;
    ERR_set_mark();
    file = CONF_get1_default_config_file();
    ERR_pop_to_mark();
    if (file == NULL) {
        if (!any)
            return 1;
        m2m_errmsg_set(err, "cannot determine OpenSSL's configuration file to check the "
                            "provider's section (out of memory)");
        return 0;
    }
    /*
     * The link is followed only when the core handed over keys, i.e. a
     * configuration did configure the provider: then its section must be
     * found and checked. Without keys the load stays as it was (a file that
     * cannot be read leaves nothing to check).
     */
    if (!load_file(file, any, &cnf, &sc, &why)) {
        if (!any) { /* no configuration reached the provider: nothing to check */
            ok = 1;
            goto end;
        }
        m2m_errmsg_set(err,
                       "the m2msec provider's configuration section cannot be checked for "
                       "unknown keys: %s",
                       why.text);
        goto end;
    }
    n = find_sections(cnf, provname, cand);
    for (int i = 0; i < n; i++) {
        if (!section_matches(cnf, cand[i], core))
            continue;
        if (!check_section(cnf, &sc, file, cand[i], 0, src, err))
            goto end;
        matched = 1;
    }
    if (!matched && any) {
        m2m_errmsg_set(err,
                       "the m2msec provider's configuration section cannot be checked for "
                       "unknown keys: it is not in %s, the file OpenSSL reads by default "
                       "(OPENSSL_CONF, else its default file), or that file's section for "
                       "provider '%s' has other values; run the application with "
                       "OPENSSL_CONF naming the file that configures m2msec",
                       file, provname);
        goto end;
    }
    if (!matched)
        memset(src, 0, sizeof(*src));
    ok = 1;
end:
    scan_free(&sc);
    NCONF_free(cnf);
    OPENSSL_free(file);
    return ok;
}

int m2m_cnf_check_file(const char *file, const char *provname, M2M_CNF_SOURCE *src, M2M_ERRMSG *err)
{
    const char *cand[MAX_CANDIDATES];
    CONF *cnf = NULL;
    SCAN sc;
    int n, ok = 0;

    memset(src, 0, sizeof(*src));
    if (!load_file(file, 1, &cnf, &sc, err))
        return 0;
    n = find_sections(cnf, provname != NULL ? provname : "m2msec", cand);
    for (int i = 0; i < n; i++)
        if (!check_section(cnf, &sc, file, cand[i], 1, src, err))
            goto end;
    ok = 1;
end:
    scan_free(&sc);
    NCONF_free(cnf);
    return ok;
}
