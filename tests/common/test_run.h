/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Running a CUnit program: CHECK(cond, fmt, ...), an assertion whose
 * message is formatted only when it fails, and tc_run(), which registers
 * one suite of tests, runs it verbosely and gives the exit status of main.
 */
#ifndef M2MSEC_TESTS_COMMON_TEST_RUN_H
#define M2MSEC_TESTS_COMMON_TEST_RUN_H

#include <stddef.h>

#include <CUnit/CUnit.h>

/* Number of CHECKs made so far (a forked child can report its own to its parent). */
extern unsigned long tc_checks;
/* When set, every failed CHECK's message is also passed here. */
extern void (*tc_fail_hook)(const char *msg);

__attribute__((format(printf, 5, 6))) void tc_check_at(int ok, const char *file, unsigned line,
                                                       const char *func, const char *fmt, ...);

#define CHECK(cond, ...) tc_check_at((cond) ? 1 : 0, __FILE__, __LINE__, __func__, __VA_ARGS__)

typedef struct {
    const char *name;
    CU_TestFunc fn;
} tc_test;

/*
 * Runs @p tests in one suite named @p suite (with @p init and @p cleanup,
 * either may be NULL) and prints "PROG: N assertions, N failed" (with the
 * number of CHECKs when there were any). The exit
 * status for main: 0 if everything passed, 1 if anything failed, 2 if the
 * tests could not be registered.
 */
int tc_run(const char *prog, const char *suite, CU_InitializeFunc init, CU_CleanupFunc cleanup,
           const tc_test *tests, size_t n);

#endif
