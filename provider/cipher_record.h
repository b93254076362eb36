/* SPDX-License-Identifier: Apache-2.0 */
/* m2msec provider: M2M-REC-* record ciphers (see cipher_record.c). */
#ifndef M2M_CIPHER_RECORD_H
#define M2M_CIPHER_RECORD_H

#include <stddef.h>
#include <stdint.h>
#include <openssl/core_dispatch.h>

#include "m2msec/record.h"

#define M2M_REC_NALGS 4

/* How a family of AEADs is driven (cipher_record_local.h). */
struct m2m_rec_ops_st;

typedef struct m2m_rec_alg_st {
    const char *name;                 /* provider name (include/m2msec/names.h) */
    const char *inner;                /* OpenSSL cipher doing the AEAD work */
    const struct m2m_rec_ops_st *ops; /* its family: GCM-like or CCM */
    unsigned int mode;                /* reported as OSSL_CIPHER_PARAM_MODE */
    size_t keylen;
    uint64_t max_records, max_bytes, max_failures; /* per-key defaults */
    /*
     * A shorter tag the cipher also takes (AES-128-CCM: 8 bytes; 0: none),
     * its label in allowed_aeads, its name in errors and its own
     * failed-decryption budget.
     */
    size_t short_taglen;
    const char *short_label;
    const char *short_what;
    uint64_t short_max_failures;
    /*
     * M2M-RECAAD (docs/PROTOCOL.md 5.7): the M2M-REC cipher whose records,
     * limits, policy label and key fingerprints it shares; NULL for M2M-REC.
     */
    const struct m2m_rec_alg_st *base;
} M2M_REC_ALG;

extern const M2M_REC_ALG m2m_rec_algs[M2M_REC_NALGS];

#define M2M_RECAAD_NALGS 3
/* The M2M-RECAAD ciphers (cipher_record_aad.c): AES-128-GCM, AES-256-GCM, ChaCha20-Poly1305. */
extern const M2M_REC_ALG m2m_rec_aad_algs[M2M_RECAAD_NALGS];

/* The M2M-REC cipher an algorithm is or is built on. */
static inline const M2M_REC_ALG *m2m_rec_base(const M2M_REC_ALG *alg)
{
    return alg->base != NULL ? alg->base : alg;
}

struct m2m_provctx_st;
/*
 * At provider load, after pc->rec_inner[] is fetched: pc->rec_fn[], the
 * inner AEADs' functions from their providers' dispatch tables. 0 (raised)
 * if one cannot be found.
 */
int m2m_rec_inner_setup(struct m2m_provctx_st *pc);

extern const OSSL_DISPATCH m2m_rec_aes128gcm_functions[];
extern const OSSL_DISPATCH m2m_rec_aes256gcm_functions[];
extern const OSSL_DISPATCH m2m_rec_chacha20poly1305_functions[];
extern const OSSL_DISPATCH m2m_rec_aes128ccm_functions[];
extern const OSSL_DISPATCH m2m_rec_aad_aes128gcm_functions[];
extern const OSSL_DISPATCH m2m_rec_aad_aes256gcm_functions[];
extern const OSSL_DISPATCH m2m_rec_aad_chacha20poly1305_functions[];

#endif
