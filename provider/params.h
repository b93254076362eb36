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

/* Replace *b with a copy of octet-string param p. Secrets are wiped on replace/free. */
int m2m_param_octets(const OSSL_PARAM *p, M2M_BYTES *b, int secret);
/*
 * Replace *b with the NFKC normalisation of UTF-8 param p (RFC 3629 UTF-8,
 * Unicode NFKC as oneM2M TS-0003 requires). Invalid UTF-8 raises
 * M2M_R_INVALID_UTF8 naming the parameter. Empty strings are refused when
 * allow_empty is 0.
 */
int m2m_param_nfkc(const OSSL_PARAM *p, M2M_BYTES *b, int allow_empty);
int m2m_param_u64(const OSSL_PARAM *p, uint64_t *v);
/* Is an input key long enough for the policy's min_key_bits? Raises M2M_R_KEY_TOO_SHORT if not. */
int m2m_key_long_enough(const M2M_BYTES *key, uint64_t min_key_bits);
int m2m_bytes_dup(M2M_BYTES *dst, const M2M_BYTES *src, int secret);
void m2m_bytes_free(M2M_BYTES *b, int secret);

#endif
