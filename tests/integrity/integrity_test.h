/*
 * Shared helpers of the integrity tests (tests/integrity/test_*.c):
 * temporary trees, files, running the stock tools (openssl, sha256sum,
 * sha384sum, sha512sum) as independent references, and reading the
 * OpenSSL error queue as text. Everything is static so each program takes
 * what it uses.
 */
#ifndef M2MSEC_TESTS_INTEGRITY_TEST_H
#define M2MSEC_TESTS_INTEGRITY_TEST_H

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CUnit/Basic.h>
#include <CUnit/CUnit.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/provider.h>

#include "m2msec/integrity.h"

static OSSL_LIB_CTX *libctx;
static OSSL_PROVIDER *prov_default;
static char keydir[PATH_MAX];

__attribute__((format(printf, 3, 4))) static inline void pathf(char *buf, size_t len,
                                                               const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(buf, len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= len) {
        fprintf(stderr, "path too long: %s\n", fmt);
        abort();
    }
}

/* A fresh directory /tmp/m2m-int-XXXXXX, mode 0755 (reachable by any user). */
static inline void tmpdir_new(char *buf, size_t len)
{
    pathf(buf, len, "%s", "/tmp/m2m-int-XXXXXX");
    if (mkdtemp(buf) == NULL || chmod(buf, 0755) != 0) {
        perror("mkdtemp");
        abort();
    }
}

__attribute__((format(printf, 1, 2))) static inline int run(const char *fmt, ...)
{
    char cmd[8192];
    va_list ap;
    int st;

    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    st = system(cmd);
    if (st == -1 || !WIFEXITED(st))
        return -1;
    return WEXITSTATUS(st);
}

/* stdout of a shell command (malloc'd, NUL-terminated), or NULL. */
__attribute__((format(printf, 1, 2))) static inline char *run_out(const char *fmt, ...)
{
    char cmd[8192], *out = NULL;
    size_t n = 0, cap = 0;
    va_list ap;
    FILE *f;
    int c;

    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    f = popen(cmd, "r");
    if (f == NULL)
        return NULL;
    while ((c = fgetc(f)) != EOF) {
        if (n + 1 >= cap) {
            cap = cap == 0 ? 256 : cap * 2;
            out = realloc(out, cap);
            if (out == NULL)
                abort();
        }
        out[n++] = (char)c;
    }
    if (pclose(f) != 0) {
        free(out);
        return NULL;
    }
    if (out == NULL)
        out = calloc(1, 1);
    else
        out[n] = '\0';
    return out;
}

static inline void rm_rf(const char *dir)
{
    if (dir[0] != '\0' && strncmp(dir, "/tmp/m2m-int-", 13) == 0)
        run("rm -rf '%s'", dir);
}

static inline void write_bytes(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");

    if (f == NULL || fwrite(data, 1, len, f) != len || fclose(f) != 0) {
        perror(path);
        abort();
    }
}

static inline void write_text(const char *path, const char *text)
{
    write_bytes(path, text, strlen(text));
}

/* Whole file (malloc'd, NUL-terminated), or NULL. */
static inline unsigned char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    unsigned char *b = NULL;
    size_t n = 0, cap = 0, r;

    if (len != NULL)
        *len = 0;
    if (f == NULL)
        return NULL;
    do {
        if (n + 4096 + 1 > cap) {
            cap = cap == 0 ? 8192 : cap * 2;
            b = realloc(b, cap);
            if (b == NULL)
                abort();
        }
        r = fread(b + n, 1, cap - n - 1, f);
        n += r;
    } while (r > 0);
    fclose(f);
    b[n] = '\0';
    if (len != NULL)
        *len = n;
    return b;
}

static inline int file_exists(const char *path)
{
    struct stat st;

    return lstat(path, &st) == 0;
}

/* Number of entries in @p dir whose name contains ".tmp." (leftover temp files). */
static inline int temp_files_in(const char *dir)
{
    char *out = run_out("ls -a '%s' | grep -c '\\.tmp\\.' || true", dir);
    int n = out != NULL ? atoi(out) : -1;

    free(out);
    return n;
}

static inline int err_cb(const char *str, size_t len, void *u)
{
    char **acc = u;
    size_t old = *acc != NULL ? strlen(*acc) : 0;
    char *n = realloc(*acc, old + len + 2);

    if (n == NULL)
        abort();
    memcpy(n + old, str, len);
    n[old + len] = '\0';
    *acc = n;
    return 1;
}

/* Drain the OpenSSL error queue into a malloc'd string ("" if empty). */
static inline char *errors_text(void)
{
    char *acc = NULL;

    ERR_print_errors_cb(err_cb, &acc);
    if (acc == NULL)
        acc = calloc(1, 1);
    return acc;
}

/* Drain the queue; 1 if it holds every given substring (NULL-terminated list). */
static inline int errors_have(const char *first, ...)
{
    char *t = errors_text();
    const char *s = first;
    int ok = 1;
    va_list ap;

    va_start(ap, first);
    for (; s != NULL; s = va_arg(ap, const char *)) {
        if (strstr(t, s) == NULL) {
            fprintf(stderr, "\n  error text lacks \"%s\":\n%s\n", s, t);
            ok = 0;
        }
    }
    va_end(ap);
    free(t);
    return ok;
}

static inline void hex(const unsigned char *b, size_t n, char *out)
{
    static const char d[] = "0123456789abcdef";
    size_t i;

    for (i = 0; i < n; i++) {
        out[2 * i] = d[b[i] >> 4];
        out[2 * i + 1] = d[b[i] & 15];
    }
    out[2 * n] = '\0';
}

/* The stock tool's digest of a file, e.g. tool "sha256sum": lowercase hex, or "". */
static inline void stock_digest(const char *tool, const char *path, char *out, size_t len)
{
    char *o = run_out("%s '%s'", tool, path);

    out[0] = '\0';
    if (o != NULL && strchr(o, ' ') != NULL) {
        size_t n = (size_t)(strchr(o, ' ') - o);

        if (n < len) {
            memcpy(out, o, n);
            out[n] = '\0';
        }
    }
    free(o);
}

/* Library context with the default provider, the stock CLI's keys in keydir. */
static inline int integrity_suite_init(void)
{
    unsetenv("OPENSSL_CONF");
    unsetenv("OPENSSL_MODULES");
    libctx = OSSL_LIB_CTX_new();
    prov_default = libctx != NULL ? OSSL_PROVIDER_load(libctx, "default") : NULL;
    if (prov_default == NULL)
        return 1;
    tmpdir_new(keydir, sizeof(keydir));
    if (run("cd '%s' && openssl genpkey -algorithm ed25519 -out ed.pem 2>/dev/null &&"
            " openssl pkey -in ed.pem -pubout -out ed.pub &&"
            " openssl genpkey -algorithm ed25519 -out ed2.pem 2>/dev/null &&"
            " openssl pkey -in ed2.pem -pubout -out ed2.pub &&"
            " openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ec.pem &&"
            " openssl pkey -in ec.pem -pubout -out ec.pub &&"
            " openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out ec384.pem &&"
            " openssl pkey -in ec384.pem -pubout -out ec384.pub &&"
            " openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out rsa.pem"
            " 2>/dev/null && openssl pkey -in rsa.pem -pubout -out rsa.pub",
            keydir) != 0) {
        fprintf(stderr, "cannot generate keys with the openssl command\n");
        return 1;
    }
    return 0;
}

static inline int integrity_suite_cleanup(void)
{
    rm_rf(keydir);
    OSSL_PROVIDER_unload(prov_default);
    OSSL_LIB_CTX_free(libctx);
    return 0;
}

typedef struct {
    const char *name;
    CU_TestFunc fn;
} test_def;

static inline int run_suite(const char *prog, const char *suite_name, const test_def *tests,
                            size_t n)
{
    CU_pSuite suite;
    unsigned failures;
    size_t i;

    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    suite = CU_add_suite(suite_name, integrity_suite_init, integrity_suite_cleanup);
    if (suite == NULL) {
        CU_cleanup_registry();
        return 1;
    }
    for (i = 0; i < n; i++) {
        if (CU_add_test(suite, tests[i].name, tests[i].fn) == NULL) {
            CU_cleanup_registry();
            return 1;
        }
    }
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    failures = CU_get_number_of_failures() + CU_get_number_of_tests_failed() +
               CU_get_number_of_suites_failed();
    printf("%s: %u assertions, %u failed\n", prog, CU_get_number_of_asserts(),
           CU_get_number_of_failures());
    CU_cleanup_registry();
    return failures == 0 && CU_get_error() == CUE_SUCCESS ? 0 : 1;
}

#endif
