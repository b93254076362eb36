/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libm2msec ESPrim: sessions and the replay cache (docs/PROTOCOL.md 9.6).
 *
 * A session is one pair (receiver RandObject, originator RandObject), that
 * is one sessionESPrimKey. Each end remembers, per session, the IV of every
 * object it sealed or accepted under the key until the originator
 * RandObject expires; an object whose IV is already there is a replay (or
 * an object reflected back to its sender) and is refused before any
 * decryption. IVs are random (96 bits), so a hash set on their first bytes
 * is enough: open addressing, at most half full.
 *
 * Memory is bounded: at most max_ivs IVs over all sessions and at most
 * max_sessions sessions. When the IVs are full, the oldest other open
 * session is closed: its IVs are dropped and every later object of it is
 * refused (M2MSEC_R_ESPRIM_CLOSED), so forgetting never lets a replay in;
 * the originator answers with a new RandObject of its own.
 */
#include <string.h>
#include <openssl/crypto.h>

#include "esprim_internal.h"
#include "io.h"

#define SLOT 16
#define MIN_SLOTS 16

void m2m_esp_cache_init(m2m_esp_cache *c, size_t max_ivs, size_t max_sessions)
{
    memset(c, 0, sizeof(*c));
    c->max_ivs = max_ivs;
    c->max_sessions = max_sessions;
}

static void ivset_free(m2m_esp_ivset *v)
{
    OPENSSL_free(v->slots);
    v->slots = NULL;
    v->cap = v->n = 0;
}

void m2m_esp_session_close(m2m_esp_cache *c, m2m_esp_session *s)
{
    OPENSSL_cleanse(s->key, sizeof(s->key));
    s->have_key = 0;
    EVP_CIPHER_CTX_free(s->ectx);
    EVP_CIPHER_CTX_free(s->dctx);
    s->ectx = s->dctx = NULL;
    s->ectx_aead = s->dctx_aead = 0;
    c->ivs -= s->ivs.n;
    ivset_free(&s->ivs);
    s->closed = 1;
}

static void session_free(m2m_esp_cache *c, m2m_esp_session *s)
{
    m2m_esp_session_close(c, s);
    OPENSSL_clear_free(s, sizeof(*s));
}

void m2m_esp_cache_free(m2m_esp_cache *c)
{
    for (size_t i = 0; i < c->n; i++)
        session_free(c, c->s[i]);
    OPENSSL_free(c->s);
    memset(c, 0, sizeof(*c));
}

m2m_esp_session *m2m_esp_cache_find(const m2m_esp_cache *c, const char *rri, const char *ori)
{
    /* newest first: the sessions in use are usually the last ones created */
    for (size_t i = c->n; i-- > 0;)
        if (strcmp(c->s[i]->ori, ori) == 0 && strcmp(c->s[i]->rri, rri) == 0)
            return c->s[i];
    return NULL;
}

size_t m2m_esp_cache_purge(m2m_esp_cache *c, uint64_t now)
{
    size_t o = 0, dropped = 0;

    for (size_t i = 0; i < c->n; i++) {
        if (c->s[i]->expiry <= now) {
            session_free(c, c->s[i]);
            dropped++;
        } else {
            c->s[o++] = c->s[i];
        }
    }
    c->n = o;
    return dropped;
}

m2m_esp_session *m2m_esp_cache_add(m2m_esp_cache *c, const char *rri, const char *ori,
                                   uint64_t expiry, int closed)
{
    m2m_esp_session *s, **ns;

    /* a closed session (from the state file) is always remembered: it refuses replays */
    if (!closed && c->n >= c->max_sessions) {
        M2M_ESP_ERR(M2MSEC_R_ESPRIM_LIMIT,
                    "%zu sessions (originator RandObjects) are remembered "
                    "and none has expired yet (max_sessions); try again later",
                    c->n);
        return NULL;
    }
    if ((ns = m2m_grow(c->s, c->n, &c->cap, sizeof(*ns), 8)) == NULL) {
        M2M_ESP_ERR(M2MSEC_R_MALLOC_FAILURE, "out of memory for a session");
        return NULL;
    }
    c->s = ns;
    if ((s = OPENSSL_zalloc(sizeof(*s))) == NULL) {
        M2M_ESP_ERR(M2MSEC_R_MALLOC_FAILURE, "out of memory for a session");
        return NULL;
    }
    strcpy(s->rri, rri);
    strcpy(s->ori, ori);
    s->expiry = expiry;
    s->closed = closed;
    s->order = ++c->order;
    c->s[c->n++] = s;
    return s;
}

static size_t slot_of(const m2m_esp_ivset *v, const unsigned char *iv)
{
    uint64_t h = 0;

    for (int i = 0; i < 8; i++)
        h = h << 8 | iv[i];
    h ^= (uint64_t)iv[8] << 24 | (uint64_t)iv[9] << 16 | (uint64_t)iv[10] << 8 | iv[11];
    return (size_t)(h & (v->cap - 1));
}

int m2m_esp_iv_seen(const m2m_esp_session *s, const unsigned char iv[M2M_ESP_IV_LEN])
{
    const m2m_esp_ivset *v = &s->ivs;
    size_t i;

    if (v->cap == 0)
        return 0;
    for (i = slot_of(v, iv);; i = (i + 1) & (v->cap - 1)) {
        const unsigned char *sl = v->slots + i * SLOT;

        if (!sl[M2M_ESP_IV_LEN])
            return 0;
        if (memcmp(sl, iv, M2M_ESP_IV_LEN) == 0)
            return 1;
    }
}

static void put(m2m_esp_ivset *v, const unsigned char *iv)
{
    size_t i = slot_of(v, iv);

    while (v->slots[i * SLOT + M2M_ESP_IV_LEN])
        i = (i + 1) & (v->cap - 1);
    memcpy(v->slots + i * SLOT, iv, M2M_ESP_IV_LEN);
    v->slots[i * SLOT + M2M_ESP_IV_LEN] = 1;
    v->n++;
}

static int grow(m2m_esp_ivset *v)
{
    m2m_esp_ivset nv;

    nv.cap = v->cap == 0 ? MIN_SLOTS : v->cap * 2;
    nv.n = 0;
    if ((nv.slots = OPENSSL_zalloc(nv.cap * SLOT)) == NULL) {
        M2M_ESP_ERR(M2MSEC_R_MALLOC_FAILURE, "out of memory for the replay cache");
        return 0;
    }
    for (size_t i = 0; i < v->cap; i++)
        if (v->slots[i * SLOT + M2M_ESP_IV_LEN])
            put(&nv, v->slots + i * SLOT);
    OPENSSL_free(v->slots);
    *v = nv;
    return 1;
}

/* The oldest open session other than s that holds IVs, or NULL. */
static m2m_esp_session *victim(const m2m_esp_cache *c, const m2m_esp_session *s)
{
    m2m_esp_session *best = NULL;

    for (size_t i = 0; i < c->n; i++) {
        m2m_esp_session *x = c->s[i];

        if (x != s && !x->closed && x->ivs.n > 0 && (best == NULL || x->order < best->order))
            best = x;
    }
    return best;
}

int m2m_esp_iv_room(const m2m_esp_cache *c, const m2m_esp_session *s)
{
    return c->ivs < c->max_ivs || victim(c, s) != NULL;
}

int m2m_esp_iv_add(m2m_esp_cache *c, m2m_esp_session *s, const unsigned char iv[M2M_ESP_IV_LEN])
{
    while (c->ivs >= c->max_ivs) {
        m2m_esp_session *v = victim(c, s);

        if (v == NULL) {
            M2M_ESP_ERR(M2MSEC_R_ESPRIM_LIMIT,
                        "the replay cache is full (%zu IVs, max_cache) "
                        "and holds only this session's",
                        c->ivs);
            return 0;
        }
        m2m_esp_session_close(c, v);
    }
    if ((s->ivs.n + 1) * 2 > s->ivs.cap && !grow(&s->ivs))
        return 0;
    put(&s->ivs, iv);
    c->ivs++;
    return 1;
}

size_t m2m_esp_cache_memory(const m2m_esp_cache *c)
{
    size_t m = c->cap * sizeof(*c->s);

    for (size_t i = 0; i < c->n; i++)
        m += sizeof(*c->s[i]) + c->s[i]->ivs.cap * SLOT;
    return m;
}
