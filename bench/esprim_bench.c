/* SPDX-License-Identifier: Apache-2.0 */
/*
 * esprim_bench: what an ESPrim object (m2msec/esprim.h, a JWE carried end
 * to end) costs, against m2msec's own record sessions and raw EVP AES-GCM,
 * measured in the same run.
 *
 * One iteration seals one primitive and opens it again, in-process, at
 * 64 B, 1 KiB and 16 KiB:
 *   raw AES-128-GCM      the limit: EVP with a counter IV (a new 12-byte IV
 *                        per object), 11 bytes of AAD, EVP_EncryptInit_ex2
 *                        with the IV on a keyed context, update, final, get
 *                        the tag; then the same to decrypt with set tag
 *   raw + random IV      the same with the IV from RAND_bytes, as a JWE has
 *   m2msec session       m2msec_session_seal + m2msec_session_open (M2M-REC-AES-128-GCM,
 *                        memory stores)
 *   ESPrim A128GCM       m2msec_esprim_seal at an Originator +
 *                        m2msec_esprim_open at a Receiver, in a session past
 *                        its first response (no "oro"): base64url, the
 *                        header JSON, the IV cache and AES-GCM
 *
 * Runs are interleaved (raw, raw + random IV, session, ESPrim, raw, ...)
 * for -r rounds; each round gives the ratio of each contender to raw, and of
 * ESPrim to the session, and the table shows their minimum, median and
 * maximum over the rounds. Each round uses fresh
 * ends, so the replay cache of the ESPrim Receiver grows only within a run.
 * Then the bytes each protocol adds per object. No timing is asserted.
 *
 * Usage: esprim_bench [-p MODULES_DIR] [-t SECONDS] [-r ROUNDS] [-d STATE_DIR]
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/provider.h>
#include <openssl/rand.h>

#include "m2msec/esprim.h"
#include "m2msec/m2msec.h"
#include "m2msec/session.h"

#include "bench_timing.h"

#define MAX_ROUNDS BT_MAX_ROUNDS
#define NSIZES 3
#define MAX_SIZE 16384
#define NC 4 /* contenders */

static const size_t sizes[NSIZES] = {64, 1024, 16384};
static const char *const names[NC] = {"raw AES-128-GCM", "raw + random IV", "m2msec session",
                                      "ESPrim A128GCM"};

static double seconds = 0.3;
static int rounds = 5;
static const char *state_dir;
static OSSL_LIB_CTX *libctx;
static unsigned char msg[MAX_SIZE], plain[MAX_SIZE + 64];
static char jwe[M2MSEC_ESPRIM_SEAL_SIZE(MAX_SIZE)];
static unsigned char rec[MAX_SIZE + 64];
static const unsigned char service_key[32] = {
    0x31, 0x41, 0x59, 0x26, 0x53, 0x58, 0x97, 0x93, 0x23, 0x84, 0x62, 0x64, 0x33, 0x83, 0x27, 0x95,
    0x02, 0x88, 0x41, 0x97, 0x16, 0x93, 0x99, 0x37, 0x51, 0x05, 0x82, 0x09, 0x74, 0x94, 0x45, 0x92};

static void die(const char *what)
{
    fprintf(stderr, "esprim_bench: %s\n", what);
    ERR_print_errors_fp(stderr);
    exit(2);
}

/* ---------------------------------------------------------------- raw AES-GCM */

typedef struct {
    EVP_CIPHER_CTX *e, *d;
} raw_t;

static void raw_new(raw_t *r)
{
    EVP_CIPHER *c = EVP_CIPHER_fetch(libctx, "AES-128-GCM", NULL);

    r->e = EVP_CIPHER_CTX_new();
    r->d = EVP_CIPHER_CTX_new();
    if (c == NULL || r->e == NULL || r->d == NULL ||
        !EVP_EncryptInit_ex2(r->e, c, service_key, NULL, NULL) ||
        !EVP_DecryptInit_ex2(r->d, c, service_key, NULL, NULL))
        die("raw AES-128-GCM set-up");
    EVP_CIPHER_free(c);
}

static void raw_free(raw_t *r)
{
    EVP_CIPHER_CTX_free(r->e);
    EVP_CIPHER_CTX_free(r->d);
}

static void raw_one(raw_t *r, size_t n, int random_iv)
{
    static const unsigned char aad[11] = "header-11b";
    static uint64_t counter;
    unsigned char iv[12] = {0}, tag[16];
    int l;

    counter++;
    memcpy(iv + 4, &counter, sizeof(counter));
    if ((random_iv && RAND_bytes_ex(libctx, iv, sizeof(iv), 0) != 1) ||
        !EVP_EncryptInit_ex2(r->e, NULL, NULL, iv, NULL) ||
        !EVP_EncryptUpdate(r->e, NULL, &l, aad, sizeof(aad)) ||
        !EVP_EncryptUpdate(r->e, rec, &l, msg, (int)n) || !EVP_EncryptFinal_ex(r->e, rec + n, &l) ||
        !EVP_CIPHER_CTX_ctrl(r->e, EVP_CTRL_AEAD_GET_TAG, 16, tag) ||
        !EVP_DecryptInit_ex2(r->d, NULL, NULL, iv, NULL) ||
        !EVP_DecryptUpdate(r->d, NULL, &l, aad, sizeof(aad)) ||
        !EVP_DecryptUpdate(r->d, plain, &l, rec, (int)n) ||
        !EVP_CIPHER_CTX_ctrl(r->d, EVP_CTRL_AEAD_SET_TAG, 16, tag) ||
        EVP_DecryptFinal_ex(r->d, plain + n, &l) <= 0)
        die("raw AES-128-GCM");
}

/* ---------------------------------------------------------------- record sessions */

typedef struct {
    m2msec_session_state st;
    int locked;
} mstore;

static int ms_lock(void *arg, void **h)
{
    mstore *m = arg;

    if (m->locked)
        return 0;
    m->locked = 1;
    *h = m;
    return 1;
}

static void ms_unlock(void *arg, void *h)
{
    (void)h;
    ((mstore *)arg)->locked = 0;
}

static int ms_load(void *arg, void *h, m2msec_session_state *st)
{
    (void)h;
    *st = ((mstore *)arg)->st;
    return 1;
}

static int ms_save(void *arg, void *h, const m2msec_session_state *st)
{
    (void)h;
    ((mstore *)arg)->st = *st;
    return 1;
}

typedef struct {
    m2msec_store ss, rs;
    m2msec_session *snd, *rcv;
} sess_t;

/* One state per direction for the whole run: every new sender starts a new epoch (key). */
static mstore sender_state, receiver_state;

static void sess_new(sess_t *s)
{
    m2msec_session_config c;

    memset(s, 0, sizeof(*s));
    s->ss =
        (m2msec_store){ms_lock, ms_load, ms_save, ms_unlock, &sender_state, "bench sender", NULL};
    s->rs = (m2msec_store){ms_lock,         ms_load,          ms_save, ms_unlock,
                           &receiver_state, "bench receiver", NULL};
    memset(&c, 0, sizeof(c));
    c.libctx = libctx;
    c.key = service_key;
    c.key_len = sizeof(service_key);
    c.originator = "bench-device";
    c.receiver = "bench-server";
    c.role = M2MSEC_SESSION_SENDER;
    c.store = &s->ss;
    s->snd = m2msec_session_new(&c);
    c.role = M2MSEC_SESSION_RECEIVER;
    c.store = &s->rs;
    s->rcv = m2msec_session_new(&c);
    if (s->snd == NULL || s->rcv == NULL)
        die("record sessions");
}

static void sess_free(sess_t *s)
{
    m2msec_session_free(s->snd);
    m2msec_session_free(s->rcv);
}

static void sess_one(sess_t *s, size_t n)
{
    size_t rl, pl;

    if (!m2msec_session_seal(s->snd, msg, n, rec, sizeof(rec), &rl, NULL) ||
        !m2msec_session_open(s->rcv, rec, rl, plain, sizeof(plain), &pl, NULL) || pl != n)
        die("record session");
}

/* ---------------------------------------------------------------- ESPrim */

typedef struct {
    char state[512];
    m2msec_esprim *orig, *recv;
} esp_t;

static unsigned esp_serial;

static void esp_new(esp_t *e, size_t *with_oro, size_t *without_oro, size_t n)
{
    m2msec_esprim_config c;
    m2msec_esprim_rand *r = NULL;
    m2msec_esprim_info info;
    size_t jl, pl;

    snprintf(e->state, sizeof(e->state), "%s/esprim_bench.%ld.%u.state", state_dir, (long)getpid(),
             esp_serial++);
    unlink(e->state);
    if (!m2msec_esprim_state_init(e->state, "bench-kid"))
        die("ESPrim state");
    memset(&c, 0, sizeof(c));
    c.libctx = libctx;
    c.key = service_key;
    c.key_len = sizeof(service_key);
    c.kid = "bench-kid";
    c.max_objects = (uint64_t)1 << 24;
    c.max_cache = (size_t)1 << 24;
    c.role = M2MSEC_ESPRIM_RECEIVER;
    c.state = e->state;
    e->recv = m2msec_esprim_new(&c);
    c.role = M2MSEC_ESPRIM_ORIGINATOR;
    c.state = NULL;
    c.enc = M2MSEC_ESPRIM_JWE_A128GCM;
    e->orig = m2msec_esprim_new(&c);
    if (e->recv == NULL || e->orig == NULL || (r = m2msec_esprim_rand_new(e->recv, 0)) == NULL ||
        !m2msec_esprim_accept(e->orig, r))
        die("ESPrim ends");
    m2msec_esprim_rand_free(r);
    /* the first object carries oro; a response confirms the session */
    if (!m2msec_esprim_seal(e->orig, 0, msg, n, jwe, sizeof(jwe), &jl, NULL) ||
        !m2msec_esprim_open(e->recv, jwe, jl, plain, sizeof(plain), &pl, &info))
        die("ESPrim first object");
    if (with_oro != NULL)
        *with_oro = jl - n;
    if (!m2msec_esprim_seal_reply(e->recv, &info, msg, 8, jwe, sizeof(jwe), &jl) ||
        !m2msec_esprim_open(e->orig, jwe, jl, plain, sizeof(plain), &pl, NULL))
        die("ESPrim response");
    if (!m2msec_esprim_seal(e->orig, 0, msg, n, jwe, sizeof(jwe), &jl, NULL) ||
        !m2msec_esprim_open(e->recv, jwe, jl, plain, sizeof(plain), &pl, NULL))
        die("ESPrim object");
    if (without_oro != NULL)
        *without_oro = jl - n;
}

static void esp_free(esp_t *e)
{
    m2msec_esprim_free(e->orig);
    m2msec_esprim_free(e->recv);
    unlink(e->state);
    {
        char lock[600];

        snprintf(lock, sizeof(lock), "%s.lock", e->state);
        unlink(lock);
    }
}

static void esp_one(esp_t *e, size_t n)
{
    size_t jl, pl;

    if (!m2msec_esprim_seal(e->orig, 0, msg, n, jwe, sizeof(jwe), &jl, NULL) ||
        !m2msec_esprim_open(e->recv, jwe, jl, plain, sizeof(plain), &pl, NULL) || pl != n)
        die("ESPrim seal/open");
}

/* ---------------------------------------------------------------- measuring */

/* Iterations per second of contender c at size n, for `seconds`. */
static double measure(int c, size_t n)
{
    raw_t r;
    sess_t s;
    esp_t e;
    double start, t;
    unsigned long it = 0;

    memset(&r, 0, sizeof(r));
    memset(&s, 0, sizeof(s));
    memset(&e, 0, sizeof(e));

    if (c <= 1)
        raw_new(&r);
    else if (c == 2)
        sess_new(&s);
    else
        esp_new(&e, NULL, NULL, n);
    start = bt_cpu();
    do {
        for (int k = 0; k < 16; k++) {
            if (c <= 1)
                raw_one(&r, n, c);
            else if (c == 2)
                sess_one(&s, n);
            else
                esp_one(&e, n);
        }
        it += 16;
        t = bt_cpu();
    } while (t - start < seconds);
    if (c <= 1)
        raw_free(&r);
    else if (c == 2)
        sess_free(&s);
    else
        esp_free(&e);
    return (double)it / (t - start);
}

static void usage(void)
{
    fputs("usage: esprim_bench [-p MODULES_DIR] [-t SECONDS] [-r ROUNDS] [-d STATE_DIR]\n", stderr);
    exit(2);
}

int main(int argc, char **argv)
{
    const char *mods = getenv("M2M_MODULES");
    OSSL_PROVIDER *prov, *deflt = NULL;
    double rate[NSIZES][NC][MAX_ROUNDS];
    int opt;

    state_dir = getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp";
    while ((opt = getopt(argc, argv, "p:t:r:d:h")) != -1) {
        switch (opt) {
        case 'p':
            mods = optarg;
            break;
        case 't':
            seconds = atof(optarg);
            break;
        case 'r':
            rounds = atoi(optarg);
            break;
        case 'd':
            state_dir = optarg;
            break;
        default:
            usage();
        }
    }
    if (seconds <= 0 || rounds < 1 || rounds > MAX_ROUNDS)
        usage();
    if ((libctx = OSSL_LIB_CTX_new()) == NULL ||
        (prov = m2msec_provider_load(libctx, mods, &deflt)) == NULL)
        die("cannot load m2msec (give -p DIR or set M2M_MODULES)");
    for (size_t i = 0; i < sizeof(msg); i++)
        msg[i] = (unsigned char)('a' + i % 26);
    bt_load("esprim_bench", "at start");
    printf("seal+open of one primitive per iteration, %.2f s per run, %d interleaved rounds\n\n",
           seconds, rounds);
    for (int r = 0; r < rounds; r++)
        for (int z = 0; z < NSIZES; z++)
            for (int i = 0; i < NC; i++) {
                int c = bt_order(r, i, NC); /* thread CPU time, order alternating */

                rate[z][c][r] = measure(c, sizes[z]);
            }
    printf("%-6s %-17s %11s %8s   %-26s %-26s\n", "size", "contender", "best obj/s", "MB/s",
           "ratio to raw (min/med/max)", "ESPrim / session (min/med/max)");
    for (int z = 0; z < NSIZES; z++) {
        for (int c = 0; c < NC; c++) {
            double best = bt_summary(rate[z][c], rounds).max;
            char rt[64] = "", vt[64] = "";

            if (c > 0)
                bt_fmt(rt, sizeof(rt), bt_ratio(rate[z][c], rate[z][0], rounds));
            if (c == 3)
                bt_fmt(vt, sizeof(vt), bt_ratio(rate[z][3], rate[z][2], rounds));
            printf("%-6zu %-17s %11.0f %8.1f   %-26s %-26s\n", sizes[z], names[c], best,
                   best * (double)sizes[z] / 1e6, rt, vt);
        }
    }
    printf("\nbytes added per object (on the wire):\n");
    printf("%-8s %10s %10s %16s %16s\n", "size", "raw GCM", "session", "ESPrim", "ESPrim + oro");
    for (int z = 0; z < NSIZES; z++) {
        size_t with_oro = 0, without = 0;
        esp_t e;

        esp_new(&e, &with_oro, &without, sizes[z]);
        esp_free(&e);
        printf("%-8zu %10d %10d %16zu %16zu\n", sizes[z], 12 + 16, 11 + 16, without, with_oro);
    }
    printf("(raw GCM: IV + tag; session: header + tag; ESPrim: the JWE text minus the primitive,\n"
           " base64url of the ciphertext included; + oro: the first objects of a session)\n\n");
    bt_load("esprim_bench", "at end");
    OSSL_PROVIDER_unload(prov);
    OSSL_PROVIDER_unload(deflt);
    OSSL_LIB_CTX_free(libctx);
    return 0;
}
