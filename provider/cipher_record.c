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
 */
#include <limits.h>
#include <string.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/prov_ssl.h>

#include "cipher_record.h"
#include "errors.h"
#include "fork_guard.h"
#include "key_limits.h"
#include "key_registry.h"
#include "policy_file.h"
#include "prov.h"
#include "replay_window.h"

#define REC_IVLEN 12
#define REC_PREFIX 16 /* u64be(epoch) || u64be(seq) */
#define REC_MAXTAG 16
#define REC_CCM_MAXLEN 0xFFFFFFu /* 12-byte nonce: L = 3 */

/* Published AEAD usage limits per key (docs/PROTOCOL.md 5.4). */
#define LIM_2_24_5 23726566ull /* floor(2^24.5): TLS 1.3 AES-GCM records */
#define LIM_2_23_5 11863283ull /* floor(2^23.5): DTLS 1.3 AES-CCM */
#define LIM_2_36 (1ull << 36)
#define LIM_2_60 (1ull << 60)
#define LIM_2_13 (1ull << 13)

const M2M_REC_ALG m2m_rec_algs[M2M_REC_NALGS] = {
    {"M2M-REC-AES-128-GCM", "AES-128-GCM", 16, 0, LIM_2_24_5, LIM_2_24_5 << 14, LIM_2_36},
    {"M2M-REC-AES-256-GCM", "AES-256-GCM", 32, 0, LIM_2_24_5, LIM_2_24_5 << 14, LIM_2_36},
    {"M2M-REC-CHACHA20-POLY1305", "ChaCha20-Poly1305", 32, 0, LIM_2_60, LIM_2_60, LIM_2_36},
    {"M2M-REC-AES-128-CCM", "AES-128-CCM", 16, 1, LIM_2_23_5, LIM_2_23_5 << 14, LIM_2_23_5},
};

typedef enum { ST_IDLE = 0, ST_SEQ_SET, ST_AAD, ST_DATA } rec_state;

typedef struct {
    M2M_PROVCTX *pc;
    const M2M_REC_ALG *alg;
    EVP_CIPHER_CTX *inner;
    int enc; /* -1 until the first init */
    int keyed, have_iv, started;
    rec_state state;
    unsigned char iv[REC_IVLEN];
    uint64_t epoch;
    uint64_t seq;      /* record in progress / last record */
    uint64_t next_seq; /* encrypting: next to assign */
    int have_seq;
    size_t taglen;
    unsigned char tag[REC_MAXTAG];
    int tag_ready; /* enc: tag of last record; dec: tag set for this record */
    /* Requested limits (0: default); effective ones live in lim. */
    uint64_t req_records, req_bytes, req_failures, req_not_after, req_window;
    M2M_LIMITS lim;
    M2M_REPLAY win;
    uint64_t now;                     /* clock read once per record, at its start */
    unsigned char prefix[REC_PREFIX]; /* GCM/ChaCha: epoch || seq, sent with the first AAD */
    int prefix_pending;
    unsigned char *aad; /* CCM: AAD is buffered until the data arrives */
    size_t aadlen, aadcap;
    size_t ccm_len; /* CCM: the record length announced by update(NULL, NULL, len) */
    int ccm_len_set;
    uint64_t fork_id;   /* the process that keyed the context (fork_guard.h) */
    M2M_FAIL_REF fails; /* decrypting: the key's process-wide failure count */
} REC_CTX;

static void *rec_newctx(void *provctx, const M2M_REC_ALG *alg)
{
    M2M_PROVCTX *pc = provctx;
    REC_CTX *c;

    if (!m2m_prov_usable(pc))
        return NULL;
    /* AES-128-CCM: either tag length may still be chosen; the key set checks the one chosen. */
    if (!m2m_policy_aead_allowed(&pc->policy, alg->name, strlen(alg->name)) &&
        !(alg->ccm &&
          m2m_policy_aead_allowed(&pc->policy, M2M_PF_AEAD_CCM8, strlen(M2M_PF_AEAD_CCM8)))) {
        M2M_RAISE(M2M_R_NOT_ALLOWED, "%s is not allowed by the security policy (allowed_aeads)",
                  alg->name);
        return NULL;
    }
    c = OPENSSL_zalloc(sizeof(*c));
    if (c == NULL || (c->inner = EVP_CIPHER_CTX_new()) == NULL) {
        OPENSSL_free(c);
        M2M_RAISE(M2M_R_MALLOC_FAILURE, "out of memory creating %s context", alg->name);
        return NULL;
    }
    c->pc = provctx;
    c->alg = alg;
    c->enc = -1;
    c->taglen = REC_MAXTAG;
    return c;
}

static void rec_freectx(void *vctx)
{
    REC_CTX *c = vctx;

    if (c == NULL)
        return;
    EVP_CIPHER_CTX_free(c->inner); /* wipes the key schedule */
    m2m_replay_free(&c->win);
    OPENSSL_clear_free(c->aad, c->aadcap);
    OPENSSL_clear_free(c, sizeof(*c));
}

static void *rec_dupctx(void *vctx)
{
    REC_CTX *c = vctx;

    M2M_RAISE(M2M_R_COPY_REFUSED,
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
static void default_limits(const REC_CTX *c, uint64_t start, M2M_LIMITS *d)
{
    uint64_t failures = c->alg->ccm && c->taglen == 8 ? LIM_2_13 : c->alg->max_failures;
    uint64_t life = c->pc->policy.max_lifetime;

    d->max_records = policy_cap(c->pc->policy.max_records, c->alg->max_records);
    d->max_bytes = policy_cap(c->pc->policy.max_bytes, c->alg->max_bytes);
    d->max_failures = policy_cap(c->pc->policy.max_failures, failures);
    d->not_after = start > UINT64_MAX - life ? UINT64_MAX : start + life;
}

static int limit_ok(const REC_CTX *c, const char *name, uint64_t req, uint64_t max,
                    const char *what)
{
    if (req <= max)
        return 1;
    M2M_RAISE(M2M_R_INVALID_PARAMETER,
              "%s: '%s' %llu is above %llu (%s); a limit can only be lowered", c->alg->name, name,
              (unsigned long long)req, (unsigned long long)max, what);
    return 0;
}

/*
 * Are the requested limits at or below the defaults of a key set at
 * `start`? A request above a default is refused, never clamped (0 means
 * "not requested": the default).
 */
static int limits_check(const REC_CTX *c, uint64_t start)
{
    M2M_LIMITS d;

    default_limits(c, start, &d);
    return limit_ok(c, M2MSEC_REC_PARAM_MAX_RECORDS, c->req_records, d.max_records,
                    "the per-key record limit of the cipher and policy") &&
           limit_ok(c, M2MSEC_REC_PARAM_MAX_BYTES, c->req_bytes, d.max_bytes,
                    "the per-key byte limit of the cipher and policy") &&
           limit_ok(c, M2MSEC_REC_PARAM_MAX_FAILURES, c->req_failures, d.max_failures,
                    c->alg->ccm && c->taglen == 8
                        ? "the failed-decryption limit of the 8-byte CCM tag and policy"
                        : "the failed-decryption limit of the cipher and policy") &&
           limit_ok(c, M2MSEC_REC_PARAM_NOT_AFTER, c->req_not_after, d.not_after,
                    "key-set time plus the policy's max_lifetime");
}

/* Effective limits: the request (checked by limits_check) or the default. */
static void rec_limits(REC_CTX *c)
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
forked_error(const REC_CTX *c)
{
    M2M_RAISE(M2M_R_FORKED,
              "%s context used in a forked child: it belongs to the parent process (it would "
              "repeat its nonces or accept what it accepts); create a new context in the child "
              "(encrypting: with a new key)",
              c->alg->name);
    return 1;
}

/* A keyed context in a process other than the one that keyed it refuses everything. */
static inline int refuse_forked(const REC_CTX *c)
{
    return c->keyed && !m2m_fork_same(c->fork_id) && forked_error(c);
}

/* Decrypting: the key's failed decryptions in the whole process, into lim.failures. */
static inline void refresh_failures(REC_CTX *c)
{
    if (c->keyed && !c->enc)
        c->lim.failures = m2m_failures_read(&c->fails);
}

/* A record that fails part-way is abandoned, and the tag set for it with it. */
static void abandon(REC_CTX *c)
{
    c->state = ST_IDLE;
    c->tag_ready = 0;
}

/* At the first record: freeze the limits and allocate the window. */
static int rec_start_session(REC_CTX *c)
{
    rec_limits(c);
    if (!c->enc) {
        uint64_t w = c->req_window != 0 ? c->req_window : c->pc->policy.replay_window;

        if (!m2m_replay_init(&c->win, w)) {
            M2M_RAISE(M2M_R_MALLOC_FAILURE, "cannot allocate a replay window of %llu records",
                      (unsigned long long)w);
            return 0;
        }
    }
    c->started = 1;
    return 1;
}

static int locked_param(REC_CTX *c, const char *name)
{
    if (c->started) {
        M2M_RAISE(M2M_R_BAD_STATE, "'%s' can only be set before the first record", name);
        return 0;
    }
    return 1;
}

static int get_u64(const OSSL_PARAM *p, uint64_t *v)
{
    if (p->data == NULL || !OSSL_PARAM_get_uint64(p, v)) {
        M2M_RAISE(M2M_R_INVALID_PARAMETER, "parameter '%s' must be an unsigned integer%s", p->key,
                  p->data == NULL ? " (its data pointer is NULL)" : "");
        return 0;
    }
    return 1;
}

static int get_size(const OSSL_PARAM *p, size_t *v)
{
    if (p->data == NULL || !OSSL_PARAM_get_size_t(p, v)) {
        M2M_RAISE(M2M_R_INVALID_PARAMETER, "parameter '%s' must be an unsigned integer%s", p->key,
                  p->data == NULL ? " (its data pointer is NULL)" : "");
        return 0;
    }
    return 1;
}

/*
 * Fill one OSSL_PARAM so that every byte of it is defined, padding included.
 * OSSL_PARAM has 4 padding bytes after data_type on LP64, and the structs
 * that OSSL_PARAM_construct_*() return leave them uninitialised. Copying
 * such a struct is valid C, but gcc -O2 copies it through SSE registers, and
 * OpenSSL 3.0's AVX GHASH (gcm_ghash_avx, used in the GCM final) reads its
 * caller's xmm0-xmm2 and cancels them by XOR, which memcheck cannot follow:
 * the stale padding made valgrind report the decrypt final's tag comparison
 * (scripts/valgrind.supp has the analysis). param_end() writes the end
 * marker the same way.
 */
static void param_fill(OSSL_PARAM *p, const char *key, unsigned int type, void *data, size_t size)
{
    memset(p, 0, sizeof(*p));
    p->key = key;
    p->data_type = type;
    p->data = data;
    p->data_size = size;
    p->return_size = OSSL_PARAM_UNMODIFIED;
}

static void param_end(OSSL_PARAM *p)
{
    memset(p, 0, sizeof(*p));
    p->key = NULL;
    p->data = NULL;
}

static int rec_set_ctx_params(void *vctx, const OSSL_PARAM params[]);

static int rec_init(REC_CTX *c, const unsigned char *key, size_t keylen, const unsigned char *iv,
                    size_t ivlen, const OSSL_PARAM params[], int enc)
{
    if (refuse_forked(c))
        return 0;
    if (c->enc != -1 && c->enc != enc && (c->keyed || c->started)) {
        M2M_RAISE(M2M_R_BAD_STATE, "a %s context cannot change direction; create a new one",
                  c->alg->name);
        return 0;
    }
    if (c->started && (key != NULL || iv != NULL)) {
        M2M_RAISE(M2M_R_BAD_STATE,
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
    if (c->state != ST_IDLE)
        abandon(c);
    if (enc)
        c->tag_ready = 0; /* the last record's tag is no longer readable */
    c->enc = enc;
    if (!rec_set_ctx_params(c, params))
        return 0;
    if (key != NULL) {
        M2M_KEY_FP fp;
        uint64_t start = m2m_now_precise();

        if (keylen != c->alg->keylen) {
            M2M_RAISE(M2M_R_INVALID_PARAMETER, "%s needs a %zu-byte key, got %zu bytes",
                      c->alg->name, c->alg->keylen, keylen);
            return 0;
        }
        if (c->keyed && enc) {
            M2M_RAISE(M2M_R_KEY_REUSED,
                      "%s: an encrypting context takes its key once; create a new context",
                      c->alg->name);
            return 0;
        }
        if (start == UINT64_MAX) {
            M2M_RAISE(M2M_R_KEY_EXPIRED, "%s: cannot read the clock; no key can be used",
                      c->alg->name);
            return 0;
        }
        /* The exact label: with an 8-byte tag, AES-128-CCM is M2M-REC-AES-128-CCM-8. */
        {
            const char *label = c->alg->ccm && c->taglen == 8 ? M2M_PF_AEAD_CCM8 : c->alg->name;

            if (!m2m_policy_aead_allowed(&c->pc->policy, label, strlen(label))) {
                M2M_RAISE(M2M_R_NOT_ALLOWED,
                          "%s is not allowed by the security policy (allowed_aeads)", label);
                return 0;
            }
        }
        /* Refuse bad limits before the key is claimed: a refused init must not burn it. */
        if (!limits_check(c, start) ||
            !m2m_key_fingerprint(c->pc->hmac, c->alg->name, key, keylen, &fp))
            return 0;
        if (enc && !m2m_key_registry_claim(&fp, c->alg->name))
            return 0;
        if (!EVP_CipherInit_ex2(c->inner, c->pc->rec_inner[c->alg - m2m_rec_algs], NULL, NULL, enc,
                                NULL)) {
            M2M_RAISE(M2M_R_CRYPTO_FAILED, "cannot initialise %s", c->alg->inner);
            return 0;
        }
        if (c->alg->ccm) {
            OSSL_PARAM p[3];
            size_t ivl = REC_IVLEN;

            param_fill(&p[0], OSSL_CIPHER_PARAM_AEAD_IVLEN, OSSL_PARAM_UNSIGNED_INTEGER, &ivl,
                       sizeof(ivl));
            param_fill(&p[1], OSSL_CIPHER_PARAM_AEAD_TAG, OSSL_PARAM_OCTET_STRING, NULL, c->taglen);
            param_end(&p[2]);
            if (!EVP_CIPHER_CTX_set_params(c->inner, p)) {
                M2M_RAISE(M2M_R_CRYPTO_FAILED, "cannot set CCM nonce and tag lengths");
                return 0;
            }
        }
        if (!EVP_CipherInit_ex2(c->inner, NULL, key, NULL, enc, NULL)) {
            M2M_RAISE(M2M_R_CRYPTO_FAILED, "cannot set the %s key", c->alg->inner);
            return 0;
        }
        c->keyed = 1;
        c->lim.start = start;
        c->fork_id = m2m_fork_id();
        if (!enc)
            m2m_failures_attach(&c->fails, &fp);
        c->lim.failures = 0;
        refresh_failures(c);
    }
    if (c->keyed)
        rec_limits(c); /* readable from now on; frozen at the first record */
    if (iv != NULL) {
        if (ivlen != REC_IVLEN) {
            M2M_RAISE(M2M_R_INVALID_PARAMETER, "%s needs a %d-byte static IV, got %zu bytes",
                      c->alg->name, REC_IVLEN, ivlen);
            return 0;
        }
        memcpy(c->iv, iv, REC_IVLEN);
        c->have_iv = 1;
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

/* At a record's start: the clock and the failure count for this record. */
static int refuse_expired_now(REC_CTX *c, size_t len);

static int refuse_expired(REC_CTX *c, size_t len)
{
    M2M_LIMITS l = c->lim;
    const char *why;

    /*
     * Encrypting, the record in progress was counted (and checked against
     * max-records) when it began: do not count it again for its data.
     */
    if (c->enc && c->state != ST_IDLE && l.records > 0)
        l.records--;
    why = m2m_limits_refuse(&l, c->now, len);
    if (why == NULL)
        return 0;
    if (c->enc)
        M2M_RAISE(M2M_R_KEY_EXPIRED, "session key expired: %s (epoch %llu)", why,
                  (unsigned long long)c->epoch);
    else
        M2M_RAISE(M2M_R_KEY_EXPIRED,
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
static int refuse_expired_now(REC_CTX *c, size_t len)
{
    c->now = m2m_now();
    refresh_failures(c);
    return refuse_expired(c, len);
}

static int aad_reserve(REC_CTX *c, size_t more)
{
    size_t need = c->aadlen + more;

    if (need < c->aadlen) {
        M2M_RAISE(M2M_R_FIELD_TOO_LONG, "AAD too long");
        return 0;
    }
    if (need > c->aadcap) {
        size_t ncap = need < 64 ? 64 : need * 2;
        unsigned char *n = OPENSSL_clear_realloc(c->aad, c->aadcap, ncap);

        if (n == NULL) {
            M2M_RAISE(M2M_R_MALLOC_FAILURE, "out of memory buffering AAD");
            return 0;
        }
        c->aad = n;
        c->aadcap = ncap;
    }
    return 1;
}

/* Begin a record: nonce, inner IV, the authenticated epoch || seq prefix. */
static int rec_begin(REC_CTX *c)
{
    unsigned char nonce[REC_IVLEN], prefix[REC_PREFIX];

    if (!c->keyed || !c->have_iv) {
        M2M_RAISE(M2M_R_BAD_STATE, "%s: set the key and the 12-byte static IV first", c->alg->name);
        return 0;
    }
    if (!c->started && !rec_start_session(c))
        return 0;
    if (c->enc) {
        if (refuse_expired_now(c, 0))
            return 0;
        c->seq = c->next_seq++;
        c->have_seq = 1;
        c->lim.records++; /* a started record consumes its sequence number */
    } else if (c->state != ST_SEQ_SET) {
        M2M_RAISE(M2M_R_BAD_STATE, "%s: set the record's sequence number ('seq') first",
                  c->alg->name);
        return 0;
    }
    /* nonce = IV XOR (0^32 || u64be(seq)), in 8-byte words */
    put_u64(prefix, c->epoch);
    put_u64(prefix + 8, c->seq);
    {
        uint64_t lo, sq;

        memcpy(&lo, c->iv + REC_IVLEN - 8, 8);
        memcpy(&sq, prefix + 8, 8);
        lo ^= sq;
        memcpy(nonce, c->iv, REC_IVLEN - 8);
        memcpy(nonce + REC_IVLEN - 8, &lo, 8);
    }
    c->tag_ready = c->enc ? 0 : c->tag_ready;
    if (c->alg->ccm && !c->enc && !c->tag_ready) {
        M2M_RAISE(M2M_R_BAD_STATE,
                  "%s: set the tag before the record's first update (CCM "
                  "verifies as it decrypts)",
                  c->alg->name);
        goto fail;
    }
    if (c->alg->ccm && !c->enc) {
        OSSL_PARAM p[2];

        param_fill(&p[0], OSSL_CIPHER_PARAM_AEAD_TAG, OSSL_PARAM_OCTET_STRING, c->tag, c->taglen);
        param_end(&p[1]);
        if (!EVP_CIPHER_CTX_set_params(c->inner, p))
            goto crypto;
    }
    if (!EVP_CipherInit_ex2(c->inner, NULL, NULL, nonce, c->enc, NULL))
        goto crypto;
    c->ccm_len_set = 0;
    if (c->alg->ccm) {
        c->aadlen = 0;
        if (!aad_reserve(c, REC_PREFIX))
            goto fail;
        memcpy(c->aad, prefix, REC_PREFIX);
        c->aadlen = REC_PREFIX;
    } else {
        /* Sent with the first AAD in one update (one GHASH/Poly1305 call fewer). */
        memcpy(c->prefix, prefix, REC_PREFIX);
        c->prefix_pending = 1;
    }
    c->state = ST_AAD;
    OPENSSL_cleanse(nonce, sizeof(nonce));
    return 1;
crypto:
    M2M_RAISE(M2M_R_CRYPTO_FAILED, "%s: cannot start record %llu", c->alg->name,
              (unsigned long long)c->seq);
fail:
    OPENSSL_cleanse(nonce, sizeof(nonce));
    abandon(c);
    return 0;
}

/* Record failure while decrypting: count it, forget the record. */
static void rec_auth_failed(REC_CTX *c)
{
    c->lim.failures = m2m_failures_add(&c->fails); /* the key's budget, process-wide */
    c->state = ST_IDLE;
    c->tag_ready = 0;
    M2M_RAISE(M2M_R_AUTH_FAILED,
              "authentication failed: record %llu of epoch %llu is forged or "
              "corrupted",
              (unsigned long long)c->seq, (unsigned long long)c->epoch);
}

/* CCM takes the length, then all AAD, then all data, in that order. */
static int ccm_data(REC_CTX *c, unsigned char *out, int *outl, const unsigned char *in, size_t inl)
{
    static const unsigned char none[1];
    unsigned char sink[1];
    int n;

    if (inl > INT_MAX || c->aadlen > INT_MAX ||
        !EVP_CipherUpdate(c->inner, NULL, &n, NULL, (int)inl) ||
        !EVP_CipherUpdate(c->inner, NULL, &n, c->aad, (int)c->aadlen))
        return -1;
    /* EVP lets CCM take a zero-length update; in and out must not be NULL. */
    return EVP_CipherUpdate(c->inner, inl == 0 ? sink : out, outl, inl == 0 ? none : in, (int)inl)
               ? 1
               : 0;
}

#define PREFIX_MERGE_MAX 64 /* AAD up to this size travels with the prefix */

/* GCM/ChaCha: feed the pending epoch || seq prefix, with aad if it is short. */
static int flush_prefix(REC_CTX *c, const unsigned char *aad, size_t aadlen)
{
    unsigned char buf[REC_PREFIX + PREFIX_MERGE_MAX];
    int n;

    c->prefix_pending = 0;
    memcpy(buf, c->prefix, REC_PREFIX);
    if (aadlen > 0)
        memcpy(buf + REC_PREFIX, aad, aadlen);
    if (!EVP_CipherUpdate(c->inner, NULL, &n, buf, (int)(REC_PREFIX + aadlen))) {
        M2M_RAISE(M2M_R_CRYPTO_FAILED, "%s: AAD update failed", c->alg->name);
        return 0;
    }
    return 1;
}

static int rec_update(void *vctx, unsigned char *out, size_t *outl, size_t outsize,
                      const unsigned char *in, size_t inl)
{
    REC_CTX *c = vctx;
    int n = 0;

    *outl = 0;
    if (refuse_forked(c))
        return 0;
    /*
     * Nothing to do, as in OpenSSL's AEADs: an empty update of GCM or
     * ChaCha20-Poly1305, and CCM's update(out, NULL, 0) (its "finish").
     */
    if (inl == 0 && (!c->alg->ccm || (in == NULL && out != NULL)))
        return 1;
    if (in == NULL && inl > 0 && (out != NULL || !c->alg->ccm)) {
        /* Refused before the record begins: nothing changes. */
        if (out != NULL)
            M2M_RAISE(M2M_R_INVALID_PARAMETER, "%s: the input is NULL but its length is %zu",
                      c->alg->name, inl);
        else
            M2M_RAISE(M2M_R_INVALID_PARAMETER,
                      "%s: update(out = NULL, in = NULL, %zu) announces a CCM message length; "
                      "%s takes none (give AAD with out = NULL, data with both buffers)",
                      c->alg->name, inl, c->alg->name);
        return 0;
    }
    if (inl > INT_MAX) {
        M2M_RAISE(M2M_R_INVALID_PARAMETER, "record too long");
        return 0;
    }
    if (c->state == ST_IDLE || c->state == ST_SEQ_SET) {
        if (!rec_begin(c))
            return 0;
    }
    if (in == NULL && out == NULL && c->alg->ccm) {
        /* The CCM message length (EVP_CipherUpdate(ctx, NULL, &outl, NULL, len)). */
        if (c->state != ST_AAD) {
            M2M_RAISE(M2M_R_BAD_STATE, "%s: announce the message length before the record data",
                      c->alg->name);
            return 0;
        }
        if (inl > REC_CCM_MAXLEN) {
            M2M_RAISE(M2M_R_INVALID_PARAMETER,
                      "%s: a record holds at most %u bytes (12-byte nonce), not %zu", c->alg->name,
                      REC_CCM_MAXLEN, inl);
            return 0;
        }
        c->ccm_len = inl;
        c->ccm_len_set = 1;
        return 1;
    }
    if (out == NULL) { /* AAD */
        if (c->state != ST_AAD) {
            M2M_RAISE(M2M_R_BAD_STATE, "%s: AAD must come before the record data", c->alg->name);
            return 0;
        }
        if (c->alg->ccm) {
            if (!aad_reserve(c, inl))
                return 0;
            if (inl > 0)
                memcpy(c->aad + c->aadlen, in, inl);
            c->aadlen += inl;
            return 1;
        }
        if (c->prefix_pending && inl <= PREFIX_MERGE_MAX)
            return flush_prefix(c, in, inl);
        if (c->prefix_pending && !flush_prefix(c, NULL, 0))
            return 0;
        if (inl > 0 && !EVP_CipherUpdate(c->inner, NULL, &n, in, (int)inl)) {
            M2M_RAISE(M2M_R_CRYPTO_FAILED, "%s: AAD update failed", c->alg->name);
            return 0;
        }
        return 1;
    }
    if (c->prefix_pending && !flush_prefix(c, NULL, 0)) {
        abandon(c);
        return 0;
    }
    if (outsize < inl) {
        M2M_RAISE(M2M_R_INVALID_PARAMETER, "output buffer too small");
        return 0;
    }
    if (c->alg->ccm && c->state == ST_DATA) {
        M2M_RAISE(M2M_R_BAD_STATE, "%s: give the record data in one update call", c->alg->name);
        return 0;
    }
    if (c->alg->ccm && c->ccm_len_set && inl != c->ccm_len) {
        M2M_RAISE(M2M_R_INVALID_PARAMETER,
                  "%s: %zu bytes of data for a record announced as %zu bytes; the record is "
                  "abandoned",
                  c->alg->name, inl, c->ccm_len);
        abandon(c);
        return 0;
    }
    if (refuse_expired(c, inl)) {
        abandon(c);
        return 0;
    }
    c->lim.bytes += inl;
    c->state = ST_DATA;
    if (c->alg->ccm) {
        int r = ccm_data(c, out, &n, in, inl);

        if (r == 0 && !c->enc) {
            OPENSSL_cleanse(out, inl);
            rec_auth_failed(c);
            return 0;
        }
        if (r <= 0) {
            M2M_RAISE(M2M_R_CRYPTO_FAILED, "%s: record data update failed", c->alg->name);
            abandon(c);
            return 0;
        }
    } else if (!EVP_CipherUpdate(c->inner, out, &n, in, (int)inl)) {
        M2M_RAISE(M2M_R_CRYPTO_FAILED, "%s: record data update failed", c->alg->name);
        abandon(c);
        return 0;
    }
    *outl = (size_t)n;
    return 1;
}

static int rec_final(void *vctx, unsigned char *out, size_t *outl, size_t outsize)
{
    REC_CTX *c = vctx;
    unsigned char fin[EVP_MAX_BLOCK_LENGTH];
    int n = 0;

    (void)out;
    (void)outsize;
    *outl = 0;
    if (refuse_forked(c))
        return 0;
    if (c->state == ST_IDLE || c->state == ST_SEQ_SET) {
        /* An empty record: begin it now. */
        if (!rec_begin(c))
            return 0;
    }
    if (c->prefix_pending && !flush_prefix(c, NULL, 0)) {
        abandon(c);
        return 0;
    }
    if (c->alg->ccm && c->state == ST_AAD) {
        unsigned char sink[1];
        int r;

        if (c->ccm_len_set && c->ccm_len != 0) {
            M2M_RAISE(M2M_R_INVALID_PARAMETER,
                      "%s: final without the %zu bytes of data the record was announced with; "
                      "the record is abandoned",
                      c->alg->name, c->ccm_len);
            abandon(c);
            return 0;
        }
        r = ccm_data(c, sink, &n, NULL, 0);

        if (r == 0 && !c->enc) {
            rec_auth_failed(c);
            return 0;
        }
        if (r <= 0) {
            M2M_RAISE(M2M_R_CRYPTO_FAILED, "%s: empty record failed", c->alg->name);
            abandon(c);
            return 0;
        }
    }
    if (!c->enc && !c->alg->ccm) {
        OSSL_PARAM p[2];

        if (!c->tag_ready) {
            M2M_RAISE(M2M_R_BAD_STATE, "%s: set the record's tag before final", c->alg->name);
            abandon(c);
            return 0;
        }
        param_fill(&p[0], OSSL_CIPHER_PARAM_AEAD_TAG, OSSL_PARAM_OCTET_STRING, c->tag, c->taglen);
        param_end(&p[1]);
        if (!EVP_CIPHER_CTX_set_params(c->inner, p)) {
            M2M_RAISE(M2M_R_CRYPTO_FAILED, "%s: cannot set tag", c->alg->name);
            abandon(c);
            return 0;
        }
    }
    /*
     * The AEADs write nothing at final; a buffer of our own, since the
     * caller's may be NULL (EVP_Cipher(ctx, NULL, NULL, 0)), which the
     * stock CCM would take for a message-length call.
     */
    if (!EVP_CipherFinal_ex(c->inner, fin, &n)) {
        if (!c->enc) {
            rec_auth_failed(c);
            return 0;
        }
        M2M_RAISE(M2M_R_CRYPTO_FAILED, "%s: final failed", c->alg->name);
        abandon(c);
        return 0;
    }
    if (c->enc) {
        OSSL_PARAM p[2];

        param_fill(&p[0], OSSL_CIPHER_PARAM_AEAD_TAG, OSSL_PARAM_OCTET_STRING, c->tag, c->taglen);
        param_end(&p[1]);
        if (!EVP_CIPHER_CTX_get_params(c->inner, p)) {
            M2M_RAISE(M2M_R_CRYPTO_FAILED, "%s: cannot read tag", c->alg->name);
            abandon(c);
            return 0;
        }
        c->tag_ready = 1;
    } else {
        /* Authenticated: only now does the window learn this record. */
        m2m_replay_update(&c->win, c->seq);
        c->lim.records++;
        c->tag_ready = 0;
    }
    c->state = ST_IDLE;
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

static int rec_set_seq(REC_CTX *c, uint64_t seq)
{
    if (c->enc) {
        M2M_RAISE(M2M_R_BAD_STATE,
                  "%s: an encrypting context assigns sequence numbers itself; 'seq' is read-only",
                  c->alg->name);
        return 0;
    }
    if (refuse_forked(c))
        return 0;
    if (!c->keyed || !c->have_iv) {
        M2M_RAISE(M2M_R_BAD_STATE, "%s: set the key and the 12-byte static IV first", c->alg->name);
        return 0;
    }
    if (!c->started && !rec_start_session(c))
        return 0;
    /* A new seq abandons a record in progress, with its tag; a tag set before it stays. */
    if (c->state != ST_IDLE)
        c->tag_ready = 0;
    c->state = ST_IDLE;
    if (refuse_expired_now(c, 0)) {
        c->tag_ready = 0; /* a refused record takes its tag with it */
        return 0;
    }
    switch (m2m_replay_check(&c->win, seq)) {
    case M2M_REPLAY_DUP:
        c->tag_ready = 0;
        M2M_RAISE(M2M_R_REPLAYED_RECORD,
                  "replayed record: sequence %llu of epoch %llu was "
                  "already accepted",
                  (unsigned long long)seq, (unsigned long long)c->epoch);
        return 0;
    case M2M_REPLAY_TOO_OLD:
        c->tag_ready = 0;
        M2M_RAISE(M2M_R_OUTSIDE_WINDOW,
                  "record outside replay window: sequence %llu is %llu "
                  "or more below the highest accepted (%llu)",
                  (unsigned long long)seq, (unsigned long long)c->win.window,
                  (unsigned long long)c->win.last);
        return 0;
    case M2M_REPLAY_OK:
        break;
    }
    c->seq = seq;
    c->have_seq = 1;
    c->state = ST_SEQ_SET;
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

static int set_limit(REC_CTX *c, const OSSL_PARAM *p, uint64_t *field)
{
    return p == NULL || (locked_param(c, p->key) && get_u64(p, field));
}

/* The tag length: 16, or 8 for AES-CCM; a change only before the key. */
static int apply_taglen(REC_CTX *c, const char *name, size_t t)
{
    if (t == c->taglen)
        return 1; /* no change: fine at any time */
    if (!locked_param(c, name))
        return 0;
    if (t != 16 && !(c->alg->ccm && t == 8)) {
        M2M_RAISE(M2M_R_INVALID_PARAMETER, "%s: tag length %zu is not supported (%s)", c->alg->name,
                  t, c->alg->ccm ? "8 or 16" : "16");
        return 0;
    }
    if (c->keyed) {
        M2M_RAISE(M2M_R_BAD_STATE, "%s: set the tag length before the key", c->alg->name);
        return 0;
    }
    c->taglen = t;
    return 1;
}

static int set_tag(REC_CTX *c, const OSSL_PARAM *p)
{
    if (p->data_type != OSSL_PARAM_OCTET_STRING) {
        M2M_RAISE(M2M_R_INVALID_PARAMETER, "%s: the tag must be an octet string", c->alg->name);
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
        M2M_RAISE(M2M_R_BAD_STATE, "%s: the tag is set only when decrypting", c->alg->name);
        return 0;
    }
    if (p->data_size != c->taglen) {
        M2M_RAISE(M2M_R_INVALID_PARAMETER, "%s: the tag must be %zu bytes", c->alg->name,
                  c->taglen);
        return 0;
    }
    if (c->alg->ccm && (c->state == ST_AAD || c->state == ST_DATA)) {
        /* CCM took its tag when the record began; a later one would be ignored. */
        M2M_RAISE(M2M_R_BAD_STATE, "%s: set the tag before the record's first update",
                  c->alg->name);
        return 0;
    }
    memcpy(c->tag, p->data, c->taglen);
    c->tag_ready = 1;
    return 1;
}

static int set_taglen(REC_CTX *c, const OSSL_PARAM *p)
{
    size_t t;

    return get_size(p, &t) && apply_taglen(c, p->key, t);
}

/* IV length and key length are fixed: the same value is accepted, any other refused. */
static int set_fixed(REC_CTX *c, const OSSL_PARAM *p, size_t fixed, const char *what)
{
    size_t v;

    if (!get_size(p, &v))
        return 0;
    if (v != fixed) {
        M2M_RAISE(M2M_R_INVALID_PARAMETER, "%s: the %s is %zu bytes, not %zu", c->alg->name, what,
                  fixed, v);
        return 0;
    }
    return 1;
}

static int set_window(REC_CTX *c, const OSSL_PARAM *p)
{
    uint64_t v;

    if (!locked_param(c, p->key) || !get_u64(p, &v))
        return 0;
    if (v < M2M_REPLAY_MIN || v > M2M_REPLAY_MAX) {
        M2M_RAISE(M2M_R_INVALID_PARAMETER, "replay window %llu is outside %u..%u records",
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
static int refuse_tls_param(const REC_CTX *c, const char *name)
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
            M2M_RAISE(M2M_R_INVALID_PARAMETER,
                      "%s: parameter '%s' (TLS record mode) is not supported: records have the "
                      "fixed M2M-REC format",
                      c->alg->name, name);
            return 1;
        }
    return 0;
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
    static const int scan_order[S_COUNT] = {S_SEQ,         S_TAG,       S_EPOCH,        S_WINDOW,
                                            S_MAX_RECORDS, S_MAX_BYTES, S_MAX_FAILURES, S_NOT_AFTER,
                                            S_TAGLEN,      S_IVLEN,     S_KEYLEN};
    const OSSL_PARAM *got[S_COUNT] = {NULL};
    REC_CTX *c = vctx;
    int limits = 0;
    uint64_t v;

    if (params == NULL)
        return 1;
    for (const OSSL_PARAM *p = params; p->key != NULL; p++) {
        int i;

        for (i = 0; i < S_COUNT; i++)
            if (strcmp(p->key, names[scan_order[i]]) == 0) {
                got[scan_order[i]] = p;
                limits |= scan_order[i] < S_SEQ;
                break;
            }
        if (i == S_COUNT && refuse_tls_param(c, p->key))
            return 0;
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
            (!c->started && !limits_check(c, c->keyed ? c->lim.start : m2m_now_precise()))) {
            c->epoch = saved[0];
            c->req_records = saved[1];
            c->req_bytes = saved[2];
            c->req_failures = saved[3];
            c->req_not_after = saved[4];
            c->req_window = saved[5];
            c->taglen = saved_taglen;
            return 0;
        }
        if (c->keyed && !c->started)
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

/* Fill one gettable parameter; 1 if handled (or unknown), 0 on error. */
static int get_one(REC_CTX *c, OSSL_PARAM *p)
{
    const char *k = p->key;

    /* Per record: the tag and 'seq' first. */
    if (strcmp(k, OSSL_CIPHER_PARAM_AEAD_TAG) == 0) {
        if (!c->enc || !c->tag_ready || p->data_size < c->taglen) {
            M2M_RAISE(M2M_R_BAD_STATE,
                      "%s: the tag is readable after an encrypting final, "
                      "into a buffer of %zu bytes",
                      c->alg->name, c->taglen);
            return 0;
        }
        return OSSL_PARAM_set_octet_string(p, c->tag, c->taglen);
    }
    if (strcmp(k, M2MSEC_REC_PARAM_SEQ) == 0) {
        if (!c->have_seq) {
            M2M_RAISE(M2M_R_BAD_STATE, "%s: no record yet, so no 'seq'", c->alg->name);
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
        return OSSL_PARAM_set_int(p, c->keyed && m2m_limits_soft(&c->lim, m2m_now()));
    if (strcmp(k, M2MSEC_REC_PARAM_EXPIRED) == 0)
        return OSSL_PARAM_set_int(p, c->keyed && m2m_limits_refuse(&c->lim, m2m_now(), 0) != NULL);
    if (strcmp(k, M2MSEC_REC_PARAM_EPOCH) == 0)
        return OSSL_PARAM_set_uint64(p, c->epoch);
    if (strcmp(k, M2MSEC_REC_PARAM_RECORDS) == 0)
        return OSSL_PARAM_set_uint64(p, c->lim.records);
    if (strcmp(k, M2MSEC_REC_PARAM_BYTES) == 0)
        return OSSL_PARAM_set_uint64(p, c->lim.bytes);
    if (strcmp(k, M2MSEC_REC_PARAM_FAILURES) == 0)
        return OSSL_PARAM_set_uint64(p, c->lim.failures);
    if (strcmp(k, M2MSEC_REC_PARAM_MAX_RECORDS) == 0)
        return OSSL_PARAM_set_uint64(p, c->keyed ? c->lim.max_records : 0);
    if (strcmp(k, M2MSEC_REC_PARAM_MAX_BYTES) == 0)
        return OSSL_PARAM_set_uint64(p, c->keyed ? c->lim.max_bytes : 0);
    if (strcmp(k, M2MSEC_REC_PARAM_MAX_FAILURES) == 0)
        return OSSL_PARAM_set_uint64(p, c->keyed ? c->lim.max_failures : 0);
    if (strcmp(k, M2MSEC_REC_PARAM_NOT_AFTER) == 0)
        return OSSL_PARAM_set_uint64(p, c->keyed ? c->lim.not_after : 0);
    if (strcmp(k, M2MSEC_REC_PARAM_REPLAY_WINDOW) == 0)
        return OSSL_PARAM_set_uint64(p, c->win.window);
    if (strcmp(k, M2MSEC_REC_PARAM_MEMORY) == 0)
        return OSSL_PARAM_set_uint64(p, sizeof(*c) + m2m_replay_heap_size(&c->win) + c->aadcap);
    if (strcmp(k, OSSL_CIPHER_PARAM_IV) == 0 || strcmp(k, OSSL_CIPHER_PARAM_UPDATED_IV) == 0) {
        /* EVP_CIPHER_CTX_get_original_iv/get_updated_iv: no single IV to hand out. */
        M2M_RAISE(M2M_R_INVALID_PARAMETER,
                  "%s: '%s' is not available: each record's nonce is the static IV XOR its "
                  "sequence number (read 'seq')",
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
        !OSSL_PARAM_set_uint(p, alg->ccm ? EVP_CIPH_CCM_MODE : EVP_CIPH_GCM_MODE))
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

#define REC_DISPATCH(sym, idx)                                                                     \
    static void *sym##_newctx(void *provctx)                                                       \
    {                                                                                              \
        return rec_newctx(provctx, &m2m_rec_algs[idx]);                                            \
    }                                                                                              \
    static int sym##_get_params(OSSL_PARAM params[])                                               \
    {                                                                                              \
        return rec_get_params(&m2m_rec_algs[idx], params);                                         \
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

REC_DISPATCH(rec_aes128gcm, 0)
REC_DISPATCH(rec_aes256gcm, 1)
REC_DISPATCH(rec_chacha20poly1305, 2)
REC_DISPATCH(rec_aes128ccm, 3)
