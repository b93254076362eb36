/* m2msec provider: KDF context handling shared by the three KDFs (see kdf_common.h). */
#include <string.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>

#include "errors.h"
#include "kdf_common.h"

static M2M_BYTES *member(void *ctx, size_t offset)
{
    return (M2M_BYTES *)(void *)((unsigned char *)ctx + offset);
}

static const M2M_BYTES *const_member(const void *ctx, size_t offset)
{
    return (const M2M_BYTES *)(const void *)((const unsigned char *)ctx + offset);
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
        M2M_RAISE(M2M_R_MALLOC_FAILURE, "out of memory creating %s context", t->name);
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
    M2M_KDF_BASE *b = ctx;
    const M2M_KDF_TYPE *t = b->type;

    m2m_bytes_free(&b->key, 1);
    m2m_bytes_free(&b->salt, 1);
    for (size_t i = 0; i < t->nothers; i++)
        m2m_bytes_free(member(ctx, t->others[i]), 0);
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
    int ok;

    if (d == NULL)
        return NULL;
    /* The scalars as they are; then nothing in d may alias s if a copy below fails. */
    memcpy(d, s, t->size);
    d->hmac.ctx = NULL;
    d->key = d->salt = (M2M_BYTES){NULL, 0};
    for (size_t i = 0; i < t->nothers; i++)
        *member(d, t->others[i]) = (M2M_BYTES){NULL, 0};
    ok = m2m_hmac_dup(&d->hmac, &s->hmac) && m2m_bytes_dup(&d->key, &s->key, 1) &&
         m2m_bytes_dup(&d->salt, &s->salt, 1);
    for (size_t i = 0; ok && i < t->nothers; i++)
        ok = m2m_bytes_dup(member(d, t->others[i]), const_member(s, t->others[i]), 0);
    if (!ok) {
        m2m_kdf_free(d);
        return NULL;
    }
    return d;
}

static int set_one(void *ctx, const M2M_KDF_PARAM *kp, const OSSL_PARAM *p)
{
    switch (kp->kind) {
    case M2M_KP_SECRET:
        return m2m_param_octets(p, member(ctx, kp->offset), 1);
    case M2M_KP_OCTETS:
        return m2m_param_octets(p, member(ctx, kp->offset), 0);
    case M2M_KP_IDENT:
        return m2m_param_nfkc(p, member(ctx, kp->offset), 0);
    case M2M_KP_U64:
        return m2m_param_u64(p, (uint64_t *)(void *)((unsigned char *)ctx + kp->offset));
    case M2M_KP_CUSTOM:
        return kp->set(ctx, p);
    }
    return 0;
}

int m2m_kdf_set_ctx_params(void *ctx, const OSSL_PARAM params[])
{
    const M2M_KDF_TYPE *t = ((const M2M_KDF_BASE *)ctx)->type;
    const OSSL_PARAM *p;

    if (params == NULL)
        return 1;
    for (size_t i = 0; i < t->nparams; i++) {
        if ((p = OSSL_PARAM_locate_const(params, t->params[i].name)) == NULL)
            continue;
        /*
         * A value to set must be there: OpenSSL's readers would dereference
         * a NULL integer, and an octet string of data_size bytes at NULL is
         * no value either (the stock HKDF refuses both). UTF-8 strings are
         * checked by m2m_param_utf8, which says so in its own words.
         */
        if (p->data == NULL && p->data_type != OSSL_PARAM_UTF8_STRING &&
            p->data_type != OSSL_PARAM_UTF8_PTR) {
            M2M_RAISE(M2M_R_INVALID_PARAMETER,
                      "%s: parameter '%s' has no value (its data pointer is NULL, data_size %zu)",
                      t->name, p->key, p->data_size);
            return 0;
        }
        if (!set_one(ctx, &t->params[i], p))
            return 0;
    }
    return 1;
}

int m2m_kdf_get_size(OSSL_PARAM params[], size_t size)
{
    OSSL_PARAM *p = OSSL_PARAM_locate(params, OSSL_KDF_PARAM_SIZE);

    return p == NULL || OSSL_PARAM_set_size_t(p, size);
}

const OSSL_PARAM *m2m_kdf_gettable_size(void *vctx, void *provctx)
{
    static const OSSL_PARAM table[] = {
        OSSL_PARAM_size_t(OSSL_KDF_PARAM_SIZE, NULL),
        OSSL_PARAM_END,
    };
    (void)vctx;
    (void)provctx;
    return table;
}
