/* SPDX-License-Identifier: Apache-2.0 */
/*
 * association_gateway: a gateway (CSE) end of oneM2M security associations
 * over (D)TLS-PSK (m2msec/association.h). It serves associations one
 * after the other on 127.0.0.1, looks device keys up in a key table,
 * prints each association (and, with --export, the exported KcID/Kc), and
 * answers each record the device sends with "ack TEXT" (with --coap, a
 * CoAP GET with 2.05 Content). A refused or failed handshake is printed
 * with its reason and the gateway goes on serving.
 *
 *   association_gateway --keytable FILE [--port N] [--port-file F] [--serve N] ...
 *
 * Output (stdout, one line each): "listening PORT", then per association
 * "association identity=ID suite=S version=V", "export KcID=HEX Kc=HEX",
 * "reading ID: TEXT", "re-establish: WHY", or "refused: ..." on stderr.
 */
#define _DEFAULT_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "association_common.h"
#include "common.h"

static const char *prog = "association_gateway";

/* --reload: the key table file, and what it was when last read. */
static struct {
    int on;
    m2msec_association *a;
    const char *path;
    struct stat seen;
} rl;
static void reload(void);

static void usage(void)
{
    printf("usage: %s --keytable FILE [options]\n"
           "  --keytable FILE        identity -> key, not-after (docs/PROTOCOL.md 10.3)\n"
           "  --name NAME            accept only this SNI name (default: any, SNI required)\n"
           "  --port N               port on 127.0.0.1 (default 0: a free one)\n"
           "  --port-file FILE       write the port there once listening\n"
           "  --serve N              handshakes to serve, refused ones included (default 1; 0 "
           "until a signal)\n"
           "  --reload               re-read the key table before a handshake when the file "
           "changed\n"
           "%s",
           prog, ax_help);
}

static int listen_socket(int dtls, uint16_t port, uint16_t *bound)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);
    int one = 1, fd = socket(AF_INET, dtls ? SOCK_DGRAM : SOCK_STREAM, 0);

    if (fd < 0)
        return -1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = htons(port);
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || (!dtls && listen(fd, 64) != 0) ||
        getsockname(fd, (struct sockaddr *)&sa, &len) != 0 ||
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) != 0) {
        fprintf(stderr, "%s: cannot listen on 127.0.0.1:%u: %s\n", prog, port, strerror(errno));
        close(fd);
        return -1;
    }
    *bound = ntohs(sa.sin_port);
    if (dtls && port == 0) {
        /*
         * A UDP socket whose port the kernel chose loses it when a connect()
         * is dissolved (AF_UNSPEC) between two associations: bind the chosen
         * port explicitly.
         */
        close(fd);
        return listen_socket(dtls, *bound, bound);
    }
    return fd;
}

/* A CoAP request (RFC 7252) -> 2.05 Content "m2msec gateway"; 0 if it is not a request. */
static size_t coap_answer(const unsigned char *in, size_t n, unsigned char *out, size_t cap)
{
    static const char payload[] = "m2msec gateway";
    size_t tkl, o = 0;

    if (n < 4 || (in[0] >> 6) != 1 || (tkl = in[0] & 0x0f) > 8 || n < 4 + tkl || in[1] == 0 ||
        (in[1] >> 5) != 0 || ((in[0] >> 4) & 3) > 1 || cap < 5 + tkl + sizeof(payload))
        return 0;
    out[o++] = (unsigned char)(0x40 | (((in[0] >> 4) & 3) == 0 ? 0x20 : 0x10) | tkl);
    out[o++] = 0x45; /* 2.05 Content */
    out[o++] = in[2];
    out[o++] = in[3];
    memcpy(out + o, in + 4, tkl);
    o += tkl;
    out[o++] = 0xff;
    memcpy(out + o, payload, sizeof(payload) - 1);
    return o + sizeof(payload) - 1;
}

/* Serve one established association until the peer closes, a limit runs out, or a timeout. */
static void serve(SSL *ssl, int fd, const ax_opts *o)
{
    unsigned char buf[2048], out[2048 + 8];
    const char *id = m2msec_association_identity(ssl);
    int n;

    if (!ax_report(prog, ssl, id != NULL ? id : "?", o->do_export))
        return;
    while ((n = ax_read(ssl, fd, buf, sizeof(buf) - 1, o->timeout_ms)) > 0) {
        if (o->coap) {
            size_t m = coap_answer(buf, (size_t)n, out, sizeof(out));

            printf("coap request from %s: %d bytes%s\n", id, n, m == 0 ? " (not a request)" : "");
            fflush(stdout);
            if (m > 0 && !ax_write(ssl, fd, out, (int)m, o->timeout_ms))
                break;
        } else {
            while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
                n--;
            for (int i = 0; i < n; i++)
                if (buf[i] < 0x20 || buf[i] >= 0x7f)
                    buf[i] = '?';
            buf[n] = '\0';
            printf("reading %s: %s\n", id, (char *)buf);
            fflush(stdout);
            n = snprintf((char *)out, sizeof(out), "ack %s\n", (char *)buf);
            if (!ax_write(ssl, fd, out, n, o->timeout_ms))
                break;
        }
        if (!m2msec_association_check(ssl)) {
            ax_print_errors(prog, "re-establish");
            printf("re-establish: %s\n", id);
            fflush(stdout);
            break;
        }
    }
    (void)SSL_shutdown(ssl);
}

static int one_tls(SSL_CTX *ctx, int lfd, const ax_opts *o)
{
    int fd = -1, ok = 0;
    SSL *ssl = NULL;

    while (!ex_stop && fd < 0) {
        if (ax_wait(lfd, 0, 1000) < 0)
            return 0;
        fd = accept(lfd, NULL, NULL);
    }
    if (fd < 0)
        return 0;
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    reload();
    ssl = SSL_new(ctx);
    if (ssl == NULL || !SSL_set_fd(ssl, fd)) {
        ax_print_errors(prog, "SSL_new");
    } else if (!ax_handshake(ssl, fd, 1, o->timeout_ms)) {
        ax_print_errors(prog, "refused");
        printf("refused: reason %d\n", m2msec_association_refusal(ssl));
        fflush(stdout);
        ok = 1;
    } else {
        serve(ssl, fd, o);
        ok = 1;
    }
    ERR_clear_error();
    SSL_free(ssl);
    close(fd);
    return ok;
}

static int one_dtls(SSL_CTX *ctx, int fd, const ax_opts *o)
{
    SSL *ssl = SSL_new(ctx);
    BIO *bio = BIO_new_dgram(fd, BIO_NOCLOSE);
    BIO_ADDR *peer = BIO_ADDR_new();
    struct sockaddr_in sa;
    struct sockaddr unspec;
    int r = 0, ok = 0;

    if (ssl == NULL || bio == NULL || peer == NULL) {
        ax_print_errors(prog, "SSL_new");
        BIO_free(bio);
        goto end;
    }
    SSL_set_bio(ssl, bio, bio);
    /* stateless until a ClientHello comes back with our cookie (RFC 6347 4.2.1) */
    while (!ex_stop && (r = DTLSv1_listen(ssl, peer)) <= 0) {
        if (r < 0 && ERR_peek_error() != 0)
            ax_print_errors(prog, "DTLSv1_listen (datagram dropped)");
        ERR_clear_error();
        if (ax_wait(fd, 0, 1000) < 0)
            goto end;
    }
    if (r <= 0)
        goto end;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = BIO_ADDR_rawport(peer);
    {
        size_t alen = sizeof(sa.sin_addr);

        BIO_ADDR_rawaddress(peer, &sa.sin_addr, &alen);
    }
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        fprintf(stderr, "%s: connect: %s\n", prog, strerror(errno));
        goto end;
    }
    BIO_ctrl(bio, BIO_CTRL_DGRAM_SET_CONNECTED, 0, peer);
    reload();
    if (!ax_handshake(ssl, fd, 1, o->timeout_ms)) {
        ax_print_errors(prog, "refused");
        printf("refused: reason %d\n", m2msec_association_refusal(ssl));
        fflush(stdout);
    } else {
        serve(ssl, fd, o);
    }
    ok = 1;
    memset(&unspec, 0, sizeof(unspec));
    unspec.sa_family = AF_UNSPEC;
    (void)connect(fd, &unspec, sizeof(unspec));
end:
    ERR_clear_error();
    SSL_free(ssl);
    BIO_ADDR_free(peer);
    return ok;
}

/*
 * --reload: a changed key table (new inode, size or mtime) replaces the old
 * one, checked once a client is there (after accept / DTLSv1_listen).
 */
static void reload(void)
{
    struct stat st, *seen = &rl.seen;
    m2msec_association_keytable *kt;

    if (!rl.on || stat(rl.path, &st) != 0 ||
        (st.st_ino == seen->st_ino && st.st_size == seen->st_size &&
         st.st_mtim.tv_sec == seen->st_mtim.tv_sec && st.st_mtim.tv_nsec == seen->st_mtim.tv_nsec))
        return;
    kt = m2msec_association_keytable_load(rl.path);
    if (kt == NULL || !m2msec_association_set_keytable(rl.a, kt)) {
        ax_print_errors(prog, "key table not reloaded, the old one stays");
    } else {
        printf("key table reloaded: %zu keys\n", m2msec_association_keytable_count(kt));
        fflush(stdout);
        *seen = st;
    }
    m2msec_association_keytable_free(kt);
}

int main(int argc, char **argv)
{
    ax_opts o;
    const char *keytable = NULL, *port_file = NULL, *v;
    uint64_t port = 0, count = 1;
    uint16_t bound = 0;
    m2msec_association *a = NULL;
    m2msec_association_keytable *kt = NULL;
    SSL_CTX *ctx = NULL;
    int fd = -1, rc = EX_FAIL;

    memset(&o, 0, sizeof(o));
    o.cfg.role = M2MSEC_ASSOC_SERVER;
    o.cfg.transport = M2MSEC_ASSOC_DTLS;
    o.timeout_ms = 5000;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0) {
            usage();
            return EX_OK;
        } else if (ex_opt(prog, argc, argv, &i, "--keytable", &keytable)) {
        } else if (ex_opt(prog, argc, argv, &i, "--name", &o.cfg.server_name)) {
        } else if (ex_opt(prog, argc, argv, &i, "--port", &v)) {
            port = ex_u64(prog, "--port", v, 0, 65535);
        } else if (ex_opt(prog, argc, argv, &i, "--port-file", &port_file)) {
        } else if (strcmp(argv[i], "--reload") == 0) {
            rl.on = 1;
        } else if (ex_opt(prog, argc, argv, &i, "--serve", &v)) {
            count = ex_u64(prog, "--serve", v, 0, 1000000);
        } else if (!ax_opt(prog, &o, argc, argv, &i)) {
            ex_usage_error(prog, "unknown option '%s'", argv[i]);
        }
    }
    if (keytable == NULL)
        ex_usage_error(prog, "--keytable is required");
    ex_catch_signals();
    signal(SIGPIPE, SIG_IGN); /* a peer that closes is an error return, not a signal */
    if (o.policy != NULL && !m2msec_association_config_from_policy(&o.cfg, o.policy)) {
        ax_print_errors(prog, "policy");
        goto end;
    }
    if (stat(keytable, &rl.seen) != 0)
        memset(&rl.seen, 0, sizeof(rl.seen));
    rl.path = keytable;
    kt = m2msec_association_keytable_load(keytable);
    if (kt == NULL) {
        ax_print_errors(prog, "key table");
        goto end;
    }
    o.cfg.keytable = kt;
    a = m2msec_association_new(&o.cfg);
    if (a == NULL || (ctx = m2msec_association_ssl_ctx_new(a)) == NULL) {
        ax_print_errors(prog, "association");
        goto end;
    }
    rl.a = a;
    fd = listen_socket(o.cfg.transport == M2MSEC_ASSOC_DTLS, (uint16_t)port, &bound);
    if (fd < 0)
        goto end;
    if (port_file != NULL && !ex_write_port_file(prog, port_file, bound))
        goto end;
    printf("listening %u\n", bound);
    fflush(stdout);
    for (uint64_t n = 0; !ex_stop && (count == 0 || n < count); n++) {
        int ok;

        ok = o.cfg.transport == M2MSEC_ASSOC_DTLS ? one_dtls(ctx, fd, &o) : one_tls(ctx, fd, &o);

        if (!ok && !ex_stop)
            goto end;
    }
    rc = EX_OK;
end:
    if (fd >= 0)
        close(fd);
    SSL_CTX_free(ctx);
    m2msec_association_free(a);
    m2msec_association_keytable_free(kt);
    return rc;
}
