/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libm2msec: writing the device integrity status record that the
 * provider's integrity gate reads (docs/PROTOCOL.md section 8). The
 * format, its MAC and the device key sizes live in common/status_record.c,
 * linked into the provider, this library and the m2msec tool.
 */
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include "status_record.h"
#include "m2msec/integrity.h"
#include "safe_open.h"

static int write_record(OSSL_LIB_CTX *libctx, const char *path, const unsigned char *key,
                        size_t keylen, const M2M_INTEGRITY_STATUS *st)
{
    char buf[M2M_STATUS_MAX];
    EVP_MAC *hmac;
    size_t len;
    int ok;

    if (path == NULL || key == NULL) {
        ERR_raise_data(ERR_LIB_USER, ERR_R_PASSED_NULL_PARAMETER,
                       "m2msec: NULL status path or device key");
        return 0;
    }
    if (keylen < M2M_DEVICE_KEY_MIN || keylen > M2M_DEVICE_KEY_MAX) {
        ERR_raise_data(ERR_LIB_USER, ERR_R_PASSED_INVALID_ARGUMENT,
                       "m2msec: device key of %zu bytes; the provider needs %d to %d", keylen,
                       M2M_DEVICE_KEY_MIN, M2M_DEVICE_KEY_MAX);
        return 0;
    }
    hmac = EVP_MAC_fetch(libctx, "HMAC", NULL);
    if (hmac == NULL) {
        ERR_raise_data(ERR_LIB_USER, ERR_R_FETCH_FAILED,
                       "m2msec: HMAC is not available in the library context");
        return 0;
    }
    len = m2m_status_render(hmac, key, keylen, st, buf, sizeof(buf));
    EVP_MAC_free(hmac);
    if (len == 0) {
        ERR_raise_data(ERR_LIB_USER, ERR_R_OPERATION_FAIL,
                       "m2msec: cannot compute the integrity status record for %s", path);
        return 0;
    }
    /* readable by every application that derives session keys; the MAC protects it */
    ok = m2m_write_atomic(path, buf, len, 0644, "integrity status");
    OPENSSL_cleanse(buf, sizeof(buf));
    return ok;
}

int m2msec_integrity_status_write(OSSL_LIB_CTX *libctx, const char *path, const unsigned char *key,
                                  size_t keylen, int passed, uint64_t manifest_version,
                                  uint64_t when)
{
    M2M_INTEGRITY_STATUS st;

    memset(&st, 0, sizeof(st));
    st.passed = passed != 0;
    st.manifest_version = manifest_version;
    st.time = when;
    return write_record(libctx, path, key, keylen, &st);
}

int m2msec_integrity_status_invalidate(OSSL_LIB_CTX *libctx, const char *path,
                                       const unsigned char *key, size_t keylen, uint64_t when)
{
    M2M_INTEGRITY_STATUS st;

    memset(&st, 0, sizeof(st));
    st.verifying = 1;
    st.time = when;
    return write_record(libctx, path, key, keylen, &st);
}
