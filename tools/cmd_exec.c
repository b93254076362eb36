/* SPDX-License-Identifier: Apache-2.0 */
/*
 * m2msec exec: verify a program, then run exactly the bytes that were
 * verified.
 *
 * The program is opened once below the root (m2msec_file_open_beneath: no
 * symlink anywhere on the way). Its bytes are copied from that descriptor
 * into an anonymous memory file (memfd) and hashed while they are copied;
 * the digest is compared with the manifest, the memfd is sealed against
 * any further change (shrink, grow, write, and the seals themselves), and
 * the memfd is what fexecve() runs. Whatever happens to the file on disk
 * after it was opened cannot change what runs.
 *
 * Scripts ("#!" first): the kernel hands the interpreter the path
 * /dev/fd/N of the memfd, so for a script the memfd is left open across
 * the exec (FD_CLOEXEC cleared): the interpreter reads the sealed,
 * verified copy. The interpreter itself is verified only when the policy
 * lists it in the program's "requires".
 *
 * Files the program needs come from the policy file: a section
 *     [exec.PROGRAM]            (PROGRAM as listed in the manifest)
 *     requires = lib/a.so, etc/app.conf
 * Those are verified (m2msec_tree_verify) before the program runs and the
 * policy's actions apply to them as in `m2msec verify`: the program runs
 * if the policy lets the device run (deny refuses, alert lets it run,
 * remediate must succeed) and no required file was quarantined (moved
 * away). The program itself must always match: a failed program is
 * handed to the policy for its action (log, quarantine) and never run.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <openssl/conf.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include "m2msec/integrity.h"
#include "io.h"
#include "tool.h"

#ifndef MFD_EXEC
#define MFD_EXEC 0x0010U /* Linux 6.3: executable memfd, where vm.memfd_noexec asks for it */
#endif

#define COPY_BUF (256 * 1024)
#define MAX_REQUIRES 256
/* Test hook: sleep this many ms between the verified copy and fexecve(). */
#define PAUSE_ENV "M2M_TEST_EXEC_PAUSE_MS"

extern char **environ;

static void usage(FILE *out)
{
    fputs("usage: m2msec exec --manifest M --pubkey PUB.pem --root DIR [OPTIONS] -- PROGRAM "
          "[ARGS...]\n"
          "\n"
          "Accept the manifest, verify PROGRAM (a path relative to DIR, or an absolute\n"
          "path inside DIR) and the files the policy requires for it, then run exactly\n"
          "the verified bytes: the program is opened once without following symlinks,\n"
          "copied into a sealed memory file while it is hashed, and that copy is\n"
          "executed with ARGS (argv[0] = PROGRAM as given). Changing the file on disk\n"
          "after it was opened cannot change what runs.\n"
          "\n"
          "Options:\n"
          "  --manifest M           signed manifest (required)\n"
          "  --sig SIG              its signature (default: M.sig)\n"
          "  --pubkey PUB.pem       public key of the manifest signer (required)\n"
          "  --root DIR             tree the manifest describes (required)\n"
          "  --state FILE           rollback state file: refuse older manifests\n"
          "  --policy FILE          policy file; a section [exec.PROGRAM] with\n"
          "                         'requires = FILE, FILE' names more files (relative to\n"
          "                         DIR) that must verify before PROGRAM runs\n"
          "  -h, --help             show this help\n"
          "\n"
          "ELF programs and '#!' scripts run; a script's interpreter is verified only when\n"
          "it is listed in 'requires'. The environment is passed on unchanged.\n"
          "\n"
          "Exit codes: the program's own exit code once it runs; otherwise 1 exec refused\n"
          "(manifest refused, program or a required file missing, modified, a symlink, not\n"
          "listed), 2 usage or input error (including a program the kernel cannot run).\n",
          out);
}

/*
 * PROGRAM as a path relative to the root, '.' components and repeated
 * slashes removed; NULL if it leaves the root or names nothing.
 */
static char *relative_program(const char *prog, const char *root, const char *root_real)
{
    const char *rest = prog;
    char *out, *o;
    size_t rl;

    if (prog[0] == '/') {
        const char *bases[2] = {root_real, root};

        rest = NULL;
        for (int i = 0; i < 2 && rest == NULL; i++) {
            rl = strlen(bases[i]);
            while (rl > 1 && bases[i][rl - 1] == '/')
                rl--;
            if (strcmp(bases[i], "/") == 0)
                rest = prog;
            else if (strncmp(prog, bases[i], rl) == 0 && prog[rl] == '/')
                rest = prog + rl;
        }
        if (rest == NULL)
            return NULL;
    }
    out = o = malloc(strlen(rest) + 1);
    if (out == NULL)
        return NULL;
    while (*rest != '\0') {
        size_t n;

        while (*rest == '/')
            rest++;
        n = strcspn(rest, "/");
        if (n == 0)
            break;
        if (n == 2 && rest[0] == '.' && rest[1] == '.') {
            free(out);
            return NULL;
        }
        if (!(n == 1 && rest[0] == '.')) {
            if (o != out)
                *o++ = '/';
            memcpy(o, rest, n);
            o += n;
        }
        rest += n;
    }
    *o = '\0';
    if (o == out) {
        free(out);
        return NULL;
    }
    return out;
}

/*
 * The "requires" list of [exec.PROGRAM] in the policy file: *n names in
 * *names (strings in *store). 1 on success (also when there is none).
 */
static int policy_requires(const char *policy_path, const char *prog, char **store,
                           char *names[MAX_REQUIRES], size_t *n)
{
    CONF *conf;
    char *section;
    const char *val;
    size_t slen = strlen(prog) + 6;
    int ok = 0;

    *n = 0;
    *store = NULL;
    if (policy_path == NULL)
        return 1;
    if ((section = malloc(slen)) == NULL)
        return 0;
    if ((conf = tool_conf_load("policy", policy_path)) == NULL) {
        free(section);
        return 0;
    }
    snprintf(section, slen, "exec.%s", prog);
    ERR_set_mark();
    val = NCONF_get_string(conf, section, "requires");
    ERR_pop_to_mark();
    if (val == NULL) {
        ok = 1;
        goto end;
    }
    if ((*store = strdup(val)) == NULL)
        goto end;
    for (char *save = NULL, *tok = strtok_r(*store, ", \t", &save); tok != NULL;
         tok = strtok_r(NULL, ", \t", &save)) {
        if (*n == MAX_REQUIRES) {
            tool_err("policy %s: [%s] requires more than %d files", tool_name(policy_path),
                     tool_name(section), MAX_REQUIRES);
            goto end;
        }
        names[(*n)++] = tok;
    }
    ok = 1;
end:
    free(section);
    NCONF_free(conf);
    return ok;
}

/* A manifest holding only the given entries of m (for m2msec_tree_verify). */
static m2msec_manifest *sub_manifest(const m2msec_manifest *m, char *const *names, size_t n)
{
    m2msec_manifest *sub = m2msec_manifest_new(
        m2msec_manifest_digest(m), m2msec_manifest_version(m), m2msec_manifest_expires(m));

    for (size_t i = 0; sub != NULL && i < n; i++) {
        const m2msec_manifest_entry *e = m2msec_manifest_find(m, names[i]);

        if (e == NULL) {
            tool_err("exec refused: %s is required but not listed in the manifest",
                     tool_name(names[i]));
            m2msec_manifest_free(sub);
            return NULL;
        }
        if (!m2msec_manifest_add(sub, e)) {
            tool_print_errors();
            m2msec_manifest_free(sub);
            return NULL;
        }
    }
    return sub;
}

/*
 * Verify the named files and carry out the policy for failures, as
 * `m2msec verify` does. 1 if the program may run.
 */
static int verify_files(const m2msec_manifest *m, const m2msec_policy *policy, const char *root,
                        char *const *names, size_t n)
{
    m2msec_tree_verify_options vo = {0};
    m2msec_manifest *sub;
    m2msec_report *r;
    int may_run;

    if (n == 0)
        return 1;
    if ((sub = sub_manifest(m, names, n)) == NULL)
        return 0;
    r = m2msec_tree_verify(NULL, sub, root, &vo);
    if (r == NULL) {
        tool_fail("exec refused: cannot verify the required files");
        m2msec_manifest_free(sub);
        return 0;
    }
    if (policy != NULL) {
        may_run = m2msec_policy_apply(NULL, policy, m, root, r);
        tool_print_errors();
        /* a required file that quarantine moved away is not there to be used */
        for (size_t i = 0; i < m2msec_report_count(r); i++)
            if (m2msec_report_at(r, i)->action == M2MSEC_ACTION_QUARANTINE)
                may_run = 0;
    } else {
        may_run = m2msec_report_failures(r) == 0;
    }
    if (m2msec_report_failures(r) > 0 &&
        !m2msec_report_print(r, stderr, M2MSEC_REPORT_FAILURES_ONLY))
        ERR_clear_error(); /* stderr itself failed: nowhere to say so */
    m2msec_report_free(r);
    m2msec_manifest_free(sub);
    return may_run;
}

static int new_memfd(const char *prog)
{
    char name[64];
    const char *base = strrchr(prog, '/');
    int fd;

    snprintf(name, sizeof(name), "m2msec-exec:%s", base != NULL ? base + 1 : prog);
    fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_EXEC);
    if (fd < 0 && errno == EINVAL) /* before Linux 6.3 */
        fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
    return fd;
}

/*
 * Copy the program from fd into a new memfd, hashing the copied bytes
 * with the manifest's digest. Returns the memfd and the digest, or -1
 * (message printed; *refused set when it is an integrity refusal).
 */
static int copy_and_hash(int fd, const char *prog, const char *digest, unsigned char *md,
                         unsigned *mdlen, unsigned char head[2], size_t *total)
{
    EVP_MD *alg = EVP_MD_fetch(NULL, digest, NULL);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned char *buf = malloc(COPY_BUF);
    int mfd = -1, ok = 0;

    *total = 0;
    if (alg == NULL || ctx == NULL || buf == NULL || !EVP_DigestInit_ex2(ctx, alg, NULL)) {
        tool_fail("cannot set up %s", digest);
        goto end;
    }
    if ((mfd = new_memfd(prog)) < 0) {
        tool_err("memfd_create: %s", strerror(errno));
        goto end;
    }
    for (;;) {
        ssize_t n = m2m_read(fd, buf, COPY_BUF);

        if (n < 0) {
            tool_err("exec refused: %s: read: %s", tool_name(prog), strerror(errno));
            goto end;
        }
        if (n == 0)
            break;
        if (*total < 2)
            memcpy(head + *total, buf, *total + (size_t)n >= 2 ? 2 - *total : (size_t)n);
        if (!EVP_DigestUpdate(ctx, buf, (size_t)n)) {
            tool_print_errors();
            goto end;
        }
        if (!m2m_write_all(mfd, buf, (size_t)n)) {
            tool_err("cannot copy %s into memory: %s", tool_name(prog), strerror(errno));
            goto end;
        }
        *total += (size_t)n;
    }
    if (!EVP_DigestFinal_ex(ctx, md, mdlen)) {
        tool_print_errors();
        goto end;
    }
    ok = 1;
end:
    free(buf);
    EVP_MD_CTX_free(ctx);
    EVP_MD_free(alg);
    if (!ok && mfd >= 0) {
        close(mfd);
        mfd = -1;
    }
    return mfd;
}

static void test_pause(void)
{
    const char *env = getenv(PAUSE_ENV);
    uint64_t ms;
    struct timespec ts;

    if (env == NULL || !tool_parse_u64(env, 1, 60000, &ms))
        return;
    fprintf(stderr, "m2msec: test hook %s: pausing %llu ms before running the verified copy\n",
            PAUSE_ENV, (unsigned long long)ms);
    ts.tv_sec = (time_t)(ms / 1000);
    ts.tv_nsec = (long)(ms % 1000) * 1000000L;
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* Open, copy, hash, compare, seal. Returns the sealed memfd or -1; *rc set on -1. */
static int verified_image(const m2msec_manifest *m, const char *root, const char *rel,
                          int *is_script, int *rc)
{
    const m2msec_manifest_entry *e = m2msec_manifest_find(m, rel);
    unsigned char md[EVP_MAX_MD_SIZE], head[2] = {0, 0};
    unsigned mdlen = 0;
    size_t total = 0;
    struct stat st;
    int rootfd = -1, fd = -1, mfd = -1;
    const int seals = F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL;

    *rc = EXIT_INTEGRITY;
    if (e == NULL) {
        tool_err("exec refused: %s is not listed in the manifest", tool_name(rel));
        return -1;
    }
    if ((rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
        tool_err("root %s: %s", tool_name(root), strerror(errno));
        *rc = EXIT_USAGE;
        return -1;
    }
    fd = m2msec_file_open_beneath(rootfd, rel);
    if (fd < 0) {
        int err = errno;

        if (err == ENOENT)
            tool_err("exec refused: %s: missing", tool_name(rel));
        else if (err == ELOOP || err == EXDEV || err == ENOTDIR)
            tool_err("exec refused: %s: a symlink or a non-directory on the way (%s)",
                     tool_name(rel), strerror(err));
        else
            tool_err("exec refused: %s: unreadable (%s)", tool_name(rel), strerror(err));
        goto end;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        tool_err("exec refused: %s: not a regular file", tool_name(rel));
        goto end;
    }
    if (e->mode >= 0 && (int32_t)(st.st_mode & 07777) != e->mode) {
        tool_err("exec refused: %s: mode %04o, the manifest says %04o", tool_name(rel),
                 (unsigned)(st.st_mode & 07777), (unsigned)e->mode);
        goto end;
    }
    if (e->size >= 0 && st.st_size != e->size) {
        tool_err("exec refused: %s: modified (expected %lld bytes, found %lld)", tool_name(rel),
                 (long long)e->size, (long long)st.st_size);
        goto end;
    }
    mfd = copy_and_hash(fd, rel, m2msec_manifest_digest(m), md, &mdlen, head, &total);
    if (mfd < 0)
        goto end;
    if (mdlen != e->digest_len || CRYPTO_memcmp(md, e->digest, mdlen) != 0 ||
        (e->size >= 0 && (int64_t)total != e->size)) {
        tool_err("exec refused: %s: modified (its %s digest differs from the manifest)",
                 tool_name(rel), m2msec_manifest_digest(m));
        goto fail;
    }
    if (fcntl(mfd, F_ADD_SEALS, seals) != 0 || (fcntl(mfd, F_GET_SEALS) & seals) != seals) {
        tool_err("cannot seal the verified copy of %s: %s", tool_name(rel), strerror(errno));
        *rc = EXIT_USAGE;
        goto fail;
    }
    *is_script = total >= 2 && head[0] == '#' && head[1] == '!';
    goto end;
fail:
    close(mfd);
    mfd = -1;
end:
    if (fd >= 0)
        close(fd);
    close(rootfd);
    return mfd;
}

static int exec_option(const char *cmd, void *ctx, int c, const char *arg)
{
    return tool_manifest_option(ctx, c, arg) ? 0 : tool_usage_error(cmd, "unknown option -%c", c);
}

int cmd_exec(int argc, char **argv)
{
    static const struct option opts[] = {TOOL_MANIFEST_OPTIONS, TOOL_OPTS_END};
    /* '+': options end at the program (or at "--") */
    static const TOOL_CMD cmd = {"exec", "+h", opts, usage, 1, exec_option};
    TOOL_MANIFEST_ARGS a = {0};
    char root_real[PATH_MAX], *rel = NULL, *req_store = NULL, *req[MAX_REQUIRES + 1];
    const char *why = NULL;
    size_t nreq = 0;
    m2msec_policy *policy = NULL;
    m2msec_manifest *m = NULL;
    int rc = tool_parse_options(&cmd, argc, argv, &a), mfd = -1, is_script = 0;

    if (rc != TOOL_PARSED)
        return rc;
    if (tool_manifest_args_check(cmd.name, &a) != EXIT_OK)
        return EXIT_USAGE;
    if (optind >= argc)
        return tool_usage_error(cmd.name, "no PROGRAM given (m2msec exec ... -- PROGRAM ARGS)");
    if (!tool_resolve_root(a.root, root_real))
        return EXIT_USAGE;
    if ((rel = relative_program(argv[optind], a.root, root_real)) == NULL) {
        tool_err("exec refused: %s is not a path inside the root %s", tool_name(argv[optind]),
                 tool_name(a.root));
        return EXIT_INTEGRITY;
    }
    rc = EXIT_USAGE;
    if (a.policy != NULL) {
        if ((policy = tool_policy_load(a.policy, a.policy)) == NULL)
            goto end;
        if (!policy_requires(a.policy, rel, &req_store, req, &nreq))
            goto end;
    }
    if ((rc = tool_manifest_accept(&a, &m, &why)) != EXIT_OK) {
        tool_err("exec refused: manifest %s: %s", tool_name(a.manifest), why);
        goto end;
    }
    if (!verify_files(m, policy, a.root, req, nreq)) {
        tool_err("exec refused: a file that %s requires did not verify", tool_name(rel));
        rc = EXIT_INTEGRITY;
        goto end;
    }
    mfd = verified_image(m, a.root, rel, &is_script, &rc);
    if (mfd < 0) {
        if (rc == EXIT_INTEGRITY && policy != NULL) {
            /* let the policy act on (quarantine, log) the failed program */
            req[0] = rel;
            verify_files(m, policy, a.root, req, 1);
        }
        goto end;
    }
    if (is_script && fcntl(mfd, F_SETFD, 0) != 0) {
        tool_err("cannot keep the verified script open for its interpreter: %s", strerror(errno));
        goto end;
    }
    test_pause();
    fflush(stdout);
    fflush(stderr);
    fexecve(mfd, argv + optind, environ);
    tool_err("cannot run %s: %s", tool_name(argv[optind]), strerror(errno));
    rc = EXIT_USAGE;
end:
    if (mfd >= 0)
        close(mfd);
    free(req_store);
    free(rel);
    m2msec_manifest_free(m);
    m2msec_policy_free(policy);
    return rc;
}
