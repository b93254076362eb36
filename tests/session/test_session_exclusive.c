/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Regression tests of issue 9, point 1: no (key, nonce) reuse and no record
 * accepted twice, whatever the processes do with a session's state
 * (docs/PROTOCOL.md 6.4). Each case failed before the state was locked,
 * read back before every save, initialised explicitly and guarded against
 * fork():
 *
 *  1. two sender processes on one state file: the second is refused while
 *     the first runs ("state in use by another session");
 *  2. two sessions on one state in one process: the second is refused;
 *  3. a sender (and a receiver) used in a forked child: refused, while the
 *     parent goes on with the next sequence numbers;
 *  4. two receivers on one state, in one process and in two: the second is
 *     refused, and no record is ever accepted twice;
 *  5. a deleted state: refused at creation ("no stored state"), never taken
 *     for a first start, and refused at the next save while a session runs;
 *  6. a state replaced (restored from a backup) while a session runs:
 *     refused at the next save, the replaced file left as it is.
 *
 * The state files are written here in the documented format (PROTOCOL.md
 * 6.4), so that the program also builds against the code before the fix
 * (where it fails). Children end with _exit().
 */
#include <errno.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "session_test.h"
#include "test_errors.h"
#include "session_call.h"
#include "test_files.h"

#define LEN 16
#define RL (LEN + ST_OVERHEAD)

static char tmpdir[256];

static int make_tmpdir(void)
{
    return make_temp_dir(tmpdir, sizeof(tmpdir), "exclusive");
}

/* A state file in the format of PROTOCOL.md 6.4 (what `m2msec state init` writes for 0, 0). */
static int write_state(const char *path, uint64_t epoch, uint64_t floor_)
{
    FILE *f = fopen(path, "w");
    int ok;

    if (f == NULL)
        return 0;
    ok =
        fprintf(f, "m2msec-state 1\nepoch %" PRIu64 "\nseq-floor %" PRIu64 "\n", epoch, floor_) > 0;
    return fclose(f) == 0 && ok;
}

static size_t read_text(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "r");
    size_t n;

    buf[0] = '\0';
    if (f == NULL)
        return 0;
    n = fread(buf, 1, cap - 1, f);
    buf[n] = '\0';
    fclose(f);
    return n;
}

/* A fresh state file (first start) in tmpdir; path into buf. */
static void fresh_state(char *buf, size_t cap, const char *what)
{
    snprintf(buf, cap, "%s/%s.state", tmpdir, what);
    CU_ASSERT_FATAL(write_state(buf, 0, 0));
}

static m2msec_session *file_session(m2msec_session_role role, const char *name, const char *path,
                                    const m2msec_session_policy *pol, m2msec_store *fs)
{
    t_store_file(fs, path);
    return st_session(role, name, pol, fs);
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

static m2msec_session_status seal(m2msec_session *s, unsigned char *rec, size_t *rl)
{
    unsigned char pt[LEN];

    st_fill_plain(pt, sizeof(pt));
    return t_seal(s, pt, sizeof(pt), rec, RL, rl);
}

static m2msec_session_status open1(m2msec_session *s, const unsigned char *rec, size_t rl)
{
    unsigned char out[RL];
    size_t olen;

    return t_open(s, rec, rl, out, sizeof(out), &olen);
}

/* ======================================================================== */
/* 1. Two sender processes                                                 */
/* ======================================================================== */

/*
 * A child sender holds the state and reports its epoch; the parent's sender
 * on the same state is refused. Before the fix it started: the child at
 * stored + 1 = 1, the parent at 2, which is the child's next epoch, so a
 * re-key of the child encrypted under the parent's key and nonces.
 */
static void test_two_sender_processes(void)
{
    char path[512], name[64];
    m2msec_session_policy pol = {0};
    m2msec_store fs;
    m2msec_session *s;
    int up[2], down[2], status = 0;
    uint64_t child_epoch = 0;
    unsigned char rec[RL];
    size_t rl;
    pid_t pid;
    char go = 0;

    CU_ASSERT_FATAL(make_tmpdir());
    fresh_state(path, sizeof(path), "sender");
    st_unique_name(name, sizeof(name), "two-procs");
    pol.max_records = 10;
    CU_ASSERT_FATAL(pipe(up) == 0 && pipe(down) == 0);
    fflush(NULL);
    pid = fork();
    CU_ASSERT_FATAL(pid >= 0);
    if (pid == 0) {
        m2msec_session *c;
        m2msec_store cfs;
        uint64_t e = UINT64_MAX;
        m2msec_session_stats st;

        close(up[0]);
        close(down[1]);
        c = file_session(M2MSEC_SESSION_SENDER, name, path, &pol, &cfs);
        if (c != NULL && seal(c, rec, &rl) == M2MSEC_SESSION_OK) {
            m2msec_session_get_stats(c, &st);
            e = st.epoch;
        }
        if (!write_full(up[1], &e, sizeof(e)))
            _exit(5);
        /* Hold the state until the parent is done, re-keying meanwhile. */
        if (read_full(down[0], &go, 1))
            for (int i = 0; c != NULL && i < 30; i++)
                if (seal(c, rec, &rl) != M2MSEC_SESSION_OK)
                    _exit(4);
        e = c != NULL ? 0 : 3;
        m2msec_session_free(c); /* the child's own session: saved and unlocked as usual */
        _exit((int)e);
    }
    close(up[1]);
    close(down[0]);
    CU_ASSERT_FATAL(read_full(up[0], &child_epoch, sizeof(child_epoch)));
    CHECK(child_epoch != UINT64_MAX, "the child's sender did not start");

    ERR_clear_error();
    s = file_session(M2MSEC_SESSION_SENDER, name, path, &pol, &fs);
    CHECK(s == NULL, "a second sender process started on the state of a running one");
    if (s == NULL) {
        char want[700];

        snprintf(want, sizeof(want), "state in use by another session (%s)", path);
        CHECK(errors_have(want, NULL), "the refusal does not say \"%s\"", want);
    } else {
        m2msec_session_stats st;

        m2msec_session_get_stats(s, &st);
        printf("\n    (before the fix: the second sender started at epoch %" PRIu64
               ", the child is in epoch %" PRIu64 " and re-keys into it) ",
               st.epoch, child_epoch);
        m2msec_session_free(s);
    }
    ERR_clear_error();
    CU_ASSERT_FATAL(write_full(down[1], &go, 1));
    close(down[1]);
    waitpid(pid, &status, 0);
    close(up[0]);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d", status);

    /* Once the first process ended, a sender starts, above every epoch it used. */
    s = file_session(M2MSEC_SESSION_SENDER, name, path, &pol, &fs);
    CHECK(s != NULL, "no sender after the first process ended");
    if (s != NULL) {
        m2msec_session_stats st;

        m2msec_session_get_stats(s, &st);
        CHECK(st.epoch > child_epoch + 3, "the next sender starts at epoch %" PRIu64, st.epoch);
        m2msec_session_free(s);
    }
    ERR_clear_error();
    remove_tree(tmpdir);
}

/* ======================================================================== */
/* 2. Two sessions in one process                                          */
/* ======================================================================== */

static void test_two_sessions_one_process(void)
{
    static const m2msec_session_role roles[] = {M2MSEC_SESSION_SENDER, M2MSEC_SESSION_RECEIVER};
    char path[512], name[64], want[700];

    CU_ASSERT_FATAL(make_tmpdir());
    for (size_t r = 0; r < 2; r++) {
        m2msec_store fs1, fs2;
        m2msec_session *a, *b;
        const char *role = roles[r] == M2MSEC_SESSION_SENDER ? "sender" : "receiver";

        fresh_state(path, sizeof(path), role);
        st_unique_name(name, sizeof(name), "one-proc");
        a = file_session(roles[r], name, path, NULL, &fs1);
        CU_ASSERT_PTR_NOT_NULL_FATAL(a);
        ERR_clear_error();
        /* The same path through a store of its own, as a second component would do it. */
        b = file_session(roles[r], name, path, NULL, &fs2);
        CHECK(b == NULL, "%s: a second session on the same state in one process", role);
        snprintf(want, sizeof(want), "state in use by another session (%s)", path);
        CHECK(b != NULL || errors_have(want, NULL), "%s: the refusal does not say \"%s\"", role,
              want);
        m2msec_session_free(b);
        /* The same store object again. */
        ERR_clear_error();
        b = st_session(roles[r], name, NULL, &fs1);
        CHECK(b == NULL, "%s: a second session on the same store object", role);
        m2msec_session_free(b);
        ERR_clear_error();
        m2msec_session_free(a);
        /* Released with the first session. */
        b = file_session(roles[r], name, path, NULL, &fs2);
        CHECK(b != NULL, "%s: no session after the first one was freed", role);
        m2msec_session_free(b);
        ERR_clear_error();
    }
    remove_tree(tmpdir);
}

/* ======================================================================== */
/* 3. fork()                                                               */
/* ======================================================================== */

/* What the child found, one bit each (0: everything as expected). */
enum {
    F_SEALED = 1,      /* the inherited sender sealed a record */
    F_SEAL_TEXT = 2,   /* its refusal did not say why */
    F_OPENED = 4,      /* the inherited receiver accepted a record */
    F_NEW_SESSION = 8, /* a new session on the parent's state started in the child */
    F_OUTPUT = 16,     /* a refusal returned output */
};

static void test_fork(void)
{
    char spath[512], rpath[512], name[64];
    m2msec_session_policy pol = {0};
    m2msec_store sfs, rfs;
    m2msec_session *snd, *rcv;
    unsigned char rec[RL], held[RL], child_rec[RL];
    size_t rl, heldlen, child_len = 0;
    int fds[2], status = 0;
    unsigned char result = 0xFF;
    pid_t pid;

    CU_ASSERT_FATAL(make_tmpdir());
    fresh_state(spath, sizeof(spath), "sender");
    fresh_state(rpath, sizeof(rpath), "receiver");
    st_unique_name(name, sizeof(name), "fork");
    snd = file_session(M2MSEC_SESSION_SENDER, name, spath, &pol, &sfs);
    rcv = file_session(M2MSEC_SESSION_RECEIVER, name, rpath, &pol, &rfs);
    CU_ASSERT_PTR_NOT_NULL_FATAL(snd);
    CU_ASSERT_PTR_NOT_NULL_FATAL(rcv);
    CHECK(seal(snd, rec, &rl) == M2MSEC_SESSION_OK && open1(rcv, rec, rl) == M2MSEC_SESSION_OK,
          "record 0 before the fork");
    CU_ASSERT_FATAL(seal(snd, held, &heldlen) == M2MSEC_SESSION_OK); /* record 1: opened later */

    CU_ASSERT_FATAL(pipe(fds) == 0);
    fflush(NULL);
    pid = fork();
    CU_ASSERT_FATAL(pid >= 0);
    if (pid == 0) {
        unsigned char r = 0, out[RL];
        size_t len = 0, olen = 99;
        m2msec_session_status st;
        m2msec_store fs2;
        m2msec_session *again;

        close(fds[0]);
        ERR_clear_error();
        memset(child_rec, 0, sizeof(child_rec));
        st = seal(snd, child_rec, &len);
        if (st == M2MSEC_SESSION_OK)
            r |= F_SEALED;
        else if (!errors_have("session used after fork", NULL))
            r |= F_SEAL_TEXT;
        if (st != M2MSEC_SESSION_OK && len != 0)
            r |= F_OUTPUT;
        memset(out, 0xAA, sizeof(out));
        st = t_open(rcv, held, heldlen, out, sizeof(out), &olen);
        if (st == M2MSEC_SESSION_OK)
            r |= F_OPENED;
        else if (olen != 0 || out[0] != 0xAA)
            r |= F_OUTPUT;
        ERR_clear_error();
        /* The child inherited the parent's lock: a new session there is refused too. */
        again = file_session(M2MSEC_SESSION_SENDER, name, spath, &pol, &fs2);
        if (again != NULL)
            r |= F_NEW_SESSION;
        m2msec_session_free(again);
        m2msec_session_free(snd); /* in the child: memory only, no save, no unlock */
        m2msec_session_free(rcv);
        if (!write_full(fds[1], &r, 1) || !write_full(fds[1], &len, sizeof(len)) ||
            !write_full(fds[1], child_rec, sizeof(child_rec)))
            _exit(5);
        _exit(0);
    }
    close(fds[1]);
    CHECK(read_full(fds[0], &result, 1) && read_full(fds[0], &child_len, sizeof(child_len)) &&
              read_full(fds[0], child_rec, sizeof(child_rec)),
          "no report from the child");
    close(fds[0]);
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d", status);
    CHECK(!(result & F_SEALED), "the sender sealed a record in the forked child");
    CHECK(!(result & F_SEAL_TEXT), "the child's refusal does not say \"session used after fork\"");
    CHECK(!(result & F_OPENED), "the receiver accepted a record in the forked child");
    CHECK(!(result & F_NEW_SESSION), "a new session on the parent's state started in the child");
    CHECK(!(result & F_OUTPUT), "a refusal in the child returned output");

    /* The parent goes on: the next sequence number, accepted once. */
    CHECK(seal(snd, rec, &rl) == M2MSEC_SESSION_OK && st_header(rec).seq == 2,
          "the parent's sender goes on at seq 2 (got %" PRIu64 ")", st_header(rec).seq);
    if (result & F_SEALED)
        CHECK(!(st_header(child_rec).epoch == st_header(rec).epoch &&
                st_header(child_rec).seq == st_header(rec).seq),
              "the child and the parent sealed e%" PRIu64 " s%" PRIu64
              " under the same key and nonce",
              st_header(rec).epoch, st_header(rec).seq);
    CHECK(open1(rcv, held, heldlen) == M2MSEC_SESSION_OK, "the parent's receiver opens record 1");
    CHECK(open1(rcv, rec, rl) == M2MSEC_SESSION_OK, "the parent's receiver opens record 2");
    CHECK(open1(rcv, held, heldlen) == M2MSEC_SESSION_ERR_REPLAY, "record 1 once only");
    m2msec_session_free(snd);
    m2msec_session_free(rcv);
    ERR_clear_error();
    remove_tree(tmpdir);
}

/* ======================================================================== */
/* 4. Two receivers on one state                                           */
/* ======================================================================== */

static void test_two_receivers(void)
{
    char spath[512], rpath[512], name[64];
    m2msec_store sfs, fa, fb;
    m2msec_session *snd, *ra, *rb;
    unsigned char rec[RL];
    size_t rl;
    int accepted = 0, fds[2], status = 0;
    pid_t pid;
    char ok = 0;

    CU_ASSERT_FATAL(make_tmpdir());
    fresh_state(spath, sizeof(spath), "sender");
    fresh_state(rpath, sizeof(rpath), "receiver");
    st_unique_name(name, sizeof(name), "two-rcv");
    snd = file_session(M2MSEC_SESSION_SENDER, name, spath, NULL, &sfs);
    CU_ASSERT_PTR_NOT_NULL_FATAL(snd);
    CU_ASSERT_FATAL(seal(snd, rec, &rl) == M2MSEC_SESSION_OK);

    /* In one process. */
    ra = file_session(M2MSEC_SESSION_RECEIVER, name, rpath, NULL, &fa);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ra);
    ERR_clear_error();
    rb = file_session(M2MSEC_SESSION_RECEIVER, name, rpath, NULL, &fb);
    CHECK(rb == NULL, "a second receiver on the same state");
    accepted += open1(ra, rec, rl) == M2MSEC_SESSION_OK;
    if (rb != NULL)
        accepted += open1(rb, rec, rl) == M2MSEC_SESSION_OK;
    CHECK(accepted == 1, "the record was accepted %d times", accepted);
    m2msec_session_free(rb);
    m2msec_session_free(ra);
    ERR_clear_error();

    /* In two processes: a child receiver holds the state; the parent's is refused. */
    CU_ASSERT_FATAL(seal(snd, rec, &rl) == M2MSEC_SESSION_OK);
    CU_ASSERT_FATAL(pipe(fds) == 0);
    fflush(NULL);
    pid = fork();
    CU_ASSERT_FATAL(pid >= 0);
    if (pid == 0) {
        m2msec_store cf;
        m2msec_session *c;
        char r;

        close(fds[0]);
        c = file_session(M2MSEC_SESSION_RECEIVER, name, rpath, NULL, &cf);
        r = c == NULL ? 'x' : open1(c, rec, rl) == M2MSEC_SESSION_OK ? 'y' : 'n';
        if (!write_full(fds[1], &r, 1))
            _exit(5);
        pause(); /* holds the state until killed */
        _exit(0);
    }
    close(fds[1]);
    CHECK(read_full(fds[0], &ok, 1) && ok == 'y', "the child receiver did not accept (%c)", ok);
    ERR_clear_error();
    rb = file_session(M2MSEC_SESSION_RECEIVER, name, rpath, NULL, &fb);
    CHECK(rb == NULL, "a second receiver process on the same state");
    accepted = ok == 'y';
    if (rb != NULL)
        accepted += open1(rb, rec, rl) == M2MSEC_SESSION_OK;
    CHECK(accepted == 1, "the record was accepted %d times by two receiver processes", accepted);
    m2msec_session_free(rb);
    ERR_clear_error();
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    close(fds[0]);
    /* The child is gone (crashed): its state refuses what it accepted. */
    rb = file_session(M2MSEC_SESSION_RECEIVER, name, rpath, NULL, &fb);
    CHECK(rb != NULL, "no receiver after the other process ended");
    CHECK(rb == NULL || open1(rb, rec, rl) != M2MSEC_SESSION_OK, "the record was accepted again");
    m2msec_session_free(rb);
    m2msec_session_free(snd);
    ERR_clear_error();
    remove_tree(tmpdir);
}

/* ======================================================================== */
/* 5. A deleted state                                                      */
/* ======================================================================== */

static void test_deleted_state(void)
{
    char path[512], name[64], want[900];
    m2msec_session_policy pol = {0};
    m2msec_store fs;
    m2msec_session *s;
    m2msec_session_stats st;
    unsigned char rec[RL];
    size_t rl;
    uint64_t last = 0;
    m2msec_session_status ss;

    CU_ASSERT_FATAL(make_tmpdir());
    st_unique_name(name, sizeof(name), "deleted");
    pol.max_records = 10;
    snprintf(want, sizeof(want),
             "no stored state at %s/never.state: if this is the session's first start, "
             "initialise it with m2msec_store_init() or `m2msec state init %s/never.state`",
             tmpdir, tmpdir);

    /* Never initialised: no session, nothing written. */
    {
        char never[512], nname[64];

        st_unique_name(nname, sizeof(nname), "never"); /* its own keys (key registry) */
        snprintf(never, sizeof(never), "%s/never.state", tmpdir);
        for (int r = 0; r < 2; r++) {
            ERR_clear_error();
            s = file_session(r == 0 ? M2MSEC_SESSION_SENDER : M2MSEC_SESSION_RECEIVER, nname, never,
                             &pol, &fs);
            CHECK(s == NULL, "%s: a session on a state that was never initialised",
                  r == 0 ? "sender" : "receiver");
            CHECK(s != NULL || errors_have(want, NULL), "the refusal does not say \"%s\"", want);
            CHECK(access(never, F_OK) != 0, "a state was created at %s", never);
            m2msec_session_free(s);
        }
    }

    /* Deleted between two lives: not a first start. */
    fresh_state(path, sizeof(path), "sender");
    s = file_session(M2MSEC_SESSION_SENDER, name, path, &pol, &fs);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    for (int i = 0; i < 40; i++)
        CHECK(seal(s, rec, &rl) == M2MSEC_SESSION_OK, "seal %d", i);
    m2msec_session_get_stats(s, &st);
    last = st.epoch;
    m2msec_session_free(s);
    CU_ASSERT_FATAL(unlink(path) == 0);
    ERR_clear_error();
    s = file_session(M2MSEC_SESSION_SENDER, name, path, &pol, &fs);
    CHECK(s == NULL, "a sender started on a deleted state (epochs up to %" PRIu64 " were used)",
          last);
    if (s != NULL) {
        m2msec_session_get_stats(s, &st);
        printf("\n    (before the fix: it started again at epoch %" PRIu64 ", below %" PRIu64 ") ",
               st.epoch, last);
        m2msec_session_free(s);
    } else {
        snprintf(want, sizeof(want), "no stored state at %s", path);
        CHECK(errors_have(want, NULL), "the refusal does not say \"%s\"", want);
    }
    CHECK(access(path, F_OK) != 0, "the deleted state was recreated");

    /* Deleted while a sender runs: the next epoch move is refused. */
    CU_ASSERT_FATAL(write_state(path, last, 0));
    ERR_clear_error();
    s = file_session(M2MSEC_SESSION_SENDER, name, path, &pol, &fs);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    CU_ASSERT_FATAL(unlink(path) == 0);
    ss = M2MSEC_SESSION_OK;
    for (int i = 0; i < 20 && ss == M2MSEC_SESSION_OK; i++)
        ss = seal(s, rec, &rl);
    CHECK(ss == M2MSEC_SESSION_ERR_STORAGE, "re-key after the state was deleted: %s",
          m2msec_session_status_text(ss));
    CHECK(ss != M2MSEC_SESSION_ERR_STORAGE ||
              errors_have("was deleted while this session held it", NULL),
          "the refusal does not say the state was deleted");
    CHECK(access(path, F_OK) != 0, "the deleted state was recreated by the running sender");
    /* And it stays stopped. */
    CHECK(seal(s, rec, &rl) == M2MSEC_SESSION_ERR_STORAGE, "the sender goes on after the deletion");
    m2msec_session_free(s);
    ERR_clear_error();
    remove_tree(tmpdir);
}

/* ======================================================================== */
/* 6. A state replaced while a session runs                                */
/* ======================================================================== */

static void test_replaced_state(void)
{
    char spath[512], rpath[512], name[64], backup[256], now[256];
    m2msec_session_policy pol = {0};
    m2msec_store sfs, rfs;
    m2msec_session *snd, *rcv;
    unsigned char rec[RL];
    size_t rl;
    m2msec_session_status ss = M2MSEC_SESSION_OK;
    uint64_t e0;
    int i;

    CU_ASSERT_FATAL(make_tmpdir());
    fresh_state(spath, sizeof(spath), "sender");
    fresh_state(rpath, sizeof(rpath), "receiver");
    st_unique_name(name, sizeof(name), "replaced");
    pol.max_records = 10; /* a re-key every 7 or 8 records */

    /* Sender: a backup of its state, then a re-key, then the backup restored. */
    snd = file_session(M2MSEC_SESSION_SENDER, name, spath, &pol, &sfs);
    CU_ASSERT_PTR_NOT_NULL_FATAL(snd);
    read_text(spath, backup, sizeof(backup));
    CU_ASSERT_FATAL(seal(snd, rec, &rl) == M2MSEC_SESSION_OK);
    e0 = st_header(rec).epoch;
    for (i = 0; i < 20 && st_header(rec).epoch == e0; i++)
        CU_ASSERT_FATAL(seal(snd, rec, &rl) == M2MSEC_SESSION_OK);
    CU_ASSERT_FATAL(st_header(rec).epoch == e0 + 1);
    {
        FILE *f = fopen(spath, "w");

        CU_ASSERT_PTR_NOT_NULL_FATAL(f);
        fputs(backup, f);
        fclose(f);
    }
    ERR_clear_error();
    for (i = 0; i < 20 && ss == M2MSEC_SESSION_OK; i++)
        ss = seal(snd, rec, &rl);
    CHECK(ss == M2MSEC_SESSION_ERR_STORAGE,
          "the sender re-keyed over a state restored from a backup (epoch %" PRIu64 "): %s",
          st_header(rec).epoch, m2msec_session_status_text(ss));
    CHECK(ss != M2MSEC_SESSION_ERR_STORAGE || errors_have("changed outside this session", NULL),
          "the refusal does not say the state changed outside the session");
    read_text(spath, now, sizeof(now));
    CHECK(strcmp(now, backup) == 0, "the restored state was overwritten: \"%s\"", now);
    CHECK(seal(snd, rec, &rl) == M2MSEC_SESSION_ERR_STORAGE, "the sender goes on");
    m2msec_session_free(snd);
    ERR_clear_error();

    /* Receiver: its floor state replaced by an older one; the next floor save is refused. */
    CU_ASSERT_FATAL(write_state(spath, e0 + 5, 0));
    snd = file_session(M2MSEC_SESSION_SENDER, name, spath, NULL, &sfs);
    rcv = file_session(M2MSEC_SESSION_RECEIVER, name, rpath, NULL, &rfs);
    CU_ASSERT_PTR_NOT_NULL_FATAL(snd);
    CU_ASSERT_PTR_NOT_NULL_FATAL(rcv);
    CHECK(seal(snd, rec, &rl) == M2MSEC_SESSION_OK && open1(rcv, rec, rl) == M2MSEC_SESSION_OK,
          "first record");
    read_text(rpath, backup, sizeof(backup));
    CHECK(seal(snd, rec, &rl) == M2MSEC_SESSION_OK && open1(rcv, rec, rl) == M2MSEC_SESSION_OK,
          "second record");
    CU_ASSERT_FATAL(write_state(rpath, 0, 0)); /* "restored": accepts everything again */
    ss = M2MSEC_SESSION_OK;
    for (i = 0; i < 50 && ss == M2MSEC_SESSION_OK; i++) {
        CU_ASSERT_FATAL(seal(snd, rec, &rl) == M2MSEC_SESSION_OK);
        ss = open1(rcv, rec, rl);
    }
    CHECK(ss == M2MSEC_SESSION_ERR_STORAGE, "the receiver saved over a replaced state: %s",
          m2msec_session_status_text(ss));
    CHECK(ss != M2MSEC_SESSION_ERR_STORAGE || errors_have("changed outside this session", NULL),
          "the refusal does not say the state changed outside the session");
    read_text(rpath, now, sizeof(now));
    CHECK(strcmp(now, "m2msec-state 1\nepoch 0\nseq-floor 0\n") == 0,
          "the replaced state was overwritten: \"%s\"", now);
    m2msec_session_free(rcv); /* no clean-shutdown save over it either */
    read_text(rpath, now, sizeof(now));
    CHECK(strcmp(now, "m2msec-state 1\nepoch 0\nseq-floor 0\n") == 0,
          "free saved over the replaced state: \"%s\"", now);
    m2msec_session_free(snd);
    ERR_clear_error();
    remove_tree(tmpdir);
}

int main(void)
{
    static const tc_test tests[] = {
        {"1 two sender processes on one state: the second is refused", test_two_sender_processes},
        {"2 two sessions on one state in one process: the second is refused",
         test_two_sessions_one_process},
        {"3 a session used in a forked child is refused; the parent goes on", test_fork},
        {"4 two receivers on one state: refused, no record accepted twice", test_two_receivers},
        {"5 a deleted state is refused, not a first start", test_deleted_state},
        {"6 a state replaced while a session runs: refused at the next save", test_replaced_state},
    };

    signal(SIGPIPE, SIG_IGN);
    return st_run("test_session_exclusive", "session exclusive", tests,
                  sizeof(tests) / sizeof(tests[0]));
}
