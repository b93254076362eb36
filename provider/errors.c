/* SPDX-License-Identifier: Apache-2.0 */
/* m2msec provider: readable error reasons raised through the core. */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <openssl/crypto.h>

#include "errors.h"
#include "io.h"

/*
 * Where errors go: the core handle (and error functions) of a loaded
 * instance. Every library context that loads m2msec has its own instance,
 * but they all share this module's statics, so one remembered handle
 * would be the last instance's, and dangle once that instance is unloaded
 * while another one still raises errors (a use after free in the core).
 * Instead, every live instance is listed here, from its init to its
 * teardown, and errors go through the oldest one still loaded: the reasons
 * and their texts are the same for every instance (only the library number
 * differs, see m2msec/errors.h). The lock keeps a handle listed, hence its
 * instance loaded, while an error is raised through it.
 */
typedef struct {
    const OSSL_CORE_HANDLE *handle;
    OSSL_FUNC_core_new_error_fn *new_error;
    OSSL_FUNC_core_set_error_debug_fn *set_error_debug;
    OSSL_FUNC_core_vset_error_fn *vset_error;
} err_sink;

static pthread_mutex_t sinks_lock = PTHREAD_MUTEX_INITIALIZER;
static err_sink *sinks;
static size_t nsinks, capsinks;

/* Made from the one list of reasons in m2msec/errors.h (M2MSEC_REASONS). */
static const OSSL_ITEM reason_strings[] = {
#define M2M_REASON_ITEM(name, number, text) {M2MSEC_R_##name, text},
    M2MSEC_REASONS(M2M_REASON_ITEM)
#undef M2M_REASON_ITEM
        {0, NULL},
};

const OSSL_ITEM *m2m_reason_strings(void)
{
    return reason_strings;
}

static void sink_raise(const err_sink *s, const char *file, int line, const char *func, int reason,
                       const char *fmt, va_list ap)
{
    s->new_error(s->handle);
    s->set_error_debug(s->handle, file, line, func);
    s->vset_error(s->handle, (uint32_t)reason, fmt, ap);
}

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static void
sink_raise_now(const err_sink *s, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    sink_raise(s, OPENSSL_FILE, OPENSSL_LINE, OPENSSL_FUNC, M2MSEC_R_MALLOC_FAILURE, fmt, ap);
    va_end(ap);
}

int m2m_errors_init(const OSSL_CORE_HANDLE *handle, const OSSL_DISPATCH *in)
{
    err_sink s = {handle, NULL, NULL, NULL};
    int ok = 1;

    for (; in->function_id != 0; in++) {
        switch (in->function_id) {
        case OSSL_FUNC_CORE_NEW_ERROR:
            s.new_error = OSSL_FUNC_core_new_error(in);
            break;
        case OSSL_FUNC_CORE_SET_ERROR_DEBUG:
            s.set_error_debug = OSSL_FUNC_core_set_error_debug(in);
            break;
        case OSSL_FUNC_CORE_VSET_ERROR:
            s.vset_error = OSSL_FUNC_core_vset_error(in);
            break;
        default:
            break;
        }
    }
    if (s.new_error == NULL || s.set_error_debug == NULL || s.vset_error == NULL)
        return 1; /* a core without error functions: errors are not raised */
    pthread_mutex_lock(&sinks_lock);
    {
        err_sink *n = m2m_grow(sinks, nsinks, &capsinks, sizeof(*n), 4);

        if (n == NULL)
            ok = 0;
        else
            sinks = n;
    }
    if (ok)
        sinks[nsinks++] = s;
    pthread_mutex_unlock(&sinks_lock);
    if (!ok)
        sink_raise_now(&s, "m2msec: out of memory at provider load");
    return ok;
}

void m2m_errors_release(const OSSL_CORE_HANDLE *handle)
{
    pthread_mutex_lock(&sinks_lock);
    for (size_t i = 0; i < nsinks; i++)
        if (sinks[i].handle == handle) {
            memmove(&sinks[i], &sinks[i + 1], (nsinks - i - 1) * sizeof(*sinks));
            nsinks--;
            break;
        }
    if (nsinks == 0) {
        OPENSSL_free(sinks);
        sinks = NULL;
        capsinks = 0;
    }
    pthread_mutex_unlock(&sinks_lock);
}

void m2m_raise_at(const char *file, int line, const char *func, int reason, const char *fmt, ...)
{
    va_list ap;

    pthread_mutex_lock(&sinks_lock);
    if (nsinks > 0) {
        va_start(ap, fmt);
        sink_raise(&sinks[0], file, line, func, reason, fmt, ap);
        va_end(ap);
    }
    pthread_mutex_unlock(&sinks_lock);
}
