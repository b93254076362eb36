/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libm2msec ESPrim: an ESPrim end (m2msec/esprim.h) - sealing primitives
 * into JWE objects and opening them with every check of TS-0003 8.4.2 C.6
 * plus replay protection (docs/PROTOCOL.md 9.5, 9.6).
 *
 * Order of the checks when opening (each with its own reason): the JWE
 * format (esprim_jwe.c); kid (C.6a); the Receiver RandObject known and
 * unexpired (C.6b.1); the Originator RandObject known or carried in "oro",
 * unexpired, not outliving the Receiver's (C.6b.2.i), its key generation
 * algorithm offered (C.6b.2.ii), its AEADs a subset of the Receiver's and
 * "enc" among them (C.6c.1); the IV not seen under the session key
 * (replay); the session's object budget; then authenticated decryption
 * (C.6c.2). A Receiver writes a new session to its state file after the
 * tag verified and before the primitive is delivered.
 */
#include <string.h>
#include <unistd.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>

#include "esprim_internal.h"
#include "io.h"

#define DEFAULT_RECEIVER_LIFETIME 86400
#define DEFAULT_ORIGINATOR_LIFETIME 3600
#define DEFAULT_MAX_OBJECTS ((uint64_t)1 << 20)
#define MAX_MAX_OBJECTS ((uint64_t)1 << 32) /* random 96-bit IVs: NIST SP 800-38D 8.3 */
#define DEFAULT_MAX_CACHE ((size_t)1 << 20)
#define DEFAULT_MAX_SESSIONS 4096
#define MAX_RANDS 1024  /* Receiver RandObjects remembered */
#define RAND_KEPT 86400 /* seconds a Receiver RandObject is remembered past its expiry */
#define CHUNK 3072      /* plaintext bytes per step (a multiple of 3 for base64url) */
#define IV_BATCH 32     /* IVs per call of the random generator */

struct m2msec_esprim {
    int role;
    OSSL_LIB_CTX *libctx;
    unsigned char *key;
    size_t key_len;
    char kid[M2MSEC_ESPRIM_KID_MAX + 1];
    char cty[M2MSEC_ESPRIM_KID_MAX + 1];
    int has_cty;
    int aeads[M2MSEC_ESPRIM_MAX_ALGS];
    size_t naeads;
    int enc;
    uint64_t rand_lifetime, max_objects, last_purge;
    pid_t pid;
    EVP_KDF *kdf;
    EVP_CIPHER *gcm[3];  /* AES-128-GCM, AES-192-GCM, AES-256-GCM */
    EVP_CIPHER_CTX *tmp; /* Receiver: the context of a session not yet accepted */
    int tmp_aead;
    m2m_esp_cache cache;
    /* Receiver: its state; data.rands are its RandObjects, data.sessions the sessions saved */
    int has_state;
    m2m_esp_state st;
    m2m_esp_state_data data;
    size_t rands_cap, sessions_cap;
    /* Originator: the Receiver RandObject accepted last and the session in use */
    int has_peer;
    m2msec_esprim_rand peer;
    m2m_esp_session *cur;
    /*
     * Random IVs drawn IV_BATCH at a time (one call of the random generator
     * costs as much as sealing a small object). They are not secret, and
     * an end refuses to seal after fork(), so no copy of the pool is used
     * twice.
     */
    unsigned char iv_pool[IV_BATCH * M2M_ESP_IV_LEN];
    size_t iv_left;
    uint64_t clock_high; /* the latest time this end has seen: its clock never goes back */
    m2msec_esprim_stats stats;
};

static const char *enc_text(int aead)
{
    const char *n = m2m_esp_enc_name(aead);

    return n != NULL ? n : "?";
}

static EVP_CIPHER *gcm_of(const m2msec_esprim *ep, int aead)
{
    return aead >= M2MSEC_ESPRIM_JWE_A128GCM && aead <= M2MSEC_ESPRIM_JWE_A256GCM
               ? ep->gcm[aead - M2MSEC_ESPRIM_JWE_A128GCM]
               : NULL;
}

/*
 * Now, never earlier than any time this end has seen: a wall clock set back
 * must not make an expired RandObject valid again while its sessions (and
 * the IVs that refuse its replays) are already forgotten.
 */
static uint64_t esp_now(m2msec_esprim *ep)
{
    uint64_t t = m2m_esp_now();

    if (t > ep->clock_high)
        ep->clock_high = t;
    return ep->clock_high;
}

static int forked(const m2msec_esprim *ep)
{
    if (getpid() == ep->pid)
        return 0;
    M2M_ESP_ERR(M2MSEC_R_ESPRIM_STATE,
                "an ESPrim end belongs to the process that created it; "
                "it is refused after fork() (its replay cache would be shared): create a new "
                "end in the child");
    return 1;
}

/* ---------------------------------------------------------------- housekeeping */

static m2msec_esprim_rand *own_rand(m2msec_esprim *ep, const char *id)
{
    for (size_t i = 0; i < ep->data.nrands; i++)
        if (strcmp(ep->data.rands[i].id, id) == 0)
            return &ep->data.rands[i];
    return NULL;
}

/*
 * Forget what expired: sessions and saved sessions (in memory; the file
 * follows at its next write). A Receiver's own RandObjects are kept one
 * day past their expiry, so that late objects are refused as "expired"
 * rather than "unknown".
 */
static void purge(m2msec_esprim *ep, uint64_t now, int force)
{
    size_t o;

    if (!force && now == ep->last_purge)
        return;
    ep->last_purge = now;
    if (ep->cur != NULL && ep->cur->expiry <= now)
        ep->cur = NULL;
    m2m_esp_cache_purge(&ep->cache, now);
    o = 0;
    for (size_t i = 0; i < ep->data.nrands; i++)
        if (ep->data.rands[i].expiry > now - (now > RAND_KEPT ? RAND_KEPT : now))
            ep->data.rands[o++] = ep->data.rands[i];
    ep->data.nrands = o;
    o = 0;
    for (size_t i = 0; i < ep->data.nsessions; i++)
        if (ep->data.sessions[i].expiry > now)
            ep->data.sessions[o++] = ep->data.sessions[i];
    ep->data.nsessions = o;
}

static int ensure(void **a, size_t n, size_t *cap, size_t elem)
{
    void *na = m2m_grow(*a, n, cap, elem, 8);

    if (na == NULL) {
        M2M_ESP_ERR(M2MSEC_R_MALLOC_FAILURE, "out of memory");
        return 0;
    }
    *a = na;
    return 1;
}

/* ---------------------------------------------------------------- creation */

static int bad_config(const char *what)
{
    M2M_ESP_ERR(M2MSEC_R_INVALID_PARAMETER, "configuration: %s", what);
    return 0;
}

static int check_config(m2msec_esprim *ep, const m2msec_esprim_config *cfg)
{
    if (cfg->role != M2MSEC_ESPRIM_ORIGINATOR && cfg->role != M2MSEC_ESPRIM_RECEIVER)
        return bad_config("role must be M2MSEC_ESPRIM_ORIGINATOR or M2MSEC_ESPRIM_RECEIVER");
    if (cfg->key == NULL || cfg->key_len == 0)
        return bad_config("the pairwiseESPrimKey is missing");
    if (cfg->kid == NULL || !m2m_esp_token_ok(cfg->kid, strlen(cfg->kid), 0))
        return bad_config("kid must be 1..256 printable ASCII characters without space, '\"' "
                          "or '\\'");
    if (cfg->role == M2MSEC_ESPRIM_RECEIVER && cfg->state == NULL)
        return bad_config("a Receiver needs a state file (state)");
    if (cfg->role == M2MSEC_ESPRIM_ORIGINATOR && cfg->state != NULL)
        return bad_config("an Originator keeps no state file (state must be NULL)");
    if (cfg->cty != NULL && !m2m_esp_token_ok(cfg->cty, strlen(cfg->cty), 1))
        return bad_config("cty must be 1..256 printable ASCII characters without '\"' or '\\'");
    if (cfg->aeads == NULL) {
        ep->aeads[0] = M2MSEC_ESPRIM_JWE_A128GCM;
        ep->aeads[1] = M2MSEC_ESPRIM_JWE_A192GCM;
        ep->aeads[2] = M2MSEC_ESPRIM_JWE_A256GCM;
        ep->naeads = 3;
    } else {
        if (cfg->naeads == 0 || cfg->naeads > 3)
            return bad_config("aeads must list 1..3 of 10, 11, 12");
        for (size_t i = 0; i < cfg->naeads; i++) {
            if (m2m_esp_enc_name(cfg->aeads[i]) == NULL ||
                m2m_esp_has(ep->aeads, ep->naeads, cfg->aeads[i]))
                return bad_config("aeads must list distinct IDs among 10 (A128GCM), 11 "
                                  "(A192GCM), 12 (A256GCM)");
            ep->aeads[ep->naeads++] = cfg->aeads[i];
        }
    }
    if (cfg->enc != 0 && !m2m_esp_has(ep->aeads, ep->naeads, cfg->enc))
        return bad_config("enc must be 0 or one of the aeads");
    if (cfg->max_objects > MAX_MAX_OBJECTS)
        return bad_config("max_objects is above 2^32 (the limit for random 96-bit GCM IVs)");
    return 1;
}

/* Derive once with made-up RandObjects: a key the policy refuses is refused now. */
static int trial_derive(m2msec_esprim *ep)
{
    m2msec_esprim_rand r, o;
    unsigned char k[M2MSEC_ESPRIM_SESSION_KEY_LEN];
    int ok;

    memset(&r, 0, sizeof(r));
    memset(&o, 0, sizeof(o));
    r.role = M2MSEC_ESPRIM_RECEIVER;
    o.role = M2MSEC_ESPRIM_ORIGINATOR;
    strcpy(r.id, "trial");
    strcpy(o.id, "trial");
    r.keygen[0] = o.keygen[0] = M2MSEC_ESPRIM_KEYGEN_HMAC_SHA256;
    r.nkeygen = o.nkeygen = 1;
    ok = m2m_esp_derive(ep->kdf, ep->key, ep->key_len, &r, &o, k, sizeof(k));
    OPENSSL_cleanse(k, sizeof(k));
    return ok;
}

m2msec_esprim *m2msec_esprim_new(const m2msec_esprim_config *cfg)
{
    static const char *const names[3] = {"AES-128-GCM", "AES-192-GCM", "AES-256-GCM"};
    m2msec_esprim *ep = OPENSSL_zalloc(sizeof(*ep));
    uint64_t now;

    if (ep == NULL) {
        M2M_ESP_ERR(M2MSEC_R_MALLOC_FAILURE, "out of memory for an ESPrim end");
        return NULL;
    }
    ep->pid = getpid();
    if (!check_config(ep, cfg))
        goto err;
    ep->role = cfg->role;
    ep->libctx = cfg->libctx;
    ep->enc = cfg->enc;
    strcpy(ep->kid, cfg->kid);
    if (cfg->cty != NULL) {
        strcpy(ep->cty, cfg->cty);
        ep->has_cty = 1;
    }
    ep->rand_lifetime = cfg->rand_lifetime != 0              ? cfg->rand_lifetime
                        : ep->role == M2MSEC_ESPRIM_RECEIVER ? DEFAULT_RECEIVER_LIFETIME
                                                             : DEFAULT_ORIGINATOR_LIFETIME;
    ep->max_objects = cfg->max_objects != 0 ? cfg->max_objects : DEFAULT_MAX_OBJECTS;
    m2m_esp_cache_init(&ep->cache, cfg->max_cache != 0 ? cfg->max_cache : DEFAULT_MAX_CACHE,
                       cfg->max_sessions != 0 ? cfg->max_sessions : DEFAULT_MAX_SESSIONS);
    if ((ep->key = OPENSSL_memdup(cfg->key, cfg->key_len)) == NULL) {
        M2M_ESP_ERR(M2MSEC_R_MALLOC_FAILURE, "out of memory for an ESPrim end");
        goto err;
    }
    ep->key_len = cfg->key_len;
    if ((ep->kdf = EVP_KDF_fetch(ep->libctx, "ONEM2M-KDF", NULL)) == NULL) {
        M2M_ESP_ERR(M2MSEC_R_FETCH_FAILED, "cannot fetch ONEM2M-KDF (is m2msec loaded in the "
                                           "library context?)");
        goto err;
    }
    for (int i = 0; i < 3; i++)
        if ((ep->gcm[i] = EVP_CIPHER_fetch(ep->libctx, names[i], NULL)) == NULL) {
            M2M_ESP_ERR(M2MSEC_R_FETCH_FAILED,
                        "cannot fetch %s (is OpenSSL's default provider "
                        "loaded in the library context?)",
                        names[i]);
            goto err;
        }
    if (!trial_derive(ep))
        goto err;
    if (ep->role == M2MSEC_ESPRIM_RECEIVER) {
        if (!m2m_esp_state_open(&ep->st, cfg->state, &ep->data))
            goto err;
        ep->has_state = 1;
        ep->rands_cap = ep->data.nrands;
        ep->sessions_cap = ep->data.nsessions;
        if (strcmp(ep->data.kid, ep->kid) != 0) {
            M2M_ESP_ERR(M2MSEC_R_ESPRIM_STATE, "state %s: it was written for kid %s, not %s",
                        cfg->state, ep->data.kid, ep->kid);
            goto err;
        }
        now = esp_now(ep);
        purge(ep, now, 1);
        /* Every session of an earlier run is closed: what it accepted is not accepted again. */
        for (size_t i = 0; i < ep->data.nsessions; i++)
            if (m2m_esp_cache_add(&ep->cache, ep->data.sessions[i].rri, ep->data.sessions[i].ori,
                                  ep->data.sessions[i].expiry, 1) == NULL)
                goto err;
    }
    return ep;
err:
    m2msec_esprim_free(ep);
    return NULL;
}

void m2msec_esprim_free(m2msec_esprim *ep)
{
    if (ep == NULL)
        return;
    m2m_esp_cache_free(&ep->cache);
    if (ep->has_state) {
        if (getpid() != ep->pid)
            ep->st.locked = 0; /* a forked child leaves the parent's lock alone */
        m2m_esp_state_close(&ep->st);
    }
    m2m_esp_state_data_free(&ep->data);
    EVP_CIPHER_CTX_free(ep->tmp);
    for (int i = 0; i < 3; i++)
        EVP_CIPHER_free(ep->gcm[i]);
    EVP_KDF_free(ep->kdf);
    OPENSSL_clear_free(ep->key, ep->key_len);
    OPENSSL_clear_free(ep, sizeof(*ep));
}

/* ---------------------------------------------------------------- RandObjects */

m2msec_esprim_rand *m2msec_esprim_rand_new(m2msec_esprim *ep, uint64_t expiry)
{
    m2msec_esprim_rand r, *copy;
    uint64_t now;

    if (ep->role != M2MSEC_ESPRIM_RECEIVER) {
        M2M_ESP_ERR(M2MSEC_R_INVALID_PARAMETER, "only a Receiver issues RandObjects this way (an "
                                                "Originator's are made by m2msec_esprim_seal)");
        return NULL;
    }
    if (forked(ep))
        return NULL;
    now = esp_now(ep);
    purge(ep, now, 1);
    if (expiry == 0)
        expiry = now + ep->rand_lifetime;
    if (expiry <= now || expiry >= (uint64_t)253402300800ULL) {
        M2M_ESP_ERR(M2MSEC_R_INVALID_PARAMETER,
                    "expiry %llu is not after now (%llu) and before "
                    "the year 10000",
                    (unsigned long long)expiry, (unsigned long long)now);
        return NULL;
    }
    if (ep->data.nrands >= MAX_RANDS) {
        M2M_ESP_ERR(M2MSEC_R_ESPRIM_LIMIT, "%d unexpired RandObjects issued already", MAX_RANDS);
        return NULL;
    }
    memset(&r, 0, sizeof(r));
    r.role = M2MSEC_ESPRIM_RECEIVER;
    do {
        if (!m2m_esp_new_id(ep->libctx, 'r', r.id))
            return NULL;
    } while (own_rand(ep, r.id) != NULL);
    if (RAND_bytes_ex(ep->libctx, r.value, sizeof(r.value), 0) != 1) {
        M2M_ESP_ERR(M2MSEC_R_CRYPTO_FAILED, "the random generator failed");
        return NULL;
    }
    r.expiry = expiry;
    r.keygen[0] = M2MSEC_ESPRIM_KEYGEN_HMAC_SHA256;
    r.nkeygen = 1;
    memcpy(r.aead, ep->aeads, sizeof(r.aead));
    r.naead = ep->naeads;
    if (!ensure((void **)&ep->data.rands, ep->data.nrands, &ep->rands_cap, sizeof(r)))
        return NULL;
    ep->data.rands[ep->data.nrands++] = r;
    ep->stats.state_saves++;
    if (!m2m_esp_state_save(&ep->st, &ep->data)) {
        ep->data.nrands--;
        return NULL;
    }
    if ((copy = OPENSSL_memdup(&r, sizeof(r))) == NULL)
        M2M_ESP_ERR(M2MSEC_R_MALLOC_FAILURE, "out of memory for a RandObject");
    return copy;
}

/* The AEADs both an Originator and a Receiver RandObject accept, in the Originator's order. */
static size_t common_aeads(const m2msec_esprim *ep, const m2msec_esprim_rand *r, int *out)
{
    size_t n = 0;

    for (size_t i = 0; i < ep->naeads; i++)
        if (m2m_esp_has(r->aead, r->naead, ep->aeads[i]))
            out[n++] = ep->aeads[i];
    return n;
}

/* A Receiver RandObject an Originator can use (also for "rro"). */
static int usable_peer(const m2msec_esprim *ep, const m2msec_esprim_rand *r, uint64_t now,
                       const char *what)
{
    int common[M2MSEC_ESPRIM_MAX_ALGS];

    if (r->role != M2MSEC_ESPRIM_RECEIVER) {
        M2M_ESP_ERR(M2MSEC_R_INVALID_PARAMETER, "%s %s is not a receiver RandObject", what, r->id);
        return 0;
    }
    if (r->expiry <= now) {
        M2M_ESP_ERR(M2MSEC_R_ESPRIM_EXPIRED,
                    "%s %s expired at %llu (now %llu): request a fresh "
                    "one (securityInfo type 3)",
                    what, r->id, (unsigned long long)r->expiry, (unsigned long long)now);
        return 0;
    }
    if (!m2m_esp_has(r->keygen, r->nkeygen, M2MSEC_ESPRIM_KEYGEN_HMAC_SHA256)) {
        M2M_ESP_ERR(M2MSEC_R_ESPRIM_NOT_OFFERED,
                    "%s %s does not offer key generation algorithm "
                    "1 (HMAC-SHA256), the only one defined",
                    what, r->id);
        return 0;
    }
    if (common_aeads(ep, r, common) == 0) {
        M2M_ESP_ERR(M2MSEC_R_ESPRIM_NOT_OFFERED,
                    "%s %s offers none of the AEADs this end "
                    "accepts",
                    what, r->id);
        return 0;
    }
    return 1;
}

int m2msec_esprim_accept(m2msec_esprim *ep, const m2msec_esprim_rand *r)
{
    if (ep->role != M2MSEC_ESPRIM_ORIGINATOR) {
        M2M_ESP_ERR(M2MSEC_R_INVALID_PARAMETER, "only an Originator accepts a Receiver's "
                                                "RandObject");
        return 0;
    }
    if (forked(ep) || !usable_peer(ep, r, esp_now(ep), "receiver RandObject"))
        return 0;
    /* the same ID with other values: sessions made with the old values are not reused */
    if (ep->has_peer && strcmp(ep->peer.id, r->id) == 0 && !m2m_esp_rand_equal(&ep->peer, r))
        ep->cur = NULL;
    ep->peer = *r;
    ep->has_peer = 1;
    return 1;
}

/* ---------------------------------------------------------------- AES-GCM */

/* The context of s (or tmp) keyed for aead; NULL after an error. */
static EVP_CIPHER_CTX *keyed(m2msec_esprim *ep, EVP_CIPHER_CTX **ctx, int *ctx_aead,
                             const unsigned char *key, int aead, int enc)
{
    if (*ctx != NULL && *ctx_aead == aead)
        return *ctx;
    if (*ctx == NULL && (*ctx = EVP_CIPHER_CTX_new()) == NULL) {
        M2M_ESP_ERR(M2MSEC_R_MALLOC_FAILURE, "out of memory for a cipher context");
        return NULL;
    }
    *ctx_aead = 0;
    if (!EVP_CipherInit_ex2(*ctx, gcm_of(ep, aead), key, NULL, enc, NULL)) {
        M2M_ESP_ERR(M2MSEC_R_CRYPTO_FAILED, "cannot set up %s", enc_text(aead));
        return NULL;
    }
    *ctx_aead = aead;
    return *ctx;
}

/* The next random IV from the pool; 0 after an error. */
static int next_iv(m2msec_esprim *ep, unsigned char iv[M2M_ESP_IV_LEN])
{
    if (ep->iv_left == 0) {
        if (RAND_bytes_ex(ep->libctx, ep->iv_pool, sizeof(ep->iv_pool), 0) != 1) {
            M2M_ESP_ERR(M2MSEC_R_CRYPTO_FAILED, "the random generator failed");
            return 0;
        }
        ep->iv_left = IV_BATCH;
    }
    ep->iv_left--;
    memcpy(iv, ep->iv_pool + ep->iv_left * M2M_ESP_IV_LEN, M2M_ESP_IV_LEN);
    OPENSSL_cleanse(ep->iv_pool + ep->iv_left * M2M_ESP_IV_LEN, M2M_ESP_IV_LEN);
    return 1;
}

/*
 * Seal under session s: the JWE text at out. The IV is remembered before
 * the object leaves. Nothing is left in out on failure.
 */
static int seal_under(m2msec_esprim *ep, m2m_esp_session *s, int aead,
                      const m2msec_esprim_rand *oro, const unsigned char *in, size_t inlen,
                      char *out, size_t outcap, size_t *outlen)
{
    char hdr[M2MSEC_ESPRIM_HEADER_MAX + 1];
    unsigned char iv[M2M_ESP_IV_LEN], tag[M2M_ESP_TAG_LEN], buf[CHUNK];
    size_t hl = m2m_jwe_header(hdr, sizeof(hdr), aead, ep->kid, ep->has_cty ? ep->cty : NULL,
                               s->ori, s->rri, oro);
    size_t hb, need, o = 0;
    EVP_CIPHER_CTX *ctx;
    int n, tries = 0, ok = 0;

    if (hl == 0) {
        M2M_ESP_ERR(M2MSEC_R_JWE_TOO_LARGE, "the protected header would exceed %d bytes",
                    M2MSEC_ESPRIM_HEADER_MAX);
        return 0;
    }
    hb = m2m_b64url_len(hl);
    need = hb + 2 + m2m_b64url_len(M2M_ESP_IV_LEN) + 1 + m2m_b64url_len(inlen) + 1 +
           m2m_b64url_len(M2M_ESP_TAG_LEN) + 1;
    if (outcap < need) {
        M2M_ESP_ERR(M2MSEC_R_INVALID_PARAMETER,
                    "the JWE needs %zu bytes, the buffer has %zu "
                    "(M2MSEC_ESPRIM_SEAL_SIZE)",
                    need, outcap);
        return 0;
    }
    if (s->count >= ep->max_objects || !m2m_esp_iv_room(&ep->cache, s)) {
        M2M_ESP_ERR(M2MSEC_R_ESPRIM_LIMIT, "session %s/%s: %s", s->rri, s->ori,
                    s->count >= ep->max_objects ? "max_objects reached"
                                                : "the replay cache is full");
        return 0;
    }
    do {
        if (!m2m_esp_test_take_iv(iv) && !next_iv(ep, iv))
            return 0;
    } while (m2m_esp_iv_seen(s, iv) && ++tries < 4);
    if (m2m_esp_iv_seen(s, iv)) {
        M2M_ESP_ERR(M2MSEC_R_CRYPTO_FAILED, "the random generator repeats IVs");
        return 0;
    }
    if ((ctx = keyed(ep, &s->ectx, &s->ectx_aead, s->key, aead, 1)) == NULL)
        return 0;
    m2m_b64url_encode((const unsigned char *)hdr, hl, out);
    o = hb;
    out[o++] = '.';
    out[o++] = '.';
    m2m_b64url_encode(iv, sizeof(iv), out + o);
    o += m2m_b64url_len(sizeof(iv));
    out[o++] = '.';
    if (!EVP_EncryptInit_ex2(ctx, NULL, NULL, iv, NULL) ||
        !EVP_EncryptUpdate(ctx, NULL, &n, (const unsigned char *)out, (int)hb))
        goto end;
    for (size_t off = 0; off < inlen; off += CHUNK) {
        size_t take = inlen - off < CHUNK ? inlen - off : CHUNK;

        if (!EVP_EncryptUpdate(ctx, buf, &n, in + off, (int)take) || (size_t)n != take)
            goto end;
        m2m_b64url_encode(buf, take, out + o);
        o += m2m_b64url_len(take);
    }
    if (!EVP_EncryptFinal_ex(ctx, buf, &n) ||
        !EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, sizeof(tag), tag))
        goto end;
    out[o++] = '.';
    m2m_b64url_encode(tag, sizeof(tag), out + o);
    o += m2m_b64url_len(sizeof(tag));
    out[o] = '\0';
    if (!m2m_esp_iv_add(&ep->cache, s, iv))
        goto end;
    s->count++;
    ep->stats.sealed++;
    *outlen = o;
    ok = 1;
end:
    OPENSSL_cleanse(buf, inlen < sizeof(buf) ? inlen : sizeof(buf)); /* what held ciphertext */
    if (!ok) {
        if (ERR_peek_last_error() == 0 || ERR_GET_LIB(ERR_peek_last_error()) != ERR_LIB_USER)
            M2M_ESP_ERR(M2MSEC_R_CRYPTO_FAILED, "%s encryption failed", enc_text(aead));
        OPENSSL_cleanse(out, outcap);
    }
    return ok;
}

/*
 * Authenticated decryption of w with ctx into out; out wiped on failure.
 * The ciphertext's base64url was checked by m2m_jwe_parse().
 */
static int decrypt(EVP_CIPHER_CTX *ctx, const m2m_jwe *w, unsigned char *out)
{
    unsigned char chunk[CHUNK];
    size_t off = 0, o = 0, got;
    int n, ok = 0;

    if (!EVP_DecryptInit_ex2(ctx, NULL, NULL, w->iv, NULL) ||
        !EVP_DecryptUpdate(ctx, NULL, &n, (const unsigned char *)w->hdr_b64, (int)w->hdr_b64_len))
        goto crypto;
    while (off < w->ct_b64_len) {
        /* CHUNK / 3 * 4 characters: a multiple of 4, so every slice decodes on its own */
        size_t take = w->ct_b64_len - off > CHUNK / 3 * 4 ? CHUNK / 3 * 4 : w->ct_b64_len - off;

        got = m2m_b64url_decode_checked(w->ct_b64 + off, take, chunk);
        if (!EVP_DecryptUpdate(ctx, out + o, &n, chunk, (int)got))
            goto crypto;
        o += (size_t)n;
        off += take;
    }
    if (!EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, M2M_ESP_TAG_LEN, (void *)w->tag))
        goto crypto;
    if (EVP_DecryptFinal_ex(ctx, out + o, &n) <= 0) {
        ERR_clear_error(); /* the readable reason follows */
        M2M_ESP_ERR(M2MSEC_R_AUTH_FAILED,
                    "the object did not authenticate under session %s/%s "
                    "(%s): altered header, ciphertext or tag, or another key",
                    w->rri, w->ori, m2m_esp_enc_name(w->enc));
        goto end;
    }
    ok = 1;
    goto end;
crypto:
    M2M_ESP_ERR(M2MSEC_R_CRYPTO_FAILED, "%s decryption failed", m2m_esp_enc_name(w->enc));
end:
    OPENSSL_cleanse(chunk, w->ct_len < sizeof(chunk) ? w->ct_len : sizeof(chunk));
    if (!ok)
        OPENSSL_cleanse(out, w->ct_len);
    return ok;
}

/* ---------------------------------------------------------------- sealing */

static void fill_info(m2msec_esprim_info *info, const m2m_esp_session *s, int aead, int with_oro,
                      int new_session, int new_peer)
{
    if (info == NULL)
        return;
    strcpy(info->ori, s->ori);
    strcpy(info->rri, s->rri);
    info->aead = aead;
    info->with_oro = with_oro;
    info->new_session = new_session;
    info->new_peer_rand = new_peer;
}

static int input_ok(size_t inlen, size_t outcap)
{
    if (inlen == 0 || inlen > M2MSEC_ESPRIM_MAX_PRIMITIVE) {
        M2M_ESP_ERR(M2MSEC_R_INVALID_PARAMETER, "a primitive has 1..%zu bytes, not %zu",
                    (size_t)M2MSEC_ESPRIM_MAX_PRIMITIVE, inlen);
        return 0;
    }
    if (outcap < M2MSEC_ESPRIM_SEAL_SIZE(inlen)) {
        M2M_ESP_ERR(M2MSEC_R_INVALID_PARAMETER,
                    "the output buffer has %zu bytes; "
                    "M2MSEC_ESPRIM_SEAL_SIZE(%zu) = %zu are needed",
                    outcap, inlen, M2MSEC_ESPRIM_SEAL_SIZE(inlen));
        return 0;
    }
    return 1;
}

/* Originator: a new RandObject of its own for the peer, and its session. */
static m2m_esp_session *new_session(m2msec_esprim *ep, uint64_t now)
{
    m2msec_esprim_rand o;
    m2m_esp_session *s;
    int common[M2MSEC_ESPRIM_MAX_ALGS];

    memset(&o, 0, sizeof(o));
    o.role = M2MSEC_ESPRIM_ORIGINATOR;
    if (!m2m_esp_test_take_orig(o.id, o.value)) {
        do {
            if (!m2m_esp_new_id(ep->libctx, 'o', o.id))
                return NULL;
        } while (m2m_esp_cache_find(&ep->cache, ep->peer.id, o.id) != NULL);
        if (RAND_bytes_ex(ep->libctx, o.value, sizeof(o.value), 0) != 1) {
            M2M_ESP_ERR(M2MSEC_R_CRYPTO_FAILED, "the random generator failed");
            return NULL;
        }
    }
    /* TS-0003 8.4.2 B.2g: never later than the Receiver's */
    o.expiry =
        ep->rand_lifetime < ep->peer.expiry - now ? now + ep->rand_lifetime : ep->peer.expiry;
    o.keygen[0] = M2MSEC_ESPRIM_KEYGEN_HMAC_SHA256;
    o.nkeygen = 1;
    o.naead = common_aeads(ep, &ep->peer, common);
    memcpy(o.aead, common, sizeof(common));
    if (ep->cache.n >= ep->cache.max_sessions)
        purge(ep, now, 1);
    if ((s = m2m_esp_cache_add(&ep->cache, ep->peer.id, o.id, o.expiry, 0)) == NULL)
        return NULL;
    s->orig = o;
    s->have_orig = 1;
    if (!m2m_esp_derive(ep->kdf, ep->key, ep->key_len, &ep->peer, &o, s->key, sizeof(s->key))) {
        m2m_esp_session_close(&ep->cache, s);
        return NULL;
    }
    s->have_key = 1;
    return s;
}

int m2msec_esprim_seal(m2msec_esprim *ep, unsigned flags, const unsigned char *in, size_t inlen,
                       char *out, size_t outcap, size_t *outlen, m2msec_esprim_info *info)
{
    m2m_esp_session *s;
    uint64_t now;
    int aead, fresh = 0, with_oro;

    *outlen = 0;
    if (info != NULL)
        memset(info, 0, sizeof(*info));
    if (ep->role != M2MSEC_ESPRIM_ORIGINATOR) {
        M2M_ESP_ERR(M2MSEC_R_INVALID_PARAMETER, "a Receiver answers with "
                                                "m2msec_esprim_seal_reply()");
        return 0;
    }
    if (forked(ep) || !input_ok(inlen, outcap))
        goto fail;
    now = esp_now(ep);
    purge(ep, now, 0);
    if (!ep->has_peer) {
        M2M_ESP_ERR(M2MSEC_R_ESPRIM_UNKNOWN_RAND,
                    "no receiver RandObject: request one "
                    "(securityInfo type 3) and pass it to m2msec_esprim_accept()");
        goto fail;
    }
    if (ep->peer.expiry <= now) {
        M2M_ESP_ERR(M2MSEC_R_ESPRIM_EXPIRED,
                    "receiver RandObject %s expired: request a fresh "
                    "one (securityInfo type 3)",
                    ep->peer.id);
        goto fail;
    }
    s = ep->cur;
    if (s == NULL || s->closed || s->expiry <= now || s->count >= ep->max_objects ||
        strcmp(s->rri, ep->peer.id) != 0 || (flags & M2MSEC_ESPRIM_SEAL_NEW_SESSION) ||
        !m2m_esp_iv_room(&ep->cache, s)) {
        if ((s = new_session(ep, now)) == NULL)
            goto fail;
        ep->cur = s;
        fresh = 1;
    }
    aead = ep->enc != 0 && m2m_esp_has(s->orig.aead, s->orig.naead, ep->enc) ? ep->enc
                                                                             : s->orig.aead[0];
    with_oro = !s->confirmed;
    if (!seal_under(ep, s, aead, with_oro ? &s->orig : NULL, in, inlen, out, outcap, outlen))
        goto fail;
    fill_info(info, s, aead, with_oro, fresh, 0);
    return 1;
fail:
    OPENSSL_cleanse(out, outcap);
    return 0;
}

/* The session a Receiver's response goes under; NULL after an error. */
static m2m_esp_session *reply_session(m2msec_esprim *ep, const m2msec_esprim_info *rq, uint64_t now)
{
    m2m_esp_session *s = m2m_esp_cache_find(&ep->cache, rq->rri, rq->ori);

    if (s == NULL || !s->have_key) {
        M2M_ESP_ERR(s == NULL ? M2MSEC_R_ESPRIM_UNKNOWN_RAND : M2MSEC_R_ESPRIM_CLOSED,
                    "session %s/%s is %s", rq->rri, rq->ori,
                    s == NULL ? "unknown (expired, or never opened)" : "closed");
        return NULL;
    }
    if (s->closed) {
        M2M_ESP_ERR(M2MSEC_R_ESPRIM_CLOSED, "session %s/%s is closed", rq->rri, rq->ori);
        return NULL;
    }
    if (s->expiry <= now) {
        M2M_ESP_ERR(M2MSEC_R_ESPRIM_EXPIRED, "originator RandObject %s expired", rq->ori);
        return NULL;
    }
    if (!m2m_esp_has(s->orig.aead, s->orig.naead, rq->aead)) {
        M2M_ESP_ERR(M2MSEC_R_ESPRIM_NOT_OFFERED,
                    "AEAD %d is not among originator RandObject "
                    "%s's",
                    rq->aead, rq->ori);
        return NULL;
    }
    return s;
}

int m2msec_esprim_seal_reply(m2msec_esprim *ep, const m2msec_esprim_info *request,
                             const unsigned char *in, size_t inlen, char *out, size_t outcap,
                             size_t *outlen)
{
    m2m_esp_session *s;
    uint64_t now;

    *outlen = 0;
    if (ep->role != M2MSEC_ESPRIM_RECEIVER) {
        M2M_ESP_ERR(M2MSEC_R_INVALID_PARAMETER, "an Originator seals requests with "
                                                "m2msec_esprim_seal()");
        return 0;
    }
    if (forked(ep) || !input_ok(inlen, outcap))
        goto fail;
    now = esp_now(ep);
    purge(ep, now, 0);
    if ((s = reply_session(ep, request, now)) != NULL &&
        seal_under(ep, s, request->aead, NULL, in, inlen, out, outcap, outlen))
        return 1;
fail:
    OPENSSL_cleanse(out, outcap);
    return 0;
}

/* ---------------------------------------------------------------- opening */

static int check_budget(m2msec_esprim *ep, m2m_esp_session *s, const m2m_jwe *w)
{
    if (s != NULL && m2m_esp_iv_seen(s, w->iv)) {
        M2M_ESP_ERR(M2MSEC_R_ESPRIM_REPLAY,
                    "session %s/%s: this IV was sealed or accepted "
                    "before (a replayed or reflected object)",
                    w->rri, w->ori);
        return 0;
    }
    if (s != NULL && s->count >= ep->max_objects) {
        M2M_ESP_ERR(M2MSEC_R_ESPRIM_LIMIT,
                    "session %s/%s reached max_objects (%llu): seal with a "
                    "new originator RandObject",
                    w->rri, w->ori, (unsigned long long)ep->max_objects);
        return 0;
    }
    if (!m2m_esp_iv_room(&ep->cache, s)) {
        M2M_ESP_ERR(M2MSEC_R_ESPRIM_LIMIT, "the replay cache is full (max_cache) with this "
                                           "session's IVs: seal with a new originator RandObject");
        return 0;
    }
    return 1;
}

/* Receiver: checks of TS-0003 8.4.2 C.6b and C.6c.1 on a request. */
static int open_request(m2msec_esprim *ep, const m2m_jwe *w, uint64_t now, unsigned char *out,
                        m2msec_esprim_info *info)
{
    const m2msec_esprim_rand *rr = own_rand(ep, w->rri), *orig;
    m2m_esp_session *s = m2m_esp_cache_find(&ep->cache, w->rri, w->ori);
    unsigned char key[M2MSEC_ESPRIM_SESSION_KEY_LEN];
    EVP_CIPHER_CTX *ctx;
    int ok = 0;

    if (w->has_rro) {
        M2M_ESP_ERR(M2MSEC_R_JWE_BAD_HEADER, "JWE protected header: \"rro\" is sent only by the "
                                             "Receiver, never in a request");
        return 0;
    }
    if (rr == NULL) {
        M2M_ESP_ERR(M2MSEC_R_ESPRIM_UNKNOWN_RAND,
                    "receiver RandObject %s (\"rri\") is unknown "
                    "to this Receiver (never issued, or expired and forgotten): request a fresh "
                    "one (securityInfo type 3)",
                    w->rri);
        return 0;
    }
    if (rr->expiry <= now) {
        M2M_ESP_ERR(M2MSEC_R_ESPRIM_EXPIRED,
                    "receiver RandObject %s expired at %llu (now %llu): "
                    "request a fresh one (securityInfo type 3)",
                    rr->id, (unsigned long long)rr->expiry, (unsigned long long)now);
        return 0;
    }
    if (s != NULL && s->closed) {
        M2M_ESP_ERR(M2MSEC_R_ESPRIM_CLOSED,
                    "session %s/%s was closed (a restart of this "
                    "Receiver, or the replay cache limit): seal with a new originator "
                    "RandObject (M2MSEC_ESPRIM_SEAL_NEW_SESSION)",
                    w->rri, w->ori);
        return 0;
    }
    if (s != NULL) {
        if (w->has_oro && !m2m_esp_rand_equal(&w->oro, &s->orig)) {
            M2M_ESP_ERR(M2MSEC_R_JWE_BAD_HEADER,
                        "JWE protected header: \"oro\" differs from "
                        "originator RandObject %s accepted before",
                        w->ori);
            return 0;
        }
        orig = &s->orig;
    } else {
        if (!w->has_oro) {
            M2M_ESP_ERR(M2MSEC_R_ESPRIM_UNKNOWN_RAND,
                        "originator RandObject %s (\"ori\") is "
                        "unknown to this Receiver and the object does not carry it (\"oro\")",
                        w->ori);
            return 0;
        }
        if (strcmp(w->oro.id, w->ori) != 0) {
            M2M_ESP_ERR(M2MSEC_R_JWE_BAD_HEADER,
                        "JWE protected header: \"oro\" is RandObject %s "
                        "but \"ori\" names %s (in-band renewal is not supported: start the new "
                        "RandObject with its own first object)",
                        w->oro.id, w->ori);
            return 0;
        }
        orig = &w->oro;
    }
    if (orig->expiry <= now) {
        M2M_ESP_ERR(M2MSEC_R_ESPRIM_EXPIRED,
                    "originator RandObject %s expired at %llu (now "
                    "%llu)",
                    orig->id, (unsigned long long)orig->expiry, (unsigned long long)now);
        return 0;
    }
    if (orig->expiry > rr->expiry) {
        M2M_ESP_ERR(M2MSEC_R_ESPRIM_EXPIRY_ORDER,
                    "originator RandObject %s expires at %llu, "
                    "after receiver RandObject %s (%llu) (TS-0003 8.4.2 C.6b.2.i)",
                    orig->id, (unsigned long long)orig->expiry, rr->id,
                    (unsigned long long)rr->expiry);
        return 0;
    }
    if (orig->keygen[0] != M2MSEC_ESPRIM_KEYGEN_HMAC_SHA256 ||
        !m2m_esp_has(rr->keygen, rr->nkeygen, orig->keygen[0])) {
        M2M_ESP_ERR(M2MSEC_R_ESPRIM_NOT_OFFERED,
                    "originator RandObject %s: key generation "
                    "algorithm %d is not 1 offered by receiver RandObject %s (C.6b.2.ii)",
                    orig->id, orig->keygen[0], rr->id);
        return 0;
    }
    for (size_t i = 0; i < orig->naead; i++)
        if (!m2m_esp_has(rr->aead, rr->naead, orig->aead[i])) {
            M2M_ESP_ERR(M2MSEC_R_ESPRIM_NOT_OFFERED,
                        "originator RandObject %s lists AEAD %d, "
                        "which receiver RandObject %s does not offer (C.6c.1)",
                        orig->id, orig->aead[i], rr->id);
            return 0;
        }
    if (!m2m_esp_has(orig->aead, orig->naead, w->enc) ||
        !m2m_esp_has(ep->aeads, ep->naeads, w->enc)) {
        M2M_ESP_ERR(M2MSEC_R_ESPRIM_NOT_OFFERED,
                    "\"enc\" %s (esprimProtocolAndAlgID %d) is not "
                    "among the AEADs of originator RandObject %s%s (C.6c.1)",
                    enc_text(w->enc), w->enc, orig->id,
                    m2m_esp_has(orig->aead, orig->naead, w->enc) ? " accepted by this end" : "");
        return 0;
    }
    if (!check_budget(ep, s, w))
        return 0;
    if (s != NULL) {
        if ((ctx = keyed(ep, &s->dctx, &s->dctx_aead, s->key, w->enc, 0)) == NULL ||
            !decrypt(ctx, w, out))
            return 0;
    } else {
        m2m_esp_state_session *ns;

        if (ep->cache.n >= ep->cache.max_sessions)
            purge(ep, now, 1);
        if (ep->cache.n >= ep->cache.max_sessions) {
            M2M_ESP_ERR(M2MSEC_R_ESPRIM_LIMIT,
                        "%zu sessions are remembered (max_sessions): try "
                        "again later",
                        ep->cache.n);
            return 0;
        }
        if (!m2m_esp_derive(ep->kdf, ep->key, ep->key_len, rr, orig, key, sizeof(key)))
            return 0;
        ep->tmp_aead = 0;
        if ((ctx = keyed(ep, &ep->tmp, &ep->tmp_aead, key, w->enc, 0)) == NULL ||
            !decrypt(ctx, w, out))
            goto end;
        /* authentic: persist the new session before its first primitive is delivered */
        if (!ensure((void **)&ep->data.sessions, ep->data.nsessions, &ep->sessions_cap,
                    sizeof(*ns)))
            goto wipe;
        ns = &ep->data.sessions[ep->data.nsessions++];
        strcpy(ns->rri, w->rri);
        strcpy(ns->ori, w->ori);
        ns->expiry = orig->expiry;
        ep->stats.state_saves++;
        if (!m2m_esp_state_save(&ep->st, &ep->data)) {
            ep->data.nsessions--;
            goto wipe;
        }
        if ((s = m2m_esp_cache_add(&ep->cache, w->rri, w->ori, orig->expiry, 0)) == NULL)
            goto wipe;
        s->orig = *orig;
        s->have_orig = 1;
        memcpy(s->key, key, sizeof(key));
        s->have_key = 1;
        s->dctx = ep->tmp; /* keyed already: handed over */
        s->dctx_aead = ep->tmp_aead;
        ep->tmp = NULL;
        ep->tmp_aead = 0;
        if (info != NULL) {
            info->new_session = 1;
            info->with_oro = 1;
        }
    }
    if (!m2m_esp_iv_add(&ep->cache, s, w->iv))
        goto wipe;
    s->count++;
    if (info != NULL && w->has_oro)
        info->with_oro = 1;
    ok = 1;
    goto end;
wipe:
    OPENSSL_cleanse(out, w->ct_len);
end:
    OPENSSL_cleanse(key, sizeof(key));
    return ok;
}

/* Originator: a response under one of its sessions (TS-0003 8.4.2 C.11). */
static int open_response(m2msec_esprim *ep, const m2m_jwe *w, uint64_t now, unsigned char *out,
                         m2msec_esprim_info *info)
{
    m2m_esp_session *s = m2m_esp_cache_find(&ep->cache, w->rri, w->ori);
    EVP_CIPHER_CTX *ctx;

    if (w->has_oro) {
        M2M_ESP_ERR(M2MSEC_R_JWE_BAD_HEADER, "JWE protected header: \"oro\" is sent only by the "
                                             "Originator, never in a response");
        return 0;
    }
    if (s == NULL) {
        M2M_ESP_ERR(M2MSEC_R_ESPRIM_UNKNOWN_RAND,
                    "this Originator has no session with "
                    "originator RandObject %s and receiver RandObject %s (expired, or from an "
                    "earlier run)",
                    w->ori, w->rri);
        return 0;
    }
    if (s->closed) {
        M2M_ESP_ERR(M2MSEC_R_ESPRIM_CLOSED, "session %s/%s was closed (replay cache limit)", w->rri,
                    w->ori);
        return 0;
    }
    if (s->expiry <= now) {
        M2M_ESP_ERR(M2MSEC_R_ESPRIM_EXPIRED, "originator RandObject %s expired", w->ori);
        return 0;
    }
    if (!m2m_esp_has(s->orig.aead, s->orig.naead, w->enc)) {
        M2M_ESP_ERR(M2MSEC_R_ESPRIM_NOT_OFFERED,
                    "\"enc\" %s is not among the AEADs of "
                    "originator RandObject %s",
                    enc_text(w->enc), w->ori);
        return 0;
    }
    if (w->has_rro && !usable_peer(ep, &w->rro, now, "\"rro\""))
        return 0;
    if (!check_budget(ep, s, w) ||
        (ctx = keyed(ep, &s->dctx, &s->dctx_aead, s->key, w->enc, 0)) == NULL ||
        !decrypt(ctx, w, out))
        return 0;
    if (!m2m_esp_iv_add(&ep->cache, s, w->iv)) {
        OPENSSL_cleanse(out, w->ct_len);
        return 0;
    }
    s->count++;
    s->confirmed = 1; /* the Receiver knows this RandObject: "oro" is no longer sent */
    if (w->has_rro) {
        if (!(ep->has_peer && m2m_esp_rand_equal(&ep->peer, &w->rro)))
            ep->cur = NULL;
        ep->peer = w->rro;
        ep->has_peer = 1;
        if (info != NULL)
            info->new_peer_rand = 1;
    }
    return 1;
}

int m2msec_esprim_open(m2msec_esprim *ep, const char *jwe, size_t jwelen, unsigned char *out,
                       size_t outcap, size_t *outlen, m2msec_esprim_info *info)
{
    m2m_jwe w;
    uint64_t now;
    int ok = 0;

    *outlen = 0;
    if (info != NULL)
        memset(info, 0, sizeof(*info));
    if (forked(ep))
        return 0;
    if (!m2m_jwe_parse(jwe, jwelen, &w))
        goto end;
    if (strcmp(w.kid, ep->kid) != 0) {
        M2M_ESP_ERR(M2MSEC_R_ESPRIM_UNKNOWN_KID,
                    "\"kid\" %.64s is not this end's "
                    "pairwiseESPrimKey ID (%.64s) (TS-0003 8.4.2 C.6a)",
                    w.kid, ep->kid);
        goto end;
    }
    if (outcap < w.ct_len) {
        M2M_ESP_ERR(M2MSEC_R_INVALID_PARAMETER, "the primitive has %zu bytes, the buffer %zu",
                    w.ct_len, outcap);
        goto end;
    }
    now = esp_now(ep);
    purge(ep, now, 0);
    if (ep->role == M2MSEC_ESPRIM_RECEIVER)
        ok = open_request(ep, &w, now, out, info);
    else
        ok = open_response(ep, &w, now, out, info);
    if (ok) {
        *outlen = w.ct_len;
        ep->stats.opened++;
        if (info != NULL) {
            strcpy(info->ori, w.ori);
            strcpy(info->rri, w.rri);
            info->aead = w.enc;
            info->with_oro = w.has_oro;
        }
    }
end:
    OPENSSL_cleanse(&w.oro, sizeof(w.oro));
    if (!ok) {
        ep->stats.refused++;
        if (info != NULL)
            memset(info, 0, sizeof(*info));
    }
    return ok;
}

void m2msec_esprim_get_stats(const m2msec_esprim *ep, m2msec_esprim_stats *st)
{
    *st = ep->stats;
    st->sessions = ep->cache.n;
    st->open_sessions = 0;
    for (size_t i = 0; i < ep->cache.n; i++)
        if (!ep->cache.s[i]->closed)
            st->open_sessions++;
    st->ivs = ep->cache.ivs;
    st->memory = sizeof(*ep) + ep->key_len + m2m_esp_cache_memory(&ep->cache) +
                 ep->rands_cap * sizeof(m2msec_esprim_rand) +
                 ep->sessions_cap * sizeof(m2m_esp_state_session);
}
