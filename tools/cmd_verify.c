/* SPDX-License-Identifier: Apache-2.0 */
/* m2msec verify: a tree against a signed manifest, then the policy and the status record. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include <openssl/err.h>

#include "escape.h"
#include "io.h"
#include "m2msec/integrity.h"
#include "manifest_state.h"
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
          "  --meta                 also check owner, group and mtime where the manifest\n"
          "                         records them ('# attr' lines, manifest create --attr)\n"
          "  --failures             show only the files that failed (table and JSON; the\n"
          "                         summary still counts every file)\n"
          "  --no-extra             do not report files that the manifest does not list\n"
          "  --dry-run              say what the policy would do for each failure, and do\n"
          "                         nothing: no file moved or replaced, no action log, no\n"
          "                         status record, no rollback state written\n"
          "  --status-file F        write the status record F (needs --device-key-file):\n"
          "                         'verifying' before anything is checked, then 'passed'\n"
          "                         when the policy lets the device run, else 'failed'\n"
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

/*
 * Before anything is checked: replace the status record (if asked) with
 * "verifying", which the provider's gate refuses. 1 unless that failed.
 */
static int invalidate_status(const char *path, const unsigned char *key, size_t keylen)
{
    if (path == NULL)
        return 1;
    if (!m2msec_integrity_status_invalidate(NULL, path, key, keylen, tool_now())) {
        tool_fail("cannot invalidate the status record %s before verifying; nothing was "
                  "verified (an older record there may still be in force until it is older "
                  "than the policy's max_status_age)",
                  path);
        return 0;
    }
    return 1;
}

/* Write the status record if asked; 1 unless writing it failed (it then stays "verifying"). */
static int write_status(const char *path, const unsigned char *key, size_t keylen, int passed,
                        uint64_t version)
{
    if (path == NULL)
        return 1;
    if (!m2msec_integrity_status_write(NULL, path, key, keylen, passed, version, tool_now())) {
        tool_fail("cannot write the status record %s; it stays 'verifying', which the "
                  "provider refuses",
                  tool_name(path));
        return 0;
    }
    tool_err("status record %s: %s", tool_name(path), passed ? "passed" : "failed");
    return 1;
}

/* The command line of verify. */
typedef struct {
    TOOL_MANIFEST_ARGS a;
    const char *status_file, *keyfile;
    m2msec_tree_verify_options vo;
    int json, failures_only, dry_run;
} VERIFY_ARGS;

static int verify_option(const char *cmd, void *ctx, int c, const char *arg)
{
    VERIFY_ARGS *va = ctx;

    if (tool_manifest_option(&va->a, c, arg))
        return 0;
    switch (c) {
    case 'j':
        return tool_parse_jobs(cmd, arg, &va->vo.jobs) ? 0 : EXIT_USAGE;
    case 'J':
        va->json = 1;
        return 0;
    case 'x':
        va->vo.report_extra = 0;
        return 0;
    case 'M':
        va->vo.check_attr = 1;
        return 0;
    case 'F':
        va->failures_only = 1;
        return 0;
    case 'D':
        va->dry_run = 1;
        return 0;
    case 'f':
        va->status_file = arg;
        return 0;
    case 'k':
        va->keyfile = arg;
        return 0;
    default:
        return tool_usage_error(cmd, "unknown option -%c", c);
    }
}

/*
 * --dry-run with --state: the rollback check of m2msec_manifest_accept()
 * without its write (the manifest was accepted with no state). EXIT_OK, or
 * the exit code after a message.
 */
static int dry_rollback_check(const char *state, const m2msec_manifest *m)
{
    M2M_ERRMSG err;
    uint64_t stored;

    if (state == NULL)
        return EXIT_OK;
    if (!m2m_manifest_state_read(state, &stored, &err)) {
        if (err.sys_errno == ENOENT)
            return EXIT_OK;
        tool_err("%s", err.text);
        return EXIT_USAGE;
    }
    if (m2msec_manifest_version(m) < stored) {
        tool_err("manifest version %llu is lower than the last accepted version %llu (rollback "
                 "state %s): manifest rollback",
                 (unsigned long long)m2msec_manifest_version(m), (unsigned long long)stored,
                 tool_name(state));
        return EXIT_INTEGRITY;
    }
    return EXIT_OK;
}

/*
 * --dry-run: for every failed result, the action the policy names for it
 * (m2msec_policy_action(); deny for everything without a policy) with the
 * rules m2msec_policy_apply() adds (a result that is not a file below the
 * root can only be alerted on or denied), and what the action would do.
 * Nothing is opened, moved or logged. 1 if the device would run (no deny),
 * else 0; *denied counts the denied files.
 */
static int dry_run_plan(const m2msec_policy *policy, const m2msec_manifest *m,
                        const m2msec_report *r, size_t *denied)
{
    size_t n = m2msec_report_count(r), shown = 0, width = 4;

    *denied = 0;
    for (size_t i = 0; i < n; i++) {
        const m2msec_file_result *x = m2msec_report_at(r, i);
        size_t w = strlen(tool_name(x->path));

        if (x->status != M2MSEC_FILE_OK && w > width)
            width = w;
    }
    if (width > 48)
        width = 48;
    for (size_t i = 0; i < n; i++) {
        const m2msec_file_result *x = m2msec_report_at(r, i);
        m2msec_action a;
        const char *what;

        if (x->status == M2MSEC_FILE_OK)
            continue;
        a = policy != NULL ? m2msec_policy_action(policy, x->path) : M2MSEC_ACTION_DENY;
        if (!m2m_path_shape_ok(x->path) && a != M2MSEC_ACTION_ALERT)
            a = M2MSEC_ACTION_DENY;
        switch (a) {
        case M2MSEC_ACTION_ALERT:
            what = "would log it; the device may run";
            break;
        case M2MSEC_ACTION_QUARANTINE:
            what = x->status == M2MSEC_FILE_MISSING
                       ? "not present: nothing to move; the device may run"
                       : "would move it to the quarantine directory; the device may run if that "
                         "succeeds";
            break;
        case M2MSEC_ACTION_REMEDIATE:
            what = m2msec_manifest_find(m, x->path) == NULL
                       ? "not in the manifest: would move it to the quarantine directory; the "
                         "device may run if that succeeds"
                       : "would replace it with a verified copy from the repository; the device "
                         "may run if that succeeds";
            break;
        default:
            a = M2MSEC_ACTION_DENY;
            what = "the device would not run";
            (*denied)++;
            break;
        }
        if (shown++ == 0)
            printf("%-10s  %-*s  %-10s  %s\n", "WOULD", (int)width, "PATH", "STATUS", "EFFECT");
        printf("%s%-10s  %-*s  %-10s  %s\n", m2m_escape_needed(x->path, 0) ? "\\" : "",
               m2msec_action_text(a), (int)width, tool_name(x->path),
               m2msec_file_status_text(x->status), what);
    }
    printf("dry run: %zu failure(s), %zu denied; nothing was changed\n", shown, *denied);
    return *denied == 0;
}

int cmd_verify(int argc, char **argv)
{
    static const struct option opts[] = {
        TOOL_MANIFEST_OPTIONS,
        {"jobs", required_argument, NULL, 'j'},
        {"json", no_argument, NULL, 'J'},
        {"no-extra", no_argument, NULL, 'x'},
        {"failures", no_argument, NULL, 'F'},
        {"meta", no_argument, NULL, 'M'},
        {"dry-run", no_argument, NULL, 'D'},
        {"status-file", required_argument, NULL, 'f'},
        {"device-key-file", required_argument, NULL, 'k'},
        TOOL_OPTS_END,
    };
    static const TOOL_CMD cmd = {"verify", "h", opts, usage, 0, verify_option};
    VERIFY_ARGS va = {.vo.report_extra = 1};
    const TOOL_MANIFEST_ARGS *a = &va.a;
    unsigned char key[M2M_DEVICE_KEY_MAX];
    size_t keylen = 0, nign = 0, failures;
    char root_real[PATH_MAX], *sig_default = NULL, *ignore_buf[7] = {NULL};
    const char *ignore[8] = {NULL}, *why = NULL, *own_status = NULL, *own_key = NULL;
    m2msec_policy *policy = NULL;
    m2msec_manifest *m = NULL;
    m2msec_report *r = NULL;
    PROGRESS pg = {0};
    int may_run, mrc, rc = tool_parse_options(&cmd, argc, argv, &va);

    if (rc != TOOL_PARSED)
        return rc;
    rc = EXIT_USAGE;
    if (tool_manifest_args_check(cmd.name, a) != EXIT_OK)
        return EXIT_USAGE;
    if ((va.status_file == NULL) != (va.keyfile == NULL))
        return tool_usage_error(cmd.name, "--status-file and --device-key-file go together");
    if (va.dry_run && va.json)
        return tool_usage_error(cmd.name, "--dry-run prints a plan, not JSON: leave out --json");
    if (va.dry_run && va.status_file != NULL) {
        /* the same command line as the real run, minus its writes */
        tool_err("dry run: the status record %s is neither read nor written",
                 tool_name(va.status_file));
        own_status = va.status_file; /* still not reported as extra, as in the real run */
        own_key = va.keyfile;
        va.status_file = NULL;
        va.keyfile = NULL;
    }

    if (va.keyfile != NULL && !tool_read_device_key(va.keyfile, key, &keylen))
        return EXIT_USAGE;
    /* from here until the verdict is written, the gate refuses session keys */
    if (!invalidate_status(va.status_file, key, keylen))
        goto end;
    if (!tool_resolve_root(a->root, root_real))
        goto end;
    if (a->policy != NULL && (policy = tool_policy_load(a->policy, a->policy)) == NULL)
        goto end;

    if (va.dry_run) {
        /* accepted without the state (which acceptance would rewrite), then checked against it */
        TOOL_MANIFEST_ARGS nostate = *a;

        nostate.state = NULL;
        if ((mrc = tool_manifest_accept(&nostate, &m, &why)) == EXIT_OK &&
            (mrc = dry_rollback_check(a->state, m)) != EXIT_OK) {
            why = m2msec_manifest_verdict_text(mrc == EXIT_INTEGRITY ? M2MSEC_MANIFEST_ROLLBACK
                                                                     : M2MSEC_MANIFEST_ERROR);
            m2msec_manifest_free(m);
            m = NULL;
        }
    } else {
        mrc = tool_manifest_accept(a, &m, &why);
    }
    if (mrc != EXIT_OK) {
        tool_err("manifest %s refused: %s", tool_name(a->manifest), why);
        rc = mrc;
        /* an older "passed" record must not outlive a refused manifest */
        write_status(va.status_file, key, keylen, 0, 0);
        goto end;
    }

    /* our own files below the root are not "extra" */
    if (a->sig == NULL) {
        size_t n = strlen(a->manifest);

        if ((sig_default = malloc(n + 5)) == NULL)
            goto end;
        memcpy(sig_default, a->manifest, n);
        memcpy(sig_default + n, ".sig", 5);
    }
    {
        const char *own[7] = {a->manifest,
                              a->sig != NULL ? a->sig : sig_default,
                              a->state,
                              a->policy,
                              va.status_file != NULL ? va.status_file : own_status,
                              va.keyfile != NULL ? va.keyfile : own_key,
                              NULL};

        for (size_t i = 0; i < 6; i++)
            if (own[i] != NULL && (ignore_buf[nign] = tool_path_below(root_real, own[i])) != NULL)
                ignore[nign] = ignore_buf[nign], nign++;
    }
    va.vo.ignore = ignore;
    pg.tty = isatty(STDERR_FILENO);
    pg.start = mono_now();
    va.vo.progress = progress_cb;
    va.vo.progress_arg = &pg;

    r = m2msec_tree_verify(NULL, m, a->root, &va.vo);
    if (pg.shown)
        fputs("\r\033[K", stderr);
    if (r == NULL) {
        tool_fail("cannot verify %s", tool_name(a->root));
        write_status(va.status_file, key, keylen, 0, m2msec_manifest_version(m));
        goto end;
    }
    failures = m2msec_report_failures(r);
    if (va.dry_run) {
        size_t denied;

        if (!m2msec_report_print(r, stdout, va.failures_only ? M2MSEC_REPORT_FAILURES_ONLY : 0)) {
            tool_fail("cannot print the report");
            goto end;
        }
        may_run = dry_run_plan(policy, m, r, &denied);
        if (fflush(stdout) != 0) {
            tool_err("cannot write the report");
            goto end;
        }
        if (may_run)
            tool_err("dry run: %zu file(s) failed; the policy would let the device run", failures);
        else
            tool_err("dry run: %zu file(s) failed, %zu denied; the device would not run", failures,
                     denied);
        rc = may_run ? EXIT_OK : EXIT_INTEGRITY;
        goto end;
    }
    if (policy != NULL) {
        may_run = m2msec_policy_apply(NULL, policy, m, a->root, r);
        /* the actions' own errors are in the report; keep the queue for real errors */
        tool_print_errors();
    } else {
        may_run = failures == 0;
    }
    if (!m2msec_report_print(r, stdout,
                             (va.json ? M2MSEC_REPORT_JSON : 0) |
                                 (va.failures_only ? M2MSEC_REPORT_FAILURES_ONLY : 0))) {
        tool_fail("cannot print the report");
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
    if (!write_status(va.status_file, key, keylen, may_run, m2msec_manifest_version(m)))
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
