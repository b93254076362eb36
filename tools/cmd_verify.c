/* m2msec verify: a tree against a signed manifest, then the policy and the status record. */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include <openssl/err.h>

#include "m2msec/integrity.h"
#include "tool.h"

/* The progress bar appears only on a terminal, and only for a long run. */
#define PROGRESS_AFTER_S 1.0
#define PROGRESS_AFTER_BYTES (64ull << 20)
#define PROGRESS_EVERY_S 0.1

static void usage(FILE *out)
{
    fputs("usage: m2msec verify --manifest M --pubkey PUB.pem --root DIR [OPTIONS]\n"
          "\n"
          "Accept the manifest (signature, expiry, version), verify every file it lists\n"
          "under DIR (opened without following symlinks, hashed from the opened file),\n"
          "report files that are not listed, carry out the policy for every failure and\n"
          "print the result. The verdict is also written as an authenticated status record\n"
          "when --status-file is given (the provider's require_integrity reads it).\n"
          "\n"
          "Options:\n"
          "  --manifest M           signed manifest (required)\n"
          "  --sig SIG              its signature (default: M.sig)\n"
          "  --pubkey PUB.pem       public key of the manifest signer (required)\n"
          "  --root DIR             tree to verify (required)\n"
          "  --state FILE           rollback state file: refuse older manifests\n"
          "  --policy FILE          policy file: actions for failed files ([integrity],\n"
          "                         [rules]); without it every failure denies\n"
          "  --jobs N               hashing threads; 0 (default) = one per core\n"
          "  --json                 print a JSON document instead of the table\n"
          "  --no-extra             do not report files that the manifest does not list\n"
          "  --status-file F        write the status record F (needs --device-key-file);\n"
          "                         'passed' when the policy lets the device run\n"
          "  --device-key-file K    device key (16..64 bytes of hex) that authenticates F\n"
          "  -h, --help             show this help\n"
          "\n"
          "Files under DIR that are the manifest, its signature, the state, policy, status\n"
          "or device key file are never reported as extra.\n"
          "\n"
          "Exit codes: 0 the device may run, 1 refused manifest or failed verification\n"
          "(after the policy's actions), 2 usage or input error.\n",
          out);
}

typedef struct {
    int tty;
    int shown;
    double start, last;
} PROGRESS;

static double mono_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void progress_cb(void *arg, uint64_t bytes_done, uint64_t bytes_total, size_t files_done,
                        size_t files_total)
{
    PROGRESS *pg = arg;
    double t = mono_now(), el = t - pg->start, frac, rate;
    char bar[31];
    size_t fill;

    if (!pg->tty || (el < PROGRESS_AFTER_S && bytes_total <= PROGRESS_AFTER_BYTES) ||
        (pg->shown && t - pg->last < PROGRESS_EVERY_S))
        return;
    pg->shown = 1;
    pg->last = t;
    frac = bytes_total > 0 ? (double)bytes_done / (double)bytes_total : 1.0;
    if (frac > 1.0)
        frac = 1.0;
    fill = (size_t)(frac * 30.0);
    memset(bar, '#', fill);
    memset(bar + fill, '.', 30 - fill);
    bar[30] = '\0';
    rate = el > 0 ? (double)bytes_done / el / 1048576.0 : 0.0;
    fprintf(stderr, "\r[%s] %3d%% %zu/%zu files, %.0f MiB/s ", bar, (int)(frac * 100.0), files_done,
            files_total, rate);
    fflush(stderr);
}

/* A failure that the policy's action has resolved: the file is fine again or gone. */
static int write_status(const char *path, const unsigned char *key, size_t keylen, int passed,
                        uint64_t version)
{
    if (path == NULL)
        return 1;
    if (!m2msec_status_write(NULL, path, key, keylen, passed, version, tool_now())) {
        tool_print_errors();
        tool_err("cannot write the status record %s", path);
        return 0;
    }
    fprintf(stderr, "m2msec: status record %s: %s\n", path, passed ? "passed" : "failed");
    return 1;
}

int cmd_verify(int argc, char **argv)
{
    static const struct option opts[] = {
        {"manifest", required_argument, NULL, 'm'},
        {"sig", required_argument, NULL, 's'},
        {"pubkey", required_argument, NULL, 'p'},
        {"root", required_argument, NULL, 'r'},
        {"state", required_argument, NULL, 'S'},
        {"policy", required_argument, NULL, 'P'},
        {"jobs", required_argument, NULL, 'j'},
        {"json", no_argument, NULL, 'J'},
        {"no-extra", no_argument, NULL, 'x'},
        {"status-file", required_argument, NULL, 'f'},
        {"device-key-file", required_argument, NULL, 'k'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *cmd = "verify", *manifest = NULL, *sig = NULL, *pub = NULL, *root = NULL;
    const char *state = NULL, *policy_path = NULL, *status_file = NULL, *keyfile = NULL;
    unsigned char key[TOOL_DEVICE_KEY_MAX];
    size_t keylen = 0, nign = 0, failures;
    char root_real[PATH_MAX], *sig_default = NULL, *ignore_buf[7] = {NULL};
    const char *ignore[8] = {NULL};
    m2msec_verify_options vo = {0};
    m2msec_policy *policy = NULL;
    m2msec_manifest *m = NULL;
    m2msec_manifest_verdict v;
    m2msec_report *r = NULL;
    PROGRESS pg = {0};
    int c, json = 0, may_run, rc = EXIT_USAGE;

    vo.report_extra = 1;
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'm':
            manifest = optarg;
            break;
        case 's':
            sig = optarg;
            break;
        case 'p':
            pub = optarg;
            break;
        case 'r':
            root = optarg;
            break;
        case 'S':
            state = optarg;
            break;
        case 'P':
            policy_path = optarg;
            break;
        case 'j':
            if (!tool_parse_jobs(cmd, optarg, &vo.jobs))
                return EXIT_USAGE;
            break;
        case 'J':
            json = 1;
            break;
        case 'x':
            vo.report_extra = 0;
            break;
        case 'f':
            status_file = optarg;
            break;
        case 'k':
            keyfile = optarg;
            break;
        case 'h':
            usage(stdout);
            return EXIT_OK;
        default:
            return tool_bad_option(cmd, argv);
        }
    }
    if (optind != argc)
        return tool_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
    if (manifest == NULL || pub == NULL || root == NULL)
        return tool_usage_error(cmd, "--manifest, --pubkey and --root are required");
    if ((status_file == NULL) != (keyfile == NULL))
        return tool_usage_error(cmd, "--status-file and --device-key-file go together");

    if (keyfile != NULL && !tool_read_device_key(keyfile, key, &keylen))
        return EXIT_USAGE;
    if (tool_realpath(root, root_real) == NULL) {
        tool_err("root %s: cannot resolve it", root);
        goto end;
    }
    if (policy_path != NULL && (policy = m2msec_policy_load(policy_path)) == NULL) {
        tool_print_errors();
        tool_err("policy %s cannot be used", policy_path);
        goto end;
    }

    v = m2msec_manifest_open(NULL, manifest, sig, pub, state, tool_now(), &m);
    if (v != M2MSEC_MANIFEST_OK) {
        tool_print_errors();
        tool_err("manifest %s refused: %s", manifest, m2msec_manifest_verdict_text(v));
        rc = v == M2MSEC_MANIFEST_ERROR ? EXIT_USAGE : EXIT_INTEGRITY;
        /* an older "passed" record must not outlive a refused manifest */
        write_status(status_file, key, keylen, 0, 0);
        goto end;
    }

    /* our own files below the root are not "extra" */
    if (sig == NULL) {
        size_t n = strlen(manifest);

        if ((sig_default = malloc(n + 5)) == NULL)
            goto end;
        memcpy(sig_default, manifest, n);
        memcpy(sig_default + n, ".sig", 5);
    }
    {
        const char *own[7] = {
            manifest, sig != NULL ? sig : sig_default, state, policy_path, status_file, keyfile,
            NULL};

        for (size_t i = 0; i < 6; i++)
            if (own[i] != NULL && (ignore_buf[nign] = tool_path_below(root_real, own[i])) != NULL)
                ignore[nign] = ignore_buf[nign], nign++;
    }
    vo.ignore = ignore;
    pg.tty = isatty(STDERR_FILENO);
    pg.start = mono_now();
    vo.progress = progress_cb;
    vo.progress_arg = &pg;

    r = m2msec_verify_tree(NULL, m, root, &vo);
    if (pg.shown)
        fputs("\r\033[K", stderr);
    if (r == NULL) {
        tool_print_errors();
        tool_err("cannot verify %s", root);
        write_status(status_file, key, keylen, 0, m2msec_manifest_version(m));
        goto end;
    }
    failures = m2msec_report_failures(r);
    if (policy != NULL) {
        may_run = m2msec_apply_policy(NULL, policy, m, root, r);
        /* the actions' own errors are in the report; keep the queue for real errors */
        tool_print_errors();
    } else {
        may_run = failures == 0;
    }
    if (!m2msec_report_print(r, stdout, json ? M2MSEC_REPORT_JSON : 0)) {
        tool_print_errors();
        tool_err("cannot print the report");
        goto end;
    }
    if (fflush(stdout) != 0) {
        tool_err("cannot write the report");
        goto end;
    }
    /*
     * The status says what the policy decided: a device the policy lets run
     * (failures remediated, quarantined or only alerted on) may keep
     * talking; a denied one may not derive session keys until it passes.
     */
    if (!write_status(status_file, key, keylen, may_run,
                      m2msec_manifest_version(m)))
        goto end;
    if (may_run) {
        if (failures > 0)
            tool_err("%zu file(s) failed; the policy lets the device run", failures);
        rc = EXIT_OK;
    } else {
        tool_err("verification failed: %zu file(s); the device may not run", failures);
        rc = EXIT_INTEGRITY;
    }
end:
    OPENSSL_cleanse(key, sizeof(key));
    for (size_t i = 0; i < nign; i++)
        free(ignore_buf[i]);
    free(sig_default);
    m2msec_report_free(r);
    m2msec_manifest_free(m);
    m2msec_policy_free(policy);
    return rc;
}
