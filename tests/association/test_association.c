/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Security associations (m2msec/association.h, docs/PROTOCOL.md section 10),
 * in one process over socket pairs (TLS) and loopback UDP (DTLS):
 *
 *  - the key table parser: a good table, and every malformed line refused
 *    with M2MSEC_R_ASSOC_KEYTABLE naming the line; file checks (mode,
 *    symlink);
 *  - configuration refusals (M2MSEC_R_ASSOC_CONFIG);
 *  - handshakes for each forward_secrecy setting and transport, the suite
 *    and version negotiated;
 *  - the export: Kc/KcID equal on both ends, and equal to RFC 5705 computed
 *    here by stock OpenSSL's TLS1-PRF from the session's master secret and
 *    randoms (TLS 1.2), with the documented split (ID = first 16 bytes);
 *  - refusals, each with its reason and the server serving the next
 *    handshake: unknown identity, expired key, wrong key, missing SNI,
 *    wrong SNI, a client offering only suites outside the profile, a
 *    certificate-only server (the client refuses any certificate);
 *  - limits: max_records and the key's not-after end the association
 *    (M2MSEC_R_ASSOC_REESTABLISH); the jitter stays in range;
 *  - the integrity gate without the provider: refused (fail closed);
 *  - [association] in the policy file.
 */
#define _DEFAULT_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/ssl.h>

#include "m2msec/association.h"
#include "m2msec/errors.h"
#include "m2msec/integrity.h"
#include "test_errors.h"
#include "test_run.h"

static const unsigned char KEY[32] = {0,  1,  2,  3,  4,  5,  6,  7,  8,  9,  10,
                                      11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21,
                                      22, 23, 24, 25, 26, 27, 28, 29, 30, 31};
static char tmpdir[] = "/tmp/m2msec-assoc-XXXXXX";

static uint64_t now_s(void)
{
    return (uint64_t)time(NULL);
}

/* The reason of the first m2msec error on the queue (0: none); the queue is cleared. */
static int first_reason(void)
{
    unsigned long e;
    int r = 0;

    while ((e = ERR_get_error()) != 0)
        if (r == 0 && ERR_GET_LIB(e) == ERR_LIB_USER)
            r = ERR_GET_REASON(e);
    return r;
}

/* ---------------------------------------------------------------- key source */

typedef struct {
    unsigned char key[32];
    uint64_t not_after;
    int calls;
} client_key;

static int client_cb(void *arg, const char *identity, unsigned char key[M2MSEC_ASSOC_PSK_MAX],
                     size_t *key_len, uint64_t *not_after)
{
    client_key *k = arg;

    (void)identity;
    k->calls++;
    memcpy(key, k->key, 32);
    *key_len = 32;
    *not_after = k->not_after;
    return 1;
}

static char logbuf[4096];
static void log_cb(void *arg, const char *line)
{
    (void)arg;
    snprintf(logbuf, sizeof(logbuf), "%s", line);
}

static void hex(const unsigned char *b, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", b[i]);
}

static m2msec_association_keytable *table(uint64_t now)
{
    char text[1024], k[65];

    hex(KEY, 32, k);
    snprintf(text, sizeof(text), "m2msec-keytable 1\n# devices\n\ndev01 %s %llu\nold01 %s %llu\n",
             k, (unsigned long long)(now + 3600), k, (unsigned long long)(now - 10));
    return m2msec_association_keytable_parse(text, strlen(text), "test");
}

/* ---------------------------------------------------------------- pairs */

typedef struct {
    SSL_CTX *cctx, *sctx;
    SSL *c, *s;
    int cfd, sfd;
} pair;

static int make_udp(uint16_t *port)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_DGRAM, 0);

    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &len) != 0)
        return -1;
    *port = ntohs(sa.sin_port);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    return fd;
}

static void udp_connect(int fd, BIO *bio, uint16_t port)
{
    struct sockaddr_in sa;
    BIO_ADDR *peer = BIO_ADDR_new();

    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = htons(port);
    CHECK(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0, "connect UDP");
    BIO_ADDR_rawmake(peer, AF_INET, &sa.sin_addr, sizeof(sa.sin_addr), htons(port));
    BIO_ctrl(bio, BIO_CTRL_DGRAM_SET_CONNECTED, 0, peer);
    BIO_ADDR_free(peer);
}

/* SSLs for the two contexts over a socket pair (TLS) or connected UDP sockets (DTLS). */
static void pair_open(pair *p, SSL_CTX *cctx, SSL_CTX *sctx, int dtls)
{
    memset(p, 0, sizeof(*p));
    p->cctx = cctx;
    p->sctx = sctx;
    p->c = SSL_new(cctx);
    p->s = SSL_new(sctx);
    if (!dtls) {
        int sv[2];

        CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0, "socketpair");
        p->cfd = sv[0];
        p->sfd = sv[1];
        fcntl(sv[0], F_SETFL, O_NONBLOCK);
        fcntl(sv[1], F_SETFL, O_NONBLOCK);
        SSL_set_fd(p->c, p->cfd);
        SSL_set_fd(p->s, p->sfd);
    } else {
        uint16_t cport = 0, sport = 0;
        BIO *cb, *sb;

        p->cfd = make_udp(&cport);
        p->sfd = make_udp(&sport);
        cb = BIO_new_dgram(p->cfd, BIO_NOCLOSE);
        sb = BIO_new_dgram(p->sfd, BIO_NOCLOSE);
        udp_connect(p->cfd, cb, sport);
        udp_connect(p->sfd, sb, cport);
        SSL_set_bio(p->c, cb, cb);
        SSL_set_bio(p->s, sb, sb);
    }
    SSL_set_connect_state(p->c);
    SSL_set_accept_state(p->s);
}

static void pair_close(pair *p)
{
    SSL_free(p->c);
    SSL_free(p->s);
    close(p->cfd);
    close(p->sfd);
    p->c = p->s = NULL;
}

/* Drive both ends: 1 when both finished, 0 when either failed (errors left queued). */
static int pair_handshake(pair *p)
{
    int cdone = 0, sdone = 0;

    for (int i = 0; i < 400 && !(cdone && sdone); i++) {
        int r;

        if (!cdone) {
            r = SSL_do_handshake(p->c);
            if (r == 1)
                cdone = 1;
            else if (SSL_get_error(p->c, r) != SSL_ERROR_WANT_READ &&
                     SSL_get_error(p->c, r) != SSL_ERROR_WANT_WRITE)
                return 0;
        }
        if (!sdone) {
            r = SSL_do_handshake(p->s);
            if (r == 1)
                sdone = 1;
            else if (SSL_get_error(p->s, r) != SSL_ERROR_WANT_READ &&
                     SSL_get_error(p->s, r) != SSL_ERROR_WANT_WRITE)
                return 0;
        }
        if (SSL_is_dtls(p->c))
            poll(NULL, 0, 1);
    }
    return cdone && sdone;
}

/* One record each way; 1 if both arrived intact. */
static int pair_exchange(pair *p, const char *msg)
{
    char buf[256];
    int n = (int)strlen(msg), got = 0;

    if (SSL_write(p->c, msg, n) != n)
        return 0;
    for (int i = 0; i < 200 && got <= 0; i++) {
        got = SSL_read(p->s, buf, sizeof(buf));
        if (got <= 0)
            poll(NULL, 0, 1);
    }
    if (got != n || memcmp(buf, msg, (size_t)n) != 0)
        return 0;
    if (SSL_write(p->s, msg, n) != n)
        return 0;
    got = 0;
    for (int i = 0; i < 200 && got <= 0; i++) {
        got = SSL_read(p->c, buf, sizeof(buf));
        if (got <= 0)
            poll(NULL, 0, 1);
    }
    return got == n && memcmp(buf, msg, (size_t)n) == 0;
}

typedef struct {
    m2msec_association *ca, *sa;
    SSL_CTX *cctx, *sctx;
    client_key ck;
    m2msec_association_keytable *kt;
} ends;

static int ends_open(ends *e, int transport, int fs_client, int fs_server,
                     const m2msec_association_config *tweak_c,
                     const m2msec_association_config *tweak_s)
{
    m2msec_association_config c, s;

    memset(e, 0, sizeof(*e));
    memcpy(e->ck.key, KEY, 32);
    e->ck.not_after = 0;
    e->kt = table(now_s());
    memset(&c, 0, sizeof(c));
    memset(&s, 0, sizeof(s));
    if (tweak_c != NULL)
        c = *tweak_c;
    if (tweak_s != NULL)
        s = *tweak_s;
    c.role = M2MSEC_ASSOC_CLIENT;
    c.transport = transport;
    c.forward_secrecy = fs_client;
    if (c.server_name == NULL)
        c.server_name = "gw.example";
    if (c.identity == NULL)
        c.identity = "dev01";
    c.psk_cb = client_cb;
    c.psk_arg = &e->ck;
    c.log = log_cb;
    s.role = M2MSEC_ASSOC_SERVER;
    s.transport = transport;
    s.forward_secrecy = fs_server;
    s.keytable = e->kt;
    s.log = log_cb;
    e->ca = m2msec_association_new(&c);
    e->sa = m2msec_association_new(&s);
    e->cctx = e->ca == NULL ? NULL : m2msec_association_ssl_ctx_new(e->ca);
    e->sctx = e->sa == NULL ? NULL : m2msec_association_ssl_ctx_new(e->sa);
    return e->cctx != NULL && e->sctx != NULL;
}

static void ends_close(ends *e)
{
    SSL_CTX_free(e->cctx);
    SSL_CTX_free(e->sctx);
    m2msec_association_free(e->ca);
    m2msec_association_free(e->sa);
    m2msec_association_keytable_free(e->kt);
}

/* ---------------------------------------------------------------- tests */

static void test_keytable(void)
{
    static const char *const bad[] = {
        "",                      /* empty */
        "m2msec-keytable 2\n",   /* version */
        "m2msec-keytable 1",     /* no final LF */
        "m2msec-keytable 1\r\n", /* CR */
        "m2msec-keytable 1\nd 000102030405060708090a0b0c0d0e0f 99\n\n d 00 1\n",
        "m2msec-keytable 1\nd 000102030405060708090a0b0c0d0e0f\n",     /* 2 fields */
        "m2msec-keytable 1\nd  000102030405060708090a0b0c0d0e0f 9\n",  /* 2 spaces */
        "m2msec-keytable 1\nd 000102030405060708090a0b0c0d0e0f 9 x\n", /* 4 fields */
        "m2msec-keytable 1\nd 000102030405060708090a0b0c0d0e 9\n",     /* 15 bytes */
        "m2msec-keytable 1\nd 000102030405060708090A0B0C0D0E0F 9\n",   /* upper */
        "m2msec-keytable 1\nd 000102030405060708090a0b0c0d0e0g 9\n",   /* not hex */
        "m2msec-keytable 1\nd 000102030405060708090a0b0c0d0e0f1 9\n",  /* odd */
        "m2msec-keytable 1\nd 000102030405060708090a0b0c0d0e0f 09\n",  /* zero */
        "m2msec-keytable 1\nd 000102030405060708090a0b0c0d0e0f 0\n",   /* zero */
        "m2msec-keytable 1\nd 000102030405060708090a0b0c0d0e0f -9\n",  /* sign */
        "m2msec-keytable 1\nd 000102030405060708090a0b0c0d0e0f 99999999999999999999\n",
        "m2msec-keytable 1\nd\t000102030405060708090a0b0c0d0e0f 9\n", /* tab */
        ("m2msec-keytable 1\nd 000102030405060708090a0b0c0d0e0f 9\nd "
         "101112131415161718191a1b1c1d1e1f 9\n"),                     /* duplicate */
        "m2msec-keytable 1\nd 000102030405060708090a0b0c0d0e0f 9 \n", /* trailing blank */
    };
    unsigned char key[M2MSEC_ASSOC_PSK_MAX];
    size_t len = 0;
    uint64_t na = 0, now = now_s();
    m2msec_association_keytable *kt = table(now);
    char path[256], *errs;
    FILE *f;

    CHECK(kt != NULL && m2msec_association_keytable_count(kt) == 2, "good table parses");
    CHECK(m2msec_association_keytable_find(kt, "dev01", key, &len, &na) == 1 && len == 32 &&
              memcmp(key, KEY, 32) == 0 && na == now + 3600,
          "dev01 found with its key and not-after");
    CHECK(m2msec_association_keytable_find(kt, "dev02", key, &len, &na) == 0 && len == 0,
          "unknown identity not found");
    m2msec_association_keytable_free(kt);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        kt = m2msec_association_keytable_parse(bad[i], strlen(bad[i]), "bad");
        CHECK(kt == NULL && first_reason() == M2MSEC_R_ASSOC_KEYTABLE, "bad table %zu refused", i);
        m2msec_association_keytable_free(kt);
    }
    /* the line is named */
    kt = m2msec_association_keytable_parse(bad[8], strlen(bad[8]), "named");
    errs = errors_text();
    CHECK(kt == NULL && strstr(errs, "key table named line 2: key of 30 hex digits") != NULL,
          "message names the line: %s", errs);
    free(errs);
    ERR_clear_error();
    /* file checks */
    snprintf(path, sizeof(path), "%s/kt", tmpdir);
    f = fopen(path, "w");
    fprintf(f, "m2msec-keytable 1\nd 000102030405060708090a0b0c0d0e0f 9\n");
    fclose(f);
    chmod(path, 0640);
    kt = m2msec_association_keytable_load(path);
    CHECK(kt == NULL && first_reason() == M2MSEC_R_ASSOC_KEYTABLE_FILE, "mode 0640 refused");
    chmod(path, 0600);
    kt = m2msec_association_keytable_load(path);
    CHECK(kt != NULL, "mode 0600 loads");
    m2msec_association_keytable_free(kt);
    {
        char link[300];

        snprintf(link, sizeof(link), "%s/link", tmpdir);
        CHECK(symlink(path, link) == 0, "symlink");
        kt = m2msec_association_keytable_load(link);
        CHECK(kt == NULL && first_reason() == M2MSEC_R_ASSOC_KEYTABLE_FILE, "symlink refused");
        unlink(link);
    }
    unlink(path);
}

static void test_config(void)
{
    m2msec_association_config c;
    m2msec_association_keytable *kt = table(now_s());
    client_key ck;
    m2msec_association *a;
    SSL_CTX *ctx;

    memset(&ck, 0, sizeof(ck));
#define REFUSED(what)                                                                              \
    do {                                                                                           \
        a = m2msec_association_new(&c);                                                            \
        CHECK(a == NULL && first_reason() == M2MSEC_R_ASSOC_CONFIG, "refused: %s", what);          \
        m2msec_association_free(a);                                                                \
    } while (0)
    memset(&c, 0, sizeof(c));
    REFUSED("role 0");
    c.role = M2MSEC_ASSOC_CLIENT;
    REFUSED("transport 0");
    c.transport = M2MSEC_ASSOC_TLS;
    REFUSED("no key source");
    c.psk_cb = client_cb;
    c.psk_arg = &ck;
    REFUSED("client without identity");
    c.identity = "dev 01";
    REFUSED("identity with a blank");
    c.identity = "dev01";
    REFUSED("client without server_name");
    c.server_name = "gw_example!";
    REFUSED("bad server_name");
    c.server_name = "gw.example";
    c.keytable = kt;
    REFUSED("two key sources");
    c.keytable = NULL;
    c.suites = M2MSEC_ASSOC_PSK_AES128_CBC_SHA256;
    c.forward_secrecy = M2MSEC_ASSOC_FS_REQUIRED;
    REFUSED("suites without forward secrecy but FS required");
    c.suites = M2MSEC_ASSOC_TLS13_AES128_GCM_SHA256;
    c.forward_secrecy = 0;
    c.transport = M2MSEC_ASSOC_DTLS;
    REFUSED("only TLS 1.3 suites over DTLS");
    c.suites = 0;
    c.min_version = 0x0304;
    REFUSED("TLS 1.3 minimum over DTLS");
    c.min_version = 0x0301;
    c.transport = M2MSEC_ASSOC_TLS;
    REFUSED("TLS 1.0 minimum");
    c.min_version = 0;
    a = m2msec_association_new(&c);
    CHECK(a != NULL, "good client configuration");
    ctx = SSL_CTX_new(DTLS_client_method());
    CHECK(!m2msec_association_configure(a, ctx) && first_reason() == M2MSEC_R_ASSOC_CONFIG,
          "TLS association on a DTLS SSL_CTX refused");
    SSL_CTX_free(ctx);
    ctx = SSL_CTX_new(TLS_client_method());
    CHECK(m2msec_association_configure(a, ctx), "configure");
    CHECK(!m2msec_association_configure(a, ctx) && first_reason() == M2MSEC_R_ASSOC_CONFIG,
          "configured twice refused");
    m2msec_association_free(a); /* the SSL_CTX keeps its reference */
    {
        SSL *ssl = SSL_new(ctx);

        CHECK(ssl != NULL && !m2msec_association_check(ssl) &&
                  first_reason() == M2MSEC_R_ASSOC_STATE,
              "check before the handshake: not established");
        SSL_free(ssl);
    }
    SSL_CTX_free(ctx);
    c.role = M2MSEC_ASSOC_SERVER;
    c.psk_cb = NULL;
    c.keytable = kt;
    a = m2msec_association_new(&c);
    CHECK(a != NULL, "server with a key table");
    m2msec_association_keytable_free(kt); /* the association holds a reference */
    m2msec_association_free(a);
#undef REFUSED
}

/* TLS 1.2 PRF (P_SHA256) by stock OpenSSL's TLS1-PRF: 48 bytes of PRF(ms, label, cr || sr). */
static int prf_export(const unsigned char *ms, size_t mslen, const char *label,
                      const unsigned char cr[32], const unsigned char sr[32], unsigned char out[48])
{
    unsigned char seed[64];
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, "TLS1-PRF", NULL);
    EVP_KDF_CTX *k = kdf == NULL ? NULL : EVP_KDF_CTX_new(kdf);
    OSSL_PARAM p[5];
    int ok;

    memcpy(seed, cr, 32);
    memcpy(seed + 32, sr, 32);
    p[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, "SHA256", 0);
    p[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SECRET, (void *)ms, mslen);
    p[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SEED, (void *)label, strlen(label));
    p[3] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SEED, seed, sizeof(seed));
    p[4] = OSSL_PARAM_construct_end();
    ok = k != NULL && EVP_KDF_derive(k, out, 48, p) > 0;
    EVP_KDF_CTX_free(k);
    EVP_KDF_free(kdf);
    return ok;
}

/* RFC 5705 exporter of a live TLS 1.2 session from its master secret and randoms. */
static int reference_export(SSL *ssl, const char *label, unsigned char out[48])
{
    unsigned char ms[48], cr[32], sr[32];
    size_t mslen = SSL_SESSION_get_master_key(SSL_get_session(ssl), ms, sizeof(ms));

    SSL_get_client_random(ssl, cr, 32);
    SSL_get_server_random(ssl, sr, 32);
    return mslen == 48 && prf_export(ms, mslen, label, cr, sr, out);
}

/* The worked example of PROTOCOL.md 10.4 (values from the stock openssl kdf and Python hmac). */
static void test_protocol_example(void)
{
    static const struct {
        const char *label, *id, *key;
    } want[] = {
        {"EXPORTER-oneM2M-Connection", "bc186d5aec1bc19b9dec9a65e4b8f101",
         "39bf0a9d992017c3770845bd4cd492cb4c4165dd06dd93b2b5a2bb7efb7396bc"},
        {"EXPORTER-oneM2M-Bootstrap", "75db40abe0a3428555066a622ed22fd9",
         "1b7e06eb4659e2c4fa8d5fe985560858c549ae04e62698bafe5bc735104a6ed7"},
        {"EXPORTER-oneM2M-ESCertKE", "d75de3475a36e29b368b257ffd3a1604",
         "fcf24c412a6bb9e038ba40906bcd0eb7f3fac2a497ac82cbb41ca8378d740c63"},
    };
    unsigned char ms[48], cr[32], sr[32], out[48];
    char h[97];

    for (int i = 0; i < 48; i++)
        ms[i] = (unsigned char)i;
    for (int i = 0; i < 32; i++) {
        cr[i] = (unsigned char)(0xa0 + i);
        sr[i] = (unsigned char)(0xc0 + i);
    }
    for (size_t i = 0; i < 3; i++) {
        CHECK(strcmp(m2msec_association_export_label((int)i + 1), want[i].label) == 0, "label %zu",
              i + 1);
        CHECK(prf_export(ms, 48, want[i].label, cr, sr, out), "PRF");
        hex(out, 16, h);
        CHECK(strcmp(h, want[i].id) == 0, "%s: ID = first 16 bytes (%s)", want[i].label, h);
        hex(out + 16, 32, h);
        CHECK(strcmp(h, want[i].key) == 0, "%s: key = last 32 bytes (%s)", want[i].label, h);
    }
    CHECK(m2msec_association_export_label(0) == NULL && m2msec_association_export_label(4) == NULL,
          "no other labels");
}

static void test_tls13_only(void)
{
    m2msec_association_config tc;
    ends e;
    pair p;

    memset(&tc, 0, sizeof(tc));
    tc.min_version = 0x0304;
    CHECK(ends_open(&e, M2MSEC_ASSOC_TLS, 0, 0, &tc, NULL), "min_version 1.3: ends");
    pair_open(&p, e.cctx, e.sctx, 0);
    CHECK(pair_handshake(&p) && strcmp(SSL_get_version(p.c), "TLSv1.3") == 0,
          "min_version 1.3: TLS 1.3");
    pair_close(&p);
    ends_close(&e);
    /* a TLS 1.3-only device against a server with forward secrecy off: no common version */
    CHECK(ends_open(&e, M2MSEC_ASSOC_TLS, 0, M2MSEC_ASSOC_FS_OFF, &tc, NULL), "ends");
    pair_open(&p, e.cctx, e.sctx, 0);
    CHECK(!pair_handshake(&p), "TLS 1.3-only device, TLS 1.2-only server: refused");
    ERR_clear_error();
    pair_close(&p);
    ends_close(&e);
}

static void test_handshakes(void)
{
    static const struct {
        int transport, fsc, fss;
        const char *suite, *version;
        unsigned client_suites;
    } cases[] = {
        {M2MSEC_ASSOC_TLS, 0, 0, "TLS_AES_128_GCM_SHA256", "TLSv1.3", 0},
        {M2MSEC_ASSOC_TLS, M2MSEC_ASSOC_FS_OFF, 0, "PSK-AES128-GCM-SHA256", "TLSv1.2", 0},
        {M2MSEC_ASSOC_TLS, M2MSEC_ASSOC_FS_OFF, M2MSEC_ASSOC_FS_OFF, "PSK-AES128-GCM-SHA256",
         "TLSv1.2", 0},
        {M2MSEC_ASSOC_TLS, M2MSEC_ASSOC_FS_OFF, 0, "PSK-AES128-CBC-SHA256", "TLSv1.2",
         M2MSEC_ASSOC_PSK_AES128_CBC_SHA256},
        {M2MSEC_ASSOC_TLS, 0, 0, "ECDHE-PSK-CHACHA20-POLY1305", "TLSv1.2",
         M2MSEC_ASSOC_ECDHE_PSK_CHACHA20_POLY1305 | M2MSEC_ASSOC_PSK_AES128_CBC_SHA256},
        {M2MSEC_ASSOC_TLS, 0, 0, "TLS_CHACHA20_POLY1305_SHA256", "TLSv1.3",
         M2MSEC_ASSOC_TLS13_CHACHA20_POLY1305_SHA256},
        {M2MSEC_ASSOC_DTLS, 0, 0, "ECDHE-PSK-CHACHA20-POLY1305", "DTLSv1.2", 0},
        {M2MSEC_ASSOC_DTLS, M2MSEC_ASSOC_FS_OFF, 0, "PSK-AES128-CCM8", "DTLSv1.2",
         M2MSEC_ASSOC_PSK_AES128_CCM8},
        {M2MSEC_ASSOC_DTLS, M2MSEC_ASSOC_FS_REQUIRED, 0, "ECDHE-PSK-AES128-CBC-SHA256", "DTLSv1.2",
         M2MSEC_ASSOC_ECDHE_PSK_AES128_CBC_SHA256},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        m2msec_association_config tc;
        unsigned char kc[32], id[16], kc2[32], id2[16], ref[48];
        uint64_t records = 0;
        ends e;
        pair p;

        memset(&tc, 0, sizeof(tc));
        tc.suites = cases[i].client_suites;
        CHECK(ends_open(&e, cases[i].transport, cases[i].fsc, cases[i].fss, &tc, NULL),
              "case %zu: ends", i);
        pair_open(&p, e.cctx, e.sctx, cases[i].transport == M2MSEC_ASSOC_DTLS);
        CHECK(pair_handshake(&p), "case %zu: handshake", i);
        ERR_print_errors_fp(stderr);
        CHECK(strcmp(SSL_get_cipher_name(p.c), cases[i].suite) == 0 &&
                  strcmp(SSL_get_version(p.c), cases[i].version) == 0,
              "case %zu: %s %s (want %s %s)", i, SSL_get_cipher_name(p.c), SSL_get_version(p.c),
              cases[i].suite, cases[i].version);
        CHECK(m2msec_association_identity(p.s) != NULL &&
                  strcmp(m2msec_association_identity(p.s), "dev01") == 0,
              "case %zu: the server knows the identity", i);
        CHECK(pair_exchange(&p, "reading 1"), "case %zu: data both ways", i);
        CHECK(m2msec_association_check(p.c) && m2msec_association_check(p.s),
              "case %zu: association in good standing", i);
        CHECK(m2msec_association_stats(p.s, &records, NULL, NULL) && records == 2,
              "case %zu: server counted 2 records (%llu)", i, (unsigned long long)records);
        CHECK(m2msec_association_export(p.c, M2MSEC_ASSOC_EXPORT_CONNECTION, kc, id) &&
                  m2msec_association_export(p.s, M2MSEC_ASSOC_EXPORT_CONNECTION, kc2, id2) &&
                  memcmp(kc, kc2, 32) == 0 && memcmp(id, id2, 16) == 0,
              "case %zu: both ends export the same Kc/KcID", i);
        if (strcmp(cases[i].version, "TLSv1.2") == 0) {
            CHECK(reference_export(p.c, "EXPORTER-oneM2M-Connection", ref) &&
                      memcmp(ref, id, 16) == 0 && memcmp(ref + 16, kc, 32) == 0,
                  "case %zu: export = RFC 5705 by TLS1-PRF, KcID first 16 bytes, Kc last 32", i);
        }
        CHECK(m2msec_association_export(p.c, M2MSEC_ASSOC_EXPORT_BOOTSTRAP, kc2, id2) &&
                  memcmp(kc, kc2, 32) != 0,
              "case %zu: another label, another key", i);
        CHECK(!m2msec_association_export(p.c, 9, kc2, id2) &&
                  first_reason() == M2MSEC_R_ASSOC_EXPORT,
              "case %zu: unknown label refused", i);
        pair_close(&p);
        ends_close(&e);
    }
}

/* A plain OpenSSL client (no association): PSK callback, optional SNI, given suites. */
static const unsigned char *plain_key;
static unsigned int plain_psk_cb(SSL *ssl, const char *hint, char *identity, unsigned int max_id,
                                 unsigned char *psk, unsigned int max_psk)
{
    (void)ssl, (void)hint, (void)max_id, (void)max_psk;
    strcpy(identity, "dev01");
    memcpy(psk, plain_key, 32);
    return 32;
}

static void test_refusals(void)
{
    unsigned char wrong[32];
    ends e;
    pair p;
    SSL_CTX *plain;

    /* expired key at the server, unknown identity, wrong key */
    {
        m2msec_association_config tc;
        static const struct {
            const char *identity;
            int wrong_key, reason;
        } r[] = {
            {"old01", 0, M2MSEC_R_ASSOC_KEY_EXPIRED},
            {"nobody", 0, M2MSEC_R_ASSOC_UNKNOWN_IDENTITY},
            {"dev01", 1, M2MSEC_R_ASSOC_NOT_FINISHED},
        };

        for (int tls13 = 0; tls13 < 2; tls13++)
            for (size_t i = 0; i < sizeof(r) / sizeof(r[0]); i++) {
                memset(&tc, 0, sizeof(tc));
                tc.identity = r[i].identity;
                CHECK(
                    ends_open(&e, M2MSEC_ASSOC_TLS, tls13 ? 0 : M2MSEC_ASSOC_FS_OFF, 0, &tc, NULL),
                    "ends");
                if (r[i].wrong_key)
                    e.ck.key[0] ^= 1;
                logbuf[0] = '\0';
                pair_open(&p, e.cctx, e.sctx, 0);
                CHECK(!pair_handshake(&p), "%s (tls13 %d): handshake refused", r[i].identity,
                      tls13);
                CHECK(m2msec_association_refusal(p.s) == r[i].reason,
                      "%s (tls13 %d): server refusal %d, want %d", r[i].identity, tls13,
                      m2msec_association_refusal(p.s), r[i].reason);
                if (r[i].reason == M2MSEC_R_ASSOC_KEY_EXPIRED)
                    CHECK(strstr(logbuf, "'old01' refused: key expired at") != NULL,
                          "log line says why: %s", logbuf);
                ERR_clear_error();
                pair_close(&p);
                /* the server serves the next device */
                ends_close(&e);
            }
    }
    /* expired key at the client: it does not even try */
    CHECK(ends_open(&e, M2MSEC_ASSOC_TLS, 0, 0, NULL, NULL), "ends");
    e.ck.not_after = now_s() - 1;
    pair_open(&p, e.cctx, e.sctx, 0);
    CHECK(!pair_handshake(&p) && m2msec_association_refusal(p.c) == M2MSEC_R_ASSOC_KEY_EXPIRED,
          "client refuses its own expired key");
    ERR_clear_error();
    pair_close(&p);
    /* after which the same server accepts a fresh key */
    e.ck.not_after = now_s() + 60;
    pair_open(&p, e.cctx, e.sctx, 0);
    CHECK(pair_handshake(&p), "fresh key accepted by the same server");
    pair_close(&p);

    /* plain clients against the association server */
    plain_key = KEY;
    for (int k = 0; k < 4; k++) {
        const char *what[] = {"no SNI", "wrong SNI", "suites outside the profile",
                              "profile suite, control"};
        int want[] = {M2MSEC_R_ASSOC_NO_SNI, M2MSEC_R_ASSOC_WRONG_SNI, 0, 0};

        plain = SSL_CTX_new(TLS_client_method());
        SSL_CTX_set_max_proto_version(plain, TLS1_2_VERSION);
        SSL_CTX_set_psk_client_callback(plain, plain_psk_cb);
        SSL_CTX_set_cipher_list(plain, k == 2 ? "PSK-AES256-CBC-SHA384:AES128-SHA:PSK-NULL-SHA256"
                                              : "PSK-AES128-CBC-SHA256");
        {
            m2msec_association_config ts;

            memset(&ts, 0, sizeof(ts));
            ts.role = M2MSEC_ASSOC_SERVER;
            ts.transport = M2MSEC_ASSOC_TLS;
            ts.server_name = "gw.example";
            ts.keytable = e.kt;
            ts.log = log_cb;
            m2msec_association *sa = m2msec_association_new(&ts);
            SSL_CTX *sctx = m2msec_association_ssl_ctx_new(sa);

            pair_open(&p, plain, sctx, 0);
            if (k == 1)
                SSL_set_tlsext_host_name(p.c, "other.example");
            else if (k != 0)
                SSL_set_tlsext_host_name(p.c, "gw.example");
            if (k == 3) {
                CHECK(pair_handshake(&p), "%s: accepted", what[k]);
            } else {
                CHECK(!pair_handshake(&p), "%s: refused", what[k]);
                CHECK(m2msec_association_refusal(p.s) == want[k], "%s: reason %d", what[k],
                      m2msec_association_refusal(p.s));
                if (k == 2)
                    CHECK(ERR_GET_REASON(ERR_peek_last_error()) == SSL_R_NO_SHARED_CIPHER,
                          "outside the profile: no shared cipher");
            }
            ERR_clear_error();
            pair_close(&p);
            SSL_CTX_free(sctx);
            m2msec_association_free(sa);
        }
        SSL_CTX_free(plain);
    }
    /* a certificate-only server: the association client refuses any certificate */
    {
        EVP_PKEY *pk = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
        X509 *x = X509_new();
        SSL_CTX *cert = SSL_CTX_new(TLS_server_method());

        X509_set_version(x, 2);
        ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
        X509_gmtime_adj(X509_getm_notBefore(x), 0);
        X509_gmtime_adj(X509_getm_notAfter(x), 3600);
        X509_set_pubkey(x, pk);
        X509_sign(x, pk, EVP_sha256());
        SSL_CTX_use_certificate(cert, x);
        SSL_CTX_use_PrivateKey(cert, pk);
        pair_open(&p, e.cctx, cert, 0);
        CHECK(!pair_handshake(&p), "certificate-only server: the device refuses");
        ERR_clear_error();
        pair_close(&p);
        SSL_CTX_free(cert);
        X509_free(x);
        EVP_PKEY_free(pk);
    }
    memset(wrong, 0, sizeof(wrong));
    ends_close(&e);
}

static void test_limits(void)
{
    m2msec_association_config tc;
    ends e;
    pair p;

    memset(&tc, 0, sizeof(tc));
    tc.max_records = 3;
    CHECK(ends_open(&e, M2MSEC_ASSOC_DTLS, 0, 0, &tc, NULL), "ends");
    pair_open(&p, e.cctx, e.sctx, 1);
    CHECK(pair_handshake(&p), "handshake");
    CHECK(pair_exchange(&p, "one") && m2msec_association_check(p.c), "2 records: fine");
    CHECK(pair_exchange(&p, "two") && !m2msec_association_check(p.c) &&
              first_reason() == M2MSEC_R_ASSOC_REESTABLISH,
          "4 records with max_records 3: re-establish");
    CHECK(m2msec_association_check(p.s), "the server's own limit (default) is not reached");
    pair_close(&p);
    ends_close(&e);

    memset(&tc, 0, sizeof(tc));
    CHECK(ends_open(&e, M2MSEC_ASSOC_TLS, 0, 0, &tc, NULL), "ends");
    e.ck.not_after = now_s() + 2;
    pair_open(&p, e.cctx, e.sctx, 0);
    CHECK(pair_handshake(&p) && m2msec_association_check(p.c), "key valid 2 s: fine");
    sleep(3);
    CHECK(!m2msec_association_check(p.c) && first_reason() == M2MSEC_R_ASSOC_REESTABLISH,
          "key past its not-after: re-establish");
    pair_close(&p);
    ends_close(&e);

    /* byte limit (server side) and lifetime limit (client side) */
    memset(&tc, 0, sizeof(tc));
    tc.max_lifetime = 1;
    {
        m2msec_association_config ts;
        uint64_t bytes = 0, est = 0;

        memset(&ts, 0, sizeof(ts));
        ts.max_bytes = 150;
        CHECK(ends_open(&e, M2MSEC_ASSOC_TLS, 0, 0, &tc, &ts), "ends");
        pair_open(&p, e.cctx, e.sctx, 0);
        CHECK(pair_handshake(&p) && m2msec_association_check(p.s), "handshake, fine");
        CHECK(pair_exchange(&p, "0123456789012345678901234567890123456789"), "exchange 1");
        CHECK(m2msec_association_stats(p.s, NULL, &bytes, &est) && bytes == 114 && est != 0,
              "two TLS 1.3 records of 40 bytes counted as 2 x (40 + 1 + 16) protected bytes");
        CHECK(m2msec_association_check(p.s), "below max_bytes: fine");
        CHECK(pair_exchange(&p, "x") && !m2msec_association_check(p.s) &&
                  first_reason() == M2MSEC_R_ASSOC_REESTABLISH,
              "two more records of 1 byte: 150 bytes, max_bytes 150 reached: re-establish");
        sleep(2);
        CHECK(!m2msec_association_check(p.c) && first_reason() == M2MSEC_R_ASSOC_REESTABLISH,
              "max_lifetime 1 s passed: re-establish");
        pair_close(&p);
        ends_close(&e);
    }

    for (int i = 0; i < 1000; i++) {
        uint64_t j = m2msec_association_jitter_ms(100, 50);

        if (j < 100 || j > 150) {
            CHECK(0, "jitter %llu outside [100, 150]", (unsigned long long)j);
            break;
        }
    }
    CHECK(m2msec_association_jitter_ms(7, 0) == 7, "no spread: the base");
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    fputs(text, f);
    fclose(f);
}

/* One handshake with require_integrity from @p policy: 1 established, else 0 with *reason. */
static int gated_handshake(const char *policy, int *reason, int *calls)
{
    m2msec_association_config tc;
    ends e;
    pair p;
    int ok;

    memset(&tc, 0, sizeof(tc));
    tc.require_integrity = 1;
    tc.integrity_policy = policy;
    if (!ends_open(&e, M2MSEC_ASSOC_TLS, 0, 0, &tc, NULL)) {
        *reason = first_reason();
        ends_close(&e);
        return 0;
    }
    pair_open(&p, e.cctx, e.sctx, 0);
    ok = pair_handshake(&p);
    *reason = m2msec_association_refusal(p.c);
    *calls = e.ck.calls;
    ERR_clear_error();
    pair_close(&p);
    ends_close(&e);
    return ok;
}

static void test_gate_and_policy(void)
{
    static const unsigned char dkey[32] = {9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 9, 8, 7, 6, 5, 4,
                                           3, 2, 1, 0, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 9, 8};
    m2msec_association_config pc;
    char path[256], status[256], state[256], keyf[256], text[1024];
    int reason = 0, calls = 0;
    uint64_t now = now_s();
    FILE *f;

    snprintf(path, sizeof(path), "%s/gate.cnf", tmpdir);
    snprintf(status, sizeof(status), "%s/integrity.status", tmpdir);
    snprintf(state, sizeof(state), "%s/manifest.state", tmpdir);
    snprintf(keyf, sizeof(keyf), "%s/device.key", tmpdir);
    /* require_integrity without a policy file, or without the gate's paths: configuration error */
    CHECK(!gated_handshake(NULL, &reason, &calls) && reason == M2MSEC_R_ASSOC_CONFIG,
          "require_integrity without integrity_policy refused (%d)", reason);
    write_text(path, "[session]\nrequire_integrity = yes\n");
    CHECK(!gated_handshake(path, &reason, &calls) && reason == M2MSEC_R_ASSOC_CONFIG,
          "require_integrity without integrity_status etc. refused (%d)", reason);
    snprintf(text, sizeof(text),
             "[session]\nrequire_integrity = yes\nintegrity_status = %s\ndevice_key_file = "
             "%s\nmanifest_state = %s\nmax_status_age = 600\n",
             status, keyf, state);
    write_text(path, text);
    write_text(keyf, "0908070605040302010009080706050403020100090807060504030201000908\n");
    write_text(state, "m2msec-manifest-state 1\nversion 5\n");
    calls = 0;
    CHECK(!gated_handshake(path, &reason, &calls) && reason == M2MSEC_R_ASSOC_INTEGRITY &&
              calls == 0,
          "no status record: refused before the key is asked for (%d, %d calls)", reason, calls);
    CHECK(m2msec_integrity_status_write(NULL, status, dkey, sizeof(dkey), 1, 5, now),
          "status passed");
    CHECK(gated_handshake(path, &reason, &calls), "status passed, manifest 5: association");
    CHECK(m2msec_integrity_status_write(NULL, status, dkey, sizeof(dkey), 0, 5, now),
          "status failed");
    CHECK(!gated_handshake(path, &reason, &calls) && reason == M2MSEC_R_ASSOC_INTEGRITY,
          "status failed: refused");
    CHECK(m2msec_integrity_status_write(NULL, status, dkey, sizeof(dkey), 1, 4, now),
          "older manifest");
    CHECK(!gated_handshake(path, &reason, &calls) && reason == M2MSEC_R_ASSOC_INTEGRITY,
          "status for an older manifest than the accepted one: refused");
    CHECK(m2msec_integrity_status_write(NULL, status, dkey, sizeof(dkey), 1, 5, now - 601),
          "stale");
    CHECK(!gated_handshake(path, &reason, &calls) && reason == M2MSEC_R_ASSOC_INTEGRITY,
          "status older than max_status_age: refused");
    CHECK(m2msec_integrity_status_invalidate(NULL, status, dkey, sizeof(dkey), now), "verifying");
    CHECK(!gated_handshake(path, &reason, &calls) && reason == M2MSEC_R_ASSOC_INTEGRITY,
          "verification in progress: refused");
    CHECK(m2msec_integrity_status_write(NULL, status, dkey + 1, sizeof(dkey) - 1, 1, 5, now),
          "other key");
    CHECK(!gated_handshake(path, &reason, &calls) && reason == M2MSEC_R_ASSOC_INTEGRITY,
          "record under another key: refused");
    CHECK(m2msec_integrity_status_write(NULL, status, dkey, sizeof(dkey), 1, 6, now),
          "passed again");
    CHECK(gated_handshake(path, &reason, &calls), "passed again: association");
    unlink(status);
    unlink(state);
    unlink(keyf);
    unlink(path);

    snprintf(path, sizeof(path), "%s/policy.cnf", tmpdir);
    f = fopen(path, "w");
    fprintf(f, "[session]\nrequire_integrity = yes\n[association]\n"
               "suites = PSK-AES128-CCM8, ECDHE-PSK-AES128-CBC-SHA256\nmin_version = 1.2\n"
               "forward_secrecy = required\nmax_records = 100\nmax_bytes = 4096\n"
               "max_lifetime = 600\n");
    fclose(f);
    memset(&pc, 0, sizeof(pc));
    CHECK(m2msec_association_config_from_policy(&pc, path), "policy read");
    CHECK(pc.suites == (M2MSEC_ASSOC_PSK_AES128_CCM8 | M2MSEC_ASSOC_ECDHE_PSK_AES128_CBC_SHA256) &&
              pc.min_version == 0x0303 && pc.forward_secrecy == M2MSEC_ASSOC_FS_REQUIRED &&
              pc.max_records == 100 && pc.max_bytes == 4096 && pc.max_lifetime == 600 &&
              pc.require_integrity == 1 && pc.integrity_policy == path,
          "policy values");
    f = fopen(path, "w");
    fprintf(f, "[association]\nforward_secrecy = maybe\n");
    fclose(f);
    CHECK(!m2msec_association_config_from_policy(&pc, path) &&
              first_reason() == M2MSEC_R_ASSOC_CONFIG,
          "bad forward_secrecy refused");
    f = fopen(path, "w");
    fprintf(f, "[association]\nsuites = PSK-AES256-CBC-SHA384\n");
    fclose(f);
    CHECK(!m2msec_association_config_from_policy(&pc, path) &&
              first_reason() == M2MSEC_R_ASSOC_CONFIG,
          "a suite outside the profile refused");
    unlink(path);
}

static int init(void)
{
    return mkdtemp(tmpdir) == NULL ? -1 : 0;
}

static int cleanup(void)
{
    return rmdir(tmpdir);
}

int main(void)
{
    static const tc_test tests[] = {
        {"key table: strict parser, file checks", test_keytable},
        {"configuration refusals", test_config},
        {"PROTOCOL.md 10.4 worked example", test_protocol_example},
        {"handshakes, suites, export vs RFC 5705 reference", test_handshakes},
        {"TLS 1.3 only", test_tls13_only},
        {"refusals, each with its reason", test_refusals},
        {"record limit, key lifetime, jitter", test_limits},
        {"integrity gate, [association] policy", test_gate_and_policy},
    };

    return tc_run("test_association", "association", init, cleanup, tests,
                  sizeof(tests) / sizeof(tests[0]));
}
