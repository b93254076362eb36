/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A program as a user writes it against an installed m2msec: compiled by
 * tests/install/staging.sh with the flags of `pkg-config libm2msec` from a
 * staging directory, never by meson. It prints the library version, loads
 * the provider from the directory given on the command line and prints which
 * provider M2M-SESSION-KDF comes from.
 */
#include <stdio.h>

#include <m2msec/m2msec.h>
#include <openssl/err.h>
#include <openssl/kdf.h>
#include <openssl/provider.h>

int main(int argc, char **argv)
{
    OSSL_PROVIDER *prov, *deflt = NULL;
    EVP_KDF *kdf;
    int ok = 0;

    if (argc != 2) {
        fprintf(stderr, "usage: %s MODULES_DIR\n", argv[0]);
        return 2;
    }
    printf("version %s\n", m2msec_version());
    prov = m2msec_provider_load(NULL, argv[1], &deflt);
    if (prov == NULL) {
        ERR_print_errors_fp(stderr);
        return 1;
    }
    kdf = EVP_KDF_fetch(NULL, "M2M-SESSION-KDF", NULL);
    if (kdf != NULL) {
        printf("M2M-SESSION-KDF from %s\n", OSSL_PROVIDER_get0_name(EVP_KDF_get0_provider(kdf)));
        ok = 1;
    } else {
        ERR_print_errors_fp(stderr);
    }
    EVP_KDF_free(kdf);
    OSSL_PROVIDER_unload(prov);
    if (deflt != NULL)
        OSSL_PROVIDER_unload(deflt);
    return ok ? 0 : 1;
}
