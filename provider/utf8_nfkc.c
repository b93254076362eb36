/* SPDX-License-Identifier: Apache-2.0 */
/* m2msec provider: UTF-8 validation and NFKC normalisation for identifiers. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include <utf8proc.h>

#include "errors.h"
#include "utf8_nfkc.h"

int m2m_utf8_nfkc(const char *name, const char *s, size_t len, unsigned char **out, size_t *outlen)
{
    utf8proc_uint8_t *mapped = NULL;
    utf8proc_ssize_t n;
    int ascii = 1;

    for (size_t i = 0; i < len; i++) {
        if (s[i] == '\0') {
            M2M_RAISE(M2MSEC_R_INVALID_UTF8, "parameter '%s' contains a NUL byte at offset %zu",
                      name, i);
            return 0;
        }
        if ((unsigned char)s[i] >= 0x80)
            ascii = 0;
    }
    if (ascii) {
        *out = OPENSSL_malloc(len + 1);
        if (*out == NULL) {
            M2M_RAISE(M2MSEC_R_MALLOC_FAILURE, "out of memory normalising '%s'", name);
            return 0;
        }
        memcpy(*out, s, len);
        (*out)[len] = 0;
        *outlen = len;
        return 1;
    }
    if (len > (size_t)PTRDIFF_MAX) {
        M2M_RAISE(M2MSEC_R_FIELD_TOO_LONG, "parameter '%s' is too long", name);
        return 0;
    }
    n = utf8proc_map((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)len, &mapped,
                     UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_COMPAT);
    if (n < 0) {
        if (n == UTF8PROC_ERROR_NOMEM) {
            M2M_RAISE(M2MSEC_R_MALLOC_FAILURE, "out of memory normalising '%s'", name);
        } else {
            M2M_RAISE(M2MSEC_R_INVALID_UTF8, "parameter '%s' is not valid UTF-8 (%s)", name,
                      utf8proc_errmsg(n));
        }
        return 0;
    }
    /* utf8proc allocates with malloc; hand the caller OPENSSL_malloc memory. */
    *out = OPENSSL_malloc((size_t)n + 1);
    if (*out == NULL) {
        free(mapped);
        M2M_RAISE(M2MSEC_R_MALLOC_FAILURE, "out of memory normalising '%s'", name);
        return 0;
    }
    memcpy(*out, mapped, (size_t)n + 1);
    *outlen = (size_t)n;
    free(mapped);
    return 1;
}
