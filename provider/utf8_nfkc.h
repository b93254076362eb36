/* SPDX-License-Identifier: Apache-2.0 */
/* m2msec provider: UTF-8 validation and Unicode NFKC normalisation (via libutf8proc). */
#ifndef M2M_UTF8_NFKC_H
#define M2M_UTF8_NFKC_H

#include <stddef.h>

/*
 * Validate len bytes of s as UTF-8 (RFC 3629: no overlongs, surrogates or
 * code points above U+10FFFF; NUL refused) and return a freshly allocated
 * (OPENSSL_malloc) NUL-terminated NFKC form in *out / *outlen. ASCII input
 * is already NFKC and is only copied. name is the parameter name used in
 * the error message.
 */
int m2m_utf8_nfkc(const char *name, const char *s, size_t len, unsigned char **out, size_t *outlen);

#endif
