/*
 * m2msec provider: security policy from the provider's openssl.cnf section
 * and the [session] section of the device policy file.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <openssl/conf.h>
#include <openssl/crypto.h>
#include <openssl/params.h>

#include "cipher_record.h"
#include "errors.h"
#include "integrity_status.h"
#include "policy.h"
#include "replay_window.h"

void m2m_policy_defaults(M2M_POLICY *pol)
{
    memset(pol, 0, sizeof(*pol));
    pol->max_lifetime = M2M_POLICY_DEFAULT_MAX_LIFETIME;
    pol->min_key_bits = M2M_POLICY_DEFAULT_MIN_KEY_BITS;
    pol->replay_window = M2M_REPLAY_DEFAULT;
    pol->allowed_aeads = (1u << M2M_REC_NALGS) - 1;
}

void m2m_policy_cleanup(M2M_POLICY *pol)
{
    OPENSSL_cleanse(pol->device_key, sizeof(pol->device_key));
    OPENSSL_free(pol->status_path);
    OPENSSL_free(pol->policy_path);
    pol->status_path = pol->policy_path = NULL;
}

/* Strict decimal: digits only, no sign, no trailing junk, within [lo, hi]. */
static int parse_u64(const char *key, const char *text, uint64_t lo, uint64_t hi, uint64_t *out)
{
    char *end = NULL;
    unsigned long long v;

    if (text[0] < '0' || text[0] > '9')
        goto bad;
    errno = 0;
    v = strtoull(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0')
        goto bad;
    if (v < lo || v > hi) {
        M2M_RAISE(M2M_R_BAD_POLICY, "policy %s = %s is out of range [%llu, %llu]", key, text,
                  (unsigned long long)lo, (unsigned long long)hi);
        return 0;
    }
    *out = v;
    return 1;
bad:
    M2M_RAISE(M2M_R_BAD_POLICY, "policy %s = '%s' is not a decimal number", key, text);
    return 0;
}

static int parse_bool(const char *key, const char *text, int *out)
{
    if (strcasecmp(text, "yes") == 0 || strcasecmp(text, "true") == 0 || strcmp(text, "1") == 0)
        *out = 1;
    else if (strcasecmp(text, "no") == 0 || strcasecmp(text, "false") == 0 ||
             strcmp(text, "0") == 0)
        *out = 0;
    else {
        M2M_RAISE(M2M_R_BAD_POLICY, "policy %s = '%s' is not yes or no", key, text);
        return 0;
    }
    return 1;
}

static int parse_aeads(const char *text, unsigned *mask)
{
    char buf[512], *save = NULL, *tok;
    size_t len = strlen(text);

    if (len >= sizeof(buf)) {
        M2M_RAISE(M2M_R_BAD_POLICY, "policy allowed_aeads is too long");
        return 0;
    }
    memcpy(buf, text, len + 1);
    *mask = 0;
    for (tok = strtok_r(buf, ", \t", &save); tok != NULL; tok = strtok_r(NULL, ", \t", &save)) {
        size_t i;

        for (i = 0; i < M2M_REC_NALGS; i++)
            if (strcasecmp(tok, m2m_rec_algs[i].name) == 0)
                break;
        if (i == M2M_REC_NALGS) {
            M2M_RAISE(M2M_R_BAD_POLICY,
                      "policy allowed_aeads names '%s', which is not an M2M-REC cipher", tok);
            return 0;
        }
        *mask |= 1u << i;
    }
    if (*mask == 0) {
        M2M_RAISE(M2M_R_BAD_POLICY, "policy allowed_aeads is empty");
        return 0;
    }
    return 1;
}

_Static_assert(M2M_POLICY_MAX_DEVICE_KEY == M2M_DEVICE_KEY_MAX, "device key sizes differ");

/* Device key file: hex (whitespace ignored), 16..64 bytes (integrity_status.c). */
static int read_device_key(M2M_POLICY *pol, const char *path)
{
    int r = m2m_device_key_read(path, pol->device_key, &pol->device_key_len);

    if (r != 0)
        M2M_RAISE(M2M_R_BAD_POLICY, "policy device_key_file %s: %s", path, m2m_device_key_error(r));
    return r == 0;
}

static int set_string(char **dst, const char *v)
{
    OPENSSL_free(*dst);
    *dst = OPENSSL_strdup(v);
    return *dst != NULL;
}

/* One policy key = value, from either source. Unknown keys are the caller's business. */
static int apply(M2M_POLICY *pol, const char *key, const char *v)
{
    if (strcmp(key, "max_lifetime") == 0)
        return parse_u64(key, v, 1, M2M_POLICY_CEIL_MAX_LIFETIME, &pol->max_lifetime);
    if (strcmp(key, "min_key_bits") == 0) {
        if (!parse_u64(key, v, M2M_POLICY_FLOOR_MIN_KEY_BITS, 8192, &pol->min_key_bits))
            return 0;
        if (pol->min_key_bits % 8 != 0) {
            M2M_RAISE(M2M_R_BAD_POLICY, "policy min_key_bits = %s is not a multiple of 8", v);
            return 0;
        }
        return 1;
    }
    if (strcmp(key, "replay_window") == 0)
        return parse_u64(key, v, M2M_REPLAY_MIN, M2M_REPLAY_MAX, &pol->replay_window);
    if (strcmp(key, "max_records") == 0)
        return parse_u64(key, v, 1, UINT64_MAX, &pol->max_records);
    if (strcmp(key, "max_bytes") == 0)
        return parse_u64(key, v, 1, UINT64_MAX, &pol->max_bytes);
    if (strcmp(key, "max_failures") == 0)
        return parse_u64(key, v, 1, UINT64_MAX, &pol->max_failures);
    if (strcmp(key, "allowed_aeads") == 0) {
        pol->aeads_restricted = 1;
        return parse_aeads(v, &pol->allowed_aeads);
    }
    if (strcmp(key, "require_integrity") == 0)
        return parse_bool(key, v, &pol->require_integrity);
    if (strcmp(key, "integrity_status") == 0)
        return set_string(&pol->status_path, v);
    if (strcmp(key, "device_key_file") == 0)
        return read_device_key(pol, v);
    return -1;
}

static const char *const cnf_keys[] = {
    "max_lifetime", "min_key_bits",  "replay_window",     "max_records",      "max_bytes",
    "max_failures", "allowed_aeads", "require_integrity", "integrity_status", "device_key_file"};
#define NKEYS (sizeof(cnf_keys) / sizeof(cnf_keys[0]))

/* [session] of the policy file replaces what the cnf section said. */
static int load_policy_file(M2M_POLICY *pol, const char *path)
{
    CONF *conf = NCONF_new(NULL);
    long line = -1;
    STACK_OF(CONF_VALUE) * sect;
    int ok = 0;

    if (conf == NULL) {
        M2M_RAISE(M2M_R_MALLOC_FAILURE, "out of memory reading policy %s", path);
        return 0;
    }
    if (NCONF_load(conf, path, &line) <= 0) {
        if (line > 0)
            M2M_RAISE(M2M_R_BAD_POLICY, "policy file %s: syntax error at line %ld", path, line);
        else
            M2M_RAISE(M2M_R_BAD_POLICY, "policy file %s cannot be read", path);
        goto end;
    }
    sect = NCONF_get_section(conf, "session");
    for (int i = 0; sect != NULL && i < sk_CONF_VALUE_num(sect); i++) {
        const CONF_VALUE *cv = sk_CONF_VALUE_value(sect, i);
        int r = apply(pol, cv->name, cv->value);

        if (r == 0)
            goto end;
        if (r < 0) {
            M2M_RAISE(M2M_R_BAD_POLICY, "policy file %s: unknown key '%s' in [session]", path,
                      cv->name);
            goto end;
        }
    }
    ok = 1;
end:
    NCONF_free(conf);
    return ok;
}

int m2m_policy_load(M2M_POLICY *pol, const OSSL_CORE_HANDLE *handle,
                    OSSL_FUNC_core_get_params_fn *get_params)
{
    char *vals[NKEYS] = {NULL}, *policy = NULL;
    OSSL_PARAM p[NKEYS + 2];

    m2m_policy_defaults(pol);
    if (get_params == NULL)
        return 1;
    for (size_t i = 0; i < NKEYS; i++)
        p[i] = OSSL_PARAM_construct_utf8_ptr(cnf_keys[i], &vals[i], 0);
    p[NKEYS] = OSSL_PARAM_construct_utf8_ptr("policy", &policy, 0);
    p[NKEYS + 1] = OSSL_PARAM_construct_end();
    if (!get_params(handle, p))
        return 1; /* no config section: defaults */
    for (size_t i = 0; i < NKEYS; i++)
        if (vals[i] != NULL && apply(pol, cnf_keys[i], vals[i]) != 1)
            return 0;
    if (policy != NULL &&
        (!set_string(&pol->policy_path, policy) || !load_policy_file(pol, policy)))
        return 0;
    if (pol->require_integrity && (pol->status_path == NULL || pol->device_key_len == 0)) {
        M2M_RAISE(M2M_R_BAD_POLICY,
                  "policy require_integrity needs integrity_status and device_key_file");
        return 0;
    }
    return 1;
}

int m2m_policy_aead_allowed(const M2M_POLICY *pol, const char *name, size_t len)
{
    if (!pol->aeads_restricted)
        return 1;
    for (size_t i = 0; i < M2M_REC_NALGS; i++)
        if ((pol->allowed_aeads & (1u << i)) && strlen(m2m_rec_algs[i].name) == len &&
            memcmp(name, m2m_rec_algs[i].name, len) == 0)
            return 1;
    return 0;
}
