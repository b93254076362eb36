/* SPDX-License-Identifier: Apache-2.0 */
/*
 * store_bench: gateway-scale receiver state (issue 13 point 3). For N
 * receiver sessions (default 10,000; -L adds 100,000), each with its own
 * device key name, on the file store (one state file per device) and on
 * the LMDB store (one environment, group commit), in the same run:
 *
 *   memory per session   malloc'd bytes (mallinfo2) per receiver session and
 *                        its store, after creating all N
 *   durable saves/s      the first record of every device makes its receiver
 *                        save its state (new epoch) before the record is
 *                        delivered: N saves, from T threads (-t, default 64)
 *                        each serving N/T devices, as a gateway would
 *   fsyncs/s             fsync() and fdatasync() calls counted by wrapping
 *                        them (this executable exports both), plus LMDB's
 *                        synchronous meta-page write (one per commit, an
 *                        O_DSYNC pwrite, not a call to either)
 *   opens/s              records opened per second over all sessions after
 *                        the first (steady state: the floor is saved at most
 *                        about once per second per session), wall time
 *
 * Wall time throughout: the cost is in fsync and in waiting for commits,
 * which thread CPU time does not see. The file store needs one descriptor
 * per session (its lock); where N exceeds RLIMIT_NOFILE it is reported as
 * not possible instead of measured.
 *
 *   build/bench/store_bench -p build/provider [-n N] [-L] [-t THREADS] [-d DIR]
 */
#define _GNU_SOURCE

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#include <openssl/err.h>
#include <openssl/provider.h>

#include "m2msec/m2msec.h"
#include "m2msec/session.h"
#include "bench_timing.h"

#define LEN 64
#define RL (LEN + 27)
#define RECS 4 /* records per device: the first saves, the others are steady-state opens */

static atomic_ulong n_fsync;

/* Counting wrappers: libm2msec and liblmdb call these through the PLT. */
int fsync(int fd)
{
    static int (*real)(int);

    if (real == NULL) {
        void *sym = dlsym(RTLD_NEXT, "fsync");

        memcpy(&real, &sym, sizeof(real)); /* POSIX: dlsym's result is the function */
    }
    atomic_fetch_add(&n_fsync, 1);
    return real(fd);
}

int fdatasync(int fd)
{
    static int (*real)(int);

    if (real == NULL) {
        void *sym = dlsym(RTLD_NEXT, "fdatasync");

        memcpy(&real, &sym, sizeof(real)); /* POSIX: dlsym's result is the function */
    }
    atomic_fetch_add(&n_fsync, 1);
    return real(fd);
}

static void die(const char *what)
{
    fprintf(stderr, "store_bench: %s\n", what);
    ERR_print_errors_fp(stderr);
    exit(1);
}

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const unsigned char key[32] = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11,
                                      12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22,
                                      23, 24, 25, 26, 27, 28, 29, 30, 31};

/* ---- memory store for the senders (they only make the records) ---- */
static int mem_lock(void *arg, void **h)
{
    *h = arg;
    return 1;
}
static int mem_load(void *arg, void *h, m2msec_session_state *st)
{
    (void)h;
    *st = *(m2msec_session_state *)arg;
    return 1;
}
static int mem_save(void *arg, void *h, const m2msec_session_state *st)
{
    (void)h;
    *(m2msec_session_state *)arg = *st;
    return 1;
}
static void mem_unlock(void *arg, void *h)
{
    (void)arg;
    (void)h;
}

typedef struct {
    size_t n;
    unsigned threads;
    unsigned char *recs; /* n * RECS records */
    size_t *rlen;
    m2msec_store *stores;
    m2msec_session **rcv;
    int is_lmdb;
    m2msec_store_lmdb_env *env;
    const char *dir;
    atomic_ulong fails;
} run;

/* one generation per size: the provider refuses a sender key used before in the process */
static unsigned generation;

static void device_name(char *buf, size_t len, size_t i)
{
    snprintf(buf, len, "g%u-dev-%zu", generation, i);
}

static m2msec_session *new_session(m2msec_session_role role, size_t i, const m2msec_store *st)
{
    m2msec_session_config cfg = {0};
    char orig[32];

    device_name(orig, sizeof(orig), i);
    cfg.role = role;
    cfg.key = key;
    cfg.key_len = sizeof(key);
    cfg.originator = orig;
    cfg.receiver = "IN-CSE-gateway";
    cfg.store = st;
    return m2msec_session_new(&cfg);
}

static void make_records(run *r)
{
    r->recs = malloc(r->n * RECS * RL);
    r->rlen = malloc(r->n * RECS * sizeof(size_t));
    if (r->recs == NULL || r->rlen == NULL)
        die("out of memory for the records");
    for (size_t i = 0; i < r->n; i++) {
        m2msec_session_state mst = {0, 0};
        m2msec_store ms = {mem_lock, mem_load, mem_save, mem_unlock, &mst, "mem", NULL};
        m2msec_session *s = new_session(M2MSEC_SESSION_SENDER, i, &ms);
        unsigned char pt[LEN];

        if (s == NULL)
            die("cannot make a sender");
        memset(pt, (int)i, sizeof(pt));
        for (int k = 0; k < RECS; k++)
            if (m2msec_session_seal(s, pt, sizeof(pt), r->recs + (i * RECS + k) * RL, RL,
                                    &r->rlen[i * RECS + k], NULL) != 1)
                die("seal failed");
        m2msec_session_free(s);
    }
}

/* ---- the worker threads: thread t serves devices t, t + T, ... ---- */
typedef struct {
    run *r;
    unsigned id;
    int phase; /* 0: init the stores, 1: first record, 2: the other records, 3: store calls */
} job;

static void *worker(void *p)
{
    job *j = p;
    run *r = j->r;
    unsigned char out[RL];
    size_t olen;

    for (size_t i = j->id; i < r->n; i += r->threads) {
        if (j->phase == 0) {
            if (!m2msec_store_init(&r->stores[i]))
                atomic_fetch_add(&r->fails, 1);
        } else if (j->phase == 3) {
            /* what a session's first save does, without the session: lock, read back, save */
            m2msec_session_state st = {0, 0}, next = {1, 1};
            void *h;

            if (r->stores[i].lock(r->stores[i].arg, &h) != 1) {
                atomic_fetch_add(&r->fails, 1);
                continue;
            }
            if (r->stores[i].load(r->stores[i].arg, h, &st) != 1 ||
                r->stores[i].save(r->stores[i].arg, h, &next) != 1)
                atomic_fetch_add(&r->fails, 1);
            r->stores[i].unlock(r->stores[i].arg, h);
        } else if (j->phase == 1) {
            if (m2msec_session_open(r->rcv[i], r->recs + i * RECS * RL, r->rlen[i * RECS], out,
                                    sizeof(out), &olen, NULL) != 1)
                atomic_fetch_add(&r->fails, 1);
        } else {
            for (int k = 1; k < RECS; k++)
                if (m2msec_session_open(r->rcv[i], r->recs + (i * RECS + k) * RL,
                                        r->rlen[i * RECS + k], out, sizeof(out), &olen, NULL) != 1)
                    atomic_fetch_add(&r->fails, 1);
        }
    }
    ERR_clear_error();
    return NULL;
}

static double in_threads(run *r, int phase)
{
    pthread_t *th = calloc(r->threads, sizeof(*th));
    job *jobs = calloc(r->threads, sizeof(*jobs));
    double t0 = now_s();

    if (th == NULL || jobs == NULL)
        die("out of memory");
    for (unsigned t = 0; t < r->threads; t++) {
        jobs[t] = (job){r, t, phase};
        if (pthread_create(&th[t], NULL, worker, &jobs[t]) != 0)
            die("pthread_create failed");
    }
    for (unsigned t = 0; t < r->threads; t++)
        pthread_join(th[t], NULL);
    t0 = now_s() - t0;
    free(th);
    free(jobs);
    return t0;
}

static void remove_tree(const char *path)
{
    DIR *d = opendir(path);
    struct dirent *e;
    char p[4400];

    if (d == NULL)
        return;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(p, sizeof(p), "%s/%s", path, e->d_name);
        unlink(p);
    }
    closedir(d);
    rmdir(path);
}

/*
 * The file store where N sessions cannot be held open: the store calls of
 * one save per device (lock, read back, save, unlock) from the same
 * threads, without sessions (no memory or open figures).
 */
static void store_only(size_t n, unsigned threads, const char *base, run *r)
{
    char dir[4096], path[4200], name[32];
    unsigned long f0, f1;
    double t;

    snprintf(dir, sizeof(dir), "%s/m2msec-storebench-XXXXXX", base);
    if (mkdtemp(dir) == NULL)
        die("cannot make a temporary directory (-d DIR)");
    r->threads = threads;
    r->fails = 0;
    if ((r->stores = calloc(n, sizeof(*r->stores))) == NULL)
        die("out of memory");
    for (size_t i = 0; i < n; i++) {
        device_name(name, sizeof(name), i);
        snprintf(path, sizeof(path), "%s/%s.state", dir, name);
        if (!m2msec_store_file(&r->stores[i], path))
            die("m2msec_store_file failed");
    }
    in_threads(r, 0);
    f0 = atomic_load(&n_fsync);
    t = in_threads(r, 3);
    f1 = atomic_load(&n_fsync);
    if (r->fails != 0)
        die("a file store save failed");
    printf("  %-10s %7zu states, store calls only:    durable saves %8.0f/s, syncs %7.0f/s "
           "(%.3f per save)\n",
           "file store", n, (double)n / t, (double)(f1 - f0) / t, (double)(f1 - f0) / (double)n);
    for (size_t i = 0; i < n; i++)
        m2msec_store_clear(&r->stores[i]);
    free(r->stores);
    r->stores = NULL;
    remove_tree(dir);
}

static void measure(size_t n, unsigned threads, int is_lmdb, const char *base, run *shared)
{
    char dir[4096], path[4200], name[32];
    run *r = shared;
    size_t m0, m_store, m1;
    double t_save, t_open;
    unsigned long f0, f1, f2;
    m2msec_store_lmdb_stats st0 = {0}, st1 = {0};
    struct rlimit rl;
    const char *label = is_lmdb ? "LMDB store" : "file store";

    if (!is_lmdb && getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < n + 256) {
        printf("  %-10s %7zu sessions: not possible here: one descriptor per session (its lock), "
               "RLIMIT_NOFILE is %llu\n",
               label, n, (unsigned long long)rl.rlim_cur);
        store_only(n, threads, base, r);
        return;
    }
    snprintf(dir, sizeof(dir), "%s/m2msec-storebench-XXXXXX", base);
    if (mkdtemp(dir) == NULL)
        die("cannot make a temporary directory (-d DIR)");
    r->is_lmdb = is_lmdb;
    r->threads = threads;
    r->fails = 0;
    r->stores = calloc(n, sizeof(*r->stores));
    r->rcv = calloc(n, sizeof(*r->rcv));
    if (r->stores == NULL || r->rcv == NULL)
        die("out of memory");
    if (is_lmdb) {
        snprintf(path, sizeof(path), "%s/states.mdb", dir);
        if ((r->env = m2msec_store_lmdb_env_new(path, 0)) == NULL)
            die("cannot open the LMDB environment");
    }
    m0 = mallinfo2().uordblks;
    for (size_t i = 0; i < n; i++) {
        device_name(name, sizeof(name), i);
        if (is_lmdb) {
            if (!m2msec_store_lmdb(&r->stores[i], r->env, name))
                die("m2msec_store_lmdb failed");
        } else {
            snprintf(path, sizeof(path), "%s/%s.state", dir, name);
            if (!m2msec_store_file(&r->stores[i], path))
                die("m2msec_store_file failed");
        }
    }
    m_store = mallinfo2().uordblks - m0;
    /* first start of every device (not timed as part of the figures) */
    in_threads(r, 0);
    if (r->fails != 0)
        die("m2msec_store_init failed");
    m1 = mallinfo2().uordblks;
    for (size_t i = 0; i < n; i++)
        if ((r->rcv[i] = new_session(M2MSEC_SESSION_RECEIVER, i, &r->stores[i])) == NULL)
            die("cannot make a receiver session");
    /* the session and its store's allocation (not the kernel's descriptor or LMDB's map) */
    m1 = mallinfo2().uordblks - m1 + m_store;
    if (is_lmdb)
        m2msec_store_lmdb_env_get_stats(r->env, &st0);
    f0 = atomic_load(&n_fsync);
    t_save = in_threads(r, 1);
    f1 = atomic_load(&n_fsync);
    if (is_lmdb)
        m2msec_store_lmdb_env_get_stats(r->env, &st1);
    t_open = in_threads(r, 2);
    f2 = atomic_load(&n_fsync);
    if (r->fails != 0)
        die("a genuine record was refused");
    {
        unsigned long syncs = f1 - f0 + (unsigned long)(st1.commits - st0.commits);

        printf("  %-10s %7zu sessions: %6.0f B/session | durable saves %8.0f/s, syncs %7.0f/s "
               "(%.3f per save",
               label, n, (double)m1 / (double)n, (double)n / t_save, (double)syncs / t_save,
               (double)syncs / (double)n);
        if (is_lmdb)
            printf(", %llu commits, largest batch %llu",
                   (unsigned long long)(st1.commits - st0.commits),
                   (unsigned long long)st1.largest_batch);
        printf(") | opens %8.0f/s (%lu syncs during them)\n", (double)(n * (RECS - 1)) / t_open,
               f2 - f1);
    }
    for (size_t i = 0; i < n; i++) {
        m2msec_session_free(r->rcv[i]);
        m2msec_store_clear(&r->stores[i]);
    }
    ERR_clear_error();
    if (is_lmdb) {
        m2msec_store_lmdb_env_free(r->env);
        r->env = NULL;
    }
    free(r->stores);
    free(r->rcv);
    remove_tree(dir);
}

int main(int argc, char **argv)
{
    const char *dir = NULL, *base = getenv("TMPDIR");
    OSSL_PROVIDER *m2m, *dflt = NULL;
    size_t sizes[2] = {10000, 0};
    unsigned threads = 64;
    struct rlimit rl;
    int c;

    while ((c = getopt(argc, argv, "p:n:Lt:d:h")) != -1) {
        switch (c) {
        case 'p':
            dir = optarg;
            break;
        case 'n':
            sizes[0] = (size_t)strtoull(optarg, NULL, 10);
            break;
        case 'L':
            sizes[1] = 100000;
            break;
        case 't':
            threads = (unsigned)strtoul(optarg, NULL, 10);
            break;
        case 'd':
            base = optarg;
            break;
        default:
            fprintf(stderr, "usage: store_bench [-p PROVIDER_DIR] [-n SESSIONS (10000)] [-L (also "
                            "100000)] [-t THREADS (64)] [-d DIR]\n");
            return c == 'h' ? 0 : 2;
        }
    }
    if (sizes[0] == 0 || threads == 0)
        die("-n and -t must be positive");
    if (base == NULL || *base == '\0')
        base = "/tmp";
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
    }
    if ((m2m = m2msec_provider_load(NULL, dir != NULL && *dir != '\0' ? dir : NULL, &dflt)) == NULL)
        die("cannot load the m2msec provider (-p DIR or M2M_MODULES)");
    bt_load("store_bench", "at the start");
    printf("store_bench: receiver sessions on the file store and on the LMDB store, %u threads, "
           "state in %s, %d records of %d B per device\n",
           threads, base, RECS, LEN);
    for (int k = 0; k < 2 && sizes[k] != 0; k++) {
        run r = {0};

        r.n = sizes[k];
        generation = (unsigned)k;
        make_records(&r);
        measure(r.n, threads, 0, base, &r);
        measure(r.n, threads, 1, base, &r);
        free(r.recs);
        free(r.rlen);
    }
    bt_load("store_bench", "at the end");
    OSSL_PROVIDER_unload(m2m);
    OSSL_PROVIDER_unload(dflt);
    return 0;
}
