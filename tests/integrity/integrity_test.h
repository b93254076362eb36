/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Shared helpers of the integrity tests (tests/integrity/test_*.c):
 * temporary trees, the stock tools (openssl, sha256sum, sha384sum,
 * sha512sum) as independent references, and the suite set-up with the
 * stock CLI's keys. Files, shell commands, the OpenSSL error queue as text
 * and the CUnit runner come from tests/common. Everything here is static
 * so each program takes what it uses.
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
#include "test_errors.h"
#include "test_files.h"
#include "test_run.h"

static OSSL_LIB_CTX *libctx;
static OSSL_PROVIDER *prov_default;
static char keydir[PATH_MAX];

/* A fresh directory /tmp/m2m-int-XXXXXX, mode 0755 (reachable by any user). */
static inline void tmpdir_new(char *buf, size_t len)
{
    pathf(buf, len, "%s", "/tmp/m2m-int-XXXXXX");
    if (mkdtemp(buf) == NULL || chmod(buf, 0755) != 0) {
        perror("mkdtemp");
        abort();
    }
}

static inline void rm_rf(const char *dir)
{
    if (dir[0] != '\0' && strncmp(dir, "/tmp/m2m-int-", 13) == 0)
        run("rm -rf '%s'", dir);
}

/* Number of entries in @p dir whose name contains ".tmp." (leftover temp files). */
static inline int temp_files_in(const char *dir)
{
    char *out = run_out("ls -a '%s' | grep -c '\\.tmp\\.' || true", dir);
    int n = out != NULL ? atoi(out) : -1;

    free(out);
    return n;
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

#endif
