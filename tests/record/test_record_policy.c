/*
 * The provider policy caps every record key's usage: max_records,
 * max_bytes, max_failures and max_lifetime from the provider's openssl.cnf
 * section lower the algorithm's limits (never raise them), a context's
 * request above a cap is refused (never clamped), and allowed_aeads
 * refuses a cipher outright.
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

int main(void)
{
    const char *mods = getenv("M2M_MODULES");
    char dir[] = "/tmp/m2msec-recpol.XXXXXX";
    static const tc_test tests[] = {
        {"policy caps lower the limits", test_caps_lower_the_limits},
        {"record beyond max_records refused", test_sixth_record_refused},
        {"a request above a policy cap is an error", test_request_cannot_raise},
        {"allowed_aeads refuses other ciphers", test_aead_not_allowed},
    };
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
            "max_lifetime = 600\nallowed_aeads = M2M-REC-AES-128-GCM, "
            "M2M-REC-CHACHA20-POLY1305\n",
            mods);
    fclose(f);
    /* the provider checks its section in the file OpenSSL reads by default */
    setenv("OPENSSL_CONF", cnf, 1);
    libctx = OSSL_LIB_CTX_new();
    if (libctx == NULL || !OSSL_LIB_CTX_load_config(libctx, cnf) ||
        !OSSL_PROVIDER_available(libctx, "m2msec")) {
        ERR_print_errors_fp(stderr);
        return 1;
    }
    rc = tc_run("test_record_policy", "record key caps from the provider policy", NULL, NULL, tests,
                sizeof(tests) / sizeof(tests[0]));
    OSSL_LIB_CTX_free(libctx);
    unlink(cnf);
    rmdir(dir);
    return rc;
}
