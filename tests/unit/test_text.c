/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for common/text.c and common/io.c: the one strict decimal
 * parser (edge cases, and a round trip against printf's own rendering of
 * random values), the line and "key value" reader, the growable array, the
 * EINTR-safe read/write helpers over a pipe, and the path shape check.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CUnit/Basic.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "io.h"
#include "test_run.h"
#include "text.h"

typedef struct {
    const char *text;
    uint64_t max;
    unsigned flags;
    M2M_DEC want;
    uint64_t value; /* when want is M2M_DEC_OK */
} dec_case;

static void test_decimal_edges(void)
{
    static const dec_case cases[] = {
        {"", UINT64_MAX, 0, M2M_DEC_NOT_DECIMAL, 0},
        {"0", UINT64_MAX, 0, M2M_DEC_OK, 0},
        {"7", UINT64_MAX, 0, M2M_DEC_OK, 7},
        {"1234567890", UINT64_MAX, 0, M2M_DEC_OK, 1234567890u},
        /* leading zeros: refused by default (one spelling per number) ... */
        {"00", UINT64_MAX, 0, M2M_DEC_LEADING_ZERO, 0},
        {"007", UINT64_MAX, 0, M2M_DEC_LEADING_ZERO, 0},
        /* ... accepted with the flag, which changes nothing else */
        {"007", UINT64_MAX, M2M_DEC_LEADING_ZEROS, M2M_DEC_OK, 7},
        {"00", UINT64_MAX, M2M_DEC_LEADING_ZEROS, M2M_DEC_OK, 0},
        {"000000000000000000000000018446744073709551615", UINT64_MAX, M2M_DEC_LEADING_ZEROS,
         M2M_DEC_OK, UINT64_MAX},
        {"-1", UINT64_MAX, M2M_DEC_LEADING_ZEROS, M2M_DEC_NOT_DECIMAL, 0},
        {"+1", UINT64_MAX, M2M_DEC_LEADING_ZEROS, M2M_DEC_NOT_DECIMAL, 0},
        /* 2^64 - 1 is the largest; 2^64 and beyond are refused, not wrapped or saturated */
        {"18446744073709551615", UINT64_MAX, 0, M2M_DEC_OK, UINT64_MAX},
        {"18446744073709551616", UINT64_MAX, 0, M2M_DEC_TOO_BIG, 0},
        {"18446744073709551620", UINT64_MAX, 0, M2M_DEC_TOO_BIG, 0},
        {"99999999999999999999", UINT64_MAX, 0, M2M_DEC_TOO_BIG, 0},
        {"184467440737095516150", UINT64_MAX, 0, M2M_DEC_TOO_BIG, 0},
        /* signs, white space, hex, other bytes */
        {"-1", UINT64_MAX, 0, M2M_DEC_NOT_DECIMAL, 0},
        {"-0", UINT64_MAX, 0, M2M_DEC_NOT_DECIMAL, 0},
        {"+1", UINT64_MAX, 0, M2M_DEC_NOT_DECIMAL, 0},
        {" 1", UINT64_MAX, 0, M2M_DEC_NOT_DECIMAL, 0},
        {"1 ", UINT64_MAX, 0, M2M_DEC_NOT_DECIMAL, 0},
        {"1\n", UINT64_MAX, 0, M2M_DEC_NOT_DECIMAL, 0},
        {"\t1", UINT64_MAX, 0, M2M_DEC_NOT_DECIMAL, 0},
        {"1 2", UINT64_MAX, 0, M2M_DEC_NOT_DECIMAL, 0},
        {"0x10", UINT64_MAX, 0, M2M_DEC_NOT_DECIMAL, 0},
        {"0x10", UINT64_MAX, M2M_DEC_LEADING_ZEROS, M2M_DEC_NOT_DECIMAL, 0},
        {"1e3", UINT64_MAX, 0, M2M_DEC_NOT_DECIMAL, 0},
        {"1.0", UINT64_MAX, 0, M2M_DEC_NOT_DECIMAL, 0},
        {"1_000", UINT64_MAX, 0, M2M_DEC_NOT_DECIMAL, 0},
        {"\xd9\xa1", UINT64_MAX, 0, M2M_DEC_NOT_DECIMAL, 0}, /* ARABIC-INDIC DIGIT ONE */
        /* not decimal is named before a leading zero, a leading zero before too big */
        {"01x", UINT64_MAX, 0, M2M_DEC_NOT_DECIMAL, 0},
        {"099999999999999999999", UINT64_MAX, 0, M2M_DEC_LEADING_ZERO, 0},
        /* a maximum of the caller's */
        {"256", 256, 0, M2M_DEC_OK, 256},
        {"257", 256, 0, M2M_DEC_TOO_BIG, 0},
        {"2560", 256, 0, M2M_DEC_TOO_BIG, 0},
        {"0", 0, 0, M2M_DEC_OK, 0},
        {"1", 0, 0, M2M_DEC_TOO_BIG, 0},
        {"9", 5, 0, M2M_DEC_TOO_BIG, 0},
        {"5", 5, 0, M2M_DEC_OK, 5},
        {"9223372036854775807", INT64_MAX, 0, M2M_DEC_OK, INT64_MAX},
        {"9223372036854775808", INT64_MAX, 0, M2M_DEC_TOO_BIG, 0},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const dec_case *c = &cases[i];
        uint64_t v = 4242, s = 4343;
        M2M_DEC r = m2m_dec_parse(c->text, strlen(c->text), c->max, c->flags, &v);
        M2M_DEC rs = m2m_dec_parse_str(c->text, c->max, c->flags, &s);

        CHECK(r == c->want && rs == c->want, "'%s' (max %" PRIu64 ", flags %u): %d/%d, want %d",
              c->text, c->max, c->flags, (int)r, (int)rs, (int)c->want);
        if (c->want == M2M_DEC_OK)
            CHECK(v == c->value && s == c->value, "'%s': %" PRIu64 "/%" PRIu64 ", want %" PRIu64,
                  c->text, v, s, c->value);
        else
            CHECK(v == 4242 && s == 4343, "'%s': the output was written on a refusal", c->text);
    }
    /* the length bounds the text: no NUL needed, none read beyond */
    {
        uint64_t v = 0;

        CHECK(m2m_dec_parse("12345", 3, UINT64_MAX, 0, &v) == M2M_DEC_OK && v == 123,
              "a length inside the text");
        CHECK(m2m_dec_parse("12\0"
                            "3",
                            4, UINT64_MAX, 0, &v) == M2M_DEC_NOT_DECIMAL,
              "a NUL inside the length");
        CHECK(m2m_dec_parse(NULL, 0, UINT64_MAX, 0, &v) == M2M_DEC_NOT_DECIMAL &&
                  m2m_dec_parse_str(NULL, UINT64_MAX, 0, &v) == M2M_DEC_NOT_DECIMAL,
              "NULL");
    }
}

/* Random values rendered by printf parse back to themselves; one above a maximum is refused. */
static void test_decimal_round_trip(void)
{
    for (int i = 0; i < 2000; i++) {
        uint64_t x, v = 0;
        char text[32];
        int bits;

        CHECK(RAND_bytes((unsigned char *)&x, sizeof(x)) == 1, "RAND_bytes");
        bits = i % 65; /* every magnitude, from 0 to 64 bits */
        x = bits == 0 ? 0 : bits == 64 ? x : x & (((uint64_t)1 << bits) - 1);
        snprintf(text, sizeof(text), "%" PRIu64, x);
        CHECK(m2m_dec_parse(text, strlen(text), UINT64_MAX, 0, &v) == M2M_DEC_OK && v == x,
              "%s parsed as %" PRIu64, text, v);
        CHECK(m2m_dec_parse(text, strlen(text), x, 0, &v) == M2M_DEC_OK && v == x,
              "%s at its own maximum", text);
        if (x > 0)
            CHECK(m2m_dec_parse(text, strlen(text), x - 1, 0, &v) == M2M_DEC_TOO_BIG,
                  "%s above the maximum %" PRIu64, text, x - 1);
    }
}

static void test_lines(void)
{
    static const char buf[] = "magic 1\nkey value with spaces\nn 42\nempty \n\nlast";
    M2M_LINES r;
    M2M_SPAN l, v;
    uint64_t n = 0;

    m2m_lines_init(&r, buf, sizeof(buf) - 1);
    CHECK(m2m_line_next(&r, &l) == 1 && m2m_span_is(&l, "magic 1") && r.no == 1, "line 1");
    CHECK(!m2m_span_is(&l, "magic") && !m2m_span_is(&l, "magic 12"), "span_is is exact");
    CHECK(m2m_line_next(&r, &l) == 1 && m2m_kv_value(&l, "key", &v) && v.n == 17 &&
              memcmp(v.p, "value with spaces", 17) == 0,
          "key value");
    CHECK(!m2m_kv_value(&l, "ke", &v) && !m2m_kv_value(&l, "keys", &v) && !m2m_kv_value(&l, "", &v),
          "the key must be whole and followed by one space");
    CHECK(m2m_line_next(&r, &l) == 1 && m2m_kv_u64(&l, "n", UINT64_MAX, 0, &n) == M2M_DEC_OK &&
              n == 42,
          "key <decimal>");
    CHECK(m2m_kv_u64(&l, "n", 41, 0, &n) == M2M_DEC_TOO_BIG, "key <decimal> above max");
    CHECK(m2m_kv_u64(&l, "m", UINT64_MAX, 0, &n) == M2M_DEC_NOT_DECIMAL, "another key");
    CHECK(m2m_line_next(&r, &l) == 1 && m2m_kv_value(&l, "empty", &v) && v.n == 0,
          "an empty value");
    CHECK(m2m_kv_u64(&l, "empty", UINT64_MAX, 0, &n) == M2M_DEC_NOT_DECIMAL,
          "an empty value is not a decimal");
    CHECK(m2m_line_next(&r, &l) == 1 && l.n == 0 && !m2m_kv_value(&l, "", &v), "an empty line");
    CHECK(m2m_line_next(&r, &l) == -1, "a last line without LF");
    m2m_lines_init(&r, buf, 8);
    CHECK(m2m_line_next(&r, &l) == 1 && m2m_line_next(&r, &l) == 0, "the end of the buffer");
    {
        M2M_SPAN k = {"key", 3};

        CHECK(!m2m_kv_value(&k, "key", &v), "a key without its space");
        k.p = "key ";
        k.n = 4;
        CHECK(m2m_kv_value(&k, "key", &v) && v.n == 0, "a key with its space only");
        k.p = "key  1";
        k.n = 6;
        CHECK(m2m_kv_u64(&k, "key", UINT64_MAX, 0, &n) == M2M_DEC_NOT_DECIMAL, "two spaces");
    }
}

static void test_grow(void)
{
    size_t cap = 0, n = 0;
    uint32_t *a = NULL, *na;

    for (uint32_t i = 0; i < 1000; i++) {
        na = m2m_grow(a, n, &cap, sizeof(*a), 4);
        CHECK(na != NULL && cap > n, "room for element %u (cap %zu)", (unsigned)i, cap);
        if (na == NULL)
            break;
        if (i == 0)
            CHECK(cap == 4, "the first allocation has room for 4, not %zu", cap);
        a = na;
        a[n++] = i * 7u;
    }
    for (size_t i = 0; i < n; i++)
        if (a[i] != i * 7u) {
            CHECK(0, "element %zu lost after growing", i);
            break;
        }
    CHECK(cap == 1024, "capacity doubles: %zu", cap);
    {
        size_t big = SIZE_MAX / 2 + 1;

        CHECK(m2m_grow(a, big, &big, sizeof(*a), 4) == NULL && big == SIZE_MAX / 2 + 1,
              "a size that would overflow is refused, the capacity unchanged");
    }
    OPENSSL_free(a);
}

static void test_io(void)
{
    unsigned char out[100000], in[100001];
    size_t n = 0;
    int p[2];
    pid_t pid;

    for (size_t i = 0; i < sizeof(out); i++)
        out[i] = (unsigned char)(i * 31u + 7u);
    /* larger than a pipe buffer: the writer (a child) blocks and writes in pieces */
    CHECK(pipe(p) == 0, "pipe");
    pid = fork();
    if (pid == 0) {
        close(p[0]);
        _exit(m2m_write_all(p[1], out, sizeof(out)) ? 0 : 1);
    }
    close(p[1]);
    CHECK(m2m_read_all(p[0], in, sizeof(in), &n) == 1 && n == sizeof(out) &&
              memcmp(in, out, sizeof(out)) == 0,
          "read_all got %zu bytes of %zu", n, sizeof(out));
    close(p[0]);
    {
        int st = 0;

        CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0,
              "write_all in the child");
    }
    /* more than cap: -1, and the count is cap */
    CHECK(pipe(p) == 0, "pipe");
    CHECK(m2m_write_all(p[1], "0123456789", 10), "write_all");
    close(p[1]);
    CHECK(m2m_read_all(p[0], in, 9, &n) == -1 && n == 9, "longer than cap");
    close(p[0]);
    /* exactly cap: 1 */
    CHECK(pipe(p) == 0, "pipe");
    CHECK(m2m_write_all(p[1], "0123456789", 10), "write_all");
    close(p[1]);
    CHECK(m2m_read_all(p[0], in, 10, &n) == 1 && n == 10, "exactly cap");
    close(p[0]);
    /* errors: errno is set */
    errno = 0;
    CHECK(!m2m_write_all(-1, "x", 1) && errno == EBADF, "write_all on a bad descriptor");
    errno = 0;
    CHECK(m2m_read_all(-1, in, 1, &n) == 0 && errno == EBADF, "read_all on a bad descriptor");
    errno = 0;
    CHECK(m2m_read(-1, in, 1) < 0 && errno == EBADF, "m2m_read on a bad descriptor");
}

/* A pipe holding n bytes of a known pattern, its writing end closed: the reading end. */
static int pipe_of(size_t n)
{
    unsigned char b[256];
    int p[2];

    if (pipe(p) != 0)
        return -1;
    for (size_t i = 0; i < sizeof(b); i++)
        b[i] = (unsigned char)i;
    for (size_t done = 0; done < n; done += n - done < sizeof(b) ? n - done : sizeof(b))
        if (!m2m_write_all(p[1], b, n - done < sizeof(b) ? n - done : sizeof(b)))
            break;
    close(p[1]);
    return p[0];
}

static void test_read_fd_alloc(void)
{
    static const struct {
        size_t n, max, hint;
        int want;
    } cases[] = {
        {0, 100, 1, 0},     {0, 0, 0, 0},           {100, 100, 1, 0},
        {100, 100, 101, 0}, {101, 100, 1, EFBIG},   {101, 100, 200, EFBIG},
        {5000, 6000, 7, 0}, {5000, 4999, 7, EFBIG}, {1, 0, 1, EFBIG},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        unsigned char *b = (unsigned char *)"untouched";
        size_t len = 77;
        int fd = pipe_of(cases[i].n), r, same = 1;

        CHECK(fd >= 0, "pipe");
        if (fd < 0)
            continue;
        r = m2m_read_fd_alloc(fd, cases[i].max, cases[i].hint, &b, &len);
        close(fd);
        CHECK(r == cases[i].want, "%zu bytes, max %zu, hint %zu: %d, want %d", cases[i].n,
              cases[i].max, cases[i].hint, r, cases[i].want);
        if (r == 0) {
            for (size_t k = 0; k < len; k++)
                same &= b[k] == (unsigned char)(k % 256);
            CHECK(len == cases[i].n && same, "%zu bytes read back as %zu", cases[i].n, len);
            OPENSSL_free(b);
        } else {
            CHECK(b == NULL && len == 0, "a refusal leaves no buffer");
        }
    }
    CHECK(m2m_read_fd_alloc(-1, 10, 1, &(unsigned char *){NULL}, &(size_t){0}) == EBADF,
          "a read error is its errno");
}

static void test_pwrite(void)
{
    char path[] = "/tmp/m2msec-test-text.XXXXXX", got[16];
    int fd = mkstemp(path);

    CHECK(fd >= 0, "mkstemp");
    if (fd < 0)
        return;
    unlink(path);
    CHECK(m2m_write_all(fd, "abcdefgh", 8) && m2m_pwrite_all(fd, "XY", 2, 3), "pwrite_all");
    CHECK(pread(fd, got, sizeof(got), 0) == 8 && memcmp(got, "abcXYfgh", 8) == 0,
          "pwrite_all wrote at its offset");
    CHECK(m2m_pread(fd, got, 3, 2) == 3 && memcmp(got, "cXY", 3) == 0, "m2m_pread at an offset");
    close(fd);
}

static void test_path_shape(void)
{
    static const struct {
        const char *path;
        int ok;
    } cases[] = {
        {"a", 1},  {"a/b/c", 1}, {".hidden", 1}, {"a/..b", 1}, {"...", 1},
        {"", 0},   {"/a", 0},    {"a/", 0},      {"a//b", 0},  {".", 0},
        {"..", 0}, {"a/./b", 0}, {"a/../b", 0},  {"a/..", 0},  {"./a", 0},
    };
    char long_name[NAME_MAX + 2], long_path[PATH_MAX + 1];

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        CHECK(m2m_path_shape_ok(cases[i].path) == cases[i].ok, "'%s': want %d", cases[i].path,
              cases[i].ok);
    memset(long_name, 'n', NAME_MAX);
    long_name[NAME_MAX] = '\0';
    CHECK(m2m_path_shape_ok(long_name), "a NAME_MAX component");
    long_name[NAME_MAX] = 'n';
    long_name[NAME_MAX + 1] = '\0';
    CHECK(!m2m_path_shape_ok(long_name), "a component longer than NAME_MAX");
    for (size_t i = 0; i < PATH_MAX; i++)
        long_path[i] = i % 2 ? '/' : 'p';
    long_path[PATH_MAX - 1] = 'p';
    long_path[PATH_MAX] = '\0';
    CHECK(!m2m_path_shape_ok(long_path), "a path of PATH_MAX bytes");
    long_path[PATH_MAX - 3] = '\0'; /* ends with a name, not a slash */
    CHECK(m2m_path_shape_ok(long_path), "a path shorter than PATH_MAX");
}

int main(void)
{
    static const tc_test tests[] = {
        {"strict decimal: edge cases", test_decimal_edges},
        {"strict decimal: printf round trip", test_decimal_round_trip},
        {"lines and key value", test_lines},
        {"growable array", test_grow},
        {"read_all and write_all", test_io},
        {"read_fd_alloc", test_read_fd_alloc},
        {"pwrite_all and m2m_pread", test_pwrite},
        {"path shape", test_path_shape},
    };

    return tc_run("test_text", "common text and io helpers", NULL, NULL, tests,
                  sizeof(tests) / sizeof(tests[0]));
}
