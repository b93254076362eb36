/* SPDX-License-Identifier: Apache-2.0 */
/*
 * m2msec provider: anti-replay window (RFC 6479 ring bitmap, no shifting).
 *
 * The window accepts a sequence number once, and only if it is higher than
 * the highest authenticated one or at most window-1 below it. check() is
 * pure and O(1) and runs before any decryption work; update() runs only
 * after the record's tag has verified, and costs O(1) amortised.
 */
#ifndef M2M_REPLAY_WINDOW_H
#define M2M_REPLAY_WINDOW_H

#include <stdint.h>

#define M2M_REPLAY_MIN 64u
#define M2M_REPLAY_MAX 32768u
#define M2M_REPLAY_DEFAULT 256u

typedef enum {
    M2M_REPLAY_OK = 0,  /* fresh: may be decrypted */
    M2M_REPLAY_DUP,     /* already accepted */
    M2M_REPLAY_TOO_OLD, /* below the window */
} m2m_replay_verdict;

typedef struct m2m_replay_st {
    uint64_t last;   /* highest authenticated sequence number */
    uint64_t window; /* W: accepted iff seq > last - W (when any) */
    uint32_t mask;   /* number of 64-bit words - 1 (a power of two - 1) */
    int any;         /* has any record been accepted? */
    uint64_t *bits;  /* ring of mask + 1 words */
} M2M_REPLAY;

/* Allocate a window of exactly `window` records (M2M_REPLAY_MIN..MAX). 0 on error. */
int m2m_replay_init(M2M_REPLAY *r, uint64_t window);
void m2m_replay_free(M2M_REPLAY *r);
/* Bytes of heap the window uses. */
size_t m2m_replay_heap_size(const M2M_REPLAY *r);

m2m_replay_verdict m2m_replay_check(const M2M_REPLAY *r, uint64_t seq);
/* Mark seq as accepted. Call only after check() said OK and the tag verified. */
void m2m_replay_update(M2M_REPLAY *r, uint64_t seq);

#endif
