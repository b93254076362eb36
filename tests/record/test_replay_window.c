/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for the RFC 6479 anti-replay window (provider/replay_window.c).
 *
 * The window is driven with long random sequences and compared, step by
 * step, with a deliberately simple reference model: the set of every
 * sequence number ever accepted plus the highest one. Verdict of the model:
 *   nothing accepted yet or seq > highest -> OK
 *   highest - seq >= W                    -> TOO_OLD
 *   seq in the set                        -> DUP
 *   otherwise                             -> OK
 * A record the model calls OK is "authenticated" (window updated) with a
 * high probability and otherwise treated as forged (window not updated).
 *
 * The PRNG seed is printed; set M2M_TEST_SEED to repeat a run.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <CUnit/Basic.h>
#include <CUnit/CUnit.h>

#include "replay_window.h"
#include "test_run.h"

/* ---- PRNG: splitmix64 (seeding) + xoshiro256** ---- */

static uint64_t rng_s[4];
static uint64_t test_seed;

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void rng_seed(uint64_t seed)
{
    uint64_t x = seed;

    for (int i = 0; i < 4; i++)
        rng_s[i] = splitmix64(&x);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static uint64_t rng_next(void)
{
    uint64_t result = rotl(rng_s[1] * 5, 7) * 9;
    uint64_t t = rng_s[1] << 17;

    rng_s[2] ^= rng_s[0];
    rng_s[3] ^= rng_s[1];
    rng_s[1] ^= rng_s[2];
    rng_s[0] ^= rng_s[3];
    rng_s[2] ^= t;
    rng_s[3] = rotl(rng_s[3], 45);
    return result;
}

/* Uniform in [0, n) (n > 0); the modulo bias is irrelevant here. */
static uint64_t rng_below(uint64_t n)
{
    return rng_next() % n;
}

/* ---- Reference model: a growing hash set of accepted numbers ---- */

typedef struct {
    uint64_t *slots; /* value + 1; 0 = empty (so 2^64-1 is stored in a side flag) */
    size_t nslots, used;
    int has_max; /* UINT64_MAX accepted */
    int any;
    uint64_t highest;
} MODEL;

static uint64_t hash64(uint64_t v)
{
    v ^= v >> 33;
    v *= 0xff51afd7ed558ccdull;
    v ^= v >> 33;
    v *= 0xc4ceb9fe1a85ec53ull;
    return v ^ (v >> 33);
}

static void model_init(MODEL *m)
{
    memset(m, 0, sizeof(*m));
    m->nslots = 1024;
    m->slots = calloc(m->nslots, sizeof(uint64_t));
}

static void model_free(MODEL *m)
{
    free(m->slots);
    memset(m, 0, sizeof(*m));
}

static int model_contains(const MODEL *m, uint64_t v)
{
    if (v == UINT64_MAX)
        return m->has_max;
    for (size_t i = hash64(v) & (m->nslots - 1);; i = (i + 1) & (m->nslots - 1)) {
        if (m->slots[i] == 0)
            return 0;
        if (m->slots[i] == v + 1)
            return 1;
    }
}

static void model_insert_raw(uint64_t *slots, size_t nslots, uint64_t stored)
{
    size_t i = hash64(stored - 1) & (nslots - 1);

    while (slots[i] != 0 && slots[i] != stored)
        i = (i + 1) & (nslots - 1);
    slots[i] = stored;
}

static void model_accept(MODEL *m, uint64_t v)
{
    if (!m->any || v > m->highest)
        m->highest = v;
    m->any = 1;
    if (v == UINT64_MAX) {
        m->has_max = 1;
        return;
    }
    if (model_contains(m, v))
        return;
    if ((m->used + 1) * 2 > m->nslots) {
        size_t n = m->nslots * 2;
        uint64_t *s = calloc(n, sizeof(uint64_t));

        if (s == NULL)
            abort();
        for (size_t i = 0; i < m->nslots; i++)
            if (m->slots[i] != 0)
                model_insert_raw(s, n, m->slots[i]);
        free(m->slots);
        m->slots = s;
        m->nslots = n;
    }
    model_insert_raw(m->slots, m->nslots, v + 1);
    m->used++;
}

static m2m_replay_verdict model_check(const MODEL *m, uint64_t w, uint64_t seq)
{
    if (!m->any || seq > m->highest)
        return M2M_REPLAY_OK;
    if (m->highest - seq >= w)
        return M2M_REPLAY_TOO_OLD;
    if (model_contains(m, seq))
        return M2M_REPLAY_DUP;
    return M2M_REPLAY_OK;
}

/* ---- Comparison harness ---- */

typedef struct {
    uint64_t w;
    M2M_REPLAY win;
    MODEL model;
    uint64_t steps, checks, mismatches;
    uint64_t n_ok, n_dup, n_old;
    int no_huge;         /* leave out the > 2^32 jumps */
    uint64_t recent[64]; /* recently accepted numbers, for duplicates */
    unsigned nrecent;
} HARNESS;

static const char *verdict_name(m2m_replay_verdict v)
{
    switch (v) {
    case M2M_REPLAY_OK:
        return "OK";
    case M2M_REPLAY_DUP:
        return "DUP";
    case M2M_REPLAY_TOO_OLD:
        return "TOO_OLD";
    }
    return "?";
}

static int harness_init(HARNESS *h, uint64_t w)
{
    memset(h, 0, sizeof(*h));
    h->w = w;
    model_init(&h->model);
    return h->model.slots != NULL && m2m_replay_init(&h->win, w);
}

static void harness_free(HARNESS *h)
{
    m2m_replay_free(&h->win);
    model_free(&h->model);
}

/* Compare one verdict; report only the first few mismatches. */
static m2m_replay_verdict compare(HARNESS *h, uint64_t seq)
{
    m2m_replay_verdict got = m2m_replay_check(&h->win, seq);
    m2m_replay_verdict want = model_check(&h->model, h->w, seq);

    h->checks++;
    if (got != want) {
        if (h->mismatches < 5)
            fprintf(stderr,
                    "\n  MISMATCH W=%" PRIu64 " step %" PRIu64 " seq %" PRIu64 " highest %" PRIu64
                    ": window says %s, model says %s (seed %" PRIu64 ")\n",
                    h->w, h->steps, seq, h->model.highest, verdict_name(got), verdict_name(want),
                    test_seed);
        h->mismatches++;
    }
    return want;
}

/* One record arrives: check, and if fresh authenticate it with probability 15/16. */
static void offer(HARNESS *h, uint64_t seq, int forged)
{
    m2m_replay_verdict v = compare(h, seq);

    h->steps++;
    if (v == M2M_REPLAY_DUP) {
        h->n_dup++;
    } else if (v == M2M_REPLAY_TOO_OLD) {
        h->n_old++;
    } else {
        h->n_ok++;
        if (!forged) {
            m2m_replay_update(&h->win, seq);
            model_accept(&h->model, seq);
            h->recent[h->nrecent++ & 63u] = seq;
        }
    }
    /* Both edges of the window, exactly. */
    if (h->model.any && h->model.highest >= h->w) {
        m2m_replay_verdict lo = compare(h, h->model.highest - h->w);
        m2m_replay_verdict in = compare(h, h->model.highest - h->w + 1);

        if (lo != M2M_REPLAY_TOO_OLD || in == M2M_REPLAY_TOO_OLD)
            h->mismatches++; /* the model itself must agree with the definition */
    }
    if (h->model.any && h->model.highest < UINT64_MAX)
        compare(h, h->model.highest + 1);
}

/* Next sequence number of the random workload; never above limit. */
static uint64_t pick_seq(HARNESS *h, uint64_t limit)
{
    uint64_t hi = h->model.highest, w = h->w, r = rng_below(1000);

    if (!h->model.any)
        return rng_below(4) == 0 ? rng_below(3 * w) : 0;
    if (r < 450) { /* in order, sometimes skipping a few */
        uint64_t step = rng_below(8) == 0 ? 1 + rng_below(4) : 1;
        return hi <= limit - step ? hi + step : hi;
    }
    if (r < 650) /* anywhere within the window */
        return hi - rng_below(hi < w ? hi + 1 : w);
    if (r < 750 && h->nrecent > 0) /* duplicate of a recent record */
        return h->recent[rng_below(h->nrecent < 64 ? h->nrecent : 64)];
    if (r < 800) /* exactly the lower edge, inside */
        return hi >= w - 1 ? hi - (w - 1) : 0;
    if (r < 850) /* exactly the lower edge, outside */
        return hi >= w ? hi - w : hi;
    if (r < 900) { /* very old */
        if (hi < w)
            return rng_below(hi + 1);
        return rng_below(hi - w + 1);
    }
    if (r < 940) { /* just below the window, a little */
        uint64_t d = w + rng_below(2 * w);
        return hi >= d ? hi - d : 0;
    }
    if (r < 990) { /* forward jump up to 10 W */
        uint64_t d = 1 + rng_below(10 * w);
        return hi <= limit - d ? hi + d : limit;
    }
    if (r < 995 || h->no_huge) { /* forward jump within a word or two of a full ring */
        uint64_t d = w + rng_below(200);
        return hi <= limit - d ? hi + d : limit;
    }
    { /* huge jump, more than 2^32 */
        uint64_t d = (1ull << 32) + rng_below(1ull << 34);
        return hi <= limit - d ? hi + d : limit;
    }
}

/*
 * steps random records for window w, starting (if start != 0) with an
 * accepted start and never going above limit. Unless top, at least a
 * quarter of the records must be fresh; with top, the run must reach
 * limit (and then keep offering numbers at the very top).
 */
static void run_random(uint64_t w, uint64_t steps, uint64_t start, uint64_t limit, int top,
                       int no_huge)
{
    HARNESS h;

    CU_ASSERT_FATAL(harness_init(&h, w));
    h.no_huge = no_huge;
    if (start != 0) {
        h.steps++;
        compare(&h, start);
        m2m_replay_update(&h.win, start);
        model_accept(&h.model, start);
    }
    while (h.steps < steps) {
        uint64_t seq = pick_seq(&h, limit);

        offer(&h, seq, rng_below(16) == 0);
    }
    printf("\n    W=%-5" PRIu64 " steps %" PRIu64 " checks %" PRIu64 " ok %" PRIu64 " dup %" PRIu64
           " old %" PRIu64 " highest %" PRIu64 " ",
           w, h.steps, h.checks, h.n_ok, h.n_dup, h.n_old, h.model.highest);
    CU_ASSERT_EQUAL(h.mismatches, 0);
    if (top) {
        CU_ASSERT_EQUAL(h.model.highest, limit);
    } else {
        CU_ASSERT(h.n_ok > steps / 4);
    }
    CU_ASSERT(h.n_dup > 0);
    CU_ASSERT(h.n_old > 0);
    harness_free(&h);
}

static const uint64_t sizes[] = {64, 65, 256, 1000, 1024, 8192, 32768};
#define NSIZES (sizeof(sizes) / sizeof(sizes[0]))
#define STEPS_PER_SIZE 1500000u

static void test_random_sequences(void)
{
    for (size_t i = 0; i < NSIZES; i++)
        run_random(sizes[i], STEPS_PER_SIZE, 0, UINT64_MAX, 0, 0);
}

/* Start a few windows below 2^64 and run into the top. */
static void test_near_uint64_max(void)
{
    for (size_t i = 0; i < NSIZES; i++) {
        uint64_t w = sizes[i];

        /* Jumps are capped at the limit, so the top is reached quickly... */
        run_random(w, 50000, UINT64_MAX - 20 * w, UINT64_MAX, 1, 0);
        /* ... or slowly, with ordinary traffic only (about w/4 per step). */
        run_random(w, 100000, UINT64_MAX - 20000 * w, UINT64_MAX, 1, 1);
    }
}

/* Deterministic checks at the top of the number space. */
static void test_top_edges(void)
{
    for (size_t i = 0; i < NSIZES; i++) {
        uint64_t w = sizes[i];
        M2M_REPLAY r;

        CU_ASSERT_FATAL(m2m_replay_init(&r, w));
        CU_ASSERT_EQUAL(m2m_replay_check(&r, UINT64_MAX), M2M_REPLAY_OK);
        m2m_replay_update(&r, UINT64_MAX);
        CU_ASSERT_EQUAL(m2m_replay_check(&r, UINT64_MAX), M2M_REPLAY_DUP);
        CU_ASSERT_EQUAL(m2m_replay_check(&r, UINT64_MAX - 1), M2M_REPLAY_OK);
        CU_ASSERT_EQUAL(m2m_replay_check(&r, UINT64_MAX - (w - 1)), M2M_REPLAY_OK);
        CU_ASSERT_EQUAL(m2m_replay_check(&r, UINT64_MAX - w), M2M_REPLAY_TOO_OLD);
        CU_ASSERT_EQUAL(m2m_replay_check(&r, 0), M2M_REPLAY_TOO_OLD);
        /* Fill the whole window below the top, then everything is a duplicate. */
        for (uint64_t d = 1; d < w; d++) {
            CU_ASSERT_EQUAL_FATAL(m2m_replay_check(&r, UINT64_MAX - d), M2M_REPLAY_OK);
            m2m_replay_update(&r, UINT64_MAX - d);
        }
        for (uint64_t d = 0; d < w; d++)
            CU_ASSERT_EQUAL_FATAL(m2m_replay_check(&r, UINT64_MAX - d), M2M_REPLAY_DUP);
        m2m_replay_free(&r);

        /* Walk up to 2^64-1 one by one, last W+100 numbers. */
        CU_ASSERT_FATAL(m2m_replay_init(&r, w));
        for (uint64_t s = UINT64_MAX - w - 100;; s++) {
            CU_ASSERT_EQUAL_FATAL(m2m_replay_check(&r, s), M2M_REPLAY_OK);
            m2m_replay_update(&r, s);
            CU_ASSERT_EQUAL_FATAL(m2m_replay_check(&r, s), M2M_REPLAY_DUP);
            if (s == UINT64_MAX)
                break;
        }
        CU_ASSERT_EQUAL(m2m_replay_check(&r, UINT64_MAX - w + 1), M2M_REPLAY_DUP);
        CU_ASSERT_EQUAL(m2m_replay_check(&r, UINT64_MAX - w), M2M_REPLAY_TOO_OLD);
        m2m_replay_free(&r);

        /* From 0 straight to the top: the old numbers are out of the window. */
        CU_ASSERT_FATAL(m2m_replay_init(&r, w));
        m2m_replay_update(&r, 0);
        m2m_replay_update(&r, 1);
        m2m_replay_update(&r, UINT64_MAX - 1);
        CU_ASSERT_EQUAL(m2m_replay_check(&r, 0), M2M_REPLAY_TOO_OLD);
        CU_ASSERT_EQUAL(m2m_replay_check(&r, 1), M2M_REPLAY_TOO_OLD);
        CU_ASSERT_EQUAL(m2m_replay_check(&r, UINT64_MAX - 1), M2M_REPLAY_DUP);
        CU_ASSERT_EQUAL(m2m_replay_check(&r, UINT64_MAX), M2M_REPLAY_OK);
        CU_ASSERT_EQUAL(m2m_replay_check(&r, UINT64_MAX - 2), M2M_REPLAY_OK);
        m2m_replay_free(&r);
    }
}

/*
 * Jumps that land every number of the new window on a ring position whose
 * bit was set before the jump: any bit the update fails to clear shows up
 * as a false duplicate. d = one word short of a full ring (the longest
 * partial clear), exactly a ring, a word more, 2^32 and 2^32 + a ring.
 */
static void test_aliasing_jumps(void)
{
    for (size_t i = 0; i < NSIZES; i++) {
        uint64_t w = sizes[i], ring_bits;
        M2M_REPLAY r;

        CU_ASSERT_FATAL(m2m_replay_init(&r, w));
        ring_bits = (uint64_t)(r.mask + 1) * 64;
        m2m_replay_free(&r);
        CU_ASSERT(ring_bits - 64 >= w);
        const uint64_t jumps[] = {ring_bits - 64, ring_bits,  ring_bits + 64,
                                  2 * ring_bits,  1ull << 32, (1ull << 32) + ring_bits};
        for (size_t j = 0; j < sizeof(jumps) / sizeof(jumps[0]); j++) {
            uint64_t d = jumps[j], stale = 0;

            CU_ASSERT_FATAL(m2m_replay_init(&r, w));
            for (uint64_t s = 0; s < w; s++)
                m2m_replay_update(&r, s);
            m2m_replay_update(&r, d + w - 1);
            for (uint64_t s = d; s < d + w - 1; s++)
                stale += m2m_replay_check(&r, s) != M2M_REPLAY_OK;
            CU_ASSERT_EQUAL(stale, 0);
            CU_ASSERT_EQUAL(m2m_replay_check(&r, d + w - 1), M2M_REPLAY_DUP);
            CU_ASSERT_EQUAL(m2m_replay_check(&r, d - 1), M2M_REPLAY_TOO_OLD);
            CU_ASSERT_EQUAL(m2m_replay_check(&r, w - 1), M2M_REPLAY_TOO_OLD);
            m2m_replay_free(&r);
        }
    }
}

static void test_invalid_sizes(void)
{
    static const uint64_t bad[] = {0, 1, 32, 63, 32769, 65536, UINT64_MAX};
    static const uint64_t good[] = {64, 65, 127, 128, 129, 32767, 32768};
    M2M_REPLAY r;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        memset(&r, 0xa5, sizeof(r));
        CU_ASSERT_EQUAL(m2m_replay_init(&r, bad[i]), 0);
        CU_ASSERT_PTR_NULL(r.bits);
        CU_ASSERT_EQUAL(m2m_replay_heap_size(&r), 0);
        m2m_replay_free(&r); /* harmless after a refused init */
    }
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        CU_ASSERT_FATAL(m2m_replay_init(&r, good[i]));
        CU_ASSERT_EQUAL(r.window, good[i]);
        /* A power-of-two ring whose usable part holds the window. */
        CU_ASSERT_EQUAL((r.mask + 1) & r.mask, 0);
        CU_ASSERT((uint64_t)r.mask * 64 >= good[i]);
        CU_ASSERT(m2m_replay_heap_size(&r) == ((size_t)r.mask + 1) * 8);
        m2m_replay_free(&r);
        CU_ASSERT_PTR_NULL(r.bits);
    }
}

/* A fresh window: everything OK, even before any update; a forged (not updated) seq stays OK. */
static void test_fresh_and_forged(void)
{
    M2M_REPLAY r;

    CU_ASSERT_FATAL(m2m_replay_init(&r, 64));
    CU_ASSERT_EQUAL(m2m_replay_check(&r, 0), M2M_REPLAY_OK);
    CU_ASSERT_EQUAL(m2m_replay_check(&r, UINT64_MAX), M2M_REPLAY_OK);
    m2m_replay_update(&r, 1000);
    CU_ASSERT_EQUAL(m2m_replay_check(&r, 999), M2M_REPLAY_OK); /* checked, never updated */
    CU_ASSERT_EQUAL(m2m_replay_check(&r, 999), M2M_REPLAY_OK);
    CU_ASSERT_EQUAL(m2m_replay_check(&r, 1000), M2M_REPLAY_DUP);
    CU_ASSERT_EQUAL(m2m_replay_check(&r, 937), M2M_REPLAY_OK);
    CU_ASSERT_EQUAL(m2m_replay_check(&r, 936), M2M_REPLAY_TOO_OLD);
    m2m_replay_update(&r, 937);
    CU_ASSERT_EQUAL(m2m_replay_check(&r, 937), M2M_REPLAY_DUP);
    m2m_replay_free(&r);
}

static uint64_t choose_seed(void)
{
    const char *s = getenv("M2M_TEST_SEED");

    if (s != NULL && *s != '\0')
        return strtoull(s, NULL, 0);
    return (uint64_t)time(NULL) ^ ((uint64_t)clock() << 32);
}

int main(void)
{
    static const tc_test tests[] = {
        {"invalid sizes refused", test_invalid_sizes},
        {"fresh window, forged records", test_fresh_and_forged},
        {"random sequences vs model", test_random_sequences},
        {"random sequences near 2^64-1", test_near_uint64_max},
        {"top of the number space", test_top_edges},
        {"ring-size and 2^32 jumps", test_aliasing_jumps},
    };
    int rc;

    test_seed = choose_seed();
    rng_seed(test_seed);
    printf("test_replay_window: seed %" PRIu64 " (repeat with M2M_TEST_SEED=%" PRIu64 ")\n",
           test_seed, test_seed);
    rc = tc_run("test_replay_window", "replay_window", NULL, NULL, tests,
                sizeof(tests) / sizeof(tests[0]));
    printf("test_replay_window: seed %" PRIu64 "\n", test_seed);
    return rc;
}
