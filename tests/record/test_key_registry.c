/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The process-wide record-key tables of provider/key_registry.c, directly
 * (the provider's objects, m2msec_core, are linked into this program; the
 * EVP-level behaviour is tested by test_record_process):
 *
 *  - fingerprints: the same for the same (cipher, key) whatever HMAC
 *    instance computes them (two library contexts), different for another
 *    key or cipher, never all-zero;
 *  - encryption claims: a key is claimed once; the table grows (the
 *    error texts need a loaded instance: test_record_process has them);
 *  - failure counters: a context's look-up allocates nothing, a key's
 *    counter appears at its first failure and every reference to the key
 *    sees it, including one that looked before it existed;
 *  - when no counter can be created (the maximum reached, or out of
 *    memory) the failures land in the key's bucket: never lost, shared by
 *    the bucket's keys (an over-count), and still counted once the key
 *    gets a counter of its own.
 *
 * Allocation failures are injected through CRYPTO_set_mem_functions, set
 * before OpenSSL allocates anything.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/Basic.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/provider.h>

#include "key_registry.h"
#include "test_run.h"

static atomic_int fail_allocs; /* while set, every OpenSSL allocation fails */

static void *t_malloc(size_t n, const char *file, int line)
{
    (void)file;
    (void)line;
    return atomic_load(&fail_allocs) ? NULL : malloc(n);
}

static void *t_realloc(void *p, size_t n, const char *file, int line)
{
    (void)file;
    (void)line;
    return atomic_load(&fail_allocs) ? NULL : realloc(p, n);
}

static void t_free(void *p, const char *file, int line)
{
    (void)file;
    (void)line;
    free(p);
}

static OSSL_LIB_CTX *lib[2];
static OSSL_PROVIDER *def[2];
static EVP_MAC *hmac[2];

static void fp_of(int inst, const char *alg, unsigned seed, M2M_KEY_FP *fp)
{
    unsigned char key[32];

    for (size_t i = 0; i < sizeof(key); i++)
        key[i] = (unsigned char)(131u + i * 7u);
    for (size_t i = 0; i < sizeof(seed); i++)
        key[i] ^= (unsigned char)(seed >> (8 * i));
    if (!m2m_key_fingerprint(hmac[inst], alg, key, sizeof(key), fp))
        abort();
}

static void test_fingerprints(void)
{
    static const unsigned char zero[M2M_KEY_FP_LEN];
    M2M_KEY_FP a0, a1, b, c;
    unsigned char key[32];

    fp_of(0, "M2M-REC-AES-256-GCM", 1, &a0);
    fp_of(1, "M2M-REC-AES-256-GCM", 1, &a1);
    fp_of(0, "M2M-REC-AES-256-GCM", 2, &b);
    fp_of(0, "M2M-REC-CHACHA20-POLY1305", 1, &c);
    CHECK(memcmp(a0.b, a1.b, M2M_KEY_FP_LEN) == 0,
          "two library contexts' HMACs give the same fingerprint");
    CHECK(memcmp(a0.b, b.b, M2M_KEY_FP_LEN) != 0, "another key, another fingerprint");
    CHECK(memcmp(a0.b, c.b, M2M_KEY_FP_LEN) != 0, "another cipher, another fingerprint");
    CHECK(memcmp(a0.b, zero, M2M_KEY_FP_LEN) != 0, "not all-zero");
    for (size_t i = 0; i < sizeof(key); i++)
        key[i] = (unsigned char)(131u + i * 7u);
    CHECK(memcmp(a0.b, key, M2M_KEY_FP_LEN) != 0, "the fingerprint is not the key");
}

static void test_claims(void)
{
    M2M_KEY_FP fp;
    unsigned fresh = 0, again = 0;

    for (unsigned k = 0; k < 1000; k++) {
        fp_of(k & 1, "claims", 1000 + k, &fp);
        fresh += (unsigned)m2m_key_registry_claim(&fp, "claims");
    }
    ERR_clear_error();
    for (unsigned k = 0; k < 1000; k++) {
        fp_of(!(k & 1), "claims", 1000 + k, &fp);
        again += (unsigned)!m2m_key_registry_claim(&fp, "claims");
    }
    CHECK(fresh == 1000, "1000 distinct keys claimed (the table grew): %u", fresh);
    CHECK(again == 1000, "each refused a second time: %u", again);
}

static void test_counters(void)
{
    M2M_FAIL_REF early, late, other;
    M2M_KEY_FP fk, fo;
    size_t keys0 = m2m_failures_keys();

    fp_of(0, "counters", 1, &fk);
    fp_of(0, "counters", 2, &fo);
    m2m_failures_attach(&early, &fk);
    m2m_failures_attach(&other, &fo);
    CHECK(m2m_failures_read(&early) == 0 && m2m_failures_keys() == keys0,
          "looking a key up allocates no counter");
    CHECK(m2m_failures_add(&early) == 1 && m2m_failures_keys() == keys0 + 1,
          "the first failure creates the key's counter");
    m2m_failures_attach(&late, &fk);
    CHECK(m2m_failures_read(&late) == 1, "a later reference sees it");
    CHECK(m2m_failures_add(&late) == 2 && m2m_failures_read(&early) == 2,
          "both references count together");
    CHECK(m2m_failures_read(&other) == 0, "another key is untouched");
    /* A reference made before the counter existed finds it (new counters are announced). */
    {
        M2M_FAIL_REF before, creator;

        m2m_failures_attach(&before, &fo);
        m2m_failures_attach(&creator, &fo);
        CHECK(m2m_failures_add(&creator) == 1, "another key's first failure");
        CHECK(m2m_failures_read(&before) == 1 && m2m_failures_read(&other) == 1,
              "references made before its counter existed read it");
    }
}

/* A fingerprint in the same overflow bucket as fp (the bucket comes from its last bytes). */
static void same_bucket(const M2M_KEY_FP *fp, M2M_KEY_FP *out, unsigned char tweak)
{
    *out = *fp;
    out->b[0] ^= tweak;
}

static void test_overflow(void)
{
    M2M_FAIL_REF a, b, a2;
    M2M_KEY_FP fa, fb;
    size_t keys0 = m2m_failures_keys();

    fp_of(0, "overflow", 1, &fa);
    same_bucket(&fa, &fb, 0x5a);
    m2m_failures_test_max_keys(keys0); /* full */
    m2m_failures_attach(&a, &fa);
    m2m_failures_attach(&b, &fb);
    CHECK(m2m_failures_add(&a) == 1 && m2m_failures_add(&a) == 2 && m2m_failures_keys() == keys0,
          "at the maximum, failures go to the key's bucket: counted, no counter created");
    CHECK(m2m_failures_read(&b) == 2,
          "a key of the same bucket counts them too (an over-count, never an under-count)");
    m2m_failures_test_max_keys(0);
    CHECK(m2m_failures_add(&a) == 3 && m2m_failures_keys() == keys0 + 1,
          "with room again the key gets its own counter, and keeps the bucket's count");
    m2m_failures_attach(&a2, &fa);
    CHECK(m2m_failures_read(&a2) == 3, "a new reference reads the whole count");
}

static void test_out_of_memory(void)
{
    M2M_FAIL_REF r;
    M2M_KEY_FP f;
    size_t keys0 = m2m_failures_keys();
    uint64_t n1, n2, n3;

    fp_of(1, "oom", 1, &f);
    m2m_failures_attach(&r, &f);
    atomic_store(&fail_allocs, 1);
    n1 = m2m_failures_add(&r);
    n2 = m2m_failures_add(&r);
    atomic_store(&fail_allocs, 0);
    CHECK(n1 == 1 && n2 == 2 && m2m_failures_keys() == keys0,
          "out of memory: failures counted in the bucket (%llu, %llu)", (unsigned long long)n1,
          (unsigned long long)n2);
    n3 = m2m_failures_add(&r);
    CHECK(n3 == 3 && m2m_failures_keys() == keys0 + 1,
          "memory back: the key's own counter, the count kept (%llu)", (unsigned long long)n3);
}

int main(void)
{
    static const tc_test tests[] = {
        {"fingerprints", test_fingerprints},
        {"encryption claims", test_claims},
        {"failure counters", test_counters},
        {"no room: the bucket keeps the count", test_overflow},
        {"out of memory: the bucket keeps the count", test_out_of_memory},
    };

    if (!CRYPTO_set_mem_functions(t_malloc, t_realloc, t_free)) {
        fprintf(stderr, "cannot install the allocation functions\n");
        return 2;
    }
    for (int i = 0; i < 2; i++) {
        lib[i] = OSSL_LIB_CTX_new();
        def[i] = lib[i] != NULL ? OSSL_PROVIDER_load(lib[i], "default") : NULL;
        hmac[i] = def[i] != NULL ? EVP_MAC_fetch(lib[i], "HMAC", NULL) : NULL;
        if (hmac[i] == NULL) {
            ERR_print_errors_fp(stderr);
            return 2;
        }
    }
    if (!m2m_key_registry_init()) {
        ERR_print_errors_fp(stderr);
        return 2;
    }
    {
        int rc = tc_run("test_key_registry", "key_registry", NULL, NULL, tests,
                        sizeof(tests) / sizeof(tests[0]));

        for (int i = 0; i < 2; i++) {
            EVP_MAC_free(hmac[i]);
            OSSL_PROVIDER_unload(def[i]);
            OSSL_LIB_CTX_free(lib[i]);
        }
        return rc;
    }
}
