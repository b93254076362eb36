/* SPDX-License-Identifier: Apache-2.0 */
/* m2msec provider: RFC 6479 anti-replay window. */
#include <string.h>
#include <openssl/crypto.h>

#include "replay_window.h"

#define WORD_BITS 64u
#define WORD_SHIFT 6u

int m2m_replay_init(M2M_REPLAY *r, uint64_t window)
{
    uint32_t words = 2;

    memset(r, 0, sizeof(*r));
    if (window < M2M_REPLAY_MIN || window > M2M_REPLAY_MAX)
        return 0;
    /*
     * The ring must hold every number in (last - W, last]: that spans at
     * most ceil(W / 64) + 1 words, and the word holding `last` is only
     * partly usable, so (words - 1) * 64 >= W is enough.
     */
    while ((uint64_t)(words - 1) * WORD_BITS < window)
        words <<= 1;
    r->bits = OPENSSL_zalloc(words * sizeof(uint64_t));
    if (r->bits == NULL)
        return 0;
    r->mask = words - 1;
    r->window = window;
    return 1;
}

void m2m_replay_free(M2M_REPLAY *r)
{
    OPENSSL_free(r->bits);
    memset(r, 0, sizeof(*r));
}

size_t m2m_replay_heap_size(const M2M_REPLAY *r)
{
    return r->bits == NULL ? 0 : ((size_t)r->mask + 1) * sizeof(uint64_t);
}

m2m_replay_verdict m2m_replay_check(const M2M_REPLAY *r, uint64_t seq)
{
    if (!r->any || seq > r->last)
        return M2M_REPLAY_OK;
    if (r->last - seq >= r->window)
        return M2M_REPLAY_TOO_OLD;
    if (r->bits[(seq >> WORD_SHIFT) & r->mask] & (1ull << (seq & (WORD_BITS - 1))))
        return M2M_REPLAY_DUP;
    return M2M_REPLAY_OK;
}

void m2m_replay_update(M2M_REPLAY *r, uint64_t seq)
{
    if (!r->any || seq > r->last) {
        uint64_t cur = r->last >> WORD_SHIFT, next = seq >> WORD_SHIFT;

        if (!r->any || next - cur > r->mask) {
            memset(r->bits, 0, ((size_t)r->mask + 1) * sizeof(uint64_t));
        } else {
            /* Clear the words the window slides over. */
            for (uint64_t i = cur + 1; i <= next; i++)
                r->bits[i & r->mask] = 0;
        }
        r->last = seq;
        r->any = 1;
    }
    r->bits[(seq >> WORD_SHIFT) & r->mask] |= 1ull << (seq & (WORD_BITS - 1));
}
