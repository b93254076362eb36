/* SPDX-License-Identifier: Apache-2.0 */
/*
 * common: reading small security files without symlink games (cfile.h).
 */
#define _GNU_SOURCE /* O_PATH, syscall() */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <openssl/crypto.h>

#if defined(__has_include)
#if __has_include(<linux/openat2.h>)
#include <linux/openat2.h>
#define M2M_HAVE_OPENAT2_H 1
#endif
#endif

#include "cfile.h"
#include "io.h"

void m2m_errmsg_set(M2M_ERRMSG *err, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL)
        return;
    va_start(ap, fmt);
    vsnprintf(err->text, sizeof(err->text), fmt, ap);
    va_end(ap);
    err->sys_errno = 0;
}

static void sys_error(M2M_ERRMSG *err, int e, const char *what, const char *path, const char *doing)
{
    m2m_errmsg_set(err, "%s %s: %s: %s", what, path, doing, strerror(e));
    if (err != NULL)
        err->sys_errno = e;
}

/* openat2(AT_FDCWD, path) without any symlink; -1 with errno (ENOSYS: not available). */
static int open_no_symlinks_openat2(const char *path, int flags)
{
#if defined(M2M_HAVE_OPENAT2_H) && defined(SYS_openat2)
    struct open_how how;

    memset(&how, 0, sizeof(how));
    how.flags = (unsigned long long)(unsigned)flags;
    how.resolve = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
    return (int)syscall(SYS_openat2, AT_FDCWD, path, &how, sizeof(how));
#else
    (void)path;
    (void)flags;
    errno = ENOSYS;
    return -1;
#endif
}

/* The same, one component at a time with O_NOFOLLOW (kernels without openat2). */
static int open_no_symlinks_walk(const char *path, int flags)
{
    char comp[NAME_MAX + 1];
    const char *p = path;
    int dfd, fd, e;

    dfd = open(path[0] == '/' ? "/" : ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return -1;
    for (;;) {
        const char *slash;
        size_t n;

        while (*p == '/')
            p++;
        slash = strchr(p, '/');
        n = slash != NULL ? (size_t)(slash - p) : strlen(p);
        if (n > NAME_MAX) {
            close(dfd);
            errno = ENAMETOOLONG;
            return -1;
        }
        memcpy(comp, p, n);
        comp[n] = '\0';
        p += n;
        while (*p == '/')
            p++;
        if (*p == '\0') { /* the last component */
            fd = openat(dfd, n > 0 ? comp : ".", flags | O_NOFOLLOW);
            e = errno;
            close(dfd);
            errno = e;
            return fd;
        }
        fd = openat(dfd, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        e = errno;
        close(dfd);
        if (fd < 0) {
            errno = e;
            return -1;
        }
        dfd = fd;
    }
}

/* After ELOOP or ENOTDIR: the first component of @p path that is a symlink, if any. */
static int first_symlink(const char *path, char *out, size_t cap)
{
    size_t len = strlen(path);

    if (len >= PATH_MAX)
        return 0;
    for (size_t i = 1; i <= len; i++) {
        struct stat st;
        char prefix[PATH_MAX];

        if (i < len && path[i] != '/')
            continue;
        memcpy(prefix, path, i);
        prefix[i] = '\0';
        if (lstat(prefix, &st) != 0)
            return 0;
        if (S_ISLNK(st.st_mode)) {
            snprintf(out, cap, "%s", prefix);
            return 1;
        }
    }
    return 0;
}

int m2m_cf_open(const char *path, int flags, const char *what, M2M_ERRMSG *err)
{
    int oflags = O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC | O_NOFOLLOW, fd, e;
    struct stat st;

    if (path == NULL || path[0] == '\0') {
        m2m_errmsg_set(err, "%s: no file name", what);
        return -1;
    }
    if (strlen(path) >= PATH_MAX) {
        m2m_errmsg_set(err, "%s %.64s...: the path is too long", what, path);
        return -1;
    }
    if (flags & M2M_CF_NO_SYMLINKS) {
        fd = open_no_symlinks_openat2(path, oflags);
        /* ENOSYS: no openat2; EPERM: a seccomp filter that refuses it */
        if (fd < 0 && (errno == ENOSYS || errno == EPERM))
            fd = open_no_symlinks_walk(path, oflags);
    } else {
        fd = open(path, oflags);
    }
    if (fd < 0) {
        char link[PATH_MAX];

        e = errno;
        if ((e == ELOOP || e == ENOTDIR || e == EXDEV) && first_symlink(path, link, sizeof(link))) {
            if (strcmp(link, path) == 0)
                m2m_errmsg_set(err, "%s %s is a symlink (not followed: name the file itself)", what,
                               path);
            else
                m2m_errmsg_set(err,
                               "%s %s: the directory %s on its path is a symlink (not followed: "
                               "name the real path)",
                               what, path, link);
            if (err != NULL)
                err->sys_errno = e;
            return -1;
        }
        sys_error(err, e, what, path, "cannot open");
        return -1;
    }
    if (fstat(fd, &st) != 0) {
        e = errno;
        close(fd);
        sys_error(err, e, what, path, "cannot stat");
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        m2m_errmsg_set(err, "%s %s is a %s, not a regular file", what, path,
                       m2m_type_text((unsigned)st.st_mode));
        return -1;
    }
    return fd;
}

int m2m_cf_read(const char *path, int flags, size_t max, const char *what, unsigned char **buf,
                size_t *len, M2M_ERRMSG *err)
{
    struct stat st;
    unsigned char *b;
    size_t n = 0;
    int fd, r, e;

    *buf = NULL;
    *len = 0;
    fd = m2m_cf_open(path, flags, what, err);
    if (fd < 0)
        return 0;
    if (fstat(fd, &st) != 0 || st.st_size < 0 || (unsigned long long)st.st_size > max) {
        close(fd);
        m2m_errmsg_set(err, "%s %s is larger than %zu bytes", what, path, max);
        return 0;
    }
    b = OPENSSL_malloc((size_t)st.st_size + 1);
    if (b == NULL) {
        close(fd);
        m2m_errmsg_set(err, "%s %s: out of memory", what, path);
        return 0;
    }
    r = m2m_read_all(fd, b, (size_t)st.st_size, &n);
    e = errno;
    close(fd);
    if (r <= 0) {
        OPENSSL_free(b);
        if (r < 0)
            m2m_errmsg_set(err, "%s %s changed (grew) while it was read; try again", what, path);
        else
            sys_error(err, e, what, path, "cannot read");
        return 0;
    }
    b[n] = '\0';
    *buf = b;
    *len = n;
    return 1;
}

int m2m_cf_read_into(const char *path, int flags, char *buf, size_t cap, size_t *len,
                     const char *what, M2M_ERRMSG *err)
{
    size_t n = 0;
    int fd, r, e;

    *len = 0;
    if (cap == 0) {
        m2m_errmsg_set(err, "%s %s: no room to read it", what, path);
        return 0;
    }
    fd = m2m_cf_open(path, flags, what, err);
    if (fd < 0)
        return 0;
    /* at most cap - 1 bytes: a file that fills the buffer is too long */
    r = m2m_read_all(fd, buf, cap - 1, &n);
    e = errno;
    close(fd);
    if (r < 0) {
        m2m_errmsg_set(err, "%s %s is %zu bytes or longer", what, path, cap);
        return 0;
    }
    if (r == 0) {
        sys_error(err, e, what, path, "cannot read");
        return 0;
    }
    *len = n;
    return 1;
}
