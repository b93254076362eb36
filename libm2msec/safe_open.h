/*
 * libm2msec internal: opening files below a root without following
 * symlinks (openat2 or a component-by-component fallback), and atomic
 * whole-file reads and writes. The m2m_ functions are not exported; the
 * m2msec_ ones are exported for the tests only and are not part of the API.
 */
#ifndef M2MSEC_LIBM2MSEC_SAFE_OPEN_H
#define M2MSEC_LIBM2MSEC_SAFE_OPEN_H

#include <stddef.h>

/*
 * Open @p path below @p rootfd with O_NOFOLLOW | O_CLOEXEC added to @p flags
 * (e.g. O_RDONLY | O_NONBLOCK, O_RDONLY | O_DIRECTORY, O_PATH), never
 * following a symlink. -1 with errno on failure (EINVAL for a bad path).
 */
int m2m_open_beneath_flags(int rootfd, const char *path, int flags);

/* fstat() of @p path below @p rootfd (an O_PATH open, no symlink followed). 0 or -1. */
struct stat;
int m2m_stat_beneath(int rootfd, const char *path, struct stat *st);

/*
 * After a failed open of @p path with ELOOP, ENOTDIR or EXDEV: describe the
 * first component that is not a directory, e.g. "component 'a/b' is a
 * symlink". Writes a NUL-terminated text into @p buf.
 */
void m2m_describe_component(int rootfd, const char *path, char *buf, size_t len);

/* File type of a st_mode as a word: "regular file", "symlink", ... */
const char *m2m_type_text(unsigned mode);

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
