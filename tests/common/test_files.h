/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Files and shell commands for the C tests: formatted paths that must fit,
 * running a command (exit status or standard output), writing and reading
 * whole files. libc only (never OPENSSL_malloc), so the counting
 * allocators of tests/hardening do not see them. Every function that
 * cannot go on (a path that does not fit, a file that cannot be written by
 * write_bytes) aborts the test program with a message.
 */
#ifndef M2MSEC_TESTS_COMMON_TEST_FILES_H
#define M2MSEC_TESTS_COMMON_TEST_FILES_H

#include <stddef.h>
#include <sys/types.h>

/* snprintf() into a path buffer; a path that does not fit aborts. */
__attribute__((format(printf, 3, 4))) void pathf(char *buf, size_t len, const char *fmt, ...);

/* system() of the formatted command: its exit status, or -1 if it did not exit normally. */
__attribute__((format(printf, 1, 2))) int run(const char *fmt, ...);

/* Standard output of the formatted shell command (malloc'd, NUL-terminated), or NULL if it
 * could not run or exited non-zero. */
__attribute__((format(printf, 1, 2))) char *run_out(const char *fmt, ...);

/* Creates or truncates @p path with exactly @p len bytes and mode @p mode (umask does not
 * apply). 1 on success, 0 on failure. */
int write_file(const char *path, const void *data, size_t len, mode_t mode);

/* write_file() that aborts on failure. */
void write_bytes(const char *path, const void *data, size_t len, mode_t mode);
void write_text(const char *path, const char *text, mode_t mode);

/* Whole file (malloc'd, NUL-terminated; its length in *len if len is not NULL), or NULL. */
char *read_all(const char *path, size_t *len);

/* 1 if something (even a dangling symbolic link) is at @p path. */
int file_exists(const char *path);

/* A new private directory "$TMPDIR/m2msec-@p name-XXXXXX" ($TMPDIR unset or empty: /tmp) into
 * @p buf; 1 on success, 0 (with errno) if it could not be made. A name that does not fit aborts. */
int make_temp_dir(char *buf, size_t len, const char *name);

/* Removes @p path and everything below it, never following a symbolic link (a directory without
 * search or write permission is opened up first). Errors are ignored: test clean-up only. */
void remove_tree(const char *path);

#endif
