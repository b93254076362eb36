/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file esprim.h
 * @brief oneM2M End-to-End Security of Primitives (ESPrim): RandObjects,
 *        sessionESPrimKey and ESPrim objects as standard JWE (RFC 7516).
 *
 * ESPrim (oneM2M TS-0003 clause 8.4) protects a primitive from its
 * Originator to its Receiver through any number of CSEs and gateways that
 * forward it: they see a JWE in Compact Serialization they can neither read
 * nor alter without detection. Both ends hold a pairwiseESPrimKey and its
 * identifier (the JWE "kid"). The Receiver issues RandObjects (a random
 * 128-bit value with an ID, an expiry and the algorithms it accepts); the
 * Originator answers with a RandObject of its own, and both derive
 *
 *     sessionESPrimKey = HMAC-SHA256(pairwiseESPrimKey, receiver value ||
 *                        originator value || "oneM2M HMAC-SHA256
 *                        sessionESPrimKey derivation algorithm")
 *
 * through the provider's ONEM2M-KDF (derivation "esprim-session"). The
 * JWE has "alg":"dir", "enc" A128GCM / A192GCM / A256GCM, an empty
 * encrypted key, a random 96-bit IV and a 128-bit tag; its key is the
 * first 16, 24 or 32 bytes of sessionESPrimKey. docs/PROTOCOL.md section 9
 * gives every byte, with worked examples.
 *
 * Replay protection (which the standard lacks, docs/PROTOCOL.md 9.6): each
 * end remembers the IV of every object it sealed or accepted under a
 * session key until the Originator's RandObject expires, and refuses an IV
 * it has seen (a replay, or an object reflected back to its sender). A
 * Receiver persists its RandObjects and each new Originator RandObject in a
 * state file before it delivers the first primitive under it; after a
 * restart every session it knew is closed (refused with
 * M2MSEC_R_ESPRIM_CLOSED), so nothing accepted before the restart is
 * accepted again, while its RandObjects stay valid: an Originator only
 * starts a new RandObject of its own, in-band, without another exchange.
 *
 * Return convention (m2msec/m2msec.h): 1 on success, 0 on failure with an
 * OpenSSL error queued whose reason is one of the M2MSEC_R_* codes of
 * m2msec/errors.h (read it with ERR_GET_REASON(ERR_peek_last_error())) and
 * whose detail names what was wrong; on failure no output is left (output
 * buffers are wiped, lengths set to 0). Constructors return NULL on
 * failure.
 *
 * The library context given must have the m2msec provider (ONEM2M-KDF)
 * and OpenSSL's default provider (AES-GCM, HMAC, the random generator):
 * m2msec_provider_load(libctx, dir, &deflt) loads both.
 *
 * Threads: an m2msec_esprim is used by one thread at a time. It belongs to
 * the process that created it: in a forked child every call that seals,
 * opens or creates refuses (M2MSEC_R_ESPRIM_STATE).
 */
#ifndef M2MSEC_ESPRIM_H
#define M2MSEC_ESPRIM_H

#include <stddef.h>
#include <stdint.h>
#include <openssl/types.h>

#include "m2msec/m2msec.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Roles of an ESPrim end and of a RandObject. */
#define M2MSEC_ESPRIM_ORIGINATOR 1
#define M2MSEC_ESPRIM_RECEIVER 2

/** esprimKeyGenAlgID 1: HMAC-SHA256 (TS-0003 clause 10.3.8), the only one defined. */
#define M2MSEC_ESPRIM_KEYGEN_HMAC_SHA256 1
/** esprimProtocolAndAlgID: JWE Compact Serialization with "enc" A128GCM, A192GCM, A256GCM. */
#define M2MSEC_ESPRIM_JWE_A128GCM 10
#define M2MSEC_ESPRIM_JWE_A192GCM 11
#define M2MSEC_ESPRIM_JWE_A256GCM 12

/** Bytes of an esprimRandValue (128 bits). */
#define M2MSEC_ESPRIM_RAND_LEN 16
/** Bytes of sessionESPrimKey (HMAC-SHA256). */
#define M2MSEC_ESPRIM_SESSION_KEY_LEN 32
/** Longest esprimRandID, in characters. */
#define M2MSEC_ESPRIM_ID_MAX 64
/** Longest pairwiseESPrimKeyID ("kid") and "cty", in characters. */
#define M2MSEC_ESPRIM_KID_MAX 256
/** Longest JWE Protected Header (the JSON, before base64url). */
#define M2MSEC_ESPRIM_HEADER_MAX 2048
/** Most entries in an algorithm list of a RandObject. */
#define M2MSEC_ESPRIM_MAX_ALGS 8
/** Largest primitive (plaintext) sealed or opened. */
#define M2MSEC_ESPRIM_MAX_PRIMITIVE (((size_t)1 << 24) - 1)
/** Longest RandObject JSON that m2msec writes (plus the terminating NUL). */
#define M2MSEC_ESPRIM_RAND_JSON_MAX 512
/**
 * Room that m2msec_esprim_seal() / m2msec_esprim_seal_reply() need for a
 * primitive of n bytes: the JWE text and its terminating NUL always fit.
 */
#define M2MSEC_ESPRIM_SEAL_SIZE(n) ((size_t)2816 + ((size_t)(n) + 2) / 3 * 4)

/**
 * A RandObject: originatorESPrimRandObject or receiverESPrimRandObject
 * (TS-0003 8.4.3.1, TS-0004 6.3.5.50/51). Its values are public (they
 * travel in clear); only the pairwiseESPrimKey is secret.
 */
typedef struct m2msec_esprim_rand m2msec_esprim_rand;

/**
 * Parse the JSON form of a RandObject of @p role (docs/PROTOCOL.md 9.2):
 * exactly the members esprimRandID, esprimRandValue, esprimRandExpiry,
 * esprimKeyGenAlgIDs and esprimProtocolAndAlgIDs, each once, with the
 * documented value types; anything else is refused
 * (M2MSEC_R_ESPRIM_BAD_RAND, or M2MSEC_R_JSON_DUPLICATE for a member given
 * twice). An expired object parses (expiry is checked where it is used).
 * @return the object (free with m2msec_esprim_rand_free), or NULL.
 */
M2MSEC_WARN_UNUSED M2MSEC_NONNULL(1) m2msec_esprim_rand *m2msec_esprim_rand_parse(const char *json,
                                                                                  size_t len,
                                                                                  int role);
/** Free a RandObject; NULL is ignored. */
void m2msec_esprim_rand_free(m2msec_esprim_rand *r);
/** M2MSEC_ESPRIM_ORIGINATOR or M2MSEC_ESPRIM_RECEIVER. */
M2MSEC_NONNULL(1) int m2msec_esprim_rand_get_role(const m2msec_esprim_rand *r);
/** The esprimRandID (valid as long as @p r). */
M2MSEC_NONNULL(1) const char *m2msec_esprim_rand_get_id(const m2msec_esprim_rand *r);
/** The esprimRandExpiry, seconds since 1970 (UTC). Valid while now < expiry. */
M2MSEC_NONNULL(1) uint64_t m2msec_esprim_rand_get_expiry(const m2msec_esprim_rand *r);
/** Copy the 16-byte esprimRandValue to @p out. */
M2MSEC_NONNULL(1, 2)
void m2msec_esprim_rand_get_value(const m2msec_esprim_rand *r,
                                  unsigned char out[M2MSEC_ESPRIM_RAND_LEN]);
/**
 * The esprimKeyGenAlgIDs (a Receiver's list; an Originator's single
 * chosen ID) or the esprimProtocolAndAlgIDs: copies up to @p cap IDs to
 * @p out and returns how many the object holds.
 */
M2MSEC_NONNULL(1)
size_t m2msec_esprim_rand_get_keygen_algs(const m2msec_esprim_rand *r, int *out, size_t cap);
M2MSEC_NONNULL(1)
size_t m2msec_esprim_rand_get_aeads(const m2msec_esprim_rand *r, int *out, size_t cap);
/**
 * Write the JSON form (docs/PROTOCOL.md 9.2) NUL-terminated to @p buf;
 * *len is its length without the NUL. @p cap >= M2MSEC_ESPRIM_RAND_JSON_MAX
 * is always enough.
 */
M2MSEC_WARN_UNUSED
M2MSEC_NONNULL(1, 2, 4)
int m2msec_esprim_rand_get_json(const m2msec_esprim_rand *r, char *buf, size_t cap, size_t *len);

/**
 * Derive sessionESPrimKey from @p key (pairwiseESPrimKey) and the two
 * RandObjects with ONEM2M-KDF fetched from @p libctx, and write its first
 * @p out_len bytes (1..32; 16, 24 or 32 for A128GCM, A192GCM, A256GCM) to
 * @p out. The HMAC input is the two raw 16-byte values (docs/PROTOCOL.md
 * 9.3). Refused unless @p receiver and @p originator have those roles, the
 * originator's key-generation algorithm is 1 and offered by the receiver
 * (M2MSEC_R_ESPRIM_NOT_OFFERED) and the originator's expiry is not later
 * than the receiver's (M2MSEC_R_ESPRIM_EXPIRY_ORDER). Expiry against the
 * clock is not checked here.
 */
M2MSEC_WARN_UNUSED M2MSEC_NONNULL(2, 4, 5, 6) int m2msec_esprim_derive(
    OSSL_LIB_CTX *libctx, const unsigned char *key, size_t key_len,
    const m2msec_esprim_rand *receiver, const m2msec_esprim_rand *originator, unsigned char *out,
    size_t out_len);

/** One ESPrim end: one role, one peer, one pairwiseESPrimKey. */
typedef struct m2msec_esprim m2msec_esprim;

/** How m2msec_esprim_new() sets up an end. Zero fields take the defaults. */
typedef struct m2msec_esprim_config {
    int role;                 /**< M2MSEC_ESPRIM_ORIGINATOR or M2MSEC_ESPRIM_RECEIVER */
    OSSL_LIB_CTX *libctx;     /**< m2msec + default providers; NULL = default context */
    const unsigned char *key; /**< pairwiseESPrimKey (copied; >= min_key_bits of the policy) */
    size_t key_len;
    const char *kid; /**< pairwiseESPrimKeyID, 1..256 printable ASCII, no '"', '\\' or space */
    /**
     * Receiver: its state file (required; see m2msec_esprim_state_init).
     * Originator: must be NULL (an Originator keeps nothing on disk).
     */
    const char *state;
    /** esprimProtocolAndAlgIDs this end accepts; NULL = {10, 11, 12}. */
    const int *aeads;
    size_t naeads;
    /** Originator: the AEAD to seal with if both ends offer it; 0 = the first offered by both. */
    int enc;
    /** Optional "cty" of the objects this end seals (e.g. "application/json"); NULL = none. */
    const char *cty;
    /**
     * Seconds. Receiver: default lifetime of the RandObjects it issues
     * (default 86400). Originator: lifetime of its RandObjects (default
     * 3600), never beyond the Receiver's RandObject.
     */
    uint64_t rand_lifetime;
    /** Objects per session key, both directions (default 2^20, at most 2^32). */
    uint64_t max_objects;
    /** IVs remembered over all sessions (default 2^20, about 32 bytes each). */
    size_t max_cache;
    /** Sessions (Originator RandObjects) remembered (default 4096). */
    size_t max_sessions;
} m2msec_esprim_config;

/**
 * First start of a Receiver: write the empty state for @p kid to @p path
 * (atomically, under the lock on "<path>.lock"). Refused if anything
 * exists at @p path or another end holds the lock: a lost state must never
 * be recreated (docs/PROTOCOL.md 9.6).
 */
M2MSEC_WARN_UNUSED M2MSEC_NONNULL(1, 2) int m2msec_esprim_state_init(const char *path,
                                                                     const char *kid);

/**
 * Create an end. A Receiver takes the exclusive lock of its state and
 * holds it until m2msec_esprim_free(); it refuses a missing, malformed or
 * locked state, or one written for another kid (M2MSEC_R_ESPRIM_STATE).
 * The sessions of the state are closed; its RandObjects stay valid.
 */
M2MSEC_WARN_UNUSED
M2MSEC_NONNULL(1) m2msec_esprim *m2msec_esprim_new(const m2msec_esprim_config *cfg);
/** Wipe the keys, release the state lock, free; NULL is ignored. */
void m2msec_esprim_free(m2msec_esprim *ep);

/**
 * Receiver: issue a new RandObject (answer to securityInfo type 3), valid
 * until @p expiry (seconds since 1970; 0 = now + rand_lifetime), persisted
 * in the state before it is returned. Free the copy returned with
 * m2msec_esprim_rand_free().
 */
M2MSEC_WARN_UNUSED M2MSEC_NONNULL(1) m2msec_esprim_rand *m2msec_esprim_rand_new(m2msec_esprim *ep,
                                                                                uint64_t expiry);

/**
 * Originator: take the Receiver's RandObject @p receiver_rand (from
 * securityInfo type 4 or a shared one); it becomes the one the next
 * sessions use. Refused if expired (M2MSEC_R_ESPRIM_EXPIRED), if it does
 * not offer key generation 1 or any AEAD this end accepts
 * (M2MSEC_R_ESPRIM_NOT_OFFERED). The object is copied.
 */
M2MSEC_WARN_UNUSED
M2MSEC_NONNULL(1, 2)
int m2msec_esprim_accept(m2msec_esprim *ep, const m2msec_esprim_rand *receiver_rand);

/** What an object was sealed or opened under. */
typedef struct m2msec_esprim_info {
    char ori[M2MSEC_ESPRIM_ID_MAX + 1]; /**< the Originator RandObject's ID ("ori") */
    char rri[M2MSEC_ESPRIM_ID_MAX + 1]; /**< the Receiver RandObject's ID ("rri") */
    int aead;                           /**< esprimProtocolAndAlgID of the object (10, 11, 12) */
    int with_oro;      /**< the object carried the whole Originator RandObject ("oro") */
    int new_session;   /**< sealed: a new Originator RandObject; opened: its first object */
    int new_peer_rand; /**< Originator, opened: the response carried "rro", now accepted */
} m2msec_esprim_info;

/** m2msec_esprim_seal() flag: start a new Originator RandObject for this object. */
#define M2MSEC_ESPRIM_SEAL_NEW_SESSION 1u

/**
 * Originator: seal the primitive @p in (1..M2MSEC_ESPRIM_MAX_PRIMITIVE
 * bytes) as a JWE, NUL-terminated, at @p out (capacity @p outcap >=
 * M2MSEC_ESPRIM_SEAL_SIZE(inlen)); *outlen is its length. The session key
 * comes from the RandObject last accepted and an Originator RandObject of
 * this end, created when none is usable (first use, expired, at
 * max_objects, or with M2MSEC_ESPRIM_SEAL_NEW_SESSION, the answer to
 * M2MSEC_R_ESPRIM_CLOSED or M2MSEC_R_ESPRIM_LIMIT from the Receiver). The
 * whole Originator RandObject rides in "oro" until a response under it
 * has been opened. Refused without a usable Receiver RandObject
 * (M2MSEC_R_ESPRIM_UNKNOWN_RAND; M2MSEC_R_ESPRIM_EXPIRED: request a fresh
 * one). @p info (may be NULL) receives what the object was sealed under.
 */
M2MSEC_WARN_UNUSED M2MSEC_NONNULL(1, 3, 5, 7) int m2msec_esprim_seal(
    m2msec_esprim *ep, unsigned flags, const unsigned char *in, size_t inlen, char *out,
    size_t outcap, size_t *outlen, m2msec_esprim_info *info);

/**
 * Receiver: seal the response @p in to the request that m2msec_esprim_open()
 * described in @p request, under the same session key and AEAD. Same
 * output rules as m2msec_esprim_seal().
 */
M2MSEC_WARN_UNUSED M2MSEC_NONNULL(1, 2, 3, 5, 7) int m2msec_esprim_seal_reply(
    m2msec_esprim *ep, const m2msec_esprim_info *request, const unsigned char *in, size_t inlen,
    char *out, size_t outcap, size_t *outlen);

/**
 * Open the JWE @p jwe (@p jwelen characters; a Receiver opens requests, an
 * Originator responses). On success the primitive is at @p out (*outlen
 * bytes; @p outcap >= @p jwelen is always enough) and @p info (may be
 * NULL) says what it was sealed under. Every check of TS-0003 8.4.2 C.6
 * and of the JWE format is made, each with its own reason
 * (docs/PROTOCOL.md 9.5): malformed JWE (M2MSEC_R_JWE_*), wrong kid
 * (M2MSEC_R_ESPRIM_UNKNOWN_KID), unknown or expired RandObject
 * (M2MSEC_R_ESPRIM_UNKNOWN_RAND, M2MSEC_R_ESPRIM_EXPIRED), Originator
 * expiry later than the Receiver's (M2MSEC_R_ESPRIM_EXPIRY_ORDER),
 * algorithm not offered (M2MSEC_R_ESPRIM_NOT_OFFERED), an IV already seen
 * (M2MSEC_R_ESPRIM_REPLAY), a session closed by a restart or by the cache
 * limit (M2MSEC_R_ESPRIM_CLOSED), authentication (M2MSEC_R_AUTH_FAILED).
 * A Receiver persists a new session before it delivers its first
 * primitive (M2MSEC_R_ESPRIM_STATE if that fails).
 */
M2MSEC_WARN_UNUSED M2MSEC_NONNULL(1, 2, 4, 6) int m2msec_esprim_open(m2msec_esprim *ep,
                                                                     const char *jwe, size_t jwelen,
                                                                     unsigned char *out,
                                                                     size_t outcap, size_t *outlen,
                                                                     m2msec_esprim_info *info);

/** Counters, for monitoring, the examples and the benchmark. */
typedef struct m2msec_esprim_stats {
    uint64_t sealed;        /**< objects sealed */
    uint64_t opened;        /**< objects opened (delivered) */
    uint64_t refused;       /**< objects refused by m2msec_esprim_open() */
    uint64_t sessions;      /**< sessions (Originator RandObjects) remembered, open or closed */
    uint64_t open_sessions; /**< of which still usable */
    uint64_t ivs;           /**< IVs remembered */
    uint64_t state_saves;   /**< Receiver: state file writes */
    size_t memory;          /**< bytes held by m2msec (the end, sessions, IV sets) */
} m2msec_esprim_stats;

M2MSEC_NONNULL(1, 2) void m2msec_esprim_get_stats(const m2msec_esprim *ep, m2msec_esprim_stats *st);

#ifdef __cplusplus
}
#endif

#endif
