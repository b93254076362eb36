/* Device integrity status record: render and authenticate (shared by provider and libm2msec). */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/params.h>

#include "integrity_status.h"

#define MAGIC "m2msec-integrity-status 1\n"

static int mac_hex(EVP_MAC *hmac, const unsigned char *key, size_t keylen, const char *data,
                   size_t len, char hex[65])
{
    unsigned char mac[32];
    size_t maclen = 0;
    EVP_MAC_CTX *ctx = EVP_MAC_CTX_new(hmac);
    OSSL_PARAM p[2];
    int ok;

    p[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA2-256", 0);
    p[1] = OSSL_PARAM_construct_end();
    ok = ctx != NULL && EVP_MAC_init(ctx, key, keylen, p) &&
         EVP_MAC_update(ctx, (const unsigned char *)data, len) &&
         EVP_MAC_final(ctx, mac, &maclen, sizeof(mac)) && maclen == sizeof(mac);
    EVP_MAC_CTX_free(ctx);
    if (ok)
        for (size_t i = 0; i < sizeof(mac); i++)
            snprintf(hex + 2 * i, 3, "%02x", mac[i]);
    OPENSSL_cleanse(mac, sizeof(mac));
    return ok;
}

size_t m2m_status_render(EVP_MAC *hmac, const unsigned char *key, size_t keylen,
                         const M2M_INTEGRITY_STATUS *st, char *out, size_t cap)
{
    char hex[65];
    int n, m;

    if (cap < M2M_STATUS_MAX)
        return 0;
    n = snprintf(out, cap, MAGIC "result %s\nmanifest-version %" PRIu64 "\ntime %" PRIu64 "\n",
                 st->passed ? "passed" : "failed", st->manifest_version, st->time);
    if (n <= 0 || (size_t)n >= cap || !mac_hex(hmac, key, keylen, out, (size_t)n, hex))
        return 0;
    m = snprintf(out + n, cap - (size_t)n, "mac %s\n", hex);
    if (m <= 0 || (size_t)(n + m) >= cap)
        return 0;
    return (size_t)(n + m);
}

const char *m2m_status_verify(EVP_MAC *hmac, const unsigned char *key, size_t keylen,
                              const char *buf, size_t len, M2M_INTEGRITY_STATUS *st)
{
    char text[M2M_STATUS_MAX], result[16], hex[65], extra;
    const char *macline;
    unsigned long long ver, when;
    size_t body;

    if (len == 0 || len >= sizeof(text) || buf[len - 1] != '\n')
        return "malformed status record";
    memcpy(text, buf, len);
    text[len] = '\0';
    if (strlen(text) != len || strncmp(text, MAGIC, sizeof(MAGIC) - 1) != 0)
        return "malformed status record";
    macline = strstr(text, "mac ");
    if (macline == NULL || (macline != text && macline[-1] != '\n'))
        return "malformed status record (no mac line)";
    body = (size_t)(macline - text);
    if (sscanf(text, MAGIC "result %15s\nmanifest-version %llu\ntime %llu\nmac %64s\n%c", result,
               &ver, &when, hex, &extra) != 4 ||
        strlen(hex) != 64)
        return "malformed status record";
    {
        char want[65];

        if (!mac_hex(hmac, key, keylen, text, body, want))
            return "cannot compute the status MAC";
        if (CRYPTO_memcmp(want, hex, 64) != 0)
            return "status record MAC does not verify (forged, or another device key)";
    }
    if (strcmp(result, "passed") == 0)
        st->passed = 1;
    else if (strcmp(result, "failed") == 0)
        st->passed = 0;
    else
        return "malformed status record (result)";
    st->manifest_version = ver;
    st->time = when;
    return NULL;
}
