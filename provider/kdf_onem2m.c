/*
 * ONEM2M-KDF: the key derivations of oneM2M TS-0003 clause 10.3, selected
 * with parameter "derivation". All are HMAC-SHA-256; the output is the
 * leading 1..32 bytes (the standard's "first half" rule for 16-byte keys).
 * docs/PROTOCOL.md section 3 gives each formula and its parameters.
 */
#include <stdio.h>
#include <string.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/params.h>

#include "errors.h"
#include "hmac.h"
#include "params.h"
#include "prov.h"

#define P_DERIVATION "derivation"
#define P_MAF_ID "maf-id"
#define P_ENROLEE_ID "enrolee-id"
#define P_SUID "suid"
#define P_TARGET_ID "target-id"
#define P_RECEIVER_RAND "receiver-rand"
#define P_ORIGINATOR_RAND "originator-rand"

typedef enum {
    D_NONE = 0,
    D_KM,
    D_KPSA,
    D_USAGE_KEY,
    D_E2E_MASTER,
    D_E2E_MSG_AUTH, /* T(1) */
    D_E2E_MSG_CONF, /* T(2) */
    D_E2E_ATT_AUTH, /* T(3) */
    D_E2E_ATT_CONF, /* T(4) */
    D_ESPRIM_SESSION
} derivation;

static const struct {
    const char *name;
    derivation d;
} derivations[] = {
    {"km", D_KM},
    {"kpsa", D_KPSA},
    {"usage-key", D_USAGE_KEY},
    {"e2e-master", D_E2E_MASTER},
    {"e2e-msg-auth", D_E2E_MSG_AUTH},
    {"e2e-msg-conf", D_E2E_MSG_CONF},
    {"e2e-att-auth", D_E2E_ATT_AUTH},
    {"e2e-att-conf", D_E2E_ATT_CONF},
    {"esprim-session", D_ESPRIM_SESSION},
};

#define LABEL_KM "oneM2M Enrolment Key to Master Credential derivation"
#define LABEL_KPSA "oneM2M Enrolment Key to Provisioned Secure Connection Key derivation"
#define LABEL_USAGE "oneM2M Enrolment Key to Usage-Constrained Symmetric Key derivation"
#define LABEL_ESPRIM "oneM2M HMAC-SHA256 sessionESPrimKey derivation algorithm"

static const char *const e2e_labels[4] = {
    "E2E Message Authentication Key",
    "E2E Message Confidentiality Key",
    "E2E Attribute Authenticity Key",
    "E2E Attribute Confidentiality Key",
};

typedef struct {
    M2M_PROVCTX *pc;
    M2M_HMAC hmac;
    derivation d;
    int have_suid;
    uint64_t suid;
    M2M_BYTES key, salt, maf_id, enrolee_id, target_id, rrand, orand;
} ONEM2M_KDF;

static void onem2m_clear(ONEM2M_KDF *c)
{
    m2m_bytes_free(&c->key, 1);
    m2m_bytes_free(&c->salt, 1);
    m2m_bytes_free(&c->maf_id, 0);
    m2m_bytes_free(&c->enrolee_id, 0);
    m2m_bytes_free(&c->target_id, 0);
    m2m_bytes_free(&c->rrand, 0);
    m2m_bytes_free(&c->orand, 0);
    c->d = D_NONE;
    c->have_suid = 0;
    c->suid = 0;
}

static void *onem2m_new(void *provctx)
{
    ONEM2M_KDF *c;

    if (!m2m_prov_usable(provctx))
        return NULL;
    c = OPENSSL_zalloc(sizeof(*c));
    if (c == NULL) {
        M2M_RAISE(M2M_R_MALLOC_FAILURE, "out of memory creating ONEM2M-KDF context");
        return NULL;
    }
    c->pc = provctx;
    c->hmac.md = -1;
    return c;
}

static void onem2m_reset(void *vctx)
{
    onem2m_clear(vctx);
}

static void onem2m_free(void *vctx)
{
    ONEM2M_KDF *c = vctx;

    if (c == NULL)
        return;
    onem2m_clear(c);
    m2m_hmac_cleanup(&c->hmac);
    OPENSSL_clear_free(c, sizeof(*c));
}

static void *onem2m_dup(void *vsrc)
{
    const ONEM2M_KDF *s = vsrc;
    ONEM2M_KDF *d = OPENSSL_zalloc(sizeof(*d));

    if (d == NULL)
        return NULL;
    d->pc = s->pc;
    d->d = s->d;
    d->have_suid = s->have_suid;
    d->suid = s->suid;
    if (!m2m_hmac_dup(&d->hmac, &s->hmac) || !m2m_bytes_dup(&d->key, &s->key, 1) ||
        !m2m_bytes_dup(&d->salt, &s->salt, 1) || !m2m_bytes_dup(&d->maf_id, &s->maf_id, 0) ||
        !m2m_bytes_dup(&d->enrolee_id, &s->enrolee_id, 0) ||
        !m2m_bytes_dup(&d->target_id, &s->target_id, 0) ||
        !m2m_bytes_dup(&d->rrand, &s->rrand, 0) || !m2m_bytes_dup(&d->orand, &s->orand, 0)) {
        onem2m_free(d);
        return NULL;
    }
    return d;
}

static int onem2m_set_ctx_params(void *vctx, const OSSL_PARAM params[])
{
    ONEM2M_KDF *c = vctx;
    const OSSL_PARAM *p;

    if (params == NULL)
        return 1;
    if ((p = OSSL_PARAM_locate_const(params, P_DERIVATION)) != NULL) {
        const char *name = NULL;
        size_t i;

        if (!OSSL_PARAM_get_utf8_string_ptr(p, &name)) {
            M2M_RAISE(M2M_R_INVALID_PARAMETER, "parameter 'derivation' must be a string");
            return 0;
        }
        for (i = 0; i < sizeof(derivations) / sizeof(derivations[0]); i++)
            if (strcmp(name, derivations[i].name) == 0)
                break;
        if (i == sizeof(derivations) / sizeof(derivations[0])) {
            M2M_RAISE(M2M_R_UNKNOWN_DERIVATION,
                      "derivation '%s' is unknown (use km, kpsa, usage-key, e2e-master, "
                      "e2e-msg-auth, e2e-msg-conf, e2e-att-auth, e2e-att-conf or esprim-session)",
                      name);
            return 0;
        }
        c->d = derivations[i].d;
    }
    if ((p = OSSL_PARAM_locate_const(params, OSSL_KDF_PARAM_KEY)) != NULL &&
        !m2m_param_octets(p, &c->key, 1))
        return 0;
    if ((p = OSSL_PARAM_locate_const(params, OSSL_KDF_PARAM_SALT)) != NULL &&
        !m2m_param_octets(p, &c->salt, 1))
        return 0;
    if ((p = OSSL_PARAM_locate_const(params, P_MAF_ID)) != NULL &&
        !m2m_param_nfkc(p, &c->maf_id, 0))
        return 0;
    if ((p = OSSL_PARAM_locate_const(params, P_ENROLEE_ID)) != NULL &&
        !m2m_param_nfkc(p, &c->enrolee_id, 0))
        return 0;
    if ((p = OSSL_PARAM_locate_const(params, P_TARGET_ID)) != NULL &&
        !m2m_param_nfkc(p, &c->target_id, 0))
        return 0;
    if ((p = OSSL_PARAM_locate_const(params, P_SUID)) != NULL) {
        if (!m2m_param_u64(p, &c->suid))
            return 0;
        c->have_suid = 1;
    }
    if ((p = OSSL_PARAM_locate_const(params, P_RECEIVER_RAND)) != NULL &&
        !m2m_param_octets(p, &c->rrand, 0))
        return 0;
    if ((p = OSSL_PARAM_locate_const(params, P_ORIGINATOR_RAND)) != NULL &&
        !m2m_param_octets(p, &c->orand, 0))
        return 0;
    return 1;
}

static const OSSL_PARAM *onem2m_settable_ctx_params(void *vctx, void *provctx)
{
    static const OSSL_PARAM table[] = {
        OSSL_PARAM_utf8_string(P_DERIVATION, NULL, 0),
        OSSL_PARAM_octet_string(OSSL_KDF_PARAM_KEY, NULL, 0),
        OSSL_PARAM_octet_string(OSSL_KDF_PARAM_SALT, NULL, 0),
        OSSL_PARAM_utf8_string(P_MAF_ID, NULL, 0),
        OSSL_PARAM_utf8_string(P_ENROLEE_ID, NULL, 0),
        OSSL_PARAM_uint64(P_SUID, NULL),
        OSSL_PARAM_utf8_string(P_TARGET_ID, NULL, 0),
        OSSL_PARAM_octet_string(P_RECEIVER_RAND, NULL, 0),
        OSSL_PARAM_octet_string(P_ORIGINATOR_RAND, NULL, 0),
        OSSL_PARAM_END,
    };
    (void)vctx;
    (void)provctx;
    return table;
}

static int onem2m_get_ctx_params(void *vctx, OSSL_PARAM params[])
{
    OSSL_PARAM *p;

    (void)vctx;
    if ((p = OSSL_PARAM_locate(params, OSSL_KDF_PARAM_SIZE)) != NULL &&
        !OSSL_PARAM_set_size_t(p, 32))
        return 0;
    return 1;
}

static const OSSL_PARAM *onem2m_gettable_ctx_params(void *vctx, void *provctx)
{
    static const OSSL_PARAM table[] = {
        OSSL_PARAM_size_t(OSSL_KDF_PARAM_SIZE, NULL),
        OSSL_PARAM_END,
    };
    (void)vctx;
    (void)provctx;
    return table;
}

static int need(const char *derivname, const char *pname, const M2M_BYTES *b)
{
    if (b->data == NULL) {
        M2M_RAISE(M2M_R_MISSING_PARAMETER, "derivation '%s' requires parameter '%s'", derivname,
                  pname);
        return 0;
    }
    return 1;
}

static int mac(ONEM2M_KDF *c, const unsigned char *key, size_t keylen, unsigned char out[32],
               const unsigned char *a, size_t alen, const unsigned char *b, size_t blen,
               const unsigned char *d, size_t dlen)
{
    return m2m_hmac_init(&c->hmac, c->pc, M2M_MD_SHA256, key, keylen) &&
           m2m_hmac_update(&c->hmac, a, alen) && m2m_hmac_update(&c->hmac, b, blen) &&
           m2m_hmac_update(&c->hmac, d, dlen) && m2m_hmac_final(&c->hmac, out);
}

#define STR(s) (const unsigned char *)(s), (sizeof(s) - 1)

static int onem2m_derive(void *vctx, unsigned char *out, size_t outlen, const OSSL_PARAM params[])
{
    ONEM2M_KDF *c = vctx;
    unsigned char r[32], master[32];
    const char *dname = NULL;
    int ok = 0;

    if (!onem2m_set_ctx_params(c, params))
        goto end;
    for (size_t i = 0; i < sizeof(derivations) / sizeof(derivations[0]); i++)
        if (derivations[i].d == c->d)
            dname = derivations[i].name;
    if (dname == NULL) {
        M2M_RAISE(M2M_R_MISSING_PARAMETER,
                  "parameter 'derivation' is required by ONEM2M-KDF (km, kpsa, usage-key, "
                  "e2e-master, e2e-msg-auth, e2e-msg-conf, e2e-att-auth, e2e-att-conf, "
                  "esprim-session)");
        goto end;
    }
    if (outlen == 0 || outlen > 32) {
        M2M_RAISE(M2M_R_BAD_OUTPUT_LENGTH,
                  "output length %zu is outside 1..32 for ONEM2M-KDF (HMAC-SHA-256)", outlen);
        goto end;
    }
    if (c->key.data == NULL) {
        M2M_RAISE(M2M_R_MISSING_KEY, "derivation '%s' requires parameter 'key'", dname);
        goto end;
    }
    if (!m2m_key_long_enough(&c->key, c->pc->policy.min_key_bits))
        goto end;

    switch (c->d) {
    case D_KM:
        ok = need(dname, P_MAF_ID, &c->maf_id) &&
             mac(c, c->key.data, c->key.len, r, STR(LABEL_KM), c->maf_id.data, c->maf_id.len,
                 NULL, 0);
        break;
    case D_KPSA:
        ok = need(dname, P_ENROLEE_ID, &c->enrolee_id) &&
             mac(c, c->key.data, c->key.len, r, STR(LABEL_KPSA), c->enrolee_id.data,
                 c->enrolee_id.len, NULL, 0);
        break;
    case D_USAGE_KEY: {
        char suid[21];
        int n;

        if (!c->have_suid) {
            M2M_RAISE(M2M_R_MISSING_PARAMETER, "derivation '%s' requires parameter 'suid'", dname);
            break;
        }
        n = snprintf(suid, sizeof(suid), "%llu", (unsigned long long)c->suid);
        ok = need(dname, P_TARGET_ID, &c->target_id) &&
             mac(c, c->key.data, c->key.len, r, STR(LABEL_USAGE), (unsigned char *)suid,
                 (size_t)n, c->target_id.data, c->target_id.len);
        break;
    }
    case D_E2E_MASTER:
    case D_E2E_MSG_AUTH:
    case D_E2E_MSG_CONF:
    case D_E2E_ATT_AUTH:
    case D_E2E_ATT_CONF: {
        /* Ke2e_master = HMAC(Salt, Kpsa); T(n) = HMAC(master, T(n-1) || label_n || n). */
        int last = (int)(c->d - D_E2E_MASTER);

        ok = mac(c, c->salt.data, c->salt.len, master, c->key.data, c->key.len, NULL, 0, NULL, 0);
        if (last == 0)
            memcpy(r, master, 32);
        for (int n = 1; ok && n <= last; n++) {
            unsigned char octet = (unsigned char)n;

            ok = mac(c, master, 32, r, r, n == 1 ? 0 : 32, (const unsigned char *)e2e_labels[n - 1],
                     strlen(e2e_labels[n - 1]), &octet, 1);
        }
        break;
    }
    case D_ESPRIM_SESSION:
        ok = need(dname, P_RECEIVER_RAND, &c->rrand) && need(dname, P_ORIGINATOR_RAND, &c->orand) &&
             mac(c, c->key.data, c->key.len, r, c->rrand.data, c->rrand.len, c->orand.data,
                 c->orand.len, STR(LABEL_ESPRIM));
        break;
    case D_NONE:
        break;
    }
    if (ok)
        memcpy(out, r, outlen);
end:
    OPENSSL_cleanse(r, sizeof(r));
    OPENSSL_cleanse(master, sizeof(master));
    if (!ok)
        OPENSSL_cleanse(out, outlen);
    return ok;
}

const OSSL_DISPATCH m2m_onem2m_kdf_functions[] = {
    {OSSL_FUNC_KDF_NEWCTX, (void (*)(void))onem2m_new},
    {OSSL_FUNC_KDF_DUPCTX, (void (*)(void))onem2m_dup},
    {OSSL_FUNC_KDF_FREECTX, (void (*)(void))onem2m_free},
    {OSSL_FUNC_KDF_RESET, (void (*)(void))onem2m_reset},
    {OSSL_FUNC_KDF_DERIVE, (void (*)(void))onem2m_derive},
    {OSSL_FUNC_KDF_SETTABLE_CTX_PARAMS, (void (*)(void))onem2m_settable_ctx_params},
    {OSSL_FUNC_KDF_SET_CTX_PARAMS, (void (*)(void))onem2m_set_ctx_params},
    {OSSL_FUNC_KDF_GETTABLE_CTX_PARAMS, (void (*)(void))onem2m_gettable_ctx_params},
    {OSSL_FUNC_KDF_GET_CTX_PARAMS, (void (*)(void))onem2m_get_ctx_params},
    {0, NULL},
};
