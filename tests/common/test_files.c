/* SPDX-License-Identifier: Apache-2.0 */
/* Files and shell commands for the C tests (see test_files.h). */
#define _GNU_SOURCE /* popen, fchmod, mkdtemp, nftw with C11 */

#include "test_files.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

void pathf(char *buf, size_t len, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(buf, len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= len) {
        fprintf(stderr, "path too long: %s\n", fmt);
        abort();
    }
}

/* The formatted command into @p cmd; a command that does not fit aborts. */
__attribute__((format(printf, 3, 0))) static void command(char *cmd, size_t len, const char *fmt,
                                                          va_list ap)
{
    int n = vsnprintf(cmd, len, fmt, ap);

    if (n < 0 || (size_t)n >= len) {
        fprintf(stderr, "command too long: %s\n", fmt);
        abort();
    }
}

int run(const char *fmt, ...)
{
    char cmd[8192];
    va_list ap;
    int st;

    va_start(ap, fmt);
    command(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    st = system(cmd);
    if (st == -1 || !WIFEXITED(st))
        return -1;
    return WEXITSTATUS(st);
}

char *run_out(const char *fmt, ...)
{
    char cmd[8192], *out = NULL;
    size_t n = 0, cap = 0;
    va_list ap;
    FILE *f;
    int c;

    va_start(ap, fmt);
    command(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    f = popen(cmd, "r");
    if (f == NULL)
        return NULL;
    while ((c = fgetc(f)) != EOF) {
        if (n + 1 >= cap) {
            cap = cap == 0 ? 256 : cap * 2;
            out = realloc(out, cap);
            if (out == NULL)
                abort();
        }
        out[n++] = (char)c;
    }
    if (pclose(f) != 0) {
        free(out);
        return NULL;
    }
    if (out == NULL)
        out = calloc(1, 1);
    else
        out[n] = '\0';
    return out;
}

int write_file(const char *path, const void *data, size_t len, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    const unsigned char *p = data;

    if (fd < 0)
        return 0;
    while (len > 0) {
        ssize_t w = write(fd, p, len);

        if (w <= 0) {
            close(fd);
            return 0;
        }
        p += w;
        len -= (size_t)w;
    }
    if (fchmod(fd, mode) != 0) {
        close(fd);
        return 0;
    }
    return close(fd) == 0;
}

void write_bytes(const char *path, const void *data, size_t len, mode_t mode)
{
    if (!write_file(path, data, len, mode)) {
        perror(path);
        abort();
    }
}

void write_text(const char *path, const char *text, mode_t mode)
{
    write_bytes(path, text, strlen(text), mode);
}

char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *b = NULL;
    size_t n = 0, cap = 0, r;

    if (len != NULL)
        *len = 0;
    if (f == NULL)
        return NULL;
    do {
        if (n + 4096 + 1 > cap) {
            cap = cap == 0 ? 8192 : cap * 2;
            b = realloc(b, cap);
            if (b == NULL)
                abort();
        }
        r = fread(b + n, 1, cap - n - 1, f);
        n += r;
    } while (r > 0);
    fclose(f);
    b[n] = '\0';
    if (len != NULL)
        *len = n;
    return b;
}

int file_exists(const char *path)
{
    struct stat st;

    return lstat(path, &st) == 0;
}

int make_temp_dir(char *buf, size_t len, const char *name)
{
    const char *base = getenv("TMPDIR");

    pathf(buf, len, "%s/m2msec-%s-XXXXXX", base != NULL && *base != '\0' ? base : "/tmp", name);
    return mkdtemp(buf) != NULL;
}

/* nftw() visits a directory before its contents (FTW_DEPTH unset) to open it up, and after them
 * (FTW_DP) to remove it: two walks keep each callback to one job. */
static int open_up(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
    (void)ftw;
    if (type == FTW_D || type == FTW_DNR)
        (void)chmod(path, (sb->st_mode & 07777) | 0700);
    return 0;
}

static int remove_one(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
    (void)sb;
    (void)ftw;
    if (type == FTW_DP)
        (void)rmdir(path);
    else
        (void)unlink(path);
    return 0;
}

void remove_tree(const char *path)
{
    (void)nftw(path, open_up, 16, FTW_PHYS);
    (void)nftw(path, remove_one, 16, FTW_PHYS | FTW_DEPTH);
}
