/* SPDX-License-Identifier: Apache-2.0 */
/* An in-memory m2msec_store for tests (see mem_store.h). */
#include <openssl/err.h>

#include "mem_store.h"

int mem_store_lock(void *arg, void **handle)
{
    mem_store *m = arg;

    if (m->fail_lock) {
        ERR_raise_data(ERR_LIB_USER, ERR_R_OPERATION_FAIL, "memory store: lock failure (test)");
        return -1;
    }
    if (m->locked)
        return 0;
    m->locked = 1;
    *handle = m;
    return 1;
}

int mem_store_load(void *arg, void *handle, m2msec_session_state *st)
{
    mem_store *m = arg;

    (void)handle;
    if (m->fail_load) {
        ERR_raise_data(ERR_LIB_USER, ERR_R_OPERATION_FAIL, "memory store: load failure (test)");
        return -1;
    }
    if (!m->have)
        return 0;
    *st = m->st;
    return 1;
}

int mem_store_save(void *arg, void *handle, const m2msec_session_state *st)
{
    mem_store *m = arg;

    if (m->fail_save || handle != m || !m->locked) {
        ERR_raise_data(ERR_LIB_USER, ERR_R_OPERATION_FAIL, "memory store: %s (test)",
                       m->fail_save ? "save failure" : "save without the lock");
        return 0;
    }
    m->st = *st;
    m->have = 1;
    m->saves++;
    if (m->lose_ack) {
        ERR_raise_data(ERR_LIB_USER, ERR_R_OPERATION_FAIL,
                       "memory store: saved, but the sync failed (test)");
        return 0;
    }
    return 1;
}

void mem_store_unlock(void *arg, void *handle)
{
    mem_store *m = arg;

    (void)handle;
    m->locked = 0;
}

m2msec_store mem_store_of(mem_store *m)
{
    m2msec_store s = {
        mem_store_lock, mem_store_load, mem_store_save, mem_store_unlock, m, "memory store", NULL};

    return s;
}
