/*
 * OSCORE-KDF: RFC 8613 section 3.2.1 derivation of Sender Key, Recipient
 * Key and Common IV. output = HKDF-SHA-256(salt = Master Salt,
 * IKM = Master Secret, info, L) with
 * info = CBOR [ id : bstr, id_context : bstr / nil, alg_aead : int,
 *               type : "Key" / "IV", L : uint ].
 */
#include <string.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/params.h>

#include "errors.h"
#include "hkdf.h"
#include "params.h"
#include "prov.h"

#define P_ID "id"
#define P_ID_CONTEXT "id-context"
#define P_TYPE "type"
#define P_ALG "alg"
#define OSCORE_DEFAULT_ALG 10 /* AES-CCM-16-64-128 */
#define OSCORE_ID_MAX 4096u   /* far above any real Sender ID or ID Context */

typedef struct {
    M2M_PROVCTX *pc;
    M2M_HMAC hmac;
    M2M_BYTES key, salt, id, id_context;
    int is_iv; /* -1 unset, 0 key, 1 iv */
    int32_t alg;
} OSCORE_KDF;

static void oscore_clear(OSCORE_KDF *c)
{
    m2m_bytes_free(&c->key, 1);
    m2m_bytes_free(&c->salt, 1);
    m2m_bytes_free(&c->id, 0);
    m2m_bytes_free(&c->id_context, 0);
    c->is_iv = -1;
    c->alg = OSCORE_DEFAULT_ALG;
}

static void *oscore_new(void *provctx)
{
    OSCORE_KDF *c;

    if (!m2m_prov_usable(provctx))
        return NULL;
    c = OPENSSL_zalloc(sizeof(*c));
    if (c == NULL) {
        M2M_RAISE(M2M_R_MALLOC_FAILURE, "out of memory creating OSCORE-KDF context");
        return NULL;
    }
    c->pc = provctx;
    c->hmac.md = -1;
    oscore_clear(c);
    return c;
}

static void oscore_reset(void *vctx)
{
    oscore_clear(vctx);
}

static void oscore_free(void *vctx)
{
    OSCORE_KDF *c = vctx;

    if (c == NULL)
        return;
    oscore_clear(c);
    m2m_hmac_cleanup(&c->hmac);
    OPENSSL_clear_free(c, sizeof(*c));
}

static void *oscore_dup(void *vsrc)
{
    const OSCORE_KDF *s = vsrc;
    OSCORE_KDF *d = OPENSSL_zalloc(sizeof(*d));

    if (d == NULL)
        return NULL;
    d->pc = s->pc;
    d->is_iv = s->is_iv;
    d->alg = s->alg;
    if (!m2m_hmac_dup(&d->hmac, &s->hmac) || !m2m_bytes_dup(&d->key, &s->key, 1) ||
        !m2m_bytes_dup(&d->salt, &s->salt, 1) || !m2m_bytes_dup(&d->id, &s->id, 0) ||
        !m2m_bytes_dup(&d->id_context, &s->id_context, 0)) {
        oscore_free(d);
        return NULL;
    }
    return d;
}

static int oscore_set_ctx_params(void *vctx, const OSSL_PARAM params[])
{
    OSCORE_KDF *c = vctx;
    const OSSL_PARAM *p;

    if (params == NULL)
        return 1;
    if ((p = OSSL_PARAM_locate_const(params, OSSL_KDF_PARAM_KEY)) != NULL &&
        !m2m_param_octets(p, &c->key, 1))
        return 0;
    if ((p = OSSL_PARAM_locate_const(params, OSSL_KDF_PARAM_SALT)) != NULL &&
        !m2m_param_octets(p, &c->salt, 1))
        return 0;
    if ((p = OSSL_PARAM_locate_const(params, P_ID)) != NULL && !m2m_param_octets(p, &c->id, 0))
        return 0;
    if ((p = OSSL_PARAM_locate_const(params, P_ID_CONTEXT)) != NULL &&
        !m2m_param_octets(p, &c->id_context, 0))
        return 0;
    if ((p = OSSL_PARAM_locate_const(params, P_TYPE)) != NULL) {
        const char *t = NULL;

        if (!OSSL_PARAM_get_utf8_string_ptr(p, &t) ||
            (strcmp(t, "key") != 0 && strcmp(t, "iv") != 0)) {
            M2M_RAISE(M2M_R_INVALID_PARAMETER, "parameter 'type' must be 'key' or 'iv'");
            return 0;
        }
        c->is_iv = strcmp(t, "iv") == 0;
    }
    if ((p = OSSL_PARAM_locate_const(params, P_ALG)) != NULL && !OSSL_PARAM_get_int32(p, &c->alg)) {
        M2M_RAISE(M2M_R_INVALID_PARAMETER, "parameter 'alg' must be a COSE algorithm integer");
        return 0;
    }
    return 1;
}

static const OSSL_PARAM *oscore_settable_ctx_params(void *vctx, void *provctx)
{
    static const OSSL_PARAM table[] = {
        OSSL_PARAM_octet_string(OSSL_KDF_PARAM_KEY, NULL, 0),
        OSSL_PARAM_octet_string(OSSL_KDF_PARAM_SALT, NULL, 0),
        OSSL_PARAM_octet_string(P_ID, NULL, 0),
        OSSL_PARAM_octet_string(P_ID_CONTEXT, NULL, 0),
        OSSL_PARAM_utf8_string(P_TYPE, NULL, 0),
        OSSL_PARAM_int32(P_ALG, NULL),
        OSSL_PARAM_END,
    };
    (void)vctx;
    (void)provctx;
    return table;
}

static int oscore_get_ctx_params(void *vctx, OSSL_PARAM params[])
{
    OSSL_PARAM *p;

    (void)vctx;
    if ((p = OSSL_PARAM_locate(params, OSSL_KDF_PARAM_SIZE)) != NULL &&
        !OSSL_PARAM_set_size_t(p, m2m_hkdf_max_len(M2M_MD_SHA256)))
        return 0;
    return 1;
}

static const OSSL_PARAM *oscore_gettable_ctx_params(void *vctx, void *provctx)
{
    static const OSSL_PARAM table[] = {
        OSSL_PARAM_size_t(OSSL_KDF_PARAM_SIZE, NULL),
        OSSL_PARAM_END,
    };
    (void)vctx;
    (void)provctx;
    return table;
}

/* CBOR (RFC 8949) head: major type and argument, shortest form. */
static unsigned char *cbor_head(unsigned char *p, unsigned major, uint64_t v)
{
    int n = v < 24 ? 0 : v <= 0xFF ? 1 : v <= 0xFFFF ? 2 : v <= 0xFFFFFFFFu ? 4 : 8;

    *p++ = (unsigned char)((major << 5) | (n == 0 ? v : n == 1 ? 24 : n == 2 ? 25 : n == 4 ? 26 : 27));
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

    if (!oscore_set_ctx_params(c, params))
        goto end;
    if (c->key.data == NULL) {
        M2M_RAISE(M2M_R_MISSING_KEY, "no Master Secret: set parameter 'key'");
        goto end;
    }
    if (!m2m_key_long_enough(&c->key, c->pc->policy.min_key_bits))
        goto end;
    if (c->is_iv < 0) {
        M2M_RAISE(M2M_R_MISSING_PARAMETER, "parameter 'type' ('key' or 'iv') is required");
        goto end;
    }
    if (!c->is_iv && c->id.data == NULL) {
        M2M_RAISE(M2M_R_MISSING_PARAMETER,
                  "parameter 'id' (Sender or Recipient ID, may be empty) is required for a key");
        goto end;
    }
    if (c->is_iv && c->id.len != 0) {
        M2M_RAISE(M2M_R_INVALID_PARAMETER,
                  "parameter 'id' must be empty when deriving the Common IV (RFC 8613 3.2.1)");
        goto end;
    }
    if (c->id.len > OSCORE_ID_MAX || c->id_context.len > OSCORE_ID_MAX) {
        M2M_RAISE(M2M_R_FIELD_TOO_LONG, "'id' and 'id-context' are limited to %u bytes",
                  OSCORE_ID_MAX);
        goto end;
    }
    if (outlen == 0 || outlen > m2m_hkdf_max_len(M2M_MD_SHA256)) {
        M2M_RAISE(M2M_R_BAD_OUTPUT_LENGTH, "output length %zu is outside 1..%zu for OSCORE-KDF",
                  outlen, m2m_hkdf_max_len(M2M_MD_SHA256));
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
    ok = m2m_hkdf(&c->hmac, c->pc, M2M_MD_SHA256, c->salt.data, c->salt.len, c->key.data,
                  c->key.len, info, (size_t)(p - info), out, outlen);
end:
    if (!ok)
        OPENSSL_cleanse(out, outlen);
    return ok;
}

const OSSL_DISPATCH m2m_oscore_kdf_functions[] = {
    {OSSL_FUNC_KDF_NEWCTX, (void (*)(void))oscore_new},
    {OSSL_FUNC_KDF_DUPCTX, (void (*)(void))oscore_dup},
    {OSSL_FUNC_KDF_FREECTX, (void (*)(void))oscore_free},
    {OSSL_FUNC_KDF_RESET, (void (*)(void))oscore_reset},
    {OSSL_FUNC_KDF_DERIVE, (void (*)(void))oscore_derive},
    {OSSL_FUNC_KDF_SETTABLE_CTX_PARAMS, (void (*)(void))oscore_settable_ctx_params},
    {OSSL_FUNC_KDF_SET_CTX_PARAMS, (void (*)(void))oscore_set_ctx_params},
    {OSSL_FUNC_KDF_GETTABLE_CTX_PARAMS, (void (*)(void))oscore_gettable_ctx_params},
    {OSSL_FUNC_KDF_GET_CTX_PARAMS, (void (*)(void))oscore_get_ctx_params},
    {0, NULL},
};
