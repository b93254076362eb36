/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The M2M-REC ciphers' process-wide rules, through EVP only
 * (docs/PROTOCOL.md 5.2 and 5.3):
 *
 *  - one key registry per process: a key that encrypted in one library
 *    context is refused in another one, and after the last instance of
 *    m2msec.so was unloaded and the module loaded again (the module is
 *    linked -z nodelete: it stays resident, checked with dlopen
 *    RTLD_NOLOAD);
 *  - the failed-decryption budget is per key and process-wide: fresh
 *    contexts (one per attempt, as a receiver makes per candidate epoch),
 *    alternating keys, two library contexts, an unload and reload, and the
 *    8-byte CCM tag's default budget of 2^13;
 *  - a record context used in a forked child refuses (fork(), and the raw
 *    fork system call that skips pthread_atfork handlers where the kernel
 *    has MADV_WIPEONFORK), while the parent goes on and a new context in
 *    the child works.
 *
 * Every record that must open is sealed by an independent reference: the
 * stock AEAD of the default provider with the record format of PROTOCOL.md
 * 5.1 built here (nonce = static IV XOR u64be(seq), AAD = u64be(epoch) ||
 * u64be(seq) || application AAD). Errors are checked by their text.
 */
#define _GNU_SOURCE /* RTLD_NOLOAD, syscall, MADV_WIPEONFORK */

#include <dlfcn.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CUnit/Basic.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/provider.h>
#include <openssl/rand.h>

#include "m2msec/record.h"
#include "test_errors.h"
#include "test_run.h"

#define IVLEN 12
#define TAGLEN 16
#define NALGS 4

typedef struct {
    const char *name, *ref;
    size_t keylen;
    int ccm;
} ALG;

static const ALG algs[NALGS] = {
    {M2MSEC_REC_AES_128_GCM, "AES-128-GCM", 16, 0},
    {M2MSEC_REC_AES_256_GCM, "AES-256-GCM", 32, 0},
    {M2MSEC_REC_CHACHA20_POLY1305, "ChaCha20-Poly1305", 32, 0},
    {M2MSEC_REC_AES_128_CCM, "AES-128-CCM", 16, 1},
};
#define CCM 3

static const char *mods;
static const unsigned char app_aad[11] = "m2m-process";

/* One library context with m2msec and default loaded, and the ciphers fetched. */
typedef struct {
    OSSL_LIB_CTX *lib;
    OSSL_PROVIDER *m2m, *def;
    EVP_CIPHER *rec[NALGS], *ref[NALGS];
} INST;

static void inst_free(INST *in)
{
    for (size_t a = 0; a < NALGS; a++) {
        EVP_CIPHER_free(in->rec[a]);
        EVP_CIPHER_free(in->ref[a]);
    }
    OSSL_PROVIDER_unload(in->m2m);
    OSSL_PROVIDER_unload(in->def);
    OSSL_LIB_CTX_free(in->lib);
    memset(in, 0, sizeof(*in));
}

static int inst_load(INST *in)
{
    memset(in, 0, sizeof(*in));
    in->lib = OSSL_LIB_CTX_new();
    if (in->lib == NULL || !OSSL_PROVIDER_set_default_search_path(in->lib, mods) ||
        (in->m2m = OSSL_PROVIDER_load(in->lib, "m2msec")) == NULL ||
        (in->def = OSSL_PROVIDER_load(in->lib, "default")) == NULL)
        goto err;
    for (size_t a = 0; a < NALGS; a++) {
        in->rec[a] = EVP_CIPHER_fetch(in->lib, algs[a].name, "provider=m2msec");
        in->ref[a] = EVP_CIPHER_fetch(in->lib, algs[a].ref, "provider=default");
        if (in->rec[a] == NULL || in->ref[a] == NULL)
            goto err;
    }
    return 1;
err:
    fprintf(stderr, "cannot load m2msec and default from %s\n", mods);
    ERR_print_errors_fp(stderr);
    inst_free(in);
    return 0;
}

typedef struct {
    size_t ai;
    unsigned char key[32], iv[IVLEN];
    size_t taglen;
} KEY;

static void key_new(KEY *k, size_t ai, size_t taglen)
{
    memset(k, 0, sizeof(*k));
    k->ai = ai;
    k->taglen = taglen;
    if (RAND_bytes(k->key, sizeof(k->key)) != 1 || RAND_bytes(k->iv, IVLEN) != 1)
        abort();
}

/* A record context (max_failures 0: the default); NULL if refused (error left queued). */
static EVP_CIPHER_CTX *rec_ctx(const INST *in, const KEY *k, int enc, uint64_t max_failures)
{
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    OSSL_PARAM p[3], *pp = p;
    size_t taglen = k->taglen;

    if (taglen != TAGLEN)
        *pp++ = OSSL_PARAM_construct_size_t(OSSL_CIPHER_PARAM_AEAD_TAGLEN, &taglen);
    if (max_failures != 0)
        *pp++ = OSSL_PARAM_construct_uint64(M2MSEC_REC_PARAM_MAX_FAILURES, &max_failures);
    *pp = OSSL_PARAM_construct_end();
    if (c == NULL || !EVP_CipherInit_ex2(c, in->rec[k->ai], k->key, k->iv, enc, p)) {
        EVP_CIPHER_CTX_free(c);
        return NULL;
    }
    return c;
}

/* The reference: seal record seq (epoch 0) with the stock AEAD. */
static int ref_seal(const INST *in, const KEY *k, uint64_t seq, const unsigned char *pt, size_t len,
                    unsigned char *ct, unsigned char *tag)
{
    const ALG *a = &algs[k->ai];
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    unsigned char nonce[IVLEN], aad[16 + sizeof(app_aad)];
    int n, ok = 0;

    memcpy(nonce, k->iv, IVLEN);
    memset(aad, 0, 8); /* epoch 0 */
    for (int i = 0; i < 8; i++) {
        nonce[IVLEN - 8 + i] ^= (unsigned char)(seq >> (56 - 8 * i));
        aad[8 + i] = (unsigned char)(seq >> (56 - 8 * i));
    }
    memcpy(aad + 16, app_aad, sizeof(app_aad));
    if (c == NULL || !EVP_EncryptInit_ex2(c, in->ref[k->ai], NULL, NULL, NULL))
        goto end;
    if (a->ccm) {
        size_t ivl = IVLEN;
        OSSL_PARAM p[3];

        p[0] = OSSL_PARAM_construct_size_t(OSSL_CIPHER_PARAM_AEAD_IVLEN, &ivl);
        p[1] = OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, NULL, k->taglen);
        p[2] = OSSL_PARAM_construct_end();
        if (!EVP_CIPHER_CTX_set_params(c, p))
            goto end;
    }
    if (!EVP_EncryptInit_ex2(c, NULL, k->key, nonce, NULL) ||
        (a->ccm && !EVP_EncryptUpdate(c, NULL, &n, NULL, (int)len)) ||
        !EVP_EncryptUpdate(c, NULL, &n, aad, (int)sizeof(aad)) ||
        !EVP_EncryptUpdate(c, ct, &n, pt, (int)len) || !EVP_EncryptFinal_ex(c, ct + n, &n) ||
        !EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, (int)k->taglen, tag))
        goto end;
    ok = 1;
end:
    EVP_CIPHER_CTX_free(c);
    return ok;
}

enum { OPEN_OK, OPEN_SEQ, OPEN_DATA, OPEN_FINAL };

/* Open one record (tag with seq, before any update); the step that failed, or OPEN_OK. */
static int rec_open(EVP_CIPHER_CTX *c, uint64_t seq, const unsigned char *ct, size_t len,
                    const unsigned char *tag, size_t taglen, unsigned char *pt)
{
    OSSL_PARAM p[3];
    int n = 0;

    p[0] = OSSL_PARAM_construct_uint64(M2MSEC_REC_PARAM_SEQ, &seq);
    p[1] = OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, (void *)tag, taglen);
    p[2] = OSSL_PARAM_construct_end();
    if (!EVP_CIPHER_CTX_set_params(c, p))
        return OPEN_SEQ;
    if (!EVP_DecryptUpdate(c, NULL, &n, app_aad, (int)sizeof(app_aad)) ||
        !EVP_DecryptUpdate(c, pt, &n, ct, (int)len))
        return OPEN_DATA;
    if (!EVP_DecryptFinal_ex(c, pt + len, &n))
        return OPEN_FINAL;
    return OPEN_OK;
}

/* Encrypt one record; its seq in *seq. */
static int rec_seal(EVP_CIPHER_CTX *c, const unsigned char *pt, size_t len, unsigned char *ct,
                    unsigned char *tag, size_t taglen, uint64_t *seq)
{
    OSSL_PARAM p[3];
    int n = 0, m = 0;

    if (!EVP_EncryptUpdate(c, NULL, &n, app_aad, (int)sizeof(app_aad)) ||
        !EVP_EncryptUpdate(c, ct, &n, pt, (int)len) || !EVP_EncryptFinal_ex(c, ct + n, &m))
        return 0;
    p[0] = OSSL_PARAM_construct_uint64(M2MSEC_REC_PARAM_SEQ, seq);
    p[1] = OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, tag, taglen);
    p[2] = OSSL_PARAM_construct_end();
    return EVP_CIPHER_CTX_get_params(c, p);
}

/* The reference opens what the provider sealed: same plaintext back. */
static int ref_opens(const INST *in, const KEY *k, uint64_t seq, const unsigned char *pt,
                     size_t len, const unsigned char *ct, const unsigned char *tag)
{
    unsigned char ct2[64], tag2[TAGLEN];

    /* Deterministic AEAD: sealing the plaintext again must give the same bytes. */
    return len <= sizeof(ct2) && ref_seal(in, k, seq, pt, len, ct2, tag2) &&
           memcmp(ct2, ct, len) == 0 && memcmp(tag2, tag, k->taglen) == 0;
}

static uint64_t read_u64(EVP_CIPHER_CTX *c, const char *name)
{
    uint64_t v = UINT64_MAX;
    OSSL_PARAM p[2] = {OSSL_PARAM_construct_uint64(name, &v), OSSL_PARAM_END};

    if (!EVP_CIPHER_CTX_get_params(c, p))
        return UINT64_MAX;
    return v;
}

static const unsigned char plain[40] = "forty bytes of a protected m2m reading.";

/* ------------------------------------------------------------------ */
/* One key registry per process                                        */
/* ------------------------------------------------------------------ */

static void test_two_library_contexts(void)
{
    INST a, b;

    CU_ASSERT_FATAL(inst_load(&a));
    if (!inst_load(&b)) {
        inst_free(&a);
        CU_FAIL_FATAL("second library context");
    }
    for (size_t ai = 0; ai < NALGS; ai++) {
        KEY k, k_iv;
        EVP_CIPHER_CTX *ea, *eb, *db;
        unsigned char ct[40], tag[TAGLEN], pt[40];
        uint64_t seq = UINT64_MAX;

        key_new(&k, ai, TAGLEN);
        ea = rec_ctx(&a, &k, 1, 0);
        CHECK(ea != NULL, "%s: the key encrypts in library context A", algs[ai].name);
        CHECK(ea != NULL && rec_seal(ea, plain, 40, ct, tag, TAGLEN, &seq) && seq == 0 &&
                  ref_opens(&a, &k, seq, plain, 40, ct, tag),
              "%s: record 0 in A, as the reference seals it", algs[ai].name);
        ERR_clear_error();
        eb = rec_ctx(&b, &k, 1, 0);
        CHECK(eb == NULL && errors_have("key already used for encryption",
                                        "already used to encrypt in this process", NULL),
              "%s: the same key is refused in library context B (it would repeat A's nonces)",
              algs[ai].name);
        EVP_CIPHER_CTX_free(eb);
        /* Another IV changes nothing; nor does freeing A's context. */
        k_iv = k;
        k_iv.iv[0] ^= 0x80;
        EVP_CIPHER_CTX_free(ea);
        ERR_clear_error();
        eb = rec_ctx(&b, &k_iv, 1, 0);
        CHECK(eb == NULL && errors_have("key already used for encryption", NULL),
              "%s: refused in B with another IV, after A's context is gone", algs[ai].name);
        EVP_CIPHER_CTX_free(eb);
        /* Decrypting contexts do not claim the key: B opens A's record. */
        db = rec_ctx(&b, &k, 0, 0);
        CHECK(db != NULL && rec_open(db, 0, ct, 40, tag, TAGLEN, pt) == OPEN_OK &&
                  memcmp(pt, plain, 40) == 0,
              "%s: B decrypts A's record", algs[ai].name);
        EVP_CIPHER_CTX_free(db);
        ERR_clear_error();
    }
    inst_free(&a);
    inst_free(&b);
}

/* Forge one record of key k at seq in a fresh context; 1 if it reached authentication. */
static int forge_fresh(const INST *in, const KEY *k, uint64_t seq, uint64_t max_failures,
                       int *refused_expired)
{
    EVP_CIPHER_CTX *d = rec_ctx(in, k, 0, max_failures);
    unsigned char ct[40], tag[TAGLEN], pt[40];
    int rc;

    *refused_expired = 0;
    if (d == NULL)
        return 0;
    if (!ref_seal(in, k, seq, plain, 40, ct, tag))
        abort();
    tag[0] ^= 0x01;
    ERR_clear_error();
    rc = rec_open(d, seq, ct, 40, tag, k->taglen, pt);
    EVP_CIPHER_CTX_free(d);
    if (rc == OPEN_SEQ) {
        *refused_expired = errors_have("session key expired", "failed-decryption limit", NULL);
        return 0;
    }
    if (!errors_have("authentication failed", NULL))
        abort();
    return 1;
}

static void test_unload_reload(void)
{
    char path[4096];
    INST a, b;
    KEY k, f;
    EVP_CIPHER_CTX *e;
    unsigned char ct[40], tag[TAGLEN];
    uint64_t seq = UINT64_MAX;
    int expired = 0, reached = 0;
    void *h;

    snprintf(path, sizeof(path), "%s/m2msec.so", mods);
    CU_ASSERT_FATAL(inst_load(&a));
    key_new(&k, 0, TAGLEN);
    key_new(&f, 0, TAGLEN);
    e = rec_ctx(&a, &k, 1, 0);
    CHECK(e != NULL && rec_seal(e, plain, 40, ct, tag, TAGLEN, &seq) && seq == 0,
          "before the unload: the key encrypts record 0");
    EVP_CIPHER_CTX_free(e);
    for (uint64_t i = 0; i < 3; i++)
        reached += forge_fresh(&a, &f, i, 3, &expired);
    CHECK(reached == 3, "before the unload: 3 forgeries of another key reached authentication");
    /* The last instance of m2msec goes away... */
    inst_free(&a);
    /* ... and the module stays loaded (-z nodelete): its registry cannot be lost. */
    h = dlopen(path, RTLD_NOW | RTLD_NOLOAD);
    CHECK(h != NULL,
          "m2msec.so is still loaded after its last instance was unloaded "
          "(linked -z nodelete): %s",
          h == NULL ? dlerror() : "yes");
    if (h != NULL)
        dlclose(h);

    CU_ASSERT_FATAL(inst_load(&b));
    ERR_clear_error();
    e = rec_ctx(&b, &k, 1, 0);
    CHECK(e == NULL && errors_have("key already used for encryption", NULL),
          "after unload and reload the key is still refused for encryption (sequence 0 again "
          "would repeat its nonces)");
    EVP_CIPHER_CTX_free(e);
    reached = forge_fresh(&b, &f, 3, 3, &expired);
    CHECK(reached == 0 && expired,
          "after unload and reload the forged key's budget of 3 is still spent");
    ERR_clear_error();
    inst_free(&b);
}

/* ------------------------------------------------------------------ */
/* The forgery budget is per key                                       */
/* ------------------------------------------------------------------ */

static void test_budget_fresh_contexts(void)
{
    INST in;

    CU_ASSERT_FATAL(inst_load(&in));
    for (size_t ai = 0; ai < NALGS; ai++) {
        KEY k;
        EVP_CIPHER_CTX *d;
        unsigned char ct[40], tag[TAGLEN], pt[40];
        int reached = 0, expired = 0, ex;

        key_new(&k, ai, TAGLEN);
        /* 40 attempts, each in a fresh context asking for max-failures 4. */
        for (uint64_t i = 0; i < 40; i++) {
            reached += forge_fresh(&in, &k, i, 4, &ex);
            expired += ex;
        }
        CHECK(reached == 4 && expired == 36,
              "%s: fresh contexts share the key's budget: %d of 40 forgeries reached "
              "authentication (want 4), %d refused as expired (want 36)",
              algs[ai].name, reached, expired);
        /* The key is spent for such contexts: a genuine record is refused too. */
        d = rec_ctx(&in, &k, 0, 4);
        CHECK(d != NULL && ref_seal(&in, &k, 100, plain, 40, ct, tag) &&
                  rec_open(d, 100, ct, 40, tag, TAGLEN, pt) == OPEN_SEQ &&
                  errors_have("session key expired", NULL),
              "%s: a genuine record is refused once the budget is spent", algs[ai].name);
        CHECK(d != NULL && read_u64(d, M2MSEC_REC_PARAM_FAILURES) == 4,
              "%s: 'failures' reads the key's count, 4", algs[ai].name);
        EVP_CIPHER_CTX_free(d);
        ERR_clear_error();
    }
    inst_free(&in);
}

static void test_budget_alternating_keys(void)
{
    INST in;
    KEY k[3];
    int reached[3] = {0, 0, 0}, ex;
    EVP_CIPHER_CTX *d;
    unsigned char ct[40], tag[TAGLEN], pt[40];

    CU_ASSERT_FATAL(inst_load(&in));
    for (int i = 0; i < 3; i++)
        key_new(&k[i], 0, TAGLEN);
    /* Keys 0 and 1 in turn, a fresh context each time: 30 attempts each. */
    for (uint64_t i = 0; i < 60; i++)
        reached[i & 1] += forge_fresh(&in, &k[i & 1], i, 5, &ex);
    CHECK(reached[0] == 5 && reached[1] == 5,
          "alternating keys: each key's own budget of 5 holds (%d and %d reached authentication)",
          reached[0], reached[1]);
    /* A third key has its whole budget, and opens genuine records. */
    d = rec_ctx(&in, &k[2], 0, 5);
    CHECK(d != NULL && ref_seal(&in, &k[2], 7, plain, 40, ct, tag) &&
              rec_open(d, 7, ct, 40, tag, TAGLEN, pt) == OPEN_OK && memcmp(pt, plain, 40) == 0,
          "an untouched key still opens records");
    EVP_CIPHER_CTX_free(d);
    for (uint64_t i = 0; i < 5; i++)
        reached[2] += forge_fresh(&in, &k[2], 100 + i, 5, &ex);
    CHECK(reached[2] == 5 && forge_fresh(&in, &k[2], 200, 5, &ex) == 0 && ex,
          "the third key's budget is its own: 5 forgeries, then refused");
    ERR_clear_error();
    inst_free(&in);
}

static void test_budget_two_library_contexts(void)
{
    INST a, b;
    KEY k;
    int reached = 0, ex;

    CU_ASSERT_FATAL(inst_load(&a));
    if (!inst_load(&b)) {
        inst_free(&a);
        CU_FAIL_FATAL("second library context");
    }
    key_new(&k, 2, TAGLEN);
    for (uint64_t i = 0; i < 6; i++)
        reached += forge_fresh(i & 1 ? &b : &a, &k, i, 4, &ex);
    CHECK(reached == 4 && ex,
          "library contexts A and B in turn share the key's budget of 4 (%d reached "
          "authentication)",
          reached);
    ERR_clear_error();
    inst_free(&a);
    inst_free(&b);
}

static void test_budget_ccm8_default(void)
{
    INST in;
    KEY k;
    unsigned reached = 0, expired = 0;
    int ex;

    CU_ASSERT_FATAL(inst_load(&in));
    key_new(&k, CCM, 8);
    /* The default budget of the 8-byte CCM tag (2^13), a fresh context per attempt. */
    for (uint64_t i = 0; i < 8192 + 10; i++) {
        reached += (unsigned)forge_fresh(&in, &k, i, 0, &ex);
        expired += (unsigned)ex;
    }
    CHECK(reached == 8192 && expired == 10,
          "CCM, 8-byte tag, default budget: %u forgeries reached authentication (want 8192), %u "
          "refused (want 10)",
          reached, expired);
    ERR_clear_error();
    inst_free(&in);
}

/* ------------------------------------------------------------------ */
/* Fork                                                                */
/* ------------------------------------------------------------------ */

static int child_bad;

static void child_check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "  child: FAILED: %s\n", what);
        child_bad++;
    }
}

/* Does the last error say "used in a forked child"? Drains the queue. */
static int forked_error(void)
{
    return errors_have("context used in a forked child", "create a new context in the child", NULL);
}

/* In the child: every use of the parent's contexts is refused; new ones work. */
static void child_work(const INST *in, EVP_CIPHER_CTX *e, EVP_CIPHER_CTX *d, EVP_CIPHER_CTX *e_mid,
                       const KEY *kd)
{
    unsigned char ct[40], tag[TAGLEN], pt[40];
    uint64_t seq;
    int n;
    KEY fresh;
    EVP_CIPHER_CTX *c;

    ERR_clear_error();
    child_check(!EVP_EncryptUpdate(e, NULL, &n, app_aad, 4) && forked_error(),
                "the parent's encrypting context refuses AAD");
    child_check(!EVP_EncryptUpdate(e, ct, &n, plain, 40) && forked_error(),
                "the parent's encrypting context refuses data");
    child_check(!EVP_EncryptFinal_ex(e, ct, &n) && forked_error(),
                "the parent's encrypting context refuses final");
    child_check(!EVP_EncryptInit_ex2(e, NULL, NULL, NULL, NULL) && forked_error(),
                "the parent's encrypting context refuses a re-init");
    child_check(!EVP_EncryptUpdate(e_mid, ct, &n, plain, 40) && forked_error(),
                "a record the parent had begun cannot be finished in the child");
    child_check(!EVP_EncryptFinal_ex(e_mid, ct, &n) && forked_error(), "nor ended by final");
    ref_seal(in, kd, 5, plain, 40, ct, tag);
    child_check(rec_open(d, 5, ct, 40, tag, TAGLEN, pt) == OPEN_SEQ && forked_error(),
                "the parent's decrypting context refuses a record");
    /* A new encrypting context with a new key works, and the reference agrees. */
    key_new(&fresh, 0, TAGLEN);
    c = rec_ctx(in, &fresh, 1, 0);
    child_check(c != NULL && rec_seal(c, plain, 40, ct, tag, TAGLEN, &seq) && seq == 0 &&
                    ref_opens(in, &fresh, 0, plain, 40, ct, tag),
                "a new context in the child encrypts");
    EVP_CIPHER_CTX_free(c);
    /* A new decrypting context of the parent's key works (the key is not the problem). */
    c = rec_ctx(in, kd, 0, 0);
    ref_seal(in, kd, 6, plain, 40, ct, tag);
    child_check(c != NULL && rec_open(c, 6, ct, 40, tag, TAGLEN, pt) == OPEN_OK &&
                    memcmp(pt, plain, 40) == 0,
                "a new decrypting context in the child opens a record");
    EVP_CIPHER_CTX_free(c);
    ERR_clear_error();
}

static int wait_child(pid_t pid)
{
    int st = 0;

    if (pid < 0 || waitpid(pid, &st, 0) != pid)
        return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}

/* Which fork: fork(), or the raw system call (no pthread_atfork handlers). */
static void fork_case(int raw)
{
    INST in;
    KEY ke, kd, km;
    EVP_CIPHER_CTX *e, *d, *e_mid;
    unsigned char ct[40], tag[TAGLEN], pt[40];
    uint64_t seq = UINT64_MAX;
    int n, rc;
    pid_t pid;

    CU_ASSERT_FATAL(inst_load(&in));
    key_new(&ke, 0, TAGLEN);
    key_new(&kd, 2, TAGLEN);
    key_new(&km, 1, TAGLEN);
    e = rec_ctx(&in, &ke, 1, 0);
    d = rec_ctx(&in, &kd, 0, 0);
    e_mid = rec_ctx(&in, &km, 1, 0);
    CU_ASSERT_FATAL(e != NULL && d != NULL && e_mid != NULL);
    CHECK(rec_seal(e, plain, 40, ct, tag, TAGLEN, &seq) && seq == 0, "parent: record 0");
    ref_seal(&in, &kd, 0, plain, 40, ct, tag);
    CHECK(rec_open(d, 0, ct, 40, tag, TAGLEN, pt) == OPEN_OK, "parent: opens record 0");
    /* A record in progress at the fork. */
    CHECK(EVP_EncryptUpdate(e_mid, NULL, &n, app_aad, (int)sizeof(app_aad)),
          "parent: a record begun");
    fflush(NULL);
    pid = raw ? (pid_t)syscall(SYS_fork) : fork();
    if (pid == 0) {
        child_bad = 0;
        child_work(&in, e, d, e_mid, &kd);
        /* Freeing the parent's contexts is allowed in the child (and valgrind wants it). */
        EVP_CIPHER_CTX_free(e);
        EVP_CIPHER_CTX_free(d);
        EVP_CIPHER_CTX_free(e_mid);
        inst_free(&in);
        fflush(NULL);
        _exit(child_bad > 100 ? 100 : child_bad);
    }
    rc = wait_child(pid);
    CHECK(rc == 0, "%s child: every check passed (%d failed; see its output above)",
          raw ? "raw-syscall fork" : "fork()", rc);
    /* The parent goes on as if nothing happened. */
    CHECK(rec_seal(e, plain, 40, ct, tag, TAGLEN, &seq) && seq == 1 &&
              ref_opens(&in, &ke, 1, plain, 40, ct, tag),
          "parent: record 1 after the fork, as the reference seals it");
    {
        uint64_t s2 = UINT64_MAX;
        OSSL_PARAM p[3];
        int m = 0;

        CHECK(EVP_EncryptUpdate(e_mid, ct, &n, plain, 40) && EVP_EncryptFinal_ex(e_mid, ct, &m),
              "parent: finishes the record it had begun");
        p[0] = OSSL_PARAM_construct_uint64(M2MSEC_REC_PARAM_SEQ, &s2);
        p[1] = OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, tag, TAGLEN);
        p[2] = OSSL_PARAM_construct_end();
        CHECK(EVP_CIPHER_CTX_get_params(e_mid, p) && s2 == 0 &&
                  ref_opens(&in, &km, 0, plain, 40, ct, tag),
              "parent: that record is the reference's record 0");
    }
    ref_seal(&in, &kd, 1, plain, 40, ct, tag);
    CHECK(rec_open(d, 1, ct, 40, tag, TAGLEN, pt) == OPEN_OK, "parent: opens record 1");
    ERR_clear_error();
    EVP_CIPHER_CTX_free(e);
    EVP_CIPHER_CTX_free(d);
    EVP_CIPHER_CTX_free(e_mid);
    inst_free(&in);
}

static void test_fork(void)
{
    fork_case(0);
}

/* Does this kernel give a child a wiped MADV_WIPEONFORK page? */
static int kernel_wipeonfork(void)
{
#ifdef MADV_WIPEONFORK
    long pg = sysconf(_SC_PAGESIZE);
    void *p = mmap(NULL, (size_t)pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    int ok;

    if (p == MAP_FAILED)
        return 0;
    ok = madvise(p, (size_t)pg, MADV_WIPEONFORK) == 0;
    munmap(p, (size_t)pg);
    return ok;
#else
    return 0;
#endif
}

static void test_raw_fork(void)
{
    if (!kernel_wipeonfork()) {
        printf("\n    skipped: no MADV_WIPEONFORK here (the provider relies on pthread_atfork, "
               "which a raw fork system call skips) ");
        return;
    }
    fork_case(1);
}

int main(void)
{
    static const tc_test tests[] = {
        {"one key registry in two library contexts", test_two_library_contexts},
        {"unload and reload: registry and budgets survive", test_unload_reload},
        {"forgery budget: fresh contexts per attempt", test_budget_fresh_contexts},
        {"forgery budget: alternating keys", test_budget_alternating_keys},
        {"forgery budget: two library contexts", test_budget_two_library_contexts},
        {"forgery budget: CCM 8-byte tag, default 2^13", test_budget_ccm8_default},
        {"fork(): the child refuses the parent's contexts", test_fork},
        {"raw fork system call (MADV_WIPEONFORK)", test_raw_fork},
    };

    mods = getenv("M2M_MODULES");
    if (mods == NULL || *mods == '\0') {
        fprintf(stderr, "M2M_MODULES is not set (directory of m2msec.so)\n");
        return 2;
    }
    return tc_run("test_record_process", "record_process", NULL, NULL, tests,
                  sizeof(tests) / sizeof(tests[0]));
}
