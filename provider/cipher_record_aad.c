/* SPDX-License-Identifier: Apache-2.0 */
/*
 * M2M-RECAAD-* record ciphers (docs/PROTOCOL.md 5.7): the M2M-REC records
 * for programs that know only the standard AEAD calls - key and static IV
 * at init, AAD, data, final, tag - and often make a new cipher context for
 * every message (Node.js's crypto, for one).
 *
 * Same key, static IV, nonce and AEAD input as the M2M-REC cipher it is
 * built on (alg->base), so the records are the same bytes. The difference:
 * the program passes the whole AAD, u64be(epoch) || u64be(seq) || its own
 * AAD, and the record begins once its first 16 bytes have come: they name
 * the record's epoch and seq. What an M2M-REC context keeps for itself -
 * the next sequence number, the replay window, the usage of the key - is
 * kept per key for the whole process (record_key_state.c), so that it
 * holds across every context of the key.
 *
 * This file is the hooks the record state machine (cipher_record.c) calls
 * for such a context, and the algorithm table.
 */
#include <string.h>
#include <openssl/evp.h>

#include "cipher_record_local.h"
#include "m2msec/names.h"

const M2M_REC_ALG m2m_rec_aad_algs[M2M_RECAAD_NALGS] = {
    {.name = M2MSEC_RECAAD_AES_128_GCM,
     .inner = "AES-128-GCM",
     .ops = &m2m_rec_gcm_ops,
     .mode = EVP_CIPH_GCM_MODE,
     .keylen = 16,
     .base = &m2m_rec_algs[0]},
    {.name = M2MSEC_RECAAD_AES_256_GCM,
     .inner = "AES-256-GCM",
     .ops = &m2m_rec_gcm_ops,
     .mode = EVP_CIPH_GCM_MODE,
     .keylen = 32,
     .base = &m2m_rec_algs[1]},
    {.name = M2MSEC_RECAAD_CHACHA20_POLY1305,
     .inner = "ChaCha20-Poly1305",
     .ops = &m2m_rec_gcm_ops,
     .mode = EVP_CIPH_GCM_MODE,
     .keylen = 32,
     .base = &m2m_rec_algs[2]},
};

static uint64_t get_u64be(const unsigned char *p)
{
    uint64_t v = 0;

    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return v;
}

int m2m_rec_aad_key(M2M_REC_CTX *c, const M2M_KEY_FP *fp)
{
    M2M_KEY_STATE *k = m2m_key_state_get(fp, c->enc, c->alg->name);

    if (k == NULL)
        return 0;
    c->aad.key = k;
    return 1;
}

/* The 16-byte header is complete: check it against the key's state, then begin the record. */
static int begin_record(M2M_REC_CTX *c)
{
    uint64_t epoch = get_u64be(c->aad.hdr), seq = get_u64be(c->aad.hdr + 8);
    uint64_t window = c->req_window != 0 ? c->req_window : c->pc->policy.replay_window;
    uint64_t failures = 0;
    M2M_LIMITS lim;

    c->aad.hdrlen = 0;
    if (!m2m_rec_start(c)) /* the first record: the context's limits are frozen now */
        return 0;
    c->now = m2m_now();
    if (!c->enc)
        failures = m2m_failures_read(&c->fails); /* the key's, process-wide */
    lim = c->lim;
    if (!m2m_key_state_begin(c->aad.key, c->enc, c->alg->name, epoch, seq, c->now, failures, window,
                             &lim)) {
        if (!c->enc)
            c->tag_set = 0; /* a refused record takes its tag with it, as with 'seq' */
        return 0;
    }
    c->lim = lim; /* the key's limits and usage: what get_params reports */
    c->epoch = epoch;
    c->seq = seq;
    if (c->enc)
        c->next_seq = seq + 1;
    else
        c->state = REC_SEQ;
    return m2m_rec_begin(c);
}

int m2m_rec_aad_update(M2M_REC_CTX *c, unsigned char *out, size_t *outl, size_t outsize,
                       const unsigned char *in, size_t inl)
{
    size_t take;

    *outl = 0;
    if (c->state < REC_READY) {
        M2M_RAISE(M2MSEC_R_BAD_STATE, "%s: set the key and the 12-byte static IV first",
                  c->alg->name);
        return 0;
    }
    if (out != NULL) {
        size_t had = c->aad.hdrlen;

        c->aad.hdrlen = 0; /* the record is abandoned: its AAD starts again */
        M2M_RAISE(M2MSEC_R_BAD_STATE,
                  "%s: record data before the AAD header (%zu of its 16 bytes given): the AAD "
                  "must begin with u64be(epoch) || u64be(seq)",
                  c->alg->name, had);
        return 0;
    }
    take = REC_PREFIX - c->aad.hdrlen;
    if (take > inl)
        take = inl;
    memcpy(c->aad.hdr + c->aad.hdrlen, in, take);
    c->aad.hdrlen += take;
    if (c->aad.hdrlen < REC_PREFIX)
        return 1;
    if (!begin_record(c))
        return 0;
    /* The rest of this AAD is the application's: the record has begun, the usual path. */
    return inl == take || m2m_rec_update(c, NULL, outl, outsize, in + take, inl - take);
}

int m2m_rec_aad_early_final(M2M_REC_CTX *c)
{
    size_t had = c->aad.hdrlen;

    c->aad.hdrlen = 0;
    M2M_RAISE(M2MSEC_R_BAD_STATE,
              "%s: final without the record's AAD header (%zu of its 16 bytes given): the AAD "
              "must begin with u64be(epoch) || u64be(seq)",
              c->alg->name, had);
    return 0;
}

int m2m_rec_aad_bytes(M2M_REC_CTX *c, size_t len)
{
    uint64_t failures = c->enc ? 0 : m2m_failures_read(&c->fails);

    return m2m_key_state_bytes(c->aad.key, c->enc, len, c->now, failures, c->epoch);
}

int m2m_rec_aad_accept(M2M_REC_CTX *c)
{
    return m2m_key_state_accept(c->aad.key, c->epoch, c->seq);
}

int m2m_rec_aad_seq_refused(const M2M_REC_CTX *c)
{
    M2M_RAISE(M2MSEC_R_BAD_STATE,
              "%s: the sequence number is read from the record's AAD (its bytes 8..15); "
              "'" M2MSEC_REC_PARAM_SEQ "' cannot be set",
              c->alg->name);
    return 0;
}
