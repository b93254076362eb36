/* SPDX-License-Identifier: Apache-2.0 */
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

/**
 * Every reason, once: X(NAME, number, "text") defines M2MSEC_R_NAME =
 * number with its readable text. The enum below and the provider's table
 * of reason strings (provider/errors.c) are both made from this list, so a
 * code cannot lose its text. The numbers never change (applications and
 * logs compare them); new codes take new numbers. An application may use
 * the list too, e.g. to print every code with its text.
 */
#define M2MSEC_REASONS(X)                                                                          \
    X(MISSING_KEY, 1, "missing key")                                                               \
    X(KEY_TOO_SHORT, 2, "key shorter than policy minimum")                                         \
    X(LIFETIME_EXCEEDS_POLICY, 3, "lifetime exceeds policy maximum")                               \
    X(MISSING_PARAMETER, 4, "missing parameter")                                                   \
    X(INVALID_PARAMETER, 5, "invalid parameter")                                                   \
    X(INVALID_UTF8, 6, "invalid UTF-8")                                                            \
    X(UNKNOWN_DERIVATION, 7, "unknown derivation")                                                 \
    X(BAD_OUTPUT_LENGTH, 8, "bad output length")                                                   \
    X(UNKNOWN_DIGEST, 9, "unsupported digest")                                                     \
    X(FIELD_TOO_LONG, 10, "field too long")                                                        \
    X(BAD_POLICY, 11, "bad security policy")                                                       \
    X(FETCH_FAILED, 12, "algorithm fetch failed")                                                  \
    X(CRYPTO_FAILED, 13, "cryptographic operation failed")                                         \
    X(MALLOC_FAILURE, 14, "out of memory")                                                         \
    X(REPLAYED_RECORD, 15, "replayed record")             /* sequence number already accepted */   \
    X(OUTSIDE_WINDOW, 16, "record outside replay window") /* too old */                            \
    X(AUTH_FAILED, 17, "authentication failed")           /* tag did not verify */                 \
    X(KEY_EXPIRED, 18, "session key expired")             /* a hard limit is reached */            \
    X(KEY_REUSED, 19, "key already used for encryption")                                           \
    X(BAD_STATE, 20, "operation out of order")                                                     \
    X(COPY_REFUSED, 21, "record context cannot be copied")                                         \
    X(NOT_ALLOWED, 22, "not allowed by policy")                                                    \
    X(INTEGRITY_FAILED, 23, "device integrity not verified")                                       \
    X(MODULE_INTEGRITY, 24, "module integrity check failed")                                       \
    X(FORKED, 25, "context used in a forked child") /* a context made before fork() */             \
    /* 40-59: ESPrim objects as JWE (m2msec/esprim.h, docs/PROTOCOL.md section 9) */               \
    X(JWE_PARTS, 40, "JWE not in compact form") /* not 5 parts */                                  \
    X(JWE_BASE64, 41, "invalid base64url")                                                         \
    X(JWE_TOO_LARGE, 42, "JWE part too large") /* header, ciphertext */                            \
    X(JWE_BAD_HEADER, 43, "malformed JWE header")                                                  \
    X(JSON_DUPLICATE, 44, "duplicate JSON member")                                                 \
    X(JWE_ALG_NONE, 45, "unsecured JWE (alg none) refused")                                        \
    X(JWE_UNSUPPORTED_ALG, 46, "unsupported JWE algorithm") /* alg or enc */                       \
    X(JWE_ZIP, 47, "compressed JWE (zip) refused")                                                 \
    X(JWE_CRIT, 48, "JWE critical extension (crit) refused")                                       \
    X(JWE_BAD_LENGTH, 49, "wrong JWE component length") /* key, IV, tag */                         \
    X(ESPRIM_UNKNOWN_KID, 50, "unknown pairwiseESPrimKey ID")                                      \
    X(ESPRIM_UNKNOWN_RAND, 51, "unknown ESPrim RandObject")                                        \
    X(ESPRIM_EXPIRED, 52, "ESPrim RandObject expired")                                             \
    X(ESPRIM_EXPIRY_ORDER, 53, "originator RandObject outlives the receiver's")                    \
    X(ESPRIM_NOT_OFFERED, 54, "ESPrim algorithm not offered")                                      \
    X(ESPRIM_REPLAY, 55, "ESPrim object replayed")                                                 \
    X(ESPRIM_BAD_RAND, 56, "malformed ESPrim RandObject")                                          \
    X(ESPRIM_LIMIT, 57, "ESPrim limit reached")                                                    \
    X(ESPRIM_CLOSED, 58, "ESPrim session closed") /* restart, cache limit */                       \
    X(ESPRIM_STATE, 59, "ESPrim state unusable")                                                   \
    /* 60-79: security associations over (D)TLS-PSK (m2msec/association.h, PROTOCOL.md 10) */      \
    X(ASSOC_CONFIG, 60, "bad association configuration")                                           \
    X(ASSOC_KEYTABLE, 61, "malformed association key table")                                       \
    X(ASSOC_KEYTABLE_FILE, 62, "unsafe association key table file") /* mode, owner */              \
    X(ASSOC_UNKNOWN_IDENTITY, 63, "unknown PSK identity")                                          \
    X(ASSOC_KEY_EXPIRED, 64, "PSK past its not-after")                                             \
    X(ASSOC_BAD_KEY, 65, "PSK of a bad length") /* from the key source */                          \
    X(ASSOC_NO_SNI, 66, "ClientHello without SNI")                                                 \
    X(ASSOC_WRONG_SNI, 67, "SNI names another server")                                             \
    X(ASSOC_INTEGRITY, 68, "device integrity not verified: no association")                        \
    X(ASSOC_REESTABLISH, 69, "association must be re-established")                                 \
    X(ASSOC_STATE, 70, "not an established association")                                           \
    X(ASSOC_EXPORT, 71, "association key export failed")                                           \
    X(ASSOC_COOKIE, 72, "DTLS cookie refused")                                                     \
    X(ASSOC_NOT_PSK, 73, "association not authenticated by a PSK")                                 \
    /* over DTLS, a wrong key (the peer's Finished is dropped as a bad record, RFC 6347            \
       4.1.2.7) or lost datagrams */                                                               \
    X(ASSOC_NOT_FINISHED, 74, "handshake not finished after the key was found")                    \
    /* M2M-RECAAD encrypting: a record's seq below the key's next (docs/PROTOCOL.md 5.7) */        \
    X(SEQ_USED, 75, "sequence number already used")

/** The reason codes: M2MSEC_R_MISSING_KEY = 1, ... (M2MSEC_REASONS). */
enum m2msec_reason {
#define M2MSEC_REASON_ENUM_(name, number, text) M2MSEC_R_##name = number,
    M2MSEC_REASONS(M2MSEC_REASON_ENUM_)
#undef M2MSEC_REASON_ENUM_
};

#ifdef __cplusplus
}
#endif

#endif
