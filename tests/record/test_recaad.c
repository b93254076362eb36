/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The M2M-RECAAD ciphers (docs/PROTOCOL.md 5.7) driven the way a program
 * that knows only the standard AEAD calls drives an AEAD: fetch by name,
 * EVP_EncryptInit_ex / EVP_CipherInit_ex2 with key and IV, the AAD by an
 * update with a NULL output, the data, final, and the tag by
 * EVP_CTRL_AEAD_GET_TAG / EVP_CTRL_AEAD_SET_TAG (or the "tag" parameter);
 * a NEW EVP_CIPHER_CTX for every message. No m2msec parameter is set.
 *
 * Shown here:
 *  - records byte-identical to an independent reference (the stock AEAD of
 *    the default provider with the nonce and AAD of PROTOCOL.md 5.1 built
 *    here) and to the M2M-REC cipher's own output for the same key (sealed
 *    in a fresh process: this program run again with "rec-seal");
 *  - interop both ways: M2M-REC opens RECAAD records and RECAAD opens
 *    M2M-REC records;
 *  - a replayed record refused across contexts and across two library
 *    contexts; one below the window refused; two contexts opening the same
 *    record at once: the second final is refused;
 *  - a sequence number used again refused across contexts and library
 *    contexts (also a lower one, and another epoch with the same key), and
 *    threads sealing the same numbers at once: each number is taken once;
 *  - a key used by M2M-REC to encrypt is refused by RECAAD and back;
 *  - the limits of the policy (records, failures, bytes) per key over all
 *    its contexts and library contexts;
 *  - the call shapes: AAD in pieces, data or final before the 16-byte
 *    header refused, the 'seq' parameter refused.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <CUnit/Basic.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/provider.h>
#include <openssl/rand.h>

#include "m2msec/names.h"
#include "test_errors.h"
#include "test_run.h"

#define IVLEN 12
#define TAGLEN 16
#define NALGS 3
#define MAXREC 256

typedef struct {
    const char *aad_name, *rec_name, *ref;
    size_t keylen;
} ALG;

static const ALG algs[NALGS] = {
    {M2MSEC_RECAAD_AES_128_GCM, M2MSEC_REC_AES_128_GCM, "AES-128-GCM", 16},
    {M2MSEC_RECAAD_AES_256_GCM, M2MSEC_REC_AES_256_GCM, "AES-256-GCM", 32},
    {M2MSEC_RECAAD_CHACHA20_POLY1305, M2MSEC_REC_CHACHA20_POLY1305, "ChaCha20-Poly1305", 32},
};

static const char *mods;
static const char *self_exe;
static char cnf[4096];
static const unsigned char app_aad[11] = "m2m-recaad!";

/* A library context with m2msec and default, the three ciphers of each algorithm fetched. */
typedef struct {
    OSSL_LIB_CTX *lib;
    OSSL_PROVIDER *m2m, *def;
    EVP_CIPHER *aad[NALGS], *rec[NALGS], *ref[NALGS];
} INST;

static INST g1, g2, gpol; /* two plain library contexts, one with a policy (max_records 5...) */

static void inst_free(INST *in)
{
    for (size_t a = 0; a < NALGS; a++) {
        EVP_CIPHER_free(in->aad[a]);
        EVP_CIPHER_free(in->rec[a]);
        EVP_CIPHER_free(in->ref[a]);
    }
    OSSL_PROVIDER_unload(in->m2m);
    OSSL_PROVIDER_unload(in->def);
    OSSL_LIB_CTX_free(in->lib);
    memset(in, 0, sizeof(*in));
}

/* policy: a configuration file to load (the m2msec section with its policy), else NULL. */
static int inst_load(INST *in, const char *policy)
{
    memset(in, 0, sizeof(*in));
    in->lib = OSSL_LIB_CTX_new();
    if (in->lib == NULL)
        goto err;
    if (policy != NULL) {
        if (!OSSL_LIB_CTX_load_config(in->lib, policy))
            goto err;
    } else if (!OSSL_PROVIDER_set_default_search_path(in->lib, mods) ||
               (in->m2m = OSSL_PROVIDER_load(in->lib, "m2msec")) == NULL ||
               (in->def = OSSL_PROVIDER_load(in->lib, "default")) == NULL) {
        goto err;
    }
    for (size_t a = 0; a < NALGS; a++) {
        in->aad[a] = EVP_CIPHER_fetch(in->lib, algs[a].aad_name, NULL);
        in->rec[a] = EVP_CIPHER_fetch(in->lib, algs[a].rec_name, NULL);
        in->ref[a] = EVP_CIPHER_fetch(in->lib, algs[a].ref, "provider=default");
        if (in->aad[a] == NULL || in->rec[a] == NULL || in->ref[a] == NULL)
            goto err;
    }
    return 1;
err:
    fprintf(stderr, "cannot load m2msec and default (%s)\n", policy != NULL ? policy : mods);
    ERR_print_errors_fp(stderr);
    inst_free(in);
    return 0;
}

typedef struct {
    size_t ai;
    unsigned char key[32], iv[IVLEN];
} KEY;

static void key_new(KEY *k, size_t ai)
{
    memset(k, 0, sizeof(*k));
    k->ai = ai;
    if (RAND_bytes(k->key, sizeof(k->key)) != 1 || RAND_bytes(k->iv, IVLEN) != 1)
        abort();
}

/* The record's AAD as the program passes it: u64be(epoch) || u64be(seq) || app_aad. */
static void make_aad(unsigned char *aad, uint64_t epoch, uint64_t seq)
{
    for (int i = 0; i < 8; i++) {
        aad[i] = (unsigned char)(epoch >> (56 - 8 * i));
        aad[8 + i] = (unsigned char)(seq >> (56 - 8 * i));
    }
    memcpy(aad + 16, app_aad, sizeof(app_aad));
}

#define AADLEN (16 + sizeof(app_aad))

/* A record: len bytes of ciphertext, then the tag. */
typedef struct {
    unsigned char ct[MAXREC], tag[TAGLEN];
    size_t len;
} REC;

static void payload(unsigned char *pt, size_t len, uint64_t seq)
{
    for (size_t i = 0; i < len; i++)
        pt[i] = (unsigned char)(seq * 31 + i);
}

/*
 * Seal one record with the standard calls only, in a new context: init
 * with key and IV, AAD (out NULL), data, final, GET_TAG. 1 if sealed.
 */
static int std_seal(const EVP_CIPHER *ciph, const KEY *k, uint64_t epoch, uint64_t seq,
                    const unsigned char *pt, size_t len, REC *r)
{
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    unsigned char aad[AADLEN];
    int n = 0, m = 0, ok;

    make_aad(aad, epoch, seq);
    ok = c != NULL && EVP_EncryptInit_ex(c, ciph, NULL, k->key, k->iv) &&
         EVP_EncryptUpdate(c, NULL, &n, aad, (int)sizeof(aad)) &&
         EVP_EncryptUpdate(c, r->ct, &n, pt, (int)len) && EVP_EncryptFinal_ex(c, r->ct + n, &m) &&
         EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, TAGLEN, r->tag);
    r->len = ok ? (size_t)(n + m) : 0;
    EVP_CIPHER_CTX_free(c);
    return ok;
}

/*
 * Open one record with the standard calls only, in a new context: init
 * with key and IV (EVP_CipherInit_ex2), the tag (SET_TAG, or the "tag"
 * parameter when by_param), AAD, data, final. 1 if opened and *pt right.
 */
static int std_open(const EVP_CIPHER *ciph, const KEY *k, uint64_t epoch, uint64_t seq,
                    const REC *r, int by_param)
{
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    unsigned char aad[AADLEN], pt[MAXREC], want[MAXREC];
    int n = 0, m = 0, ok;

    make_aad(aad, epoch, seq);
    ok = c != NULL && EVP_CipherInit_ex2(c, ciph, k->key, k->iv, 0, NULL);
    if (ok && by_param) {
        OSSL_PARAM p[2];

        p[0] =
            OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, (void *)r->tag, TAGLEN);
        p[1] = OSSL_PARAM_construct_end();
        ok = EVP_CIPHER_CTX_set_params(c, p);
    } else if (ok) {
        ok = EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_TAG, TAGLEN, (void *)r->tag);
    }
    ok = ok && EVP_DecryptUpdate(c, NULL, &n, aad, (int)sizeof(aad)) &&
         EVP_DecryptUpdate(c, pt, &n, r->ct, (int)r->len) && EVP_DecryptFinal_ex(c, pt + n, &m);
    EVP_CIPHER_CTX_free(c);
    payload(want, r->len, seq);
    return ok && (size_t)(n + m) == r->len && memcmp(pt, want, r->len) == 0;
}

/* The independent reference: the stock AEAD, nonce = IV XOR (0^32 || u64be(seq)). */
static int ref_seal(const INST *in, const KEY *k, uint64_t epoch, uint64_t seq,
                    const unsigned char *pt, size_t len, REC *r)
{
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    unsigned char nonce[IVLEN], aad[AADLEN];
    int n = 0, m = 0, ok;

    make_aad(aad, epoch, seq);
    memcpy(nonce, k->iv, IVLEN);
    for (int i = 0; i < 8; i++)
        nonce[4 + i] ^= aad[8 + i];
    ok = c != NULL && EVP_EncryptInit_ex(c, in->ref[k->ai], NULL, k->key, nonce) &&
         EVP_EncryptUpdate(c, NULL, &n, aad, (int)sizeof(aad)) &&
         EVP_EncryptUpdate(c, r->ct, &n, pt, (int)len) && EVP_EncryptFinal_ex(c, r->ct + n, &m) &&
         EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, TAGLEN, r->tag);
    r->len = ok ? (size_t)(n + m) : 0;
    EVP_CIPHER_CTX_free(c);
    return ok;
}

static int rec_equal(const REC *a, const REC *b)
{
    return a->len == b->len && memcmp(a->ct, b->ct, a->len) == 0 &&
           memcmp(a->tag, b->tag, TAGLEN) == 0;
}

/* M2M-REC, one context: seal records 0..n-1 of epoch (set by parameter) into r[]. */
static int rec_seal_n(const EVP_CIPHER *ciph, const KEY *k, uint64_t epoch, size_t n, size_t len,
                      REC *r)
{
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    OSSL_PARAM p[2];
    unsigned char pt[MAXREC];
    int ok;

    p[0] = OSSL_PARAM_construct_uint64(M2MSEC_REC_PARAM_EPOCH, &epoch);
    p[1] = OSSL_PARAM_construct_end();
    ok = c != NULL && EVP_CipherInit_ex2(c, ciph, k->key, k->iv, 1, p);
    for (size_t i = 0; ok && i < n; i++) {
        int a = 0, b = 0;

        payload(pt, len, i);
        ok = EVP_EncryptUpdate(c, NULL, &a, app_aad, (int)sizeof(app_aad)) &&
             EVP_EncryptUpdate(c, r[i].ct, &a, pt, (int)len) &&
             EVP_EncryptFinal_ex(c, r[i].ct + a, &b) &&
             EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, TAGLEN, r[i].tag);
        r[i].len = (size_t)(a + b);
    }
    EVP_CIPHER_CTX_free(c);
    return ok;
}

/* M2M-REC, one decrypting context: open r[seqs[i]] for each i (its 'seq' parameter). */
static int rec_open_list(const EVP_CIPHER *ciph, const KEY *k, uint64_t epoch, const REC *r,
                         const uint64_t *seqs, size_t n)
{
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    OSSL_PARAM p[3];
    int ok;

    p[0] = OSSL_PARAM_construct_uint64(M2MSEC_REC_PARAM_EPOCH, &epoch);
    p[1] = OSSL_PARAM_construct_end();
    ok = c != NULL && EVP_CipherInit_ex2(c, ciph, k->key, k->iv, 0, p);
    for (size_t i = 0; ok && i < n; i++) {
        unsigned char pt[MAXREC], want[MAXREC];
        uint64_t seq = seqs[i];
        int a = 0, b = 0;

        p[0] = OSSL_PARAM_construct_uint64(M2MSEC_REC_PARAM_SEQ, &seq);
        p[1] =
            OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, (void *)r[i].tag, TAGLEN);
        p[2] = OSSL_PARAM_construct_end();
        payload(want, r[i].len, seq);
        ok = EVP_CIPHER_CTX_set_params(c, p) &&
             EVP_DecryptUpdate(c, NULL, &a, app_aad, (int)sizeof(app_aad)) &&
             EVP_DecryptUpdate(c, pt, &a, r[i].ct, (int)r[i].len) &&
             EVP_DecryptFinal_ex(c, pt + a, &b) && memcmp(pt, want, r[i].len) == 0;
    }
    EVP_CIPHER_CTX_free(c);
    return ok;
}

static void hex(char *out, const unsigned char *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", b[i]);
}

static int unhex(unsigned char *out, const char *s, size_t n)
{
    if (strlen(s) != 2 * n)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned int v;

        if (sscanf(s + 2 * i, "%2x", &v) != 1)
            return 0;
        out[i] = (unsigned char)v;
    }
    return 1;
}

/* ---- byte-identical records ---- */

static void test_reference(void)
{
    for (size_t a = 0; a < NALGS; a++) {
        static const size_t lens[] = {0, 1, 16, 200};
        KEY k;

        key_new(&k, a);
        for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
            uint64_t seq = i == 3 ? UINT64_C(0x0123456789abcdef) : i * 7;
            unsigned char pt[MAXREC];
            REC got, want;

            payload(pt, lens[i], seq);
            CHECK(std_seal(g1.aad[a], &k, 42, seq, pt, lens[i], &got), "%s: seal seq %" PRIu64,
                  algs[a].aad_name, seq);
            CHECK(ref_seal(&g1, &k, 42, seq, pt, lens[i], &want), "reference");
            CHECK(rec_equal(&got, &want), "%s: record %" PRIu64 " differs from the stock %s",
                  algs[a].aad_name, seq, algs[a].ref);
            CHECK(std_open(g1.aad[a], &k, 42, seq, &got, i & 1), "%s: open seq %" PRIu64,
                  algs[a].aad_name, seq);
        }
    }
}

/*
 * The M2M-REC cipher's records for one key, from a fresh process (this
 * program with "rec-seal"): the key is new there, so M2M-REC may encrypt
 * with it. Compared with RECAAD's records for the same key here.
 */
static void test_same_as_rec(void)
{
    for (size_t a = 0; a < NALGS; a++) {
        char cmd[4096], keyhex[65], ivhex[25], line[2 * (MAXREC + TAGLEN) + 8];
        KEY k;
        FILE *f;

        key_new(&k, a);
        hex(keyhex, k.key, algs[a].keylen);
        hex(ivhex, k.iv, IVLEN);
        snprintf(cmd, sizeof(cmd), "'%s' rec-seal %zu %s %s", self_exe, a, keyhex, ivhex);
        f = popen(cmd, "r");
        CHECK(f != NULL, "popen");
        if (f == NULL)
            return;
        for (uint64_t seq = 0; seq < 4; seq++) {
            unsigned char pt[MAXREC];
            char mine[sizeof(line)];
            REC got;

            payload(pt, 5 + seq, seq);
            CHECK(fgets(line, sizeof(line), f) != NULL, "%s: no record %" PRIu64 " from M2M-REC",
                  algs[a].rec_name, seq);
            CHECK(std_seal(g1.aad[a], &k, 9, seq, pt, 5 + seq, &got), "seal");
            hex(mine, got.ct, got.len);
            hex(mine + 2 * got.len, got.tag, TAGLEN);
            strcat(mine, "\n");
            CHECK(strcmp(line, mine) == 0, "%s record %" PRIu64 " is not %s's:\n%s%s",
                  algs[a].aad_name, seq, algs[a].rec_name, mine, line);
        }
        CHECK(pclose(f) == 0, "rec-seal failed");
    }
}

/* ---- interop with M2M-REC ---- */

static void test_interop(void)
{
    for (size_t a = 0; a < NALGS; a++) {
        uint64_t seqs[5] = {0, 1, 2, 3, 4};
        REC r[5];
        KEY k1, k2;

        /* RECAAD seals (a new context each), M2M-REC opens with 'seq'. */
        key_new(&k1, a);
        for (uint64_t s = 0; s < 5; s++) {
            unsigned char pt[MAXREC];

            payload(pt, 10 * s, s);
            CHECK(std_seal(g1.aad[a], &k1, 3, s, pt, 10 * s, &r[s]), "seal %" PRIu64, s);
        }
        CHECK(rec_open_list(g2.rec[a], &k1, 3, r, seqs, 5), "%s cannot open %s records",
              algs[a].rec_name, algs[a].aad_name);
        /* M2M-REC seals, RECAAD opens (a new context each, out of order). */
        key_new(&k2, a);
        CHECK(rec_seal_n(g1.rec[a], &k2, 3, 5, 33, r), "M2M-REC seal");
        for (int s = 4; s >= 0; s--)
            CHECK(std_open(g2.aad[a], &k2, 3, (uint64_t)s, &r[s], 0), "%s cannot open %s record %d",
                  algs[a].aad_name, algs[a].rec_name, s);
        /* ...and RECAAD then refuses each again: the key's window holds them. */
        for (int s = 0; s < 5; s++)
            CHECK(!std_open(g1.aad[a], &k2, 3, (uint64_t)s, &r[s], 0) &&
                      errors_have("replayed record", NULL),
                  "replay of %d", s);
    }
}

/* ---- replay ---- */

static void test_replay(void)
{
    for (size_t a = 0; a < NALGS; a++) {
        unsigned char pt[MAXREC];
        REC r0, r1, r2, rhi;
        KEY k;

        key_new(&k, a);
        payload(pt, 20, 0);
        CHECK(std_seal(g1.aad[a], &k, 1, 0, pt, 20, &r0), "seal 0");
        payload(pt, 20, 1);
        CHECK(std_seal(g1.aad[a], &k, 1, 1, pt, 20, &r1), "seal 1");
        payload(pt, 20, 2);
        CHECK(std_seal(g1.aad[a], &k, 1, 2, pt, 20, &r2), "seal 2");
        payload(pt, 20, 1000);
        CHECK(std_seal(g1.aad[a], &k, 1, 1000, pt, 20, &rhi), "seal 1000");
        CHECK(std_open(g1.aad[a], &k, 1, 0, &r0, 0), "open 0");
        CHECK(!std_open(g1.aad[a], &k, 1, 0, &r0, 0) && errors_have("replayed record", NULL),
              "%s: a replay in a new context was not refused", algs[a].aad_name);
        CHECK(!std_open(g2.aad[a], &k, 1, 0, &r0, 1) && errors_have("replayed record", NULL),
              "%s: a replay in another library context was not refused", algs[a].aad_name);
        /* a forged record (tag changed) fails and does not burn the sequence number */
        r1.tag[0] ^= 1;
        CHECK(!std_open(g1.aad[a], &k, 1, 1, &r1, 0) && errors_have("authentication failed", NULL),
              "forged");
        r1.tag[0] ^= 1;
        CHECK(std_open(g2.aad[a], &k, 1, 1, &r1, 0), "genuine record 1 after a forgery");
        CHECK(std_open(g2.aad[a], &k, 1, 1000, &rhi, 0), "open 1000");
        /* seq 2 is now 998 below 1000: outside the default window of 256 */
        CHECK(!std_open(g1.aad[a], &k, 1, 2, &r2, 0) &&
                  errors_have("record outside replay window", NULL),
              "%s: a record below the window was not refused", algs[a].aad_name);
    }
}

/* Two contexts open the same record at once: the one that finishes second is refused. */
static void test_replay_race(void)
{
    size_t a = 0;
    unsigned char aad[AADLEN], pt[MAXREC];
    EVP_CIPHER_CTX *x = EVP_CIPHER_CTX_new(), *y = EVP_CIPHER_CTX_new();
    int n = 0;
    REC r;
    KEY k;

    key_new(&k, a);
    payload(pt, 8, 7);
    CHECK(std_seal(g1.aad[a], &k, 1, 7, pt, 8, &r), "seal");
    make_aad(aad, 1, 7);
    CHECK(x != NULL && y != NULL && EVP_CipherInit_ex2(x, g1.aad[a], k.key, k.iv, 0, NULL) &&
              EVP_CipherInit_ex2(y, g2.aad[a], k.key, k.iv, 0, NULL) &&
              EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_AEAD_SET_TAG, TAGLEN, r.tag) &&
              EVP_CIPHER_CTX_ctrl(y, EVP_CTRL_AEAD_SET_TAG, TAGLEN, r.tag) &&
              EVP_DecryptUpdate(x, NULL, &n, aad, (int)sizeof(aad)) &&
              EVP_DecryptUpdate(y, NULL, &n, aad, (int)sizeof(aad)) &&
              EVP_DecryptUpdate(x, pt, &n, r.ct, (int)r.len) &&
              EVP_DecryptUpdate(y, pt, &n, r.ct, (int)r.len),
          "both contexts begin record 7");
    CHECK(EVP_DecryptFinal_ex(x, pt, &n) == 1, "the first final accepts");
    CHECK(EVP_DecryptFinal_ex(y, pt, &n) != 1 && errors_have("replayed record", NULL),
          "the second final accepted the same record");
    EVP_CIPHER_CTX_free(x);
    EVP_CIPHER_CTX_free(y);
}

/* ---- sequence numbers ---- */

static void test_seq_reuse(void)
{
    for (size_t a = 0; a < NALGS; a++) {
        unsigned char pt[16] = {0};
        REC r;
        KEY k;

        key_new(&k, a);
        CHECK(std_seal(g1.aad[a], &k, 5, 5, pt, 16, &r), "seal 5");
        CHECK(!std_seal(g1.aad[a], &k, 5, 5, pt, 16, &r) &&
                  errors_have("sequence number already used", NULL),
              "%s: seq 5 again in a new context", algs[a].aad_name);
        CHECK(!std_seal(g2.aad[a], &k, 5, 5, pt, 16, &r) &&
                  errors_have("sequence number already used", NULL),
              "%s: seq 5 again in another library context", algs[a].aad_name);
        CHECK(!std_seal(g2.aad[a], &k, 5, 3, pt, 16, &r) &&
                  errors_have("sequence number already used", NULL),
              "%s: a lower seq", algs[a].aad_name);
        CHECK(!std_seal(g1.aad[a], &k, 6, 100, pt, 16, &r) && errors_have("encrypts epoch 5", NULL),
              "%s: another epoch with the same key", algs[a].aad_name);
        CHECK(std_seal(g2.aad[a], &k, 5, 6, pt, 16, &r), "seq 6 in the other library context");
        CHECK(std_seal(g1.aad[a], &k, 5, 100, pt, 16, &r), "a gap is fine");
        CHECK(!std_seal(g1.aad[a], &k, 5, 99, pt, 16, &r), "below the gap");
        ERR_clear_error();
    }
}

/* A key is M2M-REC's or RECAAD's for encrypting, never both. */
static void test_cross_claim(void)
{
    for (size_t a = 0; a < NALGS; a++) {
        unsigned char pt[4] = {0};
        EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
        REC r[1];
        KEY k1, k2;

        key_new(&k1, a);
        CHECK(rec_seal_n(g1.rec[a], &k1, 0, 1, 4, r), "M2M-REC seal");
        CHECK(!std_seal(g2.aad[a], &k1, 0, 10, pt, 4, r) &&
                  errors_have("already used to encrypt", NULL),
              "%s took a key M2M-REC encrypted with", algs[a].aad_name);
        key_new(&k2, a);
        CHECK(std_seal(g1.aad[a], &k2, 0, 0, pt, 4, r), "RECAAD seal");
        CHECK(c != NULL && !EVP_CipherInit_ex2(c, g2.rec[a], k2.key, k2.iv, 1, NULL) &&
                  errors_have("already used to encrypt", NULL),
              "%s took a key %s encrypted with", algs[a].rec_name, algs[a].aad_name);
        EVP_CIPHER_CTX_free(c);
    }
}

#define RACE_SEQS 200

typedef struct {
    const KEY *k;
    int won;                      /* how many sequence numbers this thread got */
    unsigned char got[RACE_SEQS]; /* which */
} RACER;

static void *racer(void *arg)
{
    RACER *t = arg;
    unsigned char pt[8] = {0};
    REC r;

    for (uint64_t s = 0; s < RACE_SEQS; s++) {
        t->got[s] = (unsigned char)std_seal(s & 1 ? g1.aad[0] : g2.aad[0], t->k, 0, s, pt, 8, &r);
        t->won += t->got[s];
    }
    ERR_clear_error();
    return NULL;
}

/* Threads seal the same sequence numbers: each is taken exactly once. */
static void test_seq_threads(void)
{
    pthread_t th[4];
    RACER t[4];
    KEY k;
    int total = 0;

    key_new(&k, 0);
    for (int i = 0; i < 4; i++) {
        t[i].k = &k;
        t[i].won = 0;
        memset(t[i].got, 0, sizeof(t[i].got));
        CHECK(pthread_create(&th[i], NULL, racer, &t[i]) == 0, "thread");
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        total += t[i].won;
    }
    for (int s = 0; s < RACE_SEQS; s++) {
        int takers = t[0].got[s] + t[1].got[s] + t[2].got[s] + t[3].got[s];

        CHECK(takers <= 1, "sequence number %d was taken by %d threads", s, takers);
    }
    CHECK(total <= RACE_SEQS, "%d records sealed for %d sequence numbers", total, RACE_SEQS);
    /* the highest number is above every other, so some thread always takes it */
    CHECK(t[0].got[RACE_SEQS - 1] + t[1].got[RACE_SEQS - 1] + t[2].got[RACE_SEQS - 1] +
                  t[3].got[RACE_SEQS - 1] ==
              1,
          "nobody took the last sequence number");
}

/* ---- limits (the policy library context: max_records 5, max_failures 3, max_bytes 1000) ---- */

static void test_limits(void)
{
    size_t a = 1;
    unsigned char pt[MAXREC];
    REC r[8];
    KEY ke, kd, kb;

    /* encrypting: 5 records for the key, whatever the context or library context */
    key_new(&ke, a);
    for (uint64_t s = 0; s < 5; s++) {
        payload(pt, 10, s);
        CHECK(std_seal(gpol.aad[a], &ke, 0, s, pt, 10, &r[s]), "seal %" PRIu64, s);
    }
    CHECK(!std_seal(gpol.aad[a], &ke, 0, 5, pt, 10, &r[5]) &&
              errors_have("session key expired", "record limit", NULL),
          "a sixth record was sealed");
    CHECK(!std_seal(g1.aad[a], &ke, 0, 6, pt, 10, &r[5]) &&
              errors_have("session key expired", NULL),
          "a library context without the policy sealed past the key's limit");
    /* decrypting: 3 forgeries, then the key is refused; records 0..4 of another key */
    key_new(&kd, a);
    for (uint64_t s = 0; s < 6; s++) {
        payload(pt, 10, s);
        CHECK(std_seal(g1.aad[a], &kd, 0, s, pt, 10, &r[s]), "seal");
    }
    for (uint64_t s = 0; s < 5; s++)
        CHECK(std_open(gpol.aad[a], &kd, 0, s, &r[s], 0), "open %" PRIu64, s);
    CHECK(!std_open(gpol.aad[a], &kd, 0, 5, &r[5], 0) && errors_have("session key expired", NULL),
          "a sixth record was opened");
    key_new(&kb, a);
    for (uint64_t s = 0; s < 4; s++) {
        payload(pt, 10, s);
        CHECK(std_seal(g1.aad[a], &kb, 0, s, pt, 10, &r[s]), "seal");
    }
    for (uint64_t s = 0; s < 3; s++) {
        r[s].tag[3] ^= 0x40;
        CHECK(!std_open(gpol.aad[a], &kb, 0, s, &r[s], 0) &&
                  errors_have("authentication failed", NULL),
              "forgery %" PRIu64, s);
    }
    CHECK(!std_open(gpol.aad[a], &kb, 0, 3, &r[3], 0) &&
              errors_have("session key expired", "failed-decryption limit", NULL),
          "a genuine record after 3 failures was opened");
    /* bytes: 1000 per key; records of 200 bytes: the sixth is refused in its data */
    key_new(&kb, a);
    payload(pt, 200, 0);
    CHECK(std_seal(gpol.aad[a], &kb, 0, 0, pt, 200, &r[0]), "200 bytes");
    CHECK(std_seal(gpol.aad[a], &kb, 0, 1, pt, 200, &r[0]), "400 bytes");
    CHECK(std_seal(gpol.aad[a], &kb, 0, 2, pt, 200, &r[0]), "600 bytes");
    CHECK(std_seal(gpol.aad[a], &kb, 0, 3, pt, 200, &r[0]), "800 bytes");
    CHECK(!std_seal(gpol.aad[a], &kb, 0, 4, pt, 201, &r[0]) &&
              errors_have("session key expired", "byte limit", NULL),
          "1001 bytes sealed under a 1000-byte limit");
}

/* Seal record seq in a new context and read the context's 'not-after' (0 if refused). */
static uint64_t seal_not_after(const KEY *k, uint64_t seq, const OSSL_PARAM *params)
{
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    unsigned char aad[AADLEN], pt[8] = {0}, ct[8], tag[TAGLEN];
    uint64_t na = 0;
    OSSL_PARAM p[2];
    int n = 0, m = 0;

    make_aad(aad, 0, seq);
    p[0] = OSSL_PARAM_construct_uint64(M2MSEC_REC_PARAM_NOT_AFTER, &na);
    p[1] = OSSL_PARAM_construct_end();
    if (c == NULL || !EVP_CipherInit_ex2(c, g1.aad[k->ai], k->key, k->iv, 1, params) ||
        !EVP_EncryptUpdate(c, NULL, &n, aad, (int)sizeof(aad)) ||
        !EVP_EncryptUpdate(c, ct, &n, pt, 8) || !EVP_EncryptFinal_ex(c, ct + n, &m) ||
        !EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, TAGLEN, tag) ||
        !EVP_CIPHER_CTX_get_params(c, p))
        na = 0;
    EVP_CIPHER_CTX_free(c);
    return na;
}

/*
 * The lifetime counts from the key's first use in the process, not from a
 * context's key set; a context that lowers it lowers it for the key. (The
 * 'not-after' parameter is read, and set once, only to show this; sealing
 * uses the standard calls.)
 */
static void test_lifetime(void)
{
    uint64_t first, later, past;
    time_t t0 = time(NULL);
    OSSL_PARAM p[2];
    KEY k;

    key_new(&k, 0);
    first = seal_not_after(&k, 0, NULL);
    CHECK(first > (uint64_t)t0, "first record: not-after %" PRIu64, first);
    while (time(NULL) < t0 + 2) {
        struct timespec ts = {0, 100000000};

        nanosleep(&ts, NULL);
    }
    later = seal_not_after(&k, 1, NULL);
    CHECK(later == first,
          "a context keyed %ds later got not-after %" PRIu64 ", not the key's %" PRIu64,
          (int)(time(NULL) - t0), later, first);
    /* one context lowers the key's lifetime to the past: every later context is refused */
    past = (uint64_t)time(NULL) - 1;
    p[0] = OSSL_PARAM_construct_uint64(M2MSEC_REC_PARAM_NOT_AFTER, &past);
    p[1] = OSSL_PARAM_construct_end();
    CHECK(seal_not_after(&k, 2, p) == 0 && errors_have("session key expired", NULL),
          "a record past the context's not-after");
    CHECK(seal_not_after(&k, 3, NULL) == 0 && errors_have("session key expired", NULL),
          "a new context of the key sealed after the key's lifetime was lowered to the past");
}

/* ---- call shapes ---- */

static void test_shapes(void)
{
    size_t a = 2;
    unsigned char aad[AADLEN], pt[MAXREC], out[MAXREC];
    EVP_CIPHER_CTX *c;
    int n = 0, m = 0;
    REC r, want;
    KEY k;

    key_new(&k, a);
    payload(pt, 30, 4);
    make_aad(aad, 2, 4);
    /* AAD one byte at a time: the header is gathered */
    c = EVP_CIPHER_CTX_new();
    CHECK(c != NULL && EVP_EncryptInit_ex(c, g1.aad[a], NULL, k.key, k.iv), "init");
    for (size_t i = 0; i < sizeof(aad); i++)
        CHECK(EVP_EncryptUpdate(c, NULL, &n, aad + i, 1), "AAD byte %zu", i);
    CHECK(EVP_EncryptUpdate(c, r.ct, &n, pt, 30) && EVP_EncryptFinal_ex(c, r.ct + n, &m) &&
              EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, TAGLEN, r.tag),
          "seal");
    r.len = (size_t)(n + m);
    CHECK(ref_seal(&g1, &k, 2, 4, pt, 30, &want) && rec_equal(&r, &want),
          "AAD in pieces differs from the reference");
    EVP_CIPHER_CTX_free(c);
    /* data after 15 header bytes: refused */
    c = EVP_CIPHER_CTX_new();
    make_aad(aad, 2, 5);
    CHECK(c != NULL && EVP_EncryptInit_ex(c, g1.aad[a], NULL, k.key, k.iv) &&
              EVP_EncryptUpdate(c, NULL, &n, aad, 15),
          "init, 15 bytes");
    CHECK(!EVP_EncryptUpdate(c, out, &n, pt, 30) && errors_have("before the AAD header", NULL),
          "data before the header");
    CHECK(!EVP_EncryptFinal_ex(c, out, &n) && errors_have("without the record's AAD header", NULL),
          "final without the header");
    /* the same context goes on with a whole header */
    CHECK(EVP_EncryptUpdate(c, NULL, &n, aad, (int)sizeof(aad)) &&
              EVP_EncryptUpdate(c, r.ct, &n, pt, 30) && EVP_EncryptFinal_ex(c, r.ct + n, &m),
          "a record after the refusals");
    EVP_CIPHER_CTX_free(c);
    /* the 'seq' parameter is refused */
    c = EVP_CIPHER_CTX_new();
    {
        uint64_t seq = 1;
        OSSL_PARAM p[2];

        p[0] = OSSL_PARAM_construct_uint64(M2MSEC_REC_PARAM_SEQ, &seq);
        p[1] = OSSL_PARAM_construct_end();
        CHECK(c != NULL && EVP_CipherInit_ex2(c, g1.aad[a], k.key, k.iv, 0, NULL) &&
                  !EVP_CIPHER_CTX_set_params(c, p) &&
                  errors_have("read from the record's AAD", NULL),
              "'seq' was taken");
    }
    EVP_CIPHER_CTX_free(c);
    /* copying a context is refused, as for M2M-REC */
    c = EVP_CIPHER_CTX_new();
    {
        EVP_CIPHER_CTX *d = EVP_CIPHER_CTX_new();

        CHECK(c != NULL && d != NULL && EVP_CipherInit_ex2(c, g1.aad[a], k.key, k.iv, 0, NULL) &&
                  !EVP_CIPHER_CTX_copy(d, c) && errors_have("cannot be copied", NULL),
              "copy");
        EVP_CIPHER_CTX_free(d);
    }
    EVP_CIPHER_CTX_free(c);
}

/*
 * The worked example of docs/PROTOCOL.md 5.7 (its ```recaad-example block,
 * values computed there by Python's cryptography): sealed here through the
 * standard calls, the bytes must be the documented ones, and it must open.
 */
static void test_doc_example(void)
{
    char path[4096], line[512], cipher[sizeof(line)] = "";
    const char *src = getenv("M2M_SOURCE_DIR");
    unsigned char *v[7] = {NULL};
    static const char *const names[7] = {"key",        "iv",  "aad",  "plaintext",
                                         "ciphertext", "tag", "nonce"};
    long len[7] = {0};
    int in = 0, found = 0;
    FILE *f;

    CHECK(src != NULL, "M2M_SOURCE_DIR not set");
    if (src == NULL)
        return;
    snprintf(path, sizeof(path), "%s/docs/PROTOCOL.md", src);
    f = fopen(path, "r");
    CHECK(f != NULL, "cannot read %s", path);
    if (f == NULL)
        return;
    while (fgets(line, sizeof(line), f) != NULL) {
        line[strcspn(line, "\n")] = '\0';
        if (strcmp(line, "```recaad-example") == 0) {
            in = 1;
            found = 1;
            continue;
        }
        if (!in)
            continue;
        if (strcmp(line, "```") == 0)
            break;
        if (strncmp(line, "cipher ", 7) == 0) {
            snprintf(cipher, sizeof(cipher), "%s", line + 7);
            continue;
        }
        for (int i = 0; i < 7; i++) {
            size_t n = strlen(names[i]);

            if (strncmp(line, names[i], n) == 0 && line[n] == ' ')
                v[i] = OPENSSL_hexstr2buf(line + n + 1, &len[i]);
        }
    }
    fclose(f);
    CHECK(found && strcmp(cipher, M2MSEC_RECAAD_AES_128_GCM) == 0 && v[0] != NULL && len[0] == 16 &&
              v[1] != NULL && len[1] == IVLEN && v[2] != NULL && len[2] >= 16 && v[3] != NULL &&
              v[4] != NULL && len[4] == len[3] && v[5] != NULL && len[5] == TAGLEN,
          "the recaad-example block of PROTOCOL.md 5.7 is incomplete");
    if (v[0] != NULL && v[1] != NULL && v[2] != NULL && v[3] != NULL && v[4] != NULL &&
        v[5] != NULL && len[4] == len[3] && len[3] <= MAXREC && len[0] == 16 && len[1] == IVLEN) {
        EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
        unsigned char ct[MAXREC], tag[TAGLEN], pt[MAXREC];
        int n = 0, m = 0;

        CHECK(c != NULL && EVP_EncryptInit_ex(c, g1.aad[0], NULL, v[0], v[1]) &&
                  EVP_EncryptUpdate(c, NULL, &n, v[2], (int)len[2]) &&
                  EVP_EncryptUpdate(c, ct, &n, v[3], (int)len[3]) &&
                  EVP_EncryptFinal_ex(c, ct + n, &m) &&
                  EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, TAGLEN, tag),
              "seal the example");
        CHECK(n + m == len[4] && memcmp(ct, v[4], (size_t)len[4]) == 0 &&
                  memcmp(tag, v[5], TAGLEN) == 0,
              "the example record differs from PROTOCOL.md 5.7");
        EVP_CIPHER_CTX_free(c);
        c = EVP_CIPHER_CTX_new();
        CHECK(c != NULL && EVP_DecryptInit_ex(c, g1.aad[0], NULL, v[0], v[1]) &&
                  EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_TAG, TAGLEN, v[5]) &&
                  EVP_DecryptUpdate(c, NULL, &n, v[2], (int)len[2]) &&
                  EVP_DecryptUpdate(c, pt, &n, v[4], (int)len[4]) &&
                  EVP_DecryptFinal_ex(c, pt + n, &m) && memcmp(pt, v[3], (size_t)len[3]) == 0,
              "the example record does not open");
        EVP_CIPHER_CTX_free(c);
    }
    if (v[6] != NULL && v[1] != NULL && v[2] != NULL && len[6] == IVLEN && len[1] == IVLEN &&
        len[2] >= 16) {
        unsigned char nonce[IVLEN];

        memcpy(nonce, v[1], IVLEN);
        for (int i = 0; i < 8; i++)
            nonce[4 + i] ^= v[2][8 + i];
        CHECK(memcmp(nonce, v[6], IVLEN) == 0, "the example's nonce is not IV XOR seq");
    }
    for (int i = 0; i < 7; i++)
        OPENSSL_free(v[i]);
}

/*
 * The session records of PROTOCOL.md 6.6 (values computed there by an
 * independent implementation): with the epoch key material of that section
 * ("keymat = KEY || IV") and AAD = u64be(epoch) || u64be(seq) || the 11-byte
 * header (6.1), M2M-RECAAD-AES-128-GCM seals exactly the documented records
 * and opens them.
 */
static void test_session_records(void)
{
    char path[4096], line[1024];
    const char *src = getenv("M2M_SOURCE_DIR");
    unsigned char key[16], iv[IVLEN];
    int in66 = 0, have_key = 0, in_block = 0, n_rec = 0;
    FILE *f;

    if (src == NULL)
        return;
    snprintf(path, sizeof(path), "%s/docs/PROTOCOL.md", src);
    f = fopen(path, "r");
    CHECK(f != NULL, "cannot read %s", path);
    if (f == NULL)
        return;
    while (fgets(line, sizeof(line), f) != NULL) {
        char *k;

        line[strcspn(line, "\n")] = '\0';
        if (strncmp(line, "### 6.6", 7) == 0)
            in66 = 1;
        if (!in66)
            continue;
        if (!have_key && (k = strstr(line, "keymat = ")) != NULL) {
            char kh[33] = "", ivh[25] = "";

            if (sscanf(k, "keymat = %32s || %24s", kh, ivh) == 2 && unhex(key, kh, 16) &&
                unhex(iv, ivh, IVLEN))
                have_key = 1;
            continue;
        }
        if (strcmp(line, "```record-example") == 0) {
            in_block = 1;
            continue;
        }
        if (!in_block)
            continue;
        if (strcmp(line, "```") == 0)
            break;
        if (strncmp(line, "record = ", 9) == 0 && have_key) {
            char pth[600], rech[800];
            unsigned long seq;
            unsigned char pt[MAXREC], rec[11 + MAXREC + TAGLEN], aad[16 + 11], out[MAXREC];
            size_t ptlen, reclen;
            uint64_t epoch, rseq;
            EVP_CIPHER_CTX *c;
            int n = 0, m = 0, ok;

            if (sscanf(line + 9, "%lu %599s %799s", &seq, pth, rech) != 3)
                continue;
            ptlen = strcmp(pth, "(empty)") == 0 ? 0 : strlen(pth) / 2;
            reclen = strlen(rech) / 2;
            if (ptlen > MAXREC || reclen != 11 + ptlen + TAGLEN ||
                (ptlen > 0 && !unhex(pt, pth, ptlen)) || !unhex(rec, rech, reclen))
                continue;
            epoch = ((uint64_t)rec[1] << 24) | ((uint64_t)rec[2] << 16) | ((uint64_t)rec[3] << 8) |
                    rec[4];
            rseq = 0;
            for (int i = 5; i < 11; i++)
                rseq = (rseq << 8) | rec[i];
            CHECK(rseq == seq, "record %lu's header says seq %" PRIu64, seq, rseq);
            make_aad(aad, epoch, rseq);
            memcpy(aad + 16, rec, 11); /* the header is the application AAD */
            /* seal: a new context, the standard calls */
            c = EVP_CIPHER_CTX_new();
            ok = c != NULL && EVP_EncryptInit_ex(c, g1.aad[0], NULL, key, iv) &&
                 EVP_EncryptUpdate(c, NULL, &n, aad, (int)sizeof(aad)) &&
                 EVP_EncryptUpdate(c, out, &n, pt, (int)ptlen) &&
                 EVP_EncryptFinal_ex(c, out + n, &m) &&
                 EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, TAGLEN, out + ptlen);
            CHECK(ok && (size_t)(n + m) == ptlen && memcmp(out, rec + 11, ptlen + TAGLEN) == 0,
                  "session record %lu of PROTOCOL.md 6.6 sealed differently", seq);
            EVP_CIPHER_CTX_free(c);
            /* open: a new context in the other library context */
            c = EVP_CIPHER_CTX_new();
            ok = c != NULL && EVP_DecryptInit_ex(c, g2.aad[0], NULL, key, iv) &&
                 EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_TAG, TAGLEN, rec + 11 + ptlen) &&
                 EVP_DecryptUpdate(c, NULL, &n, aad, (int)sizeof(aad)) &&
                 EVP_DecryptUpdate(c, out, &n, rec + 11, (int)ptlen) &&
                 EVP_DecryptFinal_ex(c, out + n, &m) && memcmp(out, pt, ptlen) == 0;
            CHECK(ok, "session record %lu of PROTOCOL.md 6.6 does not open", seq);
            EVP_CIPHER_CTX_free(c);
            n_rec++;
        }
    }
    fclose(f);
    CHECK(have_key && n_rec >= 2, "PROTOCOL.md 6.6: key material and 2 records expected, found %d",
          n_rec);
}

/* "rec-seal ALG KEYHEX IVHEX": M2M-REC records 0..3 of epoch 9, as hex lines (ct || tag). */
static int rec_seal_main(int argc, char **argv)
{
    REC r[4];
    KEY k;
    size_t a;

    if (argc != 5 || (a = (size_t)strtoul(argv[2], NULL, 10)) >= NALGS ||
        !unhex(k.key, argv[3], algs[a].keylen) || !unhex(k.iv, argv[4], IVLEN) ||
        !inst_load(&g1, NULL))
        return 1;
    k.ai = a;
    {
        /* records of 5, 6, 7, 8 bytes: one context, lengths per record */
        EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
        uint64_t epoch = 9;
        OSSL_PARAM p[2];
        int ok;

        p[0] = OSSL_PARAM_construct_uint64(M2MSEC_REC_PARAM_EPOCH, &epoch);
        p[1] = OSSL_PARAM_construct_end();
        ok = c != NULL && EVP_CipherInit_ex2(c, g1.rec[a], k.key, k.iv, 1, p);
        for (uint64_t s = 0; ok && s < 4; s++) {
            unsigned char pt[MAXREC];
            char line[2 * (MAXREC + TAGLEN) + 1];
            int x = 0, y = 0;

            payload(pt, 5 + s, s);
            ok = EVP_EncryptUpdate(c, NULL, &x, app_aad, (int)sizeof(app_aad)) &&
                 EVP_EncryptUpdate(c, r[s].ct, &x, pt, (int)(5 + s)) &&
                 EVP_EncryptFinal_ex(c, r[s].ct + x, &y) &&
                 EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, TAGLEN, r[s].tag);
            hex(line, r[s].ct, (size_t)(x + y));
            hex(line + 2 * (x + y), r[s].tag, TAGLEN);
            if (ok)
                printf("%s\n", line);
        }
        EVP_CIPHER_CTX_free(c);
        inst_free(&g1);
        return ok ? 0 : 1;
    }
}

int main(int argc, char **argv)
{
    static const tc_test tests[] = {
        {"records equal the stock AEAD's (PROTOCOL.md 5.1)", test_reference},
        {"records equal M2M-REC's for the same key", test_same_as_rec},
        {"the worked example of PROTOCOL.md 5.7", test_doc_example},
        {"the session records of PROTOCOL.md 6.6 (format 6.1)", test_session_records},
        {"interop with M2M-REC both ways", test_interop},
        {"replay refused across contexts and library contexts", test_replay},
        {"two contexts finishing the same record: the second is refused", test_replay_race},
        {"sequence number reuse refused across contexts and library contexts", test_seq_reuse},
        {"a key encrypts under M2M-REC or M2M-RECAAD, never both", test_cross_claim},
        {"threads sealing the same sequence numbers", test_seq_threads},
        {"the policy's limits per key over all contexts", test_limits},
        {"the lifetime counts from the key's first use, per key", test_lifetime},
        {"call shapes", test_shapes},
    };
    char dir[] = "/tmp/m2m-recaad-XXXXXX";
    FILE *f;
    int rc;

    mods = getenv("M2M_MODULES");
    self_exe = argv[0];
    if (mods == NULL)
        return 1;
    if (argc > 1 && strcmp(argv[1], "rec-seal") == 0)
        return rec_seal_main(argc, argv);
    if (mkdtemp(dir) == NULL)
        return 1;
    snprintf(cnf, sizeof(cnf), "%s/openssl.cnf", dir);
    if ((f = fopen(cnf, "w")) == NULL)
        return 1;
    fprintf(f,
            "openssl_conf = openssl_init\n[openssl_init]\nproviders = provider_sect\n"
            "[provider_sect]\nm2msec = m2msec_sect\ndefault = default_sect\n"
            "[default_sect]\nactivate = 1\n[m2msec_sect]\nmodule = %s/m2msec.so\n"
            "activate = 1\nmax_records = 5\nmax_bytes = 1000\nmax_failures = 3\n",
            mods);
    fclose(f);
    /* the provider checks its section in the file OpenSSL reads by default */
    setenv("OPENSSL_CONF", cnf, 1);
    if (!inst_load(&g1, NULL) || !inst_load(&g2, NULL) || !inst_load(&gpol, cnf))
        return 1;
    rc = tc_run("test_recaad", "M2M-RECAAD through the standard AEAD calls", NULL, NULL, tests,
                sizeof(tests) / sizeof(tests[0]));
    inst_free(&g1);
    inst_free(&g2);
    inst_free(&gpol);
    unlink(cnf);
    rmdir(dir);
    return rc;
}
