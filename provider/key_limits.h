/* SPDX-License-Identifier: Apache-2.0 */
/*
 * m2msec provider: key lifetime and usage limits for one record key.
 *
 * Hard limits: a not-after time, a number of records, a number of bytes
 * and (decryption) a number of failed authentications. Past any hard limit
 * every record is refused. The soft limit is 80 % of each: past it the
 * "rekey-needed" ctx param reads 1 so that the application (or the
 * libm2msec session) moves to the next epoch in good time.
 */
#ifndef M2M_KEY_LIMITS_H
#define M2M_KEY_LIMITS_H

#include <stddef.h>
#include <stdint.h>

#define M2M_SOFT_PERCENT 80u

typedef struct m2m_limits_st {
    uint64_t max_records, max_bytes, max_failures;
    uint64_t start, not_after; /* seconds since 1970 */
    uint64_t records, bytes, failures;
} M2M_LIMITS;

/* Wall-clock seconds since 1970 (coarse clock: cheap enough per record). */
uint64_t m2m_now(void);
/*
 * The same from the precise clock, read once when a key is set: the
 * coarse clock may lag a caller's time(NULL) by up to a tick, and a
 * not-after computed from time(NULL) + max_lifetime must not be refused.
 */
uint64_t m2m_now_precise(void);

/*
 * May one more record of `len` bytes be processed now? Returns NULL if so,
 * else a static text naming the limit that is reached (for the error).
 */
const char *m2m_limits_refuse(const M2M_LIMITS *l, uint64_t now, size_t len);
/* Has any usage reached the soft limit? */
int m2m_limits_soft(const M2M_LIMITS *l, uint64_t now);

#endif
