/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Policy actions against a user who swaps entries while the verifier (root
 * in CI) acts on them (suite 'actions', docs/SECURITY.md "Policy actions").
 *
 * The user owns a directory of the verified tree, so between any two system
 * calls of the verifier they may rename, delete or create entries there.
 * To hit the windows that matter every time, this program defines
 * renameat2() and unlinkat() itself: libm2msec's calls bind to these
 * (the executable exports them because the library uses them), which run
 * the real system call and, once, at a chosen call, act as the user: move
 * the entry away and put a symlink to a root-only file in its place. Each
 * test then checks that the root-only file kept its mode and content and
 * that the action failed, saying why. The test hook of the remediation
 * (m2msec_actions_set_test_hook) injects the failure that starts an undo.
 *
 * On the code before these checks existed, the quarantine's undo changed
 * the mode of the root-only file through the symlink (tests 1, 2 and 4).
 */
#define _GNU_SOURCE /* renameat2, RENAME_*, mkdtemp */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <CUnit/Basic.h>
#include <CUnit/CUnit.h>
#include <openssl/err.h>
#include <openssl/provider.h>

#include "m2msec/integrity.h"
#include "actions_internal.h"
#include "safe_open.h"
#include "test_errors.h"
#include "test_files.h"

static OSSL_LIB_CTX *libctx;

/* ---------------------------------------------------------------- */
/* The user's move, at one chosen call                               */
/* ---------------------------------------------------------------- */

typedef enum {
    AT_RENAME_BEFORE, /* before the rename runs, replace its source entry */
    AT_RENAME_AFTER,  /* after it ran, replace what arrived at its target */
    AT_EXCHANGE,      /* before a RENAME_EXCHANGE, replace its second entry */
    AT_UNLINK_AFTER   /* after an unlink in from_dir, replace the temporary file in to_dir */
} trap_kind;

static struct {
    int armed, fired;
    trap_kind kind;
    char from_dir[PATH_MAX], to_dir[PATH_MAX]; /* real paths of the two directories */
    char precious[PATH_MAX], stash[PATH_MAX];
} trap;

/* Does the descriptor @p fd name the directory @p dir? */
static int fd_is(int fd, const char *dir)
{
    char proc[64], buf[PATH_MAX];
    ssize_t n;

    snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
    n = readlink(proc, buf, sizeof(buf) - 1);
    if (n < 0)
        return 0;
    buf[n] = '\0';
    return strcmp(buf, dir) == 0;
}

/* The user's move: dfd/name goes to the stash, a symlink to the root-only file takes its place. */
static void swap_for_symlink(int dfd, const char *name)
{
    int sfd = open(trap.stash, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    char moved[NAME_MAX + 16];

    snprintf(moved, sizeof(moved), "%s.moved", name);
    if (sfd < 0 || syscall(SYS_renameat2, dfd, name, sfd, moved, 0) != 0 ||
        symlinkat(trap.precious, dfd, name) != 0) {
        perror("the user's swap");
        abort();
    }
    close(sfd);
    trap.fired = 1;
}

/* The remediation's temporary file in @p dfd, if there is one. */
static int find_tmp(int dfd, char *name, size_t len)
{
    int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    struct dirent *de;
    int found = 0;

    while (d != NULL && (de = readdir(d)) != NULL)
        if (strncmp(de->d_name, ".m2msec-", 8) == 0) {
            snprintf(name, len, "%s", de->d_name);
            found = 1;
            break;
        }
    if (d != NULL)
        closedir(d);
    else if (fd >= 0)
        close(fd);
    return found;
}

int renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath,
              unsigned int flags)
{
    int match =
        trap.armed && !trap.fired && fd_is(olddirfd, trap.from_dir) && fd_is(newdirfd, trap.to_dir);
    long r;

    if (match && trap.kind == AT_RENAME_BEFORE && flags == RENAME_NOREPLACE)
        swap_for_symlink(olddirfd, oldpath);
    if (match && trap.kind == AT_EXCHANGE && flags == RENAME_EXCHANGE)
        swap_for_symlink(newdirfd, newpath);
    r = syscall(SYS_renameat2, olddirfd, oldpath, newdirfd, newpath, flags);
    if (r == 0 && match && trap.kind == AT_RENAME_AFTER && flags == RENAME_NOREPLACE)
        swap_for_symlink(newdirfd, newpath);
    return (int)r;
}

int unlinkat(int dirfd, const char *pathname, int flags)
{
    long r = syscall(SYS_unlinkat, dirfd, pathname, flags);

    if (r == 0 && trap.armed && !trap.fired && trap.kind == AT_UNLINK_AFTER &&
        fd_is(dirfd, trap.from_dir)) {
        int tfd = open(trap.to_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        char tmp[NAME_MAX + 1];

        if (tfd >= 0 && find_tmp(tfd, tmp, sizeof(tmp)))
            swap_for_symlink(tfd, tmp);
        if (tfd >= 0)
            close(tfd);
    }
    return (int)r;
}

/* ---------------------------------------------------------------- */
/* Fixture                                                           */
/* ---------------------------------------------------------------- */

typedef struct fx {
    char base[PATH_MAX], root[PATH_MAX], bin[PATH_MAX], repo[PATH_MAX], qdir[PATH_MAX];
    char log[PATH_MAX], policy[PATH_MAX], shm[PATH_MAX];
    m2msec_manifest *m;
    m2msec_policy *p;
    m2msec_report *r;
} fx;

/*
 * A tree with bin/app (listed) whose directory the user may write, a
 * repository copy, and a root-only file outside. bin/app is then replaced
 * by the user's own version, mode 0666: what the undo would give the
 * root-only file through a symlink. @p other_fs puts the quarantine
 * directory on /dev/shm (0 if that is the same filesystem as /tmp).
 */
static int fx_new(fx *f, int other_fs, const char *action)
{
    char text[4 * PATH_MAX + 128];
    struct stat a, b;

    memset(f, 0, sizeof(*f));
    pathf(f->base, sizeof(f->base), "%s", "/tmp/m2m-race-XXXXXX");
    if (mkdtemp(f->base) == NULL)
        abort();
    pathf(f->root, sizeof(f->root), "%s/root", f->base);
    pathf(f->bin, sizeof(f->bin), "%s/root/bin", f->base);
    pathf(f->repo, sizeof(f->repo), "%s/repo", f->base);
    pathf(f->qdir, sizeof(f->qdir), "%s/quarantine", f->base);
    pathf(f->log, sizeof(f->log), "%s/actions.log", f->base);
    pathf(f->policy, sizeof(f->policy), "%s/policy.cnf", f->base);
    if (other_fs) {
        if (stat("/dev/shm", &a) != 0 || stat("/tmp", &b) != 0 || a.st_dev == b.st_dev)
            return 0;
        pathf(f->shm, sizeof(f->shm), "%s", "/dev/shm/m2m-race-XXXXXX");
        if (mkdtemp(f->shm) == NULL)
            return 0;
        pathf(f->qdir, sizeof(f->qdir), "%s/q", f->shm);
    }
    if (run("mkdir -p '%s' && printf 'app version 1\\n' > '%s/app' && chmod 0666 '%s/app'", f->bin,
            f->bin, f->bin) != 0)
        abort();
    f->m = m2msec_manifest_from_tree(libctx, f->root, "SHA256", 1, 4102444800u, 1, 1);
    if (f->m == NULL || run("cp -a '%s' '%s'", f->root, f->repo) != 0)
        abort();
    /* the user's version of the program, and their directory */
    if (run("printf 'app, trojaned\\n' > '%s/app' && chmod 0777 '%s'", f->bin, f->bin) != 0)
        abort();
    pathf(trap.precious, sizeof(trap.precious), "%s/precious", f->base);
    write_text(trap.precious, "root only\n", 0600);
    if (geteuid() == 0 && chown(trap.precious, 0, 0) != 0)
        abort();
    pathf(trap.stash, sizeof(trap.stash), "%s/stash", f->base);
    if (mkdir(trap.stash, 0755) != 0)
        abort();
    pathf(text, sizeof(text),
          "[integrity]\ndefault_action = %s\nquarantine_dir = %s\nlog = %s\nrepository = %s\n",
          action, f->qdir, f->log, f->repo);
    write_text(f->policy, text, 0644);
    f->p = m2msec_policy_load(f->policy);
    if (f->p == NULL) {
        ERR_print_errors_fp(stderr);
        abort();
    }
    /* the quarantine directory exists before the action: its real path is known */
    if (mkdir(f->qdir, 0700) != 0)
        abort();
    return 1;
}

static void fx_free(fx *f)
{
    trap.armed = 0;
    m2msec_actions_set_test_hook(NULL, NULL);
    m2msec_report_free(f->r);
    m2msec_policy_free(f->p);
    m2msec_manifest_free(f->m);
    if (strncmp(f->base, "/tmp/m2m-race-", 14) == 0)
        run("rm -rf '%s'", f->base);
    if (strncmp(f->shm, "/dev/shm/m2m-race-", 18) == 0)
        run("rm -rf '%s'", f->shm);
    ERR_clear_error();
}

static void fx_verify(fx *f)
{
    m2msec_tree_verify_options opt;

    memset(&opt, 0, sizeof(opt));
    opt.jobs = 1;
    opt.report_extra = 1;
    f->r = m2msec_tree_verify(libctx, f->m, f->root, &opt);
    CU_ASSERT_FATAL(f->r != NULL);
}

/* Arm the trap between the directories @p from and @p to (resolved). */
static void arm(trap_kind kind, const char *from, const char *to)
{
    if (realpath(from, trap.from_dir) == NULL || realpath(to, trap.to_dir) == NULL)
        abort();
    trap.kind = kind;
    trap.fired = 0;
    trap.armed = 1;
}

static const m2msec_file_result *app_result(const fx *f)
{
    for (size_t i = 0; i < m2msec_report_count(f->r); i++)
        if (strcmp(m2msec_report_at(f->r, i)->path, "bin/app") == 0)
            return m2msec_report_at(f->r, i);
    return NULL;
}

/* The root-only file has its mode, owner and content. */
static int precious_intact(void)
{
    char *text = read_all(trap.precious, NULL);
    struct stat st;
    int ok = text != NULL && strcmp(text, "root only\n") == 0 && lstat(trap.precious, &st) == 0 &&
             S_ISREG(st.st_mode) && (st.st_mode & 07777) == 0600 && st.st_uid == geteuid();

    if (!ok)
        fprintf(stderr, "\n  the root-only file was changed: mode %04o\n",
                lstat(trap.precious, &st) == 0 ? (unsigned)(st.st_mode & 07777) : 0u);
    free(text);
    return ok;
}

static int detail_has(const m2msec_file_result *x, const char *needle)
{
    int ok = x != NULL && x->action_detail != NULL && strstr(x->action_detail, needle) != NULL;

    if (!ok)
        fprintf(stderr, "\n  action detail \"%s\" lacks \"%s\"\n",
                x != NULL && x->action_detail != NULL ? x->action_detail : "(null)", needle);
    return ok;
}

/* No entry of the quarantine directory has any permission bit (what is kept stays stripped). */
static int quarantine_stripped(const fx *f)
{
    char *out = run_out("find '%s' -mindepth 1 -maxdepth 1 ! -type l ! -perm 0000", f->qdir);
    int ok = out != NULL && out[0] == '\0';

    free(out);
    return ok;
}

static int fail_at_quarantined(void *arg, const char *step, const char *path)
{
    (void)arg;
    (void)path;
    return strcmp(step, "quarantined") == 0 ? EIO : 0;
}

/* ---------------------------------------------------------------- */
/* Tests                                                             */
/* ---------------------------------------------------------------- */

/*
 * 1. Quarantine: right after the identity check, before the rename into
 * quarantine, the user puts a symlink in place of bin/app. The symlink is
 * what moves; it must be moved back untouched, and nothing may be chmod-ed
 * through it. (Before: the mismatch started an undo that renamed it back
 * and called fchmodat() by name, giving the root-only file mode 0666.)
 */
static void test_quarantine_swap_before_rename(void)
{
    const m2msec_file_result *x;
    fx f;

    fx_new(&f, 0, "quarantine");
    fx_verify(&f);
    arm(AT_RENAME_BEFORE, f.bin, f.qdir);
    CU_ASSERT_EQUAL(m2msec_policy_apply(libctx, f.p, f.m, f.root, f.r), 0);
    ERR_clear_error();
    CU_ASSERT(trap.fired);
    CU_ASSERT(precious_intact());
    x = app_result(&f);
    CU_ASSERT(x != NULL && x->action_ok == 0);
    CU_ASSERT(detail_has(x, "bin/app changed while it was being quarantined"));
    CU_ASSERT(detail_has(x, "now: a symlink"));
    CU_ASSERT(detail_has(x, "(put back)"));
    CU_ASSERT(quarantine_stripped(&f));
    fx_free(&f);
}

/*
 * 2. Remediation undo: the old file comes back from quarantine (a failure
 * after step "quarantined"), and right after that rename the user swaps it
 * for a symlink. (Before: fchmodat() by name followed it.)
 */
static void test_undo_swap_after_rename_back(void)
{
    const m2msec_file_result *x;
    fx f;

    fx_new(&f, 0, "remediate");
    fx_verify(&f);
    m2msec_actions_set_test_hook(fail_at_quarantined, NULL);
    arm(AT_RENAME_AFTER, f.qdir, f.bin);
    CU_ASSERT_EQUAL(m2msec_policy_apply(libctx, f.p, f.m, f.root, f.r), 0);
    ERR_clear_error();
    CU_ASSERT(trap.fired);
    CU_ASSERT(precious_intact());
    x = app_result(&f);
    CU_ASSERT(x != NULL && x->action_ok == 0);
    CU_ASSERT(detail_has(x, "failure after step 'quarantined'"));
    CU_ASSERT(detail_has(x, "undo failed"));
    CU_ASSERT(quarantine_stripped(&f));
    fx_free(&f);
}

/*
 * 3. Remediation: the user swaps bin/app for a symlink right before the
 * exchange with the verified copy. The exchange is checked afterwards and
 * reversed; the symlink is not quarantined in the verified file's place.
 */
static void test_remediate_swap_before_exchange(void)
{
    const m2msec_file_result *x;
    char *text;
    fx f;

    fx_new(&f, 0, "remediate");
    fx_verify(&f);
    arm(AT_EXCHANGE, f.bin, f.bin);
    CU_ASSERT_EQUAL(m2msec_policy_apply(libctx, f.p, f.m, f.root, f.r), 0);
    ERR_clear_error();
    CU_ASSERT(trap.fired);
    CU_ASSERT(precious_intact());
    x = app_result(&f);
    CU_ASSERT(x != NULL && x->action_ok == 0);
    CU_ASSERT(detail_has(x, "bin/app changed while it was being replaced"));
    CU_ASSERT(run("test -L '%s/app'", f.bin) == 0);
    CU_ASSERT(run("find '%s' -name '.m2msec-*' | grep -q .", f.bin) != 0);
    text = run_out("ls -A '%s' | wc -l", f.qdir);
    CU_ASSERT(text != NULL && atoi(text) == 0);
    free(text);
    fx_free(&f);
}

/*
 * 4. Remediation undo with the quarantine on another filesystem: the old
 * file is copied back into a new file (owner, mode and times set through
 * its descriptor); right after the quarantine copy is removed, the user
 * swaps the new file for a symlink. (Before: fchmodat() by name followed
 * it.)
 */
static void test_undo_copy_back_swap(void)
{
    const m2msec_file_result *x;
    fx f;

    if (!fx_new(&f, 1, "remediate")) {
        fprintf(stderr, "\n(no second filesystem at /dev/shm: test skipped) ");
        fx_free(&f);
        return;
    }
    fx_verify(&f);
    m2msec_actions_set_test_hook(fail_at_quarantined, NULL);
    arm(AT_UNLINK_AFTER, f.qdir, f.bin);
    CU_ASSERT_EQUAL(m2msec_policy_apply(libctx, f.p, f.m, f.root, f.r), 0);
    ERR_clear_error();
    CU_ASSERT(trap.fired);
    CU_ASSERT(precious_intact());
    x = app_result(&f);
    CU_ASSERT(x != NULL && x->action_ok == 0);
    CU_ASSERT(detail_has(x, "failure after step 'quarantined'"));
    fx_free(&f);
}

/*
 * 5. Quarantine to another filesystem: the user swaps bin/app for a symlink
 * right before the rename (which then fails with EXDEV). What is copied is
 * the verified file, read through the checked descriptor; the original is
 * not unlinked because the name no longer refers to it, and the copy is
 * removed.
 */
static void test_copy_out_swap(void)
{
    const m2msec_file_result *x;
    char *text;
    fx f;

    if (!fx_new(&f, 1, "quarantine")) {
        fprintf(stderr, "\n(no second filesystem at /dev/shm: test skipped) ");
        fx_free(&f);
        return;
    }
    fx_verify(&f);
    arm(AT_RENAME_BEFORE, f.bin, f.qdir);
    CU_ASSERT_EQUAL(m2msec_policy_apply(libctx, f.p, f.m, f.root, f.r), 0);
    ERR_clear_error();
    CU_ASSERT(trap.fired);
    CU_ASSERT(precious_intact());
    x = app_result(&f);
    CU_ASSERT(x != NULL && x->action_ok == 0);
    CU_ASSERT(detail_has(x, "changed while it was being copied to quarantine"));
    CU_ASSERT(run("test -L '%s/app'", f.bin) == 0);
    text = run_out("ls -A '%s' | wc -l", f.qdir);
    CU_ASSERT(text != NULL && atoi(text) == 0);
    free(text);
    fx_free(&f);
}

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
    static const struct {
        const char *name;
        CU_TestFunc fn;
    } tests[] = {
        {"quarantine: symlink swapped in before the rename", test_quarantine_swap_before_rename},
        {"undo: symlink swapped in after the rename back", test_undo_swap_after_rename_back},
        {"remediate: symlink swapped in before the exchange", test_remediate_swap_before_exchange},
        {"undo: symlink swapped in after a copy back", test_undo_copy_back_swap},
        {"quarantine: symlink swapped in before a copy out", test_copy_out_swap},
    };
    OSSL_PROVIDER *prov;
    CU_pSuite s;
    unsigned failed;

    libctx = OSSL_LIB_CTX_new();
    prov = OSSL_PROVIDER_load(libctx, "default");
    if (libctx == NULL || prov == NULL || CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    for (int pass = 0; pass < 2; pass++) {
        s = pass == 0 ? CU_add_suite("action races", NULL, NULL)
                      : CU_add_suite("action races (openat walk)", walk_init, walk_cleanup);
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
    OSSL_PROVIDER_unload(prov);
    OSSL_LIB_CTX_free(libctx);
    return failed == 0 ? 0 : 1;
}
