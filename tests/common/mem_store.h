/*
 * An in-memory m2msec_store (the persistent epoch of a session) for tests:
 * it keeps the last saved state, counts the saves, and can be told to fail
 * its loads or saves.
 */
#ifndef M2MSEC_TESTS_COMMON_MEM_STORE_H
#define M2MSEC_TESTS_COMMON_MEM_STORE_H

#include "m2msec/session.h"

typedef struct {
    m2msec_state st;
    int have;      /* something saved (or preset: the state a restarted device finds) */
    int fail_save; /* save returns 0 */
    int fail_load; /* load returns -1 */
    unsigned long saves;
} mem_store;

/* load: -1 if fail_load, 0 if nothing is saved, else 1 with the saved state. */
int mem_store_load(void *arg, m2msec_state *st);

/* save: 0 if fail_save, else 1 (the state is kept, have set, saves counted). */
int mem_store_save(void *arg, const m2msec_state *st);

/* The m2msec_store callbacks over @p m. */
m2msec_store mem_store_of(mem_store *m);

#endif
