/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Shared helpers of the UDP record examples (device, gateway, attacker):
 * option parsing, loopback UDP sockets, time, and setting up a record
 * session from the common options. Not part of libm2msec.
 *
 * Every socket is bound to 127.0.0.1; every loop is bounded in count and
 * time. Exit codes of all three programs: 0 ok, 1 failure, 2 usage.
 */
#ifndef M2M_EXAMPLES_COMMON_H
#define M2M_EXAMPLES_COMMON_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <openssl/types.h>

#include "m2msec/session.h"

#define EX_OK 0
#define EX_FAIL 1
#define EX_USAGE 2

/* Largest datagram any of the programs handles. */
#define EX_MAX_DATAGRAM 2048

/* Set by SIGINT/SIGTERM once ex_catch_signals() ran. */
extern volatile sig_atomic_t ex_stop;
void ex_catch_signals(void);

/* Print "PROG: message; try PROG --help" to stderr and exit 2. */
void ex_usage_error(const char *prog, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3), noreturn))
#endif
    ;

/*
 * Option matching: if argv[*i] is NAME ("--name") or "NAME=value", store the
 * value (the "=value" part or the next argument, which is then consumed)
 * and return 1; a missing value is a usage error. Return 0 otherwise.
 */
int ex_opt(const char *prog, int argc, char **argv, int *i, const char *name, const char **val);
/* Decimal number in [min, max], else a usage error naming the option. */
uint64_t ex_u64(const char *prog, const char *opt, const char *s, uint64_t min, uint64_t max);

/* Milliseconds of CLOCK_MONOTONIC. */
uint64_t ex_now_ms(void);
void ex_sleep_ms(uint64_t ms);

/*
 * UDP socket bound to 127.0.0.1:port (0: a free port, reported in *bound).
 * Returns the descriptor or -1 (message printed).
 */
int ex_udp_bind(const char *prog, uint16_t port, uint16_t *bound);
/* Send one datagram to 127.0.0.1:port; 1 if all of it was sent. */
int ex_udp_send(int fd, uint16_t port, const unsigned char *buf, size_t len);
/*
 * Wait up to timeout_ms for a datagram: >= 0 its length (copied to buf,
 * truncated to cap), -1 timeout or signal, -2 error (message printed).
 */
long ex_udp_recv(const char *prog, int fd, unsigned char *buf, size_t cap, uint64_t timeout_ms);
/* Write "PORT\n" to path atomically (temp file + rename); 1 on success. */
int ex_write_port_file(const char *prog, const char *path, uint16_t port);

/* Value of the hex digit c, or -1. */
int ex_hexval(int c);

/* The epoch and the sequence number in a record header (M2MSEC_SESSION_HEADER_LEN bytes). */
uint64_t ex_header_epoch(const unsigned char *rec);
uint64_t ex_header_seq(const unsigned char *rec);

/* A log file opened for appending (created 0644); -1 after "PROG: cannot open PATH: ...". */
int ex_open_log(const char *prog, const char *path);
/*
 * Append one line with a single write(2) (EINTR retried), so a kill -9
 * loses at most the line being written. 0 after "PROG: cannot write WHAT: ...".
 */
int ex_append_line(const char *prog, const char *what, int fd, const char *line, size_t len);
/*
 * The log line "EPOCH SEQ TAIL\n" of a datagram of len bytes starting with
 * a record header, or "- - TAIL\n" when it is shorter than a header, into
 * buf; returns its length (cut to cap - 1 if it did not fit; 0 if cap is 0).
 */
size_t ex_header_line(char *buf, size_t cap, const unsigned char *rec, size_t len,
                      const char *tail);
/*
 * --log of device and gateway: "EPOCH SEQ SHA256-OF-PLAINTEXT\n" for the
 * record rec and its plaintext, appended with ex_append_line(). 1 on success.
 */
int ex_log_record(const char *prog, const char *what, int fd, OSSL_LIB_CTX *libctx,
                  const unsigned char *rec, const unsigned char *pt, size_t ptlen);

/* The options device and gateway share, with their defaults. */
typedef struct ex_session_opts {
    const char *provider_dir; /* --provider-dir, else $M2M_MODULES, else NULL */
    const char *key_file;     /* --key-file (required) */
    const char *device_id;    /* --device-id */
    const char *gateway_id;   /* --gateway-id */
    const char *state;        /* --state (required): a file, or a name with --store lmdb:PATH */
    const char *store;        /* --store: NULL or "file" (default), or "lmdb:PATH" */
    const char *aead;         /* --aead */
    uint64_t max_records;     /* --max-records (0: the cipher's limit) */
    uint64_t key_lifetime;    /* --key-lifetime seconds (0: library default) */
    uint64_t replay_window;   /* --replay-window (receiver; 0: policy default) */
    int init_state;           /* --init-state: first start, initialise --state first */
} ex_session_opts;

/* Help text for the shared options (one string, several lines). */
extern const char ex_session_help[];

void ex_session_opts_init(ex_session_opts *o);
/* 1 if argv[*i] is a shared option (consumed), 0 otherwise. */
int ex_session_opt(const char *prog, ex_session_opts *o, int argc, char **argv, int *i);
/* Usage error unless the required shared options were given. */
void ex_session_opts_check(const char *prog, const ex_session_opts *o);

/* What ex_session_open() sets up; free with ex_session_close(). */
typedef struct ex_session {
    OSSL_LIB_CTX *libctx;
    OSSL_PROVIDER *prov, *dflt;
    m2msec_session *s;
    m2msec_store store;
    m2msec_session_policy pol;
} ex_session;

/*
 * New library context, m2msec loaded into it, key read from the key file,
 * session of the given role (device = originator, gateway = receiver) with
 * the file store; with --init-state the state is initialised first
 * (m2msec_store_init: refused if it exists). Returns 1, or 0 with the
 * reason printed.
 */
int ex_session_open(const char *prog, const ex_session_opts *o, m2msec_session_role role,
                    ex_session *es);
void ex_session_close(ex_session *es);

#endif
