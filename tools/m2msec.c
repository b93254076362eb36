/* SPDX-License-Identifier: Apache-2.0 */
/*
 * m2msec: device integrity and provider administration for the m2msec
 * OpenSSL provider. This file dispatches to the subcommands (cmd_*.c).
 *
 * Exit codes of every subcommand: 0 ok, 1 integrity failure (verification
 * failed, signature bad, manifest refused, exec refused), 2 usage or input
 * error. Errors go to stderr as text; key material is never printed.
 */
#include <stdio.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/err.h>

#include "tool.h"

#ifndef M2M_VERSION
#define M2M_VERSION "unknown"
#endif

static void usage(FILE *out)
{
    fputs("usage: m2msec COMMAND [OPTIONS] [ARGS]\n"
          "\n"
          "Device integrity and provider administration for the m2msec OpenSSL provider.\n"
          "\n"
          "Commands:\n"
          "  manifest create   hash a directory tree into a manifest\n"
          "  manifest sign     sign a manifest (Ed25519 or ECDSA P-256)\n"
          "  manifest verify   check a manifest's signature, expiry and version\n"
          "  verify            verify a tree against a signed manifest, apply the policy\n"
          "  exec              verify a program, then run exactly the verified bytes\n"
          "  provider-install  write an openssl.cnf with the provider's module MAC\n"
          "  status            show the provider, the policy and the integrity status\n"
          "  state             initialise (first start) or show a record session's state\n"
          "  esprim            oneM2M ESPrim objects (JWE): RandObjects, seal, open\n"
          "  record            seal and open records of a record session (replay-checked)\n"
          "  keygen            generate a device key or a manifest signing key pair\n"
          "\n"
          "Options:\n"
          "  -h, --help        show this help\n"
          "  --version         show the version\n"
          "\n"
          "'m2msec COMMAND --help' describes a command.\n"
          "\n"
          "Exit codes:\n"
          "  0  success (the device may run)\n"
          "  1  integrity failure: verification failed, bad signature, manifest or exec refused\n"
          "  2  usage or input error\n",
          out);
}

int main(int argc, char **argv)
{
    const char *cmd;
    int rc;

    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    cmd = argv[1];
    if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0) {
        usage(stdout);
        return EXIT_OK;
    }
    if (strcmp(cmd, "--version") == 0) {
        printf("m2msec %s (%s)\n", M2M_VERSION, OpenSSL_version(OPENSSL_VERSION));
        return EXIT_OK;
    }
    if (strcmp(cmd, "manifest") == 0)
        rc = cmd_manifest(argc - 1, argv + 1);
    else if (strcmp(cmd, "verify") == 0)
        rc = cmd_verify(argc - 1, argv + 1);
    else if (strcmp(cmd, "exec") == 0)
        rc = cmd_exec(argc - 1, argv + 1);
    else if (strcmp(cmd, "provider-install") == 0)
        rc = cmd_provider_install(argc - 1, argv + 1);
    else if (strcmp(cmd, "status") == 0)
        rc = cmd_status(argc - 1, argv + 1);
    else if (strcmp(cmd, "state") == 0)
        rc = cmd_state(argc - 1, argv + 1);
    else if (strcmp(cmd, "esprim") == 0)
        rc = cmd_esprim(argc - 1, argv + 1);
    else if (strcmp(cmd, "record") == 0)
        rc = cmd_record(argc - 1, argv + 1);
    else if (strcmp(cmd, "keygen") == 0)
        rc = cmd_keygen(argc - 1, argv + 1);
    else {
        tool_err("unknown command '%s'", tool_name(cmd));
        fputs("Try 'm2msec --help'.\n", stderr);
        return EXIT_USAGE;
    }
    /* a failure's causes are worth showing; after success, leftovers are noise */
    if (rc != EXIT_OK)
        tool_print_errors();
    ERR_clear_error();
    if (fflush(stdout) != 0 || ferror(stdout)) {
        tool_err("cannot write the output");
        return rc == EXIT_OK ? EXIT_USAGE : rc;
    }
    return rc;
}
