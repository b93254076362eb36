/* SPDX-License-Identifier: Apache-2.0 */
/*
 * m2msec provider-install: compute the module MAC of m2msec.so (the
 * provider's own FIPS-style self-check; common/module_mac.c, the code the
 * provider uses) and write the openssl.cnf that loads the provider with it.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/bio.h>
#include <openssl/conf.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include "m2msec/integrity.h"
#include "module_mac.h"
#include "io.h"
#include "tool.h"

#ifndef M2M_MODULESDIR
#define M2M_MODULESDIR "/usr/lib/ossl-modules"
#endif
#define DEFAULT_MODULE M2M_MODULESDIR "/m2msec.so"
#define CONF_MAX 8192

static void usage(FILE *out)
{
    fputs("usage: m2msec provider-install [--module PATH] [--policy FILE] [-o FILE]\n"
          "                               [--section-only] [--no-check]\n"
          "\n"
          "Compute the module MAC of m2msec.so (HMAC-SHA-256 with the fixed, public key of\n"
          "the FIPS-style self-check) and write an OpenSSL configuration that loads the\n"
          "provider with it: openssl_init, provider_sect, default_sect (default activated)\n"
          "and [m2msec_sect] with module, activate, module-mac and policy. It works as a\n"
          "standalone OPENSSL_CONF. The provider re-hashes its module file at load; if it\n"
          "no longer matches, it stays inactive and refuses every operation.\n"
          "\n"
          "Options:\n"
          "  --module PATH          module to install (default: " DEFAULT_MODULE ")\n"
          "  --policy FILE          device policy file, named as 'policy =' (must exist)\n"
          "  -o, --output FILE      write FILE atomically (default: standard output)\n"
          "  --section-only         write only [m2msec_sect], to .include from an existing\n"
          "                         openssl.cnf (see m2msec(1))\n"
          "  --no-check             with -o: do not load the provider from the new file\n"
          "                         before putting it in place (e.g. for another device)\n"
          "  -h, --help             show this help\n"
          "\n"
          "With -o (and without --section-only, --no-check) the file is written only if\n"
          "the provider loads from it and its self-check passes.\n"
          "\n"
          "Exit codes: 0 written, 1 the provider does not load or its self-check fails\n"
          "with the new file (nothing written), 2 usage or input error.\n",
          out);
}

/*
 * value as an openssl.cnf value: backslash before the characters the
 * parser treats specially. Refuses what cannot be written safely.
 */
static int conf_escape(const char *what, const char *value, char *out, size_t cap)
{
    size_t n = strlen(value), o = 0;

    if (n == 0 || value[0] == ' ' || value[0] == '\t' || value[n - 1] == ' ' ||
        value[n - 1] == '\t') {
        tool_err("%s '%s' cannot be written into openssl.cnf (empty, or blanks at an end)", what,
                 tool_name(value));
        return 0;
    }
    for (const char *p = value; *p != '\0'; p++) {
        if ((unsigned char)*p < 0x20 || *p == 0x7f) {
            tool_err("%s contains a control character; it cannot be written into openssl.cnf",
                     what);
            return 0;
        }
        if (o + 3 > cap) {
            tool_err("%s is too long", what);
            return 0;
        }
        if (strchr("\\\"'#$", *p) != NULL)
            out[o++] = '\\';
        out[o++] = *p;
    }
    out[o] = '\0';
    return 1;
}

/* Parse the rendered text back, and check that the values read are the ones meant. */
static int conf_roundtrip(const char *text, const char *module, const char *mac, const char *policy)
{
    BIO *bio = BIO_new_mem_buf(text, -1);
    CONF *conf = NCONF_new(NULL);
    long line = -1;
    const char *v;
    int ok = 0;

    if (bio == NULL || conf == NULL || NCONF_load_bio(conf, bio, &line) <= 0)
        goto end;
    ok = (v = NCONF_get_string(conf, "m2msec_sect", "module")) != NULL && strcmp(v, module) == 0 &&
         (v = NCONF_get_string(conf, "m2msec_sect", "module-mac")) != NULL && strcmp(v, mac) == 0;
    if (ok && policy != NULL)
        ok =
            (v = NCONF_get_string(conf, "m2msec_sect", "policy")) != NULL && strcmp(v, policy) == 0;
end:
    ERR_clear_error();
    if (!ok)
        tool_err("internal error: the configuration does not read back as written");
    NCONF_free(conf);
    BIO_free(bio);
    return ok;
}

static int render(char *out, size_t cap, const char *module, const char *mac, const char *policy,
                  int section_only)
{
    char emod[PATH_MAX * 2 + 1], epol[PATH_MAX * 2 + 1];
    int n;

    if (!conf_escape("module path", module, emod, sizeof(emod)) ||
        (policy != NULL && !conf_escape("policy path", policy, epol, sizeof(epol))))
        return 0;
    n = snprintf(out, cap,
                 "# Written by m2msec provider-install (m2msec(1)).\n"
                 "# module-mac is the HMAC-SHA-256, under the fixed public key of the\n"
                 "# FIPS-style self-check, of the module file. At load the provider hashes\n"
                 "# its module again; on a mismatch it stays inactive and refuses every\n"
                 "# operation (\"module integrity check failed\"). Run provider-install again\n"
                 "# after every update of the module.\n"
                 "%s"
                 "[m2msec_sect]\n"
                 "module = %s\n"
                 "activate = 1\n"
                 "module-mac = %s\n"
                 "%s%s%s",
                 section_only ? ""
                              : "# Use it as OPENSSL_CONF=FILE, or see m2msec(1) to include it\n"
                                "# from /etc/ssl/openssl.cnf.\n"
                                "openssl_conf = openssl_init\n"
                                "\n"
                                "[openssl_init]\n"
                                "providers = provider_sect\n"
                                "\n"
                                "[provider_sect]\n"
                                "default = default_sect\n"
                                "m2msec = m2msec_sect\n"
                                "\n"
                                "# Activating any provider from the configuration switches off\n"
                                "# the implicit default provider: activate it explicitly.\n"
                                "[default_sect]\n"
                                "activate = 1\n"
                                "\n",
                 emod, mac, policy != NULL ? "policy = " : "", policy != NULL ? epol : "",
                 policy != NULL ? "\n" : "");
    if (n <= 0 || (size_t)n >= cap) {
        tool_err("the configuration is too long");
        return 0;
    }
    return conf_roundtrip(out, module, mac, policy);
}

/* Temp file next to path, 0644, data written and fsync'ed; its name in tmp. */
static int write_temp(const char *path, const char *text, char *tmp, size_t cap)
{
    int fd;

    if ((size_t)snprintf(tmp, cap, "%s.tmp.XXXXXX", path) >= cap) {
        tool_err("%s: path too long", tool_name(path));
        return 0;
    }
    if ((fd = mkstemp(tmp)) < 0) {
        tool_err("cannot create a temporary file next to %s: %s", tool_name(path), strerror(errno));
        return 0;
    }
    if (fchmod(fd, 0644) != 0 || !m2m_write_all(fd, text, strlen(text)) || fsync(fd) != 0) {
        tool_err("cannot write %s: %s", tool_name(tmp), strerror(errno));
        close(fd);
        unlink(tmp);
        return 0;
    }
    if (close(fd) != 0) {
        tool_err("cannot write %s: %s", tool_name(tmp), strerror(errno));
        unlink(tmp);
        return 0;
    }
    return 1;
}

static int put_in_place(const char *tmp, const char *path)
{
    char *copy;
    int dfd;

    if (rename(tmp, path) != 0) {
        tool_err("cannot rename %s to %s: %s", tool_name(tmp), tool_name(path), strerror(errno));
        unlink(tmp);
        return 0;
    }
    if ((copy = strdup(path)) != NULL) {
        dfd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
            fsync(dfd);
            close(dfd);
        }
        free(copy);
    }
    return 1;
}

/* The command line of provider-install. */
typedef struct {
    const char *module, *policy, *out;
    int section_only, check;
} INSTALL_ARGS;

static int install_option(const char *cmd, void *ctx, int c, const char *arg)
{
    INSTALL_ARGS *ia = ctx;

    switch (c) {
    case 'M':
        ia->module = arg;
        return 0;
    case 'P':
        ia->policy = arg;
        return 0;
    case 'o':
        ia->out = arg;
        return 0;
    case 's':
        ia->section_only = 1;
        return 0;
    case 'n':
        ia->check = 0;
        return 0;
    default:
        return tool_usage_error(cmd, "unknown option -%c", c);
    }
}

int cmd_provider_install(int argc, char **argv)
{
    static const struct option opts[] = {
        {"module", required_argument, NULL, 'M'}, {"policy", required_argument, NULL, 'P'},
        {"output", required_argument, NULL, 'o'}, {"section-only", no_argument, NULL, 's'},
        {"no-check", no_argument, NULL, 'n'},     TOOL_OPTS_END,
    };
    static const TOOL_CMD cmd = {"provider-install", "o:h", opts, usage, 0, install_option};
    INSTALL_ARGS ia = {.module = DEFAULT_MODULE, .check = 1};
    const char *module, *policy, *out;
    char module_real[PATH_MAX], policy_real[PATH_MAX], tmp[PATH_MAX + 16], hex[2 * 32 + 1];
    char *text = NULL;
    unsigned char mac[M2M_MODULE_MAC_LEN];
    EVP_MAC *hmac = NULL;
    m2msec_policy *pol;
    struct stat st;
    int rc = tool_parse_options(&cmd, argc, argv, &ia);

    if (rc != TOOL_PARSED)
        return rc;
    rc = EXIT_USAGE;
    module = ia.module;
    policy = ia.policy;
    out = ia.out;
    if (tool_realpath(module, module_real) == NULL) {
        tool_err("module %s: %s", tool_name(module), strerror(errno));
        return EXIT_USAGE;
    }
    if (stat(module_real, &st) != 0 || !S_ISREG(st.st_mode)) {
        tool_err("module %s: not a regular file", tool_name(module));
        return EXIT_USAGE;
    }
    if (policy != NULL) {
        if (tool_realpath(policy, policy_real) == NULL) {
            tool_err("policy %s: %s", tool_name(policy), strerror(errno));
            return EXIT_USAGE;
        }
        if ((pol = tool_policy_load(policy_real, policy)) == NULL)
            return EXIT_USAGE;
        m2msec_policy_free(pol);
        policy = policy_real;
    }
    hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    if (hmac == NULL || !m2m_module_mac(hmac, module_real, mac)) {
        tool_fail("cannot compute the module MAC of %s", tool_name(module_real));
        goto end;
    }
    for (size_t i = 0; i < sizeof(mac); i++)
        snprintf(hex + 2 * i, 3, "%02x", mac[i]);
    if ((text = malloc(CONF_MAX)) == NULL ||
        !render(text, CONF_MAX, module_real, hex, policy, ia.section_only))
        goto end;

    if (out == NULL) {
        fputs(text, stdout);
        rc = EXIT_OK;
        goto end;
    }
    if (!write_temp(out, text, tmp, sizeof(tmp)))
        goto end;
    if (ia.check && !ia.section_only) {
        TOOL_PROVIDER_INFO info;

        if (!tool_provider_probe(tmp, &info) || !info.loaded || !info.active) {
            tool_err("the provider %s with the new configuration; %s left unchanged",
                     !info.loaded ? "does not load" : "fails its self-check", tool_name(out));
            unlink(tmp);
            rc = EXIT_INTEGRITY;
            goto end;
        }
        tool_err("check: provider m2msec %s loads from %s, status active", tool_name(info.version),
                 tool_name(out));
    }
    if (!put_in_place(tmp, out))
        goto end;
    tool_err("wrote %s (module %s, module-mac %s)", tool_name(out), tool_name(module_real), hex);
    rc = EXIT_OK;
end:
    free(text);
    EVP_MAC_free(hmac);
    return rc;
}
