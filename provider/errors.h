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

/* The reason codes are public (include/m2msec/errors.h) so that applications can tell them apart.
 */
#define M2M_R_MISSING_KEY M2MSEC_R_MISSING_KEY
#define M2M_R_KEY_TOO_SHORT M2MSEC_R_KEY_TOO_SHORT
#define M2M_R_LIFETIME_EXCEEDS_POLICY M2MSEC_R_LIFETIME_EXCEEDS_POLICY
#define M2M_R_MISSING_PARAMETER M2MSEC_R_MISSING_PARAMETER
#define M2M_R_INVALID_PARAMETER M2MSEC_R_INVALID_PARAMETER
#define M2M_R_INVALID_UTF8 M2MSEC_R_INVALID_UTF8
#define M2M_R_UNKNOWN_DERIVATION M2MSEC_R_UNKNOWN_DERIVATION
#define M2M_R_BAD_OUTPUT_LENGTH M2MSEC_R_BAD_OUTPUT_LENGTH
#define M2M_R_UNKNOWN_DIGEST M2MSEC_R_UNKNOWN_DIGEST
#define M2M_R_FIELD_TOO_LONG M2MSEC_R_FIELD_TOO_LONG
#define M2M_R_BAD_POLICY M2MSEC_R_BAD_POLICY
#define M2M_R_FETCH_FAILED M2MSEC_R_FETCH_FAILED
#define M2M_R_CRYPTO_FAILED M2MSEC_R_CRYPTO_FAILED
#define M2M_R_MALLOC_FAILURE M2MSEC_R_MALLOC_FAILURE
#define M2M_R_REPLAYED_RECORD M2MSEC_R_REPLAYED_RECORD
#define M2M_R_OUTSIDE_WINDOW M2MSEC_R_OUTSIDE_WINDOW
#define M2M_R_AUTH_FAILED M2MSEC_R_AUTH_FAILED
#define M2M_R_KEY_EXPIRED M2MSEC_R_KEY_EXPIRED
#define M2M_R_KEY_REUSED M2MSEC_R_KEY_REUSED
#define M2M_R_BAD_STATE M2MSEC_R_BAD_STATE
#define M2M_R_COPY_REFUSED M2MSEC_R_COPY_REFUSED
#define M2M_R_NOT_ALLOWED M2MSEC_R_NOT_ALLOWED
#define M2M_R_INTEGRITY_FAILED M2MSEC_R_INTEGRITY_FAILED
#define M2M_R_MODULE_INTEGRITY M2MSEC_R_MODULE_INTEGRITY
#define M2M_R_FORKED M2MSEC_R_FORKED

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
