/* SPDX-License-Identifier: Apache-2.0 */
/*
 * association_bench: the cost of oneM2M security associations
 * (m2msec/association.h) on a gateway, in one run:
 *
 *  1. handshakes per second, TLS 1.2 and DTLS 1.2: PSK (the oneM2M
 *     mandatory suites), ECDHE-PSK, TLS 1.3 PSK with psk_dhe_ke, against
 *     ECDHE-ECDSA with P-256 certificates (TS-0003 10.2.3) configured on
 *     plain OpenSSL contexts; the gateway's share of the CPU time (its
 *     SSL_do_handshake calls only) and both ends together; bytes on the
 *     wire and flights (round trips) per handshake;
 *  2. memory per association on the gateway (bytes still allocated per
 *     established server SSL, counted through CRYPTO_set_mem_functions);
 *  3. a restart of N devices (default 1000) at once over DTLS on loopback:
 *     the time until the gateway has re-established all of them and the
 *     devices' waiting times, without jitter (all arrive at t = 0) and with
 *     m2msec_association_jitter_ms(0, SPREAD) (default 2000 ms).
 *
 * Interleaved rounds (A, B, C, A, B, C, ...), the best round of each kept.
 * No timing is asserted anywhere.
 *
 *   build/bench/association_bench [-t SECONDS] [-r ROUNDS] [-n DEVICES] [-j SPREAD_MS]
 */
#define _DEFAULT_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <malloc.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "m2msec/association.h"

static const unsigned char KEY[32] = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11,
                                      12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22,
                                      23, 24, 25, 26, 27, 28, 29, 30, 31, 32};

/* ---------------------------------------------------------------- memory accounting */

static size_t live_bytes;

static void *count_malloc(size_t n, const char *f, int l)
{
    void *p = malloc(n);

    (void)f, (void)l;
    if (p != NULL)
        live_bytes += malloc_usable_size(p);
    return p;
}

static void *count_realloc(void *p, size_t n, const char *f, int l)
{
    size_t old = p != NULL ? malloc_usable_size(p) : 0;
    void *q = realloc(p, n);

    (void)f, (void)l;
    if (q != NULL)
        live_bytes += malloc_usable_size(q) - old;
    else if (n == 0)
        live_bytes -= old;
    return q;
}

static void count_free(void *p, const char *f, int l)
{
    (void)f, (void)l;
    if (p != NULL)
        live_bytes -= malloc_usable_size(p);
    free(p);
}

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---------------------------------------------------------------- contenders */

enum { K_PSK, K_ECDHE_PSK, K_TLS13, K_ECDSA };
static const char *const kind_names[] = {"PSK", "ECDHE-PSK", "TLS 1.3 PSK-DHE", "ECDHE-ECDSA"};

typedef struct {
    const char *label;
    int dtls, kind;
    SSL_CTX *cctx, *sctx;
    m2msec_association *ca, *sa;
    m2msec_association_keytable *kt;
    /* results */
    double best_rate, best_server_rate;
    double bytes, flights;
    const char *suite;
} contender;

static int key_cb(void *arg, const char *identity, unsigned char key[M2MSEC_ASSOC_PSK_MAX],
                  size_t *key_len, uint64_t *not_after)
{
    (void)arg, (void)identity;
    memcpy(key, KEY, 32);
    *key_len = 32;
    *not_after = 0;
    return 1;
}

static void quiet_log(void *arg, const char *line)
{
    (void)arg, (void)line;
}

/* The certificate DTLS server does a cookie exchange too (a fixed cookie: only its cost counts). */
static int bench_cookie_gen(SSL *ssl, unsigned char *cookie, unsigned int *len)
{
    (void)ssl;
    memset(cookie, 0x5a, 32);
    *len = 32;
    return 1;
}

static int bench_cookie_verify(SSL *ssl, const unsigned char *cookie, unsigned int len)
{
    static const unsigned char want[32] = {0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a,
                                           0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a,
                                           0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a,
                                           0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a};

    (void)ssl;
    return len == 32 && memcmp(cookie, want, 32) == 0;
}

static EVP_PKEY *cert_key;
static X509 *cert;

static void make_cert(void)
{
    cert_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    cert = X509_new();
    X509_set_version(cert, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
    X509_gmtime_adj(X509_getm_notBefore(cert), -60);
    X509_gmtime_adj(X509_getm_notAfter(cert), 86400);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(cert), "CN", MBSTRING_ASC,
                               (const unsigned char *)"gw.example", -1, -1, 0);
    X509_set_issuer_name(cert, X509_get_subject_name(cert));
    X509_set_pubkey(cert, cert_key);
    X509_sign(cert, cert_key, EVP_sha256());
}

static int setup(contender *c)
{
    if (c->kind == K_ECDSA) {
        X509_STORE *st;

        c->cctx = SSL_CTX_new(c->dtls ? DTLS_client_method() : TLS_client_method());
        c->sctx = SSL_CTX_new(c->dtls ? DTLS_server_method() : TLS_server_method());
        if (c->cctx == NULL || c->sctx == NULL)
            return 0;
        SSL_CTX_set_max_proto_version(c->cctx, c->dtls ? DTLS1_2_VERSION : TLS1_2_VERSION);
        SSL_CTX_set_cipher_list(c->cctx, "ECDHE-ECDSA-AES128-GCM-SHA256");
        SSL_CTX_set1_groups_list(c->cctx, "P-256");
        SSL_CTX_set1_groups_list(c->sctx, "P-256");
        SSL_CTX_set_options(c->cctx, SSL_OP_NO_TICKET);
        SSL_CTX_set_options(c->sctx, SSL_OP_NO_TICKET);
        SSL_CTX_set_session_cache_mode(c->sctx, SSL_SESS_CACHE_OFF);
        SSL_CTX_set_session_cache_mode(c->cctx, SSL_SESS_CACHE_OFF);
        SSL_CTX_use_certificate(c->sctx, cert);
        SSL_CTX_use_PrivateKey(c->sctx, cert_key);
        st = SSL_CTX_get_cert_store(c->cctx);
        X509_STORE_add_cert(st, cert);
        SSL_CTX_set_verify(c->cctx, SSL_VERIFY_PEER, NULL);
        if (c->dtls) {
            SSL_CTX_set_read_ahead(c->sctx, 1);
            SSL_CTX_set_read_ahead(c->cctx, 1);
            SSL_CTX_set_options(c->sctx, SSL_OP_COOKIE_EXCHANGE);
            SSL_CTX_set_cookie_generate_cb(c->sctx, bench_cookie_gen);
            SSL_CTX_set_cookie_verify_cb(c->sctx, bench_cookie_verify);
        }
        c->suite = "ECDHE-ECDSA-AES128-GCM-SHA256";
        return 1;
    } else {
        m2msec_association_config cc, sc;
        char text[256], hex[65];

        for (int i = 0; i < 32; i++)
            snprintf(hex + 2 * i, 3, "%02x", KEY[i]);
        snprintf(text, sizeof(text), "m2msec-keytable 1\ndev01 %s 4000000000\n", hex);
        c->kt = m2msec_association_keytable_parse(text, strlen(text), "bench");
        memset(&cc, 0, sizeof(cc));
        cc.role = M2MSEC_ASSOC_CLIENT;
        cc.transport = c->dtls ? M2MSEC_ASSOC_DTLS : M2MSEC_ASSOC_TLS;
        cc.server_name = "gw.example";
        cc.identity = "dev01";
        cc.psk_cb = key_cb;
        cc.log = quiet_log;
        switch (c->kind) {
        case K_PSK:
            cc.forward_secrecy = M2MSEC_ASSOC_FS_OFF;
            cc.suites = c->dtls ? M2MSEC_ASSOC_PSK_AES128_CCM8 : M2MSEC_ASSOC_PSK_AES128_CBC_SHA256;
            c->suite = c->dtls ? "PSK-AES128-CCM8" : "PSK-AES128-CBC-SHA256";
            break;
        case K_ECDHE_PSK:
            cc.forward_secrecy = M2MSEC_ASSOC_FS_REQUIRED;
            cc.suites = M2MSEC_ASSOC_ECDHE_PSK_AES128_CBC_SHA256;
            c->suite = "ECDHE-PSK-AES128-CBC-SHA256";
            break;
        default:
            cc.min_version = 0x0304;
            cc.suites = M2MSEC_ASSOC_TLS13_AES128_GCM_SHA256;
            c->suite = "TLS_AES_128_GCM_SHA256";
            break;
        }
        sc = cc;
        sc.role = M2MSEC_ASSOC_SERVER;
        sc.server_name = NULL;
        sc.identity = NULL;
        sc.psk_cb = NULL;
        sc.keytable = c->kt;
        sc.suites = 0;
        sc.forward_secrecy = 0;
        sc.min_version = 0;
        c->ca = m2msec_association_new(&cc);
        c->sa = m2msec_association_new(&sc);
        c->cctx = c->ca == NULL ? NULL : m2msec_association_ssl_ctx_new(c->ca);
        c->sctx = c->sa == NULL ? NULL : m2msec_association_ssl_ctx_new(c->sa);
        return c->cctx != NULL && c->sctx != NULL;
    }
}

static void teardown(contender *c)
{
    SSL_CTX_free(c->cctx);
    SSL_CTX_free(c->sctx);
    m2msec_association_free(c->ca);
    m2msec_association_free(c->sa);
    m2msec_association_keytable_free(c->kt);
}

/* ---------------------------------------------------------------- one handshake */

static int udp_pair(int fd[2])
{
    struct sockaddr_in sa[2];
    socklen_t len = sizeof(sa[0]);

    for (int i = 0; i < 2; i++) {
        memset(&sa[i], 0, sizeof(sa[i]));
        sa[i].sin_family = AF_INET;
        sa[i].sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        fd[i] = socket(AF_INET, SOCK_DGRAM, 0);
        if (fd[i] < 0 || bind(fd[i], (struct sockaddr *)&sa[i], sizeof(sa[i])) != 0 ||
            getsockname(fd[i], (struct sockaddr *)&sa[i], &len) != 0)
            return 0;
        fcntl(fd[i], F_SETFL, O_NONBLOCK);
    }
    return connect(fd[0], (struct sockaddr *)&sa[1], sizeof(sa[1])) == 0 &&
           connect(fd[1], (struct sockaddr *)&sa[0], sizeof(sa[0])) == 0;
}

static BIO *dgram_bio(int fd)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);
    BIO *b = BIO_new_dgram(fd, BIO_NOCLOSE);
    BIO_ADDR *peer = BIO_ADDR_new();

    getpeername(fd, (struct sockaddr *)&sa, &len);
    BIO_ADDR_rawmake(peer, AF_INET, &sa.sin_addr, sizeof(sa.sin_addr), sa.sin_port);
    BIO_ctrl(b, BIO_CTRL_DGRAM_SET_CONNECTED, 0, peer);
    BIO_ADDR_free(peer);
    return b;
}

typedef struct {
    SSL *c, *s;
    int fd[2];
} conn;

static int conn_open(const contender *k, conn *x)
{
    x->c = SSL_new(k->cctx);
    x->s = SSL_new(k->sctx);
    x->fd[0] = x->fd[1] = -1;
    if (x->c == NULL || x->s == NULL)
        return 0;
    if (k->dtls) {
        BIO *cb, *sb;

        if (!udp_pair(x->fd))
            return 0;
        cb = dgram_bio(x->fd[0]);
        sb = dgram_bio(x->fd[1]);
        SSL_set_bio(x->c, cb, cb);
        SSL_set_bio(x->s, sb, sb);
    } else {
        BIO *cb = NULL, *sb = NULL;

        if (!BIO_new_bio_pair(&cb, 0, &sb, 0))
            return 0;
        SSL_set_bio(x->c, cb, cb);
        SSL_set_bio(x->s, sb, sb);
    }
    if (k->kind == K_ECDSA)
        SSL_set_tlsext_host_name(x->c, "gw.example");
    SSL_set_connect_state(x->c);
    SSL_set_accept_state(x->s);
    return 1;
}

static void conn_close(conn *x)
{
    SSL_free(x->c);
    SSL_free(x->s);
    if (x->fd[0] >= 0)
        close(x->fd[0]);
    if (x->fd[1] >= 0)
        close(x->fd[1]);
}

/*
 * Both ends to completion. *server_s: time in the server's calls; *bytes:
 * bytes written by both; *flights: how many times the writer changed.
 */
static int handshake(conn *x, double *server_s, double *bytes, int *flights)
{
    int cdone = 0, sdone = 0, last = -1;
    uint64_t cw = 0, sw = 0;

    *flights = 0;
    for (int i = 0; i < 10000 && !(cdone && sdone); i++) {
        uint64_t w;
        int r;

        if (!cdone) {
            r = SSL_do_handshake(x->c);
            if (r == 1)
                cdone = 1;
            else if (SSL_get_error(x->c, r) != SSL_ERROR_WANT_READ)
                return 0;
            w = BIO_number_written(SSL_get_wbio(x->c));
            if (w > cw) {
                if (last != 0)
                    (*flights)++;
                last = 0;
                cw = w;
            }
        }
        if (!sdone) {
            double t0 = now_s();

            r = SSL_do_handshake(x->s);
            *server_s += now_s() - t0;
            if (r == 1)
                sdone = 1;
            else if (SSL_get_error(x->s, r) != SSL_ERROR_WANT_READ)
                return 0;
            w = BIO_number_written(SSL_get_wbio(x->s));
            if (w > sw) {
                if (last != 1)
                    (*flights)++;
                last = 1;
                sw = w;
            }
        }
    }
    *bytes = (double)(cw + sw);
    return cdone && sdone;
}

/* Handshakes for about @p secs; rate of both ends, rate of the server's share. */
static int run(contender *k, double secs)
{
    double t0 = now_s(), server = 0, bytes = 0;
    int n = 0, flights = 0;

    while (now_s() - t0 < secs || n < 3) {
        conn x;

        if (!conn_open(k, &x) || !handshake(&x, &server, &bytes, &flights)) {
            fprintf(stderr, "%s: handshake failed\n", k->label);
            ERR_print_errors_fp(stderr);
            conn_close(&x);
            return 0;
        }
        if (strcmp(SSL_get_cipher_name(x.c), k->suite) != 0) {
            fprintf(stderr, "%s: negotiated %s, not %s\n", k->label, SSL_get_cipher_name(x.c),
                    k->suite);
            conn_close(&x);
            return 0;
        }
        conn_close(&x);
        n++;
    }
    {
        double rate = n / (now_s() - t0), srate = n / server;

        if (rate > k->best_rate)
            k->best_rate = rate;
        if (srate > k->best_server_rate)
            k->best_server_rate = srate;
        k->bytes = bytes;
        k->flights = flights;
    }
    return 1;
}

/* Bytes still allocated per established server SSL (the client SSLs freed). */
static double memory_per_association(contender *k, int n)
{
    conn *xs = calloc((size_t)n, sizeof(*xs));
    size_t before, after;
    double server = 0, bytes = 0;
    int flights = 0;

    before = live_bytes;
    for (int i = 0; i < n; i++)
        if (!conn_open(k, &xs[i]) || !handshake(&xs[i], &server, &bytes, &flights))
            return -1;
    for (int i = 0; i < n; i++) {
        SSL_free(xs[i].c);
        xs[i].c = NULL;
    }
    after = live_bytes;
    for (int i = 0; i < n; i++)
        conn_close(&xs[i]);
    free(xs);
    return ((double)after - (double)before) / n;
}

/* ---------------------------------------------------------------- restart of N devices */

static int dcmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

/*
 * N devices restart at t = 0 and reconnect after their delay (0, or the
 * jitter); the gateway serves them one after the other in arrival order
 * (one core), each a full DTLS handshake on loopback with the cookie
 * exchange. Prints the time until all are re-established and the waiting
 * times (arrival to established).
 */
static int restart(contender *k, int n, uint64_t spread)
{
    double *arrive = malloc(sizeof(double) * (size_t)n), *wait = malloc(sizeof(double) * (size_t)n);
    double t0, server = 0, bytes = 0, total;
    int flights = 0;

    for (int i = 0; i < n; i++)
        arrive[i] = (double)m2msec_association_jitter_ms(0, spread) / 1000.0;
    qsort(arrive, (size_t)n, sizeof(double), dcmp);
    t0 = now_s();
    for (int i = 0; i < n; i++) {
        conn x;
        double at = t0 + arrive[i], now = now_s();

        if (now < at) {
            struct timespec ts = {(time_t)(at - now),
                                  (long)((at - now - (double)(time_t)(at - now)) * 1e9)};

            nanosleep(&ts, NULL);
        }
        if (!conn_open(k, &x) || !handshake(&x, &server, &bytes, &flights)) {
            conn_close(&x);
            free(arrive);
            free(wait);
            return 0;
        }
        conn_close(&x);
        wait[i] = now_s() - at;
    }
    total = now_s() - t0;
    qsort(wait, (size_t)n, sizeof(double), dcmp);
    printf("  %-22s all %d re-established after %6.2f s; wait per device: median %7.1f ms, "
           "p99 %7.1f ms, max %7.1f ms\n",
           spread == 0 ? "no jitter" : "jitter 0..", n, total, 1000 * wait[n / 2],
           1000 * wait[(size_t)n * 99 / 100], 1000 * wait[n - 1]);
    free(arrive);
    free(wait);
    return 1;
}

int main(int argc, char **argv)
{
    double secs = 0.5;
    int rounds = 3, devices = 1000, opt;
    uint64_t spread = 2000;
    contender ks[] = {
        {"TLS 1.2 PSK", 0, K_PSK, .best_rate = 0},
        {"TLS 1.2 ECDHE-PSK", 0, K_ECDHE_PSK, .best_rate = 0},
        {"TLS 1.3 PSK-DHE", 0, K_TLS13, .best_rate = 0},
        {"TLS 1.2 ECDHE-ECDSA", 0, K_ECDSA, .best_rate = 0},
        {"DTLS 1.2 PSK", 1, K_PSK, .best_rate = 0},
        {"DTLS 1.2 ECDHE-PSK", 1, K_ECDHE_PSK, .best_rate = 0},
        {"DTLS 1.2 ECDHE-ECDSA", 1, K_ECDSA, .best_rate = 0},
    };
    size_t nk = sizeof(ks) / sizeof(ks[0]);

    CRYPTO_set_mem_functions(count_malloc, count_realloc, count_free);
    while ((opt = getopt(argc, argv, "t:r:n:j:")) != -1) {
        switch (opt) {
        case 't':
            secs = atof(optarg);
            break;
        case 'r':
            rounds = atoi(optarg);
            break;
        case 'n':
            devices = atoi(optarg);
            break;
        case 'j':
            spread = strtoull(optarg, NULL, 10);
            break;
        default:
            fprintf(stderr, "usage: %s [-t SECONDS] [-r ROUNDS] [-n DEVICES] [-j SPREAD_MS]\n",
                    argv[0]);
            return 2;
        }
    }
    if (secs <= 0 || rounds < 1 || devices < 1) {
        fprintf(stderr, "association_bench: bad option value\n");
        return 2;
    }
    make_cert();
    for (size_t i = 0; i < nk; i++)
        if (!setup(&ks[i])) {
            fprintf(stderr, "association_bench: cannot set up %s\n", ks[i].label);
            ERR_print_errors_fp(stderr);
            return 1;
        }
    printf("association_bench: %s, %d rounds of %.2f s, best round kept\n",
           OpenSSL_version(OPENSSL_VERSION), rounds, secs);
    for (int r = 0; r < rounds; r++)
        for (size_t i = 0; i < nk; i++)
            if (!run(&ks[i], secs))
                return 1;
    printf("\n1. handshakes (in one process, one core; DTLS over loopback UDP with the cookie "
           "exchange)\n");
    printf("  %-22s %-30s %10s %12s %8s %8s %10s\n", "", "suite", "hs/s both", "hs/s gateway",
           "bytes", "flights", "vs ECDSA");
    for (size_t i = 0; i < nk; i++) {
        const contender *ref = &ks[ks[i].dtls ? 6 : 3];

        printf("  %-22s %-30s %10.0f %12.0f %8.0f %8.0f %9.2fx\n", ks[i].label, ks[i].suite,
               ks[i].best_rate, ks[i].best_server_rate, ks[i].bytes, ks[i].flights,
               ks[i].best_server_rate / ref->best_server_rate);
    }
    printf("  (flights: messages in one direction before the other answers; round trips = "
           "flights / 2, rounded up)\n");
    printf("\n2. memory per association on the gateway (established server SSL, %s)\n",
           "100 associations");
    for (size_t i = 0; i < nk; i++) {
        double m = memory_per_association(&ks[i], 100);

        if (m < 0)
            return 1;
        printf("  %-22s %8.0f bytes\n", ks[i].label, m);
    }
    printf("\n3. restart of %d devices at once (DTLS 1.2 ECDHE-PSK-AES128-CBC-SHA256; one "
           "gateway core)\n",
           devices);
    if (!restart(&ks[5], devices, 0) || !restart(&ks[5], devices, spread))
        return 1;
    printf("  (jitter: m2msec_association_jitter_ms(0, %llu))\n", (unsigned long long)spread);
    (void)kind_names;
    for (size_t i = 0; i < nk; i++)
        teardown(&ks[i]);
    X509_free(cert);
    EVP_PKEY_free(cert_key);
    return 0;
}
