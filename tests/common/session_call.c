/* SPDX-License-Identifier: Apache-2.0 */
/* Session API calls that check the return convention; see session_call.h. */
#include <stdio.h>
#include <stdlib.h>
#include <openssl/crypto.h>
#include <openssl/err.h>

#include "session_call.h"

static void convention(const char *fn, int ret, m2msec_session_status st, size_t outlen)
{
    const char *broken = NULL;

    if (ret != 0 && ret != 1)
        broken = "returned neither 1 nor 0";
    else if ((ret == 1) != (st == M2MSEC_SESSION_OK))
        broken = "return value and status disagree";
    else if (ret == 0 && outlen != 0)
        broken = "failed but left *outlen set";
    else if (ret == 0 && ERR_peek_error() == 0)
        broken = "failed with nothing on the OpenSSL error queue";
    if (broken == NULL)
        return;
    fprintf(stderr, "return convention broken: %s %s (ret %d, status %s)\n", fn, broken, ret,
            m2msec_session_status_text(st));
    abort();
}

m2msec_session_status t_seal(m2msec_session *s, const unsigned char *in, size_t inlen,
                             unsigned char *out, size_t outcap, size_t *outlen)
{
    m2msec_session_status st = M2MSEC_SESSION_STATUS_COUNT;
    int ret = m2msec_session_seal(s, in, inlen, out, outcap, outlen, &st);

    convention("m2msec_session_seal", ret, st, *outlen);
    return st;
}

m2msec_session_status t_open(m2msec_session *s, const unsigned char *in, size_t inlen,
                             unsigned char *out, size_t outcap, size_t *outlen)
{
    m2msec_session_status st = M2MSEC_SESSION_STATUS_COUNT;
    int ret = m2msec_session_open(s, in, inlen, out, outcap, outlen, &st);

    convention("m2msec_session_open", ret, st, *outlen);
    return st;
}

/* The path copies of t_store_file, released at exit. */
static m2msec_store *kept;
static size_t nkept, capkept;

static void release_kept(void)
{
    for (size_t i = 0; i < nkept; i++)
        m2msec_store_clear(&kept[i]);
    free(kept);
    kept = NULL;
    nkept = capkept = 0;
}

void t_store_file(m2msec_store *store, const char *path)
{
    if (!m2msec_store_file(store, path)) {
        ERR_print_errors_fp(stderr);
        fprintf(stderr, "m2msec_store_file(%s) failed\n", path);
        abort();
    }
    if (nkept == capkept) {
        size_t ncap = capkept ? capkept * 2 : 16;
        m2msec_store *n = realloc(kept, ncap * sizeof(*n));

        if (n == NULL) {
            fprintf(stderr, "t_store_file: out of memory\n");
            abort();
        }
        if (kept == NULL)
            atexit(release_kept);
        kept = n;
        capkept = ncap;
    }
    kept[nkept++] = *store;
}
