/* SPDX-License-Identifier: Apache-2.0 */
/* m2msec provider: the process-wide state of M2M-RECAAD keys (see record_key_state.h). */
#include <pthread.h>
#include <string.h>
#include <openssl/crypto.h>

#include "errors.h"
#include "fork_guard.h"
#include "record_key_state.h"
#include "replay_window.h"

/* One direction of a key: its limits and usage, set up at its first record. */
typedef struct {
    int used;
    M2M_LIMITS lim;
} KS_HALF;

struct m2m_key_state_st {
    M2M_KEY_FP fp;
    uint64_t fork_id; /* the process that created the entry */
    uint64_t start;   /* the key's first use in the process (seconds) */
    KS_HALF enc, dec;
    int enc_claimed; /* claimed in the key registry (first encrypting use) */
    int epoch_bound; /* encrypting: the epoch of the key's first record */
    uint64_t epoch;
    uint64_t next_seq; /* encrypting: the lowest seq still usable */
    M2M_REPLAY win;    /* decrypting: allocated at the key's first decrypting record */
};

/*
 * Module-level state, one per process (m2msec.so is linked -z nodelete);
 * never freed while the process lives.
 */
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static int g_ready;
static M2M_KEY_STATE **g_slots; /* open addressing, at most 3/4 full */
static size_t g_nslots, g_used;

/* A fork while another thread holds the lock: hold it across the fork (see key_registry.c). */
static void atfork_prepare(void)
{
    pthread_mutex_lock(&g_lock);
}

static void atfork_release(void)
{
    pthread_mutex_unlock(&g_lock);
}

static void init_once(void)
{
    g_ready = pthread_atfork(atfork_prepare, atfork_release, atfork_release) == 0;
}

static int lock(void)
{
    if (pthread_once(&g_once, init_once) == 0 && g_ready && pthread_mutex_lock(&g_lock) == 0)
        return 1;
    M2M_RAISE(M2MSEC_R_CRYPTO_FAILED, "cannot lock the process-wide record key state");
    return 0;
}

static void unlock(void)
{
    pthread_mutex_unlock(&g_lock);
}

static size_t slot_of(const M2M_KEY_FP *fp, size_t n)
{
    size_t h;

    memcpy(&h, fp->b, sizeof(h));
    return h & (n - 1);
}

static M2M_KEY_STATE *find(const M2M_KEY_FP *fp)
{
    if (g_nslots == 0)
        return NULL;
    for (size_t i = slot_of(fp, g_nslots);; i = (i + 1) & (g_nslots - 1)) {
        M2M_KEY_STATE *k = g_slots[i];

        if (k == NULL || memcmp(k->fp.b, fp->b, M2M_KEY_FP_LEN) == 0)
            return k;
    }
}

static void insert(M2M_KEY_STATE **slots, size_t n, M2M_KEY_STATE *k)
{
    size_t i = slot_of(&k->fp, n);

    while (slots[i] != NULL)
        i = (i + 1) & (n - 1);
    slots[i] = k;
}

/* Under the lock: a new entry, or NULL (raised) when full or out of memory. */
static M2M_KEY_STATE *create(const M2M_KEY_FP *fp, const char *alg)
{
    M2M_KEY_STATE *k;

    if (g_used >= M2M_KEYSTATE_MAX) {
        M2M_RAISE(M2MSEC_R_KEY_EXPIRED,
                  "%s: this process already holds the state of %u keys, the most it keeps; a "
                  "new key is refused (an old one is never forgotten)",
                  alg, M2M_KEYSTATE_MAX);
        return NULL;
    }
    if (g_nslots == 0 || (g_used + 1) * 4 > g_nslots * 3) {
        size_t n = g_nslots == 0 ? 64 : g_nslots * 2;
        M2M_KEY_STATE **s = OPENSSL_zalloc(n * sizeof(*s));

        if (s == NULL)
            goto oom;
        for (size_t i = 0; i < g_nslots; i++)
            if (g_slots[i] != NULL)
                insert(s, n, g_slots[i]);
        OPENSSL_free(g_slots);
        g_slots = s;
        g_nslots = n;
    }
    if ((k = OPENSSL_zalloc(sizeof(*k))) == NULL)
        goto oom;
    k->fp = *fp;
    k->fork_id = m2m_fork_id();
    k->start = m2m_now_precise();
    insert(g_slots, g_nslots, k);
    g_used++;
    return k;
oom:
    M2M_RAISE(M2MSEC_R_MALLOC_FAILURE, "%s: out of memory in the record key state", alg);
    return NULL;
}

static int forked(const M2M_KEY_STATE *k, const char *alg)
{
    if (m2m_fork_same(k->fork_id))
        return 0;
    M2M_RAISE(M2MSEC_R_FORKED,
              "%s: this key was first used by the parent of this process, whose state the "
              "parent keeps using (nonces would repeat, replays be accepted); use a new key",
              alg);
    return 1;
}

M2M_KEY_STATE *m2m_key_state_get(const M2M_KEY_FP *fp, int enc, const char *alg)
{
    M2M_KEY_STATE *k;

    if (!lock())
        return NULL;
    if ((k = find(fp)) == NULL && (k = create(fp, alg)) == NULL)
        goto fail;
    if (forked(k, alg))
        goto fail;
    /*
     * The key's first encrypting use claims it in the registry (lock order:
     * this lock, then the registry's; the registry never takes this one).
     */
    if (enc && !k->enc_claimed) {
        if (!m2m_key_registry_claim(fp, alg))
            goto fail;
        k->enc_claimed = 1;
    }
    unlock();
    return k;
fail:
    unlock();
    return NULL;
}

static uint64_t min_nz(uint64_t key, uint64_t ctx)
{
    return ctx != 0 && ctx < key ? ctx : key;
}

/* Under the lock: the half's limits, set up at its first record, then lowered by the context's. */
static void half_limits(M2M_KEY_STATE *k, KS_HALF *h, const M2M_LIMITS *ctx)
{
    if (!h->used) {
        memset(&h->lim, 0, sizeof(h->lim));
        h->lim.max_records = ctx->max_records;
        h->lim.max_bytes = ctx->max_bytes;
        h->lim.max_failures = ctx->max_failures;
        h->lim.start = k->start;
        /* the lifetime counts from the key's first use in the process */
        h->lim.not_after = ctx->not_after - (ctx->start > k->start ? ctx->start - k->start : 0);
        h->used = 1;
        return;
    }
    h->lim.max_records = min_nz(h->lim.max_records, ctx->max_records);
    h->lim.max_bytes = min_nz(h->lim.max_bytes, ctx->max_bytes);
    h->lim.max_failures = min_nz(h->lim.max_failures, ctx->max_failures);
    h->lim.not_after = min_nz(h->lim.not_after, ctx->not_after);
}

static int refuse_limits(const KS_HALF *h, int enc, uint64_t now, size_t len, uint64_t epoch)
{
    const char *why = m2m_limits_refuse(&h->lim, now, len);

    if (why == NULL)
        return 0;
    M2M_RAISE(M2MSEC_R_KEY_EXPIRED,
              "session key expired: %s (epoch %llu; %s, counted over all its contexts in this "
              "process)",
              why, (unsigned long long)epoch, enc ? "encrypting" : "decrypting");
    return 1;
}

int m2m_key_state_begin(M2M_KEY_STATE *k, int enc, const char *alg, uint64_t epoch, uint64_t seq,
                        uint64_t now, uint64_t failures, uint64_t window, M2M_LIMITS *lim)
{
    KS_HALF *h = enc ? &k->enc : &k->dec;

    if (!lock())
        return 0;
    if (forked(k, alg))
        goto fail;
    half_limits(k, h, lim);
    h->lim.failures = failures;
    if (refuse_limits(h, enc, now, 0, epoch))
        goto fail;
    if (enc) {
        if (k->epoch_bound && epoch != k->epoch) {
            M2M_RAISE(M2MSEC_R_KEY_REUSED,
                      "%s: this key encrypts epoch %llu; a record of epoch %llu would reuse its "
                      "nonces: derive the key of the new epoch",
                      alg, (unsigned long long)k->epoch, (unsigned long long)epoch);
            goto fail;
        }
        if (seq < k->next_seq || seq == UINT64_MAX) {
            M2M_RAISE(M2MSEC_R_SEQ_USED,
                      "sequence number already used: %s record %llu of epoch %llu; this key's "
                      "next usable sequence number in this process is %llu",
                      alg, (unsigned long long)seq, (unsigned long long)epoch,
                      (unsigned long long)k->next_seq);
            goto fail;
        }
        k->epoch = epoch;
        k->epoch_bound = 1;
        k->next_seq = seq + 1;
        h->lim.records++; /* a started record consumes its sequence number */
    } else {
        if (k->win.bits == NULL && !m2m_replay_init(&k->win, window)) {
            M2M_RAISE(M2MSEC_R_MALLOC_FAILURE, "cannot allocate a replay window of %llu records",
                      (unsigned long long)window);
            goto fail;
        }
        switch (m2m_replay_check(&k->win, seq)) {
        case M2M_REPLAY_DUP:
            M2M_RAISE(M2MSEC_R_REPLAYED_RECORD,
                      "replayed record: sequence %llu of epoch %llu was already accepted (by a "
                      "context of this key in this process)",
                      (unsigned long long)seq, (unsigned long long)epoch);
            goto fail;
        case M2M_REPLAY_TOO_OLD:
            M2M_RAISE(M2MSEC_R_OUTSIDE_WINDOW,
                      "record outside replay window: sequence %llu is %llu or more below the "
                      "highest accepted (%llu)",
                      (unsigned long long)seq, (unsigned long long)k->win.window,
                      (unsigned long long)k->win.last);
            goto fail;
        case M2M_REPLAY_OK:
            break;
        }
    }
    *lim = h->lim;
    unlock();
    return 1;
fail:
    unlock();
    return 0;
}

int m2m_key_state_bytes(M2M_KEY_STATE *k, int enc, size_t len, uint64_t now, uint64_t failures,
                        uint64_t epoch)
{
    KS_HALF *h = enc ? &k->enc : &k->dec;
    M2M_LIMITS l;

    if (!lock())
        return 0;
    h->lim.failures = failures;
    l = h->lim;
    if (enc && l.records > 0)
        l.records--; /* the record in progress was counted when it began */
    if (refuse_limits(&(KS_HALF){.used = 1, .lim = l}, enc, now, len, epoch)) {
        unlock();
        return 0;
    }
    h->lim.bytes += len; /* a forged record's bytes count too (PROTOCOL.md 5.3) */
    unlock();
    return 1;
}

int m2m_key_state_accept(M2M_KEY_STATE *k, uint64_t epoch, uint64_t seq)
{
    int ok;

    if (!lock())
        return 0;
    ok = k->win.bits != NULL && m2m_replay_check(&k->win, seq) == M2M_REPLAY_OK;
    if (ok) {
        m2m_replay_update(&k->win, seq);
        k->dec.lim.records++;
    }
    unlock();
    if (!ok)
        M2M_RAISE(M2MSEC_R_REPLAYED_RECORD,
                  "replayed record: sequence %llu of epoch %llu was accepted by another context "
                  "of this key (or fell below its window) while this one decrypted it",
                  (unsigned long long)seq, (unsigned long long)epoch);
    return ok;
}

size_t m2m_key_state_count(void)
{
    size_t n = 0;

    if (lock()) {
        n = g_used;
        unlock();
    }
    return n;
}
