/* SPDX-License-Identifier: Apache-2.0 */
/* Shared helpers of the association examples (association_common.h). */
#define _DEFAULT_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/err.h>

#include "association_common.h"
#include "common.h"

const char ax_help[] =
    "  --transport tls|dtls   TLS 1.2/1.3 over TCP or DTLS 1.2 over UDP (default dtls)\n"
    "  --fs preferred|required|off   forward secrecy (default preferred)\n"
    "  --suites LIST          OpenSSL suite names, comma-separated (default: the profile)\n"
    "  --min-version 1.2|1.3  lowest protocol version (default 1.2)\n"
    "  --policy FILE          [association], and require_integrity with its gate, from the\n"
    "                         device policy file\n"
    "  --max-records N --max-bytes N --max-lifetime S   re-establishment limits\n"
    "  --timeout-ms MS        every wait (default 5000)\n"
    "  --export               print KcID and Kc exported with EXPORTER-oneM2M-Connection\n"
    "  --coap                 DTLS: exchange one CoAP GET / 2.05 Content\n";

static const char *const suite_names[] = {
    "PSK-AES128-CBC-SHA256",       "PSK-AES128-CCM8",
    "PSK-AES128-GCM-SHA256",       "PSK-AES128-CCM",
    "ECDHE-PSK-AES128-CBC-SHA256", "ECDHE-PSK-CHACHA20-POLY1305",
    "TLS_AES_128_GCM_SHA256",      "TLS_CHACHA20_POLY1305_SHA256",
};

static unsigned parse_suites(const char *prog, const char *v)
{
    unsigned m = 0;
    char *copy = strdup(v), *save = NULL;

    if (copy == NULL)
        ex_usage_error(prog, "out of memory");
    for (char *t = strtok_r(copy, ", ", &save); t != NULL; t = strtok_r(NULL, ", ", &save)) {
        size_t i;

        for (i = 0; i < sizeof(suite_names) / sizeof(suite_names[0]); i++)
            if (strcmp(t, suite_names[i]) == 0)
                break;
        if (i == sizeof(suite_names) / sizeof(suite_names[0])) {
            free(copy);
            ex_usage_error(prog, "--suites: '%s' is not a suite of the profile", t);
        }
        m |= 1u << i;
    }
    free(copy);
    return m;
}

int ax_opt(const char *prog, ax_opts *o, int argc, char **argv, int *i)
{
    const char *v;

    if (ex_opt(prog, argc, argv, i, "--transport", &v)) {
        if (strcmp(v, "tls") == 0)
            o->cfg.transport = M2MSEC_ASSOC_TLS;
        else if (strcmp(v, "dtls") == 0)
            o->cfg.transport = M2MSEC_ASSOC_DTLS;
        else
            ex_usage_error(prog, "--transport is tls or dtls");
    } else if (ex_opt(prog, argc, argv, i, "--fs", &v)) {
        if (strcmp(v, "preferred") == 0)
            o->cfg.forward_secrecy = M2MSEC_ASSOC_FS_PREFERRED;
        else if (strcmp(v, "required") == 0)
            o->cfg.forward_secrecy = M2MSEC_ASSOC_FS_REQUIRED;
        else if (strcmp(v, "off") == 0)
            o->cfg.forward_secrecy = M2MSEC_ASSOC_FS_OFF;
        else
            ex_usage_error(prog, "--fs is preferred, required or off");
    } else if (ex_opt(prog, argc, argv, i, "--suites", &v)) {
        o->cfg.suites = parse_suites(prog, v);
    } else if (ex_opt(prog, argc, argv, i, "--min-version", &v)) {
        if (strcmp(v, "1.2") == 0)
            o->cfg.min_version = 0x0303;
        else if (strcmp(v, "1.3") == 0)
            o->cfg.min_version = 0x0304;
        else
            ex_usage_error(prog, "--min-version is 1.2 or 1.3");
    } else if (ex_opt(prog, argc, argv, i, "--policy", &v)) {
        o->policy = v;
    } else if (ex_opt(prog, argc, argv, i, "--max-records", &v)) {
        o->cfg.max_records = ex_u64(prog, "--max-records", v, 1, UINT64_MAX);
    } else if (ex_opt(prog, argc, argv, i, "--max-bytes", &v)) {
        o->cfg.max_bytes = ex_u64(prog, "--max-bytes", v, 1, UINT64_MAX);
    } else if (ex_opt(prog, argc, argv, i, "--max-lifetime", &v)) {
        o->cfg.max_lifetime = ex_u64(prog, "--max-lifetime", v, 1, UINT64_MAX);
    } else if (ex_opt(prog, argc, argv, i, "--timeout-ms", &v)) {
        o->timeout_ms = ex_u64(prog, "--timeout-ms", v, 1, 3600000);
    } else if (strcmp(argv[*i], "--export") == 0) {
        o->do_export = 1;
    } else if (strcmp(argv[*i], "--coap") == 0) {
        o->coap = 1;
    } else {
        return 0;
    }
    return 1;
}

void ax_print_errors(const char *prog, const char *what)
{
    const char *data = NULL;
    int flags = 0, first = 1;
    unsigned long e;

    fprintf(stderr, "%s: %s", prog, what);
    while ((e = ERR_get_error_all(NULL, NULL, NULL, &data, &flags)) != 0) {
        const char *r = ERR_reason_error_string(e);
        int hasdata = (flags & ERR_TXT_STRING) != 0 && data != NULL && data[0] != '\0';

        fprintf(stderr, "%s", first ? ": " : "; ");
        first = 0;
        if (ERR_GET_LIB(e) == ERR_LIB_USER && hasdata)
            fprintf(stderr, "[reason %d] %s", ERR_GET_REASON(e), data);
        else
            fprintf(stderr, "%s%s%s", r != NULL ? r : "error", hasdata ? " " : "",
                    hasdata ? data : "");
    }
    fprintf(stderr, "\n");
}

static void hex(const unsigned char *b, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", b[i]);
}

int ax_report(const char *prog, SSL *ssl, const char *identity, int do_export)
{
    printf("association identity=%s suite=%s version=%s\n", identity, SSL_get_cipher_name(ssl),
           SSL_get_version(ssl));
    if (do_export) {
        unsigned char kc[M2MSEC_ASSOC_EXPORT_KEY_LEN], id[M2MSEC_ASSOC_EXPORT_ID_LEN];
        char hk[2 * sizeof(kc) + 1], hi[2 * sizeof(id) + 1];

        if (!m2msec_association_export(ssl, M2MSEC_ASSOC_EXPORT_CONNECTION, kc, id)) {
            ax_print_errors(prog, "export");
            return 0;
        }
        hex(kc, sizeof(kc), hk);
        hex(id, sizeof(id), hi);
        /* an example prints Kc to show the export; a real device never prints a key */
        printf("export KcID=%s Kc=%s\n", hi, hk);
        OPENSSL_cleanse(kc, sizeof(kc));
        OPENSSL_cleanse(hk, sizeof(hk));
    }
    fflush(stdout);
    return 1;
}

uint64_t ax_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int ax_wait(int fd, int for_write, uint64_t ms)
{
    struct pollfd p;
    int r;

    p.fd = fd;
    p.events = for_write ? POLLOUT : POLLIN;
    p.revents = 0;
    do
        r = poll(&p, 1, (int)ms);
    while (r < 0 && errno == EINTR && !ex_stop);
    return r < 0 ? -1 : r;
}

/* One step of an SSL call that returned r: 1 retry, 0 stop. */
static int retry(SSL *ssl, int fd, int r, uint64_t deadline)
{
    int e = SSL_get_error(ssl, r);
    uint64_t now = ax_now_ms();

    if ((e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) || now >= deadline || ex_stop)
        return 0;
    if (SSL_is_dtls(ssl) && e == SSL_ERROR_WANT_READ) {
        struct timeval tv;
        uint64_t wait = deadline - now;

        /* DTLS: retransmission timer */
        if (DTLSv1_get_timeout(ssl, &tv) && (uint64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000 < wait)
            wait = (uint64_t)tv.tv_sec * 1000 + (uint64_t)tv.tv_usec / 1000 + 1;
        if (ax_wait(fd, 0, wait) == 0)
            DTLSv1_handle_timeout(ssl);
        return 1;
    }
    return ax_wait(fd, e == SSL_ERROR_WANT_WRITE, deadline - now) >= 0;
}

int ax_handshake(SSL *ssl, int fd, int server, uint64_t ms)
{
    uint64_t deadline = ax_now_ms() + ms;
    int r;

    for (;;) {
        r = server ? SSL_accept(ssl) : SSL_connect(ssl);
        if (r == 1)
            return 1;
        if (!retry(ssl, fd, r, deadline))
            return 0;
    }
}

int ax_read(SSL *ssl, int fd, void *buf, int cap, uint64_t ms)
{
    uint64_t deadline = ax_now_ms() + ms;

    for (;;) {
        int r = SSL_read(ssl, buf, cap);

        if (r > 0)
            return r;
        if (SSL_get_error(ssl, r) == SSL_ERROR_ZERO_RETURN)
            return 0;
        if (!retry(ssl, fd, r, deadline))
            return -1;
    }
}

int ax_write(SSL *ssl, int fd, const void *buf, int len, uint64_t ms)
{
    uint64_t deadline = ax_now_ms() + ms;

    for (;;) {
        int r = SSL_write(ssl, buf, len);

        if (r == len)
            return 1;
        if (!retry(ssl, fd, r, deadline))
            return 0;
    }
}
