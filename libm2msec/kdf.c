/* SPDX-License-Identifier: Apache-2.0 */
/* libm2msec: M2M-SESSION-KDF through EVP_KDF. */
#include <string.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include "kdf_internal.h"
#include "m2msec/m2msec.h"

int m2m_session_key_derive_with(EVP_KDF *kdf, const m2msec_session_key_spec *s, unsigned char *out,
                                size_t out_len)
{
    OSSL_PARAM params[16], *p = params;
    EVP_KDF_CTX *kctx = NULL;
    int ok = 0;

    if (s == NULL || out == NULL) {
        ERR_raise_data(ERR_LIB_USER, ERR_R_PASSED_NULL_PARAMETER, "m2msec: NULL spec or output");
        return 0;
    }
    if (s->key != NULL)
        *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)s->key, s->key_len);
    if (s->salt != NULL)
        *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)s->salt, s->salt_len);
    if (s->digest != NULL)
        *p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)s->digest, 0);
    if (s->purpose != NULL)
        *p++ = OSSL_PARAM_construct_utf8_string("purpose", (char *)s->purpose, 0);
    if (s->originator != NULL)
        *p++ = OSSL_PARAM_construct_utf8_string("originator", (char *)s->originator, 0);
    if (s->receiver != NULL)
        *p++ = OSSL_PARAM_construct_utf8_string("receiver", (char *)s->receiver, 0);
    *p++ = OSSL_PARAM_construct_uint64("epoch", (uint64_t *)&s->epoch);
    *p++ = OSSL_PARAM_construct_uint64("not-before", (uint64_t *)&s->not_before);
    if (s->lifetime != 0)
        *p++ = OSSL_PARAM_construct_uint64("lifetime", (uint64_t *)&s->lifetime);
    if (s->aead != NULL)
        *p++ = OSSL_PARAM_construct_utf8_string("aead", (char *)s->aead, 0);
    if (s->originator_nonce != NULL)
        *p++ = OSSL_PARAM_construct_octet_string("originator-nonce", (void *)s->originator_nonce,
                                                 s->originator_nonce_len);
    if (s->receiver_nonce != NULL)
        *p++ = OSSL_PARAM_construct_octet_string("receiver-nonce", (void *)s->receiver_nonce,
                                                 s->receiver_nonce_len);
    *p = OSSL_PARAM_construct_end();

    if ((kctx = EVP_KDF_CTX_new(kdf)) != NULL)
        ok = EVP_KDF_derive(kctx, out, out_len, params) > 0;
    if (!ok)
        OPENSSL_cleanse(out, out_len);
    EVP_KDF_CTX_free(kctx);
    return ok;
}

int m2msec_session_key_derive(OSSL_LIB_CTX *libctx, const m2msec_session_key_spec *s,
                              unsigned char *out, size_t out_len)
{
    EVP_KDF *kdf = EVP_KDF_fetch(libctx, "M2M-SESSION-KDF", NULL);
    int ok = kdf != NULL && m2m_session_key_derive_with(kdf, s, out, out_len);

    if (!ok && out != NULL)
        OPENSSL_cleanse(out, out_len);
    EVP_KDF_free(kdf);
    return ok;
}
