/**
 * @file session.h
 * @brief Replay-checked record sessions with re-keying that needs no messages.
 *
 * A session is one direction of protected traffic between two M2M
 * entities: a *sender* seals records, a *receiver* opens them. Both sides
 * hold the same long-term service-layer key and agree on the two
 * identities and a policy; nothing else is exchanged. The key of epoch e
 * is M2M-SESSION-KDF(service key, purpose, originator, receiver, epoch e,
 * lifetime, aead), and records are protected with the M2M-REC-* cipher
 * named by the policy, both fetched by name through EVP from the m2msec
 * provider. The record format is in docs/PROTOCOL.md section 6:
 *
 *     version (1) | epoch (4, big-endian) | seq (6, big-endian) | ciphertext | tag
 *
 * Re-keying: the sender moves to epoch e+1 by itself when the epoch key
 * reaches its soft limit (80 % of its record, byte or time budget, minus
 * a random jitter so a fleet does not re-key at the same moment). The
 * receiver derives the key of a newer epoch when the first record of that
 * epoch authenticates, keeps the previous epoch for a grace period for late
 * records, and never goes back. A re-key costs zero bytes on the network.
 *
 * Restarts: the sender persists each epoch before using it and starts a
 * fresh epoch after a restart, so no (epoch, seq) pair is ever used twice.
 * The receiver persists the highest epoch it accepted and a sequence-number
 * floor ahead of use, so after a restart it accepts nothing it might have
 * accepted before. The restored epoch is the current one: if a newer epoch
 * comes first, the restored one is kept for the grace period like any
 * other, so its late records at or above the floor are not lost.
 * Persistence goes through an m2msec_store; the default file store writes a
 * temp file, fsyncs it and renames it.
 *
 * Thread safety: a session is used by one thread at a time.
 */
#ifndef M2MSEC_SESSION_H
#define M2MSEC_SESSION_H

#include <stddef.h>
#include <stdint.h>
#include <openssl/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Result of m2msec_seal() / m2msec_open(). Every failure leaves no output. */
typedef enum m2msec_status {
    M2MSEC_OK = 0,
    M2MSEC_ERR_REPLAY,    /**< record already accepted ("replayed record") */
    M2MSEC_ERR_TOO_OLD,   /**< below the replay window ("record outside replay window") */
    M2MSEC_ERR_AUTH,      /**< forged, corrupted or truncated ("authentication failed") */
    M2MSEC_ERR_EXPIRED,   /**< key of that epoch is past a hard limit ("session key expired") */
    M2MSEC_ERR_OLD_EPOCH, /**< epoch older than the receiver accepts ("stale epoch") */
    M2MSEC_ERR_MALFORMED, /**< not a record: too short or unknown version */
    M2MSEC_ERR_BUFFER,    /**< output buffer too small, or record too long */
    M2MSEC_ERR_STORAGE,   /**< the state store failed: nothing was sent or accepted */
    M2MSEC_ERR_INTERNAL,  /**< anything else; see the OpenSSL error queue */
    M2MSEC_STATUS_COUNT
} m2msec_status;

/** Short readable text for a status, e.g. "replayed record". */
const char *m2msec_status_text(m2msec_status st);

/** Bytes a record adds to its plaintext: 11-byte header + 16-byte tag (8 with CCM-8). */
#define M2MSEC_HEADER_LEN 11
/** Largest plaintext per record. */
#define M2MSEC_MAX_RECORD (((size_t)1 << 24) - 1)

/** Persisted state: sender (epoch in use); receiver (epoch accepted, sequence floor). */
typedef struct m2msec_state {
    uint64_t epoch;
    uint64_t seq_floor;
} m2msec_state;

/**
 * Where a session keeps its state across restarts. save() must be durable
 * when it returns 1 (written, synced, atomically replaced).
 */
typedef struct m2msec_store {
    /** 1: *st loaded; 0: nothing stored yet; -1: error (session refuses to start). */
    int (*load)(void *arg, m2msec_state *st);
    /** 1: durably saved; 0: failed (the record that needed it is refused). */
    int (*save)(void *arg, const m2msec_state *st);
    void *arg;
} m2msec_store;

/**
 * Fill @p store with the file store at @p path (the string must outlive the
 * session). File format: docs/PROTOCOL.md section 6.4.
 */
void m2msec_store_file(m2msec_store *store, const char *path);

/** Session policy. Zero fields take the documented defaults. */
typedef struct m2msec_session_policy {
    const char *aead;          /**< M2M-REC-* cipher; default "M2M-REC-AES-128-GCM" */
    uint64_t key_lifetime;     /**< seconds per epoch key; default 3600 (<= provider policy) */
    uint64_t max_records;      /**< records per epoch key; default: the cipher's limit */
    uint64_t replay_window;    /**< receiver window in records; default: provider policy */
    uint64_t grace_seconds;    /**< receiver keeps the previous epoch this long; default 30 */
    unsigned rekey_jitter_pct; /**< sender re-keys at 80 % minus up to this %; default 10 */
    /**
     * Receiver: largest step of the persisted sequence floor; default 2^24.
     * The step adapts from 1 (low rates: nothing is lost when the receiver
     * restarts) up to this, so that the state is synced about once per
     * second; a restart loses at most one step of the current epoch.
     */
    uint64_t seq_floor_step;
} m2msec_session_policy;

typedef enum m2msec_role { M2MSEC_SENDER = 1, M2MSEC_RECEIVER = 2 } m2msec_role;

typedef struct m2msec_session_config {
    m2msec_role role;
    OSSL_LIB_CTX *libctx;     /**< where m2msec is loaded; NULL = default context */
    const unsigned char *key; /**< service-layer key (>= 16 bytes, provider policy) */
    size_t key_len;
    const char *originator;              /**< identity of the sending entity (UTF-8) */
    const char *receiver;                /**< identity of the receiving entity (UTF-8) */
    const char *purpose;                 /**< default "m2msec record" */
    const m2msec_session_policy *policy; /**< NULL = defaults */
    const m2msec_store *store;           /**< required */
} m2msec_session_config;

typedef struct m2msec_session m2msec_session;

/**
 * Create a session. The key is copied (and wiped on free). A sender loads
 * its store and persists the epoch it will use before returning.
 * @return the session, or NULL (OpenSSL error queued).
 */
m2msec_session *m2msec_session_new(const m2msec_session_config *cfg);
/** Wipe and free. NULL is ignored. */
void m2msec_session_free(m2msec_session *s);

/** Record overhead of this session in bytes (header + tag). */
size_t m2msec_session_overhead(const m2msec_session *s);

/**
 * Seal @p in into one record at @p out (capacity @p outcap >= inlen +
 * overhead). Re-keys by itself when the epoch reaches its soft limit.
 */
m2msec_status m2msec_seal(m2msec_session *s, const unsigned char *in, size_t inlen,
                          unsigned char *out, size_t outcap, size_t *outlen);

/**
 * Open one record. On success the plaintext (inlen - overhead bytes) is at
 * @p out. On failure nothing is written to @p out (it is wiped).
 */
m2msec_status m2msec_open(m2msec_session *s, const unsigned char *in, size_t inlen,
                          unsigned char *out, size_t outcap, size_t *outlen);

/** Counters, for monitoring and the examples. */
typedef struct m2msec_session_stats {
    uint64_t epoch;                         /**< current epoch */
    uint64_t rekeys;                        /**< epochs moved to since creation */
    uint64_t records;                       /**< records sealed or accepted */
    uint64_t rejected[M2MSEC_STATUS_COUNT]; /**< receiver: refusals by status */
    size_t memory; /**< bytes in m2msec structures (session, provider contexts, windows); OpenSSL's
                      own EVP and AEAD contexts add about 1.4 KB per live epoch key
                      (bench/record_bench measures the total) */
} m2msec_session_stats;

void m2msec_session_get_stats(const m2msec_session *s, m2msec_session_stats *st);

#ifdef __cplusplus
}
#endif

#endif
