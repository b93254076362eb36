/* SPDX-License-Identifier: Apache-2.0 */
/* libm2msec internal: M2M-SESSION-KDF with an already fetched EVP_KDF (sessions cache it). */
#ifndef M2MSEC_KDF_INTERNAL_H
#define M2MSEC_KDF_INTERNAL_H

#include <openssl/kdf.h>

#include "m2msec/m2msec.h"

int m2m_session_key_derive_with(EVP_KDF *kdf, const m2msec_session_key_spec *spec,
                                unsigned char *out, size_t out_len);

#endif
