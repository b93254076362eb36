/* SPDX-License-Identifier: Apache-2.0 */
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

/*
 * libcrypto's provider loading can fail without queueing anything (OpenSSL
 * 3.0.x: an allocation failure inside the provider store, a module whose
 * init returned 0 before its error strings were registered). Every failure
 * of this function therefore queues an error of its own, on top of whatever
 * libcrypto queued, naming what could not be loaded and where to look.
 */
static void load_failed(const char *name, const char *dir)
{
    ERR_raise_data(ERR_LIB_USER, ERR_R_OPERATION_FAIL,
                   "m2msec: cannot load the '%s' provider from %s; check that the module exists "
                   "and that its configuration section is valid (openssl list -providers shows "
                   "the reason)",
                   name, dir != NULL ? dir : "OpenSSL's modules directory");
}

OSSL_PROVIDER *m2msec_provider_load(OSSL_LIB_CTX *libctx, const char *dir, OSSL_PROVIDER **deflt)
{
    OSSL_PROVIDER *prov;

    if (deflt != NULL)
        *deflt = NULL;
    if (dir != NULL && !OSSL_PROVIDER_set_default_search_path(libctx, dir)) {
        ERR_raise_data(ERR_LIB_USER, ERR_R_OPERATION_FAIL,
                       "m2msec: cannot set the provider search path to %s", dir);
        return NULL;
    }
    prov = OSSL_PROVIDER_load(libctx, "m2msec");
    if (prov == NULL) {
        load_failed("m2msec", dir);
        return NULL;
    }
    if (deflt == NULL)
        return prov;
    /* Loading any provider explicitly switches off the implicit default. */
    if (!OSSL_PROVIDER_available(libctx, "default") &&
        (*deflt = OSSL_PROVIDER_load(libctx, "default")) == NULL) {
        load_failed("default", NULL);
        OSSL_PROVIDER_unload(prov);
        return NULL;
    }
    return prov;
}
