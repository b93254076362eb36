/* m2msec provider: process-wide set of encryption keys already used. */
#include <string.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "errors.h"
#include "key_registry.h"

#define FP_LEN 16

struct m2m_key_registry_st {
    CRYPTO_RWLOCK *lock;
    EVP_MAC_CTX *mac; /* keyed with secret; used under lock */
    unsigned char secret[32];
    unsigned char (*slots)[FP_LEN]; /* open addressing; all-zero = empty */
    size_t nslots, used;
};

M2M_KEY_REGISTRY *m2m_key_registry_new(OSSL_LIB_CTX *libctx, EVP_MAC *hmac)
{
    M2M_KEY_REGISTRY *reg = OPENSSL_zalloc(sizeof(*reg));
    OSSL_PARAM p[2];

    if (reg == NULL)
        return NULL;
    p[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA2-256", 0);
    p[1] = OSSL_PARAM_construct_end();
    reg->lock = CRYPTO_THREAD_lock_new();
    reg->mac = EVP_MAC_CTX_new(hmac);
    reg->nslots = 64;
    reg->slots = OPENSSL_zalloc(reg->nslots * FP_LEN);
    if (reg->lock == NULL || reg->mac == NULL || reg->slots == NULL ||
        RAND_priv_bytes_ex(libctx, reg->secret, sizeof(reg->secret), 0) <= 0 ||
        !EVP_MAC_CTX_set_params(reg->mac, p)) {
        m2m_key_registry_free(reg);
        return NULL;
    }
    return reg;
}

void m2m_key_registry_free(M2M_KEY_REGISTRY *reg)
{
    if (reg == NULL)
        return;
    CRYPTO_THREAD_lock_free(reg->lock);
    EVP_MAC_CTX_free(reg->mac);
    OPENSSL_free(reg->slots);
    OPENSSL_clear_free(reg, sizeof(*reg));
}

static size_t slot_of(const unsigned char *fp, size_t nslots)
{
    size_t h;

    memcpy(&h, fp, sizeof(h));
    return h & (nslots - 1);
}

static int is_empty(const unsigned char *s)
{
    static const unsigned char zero[FP_LEN];

    return memcmp(s, zero, FP_LEN) == 0;
}

/* Insert fp; 1 if inserted, 0 if present. Table must have room. */
static int insert(unsigned char (*slots)[FP_LEN], size_t nslots, const unsigned char *fp)
{
    for (size_t i = slot_of(fp, nslots);; i = (i + 1) & (nslots - 1)) {
        if (is_empty(slots[i])) {
            memcpy(slots[i], fp, FP_LEN);
            return 1;
        }
        if (memcmp(slots[i], fp, FP_LEN) == 0)
            return 0;
    }
}

static int grow(M2M_KEY_REGISTRY *reg)
{
    size_t n = reg->nslots * 2;
    unsigned char(*s)[FP_LEN] = OPENSSL_zalloc(n * FP_LEN);

    if (s == NULL)
        return 0;
    for (size_t i = 0; i < reg->nslots; i++)
        if (!is_empty(reg->slots[i]))
            insert(s, n, reg->slots[i]);
    OPENSSL_free(reg->slots);
    reg->slots = s;
    reg->nslots = n;
    return 1;
}

int m2m_key_registry_claim(M2M_KEY_REGISTRY *reg, const char *alg, const unsigned char *key,
                           size_t keylen)
{
    unsigned char mac[32];
    size_t maclen = 0;
    int ok = 0, fresh = 0;

    if (!CRYPTO_THREAD_write_lock(reg->lock)) {
        M2M_RAISE(M2M_R_CRYPTO_FAILED, "cannot lock the key registry");
        return 0;
    }
    if (!EVP_MAC_init(reg->mac, reg->secret, sizeof(reg->secret), NULL) ||
        !EVP_MAC_update(reg->mac, (const unsigned char *)alg, strlen(alg) + 1) ||
        !EVP_MAC_update(reg->mac, key, keylen) ||
        !EVP_MAC_final(reg->mac, mac, &maclen, sizeof(mac))) {
        M2M_RAISE(M2M_R_CRYPTO_FAILED, "cannot fingerprint the record key");
        goto end;
    }
    if (is_empty(mac))
        mac[0] = 1; /* all-zero marks an empty slot */
    if (reg->used * 4 >= reg->nslots * 3 && !grow(reg)) {
        M2M_RAISE(M2M_R_MALLOC_FAILURE, "out of memory in the key registry");
        goto end;
    }
    fresh = insert(reg->slots, reg->nslots, mac);
    if (fresh) {
        reg->used++;
        ok = 1;
    } else {
        M2M_RAISE(M2M_R_KEY_REUSED,
                  "this %s key was already used to encrypt in this process; its nonces "
                  "would repeat: derive a new session key (next epoch)",
                  alg);
    }
end:
    OPENSSL_cleanse(mac, sizeof(mac));
    CRYPTO_THREAD_unlock(reg->lock);
    return ok;
}
