/*
 * libm2msec: the integrity part of the device policy file (docs/POLICY.md,
 * "Integrity rules").
 *
 * The file is OpenSSL configuration syntax read with NCONF, the same file
 * whose [session] section the provider reads (provider/policy.c). This
 * file reads:
 *
 *   [integrity]
 *   default_action = deny | quarantine | alert | remediate   (default deny)
 *   quarantine_dir = /absolute/dir      (needed by quarantine and remediate)
 *   log = /absolute/file                (append-only action log; default stderr)
 *   repository = /absolute/dir | http://host/base | https://host/base
 *   quarantine_copy_max = bytes         (data copied to another filesystem; 64 MiB)
 *
 *   [rules]
 *   bin/<star> = deny                   (pattern = action, first match wins)
 *
 * Patterns are fnmatch(3) globs matched against the path relative to the
 * root with flags 0: FNM_PATHNAME is off, so '*' and '?' also match '/'
 * ("bin/" followed by a star covers bin/sub/x too), and FNM_PERIOD is off (a leading '.' is
 * matched by '*'). OpenSSL's parser keeps the names of a section in file
 * order, which gives "first match wins". It accepts in a name letters,
 * digits and ! % & * + , - . / ; ? @ ^ ~ | _ (and backslash), so '[' ']'
 * classes, blanks, ':', '#', '$' and quotes cannot appear in a pattern:
 * use '?' for such a character.
 *
 * NCONF does not keep line numbers, and it silently keeps only the last of
 * two equal names, moving it to the later position. To name lines in
 * errors, and to refuse a pattern written twice (which would reorder the
 * rules silently), the file is also scanned line by line here for section
 * headers and names; nothing else is taken from that scan.
 */
#include <errno.h>
#include <fnmatch.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <openssl/bio.h>
#include <openssl/conf.h>
#include <openssl/crypto.h>
#include <openssl/err.h>

#include "m2msec/integrity.h"
#include "policy_internal.h"
#include "safe_open.h"

/* Largest policy file accepted (bytes). */
#define POLICY_MAX_BYTES (1024u * 1024u)

typedef struct rule {
    char *pattern;
    m2msec_action action;
} rule;

struct m2msec_policy {
    char *path;
    m2msec_action default_action;
    char *quarantine_dir;
    char *log;
    char *repository;
    uint64_t quarantine_copy_max;
    rule *rules;
    size_t nrules;
};

/* ---------------------------------------------------------------- */
/* Line scan: where each (section, name) is, for messages            */
/* ---------------------------------------------------------------- */

typedef struct scan_entry {
    char *section;
    char *name;
    long line;
} scan_entry;

typedef struct scan {
    scan_entry *e;
    size_t n, cap;
} scan;

static void scan_free(scan *s)
{
    for (size_t i = 0; i < s->n; i++) {
        OPENSSL_free(s->e[i].section);
        OPENSSL_free(s->e[i].name);
    }
    OPENSSL_free(s->e);
    memset(s, 0, sizeof(*s));
}

static int is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r';
}

/* Trimmed copy of [b, e). */
static char *trim_dup(const char *b, const char *e)
{
    while (b < e && is_blank(*b))
        b++;
    while (e > b && is_blank(e[-1]))
        e--;
    return OPENSSL_strndup(b, (size_t)(e - b));
}

static int scan_add(scan *s, const char *section, char *name, long line)
{
    if (s->n == s->cap) {
        size_t ncap = s->cap == 0 ? 32 : s->cap * 2;
        scan_entry *ne = OPENSSL_realloc(s->e, ncap * sizeof(*ne));

        if (ne == NULL)
            return 0;
        s->e = ne;
        s->cap = ncap;
    }
    s->e[s->n].section = OPENSSL_strdup(section);
    if (s->e[s->n].section == NULL)
        return 0;
    s->e[s->n].name = name;
    s->e[s->n].line = line;
    s->n++;
    return 1;
}

/*
 * Record the section and name of every assignment line. Continuation lines
 * (a line ending in a backslash) belong to the line they continue.
 */
static int scan_text(scan *s, const char *text, size_t len)
{
    char *section = OPENSSL_strdup("default");
    const char *p = text, *end = text + len;
    long line = 0;
    int ok = 0;

    if (section == NULL)
        return 0;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl != NULL ? nl : end, *b = p, *stop;
        long first = ++line;

        /* a continued line: skip its continuation lines */
        while (le > p && le < end && le[-1] == '\\' && nl != NULL) {
            const char *nn = memchr(le + 1, '\n', (size_t)(end - le - 1));

            line++;
            nl = nn;
            le = nn != NULL ? nn : end;
        }
        while (b < le && is_blank(*b))
            b++;
        stop = b;
        while (stop < le && *stop != '#')
            stop++;
        if (b == stop || (stop - b >= 8 && strncmp(b, ".include", 8) == 0) ||
            (stop - b >= 7 && strncmp(b, ".pragma", 7) == 0)) {
            /* blank, comment or directive */
        } else if (*b == '[') {
            const char *close = memchr(b, ']', (size_t)(stop - b));
            char *ns;

            if (close != NULL) {
                ns = trim_dup(b + 1, close);
                if (ns == NULL)
                    goto end;
                OPENSSL_free(section);
                section = ns;
            }
        } else {
            const char *eq = memchr(b, '=', (size_t)(stop - b));
            char *name = trim_dup(b, eq != NULL ? eq : stop);

            if (name == NULL || !scan_add(s, section, name, first)) {
                OPENSSL_free(name);
                goto end;
            }
        }
        p = nl != NULL ? nl + 1 : end;
    }
    ok = 1;
end:
    OPENSSL_free(section);
    return ok;
}

/* Last line of @p name in @p section (0 if not found); *count gets how many there are. */
static long scan_find(const scan *s, const char *section, const char *name, size_t *count)
{
    long line = 0;
    size_t c = 0;

    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->e[i].section, section) == 0 && strcmp(s->e[i].name, name) == 0) {
            c++;
            line = s->e[i].line;
        }
    if (count != NULL)
        *count = c;
    return line;
}

/* First line of @p name in @p section, 0 if not found. */
static long scan_first(const scan *s, const char *section, const char *name)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->e[i].section, section) == 0 && strcmp(s->e[i].name, name) == 0)
            return s->e[i].line;
    return 0;
}

/* ---------------------------------------------------------------- */
/* Loading                                                           */
/* ---------------------------------------------------------------- */

__attribute__((format(printf, 3, 4))) static void policy_error(const char *path, long line,
                                                               const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (line > 0)
        ERR_raise_data(ERR_LIB_USER, ERR_R_PASSED_INVALID_ARGUMENT,
                       "m2msec: policy file %s line %ld: %s", path, line, msg);
    else
        ERR_raise_data(ERR_LIB_USER, ERR_R_PASSED_INVALID_ARGUMENT, "m2msec: policy file %s: %s",
                       path, msg);
}

static const char *const action_words[] = {NULL, "deny", "quarantine", "alert", "remediate"};

static int parse_action(const char *text, m2msec_action *a)
{
    for (size_t i = 1; i < sizeof(action_words) / sizeof(action_words[0]); i++)
        if (strcasecmp(text, action_words[i]) == 0) {
            *a = (m2msec_action)i;
            return 1;
        }
    return 0;
}

static int has_control(const char *s)
{
    for (; *s != '\0'; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return 1;
    return 0;
}

static int is_url(const char *s)
{
    return strncasecmp(s, "http://", 7) == 0 || strncasecmp(s, "https://", 8) == 0;
}

static int set_path(const char *path, long line, const char *key, const char *v, char **dst)
{
    if (v[0] != '/' || has_control(v)) {
        policy_error(path, line, "%s = '%s' is not an absolute path", key, v);
        return 0;
    }
    OPENSSL_free(*dst);
    *dst = OPENSSL_strdup(v);
    if (*dst == NULL) {
        ERR_raise_data(ERR_LIB_USER, ERR_R_MALLOC_FAILURE, "m2msec: out of memory");
        return 0;
    }
    return 1;
}

static int set_repository(const char *path, long line, const char *v, char **dst)
{
    if (!is_url(v))
        return set_path(path, line, "repository", v, dst);
    if (has_control(v) || strpbrk(v, " ?#") != NULL || strlen(v) < 9 ||
        v[strncasecmp(v, "https://", 8) == 0 ? 8 : 7] == '\0') {
        policy_error(path, line,
                     "repository URL must be http:// or https:// followed by a host, with no "
                     "blanks, query or fragment");
        return 0;
    }
    OPENSSL_free(*dst);
    *dst = OPENSSL_strdup(v);
    if (*dst == NULL) {
        ERR_raise_data(ERR_LIB_USER, ERR_R_MALLOC_FAILURE, "m2msec: out of memory");
        return 0;
    }
    return 1;
}

/* Digits only, no sign, no overflow. */
static int set_bytes(const char *v, uint64_t *dst)
{
    uint64_t n = 0;

    if (*v == '\0')
        return 0;
    for (; *v != '\0'; v++) {
        if (*v < '0' || *v > '9' || n > (UINT64_MAX - (uint64_t)(*v - '0')) / 10)
            return 0;
        n = n * 10 + (uint64_t)(*v - '0');
    }
    *dst = n;
    return 1;
}

static int load_integrity(m2msec_policy *p, CONF *conf, const scan *sc)
{
    STACK_OF(CONF_VALUE) *sect = NCONF_get_section(conf, "integrity");

    for (int i = 0; sect != NULL && i < sk_CONF_VALUE_num(sect); i++) {
        const CONF_VALUE *cv = sk_CONF_VALUE_value(sect, i);
        long line = scan_find(sc, "integrity", cv->name, NULL);

        if (strcmp(cv->name, "default_action") == 0) {
            if (!parse_action(cv->value, &p->default_action)) {
                policy_error(p->path, line,
                             "default_action = '%s' is not deny, quarantine, alert or remediate",
                             cv->value);
                return 0;
            }
        } else if (strcmp(cv->name, "quarantine_dir") == 0) {
            if (!set_path(p->path, line, cv->name, cv->value, &p->quarantine_dir))
                return 0;
        } else if (strcmp(cv->name, "log") == 0) {
            if (!set_path(p->path, line, cv->name, cv->value, &p->log))
                return 0;
        } else if (strcmp(cv->name, "repository") == 0) {
            if (!set_repository(p->path, line, cv->value, &p->repository))
                return 0;
        } else if (strcmp(cv->name, "quarantine_copy_max") == 0) {
            if (!set_bytes(cv->value, &p->quarantine_copy_max)) {
                policy_error(p->path, line,
                             "quarantine_copy_max = '%s' is not a number of bytes (digits only)",
                             cv->value);
                return 0;
            }
        } else {
            policy_error(p->path, line,
                         "unknown key '%s' in [integrity] (known: default_action, "
                         "quarantine_dir, log, repository, quarantine_copy_max)",
                         cv->name);
            return 0;
        }
    }
    return 1;
}

static int load_rules(m2msec_policy *p, CONF *conf, const scan *sc)
{
    STACK_OF(CONF_VALUE) *sect = NCONF_get_section(conf, "rules");
    int n = sect != NULL ? sk_CONF_VALUE_num(sect) : 0;

    if (n <= 0)
        return 1;
    p->rules = OPENSSL_zalloc((size_t)n * sizeof(*p->rules));
    if (p->rules == NULL) {
        ERR_raise_data(ERR_LIB_USER, ERR_R_MALLOC_FAILURE, "m2msec: out of memory");
        return 0;
    }
    for (int i = 0; i < n; i++) {
        const CONF_VALUE *cv = sk_CONF_VALUE_value(sect, i);
        size_t count = 0;
        long line = scan_find(sc, "rules", cv->name, &count);
        rule *r = &p->rules[p->nrules];

        if (count > 1) {
            policy_error(p->path, line,
                         "pattern '%s' appears twice in [rules] (first at line %ld); OpenSSL's "
                         "parser would keep only the last one, at the later position",
                         cv->name, scan_first(sc, "rules", cv->name));
            return 0;
        }
        if (cv->name[0] == '/') {
            policy_error(p->path, line,
                         "rule pattern '%s' starts with '/': patterns match paths relative to "
                         "the root",
                         cv->name);
            return 0;
        }
        if (!parse_action(cv->value, &r->action)) {
            policy_error(p->path, line,
                         "rule '%s = %s': the action is not deny, quarantine, alert or "
                         "remediate",
                         cv->name, cv->value);
            return 0;
        }
        r->pattern = OPENSSL_strdup(cv->name);
        if (r->pattern == NULL) {
            ERR_raise_data(ERR_LIB_USER, ERR_R_MALLOC_FAILURE, "m2msec: out of memory");
            return 0;
        }
        p->nrules++;
    }
    return 1;
}

/* Keys that the actions in use need. */
static int check_complete(const m2msec_policy *p, const scan *sc)
{
    int need_q = p->default_action == M2MSEC_ACTION_QUARANTINE ||
                 p->default_action == M2MSEC_ACTION_REMEDIATE;
    int need_repo = p->default_action == M2MSEC_ACTION_REMEDIATE;
    long qline = 0, rline = 0;

    if (need_q)
        qline = rline = scan_find(sc, "integrity", "default_action", NULL);
    for (size_t i = 0; i < p->nrules; i++) {
        m2msec_action a = p->rules[i].action;

        if ((a == M2MSEC_ACTION_QUARANTINE || a == M2MSEC_ACTION_REMEDIATE) && !need_q) {
            need_q = 1;
            qline = scan_find(sc, "rules", p->rules[i].pattern, NULL);
        }
        if (a == M2MSEC_ACTION_REMEDIATE && !need_repo) {
            need_repo = 1;
            rline = scan_find(sc, "rules", p->rules[i].pattern, NULL);
        }
    }
    if (need_q && p->quarantine_dir == NULL) {
        policy_error(p->path, qline, "quarantine and remediate need quarantine_dir in [integrity]");
        return 0;
    }
    if (need_repo && p->repository == NULL) {
        policy_error(p->path, rline, "remediate needs repository in [integrity]");
        return 0;
    }
    return 1;
}

m2msec_policy *m2msec_policy_load(const char *path)
{
    m2msec_policy *p = NULL;
    CONF *conf = NULL;
    BIO *bio = NULL;
    unsigned char *text = NULL;
    size_t textlen = 0;
    scan sc = {0};
    long line = -1;
    int ok = 0;

    if (path == NULL) {
        ERR_raise_data(ERR_LIB_USER, ERR_R_PASSED_NULL_PARAMETER, "m2msec: no policy file given");
        return NULL;
    }
    if (m2m_read_file(path, POLICY_MAX_BYTES, "policy file", &text, &textlen) != 0)
        return NULL;
    p = OPENSSL_zalloc(sizeof(*p));
    conf = NCONF_new(NULL);
    bio = BIO_new_mem_buf(text, (int)textlen);
    if (p == NULL || conf == NULL || bio == NULL || (p->path = OPENSSL_strdup(path)) == NULL ||
        !scan_text(&sc, (const char *)text, textlen)) {
        ERR_raise_data(ERR_LIB_USER, ERR_R_MALLOC_FAILURE, "m2msec: out of memory");
        goto end;
    }
    p->default_action = M2MSEC_ACTION_DENY;
    p->quarantine_copy_max = M2M_QUARANTINE_COPY_MAX_DEFAULT;
    /* parse the bytes just read, so that the line scan sees the same text */
    if (NCONF_load_bio(conf, bio, &line) <= 0) {
        if (line > 0)
            policy_error(path, line, "syntax error");
        else
            policy_error(path, 0, "cannot be parsed");
        goto end;
    }
    ok = load_integrity(p, conf, &sc) && load_rules(p, conf, &sc) && check_complete(p, &sc);
end:
    scan_free(&sc);
    BIO_free(bio);
    OPENSSL_free(text);
    NCONF_free(conf);
    if (!ok) {
        m2msec_policy_free(p);
        return NULL;
    }
    return p;
}

void m2msec_policy_free(m2msec_policy *p)
{
    if (p == NULL)
        return;
    for (size_t i = 0; i < p->nrules; i++)
        OPENSSL_free(p->rules[i].pattern);
    OPENSSL_free(p->rules);
    OPENSSL_free(p->path);
    OPENSSL_free(p->quarantine_dir);
    OPENSSL_free(p->log);
    OPENSSL_free(p->repository);
    OPENSSL_free(p);
}

m2msec_action m2msec_policy_action(const m2msec_policy *p, const char *path)
{
    if (p == NULL || path == NULL)
        return M2MSEC_ACTION_DENY;
    for (size_t i = 0; i < p->nrules; i++)
        if (fnmatch(p->rules[i].pattern, path, 0) == 0)
            return p->rules[i].action;
    return p->default_action;
}

const char *m2m_policy_quarantine_dir(const m2msec_policy *p)
{
    return p->quarantine_dir;
}

uint64_t m2m_policy_quarantine_copy_max(const m2msec_policy *p)
{
    return p->quarantine_copy_max;
}

const char *m2m_policy_log(const m2msec_policy *p)
{
    return p->log;
}

const char *m2m_policy_repository(const m2msec_policy *p)
{
    return p->repository;
}

const char *m2m_policy_path(const m2msec_policy *p)
{
    return p->path;
}
