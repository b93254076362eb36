/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The provider policy caps every record key's usage: max_records,
 * max_bytes, max_failures and max_lifetime from the provider's openssl.cnf
 * section lower the algorithm's limits (never raise them), a context's
 * request above a cap is refused (never clamped), and allowed_aeads
 * refuses a cipher outright.
 *
 * Run with the argument "ccm8", the policy allows only the label
 * M2M-REC-AES-128-CCM-8 (AES-128-CCM with an 8-byte tag): the CCM cipher is
 * usable with an 8-byte tag only, and M2M-SESSION-KDF derives for that
 * label only. Listing M2M-REC-AES-128-CCM does not allow the weaker tag.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <CUnit/Basic.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/provider.h>

#include <openssl/kdf.h>

#include "m2msec/errors.h"
#include "m2msec/record.h"
#include "test_run.h"

static OSSL_LIB_CTX *libctx;
static char cnf[4096];

static uint64_t get_u64(EVP_CIPHER_CTX *c, const char *name)
{
    uint64_t v = 0;
    OSSL_PARAM p[2] = {OSSL_PARAM_construct_uint64(name, &v), OSSL_PARAM_END};

    CU_ASSERT(EVP_CIPHER_CTX_get_params(c, p));
    return v;
}

static EVP_CIPHER_CTX *keyed(const char *alg, int enc, unsigned char tag)
{
    unsigned char key[32], iv[12] = {0};
    EVP_CIPHER *ci = EVP_CIPHER_fetch(libctx, alg, NULL);
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();

    for (size_t i = 0; i < sizeof(key); i++)
        key[i] = (unsigned char)(i * 13 + tag); /* distinct key per call: the key registry */
    if (ci == NULL || c == NULL || !EVP_CipherInit_ex2(c, ci, key, iv, enc, NULL)) {
        EVP_CIPHER_CTX_free(c);
        c = NULL;
    }
    EVP_CIPHER_free(ci);
    return c;
}

static void test_caps_lower_the_limits(void)
{
    EVP_CIPHER_CTX *c = keyed(M2MSEC_REC_AES_128_GCM, 1, 1);
    uint64_t now = (uint64_t)time(NULL);

    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_EQUAL(get_u64(c, M2MSEC_REC_PARAM_MAX_RECORDS), 5);
    CU_ASSERT_EQUAL(get_u64(c, M2MSEC_REC_PARAM_MAX_BYTES), 100000);
    CU_ASSERT_EQUAL(get_u64(c, M2MSEC_REC_PARAM_MAX_FAILURES), 3);
    CU_ASSERT(get_u64(c, M2MSEC_REC_PARAM_NOT_AFTER) <= now + 600 + 1);
    EVP_CIPHER_CTX_free(c);
}

static void test_sixth_record_refused(void)
{
    EVP_CIPHER_CTX *c = keyed(M2MSEC_REC_AES_128_GCM, 1, 2);
    unsigned char pt[16] = {0}, ct[16];
    int n, m, i;

    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    for (i = 0; i < 5; i++)
        CU_ASSERT(EVP_EncryptUpdate(c, ct, &n, pt, 16) && EVP_EncryptFinal_ex(c, ct + n, &m));
    ERR_clear_error();
    CU_ASSERT_FALSE(EVP_EncryptUpdate(c, ct, &n, pt, 16));
    CU_ASSERT_EQUAL(ERR_GET_REASON(ERR_peek_last_error()), M2MSEC_R_KEY_EXPIRED);
    ERR_clear_error();
    EVP_CIPHER_CTX_free(c);
}

/* A request above a policy cap is an error (never clamped); at or below it, it holds. */
static int set_u64(EVP_CIPHER_CTX *c, const char *name, uint64_t v)
{
    OSSL_PARAM p[2] = {OSSL_PARAM_construct_uint64(name, &v), OSSL_PARAM_END};

    return EVP_CIPHER_CTX_set_params(c, p);
}

static void refused_above(EVP_CIPHER_CTX *c, const char *name, uint64_t v)
{
    unsigned long e;

    ERR_clear_error();
    CU_ASSERT_FALSE(set_u64(c, name, v));
    e = ERR_peek_last_error();
    CU_ASSERT_EQUAL(ERR_GET_REASON(e), M2MSEC_R_INVALID_PARAMETER);
    CU_ASSERT(ERR_reason_error_string(e) != NULL &&
              strcmp(ERR_reason_error_string(e), "invalid parameter") == 0);
    ERR_clear_error();
}

static void test_request_cannot_raise(void)
{
    EVP_CIPHER_CTX *c = keyed(M2MSEC_REC_CHACHA20_POLY1305, 0, 3);
    uint64_t now = (uint64_t)time(NULL);

    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    refused_above(c, M2MSEC_REC_PARAM_MAX_RECORDS, 1000);
    refused_above(c, M2MSEC_REC_PARAM_MAX_RECORDS, 6);
    refused_above(c, M2MSEC_REC_PARAM_MAX_BYTES, 100001);
    refused_above(c, M2MSEC_REC_PARAM_MAX_FAILURES, 4);
    refused_above(c, M2MSEC_REC_PARAM_NOT_AFTER, now + 600 + 5);
    CU_ASSERT_EQUAL(get_u64(c, M2MSEC_REC_PARAM_MAX_RECORDS), 5);
    CU_ASSERT_EQUAL(get_u64(c, M2MSEC_REC_PARAM_MAX_BYTES), 100000);
    CU_ASSERT_EQUAL(get_u64(c, M2MSEC_REC_PARAM_MAX_FAILURES), 3);
    CU_ASSERT(get_u64(c, M2MSEC_REC_PARAM_NOT_AFTER) <= now + 600 + 1);
    /* At the cap, and below it, the request holds. */
    CU_ASSERT(set_u64(c, M2MSEC_REC_PARAM_MAX_RECORDS, 5));
    CU_ASSERT(set_u64(c, M2MSEC_REC_PARAM_MAX_FAILURES, 2));
    CU_ASSERT(set_u64(c, M2MSEC_REC_PARAM_NOT_AFTER, now + 300));
    CU_ASSERT_EQUAL(get_u64(c, M2MSEC_REC_PARAM_MAX_RECORDS), 5);
    CU_ASSERT_EQUAL(get_u64(c, M2MSEC_REC_PARAM_MAX_FAILURES), 2);
    CU_ASSERT_EQUAL(get_u64(c, M2MSEC_REC_PARAM_NOT_AFTER), now + 300);
    EVP_CIPHER_CTX_free(c);
}

static void test_aead_not_allowed(void)
{
    EVP_CIPHER *ci = EVP_CIPHER_fetch(libctx, M2MSEC_REC_AES_128_CCM, NULL);
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    unsigned char key[16] = {9}, iv[12] = {0};

    CU_ASSERT_PTR_NOT_NULL_FATAL(ci);
    ERR_clear_error();
    CU_ASSERT_FALSE(EVP_EncryptInit_ex2(c, ci, key, iv, NULL));
    CU_ASSERT(ERR_peek_last_error() != 0);
    {
        int found = 0;
        unsigned long e;

        while ((e = ERR_get_error()) != 0)
            found |= ERR_GET_REASON(e) == M2MSEC_R_NOT_ALLOWED;
        CU_ASSERT(found);
    }
    EVP_CIPHER_CTX_free(c);
    EVP_CIPHER_free(ci);
}

/* Was M2MSEC_R_NOT_ALLOWED among the queued errors? The queue is cleared. */
static int not_allowed_queued(void)
{
    int found = 0;
    unsigned long e;

    while ((e = ERR_get_error()) != 0)
        found |= ERR_GET_REASON(e) == M2MSEC_R_NOT_ALLOWED;
    return found;
}

/* Key AES-128-CCM with a tag length; 1 if the key was taken. */
static int ccm_keyed_with_tag(size_t taglen, unsigned char tag)
{
    EVP_CIPHER *ci = EVP_CIPHER_fetch(libctx, M2MSEC_REC_AES_128_CCM, NULL);
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    unsigned char key[16], iv[12] = {0};
    OSSL_PARAM p[2] = {OSSL_PARAM_construct_size_t(OSSL_CIPHER_PARAM_AEAD_TAGLEN, &taglen),
                       OSSL_PARAM_END};
    int ok;

    for (size_t i = 0; i < sizeof(key); i++)
        key[i] = (unsigned char)(i * 7 + tag);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ci);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    /* the cipher object and the tag length first, then the key (as the provider requires) */
    CU_ASSERT_FATAL(EVP_EncryptInit_ex2(c, ci, NULL, NULL, p));
    ok = EVP_EncryptInit_ex2(c, NULL, key, iv, NULL);
    EVP_CIPHER_CTX_free(c);
    EVP_CIPHER_free(ci);
    return ok;
}

/* M2M-SESSION-KDF with the aead label @p aead; 1 if it derived. */
static int derive_for(const char *aead)
{
    EVP_KDF *kdf = EVP_KDF_fetch(libctx, "M2M-SESSION-KDF", NULL);
    EVP_KDF_CTX *k = kdf != NULL ? EVP_KDF_CTX_new(kdf) : NULL;
    unsigned char key[32] = {1}, out[28];
    uint64_t epoch = 1, lifetime = 300;
    OSSL_PARAM p[] = {
        OSSL_PARAM_construct_octet_string("key", key, sizeof(key)),
        OSSL_PARAM_construct_utf8_string("purpose", (char *)"record", 0),
        OSSL_PARAM_construct_utf8_string("originator", (char *)"dev", 0),
        OSSL_PARAM_construct_utf8_string("receiver", (char *)"gw", 0),
        OSSL_PARAM_construct_uint64("epoch", &epoch),
        OSSL_PARAM_construct_uint64("lifetime", &lifetime),
        OSSL_PARAM_construct_utf8_string("aead", (char *)aead, 0),
        OSSL_PARAM_END,
    };
    int ok;

    CU_ASSERT_PTR_NOT_NULL_FATAL(k);
    ok = EVP_KDF_derive(k, out, sizeof(out), p) > 0;
    OPENSSL_cleanse(out, sizeof(out));
    EVP_KDF_CTX_free(k);
    EVP_KDF_free(kdf);
    return ok;
}

static void test_ccm8_only(void)
{
    ERR_clear_error();
    CU_ASSERT(ccm_keyed_with_tag(8, 1));
    CU_ASSERT_FALSE(ccm_keyed_with_tag(16, 2));
    CU_ASSERT(not_allowed_queued());
    CU_ASSERT(derive_for("M2M-REC-AES-128-CCM-8"));
    CU_ASSERT_FALSE(derive_for("M2M-REC-AES-128-CCM"));
    CU_ASSERT(not_allowed_queued());
    CU_ASSERT_PTR_NULL(keyed(M2MSEC_REC_AES_128_GCM, 1, 3));
    CU_ASSERT(not_allowed_queued());
}

static void test_ccm_without_ccm8(void)
{
    ERR_clear_error();
    CU_ASSERT(ccm_keyed_with_tag(16, 4));
    CU_ASSERT_FALSE(ccm_keyed_with_tag(8, 5));
    CU_ASSERT(not_allowed_queued());
    CU_ASSERT(derive_for("M2M-REC-AES-128-CCM"));
    CU_ASSERT_FALSE(derive_for("M2M-REC-AES-128-CCM-8"));
    CU_ASSERT(not_allowed_queued());
}

int main(int argc, char **argv)
{
    const char *mods = getenv("M2M_MODULES");
    char dir[] = "/tmp/m2msec-recpol.XXXXXX";
    static const tc_test tests[] = {
        {"policy caps lower the limits", test_caps_lower_the_limits},
        {"record beyond max_records refused", test_sixth_record_refused},
        {"a request above a policy cap is an error", test_request_cannot_raise},
        {"allowed_aeads refuses other ciphers", test_aead_not_allowed},
    };
    static const tc_test ccm8_tests[] = {
        {"allowed_aeads M2M-REC-AES-128-CCM-8 allows the 8-byte tag only", test_ccm8_only},
    };
    static const tc_test ccm_tests[] = {
        {"allowed_aeads M2M-REC-AES-128-CCM does not allow the 8-byte tag", test_ccm_without_ccm8},
    };
    const char *variant = argc > 1 ? argv[1] : "";
    FILE *f;
    int rc;

    if (mods == NULL || mkdtemp(dir) == NULL)
        return 1;
    snprintf(cnf, sizeof(cnf), "%s/openssl.cnf", dir);
    f = fopen(cnf, "w");
    if (f == NULL)
        return 1;
    fprintf(f,
            "openssl_conf = openssl_init\n[openssl_init]\nproviders = provider_sect\n"
            "[provider_sect]\nm2msec = m2msec_sect\n[m2msec_sect]\nmodule = %s/m2msec.so\n"
            "activate = 1\nmax_records = 5\nmax_bytes = 100000\nmax_failures = 3\n"
            "max_lifetime = 600\nallowed_aeads = %s\n",
            mods,
            strcmp(variant, "ccm8") == 0  ? "M2M-REC-AES-128-CCM-8"
            : strcmp(variant, "ccm") == 0 ? "M2M-REC-AES-128-CCM"
                                          : "M2M-REC-AES-128-GCM, M2M-REC-CHACHA20-POLY1305");
    fclose(f);
    /* the provider checks its section in the file OpenSSL reads by default */
    setenv("OPENSSL_CONF", cnf, 1);
    libctx = OSSL_LIB_CTX_new();
    if (libctx == NULL || !OSSL_LIB_CTX_load_config(libctx, cnf) ||
        !OSSL_PROVIDER_available(libctx, "m2msec")) {
        ERR_print_errors_fp(stderr);
        return 1;
    }
    if (strcmp(variant, "ccm8") == 0)
        rc = tc_run("test_record_policy", "allowed_aeads: the CCM-8 label", NULL, NULL, ccm8_tests,
                    1);
    else if (strcmp(variant, "ccm") == 0)
        rc = tc_run("test_record_policy", "allowed_aeads: CCM without CCM-8", NULL, NULL, ccm_tests,
                    1);
    else
        rc = tc_run("test_record_policy", "record key caps from the provider policy", NULL, NULL,
                    tests, sizeof(tests) / sizeof(tests[0]));
    OSSL_LIB_CTX_free(libctx);
    unlink(cnf);
    rmdir(dir);
    return rc;
}
