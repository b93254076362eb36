/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for the m2msec KDFs: M2M-SESSION-KDF, ONEM2M-KDF, OSCORE-KDF
 * and the internal HKDF they share.
 *
 * Every expected value comes from an independent reference, never from the
 * code under test: the published vectors of RFC 5869 Appendix A and
 * RFC 8613 Appendix C, or OpenSSL's own HKDF and HMAC from the default
 * provider in a separate library context, fed with input bytes that this
 * file encodes by hand from the specifications (oneM2M TS-0003 clause 10.3,
 * RFC 8613 section 3.2.1, the M2M-SESSION-KDF info layout of
 * docs/PROTOCOL.md section 2).
 *
 * Environment: M2M_MODULES names the directory holding the built m2msec.so.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CUnit/Basic.h>
#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/provider.h>

#include "hkdf.h"
#include "hmac.h"
#include "kdf_common.h"
#include "policy.h"
#include "prov.h"
#include "test_run.h"

#define SESSION "M2M-SESSION-KDF"
#define ONEM2M "ONEM2M-KDF"
#define OSCORE "OSCORE-KDF"

/* oneM2M TS-0003 V3.18.0 clause 10.3 labels, transcribed from the standard. */
#define LABEL_KM "oneM2M Enrolment Key to Master Credential derivation"
#define LABEL_KPSA "oneM2M Enrolment Key to Provisioned Secure Connection Key derivation"
#define LABEL_USAGE "oneM2M Enrolment Key to Usage-Constrained Symmetric Key derivation"
#define LABEL_ESPRIM "oneM2M HMAC-SHA256 sessionESPrimKey derivation algorithm"
static const char *const E2E_LABELS[4] = {
    "E2E Message Authentication Key",
    "E2E Message Confidentiality Key",
    "E2E Attribute Authenticity Key",
    "E2E Attribute Confidentiality Key",
};
static const char *const E2E_NAMES[5] = {"e2e-master", "e2e-msg-auth", "e2e-msg-conf",
                                         "e2e-att-auth", "e2e-att-conf"};

/* "ＭＡＦ①": fullwidth M, A, F and circled digit one; NFKC gives "MAF1". */
#define MAF_COMPAT "\xEF\xBC\xAD\xEF\xBC\xA1\xEF\xBC\xA6\xE2\x91\xA0"

/* Application context: m2msec + default, as an application would load them. */
static OSSL_LIB_CTX *app_ctx;
/* Reference context: OpenSSL's default provider only, never m2msec. */
static OSSL_LIB_CTX *ref_ctx;
/* Restricted application context: m2msec only, no default provider. */
static OSSL_LIB_CTX *only_ctx;
static OSSL_PROVIDER *app_m2m, *app_def, *ref_def, *only_m2m;

/* Key material, filled with fixed patterns by setup(). */
static unsigned char K[64], K2[64], SALT[32], NONCE_A[16], NONCE_B[16], RAND_R[16], RAND_O[16];

/* Big output buffers for the maximum-length cases. */
#define BIG (255 * 64 + 1)
static unsigned char big_got[BIG], big_want[BIG];

/* ------------------------------------------------------------------------ */
/* Assertion helpers                                                        */
/* ------------------------------------------------------------------------ */

/* CHECK (tests/common/test_run.h) for helpers that report their caller's line and function. */
#define CHECK_AT(ok, line, func, ...) tc_check_at(ok, __FILE__, line, func, __VA_ARGS__)

static void tohex(const unsigned char *b, size_t n, char *out, size_t outsz)
{
    static const char digits[] = "0123456789abcdef";
    size_t i;

    for (i = 0; i < n && 2 * i + 2 < outsz; i++) {
        out[2 * i] = digits[b[i] >> 4];
        out[2 * i + 1] = digits[b[i] & 15];
    }
    out[2 * i] = '\0';
}

/* Decode plain hex into out; returns the number of bytes. Aborts on a bad vector. */
static size_t unhex(const char *hex, unsigned char *out, size_t max)
{
    size_t len = strlen(hex), n = len / 2;

    if (len % 2 != 0 || n > max) {
        fprintf(stderr, "bad test vector '%s'\n", hex);
        abort();
    }
    for (size_t i = 0; i < n; i++) {
        unsigned int v = 0;

        if (sscanf(hex + 2 * i, "%2x", &v) != 1) {
            fprintf(stderr, "bad test vector '%s'\n", hex);
            abort();
        }
        out[i] = (unsigned char)v;
    }
    return n;
}

/* Compare bytes; on mismatch the message shows label and both values. */
#if defined(__GNUC__)
__attribute__((format(printf, 7, 8)))
#endif
static void
check_bytes_at(unsigned int line, const char *func, int want_equal, const unsigned char *got,
               const unsigned char *want, size_t n, const char *fmt, ...)
{
    char label[512], g[80], w[80];
    va_list ap;
    int equal = memcmp(got, want, n) == 0;

    va_start(ap, fmt);
    vsnprintf(label, sizeof(label), fmt, ap);
    va_end(ap);
    tohex(got, n < 32 ? n : 32, g, sizeof(g));
    tohex(want, n < 32 ? n : 32, w, sizeof(w));
    CHECK_AT(equal == want_equal, line, func, "%s: %s %s%s %s %s%s", label,
             want_equal ? "got" : "both", g, n > 32 ? ".." : "", want_equal ? "want" : "and", w,
             n > 32 ? ".." : "");
}

#define CHECK_EQ(got, want, n, ...) check_bytes_at(__LINE__, __func__, 1, got, want, n, __VA_ARGS__)
#define CHECK_NE(got, want, n, ...) check_bytes_at(__LINE__, __func__, 0, got, want, n, __VA_ARGS__)

/* The thread's error queue as ERR_print_errors shows it (the queue is emptied). */
static char err_text[8192];

static const char *take_errors(void)
{
    BIO *b = BIO_new(BIO_s_mem());
    int n;

    err_text[0] = '\0';
    if (b == NULL)
        return err_text;
    ERR_print_errors(b);
    n = BIO_read(b, err_text, (int)sizeof(err_text) - 1);
    err_text[n > 0 ? n : 0] = '\0';
    BIO_free(b);
    return err_text;
}

/* ------------------------------------------------------------------------ */
/* OSSL_PARAM list builder                                                  */
/* ------------------------------------------------------------------------ */

#define PB_MAX 24

typedef struct {
    OSSL_PARAM p[PB_MAX];
    uint64_t u64[8];
    int32_t i32[4];
    size_t n, nu, ni;
} PB;

static void pb_init(PB *b)
{
    memset(b, 0, sizeof(*b));
    b->p[0] = OSSL_PARAM_construct_end();
}

static void pb_add(PB *b, OSSL_PARAM p)
{
    if (b->n + 1 >= PB_MAX)
        abort();
    b->p[b->n++] = p;
    b->p[b->n] = OSSL_PARAM_construct_end();
}

static void pb_str(PB *b, const char *key, const char *v)
{
    pb_add(b, OSSL_PARAM_construct_utf8_string(key, (char *)v, 0));
}

/* A UTF-8 parameter with an explicit length (for embedded NUL bytes). */
static void pb_strn(PB *b, const char *key, const char *v, size_t len)
{
    OSSL_PARAM p = OSSL_PARAM_construct_utf8_string(key, (char *)v, 0);

    p.data_size = len;
    pb_add(b, p);
}

static void pb_oct(PB *b, const char *key, const void *v, size_t len)
{
    pb_add(b, OSSL_PARAM_construct_octet_string(key, (void *)v, len));
}

static void pb_u64(PB *b, const char *key, uint64_t v)
{
    if (b->nu >= sizeof(b->u64) / sizeof(b->u64[0]))
        abort();
    b->u64[b->nu] = v;
    pb_add(b, OSSL_PARAM_construct_uint64(key, &b->u64[b->nu]));
    b->nu++;
}

static void pb_i32(PB *b, const char *key, int32_t v)
{
    if (b->ni >= sizeof(b->i32) / sizeof(b->i32[0]))
        abort();
    b->i32[b->ni] = v;
    pb_add(b, OSSL_PARAM_construct_int32(key, &b->i32[b->ni]));
    b->ni++;
}

/* ------------------------------------------------------------------------ */
/* Byte-string builder for the references                                   */
/* ------------------------------------------------------------------------ */

typedef struct {
    unsigned char b[2048];
    size_t n;
} BUF;

static void put(BUF *x, const void *d, size_t n)
{
    if (x->n + n > sizeof(x->b))
        abort();
    if (n > 0)
        memcpy(x->b + x->n, d, n);
    x->n += n;
}

static void put_str(BUF *x, const char *s)
{
    put(x, s, strlen(s));
}

static void put_be(BUF *x, uint64_t v, int bytes)
{
    for (int i = bytes - 1; i >= 0; i--) {
        unsigned char c = (unsigned char)(v >> (8 * i));

        put(x, &c, 1);
    }
}

/* lp(x) = u16be(len(x)) || x */
static void put_lp(BUF *x, const void *d, size_t n)
{
    put_be(x, n, 2);
    put(x, d, n);
}

static void put_lp_str(BUF *x, const char *s)
{
    put_lp(x, s, strlen(s));
}

/* ------------------------------------------------------------------------ */
/* Derivation through EVP_KDF, and the independent references               */
/* ------------------------------------------------------------------------ */

static int kdf_derive(OSSL_LIB_CTX *lib, const char *alg, const OSSL_PARAM *params,
                      unsigned char *out, size_t outlen)
{
    EVP_KDF *k = EVP_KDF_fetch(lib, alg, NULL);
    EVP_KDF_CTX *c = k != NULL ? EVP_KDF_CTX_new(k) : NULL;
    int rc = -1;

    if (c != NULL)
        rc = EVP_KDF_derive(c, out, outlen, params);
    EVP_KDF_CTX_free(c);
    EVP_KDF_free(k);
    return rc;
}

/* OpenSSL's HKDF (default provider, reference context). */
static int ref_hkdf_mode(const char *digest, const char *mode, const unsigned char *key,
                         size_t keylen, const unsigned char *salt, size_t saltlen,
                         const unsigned char *info, size_t infolen, unsigned char *out,
                         size_t outlen)
{
    PB b;

    pb_init(&b);
    pb_str(&b, OSSL_KDF_PARAM_DIGEST, digest);
    if (mode != NULL)
        pb_str(&b, OSSL_KDF_PARAM_MODE, mode);
    pb_oct(&b, OSSL_KDF_PARAM_KEY, key, keylen);
    if (saltlen > 0)
        pb_oct(&b, OSSL_KDF_PARAM_SALT, salt, saltlen);
    if (infolen > 0)
        pb_oct(&b, OSSL_KDF_PARAM_INFO, info, infolen);
    return kdf_derive(ref_ctx, "HKDF", b.p, out, outlen) > 0;
}

static int ref_hkdf(const char *digest, const unsigned char *key, size_t keylen,
                    const unsigned char *salt, size_t saltlen, const unsigned char *info,
                    size_t infolen, unsigned char *out, size_t outlen)
{
    return ref_hkdf_mode(digest, NULL, key, keylen, salt, saltlen, info, infolen, out, outlen);
}

/* OpenSSL's HMAC-SHA-256 (default provider, reference context). Writes 32 bytes. */
static int ref_hmac(const unsigned char *key, size_t keylen, const BUF *msg, unsigned char *out)
{
    static const unsigned char none[1] = {0};
    size_t outl = 0;

    return EVP_Q_mac(ref_ctx, "HMAC", NULL, "SHA256", NULL, keylen > 0 ? key : none, keylen, msg->b,
                     msg->n, out, 32, &outl) != NULL &&
           outl == 32;
}

/* Run a derivation that must fail and check the error and the wiped output. */
static void expect_fail_ctx_at(unsigned int line, const char *func, EVP_KDF_CTX *c,
                               const OSSL_PARAM *params, size_t outlen, const char *reason,
                               const char *detail, const char *label)
{
    unsigned char *buf = malloc(outlen + 1);
    size_t dirty = 0;
    unsigned long e;
    const char *rs, *text, *want = detail;
    int rc;

    if (buf == NULL)
        abort();
    memset(buf, 0xAA, outlen + 1);
    ERR_clear_error();
    rc = c != NULL ? EVP_KDF_derive(c, buf, outlen, params) : -1;
    e = ERR_peek_last_error();
    rs = e != 0 ? ERR_reason_error_string(e) : NULL;
    text = take_errors();
    for (size_t i = 0; i < outlen; i++)
        if (buf[i] != 0)
            dirty++;
    CHECK_AT(c != NULL && rc <= 0, line, func, "%s: derive must fail (rc %d)", label, rc);
    CHECK_AT(rs != NULL && strcmp(rs, reason) == 0, line, func, "%s: reason '%s', want '%s'", label,
             rs != NULL ? rs : "(none)", reason);
    CHECK_AT(want != NULL && strstr(text, want) != NULL, line, func,
             "%s: error text lacks '%s': %s", label, want != NULL ? want : "(null)", text);
    CHECK_AT(strstr(text, "reason(") == NULL, line, func, "%s: error without text: %s", label,
             text);
    CHECK_AT(dirty == 0, line, func, "%s: %zu of %zu output bytes not wiped", label, dirty, outlen);
    free(buf);
}

static void expect_fail_at(unsigned int line, const char *func, OSSL_LIB_CTX *lib, const char *alg,
                           const OSSL_PARAM *params, size_t outlen, const char *reason,
                           const char *detail, const char *label)
{
    EVP_KDF *k = EVP_KDF_fetch(lib, alg, NULL);
    EVP_KDF_CTX *c = k != NULL ? EVP_KDF_CTX_new(k) : NULL;

    expect_fail_ctx_at(line, func, c, params, outlen, reason, detail, label);
    EVP_KDF_CTX_free(c);
    EVP_KDF_free(k);
}

#define EXPECT_FAIL(lib, alg, params, outlen, reason, detail, label)                               \
    expect_fail_at(__LINE__, __func__, lib, alg, params, outlen, reason, detail, label)
#define EXPECT_FAIL_CTX(c, params, outlen, reason, detail, label)                                  \
    expect_fail_ctx_at(__LINE__, __func__, c, params, outlen, reason, detail, label)

/*
 * Tables of refused derivations: r is an array of
 * { const char *label; T in; size_t outlen; const char *reason, *detail; }
 * holding n entries. ADD_REFUSAL appends the inputs base (of type T)
 * changed by stmt, which edits them through T *v.
 */
#define ADD_REFUSAL(r, n, T, base, lbl, L, rsn, dtl, stmt)                                         \
    do {                                                                                           \
        if ((n) == sizeof(r) / sizeof((r)[0]))                                                     \
            abort();                                                                               \
        (r)[n].label = (lbl);                                                                      \
        (r)[n].in = (base);                                                                        \
        (r)[n].outlen = (L);                                                                       \
        (r)[n].reason = (rsn);                                                                     \
        (r)[n].detail = (dtl);                                                                     \
        {                                                                                          \
            T *v = &(r)[n].in;                                                                     \
            stmt;                                                                                  \
        }                                                                                          \
        (n)++;                                                                                     \
    } while (0)

/*
 * The contexts of a dup test: c has the parameters set; d[0] was copied
 * from it before its first derivation (no HMAC state yet), d[1] after it.
 */
typedef struct {
    EVP_KDF *k;
    EVP_KDF_CTX *c, *d[2];
} DUPS;

/*
 * Sets params on a new alg context and checks EVP_KDF_CTX_dup: the
 * original and both copies derive want[len]. 0 (after failing the
 * assertions) if a context is missing.
 */
static int dups_at(unsigned int line, const char *func, const char *alg, const OSSL_PARAM *params,
                   const unsigned char *want, size_t len, DUPS *x)
{
    unsigned char o[64];

    memset(x, 0, sizeof(*x));
    x->k = EVP_KDF_fetch(app_ctx, alg, NULL);
    x->c = x->k != NULL ? EVP_KDF_CTX_new(x->k) : NULL;
    CHECK_AT(x->c != NULL && len <= sizeof(o), line, func, "%s: new context", alg);
    if (x->c == NULL || len > sizeof(o))
        return 0;
    CHECK_AT(EVP_KDF_CTX_set_params(x->c, params) == 1, line, func, "%s: set params", alg);
    x->d[0] = EVP_KDF_CTX_dup(x->c);
    CHECK_AT(EVP_KDF_derive(x->c, o, len, NULL) > 0, line, func, "%s: derive original", alg);
    check_bytes_at(line, func, 1, o, want, len, "%s: original", alg);
    x->d[1] = EVP_KDF_CTX_dup(x->c);
    for (int i = 0; i < 2; i++) {
        CHECK_AT(x->d[i] != NULL, line, func, "%s: dup %s derive", alg,
                 i == 0 ? "before" : "after");
        if (x->d[i] == NULL)
            return 0;
        memset(o, 0, sizeof(o));
        CHECK_AT(EVP_KDF_derive(x->d[i], o, len, NULL) > 0, line, func, "%s: derive dup %d", alg,
                 i + 1);
        check_bytes_at(line, func, 1, o, want, len, "%s: dup %s derive", alg,
                       i == 0 ? "before" : "after");
    }
    return 1;
}

#define CHECK_DUPS(alg, params, want, len, x) dups_at(__LINE__, __func__, alg, params, want, len, x)

static void dups_free(DUPS *x)
{
    EVP_KDF_CTX_free(x->d[0]);
    EVP_KDF_CTX_free(x->d[1]);
    EVP_KDF_CTX_free(x->c);
    EVP_KDF_free(x->k);
}

/* ------------------------------------------------------------------------ */
/* M2M-SESSION-KDF inputs and reference                                     */
/* ------------------------------------------------------------------------ */

typedef struct {
    const char *digest; /* NULL: not passed (default SHA2-256) */
    const unsigned char *key;
    size_t keylen;
    const unsigned char *salt; /* NULL: not passed */
    size_t saltlen;
    const char *purpose, *originator, *receiver, *aead; /* NULL: not passed */
    int has_epoch, has_nb, has_lifetime;
    uint64_t epoch, nb, lifetime;
    const unsigned char *ononce, *rnonce; /* NULL: not passed */
    size_t ononcelen, rnoncelen;
} SESS;

static void sess_pb(const SESS *s, PB *b)
{
    pb_init(b);
    if (s->digest != NULL)
        pb_str(b, OSSL_KDF_PARAM_DIGEST, s->digest);
    if (s->key != NULL)
        pb_oct(b, OSSL_KDF_PARAM_KEY, s->key, s->keylen);
    if (s->salt != NULL)
        pb_oct(b, OSSL_KDF_PARAM_SALT, s->salt, s->saltlen);
    if (s->purpose != NULL)
        pb_str(b, "purpose", s->purpose);
    if (s->originator != NULL)
        pb_str(b, "originator", s->originator);
    if (s->receiver != NULL)
        pb_str(b, "receiver", s->receiver);
    if (s->aead != NULL)
        pb_str(b, "aead", s->aead);
    if (s->has_epoch)
        pb_u64(b, "epoch", s->epoch);
    if (s->has_nb)
        pb_u64(b, "not-before", s->nb);
    if (s->has_lifetime)
        pb_u64(b, "lifetime", s->lifetime);
    if (s->ononce != NULL)
        pb_oct(b, "originator-nonce", s->ononce, s->ononcelen);
    if (s->rnonce != NULL)
        pb_oct(b, "receiver-nonce", s->rnonce, s->rnoncelen);
}

static int sess_derive(OSSL_LIB_CTX *lib, const SESS *s, unsigned char *out, size_t outlen)
{
    PB b;

    sess_pb(s, &b);
    return kdf_derive(lib, SESSION, b.p, out, outlen);
}

/*
 * info = lp("m2msec session key v1") || lp(purpose) || lp(originator) ||
 *        lp(receiver) || u64be(epoch) || u64be(not-before) || u64be(lifetime) ||
 *        lp(aead) || u32be(L) || lp(originator-nonce) || lp(receiver-nonce)
 * (identifiers given to the reference are already in NFKC form).
 */
static void sess_info(const SESS *s, size_t outlen, BUF *info)
{
    info->n = 0;
    put_lp_str(info, "m2msec session key v1");
    put_lp_str(info, s->purpose);
    put_lp_str(info, s->originator);
    put_lp_str(info, s->receiver);
    put_be(info, s->has_epoch ? s->epoch : 0, 8);
    put_be(info, s->has_nb ? s->nb : 0, 8);
    put_be(info, s->has_lifetime ? s->lifetime : 3600, 8);
    put_lp_str(info, s->aead != NULL ? s->aead : "M2M-REC-AES-128-GCM");
    put_be(info, outlen, 4);
    put_lp(info, s->ononce, s->ononce != NULL ? s->ononcelen : 0);
    put_lp(info, s->rnonce, s->rnonce != NULL ? s->rnoncelen : 0);
}

static int sess_ref(const SESS *s, unsigned char *out, size_t outlen)
{
    BUF info;

    sess_info(s, outlen, &info);
    return ref_hkdf(s->digest != NULL ? s->digest : "SHA2-256", s->key, s->keylen, s->salt,
                    s->salt != NULL ? s->saltlen : 0, info.b, info.n, out, outlen);
}

/* Derive through m2msec and through the reference; both must succeed and agree. */
static void check_sess_at(unsigned int line, const char *func, OSSL_LIB_CTX *lib, const SESS *s,
                          size_t outlen, const char *label)
{
    int rc, ok;

    memset(big_got, 0, outlen);
    memset(big_want, 0x55, outlen);
    rc = sess_derive(lib, s, big_got, outlen);
    ok = sess_ref(s, big_want, outlen);
    CHECK_AT(rc > 0, line, func, "%s (L=%zu): derive rc %d: %s", label, outlen, rc,
             rc > 0 ? "" : take_errors());
    CHECK_AT(ok, line, func, "%s (L=%zu): reference HKDF failed", label, outlen);
    check_bytes_at(line, func, 1, big_got, big_want, outlen, "%s (L=%zu) vs HKDF reference", label,
                   outlen);
}

#define CHECK_SESS(lib, s, outlen, label) check_sess_at(__LINE__, __func__, lib, s, outlen, label)

/* ------------------------------------------------------------------------ */
/* ONEM2M-KDF inputs                                                        */
/* ------------------------------------------------------------------------ */

typedef struct {
    const char *deriv;
    const unsigned char *key;
    size_t keylen;
    const unsigned char *salt; /* NULL: not passed */
    size_t saltlen;
    const char *maf, *enrolee, *target; /* NULL: not passed */
    int has_suid;
    uint64_t suid;
    const unsigned char *rrand, *orand; /* NULL: not passed */
    size_t rrandlen, orandlen;
} OM;

static void om_pb(const OM *o, PB *b)
{
    pb_init(b);
    if (o->deriv != NULL)
        pb_str(b, "derivation", o->deriv);
    if (o->key != NULL)
        pb_oct(b, OSSL_KDF_PARAM_KEY, o->key, o->keylen);
    if (o->salt != NULL)
        pb_oct(b, OSSL_KDF_PARAM_SALT, o->salt, o->saltlen);
    if (o->maf != NULL)
        pb_str(b, "maf-id", o->maf);
    if (o->enrolee != NULL)
        pb_str(b, "enrolee-id", o->enrolee);
    if (o->target != NULL)
        pb_str(b, "target-id", o->target);
    if (o->has_suid)
        pb_u64(b, "suid", o->suid);
    if (o->rrand != NULL)
        pb_oct(b, "receiver-rand", o->rrand, o->rrandlen);
    if (o->orand != NULL)
        pb_oct(b, "originator-rand", o->orand, o->orandlen);
}

static int om_derive(OSSL_LIB_CTX *lib, const OM *o, unsigned char *out, size_t outlen)
{
    PB b;

    om_pb(o, &b);
    return kdf_derive(lib, ONEM2M, b.p, out, outlen);
}

/* Derive with m2msec at 32, 16 and 1 bytes; each must be the prefix of want[32]. */
static void check_om_at(unsigned int line, const char *func, OSSL_LIB_CTX *lib, const OM *o,
                        const unsigned char want[32], const char *label)
{
    static const size_t lens[] = {32, 16, 1};

    for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
        unsigned char got[32];
        int rc;

        memset(got, 0xAA, sizeof(got));
        rc = om_derive(lib, o, got, lens[i]);
        CHECK_AT(rc > 0, line, func, "%s (L=%zu): derive rc %d: %s", label, lens[i], rc,
                 rc > 0 ? "" : take_errors());
        check_bytes_at(line, func, 1, got, want, lens[i], "%s (L=%zu) vs HMAC reference", label,
                       lens[i]);
    }
}

#define CHECK_OM(lib, o, want, label) check_om_at(__LINE__, __func__, lib, o, want, label)

/* Ke2e_master = HMAC(Salt, Kpsa); T(n) = HMAC(master, T(n-1) || label_n || n), T(0) empty. */
static int e2e_ref(const unsigned char *salt, size_t saltlen, const unsigned char *kpsa,
                   size_t kpsalen, unsigned char t[5][32])
{
    BUF m;

    m.n = 0;
    put(&m, kpsa, kpsalen);
    if (!ref_hmac(salt, saltlen, &m, t[0]))
        return 0;
    for (int n = 1; n <= 4; n++) {
        unsigned char octet = (unsigned char)n;

        m.n = 0;
        if (n > 1)
            put(&m, t[n - 1], 32);
        put_str(&m, E2E_LABELS[n - 1]);
        put(&m, &octet, 1);
        if (!ref_hmac(t[0], 32, &m, t[n]))
            return 0;
    }
    return 1;
}

/* ------------------------------------------------------------------------ */
/* OSCORE-KDF inputs and reference                                          */
/* ------------------------------------------------------------------------ */

typedef struct {
    const unsigned char *secret;
    size_t secretlen;
    const unsigned char *salt; /* NULL: not passed */
    size_t saltlen;
    const unsigned char *idctx; /* NULL: not passed (CBOR nil) */
    size_t idctxlen;
    const unsigned char *id; /* NULL: not passed */
    size_t idlen;
    const char *type; /* "key", "iv" or NULL */
    int has_alg;
    int32_t alg;
} OSC;

static void osc_pb(const OSC *o, PB *b)
{
    pb_init(b);
    if (o->secret != NULL)
        pb_oct(b, OSSL_KDF_PARAM_KEY, o->secret, o->secretlen);
    if (o->salt != NULL)
        pb_oct(b, OSSL_KDF_PARAM_SALT, o->salt, o->saltlen);
    if (o->idctx != NULL)
        pb_oct(b, "id-context", o->idctx, o->idctxlen);
    if (o->id != NULL)
        pb_oct(b, "id", o->id, o->idlen);
    if (o->type != NULL)
        pb_str(b, "type", o->type);
    if (o->has_alg)
        pb_i32(b, "alg", o->alg);
}

static int osc_derive(OSSL_LIB_CTX *lib, const OSC *o, unsigned char *out, size_t outlen)
{
    PB b;

    osc_pb(o, &b);
    return kdf_derive(lib, OSCORE, b.p, out, outlen);
}

/* CBOR (RFC 8949) head in its shortest form. */
static void cbor_head(BUF *x, unsigned int major, uint64_t v)
{
    unsigned char ib = (unsigned char)(major << 5);

    if (v < 24) {
        ib = (unsigned char)(ib | v);
        put(x, &ib, 1);
    } else if (v <= 0xFF) {
        ib |= 24;
        put(x, &ib, 1);
        put_be(x, v, 1);
    } else if (v <= 0xFFFF) {
        ib |= 25;
        put(x, &ib, 1);
        put_be(x, v, 2);
    } else if (v <= 0xFFFFFFFFu) {
        ib |= 26;
        put(x, &ib, 1);
        put_be(x, v, 4);
    } else {
        ib |= 27;
        put(x, &ib, 1);
        put_be(x, v, 8);
    }
}

/* info = [ id : bstr, id_context : bstr / nil, alg_aead : int, type : tstr, L : uint ] */
static void osc_info(const OSC *o, size_t outlen, BUF *info)
{
    int is_iv = strcmp(o->type, "iv") == 0;
    int32_t alg = o->has_alg ? o->alg : 10;
    const char *type = is_iv ? "IV" : "Key";
    unsigned char nil = 0xF6;

    info->n = 0;
    cbor_head(info, 4, 5);
    cbor_head(info, 2, is_iv || o->id == NULL ? 0 : o->idlen);
    if (!is_iv && o->id != NULL)
        put(info, o->id, o->idlen);
    if (o->idctx != NULL) {
        cbor_head(info, 2, o->idctxlen);
        put(info, o->idctx, o->idctxlen);
    } else {
        put(info, &nil, 1);
    }
    if (alg >= 0)
        cbor_head(info, 0, (uint64_t)alg);
    else
        cbor_head(info, 1, (uint64_t)(-1 - (int64_t)alg));
    cbor_head(info, 3, strlen(type));
    put_str(info, type);
    cbor_head(info, 0, outlen);
}

static int osc_ref(const OSC *o, unsigned char *out, size_t outlen)
{
    BUF info;

    osc_info(o, outlen, &info);
    return ref_hkdf("SHA256", o->secret, o->secretlen, o->salt, o->salt != NULL ? o->saltlen : 0,
                    info.b, info.n, out, outlen);
}

/* ======================================================================== */
/* Suite: internal HKDF against RFC 5869                                    */
/* ======================================================================== */

static const struct {
    const char *name, *ikm, *salt, *info, *prk, *okm;
} rfc5869[] = {
    {"RFC 5869 A.1", "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b", "000102030405060708090a0b0c",
     "f0f1f2f3f4f5f6f7f8f9", "077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5",
     "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"},
    {"RFC 5869 A.2",
     "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
     "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f"
     "404142434445464748494a4b4c4d4e4f",
     "606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f"
     "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f"
     "a0a1a2a3a4a5a6a7a8a9aaabacadaeaf",
     "b0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0c1c2c3c4c5c6c7c8c9cacbcccdcecf"
     "d0d1d2d3d4d5d6d7d8d9dadbdcdddedfe0e1e2e3e4e5e6e7e8e9eaebecedeeef"
     "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff",
     "06a6b88c5853361a06104c9ceb35b45cef760014904671014a193f40c15fc244",
     "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c"
     "59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71"
     "cc30c58179ec3e87c14c01d5c1f3434f1d87"},
    {"RFC 5869 A.3", "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b", "", "",
     "19ef24a32c717b167f33a91d6f648bdf96596776afdb6377ac434c1c293ccb04",
     "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8"},
};

static M2M_PROVCTX test_pc;

static int suite_hkdf_init(void)
{
    memset(&test_pc, 0, sizeof(test_pc));
    test_pc.libctx = ref_ctx;
    test_pc.hmac = EVP_MAC_fetch(ref_ctx, "HMAC", NULL);
    m2m_policy_defaults(&test_pc.policy);
    /* The digests the provider fetches at load for its HMAC (hmac.h). */
    return test_pc.hmac != NULL && m2m_hmac_templates(&test_pc) ? 0 : -1;
}

static int suite_hkdf_clean(void)
{
    for (size_t i = 0; i < sizeof(test_pc.hmac_md) / sizeof(test_pc.hmac_md[0]); i++) {
        EVP_MD_free(test_pc.hmac_md[i]);
        test_pc.hmac_md[i] = NULL;
    }
    EVP_MAC_free(test_pc.hmac);
    test_pc.hmac = NULL;
    return 0;
}

static void test_hkdf_rfc5869(void)
{
    for (size_t v = 0; v < sizeof(rfc5869) / sizeof(rfc5869[0]); v++) {
        unsigned char ikm[80], salt[80], info[80], prk[32], okm[82], got[82], t1[64];
        size_t ikmlen = unhex(rfc5869[v].ikm, ikm, sizeof(ikm));
        size_t saltlen = unhex(rfc5869[v].salt, salt, sizeof(salt));
        size_t infolen = unhex(rfc5869[v].info, info, sizeof(info));
        size_t okmlen = unhex(rfc5869[v].okm, okm, sizeof(okm));
        unsigned char one = 1;
        M2M_HMAC h = {.ctx = NULL, .md = -1};
        const char *name = rfc5869[v].name;

        unhex(rfc5869[v].prk, prk, sizeof(prk));

        /* The RFC's PRK = HMAC-SHA-256(salt, IKM) through the internal HMAC. */
        CHECK(m2m_hmac_init(&h, &test_pc, M2M_MD_SHA256, salt, saltlen) &&
                  m2m_hmac_update(&h, ikm, ikmlen) && m2m_hmac_final(&h, t1),
              "%s: internal HMAC extract", name);
        CHECK_EQ(t1, prk, 32, "%s PRK", name);

        /* T(1) = HMAC(PRK, info || 0x01) is the first block of the RFC's OKM. */
        CHECK(m2m_hmac_init(&h, &test_pc, M2M_MD_SHA256, prk, 32) &&
                  m2m_hmac_update(&h, info, infolen) && m2m_hmac_update(&h, &one, 1) &&
                  m2m_hmac_final(&h, t1),
              "%s: internal HMAC expand", name);
        CHECK_EQ(t1, okm, 32, "%s OKM T(1) from PRK", name);

        /* The whole extract-and-expand. */
        memset(got, 0xAA, sizeof(got));
        CHECK(m2m_hkdf(&h, &test_pc, M2M_MD_SHA256, salt, saltlen, ikm, ikmlen, info, infolen, got,
                       okmlen),
              "%s: m2m_hkdf", name);
        CHECK_EQ(got, okm, okmlen, "%s OKM", name);

        /* HKDF output is a prefix-stable stream: shorter outputs are prefixes. */
        for (size_t l = 1; l < okmlen; l += 31) {
            memset(got, 0xAA, sizeof(got));
            CHECK(m2m_hkdf(&h, &test_pc, M2M_MD_SHA256, salt, saltlen, ikm, ikmlen, info, infolen,
                           got, l),
                  "%s: m2m_hkdf L=%zu", name, l);
            CHECK_EQ(got, okm, l, "%s OKM prefix L=%zu", name, l);
            CHECK(got[l] == 0xAA, "%s: m2m_hkdf L=%zu wrote past the end", name, l);
        }

        /* The reference used by the other suites agrees with the RFC too. */
        memset(got, 0, sizeof(got));
        CHECK(ref_hkdf("SHA256", ikm, ikmlen, salt, saltlen, info, infolen, got, okmlen),
              "%s: OpenSSL HKDF", name);
        CHECK_EQ(got, okm, okmlen, "%s OKM via OpenSSL HKDF (reference sanity)", name);
        m2m_hmac_cleanup(&h);
    }
}

static void test_hkdf_other_digests(void)
{
    static const struct {
        m2m_md md;
        const char *name;
        size_t max;
    } mds[] = {{M2M_MD_SHA256, "SHA2-256", 8160},
               {M2M_MD_SHA384, "SHA2-384", 12240},
               {M2M_MD_SHA512, "SHA2-512", 16320}};
    M2M_HMAC h = {.ctx = NULL, .md = -1};

    for (size_t i = 0; i < sizeof(mds) / sizeof(mds[0]); i++) {
        size_t lens[] = {1, 33, 100, mds[i].max};

        CHECK(m2m_hkdf_max_len(mds[i].md) == mds[i].max, "%s max length %zu", mds[i].name,
              m2m_hkdf_max_len(mds[i].md));
        for (size_t j = 0; j < sizeof(lens) / sizeof(lens[0]); j++) {
            memset(big_got, 0xAA, lens[j]);
            CHECK(m2m_hkdf(&h, &test_pc, mds[i].md, SALT, 13, K, 22, NONCE_A, 10, big_got, lens[j]),
                  "%s L=%zu", mds[i].name, lens[j]);
            CHECK(ref_hkdf(mds[i].name, K, 22, SALT, 13, NONCE_A, 10, big_want, lens[j]),
                  "%s L=%zu reference", mds[i].name, lens[j]);
            CHECK_EQ(big_got, big_want, lens[j], "%s L=%zu vs OpenSSL HKDF", mds[i].name, lens[j]);
        }
        /* One byte beyond 255 blocks fails and leaves the buffer wiped. */
        memset(big_got, 0xAA, mds[i].max + 1);
        CHECK(!m2m_hkdf(&h, &test_pc, mds[i].md, SALT, 13, K, 22, NONCE_A, 10, big_got,
                        mds[i].max + 1),
              "%s L=max+1 must fail", mds[i].name);
        memset(big_want, 0, mds[i].max + 1);
        CHECK(memcmp(big_got, big_want, mds[i].max + 1) == 0, "%s L=max+1 output wiped",
              mds[i].name);
    }
    {
        unsigned char b[4] = {0xAA, 0xAA, 0xAA, 0xAA}, zeros[32] = {0}, a[32], z[32];

        CHECK(!m2m_hkdf(&h, &test_pc, M2M_MD_SHA256, NULL, 0, K, 16, NULL, 0, b, 0),
              "L=0 must fail");
        /* RFC 5869 2.2: an absent salt is HashLen zeros. */
        CHECK(m2m_hkdf(&h, &test_pc, M2M_MD_SHA256, NULL, 0, K, 16, NULL, 0, a, 32) &&
                  m2m_hkdf(&h, &test_pc, M2M_MD_SHA256, zeros, 32, K, 16, NULL, 0, z, 32),
              "absent and zero salt");
        CHECK_EQ(a, z, 32, "absent salt == 32 zero bytes");
    }
    m2m_hmac_cleanup(&h);
}

static void test_md_names(void)
{
    static const struct {
        const char *name;
        int md;
    } names[] = {
        {"SHA2-256", M2M_MD_SHA256},
        {"sha256", M2M_MD_SHA256},
        {"SHA-256", M2M_MD_SHA256},
        {"SHA2-384", M2M_MD_SHA384},
        {"sha-384", M2M_MD_SHA384},
        {"SHA384", M2M_MD_SHA384},
        {"SHA2-512", M2M_MD_SHA512},
        {"Sha512", M2M_MD_SHA512},
        {"MD5", -1},
        {"SHA1", -1},
        {"SHA3-256", -1},
        {"SHA2-512/256", -1},
        {"", -1},
    };

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        CHECK(m2m_md_from_name(names[i].name) == names[i].md, "digest name '%s' -> %d (want %d)",
              names[i].name, m2m_md_from_name(names[i].name), names[i].md);
    CHECK(m2m_md_size(M2M_MD_SHA256) == 32 && m2m_md_size(M2M_MD_SHA384) == 48 &&
              m2m_md_size(M2M_MD_SHA512) == 64,
          "digest sizes");
}

/* ======================================================================== */
/* Suite: M2M-SESSION-KDF                                                   */
/* ======================================================================== */

static void test_session_reference(void)
{
    static char long_orig[401], long_recv[301];
    static const size_t lens[] = {16, 32, 48, 64, 100};

    memset(long_orig, 'o', sizeof(long_orig) - 1);
    memset(long_recv, 'r', sizeof(long_recv) - 1);
    {
        const SESS cases[] = {
            /* Defaults only. */
            {.key = K,
             .keylen = 16,
             .purpose = "record",
             .originator = "CAE01",
             .receiver = "/in-cse"},
            /* Everything set, SHA2-384. */
            {.digest = "SHA2-384",
             .key = K,
             .keylen = 32,
             .salt = SALT,
             .saltlen = 32,
             .purpose = "record",
             .originator = "Cmn-ae-1",
             .receiver = "/id-in/cse-base",
             .has_epoch = 1,
             .epoch = 7,
             .has_nb = 1,
             .nb = 1700000000,
             .has_lifetime = 1,
             .lifetime = 600,
             .aead = "M2M-REC-CHACHA20-POLY1305",
             .ononce = NONCE_A,
             .ononcelen = 16,
             .rnonce = NONCE_B,
             .rnoncelen = 16},
            /* SHA2-512, one nonce. */
            {.digest = "SHA2-512",
             .key = K2,
             .keylen = 24,
             .purpose = "attribute",
             .originator = "a",
             .receiver = "b",
             .ononce = NONCE_A,
             .ononcelen = 12},
            /* Digest alias, receiver nonce only, short salt. */
            {.digest = "sha-256",
             .key = K2,
             .keylen = 17,
             .salt = SALT,
             .saltlen = 1,
             .purpose = "p",
             .originator = "o",
             .receiver = "r",
             .rnonce = NONCE_B,
             .rnoncelen = 8},
            /* Non-ASCII identifiers already in NFKC form; extreme integers. */
            {.key = K,
             .keylen = 64,
             .purpose = "x",
             .originator = "Z\xC3\xBCrich-gw",
             .receiver = "\xE6\x9D\xB1\xE4\xBA\xAC-cse",
             .has_epoch = 1,
             .epoch = UINT64_MAX,
             .has_nb = 1,
             .nb = UINT64_MAX - 86400, /* not-before + lifetime == 2^64 - 1 */
             .has_lifetime = 1,
             .lifetime = 86400},
            /* info above 512 bytes (the provider's heap path). */
            {.key = K,
             .keylen = 32,
             .purpose = "record",
             .originator = long_orig,
             .receiver = long_recv,
             .ononce = NONCE_A,
             .ononcelen = 16},
            /* Lifetime 1 s, big epoch. */
            {.digest = "SHA2-384",
             .key = K,
             .keylen = 48,
             .purpose = "session",
             .originator = "CAE01",
             .receiver = "CAE02",
             .has_epoch = 1,
             .epoch = 0x0102030405060708ull,
             .has_lifetime = 1,
             .lifetime = 1},
        };

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
            for (size_t j = 0; j < sizeof(lens) / sizeof(lens[0]); j++) {
                char label[32];

                snprintf(label, sizeof(label), "session case %zu", i);
                CHECK_SESS(app_ctx, &cases[i], lens[j], label);
            }
    }
}

/* Parameters left out must equal their documented defaults. */
static void test_session_defaults(void)
{
    static const unsigned char zeros[32] = {0};
    unsigned char a[32], b[32];
    const SESS base = {
        .key = K, .keylen = 16, .purpose = "record", .originator = "CAE01", .receiver = "/in-cse"};
    SESS s;
    struct {
        const char *label;
        SESS s;
    } same[8];
    size_t n = 0;

    s = base;
    s.digest = "SHA2-256";
    same[n].label = "digest SHA2-256";
    same[n++].s = s;
    s = base;
    s.has_lifetime = 1;
    s.lifetime = 3600;
    same[n].label = "lifetime 3600";
    same[n++].s = s;
    s = base;
    s.has_epoch = 1;
    s.has_nb = 1;
    same[n].label = "epoch 0, not-before 0";
    same[n++].s = s;
    s = base;
    s.aead = "M2M-REC-AES-128-GCM";
    same[n].label = "aead M2M-REC-AES-128-GCM";
    same[n++].s = s;
    s = base;
    s.ononce = (const unsigned char *)"";
    s.rnonce = (const unsigned char *)"";
    same[n].label = "empty nonces";
    same[n++].s = s;
    s = base;
    s.salt = (const unsigned char *)"";
    same[n].label = "empty salt";
    same[n++].s = s;
    s = base;
    s.salt = zeros;
    s.saltlen = 32;
    same[n].label = "salt of 32 zero bytes";
    same[n++].s = s;

    CHECK(sess_derive(app_ctx, &base, a, 32) > 0, "base derive");
    CHECK_SESS(app_ctx, &base, 32, "defaults base");
    for (size_t i = 0; i < n; i++) {
        memset(b, 0xAA, sizeof(b));
        CHECK(sess_derive(app_ctx, &same[i].s, b, 32) > 0, "%s: derive", same[i].label);
        CHECK_EQ(b, a, 32, "explicit %s == default", same[i].label);
    }
}

static void test_session_lengths(void)
{
    const SESS s = {.key = K,
                    .keylen = 32,
                    .purpose = "record",
                    .originator = "CAE01",
                    .receiver = "CSE02",
                    .ononce = NONCE_A,
                    .ononcelen = 16};
    SESS s384 = s, s512 = s;
    static const size_t lens[] = {1, 32, 64, 255 * 32};
    unsigned char o32[32], o64[64];
    PB b;
    EVP_KDF *k = EVP_KDF_fetch(app_ctx, SESSION, NULL);
    EVP_KDF_CTX *c = k != NULL ? EVP_KDF_CTX_new(k) : NULL;

    for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++)
        CHECK_SESS(app_ctx, &s, lens[i], "SHA2-256 length");

    /* L is bound into info: a 64-byte key+IV block does not start with the 32-byte key. */
    CHECK(sess_derive(app_ctx, &s, o32, 32) > 0 && sess_derive(app_ctx, &s, o64, 64) > 0,
          "derive 32 and 64");
    CHECK_NE(o64, o32, 32, "L=64 prefix vs L=32");

    sess_pb(&s, &b);
    EXPECT_FAIL(app_ctx, SESSION, b.p, 255 * 32 + 1, "bad output length",
                "output length 8161 is outside 1..8160 for HKDF-SHA2-256", "SHA2-256 L=8161");
    EXPECT_FAIL(app_ctx, SESSION, b.p, 0, "bad output length", "output length 0", "L=0");

    s384.digest = "SHA2-384";
    CHECK_SESS(app_ctx, &s384, 255 * 48, "SHA2-384 max length");
    sess_pb(&s384, &b);
    EXPECT_FAIL(app_ctx, SESSION, b.p, 255 * 48 + 1, "bad output length",
                "output length 12241 is outside 1..12240 for HKDF-SHA2-384", "SHA2-384 L=12241");
    s512.digest = "SHA2-512";
    CHECK_SESS(app_ctx, &s512, 255 * 64, "SHA2-512 max length");
    CHECK_SESS(app_ctx, &s512, 64, "SHA2-512 64 bytes");

    /* The maximum is reported through the KDF size parameter. */
    CHECK(c != NULL && EVP_KDF_CTX_get_kdf_size(c) == 255 * 32, "kdf size SHA2-256: %zu",
          c != NULL ? EVP_KDF_CTX_get_kdf_size(c) : 0);
    pb_init(&b);
    pb_str(&b, OSSL_KDF_PARAM_DIGEST, "SHA2-512");
    CHECK(c != NULL && EVP_KDF_CTX_set_params(c, b.p) == 1 &&
              EVP_KDF_CTX_get_kdf_size(c) == 255 * 64,
          "kdf size SHA2-512");
    {
        char name[32] = "";
        OSSL_PARAM g[2];

        pb_init(&b);
        pb_str(&b, OSSL_KDF_PARAM_DIGEST, "sha384");
        g[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, name, sizeof(name));
        g[1] = OSSL_PARAM_construct_end();
        CHECK(c != NULL && EVP_KDF_CTX_set_params(c, b.p) == 1 &&
                  EVP_KDF_CTX_get_params(c, g) == 1 && strcmp(name, "SHA2-384") == 0,
              "gettable digest is the canonical name: '%s'", name);
    }
    EVP_KDF_CTX_free(c);
    EVP_KDF_free(k);
}

/* Changing any single input changes the output. */
static void test_session_sensitivity(void)
{
    unsigned char kx[32], sx[16], nx[16], base_out[32], out[40];
    const SESS base = {.key = K,
                       .keylen = 32,
                       .salt = SALT,
                       .saltlen = 16,
                       .purpose = "record",
                       .originator = "orig",
                       .receiver = "recv",
                       .has_epoch = 1,
                       .epoch = 1,
                       .has_nb = 1,
                       .nb = 100,
                       .has_lifetime = 1,
                       .lifetime = 600,
                       .aead = "M2M-REC-AES-256-GCM",
                       .ononce = NONCE_A,
                       .ononcelen = 16,
                       .rnonce = NONCE_B,
                       .rnoncelen = 16};
    struct {
        const char *label;
        SESS s;
        size_t outlen;
    } v[32];
    size_t n = 0;

    memcpy(kx, K, 32);
    kx[31] ^= 1;
    memcpy(sx, SALT, 16);
    sx[0] ^= 0x80;
    memcpy(nx, NONCE_A, 16);
    nx[15] ^= 1;

#define VARIANT(lbl, stmt)                                                                         \
    do {                                                                                           \
        v[n].label = lbl;                                                                          \
        v[n].s = base;                                                                             \
        v[n].outlen = 32;                                                                          \
        {                                                                                          \
            SESS *s = &v[n].s;                                                                     \
            (void)s;                                                                               \
            stmt;                                                                                  \
        }                                                                                          \
        n++;                                                                                       \
    } while (0)

    VARIANT("key: one bit", s->key = kx);
    VARIANT("key: one byte shorter", s->keylen = 31);
    VARIANT("key: other key", s->key = K2);
    VARIANT("salt: one bit", s->salt = sx);
    VARIANT("salt: absent", s->salt = NULL);
    VARIANT("salt: one byte longer", s->saltlen = 17);
    VARIANT("digest SHA2-384", s->digest = "SHA2-384");
    VARIANT("digest SHA2-512", s->digest = "SHA2-512");
    VARIANT("purpose", s->purpose = "recorD");
    VARIANT("originator", s->originator = "orih");
    VARIANT("receiver", s->receiver = "recw");
    VARIANT("epoch", s->epoch = 2);
    VARIANT("epoch: absent (0)", s->has_epoch = 0);
    VARIANT("not-before", s->nb = 101);
    VARIANT("lifetime", s->lifetime = 599);
    VARIANT("lifetime: absent (3600)", s->has_lifetime = 0);
    VARIANT("aead", s->aead = "M2M-REC-AES-128-GCM");
    VARIANT("aead: absent", s->aead = NULL);
    VARIANT("originator-nonce: one bit", s->ononce = nx);
    VARIANT("originator-nonce: absent", s->ononce = NULL);
    VARIANT("originator-nonce: shorter", s->ononcelen = 15);
    VARIANT("receiver-nonce: other", s->rnonce = NONCE_A);
    VARIANT("receiver-nonce: absent", s->rnonce = NULL);
    VARIANT("output length 31", v[n].outlen = 31);
    VARIANT("output length 33", v[n].outlen = 33);
    VARIANT("output length 40", v[n].outlen = 40);
#undef VARIANT

    CHECK(sess_derive(app_ctx, &base, base_out, 32) > 0, "base derive");
    CHECK_SESS(app_ctx, &base, 32, "sensitivity base");
    for (size_t i = 0; i < n; i++) {
        size_t cmp = v[i].outlen < 32 ? v[i].outlen : 32;
        int rc;

        memset(out, 0, sizeof(out));
        rc = sess_derive(app_ctx, &v[i].s, out, v[i].outlen);
        CHECK(rc > 0, "%s: derive rc %d", v[i].label, rc);
        CHECK_NE(out, base_out, cmp, "%s changes the output", v[i].label);
        CHECK_SESS(app_ctx, &v[i].s, v[i].outlen, v[i].label);
    }
}

/* Tuples a naive concatenation would confuse must give different keys. */
static void test_session_injective(void)
{
    const SESS base = {
        .key = K, .keylen = 16, .purpose = "record", .originator = "x", .receiver = "y"};
    struct {
        const char *label;
        SESS a, b;
    } pairs[8];
    size_t n = 0;
    unsigned char oa[32], ob[32];

#define PAIR(lbl, sa, sb)                                                                          \
    do {                                                                                           \
        pairs[n].label = lbl;                                                                      \
        pairs[n].a = base;                                                                         \
        pairs[n].b = base;                                                                         \
        {                                                                                          \
            SESS *s = &pairs[n].a;                                                                 \
            sa;                                                                                    \
            s = &pairs[n].b;                                                                       \
            sb;                                                                                    \
        }                                                                                          \
        n++;                                                                                       \
    } while (0)

    PAIR("originator/receiver ab|c vs a|bc", (s->originator = "ab", s->receiver = "c"),
         (s->originator = "a", s->receiver = "bc"));
    PAIR("purpose/originator ab|c vs a|bc", (s->purpose = "ab", s->originator = "c"),
         (s->purpose = "a", s->originator = "bc"));
    PAIR("originator and receiver swapped", (s->originator = "alice", s->receiver = "bob"),
         (s->originator = "bob", s->receiver = "alice"));
    PAIR("nonce in originator vs receiver slot",
         (s->ononce = NONCE_A, s->ononcelen = 8, s->rnonce = NULL),
         (s->ononce = NULL, s->rnonce = NONCE_A, s->rnoncelen = 8));
    PAIR("nonces ab|c vs a|bc",
         (s->ononce = (const unsigned char *)"ab", s->ononcelen = 2,
          s->rnonce = (const unsigned char *)"c", s->rnoncelen = 1),
         (s->ononce = (const unsigned char *)"a", s->ononcelen = 1,
          s->rnonce = (const unsigned char *)"bc", s->rnoncelen = 2));
    PAIR("epoch/not-before swapped", (s->has_epoch = 1, s->epoch = 1, s->has_nb = 1, s->nb = 2),
         (s->has_epoch = 1, s->epoch = 2, s->has_nb = 1, s->nb = 1));
    PAIR("receiver/aead boundary", (s->receiver = "y", s->aead = "AB"),
         (s->receiver = "yA", s->aead = "B"));
#undef PAIR

    for (size_t i = 0; i < n; i++) {
        CHECK(sess_derive(app_ctx, &pairs[i].a, oa, 32) > 0 &&
                  sess_derive(app_ctx, &pairs[i].b, ob, 32) > 0,
              "%s: derive", pairs[i].label);
        CHECK_NE(oa, ob, 32, "%s", pairs[i].label);
    }
}

static void test_session_nfkc(void)
{
    const SESS plain = {
        .key = K, .keylen = 16, .purpose = "file", .originator = "MAF1", .receiver = "Caf\xC3\xA9"};
    /* "ﬁle" (U+FB01 ligature), "ＭＡＦ①", "Cafe" + U+0301 combining acute. */
    const SESS compat = {.key = K,
                         .keylen = 16,
                         .purpose = "\xEF\xAC\x81le",
                         .originator = MAF_COMPAT,
                         .receiver = "Cafe\xCC\x81"};
    unsigned char a[32], b[32];

    CHECK(sess_derive(app_ctx, &plain, a, 32) > 0 && sess_derive(app_ctx, &compat, b, 32) > 0,
          "derive");
    CHECK_EQ(b, a, 32, "NFKC forms give the same session key");
    CHECK_SESS(app_ctx, &plain, 32, "NFKC form vs reference");
}

static const struct {
    const char *bytes, *what;
} bad_utf8[] = {
    {"\xC0\xAF", "overlong '/'"},
    {"\xED\xA0\x80", "lone surrogate U+D800"},
    {"\xFF", "byte 0xFF"},
    {"ab\xE2\x82", "truncated sequence"},
    {"\xF4\x90\x80\x80", "above U+10FFFF"},
    {"\x80x", "stray continuation byte"},
};

static void test_session_errors(void)
{
    const SESS good = {
        .key = K, .keylen = 16, .purpose = "record", .originator = "CAE01", .receiver = "CSE02"};
    struct {
        const char *label;
        SESS in;
        size_t outlen;
        const char *reason, *detail;
    } r[16];
    size_t n = 0;
    SESS s;
    PB b;
    unsigned char out[32];

    /* The boundaries themselves are accepted. */
    s = good;
    s.has_lifetime = 1;
    s.lifetime = 86400;
    CHECK_SESS(app_ctx, &s, 32, "lifetime 86400 (policy maximum)");
    CHECK_SESS(app_ctx, &good, 32, "16-byte key (policy minimum)");
    s = good;
    s.has_nb = 1;
    s.nb = UINT64_MAX - 3600;
    CHECK_SESS(app_ctx, &s, 32, "not-before 2^64-1-3600 with the default lifetime");

    /* Each refusal: good, changed by stmt (on SESS *v), derived at L bytes. */
#define REFUSED(lbl, L, rsn, dtl, stmt) ADD_REFUSAL(r, n, SESS, good, lbl, L, rsn, dtl, stmt)

    REFUSED("missing key", 32, "missing key", "no service-layer key", v->key = NULL);
    REFUSED("15-byte key", 32, "key shorter than policy minimum",
            "key is 120 bits; policy minimum is 128 bits", v->keylen = 15);
    REFUSED("empty key", 32, "key shorter than policy minimum",
            "key is 0 bits; policy minimum is 128 bits", v->keylen = 0);
    REFUSED("missing originator", 32, "missing parameter", "parameter 'originator' is required",
            v->originator = NULL);
    REFUSED("missing receiver", 32, "missing parameter", "parameter 'receiver' is required",
            v->receiver = NULL);
    REFUSED("missing purpose", 32, "missing parameter", "parameter 'purpose' is required",
            v->purpose = NULL);
    REFUSED("empty originator", 32, "invalid parameter", "parameter 'originator' must not be empty",
            v->originator = "");
    REFUSED("lifetime 90000", 32, "lifetime exceeds policy maximum",
            "lifetime 90000 s exceeds policy maximum 86400 s",
            (v->has_lifetime = 1, v->lifetime = 90000));
    REFUSED("lifetime 86401", 32, "lifetime exceeds policy maximum",
            "lifetime 86401 s exceeds policy maximum 86400 s",
            (v->has_lifetime = 1, v->lifetime = 86401));
    REFUSED("lifetime 0", 32, "invalid parameter", "lifetime must be at least 1 s",
            (v->has_lifetime = 1, v->lifetime = 0));
    /* not-before + lifetime must fit in 64 bits (the boundary itself is case 4 of the reference).
     */
    REFUSED("not-before + lifetime overflow", 32, "invalid parameter",
            "not-before 18446744073709465216 + lifetime 86400 s does not fit in 64 bits",
            (v->has_nb = 1, v->nb = UINT64_MAX - 86399, v->has_lifetime = 1, v->lifetime = 86400));
    REFUSED("not-before overflow, default lifetime", 32, "invalid parameter",
            "+ lifetime 3600 s does not fit in 64 bits",
            (v->has_nb = 1, v->nb = UINT64_MAX - 3599));
    REFUSED("digest MD5", 32, "unsupported digest", "digest 'MD5' is not supported",
            v->digest = "MD5");
    REFUSED("digest SHA1", 32, "unsupported digest", "digest 'SHA1' is not supported",
            v->digest = "SHA1");
#undef REFUSED
    for (size_t i = 0; i < n; i++) {
        sess_pb(&r[i].in, &b);
        EXPECT_FAIL(app_ctx, SESSION, b.p, r[i].outlen, r[i].reason, r[i].detail, r[i].label);
    }

    for (size_t i = 0; i < sizeof(bad_utf8) / sizeof(bad_utf8[0]); i++) {
        static const char *const fields[] = {"originator", "receiver", "purpose", "aead"};

        for (size_t f = 0; f < sizeof(fields) / sizeof(fields[0]); f++) {
            char label[96], detail[64];
            const char **field[] = {&s.originator, &s.receiver, &s.purpose, &s.aead};

            s = good;
            *field[f] = bad_utf8[i].bytes;
            sess_pb(&s, &b);
            snprintf(label, sizeof(label), "%s: %s", fields[f], bad_utf8[i].what);
            snprintf(detail, sizeof(detail), "parameter '%s' is not valid UTF-8", fields[f]);
            EXPECT_FAIL(app_ctx, SESSION, b.p, 32, "invalid UTF-8", detail, label);
        }
    }
    /* An embedded NUL is refused, not silently truncated. */
    pb_init(&b);
    pb_oct(&b, OSSL_KDF_PARAM_KEY, K, 16);
    pb_str(&b, "purpose", "record");
    pb_strn(&b, "originator", "CA\0E", 4);
    pb_str(&b, "receiver", "CSE02");
    EXPECT_FAIL(app_ctx, SESSION, b.p, 32, "invalid UTF-8",
                "parameter 'originator' contains a NUL byte", "originator with NUL");

    /* Fields are limited to 65535 bytes by their u16 length prefix. */
    {
        static char huge[65537];
        unsigned char o2[16];

        memset(huge, 'h', 65536);
        s = good;
        s.originator = huge;
        sess_pb(&s, &b);
        EXPECT_FAIL(app_ctx, SESSION, b.p, 32, "field too long",
                    "parameter 'originator' is 65536 bytes; the maximum is 65535",
                    "originator of 65536 bytes");
        s = good;
        s.ononce = (const unsigned char *)huge;
        s.ononcelen = 65536;
        sess_pb(&s, &b);
        EXPECT_FAIL(app_ctx, SESSION, b.p, 32, "field too long",
                    "parameter 'originator-nonce' is 65536 bytes", "nonce of 65536 bytes");
        huge[65535] = '\0';
        s = good;
        s.receiver = huge;
        s.rnonce = (const unsigned char *)huge;
        s.rnoncelen = 65535;
        CHECK(sess_derive(app_ctx, &s, out, 32) > 0, "65535-byte receiver and nonce accepted");
        s.receiver = "CSE02";
        s.rnonce = NULL;
        CHECK(sess_derive(app_ctx, &s, o2, 16) > 0, "derive without the long fields");
        CHECK_NE(out, o2, 16, "long fields change the output");
    }

    /* A failed derivation leaves the context usable. */
    CHECK(sess_derive(app_ctx, &good, out, 32) > 0, "derive after errors");
}

/* EVP_KDF_CTX_dup copies every parameter; reset restores the defaults. */
static void test_session_dup_reset(void)
{
    const SESS s = {.digest = "SHA2-384",
                    .key = K,
                    .keylen = 32,
                    .salt = SALT,
                    .saltlen = 16,
                    .purpose = "record",
                    .originator = "CAE01",
                    .receiver = "CSE02",
                    .has_epoch = 1,
                    .epoch = 9,
                    .has_nb = 1,
                    .nb = 5,
                    .has_lifetime = 1,
                    .lifetime = 600,
                    .aead = "M2M-REC-AES-256-GCM",
                    .ononce = NONCE_A,
                    .ononcelen = 16,
                    .rnonce = NONCE_B,
                    .rnoncelen = 16};
    SESS plain = s;
    DUPS x;
    unsigned char want[48], o[48];
    PB b;

    CHECK(sess_ref(&s, want, 48), "reference");
    sess_pb(&s, &b);
    if (!CHECK_DUPS(SESSION, b.p, want, 48, &x)) {
        dups_free(&x);
        return;
    }

    /* The copies are independent. */
    pb_init(&b);
    pb_str(&b, "originator", "CAE99");
    CHECK(EVP_KDF_CTX_set_params(x.d[1], b.p) == 1, "change dup");
    CHECK(EVP_KDF_derive(x.d[1], o, 48, NULL) > 0, "derive changed dup");
    CHECK_NE(o, want, 48, "changed dup differs");
    CHECK(EVP_KDF_derive(x.c, o, 48, NULL) > 0, "derive original again");
    CHECK_EQ(o, want, 48, "original unaffected by dup change");
    EVP_KDF_CTX_free(x.d[1]);
    x.d[1] = NULL;
    CHECK(EVP_KDF_derive(x.d[0], o, 48, NULL) > 0, "derive dup 1 after freeing dup 2");
    CHECK_EQ(o, want, 48, "dup 1 unaffected");

    /* Reset clears every parameter ... */
    EVP_KDF_CTX_reset(x.c);
    EXPECT_FAIL_CTX(x.c, NULL, 32, "missing key", "no service-layer key", "derive after reset");
    /* ... and restores the defaults (digest SHA2-256, lifetime 3600). */
    plain.digest = NULL;
    plain.has_lifetime = 0;
    sess_pb(&plain, &b);
    CHECK(EVP_KDF_CTX_set_params(x.c, b.p) == 1, "set params after reset");
    CHECK(EVP_KDF_derive(x.c, o, 32, NULL) > 0, "derive after reset");
    CHECK(sess_ref(&plain, want, 32), "reference");
    CHECK_EQ(o, want, 32, "defaults restored by reset");
    dups_free(&x);
}

/* ======================================================================== */
/* Suite: ONEM2M-KDF                                                        */
/* ======================================================================== */

static void test_onem2m_km_kpsa(void)
{
    static const char *const ids[] = {"MAF1", "maf.example.org", "x", "C-CSE-01",
                                      "Z\xC3\xBCrich/S-AE-42"};
    static const size_t keylens[] = {16, 32};

    for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++)
        for (size_t j = 0; j < sizeof(keylens) / sizeof(keylens[0]); j++) {
            unsigned char want[32];
            char label[96];
            BUF m;
            OM o = {.key = K, .keylen = keylens[j]};

            m.n = 0;
            put_str(&m, LABEL_KM);
            put_str(&m, ids[i]);
            CHECK(ref_hmac(K, keylens[j], &m, want), "km reference");
            o.deriv = "km";
            o.maf = ids[i];
            snprintf(label, sizeof(label), "km maf-id '%s' key %zu", ids[i], keylens[j]);
            CHECK_OM(app_ctx, &o, want, label);

            m.n = 0;
            put_str(&m, LABEL_KPSA);
            put_str(&m, ids[i]);
            CHECK(ref_hmac(K, keylens[j], &m, want), "kpsa reference");
            o.deriv = "kpsa";
            o.maf = NULL;
            o.enrolee = ids[i];
            snprintf(label, sizeof(label), "kpsa enrolee-id '%s' key %zu", ids[i], keylens[j]);
            CHECK_OM(app_ctx, &o, want, label);
        }
}

static void test_onem2m_usage_key(void)
{
    /* SUID encoded as its decimal ASCII digits, written out here by hand. */
    static const struct {
        uint64_t suid;
        const char *digits;
    } suids[] = {{0, "0"},
                 {1, "1"},
                 {42, "42"},
                 {1234567890123ull, "1234567890123"},
                 {UINT64_MAX, "18446744073709551615"}};
    static const char *const targets[] = {"mn-cse.example.com", "in.example.net"};

    for (size_t i = 0; i < sizeof(suids) / sizeof(suids[0]); i++)
        for (size_t j = 0; j < sizeof(targets) / sizeof(targets[0]); j++) {
            unsigned char want[32];
            char label[96];
            BUF m;
            OM o = {.deriv = "usage-key",
                    .key = K2,
                    .keylen = 32,
                    .has_suid = 1,
                    .suid = suids[i].suid,
                    .target = targets[j]};

            m.n = 0;
            put_str(&m, LABEL_USAGE);
            put_str(&m, suids[i].digits);
            put_str(&m, targets[j]);
            CHECK(ref_hmac(K2, 32, &m, want), "usage-key reference");
            snprintf(label, sizeof(label), "usage-key suid %s target %s", suids[i].digits,
                     targets[j]);
            CHECK_OM(app_ctx, &o, want, label);
        }
}

static void test_onem2m_e2e(void)
{
    static const unsigned char zeros[32] = {0};
    unsigned char t[5][32], tz[5][32], hk[32];
    static const size_t saltlens[] = {0, 16, 32};

    for (size_t si = 0; si < sizeof(saltlens) / sizeof(saltlens[0]); si++) {
        size_t saltlen = saltlens[si];

        CHECK(e2e_ref(SALT, saltlen, K2, 32, t), "e2e reference");
        for (int d = 0; d <= 4; d++) {
            char label[96];
            OM o = {.deriv = E2E_NAMES[d],
                    .key = K2,
                    .keylen = 32,
                    .salt = saltlen > 0 ? SALT : NULL,
                    .saltlen = saltlen};

            snprintf(label, sizeof(label), "%s salt %zu", E2E_NAMES[d], saltlen);
            CHECK_OM(app_ctx, &o, t[d], label);
            if (saltlen == 0) {
                /* An explicitly empty salt is the same as none. */
                o.salt = (const unsigned char *)"";
                snprintf(label, sizeof(label), "%s empty salt", E2E_NAMES[d]);
                CHECK_OM(app_ctx, &o, t[d], label);
            }
        }
        /* T(1) is an HKDF-Expand output (RFC 5869): cross-check the reference chain. */
        CHECK(ref_hkdf_mode("SHA256", "EXPAND_ONLY", t[0], 32, NULL, 0,
                            (const unsigned char *)E2E_LABELS[0], strlen(E2E_LABELS[0]), hk, 32),
              "HKDF-Expand");
        CHECK_EQ(hk, t[1], 32, "T(1) == HKDF-Expand(master, label_1) salt %zu", saltlen);
        CHECK_NE(t[1], t[2], 32, "T(1) != T(2)");
    }
    /* No salt: HMAC with an empty key equals HMAC with HashLen zero bytes (RFC 2104). */
    CHECK(e2e_ref(NULL, 0, K2, 32, t) && e2e_ref(zeros, 32, K2, 32, tz), "e2e references");
    CHECK_EQ(t[0], tz[0], 32, "no salt == 32 zero-byte salt (reference)");
    {
        OM o = {.deriv = "e2e-master", .key = K2, .keylen = 32, .salt = zeros, .saltlen = 32};

        CHECK_OM(app_ctx, &o, t[0], "e2e-master zero salt");
    }
}

static void test_onem2m_esprim(void)
{
    unsigned char want[32], swapped[32];
    BUF m;
    OM o = {.deriv = "esprim-session",
            .key = K,
            .keylen = 32,
            .rrand = RAND_R,
            .rrandlen = 16,
            .orand = RAND_O,
            .orandlen = 16};

    m.n = 0;
    put(&m, RAND_R, 16);
    put(&m, RAND_O, 16);
    put_str(&m, LABEL_ESPRIM);
    CHECK(ref_hmac(K, 32, &m, want), "esprim reference");
    CHECK_OM(app_ctx, &o, want, "esprim-session");

    o.rrand = RAND_O;
    o.orand = RAND_R;
    CHECK(om_derive(app_ctx, &o, swapped, 32) > 0, "esprim swapped");
    CHECK_NE(swapped, want, 32, "esprim: receiver/originator rand order matters");
}

static void test_onem2m_nfkc(void)
{
    static const struct {
        const char *deriv, *compat, *nfkc;
    } v[] = {
        {"km", MAF_COMPAT, "MAF1"},
        {"kpsa", "Cafe\xCC\x81", "Caf\xC3\xA9"},
        {"kpsa", "\xEF\xAC\x81le-AE", "file-AE"},
        {"usage-key", "\xEF\xBD\x8D\xEF\xBD\x8E.example", "mn.example"},
    };

    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        unsigned char want[32], a[32];
        char label[96];
        BUF m;
        OM o = {.deriv = v[i].deriv, .key = K, .keylen = 16, .has_suid = 1, .suid = 7};
        const char *lab = strcmp(v[i].deriv, "km") == 0     ? LABEL_KM
                          : strcmp(v[i].deriv, "kpsa") == 0 ? LABEL_KPSA
                                                            : LABEL_USAGE;

        m.n = 0;
        put_str(&m, lab);
        if (strcmp(v[i].deriv, "usage-key") == 0)
            put_str(&m, "7");
        put_str(&m, v[i].nfkc);
        CHECK(ref_hmac(K, 16, &m, want), "reference");
        if (strcmp(v[i].deriv, "km") == 0)
            o.maf = v[i].compat;
        else if (strcmp(v[i].deriv, "kpsa") == 0)
            o.enrolee = v[i].compat;
        else
            o.target = v[i].compat;
        snprintf(label, sizeof(label), "%s with compatibility form (NFKC '%s')", v[i].deriv,
                 v[i].nfkc);
        CHECK_OM(app_ctx, &o, want, label);
        /* And the NFKC form itself gives the same. */
        if (o.maf != NULL)
            o.maf = v[i].nfkc;
        if (o.enrolee != NULL)
            o.enrolee = v[i].nfkc;
        if (o.target != NULL)
            o.target = v[i].nfkc;
        CHECK(om_derive(app_ctx, &o, a, 32) > 0, "derive NFKC form");
        CHECK_EQ(a, want, 32, "%s NFKC form", v[i].deriv);
    }
}

static void test_onem2m_errors(void)
{
    const OM km = {.deriv = "km", .key = K, .keylen = 32, .maf = "MAF1"};
    struct {
        const char *label;
        OM in;
        size_t outlen;
        const char *reason, *detail;
    } r[16];
    size_t n = 0;
    OM o;
    PB b;

    /* Each refusal: km, changed by stmt (on OM *v), derived at L bytes. */
#define REFUSED(lbl, L, rsn, dtl, stmt) ADD_REFUSAL(r, n, OM, km, lbl, L, rsn, dtl, stmt)

    REFUSED("unknown derivation", 32, "unknown derivation", "derivation 'kmx' is unknown",
            v->deriv = "kmx");
    REFUSED("derivation names are exact", 32, "unknown derivation", "derivation 'KM' is unknown",
            v->deriv = "KM");
    REFUSED("no derivation", 32, "missing parameter", "parameter 'derivation' is required",
            v->deriv = NULL);
    REFUSED("output 33 bytes", 33, "bad output length", "output length 33 is outside 1..32",
            (void)v);
    REFUSED("output 64 bytes", 64, "bad output length", "output length 64 is outside 1..32",
            (void)v);
    REFUSED("output 0 bytes", 0, "bad output length", "output length 0 is outside 1..32", (void)v);
    REFUSED("km without maf-id", 32, "missing parameter",
            "derivation 'km' requires parameter 'maf-id'", v->maf = NULL);
    REFUSED("km without key", 32, "missing key", "derivation 'km' requires parameter 'key'",
            v->key = NULL);
    REFUSED("km 15-byte key", 32, "key shorter than policy minimum",
            "key is 120 bits; policy minimum is 128 bits", v->keylen = 15);
    REFUSED("kpsa without enrolee-id", 32, "missing parameter",
            "derivation 'kpsa' requires parameter 'enrolee-id'", v->deriv = "kpsa");
    REFUSED("usage-key without suid", 32, "missing parameter",
            "derivation 'usage-key' requires parameter 'suid'",
            (v->deriv = "usage-key", v->target = "mn.example"));
    REFUSED("usage-key without target-id", 32, "missing parameter",
            "derivation 'usage-key' requires parameter 'target-id'",
            (v->deriv = "usage-key", v->has_suid = 1));
    REFUSED("esprim without originator-rand", 32, "missing parameter",
            "derivation 'esprim-session' requires parameter 'originator-rand'",
            (v->deriv = "esprim-session", v->rrand = RAND_R, v->rrandlen = 16));
    REFUSED("empty maf-id", 32, "invalid parameter", "parameter 'maf-id' must not be empty",
            v->maf = "");
#undef REFUSED
    for (size_t i = 0; i < n; i++) {
        om_pb(&r[i].in, &b);
        EXPECT_FAIL(app_ctx, ONEM2M, b.p, r[i].outlen, r[i].reason, r[i].detail, r[i].label);
    }

    for (size_t i = 0; i < sizeof(bad_utf8) / sizeof(bad_utf8[0]); i++) {
        static const char *const fields[] = {"maf-id", "enrolee-id", "target-id"};

        for (size_t f = 0; f < sizeof(fields) / sizeof(fields[0]); f++) {
            char label[96], detail[64];

            o = km;
            o.deriv = f == 0 ? "km" : f == 1 ? "kpsa" : "usage-key";
            o.has_suid = 1;
            o.maf = f == 0 ? bad_utf8[i].bytes : NULL;
            o.enrolee = f == 1 ? bad_utf8[i].bytes : NULL;
            o.target = f == 2 ? bad_utf8[i].bytes : NULL;
            om_pb(&o, &b);
            snprintf(label, sizeof(label), "%s: %s", fields[f], bad_utf8[i].what);
            snprintf(detail, sizeof(detail), "parameter '%s' is not valid UTF-8", fields[f]);
            EXPECT_FAIL(app_ctx, ONEM2M, b.p, 32, "invalid UTF-8", detail, label);
        }
    }
    pb_init(&b);
    pb_str(&b, "derivation", "km");
    pb_oct(&b, OSSL_KDF_PARAM_KEY, K, 32);
    pb_strn(&b, "maf-id", "MA\0F", 4);
    EXPECT_FAIL(app_ctx, ONEM2M, b.p, 32, "invalid UTF-8", "parameter 'maf-id' contains a NUL byte",
                "maf-id with NUL");
}

static void test_onem2m_dup_reset(void)
{
    const OM o = {.deriv = "e2e-att-conf", .key = K2, .keylen = 32, .salt = SALT, .saltlen = 16};
    unsigned char t[5][32], got[32];
    DUPS x;
    PB b;

    CHECK(e2e_ref(SALT, 16, K2, 32, t), "reference");
    om_pb(&o, &b);
    if (!CHECK_DUPS(ONEM2M, b.p, t[4], 32, &x)) {
        dups_free(&x);
        return;
    }
    pb_init(&b);
    pb_str(&b, "derivation", "e2e-msg-auth");
    CHECK(EVP_KDF_CTX_set_params(x.d[1], b.p) == 1 && EVP_KDF_derive(x.d[1], got, 32, NULL) > 0,
          "change dup");
    CHECK_EQ(got, t[1], 32, "dup switched to e2e-msg-auth");
    CHECK(EVP_KDF_derive(x.c, got, 32, NULL) > 0, "derive original again");
    CHECK_EQ(got, t[4], 32, "original unaffected");

    EVP_KDF_CTX_reset(x.c);
    EXPECT_FAIL_CTX(x.c, NULL, 32, "missing parameter", "parameter 'derivation' is required",
                    "derive after reset");
    pb_init(&b);
    pb_str(&b, "derivation", "km");
    EXPECT_FAIL_CTX(x.c, b.p, 32, "missing key", "derivation 'km' requires parameter 'key'",
                    "reset cleared the key");
    dups_free(&x);
}

/* ======================================================================== */
/* Suite: OSCORE-KDF against RFC 8613 Appendix C                            */
/* ======================================================================== */

#define OSC_SECRET "0102030405060708090a0b0c0d0e0f10"
#define OSC_SALT "9e7ca92223786340"
#define C1_CK "f0910ed7295e6ad4b54fc793154302ff" /* C.1 client sender key */
#define C1_SK "ffb14e093c94c9cac9471648b4f98710" /* C.1 server sender key */
#define C1_IV "4622d4dd6d944168eefb54987c"
#define C2_CK "321b26943253c7ffb6003b0b64d74041"
#define C2_SK "e57b5635815177cd679ab4bcec9d7dda"
#define C2_IV "be35ae297d2dace910c52e99f9"
#define C3_CK "af2a1300a5e95788b356336eeecd2b92"
#define C3_SK "e39a0c7c77b43f03b4b39ab9a268699f"
#define C3_IV "2ca58fb85ff1b81c0b7181b85e"

static const struct {
    const char *name, *salt, *idctx, *sid, *rid, *skey, *rkey, *iv;
} rfc8613[] = {
    {"C.1 client", OSC_SALT, NULL, "", "01", C1_CK, C1_SK, C1_IV},
    {"C.1 server", OSC_SALT, NULL, "01", "", C1_SK, C1_CK, C1_IV},
    {"C.2 client", NULL, NULL, "00", "01", C2_CK, C2_SK, C2_IV},
    {"C.2 server", NULL, NULL, "01", "00", C2_SK, C2_CK, C2_IV},
    {"C.3 client", OSC_SALT, "37cbf3210017a2d3", "", "01", C3_CK, C3_SK, C3_IV},
    {"C.3 server", OSC_SALT, "37cbf3210017a2d3", "01", "", C3_SK, C3_CK, C3_IV},
};

static void osc_check_at(unsigned int line, const char *func, OSSL_LIB_CTX *lib, const OSC *o,
                         const char *want_hex, size_t outlen, const char *label)
{
    unsigned char want[256], got[256], ref[256];
    int rc;

    if (want_hex != NULL)
        unhex(want_hex, want, sizeof(want));
    memset(got, 0xAA, sizeof(got));
    rc = osc_derive(lib, o, got, outlen);
    CHECK_AT(rc > 0, line, func, "%s: derive rc %d: %s", label, rc, rc > 0 ? "" : take_errors());
    CHECK_AT(osc_ref(o, ref, outlen), line, func, "%s: reference HKDF", label);
    if (want_hex != NULL) {
        check_bytes_at(line, func, 1, got, want, outlen, "%s vs RFC 8613", label);
        check_bytes_at(line, func, 1, ref, want, outlen, "%s: hand-built CBOR HKDF vs RFC 8613",
                       label);
    }
    check_bytes_at(line, func, 1, got, ref, outlen, "%s vs HKDF over hand-built CBOR", label);
}

#define OSC_CHECK(lib, o, want, outlen, label)                                                     \
    osc_check_at(__LINE__, __func__, lib, o, want, outlen, label)

static void test_oscore_rfc8613(void)
{
    for (size_t i = 0; i < sizeof(rfc8613) / sizeof(rfc8613[0]); i++) {
        unsigned char secret[16], salt[8], idctx[8], sid[1], rid[1];
        char label[64];
        OSC o;

        memset(&o, 0, sizeof(o));
        o.secret = secret;
        o.secretlen = unhex(OSC_SECRET, secret, sizeof(secret));
        if (rfc8613[i].salt != NULL) {
            o.salt = salt;
            o.saltlen = unhex(rfc8613[i].salt, salt, sizeof(salt));
        }
        if (rfc8613[i].idctx != NULL) {
            o.idctx = idctx;
            o.idctxlen = unhex(rfc8613[i].idctx, idctx, sizeof(idctx));
        }
        o.type = "key";
        o.id = sid;
        o.idlen = unhex(rfc8613[i].sid, sid, sizeof(sid));
        snprintf(label, sizeof(label), "%s Sender Key", rfc8613[i].name);
        OSC_CHECK(app_ctx, &o, rfc8613[i].skey, 16, label);
        o.id = rid;
        o.idlen = unhex(rfc8613[i].rid, rid, sizeof(rid));
        snprintf(label, sizeof(label), "%s Recipient Key", rfc8613[i].name);
        OSC_CHECK(app_ctx, &o, rfc8613[i].rkey, 16, label);
        o.type = "iv";
        o.id = NULL;
        snprintf(label, sizeof(label), "%s Common IV", rfc8613[i].name);
        OSC_CHECK(app_ctx, &o, rfc8613[i].iv, 13, label);
        /* An explicitly empty id is accepted for the IV. */
        o.id = (const unsigned char *)"";
        o.idlen = 0;
        snprintf(label, sizeof(label), "%s Common IV (empty id)", rfc8613[i].name);
        OSC_CHECK(app_ctx, &o, rfc8613[i].iv, 13, label);
        /* Explicit alg 10 is the default. */
        o.has_alg = 1;
        o.alg = 10;
        snprintf(label, sizeof(label), "%s Common IV (alg 10)", rfc8613[i].name);
        OSC_CHECK(app_ctx, &o, rfc8613[i].iv, 13, label);
    }
}

/* The test's own CBOR encoder produces the info bytes printed in RFC 8613 C.1.1. */
static void test_oscore_info_encoding(void)
{
    static const unsigned char rid[1] = {0x01};
    const OSC skey = {.id = (const unsigned char *)"", .type = "key"};
    const OSC rkey = {.id = rid, .idlen = 1, .type = "key"};
    const OSC iv = {.type = "iv"};
    unsigned char want[16];
    BUF info;
    size_t n;

    osc_info(&skey, 16, &info);
    n = unhex("8540f60a634b657910", want, sizeof(want));
    CHECK(info.n == n && memcmp(info.b, want, n) == 0, "C.1.1 sender key info");
    osc_info(&rkey, 16, &info);
    n = unhex("854101f60a634b657910", want, sizeof(want));
    CHECK(info.n == n && memcmp(info.b, want, n) == 0, "C.1.1 recipient key info");
    osc_info(&iv, 13, &info);
    n = unhex("8540f60a6249560d", want, sizeof(want));
    CHECK(info.n == n && memcmp(info.b, want, n) == 0, "C.1.1 common IV info");
}

/* Other algorithms, lengths and long identifiers against the hand-built CBOR reference. */
static void test_oscore_other(void)
{
    static unsigned char long_id[300], long_ctx[40];
    OSC o = {.secret = K,
             .secretlen = 32,
             .salt = SALT,
             .saltlen = 8,
             .id = NONCE_A,
             .idlen = 7,
             .type = "key"};

    for (size_t i = 0; i < sizeof(long_id); i++)
        long_id[i] = (unsigned char)(i * 3);
    for (size_t i = 0; i < sizeof(long_ctx); i++)
        long_ctx[i] = (unsigned char)(0xC0 + i);
    OSC_CHECK(app_ctx, &o, NULL, 16, "7-byte id, 32-byte secret");
    o.has_alg = 1;
    o.alg = 24; /* ChaCha20/Poly1305: key 32, nonce 12; 1-byte CBOR argument */
    OSC_CHECK(app_ctx, &o, NULL, 32, "alg 24 key");
    o.type = "iv";
    o.id = NULL;
    OSC_CHECK(app_ctx, &o, NULL, 12, "alg 24 iv");
    o.alg = 30; /* AES-CCM-16-128-256 */
    OSC_CHECK(app_ctx, &o, NULL, 13, "alg 30 iv");
    o.alg = -1; /* negative integer encoding */
    OSC_CHECK(app_ctx, &o, NULL, 13, "alg -1 iv");
    o.alg = 1000; /* 2-byte CBOR argument */
    OSC_CHECK(app_ctx, &o, NULL, 13, "alg 1000 iv");
    o.type = "key";
    o.id = long_id;
    o.idlen = sizeof(long_id);
    o.idctx = long_ctx;
    o.idctxlen = sizeof(long_ctx);
    o.has_alg = 0;
    OSC_CHECK(app_ctx, &o, NULL, 16, "300-byte id, 40-byte id-context");
    o.idctx = (const unsigned char *)"";
    o.idctxlen = 0;
    OSC_CHECK(app_ctx, &o, NULL, 16, "empty id-context (bstr, not nil)");
    o.salt = NULL;
    OSC_CHECK(app_ctx, &o, NULL, 255, "no salt, L=255 (1-byte CBOR length)");
    OSC_CHECK(app_ctx, &o, NULL, 1, "L=1");
}

static void test_oscore_errors(void)
{
    const OSC good = {.secret = K, .secretlen = 16, .id = RAND_R, .idlen = 1, .type = "key"};
    struct {
        const char *label;
        OSC in;
        size_t outlen;
        const char *reason, *detail;
    } r[8];
    size_t n = 0;
    PB b;

    /* Each refusal: good, changed by stmt (on OSC *v), derived at L bytes. */
#define REFUSED(lbl, L, rsn, dtl, stmt) ADD_REFUSAL(r, n, OSC, good, lbl, L, rsn, dtl, stmt)

    REFUSED("missing secret", 16, "missing key", "no Master Secret", v->secret = NULL);
    REFUSED("15-byte secret", 16, "key shorter than policy minimum",
            "key is 120 bits; policy minimum is 128 bits", v->secretlen = 15);
    REFUSED("missing type", 16, "missing parameter", "parameter 'type'", v->type = NULL);
    REFUSED("bad type", 16, "invalid parameter", "parameter 'type' must be 'key' or 'iv'",
            v->type = "nonce");
    REFUSED("key without id", 16, "missing parameter", "parameter 'id'", v->id = NULL);
    REFUSED("iv with id", 13, "invalid parameter",
            "parameter 'id' must be empty when deriving the Common IV", v->type = "iv");
    REFUSED("L=8161", 255 * 32 + 1, "bad output length", "output length 8161 is outside 1..8160",
            (void)v);
#undef REFUSED
    for (size_t i = 0; i < n; i++) {
        osc_pb(&r[i].in, &b);
        EXPECT_FAIL(app_ctx, OSCORE, b.p, r[i].outlen, r[i].reason, r[i].detail, r[i].label);
    }
}

static void test_oscore_dup_reset(void)
{
    OSC o = {.secret = K,
             .secretlen = 16,
             .salt = SALT,
             .saltlen = 8,
             .id = RAND_O,
             .idlen = 2,
             .type = "key"};
    unsigned char want[16], got[16];
    DUPS x;
    PB b;

    CHECK(osc_ref(&o, want, 16), "reference");
    osc_pb(&o, &b);
    if (!CHECK_DUPS(OSCORE, b.p, want, 16, &x)) {
        dups_free(&x);
        return;
    }
    EVP_KDF_CTX_reset(x.c);
    EXPECT_FAIL_CTX(x.c, NULL, 16, "missing key", "no Master Secret", "derive after reset");
    for (int i = 0; i < 2; i++) {
        memset(got, 0, sizeof(got));
        CHECK(EVP_KDF_derive(x.d[i], got, 16, NULL) > 0, "derive dup %d after original reset",
              i + 1);
        CHECK_EQ(got, want, 16, "dup %d unaffected by reset of original", i + 1);
    }
    dups_free(&x);
}

/* ======================================================================== */
/* Suite: library contexts                                                  */
/* ======================================================================== */

/* An application context that loads only m2msec can still use all three KDFs. */
static void test_only_m2msec(void)
{
    EVP_KDF *hkdf;
    EVP_MAC *hmac;
    unsigned char want[32], t[5][32], secret[16], salt[8], idctx[8];
    BUF m;
    PB b;
    const SESS s = {.key = K,
                    .keylen = 16,
                    .purpose = "record",
                    .originator = "CAE01",
                    .receiver = "CSE02",
                    .ononce = NONCE_A,
                    .ononcelen = 16};
    OM o = {.deriv = "km", .key = K, .keylen = 32, .maf = "MAF1"};
    OSC osc = {.secret = secret,
               .secretlen = 16,
               .salt = salt,
               .saltlen = 8,
               .idctx = idctx,
               .idctxlen = 8,
               .id = (const unsigned char *)"",
               .type = "key"};

    /* The test is meaningful only if the default provider is really absent. */
    ERR_set_mark();
    hkdf = EVP_KDF_fetch(only_ctx, "HKDF", NULL);
    hmac = EVP_MAC_fetch(only_ctx, "HMAC", NULL);
    ERR_pop_to_mark();
    CHECK(hkdf == NULL && hmac == NULL, "HKDF/HMAC not available in the m2msec-only context");
    EVP_KDF_free(hkdf);
    EVP_MAC_free(hmac);

    CHECK_SESS(only_ctx, &s, 32, "M2M-SESSION-KDF in m2msec-only context");
    CHECK_SESS(only_ctx, &s, 64, "M2M-SESSION-KDF in m2msec-only context");

    m.n = 0;
    put_str(&m, LABEL_KM);
    put_str(&m, "MAF1");
    CHECK(ref_hmac(K, 32, &m, want), "km reference");
    CHECK_OM(only_ctx, &o, want, "km in m2msec-only context");
    CHECK(e2e_ref(SALT, 16, K2, 32, t), "e2e reference");
    o = (OM){.deriv = "e2e-att-conf", .key = K2, .keylen = 32, .salt = SALT, .saltlen = 16};
    CHECK_OM(only_ctx, &o, t[4], "e2e-att-conf in m2msec-only context");

    unhex(OSC_SECRET, secret, sizeof(secret));
    unhex(OSC_SALT, salt, sizeof(salt));
    unhex("37cbf3210017a2d3", idctx, sizeof(idctx));
    OSC_CHECK(only_ctx, &osc, C3_CK, 16, "RFC 8613 C.3 client Sender Key, m2msec-only context");
    osc.type = "iv";
    osc.id = NULL;
    OSC_CHECK(only_ctx, &osc, C3_IV, 13, "RFC 8613 C.3 Common IV, m2msec-only context");

    /* Errors keep their text in this context too. */
    pb_init(&b);
    sess_pb(&s, &b);
    pb_u64(&b, "lifetime", 90000);
    EXPECT_FAIL(only_ctx, SESSION, b.p, 32, "lifetime exceeds policy maximum",
                "lifetime 90000 s exceeds policy maximum 86400 s", "lifetime in m2msec-only ctx");
}

/* The three KDFs are visible by name with the m2msec property. */
static void test_fetch_properties(void)
{
    static const char *const names[] = {SESSION, ONEM2M, OSCORE};

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        EVP_KDF *k = EVP_KDF_fetch(app_ctx, names[i], "provider=m2msec");
        const OSSL_PARAM *settable = k != NULL ? EVP_KDF_settable_ctx_params(k) : NULL;

        CHECK(k != NULL, "fetch %s with provider=m2msec", names[i]);
        CHECK(k != NULL && strcmp(OSSL_PROVIDER_get0_name(EVP_KDF_get0_provider(k)), "m2msec") == 0,
              "%s comes from m2msec", names[i]);
        CHECK(settable != NULL && OSSL_PARAM_locate_const(settable, OSSL_KDF_PARAM_KEY) != NULL,
              "%s: 'key' is settable", names[i]);
        EVP_KDF_free(k);
    }
}

/*
 * Each KDF lists its parameters once (kdf_common.h); what applications see
 * through EVP must be that list: the settable table names every listed
 * parameter, in list order, with the type its kind reads (and the integer
 * width `openssl kdf -kdfopt` sizes its buffer by), and nothing else; the
 * gettable table is "size" and the digest parameters; each listed name is
 * read by set_params (a value without data is refused, naming it), and a
 * name outside the list is not (ignored, as OpenSSL does).
 */
static void expect_kind_type(const char *alg, const M2M_KDF_PARAM *kp, const OSSL_PARAM *s)
{
    unsigned int type = 0;
    size_t size = 0;

    switch (kp->kind) {
    case M2M_KP_SECRET:
    case M2M_KP_OCTETS:
        type = OSSL_PARAM_OCTET_STRING;
        break;
    case M2M_KP_IDENT:
    case M2M_KP_DIGEST:
    case M2M_KP_UTF8_FN:
        type = OSSL_PARAM_UTF8_STRING;
        break;
    case M2M_KP_U64:
    case M2M_KP_U64_FN:
        type = OSSL_PARAM_UNSIGNED_INTEGER;
        size = sizeof(uint64_t);
        break;
    case M2M_KP_INT32_FN:
        type = OSSL_PARAM_INTEGER;
        size = sizeof(int32_t);
        break;
    }
    CHECK(s->data_type == type && s->data_size == size,
          "%s: '%s' is settable as type %u of %zu bytes (listed as kind %d: type %u of %zu)", alg,
          s->key, s->data_type, s->data_size, (int)kp->kind, type, size);
}

static void test_params_listed_once(void)
{
    static const struct {
        const char *alg;
        const M2M_KDF_TYPE *type;
        size_t n; /* parameters, counted from docs/PROTOCOL.md 2.1, 3.1 and 4.1 */
    } kdfs[] = {
        {SESSION, &m2m_session_kdf_type, 12},
        {ONEM2M, &m2m_onem2m_kdf_type, 9},
        {OSCORE, &m2m_oscore_kdf_type, 6},
    };
    static const char *const unlisted[] = {"info", "mode", "properties", "Key", "seed"};

    for (size_t k = 0; k < sizeof(kdfs) / sizeof(kdfs[0]); k++) {
        const char *alg = kdfs[k].alg;
        const M2M_KDF_TYPE *t = kdfs[k].type;
        EVP_KDF *kdf = EVP_KDF_fetch(app_ctx, alg, "provider=m2msec");
        const OSSL_PARAM *s = kdf != NULL ? EVP_KDF_settable_ctx_params(kdf) : NULL;
        const OSSL_PARAM *g = kdf != NULL ? EVP_KDF_gettable_ctx_params(kdf) : NULL;
        EVP_KDF_CTX *c = kdf != NULL ? EVP_KDF_CTX_new(kdf) : NULL;
        size_t i = 0, ng = 1, digests = 0;

        CHECK(s != NULL && g != NULL && c != NULL, "%s: fetched, with its tables", alg);
        CHECK(strcmp(t->name, alg) == 0, "%s: the list's KDF is named %s", alg, t->name);
        CHECK(t->nparams == kdfs[k].n, "%s: %zu parameters listed", alg, t->nparams);
        for (; s != NULL && s[i].key != NULL && i < t->nparams; i++) {
            const M2M_KDF_PARAM *kp = &t->params[i];
            OSSL_PARAM nodata[2] = {{kp->name, s[i].data_type, NULL, 8, OSSL_PARAM_UNMODIFIED},
                                    OSSL_PARAM_END};

            CHECK(strcmp(s[i].key, kp->name) == 0, "%s: settable #%zu is '%s', listed '%s'", alg, i,
                  s[i].key, kp->name);
            expect_kind_type(alg, kp, &s[i]);
            if (kp->kind == M2M_KP_DIGEST) {
                const OSSL_PARAM *gp = g != NULL ? OSSL_PARAM_locate_const(g, kp->name) : NULL;

                digests++;
                CHECK(gp != NULL && gp->data_type == OSSL_PARAM_UTF8_STRING,
                      "%s: digest parameter '%s' is gettable", alg, kp->name);
            }
            ERR_clear_error();
            CHECK(c != NULL && !EVP_KDF_CTX_set_params(c, nodata) &&
                      strstr(take_errors(), kp->name) != NULL,
                  "%s: listed '%s' is read (refused without data, named)", alg, kp->name);
        }
        CHECK(s != NULL && i == t->nparams && s[i].key == NULL,
              "%s: the settable table has exactly the %zu listed parameters", alg, t->nparams);
        CHECK(g != NULL && strcmp(g[0].key, OSSL_KDF_PARAM_SIZE) == 0 &&
                  g[0].data_type == OSSL_PARAM_UNSIGNED_INTEGER,
              "%s: 'size' is gettable", alg);
        for (; g != NULL && g[ng].key != NULL; ng++)
            ;
        CHECK(ng == 1 + digests, "%s: gettable: 'size' and %zu digest parameters (%zu entries)",
              alg, digests, ng);
        for (size_t u = 0; u < sizeof(unlisted) / sizeof(unlisted[0]); u++) {
            OSSL_PARAM nodata[2] = {
                {unlisted[u], OSSL_PARAM_OCTET_STRING, NULL, 8, OSSL_PARAM_UNMODIFIED},
                OSSL_PARAM_END};

            CHECK(s == NULL || OSSL_PARAM_locate_const(s, unlisted[u]) == NULL,
                  "%s: '%s' is not settable", alg, unlisted[u]);
            CHECK(c != NULL && EVP_KDF_CTX_set_params(c, nodata) == 1,
                  "%s: unlisted '%s' is not read (ignored)", alg, unlisted[u]);
        }
        EVP_KDF_CTX_free(c);
        EVP_KDF_free(kdf);
    }
}

/* ======================================================================== */
/* Suite: UTF-8 string parameters read by their data_size                   */
/* ======================================================================== */

/*
 * A complete, valid parameter set for each KDF without parameter omit, so
 * that a hand-built replacement for omit is the only thing that can fail.
 * SESSION: purpose/originator/receiver and a 16-byte key; ONEM2M: km with
 * maf-id "MAF1" and a 32-byte key; OSCORE: a sender key with a 1-byte id.
 */
static void good_pb(const char *alg, const char *omit, PB *b)
{
    static const struct {
        const char *alg, *name, *value;
    } strs[] = {
        {SESSION, "purpose", "record"}, {SESSION, "originator", "CAE01"},
        {SESSION, "receiver", "CSE02"}, {ONEM2M, "derivation", "km"},
        {ONEM2M, "maf-id", "MAF1"},     {OSCORE, "type", "key"},
    };

    pb_init(b);
    if (strcmp(omit, OSSL_KDF_PARAM_KEY) != 0)
        pb_oct(b, OSSL_KDF_PARAM_KEY, K, strcmp(alg, ONEM2M) == 0 ? 32 : 16);
    if (strcmp(alg, OSCORE) == 0 && strcmp(omit, "id") != 0)
        pb_oct(b, "id", RAND_R, 1);
    for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
        if (strcmp(strs[i].alg, alg) == 0 && strcmp(strs[i].name, omit) != 0)
            pb_str(b, strs[i].name, strs[i].value);
}

/* What good_pb derives, from the independent references (32 bytes). */
static int good_ref(const char *alg, unsigned char out[32])
{
    const SESS s = {
        .key = K, .keylen = 16, .purpose = "record", .originator = "CAE01", .receiver = "CSE02"};
    const OSC o = {.secret = K, .secretlen = 16, .id = RAND_R, .idlen = 1, .type = "key"};
    BUF m;

    if (strcmp(alg, SESSION) == 0)
        return sess_ref(&s, out, 32);
    if (strcmp(alg, OSCORE) == 0)
        return osc_ref(&o, out, 32);
    m.n = 0;
    put_str(&m, LABEL_KM);
    put_str(&m, "MAF1");
    return ref_hmac(K, 32, &m, out);
}

/* Every UTF-8 parameter with a NUL inside its data_size is refused, naming it. */
static void test_string_embedded_nul(void)
{
    static const struct {
        const char *alg, *name, *bytes;
        size_t size, nul_at;
    } cases[] = {
        {SESSION, "digest", "SHA2-256\0junk", 13, 8},
        {SESSION, "digest", "SHA2-256\0", 9, 8},
        {SESSION, "purpose", "rec\0ord", 7, 3},
        {SESSION, "originator", "\0CAE01", 6, 0},
        {SESSION, "receiver", "CSE02\0", 6, 5},
        {SESSION, "aead", "M2M-REC-AES-128-GCM\0x", 21, 19},
        {ONEM2M, "derivation", "km\0junk", 7, 2},
        {ONEM2M, "derivation", "\0km", 3, 0},
        {ONEM2M, "maf-id", "MAF1\0MAF2", 9, 4},
        {ONEM2M, "enrolee-id", "E\0", 2, 1},
        {ONEM2M, "target-id", "T\0X", 3, 1},
        {OSCORE, "type", "iv\0junk", 7, 2},
        {OSCORE, "type", "key\0", 4, 3},
        {OSCORE, "type", "key\0iv", 6, 3},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char label[128], detail[128];
        PB b;

        good_pb(cases[i].alg, cases[i].name, &b);
        pb_strn(&b, cases[i].name, cases[i].bytes, cases[i].size);
        snprintf(label, sizeof(label), "%s: '%s' with a NUL at %zu of %zu bytes", cases[i].alg,
                 cases[i].name, cases[i].nul_at, cases[i].size);
        snprintf(detail, sizeof(detail), "parameter '%s' contains a NUL byte at offset %zu",
                 cases[i].name, cases[i].nul_at);
        EXPECT_FAIL(app_ctx, cases[i].alg, b.p, 32, "invalid UTF-8", detail, label);
    }
}

/*
 * The value is data_size bytes, not a C string: bytes after data_size are
 * not part of it, whether or not a NUL follows. Each result is checked
 * against the reference of the intended value.
 */
static void test_string_by_size(void)
{
    static const struct {
        const char *alg, *name, *bytes;
        size_t size;
    } cases[] = {
        {SESSION, "digest", "SHA2-256junk", 8},
        {SESSION, "digest", "sha256", 6},
        {ONEM2M, "derivation", "kmpsa", 2},
        {OSCORE, "type", "keyjunk", 3},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        unsigned char got[32], want[32];
        PB b;
        int rc;

        good_pb(cases[i].alg, cases[i].name, &b);
        pb_strn(&b, cases[i].name, cases[i].bytes, cases[i].size);
        memset(got, 0xAA, sizeof(got));
        rc = kdf_derive(app_ctx, cases[i].alg, b.p, got, sizeof(got));
        CHECK(rc > 0, "%s: '%s' = '%.*s' (data_size %zu): rc %d %s", cases[i].alg, cases[i].name,
              (int)cases[i].size, cases[i].bytes, cases[i].size, rc, rc > 0 ? "" : take_errors());
        CHECK(good_ref(cases[i].alg, want), "%s reference", cases[i].alg);
        CHECK_EQ(got, want, sizeof(got), "%s with '%s' read as its first %zu bytes", cases[i].alg,
                 cases[i].name, cases[i].size);
    }
    /* ... and one byte short is another name, refused as such. */
    {
        PB b;

        good_pb(OSCORE, "type", &b);
        pb_strn(&b, "type", "key", 2);
        EXPECT_FAIL(app_ctx, OSCORE, b.p, 16, "invalid parameter",
                    "parameter 'type' must be 'key' or 'iv'", "type 'ke'");
        good_pb(ONEM2M, "derivation", &b);
        pb_strn(&b, "derivation", "kpsa", 1);
        EXPECT_FAIL(app_ctx, ONEM2M, b.p, 32, "unknown derivation", "derivation 'k' is unknown",
                    "derivation 'k'");
        good_pb(SESSION, "digest", &b);
        pb_strn(&b, "digest", "SHA2-256", 7);
        EXPECT_FAIL(app_ctx, SESSION, b.p, 32, "unsupported digest",
                    "digest 'SHA2-25' is not supported", "digest 'SHA2-25'");
    }
}

/* A UTF8_PTR parameter is a C string; a data_size beyond its NUL is refused. */
static void test_string_utf8_ptr(void)
{
    static const char key_junk[] = "key\0junk";
    const char *v = key_junk;
    unsigned char got[32], want[32];
    PB b;
    int rc;

    CHECK(good_ref(OSCORE, want), "reference");
    for (size_t size = 0; size <= 3; size += 3) {
        OSSL_PARAM p = OSSL_PARAM_construct_utf8_ptr("type", (char **)&v, size);

        good_pb(OSCORE, "type", &b);
        pb_add(&b, p);
        memset(got, 0xAA, sizeof(got));
        rc = kdf_derive(app_ctx, OSCORE, b.p, got, sizeof(got));
        CHECK(rc > 0, "type as UTF8_PTR, data_size %zu: rc %d %s", size, rc,
              rc > 0 ? "" : take_errors());
        CHECK_EQ(got, want, sizeof(got), "type as UTF8_PTR 'key', data_size %zu", size);
    }
    good_pb(OSCORE, "type", &b);
    pb_add(&b, OSSL_PARAM_construct_utf8_ptr("type", (char **)&v, sizeof(key_junk) - 1));
    EXPECT_FAIL(app_ctx, OSCORE, b.p, 16, "invalid UTF-8",
                "parameter 'type' contains a NUL byte at offset 3", "UTF8_PTR type, data_size 8");
    good_pb(ONEM2M, "maf-id", &b);
    v = "MAF1";
    pb_add(&b, OSSL_PARAM_construct_utf8_ptr("maf-id", (char **)&v, 5));
    EXPECT_FAIL(app_ctx, ONEM2M, b.p, 32, "invalid UTF-8",
                "parameter 'maf-id' contains a NUL byte at offset 4",
                "UTF8_PTR maf-id, data_size 5");
}

/* A name that is not a UTF-8 string, or has no data, is refused naming it. */
static void test_string_wrong_type(void)
{
    static const struct {
        const char *alg, *name;
    } names[] = {{SESSION, "digest"}, {SESSION, "aead"}, {ONEM2M, "derivation"}, {OSCORE, "type"}};

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        char label[96], detail[96];
        OSSL_PARAM p = OSSL_PARAM_construct_utf8_string(names[i].name, NULL, 0);
        PB b;

        snprintf(detail, sizeof(detail), "parameter '%s' must be a UTF-8 string", names[i].name);
        good_pb(names[i].alg, names[i].name, &b);
        pb_oct(&b, names[i].name, "iv", 2);
        snprintf(label, sizeof(label), "%s: '%s' as an octet string", names[i].alg, names[i].name);
        EXPECT_FAIL(app_ctx, names[i].alg, b.p, 16, "invalid parameter", detail, label);
        good_pb(names[i].alg, names[i].name, &b);
        pb_add(&b, p);
        snprintf(label, sizeof(label), "%s: '%s' without data", names[i].alg, names[i].name);
        EXPECT_FAIL(app_ctx, names[i].alg, b.p, 16, "invalid parameter", detail, label);
    }
}

/*
 * Every settable parameter is read by the KDF: given the wrong type, it is
 * refused with an error that names it (an unread one would be ignored).
 */
static void test_settable_all_read(void)
{
    static const char *const algs[] = {SESSION, ONEM2M, OSCORE};

    for (size_t i = 0; i < sizeof(algs) / sizeof(algs[0]); i++) {
        EVP_KDF *k = EVP_KDF_fetch(app_ctx, algs[i], "provider=m2msec");
        const OSSL_PARAM *s = k != NULL ? EVP_KDF_settable_ctx_params(k) : NULL;
        size_t n = 0;

        CHECK(s != NULL, "%s: settable parameters", algs[i]);
        for (; s != NULL && s->key != NULL; s++, n++) {
            char label[96], detail[96];
            PB b;

            good_pb(algs[i], s->key, &b);
            if (s->data_type == OSSL_PARAM_OCTET_STRING)
                pb_str(&b, s->key, "x");
            else
                pb_oct(&b, s->key, "x", 1);
            snprintf(label, sizeof(label), "%s: '%s' of the wrong type", algs[i], s->key);
            snprintf(detail, sizeof(detail), "parameter '%s'", s->key);
            EXPECT_FAIL(app_ctx, algs[i], b.p, 16, "invalid parameter", detail, label);
        }
        CHECK(n == (i == 0 ? 12u : i == 1 ? 9u : 6u), "%s: %zu settable parameters", algs[i], n);
        EVP_KDF_free(k);
    }
}

/* ======================================================================== */
/* OSSL_PARAM shapes, next to the stock HKDF                                */
/* ======================================================================== */

/*
 * One malformed (or unusual) parameter value at a time, given to the stock
 * HKDF (default provider) and to each m2msec KDF in place of a parameter of
 * the same kind: an octet string (HKDF and all three: "key"), a UTF-8 name
 * (HKDF and M2M-SESSION-KDF "digest", ONEM2M-KDF "derivation", OSCORE-KDF
 * "type") and an integer (HKDF "mode"; "epoch", "suid", "alg"). The rule:
 * m2msec never crashes (ASan), refuses with an m2msec error naming the
 * parameter, or derives exactly what the well-formed value derives (the
 * independent reference of good_ref); it accepts what the stock HKDF
 * refuses only where the row says why. The stock HKDF runs in a child,
 * since it crashes on some of these; a row whose stock run is known to
 * crash is not run under valgrind (whose log would count the crash).
 */
enum { PK_OCTET, PK_UTF8, PK_INT };

typedef struct {
    const char *name;
    int kind;
    int ours_ok;
    const char *lenient; /* why m2msec may accept what the stock HKDF refuses */
    int stock_crashes;   /* in OpenSSL 3.0: not run under valgrind */
} PSHAPE;

static const PSHAPE pshapes[] = {
    {"octet string, data NULL, data_size 5", PK_OCTET, 0, NULL, 0},
    {"octet string, data NULL, data_size 0", PK_OCTET, 0, NULL, 0},
    {"octet string given as a UTF-8 string", PK_OCTET, 0, NULL, 0},
    {"octet string given as an integer", PK_OCTET, 0, NULL, 0},
    {"octet string given as an OCTET_PTR", PK_OCTET, 1,
     "octet strings are read with OSSL_PARAM_get_octet_string_ptr, which takes OCTET_PTR too", 0},
    {"octet string, well formed", PK_OCTET, 1, NULL, 0},
    {"UTF-8 string, data NULL, data_size 6", PK_UTF8, 0, NULL, 0},
    {"UTF-8 string without a NUL after data_size", PK_UTF8, 1,
     "the value is exactly data_size bytes (OSSL_PARAM(3)); the stock HKDF reads on to a NUL", 0},
    {"UTF-8 string whose data_size counts its NUL", PK_UTF8, 0, NULL, 0},
    {"UTF-8 string given as an octet string", PK_UTF8, 0, NULL, 0},
    {"UTF-8 name given as a UTF8_PTR", PK_UTF8, 1,
     "UTF8_PTR is read as its C string, as OSSL_PARAM_get_utf8_string_ptr does", 0},
    {"UTF-8 string, empty", PK_UTF8, 0, NULL, 0},
    {"UTF-8 string, well formed", PK_UTF8, 1, NULL, 0},
    {"integer, data NULL", PK_INT, 0, NULL, 1},
    {"integer given as a UTF-8 string", PK_INT, 0, NULL, 0},
    {"integer given as an octet string", PK_INT, 0, NULL, 0},
    {"integer, well formed", PK_INT, 1, NULL, 0},
};
#define NPSHAPES (sizeof(pshapes) / sizeof(pshapes[0]))

typedef struct {
    OSSL_PARAM p;
    int32_t i32;
    uint64_t u64;
    const void *ptr;
    char *heap; /* malloc'd exactly to size (no NUL after the value) */
} PVAL;

/*
 * The value of shape s for parameter `name` whose well-formed value is
 * `good` (text, or for integers its number): into v->p.
 */
static void pshape_make(size_t s, const char *name, const char *good, int32_t goodnum, int u64,
                        size_t keylen, int stock, PVAL *v)
{
    size_t glen = strlen(good);

    memset(v, 0, sizeof(*v));
    v->i32 = goodnum;
    v->u64 = (uint64_t)goodnum;
    switch (s) {
    case 0:
        v->p = OSSL_PARAM_construct_octet_string(name, NULL, 5);
        break;
    case 1:
        v->p = OSSL_PARAM_construct_octet_string(name, NULL, 0);
        break;
    case 2:
        v->p = OSSL_PARAM_construct_utf8_string(name, (char *)"abcdefghijklmnop", 0);
        break;
    case 3:
        v->p = OSSL_PARAM_construct_int32(name, &v->i32);
        break;
    case 4:
        v->ptr = K;
        v->p = OSSL_PARAM_construct_octet_ptr(name, (void **)&v->ptr, keylen);
        break;
    case 5:
        v->p = OSSL_PARAM_construct_octet_string(name, K, keylen);
        break;
    case 6:
        v->p = OSSL_PARAM_construct_utf8_string(name, NULL, glen);
        break;
    case 7:
        /* m2msec: exactly glen bytes on the heap (ASan sees any read past them); the stock
         * HKDF, which reads on to a NUL, gets "X" and a NUL after them instead. */
        v->heap = malloc(glen + 2);
        if (v->heap == NULL)
            abort();
        memcpy(v->heap, good, glen);
        if (stock) {
            v->heap[glen] = 'X';
            v->heap[glen + 1] = '\0';
        } else {
            char *exact = realloc(v->heap, glen);

            if (exact == NULL)
                abort();
            v->heap = exact;
        }
        v->p = OSSL_PARAM_construct_utf8_string(name, v->heap, glen);
        break;
    case 8:
        v->p = OSSL_PARAM_construct_utf8_string(name, (char *)good, glen + 1);
        break;
    case 9:
        v->p = OSSL_PARAM_construct_octet_string(name, (void *)good, glen);
        break;
    case 10:
        v->ptr = good;
        v->p = OSSL_PARAM_construct_utf8_ptr(name, (char **)&v->ptr, 0);
        break;
    case 11:
        v->p = OSSL_PARAM_construct_utf8_string(name, (char *)"", 0);
        break;
    case 12:
        v->p = OSSL_PARAM_construct_utf8_string(name, (char *)good, 0);
        break;
    case 13:
        v->p =
            u64 ? OSSL_PARAM_construct_uint64(name, NULL) : OSSL_PARAM_construct_int32(name, NULL);
        break;
    case 14:
        v->p = OSSL_PARAM_construct_utf8_string(name, (char *)"1", 0);
        break;
    case 15:
        v->p = OSSL_PARAM_construct_octet_string(name, &v->u64, sizeof(v->u64));
        break;
    case 16:
        v->p = u64 ? OSSL_PARAM_construct_uint64(name, &v->u64)
                   : OSSL_PARAM_construct_int32(name, &v->i32);
        break;
    default:
        abort();
    }
}

/* The stock HKDF with shape s in place of its key, digest or mode: 1 derived, 0 refused. */
static int stock_hkdf_shape(size_t s)
{
    static const char *const names[] = {OSSL_KDF_PARAM_KEY, OSSL_KDF_PARAM_DIGEST,
                                        OSSL_KDF_PARAM_MODE};
    int kind = pshapes[s].kind;
    unsigned char out[32];
    PVAL v;
    PB b;
    int rc;

    pshape_make(s, names[kind], "SHA256", 0, 0, 16, 1, &v);
    pb_init(&b);
    if (kind != PK_UTF8)
        pb_str(&b, OSSL_KDF_PARAM_DIGEST, "SHA256");
    if (kind != PK_OCTET)
        pb_oct(&b, OSSL_KDF_PARAM_KEY, K, 16);
    pb_add(&b, v.p);
    rc = kdf_derive(ref_ctx, "HKDF", b.p, out, sizeof(out));
    free(v.heap);
    ERR_clear_error();
    return rc > 0;
}

/* In a child: 1 derived, 0 refused, -1 crashed. */
static int stock_hkdf_shape_forked(size_t s)
{
    pid_t pid;
    int st = 0;

    fflush(NULL);
    pid = fork();
    if (pid == 0)
        _exit(stock_hkdf_shape(s) ? 41 : 40);
    if (pid < 0 || waitpid(pid, &st, 0) != pid)
        abort();
    /* Any other end is a crash: a signal, or a sanitizer's exit status. */
    if (!WIFEXITED(st) || (WEXITSTATUS(st) != 40 && WEXITSTATUS(st) != 41))
        return -1;
    return WEXITSTATUS(st) == 41;
}

static int under_valgrind(void)
{
    const char *pre = getenv("LD_PRELOAD");

    return pre != NULL && strstr(pre, "vgpreload") != NULL;
}

static void test_param_shapes(void)
{
    static const struct {
        const char *alg, *name[3], *good[3];
        int32_t num[3];
        int u64[3];
        size_t keylen;
    } kdfs[] = {
        {SESSION, {"key", "digest", "epoch"}, {"", "SHA256", ""}, {0, 0, 0}, {0, 0, 1}, 16},
        {ONEM2M, {"key", "derivation", "suid"}, {"", "km", ""}, {0, 0, 7}, {0, 0, 1}, 32},
        {OSCORE, {"key", "type", "alg"}, {"", "key", ""}, {0, 0, 10}, {0, 0, 0}, 16},
    };
    unsigned refusals = 0, accepted = 0, lenient = 0;

    for (size_t s = 0; s < NPSHAPES; s++) {
        const PSHAPE *sh = &pshapes[s];
        int stock = -2;

        if (sh->stock_crashes && under_valgrind())
            printf("\n    %-48s stock: not run under valgrind (crashes)", sh->name);
        else
            stock = stock_hkdf_shape_forked(s);
        if (stock != -2)
            printf("\n    %-48s stock HKDF: %s", sh->name,
                   stock < 0 ? "CRASHES"
                   : stock   ? "derives"
                             : "refuses");
        for (size_t k = 0; k < sizeof(kdfs) / sizeof(kdfs[0]); k++) {
            const char *pname = kdfs[k].name[sh->kind];
            unsigned char got[32], want[32];
            PVAL v;
            PB b;
            int rc;

            pshape_make(s, pname, kdfs[k].good[sh->kind], kdfs[k].num[sh->kind],
                        kdfs[k].u64[sh->kind], kdfs[k].keylen, 0, &v);
            good_pb(kdfs[k].alg, pname, &b);
            pb_add(&b, v.p);
            memset(got, 0xAA, sizeof(got));
            ERR_clear_error();
            rc = kdf_derive(app_ctx, kdfs[k].alg, b.p, got, sizeof(got));
            if (rc > 0) {
                accepted++;
                lenient += stock == 0;
                printf("\n      %-16s derives", kdfs[k].alg);
                CHECK(sh->ours_ok, "%s, %s '%s': must be refused", sh->name, kdfs[k].alg, pname);
                CHECK(good_ref(kdfs[k].alg, want), "%s reference", kdfs[k].alg);
                CHECK_EQ(got, want, sizeof(got), "%s, %s '%s': the well-formed value's key",
                         sh->name, kdfs[k].alg, pname);
                CHECK(stock != 0 || sh->lenient != NULL,
                      "%s, %s: accepted where the stock HKDF refuses, with no reason given",
                      sh->name, kdfs[k].alg);
            } else {
                const char *t = take_errors(), *m = strstr(t, "m2msec:");
                size_t mlen;

                refusals++;
                m = m != NULL ? m : t;
                mlen = strcspn(m, "\n");
                printf("\n      %-16s refuses: %.*s", kdfs[k].alg, (int)(mlen < 110 ? mlen : 110),
                       m);
                CHECK(!sh->ours_ok, "%s, %s '%s': must derive (%s)", sh->name, kdfs[k].alg, pname,
                      t);
                CHECK(strstr(t, ":m2msec:") != NULL && strstr(t, pname) != NULL,
                      "%s, %s: an m2msec error naming '%s': %s", sh->name, kdfs[k].alg, pname, t);
                for (size_t i = 0; i < sizeof(got); i++)
                    if (got[i] != 0) {
                        CHECK(0, "%s, %s: output not wiped", sh->name, kdfs[k].alg);
                        break;
                    }
            }
            free(v.heap);
        }
    }
    printf("\n    %zu shapes x 3 KDFs: %u refused with an m2msec error, %u derived the reference "
           "key (%u where the stock HKDF refuses, each with its reason) ",
           NPSHAPES, refusals, accepted, lenient);
}

/* ======================================================================== */
/* Setup and main                                                           */
/* ======================================================================== */

static int setup(void)
{
    const char *mods = getenv("M2M_MODULES");

    for (size_t i = 0; i < sizeof(K); i++) {
        K[i] = (unsigned char)(0x10 + i);
        K2[i] = (unsigned char)(0xF0 - 3 * i);
    }
    for (size_t i = 0; i < sizeof(SALT); i++)
        SALT[i] = (unsigned char)(0xA0 ^ i);
    for (size_t i = 0; i < 16; i++) {
        NONCE_A[i] = (unsigned char)(0x30 + i);
        NONCE_B[i] = (unsigned char)(0x70 + 2 * i);
        RAND_R[i] = (unsigned char)(0x5A ^ (7 * i));
        RAND_O[i] = (unsigned char)(0xC3 + 5 * i);
    }
    if (mods == NULL) {
        fprintf(stderr, "M2M_MODULES is not set (directory of the built m2msec.so)\n");
        return 0;
    }
    app_ctx = OSSL_LIB_CTX_new();
    ref_ctx = OSSL_LIB_CTX_new();
    only_ctx = OSSL_LIB_CTX_new();
    if (app_ctx == NULL || ref_ctx == NULL || only_ctx == NULL ||
        !OSSL_PROVIDER_set_default_search_path(app_ctx, mods) ||
        !OSSL_PROVIDER_set_default_search_path(only_ctx, mods))
        return 0;
    app_m2m = OSSL_PROVIDER_load(app_ctx, "m2msec");
    app_def = OSSL_PROVIDER_load(app_ctx, "default");
    ref_def = OSSL_PROVIDER_load(ref_ctx, "default");
    only_m2m = OSSL_PROVIDER_load(only_ctx, "m2msec");
    if (app_m2m == NULL || app_def == NULL || ref_def == NULL || only_m2m == NULL) {
        fprintf(stderr, "cannot load the providers from %s\n", mods);
        return 0;
    }
    return 1;
}

static void teardown(void)
{
    OSSL_PROVIDER_unload(app_m2m);
    OSSL_PROVIDER_unload(app_def);
    OSSL_PROVIDER_unload(ref_def);
    OSSL_PROVIDER_unload(only_m2m);
    OSSL_LIB_CTX_free(app_ctx);
    OSSL_LIB_CTX_free(ref_ctx);
    OSSL_LIB_CTX_free(only_ctx);
}

typedef struct {
    const char *name;
    CU_TestFunc fn;
} TEST;

static int add_suite(const char *name, CU_InitializeFunc init, CU_CleanupFunc clean,
                     const TEST *tests, size_t n)
{
    CU_pSuite s = CU_add_suite(name, init, clean);

    if (s == NULL)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (CU_add_test(s, tests[i].name, tests[i].fn) == NULL)
            return 0;
    return 1;
}

#define ADD_SUITE(name, init, clean, tests)                                                        \
    add_suite(name, init, clean, tests, sizeof(tests) / sizeof(tests[0]))

int main(void)
{
    static const TEST hkdf_tests[] = {
        {"RFC 5869 A.1-A.3 through m2m_hkdf", test_hkdf_rfc5869},
        {"SHA2-384/512, length limits", test_hkdf_other_digests},
        {"digest names", test_md_names},
    };
    static const TEST session_tests[] = {
        {"equals OpenSSL HKDF over the specified info", test_session_reference},
        {"documented defaults", test_session_defaults},
        {"output lengths", test_session_lengths},
        {"every input changes the output", test_session_sensitivity},
        {"encoding is injective", test_session_injective},
        {"NFKC identifiers", test_session_nfkc},
        {"errors", test_session_errors},
        {"dup and reset", test_session_dup_reset},
    };
    static const TEST onem2m_tests[] = {
        {"km and kpsa", test_onem2m_km_kpsa},           {"usage-key", test_onem2m_usage_key},
        {"e2e master and T(n) chain", test_onem2m_e2e}, {"esprim-session", test_onem2m_esprim},
        {"NFKC identifiers", test_onem2m_nfkc},         {"errors", test_onem2m_errors},
        {"dup and reset", test_onem2m_dup_reset},
    };
    static const TEST oscore_tests[] = {
        {"RFC 8613 C.1-C.3 client and server", test_oscore_rfc8613},
        {"reference CBOR matches RFC 8613 C.1.1", test_oscore_info_encoding},
        {"other algorithms and lengths", test_oscore_other},
        {"errors", test_oscore_errors},
        {"dup and reset", test_oscore_dup_reset},
    };
    static const TEST string_tests[] = {
        {"embedded NUL refused, naming the parameter", test_string_embedded_nul},
        {"value is data_size bytes", test_string_by_size},
        {"UTF8_PTR parameters", test_string_utf8_ptr},
        {"wrong type or no data", test_string_wrong_type},
        {"every settable parameter is read", test_settable_all_read},
        {"OSSL_PARAM shapes next to the stock HKDF", test_param_shapes},
    };
    static const TEST ctx_tests[] = {
        {"application context with only m2msec", test_only_m2msec},
        {"fetch and settable params", test_fetch_properties},
        {"each KDF's parameters: listed once, the tables agree", test_params_listed_once},
    };
    unsigned int failures;

    if (!setup()) {
        ERR_print_errors_fp(stderr);
        teardown();
        return 1;
    }
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    if (!ADD_SUITE("internal HKDF (RFC 5869)", suite_hkdf_init, suite_hkdf_clean, hkdf_tests) ||
        !ADD_SUITE("M2M-SESSION-KDF", NULL, NULL, session_tests) ||
        !ADD_SUITE("ONEM2M-KDF", NULL, NULL, onem2m_tests) ||
        !ADD_SUITE("OSCORE-KDF", NULL, NULL, oscore_tests) ||
        !ADD_SUITE("UTF-8 string parameters", NULL, NULL, string_tests) ||
        !ADD_SUITE("library contexts", NULL, NULL, ctx_tests)) {
        fprintf(stderr, "CUnit: %s\n", CU_get_error_msg());
        CU_cleanup_registry();
        teardown();
        return 1;
    }
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    failures = CU_get_number_of_failures() + CU_get_number_of_suites_failed() +
               CU_get_number_of_tests_failed();
    printf("\n%u assertions run, %u failed\n", CU_get_number_of_asserts(),
           CU_get_number_of_failures());
    CU_cleanup_registry();
    teardown();
    return failures != 0 ? 1 : 0;
}
