/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libm2msec: verifying a tree against a manifest (m2msec_tree_verify),
 * building a manifest from a tree (m2msec_manifest_from_tree) and hashing
 * an open descriptor (m2msec_file_hash).
 *
 * The root is opened once; every file is opened below it without following
 * any symlink (safe_open.c), checked with fstat() and hashed from that
 * descriptor only, then fstat()ed again: a change in between is reported
 * as CHANGED. Hashing runs in worker threads, each with one EVP_MD_CTX and
 * one fixed read buffer, so memory does not grow with file sizes. Workers
 * claim work from a shared atomic index over the files sorted largest
 * first, so a few large files keep every core busy: a large file alone,
 * small ones in chunks of up to 16. A file whose size differs from the
 * manifest is reported without being hashed. The first fstat() is a statx()
 * that also gives the identity for the actions: a small file costs openat2,
 * statx, one read, fstat and close.
 *
 * The calling thread meanwhile walks the tree for files that are not
 * listed (openat + fdopendir, never following symlinks), then waits on a
 * condition variable, calling the progress callback every 100 ms.
 */
/* d_type and DT_* of readdir() */
#define _DEFAULT_SOURCE

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <dirent.h>
#include <time.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include "escape.h"
#include "io.h"
#include "m2msec/integrity.h"
#include "manifest_internal.h"
#include "report_internal.h"
#include "safe_open.h"

#define READ_BUF_SIZE (256 * 1024)
#define MAX_JOBS 256
#define PROGRESS_MS 100
#define CHUNK_MAX 16            /* files claimed at a time by a worker, at most */
#define CHUNK_SHARES 64         /* claims per worker, at least, when there are enough files */
#define CHUNK_LARGE (64 * 1024) /* files estimated larger are claimed one at a time */

static m2msec_verify_test_hook test_hook;
static void *test_hook_arg;

void m2msec_verify_set_test_hook(m2msec_verify_test_hook hook, void *arg)
{
    test_hook = hook;
    test_hook_arg = arg;
}

/*
 * One file to check (verify) or to hash (from_tree); kept small, since a
 * verification holds one per listed file.
 */
typedef struct {
    const char *path;
    const m2msec_manifest_entry *expect; /* NULL when building a manifest */
    char *detail;
    unsigned char *digest; /* from_tree: where the digest goes; NULL when verifying */
    int64_t size;
    int64_t mtime;
    int32_t mode;
    uint32_t uid, gid;
    m2msec_file_status status;
    unsigned digest_len;
    m2m_ident seen; /* the entry at path (not followed), for the actions */
} task_t;

typedef struct order_s {
    int64_t est;
    size_t idx;
} order_t;

typedef struct {
    EVP_MD *md;
    int rootfd;
    task_t *tasks;
    size_t n;
    order_t *order;
    atomic_size_t next;
    size_t chunk;   /* files a worker claims at a time, after the first n_large */
    size_t n_large; /* files estimated larger than CHUNK_LARGE: claimed one at a time */
    atomic_size_t files_done;
    _Atomic uint64_t bytes_done;
    atomic_int fatal;
    int check_attr; /* compare '# attr' (owner, group, mtime) */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    unsigned running;
} pool_t;

static void errtext(int err, char *buf, size_t len)
{
    if (strerror_r(err, buf, len) != 0)
        snprintf(buf, len, "error %d", err);
}

__attribute__((format(printf, 3, 4))) static void set_detail(pool_t *p, task_t *t, const char *fmt,
                                                             ...)
{
    char buf[600];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    OPENSSL_free(t->detail);
    t->detail = OPENSSL_strdup(buf);
    if (t->detail == NULL)
        atomic_store(&p->fatal, 1);
}

/*
 * Hash fd up to @p expect bytes (its size at the first fstat), or to its end
 * if expect < 0; 0 or the errno of a failed read; *total gets the bytes
 * read. Stopping at the known size saves the EOF read per file: a file that
 * grew meanwhile is caught by the second fstat.
 */
static int hash_loop(EVP_MD_CTX *ctx, int fd, unsigned char *buf, size_t bufsize,
                     _Atomic uint64_t *progress, uint64_t *total, int64_t expect)
{
    *total = 0;
    for (;;) {
        size_t want = bufsize;
        ssize_t r;

        if (expect >= 0) {
            if (*total >= (uint64_t)expect)
                return 0;
            if ((uint64_t)expect - *total < want)
                want = (size_t)((uint64_t)expect - *total);
        }
        r = m2m_read(fd, buf, want);
        if (r < 0)
            return errno != 0 ? errno : EIO;
        if (r == 0)
            return 0;
        if (EVP_DigestUpdate(ctx, buf, (size_t)r) != 1)
            return -1;
        *total += (uint64_t)r;
        if (progress != NULL)
            atomic_fetch_add(progress, (uint64_t)r);
    }
}

static int same_stat(const struct stat *a, const struct stat *b, const char **what)
{
    if (a->st_dev != b->st_dev || a->st_ino != b->st_ino)
        *what = "inode";
    else if (a->st_size != b->st_size)
        *what = "size";
    else if (a->st_mtim.tv_sec != b->st_mtim.tv_sec || a->st_mtim.tv_nsec != b->st_mtim.tv_nsec)
        *what = "modification time";
    else if (a->st_ctim.tv_sec != b->st_ctim.tv_sec || a->st_ctim.tv_nsec != b->st_ctim.tv_nsec)
        *what = "change time";
    else
        return 1;
    return 0;
}

/*
 * Check one file. Returns the bytes hashed that were not yet counted in
 * p->bytes_done (a file that fits the buffer: the caller adds them up per
 * chunk), else 0.
 */
static uint64_t check_one(pool_t *p, task_t *t, unsigned char *buf, EVP_MD_CTX *ctx)
{
    const m2msec_manifest_entry *x = t->expect;
    unsigned char md[EVP_MAX_MD_SIZE];
    struct stat st1, st2;
    char ebuf[128];
    const char *what;
    unsigned int dlen = 0;
    uint64_t total = 0;
    int fd, err, small = 0;

    fd = m2m_open_beneath(p->rootfd, t->path);
    if (fd < 0) {
        err = errno;
        /* what is there (a final symlink, a socket, a file it may not read), for the actions */
        if (err != ENOENT && m2m_ident_beneath(p->rootfd, t->path, &t->seen) != 0)
            memset(&t->seen, 0, sizeof(t->seen));
        if (err == ENOENT) {
            t->status = M2MSEC_FILE_MISSING;
            set_detail(p, t, "not found");
        } else if (err == ELOOP || err == EXDEV || err == ENOTDIR || err == ENXIO ||
                   err == ENODEV) {
            char desc[400];

            m2m_describe_component(p->rootfd, t->path, desc, sizeof(desc));
            t->status = M2MSEC_FILE_WRONG_TYPE;
            set_detail(p, t, "%s", desc);
        } else {
            errtext(err, ebuf, sizeof(ebuf));
            t->status = M2MSEC_FILE_UNREADABLE;
            set_detail(p, t, "cannot open: %s", ebuf);
        }
        return 0;
    }
    /* the first fstat and the identity for the actions in one statx */
    if (m2m_fstat_ident(fd, &st1, &t->seen) != 0) {
        errtext(errno, ebuf, sizeof(ebuf));
        memset(&t->seen, 0, sizeof(t->seen));
        t->status = M2MSEC_FILE_UNREADABLE;
        set_detail(p, t, "cannot stat: %s", ebuf);
        goto end;
    }
    t->size = (int64_t)st1.st_size;
    t->mode = (int32_t)(st1.st_mode & 07777);
    t->uid = (uint32_t)st1.st_uid;
    t->gid = (uint32_t)st1.st_gid;
    t->mtime = (int64_t)st1.st_mtime;
    if (!S_ISREG(st1.st_mode)) {
        t->status = M2MSEC_FILE_WRONG_TYPE;
        set_detail(p, t, "is a %s", m2m_type_text((unsigned)st1.st_mode));
        goto end;
    }
    if (x != NULL && x->size >= 0 && x->size != t->size) {
        /* no need to hash it */
        t->status = M2MSEC_FILE_MODIFIED;
        set_detail(p, t, "expected %" PRId64 " bytes, found %" PRId64, x->size, t->size);
        goto end;
    }
    small = st1.st_size <= (off_t)READ_BUF_SIZE;
    if (!small) /* one syscall fewer for small files */
        (void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    err = test_hook != NULL ? test_hook(test_hook_arg, t->path, fd) : 0;
    if (err == 0) {
        if (EVP_DigestInit_ex2(ctx, p->md, NULL) != 1) {
            atomic_store(&p->fatal, 1);
            goto end;
        }
        err = hash_loop(ctx, fd, buf, READ_BUF_SIZE, small ? NULL : &p->bytes_done, &total,
                        (int64_t)st1.st_size);
    }
    if (err < 0) {
        atomic_store(&p->fatal, 1);
        goto end;
    }
    if (err > 0) {
        errtext(err, ebuf, sizeof(ebuf));
        t->status = M2MSEC_FILE_UNREADABLE;
        set_detail(p, t, "read failed: %s", ebuf);
        goto end;
    }
    if (EVP_DigestFinal_ex(ctx, md, &dlen) != 1) {
        atomic_store(&p->fatal, 1);
        goto end;
    }
    t->digest_len = dlen;
    if (t->digest != NULL)
        memcpy(t->digest, md, dlen);
    if (fstat(fd, &st2) != 0) {
        errtext(errno, ebuf, sizeof(ebuf));
        t->status = M2MSEC_FILE_UNREADABLE;
        set_detail(p, t, "cannot stat: %s", ebuf);
        goto end;
    }
    if (!same_stat(&st1, &st2, &what)) {
        t->status = M2MSEC_FILE_CHANGED;
        set_detail(p, t, "changed while being verified (%s)", what);
        goto end;
    }
    if (total != (uint64_t)st1.st_size) {
        t->status = M2MSEC_FILE_CHANGED;
        set_detail(p, t, "changed while being verified (read %" PRIu64 " of %" PRId64 " bytes)",
                   total, t->size);
        goto end;
    }
    if (x != NULL && (x->digest_len != dlen || memcmp(x->digest, md, dlen) != 0)) {
        t->status = M2MSEC_FILE_MODIFIED;
        if (x->mode >= 0 && x->mode != t->mode)
            set_detail(p, t, "digest differs; mode %04o, expected %04o", (unsigned)t->mode,
                       (unsigned)x->mode);
        else
            set_detail(p, t, "digest differs");
        goto end;
    }
    if (x != NULL && x->mode >= 0 && x->mode != t->mode) {
        t->status = M2MSEC_FILE_WRONG_MODE;
        set_detail(p, t, "mode %04o, expected %04o", (unsigned)t->mode, (unsigned)x->mode);
        goto end;
    }
    if (x != NULL && p->check_attr && x->has_attr &&
        (x->uid != t->uid || x->gid != t->gid || x->mtime != t->mtime)) {
        char d[3][64];
        int k = 0;

        t->status = M2MSEC_FILE_WRONG_ATTR;
        /* only what differs, numerically (names depend on the host's user database) */
        if (x->uid != t->uid)
            snprintf(d[k++], sizeof(d[0]), "owner %u, expected %u", (unsigned)t->uid,
                     (unsigned)x->uid);
        if (x->gid != t->gid)
            snprintf(d[k++], sizeof(d[0]), "group %u, expected %u", (unsigned)t->gid,
                     (unsigned)x->gid);
        if (x->mtime != t->mtime)
            snprintf(d[k++], sizeof(d[0]), "mtime %" PRId64 ", expected %" PRId64, t->mtime,
                     x->mtime);
        set_detail(p, t, "%s%s%s%s%s", d[0], k > 1 ? "; " : "", k > 1 ? d[1] : "",
                   k > 2 ? "; " : "", k > 2 ? d[2] : "");
        goto end;
    }
    t->status = M2MSEC_FILE_OK;
end:
    close(fd);
    return small ? total : 0;
}

static void *worker(void *arg)
{
    pool_t *p = arg;
    unsigned char *buf = OPENSSL_malloc(READ_BUF_SIZE);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();

    if (buf == NULL || ctx == NULL)
        atomic_store(&p->fatal, 1);
    while (buf != NULL && ctx != NULL && !atomic_load(&p->fatal)) {
        /*
         * Claim the files known to be large one at a time (they come first),
         * the others a chunk at a time: the shared counters are touched once
         * per chunk, not per file.
         */
        size_t i = atomic_load(&p->next), end = i, k;
        uint64_t small_bytes = 0;

        do {
            if (i >= p->n)
                break;
            end = i + (i < p->n_large ? 1 : p->chunk);
        } while (!atomic_compare_exchange_weak(&p->next, &i, end));
        if (i >= p->n)
            break;
        if (end > p->n)
            end = p->n;
        for (k = i; k < end && !atomic_load_explicit(&p->fatal, memory_order_relaxed); k++)
            small_bytes += check_one(p, &p->tasks[p->order[k].idx], buf, ctx);
        if (small_bytes > 0)
            atomic_fetch_add(&p->bytes_done, small_bytes);
        atomic_fetch_add(&p->files_done, end - i);
    }
    EVP_MD_CTX_free(ctx);
    OPENSSL_free(buf);
    pthread_mutex_lock(&p->mu);
    p->running--;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

/* Largest first; equal sizes in manifest order. */
static int cmp_order(const void *a, const void *b)
{
    const order_t *x = a, *y = b;

    if (x->est != y->est)
        return x->est > y->est ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* ---------------------------------------------------------------- */
/* Progress                                                          */
/* ---------------------------------------------------------------- */

typedef struct {
    const m2msec_tree_verify_options *opt;
    pool_t *pool;
    uint64_t bytes_total;
    struct timespec last;
} progress_t;

static void progress_call(progress_t *pr)
{
    if (pr->opt == NULL || pr->opt->progress == NULL)
        return;
    pr->opt->progress(pr->opt->progress_arg, atomic_load(&pr->pool->bytes_done), pr->bytes_total,
                      atomic_load(&pr->pool->files_done), pr->pool->n);
    clock_gettime(CLOCK_MONOTONIC, &pr->last);
}

/* Call progress if PROGRESS_MS have passed since the last call. */
static void progress_maybe(progress_t *pr)
{
    struct timespec now;
    long long ms;

    if (pr == NULL || pr->opt == NULL || pr->opt->progress == NULL)
        return;
    clock_gettime(CLOCK_MONOTONIC, &now);
    ms = (long long)(now.tv_sec - pr->last.tv_sec) * 1000 +
         (now.tv_nsec - pr->last.tv_nsec) / 1000000;
    if (ms >= PROGRESS_MS)
        progress_call(pr);
}

/* ---------------------------------------------------------------- */
/* Walking the tree                                                  */
/* ---------------------------------------------------------------- */

typedef struct {
    int rootfd;
    const m2msec_manifest *m;  /* verify: what is listed */
    const char *const *ignore; /* verify: never extra */
    m2msec_report *report;     /* verify: extras go here */
    char **found;              /* from_tree: regular files found */
    size_t nfound, capfound;
    progress_t *pr;
    int failed; /* fatal error queued */
} walk_t;

static int is_ignored(const char *const *ignore, const char *path)
{
    for (; ignore != NULL && *ignore != NULL; ignore++) {
        size_t n = strlen(*ignore);

        if (strncmp(*ignore, path, n) == 0 && (path[n] == '\0' || path[n] == '/'))
            return 1;
    }
    return 0;
}

static char *join_path(const char *dir, const char *name)
{
    size_t a = strlen(dir), b = strlen(name);
    char *s = OPENSSL_malloc(a + b + 2);

    if (s == NULL)
        return NULL;
    if (a > 0) {
        memcpy(s, dir, a);
        s[a++] = '/';
    }
    memcpy(s + a, name, b + 1);
    return s;
}

/* A result found by the walk; @p seen: the entry (not followed), or NULL. */
__attribute__((format(printf, 5, 6))) static void walk_report(walk_t *w, const char *path,
                                                              const m2m_ident *seen,
                                                              m2msec_file_status st,
                                                              const char *fmt, ...)
{
    char buf[600];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (w->report == NULL) {
        char pbuf[M2M_ESC_NAME];

        ERR_raise_data(ERR_LIB_USER, ERR_R_OPERATION_FAIL, "m2msec: %s: %s",
                       m2m_esc(path, pbuf, sizeof(pbuf)), buf);
        w->failed = 1;
    } else if (!m2msec_report_add_seen(w->report, path, st, buf, seen)) {
        w->failed = 1;
    }
}

static int add_found(walk_t *w, char *path)
{
    char **nf = m2m_grow(w->found, w->nfound, &w->capfound, sizeof(*nf), 64);

    if (nf == NULL)
        return 0;
    w->found = nf;
    w->found[w->nfound++] = path;
    return 1;
}

/* The first entry in [lo, hi) of the sorted manifest whose path is not below @p bound. */
static size_t entry_lower_bound(const m2msec_manifest *m, size_t lo, size_t hi, const char *bound)
{
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (strcmp(m2msec_manifest_entry_at(m, mid)->path, bound) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/*
 * The range [*lo, *hi) of the manifest's entries below directory @p rel
 * ("" for the root): paths that start with "rel/", which are next to each
 * other in bytewise order ('/' + 1 is '0'). 0 out of memory.
 */
static int dir_range(const m2msec_manifest *m, const char *rel, size_t *lo, size_t *hi)
{
    size_t n = m2msec_manifest_count(m), len = strlen(rel);
    char *bound;

    *lo = 0;
    *hi = n;
    if (len == 0)
        return 1;
    if ((bound = OPENSSL_malloc(len + 2)) == NULL)
        return 0;
    memcpy(bound, rel, len);
    bound[len] = '/';
    bound[len + 1] = '\0';
    *lo = entry_lower_bound(m, 0, n, bound);
    bound[len] = '/' + 1;
    *hi = entry_lower_bound(m, *lo, n, bound);
    OPENSSL_free(bound);
    return 1;
}

/* 1 if @p path is listed, looked up in [lo, hi) only. */
static int listed_in(const m2msec_manifest *m, size_t lo, size_t hi, const char *path)
{
    size_t i = entry_lower_bound(m, lo, hi, path);

    return i < hi && strcmp(m2msec_manifest_entry_at(m, i)->path, path) == 0;
}

/*
 * rel/name in @p buf when it fits, else in a new allocation (free it when
 * it is not @p buf). NULL out of memory.
 */
static char *child_path(const char *rel, const char *name, char *buf, size_t len)
{
    size_t a = strlen(rel), b = strlen(name);

    if (a + b + 2 > len)
        return join_path(rel, name);
    if (a > 0) {
        memcpy(buf, rel, a);
        buf[a++] = '/';
    }
    memcpy(buf + a, name, b + 1);
    return buf;
}

/* An allocation of its own for @p child (child_path()'s result). NULL out of memory. */
static char *child_keep(char *child, const char *buf)
{
    return child == buf ? OPENSSL_strdup(child) : child;
}

static void walk_dir(walk_t *w, const char *rel)
{
    char **subdirs = NULL, ebuf[128], cbuf[512];
    size_t nsub = 0, capsub = 0, i, lo = 0, hi = 0;
    struct dirent *de;
    DIR *dir;
    int dfd;

    progress_maybe(w->pr);
    if (rel[0] == '\0')
        dfd = openat(w->rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    else
        dfd = m2m_open_beneath_flags(w->rootfd, rel, O_RDONLY | O_DIRECTORY);
    if (dfd < 0 || (dir = fdopendir(dfd)) == NULL) {
        int err = errno;
        m2m_ident seen;
        int have = rel[0] != '\0' && m2m_ident_beneath(w->rootfd, rel, &seen) == 0;

        if (dfd >= 0)
            close(dfd);
        errtext(err, ebuf, sizeof(ebuf));
        walk_report(w, rel[0] ? rel : ".", have ? &seen : NULL, M2MSEC_FILE_UNREADABLE,
                    "cannot list directory: %s", ebuf);
        return;
    }
    /* the listed paths below this directory, so each name is looked up there only */
    if (w->report != NULL && !dir_range(w->m, rel, &lo, &hi)) {
        closedir(dir);
        ERR_raise_data(ERR_LIB_USER, ERR_R_MALLOC_FAILURE, "m2msec: out of memory");
        w->failed = 1;
        return;
    }
    for (;;) {
        struct stat st;
        char *child;

        errno = 0;
        de = readdir(dir);
        if (de == NULL) {
            if (errno != 0) {
                m2m_ident seen;
                int have = rel[0] != '\0' && m2m_ident_fd(dirfd(dir), &seen) == 0;

                errtext(errno, ebuf, sizeof(ebuf));
                walk_report(w, rel[0] ? rel : ".", have ? &seen : NULL, M2MSEC_FILE_UNREADABLE,
                            "cannot list directory: %s", ebuf);
            }
            break;
        }
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        child = child_path(rel, de->d_name, cbuf, sizeof(cbuf));
        if (child == NULL) {
            ERR_raise_data(ERR_LIB_USER, ERR_R_MALLOC_FAILURE, "m2msec: out of memory");
            w->failed = 1;
            break;
        }
        if (w->report != NULL && is_ignored(w->ignore, child)) {
            if (child != cbuf)
                OPENSSL_free(child);
            continue;
        }
        /* d_type saves a stat per entry; only DT_UNKNOWN needs one. */
        memset(&st, 0, sizeof(st));
        if (de->d_type == DT_DIR)
            st.st_mode = S_IFDIR;
        else if (de->d_type == DT_REG)
            st.st_mode = S_IFREG;
        else if (de->d_type == DT_LNK)
            st.st_mode = S_IFLNK;
        if (st.st_mode == 0 && fstatat(dirfd(dir), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
            if (errno != ENOENT) { /* ENOENT: gone since readdir */
                errtext(errno, ebuf, sizeof(ebuf));
                walk_report(w, child, NULL, M2MSEC_FILE_UNREADABLE, "cannot stat: %s", ebuf);
            }
            if (child != cbuf)
                OPENSSL_free(child);
        } else if (S_ISDIR(st.st_mode)) {
            char **ns = m2m_grow(subdirs, nsub, &capsub, sizeof(*ns), 16);

            if (ns != NULL)
                subdirs = ns;
            if (ns == NULL || (child = child_keep(child, cbuf)) == NULL) {
                if (child != NULL && child != cbuf)
                    OPENSSL_free(child);
                ERR_raise_data(ERR_LIB_USER, ERR_R_MALLOC_FAILURE, "m2msec: out of memory");
                w->failed = 1;
                break;
            }
            subdirs[nsub++] = child;
        } else if (w->report != NULL) {
            if (!listed_in(w->m, lo, hi, child)) {
                /* what an action on it may touch: this entry, and no other */
                m2m_ident seen;
                int have = m2m_ident_at(dirfd(dir), de->d_name, &seen) == 0;

                walk_report(w, child, have ? &seen : NULL, M2MSEC_FILE_EXTRA, "%s, not listed",
                            m2m_type_text((unsigned)(have ? seen.type : st.st_mode)));
            }
            if (child != cbuf)
                OPENSSL_free(child);
        } else if (!S_ISREG(st.st_mode)) {
            walk_report(w, child, NULL, M2MSEC_FILE_WRONG_TYPE,
                        "is a %s; a manifest lists only regular files",
                        m2m_type_text((unsigned)st.st_mode));
            if (child != cbuf)
                OPENSSL_free(child);
        } else {
            const char *why = m2m_path_problem(child, strlen(child));

            if (why != NULL) {
                walk_report(w, child, NULL, M2MSEC_FILE_WRONG_TYPE, "cannot be listed: %s", why);
                if (child != cbuf)
                    OPENSSL_free(child);
            } else if ((child = child_keep(child, cbuf)) == NULL || !add_found(w, child)) {
                OPENSSL_free(child);
                ERR_raise_data(ERR_LIB_USER, ERR_R_MALLOC_FAILURE, "m2msec: out of memory");
                w->failed = 1;
            }
        }
        if (w->failed && w->report == NULL)
            break;
    }
    closedir(dir);
    /* one directory open at a time: descend after closing this one */
    for (i = 0; i < nsub; i++) {
        if (!w->failed)
            walk_dir(w, subdirs[i]);
        OPENSSL_free(subdirs[i]);
    }
    OPENSSL_free(subdirs);
}

/* ---------------------------------------------------------------- */
/* The engine                                                        */
/* ---------------------------------------------------------------- */

static unsigned default_jobs(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);

    return n < 1 ? 1 : n > MAX_JOBS ? MAX_JOBS : (unsigned)n;
}

/*
 * Estimate of a file's size without reading it, for the order only: the
 * manifest's size, else (only for small task lists, where largest-first
 * keeps every core busy to the end) a stat. With many files the dynamic
 * work queue balances by itself, and a serial stat of each would cost more
 * than it saves.
 */
#define ESTIMATE_STAT_MAX 256

static int64_t size_estimate(int rootfd, const task_t *t, size_t n)
{
    struct stat st;

    if (t->expect != NULL && t->expect->size >= 0)
        return t->expect->size;
    if (n > ESTIMATE_STAT_MAX || m2m_stat_beneath(rootfd, t->path, &st) != 0 ||
        !S_ISREG(st.st_mode))
        return 0;
    return (int64_t)st.st_size;
}

/*
 * Check (or hash) every task with @p jobs workers; while they run, the
 * calling thread walks the tree if @p w is not NULL. 1 on success, 0 with
 * an error queued.
 */
static int run(OSSL_LIB_CTX *libctx, const char *digest, int rootfd, task_t *tasks, size_t n,
               unsigned jobs, const m2msec_tree_verify_options *opt, walk_t *w)
{
    pthread_t threads[MAX_JOBS];
    unsigned started = 0, k;
    progress_t pr;
    pool_t p;
    size_t i;
    int ok = 0;

    memset(&p, 0, sizeof(p));
    memset(&pr, 0, sizeof(pr));
    p.rootfd = rootfd;
    p.tasks = tasks;
    p.n = n;
    atomic_init(&p.next, 0);
    atomic_init(&p.files_done, 0);
    atomic_init(&p.bytes_done, 0);
    atomic_init(&p.fatal, 0);
    p.check_attr = opt != NULL && opt->check_attr;
    pr.opt = opt;
    pr.pool = &p;
    clock_gettime(CLOCK_MONOTONIC, &pr.last);
    if (w != NULL)
        w->pr = &pr;

    p.md = EVP_MD_fetch(libctx, digest, NULL);
    if (p.md == NULL) {
        ERR_raise_data(ERR_LIB_USER, ERR_R_FETCH_FAILED, "m2msec: cannot fetch digest %s", digest);
        return 0;
    }
    p.order = OPENSSL_malloc((n > 0 ? n : 1) * sizeof(*p.order));
    if (p.order == NULL) {
        EVP_MD_free(p.md);
        ERR_raise_data(ERR_LIB_USER, ERR_R_MALLOC_FAILURE, "m2msec: out of memory");
        return 0;
    }
    for (i = 0; i < n; i++) {
        p.order[i].est = size_estimate(rootfd, &tasks[i], n);
        if (p.order[i].est > 0)
            pr.bytes_total += (uint64_t)p.order[i].est;
        p.order[i].idx = i;
    }
    /* without sizes in the manifest, every estimate is 0 and the order is the manifest's */
    for (i = 1; i < n && cmp_order(&p.order[i - 1], &p.order[i]) <= 0; i++)
        ;
    if (i < n)
        qsort(p.order, n, sizeof(*p.order), cmp_order);

    if (jobs == 0)
        jobs = default_jobs();
    if (jobs > MAX_JOBS)
        jobs = MAX_JOBS;
    if (jobs > n)
        jobs = (unsigned)n;
    /*
     * Claim CHUNK_MAX files at a time when there are many, fewer when there
     * are few, so every worker still gets about CHUNK_SHARES claims; the
     * largest files come first and each makes a claim of its own when it is
     * large, so the chunks at the end are the cheap ones.
     */
    p.chunk = n / ((size_t)(jobs > 0 ? jobs : 1) * CHUNK_SHARES);
    if (p.chunk < 1)
        p.chunk = 1;
    if (p.chunk > CHUNK_MAX)
        p.chunk = CHUNK_MAX;
    while (p.n_large < n && p.order[p.n_large].est > CHUNK_LARGE)
        p.n_large++;
    pthread_mutex_init(&p.mu, NULL);
    pthread_cond_init(&p.cv, NULL);
    pthread_mutex_lock(&p.mu);
    for (k = 0; k < jobs; k++) {
        p.running++;
        if (pthread_create(&threads[k], NULL, worker, &p) != 0) {
            p.running--;
            break;
        }
        started++;
    }
    pthread_mutex_unlock(&p.mu);

    if (w != NULL)
        walk_dir(w, "");
    if (started == 0 && n > 0) {
        /* no thread could be started: do the work here */
        p.running = 1;
        worker(&p);
    }
    pthread_mutex_lock(&p.mu);
    while (p.running > 0) {
        struct timespec until;

        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += PROGRESS_MS * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&p.cv, &p.mu, &until);
        if (p.running > 0) {
            pthread_mutex_unlock(&p.mu);
            progress_call(&pr);
            pthread_mutex_lock(&p.mu);
        }
    }
    pthread_mutex_unlock(&p.mu);
    for (k = 0; k < started; k++)
        pthread_join(threads[k], NULL);
    pthread_cond_destroy(&p.cv);
    pthread_mutex_destroy(&p.mu);
    progress_call(&pr);

    if (atomic_load(&p.fatal))
        ERR_raise_data(ERR_LIB_USER, ERR_R_OPERATION_FAIL,
                       "m2msec: hashing failed (out of memory or digest error)");
    else if (w == NULL || !w->failed)
        ok = 1;
    OPENSSL_free(p.order);
    EVP_MD_free(p.md);
    return ok;
}

static int open_root(const char *root)
{
    int fd;

    if (root == NULL) {
        ERR_raise_data(ERR_LIB_USER, ERR_R_PASSED_NULL_PARAMETER, "m2msec: NULL root");
        return -1;
    }
    fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        char rbuf[M2M_ESC_NAME];

        ERR_raise_data(ERR_LIB_SYS, errno, "m2msec: cannot open the root directory %s",
                       m2m_esc(root, rbuf, sizeof(rbuf)));
    }
    return fd;
}

static void free_tasks(task_t *tasks, size_t n)
{
    size_t i;

    for (i = 0; tasks != NULL && i < n; i++)
        OPENSSL_free(tasks[i].detail);
    OPENSSL_free(tasks);
}

m2msec_report *m2msec_tree_verify(OSSL_LIB_CTX *libctx, const m2msec_manifest *m, const char *root,
                                  const m2msec_tree_verify_options *opt)
{
    m2msec_report *r = NULL, *extra = NULL;
    task_t *tasks = NULL;
    size_t n, i, j, ne;
    walk_t w;
    int rootfd, ok = 0;

    if (m == NULL) {
        ERR_raise_data(ERR_LIB_USER, ERR_R_PASSED_NULL_PARAMETER, "m2msec: NULL manifest");
        return NULL;
    }
    rootfd = open_root(root);
    if (rootfd < 0)
        return NULL;
    n = m2msec_manifest_count(m);
    r = m2msec_report_new(root, m2msec_manifest_version(m));
    tasks = OPENSSL_zalloc((n > 0 ? n : 1) * sizeof(*tasks));
    if (r == NULL || tasks == NULL) {
        ERR_raise_data(ERR_LIB_USER, ERR_R_MALLOC_FAILURE, "m2msec: out of memory");
        goto end;
    }
    for (i = 0; i < n; i++) {
        tasks[i].expect = m2msec_manifest_entry_at(m, i);
        tasks[i].path = tasks[i].expect->path;
        tasks[i].status = M2MSEC_FILE_UNREADABLE;
    }
    memset(&w, 0, sizeof(w));
    w.rootfd = rootfd;
    w.m = m;
    w.ignore = opt != NULL ? opt->ignore : NULL;
    /* what the walk finds goes to a report of its own, merged in order below */
    w.report = extra = m2msec_report_new(NULL, 0);
    if (extra == NULL)
        goto end;
    if (!run(libctx, m2msec_manifest_digest(m), rootfd, tasks, n, opt != NULL ? opt->jobs : 0, opt,
             opt != NULL && opt->report_extra ? &w : NULL))
        goto end;
    /*
     * The tasks are in manifest order (sorted by path, each path once), the
     * walk's results are few: sort those, then merge, so the report is built
     * in order and m2msec_report_sort() below only checks it.
     */
    m2msec_report_sort(extra);
    ne = m2msec_report_count(extra);
    if (!m2msec_report_reserve(r, n + ne))
        goto end;
    for (i = 0, j = 0; i < n || j < ne;) {
        const m2msec_file_result *x = j < ne ? m2msec_report_at(extra, j) : NULL;

        if (x != NULL &&
            (i == n || m2msec_report_cmp(x->path, x->status, tasks[i].path, tasks[i].status) < 0)) {
            if (!m2msec_report_add_seen(r, x->path, x->status, x->detail,
                                        m2msec_report_seen(extra, j)))
                goto end;
            j++;
        } else {
            if (!m2msec_report_add_seen(r, tasks[i].path, tasks[i].status, tasks[i].detail,
                                        &tasks[i].seen))
                goto end;
            i++;
        }
    }
    m2msec_report_sort(r);
    ok = 1;
end:
    m2msec_report_free(extra);
    free_tasks(tasks, n);
    close(rootfd);
    if (!ok) {
        m2msec_report_free(r);
        r = NULL;
    }
    return r;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

m2msec_manifest *m2msec_manifest_from_tree(OSSL_LIB_CTX *libctx, const char *root,
                                           const char *digest, uint64_t version, uint64_t expires,
                                           int with_meta, unsigned jobs)
{
    m2msec_manifest *m = NULL;
    task_t *tasks = NULL;
    unsigned char *digests = NULL;
    walk_t w;
    size_t i;
    int rootfd, ok = 0;
    char pbuf[M2M_ESC_NAME], rbuf[M2M_ESC_NAME];

    m = m2msec_manifest_new(digest, version, expires);
    if (m == NULL)
        return NULL;
    rootfd = open_root(root);
    if (rootfd < 0) {
        m2msec_manifest_free(m);
        return NULL;
    }
    memset(&w, 0, sizeof(w));
    w.rootfd = rootfd;
    walk_dir(&w, "");
    if (w.failed)
        goto end;
    qsort(w.found, w.nfound, sizeof(*w.found), cmp_str);
    tasks = OPENSSL_zalloc((w.nfound > 0 ? w.nfound : 1) * sizeof(*tasks));
    digests = OPENSSL_malloc((w.nfound > 0 ? w.nfound : 1) * M2MSEC_DIGEST_MAX);
    if (tasks == NULL || digests == NULL) {
        ERR_raise_data(ERR_LIB_USER, ERR_R_MALLOC_FAILURE, "m2msec: out of memory");
        goto end;
    }
    for (i = 0; i < w.nfound; i++) {
        tasks[i].path = w.found[i];
        tasks[i].status = M2MSEC_FILE_UNREADABLE;
        tasks[i].digest = digests + i * M2MSEC_DIGEST_MAX;
    }
    if (!run(libctx, m2msec_manifest_digest(m), rootfd, tasks, w.nfound, jobs, NULL, NULL))
        goto end;
    for (i = 0; i < w.nfound; i++) {
        m2msec_manifest_entry e;

        if (tasks[i].status != M2MSEC_FILE_OK) {
            ERR_raise_data(ERR_LIB_USER, ERR_R_OPERATION_FAIL, "m2msec: %s under %s: %s",
                           m2m_esc(tasks[i].path, pbuf, sizeof(pbuf)),
                           m2m_esc(root, rbuf, sizeof(rbuf)),
                           tasks[i].detail != NULL ? tasks[i].detail : "failed");
            goto end;
        }
        memset(&e, 0, sizeof(e));
        e.path = tasks[i].path;
        memcpy(e.digest, digests + i * M2MSEC_DIGEST_MAX, tasks[i].digest_len);
        e.digest_len = tasks[i].digest_len;
        e.size = (with_meta & M2MSEC_META_SIZE_MODE) ? tasks[i].size : -1;
        e.mode = (with_meta & M2MSEC_META_SIZE_MODE) ? tasks[i].mode : -1;
        if (with_meta & M2MSEC_META_ATTR) {
            e.has_attr = 1;
            e.uid = tasks[i].uid;
            e.gid = tasks[i].gid;
            e.mtime = tasks[i].mtime;
        }
        if (!m2msec_manifest_add(m, &e))
            goto end;
    }
    ok = 1;
end:
    free_tasks(tasks, w.nfound);
    OPENSSL_free(digests);
    for (i = 0; i < w.nfound; i++)
        OPENSSL_free(w.found[i]);
    OPENSSL_free(w.found);
    close(rootfd);
    if (!ok) {
        ERR_raise_data(ERR_LIB_USER, ERR_R_OPERATION_FAIL,
                       "m2msec: cannot build a manifest from %s",
                       m2m_esc(root, rbuf, sizeof(rbuf)));
        m2msec_manifest_free(m);
        m = NULL;
    }
    return m;
}

int m2msec_file_hash(OSSL_LIB_CTX *libctx, int fd, const char *digest, unsigned char *out,
                     size_t *outlen)
{
    const char *name;
    size_t dlen;
    unsigned char *buf = NULL;
    EVP_MD *md = NULL;
    EVP_MD_CTX *ctx = NULL;
    unsigned int got = 0;
    uint64_t total;
    int ok = 0, err;

    if (out == NULL || outlen == NULL || fd < 0) {
        ERR_raise_data(ERR_LIB_USER, ERR_R_PASSED_INVALID_ARGUMENT,
                       "m2msec: m2msec_file_hash needs a descriptor and an output buffer");
        return 0;
    }
    name = m2m_digest_canonical(digest, &dlen);
    if (name == NULL) {
        char dbuf[M2M_ESC_NAME];

        ERR_raise_data(ERR_LIB_USER, ERR_R_PASSED_INVALID_ARGUMENT,
                       "m2msec: unsupported digest '%s' (SHA256, SHA384 or SHA512)",
                       m2m_esc(digest, dbuf, sizeof(dbuf)));
        return 0;
    }
    if (*outlen < dlen) {
        ERR_raise_data(ERR_LIB_USER, ERR_R_PASSED_INVALID_ARGUMENT,
                       "m2msec: output buffer of %zu bytes too small for %s", *outlen, name);
        return 0;
    }
    md = EVP_MD_fetch(libctx, name, NULL);
    ctx = EVP_MD_CTX_new();
    buf = OPENSSL_malloc(READ_BUF_SIZE);
    if (md == NULL || ctx == NULL || buf == NULL || EVP_DigestInit_ex2(ctx, md, NULL) != 1) {
        ERR_raise_data(ERR_LIB_USER, ERR_R_OPERATION_FAIL, "m2msec: cannot set up %s", name);
        goto end;
    }
    err = hash_loop(ctx, fd, buf, READ_BUF_SIZE, NULL, &total, -1);
    if (err > 0) {
        ERR_raise_data(ERR_LIB_SYS, err, "m2msec: cannot read the file to hash");
        goto end;
    }
    if (err < 0 || EVP_DigestFinal_ex(ctx, out, &got) != 1) {
        ERR_raise_data(ERR_LIB_USER, ERR_R_OPERATION_FAIL, "m2msec: %s failed", name);
        goto end;
    }
    *outlen = got;
    ok = 1;
end:
    OPENSSL_free(buf);
    EVP_MD_CTX_free(ctx);
    EVP_MD_free(md);
    return ok;
}
