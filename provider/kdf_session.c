/*
 * M2M-SESSION-KDF: session keys of limited lifetime derived from an M2M
 * service-layer key. HKDF (RFC 5869) whose info is an injective,
 * length-prefixed encoding of everything the key is bound to. The exact
 * byte layout is specified in docs/PROTOCOL.md section 2.
 */
#include <string.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/params.h>

#include "errors.h"
#include "hkdf.h"
#include "integrity_gate.h"
#include "params.h"
#include "prov.h"

#define SESSION_LABEL "m2msec session key v1"
#define SESSION_DEFAULT_LIFETIME 3600u
#define SESSION_DEFAULT_AEAD "M2M-REC-AES-128-GCM"
#define FIELD_MAX 0xFFFFu

/* Parameter names (also listed in docs/PROTOCOL.md and the man page). */
#define P_PURPOSE "purpose"
#define P_ORIGINATOR "originator"
#define P_RECEIVER "receiver"
#define P_EPOCH "epoch"
#define P_NOT_BEFORE "not-before"
#define P_LIFETIME "lifetime"
#define P_AEAD "aead"
#define P_ONONCE "originator-nonce"
#define P_RNONCE "receiver-nonce"

typedef struct {
    M2M_PROVCTX *pc;
    M2M_HMAC hmac;
    m2m_md md;
    M2M_BYTES key, salt, purpose, originator, receiver, aead, ononce, rnonce;
    uint64_t epoch, not_before, lifetime;
} SESSION_KDF;

static void session_reset(void *vctx);

static void *session_new(void *provctx)
{
    SESSION_KDF *c;

    if (!m2m_prov_usable(provctx))
        return NULL;
    c = OPENSSL_zalloc(sizeof(*c));
    if (c == NULL) {
        M2M_RAISE(M2M_R_MALLOC_FAILURE, "out of memory creating M2M-SESSION-KDF context");
        return NULL;
    }
    c->pc = provctx;
    c->hmac.md = -1;
    session_reset(c);
    return c;
}

static void session_clear_params(SESSION_KDF *c)
{
    m2m_bytes_free(&c->key, 1);
    m2m_bytes_free(&c->salt, 1);
    m2m_bytes_free(&c->purpose, 0);
    m2m_bytes_free(&c->originator, 0);
    m2m_bytes_free(&c->receiver, 0);
    m2m_bytes_free(&c->aead, 0);
    m2m_bytes_free(&c->ononce, 0);
    m2m_bytes_free(&c->rnonce, 0);
}

static void session_reset(void *vctx)
{
    SESSION_KDF *c = vctx;

    session_clear_params(c);
    c->md = M2M_MD_SHA256;
    c->epoch = 0;
    c->not_before = 0;
    c->lifetime = SESSION_DEFAULT_LIFETIME;
}

static void session_free(void *vctx)
{
    SESSION_KDF *c = vctx;

    if (c == NULL)
        return;
    session_clear_params(c);
    m2m_hmac_cleanup(&c->hmac);
    OPENSSL_clear_free(c, sizeof(*c));
}

static void *session_dup(void *vsrc)
{
    const SESSION_KDF *s = vsrc;
    SESSION_KDF *d = OPENSSL_zalloc(sizeof(*d));

    if (d == NULL)
        return NULL;
    *d = *s;
    /* Nothing in d may alias s if a copy below fails and d is freed. */
    d->hmac.ctx = NULL;
    d->key = d->salt = d->purpose = d->originator = (M2M_BYTES){NULL, 0};
    d->receiver = d->aead = d->ononce = d->rnonce = (M2M_BYTES){NULL, 0};
    if (!m2m_hmac_dup(&d->hmac, &s->hmac) || !m2m_bytes_dup(&d->key, &s->key, 1) ||
        !m2m_bytes_dup(&d->salt, &s->salt, 1) || !m2m_bytes_dup(&d->purpose, &s->purpose, 0) ||
        !m2m_bytes_dup(&d->originator, &s->originator, 0) ||
        !m2m_bytes_dup(&d->receiver, &s->receiver, 0) || !m2m_bytes_dup(&d->aead, &s->aead, 0) ||
        !m2m_bytes_dup(&d->ononce, &s->ononce, 0) || !m2m_bytes_dup(&d->rnonce, &s->rnonce, 0)) {
        session_free(d);
        return NULL;
    }
    return d;
}

static int session_set_ctx_params(void *vctx, const OSSL_PARAM params[])
{
    SESSION_KDF *c = vctx;
    const OSSL_PARAM *p;

    if (params == NULL)
        return 1;
    if ((p = OSSL_PARAM_locate_const(params, OSSL_KDF_PARAM_DIGEST)) != NULL) {
        const char *name = NULL;
        int md;

        if (!OSSL_PARAM_get_utf8_string_ptr(p, &name)) {
            M2M_RAISE(M2M_R_INVALID_PARAMETER, "parameter 'digest' must be a string");
            return 0;
        }
        if ((md = m2m_md_from_name(name)) < 0) {
            M2M_RAISE(M2M_R_UNKNOWN_DIGEST,
                      "digest '%s' is not supported (use SHA2-256, SHA2-384 or SHA2-512)", name);
            return 0;
        }
        c->md = (m2m_md)md;
    }
    if ((p = OSSL_PARAM_locate_const(params, OSSL_KDF_PARAM_KEY)) != NULL &&
        !m2m_param_octets(p, &c->key, 1))
        return 0;
    if ((p = OSSL_PARAM_locate_const(params, OSSL_KDF_PARAM_SALT)) != NULL &&
        !m2m_param_octets(p, &c->salt, 1))
        return 0;
    if ((p = OSSL_PARAM_locate_const(params, P_PURPOSE)) != NULL &&
        !m2m_param_nfkc(p, &c->purpose, 0))
        return 0;
    if ((p = OSSL_PARAM_locate_const(params, P_ORIGINATOR)) != NULL &&
        !m2m_param_nfkc(p, &c->originator, 0))
        return 0;
    if ((p = OSSL_PARAM_locate_const(params, P_RECEIVER)) != NULL &&
        !m2m_param_nfkc(p, &c->receiver, 0))
        return 0;
    if ((p = OSSL_PARAM_locate_const(params, P_AEAD)) != NULL && !m2m_param_nfkc(p, &c->aead, 0))
        return 0;
    if ((p = OSSL_PARAM_locate_const(params, P_ONONCE)) != NULL &&
        !m2m_param_octets(p, &c->ononce, 0))
        return 0;
    if ((p = OSSL_PARAM_locate_const(params, P_RNONCE)) != NULL &&
        !m2m_param_octets(p, &c->rnonce, 0))
        return 0;
    if ((p = OSSL_PARAM_locate_const(params, P_EPOCH)) != NULL && !m2m_param_u64(p, &c->epoch))
        return 0;
    if ((p = OSSL_PARAM_locate_const(params, P_NOT_BEFORE)) != NULL &&
        !m2m_param_u64(p, &c->not_before))
        return 0;
    if ((p = OSSL_PARAM_locate_const(params, P_LIFETIME)) != NULL &&
        !m2m_param_u64(p, &c->lifetime))
        return 0;
    return 1;
}

static const OSSL_PARAM *session_settable_ctx_params(void *vctx, void *provctx)
{
    static const OSSL_PARAM table[] = {
        OSSL_PARAM_octet_string(OSSL_KDF_PARAM_KEY, NULL, 0),
        OSSL_PARAM_octet_string(OSSL_KDF_PARAM_SALT, NULL, 0),
        OSSL_PARAM_utf8_string(OSSL_KDF_PARAM_DIGEST, NULL, 0),
        OSSL_PARAM_utf8_string(P_PURPOSE, NULL, 0),
        OSSL_PARAM_utf8_string(P_ORIGINATOR, NULL, 0),
        OSSL_PARAM_utf8_string(P_RECEIVER, NULL, 0),
        OSSL_PARAM_uint64(P_EPOCH, NULL),
        OSSL_PARAM_uint64(P_NOT_BEFORE, NULL),
        OSSL_PARAM_uint64(P_LIFETIME, NULL),
        OSSL_PARAM_utf8_string(P_AEAD, NULL, 0),
        OSSL_PARAM_octet_string(P_ONONCE, NULL, 0),
        OSSL_PARAM_octet_string(P_RNONCE, NULL, 0),
        OSSL_PARAM_END,
    };
    (void)vctx;
    (void)provctx;
    return table;
}

static int session_get_ctx_params(void *vctx, OSSL_PARAM params[])
{
    SESSION_KDF *c = vctx;
    OSSL_PARAM *p;

    if ((p = OSSL_PARAM_locate(params, OSSL_KDF_PARAM_SIZE)) != NULL &&
        !OSSL_PARAM_set_size_t(p, m2m_hkdf_max_len(c->md)))
        return 0;
    if ((p = OSSL_PARAM_locate(params, OSSL_KDF_PARAM_DIGEST)) != NULL &&
        !OSSL_PARAM_set_utf8_string(p, m2m_md_name(c->md)))
        return 0;
    return 1;
}

static const OSSL_PARAM *session_gettable_ctx_params(void *vctx, void *provctx)
{
    static const OSSL_PARAM table[] = {
        OSSL_PARAM_size_t(OSSL_KDF_PARAM_SIZE, NULL),
        OSSL_PARAM_utf8_string(OSSL_KDF_PARAM_DIGEST, NULL, 0),
        OSSL_PARAM_END,
    };
    (void)vctx;
    (void)provctx;
    return table;
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
        M2M_RAISE(M2M_R_FIELD_TOO_LONG, "parameter '%s' is %zu bytes; the maximum is %u", name,
                  b->len, FIELD_MAX);
        return 0;
    }
    return 1;
}

static int require(const char *name, const M2M_BYTES *b)
{
    if (b->data == NULL) {
        M2M_RAISE(M2M_R_MISSING_PARAMETER, "parameter '%s' is required by M2M-SESSION-KDF", name);
        return 0;
    }
    return check_field(name, b);
}

static int session_derive(void *vctx, unsigned char *out, size_t outlen, const OSSL_PARAM params[])
{
    SESSION_KDF *c = vctx;
    const M2M_POLICY *pol = &c->pc->policy;
    unsigned char stackbuf[512], *info = stackbuf;
    const M2M_BYTES *aead;
    static const M2M_BYTES default_aead = {(unsigned char *)SESSION_DEFAULT_AEAD,
                                           sizeof(SESSION_DEFAULT_AEAD) - 1};
    size_t infolen;
    ENC e;
    int ok = 0;

    if (!session_set_ctx_params(c, params))
        goto fail;
    if (c->key.data == NULL) {
        M2M_RAISE(M2M_R_MISSING_KEY, "no service-layer key: set parameter 'key'");
        goto fail;
    }
    if (!m2m_key_long_enough(&c->key, pol->min_key_bits))
        goto fail;
    if (!require(P_PURPOSE, &c->purpose) || !require(P_ORIGINATOR, &c->originator) ||
        !require(P_RECEIVER, &c->receiver) || !check_field(P_ONONCE, &c->ononce) ||
        !check_field(P_RNONCE, &c->rnonce) || !check_field(P_AEAD, &c->aead))
        goto fail;
    if (c->lifetime == 0) {
        M2M_RAISE(M2M_R_INVALID_PARAMETER, "lifetime must be at least 1 s");
        goto fail;
    }
    if (c->not_before > UINT64_MAX - c->lifetime) {
        M2M_RAISE(M2M_R_INVALID_PARAMETER,
                  "not-before %llu + lifetime %llu s does not fit in 64 bits",
                  (unsigned long long)c->not_before, (unsigned long long)c->lifetime);
        goto fail;
    }
    if (c->lifetime > pol->max_lifetime) {
        M2M_RAISE(M2M_R_LIFETIME_EXCEEDS_POLICY, "lifetime %llu s exceeds policy maximum %llu s",
                  (unsigned long long)c->lifetime, (unsigned long long)pol->max_lifetime);
        goto fail;
    }
    if (outlen == 0 || outlen > m2m_hkdf_max_len(c->md)) {
        M2M_RAISE(M2M_R_BAD_OUTPUT_LENGTH, "output length %zu is outside 1..%zu for HKDF-%s",
                  outlen, m2m_hkdf_max_len(c->md), m2m_md_name(c->md));
        goto fail;
    }
    aead = c->aead.data != NULL ? &c->aead : &default_aead;
    if (!m2m_policy_aead_allowed(pol, (const char *)aead->data, aead->len)) {
        M2M_RAISE(M2M_R_NOT_ALLOWED, "aead '%.*s' is not allowed by the security policy",
                  (int)aead->len, (const char *)aead->data);
        goto fail;
    }
    if (!m2m_integrity_gate(c->pc))
        goto fail;

    infolen = 2 + sizeof(SESSION_LABEL) - 1 + 2 + c->purpose.len + 2 + c->originator.len + 2 +
              c->receiver.len + 8 + 8 + 8 + 2 + aead->len + 4 + 2 + c->ononce.len + 2 +
              c->rnonce.len;
    if (infolen > sizeof(stackbuf) && (info = OPENSSL_malloc(infolen)) == NULL) {
        M2M_RAISE(M2M_R_MALLOC_FAILURE, "out of memory encoding info");
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

    ok = m2m_hkdf(&c->hmac, c->pc, c->md, c->salt.data, c->salt.len, c->key.data, c->key.len, info,
                  infolen, out, outlen);
    if (info != stackbuf)
        OPENSSL_free(info);
    return ok;
fail:
    OPENSSL_cleanse(out, outlen);
    return 0;
}

const OSSL_DISPATCH m2m_session_kdf_functions[] = {
    {OSSL_FUNC_KDF_NEWCTX, (void (*)(void))session_new},
    {OSSL_FUNC_KDF_DUPCTX, (void (*)(void))session_dup},
    {OSSL_FUNC_KDF_FREECTX, (void (*)(void))session_free},
    {OSSL_FUNC_KDF_RESET, (void (*)(void))session_reset},
    {OSSL_FUNC_KDF_DERIVE, (void (*)(void))session_derive},
    {OSSL_FUNC_KDF_SETTABLE_CTX_PARAMS, (void (*)(void))session_settable_ctx_params},
    {OSSL_FUNC_KDF_SET_CTX_PARAMS, (void (*)(void))session_set_ctx_params},
    {OSSL_FUNC_KDF_GETTABLE_CTX_PARAMS, (void (*)(void))session_gettable_ctx_params},
    {OSSL_FUNC_KDF_GET_CTX_PARAMS, (void (*)(void))session_get_ctx_params},
    {0, NULL},
};
