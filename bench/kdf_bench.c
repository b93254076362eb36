/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kdf_bench: derivations per second of the m2msec KDFs against OpenSSL's
 * own HKDF (default provider), all through the same EVP calls.
 *
 * Every KDF is fetched once and gets one EVP_KDF_CTX; settings that an
 * application makes once (HKDF's digest, ONEM2M-KDF's derivation) are set
 * once; the timed loop calls EVP_KDF_derive(ctx, out, 32, params) with the
 * per-derivation parameters. All keys are 32 bytes, all salts 16 bytes, and
 * HKDF's info has the same length as the info M2M-SESSION-KDF encodes, so
 * the comparison is like for like.
 *
 * Runs are interleaved (A, B, C, D, A, B, ...) for a number of rounds and
 * the best rate of each KDF is kept, which filters out noise from other
 * processes and frequency changes.
 *
 * Usage: kdf_bench [-p MODULES_DIR] [-t SECONDS] [-r ROUNDS]
 * MODULES_DIR defaults to $M2M_MODULES, then OpenSSL's modules directory.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/provider.h>

#include "m2msec/names.h"

#define OUTLEN 32
#define MAX_PARAMS 12
#define MAX_ROUNDS 20

/* Inputs shared by all KDFs: the same key and salt sizes everywhere. */
static unsigned char key[32];
static unsigned char salt[16];
static char purpose[] = "record";
static char originator[] = "CAE-sensor01";
static char receiver[] = "CSE-gateway01";
static char enrolee_id[] = "CAE-sensor01";
static uint64_t epoch = 7;
static uint64_t not_before = 1700000000;
static uint64_t lifetime = 3600;
/* Sized in main() to the length of M2M-SESSION-KDF's encoded info. */
static unsigned char hkdf_info[256];

typedef struct {
    const char *label;          /* what is printed */
    const char *alg;            /* EVP_KDF name */
    const char *propq;          /* property query for the fetch */
    OSSL_PARAM once[3];         /* set once on the ctx before timing */
    OSSL_PARAM per[MAX_PARAMS]; /* passed to every EVP_KDF_derive */
    EVP_KDF *kdf;
    EVP_KDF_CTX *ctx;
    double best; /* best ops/s over the rounds */
} BENCH;

static double now(void)
{
    struct timespec ts;

    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0) {
        perror("clock_gettime");
        exit(2);
    }
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
    fprintf(stderr, "kdf_bench: %s\n", what);
    ERR_print_errors_fp(stderr);
    exit(2);
}

static void usage(void)
{
    fprintf(stderr, "usage: kdf_bench [-p MODULES_DIR] [-t SECONDS] [-r ROUNDS]\n"
                    "  -p DIR      directory holding m2msec.so (default $M2M_MODULES)\n"
                    "  -t SECONDS  time per run (default 1)\n"
                    "  -r ROUNDS   interleaved rounds, best kept (default 3)\n");
    exit(2);
}

/* Length of the info M2M-SESSION-KDF builds for the inputs above (docs/PROTOCOL.md 2). */
static size_t session_info_len(void)
{
    const size_t label = sizeof("m2msec session key v1") - 1;
    const size_t aead = sizeof(M2MSEC_REC_AES_128_GCM) - 1;

    return 2 + label + 2 + strlen(purpose) + 2 + strlen(originator) + 2 + strlen(receiver) + 8 + 8 +
           8 + 2 + aead + 4 + 2 + 2;
}

static void setup(BENCH *b)
{
    unsigned char out[OUTLEN];

    b->kdf = EVP_KDF_fetch(NULL, b->alg, b->propq);
    if (b->kdf == NULL) {
        fprintf(stderr, "kdf_bench: cannot fetch %s (%s)\n", b->alg, b->propq);
        die("is the m2msec provider in the modules directory? (-p DIR or M2M_MODULES)");
    }
    b->ctx = EVP_KDF_CTX_new(b->kdf);
    if (b->ctx == NULL)
        die("EVP_KDF_CTX_new failed");
    if (b->once[0].key != NULL && !EVP_KDF_CTX_set_params(b->ctx, b->once))
        die("setting the one-off parameters failed");
    /* One derivation outside the clock: fails loudly instead of timing errors. */
    if (EVP_KDF_derive(b->ctx, out, OUTLEN, b->per) <= 0) {
        fprintf(stderr, "kdf_bench: %s derivation failed\n", b->label);
        die("check the parameters");
    }
}

/* Derive for about `seconds`, return derivations per second. */
static double run(BENCH *b, double seconds)
{
    unsigned char out[OUTLEN];
    unsigned long long ops = 0;
    double start = now(), end = start + seconds, t;

    do {
        /* Read the clock every 64 derivations to keep its cost out of the figures. */
        for (int i = 0; i < 64; i++)
            if (EVP_KDF_derive(b->ctx, out, OUTLEN, b->per) <= 0)
                die("derivation failed during timing");
        ops += 64;
    } while ((t = now()) < end);
    return (double)ops / (t - start);
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

int main(int argc, char **argv)
{
    const char *dir = getenv("M2M_MODULES");
    double seconds = 1.0;
    int rounds = 3, opt;
    size_t infolen = session_info_len();
    BENCH benches[4];
    const size_t n = sizeof(benches) / sizeof(benches[0]);
    OSSL_PROVIDER *m2m, *deflt;

    while ((opt = getopt(argc, argv, "p:t:r:h")) != -1) {
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
        default:
            usage();
        }
    }
    if (optind != argc)
        usage();

    for (size_t i = 0; i < sizeof(key); i++)
        key[i] = (unsigned char)(0xA0 + i);
    for (size_t i = 0; i < sizeof(salt); i++)
        salt[i] = (unsigned char)i;
    if (infolen > sizeof(hkdf_info))
        die("info buffer too small");
    for (size_t i = 0; i < infolen; i++)
        hkdf_info[i] = (unsigned char)('a' + i % 26);

    if (dir != NULL && *dir != '\0' && !OSSL_PROVIDER_set_default_search_path(NULL, dir))
        die("cannot set the provider search path");
    if ((m2m = OSSL_PROVIDER_load(NULL, "m2msec")) == NULL)
        die("cannot load the m2msec provider (-p DIR or M2M_MODULES)");
    if ((deflt = OSSL_PROVIDER_load(NULL, "default")) == NULL)
        die("cannot load the default provider");

    memset(benches, 0, sizeof(benches));

    /* OpenSSL's HKDF: digest once; key, salt, info per derivation. */
    benches[0].label = "HKDF (default)";
    benches[0].alg = "HKDF";
    benches[0].propq = "provider=default";
    benches[0].once[0] =
        OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA2-256", 0);
    benches[0].once[1] = OSSL_PARAM_construct_end();
    benches[0].per[0] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, key, sizeof(key));
    benches[0].per[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, salt, sizeof(salt));
    benches[0].per[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, hkdf_info, infolen);
    benches[0].per[3] = OSSL_PARAM_construct_end();

    /* M2M-SESSION-KDF: everything per derivation, digest left at its SHA2-256 default. */
    benches[1].label = M2MSEC_KDF_SESSION;
    benches[1].alg = M2MSEC_KDF_SESSION;
    benches[1].propq = "provider=m2msec";
    benches[1].once[0] = OSSL_PARAM_construct_end();
    benches[1].per[0] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, key, sizeof(key));
    benches[1].per[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, salt, sizeof(salt));
    benches[1].per[2] = OSSL_PARAM_construct_utf8_string(M2MSEC_KDF_PARAM_PURPOSE, purpose, 0);
    benches[1].per[3] =
        OSSL_PARAM_construct_utf8_string(M2MSEC_KDF_PARAM_ORIGINATOR, originator, 0);
    benches[1].per[4] = OSSL_PARAM_construct_utf8_string(M2MSEC_KDF_PARAM_RECEIVER, receiver, 0);
    benches[1].per[5] = OSSL_PARAM_construct_uint64(M2MSEC_KDF_PARAM_EPOCH, &epoch);
    benches[1].per[6] = OSSL_PARAM_construct_uint64(M2MSEC_KDF_PARAM_NOT_BEFORE, &not_before);
    benches[1].per[7] = OSSL_PARAM_construct_uint64(M2MSEC_KDF_PARAM_LIFETIME, &lifetime);
    benches[1].per[8] = OSSL_PARAM_construct_end();

    /* ONEM2M-KDF kpsa: one HMAC-SHA-256; derivation once, key and Enrolee-B-ID per derivation. */
    benches[2].label = M2MSEC_KDF_ONEM2M " " M2MSEC_ONEM2M_KPSA;
    benches[2].alg = M2MSEC_KDF_ONEM2M;
    benches[2].propq = "provider=m2msec";
    benches[2].once[0] = OSSL_PARAM_construct_utf8_string(M2MSEC_KDF_PARAM_DERIVATION,
                                                          (char *)M2MSEC_ONEM2M_KPSA, 0);
    benches[2].once[1] = OSSL_PARAM_construct_end();
    benches[2].per[0] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, key, sizeof(key));
    benches[2].per[1] =
        OSSL_PARAM_construct_utf8_string(M2MSEC_KDF_PARAM_ENROLEE_ID, enrolee_id, 0);
    benches[2].per[2] = OSSL_PARAM_construct_end();

    /* ONEM2M-KDF e2e-msg-auth: two HMACs (Ke2e_master, then T(1)); key = Kpsa, salt. */
    benches[3].label = M2MSEC_KDF_ONEM2M " " M2MSEC_ONEM2M_E2E_MSG_AUTH;
    benches[3].alg = M2MSEC_KDF_ONEM2M;
    benches[3].propq = "provider=m2msec";
    benches[3].once[0] = OSSL_PARAM_construct_utf8_string(M2MSEC_KDF_PARAM_DERIVATION,
                                                          (char *)M2MSEC_ONEM2M_E2E_MSG_AUTH, 0);
    benches[3].once[1] = OSSL_PARAM_construct_end();
    benches[3].per[0] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, key, sizeof(key));
    benches[3].per[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, salt, sizeof(salt));
    benches[3].per[2] = OSSL_PARAM_construct_end();

    for (size_t i = 0; i < n; i++)
        setup(&benches[i]);

    printf("kdf_bench: %d round(s) of %.2f s per KDF, best kept; key 32 B, salt 16 B, "
           "HKDF info %zu B, output %d B\n",
           rounds, seconds, infolen, OUTLEN);
    for (int r = 0; r < rounds; r++) {
        for (size_t i = 0; i < n; i++) {
            double rate = run(&benches[i], seconds);

            if (rate > benches[i].best)
                benches[i].best = rate;
        }
    }
    for (size_t i = 0; i < n; i++)
        printf("%-24s %10.0f ops/s  %5.2fx HKDF\n", benches[i].label, benches[i].best,
               benches[i].best / benches[0].best);

    for (size_t i = 0; i < n; i++) {
        EVP_KDF_CTX_free(benches[i].ctx);
        EVP_KDF_free(benches[i].kdf);
    }
    OSSL_PROVIDER_unload(deflt);
    OSSL_PROVIDER_unload(m2m);
    return 0;
}
