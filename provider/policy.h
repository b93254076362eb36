/* SPDX-License-Identifier: Apache-2.0 */
/*
 * m2msec provider: the security policy, read once at load time from the
 * provider's openssl.cnf section (checked strictly: common/conf_check.h)
 * and, when that section names one, from the [session] section of the
 * device policy file (the same file that carries the integrity rules, read
 * by the one strict reader: common/policy_file.h). Documented in
 * docs/POLICY.md.
 */
#ifndef M2M_POLICY_H
#define M2M_POLICY_H

#include <stddef.h>
#include <stdint.h>
#include <openssl/core.h>
#include <openssl/core_dispatch.h>

#include "policy_file.h"
#include "status_record.h" /* M2M_DEVICE_KEY_MAX */

#define M2M_POLICY_DEFAULT_MAX_LIFETIME 86400u /* seconds: one day */
#define M2M_POLICY_DEFAULT_MIN_KEY_BITS 128u
/* A policy may raise the floor, never lower it; the ceiling is ten years. */
#define M2M_POLICY_FLOOR_MIN_KEY_BITS M2M_PF_MIN_KEY_BITS_FLOOR
#define M2M_POLICY_CEIL_MAX_LIFETIME M2M_PF_MAX_LIFETIME_CEIL

typedef struct m2m_policy_st {
    uint64_t max_lifetime;  /* longest session-key lifetime, seconds */
    uint64_t min_key_bits;  /* shortest accepted input (service-layer) key */
    uint64_t replay_window; /* default replay window of M2M-REC decrypting contexts */
    /* Caps on every record key's usage (0: the algorithm's published limit). */
    uint64_t max_records, max_bytes, max_failures;
    unsigned allowed_aeads;  /* bit i set: m2m_aead_names[i] (common/policy_file.h) allowed */
    int aeads_restricted;    /* allowed_aeads was set by the policy */
    int require_integrity;   /* M2M-SESSION-KDF needs a passed integrity status */
    char *status_path;       /* integrity status record (require_integrity) */
    char *state_path;        /* manifest rollback state: the newest accepted manifest version */
    uint64_t max_status_age; /* seconds a "passed" status record stays good */
    unsigned char device_key[M2M_DEVICE_KEY_MAX]; /* authenticates the status */
    size_t device_key_len;
    char *policy_path; /* the policy file, if any */
} M2M_POLICY;

void m2m_policy_defaults(M2M_POLICY *pol);
/* Wipe the device key, free strings. */
void m2m_policy_cleanup(M2M_POLICY *pol);

/*
 * Read the policy through the core's get_params (the provider's config
 * section, checked against the configuration file for unknown keys and
 * relative paths: common/conf_check.h) and the policy file it names (the
 * strict reader of common/policy_file.h). Unset keys keep their defaults;
 * an unknown key, a relative path, a malformed or out-of-range value, or a
 * policy file that is not exactly valid raises M2MSEC_R_BAD_POLICY naming the
 * file and line, and returns 0 (the provider then refuses to load: a typo
 * must never weaken security).
 */
int m2m_policy_load(M2M_POLICY *pol, const OSSL_CORE_HANDLE *handle,
                    OSSL_FUNC_core_get_params_fn *get_params);

/*
 * Is the AEAD with this exact name allowed? Exact bytes, because the name
 * is bound into the session key: "m2m-rec-aes-128-gcm" is another label.
 * Without allowed_aeads in the policy, every label is allowed.
 */
int m2m_policy_aead_allowed(const M2M_POLICY *pol, const char *name, size_t len);

#endif
