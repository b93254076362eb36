/* SPDX-License-Identifier: Apache-2.0 */
/*
 * m2msec provider: reason codes and the function that raises them.
 *
 * Every reason has a fixed text (shown as the reason part of an OpenSSL
 * error line) and every raise carries a detail string that names the exact
 * value that was wrong. The detail repeats the essentials because errors
 * raised before the reason strings are loaded show only the number.
 */
#ifndef M2M_ERRORS_H
#define M2M_ERRORS_H

#include <openssl/core.h>
#include <openssl/core_dispatch.h>
#include <openssl/e_os2.h>

#include "m2msec/errors.h"

/* The reason codes (M2MSEC_R_*) are public, in include/m2msec/errors.h, so that applications
 * can tell them apart. */

/* The {reason, text} table handed to the core. */
const OSSL_ITEM *m2m_reason_strings(void);

/*
 * List the core's error functions of a new instance (OSSL_provider_init);
 * 0 on failure (an error is raised). Every instance that was listed is
 * removed with m2m_errors_release() when it is torn down or fails to load.
 */
int m2m_errors_init(const OSSL_CORE_HANDLE *handle, const OSSL_DISPATCH *in);
void m2m_errors_release(const OSSL_CORE_HANDLE *handle);

#if defined(__GNUC__)
__attribute__((format(printf, 5, 6)))
#endif
void m2m_raise_at(const char *file, int line, const char *func, int reason, const char *fmt, ...);

#define M2M_RAISE(reason, ...)                                                                     \
    m2m_raise_at(OPENSSL_FILE, OPENSSL_LINE, OPENSSL_FUNC, (reason), __VA_ARGS__)

#endif
