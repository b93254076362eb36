/* SPDX-License-Identifier: Apache-2.0 */
/* common: reads and writes that survive EINTR, a growable array, file types, path shapes (io.h). */
#define _DEFAULT_SOURCE /* S_IFMT and the S_IF* file types */

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/crypto.h>

#include "io.h"

ssize_t m2m_read(int fd, void *buf, size_t n)
{
    ssize_t r;

    do {
        r = read(fd, buf, n);
    } while (r < 0 && errno == EINTR);
    return r;
}

ssize_t m2m_pread(int fd, void *buf, size_t n, off_t at)
{
    ssize_t r;

    do {
        r = pread(fd, buf, n, at);
    } while (r < 0 && errno == EINTR);
    return r;
}

int m2m_read_all(int fd, void *buf, size_t cap, size_t *n)
{
    unsigned char *b = buf;
    size_t got = 0;

    for (;;) {
        ssize_t r;

        if (got == cap) {
            unsigned char extra;

            r = m2m_read(fd, &extra, 1);
            *n = got;
            if (r < 0)
                return 0;
            return r == 0 ? 1 : -1;
        }
        r = m2m_read(fd, b + got, cap - got);
        if (r <= 0) {
            *n = got;
            return r == 0;
        }
        got += (size_t)r;
    }
}

int m2m_read_fd_alloc(int fd, size_t max, size_t hint, unsigned char **buf, size_t *len)
{
    size_t cap = hint == 0 ? 1 : hint, n = 0;
    unsigned char *b, *nb;
    int err = 0;

    *buf = NULL;
    *len = 0;
    if ((b = OPENSSL_malloc(cap)) == NULL)
        return ENOMEM;
    for (;;) {
        ssize_t r;

        if (n == cap) {
            if (cap > max) {
                err = EFBIG;
                break;
            }
            if (cap > SIZE_MAX / 2 || (nb = OPENSSL_clear_realloc(b, cap, cap * 2)) == NULL) {
                err = ENOMEM;
                break;
            }
            b = nb;
            cap *= 2;
        }
        r = m2m_read(fd, b + n, cap - n);
        if (r < 0) {
            err = errno != 0 ? errno : EIO;
            break;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    if (err == 0 && n > max)
        err = EFBIG;
    if (err != 0) {
        OPENSSL_clear_free(b, cap);
        return err;
    }
    *buf = b;
    *len = n;
    return 0;
}

/* write(2), or pwrite(2) at *at when at is not NULL, of all n bytes. */
static int put_all(int fd, const void *buf, size_t n, off_t *at)
{
    const unsigned char *p = buf;

    while (n > 0) {
        ssize_t w = at != NULL ? pwrite(fd, p, n, *at) : write(fd, p, n);

        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return 0;
        if (w == 0) {
            errno = EIO;
            return 0;
        }
        p += w;
        n -= (size_t)w;
        if (at != NULL)
            *at += w;
    }
    return 1;
}

int m2m_write_all(int fd, const void *buf, size_t n)
{
    return put_all(fd, buf, n, NULL);
}

int m2m_pwrite_all(int fd, const void *buf, size_t n, off_t at)
{
    return put_all(fd, buf, n, &at);
}

void *m2m_grow(void *a, size_t n, size_t *cap, size_t elem, size_t first)
{
    size_t nc;
    void *na;

    if (n < *cap)
        return a;
    nc = *cap == 0 ? first : *cap * 2;
    if (nc <= *cap || elem == 0 || nc > SIZE_MAX / elem)
        return NULL;
    if ((na = OPENSSL_realloc(a, nc * elem)) == NULL)
        return NULL;
    *cap = nc;
    return na;
}

int m2m_path_shape_ok(const char *path)
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

const char *m2m_type_text(unsigned mode)
{
    switch (mode & S_IFMT) {
    case S_IFREG:
        return "regular file";
    case S_IFDIR:
        return "directory";
    case S_IFLNK:
        return "symlink";
    case S_IFIFO:
        return "fifo";
    case S_IFSOCK:
        return "socket";
    case S_IFCHR:
        return "character device";
    case S_IFBLK:
        return "block device";
    default:
        return "unknown file type";
    }
}
