/*
 * The device integrity status record (docs/PROTOCOL.md section 8): written
 * by the verifier (libm2msec), read by the provider's integrity gate.
 * This one source file is compiled into both, so the format lives once.
 *
 *   m2msec-integrity-status 1\n
 *   result passed|failed\n
 *   manifest-version <decimal>\n
 *   time <decimal seconds since 1970>\n
 *   mac <64 lowercase hex: HMAC-SHA-256(device key, all bytes above)>\n
 */
#ifndef M2M_INTEGRITY_STATUS_H
#define M2M_INTEGRITY_STATUS_H

#include <stddef.h>
#include <stdint.h>
#include <openssl/evp.h>

#define M2M_STATUS_MAX 512

typedef struct m2m_integrity_status {
    int passed;
    uint64_t manifest_version;
    uint64_t time;
} M2M_INTEGRITY_STATUS;

/* Render the record into out (cap >= M2M_STATUS_MAX); returns its length, 0 on error. */
size_t m2m_status_render(EVP_MAC *hmac, const unsigned char *key, size_t keylen,
                         const M2M_INTEGRITY_STATUS *st, char *out, size_t cap);

/*
 * Parse and authenticate a record. Returns NULL on success, else a static
 * text saying what is wrong ("malformed", "MAC does not verify").
 */
const char *m2m_status_verify(EVP_MAC *hmac, const unsigned char *key, size_t keylen,
                              const char *buf, size_t len, M2M_INTEGRITY_STATUS *st);

#endif
