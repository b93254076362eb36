/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Threads on one m2msec provider, and the ThreadSanitizer target.
 *
 *  - 16 threads, each with its own KDF and cipher contexts on ONE provider
 *    in one library context, derive (M2M-SESSION-KDF, ONEM2M-KDF,
 *    OSCORE-KDF) and seal/open records (the four M2M-REC ciphers) in loops;
 *    every result is compared with reference values computed beforehand in
 *    one thread (m2msec itself, checked against OpenSSL's own HKDF, HMAC
 *    and AEADs). Decryption also refuses a replay and a forgery.
 *  - a sender/receiver session pair per thread, re-keying every few
 *    records;
 *  - concurrent provider loading: threads each loading m2msec into their
 *    own new library context, and threads loading it into one shared
 *    library context at the same time;
 *  - the key registry under contention: threads claiming distinct keys at
 *    the same time (the table grows meanwhile), and all threads claiming
 *    the same key: exactly one wins, the others get "key already used for
 *    encryption". Through EVP, and directly on the registry (m2msec_core);
 *  - the errors of one provider instance after another instance in the
 *    same process was unloaded;
 *  - one key's failed-decryption budget, spent by threads that each make a
 *    fresh context per attempt (the process-wide counters, their creation
 *    while other threads read them).
 *
 * Threads never call CUnit: they count mismatches, the main thread checks.
 * Build with -Db_sanitize=thread for ThreadSanitizer (tests/hardening/
 * tsan.supp, meson.build). M2M_THREADS_ITER scales the loops.
 */
#define _XOPEN_SOURCE 700 /* nftw, mkdtemp (hard_test.h) */

#include <pthread.h>
#include <stdatomic.h>

#include <openssl/rand.h>

#include "hard_test.h"
#include "key_registry.h"
#include "mem_store.h"
#include "m2msec/session.h"
#include "session_call.h"

#define NTHREADS 16
#define MAXITER 64
#define NREC 6
#define RECLEN 40

static const char *mods;
static OSSL_LIB_CTX *libctx; /* m2msec + default, shared by all threads */
static OSSL_PROVIDER *prov, *prov_default;
static OSSL_LIB_CTX *refctx; /* default only */
static OSSL_PROVIDER *ref_default;
static unsigned iters = 8;
static EVP_KDF *kdf_session, *kdf_onem2m, *kdf_oscore;
static EVP_CIPHER *ciphers[HT_NALGS];

static const unsigned char service_key[32] = {
    0x71, 0x0c, 0xe4, 0x29, 0x9a, 0x3d, 0x58, 0xb1, 0x06, 0xcf, 0x42, 0x87, 0x1b, 0xf0, 0x65, 0xda,
    0x2e, 0x93, 0x4c, 0x17, 0xb8, 0x61, 0xa5, 0x0f, 0xd3, 0x3a, 0x7e, 0xc2, 0x59, 0x04, 0xeb, 0x96,
};
static const unsigned char rec_aad[13] = "m2msec-thread";

/* ======================================================================== */
/* References, computed in one thread before the threads start              */
/* ======================================================================== */

typedef struct {
    char originator[48], maf_id[48];
    unsigned char oscore_id[4];
    const ht_alg *alg;
    unsigned char km[32 + HT_IVLEN]; /* session key || static IV */
    unsigned char onem2m[32], oscore[16];
    unsigned char pt[NREC][RECLEN], ct[NREC][RECLEN], tag[NREC][HT_TAGLEN];
} job;

static job jobs[NTHREADS][MAXITER];

static void job_names(job *j, unsigned t, unsigned i)
{
    snprintf(j->originator, sizeof(j->originator), "CAE-thread-%02u-iter-%02u", t, i);
    snprintf(j->maf_id, sizeof(j->maf_id), "MAF-%02u-%02u", t, i);
    j->oscore_id[0] = (unsigned char)t;
    j->oscore_id[1] = (unsigned char)i;
    j->oscore_id[2] = 0x5a;
    j->oscore_id[3] = 0xc3;
    j->alg = &ht_algs[(t + i) % HT_NALGS];
}

static int derive_session(EVP_KDF *kdf, const job *j, unsigned char *out, size_t outlen)
{
    uint64_t epoch = 1, lifetime = 900;
    EVP_KDF_CTX *kctx = EVP_KDF_CTX_new(kdf);
    OSSL_PARAM p[8];
    int ok;

    p[0] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)service_key,
                                             sizeof(service_key));
    p[1] = OSSL_PARAM_construct_utf8_string("purpose", (char *)"thread test", 0);
    p[2] = OSSL_PARAM_construct_utf8_string("originator", (char *)j->originator, 0);
    p[3] = OSSL_PARAM_construct_utf8_string("receiver", (char *)"CSE-threads", 0);
    p[4] = OSSL_PARAM_construct_uint64("epoch", &epoch);
    p[5] = OSSL_PARAM_construct_uint64("lifetime", &lifetime);
    p[6] = OSSL_PARAM_construct_utf8_string("aead", (char *)j->alg->m2m, 0);
    p[7] = OSSL_PARAM_construct_end();
    ok = kctx != NULL && EVP_KDF_derive(kctx, out, outlen, p) > 0;
    EVP_KDF_CTX_free(kctx);
    return ok;
}

static int kdf_onem2m_km(EVP_KDF *kdf, const job *j, unsigned char out[32])
{
    EVP_KDF_CTX *kctx = EVP_KDF_CTX_new(kdf);
    OSSL_PARAM p[4];
    int ok;

    p[0] = OSSL_PARAM_construct_utf8_string("derivation", (char *)"km", 0);
    p[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)service_key,
                                             sizeof(service_key));
    p[2] = OSSL_PARAM_construct_utf8_string("maf-id", (char *)j->maf_id, 0);
    p[3] = OSSL_PARAM_construct_end();
    ok = kctx != NULL && EVP_KDF_derive(kctx, out, 32, p) > 0;
    EVP_KDF_CTX_free(kctx);
    return ok;
}

static int kdf_oscore_key(EVP_KDF *kdf, const job *j, unsigned char out[16])
{
    EVP_KDF_CTX *kctx = EVP_KDF_CTX_new(kdf);
    OSSL_PARAM p[4];
    int ok;

    p[0] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)service_key, 16);
    p[1] = OSSL_PARAM_construct_octet_string("id", (void *)j->oscore_id, sizeof(j->oscore_id));
    p[2] = OSSL_PARAM_construct_utf8_string("type", (char *)"key", 0);
    p[3] = OSSL_PARAM_construct_end();
    ok = kctx != NULL && EVP_KDF_derive(kctx, out, 16, p) > 0;
    EVP_KDF_CTX_free(kctx);
    return ok;
}

/* OSCORE Sender Key, RFC 8613 3.2.1, from stock HKDF: info = [id, nil, 10, "Key", 16]. */
static int ref_oscore(const job *j, unsigned char out[16])
{
    unsigned char info[32], *p = info;
    EVP_KDF *kdf = EVP_KDF_fetch(refctx, "HKDF", NULL);
    EVP_KDF_CTX *kctx = kdf != NULL ? EVP_KDF_CTX_new(kdf) : NULL;
    OSSL_PARAM prm[4];
    int ok;

    *p++ = 0x85;
    *p++ = 0x40 | sizeof(j->oscore_id);
    memcpy(p, j->oscore_id, sizeof(j->oscore_id));
    p += sizeof(j->oscore_id);
    *p++ = 0xf6;
    *p++ = 0x0a;
    *p++ = 0x63;
    memcpy(p, "Key", 3);
    p += 3;
    *p++ = 0x10;
    prm[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA2-256", 0);
    prm[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)service_key, 16);
    prm[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info, (size_t)(p - info));
    prm[3] = OSSL_PARAM_construct_end();
    ok = kctx != NULL && EVP_KDF_derive(kctx, out, 16, prm) > 0;
    EVP_KDF_CTX_free(kctx);
    EVP_KDF_free(kdf);
    return ok;
}

static int make_references(void)
{
    static const char label_km[] = "oneM2M Enrolment Key to Master Credential derivation";

    for (unsigned t = 0; t < NTHREADS; t++)
        for (unsigned i = 0; i < iters; i++) {
            job *j = &jobs[t][i];
            unsigned char ref[32 + HT_IVLEN], ref2[32], ref3[16];
            size_t kl;

            job_names(j, t, i);
            kl = j->alg->keylen + HT_IVLEN;
            /* single-threaded m2msec, checked against OpenSSL's own algorithms */
            if (!derive_session(kdf_session, j, j->km, kl) ||
                !ht_ref_session_kdf(refctx, service_key, sizeof(service_key), "thread test",
                                    j->originator, "CSE-threads", 1, 0, 900, j->alg->m2m, ref,
                                    kl) ||
                memcmp(ref, j->km, kl) != 0)
                return 0;
            if (!kdf_onem2m_km(kdf_onem2m, j, j->onem2m) ||
                !ht_ref_hmac(refctx, service_key, sizeof(service_key), label_km,
                             sizeof(label_km) - 1, j->maf_id, strlen(j->maf_id), NULL, 0, ref2) ||
                memcmp(ref2, j->onem2m, 32) != 0)
                return 0;
            if (!kdf_oscore_key(kdf_oscore, j, j->oscore) || !ref_oscore(j, ref3) ||
                memcmp(ref3, j->oscore, 16) != 0)
                return 0;
            for (unsigned r = 0; r < NREC; r++) {
                ht_bytes(j->pt[r], RECLEN, (uint64_t)t << 32 | i << 8 | r);
                if (!ht_ref_record(refctx, j->alg, j->km, j->km + j->alg->keylen, 2, r, rec_aad,
                                   sizeof(rec_aad), j->pt[r], RECLEN, j->ct[r], j->tag[r]))
                    return 0;
            }
        }
    return 1;
}

/* ======================================================================== */
/* Threads                                                                  */
/* ======================================================================== */

typedef struct {
    unsigned t;
    unsigned long kdf_bad, seal_bad, open_bad, replay_bad, forgery_bad, ops;
    unsigned long sess_bad, sess_records, sess_rekeys;
    unsigned long load_bad;
    char first[256]; /* the first problem, for the message */
} tstate;

static pthread_barrier_t start_line;

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static void
note(tstate *ts, const char *fmt, ...)
{
    va_list ap;

    if (ts->first[0] != '\0')
        return;
    va_start(ap, fmt);
    vsnprintf(ts->first, sizeof(ts->first), fmt, ap);
    va_end(ap);
}

static unsigned long reason_of_last(void)
{
    unsigned long e = ERR_peek_last_error();

    return (unsigned long)ERR_GET_REASON(e);
}

static void *worker(void *arg)
{
    tstate *ts = arg;
    unsigned char buf[32 + HT_IVLEN], ct[RECLEN], tag[HT_TAGLEN], pt[RECLEN];

    pthread_barrier_wait(&start_line);
    for (unsigned i = 0; i < iters; i++) {
        const job *j = &jobs[ts->t][i];
        size_t kl = j->alg->keylen + HT_IVLEN;
        /* half of the threads fetch their own algorithms every time (the fetch cache) */
        int own = ts->t % 2 == 1;
        EVP_KDF *ks = own ? EVP_KDF_fetch(libctx, "M2M-SESSION-KDF", NULL) : kdf_session;
        EVP_KDF *ko = own ? EVP_KDF_fetch(libctx, "ONEM2M-KDF", NULL) : kdf_onem2m;
        EVP_KDF *kc = own ? EVP_KDF_fetch(libctx, "OSCORE-KDF", NULL) : kdf_oscore;
        EVP_CIPHER *c =
            own ? EVP_CIPHER_fetch(libctx, j->alg->m2m, NULL) : ciphers[j->alg - ht_algs];
        EVP_CIPHER_CTX *e = NULL, *d = NULL;
        uint64_t seq = 0;

        ts->ops++;
        if (ks == NULL || ko == NULL || kc == NULL || c == NULL) {
            ts->kdf_bad++;
            note(ts, "thread %u: fetch failed", ts->t);
            goto next;
        }
        memset(buf, 0, sizeof(buf));
        if (!derive_session(ks, j, buf, kl) || memcmp(buf, j->km, kl) != 0) {
            ts->kdf_bad++;
            note(ts, "thread %u iter %u: M2M-SESSION-KDF differs", ts->t, i);
        }
        if (!kdf_onem2m_km(ko, j, buf) || memcmp(buf, j->onem2m, 32) != 0) {
            ts->kdf_bad++;
            note(ts, "thread %u iter %u: ONEM2M-KDF differs", ts->t, i);
        }
        if (!kdf_oscore_key(kc, j, buf) || memcmp(buf, j->oscore, 16) != 0) {
            ts->kdf_bad++;
            note(ts, "thread %u iter %u: OSCORE-KDF differs", ts->t, i);
        }
        /* seal: the key derived above, its own encrypting context */
        e = ht_rec_ctx(c, 1, j->km, j->km + j->alg->keylen, 2);
        for (unsigned r = 0; r < NREC; r++) {
            if (e == NULL ||
                !ht_rec_seal(e, rec_aad, sizeof(rec_aad), j->pt[r], RECLEN, ct, tag, &seq) ||
                seq != r || memcmp(ct, j->ct[r], RECLEN) != 0 ||
                memcmp(tag, j->tag[r], HT_TAGLEN) != 0) {
                ts->seal_bad++;
                note(ts, "thread %u iter %u: %s record %u differs from OpenSSL's", ts->t, i,
                     j->alg->m2m, r);
                ERR_clear_error();
                break;
            }
        }
        /* open, in another order; then a replay and a forgery are refused */
        d = ht_rec_ctx(c, 0, j->km, j->km + j->alg->keylen, 2);
        for (unsigned k = 0; k < NREC; k++) {
            unsigned r = (k * 5 + i) % NREC;

            if (d == NULL ||
                !ht_rec_open(d, r, rec_aad, sizeof(rec_aad), j->ct[r], RECLEN, j->tag[r], pt) ||
                memcmp(pt, j->pt[r], RECLEN) != 0) {
                ts->open_bad++;
                note(ts, "thread %u iter %u: %s record %u does not open", ts->t, i, j->alg->m2m, r);
                ERR_clear_error();
                break;
            }
        }
        if (d != NULL) {
            if (ht_rec_open(d, 1, rec_aad, sizeof(rec_aad), j->ct[1], RECLEN, j->tag[1], pt) ||
                reason_of_last() != M2MSEC_R_REPLAYED_RECORD) {
                ts->replay_bad++;
                note(ts, "thread %u iter %u: replay not refused as such", ts->t, i);
            }
            ERR_clear_error();
            memcpy(ct, j->ct[0], RECLEN);
            ct[3] ^= 0x40;
            if (ht_rec_open(d, NREC, rec_aad, sizeof(rec_aad), ct, RECLEN, j->tag[0], pt) ||
                reason_of_last() != M2MSEC_R_AUTH_FAILED) {
                ts->forgery_bad++;
                note(ts, "thread %u iter %u: forgery not refused as such", ts->t, i);
            }
            ERR_clear_error();
        }
    next:
        EVP_CIPHER_CTX_free(e);
        EVP_CIPHER_CTX_free(d);
        if (own) {
            EVP_KDF_free(ks);
            EVP_KDF_free(ko);
            EVP_KDF_free(kc);
            EVP_CIPHER_free(c);
        }
    }
    ERR_clear_error();
    return NULL;
}

/* Start n threads on fn with their own tstate; join them. */
static void run_threads(unsigned n, void *(*fn)(void *), tstate *ts)
{
    pthread_t th[NTHREADS];
    unsigned started = 0;

    pthread_barrier_init(&start_line, NULL, n);
    for (unsigned t = 0; t < n; t++) {
        memset(&ts[t], 0, sizeof(ts[t]));
        ts[t].t = t;
        if (pthread_create(&th[t], NULL, fn, &ts[t]) != 0)
            break;
        started++;
    }
    CHECK(started == n, "%u of %u threads started", started, n);
    if (started != n) {
        /* the others wait at the barrier for ever: nothing sensible to do */
        fprintf(stderr, "cannot start the threads\n");
        exit(2);
    }
    for (unsigned t = 0; t < started; t++)
        pthread_join(th[t], NULL);
    pthread_barrier_destroy(&start_line);
}

static void test_kdf_and_ciphers(void)
{
    tstate ts[NTHREADS];
    unsigned long ops = 0;

    run_threads(NTHREADS, worker, ts);
    for (unsigned t = 0; t < NTHREADS; t++) {
        CHECK(ts[t].kdf_bad == 0 && ts[t].seal_bad == 0 && ts[t].open_bad == 0 &&
                  ts[t].replay_bad == 0 && ts[t].forgery_bad == 0,
              "thread %u: %lu KDF, %lu seal, %lu open, %lu replay, %lu forgery mismatches (%s)", t,
              ts[t].kdf_bad, ts[t].seal_bad, ts[t].open_bad, ts[t].replay_bad, ts[t].forgery_bad,
              ts[t].first);
        ops += ts[t].ops;
    }
    printf("\n  %d threads x %u iterations: %lu x (3 KDFs, %d records sealed and opened, a "
           "replay and a forgery refused), all equal to the single-threaded references\n",
           NTHREADS, iters, ops, NREC);
}

/* ---- sessions ---- */

static void *session_worker(void *arg)
{
    tstate *ts = arg;
    mem_store ms = MEM_STORE_FIRST_START, mr = MEM_STORE_FIRST_START;
    m2msec_store ss = mem_store_of(&ms), sr = mem_store_of(&mr);
    m2msec_session_policy pol = {0};
    m2msec_session_config cfg = {0};
    m2msec_session *snd, *rcv;
    m2msec_session_stats st;
    unsigned char pt[64], rec[64 + 27], out[64 + 27];
    char origin[48];
    unsigned n = 40 * iters;

    snprintf(origin, sizeof(origin), "CAE-session-thread-%02u", ts->t);
    pol.aead = ht_algs[ts->t % HT_NALGS].m2m;
    pol.max_records = 16; /* re-key every 12 or so records */
    cfg.libctx = libctx;
    cfg.key = service_key;
    cfg.key_len = sizeof(service_key);
    cfg.originator = origin;
    cfg.receiver = "CSE-threads";
    cfg.policy = &pol;
    pthread_barrier_wait(&start_line);
    cfg.role = M2MSEC_SESSION_SENDER;
    cfg.store = &ss;
    snd = m2msec_session_new(&cfg);
    cfg.role = M2MSEC_SESSION_RECEIVER;
    cfg.store = &sr;
    rcv = m2msec_session_new(&cfg);
    if (snd == NULL || rcv == NULL) {
        ts->sess_bad++;
        note(ts, "thread %u: sessions not created", ts->t);
        goto end;
    }
    for (unsigned r = 0; r < n; r++) {
        size_t rl = 0, ol = 0;

        ht_bytes(pt, sizeof(pt), (uint64_t)ts->t << 32 | r);
        if (t_seal(snd, pt, sizeof(pt), rec, sizeof(rec), &rl) != M2MSEC_SESSION_OK ||
            t_open(rcv, rec, rl, out, sizeof(out), &ol) != M2MSEC_SESSION_OK || ol != sizeof(pt) ||
            memcmp(out, pt, sizeof(pt)) != 0) {
            ts->sess_bad++;
            note(ts, "thread %u: record %u does not go through", ts->t, r);
            break;
        }
        ts->sess_records++;
    }
    m2msec_session_get_stats(rcv, &st);
    ts->sess_rekeys = st.rekeys;
end:
    m2msec_session_free(snd);
    m2msec_session_free(rcv);
    ERR_clear_error();
    return NULL;
}

static void test_sessions(void)
{
    tstate ts[NTHREADS];
    unsigned long records = 0, rekeys = 0;

    run_threads(NTHREADS, session_worker, ts);
    for (unsigned t = 0; t < NTHREADS; t++) {
        CHECK(ts[t].sess_bad == 0, "thread %u: %s", t, ts[t].first);
        CHECK(ts[t].sess_rekeys >= 2, "thread %u: only %lu re-keys", t, ts[t].sess_rekeys);
        records += ts[t].sess_records;
        rekeys += ts[t].sess_rekeys;
    }
    printf("\n  %d session pairs in parallel: %lu records sealed and opened, %lu re-keys\n",
           NTHREADS, records, rekeys);
}

/* ---- provider loading ---- */

static OSSL_LIB_CTX *shared_ctx;

/* Derive the reference session key of job (t, 0) in @p ctx. */
static int derive_in(OSSL_LIB_CTX *ctx, unsigned t)
{
    const job *j = &jobs[t][0];
    EVP_KDF *kdf = EVP_KDF_fetch(ctx, "M2M-SESSION-KDF", NULL);
    unsigned char out[32 + HT_IVLEN];
    size_t kl = j->alg->keylen + HT_IVLEN;
    int ok = kdf != NULL && derive_session(kdf, j, out, kl) && memcmp(out, j->km, kl) == 0;

    EVP_KDF_free(kdf);
    return ok;
}

static void *load_own_worker(void *arg)
{
    tstate *ts = arg;

    pthread_barrier_wait(&start_line);
    for (int round = 0; round < 3; round++) {
        OSSL_LIB_CTX *ctx = OSSL_LIB_CTX_new();
        OSSL_PROVIDER *d = NULL, *p = ctx != NULL ? m2msec_provider_load(ctx, mods, &d) : NULL;

        if (p == NULL || !derive_in(ctx, ts->t % NTHREADS)) {
            ts->load_bad++;
            note(ts, "thread %u round %d: load or derive failed", ts->t, round);
            ERR_print_errors_fp(stderr);
        }
        ts->ops++;
        OSSL_PROVIDER_unload(p);
        OSSL_PROVIDER_unload(d);
        OSSL_LIB_CTX_free(ctx);
    }
    ERR_clear_error();
    return NULL;
}

static void *load_shared_worker(void *arg)
{
    tstate *ts = arg;
    OSSL_PROVIDER *d = NULL, *p;

    pthread_barrier_wait(&start_line);
    p = m2msec_provider_load(shared_ctx, mods, &d);
    if (p == NULL || !derive_in(shared_ctx, ts->t)) {
        ts->load_bad++;
        note(ts, "thread %u: load into the shared context or derive failed", ts->t);
        ERR_print_errors_fp(stderr);
    }
    ts->ops++;
    /* everyone has loaded before anyone unloads */
    pthread_barrier_wait(&start_line);
    OSSL_PROVIDER_unload(p);
    OSSL_PROVIDER_unload(d);
    ERR_clear_error();
    return NULL;
}

static void test_concurrent_loading(void)
{
    tstate ts[NTHREADS];
    unsigned long loads = 0;

    run_threads(8, load_own_worker, ts);
    for (unsigned t = 0; t < 8; t++) {
        CHECK(ts[t].load_bad == 0, "own context: %s", ts[t].first);
        loads += ts[t].ops;
    }
    shared_ctx = OSSL_LIB_CTX_new();
    CHECK(shared_ctx != NULL, "shared context");
    if (shared_ctx == NULL)
        return;
    run_threads(8, load_shared_worker, ts);
    for (unsigned t = 0; t < 8; t++)
        CHECK(ts[t].load_bad == 0, "shared context: %s", ts[t].first);
    CHECK(!OSSL_PROVIDER_available(shared_ctx, "m2msec"),
          "m2msec unloaded from the shared context after every thread unloaded it");
    OSSL_LIB_CTX_free(shared_ctx);
    printf("\n  %lu loads into new contexts by 8 threads, 8 concurrent loads into one context, "
           "each deriving the reference key\n",
           loads);
}

/* After other instances of the provider were loaded and unloaded, errors still name m2msec. */
static void test_errors_after_other_instance(void)
{
    OSSL_LIB_CTX *ctx = OSSL_LIB_CTX_new();
    OSSL_PROVIDER *d = NULL, *p = ctx != NULL ? m2msec_provider_load(ctx, mods, &d) : NULL;
    EVP_KDF_CTX *kctx;
    OSSL_PARAM prm[2];
    unsigned char out[16];
    unsigned long e;

    CHECK(p != NULL, "a second instance of m2msec in another library context");
    OSSL_PROVIDER_unload(p);
    OSSL_PROVIDER_unload(d);
    OSSL_LIB_CTX_free(ctx);
    /* an error raised by the first instance (libctx): key shorter than the policy minimum */
    kctx = EVP_KDF_CTX_new(kdf_session);
    prm[0] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)service_key, 8);
    prm[1] = OSSL_PARAM_construct_end();
    ERR_clear_error();
    CHECK(kctx != NULL && EVP_KDF_derive(kctx, out, sizeof(out), prm) <= 0, "short key refused");
    e = ERR_peek_last_error();
    CHECK(ERR_GET_REASON(e) == M2MSEC_R_KEY_TOO_SHORT && ERR_lib_error_string(e) != NULL &&
              ERR_reason_error_string(e) != NULL &&
              strcmp(ERR_reason_error_string(e), "key shorter than policy minimum") == 0,
          "the error names its library and reason (lib %s, reason %s)",
          HT_S(ERR_lib_error_string(e)), HT_S(ERR_reason_error_string(e)));
    ERR_clear_error();
    EVP_KDF_CTX_free(kctx);
}

/* ---- the key registry ---- */

static EVP_CIPHER *race_cipher;
static unsigned char race_key[16], race_iv[HT_IVLEN];
static atomic_int race_wins, race_reused;
static EVP_MAC *direct_hmac; /* the registry itself is process-wide (m2msec_core's copy) */
#define RACE_ROUNDS 40
#define DISTINCT_PER_THREAD 100

/* A claim on the process-wide registry of m2msec_core, fingerprinted with the test's HMAC. */
static int direct_claim(const char *alg, const unsigned char *key, size_t keylen)
{
    M2M_KEY_FP fp;

    return m2m_key_fingerprint(direct_hmac, alg, key, keylen, &fp) &&
           m2m_key_registry_claim(&fp, alg);
}

static void *registry_worker(void *arg)
{
    tstate *ts = arg;
    unsigned char key[16], iv[HT_IVLEN];

    /* distinct keys at the same time: every claim succeeds (the table grows meanwhile) */
    pthread_barrier_wait(&start_line);
    for (unsigned k = 0; k < DISTINCT_PER_THREAD; k++) {
        EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();

        ht_bytes(key, sizeof(key), 0x7000000u + ts->t * 1000u + k);
        ht_bytes(iv, sizeof(iv), 1);
        if (ctx == NULL || !EVP_EncryptInit_ex2(ctx, race_cipher, key, iv, NULL)) {
            ts->load_bad++;
            note(ts, "thread %u: a distinct key was refused", ts->t);
        }
        EVP_CIPHER_CTX_free(ctx);
        if (!direct_claim("direct", key, sizeof(key))) {
            ts->load_bad++;
            note(ts, "thread %u: direct claim of a distinct key refused", ts->t);
        }
    }
    /* the same key in every thread: exactly one wins per round */
    for (int round = 0; round < RACE_ROUNDS; round++) {
        EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();

        pthread_barrier_wait(&start_line);
        ERR_clear_error();
        if (ctx != NULL && EVP_EncryptInit_ex2(ctx, race_cipher, race_key, race_iv, NULL))
            atomic_fetch_add(&race_wins, 1);
        else if (reason_of_last() == M2MSEC_R_KEY_REUSED)
            atomic_fetch_add(&race_reused, 1);
        if (direct_claim("direct-race", race_key, sizeof(race_key)))
            atomic_fetch_add(&race_wins, 1000);
        ERR_clear_error();
        EVP_CIPHER_CTX_free(ctx);
        /* the main thread... no: thread 0 picks the next key once everyone is done */
        pthread_barrier_wait(&start_line);
        if (ts->t == 0)
            ht_bytes(race_key, sizeof(race_key), 0x8000000u + (unsigned)round + 1);
    }
    return NULL;
}

static void test_registry(void)
{
    tstate ts[NTHREADS];
    EVP_MAC *hmac = EVP_MAC_fetch(refctx, "HMAC", NULL);

    race_cipher = ciphers[0];
    ht_bytes(race_key, sizeof(race_key), 0x8000000u);
    ht_bytes(race_iv, sizeof(race_iv), 2);
    direct_hmac = hmac;
    CHECK(hmac != NULL && m2m_key_registry_init(), "the process-wide registry (m2msec_core)");
    if (hmac == NULL) {
        EVP_MAC_free(hmac);
        return;
    }
    atomic_store(&race_wins, 0);
    atomic_store(&race_reused, 0);
    run_threads(NTHREADS, registry_worker, ts);
    for (unsigned t = 0; t < NTHREADS; t++)
        CHECK(ts[t].load_bad == 0, "%s", ts[t].first);
    /* per round: one EVP winner (1) and one direct winner (1000) */
    CHECK(atomic_load(&race_wins) == RACE_ROUNDS * 1001,
          "exactly one winner per round: %d (want %d)", atomic_load(&race_wins),
          RACE_ROUNDS * 1001);
    CHECK(atomic_load(&race_reused) == RACE_ROUNDS * (NTHREADS - 1),
          "every loser told 'key already used for encryption': %d of %d", atomic_load(&race_reused),
          RACE_ROUNDS * (NTHREADS - 1));
    printf("\n  %d threads: %d distinct keys claimed concurrently (through EVP and directly), "
           "%d rounds of one key claimed by all threads: one winner each\n",
           NTHREADS, NTHREADS * DISTINCT_PER_THREAD, RACE_ROUNDS);
    direct_hmac = NULL;
    EVP_MAC_free(hmac);
}

/* ---- the failed-decryption budget of one key, shared by threads ---- */

#define BUDGET 48
static EVP_CIPHER *budget_cipher;
static unsigned char budget_key[16], budget_iv[HT_IVLEN];
static unsigned char budget_pt[RECLEN], budget_ct[RECLEN], budget_tag[HT_TAGLEN];

/* A fresh decrypting context of the budget key for every attempt, as per candidate epoch. */
static EVP_CIPHER_CTX *budget_ctx(const unsigned char *key)
{
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    uint64_t epoch = 2, maxf = BUDGET;
    OSSL_PARAM p[3];

    p[0] = OSSL_PARAM_construct_uint64(M2MSEC_REC_PARAM_EPOCH, &epoch);
    p[1] = OSSL_PARAM_construct_uint64(M2MSEC_REC_PARAM_MAX_FAILURES, &maxf);
    p[2] = OSSL_PARAM_construct_end();
    if (ctx == NULL || !EVP_DecryptInit_ex2(ctx, budget_cipher, key, budget_iv, p)) {
        EVP_CIPHER_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

static void *budget_worker(void *arg)
{
    tstate *ts = arg;
    unsigned char forged[HT_TAGLEN], pt[RECLEN], own[16];

    memcpy(forged, budget_tag, HT_TAGLEN);
    forged[0] ^= 0x01;
    /* a key of this thread's own: its counter is created while the others read theirs */
    ht_bytes(own, sizeof(own), 0x9100000u + ts->t);
    pthread_barrier_wait(&start_line);
    for (unsigned a = 0; a < 4 * BUDGET; a++) {
        EVP_CIPHER_CTX *d = budget_ctx(a % 8 == 3 ? own : budget_key);
        int ok;

        if (d == NULL) {
            ts->load_bad++;
            note(ts, "thread %u: no decrypting context", ts->t);
            break;
        }
        ERR_clear_error();
        ok = ht_rec_open(d, a, rec_aad, sizeof(rec_aad), budget_ct, RECLEN, forged, pt);
        EVP_CIPHER_CTX_free(d);
        if (ok) {
            ts->forgery_bad++;
            note(ts, "thread %u: a forged record opened", ts->t);
            break;
        }
        if (reason_of_last() == M2MSEC_R_AUTH_FAILED) {
            if (a % 8 != 3)
                ts->ops++; /* one attempt that reached authentication */
        } else if (reason_of_last() == M2MSEC_R_KEY_EXPIRED) {
            if (a % 8 == 3) {
                ts->forgery_bad++;
                note(ts, "thread %u: its own key was refused as expired", ts->t);
            }
            ts->sess_records++; /* refused before any decryption */
        } else {
            ts->forgery_bad++;
            note(ts, "thread %u: unexpected error %lu", ts->t, reason_of_last());
        }
    }
    ERR_clear_error();
    return NULL;
}

static void test_failure_budget(void)
{
    tstate ts[NTHREADS];
    unsigned long reached = 0, refused = 0;
    uint64_t failures = UINT64_MAX;
    EVP_CIPHER_CTX *d;
    unsigned char pt[RECLEN];
    OSSL_PARAM p[2];

    budget_cipher = ciphers[0];
    ht_bytes(budget_key, sizeof(budget_key), 0x9000000u);
    ht_bytes(budget_iv, sizeof(budget_iv), 3);
    ht_bytes(budget_pt, sizeof(budget_pt), 4);
    CHECK(ht_ref_record(refctx, &ht_algs[0], budget_key, budget_iv, 2, 0, rec_aad, sizeof(rec_aad),
                        budget_pt, RECLEN, budget_ct, budget_tag),
          "reference record");
    run_threads(NTHREADS, budget_worker, ts);
    for (unsigned t = 0; t < NTHREADS; t++) {
        CHECK(ts[t].load_bad == 0 && ts[t].forgery_bad == 0, "%s", ts[t].first);
        CHECK(ts[t].sess_records > 0, "thread %u: its attempts ended refused as expired", t);
        reached += ts[t].ops;
        refused += ts[t].sess_records;
    }
    /* Concurrent attempts that passed the check together may each complete: at most one more
     * per thread (PROTOCOL.md 5.3); never a reset. */
    CHECK(reached >= BUDGET && reached <= BUDGET + NTHREADS - 1,
          "%lu forgeries reached authentication against a budget of %d (at most %d more)", reached,
          BUDGET, NTHREADS - 1);
    d = budget_ctx(budget_key);
    p[0] = OSSL_PARAM_construct_uint64(M2MSEC_REC_PARAM_FAILURES, &failures);
    p[1] = OSSL_PARAM_construct_end();
    CHECK(d != NULL && EVP_CIPHER_CTX_get_params(d, p) && failures == reached,
          "the key's count is every failed attempt of every thread: %llu (want %lu)",
          (unsigned long long)failures, reached);
    CHECK(d != NULL &&
              !ht_rec_open(d, 1000, rec_aad, sizeof(rec_aad), budget_ct, RECLEN, budget_tag, pt) &&
              reason_of_last() == M2MSEC_R_KEY_EXPIRED,
          "the spent key refuses even a genuine record");
    ERR_clear_error();
    EVP_CIPHER_CTX_free(d);
    printf("\n  %d threads, a fresh context per attempt: %lu forgeries reached authentication "
           "(budget %d), %lu refused; the key's count reads %llu\n",
           NTHREADS, reached, BUDGET, refused, (unsigned long long)failures);
}

int main(int argc, char **argv)
{
    static const tc_test tests[] = {
        {"KDF and cipher contexts in 16 threads", test_kdf_and_ciphers},
        {"a session pair per thread", test_sessions},
        {"concurrent provider loading", test_concurrent_loading},
        {"errors after another instance was unloaded", test_errors_after_other_instance},
        {"key registry under contention", test_registry},
        {"one key's failure budget shared by threads", test_failure_budget},
    };
    const char *it = getenv("M2M_THREADS_ITER");
    int rc;

    (void)argc;
    mods = getenv("M2M_MODULES");
    if (mods == NULL) {
        fprintf(stderr, "M2M_MODULES is not set (directory of the built m2msec.so)\n");
        return 2;
    }
    if (it != NULL && atoi(it) > 0)
        iters = (unsigned)atoi(it) > MAXITER ? MAXITER : (unsigned)atoi(it);
    libctx = OSSL_LIB_CTX_new();
    refctx = OSSL_LIB_CTX_new();
    prov = libctx != NULL ? m2msec_provider_load(libctx, mods, &prov_default) : NULL;
    ref_default = refctx != NULL ? OSSL_PROVIDER_load(refctx, "default") : NULL;
    kdf_session = EVP_KDF_fetch(libctx, "M2M-SESSION-KDF", NULL);
    kdf_onem2m = EVP_KDF_fetch(libctx, "ONEM2M-KDF", NULL);
    kdf_oscore = EVP_KDF_fetch(libctx, "OSCORE-KDF", NULL);
    for (size_t a = 0; a < HT_NALGS; a++)
        ciphers[a] = EVP_CIPHER_fetch(libctx, ht_algs[a].m2m, NULL);
    if (prov == NULL || ref_default == NULL || kdf_session == NULL || kdf_onem2m == NULL ||
        kdf_oscore == NULL || ciphers[HT_NALGS - 1] == NULL) {
        ERR_print_errors_fp(stderr);
        return 2;
    }
    if (!make_references()) {
        fprintf(stderr, "the single-threaded references differ from OpenSSL's own algorithms\n");
        ERR_print_errors_fp(stderr);
        return 1;
    }
    printf("%s: references for %d threads x %u iterations, checked against OpenSSL's HKDF, HMAC "
           "and AEADs\n",
           argv[0], NTHREADS, iters);
    rc = tc_run(argv[0], "threads", NULL, NULL, tests, sizeof(tests) / sizeof(tests[0]));
    EVP_KDF_free(kdf_session);
    EVP_KDF_free(kdf_onem2m);
    EVP_KDF_free(kdf_oscore);
    for (size_t a = 0; a < HT_NALGS; a++)
        EVP_CIPHER_free(ciphers[a]);
    OSSL_PROVIDER_unload(prov);
    OSSL_PROVIDER_unload(prov_default);
    OSSL_PROVIDER_unload(ref_default);
    OSSL_LIB_CTX_free(libctx);
    OSSL_LIB_CTX_free(refctx);
    return rc;
}
