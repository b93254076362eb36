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

/* Provider context: read-only after OSSL_provider_init, shared by threads. */
typedef struct m2m_provctx_st {
    const OSSL_CORE_HANDLE *handle;
    OSSL_LIB_CTX *libctx; /* child library context for our own fetches */
    OSSL_PROVIDER *deflt; /* default provider loaded into libctx */
    EVP_MAC *hmac;        /* fetched once from libctx */
    /*
     * One unkeyed HMAC context per m2m_md (hmac.h) with its digest already
     * fetched and set: a KDF context duplicates it instead of creating an
     * HMAC context and fetching the digest again (issue 13). Never used
     * directly, so threads may duplicate them at the same time.
     */
    EVP_MAC_CTX *hmac_md[3];
    EVP_CIPHER *rec_inner[4]; /* AEADs behind the M2M-REC ciphers (cipher_record.c) */
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
