/*
 * libm2msec: the default session state store, a small text file replaced
 * atomically (temp file in the same directory, fsync, rename, fsync of
 * the directory), so a crash leaves either the old or the new state.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/err.h>

#include "m2msec/session.h"
#include "safe_open.h"

#define STATE_MAGIC "m2msec-state 1"

/*
 * Expect `label` then a decimal uint64 then '\n' at *p. Digits only: no
 * sign, no white space, no overflow (sscanf's %llu takes "-1" as 2^64 - 1
 * and saturates on overflow, which would make a sender wrap to epoch 0).
 */
static int parse_field(const char **p, const char *label, uint64_t *v)
{
    const char *c = *p;
    size_t ll = strlen(label);
    uint64_t x = 0;

    if (strncmp(c, label, ll) != 0)
        return 0;
    c += ll;
    if (*c < '0' || *c > '9')
        return 0;
    for (; *c >= '0' && *c <= '9'; c++) {
        unsigned d = (unsigned)(*c - '0');

        if (x > (UINT64_MAX - d) / 10)
            return 0;
        x = x * 10 + d;
    }
    if (*c++ != '\n')
        return 0;
    *v = x;
    *p = c;
    return 1;
}

static int file_load(void *arg, m2msec_state *st)
{
    const char *path = arg;
    char buf[256];
    const char *p;
    uint64_t e, f;
    ssize_t n;
    int ok, fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

    if (fd < 0) {
        if (errno == ENOENT)
            return 0;
        ERR_raise_data(ERR_LIB_SYS, errno, "m2msec: cannot open state file %s", path);
        return -1;
    }
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n < 0) {
        ERR_raise_data(ERR_LIB_SYS, errno, "m2msec: cannot read state file %s", path);
        return -1;
    }
    buf[n] = '\0';
    /* Exactly the three lines, nothing before, between or after them (no NUL bytes). */
    ok = strlen(buf) == (size_t)n && strncmp(buf, STATE_MAGIC "\n", sizeof(STATE_MAGIC)) == 0;
    p = buf + sizeof(STATE_MAGIC);
    if (!ok || !parse_field(&p, "epoch ", &e) || !parse_field(&p, "seq-floor ", &f) || *p != '\0') {
        ERR_raise_data(ERR_LIB_USER, ERR_R_PASSED_INVALID_ARGUMENT,
                       "m2msec: state file %s is malformed; refusing to guess", path);
        return -1;
    }
    st->epoch = e;
    st->seq_floor = f;
    return 1;
}

static int file_save(void *arg, const m2msec_state *st)
{
    char text[128];
    int len =
        snprintf(text, sizeof(text), STATE_MAGIC "\nepoch %" PRIu64 "\nseq-floor %" PRIu64 "\n",
                 st->epoch, st->seq_floor);

    return m2m_write_atomic((const char *)arg, text, (size_t)len, 0600, "session state file");
}

void m2msec_store_file(m2msec_store *store, const char *path)
{
    store->load = file_load;
    store->save = file_save;
    store->arg = (void *)path;
}
