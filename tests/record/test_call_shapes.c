/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Standard EVP call shapes on the M2M-REC ciphers, side by side with the
 * stock AEADs (docs/PROTOCOL.md 5.5).
 *
 * Each row of the table is a sequence of EVP calls taken from OpenSSL's own
 * use of its AEADs (test/evp_test.c's cipher test: the cipher set first,
 * IV length and tag (length) by ctrl, key and IV later, the CCM message
 * length call, AAD and data in pieces, the tag early or late, in place,
 * EVP_CIPHER_CTX_copy, set_padding; test/aesgcmtest.c; apps/speed.c's AEAD
 * loops; EVP_Cipher as ssl/record uses it), plus the degenerate calls a
 * caller can make (NULL input with a length, empty updates, NULL and empty
 * parameter arrays, parameters without data). Each row runs on
 * AES-128-GCM / AES-256-GCM / ChaCha20-Poly1305 / AES-128-CCM from the
 * default provider and on the M2M-REC cipher over it, encrypting and
 * decrypting. The rule: the M2M-REC cipher never crashes (run under
 * ASan); it either does what the stock cipher does - and then its output
 * is checked against the independent reference, the stock AEAD with the
 * record format of PROTOCOL.md 5.1 - or fails with an m2msec error on the
 * queue. Each row also states which of the two the M2M-REC cipher must do,
 * and the few rows where it accepts what the stock cipher refuses say why.
 *
 * For the M2M-REC ciphers a decrypting run sets the record's sequence
 * number ('seq') right after the key and IV (PROTOCOL.md 5.3); nothing else
 * is added to the stock sequence.
 *
 * With the argument "recaad" the same table runs on the M2M-RECAAD ciphers
 * (PROTOCOL.md 5.7), which take no 'seq': every run's AAD begins with the
 * 16-byte header u64be(0) || u64be(0) (epoch 0, seq 0), and the stock run
 * gets the same AAD, so with nonce = IV XOR 0 both compute the same record.
 * Two rows differ there, by design: a final without any update has no AAD
 * header (refused), and a reset context may take its key again (the
 * sequence numbers are the key's, not the context's).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CUnit/Basic.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/provider.h>
#include <openssl/rand.h>

#include "m2msec/record.h"
#include "test_run.h"

#define IVLEN 12
#define TAGLEN 16
#define PTLEN 40
#define NALGS 4 /* at most */

typedef struct {
    const char *name, *ref;
    size_t keylen;
    int ccm;
} ALG;

static const ALG rec_algs[NALGS] = {
    {M2MSEC_REC_AES_128_GCM, "AES-128-GCM", 16, 0},
    {M2MSEC_REC_AES_256_GCM, "AES-256-GCM", 32, 0},
    {M2MSEC_REC_CHACHA20_POLY1305, "ChaCha20-Poly1305", 32, 0},
    {M2MSEC_REC_AES_128_CCM, "AES-128-CCM", 16, 1},
};

static const ALG aad_algs[] = {
    {M2MSEC_RECAAD_AES_128_GCM, "AES-128-GCM", 16, 0},
    {M2MSEC_RECAAD_AES_256_GCM, "AES-256-GCM", 32, 0},
    {M2MSEC_RECAAD_CHACHA20_POLY1305, "ChaCha20-Poly1305", 32, 0},
};

static int recaad; /* the M2M-RECAAD ciphers ("recaad") rather than M2M-REC */
static const ALG *algs = rec_algs;
static size_t nalgs = NALGS;

static OSSL_LIB_CTX *libctx;
static OSSL_PROVIDER *prov_m2m, *prov_default;
static EVP_CIPHER *rec_ciph[NALGS], *ref_ciph[NALGS];

/* The application AAD; M2M-RECAAD: after the header of epoch 0, seq 0 (all zero). */
static const unsigned char aad_buf[16 + 13] = "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0m2m hdr 13 by";
static const unsigned char *aad = aad_buf + 16;
static size_t aad_len = 13;
static const unsigned char plain[PTLEN] = "forty bytes of plaintext for the shapes";
#define DEC_SEQ 7 /* the sequence number of the record a decrypting run opens */

/* ------------------------------------------------------------------ */
/* The reference: the stock AEAD in its plainest use                   */
/* ------------------------------------------------------------------ */

static int aead_seal(size_t ai, const unsigned char *key, const unsigned char *nonce,
                     const unsigned char *a, size_t alen, const unsigned char *pt, size_t len,
                     unsigned char *ct, unsigned char *tag)
{
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int n, ok = 0;

    if (c == NULL || !EVP_EncryptInit_ex2(c, ref_ciph[ai], NULL, NULL, NULL) ||
        !EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_IVLEN, IVLEN, NULL) ||
        (algs[ai].ccm && !EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_TAG, TAGLEN, NULL)) ||
        !EVP_EncryptInit_ex2(c, NULL, key, nonce, NULL) ||
        (algs[ai].ccm && !EVP_EncryptUpdate(c, NULL, &n, NULL, (int)len)) ||
        !EVP_EncryptUpdate(c, NULL, &n, a, (int)alen) ||
        !EVP_EncryptUpdate(c, ct, &n, pt, (int)len) || !EVP_EncryptFinal_ex(c, ct + n, &n) ||
        !EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, TAGLEN, tag))
        goto end;
    ok = 1;
end:
    EVP_CIPHER_CTX_free(c);
    return ok;
}

/* The record of PROTOCOL.md 5.1 (epoch 0): nonce = IV XOR seq, AAD = 0^8 || u64be(seq) || aad. */
static int record_seal(size_t ai, const unsigned char *key, const unsigned char *iv, uint64_t seq,
                       const unsigned char *pt, size_t len, unsigned char *ct, unsigned char *tag)
{
    unsigned char nonce[IVLEN], full[16 + sizeof(aad_buf)];

    if (recaad) /* the AAD holds the header of seq 0: the record of seq 0 only */
        return seq == 0 && aead_seal(ai, key, iv, aad, aad_len, pt, len, ct, tag);
    memcpy(nonce, iv, IVLEN);
    memset(full, 0, 16);
    for (int i = 0; i < 8; i++) {
        nonce[IVLEN - 8 + i] ^= (unsigned char)(seq >> (56 - 8 * i));
        full[8 + i] = (unsigned char)(seq >> (56 - 8 * i));
    }
    memcpy(full + 16, aad, aad_len);
    return aead_seal(ai, key, nonce, full, 16 + aad_len, pt, len, ct, tag);
}

/* ------------------------------------------------------------------ */
/* One run of one shape                                                */
/* ------------------------------------------------------------------ */

typedef struct {
    size_t ai;
    int ours, enc;
    EVP_CIPHER_CTX *ctx;
    const EVP_CIPHER *ciph;
    unsigned char key[32], iv[IVLEN];
    unsigned char in[PTLEN], buf[PTLEN + 32]; /* input (pt or ct); output */
    unsigned char tag[TAGLEN];                /* decrypting: the record's; encrypting: read back */
    uint64_t seq;                             /* ours: the record's sequence number */
    int outlen;
} RUN;

static int is_ccm(const RUN *r)
{
    return algs[r->ai].ccm;
}

/* ---- steps ---- */

static int st_cipher(RUN *r)
{
    return EVP_CipherInit_ex2(r->ctx, r->ciph, NULL, NULL, r->enc, NULL);
}

static int st_ivlen(RUN *r)
{
    return EVP_CIPHER_CTX_ctrl(r->ctx, EVP_CTRL_AEAD_SET_IVLEN, IVLEN, NULL) > 0;
}

/* CCM: the tag length (encrypting), or the tag (decrypting), as evp_test sets them. */
static int st_tag_early(RUN *r)
{
    return EVP_CIPHER_CTX_ctrl(r->ctx, EVP_CTRL_AEAD_SET_TAG, TAGLEN, r->enc ? NULL : r->tag) > 0;
}

static int st_tag(RUN *r)
{
    return r->enc || EVP_CIPHER_CTX_ctrl(r->ctx, EVP_CTRL_AEAD_SET_TAG, TAGLEN, r->tag) > 0;
}

/* GCM/ChaCha, decrypting: the tag before final (CCM had it before the key). */
static int st_tag_gcm(RUN *r)
{
    return is_ccm(r) || st_tag(r);
}

/* Ours, decrypting: the record's sequence number (the one step the stock run does not have). */
static int st_seq(RUN *r)
{
    OSSL_PARAM p[2];

    if (!r->ours || r->enc || recaad) /* M2M-RECAAD: seq is in the AAD */
        return 1;
    p[0] = OSSL_PARAM_construct_uint64(M2MSEC_REC_PARAM_SEQ, &r->seq);
    p[1] = OSSL_PARAM_construct_end();
    return EVP_CIPHER_CTX_set_params(r->ctx, p);
}

static int st_keyiv(RUN *r)
{
    return EVP_CipherInit_ex2(r->ctx, NULL, r->key, r->iv, -1, NULL) && st_seq(r);
}

static int st_len(RUN *r)
{
    int n;

    return EVP_CipherUpdate(r->ctx, NULL, &n, NULL, PTLEN);
}

static int st_aad(RUN *r, int pieces)
{
    int n;

    if (pieces == 1)
        return EVP_CipherUpdate(r->ctx, NULL, &n, aad, (int)aad_len);
    return EVP_CipherUpdate(r->ctx, NULL, &n, aad, 1) &&
           EVP_CipherUpdate(r->ctx, NULL, &n, aad + 1, 7) &&
           EVP_CipherUpdate(r->ctx, NULL, &n, aad + 8, (int)aad_len - 8);
}

static int st_data(RUN *r, int pieces, int inplace)
{
    unsigned char *out = r->buf;
    const unsigned char *in = r->in;
    int n, total = 0, cut[4] = {0, 1, 17, PTLEN};

    if (inplace) {
        memcpy(r->buf, r->in, PTLEN);
        in = r->buf;
    }
    if (pieces == 1) {
        if (!EVP_CipherUpdate(r->ctx, out, &n, in, PTLEN))
            return 0;
        r->outlen = n;
        return 1;
    }
    for (int i = 0; i < 3; i++) {
        if (!EVP_CipherUpdate(r->ctx, out + total, &n, in + cut[i], cut[i + 1] - cut[i]))
            return 0;
        total += n;
    }
    r->outlen = total;
    return 1;
}

static int st_final(RUN *r)
{
    int n = 0;

    if (!EVP_CipherFinal_ex(r->ctx, r->buf + r->outlen, &n))
        return 0;
    r->outlen += n;
    return 1;
}

static int st_get_tag(RUN *r)
{
    OSSL_PARAM p[2];

    if (!r->enc)
        return 1;
    if (EVP_CIPHER_CTX_ctrl(r->ctx, EVP_CTRL_AEAD_GET_TAG, TAGLEN, r->tag) <= 0)
        return 0;
    if (!r->ours)
        return 1;
    p[0] = OSSL_PARAM_construct_uint64(M2MSEC_REC_PARAM_SEQ, &r->seq);
    p[1] = OSSL_PARAM_construct_end();
    return EVP_CIPHER_CTX_get_params(r->ctx, p);
}

/* The stock set-up before the key, as evp_test does it. */
static int st_prelude(RUN *r)
{
    return st_cipher(r) && st_ivlen(r) && (!is_ccm(r) || st_tag_early(r));
}

/* The whole record after key and IV: [CCM length] AAD data final [tag]. */
static int st_record(RUN *r)
{
    return (!is_ccm(r) || st_len(r)) && st_aad(r, 1) && st_data(r, 1, 0) && st_tag_gcm(r) &&
           st_final(r) && st_get_tag(r);
}

/* ---- the shapes ---- */

/* evp_test: cipher; IV length; (CCM) tag; key+IV; CCM length; AAD; data; final; tag. */
static int sh_evp_test(RUN *r)
{
    return st_prelude(r) && st_keyiv(r) && st_record(r);
}

/* aesgcmtest: cipher+key+IV in one call (12-byte IV is the default), GCM/ChaCha. */
static int sh_one_init(RUN *r)
{
    return EVP_CipherInit_ex2(r->ctx, r->ciph, r->key, r->iv, r->enc, NULL) && st_seq(r) &&
           st_aad(r, 1) && st_data(r, 1, 0) && st_tag(r) && st_final(r) && st_get_tag(r);
}

/* The key in one call, the IV in another. */
static int sh_key_then_iv(RUN *r)
{
    return st_prelude(r) && EVP_CipherInit_ex2(r->ctx, NULL, r->key, NULL, -1, NULL) &&
           EVP_CipherInit_ex2(r->ctx, NULL, NULL, r->iv, -1, NULL) && st_seq(r) && st_record(r);
}

/* The tag set right after key, IV (and seq): before AAD. */
static int sh_tag_after_init(RUN *r)
{
    return st_cipher(r) && st_ivlen(r) && (!is_ccm(r) || !r->enc || st_tag_early(r)) &&
           st_keyiv(r) && st_tag(r) && (!is_ccm(r) || st_len(r)) && st_aad(r, 1) &&
           st_data(r, 1, 0) && st_final(r) && st_get_tag(r);
}

/* GCM style: the tag after the data, before final (evp_test "tag_late"). */
static int sh_tag_late(RUN *r)
{
    return st_cipher(r) && st_ivlen(r) && (!is_ccm(r) || !r->enc || st_tag_early(r)) &&
           st_keyiv(r) && (!is_ccm(r) || st_len(r)) && st_aad(r, 1) && st_data(r, 1, 0) &&
           st_tag(r) && st_final(r) && st_get_tag(r);
}

static int sh_aad_pieces(RUN *r)
{
    return st_prelude(r) && st_keyiv(r) && st_aad(r, 3) && st_data(r, 1, 0) && st_tag_gcm(r) &&
           st_final(r) && st_get_tag(r);
}

static int sh_data_pieces(RUN *r)
{
    return st_prelude(r) && st_keyiv(r) && (!is_ccm(r) || st_len(r)) && st_aad(r, 1) &&
           st_data(r, 3, 0) && st_tag_gcm(r) && st_final(r) && st_get_tag(r);
}

static int sh_in_place(RUN *r)
{
    return st_prelude(r) && st_keyiv(r) && (!is_ccm(r) || st_len(r)) && st_aad(r, 1) &&
           st_data(r, 1, 1) && st_tag_gcm(r) && st_final(r) && st_get_tag(r);
}

/* Empty updates around the real ones: NULL input with length 0 and a real pointer with 0. */
static int sh_empty_updates(RUN *r)
{
    int n;

    return st_prelude(r) && st_keyiv(r) && (!is_ccm(r) || st_len(r)) &&
           EVP_CipherUpdate(r->ctx, NULL, &n, aad, 0) && st_aad(r, 1) &&
           EVP_CipherUpdate(r->ctx, NULL, &n, aad, 0) &&
           EVP_CipherUpdate(r->ctx, r->buf, &n, NULL, 0) && st_data(r, 1, 0) &&
           EVP_CipherUpdate(r->ctx, r->buf + PTLEN, &n, NULL, 0) && st_tag_gcm(r) && st_final(r) &&
           st_get_tag(r);
}

/* GCM/ChaCha: data updates of zero bytes, both forms, between the pieces. */
static int sh_empty_data_between(RUN *r)
{
    int n;

    return st_prelude(r) && st_keyiv(r) && EVP_CipherUpdate(r->ctx, NULL, &n, aad, 5) &&
           EVP_CipherUpdate(r->ctx, r->buf, &n, r->in, 0) &&
           EVP_CipherUpdate(r->ctx, r->buf, &n, NULL, 0) &&
           EVP_CipherUpdate(r->ctx, NULL, &n, aad + 5, (int)aad_len - 5) && st_data(r, 1, 0) &&
           st_tag_gcm(r) && st_final(r) && st_get_tag(r);
}

/* CCM without the length call (the stock CCM needs it when there is AAD). */
static int sh_ccm_no_len(RUN *r)
{
    return st_prelude(r) && st_keyiv(r) && st_aad(r, 1) && st_data(r, 1, 0) && st_tag_gcm(r) &&
           st_final(r) && st_get_tag(r);
}

/* CCM: the length call announcing another length than the data's. */
static int sh_ccm_wrong_len(RUN *r)
{
    int n;

    return st_prelude(r) && st_keyiv(r) && EVP_CipherUpdate(r->ctx, NULL, &n, NULL, PTLEN + 1) &&
           st_aad(r, 1) && st_data(r, 1, 0) && st_tag_gcm(r) && st_final(r) && st_get_tag(r);
}

/* CCM: the data in two updates (CCM takes it in one). */
static int sh_ccm_data_pieces(RUN *r)
{
    return st_prelude(r) && st_keyiv(r) && st_len(r) && st_aad(r, 1) && st_data(r, 3, 0) &&
           st_tag_gcm(r) && st_final(r) && st_get_tag(r);
}

/* GCM/ChaCha: update(NULL, NULL, len), CCM's length call, on a cipher that takes none. */
static int sh_len_on_gcm(RUN *r)
{
    return st_prelude(r) && st_keyiv(r) && st_len(r) && st_aad(r, 1) && st_data(r, 1, 0) &&
           st_tag_gcm(r) && st_final(r) && st_get_tag(r);
}

/* Data with a NULL input pointer and a non-zero length. */
static int sh_null_input(RUN *r)
{
    int n;

    return st_prelude(r) && st_keyiv(r) && (!is_ccm(r) || st_len(r)) && st_aad(r, 1) &&
           EVP_CipherUpdate(r->ctx, r->buf, &n, NULL, PTLEN) && st_tag_gcm(r) && st_final(r) &&
           st_get_tag(r);
}

/* A record with no update at all: final only (an empty record, no AAD). */
static int sh_final_only(RUN *r)
{
    int n = 0;

    if (!(st_prelude(r) && st_keyiv(r)))
        return 0;
    r->outlen = 0;
    return st_tag_gcm(r) && EVP_CipherFinal_ex(r->ctx, r->buf, &n) && st_get_tag(r);
}

/*
 * A re-init without cipher, key or IV after the key, and set_padding(0) as
 * evp_test does; the record ('seq' for ours) after them, since a re-init
 * abandons a record in progress.
 */
static int sh_reinit_padding(RUN *r)
{
    return st_prelude(r) && EVP_CipherInit_ex2(r->ctx, NULL, r->key, r->iv, -1, NULL) &&
           EVP_CipherInit_ex2(r->ctx, NULL, NULL, NULL, -1, NULL) &&
           EVP_CIPHER_CTX_set_padding(r->ctx, 0) && st_seq(r) && st_record(r);
}

/* EVP_Cipher() for AAD, data and final, as the TLS record layer and speed use it. */
static int sh_evp_cipher(RUN *r)
{
    int n;

    if (!(st_prelude(r) && st_keyiv(r)))
        return 0;
    if (is_ccm(r) && EVP_Cipher(r->ctx, NULL, NULL, PTLEN) != PTLEN)
        return 0;
    if (EVP_Cipher(r->ctx, NULL, aad, (unsigned int)aad_len) != (int)aad_len)
        return 0;
    n = EVP_Cipher(r->ctx, r->buf, r->in, PTLEN);
    if (n != PTLEN)
        return 0;
    r->outlen = n;
    return st_tag_gcm(r) && EVP_Cipher(r->ctx, NULL, NULL, 0) >= 0 && st_get_tag(r);
}

/*
 * Does the stock cipher of this run crash on get_params(NULL)? OpenSSL 3.5
 * and later decode AES-GCM's context parameters with generated code that
 * walks the array without a NULL check (providers/implementations/ciphers/
 * ciphercommon_gcm.c; seen with 3.5.9 and 3.6 in scripts/ossl-matrix):
 * EVP_CIPHER_CTX_get_params(ctx, NULL) on the stock AES-GCM dies with
 * SIGSEGV there, so that one call is left out for the stock AES-GCM only.
 * The M2M-REC ciphers always get it.
 */
static int stock_null_get_crashes(const RUN *r)
{
    return !r->ours && strncmp(algs[r->ai].ref, "AES-", 4) == 0 && !algs[r->ai].ccm &&
           (OPENSSL_version_major() > 3 ||
            (OPENSSL_version_major() == 3 && OPENSSL_version_minor() >= 5));
}

/* NULL and empty parameter arrays, set and get, at every step. */
static int nulls(RUN *r)
{
    OSSL_PARAM empty[1] = {OSSL_PARAM_END};

    return EVP_CIPHER_CTX_set_params(r->ctx, NULL) && EVP_CIPHER_CTX_set_params(r->ctx, empty) &&
           (stock_null_get_crashes(r) || EVP_CIPHER_CTX_get_params(r->ctx, NULL)) &&
           EVP_CIPHER_CTX_get_params(r->ctx, empty);
}

static int sh_null_params(RUN *r)
{
    return st_cipher(r) && nulls(r) && st_ivlen(r) && (!is_ccm(r) || st_tag_early(r)) && nulls(r) &&
           st_keyiv(r) && nulls(r) && (!is_ccm(r) || st_len(r)) && st_aad(r, 1) && nulls(r) &&
           st_data(r, 1, 0) && nulls(r) && st_tag_gcm(r) && st_final(r) && nulls(r) &&
           st_get_tag(r);
}

/* The lengths EVP reads back; set_key_length with the key's length. */
static int sh_lengths(RUN *r)
{
    return st_prelude(r) && EVP_CIPHER_CTX_get_iv_length(r->ctx) == IVLEN &&
           EVP_CIPHER_CTX_get_key_length(r->ctx) == (int)algs[r->ai].keylen &&
           EVP_CIPHER_CTX_set_key_length(r->ctx, (int)algs[r->ai].keylen) && st_keyiv(r) &&
           EVP_CIPHER_CTX_get_tag_length(r->ctx) == TAGLEN && st_record(r);
}

/* The tag length by the ctrl with no tag (the CCM and ChaCha20-Poly1305 convention). */
static int sh_taglen_ctrl(RUN *r)
{
    return st_cipher(r) && st_ivlen(r) &&
           EVP_CIPHER_CTX_ctrl(r->ctx, EVP_CTRL_AEAD_SET_TAG, TAGLEN, NULL) > 0 &&
           (!is_ccm(r) || r->enc || st_tag_early(r)) && st_keyiv(r) && st_tag(r) && st_record(r);
}

/* The tag readable only from an encrypting context; settable only on a decrypting one. */
static int sh_wrong_direction_tag(RUN *r)
{
    unsigned char t[TAGLEN] = {0};

    if (!(st_prelude(r) && st_keyiv(r) && st_record(r)))
        return 0;
    return r->enc ? EVP_CIPHER_CTX_ctrl(r->ctx, EVP_CTRL_AEAD_SET_TAG, TAGLEN, t) > 0
                  : EVP_CIPHER_CTX_ctrl(r->ctx, EVP_CTRL_AEAD_GET_TAG, TAGLEN, t) > 0;
}

/* An IV length other than 12 (the stock GCM takes any, CCM 7..13, ChaCha up to 12). */
static int sh_ivlen_16(RUN *r)
{
    return st_cipher(r) && EVP_CIPHER_CTX_ctrl(r->ctx, EVP_CTRL_AEAD_SET_IVLEN, 16, NULL) > 0;
}

/* EVP_CIPHER_CTX_get_original_iv / get_updated_iv after the key and IV. */
static int sh_read_iv(RUN *r)
{
    unsigned char v[IVLEN];

    return st_prelude(r) && st_keyiv(r) && EVP_CIPHER_CTX_get_original_iv(r->ctx, v, IVLEN) &&
           EVP_CIPHER_CTX_get_updated_iv(r->ctx, v, IVLEN);
}

/* The TLS record layer's AAD control (EVP_CTRL_AEAD_TLS1_AAD). */
static int sh_tls_aad(RUN *r)
{
    unsigned char tlsaad[EVP_AEAD_TLS1_AAD_LEN] = {0, 0, 0, 0, 0, 0, 0, 1, 23, 3, 3, 0, 64};

    return st_prelude(r) && st_keyiv(r) &&
           EVP_CIPHER_CTX_ctrl(r->ctx, EVP_CTRL_AEAD_TLS1_AAD, EVP_AEAD_TLS1_AAD_LEN, tlsaad) > 0;
}

/* EVP_CIPHER_CTX_copy after the key, the copy then doing the record. */
static int sh_copy(RUN *r)
{
    EVP_CIPHER_CTX *cp = EVP_CIPHER_CTX_new();
    int ok;

    if (cp == NULL || !(st_prelude(r) && st_keyiv(r)) || !EVP_CIPHER_CTX_copy(cp, r->ctx)) {
        EVP_CIPHER_CTX_free(cp);
        return 0;
    }
    EVP_CIPHER_CTX_free(r->ctx);
    r->ctx = cp;
    ok = st_record(r);
    return ok;
}

/* EVP_CIPHER_CTX_reset after the key, then the whole sequence again (same key). */
static int sh_reset(RUN *r)
{
    return st_prelude(r) && st_keyiv(r) && EVP_CIPHER_CTX_reset(r->ctx) && sh_evp_test(r);
}

/* Parameters without data: 'seq' and the tag length through OSSL_PARAMs whose data is NULL. */
static int sh_param_no_data(RUN *r)
{
    OSSL_PARAM p[2];

    if (!(st_prelude(r) && st_keyiv(r)))
        return 0;
    p[0] =
        OSSL_PARAM_construct_uint64(r->ours ? M2MSEC_REC_PARAM_SEQ : OSSL_CIPHER_PARAM_IVLEN, NULL);
    p[1] = OSSL_PARAM_construct_end();
    return EVP_CIPHER_CTX_set_params(r->ctx, p);
}

static int sh_taglen_no_data(RUN *r)
{
    OSSL_PARAM p[2];

    if (!st_cipher(r))
        return 0;
    p[0] = OSSL_PARAM_construct_size_t(OSSL_CIPHER_PARAM_AEAD_TAGLEN, NULL);
    p[1] = OSSL_PARAM_construct_end();
    return EVP_CIPHER_CTX_set_params(r->ctx, p);
}

/* A tag parameter with NULL data and an odd length (a tag length nobody supports). */
static int sh_taglen_5(RUN *r)
{
    return st_cipher(r) && EVP_CIPHER_CTX_ctrl(r->ctx, EVP_CTRL_AEAD_SET_TAG, 5, NULL) > 0;
}

/* Reading the tag into a NULL buffer: a size query. */
static int sh_tag_size_query(RUN *r)
{
    OSSL_PARAM p[2];

    if (!(st_prelude(r) && st_keyiv(r) && st_record(r)) || !r->enc)
        return r->enc ? 0 : 1;
    p[0] = OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, NULL, TAGLEN);
    p[1] = OSSL_PARAM_construct_end();
    return EVP_CIPHER_CTX_get_params(r->ctx, p);
}

/* ------------------------------------------------------------------ */
/* The table                                                           */
/* ------------------------------------------------------------------ */

enum { ALL = 0, GCM_ONLY = 1, CCM_ONLY = 2 }; /* GCM_ONLY: GCM and ChaCha20-Poly1305 */
enum { OK = 1, FAIL = 0 };
/* How the result of a successful run is checked. */
enum { CHECK_RECORD, CHECK_NONE };

typedef struct {
    const char *name;
    int (*fn)(RUN *r);
    int which;
    int ours_enc, ours_dec;  /* what the M2M-REC cipher must do */
    int check;               /* CHECK_RECORD: the output is a whole record */
    const char *lenient;     /* why the M2M-REC cipher may accept what the stock one refuses */
    int stock_fork;          /* the stock cipher may crash on this one: run it in a child */
    const char *stock_quirk; /* why a successful stock run need not give the plain AEAD's record */
} SHAPE;

static const SHAPE shapes[] = {
    {"evp_test: cipher, ivlen, tag, key+IV, [CCM length], AAD, data, final", sh_evp_test, ALL, OK,
     OK, CHECK_RECORD, NULL, 0, NULL},
    {"aesgcmtest: cipher, key and IV in one init", sh_one_init, GCM_ONLY, OK, OK, CHECK_RECORD,
     NULL, 0, NULL},
    {"key and IV in separate inits", sh_key_then_iv, ALL, OK, OK, CHECK_RECORD, NULL, 0, NULL},
    {"tag set after init, before AAD", sh_tag_after_init, ALL, OK, OK, CHECK_RECORD,
     "the CCM tag can come after the key (the stock CCM fixes its tag length with the key)", 0,
     NULL},
    {"tag set after the data, before final", sh_tag_late, GCM_ONLY, OK, OK, CHECK_RECORD, NULL, 0,
     NULL},
    {"CCM: tag set after the data (CCM verifies while decrypting)", sh_tag_late, CCM_ONLY, OK, FAIL,
     CHECK_RECORD, NULL, 0, NULL},
    {"AAD in three pieces", sh_aad_pieces, GCM_ONLY, OK, OK, CHECK_RECORD, NULL, 0, NULL},
    {"data in three pieces", sh_data_pieces, GCM_ONLY, OK, OK, CHECK_RECORD, NULL, 0, NULL},
    {"in place (out == in)", sh_in_place, ALL, OK, OK, CHECK_RECORD, NULL, 0, NULL},
    {"empty updates: AAD of 0 bytes, data (out, NULL, 0)", sh_empty_updates, ALL, OK, OK,
     CHECK_RECORD, NULL, 0, NULL},
    {"empty data updates between AAD pieces", sh_empty_data_between, GCM_ONLY, OK, OK, CHECK_RECORD,
     NULL, 0, NULL},
    {"CCM: AAD and data without the length call", sh_ccm_no_len, CCM_ONLY, OK, OK, CHECK_RECORD,
     "the record's length is known when its data arrives: the length call is optional", 0, NULL},
    {"CCM: length call announcing 41 bytes, 40 given", sh_ccm_wrong_len, CCM_ONLY, FAIL, FAIL,
     CHECK_RECORD, NULL, 0, NULL},
    {"CCM: data in three updates", sh_ccm_data_pieces, CCM_ONLY, FAIL, FAIL, CHECK_RECORD, NULL, 0,
     NULL},
    {"update(NULL, NULL, len) on GCM/ChaCha (stock: finishes the message)", sh_len_on_gcm, GCM_ONLY,
     FAIL, FAIL, CHECK_RECORD, NULL, 0, NULL},
    {"data update with NULL input and length 40", sh_null_input, ALL, FAIL, FAIL, CHECK_RECORD,
     NULL, 0, NULL},
    {"final without any update (an empty record; the record to open has 40 bytes)", sh_final_only,
     ALL, OK, FAIL, CHECK_NONE,
     "an empty record is complete at final (the stock CCM computes no tag without an update)", 0,
     NULL},
    {"re-init without cipher, key or IV; set_padding(0)", sh_reinit_padding, ALL, OK, OK,
     CHECK_RECORD, NULL, 0, NULL},
    {"EVP_Cipher for AAD, data and final", sh_evp_cipher, ALL, OK, OK, CHECK_RECORD,
     "EVP_Cipher(ctx, NULL, NULL, 0) finishes the record on all four (the stock CCM reads it as "
     "a message length, which fails after the data)",
     0, "the stock ChaCha20-Poly1305's EVP_Cipher(ctx, NULL, NULL, 0) does not finish the message"},
    {"NULL and empty parameter arrays at every step", sh_null_params, ALL, OK, OK, CHECK_RECORD,
     NULL, 0, NULL},
    {"lengths read back; set_key_length", sh_lengths, ALL, OK, OK, CHECK_RECORD,
     "the tag length reads 16 before any tag exists (the stock ChaCha20-Poly1305 reads 0)", 0,
     NULL},
    {"tag length 16 by ctrl without a tag", sh_taglen_ctrl, ALL, OK, OK, CHECK_RECORD,
     "a tag without data is its length on all four ciphers (the stock GCM refuses it)", 0, NULL},
    {"tag set when encrypting / read when decrypting", sh_wrong_direction_tag, ALL, FAIL, FAIL,
     CHECK_NONE, NULL, 0, NULL},
    {"IV length 16 by ctrl", sh_ivlen_16, ALL, FAIL, FAIL, CHECK_NONE, NULL, 0, NULL},
    {"get_original_iv / get_updated_iv", sh_read_iv, ALL, FAIL, FAIL, CHECK_NONE, NULL, 0, NULL},
    {"EVP_CTRL_AEAD_TLS1_AAD (TLS record mode)", sh_tls_aad, ALL, FAIL, FAIL, CHECK_NONE, NULL, 0,
     NULL},
    {"EVP_CIPHER_CTX_copy", sh_copy, ALL, FAIL, FAIL, CHECK_RECORD, NULL, 0, NULL},
    {"EVP_CIPHER_CTX_reset, then the same key again", sh_reset, ALL, FAIL, OK, CHECK_RECORD, NULL,
     0, NULL},
    {"a parameter whose data is NULL (seq / ivlen)", sh_param_no_data, ALL, FAIL, FAIL, CHECK_NONE,
     NULL, 1, NULL},
    {"the tag length as a size_t whose data is NULL", sh_taglen_no_data, ALL, FAIL, FAIL,
     CHECK_NONE, NULL, 0, NULL},
    {"tag length 5 by ctrl (tag without data)", sh_taglen_5, ALL, FAIL, FAIL, CHECK_NONE, NULL, 0,
     NULL},
    {"reading the tag into NULL: a size query", sh_tag_size_query, ALL, OK, OK, CHECK_NONE,
     "a tag read into a NULL buffer is a size query, as the stock GCM answers it", 1, NULL},
};
#define NSHAPES (sizeof(shapes) / sizeof(shapes[0]))

typedef struct {
    int ok;
    int crashed;   /* the stock run, in a child, died of a signal */
    int m2m_error; /* an m2msec error is on the queue */
    char first_error[160];
    int verified; /* the output checked against the reference */
} RESULT;

static void note_errors(RESULT *res)
{
    unsigned long e;
    const char *file, *func, *data;
    int line, flags;

    res->m2m_error = 0;
    res->first_error[0] = '\0';
    while ((e = ERR_get_error_all(&file, &line, &func, &data, &flags)) != 0) {
        const char *lib = ERR_lib_error_string(e), *reason = ERR_reason_error_string(e);

        if (lib != NULL && strcmp(lib, "m2msec") == 0) {
            if (!res->m2m_error)
                snprintf(res->first_error, sizeof(res->first_error), "%s: %s",
                         reason != NULL ? reason : "?", (flags & ERR_TXT_STRING) ? data : "");
            res->m2m_error = 1;
        } else if (res->first_error[0] == '\0') {
            snprintf(res->first_error, sizeof(res->first_error), "%s: %s", lib != NULL ? lib : "?",
                     reason != NULL ? reason : "?");
        }
    }
}

static void run_one(const SHAPE *sh, size_t ai, int enc, int ours, RESULT *res);

static int under_valgrind(void)
{
    const char *pre = getenv("LD_PRELOAD");

    return pre != NULL && strstr(pre, "vgpreload") != NULL;
}

/*
 * The stock run in a child: ok and verified come back in the exit status.
 * Not under valgrind, whose log would count the stock cipher's crash.
 */
static void run_stock_forked(const SHAPE *sh, size_t ai, int enc, RESULT *res)
{
    pid_t pid;
    int st = 0;

    memset(res, 0, sizeof(*res));
    if (under_valgrind()) {
        snprintf(res->first_error, sizeof(res->first_error), "not run under valgrind");
        return;
    }
    fflush(NULL);
    pid = fork();
    if (pid == 0) {
        SHAPE once = *sh;

        once.stock_fork = 0;
        run_one(&once, ai, enc, 0, res);
        _exit(40 + (res->ok ? 1 : 0) + (res->verified ? 2 : 0));
    }
    if (pid < 0 || waitpid(pid, &st, 0) != pid)
        abort();
    /* Any other end is a crash: a signal, or a sanitizer's exit status. */
    if (!WIFEXITED(st) || WEXITSTATUS(st) < 40 || WEXITSTATUS(st) > 43) {
        res->crashed = 1;
        snprintf(res->first_error, sizeof(res->first_error), "crashed (%s %d)",
                 WIFSIGNALED(st) ? "signal" : "exit status",
                 WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
        return;
    }
    res->ok = (WEXITSTATUS(st) - 40) & 1;
    res->verified = ((WEXITSTATUS(st) - 40) & 2) != 0;
}

static void run_one(const SHAPE *sh, size_t ai, int enc, int ours, RESULT *res)
{
    RUN r;

    if (!ours && sh->stock_fork) {
        run_stock_forked(sh, ai, enc, res);
        return;
    }
    memset(&r, 0, sizeof(r));
    memset(res, 0, sizeof(*res));
    r.ai = ai;
    r.ours = ours;
    r.enc = enc;
    r.ciph = ours ? rec_ciph[ai] : ref_ciph[ai];
    r.ctx = EVP_CIPHER_CTX_new();
    if (r.ctx == NULL || RAND_bytes(r.key, sizeof(r.key)) != 1 || RAND_bytes(r.iv, IVLEN) != 1)
        abort();
    if (enc) {
        memcpy(r.in, plain, PTLEN);
    } else if (ours) {
        r.seq = recaad ? 0 : DEC_SEQ;
        if (!record_seal(ai, r.key, r.iv, r.seq, plain, PTLEN, r.in, r.tag))
            abort();
    } else if (!aead_seal(ai, r.key, r.iv, aad, aad_len, plain, PTLEN, r.in, r.tag)) {
        abort();
    }
    ERR_clear_error();
    res->ok = sh->fn(&r);
    note_errors(res);
    if (res->ok && sh->check == CHECK_RECORD) {
        unsigned char ct[PTLEN], tag[TAGLEN];

        if (!enc) {
            res->verified = r.outlen == PTLEN && memcmp(r.buf, plain, PTLEN) == 0;
        } else if (ours) {
            res->verified = r.outlen == PTLEN &&
                            record_seal(ai, r.key, r.iv, r.seq, plain, PTLEN, ct, tag) &&
                            memcmp(ct, r.buf, PTLEN) == 0 && memcmp(tag, r.tag, TAGLEN) == 0;
        } else {
            res->verified = r.outlen == PTLEN &&
                            aead_seal(ai, r.key, r.iv, aad, aad_len, plain, PTLEN, ct, tag) &&
                            memcmp(ct, r.buf, PTLEN) == 0 && memcmp(tag, r.tag, TAGLEN) == 0;
        }
        ERR_clear_error();
    } else {
        res->verified = sh->check == CHECK_NONE;
    }
    EVP_CIPHER_CTX_free(r.ctx);
}

/*
 * What the cipher under test must do. M2M-RECAAD differs in two rows: a
 * final without any update lacks the AAD header; a reset context may take
 * its key again for encrypting (the key's next seq is still 0).
 */
static int want_of(const SHAPE *sh, int enc)
{
    if (recaad && sh->fn == sh_final_only)
        return FAIL;
    if (recaad && sh->fn == sh_reset)
        return OK;
    return enc ? sh->ours_enc : sh->ours_dec;
}

static int applies(const SHAPE *sh, size_t ai)
{
    return sh->which == ALL || (sh->which == CCM_ONLY) == (algs[ai].ccm != 0);
}

static void test_shapes(void)
{
    unsigned rows = 0, refused = 0, lenient = 0;

    for (size_t s = 0; s < NSHAPES; s++) {
        const SHAPE *sh = &shapes[s];

        printf("\n    %s", sh->name);
        for (size_t ai = 0; ai < nalgs; ai++) {
            if (!applies(sh, ai))
                continue;
            for (int enc = 1; enc >= 0; enc--) {
                RESULT stock, ours;
                int want = want_of(sh, enc);

                run_one(sh, ai, enc, 0, &stock);
                run_one(sh, ai, enc, 1, &ours);
                rows++;
                printf("\n      %-26s %s: stock %-7s ours %s%s%s", algs[ai].name,
                       enc ? "enc" : "dec",
                       stock.crashed ? "CRASHES"
                       : stock.ok    ? "ok"
                                     : "fails",
                       ours.ok ? "ok" : "refused", ours.ok ? "" : ": ",
                       ours.ok ? "" : ours.first_error);
                if (ours.ok && !stock.ok)
                    printf("\n        (stock: %s; accepted here because %s)",
                           stock.first_error[0] != '\0' ? stock.first_error : "no error queued",
                           sh->lenient != NULL ? sh->lenient : "NO REASON GIVEN");
                CHECK(ours.ok == want, "%s, %s %s: the M2M-REC cipher must %s (%s)", sh->name,
                      algs[ai].name, enc ? "encrypting" : "decrypting", want ? "succeed" : "refuse",
                      ours.first_error);
                if (!ours.ok) {
                    refused++;
                    CHECK(ours.m2m_error,
                          "%s, %s %s: refused with an m2msec error on the queue (got: %s)",
                          sh->name, algs[ai].name, enc ? "encrypting" : "decrypting",
                          ours.first_error[0] != '\0' ? ours.first_error : "nothing queued");
                    continue;
                }
                CHECK(ours.verified,
                      "%s, %s %s: the output is the reference record (stock AEAD, PROTOCOL.md "
                      "5.1)",
                      sh->name, algs[ai].name, enc ? "encrypting" : "decrypting");
                CHECK(stock.ok || sh->lenient != NULL,
                      "%s, %s %s: the M2M-REC cipher accepts what the stock cipher refuses (%s)",
                      sh->name, algs[ai].name, enc ? "encrypting" : "decrypting",
                      stock.first_error);
                lenient += !stock.ok;
                /* Where the stock cipher makes a whole record, its output is the plain AEAD's. */
                CHECK(!stock.ok || stock.verified || sh->stock_quirk != NULL,
                      "%s, %s %s: the stock run is itself sane", sh->name, algs[ai].name,
                      enc ? "encrypting" : "decrypting");
            }
        }
    }
    printf("\n    %zu shapes, %u runs on each side: %u refused by the M2M-REC cipher with an "
           "m2msec error, %u accepted where the stock cipher refuses (reasons in the table) ",
           NSHAPES, rows, refused, lenient);
}

/* A shape that failed part-way leaves the context usable: the next record still works. */
static void test_recovery(void)
{
    for (size_t ai = 0; ai < nalgs; ai++) {
        for (int enc = 1; enc >= 0; enc--) {
            RUN r;
            int n;
            RESULT res;

            memset(&r, 0, sizeof(r));
            r.ai = ai;
            r.ours = 1;
            r.enc = enc;
            r.ciph = rec_ciph[ai];
            r.ctx = EVP_CIPHER_CTX_new();
            if (r.ctx == NULL || RAND_bytes(r.key, sizeof(r.key)) != 1 ||
                RAND_bytes(r.iv, IVLEN) != 1)
                abort();
            r.seq = recaad ? 0 : DEC_SEQ;
            if (enc)
                memcpy(r.in, plain, PTLEN);
            else if (!record_seal(ai, r.key, r.iv, r.seq, plain, PTLEN, r.in, r.tag))
                abort();
            CHECK(st_prelude(&r) && st_keyiv(&r), "%s: set up", algs[ai].name);
            ERR_clear_error();
            /* Refused calls: NULL input with a length; (GCM) the length call. */
            CHECK(!EVP_CipherUpdate(r.ctx, r.buf, &n, NULL, PTLEN), "%s: NULL input refused",
                  algs[ai].name);
            if (!algs[ai].ccm)
                CHECK(!st_len(&r), "%s: length call refused", algs[ai].name);
            note_errors(&res);
            CHECK(res.m2m_error, "%s: with an m2msec error (%s)", algs[ai].name, res.first_error);
            /* ... and the record goes through. */
            CHECK(st_tag(&r) && st_record(&r), "%s %s: the record after the refusals",
                  algs[ai].name, enc ? "encrypting" : "decrypting");
            if (enc) {
                unsigned char ct[PTLEN], tag[TAGLEN];

                CHECK(r.seq == 0 && record_seal(ai, r.key, r.iv, 0, plain, PTLEN, ct, tag) &&
                          memcmp(ct, r.buf, PTLEN) == 0 && memcmp(tag, r.tag, TAGLEN) == 0,
                      "%s: record 0 is the reference record (the refusals took no sequence "
                      "number)",
                      algs[ai].name);
            } else {
                CHECK(memcmp(r.buf, plain, PTLEN) == 0, "%s: the plaintext", algs[ai].name);
            }
            ERR_clear_error();
            EVP_CIPHER_CTX_free(r.ctx);
        }
    }
}

static int suite_init(void)
{
    const char *dir = getenv("M2M_MODULES");

    if (dir == NULL || *dir == '\0') {
        fprintf(stderr, "M2M_MODULES is not set (directory of m2msec.so)\n");
        return 1;
    }
    libctx = OSSL_LIB_CTX_new();
    if (libctx == NULL || !OSSL_PROVIDER_set_default_search_path(libctx, dir) ||
        (prov_m2m = OSSL_PROVIDER_load(libctx, "m2msec")) == NULL ||
        (prov_default = OSSL_PROVIDER_load(libctx, "default")) == NULL) {
        ERR_print_errors_fp(stderr);
        return 1;
    }
    for (size_t ai = 0; ai < nalgs; ai++) {
        rec_ciph[ai] = EVP_CIPHER_fetch(libctx, algs[ai].name, "provider=m2msec");
        ref_ciph[ai] = EVP_CIPHER_fetch(libctx, algs[ai].ref, "provider=default");
        if (rec_ciph[ai] == NULL || ref_ciph[ai] == NULL) {
            ERR_print_errors_fp(stderr);
            return 1;
        }
    }
    return 0;
}

static int suite_cleanup(void)
{
    for (size_t ai = 0; ai < nalgs; ai++) {
        EVP_CIPHER_free(rec_ciph[ai]);
        EVP_CIPHER_free(ref_ciph[ai]);
    }
    OSSL_PROVIDER_unload(prov_m2m);
    OSSL_PROVIDER_unload(prov_default);
    OSSL_LIB_CTX_free(libctx);
    return 0;
}

int main(int argc, char **argv)
{
    static const tc_test tests[] = {
        {"EVP call shapes: M2M-REC next to the stock AEADs", test_shapes},
        {"refused calls leave the record usable", test_recovery},
    };

    if (argc > 1 && strcmp(argv[1], "recaad") == 0) {
        recaad = 1;
        algs = aad_algs;
        nalgs = sizeof(aad_algs) / sizeof(aad_algs[0]);
        aad = aad_buf;
        aad_len = sizeof(aad_buf);
    }
    return tc_run("test_call_shapes", recaad ? "call_shapes (M2M-RECAAD)" : "call_shapes",
                  suite_init, suite_cleanup, tests, sizeof(tests) / sizeof(tests[0]));
}
