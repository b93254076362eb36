/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libm2msec ESPrim: RandObjects (TS-0003 8.4.3.1, TS-0004 6.3.5.50/51) in
 * their JSON form (docs/PROTOCOL.md 9.2), their checks, and
 * sessionESPrimKey through ONEM2M-KDF (docs/PROTOCOL.md 9.3).
 */
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "esprim_internal.h"
#include "text.h"

/* ---------------------------------------------------------------- clock, test hooks */

static uint64_t test_time;
static unsigned char test_iv[M2M_ESP_IV_LEN];
static int test_iv_set;
static char test_orig_id[M2MSEC_ESPRIM_ID_MAX + 1];
static unsigned char test_orig_value[M2MSEC_ESPRIM_RAND_LEN];
static int test_orig_set;

uint64_t m2m_esp_now(void)
{
    struct timespec ts;

    if (test_time != 0)
        return test_time;
    if (clock_gettime(CLOCK_REALTIME, &ts) != 0 || ts.tv_sec < 0)
        return UINT64_MAX; /* no clock: everything counts as expired */
    return (uint64_t)ts.tv_sec;
}

void m2m_esp_test_set_time(uint64_t t)
{
    test_time = t;
}

void m2m_esp_test_set_iv(const unsigned char *iv)
{
    test_iv_set = iv != NULL;
    if (iv != NULL)
        memcpy(test_iv, iv, sizeof(test_iv));
}

void m2m_esp_test_set_orig(const char *id, const unsigned char *value)
{
    test_orig_set = id != NULL && value != NULL && strlen(id) < sizeof(test_orig_id);
    if (test_orig_set) {
        strcpy(test_orig_id, id);
        memcpy(test_orig_value, value, sizeof(test_orig_value));
    }
}

int m2m_esp_test_take_orig(char id[M2MSEC_ESPRIM_ID_MAX + 1],
                           unsigned char value[M2MSEC_ESPRIM_RAND_LEN])
{
    if (!test_orig_set)
        return 0;
    strcpy(id, test_orig_id);
    memcpy(value, test_orig_value, sizeof(test_orig_value));
    test_orig_set = 0;
    return 1;
}

int m2m_esp_test_take_iv(unsigned char iv[M2M_ESP_IV_LEN])
{
    if (!test_iv_set)
        return 0;
    memcpy(iv, test_iv, sizeof(test_iv));
    test_iv_set = 0;
    return 1;
}

/* ---------------------------------------------------------------- names and values */

static const struct {
    int id;
    const char *name;
    size_t keylen;
} encs[] = {
    {M2MSEC_ESPRIM_JWE_A128GCM, "A128GCM", 16},
    {M2MSEC_ESPRIM_JWE_A192GCM, "A192GCM", 24},
    {M2MSEC_ESPRIM_JWE_A256GCM, "A256GCM", 32},
};

const char *m2m_esp_enc_name(int aead)
{
    for (size_t i = 0; i < sizeof(encs) / sizeof(encs[0]); i++)
        if (encs[i].id == aead)
            return encs[i].name;
    return NULL;
}

size_t m2m_esp_enc_keylen(int aead)
{
    for (size_t i = 0; i < sizeof(encs) / sizeof(encs[0]); i++)
        if (encs[i].id == aead)
            return encs[i].keylen;
    return 0;
}

int m2m_esp_enc_id(const char *name)
{
    for (size_t i = 0; i < sizeof(encs) / sizeof(encs[0]); i++)
        if (strcmp(encs[i].name, name) == 0)
            return encs[i].id;
    return 0;
}

int m2m_esp_has(const int *list, size_t n, int v)
{
    for (size_t i = 0; i < n; i++)
        if (list[i] == v)
            return 1;
    return 0;
}

int m2m_esp_id_ok(const char *id, size_t len)
{
    if (len == 0 || len > M2MSEC_ESPRIM_ID_MAX)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = id[i];
        int letter = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';

        if (!letter && (i == 0 || !((c >= '0' && c <= '9') || c == '.' || c == '-')))
            return 0;
    }
    return 1;
}

int m2m_esp_token_ok(const char *s, size_t len, int allow_space)
{
    if (len == 0 || len > M2MSEC_ESPRIM_KID_MAX)
        return 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];

        if ((c < 0x21 && !(allow_space && c == ' ')) || c > 0x7e || c == '"' || c == '\\')
            return 0;
    }
    return 1;
}

/* ---------------------------------------------------------------- time */

/* Days since 1970-01-01 of a proleptic Gregorian date (y >= 1970). */
static uint64_t days_from_civil(unsigned y, unsigned m, unsigned d)
{
    unsigned yy = m <= 2 ? y - 1 : y;
    unsigned era = yy / 400, yoe = yy - era * 400;
    unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

    return (uint64_t)era * 146097 + doe - 719468;
}

static int leap(unsigned y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static unsigned month_days(unsigned y, unsigned m)
{
    static const unsigned md[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

    return m == 2 && leap(y) ? 29 : md[m - 1];
}

/* n digits (leading zeros are part of the fixed-width fields) into *v. */
static int dec(const char *s, size_t n, unsigned *v)
{
    uint64_t x;

    if (m2m_dec_parse(s, n, UINT_MAX, M2M_DEC_LEADING_ZEROS, &x) != M2M_DEC_OK)
        return 0;
    *v = (unsigned)x;
    return 1;
}

int m2m_esp_time_parse(const char *s, size_t len, uint64_t *t)
{
    unsigned y, mo, d, h, mi, se, f;

    if (len < 15 || s[8] != 'T' || !dec(s, 4, &y) || !dec(s + 4, 2, &mo) || !dec(s + 6, 2, &d) ||
        !dec(s + 9, 2, &h) || !dec(s + 11, 2, &mi) || !dec(s + 13, 2, &se))
        return 0;
    if (len > 15 && (s[15] != ',' || len < 17 || len > 22 || !dec(s + 16, len - 16, &f)))
        return 0;
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > month_days(y, mo) || h > 23 || mi > 59 ||
        se > 59)
        return 0;
    *t = days_from_civil(y, mo, d) * 86400 + h * 3600u + mi * 60u + se;
    return 1;
}

int m2m_esp_time_text(uint64_t t, char out[16])
{
    uint64_t days = t / 86400, rem = t % 86400;
    unsigned y, m, d;
    /* civil_from_days */
    uint64_t z = days + 719468, era = z / 146097, doe = z - era * 146097;
    uint64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    uint64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100), mp = (5 * doy + 2) / 153;

    if (t >= (uint64_t)253402300800ULL) /* 10000-01-01 */
        return 0;
    d = (unsigned)(doy - (153 * mp + 2) / 5 + 1);
    m = (unsigned)(mp < 10 ? mp + 3 : mp - 9);
    y = (unsigned)(yoe + era * 400 + (m <= 2));
    snprintf(out, 16, "%04u%02u%02uT%02u%02u%02u", y % 10000, m % 100, d % 100,
             (unsigned)(rem / 3600) % 100, (unsigned)(rem % 3600 / 60) % 100,
             (unsigned)(rem % 60) % 100);
    return 1;
}

/* ---------------------------------------------------------------- JSON form */

#define M_ID 1
#define M_VALUE 2
#define M_EXPIRY 4
#define M_KEYGEN 8
#define M_AEAD 16
#define M_ALL 31
#define ALG_ID_MAX 65535u

static const char *role_text(int role)
{
    return role == M2MSEC_ESPRIM_RECEIVER ? "receiver" : "originator";
}

static int bad_rand(const char *where, int role, const m2m_json *j, const char *what)
{
    if (j != NULL)
        M2M_ESP_ERR(M2MSEC_R_ESPRIM_BAD_RAND, "%s: %s RandObject: %s (at offset %zu)", where,
                    role_text(role), what, j->pos);
    else
        M2M_ESP_ERR(M2MSEC_R_ESPRIM_BAD_RAND, "%s: %s RandObject: %s", where, role_text(role),
                    what);
    return 0;
}

/* An array of 1..8 distinct IDs, or (single) one ID. */
static int alg_list(m2m_json *j, int single, int *out, size_t *n, const char *where, int role,
                    const char *member)
{
    char msg[160];
    int more;
    unsigned v;

    *n = 0;
    if (single) {
        if (!m2m_json_uint(j, ALG_ID_MAX, &v)) {
            snprintf(msg, sizeof(msg), "%s: %s (one ID, a number)", member, j->err);
            return bad_rand(where, role, j, msg);
        }
        out[(*n)++] = (int)v;
        return 1;
    }
    if (!m2m_json_array(j)) {
        snprintf(msg, sizeof(msg), "%s: expected an array of IDs", member);
        return bad_rand(where, role, j, msg);
    }
    for (;;) {
        if (!m2m_json_element(j, &more) || (more && !m2m_json_uint(j, ALG_ID_MAX, &v))) {
            snprintf(msg, sizeof(msg), "%s: %s", member, j->err);
            return bad_rand(where, role, j, msg);
        }
        if (!more)
            break;
        if (*n == M2MSEC_ESPRIM_MAX_ALGS) {
            snprintf(msg, sizeof(msg), "%s: more than %d IDs", member, M2MSEC_ESPRIM_MAX_ALGS);
            return bad_rand(where, role, j, msg);
        }
        if (m2m_esp_has(out, *n, (int)v)) {
            snprintf(msg, sizeof(msg), "%s: ID %u listed twice", member, v);
            return bad_rand(where, role, j, msg);
        }
        out[(*n)++] = (int)v;
    }
    if (*n == 0) {
        snprintf(msg, sizeof(msg), "%s: empty list", member);
        return bad_rand(where, role, j, msg);
    }
    return 1;
}

int m2m_esp_rand_parse_into(m2msec_esprim_rand *r, const char *json, size_t len, int role,
                            const char *where)
{
    m2m_json j;
    unsigned seen = 0, bit;
    char member[32], text[64], msg[160];
    size_t tl, vl, bad;
    int more;

    memset(r, 0, sizeof(*r));
    if (role != M2MSEC_ESPRIM_ORIGINATOR && role != M2MSEC_ESPRIM_RECEIVER) {
        M2M_ESP_ERR(M2MSEC_R_INVALID_PARAMETER,
                    "%s: role %d is neither originator (1) nor "
                    "receiver (2)",
                    where, role);
        return 0;
    }
    r->role = role;
    m2m_json_init(&j, json, len);
    if (!m2m_json_object(&j))
        return bad_rand(where, role, &j, j.err);
    for (;;) {
        if (!m2m_json_member(&j, &more, member, sizeof(member))) {
            if (strcmp(j.err, "string too long") == 0)
                return bad_rand(where, role, &j, "unknown member (name too long)");
            return bad_rand(where, role, &j, j.err);
        }
        if (!more)
            break;
        if (strcmp(member, "esprimRandID") == 0)
            bit = M_ID;
        else if (strcmp(member, "esprimRandValue") == 0)
            bit = M_VALUE;
        else if (strcmp(member, "esprimRandExpiry") == 0)
            bit = M_EXPIRY;
        else if (strcmp(member, "esprimKeyGenAlgIDs") == 0)
            bit = M_KEYGEN;
        else if (strcmp(member, "esprimProtocolAndAlgIDs") == 0)
            bit = M_AEAD;
        else {
            snprintf(msg, sizeof(msg),
                     "unknown member \"%.31s\" (the members are esprimRandID, "
                     "esprimRandValue, esprimRandExpiry, esprimKeyGenAlgIDs, "
                     "esprimProtocolAndAlgIDs)",
                     member);
            return bad_rand(where, role, &j, msg);
        }
        if (seen & bit) {
            M2M_ESP_ERR(M2MSEC_R_JSON_DUPLICATE,
                        "%s: %s RandObject: member \"%s\" given twice "
                        "(at offset %zu)",
                        where, role_text(role), member, j.pos);
            return 0;
        }
        seen |= bit;
        switch (bit) {
        case M_ID:
            if (!m2m_json_string(&j, r->id, sizeof(r->id), &tl))
                return bad_rand(where, role, &j,
                                strcmp(j.err, "string too long") == 0
                                    ? "esprimRandID longer than 64 characters"
                                    : j.err);
            if (!m2m_esp_id_ok(r->id, tl))
                return bad_rand(where, role, &j,
                                "esprimRandID is not an NCName of 1..64 ASCII "
                                "characters ([A-Za-z_][A-Za-z0-9._-]*)");
            break;
        case M_VALUE:
            if (!m2m_json_string(&j, text, sizeof(text), &tl) || tl != M2M_ESP_B64_RAND ||
                !m2m_b64url_decode(text, tl, r->value, &vl, &bad) || vl != M2MSEC_ESPRIM_RAND_LEN)
                return bad_rand(where, role, &j,
                                "esprimRandValue is not 128 bits in base64url "
                                "(22 characters, no padding)");
            break;
        case M_EXPIRY:
            if (!m2m_json_string(&j, text, sizeof(text), &tl) ||
                !m2m_esp_time_parse(text, tl, &r->expiry))
                return bad_rand(where, role, &j,
                                "esprimRandExpiry is not a UTC time "
                                "YYYYMMDDTHHMMSS (optionally ,ffffff)");
            break;
        case M_KEYGEN:
            if (!alg_list(&j, role == M2MSEC_ESPRIM_ORIGINATOR, r->keygen, &r->nkeygen, where, role,
                          "esprimKeyGenAlgIDs"))
                return 0;
            break;
        default:
            if (!alg_list(&j, 0, r->aead, &r->naead, where, role, "esprimProtocolAndAlgIDs"))
                return 0;
            break;
        }
    }
    if (!m2m_json_end(&j))
        return bad_rand(where, role, &j, j.err);
    if (seen != M_ALL) {
        static const char *const names[5] = {"esprimRandID", "esprimRandValue", "esprimRandExpiry",
                                             "esprimKeyGenAlgIDs", "esprimProtocolAndAlgIDs"};

        for (int i = 0; i < 5; i++)
            if (!(seen & (1u << i))) {
                snprintf(msg, sizeof(msg), "member %s is missing", names[i]);
                return bad_rand(where, role, NULL, msg);
            }
    }
    return 1;
}

static size_t put_list(char *p, size_t cap, const int *l, size_t n, int single)
{
    size_t o = 0;
    int w;

    if (!single) {
        if (cap < 2)
            return 0;
        p[o++] = '[';
    }
    for (size_t i = 0; i < n; i++) {
        w = snprintf(p + o, cap - o, "%s%d", i > 0 ? "," : "", l[i]);
        if (w < 0 || (size_t)w >= cap - o)
            return 0;
        o += (size_t)w;
    }
    if (!single) {
        if (cap - o < 2)
            return 0;
        p[o++] = ']';
    }
    return o;
}

size_t m2m_esp_rand_json(const m2msec_esprim_rand *r, char *buf, size_t cap)
{
    char value[M2M_ESP_B64_RAND + 1], expiry[16], kg[64], ae[64];
    size_t kl, al;
    int w;

    m2m_b64url_encode(r->value, sizeof(r->value), value);
    value[M2M_ESP_B64_RAND] = '\0';
    if (!m2m_esp_time_text(r->expiry, expiry))
        return 0;
    kl = put_list(kg, sizeof(kg), r->keygen, r->nkeygen, r->role == M2MSEC_ESPRIM_ORIGINATOR);
    al = put_list(ae, sizeof(ae), r->aead, r->naead, 0);
    if (kl == 0 || al == 0)
        return 0;
    w = snprintf(buf, cap,
                 "{\"esprimRandID\":\"%s\",\"esprimRandValue\":\"%s\",\"esprimRandExpiry\":\"%s\","
                 "\"esprimKeyGenAlgIDs\":%.*s,\"esprimProtocolAndAlgIDs\":%.*s}",
                 r->id, value, expiry, (int)kl, kg, (int)al, ae);
    if (w < 0 || (size_t)w >= cap)
        return 0;
    return (size_t)w;
}

/* Same integer list (public algorithm IDs: no constant time needed). */
static int same_list(const int *x, size_t nx, const int *y, size_t ny)
{
    if (nx != ny)
        return 0;
    for (size_t i = 0; i < nx; i++)
        if (x[i] != y[i])
            return 0;
    return 1;
}

int m2m_esp_rand_equal(const m2msec_esprim_rand *a, const m2msec_esprim_rand *b)
{
    /* every member is public (RandObjects travel in clear) */
    return a->role == b->role && strcmp(a->id, b->id) == 0 &&
           memcmp(a->value, b->value, sizeof(a->value)) == 0 && a->expiry == b->expiry &&
           same_list(a->keygen, a->nkeygen, b->keygen, b->nkeygen) &&
           same_list(a->aead, a->naead, b->aead, b->naead);
}

int m2m_esp_new_id(OSSL_LIB_CTX *libctx, char prefix, char out[M2MSEC_ESPRIM_ID_MAX + 1])
{
    unsigned char r[12];

    if (RAND_bytes_ex(libctx, r, sizeof(r), 0) != 1) {
        M2M_ESP_ERR(M2MSEC_R_CRYPTO_FAILED, "the random generator failed (is the default "
                                            "provider loaded?)");
        return 0;
    }
    out[0] = prefix;
    m2m_b64url_encode(r, sizeof(r), out + 1);
    out[17] = '\0';
    return 1;
}

/* ---------------------------------------------------------------- public RandObject calls */

m2msec_esprim_rand *m2msec_esprim_rand_parse(const char *json, size_t len, int role)
{
    m2msec_esprim_rand *r = OPENSSL_malloc(sizeof(*r));

    if (r == NULL) {
        M2M_ESP_ERR(M2MSEC_R_MALLOC_FAILURE, "out of memory for a RandObject");
        return NULL;
    }
    if (!m2m_esp_rand_parse_into(r, json, len, role, "RandObject JSON")) {
        OPENSSL_free(r);
        return NULL;
    }
    return r;
}

void m2msec_esprim_rand_free(m2msec_esprim_rand *r)
{
    OPENSSL_free(r);
}

int m2msec_esprim_rand_get_role(const m2msec_esprim_rand *r)
{
    return r->role;
}

const char *m2msec_esprim_rand_get_id(const m2msec_esprim_rand *r)
{
    return r->id;
}

uint64_t m2msec_esprim_rand_get_expiry(const m2msec_esprim_rand *r)
{
    return r->expiry;
}

void m2msec_esprim_rand_get_value(const m2msec_esprim_rand *r,
                                  unsigned char out[M2MSEC_ESPRIM_RAND_LEN])
{
    memcpy(out, r->value, M2MSEC_ESPRIM_RAND_LEN);
}

size_t m2msec_esprim_rand_get_keygen_algs(const m2msec_esprim_rand *r, int *out, size_t cap)
{
    for (size_t i = 0; i < r->nkeygen && i < cap && out != NULL; i++)
        out[i] = r->keygen[i];
    return r->nkeygen;
}

size_t m2msec_esprim_rand_get_aeads(const m2msec_esprim_rand *r, int *out, size_t cap)
{
    for (size_t i = 0; i < r->naead && i < cap && out != NULL; i++)
        out[i] = r->aead[i];
    return r->naead;
}

int m2msec_esprim_rand_get_json(const m2msec_esprim_rand *r, char *buf, size_t cap, size_t *len)
{
    size_t n = m2m_esp_rand_json(r, buf, cap);

    *len = 0;
    if (n == 0) {
        if (cap > 0)
            OPENSSL_cleanse(buf, cap);
        M2M_ESP_ERR(M2MSEC_R_INVALID_PARAMETER,
                    "RandObject %s: the JSON does not fit in %zu "
                    "bytes (%d are always enough)",
                    r->id, cap, M2MSEC_ESPRIM_RAND_JSON_MAX);
        return 0;
    }
    *len = n;
    return 1;
}

/* ---------------------------------------------------------------- sessionESPrimKey */

int m2m_esp_derive(EVP_KDF *kdf, const unsigned char *key, size_t key_len,
                   const m2msec_esprim_rand *receiver, const m2msec_esprim_rand *originator,
                   unsigned char *out, size_t out_len)
{
    OSSL_PARAM p[5];
    EVP_KDF_CTX *k;
    unsigned char rv[M2MSEC_ESPRIM_RAND_LEN], ov[M2MSEC_ESPRIM_RAND_LEN];
    int ok;

    if (receiver->role != M2MSEC_ESPRIM_RECEIVER || originator->role != M2MSEC_ESPRIM_ORIGINATOR) {
        M2M_ESP_ERR(M2MSEC_R_INVALID_PARAMETER, "sessionESPrimKey needs a receiver RandObject "
                                                "and an originator RandObject, in that order");
        goto fail;
    }
    if (out_len == 0 || out_len > M2MSEC_ESPRIM_SESSION_KEY_LEN) {
        M2M_ESP_ERR(M2MSEC_R_BAD_OUTPUT_LENGTH, "sessionESPrimKey has 32 bytes; %zu asked for",
                    out_len);
        goto fail;
    }
    if (originator->nkeygen != 1 || originator->keygen[0] != M2MSEC_ESPRIM_KEYGEN_HMAC_SHA256 ||
        !m2m_esp_has(receiver->keygen, receiver->nkeygen, originator->keygen[0])) {
        M2M_ESP_ERR(M2MSEC_R_ESPRIM_NOT_OFFERED,
                    "originator RandObject %s: key generation "
                    "algorithm %d is not 1 (HMAC-SHA256) offered by receiver RandObject %s",
                    originator->id, originator->nkeygen > 0 ? originator->keygen[0] : -1,
                    receiver->id);
        goto fail;
    }
    if (originator->expiry > receiver->expiry) {
        M2M_ESP_ERR(M2MSEC_R_ESPRIM_EXPIRY_ORDER,
                    "originator RandObject %s expires at %llu, "
                    "after receiver RandObject %s (%llu)",
                    originator->id, (unsigned long long)originator->expiry, receiver->id,
                    (unsigned long long)receiver->expiry);
        goto fail;
    }
    memcpy(rv, receiver->value, sizeof(rv));
    memcpy(ov, originator->value, sizeof(ov));
    p[0] = OSSL_PARAM_construct_utf8_string("derivation", (char *)"esprim-session", 0);
    p[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)key, key_len);
    p[2] = OSSL_PARAM_construct_octet_string("receiver-rand", rv, sizeof(rv));
    p[3] = OSSL_PARAM_construct_octet_string("originator-rand", ov, sizeof(ov));
    p[4] = OSSL_PARAM_construct_end();
    k = EVP_KDF_CTX_new(kdf);
    ok = k != NULL && EVP_KDF_derive(k, out, out_len, p) > 0;
    EVP_KDF_CTX_free(k);
    if (ok)
        return 1;
    /* the provider said why (e.g. "key shorter than policy minimum"): keep its reason last */
    if (ERR_peek_last_error() == 0)
        M2M_ESP_ERR(M2MSEC_R_CRYPTO_FAILED, "ONEM2M-KDF esprim-session failed");
fail:
    OPENSSL_cleanse(out, out_len);
    return 0;
}

int m2msec_esprim_derive(OSSL_LIB_CTX *libctx, const unsigned char *key, size_t key_len,
                         const m2msec_esprim_rand *receiver, const m2msec_esprim_rand *originator,
                         unsigned char *out, size_t out_len)
{
    EVP_KDF *kdf = EVP_KDF_fetch(libctx, "ONEM2M-KDF", NULL);
    int ok;

    if (kdf == NULL) {
        OPENSSL_cleanse(out, out_len);
        M2M_ESP_ERR(M2MSEC_R_FETCH_FAILED, "cannot fetch ONEM2M-KDF (is m2msec loaded?)");
        return 0;
    }
    ok = m2m_esp_derive(kdf, key, key_len, receiver, originator, out, out_len);
    EVP_KDF_free(kdf);
    return ok;
}
