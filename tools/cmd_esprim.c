/* SPDX-License-Identifier: Apache-2.0 */
/*
 * m2msec esprim: oneM2M ESPrim objects (JWE) from the command line
 * (m2msec/esprim.h, docs/PROTOCOL.md section 9, docs/m2msec.1):
 *
 *   state-init  a Receiver's first start (its state file)
 *   rand        a Receiver issues a RandObject (securityInfo type 4), JSON
 *   rand-check  check a RandObject's JSON strictly and show it
 *   seal        an Originator seals a primitive for a Receiver RandObject
 *   open        a Receiver opens an object (and may seal a reply)
 *
 * Keys come from files only (hex, as the device key file), never from the
 * command line. Exit codes: 0 done, 1 refused (an object or a RandObject
 * that does not pass), 2 usage or input error.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/provider.h>

#include "m2msec/esprim.h"
#include "m2msec/m2msec.h"
#include "io.h"
#include "tool.h"

#define ESP_MAX_JWE ((size_t)24 << 20) /* a JWE of the largest primitive fits */

static void usage_esprim(FILE *out)
{
    fputs("usage: m2msec esprim state-init STATE --kid KID\n"
          "       m2msec esprim rand --state STATE --key-file FILE --kid KID [options]\n"
          "       m2msec esprim rand-check --role receiver|originator [FILE]\n"
          "       m2msec esprim seal --key-file FILE --kid KID --receiver-rand FILE [options]\n"
          "       m2msec esprim open --state STATE --key-file FILE --kid KID [options]\n"
          "\n"
          "oneM2M End-to-End Security of Primitives (ESPrim): primitives sealed as JWE\n"
          "(\"alg\":\"dir\", A128GCM/A192GCM/A256GCM) under sessionESPrimKey, derived from the\n"
          "pairwiseESPrimKey and two RandObjects (docs/PROTOCOL.md section 9). Keys are read\n"
          "from files (hex), never from the command line.\n"
          "\n"
          "'m2msec esprim SUBCOMMAND --help' describes a subcommand.\n"
          "\n"
          "Exit codes: 0 done, 1 refused (an object or RandObject that does not pass),\n"
          "2 usage or input error.\n",
          out);
}

static void usage_state_init(FILE *out)
{
    fputs("usage: m2msec esprim state-init STATE --kid KID\n"
          "\n"
          "First start of an ESPrim Receiver: write the empty state for the\n"
          "pairwiseESPrimKey ID KID to STATE (atomically, mode 0600, under the lock\n"
          "STATE.lock). Refused if anything exists at STATE or another end holds it: never\n"
          "initialise a state again (objects accepted under it could be accepted twice).\n"
          "\n"
          "Options:\n"
          "  --kid KID    pairwiseESPrimKeyID (printable ASCII, no space, '\"' or '\\')\n"
          "  -h, --help   show this help\n"
          "\n"
          "Exit codes: 0 initialised, 1 refused (something exists at STATE, or it is held),\n"
          "2 usage error or STATE cannot be written.\n",
          out);
}

#define COMMON_HELP                                                                                \
    "  --key-file FILE      the pairwiseESPrimKey, 16..64 bytes as hex (white space ignored)\n"    \
    "  --kid KID            its identifier (pairwiseESPrimKeyID, the JWE \"kid\")\n"               \
    "  --provider-dir DIR   directory of m2msec.so (default: $OPENSSL_MODULES or OpenSSL's)\n"

static void usage_rand(FILE *out)
{
    fputs("usage: m2msec esprim rand --state STATE --key-file FILE --kid KID [--lifetime S]\n"
          "                          [--aead LIST] [--out FILE]\n"
          "\n"
          "Receiver: issue a receiver RandObject (the answer to securityInfo type 3): a\n"
          "random 128-bit value, an ID, an expiry and the algorithms accepted. It is written\n"
          "to STATE before its JSON is printed (one line), so it stays valid across restarts.\n"
          "\n"
          "Options:\n"
          "  --state STATE        the Receiver's state (m2msec esprim state-init)\n" COMMON_HELP
          "  --lifetime S         seconds until it expires (default 86400)\n"
          "  --aead LIST          accepted AEADs, e.g. A128GCM,A256GCM (default all three)\n"
          "  --out FILE           write the JSON to FILE (atomically) instead of stdout\n"
          "  -h, --help           show this help\n"
          "\n"
          "Exit codes: 0 issued, 2 usage or input error (key, state).\n",
          out);
}

static void usage_rand_check(FILE *out)
{
    fputs("usage: m2msec esprim rand-check --role receiver|originator [FILE]\n"
          "\n"
          "Check the JSON of a RandObject (FILE, or standard input) strictly, as the\n"
          "library does (docs/PROTOCOL.md 9.2), and print its fields: id, value (hex),\n"
          "expiry (UTC and seconds since 1970, and whether it has passed), key generation\n"
          "algorithms and AEADs.\n"
          "\n"
          "Options:\n"
          "  --role ROLE   receiver (receiverESPrimRandObject) or originator\n"
          "  -h, --help    show this help\n"
          "\n"
          "Exit codes: 0 valid (even if expired: see the expiry line), 1 malformed,\n"
          "2 usage or input error.\n",
          out);
}

static void usage_seal(FILE *out)
{
    fputs("usage: m2msec esprim seal --key-file FILE --kid KID --receiver-rand FILE\n"
          "                          [--enc ENC] [--cty TYPE] [--lifetime S]\n"
          "                          [--in FILE] [--out FILE]\n"
          "\n"
          "Originator: seal a primitive (FILE or standard input, 1..16777215 bytes) into an\n"
          "ESPrim object, a JWE in compact form (one line). A new originator RandObject is\n"
          "made for it and carried in the header (\"oro\"), so each run starts a session.\n"
          "\n"
          "Options:\n" COMMON_HELP
          "  --receiver-rand FILE the Receiver's RandObject (JSON, from 'esprim rand')\n"
          "  --enc ENC            A128GCM, A192GCM or A256GCM (default: the first the\n"
          "                       RandObject offers)\n"
          "  --cty TYPE           the \"cty\" header member, e.g. application/json\n"
          "  --lifetime S         lifetime of the originator RandObject (default 3600,\n"
          "                       never beyond the Receiver's)\n"
          "  --in FILE            the primitive (default: standard input)\n"
          "  --out FILE           write the JWE to FILE (atomically) instead of stdout\n"
          "  -h, --help           show this help\n"
          "\n"
          "Exit codes: 0 sealed, 1 the receiver RandObject is refused (expired, no common\n"
          "algorithm), 2 usage or input error.\n",
          out);
}

static void usage_open(FILE *out)
{
    fputs("usage: m2msec esprim open --state STATE --key-file FILE --kid KID [--in FILE]\n"
          "                          [--out FILE] [--reply FILE --reply-out FILE]\n"
          "\n"
          "Receiver: open an ESPrim object (FILE or standard input; one trailing newline is\n"
          "ignored) with every check of TS-0003 8.4.2 C.6 and replay protection, and write\n"
          "the primitive. A new session is written to STATE before the primitive is\n"
          "written out; a session of an earlier run is closed, so an object is accepted\n"
          "at most once, also across runs.\n"
          "\n"
          "Options:\n"
          "  --state STATE        the Receiver's state (m2msec esprim state-init)\n" COMMON_HELP
          "  --in FILE            the JWE (default: standard input)\n"
          "  --out FILE           write the primitive to FILE (atomically, mode 0600)\n"
          "                       instead of stdout\n"
          "  --reply FILE         then seal FILE as the response, under the same session\n"
          "  --reply-out FILE     where the response JWE goes (required with --reply)\n"
          "  -h, --help           show this help\n"
          "\n"
          "Exit codes: 0 opened, 1 refused (malformed, wrong kid, unknown or expired\n"
          "RandObject, algorithm not offered, replayed, closed session, not authentic),\n"
          "2 usage or input error (key, state).\n",
          out);
}

typedef struct esp_args {
    const char *state, *key_file, *kid, *provider_dir, *aead, *out, *in, *receiver_rand;
    const char *enc, *cty, *role, *reply, *reply_out;
    uint64_t lifetime;
    char state_abs[PATH_MAX]; /* --state made absolute (tool_abs_path) */
} ESP_ARGS;

static int esp_option(const char *cmd, void *ctx, int c, const char *arg)
{
    ESP_ARGS *a = ctx;

    switch (c) {
    case 'S':
        if ((a->state = tool_abs_path(arg, a->state_abs, sizeof(a->state_abs))) == NULL)
            return EXIT_USAGE;
        break;
    case 'k':
        a->key_file = arg;
        break;
    case 'X': /* --key: a key on the command line would end up in shell histories and ps */
        (void)arg;
        return tool_usage_error(cmd, "keys are never taken on the command line: put the key "
                                     "in a file (hex) and use --key-file FILE");
    case 'K':
        a->kid = arg;
        break;
    case 'P':
        a->provider_dir = arg;
        break;
    case 'A':
        a->aead = arg;
        break;
    case 'o':
        a->out = arg;
        break;
    case 'i':
        a->in = arg;
        break;
    case 'R':
        a->receiver_rand = arg;
        break;
    case 'e':
        a->enc = arg;
        break;
    case 'c':
        a->cty = arg;
        break;
    case 'r':
        a->role = arg;
        break;
    case 'y':
        a->reply = arg;
        break;
    case 'Y':
        a->reply_out = arg;
        break;
    case 'l':
        if (!tool_parse_u64(arg, 1, (uint64_t)1 << 40, &a->lifetime))
            return tool_usage_error(cmd, "--lifetime: expected seconds (1..2^40), got '%s'", arg);
        break;
    default:
        return tool_usage_error(cmd, "unknown option");
    }
    return 0;
}

/* clang-format off */
#define O_STATE {"state", required_argument, NULL, 'S'}
#define O_KEY {"key-file", required_argument, NULL, 'k'}, {"key", required_argument, NULL, 'X'}
#define O_KID {"kid", required_argument, NULL, 'K'}
#define O_PDIR {"provider-dir", required_argument, NULL, 'P'}
#define O_AEAD {"aead", required_argument, NULL, 'A'}
#define O_OUT {"out", required_argument, NULL, 'o'}
#define O_IN {"in", required_argument, NULL, 'i'}
#define O_RRAND {"receiver-rand", required_argument, NULL, 'R'}
#define O_ENC {"enc", required_argument, NULL, 'e'}
#define O_CTY {"cty", required_argument, NULL, 'c'}
#define O_ROLE {"role", required_argument, NULL, 'r'}
#define O_LIFE {"lifetime", required_argument, NULL, 'l'}
#define O_REPLY {"reply", required_argument, NULL, 'y'}
#define O_REPLY_OUT {"reply-out", required_argument, NULL, 'Y'}
/* clang-format on */

static int require(const char *cmd, const char *v, const char *opt)
{
    if (v == NULL || *v == '\0')
        return tool_usage_error(cmd, "%s is required", opt);
    return EXIT_OK;
}

/* ---------------------------------------------------------------- set-up */

typedef struct esp_ctx {
    OSSL_LIB_CTX *libctx;
    OSSL_PROVIDER *prov, *deflt;
    unsigned char key[M2M_DEVICE_KEY_MAX];
    size_t key_len;
    int aeads[3];
    size_t naeads;
} ESP_CTX;

static void esp_ctx_free(ESP_CTX *c)
{
    OSSL_PROVIDER_unload(c->prov);
    OSSL_PROVIDER_unload(c->deflt);
    OSSL_LIB_CTX_free(c->libctx);
    OPENSSL_cleanse(c->key, sizeof(c->key));
}

static int enc_id(const char *name)
{
    return strcmp(name, "A128GCM") == 0   ? M2MSEC_ESPRIM_JWE_A128GCM
           : strcmp(name, "A192GCM") == 0 ? M2MSEC_ESPRIM_JWE_A192GCM
           : strcmp(name, "A256GCM") == 0 ? M2MSEC_ESPRIM_JWE_A256GCM
                                          : 0;
}

static const char *enc_name(int id)
{
    return id == 10 ? "A128GCM" : id == 11 ? "A192GCM" : id == 12 ? "A256GCM" : "?";
}

/* --aead A128GCM,A256GCM into c->aeads; EXIT_OK or a usage error. */
static int parse_aeads(const char *cmd, const char *list, ESP_CTX *c)
{
    char buf[128], *save = NULL, *t;

    c->naeads = 0;
    if (list == NULL)
        return EXIT_OK;
    if (snprintf(buf, sizeof(buf), "%s", list) >= (int)sizeof(buf))
        return tool_usage_error(cmd, "--aead: list too long");
    for (t = strtok_r(buf, ",", &save); t != NULL; t = strtok_r(NULL, ",", &save)) {
        int id = enc_id(t);

        if (id == 0 || c->naeads == 3)
            return tool_usage_error(cmd, "--aead: '%s' is not A128GCM, A192GCM or A256GCM", t);
        for (size_t i = 0; i < c->naeads; i++)
            if (c->aeads[i] == id)
                return tool_usage_error(cmd, "--aead: %s listed twice", t);
        c->aeads[c->naeads++] = id;
    }
    if (c->naeads == 0)
        return tool_usage_error(cmd, "--aead: empty list");
    return EXIT_OK;
}

/*
 * Library context with m2msec and default, and the key (c zeroed by the
 * caller, --aead already in it): EXIT_OK or EXIT_USAGE (message printed).
 */
static int esp_ctx_new(const ESP_ARGS *a, ESP_CTX *c)
{
    if (!tool_read_device_key(a->key_file, c->key, &c->key_len))
        return EXIT_USAGE;
    if ((c->libctx = OSSL_LIB_CTX_new()) == NULL ||
        (c->prov = m2msec_provider_load(c->libctx, a->provider_dir, &c->deflt)) == NULL) {
        tool_fail("cannot load the m2msec provider%s%s", a->provider_dir != NULL ? " from " : "",
                  a->provider_dir != NULL ? a->provider_dir : "");
        return EXIT_USAGE;
    }
    return EXIT_OK;
}

static void esp_config(const ESP_ARGS *a, const ESP_CTX *c, int role, m2msec_esprim_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->role = role;
    cfg->libctx = c->libctx;
    cfg->key = c->key;
    cfg->key_len = c->key_len;
    cfg->kid = a->kid;
    cfg->state = role == M2MSEC_ESPRIM_RECEIVER ? a->state : NULL;
    if (c->naeads > 0) {
        cfg->aeads = c->aeads;
        cfg->naeads = c->naeads;
    }
    cfg->cty = a->cty;
    cfg->rand_lifetime = a->lifetime;
}

/* The operand-free start of a subcommand: options parsed into a. */
static int parse(const TOOL_CMD *cmd, int argc, char **argv, ESP_ARGS *a)
{
    int rc;

    memset(a, 0, sizeof(*a));
    rc = tool_parse_options(cmd, argc, argv, a);
    if (rc != TOOL_PARSED)
        return rc;
    if (cmd->operands == 0 && optind < argc)
        return tool_usage_error(cmd->name, "unexpected argument '%s'", argv[optind]);
    return TOOL_PARSED;
}

/* ---------------------------------------------------------------- subcommands */

static int esp_state_init(int argc, char **argv)
{
    static const struct option opts[] = {O_KID, TOOL_OPTS_END};
    static const TOOL_CMD cmd = {"esprim state-init", "h", opts, usage_state_init, 1, esp_option};
    ESP_ARGS a;
    int rc = parse(&cmd, argc, argv, &a);
    const char *path;

    if (rc != TOOL_PARSED)
        return rc;
    if (argc - optind != 1 || argv[optind][0] == '\0')
        return tool_usage_error(cmd.name, "expected exactly one STATE");
    if ((rc = require(cmd.name, a.kid, "--kid")) != EXIT_OK)
        return rc;
    if ((path = tool_abs_path(argv[optind], a.state_abs, sizeof(a.state_abs))) == NULL)
        return EXIT_USAGE;
    if (m2msec_esprim_state_init(path, a.kid)) {
        printf("%s: initialised for kid %s; lock file %s.lock\n", path, a.kid, path);
        return EXIT_OK;
    }
    {
        /* refused (1) when something exists there or another end holds it; else input error */
        const char *data = NULL;
        int flags = 0;
        struct stat sb;

        ERR_peek_last_error_data(&data, &flags);
        rc = lstat(path, &sb) == 0 || (data != NULL && (flags & ERR_TXT_STRING) &&
                                       strstr(data, "in use by another") != NULL)
                 ? EXIT_INTEGRITY
                 : EXIT_USAGE;
    }
    tool_fail("%s was not initialised", path);
    return rc;
}

static int esp_rand(int argc, char **argv)
{
    static const struct option opts[] = {O_STATE, O_KEY,  O_KID, O_PDIR,
                                         O_LIFE,  O_AEAD, O_OUT, TOOL_OPTS_END};
    static const TOOL_CMD cmd = {"esprim rand", "h", opts, usage_rand, 0, esp_option};
    ESP_ARGS a;
    ESP_CTX c;
    m2msec_esprim_config cfg;
    m2msec_esprim *ep = NULL;
    m2msec_esprim_rand *r = NULL;
    char json[M2MSEC_ESPRIM_RAND_JSON_MAX + 1];
    size_t len;
    int rc = parse(&cmd, argc, argv, &a);

    if (rc != TOOL_PARSED)
        return rc;
    if ((rc = require(cmd.name, a.state, "--state")) != EXIT_OK ||
        (rc = require(cmd.name, a.key_file, "--key-file")) != EXIT_OK ||
        (rc = require(cmd.name, a.kid, "--kid")) != EXIT_OK)
        return rc;
    memset(&c, 0, sizeof(c));
    if ((rc = parse_aeads(cmd.name, a.aead, &c)) != EXIT_OK)
        return rc;
    if ((rc = esp_ctx_new(&a, &c)) != EXIT_OK)
        goto end;
    esp_config(&a, &c, M2MSEC_ESPRIM_RECEIVER, &cfg);
    rc = EXIT_USAGE;
    if ((ep = m2msec_esprim_new(&cfg)) == NULL) {
        tool_fail("the Receiver cannot start on state %s", a.state);
        goto end;
    }
    if ((r = m2msec_esprim_rand_new(ep, 0)) == NULL ||
        !m2msec_esprim_rand_get_json(r, json, sizeof(json) - 1, &len)) {
        tool_fail("no RandObject was issued");
        goto end;
    }
    json[len++] = '\n';
    if (tool_write_output(a.out, json, len, "RandObject"))
        rc = EXIT_OK;
end:
    m2msec_esprim_rand_free(r);
    m2msec_esprim_free(ep);
    esp_ctx_free(&c);
    return rc;
}

/* Strip one trailing newline (LF or CRLF) of a text read from a file. */
static size_t chomp(const unsigned char *b, size_t n)
{
    if (n > 0 && b[n - 1] == '\n')
        n--;
    if (n > 0 && b[n - 1] == '\r')
        n--;
    return n;
}

static int esp_rand_check(int argc, char **argv)
{
    static const struct option opts[] = {O_ROLE, TOOL_OPTS_END};
    static const TOOL_CMD cmd = {"esprim rand-check", "h", opts, usage_rand_check, 1, esp_option};
    ESP_ARGS a;
    unsigned char *in, v[M2MSEC_ESPRIM_RAND_LEN];
    size_t len;
    int role, rc = parse(&cmd, argc, argv, &a), ids[M2MSEC_ESPRIM_MAX_ALGS];
    m2msec_esprim_rand *r;
    char ts[32];
    time_t t;
    struct tm tm;
    size_t n;

    if (rc != TOOL_PARSED)
        return rc;
    if ((rc = require(cmd.name, a.role, "--role")) != EXIT_OK)
        return rc;
    if (strcmp(a.role, "receiver") == 0)
        role = M2MSEC_ESPRIM_RECEIVER;
    else if (strcmp(a.role, "originator") == 0)
        role = M2MSEC_ESPRIM_ORIGINATOR;
    else
        return tool_usage_error(cmd.name, "--role: expected receiver or originator, got '%s'",
                                a.role);
    if (argc - optind > 1)
        return tool_usage_error(cmd.name, "expected at most one FILE");
    if ((in = tool_read_input(argc - optind == 1 ? argv[optind] : NULL, 65536, &len,
                              "RandObject")) == NULL)
        return EXIT_USAGE;
    r = m2msec_esprim_rand_parse((const char *)in, chomp(in, len), role);
    OPENSSL_free(in);
    if (r == NULL) {
        tool_fail("the %s RandObject is refused", a.role);
        return EXIT_INTEGRITY;
    }
    m2msec_esprim_rand_get_value(r, v);
    printf("role %s\nid %s\nvalue ", a.role, m2msec_esprim_rand_get_id(r));
    for (size_t i = 0; i < sizeof(v); i++)
        printf("%02x", v[i]);
    t = (time_t)m2msec_esprim_rand_get_expiry(r);
    gmtime_r(&t, &tm);
    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
    printf("\nexpiry %s %" PRIu64 "%s\nkeygen", ts, m2msec_esprim_rand_get_expiry(r),
           m2msec_esprim_rand_get_expiry(r) <= tool_now() ? " (expired)" : "");
    n = m2msec_esprim_rand_get_keygen_algs(r, ids, M2MSEC_ESPRIM_MAX_ALGS);
    for (size_t i = 0; i < n; i++)
        printf(" %d", ids[i]);
    printf("\naeads");
    n = m2msec_esprim_rand_get_aeads(r, ids, M2MSEC_ESPRIM_MAX_ALGS);
    for (size_t i = 0; i < n; i++)
        printf(" %d", ids[i]);
    printf("\n");
    m2msec_esprim_rand_free(r);
    return EXIT_OK;
}

static int esp_seal(int argc, char **argv)
{
    static const struct option opts[] = {O_KEY,  O_KID, O_PDIR, O_RRAND, O_ENC,        O_CTY,
                                         O_LIFE, O_IN,  O_OUT,  O_AEAD,  TOOL_OPTS_END};
    static const TOOL_CMD cmd = {"esprim seal", "h", opts, usage_seal, 0, esp_option};
    ESP_ARGS a;
    ESP_CTX c;
    m2msec_esprim_config cfg;
    m2msec_esprim *ep = NULL;
    m2msec_esprim_rand *r = NULL;
    unsigned char *rj = NULL, *pt = NULL;
    char *out = NULL;
    size_t rl, pl = 0, ol, cap;
    int rc = parse(&cmd, argc, argv, &a), enc = 0;

    memset(&c, 0, sizeof(c));
    if (rc != TOOL_PARSED)
        return rc;
    if ((rc = require(cmd.name, a.key_file, "--key-file")) != EXIT_OK ||
        (rc = require(cmd.name, a.kid, "--kid")) != EXIT_OK ||
        (rc = require(cmd.name, a.receiver_rand, "--receiver-rand")) != EXIT_OK)
        return rc;
    if (a.enc != NULL && (enc = enc_id(a.enc)) == 0)
        return tool_usage_error(cmd.name, "--enc: expected A128GCM, A192GCM or A256GCM, got '%s'",
                                a.enc);
    rc = EXIT_USAGE;
    if ((rj = tool_read_input(a.receiver_rand, 65536, &rl, "receiver RandObject")) == NULL ||
        (pt = tool_read_input(a.in, M2MSEC_ESPRIM_MAX_PRIMITIVE, &pl, "primitive")) == NULL)
        goto end;
    if (pl == 0) {
        tool_err("the primitive is empty (an ESPrim object always carries one)");
        goto end;
    }
    if ((r = m2msec_esprim_rand_parse((const char *)rj, chomp(rj, rl), M2MSEC_ESPRIM_RECEIVER)) ==
        NULL) {
        tool_fail("receiver RandObject %s is refused", a.receiver_rand);
        rc = EXIT_INTEGRITY;
        goto end;
    }
    if ((rc = esp_ctx_new(&a, &c)) != EXIT_OK)
        goto end;
    esp_config(&a, &c, M2MSEC_ESPRIM_ORIGINATOR, &cfg);
    cfg.enc = enc;
    rc = EXIT_USAGE;
    if ((ep = m2msec_esprim_new(&cfg)) == NULL) {
        tool_fail("the Originator cannot start");
        goto end;
    }
    if (!m2msec_esprim_accept(ep, r)) {
        tool_fail("receiver RandObject %s cannot be used", m2msec_esprim_rand_get_id(r));
        rc = EXIT_INTEGRITY;
        goto end;
    }
    cap = M2MSEC_ESPRIM_SEAL_SIZE(pl) + 1;
    if ((out = malloc(cap)) == NULL) {
        tool_err("out of memory");
        goto end;
    }
    if (!m2msec_esprim_seal(ep, 0, pt, pl, out, cap - 1, &ol, NULL)) {
        tool_fail("the primitive was not sealed");
        rc = EXIT_INTEGRITY;
        goto end;
    }
    out[ol++] = '\n';
    if (tool_write_output(a.out, out, ol, "ESPrim object"))
        rc = EXIT_OK;
end:
    if (pt != NULL)
        OPENSSL_cleanse(pt, pl);
    OPENSSL_free(pt);
    OPENSSL_free(rj);
    free(out);
    m2msec_esprim_rand_free(r);
    m2msec_esprim_free(ep);
    esp_ctx_free(&c);
    return rc;
}

static int esp_open(int argc, char **argv)
{
    static const struct option opts[] = {O_STATE, O_KEY,  O_KID,   O_PDIR,      O_IN,
                                         O_OUT,   O_AEAD, O_REPLY, O_REPLY_OUT, TOOL_OPTS_END};
    static const TOOL_CMD cmd = {"esprim open", "h", opts, usage_open, 0, esp_option};
    ESP_ARGS a;
    ESP_CTX c;
    m2msec_esprim_config cfg;
    m2msec_esprim *ep = NULL;
    m2msec_esprim_info info;
    unsigned char *jwe = NULL, *pt = NULL, *rp = NULL;
    char *rout = NULL;
    size_t jl = 0, pl = 0, rpl = 0, rol;
    int rc = parse(&cmd, argc, argv, &a);

    memset(&c, 0, sizeof(c));
    if (rc != TOOL_PARSED)
        return rc;
    if ((rc = require(cmd.name, a.state, "--state")) != EXIT_OK ||
        (rc = require(cmd.name, a.key_file, "--key-file")) != EXIT_OK ||
        (rc = require(cmd.name, a.kid, "--kid")) != EXIT_OK)
        return rc;
    if ((a.reply == NULL) != (a.reply_out == NULL))
        return tool_usage_error(cmd.name, "--reply and --reply-out go together");
    if ((rc = parse_aeads(cmd.name, a.aead, &c)) != EXIT_OK)
        return rc;
    rc = EXIT_USAGE;
    if ((jwe = tool_read_input(a.in, ESP_MAX_JWE, &jl, "ESPrim object")) == NULL ||
        (a.reply != NULL &&
         (rp = tool_read_input(a.reply, M2MSEC_ESPRIM_MAX_PRIMITIVE, &rpl, "reply")) == NULL))
        goto end;
    if ((rc = esp_ctx_new(&a, &c)) != EXIT_OK)
        goto end;
    esp_config(&a, &c, M2MSEC_ESPRIM_RECEIVER, &cfg);
    rc = EXIT_USAGE;
    if ((ep = m2msec_esprim_new(&cfg)) == NULL) {
        tool_fail("the Receiver cannot start on state %s", a.state);
        goto end;
    }
    if ((pt = malloc(jl + 1)) == NULL) {
        tool_err("out of memory");
        goto end;
    }
    if (!m2msec_esprim_open(ep, (const char *)jwe, chomp(jwe, jl), pt, jl + 1, &pl, &info)) {
        tool_fail("the ESPrim object is refused");
        rc = EXIT_INTEGRITY;
        goto end;
    }
    fprintf(stderr,
            "m2msec: opened: %zu bytes, %s, originator RandObject %s%s, receiver "
            "RandObject %s\n",
            pl, enc_name(info.aead), info.ori, info.new_session ? " (new session)" : "", info.rri);
    if (rp != NULL) {
        size_t cap = M2MSEC_ESPRIM_SEAL_SIZE(rpl) + 1;

        if (rpl == 0) {
            tool_err("the reply is empty");
            goto end;
        }
        if ((rout = malloc(cap)) == NULL) {
            tool_err("out of memory");
            goto end;
        }
        if (!m2msec_esprim_seal_reply(ep, &info, rp, rpl, rout, cap - 1, &rol)) {
            tool_fail("the reply was not sealed");
            goto end;
        }
        rout[rol++] = '\n';
    }
    if (!tool_write_output(a.out, pt, pl, "primitive") ||
        (rout != NULL && !tool_write_output(a.reply_out, rout, rol, "reply")))
        goto end;
    rc = EXIT_OK;
end:
    if (pt != NULL)
        OPENSSL_cleanse(pt, jl + 1);
    if (rp != NULL)
        OPENSSL_cleanse(rp, rpl);
    free(pt);
    OPENSSL_free(rp);
    OPENSSL_free(jwe);
    free(rout);
    m2msec_esprim_free(ep);
    esp_ctx_free(&c);
    return rc;
}

int cmd_esprim(int argc, char **argv)
{
    static const TOOL_SUB subs[] = {
        {"state-init", esp_state_init},
        {"rand", esp_rand},
        {"rand-check", esp_rand_check},
        {"seal", esp_seal},
        {"open", esp_open},
    };

    return TOOL_DISPATCH("esprim", usage_esprim, subs, argc, argv);
}
