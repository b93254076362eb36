/* SPDX-License-Identifier: Apache-2.0 */
/* m2msec provider: KDF context handling shared by the three KDFs (see kdf_common.h). */
#include <string.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>

#include "errors.h"
#include "kdf_common.h"

static void *at(void *ctx, size_t offset)
{
    return (unsigned char *)ctx + offset;
}

static const void *const_at(const void *ctx, size_t offset)
{
    return (const unsigned char *)ctx + offset;
}

/* Is the parameter kept in an M2M_BYTES member (secret: one that is wiped)? */
static int is_bytes(const M2M_KDF_PARAM *kp, int *secret)
{
    *secret = kp->kind == M2M_KP_SECRET;
    return kp->kind == M2M_KP_SECRET || kp->kind == M2M_KP_OCTETS || kp->kind == M2M_KP_IDENT;
}

static void set_defaults(void *ctx, const M2M_KDF_TYPE *t)
{
    if (t->defaults != NULL)
        t->defaults(ctx);
}

void *m2m_kdf_new(void *provctx, const M2M_KDF_TYPE *t)
{
    M2M_KDF_BASE *b;

    if (!m2m_prov_usable(provctx))
        return NULL;
    b = OPENSSL_zalloc(t->size);
    if (b == NULL) {
        M2M_RAISE(M2MSEC_R_MALLOC_FAILURE, "out of memory creating %s context", t->name);
        return NULL;
    }
    b->type = t;
    b->pc = provctx;
    b->hmac.md = -1;
    set_defaults(b, t);
    return b;
}

void m2m_kdf_reset(void *ctx)
{
    const M2M_KDF_TYPE *t = ((M2M_KDF_BASE *)ctx)->type;
    int secret;

    for (size_t i = 0; i < t->nparams; i++)
        if (is_bytes(&t->params[i], &secret))
            m2m_bytes_free(at(ctx, t->params[i].offset), secret);
    set_defaults(ctx, t);
}

void m2m_kdf_free(void *ctx)
{
    M2M_KDF_BASE *b = ctx;

    if (b == NULL)
        return;
    m2m_kdf_reset(b);
    m2m_hmac_cleanup(&b->hmac);
    OPENSSL_clear_free(b, b->type->size);
}

void *m2m_kdf_dup(void *src)
{
    const M2M_KDF_BASE *s = src;
    const M2M_KDF_TYPE *t = s->type;
    M2M_KDF_BASE *d = OPENSSL_zalloc(t->size);
    int ok, secret;

    if (d == NULL)
        return NULL;
    /* The scalars as they are; then nothing in d may alias s if a copy below fails. */
    memcpy(d, s, t->size);
    d->hmac.ctx = NULL;
    for (size_t i = 0; i < t->nparams; i++)
        if (is_bytes(&t->params[i], &secret))
            *(M2M_BYTES *)at(d, t->params[i].offset) = (M2M_BYTES){NULL, 0};
    ok = m2m_hmac_dup(&d->hmac, &s->hmac);
    for (size_t i = 0; ok && i < t->nparams; i++)
        if (is_bytes(&t->params[i], &secret))
            ok =
                m2m_bytes_dup(at(d, t->params[i].offset), const_at(s, t->params[i].offset), secret);
    if (!ok) {
        m2m_kdf_free(d);
        return NULL;
    }
    return d;
}

static int set_digest(m2m_md *md, const OSSL_PARAM *p)
{
    char name[32];
    const char *s = NULL;
    size_t len = 0;
    int v = -1;

    if (!m2m_param_utf8(p, &s, &len))
        return 0;
    if (len < sizeof(name)) {
        memcpy(name, s, len);
        name[len] = '\0';
        v = m2m_md_from_name(name);
    }
    if (v < 0) {
        M2M_RAISE(M2MSEC_R_UNKNOWN_DIGEST,
                  "digest '%.*s' is not supported (use SHA2-256, SHA2-384 or SHA2-512)",
                  m2m_name_shown(len), s);
        return 0;
    }
    *md = (m2m_md)v;
    return 1;
}

static int set_one(void *ctx, const M2M_KDF_PARAM *kp, const OSSL_PARAM *p)
{
    switch (kp->kind) {
    case M2M_KP_SECRET:
        return m2m_param_octets(p, at(ctx, kp->offset), 1);
    case M2M_KP_OCTETS:
        return m2m_param_octets(p, at(ctx, kp->offset), 0);
    case M2M_KP_IDENT:
        return m2m_param_nfkc(p, at(ctx, kp->offset), 0);
    case M2M_KP_U64:
        return m2m_param_u64(p, at(ctx, kp->offset));
    case M2M_KP_DIGEST:
        return set_digest(at(ctx, kp->offset), p);
    case M2M_KP_UTF8_FN:
    case M2M_KP_U64_FN:
    case M2M_KP_INT32_FN:
        return kp->set(ctx, p);
    }
    return 0;
}

/* The most parameters a KDF has (the session KDF: 12); a type with more is looked up by name. */
#define KDF_MAX_PARAMS 32

int m2m_kdf_set_ctx_params(void *ctx, const OSSL_PARAM params[])
{
    const M2M_KDF_TYPE *t = ((const M2M_KDF_BASE *)ctx)->type;
    const OSSL_PARAM *got[KDF_MAX_PARAMS] = {NULL}, *p;
    int onepass = t->nparams <= KDF_MAX_PARAMS;

    if (params == NULL)
        return 1;
    /*
     * One pass over the caller's parameters, matched by first character
     * then name, the first of a name winning as with OSSL_PARAM_locate;
     * then applied in the table's order (issue 13: a derivation looked up
     * each of its parameters by name in the whole list).
     */
    for (const OSSL_PARAM *q = params; onepass && q->key != NULL; q++)
        for (size_t i = 0; i < t->nparams; i++)
            if (q->key[0] == t->params[i].name[0] && strcmp(q->key, t->params[i].name) == 0) {
                if (got[i] == NULL)
                    got[i] = q;
                break;
            }
    for (size_t i = 0; i < t->nparams; i++) {
        p = onepass ? got[i] : OSSL_PARAM_locate_const(params, t->params[i].name);
        if (p == NULL)
            continue;
        /*
         * A value to set must be there: OpenSSL's readers would dereference
         * a NULL integer, and an octet string of data_size bytes at NULL is
         * no value either (the stock HKDF refuses both). UTF-8 strings are
         * checked by m2m_param_utf8, which says so in its own words.
         */
        if (p->data == NULL && p->data_type != OSSL_PARAM_UTF8_STRING &&
            p->data_type != OSSL_PARAM_UTF8_PTR) {
            M2M_RAISE(M2MSEC_R_INVALID_PARAMETER,
                      "%s: parameter '%s' has no value (its data pointer is NULL, data_size %zu)",
                      t->name, p->key, p->data_size);
            return 0;
        }
        if (!set_one(ctx, &t->params[i], p))
            return 0;
    }
    return 1;
}

int m2m_kdf_get_ctx_params(void *ctx, OSSL_PARAM params[])
{
    const M2M_KDF_TYPE *t = ((const M2M_KDF_BASE *)ctx)->type;
    OSSL_PARAM *p;

    if ((p = OSSL_PARAM_locate(params, OSSL_KDF_PARAM_SIZE)) != NULL &&
        !OSSL_PARAM_set_size_t(p, t->out_size(ctx)))
        return 0;
    for (size_t i = 0; i < t->nparams; i++) {
        const M2M_KDF_PARAM *kp = &t->params[i];

        if (kp->kind == M2M_KP_DIGEST && (p = OSSL_PARAM_locate(params, kp->name)) != NULL &&
            !OSSL_PARAM_set_utf8_string(p, m2m_md_name(*(const m2m_md *)const_at(ctx, kp->offset))))
            return 0;
    }
    return 1;
}
