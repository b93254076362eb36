/*
 * m2msec provider: the set of keys this process has already used to
 * encrypt records.
 *
 * A record key is bound to one nonce sequence. If an application re-inits
 * a context (EVP recreates the provider context when the cipher object is
 * passed again), opens a second context with the same key, or re-keys a
 * context with the same key and another IV, the sequence would start again
 * and nonces would repeat. Every encrypting context therefore claims its
 * key here first; a second claim of the same key is refused.
 *
 * Entries are 16-byte keyed fingerprints (HMAC-SHA-256 under a random
 * per-process secret, truncated), never the keys. The set only grows:
 * 16 bytes (plus table slack) per record key used in the process.
 */
#ifndef M2M_KEY_REGISTRY_H
#define M2M_KEY_REGISTRY_H

#include <stddef.h>

#include "prov.h"

typedef struct m2m_key_registry_st M2M_KEY_REGISTRY;

M2M_KEY_REGISTRY *m2m_key_registry_new(OSSL_LIB_CTX *libctx, EVP_MAC *hmac);
void m2m_key_registry_free(M2M_KEY_REGISTRY *reg);
/* 1 if claimed now, 0 if already claimed (error raised) or on failure. */
int m2m_key_registry_claim(M2M_KEY_REGISTRY *reg, const char *alg, const unsigned char *key,
                           size_t keylen);

#endif
