/* SPDX-License-Identifier: Apache-2.0 */
/*
 * m2msec record seal | open: record sessions (m2msec/session.h,
 * docs/PROTOCOL.md section 6) from the shell.
 *
 * Each run is one session over a state file (m2msec state init), so that a
 * shell script gets the protection of a C program: a sender run persists a
 * new epoch before it seals (every run is a restart, so every record it
 * writes has an epoch of its own and no (epoch, seq) pair is used twice); a
 * receiver run opens one record against the persisted epoch and sequence
 * floor and saves the new floor before the plaintext is written out, so a
 * record is accepted at most once, also across runs. Records are the
 * session API's framing, byte for byte. The service-layer key comes from a
 * file (hex, as the device key file) that only its owner may read, never
 * from the command line.
 *
 * Exit codes: 0 done, 1 the record is refused (replayed, older than the
 * last one opened, forged or corrupted, malformed, key expired), 2 usage
 * or input error (key file, state missing or in use, I/O).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include <openssl/provider.h>

#include "m2msec/m2msec.h"
#include "m2msec/session.h"
#include "tool.h"

/* a record of the largest plaintext fits */
#define REC_MAX_INPUT (M2MSEC_SESSION_MAX_RECORD + 64)
#define REC_KEY_MAX 64      /* the device key file's longest key (tool_read_device_key) */
#define REC_HELP_SHOWN (-2) /* rec_start: --help printed, nothing more to do */

#define COMMON_HELP                                                                                \
    "  --state STATE        this end's state file (m2msec state init STATE, once)\n"               \
    "  --key-file FILE      the service-layer key, 16..64 bytes as hex (white space\n"             \
    "                       ignored); FILE must be a regular file of this user (or\n"              \
    "                       root) that group and others cannot access (mode 0600)\n"               \
    "  --originator ID      identity of the sending entity (UTF-8)\n"                              \
    "  --receiver ID        identity of the receiving entity (UTF-8)\n"                            \
    "  --purpose TEXT       key purpose (default \"m2msec record\"); both ends alike\n"            \
    "  --aead NAME          M2M-REC-AES-128-GCM (default), M2M-REC-AES-256-GCM,\n"                 \
    "                       M2M-REC-CHACHA20-POLY1305 or M2M-REC-AES-128-CCM; both ends\n"         \
    "  --tag-len N          16 (default), or 8 with M2M-REC-AES-128-CCM; both ends\n"              \
    "  --in FILE            input (default: standard input)\n"                                     \
    "  --out FILE           write the output to FILE (atomically, mode 0600) instead\n"            \
    "                       of standard output\n"                                                  \
    "  --provider-dir DIR   directory of m2msec.so (default: $OPENSSL_MODULES or OpenSSL's)\n"     \
    "  -h, --help           show this help\n"

static void usage_record(FILE *out)
{
    fputs("usage: m2msec record seal --state STATE --key-file FILE --originator ID\n"
          "                          --receiver ID [options]\n"
          "       m2msec record open --state STATE --key-file FILE --originator ID\n"
          "                          --receiver ID [options]\n"
          "\n"
          "Seal and open records of a libm2msec record session (docs/PROTOCOL.md section 6):\n"
          "the same bytes as m2msec_session_seal()/_open(), the same replay protection. Each\n"
          "end has its own state file; each run is one session over it. The key is read\n"
          "from a file, never from the command line.\n"
          "\n"
          "'m2msec record SUBCOMMAND --help' describes a subcommand.\n"
          "\n"
          "Exit codes: 0 done, 1 the record is refused (open: replayed, older than the\n"
          "last record opened, forged or corrupted, malformed, key expired), 2 usage or\n"
          "input error (key file, state missing or in use, I/O).\n",
          out);
}

static void usage_seal(FILE *out)
{
    fputs("usage: m2msec record seal --state STATE --key-file FILE --originator ID\n"
          "                          --receiver ID [options]\n"
          "\n"
          "Sender: seal the input (0..16777215 bytes) into one record. Every run is a\n"
          "session restart: it persists the next epoch to STATE before sealing, so each\n"
          "record has an epoch of its own and a nonce never repeats, whatever happens\n"
          "between runs. The record is binary: version, epoch, seq, ciphertext, tag\n"
          "(27 bytes more than the input; 19 with --tag-len 8).\n"
          "\n"
          "Options:\n" COMMON_HELP "\n"
          "Exit codes: 0 sealed, 1 refused (the key's limits), 2 usage or input error.\n",
          out);
}

static void usage_open(FILE *out)
{
    fputs("usage: m2msec record open --state STATE --key-file FILE --originator ID\n"
          "                          --receiver ID [options]\n"
          "\n"
          "Receiver: open one record and write its plaintext. The record is accepted\n"
          "only if it authenticates and is newer than every record this state accepted:\n"
          "the new epoch and sequence floor are saved to STATE before the plaintext is\n"
          "written, so the same record opened again is refused, also by a later run.\n"
          "Records from the shell are opened in the order they were sealed: one older than\n"
          "the last record opened is refused (each run is a receiver restart).\n"
          "\n"
          "Options:\n" COMMON_HELP "\n"
          "Exit codes: 0 opened, 1 refused (replayed, older than the last record opened,\n"
          "forged or corrupted, malformed, key expired: the reason is on stderr), 2 usage\n"
          "or input error (also when the plaintext cannot be written after the record was\n"
          "accepted: it is not accepted a second time).\n",
          out);
}

typedef struct rec_args {
    const char *state, *key_file, *originator, *receiver, *purpose, *aead, *in, *out;
    const char *provider_dir;
    size_t tag_len;
    char state_abs[PATH_MAX]; /* --state made absolute (tool_abs_path) */
} REC_ARGS;

static int rec_option(const char *cmd, void *ctx, int c, const char *arg)
{
    REC_ARGS *a = ctx;
    uint64_t v;

    switch (c) {
    case 'S':
        if ((a->state = tool_abs_path(arg, a->state_abs, sizeof(a->state_abs))) == NULL)
            return EXIT_USAGE;
        break;
    case 'k':
        a->key_file = arg;
        break;
    case 'X': /* --key: a key on the command line would end up in shell histories and ps */
        return tool_usage_error(cmd, "keys are never taken on the command line: put the key "
                                     "in a file (hex, mode 0600) and use --key-file FILE");
    case 'O':
        a->originator = arg;
        break;
    case 'R':
        a->receiver = arg;
        break;
    case 'p':
        a->purpose = arg;
        break;
    case 'A':
        a->aead = arg;
        break;
    case 't':
        if (!tool_parse_u64(arg, 8, 16, &v) || (v != 8 && v != 16))
            return tool_usage_error(cmd, "--tag-len: expected 8 or 16, got '%s'", arg);
        a->tag_len = (size_t)v;
        break;
    case 'i':
        a->in = arg;
        break;
    case 'o':
        a->out = arg;
        break;
    case 'P':
        a->provider_dir = arg;
        break;
    default:
        return tool_usage_error(cmd, "unknown option");
    }
    return 0;
}

/* clang-format off */
static const struct option rec_opts[] = {
    {"state", required_argument, NULL, 'S'},
    {"key-file", required_argument, NULL, 'k'},
    {"key", required_argument, NULL, 'X'},
    {"originator", required_argument, NULL, 'O'},
    {"receiver", required_argument, NULL, 'R'},
    {"purpose", required_argument, NULL, 'p'},
    {"aead", required_argument, NULL, 'A'},
    {"tag-len", required_argument, NULL, 't'},
    {"in", required_argument, NULL, 'i'},
    {"out", required_argument, NULL, 'o'},
    {"provider-dir", required_argument, NULL, 'P'},
    TOOL_OPTS_END};
/* clang-format on */

/* ---------------------------------------------------------------- keys, sessions */

/*
 * The key file: a regular file owned by this user (or root) that group and
 * others cannot access, like ssh's private keys; then its hex. 1 with key
 * set, or 0 after a message (key wiped).
 */
static int read_key(const char *path, unsigned char key[REC_KEY_MAX], size_t *len)
{
    struct stat st;

    if (lstat(path, &st) != 0) {
        tool_err("key file %s: %s", tool_name(path), strerror(errno));
        return 0;
    }
    if (!S_ISREG(st.st_mode)) {
        tool_err("key file %s: not a regular file (a symlink or something else)", tool_name(path));
        return 0;
    }
    if ((st.st_mode & 077) != 0 || (st.st_uid != geteuid() && st.st_uid != 0)) {
        tool_err("key file %s: mode %04o, owner uid %u: a secret key file must belong to this "
                 "user (or root) and be closed to group and others (chmod 600 %s)",
                 tool_name(path), (unsigned)(st.st_mode & 07777), (unsigned)st.st_uid,
                 tool_name(path));
        return 0;
    }
    return tool_read_device_key(path, key, len);
}

typedef struct rec_ctx {
    OSSL_LIB_CTX *libctx;
    OSSL_PROVIDER *prov, *deflt;
    unsigned char key[REC_KEY_MAX];
    size_t key_len;
    m2msec_store store;
    m2msec_session_policy policy;
    m2msec_session *s;
} REC_CTX;

static void rec_ctx_free(REC_CTX *c)
{
    m2msec_session_free(c->s); /* a receiver saves its exact floor here */
    c->s = NULL;
    m2msec_store_clear(&c->store); /* after the session: it used the store until here */
    OSSL_PROVIDER_unload(c->prov);
    OSSL_PROVIDER_unload(c->deflt);
    OSSL_LIB_CTX_free(c->libctx);
    OPENSSL_cleanse(c->key, sizeof(c->key));
}

/*
 * Options, key, the input (at most max bytes into *in, *inl), provider and
 * session - the input before the session, which holds the state's lock
 * and, for a sender, persists a new epoch. EXIT_OK; REC_HELP_SHOWN after
 * --help; or the exit code after a message.
 */
static int rec_start(const TOOL_CMD *cmd, int argc, char **argv, m2msec_session_role role,
                     REC_ARGS *a, REC_CTX *c, unsigned char **in, size_t *inl, size_t max)
{
    m2msec_session_config cfg;
    int rc;

    memset(a, 0, sizeof(*a));
    rc = tool_parse_options(cmd, argc, argv, a);
    if (rc != TOOL_PARSED)
        return rc == EXIT_OK ? REC_HELP_SHOWN : rc;
    if (optind < argc)
        return tool_usage_error(cmd->name, "unexpected argument '%s'", argv[optind]);
    if (a->state == NULL || a->key_file == NULL || a->originator == NULL || a->receiver == NULL)
        return tool_usage_error(cmd->name, "--state, --key-file, --originator and --receiver "
                                           "are required");
    if (!read_key(a->key_file, c->key, &c->key_len) ||
        (*in = tool_read_input(a->in, max, inl,
                               role == M2MSEC_SESSION_SENDER ? "input" : "record")) == NULL)
        return EXIT_USAGE;
    if ((c->libctx = OSSL_LIB_CTX_new()) == NULL ||
        (c->prov = m2msec_provider_load(c->libctx, a->provider_dir, &c->deflt)) == NULL) {
        tool_fail("cannot load the m2msec provider%s%s", a->provider_dir != NULL ? " from " : "",
                  a->provider_dir != NULL ? tool_name(a->provider_dir) : "");
        return EXIT_USAGE;
    }
    if (!m2msec_store_file(&c->store, a->state)) {
        tool_fail("cannot use state %s", tool_name(a->state));
        return EXIT_USAGE;
    }
    c->policy.aead = a->aead;
    c->policy.tag_len = a->tag_len;
    memset(&cfg, 0, sizeof(cfg));
    cfg.role = role;
    cfg.libctx = c->libctx;
    cfg.key = c->key;
    cfg.key_len = c->key_len;
    cfg.originator = a->originator;
    cfg.receiver = a->receiver;
    cfg.purpose = a->purpose;
    cfg.policy = &c->policy;
    cfg.store = &c->store;
    if ((c->s = m2msec_session_new(&cfg)) == NULL) {
        tool_fail("the %s session cannot start on state %s",
                  role == M2MSEC_SESSION_SENDER ? "sender" : "receiver", tool_name(a->state));
        return EXIT_USAGE;
    }
    return EXIT_OK;
}

/* A status of m2msec_session_seal/_open as an exit code, after its message. */
static int status_exit(m2msec_session_status st, const char *what)
{
    tool_fail("%s: %s", what, m2msec_session_status_text(st));
    switch (st) {
    case M2MSEC_SESSION_ERR_REPLAY:
    case M2MSEC_SESSION_ERR_TOO_OLD:
    case M2MSEC_SESSION_ERR_AUTH:
    case M2MSEC_SESSION_ERR_EXPIRED:
    case M2MSEC_SESSION_ERR_OLD_EPOCH:
    case M2MSEC_SESSION_ERR_MALFORMED:
        return EXIT_INTEGRITY;
    default:
        return EXIT_USAGE; /* buffer, storage, internal, forked */
    }
}

static int rec_seal(int argc, char **argv)
{
    static const TOOL_CMD cmd = {"record seal", "h", rec_opts, usage_seal, 0, rec_option};
    REC_ARGS a;
    REC_CTX c;
    unsigned char *in = NULL, *out = NULL;
    size_t inl = 0, outl = 0, cap = 0;
    m2msec_session_status st;
    int rc;

    memset(&c, 0, sizeof(c));
    rc = rec_start(&cmd, argc, argv, M2MSEC_SESSION_SENDER, &a, &c, &in, &inl,
                   M2MSEC_SESSION_MAX_RECORD);
    if (rc != EXIT_OK) {
        rc = rc == REC_HELP_SHOWN ? EXIT_OK : rc;
        goto end;
    }
    rc = EXIT_USAGE;
    cap = inl + m2msec_session_overhead(c.s);
    if ((out = malloc(cap)) == NULL) {
        tool_err("out of memory");
        goto end;
    }
    if (!m2msec_session_seal(c.s, in, inl, out, cap, &outl, &st)) {
        rc = status_exit(st, "the input was not sealed");
        goto end;
    }
    if (tool_write_output(a.out, out, outl, "record"))
        rc = EXIT_OK;
end:
    OPENSSL_clear_free(in, inl);
    free(out);
    rec_ctx_free(&c);
    return rc;
}

static int rec_open(int argc, char **argv)
{
    static const TOOL_CMD cmd = {"record open", "h", rec_opts, usage_open, 0, rec_option};
    REC_ARGS a;
    REC_CTX c;
    unsigned char *in = NULL, *out = NULL;
    size_t inl = 0, outl = 0;
    m2msec_session_status st;
    int rc;

    memset(&c, 0, sizeof(c));
    rc = rec_start(&cmd, argc, argv, M2MSEC_SESSION_RECEIVER, &a, &c, &in, &inl, REC_MAX_INPUT);
    if (rc != EXIT_OK) {
        rc = rc == REC_HELP_SHOWN ? EXIT_OK : rc;
        goto end;
    }
    rc = EXIT_USAGE;
    if ((out = malloc(inl + 1)) == NULL) {
        tool_err("out of memory");
        goto end;
    }
    if (!m2msec_session_open(c.s, in, inl, out, inl + 1, &outl, &st)) {
        rc = status_exit(st, "the record is refused");
        goto end;
    }
    /* Accepted: the session saves the exact floor as it ends, before the plaintext goes out. */
    m2msec_session_free(c.s);
    c.s = NULL;
    if (tool_write_output(a.out, out, outl, "plaintext"))
        rc = EXIT_OK;
    else
        tool_err("the record was accepted (state %s saved) but its plaintext was not written; "
                 "it will not be accepted again",
                 tool_name(a.state));
end:
    if (out != NULL)
        OPENSSL_cleanse(out, inl + 1);
    OPENSSL_free(in);
    free(out);
    rec_ctx_free(&c);
    return rc;
}

int cmd_record(int argc, char **argv)
{
    static const TOOL_SUB subs[] = {
        {"seal", rec_seal},
        {"open", rec_open},
    };

    return TOOL_DISPATCH("record", usage_record, subs, argc, argv);
}
