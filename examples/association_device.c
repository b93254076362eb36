/* SPDX-License-Identifier: Apache-2.0 */
/*
 * association_device: a device (AE) end of a oneM2M security association
 * over (D)TLS-PSK (m2msec/association.h). It connects to 127.0.0.1:PORT
 * with its psk_identity (KpsaID) and key (Kpsa, hex), sends readings and
 * waits for each answer; when m2msec_association_check() says the key
 * lifetime or a record/byte limit has run out, it closes the association,
 * waits m2msec_association_jitter_ms() and establishes a new one.
 *
 *   association_device --port N --name NAME --identity ID --psk HEX [--not-after T] ...
 *
 * Output (stdout): "association identity=ID suite=S version=V", "export
 * KcID=HEX Kc=HEX", "answer: TEXT", "re-establish after MS ms";
 * failures on stderr, exit 1.
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
#include <unistd.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "association_common.h"
#include "common.h"

static const char *prog = "association_device";

typedef struct device_key {
    unsigned char key[M2MSEC_ASSOC_PSK_MAX];
    size_t len;
    uint64_t not_after;
} device_key;

static void usage(void)
{
    printf("usage: %s --port N --name NAME --identity ID --psk HEX [options]\n"
           "  --name NAME            the gateway's SNI name\n"
           "  --identity ID          psk_identity (KpsaID)\n"
           "  --psk HEX              the key (Kpsa), 16..64 bytes as hex\n"
           "  --not-after T          the key's not-after, seconds since 1970 (default none)\n"
           "  --readings N           readings to send (default 3)\n"
           "  --expect ack|echo|none what the gateway answers (default ack)\n"
           "  --jitter-ms MS         spread of the re-establishment delay (default 200)\n"
           "%s",
           prog, ax_help);
}

static int key_cb(void *arg, const char *identity, unsigned char key[M2MSEC_ASSOC_PSK_MAX],
                  size_t *key_len, uint64_t *not_after)
{
    const device_key *k = arg;

    (void)identity;
    memcpy(key, k->key, k->len);
    *key_len = k->len;
    *not_after = k->not_after;
    return 1;
}

static int dial(int dtls, uint16_t port)
{
    struct sockaddr_in sa;
    int fd = socket(AF_INET, dtls ? SOCK_DGRAM : SOCK_STREAM, 0);

    if (fd < 0)
        return -1;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = htons(port);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) != 0) {
        fprintf(stderr, "%s: cannot connect to 127.0.0.1:%u: %s\n", prog, port, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

static SSL *associate(SSL_CTX *ctx, int dtls, uint16_t port, const ax_opts *o, int *fdp)
{
    int fd = dial(dtls, port);
    SSL *ssl;

    *fdp = fd;
    if (fd < 0)
        return NULL;
    ssl = SSL_new(ctx);
    if (ssl == NULL) {
        ax_print_errors(prog, "SSL_new");
        return NULL;
    }
    if (dtls) {
        BIO *bio = BIO_new_dgram(fd, BIO_NOCLOSE);
        BIO_ADDR *peer = BIO_ADDR_new();
        struct sockaddr_in sa;

        memset(&sa, 0, sizeof(sa));
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (bio == NULL || peer == NULL ||
            !BIO_ADDR_rawmake(peer, AF_INET, &sa.sin_addr, sizeof(sa.sin_addr), htons(port))) {
            BIO_free(bio);
            BIO_ADDR_free(peer);
            SSL_free(ssl);
            return NULL;
        }
        BIO_ctrl(bio, BIO_CTRL_DGRAM_SET_CONNECTED, 0, peer);
        BIO_ADDR_free(peer);
        SSL_set_bio(ssl, bio, bio);
    } else if (!SSL_set_fd(ssl, fd)) {
        SSL_free(ssl);
        return NULL;
    }
    if (!ax_handshake(ssl, fd, 0, o->timeout_ms)) {
        ax_print_errors(prog, "association refused");
        fprintf(stderr, "%s: refusal reason %d\n", prog, m2msec_association_refusal(ssl));
        SSL_free(ssl);
        return NULL;
    }
    return ssl;
}

int main(int argc, char **argv)
{
    ax_opts o;
    device_key k;
    const char *psk = NULL, *v, *expect = "ack";
    uint64_t port = 0, readings = 3, jitter = 200;
    m2msec_association *a = NULL;
    SSL_CTX *ctx = NULL;
    SSL *ssl = NULL;
    int fd = -1, rc = EX_FAIL, dtls;

    memset(&o, 0, sizeof(o));
    memset(&k, 0, sizeof(k));
    o.cfg.role = M2MSEC_ASSOC_CLIENT;
    o.cfg.transport = M2MSEC_ASSOC_DTLS;
    o.timeout_ms = 5000;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0) {
            usage();
            return EX_OK;
        } else if (ex_opt(prog, argc, argv, &i, "--name", &o.cfg.server_name)) {
        } else if (ex_opt(prog, argc, argv, &i, "--identity", &o.cfg.identity)) {
        } else if (ex_opt(prog, argc, argv, &i, "--psk", &psk)) {
        } else if (ex_opt(prog, argc, argv, &i, "--not-after", &v)) {
            k.not_after = ex_u64(prog, "--not-after", v, 0, UINT64_MAX);
        } else if (ex_opt(prog, argc, argv, &i, "--port", &v)) {
            port = ex_u64(prog, "--port", v, 1, 65535);
        } else if (ex_opt(prog, argc, argv, &i, "--readings", &v)) {
            readings = ex_u64(prog, "--readings", v, 0, 1000000);
        } else if (ex_opt(prog, argc, argv, &i, "--jitter-ms", &v)) {
            jitter = ex_u64(prog, "--jitter-ms", v, 0, 600000);
        } else if (ex_opt(prog, argc, argv, &i, "--expect", &expect)) {
            if (strcmp(expect, "ack") != 0 && strcmp(expect, "echo") != 0 &&
                strcmp(expect, "none") != 0)
                ex_usage_error(prog, "--expect is ack, echo or none");
        } else if (!ax_opt(prog, &o, argc, argv, &i)) {
            ex_usage_error(prog, "unknown option '%s'", argv[i]);
        }
    }
    if (port == 0 || psk == NULL)
        ex_usage_error(prog, "--port and --psk are required");
    {
        size_t n = strlen(psk);

        if (n % 2 != 0 || n / 2 > sizeof(k.key))
            ex_usage_error(prog, "--psk: an even number of hex digits, at most %zu bytes",
                           sizeof(k.key));
        for (size_t i = 0; i < n; i += 2) {
            int hi = ex_hexval(psk[i]), lo = ex_hexval(psk[i + 1]);

            if (hi < 0 || lo < 0)
                ex_usage_error(prog, "--psk: not hex");
            k.key[i / 2] = (unsigned char)(hi << 4 | lo);
        }
        k.len = n / 2;
    }
    ex_catch_signals();
    signal(SIGPIPE, SIG_IGN); /* a peer that closes is an error return, not a signal */
    o.cfg.psk_cb = key_cb;
    o.cfg.psk_arg = &k;
    if (o.policy != NULL && !m2msec_association_config_from_policy(&o.cfg, o.policy)) {
        ax_print_errors(prog, "policy");
        goto end;
    }
    a = m2msec_association_new(&o.cfg);
    if (a == NULL || (ctx = m2msec_association_ssl_ctx_new(a)) == NULL) {
        ax_print_errors(prog, "association");
        goto end;
    }
    dtls = o.cfg.transport == M2MSEC_ASSOC_DTLS;
    if ((ssl = associate(ctx, dtls, (uint16_t)port, &o, &fd)) == NULL)
        goto end;
    if (!ax_report(prog, ssl, o.cfg.identity, o.do_export))
        goto end;
    if (o.coap) {
        /* CON GET / with a one-byte token (RFC 7252 3) */
        static const unsigned char get[] = {0x41, 0x01, 0x12, 0x34, 0x7a};
        unsigned char buf[2048];
        int n;

        if (!ax_write(ssl, fd, get, sizeof(get), o.timeout_ms) ||
            (n = ax_read(ssl, fd, buf, sizeof(buf) - 1, o.timeout_ms)) < 5) {
            ax_print_errors(prog, "CoAP exchange");
            goto end;
        }
        {
            int code = buf[1], p = 4 + (buf[0] & 0x0f);

            /* skip the options (RFC 7252 3.1): delta/length nibbles, 13 and 14 extended */
            while (p < n && buf[p] != 0xff) {
                int d = buf[p] >> 4, l = buf[p] & 0x0f;

                p++;
                if (d == 15 || l == 15)
                    break;
                p += d == 13 ? 1 : d == 14 ? 2 : 0;
                if (l == 13 && p < n)
                    l = buf[p++] + 13;
                else if (l == 14 && p + 1 < n)
                    l = (buf[p] << 8 | buf[p + 1]) + 269, p += 2;
                p += l;
            }
            buf[n] = '\0';
            printf("coap %d.%02d payload=%s\n", code >> 5, code & 0x1f,
                   p < n ? (char *)buf + p + 1 : "");
        }
        readings = 0;
    }
    for (uint64_t r = 1; r <= readings && !ex_stop; r++) {
        char line[128], answer[2048];
        int n = snprintf(line, sizeof(line), "reading %llu: temperature=%llu.%llu\n",
                         (unsigned long long)r, 20 + (unsigned long long)r % 5,
                         (unsigned long long)r % 10);

        if (!m2msec_association_check(ssl)) {
            uint64_t wait = m2msec_association_jitter_ms(0, jitter);

            ax_print_errors(prog, "limit");
            printf("re-establish after %llu ms\n", (unsigned long long)wait);
            fflush(stdout);
            (void)SSL_shutdown(ssl);
            SSL_free(ssl);
            close(fd);
            ex_sleep_ms(wait);
            if ((ssl = associate(ctx, dtls, (uint16_t)port, &o, &fd)) == NULL)
                goto end;
            if (!ax_report(prog, ssl, o.cfg.identity, o.do_export))
                goto end;
        }
        if (!ax_write(ssl, fd, line, n, o.timeout_ms)) {
            ax_print_errors(prog, "write");
            goto end;
        }
        if (strcmp(expect, "none") == 0)
            continue;
        n = ax_read(ssl, fd, answer, sizeof(answer) - 1, o.timeout_ms);
        if (n <= 0) {
            ax_print_errors(prog, "no answer");
            goto end;
        }
        answer[n] = '\0';
        printf("answer: %s", answer);
        if (n == 0 || answer[n - 1] != '\n')
            printf("\n");
        fflush(stdout);
    }
    (void)SSL_shutdown(ssl);
    rc = EX_OK;
end:
    SSL_free(ssl);
    if (fd >= 0)
        close(fd);
    SSL_CTX_free(ctx);
    m2msec_association_free(a);
    OPENSSL_cleanse(&k, sizeof(k));
    return rc;
}
