/* SPDX-License-Identifier: Apache-2.0 */
/*
 * An in-memory m2msec_store (the persistent epoch of a session) for tests:
 * it keeps the last saved state, counts the saves, has the exclusive lock
 * every store must have (one session at a time), and can be told to fail
 * its locks, loads or saves.
 *
 * A store that was never initialised holds nothing, and a session refuses
 * it (no first start by accident): start from MEM_STORE_FIRST_START, the
 * state m2msec_store_init() writes, or call m2msec_store_init() on it.
 */
#ifndef M2MSEC_TESTS_COMMON_MEM_STORE_H
#define M2MSEC_TESTS_COMMON_MEM_STORE_H

#include "m2msec/session.h"

typedef struct {
    m2msec_session_state st;
    int have;      /* something saved (or preset: the state a restarted device finds) */
    int fail_save; /* save returns 0 */
    int fail_load; /* load returns -1 */
    int fail_lock; /* lock returns -1 */
    int lose_ack;  /* save keeps the state, then returns 0 (stored, but the sync failed) */
    int locked;    /* a session (or m2msec_store_init) holds the lock */
    unsigned long saves;
} mem_store;

/* An initialised store before the first session: epoch 0, floor 0. */
#define MEM_STORE_FIRST_START                                                                      \
    {                                                                                              \
        .have = 1                                                                                  \
    }

/* lock: -1 if fail_lock, 0 if already locked, else 1 (locked set, the handle is the store). */
int mem_store_lock(void *arg, void **handle);

/* load: -1 if fail_load, 0 if nothing is saved, else 1 with the saved state. */
int mem_store_load(void *arg, void *handle, m2msec_session_state *st);

/*
 * save: 0 if fail_save (or without the lock), else the state is kept (have
 * set, saves counted) and 1 is returned, or 0 if lose_ack.
 */
int mem_store_save(void *arg, void *handle, const m2msec_session_state *st);

/* unlock: clears locked. */
void mem_store_unlock(void *arg, void *handle);

/* The m2msec_store callbacks over @p m (name "memory store"). */
m2msec_store mem_store_of(mem_store *m);

#endif
