/* SPDX-License-Identifier: Apache-2.0 */
/*
 * m2msec provider: telling a forked child from the process that set a
 * record context up.
 *
 * A record context copied into a child by fork() must refuse to work: an
 * encrypting one would repeat the parent's nonces, a decrypting one would
 * accept what the parent accepts. Each keyed context remembers the id of
 * its process (m2m_fork_id) and compares it with the current one before
 * every record and every update (m2m_fork_same: one atomic load, no
 * system call).
 *
 * The id lives in a page mapped with MADV_WIPEONFORK, which the kernel
 * gives a child filled with zeros (Linux 4.14 and later; this also covers
 * a fork by raw system call). A pthread_atfork child handler zeroes it as
 * well, which is the only mechanism where the madvise is refused (the word
 * then lives in ordinary memory). In a child the first new context takes a
 * fresh id, larger than every id the parent handed out, so the parent's
 * contexts never match again. docs/PROTOCOL.md 5.2 describes the rule.
 */
#ifndef M2M_FORK_GUARD_H
#define M2M_FORK_GUARD_H

#include <stdatomic.h>
#include <stdint.h>

/* The current process's id (fork_guard.c); the pointer is set once, at the set-up. */
extern _Atomic uint64_t *m2m_fork_word;

/* One-time, thread-safe set-up (OSSL_provider_init); 0 (error raised) on failure. */
int m2m_fork_guard_init(void);
/* The id of the current process (non-zero); a child gets a fresh one at its first call. */
uint64_t m2m_fork_id(void);
/* Is this still the process that got id from m2m_fork_id()? One relaxed load, inlined. */
static inline int m2m_fork_same(uint64_t id)
{
    return atomic_load_explicit(m2m_fork_word, memory_order_relaxed) == id;
}
/* 1 if the kernel wipes the id in a child (MADV_WIPEONFORK), 0 if only the atfork handler does. */
int m2m_fork_guard_wipeonfork(void);

#endif
