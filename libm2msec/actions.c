/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libm2msec: carrying out the integrity policy on a verification report
 * (m2msec_policy_apply, include/m2msec/integrity.h; docs/POLICY.md,
 * "Integrity rules", and docs/SECURITY.md, "Policy actions"). This file is
 * the dispatcher: it decides each failed file's action, keeps the action
 * log, and holds what the actions share (the identity checks, the
 * directories of a path). Each countermeasure has its own file:
 * quarantine.c (quarantine), remediate.c (remediation), fetch.c (the
 * download of the expected copy); actions_internal.h joins them.
 *
 * The verifier runs as root in a tree where other users may own
 * directories, so every step is written against a user who swaps entries
 * while it runs:
 *
 *  - The root is opened O_DIRECTORY | O_NOFOLLOW, a file's directory below
 *    it with the no-symlink open of safe_open.c; entries are then handled by
 *    their last name only, relative to that descriptor.
 *  - Verification recorded what it saw at each path (device, inode, type:
 *    report_internal.h). An action first opens the entry O_PATH |
 *    O_NOFOLLOW and compares that descriptor's fstat() with it; an entry
 *    that is not the verified object is not touched.
 *  - Permission bits, owners and times are only ever changed through a
 *    descriptor whose identity was checked (fchmod / fchown / futimens on a
 *    file we created, or chmod of /proc/self/fd/N for an O_PATH descriptor,
 *    which reaches that inode and nothing else), never by name, and only
 *    inside the quarantine directory (owned by the verifier, writable by it
 *    alone) or on a file we created.
 *  - A rename is by name (renameat2 between two directory descriptors):
 *    what arrived is checked afterwards, and moved back untouched if it is
 *    not the verified object.
 *  - Files with other hard links are refused (moving or chmod-ing one would
 *    also act on names outside the tree), and so is any entry whose
 *    identity is unknown.
 *
 * Every action has an undo, run in reverse order when a later step fails.
 */
#define _GNU_SOURCE /* renameat2(), RENAME_EXCHANGE, RENAME_NOREPLACE, O_PATH, SEEK_DATA */

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include <openssl/err.h>

#include "escape.h"
#include "io.h"
#include "m2msec/integrity.h"
#include "actions_internal.h"
#include "policy_internal.h"
#include "report_internal.h"
#include "safe_open.h"

/* snprintf() whose truncation is accepted: messages are cut, never overflowed. */
__attribute__((format(printf, 3, 4))) void m2m_act_fmt(char *buf, size_t len, const char *f, ...)
{
    va_list ap;

    va_start(ap, f);
    vsnprintf(buf, len, f, ap);
    va_end(ap);
}

/* Append to the NUL-terminated @p buf of @p len bytes. */
__attribute__((format(printf, 3, 4))) void m2m_act_fmt_add(char *buf, size_t len, const char *f,
                                                           ...)
{
    size_t n = strlen(buf);
    va_list ap;

    if (n + 1 >= len)
        return;
    va_start(ap, f);
    vsnprintf(buf + n, len - n, f, ap);
    va_end(ap);
}

static m2msec_actions_test_hook test_hook;
static void *test_hook_arg;

void m2msec_actions_set_test_hook(m2msec_actions_test_hook hook, void *arg)
{
    test_hook = hook;
    test_hook_arg = arg;
}

int m2m_act_hook(const char *step, const char *path)
{
    return test_hook != NULL ? test_hook(test_hook_arg, step, path) : 0;
}

/* ---------------------------------------------------------------- */
/* Log                                                               */
/* ---------------------------------------------------------------- */

/* Current UTC time, ISO 8601 ("2025-01-31T12:00:00Z") or compact ("20250131T120000Z"). */
void m2m_act_time_text(char *buf, size_t len, int compact)
{
    time_t now = time(NULL);
    struct tm tm;
    size_t n = 0;

    if (gmtime_r(&now, &tm) != NULL)
        n = compact ? strftime(buf, len, "%Y%m%dT%H%M%SZ", &tm)
                    : strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
    if (n == 0)
        m2m_act_fmt(buf, len, "%lld", (long long)now);
}

/* Longest log line: the time, words, a path of PATH_MAX bytes escaped in full, and the rest. */
#define LOG_LINE_MAX (24u * 1024u)

/* Copy @p s to line + *n, as much as fits before the last byte (kept for the newline). */
void m2m_act_put(char *line, size_t *n, const char *s)
{
    size_t l = strlen(s);

    if (l > LOG_LINE_MAX - 1 - *n)
        l = LOG_LINE_MAX - 1 - *n;
    memcpy(line + *n, s, l);
    *n += l;
}

/*
 * Append "<ISO time> <what> <path> <status>[ <rest>]" to the log (one
 * write() on an O_APPEND descriptor, from a buffer on the stack: logging
 * needs no memory). The path is escaped (escape.h, with the blank too, so
 * it stays one field); the rest is a composed text whose names are escaped
 * already and passes the same rule with its backslashes kept (cut with
 * "..." if the line would be longer than LOG_LINE_MAX). A line that holds
 * an escape starts with '\'. 1, or 0 with errno set.
 */
__attribute__((format(printf, 5, 6))) static int
log_event(actx *c, const char *what, const char *path, m2msec_file_status st, const char *f, ...)
{
    char when[32], rest[2 * WHY_MAX], line[LOG_LINE_MAX];
    size_t n = 0;
    va_list ap;
    int fd = c->logfd >= 0 ? c->logfd : STDERR_FILENO;

    if (c->logerr != 0) {
        errno = c->logerr;
        return 0;
    }
    m2m_act_time_text(when, sizeof(when), 0);
    rest[0] = '\0';
    if (f != NULL) {
        va_start(ap, f);
        vsnprintf(rest, sizeof(rest), f, ap);
        va_end(ap);
    }
    if (m2m_escape_needed(path, M2M_ESC_BLANK) || strchr(rest, '\\') != NULL ||
        m2m_escape_needed(rest, M2M_ESC_TEXT))
        m2m_act_put(line, &n, "\\");
    m2m_act_put(line, &n, when);
    m2m_act_put(line, &n, " ");
    m2m_act_put(line, &n, what);
    m2m_act_put(line, &n, " ");
    m2m_escape(path, M2M_ESC_BLANK, line + n, LOG_LINE_MAX - 1 - n); /* n is small here */
    n += strlen(line + n);
    m2m_act_put(line, &n, " ");
    m2m_act_put(line, &n, m2msec_file_status_text(st));
    if (rest[0] != '\0' && n + 2 < LOG_LINE_MAX - 1) {
        m2m_act_put(line, &n, " ");
        m2m_escape(rest, M2M_ESC_TEXT, line + n, LOG_LINE_MAX - 1 - n);
        n += strlen(line + n);
    }
    line[n++] = '\n';
    return m2m_write_all(fd, line, n);
}

/*
 * Open the action log: a regular file with one link, owned by the verifier
 * and writable by it alone (anyone else could forge or truncate its lines,
 * and a link would make the verifier append to another file). Otherwise
 * c->logerr and c->logwhy say why, and every action fails.
 */
static void open_log(actx *c, const char *log)
{
    char shown[M2M_ESC_NAME];
    struct stat st;

    m2m_esc(log, shown, sizeof(shown));
    c->logfd = open(
        log, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC, 0600);
    if (c->logfd < 0) {
        c->logerr = errno;
        m2m_act_fmt(c->logwhy, sizeof(c->logwhy), "action log %s: %s", shown, strerror(c->logerr));
        return;
    }
    if (fstat(c->logfd, &st) != 0) {
        c->logerr = errno;
        m2m_act_fmt(c->logwhy, sizeof(c->logwhy), "action log %s: %s", shown, strerror(c->logerr));
    } else if (!S_ISREG(st.st_mode)) {
        c->logerr = EINVAL;
        m2m_act_fmt(c->logwhy, sizeof(c->logwhy), "action log %s is a %s, not a regular file",
                    shown, m2m_type_text((unsigned)st.st_mode));
    } else if (st.st_nlink != 1) {
        c->logerr = EPERM;
        m2m_act_fmt(
            c->logwhy, sizeof(c->logwhy),
            "action log %s has %ju hard links (it must have one: the verifier would append to "
            "the other names' file)",
            shown, (uintmax_t)st.st_nlink);
    } else if (st.st_uid != geteuid()) {
        c->logerr = EPERM;
        m2m_act_fmt(c->logwhy, sizeof(c->logwhy),
                    "action log %s belongs to uid %ju, not to the verifier (uid %ju)", shown,
                    (uintmax_t)st.st_uid, (uintmax_t)geteuid());
    } else if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
        c->logerr = EPERM;
        m2m_act_fmt(c->logwhy, sizeof(c->logwhy),
                    "action log %s is writable by group or others (mode %04o): its lines could be "
                    "forged; make it writable by its owner only",
                    shown, (unsigned)(st.st_mode & 07777));
    }
    if (c->logerr != 0) {
        close(c->logfd);
        c->logfd = -1;
    }
}

/* ---------------------------------------------------------------- */
/* Identity: the entry that was verified, and no other               */
/* ---------------------------------------------------------------- */

/*
 * Open the entry @p name of the directory @p dfd itself (O_PATH |
 * O_NOFOLLOW: a symlink is not followed, nothing is read) and check that
 * it is @p id. The descriptor, with its fstat in @p st (and its identity in
 * @p now unless NULL); or -1 with errno ENOENT (nothing there), ESTALE
 * (another object: @p st describes it) or that of the failed call.
 */
int m2m_act_open_ident(int dfd, const char *name, const m2m_ident *id, struct stat *st,
                       m2m_ident *now)
{
    int fd = openat(dfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC), err;
    m2m_ident here;

    if (fd < 0)
        return -1;
    if (fstat(fd, st) != 0 || m2m_ident_fd(fd, &here) != 0) {
        err = errno;
        close(fd);
        errno = err;
        return -1;
    }
    if (!m2m_ident_same(id, &here)) {
        close(fd);
        errno = ESTALE;
        return -1;
    }
    if (now != NULL)
        *now = here;
    return fd;
}

/* Is the entry @p name of @p dfd (not followed) the object @p id? */
int m2m_act_is_at(int dfd, const char *name, const m2m_ident *id)
{
    m2m_ident here;

    return m2m_ident_at(dfd, name, &here) == 0 && m2m_ident_same(id, &here);
}

/* "a regular file (inode 12)" */
static void ident_text(mode_t type, ino_t ino, char *buf, size_t len)
{
    m2m_act_fmt(buf, len, "a %s (inode %ju)", m2m_type_text((unsigned)type), (uintmax_t)ino);
}

/*
 * Why m2m_act_open_ident() of @p shown failed (errno @p err, @p now as it gave it),
 * as "<shown> <reason>".
 */
void m2m_act_why_ident(const char *shown, const m2m_ident *id, int err, const struct stat *now,
                       const char *when, char *why, size_t whylen)
{
    char was[96], is[96];

    if (err == ESTALE && id != NULL && id->known) {
        ident_text(id->type, id->ino, was, sizeof(was));
        ident_text(now->st_mode & S_IFMT, now->st_ino, is, sizeof(is));
        if (id->type == (now->st_mode & S_IFMT) && id->ino == now->st_ino)
            m2m_act_fmt_add(is, sizeof(is), ", created since");
        m2m_act_fmt(why, whylen, "%s changed %s (verified: %s; now: %s); not touched", shown, when,
                    was, is);
    } else if (err == ENOENT) {
        m2m_act_fmt(why, whylen, "%s disappeared %s; not touched", shown, when);
    } else {
        m2m_act_fmt(why, whylen, "%s: %s", shown, strerror(err));
    }
}

/* ---------------------------------------------------------------- */
/* Directories of a path                                             */
/* ---------------------------------------------------------------- */

/* Split @p path into its directory (may be "") and last component. */
int m2m_act_split_path(const char *path, char *dir, size_t dlen, char *base, size_t blen)
{
    const char *slash = strrchr(path, '/');
    size_t dl = slash != NULL ? (size_t)(slash - path) : 0;
    const char *b = slash != NULL ? slash + 1 : path;

    if (dl >= dlen || strlen(b) >= blen)
        return 0;
    memcpy(dir, path, dl);
    dir[dl] = '\0';
    strcpy(base, b);
    return 1;
}

/* The directory @p dir below the root (or the root for ""), without following symlinks. */
int m2m_act_open_dir_beneath(actx *c, const char *dir)
{
    if (dir[0] == '\0')
        return openat(c->rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    return m2m_open_beneath_flags(c->rootfd, dir, O_RDONLY | O_DIRECTORY);
}

void m2m_act_why_open_dir(actx *c, const char *dir, int err, char *why, size_t whylen)
{
    char desc[M2M_ESC_NAME + 64], shown[M2M_ESC_NAME];

    m2m_esc(dir, shown, sizeof(shown));
    if (err == ELOOP || err == EXDEV || err == ENOTDIR) {
        m2m_describe_component(c->rootfd, dir, desc, sizeof(desc));
        m2m_act_fmt(why, whylen, "directory %s: %s (not followed)", shown, desc);
    } else {
        m2m_act_fmt(why, whylen, "directory %s: %s", shown, strerror(err));
    }
}

/* Remove the directories of @p dir from offset @p from on (those that were created). */
void m2m_act_remove_created(actx *c, const char *dir, size_t from)
{
    char buf[PATH_MAX];

    if (from == (size_t)-1)
        return;
    m2m_act_fmt(buf, sizeof(buf), "%s", dir);
    while (strlen(buf) > from) {
        char *slash = strrchr(buf, '/');
        const char *name = slash != NULL ? slash + 1 : buf;
        int pfd;

        if ((size_t)(name - buf) < from)
            break;
        if (slash != NULL)
            *slash = '\0';
        pfd = m2m_act_open_dir_beneath(c, slash != NULL ? buf : "");
        if (pfd >= 0) {
            unlinkat(pfd, name, AT_REMOVEDIR); /* only while empty */
            (void)fsync(pfd);
            close(pfd);
        }
        if (slash == NULL)
            break;
    }
}

/*
 * Open @p dir below the root; if it is missing, create the missing
 * directories (mode 0755). *created gets the offset in @p dir of the first
 * created component, or (size_t)-1.
 */
int m2m_act_open_or_create_dir(actx *c, const char *dir, size_t *created, char *why, size_t whylen)
{
    char comp[NAME_MAX + 1];
    const char *p = dir;
    int fd, cur, err;

    *created = (size_t)-1;
    fd = m2m_act_open_dir_beneath(c, dir);
    if (fd >= 0 || errno != ENOENT) {
        if (fd < 0)
            m2m_act_why_open_dir(c, dir, errno, why, whylen);
        return fd;
    }
    cur = openat(c->rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    while (cur >= 0) {
        const char *slash = strchr(p, '/');
        size_t n = slash != NULL ? (size_t)(slash - p) : strlen(p);

        if (n > NAME_MAX) {
            errno = ENAMETOOLONG;
            break;
        }
        memcpy(comp, p, n);
        comp[n] = '\0';
        fd = openat(cur, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0 && errno == ENOENT) {
            if (mkdirat(cur, comp, 0755) != 0)
                break;
            if (*created == (size_t)-1)
                *created = (size_t)(p - dir);
            (void)fsync(cur);
            fd = openat(cur, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        }
        if (fd < 0)
            break;
        close(cur);
        cur = fd;
        if (slash == NULL)
            return cur;
        p = slash + 1;
    }
    err = errno;
    if (cur >= 0)
        close(cur);
    m2m_act_remove_created(c, dir, *created);
    *created = (size_t)-1;
    m2m_act_why_open_dir(c, dir, err, why, whylen);
    return -1;
}

/* ---------------------------------------------------------------- */
/* Actions                                                           */
/* ---------------------------------------------------------------- */

/* One failed result. Sets action, action_ok and the detail text. */
static void act_on(actx *c, m2msec_report *r, size_t i)
{
    m2msec_file_result *res = m2msec_report_at_mut(r, i);
    const m2m_ident *id = m2msec_report_seen(r, i);
    char done[WHY_MAX] = "", why[WHY_MAX] = "", qpath[M2M_ESC_NAME + NAME_MAX + 2] = "";
    char detail[2 * WHY_MAX], shown[M2M_ESC_NAME];
    const m2msec_manifest_entry *e;
    const char *word;
    int ok = 0, logged;

    m2m_esc(res->path, shown, sizeof(shown));
    res->action = m2msec_policy_action(c->pol, res->path);
    word = m2msec_action_text(res->action);
    /* relative, no empty, "." or ".." component: a name below the root that an action can move */
    if (!m2m_path_shape_ok(res->path)) {
        /* e.g. "." for an unreadable root: nothing that a file action can change */
        m2m_act_fmt(why, sizeof(why), "not a file below the root");
        if (res->action != M2MSEC_ACTION_ALERT)
            res->action = M2MSEC_ACTION_DENY;
        word = m2msec_action_text(res->action);
    }
    switch (res->action) {
    case M2MSEC_ACTION_DENY:
        ok = 1;
        m2m_act_fmt(done, sizeof(done), "not changed; the device must not run");
        logged = log_event(c, word, res->path, res->status, NULL);
        break;
    case M2MSEC_ACTION_ALERT:
        ok = 1;
        m2m_act_fmt(done, sizeof(done), "logged");
        logged = log_event(c, word, res->path, res->status, "(%s)",
                           res->detail != NULL ? res->detail : "no detail");
        break;
    case M2MSEC_ACTION_QUARANTINE:
        if (res->status == M2MSEC_FILE_MISSING) {
            ok = 1;
            m2m_act_fmt(done, sizeof(done), "not present: nothing to move");
            logged = log_event(c, word, res->path, res->status, "(%s)", done);
            break;
        }
        ok = m2m_act_quarantine(c, res, shown, id, qpath, sizeof(qpath), why, sizeof(why));
        if (ok && qpath[0] == '\0') {
            m2m_act_fmt(done, sizeof(done), "no longer present: nothing to move");
            logged = log_event(c, word, res->path, res->status, "(%s)", done);
        } else if (ok) {
            m2m_act_fmt(done, sizeof(done), "moved to %s", qpath);
            logged = log_event(c, word, res->path, res->status, "-> %s", qpath);
        } else {
            logged = log_event(c, "quarantine-failed", res->path, res->status, "%s", why);
        }
        break;
    case M2MSEC_ACTION_REMEDIATE:
        e = m2msec_manifest_find(c->m, res->path);
        if (e == NULL) {
            /* not in the manifest: the expected state is "absent" */
            ok = m2m_act_quarantine(c, res, shown, id, qpath, sizeof(qpath), why, sizeof(why));
            if (ok && qpath[0] == '\0') {
                m2m_act_fmt(done, sizeof(done), "not in the manifest; no longer present");
                logged = log_event(c, word, res->path, res->status, "(%s)", done);
            } else if (ok) {
                m2m_act_fmt(done, sizeof(done), "not in the manifest: moved to %s", qpath);
                logged = log_event(c, word, res->path, res->status, "-> %s (not in the manifest)",
                                   qpath);
            } else {
                logged = log_event(c, "remediate-failed", res->path, res->status, "%s", why);
            }
        } else {
            ok = m2m_act_remediate(c, res, shown, id, e, done, sizeof(done), why, sizeof(why));
            if (ok)
                logged = log_event(c, word, res->path, res->status, "%s", done);
            else
                logged = log_event(c, "remediate-failed", res->path, res->status, "%s: %s",
                                   strstr(why, "undo failed") != NULL ? "NOT fully undone"
                                                                      : "nothing changed",
                                   why);
        }
        break;
    default:
        m2m_act_fmt(why, sizeof(why), "unknown action");
        logged = 1;
        break;
    }
    if (ok && !logged) {
        ok = 0;
        m2m_act_fmt(detail, sizeof(detail), "%s; but the log could not be written: %s", done,
                    c->logwhy[0] != '\0' ? c->logwhy : strerror(errno));
    } else if (ok) {
        m2m_act_fmt(detail, sizeof(detail), "%s", done);
    } else {
        m2m_act_fmt(detail, sizeof(detail), "%s", why);
    }
    res->action_ok = ok;
    m2msec_report_set_action_detail(r, i, detail);
}

typedef struct depth_index {
    size_t depth, index;
} depth_index;

static size_t depth(const char *path)
{
    size_t d = 0;

    for (; *path != '\0'; path++)
        d += *path == '/';
    return d;
}

/* Deeper first; the report's order (by path) among equal depths. */
static int cmp_depth(const void *a, const void *b)
{
    const depth_index *x = a, *y = b;

    if (x->depth != y->depth)
        return x->depth > y->depth ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

int m2msec_policy_apply(OSSL_LIB_CTX *libctx, const m2msec_policy *p, const m2msec_manifest *m,
                        const char *root, m2msec_report *r)
{
    actx c;
    size_t denied = 0, failed = 0, n;
    const char *log;
    const m2msec_file_result *first = NULL;
    depth_index *order;
    char shown[M2M_ESC_NAME];

    if (p == NULL || m == NULL || root == NULL || r == NULL) {
        ERR_raise_data(ERR_LIB_USER, ERR_R_PASSED_NULL_PARAMETER,
                       "m2msec: NULL policy, manifest, root or report");
        return 0;
    }
    memset(&c, 0, sizeof(c));
    c.libctx = libctx;
    c.pol = p;
    c.m = m;
    c.qfd = c.logfd = -1;
    c.copy_max = m2m_policy_quarantine_copy_max(p);
    if (m2m_policy_quarantine_dir(p) != NULL)
        m2m_esc(m2m_policy_quarantine_dir(p), c.qshown, sizeof(c.qshown));
    c.rootfd = open(root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (c.rootfd < 0) {
        ERR_raise_data(ERR_LIB_SYS, errno, "m2msec: cannot open the root directory %s",
                       m2m_esc(root, shown, sizeof(shown)));
        return 0;
    }
    log = m2m_policy_log(p);
    if (log != NULL)
        open_log(&c, log);
    n = m2msec_report_count(r);
    order = n > 0 ? OPENSSL_malloc(n * sizeof(*order)) : NULL;
    if (order != NULL) {
        /* deeper paths first: "d/x" is handled before "d" moves the whole directory away */
        for (size_t i = 0; i < n; i++)
            order[i] = (depth_index){depth(m2msec_report_at(r, i)->path), i};
        qsort(order, n, sizeof(*order), cmp_depth);
    }
    for (size_t k = 0; k < n; k++) {
        size_t i = order != NULL ? order[k].index : k;
        const m2msec_file_result *res = m2msec_report_at(r, i);

        if (res->status == M2MSEC_FILE_OK)
            continue;
        act_on(&c, r, i);
        if (res->action == M2MSEC_ACTION_DENY)
            denied++;
        else if (!res->action_ok)
            failed++;
        if ((res->action == M2MSEC_ACTION_DENY || !res->action_ok) && first == NULL)
            first = res;
    }
    OPENSSL_free(order);
    if (c.logfd >= 0) {
        int bad = fsync(c.logfd) != 0;

        bad |= close(c.logfd) != 0;
        if (bad) {
            ERR_raise_data(ERR_LIB_SYS, errno, "m2msec: cannot write the action log %s",
                           m2m_esc(log, shown, sizeof(shown)));
            failed++;
        }
    }
    if (c.qfd >= 0)
        close(c.qfd);
    close(c.rootfd);
    if (denied > 0 || failed > 0) {
        if (first != NULL)
            ERR_raise_data(ERR_LIB_USER, ERR_R_OPERATION_FAIL,
                           "m2msec: integrity policy: %zu file(s) denied, %zu action(s) failed "
                           "(first: %s: %s: %s)",
                           denied, failed, m2m_esc(first->path, shown, sizeof(shown)),
                           m2msec_action_text(first->action),
                           first->action_detail != NULL ? first->action_detail : "");
        return 0;
    }
    return 1;
}
