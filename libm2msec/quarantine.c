/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libm2msec: the quarantine action (m2msec_policy_apply dispatches to it
 * from actions.c; the rules every action follows are written there).
 *
 * Quarantine moves an entry into the quarantine directory under a new,
 * unique name (renameat2 RENAME_NOREPLACE), then clears its permission
 * bits through the checked descriptor. On another filesystem a regular file
 * is copied (data extents only: SEEK_DATA/SEEK_HOLE, all-zero blocks left
 * as holes; at most quarantine_copy_max bytes of data) and a symlink
 * re-created, then the original unlinked.
 * The undo of a quarantine (used by remediation too) puts the permission
 * bits back while the entry is still in the quarantine directory, before
 * it is renamed back.
 */
#define _GNU_SOURCE /* renameat2(), RENAME_EXCHANGE, RENAME_NOREPLACE, O_PATH, SEEK_DATA */

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include <openssl/err.h>

#include "actions_internal.h"
#include "escape.h"
#include "io.h"
#include "m2msec/integrity.h"
#include "policy_internal.h"
#include "report_internal.h"
#include "safe_open.h"

#define COPY_BUF (64u * 1024u)

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
    m2m_act_fmt(proc, sizeof(proc), "/proc/self/fd/%d", pfd);
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

    m2m_act_fmt(proc, sizeof(proc), "/proc/self/fd/%d", pfd);
    fd = open(proc, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT)
        errno = EOPNOTSUPP;
    return fd;
}

/* ---------------------------------------------------------------- */
/* Moving and copying entries                                        */
/* ---------------------------------------------------------------- */

/* renameat2(RENAME_NOREPLACE), or a check + renameat() where the filesystem lacks it. */
int m2m_act_rename_noreplace(int fromfd, const char *from, int tofd, const char *to)
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
            ssize_t got = m2m_pread(in, buf, want, o);

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
            if (!all_zero(buf, (size_t)got) && !m2m_pwrite_all(out, buf, (size_t)got, o)) {
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
        m2m_act_fmt(why, whylen, "the policy has no quarantine_dir");
        return 0;
    }
    c->qfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (c->qfd < 0 && errno == ENOENT && mkdir(dir, 0700) == 0)
        c->qfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (c->qfd < 0) {
        err = errno;
        if ((err == ELOOP || err == ENOTDIR) && lstat(dir, &st) == 0 && S_ISLNK(st.st_mode))
            m2m_act_fmt(why, whylen, "quarantine directory %s is a symlink (not followed)",
                        c->qshown);
        else
            m2m_act_fmt(why, whylen, "quarantine directory %s: %s", c->qshown, strerror(err));
        return 0;
    }
    if (fstat(c->qfd, &st) != 0) {
        err = errno;
        m2m_act_fmt(why, whylen, "quarantine directory %s: %s", c->qshown, strerror(err));
    } else if (st.st_uid != geteuid() || (st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
        err = EPERM;
        m2m_act_fmt(
            why, whylen,
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

/* "<UTC time>-<n>-<path with everything but [A-Za-z0-9._+-] as '_'>", at most NAME_MAX. */
static void quarantine_name(const char *path, unsigned n, char *out, size_t len)
{
    char when[32];
    size_t plen = strlen(path), k;
    const char *p = path;
    int head;

    m2m_act_time_text(when, sizeof(when), 1);
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

/*
 * Put the quarantined entry @p q back at pdfd/base as it was (@p shown:
 * the file's path for messages). Its permission bits are restored while it
 * is still in the quarantine directory; a copy is copied back into a new
 * file with the original owner, mode and times (q->vid then becomes the
 * identity of that new file). 1, or 0 with a reason.
 */
int m2m_act_quarantine_undo(actx *c, int pdfd, const char *base, const char *shown, qmove *q,
                            char *why, size_t whylen)
{
    struct stat now, back;
    int fd = -1, err = 0;

    if (!q->copied) {
        fd = m2m_act_open_ident(c->qfd, q->name, &q->qid, &now, NULL);
        if (fd < 0)
            err = errno;
        else if ((now.st_mode & 07777) != (q->st.st_mode & 07777) &&
                 fd_chmod(fd, &now, q->st.st_mode & 07777) != 0)
            err = errno; /* only what the action changed is put back */
        else if (m2m_act_rename_noreplace(c->qfd, q->name, pdfd, base) != 0) {
            err = errno;
            (void)fd_chmod(fd, &now, 0); /* stays in quarantine: stripped again */
        }
        if (fd >= 0)
            close(fd);
        if (err == 0) {
            /* what is at the old name now must be what we moved back */
            int bfd = m2m_act_open_ident(pdfd, base, &q->vid, &back, NULL);

            if (bfd < 0) {
                m2m_act_why_ident(shown, &q->vid, errno, &back, "right after being put back", why,
                                  whylen);
                return 0;
            }
            close(bfd);
        }
    } else if (S_ISREG(q->st.st_mode)) {
        struct timespec ts[2] = {q->st.st_atim, q->st.st_mtim};
        struct stat cst;
        int in = -1, out = -1;

        fd = m2m_act_open_ident(c->qfd, q->name, &q->qid, &cst, NULL); /* our copy */
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
                if (m2m_act_is_at(pdfd, base, &made))
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

        fd = m2m_act_open_ident(c->qfd, q->name, &q->qid, &now, NULL);
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
    m2m_act_fmt(why, whylen, "the old file stays in quarantine as %s/%s (%s)", c->qshown, q->name,
                strerror(err));
    return 0;
}

/*
 * Move the verified entry pdfd/base (the file @p path, @p shown escaped)
 * into quarantine with its permission bits cleared. Q_DONE, Q_GONE when
 * nothing is there, or Q_FAILED with a reason; on failure nothing of the
 * verified entry has changed.
 */
int m2m_act_quarantine_entry(actx *c, int pdfd, const char *base, const char *path,
                             const char *shown, const m2m_ident *id, qmove *q, char *why,
                             size_t whylen)
{
    struct stat now;
    int err = EEXIST, pfd, mfd;

    memset(q, 0, sizeof(*q));
    if (id == NULL || !id->known) {
        if (fstatat(pdfd, base, &now, AT_SYMLINK_NOFOLLOW) != 0 && errno == ENOENT)
            return Q_GONE;
        m2m_act_fmt(
            why, whylen,
            "what is at %s could not be looked at during verification, so it cannot be told "
            "from something put there since; not touched",
            shown);
        return Q_FAILED;
    }
    q->vid = *id;
    pfd = m2m_act_open_ident(pdfd, base, id, &q->st, NULL);
    if (pfd < 0) {
        err = errno;
        if (err == ENOENT)
            return Q_GONE;
        m2m_act_why_ident(shown, id, err, &q->st, "since it was verified", why, whylen);
        return Q_FAILED;
    }
    if (!S_ISDIR(q->st.st_mode) && q->st.st_nlink > 1) {
        m2m_act_fmt(
            why, whylen,
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
        err = m2m_act_rename_noreplace(pdfd, base, c->qfd, q->name) == 0 ? 0 : errno;
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
        m2m_act_fmt(why, whylen,
                    "cannot move %s (a %s) to the quarantine directory on another filesystem",
                    shown, m2m_type_text((unsigned)q->st.st_mode));
        return Q_FAILED;
    }
    if (err == EFBIG) {
        m2m_act_fmt(
            why, whylen,
            "%s would be copied to the quarantine directory on another filesystem, and it has "
            "more than quarantine_copy_max = %" PRIu64 " bytes of data; not touched",
            shown, c->copy_max);
        return Q_FAILED;
    }
    if (err == ESTALE || err == EBUSY) {
        m2m_act_fmt(why, whylen, "%s changed while it was being copied to quarantine; not touched",
                    shown);
        return Q_FAILED;
    }
    if (err != 0) {
        m2m_act_fmt(why, whylen, "cannot move %s to the quarantine directory: %s", shown,
                    strerror(err));
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
                m2m_act_fmt(why, whylen,
                            "%s changed while it was being copied to quarantine; not touched",
                            shown);
            else
                m2m_act_fmt(why, whylen, "cannot remove %s after copying it to quarantine: %s",
                            shown, strerror(err));
            return Q_FAILED;
        }
    } else {
        /* the rename was by name: what arrived must be the verified entry */
        mfd = m2m_act_open_ident(c->qfd, q->name, id, &now, &q->qid);
        if (mfd < 0) {
            err = errno;
            m2m_act_why_ident(shown, id, err, &now, "while it was being quarantined", why, whylen);
            if (err != ENOENT && m2m_act_rename_noreplace(c->qfd, q->name, pdfd, base) == 0)
                m2m_act_fmt_add(why, whylen, " (put back)");
            else if (err != ENOENT)
                m2m_act_fmt_add(why, whylen, " (left in quarantine as %s/%s)", c->qshown, q->name);
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

        m2m_act_fmt(why, whylen, "cannot finish quarantining %s: %s", shown, strerror(err));
        if (!m2m_act_quarantine_undo(c, pdfd, base, shown, q, undo, sizeof(undo)))
            m2m_act_fmt_add(why, whylen, "; %s", undo);
        return Q_FAILED;
    }
    return Q_DONE;
}

/*
 * Quarantine the verified entry of @p res (@p id: what verification saw);
 * @p qpath gets where it went, or "" when there is nothing at the path any
 * more (its directory was already moved by the action on a shallower
 * result, or it is gone since verification).
 */
int m2m_act_quarantine(actx *c, const m2msec_file_result *res, const char *shown,
                       const m2m_ident *id, char *qpath, size_t qlen, char *why, size_t whylen)
{
    char dir[PATH_MAX], base[NAME_MAX + 1];
    qmove q;
    int pdfd, r;

    qpath[0] = '\0';
    if (!m2m_act_split_path(res->path, dir, sizeof(dir), base, sizeof(base))) {
        m2m_act_fmt(why, whylen, "path too long");
        return 0;
    }
    pdfd = m2m_act_open_dir_beneath(c, dir);
    if (pdfd < 0) {
        if (errno == ENOENT)
            return 1;
        m2m_act_why_open_dir(c, dir, errno, why, whylen);
        return 0;
    }
    r = m2m_act_quarantine_entry(c, pdfd, base, res->path, shown, id, &q, why, whylen);
    close(pdfd);
    if (r == Q_DONE)
        m2m_act_fmt(qpath, qlen, "%s/%s", c->qshown, q.name);
    return r != Q_FAILED;
}
