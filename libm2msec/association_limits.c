/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libm2msec: lifetimes and limits of an established association, the
 * re-establishment jitter, the integrity gate and the [association]
 * section of the policy file (m2msec/association.h).
 *
 * Design: OpenSSL has no per-connection record or byte limit, so the
 * association counts application records as they cross the record layer
 * (association_profile.c) and m2msec_association_check() compares. An
 * association ends at the first of: its PSK's not-after (a Kc or Kpsa
 * lifetime, TS-0003 8.2.2.3), max_lifetime seconds after the handshake,
 * max_records records, max_bytes bytes. The defaults (2^32 records, 2^36
 * bytes) stay far below the AEAD and CBC-HMAC usage limits of the suites.
 */
#include <errno.h>
#include <string.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "association_internal.h"
#include "cfile.h"
#include "integrity_rule.h"
#include "status_record.h"
#include "manifest_state.h"
#include "policy_file.h"

#define DEFAULT_MAX_RECORDS ((uint64_t)1 << 32)
#define DEFAULT_MAX_BYTES ((uint64_t)1 << 36)

_Static_assert(M2M_PF_ASSOC_SUITE_BITS == M2MSEC_ASSOC_ALL_SUITES,
               "common/policy_file.h association suites differ from m2msec/association.h");

int m2msec_association_check(const SSL *ssl)
{
    const m2msec_association *a = m2m_assoc_of(ssl);
    const M2M_ASSOC_CONN *c = m2m_assoc_conn_get(ssl);
    uint64_t now = m2m_assoc_now(), max_records, max_bytes;

    if (a == NULL || c == NULL || c->established == 0 || !SSL_is_init_finished(ssl)) {
        M2M_ASSOC_ERR(M2MSEC_R_ASSOC_STATE, "the SSL is not an established association");
        return 0;
    }
    if (!c->psk_used) {
        M2M_ASSOC_ERR(M2MSEC_R_ASSOC_NOT_PSK, "the session was not authenticated by the "
                                              "association's PSK");
        return 0;
    }
    if (c->not_after != 0 && now >= c->not_after) {
        M2M_ASSOC_ERR(M2MSEC_R_ASSOC_REESTABLISH,
                      "the association's key expired at %llu (now %llu): re-establish with a "
                      "fresh key",
                      (unsigned long long)c->not_after, (unsigned long long)now);
        return 0;
    }
    if (a->cfg.max_lifetime != 0 && now - c->established >= a->cfg.max_lifetime) {
        M2M_ASSOC_ERR(M2MSEC_R_ASSOC_REESTABLISH,
                      "the association is %llu s old (max_lifetime %llu): re-establish",
                      (unsigned long long)(now - c->established),
                      (unsigned long long)a->cfg.max_lifetime);
        return 0;
    }
    max_records = a->cfg.max_records != 0 ? a->cfg.max_records : DEFAULT_MAX_RECORDS;
    max_bytes = a->cfg.max_bytes != 0 ? a->cfg.max_bytes : DEFAULT_MAX_BYTES;
    if (c->records >= max_records) {
        M2M_ASSOC_ERR(M2MSEC_R_ASSOC_REESTABLISH,
                      "%llu records crossed the association (max_records %llu): re-establish",
                      (unsigned long long)c->records, (unsigned long long)max_records);
        return 0;
    }
    if (c->bytes >= max_bytes) {
        M2M_ASSOC_ERR(M2MSEC_R_ASSOC_REESTABLISH,
                      "%llu bytes crossed the association (max_bytes %llu): re-establish",
                      (unsigned long long)c->bytes, (unsigned long long)max_bytes);
        return 0;
    }
    return 1;
}

int m2msec_association_stats(const SSL *ssl, uint64_t *records, uint64_t *bytes,
                             uint64_t *established)
{
    const M2M_ASSOC_CONN *c = m2m_assoc_conn_get(ssl);

    if (c == NULL) {
        M2M_ASSOC_ERR(M2MSEC_R_ASSOC_STATE, "the SSL is not an association");
        return 0;
    }
    if (records != NULL)
        *records = c->records;
    if (bytes != NULL)
        *bytes = c->bytes;
    if (established != NULL)
        *established = c->established;
    return 1;
}

uint64_t m2msec_association_jitter_ms(uint64_t base_ms, uint64_t spread_ms)
{
    uint64_t r = 0;

    if (spread_ms == 0)
        return base_ms;
    /* modulo bias below 2^-40 for any spread under 2^24 ms (4.6 hours) */
    if (RAND_bytes((unsigned char *)&r, sizeof(r)) <= 0)
        return base_ms + spread_ms; /* no randomness: the longest delay, never zero */
    return base_ms + r % (spread_ms + 1);
}

int m2m_assoc_gate_init(m2msec_association *a)
{
    M2M_POLICY_FILE pf;
    M2M_ERRMSG err;
    const M2M_SESSION_VALUES *sv = &pf.session;

    if (a->cfg.integrity_policy == NULL) {
        M2M_ASSOC_ERR(M2MSEC_R_ASSOC_CONFIG,
                      "require_integrity needs integrity_policy (the device policy file)");
        return 0;
    }
    if (!m2m_policy_file_load(a->cfg.integrity_policy, &pf, &err)) {
        M2M_ASSOC_ERR(M2MSEC_R_ASSOC_CONFIG, "%s", err.text);
        return 0;
    }
    if (sv->path[M2M_SK_INTEGRITY_STATUS] == NULL || sv->path[M2M_SK_DEVICE_KEY_FILE] == NULL ||
        sv->path[M2M_SK_MANIFEST_STATE] == NULL) {
        M2M_ASSOC_ERR(M2MSEC_R_ASSOC_CONFIG,
                      "policy file %s: require_integrity needs integrity_status, "
                      "device_key_file and manifest_state in [session]",
                      a->cfg.integrity_policy);
        m2m_policy_file_clear(&pf);
        return 0;
    }
    a->status_path = OPENSSL_strdup(sv->path[M2M_SK_INTEGRITY_STATUS]);
    a->key_path = OPENSSL_strdup(sv->path[M2M_SK_DEVICE_KEY_FILE]);
    a->state_path = OPENSSL_strdup(sv->path[M2M_SK_MANIFEST_STATE]);
    a->max_status_age = (sv->set & (1u << M2M_SK_MAX_STATUS_AGE)) ? sv->num[M2M_SK_MAX_STATUS_AGE]
                                                                  : M2M_PF_DEFAULT_MAX_STATUS_AGE;
    m2m_policy_file_clear(&pf);
    if (a->status_path == NULL || a->key_path == NULL || a->state_path == NULL) {
        M2M_ASSOC_ERR(M2MSEC_R_ASSOC_CONFIG, "out of memory");
        return 0;
    }
    return 1;
}

#define GATE_ERR(...)                                                                              \
    M2M_ASSOC_ERR(M2MSEC_R_ASSOC_INTEGRITY,                                                        \
                  "device integrity not verified, no association: " __VA_ARGS__)

/*
 * The rule of the provider's integrity gate (docs/POLICY.md 4.6), the same
 * code: common/integrity_rule.c, on the files the policy's [session] names.
 */
int m2m_assoc_gate(const m2msec_association *a)
{
    unsigned char key[M2M_DEVICE_KEY_MAX];
    size_t keylen = 0;
    M2M_ERRMSG err;
    EVP_MAC *hmac = NULL;
    int r, ok = 0;

    if ((r = m2m_device_key_read(a->key_path, key, &keylen)) != 0) {
        GATE_ERR("device key file %s: %s", a->key_path, m2m_device_key_error(r));
        goto end;
    }
    if ((hmac = EVP_MAC_fetch(a->cfg.libctx, "HMAC", NULL)) == NULL) {
        GATE_ERR("HMAC is not available in the library context");
        goto end;
    }
    if (!m2m_integrity_rule(hmac, key, keylen, a->status_path, a->state_path, a->max_status_age,
                            m2m_assoc_now(), &err)) {
        GATE_ERR("%s", err.text);
        goto end;
    }
    ok = 1;
end:
    EVP_MAC_free(hmac);
    OPENSSL_cleanse(key, sizeof(key));
    return ok;
}

int m2msec_association_config_from_policy(m2msec_association_config *cfg, const char *path)
{
    M2M_POLICY_FILE pf;
    M2M_ERRMSG err;
    const M2M_ASSOC_VALUES *v = &pf.association;

    memset(&pf, 0, sizeof(pf));
    if (!m2m_policy_file_load(path, &pf, &err)) {
        M2M_ASSOC_ERR(M2MSEC_R_ASSOC_CONFIG, "%s", err.text);
        return 0;
    }
    if (v->set & (1u << M2M_AK_SUITES))
        cfg->suites = v->suites;
    if (v->set & (1u << M2M_AK_MIN_VERSION))
        cfg->min_version = (int)v->num[M2M_AK_MIN_VERSION];
    if (v->set & (1u << M2M_AK_FORWARD_SECRECY))
        cfg->forward_secrecy = (int)v->num[M2M_AK_FORWARD_SECRECY];
    if (v->set & (1u << M2M_AK_MAX_LIFETIME))
        cfg->max_lifetime = v->num[M2M_AK_MAX_LIFETIME];
    if (v->set & (1u << M2M_AK_MAX_RECORDS))
        cfg->max_records = v->num[M2M_AK_MAX_RECORDS];
    if (v->set & (1u << M2M_AK_MAX_BYTES))
        cfg->max_bytes = v->num[M2M_AK_MAX_BYTES];
    if (pf.session.set & (1u << M2M_SK_REQUIRE_INTEGRITY)) {
        cfg->require_integrity = pf.session.require_integrity;
        cfg->integrity_policy = path;
    }
    m2m_policy_file_clear(&pf);
    return 1;
}
