/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tests for the M2M-REC-* record ciphers, through EVP only.
 *
 * The provider is loaded into a fresh OSSL_LIB_CTX from $M2M_MODULES,
 * next to OpenSSL's default provider. The independent reference is a
 * plain EVP program using OpenSSL's own AES-GCM / ChaCha20-Poly1305 /
 * AES-CCM with the record format built here from its definition:
 *   nonce(seq) = static IV XOR u64be(seq) in the last 8 bytes
 *   AAD        = u64be(epoch) || u64be(seq) || application AAD
 *   ciphertext length = plaintext length, tag 16 bytes (CCM: 16 or 8).
 *
 * Every error path checks ERR_GET_REASON(ERR_peek_last_error()) against the
 * public M2MSEC_R_* code and the reason text against the documented one.
 * The key registry is per process, so every test uses fresh random keys.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <CUnit/Basic.h>
#include <CUnit/CUnit.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/provider.h>
#include <openssl/rand.h>

#include "m2msec/errors.h"
#include "m2msec/record.h"
#include "test_run.h"

#define IVLEN 12
#define MAXTAG 16
#define MAXREC 16384

typedef struct {
    const char *name; /* the M2M-REC cipher */
    const char *ref;  /* OpenSSL's own AEAD, default provider */
    size_t keylen;
    int ccm;
    uint64_t max_records, max_bytes, max_failures; /* default per-key limits */
} ALG;

static const ALG algs[] = {
    /* records: floor(2^24.5), floor(2^23.5); bytes: records of 2^14 bytes (ChaCha 2^60) */
    {M2MSEC_REC_AES_128_GCM, "AES-128-GCM", 16, 0, 23726566ull, 23726566ull << 14, 1ull << 36},
    {M2MSEC_REC_AES_256_GCM, "AES-256-GCM", 32, 0, 23726566ull, 23726566ull << 14, 1ull << 36},
    {M2MSEC_REC_CHACHA20_POLY1305, "ChaCha20-Poly1305", 32, 0, 1ull << 60, 1ull << 60, 1ull << 36},
    {M2MSEC_REC_AES_128_CCM, "AES-128-CCM", 16, 1, 11863283ull, 11863283ull << 14, 11863283ull},
};
#define NALGS (sizeof(algs) / sizeof(algs[0]))
#define GCM128 0
#define CCM 3

static OSSL_LIB_CTX *libctx;
static OSSL_PROVIDER *prov_m2m, *prov_default;
static EVP_CIPHER *rec_ciph[NALGS], *ref_ciph[NALGS];

/* ------------------------------------------------------------------ */
/* Keys, limits, contexts                                              */
/* ------------------------------------------------------------------ */

typedef struct {
    size_t ai; /* index into algs */
    unsigned char key[32], iv[IVLEN];
    uint64_t epoch;
    size_t taglen;
} KEYSET;

/* Optional ctx params; 0 = not set. */
typedef struct {
    uint64_t max_records, max_bytes, max_failures, not_after, window;
} LIMITS;

static void keyset_new(KEYSET *k, size_t ai, uint64_t epoch, size_t taglen)
{
    memset(k, 0, sizeof(*k));
    k->ai = ai;
    k->epoch = epoch;
    k->taglen = taglen;
    if (RAND_bytes(k->key, (int)sizeof(k->key)) != 1 || RAND_bytes(k->iv, IVLEN) != 1)
        abort();
}

/* Build init params from a keyset and limits into p (room for 10). */
static void build_params(OSSL_PARAM *p, const KEYSET *k, const LIMITS *lim, LIMITS *store,
                         uint64_t *epoch, size_t *taglen)
{
    size_t n = 0;

    *epoch = k->epoch;
    *taglen = k->taglen;
    p[n++] = OSSL_PARAM_construct_uint64(M2MSEC_REC_PARAM_EPOCH, epoch);
    if (k->taglen != MAXTAG)
        p[n++] = OSSL_PARAM_construct_size_t(OSSL_CIPHER_PARAM_AEAD_TAGLEN, taglen);
    if (lim != NULL) {
        *store = *lim;
        if (lim->max_records != 0)
            p[n++] = OSSL_PARAM_construct_uint64(M2MSEC_REC_PARAM_MAX_RECORDS, &store->max_records);
        if (lim->max_bytes != 0)
            p[n++] = OSSL_PARAM_construct_uint64(M2MSEC_REC_PARAM_MAX_BYTES, &store->max_bytes);
        if (lim->max_failures != 0)
            p[n++] =
                OSSL_PARAM_construct_uint64(M2MSEC_REC_PARAM_MAX_FAILURES, &store->max_failures);
        if (lim->not_after != 0)
            p[n++] = OSSL_PARAM_construct_uint64(M2MSEC_REC_PARAM_NOT_AFTER, &store->not_after);
        if (lim->window != 0)
            p[n++] = OSSL_PARAM_construct_uint64(M2MSEC_REC_PARAM_REPLAY_WINDOW, &store->window);
    }
    p[n] = OSSL_PARAM_construct_end();
}

/* A record ctx for k; NULL (error left on the queue) if init is refused. */
static EVP_CIPHER_CTX *rec_ctx(const KEYSET *k, int enc, const LIMITS *lim)
{
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    OSSL_PARAM p[10];
    LIMITS store;
    uint64_t epoch;
    size_t taglen;
    int ok;

    if (ctx == NULL)
        return NULL;
    build_params(p, k, lim, &store, &epoch, &taglen);
    ok = enc ? EVP_EncryptInit_ex2(ctx, rec_ciph[k->ai], k->key, k->iv, p)
             : EVP_DecryptInit_ex2(ctx, rec_ciph[k->ai], k->key, k->iv, p);
    if (!ok) {
        EVP_CIPHER_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

/*
 * An encrypting (limits @p elim) and a decrypting (@p dlim) context for
 * @p k; either limit may be NULL. The test stops if either is not made.
 */
static void rec_pair(const KEYSET *k, const LIMITS *elim, const LIMITS *dlim, EVP_CIPHER_CTX **e,
                     EVP_CIPHER_CTX **d)
{
    *e = rec_ctx(k, 1, elim);
    *d = rec_ctx(k, 0, dlim);
    CU_ASSERT_PTR_NOT_NULL_FATAL(*e);
    CU_ASSERT_PTR_NOT_NULL_FATAL(*d);
}

static int get_u64(EVP_CIPHER_CTX *ctx, const char *name, uint64_t *v)
{
    OSSL_PARAM p[2];

    *v = UINT64_MAX;
    p[0] = OSSL_PARAM_construct_uint64(name, v);
    p[1] = OSSL_PARAM_construct_end();
    return EVP_CIPHER_CTX_get_params(ctx, p);
}

static int get_int(EVP_CIPHER_CTX *ctx, const char *name)
{
    OSSL_PARAM p[2];
    int v = -1;

    p[0] = OSSL_PARAM_construct_int(name, &v);
    p[1] = OSSL_PARAM_construct_end();
    if (!EVP_CIPHER_CTX_get_params(ctx, p))
        return -2;
    return v;
}

static int set_u64(EVP_CIPHER_CTX *ctx, const char *name, uint64_t v)
{
    OSSL_PARAM p[2];

    p[0] = OSSL_PARAM_construct_uint64(name, &v);
    p[1] = OSSL_PARAM_construct_end();
    return EVP_CIPHER_CTX_set_params(ctx, p);
}

/* Read a uint64 param; CU-asserts that it is readable. */
static uint64_t read_u64(EVP_CIPHER_CTX *ctx, const char *name)
{
    uint64_t v;

    CU_ASSERT(get_u64(ctx, name, &v));
    return v;
}

/* ------------------------------------------------------------------ */
/* Errors                                                              */
/* ------------------------------------------------------------------ */

static const char *reason_text(int reason)
{
    switch (reason) {
    case M2MSEC_R_INVALID_PARAMETER:
        return "invalid parameter";
    case M2MSEC_R_REPLAYED_RECORD:
        return "replayed record";
    case M2MSEC_R_OUTSIDE_WINDOW:
        return "record outside replay window";
    case M2MSEC_R_AUTH_FAILED:
        return "authentication failed";
    case M2MSEC_R_KEY_EXPIRED:
        return "session key expired";
    case M2MSEC_R_KEY_REUSED:
        return "key already used for encryption";
    case M2MSEC_R_BAD_STATE:
        return "operation out of order";
    case M2MSEC_R_COPY_REFUSED:
        return "record context cannot be copied";
    default:
        return "?";
    }
}

/* Does error e carry the m2msec reason with its documented text? */
static int is_m2m_error(unsigned long e, int reason)
{
    const char *txt = ERR_reason_error_string(e), *lib = ERR_lib_error_string(e);

    return e != 0 && ERR_GET_REASON(e) == reason && txt != NULL &&
           strcmp(txt, reason_text(reason)) == 0 && lib != NULL && strcmp(lib, "m2msec") == 0;
}

static void show_error(const char *what, int reason, const char *file, int line)
{
    unsigned long e = ERR_peek_last_error();
    const char *txt = ERR_reason_error_string(e);

    fprintf(stderr, "\n  %s:%d: %s: want reason %d \"%s\", last error reason %d \"%s\"\n", file,
            line, what, reason, reason_text(reason), ERR_GET_REASON(e), txt ? txt : "(null)");
    ERR_print_errors_fp(stderr);
}

/* The operation failed: the last error is the m2msec error `reason`. */
static void expect_error_at(int reason, const char *file, int line)
{
    int ok = is_m2m_error(ERR_peek_last_error(), reason);

    CU_assertImplementation(ok ? CU_TRUE : CU_FALSE, (unsigned)line, "expected m2msec error", file,
                            "", CU_FALSE);
    if (!ok)
        show_error("wrong or missing error", reason, file, line);
    ERR_clear_error();
}
#define EXPECT_ERR(r) expect_error_at((r), __FILE__, __LINE__)

/* A call must fail with reason r. */
#define EXPECT_FAIL(call, r)                                                                       \
    do {                                                                                           \
        ERR_clear_error();                                                                         \
        CU_ASSERT_FALSE(call);                                                                     \
        EXPECT_ERR(r);                                                                             \
    } while (0)

/* A call must succeed and leave no error behind. */
#define EXPECT_OK(call)                                                                            \
    do {                                                                                           \
        ERR_clear_error();                                                                         \
        int ok_ = (call);                                                                          \
        CU_ASSERT(ok_);                                                                            \
        CU_ASSERT_EQUAL(ERR_peek_error(), 0);                                                      \
        if (!ok_)                                                                                  \
            ERR_print_errors_fp(stderr);                                                           \
        ERR_clear_error();                                                                         \
    } while (0)

/* ------------------------------------------------------------------ */
/* Records through the provider                                        */
/* ------------------------------------------------------------------ */

/* Encrypt one record; its sequence number in *seq. 1 on success. */
static int seal(EVP_CIPHER_CTX *ctx, const unsigned char *aad, size_t aadlen,
                const unsigned char *pt, size_t len, unsigned char *ct, unsigned char *tag,
                size_t taglen, uint64_t *seq)
{
    static const unsigned char dummy[1];
    OSSL_PARAM p[3];
    int n = 0, m = 0;

    if (aadlen > 0 && !EVP_EncryptUpdate(ctx, NULL, &n, aad, (int)aadlen))
        return 0;
    /* Zero-length data still goes through update half of the time. */
    if (len > 0 || (aadlen & 1)) {
        if (!EVP_EncryptUpdate(ctx, ct, &n, len > 0 ? pt : dummy, (int)len) || n != (int)len)
            return 0;
    }
    if (!EVP_EncryptFinal_ex(ctx, ct + len, &m) || m != 0)
        return 0;
    p[0] = OSSL_PARAM_construct_uint64(M2MSEC_REC_PARAM_SEQ, seq);
    p[1] = OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, tag, taglen);
    p[2] = OSSL_PARAM_construct_end();
    if (!EVP_CIPHER_CTX_get_params(ctx, p))
        return 0;
    return p[1].return_size == taglen;
}

enum { OPEN_OK = 0, OPEN_SEQ, OPEN_AAD, OPEN_DATA, OPEN_FINAL };

/*
 * Decrypt one record; returns the step that failed (OPEN_OK on success).
 * late_tag: GCM/ChaCha only, give the tag after the data, before final.
 */
static int open_rec(EVP_CIPHER_CTX *ctx, uint64_t seq, const unsigned char *aad, size_t aadlen,
                    const unsigned char *ct, size_t len, const unsigned char *tag, size_t taglen,
                    unsigned char *pt, int late_tag)
{
    static const unsigned char dummy[1];
    unsigned char sink[1];
    OSSL_PARAM p[3];
    int n = 0;

    p[0] = OSSL_PARAM_construct_uint64(M2MSEC_REC_PARAM_SEQ, &seq);
    p[1] = OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, (void *)tag, taglen);
    p[2] = OSSL_PARAM_construct_end();
    if (late_tag)
        p[1] = OSSL_PARAM_construct_end();
    if (!EVP_CIPHER_CTX_set_params(ctx, p))
        return OPEN_SEQ;
    if (aadlen > 0 && !EVP_DecryptUpdate(ctx, NULL, &n, aad, (int)aadlen))
        return OPEN_AAD;
    if (len > 0 || (aadlen & 1)) {
        if (!EVP_DecryptUpdate(ctx, len > 0 ? pt : sink, &n, len > 0 ? ct : dummy, (int)len))
            return OPEN_DATA;
        if (n != (int)len)
            return OPEN_DATA;
    }
    if (late_tag) {
        p[0] = OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, (void *)tag, taglen);
        p[1] = OSSL_PARAM_construct_end();
        if (!EVP_CIPHER_CTX_set_params(ctx, p))
            return OPEN_FINAL;
    }
    if (!EVP_DecryptFinal_ex(ctx, len > 0 ? pt + len : sink, &n) || n != 0)
        return OPEN_FINAL;
    return OPEN_OK;
}

/* ------------------------------------------------------------------ */
/* The independent reference: OpenSSL's own AEADs                      */
/* ------------------------------------------------------------------ */

static void ref_nonce(const unsigned char iv[IVLEN], uint64_t seq, unsigned char nonce[IVLEN])
{
    memcpy(nonce, iv, IVLEN);
    for (int i = 0; i < 8; i++)
        nonce[IVLEN - 8 + i] ^= (unsigned char)(seq >> (56 - 8 * i));
}

static size_t ref_aad(uint64_t epoch, uint64_t seq, const unsigned char *aad, size_t aadlen,
                      unsigned char *out)
{
    for (int i = 0; i < 8; i++) {
        out[i] = (unsigned char)(epoch >> (56 - 8 * i));
        out[8 + i] = (unsigned char)(seq >> (56 - 8 * i));
    }
    if (aadlen > 0)
        memcpy(out + 16, aad, aadlen);
    return 16 + aadlen;
}

/* Seal with the stock AEAD (enc) or open it (!enc); 1 on success / tag verified. */
static int ref_crypt(const KEYSET *k, int enc, uint64_t seq, const unsigned char *aad,
                     size_t aadlen, const unsigned char *in, size_t len, unsigned char *out,
                     unsigned char *tag)
{
    const ALG *a = &algs[k->ai];
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    unsigned char nonce[IVLEN], fullaad[16 + 64], scratch[1];
    static const unsigned char dummy[1];
    size_t fulllen = ref_aad(k->epoch, seq, aad, aadlen, fullaad);
    int n, ok = 0;

    ref_nonce(k->iv, seq, nonce);
    if (ctx == NULL || !EVP_CipherInit_ex2(ctx, ref_ciph[k->ai], NULL, NULL, enc, NULL))
        goto end;
    if (a->ccm) {
        size_t ivl = IVLEN;
        OSSL_PARAM p[3];

        p[0] = OSSL_PARAM_construct_size_t(OSSL_CIPHER_PARAM_AEAD_IVLEN, &ivl);
        p[1] = OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, enc ? NULL : tag,
                                                 k->taglen);
        p[2] = OSSL_PARAM_construct_end();
        if (!EVP_CIPHER_CTX_set_params(ctx, p))
            goto end;
    }
    if (!EVP_CipherInit_ex2(ctx, NULL, k->key, nonce, enc, NULL))
        goto end;
    if (a->ccm && !EVP_CipherUpdate(ctx, NULL, &n, NULL, (int)len)) /* CCM: length first */
        goto end;
    if (!EVP_CipherUpdate(ctx, NULL, &n, fullaad, (int)fulllen))
        goto end;
    if (len > 0 || a->ccm) {
        if (!EVP_CipherUpdate(ctx, len > 0 ? out : scratch, &n, len > 0 ? in : dummy, (int)len))
            goto end; /* CCM decryption verifies here */
    }
    if (!enc && !a->ccm) {
        OSSL_PARAM p[2];

        p[0] = OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, tag, k->taglen);
        p[1] = OSSL_PARAM_construct_end();
        if (!EVP_CIPHER_CTX_set_params(ctx, p))
            goto end;
    }
    if (!EVP_CipherFinal_ex(ctx, len > 0 ? out + len : scratch, &n))
        goto end;
    if (enc) {
        OSSL_PARAM p[2];

        p[0] = OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, tag, k->taglen);
        p[1] = OSSL_PARAM_construct_end();
        if (!EVP_CIPHER_CTX_get_params(ctx, p))
            goto end;
    }
    ok = 1;
end:
    EVP_CIPHER_CTX_free(ctx);
    return ok;
}

static int ref_seal(const KEYSET *k, uint64_t seq, const unsigned char *aad, size_t aadlen,
                    const unsigned char *pt, size_t len, unsigned char *ct, unsigned char *tag)
{
    return ref_crypt(k, 1, seq, aad, aadlen, pt, len, ct, tag);
}

static int ref_open(const KEYSET *k, uint64_t seq, const unsigned char *aad, size_t aadlen,
                    const unsigned char *ct, size_t len, const unsigned char *tag,
                    unsigned char *pt)
{
    unsigned char t[MAXTAG];

    memcpy(t, tag, k->taglen);
    return ref_crypt(k, 0, seq, aad, aadlen, ct, len, pt, t);
}

/* ------------------------------------------------------------------ */
/* Shared buffers                                                      */
/* ------------------------------------------------------------------ */

static unsigned char pt_buf[MAXREC], ct_buf[MAXREC + 32], ct2_buf[MAXREC + 32],
    out_buf[MAXREC + 32];
static const size_t rec_sizes[] = {0, 1, 64, 1024, 16384};
#define NSIZES (sizeof(rec_sizes) / sizeof(rec_sizes[0]))
static const unsigned char app_aad[13] = "m2m header 13";

static void fill(unsigned char *b, size_t n)
{
    if (n > 0 && RAND_bytes(b, (int)n) != 1)
        abort();
}

/* ------------------------------------------------------------------ */
/* Round trips and the reference                                       */
/* ------------------------------------------------------------------ */

static void round_trip(size_t ai, size_t taglen)
{
    KEYSET k;
    EVP_CIPHER_CTX *e, *d;
    uint64_t want = 0;

    keyset_new(&k, ai, 3, taglen);
    rec_pair(&k, NULL, NULL, &e, &d);
    for (int with_aad = 0; with_aad < 2; with_aad++) {
        for (size_t s = 0; s < NSIZES; s++) {
            size_t len = rec_sizes[s], aadlen = with_aad ? sizeof(app_aad) : 0;
            unsigned char tag[MAXTAG];
            uint64_t seq = UINT64_MAX;

            fill(pt_buf, len);
            EXPECT_OK(seal(e, app_aad, aadlen, pt_buf, len, ct_buf, tag, taglen, &seq));
            CU_ASSERT_EQUAL(seq, want);
            want++;
            CU_ASSERT_EQUAL(read_u64(e, M2MSEC_REC_PARAM_NEXT_SEQ), want);
            if (len >= 16) /* ciphertext is not the plaintext */
                CU_ASSERT(memcmp(ct_buf, pt_buf, len) != 0);
            memset(out_buf, 0xee, len + 1);
            ERR_clear_error();
            CU_ASSERT_EQUAL(open_rec(d, seq, app_aad, aadlen, ct_buf, len, tag, taglen, out_buf,
                                     !algs[ai].ccm && (s & 1)),
                            OPEN_OK);
            CU_ASSERT_EQUAL(ERR_peek_error(), 0);
            CU_ASSERT(len == 0 || memcmp(out_buf, pt_buf, len) == 0);
            CU_ASSERT_EQUAL(out_buf[len], 0xee); /* nothing written past the record */
        }
    }
    CU_ASSERT_EQUAL(read_u64(e, M2MSEC_REC_PARAM_RECORDS), want);
    CU_ASSERT_EQUAL(read_u64(d, M2MSEC_REC_PARAM_RECORDS), want);
    CU_ASSERT_EQUAL(read_u64(d, M2MSEC_REC_PARAM_SEQ), want - 1);
    CU_ASSERT_EQUAL(read_u64(d, M2MSEC_REC_PARAM_FAILURES), 0);
    CU_ASSERT_EQUAL(read_u64(e, M2MSEC_REC_PARAM_BYTES), 2 * (0 + 1 + 64 + 1024 + 16384));
    CU_ASSERT_EQUAL(read_u64(d, M2MSEC_REC_PARAM_BYTES), 2 * (0 + 1 + 64 + 1024 + 16384));
    EVP_CIPHER_CTX_free(e);
    EVP_CIPHER_CTX_free(d);
}

static void test_round_trip(void)
{
    for (size_t ai = 0; ai < NALGS; ai++)
        round_trip(ai, MAXTAG);
}

/* M2M seals, the stock AEAD opens and re-seals byte for byte. */
static void reference_seal(size_t ai, size_t taglen)
{
    KEYSET k;
    EVP_CIPHER_CTX *e;

    keyset_new(&k, ai, 0x0102030405060708ull, taglen);
    e = rec_ctx(&k, 1, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    for (int with_aad = 0; with_aad < 2; with_aad++) {
        for (size_t s = 0; s < NSIZES; s++) {
            size_t len = rec_sizes[s], aadlen = with_aad ? sizeof(app_aad) : 0;
            unsigned char tag[MAXTAG], tag2[MAXTAG];
            uint64_t seq = UINT64_MAX;

            fill(pt_buf, len);
            EXPECT_OK(seal(e, app_aad, aadlen, pt_buf, len, ct_buf, tag, taglen, &seq));
            CU_ASSERT(ref_open(&k, seq, app_aad, aadlen, ct_buf, len, tag, out_buf));
            CU_ASSERT(len == 0 || memcmp(out_buf, pt_buf, len) == 0);
            CU_ASSERT(ref_seal(&k, seq, app_aad, aadlen, pt_buf, len, ct2_buf, tag2));
            CU_ASSERT(len == 0 || memcmp(ct2_buf, ct_buf, len) == 0);
            CU_ASSERT(memcmp(tag2, tag, taglen) == 0);
            /* And the reference refuses it under a neighbouring seq. */
            CU_ASSERT_FALSE(ref_open(&k, seq + 1, app_aad, aadlen, ct_buf, len, tag, out_buf));
        }
    }
    EVP_CIPHER_CTX_free(e);
}

/*
 * The stock AEAD seals at chosen seqs; M2M opens them with the right seq.
 * Groups of five records (one per size) around each base, a little out of
 * order, across the 2^32 boundary and up to 2^64-1.
 */
static void reference_open(size_t ai, size_t taglen)
{
    static const uint64_t bases[] = {
        10, 300, (1ull << 32) - 3, (1ull << 32) + 100, (1ull << 63) + 9, UINT64_MAX - 10,
    };
    static const uint64_t offsets[NSIZES] = {3, 1, 0, 7, 10};
    KEYSET k;
    EVP_CIPHER_CTX *d;
    size_t r = 0;

    keyset_new(&k, ai, 0xfedcba9876543210ull, taglen);
    d = rec_ctx(&k, 0, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(d);
    for (size_t i = 0; i < sizeof(bases) / sizeof(bases[0]); i++) {
        for (size_t s = 0; s < NSIZES; s++, r++) {
            size_t len = rec_sizes[s], aadlen = (r & 1) ? sizeof(app_aad) : 0;
            unsigned char tag[MAXTAG];
            uint64_t seq = bases[i] + offsets[s];
            int rc;

            fill(pt_buf, len);
            CU_ASSERT_FATAL(ref_seal(&k, seq, app_aad, aadlen, pt_buf, len, ct_buf, tag));
            memset(out_buf, 0, len);
            ERR_clear_error();
            rc = open_rec(d, seq, app_aad, aadlen, ct_buf, len, tag, taglen, out_buf, 0);
            CU_ASSERT_EQUAL(rc, OPEN_OK);
            if (rc != OPEN_OK) {
                fprintf(stderr, "\n  %s: seq %" PRIu64 " len %zu: step %d\n", algs[ai].name, seq,
                        len, rc);
                ERR_print_errors_fp(stderr);
            }
            CU_ASSERT_EQUAL(ERR_peek_error(), 0);
            CU_ASSERT(len == 0 || memcmp(out_buf, pt_buf, len) == 0);
        }
    }
    CU_ASSERT_EQUAL(read_u64(d, M2MSEC_REC_PARAM_RECORDS), r);
    EVP_CIPHER_CTX_free(d);
}

static void test_reference(void)
{
    for (size_t ai = 0; ai < NALGS; ai++) {
        reference_seal(ai, MAXTAG);
        reference_open(ai, MAXTAG);
    }
}

/* ------------------------------------------------------------------ */
/* Replay and authentication errors                                    */
/* ------------------------------------------------------------------ */

typedef struct {
    uint64_t seq;
    size_t len;
    unsigned char pt[64], ct[64], tag[MAXTAG];
} SMALLREC;

/* Seal n records of 40 bytes with AAD app_aad into r[0..n-1]. */
static void seal_many(EVP_CIPHER_CTX *e, const KEYSET *k, SMALLREC *r, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        r[i].len = 40;
        fill(r[i].pt, r[i].len);
        CU_ASSERT_FATAL(seal(e, app_aad, sizeof(app_aad), r[i].pt, r[i].len, r[i].ct, r[i].tag,
                             k->taglen, &r[i].seq));
    }
}

static int open_small(EVP_CIPHER_CTX *d, const KEYSET *k, const SMALLREC *r, uint64_t seq)
{
    unsigned char pt[64];
    int rc;

    ERR_clear_error();
    rc = open_rec(d, seq, app_aad, sizeof(app_aad), r->ct, r->len, r->tag, k->taglen, pt, 0);
    if (rc == OPEN_OK && memcmp(pt, r->pt, r->len) != 0)
        return -1;
    return rc;
}

static void replay_errors(size_t ai)
{
    KEYSET k;
    EVP_CIPHER_CTX *e, *d;
    SMALLREC r[4];
    unsigned char pt[64];

    keyset_new(&k, ai, 0, MAXTAG);
    rec_pair(&k, NULL, NULL, &e, &d);
    seal_many(e, &k, r, 2);
    CU_ASSERT_EQUAL(open_small(d, &k, &r[0], r[0].seq), OPEN_OK);
    CU_ASSERT_EQUAL(read_u64(d, M2MSEC_REC_PARAM_REPLAY_WINDOW), 256); /* provider policy */
    /* Duplicate: refused when the seq is set, before any decryption. */
    CU_ASSERT_EQUAL(open_small(d, &k, &r[0], r[0].seq), OPEN_SEQ);
    EXPECT_ERR(M2MSEC_R_REPLAYED_RECORD);
    /* Data without a (successfully set) seq after that refusal: out of order. */
    CU_ASSERT_FALSE(EVP_DecryptUpdate(d, pt, &(int){0}, r[0].ct, (int)r[0].len));
    EXPECT_ERR(M2MSEC_R_BAD_STATE);
    CU_ASSERT_EQUAL(open_small(d, &k, &r[1], r[1].seq), OPEN_OK);
    CU_ASSERT_EQUAL(open_small(d, &k, &r[1], r[1].seq), OPEN_SEQ);
    EXPECT_ERR(M2MSEC_R_REPLAYED_RECORD);

    /* Too old: the stock AEAD makes records far ahead. */
    {
        SMALLREC far, edge, old;
        far.len = edge.len = old.len = 40;
        fill(far.pt, 40);
        fill(edge.pt, 40);
        fill(old.pt, 40);
        CU_ASSERT(ref_seal(&k, 1000, app_aad, sizeof(app_aad), far.pt, 40, far.ct, far.tag));
        CU_ASSERT(
            ref_seal(&k, 1000 - 255, app_aad, sizeof(app_aad), edge.pt, 40, edge.ct, edge.tag));
        CU_ASSERT(ref_seal(&k, 1000 - 256, app_aad, sizeof(app_aad), old.pt, 40, old.ct, old.tag));
        CU_ASSERT_EQUAL(open_small(d, &k, &far, 1000), OPEN_OK);
        CU_ASSERT_EQUAL(open_small(d, &k, &old, 1000 - 256), OPEN_SEQ);
        EXPECT_ERR(M2MSEC_R_OUTSIDE_WINDOW);
        /* Accepted before and now too old: "outside window" (PROTOCOL.md 5.3). */
        CU_ASSERT_EQUAL(open_small(d, &k, &r[0], r[0].seq), OPEN_SEQ);
        EXPECT_ERR(M2MSEC_R_OUTSIDE_WINDOW);
        CU_ASSERT_EQUAL(open_small(d, &k, &edge, 1000 - 255), OPEN_OK);
        CU_ASSERT_EQUAL(open_small(d, &k, &edge, 1000 - 255), OPEN_SEQ);
        EXPECT_ERR(M2MSEC_R_REPLAYED_RECORD);
    }
    CU_ASSERT_EQUAL(read_u64(d, M2MSEC_REC_PARAM_FAILURES), 0);
    EVP_CIPHER_CTX_free(e);
    EVP_CIPHER_CTX_free(d);
}

static void test_replay_errors(void)
{
    for (size_t ai = 0; ai < NALGS; ai++)
        replay_errors(ai);
}

/* A forged variant fails with "authentication failed"; the genuine record then still opens. */
static void forged_then_genuine(EVP_CIPHER_CTX *d, const KEYSET *k, const SMALLREC *r,
                                const SMALLREC *forged, uint64_t forged_seq,
                                const unsigned char *aad, size_t aadlen, uint64_t *failures)
{
    unsigned char pt[64];
    int rc;

    ERR_clear_error();
    rc = open_rec(d, forged_seq, aad, aadlen, forged->ct, forged->len, forged->tag, k->taglen, pt,
                  0);
    CU_ASSERT(rc == OPEN_DATA || rc == OPEN_FINAL);
    CU_ASSERT_EQUAL(rc, algs[k->ai].ccm ? OPEN_DATA : OPEN_FINAL);
    EXPECT_ERR(M2MSEC_R_AUTH_FAILED);
    ++*failures;
    CU_ASSERT_EQUAL(read_u64(d, M2MSEC_REC_PARAM_FAILURES), *failures);
    /* The window did not learn the forged record. */
    CU_ASSERT_EQUAL(open_small(d, k, r, r->seq), OPEN_OK);
}

static void auth_errors(size_t ai, size_t taglen)
{
    KEYSET k, k_epoch;
    EVP_CIPHER_CTX *e, *d, *d_epoch;
    SMALLREC r[6], f;
    uint64_t failures = 0, fe = 0;
    static const unsigned char other_aad[13] = "m2m header 14";

    keyset_new(&k, ai, 5, taglen);
    e = rec_ctx(&k, 1, NULL);
    d = rec_ctx(&k, 0, NULL);
    k_epoch = k;
    k_epoch.epoch = 6;
    d_epoch = rec_ctx(&k_epoch, 0, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    CU_ASSERT_PTR_NOT_NULL_FATAL(d);
    CU_ASSERT_PTR_NOT_NULL_FATAL(d_epoch);
    seal_many(e, &k, r, 6);

    /* Bit-flipped ciphertext (several positions). */
    f = r[0];
    f.ct[0] ^= 0x01;
    forged_then_genuine(d, &k, &r[0], &f, r[0].seq, app_aad, sizeof(app_aad), &failures);
    f = r[1];
    f.ct[39] ^= 0x80;
    forged_then_genuine(d, &k, &r[1], &f, r[1].seq, app_aad, sizeof(app_aad), &failures);
    /* Bit-flipped tag (first and last byte). */
    f = r[2];
    f.tag[0] ^= 0x01;
    forged_then_genuine(d, &k, &r[2], &f, r[2].seq, app_aad, sizeof(app_aad), &failures);
    f = r[3];
    f.tag[taglen - 1] ^= 0x80;
    forged_then_genuine(d, &k, &r[3], &f, r[3].seq, app_aad, sizeof(app_aad), &failures);
    /* Wrong application AAD, and none at all. */
    forged_then_genuine(d, &k, &r[4], &r[4], r[4].seq, other_aad, sizeof(other_aad), &failures);
    /* Wrong seq: record 5 presented as record 4 is refused as a duplicate ... */
    CU_ASSERT_EQUAL(open_small(d, &k, &r[5], r[4].seq), OPEN_SEQ);
    EXPECT_ERR(M2MSEC_R_REPLAYED_RECORD);
    /* ... and as a fresh record 6 it fails authentication; 6 stays fresh. */
    forged_then_genuine(d, &k, &r[5], &r[5], r[5].seq + 1, app_aad, sizeof(app_aad), &failures);
    CU_ASSERT_EQUAL(open_small(d, &k, &r[5], r[5].seq), OPEN_SEQ);
    EXPECT_ERR(M2MSEC_R_REPLAYED_RECORD);
    {
        SMALLREC r6;
        seal_many(e, &k, &r6, 1);
        CU_ASSERT_EQUAL(r6.seq, r[5].seq + 1);
        CU_ASSERT_EQUAL(open_small(d, &k, &r6, r6.seq), OPEN_OK);
    }
    /* No AAD where there was some. */
    {
        SMALLREC r7;
        unsigned char pt[64];

        seal_many(e, &k, &r7, 1);
        ERR_clear_error();
        CU_ASSERT_NOT_EQUAL(open_rec(d, r7.seq, NULL, 0, r7.ct, r7.len, r7.tag, taglen, pt, 0),
                            OPEN_OK);
        EXPECT_ERR(M2MSEC_R_AUTH_FAILED);
        failures++;
        CU_ASSERT_EQUAL(open_small(d, &k, &r7, r7.seq), OPEN_OK);
    }
    /* Wrong epoch: same key and IV, a ctx for epoch 6 instead of 5. */
    for (size_t i = 0; i < 6; i++) {
        int rc = open_small(d_epoch, &k_epoch, &r[i], r[i].seq);

        CU_ASSERT_EQUAL(rc, algs[ai].ccm ? OPEN_DATA : OPEN_FINAL);
        EXPECT_ERR(M2MSEC_R_AUTH_FAILED);
        fe++;
    }
    /*
     * d and d_epoch hold the same key: its failed decryptions are counted
     * per key, over all its contexts (PROTOCOL.md 5.3), so both read the sum.
     */
    CU_ASSERT_EQUAL(read_u64(d_epoch, M2MSEC_REC_PARAM_FAILURES), failures + fe);
    CU_ASSERT_EQUAL(read_u64(d_epoch, M2MSEC_REC_PARAM_RECORDS), 0);
    CU_ASSERT_EQUAL(read_u64(d_epoch, M2MSEC_REC_PARAM_EPOCH), 6);
    CU_ASSERT_EQUAL(read_u64(d, M2MSEC_REC_PARAM_FAILURES), failures + fe);
    CU_ASSERT_EQUAL(read_u64(d, M2MSEC_REC_PARAM_RECORDS), 8);
    EVP_CIPHER_CTX_free(e);
    EVP_CIPHER_CTX_free(d);
    EVP_CIPHER_CTX_free(d_epoch);
}

static void test_auth_errors(void)
{
    for (size_t ai = 0; ai < NALGS; ai++)
        auth_errors(ai, MAXTAG);
}

/* ------------------------------------------------------------------ */
/* Limits                                                              */
/* ------------------------------------------------------------------ */

static uint64_t now_s(void)
{
    return (uint64_t)time(NULL);
}

/* A 40-byte record sealed by the reference at seq (for decrypt-side tests). */
static void ref_small(const KEYSET *k, uint64_t seq, size_t len, SMALLREC *r)
{
    r->seq = seq;
    r->len = len;
    fill(r->pt, len);
    CU_ASSERT_FATAL(ref_seal(k, seq, app_aad, sizeof(app_aad), r->pt, len, r->ct, r->tag));
}

static int seal_small(EVP_CIPHER_CTX *e, const KEYSET *k, SMALLREC *r, size_t len)
{
    r->len = len;
    fill(r->pt, len);
    ERR_clear_error();
    return seal(e, app_aad, sizeof(app_aad), r->pt, len, r->ct, r->tag, k->taglen, &r->seq);
}

static void test_not_after_past(void)
{
    for (size_t ai = 0; ai < NALGS; ai++) {
        KEYSET k;
        LIMITS lim = {0};
        EVP_CIPHER_CTX *e, *d;
        SMALLREC r;

        keyset_new(&k, ai, 0, MAXTAG);
        lim.not_after = now_s() - 1;
        rec_pair(&k, &lim, &lim, &e, &d);
        CU_ASSERT_FALSE(seal_small(e, &k, &r, 40));
        EXPECT_ERR(M2MSEC_R_KEY_EXPIRED);
        /* An empty record without AAD is refused too. */
        ERR_clear_error();
        CU_ASSERT_FALSE(seal(e, NULL, 0, NULL, 0, r.ct, r.tag, MAXTAG, &r.seq));
        EXPECT_ERR(M2MSEC_R_KEY_EXPIRED);
        CU_ASSERT_EQUAL(get_int(e, M2MSEC_REC_PARAM_EXPIRED), 1);
        CU_ASSERT_EQUAL(read_u64(e, M2MSEC_REC_PARAM_NOT_AFTER), lim.not_after);
        ref_small(&k, 0, 40, &r);
        CU_ASSERT_EQUAL(open_small(d, &k, &r, 0), OPEN_SEQ);
        EXPECT_ERR(M2MSEC_R_KEY_EXPIRED);
        CU_ASSERT_EQUAL(get_int(d, M2MSEC_REC_PARAM_EXPIRED), 1);
        CU_ASSERT_EQUAL(get_int(d, M2MSEC_REC_PARAM_REKEY_NEEDED), 1);
        CU_ASSERT_EQUAL(read_u64(d, M2MSEC_REC_PARAM_RECORDS), 0);
        EVP_CIPHER_CTX_free(e);
        EVP_CIPHER_CTX_free(d);
    }
}

static void test_max_records(void)
{
    for (size_t ai = 0; ai < NALGS; ai++) {
        KEYSET k;
        LIMITS lim = {0};
        EVP_CIPHER_CTX *e, *d;
        SMALLREC r[11];

        keyset_new(&k, ai, 0, MAXTAG);
        lim.max_records = 10;
        rec_pair(&k, &lim, &lim, &e, &d);
        CU_ASSERT_EQUAL(get_int(e, M2MSEC_REC_PARAM_REKEY_NEEDED), 0);
        CU_ASSERT_EQUAL(get_int(e, M2MSEC_REC_PARAM_EXPIRED), 0);
        for (uint64_t i = 0; i < 10; i++) {
            int ok = seal_small(e, &k, &r[i], 40);

            CU_ASSERT(ok);
            if (!ok) {
                fprintf(stderr, "\n  %s: record %" PRIu64 " of max-records 10 refused:\n",
                        algs[ai].name, i + 1);
                ERR_print_errors_fp(stderr);
                ref_small(&k, i, 40, &r[i]);
            }
            CU_ASSERT_EQUAL(r[i].seq, i);
            /* Soft limit: 80 % of 10 records. */
            CU_ASSERT_EQUAL(get_int(e, M2MSEC_REC_PARAM_REKEY_NEEDED), i + 1 >= 8);
            CU_ASSERT_EQUAL(get_int(e, M2MSEC_REC_PARAM_EXPIRED), i + 1 >= 10);
            CU_ASSERT_EQUAL(open_small(d, &k, &r[i], r[i].seq), OPEN_OK);
            CU_ASSERT_EQUAL(get_int(d, M2MSEC_REC_PARAM_REKEY_NEEDED), i + 1 >= 8);
            CU_ASSERT_EQUAL(get_int(d, M2MSEC_REC_PARAM_EXPIRED), i + 1 >= 10);
        }
        CU_ASSERT_EQUAL(read_u64(e, M2MSEC_REC_PARAM_RECORDS), 10);
        CU_ASSERT_EQUAL(read_u64(d, M2MSEC_REC_PARAM_RECORDS), 10);
        /* The 11th record, either way, with data or empty. */
        CU_ASSERT_FALSE(seal_small(e, &k, &r[10], 40));
        EXPECT_ERR(M2MSEC_R_KEY_EXPIRED);
        ERR_clear_error();
        CU_ASSERT_FALSE(seal(e, NULL, 0, NULL, 0, r[10].ct, r[10].tag, MAXTAG, &r[10].seq));
        EXPECT_ERR(M2MSEC_R_KEY_EXPIRED);
        CU_ASSERT_EQUAL(read_u64(e, M2MSEC_REC_PARAM_NEXT_SEQ), 10);
        ref_small(&k, 10, 40, &r[10]);
        CU_ASSERT_EQUAL(open_small(d, &k, &r[10], 10), OPEN_SEQ);
        EXPECT_ERR(M2MSEC_R_KEY_EXPIRED);
        EVP_CIPHER_CTX_free(e);
        EVP_CIPHER_CTX_free(d);
    }
}

static void test_max_bytes(void)
{
    for (size_t ai = 0; ai < NALGS; ai++) {
        KEYSET k;
        LIMITS lim = {0};
        EVP_CIPHER_CTX *e, *d;
        SMALLREC r[5];

        keyset_new(&k, ai, 0, MAXTAG);
        lim.max_bytes = 100;
        rec_pair(&k, &lim, &lim, &e, &d);
        CU_ASSERT(seal_small(e, &k, &r[0], 40));
        CU_ASSERT(seal_small(e, &k, &r[1], 40));
        CU_ASSERT_EQUAL(get_int(e, M2MSEC_REC_PARAM_REKEY_NEEDED), 1); /* 80 of 100 */
        CU_ASSERT_FALSE(seal_small(e, &k, &r[2], 40));                 /* 120 > 100 */
        EXPECT_ERR(M2MSEC_R_KEY_EXPIRED);
        CU_ASSERT(seal_small(e, &k, &r[3], 20)); /* exactly 100 */
        CU_ASSERT_EQUAL(r[3].seq, 3);            /* the refused record used up seq 2 */
        CU_ASSERT_EQUAL(read_u64(e, M2MSEC_REC_PARAM_BYTES), 100);
        CU_ASSERT_FALSE(seal_small(e, &k, &r[4], 1));
        EXPECT_ERR(M2MSEC_R_KEY_EXPIRED);
        CU_ASSERT_EQUAL(get_int(e, M2MSEC_REC_PARAM_EXPIRED), 0); /* 0 more bytes would fit */

        CU_ASSERT_EQUAL(open_small(d, &k, &r[0], 0), OPEN_OK);
        CU_ASSERT_EQUAL(get_int(d, M2MSEC_REC_PARAM_REKEY_NEEDED), 0);
        CU_ASSERT_EQUAL(open_small(d, &k, &r[1], 1), OPEN_OK);
        CU_ASSERT_EQUAL(get_int(d, M2MSEC_REC_PARAM_REKEY_NEEDED), 1);
        ref_small(&k, 2, 40, &r[2]);
        CU_ASSERT_EQUAL(open_small(d, &k, &r[2], 2), OPEN_DATA);
        EXPECT_ERR(M2MSEC_R_KEY_EXPIRED);
        CU_ASSERT_EQUAL(open_small(d, &k, &r[3], 3), OPEN_OK);
        ref_small(&k, 4, 1, &r[4]);
        CU_ASSERT_EQUAL(open_small(d, &k, &r[4], 4), OPEN_DATA);
        EXPECT_ERR(M2MSEC_R_KEY_EXPIRED);
        CU_ASSERT_EQUAL(read_u64(d, M2MSEC_REC_PARAM_BYTES), 100);
        CU_ASSERT_EQUAL(read_u64(d, M2MSEC_REC_PARAM_FAILURES), 0);
        EVP_CIPHER_CTX_free(e);
        EVP_CIPHER_CTX_free(d);
    }
}

static void test_max_failures(void)
{
    for (size_t ai = 0; ai < NALGS; ai++) {
        KEYSET k;
        LIMITS lim = {0};
        EVP_CIPHER_CTX *e, *d;
        SMALLREC r[5], f;

        keyset_new(&k, ai, 0, MAXTAG);
        lim.max_failures = 3;
        rec_pair(&k, NULL, &lim, &e, &d);
        seal_many(e, &k, r, 5);
        CU_ASSERT_EQUAL(open_small(d, &k, &r[0], 0), OPEN_OK);
        for (size_t i = 1; i <= 3; i++) {
            f = r[i];
            f.tag[i] ^= 0x40;
            CU_ASSERT_EQUAL(open_small(d, &k, &f, f.seq), algs[ai].ccm ? OPEN_DATA : OPEN_FINAL);
            EXPECT_ERR(M2MSEC_R_AUTH_FAILED);
        }
        CU_ASSERT_EQUAL(read_u64(d, M2MSEC_REC_PARAM_FAILURES), 3);
        CU_ASSERT_EQUAL(get_int(d, M2MSEC_REC_PARAM_EXPIRED), 1);
        /* Every record, even a genuine one, is refused now. */
        for (size_t i = 1; i < 5; i++) {
            CU_ASSERT_EQUAL(open_small(d, &k, &r[i], r[i].seq), OPEN_SEQ);
            EXPECT_ERR(M2MSEC_R_KEY_EXPIRED);
        }
        CU_ASSERT_EQUAL(read_u64(d, M2MSEC_REC_PARAM_RECORDS), 1);
        EVP_CIPHER_CTX_free(e);
        EVP_CIPHER_CTX_free(d);
    }
}

/* Defaults, and requests above them refused, read after the first record. */
static void check_defaults(size_t ai, size_t taglen)
{
    KEYSET k;
    LIMITS lim = {0};
    EVP_CIPHER_CTX *e, *d, *d2, *x;
    SMALLREC r;
    uint64_t t0 = now_s(), v, fail_default = algs[ai].max_failures;

    if (algs[ai].ccm && taglen == 8)
        fail_default = 8192;
    keyset_new(&k, ai, 0, taglen);
    rec_pair(&k, NULL, NULL, &e, &d);
    CU_ASSERT(seal_small(e, &k, &r, 40));
    CU_ASSERT_EQUAL(open_small(d, &k, &r, r.seq), OPEN_OK);
    for (int i = 0; i < 2; i++) {
        EVP_CIPHER_CTX *c = i == 0 ? e : d;

        CU_ASSERT_EQUAL(read_u64(c, M2MSEC_REC_PARAM_MAX_RECORDS), algs[ai].max_records);
        CU_ASSERT_EQUAL(read_u64(c, M2MSEC_REC_PARAM_MAX_FAILURES), fail_default);
        CU_ASSERT_EQUAL(read_u64(c, M2MSEC_REC_PARAM_MAX_BYTES), algs[ai].max_bytes);
        v = read_u64(c, M2MSEC_REC_PARAM_NOT_AFTER);
        CU_ASSERT(v >= t0 + 86400 - 1 && v <= now_s() + 86400);
        CU_ASSERT_EQUAL(get_int(c, M2MSEC_REC_PARAM_REKEY_NEEDED), 0);
        CU_ASSERT_EQUAL(get_int(c, M2MSEC_REC_PARAM_EXPIRED), 0);
        CU_ASSERT(read_u64(c, M2MSEC_REC_PARAM_MEMORY) > 0);
    }
    CU_ASSERT_EQUAL(read_u64(d, M2MSEC_REC_PARAM_REPLAY_WINDOW), 256);
    if (taglen == 8) {
        unsigned char tag[MAXTAG];
        OSSL_PARAM p[2];
        size_t tl = 0;

        p[0] = OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, tag, sizeof(tag));
        p[1] = OSSL_PARAM_construct_end();
        CU_ASSERT(EVP_CIPHER_CTX_get_params(e, p));
        CU_ASSERT_EQUAL(p[0].return_size, 8);
        p[0] = OSSL_PARAM_construct_size_t(OSSL_CIPHER_PARAM_AEAD_TAGLEN, &tl);
        CU_ASSERT(EVP_CIPHER_CTX_get_params(d, p));
        CU_ASSERT_EQUAL(tl, 8);
    }
    EVP_CIPHER_CTX_free(e);
    EVP_CIPHER_CTX_free(d);

    /*
     * Requests above the defaults are refused, never clamped (the 8-byte
     * CCM tag: 2^13 failed decryptions); at or below them they hold. A
     * refused encrypting init does not use up its key.
     */
    keyset_new(&k, ai, 0, taglen);
    {
        LIMITS above[6];

        memset(above, 0, sizeof(above));
        above[0].not_after = now_s() + 86400 + 100;
        above[1].max_records = algs[ai].max_records + 1;
        above[2].max_records = UINT64_MAX;
        above[3].max_failures = fail_default + 1;
        above[4].max_failures = UINT64_MAX;
        above[5].max_bytes = algs[ai].max_bytes + 1;
        for (size_t i = 0; i < sizeof(above) / sizeof(above[0]); i++) {
            for (int enc = 0; enc < 2; enc++) {
                ERR_clear_error();
                x = rec_ctx(&k, enc, &above[i]);
                CU_ASSERT_PTR_NULL(x);
                EXPECT_ERR(M2MSEC_R_INVALID_PARAMETER);
                EVP_CIPHER_CTX_free(x);
            }
        }
        x = rec_ctx(&k, 1, NULL);
        CU_ASSERT_PTR_NOT_NULL(x);
        EVP_CIPHER_CTX_free(x);
    }
    lim.not_after = now_s() + 86400;
    lim.max_records = algs[ai].max_records;
    lim.max_failures = fail_default;
    lim.window = 32768;
    d = rec_ctx(&k, 0, &lim);
    lim.not_after = now_s() + 100;
    lim.max_records = 1000;
    lim.max_failures = 7;
    lim.window = 64;
    d2 = rec_ctx(&k, 0, &lim);
    CU_ASSERT_PTR_NOT_NULL_FATAL(d);
    CU_ASSERT_PTR_NOT_NULL_FATAL(d2);
    ref_small(&k, 0, 40, &r);
    CU_ASSERT_EQUAL(open_small(d, &k, &r, 0), OPEN_OK);
    CU_ASSERT_EQUAL(open_small(d2, &k, &r, 0), OPEN_OK);
    v = read_u64(d, M2MSEC_REC_PARAM_NOT_AFTER);
    CU_ASSERT(v >= t0 + 86400 - 1 && v <= now_s() + 86400);
    CU_ASSERT_EQUAL(read_u64(d, M2MSEC_REC_PARAM_MAX_RECORDS), algs[ai].max_records);
    CU_ASSERT_EQUAL(read_u64(d, M2MSEC_REC_PARAM_MAX_FAILURES), fail_default);
    CU_ASSERT_EQUAL(read_u64(d, M2MSEC_REC_PARAM_REPLAY_WINDOW), 32768);
    CU_ASSERT(read_u64(d, M2MSEC_REC_PARAM_MEMORY) >= 32768 / 8);
    CU_ASSERT_EQUAL(read_u64(d2, M2MSEC_REC_PARAM_NOT_AFTER), lim.not_after);
    CU_ASSERT_EQUAL(read_u64(d2, M2MSEC_REC_PARAM_MAX_RECORDS), 1000);
    CU_ASSERT_EQUAL(read_u64(d2, M2MSEC_REC_PARAM_MAX_FAILURES), 7);
    CU_ASSERT_EQUAL(read_u64(d2, M2MSEC_REC_PARAM_REPLAY_WINDOW), 64);
    EVP_CIPHER_CTX_free(d);
    EVP_CIPHER_CTX_free(d2);
}

static void test_defaults(void)
{
    for (size_t ai = 0; ai < NALGS; ai++)
        check_defaults(ai, MAXTAG);
}

/* ------------------------------------------------------------------ */
/* Context state, re-init, copy, key registry, window size             */
/* ------------------------------------------------------------------ */

static void state_errors(size_t ai)
{
    KEYSET k, k2;
    EVP_CIPHER_CTX *e, *d, *c;
    SMALLREC r[4];
    unsigned char tag[MAXTAG], buf[64];
    OSSL_PARAM p[2];
    uint64_t seq;
    int n = 0;

    keyset_new(&k, ai, 0, MAXTAG);
    rec_pair(&k, NULL, NULL, &e, &d);

    /* Encrypting: no seq, no tag before the first record; seq cannot be set. */
    EXPECT_FAIL(get_u64(e, M2MSEC_REC_PARAM_SEQ, &seq), M2MSEC_R_BAD_STATE);
    p[0] = OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, tag, sizeof(tag));
    p[1] = OSSL_PARAM_construct_end();
    EXPECT_FAIL(EVP_CIPHER_CTX_get_params(e, p), M2MSEC_R_BAD_STATE);
    EXPECT_FAIL(set_u64(e, M2MSEC_REC_PARAM_SEQ, 0), M2MSEC_R_BAD_STATE);
    EXPECT_FAIL(EVP_CIPHER_CTX_set_params(e, p), M2MSEC_R_BAD_STATE);

    /* A second encrypting ctx with the same key: refused, whatever the IV or epoch. */
    ERR_clear_error();
    c = rec_ctx(&k, 1, NULL);
    CU_ASSERT_PTR_NULL(c);
    EXPECT_ERR(M2MSEC_R_KEY_REUSED);
    EVP_CIPHER_CTX_free(c);
    k2 = k;
    k2.iv[0] ^= 1;
    k2.epoch = 9;
    ERR_clear_error();
    c = rec_ctx(&k2, 1, NULL);
    CU_ASSERT_PTR_NULL(c);
    EXPECT_ERR(M2MSEC_R_KEY_REUSED);
    EVP_CIPHER_CTX_free(c);
    /* Re-keying the encrypting ctx before any record: still one key per ctx. */
    keyset_new(&k2, ai, 0, MAXTAG);
    EXPECT_FAIL(EVP_EncryptInit_ex2(e, NULL, k2.key, NULL, NULL), M2MSEC_R_KEY_REUSED);
    /* (k2's key is unclaimed, since the ctx refused before claiming it.) */
    c = rec_ctx(&k2, 1, NULL);
    CU_ASSERT_PTR_NOT_NULL(c);
    EVP_CIPHER_CTX_free(c);
    /* Decrypting ctxs do not claim the key: a second one is fine. */
    c = rec_ctx(&k, 0, NULL);
    CU_ASSERT_PTR_NOT_NULL(c);
    EVP_CIPHER_CTX_free(c);

    seal_many(e, &k, r, 3);
    CU_ASSERT_EQUAL(r[2].seq, 2);
    EXPECT_FAIL(set_u64(e, M2MSEC_REC_PARAM_SEQ, 0), M2MSEC_R_BAD_STATE);
    EXPECT_FAIL(set_u64(e, M2MSEC_REC_PARAM_SEQ, 3), M2MSEC_R_BAD_STATE);
    /* Limits are fixed at the first record. */
    EXPECT_FAIL(set_u64(e, M2MSEC_REC_PARAM_MAX_RECORDS, 5), M2MSEC_R_BAD_STATE);
    EXPECT_FAIL(set_u64(e, M2MSEC_REC_PARAM_EPOCH, 1), M2MSEC_R_BAD_STATE);
    /* Copies are refused: EVP adds its own "not able to copy ctx" on top. */
    c = EVP_CIPHER_CTX_new();
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    ERR_clear_error();
    CU_ASSERT_FALSE(EVP_CIPHER_CTX_copy(c, e));
    {
        unsigned long err, last = ERR_peek_last_error();
        int found = 0;

        CU_ASSERT_EQUAL(ERR_GET_LIB(last), ERR_LIB_EVP);
        CU_ASSERT_EQUAL(ERR_GET_REASON(last), EVP_R_NOT_ABLE_TO_COPY_CTX);
        while ((err = ERR_get_error()) != 0)
            found |= is_m2m_error(err, M2MSEC_R_COPY_REFUSED);
        CU_ASSERT(found);
    }
    EVP_CIPHER_CTX_free(c);
    ERR_clear_error();
    c = EVP_CIPHER_CTX_new();
    CU_ASSERT_FALSE(EVP_CIPHER_CTX_copy(c, d));
    {
        unsigned long err;
        int found = 0;

        while ((err = ERR_get_error()) != 0)
            found |= is_m2m_error(err, M2MSEC_R_COPY_REFUSED);
        CU_ASSERT(found);
    }
    EVP_CIPHER_CTX_free(c);

    /* A new key or IV after records: refused, and the sequence goes on. */
    keyset_new(&k2, ai, 0, MAXTAG);
    EXPECT_FAIL(EVP_EncryptInit_ex2(e, NULL, k2.key, NULL, NULL), M2MSEC_R_BAD_STATE);
    EXPECT_FAIL(EVP_EncryptInit_ex2(e, NULL, NULL, k2.iv, NULL), M2MSEC_R_BAD_STATE);
    EXPECT_FAIL(EVP_EncryptInit_ex2(e, NULL, k2.key, k.iv, NULL), M2MSEC_R_BAD_STATE);
    EXPECT_FAIL(EVP_EncryptInit_ex2(e, NULL, k.key, k2.iv, NULL), M2MSEC_R_BAD_STATE);
    /* Its own key and IV again are no change: the sequence goes on (PROTOCOL.md 5.6). */
    EXPECT_OK(EVP_EncryptInit_ex2(e, NULL, k.key, NULL, NULL));
    EXPECT_OK(EVP_EncryptInit_ex2(e, NULL, k.key, k.iv, NULL));
    EXPECT_OK(EVP_EncryptInit_ex2(e, NULL, NULL, k.iv, NULL));
    EXPECT_OK(seal_small(e, &k, &r[3], 40));
    CU_ASSERT_EQUAL(r[3].seq, 3);
    /* A plain re-init keeps the sequence going (no nonce reuse). */
    EXPECT_OK(EVP_EncryptInit_ex2(e, NULL, NULL, NULL, NULL));
    memcpy(r[0].pt, r[3].pt, 40);
    EXPECT_OK(seal(e, app_aad, sizeof(app_aad), r[0].pt, 40, r[0].ct, r[0].tag, MAXTAG, &r[0].seq));
    CU_ASSERT_EQUAL(r[0].seq, 4);
    CU_ASSERT(memcmp(r[0].ct, r[3].ct, 40) != 0);
    CU_ASSERT(ref_open(&k, 4, app_aad, sizeof(app_aad), r[0].ct, 40, r[0].tag, buf));
    CU_ASSERT(memcmp(buf, r[0].pt, 40) == 0);
    /*
     * Nor can it turn into a decrypting ctx. (EVP has already marked the
     * EVP ctx as decrypting when the provider refuses: an encrypting re-init
     * puts that back, and the sequence still goes on.)
     */
    EXPECT_FAIL(EVP_DecryptInit_ex2(e, NULL, NULL, NULL, NULL), M2MSEC_R_BAD_STATE);
    EXPECT_OK(EVP_EncryptInit_ex2(e, NULL, NULL, NULL, NULL));
    EXPECT_OK(seal_small(e, &k, &r[1], 40));
    CU_ASSERT_EQUAL(r[1].seq, 5);
    CU_ASSERT(ref_open(&k, 5, app_aad, sizeof(app_aad), r[1].ct, 40, r[1].tag, buf));
    /* Re-init with the cipher object again: EVP makes a new provider ctx, the key is known. */
    EXPECT_FAIL(EVP_EncryptInit_ex2(e, rec_ciph[ai], k.key, k.iv, NULL), M2MSEC_R_KEY_REUSED);

    /* Decrypting: no data or final without a seq. */
    EXPECT_FAIL(EVP_DecryptUpdate(d, NULL, &n, app_aad, (int)sizeof(app_aad)), M2MSEC_R_BAD_STATE);
    EXPECT_FAIL(EVP_DecryptUpdate(d, buf, &n, r[1].ct, 40), M2MSEC_R_BAD_STATE);
    EXPECT_FAIL(EVP_DecryptFinal_ex(d, buf, &n), M2MSEC_R_BAD_STATE);
    CU_ASSERT_EQUAL(open_small(d, &k, &r[2], 2), OPEN_OK);
    /* ... nor after a record: every record needs its own seq. */
    EXPECT_FAIL(EVP_DecryptUpdate(d, buf, &n, r[3].ct, 40), M2MSEC_R_BAD_STATE);
    /* Seq set but no tag: CCM needs it before the first update, GCM/ChaCha before final. */
    EXPECT_OK(set_u64(d, M2MSEC_REC_PARAM_SEQ, 3));
    if (algs[ai].ccm) {
        EXPECT_FAIL(EVP_DecryptUpdate(d, NULL, &n, app_aad, (int)sizeof(app_aad)),
                    M2MSEC_R_BAD_STATE);
        EXPECT_OK(set_u64(d, M2MSEC_REC_PARAM_SEQ, 3));
        EXPECT_FAIL(EVP_DecryptUpdate(d, buf, &n, r[3].ct, 40), M2MSEC_R_BAD_STATE);
    } else {
        EXPECT_OK(EVP_DecryptUpdate(d, NULL, &n, app_aad, (int)sizeof(app_aad)));
        EXPECT_OK(EVP_DecryptUpdate(d, buf, &n, r[3].ct, 40));
        EXPECT_FAIL(EVP_DecryptFinal_ex(d, buf, &n), M2MSEC_R_BAD_STATE);
    }
    CU_ASSERT_EQUAL(open_small(d, &k, &r[3], 3), OPEN_OK); /* 3 was never accepted */
    /* The tag is not readable from a decrypting ctx; seq, epoch, window settable only before. */
    p[0] = OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, tag, sizeof(tag));
    EXPECT_FAIL(EVP_CIPHER_CTX_get_params(d, p), M2MSEC_R_BAD_STATE);
    EXPECT_FAIL(set_u64(d, M2MSEC_REC_PARAM_REPLAY_WINDOW, 1024), M2MSEC_R_BAD_STATE);
    EXPECT_FAIL(set_u64(d, M2MSEC_REC_PARAM_MAX_FAILURES, 1), M2MSEC_R_BAD_STATE);
    /* New key after records: refused (a new epoch is a new ctx). */
    EXPECT_FAIL(EVP_DecryptInit_ex2(d, NULL, k2.key, NULL, NULL), M2MSEC_R_BAD_STATE);
    EXPECT_FAIL(EVP_EncryptInit_ex2(d, NULL, NULL, NULL, NULL), M2MSEC_R_BAD_STATE);
    EXPECT_FAIL(EVP_DecryptInit_ex2(d, NULL, k.key, k2.iv, NULL), M2MSEC_R_BAD_STATE);
    /* Its own key and IV again: the same window goes on. */
    EXPECT_OK(EVP_DecryptInit_ex2(d, NULL, k.key, k.iv, NULL));
    CU_ASSERT_EQUAL(open_small(d, &k, &r[3], 3), OPEN_SEQ);
    EXPECT_ERR(M2MSEC_R_REPLAYED_RECORD);
    EXPECT_OK(EVP_DecryptInit_ex2(d, NULL, NULL, NULL, NULL));
    CU_ASSERT_EQUAL(open_small(d, &k, &r[1], 5), OPEN_OK); /* record 5 from above */
    CU_ASSERT_EQUAL(open_small(d, &k, &r[3], 3), OPEN_SEQ);
    EXPECT_ERR(M2MSEC_R_REPLAYED_RECORD);
    EVP_CIPHER_CTX_free(e);
    EVP_CIPHER_CTX_free(d);
}

/*
 * How records may be fed: GCM/ChaCha take AAD and data in pieces, CCM takes
 * its data in one call; AAD never follows data; limits can also be set with
 * set_params before the first record; a CCM record that fails leaves no
 * plaintext behind.
 */
static void update_rules(size_t ai)
{
    KEYSET k;
    EVP_CIPHER_CTX *e, *d;
    unsigned char tag[MAXTAG], out[1024];
    uint64_t seq = 0;
    int n = 0, m = 0, total = 0;

    keyset_new(&k, ai, 0, MAXTAG);
    rec_pair(&k, NULL, NULL, &e, &d);
    EXPECT_OK(set_u64(d, M2MSEC_REC_PARAM_MAX_RECORDS, 3));
    EXPECT_OK(set_u64(d, M2MSEC_REC_PARAM_REPLAY_WINDOW, 100));
    fill(pt_buf, 1000);
    if (!algs[ai].ccm) {
        OSSL_PARAM p[3];

        /* AAD in two pieces, data in three. */
        EXPECT_OK(EVP_EncryptUpdate(e, NULL, &n, app_aad, 5));
        EXPECT_OK(EVP_EncryptUpdate(e, NULL, &n, app_aad + 5, 8));
        for (size_t off = 0; off < 1000; off += 400) {
            int len = off + 400 > 1000 ? (int)(1000 - off) : 400;

            EXPECT_OK(EVP_EncryptUpdate(e, ct_buf + off, &n, pt_buf + off, len));
            total += n;
        }
        /* AAD after data: out of order. */
        EXPECT_FAIL(EVP_EncryptUpdate(e, NULL, &n, app_aad, 1), M2MSEC_R_BAD_STATE);
        /* The record is still in progress; a plain re-init abandons it. */
        EXPECT_OK(EVP_EncryptInit_ex2(e, NULL, NULL, NULL, NULL));
        total = 0;
        EXPECT_OK(EVP_EncryptUpdate(e, NULL, &n, app_aad, 5));
        EXPECT_OK(EVP_EncryptUpdate(e, NULL, &n, app_aad + 5, 8));
        for (size_t off = 0; off < 1000; off += 400) {
            int len = off + 400 > 1000 ? (int)(1000 - off) : 400;

            EXPECT_OK(EVP_EncryptUpdate(e, ct_buf + off, &n, pt_buf + off, len));
            total += n;
        }
        EXPECT_OK(EVP_EncryptFinal_ex(e, ct_buf + total, &m));
        CU_ASSERT_EQUAL(total, 1000);
        CU_ASSERT_EQUAL(m, 0);
        p[0] = OSSL_PARAM_construct_uint64(M2MSEC_REC_PARAM_SEQ, &seq);
        p[1] = OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, tag, MAXTAG);
        p[2] = OSSL_PARAM_construct_end();
        EXPECT_OK(EVP_CIPHER_CTX_get_params(e, p));
        CU_ASSERT_EQUAL(seq, 1); /* the abandoned record used up seq 0 */
        CU_ASSERT(ref_open(&k, seq, app_aad, sizeof(app_aad), ct_buf, 1000, tag, out));
        CU_ASSERT(memcmp(out, pt_buf, 1000) == 0);
        /* Decrypt in pieces too; AAD after data refused here as well. */
        EXPECT_OK(EVP_CIPHER_CTX_set_params(d, p));
        EXPECT_OK(EVP_DecryptUpdate(d, NULL, &n, app_aad, 13));
        EXPECT_OK(EVP_DecryptUpdate(d, out, &n, ct_buf, 999));
        EXPECT_FAIL(EVP_DecryptUpdate(d, NULL, &n, app_aad, 1), M2MSEC_R_BAD_STATE);
        EXPECT_OK(EVP_CIPHER_CTX_set_params(d, p));
        EXPECT_OK(EVP_DecryptUpdate(d, NULL, &n, app_aad, 13));
        EXPECT_OK(EVP_DecryptUpdate(d, out, &n, ct_buf, 999));
        EXPECT_OK(EVP_DecryptUpdate(d, out + 999, &n, ct_buf + 999, 1));
        EXPECT_OK(EVP_DecryptFinal_ex(d, out + 1000, &n));
        CU_ASSERT(memcmp(out, pt_buf, 1000) == 0);
    } else {
        uint64_t fseq;
        unsigned char ftag[MAXTAG];
        OSSL_PARAM p[3];

        /* Data in two calls is refused. */
        EXPECT_OK(EVP_EncryptUpdate(e, NULL, &n, app_aad, 13));
        EXPECT_OK(EVP_EncryptUpdate(e, ct_buf, &n, pt_buf, 500));
        EXPECT_FAIL(EVP_EncryptUpdate(e, ct_buf + 500, &n, pt_buf + 500, 500), M2MSEC_R_BAD_STATE);
        EXPECT_OK(EVP_EncryptInit_ex2(e, NULL, NULL, NULL, NULL)); /* abandon seq 0 */
        /* A record whose tag fails leaves a zeroed output buffer. */
        CU_ASSERT(seal(e, app_aad, 13, pt_buf, 1000, ct_buf, tag, MAXTAG, &seq));
        CU_ASSERT_EQUAL(seq, 1);
        memcpy(ftag, tag, MAXTAG);
        ftag[5] ^= 4;
        fseq = seq;
        memset(out, 0x5a, sizeof(out));
        ERR_clear_error();
        CU_ASSERT_EQUAL(open_rec(d, fseq, app_aad, 13, ct_buf, 1000, ftag, MAXTAG, out, 0),
                        OPEN_DATA);
        EXPECT_ERR(M2MSEC_R_AUTH_FAILED);
        {
            size_t nonzero = 0;

            for (size_t i = 0; i < 1000; i++)
                nonzero += out[i] != 0;
            CU_ASSERT_EQUAL(nonzero, 0);
        }
        p[0] = OSSL_PARAM_construct_uint64(M2MSEC_REC_PARAM_SEQ, &seq);
        p[1] = OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, tag, MAXTAG);
        p[2] = OSSL_PARAM_construct_end();
        /* Decrypting, data in two calls is refused as well. */
        EXPECT_OK(EVP_CIPHER_CTX_set_params(d, p));
        EXPECT_OK(EVP_DecryptUpdate(d, NULL, &n, app_aad, 13));
        CU_ASSERT_FALSE(EVP_DecryptUpdate(d, out, &n, ct_buf, 500)); /* a partial CCM record */
        ERR_clear_error();
        EXPECT_FAIL(EVP_DecryptUpdate(d, out + 500, &n, ct_buf + 500, 500), M2MSEC_R_BAD_STATE);
        CU_ASSERT_EQUAL(open_rec(d, seq, app_aad, 13, ct_buf, 1000, tag, MAXTAG, out, 0), OPEN_OK);
        CU_ASSERT(memcmp(out, pt_buf, 1000) == 0);
    }
    CU_ASSERT_EQUAL(read_u64(d, M2MSEC_REC_PARAM_MAX_RECORDS), 3);
    CU_ASSERT_EQUAL(read_u64(d, M2MSEC_REC_PARAM_REPLAY_WINDOW), 100);
    EVP_CIPHER_CTX_free(e);
    EVP_CIPHER_CTX_free(d);
}

static void test_update_rules(void)
{
    for (size_t ai = 0; ai < NALGS; ai++)
        update_rules(ai);
}

static void test_state_errors(void)
{
    for (size_t ai = 0; ai < NALGS; ai++)
        state_errors(ai);
}

static void test_window_param(void)
{
    static const uint64_t bad[] = {0, 1, 63, 32769, 1u << 20, UINT64_MAX};

    for (size_t ai = 0; ai < NALGS; ai++) {
        KEYSET k;
        LIMITS lim = {0};
        EVP_CIPHER_CTX *d;
        SMALLREC r;

        keyset_new(&k, ai, 0, MAXTAG);
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
            lim.window = bad[i];
            ERR_clear_error();
            d = rec_ctx(&k, 0, &lim);
            if (bad[i] == 0) { /* 0 means "not set" in LIMITS: set it by hand */
                CU_ASSERT_PTR_NOT_NULL_FATAL(d);
                EXPECT_FAIL(set_u64(d, M2MSEC_REC_PARAM_REPLAY_WINDOW, 0),
                            M2MSEC_R_INVALID_PARAMETER);
            } else {
                CU_ASSERT_PTR_NULL(d);
                EXPECT_ERR(M2MSEC_R_INVALID_PARAMETER);
                lim.window = 0;
                d = rec_ctx(&k, 0, &lim);
                CU_ASSERT_PTR_NOT_NULL_FATAL(d);
                EXPECT_FAIL(set_u64(d, M2MSEC_REC_PARAM_REPLAY_WINDOW, bad[i]),
                            M2MSEC_R_INVALID_PARAMETER);
            }
            EVP_CIPHER_CTX_free(d);
        }
        /* The extremes work, and W = 64 means exactly 64. */
        lim.window = 32768;
        d = rec_ctx(&k, 0, &lim);
        CU_ASSERT_PTR_NOT_NULL(d);
        EVP_CIPHER_CTX_free(d);
        lim.window = 0;
        d = rec_ctx(&k, 0, &lim);
        CU_ASSERT_PTR_NOT_NULL_FATAL(d);
        EXPECT_OK(set_u64(d, M2MSEC_REC_PARAM_REPLAY_WINDOW, 64));
        ref_small(&k, 100, 40, &r);
        CU_ASSERT_EQUAL(open_small(d, &k, &r, 100), OPEN_OK);
        CU_ASSERT_EQUAL(read_u64(d, M2MSEC_REC_PARAM_REPLAY_WINDOW), 64);
        ref_small(&k, 36, 40, &r);
        CU_ASSERT_EQUAL(open_small(d, &k, &r, 36), OPEN_SEQ);
        EXPECT_ERR(M2MSEC_R_OUTSIDE_WINDOW);
        ref_small(&k, 37, 40, &r);
        CU_ASSERT_EQUAL(open_small(d, &k, &r, 37), OPEN_OK);
        EVP_CIPHER_CTX_free(d);
    }
}

/* ------------------------------------------------------------------ */
/* CCM with an 8-byte tag; tag length rules                            */
/* ------------------------------------------------------------------ */

static void test_ccm8(void)
{
    KEYSET k;
    EVP_CIPHER_CTX *c;
    OSSL_PARAM p[2];
    size_t tl;

    round_trip(CCM, 8);
    reference_seal(CCM, 8);
    reference_open(CCM, 8);
    auth_errors(CCM, 8);
    check_defaults(CCM, 8);

    /* GCM and ChaCha: 16 only; CCM: 8 or 16. */
    for (size_t ai = 0; ai < NALGS; ai++) {
        static const size_t bad[] = {4, 8, 12, 15, 17};

        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
            if (algs[ai].ccm && bad[i] == 8)
                continue;
            keyset_new(&k, ai, 0, bad[i]);
            ERR_clear_error();
            c = rec_ctx(&k, 0, NULL);
            CU_ASSERT_PTR_NULL(c);
            EXPECT_ERR(M2MSEC_R_INVALID_PARAMETER);
            EVP_CIPHER_CTX_free(c);
        }
    }
    /* The tag length goes before the key. */
    keyset_new(&k, CCM, 0, MAXTAG);
    c = rec_ctx(&k, 0, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    tl = 8;
    p[0] = OSSL_PARAM_construct_size_t(OSSL_CIPHER_PARAM_AEAD_TAGLEN, &tl);
    p[1] = OSSL_PARAM_construct_end();
    EXPECT_FAIL(EVP_CIPHER_CTX_set_params(c, p), M2MSEC_R_BAD_STATE);
    EVP_CIPHER_CTX_free(c);
    /* A tag of the other length is refused. */
    keyset_new(&k, CCM, 0, 8);
    c = rec_ctx(&k, 0, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    {
        unsigned char tag[MAXTAG] = {0};
        uint64_t seq = 0;
        OSSL_PARAM q[3];

        q[0] = OSSL_PARAM_construct_uint64(M2MSEC_REC_PARAM_SEQ, &seq);
        q[1] = OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, tag, 16);
        q[2] = OSSL_PARAM_construct_end();
        EXPECT_FAIL(EVP_CIPHER_CTX_set_params(c, q), M2MSEC_R_INVALID_PARAMETER);
    }
    EVP_CIPHER_CTX_free(c);
}

/* ------------------------------------------------------------------ */
/* 10^6 records with one encrypting ctx                                */
/* ------------------------------------------------------------------ */

#define MILLION 1000000u
#define CHUNK 1024u

typedef struct {
    uint64_t seq;
    unsigned char pt[16], ct[16], tag[16];
} TINYREC;

static uint64_t shuffle_state = 0x243f6a8885a308d3ull;

static uint64_t shuffle_rand(void)
{
    shuffle_state ^= shuffle_state << 13;
    shuffle_state ^= shuffle_state >> 7;
    shuffle_state ^= shuffle_state << 17;
    return shuffle_state;
}

static int cmp_nonce(const void *a, const void *b)
{
    return memcmp(a, b, IVLEN);
}

static void test_million_records(void)
{
    KEYSET k;
    LIMITS lim = {0};
    EVP_CIPHER_CTX *e, *d;
    TINYREC *recs = malloc(CHUNK * sizeof(TINYREC));
    unsigned char *nonces = malloc((size_t)MILLION * IVLEN);
    unsigned char *seen = calloc(MILLION / 8 + 1, 1);
    unsigned order[CHUNK];
    uint64_t bad_seq = 0, repeats = 0, seal_fail = 0, open_fail = 0, ref_checked = 0, ref_fail = 0,
             dup_ok = 0, in_order = 0;
    unsigned char pt[16];

    CU_ASSERT_FATAL(recs != NULL && nonces != NULL && seen != NULL);
    keyset_new(&k, GCM128, 0, MAXTAG);
    lim.window = CHUNK;
    rec_pair(&k, NULL, &lim, &e, &d);
    for (uint32_t base = 0; base < MILLION; base += CHUNK) {
        unsigned n = MILLION - base < CHUNK ? MILLION - base : CHUNK;

        for (unsigned i = 0; i < n; i++) {
            TINYREC *t = &recs[i];
            uint32_t idx = base + i;

            memset(t->pt, (int)(idx & 0xff), 16);
            memcpy(t->pt, &idx, sizeof(idx));
            if (!seal(e, NULL, 0, t->pt, 16, t->ct, t->tag, MAXTAG, &t->seq)) {
                seal_fail++;
                t->seq = UINT64_MAX;
                continue;
            }
            if (t->seq >= MILLION) {
                bad_seq++;
                continue;
            }
            if (seen[t->seq >> 3] & (1u << (t->seq & 7)))
                repeats++;
            seen[t->seq >> 3] |= (unsigned char)(1u << (t->seq & 7));
            in_order += t->seq == idx;
            ref_nonce(k.iv, t->seq, nonces + (size_t)idx * IVLEN);
            if (idx % 997 == 0) { /* the computed nonce is the one the record used */
                ref_checked++;
                if (!ref_open(&k, t->seq, NULL, 0, t->ct, 16, t->tag, pt) ||
                    memcmp(pt, t->pt, 16) != 0)
                    ref_fail++;
            }
        }
        /* Open them in a shuffled order (all within the window). */
        for (unsigned i = 0; i < n; i++)
            order[i] = i;
        for (unsigned i = n - 1; i > 0; i--) {
            unsigned j = (unsigned)(shuffle_rand() % (i + 1)), tmp = order[i];

            order[i] = order[j];
            order[j] = tmp;
        }
        for (unsigned i = 0; i < n; i++) {
            TINYREC *t = &recs[order[i]];

            if (open_rec(d, t->seq, NULL, 0, t->ct, 16, t->tag, MAXTAG, pt, 0) != OPEN_OK ||
                memcmp(pt, t->pt, 16) != 0)
                open_fail++;
        }
        /* One replay from this chunk. */
        {
            TINYREC *t = &recs[shuffle_rand() % n];

            ERR_clear_error();
            if (open_rec(d, t->seq, NULL, 0, t->ct, 16, t->tag, MAXTAG, pt, 0) == OPEN_SEQ &&
                is_m2m_error(ERR_peek_last_error(), M2MSEC_R_REPLAYED_RECORD))
                dup_ok++;
            ERR_clear_error();
        }
    }
    CU_ASSERT_EQUAL(seal_fail, 0);
    CU_ASSERT_EQUAL(bad_seq, 0);
    CU_ASSERT_EQUAL(repeats, 0);
    CU_ASSERT_EQUAL(in_order, MILLION); /* seq 0, 1, 2, ... */
    CU_ASSERT_EQUAL(open_fail, 0);
    CU_ASSERT_EQUAL(ref_fail, 0);
    CU_ASSERT(ref_checked >= MILLION / 997);
    CU_ASSERT_EQUAL(dup_ok, (MILLION + CHUNK - 1) / CHUNK);
    {
        uint64_t count = 0, equal = 0;

        for (uint32_t i = 0; i < MILLION; i++)
            count += (seen[i >> 3] >> (i & 7)) & 1u;
        CU_ASSERT_EQUAL(count, MILLION); /* every seq 0..10^6-1 exactly once */
        qsort(nonces, MILLION, IVLEN, cmp_nonce);
        for (uint32_t i = 1; i < MILLION; i++)
            equal +=
                memcmp(nonces + (size_t)(i - 1) * IVLEN, nonces + (size_t)i * IVLEN, IVLEN) == 0;
        CU_ASSERT_EQUAL(equal, 0); /* 10^6 distinct nonces */
    }
    CU_ASSERT_EQUAL(read_u64(e, M2MSEC_REC_PARAM_NEXT_SEQ), MILLION);
    CU_ASSERT_EQUAL(read_u64(e, M2MSEC_REC_PARAM_RECORDS), MILLION);
    CU_ASSERT_EQUAL(read_u64(d, M2MSEC_REC_PARAM_RECORDS), MILLION);
    CU_ASSERT_EQUAL(read_u64(d, M2MSEC_REC_PARAM_FAILURES), 0);
    CU_ASSERT_EQUAL(get_int(e, M2MSEC_REC_PARAM_REKEY_NEEDED), 0);
    printf("\n    %u records, %" PRIu64 " checked against AES-128-GCM ", MILLION, ref_checked);
    EVP_CIPHER_CTX_free(e);
    EVP_CIPHER_CTX_free(d);
    free(recs);
    free(nonces);
    free(seen);
}

/* ------------------------------------------------------------------ */
/* Epoch roll-over                                                     */
/* ------------------------------------------------------------------ */

#define ROLL_RECORDS 300

static void test_epoch_rollover(void)
{
    for (size_t ai = 0; ai < NALGS; ai++) {
        KEYSET k[2];
        EVP_CIPHER_CTX *e[2], *d[2];
        SMALLREC *r = calloc(ROLL_RECORDS, sizeof(SMALLREC));
        int epoch_of[ROLL_RECORDS];
        uint64_t wrong_auth = 0, wrong_dup = 0, wrong_other = 0, right_fail = 0, n[2] = {0, 0};

        CU_ASSERT_PTR_NOT_NULL_FATAL(r);
        for (int ep = 0; ep < 2; ep++) {
            keyset_new(&k[ep], ai, (uint64_t)ep, MAXTAG);
            e[ep] = rec_ctx(&k[ep], 1, NULL);
            d[ep] = rec_ctx(&k[ep], 0, NULL);
            CU_ASSERT_PTR_NOT_NULL_FATAL(e[ep]);
            CU_ASSERT_PTR_NOT_NULL_FATAL(d[ep]);
        }
        /* Epoch 1 starts a third of the way in; both run interleaved after that. */
        for (int i = 0; i < ROLL_RECORDS; i++) {
            int ep = i < ROLL_RECORDS / 3 ? 0 : (int)(shuffle_rand() & 1);

            epoch_of[i] = ep;
            CU_ASSERT(seal_small(e[ep], &k[ep], &r[i], 40));
            CU_ASSERT_EQUAL(r[i].seq, n[ep]);
            n[ep]++;
        }
        for (int i = 0; i < ROLL_RECORDS; i++) {
            int ep = epoch_of[i], rc;

            /* The other epoch's ctx refuses it first ... */
            rc = open_small(d[!ep], &k[!ep], &r[i], r[i].seq);
            if (rc == OPEN_SEQ && is_m2m_error(ERR_peek_last_error(), M2MSEC_R_REPLAYED_RECORD))
                wrong_dup++;
            else if ((rc == OPEN_DATA || rc == OPEN_FINAL) &&
                     is_m2m_error(ERR_peek_last_error(), M2MSEC_R_AUTH_FAILED))
                wrong_auth++;
            else
                wrong_other++;
            /* ... and the right one opens it. */
            if (open_small(d[ep], &k[ep], &r[i], r[i].seq) != OPEN_OK)
                right_fail++;
        }
        CU_ASSERT_EQUAL(wrong_other, 0);
        CU_ASSERT_EQUAL(right_fail, 0);
        CU_ASSERT(wrong_auth > 0);
        CU_ASSERT_EQUAL(wrong_auth + wrong_dup, ROLL_RECORDS);
        for (int ep = 0; ep < 2; ep++) {
            CU_ASSERT_EQUAL(read_u64(d[ep], M2MSEC_REC_PARAM_RECORDS), n[ep]);
            CU_ASSERT_EQUAL(read_u64(d[ep], M2MSEC_REC_PARAM_EPOCH), (uint64_t)ep);
            EVP_CIPHER_CTX_free(e[ep]);
            EVP_CIPHER_CTX_free(d[ep]);
        }
        free(r);
    }
}

/*
 * PROTOCOL.md 5.3, as documented: the bytes of a forged record count
 * against the receiver's byte budget (with one failed decryption); a
 * record refused at 'seq' costs nothing. And GCM / ChaCha20-Poly1305 hand
 * out the plaintext from update before final rejects the tag (the caller
 * must discard it); CCM fails the update and zeroes the output.
 */
static void test_forged_bytes_and_early_plaintext(void)
{
    for (size_t ai = 0; ai < NALGS; ai++) {
        KEYSET k;
        LIMITS lim = {0};
        EVP_CIPHER_CTX *e, *d;
        SMALLREC r[3], f;
        unsigned char out[64];
        uint64_t seq;
        int n = 0;

        keyset_new(&k, ai, 0, MAXTAG);
        lim.max_bytes = 100;
        rec_pair(&k, NULL, &lim, &e, &d);
        seal_many(e, &k, r, 3);
        f = r[0];
        f.tag[0] ^= 0x01;
        CU_ASSERT_EQUAL(open_small(d, &k, &f, f.seq), algs[ai].ccm ? OPEN_DATA : OPEN_FINAL);
        EXPECT_ERR(M2MSEC_R_AUTH_FAILED);
        CU_ASSERT_EQUAL(read_u64(d, M2MSEC_REC_PARAM_BYTES), 40);
        CU_ASSERT_EQUAL(read_u64(d, M2MSEC_REC_PARAM_FAILURES), 1);
        CU_ASSERT_EQUAL(open_small(d, &k, &r[0], r[0].seq), OPEN_OK);  /* 80 of 100 */
        CU_ASSERT_EQUAL(open_small(d, &k, &r[0], r[0].seq), OPEN_SEQ); /* a replay: free */
        EXPECT_ERR(M2MSEC_R_REPLAYED_RECORD);
        CU_ASSERT_EQUAL(read_u64(d, M2MSEC_REC_PARAM_BYTES), 80);
        CU_ASSERT_EQUAL(open_small(d, &k, &r[1], r[1].seq), OPEN_DATA); /* 120 > 100 */
        EXPECT_ERR(M2MSEC_R_KEY_EXPIRED);

        /* Plaintext before the tag is checked (a fresh pair: this one's bytes are spent). */
        EVP_CIPHER_CTX_free(d);
        d = rec_ctx(&k, 0, NULL);
        CU_ASSERT_PTR_NOT_NULL_FATAL(d);
        f = r[2];
        f.tag[3] ^= 0x10;
        seq = f.seq;
        memset(out, 0x5a, sizeof(out));
        {
            OSSL_PARAM p[3];

            p[0] = OSSL_PARAM_construct_uint64(M2MSEC_REC_PARAM_SEQ, &seq);
            p[1] = OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, f.tag, MAXTAG);
            p[2] = OSSL_PARAM_construct_end();
            EXPECT_OK(EVP_CIPHER_CTX_set_params(d, p));
        }
        EXPECT_OK(EVP_DecryptUpdate(d, NULL, &n, app_aad, (int)sizeof(app_aad)));
        ERR_clear_error();
        if (algs[ai].ccm) {
            size_t nonzero = 0;

            CU_ASSERT_FALSE(EVP_DecryptUpdate(d, out, &n, f.ct, 40));
            EXPECT_ERR(M2MSEC_R_AUTH_FAILED);
            for (size_t i = 0; i < 40; i++)
                nonzero += out[i] != 0;
            CU_ASSERT_EQUAL(nonzero, 0);
        } else {
            CU_ASSERT(EVP_DecryptUpdate(d, out, &n, f.ct, 40));
            CU_ASSERT(n == 40 && memcmp(out, r[2].pt, 40) == 0);   /* handed out ... */
            CU_ASSERT_FALSE(EVP_DecryptFinal_ex(d, out + 40, &n)); /* ... then refused */
            EXPECT_ERR(M2MSEC_R_AUTH_FAILED);
        }
        EVP_CIPHER_CTX_free(e);
        EVP_CIPHER_CTX_free(d);
    }
}

/* ------------------------------------------------------------------ */
/* Fetch, suite set-up                                                 */
/* ------------------------------------------------------------------ */

/*
 * `openssl speed -evp` (apps/speed.c of OpenSSL 3.0 to 3.6): a context made
 * with the cipher only, its key from EVP_CIPHER_CTX_rand_key, then before
 * every record the IV length, (CCM) the tag length, and an init with the
 * same key and IV; CCM announces the length, then 13 bytes of AAD (-aead),
 * the data, final. Every record must get the next seq, so a nonce of its
 * own: each is checked against the stock AEAD at that seq, and no two
 * ciphertexts of the same plaintext agree.
 */
#define SPEED_RECORDS 64
static void speed_loop(size_t ai)
{
    const ALG *a = &algs[ai];
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new(), *other = EVP_CIPHER_CTX_new();
    unsigned char key2[32], pt[64], ct[SPEED_RECORDS][64], tag[MAXTAG], out[64];
    KEYSET k;
    int n = 0;

    CU_ASSERT_PTR_NOT_NULL_FATAL(ctx);
    CU_ASSERT_PTR_NOT_NULL_FATAL(other);
    memset(&k, 0, sizeof(k));
    k.ai = ai;
    k.taglen = MAXTAG;
    CU_ASSERT_FATAL(RAND_bytes(k.iv, IVLEN) == 1);
    EXPECT_OK(EVP_CipherInit_ex(ctx, rec_ciph[ai], NULL, NULL, NULL, 1));
    EVP_CIPHER_CTX_set_padding(ctx, 0);
    CU_ASSERT_EQUAL((size_t)EVP_CIPHER_CTX_get_key_length(ctx), a->keylen);
    EXPECT_OK(EVP_CIPHER_CTX_rand_key(ctx, k.key));
    /* A second context's random key is another key: both can encrypt. */
    EXPECT_OK(EVP_CipherInit_ex(other, rec_ciph[ai], NULL, NULL, NULL, 1));
    EXPECT_OK(EVP_CIPHER_CTX_rand_key(other, key2));
    CU_ASSERT(memcmp(k.key, key2, a->keylen) != 0);
    EXPECT_OK(EVP_CipherInit_ex(other, NULL, NULL, key2, k.iv, -1));
    fill(pt, sizeof(pt));
    for (uint64_t i = 0; i < SPEED_RECORDS; i++) {
        uint64_t seq = UINT64_MAX;
        OSSL_PARAM p[3];

        EXPECT_OK(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_IVLEN, IVLEN, NULL));
        if (a->ccm)
            EXPECT_OK(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, MAXTAG, NULL));
        EXPECT_OK(EVP_CipherInit_ex(ctx, NULL, NULL, k.key, k.iv, -1));
        if (a->ccm)
            EXPECT_OK(EVP_EncryptUpdate(ctx, NULL, &n, NULL, (int)sizeof(pt)));
        EXPECT_OK(EVP_EncryptUpdate(ctx, NULL, &n, app_aad, (int)sizeof(app_aad)));
        EXPECT_OK(EVP_EncryptUpdate(ctx, ct[i], &n, pt, (int)sizeof(pt)));
        EXPECT_OK(EVP_EncryptFinal_ex(ctx, ct[i] + sizeof(pt), &n));
        p[0] = OSSL_PARAM_construct_uint64(M2MSEC_REC_PARAM_SEQ, &seq);
        p[1] = OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, tag, MAXTAG);
        p[2] = OSSL_PARAM_construct_end();
        EXPECT_OK(EVP_CIPHER_CTX_get_params(ctx, p));
        CU_ASSERT_EQUAL(seq, i);
        CU_ASSERT(ref_open(&k, i, app_aad, sizeof(app_aad), ct[i], sizeof(pt), tag, out));
        CU_ASSERT(memcmp(out, pt, sizeof(pt)) == 0);
        for (uint64_t j = 0; j < i; j++)
            CU_ASSERT(memcmp(ct[i], ct[j], sizeof(pt)) != 0);
    }
    CU_ASSERT_EQUAL(read_u64(ctx, M2MSEC_REC_PARAM_NEXT_SEQ), SPEED_RECORDS);
    /* Another key, or the same key with another IV, is still refused. */
    EXPECT_FAIL(EVP_CipherInit_ex(ctx, NULL, NULL, key2, k.iv, -1), M2MSEC_R_BAD_STATE);
    k.iv[IVLEN - 1] ^= 1;
    EXPECT_FAIL(EVP_CipherInit_ex(ctx, NULL, NULL, k.key, k.iv, -1), M2MSEC_R_BAD_STATE);
    /* A new context with the first key: the key registry refuses it, as before. */
    EVP_CIPHER_CTX_free(other);
    other = EVP_CIPHER_CTX_new();
    CU_ASSERT_PTR_NOT_NULL_FATAL(other);
    EXPECT_FAIL(EVP_EncryptInit_ex2(other, rec_ciph[ai], k.key, k.iv, NULL), M2MSEC_R_KEY_REUSED);
    EVP_CIPHER_CTX_free(other);
    EVP_CIPHER_CTX_free(ctx);
    OPENSSL_cleanse(&k, sizeof(k));
    OPENSSL_cleanse(key2, sizeof(key2));
}

static void test_speed_loop(void)
{
    for (size_t ai = 0; ai < NALGS; ai++)
        speed_loop(ai);
}

static void test_fetch(void)
{
    for (size_t ai = 0; ai < NALGS; ai++) {
        CU_ASSERT_PTR_NOT_NULL(rec_ciph[ai]);
        CU_ASSERT_PTR_NOT_NULL(ref_ciph[ai]);
        CU_ASSERT_STRING_EQUAL(OSSL_PROVIDER_get0_name(EVP_CIPHER_get0_provider(rec_ciph[ai])),
                               "m2msec");
        CU_ASSERT_STRING_EQUAL(OSSL_PROVIDER_get0_name(EVP_CIPHER_get0_provider(ref_ciph[ai])),
                               "default");
        CU_ASSERT_EQUAL(EVP_CIPHER_get_key_length(rec_ciph[ai]), (int)algs[ai].keylen);
        CU_ASSERT_EQUAL(EVP_CIPHER_get_iv_length(rec_ciph[ai]), IVLEN);
        CU_ASSERT_EQUAL(EVP_CIPHER_get_block_size(rec_ciph[ai]), 1);
        CU_ASSERT(EVP_CIPHER_get_flags(rec_ciph[ai]) & EVP_CIPH_FLAG_AEAD_CIPHER);
    }
}

static int suite_init(void)
{
    const char *dir = getenv("M2M_MODULES");

    if (dir == NULL || *dir == '\0') {
        fprintf(stderr, "M2M_MODULES is not set (directory of m2msec.so)\n");
        return 1;
    }
    libctx = OSSL_LIB_CTX_new();
    if (libctx == NULL || !OSSL_PROVIDER_set_default_search_path(libctx, dir) ||
        (prov_m2m = OSSL_PROVIDER_load(libctx, "m2msec")) == NULL ||
        (prov_default = OSSL_PROVIDER_load(libctx, "default")) == NULL) {
        fprintf(stderr, "cannot load the m2msec and default providers from %s\n", dir);
        ERR_print_errors_fp(stderr);
        return 1;
    }
    for (size_t ai = 0; ai < NALGS; ai++) {
        rec_ciph[ai] = EVP_CIPHER_fetch(libctx, algs[ai].name, "provider=m2msec");
        ref_ciph[ai] = EVP_CIPHER_fetch(libctx, algs[ai].ref, "provider=default");
        if (rec_ciph[ai] == NULL || ref_ciph[ai] == NULL) {
            fprintf(stderr, "cannot fetch %s / %s\n", algs[ai].name, algs[ai].ref);
            ERR_print_errors_fp(stderr);
            return 1;
        }
    }
    return 0;
}

static int suite_cleanup(void)
{
    for (size_t ai = 0; ai < NALGS; ai++) {
        EVP_CIPHER_free(rec_ciph[ai]);
        EVP_CIPHER_free(ref_ciph[ai]);
        rec_ciph[ai] = ref_ciph[ai] = NULL;
    }
    OSSL_PROVIDER_unload(prov_m2m);
    OSSL_PROVIDER_unload(prov_default);
    OSSL_LIB_CTX_free(libctx);
    libctx = NULL;
    return 0;
}

int main(void)
{
    static const tc_test tests[] = {
        {"fetch: four AEAD record ciphers", test_fetch},
        {"round trip, all sizes, with and without AAD", test_round_trip},
        {"independent reference: stock AEADs both ways", test_reference},
        {"replayed and too-old records", test_replay_errors},
        {"forged records: ciphertext, tag, AAD, epoch, seq", test_auth_errors},
        {"not-after in the past", test_not_after_past},
        {"max-records and rekey-needed", test_max_records},
        {"max-bytes", test_max_bytes},
        {"max-failures", test_max_failures},
        {"default limits; requests above them refused", test_defaults},
        {"state, re-init, copy, key registry", test_state_errors},
        {"AAD and data in pieces, CCM in one call", test_update_rules},
        {"replay-window parameter", test_window_param},
        {"CCM with 8-byte tag, tag lengths", test_ccm8},
        {"10^6 records: unique nonces, shuffled opening", test_million_records},
        {"epoch roll-over", test_epoch_rollover},
        {"forged bytes count; plaintext before final (GCM, ChaCha)",
         test_forged_bytes_and_early_plaintext},
        {"openssl speed's loop: same key and IV re-init continues the sequence", test_speed_loop},
    };
    return tc_run("test_record_cipher", "record_cipher", suite_init, suite_cleanup, tests,
                  sizeof(tests) / sizeof(tests[0]));
}
