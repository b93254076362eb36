/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What an unauthenticated record can cost a receiver (issue 13 point 6,
 * docs/PROTOCOL.md 6.3): forged records naming random epochs cause no more
 * candidate derivations than the bound (max_epoch_jump, the session's and
 * the process's token buckets), counted with m2msec_session_stats
 * .candidates; the genuine next epoch is accepted while the buckets are
 * empty; before the first record after a restart, forged records alternating
 * between the stored epoch and the next cost one derivation each at most.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <openssl/err.h>

#include "m2msec/session.h"
#include "mem_store.h"
#include "session_call.h"
#include "session_test.h"
#include "test_run.h"

#define RECBUF 256
#define LEN 16
#define RL (LEN + ST_OVERHEAD)

static unsigned char pt[RECBUF], rec[RECBUF], out[RECBUF];

static double mono(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t candidates(m2msec_session *s)
{
    m2msec_session_stats st;

    m2msec_session_get_stats(s, &st);
    return st.candidates;
}

static uint64_t rejected(m2msec_session *s, m2msec_session_status k)
{
    m2msec_session_stats st;

    m2msec_session_get_stats(s, &st);
    return st.rejected[k];
}

static m2msec_session_status open1(m2msec_session *s, const unsigned char *r, size_t len)
{
    size_t olen = 0;

    return t_open(s, r, len, out, sizeof(out), &olen);
}

/* A forged record: header (epoch, seq), random ciphertext and tag. */
static void forge(unsigned char *r, uint64_t epoch, uint64_t seq)
{
    st_put_header(r, epoch, seq);
    st_fill_plain(r + 11, LEN + ST_TAGLEN);
}

/* 1. Random epochs, random seq, replays: derivations stay within the bound. */
static void test_forged_random_epochs(void)
{
    m2msec_session_policy pol = {0};
    mem_store ms = MEM_STORE_FIRST_START, mr = MEM_STORE_FIRST_START;
    m2msec_store ss = mem_store_of(&ms), sr = mem_store_of(&mr);
    unsigned char genuine[RECBUF];
    uint64_t c0, got, verdicts[M2MSEC_SESSION_STATUS_COUNT] = {0};
    const uint64_t burst = 4, rate = 1, n = 3000;
    char name[64];
    m2msec_session *snd, *rcv;
    size_t rl = 0;
    double t0, secs, bound;

    m2msec_session_set_candidate_limit(1000000,
                                       1000000); /* the session's bucket is what is measured */
    pol.candidate_rate = rate;
    pol.candidate_burst = burst;
    st_unique_name(name, sizeof(name), "attack-random");
    snd = st_session(M2MSEC_SESSION_SENDER, name, NULL, &ss);
    rcv = st_session(M2MSEC_SESSION_RECEIVER, name, &pol, &sr);
    CU_ASSERT_PTR_NOT_NULL_FATAL(snd);
    CU_ASSERT_PTR_NOT_NULL_FATAL(rcv);
    st_fill_plain(pt, LEN);
    CU_ASSERT_FATAL(t_seal(snd, pt, LEN, genuine, sizeof(genuine), &rl) == M2MSEC_SESSION_OK);
    CU_ASSERT_FATAL(open1(rcv, genuine, rl) == M2MSEC_SESSION_OK);
    c0 = candidates(rcv);
    CHECK(c0 == 1, "the first record's epoch: %" PRIu64 " candidate derivations, want 1", c0);
    t0 = mono();
    for (uint64_t i = 0; i < n; i++) {
        m2msec_session_status st;

        switch (i % 3) {
        case 0: /* any 32-bit epoch */
            forge(rec, st_rand() & 0xFFFFFFFFu, st_rand() & 0xFFFFFFFFFFFFu);
            break;
        case 1: /* inside the jump limit, next epoch included */
            forge(rec, st_range(1, 1 + 4096), st_rand() & 0xFFFFFFFFFFFFu);
            break;
        default: /* a replay of the genuine record, or a bit flipped in its tag */
            memcpy(rec, genuine, rl);
            if (i % 2)
                rec[rl - 1] ^= 0x01;
        }
        st = open1(rcv, rec, rl);
        CU_ASSERT_FATAL((unsigned)st < M2MSEC_SESSION_STATUS_COUNT);
        verdicts[st]++;
    }
    secs = mono() - t0;
    got = candidates(rcv) - c0;
    /* next epoch: once per grace period (30 s); further ahead: burst + rate per second */
    bound = 1 + secs / 30 + (double)burst + (double)rate * secs + 1;
    CHECK((double)got <= bound,
          "%" PRIu64 " forged records caused %" PRIu64
          " candidate derivations in %.2f s, bound %.1f",
          n, got, secs, bound);
    CHECK(verdicts[M2MSEC_SESSION_OK] == 0, "%" PRIu64 " forged records accepted",
          verdicts[M2MSEC_SESSION_OK]);
    CHECK(verdicts[M2MSEC_SESSION_ERR_RATE_LIMIT] > 0 &&
              verdicts[M2MSEC_SESSION_ERR_EPOCH_AHEAD] > 0 &&
              verdicts[M2MSEC_SESSION_ERR_REPLAY] > 0 && verdicts[M2MSEC_SESSION_ERR_AUTH] > 0,
          "verdicts: rate limit %" PRIu64 ", too far ahead %" PRIu64 ", replay %" PRIu64
          ", auth %" PRIu64,
          verdicts[M2MSEC_SESSION_ERR_RATE_LIMIT], verdicts[M2MSEC_SESSION_ERR_EPOCH_AHEAD],
          verdicts[M2MSEC_SESSION_ERR_REPLAY], verdicts[M2MSEC_SESSION_ERR_AUTH]);
    CHECK(rejected(rcv, M2MSEC_SESSION_ERR_RATE_LIMIT) == verdicts[M2MSEC_SESSION_ERR_RATE_LIMIT],
          "stats.rejected[rate limit] %" PRIu64 ", returned %" PRIu64,
          rejected(rcv, M2MSEC_SESSION_ERR_RATE_LIMIT), verdicts[M2MSEC_SESSION_ERR_RATE_LIMIT]);
    printf("\n    %" PRIu64 " forged records in %.2f s: %" PRIu64 " derivations (bound %.1f); "
           "rate limit %" PRIu64 ", too far %" PRIu64 ", auth %" PRIu64 ", replay %" PRIu64 " ",
           n, secs, got, bound, verdicts[M2MSEC_SESSION_ERR_RATE_LIMIT],
           verdicts[M2MSEC_SESSION_ERR_EPOCH_AHEAD], verdicts[M2MSEC_SESSION_ERR_AUTH],
           verdicts[M2MSEC_SESSION_ERR_REPLAY]);
    /* The genuine stream goes on. */
    CU_ASSERT_FATAL(t_seal(snd, pt, LEN, rec, sizeof(rec), &rl) == M2MSEC_SESSION_OK);
    CHECK(open1(rcv, rec, rl) == M2MSEC_SESSION_OK, "genuine record after the attack");
    m2msec_session_free(snd);
    m2msec_session_free(rcv);
    ERR_clear_error();
}

/*
 * 2. With both buckets empty, further-ahead epochs are refused without a
 * derivation, and the genuine next epoch is accepted all the same.
 */
static void test_next_epoch_with_empty_buckets(void)
{
    m2msec_session_policy spol = {0}, rpol = {0};
    mem_store ms = MEM_STORE_FIRST_START, mr = MEM_STORE_FIRST_START;
    mem_store ms2 = MEM_STORE_FIRST_START, mr2 = MEM_STORE_FIRST_START;
    m2msec_store ss = mem_store_of(&ms), sr = mem_store_of(&mr);
    m2msec_store ss2 = mem_store_of(&ms2), sr2 = mem_store_of(&mr2);
    char name[64], name2[64];
    m2msec_session *snd, *rcv, *snd2, *rcv2;
    uint64_t c, e = 1, next_ok = 0;
    size_t rl = 0;
    int limited = 0;

    spol.max_records = 10; /* the sender re-keys every 7 or 8 records */
    rpol.candidate_rate = 1;
    rpol.candidate_burst = 2;
    st_unique_name(name, sizeof(name), "attack-next");
    st_unique_name(name2, sizeof(name2), "attack-other");
    snd = st_session(M2MSEC_SESSION_SENDER, name, &spol, &ss);
    rcv = st_session(M2MSEC_SESSION_RECEIVER, name, &rpol, &sr);
    snd2 = st_session(M2MSEC_SESSION_SENDER, name2, NULL, &ss2);
    rcv2 = st_session(M2MSEC_SESSION_RECEIVER, name2, NULL, &sr2);
    CU_ASSERT_PTR_NOT_NULL_FATAL(snd);
    CU_ASSERT_PTR_NOT_NULL_FATAL(rcv);
    CU_ASSERT_PTR_NOT_NULL_FATAL(snd2);
    CU_ASSERT_PTR_NOT_NULL_FATAL(rcv2);
    st_fill_plain(pt, LEN);
    CU_ASSERT_FATAL(t_seal(snd, pt, LEN, rec, sizeof(rec), &rl) == M2MSEC_SESSION_OK);
    CU_ASSERT_FATAL(open1(rcv, rec, rl) == M2MSEC_SESSION_OK);
    CU_ASSERT_FATAL(t_seal(snd2, pt, LEN, rec, sizeof(rec), &rl) == M2MSEC_SESSION_OK);
    CU_ASSERT_FATAL(open1(rcv2, rec, rl) == M2MSEC_SESSION_OK);

    /* The session's bucket: burst 2, then refused. */
    m2msec_session_set_candidate_limit(1000000, 1000000);
    for (int i = 0; i < 10; i++) {
        forge(rec, 10 + (uint64_t)i, 0);
        limited += open1(rcv, rec, RL) == M2MSEC_SESSION_ERR_RATE_LIMIT;
    }
    CHECK(limited >= 7, "session bucket (burst 2): %d of 10 further-ahead forgeries refused",
          limited);
    /* The process's bucket (1 token, 1 per second), emptied through the other session. */
    m2msec_session_set_candidate_limit(1, 1);
    forge(rec, 20, 0);
    CHECK(open1(rcv2, rec, RL) == M2MSEC_SESSION_ERR_AUTH, "the process bucket's one token");
    forge(rec, 21, 0);
    CHECK(open1(rcv2, rec, RL) == M2MSEC_SESSION_ERR_RATE_LIMIT, "process bucket empty");

    /* Forged records of the next epoch: one derivation, cached, never refused for budget. */
    c = candidates(rcv);
    for (int i = 0; i < 50; i++) {
        m2msec_session_status st;

        forge(rec, 2, st_rand() & 0xFFFF);
        st = open1(rcv, rec, RL);
        CHECK(st == M2MSEC_SESSION_ERR_AUTH, "forged next epoch %d: %s", i,
              m2msec_session_status_text(st));
        forge(rec, 30 + (uint64_t)i, 0); /* further ahead: refused, no derivation */
        st = open1(rcv, rec, RL);
        CHECK(st == M2MSEC_SESSION_ERR_RATE_LIMIT, "further ahead with empty buckets: %s",
              m2msec_session_status_text(st));
    }
    CHECK(candidates(rcv) - c == 1, "100 forgeries with empty buckets: %" PRIu64 " derivations",
          candidates(rcv) - c);

    /* The genuine stream through three epoch changes, buckets still empty. */
    for (int i = 0; i < 30; i++) {
        m2msec_session_status st;

        CU_ASSERT_FATAL(t_seal(snd, pt, LEN, rec, sizeof(rec), &rl) == M2MSEC_SESSION_OK);
        if (st_header(rec).epoch != e) {
            CHECK(st_header(rec).epoch == e + 1, "sender epoch %" PRIu64 " after %" PRIu64,
                  st_header(rec).epoch, e);
            e = st_header(rec).epoch;
            forge(out, e + 5, 0); /* the buckets are still empty */
            CHECK(open1(rcv, out, RL) == M2MSEC_SESSION_ERR_RATE_LIMIT,
                  "buckets empty before epoch %" PRIu64, e);
            st = open1(rcv, rec, rl);
            CHECK(st == M2MSEC_SESSION_OK, "first record of the next epoch %" PRIu64 ": %s", e,
                  m2msec_session_status_text(st));
            next_ok += st == M2MSEC_SESSION_OK;
            continue;
        }
        st = open1(rcv, rec, rl);
        CHECK(st == M2MSEC_SESSION_OK, "genuine record %d: %s", i, m2msec_session_status_text(st));
    }
    CHECK(next_ok >= 3, "%" PRIu64 " epoch changes accepted with empty buckets", next_ok);
    m2msec_session_set_candidate_limit(256, 256);
    m2msec_session_free(snd);
    m2msec_session_free(rcv);
    m2msec_session_free(snd2);
    m2msec_session_free(rcv2);
    ERR_clear_error();
}

/*
 * 3. After a restart, before any record: the stored epoch and the one after
 * it are both "next". Forgeries alternating between them cost one
 * derivation each, not one per record; the stored epoch's candidate is then
 * kept as the previous epoch when the newer one is accepted.
 */
static void test_restart_alternating(void)
{
    m2msec_session_policy spol = {0};
    mem_store ms = {.have = 1, .st = {2, 0}}, mr = {.have = 1, .st = {3, 5}};
    m2msec_store ss = mem_store_of(&ms), sr = mem_store_of(&mr);
    unsigned char recs[16][RECBUF];
    size_t lens[16];
    char name[64];
    m2msec_session *snd, *rcv;
    int first4 = -1;
    uint64_t c;
    m2msec_session_status st;

    m2msec_session_set_candidate_limit(1, 1);
    spol.max_records = 10;
    st_unique_name(name, sizeof(name), "attack-restart");
    snd = st_session(M2MSEC_SESSION_SENDER, name, &spol, &ss); /* starts at epoch 3 */
    rcv = st_session(M2MSEC_SESSION_RECEIVER, name, NULL, &sr);
    CU_ASSERT_PTR_NOT_NULL_FATAL(snd);
    CU_ASSERT_PTR_NOT_NULL_FATAL(rcv);
    st_fill_plain(pt, LEN);
    for (int i = 0; i < 16; i++) {
        CU_ASSERT_FATAL(t_seal(snd, pt, LEN, recs[i], sizeof(recs[i]), &lens[i]) ==
                        M2MSEC_SESSION_OK);
        if (first4 < 0 && st_header(recs[i]).epoch == 4)
            first4 = i;
    }
    CU_ASSERT_FATAL(st_header(recs[0]).epoch == 3 && first4 > 6);
    c = candidates(rcv);
    for (int i = 0; i < 200; i++) {
        forge(rec, 3 + (uint64_t)(i & 1), 100 + (uint64_t)i);
        st = open1(rcv, rec, RL);
        CHECK(st == M2MSEC_SESSION_ERR_AUTH, "forgery %d of epoch %d: %s", i, 3 + (i & 1),
              m2msec_session_status_text(st));
    }
    CHECK(candidates(rcv) - c == 2,
          "200 forgeries alternating epochs 3 and 4: %" PRIu64 " derivations, want 2",
          candidates(rcv) - c);
    st = open1(rcv, recs[first4], lens[first4]);
    CHECK(st == M2MSEC_SESSION_OK, "first record of epoch 4: %s", m2msec_session_status_text(st));
    st = open1(rcv, recs[6], lens[6]);
    CHECK(st == M2MSEC_SESSION_OK, "late record of the stored epoch 3 (seq 6, floor 5): %s",
          m2msec_session_status_text(st));
    st = open1(rcv, recs[2], lens[2]);
    CHECK(st == M2MSEC_SESSION_ERR_TOO_OLD, "epoch 3 below the stored floor: %s",
          m2msec_session_status_text(st));
    CHECK(candidates(rcv) - c == 2, "accepting used the cached candidates: %" PRIu64,
          candidates(rcv) - c);
    m2msec_session_set_candidate_limit(256, 256);
    m2msec_session_free(snd);
    m2msec_session_free(rcv);
    ERR_clear_error();
}

int main(void)
{
    static const tc_test tests[] = {
        {"1 forged records with random epochs: derivations within the bound",
         test_forged_random_epochs},
        {"2 the genuine next epoch is accepted while the buckets are empty",
         test_next_epoch_with_empty_buckets},
        {"3 after a restart: forgeries alternating the stored and the next epoch",
         test_restart_alternating},
    };

    return st_run("test_session_attack", "session attack", tests, sizeof(tests) / sizeof(tests[0]));
}
