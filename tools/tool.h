/*
 * The m2msec command-line tool: what the subcommands share (exit codes,
 * option helpers, error printing). Each subcommand lives in its own
 * cmd_*.c file; m2msec.c dispatches.
 */
#ifndef M2MSEC_TOOL_H
#define M2MSEC_TOOL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Exit codes, the same for every subcommand. */
#define EXIT_OK 0        /* done; the device may run */
#define EXIT_INTEGRITY 1 /* verification failed, signature bad, manifest or exec refused */
#define EXIT_USAGE 2     /* bad usage or unusable input (missing file, unreadable key, ...) */

/* Longest device key (bytes), as the provider accepts it. */
#define TOOL_DEVICE_KEY_MAX 64

/* Subcommands: argv[0] is the subcommand's own name. */
int cmd_manifest(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_exec(int argc, char **argv);
int cmd_provider_install(int argc, char **argv);
int cmd_status(int argc, char **argv);

/* "m2msec: " + message on stderr. */
void tool_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Print (and clear) the OpenSSL error queue as readable lines on stderr. */
void tool_print_errors(void);
/* A usage error: message, then "Try 'm2msec CMD --help'."; returns EXIT_USAGE. */
int tool_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * After getopt_long() returned '?' (opterr = 0): say which argument was bad
 * (unknown option or missing value); returns EXIT_USAGE.
 */
int tool_bad_option(const char *cmd, char **argv);

/* Strict decimal u64 (digits only, no sign, no overflow) in [lo, hi]; 1 on success. */
int tool_parse_u64(const char *text, uint64_t lo, uint64_t hi, uint64_t *out);
/* --jobs N: 0 (one per core) .. 256. */
int tool_parse_jobs(const char *cmd, const char *text, unsigned *jobs);

/*
 * Read a device key file: 16..64 bytes as hex, white space ignored (the
 * format of the provider's device_key_file). 1 on success; on failure a
 * message naming the file (never the key) is printed.
 */
int tool_read_device_key(const char *path, unsigned char key[TOOL_DEVICE_KEY_MAX], size_t *keylen);

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

/* Current time, seconds since 1970. */
uint64_t tool_now(void);

#endif
