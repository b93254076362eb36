/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libm2msec internal: helpers shared by the manifest, signing and
 * verification code. Not exported.
 */
#ifndef M2MSEC_LIBM2MSEC_MANIFEST_INTERNAL_H
#define M2MSEC_LIBM2MSEC_MANIFEST_INTERNAL_H

#include <stddef.h>

/* Longest manifest file read (bytes). */
#define M2M_MANIFEST_MAX_BYTES (64u * 1024u * 1024u)

/*
 * Canonical name ("SHA256", "SHA384", "SHA512") of a digest name given in
 * any case, NULL meaning SHA256; *len gets the digest length. NULL if the
 * digest is not supported.
 */
const char *m2m_digest_canonical(const char *name, size_t *len);

/*
 * NULL if @p path (@p len bytes) is a valid manifest path, else the reason
 * (e.g. "'..' component"). See docs/PROTOCOL.md section 7.
 */
const char *m2m_path_problem(const char *path, size_t len);

#endif
