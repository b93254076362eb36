/* SPDX-License-Identifier: Apache-2.0 */
/* m2msec provider: HKDF (RFC 5869) over M2M_HMAC, shared by M2M-SESSION-KDF and OSCORE-KDF. */
#ifndef M2M_HKDF_H
#define M2M_HKDF_H

#include "hmac.h"

/* Largest output HKDF allows: 255 blocks. */
size_t m2m_hkdf_max_len(m2m_md md);

/*
 * OKM = HKDF-Expand(HKDF-Extract(salt, ikm), info, outlen). An absent or
 * empty salt means HashLen zero bytes (equivalent as an HMAC key). On
 * failure out is wiped and an error is raised.
 */
int m2m_hkdf(M2M_HMAC *h, const M2M_PROVCTX *pc, m2m_md md, const unsigned char *salt,
             size_t saltlen, const unsigned char *ikm, size_t ikmlen, const unsigned char *info,
             size_t infolen, unsigned char *out, size_t outlen);

#endif
