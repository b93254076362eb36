/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The m2msec command-line tool: what the subcommands share (exit codes,
 * option helpers, error printing). Each subcommand lives in its own
 * cmd_*.c file; m2msec.c dispatches.
 */
#ifndef M2MSEC_TOOL_H
#define M2MSEC_TOOL_H

#include <getopt.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <openssl/conf.h>

#include "m2msec/integrity.h"
#include "status_record.h" /* M2M_DEVICE_KEY_MAX */

/* Exit codes, the same for every subcommand. */
#define EXIT_OK 0        /* done; the device may run */
#define EXIT_INTEGRITY 1 /* verification failed, signature bad, manifest or exec refused */
#define EXIT_USAGE 2     /* bad usage or unusable input (missing file, unreadable key, ...) */

/* Subcommands: argv[0] is the subcommand's own name. */
int cmd_manifest(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_exec(int argc, char **argv);
int cmd_provider_install(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_state(int argc, char **argv);
int cmd_esprim(int argc, char **argv);
int cmd_record(int argc, char **argv);
int cmd_keygen(int argc, char **argv);

/*
 * A name (a path from the command line or the file system, a manifest
 * entry, an option's value) escaped for a message (docs/PROTOCOL.md 7.5:
 * \\, \n, \r, \t, \xHH), in one of 8 static buffers used in turn: valid
 * until 8 more calls. Every name in a message of the tool goes through it.
 */
const char *tool_name(const char *name);

/*
 * "m2msec: " + message on stderr. Every message of the tool (these
 * functions, and the error queue) is also passed through the escaping rule
 * with its backslashes kept, so no control character reaches the terminal
 * whatever a message holds.
 */
void tool_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Print (and clear) the OpenSSL error queue as readable lines on stderr. */
void tool_print_errors(void);
/* tool_print_errors() (the causes), then tool_err(fmt, ...) (what failed). */
void tool_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A usage error: message, then "Try 'm2msec CMD --help'."; returns EXIT_USAGE. */
int tool_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * After getopt_long() returned '?' (opterr = 0): say which argument was bad
 * (unknown option or missing value); returns EXIT_USAGE.
 */
int tool_bad_option(const char *cmd, char **argv);

/*
 * A state file's path as libm2msec's stores take it, absolute (docs/PROTOCOL.md 6.4): an absolute
 * @p path as it is, a relative one joined to the working directory of this one command into
 * @p buf. NULL after a message if the working directory cannot be read or the path does not fit.
 */
const char *tool_abs_path(const char *path, char *buf, size_t len);

/* One subcommand of a command with subcommands (m2msec state init, m2msec record seal, ...). */
typedef struct tool_sub {
    const char *name;
    int (*run)(int argc, char **argv); /* argv[0] is the subcommand */
} TOOL_SUB;

/*
 * The one dispatcher of the commands with subcommands: argv[0] is the command @p cmd. No
 * subcommand prints @p usage on stderr and returns EXIT_USAGE; -h/--help prints it on stdout
 * and returns EXIT_OK; an unknown one is a usage error that names it (escaped). Otherwise the
 * subcommand's exit code.
 */
int tool_dispatch(const char *cmd, void (*usage)(FILE *out), const TOOL_SUB *subs, size_t n,
                  int argc, char **argv);
#define TOOL_DISPATCH(cmd, usage, subs, argc, argv)                                                \
    tool_dispatch(cmd, usage, subs, sizeof(subs) / sizeof((subs)[0]), argc, argv)

/* How a subcommand reads its options (tool_parse_options). */
typedef struct tool_cmd {
    const char *name;          /* for "Try 'm2msec NAME --help'." */
    const char *shortopts;     /* getopt_long()'s short options, including "h" */
    const struct option *opts; /* long options, ending with TOOL_OPTS_END */
    void (*usage)(FILE *out);  /* the --help text */
    int operands;              /* 0: an argument after the options is a usage error */
    /*
     * One option other than -h/--help (getopt_long's value c, its argument
     * or NULL): 0 to go on, else the exit code to stop with (the message is
     * printed).
     */
    int (*option)(const char *cmd, void *ctx, int c, const char *arg);
} TOOL_CMD;

/* Every option table ends with --help and the terminator. */
/* clang-format off */
#define TOOL_OPTS_END {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}
/* clang-format on */

/* tool_parse_options(): every option was read, optind is the first operand. */
#define TOOL_PARSED (-1)

/*
 * Read argv (argv[0] is the subcommand) with getopt_long() from its start,
 * handing every option to cmd->option. -h/--help prints the usage on stdout
 * and returns EXIT_OK; an unknown option or a missing value, an argument
 * left over when cmd->operands is 0, or an option cmd->option refuses return
 * the exit code (EXIT_USAGE) after the message. TOOL_PARSED otherwise.
 */
int tool_parse_options(const TOOL_CMD *cmd, int argc, char **argv, void *ctx);

/* The options of verify and exec that name the manifest and what checks it. */
typedef struct tool_manifest_args {
    const char *manifest, *sig, *pubkey, *root, *state, *policy;
} TOOL_MANIFEST_ARGS;

/* Their long options, for the option table; tool_manifest_option() reads them. */
/* clang-format off */
#define TOOL_MANIFEST_OPTIONS                                                                      \
    {"manifest", required_argument, NULL, 'm'},                                                    \
    {"sig", required_argument, NULL, 's'},                                                         \
    {"pubkey", required_argument, NULL, 'p'},                                                      \
    {"root", required_argument, NULL, 'r'},                                                        \
    {"state", required_argument, NULL, 'S'},                                                       \
    {"policy", required_argument, NULL, 'P'}
/* clang-format on */

/* 1 if c is one of TOOL_MANIFEST_OPTIONS (arg stored in a), else 0. */
int tool_manifest_option(TOOL_MANIFEST_ARGS *a, int c, const char *arg);
/* EXIT_OK if --manifest, --pubkey and --root were given, else a usage error (EXIT_USAGE). */
int tool_manifest_args_check(const char *cmd, const TOOL_MANIFEST_ARGS *a);

/*
 * m2msec_manifest_accept() of a->manifest (a->sig, a->pubkey, a->state) at the
 * current time. EXIT_OK with *m set; on a refusal the error queue is printed,
 * *why is the verdict's text, and the result is EXIT_INTEGRITY (refused) or
 * EXIT_USAGE (the manifest, signature or key cannot be read).
 */
int tool_manifest_accept(const TOOL_MANIFEST_ARGS *a, m2msec_manifest **m, const char **why);

/*
 * m2msec_policy_load(path); NULL after "policy NAME cannot be used" (the
 * causes, which name path, printed first). NAME is the path as the user gave it.
 */
m2msec_policy *tool_policy_load(const char *path, const char *name);

/*
 * An OpenSSL configuration file read with NCONF_load(). NULL after
 * "WHAT PATH: syntax error at line N" or "WHAT PATH cannot be read" (the
 * error queue cleared: the message says it all), or if memory runs out.
 */
CONF *tool_conf_load(const char *what, const char *path);

/* Strict decimal u64 (digits only, no sign, no overflow) in [lo, hi]; 1 on success. */
int tool_parse_u64(const char *text, uint64_t lo, uint64_t hi, uint64_t *out);
/* --jobs N: 0 (one per core) .. 256. */
int tool_parse_jobs(const char *cmd, const char *text, unsigned *jobs);

/*
 * Read a device key file: 16..64 bytes as hex, white space ignored (the
 * format of the provider's device_key_file). 1 on success; on failure a
 * message naming the file (never the key) is printed.
 */
int tool_read_device_key(const char *path, unsigned char key[M2M_DEVICE_KEY_MAX], size_t *keylen);

/*
 * If @p path (which need not exist, but its directory must) lies below the
 * directory @p root_real (a realpath), return its path relative to the root
 * in a new string; else NULL.
 */
char *tool_path_below(const char *root_real, const char *path);

/* What tool_provider_probe() found out about the m2msec provider. */
typedef struct tool_provider_info {
    int loaded;      /* the provider is loaded (from the configuration, or on request) */
    int from_config; /* the configuration activated it */
    int active;      /* its status parameter: 0 after a failed module self-check */
    char name[128];
    char version[64];
    char buildinfo[160];
} TOOL_PROVIDER_INFO;

/*
 * Load the configuration @p conf into a new library context and look at the
 * m2msec provider (activated by the configuration, else loaded by name, which
 * uses its config section if there is one). Load errors are printed.
 * Returns 0 if the configuration itself could not be read.
 */
int tool_provider_probe(const char *conf, TOOL_PROVIDER_INFO *info);

/* realpath(3) into a PATH_MAX buffer; NULL with errno set on failure. */
char *tool_realpath(const char *path, char *out);
/* tool_realpath() of the --root DIR; 0 after "root DIR: cannot resolve it". */
int tool_resolve_root(const char *root, char *out);

/*
 * t (seconds since 1970) as ISO 8601 UTC, "2027-01-31T12:00:00Z", in buf
 * (TOOL_ISO_MAX bytes); "(out of range)" when gmtime_r cannot represent it.
 * Returns buf. Printed next to the seconds wherever an expiry is shown.
 */
#define TOOL_ISO_MAX 40
const char *tool_iso_time(uint64_t t, char buf[TOOL_ISO_MAX]);

/* Current time, seconds since 1970. */
uint64_t tool_now(void);

/*
 * All of @p path ("-" or NULL: standard input), at most @p max bytes, into an
 * OPENSSL_malloc'd buffer (*len bytes; a buffer even when empty). NULL after
 * a message naming @p what; a partial read is wiped.
 */
unsigned char *tool_read_input(const char *path, size_t max, size_t *len, const char *what);

/*
 * @p len bytes to @p path ("-" or NULL: standard output), a file written
 * atomically: a temporary file next to it (mode 0600), fsync, rename. 1, or
 * 0 after a message naming @p what (nothing left at path).
 */
int tool_write_output(const char *path, const void *buf, size_t len, const char *what);

#endif
