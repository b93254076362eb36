/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ESPrim state and limits (docs/PROTOCOL.md 9.6):
 *
 *  - the Receiver's state file: explicit first start (exact bytes, mode,
 *    lock file; never over an existing file), refused when missing,
 *    malformed (each way), written for another kid, or locked by another
 *    end; a state changed, deleted or whose lock file is replaced under a
 *    running end stops its saves, so it accepts no new session, while
 *    known sessions go on;
 *  - restarts: a session is written before its first primitive is
 *    delivered; after a restart every earlier session is closed (the
 *    replayed object and later objects of it refused), the receiver
 *    RandObjects stay valid, and a new originator RandObject is accepted
 *    without a new exchange;
 *  - expiry: originator RandObjects never outlive the receiver's, an
 *    expired one is replaced by itself, a captured object is refused once
 *    its RandObject expired, an expired receiver RandObject needs a new one;
 *  - limits: max_objects (both ends), max_cache (eviction closes the
 *    oldest other session), max_sessions.
 */
#include <sys/stat.h>
#include <sys/wait.h>

#include "esprim_test.h"

static m2msec_esprim_rand *issue(m2msec_esprim *recv, uint64_t expiry)
{
    m2msec_esprim_rand *r = m2msec_esprim_rand_new(recv, expiry);

    if (r == NULL)
        ERR_print_errors_fp(stderr);
    return r;
}

static int seal(m2msec_esprim *o, unsigned flags, const char *pt, char *out, size_t cap,
                size_t *len, m2msec_esprim_info *info)
{
    /* a failure leaves its error queued: the caller reads the reason */
    return m2msec_esprim_seal(o, flags, (const unsigned char *)pt, strlen(pt), out, cap, len, info);
}

/* Open and return the reason (0 on success). */
static int open_reason(m2msec_esprim *e, const char *jwe, size_t len, m2msec_esprim_info *info)
{
    unsigned char plain[4096];
    size_t pl;

    if (m2msec_esprim_open(e, jwe, len, plain, sizeof(plain), &pl, info))
        return 0;
    return et_reason();
}

/* ---------------------------------------------------------------- the file */

static void test_state_init_and_refusals(void)
{
    char path[600], got[512];
    struct stat sb;
    char *text;
    size_t len;
    m2msec_esprim *a, *b;
    static const struct {
        const char *what, *text;
    } bad[] = {
        {"empty", ""},
        {"wrong magic", "m2msec-esprim-state 2\nkid test-kid-1\n"},
        {"a session state", "m2msec-state 1\nepoch 0\nseq-floor 0\n"},
        {"no kid line", "m2msec-esprim-state 1\n"},
        {"no final newline", "m2msec-esprim-state 1\nkid test-kid-1"},
        {"CRLF", "m2msec-esprim-state 1\r\nkid test-kid-1\r\n"},
        {"blank line", "m2msec-esprim-state 1\nkid test-kid-1\n\n"},
        {"two spaces", "m2msec-esprim-state 1\nkid  test-kid-1\n"},
        {"trailing space", "m2msec-esprim-state 1\nkid test-kid-1 \n"},
        {"unknown line", "m2msec-esprim-state 1\nkid test-kid-1\nepoch 3\n"},
        {"rand with a short value",
         "m2msec-esprim-state 1\nkid test-kid-1\nrand r1 AAECAwQFBgcICQoLDA0O 2000000000 1 10\n"},
        {"rand with a leading zero", "m2msec-esprim-state 1\nkid test-kid-1\nrand r1 "
                                     "AAECAwQFBgcICQoLDA0ODw 02000000000 1 10\n"},
        {"rand with an empty list",
         "m2msec-esprim-state 1\nkid test-kid-1\nrand r1 AAECAwQFBgcICQoLDA0ODw 2000000000  10\n"},
        {"rand with a trailing comma", "m2msec-esprim-state 1\nkid test-kid-1\nrand r1 "
                                       "AAECAwQFBgcICQoLDA0ODw 2000000000 1 10,\n"},
        {"rand ID twice", "m2msec-esprim-state 1\nkid test-kid-1\n"
                          "rand r1 AAECAwQFBgcICQoLDA0ODw 2000000000 1 10\n"
                          "rand r1 AAECAwQFBgcICQoLDA0ODw 2000000001 1 10\n"},
        {"rand after a session", "m2msec-esprim-state 1\nkid test-kid-1\nsession r1 o1 2000000000\n"
                                 "rand r1 AAECAwQFBgcICQoLDA0ODw 2000000000 1 10\n"},
        {"session with a bad ID",
         "m2msec-esprim-state 1\nkid test-kid-1\nsession r1 1o 2000000000\n"},
        {"session twice", "m2msec-esprim-state 1\nkid test-kid-1\nsession r1 o1 2000000000\n"
                          "session r1 o1 2000000000\n"},
        {"expiry overflow",
         "m2msec-esprim-state 1\nkid test-kid-1\nsession r1 o1 18446744073709551616\n"},
        {"NUL byte", "m2msec-esprim-state 1\nkid test-kid-1\0\n"},
    };

    pathf(path, sizeof(path), "%s/init.state", et_dir);
    CHECK(!m2msec_esprim_state_init(path, "bad kid") && et_reason() == M2MSEC_R_INVALID_PARAMETER,
          "state_init refuses a kid with a space");
    CHECK(m2msec_esprim_state_init(path, ET_KID), "state_init on a new path");
    text = read_all(path, &len);
    CHECK(text != NULL && strcmp(text, "m2msec-esprim-state 1\nkid test-kid-1\n") == 0,
          "the initial state is exactly the documented two lines");
    free(text);
    CHECK(stat(path, &sb) == 0 && (sb.st_mode & 0777) == 0600, "mode 0600");
    {
        char lp[640];

        pathf(lp, sizeof(lp), "%s.lock", path);
        CHECK(lstat(lp, &sb) == 0 && S_ISREG(sb.st_mode), "the lock file is a regular file");
    }
    CHECK(!m2msec_esprim_state_init(path, ET_KID) &&
              et_reason_text("already exists", got, sizeof(got)) == M2MSEC_R_ESPRIM_STATE,
          "state_init over an existing state is refused (%s)", got);
    a = et_receiver(path, NULL);
    CHECK(a != NULL, "a receiver starts on it");
    b = et_receiver(path, NULL);
    CHECK(b == NULL &&
              et_reason_text("in use by another", got, sizeof(got)) == M2MSEC_R_ESPRIM_STATE,
          "a second receiver on the same state is refused (%s)", got);
    CHECK(!m2msec_esprim_state_init(path, ET_KID) && et_reason() == M2MSEC_R_ESPRIM_STATE,
          "state_init while a receiver holds it is refused");
    m2msec_esprim_free(a);
    b = et_receiver(path, NULL);
    CHECK(b != NULL, "after the first is freed, a receiver starts again");
    m2msec_esprim_free(b);
    {
        m2msec_esprim_config c;

        memset(&c, 0, sizeof(c));
        c.kid = "another-kid";
        b = et_receiver(path, &c);
        CHECK(b == NULL && et_reason_text("written for kid test-kid-1", got, sizeof(got)) ==
                               M2MSEC_R_ESPRIM_STATE,
              "a state written for another kid is refused (%s)", got);
    }
    pathf(path, sizeof(path), "%s/missing.state", et_dir);
    b = et_receiver(path, NULL);
    CHECK(b == NULL && et_reason_text("first start", got, sizeof(got)) == M2MSEC_R_ESPRIM_STATE,
          "a missing state is refused, not taken for a first start (%s)", got);
    CHECK(!file_exists(path), "and not created");
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        size_t l = strlen(bad[i].text);

        if (strcmp(bad[i].what, "NUL byte") == 0)
            l = 39;
        pathf(path, sizeof(path), "%s/bad%zu.state", et_dir, i);
        write_bytes(path, bad[i].text, l, 0600);
        b = et_receiver(path, NULL);
        CHECK(b == NULL && et_reason_text(NULL, got, sizeof(got)) == M2MSEC_R_ESPRIM_STATE,
              "state %s: refused (%s)", bad[i].what, got);
        m2msec_esprim_free(b);
        text = read_all(path, &len);
        CHECK(text != NULL && len == l && memcmp(text, bad[i].text, l) == 0,
              "state %s: left as it was", bad[i].what);
        free(text);
    }
    /* a symbolic link is not followed */
    pathf(path, sizeof(path), "%s/link.state", et_dir);
    {
        char target[640];

        pathf(target, sizeof(target), "%s/init.state", et_dir);
        CHECK(symlink(target, path) == 0, "symlink made");
        b = et_receiver(path, NULL);
        CHECK(b == NULL &&
                  et_reason_text("symbolic link", got, sizeof(got)) == M2MSEC_R_ESPRIM_STATE,
              "a state that is a symbolic link is refused (%s)", got);
    }
}

/* ---------------------------------------------------------------- restart */

static void test_restart(void)
{
    char path[600], req[4096], req2[4096], req3[4096], line[256], got[512], *text;
    m2msec_esprim *recv, *orig;
    m2msec_esprim_rand *r;
    m2msec_esprim_info oi, ri, oi3;
    size_t l1, l2, l3;

    et_state(path, sizeof(path), "restart.state");
    recv = et_receiver(path, NULL);
    orig = et_originator(NULL);
    r = recv != NULL ? issue(recv, 0) : NULL;
    CHECK(r != NULL && orig != NULL && m2msec_esprim_accept(orig, r), "ends");
    if (r == NULL || orig == NULL)
        goto end;
    text = read_all(path, NULL);
    snprintf(line, sizeof(line), "\nrand %s ", m2msec_esprim_rand_get_id(r));
    CHECK(text != NULL && strstr(text, line) != NULL,
          "the issued receiver RandObject is in the state before it is handed out");
    free(text);
    CHECK(seal(orig, 0, "before restart", req, sizeof(req), &l1, &oi), "request 1");
    CHECK(open_reason(recv, req, l1, &ri) == 0 && ri.new_session, "accepted: a new session");
    text = read_all(path, NULL);
    snprintf(line, sizeof(line), "\nsession %s %s ", oi.rri, oi.ori);
    CHECK(text != NULL && strstr(text, line) != NULL,
          "the session was written to the state (before delivery)");
    free(text);
    CHECK(seal(orig, 0, "in flight", req2, sizeof(req2), &l2, NULL), "request 2 sealed");
    /* restart: a clean free, then a new receiver on the same state */
    m2msec_esprim_free(recv);
    recv = et_receiver(path, NULL);
    CHECK(recv != NULL, "the receiver restarts");
    if (recv == NULL)
        goto end;
    CHECK(open_reason(recv, req, l1, NULL) == M2MSEC_R_ESPRIM_CLOSED,
          "the object accepted before the restart is refused after it (session closed)");
    CHECK(open_reason(recv, req2, l2, NULL) == M2MSEC_R_ESPRIM_CLOSED,
          "an object of that session never seen is refused too (it may have been)");
    CHECK(seal(orig, M2MSEC_ESPRIM_SEAL_NEW_SESSION, "after restart", req3, sizeof(req3), &l3,
               &oi3) &&
              oi3.new_session && strcmp(oi3.rri, oi.rri) == 0,
          "the originator answers with a new RandObject, same receiver RandObject");
    CHECK(open_reason(recv, req3, l3, &ri) == 0 && ri.new_session,
          "accepted: the receiver RandObject survived the restart, no new exchange");
    /* a crash is the same: the session was written before delivery */
    {
        pid_t pid;
        int st;
        char req4[4096], marker[640];
        size_t l4;

        CHECK(seal(orig, M2MSEC_ESPRIM_SEAL_NEW_SESSION, "crash", req4, sizeof(req4), &l4, NULL),
              "request 4");
        m2msec_esprim_free(recv);
        recv = NULL;
        pathf(marker, sizeof(marker), "%s/crash.accepted", et_dir);
        fflush(NULL);
        pid = fork();
        if (pid == 0) {
            m2msec_esprim *child = et_receiver(path, NULL);
            unsigned char p[64];
            size_t pl;
            char *before, *after;
            int ok = child != NULL && m2msec_esprim_open(child, req4, l4, p, sizeof(p), &pl, NULL);

            /*
             * The state already holds the session when the primitive is
             * delivered: what a crash would leave. Freeing writes nothing
             * (checked), so stopping here is a crash as far as the state
             * goes; the child frees its memory for valgrind's sake.
             */
            before = read_all(path, NULL);
            m2msec_esprim_free(child);
            after = read_all(path, NULL);
            if (ok && before != NULL && after != NULL && strcmp(before, after) == 0)
                write_file(marker, "accepted", 8, 0600);
            free(before);
            free(after);
            m2msec_esprim_free(orig);
            m2msec_esprim_rand_free(r);
            _exit(0);
        }
        CHECK(pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st) && file_exists(marker),
              "a child receiver accepted request 4 and stopped (its free wrote nothing)");
        recv = et_receiver(path, NULL);
        CHECK(recv != NULL && open_reason(recv, req4, l4, NULL) == M2MSEC_R_ESPRIM_CLOSED,
              "after the crash, request 4 is refused (session closed)");
    }
    /* a state changed under a running receiver: no new session, known ones go on */
    if (recv != NULL) {
        char req5[4096], req6[4096];
        size_t l5, l6;
        FILE *f;

        CHECK(seal(orig, M2MSEC_ESPRIM_SEAL_NEW_SESSION, "five", req5, sizeof(req5), &l5, NULL) &&
                  open_reason(recv, req5, l5, NULL) == 0,
              "a new session before the change");
        f = fopen(path, "a");
        fputs("session rX oX 4000000000\n", f);
        fclose(f);
        CHECK(seal(orig, 0, "six", req6, sizeof(req6), &l6, NULL) &&
                  open_reason(recv, req6, l6, NULL) == 0,
              "the known session goes on (nothing to save)");
        CHECK(seal(orig, M2MSEC_ESPRIM_SEAL_NEW_SESSION, "seven", req6, sizeof(req6), &l6, NULL),
              "request 7, a new session");
        {
            unsigned char p[64];
            size_t pl = 77;
            int ok = m2msec_esprim_open(recv, req6, l6, p, sizeof(p), &pl, NULL);

            CHECK(!ok &&
                      et_reason_text("changed outside", got, sizeof(got)) ==
                          M2MSEC_R_ESPRIM_STATE &&
                      pl == 0,
                  "a new session after the state changed under the receiver is refused (%s)", got);
        }
        CHECK(m2msec_esprim_rand_new(recv, 0) == NULL && et_reason() == M2MSEC_R_ESPRIM_STATE,
              "and it issues no RandObject");
    }
    m2msec_esprim_rand_free(r);
end:
    ERR_print_errors_fp(stderr);
    m2msec_esprim_free(recv);
    m2msec_esprim_free(orig);
}

static void test_deleted_state_and_lock(void)
{
    char path[600], lp[640], req[4096], got[512];
    m2msec_esprim *recv, *orig;
    m2msec_esprim_rand *r;
    size_t l;

    et_state(path, sizeof(path), "deleted.state");
    recv = et_receiver(path, NULL);
    orig = et_originator(NULL);
    r = recv != NULL ? issue(recv, 0) : NULL;
    CHECK(r != NULL && orig != NULL && m2msec_esprim_accept(orig, r), "ends");
    if (r == NULL || orig == NULL)
        goto end;
    unlink(path);
    CHECK(seal(orig, 0, "x", req, sizeof(req), &l, NULL) &&
              open_reason(recv, req, l, NULL) == M2MSEC_R_ESPRIM_STATE,
          "state deleted under the receiver: a new session is refused");
    CHECK(!file_exists(path), "and the state is not recreated");
    m2msec_esprim_free(recv);
    et_state(path, sizeof(path), "lock.state");
    recv = et_receiver(path, NULL);
    pathf(lp, sizeof(lp), "%s.lock", path);
    CHECK(recv != NULL && unlink(lp) == 0, "lock file removed under a running receiver");
    m2msec_esprim_rand_free(r);
    r = recv != NULL ? m2msec_esprim_rand_new(recv, 0) : NULL;
    CHECK(r == NULL &&
              et_reason_text("lock file was removed", got, sizeof(got)) == M2MSEC_R_ESPRIM_STATE,
          "its next save is refused (%s)", got);
end:
    m2msec_esprim_rand_free(r);
    ERR_print_errors_fp(stderr);
    m2msec_esprim_free(recv);
    m2msec_esprim_free(orig);
}

/* ---------------------------------------------------------------- expiry */

static void test_expiry(void)
{
    char path[600], req[4096], old[4096], *text;
    m2msec_esprim *recv, *orig;
    m2msec_esprim_rand *r, *r2 = NULL;
    m2msec_esprim_info oi;
    m2msec_esprim_config c;
    size_t l, lo;
    m2m_jwe w;

    m2m_esp_test_set_time(ET_T0);
    et_state(path, sizeof(path), "expiry.state");
    recv = et_receiver(path, NULL);
    memset(&c, 0, sizeof(c));
    c.rand_lifetime = 30;
    orig = et_originator(&c);
    r = recv != NULL ? issue(recv, ET_T0 + 100) : NULL;
    CHECK(r != NULL && orig != NULL && m2msec_esprim_accept(orig, r), "ends");
    if (r == NULL || orig == NULL)
        goto end;
    CHECK(!m2msec_esprim_rand_new(recv, ET_T0) && et_reason() == M2MSEC_R_INVALID_PARAMETER,
          "a RandObject that expires now is refused");
    CHECK(seal(orig, 0, "t0", old, sizeof(old), &lo, &oi) && m2m_jwe_parse(old, lo, &w) &&
              w.has_oro && w.oro.expiry == ET_T0 + 30,
          "originator RandObject: now + rand_lifetime (30 s)");
    CHECK(open_reason(recv, old, lo, NULL) == 0, "accepted");
    m2m_esp_test_set_time(ET_T0 + 31);
    CHECK(open_reason(recv, old, lo, NULL) == M2MSEC_R_ESPRIM_EXPIRED,
          "the captured object, replayed after its RandObject expired: expired");
    /* regression (found by fuzz_jwe): its session is forgotten now; a clock set back must not
       make the object valid again */
    m2m_esp_test_set_time(ET_T0 + 5);
    CHECK(open_reason(recv, old, lo, NULL) == M2MSEC_R_ESPRIM_EXPIRED,
          "the wall clock set back 26 s: the captured object is still refused (an end's clock "
          "never goes back)");
    m2m_esp_test_set_time(ET_T0 + 31);
    CHECK(seal(orig, 0, "t31", req, sizeof(req), &l, &oi) && oi.new_session &&
              m2m_jwe_parse(req, l, &w) && w.oro.expiry == ET_T0 + 61,
          "the originator replaced its expired RandObject by itself");
    CHECK(open_reason(recv, req, l, NULL) == 0, "accepted");
    m2m_esp_test_set_time(ET_T0 + 80);
    CHECK(seal(orig, M2MSEC_ESPRIM_SEAL_NEW_SESSION, "t80", req, sizeof(req), &l, &oi) &&
              m2m_jwe_parse(req, l, &w) && w.oro.expiry == ET_T0 + 100,
          "capped at the receiver RandObject's expiry (TS-0003 8.4.2 B.2g)");
    CHECK(open_reason(recv, req, l, NULL) == 0, "accepted");
    m2m_esp_test_set_time(ET_T0 + 100);
    CHECK(!seal(orig, 0, "t100", req, sizeof(req), &l, NULL) &&
              et_reason() == M2MSEC_R_ESPRIM_EXPIRED,
          "the receiver RandObject expired: sealing refused (request a new one)");
    r2 = issue(recv, 0);
    CHECK(r2 != NULL && m2msec_esprim_accept(orig, r2) &&
              seal(orig, 0, "t100b", req, sizeof(req), &l, &oi) && oi.new_session &&
              open_reason(recv, req, l, NULL) == 0,
          "a fresh exchange: new receiver RandObject, new session, accepted");
    CHECK(!m2msec_esprim_accept(orig, r) && et_reason() == M2MSEC_R_ESPRIM_EXPIRED,
          "an expired receiver RandObject is not accepted");
    text = read_all(path, NULL);
    CHECK(text != NULL && strstr(text, "session") != NULL && strstr(text, oi.ori) != NULL,
          "the state holds the live session");
    {
        char line[128];

        snprintf(line, sizeof(line), "session %s", m2msec_esprim_rand_get_id(r));
        CHECK(text != NULL && strstr(text, line) == NULL,
              "expired sessions were dropped from the state when it was written");
    }
    free(text);
end:
    m2m_esp_test_set_time(0);
    m2msec_esprim_rand_free(r);
    m2msec_esprim_rand_free(r2);
    ERR_print_errors_fp(stderr);
    m2msec_esprim_free(recv);
    m2msec_esprim_free(orig);
}

/* ---------------------------------------------------------------- limits */

static void test_limits(void)
{
    char path[600], req[4096], a_old[4096];
    m2msec_esprim *recv, *oa, *ob, *oc;
    m2msec_esprim_rand *r;
    m2msec_esprim_info oi;
    m2msec_esprim_config rc, occ;
    m2msec_esprim_stats st;
    size_t l = 0, la = 0;
    int ok;

    /* the originator's own budget */
    memset(&occ, 0, sizeof(occ));
    occ.max_objects = 3;
    et_state(path, sizeof(path), "limits1.state");
    recv = et_receiver(path, NULL);
    oa = et_originator(&occ);
    r = recv != NULL ? issue(recv, 0) : NULL;
    CHECK(r != NULL && oa != NULL && m2msec_esprim_accept(oa, r), "ends");
    if (r == NULL || oa == NULL)
        goto one_end;
    ok = 1;
    for (int i = 0; i < 7; i++) {
        ok &= seal(oa, 0, "budget", req, sizeof(req), &l, &oi) && oi.new_session == (i % 3 == 0) &&
              open_reason(recv, req, l, NULL) == 0;
    }
    CHECK(ok, "max_objects 3: the originator starts a new RandObject every 3 objects");
one_end:
    m2msec_esprim_rand_free(r);
    m2msec_esprim_free(oa);
    m2msec_esprim_free(recv);

    /* the receiver's budget and cache */
    memset(&rc, 0, sizeof(rc));
    rc.max_objects = 2;
    rc.max_cache = 3;
    rc.max_sessions = 2;
    et_state(path, sizeof(path), "limits2.state");
    m2m_esp_test_set_time(ET_T0);
    recv = et_receiver(path, &rc);
    memset(&occ, 0, sizeof(occ));
    occ.rand_lifetime = 50;
    oa = et_originator(&occ);
    ob = et_originator(&occ);
    oc = et_originator(&occ);
    r = recv != NULL ? issue(recv, ET_T0 + 1000) : NULL;
    CHECK(r != NULL && oa != NULL && ob != NULL && oc != NULL && m2msec_esprim_accept(oa, r) &&
              m2msec_esprim_accept(ob, r) && m2msec_esprim_accept(oc, r),
          "ends");
    if (r == NULL || oa == NULL || ob == NULL || oc == NULL)
        goto two_end;
    CHECK(seal(oa, 0, "a1", req, sizeof(req), &l, NULL) && open_reason(recv, req, l, NULL) == 0 &&
              seal(oa, 0, "a2", a_old, sizeof(a_old), &la, NULL) &&
              open_reason(recv, a_old, la, NULL) == 0,
          "session A: two objects");
    CHECK(seal(oa, 0, "a3", req, sizeof(req), &l, NULL) &&
              open_reason(recv, req, l, NULL) == M2MSEC_R_ESPRIM_LIMIT,
          "receiver max_objects 2: the third object of session A is refused (limit)");
    CHECK(seal(ob, 0, "b1", req, sizeof(req), &l, NULL) && open_reason(recv, req, l, NULL) == 0,
          "session B: first object (3 IVs: the cache is full)");
    CHECK(seal(ob, 0, "b2", req, sizeof(req), &l, NULL) && open_reason(recv, req, l, NULL) == 0,
          "session B: second object, accepted by closing the oldest other session (A)");
    m2msec_esprim_get_stats(recv, &st);
    CHECK(st.ivs <= 3 && st.open_sessions == 1 && st.sessions == 2,
          "at most max_cache IVs remembered (%llu), A closed", (unsigned long long)st.ivs);
    CHECK(open_reason(recv, a_old, la, NULL) == M2MSEC_R_ESPRIM_CLOSED,
          "A's object replayed after its IVs were dropped: refused (closed), not accepted");
    CHECK(seal(oc, 0, "c1", req, sizeof(req), &l, NULL) &&
              open_reason(recv, req, l, NULL) == M2MSEC_R_ESPRIM_LIMIT,
          "max_sessions 2: a third session is refused (limit)");
    m2m_esp_test_set_time(ET_T0 + 51);
    CHECK(seal(oc, 0, "c2", req, sizeof(req), &l, &oi) && open_reason(recv, req, l, NULL) == 0,
          "once sessions A and B expired, the third is accepted");
    CHECK(seal(oa, M2MSEC_ESPRIM_SEAL_NEW_SESSION, "a4", req, sizeof(req), &l, NULL) &&
              open_reason(recv, req, l, NULL) == 0,
          "A with a new RandObject is accepted too");
two_end:
    m2m_esp_test_set_time(0);
    m2msec_esprim_rand_free(r);
    m2msec_esprim_free(oa);
    m2msec_esprim_free(ob);
    m2msec_esprim_free(oc);
    m2msec_esprim_free(recv);
    ERR_print_errors_fp(stderr);
}

/* Many objects: memory stays within max_cache, every object accepted exactly once. */
static void test_many(void)
{
    char path[600], *objs[600];
    size_t lens[600];
    m2msec_esprim *recv, *orig;
    m2msec_esprim_rand *r;
    m2msec_esprim_config rc, occ;
    m2msec_esprim_stats st;
    int accepted = 0, replays = 0, n = 600;

    memset(&rc, 0, sizeof(rc));
    rc.max_cache = 256;
    memset(&occ, 0, sizeof(occ));
    occ.max_objects = 100;
    et_state(path, sizeof(path), "many.state");
    recv = et_receiver(path, &rc);
    orig = et_originator(&occ);
    r = recv != NULL ? issue(recv, 0) : NULL;
    CHECK(r != NULL && orig != NULL && m2msec_esprim_accept(orig, r), "ends");
    if (r == NULL || orig == NULL)
        goto end;
    for (int i = 0; i < n; i++) {
        char pt[32];

        objs[i] = malloc(4096);
        snprintf(pt, sizeof(pt), "object %d", i);
        if (!seal(orig, 0, pt, objs[i], 4096, &lens[i], NULL))
            lens[i] = 0;
        if (open_reason(recv, objs[i], lens[i], NULL) == 0)
            accepted++;
    }
    for (int i = 0; i < n; i++) {
        int reason = open_reason(recv, objs[i], lens[i], NULL);

        replays += reason == M2MSEC_R_ESPRIM_REPLAY || reason == M2MSEC_R_ESPRIM_CLOSED;
        free(objs[i]);
    }
    m2msec_esprim_get_stats(recv, &st);
    CHECK(accepted == n && replays == n,
          "%d objects over 6 originator RandObjects: all accepted once (%d), every replay "
          "refused (%d)",
          n, accepted, replays);
    CHECK(st.ivs <= 256 && st.state_saves == 7,
          "IVs remembered %llu <= max_cache 256; %llu state writes (1 RandObject + 6 sessions)",
          (unsigned long long)st.ivs, (unsigned long long)st.state_saves);
end:
    m2msec_esprim_rand_free(r);
    ERR_print_errors_fp(stderr);
    m2msec_esprim_free(recv);
    m2msec_esprim_free(orig);
}

static int init(void)
{
    return et_setup() ? 0 : 1;
}

static int cleanup(void)
{
    et_teardown();
    return 0;
}

int main(void)
{
    static const tc_test tests[] = {
        {"state file: first start, refusals, lock", test_state_init_and_refusals},
        {"restarts close sessions, RandObjects survive", test_restart},
        {"state deleted or lock file removed under a receiver", test_deleted_state_and_lock},
        {"expiry", test_expiry},
        {"limits: max_objects, max_cache, max_sessions", test_limits},
        {"many objects, bounded memory", test_many},
    };

    return tc_run("test_esprim_state", "esprim_state", init, cleanup, tests,
                  sizeof(tests) / sizeof(tests[0]));
}
