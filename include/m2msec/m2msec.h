/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file m2msec.h
 * @brief libm2msec: helpers for applications that use the m2msec provider.
 *
 * The provider (m2msec.so) does the cryptography; this library only makes
 * the common calls short. Everything here goes through public EVP APIs,
 * so an application can always do the same with EVP directly.
 *
 * API conventions (the whole library: m2msec.h, session.h, integrity.h,
 * esprim.h; DEVELOPERS.md "API conventions"):
 *
 * - Names: m2msec_<object>_<verb>, one prefix per object (session,
 *   session_key, store, manifest, tree, report, file, policy,
 *   integrity_status, esprim, esprim_rand, provider) and one meaning per
 *   verb: seal/open protect and unprotect a record or object, accept takes
 *   something from outside after checking it (and may record that it did),
 *   new/free and load/free make and release objects, get_* and the bare
 *   getters read.
 * - Functions returning int return 1 on success and 0 on failure, with at
 *   least one error on the OpenSSL error queue whose text names what is
 *   wrong (read it with ERR_print_errors_fp); no output is left on failure
 *   (output buffers are wiped, lengths set to 0, pointers to NULL).
 * - Constructors return a pointer, or NULL with an error queued. Free
 *   functions accept NULL. m2msec_file_open_beneath returns a descriptor,
 *   or -1 with errno set and an error queued.
 * - Getters that cannot fail return values (counts, texts, fields).
 * - Telling failures apart: the reason of the last queued error
 *   (ERR_GET_REASON(ERR_peek_last_error())) is the M2MSEC_R_* code of
 *   m2msec/errors.h where one applies (each function's comment lists them).
 *   Where a caller must act on the kind of failure and the library has a
 *   result enum for it, the function takes it through an optional last
 *   out-parameter (NULL when not wanted), set on success too:
 *   m2msec_session_seal/_open (m2msec_session_status: replayed, forged,
 *   expired, ...) and m2msec_manifest_accept (m2msec_manifest_verdict).
 * - M2MSEC_WARN_UNUSED marks every result that reports success or failure
 *   or returns a new object; M2MSEC_NONNULL lists the pointer parameters
 *   that must not be NULL and that the function does not check. Pointer
 *   parameters that a function checks (a NULL is refused with an error)
 *   are deliberately not marked: the attribute would let the compiler
 *   delete the check.
 */
#ifndef M2MSEC_M2MSEC_H
#define M2MSEC_M2MSEC_H

#include <stddef.h>
#include <stdint.h>
#include <openssl/provider.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * @def M2MSEC_WARN_UNUSED
 * On functions whose result reports success or failure, or returns a new
 * object: ignoring it is a compile-time warning.
 * @def M2MSEC_NONNULL
 * On functions whose listed pointer parameters (1-based) must not be NULL.
 */
#if defined(__GNUC__) || defined(__clang__)
#define M2MSEC_WARN_UNUSED __attribute__((warn_unused_result))
#define M2MSEC_NONNULL(...) __attribute__((nonnull(__VA_ARGS__)))
#else
#define M2MSEC_WARN_UNUSED
#define M2MSEC_NONNULL(...)
#endif

/** Library version string, e.g. "0.1.0". */
M2MSEC_WARN_UNUSED const char *m2msec_version(void);

/**
 * Load the m2msec provider into @p libctx (NULL: the default context).
 *
 * m2msec itself needs nothing else in @p libctx (it fetches what it uses
 * through its own child context). But loading any provider explicitly
 * switches off OpenSSL's implicit "default" provider, so an application
 * that also uses OpenSSL's own algorithms in @p libctx passes @p deflt:
 * "default" is then made available too, and *deflt receives the handle
 * this call loaded (NULL if it was already available).
 *
 * @param libctx  library context, or NULL
 * @param dir     directory holding m2msec.so, or NULL for OpenSSL's
 *                modules directory (or $OPENSSL_MODULES)
 * @param deflt   NULL, or where to return the "default" handle to unload
 * @return the m2msec provider, or NULL (error queued, nothing left loaded).
 *         Unload both handles with OSSL_PROVIDER_unload when done.
 */
M2MSEC_WARN_UNUSED OSSL_PROVIDER *m2msec_provider_load(OSSL_LIB_CTX *libctx, const char *dir,
                                                       OSSL_PROVIDER **deflt);

/** Inputs of M2M-SESSION-KDF; see docs/PROTOCOL.md section 2. */
typedef struct m2msec_session_key_spec {
    const unsigned char *key; /**< service-layer key, >= 16 bytes (policy) */
    size_t key_len;
    const unsigned char *salt; /**< optional, NULL for none */
    size_t salt_len;
    const char *digest;                    /**< NULL for SHA2-256; or SHA2-384, SHA2-512 */
    const char *purpose;                   /**< what the key is for, e.g. "record" */
    const char *originator;                /**< originator M2M identity (UTF-8) */
    const char *receiver;                  /**< receiver M2M identity (UTF-8) */
    uint64_t epoch;                        /**< key epoch, counts re-keys */
    uint64_t not_before;                   /**< seconds since 1970 */
    uint64_t lifetime;                     /**< seconds; 0 means the default 3600 */
    const char *aead;                      /**< NULL for "M2M-REC-AES-128-GCM" */
    const unsigned char *originator_nonce; /**< optional */
    size_t originator_nonce_len;
    const unsigned char *receiver_nonce; /**< optional */
    size_t receiver_nonce_len;
} m2msec_session_key_spec;

/**
 * Derive @p out_len bytes with M2M-SESSION-KDF fetched from @p libctx.
 *
 * From OpenSSL's global default library context (@p libctx NULL while the
 * calling thread has not made another context its default, or that context
 * itself) the KDF is fetched once and kept until OPENSSL_cleanup(), like a
 * method an SSL_CTX holds: it keeps the provider it came from for that
 * long. From any other context it is fetched and freed on every call
 * (such a context may be freed at any time). Thread-safe.
 * @return 1 on success, 0 on error (error queued, @p out wiped).
 */
M2MSEC_WARN_UNUSED int m2msec_session_key_derive(OSSL_LIB_CTX *libctx,
                                                 const m2msec_session_key_spec *spec,
                                                 unsigned char *out, size_t out_len);

#ifdef __cplusplus
}
#endif

#endif
