/* CUnit assertions with a formatted message, and the test run (unit_check.h). */
#include <stdarg.h>
#include <stdio.h>

#include <CUnit/Basic.h>

#include "unit_check.h"

void check_at(int ok, const char *file, unsigned int line, const char *func, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    CU_assertImplementation(ok ? CU_TRUE : CU_FALSE, line, msg, file, func, CU_FALSE);
}

int unit_run_tests(void)
{
    unsigned int failures;

    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    failures = CU_get_number_of_failures() + CU_get_number_of_suites_failed() +
               CU_get_number_of_tests_failed();
    printf("\n%u assertions run, %u failed\n", CU_get_number_of_asserts(),
           CU_get_number_of_failures());
    CU_cleanup_registry();
    return failures != 0 ? 1 : 0;
}
