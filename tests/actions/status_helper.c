/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Test helper for tests/cli/integrity_gate.sh: write a device integrity
 * status record with m2msec_integrity_status_write().
 *
 *   status_helper FILE KEYHEX passed|failed MANIFEST-VERSION [TIME]
 *   status_helper --policy FILE     load the policy file with m2msec_policy_load()
 *                                   and print the action for each further argument
 *
 * Exit 0 when done, 1 on failure (OpenSSL errors on stderr), 2 on usage.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/crypto.h>
#include <openssl/err.h>

#include "m2msec/integrity.h"

int main(int argc, char **argv)
{
    unsigned char *key;
    long keylen = 0;
    int passed, ok;
    unsigned long long version, when;

    if (argc >= 3 && strcmp(argv[1], "--policy") == 0) {
        m2msec_policy *p = m2msec_policy_load(argv[2]);

        if (p == NULL) {
            ERR_print_errors_fp(stderr);
            return 1;
        }
        for (int i = 3; i < argc; i++)
            printf("%s %s\n", argv[i], m2msec_action_text(m2msec_policy_action(p, argv[i])));
        m2msec_policy_free(p);
        return 0;
    }
    if (argc < 5 || argc > 6 ||
        (strcmp(argv[3], "passed") != 0 && strcmp(argv[3], "failed") != 0)) {
        fprintf(stderr, "usage: %s FILE KEYHEX passed|failed MANIFEST-VERSION [TIME]\n", argv[0]);
        return 2;
    }
    passed = strcmp(argv[3], "passed") == 0;
    version = strtoull(argv[4], NULL, 10);
    when = argc == 6 ? strtoull(argv[5], NULL, 10) : (unsigned long long)time(NULL);
    key = OPENSSL_hexstr2buf(argv[2], &keylen);
    if (key == NULL) {
        fprintf(stderr, "%s: KEYHEX is not hex\n", argv[0]);
        return 2;
    }
    ok = m2msec_integrity_status_write(NULL, argv[1], key, (size_t)keylen, passed, version, when);
    OPENSSL_clear_free(key, (size_t)keylen);
    if (!ok) {
        ERR_print_errors_fp(stderr);
        return 1;
    }
    return 0;
}
