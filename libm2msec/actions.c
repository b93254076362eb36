/*
 * libm2msec: carrying out the integrity policy on a verification report
 * (m2msec_policy_apply, include/m2msec/integrity.h; docs/POLICY.md,
 * "Integrity rules", and docs/SECURITY.md, "Policy actions").
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
 * Quarantine moves an entry into the quarantine directory under a new,
 * unique name (renameat2 RENAME_NOREPLACE), then clears its permission
 * bits through the checked descriptor. On another filesystem a regular file
 * is copied (data extents only: SEEK_DATA/SEEK_HOLE, all-zero blocks left
 * as holes; at most quarantine_copy_max bytes of data) and a symlink
 * re-created, then the original unlinked.
 *
 * Remediation downloads the expected copy into a temporary file in the
 * target's directory (O_EXCL), hashing it while writing; only when the
 * digest (and size, when recorded) equals the manifest does anything
 * change: the copy is exchanged with the old file in one step
 * (RENAME_EXCHANGE), checked, then the old file is moved to quarantine.
 * Every step has an undo, run in reverse order when a later step fails.
 * An undo puts the permission bits back while the entry is still in the
 * quarantine directory, before it is renamed back.
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
#include "m2msec/integrity.h"
#include "policy_internal.h"
#include "remediate.h"
#include "report_internal.h"
#include "safe_open.h"

#define WHY_MAX 2048
#define COPY_BUF (64u * 1024u)

/* snprintf() whose truncation is accepted: messages are cut, never overflowed. */
__attribute__((format(printf, 3, 4))) static void fmt(char *buf, size_t len, const char *f, ...)
{
    va_list ap;

    va_start(ap, f);
    vsnprintf(buf, len, f, ap);
    va_end(ap);
}

/* Append to the NUL-terminated @p buf of @p len bytes. */
__attribute__((format(printf, 3, 4))) static void fmt_add(char *buf, size_t len, const char *f, ...)
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

static int hook(const char *step, const char *path)
{
    return test_hook != NULL ? test_hook(test_hook_arg, step, path) : 0;
}

typedef struct actx {
    OSSL_LIB_CTX *libctx;
    const m2msec_policy *pol;
    const m2msec_manifest *m;
    int rootfd;
    int qfd;                   /* quarantine directory, -1 until needed */
    char qshown[M2M_ESC_NAME]; /* its path, escaped for messages */
    uint64_t copy_max;         /* quarantine_copy_max */
    int logfd;                 /* -1: log to stderr */
    int logerr;                /* errno why the log cannot be used */
    char logwhy[WHY_MAX];      /* and the reason, or "" */
    unsigned seq;              /* temporary-file names */
} actx;

/* ---------------------------------------------------------------- */
/* Log                                                               */
/* ---------------------------------------------------------------- */

/* Current UTC time, ISO 8601 ("2025-01-31T12:00:00Z") or compact ("20250131T120000Z"). */
static void time_text(char *buf, size_t len, int compact)
{
    time_t now = time(NULL);
    struct tm tm;
    size_t n = 0;

    if (gmtime_r(&now, &tm) != NULL)
        n = compact ? strftime(buf, len, "%Y%m%dT%H%M%SZ", &tm)
                    : strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
    if (n == 0)
        fmt(buf, len, "%lld", (long long)now);
}

/* Longest log line: the time, words, a path of PATH_MAX bytes escaped in full, and the rest. */
#define LOG_LINE_MAX (24u * 1024u)

/* Copy @p s to line + *n, as much as fits before the last byte (kept for the newline). */
static void put(char *line, size_t *n, const char *s)
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
    size_t n = 0, off = 0;
    va_list ap;
    int fd = c->logfd >= 0 ? c->logfd : STDERR_FILENO;

    if (c->logerr != 0) {
        errno = c->logerr;
        return 0;
    }
    time_text(when, sizeof(when), 0);
    rest[0] = '\0';
    if (f != NULL) {
        va_start(ap, f);
        vsnprintf(rest, sizeof(rest), f, ap);
        va_end(ap);
    }
    if (m2m_escape_needed(path, M2M_ESC_BLANK) || strchr(rest, '\\') != NULL ||
        m2m_escape_needed(rest, M2M_ESC_TEXT))
        put(line, &n, "\\");
    put(line, &n, when);
    put(line, &n, " ");
    put(line, &n, what);
    put(line, &n, " ");
    m2m_escape(path, M2M_ESC_BLANK, line + n, LOG_LINE_MAX - 1 - n); /* n is small here */
    n += strlen(line + n);
    put(line, &n, " ");
    put(line, &n, m2msec_file_status_text(st));
    if (rest[0] != '\0' && n + 2 < LOG_LINE_MAX - 1) {
        put(line, &n, " ");
        m2m_escape(rest, M2M_ESC_TEXT, line + n, LOG_LINE_MAX - 1 - n);
        n += strlen(line + n);
    }
    line[n++] = '\n';
    while (off < n) {
        ssize_t w = write(fd, line + off, n - off);

        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            if (w == 0)
                errno = EIO;
            return 0;
        }
        off += (size_t)w;
    }
    return 1;
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
        fmt(c->logwhy, sizeof(c->logwhy), "action log %s: %s", shown, strerror(c->logerr));
        return;
    }
    if (fstat(c->logfd, &st) != 0) {
        c->logerr = errno;
        fmt(c->logwhy, sizeof(c->logwhy), "action log %s: %s", shown, strerror(c->logerr));
    } else if (!S_ISREG(st.st_mode)) {
        c->logerr = EINVAL;
        fmt(c->logwhy, sizeof(c->logwhy), "action log %s is a %s, not a regular file", shown,
            m2m_type_text((unsigned)st.st_mode));
    } else if (st.st_nlink != 1) {
        c->logerr = EPERM;
        fmt(c->logwhy, sizeof(c->logwhy),
            "action log %s has %ju hard links (it must have one: the verifier would append to "
            "the other names' file)",
            shown, (uintmax_t)st.st_nlink);
    } else if (st.st_uid != geteuid()) {
        c->logerr = EPERM;
        fmt(c->logwhy, sizeof(c->logwhy),
            "action log %s belongs to uid %ju, not to the verifier (uid %ju)", shown,
            (uintmax_t)st.st_uid, (uintmax_t)geteuid());
    } else if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
        c->logerr = EPERM;
        fmt(c->logwhy, sizeof(c->logwhy),
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
static int open_ident(int dfd, const char *name, const m2m_ident *id, struct stat *st,
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
static int is_at(int dfd, const char *name, const m2m_ident *id)
{
    m2m_ident here;

    return m2m_ident_at(dfd, name, &here) == 0 && m2m_ident_same(id, &here);
}

/* "a regular file (inode 12)" */
static void ident_text(mode_t type, ino_t ino, char *buf, size_t len)
{
    fmt(buf, len, "a %s (inode %ju)", m2m_type_text((unsigned)type), (uintmax_t)ino);
}

/*
 * Why open_ident() of @p shown failed (errno @p err, @p now as it gave it),
 * as "<shown> <reason>".
 */
static void why_ident(const char *shown, const m2m_ident *id, int err, const struct stat *now,
                      const char *when, char *why, size_t whylen)
{
    char was[96], is[96];

    if (err == ESTALE && id != NULL && id->known) {
        ident_text(id->type, id->ino, was, sizeof(was));
        ident_text(now->st_mode & S_IFMT, now->st_ino, is, sizeof(is));
        if (id->type == (now->st_mode & S_IFMT) && id->ino == now->st_ino)
            fmt_add(is, sizeof(is), ", created since");
        fmt(why, whylen, "%s changed %s (verified: %s; now: %s); not touched", shown, when, was,
            is);
    } else if (err == ENOENT) {
        fmt(why, whylen, "%s disappeared %s; not touched", shown, when);
    } else {
        fmt(why, whylen, "%s: %s", shown, strerror(err));
    }
}

/*
 * Change the permission bits of the object open as @p pfd (O_PATH or
 * not; @p st its fstat) to @p mode: chmod() of /proc/self/fd/N reaches
 * that inode only, with no name looked up in the tree. Symlinks have no
 * bits: nothing to do. 0, or -1 with errno (EOPNOTSUPP without /proc).
 */
static int fd_chmod(int pfd, const struct stat *st, mode_t mode)
{
    char proc[64];

    if (S_ISLNK(st->st_mode))
        return 0;
    fmt(proc, sizeof(proc), "/proc/self/fd/%d", pfd);
    if (chmod(proc, mode) == 0)
        return 0;
    if (errno == ENOENT)
        errno = EOPNOTSUPP; /* no /proc: refuse rather than act by name */
    return -1;
}

/* Reopen the object of the O_PATH descriptor @p pfd for reading (the same inode). */
static int fd_reopen_read(int pfd)
{
    char proc[64];
    int fd;

    fmt(proc, sizeof(proc), "/proc/self/fd/%d", pfd);
    fd = open(proc, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT)
        errno = EOPNOTSUPP;
    return fd;
}

/* ---------------------------------------------------------------- */
/* Moving and copying entries                                        */
/* ---------------------------------------------------------------- */

/* renameat2(RENAME_NOREPLACE), or a check + renameat() where the filesystem lacks it. */
static int rename_noreplace(int fromfd, const char *from, int tofd, const char *to)
{
    struct stat st;

    if (renameat2(fromfd, from, tofd, to, RENAME_NOREPLACE) == 0)
        return 0;
    if (errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP)
        return -1;
    if (fstatat(tofd, to, &st, AT_SYMLINK_NOFOLLOW) == 0) {
        errno = EEXIST;
        return -1;
    }
    if (errno != ENOENT)
        return -1;
    return renameat(fromfd, from, tofd, to);
}

static int pwrite_all(int fd, const unsigned char *p, size_t len, off_t at)
{
    while (len > 0) {
        ssize_t w = pwrite(fd, p, len, at);

        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            if (w == 0)
                errno = EIO;
            return 0;
        }
        p += w;
        len -= (size_t)w;
        at += w;
    }
    return 1;
}

static int all_zero(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != 0)
            return 0;
    return 1;
}

/*
 * The next data extent of @p fd at or after @p pos, below @p end: [*d, *h).
 * 1 if there is one, 0 if only a hole is left, -1 with errno on error. A
 * filesystem without SEEK_DATA/SEEK_HOLE reports everything as data.
 */
static int next_extent(int fd, off_t pos, off_t end, off_t *d, off_t *h)
{
    *d = lseek(fd, pos, SEEK_DATA);
    if (*d < 0) {
        if (errno == ENXIO)
            return 0;
        if (errno != EINVAL && errno != EOPNOTSUPP)
            return -1;
        *d = pos;
        *h = end;
        return 1;
    }
    if (*d >= end)
        return 0;
    *h = lseek(fd, *d, SEEK_HOLE);
    if (*h < 0) {
        if (errno != EINVAL && errno != EOPNOTSUPP && errno != ENXIO)
            return -1;
        *h = end;
    }
    if (*h > end)
        *h = end;
    return 1;
}

/* Bytes in the data extents of @p fd up to @p end; -1 with errno on error. */
static int64_t data_bytes(int fd, off_t end)
{
    int64_t total = 0;
    off_t pos = 0, d, h;
    int r;

    while (pos < end && (r = next_extent(fd, pos, end, &d, &h)) != 0) {
        if (r < 0)
            return -1;
        total += (int64_t)(h - d);
        pos = h;
    }
    return total;
}

/*
 * Copy the regular file @p in (of @p size bytes) to the new, empty file
 * @p out: only its data extents are read, all-zero blocks are not written,
 * so holes stay holes; then the size is set. More than @p max bytes of
 * data: EFBIG. 0 or an errno value.
 */
static int copy_sparse(int in, int out, off_t size, uint64_t max)
{
    unsigned char *buf = OPENSSL_malloc(COPY_BUF);
    uint64_t data = 0;
    off_t pos = 0, d, h;
    int r, err = 0;

    if (buf == NULL)
        return ENOMEM;
    while (err == 0 && pos < size && (r = next_extent(in, pos, size, &d, &h)) != 0) {
        if (r < 0) {
            err = errno;
            break;
        }
        for (off_t o = d; o < h;) {
            size_t want = (uint64_t)(h - o) < COPY_BUF ? (size_t)(h - o) : COPY_BUF;
            ssize_t got = pread(in, buf, want, o);

            if (got < 0 && errno == EINTR)
                continue;
            if (got < 0) {
                err = errno;
                break;
            }
            if (got == 0) /* shrank meanwhile: caught by the caller's second fstat */
                break;
            data += (uint64_t)got;
            if (data > max) {
                err = EFBIG;
                break;
            }
            if (!all_zero(buf, (size_t)got) && !pwrite_all(out, buf, (size_t)got, o)) {
                err = errno;
                break;
            }
            o += got;
        }
        pos = h;
    }
    if (err == 0 && ftruncate(out, size) != 0)
        err = errno;
    OPENSSL_free(buf);
    return err;
}

static int same_content_stat(const struct stat *a, const struct stat *b)
{
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
           a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
           a->st_ctim.tv_sec == b->st_ctim.tv_sec && a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

/* ---------------------------------------------------------------- */
/* Quarantine                                                        */
/* ---------------------------------------------------------------- */

/*
 * Open the quarantine directory (created 0700 if missing). It must be a
 * real directory owned by the verifier and writable by it alone: the
 * verifier trusts what it finds there.
 */
static int open_qdir(actx *c, char *why, size_t whylen)
{
    const char *dir = m2m_policy_quarantine_dir(c->pol);
    struct stat st;
    int err;

    if (c->qfd >= 0)
        return 1;
    if (dir == NULL) {
        fmt(why, whylen, "the policy has no quarantine_dir");
        return 0;
    }
    c->qfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (c->qfd < 0 && errno == ENOENT && mkdir(dir, 0700) == 0)
        c->qfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (c->qfd < 0) {
        err = errno;
        if ((err == ELOOP || err == ENOTDIR) && lstat(dir, &st) == 0 && S_ISLNK(st.st_mode))
            fmt(why, whylen, "quarantine directory %s is a symlink (not followed)", c->qshown);
        else
            fmt(why, whylen, "quarantine directory %s: %s", c->qshown, strerror(err));
        return 0;
    }
    if (fstat(c->qfd, &st) != 0) {
        err = errno;
        fmt(why, whylen, "quarantine directory %s: %s", c->qshown, strerror(err));
    } else if (st.st_uid != geteuid() || (st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
        err = EPERM;
        fmt(why, whylen,
            "quarantine directory %s belongs to uid %ju with mode %04o: it must belong to the "
            "verifier (uid %ju) and be writable by it alone, or others could swap its entries",
            c->qshown, (uintmax_t)st.st_uid, (unsigned)(st.st_mode & 07777), (uintmax_t)geteuid());
    } else {
        return 1;
    }
    close(c->qfd);
    c->qfd = -1;
    return 0;
}

typedef struct qmove {
    char name[NAME_MAX + 1]; /* in the quarantine directory */
    struct stat st;          /* the verified entry as it was moved (owner, mode, times) */
    m2m_ident vid;           /* its identity */
    m2m_ident qid;           /* what is under name in the quarantine directory */
    int copied;              /* copied to another filesystem, the original unlinked */
} qmove;

/* "<UTC time>-<n>-<path with everything but [A-Za-z0-9._+-] as '_'>", at most NAME_MAX. */
static void quarantine_name(const char *path, unsigned n, char *out, size_t len)
{
    char when[32];
    size_t plen = strlen(path), k;
    const char *p = path;
    int head;

    time_text(when, sizeof(when), 1);
    head = snprintf(out, len, "%s-%u-", when, n);
    if (head < 0 || (size_t)head >= len)
        return;
    k = (size_t)head;
    if (plen > len - 1 - k)
        p += plen - (len - 1 - k); /* keep the end: the file name says most */
    for (; *p != '\0' && k + 1 < len; p++) {
        char ch = *p;

        out[k++] = ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                    (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '+' || ch == '-')
                       ? ch
                       : '_';
    }
    out[k] = '\0';
}

/*
 * Copy the verified regular file open as @p pfd (O_PATH, fstat @p st) into
 * the quarantine directory as the new entry @p name, mode 0: data extents
 * only, at most c->copy_max bytes of data. 0 or an errno value (EEXIST:
 * the name is taken; EFBIG: over the cap; EBUSY: it changed meanwhile).
 */
static int copy_regular_out(actx *c, int pfd, const struct stat *st, const char *name,
                            m2m_ident *qid)
{
    struct stat a, b;
    int64_t data;
    int in, out, err = 0;

    in = fd_reopen_read(pfd);
    if (in < 0)
        return errno;
    if (fstat(in, &a) != 0) {
        err = errno;
        close(in);
        return err;
    }
    if (a.st_dev != st->st_dev || a.st_ino != st->st_ino) {
        close(in);
        return ESTALE;
    }
    data = data_bytes(in, a.st_size);
    if (data < 0 || (uint64_t)data > c->copy_max) {
        err = data < 0 ? errno : EFBIG;
        close(in);
        return err;
    }
    out = openat(c->qfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0);
    if (out < 0) {
        err = errno;
        close(in);
        return err;
    }
    err = copy_sparse(in, out, a.st_size, c->copy_max);
    if (err == 0 && (fstat(in, &b) != 0 || !same_content_stat(&a, &b)))
        err = EBUSY;
    if (err == 0 && (fchmod(out, 0) != 0 || fsync(out) != 0 || m2m_ident_fd(out, qid) != 0))
        err = errno;
    if (close(out) != 0 && err == 0)
        err = errno;
    if (err != 0)
        unlinkat(c->qfd, name, 0);
    close(in);
    return err;
}

/* Re-create the verified symlink open as @p pfd (O_PATH) in the quarantine directory. */
static int copy_symlink_out(actx *c, int pfd, const char *name, m2m_ident *qid)
{
    char target[PATH_MAX + 1];
    ssize_t n = readlinkat(pfd, "", target, sizeof(target));

    if (n < 0)
        return errno;
    if ((size_t)n >= sizeof(target))
        return ENAMETOOLONG;
    target[n] = '\0';
    if (symlinkat(target, c->qfd, name) != 0)
        return errno;
    if (m2m_ident_at(c->qfd, name, qid) != 0) {
        int err = errno;

        unlinkat(c->qfd, name, 0);
        return err;
    }
    return 0;
}

/* Unlink dfd/base if it still is the object @p id (the window is in docs/SECURITY.md). */
static int unlink_if_same(int dfd, const char *base, const m2m_ident *id)
{
    m2m_ident now;

    if (m2m_ident_at(dfd, base, &now) != 0)
        return errno;
    if (!m2m_ident_same(id, &now))
        return ESTALE;
    return unlinkat(dfd, base, id->type == S_IFDIR ? AT_REMOVEDIR : 0) == 0 ? 0 : errno;
}

/* Quarantine results: done, or nothing there (the entry is gone), or failed. */
enum { Q_FAILED = 0, Q_DONE = 1, Q_GONE = 2 };

/*
 * Put the quarantined entry @p q back at pdfd/base as it was (@p shown:
 * the file's path for messages). Its permission bits are restored while it
 * is still in the quarantine directory; a copy is copied back into a new
 * file with the original owner, mode and times (q->vid then becomes the
 * identity of that new file). 1, or 0 with a reason.
 */
static int quarantine_undo(actx *c, int pdfd, const char *base, const char *shown, qmove *q,
                           char *why, size_t whylen)
{
    struct stat now, back;
    int fd = -1, err = 0;

    if (!q->copied) {
        fd = open_ident(c->qfd, q->name, &q->qid, &now, NULL);
        if (fd < 0)
            err = errno;
        else if ((now.st_mode & 07777) != (q->st.st_mode & 07777) &&
                 fd_chmod(fd, &now, q->st.st_mode & 07777) != 0)
            err = errno; /* only what the action changed is put back */
        else if (rename_noreplace(c->qfd, q->name, pdfd, base) != 0) {
            err = errno;
            (void)fd_chmod(fd, &now, 0); /* stays in quarantine: stripped again */
        }
        if (fd >= 0)
            close(fd);
        if (err == 0) {
            /* what is at the old name now must be what we moved back */
            int bfd = open_ident(pdfd, base, &q->vid, &back, NULL);

            if (bfd < 0) {
                why_ident(shown, &q->vid, errno, &back, "right after being put back", why, whylen);
                return 0;
            }
            close(bfd);
        }
    } else if (S_ISREG(q->st.st_mode)) {
        struct timespec ts[2] = {q->st.st_atim, q->st.st_mtim};
        struct stat cst;
        int in = -1, out = -1;

        fd = open_ident(c->qfd, q->name, &q->qid, &cst, NULL); /* our copy */
        if (fd < 0)
            err = errno;
        else if (fd_chmod(fd, &cst, 0400) != 0 || (in = fd_reopen_read(fd)) < 0)
            err = errno;
        else if ((out = openat(pdfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                               0)) < 0)
            err = errno;
        else if ((err = copy_sparse(in, out, cst.st_size, UINT64_MAX)) == 0 &&
                 (fchown(out, q->st.st_uid, q->st.st_gid) != 0 ||
                  fchmod(out, q->st.st_mode & 07777) != 0 || futimens(out, ts) != 0 ||
                  fsync(out) != 0))
            err = errno;
        if (out >= 0) {
            m2m_ident made;

            if (m2m_ident_fd(out, &made) != 0) {
                if (err == 0)
                    err = errno;
            } else if (err != 0) {
                /* remove what we created, if it still is ours */
                if (is_at(pdfd, base, &made))
                    unlinkat(pdfd, base, 0);
            } else {
                q->vid = made; /* the old file is back as this new file */
            }
            close(out);
        }
        if (in >= 0)
            close(in);
        if (fd >= 0) {
            if (err != 0)
                (void)fd_chmod(fd, &cst, 0);
            close(fd);
        }
        if (err == 0 && unlinkat(c->qfd, q->name, 0) != 0)
            err = errno;
    } else {
        /* a symlink: re-created, then given its owner through a descriptor */
        char target[PATH_MAX + 1];
        ssize_t n = -1;

        fd = open_ident(c->qfd, q->name, &q->qid, &now, NULL);
        if (fd >= 0) {
            n = readlinkat(fd, "", target, sizeof(target));
            close(fd);
            fd = -1;
        }
        if (n < 0 || (size_t)n >= sizeof(target))
            err = n < 0 ? errno : ENAMETOOLONG;
        else {
            target[n] = '\0';
            if (symlinkat(target, pdfd, base) != 0)
                err = errno;
        }
        if (err == 0) {
            fd = openat(pdfd, base, O_PATH | O_NOFOLLOW | O_CLOEXEC);
            if (fd < 0 || fstat(fd, &now) != 0)
                err = errno;
            else if (!S_ISLNK(now.st_mode) || now.st_uid != geteuid() || now.st_nlink != 1)
                err = ESTALE; /* not the symlink we just made */
            else if (fchownat(fd, "", q->st.st_uid, q->st.st_gid, AT_EMPTY_PATH) != 0 ||
                     m2m_ident_fd(fd, &q->vid) != 0)
                err = errno;
            if (fd >= 0)
                close(fd);
        }
        if (err == 0 && unlinkat(c->qfd, q->name, 0) != 0)
            err = errno;
    }
    if (err == 0) {
        (void)fsync(pdfd);
        (void)fsync(c->qfd);
        return 1;
    }
    fmt(why, whylen, "the old file stays in quarantine as %s/%s (%s)", c->qshown, q->name,
        strerror(err));
    return 0;
}

/*
 * Move the verified entry pdfd/base (the file @p path, @p shown escaped)
 * into quarantine with its permission bits cleared. Q_DONE, Q_GONE when
 * nothing is there, or Q_FAILED with a reason; on failure nothing of the
 * verified entry has changed.
 */
static int quarantine_entry(actx *c, int pdfd, const char *base, const char *path,
                            const char *shown, const m2m_ident *id, qmove *q, char *why,
                            size_t whylen)
{
    struct stat now;
    int err = EEXIST, pfd, mfd;

    memset(q, 0, sizeof(*q));
    if (id == NULL || !id->known) {
        if (fstatat(pdfd, base, &now, AT_SYMLINK_NOFOLLOW) != 0 && errno == ENOENT)
            return Q_GONE;
        fmt(why, whylen,
            "what is at %s could not be looked at during verification, so it cannot be told "
            "from something put there since; not touched",
            shown);
        return Q_FAILED;
    }
    q->vid = *id;
    pfd = open_ident(pdfd, base, id, &q->st, NULL);
    if (pfd < 0) {
        err = errno;
        if (err == ENOENT)
            return Q_GONE;
        why_ident(shown, id, err, &q->st, "since it was verified", why, whylen);
        return Q_FAILED;
    }
    if (!S_ISDIR(q->st.st_mode) && q->st.st_nlink > 1) {
        fmt(why, whylen,
            "%s has %ju hard links: moving it would leave the file under its other names, and "
            "clearing its mode would change it there too; not touched (remove the other links)",
            shown, (uintmax_t)q->st.st_nlink);
        close(pfd);
        return Q_FAILED;
    }
    if (!open_qdir(c, why, whylen)) {
        close(pfd);
        return Q_FAILED;
    }
    for (unsigned n = 0; n < 1000 && err == EEXIST; n++) {
        quarantine_name(path, n, q->name, sizeof(q->name));
        err = rename_noreplace(pdfd, base, c->qfd, q->name) == 0 ? 0 : errno;
        if (err == EXDEV) {
            /* another filesystem: copy what was verified, then unlink the original */
            if (S_ISREG(q->st.st_mode))
                err = copy_regular_out(c, pfd, &q->st, q->name, &q->qid);
            else if (S_ISLNK(q->st.st_mode))
                err = copy_symlink_out(c, pfd, q->name, &q->qid);
            q->copied = err == 0;
        }
    }
    close(pfd);
    if (err == EXDEV) {
        fmt(why, whylen, "cannot move %s (a %s) to the quarantine directory on another filesystem",
            shown, m2m_type_text((unsigned)q->st.st_mode));
        return Q_FAILED;
    }
    if (err == EFBIG) {
        fmt(why, whylen,
            "%s would be copied to the quarantine directory on another filesystem, and it has "
            "more than quarantine_copy_max = %" PRIu64 " bytes of data; not touched",
            shown, c->copy_max);
        return Q_FAILED;
    }
    if (err == ESTALE || err == EBUSY) {
        fmt(why, whylen, "%s changed while it was being copied to quarantine; not touched", shown);
        return Q_FAILED;
    }
    if (err != 0) {
        fmt(why, whylen, "cannot move %s to the quarantine directory: %s", shown, strerror(err));
        return Q_FAILED;
    }
    if (q->copied) {
        if (fsync(c->qfd) != 0)
            err = errno;
        else
            err = unlink_if_same(pdfd, base, &q->vid);
        if (err != 0) {
            unlinkat(c->qfd, q->name, 0);
            if (err == ESTALE || err == ENOENT)
                fmt(why, whylen, "%s changed while it was being copied to quarantine; not touched",
                    shown);
            else
                fmt(why, whylen, "cannot remove %s after copying it to quarantine: %s", shown,
                    strerror(err));
            return Q_FAILED;
        }
    } else {
        /* the rename was by name: what arrived must be the verified entry */
        mfd = open_ident(c->qfd, q->name, id, &now, &q->qid);
        if (mfd < 0) {
            err = errno;
            why_ident(shown, id, err, &now, "while it was being quarantined", why, whylen);
            if (err != ENOENT && rename_noreplace(c->qfd, q->name, pdfd, base) == 0)
                fmt_add(why, whylen, " (put back)");
            else if (err != ENOENT)
                fmt_add(why, whylen, " (left in quarantine as %s/%s)", c->qshown, q->name);
            return Q_FAILED;
        }
        q->st = now; /* the mode it had when moved: what an undo restores */
        err = fd_chmod(mfd, &now, 0) == 0 ? 0 : errno;
        close(mfd);
    }
    if (err == 0 && (fsync(c->qfd) != 0 || fsync(pdfd) != 0))
        err = errno;
    if (err != 0) {
        char undo[WHY_MAX];

        fmt(why, whylen, "cannot finish quarantining %s: %s", shown, strerror(err));
        if (!quarantine_undo(c, pdfd, base, shown, q, undo, sizeof(undo)))
            fmt_add(why, whylen, "; %s", undo);
        return Q_FAILED;
    }
    return Q_DONE;
}

/* ---------------------------------------------------------------- */
/* Directories of a path                                             */
/* ---------------------------------------------------------------- */

/* Split @p path into its directory (may be "") and last component. */
static int split_path(const char *path, char *dir, size_t dlen, char *base, size_t blen)
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
static int open_dir_beneath(actx *c, const char *dir)
{
    if (dir[0] == '\0')
        return openat(c->rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    return m2m_open_beneath_flags(c->rootfd, dir, O_RDONLY | O_DIRECTORY);
}

static void why_open_dir(actx *c, const char *dir, int err, char *why, size_t whylen)
{
    char desc[M2M_ESC_NAME + 64], shown[M2M_ESC_NAME];

    m2m_esc(dir, shown, sizeof(shown));
    if (err == ELOOP || err == EXDEV || err == ENOTDIR) {
        m2m_describe_component(c->rootfd, dir, desc, sizeof(desc));
        fmt(why, whylen, "directory %s: %s (not followed)", shown, desc);
    } else {
        fmt(why, whylen, "directory %s: %s", shown, strerror(err));
    }
}

/* Remove the directories of @p dir from offset @p from on (those that were created). */
static void remove_created(actx *c, const char *dir, size_t from)
{
    char buf[PATH_MAX];

    if (from == (size_t)-1)
        return;
    fmt(buf, sizeof(buf), "%s", dir);
    while (strlen(buf) > from) {
        char *slash = strrchr(buf, '/');
        const char *name = slash != NULL ? slash + 1 : buf;
        int pfd;

        if ((size_t)(name - buf) < from)
            break;
        if (slash != NULL)
            *slash = '\0';
        pfd = open_dir_beneath(c, slash != NULL ? buf : "");
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
static int open_or_create_dir(actx *c, const char *dir, size_t *created, char *why, size_t whylen)
{
    char comp[NAME_MAX + 1];
    const char *p = dir;
    int fd, cur, err;

    *created = (size_t)-1;
    fd = open_dir_beneath(c, dir);
    if (fd >= 0 || errno != ENOENT) {
        if (fd < 0)
            why_open_dir(c, dir, errno, why, whylen);
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
    remove_created(c, dir, *created);
    *created = (size_t)-1;
    why_open_dir(c, dir, err, why, whylen);
    return -1;
}

/* ---------------------------------------------------------------- */
/* Actions                                                           */
/* ---------------------------------------------------------------- */

/*
 * Quarantine the verified entry of @p res (@p id: what verification saw);
 * @p qpath gets where it went, or "" when there is nothing at the path any
 * more (its directory was already moved by the action on a shallower
 * result, or it is gone since verification).
 */
static int do_quarantine(actx *c, const m2msec_file_result *res, const char *shown,
                         const m2m_ident *id, char *qpath, size_t qlen, char *why, size_t whylen)
{
    char dir[PATH_MAX], base[NAME_MAX + 1];
    qmove q;
    int pdfd, r;

    qpath[0] = '\0';
    if (!split_path(res->path, dir, sizeof(dir), base, sizeof(base))) {
        fmt(why, whylen, "path too long");
        return 0;
    }
    pdfd = open_dir_beneath(c, dir);
    if (pdfd < 0) {
        if (errno == ENOENT)
            return 1;
        why_open_dir(c, dir, errno, why, whylen);
        return 0;
    }
    r = quarantine_entry(c, pdfd, base, res->path, shown, id, &q, why, whylen);
    close(pdfd);
    if (r == Q_DONE)
        fmt(qpath, qlen, "%s/%s", c->qshown, q.name);
    return r != Q_FAILED;
}

typedef struct remedy {
    char dir[PATH_MAX], base[NAME_MAX + 1], tmp[64];
    const char *shown; /* the file's path, escaped */
    const m2m_ident *id;
    int pdfd;
    m2m_ident tmpid; /* our temporary file */
    size_t created;  /* offset of the first created directory, or (size_t)-1 */
    int tmp_present; /* our temporary file exists under tmp */
    int swapped;     /* new file at base, old one under tmp */
    int placed;      /* new file at base, nothing was there before */
    int quarantined;
    const char *qfrom; /* name the old file had when it was quarantined */
    qmove q;
} remedy;

/* Our new file still at pdfd/name? */
static int is_ours(const remedy *x, const char *name)
{
    return is_at(x->pdfd, name, &x->tmpid);
}

/* Undo, in reverse order, what the remediation did; append to @p why what could not be undone. */
static void remedy_undo(actx *c, remedy *x, char *why, size_t whylen)
{
    char extra[WHY_MAX];
    const m2m_ident *old = x->id; /* the old file: the verified one, or its copy put back */

    /* the new file placed where nothing was, or where the old one was before quarantine */
    if (x->placed && is_ours(x, x->base))
        unlinkat(x->pdfd, x->base, 0);
    if (x->quarantined) {
        if (quarantine_undo(c, x->pdfd, x->qfrom, x->shown, &x->q, extra, sizeof(extra)))
            old = &x->q.vid;
        else
            fmt_add(why, whylen, "; undo failed: %s", extra);
    }
    if (x->swapped) {
        if (renameat2(x->pdfd, x->tmp, x->pdfd, x->base, RENAME_EXCHANGE) != 0)
            fmt_add(why, whylen, "; undo failed: cannot swap back (%s)", strerror(errno));
        else if (!is_at(x->pdfd, x->base, old))
            fmt_add(why, whylen, "; undo failed: after swapping back, %s is not the old file",
                    x->shown);
    }
    if ((x->tmp_present || x->swapped) && is_ours(x, x->tmp))
        unlinkat(x->pdfd, x->tmp, 0);
    (void)fsync(x->pdfd);
    close(x->pdfd);
    x->pdfd = -1;
    remove_created(c, x->dir, x->created);
}

static int hook_fail(const char *step, const char *path, char *why, size_t whylen)
{
    int err = hook(step, path);

    if (err != 0)
        fmt(why, whylen, "failure after step '%s': %s", step, strerror(err));
    return err != 0;
}

/*
 * After the exchange of our copy (x->tmp) with the old file (x->base):
 * is our copy at base and the verified old file under tmp? 1, or 0 with a
 * reason.
 */
static int exchange_ok(remedy *x, char *why, size_t whylen)
{
    if (!is_at(x->pdfd, x->base, &x->tmpid) || !is_at(x->pdfd, x->tmp, x->id)) {
        fmt(why, whylen, "%s changed while it was being replaced; not touched", x->shown);
        return 0;
    }
    return 1;
}

static int do_remediate(actx *c, const m2msec_file_result *res, const char *shown,
                        const m2m_ident *id, const m2msec_manifest_entry *e, char *done,
                        size_t donelen, char *why, size_t whylen)
{
    unsigned char md[M2MSEC_DIGEST_MAX];
    size_t mdlen = sizeof(md);
    uint64_t nbytes = 0, limit;
    char repo[M2M_ESC_NAME];
    remedy x;
    int tmpfd = -1, pfd;
    struct stat st;

    memset(&x, 0, sizeof(x));
    x.pdfd = -1;
    x.created = (size_t)-1;
    x.shown = shown;
    x.id = id;
    m2m_repository_display(m2m_policy_repository(c->pol), repo, sizeof(repo));
    if (!split_path(res->path, x.dir, sizeof(x.dir), x.base, sizeof(x.base))) {
        fmt(why, whylen, "path too long");
        return 0;
    }
    if (res->status != M2MSEC_FILE_MISSING && !id->known) {
        fmt(why, whylen,
            "what is at %s could not be looked at during verification, so it cannot be told "
            "from something put there since; not touched",
            shown);
        return 0;
    }
    x.pdfd = res->status == M2MSEC_FILE_MISSING
                 ? open_or_create_dir(c, x.dir, &x.created, why, whylen)
                 : open_dir_beneath(c, x.dir);
    if (x.pdfd < 0) {
        if (res->status != M2MSEC_FILE_MISSING)
            why_open_dir(c, x.dir, errno, why, whylen);
        return 0;
    }
    /* before anything is written: is the entry still the verified one (or still absent)? */
    if (res->status == M2MSEC_FILE_MISSING) {
        if (fstatat(x.pdfd, x.base, &st, AT_SYMLINK_NOFOLLOW) == 0) {
            fmt(why, whylen, "%s was missing when verified and is there now; not touched", shown);
            goto fail;
        }
    } else {
        pfd = open_ident(x.pdfd, x.base, id, &st, NULL);
        if (pfd < 0) {
            why_ident(shown, id, errno, &st, "since it was verified", why, whylen);
            goto fail;
        }
        close(pfd);
        if (!S_ISDIR(st.st_mode) && st.st_nlink > 1) {
            fmt(why, whylen,
                "%s has %ju hard links: its old copy could not be quarantined without changing "
                "the file under its other names; not touched (remove the other links)",
                shown, (uintmax_t)st.st_nlink);
            goto fail;
        }
    }

    /* 1. download into a new temporary file next to the target, hashing it */
    for (int n = 0; n < 100 && tmpfd < 0; n++) {
        fmt(x.tmp, sizeof(x.tmp), ".m2msec-%ld-%u.tmp", (long)getpid(), c->seq++);
        tmpfd = openat(x.pdfd, x.tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (tmpfd < 0 && errno != EEXIST)
            break;
    }
    if (tmpfd < 0) {
        char dshown[M2M_ESC_NAME];

        fmt(why, whylen, "cannot create a temporary file in %s: %s",
            x.dir[0] ? m2m_esc(x.dir, dshown, sizeof(dshown)) : "the root", strerror(errno));
        goto fail;
    }
    x.tmp_present = 1;
    if (m2m_ident_fd(tmpfd, &x.tmpid) != 0) {
        fmt(why, whylen, "cannot stat the temporary file: %s", strerror(errno));
        goto fail;
    }
    limit = e->size >= 0 ? (uint64_t)e->size : M2M_FETCH_MAX;
    if (!m2m_fetch(c->libctx, m2m_policy_repository(c->pol), res->path, tmpfd,
                   m2msec_manifest_digest(c->m), limit, md, &mdlen, &nbytes, why, whylen))
        goto fail;
    if (mdlen != e->digest_len || CRYPTO_memcmp(md, e->digest, mdlen) != 0) {
        fmt(why, whylen, "the copy from %s does not match the manifest digest", repo);
        goto fail;
    }
    if (e->size >= 0 && nbytes != (uint64_t)e->size) {
        fmt(why, whylen, "the copy from %s has %llu bytes, the manifest says %lld", repo,
            (unsigned long long)nbytes, (long long)e->size);
        goto fail;
    }
    if (fchmod(tmpfd, e->mode >= 0 ? (mode_t)e->mode : 0644) != 0 || fsync(tmpfd) != 0) {
        fmt(why, whylen, "cannot write the temporary file: %s", strerror(errno));
        goto fail;
    }
    if (close(tmpfd) != 0) {
        tmpfd = -1;
        fmt(why, whylen, "cannot write the temporary file: %s", strerror(errno));
        goto fail;
    }
    tmpfd = -1;
    if (hook_fail("downloaded", res->path, why, whylen))
        goto fail;

    /* 2. put it in place */
    if (res->status == M2MSEC_FILE_MISSING) {
        /* nothing there (missing): no old file to keep */
        if (rename_noreplace(x.pdfd, x.tmp, x.pdfd, x.base) != 0) {
            if (errno == EEXIST)
                fmt(why, whylen, "%s was missing when verified and is there now; not touched",
                    shown);
            else
                fmt(why, whylen, "cannot rename the verified copy into place: %s", strerror(errno));
            goto fail;
        }
        x.tmp_present = 0;
        x.placed = 1;
        if (!is_ours(&x, x.base)) {
            fmt(why, whylen, "%s changed while it was being restored", shown);
            goto fail;
        }
    } else if (renameat2(x.pdfd, x.tmp, x.pdfd, x.base, RENAME_EXCHANGE) == 0) {
        x.swapped = 1; /* the old file is now under x.tmp */
        x.tmp_present = 0;
        if (!exchange_ok(&x, why, whylen))
            goto fail;
        if (hook_fail("swapped", res->path, why, whylen))
            goto fail;
        if (quarantine_entry(c, x.pdfd, x.tmp, res->path, shown, id, &x.q, why, whylen) != Q_DONE) {
            if (why[0] == '\0')
                fmt(why, whylen, "%s disappeared while it was being replaced", shown);
            goto fail;
        }
        x.quarantined = 1;
        x.qfrom = x.tmp;
    } else if (errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP) {
        /* no RENAME_EXCHANGE here: old file to quarantine first, then the copy in place */
        if (quarantine_entry(c, x.pdfd, x.base, res->path, shown, id, &x.q, why, whylen) !=
            Q_DONE) {
            if (why[0] == '\0')
                fmt(why, whylen, "%s disappeared while it was being replaced", shown);
            goto fail;
        }
        x.quarantined = 1;
        x.qfrom = x.base;
        if (rename_noreplace(x.pdfd, x.tmp, x.pdfd, x.base) != 0) {
            fmt(why, whylen, "cannot rename the verified copy into place: %s", strerror(errno));
            goto fail;
        }
        x.tmp_present = 0;
        x.placed = 1;
        if (!is_ours(&x, x.base)) {
            fmt(why, whylen, "%s changed while it was being replaced", shown);
            goto fail;
        }
    } else {
        fmt(why, whylen, "cannot exchange %s with the verified copy: %s", shown, strerror(errno));
        goto fail;
    }
    if (x.quarantined && hook_fail("quarantined", res->path, why, whylen))
        goto fail;
    if (fsync(x.pdfd) != 0) {
        fmt(why, whylen, "cannot sync the directory of %s: %s", shown, strerror(errno));
        goto fail;
    }
    if (x.quarantined)
        fmt(done, donelen, "replaced by the verified copy from %s; old file in %s/%s", repo,
            c->qshown, x.q.name);
    else
        fmt(done, donelen, "restored from %s", repo);
    close(x.pdfd);
    return 1;
fail:
    if (tmpfd >= 0)
        close(tmpfd);
    remedy_undo(c, &x, why, whylen);
    return 0;
}

/* Relative, no empty, "." or ".." component: a name below the root that an action can move. */
static int path_shape_ok(const char *path)
{
    const char *p = path;

    if (path[0] == '\0' || path[0] == '/' || strlen(path) >= PATH_MAX)
        return 0;
    for (;;) {
        const char *slash = strchr(p, '/');
        size_t n = slash != NULL ? (size_t)(slash - p) : strlen(p);

        if (n == 0 || n > NAME_MAX || (n == 1 && p[0] == '.') ||
            (n == 2 && p[0] == '.' && p[1] == '.'))
            return 0;
        if (slash == NULL)
            return 1;
        p = slash + 1;
    }
}

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
    if (!path_shape_ok(res->path)) {
        /* e.g. "." for an unreadable root: nothing that a file action can change */
        fmt(why, sizeof(why), "not a file below the root");
        if (res->action != M2MSEC_ACTION_ALERT)
            res->action = M2MSEC_ACTION_DENY;
        word = m2msec_action_text(res->action);
    }
    switch (res->action) {
    case M2MSEC_ACTION_DENY:
        ok = 1;
        fmt(done, sizeof(done), "not changed; the device must not run");
        logged = log_event(c, word, res->path, res->status, NULL);
        break;
    case M2MSEC_ACTION_ALERT:
        ok = 1;
        fmt(done, sizeof(done), "logged");
        logged = log_event(c, word, res->path, res->status, "(%s)",
                           res->detail != NULL ? res->detail : "no detail");
        break;
    case M2MSEC_ACTION_QUARANTINE:
        if (res->status == M2MSEC_FILE_MISSING) {
            ok = 1;
            fmt(done, sizeof(done), "not present: nothing to move");
            logged = log_event(c, word, res->path, res->status, "(%s)", done);
            break;
        }
        ok = do_quarantine(c, res, shown, id, qpath, sizeof(qpath), why, sizeof(why));
        if (ok && qpath[0] == '\0') {
            fmt(done, sizeof(done), "no longer present: nothing to move");
            logged = log_event(c, word, res->path, res->status, "(%s)", done);
        } else if (ok) {
            fmt(done, sizeof(done), "moved to %s", qpath);
            logged = log_event(c, word, res->path, res->status, "-> %s", qpath);
        } else {
            logged = log_event(c, "quarantine-failed", res->path, res->status, "%s", why);
        }
        break;
    case M2MSEC_ACTION_REMEDIATE:
        e = m2msec_manifest_find(c->m, res->path);
        if (e == NULL) {
            /* not in the manifest: the expected state is "absent" */
            ok = do_quarantine(c, res, shown, id, qpath, sizeof(qpath), why, sizeof(why));
            if (ok && qpath[0] == '\0') {
                fmt(done, sizeof(done), "not in the manifest; no longer present");
                logged = log_event(c, word, res->path, res->status, "(%s)", done);
            } else if (ok) {
                fmt(done, sizeof(done), "not in the manifest: moved to %s", qpath);
                logged = log_event(c, word, res->path, res->status, "-> %s (not in the manifest)",
                                   qpath);
            } else {
                logged = log_event(c, "remediate-failed", res->path, res->status, "%s", why);
            }
        } else {
            ok = do_remediate(c, res, shown, id, e, done, sizeof(done), why, sizeof(why));
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
        fmt(why, sizeof(why), "unknown action");
        logged = 1;
        break;
    }
    if (ok && !logged) {
        ok = 0;
        fmt(detail, sizeof(detail), "%s; but the log could not be written: %s", done,
            c->logwhy[0] != '\0' ? c->logwhy : strerror(errno));
    } else if (ok) {
        fmt(detail, sizeof(detail), "%s", done);
    } else {
        fmt(detail, sizeof(detail), "%s", why);
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
