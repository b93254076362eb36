/* SPDX-License-Identifier: Apache-2.0 */
/*
 * OSCORE-KDF: RFC 8613 section 3.2.1 derivation of Sender Key, Recipient
 * Key and Common IV. output = HKDF-SHA-256(salt = Master Salt,
 * IKM = Master Secret, info, L) with
 * info = CBOR [ id : bstr, id_context : bstr / nil, alg_aead : int,
 *               type : "Key" / "IV", L : uint ].
 */
#include <stddef.h>
#include <string.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/params.h>

#include "errors.h"
#include "hkdf.h"
#include "kdf_common.h"
#include "m2msec/names.h"
#include "params.h"
#include "prov.h"

#define OSCORE_DEFAULT_ALG 10 /* AES-CCM-16-64-128 */
#define OSCORE_ID_MAX 4096u   /* far above any real Sender ID or ID Context */

typedef struct {
    M2M_KDF_BASE base; /* pc, hmac, key (Master Secret), salt (Master Salt) */
    M2M_BYTES id, id_context;
    int is_iv; /* -1 unset, 0 key, 1 iv */
    int32_t alg;
} OSCORE_KDF;

static int oscore_set_type(void *vctx, const OSSL_PARAM *p)
{
    OSCORE_KDF *c = vctx;
    const char *t = NULL;
    size_t len = 0;

    if (!m2m_param_utf8(p, &t, &len))
        return 0;
    if (!m2m_name_is(t, len, "key") && !m2m_name_is(t, len, "iv")) {
        M2M_RAISE(M2MSEC_R_INVALID_PARAMETER,
                  "parameter '" M2MSEC_KDF_PARAM_TYPE "' must be 'key' or 'iv'");
        return 0;
    }
    c->is_iv = m2m_name_is(t, len, "iv");
    return 1;
}

static int oscore_set_alg(void *vctx, const OSSL_PARAM *p)
{
    OSCORE_KDF *c = vctx;

    if (!OSSL_PARAM_get_int32(p, &c->alg)) {
        M2M_RAISE(M2MSEC_R_INVALID_PARAMETER,
                  "parameter '" M2MSEC_KDF_PARAM_ALG "' must be a COSE algorithm integer");
        return 0;
    }
    return 1;
}

/*
 * Every parameter of OSCORE-KDF, once (kdf_common.h): the order of its
 * settable table, and the order in which they are applied.
 */
#define OSCORE_PARAMS(P, T)                                                                        \
    P(T, OSSL_KDF_PARAM_KEY, SECRET, base.key)                                                     \
    P(T, OSSL_KDF_PARAM_SALT, SECRET, base.salt)                                                   \
    P(T, M2MSEC_KDF_PARAM_ID, OCTETS, id)                                                          \
    P(T, M2MSEC_KDF_PARAM_ID_CONTEXT, OCTETS, id_context)                                          \
    P(T, M2MSEC_KDF_PARAM_TYPE, UTF8_FN, oscore_set_type)                                          \
    P(T, M2MSEC_KDF_PARAM_ALG, INT32_FN, oscore_set_alg)

M2M_KDF_TABLES(oscore, OSCORE_KDF, OSCORE_PARAMS)

static void oscore_defaults(void *vctx)
{
    OSCORE_KDF *c = vctx;

    c->is_iv = -1;
    c->alg = OSCORE_DEFAULT_ALG;
}

static size_t oscore_out_size(const void *vctx)
{
    (void)vctx;
    return m2m_hkdf_max_len(M2M_MD_SHA256);
}

const M2M_KDF_TYPE m2m_oscore_kdf_type = {
    .name = M2MSEC_KDF_OSCORE,
    .size = sizeof(OSCORE_KDF),
    .defaults = oscore_defaults,
    .out_size = oscore_out_size,
    .params = oscore_params,
    .nparams = M2M_KDF_NPARAMS(oscore),
};

static OSSL_FUNC_kdf_newctx_fn oscore_new;
static OSSL_FUNC_kdf_derive_fn oscore_derive;

static void *oscore_new(void *provctx)
{
    return m2m_kdf_new(provctx, &m2m_oscore_kdf_type);
}

/* CBOR (RFC 8949) head: major type and argument, shortest form. */
static unsigned char *cbor_head(unsigned char *p, unsigned major, uint64_t v)
{
    int n = v < 24 ? 0 : v <= 0xFF ? 1 : v <= 0xFFFF ? 2 : v <= 0xFFFFFFFFu ? 4 : 8;

    *p++ = (unsigned char)((major << 5) | (n == 0   ? v
                                           : n == 1 ? 24
                                           : n == 2 ? 25
                                           : n == 4 ? 26
                                                    : 27));
    for (int i = n - 1; i >= 0; i--)
        *p++ = (unsigned char)(v >> (8 * i));
    return p;
}

static unsigned char *cbor_bstr(unsigned char *p, const M2M_BYTES *b)
{
    p = cbor_head(p, 2, b->len);
    if (b->len > 0)
        memcpy(p, b->data, b->len);
    return p + b->len;
}

static int oscore_derive(void *vctx, unsigned char *out, size_t outlen, const OSSL_PARAM params[])
{
    OSCORE_KDF *c = vctx;
    unsigned char info[2 * (OSCORE_ID_MAX + 9) + 32], *p = info;
    static const M2M_BYTES empty = {NULL, 0};
    int ok = 0;

    if (!m2m_kdf_set_ctx_params(c, params))
        goto end;
    if (c->base.key.data == NULL) {
        M2M_RAISE(M2MSEC_R_MISSING_KEY, "no Master Secret: set parameter '" OSSL_KDF_PARAM_KEY "'");
        goto end;
    }
    if (!m2m_key_long_enough(&c->base.key, c->base.pc->policy.min_key_bits))
        goto end;
    if (c->is_iv < 0) {
        M2M_RAISE(M2MSEC_R_MISSING_PARAMETER,
                  "parameter '" M2MSEC_KDF_PARAM_TYPE "' ('key' or 'iv') is required");
        goto end;
    }
    if (!c->is_iv && c->id.data == NULL) {
        M2M_RAISE(M2MSEC_R_MISSING_PARAMETER,
                  "parameter '" M2MSEC_KDF_PARAM_ID
                  "' (Sender or Recipient ID, may be empty) is required for a key");
        goto end;
    }
    if (c->is_iv && c->id.len != 0) {
        M2M_RAISE(M2MSEC_R_INVALID_PARAMETER,
                  "parameter '" M2MSEC_KDF_PARAM_ID
                  "' must be empty when deriving the Common IV (RFC 8613 3.2.1)");
        goto end;
    }
    if (c->id.len > OSCORE_ID_MAX || c->id_context.len > OSCORE_ID_MAX) {
        M2M_RAISE(M2MSEC_R_FIELD_TOO_LONG,
                  "'" M2MSEC_KDF_PARAM_ID "' and '" M2MSEC_KDF_PARAM_ID_CONTEXT
                  "' are limited to %u bytes",
                  OSCORE_ID_MAX);
        goto end;
    }
    if (outlen == 0 || outlen > m2m_hkdf_max_len(M2M_MD_SHA256)) {
        M2M_RAISE(M2MSEC_R_BAD_OUTPUT_LENGTH,
                  "output length %zu is outside 1..%zu for " M2MSEC_KDF_OSCORE, outlen,
                  m2m_hkdf_max_len(M2M_MD_SHA256));
        goto end;
    }
    p = cbor_head(p, 4, 5);
    p = cbor_bstr(p, c->is_iv ? &empty : &c->id);
    if (c->id_context.data != NULL)
        p = cbor_bstr(p, &c->id_context);
    else
        *p++ = 0xF6; /* nil */
    if (c->alg >= 0)
        p = cbor_head(p, 0, (uint64_t)c->alg);
    else
        p = cbor_head(p, 1, (uint64_t)(-1 - (int64_t)c->alg));
    if (c->is_iv) {
        p = cbor_head(p, 3, 2);
        memcpy(p, "IV", 2);
        p += 2;
    } else {
        p = cbor_head(p, 3, 3);
        memcpy(p, "Key", 3);
        p += 3;
    }
    p = cbor_head(p, 0, outlen);
    ok = m2m_hkdf(&c->base.hmac, c->base.pc, M2M_MD_SHA256, c->base.salt.data, c->base.salt.len,
                  c->base.key.data, c->base.key.len, info, (size_t)(p - info), out, outlen);
end:
    if (!ok)
        OPENSSL_cleanse(out, outlen);
    return ok;
}

const OSSL_DISPATCH m2m_oscore_kdf_functions[] = {
    {OSSL_FUNC_KDF_NEWCTX, (void (*)(void))oscore_new},
    {OSSL_FUNC_KDF_DUPCTX, (void (*)(void))m2m_kdf_dup},
    {OSSL_FUNC_KDF_FREECTX, (void (*)(void))m2m_kdf_free},
    {OSSL_FUNC_KDF_RESET, (void (*)(void))m2m_kdf_reset},
    {OSSL_FUNC_KDF_DERIVE, (void (*)(void))oscore_derive},
    {OSSL_FUNC_KDF_SETTABLE_CTX_PARAMS, (void (*)(void))oscore_settable_ctx_params},
    {OSSL_FUNC_KDF_SET_CTX_PARAMS, (void (*)(void))m2m_kdf_set_ctx_params},
    {OSSL_FUNC_KDF_GETTABLE_CTX_PARAMS, (void (*)(void))oscore_gettable_ctx_params},
    {OSSL_FUNC_KDF_GET_CTX_PARAMS, (void (*)(void))m2m_kdf_get_ctx_params},
    {0, NULL},
};
