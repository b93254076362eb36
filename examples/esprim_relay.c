/* SPDX-License-Identifier: Apache-2.0 */
/*
 * esprim_relay: end-to-end protected primitives through a gateway that
 * cannot read them (oneM2M ESPrim, docs/PROTOCOL.md section 9).
 *
 *   esprim_relay server  --state F [--init-state] --key-file K --kid ID --port-file P
 *                        [--port N] [--rand-lifetime S] [--log L]
 *   esprim_relay gateway --server-port N --port-file P [--capture C] [--tamper N]
 *                        [--tamper-header N] [--replay N] [--delay N:MS]
 *   esprim_relay device  --gateway-port N --key-file K --kid ID [--count N]
 *                        [--interval MS] [--timeout MS] [--log L]
 *
 * Everything runs over UDP on 127.0.0.1. The device (the Originator) sends
 * readings to the server (the Receiver) through the gateway, which has no
 * key: it forwards datagrams both ways and can only drop, delay, replay or
 * alter them. The messages are plain text, after oneM2M's securityInfo
 * types (TS-0004 m2m:securityInfoType):
 *
 *   SI3 <id>             device: please send a receiver RandObject (type 3)
 *   SI4 <id> <json>      server: a receiver RandObject (type 4)
 *   SI5 <id> <jwe>       an ESPrim object (type 5), request or response
 *   ERR <id> <code> <t>  server: refused, with the reason code of
 *                        m2msec/errors.h and its text (a response status)
 *
 * The device recovers by itself: an expired or unknown receiver RandObject
 * (codes 51, 52, also seen locally when sealing) -> a fresh SI3/SI4
 * exchange (also done ahead, one second before the RandObject expires); a closed session or a full
 * budget (57, 58) -> a new originator RandObject, in-band; any other refusal -> the reading is
 * sealed again; no answer -> the same bytes are sent again (a replay the server refuses if the
 * first copy did arrive). The gateway's test modes alter one object (ciphertext or header), replay
 * one after its answer, delay one, and on SIGUSR1 replay every object it forwarded.
 *
 * Logs (one line per event, appended with one write each): server
 * "accepted <sha256 of the JWE> <primitive>" and "refused <code> <text>";
 * device "delivered <n>", "exchange <rand id>", "new-session", "error ..."
 * lines. Exit codes: 0 ok, 1 failure, 2 usage.
 */
#define _DEFAULT_SOURCE /* SIGUSR1 handling with sigaction flags */

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/provider.h>

#include "common.h"
#include "m2msec/errors.h"
#include "m2msec/esprim.h"
#include "m2msec/m2msec.h"

#define PROG "esprim_relay"
#define MAX_DGRAM 8192
#define MAX_PRIMITIVE 512
#define MAX_KEPT 256 /* objects the gateway keeps for SIGUSR1 */

/* ---------------------------------------------------------------- common */

static int log_fd = -1;

#if defined(__GNUC__)
__attribute__((format(printf, 1, 2)))
#endif
static void
logf_line(const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n > sizeof(line) - 2)
        n = (int)sizeof(line) - 2;
    line[n++] = '\n';
    if (log_fd >= 0)
        ex_append_line(PROG, "log", log_fd, line, (size_t)n);
    fwrite(line, 1, (size_t)n, stderr);
}

/* One datagram and its sender's port; -1 timeout or signal, -2 error. */
static long recv_from(int fd, char *buf, size_t cap, uint16_t *port, uint64_t timeout_ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    struct sockaddr_in sa;
    socklen_t sl = sizeof(sa);
    ssize_t n;
    int r = poll(&p, 1, (int)timeout_ms);

    if (r == 0 || (r < 0 && errno == EINTR))
        return -1;
    if (r < 0)
        return -2;
    n = recvfrom(fd, buf, cap - 1, 0, (struct sockaddr *)&sa, &sl);
    if (n < 0)
        return errno == EINTR || errno == EAGAIN ? -1 : -2;
    buf[n] = '\0';
    *port = ntohs(sa.sin_port);
    return (long)n;
}

static int send_text(int fd, uint16_t port, const char *text)
{
    return ex_udp_send(fd, port, (const unsigned char *)text, strlen(text));
}

/* The pairwiseESPrimKey from a hex key file (16..64 bytes). */
static int read_hex_key(const char *path, unsigned char *key, size_t *len)
{
    char buf[260];
    size_t n = 0, k = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t r;

    if (fd < 0) {
        fprintf(stderr, PROG ": cannot open key file %s: %s\n", path, strerror(errno));
        return 0;
    }
    while (n < sizeof(buf) - 1 && (r = read(fd, buf + n, sizeof(buf) - 1 - n)) > 0)
        n += (size_t)r;
    close(fd);
    for (size_t i = 0; i < n; i++) {
        int hi, lo;

        if (buf[i] == ' ' || buf[i] == '\n' || buf[i] == '\r' || buf[i] == '\t')
            continue;
        if (i + 1 >= n || (hi = ex_hexval(buf[i])) < 0 || (lo = ex_hexval(buf[i + 1])) < 0 ||
            k == 64) {
            k = 0;
            break;
        }
        key[k++] = (unsigned char)(hi << 4 | lo);
        i++;
    }
    OPENSSL_cleanse(buf, sizeof(buf));
    if (k < 16) {
        fprintf(stderr, PROG ": key file %s: 16..64 bytes of hex expected\n", path);
        return 0;
    }
    *len = k;
    return 1;
}

typedef struct {
    OSSL_LIB_CTX *libctx;
    OSSL_PROVIDER *prov, *deflt;
} ctx_t;

static int ctx_new(ctx_t *c)
{
    const char *dir = getenv("M2M_MODULES");

    memset(c, 0, sizeof(*c));
    c->libctx = OSSL_LIB_CTX_new();
    if (c->libctx == NULL || (c->prov = m2msec_provider_load(c->libctx, dir, &c->deflt)) == NULL) {
        ERR_print_errors_fp(stderr);
        fprintf(stderr, PROG ": cannot load the m2msec provider\n");
        return 0;
    }
    return 1;
}

static void ctx_free(ctx_t *c)
{
    OSSL_PROVIDER_unload(c->prov);
    OSSL_PROVIDER_unload(c->deflt);
    OSSL_LIB_CTX_free(c->libctx);
}

/* The reason code and detail text of the last error; the queue is cleared. */
static int last_reason(char *text, size_t cap)
{
    const char *data = NULL;
    int flags = 0;
    unsigned long e = ERR_peek_last_error_data(&data, &flags);

    snprintf(text, cap, "%s", data != NULL && (flags & ERR_TXT_STRING) ? data : "error");
    for (char *p = text; *p != '\0'; p++)
        if (*p == '\n')
            *p = ' ';
    ERR_clear_error();
    return e == 0 ? 0 : ERR_GET_REASON(e);
}

/* ---------------------------------------------------------------- server */

static int run_server(int argc, char **argv)
{
    const char *state = NULL, *key_file = NULL, *kid = NULL, *port_file = NULL, *log = NULL, *v;
    uint64_t lifetime = 60, want_port = 0;
    int init = 0, fd, rc = EX_FAIL;
    uint16_t port;
    unsigned char key[64];
    size_t key_len;
    ctx_t c;
    m2msec_esprim *ep = NULL;
    m2msec_esprim_config cfg;

    for (int i = 2; i < argc; i++) {
        if (ex_opt(PROG, argc, argv, &i, "--state", &state) ||
            ex_opt(PROG, argc, argv, &i, "--key-file", &key_file) ||
            ex_opt(PROG, argc, argv, &i, "--kid", &kid) ||
            ex_opt(PROG, argc, argv, &i, "--port-file", &port_file) ||
            ex_opt(PROG, argc, argv, &i, "--log", &log))
            continue;
        if (ex_opt(PROG, argc, argv, &i, "--rand-lifetime", &v)) {
            lifetime = ex_u64(PROG, "--rand-lifetime", v, 1, 86400);
            continue;
        }
        if (ex_opt(PROG, argc, argv, &i, "--port", &v)) {
            want_port = ex_u64(PROG, "--port", v, 1, 65535);
            continue;
        }
        if (strcmp(argv[i], "--init-state") == 0) {
            init = 1;
            continue;
        }
        ex_usage_error(PROG, "server: unknown argument %s", argv[i]);
    }
    if (state == NULL || key_file == NULL || kid == NULL || port_file == NULL)
        ex_usage_error(PROG, "server needs --state, --key-file, --kid and --port-file");
    if (log != NULL && (log_fd = ex_open_log(PROG, log)) < 0)
        return EX_FAIL;
    if (!read_hex_key(key_file, key, &key_len) || !ctx_new(&c))
        return EX_FAIL;
    if (init && !m2msec_esprim_state_init(state, kid)) {
        ERR_print_errors_fp(stderr);
        goto end;
    }
    memset(&cfg, 0, sizeof(cfg));
    cfg.role = M2MSEC_ESPRIM_RECEIVER;
    cfg.libctx = c.libctx;
    cfg.key = key;
    cfg.key_len = key_len;
    cfg.kid = kid;
    cfg.state = state;
    cfg.rand_lifetime = lifetime;
    if ((ep = m2msec_esprim_new(&cfg)) == NULL) {
        ERR_print_errors_fp(stderr);
        goto end;
    }
    if ((fd = ex_udp_bind(PROG, (uint16_t)want_port, &port)) < 0 ||
        !ex_write_port_file(PROG, port_file, port))
        goto end;
    logf_line("server: listening on %u", (unsigned)port);
    ex_catch_signals();
    while (!ex_stop) {
        char in[MAX_DGRAM], reply[MAX_DGRAM], id[32], text[512];
        uint16_t from;
        long n = recv_from(fd, in, sizeof(in), &from, 500);

        if (n == -2)
            break;
        if (n < 0)
            continue;
        if (sscanf(in, "SI3 %31s", id) == 1 && strncmp(in, "SI3 ", 4) == 0) {
            m2msec_esprim_rand *r = m2msec_esprim_rand_new(ep, 0);
            char json[M2MSEC_ESPRIM_RAND_JSON_MAX];
            size_t jl;

            if (r == NULL || !m2msec_esprim_rand_get_json(r, json, sizeof(json), &jl)) {
                int code = last_reason(text, sizeof(text));

                snprintf(reply, sizeof(reply), "ERR %s %d %s", id, code, text);
            } else {
                snprintf(reply, sizeof(reply), "SI4 %s %s", id, json);
                logf_line("issued %s", m2msec_esprim_rand_get_id(r));
            }
            m2msec_esprim_rand_free(r);
            send_text(fd, from, reply);
        } else if (sscanf(in, "SI5 %31s", id) == 1 && strncmp(in, "SI5 ", 4) == 0) {
            const char *jwe = in + 5 + strlen(id);
            unsigned char pt[MAX_DGRAM], md[32];
            char hex[65], ack[64];
            size_t pl, rl;
            m2msec_esprim_info info;

            EVP_Digest(jwe, strlen(jwe), md, NULL, EVP_sha256(), NULL);
            for (int i = 0; i < 32; i++)
                snprintf(hex + 2 * i, 3, "%02x", md[i]);
            if (!m2msec_esprim_open(ep, jwe, strlen(jwe), pt, sizeof(pt) - 1, &pl, &info)) {
                int code = last_reason(text, sizeof(text));

                logf_line("refused %d %s", code, text);
                snprintf(reply, sizeof(reply), "ERR %s %d %s", id, code, text);
                send_text(fd, from, reply);
                continue;
            }
            pt[pl] = '\0';
            logf_line("accepted %s %s", hex, (const char *)pt);
            snprintf(ack, sizeof(ack), "ack %.40s", (const char *)pt);
            memcpy(reply, "SI5 ", 4);
            rl = (size_t)snprintf(reply + 4, 40, "%s ", id) + 4;
            if (!m2msec_esprim_seal_reply(ep, &info, (const unsigned char *)ack, strlen(ack),
                                          reply + rl, sizeof(reply) - rl, &pl)) {
                int code = last_reason(text, sizeof(text));

                snprintf(reply, sizeof(reply), "ERR %s %d %s", id, code, text);
            }
            send_text(fd, from, reply);
        }
    }
    rc = EX_OK;
    logf_line("server: stopped");
end:
    m2msec_esprim_free(ep);
    ctx_free(&c);
    OPENSSL_cleanse(key, sizeof(key));
    return rc;
}

/* ---------------------------------------------------------------- gateway */

static volatile sig_atomic_t replay_all;

static void on_usr1(int sig)
{
    (void)sig;
    replay_all = 1;
}

/* Change one base64url character in the middle of part `which` (0-based) of a JWE. */
static void flip_part(char *jwe, int which)
{
    char *p = jwe;

    for (int i = 0; i < which && p != NULL; i++)
        if ((p = strchr(p, '.')) != NULL)
            p++;
    if (p == NULL || p[0] == '\0' || p[1] == '\0' || p[1] == '.')
        return;
    p[1] = p[1] == 'A' ? 'B' : 'A';
}

/* Re-encode the protected header with one more member ("x":1): only the tag can tell. */
static void tamper_header(char *jwe, size_t cap)
{
    char *dot = strchr(jwe, '.'), json[4096], b64[6000], rest[MAX_DGRAM];
    unsigned char raw[4200];
    int n, m;

    if (dot == NULL || (size_t)(dot - jwe) >= sizeof(b64) - 4)
        return;
    memcpy(b64, jwe, (size_t)(dot - jwe));
    n = (int)(dot - jwe);
    for (int i = 0; i < n; i++)
        b64[i] = b64[i] == '-' ? '+' : b64[i] == '_' ? '/' : b64[i];
    while (n % 4 != 0)
        b64[n++] = '=';
    b64[n] = '\0';
    m = EVP_DecodeBlock(raw, (unsigned char *)b64, n);
    if (m < 0)
        return;
    while (m > 0 && raw[m - 1] != '}') /* EVP_DecodeBlock keeps the padding's zero bytes */
        m--;
    if (m == 0 || (size_t)m + 8 > sizeof(json))
        return;
    memcpy(json, raw, (size_t)m - 1);
    memcpy(json + m - 1, ",\"x\":1}", 8);
    n = EVP_EncodeBlock((unsigned char *)b64, (unsigned char *)json, (int)strlen(json));
    while (n > 0 && b64[n - 1] == '=')
        n--;
    b64[n] = '\0';
    for (int i = 0; i < n; i++)
        b64[i] = b64[i] == '+' ? '-' : b64[i] == '/' ? '_' : b64[i];
    snprintf(rest, sizeof(rest), "%s", dot);
    snprintf(jwe, cap, "%s%s", b64, rest);
}

static int run_gateway(int argc, char **argv)
{
    const char *port_file = NULL, *capture = NULL, *v;
    uint64_t server_port = 0, tamper = 0, tamper_hdr = 0, replay = 0, delay_n = 0, delay_ms = 0;
    uint16_t port, device = 0;
    int fd, cap_fd = -1;
    uint64_t n_si5 = 0;
    char *kept[MAX_KEPT];
    size_t nkept = 0;
    char pending_replay[MAX_DGRAM] = "";
    struct sigaction sa;

    for (int i = 2; i < argc; i++) {
        if (ex_opt(PROG, argc, argv, &i, "--port-file", &port_file) ||
            ex_opt(PROG, argc, argv, &i, "--capture", &capture))
            continue;
        if (ex_opt(PROG, argc, argv, &i, "--server-port", &v)) {
            server_port = ex_u64(PROG, "--server-port", v, 1, 65535);
            continue;
        }
        if (ex_opt(PROG, argc, argv, &i, "--tamper", &v)) {
            tamper = ex_u64(PROG, "--tamper", v, 1, 1000000);
            continue;
        }
        if (ex_opt(PROG, argc, argv, &i, "--tamper-header", &v)) {
            tamper_hdr = ex_u64(PROG, "--tamper-header", v, 1, 1000000);
            continue;
        }
        if (ex_opt(PROG, argc, argv, &i, "--replay", &v)) {
            replay = ex_u64(PROG, "--replay", v, 1, 1000000);
            continue;
        }
        if (ex_opt(PROG, argc, argv, &i, "--delay", &v)) {
            char *colon = strchr(v, ':');

            if (colon == NULL)
                ex_usage_error(PROG, "--delay N:MS");
            *colon = '\0';
            delay_n = ex_u64(PROG, "--delay", v, 1, 1000000);
            delay_ms = ex_u64(PROG, "--delay", colon + 1, 1, 60000);
            continue;
        }
        /* the gateway never gets a key: that is the point */
        ex_usage_error(PROG, "gateway: unknown argument %s (a gateway takes no key)", argv[i]);
    }
    if (port_file == NULL || server_port == 0)
        ex_usage_error(PROG, "gateway needs --server-port and --port-file");
    if (capture != NULL && (cap_fd = ex_open_log(PROG, capture)) < 0)
        return EX_FAIL;
    if ((fd = ex_udp_bind(PROG, 0, &port)) < 0 || !ex_write_port_file(PROG, port_file, port))
        return EX_FAIL;
    ex_catch_signals();
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_usr1;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR1, &sa, NULL);
    fprintf(stderr, PROG ": gateway: listening on %u, server %u\n", (unsigned)port,
            (unsigned)server_port);
    while (!ex_stop) {
        char buf[MAX_DGRAM];
        uint16_t from;
        long n;

        if (replay_all) {
            replay_all = 0;
            for (size_t i = 0; i < nkept; i++)
                send_text(fd, (uint16_t)server_port, kept[i]);
            fprintf(stderr, PROG ": gateway: replayed %zu objects\n", nkept);
        }
        n = recv_from(fd, buf, sizeof(buf), &from, 200);
        if (n == -2)
            break;
        if (n < 0)
            continue;
        if (cap_fd >= 0) {
            char line[MAX_DGRAM + 2];
            size_t l = (size_t)snprintf(line, sizeof(line), "%s\n", buf);

            ex_append_line(PROG, "capture", cap_fd, line, l < sizeof(line) ? l : sizeof(line));
        }
        if (from == server_port) {
            send_text(fd, device, buf);
            if (pending_replay[0] != '\0') {
                /* the object was answered: now send it again */
                send_text(fd, (uint16_t)server_port, pending_replay);
                fprintf(stderr, PROG ": gateway: replayed object %llu\n",
                        (unsigned long long)replay);
                pending_replay[0] = '\0';
            }
            continue;
        }
        device = from;
        if (strncmp(buf, "SI5 ", 4) == 0) {
            n_si5++;
            if (nkept < MAX_KEPT && (kept[nkept] = strdup(buf)) != NULL)
                nkept++;
            if (n_si5 == tamper) {
                flip_part(strchr(buf + 4, ' ') + 1, 3);
                fprintf(stderr, PROG ": gateway: altered the ciphertext of object %llu\n",
                        (unsigned long long)n_si5);
            }
            if (n_si5 == tamper_hdr) {
                char *jwe = strchr(buf + 4, ' ') + 1;

                tamper_header(jwe, sizeof(buf) - (size_t)(jwe - buf));
                fprintf(stderr, PROG ": gateway: altered the header of object %llu\n",
                        (unsigned long long)n_si5);
            }
            if (n_si5 == replay)
                snprintf(pending_replay, sizeof(pending_replay), "%s", buf);
            if (n_si5 == delay_n) {
                fprintf(stderr, PROG ": gateway: holding object %llu for %llu ms\n",
                        (unsigned long long)n_si5, (unsigned long long)delay_ms);
                ex_sleep_ms(delay_ms);
            }
        }
        send_text(fd, (uint16_t)server_port, buf);
    }
    for (size_t i = 0; i < nkept; i++)
        free(kept[i]);
    return EX_OK;
}

/* ---------------------------------------------------------------- device */

typedef struct {
    int fd;
    uint16_t gw;
    uint64_t timeout, next_id;
    m2msec_esprim *ep;
    int exchanges;
    uint64_t rand_expiry; /* of the receiver RandObject in use (seconds since 1970) */
} device_t;

/* Wait for the answer to message id: 1 with it in buf, 0 timeout, -1 error. */
static int await(device_t *d, const char *id, char *buf, size_t cap)
{
    uint64_t end = ex_now_ms() + d->timeout;

    while (!ex_stop) {
        uint64_t now = ex_now_ms();
        uint16_t from;
        char rid[32];
        long n;

        if (now >= end)
            return 0;
        n = recv_from(d->fd, buf, cap, &from, end - now);
        if (n == -2)
            return -1;
        if (n < 0)
            continue;
        if (sscanf(buf + 4, "%31s", rid) == 1 && strcmp(rid, id) == 0)
            return 1;
        logf_line("ignored an answer to an older message (%.60s)", buf);
    }
    return -1;
}

/* securityInfo type 3 -> 4: a fresh receiver RandObject, accepted. */
static int exchange(device_t *d)
{
    for (int attempt = 0; attempt < 5 && !ex_stop; attempt++) {
        char msg[64], buf[MAX_DGRAM], id[32];
        m2msec_esprim_rand *r;
        int got;

        snprintf(id, sizeof(id), "m%llu", (unsigned long long)++d->next_id);
        snprintf(msg, sizeof(msg), "SI3 %s", id);
        send_text(d->fd, d->gw, msg);
        if ((got = await(d, id, buf, sizeof(buf))) < 0)
            return 0;
        if (got == 0 || strncmp(buf, "SI4 ", 4) != 0)
            continue;
        r = m2msec_esprim_rand_parse(buf + 5 + strlen(id), strlen(buf + 5 + strlen(id)),
                                     M2MSEC_ESPRIM_RECEIVER);
        if (r != NULL && m2msec_esprim_accept(d->ep, r)) {
            d->exchanges++;
            d->rand_expiry = m2msec_esprim_rand_get_expiry(r);
            logf_line("exchange %s", m2msec_esprim_rand_get_id(r));
            m2msec_esprim_rand_free(r);
            return 1;
        }
        m2msec_esprim_rand_free(r);
        ERR_print_errors_fp(stderr);
    }
    return 0;
}

/* Send one reading until the server answers it authentically; 1 delivered. */
static int deliver(device_t *d, int k, const char *reading)
{
    unsigned flags = 0;
    int need_rand = 0;

    for (int attempt = 0; attempt < 8 && !ex_stop; attempt++) {
        char msg[MAX_DGRAM], buf[MAX_DGRAM], id[32], text[512];
        unsigned char pt[MAX_DGRAM];
        size_t jl, pl;
        m2msec_esprim_info info;
        int got, code;

        /* renew a RandObject about to expire, so that no object expires on its way */
        if (!need_rand && d->rand_expiry != 0 && (uint64_t)time(NULL) + 1 >= d->rand_expiry) {
            logf_line("renewing the receiver RandObject before it expires");
            need_rand = 1;
        }
        if ((need_rand || d->rand_expiry == 0) && !exchange(d))
            return 0;
        need_rand = 0;
        snprintf(id, sizeof(id), "m%llu", (unsigned long long)++d->next_id);
        jl = (size_t)snprintf(msg, sizeof(msg), "SI5 %s ", id);
        if (!m2msec_esprim_seal(d->ep, flags, (const unsigned char *)reading, strlen(reading),
                                msg + jl, sizeof(msg) - jl, &pl, &info)) {
            code = last_reason(text, sizeof(text));
            logf_line("seal refused %d: %s", code, text);
            if (code == M2MSEC_R_ESPRIM_UNKNOWN_RAND || code == M2MSEC_R_ESPRIM_EXPIRED) {
                need_rand = 1;
                continue;
            }
            return 0;
        }
        if (info.new_session)
            logf_line("new-session %s", info.ori);
        flags = 0;
        for (int resend = 0; resend < 3; resend++) {
            send_text(d->fd, d->gw, msg); /* the same bytes when there is no answer */
            if ((got = await(d, id, buf, sizeof(buf))) != 0)
                break;
            logf_line("no answer to reading %d; sending the same object again", k);
        }
        if (got <= 0)
            return 0;
        if (strncmp(buf, "ERR ", 4) == 0) {
            code = atoi(buf + 5 + strlen(id));
            logf_line("error %d for reading %d: %.200s", code, k, buf);
            if (code == M2MSEC_R_ESPRIM_UNKNOWN_RAND || code == M2MSEC_R_ESPRIM_EXPIRED)
                need_rand = 1;
            else if (code == M2MSEC_R_ESPRIM_CLOSED || code == M2MSEC_R_ESPRIM_LIMIT)
                flags = M2MSEC_ESPRIM_SEAL_NEW_SESSION;
            continue; /* seal again */
        }
        if (strncmp(buf, "SI5 ", 4) == 0 &&
            m2msec_esprim_open(d->ep, buf + 5 + strlen(id), strlen(buf + 5 + strlen(id)), pt,
                               sizeof(pt) - 1, &pl, NULL)) {
            pt[pl] = '\0';
            logf_line("delivered %d (%s)", k, (const char *)pt);
            return 1;
        }
        code = last_reason(text, sizeof(text));
        logf_line("a response did not open (%d: %s); sending again", code, text);
    }
    return 0;
}

static int run_device(int argc, char **argv)
{
    const char *key_file = NULL, *kid = NULL, *log = NULL, *v;
    uint64_t gw = 0, count = 10, interval = 100, timeout = 3000;
    unsigned char key[64];
    size_t key_len;
    ctx_t c;
    device_t d;
    m2msec_esprim_config cfg;
    int delivered = 0;

    for (int i = 2; i < argc; i++) {
        if (ex_opt(PROG, argc, argv, &i, "--key-file", &key_file) ||
            ex_opt(PROG, argc, argv, &i, "--kid", &kid) ||
            ex_opt(PROG, argc, argv, &i, "--log", &log))
            continue;
        if (ex_opt(PROG, argc, argv, &i, "--gateway-port", &v)) {
            gw = ex_u64(PROG, "--gateway-port", v, 1, 65535);
            continue;
        }
        if (ex_opt(PROG, argc, argv, &i, "--count", &v)) {
            count = ex_u64(PROG, "--count", v, 1, 100000);
            continue;
        }
        if (ex_opt(PROG, argc, argv, &i, "--interval", &v)) {
            interval = ex_u64(PROG, "--interval", v, 0, 60000);
            continue;
        }
        if (ex_opt(PROG, argc, argv, &i, "--timeout", &v)) {
            timeout = ex_u64(PROG, "--timeout", v, 10, 60000);
            continue;
        }
        ex_usage_error(PROG, "device: unknown argument %s", argv[i]);
    }
    if (gw == 0 || key_file == NULL || kid == NULL)
        ex_usage_error(PROG, "device needs --gateway-port, --key-file and --kid");
    if (log != NULL && (log_fd = ex_open_log(PROG, log)) < 0)
        return EX_FAIL;
    if (!read_hex_key(key_file, key, &key_len) || !ctx_new(&c))
        return EX_FAIL;
    memset(&d, 0, sizeof(d));
    memset(&cfg, 0, sizeof(cfg));
    cfg.role = M2MSEC_ESPRIM_ORIGINATOR;
    cfg.libctx = c.libctx;
    cfg.key = key;
    cfg.key_len = key_len;
    cfg.kid = kid;
    d.gw = (uint16_t)gw;
    d.timeout = timeout;
    if ((d.ep = m2msec_esprim_new(&cfg)) == NULL || (d.fd = ex_udp_bind(PROG, 0, NULL)) < 0) {
        ERR_print_errors_fp(stderr);
        goto end;
    }
    ex_catch_signals();
    for (uint64_t k = 0; k < count && !ex_stop; k++) {
        char reading[MAX_PRIMITIVE];

        snprintf(reading, sizeof(reading), "reading %llu temperature=%llu.%llu SECRET-%llu",
                 (unsigned long long)k, 20 + (unsigned long long)k % 7, (unsigned long long)k % 10,
                 (unsigned long long)k * 7919 + 13);
        if (deliver(&d, (int)k, reading))
            delivered++;
        else
            logf_line("reading %llu was not delivered", (unsigned long long)k);
        if (interval > 0)
            ex_sleep_ms(interval);
    }
    logf_line("device: %d of %llu delivered, %d RandObject exchanges", delivered,
              (unsigned long long)count, d.exchanges);
end:
    m2msec_esprim_free(d.ep);
    ctx_free(&c);
    OPENSSL_cleanse(key, sizeof(key));
    return delivered == (int)count ? EX_OK : EX_FAIL;
}

/* ---------------------------------------------------------------- main */

static void usage(FILE *out)
{
    fputs("usage: " PROG " server  --state F [--init-state] --key-file K --kid ID --port-file P\n"
          "                     [--port N] [--rand-lifetime S] [--log L]\n"
          "       " PROG " gateway --server-port N --port-file P [--capture C] [--tamper N]\n"
          "                     [--tamper-header N] [--replay N] [--delay N:MS]\n"
          "       " PROG " device  --gateway-port N --key-file K --kid ID [--count N]\n"
          "                     [--interval MS] [--timeout MS] [--log L]\n"
          "\n"
          "oneM2M ESPrim objects from a device through a gateway that has no key to a\n"
          "server (docs/PROTOCOL.md section 9). The gateway's options alter the Nth object\n"
          "(ciphertext or header), replay it after its answer, or delay it; SIGUSR1 makes\n"
          "it replay every object it forwarded. M2M_MODULES names the directory of\n"
          "m2msec.so. Exit codes: 0 ok, 1 failure, 2 usage.\n",
          out);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return EX_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(stdout);
        return EX_OK;
    }
    if (strcmp(argv[1], "server") == 0)
        return run_server(argc, argv);
    if (strcmp(argv[1], "gateway") == 0)
        return run_gateway(argc, argv);
    if (strcmp(argv[1], "device") == 0)
        return run_device(argc, argv);
    ex_usage_error(PROG, "unknown role %s", argv[1]);
}
