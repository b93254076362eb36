/* SPDX-License-Identifier: Apache-2.0 */
/*
 * m2msec provider: security policy from the provider's openssl.cnf section
 * and the [session] section of the device policy file, both through the
 * strict readers of common/ (conf_check.h, policy_file.h).
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/params.h>

#include "cipher_record.h"
#include "conf_check.h"
#include "errors.h"
#include "status_record.h"
#include "policy.h"
#include "policy_file.h"
#include "replay_window.h"

void m2m_policy_defaults(M2M_POLICY *pol)
{
    memset(pol, 0, sizeof(*pol));
    pol->max_lifetime = M2M_POLICY_DEFAULT_MAX_LIFETIME;
    pol->min_key_bits = M2M_POLICY_DEFAULT_MIN_KEY_BITS;
    pol->replay_window = M2M_REPLAY_DEFAULT;
    pol->allowed_aeads = (1u << M2M_PF_NAEADS) - 1;
    pol->max_status_age = M2M_PF_DEFAULT_MAX_STATUS_AGE;
}

void m2m_policy_cleanup(M2M_POLICY *pol)
{
    OPENSSL_cleanse(pol->device_key, sizeof(pol->device_key));
    OPENSSL_free(pol->status_path);
    OPENSSL_free(pol->state_path);
    OPENSSL_free(pol->policy_path);
    pol->status_path = pol->state_path = pol->policy_path = NULL;
}

_Static_assert(M2M_PF_REPLAY_MIN == M2M_REPLAY_MIN && M2M_PF_REPLAY_MAX == M2M_REPLAY_MAX,
               "replay window limits differ between common/ and the provider");
_Static_assert(M2M_PF_NAEADS == M2M_REC_NALGS + 1,
               "allowed_aeads names: the M2M-REC ciphers and the CCM-8 label");

/* Where a value came from, for messages. */
typedef struct {
    const M2M_CNF_SOURCE *cnf; /* the openssl.cnf section, or NULL */
    const char *policy_file;   /* the policy file, or NULL */
} ORIGIN;

static void where_of(const ORIGIN *o, const M2M_SESSION_VALUES *sv, int key, char *out, size_t cap)
{
    if (o->policy_file != NULL)
        snprintf(out, cap, "policy file %s line %ld", o->policy_file, sv->line[key]);
    else
        m2m_cnf_where(o->cnf, key, out, cap);
}

static int set_string(char **dst, const char *v)
{
    char *copy = OPENSSL_strdup(v);

    if (copy == NULL) {
        M2M_RAISE(M2MSEC_R_MALLOC_FAILURE, "out of memory reading the policy");
        return 0;
    }
    OPENSSL_free(*dst);
    *dst = copy;
    return 1;
}

/* Device key file: hex (whitespace ignored), 16..64 bytes (integrity_status.c). */
static int read_device_key(M2M_POLICY *pol, const char *path, const char *where)
{
    int r = m2m_device_key_read(path, pol->device_key, &pol->device_key_len);

    if (r != 0)
        M2M_RAISE(M2MSEC_R_BAD_POLICY, "%s: policy device_key_file %s: %s", where, path,
                  m2m_device_key_error(r));
    return r == 0;
}

/* Session values (checked by m2m_session_set) into the policy; later sources replace earlier. */
static int apply(M2M_POLICY *pol, const M2M_SESSION_VALUES *sv, const ORIGIN *o)
{
    static const struct {
        M2M_SKEY key;
        size_t off;
    } nums[] = {
        {M2M_SK_MAX_LIFETIME, offsetof(M2M_POLICY, max_lifetime)},
        {M2M_SK_MIN_KEY_BITS, offsetof(M2M_POLICY, min_key_bits)},
        {M2M_SK_REPLAY_WINDOW, offsetof(M2M_POLICY, replay_window)},
        {M2M_SK_MAX_RECORDS, offsetof(M2M_POLICY, max_records)},
        {M2M_SK_MAX_BYTES, offsetof(M2M_POLICY, max_bytes)},
        {M2M_SK_MAX_FAILURES, offsetof(M2M_POLICY, max_failures)},
        {M2M_SK_MAX_STATUS_AGE, offsetof(M2M_POLICY, max_status_age)},
    };
    char where[4096 + 300];

    for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++)
        if (sv->set & (1u << nums[i].key))
            memcpy((unsigned char *)pol + nums[i].off, &sv->num[nums[i].key], sizeof(uint64_t));
    if (sv->set & (1u << M2M_SK_ALLOWED_AEADS)) {
        /* bit i: m2m_aead_names[i] (common/), the labels as bound into session keys */
        pol->allowed_aeads = sv->aeads;
        pol->aeads_restricted = 1;
    }
    if (sv->set & (1u << M2M_SK_REQUIRE_INTEGRITY))
        pol->require_integrity = sv->require_integrity;
    if ((sv->set & (1u << M2M_SK_INTEGRITY_STATUS)) &&
        !set_string(&pol->status_path, sv->path[M2M_SK_INTEGRITY_STATUS]))
        return 0;
    if ((sv->set & (1u << M2M_SK_MANIFEST_STATE)) &&
        !set_string(&pol->state_path, sv->path[M2M_SK_MANIFEST_STATE]))
        return 0;
    if (sv->set & (1u << M2M_SK_DEVICE_KEY_FILE)) {
        where_of(o, sv, M2M_SK_DEVICE_KEY_FILE, where, sizeof(where));
        if (!read_device_key(pol, sv->path[M2M_SK_DEVICE_KEY_FILE], where))
            return 0;
    }
    return 1;
}

/* The config section: checked against the configuration file, then its values. */
static int load_section(M2M_POLICY *pol, char *const vals[M2M_CK_COUNT], const char *provname,
                        M2M_CNF_SOURCE *src)
{
    M2M_SESSION_VALUES sv;
    M2M_ERRMSG err;
    ORIGIN o = {src, NULL};
    char where[4096 + 300];
    int ok = 0;

    memset(&sv, 0, sizeof(sv));
    if (!m2m_cnf_check(provname, (const char *const *)vals, src, &err)) {
        M2M_RAISE(M2MSEC_R_BAD_POLICY, "%s", err.text);
        return 0;
    }
    for (int k = 0; k < M2M_SK_COUNT; k++) {
        if (vals[k] == NULL)
            continue;
        m2m_cnf_where(src, k, where, sizeof(where));
        if (!m2m_session_set(&sv, (M2M_SKEY)k, vals[k], where, src->line[k], &err)) {
            M2M_RAISE(M2MSEC_R_BAD_POLICY, "%s", err.text);
            goto end;
        }
    }
    if (vals[M2M_CK_POLICY] != NULL && vals[M2M_CK_POLICY][0] != '/') {
        m2m_cnf_where(src, M2M_CK_POLICY, where, sizeof(where));
        M2M_RAISE(M2MSEC_R_BAD_POLICY,
                  "%s: policy = '%s' is not an absolute path (a relative one would depend on "
                  "the application's working directory)",
                  where, vals[M2M_CK_POLICY]);
        goto end;
    }
    ok = apply(pol, &sv, &o);
end:
    m2m_session_values_clear(&sv);
    return ok;
}

/* [session] of the policy file replaces what the cnf section said. */
static int load_policy_file(M2M_POLICY *pol, const char *path)
{
    M2M_POLICY_FILE pf;
    M2M_ERRMSG err;
    ORIGIN o = {NULL, path};
    int ok;

    if (!m2m_policy_file_load(path, &pf, &err)) {
        M2M_RAISE(M2MSEC_R_BAD_POLICY, "%s", err.text);
        return 0;
    }
    ok = apply(pol, &pf.session, &o);
    m2m_policy_file_clear(&pf);
    return ok;
}

int m2m_policy_load(M2M_POLICY *pol, const OSSL_CORE_HANDLE *handle,
                    OSSL_FUNC_core_get_params_fn *get_params)
{
    char *vals[M2M_CK_COUNT] = {NULL}, *provname = NULL;
    OSSL_PARAM p[M2M_CK_COUNT + 2];
    M2M_CNF_SOURCE *src;
    int ok = 0;

    m2m_policy_defaults(pol);
    if (get_params == NULL)
        return 1;
    for (int k = 0; k < M2M_CK_COUNT; k++)
        p[k] = OSSL_PARAM_construct_utf8_ptr(m2m_cnf_keys[k], &vals[k], 0);
    p[M2M_CK_COUNT] = OSSL_PARAM_construct_utf8_ptr(OSSL_PROV_PARAM_CORE_PROV_NAME, &provname, 0);
    p[M2M_CK_COUNT + 1] = OSSL_PARAM_construct_end();
    if (!get_params(handle, p))
        return 1; /* no config section: defaults */
    src = OPENSSL_zalloc(sizeof(*src));
    if (src == NULL) {
        M2M_RAISE(M2MSEC_R_MALLOC_FAILURE, "out of memory reading the policy");
        return 0;
    }
    if (!load_section(pol, vals, provname, src))
        goto end;
    if (vals[M2M_CK_POLICY] != NULL && (!set_string(&pol->policy_path, vals[M2M_CK_POLICY]) ||
                                        !load_policy_file(pol, vals[M2M_CK_POLICY])))
        goto end;
    if (pol->require_integrity &&
        (pol->status_path == NULL || pol->device_key_len == 0 || pol->state_path == NULL)) {
        M2M_RAISE(M2MSEC_R_BAD_POLICY,
                  "policy require_integrity needs integrity_status, device_key_file and "
                  "manifest_state (missing:%s%s%s)",
                  pol->status_path == NULL ? " integrity_status" : "",
                  pol->device_key_len == 0 ? " device_key_file" : "",
                  pol->state_path == NULL ? " manifest_state" : "");
        goto end;
    }
    ok = 1;
end:
    OPENSSL_free(src);
    return ok;
}

int m2m_policy_aead_allowed(const M2M_POLICY *pol, const char *name, size_t len)
{
    if (!pol->aeads_restricted)
        return 1;
    for (size_t i = 0; i < M2M_PF_NAEADS; i++)
        if ((pol->allowed_aeads & (1u << i)) && strlen(m2m_aead_names[i]) == len &&
            memcmp(name, m2m_aead_names[i], len) == 0)
            return 1;
    return 0;
}
