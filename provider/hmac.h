/* SPDX-License-Identifier: Apache-2.0 */
/*
 * m2msec provider: a reusable HMAC context.
 *
 * One M2M_HMAC lives in each KDF context: RFC 2104 computed on one
 * EVP_MD_CTX, created on first use, with the digests the provider fetched
 * at load (pc->hmac_md[]). A fresh KDF context so costs one allocation for
 * its HMAC and no fetch; an EVP_MAC HMAC context (three digest contexts,
 * duplicated from a template and freed per derivation) cost about a fifth
 * of a fresh M2M-SESSION-KDF derivation (issue 13).
 */
#ifndef M2M_HMAC_H
#define M2M_HMAC_H

#include <stddef.h>
#include <openssl/evp.h>

#include "prov.h"

/* The digests m2msec KDFs accept, and their output sizes. */
typedef enum { M2M_MD_SHA256 = 0, M2M_MD_SHA384, M2M_MD_SHA512 } m2m_md;

#define M2M_MAX_MD_SIZE 64
#define M2M_MAX_MD_BLOCK 128

typedef struct m2m_hmac_st {
    EVP_MD_CTX *ctx;
    int md;    /* m2m_md of the last init, or -1 */
    int keyed; /* between init and final: ctx holds the inner hash, opad the outer key */
    unsigned char opad[M2M_MAX_MD_BLOCK]; /* K0 ^ opad while keyed (secret; wiped at final) */
} M2M_HMAC;

/* Map a digest name (SHA2-256, SHA-256, SHA256, ... any case) to m2m_md; -1 if unsupported. */
int m2m_md_from_name(const char *name);
const char *m2m_md_name(m2m_md md);
size_t m2m_md_size(m2m_md md);

/* At provider load: pc->hmac_md[], each m2m_md's digest fetched; 0 (raised) on failure. */
int m2m_hmac_templates(M2M_PROVCTX *pc);
/* Key the HMAC with digest md (the digest context is created on first use). */
int m2m_hmac_init(M2M_HMAC *h, const M2M_PROVCTX *pc, m2m_md md, const unsigned char *key,
                  size_t keylen);
int m2m_hmac_update(M2M_HMAC *h, const unsigned char *data, size_t len);
/* Writes m2m_md_size(md) bytes. */
int m2m_hmac_final(M2M_HMAC *h, unsigned char *out);
int m2m_hmac_dup(M2M_HMAC *dst, const M2M_HMAC *src);
void m2m_hmac_cleanup(M2M_HMAC *h);

#endif
