/* SPDX-License-Identifier: Apache-2.0 */
/*
 * common (internal static library, linked into the provider module,
 * libm2msec and the m2msec tool): reading the small files that carry
 * security decisions (the policy file, the integrity status record, the
 * manifest rollback state, the device key) without symlink games, with a
 * size cap, and with an error text that says what is wrong.
 *
 * Nothing here is exported: the module is built with hidden visibility and
 * a version script that exports only OSSL_provider_init, libm2msec's script
 * exports only m2msec_*. Errors are returned as text (M2M_ERRMSG); each
 * caller raises them its own way (the provider through the core, libm2msec
 * with ERR_raise_data, the tool on stderr).
 */
#ifndef M2M_COMMON_CFILE_H
#define M2M_COMMON_CFILE_H

#include <stddef.h>

/* Room for one error text: file name, line and what is wrong. */
#define M2M_ERRMSG_MAX 768

typedef struct m2m_errmsg {
    char text[M2M_ERRMSG_MAX];
    int sys_errno; /* errno of a failed system call, else 0 */
} M2M_ERRMSG;

/* printf into err->text (truncated to fit); sets sys_errno to 0. */
void m2m_errmsg_set(M2M_ERRMSG *err, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Flags of m2m_cf_read() and m2m_cf_read_into(). */
#define M2M_CF_NO_SYMLINKS 1 /* refuse a symlink in ANY component of the path */

/*
 * Open @p path for reading: O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC |
 * O_NOFOLLOW, and with M2M_CF_NO_SYMLINKS no symlink anywhere on the way
 * (openat2 RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS; where the kernel has
 * no openat2, every component is opened with O_NOFOLLOW). The result must be
 * a regular file (never a FIFO or device whose open or read could block).
 * Returns the descriptor, or -1 with err filled ("WHAT PATH: ..." naming the
 * symlink component, the file type, or strerror).
 */
int m2m_cf_open(const char *path, int flags, const char *what, M2M_ERRMSG *err);

/*
 * Read the whole regular file @p path (m2m_cf_open) into a new
 * OPENSSL_malloc buffer, NUL-terminated (*len does not count the NUL). A
 * file of more than @p max bytes is refused ("larger than N bytes").
 * Returns 1, or 0 with err filled and *buf NULL.
 */
int m2m_cf_read(const char *path, int flags, size_t max, const char *what, unsigned char **buf,
                size_t *len, M2M_ERRMSG *err);

/*
 * The same into the caller's buffer @p buf of @p cap bytes: a file of cap
 * bytes or more is refused. The buffer is not wiped here (the caller wipes
 * secrets). Returns 1, or 0 with err filled.
 */
int m2m_cf_read_into(const char *path, int flags, char *buf, size_t cap, size_t *len,
                     const char *what, M2M_ERRMSG *err);

#endif
