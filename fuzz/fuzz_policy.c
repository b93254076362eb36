/*
 * fuzz_policy: the two readers of the device policy file (docs/POLICY.md):
 * libm2msec's m2msec_policy_load ([integrity] and [rules]) and the
 * provider's m2m_policy_load (its openssl.cnf section through the core's
 * get_params, and the [session] section of the file that section names).
 *
 * Input:
 *   u8 mode: bit 0 the fake core get_params fails ("no config section")
 *            bit 1 the 'policy' key names the policy file
 *            bit 2 'device_key_file' names the key file (else a missing file)
 *   u8 mask: which of the seven provider keys the config section has
 *            (max_lifetime, min_key_bits, replay_window, allowed_aeads,
 *            require_integrity, integrity_status, device_key_file)
 *   for each key in the mask: u8 length + value bytes
 *   u8 length + device key file content
 *   the rest: the policy file content
 * The same file goes to both readers, as on a device. Lines that would
 * make OpenSSL's config reader include other files are neutralised, so
 * that a run never reads outside its temporary directory.
 *
 * Checks, besides the sanitizers: a policy the provider accepts is within
 * the documented bounds (lifetime 1..10 years, key bits 128..8192 and a
 * multiple of 8, window 64..32768, a non-empty set of M2M-REC ciphers,
 * require_integrity only with a status path and a 16..64-byte device key);
 * m2msec_policy_action answers a known action for any path.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/params.h>

#include "fuzz_common.h"
#include "m2msec/integrity.h"
#include "policy.h"

#define NKEYS 7
static const char *const cnf_keys[NKEYS] = {
    "max_lifetime",      "min_key_bits",     "replay_window",  "allowed_aeads",
    "require_integrity", "integrity_status", "device_key_file"};

static OSSL_LIB_CTX *libctx;
static char p_policy[600], p_key[600], p_missing[600];

/* What the fake core serves. */
static struct {
    int fail;
    const char *vals[NKEYS];
    const char *policy;
} served;

static int fake_get_params(const OSSL_CORE_HANDLE *handle, OSSL_PARAM params[])
{
    (void)handle;
    if (served.fail)
        return 0;
    for (OSSL_PARAM *p = params; p->key != NULL; p++) {
        const char *v = NULL;

        for (int i = 0; i < NKEYS; i++)
            if (strcmp(p->key, cnf_keys[i]) == 0)
                v = served.vals[i];
        if (strcmp(p->key, "policy") == 0)
            v = served.policy;
        /* The core fills only the keys its config section has. */
        if (v != NULL && !OSSL_PARAM_set_utf8_ptr(p, v))
            return 0;
    }
    return 1;
}

/* Keep OpenSSL's config reader inside the temporary directory. */
static void neutralise_includes(unsigned char *s, size_t len)
{
    for (size_t i = 0; i + 7 <= len; i++)
        if (strncasecmp((const char *)s + i, "include", 7) == 0)
            s[i + 3] = 'X';
}

static char *take_string(fz_in *in)
{
    size_t got;
    const uint8_t *p = fz_bytes(in, fz_u8(in), &got);
    char *s = malloc(got + 1);

    memcpy(s, p, got);
    s[got] = 0;
    return s;
}

static void check_provider_policy(const M2M_POLICY *pol)
{
    FZ_CHECK(pol->max_lifetime >= 1 && pol->max_lifetime <= M2M_POLICY_CEIL_MAX_LIFETIME,
             "max_lifetime %llu accepted", (unsigned long long)pol->max_lifetime);
    FZ_CHECK(pol->min_key_bits >= 128 && pol->min_key_bits <= 8192 && pol->min_key_bits % 8 == 0,
             "min_key_bits %llu accepted", (unsigned long long)pol->min_key_bits);
    FZ_CHECK(pol->replay_window >= 64 && pol->replay_window <= 32768, "replay_window %llu accepted",
             (unsigned long long)pol->replay_window);
    FZ_CHECK(pol->allowed_aeads != 0 && (pol->allowed_aeads & ~0xfu) == 0,
             "allowed_aeads mask %#x accepted", pol->allowed_aeads);
    FZ_CHECK(pol->device_key_len == 0 ||
                 (pol->device_key_len >= 16 && pol->device_key_len <= M2M_POLICY_MAX_DEVICE_KEY),
             "device key of %zu bytes accepted", pol->device_key_len);
    FZ_CHECK(!pol->require_integrity || (pol->status_path != NULL && pol->device_key_len > 0),
             "require_integrity accepted without status path and device key");
    /* Exact names only: the label is bound into session keys. */
    FZ_CHECK(!m2m_policy_aead_allowed(pol, "m2m-rec-aes-128-gcm", 19) || !pol->aeads_restricted,
             "a restricted policy allows a lower-case label");
    FZ_CHECK(m2m_policy_aead_allowed(pol, "M2M-REC-AES-128-GCM", 19) ==
                 (!pol->aeads_restricted || (pol->allowed_aeads & 1)),
             "allowed_aeads and m2m_policy_aead_allowed disagree");
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    /* Loading the provider once gives its error functions a core to raise through. */
    libctx = fz_libctx_new(0);
    fz_tmppath(p_policy, sizeof(p_policy), "policy.cnf");
    fz_tmppath(p_key, sizeof(p_key), "device.key");
    fz_tmppath(p_missing, sizeof(p_missing), "missing");
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_in in = {data, size};
    uint8_t mode = fz_u8(&in), mask = fz_u8(&in);
    char *vals[NKEYS] = {NULL}, *keytext;
    unsigned char *text;
    const uint8_t *rest;
    size_t len;
    m2msec_policy *lp;
    M2M_POLICY pol;
    int ok;

    for (int i = 0; i < NKEYS; i++)
        if (mask & (1u << i))
            vals[i] = take_string(&in);
    keytext = take_string(&in);
    rest = fz_rest(&in, &len);
    text = malloc(len + 1);
    if (len > 0)
        memcpy(text, rest, len);
    neutralise_includes(text, len);
    fz_write_file(p_policy, text, len);
    fz_write_file(p_key, keytext, strlen(keytext));

    /* libm2msec: [integrity] and [rules] */
    lp = m2msec_policy_load(p_policy);
    fz_stat(lp != NULL ? "m2msec_policy_load ok" : "m2msec_policy_load refused");
    if (lp != NULL) {
        static const char *const paths[] = {"bin/app", "etc/conf",           ".hidden",
                                            "a/b/c/d", "lib/libm2msec.so.0", ""};

        for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
            m2msec_action a = m2msec_policy_action(lp, paths[i]);

            FZ_CHECK(a >= M2MSEC_ACTION_DENY && a <= M2MSEC_ACTION_REMEDIATE,
                     "policy action %d for '%s'", (int)a, paths[i]);
        }
        FZ_CHECK(m2msec_policy_action(lp, NULL) == M2MSEC_ACTION_DENY, "NULL path not denied");
        m2msec_policy_free(lp);
    }
    fz_errors("m2msec_policy_load");

    /* provider: the config section, then [session] of the file */
    memset(&served, 0, sizeof(served));
    served.fail = mode & 1;
    for (int i = 0; i < NKEYS; i++)
        served.vals[i] = vals[i];
    if (vals[6] != NULL) /* device_key_file: the key file, or one that does not exist */
        served.vals[6] = (mode & 4) ? p_key : p_missing;
    if (mode & 2)
        served.policy = p_policy;
    ok = m2m_policy_load(&pol, NULL, fake_get_params);
    fz_stat(ok ? "m2m_policy_load ok" : "m2m_policy_load refused");
    if (ok)
        check_provider_policy(&pol);
    m2m_policy_cleanup(&pol);
    fz_errors("m2m_policy_load");

    for (int i = 0; i < NKEYS; i++)
        free(vals[i]);
    free(keytext);
    free(text);
    return 0;
}
