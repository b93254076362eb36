/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libm2msec: record sessions (include/m2msec/session.h).
 *
 * Keys come from M2M-SESSION-KDF and records are protected by the M2M-REC
 * ciphers, both fetched by name through EVP: replay checks and key limits
 * live in the provider, this file only frames records, chooses epochs and
 * persists state: under the store's lock, read back before every save
 * (docs/PROTOCOL.md 6.4), and never from a forked child.
 */
#define _GNU_SOURCE /* MAP_ANONYMOUS, MADV_WIPEONFORK */

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include "m2msec/errors.h"
#include "m2msec/m2msec.h"
#include "m2msec/record.h"
#include "m2msec/session.h"
#include "kdf_internal.h"
#include "param_fill.h"
#include "record_header.h"

#define DEFAULT_AEAD M2MSEC_REC_AES_128_GCM
#define CCM8_LABEL M2MSEC_REC_AES_128_CCM "-8" /* the aead label of an 8-byte CCM tag (6.2) */
#define DEFAULT_PURPOSE "m2msec record"
#define DEFAULT_LIFETIME 3600
#define DEFAULT_GRACE 30
#define DEFAULT_JITTER 10
/* Receiver: bounds on candidate-epoch derivations (docs/PROTOCOL.md 6.3). */
#define DEFAULT_MAX_JUMP 4096
#define DEFAULT_CAND_RATE 1
#define DEFAULT_CAND_BURST 8
#define DEFAULT_PROC_RATE 256
#define DEFAULT_PROC_BURST 256
#define MAX_CAND_LIMIT 1000000
#define DEFAULT_FLOOR_STEP (1u << 24)
#define SOFT_PERMILLE 800
#define IV_LEN 12
#define MAX_KEY 32

typedef struct {
    EVP_CIPHER_CTX *ctx; /* NULL when unused */
    uint64_t epoch;
    uint64_t until; /* prev: end of grace period */
} epoch_key;

struct m2msec_session {
    m2msec_session_role role;
    OSSL_LIB_CTX *libctx;
    unsigned char *key;
    size_t key_len;
    char *originator, *receiver, *purpose, *aead;
    const char *label; /* aead label bound into the keys: aead, or CCM8_LABEL */
    m2msec_session_policy pol;
    m2msec_store store;
    void *lock;  /* the store's lock handle, held while `locked` */
    int locked;  /* the store's lock is held */
    int broken;  /* the state changed outside this session: it stops */
    int pending; /* a save failed, but the store may hold pending_st all the same */
    m2msec_session_state last, pending_st; /* the state this session last saved or loaded */
    uint64_t token; /* fork_token() when created: another value means a forked child */
    pid_t pid;      /* getpid() when created (checked only without MADV_WIPEONFORK) */
    EVP_CIPHER *cipher;
    EVP_KDF *kdf; /* M2M-SESSION-KDF, fetched once */
    size_t keylen, taglen;
    epoch_key cur, prev, cand; /* sender uses cur only */
    /*
     * receiver, before the first record after a start (cur unset): the
     * candidate of the stored epoch, beside cand (which then holds the epoch
     * after it), so that forged records alternating between the two cannot
     * make either be derived again.
     */
    epoch_key rest;
    /* sender */
    uint64_t seq_next, rekey_records, rekey_bytes, rekey_time, bytes;
    /*
     * sender: the epoch to enter next. Every epoch that was saved is
     * skipped afterwards, used or not: setting up its context may have
     * claimed its key (key registry) before failing.
     */
    uint64_t next_epoch;
    /*
     * receiver: no epoch below min_epoch is accepted; after a restart, no
     * record of restart_epoch below restart_floor (it may have been accepted
     * before). floor_saved is the floor persisted for the current epoch.
     */
    uint64_t min_epoch, restart_epoch, restart_floor, floor_saved;
    uint64_t floor_step, last_save_ms;
    uint64_t cur_high; /* highest seq accepted in cur */
    int have_min, have_restart;
    /* receiver: candidate derivations for further-ahead epochs (milli-tokens) */
    uint64_t cand_tokens, cand_last_ms;
    int cand_init;
    m2msec_session_stats stats;
};

static const char *const status_text[M2MSEC_SESSION_STATUS_COUNT] = {
    [M2MSEC_SESSION_OK] = "ok",
    [M2MSEC_SESSION_ERR_REPLAY] = "replayed record",
    [M2MSEC_SESSION_ERR_TOO_OLD] = "record outside replay window",
    [M2MSEC_SESSION_ERR_AUTH] = "authentication failed",
    [M2MSEC_SESSION_ERR_EXPIRED] = "session key expired",
    [M2MSEC_SESSION_ERR_OLD_EPOCH] = "stale epoch",
    [M2MSEC_SESSION_ERR_MALFORMED] = "malformed record",
    [M2MSEC_SESSION_ERR_BUFFER] = "buffer too small",
    [M2MSEC_SESSION_ERR_STORAGE] = "state storage failed",
    [M2MSEC_SESSION_ERR_INTERNAL] = "internal error",
    [M2MSEC_SESSION_ERR_FORKED] = "session used after fork",
    [M2MSEC_SESSION_ERR_EPOCH_AHEAD] = "epoch too far ahead",
    [M2MSEC_SESSION_ERR_RATE_LIMIT] = "candidate epoch rate limit",
};

const char *m2msec_session_status_text(m2msec_session_status st)
{
    return (unsigned)st < M2MSEC_SESSION_STATUS_COUNT ? status_text[st] : "unknown status";
}

static uint64_t now_seconds(void)
{
    struct timespec ts;

    if (clock_gettime(CLOCK_REALTIME_COARSE, &ts) != 0)
        return UINT64_MAX;
    return (uint64_t)ts.tv_sec;
}

static uint64_t now_ms(void)
{
    struct timespec ts;

    if (clock_gettime(CLOCK_MONOTONIC_COARSE, &ts) != 0)
        return 0;
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/*
 * Fork detection. One page holds a token of this process, non-zero once a
 * session was created. The kernel wipes the page in a forked child
 * (MADV_WIPEONFORK, Linux 4.14), so a session created in the parent sees 0,
 * or a newer token once the child created sessions of its own: one memory
 * read per record. Tokens only grow along a line of processes (the child
 * takes the parent's last token + 1), so a child never gets a token of an
 * ancestor. Where the kernel refuses MADV_WIPEONFORK, a pthread_atfork()
 * child handler clears the page, and every check also compares getpid()
 * (a fork that bypasses libc's handlers still changes the pid).
 */
static pthread_once_t fork_once = PTHREAD_ONCE_INIT;
static _Atomic uint64_t *fork_word; /* the page; NULL if it could not be set up */
static _Atomic uint64_t fork_last;  /* the last token taken; copied into a child */
static int fork_wipes;              /* MADV_WIPEONFORK is in force */

static void fork_child(void)
{
    if (fork_word != NULL)
        atomic_store_explicit(fork_word, 0, memory_order_relaxed);
}

static void fork_setup(void)
{
    long pg = sysconf(_SC_PAGESIZE);
    size_t len = pg > 0 ? (size_t)pg : 4096;
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

    if (p == MAP_FAILED)
        return;
#ifdef MADV_WIPEONFORK
    fork_wipes = madvise(p, len, MADV_WIPEONFORK) == 0;
#endif
    if (!fork_wipes && pthread_atfork(NULL, NULL, fork_child) != 0) {
        munmap(p, len);
        return;
    }
    fork_word = p;
}

/* This process's token (taken on first use); 0 if fork detection is unavailable. */
static uint64_t fork_token(void)
{
    uint64_t t, want;

    if (pthread_once(&fork_once, fork_setup) != 0 || fork_word == NULL)
        return 0;
    t = atomic_load(fork_word);
    while (t == 0) {
        want = atomic_load(&fork_last) + 1;
        if (atomic_compare_exchange_strong(fork_word, &t, want)) {
            atomic_store(&fork_last, want);
            t = want;
        }
    }
    return t;
}

/* 1 if s was created in another process (this is a forked child). */
static int forked(const m2msec_session *s)
{
    return atomic_load_explicit(fork_word, memory_order_relaxed) != s->token ||
           (!fork_wipes && getpid() != s->pid);
}

static m2msec_session_status refuse_forked(void)
{
    ERR_raise_data(ERR_LIB_USER, ERR_R_OPERATION_FAIL,
                   "m2msec: session used after fork(): a session belongs to the process that "
                   "created it; create a new session in the child (on a state of its own)");
    return M2MSEC_SESSION_ERR_FORKED;
}

static const char *state_name(const m2msec_session *s)
{
    return s->store.name != NULL ? s->store.name : "the session state";
}

static int same_state(const m2msec_session_state *a, const m2msec_session_state *b)
{
    return a->epoch == b->epoch && a->seq_floor == b->seq_floor;
}

static m2msec_session_status refuse_broken(const m2msec_session *s)
{
    ERR_raise_data(ERR_LIB_USER, ERR_R_OPERATION_FAIL,
                   "m2msec: the state at %s changed outside this session earlier; the session "
                   "stopped (docs/SECURITY.md section 3, state files)",
                   state_name(s));
    return M2MSEC_SESSION_ERR_STORAGE;
}

/*
 * Read the state back before a save (docs/PROTOCOL.md 6.4): it must still
 * be exactly what this session last saved or loaded. A save that failed
 * may have reached the store all the same (renamed, then the directory
 * sync failed), so the state it tried to save is accepted too, and
 * *took_failed says so: the caller then cannot tell it from the same bytes
 * written by someone else. Any other content - deleted, edited, restored
 * from a backup, written by a session that got past a broken lock - stops
 * the session for good: its view of what was used or accepted can no
 * longer be trusted to be the store's.
 */
static m2msec_session_status state_check(m2msec_session *s, int *took_failed)
{
    m2msec_session_state now = {0, 0};
    int r;

    *took_failed = 0;
    if (s->broken)
        return refuse_broken(s);
    r = s->store.load(s->store.arg, s->lock, &now);
    if (r < 0) {
        ERR_raise_data(ERR_LIB_USER, ERR_R_OPERATION_FAIL,
                       "m2msec: cannot read the state at %s back before saving; nothing saved",
                       state_name(s));
        return M2MSEC_SESSION_ERR_STORAGE;
    }
    if (r == 0) {
        s->broken = 1;
        ERR_raise_data(
            ERR_LIB_USER, ERR_R_OPERATION_FAIL,
            "m2msec: the state at %s was deleted while this session held it; the "
            "session stops (do not initialise it again: docs/SECURITY.md section 3, state files)",
            state_name(s));
        return M2MSEC_SESSION_ERR_STORAGE;
    }
    if (!same_state(&now, &s->last)) {
        if (!s->pending || !same_state(&now, &s->pending_st)) {
            s->broken = 1;
            ERR_raise_data(ERR_LIB_USER, ERR_R_OPERATION_FAIL,
                           "m2msec: the state at %s changed outside this session (it holds "
                           "epoch %llu seq-floor %llu, this session last saved epoch %llu "
                           "seq-floor %llu): another writer or a restore from a backup; the "
                           "session stops (docs/SECURITY.md section 3, state files)",
                           state_name(s), (unsigned long long)now.epoch,
                           (unsigned long long)now.seq_floor, (unsigned long long)s->last.epoch,
                           (unsigned long long)s->last.seq_floor);
            return M2MSEC_SESSION_ERR_STORAGE;
        }
        s->last = s->pending_st;
        *took_failed = 1;
    }
    s->pending = 0;
    return M2MSEC_SESSION_OK;
}

/*
 * Save st after state_check(); a failure leaves st as the pending state.
 * The library queues its own error: a store's save callback should queue
 * one too, but the convention must not depend on it.
 */
static m2msec_session_status state_write(m2msec_session *s, const m2msec_session_state *st)
{
    if (s->store.save(s->store.arg, s->lock, st) != 1) {
        s->pending = 1;
        s->pending_st = *st;
        ERR_raise_data(ERR_LIB_USER, ERR_R_OPERATION_FAIL,
                       "m2msec: the state store could not save epoch %llu seq-floor %llu at %s",
                       (unsigned long long)st->epoch, (unsigned long long)st->seq_floor,
                       state_name(s));
        return M2MSEC_SESSION_ERR_STORAGE;
    }
    s->last = *st;
    return M2MSEC_SESSION_OK;
}

static m2msec_session_status state_save(m2msec_session *s, const m2msec_session_state *st)
{
    int took_failed;
    m2msec_session_status r = state_check(s, &took_failed);

    return r != M2MSEC_SESSION_OK ? r : state_write(s, st);
}

static int store_complete(const m2msec_store *st)
{
    return st->lock != NULL && st->load != NULL && st->save != NULL && st->unlock != NULL;
}

static void raise_incomplete_store(void)
{
    ERR_raise_data(ERR_LIB_USER, ERR_R_PASSED_NULL_PARAMETER,
                   "m2msec: the state store lacks a callback: every store needs lock, load, "
                   "save and unlock (an exclusive lock on its state; m2msec/session.h)");
}

/* Take the store's lock: 1, or 0 with the error queued. */
static int store_lock(const m2msec_store *st, void **handle)
{
    const char *name = st->name != NULL ? st->name : "the session state";
    int r;

    *handle = NULL;
    r = st->lock(st->arg, handle);
    if (r == 1)
        return 1;
    if (r == 0)
        ERR_raise_data(ERR_LIB_USER, ERR_R_OPERATION_FAIL,
                       "m2msec: state in use by another session (%s)", name);
    else
        ERR_raise_data(ERR_LIB_USER, ERR_R_OPERATION_FAIL, "m2msec: cannot lock the state (%s)",
                       name);
    return 0;
}

int m2msec_store_init(const m2msec_store *store)
{
    const char *name;
    m2msec_session_state st = {0, 0}, zero = {0, 0};
    void *h;
    int r, ok = 0;

    if (store == NULL || !store_complete(store)) {
        raise_incomplete_store();
        return 0;
    }
    name = store->name != NULL ? store->name : "the session state";
    if (!store_lock(store, &h))
        return 0;
    r = store->load(store->arg, h, &st);
    if (r > 0)
        ERR_raise_data(ERR_LIB_USER, ERR_R_OPERATION_FAIL,
                       "m2msec: a state already exists at %s (epoch %llu seq-floor %llu): only a "
                       "first start is initialised; never reinitialise a state in use "
                       "(docs/SECURITY.md section 3, state files)",
                       name, (unsigned long long)st.epoch, (unsigned long long)st.seq_floor);
    else if (r < 0)
        ERR_raise_data(ERR_LIB_USER, ERR_R_OPERATION_FAIL,
                       "m2msec: %s exists but cannot be read; refusing to initialise over it",
                       name);
    else if (store->save(store->arg, h, &zero) != 1)
        ERR_raise_data(ERR_LIB_USER, ERR_R_OPERATION_FAIL,
                       "m2msec: cannot write the initial state to %s", name);
    else
        ok = 1;
    store->unlock(store->arg, h);
    return ok;
}

static void epoch_key_clear(epoch_key *k)
{
    EVP_CIPHER_CTX_free(k->ctx);
    k->ctx = NULL;
    k->epoch = 0;
    k->until = 0;
}

static char *dup_or(const char *s, const char *dflt)
{
    return OPENSSL_strdup(s != NULL ? s : dflt);
}

void m2msec_session_free(m2msec_session *s)
{
    if (s == NULL)
        return;
    /* In a forked child the store is the parent's: no save, no unlock. */
    if (s->locked && !forked(s)) {
        if (s->role == M2MSEC_SESSION_RECEIVER && s->cur.ctx != NULL &&
            s->cur_high + 1 < s->floor_saved && !s->broken) {
            /* Clean shutdown: persist the exact floor so that a restart loses nothing. */
            m2msec_session_state st = {s->cur.epoch, s->cur_high + 1};

            ERR_set_mark();
            state_save(s, &st); /* if it fails, the saved, higher floor stays: still safe */
            ERR_pop_to_mark();
        }
        s->store.unlock(s->store.arg, s->lock);
    }
    epoch_key_clear(&s->cur);
    epoch_key_clear(&s->prev);
    epoch_key_clear(&s->cand);
    epoch_key_clear(&s->rest);
    EVP_CIPHER_free(s->cipher);
    EVP_KDF_free(s->kdf);
    OPENSSL_clear_free(s->key, s->key_len);
    OPENSSL_free(s->originator);
    OPENSSL_free(s->receiver);
    OPENSSL_free(s->purpose);
    OPENSSL_free(s->aead);
    OPENSSL_clear_free(s, sizeof(*s));
}

/* Derive the key material (key || static IV) of `epoch` into km. */
static int epoch_km(m2msec_session *s, uint64_t epoch, unsigned char km[MAX_KEY + IV_LEN])
{
    m2msec_session_key_spec spec = {0};

    if (epoch > M2MSEC_MAX_EPOCH) {
        ERR_raise_data(ERR_LIB_USER, ERR_R_PASSED_INVALID_ARGUMENT,
                       "m2msec: epoch counter exhausted; provision a new service-layer key");
        return 0;
    }
    spec.key = s->key;
    spec.key_len = s->key_len;
    spec.purpose = s->purpose;
    spec.originator = s->originator;
    spec.receiver = s->receiver;
    spec.epoch = epoch;
    spec.lifetime = s->pol.key_lifetime;
    spec.aead = s->label;
    return m2m_session_key_derive_with(s->kdf, &spec, km, s->keylen + IV_LEN);
}

/* Set up a cipher context for `epoch` from its key material (NULL: derive it). */
static int epoch_key_make(m2msec_session *s, epoch_key *k, uint64_t epoch,
                          const unsigned char *given_km)
{
    unsigned char derived[MAX_KEY + IV_LEN];
    const unsigned char *km = given_km;
    uint64_t not_after = now_seconds() + s->pol.key_lifetime;
    size_t taglen = s->taglen;
    OSSL_PARAM p[6], *pp = p;
    int enc = s->role == M2MSEC_SESSION_SENDER, ok = 0;

    epoch_key_clear(k);
    if (km == NULL) {
        if (!epoch_km(s, epoch, derived))
            goto end;
        km = derived;
    }
    *pp++ = OSSL_PARAM_construct_uint64(M2MSEC_REC_PARAM_EPOCH, &epoch);
    /*
     * A sender's key ends after key_lifetime (at most the policy's
     * max_lifetime: M2M-SESSION-KDF refused a longer lifetime). A receiver
     * keeps it grace_seconds longer for late records, but the provider
     * refuses a not-after beyond key-set time + max_lifetime, so that end
     * is set after the key, capped by the default the provider then reports.
     */
    if (enc)
        *pp++ = OSSL_PARAM_construct_uint64(M2MSEC_REC_PARAM_NOT_AFTER, &not_after);
    if (s->pol.max_records != 0)
        *pp++ = OSSL_PARAM_construct_uint64(M2MSEC_REC_PARAM_MAX_RECORDS, &s->pol.max_records);
    if (!enc && s->pol.replay_window != 0)
        *pp++ = OSSL_PARAM_construct_uint64(M2MSEC_REC_PARAM_REPLAY_WINDOW, &s->pol.replay_window);
    if (taglen != 16) /* the provider takes the tag length before the key */
        *pp++ = OSSL_PARAM_construct_size_t(OSSL_CIPHER_PARAM_AEAD_TAGLEN, &taglen);
    *pp = OSSL_PARAM_construct_end();
    k->ctx = EVP_CIPHER_CTX_new();
    if (k->ctx == NULL) {
        ERR_raise_data(ERR_LIB_USER, ERR_R_MALLOC_FAILURE,
                       "m2msec: out of memory setting up epoch %llu", (unsigned long long)epoch);
        goto end;
    }
    if (!EVP_CipherInit_ex2(k->ctx, s->cipher, km, km + s->keylen, enc, p))
        goto end;
    if (!enc) {
        uint64_t cap = 0;
        OSSL_PARAM q[2];

        not_after += s->pol.grace_seconds;
        q[0] = OSSL_PARAM_construct_uint64(M2MSEC_REC_PARAM_NOT_AFTER, &cap);
        q[1] = OSSL_PARAM_construct_end();
        if (!EVP_CIPHER_CTX_get_params(k->ctx, q))
            goto end;
        if (not_after < cap) {
            q[0] = OSSL_PARAM_construct_uint64(M2MSEC_REC_PARAM_NOT_AFTER, &not_after);
            if (!EVP_CIPHER_CTX_set_params(k->ctx, q))
                goto end;
        }
    }
    k->epoch = epoch;
    ok = 1;
end:
    OPENSSL_cleanse(derived, sizeof(derived));
    if (!ok)
        epoch_key_clear(k);
    return ok;
}

/* Sender: plan the next re-key at 80 % of each budget minus a random jitter. */
static int sender_plan(m2msec_session *s)
{
    uint64_t max_records = 0, max_bytes = 0, not_after = 0, start = now_seconds();
    unsigned char r[2];
    unsigned permille;
    OSSL_PARAM p[4];

    p[0] = OSSL_PARAM_construct_uint64(M2MSEC_REC_PARAM_MAX_RECORDS, &max_records);
    p[1] = OSSL_PARAM_construct_uint64(M2MSEC_REC_PARAM_MAX_BYTES, &max_bytes);
    p[2] = OSSL_PARAM_construct_uint64(M2MSEC_REC_PARAM_NOT_AFTER, &not_after);
    p[3] = OSSL_PARAM_construct_end();
    if (!EVP_CIPHER_CTX_get_params(s->cur.ctx, p))
        return 0;
    /*
     * The jitter only has to differ between devices, so it comes from the
     * kernel: no DRBG (no "default" provider) is needed in the caller's
     * library context.
     */
    if (getrandom(r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r)) {
        uint64_t t = now_ms();

        r[0] = (unsigned char)(t ^ (uintptr_t)s);
        r[1] = (unsigned char)(t >> 8);
    }
    permille = SOFT_PERMILLE - ((unsigned)r[0] << 8 | r[1]) % (s->pol.rekey_jitter_pct * 10 + 1);
    s->rekey_records = max_records / 1000 * permille + max_records % 1000 * permille / 1000;
    if (s->rekey_records == 0)
        s->rekey_records = 1;
    s->rekey_bytes = max_bytes / 1000 * permille + max_bytes % 1000 * permille / 1000;
    s->rekey_time = start + (not_after > start ? (not_after - start) * permille / 1000 : 0);
    s->seq_next = 0;
    s->bytes = 0;
    return 1;
}

/*
 * Sender: persist epoch e, then switch to it. The current epoch stays in
 * use if anything fails. The key is derived first (a bad key or policy
 * saves nothing) but set up only after the save: an encrypting context
 * claims its key for the life of the process (key registry), so a key set
 * up for an epoch that then could not be saved could never be used, and
 * every retry would fail. An epoch saved but not used costs nothing.
 */
static m2msec_session_status sender_enter(m2msec_session *s, uint64_t e)
{
    m2msec_session_state st = {e, 0};
    epoch_key k = {0};
    unsigned char km[MAX_KEY + IV_LEN];
    m2msec_session_status ret = M2MSEC_SESSION_ERR_INTERNAL;
    int took_failed = 0;

    if (!epoch_km(s, e, km))
        goto end;
    if (state_check(s, &took_failed) != M2MSEC_SESSION_OK) {
        ERR_raise_data(ERR_LIB_USER, ERR_R_OPERATION_FAIL,
                       "m2msec: the state store could not save epoch %llu", (unsigned long long)e);
        ret = M2MSEC_SESSION_ERR_STORAGE;
        goto end;
    }
    if (took_failed) {
        /*
         * The store holds the epoch whose save failed: this session's, or
         * the same bytes from another writer that used it. Never use it,
         * nor try it again.
         */
        st.epoch = e = s->last.epoch + 1;
        s->next_epoch = e;
        if (!epoch_km(s, e, km))
            goto end;
    }
    if (state_write(s, &st) != M2MSEC_SESSION_OK) { /* its error is queued */
        ret = M2MSEC_SESSION_ERR_STORAGE;
        goto end;
    }
    s->next_epoch = e + 1; /* saved: never tried again, even if the set-up below fails */
    if (!epoch_key_make(s, &k, e, km))
        goto end;
    ret = M2MSEC_SESSION_OK;
end:
    OPENSSL_cleanse(km, sizeof(km));
    if (ret != M2MSEC_SESSION_OK)
        return ret;
    epoch_key_clear(&s->cur);
    s->cur = k;
    s->stats.epoch = e;
    if (!sender_plan(s)) {
        ERR_raise_data(ERR_LIB_USER, ERR_R_OPERATION_FAIL,
                       "m2msec: cannot plan the re-key of epoch %llu (the key's limits or the "
                       "random jitter are not available)",
                       (unsigned long long)e);
        return M2MSEC_SESSION_ERR_INTERNAL;
    }
    return M2MSEC_SESSION_OK;
}

m2msec_session *m2msec_session_new(const m2msec_session_config *cfg)
{
    m2msec_session *s;
    m2msec_session_state st = {0, 0};
    int loaded;

    if (cfg == NULL || cfg->key == NULL || cfg->originator == NULL || cfg->receiver == NULL ||
        cfg->store == NULL ||
        (cfg->role != M2MSEC_SESSION_SENDER && cfg->role != M2MSEC_SESSION_RECEIVER)) {
        ERR_raise_data(ERR_LIB_USER, ERR_R_PASSED_NULL_PARAMETER,
                       "m2msec: a session needs a role, key, originator, receiver and store");
        return NULL;
    }
    if (!store_complete(cfg->store)) {
        raise_incomplete_store();
        return NULL;
    }
    if ((s = OPENSSL_zalloc(sizeof(*s))) == NULL) {
        ERR_raise_data(ERR_LIB_USER, ERR_R_MALLOC_FAILURE,
                       "m2msec: out of memory creating a session");
        return NULL;
    }
    s->role = cfg->role;
    s->libctx = cfg->libctx;
    s->store = *cfg->store;
    s->pid = getpid();
    if ((s->token = fork_token()) == 0) {
        ERR_raise_data(ERR_LIB_USER, ERR_R_OPERATION_FAIL,
                       "m2msec: cannot set up fork detection (mmap of one page failed)");
        goto err;
    }
    if (cfg->policy != NULL)
        s->pol = *cfg->policy;
    if (s->pol.key_lifetime == 0)
        s->pol.key_lifetime = DEFAULT_LIFETIME;
    if (s->pol.grace_seconds == 0)
        s->pol.grace_seconds = DEFAULT_GRACE;
    if (s->pol.rekey_jitter_pct == 0)
        s->pol.rekey_jitter_pct = DEFAULT_JITTER;
    if (s->pol.rekey_jitter_pct > 50)
        s->pol.rekey_jitter_pct = 50;
    if (s->pol.seq_floor_step == 0)
        s->pol.seq_floor_step = DEFAULT_FLOOR_STEP;
    if (s->pol.max_epoch_jump == 0)
        s->pol.max_epoch_jump = DEFAULT_MAX_JUMP;
    if (s->pol.max_epoch_jump > M2MSEC_MAX_EPOCH)
        s->pol.max_epoch_jump = M2MSEC_MAX_EPOCH;
    if (s->pol.candidate_rate == 0)
        s->pol.candidate_rate = DEFAULT_CAND_RATE;
    if (s->pol.candidate_rate > MAX_CAND_LIMIT)
        s->pol.candidate_rate = MAX_CAND_LIMIT;
    if (s->pol.candidate_burst == 0)
        s->pol.candidate_burst = DEFAULT_CAND_BURST;
    if (s->pol.candidate_burst > MAX_CAND_LIMIT)
        s->pol.candidate_burst = MAX_CAND_LIMIT;
    s->key = OPENSSL_memdup(cfg->key, cfg->key_len);
    s->key_len = cfg->key_len;
    s->originator = OPENSSL_strdup(cfg->originator);
    s->receiver = OPENSSL_strdup(cfg->receiver);
    s->purpose = dup_or(cfg->purpose, DEFAULT_PURPOSE);
    s->aead = dup_or(s->pol.aead, DEFAULT_AEAD);
    s->pol.aead = NULL; /* use s->aead */
    if (s->key == NULL || s->originator == NULL || s->receiver == NULL || s->purpose == NULL ||
        s->aead == NULL) {
        ERR_raise_data(ERR_LIB_USER, ERR_R_MALLOC_FAILURE,
                       "m2msec: out of memory creating a session");
        goto err;
    }
    s->label = s->aead;
    s->kdf = EVP_KDF_fetch(s->libctx, "M2M-SESSION-KDF", NULL);
    if (s->kdf == NULL) {
        ERR_raise_data(ERR_LIB_USER, ERR_R_FETCH_FAILED,
                       "m2msec: cannot fetch M2M-SESSION-KDF (is m2msec loaded?)");
        goto err;
    }
    s->cipher = EVP_CIPHER_fetch(s->libctx, s->aead, NULL);
    if (s->cipher == NULL) {
        ERR_raise_data(ERR_LIB_USER, ERR_R_FETCH_FAILED, "m2msec: cannot fetch %s", s->aead);
        goto err;
    }
    /* Only a record cipher numbers and replay-checks records (a plain AEAD would not). */
    if (OSSL_PARAM_locate_const(EVP_CIPHER_settable_ctx_params(s->cipher), M2MSEC_REC_PARAM_SEQ) ==
        NULL) {
        ERR_raise_data(ERR_LIB_USER, ERR_R_PASSED_INVALID_ARGUMENT,
                       "m2msec: %s is not an M2M-REC record cipher", s->aead);
        goto err;
    }
    s->keylen = (size_t)EVP_CIPHER_get_key_length(s->cipher);
    if (s->keylen == 0 || s->keylen > MAX_KEY) {
        ERR_raise_data(ERR_LIB_USER, ERR_R_PASSED_INVALID_ARGUMENT,
                       "m2msec: %s has an unsupported key length", s->aead);
        goto err;
    }
    /*
     * The tag length: 16, or 8 with AES-128-CCM. An 8-byte tag changes the
     * aead label, so its keys are never those of the 16-byte tag (6.2).
     */
    s->taglen = s->pol.tag_len == 0 ? 16 : s->pol.tag_len;
    if (s->taglen == 8 && strcmp(s->aead, M2MSEC_REC_AES_128_CCM) == 0) {
        s->label = CCM8_LABEL;
    } else if (s->taglen != 16) {
        ERR_raise_data(ERR_LIB_USER, ERR_R_PASSED_INVALID_ARGUMENT,
                       "m2msec: tag length %zu is not supported with %s (16%s)", s->taglen, s->aead,
                       strcmp(s->aead, M2MSEC_REC_AES_128_CCM) == 0
                           ? " or 8"
                           : "; 8 only with " M2MSEC_REC_AES_128_CCM);
        goto err;
    }

    /* One session per state: the lock is held until m2msec_session_free(). */
    if (!store_lock(&s->store, &s->lock))
        goto err;
    s->locked = 1;
    loaded = s->store.load(s->store.arg, s->lock, &st);
    if (loaded < 0) {
        ERR_raise_data(ERR_LIB_USER, ERR_R_OPERATION_FAIL,
                       "m2msec: the state store could not be read; refusing to start");
        goto err;
    }
    if (loaded == 0) {
        /* Deleted, or never initialised: either way not a first start to guess at. */
        ERR_raise_data(ERR_LIB_USER, ERR_R_OPERATION_FAIL,
                       "m2msec: no stored state at %s: if this is the session's first start, "
                       "initialise it with m2msec_store_init() or `m2msec state init %s`",
                       state_name(s), state_name(s));
        goto err;
    }
    if (st.epoch > M2MSEC_MAX_EPOCH) {
        /* Never stored by a session (epochs are 32 bits); st.epoch + 1 could wrap to 0. */
        ERR_raise_data(ERR_LIB_USER, ERR_R_PASSED_INVALID_ARGUMENT,
                       "m2msec: stored epoch %llu is out of range; refusing to guess",
                       (unsigned long long)st.epoch);
        goto err;
    }
    s->last = st;
    if (s->role == M2MSEC_SESSION_SENDER) {
        /* Never touch the stored epoch again: it may have been used. Start the next one. */
        if (sender_enter(s, st.epoch + 1) != M2MSEC_SESSION_OK)
            goto err;
    } else {
        /* Check key, identities, cipher and policy now, not at the first record. */
        epoch_key k = {0};

        if (!epoch_key_make(s, &k, st.epoch, NULL))
            goto err;
        epoch_key_clear(&k);
        s->min_epoch = st.epoch;
        s->restart_epoch = st.epoch;
        s->restart_floor = st.seq_floor;
        s->floor_saved = st.seq_floor;
        s->have_min = 1;
        s->have_restart = 1;
        s->stats.epoch = st.epoch;
    }
    return s;
err:
    m2msec_session_free(s);
    return NULL;
}

size_t m2msec_session_overhead(const m2msec_session *s)
{
    return M2MSEC_SESSION_HEADER_LEN + s->taglen;
}

static m2msec_session_status status_from_error(void)
{
    switch (ERR_GET_REASON(ERR_peek_last_error())) {
    case M2MSEC_R_REPLAYED_RECORD:
        return M2MSEC_SESSION_ERR_REPLAY;
    case M2MSEC_R_OUTSIDE_WINDOW:
        return M2MSEC_SESSION_ERR_TOO_OLD;
    case M2MSEC_R_AUTH_FAILED:
        return M2MSEC_SESSION_ERR_AUTH;
    case M2MSEC_R_KEY_EXPIRED:
        return M2MSEC_SESSION_ERR_EXPIRED;
    default:
        return M2MSEC_SESSION_ERR_INTERNAL;
    }
}

static int seal_one(m2msec_session *s, const unsigned char *in, size_t inlen, unsigned char *out)
{
    int n = 0, m = 0;
    OSSL_PARAM p[2];

    m2msec_header_write(out, s->cur.epoch, s->seq_next);
    m2m_param_fill(&p[0], OSSL_CIPHER_PARAM_AEAD_TAG, OSSL_PARAM_OCTET_STRING,
                   out + M2MSEC_SESSION_HEADER_LEN + inlen, s->taglen);
    m2m_param_end(&p[1]);
    return EVP_EncryptUpdate(s->cur.ctx, NULL, &n, out, M2MSEC_SESSION_HEADER_LEN) &&
           EVP_EncryptUpdate(s->cur.ctx, out + M2MSEC_SESSION_HEADER_LEN, &n, in, (int)inlen) &&
           EVP_EncryptFinal_ex(s->cur.ctx, out + M2MSEC_SESSION_HEADER_LEN + n, &m) &&
           EVP_CIPHER_CTX_get_params(s->cur.ctx, p);
}

/* A failure the library itself detects: queue an error saying what, return st. */
static m2msec_session_status refuse(m2msec_session_status st, int reason, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static m2msec_session_status refuse(m2msec_session_status st, int reason, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    ERR_new();
    ERR_set_debug(OPENSSL_FILE, OPENSSL_LINE, OPENSSL_FUNC);
    ERR_vset_error(ERR_LIB_USER, reason, fmt, ap);
    va_end(ap);
    return st;
}

static m2msec_session_status wrong_role(const char *op, const char *role)
{
    return refuse(M2MSEC_SESSION_ERR_INTERNAL, ERR_R_PASSED_INVALID_ARGUMENT,
                  "m2msec: %s needs a %s session", op, role);
}

static m2msec_session_status seal_status(m2msec_session *s, const unsigned char *in, size_t inlen,
                                         unsigned char *out, size_t outcap, size_t *outlen)
{
    size_t total = inlen + M2MSEC_SESSION_HEADER_LEN + s->taglen;
    m2msec_session_status st;

    *outlen = 0;
    if (s->role != M2MSEC_SESSION_SENDER)
        return wrong_role("m2msec_session_seal", "sender");
    if (forked(s))
        return refuse_forked();
    if (s->broken)
        return refuse_broken(s);
    if (inlen > M2MSEC_SESSION_MAX_RECORD)
        return refuse(M2MSEC_SESSION_ERR_BUFFER, ERR_R_PASSED_INVALID_ARGUMENT,
                      "m2msec: record of %zu bytes is longer than the largest, %zu", inlen,
                      (size_t)M2MSEC_SESSION_MAX_RECORD);
    if (outcap < total)
        return refuse(M2MSEC_SESSION_ERR_BUFFER, ERR_R_PASSED_INVALID_ARGUMENT,
                      "m2msec: output buffer of %zu bytes is too small for the record (%zu)",
                      outcap, total);
    if (s->seq_next >= s->rekey_records || s->bytes + inlen > s->rekey_bytes ||
        s->seq_next > M2MSEC_MAX_SEQ || now_seconds() >= s->rekey_time) {
        if ((st = sender_enter(s, s->next_epoch)) != M2MSEC_SESSION_OK)
            return st;
        s->stats.rekeys++;
    }
    if (!seal_one(s, in, inlen, out)) {
        st = status_from_error();
        OPENSSL_cleanse(out, total);
        /* The cipher may have consumed the number: resynchronise with it. */
        {
            OSSL_PARAM p[2];

            p[0] = OSSL_PARAM_construct_uint64(M2MSEC_REC_PARAM_NEXT_SEQ, &s->seq_next);
            p[1] = OSSL_PARAM_construct_end();
            EVP_CIPHER_CTX_get_params(s->cur.ctx, p);
        }
        return st;
    }
    s->seq_next++;
    s->bytes += inlen;
    s->stats.records++;
    *outlen = total;
    return M2MSEC_SESSION_OK;
}

int m2msec_session_seal(m2msec_session *s, const unsigned char *in, size_t inlen,
                        unsigned char *out, size_t outcap, size_t *outlen,
                        m2msec_session_status *status)
{
    m2msec_session_status st = seal_status(s, in, inlen, out, outcap, outlen);

    if (status != NULL)
        *status = st;
    return st == M2MSEC_SESSION_OK;
}

/* Receiver: decrypt with k; 1 on success. */
static int open_with(m2msec_session *s, epoch_key *k, uint64_t seq, const unsigned char *in,
                     size_t ctlen, unsigned char *out)
{
    int n = 0, m = 0;
    OSSL_PARAM p[3];

    m2m_param_fill(&p[0], M2MSEC_REC_PARAM_SEQ, OSSL_PARAM_UNSIGNED_INTEGER, &seq, sizeof(seq));
    m2m_param_fill(&p[1], OSSL_CIPHER_PARAM_AEAD_TAG, OSSL_PARAM_OCTET_STRING,
                   (void *)(in + M2MSEC_SESSION_HEADER_LEN + ctlen), s->taglen);
    m2m_param_end(&p[2]);
    return EVP_CIPHER_CTX_set_params(k->ctx, p) &&
           EVP_DecryptUpdate(k->ctx, NULL, &n, in, M2MSEC_SESSION_HEADER_LEN) &&
           EVP_DecryptUpdate(k->ctx, out, &n, in + M2MSEC_SESSION_HEADER_LEN, (int)ctlen) &&
           EVP_DecryptFinal_ex(k->ctx, out + n, &m);
}

/*
 * Persist the floor ahead of use: every record of this epoch accepted
 * from now on has seq < floor until the next save. The step adapts so that
 * a slow sender loses nothing after a receiver restart (step 1: the floor
 * is exactly the next record) while a fast one costs about one sync per
 * second (the step doubles while saves come faster than that).
 */
static int save_floor(m2msec_session *s, uint64_t epoch, uint64_t seq)
{
    uint64_t t = now_ms();
    m2msec_session_state st;

    if (s->floor_step == 0)
        s->floor_step = 1;
    else if (t - s->last_save_ms < 1000 && s->floor_step < s->pol.seq_floor_step)
        s->floor_step *= 2;
    else if (t - s->last_save_ms > 10000 && s->floor_step > 1)
        s->floor_step /= 2;
    s->last_save_ms = t;
    st.epoch = epoch;
    st.seq_floor = seq + s->floor_step;
    if (st.seq_floor < seq)
        st.seq_floor = UINT64_MAX;
    if (state_save(s, &st) != M2MSEC_SESSION_OK)
        return 0;
    s->floor_saved = st.seq_floor;
    return 1;
}

/*
 * Token buckets for candidate derivations of further-ahead epochs, in
 * milli-tokens: `rate` tokens per second, at most `burst`, full at first
 * use. The clock is CLOCK_MONOTONIC_COARSE (now_ms).
 */
static int bucket_take(uint64_t *tokens, uint64_t *last, int *init, uint64_t rate, uint64_t burst,
                       uint64_t t)
{
    const uint64_t cap = burst * 1000;

    if (!*init || t < *last) {
        *tokens = *init ? *tokens : cap;
        *last = t;
        *init = 1;
    }
    if (t - *last >= cap / rate + 1) /* rate >= 1: no overflow below */
        *tokens = cap;
    else if ((*tokens += (t - *last) * rate) > cap)
        *tokens = cap;
    *last = t;
    if (*tokens < 1000)
        return 0;
    *tokens -= 1000;
    return 1;
}

static pthread_mutex_t proc_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t proc_rate = DEFAULT_PROC_RATE, proc_burst = DEFAULT_PROC_BURST;
static uint64_t proc_tokens, proc_last;
static int proc_init;

void m2msec_session_set_candidate_limit(uint64_t rate, uint64_t burst)
{
    pthread_mutex_lock(&proc_lock);
    if (rate != 0)
        proc_rate = rate > MAX_CAND_LIMIT ? MAX_CAND_LIMIT : rate;
    if (burst != 0)
        proc_burst = burst > MAX_CAND_LIMIT ? MAX_CAND_LIMIT : burst;
    proc_init = 0; /* a new budget starts full */
    pthread_mutex_unlock(&proc_lock);
}

/* One token from this session's bucket and from the process bucket, or none taken. */
static int candidate_budget(m2msec_session *s)
{
    uint64_t t = now_ms();
    int ok;

    if (!bucket_take(&s->cand_tokens, &s->cand_last_ms, &s->cand_init, s->pol.candidate_rate,
                     s->pol.candidate_burst, t))
        return 0;
    pthread_mutex_lock(&proc_lock);
    ok = bucket_take(&proc_tokens, &proc_last, &proc_init, proc_rate, proc_burst, t);
    pthread_mutex_unlock(&proc_lock);
    if (!ok)
        s->cand_tokens += 1000; /* give the session's token back */
    return ok;
}

/*
 * Error-queue hygiene without a mark per record (a mark costs as much as a
 * small record's MAC): only a queue that was not empty when
 * m2msec_session_open began gets a mark, so that a record that opens
 * leaves the queue as it found it. A refusal always leaves its error
 * queued (the library's return convention, include/m2msec/m2msec.h);
 * OpenSSL's queue is a ring of 16 entries, so a stream of refusals does
 * not make it grow.
 */
static int queue_begin(void)
{
    if (ERR_peek_error() == 0)
        return 0;
    ERR_set_mark();
    return 1;
}

/*
 * The mark is taken lazily (*marked: -1 not yet looked at), just before
 * the first step of an open that could queue an error and still succeed
 * (a candidate derivation, a state save). An ordinary record of the
 * current epoch that opens queues nothing, so it skips the look at the
 * queue altogether (issue 13: ERR_peek_error on every open).
 */
static void queue_mark(int *marked)
{
    if (*marked < 0)
        *marked = queue_begin();
}

static m2msec_session_status reject(m2msec_session *s, int marked, m2msec_session_status st,
                                    unsigned char *out, size_t n)
{
    if (out != NULL && n > 0)
        OPENSSL_cleanse(out, n);
    s->stats.rejected[st]++;
    if (marked > 0)
        ERR_clear_last_mark();
    return st;
}

static m2msec_session_status stale_epoch(uint64_t epoch)
{
    return refuse(M2MSEC_SESSION_ERR_OLD_EPOCH, ERR_R_OPERATION_FAIL,
                  "m2msec: stale epoch: records of epoch %llu are no longer accepted",
                  (unsigned long long)epoch);
}

static m2msec_session_status open_status(m2msec_session *s, const unsigned char *in, size_t inlen,
                                         unsigned char *out, size_t outcap, size_t *outlen)
{
    uint64_t epoch, seq, now;
    size_t ctlen;
    epoch_key *k, far = {0}; /* far: a further-ahead candidate, never cached */
    int marked = -1;         /* queue_mark() */

    *outlen = 0;
    if (s->role != M2MSEC_SESSION_RECEIVER)
        return wrong_role("m2msec_session_open", "receiver");
    if (forked(s))
        return refuse_forked();
    if (s->broken)
        return reject(s, marked, refuse_broken(s), NULL, 0);
    if (inlen < M2MSEC_SESSION_HEADER_LEN + s->taglen || !m2msec_header_read(in, &epoch, &seq))
        return reject(s, marked,
                      refuse(M2MSEC_SESSION_ERR_MALFORMED, ERR_R_PASSED_INVALID_ARGUMENT,
                             "m2msec: not a record (%zu bytes, or an unknown version)", inlen),
                      NULL, 0);
    ctlen = inlen - M2MSEC_SESSION_HEADER_LEN - s->taglen;
    if (ctlen > M2MSEC_SESSION_MAX_RECORD || outcap < ctlen)
        return reject(s, marked,
                      refuse(M2MSEC_SESSION_ERR_BUFFER, ERR_R_PASSED_INVALID_ARGUMENT,
                             "m2msec: output buffer of %zu bytes is too small for the record's "
                             "%zu (or the record is too long)",
                             outcap, ctlen),
                      NULL, 0);
    if (s->have_min && (epoch < s->min_epoch))
        return reject(s, marked, stale_epoch(epoch), NULL, 0);
    if (s->have_restart && epoch == s->restart_epoch && seq < s->restart_floor)
        return reject(s, marked,
                      refuse(M2MSEC_SESSION_ERR_TOO_OLD, ERR_R_OPERATION_FAIL,
                             "m2msec: record outside replay window: below the floor kept "
                             "across a restart (epoch %llu)",
                             (unsigned long long)epoch),
                      NULL, 0);

    now = now_seconds();
    if (s->prev.ctx != NULL && now >= s->prev.until)
        epoch_key_clear(&s->prev);
    if (s->cur.ctx != NULL && epoch == s->cur.epoch) {
        k = &s->cur;
    } else if (s->prev.ctx != NULL && epoch == s->prev.epoch) {
        k = &s->prev;
    } else if (s->cur.ctx == NULL || epoch > s->cur.epoch) {
        /*
         * A newer epoch (docs/PROTOCOL.md 6.3): derive its key, cached while
         * unauthenticated but for grace_seconds at most. The key's lifetime
         * runs from its derivation, so a candidate derived long before the
         * epoch's first genuine record (say, for a forged record) would
         * expire early. What a forged record can cost is bounded: the next
         * epoch (base + 1, and before the first record after a start the
         * stored epoch itself) is always tried, each in its own cached slot,
         * so it is derived at most once per grace period whatever arrives;
         * an epoch further ahead, up to max_epoch_jump, needs a token from
         * the session's and the process's buckets and is not cached (it
         * cannot evict the next epoch's candidate); beyond that, refused.
         */
        uint64_t base = s->cur.ctx != NULL ? s->cur.epoch : s->restart_epoch;
        epoch_key *slot;

        queue_mark(&marked);
        if (epoch - base > s->pol.max_epoch_jump)
            return reject(s, marked,
                          refuse(M2MSEC_SESSION_ERR_EPOCH_AHEAD, ERR_R_OPERATION_FAIL,
                                 "m2msec: epoch too far ahead: epoch %llu is more than "
                                 "max_epoch_jump (%llu) past epoch %llu; refused before any "
                                 "derivation",
                                 (unsigned long long)epoch,
                                 (unsigned long long)s->pol.max_epoch_jump,
                                 (unsigned long long)base),
                          NULL, 0);
        if (s->cur.ctx == NULL && epoch == base) {
            slot = &s->rest;
        } else if (epoch == base + 1) {
            slot = &s->cand;
        } else {
            if (!candidate_budget(s))
                return reject(s, marked,
                              refuse(M2MSEC_SESSION_ERR_RATE_LIMIT, ERR_R_OPERATION_FAIL,
                                     "m2msec: candidate epoch rate limit: no derivation for "
                                     "epoch %llu (more than one past %llu) until the session's "
                                     "or the process's budget refills",
                                     (unsigned long long)epoch, (unsigned long long)base),
                              NULL, 0);
            slot = &far;
        }
        if (slot->ctx == NULL || slot->epoch != epoch || now >= slot->until) {
            s->stats.candidates++;
            if (!epoch_key_make(s, slot, epoch, NULL))
                return reject(s, marked, M2MSEC_SESSION_ERR_INTERNAL, NULL, 0);
            slot->until = now + s->pol.grace_seconds;
        }
        k = slot;
    } else {
        return reject(s, marked, stale_epoch(epoch), NULL, 0);
    }
    if (!open_with(s, k, seq, in, ctlen, out)) {
        epoch_key_clear(&far);
        return reject(s, marked, status_from_error(), out, ctlen);
    }

    if (k == &s->cand || k == &s->rest || k == &far) {
        epoch_key restored = {0};

        /*
         * After a restart the stored epoch is the current one, even before
         * this process has opened a record of it: when a newer epoch comes
         * first, the stored one is kept as previous like any other current
         * epoch, so its late records are not lost. Its context is set up
         * only now, when it is needed (a context set up at start-up could
         * expire before the epoch ends), or taken from its candidate slot
         * if a record of it was tried within the grace period. Safety does
         * not depend on it: the checks above still refuse every record of
         * the stored epoch below the stored floor, and the new context's
         * window refuses replays of what is accepted from now on. A stored
         * floor of 0 means nothing of that epoch was ever accepted (the
         * initial state of a first start, m2msec_store_init): then there is
         * no previous epoch to keep.
         */
        if (s->cur.ctx == NULL && s->have_restart && epoch > s->restart_epoch &&
            s->restart_floor > 0) {
            if (s->rest.ctx != NULL && s->rest.epoch == s->restart_epoch && now < s->rest.until) {
                restored = s->rest;
                s->rest.ctx = NULL;
            } else if (!epoch_key_make(s, &restored, s->restart_epoch, NULL)) {
                epoch_key_clear(&far);
                return reject(s, marked, M2MSEC_SESSION_ERR_INTERNAL, out, ctlen);
            }
        }
        /*
         * Authenticated: persist before accepting, then move forward for
         * good. The floor step starts again at 1 in a new epoch, so that it
         * tracks the record rate rather than growing across short epochs.
         */
        s->floor_step = 0;
        if (!save_floor(s, epoch, seq)) {
            epoch_key_clear(&restored);
            epoch_key_clear(&far);
            return reject(s, marked, M2MSEC_SESSION_ERR_STORAGE, out, ctlen);
        }
        epoch_key_clear(&s->prev);
        if (s->cur.ctx != NULL) {
            s->prev = s->cur;
        } else {
            s->prev = restored; /* no context unless restored above */
        }
        if (s->prev.ctx != NULL) {
            s->prev.until = now + s->pol.grace_seconds;
            s->stats.rekeys++;
        }
        s->cur = *k;
        k->ctx = NULL;
        k = &s->cur;
        /* Candidates of epochs that are no longer next are dropped. */
        epoch_key_clear(&s->rest);
        if (s->cand.ctx != NULL && s->cand.epoch != epoch + 1)
            epoch_key_clear(&s->cand);
        s->cur_high = seq;
        s->min_epoch = s->prev.ctx != NULL ? s->prev.epoch : epoch;
        s->have_min = 1;
        s->stats.epoch = epoch;
    } else if (k == &s->cur && seq >= s->floor_saved) {
        queue_mark(&marked);
        if (!save_floor(s, epoch, seq))
            return reject(s, marked, M2MSEC_SESSION_ERR_STORAGE, out, ctlen);
    }
    if (k == &s->cur && seq > s->cur_high)
        s->cur_high = seq;
    if (marked > 0)
        ERR_pop_to_mark();
    s->stats.records++;
    *outlen = ctlen;
    return M2MSEC_SESSION_OK;
}

int m2msec_session_open(m2msec_session *s, const unsigned char *in, size_t inlen,
                        unsigned char *out, size_t outcap, size_t *outlen,
                        m2msec_session_status *status)
{
    m2msec_session_status st = open_status(s, in, inlen, out, outcap, outlen);

    if (status != NULL)
        *status = st;
    return st == M2MSEC_SESSION_OK;
}

void m2msec_session_get_stats(const m2msec_session *s, m2msec_session_stats *st)
{
    const epoch_key *keys[4] = {&s->cur, &s->prev, &s->cand, &s->rest};

    *st = s->stats;
    st->memory = sizeof(*s) + s->key_len;
    for (int i = 0; i < 4; i++) {
        uint64_t mem = 0;
        OSSL_PARAM p[2];

        if (keys[i]->ctx == NULL)
            continue;
        p[0] = OSSL_PARAM_construct_uint64(M2MSEC_REC_PARAM_MEMORY, &mem);
        p[1] = OSSL_PARAM_construct_end();
        if (EVP_CIPHER_CTX_get_params(keys[i]->ctx, p))
            st->memory += (size_t)mem;
    }
}
