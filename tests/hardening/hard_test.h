/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Shared helpers of the hardening tests (tests/hardening/test_*.c).
 *
 * Everything is static (inline) so that each program takes what it uses.
 * CHECK(cond, fmt, ...) with its count of checks (tc_checks), tc_run() and
 * the file helpers (pathf, write_file, read_all, file_exists) come from
 * tests/common (test_run.h, test_files.h). Here:
 *
 *  - temporary directories: create, list recursively (to compare a
 *    directory before and after an operation), remove; small file helpers.
 *    These use libc only (never OPENSSL_malloc), so they are invisible to
 *    the counting allocators of the tests;
 *  - independent references built from OpenSSL's own algorithms in a
 *    library context that has the default provider only: HKDF for
 *    M2M-SESSION-KDF (docs/PROTOCOL.md 2.2), HMAC-SHA-256, and the record
 *    format of the M2M-REC ciphers (docs/PROTOCOL.md 5: nonce = static IV
 *    XOR u64be(seq), AAD = u64be(epoch) || u64be(seq) || application AAD).
 */
#ifndef M2MSEC_TESTS_HARDENING_HARD_TEST_H
#define M2MSEC_TESTS_HARDENING_HARD_TEST_H

#if !defined(_XOPEN_SOURCE) && !defined(_GNU_SOURCE)
#error "define _XOPEN_SOURCE 700 (nftw, mkdtemp) or _GNU_SOURCE before the first include"
#endif

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CUnit/Basic.h>
#include <CUnit/CUnit.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/provider.h>

#include "m2msec/errors.h"
#include "m2msec/m2msec.h"
#include "m2msec/record.h"
#include "test_files.h"
#include "test_run.h"

/* ---- deterministic bytes (splitmix64) ---- */

static inline uint64_t ht_splitmix(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* @p n bytes from the seed @p seed: distinct, recognisable test secrets. */
static inline void ht_bytes(unsigned char *p, size_t n, uint64_t seed)
{
    uint64_t x = seed, v = 0;

    for (size_t i = 0; i < n; i++) {
        if (i % 8 == 0)
            v = ht_splitmix(&x);
        p[i] = (unsigned char)(v >> (8 * (i % 8)));
    }
}

/* ---- files and directories (libc only) ---- */

/* A string for a "%s" that may be NULL. */
#define HT_S(x) ((x) != NULL ? (x) : "(null)")

/* A new directory under $TMPDIR (or /tmp) into @p buf; 1 on success. */
static inline int ht_tmpdir(char *buf, size_t len, const char *tag)
{
    const char *t = getenv("TMPDIR");

    if (t == NULL || *t == '\0')
        t = "/tmp";
    if (snprintf(buf, len, "%s/m2msec-%s-XXXXXX", t, tag) >= (int)len)
        return 0;
    return mkdtemp(buf) != NULL;
}

static inline int ht_rm_one(const char *path, const struct stat *st, int type, struct FTW *f)
{
    (void)st;
    (void)f;
    if (type == FTW_D || type == FTW_DP)
        chmod(path, 0700);
    else
        chmod(path, 0600);
    return remove(path) != 0 && errno != ENOENT;
}

/* rm -rf @p path (also entries without permissions). */
static inline void ht_rmtree(const char *path)
{
    (void)nftw(path, ht_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* A text file of mode 0644; 1 on success. */
static inline int ht_write_str(const char *path, const char *s)
{
    return write_file(path, s, strlen(s), 0644);
}

/* 1 if the file at @p path has exactly the bytes @p want. */
static inline int ht_file_is(const char *path, const void *want, size_t wlen)
{
    size_t n = 0;
    char *b = read_all(path, &n);
    int same = b != NULL && n == wlen && memcmp(b, want, n) == 0;

    free(b);
    return same;
}

/* Appends to a growing malloc'd string; on failure the string stays as it was. */
static inline void ht_append(char **s, size_t *len, const char *add)
{
    size_t a = strlen(add);
    char *n = realloc(*s, *len + a + 1);

    if (n == NULL)
        return;
    memcpy(n + *len, add, a + 1);
    *s = n;
    *len += a;
}

static inline int ht_cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static inline void ht_list_into(const char *base, const char *rel, char **out, size_t *olen)
{
    char path[4096], line[4096 + 64], **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    DIR *d;

    pathf(path, sizeof(path), "%s%s%s", base, rel[0] ? "/" : "", rel);
    d = opendir(path);
    if (d == NULL)
        return;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (n == cap) {
            char **nn = realloc(names, (cap = cap ? cap * 2 : 16) * sizeof(*names));

            if (nn == NULL)
                break;
            names = nn;
        }
        if ((names[n] = strdup(de->d_name)) != NULL)
            n++;
    }
    closedir(d);
    if (n > 1)
        qsort(names, n, sizeof(*names), ht_cmp_names);
    for (size_t i = 0; i < n; i++) {
        char child[4096];
        struct stat st;

        pathf(child, sizeof(child), "%s%s%s", rel, rel[0] ? "/" : "", names[i]);
        pathf(path, sizeof(path), "%s/%s", base, child);
        if (lstat(path, &st) != 0)
            st.st_mode = 0;
        pathf(line, sizeof(line), "%s %04o %lld\n", child, (unsigned)(st.st_mode & 07777),
              S_ISDIR(st.st_mode) ? -1LL : (long long)st.st_size);
        ht_append(out, olen, line);
        if (S_ISDIR(st.st_mode))
            ht_list_into(base, child, out, olen);
        free(names[i]);
    }
    free(names);
}

/*
 * Every entry below @p dir, one per line: "relative/path mode size" (size
 * -1 for directories), sorted. malloc'd; free() it.
 */
static inline char *ht_list(const char *dir)
{
    char *s = calloc(1, 1);
    size_t len = 0;

    if (s != NULL)
        ht_list_into(dir, "", &s, &len);
    return s;
}

/* 1 if a listing from ht_list() contains @p needle. */
static inline int ht_list_has(const char *list, const char *needle)
{
    return list != NULL && strstr(list, needle) != NULL;
}

/* ---- references from OpenSSL's own algorithms (default provider only) ---- */

typedef struct {
    const char *m2m; /* M2M-REC cipher */
    const char *evp; /* OpenSSL's own AEAD */
    size_t keylen;
    int ccm;
} ht_alg;

static const ht_alg ht_algs[] = {
    {M2MSEC_REC_AES_128_GCM, "AES-128-GCM", 16, 0},
    {M2MSEC_REC_AES_256_GCM, "AES-256-GCM", 32, 0},
    {M2MSEC_REC_CHACHA20_POLY1305, "ChaCha20-Poly1305", 32, 0},
    {M2MSEC_REC_AES_128_CCM, "AES-128-CCM", 16, 1},
};
#define HT_NALGS (sizeof(ht_algs) / sizeof(ht_algs[0]))
#define HT_IVLEN 12
#define HT_TAGLEN 16

static inline unsigned char *ht_put_u(unsigned char *p, uint64_t v, int bytes)
{
    for (int i = bytes - 1; i >= 0; i--)
        *p++ = (unsigned char)(v >> (8 * i));
    return p;
}

static inline unsigned char *ht_put_lp(unsigned char *p, const void *s, size_t n)
{
    p = ht_put_u(p, n, 2);
    if (n > 0)
        memcpy(p, s, n);
    return p + n;
}

/*
 * M2M-SESSION-KDF (docs/PROTOCOL.md 2.2) with SHA2-256, no salt, no nonces,
 * from stock HKDF in @p ref. Identifiers must already be identifier bytes
 * (ASCII, or NFKC-normalised by the caller). 1 on success.
 */
static inline int ht_ref_session_kdf(OSSL_LIB_CTX *ref, const unsigned char *key, size_t keylen,
                                     const char *purpose, const char *originator,
                                     const char *receiver, uint64_t epoch, uint64_t not_before,
                                     uint64_t lifetime, const char *aead, unsigned char *out,
                                     size_t outlen)
{
    static const char label[] = "m2msec session key v1";
    unsigned char info[1024], *p = info;
    EVP_KDF *kdf;
    EVP_KDF_CTX *kctx = NULL;
    OSSL_PARAM params[5];
    int ok = 0;

    if (strlen(purpose) + strlen(originator) + strlen(receiver) + strlen(aead) + 80 > sizeof(info))
        return 0;
    p = ht_put_lp(p, label, sizeof(label) - 1);
    p = ht_put_lp(p, purpose, strlen(purpose));
    p = ht_put_lp(p, originator, strlen(originator));
    p = ht_put_lp(p, receiver, strlen(receiver));
    p = ht_put_u(p, epoch, 8);
    p = ht_put_u(p, not_before, 8);
    p = ht_put_u(p, lifetime, 8);
    p = ht_put_lp(p, aead, strlen(aead));
    p = ht_put_u(p, outlen, 4);
    p = ht_put_lp(p, NULL, 0);
    p = ht_put_lp(p, NULL, 0);
    kdf = EVP_KDF_fetch(ref, "HKDF", NULL);
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA2-256", 0);
    params[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)key, keylen);
    params[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info, (size_t)(p - info));
    params[3] = OSSL_PARAM_construct_end();
    if (kdf != NULL && (kctx = EVP_KDF_CTX_new(kdf)) != NULL)
        ok = EVP_KDF_derive(kctx, out, outlen, params) > 0;
    EVP_KDF_CTX_free(kctx);
    EVP_KDF_free(kdf);
    OPENSSL_cleanse(info, sizeof(info));
    return ok;
}

/* HMAC-SHA-256(key, a || b || c) into out[32] with stock HMAC in @p ref. */
static inline int ht_ref_hmac(OSSL_LIB_CTX *ref, const void *key, size_t keylen, const void *a,
                              size_t alen, const void *b, size_t blen, const void *c, size_t clen,
                              unsigned char out[32])
{
    static const unsigned char empty[1];
    EVP_MAC *mac = EVP_MAC_fetch(ref, "HMAC", NULL);
    EVP_MAC_CTX *ctx = mac != NULL ? EVP_MAC_CTX_new(mac) : NULL;
    OSSL_PARAM p[2];
    size_t outl = 0;
    int ok;

    p[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA2-256", 0);
    p[1] = OSSL_PARAM_construct_end();
    ok = ctx != NULL && EVP_MAC_init(ctx, keylen > 0 ? key : empty, keylen, p) &&
         (alen == 0 || EVP_MAC_update(ctx, a, alen)) &&
         (blen == 0 || EVP_MAC_update(ctx, b, blen)) &&
         (clen == 0 || EVP_MAC_update(ctx, c, clen)) && EVP_MAC_final(ctx, out, &outl, 32) &&
         outl == 32;
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(mac);
    return ok;
}

/*
 * One M2M-REC record encrypted with OpenSSL's own AEAD (docs/PROTOCOL.md 5):
 * ct (len bytes) and tag (16 bytes). 1 on success.
 */
static inline int ht_ref_record(OSSL_LIB_CTX *ref, const ht_alg *alg, const unsigned char *key,
                                const unsigned char iv[HT_IVLEN], uint64_t epoch, uint64_t seq,
                                const unsigned char *aad, size_t aadlen, const unsigned char *pt,
                                size_t len, unsigned char *ct, unsigned char tag[HT_TAGLEN])
{
    unsigned char nonce[HT_IVLEN], prefix[16], all[16 + 256], sink[1];
    EVP_CIPHER *c = EVP_CIPHER_fetch(ref, alg->evp, NULL);
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    OSSL_PARAM p[3];
    size_t ivl = HT_IVLEN;
    int n = 0, ok = 0;

    memcpy(nonce, iv, HT_IVLEN);
    for (int i = 0; i < 8; i++)
        nonce[HT_IVLEN - 1 - i] ^= (unsigned char)(seq >> (8 * i));
    ht_put_u(prefix, epoch, 8);
    ht_put_u(prefix + 8, seq, 8);
    p[0] = OSSL_PARAM_construct_size_t(OSSL_CIPHER_PARAM_AEAD_IVLEN, &ivl);
    p[1] = OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, NULL, HT_TAGLEN);
    p[2] = OSSL_PARAM_construct_end();
    if (c == NULL || ctx == NULL || !EVP_EncryptInit_ex2(ctx, c, NULL, NULL, NULL))
        goto end;
    if (alg->ccm && !EVP_CIPHER_CTX_set_params(ctx, p))
        goto end;
    if (!EVP_EncryptInit_ex2(ctx, NULL, key, nonce, NULL))
        goto end;
    if (alg->ccm && !EVP_EncryptUpdate(ctx, NULL, &n, NULL, (int)len))
        goto end;
    /* CCM takes all AAD in one update: epoch || seq || application AAD together. */
    if (aadlen > sizeof(all) - sizeof(prefix))
        goto end;
    memcpy(all, prefix, sizeof(prefix));
    if (aadlen > 0)
        memcpy(all + sizeof(prefix), aad, aadlen);
    if (!EVP_EncryptUpdate(ctx, NULL, &n, all, (int)(sizeof(prefix) + aadlen)))
        goto end;
    if ((len > 0 || alg->ccm) &&
        !EVP_EncryptUpdate(ctx, len > 0 ? ct : sink, &n, len > 0 ? pt : (const unsigned char *)"",
                           (int)len))
        goto end;
    if (!EVP_EncryptFinal_ex(ctx, sink, &n))
        goto end;
    p[0] = OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, tag, HT_TAGLEN);
    p[1] = OSSL_PARAM_construct_end();
    ok = EVP_CIPHER_CTX_get_params(ctx, p);
end:
    EVP_CIPHER_CTX_free(ctx);
    EVP_CIPHER_free(c);
    OPENSSL_cleanse(nonce, sizeof(nonce));
    return ok;
}

/* ---- records through the M2M-REC ciphers (EVP) ---- */

/* A new encrypting or decrypting M2M-REC context with key, IV and epoch; NULL on failure. */
static inline EVP_CIPHER_CTX *ht_rec_ctx(EVP_CIPHER *cipher, int enc, const unsigned char *key,
                                         const unsigned char iv[HT_IVLEN], uint64_t epoch)
{
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    OSSL_PARAM p[2];

    p[0] = OSSL_PARAM_construct_uint64(M2MSEC_REC_PARAM_EPOCH, &epoch);
    p[1] = OSSL_PARAM_construct_end();
    if (ctx == NULL || !EVP_CipherInit_ex2(ctx, cipher, key, iv, enc, p)) {
        EVP_CIPHER_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

/* Encrypt one record (AAD, data, final, then seq and tag). 1 on success. */
static inline int ht_rec_seal(EVP_CIPHER_CTX *ctx, const unsigned char *aad, size_t aadlen,
                              const unsigned char *pt, size_t len, unsigned char *ct,
                              unsigned char tag[HT_TAGLEN], uint64_t *seq)
{
    OSSL_PARAM p[3];
    int n = 0;

    if (aadlen > 0 && !EVP_EncryptUpdate(ctx, NULL, &n, aad, (int)aadlen))
        return 0;
    if (len > 0 && !EVP_EncryptUpdate(ctx, ct, &n, pt, (int)len))
        return 0;
    if (!EVP_EncryptFinal_ex(ctx, ct + len, &n))
        return 0;
    p[0] = OSSL_PARAM_construct_uint64(M2MSEC_REC_PARAM_SEQ, seq);
    p[1] = OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, tag, HT_TAGLEN);
    p[2] = OSSL_PARAM_construct_end();
    return EVP_CIPHER_CTX_get_params(ctx, p);
}

/* Decrypt one record (seq and tag first, AAD, data, final). 1 on success. */
static inline int ht_rec_open(EVP_CIPHER_CTX *ctx, uint64_t seq, const unsigned char *aad,
                              size_t aadlen, const unsigned char *ct, size_t len,
                              const unsigned char tag[HT_TAGLEN], unsigned char *pt)
{
    OSSL_PARAM p[3];
    unsigned char sink[1];
    int n = 0;

    p[0] = OSSL_PARAM_construct_uint64(M2MSEC_REC_PARAM_SEQ, &seq);
    p[1] = OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, (void *)tag, HT_TAGLEN);
    p[2] = OSSL_PARAM_construct_end();
    if (!EVP_CIPHER_CTX_set_params(ctx, p))
        return 0;
    if (aadlen > 0 && !EVP_DecryptUpdate(ctx, NULL, &n, aad, (int)aadlen))
        return 0;
    if (len > 0 && !EVP_DecryptUpdate(ctx, pt, &n, ct, (int)len))
        return 0;
    return EVP_DecryptFinal_ex(ctx, len > 0 ? pt + len : sink, &n);
}

#endif
