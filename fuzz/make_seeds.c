/* SPDX-License-Identifier: Apache-2.0 */
/*
 * make_seeds: writes the seed corpora of the fuzz harnesses.
 *
 *   fuzz/out/make_seeds CORPUS_DIR [POLICY_FILE...]
 *
 * fuzz/make_seeds.sh builds and runs it (with the policy examples taken
 * from docs/ and examples/) and is the way to regenerate fuzz/corpus/.
 * Each seed is one meaningful input in the format its harness documents:
 * the worked examples of docs/PROTOCOL.md for the KDFs, genuine records
 * of epochs 0, 1 and 2 (1 and 2 sealed by libm2msec senders, 0, which a
 * sender session never uses, by the record cipher itself), records made with the
 * stock AEADs for the record ciphers, canonical manifests with and without
 * valid signatures, and the policy files of the documentation. Everything
 * is deterministic except the ECDSA signatures (made at fuzz time anyway).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/pem.h>

#include <openssl/core_names.h>

#include "fuzz_common.h"
#include "m2msec/m2msec.h"
#include "m2msec/record.h"
#include "m2msec/session.h"
#include "test_keys.h"

static const char *outdir;
static OSSL_LIB_CTX *libctx;
static unsigned nseeds;

/* ------------------------------------------------------------------ */
/* Byte buffers                                                        */
/* ------------------------------------------------------------------ */

typedef struct {
    unsigned char p[65536];
    size_t n;
} buf;

static void b_put(buf *b, const void *d, size_t n)
{
    if (b->n + n > sizeof(b->p))
        fz_fail("seed too large");
    memcpy(b->p + b->n, d, n);
    b->n += n;
}

static void b_u8(buf *b, unsigned v)
{
    unsigned char c = (unsigned char)v;

    b_put(b, &c, 1);
}

static void b_be(buf *b, uint64_t v, int bytes)
{
    for (int i = bytes - 1; i >= 0; i--)
        b_u8(b, (unsigned)(v >> (8 * i)) & 0xff);
}

static void b_str(buf *b, const char *s)
{
    b_put(b, s, strlen(s));
}

static size_t unhex(const char *hex, unsigned char *out)
{
    size_t n = 0;

    for (; hex[0] != '\0' && hex[1] != '\0'; hex += 2) {
        unsigned v;

        if (sscanf(hex, "%2x", &v) != 1)
            fz_fail("bad hex %s", hex);
        out[n++] = (unsigned char)v;
    }
    return n;
}

static void write_seed(const char *harness, const char *name, const buf *b)
{
    char path[1024];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", outdir, harness);
    if (mkdir(path, 0755) != 0 && errno != EEXIST)
        fz_fail("mkdir %s: %s", path, strerror(errno));
    snprintf(path, sizeof(path), "%s/%s/%s", outdir, harness, name);
    f = fopen(path, "wb");
    if (f == NULL || fwrite(b->p, 1, b->n, f) != b->n || fclose(f) != 0)
        fz_fail("cannot write %s", path);
    nseeds++;
}

/* ------------------------------------------------------------------ */
/* fuzz_kdf_params: the worked examples of PROTOCOL.md sections 2-4    */
/* ------------------------------------------------------------------ */

enum { K_SESSION, K_ONEM2M, K_OSCORE };
static const char *const kdf_names[3] = {"M2M-SESSION-KDF", "ONEM2M-KDF", "OSCORE-KDF"};

/* One parameter: name, and value as "hex:..", "u:decimal", "i:decimal" or text. */
typedef struct {
    const char *name, *value;
} kparam;

static int name_index(int k, const char *name, int *type)
{
    EVP_KDF *kdf = EVP_KDF_fetch(libctx, kdf_names[k], "provider=m2msec");
    const OSSL_PARAM *s;
    int i = 0;

    if (kdf == NULL)
        fz_fail("cannot fetch %s", kdf_names[k]);
    for (s = EVP_KDF_settable_ctx_params(kdf); s->key != NULL; s++, i++)
        if (strcmp(s->key, name) == 0) {
            *type = (int)s->data_type;
            EVP_KDF_free(kdf);
            return i;
        }
    fz_fail("%s has no parameter %s", kdf_names[k], name);
}

static void enc_params(buf *b, int k, const kparam *ps, size_t n)
{
    b_u8(b, (unsigned)n);
    for (size_t i = 0; i < n; i++) {
        int type, idx = name_index(k, ps[i].name, &type);
        const char *v = ps[i].value;

        b_u8(b, (unsigned)idx);
        b_u8(b, 0); /* the parameter's own type */
        if (strncmp(v, "u:", 2) == 0) {
            uint64_t x = strtoull(v + 2, NULL, 10);

            b_u8(b, 0); /* natural width, native byte order */
            b_put(b, &x, sizeof(x));
        } else if (strncmp(v, "i:", 2) == 0) {
            int32_t x = (int32_t)strtol(v + 2, NULL, 10);

            b_u8(b, 0);
            b_put(b, &x, sizeof(x));
        } else if (strncmp(v, "hex:", 4) == 0) {
            unsigned char raw[256];
            size_t len = unhex(v + 4, raw);

            b_u8(b, (unsigned)len);
            b_put(b, raw, len);
        } else {
            b_u8(b, (unsigned)strlen(v));
            b_str(b, v);
        }
        (void)type;
    }
}

/* SET ops for all but the last (at most) 8 parameters, then DERIVE with those. */
static void enc_derive(buf *b, int k, const kparam *ps, size_t n, unsigned L)
{
    while (n > 8) {
        b_u8(b, 0);
        enc_params(b, k, ps, 8);
        ps += 8;
        n -= 8;
    }
    b_u8(b, 1);
    b_be(b, L, 2);
    enc_params(b, k, ps, n);
}

/* The status record prefix of the require_integrity policy (see fuzz_kdf_params.c). */
typedef struct {
    int mode; /* -1: not the integrity policy */
    int passed;
    const char *body;
} kstatus;

static void kdf_seed_pol(const char *name, int k, int pol, const kstatus *st, const kparam *ps,
                         size_t n, unsigned L, const char *tail)
{
    buf b = {.n = 0};

    b_u8(&b, (unsigned)(k + 3 * pol));
    if (pol == 2) {
        b_u8(&b, (unsigned)st->mode);
        if (st->mode & 2) {
            b_u8(&b, (unsigned)st->passed);
            b_be(&b, 5, 8);
            b_be(&b, 1767225600, 8);
        } else {
            b_u8(&b, (unsigned)strlen(st->body));
            b_str(&b, st->body);
        }
    }
    enc_derive(&b, k, ps, n, L);
    /* optional tail ops: e.g. "4" size, "3" dup then derive again */
    for (; tail != NULL && *tail != '\0'; tail++) {
        if (*tail == 'd') { /* derive again with no parameters */
            b_u8(&b, 1);
            b_be(&b, L, 2);
            b_u8(&b, 0);
        } else {
            b_u8(&b, (unsigned)(*tail - '0'));
        }
    }
    write_seed("fuzz_kdf_params", name, &b);
}

static void kdf_seed(const char *name, int k, const kparam *ps, size_t n, unsigned L,
                     const char *tail)
{
    kdf_seed_pol(name, k, 0, NULL, ps, n, L, tail);
}

#define N(a) (sizeof(a) / sizeof((a)[0]))

static void kdf_seeds(void)
{
    static const kparam minimal[] = {{"key", "hex:000102030405060708090a0b0c0d0e0f"},
                                     {"purpose", "record"},
                                     {"originator", "CAE01"},
                                     {"receiver", "CSE01"}};
    static const kparam ex2[] = {
        {"key", "hex:101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f"},
        {"salt", "hex:a0a1a2a3a4a5a6a7a8a9aaabacadaeaf"},
        {"digest", "SHA2-384"},
        {"purpose", "record"},
        {"originator", "CAE-thermo-17"},
        {"receiver", "MN-CSE-gw3"},
        {"epoch", "u:1"},
        {"not-before", "u:1767225600"},
        {"lifetime", "u:600"},
        {"aead", "M2M-REC-AES-256-GCM"},
        {"originator-nonce", "hex:b0b1b2b3b4b5b6b7b8b9babbbcbdbebf"},
        {"receiver-nonce", "hex:c0c1c2c3c4c5c6c7c8c9cacbcccdcecf"}};
    static const kparam ex3[] = {{"key", "hex:404142434445464748494a4b4c4d4e4f"},
                                 {"digest", "SHA2-256"},
                                 {"purpose", "record"},
                                 {"originator", "\xef\xbc\xa3\xef\xbc\xa1\xef\xbc\xa5\xef\xbc\x90"
                                                "\xef\xbc\x91"},
                                 {"receiver", "\xef\xac\x81"
                                              "eld-gw"},
                                 {"epoch", "u:7"},
                                 {"lifetime", "u:86400"}};
    static const kparam ex4[] = {
        {"key", "hex:606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f"},
        {"salt", "hex:"},
        {"digest", "SHA256"},
        {"purpose", "record"},
        {"originator", "CAE01"},
        {"receiver", "CSE01"},
        {"epoch", "u:3"},
        {"not-before", "u:1767225600"},
        {"lifetime", "u:86400"},
        {"receiver-nonce", "hex:d0d1d2d3d4d5d6d7d8d9dadbdcdddedf"}};
    static const kparam short_key[] = {{"key", "hex:000102030405060708090a0b0c0d0e"},
                                       {"purpose", "record"},
                                       {"originator", "CAE01"},
                                       {"receiver", "CSE01"}};
    static const kparam long_life[] = {{"key", "hex:000102030405060708090a0b0c0d0e0f"},
                                       {"purpose", "record"},
                                       {"originator", "CAE01"},
                                       {"receiver", "CSE01"},
                                       {"lifetime", "u:86401"}};
    static const kparam overflow[] = {{"key", "hex:000102030405060708090a0b0c0d0e0f"},
                                      {"purpose", "record"},
                                      {"originator", "CAE01"},
                                      {"receiver", "CSE01"},
                                      {"not-before", "u:18446744073709548016"}};
    static const kparam strict_aead[] = {
        {"key", "hex:101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f"},
        {"purpose", "record"},
        {"originator", "CAE01"},
        {"receiver", "CSE01"},
        {"aead", "m2m-rec-aes-256-gcm"}};
    static const kparam sha512[] = {{"key", "hex:000102030405060708090a0b0c0d0e0f"},
                                    {"digest", "sha512"},
                                    {"purpose", "record"},
                                    {"originator", "CAE01"},
                                    {"receiver", "CSE01"},
                                    {"not-before", "u:18446744073709548015"}};

#define KE "hex:202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f"
#define KPSA "hex:808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f"
#define E2ESALT "hex:e0e1e2e3e4e5e6e7e8e9eaebecedeeef"
    static const kparam km[] = {{"derivation", "km"}, {"key", KE}, {"maf-id", "maf01.example.org"}};
    static const kparam kpsa[] = {
        {"derivation", "kpsa"},
        {"key", KE},
        {"enrolee-id", "\xef\xbc\xa3\xef\xbc\xa1\xef\xbc\xa5\xef\xbc\x90\xef\xbc\x91"}};
    static const kparam usage[] = {{"derivation", "usage-key"},
                                   {"key", KE},
                                   {"suid", "u:1234"},
                                   {"target-id", "mn-cse.example.org"}};
    static const kparam e2e_master[] = {
        {"derivation", "e2e-master"}, {"key", KPSA}, {"salt", E2ESALT}};
    static const kparam e2e_master_nosalt[] = {{"derivation", "e2e-master"}, {"key", KPSA}};
    static const kparam e2e_ma[] = {
        {"derivation", "e2e-msg-auth"}, {"key", KPSA}, {"salt", E2ESALT}};
    static const kparam e2e_mc[] = {
        {"derivation", "e2e-msg-conf"}, {"key", KPSA}, {"salt", E2ESALT}};
    static const kparam e2e_aa[] = {
        {"derivation", "e2e-att-auth"}, {"key", KPSA}, {"salt", E2ESALT}};
    static const kparam e2e_ac[] = {
        {"derivation", "e2e-att-conf"}, {"key", KPSA}, {"salt", E2ESALT}};
    static const kparam esprim[] = {
        {"derivation", "esprim-session"},
        {"key", "hex:303132333435363738393a3b3c3d3e3f404142434445464748494a4b4c4d4e4f"},
        {"receiver-rand", "hex:909192939495969798999a9b9c9d9e9f"},
        {"originator-rand", "hex:a0a1a2a3a4a5a6a7a8a9aaabacadaeaf"}};

#define MS "hex:0102030405060708090a0b0c0d0e0f10"
#define SALT "hex:9e7ca92223786340"
#define IDCTX "hex:37cbf3210017a2d3"
    static const kparam c11s[] = {{"key", MS}, {"salt", SALT}, {"id", "hex:"}, {"type", "key"}};
    static const kparam c11r[] = {{"key", MS}, {"salt", SALT}, {"id", "hex:01"}, {"type", "key"}};
    static const kparam c11iv[] = {{"key", MS}, {"salt", SALT}, {"type", "iv"}};
    static const kparam c21s[] = {{"key", MS}, {"id", "hex:00"}, {"type", "key"}};
    static const kparam c21iv[] = {{"key", MS}, {"type", "iv"}};
    static const kparam c31s[] = {
        {"key", MS}, {"salt", SALT}, {"id", "hex:"}, {"id-context", IDCTX}, {"type", "key"}};
    static const kparam c31r[] = {
        {"key", MS}, {"salt", SALT}, {"id", "hex:01"}, {"id-context", IDCTX}, {"type", "key"}};
    static const kparam c31iv[] = {
        {"key", MS}, {"salt", SALT}, {"id-context", IDCTX}, {"type", "iv"}};
    static const kparam alg24[] = {
        {"key", MS}, {"salt", SALT}, {"id", "hex:01"}, {"type", "key"}, {"alg", "i:24"}};
    static const kparam algm7[] = {
        {"key", MS}, {"salt", SALT}, {"id", "hex:01"}, {"type", "key"}, {"alg", "i:-7"}};
    static const kparam iv_with_id[] = {{"key", MS}, {"id", "hex:01"}, {"type", "iv"}};

    kdf_seed("session-1-minimal", K_SESSION, minimal, N(minimal), 32, NULL);
    kdf_seed("session-1-minimal-size-dup-derive", K_SESSION, minimal, N(minimal), 32, "43d");
    kdf_seed("session-1-minimal-reset-derive", K_SESSION, minimal, N(minimal), 32, "2d");
    kdf_seed("session-2-salt-sha384-nonces", K_SESSION, ex2, N(ex2), 48, "4");
    kdf_seed("session-3-nfkc-identifiers", K_SESSION, ex3, N(ex3), 32, NULL);
    kdf_seed("session-4-two-blocks-empty-salt", K_SESSION, ex4, N(ex4), 44, NULL);
    kdf_seed("session-sha512-max-not-before", K_SESSION, sha512, N(sha512), 16320, NULL);
    kdf_seed("session-refused-short-key", K_SESSION, short_key, N(short_key), 32, NULL);
    kdf_seed("session-refused-lifetime", K_SESSION, long_life, N(long_life), 32, NULL);
    kdf_seed("session-refused-L0", K_SESSION, minimal, N(minimal), 0, NULL);
    kdf_seed("onem2m-km", K_ONEM2M, km, N(km), 32, NULL);
    kdf_seed("onem2m-kpsa-fullwidth", K_ONEM2M, kpsa, N(kpsa), 32, NULL);
    kdf_seed("onem2m-usage-key", K_ONEM2M, usage, N(usage), 16, NULL);
    kdf_seed("onem2m-e2e-master", K_ONEM2M, e2e_master, N(e2e_master), 32, NULL);
    kdf_seed("onem2m-e2e-master-no-salt", K_ONEM2M, e2e_master_nosalt, N(e2e_master_nosalt), 32,
             NULL);
    kdf_seed("onem2m-e2e-msg-auth", K_ONEM2M, e2e_ma, N(e2e_ma), 32, NULL);
    kdf_seed("onem2m-e2e-msg-conf", K_ONEM2M, e2e_mc, N(e2e_mc), 16, NULL);
    kdf_seed("onem2m-e2e-att-auth", K_ONEM2M, e2e_aa, N(e2e_aa), 32, NULL);
    kdf_seed("onem2m-e2e-att-conf", K_ONEM2M, e2e_ac, N(e2e_ac), 16, "3d");
    kdf_seed("onem2m-esprim-session", K_ONEM2M, esprim, N(esprim), 32, NULL);
    kdf_seed("onem2m-refused-L33", K_ONEM2M, km, N(km), 33, NULL);
    kdf_seed("oscore-c1-sender-key", K_OSCORE, c11s, N(c11s), 16, NULL);
    kdf_seed("oscore-c1-recipient-key", K_OSCORE, c11r, N(c11r), 16, NULL);
    kdf_seed("oscore-c1-common-iv", K_OSCORE, c11iv, N(c11iv), 13, "4");
    kdf_seed("oscore-c2-sender-key", K_OSCORE, c21s, N(c21s), 16, NULL);
    kdf_seed("oscore-c2-common-iv", K_OSCORE, c21iv, N(c21iv), 13, NULL);
    kdf_seed("oscore-c3-sender-key", K_OSCORE, c31s, N(c31s), 16, NULL);
    kdf_seed("oscore-c3-recipient-key", K_OSCORE, c31r, N(c31r), 16, NULL);
    kdf_seed("oscore-c3-common-iv", K_OSCORE, c31iv, N(c31iv), 13, NULL);
    kdf_seed("oscore-alg24-chacha", K_OSCORE, alg24, N(alg24), 32, NULL);
    kdf_seed("oscore-alg-minus7", K_OSCORE, algm7, N(algm7), 16, "2d");
    kdf_seed("oscore-refused-iv-with-id", K_OSCORE, iv_with_id, N(iv_with_id), 13, NULL);
    kdf_seed("session-refused-not-before-overflow", K_SESSION, overflow, N(overflow), 32, NULL);

    /* the strict policy: 256-bit keys, lifetime <= 3600, two aead labels */
    kdf_seed_pol("strict-session-2-ok", K_SESSION, 1, NULL, ex2, N(ex2), 48, NULL);
    kdf_seed_pol("strict-session-refused-short-key", K_SESSION, 1, NULL, minimal, N(minimal), 32,
                 NULL);
    kdf_seed_pol("strict-session-refused-aead", K_SESSION, 1, NULL, strict_aead, N(strict_aead), 32,
                 NULL);
    kdf_seed_pol("strict-onem2m-km", K_ONEM2M, 1, NULL, km, N(km), 32, NULL);
    kdf_seed_pol("strict-oscore-refused-short-key", K_OSCORE, 1, NULL, c11s, N(c11s), 16, NULL);

    /* require_integrity: the status record decides */
    {
        static const kstatus passed = {2, 1, NULL}, failed = {2, 0, NULL};
        static const kstatus body_mac = {1, 0,
                                         "m2msec-integrity-status 2\nresult passed\n"
                                         "manifest-version 7\ntime 1767225600\n"};
        static const kstatus forged = {
            0, 0,
            "m2msec-integrity-status 2\nresult passed\nmanifest-version 7\ntime 1767225600\n"
            "mac 0000000000000000000000000000000000000000000000000000000000000000\n"};

        kdf_seed_pol("integrity-session-passed", K_SESSION, 2, &passed, minimal, N(minimal), 32,
                     "d");
        kdf_seed_pol("integrity-session-failed", K_SESSION, 2, &failed, minimal, N(minimal), 32,
                     NULL);
        kdf_seed_pol("integrity-session-body-with-mac", K_SESSION, 2, &body_mac, minimal,
                     N(minimal), 32, NULL);
        kdf_seed_pol("integrity-session-forged", K_SESSION, 2, &forged, minimal, N(minimal), 32,
                     NULL);
        kdf_seed_pol("integrity-oscore-not-gated", K_OSCORE, 2, &failed, c11r, N(c11r), 16, NULL);
    }
}

/* ------------------------------------------------------------------ */
/* fuzz_record_decrypt                                                 */
/* ------------------------------------------------------------------ */

static void rec_header(buf *b, unsigned cfg, unsigned mask, const uint64_t *vals)
{
    unsigned char key[32], iv[12];

    for (int i = 0; i < 32; i++)
        key[i] = (unsigned char)(0x40 + i);
    for (int i = 0; i < 12; i++)
        iv[i] = (unsigned char)(0xa0 + i);
    b_u8(b, cfg);
    b_put(b, key, 32);
    b_put(b, iv, 12);
    b_u8(b, mask);
    if (mask & 1)
        b_be(b, vals[0], 8);
    if (mask & 2)
        b_be(b, vals[1], 2);
    if (mask & 4)
        b_be(b, vals[2], 2);
    if (mask & 8)
        b_be(b, vals[3], 4);
    if (mask & 16)
        b_be(b, vals[4], 2);
    if (mask & 32)
        b_be(b, vals[5], 8);
}

/* A record op: code (kind + style bits), seq given raw (u16 form), AAD, payload. */
static void rec_op(buf *b, unsigned code, unsigned seq, const char *aad, const char *body)
{
    b_u8(b, code);
    b_u8(b, 0xc0); /* seq spec: raw u16 */
    b_be(b, seq, 2);
    b_u8(b, (unsigned)strlen(aad));
    b_str(b, aad);
    b_u8(b, (unsigned)strlen(body));
    b_str(b, body);
}

static void rec_seeds(void)
{
    static const char *const names[5] = {"aes128gcm", "aes256gcm", "chacha", "ccm16", "ccm8"};
    static const unsigned cfgs[5] = {0, 1, 2, 3, 3 | 4};
    char name[128];

    for (int c = 0; c < 5; c++) {
        uint64_t v[6] = {0};
        buf b = {.n = 0};

        /* in order, with a replay and an old record; styles vary */
        rec_header(&b, cfgs[c], 0, v);
        rec_op(&b, 0x00, 0, "hdr0", "temperature=21.5");
        rec_op(&b, 0x04, 1, "", "");
        rec_op(&b, 0x08 | 0x10, 2, "split aad", "split data across updates");
        rec_op(&b, 0x20, 3, "late tag", "tag after the data");
        rec_op(&b, 0x00, 1, "", ""); /* replay */
        rec_op(&b, 0x00, 300, "jump", "beyond the window");
        rec_op(&b, 0x00, 10, "old", "now too old"); /* 300 - 10 >= 256 */
        b_u8(&b, 3);
        b_u8(&b, 0); /* read the counters */
        snprintf(name, sizeof(name), "%s-in-order-replay-old", names[c]);
        write_seed("fuzz_record_decrypt", name, &b);

        /* window of 64 set at init, limits after; forged and tampered records */
        b.n = 0;
        v[0] = 64;
        v[1] = 5;
        v[2] = 3;
        rec_header(&b, cfgs[c] | 8, 1 | 2 | 4, v);
        rec_op(&b, 0x00, 5, "a", "first");
        rec_op(&b, 0x01, 6, "b", "forged ciphertext");
        b_put(&b, "0123456789abcdef", c == 4 ? 8 : 16); /* forged tag (CCM-8: 8 bytes) */
        rec_op(&b, 0x02, 7, "c", "tampered");
        b_u8(&b, 1); /* flip the tag */
        b_u8(&b, 3);
        b_u8(&b, 0);
        rec_op(&b, 0x02, 8, "d", "tampered seq");
        b_u8(&b, 3); /* change the seq */
        b_u8(&b, 0);
        b_u8(&b, 0);
        rec_op(&b, 0x00, 70, "e", "moves the window");
        rec_op(&b, 0x00, 6, "f", "outside 64");
        b_u8(&b, 3);
        b_u8(&b, 1); /* replay-window after start: locked */
        b_be(&b, 100, 2);
        b_u8(&b, 3);
        b_u8(&b, 5); /* copy: refused */
        b_u8(&b, 3);
        b_u8(&b, 0);
        snprintf(name, sizeof(name), "%s-window64-limits-forged", names[c]);
        write_seed("fuzz_record_decrypt", name, &b);

        /* epoch and a byte limit; control operations before the first record */
        b.n = 0;
        memset(v, 0, sizeof(v));
        v[3] = 40;
        v[5] = 7;
        rec_header(&b, cfgs[c], 8 | 32, v);
        b_u8(&b, 3);
        b_u8(&b, 1);
        b_be(&b, 128, 2); /* window before start: allowed */
        b_u8(&b, 3);
        b_u8(&b, 3); /* new key before start: allowed */
        b_u8(&b, 3);
        b_u8(&b, 2); /* re-init without key */
        rec_op(&b, 0x00, 0, "epoch 7", "0123456789012345678901234567890123456789");
        rec_op(&b, 0x00, 1, "", "over the byte limit");
        b_u8(&b, 3);
        b_u8(&b, 3); /* new key after start: refused */
        b_u8(&b, 3);
        b_u8(&b, 4); /* data before seq */
        b_u8(&b, 3);
        b_u8(&b, 0);
        snprintf(name, sizeof(name), "%s-epoch-byte-limit-control", names[c]);
        write_seed("fuzz_record_decrypt", name, &b);

        /* API misuse inside records, between genuine ones */
        b.n = 0;
        memset(v, 0, sizeof(v));
        rec_header(&b, cfgs[c], 0, v);
        rec_op(&b, 0x00, 0, "before", "a genuine record");
        for (unsigned w = 6; w < 12; w++) {
            b_u8(&b, 3);
            b_u8(&b, w);
        }
        rec_op(&b, 0x00, 1, "after", "still accepted");
        b_u8(&b, 3);
        b_u8(&b, 0);
        snprintf(name, sizeof(name), "%s-misuse", names[c]);
        write_seed("fuzz_record_decrypt", name, &b);
    }
}

/* ------------------------------------------------------------------ */
/* fuzz_session_open: genuine records of epochs 0, 1, 2                */
/* ------------------------------------------------------------------ */

static int fixed_lock(void *arg, void **handle)
{
    *handle = arg;
    return 1;
}

static void fixed_unlock(void *arg, void *handle)
{
    (void)arg;
    (void)handle;
}

static int fixed_load(void *arg, void *handle, m2msec_session_state *st)
{
    const int64_t *before = arg;

    (void)handle;
    st->epoch = (uint64_t)*before;
    st->seq_floor = 0;
    return 1;
}

static int fixed_save(void *arg, void *handle, const m2msec_session_state *st)
{
    (void)arg;
    (void)handle;
    (void)st;
    return 1;
}

/* Must match fuzz_session_open.c. */
static const unsigned char service_key[32] = {0,  1,  2,  3,  4,  5,  6,  7,  8,  9,  10,
                                              11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21,
                                              22, 23, 24, 25, 26, 27, 28, 29, 30, 31};
static const char *const plaintexts[6] = {
    "temperature=21.5",
    "",
    "humidity=40",
    "x",
    "door=open;battery=87%;rssi=-71",
    "a somewhat longer reading, to cross a block boundary or two: 0123456789abcdef"};

typedef struct {
    unsigned char rec[128];
    size_t len;
} srec;

/* Epoch 0 (never used by a sender session) with the record cipher itself, as a sender would. */
static void seal_epoch0(const char *cipher, srec out[6])
{
    m2msec_session_key_spec spec = {0};
    unsigned char km[32 + 12];
    EVP_CIPHER *c = EVP_CIPHER_fetch(libctx, cipher, NULL);
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    size_t keylen = c != NULL ? (size_t)EVP_CIPHER_get_key_length(c) : 0;
    uint64_t epoch = 0;
    OSSL_PARAM p[2];

    spec.key = service_key;
    spec.key_len = sizeof(service_key);
    spec.purpose = "m2msec record";
    spec.originator = "device-1";
    spec.receiver = "gateway-1";
    spec.aead = cipher;
    p[0] = OSSL_PARAM_construct_uint64(M2MSEC_REC_PARAM_EPOCH, &epoch);
    p[1] = OSSL_PARAM_construct_end();
    if (ctx == NULL || keylen == 0 || keylen > 32 ||
        !m2msec_session_key_derive(libctx, &spec, km, keylen + 12) ||
        !EVP_EncryptInit_ex2(ctx, c, km, km + keylen, p))
        fz_fail("sender for %s epoch 0", cipher);
    for (int i = 0; i < 6; i++) {
        size_t n = strlen(plaintexts[i]);
        int outl = 0;
        OSSL_PARAM t[2];

        memset(out[i].rec, 0, 11);
        out[i].rec[0] = 1;
        out[i].rec[10] = (unsigned char)i;
        t[0] =
            OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, out[i].rec + 11 + n, 16);
        t[1] = OSSL_PARAM_construct_end();
        if (!EVP_EncryptUpdate(ctx, NULL, &outl, out[i].rec, 11) ||
            !EVP_EncryptUpdate(ctx, out[i].rec + 11, &outl, (const unsigned char *)plaintexts[i],
                               (int)n) ||
            !EVP_EncryptFinal_ex(ctx, out[i].rec + 11 + n, &outl) ||
            !EVP_CIPHER_CTX_get_params(ctx, t))
            fz_fail("seal");
        out[i].len = 11 + n + 16;
    }
    OPENSSL_cleanse(km, sizeof(km));
    EVP_CIPHER_CTX_free(ctx);
    EVP_CIPHER_free(c);
}

static void seal_epoch(const char *cipher, int epoch, srec out[6])
{
    int64_t before = epoch - 1;
    m2msec_store store = {fixed_lock, fixed_load,    fixed_save, fixed_unlock,
                          &before,    "fixed store", NULL};
    m2msec_session_policy pol = {0};
    m2msec_session_config cfg = {0};
    m2msec_session *s;

    if (epoch == 0) {
        seal_epoch0(cipher, out);
        return;
    }
    pol.aead = cipher;
    cfg.role = M2MSEC_SESSION_SENDER;
    cfg.libctx = libctx;
    cfg.key = service_key;
    cfg.key_len = sizeof(service_key);
    cfg.originator = "device-1";
    cfg.receiver = "gateway-1";
    cfg.policy = &pol;
    cfg.store = &store;
    s = m2msec_session_new(&cfg);
    if (s == NULL)
        fz_fail("sender for %s epoch %d", cipher, epoch);
    for (int i = 0; i < 6; i++)
        if (!m2msec_session_seal(s, (const unsigned char *)plaintexts[i], strlen(plaintexts[i]),
                                 out[i].rec, sizeof(out[i].rec), &out[i].len, NULL))
            fz_fail("seal");
    m2msec_session_free(s);
}

static void raw(buf *b, const srec *r)
{
    b_u8(b, 0);
    b_be(b, r->len, 2);
    b_put(b, r->rec, r->len);
}

static void session_seeds(void)
{
    static const char *const ciphers[4] = {M2MSEC_REC_AES_128_GCM, M2MSEC_REC_AES_256_GCM,
                                           M2MSEC_REC_CHACHA20_POLY1305, M2MSEC_REC_AES_128_CCM};
    static const char *const names[4] = {"aes128gcm", "aes256gcm", "chacha", "ccm"};
    char name[128];

    for (int c = 0; c < 4; c++) {
        srec r[3][6];
        buf b = {.n = 0};

        for (int e = 0; e < 3; e++)
            seal_epoch(ciphers[c], e, r[e]);

        /* the genuine records of epochs 0, 1, 2 in order, as raw bytes */
        b_u8(&b, (unsigned)c);
        for (int e = 0; e < 3; e++)
            for (int i = 0; i < 6; i++)
                raw(&b, &r[e][i]);
        snprintf(name, sizeof(name), "%s-epochs-0-1-2-in-order", names[c]);
        write_seed("fuzz_session_open", name, &b);

        /* out of order, replays, a late record of the previous epoch, a stale one */
        b.n = 0;
        b_u8(&b, (unsigned)c | (1u << 2)); /* window 64 */
        raw(&b, &r[0][2]);
        raw(&b, &r[0][0]);
        raw(&b, &r[0][2]); /* replay */
        raw(&b, &r[1][1]); /* re-key to epoch 1 */
        raw(&b, &r[0][3]); /* late, previous epoch, in grace */
        raw(&b, &r[2][0]); /* epoch 2: epoch 0 becomes stale */
        raw(&b, &r[0][4]); /* stale epoch */
        raw(&b, &r[1][4]); /* previous epoch */
        raw(&b, &r[2][0]); /* replay */
        snprintf(name, sizeof(name), "%s-reorder-replay-rekey-stale", names[c]);
        write_seed("fuzz_session_open", name, &b);

        /* restarts: clean and crash, with the floor step 1 */
        b.n = 0;
        b_u8(&b, (unsigned)c | (1u << 4));
        raw(&b, &r[1][0]);
        raw(&b, &r[1][1]);
        b_u8(&b, 4);       /* clean restart */
        raw(&b, &r[1][1]); /* refused: below the floor */
        raw(&b, &r[1][2]);
        b_u8(&b, 5); /* crash restart */
        raw(&b, &r[1][2]);
        raw(&b, &r[1][3]);
        b_u8(&b, 6);
        b_u8(&b, 1); /* the next save fails */
        raw(&b, &r[2][0]);
        raw(&b, &r[2][0]); /* retried after the storage failure */
        snprintf(name, sizeof(name), "%s-restarts-storage-failure", names[c]);
        write_seed("fuzz_session_open", name, &b);

        /* a preloaded store, sealed records by index, flips, cuts, rewritten headers */
        b.n = 0;
        b_u8(&b, (unsigned)c | 0x40 | 0x80); /* store (epoch 1, floor 2), max_records 3 */
        b_u8(&b, 1);
        b_u8(&b, 2);
        for (unsigned i = 6; i < 12; i++) {
            b_u8(&b, 1);
            b_u8(&b, i);
        }
        b_u8(&b, 2); /* flip */
        b_u8(&b, 13);
        b_be(&b, 20, 2);
        b_u8(&b, 3);
        b_u8(&b, 3); /* cut */
        b_u8(&b, 14);
        b_u8(&b, 20);
        b_u8(&b, 7); /* rewritten header */
        b_u8(&b, 15);
        b_be(&b, 2, 4);
        b_be(&b, 5, 2);
        b_u8(&b, 1 | 8); /* output buffer too small */
        b_u8(&b, 16);
        snprintf(name, sizeof(name), "%s-preloaded-store-index-mutations", names[c]);
        write_seed("fuzz_session_open", name, &b);
    }
    /* the worked example of PROTOCOL.md 6.6 is AES-128-GCM; also a short junk record */
    {
        buf b = {.n = 0};

        b_u8(&b, 0);
        b_u8(&b, 0);
        b_be(&b, 11, 2);
        b_put(&b, "\x01\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00", 11);
        write_seed("fuzz_session_open", "malformed-short", &b);
    }
}

/* ------------------------------------------------------------------ */
/* fuzz_manifest                                                       */
/* ------------------------------------------------------------------ */

static const char *const manifests[][2] = {
    {"protocol-example-sha256",
     "# m2msec-manifest 1\n# version 5\n# expires 4102444800\n# digest SHA256\n"
     "# meta 0755 6 bin/app\n"
     "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03  bin/app\n"
     "# meta 0644 12 etc/conf\n"
     "3bd7a6f9202118567af8e248586423967fbfc4ce8f31e9094ee0135362f3eaad  etc/conf\n"},
    {"no-meta-sha256",
     "# m2msec-manifest 1\n# version 5\n# expires 4102444800\n# digest SHA256\n"
     "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03  bin/app\n"
     "3bd7a6f9202118567af8e248586423967fbfc4ce8f31e9094ee0135362f3eaad  etc/conf\n"},
    {"protocol-example-sha384",
     "# m2msec-manifest 1\n# version 5\n# expires 4102444800\n# digest SHA384\n"
     "# meta 0755 6 bin/app\n"
     "1d0f284efe3edea4b9ca3bd514fa134b17eae361ccc7a1eefeff801b9bd6604e01f21f6bf249ef030599f0c2"
     "18f2ba8c  bin/app\n"
     "# meta 0644 12 etc/conf\n"
     "86fa9ffd4104aab58326fb08b15e433fe8a68814a403bc20e046fd04c67e3a987d3ab8862097118819165bdb"
     "afd74e4e  etc/conf\n"},
    {"sha512-partial-meta",
     "# m2msec-manifest 1\n# version 0\n# expires 18446744073709551615\n# digest SHA512\n"
     "# meta - 0 empty\n"
     "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2"
     "877eec2f63b931bd47417a81a538327af927da3e  empty\n"
     "# meta 4755 - sbin/tool\n"
     "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
     "0000000000000000000000000000000000000000  sbin/tool\n"},
    {"empty-list", "# m2msec-manifest 1\n# version 1\n# expires 1767225601\n# digest SHA256\n"},
    {"paths-spaces-utf8-star",
     "# m2msec-manifest 1\n# version 9223372036854775807\n# expires 4102444800\n"
     "# digest SHA256\n"
     "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855  *lead star\n"
     "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855  a-c\n"
     "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855  a/b\n"
     "# meta 0600 9223372036854775807 d\xc3\xa9j\xc3\xa0 vu/\xe2\x82\xac uro\n"
     "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855  d\xc3\xa9j\xc3\xa0 "
     "vu/\xe2\x82\xac uro\n"},
    {"refused-dot-component",
     "# m2msec-manifest 1\n# version 5\n# expires 4102444800\n# digest SHA256\n"
     "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03  bin/./app\n"},
    {"refused-dotdot-component",
     "# m2msec-manifest 1\n# version 5\n# expires 4102444800\n# digest SHA256\n"
     "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03  ../etc/passwd\n"},
    {"refused-control-char",
     "# m2msec-manifest 1\n# version 5\n# expires 4102444800\n# digest SHA256\n"
     "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03  bin/\xc2\x85"
     "app\n"},
    {"refused-overlong-utf8",
     "# m2msec-manifest 1\n# version 5\n# expires 4102444800\n# digest SHA256\n"
     "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03  bin\xc0\xaf"
     "app\n"},
    {"refused-uppercase-hex",
     "# m2msec-manifest 1\n# version 5\n# expires 4102444800\n# digest SHA256\n"
     "5891B5B522D5DF086D0FF0B110FBD9D21BB4FC7163AF34D08286A2E846F6BE03  bin/app\n"},
    {"refused-meta-path-differs",
     "# m2msec-manifest 1\n# version 5\n# expires 4102444800\n# digest SHA256\n"
     "# meta 0755 6 bin/other\n"
     "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03  bin/app\n"},
    {"refused-leading-zero-version",
     "# m2msec-manifest 1\n# version 05\n# expires 4102444800\n# digest SHA256\n"},
    {"refused-version-overflow",
     "# m2msec-manifest 1\n# version 18446744073709551616\n# expires 4102444800\n"
     "# digest SHA256\n"},
    {"refused-unsorted",
     "# m2msec-manifest 1\n# version 5\n# expires 4102444800\n# digest SHA256\n"
     "3bd7a6f9202118567af8e248586423967fbfc4ce8f31e9094ee0135362f3eaad  etc/conf\n"
     "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03  bin/app\n"},
};

static void man_seed(const char *name, unsigned mode, const char *sig_hex_or_null,
                     const char *state, uint64_t now, const char *text)
{
    buf b = {.n = 0};

    b_u8(&b, mode);
    if (mode & 1) {
        unsigned char sig[256];
        size_t siglen = 0;

        if (sig_hex_or_null != NULL)
            siglen = unhex(sig_hex_or_null, sig);
        b_u8(&b, (unsigned)siglen);
        b_put(&b, sig, siglen);
        b_u8(&b, (unsigned)strlen(state));
        b_str(&b, state);
        b_be(&b, now, 8);
    }
    b_str(&b, text);
    write_seed("fuzz_manifest", name, &b);
}

static void ed25519_sig_hex(const char *text, char *hex)
{
    BIO *bio = BIO_new_mem_buf(test_ed25519_priv, -1);
    EVP_PKEY *k = PEM_read_bio_PrivateKey_ex(bio, NULL, NULL, NULL, libctx, NULL);
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    unsigned char sig[64];
    size_t siglen = sizeof(sig);

    if (k == NULL || c == NULL ||
        EVP_DigestSignInit_ex(c, NULL, NULL, libctx, NULL, k, NULL) != 1 ||
        EVP_DigestSign(c, sig, &siglen, (const unsigned char *)text, strlen(text)) != 1)
        fz_fail("Ed25519 signing failed");
    for (size_t i = 0; i < siglen; i++)
        sprintf(hex + 2 * i, "%02x", sig[i]);
    EVP_MD_CTX_free(c);
    EVP_PKEY_free(k);
    BIO_free(bio);
}

static void manifest_seeds(void)
{
    static const char state6[] = "m2msec-manifest-state 1\nversion 6\n";
    static const char state5[] = "m2msec-manifest-state 1\nversion 5\n";
    static const char state4[] = "m2msec-manifest-state 1\nversion 4\n";
    static const char state_bad[] = "m2msec-manifest-state 1\nversion 05\n";
    const uint64_t now = 1767225600; /* 2026-01-01 */
    char name[128], hex[200];

    for (size_t i = 0; i < N(manifests); i++) {
        const char *text = manifests[i][1];

        snprintf(name, sizeof(name), "parse-%s", manifests[i][0]);
        man_seed(name, 0, NULL, "", 0, text);
    }
    /* acceptance of the PROTOCOL.md example: every verdict */
    {
        const char *text = manifests[0][1];

        ed25519_sig_hex(text, hex);
        man_seed("open-ed25519-embedded-sig-ok", 1 | 8, hex, state4, now, text);
        man_seed("open-ed25519-ok-same-version", 1 | 2 | 8, NULL, state5, now, text);
        man_seed("open-ed25519-rollback", 1 | 2 | 8, NULL, state6, now, text);
        man_seed("open-ed25519-bad-state", 1 | 2 | 8, NULL, state_bad, now, text);
        man_seed("open-ed25519-no-state", 1 | 2, NULL, "", now, text);
        man_seed("open-ed25519-expired", 1 | 2, NULL, "", 4102444800u, text);
        man_seed("open-ed25519-bad-signature", 1, "00112233", "", now, text);
        man_seed("open-unsigned", 1 | 32, NULL, "", now, text);
        man_seed("open-p256-signed-ok", 1 | 2 | 4 | 8, NULL, state4, now, text);
        man_seed("open-p256-manifest-sign", 1 | 4 | 16, NULL, "", now, text);
        man_seed("open-ed25519-manifest-sign", 1 | 16, NULL, "", now, text);
    }
    man_seed("open-ed25519-malformed", 1 | 2, NULL, "", now, manifests[N(manifests) - 1][1]);
    man_seed("sign-refuses-malformed", 1 | 16, NULL, "", now, manifests[N(manifests) - 1][1]);
    ed25519_sig_hex(manifests[3][1], hex);
    man_seed("open-sha512-embedded-sig", 1, hex, "", now, manifests[3][1]);
}

/* ------------------------------------------------------------------ */
/* fuzz_policy                                                         */
/* ------------------------------------------------------------------ */

static const char integrity_policy[] =
    "# device policy: integrity rules and the provider's [session] section\n"
    "[integrity]\n"
    "default_action = quarantine\n"
    "quarantine_dir = /var/lib/m2msec/quarantine\n"
    "log = /var/log/m2msec/actions.log\n"
    "repository = https://updates.example.com/device/v1\n"
    "\n"
    "[rules]\n"
    "bin/* = deny\n"
    "etc/*.conf = remediate\n"
    "*.log = alert\n"
    "lib/lib?.so* = quarantine\n"
    "\n"
    "[session]\n"
    "max_lifetime = 3600\n"
    "min_key_bits = 256\n"
    "replay_window = 1024\n"
    "allowed_aeads = M2M-REC-AES-256-GCM, M2M-REC-CHACHA20-POLY1305\n";

static const char integrity_dir_repo[] = "[integrity]\n"
                                         "default_action = remediate\n"
                                         "quarantine_dir = /var/lib/m2msec/q\n"
                                         "repository = /srv/m2msec/repo\n"
                                         "[rules]\n"
                                         "etc/* = alert\n"
                                         "etc/passwd = deny\n"
                                         "[session]\n"
                                         "require_integrity = yes\n"
                                         "integrity_status = /var/lib/m2msec/status\n";

/* Typos the one strict reader refuses (docs/POLICY.md 1.4, issue 9.6). */
static const char *const policy_typos[][2] = {
    {"typo-section-sesion", "[sesion]\nmax_lifetime = 600\n"},
    {"typo-section-rule", "[integrity]\ndefault_action = alert\n[rule]\nbin/* = deny\n"},
    {"typo-key-session", "[session]\nmax_lifetme = 60\n"},
    {"typo-cross-section", "[integrity]\nrules::bin/* = alert\n[rules]\nbin/* = deny\n"},
    {"typo-include", "[rules]\nbin/* = deny\n.include /etc/m2msec/other.cnf\n"},
    {"typo-variable", "[session]\nmax_lifetime = $ENV::HOME\n"},
    {"typo-relative-path", "[session]\nintegrity_status = status\n"},
    {"exec-section", "[integrity]\ndefault_action = deny\n[exec.bin/app]\nrequires = lib/a.so\n"},
};

static const char policy_refused[] = "[integrity]\n"
                                     "default_action = remediate\n"
                                     "[rules]\n"
                                     "bin/* = deny\n"
                                     "bin/* = alert\n"
                                     "[session]\n"
                                     "max_lifetime = 0x10\n";

/*
 * mode, mask, the seven values (NULL: absent), one more line of the
 * openssl.cnf section (NULL: none), device key text, file content
 */
static void pol_seed_x(const char *name, unsigned mode, const char *const vals[7],
                       const char *extra, const char *key, const char *text, size_t textlen)
{
    buf b = {.n = 0};
    unsigned mask = extra != NULL ? 0x80u : 0;

    for (int i = 0; i < 7; i++)
        if (vals[i] != NULL)
            mask |= 1u << i;
    b_u8(&b, mode);
    b_u8(&b, mask);
    for (int i = 0; i < 7; i++)
        if (vals[i] != NULL) {
            b_u8(&b, (unsigned)strlen(vals[i]));
            b_str(&b, vals[i]);
        }
    if (extra != NULL) {
        b_u8(&b, (unsigned)strlen(extra));
        b_str(&b, extra);
    }
    b_u8(&b, (unsigned)strlen(key));
    b_str(&b, key);
    b_put(&b, text, textlen);
    write_seed("fuzz_policy", name, &b);
}

static void pol_seed(const char *name, unsigned mode, const char *const vals[7], const char *key,
                     const char *text, size_t textlen)
{
    pol_seed_x(name, mode, vals, NULL, key, text, textlen);
}

static void policy_seeds(int nfiles, char **files)
{
    static const char *const none[7] = {NULL};
    static const char *const example[7] = {"86400", "128", "256", NULL, NULL, NULL, NULL};
    static const char *const all4[7] = {
        NULL,
        NULL,
        NULL,
        "M2M-REC-AES-128-GCM, M2M-REC-AES-256-GCM, M2M-REC-CHACHA20-POLY1305, M2M-REC-AES-128-CCM",
        NULL,
        NULL,
        NULL};
    static const char *const integ[7] = {
        NULL, NULL, NULL, NULL, "yes", "/var/lib/m2msec/status", "device.key"};
    static const char *const bad[7] = {"-1", "120", "63", "AES-128-GCM", "maybe", NULL, NULL};
    static const char key32[] =
        "000102030405060708090a0b0c0d0e0f\n101112131415161718191a1b1c1d1e1f\n";
    char name[256];

    pol_seed("integrity-rules-session", 2, example, "", integrity_policy,
             sizeof(integrity_policy) - 1);
    pol_seed("integrity-dir-repository-require", 2 | 4 | 8, integ, key32, integrity_dir_repo,
             sizeof(integrity_dir_repo) - 1);
    pol_seed("refused-duplicate-rule", 2, none, "", policy_refused, sizeof(policy_refused) - 1);
    pol_seed("config-section-only", 0, example, "", "", 0);
    pol_seed("config-all-aeads", 0, all4, "", "", 0);
    pol_seed("config-require-integrity-key", 4 | 8, integ, key32, "", 0);
    pol_seed("config-require-integrity-no-state", 4, integ, key32, "", 0);
    pol_seed("config-short-device-key", 4 | 8, integ, "0011", "", 0);
    pol_seed_x("config-typo-key", 0, example, "max_lifetme = 60", "", "", 0);
    pol_seed_x("config-relative-policy", 0, none, "policy = policy.cnf", "", "", 0);
    pol_seed_x("config-variable", 0, none, "max_lifetime = $ENV::HOME", "", "", 0);
    for (size_t i = 0; i < sizeof(policy_typos) / sizeof(policy_typos[0]); i++)
        pol_seed(policy_typos[i][0], 2, none, "", policy_typos[i][1], strlen(policy_typos[i][1]));
    pol_seed("config-bad-values", 0, bad, "", "", 0);
    pol_seed("no-config-section", 1, example, "", integrity_policy, sizeof(integrity_policy) - 1);
    for (int i = 0; i < nfiles; i++) {
        size_t len;
        unsigned char *text = fz_read_file(files[i], &len);
        const char *base = strrchr(files[i], '/');

        if (text == NULL)
            fz_fail("cannot read %s", files[i]);
        snprintf(name, sizeof(name), "file-%s", base != NULL ? base + 1 : files[i]);
        pol_seed(name, 2, example, "", (const char *)text, len);
        free(text);
    }
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s CORPUS_DIR [POLICY_FILE...]\n", argv[0]);
        return 2;
    }
    outdir = argv[1];
    if (mkdir(outdir, 0755) != 0 && errno != EEXIST)
        fz_fail("mkdir %s: %s", outdir, strerror(errno));
    libctx = fz_libctx_new(1);
    kdf_seeds();
    rec_seeds();
    session_seeds();
    manifest_seeds();
    policy_seeds(argc - 2, argv + 2);
    printf("make_seeds: %u seeds in %s\n", nseeds, outdir);
    OSSL_LIB_CTX_free(libctx);
    return 0;
}
