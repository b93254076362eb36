/* m2msec provider: M2M-REC-* record ciphers (see cipher_record.c). */
#ifndef M2M_CIPHER_RECORD_H
#define M2M_CIPHER_RECORD_H

#include <stddef.h>
#include <stdint.h>
#include <openssl/core_dispatch.h>

#include "m2msec/record.h"

#define M2M_REC_NALGS 4

typedef struct m2m_rec_alg_st {
    const char *name;  /* provider name */
    const char *inner; /* OpenSSL cipher doing the AEAD work */
    size_t keylen;
    int ccm;
    uint64_t max_records, max_bytes, max_failures; /* per-key defaults */
} M2M_REC_ALG;

extern const M2M_REC_ALG m2m_rec_algs[M2M_REC_NALGS];

extern const OSSL_DISPATCH m2m_rec_aes128gcm_functions[];
extern const OSSL_DISPATCH m2m_rec_aes256gcm_functions[];
extern const OSSL_DISPATCH m2m_rec_chacha20poly1305_functions[];
extern const OSSL_DISPATCH m2m_rec_aes128ccm_functions[];

#endif
