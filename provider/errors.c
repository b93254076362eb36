/* m2msec provider: readable error reasons raised through the core. */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <openssl/crypto.h>

#include "errors.h"

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
    {M2M_R_FORKED, "context used in a forked child"},
    /* ESPrim (libm2msec, m2msec/esprim.h): the provider only lists their texts */
    {M2MSEC_R_JWE_PARTS, "JWE not in compact form"},
    {M2MSEC_R_JWE_BASE64, "invalid base64url"},
    {M2MSEC_R_JWE_TOO_LARGE, "JWE part too large"},
    {M2MSEC_R_JWE_BAD_HEADER, "malformed JWE header"},
    {M2MSEC_R_JSON_DUPLICATE, "duplicate JSON member"},
    {M2MSEC_R_JWE_ALG_NONE, "unsecured JWE (alg none) refused"},
    {M2MSEC_R_JWE_UNSUPPORTED_ALG, "unsupported JWE algorithm"},
    {M2MSEC_R_JWE_ZIP, "compressed JWE (zip) refused"},
    {M2MSEC_R_JWE_CRIT, "JWE critical extension (crit) refused"},
    {M2MSEC_R_JWE_BAD_LENGTH, "wrong JWE component length"},
    {M2MSEC_R_ESPRIM_UNKNOWN_KID, "unknown pairwiseESPrimKey ID"},
    {M2MSEC_R_ESPRIM_UNKNOWN_RAND, "unknown ESPrim RandObject"},
    {M2MSEC_R_ESPRIM_EXPIRED, "ESPrim RandObject expired"},
    {M2MSEC_R_ESPRIM_EXPIRY_ORDER, "originator RandObject outlives the receiver's"},
    {M2MSEC_R_ESPRIM_NOT_OFFERED, "ESPrim algorithm not offered"},
    {M2MSEC_R_ESPRIM_REPLAY, "ESPrim object replayed"},
    {M2MSEC_R_ESPRIM_BAD_RAND, "malformed ESPrim RandObject"},
    {M2MSEC_R_ESPRIM_LIMIT, "ESPrim limit reached"},
    {M2MSEC_R_ESPRIM_CLOSED, "ESPrim session closed"},
    {M2MSEC_R_ESPRIM_STATE, "ESPrim state unusable"},
    /* security associations (libm2msec, m2msec/association.h) */
    {M2MSEC_R_ASSOC_CONFIG, "bad association configuration"},
    {M2MSEC_R_ASSOC_KEYTABLE, "malformed association key table"},
    {M2MSEC_R_ASSOC_KEYTABLE_FILE, "unsafe association key table file"},
    {M2MSEC_R_ASSOC_UNKNOWN_IDENTITY, "unknown PSK identity"},
    {M2MSEC_R_ASSOC_KEY_EXPIRED, "PSK past its not-after"},
    {M2MSEC_R_ASSOC_BAD_KEY, "PSK of a bad length"},
    {M2MSEC_R_ASSOC_NO_SNI, "ClientHello without SNI"},
    {M2MSEC_R_ASSOC_WRONG_SNI, "SNI names another server"},
    {M2MSEC_R_ASSOC_INTEGRITY, "device integrity not verified: no association"},
    {M2MSEC_R_ASSOC_REESTABLISH, "association must be re-established"},
    {M2MSEC_R_ASSOC_STATE, "not an established association"},
    {M2MSEC_R_ASSOC_EXPORT, "association key export failed"},
    {M2MSEC_R_ASSOC_COOKIE, "DTLS cookie refused"},
    {M2MSEC_R_ASSOC_NOT_PSK, "association not authenticated by a PSK"},
    {M2MSEC_R_ASSOC_NOT_FINISHED, "handshake not finished after the key was found"},
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
    sink_raise(s, OPENSSL_FILE, OPENSSL_LINE, OPENSSL_FUNC, M2M_R_MALLOC_FAILURE, fmt, ap);
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
    if (nsinks == capsinks) {
        size_t ncap = capsinks == 0 ? 4 : capsinks * 2;
        err_sink *n = OPENSSL_realloc(sinks, ncap * sizeof(*n));

        if (n == NULL) {
            ok = 0;
        } else {
            sinks = n;
            capsinks = ncap;
        }
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
