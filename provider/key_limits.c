/* SPDX-License-Identifier: Apache-2.0 */
/* m2msec provider: key lifetime and usage limits. */
#include <time.h>

#include "key_limits.h"

uint64_t m2m_now(void)
{
    struct timespec ts;

#ifdef CLOCK_REALTIME_COARSE
    if (clock_gettime(CLOCK_REALTIME_COARSE, &ts) == 0)
        return (uint64_t)ts.tv_sec;
#endif
    if (clock_gettime(CLOCK_REALTIME, &ts) == 0)
        return (uint64_t)ts.tv_sec;
    return UINT64_MAX; /* no clock: treat every key as expired */
}

uint64_t m2m_now_precise(void)
{
    struct timespec ts;

    if (clock_gettime(CLOCK_REALTIME, &ts) == 0)
        return (uint64_t)ts.tv_sec;
    return UINT64_MAX;
}

const char *m2m_limits_refuse(const M2M_LIMITS *l, uint64_t now, size_t len)
{
    if (now >= l->not_after)
        return "key lifetime ended (not-after reached)";
    if (l->records >= l->max_records)
        return "record limit reached";
    if (len > l->max_bytes - l->bytes)
        return "byte limit reached";
    if (l->failures >= l->max_failures)
        return "failed-decryption limit reached";
    return NULL;
}

static int past_soft(uint64_t used, uint64_t max)
{
    /* used >= 80 % of max, without overflow. */
    return used >= max - max / 100 * (100 - M2M_SOFT_PERCENT) -
                       (max % 100) * (100 - M2M_SOFT_PERCENT) / 100;
}

int m2m_limits_soft(const M2M_LIMITS *l, uint64_t now)
{
    uint64_t span = l->not_after > l->start ? l->not_after - l->start : 0;

    return past_soft(l->records, l->max_records) || past_soft(l->bytes, l->max_bytes) ||
           past_soft(l->failures, l->max_failures) ||
           (now >= l->start && past_soft(now - l->start, span));
}
