/*
 * m2msec provider: the security policy, read once from the provider's
 * openssl.cnf section at load time. Documented in docs/POLICY.md.
 */
#ifndef M2M_POLICY_H
#define M2M_POLICY_H

#include <stdint.h>
#include <openssl/core.h>
#include <openssl/core_dispatch.h>

#define M2M_POLICY_DEFAULT_MAX_LIFETIME 86400u /* seconds: one day */
#define M2M_POLICY_DEFAULT_MIN_KEY_BITS 128u
#define M2M_POLICY_FLOOR_MIN_KEY_BITS 128u /* policy may raise, never lower */
#define M2M_POLICY_CEIL_MAX_LIFETIME (10ull * 366 * 86400) /* ten years */

typedef struct m2m_policy_st {
    uint64_t max_lifetime; /* longest session-key lifetime, seconds */
    uint64_t min_key_bits; /* shortest accepted input (service-layer) key */
    uint64_t replay_window; /* default replay window of M2M-REC decrypting contexts */
} M2M_POLICY;

void m2m_policy_defaults(M2M_POLICY *pol);

/*
 * Read the policy keys from the provider's config section through the
 * core's get_params. Unset keys keep their defaults; a malformed or
 * out-of-range value raises M2M_R_BAD_POLICY and returns 0 (the provider
 * then refuses to load: a policy typo must never weaken security).
 */
int m2m_policy_load(M2M_POLICY *pol, const OSSL_CORE_HANDLE *handle,
                    OSSL_FUNC_core_get_params_fn *get_params);

#endif
