/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_kdf_params: random parameter sets through the three m2msec KDFs.
 *
 * Input:
 *   u8 selector: mod 3 the KDF (M2M-SESSION-KDF, ONEM2M-KDF, OSCORE-KDF),
 *      (selector / 3) mod 3 the provider's policy: the defaults; a strict
 *      one (max_lifetime 3600, min_key_bits 256, allowed_aeads
 *      M2M-REC-AES-256-GCM and M2M-REC-CHACHA20-POLY1305); or
 *      require_integrity with a status record and a device key
 *   with require_integrity, the status record: u8 mode, u8 length, bytes:
 *      mode bit 1: a canonical record (bytes: passed flag, version, time)
 *      with a valid MAC (an even time t stands for "now - (t/2 mod 7200)",
 *      so that fresh and stale records both occur; an odd one is taken as
 *      it is); else the bytes as they are, with (bit 0) a valid "mac" line
 *      appended
 *   then up to 16 operations on one EVP_KDF_CTX, each an opcode byte (mod 5):
 *     0 set:    params                  -> EVP_KDF_CTX_set_params
 *     1 derive: u16 L (mod 20000), params -> EVP_KDF_derive
 *     2 reset                           -> EVP_KDF_CTX_reset
 *     3 dup                             -> EVP_KDF_CTX_dup, continue on the copy
 *     4 size                            -> EVP_KDF_CTX_get_kdf_size (and "digest")
 *   params = u8 count (mod 9), then per parameter:
 *     u8 name: < 0xf0 one of the settable names of the KDF or a few others
 *              (digest, properties, size, info, ...); else u8 len + bytes
 *     u8 type: < 0xa0 the settable type of that name; else (mod 5) utf8
 *              string, octet string, unsigned, signed, real
 *     value:   strings: u8 len, bytes; len 255 means u16 n, u8 k, k pattern
 *              bytes repeated to 2n bytes (reaches the 64 KiB field limits);
 *              integers: u8 width (mod 5: natural, 1, 2, 4, 8... ), bytes
 *
 * Checks, besides the sanitizers:
 *   - a failed derive leaves the output all zero (PROTOCOL.md 1.4);
 *   - every UTF-8 parameter is read by its data_size (582df15): a set or a
 *     derive in which the parameter a KDF reads for one of its settable
 *     names (the first of that name; other names are ignored, as OpenSSL
 *     does) is a UTF-8 string with a NUL byte inside its data_size is
 *     refused, whatever the name (identifiers, digest, derivation, type,
 *     or a name that wants another type);
 *   - a successful derive only happens with a parameter set that the
 *     documentation allows (key >= 16 bytes, required parameters present,
 *     L in range, lifetime within policy, field limits, ...), every
 *     parameter it consumed having a type its getter accepts;
 *   - a successful derive gives exactly the bytes of the formulas of
 *     docs/PROTOCOL.md sections 2-4, recomputed here with OpenSSL's HMAC
 *     from the default provider (identifiers normalised with utf8proc);
 *   - the size parameter matches the digest;
 *   - the policy holds: key length, lifetime and aead label (exact name)
 *     under the strict policy; with require_integrity a key is derived
 *     only from the exact canonical status record (765083b: five lines,
 *     single spaces, decimals without sign or leading zero that fit 64
 *     bits, lowercase hex MAC; format 2) whose MAC verifies, that says
 *     "result passed", is at most max_status_age (3600 s) old and not in
 *     the future, for a manifest version at least the state's (3), and
 *     such a record (built by the harness or by raw fuzzer bytes that
 *     happen to be canonical) never makes a derivation fail with "device
 *     integrity not verified" (nor does anything without require_integrity);
 *     a record within 2 s of an age limit is not judged (the clock moves).
 * The harness tracks what the context holds after every successful call;
 * after a failed one the state is unknown until the next reset.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <utf8proc.h>

#include "fuzz_common.h"
#include "m2msec/errors.h"
#include "m2msec/names.h"

enum { K_SESSION, K_ONEM2M, K_OSCORE, K_COUNT };
static const char *const kdf_names[K_COUNT] = {M2MSEC_KDF_SESSION, M2MSEC_KDF_ONEM2M,
                                               M2MSEC_KDF_OSCORE};

#define MAX_NAMES 24
#define MAX_PARAMS 8
enum { P_DEFAULT, P_STRICT, P_INTEGRITY, P_COUNT };
static const size_t min_key[P_COUNT] = {16, 32, 16}; /* min_key_bits / 8 */
static const uint64_t max_lifetime[P_COUNT] = {86400, 3600, 86400};
static const char strict_cnf[] = "openssl_conf = init\n"
                                 "[init]\n"
                                 "providers = providers\n"
                                 "[providers]\n"
                                 "default = default_sect\n"
                                 "m2msec = m2msec_sect\n"
                                 "[default_sect]\n"
                                 "activate = 1\n"
                                 "[m2msec_sect]\n"
                                 "activate = 1\n"
                                 "max_lifetime = 3600\n"
                                 "min_key_bits = 256\n"
                                 "allowed_aeads = M2M-REC-AES-256-GCM, M2M-REC-CHACHA20-POLY1305\n";
static const unsigned char device_key[32] = {
    0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f,
    0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28, 0x29, 0x2a, 0x2b, 0x2c, 0x2d, 0x2e, 0x2f};
static char p_status[600];

static OSSL_LIB_CTX *libctx[P_COUNT];
static EVP_KDF *kdfs[P_COUNT][K_COUNT];
static EVP_MAC *ref_hmac;
/* Names a parameter can take: the settable ones first, then a few more. */
static const char *names[K_COUNT][MAX_NAMES];
static int name_type[K_COUNT][MAX_NAMES];
static size_t n_names[K_COUNT], n_settable[K_COUNT];

static const char *const extra_names[] = {"digest", "properties", "size", "info", "mode",
                                          "key",    "salt",       "",     "seed", "Key"};

/* ------------------------------------------------------------------ */
/* The model: what the context holds                                   */
/* ------------------------------------------------------------------ */

typedef struct {
    int set;
    unsigned char *b; /* octets, or normalised identifier, or the name's bytes (+ NUL) */
    size_t len;
    uint64_t u;
    int32_t i;
} mval;

typedef struct {
    int known; /* 0 after a failed call, until reset */
    mval v[MAX_NAMES];
} model;

static void model_reset(model *m)
{
    for (size_t i = 0; i < MAX_NAMES; i++) {
        free(m->v[i].b);
        memset(&m->v[i], 0, sizeof(m->v[i]));
    }
    m->known = 1;
}

static int idx_of(int k, const char *name)
{
    for (size_t i = 0; i < n_settable[k]; i++)
        if (strcmp(names[k][i], name) == 0)
            return (int)i;
    fz_fail("%s has no settable parameter '%s'", kdf_names[k], name);
}

static const mval *get(const model *m, int k, const char *name)
{
    return &m->v[idx_of(k, name)];
}

static int is_identifier(int k, const char *name)
{
    static const char *const ids[] = {M2MSEC_KDF_PARAM_PURPOSE,  M2MSEC_KDF_PARAM_ORIGINATOR,
                                      M2MSEC_KDF_PARAM_RECEIVER, M2MSEC_KDF_PARAM_AEAD,
                                      M2MSEC_KDF_PARAM_MAF_ID,   M2MSEC_KDF_PARAM_ENROLEE_ID,
                                      M2MSEC_KDF_PARAM_TARGET_ID};

    (void)k;
    for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++)
        if (strcmp(name, ids[i]) == 0)
            return 1;
    return 0;
}

static int md_size(const char *name)
{
    static const char *const n256[] = {"SHA2-256", "SHA-256", "SHA256"};
    static const char *const n384[] = {"SHA2-384", "SHA-384", "SHA384"};
    static const char *const n512[] = {"SHA2-512", "SHA-512", "SHA512"};

    for (int i = 0; i < 3; i++) {
        if (strcasecmp(name, n256[i]) == 0)
            return 32;
        if (strcasecmp(name, n384[i]) == 0)
            return 48;
        if (strcasecmp(name, n512[i]) == 0)
            return 64;
    }
    return 0;
}

static const char *const derivations[] = {
    M2MSEC_ONEM2M_KM,           M2MSEC_ONEM2M_KPSA,         M2MSEC_ONEM2M_USAGE_KEY,
    M2MSEC_ONEM2M_E2E_MASTER,   M2MSEC_ONEM2M_E2E_MSG_AUTH, M2MSEC_ONEM2M_E2E_MSG_CONF,
    M2MSEC_ONEM2M_E2E_ATT_AUTH, M2MSEC_ONEM2M_E2E_ATT_CONF, M2MSEC_ONEM2M_ESPRIM_SESSION};

static int derivation_index(const char *s)
{
    for (int i = 0; i < 9; i++)
        if (strcmp(s, derivations[i]) == 0)
            return i;
    return -1;
}

/*
 * NFKC as PROTOCOL.md 1.2 states it; returns a malloc'ed copy (NULL for
 * invalid UTF-8). The provider uses the same library: this is a mirror, not
 * an independent oracle; the oracle is what is built from the result.
 */
static unsigned char *nfkc(const unsigned char *s, size_t len, size_t *outlen)
{
    utf8proc_uint8_t *mapped = NULL;
    utf8proc_ssize_t n;
    int ascii = 1;

    for (size_t i = 0; i < len; i++)
        if (s[i] >= 0x80)
            ascii = 0;
    if (ascii) {
        unsigned char *c = malloc(len + 1);

        memcpy(c, s, len);
        *outlen = len;
        return c;
    }
    n = utf8proc_map(s, (utf8proc_ssize_t)len, &mapped,
                     UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_COMPAT);
    if (n < 0)
        return NULL;
    *outlen = (size_t)n;
    return mapped;
}

/*
 * After a successful call: the first parameter of each settable name was
 * applied. Every parameter consumed must have had an acceptable type and
 * value (otherwise the call should have failed).
 */
static void model_apply(model *m, int k, const OSSL_PARAM *params)
{
    for (size_t i = 0; i < n_settable[k]; i++) {
        const char *name = names[k][i];
        const OSSL_PARAM *p = OSSL_PARAM_locate_const(params, name);
        mval nv = {0};

        if (p == NULL)
            continue;
        nv.set = 1;
        switch (name_type[k][i]) {
        case OSSL_PARAM_OCTET_STRING: {
            const void *v = NULL;
            size_t len = 0;

            FZ_CHECK(OSSL_PARAM_get_octet_string_ptr(p, &v, &len),
                     "%s accepted '%s' of type %u as an octet string", kdf_names[k], name,
                     p->data_type);
            nv.b = malloc(len + 1);
            if (len > 0)
                memcpy(nv.b, v, len);
            nv.len = len;
            break;
        }
        case OSSL_PARAM_UTF8_STRING: {
            const char *s = NULL;

            FZ_CHECK(OSSL_PARAM_get_utf8_string_ptr(p, &s), "%s accepted '%s' of type %u as UTF-8",
                     kdf_names[k], name, p->data_type);
            if (is_identifier(k, name)) {
                FZ_CHECK(memchr(s, 0, p->data_size) == NULL,
                         "%s accepted identifier '%s' with a NUL byte", kdf_names[k], name);
                nv.b = nfkc((const unsigned char *)s, p->data_size, &nv.len);
                FZ_CHECK(nv.b != NULL, "%s accepted identifier '%s' that is not valid UTF-8",
                         kdf_names[k], name);
                FZ_CHECK(nv.len > 0, "%s accepted an empty identifier '%s'", kdf_names[k], name);
            } else {
                /*
                 * Names (digest, derivation, type) are read by data_size, not
                 * as C strings: 'iv\0junk' is refused, never taken as 'iv'.
                 * With no NUL inside, the copy below is also a C string.
                 */
                FZ_CHECK(memchr(s, 0, p->data_size) == NULL,
                         "%s accepted '%s' with a NUL byte inside its data_size %zu", kdf_names[k],
                         name, p->data_size);
                nv.len = p->data_size;
                nv.b = malloc(nv.len + 1);
                memcpy(nv.b, s, nv.len);
                nv.b[nv.len] = 0;
                if (strcmp(name, OSSL_KDF_PARAM_DIGEST) == 0)
                    FZ_CHECK(md_size(s) != 0, "accepted digest '%s'", s);
                if (strcmp(name, M2MSEC_KDF_PARAM_DERIVATION) == 0)
                    FZ_CHECK(derivation_index(s) >= 0, "accepted derivation '%s'", s);
                if (strcmp(name, M2MSEC_KDF_PARAM_TYPE) == 0)
                    FZ_CHECK(strcmp(s, "key") == 0 || strcmp(s, "iv") == 0, "accepted type '%s'",
                             s);
            }
            break;
        }
        case OSSL_PARAM_UNSIGNED_INTEGER:
            FZ_CHECK(OSSL_PARAM_get_uint64(p, &nv.u), "%s accepted '%s' that is not a uint64",
                     kdf_names[k], name);
            break;
        case OSSL_PARAM_INTEGER:
            FZ_CHECK(OSSL_PARAM_get_int32(p, &nv.i), "%s accepted '%s' that is not an int32",
                     kdf_names[k], name);
            break;
        default:
            fz_fail("unexpected settable type %d", name_type[k][i]);
        }
        free(m->v[i].b);
        m->v[i] = nv;
    }
}

/*
 * The settable name whose parameter (the first of that name in params, the
 * one the KDF reads) is a UTF-8 string with a NUL byte inside its
 * data_size, or NULL if there is none. A call given such a parameter must
 * be refused ("invalid UTF-8" when it is a string parameter, a type error
 * otherwise).
 */
static const char *embedded_nul(int k, const OSSL_PARAM *params)
{
    for (size_t i = 0; i < n_settable[k]; i++) {
        const OSSL_PARAM *p = OSSL_PARAM_locate_const(params, names[k][i]);

        if (p != NULL && p->data_type == OSSL_PARAM_UTF8_STRING && p->data != NULL &&
            memchr(p->data, 0, p->data_size) != NULL)
            return names[k][i];
    }
    return NULL;
}

/* ------------------------------------------------------------------ */
/* Reference computations (docs/PROTOCOL.md), OpenSSL HMAC underneath   */
/* ------------------------------------------------------------------ */

typedef struct {
    const unsigned char *p;
    size_t n;
} part;

static void ref_mac(const char *md, const unsigned char *key, size_t keylen, const part *parts,
                    size_t nparts, unsigned char *out)
{
    static const unsigned char zero[64];
    EVP_MAC_CTX *c = EVP_MAC_CTX_new(ref_hmac);
    OSSL_PARAM p[2];
    size_t outl = 0;

    p[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)md, 0);
    p[1] = OSSL_PARAM_construct_end();
    /* An empty HMAC key is the same as an all-zero one (PROTOCOL.md 1.1). */
    if (keylen == 0) {
        key = zero;
        keylen = 32;
    }
    if (c == NULL || !EVP_MAC_init(c, key, keylen, p))
        fz_fail("reference HMAC-%s init failed", md);
    for (size_t i = 0; i < nparts; i++)
        if (parts[i].n > 0 && !EVP_MAC_update(c, parts[i].p, parts[i].n))
            fz_fail("reference HMAC update failed");
    if (!EVP_MAC_final(c, out, &outl, 64))
        fz_fail("reference HMAC final failed");
    EVP_MAC_CTX_free(c);
}

/* RFC 5869, written out. */
static void ref_hkdf(const char *md, size_t hlen, const unsigned char *salt, size_t saltlen,
                     const unsigned char *ikm, size_t ikmlen, const unsigned char *info,
                     size_t infolen, unsigned char *out, size_t L)
{
    unsigned char prk[64], t[64];
    size_t done = 0, tlen = 0;
    unsigned char i = 0;
    part pp[1] = {{ikm, ikmlen}};

    ref_mac(md, salt, saltlen, pp, 1, prk);
    while (done < L) {
        part ep[3] = {{t, tlen}, {info, infolen}, {&i, 1}};
        size_t n;

        i++;
        ref_mac(md, prk, hlen, ep, 3, t);
        tlen = hlen;
        n = L - done < hlen ? L - done : hlen;
        memcpy(out + done, t, n);
        done += n;
    }
}

typedef struct {
    unsigned char *p;
    size_t n, cap;
} buf;

static void put(buf *b, const void *d, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
    }
    if (n > 0)
        memcpy(b->p + b->n, d, n);
    b->n += n;
}

static void put_be(buf *b, uint64_t v, int bytes)
{
    unsigned char t[8];

    for (int i = 0; i < bytes; i++)
        t[i] = (unsigned char)(v >> (8 * (bytes - 1 - i)));
    put(b, t, (size_t)bytes);
}

static void put_lp(buf *b, const unsigned char *d, size_t n)
{
    put_be(b, n, 2);
    put(b, d, n);
}

static void cbor_head(buf *b, unsigned major, uint64_t v)
{
    unsigned char h = (unsigned char)(major << 5);

    if (v < 24) {
        h |= (unsigned char)v;
        put(b, &h, 1);
    } else if (v <= 0xff) {
        h |= 24;
        put(b, &h, 1);
        put_be(b, v, 1);
    } else if (v <= 0xffff) {
        h |= 25;
        put(b, &h, 1);
        put_be(b, v, 2);
    } else if (v <= 0xffffffffu) {
        h |= 26;
        put(b, &h, 1);
        put_be(b, v, 4);
    } else {
        h |= 27;
        put(b, &h, 1);
        put_be(b, v, 8);
    }
}

static const char *canonical_md(int size)
{
    return size == 48 ? "SHA2-384" : size == 64 ? "SHA2-512" : "SHA2-256";
}

/* The gate's limits in the P_INTEGRITY configuration (max_status_age default, state file). */
#define GATE_MAX_AGE 3600u
#define GATE_STATE_VERSION 3u

/* What the status record of this input is (P_INTEGRITY). */
static struct {
    int canonical_passed; /* the exact canonical record, valid MAC, result passed, fresh, new */
    int uncertain;        /* its time is within 2 s of a limit: not judged */
    int mac_valid;        /* the harness appended a valid mac line */
} status;

static int aead_allowed_strict(const mval *ae)
{
    static const char a[] = M2MSEC_REC_AES_256_GCM, c[] = M2MSEC_REC_CHACHA20_POLY1305;

    return ae->set && ((ae->len == sizeof(a) - 1 && memcmp(ae->b, a, ae->len) == 0) ||
                       (ae->len == sizeof(c) - 1 && memcmp(ae->b, c, ae->len) == 0));
}

/*
 * Check a successful derivation of L bytes (out) against the documented
 * refusals and, when the state is known, against the formulas.
 */
static void check_success(const model *m, int k, int pol, const unsigned char *out, size_t L)
{
    const mval *key = get(m, k, OSSL_KDF_PARAM_KEY), *salt = get(m, k, OSSL_KDF_PARAM_SALT);
    unsigned char *want = NULL;

    if (pol == P_INTEGRITY && k == K_SESSION)
        FZ_CHECK(status.canonical_passed || status.uncertain,
                 "M2M-SESSION-KDF derived with a status record that is forged, not passed or "
                 "not in the canonical form");
    if (!m->known)
        return;
    FZ_CHECK(key->set, "%s derived without a key", kdf_names[k]);
    FZ_CHECK(key->len >= min_key[pol], "%s derived with a %zu-byte key (policy minimum %zu)",
             kdf_names[k], key->len, min_key[pol]);
    want = malloc(L + 1);

    if (k == K_SESSION) {
        const mval *dg = get(m, k, OSSL_KDF_PARAM_DIGEST),
                   *pu = get(m, k, M2MSEC_KDF_PARAM_PURPOSE),
                   *orig = get(m, k, M2MSEC_KDF_PARAM_ORIGINATOR),
                   *re = get(m, k, M2MSEC_KDF_PARAM_RECEIVER),
                   *ep = get(m, k, M2MSEC_KDF_PARAM_EPOCH),
                   *nb = get(m, k, M2MSEC_KDF_PARAM_NOT_BEFORE),
                   *lt = get(m, k, M2MSEC_KDF_PARAM_LIFETIME),
                   *ae = get(m, k, M2MSEC_KDF_PARAM_AEAD),
                   *on = get(m, k, M2MSEC_KDF_PARAM_ORIGINATOR_NONCE),
                   *rn = get(m, k, M2MSEC_KDF_PARAM_RECEIVER_NONCE);
        int hlen = dg->set ? md_size((const char *)dg->b) : 32;
        uint64_t lifetime = lt->set ? lt->u : 3600, not_before = nb->set ? nb->u : 0;
        static const char label[] = "m2msec session key v1", daead[] = M2MSEC_REC_AES_128_GCM;
        buf info = {0};

        FZ_CHECK(pu->set && orig->set && re->set, "M2M-SESSION-KDF derived without purpose, "
                                                  "originator or receiver");
        FZ_CHECK(pu->len <= 65535 && orig->len <= 65535 && re->len <= 65535 &&
                     (!ae->set || ae->len <= 65535) && (!on->set || on->len <= 65535) &&
                     (!rn->set || rn->len <= 65535),
                 "M2M-SESSION-KDF derived with a field longer than 65535 bytes");
        FZ_CHECK(lifetime >= 1 && lifetime <= max_lifetime[pol],
                 "M2M-SESSION-KDF derived with lifetime %llu", (unsigned long long)lifetime);
        FZ_CHECK(pol != P_STRICT || aead_allowed_strict(ae),
                 "M2M-SESSION-KDF derived with an aead label that the policy does not allow");
        FZ_CHECK(not_before <= UINT64_MAX - lifetime,
                 "M2M-SESSION-KDF derived with not-before + lifetime beyond 64 bits");
        FZ_CHECK(L >= 1 && L <= 255 * (size_t)hlen, "M2M-SESSION-KDF derived L = %zu", L);
        put_lp(&info, (const unsigned char *)label, sizeof(label) - 1);
        put_lp(&info, pu->b, pu->len);
        put_lp(&info, orig->b, orig->len);
        put_lp(&info, re->b, re->len);
        put_be(&info, ep->set ? ep->u : 0, 8);
        put_be(&info, not_before, 8);
        put_be(&info, lifetime, 8);
        if (ae->set)
            put_lp(&info, ae->b, ae->len);
        else
            put_lp(&info, (const unsigned char *)daead, sizeof(daead) - 1);
        put_be(&info, L, 4);
        put_lp(&info, on->set ? on->b : NULL, on->set ? on->len : 0);
        put_lp(&info, rn->set ? rn->b : NULL, rn->set ? rn->len : 0);
        ref_hkdf(canonical_md(hlen), (size_t)hlen, salt->set ? salt->b : NULL,
                 salt->set ? salt->len : 0, key->b, key->len, info.p, info.n, want, L);
        free(info.p);
    } else if (k == K_ONEM2M) {
        const mval *dv = get(m, k, M2MSEC_KDF_PARAM_DERIVATION);
        int d;
        unsigned char r[32], master[32];

        FZ_CHECK(dv->set, "ONEM2M-KDF derived without a derivation");
        FZ_CHECK(L >= 1 && L <= 32, "ONEM2M-KDF derived L = %zu", L);
        d = derivation_index((const char *)dv->b);
        if (d == 0 || d == 1) {
            static const char km[] = "oneM2M Enrolment Key to Master Credential derivation";
            static const char kpsa[] =
                "oneM2M Enrolment Key to Provisioned Secure Connection Key derivation";
            const mval *id =
                get(m, k, d == 0 ? M2MSEC_KDF_PARAM_MAF_ID : M2MSEC_KDF_PARAM_ENROLEE_ID);
            part pp[2] = {{(const unsigned char *)(d == 0 ? km : kpsa),
                           d == 0 ? sizeof(km) - 1 : sizeof(kpsa) - 1},
                          {id->b, id->len}};

            FZ_CHECK(id->set, "ONEM2M-KDF %s derived without its identifier", derivations[d]);
            ref_mac("SHA256", key->b, key->len, pp, 2, r);
        } else if (d == 2) {
            static const char lab[] =
                "oneM2M Enrolment Key to Usage-Constrained Symmetric Key derivation";
            const mval *su = get(m, k, M2MSEC_KDF_PARAM_SUID),
                       *tg = get(m, k, M2MSEC_KDF_PARAM_TARGET_ID);
            char dec[24];
            part pp[3];

            FZ_CHECK(su->set && tg->set, "ONEM2M-KDF usage-key derived without suid/target-id");
            snprintf(dec, sizeof(dec), "%llu", (unsigned long long)su->u);
            pp[0] = (part){(const unsigned char *)lab, sizeof(lab) - 1};
            pp[1] = (part){(const unsigned char *)dec, strlen(dec)};
            pp[2] = (part){tg->b, tg->len};
            ref_mac("SHA256", key->b, key->len, pp, 3, r);
        } else if (d >= 3 && d <= 7) {
            static const char *const labels[4] = {
                "E2E Message Authentication Key", "E2E Message Confidentiality Key",
                "E2E Attribute Authenticity Key", "E2E Attribute Confidentiality Key"};
            part pp[1] = {{key->b, key->len}};

            ref_mac("SHA256", salt->set ? salt->b : NULL, salt->set ? salt->len : 0, pp, 1, master);
            memcpy(r, master, 32);
            for (int n = 1; n <= d - 3; n++) {
                unsigned char octet = (unsigned char)n;
                part tp[3] = {{r, n == 1 ? 0 : 32},
                              {(const unsigned char *)labels[n - 1], strlen(labels[n - 1])},
                              {&octet, 1}};

                ref_mac("SHA256", master, 32, tp, 3, r);
            }
        } else {
            static const char lab[] = "oneM2M HMAC-SHA256 sessionESPrimKey derivation algorithm";
            const mval *rr = get(m, k, M2MSEC_KDF_PARAM_RECEIVER_RAND),
                       *orr = get(m, k, M2MSEC_KDF_PARAM_ORIGINATOR_RAND);
            part pp[3];

            FZ_CHECK(rr->set && orr->set, "ONEM2M-KDF esprim-session derived without randoms");
            pp[0] = (part){rr->b, rr->len};
            pp[1] = (part){orr->b, orr->len};
            pp[2] = (part){(const unsigned char *)lab, sizeof(lab) - 1};
            ref_mac("SHA256", key->b, key->len, pp, 3, r);
        }
        memcpy(want, r, L);
    } else {
        const mval *ty = get(m, k, M2MSEC_KDF_PARAM_TYPE), *id = get(m, k, M2MSEC_KDF_PARAM_ID),
                   *ic = get(m, k, M2MSEC_KDF_PARAM_ID_CONTEXT),
                   *al = get(m, k, M2MSEC_KDF_PARAM_ALG);
        int iv;
        int32_t alg = al->set ? al->i : 10;
        buf info = {0};

        FZ_CHECK(ty->set, "OSCORE-KDF derived without a type");
        iv = strcmp((const char *)ty->b, "iv") == 0;
        FZ_CHECK(iv || id->set, "OSCORE-KDF derived a key without an id");
        FZ_CHECK(!iv || !id->set || id->len == 0, "OSCORE-KDF derived an IV with a non-empty id");
        FZ_CHECK((!id->set || id->len <= 4096) && (!ic->set || ic->len <= 4096),
                 "OSCORE-KDF derived with an id or id-context over 4096 bytes");
        FZ_CHECK(L >= 1 && L <= 8160, "OSCORE-KDF derived L = %zu", L);
        cbor_head(&info, 4, 5);
        cbor_head(&info, 2, iv ? 0 : id->len);
        if (!iv)
            put(&info, id->b, id->len);
        if (ic->set) {
            cbor_head(&info, 2, ic->len);
            put(&info, ic->b, ic->len);
        } else {
            unsigned char nil = 0xf6;

            put(&info, &nil, 1);
        }
        if (alg >= 0)
            cbor_head(&info, 0, (uint64_t)alg);
        else
            cbor_head(&info, 1, (uint64_t)(-1 - (int64_t)alg));
        cbor_head(&info, 3, iv ? 2 : 3);
        put(&info, iv ? "IV" : "Key", iv ? 2 : 3);
        cbor_head(&info, 0, L);
        ref_hkdf("SHA256", 32, salt->set ? salt->b : NULL, salt->set ? salt->len : 0, key->b,
                 key->len, info.p, info.n, want, L);
        free(info.p);
    }
    FZ_CHECK(memcmp(out, want, L) == 0, "%s output differs from the documented formula (L = %zu)",
             kdf_names[k], L);
    free(want);
}

/* ------------------------------------------------------------------ */
/* Decoding parameters                                                 */
/* ------------------------------------------------------------------ */

typedef struct {
    OSSL_PARAM p[MAX_PARAMS + 1];
    void *mem[2 * MAX_PARAMS];
    size_t nmem;
} plist;

static void *keep(plist *pl, void *m)
{
    pl->mem[pl->nmem++] = m;
    return m;
}

static void plist_free(plist *pl)
{
    for (size_t i = 0; i < pl->nmem; i++)
        free(pl->mem[i]);
    pl->nmem = 0;
}

static void decode_params(fz_in *in, int k, plist *pl)
{
    size_t n = fz_u8(in) % (MAX_PARAMS + 1), np = 0;

    pl->nmem = 0;
    for (size_t i = 0; i < n && in->n > 0; i++) {
        uint8_t nb = fz_u8(in), tb;
        const char *name;
        int type, natural;
        size_t len = 0;
        unsigned char *data;

        if (nb < 0xf0) {
            name = names[k][nb % n_names[k]];
            natural = name_type[k][nb % n_names[k]];
        } else {
            size_t got, nl = fz_u8(in) % 16;
            const uint8_t *s = fz_bytes(in, nl, &got);
            char *c = keep(pl, malloc(got + 1));

            memcpy(c, s, got);
            c[got] = 0;
            name = c;
            natural = OSSL_PARAM_UTF8_STRING;
        }
        tb = fz_u8(in);
        if (tb < 0xa0) {
            type = natural;
        } else {
            static const int types[5] = {OSSL_PARAM_UTF8_STRING, OSSL_PARAM_OCTET_STRING,
                                         OSSL_PARAM_UNSIGNED_INTEGER, OSSL_PARAM_INTEGER,
                                         OSSL_PARAM_REAL};
            type = types[tb % 5];
        }
        if (type == OSSL_PARAM_UTF8_STRING || type == OSSL_PARAM_OCTET_STRING) {
            uint8_t l8 = fz_u8(in);
            unsigned char pat[8];
            const uint8_t *src = NULL;
            size_t k8 = 0;

            if (l8 == 255) {
                len = (size_t)fz_u16(in) * 2;
                k8 = fz_u8(in) % 8 + 1;
                fz_copy(in, pat, k8);
            } else {
                src = fz_bytes(in, l8, &len);
            }
            /*
             * Exactly len bytes for an octet string, so that an overread is
             * seen; a UTF-8 string carries its terminator after data_size,
             * as OpenSSL's own strings do.
             */
            data = keep(pl, malloc(len + 1));
            for (size_t j = 0; j < len; j++)
                data[j] = src != NULL ? src[j] : pat[j % k8];
            if (type == OSSL_PARAM_UTF8_STRING) {
                data[len] = 0;
            } else if (len > 0) {
                unsigned char *exact = malloc(len);

                memcpy(exact, data, len);
                free(data);
                pl->mem[pl->nmem - 1] = exact;
                data = exact;
            }
        } else {
            static const size_t widths[5] = {0, 1, 2, 4, 8};
            size_t w = widths[fz_u8(in) % 5];

            if (w == 0)
                w = type == OSSL_PARAM_REAL ? sizeof(double)
                                            : (strcmp(name, M2MSEC_KDF_PARAM_ALG) == 0 ? 4 : 8);
            if (type == OSSL_PARAM_REAL)
                w = sizeof(double);
            len = w;
            data = keep(pl, malloc(w));
            fz_copy(in, data, w);
        }
        pl->p[np].key = name;
        pl->p[np].data_type = (unsigned)type;
        pl->p[np].data = data;
        pl->p[np].data_size = len;
        pl->p[np].return_size = OSSL_PARAM_UNMODIFIED;
        np++;
    }
    pl->p[np] = OSSL_PARAM_construct_end();
}

/* ------------------------------------------------------------------ */

/*
 * A decimal of the canonical record at *t (end e): "0" or a digit 1-9 then
 * digits, at most UINT64_MAX, then '\n'. Advances *t past the '\n'.
 */
static int canonical_decimal(const char **t, const char *e, uint64_t *v)
{
    static const char max[] = "18446744073709551615";
    const char *d = *t;
    size_t n = 0;

    while (d + n < e && d[n] >= '0' && d[n] <= '9')
        n++;
    if (n == 0 || (n > 1 && d[0] == '0') || n > sizeof(max) - 1 ||
        (n == sizeof(max) - 1 && memcmp(d, max, n) > 0) || d + n >= e || d[n] != '\n')
        return 0;
    *v = 0;
    for (size_t i = 0; i < n; i++)
        *v = *v * 10 + (uint64_t)(d[i] - '0');
    *t = d + n + 1;
    return 1;
}

static int canonical_literal(const char **t, const char *e, const char *lit)
{
    size_t n = strlen(lit);

    if ((size_t)(e - *t) < n || memcmp(*t, lit, n) != 0)
        return 0;
    *t += n;
    return 1;
}

/*
 * Whether the MAC'ed part of a status record (everything before the "mac"
 * line) is the canonical form of docs/PROTOCOL.md section 8 with "result
 * passed", written out here from the format rather than taken from the
 * provider's reader; then whether the gate's limits let it unlock keys now
 * (*uncertain: within 2 s of an age limit).
 */
static int canonical_passed_body(const char *text, size_t len, int *uncertain)
{
    const char *t = text, *e = text + len;
    uint64_t version = 0, when = 0, now = (uint64_t)time(NULL);

    *uncertain = 0;
    if (!(canonical_literal(&t, e, "m2msec-integrity-status 2\nresult passed\n") &&
          canonical_literal(&t, e, "manifest-version ") && canonical_decimal(&t, e, &version) &&
          canonical_literal(&t, e, "time ") && canonical_decimal(&t, e, &when) && t == e))
        return 0;
    if (version < GATE_STATE_VERSION)
        return 0;
    if ((when > now ? when - now : now - when) <= 2 ||
        (when < now && (now - when > GATE_MAX_AGE ? now - when - GATE_MAX_AGE
                                                  : GATE_MAX_AGE - (now - when)) <= 2))
        *uncertain = 1;
    return when <= now && now - when <= GATE_MAX_AGE;
}

/* The status record for P_INTEGRITY, from the input. */
static void write_status(fz_in *in)
{
    static const char magic[] = "m2msec-integrity-status 2\n";
    uint8_t mode = fz_u8(in);
    char text[1200];
    size_t len = 0, got;
    const uint8_t *body;

    memset(&status, 0, sizeof(status));
    if (mode & 2) {
        int passed = fz_u8(in) & 1;
        uint64_t version = fz_u64(in), when = fz_u64(in);

        if ((when & 1) == 0) /* near now: fresh or stale by up to two hours */
            when = (uint64_t)time(NULL) - (when >> 1) % (2 * GATE_MAX_AGE);
        len = (size_t)snprintf(
            text, sizeof(text), "%sresult %s\nmanifest-version %llu\ntime %llu\n", magic,
            passed ? "passed" : "failed", (unsigned long long)version, (unsigned long long)when);
        status.canonical_passed = passed; /* the form; the limits come below */
        mode |= 1;
    } else {
        body = fz_bytes(in, fz_u8(in), &got);
        memcpy(text, body, got);
        len = got;
    }
    if (mode & 1) {
        unsigned char mac[64];
        part pp[1] = {{(const unsigned char *)text, len}};
        size_t body_len = len;

        ref_mac("SHA256", device_key, sizeof(device_key), pp, 1, mac);
        memcpy(text + len, "mac ", 4);
        len += 4;
        for (int i = 0; i < 32; i++)
            len += (size_t)snprintf(text + len, 3, "%02x", mac[i]);
        text[len++] = '\n';
        status.mac_valid = 1;
        if (mode & 2) {
            int form = status.canonical_passed;

            status.canonical_passed = canonical_passed_body(text, body_len, &status.uncertain);
            FZ_CHECK(!status.canonical_passed || form,
                     "model: the canonical-record check disagrees with the record written");
        } else {
            status.canonical_passed = canonical_passed_body(text, body_len, &status.uncertain);
        }
    }
    fz_write_file(p_status, text, len);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char keypath[600], keyhex[65], cnf[2400], statepath[600];

    (void)argc;
    (void)argv;
    libctx[P_DEFAULT] = fz_libctx_new(1);
    libctx[P_STRICT] = fz_libctx_from_config("strict.cnf", strict_cnf);
    fz_tmppath(keypath, sizeof(keypath), "device.key");
    fz_tmppath(p_status, sizeof(p_status), "integrity.status");
    for (int i = 0; i < 32; i++)
        snprintf(keyhex + 2 * i, 3, "%02x", device_key[i]);
    fz_write_file(keypath, keyhex, 64);
    fz_tmppath(statepath, sizeof(statepath), "manifest.state");
    snprintf(cnf, sizeof(cnf), "m2msec-manifest-state 1\nversion %u\n", GATE_STATE_VERSION);
    fz_write_file(statepath, cnf, strlen(cnf));
    snprintf(cnf, sizeof(cnf),
             "openssl_conf = init\n[init]\nproviders = providers\n[providers]\n"
             "default = default_sect\nm2msec = m2msec_sect\n[default_sect]\nactivate = 1\n"
             "[m2msec_sect]\nactivate = 1\nrequire_integrity = yes\n"
             "integrity_status = %s\ndevice_key_file = %s\nmanifest_state = %s\n",
             p_status, keypath, statepath);
    libctx[P_INTEGRITY] = fz_libctx_from_config("integrity.cnf", cnf);
    ref_hmac = EVP_MAC_fetch(libctx[P_DEFAULT], "HMAC", "provider=default");
    if (ref_hmac == NULL)
        fz_fail("cannot fetch the reference HMAC");
    for (int pol = 0; pol < P_COUNT; pol++)
        for (int k = 0; k < K_COUNT; k++)
            if ((kdfs[pol][k] = EVP_KDF_fetch(libctx[pol], kdf_names[k], "provider=m2msec")) ==
                NULL)
                fz_fail("cannot fetch %s (policy %d)", kdf_names[k], pol);
    for (int k = 0; k < K_COUNT; k++) {
        const OSSL_PARAM *s;

        for (s = EVP_KDF_settable_ctx_params(kdfs[P_DEFAULT][k]); s->key != NULL; s++) {
            names[k][n_names[k]] = s->key;
            name_type[k][n_names[k]++] = (int)s->data_type;
        }
        n_settable[k] = n_names[k];
        for (size_t i = 0; i < sizeof(extra_names) / sizeof(extra_names[0]); i++) {
            names[k][n_names[k]] = extra_names[i];
            name_type[k][n_names[k]++] = OSSL_PARAM_UTF8_STRING;
        }
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_in in = {data, size};
    uint8_t sel = fz_u8(&in);
    int k = sel % K_COUNT, pol = (sel / K_COUNT) % P_COUNT;
    EVP_KDF_CTX *ctx;
    model m = {0};

    if (pol == P_INTEGRITY)
        write_status(&in);
    ctx = EVP_KDF_CTX_new(kdfs[pol][k]);

    if (ctx == NULL)
        fz_fail("EVP_KDF_CTX_new(%s) failed", kdf_names[k]);
    model_reset(&m);
    for (int op = 0; op < 16 && in.n > 0; op++) {
        plist pl;

        switch (fz_u8(&in) % 5) {
        case 0: {
            const char *nul;

            decode_params(&in, k, &pl);
            nul = embedded_nul(k, pl.p);
            if (EVP_KDF_CTX_set_params(ctx, pl.p) > 0) {
                FZ_CHECK(nul == NULL, "%s set '%s' with a NUL byte inside its data_size",
                         kdf_names[k], nul);
                model_apply(&m, k, pl.p);
            } else {
                if (nul != NULL)
                    fz_stat("set refused: embedded NUL");
                m.known = 0;
            }
            plist_free(&pl);
            break;
        }
        case 1: {
            size_t L = fz_u16(&in) % 20000;
            unsigned char *out = malloc(L + 1);
            const char *nul;
            int r;

            decode_params(&in, k, &pl);
            nul = embedded_nul(k, pl.p);
            memset(out, 0xa5, L + 1);
            r = EVP_KDF_derive(ctx, out, L, pl.p);
            if (r > 0) {
                fz_stat(m.known ? "derive ok, state known" : "derive ok, state unknown");
                FZ_CHECK(nul == NULL,
                         "%s derived with '%s' holding a NUL byte inside its data_size",
                         kdf_names[k], nul);
                model_apply(&m, k, pl.p);
                check_success(&m, k, pol, out, L);
            } else {
                int reason = ERR_GET_REASON(ERR_peek_last_error());

                fz_stat("derive refused");
                if (nul != NULL)
                    fz_stat("derive refused: embedded NUL");
                if (reason == M2MSEC_R_INTEGRITY_FAILED) {
                    fz_stat("derive refused: integrity");
                    FZ_CHECK(pol == P_INTEGRITY && k == K_SESSION,
                             "%s refused for integrity without require_integrity", kdf_names[k]);
                    FZ_CHECK(!status.canonical_passed || status.uncertain,
                             "a canonical passed status record was refused");
                }
                for (size_t i = 0; i < L; i++)
                    FZ_CHECK(out[i] == 0, "%s failed but left output byte %zu = %02x", kdf_names[k],
                             i, out[i]);
                m.known = 0;
            }
            FZ_CHECK(out[L] == 0xa5, "%s wrote past the output length", kdf_names[k]);
            free(out);
            plist_free(&pl);
            break;
        }
        case 2:
            EVP_KDF_CTX_reset(ctx);
            model_reset(&m);
            break;
        case 3: {
            EVP_KDF_CTX *d = EVP_KDF_CTX_dup(ctx);

            FZ_CHECK(d != NULL, "EVP_KDF_CTX_dup(%s) failed", kdf_names[k]);
            EVP_KDF_CTX_free(ctx);
            ctx = d;
            break;
        }
        case 4: {
            size_t sz = EVP_KDF_CTX_get_kdf_size(ctx);

            if (m.known) {
                size_t want = 32;

                if (k == K_SESSION) {
                    const mval *dg = get(&m, k, OSSL_KDF_PARAM_DIGEST);
                    char dname[16] = "";
                    OSSL_PARAM gp[2];

                    want = 255 * (size_t)(dg->set ? md_size((const char *)dg->b) : 32);
                    gp[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, dname,
                                                             sizeof(dname));
                    gp[1] = OSSL_PARAM_construct_end();
                    FZ_CHECK(EVP_KDF_CTX_get_params(ctx, gp) > 0 &&
                                 strcmp(dname, canonical_md((int)(want / 255))) == 0,
                             "M2M-SESSION-KDF reports digest '%s'", dname);
                } else if (k == K_OSCORE) {
                    want = 8160;
                }
                FZ_CHECK(sz == want, "%s reports size %zu, expected %zu", kdf_names[k], sz, want);
            }
            break;
        }
        }
        fz_errors("kdf operation");
    }
    EVP_KDF_CTX_free(ctx);
    for (size_t i = 0; i < MAX_NAMES; i++)
        free(m.v[i].b);
    fz_errors("end");
    return 0;
}
