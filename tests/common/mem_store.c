/* An in-memory m2msec_store for tests (see mem_store.h). */
#include "mem_store.h"

int mem_store_load(void *arg, m2msec_state *st)
{
    mem_store *m = arg;

    if (m->fail_load)
        return -1;
    if (!m->have)
        return 0;
    *st = m->st;
    return 1;
}

int mem_store_save(void *arg, const m2msec_state *st)
{
    mem_store *m = arg;

    if (m->fail_save)
        return 0;
    m->st = *st;
    m->have = 1;
    m->saves++;
    return 1;
}

m2msec_store mem_store_of(mem_store *m)
{
    m2msec_store s = {mem_store_load, mem_store_save, m};

    return s;
}
