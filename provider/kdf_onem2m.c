/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ONEM2M-KDF: the key derivations of oneM2M TS-0003 clause 10.3, selected
 * with parameter "derivation". All are HMAC-SHA-256; the output is the
 * leading 1..32 bytes (the standard's "first half" rule for 16-byte keys).
 * docs/PROTOCOL.md section 3 gives each formula and its parameters.
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/params.h>

#include "errors.h"
#include "hmac.h"
#include "kdf_common.h"
#include "m2msec/names.h"
#include "params.h"
#include "prov.h"

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
    {M2MSEC_ONEM2M_KM, D_KM},
    {M2MSEC_ONEM2M_KPSA, D_KPSA},
    {M2MSEC_ONEM2M_USAGE_KEY, D_USAGE_KEY},
    {M2MSEC_ONEM2M_E2E_MASTER, D_E2E_MASTER},
    {M2MSEC_ONEM2M_E2E_MSG_AUTH, D_E2E_MSG_AUTH},
    {M2MSEC_ONEM2M_E2E_MSG_CONF, D_E2E_MSG_CONF},
    {M2MSEC_ONEM2M_E2E_ATT_AUTH, D_E2E_ATT_AUTH},
    {M2MSEC_ONEM2M_E2E_ATT_CONF, D_E2E_ATT_CONF},
    {M2MSEC_ONEM2M_ESPRIM_SESSION, D_ESPRIM_SESSION},
};

/* The derivation values, for error details. */
#define DERIVATION_LIST                                                                            \
    M2MSEC_ONEM2M_KM ", " M2MSEC_ONEM2M_KPSA ", " M2MSEC_ONEM2M_USAGE_KEY                          \
                     ", " M2MSEC_ONEM2M_E2E_MASTER ", " M2MSEC_ONEM2M_E2E_MSG_AUTH                 \
                     ", " M2MSEC_ONEM2M_E2E_MSG_CONF ", " M2MSEC_ONEM2M_E2E_ATT_AUTH               \
                     ", " M2MSEC_ONEM2M_E2E_ATT_CONF

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
    M2M_KDF_BASE base; /* pc, hmac, key, salt */
    derivation d;
    int have_suid;
    uint64_t suid;
    M2M_BYTES maf_id, enrolee_id, target_id, rrand, orand;
} ONEM2M_KDF;

#define NDERIVATIONS (sizeof(derivations) / sizeof(derivations[0]))

static int onem2m_set_derivation(void *vctx, const OSSL_PARAM *p)
{
    ONEM2M_KDF *c = vctx;
    const char *name = NULL;
    size_t len = 0, i;

    if (!m2m_param_utf8(p, &name, &len))
        return 0;
    for (i = 0; i < NDERIVATIONS; i++)
        if (m2m_name_is(name, len, derivations[i].name))
            break;
    if (i == NDERIVATIONS) {
        M2M_RAISE(M2MSEC_R_UNKNOWN_DERIVATION,
                  "derivation '%.*s' is unknown (use " DERIVATION_LIST
                  " or " M2MSEC_ONEM2M_ESPRIM_SESSION ")",
                  m2m_name_shown(len), name);
        return 0;
    }
    c->d = derivations[i].d;
    return 1;
}

static int onem2m_set_suid(void *vctx, const OSSL_PARAM *p)
{
    ONEM2M_KDF *c = vctx;

    if (!m2m_param_u64(p, &c->suid))
        return 0;
    c->have_suid = 1;
    return 1;
}

/*
 * Every parameter of ONEM2M-KDF, once (kdf_common.h): the order of its
 * settable table, and the order in which they are applied.
 */
#define ONEM2M_PARAMS(P, T)                                                                        \
    P(T, M2MSEC_KDF_PARAM_DERIVATION, UTF8_FN, onem2m_set_derivation)                              \
    P(T, OSSL_KDF_PARAM_KEY, SECRET, base.key)                                                     \
    P(T, OSSL_KDF_PARAM_SALT, SECRET, base.salt)                                                   \
    P(T, M2MSEC_KDF_PARAM_MAF_ID, IDENT, maf_id)                                                   \
    P(T, M2MSEC_KDF_PARAM_ENROLEE_ID, IDENT, enrolee_id)                                           \
    P(T, M2MSEC_KDF_PARAM_SUID, U64_FN, onem2m_set_suid)                                           \
    P(T, M2MSEC_KDF_PARAM_TARGET_ID, IDENT, target_id)                                             \
    P(T, M2MSEC_KDF_PARAM_RECEIVER_RAND, OCTETS, rrand)                                            \
    P(T, M2MSEC_KDF_PARAM_ORIGINATOR_RAND, OCTETS, orand)

M2M_KDF_TABLES(onem2m, ONEM2M_KDF, ONEM2M_PARAMS)

static void onem2m_defaults(void *vctx)
{
    ONEM2M_KDF *c = vctx;

    c->d = D_NONE;
    c->have_suid = 0;
    c->suid = 0;
}

static size_t onem2m_out_size(const void *vctx)
{
    (void)vctx;
    return 32; /* HMAC-SHA-256 */
}

const M2M_KDF_TYPE m2m_onem2m_kdf_type = {
    .name = M2MSEC_KDF_ONEM2M,
    .size = sizeof(ONEM2M_KDF),
    .defaults = onem2m_defaults,
    .out_size = onem2m_out_size,
    .params = onem2m_params,
    .nparams = M2M_KDF_NPARAMS(onem2m),
};

static OSSL_FUNC_kdf_newctx_fn onem2m_new;
static OSSL_FUNC_kdf_derive_fn onem2m_derive;

static void *onem2m_new(void *provctx)
{
    return m2m_kdf_new(provctx, &m2m_onem2m_kdf_type);
}

static int need(const char *derivname, const char *pname, const M2M_BYTES *b)
{
    if (b->data == NULL) {
        M2M_RAISE(M2MSEC_R_MISSING_PARAMETER, "derivation '%s' requires parameter '%s'", derivname,
                  pname);
        return 0;
    }
    return 1;
}

static int mac(ONEM2M_KDF *c, const unsigned char *key, size_t keylen, unsigned char out[32],
               const unsigned char *a, size_t alen, const unsigned char *b, size_t blen,
               const unsigned char *d, size_t dlen)
{
    M2M_HMAC *h = &c->base.hmac;

    return m2m_hmac_init(h, c->base.pc, M2M_MD_SHA256, key, keylen) &&
           m2m_hmac_update(h, a, alen) && m2m_hmac_update(h, b, blen) &&
           m2m_hmac_update(h, d, dlen) && m2m_hmac_final(h, out);
}

#define STR(s) (const unsigned char *)(s), (sizeof(s) - 1)

static int onem2m_derive(void *vctx, unsigned char *out, size_t outlen, const OSSL_PARAM params[])
{
    ONEM2M_KDF *c = vctx;
    unsigned char r[32], master[32];
    const char *dname = NULL;
    int ok = 0;

    if (!m2m_kdf_set_ctx_params(c, params))
        goto end;
    for (size_t i = 0; i < NDERIVATIONS; i++)
        if (derivations[i].d == c->d)
            dname = derivations[i].name;
    if (dname == NULL) {
        M2M_RAISE(M2MSEC_R_MISSING_PARAMETER,
                  "parameter '" M2MSEC_KDF_PARAM_DERIVATION "' is required by " M2MSEC_KDF_ONEM2M
                  " (" DERIVATION_LIST ", " M2MSEC_ONEM2M_ESPRIM_SESSION ")");
        goto end;
    }
    if (outlen == 0 || outlen > 32) {
        M2M_RAISE(M2MSEC_R_BAD_OUTPUT_LENGTH,
                  "output length %zu is outside 1..32 for " M2MSEC_KDF_ONEM2M " (HMAC-SHA-256)",
                  outlen);
        goto end;
    }
    if (c->base.key.data == NULL) {
        M2M_RAISE(M2MSEC_R_MISSING_KEY,
                  "derivation '%s' requires parameter '" OSSL_KDF_PARAM_KEY "'", dname);
        goto end;
    }
    if (!m2m_key_long_enough(&c->base.key, c->base.pc->policy.min_key_bits))
        goto end;

    switch (c->d) {
    case D_KM:
        ok = need(dname, M2MSEC_KDF_PARAM_MAF_ID, &c->maf_id) &&
             mac(c, c->base.key.data, c->base.key.len, r, STR(LABEL_KM), c->maf_id.data,
                 c->maf_id.len, NULL, 0);
        break;
    case D_KPSA:
        ok = need(dname, M2MSEC_KDF_PARAM_ENROLEE_ID, &c->enrolee_id) &&
             mac(c, c->base.key.data, c->base.key.len, r, STR(LABEL_KPSA), c->enrolee_id.data,
                 c->enrolee_id.len, NULL, 0);
        break;
    case D_USAGE_KEY: {
        char suid[21];
        int n;

        if (!c->have_suid) {
            M2M_RAISE(M2MSEC_R_MISSING_PARAMETER,
                      "derivation '%s' requires parameter '" M2MSEC_KDF_PARAM_SUID "'", dname);
            break;
        }
        n = snprintf(suid, sizeof(suid), "%llu", (unsigned long long)c->suid);
        ok = need(dname, M2MSEC_KDF_PARAM_TARGET_ID, &c->target_id) &&
             mac(c, c->base.key.data, c->base.key.len, r, STR(LABEL_USAGE), (unsigned char *)suid,
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

        ok = mac(c, c->base.salt.data, c->base.salt.len, master, c->base.key.data, c->base.key.len,
                 NULL, 0, NULL, 0);
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
        ok = need(dname, M2MSEC_KDF_PARAM_RECEIVER_RAND, &c->rrand) &&
             need(dname, M2MSEC_KDF_PARAM_ORIGINATOR_RAND, &c->orand) &&
             mac(c, c->base.key.data, c->base.key.len, r, c->rrand.data, c->rrand.len,
                 c->orand.data, c->orand.len, STR(LABEL_ESPRIM));
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
    {OSSL_FUNC_KDF_DUPCTX, (void (*)(void))m2m_kdf_dup},
    {OSSL_FUNC_KDF_FREECTX, (void (*)(void))m2m_kdf_free},
    {OSSL_FUNC_KDF_RESET, (void (*)(void))m2m_kdf_reset},
    {OSSL_FUNC_KDF_DERIVE, (void (*)(void))onem2m_derive},
    {OSSL_FUNC_KDF_SETTABLE_CTX_PARAMS, (void (*)(void))onem2m_settable_ctx_params},
    {OSSL_FUNC_KDF_SET_CTX_PARAMS, (void (*)(void))m2m_kdf_set_ctx_params},
    {OSSL_FUNC_KDF_GETTABLE_CTX_PARAMS, (void (*)(void))onem2m_gettable_ctx_params},
    {OSSL_FUNC_KDF_GET_CTX_PARAMS, (void (*)(void))m2m_kdf_get_ctx_params},
    {0, NULL},
};
