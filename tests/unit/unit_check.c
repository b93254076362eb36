/* CUnit assertions with a formatted message (unit_check.h). */
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
