/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Shared helpers of the ESPrim tests (tests/esprim/test_*.c). Static
 * inline: each program takes what it uses.
 *
 *  - et_libctx: m2msec (from $M2M_MODULES) + default; et_refctx: OpenSSL's
 *    default provider only, for the reference implementation below;
 *  - a reference JWE builder written from RFC 7516 / docs/PROTOCOL.md 9
 *    with stock OpenSSL only (HMAC-SHA256 through EVP_MAC, AES-GCM, and
 *    OpenSSL's base64 turned into base64url), no m2msec code: it makes
 *    objects with any header, valid or not, to drive the checks;
 *  - small helpers: errors by reason, RandObjects, ends, temp files.
 *
 * The programs link the static twin of the ESPrim sources (test hooks:
 * a fixed clock, a fixed IV, fixed Originator RandObjects).
 */
#ifndef M2MSEC_TESTS_ESPRIM_TEST_H
#define M2MSEC_TESTS_ESPRIM_TEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <CUnit/CUnit.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/provider.h>

#include "esprim_internal.h"
#include "m2msec/esprim.h"
#include "test_errors.h"
#include "test_files.h"
#include "test_run.h"

#define ET_LABEL "oneM2M HMAC-SHA256 sessionESPrimKey derivation algorithm"
#define ET_KID "test-kid-1"
#define ET_T0 ((uint64_t)1900000000) /* the test clock starts here (2030-03-17) */

static OSSL_LIB_CTX *et_libctx, *et_refctx;
static OSSL_PROVIDER *et_prov, *et_def, *et_refdef;
static char et_dir[512];

static const unsigned char et_key[32] = {
    0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, 0x00,
    0x0f, 0x1e, 0x2d, 0x3c, 0x4b, 0x5a, 0x69, 0x78, 0x87, 0x96, 0xa5, 0xb4, 0xc3, 0xd2, 0xe1, 0xf0,
};

static inline int et_setup(void)
{
    const char *mods = getenv("M2M_MODULES");
    char tmpl[] = "/tmp/m2msec-esprim-test.XXXXXX";

    if (mods == NULL) {
        fprintf(stderr, "M2M_MODULES is not set (directory of the built m2msec.so)\n");
        return 0;
    }
    et_libctx = OSSL_LIB_CTX_new();
    et_refctx = OSSL_LIB_CTX_new();
    if (et_libctx == NULL || et_refctx == NULL ||
        !OSSL_PROVIDER_set_default_search_path(et_libctx, mods))
        return 0;
    et_prov = OSSL_PROVIDER_load(et_libctx, "m2msec");
    et_def = OSSL_PROVIDER_load(et_libctx, "default");
    et_refdef = OSSL_PROVIDER_load(et_refctx, "default");
    if (et_prov == NULL || et_def == NULL || et_refdef == NULL) {
        fprintf(stderr, "cannot load the providers (m2msec from %s)\n", mods);
        ERR_print_errors_fp(stderr);
        return 0;
    }
    if (mkdtemp(tmpl) == NULL)
        return 0;
    snprintf(et_dir, sizeof(et_dir), "%s", tmpl);
    return 1;
}

static inline void et_teardown(void)
{
    if (et_dir[0] != '\0')
        run("rm -rf '%s'", et_dir);
    OSSL_PROVIDER_unload(et_prov);
    OSSL_PROVIDER_unload(et_def);
    OSSL_PROVIDER_unload(et_refdef);
    OSSL_LIB_CTX_free(et_libctx);
    OSSL_LIB_CTX_free(et_refctx);
}

/* The reason of the last error (0 if none), and clear the queue. */
static inline int et_reason(void)
{
    unsigned long e = ERR_peek_last_error();

    ERR_clear_error();
    return e == 0 ? 0 : ERR_GET_REASON(e);
}

/* The reason of the last error, the detail text checked to contain want (NULL: any). */
static inline int et_reason_text(const char *want, char *got, size_t cap)
{
    const char *data = NULL;
    int flags = 0;
    unsigned long e = ERR_peek_last_error_data(&data, &flags);

    snprintf(got, cap, "%s", data != NULL && (flags & ERR_TXT_STRING) ? data : "");
    ERR_clear_error();
    if (want != NULL && strstr(got, want) == NULL)
        return -1;
    return e == 0 ? 0 : ERR_GET_REASON(e);
}

/* ---- the reference implementation (stock OpenSSL only) ---- */

/* base64url without padding of n bytes into out (NUL-terminated), via EVP_EncodeBlock. */
static inline void et_b64u(const unsigned char *in, size_t n, char *out)
{
    int l = EVP_EncodeBlock((unsigned char *)out, in, (int)n);

    while (l > 0 && out[l - 1] == '=')
        l--;
    out[l] = '\0';
    for (int i = 0; i < l; i++)
        out[i] = out[i] == '+' ? '-' : out[i] == '/' ? '_' : out[i];
}

/* sessionESPrimKey = HMAC-SHA256(key, rrand || orand || label) with EVP_MAC. */
static inline int et_ref_session_key(const unsigned char *key, size_t keylen,
                                     const unsigned char rrand[16], const unsigned char orand[16],
                                     unsigned char out[32])
{
    EVP_MAC *mac = EVP_MAC_fetch(et_refctx, "HMAC", NULL);
    EVP_MAC_CTX *c = mac != NULL ? EVP_MAC_CTX_new(mac) : NULL;
    OSSL_PARAM p[2] = {OSSL_PARAM_construct_utf8_string("digest", (char *)"SHA256", 0),
                       OSSL_PARAM_construct_end()};
    size_t ol = 0;
    int ok = c != NULL && EVP_MAC_init(c, key, keylen, p) && EVP_MAC_update(c, rrand, 16) &&
             EVP_MAC_update(c, orand, 16) &&
             EVP_MAC_update(c, (const unsigned char *)ET_LABEL, strlen(ET_LABEL)) &&
             EVP_MAC_final(c, out, &ol, 32) && ol == 32;

    EVP_MAC_CTX_free(c);
    EVP_MAC_free(mac);
    return ok;
}

/*
 * A JWE compact string (malloc'ed) of header JSON hdr: AES-GCM with the
 * first keylen bytes of sk (16, 24, 32), the given IV, AAD = the encoded
 * header. NULL on failure.
 */
static inline char *et_ref_jwe(const unsigned char sk[32], size_t keylen, const char *hdr,
                               const unsigned char iv[12], const unsigned char *pt, size_t ptlen)
{
    const char *name = keylen == 16 ? "AES-128-GCM" : keylen == 24 ? "AES-192-GCM" : "AES-256-GCM";
    EVP_CIPHER *ci = EVP_CIPHER_fetch(et_refctx, name, NULL);
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    size_t hl = strlen(hdr);
    char *h64 = malloc(hl * 2 + 8), *ct64 = malloc(ptlen * 2 + 8), iv64[32], tag64[32], *out;
    unsigned char *ct = malloc(ptlen + 16), tag[16];
    int n, ok;

    ok = ci != NULL && c != NULL && h64 != NULL && ct64 != NULL && ct != NULL;
    if (ok) {
        et_b64u((const unsigned char *)hdr, hl, h64);
        ok = EVP_EncryptInit_ex2(c, ci, sk, iv, NULL) &&
             EVP_EncryptUpdate(c, NULL, &n, (unsigned char *)h64, (int)strlen(h64)) &&
             EVP_EncryptUpdate(c, ct, &n, pt, (int)ptlen) && EVP_EncryptFinal_ex(c, ct + n, &n) &&
             EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, 16, tag);
    }
    out = NULL;
    if (ok) {
        et_b64u(ct, ptlen, ct64);
        et_b64u(iv, 12, iv64);
        et_b64u(tag, 16, tag64);
        out = malloc(strlen(h64) + strlen(ct64) + 64);
        if (out != NULL)
            sprintf(out, "%s..%s.%s.%s", h64, iv64, ct64, tag64);
    }
    EVP_CIPHER_CTX_free(c);
    EVP_CIPHER_free(ci);
    free(h64);
    free(ct64);
    free(ct);
    return out;
}

/* "YYYYMMDDTHHMMSS" of t (UTC), by gmtime_r: independent of m2msec's calendar code. */
static inline void et_ts(uint64_t t, char out[16])
{
    time_t tt = (time_t)t;
    struct tm tm;

    gmtime_r(&tt, &tm);
    strftime(out, 16, "%Y%m%dT%H%M%S", &tm);
}

/* RandObject JSON text for the reference objects (keygen: "1" or "[1]"). */
static inline void et_rand_json(char *out, size_t cap, const char *id,
                                const unsigned char value[16], uint64_t expiry, const char *keygen,
                                const char *aeads)
{
    char v[32], e[16];

    et_b64u(value, 16, v);
    et_ts(expiry, e);
    snprintf(out, cap,
             "{\"esprimRandID\":\"%s\",\"esprimRandValue\":\"%s\",\"esprimRandExpiry\":\"%s\","
             "\"esprimKeyGenAlgIDs\":%s,\"esprimProtocolAndAlgIDs\":%s}",
             id, v, e, keygen, aeads);
}

/* ---- ends ---- */

static inline m2msec_esprim *et_receiver(const char *state, const m2msec_esprim_config *base)
{
    m2msec_esprim_config c;

    if (base != NULL)
        c = *base;
    else
        memset(&c, 0, sizeof(c));
    c.role = M2MSEC_ESPRIM_RECEIVER;
    c.libctx = et_libctx;
    if (c.key == NULL) {
        c.key = et_key;
        c.key_len = sizeof(et_key);
    }
    if (c.kid == NULL)
        c.kid = ET_KID;
    c.state = state;
    return m2msec_esprim_new(&c);
}

static inline m2msec_esprim *et_originator(const m2msec_esprim_config *base)
{
    m2msec_esprim_config c;

    if (base != NULL)
        c = *base;
    else
        memset(&c, 0, sizeof(c));
    c.role = M2MSEC_ESPRIM_ORIGINATOR;
    c.libctx = et_libctx;
    if (c.key == NULL) {
        c.key = et_key;
        c.key_len = sizeof(et_key);
    }
    if (c.kid == NULL)
        c.kid = ET_KID;
    c.state = NULL;
    return m2msec_esprim_new(&c);
}

/* A fresh state path under et_dir, initialised for ET_KID. */
static inline void et_state(char *path, size_t cap, const char *name)
{
    pathf(path, cap, "%s/%s", et_dir, name);
    if (!m2msec_esprim_state_init(path, ET_KID)) {
        ERR_print_errors_fp(stderr);
        fprintf(stderr, "cannot initialise %s\n", path);
        abort();
    }
}

#endif
