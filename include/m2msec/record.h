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
 * All parameters below are uint64 unless noted. Limits and the window can
 * be set only before the first record (at init or just after).
 */
#ifndef M2MSEC_RECORD_H
#define M2MSEC_RECORD_H

#define M2MSEC_REC_AES_128_GCM "M2M-REC-AES-128-GCM"
#define M2MSEC_REC_AES_256_GCM "M2M-REC-AES-256-GCM"
#define M2MSEC_REC_CHACHA20_POLY1305 "M2M-REC-CHACHA20-POLY1305"
#define M2MSEC_REC_AES_128_CCM "M2M-REC-AES-128-CCM"

/** Record sequence number: read after a record (encrypt), set before it (decrypt). */
#define M2MSEC_REC_PARAM_SEQ "seq"
/** Encrypting: the sequence number the next record will get (read-only). */
#define M2MSEC_REC_PARAM_NEXT_SEQ "next-seq"
/** Key epoch, authenticated with every record (default 0). */
#define M2MSEC_REC_PARAM_EPOCH "epoch"
/** Decrypting: replay window in records, 64..32768 (default: policy, 256). */
#define M2MSEC_REC_PARAM_REPLAY_WINDOW "replay-window"
/**
 * Lower the per-key record limit (default: the algorithm's published limit,
 * or the policy's if lower). A value above the default is refused
 * ("invalid parameter"), never clamped; so for the three below.
 */
#define M2MSEC_REC_PARAM_MAX_RECORDS "max-records"
/** Lower the per-key byte limit. */
#define M2MSEC_REC_PARAM_MAX_BYTES "max-bytes"
/** Lower the per-key failed-decryption limit (the key's failures count process-wide). */
#define M2MSEC_REC_PARAM_MAX_FAILURES "max-failures"
/** Key not usable from this time on (seconds since 1970); at most key-set time + max_lifetime. */
#define M2MSEC_REC_PARAM_NOT_AFTER "not-after"
/** int, read-only: 1 once any usage passed 80 % of its limit: re-key now. */
#define M2MSEC_REC_PARAM_REKEY_NEEDED "rekey-needed"
/** int, read-only: 1 once a hard limit is reached: every record is refused. */
#define M2MSEC_REC_PARAM_EXPIRED "expired"
/**
 * Read-only counters: records and bytes of this context; failed decryptions
 * of its key in the whole process (every decrypting context of the key).
 */
#define M2MSEC_REC_PARAM_RECORDS "records"
#define M2MSEC_REC_PARAM_BYTES "bytes"
#define M2MSEC_REC_PARAM_FAILURES "failures"
/** Read-only: bytes of memory the provider context holds. */
#define M2MSEC_REC_PARAM_MEMORY "memory"

#endif
