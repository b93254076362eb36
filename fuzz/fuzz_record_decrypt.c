/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_record_decrypt: raw EVP decryption with the M2M-REC-* ciphers, many
 * records against one decrypting context, so that the replay window, the
 * counters and the limits evolve (docs/PROTOCOL.md section 5).
 *
 * Input:
 *   u8 cfg: bits 0-1 cipher (AES-128-GCM, AES-256-GCM, ChaCha20-Poly1305,
 *           AES-128-CCM), bit 2 CCM with an 8-byte tag, bit 3 limits given
 *           at init (else with EVP_CIPHER_CTX_set_params after it)
 *   32 bytes key (the first keylen are used), 12 bytes static IV
 *   u8 mask of context parameters, each followed by its value when set:
 *     bit 0 replay-window u64, bit 1 max-records u16, bit 2 max-failures u16,
 *     bit 3 max-bytes u32, bit 4 not-after (i16 seconds from now),
 *     bit 5 epoch u64
 *   then up to 64 operations, an opcode byte each (low 2 bits):
 *     0 a record the harness encrypts with the stock AEAD (valid)
 *     1 a record made of fuzzer bytes (ciphertext and tag)
 *     2 a valid record with one thing changed (ciphertext, tag, AAD, the
 *       sequence number, the epoch)
 *     3 a control operation, u8 (mod 12): read the counters, set a locked
 *       parameter, re-init without or with a key, data before 'seq', copy;
 *       misuse within a record: final (CCM: update) without a tag, a tag
 *       of the wrong length, AAD after data (CCM: a tag after the AAD),
 *       encrypt re-init of a decrypting context, 'seq' of the wrong type,
 *       CCM data split over two updates
 *   a record: u8 sequence-number spec (relative to the highest accepted
 *   number, around the window's lower edge, or raw), u8 AAD length + AAD,
 *   u8 length + plaintext or ciphertext; the opcode's upper bits choose
 *   how the record is fed (tag with 'seq' or apart, AAD and data split in
 *   two updates, GCM tag given after the data).
 *
 * A reference model predicts every outcome: replays and records W or more
 * below the highest accepted one are refused before decryption, only
 * authentic records are accepted (checked with the stock AEAD of the
 * default provider), the window learns a number only after its tag
 * verified, failures and records are counted, hard limits refuse, the soft
 * limit ("rekey-needed") is exactly 80 %, locked parameters stay locked, a
 * context cannot be copied, a limit above its default is refused. Failed
 * decryptions are counted per key for the whole process (PROTOCOL.md 5.3),
 * so the model starts from the count the key already has from earlier
 * inputs. Any disagreement aborts.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "fuzz_common.h"
#include "m2msec/errors.h"
#include "m2msec/record.h"

#define IVLEN 12
#define MAX_OPS 64
#define MAX_SEEN (MAX_OPS + 1)

static OSSL_LIB_CTX *libctx;
static EVP_CIPHER *rec[4], *ref[4];

static const struct {
    const char *rec, *ref;
    size_t keylen;
    uint64_t max_records, max_bytes, max_failures;
} algs[4] = {
    {M2MSEC_REC_AES_128_GCM, "AES-128-GCM", 16, 23726566ull, 23726566ull << 14, 1ull << 36},
    {M2MSEC_REC_AES_256_GCM, "AES-256-GCM", 32, 23726566ull, 23726566ull << 14, 1ull << 36},
    {M2MSEC_REC_CHACHA20_POLY1305, "ChaCha20-Poly1305", 32, 1ull << 60, 1ull << 60, 1ull << 36},
    {M2MSEC_REC_AES_128_CCM, "AES-128-CCM", 16, 11863283ull, 11863283ull << 14, 11863283ull},
};

/* ------------------------------------------------------------------ */
/* The model                                                           */
/* ------------------------------------------------------------------ */

typedef struct {
    int alg, ccm, taglen;
    unsigned char key[32], iv[IVLEN];
    uint64_t epoch;
    uint64_t window; /* W */
    uint64_t max_records, max_bytes, max_failures, not_after;
    uint64_t records, bytes, failures;
    int started, any;
    int fuzzy;          /* not-after too close to now to predict */
    int user_not_after; /* not-after was set: time may count for the soft limit */
    uint64_t highest;
    uint64_t seen[MAX_SEEN];
    size_t nseen;
} model;

static uint64_t now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec;
}

static int was_accepted(const model *m, uint64_t seq)
{
    for (size_t i = 0; i < m->nseen; i++)
        if (m->seen[i] == seq)
            return 1;
    return 0;
}

static int expired(const model *m)
{
    return now_s() >= m->not_after || m->records >= m->max_records ||
           m->failures >= m->max_failures;
}

/* The verdict on 'seq' before any decryption: 0 ok, else the m2msec reason. */
static int seq_verdict(const model *m, uint64_t seq)
{
    if (expired(m))
        return M2MSEC_R_KEY_EXPIRED;
    if (m->any && seq <= m->highest) {
        if (m->highest - seq >= m->window)
            return M2MSEC_R_OUTSIDE_WINDOW;
        if (was_accepted(m, seq))
            return M2MSEC_R_REPLAYED_RECORD;
    }
    return 0;
}

static int last_reason(void)
{
    return ERR_GET_REASON(ERR_peek_last_error());
}

static int soft(uint64_t used, uint64_t max)
{
    return (unsigned __int128)used * 5 >= (unsigned __int128)max * 4;
}

/* ------------------------------------------------------------------ */
/* The reference AEAD (stock OpenSSL, default provider)                */
/* ------------------------------------------------------------------ */

static void nonce_of(const model *m, uint64_t seq, unsigned char nonce[IVLEN])
{
    memcpy(nonce, m->iv, IVLEN);
    for (int i = 0; i < 8; i++)
        nonce[IVLEN - 1 - i] ^= (unsigned char)(seq >> (8 * i));
}

static size_t full_aad(uint64_t epoch, uint64_t seq, const unsigned char *aad, size_t aadlen,
                       unsigned char *out)
{
    for (int i = 0; i < 8; i++) {
        out[i] = (unsigned char)(epoch >> (8 * (7 - i)));
        out[8 + i] = (unsigned char)(seq >> (8 * (7 - i)));
    }
    if (aadlen > 0)
        memcpy(out + 16, aad, aadlen);
    return 16 + aadlen;
}

/* Encrypt (enc = 1: fills ct and tag) or check (enc = 0: fills pt; returns 1 if authentic). */
static int ref_aead(const model *m, int enc, uint64_t epoch, uint64_t seq, const unsigned char *aad,
                    size_t aadlen, const unsigned char *in, size_t len, unsigned char *out,
                    unsigned char *tag)
{
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    unsigned char nonce[IVLEN], a[16 + 256], sink[1];
    static const unsigned char none[1];
    size_t alen = full_aad(epoch, seq, aad, aadlen, a);
    int n = 0, ok;

    nonce_of(m, seq, nonce);
    if (c == NULL || !EVP_CipherInit_ex2(c, ref[m->alg], NULL, NULL, enc, NULL))
        fz_fail("reference cipher init failed");
    if (m->ccm) {
        if (EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_IVLEN, IVLEN, NULL) <= 0 ||
            EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_TAG, m->taglen, enc ? NULL : tag) <= 0)
            fz_fail("reference CCM setup failed");
    }
    if (!EVP_CipherInit_ex2(c, NULL, m->key, nonce, enc, NULL))
        fz_fail("reference cipher key/nonce failed");
    if (m->ccm && !EVP_CipherUpdate(c, NULL, &n, NULL, (int)len))
        fz_fail("reference CCM length failed");
    if (!EVP_CipherUpdate(c, NULL, &n, a, (int)alen))
        fz_fail("reference AAD failed");
    if (!m->ccm && !enc &&
        EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_TAG, m->taglen, (void *)tag) <= 0)
        fz_fail("reference set tag failed");
    ok = EVP_CipherUpdate(c, len == 0 ? sink : out, &n, len == 0 ? none : in, (int)len);
    if (!m->ccm)
        ok = ok && EVP_CipherFinal_ex(c, sink, &n);
    else if (!ok && enc)
        fz_fail("reference CCM encryption failed");
    if (enc) {
        if (!m->ccm && !ok)
            fz_fail("reference encryption failed");
        if (EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, m->taglen, tag) <= 0)
            fz_fail("reference get tag failed");
    }
    EVP_CIPHER_CTX_free(c);
    ERR_clear_error();
    return ok;
}

/* ------------------------------------------------------------------ */
/* Feeding one record to the context under test                        */
/* ------------------------------------------------------------------ */

typedef struct {
    uint64_t seq;
    const unsigned char *aad;
    size_t aadlen;
    const unsigned char *ct;
    size_t ctlen;
    unsigned char tag[16];
    /* reference */
    int authentic;
    unsigned char pt[256];
} record;

#define ST_TAG_WITH_SEQ 0x04
#define ST_SPLIT_AAD 0x08
#define ST_SPLIT_DATA 0x10
#define ST_TAG_LATE 0x20

static int set_u64(EVP_CIPHER_CTX *ctx, const char *name, uint64_t v)
{
    OSSL_PARAM p[2];

    p[0] = OSSL_PARAM_construct_uint64(name, &v);
    p[1] = OSSL_PARAM_construct_end();
    return EVP_CIPHER_CTX_set_params(ctx, p);
}

static int set_tag(EVP_CIPHER_CTX *ctx, const unsigned char *tag, size_t taglen)
{
    OSSL_PARAM p[2];

    p[0] = OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, (void *)tag, taglen);
    p[1] = OSSL_PARAM_construct_end();
    return EVP_CIPHER_CTX_set_params(ctx, p);
}

/* One record through the context, checked against the model. */
static void feed(EVP_CIPHER_CTX *ctx, model *m, const record *r, unsigned style)
{
    OSSL_PARAM p[3];
    unsigned char out[256 + 16], fin[16];
    int n = 0, ok, want, late = !m->ccm && (style & ST_TAG_LATE);
    uint64_t seq = r->seq;
    size_t done = 0;

    /* 1. the sequence number (and the tag), checked before any decryption */
    want = seq_verdict(m, seq);
    p[0] = OSSL_PARAM_construct_uint64(M2MSEC_REC_PARAM_SEQ, &seq);
    p[1] = OSSL_PARAM_construct_end();
    if ((style & ST_TAG_WITH_SEQ) && !late) {
        p[1] = OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, (void *)r->tag,
                                                 (size_t)m->taglen);
        p[2] = OSSL_PARAM_construct_end();
    }
    ok = EVP_CIPHER_CTX_set_params(ctx, p);
    if (!m->fuzzy) {
        FZ_CHECK(ok == (want == 0), "seq %llu: expected %s, got %s (reason %d)",
                 (unsigned long long)seq, want ? "refusal" : "acceptance",
                 ok ? "acceptance" : "refusal", last_reason());
        FZ_CHECK(ok || last_reason() == want, "seq %llu refused with reason %d, expected %d",
                 (unsigned long long)seq, last_reason(), want);
    }
    m->started = 1;
    if (!ok) {
        fz_stat(want == M2MSEC_R_KEY_EXPIRED       ? "seq refused: expired"
                : want == M2MSEC_R_OUTSIDE_WINDOW  ? "seq refused: outside window"
                : want == M2MSEC_R_REPLAYED_RECORD ? "seq refused: replay"
                                                   : "seq refused: other");
        return;
    }
    if (!(style & ST_TAG_WITH_SEQ) && !late)
        FZ_CHECK(set_tag(ctx, r->tag, (size_t)m->taglen), "setting the tag after 'seq' failed");

    /* 2. AAD */
    if (r->aadlen > 0) {
        size_t half = (style & ST_SPLIT_AAD) ? r->aadlen / 2 : r->aadlen;

        FZ_CHECK(EVP_DecryptUpdate(ctx, NULL, &n, r->aad, (int)half), "AAD update failed");
        if (half < r->aadlen)
            FZ_CHECK(EVP_DecryptUpdate(ctx, NULL, &n, r->aad + half, (int)(r->aadlen - half)),
                     "second AAD update failed");
    }

    /* 3. data: the byte limit, then (CCM) verification */
    if (r->ctlen > 0) {
        size_t parts = (!m->ccm && (style & ST_SPLIT_DATA) && r->ctlen > 1) ? 2 : 1;

        for (size_t i = 0; i < parts; i++) {
            size_t len = parts == 1 ? r->ctlen : i == 0 ? r->ctlen / 2 : r->ctlen - r->ctlen / 2;
            int over = len > m->max_bytes - m->bytes, auth_fail;

            ok = EVP_DecryptUpdate(ctx, out + done, &n, r->ct + done, (int)len);
            if (over) {
                FZ_CHECK(!ok && last_reason() == M2MSEC_R_KEY_EXPIRED,
                         "data past the byte limit was not refused as expired");
                fz_stat("data refused: byte limit");
                return;
            }
            m->bytes += len;
            auth_fail = m->ccm && !r->authentic;
            if (auth_fail) {
                FZ_CHECK(!ok && last_reason() == M2MSEC_R_AUTH_FAILED,
                         "CCM: a forged record was not refused at its update (seq %llu)",
                         (unsigned long long)seq);
                m->failures++;
                fz_stat("refused: authentication");
                return;
            }
            FZ_CHECK(ok, "data update failed (reason %d)", last_reason());
            done += (size_t)n;
        }
    }
    if (late)
        FZ_CHECK(set_tag(ctx, r->tag, (size_t)m->taglen), "setting the tag before final failed");

    /* 4. final: tag check (GCM, ChaCha), window update */
    ok = EVP_DecryptFinal_ex(ctx, fin, &n);
    if (!r->authentic) {
        FZ_CHECK(!ok, "a forged record was accepted (seq %llu)", (unsigned long long)seq);
        FZ_CHECK(last_reason() == M2MSEC_R_AUTH_FAILED, "forged record: reason %d, expected %d",
                 last_reason(), M2MSEC_R_AUTH_FAILED);
        m->failures++;
        fz_stat("refused: authentication");
        return;
    }
    FZ_CHECK(ok, "an authentic record was refused at final (seq %llu, reason %d)",
             (unsigned long long)seq, last_reason());
    FZ_CHECK(done == r->ctlen && (r->ctlen == 0 || memcmp(out, r->pt, r->ctlen) == 0),
             "decrypted plaintext differs from the reference");
    FZ_CHECK(!was_accepted(m, seq), "seq %llu accepted twice", (unsigned long long)seq);
    if (m->nseen < MAX_SEEN)
        m->seen[m->nseen++] = seq;
    if (!m->any || seq > m->highest)
        m->highest = seq;
    m->any = 1;
    m->records++;
    fz_stat("record accepted");
}

static uint64_t pick_seq(fz_in *in, const model *m)
{
    uint8_t s = fz_u8(in);
    uint64_t h = m->any ? m->highest : 0;

    switch (s >> 6) {
    case 0: /* at or just above the highest */
        return h + (s & 63);
    case 1: /* around the lower edge of the window */
        return h - m->window + (s & 63) - 16;
    case 2:
        return fz_u64(in);
    default:
        return fz_u16(in);
    }
}

/* AAD and payload of a record (short or empty at the end of the input). */
static void read_body(fz_in *in, const unsigned char **aad, size_t *aadlen,
                      const unsigned char **data, size_t *len)
{
    *aad = fz_bytes(in, fz_u8(in), aadlen);
    *data = fz_bytes(in, fz_u8(in), len);
}

static void check_counters(EVP_CIPHER_CTX *ctx, const model *m)
{
    uint64_t records = 0, bytes = 0, failures = 0, window = 0;
    int rekey = -1, exp = -1;
    OSSL_PARAM p[7];

    p[0] = OSSL_PARAM_construct_uint64(M2MSEC_REC_PARAM_RECORDS, &records);
    p[1] = OSSL_PARAM_construct_uint64(M2MSEC_REC_PARAM_BYTES, &bytes);
    p[2] = OSSL_PARAM_construct_uint64(M2MSEC_REC_PARAM_FAILURES, &failures);
    p[3] = OSSL_PARAM_construct_uint64(M2MSEC_REC_PARAM_REPLAY_WINDOW, &window);
    p[4] = OSSL_PARAM_construct_int(M2MSEC_REC_PARAM_REKEY_NEEDED, &rekey);
    p[5] = OSSL_PARAM_construct_int(M2MSEC_REC_PARAM_EXPIRED, &exp);
    p[6] = OSSL_PARAM_construct_end();
    FZ_CHECK(EVP_CIPHER_CTX_get_params(ctx, p), "reading the counters failed");
    FZ_CHECK(records == m->records && bytes == m->bytes && failures == m->failures,
             "counters records/bytes/failures = %llu/%llu/%llu, model %llu/%llu/%llu",
             (unsigned long long)records, (unsigned long long)bytes, (unsigned long long)failures,
             (unsigned long long)m->records, (unsigned long long)m->bytes,
             (unsigned long long)m->failures);
    if (m->started)
        FZ_CHECK(window == m->window, "replay-window reads %llu, model %llu",
                 (unsigned long long)window, (unsigned long long)m->window);
    if (!m->fuzzy) {
        int want_soft = soft(m->records, m->max_records) || soft(m->bytes, m->max_bytes) ||
                        soft(m->failures, m->max_failures);

        FZ_CHECK(exp == expired(m), "expired reads %d, model %d", exp, expired(m));
        /* Time counts too; it can only add to the soft limit. */
        FZ_CHECK(rekey == want_soft || (rekey == 1 && m->user_not_after),
                 "rekey-needed reads %d, model %d (records %llu/%llu, bytes %llu/%llu, "
                 "failures %llu/%llu)",
                 rekey, want_soft, (unsigned long long)m->records,
                 (unsigned long long)m->max_records, (unsigned long long)m->bytes,
                 (unsigned long long)m->max_bytes, (unsigned long long)m->failures,
                 (unsigned long long)m->max_failures);
    }
}

/* Start a record with a fresh number; 0 if the model says it is refused (then checked). */
static int start_record(EVP_CIPHER_CTX *ctx, model *m, uint64_t seq)
{
    int want = seq_verdict(m, seq), ok = set_u64(ctx, M2MSEC_REC_PARAM_SEQ, seq);

    if (!m->fuzzy)
        FZ_CHECK(ok == (want == 0) && (ok || last_reason() == want),
                 "misuse: seq %llu gave %d (reason %d), model %d", (unsigned long long)seq, ok,
                 last_reason(), want);
    m->started = 1;
    return ok;
}

static void expect_refusal(int ok, int reason, const char *what)
{
    FZ_CHECK(!ok, "%s was not refused", what);
    FZ_CHECK(last_reason() == reason, "%s: reason %d, expected %d", what, last_reason(), reason);
    fz_stat(what);
}

/* API misuse inside a record: refused, and the model says what it costs. */
static void misuse(EVP_CIPHER_CTX *ctx, model *m, int which)
{
    static const unsigned char zero[16], data[8] = "payload";
    unsigned char out[16];
    uint64_t seq = m->any ? m->highest + 1 : 0;
    int n = 0;

    if (which == 10) { /* 'seq' of the wrong type: nothing happens */
        OSSL_PARAM p[2];

        p[0] = OSSL_PARAM_construct_octet_string(M2MSEC_REC_PARAM_SEQ, out, 8);
        p[1] = OSSL_PARAM_construct_end();
        expect_refusal(EVP_CIPHER_CTX_set_params(ctx, p), M2MSEC_R_INVALID_PARAMETER,
                       "misuse: seq as an octet string");
        return;
    }
    if (which == 11 && !m->ccm)
        return;
    if (!start_record(ctx, m, seq))
        return;
    switch (which) {
    case 6:
        if (m->ccm)
            expect_refusal(EVP_DecryptUpdate(ctx, out, &n, data, 4), M2MSEC_R_BAD_STATE,
                           "misuse: CCM data without a tag");
        else
            expect_refusal(EVP_DecryptFinal_ex(ctx, out, &n), M2MSEC_R_BAD_STATE,
                           "misuse: final without a tag");
        break;
    case 7:
        expect_refusal(set_tag(ctx, zero, (size_t)m->taglen - 1), M2MSEC_R_INVALID_PARAMETER,
                       "misuse: tag of the wrong length");
        break;
    case 8:
        FZ_CHECK(set_tag(ctx, zero, (size_t)m->taglen), "misuse: setting a tag failed");
        if (m->ccm) {
            FZ_CHECK(EVP_DecryptUpdate(ctx, NULL, &n, data, 4), "misuse: CCM AAD failed");
            expect_refusal(set_tag(ctx, zero, (size_t)m->taglen), M2MSEC_R_BAD_STATE,
                           "misuse: CCM tag after the AAD");
        } else {
            int over = 4 > m->max_bytes - m->bytes, ok = EVP_DecryptUpdate(ctx, out, &n, data, 4);

            if (over) {
                expect_refusal(ok, M2MSEC_R_KEY_EXPIRED, "misuse: data past the byte limit");
                break;
            }
            FZ_CHECK(ok, "misuse: data update failed");
            m->bytes += 4;
            expect_refusal(EVP_DecryptUpdate(ctx, NULL, &n, data, 4), M2MSEC_R_BAD_STATE,
                           "misuse: AAD after data");
        }
        break;
    case 9:
        expect_refusal(EVP_EncryptInit_ex2(ctx, NULL, NULL, NULL, NULL), M2MSEC_R_BAD_STATE,
                       "misuse: decrypting context re-initialised to encrypt");
        FZ_CHECK(EVP_DecryptInit_ex2(ctx, NULL, NULL, NULL, NULL),
                 "misuse: back to decrypting failed");
        break;
    default: { /* 11, CCM: the first half is taken for the whole record, and fails */
        int over = 4 > m->max_bytes - m->bytes;

        FZ_CHECK(set_tag(ctx, zero, (size_t)m->taglen), "misuse: setting a tag failed");
        if (over) {
            expect_refusal(EVP_DecryptUpdate(ctx, out, &n, data, 4), M2MSEC_R_KEY_EXPIRED,
                           "misuse: data past the byte limit");
            break;
        }
        expect_refusal(EVP_DecryptUpdate(ctx, out, &n, data, 4), M2MSEC_R_AUTH_FAILED,
                       "misuse: CCM data split, first part");
        m->bytes += 4;
        m->failures++;
        expect_refusal(EVP_DecryptUpdate(ctx, out, &n, data + 4, 4), M2MSEC_R_BAD_STATE,
                       "misuse: CCM data split, second part");
        break;
    }
    }
}

static void control(fz_in *in, EVP_CIPHER_CTX *ctx, model *m)
{
    uint8_t which = fz_u8(in) % 12;

    if (which >= 6) {
        misuse(ctx, m, which);
        /* A re-init without key or IV abandons whatever record the misuse left open. */
        FZ_CHECK(EVP_DecryptInit_ex2(ctx, NULL, NULL, NULL, NULL), "re-init after misuse failed");
        ERR_clear_error();
        return;
    }
    switch (which) {
    case 0:
        check_counters(ctx, m);
        break;
    case 1: { /* limits and the window are locked from the first record on */
        uint64_t w = 64 + fz_u16(in) % 1024;
        int ok = set_u64(ctx, M2MSEC_REC_PARAM_REPLAY_WINDOW, w);

        if (m->started) {
            FZ_CHECK(!ok && last_reason() == M2MSEC_R_BAD_STATE,
                     "replay-window changed after the first record");
        } else {
            FZ_CHECK(ok, "replay-window %llu refused before the first record",
                     (unsigned long long)w);
            m->window = w;
        }
        break;
    }
    case 2: /* a re-init without key or IV keeps everything */
        FZ_CHECK(EVP_DecryptInit_ex2(ctx, NULL, NULL, NULL, NULL),
                 "re-init without key and IV failed");
        break;
    case 3: { /* its own key again: no change (PROTOCOL.md 5.6); another key: refused once started
               */
        unsigned char other[sizeof(m->key)];
        int ok = EVP_DecryptInit_ex2(ctx, NULL, m->key, NULL, NULL);

        FZ_CHECK(ok, "re-init with the context's own key refused (started %d)", m->started);
        ERR_clear_error();
        memcpy(other, m->key, sizeof(other));
        other[0] ^= 0x01;
        ok = EVP_DecryptInit_ex2(ctx, NULL, other, NULL, NULL);
        OPENSSL_cleanse(other, sizeof(other));
        FZ_CHECK(ok == !m->started, "re-init with another key: %d, started %d", ok, m->started);
        if (ok) { /* not started: the context now has the other key; put its own back */
            FZ_CHECK(EVP_DecryptInit_ex2(ctx, NULL, m->key, NULL, NULL),
                     "re-init with the original key before the first record refused");
        }
        break;
    }
    case 4: { /* data before 'seq': refused, nothing changes but the start */
        unsigned char out[8];
        int n = 0;

        m->started = 1;
        FZ_CHECK(!EVP_DecryptUpdate(ctx, out, &n, (const unsigned char *)"12345678", 8) &&
                     last_reason() == M2MSEC_R_BAD_STATE,
                 "a record without 'seq' was not refused as out of order");
        break;
    }
    default: {
        EVP_CIPHER_CTX *copy = EVP_CIPHER_CTX_new();

        FZ_CHECK(copy != NULL && !EVP_CIPHER_CTX_copy(copy, ctx),
                 "a record context could be copied");
        EVP_CIPHER_CTX_free(copy);
        break;
    }
    }
    ERR_clear_error();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    libctx = fz_libctx_new(1);
    for (int i = 0; i < 4; i++) {
        rec[i] = EVP_CIPHER_fetch(libctx, algs[i].rec, "provider=m2msec");
        ref[i] = EVP_CIPHER_fetch(libctx, algs[i].ref, "provider=default");
        if (rec[i] == NULL || ref[i] == NULL)
            fz_fail("cannot fetch %s / %s", algs[i].rec, algs[i].ref);
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_in in = {data, size};
    uint8_t cfg = fz_u8(&in), mask;
    model m;
    EVP_CIPHER_CTX *ctx;
    OSSL_PARAM p[8], *pp = p;
    uint64_t window = 0, maxr = 0, maxf = 0, maxb = 0, not_after = 0, epoch = 0;
    size_t taglen;
    int ok, at_init = (cfg >> 3) & 1, window_ok, limits_ok;

    fz_stat("inputs");
    memset(&m, 0, sizeof(m));
    m.alg = cfg & 3;
    m.ccm = m.alg == 3;
    m.taglen = m.ccm && (cfg & 4) ? 8 : 16;
    fz_copy(&in, m.key, 32);
    fz_copy(&in, m.iv, IVLEN);
    mask = fz_u8(&in);
    if (mask & 1) {
        window = fz_u64(&in);
        *pp++ = OSSL_PARAM_construct_uint64(M2MSEC_REC_PARAM_REPLAY_WINDOW, &window);
    }
    if (mask & 2) {
        maxr = fz_u16(&in);
        *pp++ = OSSL_PARAM_construct_uint64(M2MSEC_REC_PARAM_MAX_RECORDS, &maxr);
    }
    if (mask & 4) {
        maxf = fz_u16(&in);
        *pp++ = OSSL_PARAM_construct_uint64(M2MSEC_REC_PARAM_MAX_FAILURES, &maxf);
    }
    if (mask & 8) {
        maxb = fz_u32(&in);
        *pp++ = OSSL_PARAM_construct_uint64(M2MSEC_REC_PARAM_MAX_BYTES, &maxb);
    }
    if (mask & 16) {
        not_after = now_s() + (uint64_t)(int64_t)(int16_t)fz_u16(&in);
        *pp++ = OSSL_PARAM_construct_uint64(M2MSEC_REC_PARAM_NOT_AFTER, &not_after);
    }
    if (mask & 32) {
        epoch = fz_u64(&in);
        *pp++ = OSSL_PARAM_construct_uint64(M2MSEC_REC_PARAM_EPOCH, &epoch);
    }
    *pp = OSSL_PARAM_construct_end();
    window_ok = !(mask & 1) || (window >= 64 && window <= 32768);

    /* The model of the context's settings: a limit above its default is refused (0: default). */
    m.epoch = epoch;
    m.window = (mask & 1) ? window : 256;
    {
        uint64_t f = m.taglen == 8 ? 1ull << 13 : algs[m.alg].max_failures;

        limits_ok = maxr <= algs[m.alg].max_records && maxb <= algs[m.alg].max_bytes && maxf <= f &&
                    (!(mask & 16) || not_after <= now_s() + 86400);
        m.max_records = maxr != 0 ? maxr : algs[m.alg].max_records;
        m.max_bytes = maxb != 0 ? maxb : algs[m.alg].max_bytes;
        m.max_failures = maxf != 0 ? maxf : f;
    }
    m.not_after = (mask & 16) ? not_after : UINT64_MAX;
    m.user_not_after = (mask & 16) != 0;
    if (mask & 16) {
        uint64_t t = now_s();

        m.fuzzy = not_after + 2 >= t && not_after <= t + 2;
    }

    ctx = EVP_CIPHER_CTX_new();
    if (ctx == NULL)
        fz_fail("out of memory");
    taglen = (size_t)m.taglen;
    /* The tag length goes before the key (CCM), so always with the init. */
    {
        OSSL_PARAM ip[9], *ipp = ip;

        if (m.ccm)
            *ipp++ = OSSL_PARAM_construct_size_t(OSSL_CIPHER_PARAM_AEAD_TAGLEN, &taglen);
        if (at_init)
            for (OSSL_PARAM *q = p; q->key != NULL; q++)
                *ipp++ = *q;
        *ipp = OSSL_PARAM_construct_end();
        ok = EVP_DecryptInit_ex2(ctx, rec[m.alg], m.key, m.iv, ip);
    }
    if (at_init) {
        FZ_CHECK(ok == (window_ok && limits_ok), "init with replay-window %llu, limits %s: %d",
                 (unsigned long long)window, limits_ok ? "ok" : "above a default", ok);
    } else {
        FZ_CHECK(ok, "plain init failed");
        ok = EVP_CIPHER_CTX_set_params(ctx, p);
        FZ_CHECK(ok == (window_ok && limits_ok),
                 "set_params with replay-window %llu, limits %s: %d", (unsigned long long)window,
                 limits_ok ? "ok" : "above a default", ok);
    }
    if (!ok) {
        fz_stat(limits_ok ? "refused: replay-window" : "refused: limit above its default");
        goto end;
    }
    {
        /* The key's failed decryptions so far in this process (earlier inputs, same key). */
        OSSL_PARAM fp[2];

        fp[0] = OSSL_PARAM_construct_uint64(M2MSEC_REC_PARAM_FAILURES, &m.failures);
        fp[1] = OSSL_PARAM_construct_end();
        FZ_CHECK(EVP_CIPHER_CTX_get_params(ctx, fp), "reading the key's failures failed");
    }
    if (m.not_after == UINT64_MAX)
        m.not_after = now_s() + 86400; /* policy max_lifetime from key-set time */
    ERR_clear_error();

    for (int op = 0; op < MAX_OPS && in.n > 0; op++) {
        uint8_t code = fz_u8(&in);
        record r;
        const unsigned char *aad, *body;
        size_t aadlen, len;
        unsigned char ct[256];

        memset(&r, 0, sizeof(r));
        switch (code & 3) {
        case 0:
        case 2: { /* valid, or valid and then changed */
            uint64_t enc_epoch = m.epoch, enc_seq;

            r.seq = enc_seq = pick_seq(&in, &m);
            read_body(&in, &aad, &aadlen, &body, &len);
            ref_aead(&m, 1, m.epoch, r.seq, aad, aadlen, body, len, ct, r.tag);
            if ((code & 3) == 2) {
                uint8_t what = fz_u8(&in), pos = fz_u8(&in),
                        bit = (uint8_t)(1u << (fz_u8(&in) & 7));

                switch (what % 5) {
                case 0:
                    if (len > 0)
                        ct[pos % len] ^= bit;
                    break;
                case 1:
                    r.tag[pos % m.taglen] ^= bit;
                    break;
                case 2:
                    if (aadlen > 0) {
                        static unsigned char a2[256];

                        memcpy(a2, aad, aadlen);
                        a2[pos % aadlen] ^= bit;
                        aad = a2;
                    }
                    break;
                case 3:
                    r.seq ^= (uint64_t)bit << (8 * (pos % 8));
                    break;
                default: /* encrypted under another epoch */
                    enc_epoch ^= (uint64_t)bit << (8 * (pos % 8));
                    ref_aead(&m, 1, enc_epoch, enc_seq, aad, aadlen, body, len, ct, r.tag);
                    break;
                }
            }
            r.aad = aad;
            r.aadlen = aadlen;
            r.ct = ct;
            r.ctlen = len;
            break;
        }
        case 1:
            r.seq = pick_seq(&in, &m);
            read_body(&in, &aad, &aadlen, &body, &len);
            r.aad = aad;
            r.aadlen = aadlen;
            memcpy(ct, body, len);
            r.ct = ct;
            r.ctlen = len;
            fz_copy(&in, r.tag, (size_t)m.taglen);
            break;
        default:
            control(&in, ctx, &m);
            continue;
        }
        /* Is it authentic? The reference decides, whatever was changed. */
        r.authentic = ref_aead(&m, 0, m.epoch, r.seq, r.aad, r.aadlen, r.ct, r.ctlen, r.pt, r.tag);
        feed(ctx, &m, &r, code);
        ERR_clear_error();
    }
    check_counters(ctx, &m);
end:
    EVP_CIPHER_CTX_free(ctx);
    fz_errors("end");
    return 0;
}
