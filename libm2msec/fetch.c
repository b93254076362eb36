/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libm2msec: fetching the expected copy of a file from the remediation
 * repository, a local directory or an http(s) base URL (see fetch.h), for
 * the remediation action (remediate.c).
 * What is fetched is hashed while it is written; the caller compares the
 * digest with the manifest before anything on the device changes.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <curl/curl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "escape.h"
#include "io.h"
#include "m2msec/integrity.h"
#include "fetch.h"
#include "safe_open.h"

#define COPY_BUF (64u * 1024u)
#define CONNECT_TIMEOUT_S 15L
#define LOW_SPEED_TIME_S 60L /* abort below 1 byte/s for this long */
#define TOTAL_TIMEOUT_S 3600L
#define MAX_REDIRECTS 5L

typedef struct sink {
    int fd;
    EVP_MD_CTX *md;
    uint64_t n, limit;
    int err;    /* errno of a failed write; EFBIG: over the limit */
    int crypto; /* the digest failed */
} sink;

static int sink_write(sink *s, const unsigned char *p, size_t len)
{
    if (len > s->limit - s->n) {
        s->err = EFBIG;
        return 0;
    }
    if (EVP_DigestUpdate(s->md, p, len) != 1) {
        s->crypto = 1;
        return 0;
    }
    s->n += len;
    if (!m2m_write_all(s->fd, p, len)) {
        s->err = errno;
        return 0;
    }
    return 1;
}

static void sink_why(const sink *s, char *why, size_t whylen)
{
    if (s->crypto)
        snprintf(why, whylen, "digest computation failed");
    else if (s->err == EFBIG)
        snprintf(why, whylen, "repository copy is larger than %llu bytes",
                 (unsigned long long)s->limit);
    else
        snprintf(why, whylen, "cannot write the temporary file: %s", strerror(s->err));
}

static int fetch_dir(const char *repo, const char *path, sink *s, char *why, size_t whylen)
{
    char er[M2M_ESC_NAME], ep[M2M_ESC_NAME]; /* repo and path, escaped for messages */
    unsigned char *buf = NULL;
    struct stat st;
    int dfd, fd = -1, ok = 0;

    dfd = open(repo, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) {
        snprintf(why, whylen, "repository %s: %s", m2m_esc(repo, er, sizeof(er)), strerror(errno));
        return 0;
    }
    fd = m2m_open_beneath(dfd, path);
    if (fd < 0) {
        int err = errno;

        snprintf(why, whylen, "repository copy %s/%s: %s", m2m_esc(repo, er, sizeof(er)),
                 m2m_esc(path, ep, sizeof(ep)),
                 err == ELOOP || err == EXDEV ? "a symlink on the way (not followed)"
                                              : strerror(err));
        goto end;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(why, whylen, "repository copy %s/%s is not a regular file",
                 m2m_esc(repo, er, sizeof(er)), m2m_esc(path, ep, sizeof(ep)));
        goto end;
    }
    if ((uint64_t)st.st_size > s->limit) {
        s->err = EFBIG;
        sink_why(s, why, whylen);
        goto end;
    }
    buf = OPENSSL_malloc(COPY_BUF);
    if (buf == NULL) {
        snprintf(why, whylen, "out of memory");
        goto end;
    }
    for (;;) {
        ssize_t r = m2m_read(fd, buf, COPY_BUF);

        if (r < 0) {
            int err = errno;

            snprintf(why, whylen, "cannot read repository copy %s/%s: %s",
                     m2m_esc(repo, er, sizeof(er)), m2m_esc(path, ep, sizeof(ep)), strerror(err));
            goto end;
        }
        if (r == 0)
            break;
        if (!sink_write(s, buf, (size_t)r)) {
            sink_why(s, why, whylen);
            goto end;
        }
    }
    ok = 1;
end:
    OPENSSL_free(buf);
    if (fd >= 0)
        close(fd);
    close(dfd);
    return ok;
}

static size_t curl_write_cb(char *ptr, size_t size, size_t nmemb, void *arg)
{
    size_t len = size * nmemb;

    return sink_write(arg, (const unsigned char *)ptr, len) ? len : 0;
}

/* <base>/<path> with every path component percent-encoded; OPENSSL_free()d by the caller. */
static char *make_url(CURL *curl, const char *base, const char *path)
{
    size_t blen = strlen(base), cap = blen + 3 * strlen(path) + 2, n;
    char *url = OPENSSL_malloc(cap);
    const char *p = path;

    if (url == NULL)
        return NULL;
    memcpy(url, base, blen);
    n = blen;
    if (n == 0 || url[n - 1] != '/')
        url[n++] = '/';
    for (;;) {
        const char *slash = strchr(p, '/');
        size_t clen = slash != NULL ? (size_t)(slash - p) : strlen(p);
        char *esc = curl_easy_escape(curl, p, (int)clen);
        size_t elen;

        if (esc == NULL) {
            OPENSSL_free(url);
            return NULL;
        }
        elen = strlen(esc);
        if (n + elen + 2 > cap) { /* cannot happen: 3 bytes per byte at most */
            curl_free(esc);
            OPENSSL_free(url);
            return NULL;
        }
        memcpy(url + n, esc, elen);
        n += elen;
        curl_free(esc);
        if (slash == NULL)
            break;
        url[n++] = '/';
        p = slash + 1;
    }
    url[n] = '\0';
    return url;
}

static int fetch_url(const char *base, const char *path, sink *s, char *why, size_t whylen)
{
    char errbuf[CURL_ERROR_SIZE] = "", shown[M2M_ESC_NAME], ep[M2M_ESC_NAME],
         ee[4 * CURL_ERROR_SIZE];
    char *url = NULL;
    long code = 0;
    CURLcode rc;
    CURL *curl = curl_easy_init();
    int ok = 0;

    m2m_repository_display(base, shown, sizeof(shown));
    if (curl == NULL) {
        snprintf(why, whylen, "cannot start libcurl");
        return 0;
    }
    url = make_url(curl, base, path);
    if (url == NULL) {
        snprintf(why, whylen, "out of memory");
        goto end;
    }
    if (curl_easy_setopt(curl, CURLOPT_URL, url) != CURLE_OK ||
#if LIBCURL_VERSION_NUM >= 0x075500 /* 7.85.0 */
        curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK ||
        curl_easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS_STR, "http,https") != CURLE_OK ||
#else
        curl_easy_setopt(curl, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS)) !=
            CURLE_OK ||
        curl_easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS)) !=
            CURLE_OK ||
#endif
        curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 1L) != CURLE_OK ||
        curl_easy_setopt(curl, CURLOPT_MAXREDIRS, MAX_REDIRECTS) != CURLE_OK ||
        curl_easy_setopt(curl, CURLOPT_FAILONERROR, 1L) != CURLE_OK ||
        curl_easy_setopt(curl, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)s->limit) != CURLE_OK ||
        curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, CONNECT_TIMEOUT_S) != CURLE_OK ||
        curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1L) != CURLE_OK ||
        curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, LOW_SPEED_TIME_S) != CURLE_OK ||
        curl_easy_setopt(curl, CURLOPT_TIMEOUT, TOTAL_TIMEOUT_S) != CURLE_OK ||
        curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
        curl_easy_setopt(curl, CURLOPT_USERAGENT, "m2msec/" M2M_VERSION) != CURLE_OK ||
        curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf) != CURLE_OK ||
        curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, curl_write_cb) != CURLE_OK ||
        curl_easy_setopt(curl, CURLOPT_WRITEDATA, s) != CURLE_OK) {
        snprintf(why, whylen, "cannot set up libcurl for %s", shown);
        goto end;
    }
    rc = curl_easy_perform(curl);
    if (rc == CURLE_WRITE_ERROR && (s->err != 0 || s->crypto)) {
        sink_why(s, why, whylen);
        goto end;
    }
    if (rc == CURLE_FILESIZE_EXCEEDED) {
        s->err = EFBIG;
        sink_why(s, why, whylen);
        goto end;
    }
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
    if (rc != CURLE_OK) {
        snprintf(why, whylen, "download of %s from %s failed: %s%s%s",
                 m2m_esc(path, ep, sizeof(ep)), shown, curl_easy_strerror(rc),
                 errbuf[0] != '\0' ? ": " : "", m2m_esc(errbuf, ee, sizeof(ee)));
        goto end;
    }
    if (code != 200) {
        snprintf(why, whylen, "download of %s from %s failed: HTTP status %ld",
                 m2m_esc(path, ep, sizeof(ep)), shown, code);
        goto end;
    }
    ok = 1;
end:
    OPENSSL_free(url);
    curl_easy_cleanup(curl);
    return ok;
}

int m2m_fetch(OSSL_LIB_CTX *libctx, const char *repository, const char *path, int outfd,
              const char *digest, uint64_t limit, unsigned char *md, size_t *mdlen,
              uint64_t *nbytes, char *why, size_t whylen)
{
    EVP_MD *alg = EVP_MD_fetch(libctx, digest != NULL ? digest : "SHA256", NULL);
    sink s;
    unsigned int dlen = 0;
    int ok = 0;

    memset(&s, 0, sizeof(s));
    s.fd = outfd;
    s.limit = limit;
    s.md = EVP_MD_CTX_new();
    if (alg == NULL || s.md == NULL || EVP_DigestInit_ex2(s.md, alg, NULL) != 1) {
        snprintf(why, whylen, "cannot set up digest %s", digest != NULL ? digest : "SHA256");
        goto end;
    }
    if (strncasecmp(repository, "http://", 7) == 0 || strncasecmp(repository, "https://", 8) == 0)
        ok = fetch_url(repository, path, &s, why, whylen);
    else
        ok = fetch_dir(repository, path, &s, why, whylen);
    if (ok && (EVP_DigestFinal_ex(s.md, md, &dlen) != 1 || dlen > *mdlen)) {
        snprintf(why, whylen, "digest computation failed");
        ok = 0;
    }
    if (ok) {
        *mdlen = dlen;
        *nbytes = s.n;
    }
end:
    EVP_MD_CTX_free(s.md);
    EVP_MD_free(alg);
    return ok;
}

void m2m_repository_display(const char *repository, char *out, size_t len)
{
    const char *scheme = strstr(repository, "://"), *host, *slash, *at = NULL;
    char plain[4 * M2M_ESC_NAME];

    if (scheme == NULL) {
        m2m_escape(repository, 0, out, len);
        return;
    }
    host = scheme + 3;
    slash = strchr(host, '/');
    for (const char *q = host; *q != '\0' && (slash == NULL || q < slash); q++)
        if (*q == '@')
            at = q;
    if (at == NULL)
        snprintf(plain, sizeof(plain), "%s", repository);
    else
        snprintf(plain, sizeof(plain), "%.*s***%s", (int)(host - repository), repository, at);
    m2m_escape(plain, 0, out, len);
}
