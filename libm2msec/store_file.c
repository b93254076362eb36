/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libm2msec: the default session state store, a small text file replaced
 * atomically (temp file in the same directory, fsync, rename, fsync of
 * the directory), so a crash leaves either the old or the new state.
 *
 * The lock is an exclusive flock(2) on "<path>.lock", a file that is never
 * replaced (a lock on the state file itself would be lost at the first
 * rename). flock locks belong to the open file description, so a second
 * open() in the same process conflicts too; a forked child shares the
 * parent's description (the session refuses to run there, and never
 * unlocks from there). The handle is the lock's descriptor + 1, so taking
 * the lock allocates nothing.
 */
#define _GNU_SOURCE /* flock() */

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/err.h>

#include "m2msec/session.h"
#include "io.h"
#include "safe_open.h"
#include "store_path.h"
#include "text.h"

#define STATE_MAGIC "m2msec-state 1"

#define LOCK_SUFFIX ".lock"

static void *fd_handle(int fd)
{
    return (void *)((uintptr_t)(unsigned)fd + 1);
}

static int handle_fd(void *h)
{
    return (int)((uintptr_t)h - 1);
}

/* "<path>.lock" into buf; 0 after an error if it does not fit. */
static int lock_path(const char *path, char buf[PATH_MAX])
{
    if (snprintf(buf, PATH_MAX, "%s" LOCK_SUFFIX, path) >= PATH_MAX) {
        ERR_raise_data(ERR_LIB_USER, ERR_R_PASSED_INVALID_ARGUMENT,
                       "m2msec: state file path too long: %s", path);
        return 0;
    }
    return 1;
}

/* 1 if lockpath still names the file open at fd (not deleted, not replaced). */
static int lock_in_place(int fd, const char *lockpath)
{
    struct stat a, b;

    return fstat(fd, &a) == 0 && lstat(lockpath, &b) == 0 && a.st_dev == b.st_dev &&
           a.st_ino == b.st_ino;
}

static int file_lock(void *arg, void **handle)
{
    const char *path = arg;
    char lp[PATH_MAX];
    struct stat before, st;
    int existed, fd, err;

    if (!m2m_store_path_check(path, "state file") || !lock_path(path, lp))
        return -1;
    /* Never open what is not a regular file (a device or fifo open has side effects). */
    existed = lstat(lp, &before) == 0;
    if (!existed && errno != ENOENT) {
        err = errno;
        ERR_raise_data(ERR_LIB_SYS, err, "m2msec: cannot examine the lock file %s: %s", lp,
                       strerror(err));
        return -1;
    }
    if (existed && !S_ISREG(before.st_mode)) {
        ERR_raise_data(ERR_LIB_USER, ERR_R_PASSED_INVALID_ARGUMENT,
                       "m2msec: the lock file %s is a %s, not a regular file; refusing to use it",
                       lp, m2m_type_text((unsigned)before.st_mode));
        return -1;
    }
    fd = open(lp, O_RDONLY | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC, 0600);
    if (fd < 0) {
        err = errno;
        if (err == ELOOP)
            ERR_raise_data(ERR_LIB_USER, ERR_R_PASSED_INVALID_ARGUMENT,
                           "m2msec: the lock file %s is a symbolic link; refusing to follow it",
                           lp);
        else
            ERR_raise_data(ERR_LIB_SYS, err, "m2msec: cannot open the lock file %s: %s", lp,
                           strerror(err));
        return -1;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
        (existed && (st.st_dev != before.st_dev || st.st_ino != before.st_ino))) {
        ERR_raise_data(ERR_LIB_USER, ERR_R_PASSED_INVALID_ARGUMENT,
                       "m2msec: the lock file %s changed while it was opened, or is not a "
                       "regular file; refusing to use it",
                       lp);
        close(fd);
        return -1;
    }
    while (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        err = errno;
        if (err == EINTR)
            continue;
        close(fd);
        if (err == EWOULDBLOCK)
            return 0;
        ERR_raise_data(ERR_LIB_SYS, err, "m2msec: cannot lock %s: %s", lp, strerror(err));
        return -1;
    }
    /* Deleted or replaced between open() and flock(): the lock would protect nothing. */
    if (!lock_in_place(fd, lp)) {
        ERR_raise_data(ERR_LIB_USER, ERR_R_OPERATION_FAIL,
                       "m2msec: the lock file %s was removed or replaced while it was being "
                       "locked; try again",
                       lp);
        close(fd);
        return -1;
    }
    *handle = fd_handle(fd);
    return 1;
}

static void file_unlock(void *arg, void *handle)
{
    (void)arg;
    /* Only close: the lock goes with the last descriptor of its open file description. */
    close(handle_fd(handle));
}

static int file_load(void *arg, void *handle, m2msec_session_state *st)
{
    const char *path = arg;
    char buf[256];
    M2M_LINES lines;
    M2M_SPAN l;
    uint64_t e, f;
    size_t n = 0;
    struct stat sb;
    /* O_NONBLOCK: a fifo put in its place must not hang the session */
    int r, fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);

    (void)handle; /* reading needs no lock: the file is replaced atomically */
    if (fd < 0) {
        int err = errno;

        if (err == ENOENT)
            return 0;
        ERR_raise_data(ERR_LIB_SYS, err, "m2msec: cannot open state file %s: %s", path,
                       err == ELOOP ? "it is a symbolic link" : strerror(err));
        return -1;
    }
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        ERR_raise_data(ERR_LIB_USER, ERR_R_PASSED_INVALID_ARGUMENT,
                       "m2msec: state file %s is not a regular file; refusing to use it", path);
        close(fd);
        return -1;
    }
    r = m2m_read_all(fd, buf, sizeof(buf) - 1, &n);
    close(fd);
    if (r == 0) {
        int err = errno;

        ERR_raise_data(ERR_LIB_SYS, err, "m2msec: cannot read state file %s: %s", path,
                       strerror(err));
        return -1;
    }
    /*
     * Exactly the three lines, nothing before, between or after them (no
     * NUL bytes); decimals without sign or white space (sscanf's %llu takes
     * "-1" as 2^64 - 1 and saturates on overflow, which would make a sender
     * wrap to epoch 0); leading zeros are accepted, as they always were.
     */
    m2m_lines_init(&lines, buf, n);
    if (r < 0 || memchr(buf, '\0', n) != NULL || m2m_line_next(&lines, &l) != 1 ||
        !m2m_span_is(&l, STATE_MAGIC) || m2m_line_next(&lines, &l) != 1 ||
        m2m_kv_u64(&l, "epoch", UINT64_MAX, M2M_DEC_LEADING_ZEROS, &e) != M2M_DEC_OK ||
        m2m_line_next(&lines, &l) != 1 ||
        m2m_kv_u64(&l, "seq-floor", UINT64_MAX, M2M_DEC_LEADING_ZEROS, &f) != M2M_DEC_OK ||
        m2m_line_next(&lines, &l) != 0) {
        ERR_raise_data(ERR_LIB_USER, ERR_R_PASSED_INVALID_ARGUMENT,
                       "m2msec: state file %s is malformed; refusing to guess", path);
        return -1;
    }
    st->epoch = e;
    st->seq_floor = f;
    return 1;
}

static int file_save(void *arg, void *handle, const m2msec_session_state *st)
{
    const char *path = arg;
    char text[128], lp[PATH_MAX];
    int len;

    if (handle == NULL) {
        ERR_raise_data(ERR_LIB_USER, ERR_R_PASSED_NULL_PARAMETER,
                       "m2msec: state file %s: saving needs the lock", path);
        return 0;
    }
    if (!lock_path(path, lp))
        return 0;
    if (!lock_in_place(handle_fd(handle), lp)) {
        ERR_raise_data(ERR_LIB_USER, ERR_R_OPERATION_FAIL,
                       "m2msec: the lock file %s was removed or replaced while a session held it; "
                       "another session may be using the state: refusing to save",
                       lp);
        return 0;
    }
    len = snprintf(text, sizeof(text), STATE_MAGIC "\nepoch %" PRIu64 "\nseq-floor %" PRIu64 "\n",
                   st->epoch, st->seq_floor);
    return m2m_write_atomic(path, text, (size_t)len, 0600, "session state file");
}

static void file_release(void *arg)
{
    OPENSSL_free(arg);
}

int m2msec_store_file(m2msec_store *store, const char *path)
{
    char *copy;

    memset(store, 0, sizeof(*store));
    /* a relative path is refused at once; the directories are checked at every lock */
    if (path[0] != '/') {
        (void)m2m_store_path_check(path, "state file");
        return 0;
    }
    if ((copy = OPENSSL_strdup(path)) == NULL) {
        ERR_raise_data(ERR_LIB_USER, ERR_R_MALLOC_FAILURE,
                       "m2msec: out of memory for the state file's name");
        return 0;
    }
    store->lock = file_lock;
    store->load = file_load;
    store->save = file_save;
    store->unlock = file_unlock;
    store->release = file_release;
    store->arg = copy;
    store->name = copy;
    return 1;
}

void m2msec_store_clear(m2msec_store *store)
{
    if (store == NULL)
        return;
    if (store->release != NULL)
        store->release(store->arg);
    memset(store, 0, sizeof(*store));
}
