/* SPDX-License-Identifier: Apache-2.0 */
/* m2msec provider: helpers that copy OSSL_PARAM values into KDF contexts. */
#ifndef M2M_PARAMS_H
#define M2M_PARAMS_H

#include <stddef.h>
#include <stdint.h>
#include <openssl/params.h>

/* A parameter value owned by a KDF context. */
typedef struct m2m_bytes_st {
    unsigned char *data; /* NULL when unset */
    size_t len;
} M2M_BYTES;

/*
 * The value of UTF-8 string parameter p: *s points at its *len bytes (not
 * NUL-terminated in general; *len is the parameter's data_size). Every UTF-8
 * parameter the provider reads goes through here. Refused, with an error
 * naming the parameter: a parameter that is not a UTF-8 string
 * (M2MSEC_R_INVALID_PARAMETER), and one whose bytes contain a NUL, that is
 * whose data_size disagrees with its length as a C string
 * (M2MSEC_R_INVALID_UTF8), so "iv\0junk" is never read as "iv". A UTF8_PTR
 * parameter is a C string; its data_size must be 0 (unknown) or its length.
 */
int m2m_param_utf8(const OSSL_PARAM *p, const char **s, size_t *len);
/* Is (s, len) exactly the C string name? */
int m2m_name_is(const char *s, size_t len, const char *name);
/* How many bytes of a refused name to show in an error detail ("%.*s"). */
int m2m_name_shown(size_t len);
/* Replace *b with a copy of octet-string param p. Secrets are wiped on replace/free. */
int m2m_param_octets(const OSSL_PARAM *p, M2M_BYTES *b, int secret);
/*
 * Replace *b with the NFKC normalisation of UTF-8 param p (RFC 3629 UTF-8,
 * Unicode NFKC as oneM2M TS-0003 requires). Invalid UTF-8 raises
 * M2MSEC_R_INVALID_UTF8 naming the parameter. Empty strings are refused when
 * allow_empty is 0.
 */
int m2m_param_nfkc(const OSSL_PARAM *p, M2M_BYTES *b, int allow_empty);
int m2m_param_u64(const OSSL_PARAM *p, uint64_t *v);
/* Is an input key long enough for the policy's min_key_bits? Raises M2MSEC_R_KEY_TOO_SHORT if not.
 */
int m2m_key_long_enough(const M2M_BYTES *key, uint64_t min_key_bits);
int m2m_bytes_dup(M2M_BYTES *dst, const M2M_BYTES *src, int secret);
void m2m_bytes_free(M2M_BYTES *b, int secret);

#endif
