/* SPDX-License-Identifier: Apache-2.0 */
/*
 * m2msec provider: entry point, algorithm tables and provider parameters.
 */
#include <string.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/params.h>
#include <openssl/provider.h>

#include "cipher_record.h"
#include "errors.h"
#include "fork_guard.h"
#include "key_registry.h"
#include "m2msec/names.h"
#include "module_mac.h"
#include "hmac.h"
#include "prov.h"

#ifndef M2M_VERSION
#define M2M_VERSION "0.0.0"
#endif

/* Every function of the dispatch table, declared with OpenSSL's own type. */
static OSSL_FUNC_provider_teardown_fn m2m_teardown;
static OSSL_FUNC_provider_gettable_params_fn m2m_gettable_params;
static OSSL_FUNC_provider_get_params_fn m2m_get_params;
static OSSL_FUNC_provider_query_operation_fn m2m_query;
static OSSL_FUNC_provider_get_reason_strings_fn m2m_get_reason_strings;

static const OSSL_ALGORITHM m2m_kdfs[] = {
    {M2MSEC_KDF_SESSION, "provider=m2msec", m2m_session_kdf_functions,
     "HKDF session keys bound to M2M identities, epoch and lifetime"},
    {M2MSEC_KDF_ONEM2M, "provider=m2msec", m2m_onem2m_kdf_functions,
     "oneM2M TS-0003 clause 10.3 key derivations"},
    {M2MSEC_KDF_OSCORE, "provider=m2msec", m2m_oscore_kdf_functions,
     "RFC 8613 section 3.2 OSCORE key and IV derivation"},
    {NULL, NULL, NULL, NULL},
};

static const OSSL_ALGORITHM m2m_ciphers[] = {
    {M2MSEC_REC_AES_128_GCM, "provider=m2msec", m2m_rec_aes128gcm_functions,
     "replay-checked AES-128-GCM records"},
    {M2MSEC_REC_AES_256_GCM, "provider=m2msec", m2m_rec_aes256gcm_functions,
     "replay-checked AES-256-GCM records"},
    {M2MSEC_REC_CHACHA20_POLY1305, "provider=m2msec", m2m_rec_chacha20poly1305_functions,
     "replay-checked ChaCha20-Poly1305 records"},
    {M2MSEC_REC_AES_128_CCM, "provider=m2msec", m2m_rec_aes128ccm_functions,
     "replay-checked AES-128-CCM records (16- or 8-byte tag)"},
    {M2MSEC_RECAAD_AES_128_GCM, "provider=m2msec", m2m_rec_aad_aes128gcm_functions,
     "M2M-REC-AES-128-GCM records, epoch and seq read from the AAD, state per key"},
    {M2MSEC_RECAAD_AES_256_GCM, "provider=m2msec", m2m_rec_aad_aes256gcm_functions,
     "M2M-REC-AES-256-GCM records, epoch and seq read from the AAD, state per key"},
    {M2MSEC_RECAAD_CHACHA20_POLY1305, "provider=m2msec", m2m_rec_aad_chacha20poly1305_functions,
     "M2M-REC-CHACHA20-POLY1305 records, epoch and seq read from the AAD, state per key"},
    {NULL, NULL, NULL, NULL},
};

static const OSSL_PARAM *m2m_gettable_params(void *provctx)
{
    static const OSSL_PARAM table[] = {
        OSSL_PARAM_utf8_ptr(OSSL_PROV_PARAM_NAME, NULL, 0),
        OSSL_PARAM_utf8_ptr(OSSL_PROV_PARAM_VERSION, NULL, 0),
        OSSL_PARAM_utf8_ptr(OSSL_PROV_PARAM_BUILDINFO, NULL, 0),
        OSSL_PARAM_int(OSSL_PROV_PARAM_STATUS, NULL),
        OSSL_PARAM_END,
    };
    (void)provctx;
    return table;
}

static int m2m_get_params(void *provctx, OSSL_PARAM params[])
{
    const M2M_PROVCTX *pc = provctx;
    OSSL_PARAM *p;

    p = OSSL_PARAM_locate(params, OSSL_PROV_PARAM_NAME);
    if (p != NULL && !OSSL_PARAM_set_utf8_ptr(p, "m2msec: M2M security countermeasures"))
        return 0;
    p = OSSL_PARAM_locate(params, OSSL_PROV_PARAM_VERSION);
    if (p != NULL && !OSSL_PARAM_set_utf8_ptr(p, M2M_VERSION))
        return 0;
    p = OSSL_PARAM_locate(params, OSSL_PROV_PARAM_BUILDINFO);
    if (p != NULL &&
        !OSSL_PARAM_set_utf8_ptr(p, "m2msec " M2M_VERSION " for " OPENSSL_VERSION_TEXT))
        return 0;
    p = OSSL_PARAM_locate(params, OSSL_PROV_PARAM_STATUS);
    if (p != NULL && !OSSL_PARAM_set_int(p, pc == NULL || !pc->module_failed))
        return 0;
    return 1;
}

static const OSSL_ALGORITHM *m2m_query(void *provctx, int operation_id, int *no_cache)
{
    (void)provctx;
    *no_cache = 0;
    switch (operation_id) {
    case OSSL_OP_KDF:
        return m2m_kdfs;
    case OSSL_OP_CIPHER:
        return m2m_ciphers;
    default:
        return NULL;
    }
}

static const OSSL_ITEM *m2m_get_reason_strings(void *provctx)
{
    (void)provctx;
    return m2m_reason_strings();
}

int m2m_prov_usable(const M2M_PROVCTX *pc)
{
    if (!pc->module_failed)
        return 1;
    M2M_RAISE(M2MSEC_R_MODULE_INTEGRITY,
              "module integrity check failed: m2msec.so does not match the module-mac recorded "
              "by m2msec provider-install; every operation is refused");
    return 0;
}

/*
 * The FIPS-style self-check: when the config section carries module-mac
 * (written by m2msec provider-install), re-hash our own module file.
 */
static void m2m_self_check(M2M_PROVCTX *pc, OSSL_FUNC_core_get_params_fn *get_params)
{
    char *filename = NULL, *expected = NULL;
    unsigned char mac[M2M_MODULE_MAC_LEN], *want = NULL;
    long wantlen = 0;
    OSSL_PARAM p[3];

    if (get_params == NULL)
        return;
    p[0] = OSSL_PARAM_construct_utf8_ptr(OSSL_PROV_PARAM_CORE_MODULE_FILENAME, &filename, 0);
    p[1] = OSSL_PARAM_construct_utf8_ptr("module-mac", &expected, 0);
    p[2] = OSSL_PARAM_construct_end();
    if (!get_params(pc->handle, p) || expected == NULL)
        return; /* not installed with a MAC: no check */
    want = OPENSSL_hexstr2buf(expected, &wantlen);
    if (filename == NULL || want == NULL || wantlen != M2M_MODULE_MAC_LEN ||
        !m2m_module_mac(pc->hmac, filename, mac) ||
        CRYPTO_memcmp(mac, want, M2M_MODULE_MAC_LEN) != 0)
        pc->module_failed = 1;
    OPENSSL_free(want);
}

static void m2m_provctx_free(M2M_PROVCTX *pc)
{
    if (pc == NULL)
        return;
    m2m_policy_cleanup(&pc->policy);
    for (size_t i = 0; i < M2M_REC_NALGS; i++)
        EVP_CIPHER_free(pc->rec_inner[i]);
    for (size_t i = 0; i < sizeof(pc->hmac_md) / sizeof(pc->hmac_md[0]); i++)
        EVP_MD_free(pc->hmac_md[i]);
    EVP_MAC_free(pc->hmac);
    OSSL_PROVIDER_unload(pc->deflt);
    OSSL_LIB_CTX_free(pc->libctx);
    m2m_errors_release(pc->handle);
    OPENSSL_free(pc);
}

static void m2m_teardown(void *provctx)
{
    m2m_provctx_free(provctx);
}

static const OSSL_DISPATCH m2m_dispatch[] = {
    {OSSL_FUNC_PROVIDER_TEARDOWN, (void (*)(void))m2m_teardown},
    {OSSL_FUNC_PROVIDER_GETTABLE_PARAMS, (void (*)(void))m2m_gettable_params},
    {OSSL_FUNC_PROVIDER_GET_PARAMS, (void (*)(void))m2m_get_params},
    {OSSL_FUNC_PROVIDER_QUERY_OPERATION, (void (*)(void))m2m_query},
    {OSSL_FUNC_PROVIDER_GET_REASON_STRINGS, (void (*)(void))m2m_get_reason_strings},
    {0, NULL},
};

__attribute__((visibility("default"))) OSSL_provider_init_fn OSSL_provider_init;

int OSSL_provider_init(const OSSL_CORE_HANDLE *handle, const OSSL_DISPATCH *in,
                       const OSSL_DISPATCH **out, void **provctx)
{
    OSSL_FUNC_core_get_params_fn *c_get_params = NULL;
    const OSSL_DISPATCH *d;
    M2M_PROVCTX *pc;
    unsigned long err_before, err_last;

    if (!m2m_errors_init(handle, in))
        return 0;
    for (d = in; d->function_id != 0; d++)
        if (d->function_id == OSSL_FUNC_CORE_GET_PARAMS)
            c_get_params = OSSL_FUNC_core_get_params(d);

    pc = OPENSSL_zalloc(sizeof(*pc));
    if (pc == NULL) {
        M2M_RAISE(M2MSEC_R_MALLOC_FAILURE, "m2msec: out of memory at provider load");
        m2m_errors_release(handle);
        return 0;
    }
    pc->handle = handle;
    if (!m2m_policy_load(&pc->policy, handle, c_get_params))
        goto err;

    /*
     * Our own fetches (HMAC, digests) go through a child library context,
     * never the application's. Loading "default" into the child makes them
     * work whether or not the application activated default itself.
     */
    err_before = ERR_peek_last_error();
    pc->libctx = OSSL_LIB_CTX_new_child(handle, in);
    if (pc->libctx == NULL ||
        (pc->deflt = OSSL_PROVIDER_try_load(pc->libctx, "default", 1)) == NULL) {
        M2M_RAISE(M2MSEC_R_FETCH_FAILED, "m2msec: cannot create child library context");
        goto err;
    }
    pc->hmac = EVP_MAC_fetch(pc->libctx, "HMAC", NULL);
    if (pc->hmac == NULL) {
        M2M_RAISE(M2MSEC_R_FETCH_FAILED, "m2msec: cannot fetch HMAC");
        goto err;
    }
    if (!m2m_hmac_templates(pc))
        goto err;
    for (size_t i = 0; i < M2M_REC_NALGS; i++) {
        pc->rec_inner[i] = EVP_CIPHER_fetch(pc->libctx, m2m_rec_algs[i].inner, "provider!=m2msec");
        if (pc->rec_inner[i] == NULL) {
            M2M_RAISE(M2MSEC_R_FETCH_FAILED, "m2msec: cannot fetch %s", m2m_rec_algs[i].inner);
            goto err;
        }
    }
    if (!m2m_rec_inner_setup(pc))
        goto err;
    /*
     * Fail closed when libcrypto ran out of memory without reporting it as
     * a failure (OpenSSL 3.0: an allocation inside a fetch that still
     * returned a method, which queues a malloc failure): a provider that
     * says it loaded would then be dropped by the core without its teardown
     * if the core's own next allocation failed (found by
     * tests/hardening/test_alloc_fail.c). Only a malloc failure counts, so
     * that an error some OpenSSL version queues on a successful load never
     * stops the provider from loading.
     */
    err_last = ERR_peek_last_error();
    if (err_last != err_before && ERR_GET_REASON(err_last) == ERR_R_MALLOC_FAILURE) {
        M2M_RAISE(M2MSEC_R_FETCH_FAILED, "m2msec: libcrypto failed while the provider loaded");
        goto err;
    }
    m2m_self_check(pc, c_get_params);
    /* Process-wide, set up once whatever the number of instances (key_registry.h). */
    if (!m2m_key_registry_init() || !m2m_fork_guard_init())
        goto err;
    *out = m2m_dispatch;
    *provctx = pc;
    return 1;
err:
    m2m_provctx_free(pc);
    return 0;
}
