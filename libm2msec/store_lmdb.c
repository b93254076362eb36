/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libm2msec: the gateway state store, many sessions' states in one LMDB
 * environment (one database file), keyed by session name, with group
 * commit (docs/PROTOCOL.md 6.4, docs/SECURITY.md section 3).
 *
 * Group commit without a background thread: a save queues its entry and
 * waits. The first waiter that finds no commit running becomes the leader:
 * it takes every queued entry, writes them in one LMDB write transaction
 * and commits it (LMDB syncs the data, then the meta page, before
 * mdb_txn_commit() returns), then wakes the others; saves queued while it
 * committed form the next batch. A save returns 1 only after the
 * transaction holding its entry is durable, so "saved before use" holds
 * for every session; the batch is as large as the number of sessions that
 * save at the same moment (one thread per session or per group of them).
 *
 * Never a rollback: in the write transaction every entry is compared with
 * the stored state and refused (that entry only) if its epoch is lower, or
 * equal with a lower sequence floor. One process per environment: an
 * exclusive flock(2) on the database file, taken before LMDB opens it, and
 * LMDB's own lock file. One session per name inside the process: a set of
 * locked names.
 */
#define _GNU_SOURCE /* flock() */

#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/lhash.h>

#include "store_path.h"
#include "m2msec/session.h"

#define VALUE_VERSION 1
#define VALUE_LEN 17     /* version byte, epoch and floor as 64-bit big-endian */
#define NAME_MAX_LEN 511 /* LMDB's default largest key */
#define DEFAULT_MAP_SIZE ((size_t)1 << 30)

/* What happened to one queued save (set by the leader, read by its owner). */
enum { PEND_WAIT = 0, PEND_OK, PEND_BACKWARDS, PEND_MALFORMED, PEND_DB };

typedef struct pend {
    const char *name;
    size_t nlen;
    m2msec_session_state st, stored;
    int outcome; /* written by the leader without the mutex, never read by the owner */
    int result;  /* outcome, published under the mutex once the commit is over */
    int mdb_rc;
    struct pend *next;
} pend;

struct m2msec_store_lmdb_env {
    MDB_env *env;
    MDB_dbi dbi;
    int lock_fd;
    char *path;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pend *head, *tail; /* the next batch */
    int committing;
    unsigned refs;
    OPENSSL_LHASH *locked; /* the names locked by a session of this process */
    m2msec_store_lmdb_stats stats;
};

typedef struct lmdb_arg {
    m2msec_store_lmdb_env *e;
    size_t nlen;
    char *label; /* "<path>:<name>" for errors */
    char name[];
} lmdb_arg;

static unsigned long name_hash(const void *p)
{
    const lmdb_arg *a = p;
    unsigned long h = 5381;

    for (size_t i = 0; i < a->nlen; i++)
        h = h * 33 + (unsigned char)a->name[i];
    return h;
}

static int name_cmp(const void *x, const void *y)
{
    const lmdb_arg *a = x, *b = y;

    if (a->nlen != b->nlen)
        return 1;
    return memcmp(a->name, b->name, a->nlen);
}

static void put_be64(unsigned char *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (unsigned char)v;
}

static uint64_t get_be64(const unsigned char *p)
{
    uint64_t v = 0;

    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

/* 1: decoded; 0: malformed. */
static int decode(const MDB_val *v, m2msec_session_state *st)
{
    const unsigned char *p = v->mv_data;

    if (v->mv_size != VALUE_LEN || p[0] != VALUE_VERSION)
        return 0;
    st->epoch = get_be64(p + 1);
    st->seq_floor = get_be64(p + 9);
    return 1;
}

static void raise_mdb(const char *what, const char *label, int rc)
{
    ERR_raise_data(ERR_LIB_USER, ERR_R_OPERATION_FAIL, "m2msec: LMDB state store %s: %s: %s", label,
                   what, mdb_strerror(rc));
}

static void env_unref(m2msec_store_lmdb_env *e)
{
    unsigned left;

    pthread_mutex_lock(&e->mu);
    left = --e->refs;
    pthread_mutex_unlock(&e->mu);
    if (left != 0)
        return;
    if (e->env != NULL)
        mdb_env_close(e->env);
    if (e->lock_fd >= 0)
        close(e->lock_fd); /* lets go of the flock */
    OPENSSL_LH_free(e->locked);
    pthread_cond_destroy(&e->cv);
    pthread_mutex_destroy(&e->mu);
    OPENSSL_free(e->path);
    OPENSSL_free(e);
}

m2msec_store_lmdb_env *m2msec_store_lmdb_env_new(const char *path, size_t map_size)
{
    m2msec_store_lmdb_env *e;
    MDB_txn *t = NULL;
    struct stat sb;
    int rc, err;

    if (path == NULL || *path == '\0') {
        ERR_raise_data(ERR_LIB_USER, ERR_R_PASSED_NULL_PARAMETER,
                       "m2msec: the LMDB state store needs a database path");
        return NULL;
    }
    if (!m2m_store_path_check(path, "LMDB state store"))
        return NULL;
    e = OPENSSL_zalloc(sizeof(*e));
    if (e == NULL || (e->path = OPENSSL_strdup(path)) == NULL) {
        OPENSSL_free(e);
        ERR_raise_data(ERR_LIB_USER, ERR_R_MALLOC_FAILURE,
                       "m2msec: out of memory for the LMDB state store");
        return NULL;
    }
    e->lock_fd = -1;
    e->refs = 1;
    pthread_mutex_init(&e->mu, NULL);
    pthread_cond_init(&e->cv, NULL);
    e->locked = OPENSSL_LH_new(name_hash, name_cmp);
    if (e->locked == NULL) {
        ERR_raise_data(ERR_LIB_USER, ERR_R_MALLOC_FAILURE,
                       "m2msec: out of memory for the LMDB state store");
        goto fail;
    }
    /* One process per environment: an exclusive flock on the data file itself (never replaced). */
    e->lock_fd =
        open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC, 0600);
    if (e->lock_fd < 0) {
        err = errno;
        ERR_raise_data(ERR_LIB_SYS, err, "m2msec: cannot open the LMDB state store %s: %s", path,
                       err == ELOOP ? "it is a symbolic link" : strerror(err));
        goto fail;
    }
    if (fstat(e->lock_fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        ERR_raise_data(ERR_LIB_USER, ERR_R_PASSED_INVALID_ARGUMENT,
                       "m2msec: the LMDB state store %s is not a regular file; refusing to use it",
                       path);
        goto fail;
    }
    while (flock(e->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        err = errno;
        if (err == EINTR)
            continue;
        if (err == EWOULDBLOCK)
            ERR_raise_data(ERR_LIB_USER, ERR_R_OPERATION_FAIL,
                           "m2msec: the LMDB state store %s is in use by another process, or "
                           "already open in this one (one environment per store)",
                           path);
        else
            ERR_raise_data(ERR_LIB_SYS, err, "m2msec: cannot lock %s: %s", path, strerror(err));
        goto fail;
    }
    if ((rc = mdb_env_create(&e->env)) != 0 ||
        (rc = mdb_env_set_mapsize(e->env, map_size != 0 ? map_size : DEFAULT_MAP_SIZE)) != 0 ||
        (rc = mdb_env_set_maxreaders(e->env, 1024)) != 0) {
        raise_mdb("cannot create the environment", path, rc);
        goto fail;
    }
    /*
     * MDB_NOSUBDIR: path is the data file, "<path>-lock" LMDB's lock file.
     * MDB_NOTLS: a read transaction may run on any thread. Never MDB_NOSYNC,
     * MDB_NOMETASYNC, MDB_WRITEMAP or MDB_MAPASYNC: a commit is durable.
     */
    rc = mdb_env_open(e->env, path, MDB_NOSUBDIR | MDB_NOTLS, 0600);
    if (rc != 0) {
        raise_mdb("cannot open", path, rc);
        goto fail;
    }
    if ((rc = mdb_txn_begin(e->env, NULL, 0, &t)) != 0 ||
        (rc = mdb_dbi_open(t, NULL, 0, &e->dbi)) != 0 || (rc = mdb_txn_commit(t)) != 0) {
        if (t != NULL && rc != 0)
            mdb_txn_abort(t);
        raise_mdb("cannot open the database", path, rc);
        goto fail;
    }
    return e;
fail:
    env_unref(e);
    return NULL;
}

void m2msec_store_lmdb_env_free(m2msec_store_lmdb_env *e)
{
    if (e != NULL)
        env_unref(e);
}

void m2msec_store_lmdb_env_get_stats(m2msec_store_lmdb_env *e, m2msec_store_lmdb_stats *out)
{
    pthread_mutex_lock(&e->mu);
    *out = e->stats;
    pthread_mutex_unlock(&e->mu);
}

static int lmdb_lock(void *arg, void **handle)
{
    lmdb_arg *a = arg;
    m2msec_store_lmdb_env *e = a->e;
    int r = 1;

    pthread_mutex_lock(&e->mu);
    if (OPENSSL_LH_retrieve(e->locked, a) != NULL) {
        r = 0; /* another session of this process holds this name */
    } else {
        (void)OPENSSL_LH_insert(e->locked, a);
        if (OPENSSL_LH_retrieve(e->locked, a) != a) {
            ERR_raise_data(ERR_LIB_USER, ERR_R_MALLOC_FAILURE,
                           "m2msec: out of memory locking the state %s", a->label);
            r = -1;
        }
    }
    pthread_mutex_unlock(&e->mu);
    if (r == 1)
        *handle = a;
    return r;
}

static void lmdb_unlock(void *arg, void *handle)
{
    lmdb_arg *a = arg;

    (void)handle;
    pthread_mutex_lock(&a->e->mu);
    (void)OPENSSL_LH_delete(a->e->locked, a);
    pthread_mutex_unlock(&a->e->mu);
}

static int lmdb_load(void *arg, void *handle, m2msec_session_state *st)
{
    lmdb_arg *a = arg;
    MDB_txn *t;
    MDB_val k = {a->nlen, a->name}, v;
    int rc, r;

    (void)handle; /* reading needs no lock: a read transaction sees a committed snapshot */
    rc = mdb_txn_begin(a->e->env, NULL, MDB_RDONLY, &t);
    if (rc != 0) {
        raise_mdb("cannot begin a read transaction", a->label, rc);
        return -1;
    }
    rc = mdb_get(t, a->e->dbi, &k, &v);
    if (rc == MDB_NOTFOUND) {
        r = 0;
    } else if (rc != 0) {
        raise_mdb("cannot read", a->label, rc);
        r = -1;
    } else if (!decode(&v, st)) {
        ERR_raise_data(ERR_LIB_USER, ERR_R_PASSED_INVALID_ARGUMENT,
                       "m2msec: the state %s is malformed; refusing to guess", a->label);
        r = -1;
    } else {
        r = 1;
    }
    mdb_txn_abort(t);
    return r;
}

/*
 * Write one batch in one transaction and set every entry's outcome. Called
 * without the mutex: the owners do not read outcome, only result, which the
 * leader sets under the mutex after the commit returned (a waiter woken
 * early must never see a tentative success).
 */
static void commit_batch(m2msec_store_lmdb_env *e, pend *batch)
{
    MDB_txn *t = NULL;
    int rc;
    pend *p;

    rc = mdb_txn_begin(e->env, NULL, 0, &t);
    for (p = batch; rc == 0 && p != NULL; p = p->next) {
        MDB_val k = {p->nlen, (void *)p->name}, v;
        unsigned char buf[VALUE_LEN];
        int g = mdb_get(t, e->dbi, &k, &v);

        if (g == 0) {
            if (!decode(&v, &p->stored)) {
                p->outcome = PEND_MALFORMED;
                continue;
            }
            if (p->st.epoch < p->stored.epoch ||
                (p->st.epoch == p->stored.epoch && p->st.seq_floor < p->stored.seq_floor)) {
                p->outcome = PEND_BACKWARDS;
                continue;
            }
        } else if (g != MDB_NOTFOUND) {
            rc = g;
            break;
        }
        buf[0] = VALUE_VERSION;
        put_be64(buf + 1, p->st.epoch);
        put_be64(buf + 9, p->st.seq_floor);
        v.mv_size = sizeof(buf);
        v.mv_data = buf;
        rc = mdb_put(t, e->dbi, &k, &v, 0);
        if (rc == 0)
            p->outcome = PEND_OK; /* tentative until the commit */
    }
    if (rc == 0)
        rc = mdb_txn_commit(t); /* durable when it returns 0 */
    else if (t != NULL)
        mdb_txn_abort(t);
    for (p = batch; p != NULL; p = p->next) {
        if (rc != 0 && (p->outcome == PEND_OK || p->outcome == PEND_WAIT)) {
            p->outcome = PEND_DB;
            p->mdb_rc = rc;
        }
    }
}

static int lmdb_save(void *arg, void *handle, const m2msec_session_state *st)
{
    lmdb_arg *a = arg;
    m2msec_store_lmdb_env *e = a->e;
    pend me = {a->name, a->nlen, *st, {0, 0}, PEND_WAIT, PEND_WAIT, 0, NULL};

    if (handle != a) {
        ERR_raise_data(ERR_LIB_USER, ERR_R_PASSED_NULL_PARAMETER,
                       "m2msec: state %s: saving needs the lock", a->label);
        return 0;
    }
    pthread_mutex_lock(&e->mu);
    if (e->tail != NULL)
        e->tail->next = &me;
    else
        e->head = &me;
    e->tail = &me;
    while (me.result == PEND_WAIT) {
        if (!e->committing) {
            pend *batch = e->head;
            uint64_t n = 0;

            e->head = e->tail = NULL;
            e->committing = 1;
            pthread_mutex_unlock(&e->mu);
            commit_batch(e, batch);
            pthread_mutex_lock(&e->mu);
            for (pend *p = batch, *next; p != NULL; p = next) {
                next = p->next; /* p may be gone once its owner sees its result */
                n += p->outcome == PEND_OK;
                p->result = p->outcome;
            }
            e->committing = 0;
            e->stats.commits += n != 0;
            e->stats.saves += n;
            if (n > e->stats.largest_batch)
                e->stats.largest_batch = n;
            pthread_cond_broadcast(&e->cv);
        } else {
            pthread_cond_wait(&e->cv, &e->mu);
        }
    }
    pthread_mutex_unlock(&e->mu);
    switch (me.result) {
    case PEND_OK:
        return 1;
    case PEND_BACKWARDS:
        ERR_raise_data(ERR_LIB_USER, ERR_R_OPERATION_FAIL,
                       "m2msec: state %s: refusing to go back from epoch %llu seq-floor %llu to "
                       "epoch %llu seq-floor %llu (never a rollback)",
                       a->label, (unsigned long long)me.stored.epoch,
                       (unsigned long long)me.stored.seq_floor, (unsigned long long)st->epoch,
                       (unsigned long long)st->seq_floor);
        return 0;
    case PEND_MALFORMED:
        ERR_raise_data(ERR_LIB_USER, ERR_R_PASSED_INVALID_ARGUMENT,
                       "m2msec: the state %s is malformed; refusing to replace it", a->label);
        return 0;
    default:
        raise_mdb("the commit failed, nothing of it was saved", a->label, me.mdb_rc);
        return 0;
    }
}

static void lmdb_release(void *arg)
{
    lmdb_arg *a = arg;

    if (a == NULL)
        return;
    env_unref(a->e);
    OPENSSL_free(a->label);
    OPENSSL_free(a);
}

int m2msec_store_lmdb(m2msec_store *store, m2msec_store_lmdb_env *env, const char *name)
{
    size_t n = strlen(name), ll;
    lmdb_arg *a;

    memset(store, 0, sizeof(*store));
    if (n == 0 || n > NAME_MAX_LEN) {
        ERR_raise_data(ERR_LIB_USER, ERR_R_PASSED_INVALID_ARGUMENT,
                       "m2msec: an LMDB state name must have 1 to %d bytes (got %zu)", NAME_MAX_LEN,
                       n);
        return 0;
    }
    a = OPENSSL_zalloc(sizeof(*a) + n + 1);
    ll = strlen(env->path) + n + 2;
    if (a == NULL || (a->label = OPENSSL_malloc(ll)) == NULL) {
        OPENSSL_free(a);
        ERR_raise_data(ERR_LIB_USER, ERR_R_MALLOC_FAILURE,
                       "m2msec: out of memory for an LMDB state store");
        return 0;
    }
    memcpy(a->name, name, n + 1);
    a->nlen = n;
    snprintf(a->label, ll, "%s:%s", env->path, name);
    a->e = env;
    pthread_mutex_lock(&env->mu);
    env->refs++;
    pthread_mutex_unlock(&env->mu);
    store->lock = lmdb_lock;
    store->load = lmdb_load;
    store->save = lmdb_save;
    store->unlock = lmdb_unlock;
    store->release = lmdb_release;
    store->arg = a;
    store->name = a->label;
    return 1;
}
