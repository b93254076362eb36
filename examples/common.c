/* SPDX-License-Identifier: Apache-2.0 */
/* Shared helpers of the UDP record examples; see common.h. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/provider.h>

#include "m2msec/m2msec.h"
#include "common.h"

#define KEY_MAX 64
#define KEY_FILE_MAX 4096

volatile sig_atomic_t ex_stop = 0;

static void on_signal(int sig)
{
    (void)sig;
    ex_stop = 1;
}

void ex_catch_signals(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

void ex_usage_error(const char *prog, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "%s: ", prog);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "; try %s --help\n", prog);
    exit(EX_USAGE);
}

int ex_opt(const char *prog, int argc, char **argv, int *i, const char *name, const char **val)
{
    const char *a = argv[*i];
    size_t n = strlen(name);

    if (strncmp(a, name, n) != 0)
        return 0;
    if (a[n] == '=') {
        *val = a + n + 1;
        return 1;
    }
    if (a[n] != '\0')
        return 0;
    if (*i + 1 >= argc)
        ex_usage_error(prog, "option %s needs a value", name);
    *val = argv[++*i];
    return 1;
}

uint64_t ex_u64(const char *prog, const char *opt, const char *s, uint64_t min, uint64_t max)
{
    unsigned long long v;
    char *end;

    errno = 0;
    if (!isdigit((unsigned char)s[0]))
        ex_usage_error(prog, "%s: '%s' is not a number", opt, s);
    v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max)
        ex_usage_error(prog, "%s: '%s' is not a number from %llu to %llu", opt, s,
                       (unsigned long long)min, (unsigned long long)max);
    return (uint64_t)v;
}

uint64_t ex_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void ex_sleep_ms(uint64_t ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000};

    /* An interrupted sleep ends early; callers check ex_stop. */
    nanosleep(&ts, NULL);
}

static void loopback(struct sockaddr_in *sa, uint16_t port)
{
    memset(sa, 0, sizeof(*sa));
    sa->sin_family = AF_INET;
    sa->sin_port = htons(port);
    sa->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
}

int ex_udp_bind(const char *prog, uint16_t port, uint16_t *bound)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);
    int rcvbuf = 1 << 20;
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

    if (fd < 0) {
        fprintf(stderr, "%s: socket: %s\n", prog, strerror(errno));
        return -1;
    }
    /* A larger buffer keeps bursts on the loopback from being dropped (best effort). */
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    loopback(&sa, port);
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        fprintf(stderr, "%s: cannot bind 127.0.0.1:%u: %s\n", prog, (unsigned)port,
                strerror(errno));
        close(fd);
        return -1;
    }
    if (getsockname(fd, (struct sockaddr *)&sa, &len) != 0) {
        fprintf(stderr, "%s: getsockname: %s\n", prog, strerror(errno));
        close(fd);
        return -1;
    }
    if (bound != NULL)
        *bound = ntohs(sa.sin_port);
    return fd;
}

int ex_udp_send(int fd, uint16_t port, const unsigned char *buf, size_t len)
{
    struct sockaddr_in sa;
    ssize_t n;

    loopback(&sa, port);
    do {
        n = sendto(fd, buf, len, 0, (struct sockaddr *)&sa, sizeof(sa));
    } while (n < 0 && errno == EINTR);
    return n >= 0 && (size_t)n == len;
}

long ex_udp_recv(const char *prog, int fd, unsigned char *buf, size_t cap, uint64_t timeout_ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    ssize_t n;
    int r;

    if (timeout_ms > 60 * 60 * 1000)
        timeout_ms = 60 * 60 * 1000;
    r = poll(&p, 1, (int)timeout_ms);
    if (r == 0 || (r < 0 && errno == EINTR))
        return -1;
    if (r < 0) {
        fprintf(stderr, "%s: poll: %s\n", prog, strerror(errno));
        return -2;
    }
    n = recv(fd, buf, cap, 0);
    if (n < 0) {
        if (errno == EINTR || errno == EAGAIN)
            return -1;
        fprintf(stderr, "%s: recv: %s\n", prog, strerror(errno));
        return -2;
    }
    return (long)n;
}

int ex_write_port_file(const char *prog, const char *path, uint16_t port)
{
    char tmp[4096];
    FILE *f;
    int ok;

    if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp)) {
        fprintf(stderr, "%s: port file name too long\n", prog);
        return 0;
    }
    if ((f = fopen(tmp, "w")) == NULL) {
        fprintf(stderr, "%s: cannot write %s: %s\n", prog, tmp, strerror(errno));
        return 0;
    }
    ok = fprintf(f, "%u\n", (unsigned)port) > 0;
    ok = (fclose(f) == 0) && ok;
    if (!ok || rename(tmp, path) != 0) {
        fprintf(stderr, "%s: cannot write %s: %s\n", prog, path, strerror(errno));
        unlink(tmp);
        return 0;
    }
    return 1;
}

const char ex_session_help[] =
    "  --key-file FILE      long-term service-layer key shared by device and gateway:\n"
    "                       hex (e.g. from `openssl rand -hex 32`) or 32 raw bytes\n"
    "  --state FILE         session state (epoch, sequence floor), kept across restarts;\n"
    "                       it must exist (see --init-state), and only one session at a\n"
    "                       time may use it\n"
    "  --init-state         first start only: initialise --state before starting\n"
    "                       (refused if it exists: a state is never recreated)\n"
    "  --store KIND         file (default: --state is a state file), or lmdb:PATH: the\n"
    "                       gateway store, one LMDB database at PATH holding many\n"
    "                       sessions' states (--state is this session's name in it;\n"
    "                       docs/PROTOCOL.md 6.4)\n"
    "  --device-id ID       originator identity (default CAE-sensor01)\n"
    "  --gateway-id ID      receiver identity (default CSE-gw01)\n"
    "  --aead NAME          record cipher (default M2M-REC-AES-128-GCM)\n"
    "  --max-records N      records per epoch key; the device re-keys at about 70-80 %\n"
    "                       of it (default: the cipher's limit)\n"
    "  --key-lifetime SEC   lifetime of each epoch key (default 3600)\n"
    "  --provider-dir DIR   directory of m2msec.so (default: $M2M_MODULES, else\n"
    "                       OpenSSL's modules directory or $OPENSSL_MODULES)\n";

void ex_session_opts_init(ex_session_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->provider_dir = getenv("M2M_MODULES");
    if (o->provider_dir != NULL && o->provider_dir[0] == '\0')
        o->provider_dir = NULL;
    o->device_id = "CAE-sensor01";
    o->gateway_id = "CSE-gw01";
    o->aead = "M2M-REC-AES-128-GCM";
}

int ex_session_opt(const char *prog, ex_session_opts *o, int argc, char **argv, int *i)
{
    const char *v;

    if (ex_opt(prog, argc, argv, i, "--provider-dir", &o->provider_dir) ||
        ex_opt(prog, argc, argv, i, "--key-file", &o->key_file) ||
        ex_opt(prog, argc, argv, i, "--device-id", &o->device_id) ||
        ex_opt(prog, argc, argv, i, "--gateway-id", &o->gateway_id) ||
        ex_opt(prog, argc, argv, i, "--state", &o->state) ||
        ex_opt(prog, argc, argv, i, "--store", &o->store) ||
        ex_opt(prog, argc, argv, i, "--aead", &o->aead))
        return 1;
    if (strcmp(argv[*i], "--init-state") == 0) {
        o->init_state = 1;
        return 1;
    }
    if (ex_opt(prog, argc, argv, i, "--max-records", &v)) {
        o->max_records = ex_u64(prog, "--max-records", v, 2, UINT64_MAX);
        return 1;
    }
    if (ex_opt(prog, argc, argv, i, "--key-lifetime", &v)) {
        o->key_lifetime = ex_u64(prog, "--key-lifetime", v, 1, UINT32_MAX);
        return 1;
    }
    return 0;
}

void ex_session_opts_check(const char *prog, const ex_session_opts *o)
{
    if (o->key_file == NULL)
        ex_usage_error(prog, "--key-file is required");
    if (o->state == NULL)
        ex_usage_error(prog, "--state is required (the session must never reuse an epoch)");
    if (o->device_id[0] == '\0' || o->gateway_id[0] == '\0' || o->aead[0] == '\0')
        ex_usage_error(prog, "identities and the cipher name must not be empty");
}

int ex_hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/*
 * The key file holds hex digits (surrounding white space ignored) or
 * exactly 32 raw bytes. A file that is valid hex is read as hex.
 */
static int read_key(const char *prog, const char *path, unsigned char *key, size_t *keylen)
{
    unsigned char buf[KEY_FILE_MAX];
    size_t n, a, b, i;
    int ok = 0, ishex = 1;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t r;

    if (fd < 0) {
        fprintf(stderr, "%s: cannot open key file %s: %s\n", prog, path, strerror(errno));
        return 0;
    }
    for (n = 0; n < sizeof(buf); n += (size_t)r) {
        r = read(fd, buf + n, sizeof(buf) - n);
        if (r < 0 && errno == EINTR) {
            r = 0;
            continue;
        }
        if (r < 0) {
            fprintf(stderr, "%s: cannot read key file %s: %s\n", prog, path, strerror(errno));
            close(fd);
            goto end;
        }
        if (r == 0)
            break;
    }
    close(fd);
    a = 0;
    b = n;
    while (a < b && isspace(buf[a]))
        a++;
    while (b > a && isspace(buf[b - 1]))
        b--;
    for (i = a; i < b; i++)
        ishex = ishex && ex_hexval(buf[i]) >= 0;
    if (ishex && b > a && (b - a) % 2 == 0 && (b - a) / 2 <= KEY_MAX) {
        for (i = 0; i < (b - a) / 2; i++)
            key[i] =
                (unsigned char)(ex_hexval(buf[a + 2 * i]) << 4 | ex_hexval(buf[a + 2 * i + 1]));
        *keylen = (b - a) / 2;
        ok = 1;
    } else if (n == 32) {
        memcpy(key, buf, 32);
        *keylen = 32;
        ok = 1;
    } else {
        fprintf(stderr,
                "%s: key file %s holds neither hex (an even number of hex digits, at most %d "
                "bytes) nor 32 raw bytes\n",
                prog, path, KEY_MAX);
    }
end:
    OPENSSL_cleanse(buf, sizeof(buf));
    return ok;
}

int ex_session_open(const char *prog, const ex_session_opts *o, m2msec_session_role role,
                    ex_session *es)
{
    unsigned char key[KEY_MAX];
    size_t keylen = 0;
    m2msec_session_config cfg;

    memset(es, 0, sizeof(*es));
    if (!read_key(prog, o->key_file, key, &keylen))
        return 0;
    es->libctx = OSSL_LIB_CTX_new();
    if (es->libctx == NULL)
        goto fail;
    es->prov = m2msec_provider_load(es->libctx, o->provider_dir, &es->dflt);
    if (es->prov == NULL) {
        fprintf(stderr, "%s: cannot load the m2msec provider from %s\n", prog,
                o->provider_dir != NULL ? o->provider_dir : "OpenSSL's modules directory");
        goto fail;
    }
    es->pol.aead = o->aead;
    es->pol.max_records = o->max_records;
    es->pol.key_lifetime = o->key_lifetime;
    es->pol.replay_window = o->replay_window;
    if (o->store != NULL && strncmp(o->store, "lmdb:", 5) == 0) {
        /* the store holds a reference: the environment closes with m2msec_store_clear() */
        m2msec_store_lmdb_env *env = m2msec_store_lmdb_env_new(o->store + 5, 0);
        int ok = env != NULL && m2msec_store_lmdb(&es->store, env, o->state);

        m2msec_store_lmdb_env_free(env);
        if (!ok) {
            fprintf(stderr, "%s: cannot set up the LMDB store %s for %s\n", prog, o->store + 5,
                    o->state);
            goto fail;
        }
    } else if (o->store != NULL && strcmp(o->store, "file") != 0) {
        fprintf(stderr, "%s: --store must be file or lmdb:PATH, not '%s'\n", prog, o->store);
        goto fail;
    } else if (!m2msec_store_file(&es->store, o->state)) {
        fprintf(stderr, "%s: cannot set up the state file store %s\n", prog, o->state);
        goto fail;
    }
    if (o->init_state && !m2msec_store_init(&es->store)) {
        fprintf(stderr, "%s: --init-state: cannot initialise the state %s\n", prog, o->state);
        goto fail;
    }
    memset(&cfg, 0, sizeof(cfg));
    cfg.role = role;
    cfg.libctx = es->libctx;
    cfg.key = key;
    cfg.key_len = keylen;
    cfg.originator = o->device_id;
    cfg.receiver = o->gateway_id;
    cfg.policy = &es->pol;
    cfg.store = &es->store;
    es->s = m2msec_session_new(&cfg);
    if (es->s == NULL) {
        fprintf(stderr, "%s: cannot start the %s session (key %s, state %s, cipher %s)\n", prog,
                role == M2MSEC_SESSION_SENDER ? "sender" : "receiver", o->key_file, o->state,
                o->aead);
        goto fail;
    }
    OPENSSL_cleanse(key, sizeof(key));
    return 1;
fail:
    OPENSSL_cleanse(key, sizeof(key));
    ERR_print_errors_fp(stderr);
    ex_session_close(es);
    return 0;
}

void ex_session_close(ex_session *es)
{
    m2msec_session_free(es->s);
    es->s = NULL;
    m2msec_store_clear(&es->store); /* after the session that used it */
    if (es->prov != NULL)
        OSSL_PROVIDER_unload(es->prov);
    es->prov = NULL;
    if (es->dflt != NULL)
        OSSL_PROVIDER_unload(es->dflt);
    es->dflt = NULL;
    OSSL_LIB_CTX_free(es->libctx);
    es->libctx = NULL;
}

uint64_t ex_header_epoch(const unsigned char *rec)
{
    return (uint64_t)rec[1] << 24 | (uint64_t)rec[2] << 16 | (uint64_t)rec[3] << 8 | rec[4];
}

uint64_t ex_header_seq(const unsigned char *rec)
{
    uint64_t seq = 0;

    for (int i = 5; i < M2MSEC_SESSION_HEADER_LEN; i++)
        seq = seq << 8 | rec[i];
    return seq;
}

int ex_open_log(const char *prog, const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);

    if (fd < 0)
        fprintf(stderr, "%s: cannot open %s: %s\n", prog, path, strerror(errno));
    return fd;
}

int ex_append_line(const char *prog, const char *what, int fd, const char *line, size_t len)
{
    while (len > 0) {
        ssize_t w = write(fd, line, len);

        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            fprintf(stderr, "%s: cannot write %s: %s\n", prog, what, strerror(errno));
            return 0;
        }
        line += w;
        len -= (size_t)w;
    }
    return 1;
}

size_t ex_header_line(char *buf, size_t cap, const unsigned char *rec, size_t len, const char *tail)
{
    int n;

    if (len >= M2MSEC_SESSION_HEADER_LEN)
        n = snprintf(buf, cap, "%" PRIu64 " %" PRIu64 " %s\n", ex_header_epoch(rec),
                     ex_header_seq(rec), tail);
    else
        n = snprintf(buf, cap, "- - %s\n", tail);
    if (n < 0)
        return 0;
    return (size_t)n < cap ? (size_t)n : cap - 1;
}

int ex_log_record(const char *prog, const char *what, int fd, OSSL_LIB_CTX *libctx,
                  const unsigned char *rec, const unsigned char *pt, size_t ptlen)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    char hex[2 * EVP_MAX_MD_SIZE + 1], line[256];
    size_t mdlen = 0, n;

    if (!EVP_Q_digest(libctx, "SHA256", NULL, pt, ptlen, md, &mdlen)) {
        ERR_print_errors_fp(stderr);
        return 0;
    }
    for (size_t i = 0; i < mdlen; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    hex[2 * mdlen] = '\0';
    n = ex_header_line(line, sizeof(line), rec, M2MSEC_SESSION_HEADER_LEN, hex);
    return ex_append_line(prog, what, fd, line, n);
}
