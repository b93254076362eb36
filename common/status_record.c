/* SPDX-License-Identifier: Apache-2.0 */
/* common: the device integrity status record, render and authenticate (status_record.h). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/params.h>

#include "cfile.h"
#include "io.h"
#include "status_record.h"
#include "text.h"

#define MAGIC_LINE "m2msec-integrity-status 2"
#define MAGIC MAGIC_LINE "\n"
#define OLD_MAGIC_LINE "m2msec-integrity-status 1"

static int mac_hex(EVP_MAC *hmac, const unsigned char *key, size_t keylen, const char *data,
                   size_t len, char hex[65])
{
    unsigned char mac[32];
    size_t maclen = 0;
    EVP_MAC_CTX *ctx = EVP_MAC_CTX_new(hmac);
    OSSL_PARAM p[2];
    int ok;

    p[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA2-256", 0);
    p[1] = OSSL_PARAM_construct_end();
    ok = ctx != NULL && EVP_MAC_init(ctx, key, keylen, p) &&
         EVP_MAC_update(ctx, (const unsigned char *)data, len) &&
         EVP_MAC_final(ctx, mac, &maclen, sizeof(mac)) && maclen == sizeof(mac);
    EVP_MAC_CTX_free(ctx);
    if (ok)
        for (size_t i = 0; i < sizeof(mac); i++)
            snprintf(hex + 2 * i, 3, "%02x", mac[i]);
    OPENSSL_cleanse(mac, sizeof(mac));
    return ok;
}

size_t m2m_status_render(EVP_MAC *hmac, const unsigned char *key, size_t keylen,
                         const M2M_INTEGRITY_STATUS *st, char *out, size_t cap)
{
    char hex[65];
    int n, m;

    if (cap < M2M_STATUS_MAX)
        return 0;
    n = snprintf(out, cap, MAGIC "result %s\nmanifest-version %" PRIu64 "\ntime %" PRIu64 "\n",
                 st->verifying ? "verifying"
                 : st->passed  ? "passed"
                               : "failed",
                 st->manifest_version, st->time);
    if (n <= 0 || (size_t)n >= cap || !mac_hex(hmac, key, keylen, out, (size_t)n, hex))
        return 0;
    m = snprintf(out + n, cap - (size_t)n, "mac %s\n", hex);
    if (m <= 0 || (size_t)(n + m) >= cap)
        return 0;
    return (size_t)(n + m);
}

const char *m2m_status_verify(EVP_MAC *hmac, const unsigned char *key, size_t keylen,
                              const char *buf, size_t len, M2M_INTEGRITY_STATUS *st)
{
    static const char *const version_why[] = {
        NULL,
        "malformed status record (manifest-version is not a decimal number: digits only, "
        "one space before)",
        "malformed status record (manifest-version has a leading zero)",
        "malformed status record (manifest-version does not fit in 64 bits)",
    };
    static const char *const time_why[] = {
        NULL,
        "malformed status record (time is not a decimal number: digits only, one space before)",
        "malformed status record (time has a leading zero)",
        "malformed status record (time does not fit in 64 bits)",
    };
    M2M_SPAN line[5], rest;
    M2M_LINES lines;
    size_t nlines = 0;
    uint64_t ver = 0, when = 0;
    M2M_DEC r;
    char want[65];
    int passed, verifying = 0;

    /* Exactly the canonical form m2m_status_render writes, byte for byte. */
    if (len == 0)
        return "malformed status record (empty)";
    if (len >= M2M_STATUS_MAX)
        return "malformed status record (longer than 511 bytes)";
    if (memchr(buf, '\0', len) != NULL)
        return "malformed status record (NUL byte)";
    if (memchr(buf, '\r', len) != NULL)
        return "malformed status record (CR: lines end with LF only)";
    if (buf[len - 1] != '\n')
        return "malformed status record (the last line does not end with LF)";
    m2m_lines_init(&lines, buf, len);
    while (m2m_line_next(&lines, nlines < 5 ? &line[nlines] : &rest) > 0)
        if (nlines++ == 5)
            return "malformed status record (more than five lines)";
    if (nlines != 5)
        return "malformed status record (fewer than five lines: no mac line)";
    if (m2m_span_is(&line[0], OLD_MAGIC_LINE))
        return "status record format 1 is no longer accepted (its writer did not invalidate the "
               "record before verifying); run m2msec verify again";
    if (!m2m_span_is(&line[0], MAGIC_LINE))
        return "malformed status record (line 1 is not '" MAGIC_LINE "')";
    if (m2m_span_is(&line[1], "result passed")) {
        passed = 1;
    } else if (m2m_span_is(&line[1], "result failed")) {
        passed = 0;
    } else if (m2m_span_is(&line[1], "result verifying")) {
        passed = 0;
        verifying = 1;
    } else {
        return "malformed status record (line 2 is not 'result passed', 'result failed' or "
               "'result verifying')";
    }
    if (!m2m_kv_value(&line[2], "manifest-version", &rest))
        return "malformed status record (line 3 is not 'manifest-version <decimal>')";
    if ((r = m2m_dec_parse(rest.p, rest.n, UINT64_MAX, 0, &ver)) != M2M_DEC_OK)
        return version_why[r];
    if (!m2m_kv_value(&line[3], "time", &rest))
        return "malformed status record (line 4 is not 'time <decimal>')";
    if ((r = m2m_dec_parse(rest.p, rest.n, UINT64_MAX, 0, &when)) != M2M_DEC_OK)
        return time_why[r];
    if (!m2m_kv_value(&line[4], "mac", &rest) || rest.n != 64)
        return "malformed status record (line 5 is not 'mac <64 hex digits>')";
    for (size_t i = 0; i < rest.n; i++)
        if (!((rest.p[i] >= '0' && rest.p[i] <= '9') || (rest.p[i] >= 'a' && rest.p[i] <= 'f')))
            return "malformed status record (the mac is not 64 lowercase hex digits)";
    /* The MAC covers the first four lines with their LFs. */
    if (!mac_hex(hmac, key, keylen, buf, (size_t)(line[4].p - buf), want))
        return "cannot compute the status MAC";
    if (CRYPTO_memcmp(want, rest.p, 64) != 0)
        return "status record MAC does not verify (forged, or another device key)";
    st->passed = passed;
    st->verifying = verifying;
    st->manifest_version = ver;
    st->time = when;
    return NULL;
}

int m2m_status_read(EVP_MAC *hmac, const unsigned char *key, size_t keylen, const char *path,
                    M2M_INTEGRITY_STATUS *st, M2M_ERRMSG *err)
{
    char buf[M2M_STATUS_MAX];
    const char *why;
    size_t n = 0;

    if (!m2m_cf_read_into(path, M2M_CF_NO_SYMLINKS, buf, sizeof(buf), &n, "device integrity status",
                          err))
        return 0;
    why = m2m_status_verify(hmac, key, keylen, buf, n, st);
    OPENSSL_cleanse(buf, sizeof(buf));
    if (why != NULL) {
        m2m_errmsg_set(err, "%s", why);
        return -1;
    }
    return 1;
}

int m2m_device_key_read(const char *path, unsigned char key[M2M_DEVICE_KEY_MAX], size_t *keylen)
{
    char buf[M2M_DEVICE_KEY_FILE_MAX];
    size_t len = 0, n = 0;
    int fd, hi = -1, ret = -2;
    M2M_ERRMSG err;

    fd = m2m_cf_open(path, M2M_CF_NO_SYMLINKS, "device key file", &err);
    if (fd < 0) {
        OPENSSL_cleanse(key, M2M_DEVICE_KEY_MAX);
        return err.sys_errno != 0 ? err.sys_errno : EINVAL;
    }
    /* a file of sizeof(buf) bytes or more, or one that cannot be read, is refused */
    if (m2m_read_all(fd, buf, sizeof(buf) - 1, &n) != 1)
        n = sizeof(buf);
    close(fd);
    if (n == sizeof(buf)) {
        ret = -1;
        goto end;
    }
    for (size_t i = 0; i < n; i++) {
        char ch = buf[i];
        int v;

        if (ch == ' ' || ch == '\n' || ch == '\r' || ch == '\t')
            continue;
        v = OPENSSL_hexchar2int((unsigned char)ch);
        if (v < 0 || len >= M2M_DEVICE_KEY_MAX)
            goto end;
        if (hi < 0) {
            hi = v;
        } else {
            key[len++] = (unsigned char)(hi << 4 | v);
            hi = -1;
        }
    }
    if (hi >= 0 || len < M2M_DEVICE_KEY_MIN)
        goto end;
    *keylen = len;
    ret = 0;
end:
    OPENSSL_cleanse(buf, sizeof(buf));
    if (ret != 0)
        OPENSSL_cleanse(key, M2M_DEVICE_KEY_MAX);
    return ret;
}

const char *m2m_device_key_error(int r)
{
    if (r > 0)
        return strerror(r);
    return r == -1 ? "unreadable or too long" : "not 16..64 bytes of hex";
}
