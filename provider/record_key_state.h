/* SPDX-License-Identifier: Apache-2.0 */
/*
 * m2msec provider: the process-wide state of each M2M-RECAAD record key
 * (docs/PROTOCOL.md 5.7).
 *
 * An M2M-RECAAD context may live for one message only, so what an M2M-REC
 * context keeps for itself is kept here per key, for the whole process
 * (every context and every library context; module-level state, like
 * key_registry.c, never freed while the process lives):
 *
 *  - encrypting: the epoch bound to the key at its first record, the next
 *    usable sequence number (a record's must be at least this; taking it
 *    and moving past it is one step under the lock), and the limits
 *    (records, bytes, lifetime from the key's first use in the process);
 *  - decrypting: one replay window shared by every context of the key,
 *    checked before any decryption work and learnt at a verified final,
 *    both under the lock, and the limits. Failed decryptions count in
 *    key_registry.c as for M2M-REC.
 *
 * Keys are found by the same keyed fingerprint as key_registry.c (computed
 * under the M2M-REC cipher's name), and the first encrypting use of a key
 * claims it there: an M2M-REC context cannot encrypt with a key M2M-RECAAD
 * encrypted with, nor the other way round.
 *
 * At most M2M_KEYSTATE_MAX keys; past that a new key is refused (never an
 * old one forgotten: forgetting would let a sequence number or a record
 * be used again).
 */
#ifndef M2M_RECORD_KEY_STATE_H
#define M2M_RECORD_KEY_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "key_limits.h"
#include "key_registry.h"

#define M2M_KEYSTATE_MAX 65536u

typedef struct m2m_key_state_st M2M_KEY_STATE;

/*
 * The key's state, created at its first use in the process (enc: claimed
 * in the key registry then). NULL (error raised) if the key is refused:
 * claimed by an M2M-REC encrypting context, the table full, no memory, or
 * the key first used by the parent of this (forked) process.
 */
M2M_KEY_STATE *m2m_key_state_get(const M2M_KEY_FP *fp, int enc, const char *alg);

/*
 * A record begins, encrypting (enc) or decrypting, with the epoch and seq
 * its AAD names, at `now`. Under the lock: the limits (the context's
 * limits `lim` lower the key's; `failures` is the key's failed-decryption
 * count), then encrypting the epoch and seq (seq at least the next, which
 * becomes seq + 1; the record is counted), decrypting the replay window
 * (`window`: its size if this is the key's first decrypting record). On
 * success *lim receives the key's limits and usage; 0 with an error raised
 * otherwise.
 */
int m2m_key_state_begin(M2M_KEY_STATE *k, int enc, const char *alg, uint64_t epoch, uint64_t seq,
                        uint64_t now, uint64_t failures, uint64_t window, M2M_LIMITS *lim);

/* len more bytes of a record: counted for the key, or refused at its byte limit (raised). */
int m2m_key_state_bytes(M2M_KEY_STATE *k, int enc, size_t len, uint64_t now, uint64_t failures,
                        uint64_t epoch);

/*
 * Decrypting: a record's tag verified. The window learns seq, unless some
 * other context accepted it meanwhile (then 0, "replayed record" raised).
 */
int m2m_key_state_accept(M2M_KEY_STATE *k, uint64_t epoch, uint64_t seq);

/* Tests and documentation: keys in the table, and the bytes they hold. */
size_t m2m_key_state_count(void);

#endif
