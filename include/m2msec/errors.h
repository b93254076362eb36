/**
 * @file errors.h
 * @brief Reason codes that the m2msec provider raises.
 *
 * An application tells errors apart with
 * `ERR_GET_REASON(ERR_peek_last_error())` compared with these values (the
 * library number part depends on load order; the reason does not). Every
 * code also has readable text, shown by ERR_print_errors_fp() and the
 * openssl command, e.g. "replayed record".
 */
#ifndef M2MSEC_ERRORS_H
#define M2MSEC_ERRORS_H

#ifdef __cplusplus
extern "C" {
#endif

enum m2msec_reason {
    M2MSEC_R_MISSING_KEY = 1,             /**< "missing key" */
    M2MSEC_R_KEY_TOO_SHORT = 2,           /**< "key shorter than policy minimum" */
    M2MSEC_R_LIFETIME_EXCEEDS_POLICY = 3, /**< "lifetime exceeds policy maximum" */
    M2MSEC_R_MISSING_PARAMETER = 4,       /**< "missing parameter" */
    M2MSEC_R_INVALID_PARAMETER = 5,       /**< "invalid parameter" */
    M2MSEC_R_INVALID_UTF8 = 6,            /**< "invalid UTF-8" */
    M2MSEC_R_UNKNOWN_DERIVATION = 7,      /**< "unknown derivation" */
    M2MSEC_R_BAD_OUTPUT_LENGTH = 8,       /**< "bad output length" */
    M2MSEC_R_UNKNOWN_DIGEST = 9,          /**< "unsupported digest" */
    M2MSEC_R_FIELD_TOO_LONG = 10,         /**< "field too long" */
    M2MSEC_R_BAD_POLICY = 11,             /**< "bad security policy" */
    M2MSEC_R_FETCH_FAILED = 12,           /**< "algorithm fetch failed" */
    M2MSEC_R_CRYPTO_FAILED = 13,          /**< "cryptographic operation failed" */
    M2MSEC_R_MALLOC_FAILURE = 14,         /**< "out of memory" */
    M2MSEC_R_REPLAYED_RECORD = 15,  /**< "replayed record": sequence number already accepted */
    M2MSEC_R_OUTSIDE_WINDOW = 16,   /**< "record outside replay window": too old */
    M2MSEC_R_AUTH_FAILED = 17,      /**< "authentication failed": tag did not verify */
    M2MSEC_R_KEY_EXPIRED = 18,      /**< "session key expired": a hard limit is reached */
    M2MSEC_R_KEY_REUSED = 19,       /**< "key already used for encryption" */
    M2MSEC_R_BAD_STATE = 20,        /**< "operation out of order" */
    M2MSEC_R_COPY_REFUSED = 21,     /**< "record context cannot be copied" */
    M2MSEC_R_NOT_ALLOWED = 22,      /**< "not allowed by policy" */
    M2MSEC_R_INTEGRITY_FAILED = 23, /**< "device integrity not verified" */
    M2MSEC_R_MODULE_INTEGRITY = 24, /**< "module integrity check failed" */
    /** "context used in a forked child": a record context made before fork() refuses in the child
     */
    M2MSEC_R_FORKED = 25,
    /* 40-59: ESPrim objects as JWE (m2msec/esprim.h, docs/PROTOCOL.md section 9) */
    M2MSEC_R_JWE_PARTS = 40,           /**< "JWE not in compact form": not 5 parts */
    M2MSEC_R_JWE_BASE64 = 41,          /**< "invalid base64url" */
    M2MSEC_R_JWE_TOO_LARGE = 42,       /**< "JWE part too large" (header, ciphertext) */
    M2MSEC_R_JWE_BAD_HEADER = 43,      /**< "malformed JWE header" */
    M2MSEC_R_JSON_DUPLICATE = 44,      /**< "duplicate JSON member" */
    M2MSEC_R_JWE_ALG_NONE = 45,        /**< "unsecured JWE (alg none) refused" */
    M2MSEC_R_JWE_UNSUPPORTED_ALG = 46, /**< "unsupported JWE algorithm" (alg or enc) */
    M2MSEC_R_JWE_ZIP = 47,             /**< "compressed JWE (zip) refused" */
    M2MSEC_R_JWE_CRIT = 48,            /**< "JWE critical extension (crit) refused" */
    M2MSEC_R_JWE_BAD_LENGTH = 49,      /**< "wrong JWE component length" (key, IV, tag) */
    M2MSEC_R_ESPRIM_UNKNOWN_KID = 50,  /**< "unknown pairwiseESPrimKey ID" */
    M2MSEC_R_ESPRIM_UNKNOWN_RAND = 51, /**< "unknown ESPrim RandObject" */
    M2MSEC_R_ESPRIM_EXPIRED = 52,      /**< "ESPrim RandObject expired" */
    M2MSEC_R_ESPRIM_EXPIRY_ORDER = 53, /**< "originator RandObject outlives the receiver's" */
    M2MSEC_R_ESPRIM_NOT_OFFERED = 54,  /**< "ESPrim algorithm not offered" */
    M2MSEC_R_ESPRIM_REPLAY = 55,       /**< "ESPrim object replayed" */
    M2MSEC_R_ESPRIM_BAD_RAND = 56,     /**< "malformed ESPrim RandObject" */
    M2MSEC_R_ESPRIM_LIMIT = 57,        /**< "ESPrim limit reached" */
    M2MSEC_R_ESPRIM_CLOSED = 58,       /**< "ESPrim session closed" (restart, cache limit) */
    M2MSEC_R_ESPRIM_STATE = 59,        /**< "ESPrim state unusable" */
    /* 60-79: security associations over (D)TLS-PSK (m2msec/association.h, PROTOCOL.md 10) */
    M2MSEC_R_ASSOC_CONFIG = 60,           /**< "bad association configuration" */
    M2MSEC_R_ASSOC_KEYTABLE = 61,         /**< "malformed association key table" */
    M2MSEC_R_ASSOC_KEYTABLE_FILE = 62,    /**< "unsafe association key table file" (mode, owner) */
    M2MSEC_R_ASSOC_UNKNOWN_IDENTITY = 63, /**< "unknown PSK identity" */
    M2MSEC_R_ASSOC_KEY_EXPIRED = 64,      /**< "PSK past its not-after" */
    M2MSEC_R_ASSOC_BAD_KEY = 65,          /**< "PSK of a bad length" (from the key source) */
    M2MSEC_R_ASSOC_NO_SNI = 66,           /**< "ClientHello without SNI" */
    M2MSEC_R_ASSOC_WRONG_SNI = 67,        /**< "SNI names another server" */
    M2MSEC_R_ASSOC_INTEGRITY = 68,        /**< "device integrity not verified: no association" */
    M2MSEC_R_ASSOC_REESTABLISH = 69,      /**< "association must be re-established" */
    M2MSEC_R_ASSOC_STATE = 70,            /**< "not an established association" */
    M2MSEC_R_ASSOC_EXPORT = 71,           /**< "association key export failed" */
    M2MSEC_R_ASSOC_COOKIE = 72,           /**< "DTLS cookie refused" */
    M2MSEC_R_ASSOC_NOT_PSK = 73,          /**< "association not authenticated by a PSK" */
    /** "handshake not finished after the key was found": over DTLS, a wrong key (the peer's
        Finished is dropped as a bad record, RFC 6347 4.1.2.7) or lost datagrams */
    M2MSEC_R_ASSOC_NOT_FINISHED = 74,
};

#ifdef __cplusplus
}
#endif

#endif
