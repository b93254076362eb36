/* SPDX-License-Identifier: Apache-2.0 */
/* m2msec provider: HKDF extract-and-expand (RFC 5869). */
#include <string.h>
#include <openssl/crypto.h>

#include "errors.h"
#include "hkdf.h"

size_t m2m_hkdf_max_len(m2m_md md)
{
    return 255 * m2m_md_size(md);
}

int m2m_hkdf(M2M_HMAC *h, const M2M_PROVCTX *pc, m2m_md md, const unsigned char *salt,
             size_t saltlen, const unsigned char *ikm, size_t ikmlen, const unsigned char *info,
             size_t infolen, unsigned char *out, size_t outlen)
{
    unsigned char prk[M2M_MAX_MD_SIZE], t[M2M_MAX_MD_SIZE];
    size_t hlen = m2m_md_size(md), done = 0, tlen = 0;
    unsigned char counter = 0;
    int ok = 0;

    if (outlen == 0 || outlen > m2m_hkdf_max_len(md)) {
        M2M_RAISE(M2MSEC_R_BAD_OUTPUT_LENGTH, "output length %zu is outside 1..%zu for HKDF-%s",
                  outlen, m2m_hkdf_max_len(md), m2m_md_name(md));
        OPENSSL_cleanse(out, outlen);
        return 0;
    }
    /* Extract: PRK = HMAC(salt, IKM). */
    if (!m2m_hmac_init(h, pc, md, salt, saltlen) || !m2m_hmac_update(h, ikm, ikmlen) ||
        !m2m_hmac_final(h, prk))
        goto end;
    /* Expand: T(i) = HMAC(PRK, T(i-1) || info || i). */
    while (done < outlen) {
        size_t n;

        counter++;
        if (!m2m_hmac_init(h, pc, md, prk, hlen) || !m2m_hmac_update(h, t, tlen) ||
            !m2m_hmac_update(h, info, infolen) || !m2m_hmac_update(h, &counter, 1) ||
            !m2m_hmac_final(h, t))
            goto end;
        tlen = hlen;
        n = outlen - done < hlen ? outlen - done : hlen;
        memcpy(out + done, t, n);
        done += n;
    }
    ok = 1;
end:
    OPENSSL_cleanse(prk, sizeof(prk));
    OPENSSL_cleanse(t, sizeof(t));
    if (!ok)
        OPENSSL_cleanse(out, outlen);
    return ok;
}
