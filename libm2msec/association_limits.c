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
#include <string.h>
#include <openssl/rand.h>

#include "association_internal.h"
#include "m2msec/m2msec.h"
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

int m2m_assoc_gate(const m2msec_association *a)
{
    unsigned char key[32], out[16];
    m2msec_session_key_spec s;
    int ok;

    memset(&s, 0, sizeof(s));
    if (RAND_bytes_ex(a->cfg.libctx, key, sizeof(key), 0) <= 0) {
        M2M_ASSOC_ERR(M2MSEC_R_ASSOC_INTEGRITY, "no random bytes for the integrity gate probe");
        return 0;
    }
    s.key = key;
    s.key_len = sizeof(key);
    s.purpose = "association-gate";
    s.originator = "m2msec";
    s.receiver = "m2msec";
    s.not_before = m2m_assoc_now();
    s.lifetime = 60;
    ERR_set_mark();
    ok = m2msec_derive_session_key(a->cfg.libctx, &s, out, sizeof(out));
    OPENSSL_cleanse(key, sizeof(key));
    OPENSSL_cleanse(out, sizeof(out));
    if (ok) {
        ERR_pop_to_mark();
        return 1;
    }
    if (ERR_GET_REASON(ERR_peek_last_error()) == M2MSEC_R_INTEGRITY_FAILED) {
        ERR_pop_to_mark();
        M2M_ASSOC_ERR(M2MSEC_R_ASSOC_INTEGRITY,
                      "device integrity not verified: the m2msec provider's require_integrity "
                      "gate refuses keys, so no association is opened");
    } else {
        ERR_pop_to_mark();
        M2M_ASSOC_ERR(M2MSEC_R_ASSOC_INTEGRITY,
                      "require_integrity is set but the m2msec provider's gate cannot be asked "
                      "(is m2msec loaded in the association's library context?)");
    }
    return 0;
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
    if (pf.session.set & (1u << M2M_SK_REQUIRE_INTEGRITY))
        cfg->require_integrity = pf.session.require_integrity;
    m2m_policy_file_clear(&pf);
    return 1;
}
