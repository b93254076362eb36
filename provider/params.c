/* SPDX-License-Identifier: Apache-2.0 */
/* m2msec provider: copying and validating KDF parameters. */
#include <string.h>
#include <openssl/crypto.h>

#include "errors.h"
#include "params.h"
#include "utf8_nfkc.h"

void m2m_bytes_free(M2M_BYTES *b, int secret)
{
    if (secret)
        OPENSSL_clear_free(b->data, b->len);
    else
        OPENSSL_free(b->data);
    b->data = NULL;
    b->len = 0;
}

static int set_copy(M2M_BYTES *b, const void *src, size_t len, int secret)
{
    /* Allocate one byte more so that an empty value is still "set". */
    unsigned char *d = OPENSSL_malloc(len + 1);

    if (d == NULL) {
        M2M_RAISE(M2MSEC_R_MALLOC_FAILURE, "out of memory copying a parameter");
        return 0;
    }
    if (len > 0)
        memcpy(d, src, len);
    d[len] = 0;
    m2m_bytes_free(b, secret);
    b->data = d;
    b->len = len;
    return 1;
}

int m2m_bytes_dup(M2M_BYTES *dst, const M2M_BYTES *src, int secret)
{
    dst->data = NULL;
    dst->len = 0;
    if (src->data == NULL)
        return 1;
    return set_copy(dst, src->data, src->len, secret);
}

int m2m_param_octets(const OSSL_PARAM *p, M2M_BYTES *b, int secret)
{
    const void *v = NULL;
    size_t len = 0;

    if (!OSSL_PARAM_get_octet_string_ptr(p, &v, &len)) {
        M2M_RAISE(M2MSEC_R_INVALID_PARAMETER, "parameter '%s' must be an octet string", p->key);
        return 0;
    }
    return set_copy(b, v, len, secret);
}

int m2m_param_utf8(const OSSL_PARAM *p, const char **s, size_t *len)
{
    const char *v = NULL, *nul;
    size_t n = 0;

    if (p->data_type == OSSL_PARAM_UTF8_STRING && p->data != NULL) {
        /* data_size excludes any terminator: these are the value's bytes. */
        v = p->data;
        n = p->data_size;
    } else if (p->data_type == OSSL_PARAM_UTF8_PTR && p->data != NULL &&
               *(const char *const *)p->data != NULL) {
        /* Only the C string is there to read; a larger data_size would overread. */
        v = *(const char *const *)p->data;
        n = strlen(v);
        if (p->data_size != 0 && p->data_size != n) {
            M2M_RAISE(M2MSEC_R_INVALID_UTF8,
                      "parameter '%s' contains a NUL byte at offset %zu (data_size %zu)", p->key, n,
                      p->data_size);
            return 0;
        }
    } else {
        M2M_RAISE(M2MSEC_R_INVALID_PARAMETER, "parameter '%s' must be a UTF-8 string", p->key);
        return 0;
    }
    if ((nul = memchr(v, '\0', n)) != NULL) {
        M2M_RAISE(M2MSEC_R_INVALID_UTF8,
                  "parameter '%s' contains a NUL byte at offset %zu (data_size %zu)", p->key,
                  (size_t)(nul - v), n);
        return 0;
    }
    *s = v;
    *len = n;
    return 1;
}

int m2m_name_is(const char *s, size_t len, const char *name)
{
    return strlen(name) == len && memcmp(s, name, len) == 0;
}

int m2m_name_shown(size_t len)
{
    return len > 64 ? 64 : (int)len;
}

int m2m_param_nfkc(const OSSL_PARAM *p, M2M_BYTES *b, int allow_empty)
{
    const char *s = NULL;
    unsigned char *norm = NULL;
    size_t len = 0, normlen = 0;

    if (!m2m_param_utf8(p, &s, &len) || !m2m_utf8_nfkc(p->key, s, len, &norm, &normlen))
        return 0;
    if (normlen == 0 && !allow_empty) {
        OPENSSL_free(norm);
        M2M_RAISE(M2MSEC_R_INVALID_PARAMETER, "parameter '%s' must not be empty", p->key);
        return 0;
    }
    m2m_bytes_free(b, 0);
    b->data = norm;
    b->len = normlen;
    return 1;
}

int m2m_key_long_enough(const M2M_BYTES *key, uint64_t min_key_bits)
{
    if (key->len * 8 >= min_key_bits)
        return 1;
    M2M_RAISE(M2MSEC_R_KEY_TOO_SHORT, "key is %zu bits; policy minimum is %llu bits", key->len * 8,
              (unsigned long long)min_key_bits);
    return 0;
}

int m2m_param_u64(const OSSL_PARAM *p, uint64_t *v)
{
    if (!OSSL_PARAM_get_uint64(p, v)) {
        M2M_RAISE(M2MSEC_R_INVALID_PARAMETER,
                  "parameter '%s' must be an unsigned integer that fits 64 bits", p->key);
        return 0;
    }
    return 1;
}
