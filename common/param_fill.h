/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One OSSL_PARAM filled in place, every byte defined (padding included),
 * and the end marker written the same way: for the per-record parameters
 * of the provider's record ciphers (their inner AEAD) and of libm2msec's
 * sessions (the record cipher), where OSSL_PARAM_construct_*() cost a call
 * into libcrypto and a copy of a 40-byte struct per parameter (about a third
 * of m2msec_session_open's own time, issue 13).
 *
 * Why every byte: OSSL_PARAM has 4 padding bytes after data_type on LP64,
 * and the structs OSSL_PARAM_construct_*() return leave them uninitialised.
 * Copying such a struct is valid C, but gcc -O2 copies it through SSE
 * registers, and OpenSSL 3.0's AVX GHASH (gcm_ghash_avx, used in the GCM
 * final) reads its caller's xmm0-xmm2 and cancels them by XOR, which
 * memcheck cannot follow: the stale padding made valgrind report the decrypt
 * final's tag comparison (scripts/valgrind.supp has the analysis).
 */
#ifndef M2MSEC_COMMON_PARAM_FILL_H
#define M2MSEC_COMMON_PARAM_FILL_H

#include <stddef.h>
#include <string.h>
#include <openssl/params.h>

static inline void m2m_param_fill(OSSL_PARAM *p, const char *key, unsigned int type, void *data,
                                  size_t size)
{
    memset(p, 0, sizeof(*p));
    p->key = key;
    p->data_type = type;
    p->data = data;
    p->data_size = size;
    p->return_size = OSSL_PARAM_UNMODIFIED;
}

static inline void m2m_param_end(OSSL_PARAM *p)
{
    memset(p, 0, sizeof(*p));
    p->key = NULL;
    p->data = NULL;
}

#endif
