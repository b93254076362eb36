/* SPDX-License-Identifier: Apache-2.0 */
/*
 * m2msec provider: what the whole process knows about record keys.
 *
 * Two tables, each ONE per process (module-level state, created once,
 * shared by every library context and every load of m2msec.so; the module
 * is linked with -z nodelete so that unloading its last instance cannot
 * empty them, see docs/PROTOCOL.md 5.2):
 *
 *  - the keys already used to encrypt. A record key is bound to one nonce
 *    sequence: a second encrypting context with the same key (a re-init
 *    that recreates the provider context, a second context, the same key
 *    with another IV, or the same key in another OSSL_LIB_CTX) would start
 *    again at sequence 0. Every encrypting context claims its key here
 *    first; a second claim is refused.
 *  - the failed decryptions of each key, so that the forgery budget holds
 *    across every decrypting context of the key (a fresh context per
 *    candidate epoch does not get a fresh budget). A key gets its counter
 *    at its first failed decryption: genuine traffic costs no memory.
 *
 * Keys are identified by 16-byte keyed fingerprints, never by the keys:
 * HMAC-SHA-256(secret, alg || 0x00 || key) truncated to 16 bytes, where the
 * 32-byte secret is read from the kernel once per process. Any instance's
 * HMAC computes the same fingerprint. Neither table ever forgets an entry
 * while the process lives (forgetting would let a key encrypt from
 * sequence 0 again, or reset its forgery budget).
 */
#ifndef M2M_KEY_REGISTRY_H
#define M2M_KEY_REGISTRY_H

#include <stddef.h>
#include <stdint.h>
#include <openssl/evp.h>

#define M2M_KEY_FP_LEN 16

/*
 * Keys with a failure counter of their own, at most. Past this many (or
 * when memory runs out) a key's failures go to one of M2M_FAIL_BUCKETS
 * shared counters chosen by its fingerprint, and every key of that bucket
 * counts them: an over-count (a key may be refused early), never an
 * under-count (a budget is never reset).
 */
#define M2M_FAIL_MAX_KEYS 65536u
#define M2M_FAIL_BUCKETS 4096u

typedef struct m2m_key_fp_st {
    unsigned char b[M2M_KEY_FP_LEN];
} M2M_KEY_FP;

/*
 * The one-time, thread-safe set-up of the process-wide state (the secret;
 * the fork handler that keeps the tables' lock usable in a child). Called
 * by every OSSL_provider_init; 0 (error raised) if the secret cannot be
 * read, and the provider then refuses to load.
 */
int m2m_key_registry_init(void);

/* The keyed fingerprint of (alg, key), computed with hmac (any instance's HMAC). */
int m2m_key_fingerprint(EVP_MAC *hmac, const char *alg, const unsigned char *key, size_t keylen,
                        M2M_KEY_FP *fp);

/*
 * Claim a key for encryption: 1 if claimed now; 0 if it was claimed before
 * in this process (M2MSEC_R_KEY_REUSED raised) or on failure (raised).
 */
int m2m_key_registry_claim(const M2M_KEY_FP *fp, const char *alg);

/* The failed decryptions of one key, as seen by one decrypting context. */
typedef struct m2m_fail_entry_st M2M_FAIL_ENTRY;
typedef struct m2m_fail_ref_st {
    M2M_KEY_FP fp;
    M2M_FAIL_ENTRY *entry; /* the key's own counter, once it has one */
    uint64_t gen;          /* counters created when entry was last looked up */
    size_t bucket;         /* the key's overflow bucket */
} M2M_FAIL_REF;

/* Point ref at the key's counter (takes the lock once; allocates nothing). */
void m2m_failures_attach(M2M_FAIL_REF *ref, const M2M_KEY_FP *fp);
/*
 * The key's failed decryptions in the whole process, for the check before
 * every record: no lock and no allocation (one or two atomic loads), unless
 * a counter was created for some key since the last look-up, when the
 * look-up is repeated under the lock.
 */
uint64_t m2m_failures_read(M2M_FAIL_REF *ref);
/*
 * Count one failed decryption of the key (under the lock; the key's counter
 * is created now if it has none) and return the new count. UINT64_MAX if
 * the lock cannot be taken: the caller then refuses every record.
 */
uint64_t m2m_failures_add(M2M_FAIL_REF *ref);

/* Tests only: how many keys have a counter of their own; lower the maximum (0: default). */
size_t m2m_failures_keys(void);
void m2m_failures_test_max_keys(size_t max_keys);

#endif
