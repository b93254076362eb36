/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file names.h
 * @brief Every name a caller types to reach m2msec through EVP: algorithm
 *        names and parameter names, like OpenSSL's <openssl/core_names.h>.
 *
 * Use these instead of string literals, so that a typo is a compile error
 * rather than an "unknown parameter" at run time:
 *
 *     EVP_KDF *kdf = EVP_KDF_fetch(libctx, M2MSEC_KDF_SESSION, NULL);
 *     OSSL_PARAM p[] = {
 *         OSSL_PARAM_construct_utf8_string(M2MSEC_KDF_PARAM_PURPOSE, "record", 0), ...
 *
 * Standard OpenSSL names (OSSL_KDF_PARAM_KEY "key", OSSL_KDF_PARAM_SALT
 * "salt", OSSL_KDF_PARAM_DIGEST "digest", OSSL_CIPHER_PARAM_AEAD_TAG,
 * OSSL_CIPHER_PARAM_AEAD_TAGLEN, ...) keep their <openssl/core_names.h>
 * macros. docs/PROTOCOL.md gives the meaning and type of each parameter.
 */
#ifndef M2MSEC_NAMES_H
#define M2MSEC_NAMES_H

/* ------------------------------------------------------------------ */
/* KDFs (fetch with EVP_KDF_fetch)                                      */
/* ------------------------------------------------------------------ */

/** HKDF session keys bound to identities, epoch and lifetime (PROTOCOL.md 2). */
#define M2MSEC_KDF_SESSION "M2M-SESSION-KDF"
/** The oneM2M TS-0003 clause 10.3 derivations (PROTOCOL.md 3). */
#define M2MSEC_KDF_ONEM2M "ONEM2M-KDF"
/** RFC 8613 section 3.2 OSCORE key and IV derivation (PROTOCOL.md 4). */
#define M2MSEC_KDF_OSCORE "OSCORE-KDF"

/* M2M-SESSION-KDF parameters (besides "key", "salt", "digest") */
#define M2MSEC_KDF_PARAM_PURPOSE "purpose"                   /**< utf8, identifier */
#define M2MSEC_KDF_PARAM_ORIGINATOR "originator"             /**< utf8, identifier */
#define M2MSEC_KDF_PARAM_RECEIVER "receiver"                 /**< utf8, identifier */
#define M2MSEC_KDF_PARAM_EPOCH "epoch"                       /**< uint64 */
#define M2MSEC_KDF_PARAM_NOT_BEFORE "not-before"             /**< uint64, seconds since 1970 */
#define M2MSEC_KDF_PARAM_LIFETIME "lifetime"                 /**< uint64, seconds */
#define M2MSEC_KDF_PARAM_AEAD "aead"                         /**< utf8, the AEAD label */
#define M2MSEC_KDF_PARAM_ORIGINATOR_NONCE "originator-nonce" /**< octets */
#define M2MSEC_KDF_PARAM_RECEIVER_NONCE "receiver-nonce"     /**< octets */

/* ONEM2M-KDF parameters (besides "key", "salt", "digest") */
#define M2MSEC_KDF_PARAM_DERIVATION "derivation"           /**< utf8, one of the values below */
#define M2MSEC_KDF_PARAM_MAF_ID "maf-id"                   /**< utf8, km */
#define M2MSEC_KDF_PARAM_ENROLEE_ID "enrolee-id"           /**< utf8, kpsa */
#define M2MSEC_KDF_PARAM_SUID "suid"                       /**< utf8, usage-key */
#define M2MSEC_KDF_PARAM_TARGET_ID "target-id"             /**< utf8, usage-key */
#define M2MSEC_KDF_PARAM_RECEIVER_RAND "receiver-rand"     /**< octets, esprim-session */
#define M2MSEC_KDF_PARAM_ORIGINATOR_RAND "originator-rand" /**< octets, esprim-session */

/* ONEM2M-KDF "derivation" values */
#define M2MSEC_ONEM2M_KM "km"
#define M2MSEC_ONEM2M_KPSA "kpsa"
#define M2MSEC_ONEM2M_USAGE_KEY "usage-key"
#define M2MSEC_ONEM2M_E2E_MASTER "e2e-master"
#define M2MSEC_ONEM2M_E2E_MSG_AUTH "e2e-msg-auth"
#define M2MSEC_ONEM2M_E2E_MSG_CONF "e2e-msg-conf"
#define M2MSEC_ONEM2M_E2E_ATT_AUTH "e2e-att-auth"
#define M2MSEC_ONEM2M_E2E_ATT_CONF "e2e-att-conf"
#define M2MSEC_ONEM2M_ESPRIM_SESSION "esprim-session"

/* OSCORE-KDF parameters (besides "key" = Master Secret, "salt" = Master Salt) */
#define M2MSEC_KDF_PARAM_ID "id"                 /**< octets: Sender/Recipient ID */
#define M2MSEC_KDF_PARAM_ID_CONTEXT "id-context" /**< octets */
#define M2MSEC_KDF_PARAM_TYPE "type"             /**< utf8: "key" or "iv" */
#define M2MSEC_KDF_PARAM_ALG "alg"               /**< int: COSE AEAD algorithm */

/* ------------------------------------------------------------------ */
/* Record ciphers (fetch with EVP_CIPHER_fetch; PROTOCOL.md 5)          */
/* ------------------------------------------------------------------ */

#define M2MSEC_REC_AES_128_GCM "M2M-REC-AES-128-GCM"
#define M2MSEC_REC_AES_256_GCM "M2M-REC-AES-256-GCM"
#define M2MSEC_REC_CHACHA20_POLY1305 "M2M-REC-CHACHA20-POLY1305"
#define M2MSEC_REC_AES_128_CCM "M2M-REC-AES-128-CCM"
/** The AEAD label of AES-128-CCM with an 8-byte tag (allowed_aeads, M2M-SESSION-KDF "aead"). */
#define M2MSEC_REC_AES_128_CCM_8 "M2M-REC-AES-128-CCM-8"

/*
 * The same records for programs that know only the standard AEAD calls
 * (PROTOCOL.md 5.7): the program passes the full AAD, u64be(epoch) ||
 * u64be(seq) || its own AAD, and the provider reads epoch and seq from it;
 * sequence numbers, the replay window and the limits are kept per key for
 * the whole process, so a new cipher context per message works.
 */
#define M2MSEC_RECAAD_AES_128_GCM "M2M-RECAAD-AES-128-GCM"
#define M2MSEC_RECAAD_AES_256_GCM "M2M-RECAAD-AES-256-GCM"
#define M2MSEC_RECAAD_CHACHA20_POLY1305 "M2M-RECAAD-CHACHA20-POLY1305"

/** uint64, settable when decrypting: the received record's sequence number;
 *  gettable: the sequence number of the last record. */
#define M2MSEC_REC_PARAM_SEQ "seq"
/** uint64, gettable when encrypting: the next sequence number. */
#define M2MSEC_REC_PARAM_NEXT_SEQ "next-seq"
/** uint64: key epoch, authenticated with every record (default 0). */
#define M2MSEC_REC_PARAM_EPOCH "epoch"
/** uint64: anti-replay window W in records, 64..32768 (default: policy, 256). */
#define M2MSEC_REC_PARAM_REPLAY_WINDOW "replay-window"
/**
 * uint64: lower the per-key record limit (default: the algorithm's published
 * limit, or the policy's if lower). A value above the default is refused
 * ("invalid parameter"), never clamped; so for the byte and failure limits.
 */
#define M2MSEC_REC_PARAM_MAX_RECORDS "max-records"
/** uint64: byte limit for this key (only lower than the default). */
#define M2MSEC_REC_PARAM_MAX_BYTES "max-bytes"
/** uint64: failed-decryption limit for this key (only lower than the default). */
#define M2MSEC_REC_PARAM_MAX_FAILURES "max-failures"
/** uint64: seconds since 1970 from which the key is refused; at most key-set time + max_lifetime.
 */
#define M2MSEC_REC_PARAM_NOT_AFTER "not-after"
/** int, gettable: 1 once any budget passed its soft limit (80 %). */
#define M2MSEC_REC_PARAM_REKEY_NEEDED "rekey-needed"
/** int, gettable: 1 once any hard limit is reached. */
#define M2MSEC_REC_PARAM_EXPIRED "expired"
/** uint64, gettable counters: records, bytes, failed decryptions (of the key, process-wide). */
#define M2MSEC_REC_PARAM_RECORDS "records"
#define M2MSEC_REC_PARAM_BYTES "bytes"
#define M2MSEC_REC_PARAM_FAILURES "failures"
/** uint64, gettable: bytes of m2msec memory held by this context. */
#define M2MSEC_REC_PARAM_MEMORY "memory"

#endif
