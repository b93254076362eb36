/* SPDX-License-Identifier: Apache-2.0 */
/* m2msec manifest create | sign | verify */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <openssl/crypto.h>
#include <openssl/err.h>

#include "escape.h"
#include "m2msec/integrity.h"
#include "tool.h"

/* Default lifetime of a manifest made without --expires or --expires-at. */
#define DEFAULT_EXPIRES (365ull * 86400)

static void usage_manifest(FILE *out)
{
    fputs("usage: m2msec manifest create --root DIR --version N [OPTIONS] -o MANIFEST\n"
          "       m2msec manifest sign --key PRIV.pem [-o MANIFEST.sig] MANIFEST\n"
          "       m2msec manifest verify --pubkey PUB.pem [--sig FILE] [--state FILE] MANIFEST\n"
          "\n"
          "'m2msec manifest SUBCOMMAND --help' describes a subcommand.\n"
          "\n"
          "Exit codes: 0 ok, 1 manifest refused (bad signature, expired, rollback,\n"
          "malformed, unsigned), 2 usage or input error.\n",
          out);
}

static void usage_create(FILE *out)
{
    fputs("usage: m2msec manifest create --root DIR --version N [OPTIONS] -o MANIFEST\n"
          "\n"
          "Hash every regular file under DIR into a manifest (sha256sum line format plus\n"
          "'#' header lines). Symlinks are not followed; any other file type is refused.\n"
          "\n"
          "Options:\n"
          "  --root DIR             tree to hash (required)\n"
          "  --version N            manifest version, for rollback protection (required)\n"
          "  --digest ALG           sha256 (default), sha384 or sha512\n"
          "  --expires SECONDS      expire SECONDS from now (default: 365 days)\n"
          "  --expires-at EPOCH     expire at EPOCH (seconds since 1970)\n"
          "  --meta                 also record each file's size and permission bits\n"
          "  --attr                 also record each file's numeric owner, group and mtime\n"
          "                         ('# attr' lines; checked by 'verify --meta')\n"
          "  --jobs N               hashing threads; 0 (default) = one per core\n"
          "  -o, --output MANIFEST  where to write it (atomically); '-' = standard output;\n"
          "                         it must not lie below DIR\n"
          "  -h, --help             show this help\n"
          "\n"
          "Exit codes: 0 written, 2 usage or input error (unreadable tree, a special file).\n",
          out);
}

static void usage_sign(FILE *out)
{
    fputs("usage: m2msec manifest sign --key PRIV.pem [-o SIG] MANIFEST\n"
          "\n"
          "Sign the exact bytes of MANIFEST with a detached signature that the stock\n"
          "openssl command verifies:\n"
          "  openssl pkeyutl -verify -pubin -inkey PUB.pem -rawin -in MANIFEST -sigfile SIG\n"
          "(Ed25519), or 'openssl dgst -sha256 -verify PUB.pem -signature SIG MANIFEST'\n"
          "(ECDSA P-256). Other key types and encrypted keys are refused.\n"
          "\n"
          "Options:\n"
          "  --key PRIV.pem         PEM private key, Ed25519 or ECDSA P-256 (required)\n"
          "  -o, --output SIG       signature file (default: MANIFEST.sig), written atomically\n"
          "  -h, --help             show this help\n"
          "\n"
          "Exit codes: 0 signed, 2 usage or input error (bad key, not a manifest).\n",
          out);
}

static void usage_mverify(FILE *out)
{
    fputs("usage: m2msec manifest verify --pubkey PUB.pem [--sig SIG] [--state FILE] MANIFEST\n"
          "\n"
          "Check a manifest's signature, then its syntax, expiry and version, and print the\n"
          "verdict. With --state, a manifest older than the last accepted version is\n"
          "refused, and an accepted one records its version in FILE.\n"
          "\n"
          "Options:\n"
          "  --pubkey PUB.pem       PEM public key (required)\n"
          "  --sig SIG              signature file (default: MANIFEST.sig)\n"
          "  --state FILE           rollback state file (created when missing)\n"
          "  -h, --help             show this help\n"
          "\n"
          "Exit codes: 0 accepted, 1 refused (unsigned, bad signature, malformed, expired,\n"
          "rollback), 2 usage or input error (unreadable manifest or key).\n",
          out);
}

static const char *digest_name(const char *arg)
{
    if (strcasecmp(arg, "sha256") == 0 || strcasecmp(arg, "sha-256") == 0)
        return "SHA256";
    if (strcasecmp(arg, "sha384") == 0 || strcasecmp(arg, "sha-384") == 0)
        return "SHA384";
    if (strcasecmp(arg, "sha512") == 0 || strcasecmp(arg, "sha-512") == 0)
        return "SHA512";
    return NULL;
}

static int write_stdout(const m2msec_manifest *m)
{
    unsigned char *buf = NULL;
    size_t len = 0;
    int ok;

    if (!m2msec_manifest_serialize(m, &buf, &len))
        return 0;
    ok = fwrite(buf, 1, len, stdout) == len && fflush(stdout) == 0;
    OPENSSL_free(buf);
    if (!ok)
        tool_err("cannot write the manifest to standard output");
    return ok;
}

/* The command line of manifest create. */
typedef struct {
    const char *root, *out, *digest;
    uint64_t version, expires, now;
    int have_version, have_expires, meta;
    unsigned jobs;
} CREATE_ARGS;

static int create_option(const char *cmd, void *ctx, int c, const char *arg)
{
    CREATE_ARGS *ca = ctx;
    uint64_t v;

    switch (c) {
    case 'r':
        ca->root = arg;
        return 0;
    case 'V':
        if (!tool_parse_u64(arg, 0, UINT64_MAX, &ca->version))
            return tool_usage_error(cmd, "--version '%s' is not a decimal number", tool_name(arg));
        ca->have_version = 1;
        return 0;
    case 'd':
        if ((ca->digest = digest_name(arg)) == NULL)
            return tool_usage_error(cmd, "--digest '%s': expected sha256, sha384 or sha512",
                                    tool_name(arg));
        return 0;
    case 'e':
    case 'E':
        if (ca->have_expires)
            return tool_usage_error(cmd, "give --expires or --expires-at once");
        if (!tool_parse_u64(arg, c == 'e' ? 1 : 0, UINT64_MAX, &v) ||
            (c == 'e' && v > UINT64_MAX - ca->now))
            return tool_usage_error(cmd, "--%s '%s' is not a valid number of seconds",
                                    c == 'e' ? "expires" : "expires-at", tool_name(arg));
        ca->expires = c == 'e' ? ca->now + v : v;
        ca->have_expires = 1;
        return 0;
    case 'm':
    case 'A':
        ca->meta |= c == 'A' ? M2MSEC_META_ATTR : M2MSEC_META_SIZE_MODE;
        return 0;
    case 'j':
        return tool_parse_jobs(cmd, arg, &ca->jobs) ? 0 : EXIT_USAGE;
    case 'o':
        ca->out = arg;
        return 0;
    default:
        return tool_usage_error(cmd, "unknown option -%c", c);
    }
}

static int manifest_create(int argc, char **argv)
{
    static const struct option opts[] = {
        {"root", required_argument, NULL, 'r'},
        {"version", required_argument, NULL, 'V'},
        {"digest", required_argument, NULL, 'd'},
        {"expires", required_argument, NULL, 'e'},
        {"expires-at", required_argument, NULL, 'E'},
        {"meta", no_argument, NULL, 'm'},
        {"attr", no_argument, NULL, 'A'},
        {"jobs", required_argument, NULL, 'j'},
        {"output", required_argument, NULL, 'o'},
        TOOL_OPTS_END,
    };
    static const TOOL_CMD cmd = {"manifest create", "o:h", opts, usage_create, 0, create_option};
    CREATE_ARGS ca = {.digest = "SHA256", .now = tool_now()};
    const char *root, *out;
    uint64_t expires, now = ca.now;
    m2msec_manifest *m;
    char root_real[PATH_MAX], *below, iso[TOOL_ISO_MAX];
    int rc = tool_parse_options(&cmd, argc, argv, &ca);

    if (rc != TOOL_PARSED)
        return rc;
    root = ca.root;
    out = ca.out;
    expires = ca.expires;
    if (root == NULL || out == NULL || !ca.have_version)
        return tool_usage_error(cmd.name, "--root, --version and -o are required");
    if (!ca.have_expires)
        expires = now + DEFAULT_EXPIRES;
    if (expires <= now)
        tool_err("warning: the manifest expires at %llu %s, which is not in the future",
                 (unsigned long long)expires, tool_iso_time(expires, iso));
    if (!tool_resolve_root(root, root_real))
        return EXIT_USAGE;
    if (strcmp(out, "-") != 0 && (below = tool_path_below(root_real, out)) != NULL) {
        tool_err("the manifest %s lies below the root %s and would list itself; write it "
                 "outside the root",
                 tool_name(out), tool_name(root));
        free(below);
        return EXIT_USAGE;
    }
    m = m2msec_manifest_from_tree(NULL, root, ca.digest, ca.version, expires, ca.meta, ca.jobs);
    if (m == NULL) {
        tool_fail("cannot build a manifest of %s", tool_name(root));
        return EXIT_USAGE;
    }
    if (strcmp(out, "-") == 0 ? !write_stdout(m) : !m2msec_manifest_write(m, out)) {
        tool_print_errors();
        m2msec_manifest_free(m);
        return EXIT_USAGE;
    }
    if (strcmp(out, "-") != 0)
        tool_err("wrote %s: %zu files, %s, version %llu, expires %llu %s", tool_name(out),
                 m2msec_manifest_count(m), m2msec_manifest_digest(m),
                 (unsigned long long)ca.version, (unsigned long long)expires,
                 tool_iso_time(expires, iso));
    m2msec_manifest_free(m);
    return EXIT_OK;
}

/* The command line of manifest sign. */
typedef struct {
    const char *key, *out;
} SIGN_ARGS;

static int sign_option(const char *cmd, void *ctx, int c, const char *arg)
{
    SIGN_ARGS *sa = ctx;

    switch (c) {
    case 'k':
        sa->key = arg;
        return 0;
    case 'o':
        sa->out = arg;
        return 0;
    default:
        return tool_usage_error(cmd, "unknown option -%c", c);
    }
}

static int manifest_sign(int argc, char **argv)
{
    static const struct option opts[] = {
        {"key", required_argument, NULL, 'k'},
        {"output", required_argument, NULL, 'o'},
        TOOL_OPTS_END,
    };
    static const TOOL_CMD cmd = {"manifest sign", "o:h", opts, usage_sign, 1, sign_option};
    SIGN_ARGS sa = {0};
    int rc = tool_parse_options(&cmd, argc, argv, &sa);

    if (rc != TOOL_PARSED)
        return rc;
    if (sa.key == NULL)
        return tool_usage_error(cmd.name, "--key is required");
    if (argc - optind != 1)
        return tool_usage_error(cmd.name, "expected exactly one MANIFEST");
    if (!m2msec_manifest_sign(NULL, argv[optind], sa.key, sa.out)) {
        tool_fail("manifest %s not signed", tool_name(argv[optind]));
        return EXIT_USAGE;
    }
    if (sa.out == NULL)
        tool_err("wrote %s.sig", tool_name(argv[optind]));
    else
        tool_err("wrote %s", tool_name(sa.out));
    return EXIT_OK;
}

/* --pubkey, --sig and --state, as for verify. */
static int mverify_option(const char *cmd, void *ctx, int c, const char *arg)
{
    return tool_manifest_option(ctx, c, arg) ? 0 : tool_usage_error(cmd, "unknown option -%c", c);
}

static int manifest_verify(int argc, char **argv)
{
    static const struct option opts[] = {
        {"pubkey", required_argument, NULL, 'p'},
        {"sig", required_argument, NULL, 's'},
        {"state", required_argument, NULL, 'S'},
        TOOL_OPTS_END,
    };
    static const TOOL_CMD cmd = {"manifest verify", "h", opts, usage_mverify, 1, mverify_option};
    TOOL_MANIFEST_ARGS a = {0};
    m2msec_manifest *m = NULL;
    const char *why = NULL;
    char iso[TOOL_ISO_MAX];
    int rc = tool_parse_options(&cmd, argc, argv, &a);

    if (rc != TOOL_PARSED)
        return rc;
    if (a.pubkey == NULL)
        return tool_usage_error(cmd.name, "--pubkey is required");
    if (argc - optind != 1)
        return tool_usage_error(cmd.name, "expected exactly one MANIFEST");
    a.manifest = argv[optind];
    if ((rc = tool_manifest_accept(&a, &m, &why)) != EXIT_OK) {
        /* as sha256sum -c: a line with an escaped name starts with a backslash */
        printf("%s%s: %s\n", m2m_escape_needed(a.manifest, 0) ? "\\" : "", tool_name(a.manifest),
               why);
        return rc;
    }
    printf("%s%s: ok (version %llu, expires %llu %s, %s, %zu files)\n",
           m2m_escape_needed(a.manifest, 0) ? "\\" : "", tool_name(a.manifest),
           (unsigned long long)m2msec_manifest_version(m),
           (unsigned long long)m2msec_manifest_expires(m),
           tool_iso_time(m2msec_manifest_expires(m), iso), m2msec_manifest_digest(m),
           m2msec_manifest_count(m));
    m2msec_manifest_free(m);
    return EXIT_OK;
}

int cmd_manifest(int argc, char **argv)
{
    static const TOOL_SUB subs[] = {
        {"create", manifest_create},
        {"sign", manifest_sign},
        {"verify", manifest_verify},
    };

    return TOOL_DISPATCH("manifest", usage_manifest, subs, argc, argv);
}
