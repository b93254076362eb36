/* SPDX-License-Identifier: Apache-2.0 */
/*
 * M2M-REC-* AEAD record ciphers: replay-checked record protection.
 *
 * Each context protects a stream of records under one key:
 *   nonce(seq) = static IV XOR u64be(seq) (right-aligned, as TLS 1.3)
 *   AAD        = u64be(epoch) || u64be(seq) || application AAD
 * Encrypting, the context assigns seq itself (0, 1, 2, ...) and a key can
 * encrypt in one context only, in the whole process (key_registry.c).
 * Decrypting, the application sets the received "seq" first; the replay
 * window (replay_window.c) refuses duplicates and too-old records before
 * any decryption work and learns the record only after its tag verifies;
 * failed decryptions count against the key's process-wide budget
 * (key_registry.c). Key lifetime and usage limits (key_limits.c) apply to
 * both directions. A context used in a forked child refuses to work
 * (fork_guard.c).
 *
 * EVP usage per record, like AES-GCM: [set seq (+tag)] -> update(out=NULL,
 * AAD) ... -> update(data) ... -> final -> [get tag]. The next update after
 * final begins the next record. docs/PROTOCOL.md section 5 has the format.
 *
 * This file is the record state machine, once for all four ciphers (the
 * states are drawn in cipher_record_local.h), with the parameters and the
 * dispatch tables. How each step reaches the inner OpenSSL cipher depends
 * on the AEAD's family, chosen once per algorithm (M2M_REC_ALG.ops):
 * cipher_record_gcm.c for AES-GCM and ChaCha20-Poly1305,
 * cipher_record_ccm.c for AES-CCM (its AAD buffering).
 */
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/prov_ssl.h>
#include <openssl/provider.h>
#include <openssl/rand.h>

#include "cipher_record_local.h"
#include "fork_guard.h"
#include "m2msec/names.h"

/* Published AEAD usage limits per key (docs/PROTOCOL.md 5.4). */
#define LIM_2_24_5 23726566ull /* floor(2^24.5): TLS 1.3 AES-GCM records */
#define LIM_2_23_5 11863283ull /* floor(2^23.5): DTLS 1.3 AES-CCM */
#define LIM_2_36 (1ull << 36)
#define LIM_2_60 (1ull << 60)
#define LIM_2_13 (1ull << 13)

const M2M_REC_ALG m2m_rec_algs[M2M_REC_NALGS] = {
    {.name = M2MSEC_REC_AES_128_GCM,
     .inner = "AES-128-GCM",
     .ops = &m2m_rec_gcm_ops,
     .mode = EVP_CIPH_GCM_MODE,
     .keylen = 16,
     .max_records = LIM_2_24_5,
     .max_bytes = LIM_2_24_5 << 14,
     .max_failures = LIM_2_36},
    {.name = M2MSEC_REC_AES_256_GCM,
     .inner = "AES-256-GCM",
     .ops = &m2m_rec_gcm_ops,
     .mode = EVP_CIPH_GCM_MODE,
     .keylen = 32,
     .max_records = LIM_2_24_5,
     .max_bytes = LIM_2_24_5 << 14,
     .max_failures = LIM_2_36},
    {.name = M2MSEC_REC_CHACHA20_POLY1305,
     .inner = "ChaCha20-Poly1305",
     .ops = &m2m_rec_gcm_ops,
     .mode = EVP_CIPH_GCM_MODE,
     .keylen = 32,
     .max_records = LIM_2_60,
     .max_bytes = LIM_2_60,
     .max_failures = LIM_2_36},
    {.name = M2MSEC_REC_AES_128_CCM,
     .inner = "AES-128-CCM",
     .ops = &m2m_rec_ccm_ops,
     .mode = EVP_CIPH_CCM_MODE,
     .keylen = 16,
     .max_records = LIM_2_23_5,
     .max_bytes = LIM_2_23_5 << 14,
     .max_failures = LIM_2_23_5,
     .short_taglen = 8,
     .short_label = M2MSEC_REC_AES_128_CCM_8,
     .short_what = "8-byte CCM tag",
     .short_max_failures = LIM_2_13},
};

/* Every function of the dispatch tables, declared with OpenSSL's own type. */
static OSSL_FUNC_cipher_freectx_fn rec_freectx;
static OSSL_FUNC_cipher_dupctx_fn rec_dupctx;
static OSSL_FUNC_cipher_encrypt_init_fn rec_einit;
static OSSL_FUNC_cipher_decrypt_init_fn rec_dinit;
static OSSL_FUNC_cipher_update_fn rec_update;
static OSSL_FUNC_cipher_final_fn rec_final;
static OSSL_FUNC_cipher_cipher_fn rec_cipher;
static OSSL_FUNC_cipher_gettable_params_fn rec_gettable_params;
static OSSL_FUNC_cipher_get_ctx_params_fn rec_get_ctx_params;
static OSSL_FUNC_cipher_gettable_ctx_params_fn rec_gettable_ctx_params;
static OSSL_FUNC_cipher_set_ctx_params_fn rec_set_ctx_params;
static OSSL_FUNC_cipher_settable_ctx_params_fn rec_settable_ctx_params;

/* What the state says (cipher_record_local.h). */
static inline int keyed(const M2M_REC_CTX *c)
{
    return c->state == REC_KEY || c->state >= REC_READY;
}

static inline int started(const M2M_REC_CTX *c)
{
    return c->state >= REC_STARTED;
}

static inline int in_record(const M2M_REC_CTX *c)
{
    return c->state >= REC_SEQ;
}

static inline int has_seq(const M2M_REC_CTX *c)
{
    return c->state >= REC_IDLE;
}

/* Is the context set for the algorithm's shorter tag (AES-128-CCM with 8 bytes)? */
static int short_tag(const M2M_REC_CTX *c)
{
    return c->alg->short_taglen != 0 && c->taglen == c->alg->short_taglen;
}

static void *rec_newctx(void *provctx, const M2M_REC_ALG *alg)
{
    M2M_PROVCTX *pc = provctx;
    const char *label = m2m_rec_base(alg)->name; /* M2M-RECAAD: its M2M-REC cipher's label */
    M2M_REC_CTX *c;

    if (!m2m_prov_usable(pc))
        return NULL;
    /* AES-128-CCM: either tag length may still be chosen; the key set checks the one chosen. */
    if (!m2m_policy_aead_allowed(&pc->policy, label, strlen(label)) &&
        !(alg->short_label != NULL &&
          m2m_policy_aead_allowed(&pc->policy, alg->short_label, strlen(alg->short_label)))) {
        M2M_RAISE(M2MSEC_R_NOT_ALLOWED, "%s is not allowed by the security policy (allowed_aeads)",
                  label);
        return NULL;
    }
    c = OPENSSL_zalloc(sizeof(*c));
    if (c == NULL) {
        M2M_RAISE(M2MSEC_R_MALLOC_FAILURE, "out of memory creating %s context", alg->name);
        return NULL;
    }
    c->pc = provctx;
    c->fn = &pc->rec_fn[m2m_rec_base(alg) - m2m_rec_algs];
    c->inner = NULL; /* created with the key */
    c->alg = alg;
    c->ops = alg->ops;
    c->state = REC_NEW;
    c->enc = -1;
    c->taglen = REC_MAXTAG;
    return c;
}

static void rec_freectx(void *vctx)
{
    M2M_REC_CTX *c = vctx;

    if (c == NULL)
        return;
    if (c->inner != NULL)
        c->fn->freectx(c->inner); /* wipes the key schedule */
    m2m_replay_free(&c->win);
    OPENSSL_clear_free(c->ccm.aad, c->ccm.aadcap);
    OPENSSL_clear_free(c, sizeof(*c));
}

static void *rec_dupctx(void *vctx)
{
    M2M_REC_CTX *c = vctx;

    M2M_RAISE(M2MSEC_R_COPY_REFUSED,
              "%s contexts cannot be copied: a copy would repeat nonces (encrypting) or "
              "accept replays (decrypting)",
              c->alg->name);
    return NULL;
}

/* The policy's cap (0: none) applied to an algorithm's limit. */
static uint64_t policy_cap(uint64_t policy, uint64_t limit)
{
    return policy != 0 && policy < limit ? policy : limit;
}

/* The default limits of a key set at `start`: the algorithm's, lowered by the policy. */
static void default_limits(const M2M_REC_CTX *c, uint64_t start, M2M_LIMITS *d)
{
    const M2M_REC_ALG *b = m2m_rec_base(c->alg);
    uint64_t failures = short_tag(c) ? b->short_max_failures : b->max_failures;
    uint64_t life = c->pc->policy.max_lifetime;

    d->max_records = policy_cap(c->pc->policy.max_records, b->max_records);
    d->max_bytes = policy_cap(c->pc->policy.max_bytes, b->max_bytes);
    d->max_failures = policy_cap(c->pc->policy.max_failures, failures);
    d->not_after = start > UINT64_MAX - life ? UINT64_MAX : start + life;
}

static int limit_ok(const M2M_REC_CTX *c, const char *name, uint64_t req, uint64_t max,
                    const char *what)
{
    if (req <= max)
        return 1;
    M2M_RAISE(M2MSEC_R_INVALID_PARAMETER,
              "%s: '%s' %llu is above %llu (%s); a limit can only be lowered", c->alg->name, name,
              (unsigned long long)req, (unsigned long long)max, what);
    return 0;
}

/*
 * Are the requested limits at or below the defaults of a key set at
 * `start`? A request above a default is refused, never clamped (0 means
 * "not requested": the default).
 */
static int limits_check(const M2M_REC_CTX *c, uint64_t start)
{
    M2M_LIMITS d;
    char failures[96];

    default_limits(c, start, &d);
    snprintf(failures, sizeof(failures), "the failed-decryption limit of the %s and policy",
             short_tag(c) ? c->alg->short_what : "cipher");
    return limit_ok(c, M2MSEC_REC_PARAM_MAX_RECORDS, c->req_records, d.max_records,
                    "the per-key record limit of the cipher and policy") &&
           limit_ok(c, M2MSEC_REC_PARAM_MAX_BYTES, c->req_bytes, d.max_bytes,
                    "the per-key byte limit of the cipher and policy") &&
           limit_ok(c, M2MSEC_REC_PARAM_MAX_FAILURES, c->req_failures, d.max_failures, failures) &&
           limit_ok(c, M2MSEC_REC_PARAM_NOT_AFTER, c->req_not_after, d.not_after,
                    "key-set time plus the policy's max_lifetime");
}

/* Effective limits: the request (checked by limits_check) or the default. */
static void rec_limits(M2M_REC_CTX *c)
{
    M2M_LIMITS d;

    default_limits(c, c->lim.start, &d);
    c->lim.max_records = c->req_records != 0 ? c->req_records : d.max_records;
    c->lim.max_bytes = c->req_bytes != 0 ? c->req_bytes : d.max_bytes;
    c->lim.max_failures = c->req_failures != 0 ? c->req_failures : d.max_failures;
    c->lim.not_after = c->req_not_after != 0 ? c->req_not_after : d.not_after;
}

#if defined(__GNUC__)
__attribute__((noinline, cold))
#endif
static int
forked_error(const M2M_REC_CTX *c)
{
    M2M_RAISE(M2MSEC_R_FORKED,
              "%s context used in a forked child: it belongs to the parent process (it would "
              "repeat its nonces or accept what it accepts); create a new context in the child "
              "(encrypting: with a new key)",
              c->alg->name);
    return 1;
}

/* A keyed context in a process other than the one that keyed it refuses everything. */
static inline int refuse_forked(const M2M_REC_CTX *c)
{
    return keyed(c) && !m2m_fork_same(c->fork_id) && forked_error(c);
}

/* Decrypting: the key's failed decryptions in the whole process, into lim.failures. */
static inline void refresh_failures(M2M_REC_CTX *c)
{
    if (keyed(c) && !c->enc)
        c->lim.failures = m2m_failures_read(&c->fails);
}

/* A record in progress that fails part-way is abandoned, and the tag set for it with it. */
static void abandon(M2M_REC_CTX *c)
{
    c->state = REC_IDLE;
    c->tag_set = 0;
}

/* Decrypting: the record did not authenticate. Count it, forget the record. */
static void rec_auth_failed(M2M_REC_CTX *c)
{
    c->lim.failures = m2m_failures_add(&c->fails); /* the key's budget, process-wide */
    abandon(c);
    M2M_RAISE(M2MSEC_R_AUTH_FAILED,
              "authentication failed: record %llu of epoch %llu is forged or "
              "corrupted",
              (unsigned long long)c->seq, (unsigned long long)c->epoch);
}

/* Apply a family's result to the record: 1 if it may go on. */
static inline int settle(M2M_REC_CTX *c, m2m_rec_result r)
{
    if (r == REC_OK)
        return 1;
    if (r == REC_FAILED)
        abandon(c);
    else if (r == REC_FORGED)
        rec_auth_failed(c);
    return 0;
}

/* At the first record (READY): freeze the limits and allocate the window. */
static int rec_start_session(M2M_REC_CTX *c)
{
    rec_limits(c);
    if (!c->enc && c->alg->base == NULL) { /* M2M-RECAAD: the window is the key's */
        uint64_t w = c->req_window != 0 ? c->req_window : c->pc->policy.replay_window;

        if (!m2m_replay_init(&c->win, w)) {
            M2M_RAISE(M2MSEC_R_MALLOC_FAILURE, "cannot allocate a replay window of %llu records",
                      (unsigned long long)w);
            return 0;
        }
    }
    c->state = REC_STARTED;
    return 1;
}

static int locked_param(const M2M_REC_CTX *c, const char *name)
{
    if (started(c)) {
        M2M_RAISE(M2MSEC_R_BAD_STATE, "'%s' can only be set before the first record", name);
        return 0;
    }
    return 1;
}

static int get_u64(const OSSL_PARAM *p, uint64_t *v)
{
    if (p->data == NULL || !OSSL_PARAM_get_uint64(p, v)) {
        M2M_RAISE(M2MSEC_R_INVALID_PARAMETER, "parameter '%s' must be an unsigned integer%s",
                  p->key, p->data == NULL ? " (its data pointer is NULL)" : "");
        return 0;
    }
    return 1;
}

static int get_size(const OSSL_PARAM *p, size_t *v)
{
    if (p->data == NULL || !OSSL_PARAM_get_size_t(p, v)) {
        M2M_RAISE(M2MSEC_R_INVALID_PARAMETER, "parameter '%s' must be an unsigned integer%s",
                  p->key, p->data == NULL ? " (its data pointer is NULL)" : "");
        return 0;
    }
    return 1;
}

#if defined(__GNUC__)
__attribute__((noinline, cold))
#endif
m2m_rec_result
m2m_rec_start_failed(const M2M_REC_CTX *c)
{
    M2M_RAISE(M2MSEC_R_CRYPTO_FAILED, "%s: cannot start record %llu", c->alg->name,
              (unsigned long long)c->seq);
    return REC_FAILED;
}

/*
 * A keyed context given its own key again: clear *key; and its own static
 * IV again: clear *iv. The init then takes neither, and what remains (a
 * new IV, a new key) follows the rules as before. Both compared with
 * CRYPTO_memcmp.
 */
static void same_key_iv(const M2M_REC_CTX *c, const unsigned char **key, size_t keylen,
                        const unsigned char **iv, size_t ivlen)
{
    if (*key != NULL && keyed(c) && keylen == c->alg->keylen &&
        CRYPTO_memcmp(*key, c->key, keylen) == 0)
        *key = NULL;
    if (*iv != NULL && (c->state == REC_IV || c->state >= REC_READY) && ivlen == REC_IVLEN &&
        CRYPTO_memcmp(*iv, c->iv, REC_IVLEN) == 0)
        *iv = NULL;
}

/*
 * A new inner AEAD context with the key (decrypting, a context given
 * another key gets a new one). On failure the context keeps the inner one
 * it had, untouched.
 */
static int inner_key(M2M_REC_CTX *c, const unsigned char *key, size_t keylen)
{
    void *old = c->inner;

    if ((c->inner = c->fn->newctx(c->fn->provctx)) == NULL) {
        c->inner = old;
        M2M_RAISE(M2MSEC_R_CRYPTO_FAILED, "cannot initialise %s", c->alg->inner);
        return 0;
    }
    if ((c->ops->key != NULL && c->ops->key(c) != REC_OK) ||
        !m2m_rec_inner_init(c, key, keylen, NULL, 0)) {
        M2M_RAISE(M2MSEC_R_CRYPTO_FAILED, "cannot set the %s key", c->alg->inner);
        c->fn->freectx(c->inner);
        c->inner = old;
        return 0;
    }
    if (old != NULL)
        c->fn->freectx(old);
    return 1;
}

static int rec_init(M2M_REC_CTX *c, const unsigned char *key, size_t keylen,
                    const unsigned char *iv, size_t ivlen, const OSSL_PARAM params[], int enc)
{
    if (refuse_forked(c))
        return 0;
    if (c->enc != -1 && c->enc != enc && keyed(c)) {
        M2M_RAISE(M2MSEC_R_BAD_STATE, "a %s context cannot change direction; create a new one",
                  c->alg->name);
        return 0;
    }
    /*
     * The key and static IV the context already has are no change: such a
     * re-init continues the sequence (next_seq stays), as a re-init
     * without them does. This is what `openssl speed -evp` and other code
     * that re-inits with the same key and IV before every message do.
     */
    same_key_iv(c, &key, keylen, &iv, ivlen);
    c->aad.hdrlen = 0; /* M2M-RECAAD: a re-init drops a partial AAD header */
    if (started(c) && (key != NULL || iv != NULL)) {
        M2M_RAISE(M2MSEC_R_BAD_STATE,
                  "%s: a context that has processed records cannot take a new key or IV; "
                  "create a new context for the next epoch",
                  c->alg->name);
        return 0;
    }
    /*
     * A re-init without key or IV abandons a record in progress - from its
     * 'seq' on - with the tag set for it, nothing more. A tag set while no
     * record was in progress stays, as OpenSSL's AEADs keep a tag set
     * before the key.
     */
    if (in_record(c))
        abandon(c);
    if (enc) {
        /* The last record's tag is no longer readable; encrypting takes no tag. */
        c->tag_set = 0;
        if (c->state == REC_SEALED)
            c->state = REC_IDLE;
    }
    c->enc = enc;
    if (!rec_set_ctx_params(c, params))
        return 0;
    if (key != NULL) {
        M2M_KEY_FP fp;
        uint64_t start = m2m_now_precise();
        /* The exact label: with an 8-byte tag, AES-128-CCM is M2M-REC-AES-128-CCM-8. */
        const char *label = short_tag(c) ? c->alg->short_label : m2m_rec_base(c->alg)->name;

        if (keylen != c->alg->keylen) {
            M2M_RAISE(M2MSEC_R_INVALID_PARAMETER, "%s needs a %zu-byte key, got %zu bytes",
                      c->alg->name, c->alg->keylen, keylen);
            return 0;
        }
        if (keyed(c) && enc) {
            M2M_RAISE(M2MSEC_R_KEY_REUSED,
                      "%s: an encrypting context takes its key once; create a new context",
                      c->alg->name);
            return 0;
        }
        if (start == UINT64_MAX) {
            M2M_RAISE(M2MSEC_R_KEY_EXPIRED, "%s: cannot read the clock; no key can be used",
                      c->alg->name);
            return 0;
        }
        if (!m2m_policy_aead_allowed(&c->pc->policy, label, strlen(label))) {
            M2M_RAISE(M2MSEC_R_NOT_ALLOWED,
                      "%s is not allowed by the security policy (allowed_aeads)", label);
            return 0;
        }
        /*
         * Refuse bad limits before the key is claimed: a refused init must
         * not burn it. M2M-RECAAD: the fingerprint is its M2M-REC cipher's,
         * so that both see one key.
         */
        if (!limits_check(c, start) ||
            !m2m_key_fingerprint(c->pc->hmac, m2m_rec_base(c->alg)->name, key, keylen, &fp))
            return 0;
        if (c->alg->base != NULL ? !m2m_rec_aad_key(c, &fp)
                                 : enc && !m2m_key_registry_claim(&fp, c->alg->name))
            return 0;
        if (!inner_key(c, key, keylen))
            return 0;
        /* NEW -> KEY, IV -> READY; KEY and READY (decrypting: another key) stay. */
        c->state = c->state == REC_IV || c->state == REC_READY ? REC_READY : REC_KEY;
        c->lim.start = start;
        memcpy(c->key, key, keylen);
        c->fork_id = m2m_fork_id();
        if (!enc)
            m2m_failures_attach(&c->fails, &fp);
        c->lim.failures = 0;
        refresh_failures(c);
    }
    if (keyed(c))
        rec_limits(c); /* readable from now on; frozen at the first record */
    if (iv != NULL) {
        if (ivlen != REC_IVLEN) {
            M2M_RAISE(M2MSEC_R_INVALID_PARAMETER, "%s needs a %d-byte static IV, got %zu bytes",
                      c->alg->name, REC_IVLEN, ivlen);
            return 0;
        }
        memcpy(c->iv, iv, REC_IVLEN);
        /* NEW -> IV, KEY -> READY; IV and READY stay (not started: checked above). */
        if (c->state == REC_NEW)
            c->state = REC_IV;
        else if (c->state == REC_KEY)
            c->state = REC_READY;
    }
    return 1;
}

static int rec_einit(void *vctx, const unsigned char *key, size_t keylen, const unsigned char *iv,
                     size_t ivlen, const OSSL_PARAM params[])
{
    return rec_init(vctx, key, keylen, iv, ivlen, params, 1);
}

static int rec_dinit(void *vctx, const unsigned char *key, size_t keylen, const unsigned char *iv,
                     size_t ivlen, const OSSL_PARAM params[])
{
    return rec_init(vctx, key, keylen, iv, ivlen, params, 0);
}

/* Big-endian store; one byte swap and one 8-byte store where the compiler knows how. */
static void put_u64(unsigned char *p, uint64_t v)
{
#if defined(__GNUC__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    v = __builtin_bswap64(v);
    memcpy(p, &v, sizeof(v));
#else
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (unsigned char)v;
#endif
}

static int refuse_expired(M2M_REC_CTX *c, size_t len)
{
    M2M_LIMITS l = c->lim;
    const char *why;

    /*
     * Encrypting, the record in progress was counted (and checked against
     * max-records) when it began: do not count it again for its data.
     */
    if (c->enc && in_record(c) && l.records > 0)
        l.records--;
    why = m2m_limits_refuse(&l, c->now, len);
    if (why == NULL)
        return 0;
    if (c->enc)
        M2M_RAISE(M2MSEC_R_KEY_EXPIRED, "session key expired: %s (epoch %llu)", why,
                  (unsigned long long)c->epoch);
    else
        M2M_RAISE(M2MSEC_R_KEY_EXPIRED,
                  "session key expired: %s (epoch %llu; %llu of %llu failed decryptions of this "
                  "key, counted over all its contexts in this process)",
                  why, (unsigned long long)c->epoch, (unsigned long long)l.failures,
                  (unsigned long long)l.max_failures);
    return 1;
}

/*
 * At a record's start: read the clock, and the key's failed decryptions in
 * the whole process (not this context's), for this record.
 */
static int refuse_expired_now(M2M_REC_CTX *c, size_t len)
{
    c->now = m2m_now();
    refresh_failures(c);
    return refuse_expired(c, len);
}

int m2m_rec_start(M2M_REC_CTX *c)
{
    return started(c) || rec_start_session(c);
}

/*
 * Begin a record (-> BEGUN): its sequence number, nonce and epoch || seq
 * prefix. M2M-RECAAD: c->epoch and c->seq come from the record's AAD, the
 * key's state has checked them (cipher_record_aad.c).
 */
int m2m_rec_begin(M2M_REC_CTX *c)
{
    unsigned char nonce[REC_IVLEN];
    int ok;

    if (c->state < REC_READY) {
        M2M_RAISE(M2MSEC_R_BAD_STATE, "%s: set the key and the 12-byte static IV first",
                  c->alg->name);
        return 0;
    }
    if (!started(c) && !rec_start_session(c))
        return 0;
    if (c->alg->base != NULL) {
        /* M2M-RECAAD: checked and counted by the key's state */
    } else if (c->enc) {
        if (refuse_expired_now(c, 0))
            return 0;
        c->seq = c->next_seq++;
        c->lim.records++; /* a started record consumes its sequence number */
    } else if (c->state != REC_SEQ) {
        M2M_RAISE(M2MSEC_R_BAD_STATE,
                  "%s: set the record's sequence number ('" M2MSEC_REC_PARAM_SEQ "') first",
                  c->alg->name);
        return 0;
    }
    put_u64(c->prefix, c->epoch);
    put_u64(c->prefix + 8, c->seq);
    /* From here on a failure abandons the record: its sequence number is used up. */
    if (c->ops->begin != NULL && c->ops->begin(c) != REC_OK) {
        abandon(c);
        return 0;
    }
    /* nonce = IV XOR (0^32 || u64be(seq)), in 8-byte words */
    {
        uint64_t lo, sq;

        memcpy(&lo, c->iv + REC_IVLEN - 8, 8);
        memcpy(&sq, c->prefix + 8, 8);
        lo ^= sq;
        memcpy(nonce, c->iv, REC_IVLEN - 8);
        memcpy(nonce + REC_IVLEN - 8, &lo, 8);
    }
    /* The nonce is public (the header carries seq): nothing to wipe. */
    ok = m2m_rec_inner_init(c, NULL, 0, nonce, REC_IVLEN);
    if (!ok) {
        m2m_rec_start_failed(c);
        abandon(c);
        return 0;
    }
    c->state = REC_BEGUN;
    return 1;
}

static int rec_update(void *vctx, unsigned char *out, size_t *outl, size_t outsize,
                      const unsigned char *in, size_t inl)
{
    M2M_REC_CTX *c = vctx;
    int n = 0;

    *outl = 0;
    if (refuse_forked(c))
        return 0;
    /*
     * Nothing to do, as in OpenSSL's AEADs: an update of zero bytes, except
     * for a family that takes the data length (CCM), where only
     * update(out, NULL, 0) - its "finish" - is empty.
     */
    if (inl == 0 && (c->ops->msglen == NULL || (in == NULL && out != NULL)))
        return 1;
    if (in == NULL && inl > 0 && (out != NULL || c->ops->msglen == NULL)) {
        /* Refused before the record begins: nothing changes. */
        if (out != NULL)
            M2M_RAISE(M2MSEC_R_INVALID_PARAMETER, "%s: the input is NULL but its length is %zu",
                      c->alg->name, inl);
        else
            M2M_RAISE(M2MSEC_R_INVALID_PARAMETER,
                      "%s: update(out = NULL, in = NULL, %zu) announces a CCM message length; "
                      "%s takes none (give AAD with out = NULL, data with both buffers)",
                      c->alg->name, inl, c->alg->name);
        return 0;
    }
    if (inl > INT_MAX) {
        M2M_RAISE(M2MSEC_R_INVALID_PARAMETER, "record too long");
        return 0;
    }
    if (c->state < REC_BEGUN) {
        if (c->alg->base != NULL) /* M2M-RECAAD: the record begins with its AAD header */
            return m2m_rec_aad_update(c, out, outl, outsize, in, inl);
        if (!m2m_rec_begin(c))
            return 0;
    }
    if (in == NULL && out == NULL) /* the data length: only where msglen is not NULL (above) */
        return settle(c, c->ops->msglen(c, inl));
    if (out == NULL) { /* AAD */
        if (c->state == REC_DATA) {
            M2M_RAISE(M2MSEC_R_BAD_STATE, "%s: AAD must come before the record data", c->alg->name);
            return 0;
        }
        if (!settle(c, c->ops->aad(c, in, inl)))
            return 0;
        c->state = REC_AAD;
        return 1;
    }
    if (outsize < inl) {
        M2M_RAISE(M2MSEC_R_INVALID_PARAMETER, "output buffer too small");
        return 0;
    }
    if (c->ops->data_ok != NULL && !settle(c, c->ops->data_ok(c, inl)))
        return 0;
    /*
     * The record's start checked every limit with this record's clock
     * reading (c->now); what can have moved since is its bytes, and the
     * failure count a get_params may have refreshed. Only then the full
     * check, which names the limit reached.
     */
    if ((inl > c->lim.max_bytes - c->lim.bytes || c->lim.failures >= c->lim.max_failures ||
         c->now >= c->lim.not_after) &&
        refuse_expired(c, inl)) {
        abandon(c);
        return 0;
    }
    if (c->alg->base != NULL && !m2m_rec_aad_bytes(c, inl)) { /* the key's bytes, process-wide */
        abandon(c);
        return 0;
    }
    c->lim.bytes += inl; /* a forged record's bytes count too (docs/PROTOCOL.md 5.3) */
    if (!settle(c, c->ops->data(c, out, &n, in, inl)))
        return 0;
    c->state = REC_DATA;
    *outl = (size_t)n;
    return 1;
}

int m2m_rec_update(M2M_REC_CTX *c, unsigned char *out, size_t *outl, size_t outsize,
                   const unsigned char *in, size_t inl)
{
    return rec_update(c, out, outl, outsize, in, inl);
}

static int rec_final(void *vctx, unsigned char *out, size_t *outl, size_t outsize)
{
    M2M_REC_CTX *c = vctx;
    unsigned char fin[EVP_MAX_BLOCK_LENGTH];
    size_t n = 0;

    (void)out;
    (void)outsize;
    *outl = 0;
    if (refuse_forked(c))
        return 0;
    if (c->state < REC_BEGUN &&
        (c->alg->base != NULL ? !m2m_rec_aad_early_final(c) /* no AAD header: refused */
                              : !m2m_rec_begin(c)))         /* an empty record: begin it now */
        return 0;
    if (c->state != REC_DATA && !settle(c, c->ops->finish(c)))
        return 0;
    if (!c->enc && !c->ops->tag_at_begin) {
        if (!c->tag_set) {
            M2M_RAISE(M2MSEC_R_BAD_STATE, "%s: set the record's tag before final", c->alg->name);
            abandon(c);
            return 0;
        }
        if (!m2m_rec_inner_tag(c, 1))
            return settle(c, M2M_REC_FAIL(c, "cannot set tag"));
    }
    /*
     * The AEADs write nothing at final; a buffer of our own, since the
     * caller's may be NULL (EVP_Cipher(ctx, NULL, NULL, 0)), which the
     * stock CCM would take for a message-length call.
     */
    if (!c->fn->final(c->inner, fin, &n, sizeof(fin)))
        return settle(c, c->enc ? M2M_REC_FAIL(c, "final failed") : REC_FORGED);
    if (c->enc) {
        if (!m2m_rec_inner_tag(c, 0))
            return settle(c, M2M_REC_FAIL(c, "cannot read tag"));
        c->state = REC_SEALED;
    } else {
        /* Authenticated: only now does the window learn this record. */
        if (c->alg->base != NULL) {
            if (!m2m_rec_aad_accept(c)) { /* the key's window, shared by its contexts */
                abandon(c);
                return 0;
            }
        } else {
            m2m_replay_update(&c->win, c->seq);
        }
        c->lim.records++;
        c->tag_set = 0;
        c->state = REC_IDLE;
    }
    return 1;
}

/*
 * EVP_Cipher(): input is an update, NULL input finishes the record (as
 * OpenSSL's AEADs do); *outl is the input length, as theirs.
 */
static int rec_cipher(void *vctx, unsigned char *out, size_t *outl, size_t outsize,
                      const unsigned char *in, size_t inl)
{
    size_t n = 0;

    *outl = 0;
    if (in == NULL && inl == 0)
        return rec_final(vctx, out, outl, outsize);
    if (!rec_update(vctx, out, &n, outsize, in, inl))
        return 0;
    *outl = inl;
    return 1;
}

/* Decrypting: the received record's sequence number (-> SEQ), checked before any decryption. */
static int rec_set_seq(M2M_REC_CTX *c, uint64_t seq)
{
    if (c->alg->base != NULL)
        return m2m_rec_aad_seq_refused(c);
    if (c->enc) {
        M2M_RAISE(
            M2MSEC_R_BAD_STATE,
            "%s: an encrypting context assigns sequence numbers itself; '" M2MSEC_REC_PARAM_SEQ
            "' is read-only",
            c->alg->name);
        return 0;
    }
    if (refuse_forked(c))
        return 0;
    if (c->state < REC_READY) {
        M2M_RAISE(M2MSEC_R_BAD_STATE, "%s: set the key and the 12-byte static IV first",
                  c->alg->name);
        return 0;
    }
    if (!started(c) && !rec_start_session(c))
        return 0;
    /* A new seq abandons a record in progress, with its tag; a tag set before it stays. */
    if (in_record(c))
        abandon(c);
    if (refuse_expired_now(c, 0)) {
        c->tag_set = 0; /* a refused record takes its tag with it */
        return 0;
    }
    switch (m2m_replay_check(&c->win, seq)) {
    case M2M_REPLAY_DUP:
        c->tag_set = 0;
        M2M_RAISE(M2MSEC_R_REPLAYED_RECORD,
                  "replayed record: sequence %llu of epoch %llu was "
                  "already accepted",
                  (unsigned long long)seq, (unsigned long long)c->epoch);
        return 0;
    case M2M_REPLAY_TOO_OLD:
        c->tag_set = 0;
        M2M_RAISE(M2MSEC_R_OUTSIDE_WINDOW,
                  "record outside replay window: sequence %llu is %llu "
                  "or more below the highest accepted (%llu)",
                  (unsigned long long)seq, (unsigned long long)c->win.window,
                  (unsigned long long)c->win.last);
        return 0;
    case M2M_REPLAY_OK:
        break;
    }
    c->seq = seq;
    c->state = REC_SEQ;
    return 1;
}

/* The settable parameters, in the order they are applied. */
enum {
    S_EPOCH,
    S_MAX_RECORDS,
    S_MAX_BYTES,
    S_MAX_FAILURES,
    S_NOT_AFTER,
    S_WINDOW,
    S_TAGLEN,
    S_IVLEN,
    S_KEYLEN,
    S_SEQ,
    S_TAG,
    S_COUNT
};

static int set_limit(M2M_REC_CTX *c, const OSSL_PARAM *p, uint64_t *field)
{
    return p == NULL || (locked_param(c, p->key) && get_u64(p, field));
}

/* The tag length: 16, or the algorithm's shorter one (AES-CCM: 8); a change only before the key. */
static int apply_taglen(M2M_REC_CTX *c, const char *name, size_t t)
{
    size_t short_len = c->alg->short_taglen;

    if (t == c->taglen)
        return 1; /* no change: fine at any time */
    if (!locked_param(c, name))
        return 0;
    if (t != REC_MAXTAG && (short_len == 0 || t != short_len)) {
        if (short_len != 0)
            M2M_RAISE(M2MSEC_R_INVALID_PARAMETER, "%s: tag length %zu is not supported (%zu or %d)",
                      c->alg->name, t, short_len, REC_MAXTAG);
        else
            M2M_RAISE(M2MSEC_R_INVALID_PARAMETER, "%s: tag length %zu is not supported (%d)",
                      c->alg->name, t, REC_MAXTAG);
        return 0;
    }
    if (keyed(c)) {
        M2M_RAISE(M2MSEC_R_BAD_STATE, "%s: set the tag length before the key", c->alg->name);
        return 0;
    }
    c->taglen = t;
    return 1;
}

static int set_tag(M2M_REC_CTX *c, const OSSL_PARAM *p)
{
    if (p->data_type != OSSL_PARAM_OCTET_STRING) {
        M2M_RAISE(M2MSEC_R_INVALID_PARAMETER, "%s: the tag must be an octet string", c->alg->name);
        return 0;
    }
    /*
     * A tag without data is a tag length, as the stock AES-CCM and
     * ChaCha20-Poly1305 take it: EVP_CIPHER_CTX_ctrl(ctx,
     * EVP_CTRL_AEAD_SET_TAG, len, NULL), in either direction.
     */
    if (p->data == NULL)
        return apply_taglen(c, p->key, p->data_size);
    if (c->enc) {
        M2M_RAISE(M2MSEC_R_BAD_STATE, "%s: the tag is set only when decrypting", c->alg->name);
        return 0;
    }
    if (p->data_size != c->taglen) {
        M2M_RAISE(M2MSEC_R_INVALID_PARAMETER, "%s: the tag must be %zu bytes", c->alg->name,
                  c->taglen);
        return 0;
    }
    if (c->ops->tag_at_begin && c->state >= REC_BEGUN) {
        /* CCM took its tag when the record began; a later one would be ignored. */
        M2M_RAISE(M2MSEC_R_BAD_STATE, "%s: set the tag before the record's first update",
                  c->alg->name);
        return 0;
    }
    memcpy(c->tag, p->data, c->taglen);
    c->tag_set = 1;
    return 1;
}

static int set_taglen(M2M_REC_CTX *c, const OSSL_PARAM *p)
{
    size_t t;

    return get_size(p, &t) && apply_taglen(c, p->key, t);
}

/* IV length and key length are fixed: the same value is accepted, any other refused. */
static int set_fixed(const M2M_REC_CTX *c, const OSSL_PARAM *p, size_t fixed, const char *what)
{
    size_t v;

    if (!get_size(p, &v))
        return 0;
    if (v != fixed) {
        M2M_RAISE(M2MSEC_R_INVALID_PARAMETER, "%s: the %s is %zu bytes, not %zu", c->alg->name,
                  what, fixed, v);
        return 0;
    }
    return 1;
}

static int set_window(M2M_REC_CTX *c, const OSSL_PARAM *p)
{
    uint64_t v;

    if (!locked_param(c, p->key) || !get_u64(p, &v))
        return 0;
    if (v < M2M_REPLAY_MIN || v > M2M_REPLAY_MAX) {
        M2M_RAISE(M2MSEC_R_INVALID_PARAMETER, "replay window %llu is outside %u..%u records",
                  (unsigned long long)v, M2M_REPLAY_MIN, M2M_REPLAY_MAX);
        return 0;
    }
    c->req_window = v;
    return 1;
}

/*
 * Parameters of OpenSSL's TLS record layer that would change what update
 * means (an explicit nonce in the data, the tag appended to it, a MAC key):
 * the record format here is fixed (docs/PROTOCOL.md 5.1), so they are
 * refused rather than ignored.
 */
static int refuse_tls_param(const M2M_REC_CTX *c, const char *name)
{
    static const char *const tls[] = {
        OSSL_CIPHER_PARAM_AEAD_TLS1_AAD,
        OSSL_CIPHER_PARAM_AEAD_TLS1_IV_FIXED,
        OSSL_CIPHER_PARAM_AEAD_TLS1_SET_IV_INV,
        OSSL_CIPHER_PARAM_AEAD_MAC_KEY,
        OSSL_CIPHER_PARAM_TLS_VERSION,
        OSSL_CIPHER_PARAM_TLS_MAC_SIZE,
        OSSL_CIPHER_PARAM_TLS1_MULTIBLOCK_MAX_SEND_FRAGMENT,
        OSSL_CIPHER_PARAM_TLS1_MULTIBLOCK_AAD,
        OSSL_CIPHER_PARAM_TLS1_MULTIBLOCK_ENC_IN,
        OSSL_CIPHER_PARAM_TLS1_MULTIBLOCK_ENC,
    };

    for (size_t i = 0; i < sizeof(tls) / sizeof(tls[0]); i++)
        if (strcmp(name, tls[i]) == 0) {
            M2M_RAISE(M2MSEC_R_INVALID_PARAMETER,
                      "%s: parameter '%s' (TLS record mode) is not supported: records have the "
                      "fixed M2M-REC format",
                      c->alg->name, name);
            return 1;
        }
    return 0;
}

/*
 * The one settable parameter a name can be, from its first characters (a
 * switch, no search); -1 if none. The caller confirms with one strcmp.
 */
static int param_index(const char *k)
{
    switch (k[0]) {
    case 's':
        return S_SEQ;
    case 't':
        return k[1] == 'a' && k[2] == 'g' && k[3] == '\0' ? S_TAG : S_TAGLEN;
    case 'e':
        return S_EPOCH;
    case 'r':
        return S_WINDOW;
    case 'n':
        return S_NOT_AFTER;
    case 'i':
        return S_IVLEN;
    case 'k':
        return S_KEYLEN;
    case 'm':
        if (strncmp(k, "max-", 4) != 0)
            return -1;
        return k[4] == 'r' ? S_MAX_RECORDS : k[4] == 'b' ? S_MAX_BYTES : S_MAX_FAILURES;
    default:
        return -1;
    }
}

/*
 * One pass over the caller's parameters (this runs for every record:
 * 'seq' and the tag first), then apply them in a fixed order so that the
 * tag may come before or after 'seq'. Other parameters are ignored, as
 * OpenSSL's ciphers do, except the TLS record-layer ones.
 */
static int rec_set_ctx_params(void *vctx, const OSSL_PARAM params[])
{
    static const char *const names[S_COUNT] = {
        [S_EPOCH] = M2MSEC_REC_PARAM_EPOCH,
        [S_MAX_RECORDS] = M2MSEC_REC_PARAM_MAX_RECORDS,
        [S_MAX_BYTES] = M2MSEC_REC_PARAM_MAX_BYTES,
        [S_MAX_FAILURES] = M2MSEC_REC_PARAM_MAX_FAILURES,
        [S_NOT_AFTER] = M2MSEC_REC_PARAM_NOT_AFTER,
        [S_WINDOW] = M2MSEC_REC_PARAM_REPLAY_WINDOW,
        [S_TAGLEN] = OSSL_CIPHER_PARAM_AEAD_TAGLEN,
        [S_IVLEN] = OSSL_CIPHER_PARAM_AEAD_IVLEN,
        [S_KEYLEN] = OSSL_CIPHER_PARAM_KEYLEN,
        [S_SEQ] = M2MSEC_REC_PARAM_SEQ,
        [S_TAG] = OSSL_CIPHER_PARAM_AEAD_TAG,
    };
    const OSSL_PARAM *got[S_COUNT] = {NULL};
    M2M_REC_CTX *c = vctx;
    int limits = 0;
    uint64_t v;

    if (params == NULL)
        return 1;
    for (const OSSL_PARAM *p = params; p->key != NULL; p++) {
        int i = param_index(p->key);

        if (i >= 0 && strcmp(p->key, names[i]) == 0) {
            got[i] = p;
            limits |= i < S_SEQ;
        } else if (refuse_tls_param(c, p->key)) {
            return 0;
        }
    }
    if (limits) {
        /* All or nothing: a refused request leaves every setting as it was. */
        uint64_t saved[6] = {c->epoch,        c->req_records,   c->req_bytes,
                             c->req_failures, c->req_not_after, c->req_window};
        size_t saved_taglen = c->taglen;

        if (!set_limit(c, got[S_EPOCH], &c->epoch) ||
            !set_limit(c, got[S_MAX_RECORDS], &c->req_records) ||
            !set_limit(c, got[S_MAX_BYTES], &c->req_bytes) ||
            !set_limit(c, got[S_MAX_FAILURES], &c->req_failures) ||
            !set_limit(c, got[S_NOT_AFTER], &c->req_not_after) ||
            (got[S_WINDOW] != NULL && !set_window(c, got[S_WINDOW])) ||
            (got[S_TAGLEN] != NULL && !set_taglen(c, got[S_TAGLEN])) ||
            (got[S_IVLEN] != NULL && !set_fixed(c, got[S_IVLEN], REC_IVLEN, "nonce (IV) length")) ||
            (got[S_KEYLEN] != NULL && !set_fixed(c, got[S_KEYLEN], c->alg->keylen, "key length")) ||
            /* above a default: an error, never a clamp (unkeyed, the key's time is now) */
            (!started(c) && !limits_check(c, keyed(c) ? c->lim.start : m2m_now_precise()))) {
            c->epoch = saved[0];
            c->req_records = saved[1];
            c->req_bytes = saved[2];
            c->req_failures = saved[3];
            c->req_not_after = saved[4];
            c->req_window = saved[5];
            c->taglen = saved_taglen;
            return 0;
        }
        if (keyed(c) && !started(c))
            rec_limits(c);
    }
    if (got[S_SEQ] != NULL && (!get_u64(got[S_SEQ], &v) || !rec_set_seq(c, v)))
        return 0;
    return got[S_TAG] == NULL || set_tag(c, got[S_TAG]);
}

static const OSSL_PARAM rec_settable[] = {
    OSSL_PARAM_uint64(M2MSEC_REC_PARAM_SEQ, NULL),
    OSSL_PARAM_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, NULL, 0),
    OSSL_PARAM_size_t(OSSL_CIPHER_PARAM_AEAD_TAGLEN, NULL),
    OSSL_PARAM_size_t(OSSL_CIPHER_PARAM_AEAD_IVLEN, NULL),
    OSSL_PARAM_size_t(OSSL_CIPHER_PARAM_KEYLEN, NULL),
    OSSL_PARAM_uint64(M2MSEC_REC_PARAM_EPOCH, NULL),
    OSSL_PARAM_uint64(M2MSEC_REC_PARAM_REPLAY_WINDOW, NULL),
    OSSL_PARAM_uint64(M2MSEC_REC_PARAM_MAX_RECORDS, NULL),
    OSSL_PARAM_uint64(M2MSEC_REC_PARAM_MAX_BYTES, NULL),
    OSSL_PARAM_uint64(M2MSEC_REC_PARAM_MAX_FAILURES, NULL),
    OSSL_PARAM_uint64(M2MSEC_REC_PARAM_NOT_AFTER, NULL),
    OSSL_PARAM_END,
};

static const OSSL_PARAM *rec_settable_ctx_params(void *vctx, void *provctx)
{
    (void)vctx;
    (void)provctx;
    return rec_settable;
}

/*
 * EVP_CIPHER_CTX_rand_key(): a fresh key from the private DRBG (of the
 * provider's library context). `openssl speed -evp` keys its contexts so;
 * without it each would get whatever its buffer held, and the second
 * context with the same bytes would be refused by the key registry.
 */
static int random_key(const M2M_REC_CTX *c, OSSL_PARAM *p)
{
    if (p->data_type != OSSL_PARAM_OCTET_STRING || p->data == NULL ||
        p->data_size < c->alg->keylen) {
        M2M_RAISE(M2MSEC_R_INVALID_PARAMETER, "%s: '%s' needs an octet string of %zu bytes",
                  c->alg->name, p->key, c->alg->keylen);
        return 0;
    }
    if (RAND_priv_bytes_ex(c->pc->libctx, p->data, c->alg->keylen, 0) != 1) {
        M2M_RAISE(M2MSEC_R_CRYPTO_FAILED, "%s: cannot generate a random key", c->alg->name);
        return 0;
    }
    p->return_size = c->alg->keylen;
    return 1;
}

/* Fill one gettable parameter; 1 if handled (or unknown), 0 on error. */
static int get_one(M2M_REC_CTX *c, OSSL_PARAM *p)
{
    const char *k = p->key;

    /* Per record: the tag and 'seq' first. */
    if (strcmp(k, OSSL_CIPHER_PARAM_AEAD_TAG) == 0) {
        if (c->state != REC_SEALED || p->data_size < c->taglen) {
            M2M_RAISE(M2MSEC_R_BAD_STATE,
                      "%s: the tag is readable after an encrypting final, "
                      "into a buffer of %zu bytes",
                      c->alg->name, c->taglen);
            return 0;
        }
        return OSSL_PARAM_set_octet_string(p, c->tag, c->taglen);
    }
    if (strcmp(k, M2MSEC_REC_PARAM_SEQ) == 0) {
        if (!has_seq(c)) {
            M2M_RAISE(M2MSEC_R_BAD_STATE, "%s: no record yet, so no '" M2MSEC_REC_PARAM_SEQ "'",
                      c->alg->name);
            return 0;
        }
        return OSSL_PARAM_set_uint64(p, c->seq);
    }
    if (strcmp(k, M2MSEC_REC_PARAM_NEXT_SEQ) == 0)
        return OSSL_PARAM_set_uint64(p, c->next_seq);
    if (strcmp(k, OSSL_CIPHER_PARAM_KEYLEN) == 0)
        return OSSL_PARAM_set_size_t(p, c->alg->keylen);
    if (strcmp(k, OSSL_CIPHER_PARAM_IVLEN) == 0)
        return OSSL_PARAM_set_size_t(p, REC_IVLEN);
    if (strcmp(k, OSSL_CIPHER_PARAM_AEAD_TAGLEN) == 0)
        return OSSL_PARAM_set_size_t(p, c->taglen);
    if (strcmp(k, M2MSEC_REC_PARAM_REKEY_NEEDED) == 0)
        return OSSL_PARAM_set_int(p, keyed(c) && m2m_limits_soft(&c->lim, m2m_now()));
    if (strcmp(k, M2MSEC_REC_PARAM_EXPIRED) == 0)
        return OSSL_PARAM_set_int(p, keyed(c) && m2m_limits_refuse(&c->lim, m2m_now(), 0) != NULL);
    if (strcmp(k, M2MSEC_REC_PARAM_EPOCH) == 0)
        return OSSL_PARAM_set_uint64(p, c->epoch);
    if (strcmp(k, M2MSEC_REC_PARAM_RECORDS) == 0)
        return OSSL_PARAM_set_uint64(p, c->lim.records);
    if (strcmp(k, M2MSEC_REC_PARAM_BYTES) == 0)
        return OSSL_PARAM_set_uint64(p, c->lim.bytes);
    if (strcmp(k, M2MSEC_REC_PARAM_FAILURES) == 0)
        return OSSL_PARAM_set_uint64(p, c->lim.failures);
    if (strcmp(k, M2MSEC_REC_PARAM_MAX_RECORDS) == 0)
        return OSSL_PARAM_set_uint64(p, keyed(c) ? c->lim.max_records : 0);
    if (strcmp(k, M2MSEC_REC_PARAM_MAX_BYTES) == 0)
        return OSSL_PARAM_set_uint64(p, keyed(c) ? c->lim.max_bytes : 0);
    if (strcmp(k, M2MSEC_REC_PARAM_MAX_FAILURES) == 0)
        return OSSL_PARAM_set_uint64(p, keyed(c) ? c->lim.max_failures : 0);
    if (strcmp(k, M2MSEC_REC_PARAM_NOT_AFTER) == 0)
        return OSSL_PARAM_set_uint64(p, keyed(c) ? c->lim.not_after : 0);
    if (strcmp(k, M2MSEC_REC_PARAM_REPLAY_WINDOW) == 0)
        return OSSL_PARAM_set_uint64(p, c->win.window);
    if (strcmp(k, M2MSEC_REC_PARAM_MEMORY) == 0)
        return OSSL_PARAM_set_uint64(p, sizeof(*c) + m2m_replay_heap_size(&c->win) + c->ccm.aadcap);
    if (strcmp(k, OSSL_CIPHER_PARAM_RANDOM_KEY) == 0)
        return random_key(c, p);
    if (strcmp(k, OSSL_CIPHER_PARAM_IV) == 0 || strcmp(k, OSSL_CIPHER_PARAM_UPDATED_IV) == 0) {
        /* EVP_CIPHER_CTX_get_original_iv/get_updated_iv: no single IV to hand out. */
        M2M_RAISE(M2MSEC_R_INVALID_PARAMETER,
                  "%s: '%s' is not available: each record's nonce is the static IV XOR its "
                  "sequence number (read '" M2MSEC_REC_PARAM_SEQ "')",
                  c->alg->name, k);
        return 0;
    }
    return 1; /* not ours: leave it alone, as OSSL_PARAM_locate-based code would */
}

static int rec_get_ctx_params(void *vctx, OSSL_PARAM params[])
{
    if (params == NULL)
        return 1;
    refresh_failures(vctx); /* failures, rekey-needed and expired count the whole process */
    for (OSSL_PARAM *p = params; p->key != NULL; p++)
        if (!get_one(vctx, p))
            return 0;
    return 1;
}

static const OSSL_PARAM rec_gettable[] = {
    OSSL_PARAM_size_t(OSSL_CIPHER_PARAM_KEYLEN, NULL),
    OSSL_PARAM_size_t(OSSL_CIPHER_PARAM_IVLEN, NULL),
    OSSL_PARAM_size_t(OSSL_CIPHER_PARAM_AEAD_TAGLEN, NULL),
    OSSL_PARAM_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, NULL, 0),
    OSSL_PARAM_uint64(M2MSEC_REC_PARAM_SEQ, NULL),
    OSSL_PARAM_uint64(M2MSEC_REC_PARAM_NEXT_SEQ, NULL),
    OSSL_PARAM_uint64(M2MSEC_REC_PARAM_EPOCH, NULL),
    OSSL_PARAM_int(M2MSEC_REC_PARAM_REKEY_NEEDED, NULL),
    OSSL_PARAM_int(M2MSEC_REC_PARAM_EXPIRED, NULL),
    OSSL_PARAM_uint64(M2MSEC_REC_PARAM_RECORDS, NULL),
    OSSL_PARAM_uint64(M2MSEC_REC_PARAM_BYTES, NULL),
    OSSL_PARAM_uint64(M2MSEC_REC_PARAM_FAILURES, NULL),
    OSSL_PARAM_uint64(M2MSEC_REC_PARAM_MAX_RECORDS, NULL),
    OSSL_PARAM_uint64(M2MSEC_REC_PARAM_MAX_BYTES, NULL),
    OSSL_PARAM_uint64(M2MSEC_REC_PARAM_MAX_FAILURES, NULL),
    OSSL_PARAM_uint64(M2MSEC_REC_PARAM_NOT_AFTER, NULL),
    OSSL_PARAM_uint64(M2MSEC_REC_PARAM_REPLAY_WINDOW, NULL),
    OSSL_PARAM_uint64(M2MSEC_REC_PARAM_MEMORY, NULL),
    OSSL_PARAM_octet_string(OSSL_CIPHER_PARAM_RANDOM_KEY, NULL, 0),
    OSSL_PARAM_END,
};

static const OSSL_PARAM *rec_gettable_ctx_params(void *vctx, void *provctx)
{
    (void)vctx;
    (void)provctx;
    return rec_gettable;
}

static int rec_get_params(const M2M_REC_ALG *alg, OSSL_PARAM params[])
{
    OSSL_PARAM *p;

    if ((p = OSSL_PARAM_locate(params, OSSL_CIPHER_PARAM_MODE)) != NULL &&
        !OSSL_PARAM_set_uint(p, alg->mode))
        return 0;
    if ((p = OSSL_PARAM_locate(params, OSSL_CIPHER_PARAM_AEAD)) != NULL &&
        !OSSL_PARAM_set_int(p, 1))
        return 0;
    if ((p = OSSL_PARAM_locate(params, OSSL_CIPHER_PARAM_CUSTOM_IV)) != NULL &&
        !OSSL_PARAM_set_int(p, 1))
        return 0;
    if ((p = OSSL_PARAM_locate(params, OSSL_CIPHER_PARAM_KEYLEN)) != NULL &&
        !OSSL_PARAM_set_size_t(p, alg->keylen))
        return 0;
    if ((p = OSSL_PARAM_locate(params, OSSL_CIPHER_PARAM_IVLEN)) != NULL &&
        !OSSL_PARAM_set_size_t(p, REC_IVLEN))
        return 0;
    if ((p = OSSL_PARAM_locate(params, OSSL_CIPHER_PARAM_BLOCK_SIZE)) != NULL &&
        !OSSL_PARAM_set_size_t(p, 1))
        return 0;
    return 1;
}

static const OSSL_PARAM *rec_gettable_params(void *provctx)
{
    static const OSSL_PARAM table[] = {
        OSSL_PARAM_uint(OSSL_CIPHER_PARAM_MODE, NULL),
        OSSL_PARAM_int(OSSL_CIPHER_PARAM_AEAD, NULL),
        OSSL_PARAM_int(OSSL_CIPHER_PARAM_CUSTOM_IV, NULL),
        OSSL_PARAM_size_t(OSSL_CIPHER_PARAM_KEYLEN, NULL),
        OSSL_PARAM_size_t(OSSL_CIPHER_PARAM_IVLEN, NULL),
        OSSL_PARAM_size_t(OSSL_CIPHER_PARAM_BLOCK_SIZE, NULL),
        OSSL_PARAM_END,
    };
    (void)provctx;
    return table;
}

/* The dispatch table of one cipher; the casts are the table's, the types are checked above. */
#define REC_DISPATCH(sym, alg)                                                                     \
    static OSSL_FUNC_cipher_newctx_fn sym##_newctx;                                                \
    static OSSL_FUNC_cipher_get_params_fn sym##_get_params;                                        \
    static void *sym##_newctx(void *provctx)                                                       \
    {                                                                                              \
        return rec_newctx(provctx, (alg));                                                         \
    }                                                                                              \
    static int sym##_get_params(OSSL_PARAM params[])                                               \
    {                                                                                              \
        return rec_get_params((alg), params);                                                      \
    }                                                                                              \
    const OSSL_DISPATCH m2m_##sym##_functions[] = {                                                \
        {OSSL_FUNC_CIPHER_NEWCTX, (void (*)(void))sym##_newctx},                                   \
        {OSSL_FUNC_CIPHER_FREECTX, (void (*)(void))rec_freectx},                                   \
        {OSSL_FUNC_CIPHER_DUPCTX, (void (*)(void))rec_dupctx},                                     \
        {OSSL_FUNC_CIPHER_ENCRYPT_INIT, (void (*)(void))rec_einit},                                \
        {OSSL_FUNC_CIPHER_DECRYPT_INIT, (void (*)(void))rec_dinit},                                \
        {OSSL_FUNC_CIPHER_UPDATE, (void (*)(void))rec_update},                                     \
        {OSSL_FUNC_CIPHER_FINAL, (void (*)(void))rec_final},                                       \
        {OSSL_FUNC_CIPHER_CIPHER, (void (*)(void))rec_cipher},                                     \
        {OSSL_FUNC_CIPHER_GET_PARAMS, (void (*)(void))sym##_get_params},                           \
        {OSSL_FUNC_CIPHER_GETTABLE_PARAMS, (void (*)(void))rec_gettable_params},                   \
        {OSSL_FUNC_CIPHER_GET_CTX_PARAMS, (void (*)(void))rec_get_ctx_params},                     \
        {OSSL_FUNC_CIPHER_GETTABLE_CTX_PARAMS, (void (*)(void))rec_gettable_ctx_params},           \
        {OSSL_FUNC_CIPHER_SET_CTX_PARAMS, (void (*)(void))rec_set_ctx_params},                     \
        {OSSL_FUNC_CIPHER_SETTABLE_CTX_PARAMS, (void (*)(void))rec_settable_ctx_params},           \
        {0, NULL},                                                                                 \
    };

REC_DISPATCH(rec_aes128gcm, &m2m_rec_algs[0])
REC_DISPATCH(rec_aes256gcm, &m2m_rec_algs[1])
REC_DISPATCH(rec_chacha20poly1305, &m2m_rec_algs[2])
REC_DISPATCH(rec_aes128ccm, &m2m_rec_algs[3])
/* M2M-RECAAD (docs/PROTOCOL.md 5.7): the same state machine, hooks in cipher_record_aad.c */
REC_DISPATCH(rec_aad_aes128gcm, &m2m_rec_aad_algs[0])
REC_DISPATCH(rec_aad_aes256gcm, &m2m_rec_aad_algs[1])
REC_DISPATCH(rec_aad_chacha20poly1305, &m2m_rec_aad_algs[2])

/* Is `want` one of the ':'-separated names (case-insensitive)? */
static int has_name(const char *names, const char *want)
{
    size_t n = strlen(want);

    for (const char *p = names;;) {
        const char *e = strchr(p, ':');
        size_t l = e != NULL ? (size_t)(e - p) : strlen(p);

        if (l == n && strncasecmp(p, want, n) == 0)
            return 1;
        if (e == NULL)
            return 0;
        p = e + 1;
    }
}

int m2m_rec_inner_setup(M2M_PROVCTX *pc)
{
    for (size_t i = 0; i < M2M_REC_NALGS; i++) {
        const OSSL_PROVIDER *prov = EVP_CIPHER_get0_provider(pc->rec_inner[i]);
        const OSSL_ALGORITHM *algs;
        M2M_REC_INNER *f = &pc->rec_fn[i];
        int no_cache = 0;

        memset(f, 0, sizeof(*f));
        algs = prov != NULL ? OSSL_PROVIDER_query_operation(prov, OSSL_OP_CIPHER, &no_cache) : NULL;
        for (const OSSL_ALGORITHM *a = algs; a != NULL && a->algorithm_names != NULL; a++) {
            if (!has_name(a->algorithm_names, m2m_rec_algs[i].inner))
                continue;
            for (const OSSL_DISPATCH *d = a->implementation; d->function_id != 0; d++)
                switch (d->function_id) {
                case OSSL_FUNC_CIPHER_NEWCTX:
                    f->newctx = OSSL_FUNC_cipher_newctx(d);
                    break;
                case OSSL_FUNC_CIPHER_FREECTX:
                    f->freectx = OSSL_FUNC_cipher_freectx(d);
                    break;
                case OSSL_FUNC_CIPHER_ENCRYPT_INIT:
                    f->einit = OSSL_FUNC_cipher_encrypt_init(d);
                    break;
                case OSSL_FUNC_CIPHER_DECRYPT_INIT:
                    f->dinit = OSSL_FUNC_cipher_decrypt_init(d);
                    break;
                case OSSL_FUNC_CIPHER_UPDATE:
                    f->update = OSSL_FUNC_cipher_update(d);
                    break;
                case OSSL_FUNC_CIPHER_FINAL:
                    f->final = OSSL_FUNC_cipher_final(d);
                    break;
                case OSSL_FUNC_CIPHER_GET_CTX_PARAMS:
                    f->get_ctx_params = OSSL_FUNC_cipher_get_ctx_params(d);
                    break;
                case OSSL_FUNC_CIPHER_SET_CTX_PARAMS:
                    f->set_ctx_params = OSSL_FUNC_cipher_set_ctx_params(d);
                    break;
                default:
                    break;
                }
            break;
        }
        if (algs != NULL)
            OSSL_PROVIDER_unquery_operation(prov, OSSL_OP_CIPHER, algs);
        f->provctx = prov != NULL ? OSSL_PROVIDER_get0_provider_ctx(prov) : NULL;
        if (f->newctx == NULL || f->freectx == NULL || f->einit == NULL || f->dinit == NULL ||
            f->update == NULL || f->final == NULL || f->get_ctx_params == NULL ||
            f->set_ctx_params == NULL) {
            M2M_RAISE(M2MSEC_R_FETCH_FAILED,
                      "m2msec: the provider of %s does not offer the functions it needs",
                      m2m_rec_algs[i].inner);
            return 0;
        }
    }
    return 1;
}
