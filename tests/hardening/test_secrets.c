/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Secrets: none left in freed memory, none in error messages, logs or the
 * output of the command-line tools.
 *
 * 1. Freed memory. An allocator installed with CRYPTO_set_mem_functions()
 *    scans every block when it is freed (or moved by a realloc) for known
 *    secret bytes: the service-layer keys, every derived session key and
 *    static IV (computed independently with OpenSSL's HKDF), the HKDF PRKs,
 *    the keyed HMAC states (SHA-256 chaining value after K^ipad and
 *    K^opad, as a SHA256_CTX holds them) of every HMAC key in play, the
 *    ONEM2M and OSCORE outputs, the record keys in the byte orders of the
 *    AES key schedules, the GCM hash keys, and the device key. Any 12-byte
 *    run of a secret counts. Exercised: KDF contexts (set the key, derive,
 *    dup, reset, free), record cipher contexts (init, records, a forgery,
 *    free), sessions (create, seal/open across re-keys, free), the status
 *    record (libm2msec) and the integrity gate (the provider, device key
 *    from its policy), then the provider unloaded. A hit in a block freed
 *    by m2msec's code fails; a hit in a block freed by libcrypto is
 *    reported as libcrypto's (OpenSSL 3.0 frees the HMAC, digest and
 *    cipher states with OPENSSL_clear_free, so none is expected). Memory
 *    that is never freed, and the stack, are not scanned.
 * 2. Error messages. Every error path that can be reached with a
 *    recognisable key (0xA5 bytes, and a key of distinct bytes) is taken;
 *    the whole error queue is printed into a memory BIO, which must contain
 *    neither the raw bytes nor their hex (upper or lower case, with or
 *    without ':' or ' ' separators) of any 4-byte run of those keys.
 * 3. The action log and report of m2msec_policy_apply with a repository URL
 *    that carries a password, and the output of the m2msec tool (status,
 *    verify) and of `openssl kdf` with the key in a device key file or on
 *    the command line: no key, no password.
 */
#define _GNU_SOURCE                 /* memmem */
#define OPENSSL_SUPPRESS_DEPRECATED /* SHA256_Init etc.: the keyed HMAC states */

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>

#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/sha.h>

#include "hard_test.h"
#include "m2msec/integrity.h"
#include "m2msec/session.h"
#include "session_call.h"

/* ======================================================================== */
/* The scanning allocator                                                   */
/* ======================================================================== */

typedef struct {
    size_t size;
    const char *file;
    int line;
    unsigned magic;
} hdr_t;
#define MAGIC 0x53435254u
#define HDR ((sizeof(hdr_t) + 15u) & ~(size_t)15u)
#define WIN 12 /* bytes of a secret that count as a hit */

typedef struct {
    char name[64];
    unsigned char b[128];
    size_t len;
} needle;

typedef struct {
    char what[64], alloc_site[160], free_site[160];
    size_t size;
    int m2m; /* freed by m2msec's code */
} hit;

static needle needles[256];
static int nneedles;
static atomic_int scanning;
static pthread_mutex_t hits_mu = PTHREAD_MUTEX_INITIALIZER;
static hit hits[64];
static int nhits, more_hits;
static unsigned long blocks_scanned, bytes_scanned;

static int m2m_file(const char *file)
{
    return file != NULL &&
           (strstr(file, "provider/") != NULL || strstr(file, "libm2msec/") != NULL);
}

static void scan(const hdr_t *h, const unsigned char *p, const char *free_file, int free_line)
{
    if (!atomic_load(&scanning))
        return;
    pthread_mutex_lock(&hits_mu);
    blocks_scanned++;
    bytes_scanned += h->size;
    for (int k = 0; k < nneedles; k++) {
        const needle *nd = &needles[k];

        for (size_t off = 0; off + WIN <= nd->len; off++) {
            if (memmem(p, h->size, nd->b + off, WIN) == NULL)
                continue;
            if (nhits < (int)(sizeof(hits) / sizeof(hits[0]))) {
                hit *x = &hits[nhits++];

                pathf(x->what, sizeof(x->what), "%s", nd->name);
                pathf(x->alloc_site, sizeof(x->alloc_site), "%s:%d", HT_S(h->file), h->line);
                pathf(x->free_site, sizeof(x->free_site), "%s:%d", HT_S(free_file), free_line);
                x->size = h->size;
                x->m2m = m2m_file(free_file);
            } else {
                more_hits++;
            }
            break;
        }
    }
    pthread_mutex_unlock(&hits_mu);
}

static void *s_malloc(size_t num, const char *file, int line)
{
    hdr_t *h;

    if (num == 0)
        return NULL;
    h = malloc(HDR + num);
    if (h == NULL)
        return NULL;
    h->size = num;
    h->file = file;
    h->line = line;
    h->magic = MAGIC;
    return (unsigned char *)h + HDR;
}

static void s_free(void *p, const char *file, int line)
{
    hdr_t *h;

    if (p == NULL)
        return;
    h = (hdr_t *)(void *)((unsigned char *)p - HDR);
    if (h->magic != MAGIC)
        abort();
    scan(h, p, file, line);
    h->magic = 0;
    free(h);
}

static void *s_realloc(void *p, size_t num, const char *file, int line)
{
    hdr_t *h;
    unsigned char *n;

    if (p == NULL)
        return s_malloc(num, file, line);
    if (num == 0) {
        s_free(p, file, line);
        return NULL;
    }
    /* a realloc that moves the block leaves the old bytes in freed memory */
    h = (hdr_t *)(void *)((unsigned char *)p - HDR);
    if (h->magic != MAGIC)
        abort();
    n = s_malloc(num, file, line);
    if (n == NULL)
        return NULL;
    memcpy(n, p, h->size < num ? h->size : num);
    s_free(p, file, line);
    return n;
}

/* ======================================================================== */
/* The secrets                                                              */
/* ======================================================================== */

static void add_needle(const char *name, const unsigned char *b, size_t len)
{
    if (nneedles >= (int)(sizeof(needles) / sizeof(needles[0])) || len < WIN ||
        len > sizeof(needles[0].b))
        return;
    pathf(needles[nneedles].name, sizeof(needles[0].name), "%s", name);
    memcpy(needles[nneedles].b, b, len);
    needles[nneedles].len = len;
    nneedles++;
}

/* The bytes of a key with each 4-byte word reversed (AES key schedule in C, host order). */
static void add_key(const char *name, const unsigned char *k, size_t len)
{
    unsigned char sw[128];
    char n2[64];

    add_needle(name, k, len);
    for (size_t i = 0; i + 4 <= len; i += 4)
        for (int j = 0; j < 4; j++)
            sw[i + (size_t)j] = k[i + 3 - (size_t)j];
    pathf(n2, sizeof(n2), "%s (32-bit words swapped)", name);
    add_needle(n2, sw, len - len % 4);
}

/* The SHA-256 chaining values after (K || 0...) ^ ipad and ^ opad: what a keyed HMAC holds. */
static void add_hmac_states(const char *name, const unsigned char *key, size_t keylen)
{
    unsigned char k0[64], st[32];
    char n2[96];
    SHA256_CTX c;

    if (keylen > sizeof(k0))
        return;
    for (int pad = 0; pad < 2; pad++) {
        memset(k0, 0, sizeof(k0));
        memcpy(k0, key, keylen);
        for (size_t i = 0; i < sizeof(k0); i++)
            k0[i] ^= pad == 0 ? 0x36 : 0x5c;
        SHA256_Init(&c);
        SHA256_Update(&c, k0, sizeof(k0));
        memcpy(st, c.h, sizeof(st));
        pathf(n2, sizeof(n2), "HMAC %s state of %s", pad == 0 ? "inner" : "outer", name);
        add_needle(n2, st, sizeof(st));
    }
    OPENSSL_cleanse(k0, sizeof(k0));
}

/* GCM hash key H = AES_K(0^128), as bytes and as the two host-order words of gcm128. */
static void add_gcm_h(OSSL_LIB_CTX *ref, const char *name, const unsigned char *key, size_t keylen)
{
    static const unsigned char zero[16];
    unsigned char h[32], sw[16];
    EVP_CIPHER *c = EVP_CIPHER_fetch(ref, keylen == 16 ? "AES-128-ECB" : "AES-256-ECB", NULL);
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int n = 0;
    char n2[96];

    if (c != NULL && ctx != NULL && EVP_EncryptInit_ex2(ctx, c, key, NULL, NULL) &&
        EVP_CIPHER_CTX_set_padding(ctx, 0) && EVP_EncryptUpdate(ctx, h, &n, zero, 16) && n == 16) {
        pathf(n2, sizeof(n2), "GCM H of %s", name);
        add_needle(n2, h, 16);
        for (int i = 0; i < 8; i++) {
            sw[i] = h[7 - i];
            sw[8 + i] = h[15 - i];
        }
        pathf(n2, sizeof(n2), "GCM H (host order) of %s", name);
        add_needle(n2, sw, 16);
    }
    EVP_CIPHER_CTX_free(ctx);
    EVP_CIPHER_free(c);
}

/* ======================================================================== */
/* Shared state                                                             */
/* ======================================================================== */

static const char *mods;
static OSSL_LIB_CTX *refctx; /* default only */
static OSSL_PROVIDER *ref_default;
static char tmp[PATH_MAX];

/* The secrets of part 1: distinct bytes from fixed seeds. */
static unsigned char svc_key[32], salt[16], oscore_secret[16], rec_keys[HT_NALGS][32],
    rec_iv[HT_IVLEN], dev_key[32];

static void report_hits(const char *what)
{
    int m2m = 0;

    pthread_mutex_lock(&hits_mu);
    for (int i = 0; i < nhits; i++) {
        printf("  %s: %s in a freed block of %zu bytes (allocated at %s, freed at %s)\n",
               hits[i].m2m ? "m2msec" : "libcrypto", hits[i].what, hits[i].size, hits[i].alloc_site,
               hits[i].free_site);
        m2m += hits[i].m2m;
    }
    pthread_mutex_unlock(&hits_mu);
    CHECK(m2m == 0, "%s: %d freed blocks of m2msec held a secret", what, m2m);
    CHECK(more_hits == 0, "%s: %d more hits not listed", what, more_hits);
}

/* ======================================================================== */
/* 1. Freed memory                                                          */
/* ======================================================================== */

static void test_scanner_works(void)
{
    unsigned char *b;
    int before;

    /* a secret freed without being wiped is found; wiped, it is not */
    atomic_store(&scanning, 1);
    b = OPENSSL_malloc(100);
    CHECK(b != NULL, "allocation");
    if (b == NULL)
        return;
    memset(b, 0x11, 100);
    memcpy(b + 37, svc_key + 5, WIN);
    before = nhits;
    OPENSSL_free(b);
    CHECK(nhits == before + 1, "a freed block with 12 bytes of the service key is a hit");
    b = OPENSSL_malloc(100);
    if (b != NULL)
        memcpy(b + 3, svc_key, sizeof(svc_key));
    OPENSSL_clear_free(b, 100);
    CHECK(nhits == before + 1, "a wiped block is not a hit");
    /* the keyed HMAC state as libcrypto holds it: a SHA256_CTX after the K ^ ipad block */
    {
        SHA256_CTX *c = OPENSSL_malloc(sizeof(*c));
        unsigned char k0[64] = {0};

        memcpy(k0, svc_key, sizeof(svc_key));
        for (size_t i = 0; i < sizeof(k0); i++)
            k0[i] ^= 0x36;
        if (c != NULL) {
            SHA256_Init(c);
            SHA256_Update(c, k0, sizeof(k0));
        }
        OPENSSL_free(c);
        CHECK(nhits == before + 2 && strstr(hits[before + 1].what, "HMAC inner state") != NULL,
              "a freed SHA256_CTX keyed with K ^ ipad is a hit (%s)",
              nhits > before + 1 ? hits[before + 1].what : "none");
    }
    nhits = before;
    atomic_store(&scanning, 0);
    printf("\n  %d byte patterns of secrets; any 12-byte run of one in a freed block is a hit\n",
           nneedles);
}

/* The originator of the session pair whose epoch keys are secrets. */
static const char *const sess_origin = "CAE-secrets";

/* The independent values of every secret (not scanned: our own computations). */
static void setup_needles(void)
{
    unsigned char prk[32], ref[64];
    char name[96];

    add_key("service key", svc_key, sizeof(svc_key));
    add_hmac_states("the service key", svc_key, sizeof(svc_key));
    add_key("device key", dev_key, sizeof(dev_key));
    add_hmac_states("the device key", dev_key, sizeof(dev_key));
    add_key("OSCORE master secret", oscore_secret, sizeof(oscore_secret));
    add_needle("static IV", rec_iv, sizeof(rec_iv));
    for (size_t a = 0; a < HT_NALGS; a++) {
        pathf(name, sizeof(name), "%s key", ht_algs[a].m2m);
        add_key(name, rec_keys[a], ht_algs[a].keylen);
        if (!ht_algs[a].ccm && strncmp(ht_algs[a].evp, "AES", 3) == 0)
            add_gcm_h(refctx, name, rec_keys[a], ht_algs[a].keylen);
    }
    /* PRK of M2M-SESSION-KDF without salt (HMAC key = 32 zero bytes) and with the salt */
    if (ht_ref_hmac(refctx, NULL, 0, svc_key, sizeof(svc_key), NULL, 0, NULL, 0, prk)) {
        add_needle("HKDF PRK (no salt)", prk, 32);
        add_hmac_states("the HKDF PRK (no salt)", prk, 32);
    }
    if (ht_ref_hmac(refctx, salt, sizeof(salt), svc_key, sizeof(svc_key), NULL, 0, NULL, 0, prk)) {
        add_needle("HKDF PRK (salt)", prk, 32);
        add_hmac_states("the HKDF PRK (salt)", prk, 32);
    }
    if (ht_ref_hmac(refctx, salt, sizeof(salt), oscore_secret, sizeof(oscore_secret), NULL, 0, NULL,
                    0, prk)) {
        add_needle("OSCORE PRK", prk, 32);
        add_hmac_states("the OSCORE PRK", prk, 32);
    }
    /* ONEM2M e2e master = HMAC(salt, Kpsa): a key of its own (the T(n) HMAC key) */
    if (ht_ref_hmac(refctx, salt, sizeof(salt), svc_key, sizeof(svc_key), NULL, 0, NULL, 0, prk)) {
        add_needle("ONEM2M e2e master", prk, 32);
        add_hmac_states("the ONEM2M e2e master", prk, 32);
    }
    /* session keys of epochs 0..9 (sender and receiver below) */
    for (uint64_t e = 0; e < 10; e++) {
        if (ht_ref_session_kdf(refctx, svc_key, sizeof(svc_key), "m2msec record", sess_origin,
                               "CSE-secrets", e, 0, 3600, M2MSEC_REC_AES_256_GCM, ref,
                               32 + HT_IVLEN)) {
            pathf(name, sizeof(name), "session key of epoch %llu", (unsigned long long)e);
            add_key(name, ref, 32);
            add_gcm_h(refctx, name, ref, 32);
            pathf(name, sizeof(name), "static IV of epoch %llu", (unsigned long long)e);
            add_needle(name, ref + 32, HT_IVLEN);
        }
    }
    if (ht_ref_session_kdf(refctx, svc_key, sizeof(svc_key), "record", "CAE01", "CSE02", 4, 0, 1200,
                           M2MSEC_REC_AES_128_GCM, ref, 44))
        add_needle("M2M-SESSION-KDF output", ref, 44);
}

static OSSL_LIB_CTX *libctx; /* m2msec + default, loaded under scanning */

static int kdf_run(const char *name, OSSL_PARAM *p, unsigned char *out, size_t outlen)
{
    EVP_KDF *kdf = EVP_KDF_fetch(libctx, name, NULL);
    EVP_KDF_CTX *k = kdf != NULL ? EVP_KDF_CTX_new(kdf) : NULL, *d = NULL;
    int ok;

    /* the key set on its own first, then derive, a copy derives too, reset, free */
    ok = k != NULL && EVP_KDF_CTX_set_params(k, p) && EVP_KDF_derive(k, out, outlen, NULL) > 0 &&
         (d = EVP_KDF_CTX_dup(k)) != NULL && EVP_KDF_derive(d, out, outlen, NULL) > 0;
    if (k != NULL)
        EVP_KDF_CTX_reset(k);
    EVP_KDF_CTX_free(d);
    EVP_KDF_CTX_free(k);
    EVP_KDF_free(kdf);
    return ok;
}

static void test_freed_memory(void)
{
    static const char *const derivs[] = {"km",           "kpsa",         "usage-key",
                                         "e2e-master",   "e2e-msg-auth", "e2e-msg-conf",
                                         "e2e-att-auth", "e2e-att-conf", "esprim-session"};
    unsigned char out[64], ref[64];
    uint64_t epoch = 4, lifetime = 1200, suid = 9;
    char status[PATH_MAX], keyfile[PATH_MAX], sess[PATH_MAX], cnf[PATH_MAX];
    char text[4 * PATH_MAX], hex[65], mod[PATH_MAX];
    OSSL_PARAM p[12];
    int n;

    /* ---- a device policy for the integrity gate, the status record written by libm2msec ---- */
    pathf(status, sizeof(status), "%s/integrity.status", tmp);
    pathf(keyfile, sizeof(keyfile), "%s/device.key", tmp);
    pathf(sess, sizeof(sess), "%s/device-policy.cnf", tmp);
    pathf(cnf, sizeof(cnf), "%s/openssl.cnf", tmp);
    for (size_t i = 0; i < sizeof(dev_key); i++)
        snprintf(hex + 2 * i, 3, "%02x", dev_key[i]);
    CHECK(realpath(mods, mod) != NULL, "module directory");
    pathf(text, sizeof(text),
          "[session]\nrequire_integrity = yes\nintegrity_status = %s\ndevice_key_file = %s\n"
          "manifest_state = %s/manifest.state\n",
          status, keyfile, tmp);
    CHECK(ht_write_str(sess, text) && write_file(keyfile, hex, 64, 0600), "device policy written");
    pathf(text, sizeof(text), "%s/manifest.state", tmp);
    CHECK(ht_write_str(text, "m2msec-manifest-state 1\nversion 3\n"), "manifest state written");
    pathf(text, sizeof(text),
          "openssl_conf = openssl_init\n[openssl_init]\nproviders = provider_sect\n"
          "[provider_sect]\ndefault = default_sect\nm2msec = m2msec_sect\n"
          "[default_sect]\nactivate = 1\n[m2msec_sect]\nmodule = %s/m2msec.so\n"
          "activate = 1\npolicy = %s\n",
          mod, sess);
    CHECK(ht_write_str(cnf, text), "openssl.cnf written");
    OPENSSL_cleanse(hex, sizeof(hex));

    CHECK(ht_ref_session_kdf(refctx, svc_key, sizeof(svc_key), "record", "CAE01", "CSE02", 4, 0,
                             1200, M2MSEC_REC_AES_128_GCM, ref, 44),
          "reference M2M-SESSION-KDF output");

    /* ---- everything from here on is scanned ---- */
    atomic_store(&scanning, 1);
    CHECK(m2msec_integrity_status_write(refctx, status, dev_key, sizeof(dev_key), 1, 3,
                                        (uint64_t)time(NULL)),
          "status record written (device key, libm2msec)");
    /* the provider checks its section in the file OpenSSL reads by default */
    setenv("OPENSSL_CONF", cnf, 1);
    libctx = OSSL_LIB_CTX_new();
    CHECK(libctx != NULL && OSSL_LIB_CTX_load_config(libctx, cnf) &&
              OSSL_PROVIDER_available(libctx, "m2msec"),
          "m2msec loaded from the config with require_integrity (device key)");

    /* M2M-SESSION-KDF (through the integrity gate: the device key's HMAC) */
    p[0] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, svc_key, sizeof(svc_key));
    p[1] = OSSL_PARAM_construct_utf8_string("purpose", (char *)"record", 0);
    p[2] = OSSL_PARAM_construct_utf8_string("originator", (char *)"CAE01", 0);
    p[3] = OSSL_PARAM_construct_utf8_string("receiver", (char *)"CSE02", 0);
    p[4] = OSSL_PARAM_construct_uint64("epoch", &epoch);
    p[5] = OSSL_PARAM_construct_uint64("lifetime", &lifetime);
    p[6] = OSSL_PARAM_construct_end();
    CHECK(kdf_run("M2M-SESSION-KDF", p, out, 44) && memcmp(out, ref, 44) == 0,
          "M2M-SESSION-KDF derives the reference key (integrity gate passed)");
    p[6] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, salt, sizeof(salt));
    p[7] = OSSL_PARAM_construct_end();
    CHECK(kdf_run("M2M-SESSION-KDF", p, out, 64), "M2M-SESSION-KDF with a salt");
    /* ONEM2M-KDF, every derivation */
    for (size_t i = 0; i < sizeof(derivs) / sizeof(derivs[0]); i++) {
        OSSL_PARAM *q = p;

        *q++ = OSSL_PARAM_construct_utf8_string("derivation", (char *)derivs[i], 0);
        *q++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, svc_key, sizeof(svc_key));
        *q++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, salt, sizeof(salt));
        *q++ = OSSL_PARAM_construct_utf8_string("maf-id", (char *)"MAF-1", 0);
        *q++ = OSSL_PARAM_construct_utf8_string("enrolee-id", (char *)"CAE-1", 0);
        *q++ = OSSL_PARAM_construct_uint64("suid", &suid);
        *q++ = OSSL_PARAM_construct_utf8_string("target-id", (char *)"CSE-1", 0);
        *q++ = OSSL_PARAM_construct_octet_string("receiver-rand", salt, 8);
        *q++ = OSSL_PARAM_construct_octet_string("originator-rand", salt + 8, 8);
        *q = OSSL_PARAM_construct_end();
        CHECK(kdf_run("ONEM2M-KDF", p, out, 32), "ONEM2M-KDF %s", derivs[i]);
        if (i == 0)
            add_needle("ONEM2M km output", out, 32); /* a derived key: must not linger either */
    }
    /* OSCORE-KDF key and IV */
    for (int iv = 0; iv < 2; iv++) {
        p[0] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, oscore_secret,
                                                 sizeof(oscore_secret));
        p[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, salt, 8);
        p[2] = OSSL_PARAM_construct_octet_string("id", salt, iv ? 0 : 1);
        p[3] = OSSL_PARAM_construct_utf8_string("type", (char *)(iv ? "iv" : "key"), 0);
        p[4] = OSSL_PARAM_construct_end();
        CHECK(kdf_run("OSCORE-KDF", p, out, iv ? 13 : 16), "OSCORE-KDF %s", iv ? "iv" : "key");
    }

    /* record ciphers: records, a forgery, then free */
    for (size_t a = 0; a < HT_NALGS; a++) {
        EVP_CIPHER *c = EVP_CIPHER_fetch(libctx, ht_algs[a].m2m, NULL);
        EVP_CIPHER_CTX *e = c != NULL ? ht_rec_ctx(c, 1, rec_keys[a], rec_iv, 1) : NULL;
        EVP_CIPHER_CTX *d = c != NULL ? ht_rec_ctx(c, 0, rec_keys[a], rec_iv, 1) : NULL;
        unsigned char pt[48], ct[8][48], tag[8][HT_TAGLEN], back[48];
        uint64_t seq = 0;
        int ok = e != NULL && d != NULL;

        ht_bytes(pt, sizeof(pt), 3);
        for (int r = 0; ok && r < 8; r++)
            ok = ht_rec_seal(e, (const unsigned char *)"aad", 3, pt, sizeof(pt), ct[r], tag[r],
                             &seq);
        for (int r = 7; ok && r >= 0; r--)
            ok = ht_rec_open(d, (uint64_t)r, (const unsigned char *)"aad", 3, ct[r], sizeof(pt),
                             tag[r], back) &&
                 memcmp(back, pt, sizeof(pt)) == 0;
        ct[0][0] ^= 1;
        CHECK(ok && !ht_rec_open(d, 8, (const unsigned char *)"aad", 3, ct[0], sizeof(pt), tag[0],
                                 back),
              "%s: 8 records sealed and opened, a forgery refused", ht_algs[a].m2m);
        ERR_clear_error();
        EVP_CIPHER_CTX_free(e);
        EVP_CIPHER_CTX_free(d);
        EVP_CIPHER_free(c);
    }

    /* sessions: AES-256-GCM, re-keying every few records */
    {
        m2msec_session_policy pol = {0};
        m2msec_session_config cfg = {0};
        m2msec_session_state ss = {0, 0}, sr = {0, 0};
        m2msec_session *snd, *rcv;
        m2msec_session_stats st;
        unsigned char pt[64], rec[64 + 27], back[64 + 27];
        size_t rl = 0, bl = 0;
        int ok;

        (void)ss;
        (void)sr;
        pol.aead = M2MSEC_REC_AES_256_GCM;
        pol.max_records = 8;
        cfg.libctx = libctx;
        cfg.key = svc_key;
        cfg.key_len = sizeof(svc_key);
        cfg.originator = sess_origin;
        cfg.receiver = "CSE-secrets";
        cfg.policy = &pol;
        {
            char spath[PATH_MAX], rpath[PATH_MAX];
            m2msec_store sst, rst;

            pathf(spath, sizeof(spath), "%s/sender.state", tmp);
            pathf(rpath, sizeof(rpath), "%s/receiver.state", tmp);
            t_store_file(&sst, spath);
            t_store_file(&rst, rpath);
            if (!m2msec_store_init(&sst) || !m2msec_store_init(&rst)) /* first start */
                ERR_print_errors_fp(stderr);
            cfg.role = M2MSEC_SESSION_SENDER;
            cfg.store = &sst;
            snd = m2msec_session_new(&cfg);
            cfg.role = M2MSEC_SESSION_RECEIVER;
            cfg.store = &rst;
            rcv = m2msec_session_new(&cfg);
            ok = snd != NULL && rcv != NULL;
            for (int r = 0; ok && r < 40; r++) {
                ht_bytes(pt, sizeof(pt), (uint64_t)r);
                ok = t_seal(snd, pt, sizeof(pt), rec, sizeof(rec), &rl) == M2MSEC_SESSION_OK &&
                     t_open(rcv, rec, rl, back, sizeof(back), &bl) == M2MSEC_SESSION_OK &&
                     bl == sizeof(pt) && memcmp(back, pt, bl) == 0;
            }
            if (ok) {
                /* a new record, forged (the last one would be a replay) */
                ok = t_seal(snd, pt, sizeof(pt), rec, sizeof(rec), &rl) == M2MSEC_SESSION_OK;
                rec[20] ^= 1;
                ok = t_open(rcv, rec, rl, back, sizeof(back), &bl) == M2MSEC_SESSION_ERR_AUTH;
            }
            if (snd != NULL)
                m2msec_session_get_stats(snd, &st);
            CHECK(ok, "a session pair: 40 records across re-keys, a forgery refused");
            CHECK(snd != NULL && st.epoch >= 4 && st.epoch < 10,
                  "the sender re-keyed (epoch %llu; the session keys of epochs 0..9 are secrets)",
                  snd != NULL ? (unsigned long long)st.epoch : 0ULL);
            m2msec_session_free(snd);
            m2msec_session_free(rcv);
        }
    }
    ERR_clear_error();

    /* the provider, its key registry and its policy (the device key) go away */
    n = nhits;
    OSSL_LIB_CTX_free(libctx);
    libctx = NULL;
    atomic_store(&scanning, 0);
    (void)n;
    printf("\n  %lu freed blocks (%lu bytes) scanned for %d byte patterns\n", blocks_scanned,
           bytes_scanned, nneedles);
    report_hits("freed memory");
}

/* ======================================================================== */
/* 2. Error messages                                                        */
/* ======================================================================== */

static unsigned char a5[80], dk[80]; /* 0xA5 bytes; distinct bytes */
static BIO *errs;                    /* every error message printed */
static unsigned long nerrors;

/* The last operation failed: its errors go to the memory BIO. */
static void collect(const char *what, int failed)
{
    CHECK(failed, "%s: refused", what);
    if (ERR_peek_error() == 0) {
        CHECK(0, "%s: no error queued", what);
        return;
    }
    while (ERR_peek_error() != 0) {
        nerrors++;
        ERR_print_errors(errs);
    }
}

/* All the forms of 4-byte runs of @p key that must not appear in @p text. */
static int leaks_key(const char *text, size_t len, const unsigned char *key, size_t klen,
                     char *found, size_t flen)
{
    static const char *const seps[] = {"", ":", " "};

    for (size_t off = 0; off + 4 <= klen; off++) {
        if (memmem(text, len, key + off, 4) != NULL) {
            pathf(found, flen, "raw bytes at offset %zu", off);
            return 1;
        }
        for (size_t f = 0; f < 2; f++)
            for (size_t s = 0; s < 3; s++) {
                char pat[32];
                size_t pl = 0;

                for (size_t i = 0; i < 4; i++) {
                    if (i > 0)
                        pl += (size_t)snprintf(pat + pl, sizeof(pat) - pl, "%s", seps[s]);
                    pl +=
                        (size_t)(f == 0
                                     ? snprintf(pat + pl, sizeof(pat) - pl, "%02x", key[off + i])
                                     : snprintf(pat + pl, sizeof(pat) - pl, "%02X", key[off + i]));
                }
                if (memmem(text, len, pat, pl) != NULL) {
                    pathf(found, flen, "'%s'", pat);
                    return 1;
                }
            }
    }
    return 0;
}

static void check_text(const char *what, const char *text, size_t len)
{
    char found[64] = "";

    CHECK(!leaks_key(text, len, a5, sizeof(a5), found, sizeof(found)),
          "%s: the 0xA5 key appears (%s)", what, found);
    CHECK(!leaks_key(text, len, dk, sizeof(dk), found, sizeof(found)),
          "%s: the distinct-byte key appears (%s)", what, found);
}

static int derive(OSSL_LIB_CTX *ctx, const char *kdf, OSSL_PARAM *p, size_t outlen)
{
    EVP_KDF *k = EVP_KDF_fetch(ctx, kdf, NULL);
    EVP_KDF_CTX *c = k != NULL ? EVP_KDF_CTX_new(k) : NULL;
    unsigned char out[16400];
    int ok = c != NULL && EVP_KDF_derive(c, out, outlen, p) > 0;

    EVP_KDF_CTX_free(c);
    EVP_KDF_free(k);
    return ok;
}

/* A session KDF parameter list with one thing wrong. */
static void session_errors(OSSL_LIB_CTX *ctx, const unsigned char *key)
{
    static char longid[70000];
    uint64_t life = 100000000, zero = 0;
    struct {
        const char *what;
        size_t keylen, outlen;
        const char *digest, *purpose, *originator;
        uint64_t *lifetime;
        int key_as_string;
    } cases[] = {
        {"key too short", 15, 32, NULL, "record", "CAE01", NULL, 0},
        {"missing purpose", 32, 32, NULL, NULL, "CAE01", NULL, 0},
        {"invalid UTF-8", 32, 32, NULL, "record", "\xff\xfe", NULL, 0},
        {"field too long", 32, 32, NULL, "record", longid, NULL, 0},
        {"output length 0", 32, 0, NULL, "record", "CAE01", NULL, 0},
        {"output too long", 32, 8161, NULL, "record", "CAE01", NULL, 0},
        {"unknown digest", 32, 32, "MD5", "record", "CAE01", NULL, 0},
        {"lifetime over the policy", 32, 32, NULL, "record", "CAE01", &life, 0},
        {"lifetime 0", 32, 32, NULL, "record", "CAE01", &zero, 0},
        {"key given as a string", 32, 32, NULL, "record", "CAE01", NULL, 1},
    };
    char keystr[161];

    memset(longid, 'x', sizeof(longid) - 1);
    for (size_t i = 0; i < 32; i++)
        snprintf(keystr + 2 * i, 3, "%02x", key[i]);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        OSSL_PARAM p[8], *q = p;
        char what[96];

        if (cases[i].key_as_string)
            *q++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_KEY, keystr, 0);
        else
            *q++ =
                OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)key, cases[i].keylen);
        if (cases[i].digest != NULL)
            *q++ =
                OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)cases[i].digest, 0);
        if (cases[i].purpose != NULL)
            *q++ = OSSL_PARAM_construct_utf8_string("purpose", (char *)cases[i].purpose, 0);
        *q++ = OSSL_PARAM_construct_utf8_string("originator", (char *)cases[i].originator, 0);
        *q++ = OSSL_PARAM_construct_utf8_string("receiver", (char *)"CSE02", 0);
        if (cases[i].lifetime != NULL)
            *q++ = OSSL_PARAM_construct_uint64("lifetime", cases[i].lifetime);
        *q = OSSL_PARAM_construct_end();
        pathf(what, sizeof(what), "M2M-SESSION-KDF %s", cases[i].what);
        collect(what, !derive(ctx, "M2M-SESSION-KDF", p, cases[i].outlen));
    }
    OPENSSL_cleanse(keystr, sizeof(keystr));
}

static void onem2m_oscore_errors(OSSL_LIB_CTX *ctx, const unsigned char *key)
{
    static char longid[5000];
    int32_t alg = 10;
    struct {
        const char *what, *kdf, *derivation, *type;
        size_t keylen, outlen, idlen;
        int alg_wrong;
    } cases[] = {
        {"unknown derivation", "ONEM2M-KDF", "kx", NULL, 32, 32, 0, 0},
        {"no derivation", "ONEM2M-KDF", NULL, NULL, 32, 32, 0, 0},
        {"missing maf-id", "ONEM2M-KDF", "km", NULL, 32, 32, 0, 0},
        {"key too short", "ONEM2M-KDF", "kpsa", NULL, 12, 32, 0, 0},
        {"output 33 bytes", "ONEM2M-KDF", "e2e-master", NULL, 32, 33, 0, 0},
        {"no type", "OSCORE-KDF", NULL, NULL, 16, 16, 1, 0},
        {"bad type", "OSCORE-KDF", NULL, "keys", 16, 16, 1, 0},
        {"id with the IV", "OSCORE-KDF", NULL, "iv", 16, 13, 1, 0},
        {"id too long", "OSCORE-KDF", NULL, "key", 16, 16, sizeof(longid), 0},
        {"key too short", "OSCORE-KDF", NULL, "key", 10, 16, 1, 0},
        {"alg not an integer", "OSCORE-KDF", NULL, "key", 16, 16, 1, 1},
    };

    memset(longid, 'i', sizeof(longid));
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        OSSL_PARAM p[8], *q = p;
        char what[96];

        *q++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)key, cases[i].keylen);
        if (cases[i].derivation != NULL)
            *q++ = OSSL_PARAM_construct_utf8_string("derivation", (char *)cases[i].derivation, 0);
        if (cases[i].type != NULL)
            *q++ = OSSL_PARAM_construct_utf8_string("type", (char *)cases[i].type, 0);
        if (cases[i].idlen > 0)
            *q++ = OSSL_PARAM_construct_octet_string("id", longid, cases[i].idlen);
        if (cases[i].alg_wrong)
            *q++ = OSSL_PARAM_construct_utf8_string("alg", (char *)"ten", 0);
        else
            *q++ = OSSL_PARAM_construct_int32("alg", &alg);
        *q = OSSL_PARAM_construct_end();
        pathf(what, sizeof(what), "%s %s", cases[i].kdf, cases[i].what);
        collect(what, !derive(ctx, cases[i].kdf, p, cases[i].outlen));
    }
}

/*
 * The record cipher errors reachable through EVP. (A key or static IV of
 * the wrong length cannot be: EVP passes the cipher's own lengths.)
 */
static void cipher_errors(OSSL_LIB_CTX *ctx, const unsigned char *key, unsigned seed)
{
    for (size_t a = 0; a < HT_NALGS; a++) {
        EVP_CIPHER *c = EVP_CIPHER_fetch(ctx, ht_algs[a].m2m, NULL);
        EVP_CIPHER_CTX *x, *y, *z;
        unsigned char k[32], pt[16] = {0}, ct0[16], tag0[HT_TAGLEN], ctl[16], tagl[HT_TAGLEN];
        unsigned char ct[16], tag[HT_TAGLEN], out[32];
        uint64_t seq = 0, one = 1;
        OSSL_PARAM p[3];
        char what[96];
        int n = 0, ok = c != NULL;

        /* the recognisable bytes, made unique per cipher and round: a key is used once */
        memcpy(k, key, 32);
        k[31] = (unsigned char)(seed + a);
        x = ok ? ht_rec_ctx(c, 1, k, key, 0) : NULL;
        y = ok ? ht_rec_ctx(c, 0, k, key, 0) : NULL;
        /* 300 records: the first and the last kept (the last moves the replay window) */
        ok = x != NULL && y != NULL;
        for (int r = 0; ok && r < 300; r++) {
            ok = ht_rec_seal(x, NULL, 0, pt, sizeof(pt), ct, tag, &seq);
            if (r == 0) {
                memcpy(ct0, ct, sizeof(ct));
                memcpy(tag0, tag, sizeof(tag));
            }
        }
        memcpy(ctl, ct, sizeof(ct));
        memcpy(tagl, tag, sizeof(tag));
        CHECK(ok, "%s: records for the error paths", ht_algs[a].m2m);
        if (!ok) {
            ERR_clear_error();
            EVP_CIPHER_CTX_free(x);
            EVP_CIPHER_CTX_free(y);
            EVP_CIPHER_free(c);
            continue;
        }
        z = EVP_CIPHER_CTX_new();
        pathf(what, sizeof(what), "%s key used twice", ht_algs[a].m2m);
        collect(what, z == NULL || !EVP_EncryptInit_ex2(z, c, k, key, NULL));
        EVP_CIPHER_CTX_free(z);
        z = EVP_CIPHER_CTX_new();
        pathf(what, sizeof(what), "%s copy refused", ht_algs[a].m2m);
        collect(what, z == NULL || !EVP_CIPHER_CTX_copy(z, x));
        EVP_CIPHER_CTX_free(z);
        p[0] = OSSL_PARAM_construct_uint64(M2MSEC_REC_PARAM_SEQ, &seq);
        p[1] = OSSL_PARAM_construct_end();
        pathf(what, sizeof(what), "%s seq set when encrypting", ht_algs[a].m2m);
        collect(what, !EVP_CIPHER_CTX_set_params(x, p));
        p[0] = OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, (void *)key, 15);
        pathf(what, sizeof(what), "%s tag of the wrong length", ht_algs[a].m2m);
        collect(what, !EVP_CIPHER_CTX_set_params(y, p));
        pathf(what, sizeof(what), "%s data before seq", ht_algs[a].m2m);
        collect(what, !EVP_DecryptUpdate(y, out, &n, ct0, sizeof(ct0)));
        pathf(what, sizeof(what), "%s forged record (the key's bytes as its tag)", ht_algs[a].m2m);
        collect(what, !ht_rec_open(y, 0, NULL, 0, ct0, sizeof(ct0), key, out));
        CHECK(ht_rec_open(y, 0, NULL, 0, ct0, sizeof(ct0), tag0, out) &&
                  ht_rec_open(y, 299, NULL, 0, ctl, sizeof(ctl), tagl, out),
              "%s: genuine records open", ht_algs[a].m2m);
        pathf(what, sizeof(what), "%s replayed record", ht_algs[a].m2m);
        collect(what, !ht_rec_open(y, 0, NULL, 0, ct0, sizeof(ct0), tag0, out));
        pathf(what, sizeof(what), "%s record below the replay window", ht_algs[a].m2m);
        collect(what, !ht_rec_open(y, 1, NULL, 0, ct0, sizeof(ct0), tag0, out));
        EVP_CIPHER_CTX_free(x);
        EVP_CIPHER_CTX_free(y);
        /* a key past its record limit */
        k[0] ^= 0x5a;
        p[0] = OSSL_PARAM_construct_uint64(M2MSEC_REC_PARAM_MAX_RECORDS, &one);
        p[1] = OSSL_PARAM_construct_end();
        x = EVP_CIPHER_CTX_new();
        ok = x != NULL && EVP_EncryptInit_ex2(x, c, k, key, p) &&
             ht_rec_seal(x, NULL, 0, pt, sizeof(pt), ct, tag, &seq);
        CHECK(ok, "%s: one record under a limit of one", ht_algs[a].m2m);
        pathf(what, sizeof(what), "%s key expired", ht_algs[a].m2m);
        collect(what, !ht_rec_seal(x, NULL, 0, pt, sizeof(pt), ct, tag, &seq));
        EVP_CIPHER_CTX_free(x);
        EVP_CIPHER_free(c);
        OPENSSL_cleanse(k, sizeof(k));
    }
}

/*
 * The session policy @p sess (require_integrity with the status record
 * @p status under the device key in @p keyfile) and the configuration
 * @p cnf that loads m2msec.so from the directory @p mod with that policy.
 */
static void write_gate_files(const char *sess, const char *status, const char *keyfile,
                             const char *cnf, const char *mod)
{
    char body[3 * PATH_MAX + 256];

    pathf(body, sizeof(body),
          "[session]\nrequire_integrity = yes\nintegrity_status = %s\ndevice_key_file = %s\n"
          "manifest_state = %s.state\n",
          status, keyfile, status);
    CHECK(ht_write_str(sess, body), "policy");
    pathf(body, sizeof(body), "%s.state", status);
    CHECK(ht_write_str(body, "m2msec-manifest-state 1\nversion 1\n"), "manifest state");
    pathf(body, sizeof(body),
          "openssl_conf = openssl_init\n[openssl_init]\nproviders = provider_sect\n"
          "[provider_sect]\nm2msec = m2msec_sect\n[m2msec_sect]\nmodule = %s/m2msec.so\n"
          "policy = %s\n",
          mod, sess);
    CHECK(ht_write_str(cnf, body), "config");
    /* the provider checks its section in the file OpenSSL reads by default */
    setenv("OPENSSL_CONF", cnf, 1);
}

static void test_error_messages(void)
{
    OSSL_LIB_CTX *ctx = OSSL_LIB_CTX_new();
    OSSL_PROVIDER *d = NULL, *p = ctx != NULL ? m2msec_provider_load(ctx, mods, &d) : NULL;
    char path[PATH_MAX], *text = NULL;
    long len;

    memset(a5, 0xA5, sizeof(a5));
    for (size_t i = 0; i < sizeof(dk); i++)
        dk[i] = (unsigned char)(0x3b + 0x61 * i);
    errs = BIO_new(BIO_s_mem());
    CHECK(p != NULL && errs != NULL, "provider and memory BIO");
    if (p == NULL || errs == NULL)
        goto end;
    ERR_clear_error();
    session_errors(ctx, a5);
    session_errors(ctx, dk);
    onem2m_oscore_errors(ctx, a5);
    onem2m_oscore_errors(ctx, dk);
    cipher_errors(ctx, a5, 0);
    cipher_errors(ctx, dk, 100);
    /* libm2msec */
    {
        m2msec_session_key_spec spec = {0};
        unsigned char out[32];
        m2msec_session_config cfg = {0};
        m2msec_store st;

        spec.key = a5;
        spec.key_len = 8;
        spec.purpose = "record";
        spec.originator = "CAE01";
        spec.receiver = "CSE02";
        collect("m2msec_session_key_derive short key",
                !m2msec_session_key_derive(ctx, &spec, out, sizeof(out)));
        spec.key = dk;
        spec.key_len = 32;
        spec.aead = "no such cipher\xff";
        collect("m2msec_session_key_derive bad aead",
                !m2msec_session_key_derive(ctx, &spec, out, sizeof(out)));
        pathf(path, sizeof(path), "%s/no/such/dir/state", tmp);
        t_store_file(&st, path);
        cfg.role = M2MSEC_SESSION_SENDER;
        cfg.libctx = ctx;
        cfg.key = a5;
        cfg.key_len = 10;
        cfg.originator = "CAE01";
        cfg.receiver = "CSE02";
        cfg.store = &st;
        collect("session with a short key", m2msec_session_new(&cfg) == NULL);
        cfg.key = dk;
        cfg.key_len = 32;
        collect("session whose store cannot be written", m2msec_session_new(&cfg) == NULL);
        collect("status write with a 10-byte key",
                !m2msec_integrity_status_write(ctx, path, a5, 10, 1, 1, 1));
        collect("status write with a 65-byte key",
                !m2msec_integrity_status_write(ctx, path, dk, 65, 1, 1, 1));
        collect("status write into a missing directory",
                !m2msec_integrity_status_write(ctx, path, dk, 32, 1, 1, 1));
    }
    /* the provider's device key file: malformed (the key bytes, then junk) and too long */
    for (int variant = 0; variant < 3; variant++) {
        char keyfile[PATH_MAX], sess[PATH_MAX], cnf[PATH_MAX], body[512], mod[PATH_MAX];
        char status[PATH_MAX];
        OSSL_LIB_CTX *c2 = OSSL_LIB_CTX_new();
        size_t o = 0;

        pathf(keyfile, sizeof(keyfile), "%s/bad%d.key", tmp, variant);
        pathf(sess, sizeof(sess), "%s/bad%d-policy.cnf", tmp, variant);
        pathf(cnf, sizeof(cnf), "%s/bad%d.cnf", tmp, variant);
        for (size_t i = 0; i < (variant == 1 ? 70u : 32u); i++)
            o += (size_t)snprintf(body + o, sizeof(body) - o, "%02x", (variant ? dk : a5)[i % 80]);
        if (variant == 0)
            pathf(body + o, sizeof(body) - o, " zz\n");
        if (variant == 2)
            pathf(body + o, sizeof(body) - o, "%s", "0\n"); /* an odd number of digits */
        CHECK(realpath(mods, mod) != NULL && ht_write_str(keyfile, body), "bad device key file");
        pathf(status, sizeof(status), "%s/none", tmp);
        write_gate_files(sess, status, keyfile, cnf, mod);
        if (c2 != NULL && OSSL_LIB_CTX_load_config(c2, cnf)) {
            OSSL_PROVIDER *x = OSSL_PROVIDER_load(c2, "m2msec");

            collect(variant == 0   ? "device key file with junk"
                    : variant == 1 ? "device key file too long"
                                   : "device key file with an odd number of digits",
                    x == NULL);
            OSSL_PROVIDER_unload(x);
        } else {
            CHECK(0, "config %s loads", cnf);
        }
        ERR_clear_error();
        OSSL_LIB_CTX_free(c2);
    }
    /* a forged status record under a device key made of recognisable bytes */
    {
        char keyfile[PATH_MAX], sess[PATH_MAX], cnf[PATH_MAX], status[PATH_MAX], body[768];
        char mod[PATH_MAX];
        OSSL_LIB_CTX *c2 = OSSL_LIB_CTX_new();
        OSSL_PROVIDER *x = NULL;
        size_t o = 0;
        OSSL_PARAM prm[5];

        pathf(keyfile, sizeof(keyfile), "%s/gate.key", tmp);
        pathf(sess, sizeof(sess), "%s/gate-policy.cnf", tmp);
        pathf(cnf, sizeof(cnf), "%s/gate.cnf", tmp);
        pathf(status, sizeof(status), "%s/gate.status", tmp);
        for (size_t i = 0; i < 32; i++)
            o += (size_t)snprintf(body + o, sizeof(body) - o, "%02X", a5[i]);
        CHECK(realpath(mods, mod) != NULL && ht_write_str(keyfile, body) &&
                  m2msec_integrity_status_write(refctx, status, dk, 32, 1, 1, 1),
              "a status record under another key");
        write_gate_files(sess, status, keyfile, cnf, mod);
        if (c2 != NULL && OSSL_LIB_CTX_load_config(c2, cnf))
            x = OSSL_PROVIDER_load(c2, "m2msec");
        CHECK(x != NULL, "m2msec loads with require_integrity");
        prm[0] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, dk, 32);
        prm[1] = OSSL_PARAM_construct_utf8_string("purpose", (char *)"record", 0);
        prm[2] = OSSL_PARAM_construct_utf8_string("originator", (char *)"CAE01", 0);
        prm[3] = OSSL_PARAM_construct_utf8_string("receiver", (char *)"CSE02", 0);
        prm[4] = OSSL_PARAM_construct_end();
        collect("integrity gate with a forged status record",
                x != NULL && !derive(c2, "M2M-SESSION-KDF", prm, 32));
        OSSL_PROVIDER_unload(x);
        OSSL_LIB_CTX_free(c2);
    }
    len = BIO_get_mem_data(errs, &text);
    CHECK(len > 0 && nerrors > 0, "error messages collected");
    if (len > 0) {
        check_text("error queue", text, (size_t)len);
        printf("\n  %lu error paths, %ld bytes of error messages: no key bytes, no key hex\n",
               nerrors, len);
        if (getenv("M2M_SECRETS_VERBOSE") != NULL)
            fwrite(text, 1, (size_t)len, stdout);
    }
end:
    BIO_free(errs);
    errs = NULL;
    ERR_clear_error();
    OSSL_PROVIDER_unload(p);
    OSSL_PROVIDER_unload(d);
    OSSL_LIB_CTX_free(ctx);
}

/* ======================================================================== */
/* 3. Logs and command-line output                                          */
/* ======================================================================== */

#define URL_PASSWORD "A5a5S3cretPassw0rd"

/* apply_policy with a repository URL carrying a password: log, report, errors. */
static void test_apply_policy_log(void)
{
    char root[PATH_MAX], qdir[PATH_MAX], logp[PATH_MAX], pol[PATH_MAX], text[2 * PATH_MAX];
    char f[PATH_MAX], *log = NULL;
    OSSL_LIB_CTX *ctx = OSSL_LIB_CTX_new();
    OSSL_PROVIDER *d = ctx != NULL ? OSSL_PROVIDER_load(ctx, "default") : NULL;
    m2msec_manifest *m = NULL;
    m2msec_policy *policy = NULL;
    m2msec_report *r = NULL;
    m2msec_tree_verify_options opt = {0};
    BIO *b = BIO_new(BIO_s_mem());
    char *etext = NULL;
    long elen;

    pathf(root, sizeof(root), "%s/tree", tmp);
    pathf(qdir, sizeof(qdir), "%s/quarantine", tmp);
    pathf(logp, sizeof(logp), "%s/actions.log", tmp);
    pathf(pol, sizeof(pol), "%s/url-policy.cnf", tmp);
    CHECK(mkdir(root, 0755) == 0, "tree");
    pathf(f, sizeof(f), "%s/app.bin", root);
    CHECK(ht_write_str(f, "good\n"), "file");
    m = m2msec_manifest_from_tree(ctx, root, "SHA256", 1, 4000000000u, 1, 1);
    CHECK(m != NULL && ht_write_str(f, "evil\n"), "manifest, then the file modified");
    pathf(text, sizeof(text),
          "[integrity]\ndefault_action = remediate\nquarantine_dir = %s\nlog = %s\n"
          "repository = https://device:" URL_PASSWORD "@127.0.0.1:1/repo\n",
          qdir, logp);
    CHECK(ht_write_str(pol, text), "policy with a password in the repository URL");
    policy = m2msec_policy_load(pol);
    CHECK(policy != NULL, "policy loads");
    opt.jobs = 1;
    r = m != NULL ? m2msec_tree_verify(ctx, m, root, &opt) : NULL;
    CHECK(r != NULL && m2msec_report_failures(r) == 1, "one modified file");
    if (policy != NULL && r != NULL && b != NULL) {
        const m2msec_file_result *res;

        CHECK(!m2msec_policy_apply(ctx, policy, m, root, r),
              "remediation from an unreachable repository fails");
        res = m2msec_report_at(r, 0);
        CHECK(res != NULL && !res->action_ok && res->action_detail != NULL &&
                  strstr(res->action_detail, URL_PASSWORD) == NULL,
              "the report's detail does not contain the password (%s)",
              res != NULL ? HT_S(res->action_detail) : "");
        CHECK(m2msec_report_print(r, stdout, M2MSEC_REPORT_JSON | M2MSEC_REPORT_FAILURES_ONLY),
              "the report prints");
        ERR_print_errors(b);
        elen = BIO_get_mem_data(b, &etext);
        CHECK(elen >= 0 && memmem(etext, (size_t)elen, URL_PASSWORD, strlen(URL_PASSWORD)) == NULL,
              "the error queue does not contain the password");
        log = read_all(logp, NULL);
        CHECK(log != NULL && strstr(log, "remediate-failed") != NULL &&
                  strstr(log, URL_PASSWORD) == NULL,
              "the action log records the failure without the password:\n%s", HT_S(log));
        printf("\n  apply_policy: log line: %s", HT_S(log));
    }
    free(log);
    BIO_free(b);
    m2msec_report_free(r);
    m2msec_policy_free(policy);
    m2msec_manifest_free(m);
    OSSL_PROVIDER_unload(d);
    OSSL_LIB_CTX_free(ctx);
    ERR_clear_error();
}

/* Run a shell command line, output (stdout and stderr) into a malloc'd string. */
static char *run_cmd(const char *cmd, int *status)
{
    FILE *f = popen(cmd, "r");
    char *out = calloc(1, 1), buf[4096];
    size_t len = 0, n;

    if (f == NULL || out == NULL) {
        if (f != NULL)
            pclose(f);
        free(out);
        return NULL;
    }
    while ((n = fread(buf, 1, sizeof(buf) - 1, f)) > 0) {
        buf[n] = '\0';
        ht_append(&out, &len, buf);
    }
    *status = pclose(f);
    return out;
}

static void test_cli_output(void)
{
    const char *build = getenv("M2M_BUILD_DIR");
    char tool[PATH_MAX], cmd[8 * PATH_MAX], key[PATH_MAX], bad[PATH_MAX], big[PATH_MAX];
    char status[PATH_MAX], cnf[PATH_MAX], mod[PATH_MAX], root[PATH_MAX], man[PATH_MAX];
    char priv[PATH_MAX], pub[PATH_MAX], hexa5[200], hexdk[200], *out;
    int st = 0, ran = 0;

    if (build == NULL || realpath(mods, mod) == NULL) {
        printf("\n  M2M_BUILD_DIR not set: CLI output not checked\n");
        return;
    }
    pathf(tool, sizeof(tool), "%s/tools/m2msec", build);
    for (size_t i = 0; i < 32; i++) {
        snprintf(hexa5 + 2 * i, 3, "%02x", a5[i]);
        snprintf(hexdk + 2 * i, 3, "%02X", dk[i]);
    }
    pathf(key, sizeof(key), "%s/cli.key", tmp);
    pathf(bad, sizeof(bad), "%s/cli-bad.key", tmp);
    pathf(big, sizeof(big), "%s/cli-big.key", tmp);
    pathf(status, sizeof(status), "%s/cli.status", tmp);
    pathf(cnf, sizeof(cnf), "%s/cli.cnf", tmp);
    pathf(root, sizeof(root), "%s/cli-tree", tmp);
    pathf(man, sizeof(man), "%s/cli.manifest", tmp);
    pathf(priv, sizeof(priv), "%s/cli-ed25519.pem", tmp);
    pathf(pub, sizeof(pub), "%s/cli-ed25519.pub.pem", tmp);
    {
        char body[512];

        pathf(body, sizeof(body), "%s\n", hexdk);
        CHECK(ht_write_str(key, body), "device key file");
        pathf(body, sizeof(body), "%s zz\n", hexa5);
        CHECK(ht_write_str(bad, body), "malformed device key file");
        pathf(body, sizeof(body), "%s%s%s\n", hexa5, hexa5, hexa5);
        CHECK(ht_write_str(big, body), "too long device key file");
        CHECK(m2msec_integrity_status_write(refctx, status, a5, 32, 1, 1, 1),
              "a status record under another key");
        pathf(body, sizeof(body),
              "openssl_conf = openssl_init\n[openssl_init]\nproviders = provider_sect\n"
              "[provider_sect]\ndefault = default_sect\nm2msec = m2msec_sect\n"
              "[default_sect]\nactivate = 1\n[m2msec_sect]\nmodule = %s/m2msec.so\n"
              "activate = 1\n",
              mod);
        CHECK(ht_write_str(cnf, body), "config for the tool");
    }
    if (access(tool, X_OK) == 0) {
        const char *keys[3] = {key, bad, big};

        for (int i = 0; i < 3; i++) {
            pathf(cmd, sizeof(cmd),
                  "'%s' status --conf '%s' --status-file '%s' --device-key-file '%s' 2>&1", tool,
                  cnf, status, keys[i]);
            out = run_cmd(cmd, &st);
            CHECK(out != NULL && st != 0, "m2msec status refuses (%s)", keys[i]);
            if (out != NULL)
                check_text("m2msec status output", out, strlen(out));
            free(out);
            ran++;
        }
        /* verify: a tree, a signed manifest, then a modified file; the status record written */
        {
            EVP_PKEY *k = EVP_PKEY_Q_keygen(refctx, NULL, "ED25519");
            FILE *fp = fopen(priv, "w"), *fq = fopen(pub, "w");
            m2msec_manifest *m;
            char f[PATH_MAX];

            CHECK(k != NULL && fp != NULL && fq != NULL &&
                      PEM_write_PrivateKey(fp, k, NULL, NULL, 0, NULL, NULL) &&
                      PEM_write_PUBKEY(fq, k),
                  "signing key");
            if (fp != NULL)
                fclose(fp);
            if (fq != NULL)
                fclose(fq);
            EVP_PKEY_free(k);
            CHECK(mkdir(root, 0755) == 0, "tree");
            pathf(f, sizeof(f), "%s/app", root);
            CHECK(ht_write_str(f, "app\n"), "file");
            m = m2msec_manifest_from_tree(refctx, root, NULL, 1, 4000000000u, 0, 1);
            CHECK(m != NULL && m2msec_manifest_write(m, man) &&
                      m2msec_manifest_sign(refctx, man, priv, NULL),
                  "signed manifest");
            m2msec_manifest_free(m);
            ERR_clear_error();
            for (int modified = 0; modified < 2; modified++) {
                if (modified)
                    CHECK(ht_write_str(f, "evil\n"), "file modified");
                pathf(cmd, sizeof(cmd),
                      "OPENSSL_CONF='%s' '%s' verify --manifest '%s' --pubkey '%s' --root '%s' "
                      "--status-file '%s' --device-key-file '%s' 2>&1",
                      cnf, tool, man, pub, root, status, key);
                out = run_cmd(cmd, &st);
                CHECK(out != NULL && (modified ? st != 0 : st == 0),
                      "m2msec verify (%s) exit status %d:\n%s", modified ? "modified" : "intact",
                      st, HT_S(out));
                if (out != NULL)
                    check_text("m2msec verify output", out, strlen(out));
                free(out);
                ran++;
            }
        }
    } else {
        printf("\n  %s not built: the tool's output not checked\n", tool);
    }
    /* the stock openssl command with the key on its command line, and an error */
    pathf(cmd, sizeof(cmd),
          "openssl kdf -keylen 32 -provider-path '%s' -provider m2msec -provider default "
          "-kdfopt hexkey:%.30s -kdfopt purpose:record -kdfopt originator:CAE01 "
          "-kdfopt receiver:CSE02 M2M-SESSION-KDF 2>&1",
          mod, hexa5);
    out = run_cmd(cmd, &st);
    if (out != NULL && strstr(out, "not found") == NULL) {
        CHECK(st != 0, "openssl kdf with a 15-byte key fails");
        check_text("openssl kdf error output", out, strlen(out));
        ran++;
    }
    free(out);
    printf("\n  %d command lines run: no key bytes or hex in their output\n", ran);
}

int main(int argc, char **argv)
{
    static const tc_test tests[] = {
        {"the scanner finds a secret in freed memory", test_scanner_works},
        {"no secret in memory freed by m2msec", test_freed_memory},
        {"no key in error messages", test_error_messages},
        {"no password in the apply_policy log", test_apply_policy_log},
        {"no key in the command-line output", test_cli_output},
    };
    int rc;

    (void)argc;
    if (!CRYPTO_set_mem_functions(s_malloc, s_realloc, s_free)) {
        fprintf(stderr, "%s: CRYPTO_set_mem_functions refused\n", argv[0]);
        return 2;
    }
    mods = getenv("M2M_MODULES");
    if (mods == NULL) {
        fprintf(stderr, "M2M_MODULES is not set (directory of the built m2msec.so)\n");
        return 2;
    }
    ht_bytes(svc_key, sizeof(svc_key), 0x5ec1);
    ht_bytes(salt, sizeof(salt), 0x5ec2);
    ht_bytes(oscore_secret, sizeof(oscore_secret), 0x5ec3);
    ht_bytes(rec_iv, sizeof(rec_iv), 0x5ec4);
    ht_bytes(dev_key, sizeof(dev_key), 0x5ec5);
    for (size_t a = 0; a < HT_NALGS; a++)
        ht_bytes(rec_keys[a], sizeof(rec_keys[a]), 0x5ec6 + a);
    refctx = OSSL_LIB_CTX_new();
    ref_default = refctx != NULL ? OSSL_PROVIDER_load(refctx, "default") : NULL;
    if (ref_default == NULL || !ht_tmpdir(tmp, sizeof(tmp), "secrets")) {
        ERR_print_errors_fp(stderr);
        return 2;
    }
    setup_needles();
    rc = tc_run(argv[0], "secrets", NULL, NULL, tests, sizeof(tests) / sizeof(tests[0]));
    OSSL_PROVIDER_unload(ref_default);
    OSSL_LIB_CTX_free(refctx);
    ht_rmtree(tmp);
    return rc;
}
