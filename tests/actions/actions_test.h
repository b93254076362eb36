/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Helpers of the policy/action tests (tests/actions): snapshots of a
 * directory (listing, types, modes, sizes, contents) for "nothing
 * changed" checks, and a tiny HTTP/1.0 file server on 127.0.0.1 that the
 * test forks itself. Files, shell commands and the OpenSSL error queue as
 * text come from tests/common (test_files.h, test_errors.h).
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

#include "test_errors.h"
#include "test_files.h"

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
    /* a name that does not fit is not served (and not truncated to another one) */
    {
        int fl = snprintf(full, sizeof(full), "%s/%s", dir, path);

        if (fl < 0 || (size_t)fl >= sizeof(full)) {
            send_all(c, notfound, strlen(notfound));
            return;
        }
    }
    body = read_all(full, &len);
    if (body == NULL) {
        send_all(c, notfound, strlen(notfound));
        return;
    }
    {
        char head[256];
        int hl = snprintf(head, sizeof(head),
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
