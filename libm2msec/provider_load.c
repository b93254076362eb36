/* libm2msec: loading the m2msec provider into a library context. */
#include <openssl/err.h>
#include <openssl/provider.h>

#include "m2msec/m2msec.h"

#ifndef M2M_VERSION
#define M2M_VERSION "0.0.0"
#endif

const char *m2msec_version(void)
{
    return M2M_VERSION;
}

OSSL_PROVIDER *m2msec_provider_load(OSSL_LIB_CTX *libctx, const char *dir, OSSL_PROVIDER **deflt)
{
    OSSL_PROVIDER *prov;

    if (deflt != NULL)
        *deflt = NULL;
    if (dir != NULL && !OSSL_PROVIDER_set_default_search_path(libctx, dir))
        return NULL;
    prov = OSSL_PROVIDER_load(libctx, "m2msec");
    if (prov == NULL || deflt == NULL)
        return prov;
    /* Loading any provider explicitly switches off the implicit default. */
    if (!OSSL_PROVIDER_available(libctx, "default") &&
        (*deflt = OSSL_PROVIDER_load(libctx, "default")) == NULL) {
        OSSL_PROVIDER_unload(prov);
        return NULL;
    }
    return prov;
}
