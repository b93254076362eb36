/* SPDX-License-Identifier: Apache-2.0 */
/* m2msec provider: reusable HMAC context over the provider's cached EVP_MAC. */
#include <strings.h>
#include <openssl/core_names.h>
#include <openssl/params.h>

#include "errors.h"
#include "hmac.h"

static const struct {
    const char *names[4];
    const char *canonical;
    size_t size;
} md_table[] = {
    [M2M_MD_SHA256] = {{"SHA2-256", "SHA-256", "SHA256", NULL}, "SHA2-256", 32},
    [M2M_MD_SHA384] = {{"SHA2-384", "SHA-384", "SHA384", NULL}, "SHA2-384", 48},
    [M2M_MD_SHA512] = {{"SHA2-512", "SHA-512", "SHA512", NULL}, "SHA2-512", 64},
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
        OSSL_PARAM p[2];

        p[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
                                                (char *)md_table[md].canonical, 0);
        p[1] = OSSL_PARAM_construct_end();
        if ((pc->hmac_md[md] = EVP_MAC_CTX_new(pc->hmac)) == NULL ||
            !EVP_MAC_CTX_set_params(pc->hmac_md[md], p)) {
            M2M_RAISE(M2MSEC_R_FETCH_FAILED, "m2msec: cannot set up HMAC-%s",
                      md_table[md].canonical);
            return 0;
        }
    }
    return 1;
}

int m2m_hmac_init(M2M_HMAC *h, const M2M_PROVCTX *pc, m2m_md md, const unsigned char *key,
                  size_t keylen)
{
    static const unsigned char empty[1] = {0};

    /*
     * A copy of the provider's template for this digest: no HMAC context
     * set up and no digest fetched per KDF context (the template is never
     * keyed, so the copy holds no secret of another context).
     */
    if (h->ctx == NULL || h->md != (int)md) {
        EVP_MAC_CTX_free(h->ctx);
        h->md = -1;
        if ((h->ctx = EVP_MAC_CTX_dup(pc->hmac_md[md])) == NULL) {
            M2M_RAISE(M2MSEC_R_MALLOC_FAILURE, "cannot create HMAC-%s context",
                      md_table[md].canonical);
            return 0;
        }
        h->md = (int)md;
    }
    /* An empty HMAC key is valid (RFC 2104 pads it with zeros); pass a real pointer. */
    if (!EVP_MAC_init(h->ctx, keylen == 0 ? empty : key, keylen, NULL)) {
        M2M_RAISE(M2MSEC_R_CRYPTO_FAILED, "HMAC-%s key setup failed", md_table[md].canonical);
        return 0;
    }
    return 1;
}

int m2m_hmac_update(M2M_HMAC *h, const unsigned char *data, size_t len)
{
    if (len == 0)
        return 1;
    if (!EVP_MAC_update(h->ctx, data, len)) {
        M2M_RAISE(M2MSEC_R_CRYPTO_FAILED, "HMAC update failed");
        return 0;
    }
    return 1;
}

int m2m_hmac_final(M2M_HMAC *h, unsigned char *out)
{
    size_t outl = 0;

    if (!EVP_MAC_final(h->ctx, out, &outl, M2M_MAX_MD_SIZE)) {
        M2M_RAISE(M2MSEC_R_CRYPTO_FAILED, "HMAC final failed");
        return 0;
    }
    return 1;
}

int m2m_hmac_dup(M2M_HMAC *dst, const M2M_HMAC *src)
{
    dst->ctx = NULL;
    dst->md = -1;
    if (src->ctx == NULL)
        return 1;
    dst->ctx = EVP_MAC_CTX_dup(src->ctx);
    if (dst->ctx == NULL)
        return 0;
    dst->md = src->md;
    return 1;
}

void m2m_hmac_cleanup(M2M_HMAC *h)
{
    /* EVP_MAC_CTX_free wipes the keyed HMAC state. */
    EVP_MAC_CTX_free(h->ctx);
    h->ctx = NULL;
    h->md = -1;
}
