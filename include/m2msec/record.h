/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file record.h
 * @brief Names of the M2M-REC-* record ciphers and their context parameters.
 *
 * The ciphers M2M-REC-AES-128-GCM, M2M-REC-AES-256-GCM,
 * M2M-REC-CHACHA20-POLY1305 and M2M-REC-AES-128-CCM are fetched with
 * EVP_CIPHER_fetch() and driven with the usual EVP AEAD calls. Each
 * context is one direction of one record key (docs/PROTOCOL.md section 5):
 *
 * Encrypting, per record: EVP_EncryptUpdate(ctx, NULL, &n, aad, aadlen)
 * (optional), EVP_EncryptUpdate(ctx, out, &n, in, inlen),
 * EVP_EncryptFinal_ex(), then read M2MSEC_REC_PARAM_SEQ (the sequence number
 * the context assigned to this record) and OSSL_CIPHER_PARAM_AEAD_TAG.
 *
 * Decrypting, per record: set M2MSEC_REC_PARAM_SEQ (the received sequence
 * number: replays and too-old records are refused here, before any
 * decryption) and OSSL_CIPHER_PARAM_AEAD_TAG (AES-CCM: before the record's
 * first update, AAD included; the others: any time before final), then the
 * same updates and
 * EVP_DecryptFinal_ex(), which fails with "authentication failed" for a
 * forged record. Do not use the plaintext before final succeeds.
 *
 * The cipher and parameter names (M2MSEC_REC_*) are in m2msec/names.h.
 * Limits and the window can be set only before the first record (at init
 * or just after); a limit above the cipher's or the policy's default is
 * refused ("invalid parameter"), never clamped.
 */
#ifndef M2MSEC_RECORD_H
#define M2MSEC_RECORD_H

/* The cipher and parameter names live in one place, with their types and limits. */
#include "m2msec/names.h"

#endif
