/* SPDX-License-Identifier: Apache-2.0 */
/* m2msec provider: reusable HMAC (RFC 2104) over the provider's fetched digests. */
#include <string.h>
#include <strings.h>
#include <openssl/crypto.h>
#include <openssl/core_names.h>
#include <openssl/params.h>

#include "errors.h"
#include "hmac.h"

static const struct {
    const char *names[4];
    const char *canonical;
    size_t size, block;
} md_table[] = {
    [M2M_MD_SHA256] = {{"SHA2-256", "SHA-256", "SHA256", NULL}, "SHA2-256", 32, 64},
    [M2M_MD_SHA384] = {{"SHA2-384", "SHA-384", "SHA384", NULL}, "SHA2-384", 48, 128},
    [M2M_MD_SHA512] = {{"SHA2-512", "SHA-512", "SHA512", NULL}, "SHA2-512", 64, 128},
};

int m2m_md_from_name(const char *name)
{
    for (size_t i = 0; i < sizeof(md_table) / sizeof(md_table[0]); i++)
        for (size_t j = 0; md_table[i].names[j] != NULL; j++)
            if (strcasecmp(name, md_table[i].names[j]) == 0)
                return (int)i;
    return -1;
}

const char *m2m_md_name(m2m_md md)
{
    return md_table[md].canonical;
}

size_t m2m_md_size(m2m_md md)
{
    return md_table[md].size;
}

int m2m_hmac_templates(M2M_PROVCTX *pc)
{
    for (size_t md = 0; md < sizeof(md_table) / sizeof(md_table[0]); md++) {
        pc->hmac_md[md] = EVP_MD_fetch(pc->libctx, md_table[md].canonical, NULL);
        if (pc->hmac_md[md] == NULL ||
            (size_t)EVP_MD_get_size(pc->hmac_md[md]) != md_table[md].size ||
            (size_t)EVP_MD_get_block_size(pc->hmac_md[md]) != md_table[md].block) {
            M2M_RAISE(M2MSEC_R_FETCH_FAILED, "m2msec: cannot set up HMAC-%s",
                      md_table[md].canonical);
            return 0;
        }
    }
    return 1;
}

/*
 * HMAC (RFC 2104) over one digest context:
 *   HMAC(K, m) = H((K0 ^ opad) || H((K0 ^ ipad) || m))
 * where K0 is K padded with zeros to the digest's block size, or H(K)
 * padded if K is longer than a block. Init hashes K0 ^ ipad; final ends
 * the inner hash and computes the outer one on the same context, with
 * K0 ^ opad kept (wiped at final and cleanup) in between.
 */
int m2m_hmac_init(M2M_HMAC *h, const M2M_PROVCTX *pc, m2m_md md, const unsigned char *key,
                  size_t keylen)
{
    const EVP_MD *d = pc->hmac_md[md];
    size_t bs = md_table[md].block;
    unsigned char k0[M2M_MAX_MD_BLOCK], ipad[M2M_MAX_MD_BLOCK];
    int ok = 0;

    h->keyed = 0;
    if (h->ctx == NULL && (h->ctx = EVP_MD_CTX_new()) == NULL) {
        M2M_RAISE(M2MSEC_R_MALLOC_FAILURE, "cannot create HMAC-%s context", md_table[md].canonical);
        return 0;
    }
    memset(k0, 0, sizeof(k0));
    if (keylen > bs) {
        if (!EVP_DigestInit_ex2(h->ctx, d, NULL) || !EVP_DigestUpdate(h->ctx, key, keylen) ||
            !EVP_DigestFinal_ex(h->ctx, k0, NULL))
            goto end;
    } else if (keylen > 0) {
        memcpy(k0, key, keylen);
    }
    for (size_t i = 0; i < bs; i++) {
        ipad[i] = k0[i] ^ 0x36;
        h->opad[i] = k0[i] ^ 0x5c;
    }
    if (!EVP_DigestInit_ex2(h->ctx, d, NULL) || !EVP_DigestUpdate(h->ctx, ipad, bs))
        goto end;
    h->md = (int)md;
    h->keyed = 1;
    ok = 1;
end:
    OPENSSL_cleanse(k0, sizeof(k0));
    OPENSSL_cleanse(ipad, sizeof(ipad));
    if (!ok) {
        OPENSSL_cleanse(h->opad, sizeof(h->opad));
        M2M_RAISE(M2MSEC_R_CRYPTO_FAILED, "HMAC-%s key setup failed", md_table[md].canonical);
    }
    return ok;
}

int m2m_hmac_update(M2M_HMAC *h, const unsigned char *data, size_t len)
{
    if (len == 0)
        return 1;
    if (!h->keyed || !EVP_DigestUpdate(h->ctx, data, len)) {
        M2M_RAISE(M2MSEC_R_CRYPTO_FAILED, "HMAC update failed");
        return 0;
    }
    return 1;
}

int m2m_hmac_final(M2M_HMAC *h, unsigned char *out)
{
    unsigned char inner[M2M_MAX_MD_SIZE];
    int ok = h->keyed;

    if (ok) {
        const EVP_MD *d = EVP_MD_CTX_get0_md(h->ctx);
        size_t n = md_table[h->md].size, bs = md_table[h->md].block;

        ok = EVP_DigestFinal_ex(h->ctx, inner, NULL) && EVP_DigestInit_ex2(h->ctx, d, NULL) &&
             EVP_DigestUpdate(h->ctx, h->opad, bs) && EVP_DigestUpdate(h->ctx, inner, n) &&
             EVP_DigestFinal_ex(h->ctx, out, NULL);
    }
    OPENSSL_cleanse(inner, sizeof(inner));
    OPENSSL_cleanse(h->opad, sizeof(h->opad));
    h->keyed = 0;
    if (!ok) {
        M2M_RAISE(M2MSEC_R_CRYPTO_FAILED, "HMAC final failed");
        return 0;
    }
    return 1;
}

int m2m_hmac_dup(M2M_HMAC *dst, const M2M_HMAC *src)
{
    memset(dst, 0, sizeof(*dst));
    dst->md = -1;
    if (src->ctx == NULL || EVP_MD_CTX_get0_md(src->ctx) == NULL) /* nothing to copy yet */
        return 1;
    if ((dst->ctx = EVP_MD_CTX_new()) == NULL || !EVP_MD_CTX_copy_ex(dst->ctx, src->ctx)) {
        EVP_MD_CTX_free(dst->ctx);
        dst->ctx = NULL;
        return 0;
    }
    dst->md = src->md;
    dst->keyed = src->keyed;
    memcpy(dst->opad, src->opad, sizeof(dst->opad));
    return 1;
}

void m2m_hmac_cleanup(M2M_HMAC *h)
{
    /* EVP_MD_CTX_free wipes the digest state (it may hold a keyed inner hash). */
    EVP_MD_CTX_free(h->ctx);
    OPENSSL_cleanse(h->opad, sizeof(h->opad));
    h->ctx = NULL;
    h->md = -1;
    h->keyed = 0;
}
