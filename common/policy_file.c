/* SPDX-License-Identifier: Apache-2.0 */
/*
 * common: the strict policy-file reader and the session-policy values
 * (policy_file.h).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <openssl/crypto.h>

#include "policy_file.h"
#include "io.h"
#include "text.h"

const char *const m2m_skey_names[M2M_SK_COUNT] = {M2M_SKEY_NAMES};

const char *const m2m_aead_names[M2M_PF_NAEADS] = {
    "M2M-REC-AES-128-GCM", "M2M-REC-AES-256-GCM", "M2M-REC-CHACHA20-POLY1305",
    "M2M-REC-AES-128-CCM", M2M_PF_AEAD_CCM8,
};

static const char *const integrity_keys[] = {"default_action", "quarantine_dir", "log",
                                             "repository", "quarantine_copy_max"};
#define N_INTEGRITY_KEYS (sizeof(integrity_keys) / sizeof(integrity_keys[0]))

static const char *const section_names[] = {"session", "integrity", "rules", "association"};
enum { SECT_SESSION, SECT_INTEGRITY, SECT_RULES, SECT_ASSOCIATION, NSECT, SECT_EXEC = NSECT };

const char *const m2m_assoc_suite_names[M2M_PF_ASSOC_NSUITES] = {
    "PSK-AES128-CBC-SHA256",       "PSK-AES128-CCM8",
    "PSK-AES128-GCM-SHA256",       "PSK-AES128-CCM",
    "ECDHE-PSK-AES128-CBC-SHA256", "ECDHE-PSK-CHACHA20-POLY1305",
    "TLS_AES_128_GCM_SHA256",      "TLS_CHACHA20_POLY1305_SHA256",
};
static const char *const assoc_keys[M2M_AK_COUNT] = {
    "suites", "min_version", "forward_secrecy", "max_lifetime", "max_records", "max_bytes"};
#define EXEC_PREFIX "exec."

int m2m_skey_lookup(const char *name)
{
    for (int i = 0; i < M2M_SK_COUNT; i++)
        if (strcmp(name, m2m_skey_names[i]) == 0)
            return i;
    return -1;
}

/* ------------------------------------------------------------------ */
/* Values                                                              */
/* ------------------------------------------------------------------ */

static int set_u64(const char *key, const char *v, uint64_t lo, uint64_t hi, const char *where,
                   uint64_t *out, M2M_ERRMSG *err)
{
    uint64_t x = 0;

    switch (m2m_dec_parse_str(v, UINT64_MAX, 0, &x)) {
    case M2M_DEC_OK:
        break;
    case M2M_DEC_LEADING_ZERO:
        m2m_errmsg_set(err,
                       "%s: policy %s = '%s' has a leading zero (plain decimal only; it is not "
                       "octal)",
                       where, key, v);
        return 0;
    case M2M_DEC_TOO_BIG:
        m2m_errmsg_set(err, "%s: policy %s = %s is out of range [%llu, %llu]", where, key, v,
                       (unsigned long long)lo, (unsigned long long)hi);
        return 0;
    default:
        m2m_errmsg_set(err,
                       "%s: policy %s = '%s' is not a decimal number (digits only: no sign, "
                       "unit or 0x)",
                       where, key, v);
        return 0;
    }
    if (x < lo || x > hi) {
        m2m_errmsg_set(err, "%s: policy %s = %s is out of range [%llu, %llu]", where, key, v,
                       (unsigned long long)lo, (unsigned long long)hi);
        return 0;
    }
    *out = x;
    return 1;
}

static int set_bool(const char *key, const char *v, const char *where, int *out, M2M_ERRMSG *err)
{
    if (strcasecmp(v, "yes") == 0 || strcasecmp(v, "true") == 0 || strcmp(v, "1") == 0) {
        *out = 1;
    } else if (strcasecmp(v, "no") == 0 || strcasecmp(v, "false") == 0 || strcmp(v, "0") == 0) {
        *out = 0;
    } else {
        m2m_errmsg_set(err, "%s: policy %s = '%s' is not yes or no", where, key, v);
        return 0;
    }
    return 1;
}

static int has_control(const char *s)
{
    for (; *s != '\0'; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return 1;
    return 0;
}

static int set_aeads(const char *v, const char *where, unsigned *mask, M2M_ERRMSG *err)
{
    const char *p = v;
    unsigned m = 0;

    while (*p != '\0') {
        size_t n;
        size_t i;

        while (*p == ',' || *p == ' ' || *p == '\t')
            p++;
        if (*p == '\0')
            break;
        n = strcspn(p, ", \t");
        for (i = 0; i < M2M_PF_NAEADS; i++)
            if (strlen(m2m_aead_names[i]) == n && memcmp(p, m2m_aead_names[i], n) == 0)
                break;
        if (i == M2M_PF_NAEADS) {
            for (i = 0; i < M2M_PF_NAEADS; i++)
                if (strlen(m2m_aead_names[i]) == n && strncasecmp(p, m2m_aead_names[i], n) == 0)
                    break;
            if (i < M2M_PF_NAEADS)
                m2m_errmsg_set(err,
                               "%s: policy allowed_aeads names '%.*s': names are exact (the "
                               "label is bound into session keys); write '%s'",
                               where, (int)(n > 64 ? 64 : n), p, m2m_aead_names[i]);
            else
                m2m_errmsg_set(err,
                               "%s: policy allowed_aeads names '%.*s', which is not an M2M-REC "
                               "cipher",
                               where, (int)(n > 64 ? 64 : n), p);
            return 0;
        }
        m |= 1u << i;
        p += n;
    }
    if (m == 0) {
        m2m_errmsg_set(err, "%s: policy allowed_aeads is empty", where);
        return 0;
    }
    *mask = m;
    return 1;
}

int m2m_session_set(M2M_SESSION_VALUES *sv, M2M_SKEY key, const char *v, const char *where,
                    long line, M2M_ERRMSG *err)
{
    const char *name;
    uint64_t x = 0;
    int ok;

    if ((int)key < 0 || key >= M2M_SK_COUNT) {
        m2m_errmsg_set(err, "%s: not a session-policy key", where);
        return 0;
    }
    name = m2m_skey_names[key];
    switch (key) {
    case M2M_SK_MAX_LIFETIME:
        ok = set_u64(name, v, 1, M2M_PF_MAX_LIFETIME_CEIL, where, &x, err);
        break;
    case M2M_SK_MIN_KEY_BITS:
        ok = set_u64(name, v, M2M_PF_MIN_KEY_BITS_FLOOR, M2M_PF_MIN_KEY_BITS_CEIL, where, &x, err);
        if (ok && x % 8 != 0) {
            m2m_errmsg_set(err, "%s: policy min_key_bits = %s is not a multiple of 8", where, v);
            ok = 0;
        }
        break;
    case M2M_SK_REPLAY_WINDOW:
        ok = set_u64(name, v, M2M_PF_REPLAY_MIN, M2M_PF_REPLAY_MAX, where, &x, err);
        break;
    case M2M_SK_MAX_RECORDS:
    case M2M_SK_MAX_BYTES:
    case M2M_SK_MAX_FAILURES:
        ok = set_u64(name, v, 1, UINT64_MAX, where, &x, err);
        break;
    case M2M_SK_MAX_STATUS_AGE:
        ok = set_u64(name, v, 1, M2M_PF_MAX_STATUS_AGE_CEIL, where, &x, err);
        break;
    case M2M_SK_ALLOWED_AEADS:
        ok = set_aeads(v, where, &sv->aeads, err);
        break;
    case M2M_SK_REQUIRE_INTEGRITY:
        ok = set_bool(name, v, where, &sv->require_integrity, err);
        break;
    case M2M_SK_INTEGRITY_STATUS:
    case M2M_SK_DEVICE_KEY_FILE:
    case M2M_SK_MANIFEST_STATE: {
        char *copy;

        if (v[0] != '/' || has_control(v)) {
            m2m_errmsg_set(err,
                           "%s: policy %s = '%s' is not an absolute path (a relative one would "
                           "depend on the application's working directory)",
                           where, name, v);
            return 0;
        }
        copy = OPENSSL_strdup(v);
        if (copy == NULL) {
            m2m_errmsg_set(err, "%s: out of memory", where);
            return 0;
        }
        OPENSSL_free(sv->path[key]);
        sv->path[key] = copy;
        ok = 1;
        break;
    }
    default:
        ok = 0;
        break;
    }
    if (!ok)
        return 0;
    sv->num[key] = x;
    sv->set |= 1u << key;
    sv->line[key] = line;
    return 1;
}

void m2m_session_values_clear(M2M_SESSION_VALUES *sv)
{
    for (int i = 0; i < M2M_SK_COUNT; i++)
        OPENSSL_free(sv->path[i]);
    memset(sv, 0, sizeof(*sv));
}

int m2m_pf_action_parse(const char *text)
{
    static const char *const words[] = {"deny", "quarantine", "alert", "remediate"};

    for (int i = 0; i < 4; i++)
        if (strcasecmp(text, words[i]) == 0)
            return M2M_PF_DENY + i;
    return 0;
}

/* ------------------------------------------------------------------ */
/* The file                                                            */
/* ------------------------------------------------------------------ */

typedef struct parser {
    const char *path;
    M2M_POLICY_FILE *pf;
    M2M_ERRMSG *err;
    long line;
    char where[64 + 4096];
    long sect_line[NSECT];
    long integ_line[N_INTEGRITY_KEYS];
    size_t rules_cap, execs_cap;
    long exec_requires_line; /* "requires" of the current [exec.PROGRAM] */
} PARSER;

__attribute__((format(printf, 2, 3))) static int fail(PARSER *ps, const char *fmt, ...)
{
    char msg[M2M_ERRMSG_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (ps->line > 0)
        m2m_errmsg_set(ps->err, "policy file %s line %ld: %s", ps->path, ps->line, msg);
    else
        m2m_errmsg_set(ps->err, "policy file %s: %s", ps->path, msg);
    return 0;
}

static int is_blank(char c)
{
    return c == ' ' || c == '\t';
}

static int key_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
}

/* What a rule pattern may hold: the characters OpenSSL's parser always accepted in a name. */
static int pattern_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != '\0' && strchr("!%&*+,-./;?@^~|_\\", c) != NULL);
}

static char *dup_range(const char *b, size_t n)
{
    char *s = OPENSSL_malloc(n + 1);

    if (s != NULL) {
        memcpy(s, b, n);
        s[n] = '\0';
    }
    return s;
}

static int set_abs_path(PARSER *ps, const char *key, const char *v, char **dst)
{
    char *copy;

    if (v[0] != '/')
        return fail(ps, "%s = '%s' is not an absolute path", key, v);
    copy = OPENSSL_strdup(v);
    if (copy == NULL)
        return fail(ps, "out of memory");
    OPENSSL_free(*dst);
    *dst = copy;
    return 1;
}

static int is_url(const char *s)
{
    return strncasecmp(s, "http://", 7) == 0 || strncasecmp(s, "https://", 8) == 0;
}

static int set_repository(PARSER *ps, const char *v)
{
    char *copy;

    if (!is_url(v))
        return set_abs_path(ps, "repository", v, &ps->pf->repository);
    if (strpbrk(v, " \t?#") != NULL || strlen(v) < 9 ||
        v[strncasecmp(v, "https://", 8) == 0 ? 8 : 7] == '\0' ||
        v[strncasecmp(v, "https://", 8) == 0 ? 8 : 7] == '/')
        return fail(ps, "repository URL must be http:// or https:// followed by a host, with no "
                        "blanks, query or fragment");
    copy = OPENSSL_strdup(v);
    if (copy == NULL)
        return fail(ps, "out of memory");
    OPENSSL_free(ps->pf->repository);
    ps->pf->repository = copy;
    return 1;
}

static int list_known(char *out, size_t cap, const char *const *names, size_t n)
{
    size_t o = 0;

    out[0] = '\0';
    for (size_t i = 0; i < n && o < cap; i++) {
        int w = snprintf(out + o, cap - o, "%s%s", i > 0 ? ", " : "", names[i]);

        if (w < 0)
            return 0;
        o += (size_t)w;
    }
    return 1;
}

static int session_entry(PARSER *ps, const char *key, const char *v)
{
    M2M_SESSION_VALUES *sv = &ps->pf->session;
    int k = m2m_skey_lookup(key);

    if (k < 0) {
        char known[512];

        list_known(known, sizeof(known), m2m_skey_names, M2M_SK_COUNT);
        return fail(ps, "unknown key '%s' in [session] (known: %s)", key, known);
    }
    if (sv->set & (1u << k))
        return fail(ps, "key '%s' appears twice in [session] (first at line %ld)", key,
                    sv->line[k]);
    snprintf(ps->where, sizeof(ps->where), "policy file %s line %ld", ps->path, ps->line);
    return m2m_session_set(sv, (M2M_SKEY)k, v, ps->where, ps->line, ps->err);
}

static int assoc_suites(PARSER *ps, const char *v, unsigned *mask)
{
    const char *p = v;
    unsigned m = 0;

    while (*p != '\0') {
        size_t n, i;

        while (*p == ',' || *p == ' ')
            p++;
        if (*p == '\0')
            break;
        n = strcspn(p, ", ");
        for (i = 0; i < M2M_PF_ASSOC_NSUITES; i++)
            if (strlen(m2m_assoc_suite_names[i]) == n &&
                memcmp(p, m2m_assoc_suite_names[i], n) == 0)
                break;
        if (i == M2M_PF_ASSOC_NSUITES)
            return fail(ps,
                        "suites names '%.*s', which is not a suite of the association profile "
                        "(docs/POLICY.md section 5)",
                        (int)(n > 64 ? 64 : n), p);
        m |= 1u << i;
        p += n;
    }
    if (m == 0)
        return fail(ps, "suites is empty");
    *mask = m;
    return 1;
}

static int association_entry(PARSER *ps, const char *key, const char *v)
{
    M2M_ASSOC_VALUES *av = &ps->pf->association;
    uint64_t x = 0;
    int k;

    for (k = 0; k < M2M_AK_COUNT; k++)
        if (strcmp(key, assoc_keys[k]) == 0)
            break;
    if (k == M2M_AK_COUNT)
        return fail(ps,
                    "unknown key '%s' in [association] (known: suites, min_version, "
                    "forward_secrecy, max_lifetime, max_records, max_bytes)",
                    key);
    if (av->set & (1u << k))
        return fail(ps, "key '%s' appears twice in [association] (first at line %ld)", key,
                    av->line[k]);
    snprintf(ps->where, sizeof(ps->where), "policy file %s line %ld", ps->path, ps->line);
    switch (k) {
    case M2M_AK_SUITES:
        if (!assoc_suites(ps, v, &av->suites))
            return 0;
        break;
    case M2M_AK_MIN_VERSION:
        if (strcmp(v, "1.2") == 0)
            x = 0x0303;
        else if (strcmp(v, "1.3") == 0)
            x = 0x0304;
        else
            return fail(ps, "min_version = '%s' is not 1.2 or 1.3", v);
        break;
    case M2M_AK_FORWARD_SECRECY:
        if (strcmp(v, "preferred") == 0)
            x = 0;
        else if (strcmp(v, "required") == 0)
            x = 1;
        else if (strcmp(v, "off") == 0)
            x = 2;
        else
            return fail(ps, "forward_secrecy = '%s' is not preferred, required or off", v);
        break;
    case M2M_AK_MAX_LIFETIME:
        if (!set_u64(key, v, 1, M2M_PF_MAX_LIFETIME_CEIL, ps->where, &x, ps->err))
            return 0;
        break;
    default:
        if (!set_u64(key, v, 1, UINT64_MAX, ps->where, &x, ps->err))
            return 0;
        break;
    }
    av->num[k] = x;
    av->set |= 1u << k;
    av->line[k] = ps->line;
    return 1;
}

static int integrity_entry(PARSER *ps, const char *key, const char *v)
{
    M2M_POLICY_FILE *pf = ps->pf;
    size_t k;

    for (k = 0; k < N_INTEGRITY_KEYS; k++)
        if (strcmp(key, integrity_keys[k]) == 0)
            break;
    if (k == N_INTEGRITY_KEYS)
        return fail(ps,
                    "unknown key '%s' in [integrity] (known: default_action, quarantine_dir, "
                    "log, repository, quarantine_copy_max)",
                    key);
    if (ps->integ_line[k] != 0)
        return fail(ps, "key '%s' appears twice in [integrity] (first at line %ld)", key,
                    ps->integ_line[k]);
    ps->integ_line[k] = ps->line;
    switch (k) {
    case 0:
        pf->default_action = m2m_pf_action_parse(v);
        pf->default_action_line = ps->line;
        if (pf->default_action == 0)
            return fail(ps, "default_action = '%s' is not deny, quarantine, alert or remediate", v);
        return 1;
    case 1:
        return set_abs_path(ps, key, v, &pf->quarantine_dir);
    case 2:
        return set_abs_path(ps, key, v, &pf->log);
    case 3:
        return set_repository(ps, v);
    default:
        switch (m2m_dec_parse_str(v, UINT64_MAX, 0, &pf->quarantine_copy_max)) {
        case M2M_DEC_OK:
            return 1;
        case M2M_DEC_TOO_BIG:
            return fail(ps, "quarantine_copy_max = %s is too large (at most %llu)", v,
                        (unsigned long long)UINT64_MAX);
        case M2M_DEC_LEADING_ZERO:
            return fail(ps, "quarantine_copy_max = '%s' has a leading zero (plain decimal only)",
                        v);
        default:
            return fail(ps,
                        "quarantine_copy_max = '%s' is not a number of bytes (digits only: no "
                        "sign or unit)",
                        v);
        }
    }
}

static int rule_entry(PARSER *ps, const char *pattern, const char *v)
{
    M2M_POLICY_FILE *pf = ps->pf;
    M2M_PF_RULE *r, *nr;
    int action;

    if (pattern[0] == '/')
        return fail(ps,
                    "rule pattern '%s' starts with '/': patterns match paths relative to the "
                    "root",
                    pattern);
    action = m2m_pf_action_parse(v);
    if (action == 0)
        return fail(ps, "rule '%s = %s': the action is not deny, quarantine, alert or remediate",
                    pattern, v);
    nr = m2m_grow(pf->rules, pf->nrules, &ps->rules_cap, sizeof(*nr), 16);
    if (nr == NULL)
        return fail(ps, "out of memory");
    pf->rules = nr;
    r = &pf->rules[pf->nrules];
    r->pattern = OPENSSL_strdup(pattern);
    if (r->pattern == NULL)
        return fail(ps, "out of memory");
    r->action = action;
    r->line = ps->line;
    pf->nrules++;
    return 1;
}

/* [exec.PROGRAM]: PROGRAM is b..e. */
static int exec_header(PARSER *ps, const char *b, const char *e, int *cur)
{
    M2M_POLICY_FILE *pf = ps->pf;
    M2M_PF_EXEC *x, *nx;
    size_t n = (size_t)(e - b);

    for (const char *p = b; p < e; p++)
        if (!pattern_char(*p) || *p == '\\')
            return fail(ps,
                        "syntax error: [exec.%.*s]: a program name holds letters, digits and "
                        "! %% & * + , - . / ; ? @ ^ ~ | _",
                        (int)(n > 80 ? 80 : n), b);
    for (size_t i = 0; i < pf->nexecs; i++)
        if (strlen(pf->execs[i].program) == n && memcmp(pf->execs[i].program, b, n) == 0)
            return fail(ps,
                        "section [exec.%s] appears twice (first at line %ld); write each "
                        "section once",
                        pf->execs[i].program, pf->execs[i].line);
    nx = m2m_grow(pf->execs, pf->nexecs, &ps->execs_cap, sizeof(*nx), 4);
    if (nx == NULL)
        return fail(ps, "out of memory");
    pf->execs = nx;
    x = &pf->execs[pf->nexecs];
    memset(x, 0, sizeof(*x));
    x->program = dup_range(b, n);
    if (x->program == NULL)
        return fail(ps, "out of memory");
    x->line = ps->line;
    pf->nexecs++;
    ps->exec_requires_line = 0;
    *cur = SECT_EXEC;
    return 1;
}

static int exec_entry(PARSER *ps, const char *name, const char *v)
{
    M2M_PF_EXEC *x = &ps->pf->execs[ps->pf->nexecs - 1];

    if (strcmp(name, "requires") != 0)
        return fail(ps, "unknown key '%s' in [exec.%s] (known: requires)", name, x->program);
    if (ps->exec_requires_line != 0)
        return fail(ps, "key 'requires' appears twice in [exec.%s] (first at line %ld)", x->program,
                    ps->exec_requires_line);
    ps->exec_requires_line = ps->line;
    x->requires = OPENSSL_strdup(v);
    return x->requires != NULL ? 1 : fail(ps, "out of memory");
}

/* A section header: b..e is the trimmed line, starting with '['. */
static int header(PARSER *ps, const char *b, const char *e, int *cur)
{
    const char *close = memchr(b, ']', (size_t)(e - b)), *nb = b + 1, *ne;
    size_t n;

    if (close == NULL)
        return fail(ps, "syntax error: '%.*s' has no closing ']'", (int)(e - b > 80 ? 80 : e - b),
                    b);
    if (close + 1 != e)
        return fail(ps, "syntax error: text after the section header '%.*s'",
                    (int)(close + 1 - b > 80 ? 80 : close + 1 - b), b);
    ne = close;
    while (nb < ne && is_blank(*nb))
        nb++;
    while (ne > nb && is_blank(ne[-1]))
        ne--;
    n = (size_t)(ne - nb);
    if (n > sizeof(EXEC_PREFIX) - 1 && memcmp(nb, EXEC_PREFIX, sizeof(EXEC_PREFIX) - 1) == 0)
        return exec_header(ps, nb + sizeof(EXEC_PREFIX) - 1, ne, cur);
    for (int s = 0; s < NSECT; s++)
        if (strlen(section_names[s]) == n && memcmp(nb, section_names[s], n) == 0) {
            if (ps->sect_line[s] != 0)
                return fail(ps,
                            "section [%s] appears twice (first at line %ld); write each section "
                            "once",
                            section_names[s], ps->sect_line[s]);
            ps->sect_line[s] = ps->line;
            *cur = s;
            return 1;
        }
    return fail(ps,
                "unknown section [%.*s] (known: [session], [integrity], [rules], "
                "[association], [exec.PROGRAM])",
                (int)(n > 80 ? 80 : n), nb);
}

/* One "key = value" line (trimmed, comment removed): b..e. */
static int assignment(PARSER *ps, const char *b, const char *e, int cur)
{
    const char *eq = memchr(b, '=', (size_t)(e - b)), *kb = b, *ke, *vb, *ve;
    char *key = NULL, *val = NULL;
    int ok = 0;

    if (eq == NULL)
        return fail(ps, "syntax error: '%.*s' is not 'key = value'", (int)(e - b > 80 ? 80 : e - b),
                    b);
    ke = eq;
    while (ke > kb && is_blank(ke[-1]))
        ke--;
    vb = eq + 1;
    while (vb < e && is_blank(*vb))
        vb++;
    ve = e;
    if (ke == kb)
        return fail(ps, "syntax error: no key before '='");
    key = dup_range(kb, (size_t)(ke - kb));
    val = dup_range(vb, (size_t)(ve - vb));
    if (key == NULL || val == NULL) {
        fail(ps, "out of memory");
        goto end;
    }
    if (strstr(key, "::") != NULL) {
        fail(ps, "cross-section reference '%s' is not allowed: write each key in its own section",
             key);
        goto end;
    }
    if (strchr(key, '$') != NULL || strchr(val, '$') != NULL) {
        fail(ps, "variable reference ('$') in '%s = %s' is not allowed: write the value itself",
             key, val);
        goto end;
    }
    if (cur < 0) {
        fail(ps,
             "'%s' is outside any section: keys belong to [session], [integrity], [rules], "
             "[association] or [exec.PROGRAM]",
             key);
        goto end;
    }
    for (const char *p = key; *p != '\0'; p++)
        if (cur == SECT_RULES ? !pattern_char(*p) : !key_char(*p)) {
            if (cur == SECT_RULES)
                fail(ps,
                     "syntax error: rule pattern '%s' holds '%c' (a pattern may hold letters, "
                     "digits and ! %% & * + , - . / ; ? @ ^ ~ | _ \\; match other characters "
                     "with '?')",
                     key, *p);
            else
                fail(ps, "syntax error: '%s' is not a key name (lowercase letters, digits, '_')",
                     key);
            goto end;
        }
    if (val[0] == '\0') {
        fail(ps, "'%s' has no value", key);
        goto end;
    }
    for (const char *p = val; *p != '\0'; p++) {
        if (*p == '"' || *p == '\'') {
            fail(ps, "quotes are not allowed in the value of '%s': write the value as it is", key);
            goto end;
        }
        if (*p == '\t') {
            fail(ps, "a tab inside the value of '%s' is not allowed", key);
            goto end;
        }
        if (*p == '\\') {
            fail(ps,
                 "a backslash (escape or line continuation) is not allowed in the value of "
                 "'%s'",
                 key);
            goto end;
        }
    }
    if (cur == SECT_SESSION)
        ok = session_entry(ps, key, val);
    else if (cur == SECT_INTEGRITY)
        ok = integrity_entry(ps, key, val);
    else if (cur == SECT_EXEC)
        ok = exec_entry(ps, key, val);
    else if (cur == SECT_ASSOCIATION)
        ok = association_entry(ps, key, val);
    else
        ok = rule_entry(ps, key, val);
end:
    OPENSSL_free(key);
    OPENSSL_free(val);
    return ok;
}

typedef struct {
    const char *pattern;
    long line;
} PAT;

static int pat_cmp(const void *a, const void *b)
{
    const PAT *x = a, *y = b;
    int c = strcmp(x->pattern, y->pattern);

    if (c != 0)
        return c;
    return (x->line > y->line) - (x->line < y->line);
}

/* The same pattern twice would be a silent ambiguity: refuse the first repetition in file order. */
static int rules_unique(PARSER *ps)
{
    M2M_POLICY_FILE *pf = ps->pf;
    PAT *v;
    long bad = 0, first = 0;
    const char *which = NULL;

    if (pf->nrules < 2)
        return 1;
    v = OPENSSL_malloc(pf->nrules * sizeof(*v));
    if (v == NULL)
        return fail(ps, "out of memory");
    for (size_t i = 0; i < pf->nrules; i++) {
        v[i].pattern = pf->rules[i].pattern;
        v[i].line = pf->rules[i].line;
    }
    qsort(v, pf->nrules, sizeof(*v), pat_cmp);
    for (size_t i = 1; i < pf->nrules; i++)
        if (strcmp(v[i].pattern, v[i - 1].pattern) == 0 && (bad == 0 || v[i].line < bad)) {
            size_t j = i - 1;

            while (j > 0 && strcmp(v[j - 1].pattern, v[i].pattern) == 0)
                j--;
            bad = v[i].line;
            first = v[j].line;
            which = v[i].pattern;
        }
    if (bad != 0) {
        ps->line = bad;
        fail(ps, "pattern '%s' appears twice in [rules] (first at line %ld)", which, first);
    }
    OPENSSL_free(v);
    return bad == 0;
}

/* Keys that the actions in use need. */
static int complete(PARSER *ps)
{
    M2M_POLICY_FILE *pf = ps->pf;
    int need_q = pf->default_action == M2M_PF_QUARANTINE || pf->default_action == M2M_PF_REMEDIATE;
    int need_repo = pf->default_action == M2M_PF_REMEDIATE;
    long qline = need_q ? pf->default_action_line : 0, rline = need_repo ? qline : 0;

    for (size_t i = 0; i < pf->nrules; i++) {
        int a = pf->rules[i].action;

        if ((a == M2M_PF_QUARANTINE || a == M2M_PF_REMEDIATE) && !need_q) {
            need_q = 1;
            qline = pf->rules[i].line;
        }
        if (a == M2M_PF_REMEDIATE && !need_repo) {
            need_repo = 1;
            rline = pf->rules[i].line;
        }
    }
    if (need_q && pf->quarantine_dir == NULL) {
        ps->line = qline;
        return fail(ps, "quarantine and remediate need quarantine_dir in [integrity]");
    }
    if (need_repo && pf->repository == NULL) {
        ps->line = rline;
        return fail(ps, "remediate needs repository in [integrity]");
    }
    return 1;
}

int m2m_policy_file_parse(const char *path, const char *text, size_t len, M2M_POLICY_FILE *pf,
                          M2M_ERRMSG *err)
{
    PARSER ps;
    const char *p = text, *end = text + len;
    int cur = -1, ok = 0;

    memset(pf, 0, sizeof(*pf));
    memset(&ps, 0, sizeof(ps));
    pf->default_action = M2M_PF_DENY;
    pf->quarantine_copy_max = M2M_PF_QUARANTINE_COPY_MAX_DEFAULT;
    ps.path = path != NULL ? path : "(policy)";
    ps.pf = pf;
    ps.err = err;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl != NULL ? nl : end, *b = p, *e;

        ps.line++;
        for (const char *q = p; q < le; q++) {
            if (*q == '\0') {
                fail(&ps, "NUL byte: not a text file");
                goto end;
            }
            if (*q == '\r') {
                fail(&ps, "CR (carriage return): lines must end with LF only");
                goto end;
            }
        }
        /* '#' starts a comment anywhere */
        for (e = p; e < le && *e != '#'; e++)
            continue;
        while (b < e && is_blank(*b))
            b++;
        while (e > b && is_blank(e[-1]))
            e--;
        for (const char *q = b; q < e; q++)
            if ((unsigned char)*q < 0x20 || *q == 0x7f) {
                if (*q == '\t')
                    continue;
                fail(&ps, "control character 0x%02x", (unsigned)(unsigned char)*q);
                goto end;
            }
        if (b == e) {
            /* blank or comment */
        } else if (*b == '[') {
            if (!header(&ps, b, e, &cur))
                goto end;
        } else if (*b == '.') {
            size_t n = strcspn(b, " \t=");

            fail(&ps,
                 "directive '%.*s' is not allowed: a policy file is one self-contained file "
                 "(no .include, no .pragma)",
                 (int)((size_t)(e - b) < n ? (size_t)(e - b) : (n > 40 ? 40 : n)), b);
            goto end;
        } else {
            if (!assignment(&ps, b, e, cur))
                goto end;
        }
        p = nl != NULL ? nl + 1 : end;
    }
    ps.line = 0;
    ok = rules_unique(&ps) && complete(&ps);
end:
    if (!ok)
        m2m_policy_file_clear(pf);
    return ok;
}

int m2m_policy_file_load(const char *path, M2M_POLICY_FILE *pf, M2M_ERRMSG *err)
{
    unsigned char *text = NULL;
    size_t len = 0;
    int ok;

    memset(pf, 0, sizeof(*pf));
    if (!m2m_cf_read(path, M2M_CF_NO_SYMLINKS, M2M_POLICY_FILE_MAX, "policy file", &text, &len,
                     err))
        return 0;
    ok = m2m_policy_file_parse(path, (const char *)text, len, pf, err);
    OPENSSL_free(text);
    return ok;
}

void m2m_policy_file_clear(M2M_POLICY_FILE *pf)
{
    if (pf == NULL)
        return;
    m2m_session_values_clear(&pf->session);
    for (size_t i = 0; i < pf->nrules; i++)
        OPENSSL_free(pf->rules[i].pattern);
    OPENSSL_free(pf->rules);
    for (size_t i = 0; i < pf->nexecs; i++) {
        OPENSSL_free(pf->execs[i].program);
        OPENSSL_free(pf->execs[i].requires);
    }
    OPENSSL_free(pf->execs);
    OPENSSL_free(pf->quarantine_dir);
    OPENSSL_free(pf->log);
    OPENSSL_free(pf->repository);
    memset(pf, 0, sizeof(*pf));
}
