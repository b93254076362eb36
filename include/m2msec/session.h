/* SPDX-License-Identifier: Apache-2.0 */
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
 * One session per state (docs/PROTOCOL.md 6.4). A session holds its
 * store's exclusive lock from m2msec_session_new() to m2msec_session_free():
 * a second session on the same state, in this process or another, is
 * refused at creation ("state in use by another session"). Before every
 * save the session reads the state back and refuses (M2MSEC_SESSION_ERR_STORAGE)
 * unless it is exactly what the session last saved or loaded: a state
 * deleted, edited or restored from a backup while the session runs stops
 * it. A missing state is never taken for a first start: initialise it once
 * with m2msec_store_init() (or `m2msec state init FILE`) before the first
 * session; a sender's first epoch is then 1.
 *
 * fork(): a session belongs to the process that created it. In a forked
 * child m2msec_session_seal() and m2msec_session_open() refuse (M2MSEC_SESSION_ERR_FORKED) and
 * m2msec_session_free() only frees memory (no save, no unlock); the parent
 * goes on. The child keeps its inherited copy of the lock until it exits
 * or execs (the file store's descriptor is close-on-exec), so a new session
 * on the same state is refused until then. The check costs one memory read
 * per record (a page that the kernel wipes in the child, MADV_WIPEONFORK).
 *
 * Thread safety: a session is used by one thread at a time.
 */
#ifndef M2MSEC_SESSION_H
#define M2MSEC_SESSION_H

#include <stddef.h>
#include <stdint.h>
#include <openssl/types.h>

#include "m2msec/m2msec.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * What m2msec_session_seal() / m2msec_session_open() did, through their
 * optional last argument: M2MSEC_SESSION_OK on success, else why the record
 * was refused (an error saying the same is queued). Every failure leaves no
 * output.
 */
typedef enum m2msec_session_status {
    M2MSEC_SESSION_OK = 0,
    M2MSEC_SESSION_ERR_REPLAY,  /**< record already accepted ("replayed record") */
    M2MSEC_SESSION_ERR_TOO_OLD, /**< below the replay window ("record outside replay window") */
    M2MSEC_SESSION_ERR_AUTH,    /**< forged, corrupted or truncated ("authentication failed") */
    M2MSEC_SESSION_ERR_EXPIRED, /**< key of that epoch is past a hard limit ("session key expired")
                                 */
    M2MSEC_SESSION_ERR_OLD_EPOCH,   /**< epoch older than the receiver accepts ("stale epoch") */
    M2MSEC_SESSION_ERR_MALFORMED,   /**< not a record: too short or unknown version */
    M2MSEC_SESSION_ERR_BUFFER,      /**< output buffer too small, or record too long */
    M2MSEC_SESSION_ERR_STORAGE,     /**< the state store failed or the state changed outside the
                               session:     nothing was sent or accepted */
    M2MSEC_SESSION_ERR_INTERNAL,    /**< anything else; see the OpenSSL error queue */
    M2MSEC_SESSION_ERR_FORKED,      /**< used in a forked child ("session used after fork") */
    M2MSEC_SESSION_ERR_EPOCH_AHEAD, /**< receiver: epoch more than policy max_epoch_jump past the
                               current one, refused before any derivation ("epoch too far ahead") */
    M2MSEC_SESSION_ERR_RATE_LIMIT,  /**< receiver: a further-ahead epoch while the
                               candidate-derivation  budget (session or process) is spent ("candidate
                               epoch rate  limit"); never for the next epoch */
    M2MSEC_SESSION_STATUS_COUNT
} m2msec_session_status;

/** Short readable text for a status, e.g. "replayed record". */
M2MSEC_WARN_UNUSED const char *m2msec_session_status_text(m2msec_session_status st);

/** Bytes of the record header; the tag adds 16 more (8 with tag_len 8). */
#define M2MSEC_SESSION_HEADER_LEN 11
/** Largest plaintext per record. */
#define M2MSEC_SESSION_MAX_RECORD (((size_t)1 << 24) - 1)

/**
 * Persisted state. Sender: epoch = the last epoch it may have used (it
 * starts at epoch + 1), seq_floor 0. Receiver: epoch = the epoch it
 * accepts from, seq_floor = no record of that epoch below it is accepted.
 * The state of a first start, written by m2msec_store_init(), is {0, 0}.
 */
typedef struct m2msec_session_state {
    uint64_t epoch;
    uint64_t seq_floor;
} m2msec_session_state;

/**
 * Where a session keeps its state across restarts. Every callback is
 * required: a session or m2msec_store_init() refuses a store that lacks
 * one, so a store cannot be used without its lock by mistake.
 *
 * The calls are always: lock(), then load() and save() with the handle
 * that lock() returned, then unlock() with it. A session holds the lock
 * for its whole life.
 *
 * lock() takes an exclusive lock on the state and must exclude every other
 * session on the same state, in this process and in every other one (for a
 * file: a lock on a companion file that is never replaced, taken on a
 * descriptor of its own, so that two sessions in one process exclude each
 * other too). A forked child inherits whatever the lock is made of; m2msec
 * never calls a store from a child, and unlock() must only let go of this
 * lock (close its descriptor), never act on anything shared, such as
 * deleting a lock file that another session may be about to lock.
 */
typedef struct m2msec_store {
    /**
     * Take the exclusive lock. 1: taken, *handle set (any value, even NULL);
     * 0: the state is in use by another session (no error needed);
     * -1: error (queue one saying what is wrong).
     */
    int (*lock)(void *arg, void **handle);
    /** 1: *st loaded; 0: nothing stored (never initialised, or deleted); -1: error. */
    int (*load)(void *arg, void *handle, m2msec_session_state *st);
    /** 1: durably saved (written, synced, atomically replaced); 0: failed (error queued). */
    int (*save)(void *arg, void *handle, const m2msec_session_state *st);
    /** Release the lock taken by lock(). */
    void (*unlock)(void *arg, void *handle);
    void *arg;
    /** What errors call the state, e.g. its path; NULL = "the session state". */
    const char *name;
    /** Optional: frees @p arg; called by m2msec_store_clear(). */
    void (*release)(void *arg);
} m2msec_store;

/**
 * Fill @p store with the file store at @p path. The path is copied: release
 * the copy with m2msec_store_clear() once no session uses the store any
 * more (a session keeps using the store it was created with until
 * m2msec_session_free()). File format: docs/PROTOCOL.md section 6.4. The
 * lock is an exclusive flock(2) on the companion file "<path>.lock",
 * created (mode 0600) if missing, opened without following a symlink, and
 * refused if it is not a regular file; the file stays after the session.
 * Do not delete it while a session runs: every save checks that it is still
 * the file the session locked and refuses otherwise. load() also works
 * without the lock (handle NULL), e.g. to show the state; save() does not.
 * @p path must be absolute (a relative one is refused here); every lock
 * refuses a state whose directory, or a directory above it, another user
 * owns or can write (a sticky one above is accepted): docs/PROTOCOL.md 6.4.
 */
M2MSEC_WARN_UNUSED M2MSEC_NONNULL(1, 2) int m2msec_store_file(m2msec_store *store,
                                                              const char *path);

/**
 * Release what m2msec_store_file() allocated (through the store's release
 * callback, when it has one) and zero @p store. NULL is ignored.
 */
void m2msec_store_clear(m2msec_store *store);

/**
 * First start: store the initial state {epoch 0, seq_floor 0} under the
 * store's lock. Refused if a state already exists (even a malformed one)
 * or the state is in use by a session: a missing state must never be
 * recreated by accident (docs/PROTOCOL.md 6.4).
 * @return 1 on success, 0 on failure (OpenSSL error queued).
 */
M2MSEC_WARN_UNUSED int m2msec_store_init(const m2msec_store *store);

/**
 * The gateway store: many sessions' states in one LMDB environment (one
 * database file, "<path>-lock" beside it), keyed by session name, saved
 * with group commit (docs/PROTOCOL.md 6.4, docs/SECURITY.md section 3).
 *
 * A save returns 1 only once the LMDB write transaction holding it is
 * durable (committed and synced): saves that arrive together - from
 * sessions run by different threads - are written and synced in one
 * transaction, so a gateway that serves its sessions from N threads pays
 * one commit for up to N saves. A single thread gets one commit per save,
 * never a save reported durable before it is. A save that would move a
 * state backwards (a lower epoch, or the same epoch with a lower sequence
 * floor) is refused, that save only.
 *
 * One process per environment (an exclusive flock(2) on the database file
 * and LMDB's own lock); one session per name in that process. Not usable
 * in a forked child (LMDB forbids it; a session never calls its store
 * there).
 */
typedef struct m2msec_store_lmdb_env m2msec_store_lmdb_env;

/** Counters of an LMDB environment since it was opened. */
typedef struct m2msec_store_lmdb_stats {
    uint64_t commits;       /**< durable write transactions that saved at least one state */
    uint64_t saves;         /**< states saved (reported durable) */
    uint64_t largest_batch; /**< most saves in one transaction */
} m2msec_store_lmdb_stats;

/**
 * Open (creating if missing, mode 0600) the LMDB environment at @p path.
 * @p map_size: largest database size in bytes, 0 = 1 GiB (address space
 * only; about 100 bytes per session are used). Refused if another process
 * has it open, and for a relative @p path or a directory that another user
 * owns or can write, as for m2msec_store_file().
 * @return the environment, or NULL with an error queued.
 */
M2MSEC_WARN_UNUSED m2msec_store_lmdb_env *m2msec_store_lmdb_env_new(const char *path,
                                                                    size_t map_size);

/**
 * Drop the caller's reference. The environment closes when the last store
 * made from it is released too (m2msec_store_clear()), so it can be freed
 * right after the stores are made. NULL is ignored.
 */
void m2msec_store_lmdb_env_free(m2msec_store_lmdb_env *env);

/** Read the environment's counters. */
M2MSEC_NONNULL(1, 2)
void m2msec_store_lmdb_env_get_stats(m2msec_store_lmdb_env *env, m2msec_store_lmdb_stats *out);

/**
 * Fill @p store with the state named @p name (1 to 511 bytes) in @p env;
 * release it with m2msec_store_clear() once no session uses it. Initialise
 * a new name with m2msec_store_init() like a state file.
 * @return 1 on success, 0 on failure (error queued).
 */
M2MSEC_WARN_UNUSED M2MSEC_NONNULL(1, 2, 3) int m2msec_store_lmdb(m2msec_store *store,
                                                                 m2msec_store_lmdb_env *env,
                                                                 const char *name);

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
    /**
     * AEAD tag length in bytes: 0 or 16 (the default); 8 only with
     * M2M-REC-AES-128-CCM. It is bound into the epoch keys through the aead
     * label "M2M-REC-AES-128-CCM-8" (docs/PROTOCOL.md 6.2), so both sides
     * must agree on it. An 8-byte tag gets the provider's forgery limit of
     * 2^13 failed decryptions per key.
     */
    size_t tag_len;
    /**
     * Receiver, bounds on what an unauthenticated record can cost
     * (docs/PROTOCOL.md 6.3, docs/SECURITY.md). The next epoch (current + 1,
     * and the stored epoch after a restart) is always tried, its candidate
     * key cached. A record of an epoch further ahead, up to max_epoch_jump
     * past the current one, needs a token from this session's bucket
     * (candidate_rate per second, at most candidate_burst) and from the
     * process bucket (m2msec_session_set_candidate_limit()); without one it is
     * refused (M2MSEC_SESSION_ERR_RATE_LIMIT) before any derivation. Further still:
     * M2MSEC_SESSION_ERR_EPOCH_AHEAD. Defaults: max_epoch_jump 4096,
     * candidate_rate 1, candidate_burst 8.
     */
    uint64_t max_epoch_jump;
    uint64_t candidate_rate;
    uint64_t candidate_burst;
} m2msec_session_policy;

typedef enum m2msec_session_role {
    M2MSEC_SESSION_SENDER = 1,
    M2MSEC_SESSION_RECEIVER = 2
} m2msec_session_role;

typedef struct m2msec_session_config {
    m2msec_session_role role;
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
 * Create a session. The key is copied (and wiped on free). The session
 * takes the store's lock (refused if the state is in use by another
 * session) and loads the state (refused if there is none: initialise a
 * first start with m2msec_store_init()). A sender persists the epoch it
 * will use before returning.
 * @return the session, or NULL (OpenSSL error queued).
 */
M2MSEC_WARN_UNUSED m2msec_session *m2msec_session_new(const m2msec_session_config *cfg);
/**
 * Wipe and free; a receiver first saves its exact floor (clean shutdown),
 * then the lock is released. In a forked child only the memory is freed.
 * NULL is ignored.
 */
void m2msec_session_free(m2msec_session *s);

/** Record overhead of this session in bytes (header + tag: 27, or 19 with tag_len 8). */
M2MSEC_NONNULL(1) size_t m2msec_session_overhead(const m2msec_session *s);

/**
 * Sender: seal @p in into one record at @p out (capacity @p outcap >= inlen
 * + overhead). Re-keys by itself when the epoch reaches its soft limit.
 * @param status NULL, or where to store what happened (M2MSEC_SESSION_OK on
 *               success)
 * @return 1 on success (*outlen bytes at @p out), 0 on failure (error
 *         queued, *outlen 0, @p out wiped).
 */
M2MSEC_WARN_UNUSED M2MSEC_NONNULL(1, 4, 6) int m2msec_session_seal(m2msec_session *s,
                                                                   const unsigned char *in,
                                                                   size_t inlen, unsigned char *out,
                                                                   size_t outcap, size_t *outlen,
                                                                   m2msec_session_status *status);

/**
 * Receiver: open one record. On success the plaintext (inlen - overhead
 * bytes) is at @p out. On failure nothing is written to @p out (it is
 * wiped), and @p status (if not NULL) says why: a replay, a forgery and an
 * expired key are told apart there (the queued error says the same, e.g.
 * "replayed record", with the provider's M2MSEC_R_* reason where one
 * applies).
 * @return 1 on success, 0 on failure (error queued).
 */
M2MSEC_WARN_UNUSED M2MSEC_NONNULL(1, 2, 6) int m2msec_session_open(m2msec_session *s,
                                                                   const unsigned char *in,
                                                                   size_t inlen, unsigned char *out,
                                                                   size_t outcap, size_t *outlen,
                                                                   m2msec_session_status *status);

/** Counters, for monitoring and the examples. */
typedef struct m2msec_session_stats {
    uint64_t epoch;                                 /**< current epoch */
    uint64_t rekeys;                                /**< epochs moved to since creation */
    uint64_t records;                               /**< records sealed or accepted */
    uint64_t rejected[M2MSEC_SESSION_STATUS_COUNT]; /**< receiver: refusals by status */
    uint64_t candidates; /**< receiver: candidate epoch keys derived for not yet authenticated
                            records (each one a KDF run and a cipher set-up) */
    size_t memory; /**< bytes in m2msec structures (session, provider contexts, windows); OpenSSL's
                      own EVP and AEAD contexts add about 1.4 KB per live epoch key
                      (bench/record_bench measures the total) */
} m2msec_session_stats;

M2MSEC_NONNULL(1, 2)
void m2msec_session_get_stats(const m2msec_session *s, m2msec_session_stats *st);

/**
 * The process-wide budget of candidate derivations for further-ahead epochs,
 * shared by every receiver session of the process: @p rate per second, at
 * most @p burst at once (defaults 256 and 256; 0 keeps a value; both at
 * most 10^6). The next epoch of a session never needs a token.
 */
void m2msec_session_set_candidate_limit(uint64_t rate, uint64_t burst);

#ifdef __cplusplus
}
#endif

#endif
