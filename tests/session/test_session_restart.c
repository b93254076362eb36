/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Restarts of session endpoints with the file store, in separate processes:
 *
 *  - sender crash: a child sender seals records into a pipe and is killed
 *    with SIGKILL at a random point (or _exit()s without freeing); the next
 *    life starts from the same state file. Over every record of every life
 *    no (epoch, seq) pair and no (key, nonce) pair repeats; the keys and
 *    nonces are computed independently (M2M-SESSION-KDF called here with the
 *    documented parameters, static IV XOR seq) and checked against the
 *    records with OpenSSL's own AES-GCM. A receiver accepts every record.
 *  - receiver restart: after a clean shutdown every old record is refused
 *    and nothing is lost; after SIGKILL every record the dead receiver may
 *    have accepted is refused, at most one floor step of the current epoch
 *    is lost, and a new sender epoch is accepted.
 *
 * Children never call exit() (no atexit handlers, no leak report of
 * sessions that a crash leaves behind): they end with _exit() or SIGKILL.
 */
#include <errno.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "session_test.h"
#include "session_call.h"
#include "test_files.h"

#define MAXREC 256 /* plaintexts up to 200 bytes */

static char tmpdir[256];

static int make_tmpdir(void)
{
    return make_temp_dir(tmpdir, sizeof(tmpdir), "restart");
}

static int read_full(int fd, void *buf, size_t n)
{
    unsigned char *p = buf;

    while (n > 0) {
        ssize_t k = read(fd, p, n);

        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return 0;
        p += k;
        n -= (size_t)k;
    }
    return 1;
}

static int write_full(int fd, const void *buf, size_t n)
{
    const unsigned char *p = buf;

    while (n > 0) {
        ssize_t k = write(fd, p, n);

        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return 0;
        p += k;
        n -= (size_t)k;
    }
    return 1;
}

/* A record as collected from any life. */
typedef struct {
    unsigned char b[MAXREC + ST_OVERHEAD];
    size_t len;
    uint64_t epoch, seq;
    int life;
} record;

typedef struct {
    record *r;
    size_t n, cap;
} records;

static record *records_add(records *rs)
{
    if (rs->n == rs->cap) {
        size_t ncap = rs->cap == 0 ? 256 : rs->cap * 2;
        record *nr = OPENSSL_realloc(rs->r, ncap * sizeof(*nr));

        if (nr == NULL)
            return NULL;
        rs->r = nr;
        rs->cap = ncap;
    }
    return &rs->r[rs->n++];
}

/* Read length-prefixed records until EOF (a partial last record is dropped). */
static size_t collect(int fd, records *rs, int life, size_t max)
{
    size_t got = 0;

    while (got < max) {
        uint32_t len;
        record *x;

        if (!read_full(fd, &len, sizeof(len)) || len > sizeof(x->b) || len < ST_OVERHEAD)
            break;
        if ((x = records_add(rs)) == NULL)
            break;
        if (!read_full(fd, x->b, len)) {
            rs->n--;
            break;
        }
        x->len = len;
        x->epoch = st_header(x->b).epoch;
        x->seq = st_header(x->b).seq;
        x->life = life;
        got++;
    }
    return got;
}

/*
 * Child: a sender on the file store that seals up to `limit` records of
 * random size into fd, then _exit()s without freeing anything.
 */
static void sender_child(int fd, const char *name, const char *path, uint64_t seed, size_t limit)
{
    m2msec_session_policy pol = {0};
    m2msec_store fs;
    m2msec_session *s;
    unsigned char pt[MAXREC], rec[MAXREC + ST_OVERHEAD];
    uint64_t x = seed;

    pol.max_records = 50;
    t_store_file(&fs, path);
    s = st_session(M2MSEC_SESSION_SENDER, name, &pol, &fs);
    if (s == NULL)
        _exit(3);
    for (size_t i = 0; i < limit; i++) {
        size_t n = (size_t)(st_splitmix64(&x) % 200), rl = 0;
        uint32_t len;

        for (size_t k = 0; k < n; k++)
            pt[k] = (unsigned char)st_splitmix64(&x);
        if (t_seal(s, pt, n, rec, sizeof(rec), &rl) != M2MSEC_SESSION_OK)
            _exit(4);
        len = (uint32_t)rl;
        if (!write_full(fd, &len, sizeof(len)) || !write_full(fd, rec, rl))
            _exit(5);
    }
    _exit(0); /* no m2msec_session_free: the state is what a crash leaves */
}

/* One life of the sender in a child process. kill_after 0: let it _exit() by itself. */
static void sender_life(records *rs, int life, const char *name, const char *path,
                        size_t kill_after, size_t limit)
{
    int fds[2], status = 0;
    pid_t pid;
    size_t got;

    CU_ASSERT_FATAL(pipe(fds) == 0);
    fflush(NULL);
    pid = fork();
    CU_ASSERT_FATAL(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        sender_child(fds[1], name, path, st_rand(), limit);
    }
    close(fds[1]);
    if (kill_after > 0) {
        got = collect(fds[0], rs, life, kill_after);
        CHECK(got == kill_after, "life %d: %zu of %zu records before the kill", life, got,
              kill_after);
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "life %d: killed (status %d)",
              life, status);
        /* Records already in the pipe were sent: they count. */
        got += collect(fds[0], rs, life, SIZE_MAX);
    } else {
        got = collect(fds[0], rs, life, SIZE_MAX);
        waitpid(pid, &status, 0);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "life %d: exit status %d", life,
              status);
        CHECK(got == limit, "life %d: %zu of %zu records", life, got, limit);
    }
    close(fds[0]);
    printf("\n    life %d: %zu records%s ", life, got, kill_after > 0 ? " (SIGKILL)" : "");
}

static int cmp_key_nonce(const void *a, const void *b)
{
    return memcmp(a, b, 28 + ST_MAXKEY);
}

static int cmp_pair(const void *a, const void *b)
{
    const uint64_t *x = a, *y = b;

    if (x[0] != y[0])
        return x[0] < y[0] ? -1 : 1;
    return x[1] < y[1] ? -1 : x[1] > y[1];
}

static void test_sender_crash(void)
{
    const st_alg *alg = &st_algs[0]; /* the default cipher, AES-128-GCM */
    char path[512], name[64];
    records rs = {0};
    int lives = 0;
    size_t bad;

    CU_ASSERT_FATAL(make_tmpdir());
    snprintf(path, sizeof(path), "%s/sender.state", tmpdir);
    st_unique_name(name, sizeof(name), "crash");
    {
        m2msec_store fs;

        t_store_file(&fs, path);
        CU_ASSERT_FATAL(m2msec_store_init(&fs)); /* the first start */
    }

    /* Four lives in children: SIGKILL at random points and one _exit(). */
    sender_life(&rs, lives++, name, path, (size_t)st_range(1, 300), 100000);
    sender_life(&rs, lives++, name, path, (size_t)st_range(1, 60), 100000);
    sender_life(&rs, lives++, name, path, 0, (size_t)st_range(1, 120));
    sender_life(&rs, lives++, name, path, (size_t)st_range(1, 10), 100000);
    /* The last life in this process, ended cleanly. */
    {
        m2msec_session_policy pol = {0};
        m2msec_store fs;
        m2msec_session *s;
        unsigned char pt[MAXREC];

        pol.max_records = 50;
        t_store_file(&fs, path);
        s = st_session(M2MSEC_SESSION_SENDER, name, &pol, &fs);
        CU_ASSERT_PTR_NOT_NULL_FATAL(s);
        for (int i = 0; i < 200; i++) {
            record *x = records_add(&rs);
            size_t n = (size_t)st_range(0, 199);

            CU_ASSERT_PTR_NOT_NULL_FATAL(x);
            st_fill_plain(pt, n);
            CHECK(t_seal(s, pt, n, x->b, sizeof(x->b), &x->len) == M2MSEC_SESSION_OK, "seal");
            x->epoch = st_header(x->b).epoch;
            x->seq = st_header(x->b).seq;
            x->life = lives;
        }
        m2msec_session_free(s);
        lives++;
    }

    /* Every life starts above every epoch of the lives before it. */
    for (size_t i = 1; i < rs.n; i++)
        if (rs.r[i].life != rs.r[i - 1].life)
            CHECK(rs.r[i].epoch > rs.r[i - 1].epoch && rs.r[i].seq == 0,
                  "life %d starts at e%" PRIu64 " s%" PRIu64 " after e%" PRIu64, rs.r[i].life,
                  rs.r[i].epoch, rs.r[i].seq, rs.r[i - 1].epoch);

    /* No (epoch, seq) twice. */
    {
        uint64_t *pairs = OPENSSL_malloc(rs.n * 2 * sizeof(uint64_t));

        CU_ASSERT_PTR_NOT_NULL_FATAL(pairs);
        for (size_t i = 0; i < rs.n; i++) {
            pairs[2 * i] = rs.r[i].epoch;
            pairs[2 * i + 1] = rs.r[i].seq;
        }
        qsort(pairs, rs.n, 2 * sizeof(uint64_t), cmp_pair);
        bad = 0;
        for (size_t i = 1; i < rs.n; i++)
            bad += pairs[2 * i] == pairs[2 * i - 2] && pairs[2 * i + 1] == pairs[2 * i - 1];
        CHECK(bad == 0, "%zu repeated (epoch, seq) pairs in %zu records", bad, rs.n);
        OPENSSL_free(pairs);
    }

    /*
     * No (key, nonce) twice. The key material of each epoch comes from
     * M2M-SESSION-KDF called here with the documented parameters; the nonce
     * is static IV XOR seq; OpenSSL's own AES-128-GCM must open the record
     * with them (so they are the ones really used).
     */
    {
        unsigned char(*kn)[28 + ST_MAXKEY] = OPENSSL_zalloc(rs.n * sizeof(*kn));
        unsigned char km[ST_MAXKEY + ST_IVLEN], pt[MAXREC];
        uint64_t km_epoch = UINT64_MAX;
        size_t opened = 0;

        CU_ASSERT_PTR_NOT_NULL_FATAL(kn);
        bad = 0;
        for (size_t i = 0; i < rs.n; i++) {
            const record *x = &rs.r[i];

            if (x->epoch != km_epoch) {
                CU_ASSERT_FATAL(
                    st_m2m_epoch_km(alg, name, "MN-CSE-session-test", x->epoch, 3600, km));
                km_epoch = x->epoch;
            }
            memcpy(kn[i], km, alg->keylen);
            st_nonce(km + alg->keylen, x->seq, kn[i] + ST_MAXKEY);
            if (st_plain_open(alg, km, x->b, x->len, pt))
                opened++;
        }
        CHECK(opened == rs.n, "the computed key and nonce open %zu of %zu records", opened, rs.n);
        qsort(kn, rs.n, sizeof(*kn), cmp_key_nonce);
        for (size_t i = 1; i < rs.n; i++)
            bad += memcmp(kn[i], kn[i - 1], sizeof(*kn)) == 0;
        CHECK(bad == 0, "%zu repeated (key, nonce) pairs in %zu records", bad, rs.n);
        OPENSSL_clear_free(kn, rs.n * sizeof(*kn));
        OPENSSL_cleanse(km, sizeof(km));
    }

    /* A receiver accepts every record of every life, each once. */
    {
        m2msec_session_policy pol = {0};
        mem_store mr = MEM_STORE_FIRST_START;
        m2msec_store sr = mem_store_of(&mr);
        m2msec_session *rcv;
        unsigned char out[MAXREC];
        size_t olen;

        pol.max_records = 50;
        rcv = st_session(M2MSEC_SESSION_RECEIVER, name, &pol, &sr);
        CU_ASSERT_PTR_NOT_NULL_FATAL(rcv);
        bad = 0;
        for (size_t i = 0; i < rs.n; i++) {
            m2msec_session_status s = t_open(rcv, rs.r[i].b, rs.r[i].len, out, sizeof(out), &olen);

            if (s != M2MSEC_SESSION_OK && bad++ < 5)
                CHECK(0, "record %zu (life %d, e%" PRIu64 " s%" PRIu64 "): %s", i, rs.r[i].life,
                      rs.r[i].epoch, rs.r[i].seq, m2msec_session_status_text(s));
        }
        CHECK(bad == 0, "receiver refused %zu of %zu records", bad, rs.n);
        bad = 0;
        for (size_t i = 0; i < rs.n; i++)
            bad +=
                t_open(rcv, rs.r[i].b, rs.r[i].len, out, sizeof(out), &olen) == M2MSEC_SESSION_OK;
        CHECK(bad == 0, "receiver accepted %zu replays", bad);
        m2msec_session_free(rcv);
    }
    printf("\n    %d lives, %zu records, last epoch %" PRIu64 " ", lives, rs.n,
           rs.r[rs.n - 1].epoch);
    OPENSSL_free(rs.r);
    remove_tree(tmpdir);
    ERR_clear_error();
}

/* ======================================================================== */
/* 5. Receiver restart                                                      */
/* ======================================================================== */

typedef struct {
    unsigned char b[64];
    size_t len;
    uint64_t epoch, seq;
} small_rec;

static void seal_small(m2msec_session *s, small_rec *r, size_t n)
{
    unsigned char pt[16];
    size_t bad = 0;

    for (size_t i = 0; i < n; i++) {
        st_fill_plain(pt, sizeof(pt));
        if (t_seal(s, pt, sizeof(pt), r[i].b, sizeof(r[i].b), &r[i].len) != M2MSEC_SESSION_OK)
            bad++;
        r[i].epoch = st_header(r[i].b).epoch;
        r[i].seq = st_header(r[i].b).seq;
    }
    CHECK(bad == 0, "%zu seals failed", bad);
}

static m2msec_session_status open_small(m2msec_session *s, const small_rec *r)
{
    unsigned char out[64];
    size_t olen;

    return t_open(s, r->b, r->len, out, sizeof(out), &olen);
}

static size_t read_floor(const char *path, uint64_t *epoch)
{
    FILE *f = fopen(path, "r");
    unsigned long long e = 0, fl = 0;
    int n;

    if (f == NULL)
        return 0;
    n = fscanf(f, "m2msec-state 1\nepoch %llu\nseq-floor %llu\n", &e, &fl);
    fclose(f);
    *epoch = e;
    return n == 2 ? (size_t)fl : 0;
}

static void test_receiver_clean_restart(void)
{
    enum { N1 = 100, N2 = 50, N3 = 30 };
    char path[512], name[64];
    m2msec_store fs;
    mem_store ms = MEM_STORE_FIRST_START;
    m2msec_store ss = mem_store_of(&ms);
    m2msec_session *snd, *rcv;
    m2msec_session_stats st;
    static small_rec a[N1], b[N2], c[N3], d[N3];
    size_t bad = 0, fl;
    uint64_t e = 0;

    CU_ASSERT_FATAL(make_tmpdir());
    snprintf(path, sizeof(path), "%s/receiver.state", tmpdir);
    t_store_file(&fs, path);
    CU_ASSERT_FATAL(m2msec_store_init(&fs));
    st_unique_name(name, sizeof(name), "rclean");
    snd = st_session(M2MSEC_SESSION_SENDER, name, NULL, &ss);
    CU_ASSERT_PTR_NOT_NULL_FATAL(snd);

    /* Life 1: accept N1 records, shut down cleanly. */
    seal_small(snd, a, N1);
    rcv = st_session(M2MSEC_SESSION_RECEIVER, name, NULL, &fs);
    CU_ASSERT_PTR_NOT_NULL_FATAL(rcv);
    for (size_t i = 0; i < N1; i++)
        bad += open_small(rcv, &a[i]) != M2MSEC_SESSION_OK;
    CHECK(bad == 0, "life 1 refused %zu records", bad);
    m2msec_session_free(rcv);
    fl = read_floor(path, &e);
    CHECK(fl == N1 && e == 1, "clean shutdown saved floor %zu, epoch %" PRIu64, fl, e);

    /* Life 2: every old record refused, the next ones accepted: nothing lost. */
    rcv = st_session(M2MSEC_SESSION_RECEIVER, name, NULL, &fs);
    CU_ASSERT_PTR_NOT_NULL_FATAL(rcv);
    bad = 0;
    for (size_t i = 0; i < N1; i++) {
        m2msec_session_status s = open_small(rcv, &a[i]);

        if (s != M2MSEC_SESSION_ERR_TOO_OLD && bad++ < 3)
            CHECK(0, "old record seq %" PRIu64 " after a clean restart: %s", a[i].seq,
                  m2msec_session_status_text(s));
    }
    CHECK(bad == 0, "%zu old records not refused", bad);
    seal_small(snd, b, N2);
    bad = 0;
    for (size_t i = 0; i < N2; i++)
        bad += open_small(rcv, &b[i]) != M2MSEC_SESSION_OK;
    CHECK(bad == 0, "life 2 refused %zu new records (first seq %" PRIu64 ")", bad, b[0].seq);
    m2msec_session_get_stats(rcv, &st);
    CHECK(st.rejected[M2MSEC_SESSION_ERR_TOO_OLD] == N1 && st.records == N2 && st.epoch == 1,
          "life 2 stats: too old %" PRIu64 ", records %" PRIu64 ", epoch %" PRIu64,
          st.rejected[M2MSEC_SESSION_ERR_TOO_OLD], st.records, st.epoch);
    /* Some records of epoch 1 are sealed but held back; then the sender restarts (epoch 2). */
    seal_small(snd, c, N3);
    m2msec_session_free(rcv);
    m2msec_session_free(snd);
    snd = st_session(M2MSEC_SESSION_SENDER, name, NULL, &ss);
    CU_ASSERT_PTR_NOT_NULL_FATAL(snd);
    seal_small(snd, d, N3);
    CHECK(d[0].epoch == 2, "restarted sender uses epoch %" PRIu64, d[0].epoch);

    /*
     * Life 3: epoch 2 first. The restored epoch 1 is kept as previous
     * (grace period, default 30 s): its held-back records, above the floor
     * and never accepted, are accepted once; everything of epoch 0 accepted
     * before the restart stays refused.
     */
    rcv = st_session(M2MSEC_SESSION_RECEIVER, name, NULL, &fs);
    CU_ASSERT_PTR_NOT_NULL_FATAL(rcv);
    bad = 0;
    for (size_t i = 0; i < N3; i++)
        bad += open_small(rcv, &d[i]) != M2MSEC_SESSION_OK;
    CHECK(bad == 0, "life 3 refused %zu records of the new epoch", bad);
    bad = 0;
    for (size_t i = 0; i < N3; i++)
        bad += open_small(rcv, &c[i]) != M2MSEC_SESSION_OK;
    CHECK(bad == 0, "life 3 refused %zu late records of the restored epoch 1 (seq %" PRIu64 "..)",
          bad, c[0].seq);
    bad = 0;
    for (size_t i = 0; i < N3; i++)
        bad += open_small(rcv, &c[i]) != M2MSEC_SESSION_ERR_REPLAY;
    for (size_t i = 0; i < N2; i++)
        bad += open_small(rcv, &b[i]) != M2MSEC_SESSION_ERR_TOO_OLD;
    for (size_t i = 0; i < N1; i++)
        bad += open_small(rcv, &a[i]) != M2MSEC_SESSION_ERR_TOO_OLD;
    CHECK(bad == 0, "%zu records of epoch 1 accepted before not refused", bad);
    m2msec_session_get_stats(rcv, &st);
    CHECK(st.records == 2 * N3 && st.epoch == 2 && st.rekeys == 1 &&
              st.rejected[M2MSEC_SESSION_ERR_REPLAY] == N3 &&
              st.rejected[M2MSEC_SESSION_ERR_TOO_OLD] == N1 + N2,
          "life 3 stats: records %" PRIu64 ", epoch %" PRIu64 ", rekeys %" PRIu64
          ", replays %" PRIu64 ", too old %" PRIu64,
          st.records, st.epoch, st.rekeys, st.rejected[M2MSEC_SESSION_ERR_REPLAY],
          st.rejected[M2MSEC_SESSION_ERR_TOO_OLD]);
    m2msec_session_free(rcv);
    fl = read_floor(path, &e);
    CHECK(fl == N3 && e == 2, "floor %zu of epoch %" PRIu64, fl, e);
    m2msec_session_free(snd);
    remove_tree(tmpdir);
}

/*
 * Child: a receiver on the file store opens the records of `recs` in order
 * and writes one byte to fd after each acceptance. With stop_after > 0 it
 * stops after that many records and waits to be killed.
 */
static void receiver_child(int fd, const char *name, const char *path,
                           const m2msec_session_policy *pol, const small_rec *recs, size_t n,
                           size_t stop_after)
{
    m2msec_store fs;
    m2msec_session *s;

    t_store_file(&fs, path);
    s = st_session(M2MSEC_SESSION_RECEIVER, name, pol, &fs);
    if (s == NULL)
        _exit(3);
    for (size_t i = 0; i < n; i++) {
        char ok = open_small(s, &recs[i]) == M2MSEC_SESSION_OK ? 'y' : 'n';

        if (!write_full(fd, &ok, 1))
            _exit(5);
        if (stop_after > 0 && i + 1 == stop_after)
            for (;;)
                pause();
    }
    for (;;)
        pause(); /* killed while idle: no clean shutdown either */
}

static void receiver_crash_case(int exact, size_t N, uint64_t max_records)
{
    char path[512], name[64];
    mem_store ms = MEM_STORE_FIRST_START;
    m2msec_store ss = mem_store_of(&ms), fs;
    m2msec_session_policy pol = {0};
    m2msec_session *snd, *rcv;
    small_rec *a = OPENSSL_zalloc(N * sizeof(*a)), *d;
    size_t k = (size_t)st_range(1, N - 1), acks = 0, refused = 0, lost = 0, bad = 0;
    int fds[2], status;
    pid_t pid;
    uint64_t e = 0, floor_;
    char ack;

    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    st_unique_name(name, sizeof(name), "rcrash");
    snprintf(path, sizeof(path), "%s/%s.state", tmpdir, name);
    t_store_file(&fs, path);
    CU_ASSERT_FATAL(m2msec_store_init(&fs));
    pol.max_records = max_records;
    pol.seq_floor_step = 16;
    snd = st_session(M2MSEC_SESSION_SENDER, name, &pol, &ss);
    CU_ASSERT_PTR_NOT_NULL_FATAL(snd);
    seal_small(snd, a, N);

    CU_ASSERT_FATAL(pipe(fds) == 0);
    fflush(NULL);
    pid = fork();
    CU_ASSERT_FATAL(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        receiver_child(fds[1], name, path, &pol, a, N, exact ? k : 0);
    }
    close(fds[1]);
    /* Wait for k acceptances, then kill (the child may be past k unless exact). */
    while (acks < k && read_full(fds[0], &ack, 1)) {
        CHECK(ack == 'y', "child refused record %zu", acks);
        acks++;
    }
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    close(fds[0]);
    CHECK(acks == k && WIFSIGNALED(status), "child acknowledged %zu of %zu, status %d", acks, k,
          status);
    floor_ = read_floor(path, &e);
    /* The state covers every acknowledged record. */
    for (size_t i = 0; i < k; i++)
        bad += !(a[i].epoch < e || (a[i].epoch == e && a[i].seq < floor_));
    CHECK(bad == 0, "state e%" PRIu64 " floor %" PRIu64 " does not cover %zu accepted records", e,
          floor_, bad);

    /*
     * Restart and deliver everything again, in order: records of older
     * epochs are stale, records of the stored epoch below the floor are
     * outside the window, the rest is accepted (once). Those refused beyond
     * the k acknowledged ones are lost: at most one floor step (16) when the
     * child was killed idle right after the k-th record.
     */
    rcv = st_session(M2MSEC_SESSION_RECEIVER, name, &pol, &fs);
    CU_ASSERT_PTR_NOT_NULL_FATAL(rcv);
    bad = 0;
    for (size_t i = 0; i < N; i++) {
        m2msec_session_status want = a[i].epoch < e ? M2MSEC_SESSION_ERR_OLD_EPOCH
                                     : a[i].epoch == e && a[i].seq < floor_
                                         ? M2MSEC_SESSION_ERR_TOO_OLD
                                         : M2MSEC_SESSION_OK;
        m2msec_session_status got = open_small(rcv, &a[i]);

        if (got != want && bad++ < 3)
            CHECK(0, "record %zu (e%" PRIu64 " s%" PRIu64 ") after the crash: %s, want %s", i,
                  a[i].epoch, a[i].seq, m2msec_session_status_text(got),
                  m2msec_session_status_text(want));
        if (want != M2MSEC_SESSION_OK)
            refused++;
    }
    CHECK(bad == 0, "%zu records with an unexpected status after the restart", bad);
    CHECK(refused >= k, "only %zu records refused after the crash; %zu were accepted", refused, k);
    lost = refused >= k ? refused - k : 0;
    if (exact)
        CHECK(lost <= 16, "%zu records lost (floor step 16)", lost);
    /* Replays of all of them now: refused. */
    bad = 0;
    for (size_t i = 0; i < N; i++)
        bad += open_small(rcv, &a[i]) == M2MSEC_SESSION_OK;
    CHECK(bad == 0, "%zu replays accepted", bad);

    /* A new sender epoch is accepted; then every older epoch is stale. */
    m2msec_session_free(snd);
    snd = st_session(M2MSEC_SESSION_SENDER, name, &pol, &ss);
    CU_ASSERT_PTR_NOT_NULL_FATAL(snd);
    d = OPENSSL_zalloc(10 * sizeof(*d));
    CU_ASSERT_PTR_NOT_NULL_FATAL(d);
    seal_small(snd, d, 10);
    bad = 0;
    for (size_t i = 0; i < 10; i++)
        bad += open_small(rcv, &d[i]) != M2MSEC_SESSION_OK;
    CHECK(d[0].epoch == a[N - 1].epoch + 1 && bad == 0, "new epoch %" PRIu64 ": %zu refused",
          d[0].epoch, bad);
    bad = 0;
    for (size_t i = 0; i < N; i++)
        bad += open_small(rcv, &a[i]) == M2MSEC_SESSION_OK;
    CHECK(bad == 0, "%zu records of older epochs accepted after the new one", bad);
    m2msec_session_free(rcv);

    /* And once more after this clean shutdown. */
    {
        m2msec_session_status s;

        rcv = st_session(M2MSEC_SESSION_RECEIVER, name, &pol, &fs);
        CU_ASSERT_PTR_NOT_NULL_FATAL(rcv);
        s = open_small(rcv, &a[N - 1]);
        CHECK(s == M2MSEC_SESSION_ERR_OLD_EPOCH, "older epoch after a restart in the new one: %s",
              m2msec_session_status_text(s));
        s = open_small(rcv, &d[9]);
        CHECK(s == M2MSEC_SESSION_ERR_TOO_OLD, "last record of the new epoch after a restart: %s",
              m2msec_session_status_text(s));
        m2msec_session_free(rcv);
    }
    printf("\n    %s kill after %zu of %zu (epochs 0..%" PRIu64 "): state e%" PRIu64
           " floor %" PRIu64 ", %zu lost ",
           exact ? "idle" : "running", k, N, a[N - 1].epoch, e, floor_, lost);
    OPENSSL_free(d);
    OPENSSL_free(a);
    m2msec_session_free(snd);
    ERR_clear_error();
}

static void test_receiver_crash(void)
{
    CU_ASSERT_FATAL(make_tmpdir());
    receiver_crash_case(1, 300, 0);
    receiver_crash_case(1, 40, 0);
    receiver_crash_case(0, 2000, 0);
    receiver_crash_case(1, 400, 50); /* several epochs: 35..40 records each */
    receiver_crash_case(0, 2000, 100);
    remove_tree(tmpdir);
}

/* ======================================================================== */
/* 5. Receiver restart: the restored epoch is kept as previous              */
/* ======================================================================== */

/*
 * The records of one sender over several epochs, and the state a receiver
 * left when it crashed in the middle of epoch E (docs/PROTOCOL.md 6.3, 6.4):
 * it had accepted every record of the epochs before E and records 0..h-1 of
 * E, and its store holds (E, F) with F >= h (the floor is saved ahead of
 * use; records h..F-1 were never accepted but are below the floor).
 */
enum { KP_N = 100, KP_E = 2, KP_H = 5 };

typedef struct {
    small_rec r[KP_N];
    char name[64];
    size_t first[KP_N]; /* index of the first record of epoch e */
    size_t count[KP_N]; /* records of epoch e */
    uint64_t last_epoch;
    m2msec_session_state crash; /* the receiver's state at its crash: (E, F) */
} kp_world;

static kp_world kp;

/* exp[status]++ and check the status of one record. */
static void kp_expect(m2msec_session *rcv, const small_rec *r, m2msec_session_status want,
                      uint64_t *exp, const char *what)
{
    m2msec_session_status got = open_small(rcv, r);

    exp[want]++;
    CHECK(got == want, "%s: record e%" PRIu64 " s%" PRIu64 " is '%s', want '%s'", what, r->epoch,
          r->seq, m2msec_session_status_text(got), m2msec_session_status_text(want));
}

/* The counters of the session match what the test expected, status by status. */
static void kp_check_stats(m2msec_session *rcv, const uint64_t *exp, uint64_t epoch,
                           const char *what)
{
    m2msec_session_stats st;

    m2msec_session_get_stats(rcv, &st);
    CHECK(st.records == exp[M2MSEC_SESSION_OK] && st.epoch == epoch,
          "%s: %" PRIu64 " records accepted in epoch %" PRIu64 ", want %" PRIu64 " in %" PRIu64,
          what, st.records, st.epoch, exp[M2MSEC_SESSION_OK], epoch);
    for (int i = 1; i < M2MSEC_SESSION_STATUS_COUNT; i++)
        CHECK(st.rejected[i] == exp[i], "%s: %" PRIu64 " refused as '%s', want %" PRIu64, what,
              st.rejected[i], m2msec_session_status_text((m2msec_session_status)i), exp[i]);
}

static const small_rec *kp_rec(uint64_t epoch, uint64_t seq)
{
    return seq < kp.count[epoch] ? &kp.r[kp.first[epoch] + seq] : NULL;
}

/* A receiver restarted from the crash state (a fresh copy each time). */
static m2msec_session *kp_receiver(mem_store *mr, m2msec_store *sr, uint64_t grace)
{
    m2msec_session_policy pol = {0};

    memset(mr, 0, sizeof(*mr));
    mr->st = kp.crash;
    mr->have = 1;
    *sr = mem_store_of(mr);
    pol.grace_seconds = grace;
    return st_session(M2MSEC_SESSION_RECEIVER, kp.name, &pol, sr);
}

static int kp_setup(void)
{
    mem_store ms = MEM_STORE_FIRST_START, mr = MEM_STORE_FIRST_START;
    m2msec_store ss = mem_store_of(&ms), sr = mem_store_of(&mr);
    m2msec_session_policy spol = {0};
    m2msec_session *snd, *rcv;
    size_t bad = 0;

    memset(&kp, 0, sizeof(kp));
    st_unique_name(kp.name, sizeof(kp.name), "keepprev");
    spol.max_records = 20; /* re-key every 14 to 16 records */
    snd = st_session(M2MSEC_SESSION_SENDER, kp.name, &spol, &ss);
    if (snd == NULL)
        return 0;
    seal_small(snd, kp.r, KP_N);
    m2msec_session_free(snd);
    for (size_t i = 0; i < KP_N; i++) {
        uint64_t e = kp.r[i].epoch;

        if (e >= KP_N || kp.r[i].seq != kp.count[e] || (i > 0 && e < kp.r[i - 1].epoch))
            return 0;
        if (kp.count[e]++ == 0)
            kp.first[e] = i;
        kp.last_epoch = e;
    }
    /* Epochs E - 1, E, E + 1 and E + 2 complete. */
    if (kp.last_epoch < KP_E + 3)
        return 0;

    /* Receiver life 1: epochs 1 .. E - 1 (a sender's first is 1), records 0 .. h - 1 of E; then
       it crashes. */
    rcv = st_session(M2MSEC_SESSION_RECEIVER, kp.name, NULL, &sr);
    if (rcv == NULL)
        return 0;
    for (size_t i = 0; i < kp.first[KP_E] + KP_H; i++)
        bad += open_small(rcv, &kp.r[i]) != M2MSEC_SESSION_OK;
    kp.crash = mr.st; /* what a crash leaves: the clean shutdown below saves more */
    m2msec_session_free(rcv);
    printf("\n    epochs 0..%" PRIu64 ", %zu records in e%d; receiver crash state e%" PRIu64
           " floor %" PRIu64 " after %d of them ",
           kp.last_epoch, kp.count[KP_E], KP_E, kp.crash.epoch, kp.crash.seq_floor, KP_H);
    CHECK(bad == 0, "receiver life 1 refused %zu records", bad);
    /* At least 3 records of E lie at or above the floor: late records to deliver. */
    return bad == 0 && kp.crash.epoch == KP_E && kp.crash.seq_floor >= KP_H &&
           kp.crash.seq_floor + 3 <= kp.count[KP_E];
}

/*
 * The receiver restarts at (E, F). The sender had gone on in E and then
 * moved to E + 1; the network reorders. `early` records of E at or above F
 * arrive before the first record of E + 1, the rest of them after it: all
 * are accepted once (E is kept as previous for grace_seconds), and nothing
 * accepted before or after the restart, nothing below F and no epoch below
 * E is ever accepted.
 */
static void kp_late_records(size_t early)
{
    const uint64_t E = KP_E, F = kp.crash.seq_floor;
    uint64_t exp[M2MSEC_SESSION_STATUS_COUNT] = {0};
    mem_store mr;
    m2msec_store sr;
    m2msec_session *rcv = kp_receiver(&mr, &sr, 0);
    size_t late[KP_N], nlate = 0;
    char what[64];

    CU_ASSERT_PTR_NOT_NULL_FATAL(rcv);
    snprintf(what, sizeof(what), "%zu of E first", early);
    for (uint64_t s = F; s < F + early; s++)
        kp_expect(rcv, kp_rec(E, s), M2MSEC_SESSION_OK, exp, "E at or above the floor, before E+1");
    kp_expect(rcv, kp_rec(E + 1, 0), M2MSEC_SESSION_OK, exp, "first record of E+1");
    kp_check_stats(rcv, exp, E + 1, what);
    CHECK(mr.st.epoch == E + 1, "%s: the store holds epoch %" PRIu64 " after E+1", what,
          mr.st.epoch);

    /* Late records of E, never accepted, at or above the floor, in random order. */
    for (uint64_t s = F + early; s < kp.count[E]; s++)
        late[nlate++] = kp.first[E] + s;
    for (size_t i = nlate; i > 1; i--) {
        size_t j = (size_t)st_range(0, i - 1), t = late[i - 1];

        late[i - 1] = late[j];
        late[j] = t;
    }
    for (size_t i = 0; i < nlate; i++)
        kp_expect(rcv, &kp.r[late[i]], M2MSEC_SESSION_OK, exp, "late record of E within grace");
    kp_check_stats(rcv, exp, E + 1, what);

    /*
     * Every record of E again: accepted before the crash (seq < h) or below
     * the floor (h .. F-1) -> outside the window; accepted in this life ->
     * replay. Epochs below E: stale.
     */
    for (uint64_t s = 0; s < kp.count[E]; s++)
        kp_expect(rcv, kp_rec(E, s), s < F ? M2MSEC_SESSION_ERR_TOO_OLD : M2MSEC_SESSION_ERR_REPLAY,
                  exp, "E again");
    for (uint64_t e = 1; e < E; e++)
        for (uint64_t s = 0; s < kp.count[e]; s++)
            kp_expect(rcv, kp_rec(e, s), M2MSEC_SESSION_ERR_OLD_EPOCH, exp, "epoch below E");
    kp_check_stats(rcv, exp, E + 1, what);

    /* E + 1 goes on; its replays are refused. */
    for (uint64_t s = 1; s < kp.count[E + 1]; s++)
        kp_expect(rcv, kp_rec(E + 1, s), M2MSEC_SESSION_OK, exp, "E+1");
    kp_expect(rcv, kp_rec(E + 1, 0), M2MSEC_SESSION_ERR_REPLAY, exp, "E+1 again");

    /* E + 2: E + 1 becomes previous, E is stale, even above the floor. */
    kp_expect(rcv, kp_rec(E + 2, 0), M2MSEC_SESSION_OK, exp, "first record of E+2");
    kp_expect(rcv, kp_rec(E, F), M2MSEC_SESSION_ERR_OLD_EPOCH, exp, "E after E+2");
    kp_expect(rcv, kp_rec(E, kp.count[E] - 1), M2MSEC_SESSION_ERR_OLD_EPOCH, exp, "E after E+2");
    kp_expect(rcv, kp_rec(E + 1, 1), M2MSEC_SESSION_ERR_REPLAY, exp, "E+1 again after E+2");
    kp_check_stats(rcv, exp, E + 2, what);
    m2msec_session_free(rcv);

    /* And after a clean restart in E + 2: nothing of E or E + 1 any more. */
    memset(exp, 0, sizeof(exp));
    rcv = st_session(M2MSEC_SESSION_RECEIVER, kp.name, NULL, &sr);
    CU_ASSERT_PTR_NOT_NULL_FATAL(rcv);
    CHECK(mr.st.epoch == E + 2 && mr.st.seq_floor == 1,
          "%s: clean shutdown saved e%" PRIu64 " floor %" PRIu64, what, mr.st.epoch,
          mr.st.seq_floor);
    kp_expect(rcv, kp_rec(E + 3, 0), M2MSEC_SESSION_OK, exp, "E+3 after the second restart");
    kp_expect(rcv, kp_rec(E + 2, 1), M2MSEC_SESSION_OK, exp, "late E+2 after the second restart");
    kp_expect(rcv, kp_rec(E + 2, 0), M2MSEC_SESSION_ERR_TOO_OLD, exp, "E+2 below its floor");
    for (uint64_t e = 1; e <= E + 1; e++)
        kp_expect(rcv, kp_rec(e, kp.count[e] - 1), M2MSEC_SESSION_ERR_OLD_EPOCH, exp,
                  "epoch below the restored one");
    kp_check_stats(rcv, exp, E + 3, "second restart");
    m2msec_session_free(rcv);
    ERR_clear_error();
}

/*
 * The store fails when E + 1 first authenticates: the record is refused
 * and the receiver stays where it was (E current, nothing below the floor);
 * the next record of E + 1 moves it on, and E is kept as previous then.
 */
static void kp_storage_failure(void)
{
    const uint64_t E = KP_E, F = kp.crash.seq_floor;
    uint64_t exp[M2MSEC_SESSION_STATUS_COUNT] = {0};
    mem_store mr;
    m2msec_store sr;
    m2msec_session *rcv = kp_receiver(&mr, &sr, 0);

    CU_ASSERT_PTR_NOT_NULL_FATAL(rcv);
    mr.fail_save = 1;
    kp_expect(rcv, kp_rec(E + 1, 0), M2MSEC_SESSION_ERR_STORAGE, exp, "E+1 while the store fails");
    CHECK(mr.st.epoch == E && mr.st.seq_floor == F && mr.saves == 0,
          "the store changed to e%" PRIu64 " floor %" PRIu64 " (%lu saves)", mr.st.epoch,
          mr.st.seq_floor, mr.saves);
    kp_check_stats(rcv, exp, E, "storage failure");
    mr.fail_save = 0;
    kp_expect(rcv, kp_rec(E, F - 1), M2MSEC_SESSION_ERR_TOO_OLD, exp, "E below the floor");
    kp_expect(rcv, kp_rec(E + 1, 0), M2MSEC_SESSION_ERR_REPLAY, exp,
              "E+1 record refused for storage");
    kp_expect(rcv, kp_rec(E + 1, 1), M2MSEC_SESSION_OK, exp, "E+1 once the store works");
    kp_expect(rcv, kp_rec(E, F + 1), M2MSEC_SESSION_OK, exp, "late record of E");
    kp_expect(rcv, kp_rec(E, F + 1), M2MSEC_SESSION_ERR_REPLAY, exp, "late record of E again");
    kp_expect(rcv, kp_rec(E, F - 1), M2MSEC_SESSION_ERR_TOO_OLD, exp, "E below the floor");
    kp_expect(rcv, kp_rec(E - 1, kp.count[E - 1] - 1), M2MSEC_SESSION_ERR_OLD_EPOCH, exp,
              "epoch below E");
    kp_check_stats(rcv, exp, E + 1, "after the storage failure");
    m2msec_session_free(rcv);
    ERR_clear_error();
}

static void test_restart_keeps_previous(void)
{
    CU_ASSERT_FATAL(kp_setup());
    kp_late_records(0); /* E + 1 is the first record after the restart */
    kp_late_records(2); /* two records of E first */
    kp_storage_failure();
}

/* The restored epoch, kept as previous, is dropped when its grace period ends. */
static void test_restart_previous_grace_ends(void)
{
    const uint64_t E = KP_E, F = kp.crash.seq_floor, grace = 2;
    uint64_t exp[M2MSEC_SESSION_STATUS_COUNT] = {0};
    mem_store mr;
    m2msec_store sr;
    m2msec_session *rcv;
    time_t t1;

    CU_ASSERT_FATAL(kp.crash.epoch == KP_E && F + 3 <= kp.count[E]);
    rcv = kp_receiver(&mr, &sr, grace);
    CU_ASSERT_PTR_NOT_NULL_FATAL(rcv);
    kp_expect(rcv, kp_rec(E + 1, 0), M2MSEC_SESSION_OK, exp, "first record of E+1");
    kp_expect(rcv, kp_rec(E, F), M2MSEC_SESSION_OK, exp, "late record of E within grace");
    t1 = time(NULL);
    /* Wait until the grace period (at most t1 + grace) is surely over. */
    while (time(NULL) < t1 + (time_t)grace + 2) {
        struct timespec ts = {0, 100000000};

        nanosleep(&ts, NULL);
    }
    kp_expect(rcv, kp_rec(E, F + 1), M2MSEC_SESSION_ERR_OLD_EPOCH, exp,
              "late record of E after grace");
    kp_expect(rcv, kp_rec(E, F), M2MSEC_SESSION_ERR_OLD_EPOCH, exp, "E again after grace");
    kp_expect(rcv, kp_rec(E, 0), M2MSEC_SESSION_ERR_TOO_OLD, exp, "E below the floor after grace");
    kp_expect(rcv, kp_rec(E - 1, 0), M2MSEC_SESSION_ERR_OLD_EPOCH, exp, "epoch below E");
    kp_expect(rcv, kp_rec(E + 1, 1), M2MSEC_SESSION_OK, exp, "E+1 goes on");
    kp_check_stats(rcv, exp, E + 1, "grace over");
    m2msec_session_free(rcv);
    ERR_clear_error();
}

int main(void)
{
    static const tc_test tests[] = {
        {"4 sender crash and restart: no nonce reuse", test_sender_crash},
        {"5 receiver clean restart", test_receiver_clean_restart},
        {"5 receiver crash (SIGKILL) and restart", test_receiver_crash},
        {"5 receiver restart: the restored epoch is kept as previous", test_restart_keeps_previous},
        {"5 receiver restart: the restored previous epoch ends with its grace",
         test_restart_previous_grace_ends},
    };

    signal(SIGPIPE, SIG_IGN);
    return st_run("test_session_restart", "session restart", tests,
                  sizeof(tests) / sizeof(tests[0]));
}
