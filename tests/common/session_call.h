/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Calls of the session API for tests, each checking the library's return
 * convention (include/m2msec/m2msec.h) on every call it makes:
 *
 *   t_seal / t_open: m2msec_session_seal / m2msec_session_open, returning
 *     the status of the optional out-parameter. They abort the program
 *     (the test then fails) unless the return value is 1 exactly when the
 *     status is M2MSEC_SESSION_OK, and a failure left *outlen 0 and at
 *     least one error on the OpenSSL error queue.
 *   t_store_file: m2msec_store_file that aborts when it fails; the copy of
 *     the path it makes is released at exit (m2msec_store_clear), so that
 *     a test need not track the lifetime of every store it fills.
 */
#ifndef M2MSEC_TESTS_COMMON_SESSION_CALL_H
#define M2MSEC_TESTS_COMMON_SESSION_CALL_H

#include <stddef.h>

#include "m2msec/session.h"

m2msec_session_status t_seal(m2msec_session *s, const unsigned char *in, size_t inlen,
                             unsigned char *out, size_t outcap, size_t *outlen);
m2msec_session_status t_open(m2msec_session *s, const unsigned char *in, size_t inlen,
                             unsigned char *out, size_t outcap, size_t *outlen);
void t_store_file(m2msec_store *store, const char *path);

#endif
