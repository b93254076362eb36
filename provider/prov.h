/* SPDX-License-Identifier: Apache-2.0 */
/*
 * m2msec provider: shared internal declarations.
 *
 * Everything here is internal to m2msec.so; only OSSL_provider_init is
 * exported (see provider.map).
 */
#ifndef M2M_PROV_H
#define M2M_PROV_H

#include <stddef.h>
#include <stdint.h>
#include <openssl/core.h>
#include <openssl/core_dispatch.h>
#include <openssl/evp.h>

#include "policy.h"

#define M2M_PROV_NAME "m2msec"

/*
 * The functions of the inner AEAD behind an M2M-REC cipher, taken from its
 * provider's dispatch table at load (m2m_rec_inner_setup), so that a record
 * calls the AEAD directly rather than through a second EVP layer (issue 13).
 */
typedef struct m2m_rec_inner_st {
    void *provctx; /* the inner provider's context */
    OSSL_FUNC_cipher_newctx_fn *newctx;
    OSSL_FUNC_cipher_freectx_fn *freectx;
    OSSL_FUNC_cipher_encrypt_init_fn *einit;
    OSSL_FUNC_cipher_decrypt_init_fn *dinit;
    OSSL_FUNC_cipher_update_fn *update;
    OSSL_FUNC_cipher_final_fn *final;
    OSSL_FUNC_cipher_get_ctx_params_fn *get_ctx_params;
    OSSL_FUNC_cipher_set_ctx_params_fn *set_ctx_params;
} M2M_REC_INNER;

/* Provider context: read-only after OSSL_provider_init, shared by threads. */
typedef struct m2m_provctx_st {
    const OSSL_CORE_HANDLE *handle;
    OSSL_LIB_CTX *libctx; /* child library context for our own fetches */
    OSSL_PROVIDER *deflt; /* default provider loaded into libctx */
    EVP_MAC *hmac;        /* fetched once from libctx */
    /*
     * The digest of each m2m_md (hmac.h), fetched once: the KDFs' HMAC
     * runs on a digest context of its own with these, and fetches nothing
     * per KDF context (issue 13).
     */
    EVP_MD *hmac_md[3];
    EVP_CIPHER *rec_inner[4]; /* AEADs behind the M2M-REC ciphers (cipher_record.c) */
    M2M_REC_INNER rec_fn[4];  /* their functions, called directly; valid while rec_inner is held */
    M2M_POLICY policy;
    int module_failed; /* the module self-check failed: every operation refuses */
} M2M_PROVCTX;

/*
 * May an algorithm context be created? 0 (with "module integrity check
 * failed" raised) once the module self-check has failed.
 */
int m2m_prov_usable(const M2M_PROVCTX *pc);

extern const OSSL_DISPATCH m2m_session_kdf_functions[];
extern const OSSL_DISPATCH m2m_onem2m_kdf_functions[];
extern const OSSL_DISPATCH m2m_oscore_kdf_functions[];

#endif
