/* SPDX-License-Identifier: Apache-2.0 */
/* Running a CUnit program (see test_run.h). */
#include "test_run.h"

#include <stdarg.h>
#include <stdio.h>

#include <CUnit/Basic.h>

unsigned long tc_checks;
void (*tc_fail_hook)(const char *msg);

void tc_check_at(int ok, const char *file, unsigned line, const char *func, const char *fmt, ...)
{
    char msg[768];
    va_list ap;

    tc_checks++;
    if (ok) {
        CU_assertImplementation(CU_TRUE, line, "", file, func, CU_FALSE);
        return;
    }
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    fprintf(stderr, "FAILED %s:%u: %s\n", file, line, msg);
    if (tc_fail_hook != NULL)
        tc_fail_hook(msg);
    CU_assertImplementation(CU_FALSE, line, msg, file, func, CU_FALSE);
}

int tc_run(const char *prog, const char *suite, CU_InitializeFunc init, CU_CleanupFunc cleanup,
           const tc_test *tests, size_t n)
{
    CU_pSuite s;
    unsigned failures;

    if (CU_initialize_registry() != CUE_SUCCESS)
        return 2;
    s = CU_add_suite(suite, init, cleanup);
    for (size_t i = 0; s != NULL && i < n; i++)
        if (CU_add_test(s, tests[i].name, tests[i].fn) == NULL)
            s = NULL;
    if (s == NULL) {
        fprintf(stderr, "%s: CUnit: %s\n", prog, CU_get_error_msg());
        CU_cleanup_registry();
        return 2;
    }
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    failures = CU_get_number_of_failures() + CU_get_number_of_tests_failed() +
               CU_get_number_of_suites_failed();
    if (tc_checks > 0) /* CHECKs made in forked children are counted here, not by CUnit */
        printf("%s: %u assertions, %lu CHECKs, %u failed\n", prog, CU_get_number_of_asserts(),
               tc_checks, CU_get_number_of_failures());
    else
        printf("%s: %u assertions, %u failed\n", prog, CU_get_number_of_asserts(),
               CU_get_number_of_failures());
    if (CU_get_error() != CUE_SUCCESS)
        failures++;
    CU_cleanup_registry();
    return failures == 0 ? 0 : 1;
}
