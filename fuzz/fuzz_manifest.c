/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_manifest: the integrity manifest parser, serialiser and acceptance
 * (docs/PROTOCOL.md section 7, include/m2msec/integrity.h).
 *
 * Input:
 *   u8 mode: bit 0 also run m2msec_manifest_accept on the text
 *            bit 1 sign the text correctly (else use the fuzzer's bytes)
 *            bit 2 ECDSA P-256 key (else Ed25519)
 *            bit 3 a rollback state file with fuzzer content
 *            bit 4 sign with m2msec_manifest_sign (refuses invalid text)
 *            bit 5 no signature file at all
 *   with bit 0: u8 length + signature bytes, u8 length + state file bytes,
 *               u64 now
 *   the rest: the manifest text
 *
 * Checks, besides the sanitizers:
 *   - for every text the parser accepts, serialize(parse(text)) == text, the
 *     re-parsed manifest equals the first one, the same entries added one by
 *     one in reverse order serialise to the same text, entries are sorted
 *     and unique, and m2msec_manifest_find finds each of them;
 *   - m2msec_manifest_accept gives exactly the verdict that the documented
 *     checks give in their order (signature file, signature verified
 *     independently with the public key, syntax, expiry, rollback state),
 *     returns a manifest only with OK, rewrites the state file only on OK
 *     and then with the canonical text, and leaves it untouched otherwise;
 *   - m2msec_manifest_sign signs exactly the texts the parser accepts, and
 *     its signature verifies.
 * Files live in a per-process temporary directory.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "fuzz_common.h"
#include "m2msec/integrity.h"
#include "test_keys.h"

static OSSL_LIB_CTX *libctx;
static EVP_PKEY *priv[2], *pub[2];
static char p_manifest[600], p_sig[600], p_state[600], p_priv[2][600], p_pub[2][600];

static EVP_PKEY *load_key(const char *pem, int is_private)
{
    BIO *b = BIO_new_mem_buf(pem, -1);
    EVP_PKEY *k = is_private ? PEM_read_bio_PrivateKey_ex(b, NULL, NULL, NULL, libctx, NULL)
                             : PEM_read_bio_PUBKEY_ex(b, NULL, NULL, NULL, libctx, NULL);

    BIO_free(b);
    if (k == NULL)
        fz_fail("cannot read a test key");
    return k;
}

static void entries_equal(const m2msec_manifest *a, const m2msec_manifest *b, const char *what)
{
    FZ_CHECK(m2msec_manifest_version(a) == m2msec_manifest_version(b) &&
                 m2msec_manifest_expires(a) == m2msec_manifest_expires(b) &&
                 strcmp(m2msec_manifest_digest(a), m2msec_manifest_digest(b)) == 0 &&
                 m2msec_manifest_count(a) == m2msec_manifest_count(b),
             "%s: headers or counts differ", what);
    for (size_t i = 0; i < m2msec_manifest_count(a); i++) {
        const m2msec_manifest_entry *x = m2msec_manifest_entry_at(a, i),
                                    *y = m2msec_manifest_entry_at(b, i);

        FZ_CHECK(x != NULL && y != NULL && strcmp(x->path, y->path) == 0 &&
                     x->digest_len == y->digest_len &&
                     memcmp(x->digest, y->digest, x->digest_len) == 0 && x->size == y->size &&
                     x->mode == y->mode,
                 "%s: entry %zu differs", what, i);
    }
}

static void check_parsed(const m2msec_manifest *m, const uint8_t *text, size_t len)
{
    unsigned char *s = NULL, *s3 = NULL;
    size_t slen = 0, s3len = 0, n = m2msec_manifest_count(m);
    m2msec_manifest *m2, *m3;

    FZ_CHECK(m2msec_manifest_serialize(m, &s, &slen), "serialising a parsed manifest failed");
    FZ_CHECK(slen == len && memcmp(s, text, len) == 0,
             "serialize(parse(text)) != text (%zu vs %zu bytes)", slen, len);
    m2 = m2msec_manifest_parse(s, slen);
    FZ_CHECK(m2 != NULL, "the serialised manifest does not parse");
    entries_equal(m, m2, "parse(serialize(m))");
    m2msec_manifest_free(m2);

    for (size_t i = 0; i < n; i++) {
        const m2msec_manifest_entry *e = m2msec_manifest_entry_at(m, i);

        FZ_CHECK(e->digest_len == 32 || e->digest_len == 48 || e->digest_len == 64,
                 "digest length %zu", e->digest_len);
        FZ_CHECK(e->size >= -1 && e->mode >= -1 && e->mode <= 07777, "bad size or mode");
        if (i > 0)
            FZ_CHECK(strcmp(m2msec_manifest_entry_at(m, i - 1)->path, e->path) < 0,
                     "entries not sorted and unique at %zu", i);
        FZ_CHECK(m2msec_manifest_find(m, e->path) == e, "find(%s) misses", e->path);
    }
    /* The same entries added in reverse order give the same text. */
    m3 = m2msec_manifest_new(m2msec_manifest_digest(m), m2msec_manifest_version(m),
                             m2msec_manifest_expires(m));
    FZ_CHECK(m3 != NULL, "manifest_new failed");
    for (size_t i = n; i-- > 0;)
        FZ_CHECK(m2msec_manifest_add(m3, m2msec_manifest_entry_at(m, i)),
                 "adding a parsed entry failed");
    FZ_CHECK(m2msec_manifest_serialize(m3, &s3, &s3len) && s3len == len &&
                 memcmp(s3, text, len) == 0,
             "a manifest built entry by entry serialises differently");
    m2msec_manifest_free(m3);
    OPENSSL_free(s);
    OPENSSL_free(s3);
}

static int sign_bytes(int p256, const uint8_t *text, size_t len, unsigned char *sig, size_t *siglen)
{
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    int ok = c != NULL &&
             EVP_DigestSignInit_ex(c, NULL, p256 ? "SHA256" : NULL, libctx, NULL, priv[p256],
                                   NULL) == 1 &&
             EVP_DigestSign(c, sig, siglen, text, len) == 1;

    EVP_MD_CTX_free(c);
    return ok;
}

static int verify_bytes(int p256, const uint8_t *text, size_t len, const unsigned char *sig,
                        size_t siglen)
{
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    int ok = c != NULL && siglen > 0 &&
             EVP_DigestVerifyInit_ex(c, NULL, p256 ? "SHA256" : NULL, libctx, NULL, pub[p256],
                                     NULL) == 1 &&
             EVP_DigestVerify(c, sig, siglen, text, len) == 1;

    EVP_MD_CTX_free(c);
    ERR_clear_error();
    return ok;
}

/* The rollback state file as docs/PROTOCOL.md 7.3 defines it: 1 valid, 0 malformed. */
static int parse_state(const unsigned char *b, size_t len, uint64_t *v)
{
    static const char prefix[] = "m2msec-manifest-state 1\nversion ";
    size_t pl = sizeof(prefix) - 1, i;
    uint64_t x = 0;

    if (len < pl + 2 || memcmp(b, prefix, pl) != 0 || b[len - 1] != '\n')
        return 0;
    if (b[pl] == '0' && len != pl + 2)
        return 0;
    for (i = pl; i < len - 1; i++) {
        if (b[i] < '0' || b[i] > '9' || x > (UINT64_MAX - (uint64_t)(b[i] - '0')) / 10)
            return 0;
        x = x * 10 + (uint64_t)(b[i] - '0');
    }
    *v = x;
    return 1;
}

static void check_open(fz_in *in, uint8_t mode, const uint8_t *text, size_t len,
                       const m2msec_manifest *parsed)
{
    int p256 = (mode >> 2) & 1, have_sig = !(mode & 32), have_state = (mode >> 3) & 1;
    unsigned char sig[4096], *before = NULL, *after = NULL;
    size_t siglen = 0, got, statelen, blen = 0, alen = 0;
    const uint8_t *fsig = fz_bytes(in, fz_u8(in), &got), *state;
    uint64_t now, stored = 0;
    m2msec_manifest *out = NULL;
    m2msec_manifest_verdict v = M2MSEC_MANIFEST_ERROR, want;
    int ok;
    int state_ok = 0;

    memcpy(sig, fsig, got);
    siglen = got;
    state = fz_bytes(in, fz_u8(in), &statelen);
    now = fz_u64(in);

    fz_write_file(p_manifest, text, len);
    unlink(p_sig);
    if (have_sig) {
        if (mode & 16) {
            int ok = m2msec_manifest_sign(libctx, p_manifest, p_priv[p256], NULL);

            FZ_CHECK(ok == (parsed != NULL), "manifest_sign returned %d for a text that %s", ok,
                     parsed != NULL ? "parses" : "does not parse");
            FZ_CHECK(ok || access(p_sig, F_OK) != 0, "a failed manifest_sign left a signature");
            ERR_clear_error();
            if (ok) {
                unsigned char *s = fz_read_file(p_sig, &siglen);

                FZ_CHECK(s != NULL && siglen <= sizeof(sig), "cannot read the signature");
                memcpy(sig, s, siglen);
                free(s);
                FZ_CHECK(verify_bytes(p256, text, len, sig, siglen),
                         "manifest_sign made a signature that does not verify");
            } else {
                have_sig = 0;
            }
        } else {
            if (mode & 2) {
                siglen = sizeof(sig);
                FZ_CHECK(sign_bytes(p256, text, len, sig, &siglen), "signing failed");
            }
            fz_write_file(p_sig, sig, siglen);
        }
    }
    unlink(p_state);
    if (have_state) {
        fz_write_file(p_state, state, statelen);
        state_ok = parse_state(state, statelen, &stored);
        before = fz_read_file(p_state, &blen);
    }

    /* The verdict, from the documented checks in their order. */
    if (!have_sig)
        want = M2MSEC_MANIFEST_UNSIGNED;
    else if (!verify_bytes(p256, text, len, sig, siglen))
        want = M2MSEC_MANIFEST_BAD_SIGNATURE;
    else if (parsed == NULL)
        want = M2MSEC_MANIFEST_MALFORMED;
    else if (m2msec_manifest_expires(parsed) <= now)
        want = M2MSEC_MANIFEST_EXPIRED;
    else if (have_state && !state_ok)
        want = M2MSEC_MANIFEST_ERROR;
    else if (have_state && m2msec_manifest_version(parsed) < stored)
        want = M2MSEC_MANIFEST_ROLLBACK;
    else
        want = M2MSEC_MANIFEST_OK;

    ok = m2msec_manifest_accept(libctx, p_manifest, NULL, p_pub[p256], p_state, now, &out, &v);
    FZ_CHECK(ok == (v == M2MSEC_MANIFEST_OK) && (ok || ERR_peek_error() != 0),
             "manifest_accept: return value %d, verdict %d, error queue", ok, (int)v);
    fz_stat(m2msec_manifest_verdict_text(v));
    FZ_CHECK(v == want, "manifest_accept: verdict %d (%s), expected %d (%s)", (int)v,
             m2msec_manifest_verdict_text(v), (int)want, m2msec_manifest_verdict_text(want));
    FZ_CHECK((v == M2MSEC_MANIFEST_OK) == (out != NULL), "manifest_accept: verdict %d, manifest %p",
             (int)v, (void *)out);
    after = fz_read_file(p_state, &alen);
    if (v == M2MSEC_MANIFEST_OK) {
        char canon[96];
        int n = snprintf(canon, sizeof(canon), "m2msec-manifest-state 1\nversion %" PRIu64 "\n",
                         m2msec_manifest_version(parsed));

        entries_equal(out, parsed, "manifest_accept");
        FZ_CHECK(after != NULL && alen == (size_t)n && memcmp(after, canon, alen) == 0,
                 "the state file after an accepted manifest is not the canonical text");
    } else if (have_state) {
        FZ_CHECK(after != NULL && alen == blen && memcmp(after, before, blen) == 0,
                 "a refused manifest changed the state file");
    } else {
        FZ_CHECK(after == NULL, "a refused manifest created the state file");
    }
    m2msec_manifest_free(out);
    free(before);
    free(after);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    static const char *const privs[2] = {test_ed25519_priv, test_p256_priv};
    static const char *const pubs[2] = {test_ed25519_pub, test_p256_pub};
    static const char *const names[2] = {"ed25519", "p256"};

    (void)argc;
    (void)argv;
    libctx = OSSL_LIB_CTX_new(); /* the manifest code needs only the default provider */
    if (libctx == NULL)
        fz_fail("out of memory");
    fz_tmppath(p_manifest, sizeof(p_manifest), "MANIFEST");
    fz_tmppath(p_sig, sizeof(p_sig), "MANIFEST.sig");
    fz_tmppath(p_state, sizeof(p_state), "state");
    for (int i = 0; i < 2; i++) {
        char n[32];

        priv[i] = load_key(privs[i], 1);
        pub[i] = load_key(pubs[i], 0);
        snprintf(n, sizeof(n), "%s.pem", names[i]);
        fz_tmppath(p_priv[i], sizeof(p_priv[i]), n);
        fz_write_file(p_priv[i], privs[i], strlen(privs[i]));
        snprintf(n, sizeof(n), "%s.pub", names[i]);
        fz_tmppath(p_pub[i], sizeof(p_pub[i]), n);
        fz_write_file(p_pub[i], pubs[i], strlen(pubs[i]));
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_in in = {data, size};
    uint8_t mode = fz_u8(&in);
    fz_in opts = in;
    const uint8_t *text;
    size_t len;
    m2msec_manifest *m;

    if (mode & 1) {
        /* skip the options to find the text; check_open reads them again */
        size_t got;

        fz_bytes(&in, fz_u8(&in), &got);
        fz_bytes(&in, fz_u8(&in), &got);
        fz_u64(&in);
    }
    text = fz_rest(&in, &len);
    m = m2msec_manifest_parse(text, len);
    fz_stat(m != NULL ? "parsed" : "refused by the parser");
    if (m != NULL)
        check_parsed(m, text, len);
    ERR_clear_error();
    if (mode & 1)
        check_open(&opts, mode, text, len, m);
    m2msec_manifest_free(m);
    fz_errors("end");
    return 0;
}
