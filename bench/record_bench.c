/* SPDX-License-Identifier: Apache-2.0 */
/*
 * record_bench: what m2msec record protection costs, against the raw AEAD
 * it is built on and against the alternatives an M2M application would
 * otherwise use, all measured in the same run.
 *
 *  1. seal+open throughput at 64 B, 1 KiB and 16 KiB records: one record
 *     sealed and opened per iteration, in-process, for
 *       raw EVP AES-128-GCM   the fair anchor (issue 13): one keyed context
 *                             each way, per record only the nonce set with
 *                             EVP_CipherInit_ex2(ctx, NULL, NULL, nonce,
 *                             enc, NULL), 16 bytes of AAD, update, final,
 *                             the tag read / set through an OSSL_PARAM
 *       M2M-REC-AES-128-GCM   the provider cipher alone through EVP (the
 *                             11-byte header as AAD, seq and tag as params)
 *       m2msec session        m2msec_session_seal + m2msec_session_open, memory stores
 *       DTLS 1.2              OpenSSL's record layer, PSK-AES128-GCM-SHA256
 *                             over memory BIOs, SSL_write + SSL_read
 *       secretstream          libsodium crypto_secretstream_xchacha20poly1305
 *                             push + pull (no additional data)
 *  2. replay window: m2m_replay_check + m2m_replay_update per record over an
 *     in-order stream with some reordering and duplicates, windows 64, 1024
 *     and 8192; then m2msec_session_open with receivers using those windows.
 *  3. re-keying one epoch: sender (a seal that enters a new epoch minus a
 *     normal seal) and receiver (first record of a new epoch minus a normal
 *     open), with a memory store and with the file store (fsync).
 *  4. memory: live bytes allocated through OpenSSL per sender and receiver
 *     session (counting allocator installed before any OpenSSL call),
 *     against m2msec_session_get_stats().memory and a DTLS 1.2 SSL object.
 *
 * Section 1 times thread CPU time (bench_timing.h): each contender runs
 * once per round, in an order that alternates per round, and the ratios
 * are taken per round and printed as minimum / median / maximum. The
 * other sections keep the best of the rounds. Nothing here asserts a
 * timing; targets that are missed are printed as "MISSED: ...".
 *
 * Usage: record_bench [-p MODULES_DIR] [-t SECONDS] [-r ROUNDS] [-s SECTIONS]
 *                     [-o CONTENDER] [-z SIZE] [-d STATE_DIR]
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/provider.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <sodium.h>

#include "m2msec/m2msec.h"
#include "m2msec/record.h"
#include "m2msec/session.h"
#include "replay_window.h"

#include "bench_timing.h"

#define MAX_ROUNDS BT_MAX_ROUNDS
#define MAX_SIZE 16384
#define WIRE_EXTRA 128 /* room for any record overhead */
#define AAD_LEN M2MSEC_SESSION_HEADER_LEN
#define TAG_LEN 16
#define IV_LEN 12
#define NSIZES 3
#define NWIN 3
#define OPEN_BATCH 256    /* records sealed untimed, then opened timed */
#define REKEY_BATCH 64    /* the same for records that each start an epoch */
#define STREAM_LEN 65536  /* replay micro-benchmark stream */
#define REPLAY_BATCH 2048 /* replay end to end: records per batch */

static const size_t sizes[NSIZES] = {64, 1024, 16384};
static const uint64_t windows[NWIN] = {64, 1024, 8192};

static unsigned char msg[MAX_SIZE];
static unsigned char wire[MAX_SIZE + WIRE_EXTRA];
static unsigned char plain[MAX_SIZE + WIRE_EXTRA];

static double seconds = 0.3;
static int rounds = 7;
static const char *only; /* section 1: run just this contender (profiling) */
static size_t only_size; /* section 1: run just this record size (profiling) */
static const char *state_dir;
static const char *modules_dir;      /* -p */
static OSSL_LIB_CTX *session_libctx; /* NULL: the default library context */

/* ---- counting allocator: every OpenSSL allocation goes through here ---- */

/* A header in front of each block holds its size; 16 bytes keeps the alignment. */
#define MEM_HDR 16

static size_t live_bytes;
static unsigned long long alloc_calls;

static void *count_malloc(size_t n, const char *file, int line)
{
    unsigned char *p;

    (void)file;
    (void)line;
    if (n > (size_t)-1 - MEM_HDR || (p = malloc(n + MEM_HDR)) == NULL)
        return NULL;
    memcpy(p, &n, sizeof(n));
    live_bytes += n;
    alloc_calls++;
    return p + MEM_HDR;
}

static void count_free(void *ptr, const char *file, int line)
{
    unsigned char *p = ptr;
    size_t n;

    (void)file;
    (void)line;
    if (p == NULL)
        return;
    p -= MEM_HDR;
    memcpy(&n, p, sizeof(n));
    live_bytes -= n;
    free(p);
}

static void *count_realloc(void *ptr, size_t n, const char *file, int line)
{
    unsigned char *p = ptr, *q;
    size_t old;

    if (p == NULL)
        return count_malloc(n, file, line);
    if (n == 0) {
        count_free(ptr, file, line);
        return NULL;
    }
    if (n > (size_t)-1 - MEM_HDR)
        return NULL;
    p -= MEM_HDR;
    memcpy(&old, p, sizeof(old));
    if ((q = realloc(p, n + MEM_HDR)) == NULL)
        return NULL;
    memcpy(q, &n, sizeof(n));
    live_bytes = live_bytes - old + n;
    alloc_calls++;
    return q + MEM_HDR;
}

/* ---- helpers ---- */

static double now(void)
{
    return bt_wall();
}

static void die(const char *what)
{
    fprintf(stderr, "record_bench: %s\n", what);
    ERR_print_errors_fp(stderr);
    exit(2);
}

static void die_status(const char *what, m2msec_session_status st)
{
    fprintf(stderr, "record_bench: %s: %s\n", what, m2msec_session_status_text(st));
    ERR_print_errors_fp(stderr);
    exit(2);
}

static void usage(void)
{
    fprintf(stderr, "usage: record_bench [-p MODULES_DIR] [-t SECONDS] [-r ROUNDS] [-s SECTIONS]\n"
                    "                    [-o CONTENDER] [-z SIZE] [-d STATE_DIR]\n"
                    "  -p DIR      directory holding m2msec.so (default $M2M_MODULES)\n"
                    "  -t SECONDS  time per run (default 0.3)\n"
                    "  -r ROUNDS   interleaved rounds (default 7, at most 31)\n"
                    "  -s SECTIONS sections to run, e.g. 13 (default 123456: throughput, replay,\n"
                    "              re-key, memory, gateway under attack, cost per session count)\n"
                    "  -o NAME     section 1 only runs NAME: raw, rec, session, dtls or sodium\n"
                    "              (for profiling; ratios against missing baselines are n/a)\n"
                    "  -z SIZE     section 1 only runs records of SIZE bytes (64, 1024 or 16384)\n"
                    "  -d DIR      where the file-store state files go (default $TMPDIR or /tmp)\n"
                    "  -n COUNT    section 5: receiver sessions of the gateway (default 10000)\n"
                    "  -L          section 6 up to 100,000 sessions (default up to 10,000)\n");
    exit(2);
}

static double parse_positive(const char *s, double max)
{
    char *end = NULL;
    double v;

    errno = 0;
    v = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' || !(v > 0) || v > max)
        usage();
    return v;
}

static void random_bytes(unsigned char *p, size_t n)
{
    if (RAND_bytes(p, (int)n) <= 0)
        die("RAND_bytes failed");
}

/* The 11-byte m2msec header, used as AAD by the raw and provider contenders too. */
static void put_header(unsigned char h[AAD_LEN], uint64_t epoch, uint64_t seq)
{
    h[0] = 1;
    for (int i = 0; i < 4; i++)
        h[1 + i] = (unsigned char)(epoch >> (8 * (3 - i)));
    for (int i = 0; i < 6; i++)
        h[5 + i] = (unsigned char)(seq >> (8 * (5 - i)));
}

static void check_plain(const char *who, size_t size)
{
    if (memcmp(plain, msg, size) != 0) {
        fprintf(stderr, "record_bench: %s: opened record differs from the sealed one\n", who);
        exit(2);
    }
}

/*
 * Run `one` for about `secs` of CPU time: *n records in *spent seconds,
 * *nalloc OpenSSL allocations. `batch` is the first batch between clock
 * reads (bt_batch grows it).
 */
static void time_records(int (*one)(void *), void *st, double secs, int batch,
                         unsigned long long *n, double *spent, unsigned long long *nalloc)
{
    unsigned long long a0 = alloc_calls;
    double start = bt_cpu(), t = start, last;

    *n = 0;
    do {
        for (int i = 0; i < batch; i++)
            if (!one(st))
                die("record failed during timing");
        *n += (unsigned long long)batch;
        last = t;
        t = bt_cpu();
        batch = bt_batch(batch, t - last);
    } while (t - start < secs);
    *spent = t - start;
    *nalloc = alloc_calls - a0;
}

/* Time `one` for about `secs`: records per second; OpenSSL allocations per record. */
static double run_records(int (*one)(void *), void *st, double secs, int batch, double *allocs)
{
    unsigned long long n, na;
    double spent;

    time_records(one, st, secs, batch, &n, &spent, &na);
    if (allocs != NULL)
        *allocs = (double)na / (double)n;
    return (double)n / spent;
}

/* ---- memory store: save keeps the state in memory, nothing else ---- */

typedef struct {
    m2msec_session_state st;
    int have, locked;
    unsigned long saves;
} MEM_STORE;

static int mem_lock(void *arg, void **handle)
{
    MEM_STORE *m = arg;

    if (m->locked)
        return 0;
    m->locked = 1;
    *handle = m;
    return 1;
}

static void mem_unlock(void *arg, void *handle)
{
    (void)handle;
    ((MEM_STORE *)arg)->locked = 0;
}

static int mem_load(void *arg, void *handle, m2msec_session_state *st)
{
    MEM_STORE *m = arg;

    (void)handle;
    if (!m->have)
        return 0;
    *st = m->st;
    return 1;
}

static int mem_save(void *arg, void *handle, const m2msec_session_state *st)
{
    MEM_STORE *m = arg;

    (void)handle;
    m->st = *st;
    m->have = 1;
    m->saves++;
    return 1;
}

/* A first start: the state m2msec_store_init() writes (epoch 0, floor 0). */
static void mem_store_init(m2msec_store *store, MEM_STORE *m)
{
    memset(m, 0, sizeof(*m));
    m->have = 1;
    memset(store, 0, sizeof(*store));
    store->lock = mem_lock;
    store->load = mem_load;
    store->save = mem_save;
    store->unlock = mem_unlock;
    store->arg = m;
    store->name = "memory store";
    store->release = NULL;
}

/* The file store at path, initialised for a first start. */
static void file_store_init(m2msec_store *store, const char *path)
{
    if (!m2msec_store_file(store, path) || !m2msec_store_init(store))
        die("m2msec_store_init failed");
}

/* Every session gets its own random service key, so epoch keys never collide. */
static m2msec_session *session_make(m2msec_session_role role, const unsigned char key[32],
                                    const m2msec_session_policy *pol, const m2msec_store *store)
{
    m2msec_session_config cfg;
    m2msec_session *s;

    memset(&cfg, 0, sizeof(cfg));
    cfg.role = role;
    cfg.libctx = session_libctx;
    cfg.key = key;
    cfg.key_len = 32;
    cfg.originator = "CAE-sensor01";
    cfg.receiver = "CSE-gateway01";
    cfg.policy = pol;
    cfg.store = store;
    if ((s = m2msec_session_new(&cfg)) == NULL)
        die("m2msec_session_new failed");
    return s;
}

static size_t seal_or_die(m2msec_session *s, const unsigned char *in, size_t n, unsigned char *out,
                          size_t cap)
{
    size_t len = 0;
    m2msec_session_status st;

    if (!m2msec_session_seal(s, in, n, out, cap, &len, &st))
        die_status("m2msec_session_seal", st);
    return len;
}

static void open_or_die(m2msec_session *s, const unsigned char *in, size_t n)
{
    size_t len = 0;
    m2msec_session_status st;

    if (!m2msec_session_open(s, in, n, plain, sizeof(plain), &len, &st))
        die_status("m2msec_session_open", st);
}

/* ======================= section 1: throughput ======================= */

/*
 * raw EVP AES-128-GCM: the fair anchor (issue 13). One keyed context each
 * way; per record only the nonce is set, with
 * EVP_CipherInit_ex2(ctx, NULL, NULL, nonce, enc, NULL), then 16 bytes of
 * AAD, the data, final, and the tag read or set through an OSSL_PARAM.
 */
#define RAW_AAD_LEN 16
typedef struct {
    size_t size;
    EVP_CIPHER_CTX *enc, *dec;
    unsigned char iv[IV_LEN];
    uint64_t seq;
} RAW;

static int raw_one(void *v)
{
    RAW *r = v;
    unsigned char nonce[IV_LEN], aad[RAW_AAD_LEN], tag[TAG_LEN];
    uint64_t seq = r->seq++;
    OSSL_PARAM p[2];
    int n = 0, m = 0;

    memcpy(nonce, r->iv, IV_LEN);
    for (int i = 0; i < 8; i++)
        nonce[IV_LEN - 1 - i] ^= (unsigned char)(seq >> (8 * i));
    memset(aad, 0, sizeof(aad));
    put_header(aad, 0, seq);
    p[0] = OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, tag, TAG_LEN);
    p[1] = OSSL_PARAM_construct_end();
    if (!EVP_CipherInit_ex2(r->enc, NULL, NULL, nonce, 1, NULL) ||
        !EVP_EncryptUpdate(r->enc, NULL, &n, aad, RAW_AAD_LEN) ||
        !EVP_EncryptUpdate(r->enc, wire, &n, msg, (int)r->size) ||
        !EVP_EncryptFinal_ex(r->enc, wire + n, &m) || !EVP_CIPHER_CTX_get_params(r->enc, p))
        return 0;
    return EVP_CipherInit_ex2(r->dec, NULL, NULL, nonce, 0, NULL) &&
           EVP_DecryptUpdate(r->dec, NULL, &n, aad, RAW_AAD_LEN) &&
           EVP_DecryptUpdate(r->dec, plain, &n, wire, (int)r->size) &&
           EVP_CIPHER_CTX_set_params(r->dec, p) && EVP_DecryptFinal_ex(r->dec, plain + n, &m) > 0;
}

static void *raw_new(size_t size)
{
    RAW *r = calloc(1, sizeof(*r));
    unsigned char key[16];
    EVP_CIPHER *c = EVP_CIPHER_fetch(NULL, "AES-128-GCM", "provider=default");

    if (r == NULL || c == NULL)
        die("raw AES-128-GCM setup failed");
    random_bytes(key, sizeof(key));
    random_bytes(r->iv, sizeof(r->iv));
    r->size = size;
    r->enc = EVP_CIPHER_CTX_new();
    r->dec = EVP_CIPHER_CTX_new();
    if (r->enc == NULL || r->dec == NULL || !EVP_CipherInit_ex2(r->enc, c, key, NULL, 1, NULL) ||
        !EVP_CipherInit_ex2(r->dec, c, key, NULL, 0, NULL))
        die("raw AES-128-GCM init failed");
    EVP_CIPHER_free(c);
    return r;
}

static void raw_free(void *v)
{
    RAW *r = v;

    EVP_CIPHER_CTX_free(r->enc);
    EVP_CIPHER_CTX_free(r->dec);
    free(r);
}

/* M2M-REC-AES-128-GCM through EVP, without the session framing */
typedef struct {
    size_t size;
    EVP_CIPHER_CTX *enc, *dec;
    uint64_t seq;
} REC;

static int rec_one(void *v)
{
    REC *r = v;
    unsigned char aad[AAD_LEN], tag[TAG_LEN];
    uint64_t seq = r->seq++;
    OSSL_PARAM gp[2], sp[3];
    int n = 0, m = 0;

    put_header(aad, 0, seq);
    gp[0] = OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, tag, TAG_LEN);
    gp[1] = OSSL_PARAM_construct_end();
    if (!EVP_EncryptUpdate(r->enc, NULL, &n, aad, AAD_LEN) ||
        !EVP_EncryptUpdate(r->enc, wire, &n, msg, (int)r->size) ||
        !EVP_EncryptFinal_ex(r->enc, wire + n, &m) || !EVP_CIPHER_CTX_get_params(r->enc, gp))
        return 0;
    sp[0] = OSSL_PARAM_construct_uint64(M2MSEC_REC_PARAM_SEQ, &seq);
    sp[1] = OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, tag, TAG_LEN);
    sp[2] = OSSL_PARAM_construct_end();
    return EVP_CIPHER_CTX_set_params(r->dec, sp) &&
           EVP_DecryptUpdate(r->dec, NULL, &n, aad, AAD_LEN) &&
           EVP_DecryptUpdate(r->dec, plain, &n, wire, (int)r->size) &&
           EVP_DecryptFinal_ex(r->dec, plain + n, &m) > 0;
}

static void *rec_new(size_t size)
{
    REC *r = calloc(1, sizeof(*r));
    unsigned char key[16], iv[IV_LEN];
    EVP_CIPHER *c = EVP_CIPHER_fetch(NULL, M2MSEC_REC_AES_128_GCM, "provider=m2msec");

    if (r == NULL || c == NULL)
        die("cannot fetch " M2MSEC_REC_AES_128_GCM);
    random_bytes(key, sizeof(key));
    random_bytes(iv, sizeof(iv));
    r->size = size;
    r->enc = EVP_CIPHER_CTX_new();
    r->dec = EVP_CIPHER_CTX_new();
    if (r->enc == NULL || r->dec == NULL || !EVP_EncryptInit_ex2(r->enc, c, key, iv, NULL) ||
        !EVP_DecryptInit_ex2(r->dec, c, key, iv, NULL))
        die(M2MSEC_REC_AES_128_GCM " init failed");
    EVP_CIPHER_free(c);
    return r;
}

static void rec_free(void *v)
{
    REC *r = v;

    EVP_CIPHER_CTX_free(r->enc);
    EVP_CIPHER_CTX_free(r->dec);
    free(r);
}

/* m2msec session: sender and receiver in-process, memory stores */
typedef struct {
    size_t size;
    unsigned char key[32];
    MEM_STORE sm, rm;
    m2msec_store ss, rs;
    m2msec_session *snd, *rcv;
} SESS;

static int sess_one(void *v)
{
    SESS *s = v;
    size_t wl = 0, pl = 0;

    return m2msec_session_seal(s->snd, msg, s->size, wire, sizeof(wire), &wl, NULL) &&
           m2msec_session_open(s->rcv, wire, wl, plain, sizeof(plain), &pl, NULL) && pl == s->size;
}

static SESS *sess_pair(size_t size, const m2msec_session_policy *spol,
                       const m2msec_session_policy *rpol)
{
    SESS *s = calloc(1, sizeof(*s));

    if (s == NULL)
        die("out of memory");
    s->size = size;
    random_bytes(s->key, sizeof(s->key));
    mem_store_init(&s->ss, &s->sm);
    mem_store_init(&s->rs, &s->rm);
    s->snd = session_make(M2MSEC_SESSION_SENDER, s->key, spol, &s->ss);
    s->rcv = session_make(M2MSEC_SESSION_RECEIVER, s->key, rpol, &s->rs);
    return s;
}

static void *sess_new(size_t size)
{
    return sess_pair(size, NULL, NULL);
}

static void sess_free(void *v)
{
    SESS *s = v;

    m2msec_session_free(s->snd);
    m2msec_session_free(s->rcv);
    free(s);
}

/* DTLS 1.2, PSK-AES128-GCM-SHA256, client -> server over memory BIOs */
#define DTLS_CIPHER "PSK-AES128-GCM-SHA256"

static const unsigned char dtls_psk[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};

static unsigned int psk_client_cb(SSL *ssl, const char *hint, char *identity,
                                  unsigned int max_identity_len, unsigned char *psk,
                                  unsigned int max_psk_len)
{
    (void)ssl;
    (void)hint;
    if (max_identity_len < 6 || max_psk_len < sizeof(dtls_psk))
        return 0;
    memcpy(identity, "bench", 6);
    memcpy(psk, dtls_psk, sizeof(dtls_psk));
    return (unsigned int)sizeof(dtls_psk);
}

static unsigned int psk_server_cb(SSL *ssl, const char *identity, unsigned char *psk,
                                  unsigned int max_psk_len)
{
    (void)ssl;
    if (identity == NULL || strcmp(identity, "bench") != 0 || max_psk_len < sizeof(dtls_psk))
        return 0;
    memcpy(psk, dtls_psk, sizeof(dtls_psk));
    return (unsigned int)sizeof(dtls_psk);
}

typedef struct {
    size_t size;
    SSL_CTX *cctx, *sctx;
    SSL *cli, *srv;
} DTLS;

static SSL_CTX *dtls_ctx(int server)
{
    SSL_CTX *ctx = SSL_CTX_new(DTLS_method());

    if (ctx == NULL || !SSL_CTX_set_min_proto_version(ctx, DTLS1_2_VERSION) ||
        !SSL_CTX_set_max_proto_version(ctx, DTLS1_2_VERSION) ||
        !SSL_CTX_set_cipher_list(ctx, DTLS_CIPHER))
        die("DTLS context setup failed");
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    if (server)
        SSL_CTX_set_psk_server_callback(ctx, psk_server_cb);
    else
        SSL_CTX_set_psk_client_callback(ctx, psk_client_cb);
    return ctx;
}

static BIO *dtls_bio(void)
{
    BIO *b = BIO_new(BIO_s_mem());

    if (b == NULL)
        die("BIO_new failed");
    BIO_set_mem_eof_return(b, -1); /* empty: "retry", not end of file */
    return b;
}

/* Client and server with a memory BIO each way; handshake done. */
static void dtls_connect(DTLS *d)
{
    BIO *c2s = dtls_bio(), *s2c = dtls_bio();
    int done_c = 0, done_s = 0, rs;

    d->cli = SSL_new(d->cctx);
    d->srv = SSL_new(d->sctx);
    if (d->cli == NULL || d->srv == NULL || !BIO_up_ref(c2s) || !BIO_up_ref(s2c))
        die("SSL_new failed");
    SSL_set_bio(d->cli, s2c, c2s);
    SSL_set_bio(d->srv, c2s, s2c);
    SSL_set_connect_state(d->cli);
    SSL_set_accept_state(d->srv);
    for (int i = 0; i < 64 && !(done_c && done_s); i++) {
        /* Ask for the error at once: the peer's next write resets the BIO's retry flag. */
        int rc = SSL_do_handshake(d->cli);

        if (rc <= 0 && SSL_get_error(d->cli, rc) != SSL_ERROR_WANT_READ)
            die("DTLS handshake failed (client)");
        rs = SSL_do_handshake(d->srv);
        if (rs <= 0 && SSL_get_error(d->srv, rs) != SSL_ERROR_WANT_READ)
            die("DTLS handshake failed (server)");
        done_c = rc == 1;
        done_s = rs == 1;
    }
    if (!done_c || !done_s)
        die("DTLS handshake did not finish");
    if (SSL_version(d->cli) != DTLS1_2_VERSION || strcmp(SSL_get_cipher(d->cli), DTLS_CIPHER) != 0)
        die("DTLS handshake negotiated something else");
}

static int dtls_one(void *v)
{
    DTLS *d = v;

    return SSL_write(d->cli, msg, (int)d->size) == (int)d->size &&
           SSL_read(d->srv, plain, (int)d->size) == (int)d->size;
}

static size_t dtls_overhead; /* bytes a DTLS 1.2 record adds, measured */

static void *dtls_new(size_t size)
{
    DTLS *d = calloc(1, sizeof(*d));
    size_t pending;

    if (d == NULL)
        die("out of memory");
    d->size = size;
    d->cctx = dtls_ctx(0);
    d->sctx = dtls_ctx(1);
    dtls_connect(d);
    /* One record outside the clock, to see what it costs on the wire. */
    if (SSL_write(d->cli, msg, (int)size) != (int)size)
        die("DTLS write failed");
    pending = BIO_ctrl_pending(SSL_get_rbio(d->srv));
    if (SSL_read(d->srv, plain, (int)size) != (int)size)
        die("DTLS read failed");
    dtls_overhead = pending - size;
    return d;
}

static void dtls_free(void *v)
{
    DTLS *d = v;

    SSL_free(d->cli);
    SSL_free(d->srv);
    SSL_CTX_free(d->cctx);
    SSL_CTX_free(d->sctx);
    free(d);
}

/* libsodium secretstream: push + pull */
typedef struct {
    size_t size;
    crypto_secretstream_xchacha20poly1305_state push, pull;
} SODIUM;

static int sstream_one(void *v)
{
    SODIUM *s = v;
    unsigned long long clen = 0, mlen = 0;
    unsigned char tag = 0;

    return crypto_secretstream_xchacha20poly1305_push(&s->push, wire, &clen, msg, s->size, NULL, 0,
                                                      0) == 0 &&
           crypto_secretstream_xchacha20poly1305_pull(&s->pull, plain, &mlen, &tag, wire, clen,
                                                      NULL, 0) == 0 &&
           mlen == s->size;
}

static void *sstream_new(size_t size)
{
    SODIUM *s = calloc(1, sizeof(*s));
    unsigned char key[crypto_secretstream_xchacha20poly1305_KEYBYTES];
    unsigned char hdr[crypto_secretstream_xchacha20poly1305_HEADERBYTES];

    if (s == NULL)
        die("out of memory");
    s->size = size;
    crypto_secretstream_xchacha20poly1305_keygen(key);
    if (crypto_secretstream_xchacha20poly1305_init_push(&s->push, hdr, key) != 0 ||
        crypto_secretstream_xchacha20poly1305_init_pull(&s->pull, hdr, key) != 0)
        die("secretstream init failed");
    return s;
}

static void sstream_free(void *v)
{
    free(v);
}

enum { C_RAW, C_REC, C_SESS, C_DTLS, C_SODIUM, NCONT };

typedef struct {
    const char *name; /* for -o */
    const char *label;
    void *(*make)(size_t size);
    int (*one)(void *st);
    void (*release)(void *st);
} CONTENDER;

static const CONTENDER contenders[NCONT] = {
    {"raw", "raw EVP AES-128-GCM", raw_new, raw_one, raw_free},
    {"rec", M2MSEC_REC_AES_128_GCM " (EVP)", rec_new, rec_one, rec_free},
    {"session", "m2msec session", sess_new, sess_one, sess_free},
    {"dtls", "DTLS 1.2 " DTLS_CIPHER, dtls_new, dtls_one, dtls_free},
    {"sodium", "secretstream xchacha20poly1305", sstream_new, sstream_one, sstream_free},
};

/* Results of section 1: records/s per round (0: not run), allocations per record. */
static double tput_r[NSIZES][NCONT][MAX_ROUNDS];
static double tput[NSIZES][NCONT]; /* best round */
static double tput_allocs[NSIZES][NCONT];

/* Ratio of contender a to b at size z over the rounds (min / median / max). */
static bt_stats ratio_of(int z, int a, int b)
{
    return bt_ratio(tput_r[z][a], tput_r[z][b], rounds);
}

static const char *fmt_ratio(char *buf, size_t n, int z, int a, int b)
{
    if (tput[z][a] > 0 && tput[z][b] > 0)
        return bt_fmt(buf, n, ratio_of(z, a, b));
    snprintf(buf, n, "n/a");
    return buf;
}

#define SLICES 10 /* section 1: slices per contender and round */

static void section_throughput(void)
{
    printf("\n== 1. seal+open throughput: one record sealed and opened per iteration ==\n");
    printf("   (thread CPU time; %d rounds of %.2f s per contender, in %d slices taken in turn, "
           "order alternating;\n"
           "    rec/s = best round; ratios to the raw EVP anchor per round as min / median / "
           "max)\n",
           rounds, seconds, SLICES);
    for (int z = 0; z < NSIZES; z++) {
        void *st[NCONT] = {0};
        char ratio[64];

        if (only_size != 0 && sizes[z] != only_size)
            continue;
        for (int c = 0; c < NCONT; c++) {
            if (only != NULL && strcmp(only, contenders[c].name) != 0)
                continue;
            st[c] = contenders[c].make(sizes[z]);
            memset(plain, 0, sizeof(plain));
            if (!contenders[c].one(st[c]))
                die("first record failed");
            check_plain(contenders[c].label, sizes[z]);
        }
        /*
         * A round gives each contender `seconds` of CPU time in SLICES
         * slices, the contenders taking turns slice by slice (the order
         * alternating), so that a change of the machine's load within a
         * round falls on every contender alike, not on whichever ran then.
         */
        for (int r = 0; r < rounds; r++) {
            unsigned long long n[NCONT] = {0}, na[NCONT] = {0};
            double spent[NCONT] = {0};

            for (int sl = 0; sl < SLICES; sl++)
                for (int i = 0; i < NCONT; i++) {
                    int c = bt_order(r * SLICES + sl, i, NCONT);
                    unsigned long long dn, dna;
                    double dt;

                    if (st[c] == NULL)
                        continue;
                    time_records(contenders[c].one, st[c], seconds / SLICES, 8, &dn, &dt, &dna);
                    n[c] += dn;
                    na[c] += dna;
                    spent[c] += dt;
                }
            for (int c = 0; c < NCONT; c++) {
                double rate;

                if (st[c] == NULL)
                    continue;
                rate = (double)n[c] / spent[c];
                tput_r[z][c][r] = rate;
                if (rate > tput[z][c]) {
                    tput[z][c] = rate;
                    tput_allocs[z][c] = (double)na[c] / (double)n[c];
                }
            }
        }
        printf(
            "\n  %zu-byte records               rec/s       MB/s   ns/rec  vs raw (min / median / "
            "max)  allocs/rec\n",
            sizes[z]);
        for (int c = 0; c < NCONT; c++) {
            if (st[c] == NULL)
                continue;
            printf("  %-30s %10.0f %10.1f %8.0f  %-27s %6.2f\n", contenders[c].label, tput[z][c],
                   tput[z][c] * (double)sizes[z] / 1e6, 1e9 / tput[z][c],
                   fmt_ratio(ratio, sizeof(ratio), z, c, C_RAW), tput_allocs[z][c]);
            contenders[c].release(st[c]);
        }
    }
    printf("\n  bytes added per record on the wire: m2msec %d (11 header + 16 tag), DTLS 1.2 %zu, "
           "secretstream %d\n",
           M2MSEC_SESSION_HEADER_LEN + TAG_LEN, dtls_overhead,
           (int)crypto_secretstream_xchacha20poly1305_ABYTES);
    printf("\n  m2msec session against the others (same run, min / median / max over rounds):\n");
    for (int z = 0; z < NSIZES; z++) {
        char a[64], b[64], c[64];

        printf("  %6zu B: vs raw EVP %s; vs DTLS 1.2 %s; vs secretstream %s\n", sizes[z],
               fmt_ratio(a, sizeof(a), z, C_SESS, C_RAW),
               fmt_ratio(b, sizeof(b), z, C_SESS, C_DTLS),
               fmt_ratio(c, sizeof(c), z, C_SESS, C_SODIUM));
    }
    printf(
        "\n  Layers at 64 B (best rounds): raw AEAD %.0f ns, the provider cipher adds %.0f ns, the "
        "session adds %.0f ns\n",
        tput[0][C_RAW] > 0 ? 1e9 / tput[0][C_RAW] : 0,
        tput[0][C_REC] > 0 && tput[0][C_RAW] > 0 ? 1e9 / tput[0][C_REC] - 1e9 / tput[0][C_RAW] : 0,
        tput[0][C_SESS] > 0 && tput[0][C_REC] > 0 ? 1e9 / tput[0][C_SESS] - 1e9 / tput[0][C_REC]
                                                  : 0);
}

/* ======================= section 2: replay window ======================= */

static uint64_t stream_seq[STREAM_LEN];
static uint64_t stream_span; /* sequence numbers one pass of the stream covers */
static unsigned stream_dups, stream_swaps;
static uint32_t rng_state = 0x9e3779b9u;

static uint32_t rng(void)
{
    uint32_t x = rng_state;

    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return rng_state = x;
}

/*
 * A realistic arrival order over `n` slots: in order, about one record in
 * 256 duplicated (a copy of one of the last 8), then about one in 32
 * swapped with one up to 16 places later. Returns the number of slots
 * used; `*span` is the number of distinct sequence numbers.
 */
static size_t make_order(uint64_t *out, size_t n, uint64_t *span, unsigned *dups, unsigned *swaps)
{
    size_t k = 0;
    uint64_t seq = 0;

    while (k < n) {
        out[k++] = seq++;
        if (k < n && rng() % 256 == 0) {
            uint64_t back = rng() % 8;

            out[k++] = seq - 1 - (back < seq ? back : seq - 1);
            (*dups)++;
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (rng() % 32 == 0) {
            size_t j = i + 1 + rng() % 16;
            uint64_t t;

            if (j >= n)
                continue;
            t = out[i];
            out[i] = out[j];
            out[j] = t;
            (*swaps)++;
        }
    }
    *span = seq;
    return k;
}

/* ns per record of check (+ update when fresh) over whole passes of the stream. */
static double replay_run(M2M_REPLAY *w, uint64_t *base, double *refused_per_pass)
{
    unsigned long long n = 0, bad = 0, passes = 0;
    double start = bt_cpu(), t;

    do {
        uint64_t off = *base;

        for (size_t i = 0; i < STREAM_LEN; i++) {
            uint64_t s = stream_seq[i] + off;

            if (m2m_replay_check(w, s) == M2M_REPLAY_OK)
                m2m_replay_update(w, s);
            else
                bad++;
        }
        *base += stream_span;
        n += STREAM_LEN;
        passes++;
    } while ((t = bt_cpu()) - start < seconds);
    *refused_per_pass = (double)bad / (double)passes;
    return (t - start) * 1e9 / (double)n;
}

static double replay_ns[NWIN], replay_open_ns[NWIN];

static void section_replay(void)
{
    M2M_REPLAY win[NWIN];
    uint64_t base[NWIN] = {0};
    double rej[NWIN] = {0};
    static uint64_t order[REPLAY_BATCH];
    uint64_t span = 0;
    unsigned pdups = 0, pswaps = 0;
    size_t plen;
    unsigned char key[32];
    MEM_STORE sm, rm[NWIN];
    m2msec_store ss, rs[NWIN];
    m2msec_session_policy rpol[NWIN];
    m2msec_session *snd, *rcv[NWIN];
    static unsigned char recs[REPLAY_BATCH][64 + WIRE_EXTRA];
    static size_t lens[REPLAY_BATCH];

    printf("\n== 2. replay window (RFC 6479 ring) ==\n");
    make_order(stream_seq, STREAM_LEN, &stream_span, &stream_dups, &stream_swaps);
    printf("  stream: %d arrivals over %llu sequence numbers: %u duplicates, %u swaps "
           "(reordering up to 16 places)\n",
           STREAM_LEN, (unsigned long long)stream_span, stream_dups, stream_swaps);
    for (int w = 0; w < NWIN; w++) {
        if (!m2m_replay_init(&win[w], windows[w]))
            die("m2m_replay_init failed");
        replay_ns[w] = 1e30;
    }
    for (int r = 0; r < rounds; r++) {
        for (int w = 0; w < NWIN; w++) {
            double ns = replay_run(&win[w], &base[w], &rej[w]);

            if (ns < replay_ns[w])
                replay_ns[w] = ns;
        }
    }
    printf("  m2m_replay_check + m2m_replay_update, per record:\n");
    for (int w = 0; w < NWIN; w++) {
        printf("    window %5llu (%3zu words, %5zu B): %6.2f ns/record (%.0f refused per pass)\n",
               (unsigned long long)windows[w], m2m_replay_heap_size(&win[w]) / 8,
               m2m_replay_heap_size(&win[w]), replay_ns[w], rej[w]);
        m2m_replay_free(&win[w]);
    }

    /*
     * End to end: the same sealed 64-byte records opened by three receivers,
     * in an order of the same kind (REPLAY_BATCH arrivals cover at most
     * REPLAY_BATCH records; every duplicate is refused once).
     */
    plen = make_order(order, REPLAY_BATCH, &span, &pdups, &pswaps);
    random_bytes(key, sizeof(key));
    mem_store_init(&ss, &sm);
    snd = session_make(M2MSEC_SESSION_SENDER, key, NULL, &ss);
    for (int w = 0; w < NWIN; w++) {
        memset(&rpol[w], 0, sizeof(rpol[w]));
        rpol[w].replay_window = windows[w];
        mem_store_init(&rs[w], &rm[w]);
        rcv[w] = session_make(M2MSEC_SESSION_RECEIVER, key, &rpol[w], &rs[w]);
        replay_open_ns[w] = 1e30;
    }
    for (int r = 0; r < rounds; r++) {
        double spent[NWIN] = {0};
        unsigned long long opened = 0, refused = 0;

        for (int batch = 0;; batch++) {
            double least = spent[0];

            for (int w = 1; w < NWIN; w++)
                least = spent[w] < least ? spent[w] : least;
            if (least >= seconds)
                break;
            for (uint64_t i = 0; i < span; i++)
                lens[i] = seal_or_die(snd, msg, 64, recs[i], sizeof(recs[i]));
            for (int k = 0; k < NWIN; k++) {
                int w = (k + batch) % NWIN; /* rotate who goes first */
                m2msec_session *s = rcv[w];
                double t0 = bt_cpu();

                for (size_t i = 0; i < plen; i++) {
                    size_t len = 0;
                    m2msec_session_status st;

                    if (m2msec_session_open(s, recs[order[i]], lens[order[i]], plain, sizeof(plain),
                                            &len, &st))
                        continue;
                    if (st != M2MSEC_SESSION_ERR_REPLAY)
                        die_status("m2msec_session_open (replay stream)", st);
                    refused++;
                    ERR_clear_error(); /* the refusal's error, expected */
                }
                spent[w] += bt_cpu() - t0;
            }
            opened += plen;
        }
        for (int w = 0; w < NWIN; w++) {
            double ns = spent[w] * 1e9 / (double)opened;

            if (ns < replay_open_ns[w])
                replay_open_ns[w] = ns;
        }
        if (refused != (unsigned long long)pdups * NWIN * (opened / plen))
            die("unexpected number of refused duplicates");
    }
    printf("  m2msec_session_open of 64-byte records arriving in the same kind of order (%zu "
           "arrivals per "
           "%llu records: %u duplicates refused, %u swaps):\n",
           plen, (unsigned long long)span, pdups, pswaps);
    for (int w = 0; w < NWIN; w++) {
        printf("    receiver replay_window %5llu: %7.1f ns/record  %5.2fx window 64\n",
               (unsigned long long)windows[w], replay_open_ns[w],
               replay_open_ns[w] / replay_open_ns[0]);
        m2msec_session_free(rcv[w]);
    }
    m2msec_session_free(snd);
}

/* ======================= section 3: re-keying ======================= */

typedef struct {
    m2msec_session *s;
    size_t size;
} SEALER;

static int seal_one_rec(void *v)
{
    SEALER *x = v;
    size_t len = 0;

    return m2msec_session_seal(x->s, msg, x->size, wire, sizeof(wire), &len, NULL);
}

/* Open batches sealed (untimed) by `gen` with `rcv`: records per second of the opens. */
static double open_rate(m2msec_session *gen, m2msec_session *rcv, int batch, double secs)
{
    static unsigned char recs[OPEN_BATCH][64 + WIRE_EXTRA];
    size_t lens[OPEN_BATCH];
    unsigned long long n = 0;
    double spent = 0;

    while (spent < secs) {
        double t0;

        for (int i = 0; i < batch; i++)
            lens[i] = seal_or_die(gen, msg, 64, recs[i], sizeof(recs[i]));
        t0 = now();
        for (int i = 0; i < batch; i++)
            open_or_die(rcv, recs[i], lens[i]);
        spent += now() - t0;
        n += (unsigned long long)batch;
    }
    return (double)n / spent;
}

static char file_dir[4096];
static char path_snd[4200], path_rcv[4200], path_rcv2[4200];

static void make_state_dir(void)
{
    const char *base = state_dir;

    if (base == NULL)
        base = getenv("TMPDIR");
    if (base == NULL || *base == '\0')
        base = "/tmp";
    if (snprintf(file_dir, sizeof(file_dir), "%s/record_bench.XXXXXX", base) >=
            (int)sizeof(file_dir) ||
        mkdtemp(file_dir) == NULL) {
        perror("record_bench: mkdtemp");
        exit(2);
    }
    snprintf(path_snd, sizeof(path_snd), "%s/sender.state", file_dir);
    snprintf(path_rcv, sizeof(path_rcv), "%s/receiver.state", file_dir);
    snprintf(path_rcv2, sizeof(path_rcv2), "%s/receiver2.state", file_dir);
}

static void remove_state_dir(void)
{
    const char *paths[] = {path_snd, path_rcv, path_rcv2};
    char lock[4300];

    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        unlink(paths[i]);
        snprintf(lock, sizeof(lock), "%s.lock", paths[i]); /* the file store's lock file */
        unlink(lock);
    }
    rmdir(file_dir);
}

static double rekey_snd_mem, rekey_snd_file, rekey_rcv_mem, rekey_rcv_file;
static double file_open_ratio;

static void section_rekey(void)
{
    unsigned char key_n[32], key_m[32], key_f[32], key_r[32], key_g[32], key_h[32];
    MEM_STORE m_n, m_m, m_g, m_rn, m_rm, m_r3, m_g3, m_g4;
    m2msec_store s_n, s_m, s_f, s_g, s_rn, s_rm, s_rf, s_r3, s_g3, s_g4;
    m2msec_session_policy every = {0};
    m2msec_session_stats stm, stf;
    SEALER normal, memk, filek;
    double best[3] = {0}, rbest[3] = {0}, sbest[2] = {0};
    m2msec_session *gn, *gr, *gf, *rn, *rm, *rf, *g3, *r3, *r4;

    printf("\n== 3. re-keying one epoch (64-byte records) ==\n");
    make_state_dir();
    printf("  file store directory: %s\n", file_dir);
    every.max_records = 1; /* the sender enters a new epoch before every record */

    /* Sender: normal seal, seal entering a new epoch (memory store, file store). */
    random_bytes(key_n, sizeof(key_n));
    random_bytes(key_m, sizeof(key_m));
    random_bytes(key_f, sizeof(key_f));
    mem_store_init(&s_n, &m_n);
    mem_store_init(&s_m, &m_m);
    file_store_init(&s_f, path_snd);
    normal.s = session_make(M2MSEC_SESSION_SENDER, key_n, NULL, &s_n);
    memk.s = session_make(M2MSEC_SESSION_SENDER, key_m, &every, &s_m);
    filek.s = session_make(M2MSEC_SESSION_SENDER, key_f, &every, &s_f);
    normal.size = memk.size = filek.size = 64;
    for (int r = 0; r < rounds; r++) {
        double a = run_records(seal_one_rec, &normal, seconds, 8, NULL);
        double b = run_records(seal_one_rec, &memk, seconds, 8, NULL);
        double c = run_records(seal_one_rec, &filek, seconds, 1, NULL);

        best[0] = a > best[0] ? a : best[0];
        best[1] = b > best[1] ? b : best[1];
        best[2] = c > best[2] ? c : best[2];
    }
    m2msec_session_get_stats(memk.s, &stm);
    m2msec_session_get_stats(filek.s, &stf);
    if (stm.rekeys + 1 < stm.records || stf.rekeys + 1 < stf.records)
        die("the re-keying sender did not re-key at every record");
    rekey_snd_mem = (1 / best[1] - 1 / best[0]) * 1e6;
    rekey_snd_file = (1 / best[2] - 1 / best[0]) * 1e6;
    printf("  sender:   normal seal %.2f us; seal entering a new epoch: %.2f us (memory store), "
           "%.2f us (file store)\n",
           1e6 / best[0], 1e6 / best[1], 1e6 / best[2]);
    printf("            => re-key %.2f us with a memory store, %.2f us with the file store "
           "(derive + cipher init + save)\n",
           rekey_snd_mem, rekey_snd_file);
    m2msec_session_free(normal.s);
    m2msec_session_free(memk.s);
    m2msec_session_free(filek.s);

    /* Receiver: normal open; first record of a new epoch (memory store, file store). */
    random_bytes(key_r, sizeof(key_r));
    random_bytes(key_g, sizeof(key_g));
    random_bytes(key_h, sizeof(key_h));
    mem_store_init(&s_g, &m_g);
    mem_store_init(&s_rn, &m_rn);
    mem_store_init(&s_rm, &m_rm);
    mem_store_init(&s_g3, &m_g3);
    mem_store_init(&s_g4, &m_g4);
    file_store_init(&s_rf, path_rcv);
    gn = session_make(M2MSEC_SESSION_SENDER, key_r, NULL, &s_g);
    /* one re-keying sender per receiver: each receiver sees every epoch, each the next one */
    gr = session_make(M2MSEC_SESSION_SENDER, key_g, &every, &s_g3);
    gf = session_make(M2MSEC_SESSION_SENDER, key_h, &every, &s_g4);
    rn = session_make(M2MSEC_SESSION_RECEIVER, key_r, NULL, &s_rn);
    rm = session_make(M2MSEC_SESSION_RECEIVER, key_g, NULL, &s_rm);
    rf = session_make(M2MSEC_SESSION_RECEIVER, key_h, NULL, &s_rf);
    for (int r = 0; r < rounds; r++) {
        double a = open_rate(gn, rn, OPEN_BATCH, seconds);
        double b = open_rate(gr, rm, REKEY_BATCH, seconds);
        double c = open_rate(gf, rf, 8, seconds);

        rbest[0] = a > rbest[0] ? a : rbest[0];
        rbest[1] = b > rbest[1] ? b : rbest[1];
        rbest[2] = c > rbest[2] ? c : rbest[2];
    }
    rekey_rcv_mem = (1 / rbest[1] - 1 / rbest[0]) * 1e6;
    rekey_rcv_file = (1 / rbest[2] - 1 / rbest[0]) * 1e6;
    printf("  receiver: normal open %.2f us; first record of a new epoch: %.2f us (memory store), "
           "%.2f us (file store)\n",
           1e6 / rbest[0], 1e6 / rbest[1], 1e6 / rbest[2]);
    printf("            => re-key %.2f us with a memory store, %.2f us with the file store "
           "(derive + cipher init + window + save)\n",
           rekey_rcv_mem, rekey_rcv_file);
    m2msec_session_free(gn);
    m2msec_session_free(gr);
    m2msec_session_free(gf);
    m2msec_session_free(rn);
    m2msec_session_free(rm);
    m2msec_session_free(rf);

    /*
     * Steady state with the file store: the receiver persists its sequence
     * floor ahead of use (policy.seq_floor_step, default 4096 records), so a
     * fast stream pays an fsync every few thousand records.
     */
    random_bytes(key_r, sizeof(key_r));
    mem_store_init(&s_g, &m_g);
    mem_store_init(&s_r3, &m_r3);
    file_store_init(&s_rf, path_rcv2);
    g3 = session_make(M2MSEC_SESSION_SENDER, key_r, NULL, &s_g);
    r3 = session_make(M2MSEC_SESSION_RECEIVER, key_r, NULL, &s_r3);
    r4 = session_make(M2MSEC_SESSION_RECEIVER, key_r, NULL, &s_rf);
    for (int r = 0; r < rounds; r++) {
        /* Both receivers open the same records: seal once, open twice. */
        static unsigned char recs[OPEN_BATCH][64 + WIRE_EXTRA];
        size_t lens[OPEN_BATCH];
        double spent[2] = {0};
        unsigned long long n = 0;

        while (spent[0] < seconds || spent[1] < seconds) {
            for (int i = 0; i < OPEN_BATCH; i++)
                lens[i] = seal_or_die(g3, msg, 64, recs[i], sizeof(recs[i]));
            for (int k = 0; k < 2; k++) {
                m2msec_session *s = k == 0 ? r3 : r4;
                double t0 = now();

                for (int i = 0; i < OPEN_BATCH; i++)
                    open_or_die(s, recs[i], lens[i]);
                spent[k] += now() - t0;
            }
            n += OPEN_BATCH;
        }
        for (int k = 0; k < 2; k++) {
            double rate = (double)n / spent[k];

            sbest[k] = rate > sbest[k] ? rate : sbest[k];
        }
    }
    file_open_ratio = sbest[1] / sbest[0];
    printf("  steady state, 64-byte opens: memory store %.0f rec/s, file store %.0f rec/s "
           "(%.2fx; %lu floor saves to the memory store in the same stream)\n",
           sbest[0], sbest[1], file_open_ratio, m_r3.saves);
    m2msec_session_free(g3);
    m2msec_session_free(r3);
    m2msec_session_free(r4);
    remove_state_dir();
}

/* ======================= section 4: memory ======================= */

static long mem_snd, mem_rcv256, mem_rcv8192, mem_rcv_grace, mem_dtls_cli, mem_dtls_srv;
static size_t stat_snd, stat_rcv256, stat_rcv8192, stat_rcv_grace;
static double mem_registry_per_key;

static long live_since(size_t base)
{
    return (long)live_bytes - (long)base;
}

static void section_memory(void)
{
    unsigned char key[32], key2[32];
    MEM_STORE sm, rm1, rm2, rm3, sm2;
    m2msec_store ss, rs1, rs2, rs3, ss2;
    m2msec_session_policy p256 = {0}, p8192 = {0}, every = {0};
    m2msec_session *snd, *r256, *r8192, *rg, *s2;
    m2msec_session_stats st;
    unsigned char rec1[64 + WIRE_EXTRA], rec2[64 + WIRE_EXTRA];
    size_t l1, l2, base, base_all;
    const int nkeys = 5000;
    DTLS d;

    printf("\n== 4. memory (live bytes allocated through OpenSSL; first record done) ==\n");
    p256.replay_window = 256;
    p8192.replay_window = 8192;
    every.max_records = 1;

    /* Warm-up: fetch caches and the error state are allocated once per process. */
    {
        SESS *w = sess_pair(64, NULL, &p8192);

        if (!sess_one(w))
            die("warm-up record failed");
        sess_free(w);
    }
    random_bytes(key, sizeof(key));
    mem_store_init(&ss, &sm);
    mem_store_init(&rs1, &rm1);
    mem_store_init(&rs2, &rm2);
    base_all = base = live_bytes;
    snd = session_make(M2MSEC_SESSION_SENDER, key, NULL, &ss);
    l1 = seal_or_die(snd, msg, 64, rec1, sizeof(rec1));
    mem_snd = live_since(base);
    m2msec_session_get_stats(snd, &st);
    stat_snd = st.memory;

    base = live_bytes;
    r256 = session_make(M2MSEC_SESSION_RECEIVER, key, &p256, &rs1);
    open_or_die(r256, rec1, l1);
    mem_rcv256 = live_since(base);
    m2msec_session_get_stats(r256, &st);
    stat_rcv256 = st.memory;

    base = live_bytes;
    r8192 = session_make(M2MSEC_SESSION_RECEIVER, key, &p8192, &rs2);
    open_or_die(r8192, rec1, l1);
    mem_rcv8192 = live_since(base);
    m2msec_session_get_stats(r8192, &st);
    stat_rcv8192 = st.memory;

    /* A receiver just after an epoch change holds two epoch keys for the grace period. */
    random_bytes(key2, sizeof(key2));
    mem_store_init(&ss2, &sm2);
    mem_store_init(&rs3, &rm3);
    s2 = session_make(M2MSEC_SESSION_SENDER, key2, &every, &ss2);
    l1 = seal_or_die(s2, msg, 64, rec1, sizeof(rec1));
    l2 = seal_or_die(s2, msg, 64, rec2, sizeof(rec2));
    base = live_bytes;
    rg = session_make(M2MSEC_SESSION_RECEIVER, key2, &p256, &rs3);
    open_or_die(rg, rec1, l1);
    open_or_die(rg, rec2, l2);
    mem_rcv_grace = live_since(base);
    m2msec_session_get_stats(rg, &st);
    stat_rcv_grace = st.memory;
    m2msec_session_free(rg);
    m2msec_session_free(s2);

    m2msec_session_free(snd);
    m2msec_session_free(r256);
    m2msec_session_free(r8192);

    printf("  %-44s %9s %16s\n", "", "live B", "stats.memory B");
    printf("  %-44s %9ld %16zu\n", "sender session", mem_snd, stat_snd);
    printf("  %-44s %9ld %16zu\n", "receiver session, replay_window 256", mem_rcv256, stat_rcv256);
    printf("  %-44s %9ld %16zu\n", "receiver session, replay_window 8192", mem_rcv8192,
           stat_rcv8192);
    printf("  %-44s %9ld %16zu\n", "receiver, 256, two epochs (grace period)", mem_rcv_grace,
           stat_rcv_grace);
    printf("  left allocated after freeing all of them: %ld B (key registry growth, if any)\n",
           live_since(base_all));

    /*
     * Growth of the provider's key registry per epoch key, in a fresh
     * library context (a fresh provider instance, so an empty registry
     * whatever ran before): a sender that re-keys before every record.
     */
    {
        OSSL_LIB_CTX *lc = OSSL_LIB_CTX_new();
        OSSL_PROVIDER *prov;

        if (lc == NULL || (prov = m2msec_provider_load(lc, modules_dir, NULL)) == NULL)
            die("cannot load m2msec into a new library context");
        session_libctx = lc;
        mem_store_init(&ss2, &sm2);
        random_bytes(key2, sizeof(key2));
        s2 = session_make(M2MSEC_SESSION_SENDER, key2, &every, &ss2);
        seal_or_die(s2, msg, 64, rec1, sizeof(rec1));
        base = live_bytes;
        for (int i = 0; i < nkeys; i++)
            seal_or_die(s2, msg, 64, rec1, sizeof(rec1));
        mem_registry_per_key = (double)live_since(base) / nkeys;
        base = live_bytes;
        m2msec_session_free(s2);
        session_libctx = NULL;
        printf("  provider key registry: +%.1f B per epoch key used to encrypt (%d re-keys from "
               "empty; a 16-byte fingerprint per key in a table that doubles at 75 %% load, so "
               "21-43 B per key; kept for the life of the provider, freeing the session returns "
               "%ld B)\n",
               mem_registry_per_key, nkeys, -live_since(base));
        OSSL_PROVIDER_unload(prov);
        OSSL_LIB_CTX_free(lc);
    }

    /* DTLS 1.2: both SSL objects after the handshake and one record. */
    memset(&d, 0, sizeof(d));
    d.size = 64;
    d.cctx = dtls_ctx(0);
    d.sctx = dtls_ctx(1);
    base = live_bytes;
    dtls_connect(&d);
    if (!dtls_one(&d))
        die("DTLS record failed");
    {
        long pair = live_since(base);

        SSL_free(d.srv);
        mem_dtls_cli = live_since(base);
        mem_dtls_srv = pair - mem_dtls_cli;
        SSL_free(d.cli);
    }
    SSL_CTX_free(d.cctx);
    SSL_CTX_free(d.sctx);
    printf("  %-44s %9ld\n", "DTLS 1.2 client SSL (+ the two memory BIOs)", mem_dtls_cli);
    printf("  %-44s %9ld\n", "DTLS 1.2 server SSL", mem_dtls_srv);
}

/* ============ sections 5 and 6: many sessions (a gateway) ============ */

static bt_stats attack_ratio;
static size_t attack_lost;

typedef struct {
    unsigned char key[32];
    MEM_STORE sm, rm;
    m2msec_store ss, rs;
    m2msec_session *snd, *rcv;
    uint64_t epoch; /* epoch of the last record sealed */
} PAIR;

static size_t n_gateway = 10000; /* -n */
static int large_counts;         /* -L: section 6 up to 100,000 sessions */

/* n sender/receiver pairs, memory stores; the sender re-keys every ~16 records if rekey. */
static PAIR *pairs_new(size_t n, int rekey)
{
    PAIR *p = calloc(n, sizeof(*p));
    m2msec_session_policy spol = {0};

    if (p == NULL)
        die("out of memory");
    spol.max_records = 20; /* soft limit at 70-80 %: a new epoch every 14-16 records */
    for (size_t i = 0; i < n; i++) {
        random_bytes(p[i].key, sizeof(p[i].key));
        mem_store_init(&p[i].ss, &p[i].sm);
        mem_store_init(&p[i].rs, &p[i].rm);
        p[i].snd = session_make(M2MSEC_SESSION_SENDER, p[i].key, rekey ? &spol : NULL, &p[i].ss);
        p[i].rcv = session_make(M2MSEC_SESSION_RECEIVER, p[i].key, NULL, &p[i].rs);
    }
    return p;
}

static void pairs_free(PAIR *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        m2msec_session_free(p[i].snd);
        m2msec_session_free(p[i].rcv);
    }
    free(p);
}

static uint64_t xs_state = 0x9E3779B97F4A7C15ull;

static uint64_t xs(void)
{
    xs_state ^= xs_state << 13;
    xs_state ^= xs_state >> 7;
    xs_state ^= xs_state << 17;
    return xs_state;
}

#define GW_REC (64 + M2MSEC_SESSION_HEADER_LEN + TAG_LEN)

typedef struct {
    uint32_t pair;
    unsigned char b[GW_REC];
} GW_RECORD;

/* Seal one 64-byte record for each of `count` sessions taken round-robin from *next. */
static void gw_seal(PAIR *p, size_t n, GW_RECORD *out, size_t count, size_t *next)
{
    for (size_t i = 0; i < count; i++) {
        size_t k = (*next)++ % n;

        out[i].pair = (uint32_t)k;
        if (seal_or_die(p[k].snd, msg, 64, out[i].b, sizeof(out[i].b)) != GW_REC)
            die("unexpected record length");
        p[k].epoch = (uint64_t)out[i].b[1] << 24 | (uint64_t)out[i].b[2] << 16 |
                     (uint64_t)out[i].b[3] << 8 | out[i].b[4];
    }
}

/*
 * A forged record for a random session: a random 32-bit epoch; an epoch
 * just ahead (next, or within the default jump limit); the current epoch
 * with a random seq; or a replay of an already delivered record.
 */
static void gw_forge(PAIR *p, size_t n, GW_RECORD *f, const GW_RECORD *old, size_t nold)
{
    uint64_t r = xs(), k = r % n, epoch, seq = xs() & 0xFFFFFFFFFFFFull;

    switch ((r >> 32) % 4) {
    case 0:
        epoch = xs() & 0xFFFFFFFFu;
        break;
    case 1:
        epoch = p[k].epoch + 1 + (xs() % 2 ? 0 : 1 + xs() % 4095);
        break;
    case 2:
        epoch = p[k].epoch;
        break;
    default:
        if (nold > 0) {
            *f = old[xs() % nold];
            return;
        }
        epoch = p[k].epoch;
    }
    f->pair = (uint32_t)k;
    put_header(f->b, epoch, seq);
    for (size_t i = M2MSEC_SESSION_HEADER_LEN; i < GW_REC; i += 8) {
        uint64_t v = xs();

        memcpy(f->b + i, &v, GW_REC - i < 8 ? GW_REC - i : 8);
    }
}

/* Open every record of the stream; returns CPU seconds; counts genuine accepted. */
static double gw_open(PAIR *p, const GW_RECORD *const *stream, size_t len, size_t *accepted,
                      size_t *forged_ok, const unsigned char *genuine)
{
    double t0 = bt_cpu();

    for (size_t i = 0; i < len; i++) {
        size_t ol = 0;
        m2msec_session_status st;

        if (m2msec_session_open(p[stream[i]->pair].rcv, stream[i]->b, GW_REC, plain, sizeof(plain),
                                &ol, &st)) {
            if (genuine[i])
                (*accepted)++;
            else
                (*forged_ok)++;
        } else if (genuine[i]) {
            die_status("a genuine record was refused under attack", st);
        } else {
            ERR_clear_error(); /* the refusal's error, expected */
        }
    }
    return bt_cpu() - t0;
}

static void section_attack(void)
{
    const size_t n = n_gateway, g = 2 * n, ratio = 10, flen = g * ratio;
    PAIR *p;
    GW_RECORD *gen = malloc(sizeof(GW_RECORD) * g), *old = malloc(sizeof(GW_RECORD) * g);
    GW_RECORD *forged = malloc(sizeof(GW_RECORD) * flen);
    const GW_RECORD **stream = calloc(g + flen, sizeof(GW_RECORD *));
    unsigned char *isgen = calloc(g + flen, 1);
    double base_rate[MAX_ROUNDS], att_rate[MAX_ROUNDS], t;
    size_t next = 0, nold = 0, accepted, forged_ok = 0, lost = 0;
    uint64_t cand0 = 0, cand1 = 0, rej[M2MSEC_SESSION_STATUS_COUNT] = {0};
    m2msec_session_stats st;

    if (gen == NULL || old == NULL || forged == NULL || stream == NULL || isgen == NULL)
        die("out of memory");
    printf("\n== 5. a gateway under attack: %zu receiver sessions (memory stores), genuine 64-byte "
           "records plus %zux as many forged ones ==\n",
           n, ratio);
    printf("   forged: random 32-bit epochs, epochs just ahead (next, or up to 4096 ahead), the "
           "current epoch with a random seq, replays;\n   senders re-key every 14-16 records, so "
           "genuine epoch changes happen during the attack; thread CPU time\n");
    t = bt_wall();
    p = pairs_new(n, 1);
    printf("  %zu sender + %zu receiver sessions made in %.2f s\n", n, n, bt_wall() - t);
    /* Warm-up, untimed: every receiver opens its first records; they become replay material. */
    gw_seal(p, n, old, g, &next);
    nold = g;
    for (size_t i = 0; i < g; i++) {
        stream[i] = &old[i];
        isgen[i] = 1;
    }
    accepted = 0;
    gw_open(p, stream, g, &accepted, &forged_ok, isgen);
    for (size_t i = 0; i < n; i++) {
        m2msec_session_get_stats(p[i].rcv, &st);
        cand0 += st.candidates;
        for (int k = 0; k < M2MSEC_SESSION_STATUS_COUNT; k++)
            rej[k] -= st.rejected[k];
    }
    t = bt_wall();
    for (int r = 0; r < rounds; r++) {
        for (int o = 0; o < 2; o++) {
            int attack = (o + r) % 2; /* alternate which goes first */
            size_t len = 0, fi = 0;
            double cpu;

            gw_seal(p, n, gen, g, &next);
            for (size_t i = 0; i < g; i++) {
                if (attack)
                    for (size_t j = 0; j < ratio; j++, fi++) {
                        gw_forge(p, n, &forged[fi], old, nold);
                        stream[len] = &forged[fi];
                        isgen[len++] = 0;
                    }
                stream[len] = &gen[i];
                isgen[len++] = 1;
            }
            accepted = 0;
            cpu = gw_open(p, stream, len, &accepted, &forged_ok, isgen);
            lost += g - accepted;
            (attack ? att_rate : base_rate)[r] = (double)accepted / cpu;
            memcpy(old, gen, sizeof(GW_RECORD) * g); /* delivered: replay material */
        }
    }
    t = bt_wall() - t;
    for (size_t i = 0; i < n; i++) {
        m2msec_session_get_stats(p[i].rcv, &st);
        cand1 += st.candidates;
        for (int k = 0; k < M2MSEC_SESSION_STATUS_COUNT; k++)
            rej[k] += st.rejected[k];
    }
    {
        bt_stats b = bt_summary(base_rate, rounds), a = bt_summary(att_rate, rounds);
        bt_stats q = bt_ratio(att_rate, base_rate, rounds);
        char buf[64];

        printf("  genuine records accepted per CPU second, median (min - max) over %d rounds:\n",
               rounds);
        printf("    without attack %10.0f (%.0f - %.0f)\n", b.med, b.min, b.max);
        printf("    under attack   %10.0f (%.0f - %.0f), with %zu forged records per genuine one\n",
               a.med, a.min, a.max, ratio);
        printf("    under attack / without: %s\n", bt_fmt(buf, sizeof(buf), q));
        printf("  genuine records: %zu sent, %zu lost; forged records accepted: %zu\n",
               (size_t)rounds * 2 * g, lost, forged_ok);
        printf("  candidate derivations during the timed rounds: %" PRIu64
               " for %zu forged records "
               "in %.1f s of wall time\n",
               cand1 - cand0, (size_t)rounds * flen, t);
        printf("  refusals: auth %" PRIu64 ", replay %" PRIu64 ", too old %" PRIu64
               ", stale epoch %" PRIu64 ", epoch too far ahead %" PRIu64
               ", candidate rate limit %" PRIu64 "\n",
               rej[M2MSEC_SESSION_ERR_AUTH], rej[M2MSEC_SESSION_ERR_REPLAY],
               rej[M2MSEC_SESSION_ERR_TOO_OLD], rej[M2MSEC_SESSION_ERR_OLD_EPOCH],
               rej[M2MSEC_SESSION_ERR_EPOCH_AHEAD], rej[M2MSEC_SESSION_ERR_RATE_LIMIT]);
        attack_ratio = q;
        attack_lost = lost;
    }
    pairs_free(p, n);
    free(gen);
    free(old);
    free(forged);
    free(stream);
    free(isgen);
}

/* Section 6: the cost of a session against the number of sessions. */
static void section_scale(void)
{
    static const size_t counts[] = {100, 1000, 10000, 100000};
    const size_t ncounts = large_counts ? 4 : 3;

    printf("\n== 6. session cost against the number of sessions (memory stores, 64-byte records, "
           "round-robin over the sessions) ==\n");
    printf("  %9s %12s %14s %16s %12s %12s\n", "sessions", "new pair us", "pair live B",
           "one receiver B", "open ns/rec", "seal ns/rec");
    for (size_t c = 0; c < ncounts; c++) {
        size_t n = counts[c], next = 0, m = n < 20000 ? 20000 : n;
        GW_RECORD *recs = malloc(sizeof(GW_RECORD) * m);
        const GW_RECORD **stream = calloc(m, sizeof(GW_RECORD *));
        unsigned char *isgen = calloc(m, 1);
        size_t base, accepted = 0, bad = 0;
        double t, t_new, t_seal, t_open = 1e30, pair_live;
        long rcv_live;
        PAIR *p;

        if (recs == NULL || stream == NULL || isgen == NULL)
            die("out of memory");
        memset(isgen, 1, m);
        base = live_bytes;
        t = bt_cpu();
        p = pairs_new(n, 0);
        t_new = (bt_cpu() - t) / (double)n;
        /* every receiver opens its first record */
        gw_seal(p, n, recs, n, &next);
        for (size_t i = 0; i < n; i++)
            stream[i] = &recs[i];
        gw_open(p, stream, n, &accepted, &bad, isgen);
        pair_live = (double)(live_bytes - base) / (double)n;
        {
            /* one receiver's own bytes: what freeing it returns (it leaves the timed set) */
            size_t b0 = live_bytes;

            m2msec_session_free(p[0].rcv);
            p[0].rcv = NULL;
            rcv_live = (long)(b0 - live_bytes);
        }
        t = bt_cpu();
        next = 1;
        gw_seal(p + 1, n - 1, recs, m, &next);
        t_seal = (bt_cpu() - t) / (double)m;
        for (int r = 0; r < rounds && r < 3; r++) {
            double o;

            for (size_t i = 0; i < m; i++)
                stream[i] = &recs[i];
            accepted = 0;
            if (r > 0) /* fresh records for every round: the replay window refuses old ones */
                gw_seal(p + 1, n - 1, recs, m, &next);
            o = gw_open(p + 1, stream, m, &accepted, &bad, isgen) / (double)m;
            t_open = o < t_open ? o : t_open;
        }
        printf("  %9zu %12.1f %14.0f %16ld %12.0f %12.0f\n", n, t_new * 1e6, pair_live, rcv_live,
               t_open * 1e9, t_seal * 1e9);
        pairs_free(p, n);
        free(recs);
        free(stream);
        free(isgen);
    }
    if (!large_counts)
        printf("  (-L adds 100,000 sessions: about 1 GB of memory)\n");
}

/* ======================= summary ======================= */

static int run_sections[7];

static void summary(void)
{
    int missed = 0;

    printf("\n== summary (ratios min / median / max over %d rounds; targets of issue 13 on the "
           "median) ==\n",
           rounds);
    if (run_sections[1] && only == NULL && only_size == 0) {
        static const struct {
            int z, a, b;
            double target;
            const char *what;
        } t[] = {
            {0, C_REC, C_RAW, 0.85, "M2M-REC-AES-128-GCM via EVP vs raw EVP, 64 B"},
            {0, C_SESS, C_RAW, 0.80, "session seal+open vs raw EVP, 64 B"},
            {1, C_SESS, C_RAW, 0.90, "session seal+open vs raw EVP, 1 KiB"},
            {2, C_SESS, C_RAW, 0.98, "session seal+open vs raw EVP, 16 KiB"},
            {0, C_SESS, C_DTLS, 1.50, "session vs DTLS 1.2, 64 B"},
            {1, C_SESS, C_DTLS, 0, "session vs DTLS 1.2, 1 KiB"},
            {2, C_SESS, C_DTLS, 0, "session vs DTLS 1.2, 16 KiB"},
            {1, C_REC, C_RAW, 0, "M2M-REC-AES-128-GCM via EVP vs raw EVP, 1 KiB"},
            {2, C_REC, C_RAW, 0, "M2M-REC-AES-128-GCM via EVP vs raw EVP, 16 KiB"},
        };

        for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
            char buf[64];
            bt_stats st = ratio_of(t[i].z, t[i].a, t[i].b);

            printf("  %-48s %s", t[i].what, bt_fmt(buf, sizeof(buf), st));
            if (t[i].target > 0)
                printf("  (target >= %.2fx)", t[i].target);
            printf("\n");
            if (t[i].target > 0 && st.med < t[i].target) {
                printf("  MISSED: %s: median %.3fx, target >= %.2fx\n", t[i].what, st.med,
                       t[i].target);
                missed++;
            }
        }
    }
    if (run_sections[2])
        printf("  replay check+update: %.2f / %.2f / %.2f ns per record (window 64 / 1024 / "
               "8192); open at 8192 vs 64: %.2fx\n",
               replay_ns[0], replay_ns[1], replay_ns[2], replay_open_ns[2] / replay_open_ns[0]);
    if (run_sections[3])
        printf("  re-key: sender %.1f us (memory store) / %.0f us (file store); receiver %.1f us "
               "/ %.0f us; file-store receiver steady state %.2fx memory store\n",
               rekey_snd_mem, rekey_snd_file, rekey_rcv_mem, rekey_rcv_file, file_open_ratio);
    if (run_sections[4])
        printf("  memory: sender %ld B, receiver %ld B (window 256) / %ld B (window 8192); DTLS "
               "1.2 SSL %ld B (client) / %ld B (server)\n",
               mem_snd, mem_rcv256, mem_rcv8192, mem_dtls_cli, mem_dtls_srv);
    if (run_sections[5]) {
        char buf[64];

        printf("  gateway of %zu sessions, genuine records accepted under 10x forged traffic / "
               "without: %s; lost: %zu\n",
               n_gateway, bt_fmt(buf, sizeof(buf), attack_ratio), attack_lost);
        if (attack_lost != 0) {
            printf("  MISSED: %zu genuine records lost under attack\n", attack_lost);
            missed++;
        }
    }
    if (run_sections[1] && only == NULL && only_size == 0 && missed == 0)
        printf("  all throughput targets met in this run\n");
}

int main(int argc, char **argv)
{
    const char *dir = getenv("M2M_MODULES");
    const char *sections = "123456";
    OSSL_PROVIDER *m2m, *dflt = NULL;
    int opt;

    /* Before any other OpenSSL call: count every allocation. */
    if (!CRYPTO_set_mem_functions(count_malloc, count_realloc, count_free))
        die("CRYPTO_set_mem_functions failed (OpenSSL allocated before main?)");

    while ((opt = getopt(argc, argv, "p:t:r:s:o:z:d:n:Lh")) != -1) {
        switch (opt) {
        case 'p':
            dir = optarg;
            break;
        case 't':
            seconds = parse_positive(optarg, 3600);
            break;
        case 'r':
            rounds = (int)parse_positive(optarg, MAX_ROUNDS);
            break;
        case 's':
            sections = optarg;
            break;
        case 'o':
            only = optarg;
            break;
        case 'z':
            only_size = (size_t)parse_positive(optarg, MAX_SIZE);
            break;
        case 'd':
            state_dir = optarg;
            break;
        case 'n':
            n_gateway = (size_t)parse_positive(optarg, 1000000);
            break;
        case 'L':
            large_counts = 1;
            break;
        default:
            usage();
        }
    }
    if (optind != argc || strspn(sections, "123456") != strlen(sections) || *sections == '\0')
        usage();
    if (only_size != 0 && only_size != sizes[0] && only_size != sizes[1] && only_size != sizes[2])
        usage();
    if (only != NULL) {
        int found = 0;

        for (int c = 0; c < NCONT; c++)
            found |= strcmp(only, contenders[c].name) == 0;
        if (!found)
            usage();
    }
    for (const char *p = sections; *p != '\0'; p++)
        run_sections[*p - '0'] = 1;

    if (sodium_init() < 0)
        die("sodium_init failed");
    if (!OPENSSL_init_ssl(0, NULL))
        die("OPENSSL_init_ssl failed");
    modules_dir = dir != NULL && *dir != '\0' ? dir : NULL;
    if ((m2m = m2msec_provider_load(NULL, modules_dir, &dflt)) == NULL)
        die("cannot load the m2msec provider (-p DIR or M2M_MODULES)");
    for (size_t i = 0; i < sizeof(msg); i++)
        msg[i] = (unsigned char)(i * 7 + 3);

    printf("record_bench: %s, libsodium %s, libm2msec %s; %d round(s) of %.2f s\n",
           OpenSSL_version(OPENSSL_VERSION), sodium_version_string(), m2msec_version(), rounds,
           seconds);
    bt_load("record_bench", "at the start");
    if (run_sections[1])
        section_throughput();
    if (run_sections[2])
        section_replay();
    if (run_sections[3])
        section_rekey();
    if (run_sections[4])
        section_memory();
    if (run_sections[5])
        section_attack();
    if (run_sections[6])
        section_scale();
    summary();
    bt_load("record_bench", "at the end");
    OSSL_PROVIDER_unload(m2m);
    if (dflt != NULL)
        OSSL_PROVIDER_unload(dflt);
    return 0;
}
