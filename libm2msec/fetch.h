/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libm2msec internal: fetching a file's expected copy from the remediation
 * repository (libm2msec/fetch.c), for the remediation action
 * (libm2msec/remediate.c). Not exported.
 */
#ifndef M2MSEC_LIBM2MSEC_FETCH_H
#define M2MSEC_LIBM2MSEC_FETCH_H

#include <stddef.h>
#include <stdint.h>
#include <openssl/types.h>

/* Largest file fetched when the manifest does not record its size (bytes). */
#define M2M_FETCH_MAX (256u * 1024u * 1024u)

/*
 * Fetch the repository's copy of @p path (relative to the root, already
 * validated) and write it to @p outfd, hashing it with @p digest on the
 * way. @p repository is an absolute directory (the file is opened below it
 * without following symlinks, and must be a regular file) or an http:// or
 * https:// base URL (<base>/<path>, each path component percent-encoded;
 * only http and https, also for redirects; HTTP status 200 required;
 * connect and low-speed timeouts). More than @p limit bytes is a failure.
 * On success *mdlen and *nbytes are set and 1 is returned; on failure 0
 * with a reason in @p why (never a password of the URL). The caller owns
 * @p outfd and removes what was written on failure.
 */
int m2m_fetch(OSSL_LIB_CTX *libctx, const char *repository, const char *path, int outfd,
              const char *digest, uint64_t limit, unsigned char *md, size_t *mdlen,
              uint64_t *nbytes, char *why, size_t whylen);

/*
 * @p repository for logs and messages: a URL's user:password@ part is
 * replaced by "***@", and the whole is escaped (escape.h).
 */
void m2m_repository_display(const char *repository, char *out, size_t len);

#endif
