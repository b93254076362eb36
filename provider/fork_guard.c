/* SPDX-License-Identifier: Apache-2.0 */
/* m2msec provider: fork detection for record contexts (see fork_guard.h). */
#define _DEFAULT_SOURCE /* MAP_ANONYMOUS, MADV_WIPEONFORK */
#include <pthread.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <unistd.h>

#include "errors.h"
#include "fork_guard.h"

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static int g_ready, g_wipe;              /* written once, inside g_once */
static _Atomic uint64_t g_word_fallback; /* the id when no page could be mapped */
_Atomic uint64_t *m2m_fork_word = &g_word_fallback;
static _Atomic uint64_t g_last; /* ids handed out (a child inherits it) */

static void atfork_child(void)
{
    atomic_store_explicit(m2m_fork_word, 0, memory_order_relaxed);
}

static void init_once(void)
{
    long pg = sysconf(_SC_PAGESIZE);
    size_t len = pg > 0 ? (size_t)pg : 4096;
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

    if (p != MAP_FAILED) {
#ifdef MADV_WIPEONFORK
        if (madvise(p, len, MADV_WIPEONFORK) == 0) {
            m2m_fork_word = p;
            atomic_init(m2m_fork_word, 0);
            g_wipe = 1;
        }
#endif
        if (!g_wipe)
            munmap(p, len);
    }
    if (pthread_atfork(NULL, NULL, atfork_child) != 0)
        return;
    g_ready = 1;
}

int m2m_fork_guard_init(void)
{
    if (pthread_once(&g_once, init_once) == 0 && g_ready)
        return 1;
    M2M_RAISE(M2MSEC_R_CRYPTO_FAILED,
              "m2msec: cannot set up fork detection (pthread_atfork failed)");
    return 0;
}

uint64_t m2m_fork_id(void)
{
    uint64_t cur, fresh;

    (void)m2m_fork_guard_init(); /* a no-op once done; the provider did it at load */
    cur = atomic_load_explicit(m2m_fork_word, memory_order_acquire);
    if (cur != 0)
        return cur;
    fresh = atomic_fetch_add_explicit(&g_last, 1, memory_order_relaxed) + 1;
    if (atomic_compare_exchange_strong_explicit(m2m_fork_word, &cur, fresh, memory_order_acq_rel,
                                                memory_order_acquire))
        return fresh;
    return cur; /* another thread of this process was first */
}

int m2m_fork_guard_wipeonfork(void)
{
    return g_wipe;
}
