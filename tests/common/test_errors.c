/* SPDX-License-Identifier: Apache-2.0 */
/* The OpenSSL error queue as text (see test_errors.h). */
#include "test_errors.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>

static int append_cb(const char *str, size_t len, void *u)
{
    char **acc = u;
    size_t old = *acc != NULL ? strlen(*acc) : 0;
    char *n = realloc(*acc, old + len + 2);

    if (n == NULL)
        abort();
    memcpy(n + old, str, len);
    n[old + len] = '\0';
    *acc = n;
    return 1;
}

char *errors_text(void)
{
    char *acc = NULL;

    ERR_print_errors_cb(append_cb, &acc);
    if (acc == NULL)
        acc = calloc(1, 1);
    if (acc == NULL)
        abort();
    return acc;
}

int errors_have(const char *first, ...)
{
    char *t = errors_text();
    const char *s = first;
    int ok = 1;
    va_list ap;

    va_start(ap, first);
    for (; s != NULL; s = va_arg(ap, const char *)) {
        if (strstr(t, s) == NULL) {
            fprintf(stderr, "\n  error text lacks \"%s\":\n%s\n", s, t);
            ok = 0;
        }
    }
    va_end(ap);
    free(t);
    return ok;
}
