/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_session_open: framed records through m2msec_session_open on a receiver
 * session with a memory store (docs/PROTOCOL.md section 6).
 *
 * LLVMFuzzerInitialize seals genuine records with sender sessions (the same
 * key, identities and cipher as the receiver) for epochs 1 and 2 and, since
 * a sender session never uses epoch 0 (its first epoch is 1), with the
 * record cipher itself for epoch 0, for each of the four ciphers, so that
 * inputs can get past authentication: they can name a sealed record,
 * change it, or give raw bytes.
 *
 * Input:
 *   u8 cfg: bits 0-1 the cipher (M2M-REC-AES-128-GCM, -AES-256-GCM,
 *           -CHACHA20-POLY1305, -AES-128-CCM); bits 2-3 replay window
 *           (default, 64, 128, 1000); bits 4-5 seq_floor_step (default, 1,
 *           2, 16); bit 6 the store starts with a state (u8 epoch mod 4,
 *           u8 floor), else with the initial state of a first start (epoch 0,
 *           floor 0); bit 7 max_records 3 (else default)
 *   then up to 48 operations, an opcode byte each (low 3 bits):
 *     0 raw record: u16 length (mod 600) + bytes
 *     1 sealed record: u8 index
 *     2 sealed record with a bit flipped: u8 index, u16 position, u8 bit
 *     3 sealed record cut or extended: u8 index, u8 new length
 *     4 clean restart (session freed and created again from the store)
 *     5 crash restart (the store refuses the save of the clean shutdown)
 *     6 the store fails the next (u8 mod 4) saves
 *     7 sealed record with its header rewritten: u8 index, u32 epoch, u16 seq
 *   bit 3 of the opcode gives an output buffer one byte too small.
 *
 * Checks, besides the sanitizers:
 *   - only genuine sealed records are ever accepted, each with its own
 *     plaintext, and no (epoch, seq) is accepted twice, across restarts too;
 *   - a record is accepted only from the current epoch (the newest
 *     accepted), a newer one, or the epoch that was current before the
 *     last change (after a restart the stored epoch is the current one
 *     until a newer one is accepted; PROTOCOL.md 6.3); the session's
 *     record count and epoch match;
 *   - after a restart nothing below the stored epoch or floor is accepted;
 *   - a refusal returns no plaintext: outlen 0 and the buffer untouched or
 *     wiped; every status is a known one, and never "internal error";
 *   - when a record is accepted the store already covers it (stored epoch
 *     above, or equal with a floor above its seq), and the stored epoch
 *     never goes down.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include "fuzz_common.h"
#include "m2msec/m2msec.h"
#include "m2msec/record.h"
#include "m2msec/session.h"

#define NCIPHERS 4
#define NEPOCHS 3
#define PER_EPOCH 6
#define NSEALED (NEPOCHS * PER_EPOCH)
#define MAX_OPS 48
#define MAX_ACCEPTED (MAX_OPS + 1)
#define OUTCAP 1024

static const char *const ciphers[NCIPHERS] = {M2MSEC_REC_AES_128_GCM, M2MSEC_REC_AES_256_GCM,
                                              M2MSEC_REC_CHACHA20_POLY1305, M2MSEC_REC_AES_128_CCM};
static const unsigned char service_key[32] = {0,  1,  2,  3,  4,  5,  6,  7,  8,  9,  10,
                                              11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21,
                                              22, 23, 24, 25, 26, 27, 28, 29, 30, 31};
#define ORIGINATOR "device-1"
#define RECEIVER "gateway-1"

/* Plaintexts: ASCII, never 0x00 or the 0xa5 filler, so a leak is visible. */
static const char *const plaintexts[PER_EPOCH] = {
    "temperature=21.5",
    "",
    "humidity=40",
    "x",
    "door=open;battery=87%;rssi=-71",
    "a somewhat longer reading, to cross a block boundary or two: 0123456789abcdef"};

typedef struct {
    unsigned char rec[128];
    size_t len;
    uint64_t epoch, seq;
    const char *pt;
} sealed;

static OSSL_LIB_CTX *libctx;
static sealed seals[NCIPHERS][NSEALED];

/* ------------------------------------------------------------------ */
/* Memory store                                                        */
/* ------------------------------------------------------------------ */

typedef struct {
    int have, locked;
    m2msec_session_state st;
    int fail_next; /* saves still to fail */
    int max_epoch_seen_set;
    uint64_t max_epoch_seen;
} mem_store;

static int mem_lock(void *arg, void **handle)
{
    mem_store *s = arg;

    FZ_CHECK(!s->locked, "a second session took the lock of a store in use");
    s->locked = 1;
    *handle = s;
    return 1;
}

static void mem_unlock(void *arg, void *handle)
{
    mem_store *s = arg;

    FZ_CHECK(s->locked && handle == s, "unlock without the lock");
    s->locked = 0;
}

static int mem_load(void *arg, void *handle, m2msec_session_state *st)
{
    mem_store *s = arg;

    FZ_CHECK(s->locked && handle == s, "load without the lock");
    if (!s->have)
        return 0;
    *st = s->st;
    return 1;
}

static int mem_save(void *arg, void *handle, const m2msec_session_state *st)
{
    mem_store *s = arg;

    FZ_CHECK(s->locked && handle == s, "save without the lock");
    if (s->fail_next > 0) {
        s->fail_next--;
        return 0;
    }
    if (s->max_epoch_seen_set)
        FZ_CHECK(st->epoch >= s->max_epoch_seen, "stored epoch went down from %llu to %llu",
                 (unsigned long long)s->max_epoch_seen, (unsigned long long)st->epoch);
    s->max_epoch_seen = st->epoch;
    s->max_epoch_seen_set = 1;
    s->st = *st;
    s->have = 1;
    return 1;
}

/* Sender store in Initialize: the sender uses the stored epoch + 1. */
static int fixed_lock(void *arg, void **handle)
{
    *handle = arg;
    return 1;
}

static void fixed_unlock(void *arg, void *handle)
{
    (void)arg;
    (void)handle;
}

static int fixed_load(void *arg, void *handle, m2msec_session_state *st)
{
    const int64_t *before = arg;

    (void)handle;
    st->epoch = (uint64_t)*before;
    st->seq_floor = 0;
    return 1;
}

static int fixed_save(void *arg, void *handle, const m2msec_session_state *st)
{
    (void)arg;
    (void)handle;
    (void)st;
    return 1;
}

/*
 * Epoch 0 with the record cipher itself (PROTOCOL.md 5 and 6): the key
 * material of 6.2 from M2M-SESSION-KDF, the 11-byte header as the AAD.
 */
static void seal_epoch0(int c)
{
    m2msec_session_key_spec spec = {0};
    unsigned char km[32 + 12];
    EVP_CIPHER *cipher = EVP_CIPHER_fetch(libctx, ciphers[c], NULL);
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    size_t keylen = cipher != NULL ? (size_t)EVP_CIPHER_get_key_length(cipher) : 0;
    uint64_t epoch = 0;
    OSSL_PARAM p[2];

    spec.key = service_key;
    spec.key_len = sizeof(service_key);
    spec.purpose = "m2msec record";
    spec.originator = ORIGINATOR;
    spec.receiver = RECEIVER;
    spec.aead = ciphers[c];
    p[0] = OSSL_PARAM_construct_uint64(M2MSEC_REC_PARAM_EPOCH, &epoch);
    p[1] = OSSL_PARAM_construct_end();
    if (ctx == NULL || keylen == 0 || keylen > 32 ||
        !m2msec_session_key_derive(libctx, &spec, km, keylen + 12) ||
        !EVP_EncryptInit_ex2(ctx, cipher, km, km + keylen, p))
        fz_fail("cannot set up %s for epoch 0", ciphers[c]);
    for (int i = 0; i < PER_EPOCH; i++) {
        sealed *x = &seals[c][i];
        size_t n = strlen(plaintexts[i]);
        int outl = 0;
        OSSL_PARAM t[2];

        memset(x->rec, 0, 11);
        x->rec[0] = 1;                 /* version; epoch 0 */
        x->rec[10] = (unsigned char)i; /* seq */
        t[0] = OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, x->rec + 11 + n, 16);
        t[1] = OSSL_PARAM_construct_end();
        if (!EVP_EncryptUpdate(ctx, NULL, &outl, x->rec, 11) ||
            !EVP_EncryptUpdate(ctx, x->rec + 11, &outl, (const unsigned char *)plaintexts[i],
                               (int)n) ||
            !EVP_EncryptFinal_ex(ctx, x->rec + 11 + n, &outl) || !EVP_CIPHER_CTX_get_params(ctx, t))
            fz_fail("sealing record %d of epoch 0 failed", i);
        x->len = 11 + n + 16;
        x->epoch = 0;
        x->seq = (uint64_t)i;
        x->pt = plaintexts[i];
    }
    OPENSSL_cleanse(km, sizeof(km));
    EVP_CIPHER_CTX_free(ctx);
    EVP_CIPHER_free(cipher);
}

static void seal_all(void)
{
    for (int c = 0; c < NCIPHERS; c++) {
        seal_epoch0(c);
        for (int e = 1; e < NEPOCHS; e++) {
            int64_t before = e - 1;
            m2msec_store store = {fixed_lock, fixed_load,    fixed_save, fixed_unlock,
                                  &before,    "fixed store", NULL};
            m2msec_session_policy pol = {0};
            m2msec_session_config cfg = {0};
            m2msec_session *s;

            pol.aead = ciphers[c];
            cfg.role = M2MSEC_SESSION_SENDER;
            cfg.libctx = libctx;
            cfg.key = service_key;
            cfg.key_len = sizeof(service_key);
            cfg.originator = ORIGINATOR;
            cfg.receiver = RECEIVER;
            cfg.policy = &pol;
            cfg.store = &store;
            s = m2msec_session_new(&cfg);
            if (s == NULL)
                fz_fail("cannot create a %s sender for epoch %d", ciphers[c], e);
            for (int i = 0; i < PER_EPOCH; i++) {
                sealed *x = &seals[c][e * PER_EPOCH + i];
                size_t n = strlen(plaintexts[i]);

                if (!m2msec_session_seal(s, (const unsigned char *)plaintexts[i], n, x->rec,
                                         sizeof(x->rec), &x->len, NULL))
                    fz_fail("sealing record %d of epoch %d failed", i, e);
                x->epoch = (uint64_t)e;
                x->seq = (uint64_t)i;
                x->pt = plaintexts[i];
            }
            m2msec_session_free(s);
        }
    }
    ERR_clear_error();
}

/* ------------------------------------------------------------------ */

typedef struct {
    mem_store store;
    m2msec_session_policy pol;
    m2msec_session *s;
    int cipher;
    /* what was loaded at the last (re)start */
    int restarted;
    m2msec_session_state loaded;
    /* every (epoch, seq) accepted so far */
    uint64_t acc_epoch[MAX_ACCEPTED], acc_seq[MAX_ACCEPTED];
    size_t nacc;
    int any_epoch, have_prev;
    uint64_t newest_epoch;  /* newest epoch accepted so far: the receiver's current */
    uint64_t prev_epoch;    /* the current one before the last change (if have_prev) */
    uint64_t since_restart; /* records accepted by the current session */
} world;

static m2msec_session *receiver_new(world *w)
{
    m2msec_store store = {mem_lock,  mem_load,       mem_save, mem_unlock,
                          &w->store, "memory store", NULL};
    m2msec_session_config cfg = {0};
    m2msec_session *s;

    cfg.role = M2MSEC_SESSION_RECEIVER;
    cfg.libctx = libctx;
    cfg.key = service_key;
    cfg.key_len = sizeof(service_key);
    cfg.originator = ORIGINATOR;
    cfg.receiver = RECEIVER;
    cfg.policy = &w->pol;
    cfg.store = &store; /* copied by the session */
    w->restarted = w->store.have;
    w->loaded = w->store.st;
    w->since_restart = 0;
    w->have_prev = 0; /* until it moves on from the stored epoch (deliver) */
    s = m2msec_session_new(&cfg);
    if (s == NULL)
        fz_fail("cannot create the receiver session");
    return s;
}

static void deliver(world *w, const unsigned char *rec, size_t len, int small)
{
    static unsigned char out[OUTCAP];
    size_t outlen = 12345, outcap = OUTCAP;
    size_t over = m2msec_session_overhead(w->s);
    m2msec_session_status st;
    int ok;

    if (small && len > over)
        outcap = len - over - 1;
    memset(out, 0xa5, sizeof(out));
    st = M2MSEC_SESSION_STATUS_COUNT;
    ok = m2msec_session_open(w->s, rec, len, out, outcap, &outlen, &st);
    FZ_CHECK((unsigned)st < M2MSEC_SESSION_STATUS_COUNT, "unknown status %d", (int)st);
    /* The return convention: 1 exactly on OK, an error queued on every refusal. */
    FZ_CHECK(ok == (st == M2MSEC_SESSION_OK), "returned %d with status '%s'", ok,
             m2msec_session_status_text(st));
    FZ_CHECK(ok || ERR_peek_error() != 0, "refused ('%s') with no error queued",
             m2msec_session_status_text(st));
    ERR_clear_error();
    /* Nothing a peer sends may look like a library failure. */
    FZ_CHECK(st != M2MSEC_SESSION_ERR_INTERNAL, "m2msec_session_open returned 'internal error'");
    fz_stat(m2msec_session_status_text(st));
    if (st != M2MSEC_SESSION_OK) {
        FZ_CHECK(outlen == 0, "status '%s' with outlen %zu", m2msec_session_status_text(st),
                 outlen);
        for (size_t i = 0; i < sizeof(out); i++)
            FZ_CHECK(out[i] == 0xa5 || out[i] == 0,
                     "status '%s' left byte %zu of the output = %02x (plaintext?)",
                     m2msec_session_status_text(st), i, out[i]);
        return;
    }
    /* Accepted: it must be one of the genuine records, byte for byte. */
    for (int i = 0; i < NSEALED; i++) {
        const sealed *x = &seals[w->cipher][i];

        if (x->len != len || memcmp(x->rec, rec, len) != 0)
            continue;
        FZ_CHECK(outlen == strlen(x->pt) && memcmp(out, x->pt, outlen) == 0,
                 "record (%llu, %llu) opened to a different plaintext",
                 (unsigned long long)x->epoch, (unsigned long long)x->seq);
        for (size_t j = 0; j < w->nacc; j++)
            FZ_CHECK(w->acc_epoch[j] != x->epoch || w->acc_seq[j] != x->seq,
                     "record (%llu, %llu) accepted twice", (unsigned long long)x->epoch,
                     (unsigned long long)x->seq);
        if (w->restarted)
            FZ_CHECK(x->epoch > w->loaded.epoch ||
                         (x->epoch == w->loaded.epoch && x->seq >= w->loaded.seq_floor),
                     "after a restart from (epoch %llu, floor %llu) record (%llu, %llu) was "
                     "accepted",
                     (unsigned long long)w->loaded.epoch, (unsigned long long)w->loaded.seq_floor,
                     (unsigned long long)x->epoch, (unsigned long long)x->seq);
        FZ_CHECK(w->store.have &&
                     (w->store.st.epoch > x->epoch ||
                      (w->store.st.epoch == x->epoch && w->store.st.seq_floor > x->seq)),
                 "record (%llu, %llu) accepted but the store holds (epoch %llu, floor %llu)",
                 (unsigned long long)x->epoch, (unsigned long long)x->seq,
                 (unsigned long long)w->store.st.epoch, (unsigned long long)w->store.st.seq_floor);
        FZ_CHECK(!w->any_epoch || x->epoch >= w->newest_epoch ||
                     (w->have_prev && x->epoch == w->prev_epoch),
                 "record of epoch %llu accepted; current epoch %llu, previous %lld",
                 (unsigned long long)x->epoch, (unsigned long long)w->newest_epoch,
                 w->have_prev ? (long long)w->prev_epoch : -1LL);
        if (!w->any_epoch || w->since_restart == 0) {
            /*
             * The first record of a (re)started receiver. The stored epoch,
             * if any, was the current one: it becomes the previous one if
             * this record is of a newer epoch.
             */
            w->have_prev = w->restarted && x->epoch > w->loaded.epoch && w->loaded.seq_floor > 0;
            w->prev_epoch = w->loaded.epoch;
            w->newest_epoch = x->epoch;
        } else if (x->epoch > w->newest_epoch) {
            w->prev_epoch = w->newest_epoch;
            w->have_prev = 1;
            w->newest_epoch = x->epoch;
        }
        w->any_epoch = 1;
        if (w->nacc < MAX_ACCEPTED) {
            w->acc_epoch[w->nacc] = x->epoch;
            w->acc_seq[w->nacc++] = x->seq;
        }
        w->since_restart++;
        {
            m2msec_session_stats stats;

            m2msec_session_get_stats(w->s, &stats);
            FZ_CHECK(stats.records == w->since_restart && stats.epoch == w->newest_epoch,
                     "stats: %llu records in epoch %llu, expected %llu in epoch %llu",
                     (unsigned long long)stats.records, (unsigned long long)stats.epoch,
                     (unsigned long long)w->since_restart, (unsigned long long)w->newest_epoch);
        }
        return;
    }
    fz_fail("a record that no sender sealed was accepted (%zu bytes)", len);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    libctx = fz_libctx_new(1); /* default: the sender's jitter draws random bytes */
    seal_all();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint64_t windows[4] = {0, 64, 128, 1000}, steps[4] = {0, 1, 2, 16};
    fz_in in = {data, size};
    uint8_t cfg = fz_u8(&in);
    world *w = calloc(1, sizeof(*w));

    if (w == NULL)
        fz_fail("out of memory");
    w->cipher = cfg & 3;
    w->pol.aead = ciphers[w->cipher];
    w->pol.replay_window = windows[(cfg >> 2) & 3];
    w->pol.seq_floor_step = steps[(cfg >> 4) & 3];
    w->pol.max_records = (cfg & 0x80) ? 3 : 0;
    w->store.have = 1; /* a first start: the state m2msec_store_init() writes, epoch 0 floor 0 */
    if (cfg & 0x40) {
        w->store.st.epoch = fz_u8(&in) % 4;
        w->store.st.seq_floor = fz_u8(&in);
        w->store.max_epoch_seen = w->store.st.epoch;
        w->store.max_epoch_seen_set = 1;
    }
    w->s = receiver_new(w);

    for (int op = 0; op < MAX_OPS && in.n > 0; op++) {
        uint8_t code = fz_u8(&in);
        int small = (code >> 3) & 1;
        unsigned char buf[640];

        switch (code & 7) {
        case 0: {
            size_t got, len = fz_u16(&in) % 600;
            const uint8_t *p = fz_bytes(&in, len, &got);

            memcpy(buf, p, got);
            deliver(w, buf, got, small);
            break;
        }
        case 1: {
            const sealed *x = &seals[w->cipher][fz_u8(&in) % NSEALED];

            memcpy(buf, x->rec, x->len);
            deliver(w, buf, x->len, small);
            break;
        }
        case 2: {
            const sealed *x = &seals[w->cipher][fz_u8(&in) % NSEALED];
            size_t pos = fz_u16(&in) % x->len;

            memcpy(buf, x->rec, x->len);
            buf[pos] ^= (unsigned char)(1u << (fz_u8(&in) & 7));
            deliver(w, buf, x->len, small);
            break;
        }
        case 3: {
            const sealed *x = &seals[w->cipher][fz_u8(&in) % NSEALED];
            size_t len = fz_u8(&in);

            memset(buf, 0x41, sizeof(buf));
            memcpy(buf, x->rec, x->len);
            deliver(w, buf, len, small);
            break;
        }
        case 4:
        case 5:
            if ((code & 7) == 5)
                w->store.fail_next = 1; /* the clean shutdown's save is lost */
            m2msec_session_free(w->s);
            w->store.fail_next = 0;
            ERR_clear_error();
            w->s = receiver_new(w);
            break;
        case 6:
            w->store.fail_next = fz_u8(&in) % 4;
            break;
        default: {
            const sealed *x = &seals[w->cipher][fz_u8(&in) % NSEALED];
            uint32_t e = fz_u32(&in);
            uint16_t q = fz_u16(&in);

            memcpy(buf, x->rec, x->len);
            for (int i = 0; i < 4; i++)
                buf[1 + i] = (unsigned char)(e >> (8 * (3 - i)));
            buf[9] = (unsigned char)(q >> 8);
            buf[10] = (unsigned char)q;
            deliver(w, buf, x->len, small);
            break;
        }
        }
        fz_errors("open");
    }
    m2msec_session_free(w->s);
    free(w);
    fz_errors("end");
    return 0;
}
