/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kill -9 during LMDB group commits, many times (issue 13 point 3). Each
 * round forks a child that opens the environment, loads every state and
 * saves ever higher states from several threads; after each save that
 * returned 1 it reports (name, epoch, floor) on a pipe. The parent kills
 * it with SIGKILL after a random delay, in the middle of commits, reads
 * every report, and then opens the environment itself: every state must
 * be at least the last one reported durable, and never below what the
 * previous round found (nothing went backwards).
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "test_files.h"
#include "session_test.h"
#include "test_errors.h"

#define NAMES 64
#define THREADS 8
#define ROUNDS 40

static char tmpdir[256], dbpath[300];

typedef struct {
    uint32_t name;
    uint64_t epoch, floor_;
} report;

static int lt(uint64_t e1, uint64_t f1, uint64_t e2, uint64_t f2)
{
    return e1 < e2 || (e1 == e2 && f1 < f2);
}

/* ---- the child ---- */

static m2msec_store stores[NAMES];
static void *handles[NAMES];
static m2msec_session_state cur[NAMES];
static int report_fd;

static void *child_saver(void *p)
{
    unsigned id = (unsigned)(uintptr_t)p;

    for (;;)
        for (unsigned i = id; i < NAMES; i += THREADS) {
            m2msec_session_state st = cur[i];
            report r;

            if (st.seq_floor % 7 == 6) {
                st.epoch++;
                st.seq_floor = 0;
            } else {
                st.seq_floor++;
            }
            if (stores[i].save(stores[i].arg, handles[i], &st) != 1)
                _exit(3);
            cur[i] = st;
            r.name = i;
            r.epoch = st.epoch;
            r.floor_ = st.seq_floor;
            /* reported only once durable; one write of < PIPE_BUF bytes is atomic */
            if (write(report_fd, &r, sizeof(r)) != (ssize_t)sizeof(r))
                _exit(4);
        }
    return NULL;
}

static void child(int fd)
{
    m2msec_store_lmdb_env *env = m2msec_store_lmdb_env_new(dbpath, 0);
    pthread_t th[THREADS];
    char name[32];

    report_fd = fd;
    if (env == NULL)
        _exit(2);
    for (unsigned i = 0; i < NAMES; i++) {
        snprintf(name, sizeof(name), "dev-%u", i);
        if (!m2msec_store_lmdb(&stores[i], env, name) ||
            stores[i].lock(stores[i].arg, &handles[i]) != 1 ||
            stores[i].load(stores[i].arg, handles[i], &cur[i]) != 1)
            _exit(2);
    }
    for (unsigned t = 0; t < THREADS; t++)
        if (pthread_create(&th[t], NULL, child_saver, (void *)(uintptr_t)t) != 0)
            _exit(2);
    pthread_join(th[0], NULL);
    _exit(5);
}

/* ---- the parent ---- */

static void test_kill_during_commits(void)
{
    m2msec_session_state seen[NAMES] = {{0, 0}}, durable[NAMES];
    m2msec_store_lmdb_env *env;
    m2msec_store s;
    uint64_t reports = 0, lost = 0, back = 0, killed_mid = 0;
    char name[32];

    CU_ASSERT_FATAL(make_temp_dir(tmpdir, sizeof(tmpdir), "lmdbcrash"));
    snprintf(dbpath, sizeof(dbpath), "%s/states.mdb", tmpdir);
    env = m2msec_store_lmdb_env_new(dbpath, 0);
    CU_ASSERT_FATAL(env != NULL);
    for (unsigned i = 0; i < NAMES; i++) {
        snprintf(name, sizeof(name), "dev-%u", i);
        CU_ASSERT_FATAL(m2msec_store_lmdb(&s, env, name) && m2msec_store_init(&s));
        m2msec_store_clear(&s);
    }
    m2msec_store_lmdb_env_free(env);

    for (int round = 0; round < ROUNDS; round++) {
        int p[2], status;
        pid_t pid;
        struct timespec start, now;
        long delay_ms = 20 + (long)st_range(0, 180);
        report r;
        ssize_t n;

        memcpy(durable, seen, sizeof(seen));
        CU_ASSERT_FATAL(pipe(p) == 0);
        fflush(NULL);
        pid = fork();
        CU_ASSERT_FATAL(pid >= 0);
        if (pid == 0) {
            close(p[0]);
            child(p[1]);
        }
        close(p[1]);
        clock_gettime(CLOCK_MONOTONIC, &start);
        for (;;) {
            struct pollfd pfd = {p[0], POLLIN, 0};
            long el;

            clock_gettime(CLOCK_MONOTONIC, &now);
            el = (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
            if (el >= delay_ms)
                break;
            if (poll(&pfd, 1, (int)(delay_ms - el)) > 0) {
                n = read(p[0], &r, sizeof(r));
                if (n == 0)
                    break; /* the child died by itself */
                CU_ASSERT_FATAL(n == (ssize_t)sizeof(r) && r.name < NAMES);
                durable[r.name].epoch = r.epoch;
                durable[r.name].seq_floor = r.floor_;
                reports++;
            }
        }
        kill(pid, SIGKILL);
        while ((n = read(p[0], &r, sizeof(r))) == (ssize_t)sizeof(r)) {
            CU_ASSERT_FATAL(r.name < NAMES);
            durable[r.name].epoch = r.epoch;
            durable[r.name].seq_floor = r.floor_;
            reports++;
        }
        close(p[0]);
        CU_ASSERT_FATAL(waitpid(pid, &status, 0) == pid);
        CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
              "round %d: the child ended by itself (status %d) before it was killed", round,
              status);
        killed_mid += WIFSIGNALED(status);

        env = m2msec_store_lmdb_env_new(dbpath, 0);
        CU_ASSERT_FATAL(env != NULL);
        for (unsigned i = 0; i < NAMES; i++) {
            m2msec_session_state st;

            snprintf(name, sizeof(name), "dev-%u", i);
            CU_ASSERT_FATAL(m2msec_store_lmdb(&s, env, name));
            CU_ASSERT_FATAL(s.load(s.arg, NULL, &st) == 1);
            if (lt(st.epoch, st.seq_floor, durable[i].epoch, durable[i].seq_floor))
                lost++;
            if (lt(st.epoch, st.seq_floor, seen[i].epoch, seen[i].seq_floor))
                back++;
            seen[i] = st;
            m2msec_store_clear(&s);
        }
        m2msec_store_lmdb_env_free(env);
    }
    printf("\n  %d kills, %llu saves reported durable before them\n", ROUNDS,
           (unsigned long long)reports);
    CHECK(killed_mid == ROUNDS, "not every round was killed mid-way");
    CHECK(reports >= (uint64_t)ROUNDS, "too few saves to test anything: %llu",
          (unsigned long long)reports);
    CHECK(lost == 0, "%llu states reported durable were lost by a kill -9",
          (unsigned long long)lost);
    CHECK(back == 0, "%llu states went backwards", (unsigned long long)back);
    remove_tree(tmpdir);
}

int main(void)
{
    static const tc_test tests[] = {
        {"1 kill -9 during group commits: nothing reported durable is lost, nothing goes back",
         test_kill_during_commits},
    };

    signal(SIGPIPE, SIG_IGN);
    return st_run("test_store_lmdb_crash", "store lmdb crash", tests,
                  sizeof(tests) / sizeof(tests[0]));
}
