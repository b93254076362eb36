/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libm2msec: verification reports (include/m2msec/integrity.h,
 * libm2msec/report_internal.h): the result list and its table and JSON
 * output.
 *
 * Paths come from the file system and may hold any byte but '/' and NUL.
 * The table shows them escaped (escape.h, docs/PROTOCOL.md 7.5: \\, \n,
 * \r, \t, \xHH for other control characters, C1 and bidirectional controls
 * and bytes that are not UTF-8), and a line that holds an escape starts with
 * a backslash, as in sha256sum's output; so a file name cannot forge a line.
 * Detail texts already hold their names escaped; they are passed through
 * the same rule with the backslash kept, so no control character reaches
 * the output whatever built them. JSON strings escape '"', '\', every
 * control character, U+2028/2029 and the bidirectional controls; bytes that are not UTF-8 become
 * U+FFFD, and the exact bytes of such a path are added as "path_hex".
 *
 * Each result also keeps what verification saw at its path (device, inode
 * and type of the entry, not followed), for the actions: they never touch
 * an object that is not the one that was verified.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/err.h>

#include "escape.h"
#include "io.h"
#include "m2msec/integrity.h"
#include "report_internal.h"

/* A result and what verification saw at its path (the public part first). */
typedef struct result {
    m2msec_file_result pub;
    m2m_ident seen;
} result;

struct m2msec_report {
    char *root;
    uint64_t manifest_version;
    result *res;
    size_t n, cap;
};

static const char *const status_text[M2MSEC_FILE_STATUS_COUNT] = {
    [M2MSEC_FILE_OK] = "ok",
    [M2MSEC_FILE_MODIFIED] = "modified",
    [M2MSEC_FILE_MISSING] = "missing",
    [M2MSEC_FILE_WRONG_TYPE] = "wrong-type",
    [M2MSEC_FILE_WRONG_MODE] = "wrong-mode",
    [M2MSEC_FILE_UNREADABLE] = "unreadable",
    [M2MSEC_FILE_CHANGED] = "changed",
    [M2MSEC_FILE_EXTRA] = "extra",
    [M2MSEC_FILE_WRONG_ATTR] = "wrong-attr",
};

static const char *const action_text[] = {
    [M2MSEC_ACTION_NONE] = "none",
    [M2MSEC_ACTION_DENY] = "deny",
    [M2MSEC_ACTION_QUARANTINE] = "quarantine",
    [M2MSEC_ACTION_ALERT] = "alert",
    [M2MSEC_ACTION_REMEDIATE] = "remediate",
};

const char *m2msec_file_status_text(m2msec_file_status st)
{
    if ((unsigned)st >= M2MSEC_FILE_STATUS_COUNT)
        return "unknown";
    return status_text[st];
}

const char *m2msec_action_text(m2msec_action a)
{
    if ((unsigned)a >= sizeof(action_text) / sizeof(action_text[0]))
        return "unknown";
    return action_text[a];
}

m2msec_report *m2msec_report_new(const char *root, uint64_t manifest_version)
{
    m2msec_report *r = OPENSSL_zalloc(sizeof(*r));

    if (r == NULL || (root != NULL && (r->root = OPENSSL_strdup(root)) == NULL)) {
        OPENSSL_free(r);
        ERR_raise_data(ERR_LIB_USER, ERR_R_MALLOC_FAILURE, "m2msec: out of memory");
        return NULL;
    }
    r->manifest_version = manifest_version;
    return r;
}

void m2msec_report_free(m2msec_report *r)
{
    size_t i;

    if (r == NULL)
        return;
    for (i = 0; i < r->n; i++) {
        OPENSSL_free((char *)r->res[i].pub.path);
        OPENSSL_free((char *)r->res[i].pub.detail);
        OPENSSL_free((char *)r->res[i].pub.action_detail);
    }
    OPENSSL_free(r->res);
    OPENSSL_free(r->root);
    OPENSSL_free(r);
}

int m2msec_report_add(m2msec_report *r, const char *path, m2msec_file_status status,
                      const char *detail)
{
    return m2msec_report_add_seen(r, path, status, detail, NULL);
}

int m2msec_report_add_seen(m2msec_report *r, const char *path, m2msec_file_status status,
                           const char *detail, const m2m_ident *seen)
{
    m2msec_file_result *x;
    result *nr;

    if (r == NULL || path == NULL) {
        ERR_raise_data(ERR_LIB_USER, ERR_R_PASSED_NULL_PARAMETER, "m2msec: NULL report or path");
        return 0;
    }
    if ((nr = m2m_grow(r->res, r->n, &r->cap, sizeof(*nr), 16)) == NULL)
        goto oom;
    r->res = nr;
    memset(&r->res[r->n], 0, sizeof(r->res[r->n]));
    if (seen != NULL && seen->known)
        r->res[r->n].seen = *seen;
    x = &r->res[r->n].pub;
    x->status = status;
    x->action = M2MSEC_ACTION_NONE;
    x->path = OPENSSL_strdup(path);
    x->detail = detail != NULL ? OPENSSL_strdup(detail) : NULL;
    if (x->path == NULL || (detail != NULL && x->detail == NULL)) {
        OPENSSL_free((char *)x->path);
        OPENSSL_free((char *)x->detail);
        goto oom;
    }
    r->n++;
    return 1;
oom:
    ERR_raise_data(ERR_LIB_USER, ERR_R_MALLOC_FAILURE, "m2msec: out of memory");
    return 0;
}

static int cmp_result(const void *a, const void *b)
{
    const m2msec_file_result *x = &((const result *)a)->pub, *y = &((const result *)b)->pub;
    int c = strcmp(x->path, y->path);

    if (c != 0)
        return c;
    return (int)x->status - (int)y->status;
}

void m2msec_report_sort(m2msec_report *r)
{
    size_t i;

    if (r == NULL || r->n < 2)
        return;
    /* m2msec_tree_verify() builds its reports in order: check, then sort only if needed */
    for (i = 1; i < r->n && cmp_result(&r->res[i - 1], &r->res[i]) <= 0; i++)
        ;
    if (i < r->n)
        qsort(r->res, r->n, sizeof(*r->res), cmp_result);
}

int m2msec_report_cmp(const char *path_a, m2msec_file_status st_a, const char *path_b,
                      m2msec_file_status st_b)
{
    int c = strcmp(path_a, path_b);

    return c != 0 ? c : (int)st_a - (int)st_b;
}

int m2msec_report_reserve(m2msec_report *r, size_t n)
{
    result *nr;

    if (r == NULL || n <= r->cap)
        return 1;
    if (n > SIZE_MAX / sizeof(*nr) || (nr = OPENSSL_realloc(r->res, n * sizeof(*nr))) == NULL) {
        ERR_raise_data(ERR_LIB_USER, ERR_R_MALLOC_FAILURE, "m2msec: out of memory");
        return 0;
    }
    r->res = nr;
    r->cap = n;
    return 1;
}

size_t m2msec_report_count(const m2msec_report *r)
{
    return r != NULL ? r->n : 0;
}

const m2msec_file_result *m2msec_report_at(const m2msec_report *r, size_t i)
{
    return r != NULL && i < r->n ? &r->res[i].pub : NULL;
}

m2msec_file_result *m2msec_report_at_mut(m2msec_report *r, size_t i)
{
    return r != NULL && i < r->n ? &r->res[i].pub : NULL;
}

const m2m_ident *m2msec_report_seen(const m2msec_report *r, size_t i)
{
    return r != NULL && i < r->n ? &r->res[i].seen : NULL;
}

int m2msec_report_set_action_detail(m2msec_report *r, size_t i, const char *detail)
{
    char *copy = NULL;

    if (r == NULL || i >= r->n) {
        ERR_raise_data(ERR_LIB_USER, ERR_R_PASSED_INVALID_ARGUMENT,
                       "m2msec: no such report result");
        return 0;
    }
    if (detail != NULL && (copy = OPENSSL_strdup(detail)) == NULL) {
        ERR_raise_data(ERR_LIB_USER, ERR_R_MALLOC_FAILURE, "m2msec: out of memory");
        return 0;
    }
    OPENSSL_free((char *)r->res[i].pub.action_detail);
    r->res[i].pub.action_detail = copy;
    return 1;
}

size_t m2msec_report_failures(const m2msec_report *r)
{
    size_t i, n = 0;

    for (i = 0; r != NULL && i < r->n; i++)
        n += r->res[i].pub.status != M2MSEC_FILE_OK;
    return n;
}

const char *m2msec_report_root(const m2msec_report *r)
{
    return r != NULL ? r->root : NULL;
}

uint64_t m2msec_report_manifest_version(const m2msec_report *r)
{
    return r != NULL ? r->manifest_version : 0;
}

/* ---------------------------------------------------------------- */
/* Escaping                                                          */
/* ---------------------------------------------------------------- */

static int is_control(uint32_t cp)
{
    return cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp < 0xa0);
}

/* Write @p s as a JSON string (with quotes); returns 1 if it was valid UTF-8. */
static int json_string(FILE *out, const char *str)
{
    const unsigned char *s = (const unsigned char *)str;
    int valid = 1;

    fputc('"', out);
    while (*s != '\0') {
        uint32_t cp;
        size_t l = m2m_utf8_decode(s, 4, &cp);

        if (l == 0) {
            fputs("\\ufffd", out);
            valid = 0;
            s++;
            continue;
        }
        if (cp == '"')
            fputs("\\\"", out);
        else if (cp == '\\')
            fputs("\\\\", out);
        else if (cp == '\n')
            fputs("\\n", out);
        else if (cp == '\r')
            fputs("\\r", out);
        else if (cp == '\t')
            fputs("\\t", out);
        else if (cp == '\b')
            fputs("\\b", out);
        else if (cp == '\f')
            fputs("\\f", out);
        else if (is_control(cp) || m2m_escape_special(cp))
            fprintf(out, "\\u%04x", (unsigned)cp);
        else
            fwrite(s, 1, l, out);
        s += l;
    }
    fputc('"', out);
    return valid;
}

static void json_opt_string(FILE *out, const char *s)
{
    if (s == NULL)
        fputs("null", out);
    else
        json_string(out, s);
}

/* ---------------------------------------------------------------- */
/* Printing                                                          */
/* ---------------------------------------------------------------- */

static void count_status(const m2msec_report *r, size_t counts[M2MSEC_FILE_STATUS_COUNT])
{
    size_t i;

    memset(counts, 0, sizeof(size_t) * M2MSEC_FILE_STATUS_COUNT);
    for (i = 0; i < r->n; i++)
        if ((unsigned)r->res[i].pub.status < M2MSEC_FILE_STATUS_COUNT)
            counts[r->res[i].pub.status]++;
}

static void print_json(const m2msec_report *r, FILE *out, int failures_only)
{
    size_t counts[M2MSEC_FILE_STATUS_COUNT], i, k, first = 1;

    fputs("{\"root\":", out);
    json_opt_string(out, r->root);
    fprintf(out, ",\"manifest_version\":%" PRIu64 ",\"files\":[", r->manifest_version);
    for (i = 0; i < r->n; i++) {
        const m2msec_file_result *x = &r->res[i].pub;

        if (failures_only && x->status == M2MSEC_FILE_OK)
            continue;
        fputs(first ? "\n" : ",\n", out);
        first = 0;
        fputs(" {\"path\":", out);
        if (!json_string(out, x->path)) {
            const unsigned char *p = (const unsigned char *)x->path;

            fputs(",\"path_hex\":\"", out);
            for (; *p != '\0'; p++)
                fprintf(out, "%02x", *p);
            fputc('"', out);
        }
        fputs(",\"status\":", out);
        json_string(out, m2msec_file_status_text(x->status));
        fputs(",\"detail\":", out);
        json_opt_string(out, x->detail);
        fputs(",\"action\":", out);
        json_string(out, m2msec_action_text(x->action));
        fprintf(out, ",\"action_ok\":%s,\"action_detail\":", x->action_ok ? "true" : "false");
        json_opt_string(out, x->action_detail);
        fputc('}', out);
    }
    fputs(first ? "],\n\"summary\":{" : "\n],\n\"summary\":{", out);
    count_status(r, counts);
    for (k = 0; k < M2MSEC_FILE_STATUS_COUNT; k++)
        fprintf(out, "\"%s\":%zu,", status_text[k], counts[k]);
    fprintf(out, "\"total\":%zu,\"failures\":%zu}}\n", r->n, m2msec_report_failures(r));
}

/* Does the table line of @p x hold an escape (then it starts with a backslash)? */
static int line_escaped(const m2msec_file_result *x)
{
    return m2m_escape_needed(x->path, 0) ||
           (x->detail != NULL &&
            (strchr(x->detail, '\\') != NULL || m2m_escape_needed(x->detail, M2M_ESC_TEXT))) ||
           (x->action != M2MSEC_ACTION_NONE && x->action_detail != NULL &&
            (strchr(x->action_detail, '\\') != NULL ||
             m2m_escape_needed(x->action_detail, M2M_ESC_TEXT)));
}

static void print_table(const m2msec_report *r, FILE *out, int failures_only)
{
    size_t counts[M2MSEC_FILE_STATUS_COUNT], i, k, width = 4, shown = 0;

    for (i = 0; i < r->n; i++) {
        size_t w;

        if (failures_only && r->res[i].pub.status == M2MSEC_FILE_OK)
            continue;
        w = m2m_escape_fputs(r->res[i].pub.path, 0, NULL);
        if (w > width)
            width = w;
        shown++;
    }
    if (width > 48)
        width = 48;
    if (shown > 0)
        fprintf(out, "%-10s  %-*s  %s\n", "STATUS", (int)width, "PATH", "DETAIL");
    for (i = 0; i < r->n; i++) {
        const m2msec_file_result *x = &r->res[i].pub;
        size_t w;

        if (failures_only && x->status == M2MSEC_FILE_OK)
            continue;
        if (line_escaped(x))
            fputc('\\', out);
        fprintf(out, "%-10s  ", m2msec_file_status_text(x->status));
        w = m2m_escape_fputs(x->path, 0, out);
        if (x->detail != NULL || x->action != M2MSEC_ACTION_NONE) {
            for (; w < width; w++)
                fputc(' ', out);
            fputs("  ", out);
            if (x->detail != NULL)
                m2m_escape_fputs(x->detail, M2M_ESC_TEXT, out);
            if (x->action != M2MSEC_ACTION_NONE) {
                fprintf(out, "%s[action %s: %s", x->detail != NULL ? " " : "",
                        m2msec_action_text(x->action), x->action_ok ? "done" : "FAILED");
                if (x->action_detail != NULL) {
                    fputs(", ", out);
                    m2m_escape_fputs(x->action_detail, M2M_ESC_TEXT, out);
                }
                fputc(']', out);
            }
        }
        fputc('\n', out);
    }
    count_status(r, counts);
    fprintf(out, "summary: %zu files", r->n);
    for (k = 0; k < M2MSEC_FILE_STATUS_COUNT; k++)
        if (k == M2MSEC_FILE_OK || counts[k] > 0)
            fprintf(out, ", %zu %s", counts[k], status_text[k]);
    fprintf(out, "; %zu failure%s\n", m2msec_report_failures(r),
            m2msec_report_failures(r) == 1 ? "" : "s");
}

int m2msec_report_print(const m2msec_report *r, FILE *out, int json)
{
    if (r == NULL || out == NULL) {
        ERR_raise_data(ERR_LIB_USER, ERR_R_PASSED_NULL_PARAMETER, "m2msec: NULL report or stream");
        return 0;
    }
    if (json & M2MSEC_REPORT_JSON)
        print_json(r, out, (json & M2MSEC_REPORT_FAILURES_ONLY) != 0);
    else
        print_table(r, out, (json & M2MSEC_REPORT_FAILURES_ONLY) != 0);
    if (fflush(out) != 0 || ferror(out)) {
        ERR_raise_data(ERR_LIB_USER, ERR_R_OPERATION_FAIL, "m2msec: cannot write the report");
        return 0;
    }
    return 1;
}
