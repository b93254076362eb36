/* SPDX-License-Identifier: Apache-2.0 */
/*
 * M2M-REC record ciphers: the CCM family (AES-128-CCM, with a 16- or
 * 8-byte tag). CCM's MAC runs over the data length, then the AAD, then the
 * data, and it verifies as it decrypts; so its inner cipher takes a record
 * in one go, and this file is where the record waits for that:
 *
 *  - the AAD (the epoch || seq prefix first) is buffered in the context
 *    from the record's start until its data comes;
 *  - the data comes in one update; the inner cipher then gets the length,
 *    the buffered AAD and the data. An application may announce the length
 *    before (EVP_CipherUpdate(ctx, NULL, &outl, NULL, len)); data of
 *    another length abandons the record;
 *  - decrypting, the tag goes to the inner cipher as the record begins, so
 *    it must be set before the record's first update; a forged record
 *    fails at its data update, whose output is then wiped;
 *  - the 12-byte nonce leaves L = 3: at most 2^24 - 1 bytes per record.
 */
#include <limits.h>
#include <string.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "cipher_record_local.h"

#define CCM_MAXLEN 0xFFFFFFu /* 12-byte nonce: L = 3 */

/* Before the key: the inner CCM's nonce length (12) and tag length (16 or 8). */
static m2m_rec_result ccm_key(M2M_REC_CTX *c)
{
    OSSL_PARAM p[3];
    size_t ivl = REC_IVLEN;

    m2m_param_fill(&p[0], OSSL_CIPHER_PARAM_AEAD_IVLEN, OSSL_PARAM_UNSIGNED_INTEGER, &ivl,
                   sizeof(ivl));
    m2m_param_fill(&p[1], OSSL_CIPHER_PARAM_AEAD_TAG, OSSL_PARAM_OCTET_STRING, NULL, c->taglen);
    m2m_param_end(&p[2]);
    if (!c->fn->set_ctx_params(c->inner, p)) {
        M2M_RAISE(M2MSEC_R_CRYPTO_FAILED, "cannot set CCM nonce and tag lengths");
        return REC_FAILED;
    }
    return REC_OK;
}

/* Room for `more` bytes of AAD in the buffer (wiped when it moves or is freed). */
static m2m_rec_result aad_reserve(M2M_REC_CTX *c, size_t more)
{
    size_t need = c->ccm.aadlen + more;

    if (need < c->ccm.aadlen) {
        M2M_RAISE(M2MSEC_R_FIELD_TOO_LONG, "AAD too long");
        return REC_FAILED;
    }
    if (need > c->ccm.aadcap) {
        size_t ncap = need < 64 ? 64 : need * 2;
        unsigned char *n = OPENSSL_clear_realloc(c->ccm.aad, c->ccm.aadcap, ncap);

        if (n == NULL) {
            M2M_RAISE(M2MSEC_R_MALLOC_FAILURE, "out of memory buffering AAD");
            return REC_FAILED;
        }
        c->ccm.aad = n;
        c->ccm.aadcap = ncap;
    }
    return REC_OK;
}

/* Decrypting, the tag to verify; the AAD buffer, holding epoch || seq. */
static m2m_rec_result ccm_begin(M2M_REC_CTX *c)
{
    m2m_rec_result r;

    if (!c->enc) {
        if (!c->tag_set) {
            M2M_RAISE(M2MSEC_R_BAD_STATE,
                      "%s: set the tag before the record's first update (CCM "
                      "verifies as it decrypts)",
                      c->alg->name);
            return REC_FAILED;
        }
        if (!m2m_rec_inner_tag(c, 1))
            return m2m_rec_start_failed(c);
    }
    c->ccm.msglen = M2M_REC_CCM_NO_LEN;
    c->ccm.aadlen = 0;
    if ((r = aad_reserve(c, REC_PREFIX)) != REC_OK)
        return r;
    memcpy(c->ccm.aad, c->prefix, REC_PREFIX);
    c->ccm.aadlen = REC_PREFIX;
    return REC_OK;
}

/* EVP_CipherUpdate(ctx, NULL, &outl, NULL, len): the length of the data to come. */
static m2m_rec_result ccm_msglen(M2M_REC_CTX *c, size_t len)
{
    if (c->state == REC_DATA) {
        M2M_RAISE(M2MSEC_R_BAD_STATE, "%s: announce the message length before the record data",
                  c->alg->name);
        return REC_REFUSED;
    }
    if (len > CCM_MAXLEN) {
        M2M_RAISE(M2MSEC_R_INVALID_PARAMETER,
                  "%s: a record holds at most %u bytes (12-byte nonce), not %zu", c->alg->name,
                  CCM_MAXLEN, len);
        return REC_REFUSED;
    }
    c->ccm.msglen = len;
    return REC_OK;
}

static m2m_rec_result ccm_aad(M2M_REC_CTX *c, const unsigned char *aad, size_t len)
{
    m2m_rec_result r = aad_reserve(c, len);

    if (r != REC_OK)
        return r;
    if (len > 0)
        memcpy(c->ccm.aad + c->ccm.aadlen, aad, len);
    c->ccm.aadlen += len;
    return REC_OK;
}

static m2m_rec_result ccm_data_ok(const M2M_REC_CTX *c, size_t len)
{
    if (c->state == REC_DATA) {
        M2M_RAISE(M2MSEC_R_BAD_STATE, "%s: give the record data in one update call", c->alg->name);
        return REC_REFUSED;
    }
    if (c->ccm.msglen != M2M_REC_CCM_NO_LEN && len != c->ccm.msglen) {
        M2M_RAISE(M2MSEC_R_INVALID_PARAMETER,
                  "%s: %zu bytes of data for a record announced as %zu bytes; the record is "
                  "abandoned",
                  c->alg->name, len, c->ccm.msglen);
        return REC_FAILED;
    }
    return REC_OK;
}

/*
 * The whole record to the inner CCM: length, AAD, data. 1 done; 0 the data
 * update failed (decrypting: the tag did not verify); -1 an earlier step.
 */
static int ccm_run(M2M_REC_CTX *c, unsigned char *out, int *outl, const unsigned char *in,
                   size_t len)
{
    static const unsigned char none[1];
    unsigned char sink[1];
    int n;

    if (len > INT_MAX || c->ccm.aadlen > INT_MAX || !m2m_rec_inner_update(c, NULL, &n, NULL, len) ||
        !m2m_rec_inner_update(c, NULL, &n, c->ccm.aad, c->ccm.aadlen))
        return -1;
    /* CCM takes a zero-length update; in and out must not be NULL. */
    return m2m_rec_inner_update(c, len == 0 ? sink : out, outl, len == 0 ? none : in, len) ? 1 : 0;
}

static m2m_rec_result ccm_data(M2M_REC_CTX *c, unsigned char *out, int *outl,
                               const unsigned char *in, size_t len)
{
    int r = ccm_run(c, out, outl, in, len);

    if (r == 1)
        return REC_OK;
    if (r == 0 && !c->enc) {
        OPENSSL_cleanse(out, len); /* no plaintext of a forged record */
        return REC_FORGED;
    }
    return M2M_REC_FAIL(c, "record data update failed");
}

/* A record without data (none announced, or 0 bytes): the inner CCM gets it at final. */
static m2m_rec_result ccm_finish(M2M_REC_CTX *c)
{
    unsigned char sink[1];
    int n = 0, r;

    if (c->ccm.msglen != M2M_REC_CCM_NO_LEN && c->ccm.msglen != 0) {
        M2M_RAISE(M2MSEC_R_INVALID_PARAMETER,
                  "%s: final without the %zu bytes of data the record was announced with; "
                  "the record is abandoned",
                  c->alg->name, c->ccm.msglen);
        return REC_FAILED;
    }
    r = ccm_run(c, sink, &n, NULL, 0);
    if (r == 1)
        return REC_OK;
    if (r == 0 && !c->enc)
        return REC_FORGED;
    return M2M_REC_FAIL(c, "empty record failed");
}

const M2M_REC_OPS m2m_rec_ccm_ops = {
    .key = ccm_key,
    .begin = ccm_begin,
    .msglen = ccm_msglen,
    .aad = ccm_aad,
    .data_ok = ccm_data_ok,
    .data = ccm_data,
    .finish = ccm_finish,
    .tag_at_begin = 1,
};
