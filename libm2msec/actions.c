/*
 * libm2msec: carrying out the integrity policy on a verification report
 * (m2msec_apply_policy, include/m2msec/integrity.h; docs/POLICY.md,
 * "Integrity rules").
 *
 * Every file operation is relative to descriptors: the root is opened
 * O_DIRECTORY | O_NOFOLLOW, a file's directory below it with the
 * no-symlink open of safe_open.c, and entries are then moved with
 * renameat2() on their own names, so a symlink in place of a file is
 * itself moved and its target is never touched.
 *
 * Quarantine moves an entry into the quarantine directory under a new,
 * unique name (renameat2 RENAME_NOREPLACE; across filesystems, or for a
 * regular file with other hard links, copy + fsync + unlink of the
 * original) and strips its permission bits.
 *
 * Remediation downloads the expected copy into a temporary file in the
 * target's directory (O_EXCL), hashing it while writing; only when the
 * digest (and size, when recorded) equals the manifest does anything
 * change: the copy is exchanged with the old file in one step
 * (RENAME_EXCHANGE), then the old file is moved to quarantine. Every step
 * has an undo, run in reverse order when a later step fails, so a failed
 * remediation leaves the directory as it was.
 */
#define _GNU_SOURCE /* renameat2(), RENAME_EXCHANGE, RENAME_NOREPLACE */

#include <errno.h>
#include <fcntl.h>
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

#include "m2msec/integrity.h"
#include "policy_internal.h"
#include "remediate.h"
#include "report_internal.h"
#include "safe_open.h"

#define WHY_MAX 768

/* snprintf() whose truncation is accepted: messages are cut, never overflowed. */
__attribute__((format(printf, 3, 4))) static void fmt(char *buf, size_t len, const char *f, ...)
{
    va_list ap;

    va_start(ap, f);
    vsnprintf(buf, len, f, ap);
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
    int qfd;      /* quarantine directory, -1 until needed */
    int logfd;    /* -1: log to stderr */
    int logerr;   /* errno of a failed open of the log file */
    unsigned seq; /* temporary-file names */
} actx;

/* ---------------------------------------------------------------- */
/* Log                                                               */
/* ---------------------------------------------------------------- */

/*
 * @p in with everything outside printable ASCII, the backslash and (unless
 * @p keep_space) the blank written as C escapes, so one event is one line
 * and a path cannot forge log lines.
 */
static void log_escape(const char *in, int keep_space, char *out, size_t len)
{
    size_t n = 0;

    for (const unsigned char *p = (const unsigned char *)in; *p != '\0' && n + 5 < len; p++) {
        if (*p == '\\') {
            out[n++] = '\\';
            out[n++] = '\\';
        } else if ((*p > 0x20 && *p < 0x7f) || (*p == ' ' && keep_space)) {
            out[n++] = (char)*p;
        } else {
            fmt(out + n, len - n, "\\x%02x", *p);
            n += 4;
        }
    }
    out[n] = '\0';
}

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

/*
 * Append "<ISO time> <what> <path> <status>[ <rest>]" to the log (one
 * write() on an O_APPEND descriptor). 1, or 0 with errno set.
 */
__attribute__((format(printf, 5, 6))) static int
log_event(actx *c, const char *what, const char *path, m2msec_file_status st, const char *f, ...)
{
    char when[32], epath[3 * PATH_MAX], rest[2 * WHY_MAX], erest[4 * WHY_MAX], line[8192];
    va_list ap;
    int n;
    size_t off = 0;
    int fd = c->logfd >= 0 ? c->logfd : STDERR_FILENO;

    if (c->logerr != 0) {
        errno = c->logerr;
        return 0;
    }
    time_text(when, sizeof(when), 0);
    log_escape(path, 0, epath, sizeof(epath));
    rest[0] = '\0';
    if (f != NULL) {
        va_start(ap, f);
        vsnprintf(rest, sizeof(rest), f, ap);
        va_end(ap);
    }
    log_escape(rest, 1, erest, sizeof(erest));
    n = snprintf(line, sizeof(line), "%s %s %s %s%s%s\n", when, what, epath,
                 m2msec_file_status_text(st), erest[0] != '\0' ? " " : "", erest);
    if (n < 0)
        return 0;
    if ((size_t)n >= sizeof(line)) {
        n = (int)sizeof(line) - 1;
        line[n - 1] = '\n';
    }
    while (off < (size_t)n) {
        ssize_t w = write(fd, line + off, (size_t)n - off);

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

/* ---------------------------------------------------------------- */
/* Moving entries                                                    */
/* ---------------------------------------------------------------- */

static int same_inode(const struct stat *a, const struct stat *b)
{
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino;
}

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

static int write_all(int fd, const unsigned char *p, size_t len)
{
    while (len > 0) {
        ssize_t w = write(fd, p, len);

        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            if (w == 0)
                errno = EIO;
            return 0;
        }
        p += w;
        len -= (size_t)w;
    }
    return 1;
}

/* Owner, permission bits and times of @p st onto @p fd (or the entry tofd/to for a symlink). */
static int restore_meta(int fd, int tofd, const char *to, const struct stat *st)
{
    struct timespec ts[2] = {st->st_atim, st->st_mtim};

    if (fd >= 0)
        return fchown(fd, st->st_uid, st->st_gid) == 0 && fchmod(fd, st->st_mode & 07777) == 0 &&
               futimens(fd, ts) == 0;
    return fchownat(tofd, to, st->st_uid, st->st_gid, AT_SYMLINK_NOFOLLOW) == 0 &&
           utimensat(tofd, to, ts, AT_SYMLINK_NOFOLLOW) == 0;
}

/*
 * Copy the regular file fromfd/from (which must still be the inode of
 * @p st) to a new entry tofd/to, created O_EXCL. With @p meta the copy
 * gets the owner, mode and times of @p meta, else mode 0. On failure the
 * new entry is removed. 0, or an errno value.
 */
static int copy_regular(int fromfd, const char *from, const struct stat *st, int tofd,
                        const char *to, const struct stat *meta)
{
    unsigned char *buf = OPENSSL_malloc(64 * 1024);
    struct stat now;
    int in, out = -1, err = 0;

    if (buf == NULL)
        return ENOMEM;
    in = openat(fromfd, from, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (in < 0 || fstat(in, &now) != 0) {
        err = errno;
        goto end;
    }
    if (!same_inode(st, &now)) {
        err = EBUSY;
        goto end;
    }
    out = openat(tofd, to, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0);
    if (out < 0) {
        err = errno;
        goto end;
    }
    for (;;) {
        ssize_t r = read(in, buf, 64 * 1024);

        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 || (r > 0 && !write_all(out, buf, (size_t)r))) {
            err = errno;
            goto end;
        }
        if (r == 0)
            break;
    }
    if ((meta != NULL ? !restore_meta(out, -1, NULL, meta) : fchmod(out, 0) != 0) ||
        fsync(out) != 0) {
        err = errno;
        goto end;
    }
end:
    if (out >= 0) {
        if (close(out) != 0 && err == 0)
            err = errno;
        if (err != 0)
            unlinkat(tofd, to, 0);
    }
    if (in >= 0)
        close(in);
    OPENSSL_free(buf);
    return err;
}

static int copy_symlink(int fromfd, const char *from, int tofd, const char *to,
                        const struct stat *meta)
{
    char target[PATH_MAX + 1];
    ssize_t n = readlinkat(fromfd, from, target, sizeof(target));

    if (n < 0)
        return errno;
    if ((size_t)n >= sizeof(target))
        return ENAMETOOLONG;
    target[n] = '\0';
    if (symlinkat(target, tofd, to) != 0)
        return errno;
    if (meta != NULL && !restore_meta(-1, tofd, to, meta)) {
        int err = errno;

        unlinkat(tofd, to, 0);
        return err;
    }
    return 0;
}

/*
 * Move the entry fromfd/from (described by @p st, not followed if a
 * symlink) to tofd/to, never replacing an existing entry: a rename, or
 * (other filesystem, or @p force_copy) a copy of a regular file or symlink
 * followed by the unlink of the original; a copy gets owner, mode and
 * times from @p meta, or mode 0 when it is NULL. *copied says which. 0, or
 * an errno value (EEXIST: @p to exists; EXDEV: this type cannot be copied).
 */
static int move_entry(int fromfd, const char *from, const struct stat *st, int tofd, const char *to,
                      int force_copy, const struct stat *meta, int *copied)
{
    struct stat now;
    int err;

    *copied = 0;
    if (!force_copy) {
        if (rename_noreplace(fromfd, from, tofd, to) == 0)
            return 0;
        if (errno != EXDEV)
            return errno;
    }
    if (S_ISREG(st->st_mode))
        err = copy_regular(fromfd, from, st, tofd, to, meta);
    else if (S_ISLNK(st->st_mode))
        err = copy_symlink(fromfd, from, tofd, to, meta);
    else
        err = EXDEV;
    if (err != 0)
        return err;
    if (fsync(tofd) != 0)
        err = errno;
    else if (fstatat(fromfd, from, &now, AT_SYMLINK_NOFOLLOW) != 0)
        err = errno;
    else if (!same_inode(st, &now))
        err = EBUSY;
    else if (unlinkat(fromfd, from, 0) != 0)
        err = errno;
    if (err != 0) {
        unlinkat(tofd, to, 0);
        return err;
    }
    *copied = 1;
    return 0;
}

static int open_qdir(actx *c, char *why, size_t whylen)
{
    const char *dir = m2m_policy_quarantine_dir(c->pol);

    if (c->qfd >= 0)
        return 1;
    if (dir == NULL) {
        fmt(why, whylen, "the policy has no quarantine_dir");
        return 0;
    }
    c->qfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (c->qfd < 0 && errno == ENOENT && mkdir(dir, 0700) == 0)
        c->qfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (c->qfd < 0) {
        fmt(why, whylen, "quarantine directory %s: %s", dir, strerror(errno));
        return 0;
    }
    return 1;
}

typedef struct qmove {
    char name[NAME_MAX + 1]; /* in the quarantine directory */
    struct stat st;          /* the entry before it was moved */
    int copied;
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

/* Put a quarantined entry back at pdfd/base as it was. 1, or 0 with a reason. */
static int quarantine_undo(actx *c, int pdfd, const char *base, const qmove *q, char *why,
                           size_t whylen)
{
    struct stat qst;
    int copied = 0, err;

    if (fstatat(c->qfd, q->name, &qst, AT_SYMLINK_NOFOLLOW) != 0) {
        err = errno;
    } else if (!q->copied) {
        err = rename_noreplace(c->qfd, q->name, pdfd, base) == 0 ? 0 : errno;
        if (err == 0 && !S_ISLNK(q->st.st_mode) && fchmodat(pdfd, base, q->st.st_mode & 07777, 0))
            err = errno;
    } else {
        /* a copy (mode 0): copy it back with the original owner, mode and times */
        if (S_ISREG(qst.st_mode))
            (void)fchmodat(c->qfd, q->name, 0400, 0);
        err = move_entry(c->qfd, q->name, &qst, pdfd, base, 1, &q->st, &copied);
        if (err == 0 && !S_ISLNK(q->st.st_mode) && fchmodat(pdfd, base, q->st.st_mode & 07777, 0))
            err = errno;
    }
    if (err == 0) {
        (void)fsync(pdfd);
        (void)fsync(c->qfd);
        return 1;
    }
    fmt(why, whylen, "the old file stays in quarantine as %s/%s (%s)",
        m2m_policy_quarantine_dir(c->pol), q->name, strerror(err));
    return 0;
}

/*
 * Move pdfd/base (the file @p path) into quarantine with its permission
 * bits cleared. On failure nothing has changed.
 */
static int quarantine_entry(actx *c, int pdfd, const char *base, const char *path, qmove *q,
                            char *why, size_t whylen)
{
    struct stat now;
    int err = EEXIST, force_copy;

    memset(q, 0, sizeof(*q));
    if (fstatat(pdfd, base, &q->st, AT_SYMLINK_NOFOLLOW) != 0) {
        fmt(why, whylen, "cannot quarantine %s: %s", path, strerror(errno));
        return 0;
    }
    if (!open_qdir(c, why, whylen))
        return 0;
    /* another hard link: chmod 000 would strip that name too; copy instead */
    force_copy = S_ISREG(q->st.st_mode) && q->st.st_nlink > 1;
    for (unsigned n = 0; n < 1000 && err == EEXIST; n++) {
        quarantine_name(path, n, q->name, sizeof(q->name));
        err = move_entry(pdfd, base, &q->st, c->qfd, q->name, force_copy, NULL, &q->copied);
    }
    if (err == EXDEV) {
        fmt(why, whylen, "cannot move %s (a %s) to the quarantine directory on another filesystem",
            path, m2m_type_text((unsigned)q->st.st_mode));
        return 0;
    }
    if (err != 0) {
        fmt(why, whylen, "cannot move %s to the quarantine directory: %s", path, strerror(err));
        return 0;
    }
    /* a rename keeps the bits: clear them (the directory is ours; symlinks have none) */
    if (!q->copied && !S_ISLNK(q->st.st_mode)) {
        if (fstatat(c->qfd, q->name, &now, AT_SYMLINK_NOFOLLOW) != 0)
            err = errno;
        else if (!same_inode(&q->st, &now))
            err = EBUSY;
        else if (fchmodat(c->qfd, q->name, 0, 0) != 0)
            err = errno;
    }
    if (err == 0 && (fsync(c->qfd) != 0 || fsync(pdfd) != 0))
        err = errno;
    if (err != 0) {
        char undo[WHY_MAX];

        fmt(why, whylen, "cannot finish quarantining %s: %s", path, strerror(err));
        if (!quarantine_undo(c, pdfd, base, q, undo, sizeof(undo))) {
            size_t wl = strlen(why);

            fmt(why + wl, whylen - wl, "; %s", undo);
        }
        return 0;
    }
    return 1;
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
    char desc[400];

    if (err == ELOOP || err == EXDEV || err == ENOTDIR) {
        m2m_describe_component(c->rootfd, dir, desc, sizeof(desc));
        fmt(why, whylen, "directory %s: %s (not followed)", dir, desc);
    } else {
        fmt(why, whylen, "directory %s: %s", dir, strerror(err));
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
            unlinkat(pfd, name, AT_REMOVEDIR);
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
 * Quarantine the file of @p res; @p qpath gets where it went, or "" when
 * there is nothing at the path any more (its directory was already moved
 * by the action on a shallower result, or it is gone since verification).
 */
static int do_quarantine(actx *c, const m2msec_file_result *res, char *qpath, size_t qlen,
                         char *why, size_t whylen)
{
    char dir[PATH_MAX], base[NAME_MAX + 1];
    struct stat st;
    qmove q;
    int pdfd, ok;

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
    if (fstatat(pdfd, base, &st, AT_SYMLINK_NOFOLLOW) != 0 && errno == ENOENT) {
        close(pdfd);
        return 1;
    }
    ok = quarantine_entry(c, pdfd, base, res->path, &q, why, whylen);
    close(pdfd);
    if (ok)
        fmt(qpath, qlen, "%s/%s", m2m_policy_quarantine_dir(c->pol), q.name);
    return ok;
}

typedef struct remedy {
    char dir[PATH_MAX], base[NAME_MAX + 1], tmp[64];
    int pdfd;
    struct stat tmpst;
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
    struct stat st;

    return fstatat(x->pdfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && same_inode(&st, &x->tmpst);
}

/* Undo, in reverse order, what the remediation did; append to @p why what could not be undone. */
static void remedy_undo(actx *c, remedy *x, char *why, size_t whylen)
{
    char extra[WHY_MAX];
    size_t wl = strlen(why);

    /* the new file placed where nothing was, or where the old one was before quarantine */
    if (x->placed && is_ours(x, x->base))
        unlinkat(x->pdfd, x->base, 0);
    if (x->quarantined && !quarantine_undo(c, x->pdfd, x->qfrom, &x->q, extra, sizeof(extra)))
        fmt(why + wl, whylen - wl, "; undo failed: %s", extra);
    if (x->swapped && renameat2(x->pdfd, x->tmp, x->pdfd, x->base, RENAME_EXCHANGE) != 0) {
        wl = strlen(why);
        fmt(why + wl, whylen - wl, "; undo failed: cannot swap back (%s)", strerror(errno));
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

static int do_remediate(actx *c, const m2msec_file_result *res, const m2msec_manifest_entry *e,
                        char *done, size_t donelen, char *why, size_t whylen)
{
    unsigned char md[M2MSEC_DIGEST_MAX];
    size_t mdlen = sizeof(md);
    uint64_t nbytes = 0, limit;
    char repo[512];
    remedy x;
    int tmpfd = -1;
    struct stat st;

    memset(&x, 0, sizeof(x));
    x.pdfd = -1;
    x.created = (size_t)-1;
    m2m_repository_display(m2m_policy_repository(c->pol), repo, sizeof(repo));
    if (!split_path(res->path, x.dir, sizeof(x.dir), x.base, sizeof(x.base))) {
        fmt(why, whylen, "path too long");
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

    /* 1. download into a new temporary file next to the target, hashing it */
    for (int n = 0; n < 100 && tmpfd < 0; n++) {
        fmt(x.tmp, sizeof(x.tmp), ".m2msec-%ld-%u.tmp", (long)getpid(), c->seq++);
        tmpfd = openat(x.pdfd, x.tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (tmpfd < 0 && errno != EEXIST)
            break;
    }
    if (tmpfd < 0) {
        fmt(why, whylen, "cannot create a temporary file in %s: %s", x.dir[0] ? x.dir : "the root",
            strerror(errno));
        goto fail;
    }
    x.tmp_present = 1;
    if (fstat(tmpfd, &x.tmpst) != 0) {
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
    if (fstatat(x.pdfd, x.base, &st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno != ENOENT) {
            fmt(why, whylen, "cannot stat %s: %s", res->path, strerror(errno));
            goto fail;
        }
        /* nothing there (missing): no old file to keep */
        if (rename_noreplace(x.pdfd, x.tmp, x.pdfd, x.base) != 0) {
            fmt(why, whylen, "cannot rename the verified copy into place: %s", strerror(errno));
            goto fail;
        }
        x.tmp_present = 0;
        x.placed = 1;
    } else if (renameat2(x.pdfd, x.tmp, x.pdfd, x.base, RENAME_EXCHANGE) == 0) {
        x.swapped = 1; /* the old file is now under x.tmp */
        x.tmp_present = 0;
        if (hook_fail("swapped", res->path, why, whylen))
            goto fail;
        if (!quarantine_entry(c, x.pdfd, x.tmp, res->path, &x.q, why, whylen))
            goto fail;
        x.quarantined = 1;
        x.qfrom = x.tmp;
    } else if (errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP) {
        /* no RENAME_EXCHANGE here: old file to quarantine first, then the copy in place */
        if (!quarantine_entry(c, x.pdfd, x.base, res->path, &x.q, why, whylen))
            goto fail;
        x.quarantined = 1;
        x.qfrom = x.base;
        if (rename_noreplace(x.pdfd, x.tmp, x.pdfd, x.base) != 0) {
            fmt(why, whylen, "cannot rename the verified copy into place: %s", strerror(errno));
            goto fail;
        }
        x.tmp_present = 0;
        x.placed = 1;
    } else {
        fmt(why, whylen, "cannot exchange %s with the verified copy: %s", res->path,
            strerror(errno));
        goto fail;
    }
    if (x.quarantined && hook_fail("quarantined", res->path, why, whylen))
        goto fail;
    if (fsync(x.pdfd) != 0) {
        fmt(why, whylen, "cannot sync the directory of %s: %s", res->path, strerror(errno));
        goto fail;
    }
    if (x.quarantined)
        fmt(done, donelen, "replaced by the verified copy from %s; old file in %s/%s", repo,
            m2m_policy_quarantine_dir(c->pol), x.q.name);
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
    char done[WHY_MAX] = "", why[WHY_MAX] = "", qpath[PATH_MAX + NAME_MAX + 2] = "";
    char detail[2 * WHY_MAX];
    const m2msec_manifest_entry *e;
    const char *word;
    int ok = 0, logged;

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
        ok = do_quarantine(c, res, qpath, sizeof(qpath), why, sizeof(why));
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
            ok = do_quarantine(c, res, qpath, sizeof(qpath), why, sizeof(why));
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
            ok = do_remediate(c, res, e, done, sizeof(done), why, sizeof(why));
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
            strerror(errno));
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

int m2msec_apply_policy(OSSL_LIB_CTX *libctx, const m2msec_policy *p, const m2msec_manifest *m,
                        const char *root, m2msec_report *r)
{
    actx c;
    size_t denied = 0, failed = 0, n;
    const char *log;
    const m2msec_file_result *first = NULL;
    depth_index *order;

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
    c.rootfd = open(root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (c.rootfd < 0) {
        ERR_raise_data(ERR_LIB_SYS, errno, "m2msec: cannot open the root directory %s", root);
        return 0;
    }
    log = m2m_policy_log(p);
    if (log != NULL) {
        c.logfd = open(log, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (c.logfd < 0)
            c.logerr = errno;
    }
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
            ERR_raise_data(ERR_LIB_SYS, errno, "m2msec: cannot write the action log %s", log);
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
                           denied, failed, first->path, m2msec_action_text(first->action),
                           first->action_detail != NULL ? first->action_detail : "");
        return 0;
    }
    return 1;
}
