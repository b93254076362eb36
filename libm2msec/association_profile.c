/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libm2msec: the oneM2M (D)TLS-PSK profile on an ordinary SSL_CTX
 * (m2msec/association.h, docs/PROTOCOL.md section 10).
 *
 * Design: everything an association needs is installed as SSL_CTX
 * callbacks, so the application keeps its own sockets and I/O calls:
 *   - psk_client/psk_server callbacks (TLS 1.2) and the psk_use_session /
 *     psk_find_session callbacks (TLS 1.3 external PSK, psk_dhe_ke only:
 *     SSL_OP_ALLOW_NO_DHE_KEX is cleared);
 *   - a client-hello callback on the server that refuses a ClientHello
 *     without SNI (or naming another server);
 *   - an info callback on the client that sets the SNI name at handshake
 *     start, and a verify callback that rejects every certificate (a
 *     server that does not take the PSK can never authenticate otherwise);
 *   - DTLS cookie callbacks: HMAC-SHA-256(secret, peer address);
 *   - a message callback that counts application records and bytes.
 * The SSL_CTX keeps a reference to the association in its ex_data.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/tls1.h>

#include "association_internal.h"

static CRYPTO_ONCE once = CRYPTO_ONCE_STATIC_INIT;
static int ctx_idx = -1, ssl_idx = -1;

static void ctx_free_cb(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
    (void)parent, (void)ad, (void)idx, (void)argl, (void)argp;
    m2msec_association_free(ptr);
}

static void ssl_free_cb(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
    (void)parent, (void)ad, (void)idx, (void)argl, (void)argp;
    OPENSSL_clear_free(ptr, sizeof(M2M_ASSOC_CONN));
}

/* An SSL_dup()/SSL_CTX copy must not share the pointer: a duplicate starts with no state. */
static int ssl_dup_cb(CRYPTO_EX_DATA *to, const CRYPTO_EX_DATA *from, void **from_d, int idx,
                      long argl, void *argp)
{
    (void)to, (void)from, (void)idx, (void)argl, (void)argp;
    *(void **)from_d = NULL;
    return 1;
}

static void init_idx(void)
{
    ctx_idx = SSL_CTX_get_ex_new_index(0, "m2msec association", NULL, NULL, ctx_free_cb);
    ssl_idx = SSL_get_ex_new_index(0, "m2msec association state", NULL, ssl_dup_cb, ssl_free_cb);
}

static int indices(void)
{
    if (!CRYPTO_THREAD_run_once(&once, init_idx) || ctx_idx < 0 || ssl_idx < 0) {
        M2M_ASSOC_ERR(M2MSEC_R_ASSOC_CONFIG, "cannot allocate SSL ex_data indices");
        return 0;
    }
    return 1;
}

uint64_t m2m_assoc_now(void)
{
    struct timespec ts;

    if (clock_gettime(CLOCK_REALTIME, &ts) != 0 || ts.tv_sec < 0)
        return 0;
    return (uint64_t)ts.tv_sec;
}

m2msec_association *m2m_assoc_of(const SSL *ssl)
{
    if (!indices())
        return NULL;
    return SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), ctx_idx);
}

M2M_ASSOC_CONN *m2m_assoc_conn(SSL *ssl, int create)
{
    M2M_ASSOC_CONN *c;

    if (!indices())
        return NULL;
    c = SSL_get_ex_data(ssl, ssl_idx);
    if (c == NULL && create) {
        c = OPENSSL_zalloc(sizeof(*c));
        if (c != NULL && !SSL_set_ex_data(ssl, ssl_idx, c)) {
            OPENSSL_free(c);
            c = NULL;
        }
    }
    return c;
}

const M2M_ASSOC_CONN *m2m_assoc_conn_get(const SSL *ssl)
{
    if (!indices())
        return NULL;
    return SSL_get_ex_data(ssl, ssl_idx);
}

void m2m_assoc_escape(const char *in, size_t n, char *out, size_t cap)
{
    size_t o = 0;

    if (cap == 0)
        return;
    for (size_t i = 0; i < n && o + 5 < cap; i++) {
        unsigned char ch = (unsigned char)in[i];

        if (ch > 0x20 && ch < 0x7f && ch != '\\' && ch != '\'') {
            out[o++] = (char)ch;
        } else {
            snprintf(out + o, cap - o, "\\x%02x", ch);
            o += 4;
        }
    }
    if (o + 5 >= cap && n > 0 && o > 0 && cap > 4) {
        /* truncated: say so */
        memcpy(out + (o > cap - 4 ? cap - 4 : o), "...", 3);
        o = o > cap - 4 ? cap - 1 : o + 3;
    }
    out[o] = '\0';
}

void m2m_assoc_log(const m2msec_association *a, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    int n;

    n = snprintf(line, sizeof(line), "m2msec association: ");
    va_start(ap, fmt);
    vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
    va_end(ap);
    if (a->cfg.log != NULL)
        a->cfg.log(a->cfg.log_arg, line);
    else
        fprintf(stderr, "%s\n", line);
}

/* Record a refusal on the SSL (first one wins) and queue the error. */
static void refuse(SSL *ssl, int reason)
{
    M2M_ASSOC_CONN *c = m2m_assoc_conn(ssl, 1);

    if (c != NULL && c->refusal == 0)
        c->refusal = reason;
}

/* ------------------------------------------------------------------ */
/* Key source                                                          */
/* ------------------------------------------------------------------ */

int m2m_assoc_lookup(m2msec_association *a, const char *identity,
                     unsigned char key[M2MSEC_ASSOC_PSK_MAX], size_t *key_len, uint64_t *not_after)
{
    int found = 0;

    *key_len = 0;
    *not_after = 0;
    if (a->cfg.psk_cb != NULL) {
        found = a->cfg.psk_cb(a->cfg.psk_arg, identity, key, key_len, not_after) == 1;
    } else {
        m2msec_association_keytable *kt;

        if (!CRYPTO_THREAD_read_lock(a->lock))
            return 0;
        kt = a->keytable;
        found = kt != NULL &&
                m2msec_association_keytable_find(kt, identity, key, key_len, not_after) == 1;
        CRYPTO_THREAD_unlock(a->lock);
    }
    if (!found) {
        OPENSSL_cleanse(key, M2MSEC_ASSOC_PSK_MAX);
        *key_len = 0;
    }
    return found;
}

/*
 * The checks every handshake makes once it has the identity: the gate, the
 * key source, the key's length and not-after. Returns the key length (> 0)
 * with the key in @p key, or 0 with the refusal recorded and logged.
 */
static size_t handshake_key(SSL *ssl, m2msec_association *a, const char *identity, size_t idlen,
                            unsigned char key[M2MSEC_ASSOC_PSK_MAX])
{
    char shown[4 * 64 + 8];
    M2M_ASSOC_CONN *c = m2m_assoc_conn(ssl, 1);
    size_t key_len = 0;
    uint64_t not_after = 0, now = m2m_assoc_now();

    m2m_assoc_escape(identity, idlen, shown, sizeof(shown));
    if (c == NULL) {
        M2M_ASSOC_ERR(M2MSEC_R_ASSOC_STATE, "out of memory");
        return 0;
    }
    if (a->cfg.require_integrity && !m2m_assoc_gate(a)) {
        refuse(ssl, M2MSEC_R_ASSOC_INTEGRITY);
        m2m_assoc_log(a, "handshake for psk_identity '%s' refused: device integrity not verified",
                      shown);
        return 0;
    }
    if (idlen == 0 || idlen > M2MSEC_ASSOC_IDENTITY_MAX || strlen(identity) != idlen ||
        !m2m_assoc_lookup(a, identity, key, &key_len, &not_after)) {
        refuse(ssl, M2MSEC_R_ASSOC_UNKNOWN_IDENTITY);
        M2M_ASSOC_ERR(M2MSEC_R_ASSOC_UNKNOWN_IDENTITY, "psk_identity '%s' is not known", shown);
        m2m_assoc_log(a, "handshake for psk_identity '%s' refused: unknown identity", shown);
        return 0;
    }
    if (key_len < M2MSEC_ASSOC_PSK_MIN || key_len > M2MSEC_ASSOC_PSK_MAX) {
        OPENSSL_cleanse(key, M2MSEC_ASSOC_PSK_MAX);
        refuse(ssl, M2MSEC_R_ASSOC_BAD_KEY);
        M2M_ASSOC_ERR(M2MSEC_R_ASSOC_BAD_KEY, "the key of psk_identity '%s' has %zu bytes (%d..%d)",
                      shown, key_len, M2MSEC_ASSOC_PSK_MIN, M2MSEC_ASSOC_PSK_MAX);
        m2m_assoc_log(a, "handshake for psk_identity '%s' refused: key of %zu bytes", shown,
                      key_len);
        return 0;
    }
    if (not_after != 0 && now >= not_after) {
        OPENSSL_cleanse(key, M2MSEC_ASSOC_PSK_MAX);
        refuse(ssl, M2MSEC_R_ASSOC_KEY_EXPIRED);
        M2M_ASSOC_ERR(M2MSEC_R_ASSOC_KEY_EXPIRED,
                      "the key of psk_identity '%s' expired at %llu (now %llu)", shown,
                      (unsigned long long)not_after, (unsigned long long)now);
        m2m_assoc_log(a,
                      "handshake for psk_identity '%s' refused: key expired at %llu (now %llu, "
                      "TS-0003 8.2.2.3)",
                      shown, (unsigned long long)not_after, (unsigned long long)now);
        return 0;
    }
    c->psk_used = 1;
    c->not_after = not_after;
    memcpy(c->identity, identity, idlen);
    c->identity[idlen] = '\0';
    return key_len;
}

static unsigned int psk_client_cb(SSL *ssl, const char *hint, char *identity,
                                  unsigned int max_identity_len, unsigned char *psk,
                                  unsigned int max_psk_len)
{
    m2msec_association *a = m2m_assoc_of(ssl);
    unsigned char key[M2MSEC_ASSOC_PSK_MAX];
    size_t n, idlen;

    (void)hint;
    if (a == NULL)
        return 0;
    idlen = strlen(a->identity);
    if (idlen + 1 > max_identity_len)
        return 0;
    n = handshake_key(ssl, a, a->identity, idlen, key);
    if (n == 0 || n > max_psk_len) {
        OPENSSL_cleanse(key, sizeof(key));
        return 0;
    }
    memcpy(identity, a->identity, idlen + 1);
    memcpy(psk, key, n);
    OPENSSL_cleanse(key, sizeof(key));
    return (unsigned int)n;
}

static unsigned int psk_server_cb(SSL *ssl, const char *identity, unsigned char *psk,
                                  unsigned int max_psk_len)
{
    m2msec_association *a = m2m_assoc_of(ssl);
    unsigned char key[M2MSEC_ASSOC_PSK_MAX];
    size_t n;

    if (a == NULL || identity == NULL)
        return 0;
    n = handshake_key(ssl, a, identity, strlen(identity), key);
    if (n == 0 || n > max_psk_len) {
        OPENSSL_cleanse(key, sizeof(key));
        return 0;
    }
    memcpy(psk, key, n);
    OPENSSL_cleanse(key, sizeof(key));
    return (unsigned int)n;
}

/* TLS 1.3: a session holding the external PSK for TLS_AES_128_GCM_SHA256 (SHA-256 binder). */
static SSL_SESSION *psk_session(SSL *ssl, const unsigned char *key, size_t n)
{
    static const unsigned char id[] = {0x13, 0x01};
    const SSL_CIPHER *cipher = SSL_CIPHER_find(ssl, id);
    SSL_SESSION *s = SSL_SESSION_new();

    if (s == NULL || cipher == NULL || !SSL_SESSION_set1_master_key(s, key, n) ||
        !SSL_SESSION_set_cipher(s, cipher) ||
        !SSL_SESSION_set_protocol_version(s, TLS1_3_VERSION)) {
        SSL_SESSION_free(s);
        return NULL;
    }
    return s;
}

static int psk_use_session_cb(SSL *ssl, const EVP_MD *md, const unsigned char **id, size_t *idlen,
                              SSL_SESSION **sess)
{
    m2msec_association *a = m2m_assoc_of(ssl);
    unsigned char key[M2MSEC_ASSOC_PSK_MAX];
    size_t n;

    *sess = NULL;
    if (a == NULL)
        return 0;
    /* a second call after HelloRetryRequest with another hash: offer nothing */
    if (md != NULL && !EVP_MD_is_a(md, "SHA256"))
        return 1;
    n = handshake_key(ssl, a, a->identity, strlen(a->identity), key);
    if (n == 0)
        return 0;
    *sess = psk_session(ssl, key, n);
    OPENSSL_cleanse(key, sizeof(key));
    if (*sess == NULL)
        return 0;
    *id = (const unsigned char *)a->identity;
    *idlen = strlen(a->identity);
    return 1;
}

static int psk_find_session_cb(SSL *ssl, const unsigned char *identity, size_t idlen,
                               SSL_SESSION **sess)
{
    m2msec_association *a = m2m_assoc_of(ssl);
    unsigned char key[M2MSEC_ASSOC_PSK_MAX];
    char id[M2MSEC_ASSOC_IDENTITY_MAX + 1];
    size_t n;

    *sess = NULL;
    if (a == NULL)
        return 0;
    if (idlen > M2MSEC_ASSOC_IDENTITY_MAX || memchr(identity, 0, idlen) != NULL) {
        char shown[4 * 64 + 8];

        m2m_assoc_escape((const char *)identity, idlen > 64 ? 64 : idlen, shown, sizeof(shown));
        refuse(ssl, M2MSEC_R_ASSOC_UNKNOWN_IDENTITY);
        M2M_ASSOC_ERR(M2MSEC_R_ASSOC_UNKNOWN_IDENTITY, "psk_identity '%s' is not known", shown);
        m2m_assoc_log(a, "handshake for psk_identity '%s' refused: unknown identity", shown);
        return 0;
    }
    memcpy(id, identity, idlen);
    id[idlen] = '\0';
    n = handshake_key(ssl, a, id, idlen, key);
    if (n == 0)
        return 0;
    *sess = psk_session(ssl, key, n);
    OPENSSL_cleanse(key, sizeof(key));
    return *sess != NULL;
}

/* ------------------------------------------------------------------ */
/* SNI                                                                 */
/* ------------------------------------------------------------------ */

/* The host name of a server_name extension body (RFC 6066 3), or 0. */
static int sni_name(const unsigned char *p, size_t len, const unsigned char **name, size_t *nlen)
{
    size_t list;

    if (len < 2)
        return 0;
    list = (size_t)p[0] << 8 | p[1];
    if (list + 2 != len || list < 3)
        return 0;
    p += 2;
    if (p[0] != TLSEXT_NAMETYPE_host_name)
        return 0;
    *nlen = (size_t)p[1] << 8 | p[2];
    if (*nlen == 0 || *nlen + 3 > list)
        return 0;
    *name = p + 3;
    return 1;
}

static int client_hello_cb(SSL *ssl, int *al, void *arg)
{
    m2msec_association *a = arg;
    const unsigned char *ext = NULL, *name = NULL;
    size_t len = 0, nlen = 0;

    if (!SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_server_name, &ext, &len) ||
        !sni_name(ext, len, &name, &nlen)) {
        refuse(ssl, M2MSEC_R_ASSOC_NO_SNI);
        M2M_ASSOC_ERR(M2MSEC_R_ASSOC_NO_SNI,
                      "the ClientHello has no server_name (SNI is mandatory, TS-0003 10.2.2)");
        m2m_assoc_log(a, "handshake refused: ClientHello without SNI");
        *al = SSL_AD_MISSING_EXTENSION;
        return SSL_CLIENT_HELLO_ERROR;
    }
    if (a->server_name != NULL &&
        (nlen != strlen(a->server_name) ||
         OPENSSL_strncasecmp((const char *)name, a->server_name, nlen) != 0)) {
        char shown[4 * 64 + 8];

        m2m_assoc_escape((const char *)name, nlen > 64 ? 64 : nlen, shown, sizeof(shown));
        refuse(ssl, M2MSEC_R_ASSOC_WRONG_SNI);
        M2M_ASSOC_ERR(M2MSEC_R_ASSOC_WRONG_SNI, "the ClientHello names server '%s', not '%s'",
                      shown, a->server_name);
        m2m_assoc_log(a, "handshake refused: SNI '%s' is not this server ('%s')", shown,
                      a->server_name);
        *al = SSL_AD_UNRECOGNIZED_NAME;
        return SSL_CLIENT_HELLO_ERROR;
    }
    return SSL_CLIENT_HELLO_SUCCESS;
}

/* Client: the SNI name at the start of every handshake (unless the application set one). */
static void info_cb(const SSL *cssl, int where, int ret)
{
    SSL *ssl = (SSL *)cssl;
    m2msec_association *a;

    (void)ret;
    if ((where & SSL_CB_HANDSHAKE_START) == 0 || SSL_is_server(ssl))
        return;
    a = m2m_assoc_of(ssl);
    if (a != NULL && SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name) == NULL)
        (void)SSL_set_tlsext_host_name(ssl, a->server_name);
}

/* Client: no certificate is ever acceptable (the PSK is the only authentication). */
static int verify_cb(int ok, X509_STORE_CTX *x)
{
    (void)ok, (void)x;
    return 0;
}

/* ------------------------------------------------------------------ */
/* DTLS cookies                                                        */
/* ------------------------------------------------------------------ */

#define COOKIE_LEN 32

static int cookie_compute(SSL *ssl, unsigned char out[COOKIE_LEN])
{
    m2msec_association *a = m2m_assoc_of(ssl);
    BIO_ADDR *peer = BIO_ADDR_new();
    unsigned char addr[64];
    size_t alen = 0;
    unsigned short port;
    EVP_MAC *mac = NULL;
    EVP_MAC_CTX *mctx = NULL;
    OSSL_PARAM params[2];
    int ok = 0, family;
    size_t outl = 0;

    if (a == NULL || peer == NULL || BIO_dgram_get_peer(SSL_get_rbio(ssl), peer) <= 0)
        goto end;
    family = BIO_ADDR_family(peer);
    if (family != AF_INET && family != AF_INET6)
        goto end;
    if (!BIO_ADDR_rawaddress(peer, NULL, &alen) || alen > sizeof(addr) - 4 ||
        !BIO_ADDR_rawaddress(peer, addr + 3, &alen))
        goto end;
    port = BIO_ADDR_rawport(peer);
    addr[0] = (unsigned char)family;
    memcpy(addr + 1, &port, 2);
    mac = EVP_MAC_fetch(a->cfg.libctx, "HMAC", NULL);
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA256", 0);
    params[1] = OSSL_PARAM_construct_end();
    ok = mac != NULL && (mctx = EVP_MAC_CTX_new(mac)) != NULL &&
         EVP_MAC_init(mctx, a->cookie_secret, sizeof(a->cookie_secret), params) &&
         EVP_MAC_update(mctx, addr, alen + 3) && EVP_MAC_final(mctx, out, &outl, COOKIE_LEN) &&
         outl == COOKIE_LEN;
end:
    EVP_MAC_CTX_free(mctx);
    EVP_MAC_free(mac);
    BIO_ADDR_free(peer);
    return ok;
}

static int cookie_generate_cb(SSL *ssl, unsigned char *cookie, unsigned int *cookie_len)
{
    if (!cookie_compute(ssl, cookie)) {
        refuse(ssl, M2MSEC_R_ASSOC_COOKIE);
        M2M_ASSOC_ERR(M2MSEC_R_ASSOC_COOKIE,
                      "cannot make a DTLS cookie (the SSL needs a datagram BIO with the peer's "
                      "address)");
        return 0;
    }
    *cookie_len = COOKIE_LEN;
    return 1;
}

static int cookie_verify_cb(SSL *ssl, const unsigned char *cookie, unsigned int cookie_len)
{
    unsigned char want[COOKIE_LEN];
    int ok = cookie_len == COOKIE_LEN && cookie_compute(ssl, want) &&
             CRYPTO_memcmp(want, cookie, COOKIE_LEN) == 0;

    OPENSSL_cleanse(want, sizeof(want));
    return ok;
}

/* ------------------------------------------------------------------ */
/* Counting records                                                    */
/* ------------------------------------------------------------------ */

static void msg_cb(int write_p, int version, int content_type, const void *buf, size_t len,
                   SSL *ssl, void *arg)
{
    const unsigned char *h = buf;
    M2M_ASSOC_CONN *c;
    size_t rlen;

    (void)write_p, (void)version, (void)arg;
    if (content_type != SSL3_RT_HEADER || len < 5 || h[0] != SSL3_RT_APPLICATION_DATA ||
        !SSL_is_init_finished(ssl))
        return;
    c = m2m_assoc_conn(ssl, 0);
    if (c == NULL)
        return;
    rlen = (size_t)h[len - 2] << 8 | h[len - 1];
    c->records++;
    c->bytes += rlen;
}

static void established_cb(const SSL *cssl, int where, int ret)
{
    M2M_ASSOC_CONN *c;

    info_cb(cssl, where, ret);
    if ((where & SSL_CB_HANDSHAKE_DONE) == 0)
        return;
    c = m2m_assoc_conn((SSL *)cssl, 1);
    if (c != NULL && c->established == 0)
        c->established = m2m_assoc_now();
}

/* ------------------------------------------------------------------ */
/* The association object                                              */
/* ------------------------------------------------------------------ */

static const struct {
    unsigned bit;
    const char *name;
    int fs, tls13;
} suite_names[] = {
    /* forward-secret first: the server's preference order */
    {M2MSEC_ASSOC_ECDHE_PSK_CHACHA20_POLY1305, "ECDHE-PSK-CHACHA20-POLY1305", 1, 0},
    {M2MSEC_ASSOC_ECDHE_PSK_AES128_CBC_SHA256, "ECDHE-PSK-AES128-CBC-SHA256", 1, 0},
    {M2MSEC_ASSOC_PSK_AES128_GCM_SHA256, "PSK-AES128-GCM-SHA256", 0, 0},
    {M2MSEC_ASSOC_PSK_AES128_CCM, "PSK-AES128-CCM", 0, 0},
    {M2MSEC_ASSOC_PSK_AES128_CCM8, "PSK-AES128-CCM8", 0, 0},
    {M2MSEC_ASSOC_PSK_AES128_CBC_SHA256, "PSK-AES128-CBC-SHA256", 0, 0},
    {M2MSEC_ASSOC_TLS13_AES128_GCM_SHA256, "TLS_AES_128_GCM_SHA256", 1, 1},
    {M2MSEC_ASSOC_TLS13_CHACHA20_POLY1305_SHA256, "TLS_CHACHA20_POLY1305_SHA256", 1, 1},
};
#define NSUITES (sizeof(suite_names) / sizeof(suite_names[0]))

/* The suites a configuration leaves, or 0. */
static unsigned effective_suites(const m2msec_association_config *cfg)
{
    unsigned want = cfg->suites == 0 ? M2MSEC_ASSOC_ALL_SUITES : cfg->suites, m = 0;

    for (size_t i = 0; i < NSUITES; i++) {
        if ((want & suite_names[i].bit) == 0)
            continue;
        if (cfg->forward_secrecy == M2MSEC_ASSOC_FS_REQUIRED && !suite_names[i].fs)
            continue;
        if (cfg->forward_secrecy == M2MSEC_ASSOC_FS_OFF &&
            (suite_names[i].fs || suite_names[i].tls13))
            continue;
        if (suite_names[i].tls13 && cfg->transport == M2MSEC_ASSOC_DTLS)
            continue;
        if (!suite_names[i].tls13 && cfg->min_version == 0x0304)
            continue;
        m |= suite_names[i].bit;
    }
    return m;
}

static int printable_name(const char *s, size_t max, int host)
{
    size_t n = strlen(s);

    if (n == 0 || n > max)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c <= 0x20 || c >= 0x7f)
            return 0;
        if (host && !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '-' || c == '.'))
            return 0;
    }
    return 1;
}

m2msec_association *m2msec_association_new(const m2msec_association_config *cfg)
{
    m2msec_association *a;
    const m2msec_association_config *c = cfg;

    if (!indices())
        return NULL;
    if (c->role != M2MSEC_ASSOC_CLIENT && c->role != M2MSEC_ASSOC_SERVER) {
        M2M_ASSOC_ERR(M2MSEC_R_ASSOC_CONFIG, "role %d is neither client (1) nor server (2)",
                      c->role);
        return NULL;
    }
    if (c->transport != M2MSEC_ASSOC_TLS && c->transport != M2MSEC_ASSOC_DTLS) {
        M2M_ASSOC_ERR(M2MSEC_R_ASSOC_CONFIG, "transport %d is neither TLS (1) nor DTLS (2)",
                      c->transport);
        return NULL;
    }
    if (c->forward_secrecy < M2MSEC_ASSOC_FS_PREFERRED ||
        c->forward_secrecy > M2MSEC_ASSOC_FS_OFF) {
        M2M_ASSOC_ERR(M2MSEC_R_ASSOC_CONFIG, "forward_secrecy %d is not preferred, required or off",
                      c->forward_secrecy);
        return NULL;
    }
    if (c->min_version != 0 && c->min_version != 0x0303 && c->min_version != 0x0304) {
        M2M_ASSOC_ERR(M2MSEC_R_ASSOC_CONFIG, "min_version 0x%04x is not 0x0303 or 0x0304",
                      (unsigned)c->min_version);
        return NULL;
    }
    if (c->min_version == 0x0304 &&
        (c->transport == M2MSEC_ASSOC_DTLS || c->forward_secrecy == M2MSEC_ASSOC_FS_OFF)) {
        M2M_ASSOC_ERR(M2MSEC_R_ASSOC_CONFIG,
                      "min_version TLS 1.3 needs TLS (not DTLS) and forward secrecy not off");
        return NULL;
    }
    if ((c->psk_cb != NULL) + (c->keytable != NULL) != 1) {
        M2M_ASSOC_ERR(M2MSEC_R_ASSOC_CONFIG,
                      "give exactly one key source: psk_cb or keytable (%s given)",
                      c->psk_cb == NULL ? "none" : "both");
        return NULL;
    }
    if (c->role == M2MSEC_ASSOC_CLIENT) {
        if (c->keytable != NULL) {
            M2M_ASSOC_ERR(M2MSEC_R_ASSOC_CONFIG, "a client takes its key from psk_cb, not a table");
            return NULL;
        }
        if (c->identity == NULL || !printable_name(c->identity, M2MSEC_ASSOC_IDENTITY_MAX, 0)) {
            M2M_ASSOC_ERR(M2MSEC_R_ASSOC_CONFIG,
                          "a client needs its psk_identity: 1..%d printable ASCII characters, no "
                          "blanks",
                          M2MSEC_ASSOC_IDENTITY_MAX);
            return NULL;
        }
        if (c->server_name == NULL) {
            M2M_ASSOC_ERR(M2MSEC_R_ASSOC_CONFIG,
                          "a client needs server_name (SNI is mandatory, TS-0003 10.2.2)");
            return NULL;
        }
    }
    if (c->server_name != NULL && !printable_name(c->server_name, M2MSEC_ASSOC_NAME_MAX, 1)) {
        M2M_ASSOC_ERR(M2MSEC_R_ASSOC_CONFIG,
                      "server_name must be a host name (letters, digits, '-', '.'; 1..%d)",
                      M2MSEC_ASSOC_NAME_MAX);
        return NULL;
    }
    if (effective_suites(c) == 0) {
        M2M_ASSOC_ERR(M2MSEC_R_ASSOC_CONFIG,
                      "no cipher suite left: suites 0x%02x with forward_secrecy %s over %s",
                      c->suites,
                      c->forward_secrecy == M2MSEC_ASSOC_FS_REQUIRED ? "required"
                      : c->forward_secrecy == M2MSEC_ASSOC_FS_OFF    ? "off"
                                                                     : "preferred",
                      c->transport == M2MSEC_ASSOC_DTLS ? "DTLS" : "TLS");
        return NULL;
    }
    a = OPENSSL_zalloc(sizeof(*a));
    if (a == NULL)
        goto oom;
    atomic_init(&a->refs, 1);
    a->cfg = *c;
    a->cfg.keytable = NULL;
    a->suites = effective_suites(c);
    if ((a->lock = CRYPTO_THREAD_lock_new()) == NULL)
        goto oom;
    if (c->server_name != NULL && (a->server_name = OPENSSL_strdup(c->server_name)) == NULL)
        goto oom;
    if (c->identity != NULL && (a->identity = OPENSSL_strdup(c->identity)) == NULL)
        goto oom;
    a->cfg.server_name = a->server_name;
    a->cfg.identity = a->identity;
    if (RAND_priv_bytes_ex(c->libctx, a->cookie_secret, sizeof(a->cookie_secret), 0) <= 0) {
        M2M_ASSOC_ERR(M2MSEC_R_ASSOC_CONFIG, "no random bytes for the DTLS cookie secret");
        m2msec_association_free(a);
        return NULL;
    }
    if (c->require_integrity && !m2m_assoc_gate_init(a)) {
        m2msec_association_free(a);
        return NULL;
    }
    a->cfg.integrity_policy = NULL; /* read; not kept */
    if (c->keytable != NULL && !m2msec_association_set_keytable(a, c->keytable)) {
        m2msec_association_free(a);
        return NULL;
    }
    return a;
oom:
    M2M_ASSOC_ERR(M2MSEC_R_ASSOC_CONFIG, "out of memory");
    m2msec_association_free(a);
    return NULL;
}

void m2msec_association_free(m2msec_association *a)
{
    if (a == NULL || atomic_fetch_sub(&a->refs, 1) > 1)
        return;
    m2msec_association_keytable_free(a->keytable);
    CRYPTO_THREAD_lock_free(a->lock);
    OPENSSL_free(a->server_name);
    OPENSSL_free(a->identity);
    OPENSSL_free(a->status_path);
    OPENSSL_free(a->key_path);
    OPENSSL_free(a->state_path);
    OPENSSL_clear_free(a, sizeof(*a));
}

int m2msec_association_set_keytable(m2msec_association *a, m2msec_association_keytable *kt)
{
    m2msec_association_keytable *old;

    if (a->cfg.role != M2MSEC_ASSOC_SERVER || a->cfg.psk_cb != NULL) {
        M2M_ASSOC_ERR(M2MSEC_R_ASSOC_CONFIG, "only a server association without psk_cb takes a "
                                             "key table");
        return 0;
    }
    if (!m2m_assoc_keytable_up_ref(kt))
        return 0;
    if (!CRYPTO_THREAD_write_lock(a->lock)) {
        m2msec_association_keytable_free(kt);
        M2M_ASSOC_ERR(M2MSEC_R_ASSOC_CONFIG, "cannot lock the association");
        return 0;
    }
    old = a->keytable;
    a->keytable = kt;
    CRYPTO_THREAD_unlock(a->lock);
    m2msec_association_keytable_free(old);
    return 1;
}

/*
 * OpenSSL 3.2 and later rate the CCM_8 suites at 64 bits of security and
 * refuse them at security level 1 and above; 3.0 accepts them. The oneM2M
 * DTLS profile mandates TLS_PSK_WITH_AES_128_CCM_8 (TS-0003 8.2.2), so where
 * the association's suites include it, this callback admits exactly that
 * suite (IANA 0xC0A8) and passes every other question - other suites, key
 * sizes, groups, versions - to the callback that was in place before
 * (OpenSSL's default level checks). docs/PROTOCOL.md 10.1.
 */
static int ccm8_security_cb(const SSL *s, const SSL_CTX *ctx, int op, int bits, int nid,
                            void *other, void *ex)
{
    const m2msec_association *a = ex; /* SSL_CTX_set0_security_ex_data in configure */

    if (a == NULL || a->prev_secb == NULL)
        return 0;
    if ((op & SSL_SECOP_OTHER_TYPE) == SSL_SECOP_OTHER_CIPHER && other != NULL &&
        (a->suites & M2MSEC_ASSOC_PSK_AES128_CCM8) != 0 &&
        SSL_CIPHER_get_protocol_id((const SSL_CIPHER *)other) == 0xC0A8)
        return 1;
    return a->prev_secb(s, ctx, op, bits, nid, other, a->prev_secex);
}

/* Undo ccm8_security_cb on an SSL_CTX whose configuration failed. */
static void restore_security_cb(const m2msec_association *a, SSL_CTX *ctx)
{
    if (SSL_CTX_get_security_callback(ctx) != ccm8_security_cb)
        return;
    SSL_CTX_set_security_callback(ctx, a->prev_secb);
    SSL_CTX_set0_security_ex_data(ctx, a->prev_secex);
}

int m2msec_association_configure(m2msec_association *a, SSL_CTX *ctx)
{
    const SSL_METHOD *m = SSL_CTX_get_ssl_method(ctx);
    char list[512] = "", suites13[128] = "";
    int dtls = a->cfg.transport == M2MSEC_ASSOC_DTLS;
    int minv, maxv;

    if (!indices())
        return 0;
    /* the method's family must match the transport */
    {
        SSL *probe = SSL_new(ctx);
        int is_dtls = probe != NULL && SSL_is_dtls(probe);

        SSL_free(probe);
        if (probe == NULL) {
            M2M_ASSOC_ERR(M2MSEC_R_ASSOC_CONFIG, "cannot probe the SSL_CTX's method");
            return 0;
        }
        if (is_dtls != dtls) {
            M2M_ASSOC_ERR(M2MSEC_R_ASSOC_CONFIG, "the SSL_CTX is for %s, the association for %s",
                          is_dtls ? "DTLS" : "TLS", dtls ? "DTLS" : "TLS");
            return 0;
        }
    }
    (void)m;
    if (SSL_CTX_get_ex_data(ctx, ctx_idx) != NULL) {
        M2M_ASSOC_ERR(M2MSEC_R_ASSOC_CONFIG, "the SSL_CTX is already configured for an "
                                             "association");
        return 0;
    }
    for (size_t i = 0; i < NSUITES; i++) {
        char *dst = suite_names[i].tls13 ? suites13 : list;
        size_t cap = suite_names[i].tls13 ? sizeof(suites13) : sizeof(list);

        if ((a->suites & suite_names[i].bit) == 0)
            continue;
        if (dst[0] != '\0')
            OPENSSL_strlcat(dst, ":", cap);
        OPENSSL_strlcat(dst, suite_names[i].name, cap);
    }
    minv = dtls ? DTLS1_2_VERSION : a->cfg.min_version == 0x0304 ? TLS1_3_VERSION : TLS1_2_VERSION;
    maxv = dtls ? DTLS1_2_VERSION : suites13[0] != '\0' ? TLS1_3_VERSION : TLS1_2_VERSION;
    /*
     * TLS 1.3 only: OpenSSL refuses an empty TLS 1.2 list, so one profile
     * suite stays listed; the minimum version TLS 1.3 keeps it unused.
     */
    if (list[0] == '\0')
        OPENSSL_strlcpy(list, "PSK-AES128-GCM-SHA256", sizeof(list));
    if ((a->suites & M2MSEC_ASSOC_PSK_AES128_CCM8) != 0) {
        int (*prev)(const SSL *, const SSL_CTX *, int, int, int, void *, void *) =
            SSL_CTX_get_security_callback(ctx);

        if (prev == NULL || (a->prev_secb != NULL && a->prev_secb != prev)) {
            M2M_ASSOC_ERR(M2MSEC_R_ASSOC_CONFIG,
                          "the SSL_CTX has no security callback, or another one than the "
                          "association's other SSL_CTX");
            return 0;
        }
        a->prev_secb = prev;
        a->prev_secex = SSL_CTX_get0_security_ex_data(ctx);
        SSL_CTX_set0_security_ex_data(ctx, a);
        SSL_CTX_set_security_callback(ctx, ccm8_security_cb);
    }
    ERR_set_mark();
    if (!SSL_CTX_set_min_proto_version(ctx, minv) || !SSL_CTX_set_max_proto_version(ctx, maxv) ||
        !SSL_CTX_set_cipher_list(ctx, list) ||
        (!dtls && !SSL_CTX_set_ciphersuites(ctx, suites13)) ||
        !SSL_CTX_set1_groups_list(ctx, "X25519:P-256")) {
        ERR_clear_last_mark();
        restore_security_cb(a, ctx);
        M2M_ASSOC_ERR(M2MSEC_R_ASSOC_CONFIG, "OpenSSL refused the profile (suites '%s' '%s')", list,
                      suites13);
        return 0;
    }
    ERR_pop_to_mark();
    /* No resumption of any kind: every association is a full handshake that checks the key. */
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET | SSL_OP_NO_RENEGOTIATION |
                                 SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_COMPRESSION);
    SSL_CTX_clear_options(ctx, SSL_OP_ALLOW_NO_DHE_KEX | SSL_OP_LEGACY_SERVER_CONNECT |
                                   SSL_OP_ALLOW_UNSAFE_LEGACY_RENEGOTIATION);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    /* a gateway holds many mostly idle associations: no 16 KB record buffers while idle */
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    (void)SSL_CTX_set_num_tickets(ctx, 0);
    SSL_CTX_set_msg_callback(ctx, msg_cb);
    SSL_CTX_set_info_callback(ctx, established_cb);
    if (a->cfg.role == M2MSEC_ASSOC_CLIENT) {
        SSL_CTX_set_psk_client_callback(ctx, psk_client_cb);
        if (maxv == TLS1_3_VERSION)
            SSL_CTX_set_psk_use_session_callback(ctx, psk_use_session_cb);
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, verify_cb);
    } else {
        SSL_CTX_set_psk_server_callback(ctx, psk_server_cb);
        if (maxv == TLS1_3_VERSION)
            SSL_CTX_set_psk_find_session_callback(ctx, psk_find_session_cb);
        SSL_CTX_set_client_hello_cb(ctx, client_hello_cb, a);
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
        if (dtls) {
            SSL_CTX_set_options(ctx, SSL_OP_COOKIE_EXCHANGE);
            SSL_CTX_set_cookie_generate_cb(ctx, cookie_generate_cb);
            SSL_CTX_set_cookie_verify_cb(ctx, cookie_verify_cb);
        }
    }
    if (dtls)
        SSL_CTX_set_read_ahead(ctx, 1);
    atomic_fetch_add(&a->refs, 1);
    if (!SSL_CTX_set_ex_data(ctx, ctx_idx, a)) {
        restore_security_cb(a, ctx);
        m2msec_association_free(a);
        M2M_ASSOC_ERR(M2MSEC_R_ASSOC_CONFIG, "out of memory");
        return 0;
    }
    return 1;
}

SSL_CTX *m2msec_association_ssl_ctx_new(m2msec_association *a)
{
    const SSL_METHOD *m;
    SSL_CTX *ctx;

    if (a->cfg.transport == M2MSEC_ASSOC_DTLS)
        m = a->cfg.role == M2MSEC_ASSOC_CLIENT ? DTLS_client_method() : DTLS_server_method();
    else
        m = a->cfg.role == M2MSEC_ASSOC_CLIENT ? TLS_client_method() : TLS_server_method();
    ctx = SSL_CTX_new_ex(a->cfg.libctx, NULL, m);
    if (ctx == NULL) {
        M2M_ASSOC_ERR(M2MSEC_R_ASSOC_CONFIG, "SSL_CTX_new_ex failed");
        return NULL;
    }
    if (!m2msec_association_configure(a, ctx)) {
        SSL_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

int m2msec_association_refusal(const SSL *ssl)
{
    const M2M_ASSOC_CONN *c = m2m_assoc_conn_get(ssl);

    if (c == NULL)
        return 0;
    if (c->refusal == 0 && c->psk_used && !SSL_is_init_finished(ssl))
        return M2MSEC_R_ASSOC_NOT_FINISHED;
    return c->refusal;
}

const char *m2msec_association_identity(const SSL *ssl)
{
    const M2M_ASSOC_CONN *c = m2m_assoc_conn_get(ssl);

    return c != NULL && c->psk_used ? c->identity : NULL;
}
