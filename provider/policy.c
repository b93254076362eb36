/* m2msec provider: security-policy caps from the provider's openssl.cnf section. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/params.h>

#include "errors.h"
#include "policy.h"
#include "replay_window.h"

void m2m_policy_defaults(M2M_POLICY *pol)
{
    pol->max_lifetime = M2M_POLICY_DEFAULT_MAX_LIFETIME;
    pol->min_key_bits = M2M_POLICY_DEFAULT_MIN_KEY_BITS;
    pol->replay_window = M2M_REPLAY_DEFAULT;
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

int m2m_policy_load(M2M_POLICY *pol, const OSSL_CORE_HANDLE *handle,
                    OSSL_FUNC_core_get_params_fn *get_params)
{
    char *max_lifetime = NULL, *min_key_bits = NULL, *replay_window = NULL;
    OSSL_PARAM p[4];

    m2m_policy_defaults(pol);
    if (get_params == NULL)
        return 1;
    p[0] = OSSL_PARAM_construct_utf8_ptr("max_lifetime", &max_lifetime, 0);
    p[1] = OSSL_PARAM_construct_utf8_ptr("min_key_bits", &min_key_bits, 0);
    p[2] = OSSL_PARAM_construct_utf8_ptr("replay_window", &replay_window, 0);
    p[3] = OSSL_PARAM_construct_end();
    if (!get_params(handle, p))
        return 1; /* no config section: defaults */
    if (max_lifetime != NULL &&
        !parse_u64("max_lifetime", max_lifetime, 1, M2M_POLICY_CEIL_MAX_LIFETIME,
                   &pol->max_lifetime))
        return 0;
    if (min_key_bits != NULL &&
        !parse_u64("min_key_bits", min_key_bits, M2M_POLICY_FLOOR_MIN_KEY_BITS, 8192,
                   &pol->min_key_bits))
        return 0;
    if (replay_window != NULL &&
        !parse_u64("replay_window", replay_window, M2M_REPLAY_MIN, M2M_REPLAY_MAX,
                   &pol->replay_window))
        return 0;
    if (pol->min_key_bits % 8 != 0) {
        M2M_RAISE(M2M_R_BAD_POLICY, "policy min_key_bits = %s is not a multiple of 8",
                  min_key_bits);
        return 0;
    }
    return 1;
}
