/* SPDX-License-Identifier: Apache-2.0 */
/*
 * common: the device integrity status record (docs/PROTOCOL.md section 8):
 * written by the verifier (libm2msec), read by the provider's integrity
 * gate and by `m2msec status`, all through this one file; and the device
 * key that authenticates it (its size is defined here only).
 *
 *   m2msec-integrity-status 2\n
 *   result passed|failed|verifying\n
 *   manifest-version <decimal>\n
 *   time <decimal seconds since 1970>\n
 *   mac <64 lowercase hex: HMAC-SHA-256(device key, all bytes above)>\n
 *
 * "verifying" is written before a verification starts (m2msec verify,
 * m2msec_integrity_status_invalidate) and refused by the gate like "failed". Format
 * 1 (no "verifying": its writers did not invalidate the record before
 * verifying) is refused with its own message.
 */
#ifndef M2M_COMMON_STATUS_RECORD_H
#define M2M_COMMON_STATUS_RECORD_H

#include <stddef.h>
#include <stdint.h>
#include <openssl/evp.h>

#include "cfile.h"

#define M2M_STATUS_MAX 512

typedef struct m2m_integrity_status {
    int passed; /* 1: "result passed" */
    uint64_t manifest_version;
    uint64_t time;
    int verifying; /* 1: "result verifying" (passed is 0); both 0: "result failed" */
} M2M_INTEGRITY_STATUS;

/*
 * Render the record into out (cap >= M2M_STATUS_MAX); returns its length, 0 on
 * error. st->verifying set writes "verifying", else passed or failed.
 */
size_t m2m_status_render(EVP_MAC *hmac, const unsigned char *key, size_t keylen,
                         const M2M_INTEGRITY_STATUS *st, char *out, size_t cap);

/*
 * Parse and authenticate a record. Only the canonical form that
 * m2m_status_render writes is accepted: the five lines above in this order,
 * format 2,
 * one space after each field name, decimals without sign or leading zero
 * (except "0") that fit 64 bits, 64 lowercase hex digits, LF line ends,
 * at most M2M_STATUS_MAX - 1 bytes. Anything else is refused even when its
 * MAC is right. Returns NULL on success (st filled), else a static text
 * saying what is wrong ("malformed status record (...)" naming the line
 * or field, "status record MAC does not verify ..."); st is then untouched.
 */
const char *m2m_status_verify(EVP_MAC *hmac, const unsigned char *key, size_t keylen,
                              const char *buf, size_t len, M2M_INTEGRITY_STATUS *st);

/*
 * The reader that the provider's gate, libm2msec and `m2msec status` share:
 * read the record at @p path (m2m_cf_read_into: no symlink in any
 * component, a regular file, less than M2M_STATUS_MAX bytes) and
 * authenticate it (m2m_status_verify); the buffer is wiped. 1 with *st
 * filled; 0 when the file cannot be read (err->text says why,
 * err->sys_errno is ENOENT when it does not exist); -1 when it is not a
 * valid record (err->text is m2m_status_verify's text, sys_errno 0).
 */
int m2m_status_read(EVP_MAC *hmac, const unsigned char *key, size_t keylen, const char *path,
                    M2M_INTEGRITY_STATUS *st, M2M_ERRMSG *err);

/* Device key: 16..M2M_DEVICE_KEY_MAX bytes, as hex in a file. */
#define M2M_DEVICE_KEY_MIN 16
#define M2M_DEVICE_KEY_MAX 64
/* A key file longer than this is refused (room for hex with white space). */
#define M2M_DEVICE_KEY_FILE_MAX 1024

/*
 * Read the device key file @p path (a regular file, no symlink in any
 * component of the path: common/cfile.h): hex digits, white space (space,
 * tab, CR, LF) ignored, 16..M2M_DEVICE_KEY_MAX bytes. Returns 0 with key
 * and *keylen set; else key is wiped and the return says why: an errno
 * value (> 0) when the file cannot be opened (ELOOP: a symlink on the way,
 * EINVAL: not a regular file), -1 when it cannot be read or is
 * M2M_DEVICE_KEY_FILE_MAX bytes or longer, -2 when it is not 16..64 bytes
 * of hex. The read buffer is wiped in every case.
 */
int m2m_device_key_read(const char *path, unsigned char key[M2M_DEVICE_KEY_MAX], size_t *keylen);

/* What a non-zero m2m_device_key_read result means, as text for an error message. */
const char *m2m_device_key_error(int r);

#endif
