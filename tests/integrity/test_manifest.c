/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Manifest tests (suite 'integrity'): format, parser and serialiser, path
 * rules, signatures and the rollback state.
 *
 * Independent references: the stock sha256sum/sha384sum/sha512sum check a
 * manifest written by m2msec (`-c --strict`) and give each file's digest;
 * the stock `openssl pkeyutl -verify -rawin` (and `openssl dgst -verify`
 * for ECDSA) verifies signatures made by m2msec_manifest_sign, and
 * signatures made by the stock `openssl pkeyutl -sign -rawin` / `openssl
 * dgst -sign` are accepted by m2msec_manifest_accept. The canonical texts
 * below are written out by hand from docs/PROTOCOL.md section 7.
 */
#include <inttypes.h>
#include <stdint.h>
#include <time.h>

#include "integrity_test.h"

#define FAR_FUTURE 4102444800u /* 2100-01-01 */

static const char canonical[] =
    "# m2msec-manifest 1\n"
    "# version 7\n"
    "# expires 4102444800\n"
    "# digest SHA256\n"
    "# meta 0755 12 bin/app\n"
    "0000000000000000000000000000000000000000000000000000000000000001  bin/app\n"
    "# meta 0644 - bin/app-data\n"
    "00000000000000000000000000000000000000000000000000000000000000a2  bin/app-data\n"
    "# meta - 0 bin/app.d/x\n"
    "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff03  bin/app.d/x\n"
    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef  d\xc3\xa9j\xc3\xa0 vu "
    "file\n";

static m2msec_manifest_entry entry(const char *path, unsigned char last, size_t dlen, int64_t size,
                                   int32_t mode)
{
    m2msec_manifest_entry e;

    memset(&e, 0, sizeof(e));
    e.path = path;
    e.digest_len = dlen;
    e.digest[dlen - 1] = last;
    e.size = size;
    e.mode = mode;
    return e;
}

static int same_manifest(const m2msec_manifest *a, const m2msec_manifest *b)
{
    size_t i;

    if (m2msec_manifest_version(a) != m2msec_manifest_version(b) ||
        m2msec_manifest_expires(a) != m2msec_manifest_expires(b) ||
        strcmp(m2msec_manifest_digest(a), m2msec_manifest_digest(b)) != 0 ||
        m2msec_manifest_count(a) != m2msec_manifest_count(b))
        return 0;
    for (i = 0; i < m2msec_manifest_count(a); i++) {
        const m2msec_manifest_entry *x = m2msec_manifest_entry_at(a, i);
        const m2msec_manifest_entry *y = m2msec_manifest_entry_at(b, i);

        if (strcmp(x->path, y->path) != 0 || x->digest_len != y->digest_len ||
            memcmp(x->digest, y->digest, x->digest_len) != 0 || x->size != y->size ||
            x->mode != y->mode)
            return 0;
    }
    return 1;
}

/* Built in API calls, added out of order: serialises to the hand-written text. */
static void test_serialize_canonical(void)
{
    m2msec_manifest *m = m2msec_manifest_new(NULL, 7, FAR_FUTURE), *p;
    m2msec_manifest_entry e;
    unsigned char *buf = NULL, *buf2 = NULL;
    size_t len = 0, len2 = 0;

    CU_ASSERT_FATAL(m != NULL);
    CU_ASSERT_STRING_EQUAL(m2msec_manifest_digest(m), "SHA256");
    e = entry("d\xc3\xa9j\xc3\xa0 vu file", 0xef, 32, -1, -1);
    {
        static const unsigned char d[32] = {0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef,
                                            0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef,
                                            0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef,
                                            0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef};
        memcpy(e.digest, d, 32);
    }
    CU_ASSERT(m2msec_manifest_add(m, &e));
    e = entry("bin/app.d/x", 0x03, 32, 0, -1);
    memset(e.digest, 0xff, 31);
    CU_ASSERT(m2msec_manifest_add(m, &e));
    e = entry("bin/app", 0x99, 32, 99, 0700);
    CU_ASSERT(m2msec_manifest_add(m, &e));
    e = entry("bin/app-data", 0xa2, 32, -1, 0644);
    CU_ASSERT(m2msec_manifest_add(m, &e));
    /* replace: same path, new values */
    e = entry("bin/app", 0x01, 32, 12, 0755);
    CU_ASSERT(m2msec_manifest_add(m, &e));
    CU_ASSERT_EQUAL(m2msec_manifest_count(m), 4);
    CU_ASSERT_PTR_NOT_NULL(m2msec_manifest_find(m, "bin/app-data"));
    CU_ASSERT_PTR_NULL(m2msec_manifest_find(m, "bin/ap"));

    CU_ASSERT_FATAL(m2msec_manifest_serialize(m, &buf, &len));
    CU_ASSERT_EQUAL(len, strlen(canonical));
    CU_ASSERT(len == strlen(canonical) && memcmp(buf, canonical, len) == 0);
    if (len != strlen(canonical) || memcmp(buf, canonical, len) != 0)
        fprintf(stderr, "\n%.*s", (int)len, (const char *)buf);

    /* parse(serialize(m)) == m and serialize(parse(text)) == text */
    p = m2msec_manifest_parse(buf, len);
    CU_ASSERT_FATAL(p != NULL);
    CU_ASSERT(same_manifest(m, p));
    CU_ASSERT(m2msec_manifest_serialize(p, &buf2, &len2));
    CU_ASSERT(len2 == len && memcmp(buf, buf2, len) == 0);
    CU_ASSERT_EQUAL(m2msec_manifest_version(p), 7);
    CU_ASSERT_EQUAL(m2msec_manifest_expires(p), FAR_FUTURE);
    CU_ASSERT_EQUAL(m2msec_manifest_find(p, "bin/app")->size, 12);
    CU_ASSERT_EQUAL(m2msec_manifest_find(p, "bin/app")->mode, 0755);
    CU_ASSERT_EQUAL(m2msec_manifest_find(p, "bin/app-data")->size, -1);
    CU_ASSERT_EQUAL(m2msec_manifest_find(p, "bin/app.d/x")->mode, -1);
    OPENSSL_free(buf);
    OPENSSL_free(buf2);
    m2msec_manifest_free(p);
    m2msec_manifest_free(m);

    /* SHA384/SHA512 and an empty manifest */
    m = m2msec_manifest_new("sha384", UINT64_MAX, 0);
    CU_ASSERT_FATAL(m != NULL);
    CU_ASSERT_STRING_EQUAL(m2msec_manifest_digest(m), "SHA384");
    e = entry("a", 1, 32, -1, -1);
    CU_ASSERT_FALSE(m2msec_manifest_add(m, &e)); /* 32-byte digest in a SHA384 manifest */
    CU_ASSERT(errors_have("digest length", NULL));
    CU_ASSERT(m2msec_manifest_serialize(m, &buf, &len));
    CU_ASSERT(len == strlen("# m2msec-manifest 1\n# version 18446744073709551615\n# expires 0\n"
                            "# digest SHA384\n") &&
              memcmp(buf,
                     "# m2msec-manifest 1\n# version 18446744073709551615\n# expires 0\n"
                     "# digest SHA384\n",
                     len) == 0);
    p = m2msec_manifest_parse(buf, len);
    CU_ASSERT(p != NULL && same_manifest(m, p));
    OPENSSL_free(buf);
    m2msec_manifest_free(p);
    m2msec_manifest_free(m);
    CU_ASSERT_PTR_NULL(m2msec_manifest_new("MD5", 1, 1));
    CU_ASSERT(errors_have("unsupported manifest digest 'MD5'", NULL));
}

static const char hdr[] = "# m2msec-manifest 1\n# version 1\n# expires 100\n# digest SHA256\n";
#define H0 "0000000000000000000000000000000000000000000000000000000000000000"

/* Every refusal of the parser names the line and the reason. */
static void test_parse_errors(void)
{
    static const struct {
        const char *text, *why;
    } cases[] = {
        {"", "line 1: empty manifest"},
        {"# m2msec-manifest 2\n# version 1\n# expires 100\n# digest SHA256\n", "line 1: not an"},
        {"hello\n", "line 1: not an m2msec manifest"},
        {"# m2msec-manifest 1 \n", "line 1: not an m2msec manifest"},
        {"# m2msec-manifest 1\n", "line 2: missing '# version N'"},
        {"# m2msec-manifest 1\n# version 1\n", "line 3: missing '# expires N'"},
        {"# m2msec-manifest 1\n# version 1\n# expires 5\n", "line 4: missing '# digest"},
        {"# m2msec-manifest 1\n# expires 100\n# version 1\n# digest SHA256\n",
         "line 2: expected '# version N'"},
        {"# m2msec-manifest 1\n# version 01\n# expires 100\n# digest SHA256\n",
         "line 2: expected '# version N'"},
        {"# m2msec-manifest 1\n# version 18446744073709551616\n# expires 1\n# digest SHA256\n",
         "line 2: expected '# version N'"},
        {"# m2msec-manifest 1\n# version -1\n# expires 100\n# digest SHA256\n", "line 2: expected"},
        {"# m2msec-manifest 1\n# version 1\n# expires  100\n# digest SHA256\n",
         "line 3: expected '# expires N'"},
        {"# m2msec-manifest 1\n# version 1\n# expires 100\n# digest sha256\n",
         "line 4: expected '# digest SHA256'"},
        {"# m2msec-manifest 1\n# version 1\n# expires 100\n# digest MD5\n", "line 4: expected"},
        {"# m2msec-manifest 1\n# version 1\n# expires 100\n# digest SHA256", "line 4: no newline"},
        {"# comment\n", "line 5: unknown '#' line"},
        {"#\n", "line 5: unknown '#' line"},
        {"# version 2\n", "line 5: header line out of place"},
        {"\n", "line 5: empty line"},
        {H0 "  a\r\n", "line 5: control character in path"},
        {H0 "  a", "line 5: no newline"},
        {H0 " a\n", "line 5: expected two spaces"},
        {H0 " *a\n", "line 5: expected two spaces"},
        {H0 "0  a\n", "line 5: digest must be 64 lowercase hex digits for SHA256"},
        {"000000000000000000000000000000000000000000000000000000000000000  a\n",
         "line 5: digest must be 64"},
        {"000000000000000000000000000000000000000000000000000000000000000A  a\n",
         "line 5: uppercase hex digit"},
        {"000000000000000000000000000000000000000000000000000000000000000g  a\n",
         "line 5: digest is not hex"},
        {H0 "  b\n" H0 "  a\n", "line 6: paths not sorted"},
        {H0 "  a\n" H0 "  a\n", "line 6: duplicate path"},
        {H0 "  a/b\n" H0 "  a-c\n", "line 6: paths not sorted"}, /* '-' < '/' bytewise */
        {"# meta 0644 1 a\n" H0 "  b\n", "line 5: '# meta' path differs"},
        {"# meta 0644 1 a\n", "line 5: '# meta' line not followed"},
        {"# meta 0644 1 a\n# meta 0644 1 a\n" H0 "  a\n", "line 5: '# meta' line not followed"},
        {"# meta 644 1 a\n" H0 "  a\n", "line 5: '# meta' mode must be 4 octal digits"},
        {"# meta 0648 1 a\n" H0 "  a\n", "line 5: '# meta' mode must be 4 octal digits"},
        {"# meta 0644 01 a\n" H0 "  a\n", "line 5: '# meta' size must be"},
        {"# meta 0644 9223372036854775808 a\n" H0 "  a\n", "line 5: '# meta' size must be"},
        {"# meta - - a\n" H0 "  a\n", "line 5: '# meta' line records neither"},
        {"# meta 0644 1\n" H0 "  a\n", "line 5: '# meta' line needs"},
        {H0 "  /etc/passwd\n", "line 5: absolute path"},
        {H0 "  a/../../etc/passwd\n", "line 5: '..' path component"},
    };
    size_t i;
    char text[4096];

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        m2msec_manifest *m;
        const char *t = cases[i].text;
        size_t len;

        if (strncmp(t, "# m2msec-manifest", 17) == 0 || strncmp(t, "hello", 5) == 0 || t[0] == '\0')
            pathf(text, sizeof(text), "%s", t);
        else
            pathf(text, sizeof(text), "%s%s", hdr, t);
        len = strlen(text);
        m = m2msec_manifest_parse((const unsigned char *)text, len);
        CU_ASSERT_PTR_NULL(m);
        if (m != NULL)
            fprintf(stderr, "\n  case %zu accepted:\n%s", i, text);
        CU_ASSERT(errors_have(cases[i].why, NULL));
        m2msec_manifest_free(m);
    }
    /* a NUL byte */
    {
        static const char nul[] = "# m2msec-manifest 1\n# version 1\n# expires 100\n# digest "
                                  "SHA256\n" H0 "  a\0b\n";

        CU_ASSERT_PTR_NULL(m2msec_manifest_parse((const unsigned char *)nul, sizeof(nul) - 1));
        CU_ASSERT(errors_have("line 5: NUL byte", NULL));
    }
    /* and the smallest valid one */
    pathf(text, sizeof(text), "%s" H0 "  a\n", hdr);
    {
        m2msec_manifest *m = m2msec_manifest_parse((const unsigned char *)text, strlen(text));

        CU_ASSERT(m != NULL && m2msec_manifest_count(m) == 1);
        m2msec_manifest_free(m);
    }
}

/*
 * '# attr UID GID MTIME PATH' (docs/PROTOCOL.md 7.1): parsed into the entry,
 * written back byte for byte after '# meta', optional (an entry without it
 * records nothing), and every malformed or misplaced form refused by line.
 */
static void test_attr_lines(void)
{
    static const char text[] = "# m2msec-manifest 1\n# version 1\n# expires 100\n# digest SHA256\n"
                               "# meta 0755 6 a\n"
                               "# attr 0 4294967295 -86400 a\n" H0 "  a\n"
                               "# attr 1000 100 1700000000 b\n" H0 "  b\n" H0 "  c\n";
    static const struct {
        const char *lines, *why;
    } bad[] = {
        {"# attr 0 0 1 a\n" H0 "  b\n", "line 5: '# attr' path differs"},
        {"# attr 0 0 1 a\n# meta 0644 1 a\n" H0 "  a\n", "line 6: '# meta' line after '# attr'"},
        {"# attr 0 0 1 a\n# attr 0 0 1 a\n" H0 "  a\n", "line 5: '# attr' line not followed"},
        {"# attr 0 0 1 a\n", "line 5: '# attr' line not followed"},
        {"# attr 0 0 a\n" H0 "  a\n", "line 5: '# attr' line needs"},
        {"# attr 4294967296 0 1 a\n" H0 "  a\n", "line 5: '# attr' line needs"},
        {"# attr 0 -1 1 a\n" H0 "  a\n", "line 5: '# attr' line needs"},
        {"# attr 0 0 -0 a\n" H0 "  a\n", "line 5: '# attr' line needs"},
        {"# attr 0 0 01 a\n" H0 "  a\n", "line 5: '# attr' line needs"},
        {"# attr 0 0 - a\n" H0 "  a\n", "line 5: '# attr' line needs"},
        {"# attr  0 0 1 a\n" H0 "  a\n", "line 5: '# attr' line needs"},
    };
    m2msec_manifest *m = m2msec_manifest_parse((const unsigned char *)text, sizeof(text) - 1);
    const m2msec_manifest_entry *a, *b, *c;
    m2msec_manifest_entry e;
    unsigned char *buf = NULL;
    size_t len = 0;
    char t[512];

    CU_ASSERT_FATAL(m != NULL);
    a = m2msec_manifest_find(m, "a");
    b = m2msec_manifest_find(m, "b");
    c = m2msec_manifest_find(m, "c");
    CU_ASSERT_FATAL(a != NULL && b != NULL && c != NULL);
    CU_ASSERT(a->has_attr == 1 && a->uid == 0 && a->gid == 4294967295u && a->mtime == -86400);
    CU_ASSERT(a->mode == 0755 && a->size == 6);
    CU_ASSERT(b->has_attr == 1 && b->uid == 1000 && b->gid == 100 && b->mtime == 1700000000);
    CU_ASSERT(b->mode == -1 && b->size == -1);
    CU_ASSERT(c->has_attr == 0);
    CU_ASSERT_FATAL(m2msec_manifest_serialize(m, &buf, &len));
    CU_ASSERT(len == sizeof(text) - 1 && memcmp(buf, text, len) == 0);
    OPENSSL_free(buf);
    /* an entry built without attributes (zeroed) records none */
    e = entry("d", 0, 32, -1, -1);
    CU_ASSERT(m2msec_manifest_add(m, &e));
    CU_ASSERT(m2msec_manifest_find(m, "d")->has_attr == 0);
    e.has_attr = 2;
    CU_ASSERT_FALSE(m2msec_manifest_add(m, &e));
    CU_ASSERT(errors_have("has_attr", NULL));
    m2msec_manifest_free(m);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        pathf(t, sizeof(t), "%s%s", hdr, bad[i].lines);
        m = m2msec_manifest_parse((const unsigned char *)t, strlen(t));
        CU_ASSERT_PTR_NULL(m);
        if (m != NULL)
            fprintf(stderr, "\n  attr case %zu accepted:\n%s", i, t);
        CU_ASSERT(errors_have(bad[i].why, NULL));
        m2msec_manifest_free(m);
    }
}

/* Path rules, both through m2msec_manifest_add and through the parser. */
static void test_path_rules(void)
{
    static const struct {
        const char *path, *why;
    } bad[] = {
        {"", "empty path"},
        {"/abs", "absolute path"},
        {"a//b", "empty path component"},
        {"a/", "empty path component"},
        {".", "'.' path component"},
        {"./a", "'.' path component"},
        {"a/./b", "'.' path component"},
        {"..", "'..' path component"},
        {"a/../b", "'..' path component"},
        {"a/..", "'..' path component"},
        {"a\\b", "backslash"},
        {"a\nb", "control character"},
        {"a\tb", "control character"},
        {"a\x7f", "control character"},
        {"\x1b[31m", "control character"},
        {"a\xc2\x85", "control character"}, /* U+0085, C1 */
        {"\xff", "not valid UTF-8"},
        {"a\xc3", "not valid UTF-8"},            /* truncated */
        {"\xc0\xaf", "not valid UTF-8"},         /* overlong '/' */
        {"\xed\xa0\x80", "not valid UTF-8"},     /* surrogate */
        {"\xf4\x90\x80\x80", "not valid UTF-8"}, /* > U+10FFFF */
    };
    static const char *const good[] = {
        "a",
        "a b",
        ".hidden",
        "a..b",
        "...",
        "-",
        "*star",
        "x/y/z",
        "\xc3\xa9", /* é */
        "\xe6\x97\xa5\xe6\x9c\xac/\xf0\x9f\x94\x92",
        "trailing space ",
        " leading",
    };
    char longcomp[300], longpath[4200];
    size_t i;
    m2msec_manifest *m = m2msec_manifest_new("SHA256", 1, 2);

    CU_ASSERT_FATAL(m != NULL);
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        m2msec_manifest_entry e = entry(bad[i].path, 1, 32, -1, -1);
        char text[512];
        m2msec_manifest *p;

        CU_ASSERT_FALSE(m2msec_manifest_add(m, &e));
        CU_ASSERT(errors_have(bad[i].why, NULL));
        if (strchr(bad[i].path, '\n') != NULL)
            continue; /* cannot be on one line */
        pathf(text, sizeof(text), "%s" H0 "  %s\n", hdr, bad[i].path);
        p = m2msec_manifest_parse((const unsigned char *)text, strlen(text));
        CU_ASSERT_PTR_NULL(p);
        CU_ASSERT(errors_have("line 5: ", bad[i].why, NULL));
        m2msec_manifest_free(p);
    }
    memset(longcomp, 'c', 256);
    longcomp[256] = '\0';
    {
        m2msec_manifest_entry e = entry(longcomp, 1, 32, -1, -1);

        CU_ASSERT_FALSE(m2msec_manifest_add(m, &e));
        CU_ASSERT(errors_have("longer than 255", NULL));
        longcomp[255] = '\0';
        CU_ASSERT(m2msec_manifest_add(m, &e));
    }
    for (i = 0; i < 4096; i += 2) {
        longpath[i] = 'p';
        longpath[i + 1] = '/';
    }
    longpath[4095] = '\0'; /* 4095 bytes, ends in 'p' */
    {
        m2msec_manifest_entry e = entry(longpath, 1, 32, -1, -1);

        CU_ASSERT(m2msec_manifest_add(m, &e));
        longpath[4095] = 'p';
        longpath[4096] = 'p';
        longpath[4097] = '\0';
        CU_ASSERT_FALSE(m2msec_manifest_add(m, &e));
        CU_ASSERT(errors_have("path longer than 4095 bytes", NULL));
    }
    for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        m2msec_manifest_entry e = entry(good[i], 1, 32, -1, -1);

        CU_ASSERT(m2msec_manifest_add(m, &e));
    }
    /* every accepted path survives a round trip */
    {
        unsigned char *buf;
        size_t len;
        m2msec_manifest *p;

        CU_ASSERT_FATAL(m2msec_manifest_serialize(m, &buf, &len));
        p = m2msec_manifest_parse(buf, len);
        CU_ASSERT(p != NULL && same_manifest(m, p));
        OPENSSL_free(buf);
        m2msec_manifest_free(p);
    }
    /* bad size / mode */
    {
        m2msec_manifest_entry e = entry("ok", 1, 32, -2, -1);

        CU_ASSERT_FALSE(m2msec_manifest_add(m, &e));
        CU_ASSERT(errors_have("negative size", NULL));
        e = entry("ok", 1, 32, 1, 010000);
        CU_ASSERT_FALSE(m2msec_manifest_add(m, &e));
        CU_ASSERT(errors_have("mode outside", NULL));
    }
    m2msec_manifest_free(m);
}

/* A tree with awkward but valid names, as the sha*sum references see it. */
static void make_tree(const char *root)
{
    char p[PATH_MAX];
    unsigned char big[300000];
    size_t i;

    pathf(p, sizeof(p), "%s/bin", root);
    mkdir(p, 0755);
    pathf(p, sizeof(p), "%s/etc/sub dir", root);
    run("mkdir -p '%s'", p);
    pathf(p, sizeof(p), "%s/bin/app", root);
    write_text(p, "#!/bin/sh\necho app\n", 0755);
    pathf(p, sizeof(p), "%s/bin/empty", root);
    write_text(p, "", 0644);
    pathf(p, sizeof(p), "%s/etc/sub dir/caf\xc3\xa9 conf", root);
    write_text(p, "key = value\n", 0644);
    pathf(p, sizeof(p), "%s/etc/-dash", root);
    write_text(p, "dash\n", 0644);
    pathf(p, sizeof(p), "%s/etc/ lead", root);
    write_text(p, "leading space\n", 0644);
    pathf(p, sizeof(p), "%s/*star", root);
    write_text(p, "star\n", 0644);
    for (i = 0; i < sizeof(big); i++)
        big[i] = (unsigned char)(i * 7919 >> 3);
    pathf(p, sizeof(p), "%s/lib.so", root);
    write_bytes(p, big, sizeof(big), 0644);
}

static void check_with_sum(const char *digest, const char *tool)
{
    char root[PATH_MAX], mpath[PATH_MAX], want[200], got[200], file[PATH_MAX];
    m2msec_manifest *m;
    char *out;
    size_t i;

    tmpdir_new(root, sizeof(root));
    make_tree(root);
    m = m2msec_manifest_from_tree(libctx, root, digest, 3, FAR_FUTURE, 1, 2);
    CU_ASSERT_FATAL(m != NULL);
    CU_ASSERT_EQUAL(m2msec_manifest_count(m), 7);
    for (i = 0; i < m2msec_manifest_count(m); i++) {
        const m2msec_manifest_entry *e = m2msec_manifest_entry_at(m, i);
        struct stat st;

        pathf(file, sizeof(file), "%s/%s", root, e->path);
        stock_digest(tool, file, want, sizeof(want));
        hex(e->digest, e->digest_len, got);
        CU_ASSERT_STRING_EQUAL(got, want);
        CU_ASSERT(stat(file, &st) == 0 && e->size == st.st_size &&
                  e->mode == (int32_t)(st.st_mode & 07777));
    }
    /* the manifest lives next to the tree; sha*sum -c runs from the root */
    pathf(mpath, sizeof(mpath), "%s.manifest", root);
    CU_ASSERT_FATAL(m2msec_manifest_write(m, mpath));
    out = run_out("cd '%s' && %s -c --strict '%s' 2>&1", root, tool, mpath);
    CU_ASSERT_PTR_NOT_NULL(out);
    if (out != NULL) {
        CU_ASSERT_PTR_NOT_NULL(strstr(out, "bin/app: OK"));
        CU_ASSERT_PTR_NOT_NULL(strstr(out, "etc/sub dir/caf\xc3\xa9 conf: OK"));
        CU_ASSERT_PTR_NOT_NULL(strstr(out, "lib.so: OK"));
        CU_ASSERT_PTR_NOT_NULL(strstr(out, "etc/ lead: OK"));
        CU_ASSERT_PTR_NOT_NULL(strstr(out, "*star: OK"));
        CU_ASSERT_PTR_NULL(strstr(out, "FAILED"));
        CU_ASSERT_PTR_NULL(strstr(out, "improperly formatted"));
    }
    free(out);
    /* and the reference notices a change */
    pathf(file, sizeof(file), "%s/etc/-dash", root);
    write_text(file, "dasH\n", 0644);
    CU_ASSERT_NOT_EQUAL(
        run("cd '%s' && %s -c --strict --quiet '%s' >/dev/null 2>&1", root, tool, mpath), 0);
    m2msec_manifest_free(m);
    unlink(mpath);
    rm_rf(root);
}

static void test_sha256sum_reference(void)
{
    check_with_sum("SHA256", "sha256sum");
}

static void test_sha384sum_reference(void)
{
    check_with_sum("SHA384", "sha384sum");
}

static void test_sha512sum_reference(void)
{
    check_with_sum("SHA512", "sha512sum");
}

/* from_tree refuses what a manifest cannot list, naming it. */
static void test_from_tree_refusals(void)
{
    char root[PATH_MAX], p[PATH_MAX];
    m2msec_manifest *m;

    tmpdir_new(root, sizeof(root));
    make_tree(root);
    pathf(p, sizeof(p), "%s/bin/link", root);
    CU_ASSERT(symlink("app", p) == 0);
    CU_ASSERT_PTR_NULL(m2msec_manifest_from_tree(libctx, root, NULL, 1, 2, 0, 0));
    CU_ASSERT(errors_have("bin/link", "is a symlink", "cannot build a manifest", NULL));
    unlink(p);
    pathf(p, sizeof(p), "%s/etc/fifo", root);
    CU_ASSERT(mkfifo(p, 0600) == 0);
    CU_ASSERT_PTR_NULL(m2msec_manifest_from_tree(libctx, root, NULL, 1, 2, 0, 0));
    CU_ASSERT(errors_have("etc/fifo", "is a fifo", NULL));
    unlink(p);
    pathf(p, sizeof(p), "%s/bad\nname", root);
    write_text(p, "x", 0644);
    CU_ASSERT_PTR_NULL(m2msec_manifest_from_tree(libctx, root, NULL, 1, 2, 0, 0));
    CU_ASSERT(errors_have("bad\\nname", "control character", NULL));
    unlink(p);
    m = m2msec_manifest_from_tree(libctx, root, NULL, 1, 2, 0, 0);
    CU_ASSERT(m != NULL && m2msec_manifest_count(m) == 7 &&
              m2msec_manifest_entry_at(m, 0)->size == -1 &&
              m2msec_manifest_entry_at(m, 0)->mode == -1);
    m2msec_manifest_free(m);
    pathf(p, sizeof(p), "%s/nonexistent", root);
    CU_ASSERT_PTR_NULL(m2msec_manifest_from_tree(libctx, p, NULL, 1, 2, 0, 0));
    CU_ASSERT(errors_have("cannot open the root directory", "nonexistent", NULL));
    rm_rf(root);
}

/* ---------------------------------------------------------------- */
/* Signatures                                                        */
/* ---------------------------------------------------------------- */

typedef struct {
    char dir[PATH_MAX], manifest[PATH_MAX], sig[PATH_MAX], state[PATH_MAX];
} sigenv;

static void write_manifest(const char *path, uint64_t version, uint64_t expires)
{
    m2msec_manifest *m = m2msec_manifest_new(NULL, version, expires);
    m2msec_manifest_entry e = entry("bin/app", 0x42, 32, 10, 0755);

    CU_ASSERT_FATAL(m != NULL);
    CU_ASSERT(m2msec_manifest_add(m, &e));
    CU_ASSERT(m2msec_manifest_write(m, path));
    m2msec_manifest_free(m);
}

static void sigenv_new(sigenv *s, uint64_t version, uint64_t expires)
{
    tmpdir_new(s->dir, sizeof(s->dir));
    pathf(s->manifest, sizeof(s->manifest), "%s/MANIFEST", s->dir);
    pathf(s->sig, sizeof(s->sig), "%s/MANIFEST.sig", s->dir);
    pathf(s->state, sizeof(s->state), "%s/state", s->dir);
    write_manifest(s->manifest, version, expires);
}

static m2msec_manifest_verdict open_with(const sigenv *s, const char *pub, const char *state,
                                         uint64_t now)
{
    char pubpath[PATH_MAX];
    m2msec_manifest *m = NULL;
    m2msec_manifest_verdict v = M2MSEC_MANIFEST_ERROR + 1;
    int ok;

    pathf(pubpath, sizeof(pubpath), "%s/%s", keydir, pub);
    ok = m2msec_manifest_accept(libctx, s->manifest, NULL, pubpath, state, now, &m, &v);
    /* the return convention: 1 exactly on OK, an error queued on every refusal */
    CU_ASSERT(ok == (v == M2MSEC_MANIFEST_OK));
    CU_ASSERT((v == M2MSEC_MANIFEST_OK) == (m != NULL));
    CU_ASSERT(ok || ERR_peek_error() != 0);
    m2msec_manifest_free(m);
    return v;
}

static int sign_with(const sigenv *s, const char *key)
{
    char keypath[PATH_MAX];

    pathf(keypath, sizeof(keypath), "%s/%s", keydir, key);
    return m2msec_manifest_sign(libctx, s->manifest, keypath, NULL);
}

/* m2msec signs (Ed25519), the stock openssl verifies; and the other way round. */
static void test_ed25519_against_stock(void)
{
    sigenv s;
    size_t len;
    char *sig;

    sigenv_new(&s, 1, FAR_FUTURE);
    CU_ASSERT_FATAL(sign_with(&s, "ed.pem"));
    sig = read_all(s.sig, &len);
    CU_ASSERT(sig != NULL && len == 64); /* raw Ed25519 */
    free(sig);
    CU_ASSERT_EQUAL(temp_files_in(s.dir), 0);
    CU_ASSERT_EQUAL(run("openssl pkeyutl -verify -pubin -inkey '%s/ed.pub' -rawin -in '%s' "
                        "-sigfile '%s' >/dev/null 2>&1",
                        keydir, s.manifest, s.sig),
                    0);
    /* the stock tool refuses it with the other key: the check is real */
    CU_ASSERT_NOT_EQUAL(run("openssl pkeyutl -verify -pubin -inkey '%s/ed2.pub' -rawin -in '%s' "
                            "-sigfile '%s' >/dev/null 2>&1",
                            keydir, s.manifest, s.sig),
                        0);
    CU_ASSERT_EQUAL(open_with(&s, "ed.pub", NULL, 1000), M2MSEC_MANIFEST_OK);
    /* a signature file given by name */
    {
        char other[PATH_MAX], pub[PATH_MAX];
        m2msec_manifest *m = NULL;

        pathf(other, sizeof(other), "%s/elsewhere.sig", s.dir);
        pathf(pub, sizeof(pub), "%s/ed.pub", keydir);
        CU_ASSERT(rename(s.sig, other) == 0);
        CU_ASSERT_EQUAL(
            m2msec_manifest_accept(libctx, s.manifest, other, pub, NULL, 1000, &m, NULL), 1);
        CU_ASSERT(m != NULL && m2msec_manifest_count(m) == 1 && m2msec_manifest_version(m) == 1);
        m2msec_manifest_free(m);
        CU_ASSERT(rename(other, s.sig) == 0);
    }

    /* signed by the stock openssl, accepted by m2msec */
    unlink(s.sig);
    CU_ASSERT_EQUAL(run("openssl pkeyutl -sign -inkey '%s/ed2.pem' -rawin -in '%s' -out '%s'",
                        keydir, s.manifest, s.sig),
                    0);
    CU_ASSERT_EQUAL(open_with(&s, "ed2.pub", NULL, 1000), M2MSEC_MANIFEST_OK);
    CU_ASSERT_EQUAL(open_with(&s, "ed.pub", NULL, 1000), M2MSEC_MANIFEST_BAD_SIGNATURE);
    CU_ASSERT(errors_have("does not verify", s.sig, NULL));
    rm_rf(s.dir);
}

/* ECDSA P-256 with SHA-256, DER: both directions, pkeyutl -rawin and dgst. */
static void test_ecdsa_p256_against_stock(void)
{
    sigenv s;

    sigenv_new(&s, 1, FAR_FUTURE);
    CU_ASSERT_FATAL(sign_with(&s, "ec.pem"));
    CU_ASSERT_EQUAL(run("openssl pkeyutl -verify -pubin -inkey '%s/ec.pub' -rawin -digest sha256 "
                        "-in '%s' -sigfile '%s' >/dev/null 2>&1",
                        keydir, s.manifest, s.sig),
                    0);
    CU_ASSERT_EQUAL(run("openssl dgst -sha256 -verify '%s/ec.pub' -signature '%s' '%s' "
                        ">/dev/null 2>&1",
                        keydir, s.sig, s.manifest),
                    0);
    CU_ASSERT_NOT_EQUAL(run("openssl dgst -sha384 -verify '%s/ec.pub' -signature '%s' '%s' "
                            ">/dev/null 2>&1",
                            keydir, s.sig, s.manifest),
                        0);
    CU_ASSERT_EQUAL(open_with(&s, "ec.pub", NULL, 1000), M2MSEC_MANIFEST_OK);
    CU_ASSERT_EQUAL(open_with(&s, "ed.pub", NULL, 1000), M2MSEC_MANIFEST_BAD_SIGNATURE);
    ERR_clear_error();

    unlink(s.sig);
    CU_ASSERT_EQUAL(
        run("openssl dgst -sha256 -sign '%s/ec.pem' -out '%s' '%s'", keydir, s.sig, s.manifest), 0);
    CU_ASSERT_EQUAL(open_with(&s, "ec.pub", NULL, 1000), M2MSEC_MANIFEST_OK);
    unlink(s.sig);
    CU_ASSERT_EQUAL(run("openssl pkeyutl -sign -inkey '%s/ec.pem' -rawin -digest sha256 -in '%s' "
                        "-out '%s'",
                        keydir, s.manifest, s.sig),
                    0);
    CU_ASSERT_EQUAL(open_with(&s, "ec.pub", NULL, 1000), M2MSEC_MANIFEST_OK);
    /* SHA-384 over the same bytes is not what m2msec verifies */
    unlink(s.sig);
    CU_ASSERT_EQUAL(
        run("openssl dgst -sha384 -sign '%s/ec.pem' -out '%s' '%s'", keydir, s.sig, s.manifest), 0);
    CU_ASSERT_EQUAL(open_with(&s, "ec.pub", NULL, 1000), M2MSEC_MANIFEST_BAD_SIGNATURE);
    ERR_clear_error();
    rm_rf(s.dir);
}

static void test_unsupported_keys(void)
{
    sigenv s;

    sigenv_new(&s, 1, FAR_FUTURE);
    CU_ASSERT_FALSE(sign_with(&s, "rsa.pem"));
    CU_ASSERT(errors_have("rsa.pem", "neither Ed25519 nor ECDSA P-256", NULL));
    CU_ASSERT_FALSE(sign_with(&s, "ec384.pem"));
    CU_ASSERT(errors_have("neither Ed25519 nor ECDSA P-256", NULL));
    CU_ASSERT_FALSE(file_exists(s.sig));
    CU_ASSERT_EQUAL(
        run("openssl dgst -sha256 -sign '%s/rsa.pem' -out '%s' '%s'", keydir, s.sig, s.manifest),
        0);
    CU_ASSERT_EQUAL(open_with(&s, "rsa.pub", NULL, 1000), M2MSEC_MANIFEST_ERROR);
    CU_ASSERT(errors_have("neither Ed25519 nor ECDSA P-256", "could not be checked", NULL));
    /* a private key where the public key belongs */
    CU_ASSERT(sign_with(&s, "ed.pem"));
    CU_ASSERT_EQUAL(open_with(&s, "ed.pem", NULL, 1000), M2MSEC_MANIFEST_ERROR);
    CU_ASSERT(errors_have("cannot read the PEM public key", NULL));
    CU_ASSERT_EQUAL(open_with(&s, "missing.pub", NULL, 1000), M2MSEC_MANIFEST_ERROR);
    CU_ASSERT(errors_have("cannot open public key", "missing.pub", NULL));
    rm_rf(s.dir);
}

static void test_unsigned(void)
{
    sigenv s;

    sigenv_new(&s, 1, FAR_FUTURE);
    CU_ASSERT_EQUAL(open_with(&s, "ed.pub", s.state, 1000), M2MSEC_MANIFEST_UNSIGNED);
    CU_ASSERT(errors_have("is not signed", s.manifest, s.sig, NULL));
    CU_ASSERT_FALSE(file_exists(s.state));
    /* an empty signature file is a bad signature, not a missing one */
    write_text(s.sig, "", 0644);
    CU_ASSERT_EQUAL(open_with(&s, "ed.pub", s.state, 1000), M2MSEC_MANIFEST_BAD_SIGNATURE);
    CU_ASSERT(errors_have("does not verify", NULL));
    CU_ASSERT_STRING_EQUAL(m2msec_manifest_verdict_text(M2MSEC_MANIFEST_UNSIGNED),
                           "manifest not signed (no signature file)");
    /* missing manifest: an error, naming it */
    unlink(s.manifest);
    CU_ASSERT_EQUAL(open_with(&s, "ed.pub", s.state, 1000), M2MSEC_MANIFEST_ERROR);
    CU_ASSERT(errors_have("cannot open manifest", s.manifest, NULL));
    rm_rf(s.dir);
}

static void test_wrong_key(void)
{
    sigenv s;

    sigenv_new(&s, 1, FAR_FUTURE);
    CU_ASSERT(sign_with(&s, "ed2.pem"));
    CU_ASSERT_EQUAL(open_with(&s, "ed.pub", s.state, 1000), M2MSEC_MANIFEST_BAD_SIGNATURE);
    CU_ASSERT(
        errors_have("signature", "does not verify over manifest", s.manifest, "ed.pub", NULL));
    CU_ASSERT_FALSE(file_exists(s.state));
    rm_rf(s.dir);
}

/* Any change to the signed bytes is refused, before parsing. */
static void test_modified_manifest(void)
{
    sigenv s;
    char *b;
    size_t len, i;
    static const char *const edits[] = {"# version 2", "# expires 4102444801", "0x", NULL};

    sigenv_new(&s, 1, FAR_FUTURE);
    CU_ASSERT(sign_with(&s, "ed.pem"));
    CU_ASSERT_EQUAL(open_with(&s, "ed.pub", NULL, 1000), M2MSEC_MANIFEST_OK);
    b = read_all(s.manifest, &len);
    CU_ASSERT_FATAL(b != NULL);
    for (i = 0; edits[i] != NULL; i++) {
        unsigned char *c = malloc(len + 1);

        CU_ASSERT_FATAL(c != NULL);
        memcpy(c, b, len);
        c[len] = '\0'; /* strstr below */
        if (i == 0)
            memcpy(strstr((char *)c, "# version 1"), "# version 2", 11);
        else if (i == 1)
            memcpy(strstr((char *)c, "# expires 4102444800"), edits[1], 20);
        else
            c[len - 3] ^= 1; /* a byte of the path of the last entry */
        write_bytes(s.manifest, c, len, 0644);
        CU_ASSERT_EQUAL(open_with(&s, "ed.pub", NULL, 1000), M2MSEC_MANIFEST_BAD_SIGNATURE);
        CU_ASSERT(errors_have("does not verify", NULL));
        free(c);
    }
    /* appended bytes */
    write_bytes(s.manifest, b, len, 0644);
    run("printf 'x' >> '%s'", s.manifest);
    CU_ASSERT_EQUAL(open_with(&s, "ed.pub", NULL, 1000), M2MSEC_MANIFEST_BAD_SIGNATURE);
    ERR_clear_error();
    /* garbage with a wrong signature: BAD_SIGNATURE (nothing parsed first) */
    write_text(s.manifest, "garbage\n", 0644);
    CU_ASSERT_EQUAL(open_with(&s, "ed.pub", NULL, 1000), M2MSEC_MANIFEST_BAD_SIGNATURE);
    ERR_clear_error();
    /* garbage with a good signature (the stock tool signs anything): MALFORMED */
    CU_ASSERT_FALSE(sign_with(&s, "ed.pem")); /* m2msec refuses to sign it */
    CU_ASSERT(errors_have("refusing to sign", "not a valid manifest", NULL));
    CU_ASSERT_EQUAL(run("openssl pkeyutl -sign -inkey '%s/ed.pem' -rawin -in '%s' -out '%s'",
                        keydir, s.manifest, s.sig),
                    0);
    CU_ASSERT_EQUAL(open_with(&s, "ed.pub", NULL, 1000), M2MSEC_MANIFEST_MALFORMED);
    CU_ASSERT(errors_have("line 1", "is malformed", s.manifest, NULL));
    free(b);
    rm_rf(s.dir);
}

static void test_expired(void)
{
    sigenv s;

    sigenv_new(&s, 3, 5000);
    CU_ASSERT(sign_with(&s, "ed.pem"));
    CU_ASSERT_EQUAL(open_with(&s, "ed.pub", s.state, 4999), M2MSEC_MANIFEST_OK);
    CU_ASSERT_EQUAL(open_with(&s, "ed.pub", s.state, 5000), M2MSEC_MANIFEST_EXPIRED);
    CU_ASSERT(errors_have("expired at 5000", s.manifest, NULL));
    CU_ASSERT_EQUAL(open_with(&s, "ed.pub", s.state, (uint64_t)time(NULL)),
                    M2MSEC_MANIFEST_EXPIRED);
    ERR_clear_error();
    rm_rf(s.dir);
}

static uint64_t state_version(const char *path)
{
    char *b = read_all(path, NULL);
    unsigned long long v = 0;
    char extra;

    if (b == NULL)
        return 0;
    if (sscanf(b, "m2msec-manifest-state 1\nversion %llu\n%c", &v, &extra) != 1)
        v = 0;
    free(b);
    return v;
}

/* v5 accepted, v4 refused, v5 again accepted, v6 accepted. */
static void test_rollback(void)
{
    sigenv s;
    char *b;
    struct stat st1, st2;

    sigenv_new(&s, 5, FAR_FUTURE);
    CU_ASSERT(sign_with(&s, "ed.pem"));
    CU_ASSERT_EQUAL(open_with(&s, "ed.pub", s.state, 1000), M2MSEC_MANIFEST_OK);
    b = read_all(s.state, NULL);
    CU_ASSERT(b != NULL && strcmp(b, "m2msec-manifest-state 1\nversion 5\n") == 0);
    free(b);
    CU_ASSERT_EQUAL(temp_files_in(s.dir), 0);

    write_manifest(s.manifest, 4, FAR_FUTURE);
    CU_ASSERT(sign_with(&s, "ed.pem"));
    CU_ASSERT_EQUAL(open_with(&s, "ed.pub", s.state, 1000), M2MSEC_MANIFEST_ROLLBACK);
    CU_ASSERT(errors_have("version 4 is lower than the last accepted version 5", s.state, NULL));
    CU_ASSERT_EQUAL(state_version(s.state), 5);

    write_manifest(s.manifest, 5, FAR_FUTURE);
    CU_ASSERT(sign_with(&s, "ed.pem"));
    CU_ASSERT(stat(s.state, &st1) == 0);
    CU_ASSERT_EQUAL(open_with(&s, "ed.pub", s.state, 1000), M2MSEC_MANIFEST_OK);
    CU_ASSERT(stat(s.state, &st2) == 0 && st1.st_ino == st2.st_ino); /* not rewritten */
    CU_ASSERT_EQUAL(state_version(s.state), 5);

    write_manifest(s.manifest, 6, FAR_FUTURE);
    CU_ASSERT(sign_with(&s, "ed.pem"));
    CU_ASSERT_EQUAL(open_with(&s, "ed.pub", s.state, 1000), M2MSEC_MANIFEST_OK);
    CU_ASSERT_EQUAL(state_version(s.state), 6);
    CU_ASSERT(stat(s.state, &st2) == 0 && st1.st_ino != st2.st_ino); /* replaced by rename */
    CU_ASSERT_EQUAL(temp_files_in(s.dir), 0);

    /* an unsigned or badly signed higher version does not move the state */
    write_manifest(s.manifest, 9, FAR_FUTURE);
    CU_ASSERT_EQUAL(open_with(&s, "ed.pub", s.state, 1000), M2MSEC_MANIFEST_BAD_SIGNATURE);
    ERR_clear_error();
    CU_ASSERT_EQUAL(state_version(s.state), 6);
    /* and neither does an expired one */
    write_manifest(s.manifest, 9, 999);
    CU_ASSERT(sign_with(&s, "ed.pem"));
    CU_ASSERT_EQUAL(open_with(&s, "ed.pub", s.state, 1000), M2MSEC_MANIFEST_EXPIRED);
    ERR_clear_error();
    CU_ASSERT_EQUAL(state_version(s.state), 6);

    /* a damaged state file is an error, not a reset */
    write_text(s.state, "m2msec-manifest-state 1\nversion 6x\n", 0644);
    write_manifest(s.manifest, 7, FAR_FUTURE);
    CU_ASSERT(sign_with(&s, "ed.pem"));
    CU_ASSERT_EQUAL(open_with(&s, "ed.pub", s.state, 1000), M2MSEC_MANIFEST_ERROR);
    CU_ASSERT(errors_have("rollback state file", "is malformed", NULL));
    write_text(s.state, "", 0644);
    CU_ASSERT_EQUAL(open_with(&s, "ed.pub", s.state, 1000), M2MSEC_MANIFEST_ERROR);
    ERR_clear_error();
    /* a state file that cannot be written: refused, nothing left behind */
    unlink(s.state);
    {
        char badstate[PATH_MAX];

        pathf(badstate, sizeof(badstate), "%s/no-such-dir/state", s.dir);
        CU_ASSERT_EQUAL(open_with(&s, "ed.pub", badstate, 1000), M2MSEC_MANIFEST_ERROR);
        CU_ASSERT(errors_have("rollback state file", "no-such-dir/state", NULL));
    }
    CU_ASSERT_EQUAL(temp_files_in(s.dir), 0);
    rm_rf(s.dir);
}

/* Signing failures leave no signature and no temporary file behind. */
static void test_sign_errors(void)
{
    sigenv s;
    char keypath[PATH_MAX], sig[PATH_MAX];

    sigenv_new(&s, 1, FAR_FUTURE);
    pathf(keypath, sizeof(keypath), "%s/ed.pem", keydir);
    pathf(sig, sizeof(sig), "%s/nodir/MANIFEST.sig", s.dir);
    CU_ASSERT_FALSE(m2msec_manifest_sign(libctx, s.manifest, keypath, sig));
    CU_ASSERT(errors_have("signature", "nodir/MANIFEST.sig", NULL));
    pathf(sig, sizeof(sig), "%s/missing.pem", keydir);
    CU_ASSERT_FALSE(m2msec_manifest_sign(libctx, s.manifest, sig, NULL));
    CU_ASSERT(errors_have("cannot open private key", "missing.pem", NULL));
    pathf(sig, sizeof(sig), "%s/ed.pub", keydir);
    CU_ASSERT_FALSE(m2msec_manifest_sign(libctx, s.manifest, sig, NULL));
    CU_ASSERT(errors_have("cannot read the PEM private key", NULL));
    CU_ASSERT_FALSE(file_exists(s.sig));
    CU_ASSERT_EQUAL(temp_files_in(s.dir), 0);
    /* an existing signature is replaced as a whole */
    write_text(s.sig, "old", 0644);
    CU_ASSERT(m2msec_manifest_sign(libctx, s.manifest, keypath, s.sig));
    CU_ASSERT_EQUAL(open_with(&s, "ed.pub", NULL, 1000), M2MSEC_MANIFEST_OK);
    CU_ASSERT_EQUAL(temp_files_in(s.dir), 0);
    /* writing a manifest into a missing directory fails cleanly */
    pathf(sig, sizeof(sig), "%s/nodir/MANIFEST", s.dir);
    {
        m2msec_manifest *m = m2msec_manifest_new(NULL, 1, 2);

        CU_ASSERT_FALSE(m2msec_manifest_write(m, sig));
        CU_ASSERT(errors_have("manifest", "nodir/MANIFEST", NULL));
        m2msec_manifest_free(m);
    }
    rm_rf(s.dir);
}

int main(void)
{
    static const tc_test tests[] = {
        {"serialize canonical and round trip", test_serialize_canonical},
        {"parser refusals name the line", test_parse_errors},
        {"'# attr' lines: parse, serialise, refusals", test_attr_lines},
        {"path rules", test_path_rules},
        {"from_tree vs sha256sum -c", test_sha256sum_reference},
        {"from_tree vs sha384sum -c", test_sha384sum_reference},
        {"from_tree vs sha512sum -c", test_sha512sum_reference},
        {"from_tree refusals", test_from_tree_refusals},
        {"Ed25519 vs stock openssl pkeyutl -rawin", test_ed25519_against_stock},
        {"ECDSA P-256 vs stock openssl", test_ecdsa_p256_against_stock},
        {"unsupported keys", test_unsupported_keys},
        {"unsigned manifest", test_unsigned},
        {"wrong key", test_wrong_key},
        {"modified manifest", test_modified_manifest},
        {"expired manifest", test_expired},
        {"rollback state", test_rollback},
        {"signing errors", test_sign_errors},
    };

    return tc_run("test_manifest", "integrity", integrity_suite_init, integrity_suite_cleanup,
                  tests, sizeof(tests) / sizeof(tests[0]));
}
