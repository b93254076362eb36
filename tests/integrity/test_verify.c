/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tree verification tests (suite 'integrity'): every file status, symlink
 * refusals with openat2 and with the openat() fallback, extra files,
 * concurrency (jobs=1 and jobs=4 give identical reports), bounded memory,
 * progress, report output and JSON escaping, m2msec_file_hash and
 * m2msec_file_open_beneath.
 *
 * The independent reference: the manifests verified here are built from
 * the output of the stock sha256sum over the tree (plus stat() for size
 * and mode), never by m2msec itself; m2msec_file_hash is compared with
 * sha256sum/sha384sum. JSON output is parsed by Python's json module when
 * python3 is available.
 *
 * UNREADABLE: tests run as root in CI, where chmod 000 does not stop a
 * read. As root, the test forks a child that drops to uid/gid 65534 (no
 * supplementary groups) and verifies a tree holding a mode-000 file, so
 * the kernel really refuses the open with EACCES; as another user the
 * chmod alone does it. A read error (EIO) is injected through the test
 * hook, which is also how "changed during verification" is made
 * deterministic: the hook runs between the first fstat() and the hashing
 * and appends to the file.
 */
#define _GNU_SOURCE /* setgroups() for the privilege drop */

#include <grp.h>
#include <inttypes.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "escape.h"
#include "integrity_test.h"
#include "report_internal.h"
#include "safe_open.h"

#define FAR_FUTURE 4102444800u
#define BIG_SIZE (2u * 1024u * 1024u)

/* ---------------------------------------------------------------- */
/* Trees and manifests from the stock sha256sum                      */
/* ---------------------------------------------------------------- */

static void put(const char *root, const char *rel, const char *text, mode_t mode)
{
    char p[PATH_MAX];

    pathf(p, sizeof(p), "%s/%s", root, rel);
    write_text(p, text, mode);
}

static void make_tree(char *root, size_t len)
{
    char p[PATH_MAX];
    unsigned char *big = malloc(BIG_SIZE);
    size_t i;

    tmpdir_new(root, len);
    run("cd '%s' && mkdir -p bin etc/sub lib data", root);
    put(root, "bin/app", "#!/bin/sh\necho app\n", 0755);
    put(root, "bin/tool", "#!/bin/sh\necho tool\n", 0755);
    put(root, "etc/conf", "key = value\n", 0644);
    put(root, "etc/sub/deep", "deep\n", 0600);
    put(root, "data/small", "x", 0644);
    put(root, "empty", "", 0644);
    for (i = 0; i < BIG_SIZE; i++)
        big[i] = (unsigned char)((i * 2654435761u) >> 13);
    pathf(p, sizeof(p), "%s/lib/big.so", root);
    write_bytes(p, big, BIG_SIZE, 0755);
    free(big);
}

static int unhex(const char *h, unsigned char *out, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        unsigned v;

        if (sscanf(h + 2 * i, "%2x", &v) != 1)
            return 0;
        out[i] = (unsigned char)v;
    }
    return 1;
}

/* Manifest of every regular file under root, digests by the stock sha256sum. */
static m2msec_manifest *stock_manifest(const char *root, int with_meta, uint64_t version)
{
    char *out =
        run_out("cd '%s' && find . -type f -printf '%%P\\0' | xargs -0 -r sha256sum --", root);
    m2msec_manifest *m = m2msec_manifest_new("SHA256", version, FAR_FUTURE);
    char *line, *save = NULL;

    if (out == NULL || m == NULL)
        abort();
    for (line = strtok_r(out, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
        m2msec_manifest_entry e;
        char p[PATH_MAX];
        struct stat st;

        memset(&e, 0, sizeof(e));
        if (strlen(line) < 67 || line[64] != ' ' || line[65] != ' ' || !unhex(line, e.digest, 32))
            abort();
        e.digest_len = 32;
        e.path = line + 66;
        pathf(p, sizeof(p), "%s/%s", root, e.path);
        if (lstat(p, &st) != 0)
            abort();
        e.size = with_meta ? (int64_t)st.st_size : -1;
        e.mode = with_meta ? (int32_t)(st.st_mode & 07777) : -1;
        if (!m2msec_manifest_add(m, &e))
            abort();
    }
    free(out);
    return m;
}

static m2msec_report *verify(const m2msec_manifest *m, const char *root, unsigned jobs, int extra)
{
    m2msec_tree_verify_options o;
    m2msec_report *r;

    memset(&o, 0, sizeof(o));
    o.jobs = jobs;
    o.report_extra = extra;
    r = m2msec_tree_verify(libctx, m, root, &o);
    if (r == NULL) {
        char *t = errors_text();

        fprintf(stderr, "\n  verify failed: %s\n", t);
        free(t);
    }
    return r;
}

/* The end of a case: report, manifest and tree freed. */
static void case_done(m2msec_report *r, m2msec_manifest *m, const char *root)
{
    m2msec_report_free(r);
    m2msec_manifest_free(m);
    rm_rf(root);
}

/* Status of @p path in the report, or -1; *detail gets its detail. */
static int status_of(const m2msec_report *r, const char *path, const char **detail)
{
    size_t i;

    for (i = 0; i < m2msec_report_count(r); i++) {
        const m2msec_file_result *x = m2msec_report_at(r, i);

        if (strcmp(x->path, path) == 0) {
            if (detail != NULL)
                *detail = x->detail != NULL ? x->detail : "";
            return (int)x->status;
        }
    }
    if (detail != NULL)
        *detail = "";
    return -1;
}

/* Check status and that the detail contains @p want (NULL: anything). */
#define EXPECT(r, path, st, want)                                                                  \
    do {                                                                                           \
        const char *d_;                                                                            \
        int s_ = status_of((r), (path), &d_);                                                      \
        CU_ASSERT_EQUAL(s_, (int)(st));                                                            \
        if ((want) != NULL)                                                                        \
            CU_ASSERT_PTR_NOT_NULL(strstr(d_, (want) != NULL ? (want) : ""));                      \
        if (s_ != (int)(st) ||                                                                     \
            ((want) != NULL && strstr(d_, (want) != NULL ? (want) : "") == NULL))                  \
            fprintf(stderr, "\n  %s: status %d (%s), detail '%s'; want %d '%s'\n", (path), s_,     \
                    m2msec_file_status_text((m2msec_file_status)s_), d_, (int)(st),                \
                    (want) != NULL ? (want) : "");                                                 \
    } while (0)

/* Everything but @p except is OK, and the report has @p n results. */
static void expect_rest_ok(const m2msec_report *r, size_t n, const char *const *except)
{
    size_t i, j;

    CU_ASSERT_EQUAL(m2msec_report_count(r), n);
    for (i = 0; i < m2msec_report_count(r); i++) {
        const m2msec_file_result *x = m2msec_report_at(r, i);
        int skip = 0;

        for (j = 0; except != NULL && except[j] != NULL; j++)
            skip |= strcmp(except[j], x->path) == 0;
        if (!skip && x->status != M2MSEC_FILE_OK) {
            CU_FAIL("unexpected failure");
            fprintf(stderr, "\n  unexpected: %s %s %s\n", x->path,
                    m2msec_file_status_text(x->status), x->detail ? x->detail : "");
        }
    }
}

/* ---------------------------------------------------------------- */
/* Statuses                                                          */
/* ---------------------------------------------------------------- */

static void test_all_ok(void)
{
    char root[PATH_MAX];
    m2msec_manifest *m;
    unsigned jobs[] = {1, 2, 4, 0};
    size_t i;

    make_tree(root, sizeof(root));
    m = stock_manifest(root, 1, 1);
    CU_ASSERT_EQUAL(m2msec_manifest_count(m), 7);
    for (i = 0; i < 4; i++) {
        m2msec_report *r = verify(m, root, jobs[i], 1);

        CU_ASSERT_FATAL(r != NULL);
        expect_rest_ok(r, 7, NULL);
        CU_ASSERT_EQUAL(m2msec_report_failures(r), 0);
        CU_ASSERT_EQUAL(m2msec_report_manifest_version(r), 1);
        m2msec_report_free(r);
    }
    m2msec_manifest_free(m);
    /* without meta, too */
    m = stock_manifest(root, 0, 1);
    {
        m2msec_report *r = verify(m, root, 2, 1);

        CU_ASSERT_FATAL(r != NULL);
        expect_rest_ok(r, 7, NULL);
        m2msec_report_free(r);
    }
    m2msec_manifest_free(m);
    /* a root that cannot be opened */
    CU_ASSERT_PTR_NULL(m2msec_tree_verify(libctx, m, "/nonexistent-m2m-root", NULL));
    ERR_clear_error();
    rm_rf(root);
}

static void test_changed_byte(void)
{
    char root[PATH_MAX], p[PATH_MAX];
    static const char *const ex[] = {"bin/app", "lib/big.so", NULL};
    m2msec_manifest *m;
    m2msec_report *r;
    unsigned char c = 0;
    int fd;

    make_tree(root, sizeof(root));
    m = stock_manifest(root, 1, 1);
    put(root, "bin/app", "#!/bin/sh\necho apq\n", 0755); /* same size */
    pathf(p, sizeof(p), "%s/lib/big.so", root);
    fd = open(p, O_RDWR);
    CU_ASSERT_FATAL(fd >= 0);
    /* the very last byte, one bit */
    CU_ASSERT(pread(fd, &c, 1, BIG_SIZE - 1) == 1);
    c ^= 0x10;
    CU_ASSERT(pwrite(fd, &c, 1, BIG_SIZE - 1) == 1);
    close(fd);
    r = verify(m, root, 2, 1);
    CU_ASSERT_FATAL(r != NULL);
    EXPECT(r, "bin/app", M2MSEC_FILE_MODIFIED, "digest differs");
    EXPECT(r, "lib/big.so", M2MSEC_FILE_MODIFIED, "digest differs");
    expect_rest_ok(r, 7, ex);
    CU_ASSERT_EQUAL(m2msec_report_failures(r), 2);
    case_done(r, m, root);
}

static void test_truncated(void)
{
    char root[PATH_MAX], p[PATH_MAX];
    static const char *const ex[] = {"lib/big.so", NULL};
    m2msec_manifest *m, *m0;
    m2msec_report *r;

    make_tree(root, sizeof(root));
    m = stock_manifest(root, 1, 1);
    m0 = stock_manifest(root, 0, 1);
    pathf(p, sizeof(p), "%s/lib/big.so", root);
    CU_ASSERT(truncate(p, 1000) == 0);
    r = verify(m, root, 2, 1);
    CU_ASSERT_FATAL(r != NULL);
    EXPECT(r, "lib/big.so", M2MSEC_FILE_MODIFIED, "expected 2097152 bytes, found 1000");
    expect_rest_ok(r, 7, ex);
    m2msec_report_free(r);
    /* no size in the manifest: the digest tells */
    r = verify(m0, root, 2, 1);
    CU_ASSERT_FATAL(r != NULL);
    EXPECT(r, "lib/big.so", M2MSEC_FILE_MODIFIED, "digest differs");
    expect_rest_ok(r, 7, ex);
    m2msec_report_free(r);
    /* truncated to nothing */
    CU_ASSERT(truncate(p, 0) == 0);
    r = verify(m0, root, 1, 0);
    EXPECT(r, "lib/big.so", M2MSEC_FILE_MODIFIED, "digest differs");
    m2msec_report_free(r);
    m2msec_manifest_free(m);
    m2msec_manifest_free(m0);
    rm_rf(root);
}

/* Both lookup ways: openat2, then the openat() walk. */
static void each_mode(void (*fn)(int fallback))
{
    int native = m2msec_safe_open_force_fallback(0);

    if (native)
        fn(0);
    else
        printf("\n    (openat2 not available: fallback only) ");
    CU_ASSERT_EQUAL(m2msec_safe_open_force_fallback(1), 0);
    fn(1);
    m2msec_safe_open_force_fallback(0);
}

static void symlink_file_case(int fallback)
{
    char root[PATH_MAX], p[PATH_MAX], target[PATH_MAX];
    static const char *const ex[] = {"bin/tool", "etc/conf", "data/small", "data/small.real", NULL};
    m2msec_manifest *m;
    m2msec_report *r;

    (void)fallback;
    make_tree(root, sizeof(root));
    m = stock_manifest(root, 1, 1);
    /* inside the root, relative */
    pathf(p, sizeof(p), "%s/bin/tool", root);
    CU_ASSERT(unlink(p) == 0 && symlink("app", p) == 0);
    /* outside the root */
    pathf(p, sizeof(p), "%s/etc/conf", root);
    CU_ASSERT(unlink(p) == 0 && symlink("/etc/passwd", p) == 0);
    /* absolute, to a listed file inside the root with the same content */
    pathf(p, sizeof(p), "%s/data/small", root);
    pathf(target, sizeof(target), "%s/data/small.real", root);
    CU_ASSERT(rename(p, target) == 0 && symlink(target, p) == 0);
    r = verify(m, root, 2, 1);
    CU_ASSERT_FATAL(r != NULL);
    EXPECT(r, "bin/tool", M2MSEC_FILE_WRONG_TYPE, "is a symlink");
    EXPECT(r, "etc/conf", M2MSEC_FILE_WRONG_TYPE, "is a symlink");
    EXPECT(r, "data/small", M2MSEC_FILE_WRONG_TYPE, "is a symlink");
    EXPECT(r, "data/small.real", M2MSEC_FILE_EXTRA, "regular file");
    /* listed symlinks are reported once, not as extra too */
    expect_rest_ok(r, 8, ex);
    case_done(r, m, root);
}

static void test_symlink_file(void)
{
    each_mode(symlink_file_case);
}

static void symlink_dir_case(int fallback)
{
    char root[PATH_MAX], p[PATH_MAX], q[PATH_MAX];
    static const char *const ex[] = {"etc/conf",      "etc/sub/deep",      "etc",
                                     "etc.real/conf", "etc.real/sub/deep", NULL};
    m2msec_manifest *m;
    m2msec_report *r;

    (void)fallback;
    make_tree(root, sizeof(root));
    m = stock_manifest(root, 1, 1);
    /* a directory component replaced by a symlink to an identical copy */
    pathf(p, sizeof(p), "%s/etc", root);
    pathf(q, sizeof(q), "%s/etc.real", root);
    CU_ASSERT(rename(p, q) == 0 && symlink("etc.real", p) == 0);
    r = verify(m, root, 2, 1);
    CU_ASSERT_FATAL(r != NULL);
    EXPECT(r, "etc/conf", M2MSEC_FILE_WRONG_TYPE, "'etc' is a symlink, not a directory");
    EXPECT(r, "etc/sub/deep", M2MSEC_FILE_WRONG_TYPE, "'etc' is a symlink, not a directory");
    EXPECT(r, "etc", M2MSEC_FILE_EXTRA, "symlink");
    EXPECT(r, "etc.real/conf", M2MSEC_FILE_EXTRA, NULL);
    EXPECT(r, "etc.real/sub/deep", M2MSEC_FILE_EXTRA, NULL);
    expect_rest_ok(r, 10, ex);
    m2msec_report_free(r);

    /* deeper, and pointing out of the root */
    CU_ASSERT(unlink(p) == 0 && rename(q, p) == 0);
    pathf(p, sizeof(p), "%s/etc/sub", root);
    CU_ASSERT(run("rm -rf '%s'", p) == 0 && symlink("/etc", p) == 0);
    r = verify(m, root, 1, 0);
    CU_ASSERT_FATAL(r != NULL);
    EXPECT(r, "etc/sub/deep", M2MSEC_FILE_WRONG_TYPE, "'etc/sub' is a symlink, not a directory");
    m2msec_report_free(r);

    /* a regular file where a directory belongs */
    CU_ASSERT(unlink(p) == 0);
    write_text(p, "not a dir\n", 0644);
    r = verify(m, root, 1, 0);
    CU_ASSERT_FATAL(r != NULL);
    EXPECT(r, "etc/sub/deep", M2MSEC_FILE_WRONG_TYPE,
           "'etc/sub' is a regular file, not a directory");
    case_done(r, m, root);
}

static void test_symlink_dir_component(void)
{
    each_mode(symlink_dir_case);
}

static void test_special_files(void)
{
    char root[PATH_MAX], p[PATH_MAX];
    static const char *const ex[] = {"bin/tool", "etc/conf", "data/small", NULL};
    struct sockaddr_un sa;
    m2msec_manifest *m;
    m2msec_report *r;
    int s, fb;

    make_tree(root, sizeof(root));
    m = stock_manifest(root, 1, 1);
    pathf(p, sizeof(p), "%s/bin/tool", root);
    CU_ASSERT(unlink(p) == 0 && mkdir(p, 0755) == 0);
    pathf(p, sizeof(p), "%s/etc/conf", root);
    CU_ASSERT(unlink(p) == 0 && mkfifo(p, 0644) == 0); /* must not block */
    pathf(p, sizeof(p), "%s/data/small", root);
    CU_ASSERT(unlink(p) == 0);
    s = socket(AF_UNIX, SOCK_STREAM, 0);
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    CU_ASSERT_FATAL(strlen(p) < sizeof(sa.sun_path));
    memcpy(sa.sun_path, p, strlen(p));
    CU_ASSERT(bind(s, (struct sockaddr *)&sa, sizeof(sa)) == 0);
    for (fb = 0; fb < 2; fb++) {
        m2msec_safe_open_force_fallback(fb);
        r = verify(m, root, 2, 1);
        CU_ASSERT_FATAL(r != NULL);
        EXPECT(r, "bin/tool", M2MSEC_FILE_WRONG_TYPE, "is a directory");
        EXPECT(r, "etc/conf", M2MSEC_FILE_WRONG_TYPE, "is a fifo");
        EXPECT(r, "data/small", M2MSEC_FILE_WRONG_TYPE, "socket");
        expect_rest_ok(r, 7, ex);
        m2msec_report_free(r);
    }
    m2msec_safe_open_force_fallback(0);
    close(s);
    m2msec_manifest_free(m);
    rm_rf(root);
}

static void test_missing(void)
{
    char root[PATH_MAX], p[PATH_MAX];
    static const char *const ex[] = {"etc/conf", "etc/sub/deep", NULL};
    m2msec_manifest *m;
    m2msec_report *r;

    make_tree(root, sizeof(root));
    m = stock_manifest(root, 1, 1);
    pathf(p, sizeof(p), "%s/etc/conf", root);
    CU_ASSERT(unlink(p) == 0);
    pathf(p, sizeof(p), "%s/etc/sub", root);
    CU_ASSERT(run("rm -rf '%s'", p) == 0);
    r = verify(m, root, 4, 1);
    CU_ASSERT_FATAL(r != NULL);
    EXPECT(r, "etc/conf", M2MSEC_FILE_MISSING, "not found");
    EXPECT(r, "etc/sub/deep", M2MSEC_FILE_MISSING, "not found");
    expect_rest_ok(r, 7, ex);
    case_done(r, m, root);
}

static void test_extra(void)
{
    char root[PATH_MAX], p[PATH_MAX];
    static const char *const ex[] = {"bin/evil", "bin/link",        "data/fifo",
                                     "newdir/x", "newdir/deeper/y", NULL};
    static const char *const ignore[] = {"newdir", "bin/evi", NULL};
    m2msec_tree_verify_options o;
    m2msec_manifest *m;
    m2msec_report *r;

    make_tree(root, sizeof(root));
    m = stock_manifest(root, 1, 1);
    put(root, "bin/evil", "evil\n", 0755);
    pathf(p, sizeof(p), "%s/bin/link", root);
    CU_ASSERT(symlink("/bin/sh", p) == 0);
    pathf(p, sizeof(p), "%s/data/fifo", root);
    CU_ASSERT(mkfifo(p, 0600) == 0);
    run("mkdir -p '%s/newdir/deeper' '%s/emptydir'", root, root);
    put(root, "newdir/x", "x", 0644);
    put(root, "newdir/deeper/y", "y", 0644);
    r = verify(m, root, 2, 1);
    CU_ASSERT_FATAL(r != NULL);
    EXPECT(r, "bin/evil", M2MSEC_FILE_EXTRA, "regular file, not listed");
    EXPECT(r, "bin/link", M2MSEC_FILE_EXTRA, "symlink, not listed");
    EXPECT(r, "data/fifo", M2MSEC_FILE_EXTRA, "fifo, not listed");
    EXPECT(r, "newdir/x", M2MSEC_FILE_EXTRA, NULL);
    EXPECT(r, "newdir/deeper/y", M2MSEC_FILE_EXTRA, NULL);
    expect_rest_ok(r, 12, ex); /* directories themselves are not reported */
    CU_ASSERT_EQUAL(m2msec_report_failures(r), 5);
    m2msec_report_free(r);
    /* an empty manifest: everything is extra, nothing is hashed */
    {
        m2msec_manifest *empty = m2msec_manifest_new(NULL, 1, FAR_FUTURE);

        r = verify(empty, root, 0, 1);
        CU_ASSERT_FATAL(r != NULL);
        CU_ASSERT_EQUAL(m2msec_report_count(r), 12);
        CU_ASSERT_EQUAL(m2msec_report_failures(r), 12);
        EXPECT(r, "lib/big.so", M2MSEC_FILE_EXTRA, "regular file, not listed");
        m2msec_report_free(r);
        m2msec_manifest_free(empty);
    }
    /* not asked for */
    r = verify(m, root, 2, 0);
    CU_ASSERT_FATAL(r != NULL);
    expect_rest_ok(r, 7, NULL);
    m2msec_report_free(r);
    /* ignored: a directory covers its subtree; a prefix that is not a component does not */
    memset(&o, 0, sizeof(o));
    o.report_extra = 1;
    o.ignore = ignore;
    r = m2msec_tree_verify(libctx, m, root, &o);
    CU_ASSERT_FATAL(r != NULL);
    EXPECT(r, "bin/evil", M2MSEC_FILE_EXTRA, NULL);
    CU_ASSERT_EQUAL(status_of(r, "newdir/x", NULL), -1);
    CU_ASSERT_EQUAL(status_of(r, "newdir/deeper/y", NULL), -1);
    CU_ASSERT_EQUAL(m2msec_report_count(r), 10);
    case_done(r, m, root);
}

static void test_wrong_mode(void)
{
    char root[PATH_MAX], p[PATH_MAX];
    static const char *const ex[] = {"etc/conf", "bin/app", NULL};
    m2msec_manifest *m, *m0;
    m2msec_report *r;

    make_tree(root, sizeof(root));
    m = stock_manifest(root, 1, 1);
    m0 = stock_manifest(root, 0, 1);
    pathf(p, sizeof(p), "%s/etc/conf", root);
    CU_ASSERT(chmod(p, 0666) == 0);
    put(root, "bin/app", "#!/bin/sh\necho apq\n", 04755); /* modified and setuid */
    r = verify(m, root, 2, 1);
    CU_ASSERT_FATAL(r != NULL);
    EXPECT(r, "etc/conf", M2MSEC_FILE_WRONG_MODE, "mode 0666, expected 0644");
    EXPECT(r, "bin/app", M2MSEC_FILE_MODIFIED, "digest differs; mode 4755, expected 0755");
    expect_rest_ok(r, 7, ex);
    m2msec_report_free(r);
    /* no mode in the manifest: only the content counts */
    r = verify(m0, root, 2, 1);
    CU_ASSERT_FATAL(r != NULL);
    EXPECT(r, "etc/conf", M2MSEC_FILE_OK, NULL);
    EXPECT(r, "bin/app", M2MSEC_FILE_MODIFIED, "digest differs");
    m2msec_report_free(r);
    m2msec_manifest_free(m);
    m2msec_manifest_free(m0);
    rm_rf(root);
}

/* ---------------------------------------------------------------- */
/* Changed during verification, unreadable                           */
/* ---------------------------------------------------------------- */

typedef struct {
    const char *root, *target;
    int mode; /* 0 append a byte, 1 return EIO, 2 record order */
    int calls;
    char order[16][64];
    int64_t sizes[16];
} hook_state;

static int hook(void *arg, const char *path, int fd)
{
    hook_state *h = arg;
    char p[PATH_MAX];
    struct stat st;

    if (h->mode == 2) {
        if (h->calls < 16 && fstat(fd, &st) == 0) {
            pathf(h->order[h->calls], sizeof(h->order[0]), "%s", path);
            h->sizes[h->calls] = (int64_t)st.st_size;
        }
        h->calls++;
        return 0;
    }
    if (strcmp(path, h->target) != 0)
        return 0;
    h->calls++;
    if (h->mode == 1)
        return EIO;
    pathf(p, sizeof(p), "%s/%s", h->root, path);
    {
        FILE *f = fopen(p, "ab");

        if (f != NULL) {
            fputc('!', f);
            fclose(f);
        }
    }
    return 0;
}

static void test_changed_during(void)
{
    char root[PATH_MAX];
    static const char *const ex[] = {"lib/big.so", NULL};
    m2msec_manifest *m, *m0;
    m2msec_report *r;
    hook_state h;

    make_tree(root, sizeof(root));
    m = stock_manifest(root, 1, 1);
    memset(&h, 0, sizeof(h));
    h.root = root;
    h.target = "lib/big.so";
    m2msec_verify_set_test_hook(hook, &h);
    r = verify(m, root, 2, 1);
    m2msec_verify_set_test_hook(NULL, NULL);
    CU_ASSERT_FATAL(r != NULL);
    CU_ASSERT_EQUAL(h.calls, 1);
    EXPECT(r, "lib/big.so", M2MSEC_FILE_CHANGED, "changed while being verified (size)");
    expect_rest_ok(r, 7, ex);
    m2msec_report_free(r);
    /* no size in the manifest, the file already one byte longer: still caught */
    m0 = stock_manifest(root, 0, 1);
    h.calls = 0;
    m2msec_verify_set_test_hook(hook, &h);
    r = verify(m0, root, 1, 1);
    m2msec_verify_set_test_hook(NULL, NULL);
    CU_ASSERT_FATAL(r != NULL);
    EXPECT(r, "lib/big.so", M2MSEC_FILE_CHANGED, "changed while being verified");
    m2msec_report_free(r);
    m2msec_manifest_free(m);
    m2msec_manifest_free(m0);
    rm_rf(root);
}

static void test_unreadable_eio(void)
{
    char root[PATH_MAX];
    static const char *const ex[] = {"etc/conf", NULL};
    m2msec_manifest *m;
    m2msec_report *r;
    hook_state h;

    make_tree(root, sizeof(root));
    m = stock_manifest(root, 1, 1);
    memset(&h, 0, sizeof(h));
    h.target = "etc/conf";
    h.mode = 1;
    m2msec_verify_set_test_hook(hook, &h);
    r = verify(m, root, 2, 1);
    m2msec_verify_set_test_hook(NULL, NULL);
    CU_ASSERT_FATAL(r != NULL);
    EXPECT(r, "etc/conf", M2MSEC_FILE_UNREADABLE, "read failed: Input/output error");
    expect_rest_ok(r, 7, ex);
    case_done(r, m, root);
}

/* Exit code of the check in the child: 0 passed, 1 failed, 77 cannot drop privileges. */
static int unreadable_check(const m2msec_manifest *m, const char *root)
{
    m2msec_report *r = verify(m, root, 2, 1);
    const char *d = "";
    int ok;

    if (r == NULL)
        return 1;
    ok = status_of(r, "etc/conf", &d) == M2MSEC_FILE_UNREADABLE &&
         strstr(d, "cannot open: Permission denied") != NULL && m2msec_report_failures(r) == 1 &&
         m2msec_report_count(r) == 7;
    if (!ok && !m2msec_report_print(r, stderr, 0))
        fprintf(stderr, "cannot print the report\n");
    m2msec_report_free(r);
    return ok ? 0 : 1;
}

static void test_unreadable_permission(void)
{
    char root[PATH_MAX], p[PATH_MAX];
    m2msec_manifest *m;

    make_tree(root, sizeof(root));
    m = stock_manifest(root, 1, 1);
    pathf(p, sizeof(p), "%s/etc/conf", root);
    CU_ASSERT(chmod(p, 0) == 0);
    /* the rest must stay readable for the unprivileged user */
    pathf(p, sizeof(p), "%s/etc/sub/deep", root);
    CU_ASSERT(chmod(p, 0644) == 0);
    m2msec_manifest_free(m);
    m = stock_manifest(root, 1, 1); /* sha256sum as root reads even mode 000 */
    if (geteuid() != 0) {
        CU_ASSERT_EQUAL(unreadable_check(m, root), 0);
    } else {
        pid_t pid;
        int st = 0;

        fflush(NULL);
        pid = fork();
        CU_ASSERT_FATAL(pid >= 0);
        if (pid == 0) {
            if (setgroups(0, NULL) != 0 || setgid(65534) != 0 || setuid(65534) != 0 ||
                getuid() == 0)
                _exit(77);
            _exit(unreadable_check(m, root));
        }
        CU_ASSERT(waitpid(pid, &st, 0) == pid && WIFEXITED(st));
        if (WEXITSTATUS(st) == 77)
            printf("\n    (root cannot drop privileges here: covered by the EIO hook only) ");
        else
            CU_ASSERT_EQUAL(WEXITSTATUS(st), 0);
    }
    m2msec_manifest_free(m);
    rm_rf(root);
}

/* ---------------------------------------------------------------- */
/* Concurrency, order, progress, memory                              */
/* ---------------------------------------------------------------- */

static char *report_text(const m2msec_report *r, int flags)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    if (f == NULL)
        abort();
    CU_ASSERT(m2msec_report_print(r, f, flags));
    fclose(f);
    return buf;
}

static void test_jobs_identical(void)
{
    char root[PATH_MAX], p[PATH_MAX];
    m2msec_manifest *m;
    unsigned jobs[] = {1, 4, 2, 0, 64};
    char *json1 = NULL, *table1 = NULL;
    size_t i;

    make_tree(root, sizeof(root));
    run("mkdir -p '%s/many'", root);
    for (i = 0; i < 300; i++) {
        char rel[64], text[64];

        snprintf(rel, sizeof(rel), "many/f%03zu", i);
        snprintf(text, sizeof(text), "file %zu %.*s\n", i, (int)(i % 50),
                 "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
        put(root, rel, text, 0644);
    }
    m = stock_manifest(root, 1, 42);
    /* a mix of failures */
    put(root, "many/f007", "changed\n", 0644);
    pathf(p, sizeof(p), "%s/many/f100", root);
    unlink(p);
    pathf(p, sizeof(p), "%s/many/f200", root);
    chmod(p, 0600);
    pathf(p, sizeof(p), "%s/many/f250", root);
    unlink(p);
    symlink("f251", p);
    put(root, "many/zzz-extra", "extra\n", 0644);
    for (i = 0; i < sizeof(jobs) / sizeof(jobs[0]); i++) {
        m2msec_report *r = verify(m, root, jobs[i], 1);
        char *json, *table;

        CU_ASSERT_FATAL(r != NULL);
        CU_ASSERT_EQUAL(m2msec_report_count(r), 308);
        CU_ASSERT_EQUAL(m2msec_report_failures(r), 5);
        json = report_text(r, M2MSEC_REPORT_JSON);
        table = report_text(r, 0);
        if (i == 0) {
            json1 = json;
            table1 = table;
        } else {
            CU_ASSERT_STRING_EQUAL(json, json1);
            CU_ASSERT_STRING_EQUAL(table, table1);
            free(json);
            free(table);
        }
        m2msec_report_free(r);
    }
    CU_ASSERT_PTR_NOT_NULL(strstr(table1, "summary: 308 files, 303 ok, 1 modified, 1 missing, "
                                          "1 wrong-type, 1 wrong-mode, 1 extra; 5 failures"));
    free(json1);
    free(table1);
    m2msec_manifest_free(m);
    rm_rf(root);
}

/*
 * The report is in bytewise path order whatever the walk found and
 * wherever: compared with `find | LC_ALL=C sort` (an independent order),
 * with enough files that the workers claim them in chunks.
 */
static void test_report_order(void)
{
    char root[PATH_MAX];
    m2msec_manifest *m;
    unsigned jobs[] = {1, 2, 3};
    char longdir[201], longrel[700], rel2[800];
    char *want;
    size_t i, k;

    make_tree(root, sizeof(root));
    run("mkdir -p '%s/many/sub' '%s/many-x'", root, root);
    for (i = 0; i < 1500; i++) {
        char rel[64];

        snprintf(rel, sizeof(rel), "many/%s%04zu", i % 3 == 0 ? "sub/" : "", i);
        put(root, rel, rel, 0644);
    }
    /* paths longer than the walk's buffer for names (512 bytes) */
    memset(longdir, 'd', 200);
    longdir[200] = '\0';
    snprintf(longrel, sizeof(longrel), "%s/%s/%s", longdir, longdir, longdir);
    run("mkdir -p '%s/%s'", root, longrel);
    snprintf(rel2, sizeof(rel2), "%s/listed", longrel);
    put(root, rel2, "listed", 0644);
    m = stock_manifest(root, 0, 1);
    snprintf(rel2, sizeof(rel2), "%s/unlisted", longrel);
    put(root, rel2, "unlisted", 0644);
    /* unlisted files before, between and after the listed ones; 'a-c' sorts before 'a/b' */
    put(root, "0-first", "x", 0644);
    put(root, "many-x/extra", "x", 0644);
    put(root, "many/0750x", "x", 0644);
    put(root, "many/sub/zz", "x", 0644);
    put(root, "zzz-last", "x", 0644);
    put(root, "etc/conf", "changed\n", 0644);
    want = run_out("cd '%s' && find . -type f -printf '%%P\\n' | LC_ALL=C sort", root);
    CU_ASSERT_FATAL(want != NULL);
    for (k = 0; k < sizeof(jobs) / sizeof(jobs[0]); k++) {
        m2msec_report *r = verify(m, root, jobs[k], 1);
        char *got = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&got, &len);

        CU_ASSERT_FATAL(r != NULL && f != NULL);
        CU_ASSERT_EQUAL(m2msec_report_count(r), 1500 + 8 + 6);
        CU_ASSERT_EQUAL(m2msec_report_failures(r), 7);
        for (i = 0; i < m2msec_report_count(r); i++)
            fprintf(f, "%s\n", m2msec_report_at(r, i)->path);
        fclose(f);
        CU_ASSERT_STRING_EQUAL(got, want);
        free(got);
        m2msec_report_free(r);
    }
    free(want);
    m2msec_manifest_free(m);
    rm_rf(root);
}

static void test_largest_first(void)
{
    char root[PATH_MAX];
    int meta, i;

    make_tree(root, sizeof(root));
    put(root, "data/medium", "0123456789012345678901234567890123456789", 0644);
    for (meta = 0; meta < 2; meta++) {
        m2msec_manifest *m = stock_manifest(root, meta, 1);
        m2msec_report *r;
        hook_state h;

        memset(&h, 0, sizeof(h));
        h.mode = 2;
        m2msec_verify_set_test_hook(hook, &h);
        r = verify(m, root, 1, 0);
        m2msec_verify_set_test_hook(NULL, NULL);
        CU_ASSERT_FATAL(r != NULL);
        CU_ASSERT_EQUAL(h.calls, 8);
        CU_ASSERT_STRING_EQUAL(h.order[0], "lib/big.so");
        for (i = 1; i < h.calls && i < 16; i++)
            CU_ASSERT(h.sizes[i - 1] >= h.sizes[i]);
        m2msec_report_free(r);
        m2msec_manifest_free(m);
    }
    rm_rf(root);
}

typedef struct {
    int calls;
    uint64_t last_bytes, bytes_total;
    size_t last_files, files_total;
    int monotonic;
} prog_state;

static void progress(void *arg, uint64_t bytes_done, uint64_t bytes_total, size_t files_done,
                     size_t files_total)
{
    prog_state *ps = arg;

    if (bytes_done < ps->last_bytes || files_done < ps->last_files)
        ps->monotonic = 0;
    ps->calls++;
    ps->last_bytes = bytes_done;
    ps->last_files = files_done;
    ps->bytes_total = bytes_total;
    ps->files_total = files_total;
}

static void test_progress(void)
{
    char root[PATH_MAX];
    m2msec_tree_verify_options o;
    m2msec_manifest *m;
    m2msec_report *r;
    prog_state ps;
    uint64_t total = 0;
    size_t i;

    make_tree(root, sizeof(root));
    m = stock_manifest(root, 1, 1);
    for (i = 0; i < m2msec_manifest_count(m); i++)
        total += (uint64_t)m2msec_manifest_entry_at(m, i)->size;
    memset(&ps, 0, sizeof(ps));
    ps.monotonic = 1;
    memset(&o, 0, sizeof(o));
    o.jobs = 2;
    o.progress = progress;
    o.progress_arg = &ps;
    r = m2msec_tree_verify(libctx, m, root, &o);
    CU_ASSERT_FATAL(r != NULL);
    CU_ASSERT(ps.calls >= 1);
    CU_ASSERT(ps.monotonic);
    CU_ASSERT_EQUAL(ps.last_files, 7);
    CU_ASSERT_EQUAL(ps.files_total, 7);
    CU_ASSERT_EQUAL(ps.bytes_total, total);
    CU_ASSERT_EQUAL(ps.last_bytes, total);
    case_done(r, m, root);
}

static long max_rss_kib(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

/* A 256 MiB sparse file: digest equal to sha256sum, and memory does not follow its size. */
static void test_large_file_bounded(void)
{
    char root[PATH_MAX], p[PATH_MAX];
    m2msec_manifest *m;
    m2msec_report *r;
    long before, after;
    FILE *f;

    tmpdir_new(root, sizeof(root));
    pathf(p, sizeof(p), "%s/huge", root);
    f = fopen(p, "wb");
    CU_ASSERT_FATAL(f != NULL);
    fputs("start", f);
    fseek(f, 256L * 1024 * 1024 - 4, SEEK_SET);
    fputs("end\n", f);
    fclose(f);
    put(root, "small", "s", 0644);
    m = stock_manifest(root, 1, 1);
    before = max_rss_kib();
    r = verify(m, root, 2, 1);
    after = max_rss_kib();
    CU_ASSERT_FATAL(r != NULL);
    expect_rest_ok(r, 2, NULL);
    printf("\n    (max RSS %ld KiB -> %ld KiB) ", before, after);
    CU_ASSERT(after - before < 32 * 1024);
    case_done(r, m, root);
}

/* ---------------------------------------------------------------- */
/* Report output                                                     */
/* ---------------------------------------------------------------- */

static int have_python(void)
{
    return run("python3 -c 'import json' >/dev/null 2>&1") == 0;
}

static void test_json_and_table(void)
{
    char root[PATH_MAX], p[PATH_MAX], jpath[PATH_MAX];
    static const char *const names[] = {
        "q\"uote",     "back\\slash", "new\nline", "ctl\x01x",   "bad\xff",    "ls\xe2\x80\xa8",
        "caf\xc3\xa9", "tab\tx",      "del\x7f",   "c1\xc2\x9b", "esc\033[2J", "rlo\xe2\x80\xae"};
    m2msec_manifest *m;
    m2msec_report *r;
    char *json, *table, *failures;
    size_t i, idx = 0;

    make_tree(root, sizeof(root));
    m = stock_manifest(root, 1, 9);
    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        pathf(p, sizeof(p), "%s/data/%s", root, names[i]);
        write_text(p, "x", 0644);
    }
    put(root, "etc/conf", "changed\n", 0644);
    r = verify(m, root, 2, 1);
    CU_ASSERT_FATAL(r != NULL);
    /* what the policy code does: record an action with a detail */
    for (i = 0; i < m2msec_report_count(r); i++)
        if (strcmp(m2msec_report_at(r, i)->path, "etc/conf") == 0)
            idx = i;
    m2msec_report_at_mut(r, idx)->action = M2MSEC_ACTION_QUARANTINE;
    m2msec_report_at_mut(r, idx)->action_ok = 1;
    CU_ASSERT(m2msec_report_set_action_detail(r, idx, "moved to \"q/etc/conf\""));
    CU_ASSERT(m2msec_report_set_action_detail(r, idx, "moved to \"q/etc/conf\"\n"));
    CU_ASSERT_FALSE(m2msec_report_set_action_detail(r, 100000, "x"));
    ERR_clear_error();

    json = report_text(r, M2MSEC_REPORT_JSON);
    CU_ASSERT_PTR_NOT_NULL(strstr(json, "{\"root\":\""));
    CU_ASSERT_PTR_NOT_NULL(strstr(json, "\"manifest_version\":9,"));
    CU_ASSERT_PTR_NOT_NULL(strstr(json, "\"path\":\"data/q\\\"uote\""));
    CU_ASSERT_PTR_NOT_NULL(strstr(json, "\"path\":\"data/back\\\\slash\""));
    CU_ASSERT_PTR_NOT_NULL(strstr(json, "\"path\":\"data/new\\nline\""));
    CU_ASSERT_PTR_NOT_NULL(strstr(json, "\"path\":\"data/ctl\\u0001x\""));
    CU_ASSERT_PTR_NOT_NULL(strstr(json, "\"path\":\"data/tab\\tx\""));
    CU_ASSERT_PTR_NOT_NULL(strstr(json, "\"path\":\"data/del\\u007f\""));
    CU_ASSERT_PTR_NOT_NULL(strstr(json, "\"path\":\"data/c1\\u009b\""));
    CU_ASSERT_PTR_NOT_NULL(strstr(json, "\"path\":\"data/ls\\u2028\""));
    CU_ASSERT_PTR_NOT_NULL(strstr(json, "\"path\":\"data/caf\xc3\xa9\""));
    CU_ASSERT_PTR_NOT_NULL(strstr(json, "\"path\":\"data/esc\\u001b[2J\""));
    CU_ASSERT_PTR_NOT_NULL(strstr(json, "\"path\":\"data/rlo\\u202e\""));
    CU_ASSERT_PTR_NOT_NULL(
        strstr(json, "\"path\":\"data/bad\\ufffd\",\"path_hex\":\"646174612f626164ff\""));
    CU_ASSERT_PTR_NOT_NULL(
        strstr(json, "\"status\":\"modified\",\"detail\":\"expected 12 bytes, found 8\",\"action\":"
                     "\"quarantine\",\"action_ok\":true,\"action_detail\":\"moved to "
                     "\\\"q/etc/conf\\\"\\n\""));
    CU_ASSERT_PTR_NOT_NULL(strstr(json, "\"status\":\"ok\",\"detail\":null,\"action\":\"none\","
                                        "\"action_ok\":false,\"action_detail\":null"));
    CU_ASSERT_PTR_NOT_NULL(strstr(json, "\"summary\":{\"ok\":6,\"modified\":1,\"missing\":0,"
                                        "\"wrong-type\":0,\"wrong-mode\":0,\"unreadable\":0,"
                                        "\"changed\":0,\"extra\":12,\"wrong-attr\":0,\"total\":19,"
                                        "\"failures\":13}}\n"));
    /* a real JSON parser agrees on every path */
    if (have_python()) {
        pathf(jpath, sizeof(jpath), "%s.json", root);
        write_text(jpath, json, 0644);
        CU_ASSERT_EQUAL(
            run("python3 -c '\n"
                "import json, sys\n"
                "d = json.load(open(sys.argv[1], encoding=\"utf-8\"))\n"
                "paths = {f[\"path\"]: f for f in d[\"files\"]}\n"
                "want = [\"q\\\"uote\", \"back\\\\slash\", \"new\\nline\", \"ctl\\x01x\",\n"
                "        \"ls\\u2028\", \"caf\\u00e9\", \"tab\\tx\", \"del\\x7f\", \"c1\\x9b\",\n"
                "        \"esc\\x1b[2J\", \"rlo\\u202e\"]\n"
                "for w in want:\n"
                "    assert paths[\"data/\" + w][\"status\"] == \"extra\", w\n"
                "b = paths[\"data/bad\\ufffd\"]\n"
                "assert bytes.fromhex(b[\"path_hex\"]) == b\"data/bad\\xff\"\n"
                "assert d[\"summary\"][\"failures\"] == 13 and d[\"manifest_version\"] == 9\n"
                "assert paths[\"etc/conf\"][\"action_ok\"] is True\n"
                "' '%s'",
                jpath),
            0);
        unlink(jpath);
    } else {
        printf("\n    (python3 not found: JSON checked by text only) ");
    }

    table = report_text(r, 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(table, "STATUS      PATH"));
    /* as sha256sum does: a line with an escaped name starts with a backslash */
    CU_ASSERT_PTR_NOT_NULL(strstr(table, "\n\\extra       data/new\\nline"));
    CU_ASSERT_PTR_NOT_NULL(strstr(table, "\n\\extra       data/esc\\x1b[2J"));
    CU_ASSERT_PTR_NOT_NULL(strstr(table, "\n\\extra       data/rlo\\xe2\\x80\\xae"));
    CU_ASSERT_PTR_NOT_NULL(strstr(table, "\n\\extra       data/back\\\\slash"));
    CU_ASSERT_PTR_NOT_NULL(strstr(table, "\nextra       data/caf\xc3\xa9"));
    CU_ASSERT_PTR_NOT_NULL(strstr(table, "\nextra       data/q\"uote"));
    /* a raw newline in a detail is escaped too, and marks its line */
    CU_ASSERT_PTR_NOT_NULL(strstr(table, "\n\\modified    etc/conf"));
    CU_ASSERT_PTR_NOT_NULL(strstr(table, "data/bad\\xff"));
    CU_ASSERT_PTR_NOT_NULL(strstr(table, "data/back\\\\slash"));
    CU_ASSERT_PTR_NOT_NULL(strstr(table, "data/ctl\\x01x"));
    CU_ASSERT_PTR_NOT_NULL(strstr(table, "data/c1\\xc2\\x9b"));
    CU_ASSERT_PTR_NOT_NULL(strstr(table, "data/caf\xc3\xa9"));
    CU_ASSERT_PTR_NOT_NULL(strstr(table, "expected 12 bytes, found 8 [action quarantine: done, "
                                         "moved to \"q/etc/conf\"\\n]"));
    CU_ASSERT_PTR_NOT_NULL(strstr(table, "summary: 19 files, 6 ok, 1 modified, 12 extra; "
                                         "13 failures\n"));
    /* no raw control character reaches the table */
    for (i = 0; table[i] != '\0'; i++)
        CU_ASSERT(table[i] == '\n' || (unsigned char)table[i] >= 0x20);

    failures = report_text(r, M2MSEC_REPORT_FAILURES_ONLY);
    CU_ASSERT_PTR_NULL(strstr(failures, "ok          bin/app"));
    CU_ASSERT_PTR_NOT_NULL(strstr(table, "ok          bin/app"));
    CU_ASSERT_PTR_NOT_NULL(strstr(failures, "summary: 19 files"));
    free(failures);
    failures = report_text(r, M2MSEC_REPORT_JSON | M2MSEC_REPORT_FAILURES_ONLY);
    CU_ASSERT_PTR_NULL(strstr(failures, "\"path\":\"bin/app\""));
    CU_ASSERT_PTR_NOT_NULL(strstr(failures, "\"path\":\"etc/conf\""));
    free(failures);

    CU_ASSERT_STRING_EQUAL(m2msec_file_status_text(M2MSEC_FILE_WRONG_TYPE), "wrong-type");
    CU_ASSERT_STRING_EQUAL(m2msec_file_status_text(M2MSEC_FILE_STATUS_COUNT), "unknown");
    CU_ASSERT_STRING_EQUAL(m2msec_action_text(M2MSEC_ACTION_REMEDIATE), "remediate");
    free(json);
    free(table);
    case_done(r, m, root);
}

/* The escaping rule of docs/PROTOCOL.md 7.5, byte for byte, and its cut. */
static void test_escape_rule(void)
{
    static const struct {
        const char *in;
        unsigned flags;
        const char *out;
    } cases[] = {
        {"plain/name.txt", 0, "plain/name.txt"},
        {"a b", 0, "a b"},
        {"a b", M2M_ESC_BLANK, "a\\x20b"},
        {"back\\slash", 0, "back\\\\slash"},
        {"back\\slash", M2M_ESC_TEXT, "back\\slash"},
        {"n\nr\rt\t", 0, "n\\nr\\rt\\t"},
        {"n\nr\rt\t", M2M_ESC_TEXT, "n\\nr\\rt\\t"},
        {"\x01\x1b\x1f\x7f", 0, "\\x01\\x1b\\x1f\\x7f"},
        {"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 0,
         "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"},
        {"c1\xc2\x80\xc2\x9f", 0, "c1\\xc2\\x80\\xc2\\x9f"},
        {"nbsp\xc2\xa0", 0, "nbsp\xc2\xa0"},
        {"ls\xe2\x80\xa8ps\xe2\x80\xa9", 0, "ls\\xe2\\x80\\xa8ps\\xe2\\x80\\xa9"},
        {"\xd8\x9c\xe2\x80\x8e\xe2\x80\x8f", 0, "\\xd8\\x9c\\xe2\\x80\\x8e\\xe2\\x80\\x8f"},
        {"\xe2\x80\xaa\xe2\x80\xae\xe2\x81\xa6\xe2\x81\xa9", 0,
         "\\xe2\\x80\\xaa\\xe2\\x80\\xae\\xe2\\x81\\xa6\\xe2\\x81\\xa9"},
        {"zwj\xe2\x80\x8d", 0, "zwj\xe2\x80\x8d"}, /* not a bidirectional control */
        {"bad\xff\x80", 0, "bad\\xff\\x80"},
        {"overlong\xc0\xaf\xe0\x80\xaf", 0, "overlong\\xc0\\xaf\\xe0\\x80\\xaf"},
        {"surrogate\xed\xa0\x80", 0, "surrogate\\xed\\xa0\\x80"},
        {"big\xf4\x90\x80\x80", 0, "big\\xf4\\x90\\x80\\x80"},
        {"cut\xe2\x82", 0, "cut\\xe2\\x82"},
        {"", 0, ""},
    };
    char buf[256];

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t n = m2m_escape(cases[i].in, cases[i].flags, buf, sizeof(buf));

        CU_ASSERT_STRING_EQUAL(buf, cases[i].out);
        CU_ASSERT_EQUAL(n, strlen(cases[i].out));
        CU_ASSERT_EQUAL(m2m_escape_needed(cases[i].in, cases[i].flags),
                        strcmp(cases[i].in, cases[i].out) != 0);
        if (strcmp(buf, cases[i].out) != 0)
            fprintf(stderr, "\n  case %zu: got \"%s\"\n", i, buf);
    }
    /* NULL */
    CU_ASSERT_EQUAL(m2m_escape(NULL, 0, buf, sizeof(buf)), 6);
    CU_ASSERT_STRING_EQUAL(buf, "(null)");
    /* a cut falls between two escapes and ends with "..." */
    CU_ASSERT_EQUAL(m2m_escape("abc\ndef", 0, buf, 9), 8);
    CU_ASSERT_STRING_EQUAL(buf, "abc\\ndef");
    CU_ASSERT_EQUAL(m2m_escape("abc\ndef", 0, buf, 8), 8);
    CU_ASSERT_STRING_EQUAL(buf, "abc...");
    CU_ASSERT_EQUAL(m2m_escape("abcd\ndef", 0, buf, 9), 9);
    CU_ASSERT_STRING_EQUAL(buf, "abcd...");
    CU_ASSERT_EQUAL(m2m_escape("ab\x1b"
                               "cd",
                               0, buf, 8),
                    8);
    CU_ASSERT_STRING_EQUAL(buf, "ab..."); /* never half an escape */
    CU_ASSERT_EQUAL(m2m_escape("\x1b\x1b", 0, buf, 3), 8);
    CU_ASSERT_STRING_EQUAL(buf, "..");
    CU_ASSERT_EQUAL(m2m_escape("x", 0, buf, 1), 1);
    CU_ASSERT_STRING_EQUAL(buf, "");
    /* columns: a kept UTF-8 letter is one */
    CU_ASSERT_EQUAL(m2m_escape_fputs("caf\xc3\xa9\n", 0, NULL), 6);
}

/* Verification records what it saw at each path, for the actions: device, inode, type. */
static void test_report_identity(void)
{
    char root[PATH_MAX], p[PATH_MAX];
    m2msec_manifest *m;
    m2msec_report *r;
    struct stat st;

    make_tree(root, sizeof(root));
    m = stock_manifest(root, 1, 1);
    pathf(p, sizeof(p), "%s/bin/app", root);
    CU_ASSERT(unlink(p) == 0 && symlink("../etc/conf", p) == 0);
    pathf(p, sizeof(p), "%s/etc/conf", root);
    CU_ASSERT(unlink(p) == 0);
    put(root, "data/new", "x", 0644);
    r = verify(m, root, 2, 1);
    CU_ASSERT_FATAL(r != NULL);
    for (size_t i = 0; i < m2msec_report_count(r); i++) {
        const m2msec_file_result *x = m2msec_report_at(r, i);
        const m2m_ident *id = m2msec_report_seen(r, i);

        CU_ASSERT_FATAL(id != NULL);
        pathf(p, sizeof(p), "%s/%s", root, x->path);
        if (x->status == M2MSEC_FILE_MISSING) {
            CU_ASSERT_EQUAL(id->known, 0);
            continue;
        }
        CU_ASSERT_FATAL(lstat(p, &st) == 0);
        CU_ASSERT(id->known && id->dev == st.st_dev && id->ino == st.st_ino &&
                  id->type == (st.st_mode & S_IFMT));
        if (strcmp(x->path, "bin/app") == 0)
            CU_ASSERT(x->status == M2MSEC_FILE_WRONG_TYPE && id->type == S_IFLNK);
        if (strcmp(x->path, "data/new") == 0)
            CU_ASSERT(x->status == M2MSEC_FILE_EXTRA && id->type == S_IFREG);
    }
    CU_ASSERT_PTR_NULL(m2msec_report_seen(r, m2msec_report_count(r)));
    case_done(r, m, root);
}

/* ---------------------------------------------------------------- */
/* m2msec_file_hash, m2msec_file_open_beneath                               */
/* ---------------------------------------------------------------- */

static void test_hash_fd(void)
{
    char root[PATH_MAX], p[PATH_MAX], want[200], got[200];
    unsigned char out[M2MSEC_DIGEST_MAX];
    size_t outlen;
    char *o;
    int fd;

    make_tree(root, sizeof(root));
    pathf(p, sizeof(p), "%s/lib/big.so", root);
    fd = open(p, O_RDONLY);
    CU_ASSERT_FATAL(fd >= 0);
    outlen = sizeof(out);
    CU_ASSERT(m2msec_file_hash(libctx, fd, NULL, out, &outlen));
    CU_ASSERT_EQUAL(outlen, 32);
    hex(out, outlen, got);
    stock_digest("sha256sum", p, want, sizeof(want));
    CU_ASSERT_STRING_EQUAL(got, want);
    /* from the current offset */
    CU_ASSERT(lseek(fd, 1000, SEEK_SET) == 1000);
    outlen = sizeof(out);
    CU_ASSERT(m2msec_file_hash(libctx, fd, "SHA384", out, &outlen));
    CU_ASSERT_EQUAL(outlen, 48);
    hex(out, outlen, got);
    o = run_out("tail -c +1001 '%s' | sha384sum", p);
    CU_ASSERT(o != NULL && strncmp(o, got, 96) == 0);
    free(o);
    /* too small a buffer, unknown digest, bad descriptor */
    outlen = 47;
    CU_ASSERT(lseek(fd, 0, SEEK_SET) == 0);
    CU_ASSERT_FALSE(m2msec_file_hash(libctx, fd, "SHA384", out, &outlen));
    CU_ASSERT(errors_have("too small", NULL));
    outlen = sizeof(out);
    CU_ASSERT_FALSE(m2msec_file_hash(libctx, fd, "MD5", out, &outlen));
    CU_ASSERT(errors_have("unsupported digest", NULL));
    close(fd);
    pathf(p, sizeof(p), "%s/etc", root);
    fd = open(p, O_RDONLY | O_DIRECTORY);
    CU_ASSERT_FALSE(m2msec_file_hash(libctx, fd, NULL, out, &outlen));
    CU_ASSERT(errors_have("cannot read", NULL));
    close(fd);
    rm_rf(root);
}

/*
 * m2msec_file_open_beneath expected to refuse: -1 with errno kept and, by
 * the return convention, an error queued (then cleared).
 */
static int open_beneath_refused(int rootfd, const char *path)
{
    int fd, err;

    ERR_clear_error();
    fd = m2msec_file_open_beneath(rootfd, path);
    err = errno;
    if (fd >= 0)
        close(fd);
    CU_ASSERT(fd >= 0 || ERR_peek_error() != 0);
    ERR_clear_error();
    errno = err;
    return fd >= 0 ? fd : -1;
}

static void open_beneath_case(int fallback)
{
    char root[PATH_MAX], p[PATH_MAX];
    static const char *const bad[] = {"",         "/etc/passwd", "../x",  "a/../b", "./bin/app",
                                      "bin//app", "bin/app/",    "bin/.", NULL};
    int rootfd, fd, i;

    (void)fallback;
    make_tree(root, sizeof(root));
    pathf(p, sizeof(p), "%s/bin/link", root);
    CU_ASSERT(symlink("app", p) == 0);
    pathf(p, sizeof(p), "%s/dirlink", root);
    CU_ASSERT(symlink("bin", p) == 0);
    pathf(p, sizeof(p), "%s/up", root);
    CU_ASSERT(symlink("..", p) == 0);
    rootfd = open(root, O_RDONLY | O_DIRECTORY);
    CU_ASSERT_FATAL(rootfd >= 0);
    fd = m2msec_file_open_beneath(rootfd, "bin/app");
    CU_ASSERT(fd >= 0);
    if (fd >= 0) {
        char buf[32];
        ssize_t n = read(fd, buf, sizeof(buf));

        CU_ASSERT(n == 19 && memcmp(buf, "#!/bin/sh\necho app\n", 19) == 0);
        CU_ASSERT(fcntl(fd, F_GETFD) & FD_CLOEXEC);
        close(fd);
    }
    for (i = 0; bad[i] != NULL; i++) {
        errno = 0;
        CU_ASSERT_EQUAL(open_beneath_refused(rootfd, bad[i]), -1);
        CU_ASSERT_EQUAL(errno, EINVAL);
    }
    errno = 0;
    CU_ASSERT_EQUAL(open_beneath_refused(rootfd, "bin/link"), -1);
    CU_ASSERT(errno == ELOOP || errno == EXDEV);
    errno = 0;
    CU_ASSERT_EQUAL(open_beneath_refused(rootfd, "dirlink/app"), -1);
    CU_ASSERT(errno == ELOOP || errno == EXDEV || errno == ENOTDIR);
    errno = 0;
    CU_ASSERT_EQUAL(open_beneath_refused(rootfd, "up/etc/passwd"), -1);
    CU_ASSERT(errno == ELOOP || errno == EXDEV || errno == ENOTDIR);
    errno = 0;
    CU_ASSERT_EQUAL(open_beneath_refused(rootfd, "bin/nothing"), -1);
    CU_ASSERT_EQUAL(errno, ENOENT);
    errno = 0;
    CU_ASSERT_EQUAL(open_beneath_refused(rootfd, "bin/app/x"), -1);
    CU_ASSERT_EQUAL(errno, ENOTDIR);
    close(rootfd);
    rm_rf(root);
}

static void test_open_beneath(void)
{
    each_mode(open_beneath_case);
}

int main(void)
{
    static const tc_test tests[] = {
        {"all ok (jobs 1, 2, 4, default)", test_all_ok},
        {"changed byte", test_changed_byte},
        {"truncated file", test_truncated},
        {"file replaced by a symlink (in and out of the root)", test_symlink_file},
        {"directory component replaced by a symlink", test_symlink_dir_component},
        {"directory, fifo, socket in place of a file", test_special_files},
        {"missing file", test_missing},
        {"extra files", test_extra},
        {"wrong mode", test_wrong_mode},
        {"changed during verification (hook)", test_changed_during},
        {"unreadable: read error (hook, EIO)", test_unreadable_eio},
        {"unreadable: permission denied (unprivileged child)", test_unreadable_permission},
        {"jobs=1 and jobs=4 give identical reports", test_jobs_identical},
        {"report in bytewise order, the walk's results merged in", test_report_order},
        {"largest files first", test_largest_first},
        {"progress callback", test_progress},
        {"256 MiB file: bounded memory", test_large_file_bounded},
        {"JSON and table output, escaping", test_json_and_table},
        {"the escaping rule of PROTOCOL.md 7.5", test_escape_rule},
        {"the report records what verification saw", test_report_identity},
        {"m2msec_file_hash vs sha256sum/sha384sum", test_hash_fd},
        {"m2msec_file_open_beneath", test_open_beneath},
    };

    return tc_run("test_verify", "integrity", integrity_suite_init, integrity_suite_cleanup, tests,
                  sizeof(tests) / sizeof(tests[0]));
}
