/* SPDX-License-Identifier: Apache-2.0 */
/* libm2msec: M2M-SESSION-KDF through EVP_KDF. */
#include <stdatomic.h>
#include <string.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include "kdf_internal.h"
#include "m2msec/m2msec.h"
#include "m2msec/names.h"

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

/*
 * The M2M-SESSION-KDF fetched from OpenSSL's global default library context,
 * kept for the life of the process (issue 13: a fetch costs about a fifth
 * of a derivation): the first successful fetch is published with a
 * compare-and-swap, so concurrent first calls agree on one and free the
 * others. Like a method an SSL_CTX holds, it keeps the provider it came
 * from (as it was at that fetch) for the life of the process. It is freed
 * by an OPENSSL_atexit() handler, which OPENSSL_cleanup() runs before it
 * tears the default context and its providers down; libm2msec is linked
 * -z nodelete so that the handler outlives a dlclose(). Only the global
 * default context is cached: it lives until OPENSSL_cleanup(), while any
 * other context may be freed (and its address reused) at any time, so a
 * derivation in one fetches and frees the KDF every time.
 */
static _Atomic(EVP_KDF *) global_kdf;
static CRYPTO_ONCE atexit_once = CRYPTO_ONCE_STATIC_INIT;
static int atexit_ok;

static void global_kdf_free(void)
{
    EVP_KDF_free(atomic_exchange(&global_kdf, NULL));
}

static void atexit_register(void)
{
    atexit_ok = OPENSSL_atexit(global_kdf_free);
}

/* The KDF for libctx; *owned: the caller frees it (not the cached one). */
static EVP_KDF *session_kdf(OSSL_LIB_CTX *libctx, int *owned)
{
    /* NULL means the calling thread's default, which OSSL_LIB_CTX_set0_default() may change. */
    OSSL_LIB_CTX *real = libctx != NULL ? libctx : OSSL_LIB_CTX_set0_default(NULL);
    EVP_KDF *kdf, *none = NULL;

    *owned = 1;
    if (real == NULL || real != OSSL_LIB_CTX_get0_global_default())
        return EVP_KDF_fetch(libctx, M2MSEC_KDF_SESSION, NULL);
    if ((kdf = atomic_load_explicit(&global_kdf, memory_order_acquire)) != NULL) {
        *owned = 0;
        return kdf;
    }
    if ((kdf = EVP_KDF_fetch(libctx, M2MSEC_KDF_SESSION, NULL)) == NULL)
        return NULL;
    if (!CRYPTO_THREAD_run_once(&atexit_once, atexit_register) || !atexit_ok)
        return kdf; /* cannot free it at exit: not cached */
    if (atomic_compare_exchange_strong(&global_kdf, &none, kdf)) {
        *owned = 0;
        return kdf;
    }
    EVP_KDF_free(kdf); /* another thread published one first */
    *owned = 0;
    return none;
}

int m2msec_session_key_derive(OSSL_LIB_CTX *libctx, const m2msec_session_key_spec *s,
                              unsigned char *out, size_t out_len)
{
    int owned = 1;
    EVP_KDF *kdf = session_kdf(libctx, &owned);
    int ok = kdf != NULL && m2m_session_key_derive_with(kdf, s, out, out_len);

    if (!ok && out != NULL)
        OPENSSL_cleanse(out, out_len);
    if (owned)
        EVP_KDF_free(kdf);
    return ok;
}
