/* SPDX-License-Identifier: Apache-2.0 */
/*
 * M2M-SESSION-KDF: session keys of limited lifetime derived from an M2M
 * service-layer key. HKDF (RFC 5869) whose info is an injective,
 * length-prefixed encoding of everything the key is bound to. The exact
 * byte layout is specified in docs/PROTOCOL.md section 2.
 */
#include <stddef.h>
#include <string.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/params.h>

#include "errors.h"
#include "hkdf.h"
#include "integrity_gate.h"
#include "kdf_common.h"
#include "m2msec/names.h"
#include "params.h"
#include "prov.h"

#define SESSION_LABEL "m2msec session key v1"
#define SESSION_DEFAULT_LIFETIME 3600u
#define SESSION_DEFAULT_AEAD M2MSEC_REC_AES_128_GCM
#define FIELD_MAX 0xFFFFu

typedef struct {
    M2M_KDF_BASE base; /* pc, hmac, key, salt */
    m2m_md md;
    M2M_BYTES purpose, originator, receiver, aead, ononce, rnonce;
    uint64_t epoch, not_before, lifetime;
} SESSION_KDF;

/*
 * Every parameter of M2M-SESSION-KDF, once (kdf_common.h): the order of
 * its settable table, and the order in which they are applied.
 */
#define SESSION_PARAMS(P, T)                                                                       \
    P(T, OSSL_KDF_PARAM_KEY, SECRET, base.key)                                                     \
    P(T, OSSL_KDF_PARAM_SALT, SECRET, base.salt)                                                   \
    P(T, OSSL_KDF_PARAM_DIGEST, DIGEST, md)                                                        \
    P(T, M2MSEC_KDF_PARAM_PURPOSE, IDENT, purpose)                                                 \
    P(T, M2MSEC_KDF_PARAM_ORIGINATOR, IDENT, originator)                                           \
    P(T, M2MSEC_KDF_PARAM_RECEIVER, IDENT, receiver)                                               \
    P(T, M2MSEC_KDF_PARAM_EPOCH, U64, epoch)                                                       \
    P(T, M2MSEC_KDF_PARAM_NOT_BEFORE, U64, not_before)                                             \
    P(T, M2MSEC_KDF_PARAM_LIFETIME, U64, lifetime)                                                 \
    P(T, M2MSEC_KDF_PARAM_AEAD, IDENT, aead)                                                       \
    P(T, M2MSEC_KDF_PARAM_ORIGINATOR_NONCE, OCTETS, ononce)                                        \
    P(T, M2MSEC_KDF_PARAM_RECEIVER_NONCE, OCTETS, rnonce)

M2M_KDF_TABLES(session, SESSION_KDF, SESSION_PARAMS)

static void session_defaults(void *vctx)
{
    SESSION_KDF *c = vctx;

    c->md = M2M_MD_SHA256;
    c->epoch = 0;
    c->not_before = 0;
    c->lifetime = SESSION_DEFAULT_LIFETIME;
}

static size_t session_out_size(const void *vctx)
{
    return m2m_hkdf_max_len(((const SESSION_KDF *)vctx)->md);
}

const M2M_KDF_TYPE m2m_session_kdf_type = {
    .name = M2MSEC_KDF_SESSION,
    .size = sizeof(SESSION_KDF),
    .defaults = session_defaults,
    .out_size = session_out_size,
    .params = session_params,
    .nparams = M2M_KDF_NPARAMS(session),
};

static OSSL_FUNC_kdf_newctx_fn session_new;
static OSSL_FUNC_kdf_derive_fn session_derive;

static void *session_new(void *provctx)
{
    return m2m_kdf_new(provctx, &m2m_session_kdf_type);
}

/* Appends big-endian integers and u16-length-prefixed fields. */
typedef struct {
    unsigned char *p;
} ENC;

static void put_uint(ENC *e, uint64_t v, int bytes)
{
    for (int i = bytes - 1; i >= 0; i--)
        *e->p++ = (unsigned char)(v >> (8 * i));
}

static void put_field(ENC *e, const unsigned char *d, size_t len)
{
    put_uint(e, len, 2);
    if (len > 0)
        memcpy(e->p, d, len);
    e->p += len;
}

static int check_field(const char *name, const M2M_BYTES *b)
{
    if (b->len > FIELD_MAX) {
        M2M_RAISE(M2MSEC_R_FIELD_TOO_LONG, "parameter '%s' is %zu bytes; the maximum is %u", name,
                  b->len, FIELD_MAX);
        return 0;
    }
    return 1;
}

static int require(const char *name, const M2M_BYTES *b)
{
    if (b->data == NULL) {
        M2M_RAISE(M2MSEC_R_MISSING_PARAMETER, "parameter '%s' is required by " M2MSEC_KDF_SESSION,
                  name);
        return 0;
    }
    return check_field(name, b);
}

static int session_derive(void *vctx, unsigned char *out, size_t outlen, const OSSL_PARAM params[])
{
    SESSION_KDF *c = vctx;
    const M2M_POLICY *pol = &c->base.pc->policy;
    unsigned char stackbuf[512], *info = stackbuf;
    const M2M_BYTES *aead;
    static const M2M_BYTES default_aead = {(unsigned char *)SESSION_DEFAULT_AEAD,
                                           sizeof(SESSION_DEFAULT_AEAD) - 1};
    size_t infolen;
    ENC e;
    int ok = 0;

    if (!m2m_kdf_set_ctx_params(c, params))
        goto fail;
    if (c->base.key.data == NULL) {
        M2M_RAISE(M2MSEC_R_MISSING_KEY,
                  "no service-layer key: set parameter '" OSSL_KDF_PARAM_KEY "'");
        goto fail;
    }
    if (!m2m_key_long_enough(&c->base.key, pol->min_key_bits))
        goto fail;
    if (!require(M2MSEC_KDF_PARAM_PURPOSE, &c->purpose) ||
        !require(M2MSEC_KDF_PARAM_ORIGINATOR, &c->originator) ||
        !require(M2MSEC_KDF_PARAM_RECEIVER, &c->receiver) ||
        !check_field(M2MSEC_KDF_PARAM_ORIGINATOR_NONCE, &c->ononce) ||
        !check_field(M2MSEC_KDF_PARAM_RECEIVER_NONCE, &c->rnonce) ||
        !check_field(M2MSEC_KDF_PARAM_AEAD, &c->aead))
        goto fail;
    if (c->lifetime == 0) {
        M2M_RAISE(M2MSEC_R_INVALID_PARAMETER, "lifetime must be at least 1 s");
        goto fail;
    }
    if (c->not_before > UINT64_MAX - c->lifetime) {
        M2M_RAISE(M2MSEC_R_INVALID_PARAMETER,
                  "not-before %llu + lifetime %llu s does not fit in 64 bits",
                  (unsigned long long)c->not_before, (unsigned long long)c->lifetime);
        goto fail;
    }
    if (c->lifetime > pol->max_lifetime) {
        M2M_RAISE(M2MSEC_R_LIFETIME_EXCEEDS_POLICY, "lifetime %llu s exceeds policy maximum %llu s",
                  (unsigned long long)c->lifetime, (unsigned long long)pol->max_lifetime);
        goto fail;
    }
    if (outlen == 0 || outlen > m2m_hkdf_max_len(c->md)) {
        M2M_RAISE(M2MSEC_R_BAD_OUTPUT_LENGTH, "output length %zu is outside 1..%zu for HKDF-%s",
                  outlen, m2m_hkdf_max_len(c->md), m2m_md_name(c->md));
        goto fail;
    }
    aead = c->aead.data != NULL ? &c->aead : &default_aead;
    if (!m2m_policy_aead_allowed(pol, (const char *)aead->data, aead->len)) {
        M2M_RAISE(M2MSEC_R_NOT_ALLOWED, "aead '%.*s' is not allowed by the security policy",
                  (int)aead->len, (const char *)aead->data);
        goto fail;
    }
    if (!m2m_integrity_gate(c->base.pc))
        goto fail;

    infolen = 2 + sizeof(SESSION_LABEL) - 1 + 2 + c->purpose.len + 2 + c->originator.len + 2 +
              c->receiver.len + 8 + 8 + 8 + 2 + aead->len + 4 + 2 + c->ononce.len + 2 +
              c->rnonce.len;
    if (infolen > sizeof(stackbuf) && (info = OPENSSL_malloc(infolen)) == NULL) {
        M2M_RAISE(M2MSEC_R_MALLOC_FAILURE, "out of memory encoding info");
        goto fail;
    }
    e.p = info;
    put_field(&e, (const unsigned char *)SESSION_LABEL, sizeof(SESSION_LABEL) - 1);
    put_field(&e, c->purpose.data, c->purpose.len);
    put_field(&e, c->originator.data, c->originator.len);
    put_field(&e, c->receiver.data, c->receiver.len);
    put_uint(&e, c->epoch, 8);
    put_uint(&e, c->not_before, 8);
    put_uint(&e, c->lifetime, 8);
    put_field(&e, aead->data, aead->len);
    put_uint(&e, outlen, 4);
    put_field(&e, c->ononce.data, c->ononce.len);
    put_field(&e, c->rnonce.data, c->rnonce.len);

    ok = m2m_hkdf(&c->base.hmac, c->base.pc, c->md, c->base.salt.data, c->base.salt.len,
                  c->base.key.data, c->base.key.len, info, infolen, out, outlen);
    if (info != stackbuf)
        OPENSSL_free(info);
    return ok;
fail:
    OPENSSL_cleanse(out, outlen);
    return 0;
}

const OSSL_DISPATCH m2m_session_kdf_functions[] = {
    {OSSL_FUNC_KDF_NEWCTX, (void (*)(void))session_new},
    {OSSL_FUNC_KDF_DUPCTX, (void (*)(void))m2m_kdf_dup},
    {OSSL_FUNC_KDF_FREECTX, (void (*)(void))m2m_kdf_free},
    {OSSL_FUNC_KDF_RESET, (void (*)(void))m2m_kdf_reset},
    {OSSL_FUNC_KDF_DERIVE, (void (*)(void))session_derive},
    {OSSL_FUNC_KDF_SETTABLE_CTX_PARAMS, (void (*)(void))session_settable_ctx_params},
    {OSSL_FUNC_KDF_SET_CTX_PARAMS, (void (*)(void))m2m_kdf_set_ctx_params},
    {OSSL_FUNC_KDF_GETTABLE_CTX_PARAMS, (void (*)(void))session_gettable_ctx_params},
    {OSSL_FUNC_KDF_GET_CTX_PARAMS, (void (*)(void))m2m_kdf_get_ctx_params},
    {0, NULL},
};
