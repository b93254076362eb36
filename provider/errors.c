/* m2msec provider: readable error reasons raised through the core. */
#include <stdarg.h>
#include <stdio.h>

#include "errors.h"

static const OSSL_CORE_HANDLE *err_handle;
static OSSL_FUNC_core_new_error_fn *c_new_error;
static OSSL_FUNC_core_set_error_debug_fn *c_set_error_debug;
static OSSL_FUNC_core_vset_error_fn *c_vset_error;

static const OSSL_ITEM reason_strings[] = {
    {M2M_R_MISSING_KEY, "missing key"},
    {M2M_R_KEY_TOO_SHORT, "key shorter than policy minimum"},
    {M2M_R_LIFETIME_EXCEEDS_POLICY, "lifetime exceeds policy maximum"},
    {M2M_R_MISSING_PARAMETER, "missing parameter"},
    {M2M_R_INVALID_PARAMETER, "invalid parameter"},
    {M2M_R_INVALID_UTF8, "invalid UTF-8"},
    {M2M_R_UNKNOWN_DERIVATION, "unknown derivation"},
    {M2M_R_BAD_OUTPUT_LENGTH, "bad output length"},
    {M2M_R_UNKNOWN_DIGEST, "unsupported digest"},
    {M2M_R_FIELD_TOO_LONG, "field too long"},
    {M2M_R_BAD_POLICY, "bad security policy"},
    {M2M_R_FETCH_FAILED, "algorithm fetch failed"},
    {M2M_R_CRYPTO_FAILED, "cryptographic operation failed"},
    {M2M_R_MALLOC_FAILURE, "out of memory"},
    {M2M_R_REPLAYED_RECORD, "replayed record"},
    {M2M_R_OUTSIDE_WINDOW, "record outside replay window"},
    {M2M_R_AUTH_FAILED, "authentication failed"},
    {M2M_R_KEY_EXPIRED, "session key expired"},
    {M2M_R_KEY_REUSED, "key already used for encryption"},
    {M2M_R_BAD_STATE, "operation out of order"},
    {M2M_R_COPY_REFUSED, "record context cannot be copied"},
    {M2M_R_NOT_ALLOWED, "not allowed by policy"},
    {M2M_R_INTEGRITY_FAILED, "device integrity not verified"},
    {M2M_R_MODULE_INTEGRITY, "module integrity check failed"},
    {0, NULL},
};

const OSSL_ITEM *m2m_reason_strings(void)
{
    return reason_strings;
}

void m2m_errors_init(const OSSL_CORE_HANDLE *handle, const OSSL_DISPATCH *in)
{
    err_handle = handle;
    for (; in->function_id != 0; in++) {
        switch (in->function_id) {
        case OSSL_FUNC_CORE_NEW_ERROR:
            c_new_error = OSSL_FUNC_core_new_error(in);
            break;
        case OSSL_FUNC_CORE_SET_ERROR_DEBUG:
            c_set_error_debug = OSSL_FUNC_core_set_error_debug(in);
            break;
        case OSSL_FUNC_CORE_VSET_ERROR:
            c_vset_error = OSSL_FUNC_core_vset_error(in);
            break;
        default:
            break;
        }
    }
}

void m2m_raise_at(const char *file, int line, const char *func, int reason, const char *fmt, ...)
{
    va_list ap;

    if (c_new_error == NULL || c_set_error_debug == NULL || c_vset_error == NULL)
        return;
    c_new_error(err_handle);
    c_set_error_debug(err_handle, file, line, func);
    va_start(ap, fmt);
    c_vset_error(err_handle, (uint32_t)reason, fmt, ap);
    va_end(ap);
}
