/**
 * @file m2msec.h
 * @brief libm2msec: helpers for applications that use the m2msec provider.
 *
 * The provider (m2msec.so) does the cryptography; this library only makes
 * the common calls short. Everything here goes through public EVP APIs,
 * so an application can always do the same with EVP directly.
 *
 * Return convention: functions return 1 on success and 0 on failure; on
 * failure an OpenSSL error is queued (read it with ERR_print_errors_fp) and
 * no output is written (output buffers are wiped).
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
const char *m2msec_version(void);

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
OSSL_PROVIDER *m2msec_provider_load(OSSL_LIB_CTX *libctx, const char *dir, OSSL_PROVIDER **deflt);

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
 * @return 1 on success, 0 on error (error queued, @p out wiped).
 */
int m2msec_derive_session_key(OSSL_LIB_CTX *libctx, const m2msec_session_key_spec *spec,
                              unsigned char *out, size_t out_len);

#ifdef __cplusplus
}
#endif

#endif
