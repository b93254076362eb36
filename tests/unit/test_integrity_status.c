/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for the device integrity status record reader and writer
 * (common/status_record.c, docs/PROTOCOL.md section 8), and the file
 * reader that the provider's gate, libm2msec and `m2msec status` share.
 *
 * Every record here is built by this file: the lines by hand, the MAC with
 * OpenSSL's HMAC-SHA-256 from the default provider (EVP_Q_mac), never with
 * the code under test. A non-canonical record carries a MAC that is right
 * for its own bytes, so that only its form can make the reader refuse it.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <unistd.h>

#include <CUnit/Basic.h>
#include <openssl/evp.h>
#include <openssl/provider.h>

#include "status_record.h"
#include "test_run.h"

static OSSL_LIB_CTX *ref_ctx;
static OSSL_PROVIDER *ref_def;
static EVP_MAC *hmac; /* handed to the code under test, as the provider and libm2msec do */

static const unsigned char KEY[32] = {
    0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f,
    0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f};

#define REC_CAP 2048

/* HMAC-SHA-256(key, data) as 64 hex digits, upper or lower case, by stock OpenSSL. */
static int ref_mac_hex(const unsigned char *key, size_t keylen, const char *data, size_t len,
                       int upper, char hex[65])
{
    static const char lower_digits[] = "0123456789abcdef", upper_digits[] = "0123456789ABCDEF";
    const char *digits = upper ? upper_digits : lower_digits;
    unsigned char mac[32];
    size_t outl = 0;

    if (EVP_Q_mac(ref_ctx, "HMAC", NULL, "SHA256", NULL, key, keylen, (const unsigned char *)data,
                  len, mac, sizeof(mac), &outl) == NULL ||
        outl != 32)
        return 0;
    for (size_t i = 0; i < 32; i++) {
        hex[2 * i] = digits[mac[i] >> 4];
        hex[2 * i + 1] = digits[mac[i] & 15];
    }
    hex[64] = '\0';
    return 1;
}

/*
 * body || mac_prefix || first hexlen digits of HMAC(key, body) || tail into
 * out; body is len_body bytes (it may hold NUL). Returns the length, 0 if
 * it does not fit.
 */
static size_t build(char *out, const char *body, size_t len_body, const char *mac_prefix, int upper,
                    size_t hexlen, const char *tail, const unsigned char *key)
{
    char hex[65];
    size_t n = 0, lp = strlen(mac_prefix), lt = strlen(tail);

    if (!ref_mac_hex(key, 32, body, len_body, upper, hex) || hexlen > 64 ||
        len_body + lp + hexlen + lt > REC_CAP)
        return 0;
    memcpy(out, body, len_body);
    n = len_body;
    memcpy(out + n, mac_prefix, lp);
    n += lp;
    memcpy(out + n, hex, hexlen);
    n += hexlen;
    memcpy(out + n, tail, lt);
    return n + lt;
}

static size_t build_canonical(char *out, const char *body)
{
    return build(out, body, strlen(body), "mac ", 0, 64, "\n", KEY);
}

/* The canonical form, accepted with its fields; the writer produces these exact bytes. */
static void test_canonical(void)
{
    static const struct {
        int passed, verifying;
        uint64_t version, time;
        const char *body;
    } cases[] = {
        {1, 0, 7, 1700000000u,
         "m2msec-integrity-status 2\nresult passed\nmanifest-version 7\ntime 1700000000\n"},
        {0, 0, 0, 0, "m2msec-integrity-status 2\nresult failed\nmanifest-version 0\ntime 0\n"},
        {1, 0, UINT64_MAX, UINT64_MAX,
         "m2msec-integrity-status 2\nresult passed\nmanifest-version 18446744073709551615\n"
         "time 18446744073709551615\n"},
        {0, 0, 10, 1767225600u,
         "m2msec-integrity-status 2\nresult failed\nmanifest-version 10\ntime 1767225600\n"},
        {0, 1, 0, 1767225600u,
         "m2msec-integrity-status 2\nresult verifying\nmanifest-version 0\ntime 1767225600\n"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char rec[REC_CAP], rendered[M2M_STATUS_MAX];
        size_t n = build_canonical(rec, cases[i].body), m;
        M2M_INTEGRITY_STATUS st = {-1, 1, 1, -1};
        M2M_INTEGRITY_STATUS in = {cases[i].passed, cases[i].version, cases[i].time,
                                   cases[i].verifying};
        const char *why;

        CHECK(n > 0, "case %zu: built", i);
        why = m2m_status_verify(hmac, KEY, sizeof(KEY), rec, n, &st);
        CHECK(why == NULL, "case %zu: canonical record refused: %s", i, why != NULL ? why : "");
        CHECK(st.passed == cases[i].passed && st.verifying == cases[i].verifying &&
                  st.manifest_version == cases[i].version && st.time == cases[i].time,
              "case %zu: fields %d %d %llu %llu", i, st.passed, st.verifying,
              (unsigned long long)st.manifest_version, (unsigned long long)st.time);
        /* the writer: byte for byte the record built here */
        m = m2m_status_render(hmac, KEY, sizeof(KEY), &in, rendered, sizeof(rendered));
        CHECK(m == n && memcmp(rendered, rec, n) == 0,
              "case %zu: writer output (%zu bytes) is "
              "the canonical record (%zu bytes)",
              i, m, n);
    }
}

/* Well-formed but not authentic: the MAC decides. */
static void test_mac(void)
{
    static const char body[] =
        "m2msec-integrity-status 2\nresult passed\nmanifest-version 7\ntime 1700000000\n";
    unsigned char other[32];
    char rec[REC_CAP];
    M2M_INTEGRITY_STATUS st = {-1, 0, 0, -1};
    const char *why;
    size_t n;

    memcpy(other, KEY, sizeof(other));
    other[31] ^= 0x80;
    n = build(rec, body, sizeof(body) - 1, "mac ", 0, 64, "\n", other);
    why = m2m_status_verify(hmac, KEY, sizeof(KEY), rec, n, &st);
    CHECK(why != NULL && strstr(why, "MAC does not verify") != NULL, "other key: %s",
          why != NULL ? why : "accepted");
    n = build_canonical(rec, body);
    /* one hex digit changed, still lowercase hex */
    rec[sizeof(body) - 1 + 4 + 10] = rec[sizeof(body) - 1 + 4 + 10] == '0' ? '1' : '0';
    why = m2m_status_verify(hmac, KEY, sizeof(KEY), rec, n, &st);
    CHECK(why != NULL && strstr(why, "MAC does not verify") != NULL, "changed mac digit: %s",
          why != NULL ? why : "accepted");
    n = build_canonical(rec, body);
    memcpy(rec + 26 + 7, "failed", 6); /* "result passed" -> "result failed" */
    why = m2m_status_verify(hmac, KEY, sizeof(KEY), rec, n, &st);
    CHECK(why != NULL && strstr(why, "MAC does not verify") != NULL, "edited result: %s",
          why != NULL ? why : "accepted");
    CHECK(st.passed == -1, "st untouched after a refusal");
}

#define HDR "m2msec-integrity-status 2\n"
#define RES "result passed\n"
#define VER "manifest-version 7\n"
#define TIM "time 1700000000\n"

/* Each variant has a MAC that is right for its own first four lines. */
static const struct {
    const char *what;
    const char *body; /* the bytes before the mac line */
    size_t bodylen;   /* 0: strlen(body) */
    const char *mac_prefix;
    int upper;
    size_t hexlen;
    const char *tail;
    const char *why; /* expected in the reason */
} variants[] = {
    {"two spaces after result", HDR "result  passed\n" VER TIM, 0, "mac ", 0, 64, "\n",
     "line 2 is not 'result passed', 'result failed' or 'result verifying'"},
    {"verifying in capitals", HDR "result Verifying\n" VER TIM, 0, "mac ", 0, 64, "\n", "line 2"},
    {"unknown result", HDR "result unknown\n" VER TIM, 0, "mac ", 0, 64, "\n", "line 2"},
    {"tab after result", HDR "result\tpassed\n" VER TIM, 0, "mac ", 0, 64, "\n", "line 2"},
    {"result in capitals", HDR "result Passed\n" VER TIM, 0, "mac ", 0, 64, "\n", "line 2"},
    {"trailing space after passed", HDR "result passed \n" VER TIM, 0, "mac ", 0, 64, "\n",
     "line 2"},
    {"leading space on a line", HDR " result passed\n" VER TIM, 0, "mac ", 0, 64, "\n", "line 2"},
    {"plus sign", HDR RES "manifest-version +7\n" TIM, 0, "mac ", 0, 64, "\n",
     "manifest-version is not a decimal number"},
    {"minus sign", HDR RES "manifest-version -7\n" TIM, 0, "mac ", 0, 64, "\n",
     "manifest-version is not a decimal number"},
    {"two spaces before the version", HDR RES "manifest-version  7\n" TIM, 0, "mac ", 0, 64, "\n",
     "manifest-version is not a decimal number"},
    {"tab before the version", HDR RES "manifest-version\t7\n" TIM, 0, "mac ", 0, 64, "\n",
     "line 3 is not 'manifest-version <decimal>'"},
    {"space after the version", HDR RES "manifest-version 7 \n" TIM, 0, "mac ", 0, 64, "\n",
     "manifest-version is not a decimal number"},
    {"empty version", HDR RES "manifest-version \n" TIM, 0, "mac ", 0, 64, "\n",
     "manifest-version is not a decimal number"},
    {"hex version", HDR RES "manifest-version 0x7\n" TIM, 0, "mac ", 0, 64, "\n",
     "manifest-version is not a decimal number"},
    {"leading zero", HDR RES "manifest-version 07\n" TIM, 0, "mac ", 0, 64, "\n",
     "manifest-version has a leading zero"},
    {"00", HDR RES "manifest-version 00\n" TIM, 0, "mac ", 0, 64, "\n",
     "manifest-version has a leading zero"},
    {"version 2^64", HDR RES "manifest-version 18446744073709551616\n" TIM, 0, "mac ", 0, 64, "\n",
     "manifest-version does not fit in 64 bits"},
    {"version of 21 digits", HDR RES "manifest-version 100000000000000000000\n" TIM, 0, "mac ", 0,
     64, "\n", "manifest-version does not fit in 64 bits"},
    {"time with plus", HDR RES VER "time +1700000000\n", 0, "mac ", 0, 64, "\n",
     "time is not a decimal number"},
    {"time with leading zero", HDR RES VER "time 01700000000\n", 0, "mac ", 0, 64, "\n",
     "time has a leading zero"},
    {"time 2^64", HDR RES VER "time 18446744073709551616\n", 0, "mac ", 0, 64, "\n",
     "time does not fit in 64 bits"},
    {"time 99999999999999999999", HDR RES VER "time 99999999999999999999\n", 0, "mac ", 0, 64, "\n",
     "time does not fit in 64 bits"},
    {"time and version swapped", HDR RES TIM VER, 0, "mac ", 0, 64, "\n",
     "line 3 is not 'manifest-version <decimal>'"},
    {"version 3 of the format", "m2msec-integrity-status 3\n" RES VER TIM, 0, "mac ", 0, 64, "\n",
     "line 1 is not 'm2msec-integrity-status 2'"},
    {"magic with two spaces", "m2msec-integrity-status  2\n" RES VER TIM, 0, "mac ", 0, 64, "\n",
     "line 1"},
    {"CRLF line ends",
     "m2msec-integrity-status 2\r\nresult passed\r\nmanifest-version 7\r\n"
     "time 1700000000\r\n",
     0, "mac ", 0, 64, "\r\n", "CR: lines end with LF only"},
    {"CR before the last LF", HDR RES VER TIM, 0, "mac ", 0, 64, "\r\n", "CR"},
    {"uppercase mac", HDR RES VER TIM, 0, "mac ", 1, 64, "\n",
     "the mac is not 64 lowercase hex digits"},
    {"two spaces after mac", HDR RES VER TIM, 0, "mac  ", 0, 64, "\n",
     "line 5 is not 'mac <64 hex digits>'"},
    {"MAC: after mac", HDR RES VER TIM, 0, "MAC ", 0, 64, "\n", "line 5"},
    {"63 hex digits", HDR RES VER TIM, 0, "mac ", 0, 63, "\n", "line 5"},
    {"mac digits then a space", HDR RES VER TIM, 0, "mac ", 0, 64, " \n", "line 5"},
    {"no LF at the end", HDR RES VER TIM, 0, "mac ", 0, 64, "",
     "the last line does not end with LF"},
    {"a sixth line", HDR RES VER TIM, 0, "mac ", 0, 64, "\nextra\n", "more than five lines"},
    {"an empty line at the end", HDR RES VER TIM, 0, "mac ", 0, 64, "\n\n", "more than five lines"},
    {"an empty line before mac", HDR RES VER TIM "\n", 0, "mac ", 0, 64, "\n",
     "more than five lines"},
    {"no mac line", HDR RES VER, 0, "", 0, 0, "", "fewer than five lines"},
    {"a NUL in a line", HDR "result passed\0\n" VER TIM,
     sizeof(HDR "result passed\0\n" VER TIM) - 1, "mac ", 0, 64, "\n", "NUL byte"},
};

static void test_non_canonical(void)
{
    for (size_t i = 0; i < sizeof(variants) / sizeof(variants[0]); i++) {
        char rec[REC_CAP];
        size_t bl = variants[i].bodylen != 0 ? variants[i].bodylen : strlen(variants[i].body);
        size_t n = build(rec, variants[i].body, bl, variants[i].mac_prefix, variants[i].upper,
                         variants[i].hexlen, variants[i].tail, KEY);
        M2M_INTEGRITY_STATUS st = {-1, 0, 0, -1};
        const char *why;

        CHECK(n > 0, "%s: built", variants[i].what);
        why = m2m_status_verify(hmac, KEY, sizeof(KEY), rec, n, &st);
        CHECK(why != NULL, "%s: accepted", variants[i].what);
        CHECK(why == NULL || strstr(why, "malformed status record") != NULL,
              "%s: reason '%s' is not 'malformed status record (...)'", variants[i].what,
              why != NULL ? why : "");
        CHECK(why == NULL || strstr(why, variants[i].why) != NULL, "%s: reason '%s' lacks '%s'",
              variants[i].what, why != NULL ? why : "", variants[i].why);
        CHECK(st.passed == -1, "%s: st untouched", variants[i].what);
    }
}

/*
 * Format 1 (before "verifying" existed, written by verifiers that left an
 * old "passed" in place while they ran) is refused, even with a right MAC.
 */
static void test_format1_refused(void)
{
    static const char *const bodies[] = {
        "m2msec-integrity-status 1\nresult passed\nmanifest-version 7\ntime 1700000000\n",
        "m2msec-integrity-status 1\nresult failed\nmanifest-version 7\ntime 1700000000\n",
    };

    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        char rec[REC_CAP];
        size_t n = build_canonical(rec, bodies[i]);
        M2M_INTEGRITY_STATUS st = {-1, 0, 0, -1};
        const char *why = m2m_status_verify(hmac, KEY, sizeof(KEY), rec, n, &st);

        CHECK(why != NULL && strstr(why, "format 1 is no longer accepted") != NULL,
              "format 1 record %zu: %s", i, why != NULL ? why : "accepted");
        CHECK(st.passed == -1, "format 1 record %zu: st untouched", i);
    }
}

/* At most 511 bytes, and an empty record is refused. */
static void test_lengths(void)
{
    char rec[REC_CAP], body[REC_CAP];
    M2M_INTEGRITY_STATUS st = {-1, 0, 0, -1};
    const char *why;
    size_t n, canon;

    why = m2m_status_verify(hmac, KEY, sizeof(KEY), "", 0, &st);
    CHECK(why != NULL && strstr(why, "empty") != NULL, "empty: %s", why != NULL ? why : "accepted");
    /* canonical record, then a sixth line padding it to exactly 511 and 512 bytes */
    canon = build_canonical(rec, HDR RES VER TIM);
    CHECK(canon > 0 && canon < 300, "canonical record is %zu bytes", canon);
    for (size_t total = 511; total <= 512; total++) {
        memcpy(body, rec, canon);
        memset(body + canon, 'x', total - canon - 1);
        body[total - 1] = '\n';
        why = m2m_status_verify(hmac, KEY, sizeof(KEY), body, total, &st);
        CHECK(why != NULL && strstr(why, total == 511 ? "more than five lines"
                                                      : "longer than 511 bytes") != NULL,
              "%zu bytes: %s", total, why != NULL ? why : "accepted");
    }
    /* a valid record at the front of a 512-byte buffer is still refused */
    n = canon;
    memset(rec + n, '\n', 512 - n);
    why = m2m_status_verify(hmac, KEY, sizeof(KEY), rec, 512, &st);
    CHECK(why != NULL && strstr(why, "longer than 511 bytes") != NULL, "512 bytes: %s",
          why != NULL ? why : "accepted");
    CHECK(st.passed == -1, "st untouched");
}

/*
 * The worked examples of docs/PROTOCOL.md 8.3 (```status-example blocks: a
 * "key = HEX" line, then the record): the MAC is recomputed with OpenSSL's
 * HMAC, and the reader accepts each record with the fields it shows.
 */
static void test_protocol_examples(void)
{
    const char *src = getenv("M2M_SOURCE_DIR");
    char path[1024], line[512], rec[REC_CAP], hex[65];
    unsigned char key[64];
    size_t keylen = 0, n = 0, blocks = 0;
    int in = 0;
    FILE *f;

    CHECK(src != NULL, "M2M_SOURCE_DIR is set");
    if (src == NULL)
        return;
    snprintf(path, sizeof(path), "%s/docs/PROTOCOL.md", src);
    f = fopen(path, "r");
    CHECK(f != NULL, "cannot open %s", path);
    if (f == NULL)
        return;
    while (fgets(line, sizeof(line), f) != NULL) {
        if (!in) {
            in = strcmp(line, "```status-example\n") == 0;
            n = keylen = 0;
            continue;
        }
        if (strcmp(line, "```\n") == 0) {
            M2M_INTEGRITY_STATUS st = {-1, 0, 0, -1};
            const char *mac = strstr(rec, "mac "), *why;
            unsigned long long ver = 0, when = 0;
            char result[16] = "";

            in = 0;
            blocks++;
            CHECK(keylen >= 16 && mac != NULL && n > 0, "example %zu: key and record", blocks);
            if (mac == NULL)
                continue;
            CHECK(ref_mac_hex(key, keylen, rec, (size_t)(mac - rec), 0, hex) &&
                      strncmp(mac + 4, hex, 64) == 0,
                  "example %zu: the mac line is HMAC-SHA-256 of the first four lines", blocks);
            why = m2m_status_verify(hmac, key, keylen, rec, n, &st);
            CHECK(why == NULL, "example %zu refused: %s", blocks, why != NULL ? why : "");
            CHECK(sscanf(rec,
                         "m2msec-integrity-status 2\nresult %15s\nmanifest-version %llu\ntime "
                         "%llu\n",
                         result, &ver, &when) == 3,
                  "example %zu: fields", blocks);
            CHECK(st.manifest_version == ver && st.time == when &&
                      st.passed == (strcmp(result, "passed") == 0) &&
                      st.verifying == (strcmp(result, "verifying") == 0),
                  "example %zu: the reader's fields", blocks);
            continue;
        }
        if (strncmp(line, "key = ", 6) == 0) {
            long l = 0;
            unsigned char *k;

            line[strcspn(line, "\n")] = '\0';
            k = OPENSSL_hexstr2buf(line + 6, &l);
            if (k != NULL && l > 0 && (size_t)l <= sizeof(key)) {
                memcpy(key, k, (size_t)l);
                keylen = (size_t)l;
            }
            OPENSSL_free(k);
            continue;
        }
        if (n + strlen(line) < sizeof(rec)) {
            memcpy(rec + n, line, strlen(line) + 1);
            n += strlen(line);
        }
    }
    fclose(f);
    CHECK(blocks == 2, "docs/PROTOCOL.md has %zu status examples, want 2", blocks);
}

/* ---- the device key file (m2m_device_key_read) ---- */

static char key_dir[] = "/tmp/m2msec-devkey.XXXXXX";

/* Write @p text to a file in key_dir; its path in @p path. */
static void key_file(const char *text, size_t len, char path[256])
{
    FILE *f;

    snprintf(path, 256, "%s/key", key_dir);
    f = fopen(path, "wb");
    CHECK(f != NULL && fwrite(text, 1, len, f) == len && fclose(f) == 0, "cannot write %s", path);
}

/* n bytes 0x00, 0x11, ... as hex, every pair followed by @p sep (if not 0). */
static size_t hex_bytes(size_t n, char sep, char *out)
{
    size_t o = 0;

    for (size_t i = 0; i < n; i++) {
        o += (size_t)sprintf(out + o, "%02x", (unsigned)((i * 0x11u) & 0xff));
        if (sep != 0)
            out[o++] = sep;
    }
    out[o] = 0;
    return o;
}

#define SFX(lit) lit, sizeof(lit) - 1

static void test_device_key(void)
{
    static const struct {
        const char *what;
        size_t nbytes;
        char sep;
        const char *suffix;
        size_t suffix_len;
        int want; /* 0 accepted, -1 unreadable or too long, -2 not 16..64 bytes of hex */
    } cases[] = {
        {"16 bytes, no white space", 16, 0, SFX("\n"), 0},
        {"64 bytes, spaces", 64, ' ', SFX(""), 0},
        {"32 bytes, tabs and CRLF", 32, '\t', SFX("\r\n"), 0},
        {"15 bytes", 15, 0, SFX("\n"), -2},
        {"65 bytes", 65, 0, SFX("\n"), -2},
        {"odd number of digits", 16, 0, SFX("a\n"), -2},
        {"a non-hex character", 16, 0, SFX("zz\n"), -2},
        {"0x prefix", 16, 0, SFX("0x\n"), -2},
        {"an embedded NUL", 16, 0, SFX("\0"), -2},
        {"empty", 0, 0, SFX(""), -2},
    };
    unsigned char key[M2M_DEVICE_KEY_MAX], want[M2M_DEVICE_KEY_MAX];
    char text[M2M_DEVICE_KEY_FILE_MAX + 1], path[256];
    size_t keylen;

    CHECK(mkdtemp(key_dir) != NULL, "mkdtemp failed");
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        size_t len = hex_bytes(cases[c].nbytes, cases[c].sep, text);
        int r;

        memcpy(text + len, cases[c].suffix, cases[c].suffix_len);
        len += cases[c].suffix_len;
        key_file(text, len, path);
        memset(key, 0xa5, sizeof(key));
        keylen = 999;
        r = m2m_device_key_read(path, key, &keylen);
        CHECK(r == cases[c].want, "%s: returned %d, want %d", cases[c].what, r, cases[c].want);
        if (cases[c].want == 0) {
            for (size_t i = 0; i < cases[c].nbytes; i++)
                want[i] = (unsigned char)((i * 0x11u) & 0xff);
            CHECK(keylen == cases[c].nbytes && memcmp(key, want, keylen) == 0,
                  "%s: wrong key (%zu bytes)", cases[c].what, keylen);
        } else {
            unsigned char zero[M2M_DEVICE_KEY_MAX] = {0};

            CHECK(keylen == 999, "%s: key length set on failure", cases[c].what);
            CHECK(memcmp(key, zero, sizeof(key)) == 0, "%s: key not wiped on failure",
                  cases[c].what);
        }
    }

    /* a valid key padded to the file limit: refused as too long; one byte less is read */
    memset(text, ' ', sizeof(text));
    hex_bytes(16, 0, text);
    text[32] = ' ';
    key_file(text, M2M_DEVICE_KEY_FILE_MAX, path);
    CHECK(m2m_device_key_read(path, key, &keylen) == -1, "a file of the limit is not refused");
    key_file(text, M2M_DEVICE_KEY_FILE_MAX - 1, path);
    CHECK(m2m_device_key_read(path, key, &keylen) == 0 && keylen == 16,
          "a file one byte below the limit is not read");
    CHECK(unlink(path) == 0, "unlink %s", path);

    /* missing file: the errno */
    CHECK(m2m_device_key_read(path, key, &keylen) == ENOENT, "a missing file is not ENOENT");
    CHECK(rmdir(key_dir) == 0, "rmdir %s", key_dir);
}

/* ---- the shared reader (m2m_status_read): a file, read and authenticated ---- */

static void test_status_read(void)
{
    char dir[] = "/tmp/m2msec-status-read.XXXXXX", path[300], link_path[300], rec[REC_CAP];
    static const char body[] =
        "m2msec-integrity-status 2\nresult passed\nmanifest-version 9\ntime 1767225600\n";
    M2M_INTEGRITY_STATUS st = {-1, 0, 0, -1};
    M2M_ERRMSG err;
    size_t n = build_canonical(rec, body);
    FILE *f;
    int r;

    CHECK(mkdtemp(dir) != NULL, "mkdtemp failed");
    snprintf(path, sizeof(path), "%s/status", dir);
    snprintf(link_path, sizeof(link_path), "%s/link", dir);

    r = m2m_status_read(hmac, KEY, sizeof(KEY), path, &st, &err);
    CHECK(r == 0 && err.sys_errno == ENOENT, "a missing record: %d (%s)", r, err.text);

    f = fopen(path, "wb");
    CHECK(f != NULL && fwrite(rec, 1, n, f) == n && fclose(f) == 0, "cannot write %s", path);
    r = m2m_status_read(hmac, KEY, sizeof(KEY), path, &st, &err);
    CHECK(r == 1 && st.passed == 1 && st.verifying == 0 && st.manifest_version == 9 &&
              st.time == 1767225600u,
          "a valid record: %d (%s)", r, r == 1 ? "" : err.text);

    CHECK(symlink(path, link_path) == 0, "symlink");
    r = m2m_status_read(hmac, KEY, sizeof(KEY), link_path, &st, &err);
    CHECK(r == 0 && strstr(err.text, "is a symlink") != NULL, "a symlink: %d (%s)", r, err.text);

    /* one MAC digit changed: read, then refused with the verifier's text */
    rec[n - 2] = rec[n - 2] == '0' ? '1' : '0';
    f = fopen(path, "wb");
    CHECK(f != NULL && fwrite(rec, 1, n, f) == n && fclose(f) == 0, "cannot write %s", path);
    r = m2m_status_read(hmac, KEY, sizeof(KEY), path, &st, &err);
    CHECK(r == -1 && err.sys_errno == 0 && strstr(err.text, "MAC does not verify") != NULL,
          "a forged record: %d (%s)", r, err.text);

    /* too long for a record: not read */
    f = fopen(path, "wb");
    for (size_t i = 0; f != NULL && i < M2M_STATUS_MAX; i++)
        fputc('x', f);
    CHECK(f != NULL && fclose(f) == 0, "cannot write %s", path);
    r = m2m_status_read(hmac, KEY, sizeof(KEY), path, &st, &err);
    CHECK(r == 0 && strstr(err.text, "or longer") != NULL, "a long file: %d (%s)", r, err.text);

    CHECK(unlink(link_path) == 0 && unlink(path) == 0 && rmdir(dir) == 0, "cleanup");
}

int main(void)
{
    static const tc_test tests[] = {
        {"canonical records accepted; the writer writes them", test_canonical},
        {"the MAC decides between canonical records", test_mac},
        {"non-canonical records with a right MAC refused", test_non_canonical},
        {"format 1 records refused", test_format1_refused},
        {"docs/PROTOCOL.md 8.3 examples", test_protocol_examples},
        {"length limits", test_lengths},
        {"device key file: 16..64 bytes of hex", test_device_key},
        {"the shared file reader", test_status_read},
    };
    int rc;

    ref_ctx = OSSL_LIB_CTX_new();
    ref_def = ref_ctx != NULL ? OSSL_PROVIDER_load(ref_ctx, "default") : NULL;
    hmac = ref_def != NULL ? EVP_MAC_fetch(ref_ctx, "HMAC", NULL) : NULL;
    if (hmac == NULL) {
        fprintf(stderr, "cannot load the default provider's HMAC\n");
        return 1;
    }
    rc = tc_run("test_integrity_status", "integrity status record", NULL, NULL, tests,
                sizeof(tests) / sizeof(tests[0]));
    EVP_MAC_free(hmac);
    OSSL_PROVIDER_unload(ref_def);
    OSSL_LIB_CTX_free(ref_ctx);
    return rc;
}
