/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libm2msec: where session state may live (docs/PROTOCOL.md 6.4, "Where the
 * state lives"). A state store protects the no-reuse and no-replay rules
 * only if nobody else can swap, delete or plant its files, and only if it
 * is the same file whatever the working directory. So the path must be
 * absolute, and its directory, resolved, must be owned by the process's
 * user or root and writable by nobody else; every directory above it must
 * be owned by that user or root and writable by nobody else unless it is
 * sticky (as /tmp is: another user can then create names there but cannot
 * rename or delete ours). Checked each time a store is locked.
 */
#define _GNU_SOURCE /* realpath() with C11 */

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/err.h>

#include "store_path.h"

/* 0 if @p sb (a directory at @p dir) passes, else raises why and returns -1. */
static int dir_ok(const char *path, const char *dir, const struct stat *sb, int parent,
                  const char *what)
{
    uid_t me = geteuid();

    if (sb->st_uid != me && sb->st_uid != 0) {
        ERR_raise_data(ERR_LIB_USER, ERR_R_PASSED_INVALID_ARGUMENT,
                       "m2msec: %s %s: the directory %s belongs to another user (uid %lu); "
                       "keep session state in directories of this user or root only",
                       what, path, dir, (unsigned long)sb->st_uid);
        return -1;
    }
    if ((sb->st_mode & (S_IWGRP | S_IWOTH)) != 0 && (parent || (sb->st_mode & S_ISVTX) == 0)) {
        ERR_raise_data(ERR_LIB_USER, ERR_R_PASSED_INVALID_ARGUMENT,
                       "m2msec: %s %s: the directory %s is writable by other users (mode %04o); "
                       "keep session state in a directory only its user can write (chmod go-w)",
                       what, path, dir, (unsigned)(sb->st_mode & 07777));
        return -1;
    }
    return 0;
}

int m2m_store_path_check(const char *path, const char *what)
{
    char dir[PATH_MAX], real[PATH_MAX];
    const char *slash;
    struct stat sb;
    size_t n;
    int err;

    if (path == NULL || path[0] != '/') {
        ERR_raise_data(ERR_LIB_USER, ERR_R_PASSED_INVALID_ARGUMENT,
                       "m2msec: %s %s is a relative path; give an absolute one (a relative path "
                       "names another file when the working directory changes)",
                       what, path != NULL ? path : "(none)");
        return 0;
    }
    slash = strrchr(path, '/');
    n = slash == path ? 1 : (size_t)(slash - path);
    if (n >= sizeof(dir) || slash[1] == '\0') {
        ERR_raise_data(ERR_LIB_USER, ERR_R_PASSED_INVALID_ARGUMENT,
                       "m2msec: %s %s does not name a file", what, path);
        return 0;
    }
    memcpy(dir, path, n);
    dir[n] = '\0';
    if (realpath(dir, real) == NULL) {
        err = errno;
        ERR_raise_data(ERR_LIB_SYS, err, "m2msec: %s %s: cannot resolve its directory %s: %s", what,
                       path, dir, strerror(err));
        return 0;
    }
    /* From the directory up to /, each component as it is now (lstat: no link remains). */
    for (int parent = 1;; parent = 0) {
        char *cut;

        if (lstat(real, &sb) != 0) {
            err = errno;
            ERR_raise_data(ERR_LIB_SYS, err, "m2msec: %s %s: cannot examine %s: %s", what, path,
                           real, strerror(err));
            return 0;
        }
        if (dir_ok(path, real, &sb, parent, what) != 0)
            return 0;
        if (strcmp(real, "/") == 0)
            return 1;
        cut = strrchr(real, '/');
        if (cut == real)
            cut[1] = '\0';
        else
            *cut = '\0';
    }
}
