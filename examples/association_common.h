/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Shared helpers of the association examples (association_gateway,
 * association_device): options that select the profile, error printing,
 * sockets on 127.0.0.1. Not part of libm2msec.
 */
#ifndef M2M_EXAMPLES_ASSOCIATION_COMMON_H
#define M2M_EXAMPLES_ASSOCIATION_COMMON_H

#include <stdint.h>
#include <openssl/ssl.h>

#include "m2msec/association.h"

/* The options both programs take (the rest of cfg is set by each). */
typedef struct ax_opts {
    m2msec_association_config cfg;
    const char *policy;  /* --policy FILE */
    uint64_t timeout_ms; /* --timeout-ms: every wait (default 5000) */
    int do_export;       /* --export */
    int coap;            /* --coap */
} ax_opts;

/* 1 if argv[*i] is a shared option (consumed): --transport --fs --suites --policy ... */
int ax_opt(const char *prog, ax_opts *o, int argc, char **argv, int *i);
extern const char ax_help[];

/* Print the OpenSSL error queue as "PROG: WHAT: text; text" (m2msec details as written). */
void ax_print_errors(const char *prog, const char *what);

/* "association identity=ID suite=NAME version=V" and, with --export, the Connection export. */
int ax_report(const char *prog, SSL *ssl, const char *identity, int do_export);

/* Poll fd for reading (events POLLIN) or writing up to ms: 1 ready, 0 timeout, -1 error. */
int ax_wait(int fd, int for_write, uint64_t ms);

/* Run SSL_accept/SSL_connect on a non-blocking socket until done or timeout: 1 ok, 0 failed. */
int ax_handshake(SSL *ssl, int fd, int server, uint64_t ms);
/* SSL_read with a timeout: > 0 bytes, 0 closed, -1 failed or timeout. */
int ax_read(SSL *ssl, int fd, void *buf, int cap, uint64_t ms);
/* SSL_write all of it with a timeout: 1 ok, 0 failed. */
int ax_write(SSL *ssl, int fd, const void *buf, int len, uint64_t ms);

/* Monotonic milliseconds. */
uint64_t ax_now_ms(void);

#endif
