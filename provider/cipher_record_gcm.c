/* SPDX-License-Identifier: Apache-2.0 */
/*
 * M2M-REC record ciphers: the GCM-like family (AES-128-GCM, AES-256-GCM,
 * ChaCha20-Poly1305). Their inner cipher takes AAD and data in pieces, as
 * they come, and the tag to verify at final.
 *
 * The record's epoch || seq prefix waits in the context while the record
 * is REC_BEGUN and goes to the inner cipher together with the first AAD,
 * when that is short, in one update: one GHASH or Poly1305 call fewer per
 * record. Data or final without AAD send it alone.
 */
#include <string.h>
#include <openssl/evp.h>

#include "cipher_record_local.h"

#define PREFIX_MERGE_MAX 64 /* AAD up to this size travels with the prefix */

/* The pending prefix, with aad if it is short (at most PREFIX_MERGE_MAX bytes). */
static m2m_rec_result flush_prefix(M2M_REC_CTX *c, const unsigned char *aad, size_t aadlen)
{
    unsigned char buf[REC_PREFIX + PREFIX_MERGE_MAX];
    int n;

    memcpy(buf, c->prefix, REC_PREFIX);
    if (aadlen > 0)
        memcpy(buf + REC_PREFIX, aad, aadlen);
    if (!m2m_rec_inner_update(c, NULL, &n, buf, REC_PREFIX + aadlen))
        return M2M_REC_FAIL(c, "AAD update failed");
    return REC_OK;
}

static m2m_rec_result gcm_aad(M2M_REC_CTX *c, const unsigned char *aad, size_t len)
{
    int n;

    if (c->state == REC_BEGUN) {
        if (len <= PREFIX_MERGE_MAX)
            return flush_prefix(c, aad, len);
        if (flush_prefix(c, NULL, 0) != REC_OK)
            return REC_FAILED;
    }
    if (len > 0 && !m2m_rec_inner_update(c, NULL, &n, aad, len))
        return M2M_REC_FAIL(c, "AAD update failed");
    return REC_OK;
}

static m2m_rec_result gcm_data(M2M_REC_CTX *c, unsigned char *out, int *outl,
                               const unsigned char *in, size_t len)
{
    if (c->state == REC_BEGUN && flush_prefix(c, NULL, 0) != REC_OK)
        return REC_FAILED;
    if (!m2m_rec_inner_update(c, out, outl, in, len))
        return M2M_REC_FAIL(c, "record data update failed");
    return REC_OK;
}

/* Final without data: the prefix, if no AAD came either. */
static m2m_rec_result gcm_finish(M2M_REC_CTX *c)
{
    return c->state == REC_BEGUN ? flush_prefix(c, NULL, 0) : REC_OK;
}

const M2M_REC_OPS m2m_rec_gcm_ops = {
    .key = NULL,    /* the inner defaults: 12-byte nonce, 16-byte tag */
    .begin = NULL,  /* the prefix waits in the context */
    .msglen = NULL, /* no length call: zero-length updates do nothing */
    .aad = gcm_aad,
    .data_ok = NULL, /* data in any number of pieces */
    .data = gcm_data,
    .finish = gcm_finish,
    .tag_at_begin = 0,
};
