/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kdf_bench: what a key derivation costs the way m2msec really does it,
 * against the fair anchor for each (issue 13), all in one process.
 *
 * An epoch change derives with a fresh EVP_KDF_CTX, so every contender
 * does the whole thing per derivation:
 *   HKDF, fresh ctx        anchor: EVP_KDF_CTX_new on the fetched HKDF,
 *                          EVP_KDF_derive with digest, 32-byte key, 16-byte
 *                          salt and an info as long as M2M-SESSION-KDF's,
 *                          EVP_KDF_CTX_free
 *   M2M-SESSION-KDF        the same with M2M-SESSION-KDF (same key and salt)
 *   m2msec_session_key_derive()  the library helper (it keeps the KDF it fetched)
 *   HMAC-SHA256 EVP_Q_mac  anchor for kpsa: one EVP_Q_mac over the kpsa
 *                          label || Enrolee-B-ID with the 32-byte key
 *   ONEM2M-KDF kpsa        fresh ctx per derivation
 *
 * Every contender's output is checked first: the helper against the KDF,
 * and kpsa against the EVP_Q_mac HMAC (docs/PROTOCOL.md: Kpsa = HMAC(Ke,
 * label || enrolee-id)), so the anchor is also an independent reference.
 *
 * Timing: thread CPU time (bench_timing.h), every contender once per round
 * in an order that alternates per round; ratios per round, printed as
 * minimum / median / maximum. No timing is asserted; a missed target of
 * issue 13 is printed as a line starting with "MISSED:".
 *
 * Usage: kdf_bench [-p MODULES_DIR] [-t SECONDS] [-r ROUNDS]
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/provider.h>

#include "m2msec/m2msec.h"
#include "m2msec/names.h"

#include "bench_timing.h"

#define OUTLEN 32
#define LABEL_KPSA "oneM2M Enrolment Key to Provisioned Secure Connection Key derivation"

static unsigned char key[32];
static unsigned char salt[16];
static char purpose[] = "record";
static char originator[] = "CAE-sensor01";
static char receiver[] = "CSE-gateway01";
static char enrolee_id[] = "CAE-sensor01";
static char digest[] = "SHA2-256";
static char kpsa_name[] = M2MSEC_ONEM2M_KPSA;
static uint64_t epoch = 7;
static uint64_t not_before = 1700000000;
static uint64_t lifetime = 3600;
static unsigned char hkdf_info[256];
static size_t infolen;
static unsigned char kpsa_msg[sizeof(LABEL_KPSA) - 1 + sizeof(enrolee_id) - 1];
static EVP_KDF *hkdf, *skdf, *okdf;
static m2msec_session_key_spec spec;

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
                    "  -t SECONDS  CPU time per contender and round (default 0.3)\n"
                    "  -r ROUNDS   interleaved rounds (default 7, at most 31)\n");
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

static int fresh_ctx(EVP_KDF *kdf, const OSSL_PARAM *p, unsigned char *out)
{
    EVP_KDF_CTX *ctx = EVP_KDF_CTX_new(kdf);
    int ok = ctx != NULL && EVP_KDF_derive(ctx, out, OUTLEN, p) > 0;

    EVP_KDF_CTX_free(ctx);
    return ok;
}

static int d_hkdf(unsigned char *out)
{
    OSSL_PARAM p[5];

    p[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0);
    p[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, key, sizeof(key));
    p[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, salt, sizeof(salt));
    p[3] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, hkdf_info, infolen);
    p[4] = OSSL_PARAM_construct_end();
    return fresh_ctx(hkdf, p, out);
}

static int d_session(unsigned char *out)
{
    OSSL_PARAM p[9];

    p[0] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, key, sizeof(key));
    p[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, salt, sizeof(salt));
    p[2] = OSSL_PARAM_construct_utf8_string(M2MSEC_KDF_PARAM_PURPOSE, purpose, 0);
    p[3] = OSSL_PARAM_construct_utf8_string(M2MSEC_KDF_PARAM_ORIGINATOR, originator, 0);
    p[4] = OSSL_PARAM_construct_utf8_string(M2MSEC_KDF_PARAM_RECEIVER, receiver, 0);
    p[5] = OSSL_PARAM_construct_uint64(M2MSEC_KDF_PARAM_EPOCH, &epoch);
    p[6] = OSSL_PARAM_construct_uint64(M2MSEC_KDF_PARAM_NOT_BEFORE, &not_before);
    p[7] = OSSL_PARAM_construct_uint64(M2MSEC_KDF_PARAM_LIFETIME, &lifetime);
    p[8] = OSSL_PARAM_construct_end();
    return fresh_ctx(skdf, p, out);
}

static int d_helper(unsigned char *out)
{
    return m2msec_session_key_derive(NULL, &spec, out, OUTLEN);
}

static int d_hmac(unsigned char *out)
{
    size_t len = 0;

    return EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, key, sizeof(key), kpsa_msg,
                     sizeof(kpsa_msg), out, OUTLEN, &len) != NULL &&
           len == OUTLEN;
}

static int d_kpsa(unsigned char *out)
{
    OSSL_PARAM p[4];

    p[0] = OSSL_PARAM_construct_utf8_string(M2MSEC_KDF_PARAM_DERIVATION, kpsa_name, 0);
    p[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, key, sizeof(key));
    p[2] = OSSL_PARAM_construct_utf8_string(M2MSEC_KDF_PARAM_ENROLEE_ID, enrolee_id, 0);
    p[3] = OSSL_PARAM_construct_end();
    return fresh_ctx(okdf, p, out);
}

enum { K_HKDF, K_SESSION, K_HELPER, K_HMAC, K_KPSA, NK };

static const struct {
    const char *label;
    int (*one)(unsigned char *out);
    int anchor;    /* index of the fair anchor */
    double target; /* issue 13: median ratio to the anchor */
} kdfs[NK] = {
    {"HKDF-SHA256, fresh ctx (anchor)", d_hkdf, K_HKDF, 0},
    {M2MSEC_KDF_SESSION ", fresh ctx", d_session, K_HKDF, 1.5},
    {"m2msec_session_key_derive()", d_helper, K_HKDF, 1.5},
    {"HMAC-SHA256 EVP_Q_mac (anchor)", d_hmac, K_HMAC, 0},
    {M2MSEC_KDF_ONEM2M " kpsa, fresh ctx", d_kpsa, K_HMAC, 1.0},
};

/* Derivations per CPU second for about `seconds` of thread CPU time. */
static double run(int k, double seconds)
{
    unsigned char out[OUTLEN];
    unsigned long long ops = 0;
    double start = bt_cpu(), t = start, last;
    int batch = 32;

    do {
        for (int i = 0; i < batch; i++)
            if (!kdfs[k].one(out))
                die("derivation failed during timing");
        ops += (unsigned long long)batch;
        last = t;
        t = bt_cpu();
        batch = bt_batch(batch, t - last);
    } while (t - start < seconds);
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

static void check_outputs(void)
{
    unsigned char a[OUTLEN], b[OUTLEN];

    for (int k = 0; k < NK; k++)
        if (!kdfs[k].one(a)) {
            fprintf(stderr, "kdf_bench: %s failed\n", kdfs[k].label);
            die("check the provider (-p DIR)");
        }
    if (!d_session(a) || !d_helper(b) || CRYPTO_memcmp(a, b, OUTLEN) != 0)
        die("m2msec_session_key_derive() differs from " M2MSEC_KDF_SESSION);
    if (!d_kpsa(a) || !d_hmac(b) || CRYPTO_memcmp(a, b, OUTLEN) != 0)
        die("kpsa differs from HMAC-SHA256(Ke, label || Enrolee-B-ID) by EVP_Q_mac");
}

int main(int argc, char **argv)
{
    const char *dir = getenv("M2M_MODULES");
    double seconds = 0.3, rate[NK][BT_MAX_ROUNDS];
    int rounds = 7, opt, missed = 0;
    OSSL_PROVIDER *m2m, *deflt = NULL;

    while ((opt = getopt(argc, argv, "p:t:r:h")) != -1) {
        switch (opt) {
        case 'p':
            dir = optarg;
            break;
        case 't':
            seconds = parse_positive(optarg, 3600);
            break;
        case 'r':
            rounds = (int)parse_positive(optarg, BT_MAX_ROUNDS);
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
    infolen = session_info_len();
    if (infolen > sizeof(hkdf_info))
        die("info buffer too small");
    for (size_t i = 0; i < infolen; i++)
        hkdf_info[i] = (unsigned char)('a' + i % 26);
    memcpy(kpsa_msg, LABEL_KPSA, sizeof(LABEL_KPSA) - 1);
    memcpy(kpsa_msg + sizeof(LABEL_KPSA) - 1, enrolee_id, sizeof(enrolee_id) - 1);
    spec.key = key;
    spec.key_len = sizeof(key);
    spec.salt = salt;
    spec.salt_len = sizeof(salt);
    spec.purpose = purpose;
    spec.originator = originator;
    spec.receiver = receiver;
    spec.epoch = epoch;
    spec.not_before = not_before;
    spec.lifetime = lifetime;

    if ((m2m = m2msec_provider_load(NULL, dir != NULL && *dir != '\0' ? dir : NULL, &deflt)) ==
        NULL)
        die("cannot load the m2msec provider (-p DIR or M2M_MODULES)");
    hkdf = EVP_KDF_fetch(NULL, "HKDF", "provider=default");
    skdf = EVP_KDF_fetch(NULL, M2MSEC_KDF_SESSION, "provider=m2msec");
    okdf = EVP_KDF_fetch(NULL, M2MSEC_KDF_ONEM2M, "provider=m2msec");
    if (hkdf == NULL || skdf == NULL || okdf == NULL)
        die("cannot fetch the KDFs");
    check_outputs();

    printf("kdf_bench: %s; %d rounds of %.2f s thread CPU time per contender, order alternating; "
           "key 32 B, salt 16 B, HKDF info %zu B, output %d B\n",
           OpenSSL_version(OPENSSL_VERSION), rounds, seconds, infolen, OUTLEN);
    bt_load("kdf_bench", "at the start");
    for (int r = 0; r < rounds; r++)
        for (int i = 0; i < NK; i++) {
            int k = bt_order(r, i, NK);

            rate[k][r] = run(k, seconds);
        }
    printf("%-34s %12s %9s  %-27s %s\n", "", "best ops/s", "us/op", "vs anchor (min/median/max)",
           "target");
    for (int k = 0; k < NK; k++) {
        bt_stats best = bt_summary(rate[k], rounds);
        bt_stats q = bt_ratio(rate[k], rate[kdfs[k].anchor], rounds);
        char buf[64], tgt[32] = "";

        if (kdfs[k].target > 0)
            snprintf(tgt, sizeof(tgt), ">= %.2fx", kdfs[k].target);
        printf("%-34s %12.0f %9.2f  %-27s %s\n", kdfs[k].label, best.max, 1e6 / best.max,
               bt_fmt(buf, sizeof(buf), q), tgt);
    }
    for (int k = 0; k < NK; k++) {
        bt_stats q = bt_ratio(rate[k], rate[kdfs[k].anchor], rounds);

        if (kdfs[k].target > 0 && q.med < kdfs[k].target) {
            printf("MISSED: %s: median %.3fx the anchor, target >= %.2fx\n", kdfs[k].label, q.med,
                   kdfs[k].target);
            missed++;
        }
    }
    if (missed == 0)
        printf("all KDF targets met in this run\n");
    bt_load("kdf_bench", "at the end");

    EVP_KDF_free(hkdf);
    EVP_KDF_free(skdf);
    EVP_KDF_free(okdf);
    OSSL_PROVIDER_unload(m2m);
    if (deflt != NULL)
        OSSL_PROVIDER_unload(deflt);
    return 0;
}
