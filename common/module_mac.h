/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Module integrity MAC, as OpenSSL's FIPS module does it: HMAC-SHA-256
 * with a fixed, public key over the whole m2msec.so file. It detects a
 * modified or corrupted module file, not an attacker who can also rewrite
 * the configuration (docs/SECURITY.md). In common/: the provider checks it
 * at load, the m2msec tool writes it (provider-install).
 */
#ifndef M2M_COMMON_MODULE_MAC_H
#define M2M_COMMON_MODULE_MAC_H

#include <stddef.h>
#include <openssl/evp.h>

#define M2M_MODULE_MAC_KEY "m2msec module integrity v1"
#define M2M_MODULE_MAC_LEN 32

/* HMAC the file at path; 1 on success. */
int m2m_module_mac(EVP_MAC *hmac, const char *path, unsigned char mac[M2M_MODULE_MAC_LEN]);

#endif
