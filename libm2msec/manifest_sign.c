/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libm2msec: detached manifest signatures and the rollback state
 * (m2msec_manifest_sign, m2msec_manifest_accept; docs/PROTOCOL.md section 7).
 *
 * The signature covers the exact bytes of the manifest file: Ed25519 (raw,
 * 64 bytes; "pure" EdDSA, as `openssl pkeyutl -sign -rawin` makes it) or
 * ECDSA P-256 over SHA-256 (DER). A manifest is read into memory once; the
 * signature is verified over that buffer and only then is it parsed, so
 * the parser never sees unauthenticated input and the file cannot change
 * between the check and the use.
 *
 * The rollback state file holds the last accepted version:
 *     m2msec-manifest-state 1\n
 *     version N\n
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "escape.h"
#include "m2msec/integrity.h"
#include "manifest_internal.h"
#include "manifest_state.h"
#include "safe_open.h"

#define STATE_MAGIC "m2msec-manifest-state 1"
#define MAX_SIG_BYTES 4096
#define MAX_KEY_BYTES (64 * 1024)
#define MAX_STATE_BYTES 4096

enum key_kind { KEY_UNSUPPORTED = 0, KEY_ED25519, KEY_P256 };

/* t as ISO 8601 UTC for a message, next to the seconds; "(out of range)" if it cannot be. */
#define ISO_MAX 40
static const char *iso_time(uint64_t t, char buf[ISO_MAX])
{
    struct tm tm;
    time_t tt = (time_t)t;

    if (t > (uint64_t)INT64_MAX || (uint64_t)tt != t || gmtime_r(&tt, &tm) == NULL ||
        strftime(buf, ISO_MAX, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(buf, ISO_MAX, "(out of range)");
    return buf;
}

static const char *const verdict_text[] = {
    [M2MSEC_MANIFEST_OK] = "ok",
    [M2MSEC_MANIFEST_UNSIGNED] = "manifest not signed (no signature file)",
    [M2MSEC_MANIFEST_BAD_SIGNATURE] = "bad manifest signature",
    [M2MSEC_MANIFEST_EXPIRED] = "manifest expired",
    [M2MSEC_MANIFEST_ROLLBACK] = "manifest rollback (version lower than the last accepted one)",
    [M2MSEC_MANIFEST_MALFORMED] = "malformed manifest",
    [M2MSEC_MANIFEST_ERROR] = "manifest could not be checked (I/O or other error)",
};

const char *m2msec_manifest_verdict_text(m2msec_manifest_verdict v)
{
    if ((unsigned)v >= sizeof(verdict_text) / sizeof(verdict_text[0]))
        return "unknown verdict";
    return verdict_text[v];
}

/* Refuses to prompt for a pass phrase: encrypted keys are not supported. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)u;
    return -1;
}

static EVP_PKEY *load_pem_key(OSSL_LIB_CTX *libctx, const char *path, int private_key)
{
    unsigned char *buf;
    size_t len;
    EVP_PKEY *pkey = NULL;
    BIO *bio;
    const char *what = private_key ? "private key" : "public key";
    char ep[M2M_ESC_NAME];

    if (path == NULL) {
        ERR_raise_data(ERR_LIB_USER, ERR_R_PASSED_NULL_PARAMETER, "m2msec: no %s file given", what);
        return NULL;
    }
    if (m2m_read_file(path, MAX_KEY_BYTES, what, &buf, &len) != 0)
        return NULL;
    bio = BIO_new_mem_buf(buf, (int)len);
    if (bio != NULL) {
        if (private_key)
            pkey = PEM_read_bio_PrivateKey_ex(bio, NULL, no_passphrase, NULL, libctx, NULL);
        else
            pkey = PEM_read_bio_PUBKEY_ex(bio, NULL, NULL, NULL, libctx, NULL);
        BIO_free(bio);
    }
    OPENSSL_clear_free(buf, len);
    if (pkey == NULL)
        ERR_raise_data(ERR_LIB_USER, ERR_R_PASSED_INVALID_ARGUMENT,
                       "m2msec: cannot read the PEM %s in %s%s", what,
                       m2m_esc(path, ep, sizeof(ep)),
                       private_key ? " (encrypted keys are not supported)" : "");
    return pkey;
}

static enum key_kind key_kind(const EVP_PKEY *pkey, const char *path)
{
    char group[64], ep[M2M_ESC_NAME];
    size_t glen = 0;

    if (EVP_PKEY_is_a(pkey, "ED25519"))
        return KEY_ED25519;
    if (EVP_PKEY_is_a(pkey, "EC") &&
        EVP_PKEY_get_group_name(pkey, group, sizeof(group), &glen) == 1 &&
        (strcasecmp(group, "prime256v1") == 0 || strcasecmp(group, "P-256") == 0 ||
         strcasecmp(group, "secp256r1") == 0))
        return KEY_P256;
    ERR_raise_data(ERR_LIB_USER, ERR_R_PASSED_INVALID_ARGUMENT,
                   "m2msec: key in %s is neither Ed25519 nor ECDSA P-256",
                   m2m_esc(path, ep, sizeof(ep)));
    return KEY_UNSUPPORTED;
}

static char *with_sig_suffix(const char *path)
{
    size_t n = strlen(path);
    char *s = OPENSSL_malloc(n + 5);

    if (s == NULL) {
        ERR_raise_data(ERR_LIB_USER, ERR_R_MALLOC_FAILURE, "m2msec: out of memory");
        return NULL;
    }
    memcpy(s, path, n);
    memcpy(s + n, ".sig", 5);
    return s;
}

int m2msec_manifest_sign(OSSL_LIB_CTX *libctx, const char *manifest_path, const char *key_path,
                         const char *sig_path)
{
    unsigned char *buf = NULL, *sig = NULL;
    size_t len = 0, siglen = 0;
    char *def_sig = NULL, em[M2M_ESC_NAME], ek[M2M_ESC_NAME];
    EVP_PKEY *pkey = NULL;
    EVP_MD_CTX *ctx = NULL;
    m2msec_manifest *m;
    enum key_kind kind;
    int ok = 0, sz;

    if (manifest_path == NULL) {
        ERR_raise_data(ERR_LIB_USER, ERR_R_PASSED_NULL_PARAMETER, "m2msec: NULL manifest path");
        return 0;
    }
    if (sig_path == NULL) {
        def_sig = with_sig_suffix(manifest_path);
        if (def_sig == NULL)
            return 0;
        sig_path = def_sig;
    }
    if (m2m_read_file(manifest_path, M2M_MANIFEST_MAX_BYTES, "manifest", &buf, &len) != 0)
        goto end;
    m = m2msec_manifest_parse(buf, len);
    if (m == NULL) {
        ERR_raise_data(ERR_LIB_USER, ERR_R_PASSED_INVALID_ARGUMENT,
                       "m2msec: refusing to sign %s: not a valid manifest",
                       m2m_esc(manifest_path, em, sizeof(em)));
        goto end;
    }
    m2msec_manifest_free(m);
    pkey = load_pem_key(libctx, key_path, 1);
    if (pkey == NULL)
        goto end;
    kind = key_kind(pkey, key_path);
    if (kind == KEY_UNSUPPORTED)
        goto end;
    sz = EVP_PKEY_get_size(pkey);
    ctx = EVP_MD_CTX_new();
    if (sz <= 0 || ctx == NULL || (sig = OPENSSL_malloc((size_t)sz)) == NULL) {
        ERR_raise_data(ERR_LIB_USER, ERR_R_MALLOC_FAILURE, "m2msec: out of memory");
        goto end;
    }
    siglen = (size_t)sz;
    if (EVP_DigestSignInit_ex(ctx, NULL, kind == KEY_P256 ? "SHA256" : NULL, libctx, NULL, pkey,
                              NULL) != 1 ||
        EVP_DigestSign(ctx, sig, &siglen, buf, len) != 1) {
        ERR_raise_data(ERR_LIB_USER, ERR_R_OPERATION_FAIL,
                       "m2msec: signing manifest %s with the key in %s failed",
                       m2m_esc(manifest_path, em, sizeof(em)), m2m_esc(key_path, ek, sizeof(ek)));
        goto end;
    }
    ok = m2m_write_atomic(sig_path, sig, siglen, 0644, "signature");
end:
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(pkey);
    OPENSSL_free(sig);
    OPENSSL_free(buf);
    OPENSSL_free(def_sig);
    return ok;
}

/* 1 and *version if the state file exists and is valid, 0 if absent, -1 on error. */
static int state_read(const char *path, uint64_t *version)
{
    unsigned char *buf;
    size_t len;
    int err;

    ERR_set_mark();
    if (m2m_read_file(path, MAX_STATE_BYTES, "rollback state file", &buf, &len) != 0) {
        err = errno;
        if (err == ENOENT) {
            ERR_pop_to_mark();
            return 0;
        }
        ERR_clear_last_mark();
        return -1;
    }
    ERR_clear_last_mark();
    if (!m2m_manifest_state_parse((const char *)buf, len, version))
        goto bad;
    OPENSSL_free(buf);
    return 1;
bad:
    OPENSSL_free(buf);
    {
        char ep[M2M_ESC_NAME];

        ERR_raise_data(ERR_LIB_USER, ERR_R_PASSED_INVALID_ARGUMENT,
                       "m2msec: rollback state file %s is malformed; refusing to guess",
                       m2m_esc(path, ep, sizeof(ep)));
    }
    return -1;
}

static int state_write(const char *path, uint64_t version)
{
    char text[96];
    int n = snprintf(text, sizeof(text), STATE_MAGIC "\nversion %" PRIu64 "\n", version);

    return m2m_write_atomic(path, text, (size_t)n, 0644, "rollback state file");
}

static m2msec_manifest_verdict accept_verdict(OSSL_LIB_CTX *libctx, const char *manifest_path,
                                              const char *sig_path, const char *pubkey_path,
                                              const char *rollback_state, uint64_t now,
                                              m2msec_manifest **out)
{
    m2msec_manifest_verdict v = M2MSEC_MANIFEST_ERROR;
    unsigned char *buf = NULL, *sig = NULL;
    size_t len = 0, siglen = 0;
    char *def_sig = NULL;
    /* the paths, escaped for messages */
    char em[M2M_ESC_NAME], es[M2M_ESC_NAME], ek[M2M_ESC_NAME], er[M2M_ESC_NAME];
    EVP_PKEY *pkey = NULL;
    EVP_MD_CTX *ctx = NULL;
    m2msec_manifest *m = NULL;
    enum key_kind kind;
    uint64_t stored = 0;
    int st;

    if (out != NULL)
        *out = NULL;
    if (manifest_path == NULL || out == NULL) {
        ERR_raise_data(ERR_LIB_USER, ERR_R_PASSED_NULL_PARAMETER,
                       "m2msec: NULL manifest path or output");
        return M2MSEC_MANIFEST_ERROR;
    }
    if (sig_path == NULL) {
        def_sig = with_sig_suffix(manifest_path);
        if (def_sig == NULL)
            return M2MSEC_MANIFEST_ERROR;
        sig_path = def_sig;
    }
    if (m2m_read_file(manifest_path, M2M_MANIFEST_MAX_BYTES, "manifest", &buf, &len) != 0)
        goto end;

    ERR_set_mark();
    if (m2m_read_file(sig_path, MAX_SIG_BYTES, "signature", &sig, &siglen) != 0) {
        if (errno == ENOENT) {
            ERR_pop_to_mark();
            ERR_raise_data(ERR_LIB_USER, ERR_R_OPERATION_FAIL,
                           "m2msec: manifest %s is not signed: no signature file %s",
                           m2m_esc(manifest_path, em, sizeof(em)),
                           m2m_esc(sig_path, es, sizeof(es)));
            v = M2MSEC_MANIFEST_UNSIGNED;
        } else if (errno == EFBIG) {
            ERR_clear_last_mark();
            ERR_raise_data(ERR_LIB_USER, ERR_R_OPERATION_FAIL,
                           "m2msec: signature %s of manifest %s is too large to be valid",
                           m2m_esc(sig_path, es, sizeof(es)),
                           m2m_esc(manifest_path, em, sizeof(em)));
            v = M2MSEC_MANIFEST_BAD_SIGNATURE;
        } else {
            ERR_clear_last_mark();
        }
        goto end;
    }
    ERR_clear_last_mark();

    pkey = load_pem_key(libctx, pubkey_path, 0);
    if (pkey == NULL)
        goto end;
    kind = key_kind(pkey, pubkey_path);
    if (kind == KEY_UNSUPPORTED)
        goto end;
    ctx = EVP_MD_CTX_new();
    if (ctx == NULL) {
        ERR_raise_data(ERR_LIB_USER, ERR_R_MALLOC_FAILURE, "m2msec: out of memory");
        goto end;
    }
    if (EVP_DigestVerifyInit_ex(ctx, NULL, kind == KEY_P256 ? "SHA256" : NULL, libctx, NULL, pkey,
                                NULL) != 1) {
        ERR_raise_data(ERR_LIB_USER, ERR_R_OPERATION_FAIL,
                       "m2msec: cannot set up signature verification with the key in %s",
                       m2m_esc(pubkey_path, ek, sizeof(ek)));
        goto end;
    }
    if (siglen == 0 || EVP_DigestVerify(ctx, sig, siglen, buf, len) != 1) {
        ERR_raise_data(ERR_LIB_USER, ERR_R_OPERATION_FAIL,
                       "m2msec: signature %s does not verify over manifest %s with the key in %s",
                       m2m_esc(sig_path, es, sizeof(es)), m2m_esc(manifest_path, em, sizeof(em)),
                       m2m_esc(pubkey_path, ek, sizeof(ek)));
        v = M2MSEC_MANIFEST_BAD_SIGNATURE;
        goto end;
    }

    /* authenticated: now the content may be looked at */
    m = m2msec_manifest_parse(buf, len);
    if (m == NULL) {
        ERR_raise_data(ERR_LIB_USER, ERR_R_PASSED_INVALID_ARGUMENT,
                       "m2msec: manifest %s is malformed", m2m_esc(manifest_path, em, sizeof(em)));
        v = M2MSEC_MANIFEST_MALFORMED;
        goto end;
    }
    if (m2msec_manifest_expires(m) <= now) {
        char te[ISO_MAX], tn[ISO_MAX];

        ERR_raise_data(ERR_LIB_USER, ERR_R_OPERATION_FAIL,
                       "m2msec: manifest %s expired at %" PRIu64 " %s (now %" PRIu64 " %s)",
                       m2m_esc(manifest_path, em, sizeof(em)), m2msec_manifest_expires(m),
                       iso_time(m2msec_manifest_expires(m), te), now, iso_time(now, tn));
        v = M2MSEC_MANIFEST_EXPIRED;
        goto end;
    }
    if (rollback_state != NULL) {
        st = state_read(rollback_state, &stored);
        if (st < 0)
            goto end;
        if (st > 0 && m2msec_manifest_version(m) < stored) {
            ERR_raise_data(ERR_LIB_USER, ERR_R_OPERATION_FAIL,
                           "m2msec: manifest %s version %" PRIu64
                           " is lower than the last accepted version %" PRIu64
                           " (rollback state %s)",
                           m2m_esc(manifest_path, em, sizeof(em)), m2msec_manifest_version(m),
                           stored, m2m_esc(rollback_state, er, sizeof(er)));
            v = M2MSEC_MANIFEST_ROLLBACK;
            goto end;
        }
        if ((st == 0 || m2msec_manifest_version(m) != stored) &&
            !state_write(rollback_state, m2msec_manifest_version(m)))
            goto end;
    }
    *out = m;
    m = NULL;
    v = M2MSEC_MANIFEST_OK;
end:
    if (v == M2MSEC_MANIFEST_ERROR)
        ERR_raise_data(ERR_LIB_USER, ERR_R_OPERATION_FAIL,
                       "m2msec: manifest %s could not be checked",
                       m2m_esc(manifest_path, em, sizeof(em)));
    m2msec_manifest_free(m);
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(pkey);
    OPENSSL_free(sig);
    OPENSSL_free(buf);
    OPENSSL_free(def_sig);
    return v;
}

int m2msec_manifest_accept(OSSL_LIB_CTX *libctx, const char *manifest_path, const char *sig_path,
                           const char *pubkey_path, const char *rollback_state, uint64_t now,
                           m2msec_manifest **out, m2msec_manifest_verdict *verdict)
{
    m2msec_manifest_verdict v =
        accept_verdict(libctx, manifest_path, sig_path, pubkey_path, rollback_state, now, out);

    if (verdict != NULL)
        *verdict = v;
    return v == M2MSEC_MANIFEST_OK;
}
