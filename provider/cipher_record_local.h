/* SPDX-License-Identifier: Apache-2.0 */
/*
 * m2msec provider: the inside of an M2M-REC record context, shared by the
 * record state machine (cipher_record.c) and the two AEAD families that
 * drive the inner OpenSSL cipher: GCM-like (cipher_record_gcm.c: AES-GCM
 * and ChaCha20-Poly1305, which take AAD and data in pieces) and CCM
 * (cipher_record_ccm.c, which needs the whole record at once).
 */
#ifndef M2M_CIPHER_RECORD_LOCAL_H
#define M2M_CIPHER_RECORD_LOCAL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "cipher_record.h"
#include "param_fill.h"
#include "errors.h"
#include "key_limits.h"
#include "key_registry.h"
#include "prov.h"
#include "record_key_state.h"
#include "replay_window.h"

#define REC_IVLEN 12
#define REC_PREFIX 16 /* u64be(epoch) || u64be(seq) */
#define REC_MAXTAG 16
#define M2M_REC_CCM_NO_LEN SIZE_MAX /* CCM: no data length announced */

/*
 * The state of a record context: one value, so that no combination of
 * flags can say two things at once. Two things stay apart from it: the
 * direction (enc), chosen by the first init and fixed once a key is set;
 * and a decrypting context's received tag (tag_set), which the
 * application may hand in at any time, even before the key, as OpenSSL's
 * AEADs allow.
 *
 * Setting up: no record yet; key, IV, tag length and limits may change.
 *
 *     NEW ---IV---> IV           a new IV keeps IV and READY; a decrypting
 *      |            |            context may take another key (KEY and
 *     key          key           READY stay), an encrypting one takes one
 *      v            v            key only
 *     KEY ---IV---> READY
 *
 * The first record - encrypting: an update or final; decrypting: 'seq',
 * or an update or final refused for want of it - freezes the limits and
 * allocates the replay window; from then on key and IV are fixed:
 *
 *     READY --> STARTED --> BEGUN or SEQ (below); it stays STARTED if
 *                           that first record is refused: no 'seq' yet
 *
 * Records ('seq' exists in every state from IDLE on):
 *
 *     STARTED, IDLE, SEALED --update/final, encrypting: next seq--> BEGUN
 *     STARTED, IDLE, SEQ..DATA --'seq' accepted, decrypting--> SEQ
 *     SEQ --update/final--> BEGUN
 *     BEGUN --AAD--> AAD,  BEGUN or AAD --data--> DATA  (GCM-like: more)
 *     BEGUN, AAD, DATA --final--> SEALED  encrypting: the tag is readable
 *                                 IDLE    decrypting: the window learns seq
 *     SEQ..DATA --abandoned--> IDLE       a failure, a forged record, a
 *                                         new or refused 'seq', a re-init
 *     SEALED --re-init--> IDLE
 *
 * A re-init with the key and static IV the context already has (either
 * may be absent) is a re-init without them: it continues the sequence,
 * never restarts it (docs/PROTOCOL.md 5.6; `openssl speed -evp` re-inits
 * so before every record).
 *
 * A refusal that leaves things as they were (a call shape refused, an
 * encrypting record refused at its start, a 'seq' refused in STARTED or
 * IDLE) changes no state. The order of the values below matters: the code
 * compares them (state >= REC_SEQ: a record is in progress).
 */
typedef enum {
    REC_NEW,     /* neither key nor IV */
    REC_IV,      /* the static IV, no key yet */
    REC_KEY,     /* the key, no IV yet */
    REC_READY,   /* key and IV, no record yet */
    REC_STARTED, /* limits frozen; the first record was refused: no 'seq' */
    REC_IDLE,    /* between records */
    REC_SEALED,  /* encrypting: the last record is finished, its tag readable */
    REC_SEQ,     /* decrypting: 'seq' accepted, nothing of the record given yet */
    REC_BEGUN,   /* the nonce is on the inner cipher; no AAD or data given yet */
    REC_AAD,     /* AAD given */
    REC_DATA     /* data given */
} m2m_rec_state;

/* The result of one step of a record, as the family reports it to the state machine. */
typedef enum {
    REC_OK,      /* done */
    REC_REFUSED, /* refused (error raised): the record goes on as it was */
    REC_FAILED,  /* failed (error raised): the record is abandoned */
    REC_FORGED   /* decrypting: the record does not authenticate (the caller counts, raises) */
} m2m_rec_result;

typedef struct m2m_rec_ctx_st M2M_REC_CTX;

/*
 * An AEAD family: how the record state machine's steps reach the inner
 * cipher. Chosen once per algorithm (M2M_REC_ALG.ops); called with the
 * context in the state named. The state machine itself puts the nonce on
 * the inner cipher and reads the tag after final; where a family takes
 * the tag to verify is a property (tag_at_begin). A record of a GCM-like
 * cipher costs two calls through this table per direction: its AAD and
 * its data.
 */
typedef struct m2m_rec_ops_st {
    /* At key set, before the key reaches the inner cipher (NULL: nothing to do). */
    m2m_rec_result (*key)(M2M_REC_CTX *c);
    /*
     * A record begins (its seq is c->seq and c->prefix holds epoch || seq),
     * just before its nonce goes to the inner cipher (NULL: nothing to do).
     */
    m2m_rec_result (*begin)(M2M_REC_CTX *c);
    /*
     * update(NULL, NULL, len) in BEGUN, AAD or DATA: the record's data
     * length, announced. NULL: the family takes no length; then every
     * update of zero bytes does nothing, and a NULL input with a length is
     * refused.
     */
    m2m_rec_result (*msglen)(M2M_REC_CTX *c, size_t len);
    /* AAD, in BEGUN or AAD (len may be 0 when msglen is not NULL). */
    m2m_rec_result (*aad)(M2M_REC_CTX *c, const unsigned char *aad, size_t len);
    /* May len bytes of data come now? Asked before the limits are (NULL: yes). */
    m2m_rec_result (*data_ok)(const M2M_REC_CTX *c, size_t len);
    /* Data, in BEGUN, AAD or DATA (the state is still the one before it). */
    m2m_rec_result (*data)(M2M_REC_CTX *c, unsigned char *out, int *outl, const unsigned char *in,
                           size_t len);
    /* Final without data (in BEGUN or AAD): what the inner cipher still needs. */
    m2m_rec_result (*finish)(M2M_REC_CTX *c);
    /*
     * Decrypting, the inner cipher takes the tag to verify as the record
     * begins (CCM: begin hands it over), not just before final (the state
     * machine does that for the others).
     */
    int tag_at_begin;
} M2M_REC_OPS;

extern const M2M_REC_OPS m2m_rec_gcm_ops; /* AES-GCM, ChaCha20-Poly1305 */
extern const M2M_REC_OPS m2m_rec_ccm_ops; /* AES-CCM */

struct m2m_rec_ctx_st {
    M2M_PROVCTX *pc;
    const M2M_REC_ALG *alg;
    const M2M_REC_OPS *ops;  /* alg->ops */
    const M2M_REC_INNER *fn; /* the inner AEAD's functions (pc->rec_fn) */
    void *inner;             /* its context (NULL before the key), called through fn */
    m2m_rec_state state;
    int enc;     /* -1 until the first init */
    int tag_set; /* decrypting: tag holds the tag received for the next or current record */
    unsigned char iv[REC_IVLEN];
    uint64_t epoch;
    uint64_t seq;      /* the record in progress, or the last one (state REC_IDLE and later) */
    uint64_t next_seq; /* encrypting: the next to assign */
    size_t taglen;
    unsigned char tag[REC_MAXTAG]; /* SEALED: the last record's; decrypting: the received one */
    /* Requested limits (0: default); the effective ones live in lim. */
    uint64_t req_records, req_bytes, req_failures, req_not_after, req_window;
    M2M_LIMITS lim;
    M2M_REPLAY win;
    uint64_t now;       /* clock read once per record, at its start */
    uint64_t fork_id;   /* the process that keyed the context (fork_guard.h) */
    M2M_FAIL_REF fails; /* decrypting: the key's process-wide failure count */
    /*
     * Keyed: the key, to recognise it in a re-init (which then continues).
     * The inner cipher holds its schedule anyway; wiped with the context.
     */
    unsigned char key[32];
    /*
     * The record's epoch || seq, the start of its AAD (GCM-like: given to
     * the inner cipher with the first AAD, so pending while REC_BEGUN).
     */
    unsigned char prefix[REC_PREFIX];
    /* CCM: the record's AAD, buffered until its data comes, and the length announced. */
    struct {
        unsigned char *aad;
        size_t aadlen, aadcap;
        size_t msglen; /* M2M_REC_CCM_NO_LEN: none announced */
    } ccm;
    /*
     * M2M-RECAAD (alg->base != NULL): the key's process-wide state, and the
     * first bytes of a record's AAD, u64be(epoch) || u64be(seq), gathered
     * until all 16 have come (the record begins then).
     */
    struct {
        M2M_KEY_STATE *key;
        unsigned char hdr[REC_PREFIX];
        size_t hdrlen;
    } aad;
};

/* Raise "crypto operation failed" with "<cipher>: what"; evaluates to REC_FAILED. */
#define M2M_REC_FAIL(c, what)                                                                      \
    (M2M_RAISE(M2MSEC_R_CRYPTO_FAILED, "%s: %s", (c)->alg->name, (what)), REC_FAILED)

/* Hand c->tag to the inner cipher (set) or read it from there (!set); 0 on failure. */
static inline int m2m_rec_inner_tag(M2M_REC_CTX *c, int set)
{
    OSSL_PARAM p[2];

    m2m_param_fill(&p[0], OSSL_CIPHER_PARAM_AEAD_TAG, OSSL_PARAM_OCTET_STRING, c->tag, c->taglen);
    m2m_param_end(&p[1]);
    return set ? c->fn->set_ctx_params(c->inner, p) : c->fn->get_ctx_params(c->inner, p);
}

/*
 * An update of the inner AEAD (out NULL: AAD; in NULL: CCM's data length),
 * as EVP_CipherUpdate makes it for these ciphers (block size 1): the
 * output room is the input length.
 */
static inline int m2m_rec_inner_update(M2M_REC_CTX *c, unsigned char *out, int *outl,
                                       const unsigned char *in, size_t len)
{
    size_t n = 0;

    if (!c->fn->update(c->inner, out, &n, len, in, len))
        return 0;
    *outl = (int)n;
    return 1;
}

/* The inner AEAD's init: key or nonce (either may be NULL), in the context's direction. */
static inline int m2m_rec_inner_init(M2M_REC_CTX *c, const unsigned char *key, size_t keylen,
                                     const unsigned char *iv, size_t ivlen)
{
    return c->enc ? c->fn->einit(c->inner, key, keylen, iv, ivlen, NULL)
                  : c->fn->dinit(c->inner, key, keylen, iv, ivlen, NULL);
}

/* Raise "cannot start record <seq>"; REC_FAILED. */
m2m_rec_result m2m_rec_start_failed(const M2M_REC_CTX *c);

/*
 * The record state machine's steps that cipher_record_aad.c calls
 * (cipher_record.c): freeze the limits at the first record (1 if done
 * before), begin the record c->seq (-> BEGUN), and an update.
 */
int m2m_rec_start(M2M_REC_CTX *c);
int m2m_rec_begin(M2M_REC_CTX *c);
int m2m_rec_update(M2M_REC_CTX *c, unsigned char *out, size_t *outl, size_t outsize,
                   const unsigned char *in, size_t inl);

/*
 * M2M-RECAAD (cipher_record_aad.c), the hooks of the state machine for a
 * context whose alg->base is set; each returns 1 to go on, 0 (raised) if
 * refused.
 */
/* At key set (fp: the key's fingerprint under the M2M-REC name): the key's state. */
int m2m_rec_aad_key(M2M_REC_CTX *c, const M2M_KEY_FP *fp);
/* An update before the record has begun (AAD: gathered; data: refused). */
int m2m_rec_aad_update(M2M_REC_CTX *c, unsigned char *out, size_t *outl, size_t outsize,
                       const unsigned char *in, size_t inl);
/* Final before the record has begun: refused (its AAD header is missing). */
int m2m_rec_aad_early_final(M2M_REC_CTX *c);
/* len bytes of record data: counted against the key's byte limit. */
int m2m_rec_aad_bytes(M2M_REC_CTX *c, size_t len);
/* Decrypting, the tag verified: the key's window learns the record. */
int m2m_rec_aad_accept(M2M_REC_CTX *c);
/* The 'seq' parameter: refused (the AAD carries it). */
int m2m_rec_aad_seq_refused(const M2M_REC_CTX *c);

#endif
