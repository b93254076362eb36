/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Shared helpers of the session tests (tests/session/test_*.c).
 *
 * Everything here is static inline so that each test program takes only
 * what it uses. Three independent pieces:
 *
 *  - the m2msec library context (m2msec.so from $M2M_MODULES plus the
 *    default provider) and a reference context with OpenSSL's default
 *    provider only, for the plain-EVP reference implementation;
 *  - st_run(): tc_run() of tests/common between the context set-up and
 *    tear-down, with the PRNG seed printed (the in-memory store is
 *    mem_store of tests/common);
 *  - the plain reference implementation of the session record format
 *    (docs/PROTOCOL.md section 2 and the record format of session.h),
 *    built from stock HKDF and OpenSSL's own AEADs, no m2msec code:
 *      key || static IV = HKDF-SHA256(key, info(epoch, ...), L = keylen + 12)
 *      nonce            = static IV XOR u64be(seq) (last 8 bytes)
 *      AAD              = u64be(epoch) || u64be(seq) || header
 *      record           = 01 || u32be(epoch) || u48be(seq) || ciphertext || tag(16; 8)
 *    (an 8-byte CCM tag has the aead label M2M-REC-AES-128-CCM-8: st_alg_ccm8)
 *
 * The PRNG seed is printed; set M2M_TEST_SEED to repeat a run.
 */
#ifndef M2MSEC_TESTS_SESSION_TEST_H
#define M2MSEC_TESTS_SESSION_TEST_H

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <CUnit/CUnit.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/provider.h>

#include "m2msec/m2msec.h"
#include "m2msec/record.h"
#include "m2msec/session.h"

#include "mem_store.h"
#include "test_run.h"

#define ST_OVERHEAD 27 /* 11-byte header + 16-byte tag */
#define ST_IVLEN 12
#define ST_TAGLEN 16
#define ST_MAXKEY 32

/*
 * CHECK(cond, fmt, ...) and the tc_test table come from tests/common
 * (test_run.h); st_run() below wraps tc_run() with the library contexts
 * and the PRNG seed.
 */

/* Set up, run every test in one suite, tear down; the exit status of main. */
static inline int st_run(const char *prog, const char *suite, const tc_test *tests, size_t n);

/* ---- library contexts ---- */

static OSSL_LIB_CTX *st_libctx;  /* m2msec + default */
static OSSL_PROVIDER *st_prov;   /* m2msec */
static OSSL_PROVIDER *st_libdef; /* default in st_libctx */
static OSSL_LIB_CTX *st_refctx;  /* default only: the reference implementation */
static OSSL_PROVIDER *st_refdef; /* default in st_refctx */

static inline int st_contexts_new(void)
{
    const char *mods = getenv("M2M_MODULES");

    if (mods == NULL) {
        fprintf(stderr, "M2M_MODULES is not set (directory of the built m2msec.so)\n");
        return 0;
    }
    st_libctx = OSSL_LIB_CTX_new();
    st_refctx = OSSL_LIB_CTX_new();
    if (st_libctx == NULL || st_refctx == NULL)
        return 0;
    /* The library context also gets "default" (the tests use stock algorithms there too). */
    st_prov = m2msec_provider_load(st_libctx, mods, &st_libdef);
    st_refdef = OSSL_PROVIDER_load(st_refctx, "default");
    if (st_libdef == NULL || st_prov == NULL || st_refdef == NULL) {
        fprintf(stderr, "cannot load the providers (m2msec from %s)\n", mods);
        ERR_print_errors_fp(stderr);
        return 0;
    }
    return 1;
}

static inline void st_contexts_free(void)
{
    OSSL_PROVIDER_unload(st_prov);
    OSSL_PROVIDER_unload(st_libdef);
    OSSL_PROVIDER_unload(st_refdef);
    OSSL_LIB_CTX_free(st_libctx);
    OSSL_LIB_CTX_free(st_refctx);
}

/* ---- PRNG: splitmix64 (seeding) + xoshiro256** ---- */

static uint64_t st_rng_s[4];
static uint64_t st_seed;

static inline uint64_t st_splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static inline void st_rng_init(const char *prog)
{
    const char *s = getenv("M2M_TEST_SEED");
    uint64_t x;

    if (s != NULL && *s != '\0')
        st_seed = strtoull(s, NULL, 0);
    else
        st_seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32) ^ (uint64_t)clock();
    x = st_seed;
    for (int i = 0; i < 4; i++)
        st_rng_s[i] = st_splitmix64(&x);
    printf("%s: seed %" PRIu64 " (repeat with M2M_TEST_SEED=%" PRIu64 ")\n", prog, st_seed,
           st_seed);
}

static inline uint64_t st_rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static inline uint64_t st_rand(void)
{
    uint64_t result = st_rotl(st_rng_s[1] * 5, 7) * 9;
    uint64_t t = st_rng_s[1] << 17;

    st_rng_s[2] ^= st_rng_s[0];
    st_rng_s[3] ^= st_rng_s[1];
    st_rng_s[1] ^= st_rng_s[2];
    st_rng_s[0] ^= st_rng_s[3];
    st_rng_s[2] ^= t;
    st_rng_s[3] = st_rotl(st_rng_s[3], 45);
    return result;
}

/* Uniform-enough value in [lo, hi]. */
static inline uint64_t st_range(uint64_t lo, uint64_t hi)
{
    return lo + st_rand() % (hi - lo + 1);
}

/* Plaintext bytes never 0x00 or 0xAA (the fill and the wipe patterns). */
static inline void st_fill_plain(unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)(1 + st_rand() % 0x7F);
}

/* ---- the record header ---- */

typedef struct {
    unsigned version;
    uint64_t epoch, seq;
} st_hdr;

static inline st_hdr st_header(const unsigned char *r)
{
    st_hdr h = {r[0], 0, 0};

    for (int i = 0; i < 4; i++)
        h.epoch = h.epoch << 8 | r[1 + i];
    for (int i = 0; i < 6; i++)
        h.seq = h.seq << 8 | r[5 + i];
    return h;
}

static inline void st_put_header(unsigned char *r, uint64_t epoch, uint64_t seq)
{
    r[0] = 1;
    for (int i = 0; i < 4; i++)
        r[1 + i] = (unsigned char)(epoch >> (8 * (3 - i)));
    for (int i = 0; i < 6; i++)
        r[5 + i] = (unsigned char)(seq >> (8 * (5 - i)));
}

/* ---- sessions ---- */

/* The test service key: 32 bytes, fixed. */
static const unsigned char st_key[32] = {
    0x5a, 0x01, 0x9c, 0x33, 0x47, 0xe2, 0x10, 0x8b, 0x6d, 0x2f, 0xc4, 0x71, 0x08, 0xbb, 0x95, 0x3e,
    0x12, 0xa7, 0x64, 0xd9, 0x2c, 0x80, 0xf3, 0x4e, 0x37, 0x61, 0xae, 0x05, 0xdb, 0x78, 0x1f, 0xc6,
};

/*
 * Every sender in one process needs a key that no other sender used: the
 * provider refuses a second encrypting context with the same key (key
 * registry). Tests therefore give each sender/receiver pair its own
 * originator name.
 */
static unsigned st_name_counter;

static inline void st_unique_name(char *buf, size_t len, const char *what)
{
    snprintf(buf, len, "CAE-%s-%u-%ld", what, st_name_counter++, (long)getpid());
}

static inline m2msec_session *st_session(m2msec_session_role role, const char *originator,
                                         const m2msec_session_policy *pol,
                                         const m2msec_store *store)
{
    m2msec_session_config cfg = {0};

    cfg.role = role;
    cfg.libctx = st_libctx;
    cfg.key = st_key;
    cfg.key_len = sizeof(st_key);
    cfg.originator = originator;
    cfg.receiver = "MN-CSE-session-test";
    cfg.policy = pol;
    cfg.store = store;
    return m2msec_session_new(&cfg);
}

/* ---- the plain reference implementation (default provider only) ---- */

typedef struct {
    const char *m2m; /* M2M-REC cipher */
    const char *evp; /* OpenSSL's own AEAD */
    size_t keylen;
    int ccm;
    size_t taglen;     /* 16, or 8 (CCM only) */
    const char *label; /* the aead label bound into the key (PROTOCOL.md 6.2) */
} st_alg;

static const st_alg st_algs[] = {
    {M2MSEC_REC_AES_128_GCM, "AES-128-GCM", 16, 0, 16, M2MSEC_REC_AES_128_GCM},
    {M2MSEC_REC_AES_256_GCM, "AES-256-GCM", 32, 0, 16, M2MSEC_REC_AES_256_GCM},
    {M2MSEC_REC_CHACHA20_POLY1305, "ChaCha20-Poly1305", 32, 0, 16, M2MSEC_REC_CHACHA20_POLY1305},
    {M2MSEC_REC_AES_128_CCM, "AES-128-CCM", 16, 1, 16, M2MSEC_REC_AES_128_CCM},
};
#define ST_NALGS (sizeof(st_algs) / sizeof(st_algs[0]))

/* AES-128-CCM with an 8-byte tag (session policy tag_len 8). */
static const st_alg st_alg_ccm8 = {M2MSEC_REC_AES_128_CCM,     "AES-128-CCM", 16, 1, 8,
                                   M2MSEC_REC_AES_128_CCM "-8"};

static inline unsigned char *st_put_u(unsigned char *p, uint64_t v, int bytes)
{
    for (int i = bytes - 1; i >= 0; i--)
        *p++ = (unsigned char)(v >> (8 * i));
    return p;
}

static inline unsigned char *st_put_lp(unsigned char *p, const char *s)
{
    size_t n = strlen(s);

    p = st_put_u(p, n, 2);
    memcpy(p, s, n);
    return p + n;
}

/*
 * info of M2M-SESSION-KDF, docs/PROTOCOL.md 2.2, for ASCII identifiers, no
 * nonces, not-before 0. Returns its length (buffer of 512 bytes is plenty).
 */
static inline size_t st_plain_info(unsigned char *info, const char *purpose, const char *originator,
                                   const char *receiver, uint64_t epoch, uint64_t lifetime,
                                   const char *aead, size_t L)
{
    unsigned char *p = info;

    p = st_put_lp(p, "m2msec session key v1");
    p = st_put_lp(p, purpose);
    p = st_put_lp(p, originator);
    p = st_put_lp(p, receiver);
    p = st_put_u(p, epoch, 8);
    p = st_put_u(p, 0, 8); /* not-before */
    p = st_put_u(p, lifetime, 8);
    p = st_put_lp(p, aead);
    p = st_put_u(p, L, 4);
    p = st_put_u(p, 0, 2); /* originator-nonce: empty */
    p = st_put_u(p, 0, 2); /* receiver-nonce: empty */
    return (size_t)(p - info);
}

/* Stock HKDF-SHA256 from the reference context. 1 on success. */
static inline int st_plain_hkdf(const unsigned char *key, size_t keylen, const unsigned char *info,
                                size_t infolen, unsigned char *out, size_t outlen)
{
    EVP_KDF *kdf = EVP_KDF_fetch(st_refctx, "HKDF", NULL);
    EVP_KDF_CTX *c = kdf != NULL ? EVP_KDF_CTX_new(kdf) : NULL;
    OSSL_PARAM p[4];
    int ok;

    p[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0);
    p[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)key, keylen);
    p[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info, infolen);
    p[3] = OSSL_PARAM_construct_end();
    ok = c != NULL && EVP_KDF_derive(c, out, outlen, p) > 0;
    EVP_KDF_CTX_free(c);
    EVP_KDF_free(kdf);
    return ok;
}

/* Epoch key material (key || static IV) of the session defaults, the plain way. */
static inline int st_plain_epoch_km(const st_alg *a, const char *originator, const char *receiver,
                                    uint64_t epoch, uint64_t lifetime, unsigned char *km)
{
    unsigned char info[512];
    size_t L = a->keylen + ST_IVLEN;
    size_t n =
        st_plain_info(info, "m2msec record", originator, receiver, epoch, lifetime, a->label, L);

    return st_plain_hkdf(st_key, sizeof(st_key), info, n, km, L);
}

/* The same through M2M-SESSION-KDF (the provider), with the documented parameters. */
static inline int st_m2m_epoch_km(const st_alg *a, const char *originator, const char *receiver,
                                  uint64_t epoch, uint64_t lifetime, unsigned char *km)
{
    EVP_KDF *kdf = EVP_KDF_fetch(st_libctx, "M2M-SESSION-KDF", NULL);
    EVP_KDF_CTX *c = kdf != NULL ? EVP_KDF_CTX_new(kdf) : NULL;
    uint64_t nb = 0;
    OSSL_PARAM p[9];
    int ok;

    p[0] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)st_key, sizeof(st_key));
    p[1] = OSSL_PARAM_construct_utf8_string("purpose", (char *)"m2msec record", 0);
    p[2] = OSSL_PARAM_construct_utf8_string("originator", (char *)originator, 0);
    p[3] = OSSL_PARAM_construct_utf8_string("receiver", (char *)receiver, 0);
    p[4] = OSSL_PARAM_construct_uint64("epoch", &epoch);
    p[5] = OSSL_PARAM_construct_uint64("not-before", &nb);
    p[6] = OSSL_PARAM_construct_uint64("lifetime", &lifetime);
    p[7] = OSSL_PARAM_construct_utf8_string("aead", (char *)a->label, 0);
    p[8] = OSSL_PARAM_construct_end();
    ok = c != NULL && EVP_KDF_derive(c, km, a->keylen + ST_IVLEN, p) > 0;
    EVP_KDF_CTX_free(c);
    EVP_KDF_free(kdf);
    return ok;
}

static inline void st_nonce(const unsigned char *iv, uint64_t seq, unsigned char *nonce)
{
    memcpy(nonce, iv, ST_IVLEN);
    for (int i = 0; i < 8; i++)
        nonce[ST_IVLEN - 1 - i] ^= (unsigned char)(seq >> (8 * i));
}

/*
 * Seal (enc = 1) or open (enc = 0) one record with OpenSSL's own AEAD.
 * Sealing writes the header, ciphertext and tag to rec (pt of ptlen bytes);
 * opening reads rec (reclen bytes) and writes the plaintext to pt. 1 on
 * success (opening: the tag verified).
 */
static inline int st_plain_crypt(const st_alg *a, const unsigned char *km, int enc,
                                 unsigned char *rec, size_t reclen, unsigned char *pt, size_t ptlen)
{
    EVP_CIPHER *c = EVP_CIPHER_fetch(st_refctx, a->evp, NULL);
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    unsigned char nonce[ST_IVLEN], aad[16 + 11], *tag;
    const unsigned char *in;
    unsigned char *out;
    size_t n, over = 11 + a->taglen;
    st_hdr h;
    int outl = 0, ok = 0;
    size_t ivlen = ST_IVLEN;
    OSSL_PARAM p[3];

    if (c == NULL || ctx == NULL)
        goto end;
    if (!enc) {
        if (reclen < over)
            goto end;
        ptlen = reclen - over;
    }
    n = ptlen;
    h = st_header(rec);
    st_nonce(km + a->keylen, h.seq, nonce);
    st_put_u(st_put_u(aad, h.epoch, 8), h.seq, 8);
    memcpy(aad + 16, rec, 11);
    tag = rec + 11 + n;
    in = enc ? pt : rec + 11;
    out = enc ? rec + 11 : pt;
    if (!EVP_CipherInit_ex2(ctx, c, NULL, NULL, enc, NULL))
        goto end;
    p[0] = OSSL_PARAM_construct_size_t(OSSL_CIPHER_PARAM_AEAD_IVLEN, &ivlen);
    p[1] =
        OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, enc ? NULL : tag, a->taglen);
    p[2] = OSSL_PARAM_construct_end();
    if (a->ccm && !EVP_CIPHER_CTX_set_params(ctx, p)) /* GCM and ChaCha: 12 and tag later */
        goto end;
    if (!EVP_CipherInit_ex2(ctx, NULL, km, nonce, enc, NULL))
        goto end;
    if (a->ccm && !EVP_CipherUpdate(ctx, NULL, &outl, NULL, (int)n))
        goto end;
    if (!EVP_CipherUpdate(ctx, NULL, &outl, aad, (int)sizeof(aad)))
        goto end;
    if (n > 0 || a->ccm) {
        unsigned char sink[1];
        static const unsigned char none[1];

        if (!EVP_CipherUpdate(ctx, n > 0 ? out : sink, &outl, n > 0 ? in : none, (int)n))
            goto end;
    }
    if (!enc && !a->ccm) {
        OSSL_PARAM t[2];

        t[0] = OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, tag, a->taglen);
        t[1] = OSSL_PARAM_construct_end();
        if (!EVP_CIPHER_CTX_set_params(ctx, t))
            goto end;
    }
    if (!a->ccm || enc) {
        unsigned char fin[32];

        if (!EVP_CipherFinal_ex(ctx, fin, &outl))
            goto end;
    }
    if (enc) {
        OSSL_PARAM t[2];

        t[0] = OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, tag, a->taglen);
        t[1] = OSSL_PARAM_construct_end();
        if (!EVP_CIPHER_CTX_get_params(ctx, t))
            goto end;
    }
    ok = 1;
end:
    EVP_CIPHER_CTX_free(ctx);
    EVP_CIPHER_free(c);
    if (!ok)
        ERR_clear_error();
    return ok;
}

/* Build a record the plain way: header(epoch, seq) || AEAD(pt) || tag. */
static inline int st_plain_seal(const st_alg *a, const unsigned char *km, uint64_t epoch,
                                uint64_t seq, const unsigned char *pt, size_t ptlen,
                                unsigned char *rec)
{
    st_put_header(rec, epoch, seq);
    return st_plain_crypt(a, km, 1, rec, ptlen + 11 + a->taglen, (unsigned char *)pt, ptlen);
}

static inline int st_plain_open(const st_alg *a, const unsigned char *km, const unsigned char *rec,
                                size_t reclen, unsigned char *pt)
{
    return st_plain_crypt(a, km, 0, (unsigned char *)rec, reclen, pt, 0);
}

static inline int st_run(const char *prog, const char *suite, const tc_test *tests, size_t n)
{
    int rc;

    st_rng_init(prog);
    if (!st_contexts_new()) {
        ERR_print_errors_fp(stderr);
        st_contexts_free();
        return 1;
    }
    rc = tc_run(prog, suite, NULL, NULL, tests, n);
    printf("%s: seed %" PRIu64 " (repeat with M2M_TEST_SEED=%" PRIu64 ")\n", prog, st_seed,
           st_seed);
    st_contexts_free();
    return rc;
}

#endif
