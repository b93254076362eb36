/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file association.h
 * @brief oneM2M security associations over (D)TLS with pre-shared keys
 *        (TS-0003 clauses 8.2.2 and 10.2.2): the profile on an ordinary
 *        OpenSSL SSL_CTX, key tables, key lifetimes and key export.
 *
 * A device (client) and a gateway or CSE (server) that share a Kpsa (or a
 * Kc) establish a TLS 1.2 (TCP) or DTLS 1.2 (UDP) session with
 * psk_identity = KpsaID and psk = Kpsa. m2msec_association_configure()
 * turns an SSL_CTX that the application made (TLS_method(),
 * DTLS_method(), or their client/server variants) into one that speaks
 * only that profile:
 *
 *  - cipher suites: the oneM2M-mandatory TLS_PSK_WITH_AES_128_CBC_SHA256
 *    (TLS) and TLS_PSK_WITH_AES_128_CCM_8 (DTLS), the other profile PSK
 *    suites, and, preferred by default, the forward-secret ECDHE-PSK suites
 *    and TLS 1.3 external PSK with psk_dhe_ke; nothing else (no
 *    certificate suites, no RSA-PSK, no NULL, no export, no SHA-1 MAC);
 *  - SNI: the client always sends it; the server refuses a ClientHello
 *    without it (and one naming another server, if a name is set);
 *  - PSK identity and key from the application (m2msec_association_psk_fn)
 *    or from a key table file (m2msec_association_keytable_load); a key past
 *    its not-after is refused in the handshake, with a log line;
 *  - on a DTLS server, the cookie exchange (RFC 6347 4.2.1) with an
 *    HMAC-SHA-256 cookie over the peer's address under a random secret of
 *    the association;
 *  - the integrity gate: with require_integrity, no handshake starts
 *    unless the device's integrity status record lets keys be derived (the
 *    rule the m2msec provider applies to M2M-SESSION-KDF).
 *
 * The application keeps its sockets, SSL_new(), SSL_set_fd() or its BIOs,
 * SSL_connect()/SSL_accept() (DTLSv1_listen() on a DTLS server) and
 * SSL_read()/SSL_write(). A client sets nothing more: the SNI name comes
 * from the configuration. After the handshake, m2msec_association_check()
 * tells when the association must be torn down and re-established (key
 * lifetime, record or byte limit), m2msec_association_jitter_ms() spreads
 * re-establishments out, and m2msec_association_export() exports Kc/KcID,
 * Ke/RelativeKeID or pairwiseE2EKey/ID (TS-0003 10.3.1, docs/PROTOCOL.md
 * section 10).
 *
 * Return convention (m2msec/m2msec.h): 1 on success, 0 on failure with an
 * OpenSSL error queued whose reason is one of the M2MSEC_R_ASSOC_* codes of
 * m2msec/errors.h (library ERR_LIB_USER) and whose detail names what is
 * wrong; outputs are wiped on failure. Constructors return NULL on
 * failure. A handshake that an association refuses fails in OpenSSL as
 * usual (SSL_ERROR_SSL); the first error on the queue (ERR_peek_error())
 * is then the m2msec reason, and m2msec_association_refusal() returns it.
 *
 * Threads: an m2msec_association is read-only once made and may serve
 * SSL_CTXs used by many threads; a key table is replaced atomically by
 * m2msec_association_set_keytable().
 */
#ifndef M2MSEC_ASSOCIATION_H
#define M2MSEC_ASSOCIATION_H

#include <stddef.h>
#include <stdint.h>
#include <openssl/types.h>

#include "m2msec/m2msec.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Roles. */
#define M2MSEC_ASSOC_CLIENT 1 /**< the device: sends the identity */
#define M2MSEC_ASSOC_SERVER 2 /**< the gateway / CSE: looks the identity up */

/** Transports. */
#define M2MSEC_ASSOC_TLS 1  /**< TLS over TCP */
#define M2MSEC_ASSOC_DTLS 2 /**< DTLS 1.2 over UDP */

/** Forward secrecy (policy key forward_secrecy). */
#define M2MSEC_ASSOC_FS_PREFERRED 0 /**< default: ECDHE-PSK / TLS 1.3 first, profile suites too */
#define M2MSEC_ASSOC_FS_REQUIRED 1  /**< only ECDHE-PSK and TLS 1.3 psk_dhe_ke */
#define M2MSEC_ASSOC_FS_OFF 2       /**< only the oneM2M profile's plain PSK suites, TLS 1.2 */

/**
 * Cipher suites, as bits of m2msec_association_config.suites (OpenSSL
 * names in docs/PROTOCOL.md 10.1). 0 means all of them, subject to
 * forward_secrecy and the transport (CBC and ChaCha20 suites work over
 * DTLS; TLS 1.3 only over TLS).
 */
#define M2MSEC_ASSOC_PSK_AES128_CBC_SHA256 0x01u          /**< TLS mandatory (RFC 5487) */
#define M2MSEC_ASSOC_PSK_AES128_CCM8 0x02u                /**< DTLS mandatory (RFC 6655) */
#define M2MSEC_ASSOC_PSK_AES128_GCM_SHA256 0x04u          /**< RFC 5487 */
#define M2MSEC_ASSOC_PSK_AES128_CCM 0x08u                 /**< RFC 6655 */
#define M2MSEC_ASSOC_ECDHE_PSK_AES128_CBC_SHA256 0x10u    /**< forward secret (RFC 5489) */
#define M2MSEC_ASSOC_ECDHE_PSK_CHACHA20_POLY1305 0x20u    /**< forward secret (RFC 7905) */
#define M2MSEC_ASSOC_TLS13_AES128_GCM_SHA256 0x40u        /**< TLS 1.3, psk_dhe_ke only */
#define M2MSEC_ASSOC_TLS13_CHACHA20_POLY1305_SHA256 0x80u /**< TLS 1.3, psk_dhe_ke only */
#define M2MSEC_ASSOC_ALL_SUITES 0xffu

/** Sizes. */
#define M2MSEC_ASSOC_PSK_MIN 16       /**< shortest PSK accepted (128 bits) */
#define M2MSEC_ASSOC_PSK_MAX 64       /**< longest PSK */
#define M2MSEC_ASSOC_IDENTITY_MAX 128 /**< longest psk_identity (printable ASCII, no blanks) */
#define M2MSEC_ASSOC_NAME_MAX 255     /**< longest SNI host name */

/**
 * Where keys come from: called in the handshake with the psk_identity
 * (a client gets its configured identity). Write the key (16..64 bytes)
 * to @p key, its length to *key_len and its not-after (seconds since
 * 1970, UTC; 0 = no expiry of its own) to *not_after, and return 1; return
 * 0 for an unknown identity. The key buffer is wiped after use.
 */
typedef int (*m2msec_association_psk_fn)(void *arg, const char *identity,
                                         unsigned char key[M2MSEC_ASSOC_PSK_MAX], size_t *key_len,
                                         uint64_t *not_after);

/**
 * Where log lines go (one line, no newline, never a key): refusals and
 * their reasons. NULL in the configuration: standard error.
 */
typedef void (*m2msec_association_log_fn)(void *arg, const char *line);

/** A key table: identity -> key, not-after (m2msec_association_keytable_load). */
typedef struct m2msec_association_keytable m2msec_association_keytable;

/** How m2msec_association_new() sets up an association. Zero fields take the defaults. */
typedef struct m2msec_association_config {
    int role;      /**< M2MSEC_ASSOC_CLIENT or M2MSEC_ASSOC_SERVER */
    int transport; /**< M2MSEC_ASSOC_TLS or M2MSEC_ASSOC_DTLS */
    /**
     * Client: the SNI host name sent (required; the CSE's or gateway's
     * name). Server: NULL accepts any name (but SNI must be present), else
     * the only name accepted.
     */
    const char *server_name;
    /** Client: its psk_identity (KpsaID or KcID), 1..128 printable ASCII, no blanks. */
    const char *identity;
    /** Key source: a callback, or (server) a key table; exactly one. */
    m2msec_association_psk_fn psk_cb;
    void *psk_arg;
    /** Server: a key table (m2msec_association_keytable_load); the association takes a reference.
     */
    m2msec_association_keytable *keytable;
    /** Allowed suites (M2MSEC_ASSOC_* bits); 0 = all. */
    unsigned suites;
    /** M2MSEC_ASSOC_FS_PREFERRED (0), _REQUIRED or _OFF. */
    int forward_secrecy;
    /** Lowest version: 0 or 0x0303 (TLS 1.2 / DTLS 1.2), or 0x0304 (TLS 1.3, TLS only). */
    int min_version;
    /** Re-establish after this many seconds (0: only the key's not-after). */
    uint64_t max_lifetime;
    /** Re-establish after this many application records, both directions (0: 2^32). */
    uint64_t max_records;
    /** Re-establish after this many bytes of application data, both directions (0: 2^36). */
    uint64_t max_bytes;
    /**
     * 1: before every handshake, the integrity gate of the device policy
     * file @p integrity_policy (its [session] integrity_status,
     * device_key_file, manifest_state and max_status_age: the rule the
     * m2msec provider applies to M2M-SESSION-KDF, docs/POLICY.md 4.6) must
     * be open, else the handshake is refused with M2MSEC_R_ASSOC_INTEGRITY.
     */
    int require_integrity;
    /**
     * The device policy file for require_integrity (required with it; read
     * when the association is made, its status record and device key at
     * every handshake). m2msec_association_config_from_policy() sets it.
     */
    const char *integrity_policy;
    /** Library context for SSL_CTX_new_ex and the HMACs of the gate and the cookies (NULL =
     * default). */
    OSSL_LIB_CTX *libctx;
    /** Log sink (NULL: standard error) and its argument. */
    m2msec_association_log_fn log;
    void *log_arg;
} m2msec_association_config;

/**
 * Fill the association part of @p cfg from the policy file @p path
 * (docs/POLICY.md section 5): [association] suites, min_version,
 * forward_secrecy, max_lifetime, max_records, max_bytes, and
 * require_integrity from [session] (with integrity_policy = @p path, which
 * must stay valid until m2msec_association_new()). The whole file is read
 * by the strict policy reader; a bad file is refused and @p cfg left
 * unchanged. Keys the file does not give leave @p cfg's values as they
 * are.
 */
M2MSEC_WARN_UNUSED
M2MSEC_NONNULL(1, 2)
int m2msec_association_config_from_policy(m2msec_association_config *cfg, const char *path);

/** An association configuration with its key source, shared by the SSL_CTXs it configures. */
typedef struct m2msec_association m2msec_association;

/**
 * Check @p cfg and make an association (a random DTLS cookie secret of its
 * own). Refused: a bad role or transport, a client without server_name or
 * identity, none or both key sources, a client with a key table, suites
 * that leave nothing for the transport and forward_secrecy, TLS 1.3 as
 * minimum over DTLS.
 */
M2MSEC_WARN_UNUSED M2MSEC_NONNULL(1)
    m2msec_association *m2msec_association_new(const m2msec_association_config *cfg);
/** Drop a reference; NULL is ignored. SSL_CTXs configured with it keep their own. */
void m2msec_association_free(m2msec_association *a);

/**
 * Configure @p ctx (made by the application for the association's role
 * and transport) for the profile: versions, suites, PSK callbacks (TLS 1.2
 * and TLS 1.3), SNI, DTLS cookies (server), record counting, no
 * certificates requested, no session tickets or resumption (each
 * association is a full PSK handshake, so a key's expiry cannot be
 * bypassed), idle record buffers released. @p ctx holds a reference to @p a
 * until it is freed. A ctx of the wrong method (DTLS for TLS) is refused.
 * The association owns the ctx's PSK, client-hello, info, message, verify
 * and cookie callbacks: an application must not replace them (the message
 * callback counts records, the info callback sets SNI and marks the
 * handshake's completion).
 */
M2MSEC_WARN_UNUSED M2MSEC_NONNULL(1, 2) int m2msec_association_configure(m2msec_association *a,
                                                                         SSL_CTX *ctx);

/**
 * Convenience: SSL_CTX_new_ex() with the method of the association's
 * transport and role, then m2msec_association_configure().
 */
M2MSEC_WARN_UNUSED M2MSEC_NONNULL(1) SSL_CTX *m2msec_association_ssl_ctx_new(m2msec_association *a);

/**
 * Replace the key table of a server association (new handshakes use it;
 * the association takes a reference). Refused for a client or an
 * association with a callback.
 */
M2MSEC_WARN_UNUSED
M2MSEC_NONNULL(1, 2)
int m2msec_association_set_keytable(m2msec_association *a, m2msec_association_keytable *kt);

/**
 * Read a key table file (docs/PROTOCOL.md 10.3): first line
 * "m2msec-keytable 1", then one "IDENTITY HEXKEY NOT-AFTER" per line
 * (single spaces; HEXKEY 32..128 lowercase hex digits; NOT-AFTER decimal
 * seconds since 1970), '#' comment and empty lines, every line ending
 * with LF. Fail closed: any malformed line, a duplicate identity, a
 * key of the wrong length, a file readable or writable by group or others,
 * owned by another user, a symlink or not a regular file, or larger than
 * 4 MiB refuses the whole file (M2MSEC_R_ASSOC_KEYTABLE naming the line).
 */
M2MSEC_WARN_UNUSED M2MSEC_NONNULL(1)
    m2msec_association_keytable *m2msec_association_keytable_load(const char *path);
/** The same from @p len bytes of text (no file checks); @p name is used in messages. */
M2MSEC_WARN_UNUSED M2MSEC_NONNULL(1, 3)
    m2msec_association_keytable *m2msec_association_keytable_parse(const char *text, size_t len,
                                                                   const char *name);
/** Number of entries. */
M2MSEC_NONNULL(1) size_t m2msec_association_keytable_count(const m2msec_association_keytable *kt);
/**
 * Look @p identity up: key and not-after copied out. Returns 1, or 0 (no
 * error queued, outputs zeroed) for an unknown identity.
 */
M2MSEC_WARN_UNUSED M2MSEC_NONNULL(1, 2, 3, 4, 5) int m2msec_association_keytable_find(
    const m2msec_association_keytable *kt, const char *identity,
    unsigned char key[M2MSEC_ASSOC_PSK_MAX], size_t *key_len, uint64_t *not_after);
/** Drop a reference (keys wiped at the last); NULL is ignored. */
void m2msec_association_keytable_free(m2msec_association_keytable *kt);

/**
 * After the handshake, before and after each SSL_read/SSL_write: 1 while
 * the association may go on; 0 with M2MSEC_R_ASSOC_REESTABLISH when its
 * key's not-after, max_lifetime, max_records or max_bytes is reached (the
 * application then sends close_notify, frees the SSL and, after
 * m2msec_association_jitter_ms(), connects again), or with
 * M2MSEC_R_ASSOC_STATE for an SSL that is not an established association.
 * Records and bytes are counted by the association as they cross the
 * record layer, both directions.
 */
M2MSEC_WARN_UNUSED M2MSEC_NONNULL(1) int m2msec_association_check(const SSL *ssl);

/** Counters of an association (any may be NULL). 1, or 0 (not an association). */
M2MSEC_NONNULL(1)
int m2msec_association_stats(const SSL *ssl, uint64_t *records, uint64_t *bytes,
                             uint64_t *established);

/**
 * After a failed or timed-out handshake: the M2MSEC_R_ASSOC_* reason with
 * which the association refused @p ssl (unknown identity, expired key,
 * missing SNI, ...); M2MSEC_R_ASSOC_NOT_FINISHED when the key was found but
 * the handshake did not finish (over DTLS a wrong key shows only so: the
 * peer's Finished is dropped as a bad record, RFC 6347 4.1.2.7; over TLS
 * OpenSSL reports "bad record mac" or "decrypt error" too); 0 otherwise.
 */
M2MSEC_NONNULL(1) int m2msec_association_refusal(const SSL *ssl);

/**
 * The psk_identity whose key authenticated @p ssl (TLS 1.2 and 1.3 alike;
 * valid as long as @p ssl), or NULL before the key source gave a key.
 */
M2MSEC_NONNULL(1) const char *m2msec_association_identity(const SSL *ssl);

/**
 * A delay before re-establishing: @p base_ms plus a uniformly random 0 ..
 * @p spread_ms (from the OpenSSL random generator), so that many devices
 * restarted at once do not all hit the gateway in the same instant.
 */
uint64_t m2msec_association_jitter_ms(uint64_t base_ms, uint64_t spread_ms);

/** Key export labels (TS-0003 10.3.1). */
#define M2MSEC_ASSOC_EXPORT_CONNECTION 1 /**< "EXPORTER-oneM2M-Connection": Kc, KcID */
#define M2MSEC_ASSOC_EXPORT_BOOTSTRAP 2  /**< "EXPORTER-oneM2M-Bootstrap": Ke, RelativeKeID */
#define M2MSEC_ASSOC_EXPORT_ESCERTKE 3   /**< "EXPORTER-oneM2M-ESCertKE": pairwiseE2EKey, its ID */
#define M2MSEC_ASSOC_EXPORT_LEN 48       /**< exporter output length */
#define M2MSEC_ASSOC_EXPORT_KEY_LEN 32   /**< the key: the LAST 32 bytes of the output */
#define M2MSEC_ASSOC_EXPORT_ID_LEN 16    /**< the ID: the FIRST 16 bytes of the output */

/**
 * RFC 5705 exporter of the established association @p ssl with the label
 * of @p which, no context, 48 bytes; the first 16 bytes (the most
 * significant, reading the output as a big-endian number) go to @p id, the
 * last 32 to @p key (docs/PROTOCOL.md 10.4, with a worked example). Both
 * wiped on failure.
 */
M2MSEC_WARN_UNUSED M2MSEC_NONNULL(1, 3, 4) int m2msec_association_export(
    SSL *ssl, int which, unsigned char key[M2MSEC_ASSOC_EXPORT_KEY_LEN],
    unsigned char id[M2MSEC_ASSOC_EXPORT_ID_LEN]);

/** The label of @p which, or NULL. */
const char *m2msec_association_export_label(int which);

#ifdef __cplusplus
}
#endif

#endif
