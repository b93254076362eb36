/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Integrity policy and its actions (suite 'actions'): the policy file
 * (syntax, errors naming the line, rule order, default action), deny,
 * alert, quarantine (symlinks moved, never followed; hard links; another
 * filesystem), remediation from a local directory and from an HTTP server
 * on 127.0.0.1 that this program forks, remediations that fail at every
 * step (corrupted or truncated download, 404, no server, unusable
 * quarantine directory, injected failures after each step) leaving the
 * tree exactly as it was, the action log, and the integrity status record
 * (checked with the shared parser and with `openssl mac`).
 */
#define _GNU_SOURCE /* setenv/unsetenv with c11; mkdtemp; mkfifo */

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/provider.h>

#include "actions_test.h"
#include "status_record.h"
#include "m2msec/integrity.h"
#include "actions_internal.h"
#include "safe_open.h"

static OSSL_LIB_CTX *libctx;
static OSSL_PROVIDER *prov_default;

typedef struct fx fx;
static int no_temp_files(const fx *f);
static int printable_text(const char *text);

/* ---------------------------------------------------------------- */
/* Fixture: a device tree, its manifest, a repository copy           */
/* ---------------------------------------------------------------- */

struct fx {
    char base[PATH_MAX], root[PATH_MAX], repo[PATH_MAX], qdir[PATH_MAX], log[PATH_MAX];
    char policy[PATH_MAX];
    m2msec_manifest *m;
    m2msec_policy *p;
    m2msec_report *r;
    char *before; /* snapshot of the root */
};

static void put(const fx *f, const char *rel, const char *text, mode_t mode)
{
    char path[PATH_MAX];

    pathf(path, sizeof(path), "%s/%s", f->root, rel);
    write_text(path, text, mode);
}

static void fx_new(fx *f)
{
    memset(f, 0, sizeof(*f));
    pathf(f->base, sizeof(f->base), "%s", "/tmp/m2m-act-XXXXXX");
    if (mkdtemp(f->base) == NULL) {
        perror("mkdtemp");
        abort();
    }
    pathf(f->root, sizeof(f->root), "%s/root", f->base);
    pathf(f->repo, sizeof(f->repo), "%s/repo", f->base);
    pathf(f->qdir, sizeof(f->qdir), "%s/quarantine", f->base);
    pathf(f->log, sizeof(f->log), "%s/actions.log", f->base);
    pathf(f->policy, sizeof(f->policy), "%s/policy.cnf", f->base);
    if (run("mkdir -p '%s/bin' '%s/etc' '%s/var/log' '%s/lib'", f->root, f->root, f->root,
            f->root) != 0)
        abort();
    put(f, "bin/app", "app version 1\n", 0755);
    put(f, "bin/tool", "tool version 1\n", 0750);
    put(f, "etc/main.conf", "key = 1\n", 0644);
    put(f, "etc/a b+c%.conf", "name with blanks and signs\n", 0640);
    put(f, "var/log/messages", "boot\n", 0640);
    put(f, "lib/libx.so", "\177ELF pretend library\n", 0644);
    f->m = m2msec_manifest_from_tree(libctx, f->root, "SHA256", 1, 4102444800u, 1, 1);
    if (f->m == NULL || run("cp -a '%s' '%s'", f->root, f->repo) != 0) {
        ERR_print_errors_fp(stderr);
        abort();
    }
}

static void fx_free(fx *f)
{
    m2msec_report_free(f->r);
    m2msec_policy_free(f->p);
    m2msec_manifest_free(f->m);
    free(f->before);
    if (strncmp(f->base, "/tmp/m2m-act-", 13) == 0)
        run("chmod -R u+rwx '%s' 2>/dev/null; rm -rf '%s'", f->base, f->base);
    m2msec_actions_set_test_hook(NULL, NULL);
    ERR_clear_error();
}

/* Write the policy file (integrity keys, then [rules]) and load it. */
__attribute__((format(printf, 2, 3))) static int fx_policy(fx *f, const char *fmt, ...)
{
    char text[8192];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    write_text(f->policy, text, 0644);
    m2msec_policy_free(f->p);
    f->p = m2msec_policy_load(f->policy);
    if (f->p == NULL)
        ERR_print_errors_fp(stderr);
    return f->p != NULL;
}

static m2msec_report *verify(const fx *f)
{
    m2msec_tree_verify_options opt;

    memset(&opt, 0, sizeof(opt));
    opt.jobs = 1;
    opt.report_extra = 1;
    return m2msec_tree_verify(libctx, f->m, f->root, &opt);
}

/* Verify into f->r and remember the tree. */
static void fx_verify(fx *f)
{
    m2msec_report_free(f->r);
    f->r = verify(f);
    CU_ASSERT_FATAL(f->r != NULL);
    free(f->before);
    f->before = snapshot(f->root);
}

/* fx_verify(), then the policy's actions on the result: m2msec_policy_apply()'s value. */
static int fx_apply(fx *f)
{
    fx_verify(f);
    return m2msec_policy_apply(libctx, f->p, f->m, f->root, f->r);
}

static const m2msec_file_result *result_for(const m2msec_report *r, const char *path)
{
    for (size_t i = 0; i < m2msec_report_count(r); i++)
        if (strcmp(m2msec_report_at(r, i)->path, path) == 0)
            return m2msec_report_at(r, i);
    return NULL;
}

static int detail_has(const m2msec_file_result *x, const char *needle)
{
    int ok = x != NULL && x->action_detail != NULL && strstr(x->action_detail, needle) != NULL;

    if (!ok)
        fprintf(stderr, "\naction detail of %s: \"%s\" lacks \"%s\"\n", x ? x->path : "(none)",
                x && x->action_detail ? x->action_detail : "(null)", needle);
    return ok;
}

static int log_has(const fx *f, const char *needle)
{
    char *log = read_all(f->log, NULL);
    int ok = log != NULL && strstr(log, needle) != NULL;

    if (!ok)
        fprintf(stderr, "\nlog lacks \"%s\":\n%s\n", needle, log ? log : "(no log)");
    free(log);
    return ok;
}

static int unchanged(const fx *f)
{
    char *now = snapshot(f->root);
    int same = strcmp(now, f->before) == 0;

    if (!same)
        fprintf(stderr, "\ntree changed.\nbefore:\n%s\nafter:\n%s\n", f->before, now);
    free(now);
    return same;
}

static size_t failures_now(const fx *f)
{
    m2msec_report *r = verify(f);
    size_t n = r != NULL ? m2msec_report_failures(r) : (size_t)-1;

    if (n != 0 && r != NULL)
        CU_ASSERT(m2msec_report_print(r, stderr, M2MSEC_REPORT_FAILURES_ONLY));
    m2msec_report_free(r);
    return n;
}

static int mode_of(const char *dir, const char *rel)
{
    char path[PATH_MAX];
    struct stat st;

    pathf(path, sizeof(path), "%s/%s", dir, rel);
    return lstat(path, &st) == 0 ? (int)(st.st_mode & 07777) : -1;
}

/* Every entry of the quarantine directory has mode 0 (symlinks aside). */
static int quarantine_all_mode0(const fx *f)
{
    char *out = run_out("find '%s' -mindepth 1 -maxdepth 1 ! -type l ! -perm 0000", f->qdir);
    int ok = out != NULL && out[0] == '\0';

    free(out);
    return ok;
}

/* Content of the single quarantined entry whose name ends with @p suffix. */
static char *quarantined(const fx *f, const char *suffix)
{
    char *name = run_out("ls -A '%s' | grep -F -e '%s' | head -n 1 | tr -d '\\n'", f->qdir, suffix);
    char path[PATH_MAX];
    char *text;

    if (name == NULL || name[0] == '\0') {
        free(name);
        return NULL;
    }
    pathf(path, sizeof(path), "%s/%s", f->qdir, name);
    free(name);
    text = read_all(path, NULL);
    return text;
}

/* ---------------------------------------------------------------- */
/* Policy file                                                       */
/* ---------------------------------------------------------------- */

static void test_policy_rules(void)
{
    fx f;

    fx_new(&f);
    CU_ASSERT_FATAL(fx_policy(&f,
                              "# device policy\n"
                              "[session]\nmax_lifetime = 600\n"
                              "[integrity]\n"
                              "default_action = alert\n"
                              "quarantine_dir = %s\nlog = %s\nrepository = %s\n"
                              "[rules]\n"
                              "bin/tools/* = quarantine\n"
                              "bin/* = deny\n"
                              "etc/*.conf = remediate\n"
                              "var/log/* = alert\n"
                              "*.so = Quarantine\n"
                              "lib/lib?.a = deny\n",
                              f.qdir, f.log, f.repo));
    /* first match wins, in file order */
    CU_ASSERT_EQUAL(m2msec_policy_action(f.p, "bin/tools/x"), M2MSEC_ACTION_QUARANTINE);
    CU_ASSERT_EQUAL(m2msec_policy_action(f.p, "bin/app"), M2MSEC_ACTION_DENY);
    /* '*' spans '/' (FNM_PATHNAME off) */
    CU_ASSERT_EQUAL(m2msec_policy_action(f.p, "bin/sub/dir/app"), M2MSEC_ACTION_DENY);
    CU_ASSERT_EQUAL(m2msec_policy_action(f.p, "etc/main.conf"), M2MSEC_ACTION_REMEDIATE);
    CU_ASSERT_EQUAL(m2msec_policy_action(f.p, "etc/ssl/x.conf"), M2MSEC_ACTION_REMEDIATE);
    CU_ASSERT_EQUAL(m2msec_policy_action(f.p, "etc/main.cnf"), M2MSEC_ACTION_ALERT);
    CU_ASSERT_EQUAL(m2msec_policy_action(f.p, "var/log/messages"), M2MSEC_ACTION_ALERT);
    CU_ASSERT_EQUAL(m2msec_policy_action(f.p, "lib/libx.so"), M2MSEC_ACTION_QUARANTINE);
    CU_ASSERT_EQUAL(m2msec_policy_action(f.p, "bin/libx.so"), M2MSEC_ACTION_DENY);
    CU_ASSERT_EQUAL(m2msec_policy_action(f.p, "lib/liby.a"), M2MSEC_ACTION_DENY);
    CU_ASSERT_EQUAL(m2msec_policy_action(f.p, "lib/libyy.a"), M2MSEC_ACTION_ALERT);
    /* no rule: the default action */
    CU_ASSERT_EQUAL(m2msec_policy_action(f.p, "README"), M2MSEC_ACTION_ALERT);
    /* a leading dot is matched by '*' (FNM_PERIOD off) */
    CU_ASSERT_EQUAL(m2msec_policy_action(f.p, "bin/.hidden"), M2MSEC_ACTION_DENY);

    /* no [integrity] and no [rules]: deny */
    CU_ASSERT_FATAL(fx_policy(&f, "[session]\nmax_lifetime = 600\n"));
    CU_ASSERT_EQUAL(m2msec_policy_action(f.p, "bin/app"), M2MSEC_ACTION_DENY);
    /* an empty file too */
    CU_ASSERT_FATAL(fx_policy(&f, "%s", ""));
    CU_ASSERT_EQUAL(m2msec_policy_action(f.p, "x"), M2MSEC_ACTION_DENY);
    CU_ASSERT_EQUAL(m2msec_policy_action(NULL, "x"), M2MSEC_ACTION_DENY);
    fx_free(&f);
}

/* examples/policy.cnf loads and says what its comments say. */
static void test_policy_example(void)
{
    const char *src = getenv("M2M_SOURCE_DIR");
    char path[PATH_MAX];
    m2msec_policy *p;

    CU_ASSERT_FATAL(src != NULL);
    pathf(path, sizeof(path), "%s/examples/policy.cnf", src);
    p = m2msec_policy_load(path);
    if (p == NULL)
        ERR_print_errors_fp(stderr);
    CU_ASSERT_FATAL(p != NULL);
    CU_ASSERT_EQUAL(m2msec_policy_action(p, "var/log/messages"), M2MSEC_ACTION_ALERT);
    CU_ASSERT_EQUAL(m2msec_policy_action(p, "etc/net/eth0.conf"), M2MSEC_ACTION_REMEDIATE);
    CU_ASSERT_EQUAL(m2msec_policy_action(p, "lib/plugins/modbus.so"), M2MSEC_ACTION_QUARANTINE);
    CU_ASSERT_EQUAL(m2msec_policy_action(p, "lib/libm2msec.so.0"), M2MSEC_ACTION_DENY);
    CU_ASSERT_EQUAL(m2msec_policy_action(p, "bin/agent"), M2MSEC_ACTION_DENY);
    CU_ASSERT_EQUAL(m2msec_policy_action(p, "share/readme.txt"), M2MSEC_ACTION_DENY);
    m2msec_policy_free(p);
}

static void test_policy_errors(void)
{
    static const struct {
        const char *text, *want;
    } cases[] = {
        {"[integrity]\nfoo = 1\n", "line 2: unknown key 'foo' in [integrity]"},
        {"# comment\n\n[integrity]\n  # another\nlog = /x\nbogus=1\n",
         "line 6: unknown key 'bogus'"},
        {"[integrity]\ndefault_action = explode\n",
         "line 2: default_action = 'explode' is not deny, quarantine, alert or remediate"},
        {"[rules]\nbin/* = burn\n", "line 2: rule 'bin/* = burn'"},
        {"[rules]\nbin/* = deny\netc/* = alert\nbin/* = alert\n",
         "line 4: pattern 'bin/*' appears twice in [rules] (first at line 2)"},
        {"[integrity]\ndefault_action = quarantine\n",
         "line 2: quarantine and remediate need quarantine_dir"},
        {"[integrity]\nquarantine_dir = /q\n[rules]\nx = alert\netc/* = remediate\n",
         "line 5: remediate needs repository"},
        {"[integrity]\nquarantine_dir = q\n", "line 2: quarantine_dir = 'q' is not an absolute"},
        {"[integrity]\nlog = log.txt\n", "line 2: log = 'log.txt' is not an absolute path"},
        {"[integrity]\nrepository = ftp://host/x\n", "line 2: repository = 'ftp://host/x'"},
        {"[integrity]\nrepository = https://\n", "line 2: repository URL must be"},
        {"[integrity]\nrepository = http://h/x?y=1\n", "line 2: repository URL must be"},
        {"[rules]\n/bin/* = deny\n", "line 2: rule pattern '/bin/*' starts with '/'"},
        {"[rules]\nbin/[ab] = deny\n", "line 2: syntax error"},
        {"[integrity]\nlog = /x\n[rules\n", "line 3: syntax error"},
    };
    fx f;

    fx_new(&f);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        write_text(f.policy, cases[i].text, 0644);
        ERR_clear_error();
        f.p = m2msec_policy_load(f.policy);
        CU_ASSERT_PTR_NULL(f.p);
        if (f.p != NULL) {
            fprintf(stderr, "\naccepted: %s\n", cases[i].text);
            m2msec_policy_free(f.p);
            f.p = NULL;
            continue;
        }
        CU_ASSERT(errors_have(f.policy, NULL));
        write_text(f.policy, cases[i].text, 0644);
        CU_ASSERT_PTR_NULL(m2msec_policy_load(f.policy));
        CU_ASSERT(errors_have(cases[i].want, NULL));
    }
    CU_ASSERT_PTR_NULL(m2msec_policy_load("/nonexistent/m2msec-policy.cnf"));
    CU_ASSERT(errors_have("/nonexistent/m2msec-policy.cnf", NULL));
    CU_ASSERT_PTR_NULL(m2msec_policy_load(NULL));
    ERR_clear_error();
    fx_free(&f);
}

/* ---------------------------------------------------------------- */
/* Deny, alert, quarantine                                           */
/* ---------------------------------------------------------------- */

static void test_deny(void)
{
    const m2msec_file_result *x;
    fx f;

    fx_new(&f);
    put(&f, "bin/app", "app, trojaned\n", 0755);
    CU_ASSERT_FATAL(fx_policy(&f, "[integrity]\nlog = %s\n", f.log));
    CU_ASSERT_EQUAL(fx_apply(&f), 0);
    CU_ASSERT(errors_have("1 file(s) denied", NULL));
    x = result_for(f.r, "bin/app");
    CU_ASSERT_FATAL(x != NULL);
    CU_ASSERT_EQUAL(x->status, M2MSEC_FILE_MODIFIED);
    CU_ASSERT_EQUAL(x->action, M2MSEC_ACTION_DENY);
    CU_ASSERT_EQUAL(x->action_ok, 1);
    CU_ASSERT(unchanged(&f));
    CU_ASSERT(log_has(&f, " deny bin/app modified\n"));
    CU_ASSERT(!file_exists(f.qdir));
    /* files that are fine get no action */
    x = result_for(f.r, "bin/tool");
    CU_ASSERT(x != NULL && x->action == M2MSEC_ACTION_NONE);
    fx_free(&f);
}

static void test_alert_and_default(void)
{
    const m2msec_file_result *x;
    fx f;

    fx_new(&f);
    put(&f, "var/log/messages", "boot\nmore\n", 0640);
    CU_ASSERT_FATAL(fx_policy(&f, "[integrity]\nlog = %s\n[rules]\nvar/log/* = alert\n", f.log));
    CU_ASSERT_EQUAL(fx_apply(&f), 1);
    x = result_for(f.r, "var/log/messages");
    CU_ASSERT_FATAL(x != NULL);
    CU_ASSERT_EQUAL(x->action, M2MSEC_ACTION_ALERT);
    CU_ASSERT_EQUAL(x->action_ok, 1);
    CU_ASSERT(unchanged(&f));
    CU_ASSERT(log_has(&f, " alert var/log/messages modified (expected 5 bytes, found 10)\n"));

    /* the same file outside the rule: default action deny */
    put(&f, "bin/app", "changed\n", 0755);
    CU_ASSERT_EQUAL(fx_apply(&f), 0);
    ERR_clear_error();
    CU_ASSERT_EQUAL(result_for(f.r, "bin/app")->action, M2MSEC_ACTION_DENY);
    CU_ASSERT_EQUAL(result_for(f.r, "var/log/messages")->action, M2MSEC_ACTION_ALERT);

    /* default_action = alert: both are only logged */
    CU_ASSERT_FATAL(fx_policy(&f, "[integrity]\nlog = %s\ndefault_action = alert\n", f.log));
    CU_ASSERT_EQUAL(fx_apply(&f), 1);
    CU_ASSERT_EQUAL(result_for(f.r, "bin/app")->action, M2MSEC_ACTION_ALERT);
    CU_ASSERT(unchanged(&f));
    fx_free(&f);
}

static void test_quarantine(void)
{
    const m2msec_file_result *x;
    char *text, *log, pattern[PATH_MAX + 200];
    fx f;

    fx_new(&f);
    put(&f, "bin/app", "app, trojaned\n", 0755);
    put(&f, "bin/evil", "unexpected binary\n", 04755);
    CU_ASSERT(run("rm '%s/bin/tool'", f.root) == 0);
    CU_ASSERT_FATAL(fx_policy(&f,
                              "[integrity]\nquarantine_dir = %s\nlog = %s\n[rules]\nbin/* = "
                              "quarantine\n",
                              f.qdir, f.log));
    CU_ASSERT_EQUAL(fx_apply(&f), 1);
    x = result_for(f.r, "bin/app");
    CU_ASSERT(x != NULL && x->action == M2MSEC_ACTION_QUARANTINE && x->action_ok == 1);
    CU_ASSERT(detail_has(x, "moved to "));
    x = result_for(f.r, "bin/evil");
    CU_ASSERT(x != NULL && x->status == M2MSEC_FILE_EXTRA && x->action_ok == 1);
    x = result_for(f.r, "bin/tool");
    CU_ASSERT(x != NULL && x->status == M2MSEC_FILE_MISSING && x->action_ok == 1);
    CU_ASSERT(detail_has(x, "nothing to move"));
    CU_ASSERT_EQUAL(mode_of(f.root, "bin/app"), -1);
    CU_ASSERT_EQUAL(mode_of(f.root, "bin/evil"), -1);
    CU_ASSERT_EQUAL(count_entries(f.qdir), 2);
    CU_ASSERT(quarantine_all_mode0(&f));
    text = quarantined(&f, "bin_app");
    CU_ASSERT(text != NULL && strcmp(text, "app, trojaned\n") == 0);
    free(text);
    text = quarantined(&f, "bin_evil");
    CU_ASSERT(text != NULL && strcmp(text, "unexpected binary\n") == 0);
    free(text);
    /* the log line: "<ISO time> quarantine <path> <status> -> <quarantine file>" */
    pathf(pattern, sizeof(pattern),
          "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z quarantine bin/app modified -> "
          "%s/[0-9]{8}T[0-9]{6}Z-0-bin_app$",
          f.qdir);
    CU_ASSERT(run("grep -Eq '%s' '%s'", pattern, f.log) == 0);
    CU_ASSERT(log_has(&f, " quarantine bin/evil extra -> "));
    CU_ASSERT(log_has(&f, " quarantine bin/tool missing (not present: nothing to move)\n"));
    log = read_all(f.log, NULL);
    CU_ASSERT(log != NULL && strstr(log, "app version") == NULL);
    free(log);
    /* other files untouched; bin/app is now missing */
    {
        m2msec_report *r = verify(&f);

        CU_ASSERT_EQUAL(result_for(r, "bin/app")->status, M2MSEC_FILE_MISSING);
        CU_ASSERT_EQUAL(result_for(r, "etc/main.conf")->status, M2MSEC_FILE_OK);
        m2msec_report_free(r);
    }
    fx_free(&f);
}

/* A symlink in place of a file is moved itself; its target is not touched. */
static void test_quarantine_symlink(void)
{
    char target[PATH_MAX], outdir[PATH_MAX];
    char *out_before, *now, *name;
    const m2msec_file_result *x;
    fx f;

    fx_new(&f);
    pathf(target, sizeof(target), "%s/precious", f.base);
    write_text(target, "precious, outside the root\n", 0644);
    pathf(outdir, sizeof(outdir), "%s/outside-lib", f.base);
    CU_ASSERT(run("mkdir '%s' && echo lib > '%s/libx.so' && chmod 0755 '%s/libx.so'", outdir,
                  outdir, outdir) == 0);
    CU_ASSERT(run("ln -sfn '%s' '%s/bin/app'", target, f.root) == 0);
    /* a directory on the way replaced by a symlink */
    CU_ASSERT(run("rm -rf '%s/lib' && ln -s '%s' '%s/lib'", f.root, outdir, f.root) == 0);
    out_before = snapshot(outdir);
    CU_ASSERT_FATAL(fx_policy(&f,
                              "[integrity]\ndefault_action = quarantine\nquarantine_dir = "
                              "%s\nlog = %s\n",
                              f.qdir, f.log));
    fx_verify(&f);
    x = result_for(f.r, "bin/app");
    CU_ASSERT_FATAL(x != NULL);
    CU_ASSERT_EQUAL(x->status, M2MSEC_FILE_WRONG_TYPE);
    /* lib (an unlisted symlink) comes before lib/libx.so: the link is moved, then
       lib/libx.so cannot be reached any more: that action fails */
    CU_ASSERT_EQUAL(m2msec_policy_apply(libctx, f.p, f.m, f.root, f.r), 0);
    ERR_clear_error();
    CU_ASSERT_EQUAL(x->action_ok, 1);
    CU_ASSERT_EQUAL(result_for(f.r, "lib")->action_ok, 1);
    CU_ASSERT_EQUAL(result_for(f.r, "lib/libx.so")->action_ok, 0);
    CU_ASSERT_EQUAL(mode_of(f.root, "bin/app"), -1);
    CU_ASSERT_EQUAL(mode_of(f.root, "lib"), -1);
    /* the quarantined entries are the symlinks themselves */
    name = run_out("cd '%s' && find . -maxdepth 1 -type l -name '*-bin_app' -lname '%s' | wc -l",
                   f.qdir, target);
    CU_ASSERT(name != NULL && atoi(name) == 1);
    free(name);
    name = run_out("cd '%s' && find . -maxdepth 1 -type l -name '*-lib' -lname '%s' | wc -l",
                   f.qdir, outdir);
    CU_ASSERT(name != NULL && atoi(name) == 1);
    free(name);
    /* targets: same content, same mode */
    now = read_all(target, NULL);
    CU_ASSERT(now != NULL && strcmp(now, "precious, outside the root\n") == 0);
    free(now);
    CU_ASSERT_EQUAL(mode_of(f.base, "precious"), 0644);
    now = snapshot(outdir);
    CU_ASSERT_STRING_EQUAL(now, out_before);
    free(now);
    CU_ASSERT_EQUAL(mode_of(outdir, "libx.so"), 0755);
    free(out_before);
    fx_free(&f);
}

/*
 * A file with another hard link is refused, named, and left as it is: moving
 * one name would leave the file under the other, and clearing its mode (or
 * copying it out, as the code did before) would act on a file that may not
 * be the tree's at all (a link to a root-only file made by a user).
 */
static void test_quarantine_hardlink(void)
{
    char other[PATH_MAX];
    const m2msec_file_result *x;
    char *text;
    fx f;

    fx_new(&f);
    put(&f, "bin/app", "app, trojaned\n", 0755);
    pathf(other, sizeof(other), "%s/other-name", f.base);
    CU_ASSERT(run("ln '%s/bin/app' '%s'", f.root, other) == 0);
    CU_ASSERT_FATAL(fx_policy(&f,
                              "[integrity]\ndefault_action = quarantine\nquarantine_dir = "
                              "%s\nlog = %s\n",
                              f.qdir, f.log));
    CU_ASSERT_EQUAL(fx_apply(&f), 0);
    CU_ASSERT(errors_have("1 action(s) failed", "bin/app", "hard links", NULL));
    x = result_for(f.r, "bin/app");
    CU_ASSERT_FATAL(x != NULL);
    CU_ASSERT_EQUAL(x->action, M2MSEC_ACTION_QUARANTINE);
    CU_ASSERT_EQUAL(x->action_ok, 0);
    CU_ASSERT(detail_has(x, "bin/app has 2 hard links"));
    CU_ASSERT(detail_has(x, "not touched"));
    CU_ASSERT(unchanged(&f));
    CU_ASSERT_EQUAL(mode_of(f.root, "bin/app"), 0755);
    CU_ASSERT_EQUAL(mode_of(f.base, "other-name"), 0755);
    text = read_all(other, NULL);
    CU_ASSERT(text != NULL && strcmp(text, "app, trojaned\n") == 0);
    free(text);
    CU_ASSERT(!file_exists(f.qdir) || count_entries(f.qdir) == 0);
    CU_ASSERT(log_has(&f, " quarantine-failed bin/app modified bin/app has 2 hard links"));

    /* remediation refuses it too, before anything is downloaded or exchanged */
    CU_ASSERT_FATAL(fx_policy(&f,
                              "[integrity]\ndefault_action = remediate\nquarantine_dir = "
                              "%s\nlog = %s\nrepository = %s\n",
                              f.qdir, f.log, f.repo));
    CU_ASSERT_EQUAL(fx_apply(&f), 0);
    ERR_clear_error();
    x = result_for(f.r, "bin/app");
    CU_ASSERT(x != NULL && x->action_ok == 0);
    CU_ASSERT(detail_has(x, "hard links"));
    CU_ASSERT(unchanged(&f));
    CU_ASSERT(no_temp_files(&f));
    fx_free(&f);
}

/*
 * A new directory /dev/shm/m2m-act-XXXXXX into @p shm if /dev/shm is a
 * filesystem other than the one of /tmp (where fx_new() puts the tree); 1 if so.
 */
static int other_fs_dir(char *shm, size_t len)
{
    struct stat a, b;

    pathf(shm, len, "%s", "/dev/shm/m2m-act-XXXXXX");
    return stat("/dev/shm", &a) == 0 && stat("/tmp", &b) == 0 && a.st_dev != b.st_dev &&
           mkdtemp(shm) != NULL;
}

/* Quarantine on another filesystem (/dev/shm when it is one): copy + fsync + unlink. */
static void test_quarantine_other_fs(void)
{
    char shm[PATH_MAX], target[PATH_MAX], fifo[PATH_MAX];
    char *text, *cnt;
    fx f;

    if (!other_fs_dir(shm, sizeof(shm))) {
        fprintf(stderr, "\n(no second filesystem at /dev/shm: test skipped) ");
        return;
    }
    fx_new(&f);
    pathf(f.qdir, sizeof(f.qdir), "%s/q", shm);
    put(&f, "bin/app", "app, trojaned\n", 0755);
    pathf(target, sizeof(target), "%s/precious", f.base);
    write_text(target, "precious\n", 0600);
    CU_ASSERT(run("ln -s '%s' '%s/bin/link'", target, f.root) == 0);
    CU_ASSERT_FATAL(fx_policy(&f,
                              "[integrity]\ndefault_action = quarantine\nquarantine_dir = "
                              "%s\nlog = %s\n",
                              f.qdir, f.log));
    CU_ASSERT_EQUAL(fx_apply(&f), 1);
    CU_ASSERT_EQUAL(mode_of(f.root, "bin/app"), -1);
    CU_ASSERT_EQUAL(mode_of(f.root, "bin/link"), -1);
    CU_ASSERT(quarantine_all_mode0(&f));
    text = quarantined(&f, "bin_app");
    CU_ASSERT(text != NULL && strcmp(text, "app, trojaned\n") == 0);
    free(text);
    cnt = run_out("find '%s' -type l -name '*-bin_link' -lname '%s' | wc -l", f.qdir, target);
    CU_ASSERT(cnt != NULL && atoi(cnt) == 1);
    free(cnt);
    CU_ASSERT_EQUAL(mode_of(f.base, "precious"), 0600);

    /* a FIFO cannot be copied to another filesystem: the action fails, nothing moves */
    pathf(fifo, sizeof(fifo), "%s/bin/pipe", f.root);
    CU_ASSERT_FATAL(mkfifo(fifo, 0600) == 0);
    CU_ASSERT_EQUAL(fx_apply(&f), 0);
    ERR_clear_error();
    CU_ASSERT(detail_has(result_for(f.r, "bin/pipe"), "on another filesystem"));
    CU_ASSERT(unchanged(&f));
    run("rm -rf '%s'", shm);
    fx_free(&f);
}

/* ---------------------------------------------------------------- */
/* Entries swapped after verification; trusted directories           */
/* ---------------------------------------------------------------- */

/* A root-only file outside the tree: what a user would like root to chmod for them. */
static void make_precious(const fx *f, char *path, size_t len)
{
    pathf(path, len, "%s/precious", f->base);
    write_text(path, "root only\n", 0600);
    if (geteuid() == 0)
        CU_ASSERT(chown(path, 0, 0) == 0);
}

static int precious_intact(const char *path)
{
    char *text = read_all(path, NULL);
    struct stat st;
    int ok = text != NULL && strcmp(text, "root only\n") == 0 && lstat(path, &st) == 0 &&
             S_ISREG(st.st_mode) && (st.st_mode & 07777) == 0600 && st.st_uid == geteuid();

    if (!ok)
        fprintf(stderr, "\nthe root-only file was changed: mode %04o\n",
                lstat(path, &st) == 0 ? (unsigned)(st.st_mode & 07777) : 0u);
    free(text);
    return ok;
}

/*
 * Between verification and the action, a user who can write a directory
 * of the tree swaps the verified file for a symlink to a root-only file, or
 * for another file: the action does not touch what is there now.
 */
static void test_swapped_after_verification(void)
{
    char precious[PATH_MAX], target[PATH_MAX], *text;
    const m2msec_file_result *x;
    fx f;

    for (int remediate = 0; remediate < 2; remediate++) {
        fx_new(&f);
        make_precious(&f, precious, sizeof(precious));
        put(&f, "bin/app", "app, trojaned\n", 0666);
        put(&f, "bin/evil", "unexpected\n", 0666);
        CU_ASSERT_FATAL(fx_policy(&f,
                                  "[integrity]\ndefault_action = %s\nquarantine_dir = %s\n"
                                  "log = %s\nrepository = %s\n",
                                  remediate ? "remediate" : "quarantine", f.qdir, f.log, f.repo));
        fx_verify(&f);
        CU_ASSERT_EQUAL(result_for(f.r, "bin/app")->status, M2MSEC_FILE_MODIFIED);
        /* the swaps: a symlink to the root-only file; a new file under the old name */
        CU_ASSERT(run("mv '%s/bin/app' '%s/app.stash' && ln -s '%s' '%s/bin/app'", f.root, f.base,
                      precious, f.root) == 0);
        CU_ASSERT(run("rm '%s/bin/evil' && echo other > '%s/bin/evil' && chmod 0666 '%s/bin/evil'",
                      f.root, f.root, f.root) == 0);
        free(f.before);
        f.before = snapshot(f.root);
        CU_ASSERT_EQUAL(m2msec_policy_apply(libctx, f.p, f.m, f.root, f.r), 0);
        CU_ASSERT(errors_have("action(s) failed", "changed since it was verified", NULL));
        x = result_for(f.r, "bin/app");
        CU_ASSERT(x != NULL && x->action_ok == 0);
        CU_ASSERT(detail_has(x, "bin/app changed since it was verified (verified: a regular file"));
        CU_ASSERT(detail_has(x, "now: a symlink"));
        CU_ASSERT(detail_has(x, "not touched"));
        x = result_for(f.r, "bin/evil");
        CU_ASSERT(x != NULL && x->action_ok == 0);
        CU_ASSERT(detail_has(x, "bin/evil changed since it was verified"));
        CU_ASSERT(unchanged(&f));
        CU_ASSERT(no_temp_files(&f));
        CU_ASSERT(!file_exists(f.qdir) || count_entries(f.qdir) == 0);
        CU_ASSERT(precious_intact(precious));
        pathf(target, sizeof(target), "%s/app.stash", f.base);
        text = read_all(target, NULL);
        CU_ASSERT(text != NULL && strcmp(text, "app, trojaned\n") == 0);
        free(text);
        CU_ASSERT(log_has(&f, remediate ? " remediate-failed bin/app modified nothing changed: "
                                        : " quarantine-failed bin/app modified "));
        fx_free(&f);
    }
}

/* A file that was missing and is there now is not replaced by remediation. */
static void test_missing_then_present(void)
{
    char *text;
    fx f;

    fx_new(&f);
    CU_ASSERT(run("rm '%s/etc/main.conf'", f.root) == 0);
    CU_ASSERT_FATAL(fx_policy(&f,
                              "[integrity]\ndefault_action = remediate\nquarantine_dir = %s\n"
                              "log = %s\nrepository = %s\n",
                              f.qdir, f.log, f.repo));
    fx_verify(&f);
    CU_ASSERT_EQUAL(result_for(f.r, "etc/main.conf")->status, M2MSEC_FILE_MISSING);
    put(&f, "etc/main.conf", "put there since\n", 0644);
    free(f.before);
    f.before = snapshot(f.root);
    CU_ASSERT_EQUAL(m2msec_policy_apply(libctx, f.p, f.m, f.root, f.r), 0);
    ERR_clear_error();
    CU_ASSERT(detail_has(result_for(f.r, "etc/main.conf"),
                         "etc/main.conf was missing when verified and is there now"));
    CU_ASSERT(unchanged(&f));
    CU_ASSERT(no_temp_files(&f));
    text = read_all(f.log, NULL);
    CU_ASSERT(text != NULL && strstr(text, "remediate-failed etc/main.conf missing") != NULL);
    free(text);
    fx_free(&f);
}

/* Blocks (of 512 bytes) and size of @p path. */
static int blocks_of(const char *path, long long *blocks, long long *size)
{
    struct stat st;

    if (lstat(path, &st) != 0)
        return 0;
    *blocks = (long long)st.st_blocks;
    *size = (long long)st.st_size;
    return 1;
}

/* The quarantined entry whose name ends with "-<suffix>", as a path. */
static int quarantine_entry_path(const fx *f, const char *suffix, char *path, size_t len)
{
    char *name = run_out("ls -A '%s' | grep -e '-%s$' | head -n 1 | tr -d '\\n'", f->qdir, suffix);
    int ok = name != NULL && name[0] != '\0';

    if (ok)
        pathf(path, len, "%s/%s", f->qdir, name);
    free(name);
    return ok;
}

/*
 * Quarantine to another filesystem copies a sparse file as a sparse file:
 * a 0-byte-data file of 257 MiB apparent size makes no 257 MiB write (the
 * copy allocates almost nothing), and data at an offset lands at the same
 * offset. The copy keeps the apparent size.
 */
static void test_quarantine_sparse_other_fs(void)
{
    char shm[PATH_MAX], path[PATH_MAX], q[PATH_MAX];
    long long blocks = -1, size = -1;
    char *cmp;
    fx f;

    if (!other_fs_dir(shm, sizeof(shm))) {
        fprintf(stderr, "\n(no second filesystem at /dev/shm: test skipped) ");
        return;
    }
    fx_new(&f);
    pathf(f.qdir, sizeof(f.qdir), "%s/q", shm);
    pathf(path, sizeof(path), "%s/bin/sparse", f.root);
    CU_ASSERT(run("truncate -s 257M '%s'", path) == 0);
    pathf(path, sizeof(path), "%s/bin/sparse-data", f.root);
    /* 4 KiB of data 100 MiB in, and a block of zeros written as data */
    CU_ASSERT(run("truncate -s 200M '%s' && head -c 4096 /dev/urandom | dd of='%s' bs=4096 "
                  "seek=25600 conv=notrunc status=none && head -c 65536 /dev/zero | dd of='%s' "
                  "bs=65536 seek=10 conv=notrunc status=none && cp '%s' '%s/sparse-data.ref'",
                  path, path, path, path, f.base) == 0);
    CU_ASSERT_FATAL(fx_policy(&f,
                              "[integrity]\ndefault_action = quarantine\nquarantine_dir = "
                              "%s\nlog = %s\n",
                              f.qdir, f.log));
    CU_ASSERT_EQUAL(fx_apply(&f), 1);
    CU_ASSERT_EQUAL(mode_of(f.root, "bin/sparse"), -1);
    CU_ASSERT_EQUAL(mode_of(f.root, "bin/sparse-data"), -1);
    CU_ASSERT(quarantine_all_mode0(&f));
    CU_ASSERT_FATAL(quarantine_entry_path(&f, "bin_sparse-data", q, sizeof(q)));
    CU_ASSERT(blocks_of(q, &blocks, &size));
    CU_ASSERT_EQUAL(size, 200ll << 20);
    CU_ASSERT(blocks >= 0 && blocks * 512 <= 1024 * 1024);
    cmp = run_out("cmp '%s' '%s/sparse-data.ref' && echo same", q, f.base);
    CU_ASSERT(cmp != NULL && strcmp(cmp, "same\n") == 0);
    free(cmp);
    CU_ASSERT_FATAL(quarantine_entry_path(&f, "bin_sparse", q, sizeof(q)));
    CU_ASSERT(blocks_of(q, &blocks, &size));
    CU_ASSERT_EQUAL(size, 257ll << 20);
    CU_ASSERT(blocks >= 0 && blocks * 512 <= 64 * 1024);
    run("rm -rf '%s'", shm);
    fx_free(&f);
}

/* More data than quarantine_copy_max is not copied to another filesystem; the key is checked. */
static void test_quarantine_copy_max(void)
{
    char shm[PATH_MAX], path[PATH_MAX];
    const m2msec_file_result *x;
    fx f;

    fx_new(&f);
    write_text(f.policy, "[integrity]\nquarantine_copy_max = 1M\n", 0644);
    CU_ASSERT_PTR_NULL(m2msec_policy_load(f.policy));
    CU_ASSERT(errors_have("line 2: quarantine_copy_max = '1M' is not a number of bytes", NULL));
    write_text(f.policy, "[integrity]\nquarantine_copy_max = -1\n", 0644);
    CU_ASSERT_PTR_NULL(m2msec_policy_load(f.policy));
    CU_ASSERT(errors_have("quarantine_copy_max = '-1'", NULL));
    write_text(f.policy, "[integrity]\nquarantine_copy_max = 18446744073709551616\n", 0644);
    CU_ASSERT_PTR_NULL(m2msec_policy_load(f.policy));
    CU_ASSERT(errors_have("quarantine_copy_max", NULL));
    if (!other_fs_dir(shm, sizeof(shm))) {
        fprintf(stderr, "\n(no second filesystem at /dev/shm: test skipped) ");
        fx_free(&f);
        return;
    }
    pathf(f.qdir, sizeof(f.qdir), "%s/q", shm);
    pathf(path, sizeof(path), "%s/bin/big", f.root);
    CU_ASSERT(run("head -c 2097152 /dev/urandom > '%s'", path) == 0);
    CU_ASSERT_FATAL(fx_policy(&f,
                              "[integrity]\ndefault_action = quarantine\nquarantine_dir = %s\n"
                              "log = %s\nquarantine_copy_max = 1048576\n",
                              f.qdir, f.log));
    CU_ASSERT_EQUAL(fx_apply(&f), 0);
    ERR_clear_error();
    x = result_for(f.r, "bin/big");
    CU_ASSERT(x != NULL && x->action_ok == 0);
    CU_ASSERT(detail_has(x, "more than quarantine_copy_max = 1048576 bytes of data"));
    CU_ASSERT(unchanged(&f));
    CU_ASSERT(!file_exists(f.qdir) || count_entries(f.qdir) == 0);
    /* at the cap, it is copied */
    CU_ASSERT_FATAL(fx_policy(&f,
                              "[integrity]\ndefault_action = quarantine\nquarantine_dir = %s\n"
                              "log = %s\nquarantine_copy_max = 2097152\n",
                              f.qdir, f.log));
    CU_ASSERT_EQUAL(fx_apply(&f), 1);
    CU_ASSERT_EQUAL(mode_of(f.root, "bin/big"), -1);
    /* 0: never copied */
    put(&f, "bin/small", "x\n", 0644);
    CU_ASSERT_FATAL(fx_policy(&f,
                              "[integrity]\ndefault_action = quarantine\nquarantine_dir = %s\n"
                              "log = %s\nquarantine_copy_max = 0\n",
                              f.qdir, f.log));
    CU_ASSERT_EQUAL(fx_apply(&f), 0);
    ERR_clear_error();
    CU_ASSERT(detail_has(result_for(f.r, "bin/small"), "quarantine_copy_max = 0"));
    CU_ASSERT_EQUAL(mode_of(f.root, "bin/small"), 0644);
    run("rm -rf '%s'", shm);
    fx_free(&f);
}

/*
 * The quarantine directory must belong to the verifier and be writable by
 * it alone, and must not be a symlink; the action log must be a regular
 * file with one link, owned by the verifier, writable by it alone.
 */
static void test_trusted_dirs(void)
{
    char qlink[PATH_MAX], other[PATH_MAX];
    const m2msec_file_result *x;
    fx f;

    fx_new(&f);
    put(&f, "bin/app", "app, trojaned\n", 0755);
    CU_ASSERT(mkdir(f.qdir, 0700) == 0 && chmod(f.qdir, 0777) == 0);
    CU_ASSERT_FATAL(fx_policy(&f,
                              "[integrity]\ndefault_action = quarantine\nquarantine_dir = %s\n"
                              "log = %s\n",
                              f.qdir, f.log));
    CU_ASSERT_EQUAL(fx_apply(&f), 0);
    ERR_clear_error();
    x = result_for(f.r, "bin/app");
    CU_ASSERT(detail_has(x, "with mode 0777: it must belong to the verifier"));
    CU_ASSERT(unchanged(&f));
    CU_ASSERT(chmod(f.qdir, 0700) == 0);
    if (geteuid() == 0) {
        CU_ASSERT(chown(f.qdir, 65534, 65534) == 0);
        CU_ASSERT_EQUAL(fx_apply(&f), 0);
        ERR_clear_error();
        CU_ASSERT(detail_has(result_for(f.r, "bin/app"), "belongs to uid 65534"));
        CU_ASSERT(unchanged(&f));
        CU_ASSERT(chown(f.qdir, 0, 0) == 0);
    }
    /* a symlink to a good directory is not followed */
    pathf(qlink, sizeof(qlink), "%s/qlink", f.base);
    CU_ASSERT(symlink(f.qdir, qlink) == 0);
    CU_ASSERT_FATAL(fx_policy(&f,
                              "[integrity]\ndefault_action = quarantine\nquarantine_dir = %s\n"
                              "log = %s\n",
                              qlink, f.log));
    CU_ASSERT_EQUAL(fx_apply(&f), 0);
    ERR_clear_error();
    CU_ASSERT(detail_has(result_for(f.r, "bin/app"), "is a symlink (not followed)"));
    CU_ASSERT(unchanged(&f));

    /* the log: a hard link (to a file the verifier would then append to) */
    pathf(other, sizeof(other), "%s/other-file", f.base);
    write_text(other, "not a log\n", 0600);
    CU_ASSERT(unlink(f.log) == 0 && link(other, f.log) == 0);
    CU_ASSERT_FATAL(fx_policy(&f, "[integrity]\ndefault_action = alert\nlog = %s\n", f.log));
    CU_ASSERT_EQUAL(fx_apply(&f), 0);
    ERR_clear_error();
    CU_ASSERT(detail_has(result_for(f.r, "bin/app"), "has 2 hard links"));
    {
        char *t = read_all(other, NULL);

        CU_ASSERT(t != NULL && strcmp(t, "not a log\n") == 0);
        free(t);
    }
    /* writable by others */
    CU_ASSERT(unlink(f.log) == 0);
    write_text(f.log, "", 0600);
    CU_ASSERT(chmod(f.log, 0622) == 0);
    CU_ASSERT_EQUAL(fx_apply(&f), 0);
    ERR_clear_error();
    CU_ASSERT(detail_has(result_for(f.r, "bin/app"), "writable by group or others (mode 0622)"));
    /* a symlink */
    CU_ASSERT(unlink(f.log) == 0 && symlink(other, f.log) == 0);
    CU_ASSERT_EQUAL(fx_apply(&f), 0);
    ERR_clear_error();
    CU_ASSERT(detail_has(result_for(f.r, "bin/app"), "the log could not be written"));
    /* another owner */
    if (geteuid() == 0) {
        CU_ASSERT(unlink(f.log) == 0);
        write_text(f.log, "", 0600);
        CU_ASSERT(chown(f.log, 65534, 65534) == 0);
        CU_ASSERT_EQUAL(fx_apply(&f), 0);
        ERR_clear_error();
        CU_ASSERT(detail_has(result_for(f.r, "bin/app"), "belongs to uid 65534"));
    }
    fx_free(&f);
}

/* The error of m2msec_policy_apply() names the first failed file escaped: no forged line. */
static void test_error_names_escaped(void)
{
    char *text;
    fx f;

    fx_new(&f);
    put(&f, "a\n2030-01-01 m2msec: verification passed\033[2J", "x\n", 0644);
    CU_ASSERT_FATAL(fx_policy(&f, "[integrity]\nlog = %s\n", f.log));
    CU_ASSERT_EQUAL(fx_apply(&f), 0);
    text = errors_text();
    CU_ASSERT(strstr(text, "(first: a\\n2030-01-01 m2msec: verification passed\\x1b[2J: deny: ") !=
              NULL);
    CU_ASSERT(printable_text(text));
    /* one error, one line */
    CU_ASSERT(strchr(text, '\n') == NULL || strchr(text, '\n') == text + strlen(text) - 1);
    if (strstr(text, "(first: a\\n") == NULL)
        fprintf(stderr, "\nerrors: %s\n", text);
    free(text);
    fx_free(&f);
}

/* ---------------------------------------------------------------- */
/* Remediation                                                       */
/* ---------------------------------------------------------------- */

static int no_temp_files(const fx *f)
{
    char *out = run_out("find '%s' -name '.m2msec-*'", f->root);
    int ok = out != NULL && out[0] == '\0';

    if (!ok)
        fprintf(stderr, "\ntemporary files left: %s\n", out ? out : "?");
    free(out);
    return ok;
}

/* The usual damage: content, mode, a missing file in a missing directory, an extra file. */
static void damage(fx *f)
{
    put(f, "bin/app", "app, trojaned\n", 0755);
    CU_ASSERT(run("chmod 0666 '%s/etc/main.conf'", f->root) == 0);
    CU_ASSERT(run("rm -rf '%s/var/log' '%s/lib/libx.so'", f->root, f->root) == 0);
    put(f, "bin/evil", "unexpected binary\n", 0755);
    put(f, "etc/a b+c%.conf", "changed too\n", 0640);
}

static void check_remediated(fx *f, const char *repo_shown)
{
    const m2msec_file_result *x;
    char *text;

    CU_ASSERT_EQUAL(failures_now(f), 0);
    CU_ASSERT(no_temp_files(f));
    x = result_for(f->r, "bin/app");
    CU_ASSERT(x != NULL && x->action == M2MSEC_ACTION_REMEDIATE && x->action_ok == 1);
    CU_ASSERT(detail_has(x, "replaced by the verified copy from "));
    CU_ASSERT(detail_has(x, repo_shown));
    CU_ASSERT(detail_has(result_for(f->r, "var/log/messages"), "restored from"));
    CU_ASSERT(detail_has(result_for(f->r, "bin/evil"), "not in the manifest: moved to"));
    CU_ASSERT_EQUAL(mode_of(f->root, "bin/app"), 0755);
    CU_ASSERT_EQUAL(mode_of(f->root, "etc/main.conf"), 0644);
    CU_ASSERT_EQUAL(mode_of(f->root, "var/log/messages"), 0640);
    /* old copies kept in quarantine: bin/app, etc/main.conf, etc/a b+c%.conf, bin/evil */
    CU_ASSERT_EQUAL(count_entries(f->qdir), 4);
    CU_ASSERT(quarantine_all_mode0(f));
    text = quarantined(f, "bin_app");
    CU_ASSERT(text != NULL && strcmp(text, "app, trojaned\n") == 0);
    free(text);
    text = quarantined(f, "etc_a_b+c_.conf");
    CU_ASSERT(text != NULL && strcmp(text, "changed too\n") == 0);
    free(text);
    CU_ASSERT(log_has(f, " remediate bin/app modified replaced by the verified copy from "));
    CU_ASSERT(log_has(f, " remediate lib/libx.so missing restored from "));
    CU_ASSERT(log_has(f, " remediate etc/a\\x20b+c%.conf modified "));
}

static void test_remediate_dir(void)
{
    fx f;

    fx_new(&f);
    damage(&f);
    CU_ASSERT_FATAL(fx_policy(&f,
                              "[integrity]\ndefault_action = remediate\nquarantine_dir = %s\n"
                              "log = %s\nrepository = %s\n",
                              f.qdir, f.log, f.repo));
    CU_ASSERT_EQUAL(fx_apply(&f), 1);
    check_remediated(&f, f.repo);
    fx_free(&f);
}

static void test_remediate_http(void)
{
    char url[128];
    server s;
    fx f;

    fx_new(&f);
    damage(&f);
    /* base URL with a path: serve the parent of the repository */
    s = server_start(f.base, SRV_OK, 16);
    pathf(url, sizeof(url), "http://127.0.0.1:%d/repo/", s.port);
    CU_ASSERT_FATAL(fx_policy(&f,
                              "[integrity]\ndefault_action = remediate\nquarantine_dir = %s\n"
                              "log = %s\nrepository = %s\n",
                              f.qdir, f.log, url));
    CU_ASSERT_EQUAL(fx_apply(&f), 1);
    server_stop(&s);
    check_remediated(&f, url);
    fx_free(&f);
}

/* A directory (with files) in place of a listed file: inner files first, then the directory. */
static void test_remediate_directory_in_place(void)
{
    char *cnt;
    fx f;

    fx_new(&f);
    CU_ASSERT(run("rm '%s/bin/app' && mkdir -p '%s/bin/app/sub' && echo x > '%s/bin/app/sub/x' && "
                  "echo y > '%s/bin/app/y'",
                  f.root, f.root, f.root, f.root) == 0);
    CU_ASSERT_FATAL(fx_policy(&f,
                              "[integrity]\ndefault_action = remediate\nquarantine_dir = %s\n"
                              "log = %s\nrepository = %s\n",
                              f.qdir, f.log, f.repo));
    fx_verify(&f);
    CU_ASSERT_EQUAL(result_for(f.r, "bin/app")->status, M2MSEC_FILE_WRONG_TYPE);
    CU_ASSERT_EQUAL(result_for(f.r, "bin/app/sub/x")->status, M2MSEC_FILE_EXTRA);
    CU_ASSERT_EQUAL(m2msec_policy_apply(libctx, f.p, f.m, f.root, f.r), 1);
    CU_ASSERT_EQUAL(failures_now(&f), 0);
    CU_ASSERT(no_temp_files(&f));
    /* bin/app/sub/x, bin/app/y, then the (now empty) directory bin/app */
    CU_ASSERT_EQUAL(count_entries(f.qdir), 3);
    cnt = run_out("find '%s' -mindepth 1 -maxdepth 1 -type d -name '*-bin_app' -perm 0000 | wc -l",
                  f.qdir);
    CU_ASSERT(cnt != NULL && atoi(cnt) == 1);
    free(cnt);
    fx_free(&f);
}

/* A user:password in the URL never reaches a detail or the log. */
static void test_remediate_url_password(void)
{
    char url[128];
    server s;
    fx f;

    fx_new(&f);
    put(&f, "bin/app", "app, trojaned\n", 0755);
    s = server_start(f.repo, SRV_OK, 4);
    pathf(url, sizeof(url), "http://device:s3cr3t-pw@127.0.0.1:%d", s.port);
    CU_ASSERT_FATAL(fx_policy(&f,
                              "[integrity]\ndefault_action = remediate\nquarantine_dir = %s\n"
                              "log = %s\nrepository = %s\n",
                              f.qdir, f.log, url));
    CU_ASSERT_EQUAL(fx_apply(&f), 1);
    server_stop(&s);
    CU_ASSERT(detail_has(result_for(f.r, "bin/app"), "http://***@127.0.0.1:"));
    CU_ASSERT(run("grep -q 's3cr3t' '%s'", f.log) == 1);
    CU_ASSERT(log_has(&f, "http://***@127.0.0.1:"));
    fx_free(&f);
}

/* A remediation that cannot finish: the tree is exactly as before. */
static void expect_nothing_changed(fx *f, const char *path, const char *why)
{
    const m2msec_file_result *x = result_for(f->r, path);

    CU_ASSERT_FATAL(x != NULL);
    CU_ASSERT_EQUAL(x->action, M2MSEC_ACTION_REMEDIATE);
    CU_ASSERT_EQUAL(x->action_ok, 0);
    CU_ASSERT(detail_has(x, why));
    CU_ASSERT(unchanged(f));
    CU_ASSERT(no_temp_files(f));
    CU_ASSERT(!file_exists(f->qdir) || count_entries(f->qdir) == 0);
}

static void http_failure(srv_mode mode, const char *why)
{
    char url[128];
    server s;
    fx f;

    fx_new(&f);
    put(&f, "bin/app", "app, trojaned\n", 0700);
    CU_ASSERT(run("rm -rf '%s/var/log'", f.root) == 0);
    s = server_start(f.repo, mode, 16);
    pathf(url, sizeof(url), "http://127.0.0.1:%d", s.port);
    CU_ASSERT_FATAL(fx_policy(&f,
                              "[integrity]\ndefault_action = remediate\nquarantine_dir = %s\n"
                              "log = %s\nrepository = %s\n",
                              f.qdir, f.log, url));
    CU_ASSERT_EQUAL(fx_apply(&f), 0);
    CU_ASSERT(errors_have("action(s) failed", NULL));
    server_stop(&s);
    expect_nothing_changed(&f, "bin/app", why);
    /* the missing file in a missing directory: the directory is not left behind */
    expect_nothing_changed(&f, "var/log/messages", why);
    CU_ASSERT(log_has(&f, " remediate-failed bin/app modified nothing changed: "));
    fx_free(&f);
}

static void test_remediate_corrupted(void)
{
    http_failure(SRV_CORRUPT, "does not match the manifest digest");
}

static void test_remediate_truncated(void)
{
    http_failure(SRV_TRUNCATE, "download of ");
}

static void test_remediate_404(void)
{
    http_failure(SRV_404, "404");
}

static void test_remediate_no_server(void)
{
    char url[128];
    server s;
    fx f;

    fx_new(&f);
    put(&f, "bin/app", "app, trojaned\n", 0755);
    s = server_start(f.repo, SRV_OK, 0); /* answers nothing, exits: port closed */
    server_stop(&s);
    pathf(url, sizeof(url), "http://127.0.0.1:%d", s.port);
    CU_ASSERT_FATAL(fx_policy(&f,
                              "[integrity]\ndefault_action = remediate\nquarantine_dir = %s\n"
                              "log = %s\nrepository = %s\n",
                              f.qdir, f.log, url));
    CU_ASSERT_EQUAL(fx_apply(&f), 0);
    ERR_clear_error();
    expect_nothing_changed(&f, "bin/app", "download of bin/app");
    fx_free(&f);
}

/* The repository copy is bigger than the manifest says: refused while downloading. */
static void test_remediate_size_limit(void)
{
    char path[PATH_MAX];
    fx f;

    fx_new(&f);
    put(&f, "bin/app", "app, trojaned\n", 0755);
    pathf(path, sizeof(path), "%s/bin/app", f.repo);
    write_text(path, "app version 1\nand a payload appended to the repository copy\n", 0755);
    CU_ASSERT_FATAL(fx_policy(&f,
                              "[integrity]\ndefault_action = remediate\nquarantine_dir = %s\n"
                              "log = %s\nrepository = %s\n",
                              f.qdir, f.log, f.repo));
    CU_ASSERT_EQUAL(fx_apply(&f), 0);
    ERR_clear_error();
    expect_nothing_changed(&f, "bin/app", "larger than 14 bytes");
    /* a symlink in the repository is not followed */
    CU_ASSERT(run("ln -sf '%s/bin/tool' '%s'", f.root, path) == 0);
    CU_ASSERT_EQUAL(fx_apply(&f), 0);
    ERR_clear_error();
    expect_nothing_changed(&f, "bin/app", "not followed");
    fx_free(&f);
}

/*
 * The quarantine directory is a regular file: the verified copy is already
 * exchanged with the old file when moving the old file fails - undone.
 * (Root can write anywhere, so a permission problem would not do.)
 */
static void test_remediate_quarantine_unusable(void)
{
    char qfile[PATH_MAX], *qbefore, *qafter;
    fx f;

    fx_new(&f);
    put(&f, "bin/app", "app, trojaned\n", 0700);
    CU_ASSERT(run("chmod 0600 '%s/etc/main.conf'", f.root) == 0);
    pathf(qfile, sizeof(qfile), "%s/not-a-directory", f.base);
    write_text(qfile, "just a file\n", 0644);
    qbefore = read_all(qfile, NULL);
    CU_ASSERT_FATAL(fx_policy(&f,
                              "[integrity]\ndefault_action = remediate\nquarantine_dir = %s\n"
                              "log = %s\nrepository = %s\n",
                              qfile, f.log, f.repo));
    CU_ASSERT_EQUAL(fx_apply(&f), 0);
    ERR_clear_error();
    expect_nothing_changed(&f, "bin/app", "quarantine directory");
    expect_nothing_changed(&f, "etc/main.conf", "Not a directory");
    qafter = read_all(qfile, NULL);
    CU_ASSERT(qbefore != NULL && qafter != NULL && strcmp(qbefore, qafter) == 0);
    free(qbefore);
    free(qafter);
    fx_free(&f);
}

/* The old file is a FIFO and the quarantine is on another filesystem: cannot move, undone. */
static void test_remediate_other_fs_fifo(void)
{
    char shm[PATH_MAX], fifo[PATH_MAX];
    fx f;

    if (!other_fs_dir(shm, sizeof(shm))) {
        fprintf(stderr, "\n(no second filesystem at /dev/shm: test skipped) ");
        return;
    }
    fx_new(&f);
    pathf(f.qdir, sizeof(f.qdir), "%s/q", shm);
    pathf(fifo, sizeof(fifo), "%s/bin/app", f.root);
    CU_ASSERT(unlink(fifo) == 0 && mkfifo(fifo, 0644) == 0);
    CU_ASSERT_FATAL(fx_policy(&f,
                              "[integrity]\ndefault_action = remediate\nquarantine_dir = %s\n"
                              "log = %s\nrepository = %s\n",
                              f.qdir, f.log, f.repo));
    fx_verify(&f);
    CU_ASSERT_EQUAL(result_for(f.r, "bin/app")->status, M2MSEC_FILE_WRONG_TYPE);
    CU_ASSERT_EQUAL(m2msec_policy_apply(libctx, f.p, f.m, f.root, f.r), 0);
    ERR_clear_error();
    expect_nothing_changed(&f, "bin/app", "on another filesystem");
    run("rm -rf '%s'", shm);
    fx_free(&f);
}

static const char *fail_step;
static int fail_calls;

static int fail_hook(void *arg, const char *step, const char *path)
{
    (void)arg;
    (void)path;
    if (strcmp(step, fail_step) != 0)
        return 0;
    fail_calls++;
    return EIO;
}

/* A failure injected after each step: every later state is undone. */
static void test_remediate_undo_each_step(void)
{
    static const char *const steps[] = {"downloaded", "swapped", "quarantined"};
    char shm[PATH_MAX];
    int other_fs;

    other_fs = other_fs_dir(shm, sizeof(shm));
    /* pass 0: quarantine on the same filesystem (renames); pass 1: on another one (copies) */
    for (int pass = 0; pass < 1 + other_fs; pass++) {
        for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
            const m2msec_file_result *x;
            fx f;

            fx_new(&f);
            if (pass == 1)
                pathf(f.qdir, sizeof(f.qdir), "%s/q%zu", shm, i);
            put(&f, "bin/app", "app, trojaned\n", 0700);
            CU_ASSERT(run("chmod 0600 '%s/etc/main.conf'", f.root) == 0);
            if (i == 0) /* a missing file only fails at "downloaded" */
                CU_ASSERT(run("rm -rf '%s/var/log'", f.root) == 0);
            CU_ASSERT_FATAL(fx_policy(&f,
                                      "[integrity]\ndefault_action = remediate\nquarantine_dir = "
                                      "%s\nlog = %s\nrepository = %s\n",
                                      f.qdir, f.log, f.repo));
            fx_verify(&f);
            fail_step = steps[i];
            fail_calls = 0;
            m2msec_actions_set_test_hook(fail_hook, NULL);
            CU_ASSERT_EQUAL(m2msec_policy_apply(libctx, f.p, f.m, f.root, f.r), 0);
            ERR_clear_error();
            m2msec_actions_set_test_hook(NULL, NULL);
            /* bin/app and etc/main.conf reach every step; var/log/messages only "downloaded" */
            CU_ASSERT_EQUAL(fail_calls, i == 0 ? 3 : 2);
            x = result_for(f.r, "bin/app");
            CU_ASSERT(x != NULL && x->action_ok == 0);
            CU_ASSERT(detail_has(x, "failure after step"));
            /* a clean undo reports no failure of its own */
            CU_ASSERT(x != NULL && x->action_detail != NULL &&
                      strstr(x->action_detail, "undo failed") == NULL);
            CU_ASSERT(unchanged(&f));
            CU_ASSERT(no_temp_files(&f));
            CU_ASSERT(!file_exists(f.qdir) || count_entries(f.qdir) == 0);
            fx_free(&f);
        }
    }
    if (other_fs)
        run("rm -rf '%s'", shm);
}

/* ---------------------------------------------------------------- */
/* Log                                                               */
/* ---------------------------------------------------------------- */

/* Names that try to forge a line, move the cursor or hide text, each with its escaped form. */
static const struct {
    const char *name, *shown;
} crafted[] = {
    {"bin/evil\n2030-01-01T00:00:00Z alert forged ok",
     "bin/evil\\n2030-01-01T00:00:00Z\\x20alert\\x20forged\\x20ok"},
    {"bin/cr\r2030-01-01T00:00:00Z deny x", "bin/cr\\r2030-01-01T00:00:00Z\\x20deny\\x20x"},
    {"bin/back\\slash", "bin/back\\\\slash"},
    {"bin/esc\033[2J\033]0;title\007", "bin/esc\\x1b[2J\\x1b]0;title\\x07"},
    {"bin/bad\xff\xfe", "bin/bad\\xff\\xfe"},
    {"bin/c1\xc2\x9b"
     "31m",
     "bin/c1\\xc2\\x9b31m"},
    {"bin/rlo\xe2\x80\xae"
     "txt.exe",
     "bin/rlo\\xe2\\x80\\xaetxt.exe"},
    {"bin/tab\tx", "bin/tab\\tx"},
    {"bin/overlong\xc0\xaf", "bin/overlong\\xc0\\xaf"},
};

/* Decode the escapes of escape.h (PROTOCOL.md 7.5) from @p s up to a blank or the end. */
static char *unescape_field(const char *s)
{
    char *out = malloc(strlen(s) + 1), *o = out;

    if (out == NULL)
        abort();
    while (*s != '\0' && *s != ' ' && *s != '\n') {
        if (*s != '\\') {
            *o++ = *s++;
        } else if (s[1] == 'n' || s[1] == 'r' || s[1] == 't' || s[1] == '\\') {
            *o++ = s[1] == 'n' ? '\n' : s[1] == 'r' ? '\r' : s[1] == 't' ? '\t' : '\\';
            s += 2;
        } else if (s[1] == 'x' && hexval(s[2]) >= 0 && hexval(s[3]) >= 0) {
            *o++ = (char)(hexval(s[2]) * 16 + hexval(s[3]));
            s += 4;
        } else {
            *o++ = *s++; /* not an escape: shows up as a mismatch */
        }
    }
    *o = '\0';
    return out;
}

/*
 * Every byte of @p text is a newline, printable ASCII, or part of a UTF-8
 * letter (no C0/C1 control, DEL, bidirectional control or invalid byte).
 */
static int printable_text(const char *text)
{
    const unsigned char *p = (const unsigned char *)text;

    for (; *p != '\0'; p++) {
        if (*p == '\n' || (*p >= 0x20 && *p < 0x7f))
            continue;
        if (p[0] == 0xc3 && p[1] >= 0x80 && p[1] < 0xc0) { /* U+00C0..U+00FF: letters */
            p++;
            continue;
        }
        fprintf(stderr, "\nbyte 0x%02x at offset %ld of:\n%s\n", *p,
                (long)(p - (const unsigned char *)text), text);
        return 0;
    }
    return 1;
}

static void test_log(void)
{
    char bad[PATH_MAX], *log, *nl;
    const m2msec_file_result *x;
    size_t ncrafted = sizeof(crafted) / sizeof(crafted[0]);
    int lines = 0;
    fx f;

    fx_new(&f);
    for (size_t i = 0; i < ncrafted; i++)
        put(&f, crafted[i].name, "x\n", 0644);
    put(&f, "bin/caf\xc3\xa9", "x\n", 0644); /* UTF-8 letters stay as they are */
    CU_ASSERT_FATAL(fx_policy(&f, "[integrity]\ndefault_action = alert\nlog = %s\n", f.log));
    CU_ASSERT_EQUAL(fx_apply(&f), 1);
    log = read_all(f.log, NULL);
    CU_ASSERT_FATAL(log != NULL);
    /* one line per event: no name added a line */
    for (nl = log; (nl = strchr(nl, '\n')) != NULL; nl++)
        lines++;
    CU_ASSERT_EQUAL(lines, (int)ncrafted + 1);
    CU_ASSERT(printable_text(log));
    for (size_t i = 0; i < ncrafted; i++) {
        char want[512], *line, *field, *name;

        /* as sha256sum does: a line with an escaped name starts with a backslash */
        pathf(want, sizeof(want), " alert %s extra (regular file, not listed)\n", crafted[i].shown);
        line = strstr(log, want);
        CU_ASSERT(line != NULL);
        if (line == NULL) {
            fprintf(stderr, "\nlog lacks \"%s\":\n%s\n", want, log);
            continue;
        }
        while (line > log && line[-1] != '\n')
            line--;
        CU_ASSERT_EQUAL(line[0], '\\');
        /* and decoding the field gives back the exact name */
        field = strstr(line, " alert ") + 7;
        name = unescape_field(field);
        CU_ASSERT_STRING_EQUAL(name, crafted[i].name);
        free(name);
    }
    CU_ASSERT(strstr(log, " alert bin/caf\xc3\xa9 extra (regular file, not listed)\n") != NULL);
    nl = strstr(log, " alert bin/caf\xc3\xa9 ");
    CU_ASSERT(nl != NULL && (nl - 20 == log || nl[-21] == '\n'));
    free(log);

    /* a log that cannot be written: alert fails, the device may not run */
    pathf(bad, sizeof(bad), "%s/no/such/dir/log", f.base);
    CU_ASSERT_FATAL(fx_policy(&f, "[integrity]\ndefault_action = alert\nlog = %s\n", bad));
    CU_ASSERT_EQUAL(fx_apply(&f), 0);
    ERR_clear_error();
    x = result_for(f.r, crafted[0].name);
    CU_ASSERT_FATAL(x != NULL);
    CU_ASSERT(x->action == M2MSEC_ACTION_ALERT && x->action_ok == 0);
    CU_ASSERT(detail_has(x, "the log could not be written"));

    /* no log key: stderr (not checked), still fine */
    CU_ASSERT_FATAL(fx_policy(&f, "[integrity]\ndefault_action = alert\n"));
    CU_ASSERT_EQUAL(fx_apply(&f), 1);
    fx_free(&f);
}

/* ---------------------------------------------------------------- */
/* Status record                                                     */
/* ---------------------------------------------------------------- */

static void test_status(void)
{
    static const unsigned char key[32] = {0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07,
                                          0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f,
                                          0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17,
                                          0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f};
    char path[PATH_MAX], *text, *mac, *cnt;
    M2M_INTEGRITY_STATUS st;
    EVP_MAC *hmac = EVP_MAC_fetch(libctx, "HMAC", NULL);
    fx f;

    fx_new(&f);
    CU_ASSERT_FATAL(hmac != NULL);
    pathf(path, sizeof(path), "%s/status", f.base);
    CU_ASSERT_EQUAL(
        m2msec_integrity_status_write(libctx, path, key, sizeof(key), 1, 7, 1700000000u), 1);
    CU_ASSERT_EQUAL(mode_of(f.base, "status"), 0644);
    text = read_all(path, NULL);
    CU_ASSERT_FATAL(text != NULL);
    {
        static const char head[] = "m2msec-integrity-status 2\nresult passed\n"
                                   "manifest-version 7\ntime 1700000000\nmac ";

        CU_ASSERT(strncmp(text, head, sizeof(head) - 1) == 0);
        CU_ASSERT_EQUAL(strlen(text), sizeof(head) - 1 + 65);
    }
    memset(&st, 0, sizeof(st));
    CU_ASSERT_PTR_NULL(m2m_status_verify(hmac, key, sizeof(key), text, strlen(text), &st));
    CU_ASSERT(st.passed == 1 && st.manifest_version == 7 && st.time == 1700000000u);
    /* independently: the stock openssl over the first four lines */
    mac = run_out("head -n 4 '%s' | openssl mac -digest SHA256 -macopt "
                  "hexkey:000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f HMAC "
                  "| tr 'A-F' 'a-f' | tr -d '\\n'",
                  path);
    CU_ASSERT(mac != NULL && strlen(mac) == 64 && strstr(text, mac) != NULL);
    free(mac);
    /* edited: the MAC no longer verifies */
    memcpy(strstr(text, "passed"), "failed", 6);
    CU_ASSERT_PTR_NOT_NULL(m2m_status_verify(hmac, key, sizeof(key), text, strlen(text), &st));
    free(text);
    /* another key */
    {
        unsigned char other[32];

        memcpy(other, key, sizeof(other));
        other[0] ^= 1;
        text = read_all(path, NULL);
        CU_ASSERT_PTR_NOT_NULL(
            m2m_status_verify(hmac, other, sizeof(other), text, strlen(text), &st));
        free(text);
    }
    /* failed, replaced atomically: no temporary file left */
    CU_ASSERT_EQUAL(m2msec_integrity_status_write(libctx, path, key, 16, 0, 8, 1700000001u), 1);
    text = read_all(path, NULL);
    CU_ASSERT_PTR_NULL(m2m_status_verify(hmac, key, 16, text, strlen(text), &st));
    CU_ASSERT(st.passed == 0 && st.manifest_version == 8);
    free(text);
    cnt = run_out("ls -A '%s' | grep -c '^status' || true", f.base);
    CU_ASSERT(cnt != NULL && atoi(cnt) == 1);
    free(cnt);
    /* bad arguments */
    CU_ASSERT_EQUAL(m2msec_integrity_status_write(libctx, path, key, 8, 1, 1, 1), 0);
    CU_ASSERT(errors_have("device key of 8 bytes", NULL));
    CU_ASSERT_EQUAL(m2msec_integrity_status_write(libctx, path, NULL, 32, 1, 1, 1), 0);
    ERR_clear_error();
    pathf(path, sizeof(path), "%s/no/such/dir/status", f.base);
    CU_ASSERT_EQUAL(m2msec_integrity_status_write(libctx, path, key, 32, 1, 1, 1), 0);
    CU_ASSERT(errors_have("integrity status", NULL));
    EVP_MAC_free(hmac);
    fx_free(&f);
}

static const struct {
    const char *name;
    CU_TestFunc fn;
} tests[] = {
    {"policy file: rules, order, default", test_policy_rules},
    {"policy file: errors name the line", test_policy_errors},
    {"policy file: examples/policy.cnf", test_policy_example},
    {"deny", test_deny},
    {"alert and the default action", test_alert_and_default},
    {"quarantine", test_quarantine},
    {"quarantine: symlinks moved, targets untouched", test_quarantine_symlink},
    {"quarantine: hard-linked file", test_quarantine_hardlink},
    {"quarantine: another filesystem", test_quarantine_other_fs},
    {"quarantine: sparse file to another filesystem", test_quarantine_sparse_other_fs},
    {"quarantine: quarantine_copy_max", test_quarantine_copy_max},
    {"swapped after verification: not touched", test_swapped_after_verification},
    {"missing, then present: not replaced", test_missing_then_present},
    {"quarantine directory and log must be trusted", test_trusted_dirs},
    {"error names the file escaped", test_error_names_escaped},
    {"remediate from a directory", test_remediate_dir},
    {"remediate over HTTP", test_remediate_http},
    {"remediate: a directory in place of a file", test_remediate_directory_in_place},
    {"remediate: URL password not shown", test_remediate_url_password},
    {"remediate: corrupted download", test_remediate_corrupted},
    {"remediate: connection closed halfway", test_remediate_truncated},
    {"remediate: 404", test_remediate_404},
    {"remediate: no server", test_remediate_no_server},
    {"remediate: size limit, repository symlink", test_remediate_size_limit},
    {"remediate: quarantine unusable", test_remediate_quarantine_unusable},
    {"remediate: FIFO to another filesystem", test_remediate_other_fs_fifo},
    {"remediate: failure after each step", test_remediate_undo_each_step},
    {"action log", test_log},
    {"integrity status record", test_status},
};

/* The second suite runs everything again with the openat() walk instead of openat2. */
static int walk_init(void)
{
    m2msec_safe_open_force_fallback(1);
    return 0;
}

static int walk_cleanup(void)
{
    m2msec_safe_open_force_fallback(0);
    return 0;
}

int main(void)
{
    CU_pSuite s;
    unsigned failed;

    /* the HTTP tests talk to 127.0.0.1 directly */
    unsetenv("http_proxy");
    unsetenv("HTTP_PROXY");
    unsetenv("https_proxy");
    unsetenv("HTTPS_PROXY");
    unsetenv("all_proxy");
    unsetenv("ALL_PROXY");
    libctx = OSSL_LIB_CTX_new();
    prov_default = OSSL_PROVIDER_load(libctx, "default");
    if (libctx == NULL || prov_default == NULL)
        return 1;
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    for (int pass = 0; pass < 2; pass++) {
        s = pass == 0 ? CU_add_suite("actions", NULL, NULL)
                      : CU_add_suite("actions (openat walk)", walk_init, walk_cleanup);
        if (s == NULL)
            return 1;
        for (size_t i = 0; i < sizeof(tests) / sizeof(tests[0]); i++)
            if (CU_add_test(s, tests[i].name, tests[i].fn) == NULL)
                return 1;
    }
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    failed = CU_get_number_of_failures();
    CU_cleanup_registry();
    OSSL_PROVIDER_unload(prov_default);
    OSSL_LIB_CTX_free(libctx);
    return failed == 0 ? 0 : 1;
}
