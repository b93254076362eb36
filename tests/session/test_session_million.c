/* SPDX-License-Identifier: Apache-2.0 */
/*
 * 10^6 records through one sender session and one receiver session, with
 * max_records 200000 so that the sender re-keys by itself several times
 * (at 140000..160000 records per epoch). The (epoch, seq) pairs must be
 * strictly increasing (so none repeats), every record must be opened with
 * its plaintext, and both ends must agree on the final epoch.
 */
#include "session_test.h"
#include "session_call.h"

#define TOTAL 1000000u
#define PTLEN 16

static void test_million(void)
{
    m2msec_session_policy pol = {0};
    mem_store ms = MEM_STORE_FIRST_START, mr = MEM_STORE_FIRST_START;
    m2msec_store ss = mem_store_of(&ms), sr = mem_store_of(&mr);
    char name[64];
    m2msec_session *snd, *rcv;
    m2msec_session_stats sst, rst;
    unsigned char pt[PTLEN], rec[PTLEN + ST_OVERHEAD], out[PTLEN];
    uint64_t prev_e = 0, prev_s = 0, epochs = 1, in_epoch = 0, max_in_epoch = 0;
    size_t seal_bad = 0, order_bad = 0, open_bad = 0, data_bad = 0, rl, olen;
    time_t t0 = time(NULL);

    pol.max_records = 200000;
    st_unique_name(name, sizeof(name), "million");
    snd = st_session(M2MSEC_SESSION_SENDER, name, &pol, &ss);
    rcv = st_session(M2MSEC_SESSION_RECEIVER, name, &pol, &sr);
    CU_ASSERT_PTR_NOT_NULL_FATAL(snd);
    CU_ASSERT_PTR_NOT_NULL_FATAL(rcv);
    for (uint32_t i = 0; i < TOTAL; i++) {
        st_hdr h;
        m2msec_session_status st;

        /* A counter and a random tail: each plaintext is distinct. */
        st_put_u(pt, i, 4);
        st_put_u(pt + 4, st_rand(), 8);
        st_put_u(pt + 12, i ^ 0xA5A5A5A5u, 4);
        st = t_seal(snd, pt, PTLEN, rec, sizeof(rec), &rl);
        if (st != M2MSEC_SESSION_OK || rl != sizeof(rec)) {
            if (seal_bad++ < 3)
                CHECK(0, "seal %" PRIu32 ": %s", i, m2msec_session_status_text(st));
            continue;
        }
        h = st_header(rec);
        if (i > 0) {
            int newer = h.epoch > prev_e || (h.epoch == prev_e && h.seq > prev_s);
            int next =
                (h.epoch == prev_e && h.seq == prev_s + 1) || (h.epoch == prev_e + 1 && h.seq == 0);

            if ((!newer || !next) && order_bad++ < 3)
                CHECK(0,
                      "record %" PRIu32 " is e%" PRIu64 " s%" PRIu64 " after e%" PRIu64
                      " s%" PRIu64,
                      i, h.epoch, h.seq, prev_e, prev_s);
            if (h.epoch != prev_e) {
                epochs++;
                in_epoch = 0;
            }
        }
        in_epoch++;
        if (in_epoch > max_in_epoch)
            max_in_epoch = in_epoch;
        prev_e = h.epoch;
        prev_s = h.seq;
        st = t_open(rcv, rec, rl, out, sizeof(out), &olen);
        if (st != M2MSEC_SESSION_OK) {
            if (open_bad++ < 3)
                CHECK(0, "open %" PRIu32 " (e%" PRIu64 " s%" PRIu64 "): %s", i, h.epoch, h.seq,
                      m2msec_session_status_text(st));
            continue;
        }
        if (olen != PTLEN || memcmp(out, pt, PTLEN) != 0)
            data_bad++;
    }
    CHECK(seal_bad == 0, "%zu seals failed", seal_bad);
    CHECK(order_bad == 0, "%zu records out of order (repeated or skipped (epoch, seq))", order_bad);
    CHECK(open_bad == 0, "%zu records refused", open_bad);
    CHECK(data_bad == 0, "%zu plaintexts differ", data_bad);
    CHECK(epochs >= 7 && epochs <= 8, "%" PRIu64 " epochs (want 7 or 8 at 140000..160000 each)",
          epochs);
    CHECK(max_in_epoch <= 160000, "an epoch carried %" PRIu64 " records (limit 80 %% of 200000)",
          max_in_epoch);
    m2msec_session_get_stats(snd, &sst);
    m2msec_session_get_stats(rcv, &rst);
    CHECK(sst.records == TOTAL && rst.records == TOTAL,
          "records: sender %" PRIu64 ", receiver %" PRIu64, sst.records, rst.records);
    CHECK(sst.rekeys == epochs - 1 && rst.rekeys == epochs - 1,
          "rekeys: sender %" PRIu64 ", receiver %" PRIu64 " (epochs %" PRIu64 ")", sst.rekeys,
          rst.rekeys, epochs);
    CHECK(sst.epoch == prev_e && rst.epoch == prev_e,
          "epoch: sender %" PRIu64 ", receiver %" PRIu64 ", last record %" PRIu64, sst.epoch,
          rst.epoch, prev_e);
    CHECK(ms.saves == epochs, "sender saved %lu times for %" PRIu64 " epochs", ms.saves, epochs);
    CHECK(mr.have && mr.st.epoch == prev_e && mr.st.seq_floor > prev_s,
          "receiver state: e%" PRIu64 " floor %" PRIu64 " (last s%" PRIu64 ")", mr.st.epoch,
          mr.st.seq_floor, prev_s);
    /* Replay of the last record is refused after all this. */
    CHECK(t_open(rcv, rec, rl, out, sizeof(out), &olen) == M2MSEC_SESSION_ERR_REPLAY,
          "replay of the last record");
    printf("\n    %u records, %" PRIu64 " epochs, %lu receiver state saves, %ld s ", TOTAL, epochs,
           mr.saves, (long)(time(NULL) - t0));
    m2msec_session_free(snd);
    m2msec_session_free(rcv);
}

int main(void)
{
    static const tc_test tests[] = {
        {"7 one million records, several re-keys, no repeated (epoch, seq)", test_million},
    };

    return st_run("test_session_million", "session million", tests,
                  sizeof(tests) / sizeof(tests[0]));
}
