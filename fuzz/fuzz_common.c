/* SPDX-License-Identifier: Apache-2.0 */
/* Shared helpers of the m2msec fuzz harnesses (see fuzz_common.h). */
#define _GNU_SOURCE /* nftw() flags, mkdtemp() */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/err.h>
#include <openssl/provider.h>

#include "fuzz_common.h"

/* provider/provider.c */
int OSSL_provider_init(const OSSL_CORE_HANDLE *handle, const OSSL_DISPATCH *in,
                       const OSSL_DISPATCH **out, void **provctx);

void fz_fail(const char *fmt, ...)
{
    va_list ap;

    fputs("\n*** m2msec fuzz invariant broken: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\n", stderr);
    ERR_print_errors_fp(stderr);
    abort();
}

OSSL_LIB_CTX *fz_libctx_new(int with_default)
{
    OSSL_LIB_CTX *ctx = OSSL_LIB_CTX_new();

    if (ctx == NULL || !OSSL_PROVIDER_add_builtin(ctx, "m2msec", OSSL_provider_init))
        fz_fail("cannot create a library context with the built-in m2msec provider");
    /* Loaded for the life of the process: the handles are never unloaded. */
    if (with_default && OSSL_PROVIDER_load(ctx, "default") == NULL)
        fz_fail("cannot load the default provider");
    if (OSSL_PROVIDER_load(ctx, "m2msec") == NULL)
        fz_fail("cannot load the built-in m2msec provider");
    return ctx;
}

OSSL_LIB_CTX *fz_libctx_from_config(const char *name, const char *cnf)
{
    OSSL_LIB_CTX *ctx = OSSL_LIB_CTX_new();
    const char *old = getenv("OPENSSL_CONF");
    char path[600], *saved = old != NULL ? strdup(old) : NULL;
    int ok;

    fz_tmppath(path, sizeof(path), name);
    fz_write_file(path, cnf, strlen(cnf));
    /*
     * The provider checks its section in the file OpenSSL reads by default:
     * name it there while the section activates the provider, then put the
     * environment back.
     */
    setenv("OPENSSL_CONF", path, 1);
    ok = ctx != NULL && OSSL_PROVIDER_add_builtin(ctx, "m2msec", OSSL_provider_init) &&
         OSSL_LIB_CTX_load_config(ctx, path) && OSSL_PROVIDER_available(ctx, "m2msec");
    if (saved != NULL)
        setenv("OPENSSL_CONF", saved, 1);
    else
        unsetenv("OPENSSL_CONF");
    free(saved);
    if (!ok)
        fz_fail("cannot configure a library context from %s", path);
    return ctx;
}

static char tmpdir[512];

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

static void rm_tmpdir(void)
{
    if (tmpdir[0] != '\0')
        nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

const char *fz_tmpdir(void)
{
    if (tmpdir[0] == '\0') {
        const char *base = getenv("TMPDIR");

        snprintf(tmpdir, sizeof(tmpdir), "%s/m2msec-fuzz-XXXXXX",
                 base != NULL && base[0] != '\0' ? base : "/tmp");
        if (mkdtemp(tmpdir) == NULL)
            fz_fail("mkdtemp %s: %s", tmpdir, strerror(errno));
        atexit(rm_tmpdir);
    }
    return tmpdir;
}

void fz_tmppath(char *buf, size_t cap, const char *name)
{
    snprintf(buf, cap, "%s/%s", fz_tmpdir(), name);
}

void fz_write_file(const char *path, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    const unsigned char *p = data;

    if (fd < 0)
        fz_fail("open %s: %s", path, strerror(errno));
    while (len > 0) {
        ssize_t w = write(fd, p, len);

        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            fz_fail("write %s: %s", path, strerror(errno));
        p += w;
        len -= (size_t)w;
    }
    close(fd);
}

unsigned char *fz_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    unsigned char *buf = NULL;
    size_t cap = 0, n = 0;

    *len = 0;
    if (f == NULL)
        return NULL;
    for (;;) {
        size_t r;

        if (cap - n < 4096) {
            cap = cap * 2 + 4096;
            buf = realloc(buf, cap + 1);
            if (buf == NULL)
                fz_fail("out of memory");
        }
        r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (r == 0)
            break;
    }
    fclose(f);
    buf[n] = 0;
    *len = n;
    return buf;
}

uint8_t fz_u8(fz_in *in)
{
    uint8_t v = 0;

    if (in->n > 0) {
        v = in->p[0];
        in->p++;
        in->n--;
    }
    return v;
}

uint16_t fz_u16(fz_in *in)
{
    uint16_t hi = fz_u8(in);

    return (uint16_t)(hi << 8 | fz_u8(in));
}

uint32_t fz_u32(fz_in *in)
{
    uint32_t hi = fz_u16(in);

    return hi << 16 | fz_u16(in);
}

uint64_t fz_u64(fz_in *in)
{
    uint64_t hi = fz_u32(in);

    return hi << 32 | fz_u32(in);
}

const uint8_t *fz_bytes(fz_in *in, size_t len, size_t *got)
{
    const uint8_t *p = in->p;

    if (len > in->n)
        len = in->n;
    in->p += len;
    in->n -= len;
    *got = len;
    return p;
}

void fz_copy(fz_in *in, void *out, size_t len)
{
    size_t got;
    const uint8_t *p = fz_bytes(in, len, &got);

    if (got > 0)
        memcpy(out, p, got);
    memset((unsigned char *)out + got, 0, len - got);
}

const uint8_t *fz_rest(fz_in *in, size_t *len)
{
    return fz_bytes(in, in->n, len);
}

void fz_errors(const char *what)
{
    static int verbose = -1;

    if (verbose < 0)
        verbose = getenv("M2M_FUZZ_VERBOSE") != NULL;
    if (verbose && ERR_peek_error() != 0) {
        fprintf(stderr, "-- %s:\n", what);
        ERR_print_errors_fp(stderr);
    }
    ERR_clear_error();
}

#define MAX_STATS 64
static struct {
    const char *name;
    unsigned long long n;
} stats[MAX_STATS];

static void print_stats(void)
{
    for (int i = 0; i < MAX_STATS && stats[i].name != NULL; i++)
        fprintf(stderr, "stat %-40s %llu\n", stats[i].name, stats[i].n);
}

void fz_stat(const char *name)
{
    static int on = -1;

    if (on < 0) {
        on = getenv("M2M_FUZZ_STATS") != NULL;
        if (on)
            atexit(print_stats);
    }
    if (!on)
        return;
    for (int i = 0; i < MAX_STATS; i++) {
        if (stats[i].name == NULL)
            stats[i].name = name;
        if (stats[i].name == name || strcmp(stats[i].name, name) == 0) {
            stats[i].n++;
            return;
        }
    }
}
