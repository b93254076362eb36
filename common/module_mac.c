/* SPDX-License-Identifier: Apache-2.0 */
/* common: the module integrity MAC over the m2msec.so file (module_mac.h). */
#include <stdio.h>
#include <string.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/params.h>

#include "module_mac.h"

int m2m_module_mac(EVP_MAC *hmac, const char *path, unsigned char mac[M2M_MODULE_MAC_LEN])
{
    unsigned char buf[4096];
    size_t n, maclen = 0;
    EVP_MAC_CTX *ctx = EVP_MAC_CTX_new(hmac);
    OSSL_PARAM p[2];
    FILE *f = fopen(path, "rb");
    int ok = 0;

    p[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA2-256", 0);
    p[1] = OSSL_PARAM_construct_end();
    if (f == NULL || ctx == NULL ||
        !EVP_MAC_init(ctx, (const unsigned char *)M2M_MODULE_MAC_KEY,
                      sizeof(M2M_MODULE_MAC_KEY) - 1, p))
        goto end;
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
        if (!EVP_MAC_update(ctx, buf, n))
            goto end;
    ok = !ferror(f) && EVP_MAC_final(ctx, mac, &maclen, M2M_MODULE_MAC_LEN) &&
         maclen == M2M_MODULE_MAC_LEN;
end:
    if (f != NULL)
        fclose(f);
    EVP_MAC_CTX_free(ctx);
    return ok;
}
