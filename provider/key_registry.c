/* SPDX-License-Identifier: Apache-2.0 */
/* m2msec provider: the process-wide record-key tables (see key_registry.h). */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/random.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/params.h>

#include "errors.h"
#include "key_registry.h"

#define SECRET_LEN 32

/*
 * Module-level state: one copy per process, whatever the number of library
 * contexts or provider loads (m2msec.so is linked with -z nodelete, so its
 * statics survive the unload of its last instance). Nothing here is ever
 * freed: the tables must outlive every context, and the memory stays
 * reachable from these statics until the process ends.
 */
static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static int g_ready; /* written once, inside g_once */
static unsigned char g_secret[SECRET_LEN];
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER; /* both tables */

/* Keys used to encrypt: open addressing, at most 3/4 full; all-zero = empty. */
static unsigned char (*g_claims)[M2M_KEY_FP_LEN];
static size_t g_claims_slots, g_claims_used;

/* Failed decryptions: counters that never move, indexed by open addressing. */
struct m2m_fail_entry_st {
    M2M_KEY_FP fp;
    _Atomic uint64_t failures;
};
static M2M_FAIL_ENTRY **g_fail_slots;
static size_t g_fail_slots_n, g_fail_used, g_fail_max = M2M_FAIL_MAX_KEYS;
static _Atomic uint64_t g_fail_gen;                       /* counters created so far */
static _Atomic uint64_t g_fail_buckets[M2M_FAIL_BUCKETS]; /* overflow, see the header */

/*
 * fork() while another thread holds the lock would leave it locked forever
 * in the child: hold it across the fork instead, and release it on both
 * sides.
 */
static void atfork_prepare(void)
{
    pthread_mutex_lock(&g_lock);
}

static void atfork_release(void)
{
    pthread_mutex_unlock(&g_lock);
}

static void init_once(void)
{
    size_t got = 0;

    while (got < sizeof(g_secret)) {
        ssize_t n = getrandom(g_secret + got, sizeof(g_secret) - got, 0);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            OPENSSL_cleanse(g_secret, sizeof(g_secret));
            return;
        }
        got += (size_t)n;
    }
    if (pthread_atfork(atfork_prepare, atfork_release, atfork_release) != 0) {
        OPENSSL_cleanse(g_secret, sizeof(g_secret));
        return;
    }
    g_ready = 1;
}

int m2m_key_registry_init(void)
{
    if (pthread_once(&g_once, init_once) == 0 && g_ready)
        return 1;
    M2M_RAISE(M2MSEC_R_CRYPTO_FAILED,
              "m2msec: cannot set up the process-wide key registry (no random secret from the "
              "kernel's getrandom)");
    return 0;
}

static int lock(void)
{
    if (pthread_mutex_lock(&g_lock) == 0)
        return 1;
    M2M_RAISE(M2MSEC_R_CRYPTO_FAILED, "cannot lock the process-wide key registry");
    return 0;
}

static void unlock(void)
{
    pthread_mutex_unlock(&g_lock);
}

int m2m_key_fingerprint(EVP_MAC *hmac, const char *alg, const unsigned char *key, size_t keylen,
                        M2M_KEY_FP *fp)
{
    static const unsigned char zero[M2M_KEY_FP_LEN];
    unsigned char mac[32];
    size_t maclen = 0;
    EVP_MAC_CTX *m;
    OSSL_PARAM p[2];
    int ok;

    if (!m2m_key_registry_init())
        return 0;
    p[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA2-256", 0);
    p[1] = OSSL_PARAM_construct_end();
    m = EVP_MAC_CTX_new(hmac);
    ok = m != NULL && EVP_MAC_init(m, g_secret, sizeof(g_secret), p) &&
         EVP_MAC_update(m, (const unsigned char *)alg, strlen(alg) + 1) &&
         EVP_MAC_update(m, key, keylen) && EVP_MAC_final(m, mac, &maclen, sizeof(mac)) &&
         maclen == sizeof(mac);
    EVP_MAC_CTX_free(m);
    if (ok) {
        memcpy(fp->b, mac, M2M_KEY_FP_LEN);
        if (memcmp(fp->b, zero, M2M_KEY_FP_LEN) == 0)
            fp->b[0] = 1; /* all-zero marks an empty slot */
    } else {
        M2M_RAISE(M2MSEC_R_CRYPTO_FAILED, "cannot fingerprint the %s record key", alg);
    }
    OPENSSL_cleanse(mac, sizeof(mac));
    return ok;
}

/* ---- keys used to encrypt ---- */

static size_t slot_of(const unsigned char *fp, size_t nslots)
{
    size_t h;

    memcpy(&h, fp, sizeof(h));
    return h & (nslots - 1);
}

static int is_empty(const unsigned char *s)
{
    static const unsigned char zero[M2M_KEY_FP_LEN];

    return memcmp(s, zero, M2M_KEY_FP_LEN) == 0;
}

/* Insert fp; 1 if inserted, 0 if present. The table must have room. */
static int claims_insert(unsigned char (*slots)[M2M_KEY_FP_LEN], size_t nslots,
                         const unsigned char *fp)
{
    for (size_t i = slot_of(fp, nslots);; i = (i + 1) & (nslots - 1)) {
        if (is_empty(slots[i])) {
            memcpy(slots[i], fp, M2M_KEY_FP_LEN);
            return 1;
        }
        if (memcmp(slots[i], fp, M2M_KEY_FP_LEN) == 0)
            return 0;
    }
}

static int claims_room(void)
{
    size_t n = g_claims_slots == 0 ? 64 : g_claims_slots * 2;
    unsigned char(*s)[M2M_KEY_FP_LEN];

    if (g_claims_slots != 0 && (g_claims_used + 1) * 4 <= g_claims_slots * 3)
        return 1;
    if ((s = OPENSSL_zalloc(n * M2M_KEY_FP_LEN)) == NULL)
        return 0;
    for (size_t i = 0; i < g_claims_slots; i++)
        if (!is_empty(g_claims[i]))
            claims_insert(s, n, g_claims[i]);
    OPENSSL_free(g_claims);
    g_claims = s;
    g_claims_slots = n;
    return 1;
}

int m2m_key_registry_claim(const M2M_KEY_FP *fp, const char *alg)
{
    int fresh;

    if (!lock())
        return 0;
    if (!claims_room()) {
        unlock();
        M2M_RAISE(M2MSEC_R_MALLOC_FAILURE, "out of memory in the key registry");
        return 0;
    }
    fresh = claims_insert(g_claims, g_claims_slots, fp->b);
    g_claims_used += (size_t)fresh;
    unlock();
    if (!fresh)
        M2M_RAISE(M2MSEC_R_KEY_REUSED,
                  "this %s key was already used to encrypt in this process; its nonces "
                  "would repeat: derive a new session key (next epoch)",
                  alg);
    return fresh;
}

/* ---- failed decryptions per key ---- */

static size_t bucket_of(const M2M_KEY_FP *fp)
{
    size_t h;

    memcpy(&h, fp->b + M2M_KEY_FP_LEN - sizeof(h), sizeof(h));
    return h & (M2M_FAIL_BUCKETS - 1);
}

/* Under the lock. */
static M2M_FAIL_ENTRY *fail_find(const M2M_KEY_FP *fp)
{
    if (g_fail_slots_n == 0)
        return NULL;
    for (size_t i = slot_of(fp->b, g_fail_slots_n);; i = (i + 1) & (g_fail_slots_n - 1)) {
        M2M_FAIL_ENTRY *e = g_fail_slots[i];

        if (e == NULL || memcmp(e->fp.b, fp->b, M2M_KEY_FP_LEN) == 0)
            return e;
    }
}

static void fail_insert(M2M_FAIL_ENTRY **slots, size_t nslots, M2M_FAIL_ENTRY *e)
{
    size_t i = slot_of(e->fp.b, nslots);

    while (slots[i] != NULL)
        i = (i + 1) & (nslots - 1);
    slots[i] = e;
}

/* Under the lock: a new counter for fp, or NULL at the maximum or out of memory. */
static M2M_FAIL_ENTRY *fail_create(const M2M_KEY_FP *fp)
{
    M2M_FAIL_ENTRY *e;

    if (g_fail_used >= g_fail_max)
        return NULL;
    if (g_fail_slots_n == 0 || (g_fail_used + 1) * 4 > g_fail_slots_n * 3) {
        size_t n = g_fail_slots_n == 0 ? 64 : g_fail_slots_n * 2;
        M2M_FAIL_ENTRY **s = OPENSSL_zalloc(n * sizeof(*s));

        if (s == NULL)
            return NULL;
        for (size_t i = 0; i < g_fail_slots_n; i++)
            if (g_fail_slots[i] != NULL)
                fail_insert(s, n, g_fail_slots[i]);
        OPENSSL_free(g_fail_slots);
        g_fail_slots = s;
        g_fail_slots_n = n;
    }
    if ((e = OPENSSL_zalloc(sizeof(*e))) == NULL)
        return NULL;
    e->fp = *fp;
    atomic_init(&e->failures, 0);
    fail_insert(g_fail_slots, g_fail_slots_n, e);
    g_fail_used++;
    atomic_fetch_add_explicit(&g_fail_gen, 1, memory_order_release);
    return e;
}

void m2m_failures_attach(M2M_FAIL_REF *ref, const M2M_KEY_FP *fp)
{
    ref->fp = *fp;
    ref->bucket = bucket_of(fp);
    ref->entry = NULL;
    ref->gen = UINT64_MAX; /* never a generation: the first read looks up */
    if (pthread_mutex_lock(&g_lock) == 0) {
        ref->gen = atomic_load_explicit(&g_fail_gen, memory_order_acquire);
        ref->entry = fail_find(fp);
        unlock();
    }
}

static uint64_t sat_add(uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

uint64_t m2m_failures_read(M2M_FAIL_REF *ref)
{
    uint64_t n = atomic_load_explicit(&g_fail_buckets[ref->bucket], memory_order_relaxed);

    if (ref->entry == NULL && atomic_load_explicit(&g_fail_gen, memory_order_acquire) != ref->gen) {
        if (pthread_mutex_lock(&g_lock) != 0)
            return UINT64_MAX; /* cannot tell: refuse */
        ref->gen = atomic_load_explicit(&g_fail_gen, memory_order_acquire);
        ref->entry = fail_find(&ref->fp);
        unlock();
    }
    if (ref->entry != NULL)
        n = sat_add(n, atomic_load_explicit(&ref->entry->failures, memory_order_relaxed));
    return n;
}

uint64_t m2m_failures_add(M2M_FAIL_REF *ref)
{
    if (pthread_mutex_lock(&g_lock) != 0)
        return UINT64_MAX;
    if (ref->entry == NULL) {
        if ((ref->entry = fail_find(&ref->fp)) == NULL)
            ref->entry = fail_create(&ref->fp);
        ref->gen = atomic_load_explicit(&g_fail_gen, memory_order_acquire);
    }
    if (ref->entry != NULL)
        atomic_fetch_add_explicit(&ref->entry->failures, 1, memory_order_relaxed);
    else /* no counter of its own: the bucket keeps the count (never lost) */
        atomic_fetch_add_explicit(&g_fail_buckets[ref->bucket], 1, memory_order_relaxed);
    unlock();
    return m2m_failures_read(ref);
}

size_t m2m_failures_keys(void)
{
    size_t n = 0;

    if (pthread_mutex_lock(&g_lock) == 0) {
        n = g_fail_used;
        unlock();
    }
    return n;
}

void m2m_failures_test_max_keys(size_t max_keys)
{
    if (pthread_mutex_lock(&g_lock) == 0) {
        g_fail_max = max_keys == 0 ? M2M_FAIL_MAX_KEYS : max_keys;
        unlock();
    }
}
