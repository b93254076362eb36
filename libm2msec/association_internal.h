/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libm2msec internal: security associations (m2msec/association.h). The
 * m2m_ functions are not exported (libm2msec.map exports m2msec_* only).
 *
 *   association_profile.c   the association object, the TLS/DTLS profile on
 *                           an SSL_CTX: versions, suites, PSK callbacks,
 *                           SNI, DTLS cookies, record counting
 *   association_keytable.c  the key table file: strict parser, file checks
 *   association_limits.c    lifetimes and limits, jitter, the policy file
 *   association_export.c    the RFC 5705 exporter with the oneM2M labels
 */
#ifndef M2MSEC_LIBM2MSEC_ASSOCIATION_INTERNAL_H
#define M2MSEC_LIBM2MSEC_ASSOCIATION_INTERNAL_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "m2msec/association.h"
#include "m2msec/errors.h"

/* Raise reason r (M2MSEC_R_*) with a detail; the first argument is a string literal. */
#define M2M_ASSOC_ERR(r, ...) ERR_raise_data(ERR_LIB_USER, (r), "m2msec: association: " __VA_ARGS__)

struct m2msec_association {
    atomic_int refs;
    CRYPTO_RWLOCK *lock; /* keytable replacement */
    m2msec_association_config cfg;
    char *server_name, *identity; /* copies */
    m2msec_association_keytable *keytable;
    unsigned suites; /* effective */
    unsigned char cookie_secret[32];
    /* require_integrity: from [session] of cfg.integrity_policy */
    char *status_path, *key_path, *state_path;
    uint64_t max_status_age;
    /* the SSL_CTX security callback in place before configure (ccm8_security_cb chains to it) */
    int (*prev_secb)(const SSL *s, const SSL_CTX *ctx, int op, int bits, int nid, void *other,
                     void *ex);
    void *prev_secex; /* and its ex data */
};

/* What the association keeps per SSL (SSL ex_data). */
typedef struct m2m_assoc_conn {
    int refusal;          /* M2MSEC_R_ASSOC_* of a refused handshake, or 0 */
    int psk_used;         /* a PSK of the key source was handed to OpenSSL */
    uint64_t not_after;   /* of that PSK (0: none) */
    uint64_t established; /* seconds since 1970, at handshake completion (0: not yet) */
    uint64_t records, bytes;
    char identity[M2MSEC_ASSOC_IDENTITY_MAX + 1]; /* of the PSK used */
} M2M_ASSOC_CONN;

/* The per-SSL state (created on first use; NULL if out of memory or not an association). */
M2M_ASSOC_CONN *m2m_assoc_conn(SSL *ssl, int create);
const M2M_ASSOC_CONN *m2m_assoc_conn_get(const SSL *ssl);
/* The association of an SSL (through its SSL_CTX), or NULL. */
m2msec_association *m2m_assoc_of(const SSL *ssl);

/* Seconds since 1970 (CLOCK_REALTIME). */
uint64_t m2m_assoc_now(void);

/* The key source: 1 with key/len/not_after, 0 unknown identity (nothing queued). */
int m2m_assoc_lookup(m2msec_association *a, const char *identity,
                     unsigned char key[M2MSEC_ASSOC_PSK_MAX], size_t *key_len, uint64_t *not_after);

/* Take a reference to a key table: 1, or 0 with an error queued. */
int m2m_assoc_keytable_up_ref(m2msec_association_keytable *kt);

/* Log one refusal line (identity escaped). */
void m2m_assoc_log(const m2msec_association *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Escape an identity from the network for a log line: printable ASCII kept, else \xHH. */
void m2m_assoc_escape(const char *in, size_t n, char *out, size_t cap);

/* The integrity gate (association_limits.c): 1 open, 0 with M2MSEC_R_ASSOC_INTEGRITY queued. */
int m2m_assoc_gate(const m2msec_association *a);
/* Read the gate's keys from cfg.integrity_policy into @p a: 1, or 0 with an error queued. */
int m2m_assoc_gate_init(m2msec_association *a);

#endif
