/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The return convention of the public library (include/m2msec/m2msec.h,
 * DEVELOPERS.md "API conventions") on failures, through the shared
 * libm2msec.so and its public headers only: every failing call returns 0,
 * NULL or -1 AND leaves at least one error on the OpenSSL error queue.
 * Each case starts from an empty queue. The session calls' own failures
 * (wrong role, small buffers, malformed, forged, replayed) are in
 * tests/session/test_session.c; every session call of the tests checks the
 * convention through tests/common/session_call.c.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <CUnit/Basic.h>
#include <openssl/err.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/provider.h>

#include "m2msec/esprim.h"
#include "m2msec/integrity.h"
#include "m2msec/m2msec.h"
#include "m2msec/session.h"
#include "test_run.h"

static const char *mods;
static char dir[] = "/tmp/m2msec-api-errors-XXXXXX";

/* The call failed (@p failed) and queued an error; the queue is then emptied. */
static void refused(int failed, const char *what)
{
    unsigned long e = ERR_peek_error();

    CHECK(failed, "%s: did not fail", what);
    CHECK(e != 0, "%s: failed with nothing on the OpenSSL error queue", what);
    ERR_clear_error();
}

static void test_provider_and_kdf(void)
{
    OSSL_LIB_CTX *bare = OSSL_LIB_CTX_new(), *lib = OSSL_LIB_CTX_new();
    OSSL_PROVIDER *p = NULL, *d = NULL;
    m2msec_session_key_spec spec;
    unsigned char key[8] = {1, 2, 3, 4, 5, 6, 7, 8}, out[32];

    CU_ASSERT_FATAL(bare != NULL && lib != NULL);
    ERR_clear_error();
    refused(m2msec_provider_load(bare, "/nonexistent-m2msec-modules", NULL) == NULL,
            "m2msec_provider_load from a missing directory");

    memset(&spec, 0, sizeof(spec));
    spec.key = key;
    spec.key_len = sizeof(key);
    spec.purpose = "record";
    spec.originator = "CAE-a";
    spec.receiver = "CSE-b";
    spec.not_before = 1;
    refused(!m2msec_session_key_derive(bare, &spec, out, sizeof(out)),
            "m2msec_session_key_derive without the provider");
    p = m2msec_provider_load(lib, mods, &d);
    CU_ASSERT_FATAL(p != NULL);
    refused(!m2msec_session_key_derive(lib, &spec, out, sizeof(out)),
            "m2msec_session_key_derive with an 8-byte key");
    refused(!m2msec_session_key_derive(lib, NULL, out, sizeof(out)),
            "m2msec_session_key_derive without a spec");
    OSSL_PROVIDER_unload(p);
    if (d != NULL)
        OSSL_PROVIDER_unload(d);
    OSSL_LIB_CTX_free(lib);
    OSSL_LIB_CTX_free(bare);
}

/*
 * m2msec_session_key_derive() keeps the KDF it fetched from the global
 * default context (libm2msec/kdf.c); a thread that makes another context
 * its default (OSSL_LIB_CTX_set0_default) must not be served that one.
 */
static void test_kdf_cache(void)
{
    OSSL_LIB_CTX *bare = OSSL_LIB_CTX_new(), *old;
    OSSL_PROVIDER *p, *d = NULL;
    EVP_KDF *kdf;
    EVP_KDF_CTX *kctx = NULL;
    m2msec_session_key_spec spec;
    unsigned char key[32], a[32], b[32], c[32], ref[32];
    uint64_t epoch = 7, not_before = 1700000000;
    OSSL_PARAM params[] = {
        OSSL_PARAM_octet_string("key", key, sizeof(key)),
        OSSL_PARAM_utf8_string("purpose", "record", 6),
        OSSL_PARAM_utf8_string("originator", "CAE-a", 5),
        OSSL_PARAM_utf8_string("receiver", "CSE-b", 5),
        OSSL_PARAM_uint64("epoch", &epoch),
        OSSL_PARAM_uint64("not-before", &not_before),
        OSSL_PARAM_END,
    };

    CU_ASSERT_FATAL(bare != NULL);
    for (size_t i = 0; i < sizeof(key); i++)
        key[i] = (unsigned char)(i * 13 + 1);
    memset(&spec, 0, sizeof(spec));
    spec.key = key;
    spec.key_len = sizeof(key);
    spec.purpose = "record";
    spec.originator = "CAE-a";
    spec.receiver = "CSE-b";
    spec.epoch = epoch;
    spec.not_before = not_before;
    p = m2msec_provider_load(NULL, mods, &d);
    CU_ASSERT_FATAL(p != NULL);
    kdf = EVP_KDF_fetch(NULL, "M2M-SESSION-KDF", NULL);
    CU_ASSERT_FATAL(kdf != NULL);
    CHECK((kctx = EVP_KDF_CTX_new(kdf)) != NULL &&
              EVP_KDF_derive(kctx, ref, sizeof(ref), params) > 0,
          "M2M-SESSION-KDF through EVP failed");
    EVP_KDF_CTX_free(kctx);
    EVP_KDF_free(kdf);
    /* The first call fetches (and keeps) the KDF, the second uses the kept one. */
    CHECK(m2msec_session_key_derive(NULL, &spec, a, sizeof(a)), "first derivation failed");
    CHECK(m2msec_session_key_derive(NULL, &spec, b, sizeof(b)), "second derivation failed");
    CHECK(memcmp(a, ref, sizeof(ref)) == 0 && memcmp(b, ref, sizeof(ref)) == 0,
          "the helper differs from M2M-SESSION-KDF through EVP");
    old = OSSL_LIB_CTX_set0_default(bare);
    CU_ASSERT_FATAL(old != NULL);
    refused(!m2msec_session_key_derive(NULL, &spec, c, sizeof(c)),
            "m2msec_session_key_derive with a thread default context without the provider");
    refused(!m2msec_session_key_derive(bare, &spec, c, sizeof(c)),
            "m2msec_session_key_derive in a context without the provider");
    CU_ASSERT_FATAL(OSSL_LIB_CTX_set0_default(old) == bare);
    CHECK(m2msec_session_key_derive(NULL, &spec, c, sizeof(c)) && memcmp(c, ref, sizeof(ref)) == 0,
          "derivation after the default context was restored failed or differs");
    OSSL_PROVIDER_unload(p);
    if (d != NULL)
        OSSL_PROVIDER_unload(d);
    OSSL_LIB_CTX_free(bare);
}

static void test_session_and_store(void)
{
    m2msec_session_config cfg;
    m2msec_store empty, fs;
    char path[256];

    ERR_clear_error();
    refused(m2msec_session_new(NULL) == NULL, "m2msec_session_new(NULL)");
    memset(&cfg, 0, sizeof(cfg));
    refused(m2msec_session_new(&cfg) == NULL, "m2msec_session_new with an empty config");
    memset(&empty, 0, sizeof(empty));
    refused(!m2msec_store_init(&empty), "m2msec_store_init of a store without callbacks");
    refused(!m2msec_store_init(NULL), "m2msec_store_init(NULL)");
    snprintf(path, sizeof(path), "%s/no/such/dir/state", dir);
    CU_ASSERT_FATAL(m2msec_store_file(&fs, path) == 1);
    refused(!m2msec_store_init(&fs), "m2msec_store_init in a missing directory");
    m2msec_store_clear(&fs);
}

static void test_integrity(void)
{
    m2msec_manifest *m;
    m2msec_manifest_entry e;
    m2msec_manifest_verdict v = M2MSEC_MANIFEST_OK;
    m2msec_manifest *got = (m2msec_manifest *)1;
    unsigned char md[M2MSEC_DIGEST_MAX], key[32] = {0};
    size_t mdlen = sizeof(md);
    char path[256];
    int rootfd;

    ERR_clear_error();
    refused(m2msec_manifest_new("MD5", 1, 2) == NULL, "m2msec_manifest_new with MD5");
    m = m2msec_manifest_new(NULL, 1, 2);
    CU_ASSERT_FATAL(m != NULL);
    memset(&e, 0, sizeof(e));
    e.path = "../escape";
    e.digest_len = 32;
    e.size = -1;
    e.mode = -1;
    refused(!m2msec_manifest_add(m, &e), "m2msec_manifest_add of ../escape");
    refused(m2msec_manifest_parse((const unsigned char *)"garbage\n", 8) == NULL,
            "m2msec_manifest_parse of garbage");
    snprintf(path, sizeof(path), "%s/no/such/dir/manifest", dir);
    refused(!m2msec_manifest_write(m, path), "m2msec_manifest_write into a missing directory");
    refused(!m2msec_manifest_sign(NULL, path, "/nonexistent.pem", NULL),
            "m2msec_manifest_sign of a missing manifest");
    refused(!m2msec_manifest_accept(NULL, path, NULL, "/nonexistent.pem", NULL, 1, &got, &v),
            "m2msec_manifest_accept of a missing manifest");
    CHECK(v == M2MSEC_MANIFEST_ERROR && got == NULL, "verdict %s, manifest %p",
          m2msec_manifest_verdict_text(v), (void *)got);
    refused(m2msec_manifest_from_tree(NULL, "/nonexistent-m2msec-root", NULL, 1, 2, 0, 1) == NULL,
            "m2msec_manifest_from_tree of a missing root");
    refused(m2msec_tree_verify(NULL, m, "/nonexistent-m2msec-root", NULL) == NULL,
            "m2msec_tree_verify of a missing root");
    refused(!m2msec_file_hash(NULL, -1, NULL, md, &mdlen), "m2msec_file_hash of descriptor -1");
    rootfd = open(dir, O_RDONLY | O_DIRECTORY);
    CU_ASSERT_FATAL(rootfd >= 0);
    refused(m2msec_file_open_beneath(rootfd, "../etc/passwd") == -1,
            "m2msec_file_open_beneath of ../etc/passwd");
    refused(m2msec_file_open_beneath(rootfd, "missing") == -1,
            "m2msec_file_open_beneath of a missing file");
    close(rootfd);
    refused(m2msec_policy_load("/nonexistent-m2msec-policy.cnf") == NULL,
            "m2msec_policy_load of a missing file");
    refused(!m2msec_policy_apply(NULL, NULL, m, dir, NULL), "m2msec_policy_apply without a policy");
    snprintf(path, sizeof(path), "%s/status", dir);
    refused(!m2msec_integrity_status_write(NULL, path, key, 8, 1, 1, 1),
            "m2msec_integrity_status_write with an 8-byte key");
    refused(!m2msec_integrity_status_invalidate(NULL, path, NULL, 32, 1),
            "m2msec_integrity_status_invalidate without a key");
    m2msec_manifest_free(m);
}

static void test_esprim(void)
{
    m2msec_esprim_config cfg;

    ERR_clear_error();
    refused(m2msec_esprim_rand_parse("{}", 2, M2MSEC_ESPRIM_RECEIVER) == NULL,
            "m2msec_esprim_rand_parse of {}");
    refused(!m2msec_esprim_state_init("", "kid"), "m2msec_esprim_state_init of an empty path");
    memset(&cfg, 0, sizeof(cfg));
    refused(m2msec_esprim_new(&cfg) == NULL, "m2msec_esprim_new with role 0");
}

static int cleanup(void)
{
    char cmd[128];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : 1;
}

int main(void)
{
    static const tc_test tests[] = {
        {"provider and M2M-SESSION-KDF", test_provider_and_kdf},
        {"the helper's kept M2M-SESSION-KDF", test_kdf_cache},
        {"sessions and stores", test_session_and_store},
        {"manifests, verification, files, policy, status record", test_integrity},
        {"ESPrim", test_esprim},
    };

    mods = getenv("M2M_MODULES");
    if (mods == NULL || mkdtemp(dir) == NULL) {
        fprintf(stderr, "M2M_MODULES must name the built module's directory\n");
        return 2;
    }
    return tc_run("test_api_errors", "every failure returns 0/NULL/-1 with an error queued", NULL,
                  cleanup, tests, sizeof(tests) / sizeof(tests[0]));
}
