/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libm2msec ESPrim: base64url without padding (RFC 4648 section 5, as JOSE
 * uses it, RFC 7515 section 2) and a strict JSON reader (RFC 8259) for the
 * JWE protected header and RandObjects. Nothing here allocates.
 *
 * Strictness: base64url decoding refuses padding, white space, any other
 * character, impossible lengths and non-zero unused bits (so every value
 * has exactly one encoding); JSON strings must be well-formed UTF-8 without
 * unescaped control characters, lone surrogates or NUL; nesting is limited.
 */
#include <string.h>

#include "escape.h"
#include "esprim_internal.h"
#include "text.h"

#define JSON_MAX_DEPTH 16

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

size_t m2m_b64url_len(size_t n)
{
    return n / 3 * 4 + (n % 3 == 0 ? 0 : n % 3 + 1);
}

size_t m2m_b64url_decoded_len(size_t n)
{
    return n / 4 * 3 + (n % 4 == 0 ? 0 : n % 4 - 1);
}

void m2m_b64url_encode(const unsigned char *in, size_t n, char *out)
{
    const unsigned char *restrict p = in;
    char *restrict q = out;
    size_t i = 0;

    for (; i + 3 <= n; i += 3) {
        unsigned v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8 | p[i + 2];

        q[0] = b64_alphabet[v >> 18];
        q[1] = b64_alphabet[(v >> 12) & 63];
        q[2] = b64_alphabet[(v >> 6) & 63];
        q[3] = b64_alphabet[v & 63];
        q += 4;
    }
    out = q;
    in = p;
    if (n - i == 1) {
        unsigned v = (unsigned)in[i] << 16;

        *out++ = b64_alphabet[v >> 18];
        *out++ = b64_alphabet[(v >> 12) & 63];
    } else if (n - i == 2) {
        unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8;

        *out++ = b64_alphabet[v >> 18];
        *out++ = b64_alphabet[(v >> 12) & 63];
        *out++ = b64_alphabet[(v >> 6) & 63];
    }
}

/*
 * Decoding tables built by the compiler from constant expressions (nothing
 * to initialise at run time, nothing shared to race on): tN[c] is the
 * base64url value of c shifted into place for position N of a 4-character
 * group, or B64_BAD for a byte that is not base64url.
 */
#define B64V(c)                                                                                    \
    ((c) >= 'A' && (c) <= 'Z'   ? (c) - 'A'                                                        \
     : (c) >= 'a' && (c) <= 'z' ? (c) - 'a' + 26                                                   \
     : (c) >= '0' && (c) <= '9' ? (c) - '0' + 52                                                   \
     : (c) == '-'               ? 62                                                               \
     : (c) == '_'               ? 63                                                               \
                                : -1)
#define B64_BAD 0x80000000u
#define B64T(c, shift) (B64V(c) < 0 ? B64_BAD : (uint32_t)B64V(c) << (shift))
#define T0(c) B64T(c, 18)
#define T1(c) B64T(c, 12)
#define T2(c) B64T(c, 6)
#define T3(c) B64T(c, 0)
#define R4(m, b) m(b), m((b) + 1), m((b) + 2), m((b) + 3)
#define R16(m, b) R4(m, b), R4(m, (b) + 4), R4(m, (b) + 8), R4(m, (b) + 12)
#define R64(m, b) R16(m, b), R16(m, (b) + 16), R16(m, (b) + 32), R16(m, (b) + 48)
#define R256(m) R64(m, 0), R64(m, 64), R64(m, 128), R64(m, 192)

static const uint32_t t0[256] = {R256(T0)}, t1[256] = {R256(T1)}, t2[256] = {R256(T2)},
                      t3[256] = {R256(T3)};

int m2m_b64url_check(const char *in, size_t n, size_t *bad)
{
    const unsigned char *p = (const unsigned char *)in;
    uint32_t acc = 0;
    size_t i;

    for (i = 0; i < n; i++)
        acc |= t3[p[i]];
    if (acc & B64_BAD) {
        for (i = 0; i < n && !(t3[p[i]] & B64_BAD); i++)
            ;
        *bad = i;
        return 0;
    }
    /* 4k+1 characters cannot come from any byte string; unused bits must be zero */
    if (n % 4 == 1 || (n % 4 == 2 && (t3[p[n - 1]] & 0x0f) != 0) ||
        (n % 4 == 3 && (t3[p[n - 1]] & 0x03) != 0)) {
        *bad = n;
        return 0;
    }
    return 1;
}

size_t m2m_b64url_decode_checked(const char *in, size_t n, unsigned char *out)
{
    const unsigned char *restrict p = (const unsigned char *)in;
    unsigned char *restrict q = out;
    size_t i = 0, o = 0;

    for (; i + 4 <= n; i += 4) {
        uint32_t v = t0[p[i]] | t1[p[i + 1]] | t2[p[i + 2]] | t3[p[i + 3]];

        q[o] = (unsigned char)(v >> 16);
        q[o + 1] = (unsigned char)(v >> 8);
        q[o + 2] = (unsigned char)v;
        o += 3;
    }
    if (n - i >= 2) {
        uint32_t v = t0[p[i]] | t1[p[i + 1]];

        if (n - i == 3)
            v |= t2[p[i + 2]];
        out[o++] = (unsigned char)(v >> 16);
        if (n - i == 3)
            out[o++] = (unsigned char)(v >> 8);
    }
    return o;
}

int m2m_b64url_decode(const char *in, size_t n, unsigned char *out, size_t *outlen, size_t *bad)
{
    *outlen = 0;
    if (!m2m_b64url_check(in, n, bad))
        return 0;
    *outlen = m2m_b64url_decode_checked(in, n, out);
    return 1;
}

/* ---------------------------------------------------------------- JSON */

void m2m_json_init(m2m_json *j, const char *s, size_t n)
{
    j->s = s;
    j->n = n;
    j->pos = 0;
    j->err = NULL;
}

static int fail(m2m_json *j, const char *what)
{
    j->err = what;
    return 0;
}

static void ws(m2m_json *j)
{
    while (j->pos < j->n) {
        char c = j->s[j->pos];

        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            break;
        j->pos++;
    }
}

char m2m_json_peek(m2m_json *j)
{
    ws(j);
    return j->pos < j->n ? j->s[j->pos] : '\0';
}

static int expect(m2m_json *j, char c, const char *what)
{
    if (m2m_json_peek(j) != c || j->pos >= j->n)
        return fail(j, what);
    j->pos++;
    return 1;
}

/* The last character consumed before pos, white space skipped ('\0' at the start). */
static char previous(const m2m_json *j)
{
    size_t p = j->pos;

    while (p > 0) {
        char c = j->s[--p];

        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            return c;
    }
    return '\0';
}

int m2m_json_object(m2m_json *j)
{
    return expect(j, '{', "expected an object ('{')");
}

int m2m_json_array(m2m_json *j)
{
    return expect(j, '[', "expected an array ('[')");
}

static int hex4(m2m_json *j, unsigned *v)
{
    *v = 0;
    if (j->n - j->pos < 4)
        return fail(j, "truncated \\u escape");
    for (int i = 0; i < 4; i++) {
        char c = j->s[j->pos++];
        unsigned d;

        if (c >= '0' && c <= '9')
            d = (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            d = (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            d = (unsigned)(c - 'A' + 10);
        else
            return fail(j, "bad hex digit in a \\u escape");
        *v = *v << 4 | d;
    }
    return 1;
}

/* Append code point cp as UTF-8 to out (NULL: count only). */
static int put_cp(m2m_json *j, unsigned cp, char *out, size_t cap, size_t *len)
{
    unsigned char b[4];
    size_t k;

    if (cp < 0x80) {
        b[0] = (unsigned char)cp;
        k = 1;
    } else if (cp < 0x800) {
        b[0] = (unsigned char)(0xc0 | cp >> 6);
        b[1] = (unsigned char)(0x80 | (cp & 0x3f));
        k = 2;
    } else if (cp < 0x10000) {
        b[0] = (unsigned char)(0xe0 | cp >> 12);
        b[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
        b[2] = (unsigned char)(0x80 | (cp & 0x3f));
        k = 3;
    } else {
        b[0] = (unsigned char)(0xf0 | cp >> 18);
        b[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
        b[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
        b[3] = (unsigned char)(0x80 | (cp & 0x3f));
        k = 4;
    }
    if (out != NULL) {
        if (cap - *len <= k)
            return fail(j, "string too long");
        memcpy(out + *len, b, k);
    }
    *len += k;
    return 1;
}

/* Read a string; out NULL: validate only. */
static int string(m2m_json *j, char *out, size_t cap, size_t *len)
{
    size_t l = 0;

    if (!expect(j, '"', "expected a string"))
        return 0;
    for (;;) {
        unsigned char c;

        if (j->pos >= j->n)
            return fail(j, "unterminated string");
        c = (unsigned char)j->s[j->pos];
        if (c == '"') {
            j->pos++;
            break;
        }
        if (c < 0x20)
            return fail(j, "control character in a string");
        if (c < 0x80 && c != '\\') {
            /* a run of plain ASCII: copied at once */
            size_t e = j->pos + 1;

            while (e < j->n && (unsigned char)j->s[e] >= 0x20 && (unsigned char)j->s[e] < 0x80 &&
                   j->s[e] != '"' && j->s[e] != '\\')
                e++;
            if (out != NULL) {
                if (cap - l <= e - j->pos)
                    return fail(j, "string too long");
                memcpy(out + l, j->s + j->pos, e - j->pos);
            }
            l += e - j->pos;
            j->pos = e;
            continue;
        }
        if (c == '\\') {
            unsigned cp;
            char e;

            if (++j->pos >= j->n)
                return fail(j, "unterminated escape");
            e = j->s[j->pos++];
            switch (e) {
            case '"':
            case '\\':
            case '/':
                cp = (unsigned char)e;
                break;
            case 'b':
                cp = '\b';
                break;
            case 'f':
                cp = '\f';
                break;
            case 'n':
                cp = '\n';
                break;
            case 'r':
                cp = '\r';
                break;
            case 't':
                cp = '\t';
                break;
            case 'u':
                if (!hex4(j, &cp))
                    return 0;
                if (cp >= 0xdc00 && cp <= 0xdfff)
                    return fail(j, "lone low surrogate in a \\u escape");
                if (cp >= 0xd800 && cp <= 0xdbff) {
                    unsigned lo;

                    if (j->n - j->pos < 2 || j->s[j->pos] != '\\' || j->s[j->pos + 1] != 'u')
                        return fail(j, "lone high surrogate in a \\u escape");
                    j->pos += 2;
                    if (!hex4(j, &lo))
                        return 0;
                    if (lo < 0xdc00 || lo > 0xdfff)
                        return fail(j, "lone high surrogate in a \\u escape");
                    cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                }
                if (cp == 0)
                    return fail(j, "NUL (\\u0000) in a string");
                break;
            default:
                return fail(j, "unknown escape in a string");
            }
            if (!put_cp(j, cp, out, cap, &l))
                return 0;
            continue;
        }
        {
            uint32_t cp;
            size_t k = m2m_utf8_decode((const unsigned char *)j->s + j->pos, j->n - j->pos, &cp);

            if (k == 0)
                return fail(j, "invalid UTF-8 in a string");
            if (out != NULL) {
                if (cap - l <= k)
                    return fail(j, "string too long");
                memcpy(out + l, j->s + j->pos, k);
            }
            l += k;
            j->pos += k;
        }
    }
    if (out != NULL)
        out[l] = '\0';
    if (len != NULL)
        *len = l;
    return 1;
}

int m2m_json_string(m2m_json *j, char *out, size_t cap, size_t *len)
{
    if (cap == 0)
        return fail(j, "string too long");
    return string(j, out, cap, len);
}

int m2m_json_member(m2m_json *j, int *more, char *key, size_t cap)
{
    char c = m2m_json_peek(j), prev = previous(j);

    *more = 0;
    if (c == '}') {
        j->pos++;
        return 1;
    }
    if (prev != '{' && !expect(j, ',', "expected ',' or '}' after a member"))
        return 0;
    if (m2m_json_peek(j) != '"')
        return fail(j, "expected a member name");
    if (!(key != NULL ? m2m_json_string(j, key, cap, NULL) : string(j, NULL, 0, NULL)) ||
        !expect(j, ':', "expected ':' after a member name"))
        return 0;
    *more = 1;
    return 1;
}

int m2m_json_element(m2m_json *j, int *more)
{
    char c = m2m_json_peek(j), prev = previous(j);

    *more = 0;
    if (c == ']') {
        j->pos++;
        return 1;
    }
    if (prev != '[' && !expect(j, ',', "expected ',' or ']' after an element"))
        return 0;
    *more = 1;
    return 1;
}

int m2m_json_uint(m2m_json *j, unsigned max, unsigned *v)
{
    uint64_t x = 0;
    size_t start;

    ws(j);
    start = j->pos;
    while (j->pos < j->n && j->s[j->pos] >= '0' && j->s[j->pos] <= '9')
        j->pos++;
    switch (m2m_dec_parse(j->s + start, j->pos - start, max, 0, &x)) {
    case M2M_DEC_OK:
        break;
    case M2M_DEC_LEADING_ZERO:
        return fail(j, "integer with a leading zero");
    case M2M_DEC_TOO_BIG:
        return fail(j, "integer out of range");
    default:
        return fail(j, "expected a non-negative integer");
    }
    if (j->pos < j->n && (j->s[j->pos] == '.' || j->s[j->pos] == 'e' || j->s[j->pos] == 'E'))
        return fail(j, "expected an integer, not a fraction or exponent");
    *v = (unsigned)x;
    return 1;
}

static int digits(m2m_json *j)
{
    size_t start = j->pos;

    while (j->pos < j->n && j->s[j->pos] >= '0' && j->s[j->pos] <= '9')
        j->pos++;
    return j->pos > start;
}

static int number(m2m_json *j)
{
    if (j->pos < j->n && j->s[j->pos] == '-')
        j->pos++;
    if (j->pos < j->n && j->s[j->pos] == '0') {
        j->pos++;
    } else if (!digits(j)) {
        return fail(j, "bad number");
    }
    if (j->pos < j->n && j->s[j->pos] == '.') {
        j->pos++;
        if (!digits(j))
            return fail(j, "bad number");
    }
    if (j->pos < j->n && (j->s[j->pos] == 'e' || j->s[j->pos] == 'E')) {
        j->pos++;
        if (j->pos < j->n && (j->s[j->pos] == '+' || j->s[j->pos] == '-'))
            j->pos++;
        if (!digits(j))
            return fail(j, "bad number");
    }
    return 1;
}

static int literal(m2m_json *j, const char *lit)
{
    size_t l = strlen(lit);

    if (j->n - j->pos < l || memcmp(j->s + j->pos, lit, l) != 0)
        return fail(j, "unexpected character");
    j->pos += l;
    return 1;
}

static int skip(m2m_json *j, int depth)
{
    char c = m2m_json_peek(j);
    int more;

    if (depth > JSON_MAX_DEPTH)
        return fail(j, "nested too deeply");
    switch (c) {
    case '{': {
        /* an ignored value: its member names are only checked, not kept */
        j->pos++;
        for (;;) {
            if (!m2m_json_member(j, &more, NULL, 0))
                return 0;
            if (!more)
                return 1;
            if (!skip(j, depth + 1))
                return 0;
        }
    }
    case '[':
        j->pos++;
        for (;;) {
            if (!m2m_json_element(j, &more))
                return 0;
            if (!more)
                return 1;
            if (!skip(j, depth + 1))
                return 0;
        }
    case '"':
        return string(j, NULL, 0, NULL);
    case 't':
        return literal(j, "true");
    case 'f':
        return literal(j, "false");
    case 'n':
        return literal(j, "null");
    case '\0':
        return fail(j, "expected a value");
    default:
        if (c == '-' || (c >= '0' && c <= '9'))
            return number(j);
        return fail(j, "unexpected character");
    }
}

int m2m_json_skip(m2m_json *j)
{
    return skip(j, 1);
}

int m2m_json_span(m2m_json *j, size_t *start, size_t *end)
{
    ws(j);
    *start = j->pos;
    if (!m2m_json_skip(j))
        return 0;
    *end = j->pos;
    return 1;
}

int m2m_json_end(m2m_json *j)
{
    ws(j);
    if (j->pos != j->n)
        return fail(j, "trailing characters after the value");
    return 1;
}
