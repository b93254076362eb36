/* SPDX-License-Identifier: Apache-2.0 */
/*
 * common: the I/O helpers that the provider, libm2msec and the tool share:
 * reads and writes that retry after EINTR and never stop half way, a
 * growable array, and the shape of a relative path below a root.
 */
#ifndef M2M_COMMON_IO_H
#define M2M_COMMON_IO_H

#include <stddef.h>
#include <sys/types.h>

/* read(2), retried while it fails with EINTR; the result of the last call. */
ssize_t m2m_read(int fd, void *buf, size_t n);

/* pread(2) at offset at, retried while it fails with EINTR. */
ssize_t m2m_pread(int fd, void *buf, size_t n, off_t at);

/*
 * Read until EOF into buf (at most cap bytes); *n gets the count. 1 at
 * EOF within cap; 0 on a read error (errno set); -1 when there is more
 * than cap bytes (one byte beyond cap was read to tell).
 */
int m2m_read_all(int fd, void *buf, size_t cap, size_t *n);

/*
 * Read fd to EOF into a new OPENSSL_malloc buffer (first @p hint bytes,
 * then twice as many as needed; a buffer outgrown is wiped before it is freed), refusing more than
 * @p max bytes. 0 with *buf (the caller frees it) and *len; else an errno value, *buf NULL: EFBIG
 * (more than max), ENOMEM, or the error of read(2). What was read is wiped before the buffer is
 * freed on a failure.
 */
int m2m_read_fd_alloc(int fd, size_t max, size_t hint, unsigned char **buf, size_t *len);

/* write(2) all n bytes, retrying after EINTR and short writes: 1, or 0 with errno set. */
int m2m_write_all(int fd, const void *buf, size_t n);

/* pwrite(2) all n bytes at offset at, the same way: 1, or 0 with errno set. */
int m2m_pwrite_all(int fd, const void *buf, size_t n, off_t at);

/*
 * Room for one more element in the array a that has n used of *cap
 * allocated (elem bytes each; OPENSSL_realloc): a itself while n < *cap,
 * else a larger copy (first elements at first, then twice as many) with
 * *cap updated. NULL when out of memory or the size would overflow; a is
 * then untouched and still owned by the caller.
 */
void *m2m_grow(void *a, size_t n, size_t *cap, size_t elem, size_t first);

/* File type of a st_mode as a word: "regular file", "directory", "symlink", "fifo", ... */
const char *m2m_type_text(unsigned mode);

/*
 * A relative path below a root: not empty, shorter than PATH_MAX, not
 * starting with '/', no empty, "." or ".." component, none longer than
 * NAME_MAX. 1 if so.
 */
int m2m_path_shape_ok(const char *path);

#endif
