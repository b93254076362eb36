/* SPDX-License-Identifier: Apache-2.0 */
/*
 * m2msec provider: a reusable HMAC context.
 *
 * One M2M_HMAC lives in each KDF context. The EVP_MAC is fetched once per
 * provider; the EVP_MAC_CTX is created on first use and the digest is set
 * only when it changes, so a derivation costs no fetch and no allocation.
 */
#ifndef M2M_HMAC_H
#define M2M_HMAC_H

#include <stddef.h>
#include <openssl/evp.h>

#include "prov.h"

/* The digests m2msec KDFs accept, and their output sizes. */
typedef enum { M2M_MD_SHA256 = 0, M2M_MD_SHA384, M2M_MD_SHA512 } m2m_md;

#define M2M_MAX_MD_SIZE 64

typedef struct m2m_hmac_st {
    EVP_MAC_CTX *ctx;
    int md; /* m2m_md currently set on ctx, or -1 */
} M2M_HMAC;

/* Map a digest name (SHA2-256, SHA-256, SHA256, ... any case) to m2m_md; -1 if unsupported. */
int m2m_md_from_name(const char *name);
const char *m2m_md_name(m2m_md md);
size_t m2m_md_size(m2m_md md);

/* At provider load: pc->hmac_md[], one digest-set HMAC context per m2m_md; 0 (raised) on failure.
 */
int m2m_hmac_templates(M2M_PROVCTX *pc);
/* Key the HMAC (the ctx duplicated from pc->hmac_md[md] when it has none or another digest). */
int m2m_hmac_init(M2M_HMAC *h, const M2M_PROVCTX *pc, m2m_md md, const unsigned char *key,
                  size_t keylen);
int m2m_hmac_update(M2M_HMAC *h, const unsigned char *data, size_t len);
/* Writes m2m_md_size(md) bytes. */
int m2m_hmac_final(M2M_HMAC *h, unsigned char *out);
int m2m_hmac_dup(M2M_HMAC *dst, const M2M_HMAC *src);
void m2m_hmac_cleanup(M2M_HMAC *h);

#endif
