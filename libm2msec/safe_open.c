/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libm2msec: opening files below a root without following symlinks, and
 * atomic whole-file reads and writes (see safe_open.h).
 *
 * openat2() with RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
 * RESOLVE_NO_MAGICLINKS does the whole lookup in the kernel. Where it does
 * not exist (Linux < 5.6: ENOSYS; some seccomp filters: EPERM, found once
 * with a probe) the path is walked one component at a time with openat()
 * and O_NOFOLLOW, each directory opened O_PATH | O_DIRECTORY. Paths are
 * checked first (relative, no empty, '.' or '..' component), so both ways
 * stay below the root.
 */
#define _GNU_SOURCE /* syscall(), O_PATH, mkostemp() */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include <openssl/err.h>

#include "escape.h"
#include "io.h"
#include "m2msec/integrity.h"
#include "safe_open.h"

/* 0: not probed yet, 1: openat2 works, 2: fall back to the openat() walk */
static atomic_int openat2_state;
static atomic_int force_fallback;

static long sys_openat2(int dirfd, const char *path, int flags)
{
#ifdef SYS_openat2
    struct open_how how;

    memset(&how, 0, sizeof(how));
    how.flags = (unsigned long long)(unsigned)flags;
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
    return syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
#else
    (void)dirfd;
    (void)path;
    (void)flags;
    errno = ENOSYS;
    return -1;
#endif
}

static int use_openat2(void)
{
    int st = atomic_load(&openat2_state);

    if (atomic_load(&force_fallback))
        return 0;
    if (st == 0) {
        long fd = sys_openat2(AT_FDCWD, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);

        if (fd >= 0) {
            close((int)fd);
            st = 1;
        } else {
            st = (errno == ENOSYS || errno == EPERM) ? 2 : 1;
        }
        atomic_store(&openat2_state, st);
    }
    return st == 1;
}

int m2msec_safe_open_force_fallback(int on)
{
    atomic_store(&force_fallback, on != 0);
    return use_openat2();
}

/* Copy the next component of *p into comp; advance *p past it. 1 if last. */
static int next_component(const char **p, char comp[NAME_MAX + 1])
{
    const char *slash = strchr(*p, '/');
    size_t n = slash != NULL ? (size_t)(slash - *p) : strlen(*p);

    memcpy(comp, *p, n);
    comp[n] = '\0';
    *p += n + (slash != NULL);
    return slash == NULL;
}

static int walk_open(int rootfd, const char *path, int flags)
{
    char comp[NAME_MAX + 1];
    const char *p = path;
    int dfd = rootfd, fd, err;

    for (;;) {
        int last = next_component(&p, comp);

        if (last)
            fd = openat(dfd, comp, flags | O_NOFOLLOW | O_CLOEXEC);
        else
            fd = openat(dfd, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        err = errno;
        if (dfd != rootfd)
            close(dfd);
        if (fd < 0 || last) {
            errno = err;
            return fd;
        }
        dfd = fd;
    }
}

int m2m_open_beneath_flags(int rootfd, const char *path, int flags)
{
    if (path == NULL || !m2m_path_shape_ok(path)) {
        errno = EINVAL;
        return -1;
    }
    if (use_openat2()) {
        long fd = sys_openat2(rootfd, path, flags | O_NOFOLLOW | O_CLOEXEC);

        if (fd >= 0 || errno != ENOSYS)
            return (int)fd;
        atomic_store(&openat2_state, 2);
    }
    return walk_open(rootfd, path, flags);
}

int m2m_stat_beneath(int rootfd, const char *path, struct stat *st)
{
    int fd = m2m_open_beneath_flags(rootfd, path, O_PATH), r;

    if (fd < 0)
        return -1;
    r = fstat(fd, st);
    close(fd);
    return r;
}

static void ident_from_statx(const struct statx *sx, m2m_ident *id)
{
    memset(id, 0, sizeof(*id));
    id->known = 1;
    id->dev = makedev(sx->stx_dev_major, sx->stx_dev_minor);
    id->ino = (ino_t)sx->stx_ino;
    id->type = sx->stx_mode & S_IFMT;
    if (sx->stx_mask & STATX_BTIME) {
        id->has_btime = 1;
        id->btime_sec = sx->stx_btime.tv_sec;
        id->btime_nsec = sx->stx_btime.tv_nsec;
    }
}

static int ident_statx(int dfd, const char *name, int flags, m2m_ident *id)
{
    struct statx sx;
    struct stat st;

    if (statx(dfd, name, flags | AT_SYMLINK_NOFOLLOW | AT_STATX_SYNC_AS_STAT,
              STATX_TYPE | STATX_INO | STATX_BTIME, &sx) == 0 &&
        (sx.stx_mask & (STATX_TYPE | STATX_INO)) == (STATX_TYPE | STATX_INO)) {
        ident_from_statx(&sx, id);
        return 0;
    }
    if (errno != ENOSYS && errno != EPERM && errno != EINVAL)
        return -1;
    /* no statx (old kernel, seccomp): device, inode and type only */
    if (fstatat(dfd, name, &st, flags | AT_SYMLINK_NOFOLLOW) != 0)
        return -1;
    memset(id, 0, sizeof(*id));
    id->known = 1;
    id->dev = st.st_dev;
    id->ino = st.st_ino;
    id->type = st.st_mode & S_IFMT;
    return 0;
}

int m2m_ident_fd(int fd, m2m_ident *id)
{
    return ident_statx(fd, "", AT_EMPTY_PATH, id);
}

/* what verification compares (PROTOCOL.md 7.4) and what the identity needs */
#define STAT_IDENT_NEED                                                                            \
    (STATX_TYPE | STATX_MODE | STATX_UID | STATX_GID | STATX_INO | STATX_SIZE | STATX_MTIME |      \
     STATX_CTIME)

int m2m_fstat_ident(int fd, struct stat *st, m2m_ident *id)
{
    struct statx sx;
    int r =
        statx(fd, "", AT_EMPTY_PATH | AT_STATX_SYNC_AS_STAT, STATX_BASIC_STATS | STATX_BTIME, &sx);

    if (r == 0 && (sx.stx_mask & STAT_IDENT_NEED) == STAT_IDENT_NEED) {
        memset(st, 0, sizeof(*st));
        st->st_dev = makedev(sx.stx_dev_major, sx.stx_dev_minor);
        st->st_ino = (ino_t)sx.stx_ino;
        st->st_mode = (mode_t)sx.stx_mode;
        st->st_nlink = (nlink_t)sx.stx_nlink;
        st->st_uid = (uid_t)sx.stx_uid;
        st->st_gid = (gid_t)sx.stx_gid;
        st->st_rdev = makedev(sx.stx_rdev_major, sx.stx_rdev_minor);
        st->st_size = (off_t)sx.stx_size;
        st->st_blksize = (blksize_t)sx.stx_blksize;
        st->st_blocks = (blkcnt_t)sx.stx_blocks;
        st->st_atim.tv_sec = (time_t)sx.stx_atime.tv_sec;
        st->st_atim.tv_nsec = (long)sx.stx_atime.tv_nsec;
        st->st_mtim.tv_sec = (time_t)sx.stx_mtime.tv_sec;
        st->st_mtim.tv_nsec = (long)sx.stx_mtime.tv_nsec;
        st->st_ctim.tv_sec = (time_t)sx.stx_ctime.tv_sec;
        st->st_ctim.tv_nsec = (long)sx.stx_ctime.tv_nsec;
        ident_from_statx(&sx, id);
        return 0;
    }
    if (r != 0 && errno != ENOSYS && errno != EPERM && errno != EINVAL)
        return -1;
    /* no statx (old kernel, seccomp) or a field missing: fstat, and the identity as before */
    if (fstat(fd, st) != 0)
        return -1;
    if (m2m_ident_fd(fd, id) != 0)
        memset(id, 0, sizeof(*id));
    return 0;
}

int m2m_ident_at(int dfd, const char *name, m2m_ident *id)
{
    return ident_statx(dfd, name, 0, id);
}

int m2m_ident_beneath(int rootfd, const char *path, m2m_ident *id)
{
    int fd = m2m_open_beneath_flags(rootfd, path, O_PATH), r, err;

    if (fd < 0)
        return -1;
    r = m2m_ident_fd(fd, id);
    err = errno;
    close(fd);
    errno = err;
    return r;
}

int m2m_ident_same(const m2m_ident *was, const m2m_ident *now)
{
    if (was == NULL || now == NULL || !was->known || !now->known)
        return 0;
    if (was->dev != now->dev || was->ino != now->ino || was->type != now->type)
        return 0;
    if (was->has_btime && now->has_btime &&
        (was->btime_sec != now->btime_sec || was->btime_nsec != now->btime_nsec))
        return 0;
    return 1;
}

int m2m_open_beneath(int rootfd, const char *path)
{
    return m2m_open_beneath_flags(rootfd, path, O_RDONLY | O_NONBLOCK);
}

int m2msec_file_open_beneath(int rootfd, const char *path)
{
    int fd = m2m_open_beneath(rootfd, path), err;
    char ebuf[M2M_ESC_NAME];

    if (fd >= 0)
        return fd;
    err = errno;
    ERR_raise_data(ERR_LIB_SYS, err, "m2msec: cannot open %s below the root without symlinks: %s",
                   m2m_esc(path, ebuf, sizeof(ebuf)), strerror(err));
    errno = err;
    return -1;
}

void m2m_describe_component(int rootfd, const char *path, char *buf, size_t len)
{
    char comp[NAME_MAX + 1];
    const char *p = path;
    int dfd = rootfd;

    snprintf(buf, len, "a component of the path is a symlink or not a directory");
    if (path == NULL || !m2m_path_shape_ok(path))
        return;
    for (;;) {
        struct stat st;
        int last = next_component(&p, comp), fd;

        if (fstatat(dfd, comp, &st, AT_SYMLINK_NOFOLLOW) != 0)
            break;
        if (!S_ISDIR(st.st_mode)) {
            int plen = (int)(p - path) - (last ? 0 : 1);

            if (last) {
                snprintf(buf, len, "is a %s", m2m_type_text((unsigned)st.st_mode));
            } else {
                char part[PATH_MAX], ebuf[M2M_ESC_NAME];

                snprintf(part, sizeof(part), "%.*s", plen, path);
                snprintf(buf, len, "'%s' is a %s, not a directory",
                         m2m_esc(part, ebuf, sizeof(ebuf)), m2m_type_text((unsigned)st.st_mode));
            }
            break;
        }
        if (last)
            break;
        fd = openat(dfd, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (dfd != rootfd)
            close(dfd);
        dfd = fd;
        if (fd < 0)
            return;
    }
    if (dfd != rootfd)
        close(dfd);
}

int m2m_read_file(const char *path, size_t max, const char *what, unsigned char **buf, size_t *len)
{
    char ep[M2M_ESC_NAME]; /* the path, escaped for a message */
    struct stat st;
    unsigned char *b = NULL;
    size_t n = 0;
    int fd, err;

    *buf = NULL;
    *len = 0;
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        err = errno;
        ERR_raise_data(ERR_LIB_SYS, err, "m2msec: cannot open %s %s", what,
                       m2m_esc(path, ep, sizeof(ep)));
        errno = err;
        return -1;
    }
    if (fstat(fd, &st) != 0) {
        err = errno;
        ERR_raise_data(ERR_LIB_SYS, err, "m2msec: cannot stat %s %s", what,
                       m2m_esc(path, ep, sizeof(ep)));
        goto fail;
    }
    if (!S_ISREG(st.st_mode)) {
        err = EINVAL;
        ERR_raise_data(ERR_LIB_USER, ERR_R_PASSED_INVALID_ARGUMENT,
                       "m2msec: %s %s is a %s, not a regular file", what,
                       m2m_esc(path, ep, sizeof(ep)), m2m_type_text((unsigned)st.st_mode));
        goto fail;
    }
    /* hint st_size + 1: notices growth, and is never 0 */
    err = st.st_size < 0 || (unsigned long long)st.st_size > max
              ? EFBIG
              : m2m_read_fd_alloc(fd, max, (size_t)st.st_size + 1, &b, &n);
    if (err == EFBIG) {
        ERR_raise_data(ERR_LIB_USER, ERR_R_PASSED_INVALID_ARGUMENT,
                       "m2msec: %s %s is larger than %zu bytes", what,
                       m2m_esc(path, ep, sizeof(ep)), max);
        goto fail;
    }
    if (err == ENOMEM) {
        ERR_raise_data(ERR_LIB_USER, ERR_R_MALLOC_FAILURE, "m2msec: out of memory reading %s %s",
                       what, m2m_esc(path, ep, sizeof(ep)));
        goto fail;
    }
    if (err != 0) {
        ERR_raise_data(ERR_LIB_SYS, err, "m2msec: cannot read %s %s", what,
                       m2m_esc(path, ep, sizeof(ep)));
        goto fail;
    }
    close(fd);
    *buf = b;
    *len = n;
    return 0;
fail:
    OPENSSL_free(b);
    close(fd);
    errno = err;
    return -1;
}

int m2m_write_atomic(const char *path, const void *buf, size_t len, unsigned mode, const char *what)
{
    /* On the stack: a session's state save must not fail for want of memory. */
    char tmp[PATH_MAX + sizeof(".tmp.XXXXXX")], dir[PATH_MAX + 2], *slash;
    char ep[M2M_ESC_NAME], et[M2M_ESC_NAME]; /* path and tmp, escaped for a message */
    size_t plen = strlen(path);
    int fd = -1, dfd, ok = 0;

    tmp[0] = '\0';
    if (plen >= PATH_MAX) {
        ERR_raise_data(ERR_LIB_USER, ERR_R_PASSED_INVALID_ARGUMENT, "m2msec: %s path too long: %s",
                       what, m2m_esc(path, ep, sizeof(ep)));
        return 0;
    }
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp.XXXXXX", sizeof(".tmp.XXXXXX"));
    memcpy(dir, path, plen + 1);
    slash = strrchr(dir, '/');
    if (slash == NULL)
        strcpy(dir, ".");
    else if (slash == dir)
        dir[1] = '\0';
    else
        *slash = '\0';

    fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) {
        ERR_raise_data(ERR_LIB_SYS, errno, "m2msec: cannot create a temporary file for %s %s", what,
                       m2m_esc(path, ep, sizeof(ep)));
        tmp[0] = '\0';
        goto end;
    }
    if (!m2m_write_all(fd, buf, len) || fchmod(fd, (mode_t)mode) != 0 || fsync(fd) != 0) {
        ERR_raise_data(ERR_LIB_SYS, errno, "m2msec: cannot write %s %s (temporary file %s)", what,
                       m2m_esc(path, ep, sizeof(ep)), m2m_esc(tmp, et, sizeof(et)));
        goto end;
    }
    if (close(fd) != 0) {
        fd = -1;
        ERR_raise_data(ERR_LIB_SYS, errno, "m2msec: cannot write %s %s (temporary file %s)", what,
                       m2m_esc(path, ep, sizeof(ep)), m2m_esc(tmp, et, sizeof(et)));
        goto end;
    }
    fd = -1;
    if (rename(tmp, path) != 0) {
        ERR_raise_data(ERR_LIB_SYS, errno, "m2msec: cannot replace %s %s", what,
                       m2m_esc(path, ep, sizeof(ep)));
        goto end;
    }
    tmp[0] = '\0'; /* renamed: nothing to clean up */
    dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0 || fsync(dfd) != 0) {
        ERR_raise_data(ERR_LIB_SYS, errno, "m2msec: cannot sync the directory of %s %s", what,
                       m2m_esc(path, ep, sizeof(ep)));
        if (dfd >= 0)
            close(dfd);
        goto end;
    }
    close(dfd);
    ok = 1;
end:
    if (fd >= 0)
        close(fd);
    if (tmp[0] != '\0')
        unlink(tmp);
    return ok;
}
