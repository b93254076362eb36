/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libm2msec internal: opening files below a root without following
 * symlinks (openat2 or a component-by-component fallback), and atomic
 * whole-file reads and writes. Nothing here is exported (libm2msec.map);
 * tests reach the m2msec_ test hook through the static twin.
 */
#ifndef M2MSEC_LIBM2MSEC_SAFE_OPEN_H
#define M2MSEC_LIBM2MSEC_SAFE_OPEN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "io.h"

/*
 * Open @p path below @p rootfd with O_NOFOLLOW | O_CLOEXEC added to @p flags
 * (e.g. O_RDONLY | O_NONBLOCK, O_RDONLY | O_DIRECTORY, O_PATH), never
 * following a symlink. -1 with errno on failure (EINVAL for a bad path).
 */
int m2m_open_beneath_flags(int rootfd, const char *path, int flags);
/*
 * m2msec_file_open_beneath() without an error queued (-1 with errno only):
 * for the verifier and remediation, where a missing file is an expected
 * outcome, not an error.
 */
int m2m_open_beneath(int rootfd, const char *path);

/* fstat() of @p path below @p rootfd (an O_PATH open, no symlink followed). 0 or -1. */
struct stat;
int m2m_stat_beneath(int rootfd, const char *path, struct stat *st);

/*
 * What an entry is, for telling it apart from anything put in its place
 * later: device, inode, file type and, where the filesystem records it,
 * birth time (statx STATX_BTIME), which also tells a new file from a
 * deleted one whose inode number it got. known is 0 for "nothing".
 */
typedef struct m2m_ident {
    int known;
    int has_btime;
    dev_t dev;
    ino_t ino;
    mode_t type; /* st_mode & S_IFMT */
    int64_t btime_sec;
    uint32_t btime_nsec;
} m2m_ident;

/* The identity of what the descriptor @p fd (O_PATH too) refers to. 0, or -1 with errno. */
int m2m_ident_fd(int fd, m2m_ident *id);
/*
 * fstat() of @p fd and its identity (m2m_ident_fd) in one statx() call;
 * where statx is missing or leaves out a field verification compares,
 * fstat() and m2m_ident_fd() (an identity it cannot get is left unknown). 0,
 * or -1 with errno.
 */
int m2m_fstat_ident(int fd, struct stat *st, m2m_ident *id);
/* The identity of the entry @p name of the directory @p dfd itself (not followed). 0 or -1. */
int m2m_ident_at(int dfd, const char *name, m2m_ident *id);
/* The identity of @p path below @p rootfd (an O_PATH open, no symlink followed). 0 or -1. */
int m2m_ident_beneath(int rootfd, const char *path, m2m_ident *id);
/* 1 if @p now is the object @p was (both known; birth times compared where both have one). */
int m2m_ident_same(const m2m_ident *was, const m2m_ident *now);

/*
 * After a failed open of @p path with ELOOP, ENOTDIR or EXDEV: describe the
 * first component that is not a directory, e.g. "component 'a/b' is a
 * symlink". Writes a NUL-terminated text into @p buf.
 */
void m2m_describe_component(int rootfd, const char *path, char *buf, size_t len);

/* m2m_type_text(): common/io.h */

/*
 * Read the whole file @p path (not following a final symlink) into an
 * OPENSSL_malloc buffer, at most @p max bytes. -1 with errno set and an
 * error queued naming @p what and the path, or 0 on success.
 */
int m2m_read_file(const char *path, size_t max, const char *what, unsigned char **buf, size_t *len);

/*
 * Replace @p path with @p len bytes atomically: temp file in the same
 * directory, write, fchmod @p mode, fsync, rename, fsync of the directory.
 * On failure the temp file is removed, @p path is untouched and an error
 * naming @p what and the path is queued. Returns 1 or 0.
 */
int m2m_write_atomic(const char *path, const void *buf, size_t len, unsigned mode,
                     const char *what);

/*
 * Tests only: 1 forces the openat() walk as if openat2 were ENOSYS, 0 goes
 * back to detecting. Returns whether openat2 is in use afterwards.
 */
int m2msec_safe_open_force_fallback(int on);

#endif
