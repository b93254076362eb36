/* SPDX-License-Identifier: Apache-2.0 */
/*
 * m2msec keygen device-key | signing-key: generate the device key (the hex
 * file that the provider's device_key_file, `m2msec status` and `m2msec
 * verify --device-key-file` read: common/status_record.c) and the Ed25519
 * manifest signing key pair.
 *
 * Safe by construction: a key is written to a temporary file created with
 * O_EXCL and mode 0600 (mkstemp), fsync'ed, then linked to its name with
 * link(2), which fails if anything exists there (even a dangling symlink):
 * an existing key is never overwritten and no partial key is ever visible
 * under its name. The directory must not be writable by group or others and
 * must belong to the caller or root: anyone who may write the directory can
 * swap the key for their own.
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
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include "io.h"
#include "tool.h"

#define DEVICE_KEY_DEFAULT 32

static void usage_keygen(FILE *out)
{
    fputs("usage: m2msec keygen device-key [--bytes N] FILE\n"
          "       m2msec keygen signing-key PRIV.pem PUB.pem\n"
          "\n"
          "Generate a key into new files with safe permissions. A key is never written\n"
          "over an existing file, and only into a directory that group and others cannot\n"
          "write.\n"
          "\n"
          "'m2msec keygen SUBCOMMAND --help' describes a subcommand.\n"
          "\n"
          "Exit codes: 0 generated, 1 refused (a file exists, or the directory is writable\n"
          "by others), 2 usage or input error.\n",
          out);
}

static void usage_device(FILE *out)
{
    fputs("usage: m2msec keygen device-key [--bytes N] FILE\n"
          "\n"
          "Generate a device key (N random bytes from the OpenSSL private DRBG, written as\n"
          "hex on one line, mode 0600): the file that the policy's device_key_file,\n"
          "'m2msec status --device-key-file' and 'm2msec verify --device-key-file' read.\n"
          "\n"
          "Options:\n"
          "  --bytes N    key length, 16..64 bytes (default 32)\n"
          "  -h, --help   show this help\n"
          "\n"
          "Exit codes: 0 generated, 1 refused (FILE exists, or its directory is writable by\n"
          "group or others or belongs to another user), 2 usage or input error.\n",
          out);
}

static void usage_signing(FILE *out)
{
    fputs("usage: m2msec keygen signing-key PRIV.pem PUB.pem\n"
          "\n"
          "Generate an Ed25519 manifest signing key: PRIV.pem (unencrypted PKCS#8 PEM,\n"
          "mode 0600, for 'm2msec manifest sign --key') and PUB.pem (SubjectPublicKeyInfo\n"
          "PEM, mode 0644, for --pubkey of 'manifest verify', 'verify' and 'exec').\n"
          "Neither file may exist. Keep PRIV.pem off the devices.\n"
          "\n"
          "Options:\n"
          "  -h, --help   show this help\n"
          "\n"
          "Exit codes: 0 generated, 1 refused (a file exists, or a directory is writable by\n"
          "group or others or belongs to another user), 2 usage or input error.\n",
          out);
}

/*
 * The directory that will hold path: a directory, owned by the caller or
 * root, not writable by group or others. EXIT_OK, else the exit code after a
 * message.
 */
static int dir_check(const char *path)
{
    char copy[PATH_MAX], *dir;
    struct stat st;

    if (strlen(path) >= sizeof(copy)) {
        tool_err("%s: path too long", tool_name(path));
        return EXIT_USAGE;
    }
    strcpy(copy, path);
    dir = dirname(copy);
    if (stat(dir, &st) != 0) {
        tool_err("directory %s: %s", tool_name(dir), strerror(errno));
        return EXIT_USAGE;
    }
    if (!S_ISDIR(st.st_mode)) {
        tool_err("%s is not a directory", tool_name(dir));
        return EXIT_USAGE;
    }
    if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
        tool_err("directory %s is writable by %s (mode %04o): a key there could be replaced; "
                 "use a directory only its owner can write",
                 tool_name(dir), (st.st_mode & S_IWOTH) ? "others" : "its group",
                 (unsigned)(st.st_mode & 07777));
        return EXIT_INTEGRITY;
    }
    if (st.st_uid != geteuid() && st.st_uid != 0) {
        tool_err("directory %s belongs to another user (uid %u): a key there could be replaced",
                 tool_name(dir), (unsigned)st.st_uid);
        return EXIT_INTEGRITY;
    }
    return EXIT_OK;
}

/* EXIT_OK if nothing exists at path (not even a symlink), else EXIT_INTEGRITY after a message. */
static int must_not_exist(const char *path)
{
    struct stat st;

    if (lstat(path, &st) == 0) {
        tool_err("%s exists: a key is never overwritten (remove it first if you mean to "
                 "replace it)",
                 tool_name(path));
        return EXIT_INTEGRITY;
    }
    if (errno != ENOENT) {
        tool_err("%s: %s", tool_name(path), strerror(errno));
        return EXIT_USAGE;
    }
    return EXIT_OK;
}

/* fsync the directory of path, so that the new name survives a crash. */
static int dir_sync(const char *path)
{
    char copy[PATH_MAX];
    int fd, ok;

    strcpy(copy, path); /* dir_check() checked the length */
    fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ok = fsync(fd) == 0;
    close(fd);
    return ok;
}

/*
 * Write len bytes to the new file path with mode: a temporary file next to it
 * (mkstemp: O_EXCL, 0600), fchmod, write, fsync, then link(2) to path, which
 * never replaces anything. EXIT_OK, EXIT_INTEGRITY if path appeared in the
 * meantime, EXIT_USAGE on an I/O error; nothing is left behind on a failure.
 */
static int write_new(const char *path, const void *buf, size_t len, mode_t mode, const char *what)
{
    char tmp[PATH_MAX];
    int fd, rc = EXIT_USAGE;

    if (snprintf(tmp, sizeof(tmp), "%s.tmpXXXXXX", path) >= (int)sizeof(tmp)) {
        tool_err("%s: path too long", tool_name(path));
        return EXIT_USAGE;
    }
    if ((fd = mkstemp(tmp)) < 0) {
        tool_err("cannot create a temporary file next to %s: %s", tool_name(path), strerror(errno));
        return EXIT_USAGE;
    }
    if (fchmod(fd, mode) != 0 || !m2m_write_all(fd, buf, len) || fsync(fd) != 0) {
        tool_err("cannot write the %s to %s: %s", what, tool_name(tmp), strerror(errno));
        close(fd);
        goto end;
    }
    if (close(fd) != 0) {
        tool_err("cannot write the %s to %s: %s", what, tool_name(tmp), strerror(errno));
        goto end;
    }
    if (link(tmp, path) != 0) {
        if (errno == EEXIST) {
            tool_err("%s appeared while the key was generated; it was left as it is",
                     tool_name(path));
            rc = EXIT_INTEGRITY;
        } else {
            tool_err("cannot create %s: %s", tool_name(path), strerror(errno));
        }
        goto end;
    }
    rc = EXIT_OK;
end:
    unlink(tmp);
    if (rc == EXIT_OK && !dir_sync(path)) {
        tool_err("cannot sync the directory of %s: %s", tool_name(path), strerror(errno));
        unlink(path);
        rc = EXIT_USAGE;
    }
    return rc;
}

static int device_option(const char *cmd, void *ctx, int c, const char *arg)
{
    uint64_t n;

    if (c != 'b')
        return tool_usage_error(cmd, "unknown option -%c", c);
    if (!tool_parse_u64(arg, M2M_DEVICE_KEY_MIN, M2M_DEVICE_KEY_MAX, &n))
        return tool_usage_error(cmd, "--bytes '%s': expected %d..%d", tool_name(arg),
                                M2M_DEVICE_KEY_MIN, M2M_DEVICE_KEY_MAX);
    *(size_t *)ctx = (size_t)n;
    return 0;
}

static int no_option(const char *cmd, void *ctx, int c, const char *arg)
{
    (void)ctx;
    (void)arg;
    return tool_usage_error(cmd, "unknown option -%c", c);
}

/* The FILE operands (n of them, not empty); EXIT_OK, else a usage error. */
static int operands(const TOOL_CMD *cmd, int argc, char **argv, int n, const char *what)
{
    if (argc - optind != n)
        return tool_usage_error(cmd->name, "expected %s", what);
    for (int i = 0; i < n; i++)
        if (argv[optind + i][0] == '\0')
            return tool_usage_error(cmd->name, "a file name must not be empty");
    return EXIT_OK;
}

static int keygen_device(int argc, char **argv)
{
    static const struct option opts[] = {{"bytes", required_argument, NULL, 'b'}, TOOL_OPTS_END};
    static const TOOL_CMD cmd = {"keygen device-key", "h", opts, usage_device, 1, device_option};
    unsigned char key[M2M_DEVICE_KEY_MAX];
    char hex[2 * M2M_DEVICE_KEY_MAX + 2];
    size_t n = DEVICE_KEY_DEFAULT;
    const char *path;
    int rc = tool_parse_options(&cmd, argc, argv, &n);

    if (rc != TOOL_PARSED)
        return rc;
    if ((rc = operands(&cmd, argc, argv, 1, "exactly one FILE")) != EXIT_OK)
        return rc;
    path = argv[optind];
    if ((rc = dir_check(path)) != EXIT_OK || (rc = must_not_exist(path)) != EXIT_OK)
        return rc;
    if (RAND_priv_bytes(key, (int)n) != 1) {
        tool_fail("cannot generate the device key: the random generator failed");
        return EXIT_USAGE;
    }
    for (size_t i = 0; i < n; i++)
        snprintf(hex + 2 * i, 3, "%02x", key[i]);
    hex[2 * n] = '\n';
    rc = write_new(path, hex, 2 * n + 1, 0600, "device key");
    OPENSSL_cleanse(key, sizeof(key));
    OPENSSL_cleanse(hex, sizeof(hex));
    if (rc == EXIT_OK)
        printf("%s: device key of %zu bytes (mode 0600)\n", tool_name(path), n);
    return rc;
}

static int keygen_signing(int argc, char **argv)
{
    static const struct option opts[] = {TOOL_OPTS_END};
    static const TOOL_CMD cmd = {"keygen signing-key", "h", opts, usage_signing, 1, no_option};
    const char *priv, *pub;
    EVP_PKEY *pk = NULL;
    BIO *bpriv = NULL, *bpub = NULL;
    char *data;
    long len;
    int rc = tool_parse_options(&cmd, argc, argv, NULL);

    if (rc != TOOL_PARSED)
        return rc;
    if ((rc = operands(&cmd, argc, argv, 2, "PRIV.pem and PUB.pem")) != EXIT_OK)
        return rc;
    priv = argv[optind];
    pub = argv[optind + 1];
    if (strcmp(priv, pub) == 0)
        return tool_usage_error(cmd.name, "PRIV.pem and PUB.pem must be different files");
    if ((rc = dir_check(priv)) != EXIT_OK || (rc = dir_check(pub)) != EXIT_OK ||
        (rc = must_not_exist(priv)) != EXIT_OK || (rc = must_not_exist(pub)) != EXIT_OK)
        return rc;
    rc = EXIT_USAGE;
    /* the private key's PEM lives in the secure heap (wiped when freed) when there is one */
    if ((pk = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519")) == NULL ||
        (bpriv = BIO_new(BIO_s_secmem())) == NULL || (bpub = BIO_new(BIO_s_mem())) == NULL ||
        !PEM_write_bio_PrivateKey(bpriv, pk, NULL, NULL, 0, NULL, NULL) ||
        !PEM_write_bio_PUBKEY(bpub, pk)) {
        tool_fail("cannot generate the Ed25519 signing key");
        goto end;
    }
    len = BIO_get_mem_data(bpriv, &data);
    if ((rc = write_new(priv, data, (size_t)len, 0600, "private key")) != EXIT_OK)
        goto end;
    len = BIO_get_mem_data(bpub, &data);
    if ((rc = write_new(pub, data, (size_t)len, 0644, "public key")) != EXIT_OK) {
        unlink(priv); /* ours, created above: no half pair is left */
        goto end;
    }
    printf("%s: Ed25519 private key (mode 0600)\n%s: its public key (mode 0644)\n", tool_name(priv),
           tool_name(pub));
end:
    if (bpriv != NULL) {
        if ((len = BIO_get_mem_data(bpriv, &data)) > 0)
            OPENSSL_cleanse(data, (size_t)len);
        BIO_free(bpriv);
    }
    BIO_free(bpub);
    EVP_PKEY_free(pk);
    return rc;
}

int cmd_keygen(int argc, char **argv)
{
    static const TOOL_SUB subs[] = {
        {"device-key", keygen_device},
        {"signing-key", keygen_signing},
    };

    return TOOL_DISPATCH("keygen", usage_keygen, subs, argc, argv);
}
