/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_timing.h: the one timing helper every bench program uses.
 *
 * - bt_cpu(): this thread's CPU time (CLOCK_THREAD_CPUTIME_ID), so time the
 *   scheduler gives to other processes on a shared machine is not counted;
 * - bt_wall(): monotonic wall time, for what runs in other threads or
 *   processes (sha256sum, verify workers);
 * - bt_batch(): how many operations to run between two clock reads, so
 *   that reading the clock costs nothing measurable;
 * - bt_order(): contender order for a round, forward in even rounds and
 *   backward in odd ones, so no contender always runs first or last;
 * - bt_summary(): minimum, median and maximum of a set of per-round ratios;
 * - bt_load(): the load average, printed with every run.
 *
 * Header only (static inline), no state. Benchmarks never assert a timing.
 */
#ifndef M2MSEC_BENCH_TIMING_H
#define M2MSEC_BENCH_TIMING_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BT_MAX_ROUNDS 31

static inline double bt_clock(clockid_t id)
{
    struct timespec ts;

    if (clock_gettime(id, &ts) != 0) {
        perror("clock_gettime");
        exit(2);
    }
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline double bt_cpu(void)
{
    return bt_clock(CLOCK_THREAD_CPUTIME_ID);
}

static inline double bt_wall(void)
{
    return bt_clock(CLOCK_MONOTONIC);
}

/*
 * The next batch size of a timed loop whose last batch took `elapsed`
 * seconds of CPU time: doubled until a batch takes BT_MIN_BATCH_SECONDS.
 * Reading CLOCK_THREAD_CPUTIME_ID is a system call; on the shared VM the
 * figures were taken on it cost 1-6 us, while a 64-byte seal+open costs
 * 0.4 us: with batches of 8 records the clock added a constant of several
 * hundred ns to every record of every contender, pulling every ratio
 * towards 1 (issue 13 point 2). At 2 ms per batch it is below 0.3 %.
 */
#define BT_MIN_BATCH_SECONDS 0.002

static inline int bt_batch(int batch, double elapsed)
{
    return elapsed < BT_MIN_BATCH_SECONDS && batch < (1 << 24) ? batch * 2 : batch;
}

/* Index of the i-th contender (of n) to run in round r. */
static inline int bt_order(int r, int i, int n)
{
    return r % 2 == 0 ? i : n - 1 - i;
}

static inline int bt_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

typedef struct {
    double min, med, max;
} bt_stats;

/* min / median / max of v[0..n-1] (n <= BT_MAX_ROUNDS); v is not changed. */
static inline bt_stats bt_summary(const double *v, int n)
{
    double s[BT_MAX_ROUNDS];
    bt_stats st = {0, 0, 0};

    if (n <= 0 || n > BT_MAX_ROUNDS)
        return st;
    memcpy(s, v, sizeof(double) * (size_t)n);
    qsort(s, (size_t)n, sizeof(double), bt_cmp);
    st.min = s[0];
    st.max = s[n - 1];
    st.med = n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
    return st;
}

/* Ratios a[r] / b[r] of two per-round rates, summarised. */
static inline bt_stats bt_ratio(const double *a, const double *b, int n)
{
    double q[BT_MAX_ROUNDS];

    for (int r = 0; r < n && r < BT_MAX_ROUNDS; r++)
        q[r] = b[r] > 0 ? a[r] / b[r] : 0;
    return bt_summary(q, n);
}

/* "0.812 / 0.830 / 0.861" into buf */
static inline const char *bt_fmt(char *buf, size_t len, bt_stats st)
{
    snprintf(buf, len, "%.3f / %.3f / %.3f", st.min, st.med, st.max);
    return buf;
}

static inline void bt_load(const char *prog, const char *when)
{
    FILE *f = fopen("/proc/loadavg", "r");
    double l1 = 0, l5 = 0, l15 = 0;

    if (f == NULL)
        return;
    if (fscanf(f, "%lf %lf %lf", &l1, &l5, &l15) == 3)
        printf("%s: load average %s: %.2f %.2f %.2f (1/5/15 min) on %ld CPUs\n", prog, when, l1, l5,
               l15, sysconf(_SC_NPROCESSORS_ONLN));
    fclose(f);
}

#endif
