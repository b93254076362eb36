/*
 * Helpers of the policy/action tests (tests/actions): temporary trees,
 * files, shell commands, the OpenSSL error queue as text, snapshots of a
 * directory (listing, types, modes, sizes, contents) for "nothing
 * changed" checks, and a tiny HTTP/1.0 file server on 127.0.0.1 that the
 * test forks itself.
 */
#ifndef M2MSEC_TESTS_ACTIONS_TEST_H
#define M2MSEC_TESTS_ACTIONS_TEST_H

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CUnit/Basic.h>
#include <CUnit/CUnit.h>
#include <openssl/err.h>

__attribute__((format(printf, 3, 4))) static inline void pathf(char *buf, size_t len,
                                                               const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(buf, len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= len) {
        fprintf(stderr, "path too long: %s\n", fmt);
        abort();
    }
}

__attribute__((format(printf, 1, 2))) static inline int run(const char *fmt, ...)
{
    char cmd[8192];
    va_list ap;
    int st;

    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    st = system(cmd);
    if (st == -1 || !WIFEXITED(st))
        return -1;
    return WEXITSTATUS(st);
}

/* stdout of a shell command (malloc'd, NUL-terminated), or NULL if it failed. */
__attribute__((format(printf, 1, 2))) static inline char *run_out(const char *fmt, ...)
{
    char cmd[8192], *out = NULL;
    size_t n = 0, cap = 0;
    va_list ap;
    FILE *f;
    int c;

    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    f = popen(cmd, "r");
    if (f == NULL)
        return NULL;
    while ((c = fgetc(f)) != EOF) {
        if (n + 1 >= cap) {
            cap = cap == 0 ? 256 : cap * 2;
            out = realloc(out, cap);
            if (out == NULL)
                abort();
        }
        out[n++] = (char)c;
    }
    if (pclose(f) != 0) {
        free(out);
        return NULL;
    }
    if (out == NULL)
        out = calloc(1, 1);
    else
        out[n] = '\0';
    return out;
}

static inline void write_bytes(const char *path, const void *data, size_t len, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

    if (fd < 0 || write(fd, data, len) != (ssize_t)len || fchmod(fd, mode) != 0 || close(fd) != 0) {
        perror(path);
        abort();
    }
}

static inline void write_text(const char *path, const char *text, mode_t mode)
{
    write_bytes(path, text, strlen(text), mode);
}

/* Whole file (malloc'd, NUL-terminated), or NULL. */
static inline char *read_all(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *b = NULL;
    size_t n = 0, cap = 0, r;

    if (f == NULL)
        return NULL;
    do {
        if (n + 4096 + 1 > cap) {
            cap = cap == 0 ? 8192 : cap * 2;
            b = realloc(b, cap);
            if (b == NULL)
                abort();
        }
        r = fread(b + n, 1, cap - n - 1, f);
        n += r;
    } while (r > 0);
    fclose(f);
    b[n] = '\0';
    return b;
}

static inline int file_exists(const char *path)
{
    struct stat st;

    return lstat(path, &st) == 0;
}

static inline int err_cb(const char *str, size_t len, void *u)
{
    char **acc = u;
    size_t old = *acc != NULL ? strlen(*acc) : 0;
    char *n = realloc(*acc, old + len + 2);

    if (n == NULL)
        abort();
    memcpy(n + old, str, len);
    n[old + len] = '\0';
    *acc = n;
    return 1;
}

/* Drain the OpenSSL error queue into a malloc'd string ("" if empty). */
static inline char *errors_text(void)
{
    char *acc = NULL;

    ERR_print_errors_cb(err_cb, &acc);
    if (acc == NULL)
        acc = calloc(1, 1);
    return acc;
}

/* Drain the queue; 1 if it contains @p needle. */
static inline int errors_contain(const char *needle)
{
    char *t = errors_text();
    int ok = strstr(t, needle) != NULL;

    if (!ok)
        fprintf(stderr, "\nerror queue lacks \"%s\":\n%s\n", needle, t);
    free(t);
    return ok;
}

/*
 * Everything under @p dir, one line per entry, sorted: path, type, mode,
 * size, owner, link target and content digest. Equal snapshots mean the
 * listing, types, modes and contents are unchanged. malloc'd.
 */
static inline char *snapshot(const char *dir)
{
    char *s = run_out("cd '%s' && find . -printf '%%p %%y %%m %%s %%u:%%g %%l\\n' | LC_ALL=C sort "
                      "&& find . -type f -exec sha256sum {} + | LC_ALL=C sort",
                      dir);

    if (s == NULL)
        abort();
    return s;
}

/* Number of entries directly in @p dir (without . and ..), -1 if it cannot be listed. */
static inline int count_entries(const char *dir)
{
    char *out = run_out("ls -A '%s' | wc -l", dir);
    int n = out != NULL ? atoi(out) : -1;

    free(out);
    return n;
}

/* ---------------------------------------------------------------- */
/* A tiny HTTP/1.0 file server on 127.0.0.1, in a child process     */
/* ---------------------------------------------------------------- */

typedef enum srv_mode {
    SRV_OK,       /* serve the files as they are */
    SRV_CORRUPT,  /* flip one bit of every body */
    SRV_TRUNCATE, /* announce the full length, send half, close */
    SRV_404       /* every request: 404 */
} srv_mode;

typedef struct server {
    pid_t pid;
    int port;
} server;

static inline int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static inline void send_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;

    while (len > 0) {
        ssize_t w = write(fd, p, len);

        if (w <= 0)
            return;
        p += w;
        len -= (size_t)w;
    }
}

static inline void serve_one(int c, const char *dir, srv_mode mode)
{
    char req[8192], path[PATH_MAX], full[PATH_MAX + 256], *sp, *body = NULL;
    size_t n = 0, len = 0;
    const char *notfound = "HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n\r\n";

    while (n + 1 < sizeof(req)) {
        ssize_t r = read(c, req + n, sizeof(req) - 1 - n);

        if (r <= 0)
            break;
        n += (size_t)r;
        req[n] = '\0';
        if (strstr(req, "\r\n\r\n") != NULL)
            break;
    }
    req[n] = '\0';
    if (strncmp(req, "GET /", 5) != 0 || (sp = strchr(req + 4, ' ')) == NULL) {
        send_all(c, notfound, strlen(notfound));
        return;
    }
    *sp = '\0';
    /* percent-decode; refuse ".." */
    {
        const char *s = req + 5;
        size_t k = 0;

        while (*s != '\0' && k + 1 < sizeof(path)) {
            if (*s == '%' && hexval(s[1]) >= 0 && hexval(s[2]) >= 0) {
                path[k++] = (char)(hexval(s[1]) * 16 + hexval(s[2]));
                s += 3;
            } else {
                path[k++] = *s++;
            }
        }
        path[k] = '\0';
    }
    if (mode == SRV_404 || strstr(path, "..") != NULL) {
        send_all(c, notfound, strlen(notfound));
        return;
    }
    snprintf(full, sizeof(full), "%s/%s", dir, path);
    body = read_all(full);
    if (body == NULL) {
        send_all(c, notfound, strlen(notfound));
        return;
    }
    {
        struct stat st;
        char head[256];
        int hl;

        len = stat(full, &st) == 0 ? (size_t)st.st_size : 0;
        hl = snprintf(head, sizeof(head),
                      "HTTP/1.0 200 OK\r\nContent-Type: application/octet-stream\r\n"
                      "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                      len);
        send_all(c, head, (size_t)hl);
        if (mode == SRV_CORRUPT && len > 0)
            body[len / 2] ^= 0x01;
        send_all(c, body, mode == SRV_TRUNCATE ? len / 2 : len);
    }
    free(body);
}

/*
 * Fork a server for the files under @p dir. It answers at most
 * @p max_requests connections and exits after 30 s in any case.
 */
static inline server server_start(const char *dir, srv_mode mode, int max_requests)
{
    struct sockaddr_in sa;
    socklen_t sl = sizeof(sa);
    server s = {-1, 0};
    int one = 1, ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = 0;
    if (ls < 0 || setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        bind(ls, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(ls, 8) != 0 ||
        getsockname(ls, (struct sockaddr *)&sa, &sl) != 0) {
        perror("server socket");
        abort();
    }
    s.port = ntohs(sa.sin_port);
    fflush(NULL);
    s.pid = fork();
    if (s.pid < 0) {
        perror("fork");
        abort();
    }
    if (s.pid == 0) {
        signal(SIGPIPE, SIG_IGN);
        alarm(30);
        for (int i = 0; i < max_requests; i++) {
            int c = accept(ls, NULL, NULL);

            if (c < 0)
                _exit(1);
            serve_one(c, dir, mode);
            shutdown(c, SHUT_RDWR);
            close(c);
        }
        _exit(0);
    }
    close(ls);
    return s;
}

static inline void server_stop(server *s)
{
    int st;

    if (s->pid > 0) {
        kill(s->pid, SIGTERM);
        waitpid(s->pid, &st, 0);
        s->pid = -1;
    }
}

#endif
