/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The LMDB gateway store (m2msec_store_lmdb, issue 13 point 3): save and
 * load, persistence across reopening, refusal of a save that goes
 * backwards, one process per environment and one session per name, many
 * sessions saving from many threads in shared (group) commits, and real
 * sender/receiver sessions on it across a restart.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "session_test.h"
#include "test_errors.h"
#include "session_call.h"
#include "test_files.h"

#define LEN 16
#define RL (LEN + ST_OVERHEAD)

static char tmpdir[256], dbpath[300];

static int make_tmpdir(void)
{
    if (!make_temp_dir(tmpdir, sizeof(tmpdir), "lmdb"))
        return 0;
    snprintf(dbpath, sizeof(dbpath), "%s/states.mdb", tmpdir);
    return 1;
}

static int same(const m2msec_session_state *a, uint64_t e, uint64_t f)
{
    return a->epoch == e && a->seq_floor == f;
}

/* 1. save, load, init, reopen */
static void test_save_load(void)
{
    m2msec_store_lmdb_env *env;
    m2msec_store s, t;
    m2msec_session_state st = {0, 0}, w = {7, 4096};
    void *h;

    CU_ASSERT_FATAL(make_tmpdir());
    env = m2msec_store_lmdb_env_new(dbpath, 0);
    CU_ASSERT_FATAL(env != NULL);
    CU_ASSERT_FATAL(m2msec_store_lmdb(&s, env, "device-1"));
    CU_ASSERT_FATAL(m2msec_store_lmdb(&t, env, "device-2"));
    CHECK(s.load(s.arg, NULL, &st) == 0, "a name never initialised is reported as stored");
    CHECK(m2msec_store_init(&s) == 1, "first start refused");
    CHECK(m2msec_store_init(&s) == 0, "a second first start over an existing state accepted");
    CHECK(ERR_peek_error() != 0, "no error queued for a second first start");
    ERR_clear_error();
    CHECK(s.load(s.arg, NULL, &st) == 1 && same(&st, 0, 0), "init did not store {0, 0}");
    CHECK(t.load(t.arg, NULL, &st) == 0, "device-2 stored by device-1's init");
    CU_ASSERT_FATAL(s.lock(s.arg, &h) == 1);
    CHECK(s.save(s.arg, NULL, &w) == 0, "a save without the lock accepted");
    ERR_clear_error();
    CHECK(s.save(s.arg, h, &w) == 1, "save refused");
    CHECK(s.load(s.arg, h, &st) == 1 && same(&st, 7, 4096), "load after save: %llu %llu",
          (unsigned long long)st.epoch, (unsigned long long)st.seq_floor);
    s.unlock(s.arg, h);
    m2msec_store_lmdb_env_free(env); /* the stores keep it open */
    m2msec_store_clear(&s);
    m2msec_store_clear(&t);

    env = m2msec_store_lmdb_env_new(dbpath, 0);
    CU_ASSERT_FATAL(env != NULL);
    CU_ASSERT_FATAL(m2msec_store_lmdb(&s, env, "device-1"));
    CHECK(s.load(s.arg, NULL, &st) == 1 && same(&st, 7, 4096), "not persistent across reopening");
    CHECK(m2msec_store_lmdb(&t, env, "") == 0, "an empty name accepted");
    ERR_clear_error();
    m2msec_store_clear(&s);
    m2msec_store_lmdb_env_free(env);
    remove_tree(tmpdir);
}

/* 2. never backwards */
static void test_rollback_refused(void)
{
    m2msec_store_lmdb_env *env;
    m2msec_store s;
    m2msec_session_state st, a = {5, 100}, lower_floor = {5, 50}, lower_epoch = {4, 999999},
                             same_st = {5, 100}, up = {6, 0};
    void *h;

    CU_ASSERT_FATAL(make_tmpdir());
    env = m2msec_store_lmdb_env_new(dbpath, 0);
    CU_ASSERT_FATAL(env != NULL);
    CU_ASSERT_FATAL(m2msec_store_lmdb(&s, env, "r"));
    CU_ASSERT_FATAL(m2msec_store_init(&s));
    CU_ASSERT_FATAL(s.lock(s.arg, &h) == 1);
    CHECK(s.save(s.arg, h, &a) == 1, "save {5, 100} refused");
    CHECK(s.save(s.arg, h, &lower_floor) == 0, "a lower floor in the same epoch accepted");
    CHECK(errors_have("never a rollback", NULL), "the refusal does not say why");
    ERR_clear_error();
    CHECK(s.save(s.arg, h, &lower_epoch) == 0, "a lower epoch accepted");
    ERR_clear_error();
    CHECK(s.load(s.arg, h, &st) == 1 && same(&st, 5, 100), "a refused save changed the state");
    CHECK(s.save(s.arg, h, &same_st) == 1, "saving the same state again refused");
    CHECK(s.save(s.arg, h, &up) == 1, "the next epoch with floor 0 refused");
    CHECK(s.load(s.arg, h, &st) == 1 && same(&st, 6, 0), "the next epoch not stored");
    s.unlock(s.arg, h);
    m2msec_store_clear(&s);
    m2msec_store_lmdb_env_free(env);
    remove_tree(tmpdir);
}

/* 3. one session per name in the process, one process per environment */
static void test_exclusive(void)
{
    m2msec_store_lmdb_env *env;
    m2msec_store s, s2, o;
    void *h, *h2, *ho;
    pid_t pid;
    int status;

    CU_ASSERT_FATAL(make_tmpdir());
    env = m2msec_store_lmdb_env_new(dbpath, 0);
    CU_ASSERT_FATAL(env != NULL);
    CU_ASSERT_FATAL(m2msec_store_lmdb(&s, env, "x"));
    CU_ASSERT_FATAL(m2msec_store_lmdb(&s2, env, "x"));
    CU_ASSERT_FATAL(m2msec_store_lmdb(&o, env, "y"));
    CU_ASSERT_FATAL(s.lock(s.arg, &h) == 1);
    CHECK(s2.lock(s2.arg, &h2) == 0, "a second lock on the same name in one process taken");
    CHECK(o.lock(o.arg, &ho) == 1, "another name's lock refused");
    o.unlock(o.arg, ho);
    s.unlock(s.arg, h);
    CHECK(s2.lock(s2.arg, &h2) == 1, "the name's lock not released by unlock");
    s2.unlock(s2.arg, h2);

    CHECK(m2msec_store_lmdb_env_new(dbpath, 0) == NULL,
          "the environment opened twice in one process (LMDB forbids it)");
    CHECK(errors_have("already open in this one", NULL), "the refusal does not say why");
    ERR_clear_error();
    fflush(NULL);
    pid = fork();
    CU_ASSERT_FATAL(pid >= 0);
    if (pid == 0) {
        m2msec_store_lmdb_env *e2 = m2msec_store_lmdb_env_new(dbpath, 0);

        _exit(e2 == NULL && errors_have("another process", NULL) ? 0 : 1);
    }
    CU_ASSERT_FATAL(waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0,
          "a second process opened the environment in use");
    m2msec_store_clear(&s);
    m2msec_store_clear(&s2);
    m2msec_store_clear(&o);
    m2msec_store_lmdb_env_free(env);
    env = m2msec_store_lmdb_env_new(dbpath, 0);
    CHECK(env != NULL, "the environment cannot be reopened after it was closed");
    m2msec_store_lmdb_env_free(env);
    remove_tree(tmpdir);
}

/* 4. many sessions, many threads: every save durable, fewer commits than saves */
#define NAMES 2000
#define THREADS 16
#define ROUNDS 6

static m2msec_store many[NAMES];
static void *many_h[NAMES];
static int many_fail;

static void *saver(void *p)
{
    unsigned id = (unsigned)(uintptr_t)p;

    for (unsigned r = 1; r <= ROUNDS; r++)
        for (unsigned i = id; i < NAMES; i += THREADS) {
            m2msec_session_state st = {r, (uint64_t)i * 1000 + r};

            if (many[i].save(many[i].arg, many_h[i], &st) != 1)
                __atomic_add_fetch(&many_fail, 1, __ATOMIC_RELAXED);
        }
    return NULL;
}

static void test_many_sessions(void)
{
    m2msec_store_lmdb_env *env;
    m2msec_store_lmdb_stats stats;
    pthread_t th[THREADS];
    m2msec_session_state st;
    char name[32];
    int bad = 0;

    CU_ASSERT_FATAL(make_tmpdir());
    env = m2msec_store_lmdb_env_new(dbpath, 0);
    CU_ASSERT_FATAL(env != NULL);
    for (unsigned i = 0; i < NAMES; i++) {
        snprintf(name, sizeof(name), "dev-%u", i);
        CU_ASSERT_FATAL(m2msec_store_lmdb(&many[i], env, name));
        CU_ASSERT_FATAL(m2msec_store_init(&many[i]));
        CU_ASSERT_FATAL(many[i].lock(many[i].arg, &many_h[i]) == 1);
    }
    m2msec_store_lmdb_env_get_stats(env, &stats);
    CHECK(stats.saves == NAMES, "init saves counted %llu", (unsigned long long)stats.saves);
    for (unsigned t = 0; t < THREADS; t++)
        CU_ASSERT_FATAL(pthread_create(&th[t], NULL, saver, (void *)(uintptr_t)t) == 0);
    for (unsigned t = 0; t < THREADS; t++)
        pthread_join(th[t], NULL);
    CHECK(many_fail == 0, "%d saves failed", many_fail);
    m2msec_store_lmdb_env_get_stats(env, &stats);
    CHECK(stats.saves == (uint64_t)NAMES * (ROUNDS + 1), "saves counted %llu",
          (unsigned long long)stats.saves);
    /* 16 threads block on each commit together: the batches must be shared */
    CHECK(stats.commits < stats.saves - NAMES && stats.largest_batch > 1,
          "no group commit: %llu commits for %llu saves (largest batch %llu)",
          (unsigned long long)stats.commits, (unsigned long long)stats.saves,
          (unsigned long long)stats.largest_batch);
    printf("\n  %u saves from %d threads: %llu commits, largest batch %llu\n", NAMES * ROUNDS,
           THREADS, (unsigned long long)stats.commits - NAMES,
           (unsigned long long)stats.largest_batch);
    for (unsigned i = 0; i < NAMES; i++) {
        many[i].unlock(many[i].arg, many_h[i]);
        m2msec_store_clear(&many[i]);
    }
    m2msec_store_lmdb_env_free(env);
    env = m2msec_store_lmdb_env_new(dbpath, 0);
    CU_ASSERT_FATAL(env != NULL);
    for (unsigned i = 0; i < NAMES; i++) {
        snprintf(name, sizeof(name), "dev-%u", i);
        CU_ASSERT_FATAL(m2msec_store_lmdb(&many[0], env, name));
        if (many[0].load(many[0].arg, NULL, &st) != 1 ||
            !same(&st, ROUNDS, (uint64_t)i * 1000 + ROUNDS))
            bad++;
        m2msec_store_clear(&many[0]);
    }
    CHECK(bad == 0, "%d of %d states not the last saved after reopening", bad, NAMES);
    m2msec_store_lmdb_env_free(env);
    remove_tree(tmpdir);
}

/* 5. real sessions on the store, across a restart: no replay accepted */
static void test_sessions_restart(void)
{
    m2msec_store_lmdb_env *env;
    m2msec_store ss, rs;
    m2msec_session *snd, *rcv;
    unsigned char rec[10][RL], out[RL];
    size_t rl[10], olen;
    char orig[64];
    m2msec_session_state st;

    CU_ASSERT_FATAL(make_tmpdir());
    st_unique_name(orig, sizeof(orig), "lmdb");
    env = m2msec_store_lmdb_env_new(dbpath, 0);
    CU_ASSERT_FATAL(env != NULL);
    CU_ASSERT_FATAL(m2msec_store_lmdb(&ss, env, "sender"));
    CU_ASSERT_FATAL(m2msec_store_lmdb(&rs, env, "receiver"));
    CU_ASSERT_FATAL(m2msec_store_init(&ss) && m2msec_store_init(&rs));
    snd = st_session(M2MSEC_SESSION_SENDER, orig, NULL, &ss);
    rcv = st_session(M2MSEC_SESSION_RECEIVER, orig, NULL, &rs);
    CU_ASSERT_FATAL(snd != NULL && rcv != NULL);
    for (int i = 0; i < 10; i++) {
        unsigned char pt[LEN];

        st_fill_plain(pt, sizeof(pt));
        CU_ASSERT_FATAL(t_seal(snd, pt, sizeof(pt), rec[i], RL, &rl[i]) == M2MSEC_SESSION_OK);
    }
    for (int i = 0; i < 5; i++)
        CHECK(t_open(rcv, rec[i], rl[i], out, sizeof(out), &olen) == M2MSEC_SESSION_OK,
              "record %d refused", i);
    CHECK(rs.load(rs.arg, NULL, &st) == 1 && st.epoch == 1 && st.seq_floor >= 4,
          "the receiver's state was not saved before use: epoch %llu floor %llu",
          (unsigned long long)st.epoch, (unsigned long long)st.seq_floor);
    m2msec_session_free(rcv);
    rcv = st_session(M2MSEC_SESSION_RECEIVER, orig, NULL, &rs);
    CU_ASSERT_FATAL(rcv != NULL);
    for (int i = 0; i < 5; i++)
        CHECK(t_open(rcv, rec[i], rl[i], out, sizeof(out), &olen) != M2MSEC_SESSION_OK,
              "record %d accepted again after a restart", i);
    ERR_clear_error();
    m2msec_session_free(rcv);
    m2msec_session_free(snd);
    m2msec_store_clear(&ss);
    m2msec_store_clear(&rs);
    m2msec_store_lmdb_env_free(env);
    remove_tree(tmpdir);
}

/* 6. where the database may live: an absolute path in a directory only its user can write */
static void test_path_rules(void)
{
    char dir[400], path[500];

    ERR_clear_error();
    CHECK(m2msec_store_lmdb_env_new("states.mdb", 0) == NULL &&
              errors_have("is a relative path", NULL),
          "a relative LMDB path is refused");
    CU_ASSERT_FATAL(make_tmpdir());
    pathf(dir, sizeof(dir), "%s/shared", tmpdir);
    CU_ASSERT_FATAL(mkdir(dir, 0700) == 0 && chmod(dir, 0775) == 0);
    pathf(path, sizeof(path), "%s/states.mdb", dir);
    CHECK(m2msec_store_lmdb_env_new(path, 0) == NULL &&
              errors_have("is writable by other users", NULL),
          "an LMDB store in a group-writable directory is refused");
    CHECK(!file_exists(path), "the refused store created its file");
    remove_tree(tmpdir);
    ERR_clear_error();
}

int main(void)
{
    static const tc_test tests[] = {
        {"1 save, load, first start, reopening", test_save_load},
        {"2 a save that goes backwards is refused", test_rollback_refused},
        {"3 one session per name, one process per environment", test_exclusive},
        {"4 many sessions from many threads: group commit, all durable", test_many_sessions},
        {"5 sender and receiver sessions on LMDB across a restart", test_sessions_restart},
        {"6 the database path: absolute, in a directory only its user can write", test_path_rules},
    };

    signal(SIGPIPE, SIG_IGN);
    return st_run("test_store_lmdb", "store lmdb", tests, sizeof(tests) / sizeof(tests[0]));
}
