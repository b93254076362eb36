/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The reason codes (include/m2msec/errors.h, made from the one list
 * M2MSEC_REASONS): every number is the one released before the list
 * existed (wire and ABI values, copied here by hand from the previous
 * header, so a change to the list fails to compile), and the provider's
 * reason-string table (provider/errors.c, made from the same list) gives
 * every code exactly the text it had (copied from the previous table).
 */
#include <string.h>

#include <CUnit/Basic.h>
#include <openssl/core.h>

#include "errors.h"
#include "m2msec/errors.h"
#include "test_run.h"

_Static_assert(M2MSEC_R_MISSING_KEY == 1, "M2MSEC_R_MISSING_KEY changed");
_Static_assert(M2MSEC_R_KEY_TOO_SHORT == 2, "M2MSEC_R_KEY_TOO_SHORT changed");
_Static_assert(M2MSEC_R_LIFETIME_EXCEEDS_POLICY == 3, "M2MSEC_R_LIFETIME_EXCEEDS_POLICY changed");
_Static_assert(M2MSEC_R_MISSING_PARAMETER == 4, "M2MSEC_R_MISSING_PARAMETER changed");
_Static_assert(M2MSEC_R_INVALID_PARAMETER == 5, "M2MSEC_R_INVALID_PARAMETER changed");
_Static_assert(M2MSEC_R_INVALID_UTF8 == 6, "M2MSEC_R_INVALID_UTF8 changed");
_Static_assert(M2MSEC_R_UNKNOWN_DERIVATION == 7, "M2MSEC_R_UNKNOWN_DERIVATION changed");
_Static_assert(M2MSEC_R_BAD_OUTPUT_LENGTH == 8, "M2MSEC_R_BAD_OUTPUT_LENGTH changed");
_Static_assert(M2MSEC_R_UNKNOWN_DIGEST == 9, "M2MSEC_R_UNKNOWN_DIGEST changed");
_Static_assert(M2MSEC_R_FIELD_TOO_LONG == 10, "M2MSEC_R_FIELD_TOO_LONG changed");
_Static_assert(M2MSEC_R_BAD_POLICY == 11, "M2MSEC_R_BAD_POLICY changed");
_Static_assert(M2MSEC_R_FETCH_FAILED == 12, "M2MSEC_R_FETCH_FAILED changed");
_Static_assert(M2MSEC_R_CRYPTO_FAILED == 13, "M2MSEC_R_CRYPTO_FAILED changed");
_Static_assert(M2MSEC_R_MALLOC_FAILURE == 14, "M2MSEC_R_MALLOC_FAILURE changed");
_Static_assert(M2MSEC_R_REPLAYED_RECORD == 15, "M2MSEC_R_REPLAYED_RECORD changed");
_Static_assert(M2MSEC_R_OUTSIDE_WINDOW == 16, "M2MSEC_R_OUTSIDE_WINDOW changed");
_Static_assert(M2MSEC_R_AUTH_FAILED == 17, "M2MSEC_R_AUTH_FAILED changed");
_Static_assert(M2MSEC_R_KEY_EXPIRED == 18, "M2MSEC_R_KEY_EXPIRED changed");
_Static_assert(M2MSEC_R_KEY_REUSED == 19, "M2MSEC_R_KEY_REUSED changed");
_Static_assert(M2MSEC_R_BAD_STATE == 20, "M2MSEC_R_BAD_STATE changed");
_Static_assert(M2MSEC_R_COPY_REFUSED == 21, "M2MSEC_R_COPY_REFUSED changed");
_Static_assert(M2MSEC_R_NOT_ALLOWED == 22, "M2MSEC_R_NOT_ALLOWED changed");
_Static_assert(M2MSEC_R_INTEGRITY_FAILED == 23, "M2MSEC_R_INTEGRITY_FAILED changed");
_Static_assert(M2MSEC_R_MODULE_INTEGRITY == 24, "M2MSEC_R_MODULE_INTEGRITY changed");
_Static_assert(M2MSEC_R_FORKED == 25, "M2MSEC_R_FORKED changed");
_Static_assert(M2MSEC_R_JWE_PARTS == 40, "M2MSEC_R_JWE_PARTS changed");
_Static_assert(M2MSEC_R_JWE_BASE64 == 41, "M2MSEC_R_JWE_BASE64 changed");
_Static_assert(M2MSEC_R_JWE_TOO_LARGE == 42, "M2MSEC_R_JWE_TOO_LARGE changed");
_Static_assert(M2MSEC_R_JWE_BAD_HEADER == 43, "M2MSEC_R_JWE_BAD_HEADER changed");
_Static_assert(M2MSEC_R_JSON_DUPLICATE == 44, "M2MSEC_R_JSON_DUPLICATE changed");
_Static_assert(M2MSEC_R_JWE_ALG_NONE == 45, "M2MSEC_R_JWE_ALG_NONE changed");
_Static_assert(M2MSEC_R_JWE_UNSUPPORTED_ALG == 46, "M2MSEC_R_JWE_UNSUPPORTED_ALG changed");
_Static_assert(M2MSEC_R_JWE_ZIP == 47, "M2MSEC_R_JWE_ZIP changed");
_Static_assert(M2MSEC_R_JWE_CRIT == 48, "M2MSEC_R_JWE_CRIT changed");
_Static_assert(M2MSEC_R_JWE_BAD_LENGTH == 49, "M2MSEC_R_JWE_BAD_LENGTH changed");
_Static_assert(M2MSEC_R_ESPRIM_UNKNOWN_KID == 50, "M2MSEC_R_ESPRIM_UNKNOWN_KID changed");
_Static_assert(M2MSEC_R_ESPRIM_UNKNOWN_RAND == 51, "M2MSEC_R_ESPRIM_UNKNOWN_RAND changed");
_Static_assert(M2MSEC_R_ESPRIM_EXPIRED == 52, "M2MSEC_R_ESPRIM_EXPIRED changed");
_Static_assert(M2MSEC_R_ESPRIM_EXPIRY_ORDER == 53, "M2MSEC_R_ESPRIM_EXPIRY_ORDER changed");
_Static_assert(M2MSEC_R_ESPRIM_NOT_OFFERED == 54, "M2MSEC_R_ESPRIM_NOT_OFFERED changed");
_Static_assert(M2MSEC_R_ESPRIM_REPLAY == 55, "M2MSEC_R_ESPRIM_REPLAY changed");
_Static_assert(M2MSEC_R_ESPRIM_BAD_RAND == 56, "M2MSEC_R_ESPRIM_BAD_RAND changed");
_Static_assert(M2MSEC_R_ESPRIM_LIMIT == 57, "M2MSEC_R_ESPRIM_LIMIT changed");
_Static_assert(M2MSEC_R_ESPRIM_CLOSED == 58, "M2MSEC_R_ESPRIM_CLOSED changed");
_Static_assert(M2MSEC_R_ESPRIM_STATE == 59, "M2MSEC_R_ESPRIM_STATE changed");
_Static_assert(M2MSEC_R_ASSOC_CONFIG == 60, "M2MSEC_R_ASSOC_CONFIG changed");
_Static_assert(M2MSEC_R_ASSOC_KEYTABLE == 61, "M2MSEC_R_ASSOC_KEYTABLE changed");
_Static_assert(M2MSEC_R_ASSOC_KEYTABLE_FILE == 62, "M2MSEC_R_ASSOC_KEYTABLE_FILE changed");
_Static_assert(M2MSEC_R_ASSOC_UNKNOWN_IDENTITY == 63, "M2MSEC_R_ASSOC_UNKNOWN_IDENTITY changed");
_Static_assert(M2MSEC_R_ASSOC_KEY_EXPIRED == 64, "M2MSEC_R_ASSOC_KEY_EXPIRED changed");
_Static_assert(M2MSEC_R_ASSOC_BAD_KEY == 65, "M2MSEC_R_ASSOC_BAD_KEY changed");
_Static_assert(M2MSEC_R_ASSOC_NO_SNI == 66, "M2MSEC_R_ASSOC_NO_SNI changed");
_Static_assert(M2MSEC_R_ASSOC_WRONG_SNI == 67, "M2MSEC_R_ASSOC_WRONG_SNI changed");
_Static_assert(M2MSEC_R_ASSOC_INTEGRITY == 68, "M2MSEC_R_ASSOC_INTEGRITY changed");
_Static_assert(M2MSEC_R_ASSOC_REESTABLISH == 69, "M2MSEC_R_ASSOC_REESTABLISH changed");
_Static_assert(M2MSEC_R_ASSOC_STATE == 70, "M2MSEC_R_ASSOC_STATE changed");
_Static_assert(M2MSEC_R_ASSOC_EXPORT == 71, "M2MSEC_R_ASSOC_EXPORT changed");
_Static_assert(M2MSEC_R_ASSOC_COOKIE == 72, "M2MSEC_R_ASSOC_COOKIE changed");
_Static_assert(M2MSEC_R_ASSOC_NOT_PSK == 73, "M2MSEC_R_ASSOC_NOT_PSK changed");
_Static_assert(M2MSEC_R_ASSOC_NOT_FINISHED == 74, "M2MSEC_R_ASSOC_NOT_FINISHED changed");

static const struct {
    int code, number;
    const char *text;
} released[] = {
    {M2MSEC_R_MISSING_KEY, 1, "missing key"},
    {M2MSEC_R_KEY_TOO_SHORT, 2, "key shorter than policy minimum"},
    {M2MSEC_R_LIFETIME_EXCEEDS_POLICY, 3, "lifetime exceeds policy maximum"},
    {M2MSEC_R_MISSING_PARAMETER, 4, "missing parameter"},
    {M2MSEC_R_INVALID_PARAMETER, 5, "invalid parameter"},
    {M2MSEC_R_INVALID_UTF8, 6, "invalid UTF-8"},
    {M2MSEC_R_UNKNOWN_DERIVATION, 7, "unknown derivation"},
    {M2MSEC_R_BAD_OUTPUT_LENGTH, 8, "bad output length"},
    {M2MSEC_R_UNKNOWN_DIGEST, 9, "unsupported digest"},
    {M2MSEC_R_FIELD_TOO_LONG, 10, "field too long"},
    {M2MSEC_R_BAD_POLICY, 11, "bad security policy"},
    {M2MSEC_R_FETCH_FAILED, 12, "algorithm fetch failed"},
    {M2MSEC_R_CRYPTO_FAILED, 13, "cryptographic operation failed"},
    {M2MSEC_R_MALLOC_FAILURE, 14, "out of memory"},
    {M2MSEC_R_REPLAYED_RECORD, 15, "replayed record"},
    {M2MSEC_R_OUTSIDE_WINDOW, 16, "record outside replay window"},
    {M2MSEC_R_AUTH_FAILED, 17, "authentication failed"},
    {M2MSEC_R_KEY_EXPIRED, 18, "session key expired"},
    {M2MSEC_R_KEY_REUSED, 19, "key already used for encryption"},
    {M2MSEC_R_BAD_STATE, 20, "operation out of order"},
    {M2MSEC_R_COPY_REFUSED, 21, "record context cannot be copied"},
    {M2MSEC_R_NOT_ALLOWED, 22, "not allowed by policy"},
    {M2MSEC_R_INTEGRITY_FAILED, 23, "device integrity not verified"},
    {M2MSEC_R_MODULE_INTEGRITY, 24, "module integrity check failed"},
    {M2MSEC_R_FORKED, 25, "context used in a forked child"},
    {M2MSEC_R_JWE_PARTS, 40, "JWE not in compact form"},
    {M2MSEC_R_JWE_BASE64, 41, "invalid base64url"},
    {M2MSEC_R_JWE_TOO_LARGE, 42, "JWE part too large"},
    {M2MSEC_R_JWE_BAD_HEADER, 43, "malformed JWE header"},
    {M2MSEC_R_JSON_DUPLICATE, 44, "duplicate JSON member"},
    {M2MSEC_R_JWE_ALG_NONE, 45, "unsecured JWE (alg none) refused"},
    {M2MSEC_R_JWE_UNSUPPORTED_ALG, 46, "unsupported JWE algorithm"},
    {M2MSEC_R_JWE_ZIP, 47, "compressed JWE (zip) refused"},
    {M2MSEC_R_JWE_CRIT, 48, "JWE critical extension (crit) refused"},
    {M2MSEC_R_JWE_BAD_LENGTH, 49, "wrong JWE component length"},
    {M2MSEC_R_ESPRIM_UNKNOWN_KID, 50, "unknown pairwiseESPrimKey ID"},
    {M2MSEC_R_ESPRIM_UNKNOWN_RAND, 51, "unknown ESPrim RandObject"},
    {M2MSEC_R_ESPRIM_EXPIRED, 52, "ESPrim RandObject expired"},
    {M2MSEC_R_ESPRIM_EXPIRY_ORDER, 53, "originator RandObject outlives the receiver's"},
    {M2MSEC_R_ESPRIM_NOT_OFFERED, 54, "ESPrim algorithm not offered"},
    {M2MSEC_R_ESPRIM_REPLAY, 55, "ESPrim object replayed"},
    {M2MSEC_R_ESPRIM_BAD_RAND, 56, "malformed ESPrim RandObject"},
    {M2MSEC_R_ESPRIM_LIMIT, 57, "ESPrim limit reached"},
    {M2MSEC_R_ESPRIM_CLOSED, 58, "ESPrim session closed"},
    {M2MSEC_R_ESPRIM_STATE, 59, "ESPrim state unusable"},
    {M2MSEC_R_ASSOC_CONFIG, 60, "bad association configuration"},
    {M2MSEC_R_ASSOC_KEYTABLE, 61, "malformed association key table"},
    {M2MSEC_R_ASSOC_KEYTABLE_FILE, 62, "unsafe association key table file"},
    {M2MSEC_R_ASSOC_UNKNOWN_IDENTITY, 63, "unknown PSK identity"},
    {M2MSEC_R_ASSOC_KEY_EXPIRED, 64, "PSK past its not-after"},
    {M2MSEC_R_ASSOC_BAD_KEY, 65, "PSK of a bad length"},
    {M2MSEC_R_ASSOC_NO_SNI, 66, "ClientHello without SNI"},
    {M2MSEC_R_ASSOC_WRONG_SNI, 67, "SNI names another server"},
    {M2MSEC_R_ASSOC_INTEGRITY, 68, "device integrity not verified: no association"},
    {M2MSEC_R_ASSOC_REESTABLISH, 69, "association must be re-established"},
    {M2MSEC_R_ASSOC_STATE, 70, "not an established association"},
    {M2MSEC_R_ASSOC_EXPORT, 71, "association key export failed"},
    {M2MSEC_R_ASSOC_COOKIE, 72, "DTLS cookie refused"},
    {M2MSEC_R_ASSOC_NOT_PSK, 73, "association not authenticated by a PSK"},
    {M2MSEC_R_ASSOC_NOT_FINISHED, 74, "handshake not finished after the key was found"},
    {M2MSEC_R_SEQ_USED, 75, "sequence number already used"},
};

#define NRELEASED (sizeof(released) / sizeof(released[0]))

static void test_numbers(void)
{
    size_t n = 0;

    for (size_t i = 0; i < NRELEASED; i++)
        CHECK(released[i].code == released[i].number, "%s: %d, released as %d", released[i].text,
              released[i].code, released[i].number);
#define COUNT(name, number, text) n++;
    M2MSEC_REASONS(COUNT)
#undef COUNT
    CHECK(n == NRELEASED, "the list holds %zu reasons, %zu were released", n, NRELEASED);
}

static void test_texts(void)
{
    const OSSL_ITEM *t = m2m_reason_strings();
    size_t n = 0;

    for (; t[n].id != 0 || t[n].ptr != NULL; n++) {
        size_t found = 0;

        for (size_t i = 0; i < NRELEASED; i++)
            if ((unsigned)released[i].number == t[n].id) {
                found++;
                CHECK(t[n].ptr != NULL && strcmp(t[n].ptr, released[i].text) == 0,
                      "reason %u: '%s', released as '%s'", t[n].id,
                      t[n].ptr != NULL ? (const char *)t[n].ptr : "(null)", released[i].text);
            }
        CHECK(found == 1, "reason %u of the provider's table was not released", t[n].id);
        for (size_t k = 0; k < n; k++)
            CHECK(t[k].id != t[n].id, "reason %u listed twice", t[n].id);
    }
    CHECK(n == NRELEASED, "the provider lists %zu texts for %zu reasons", n, NRELEASED);
}

int main(void)
{
    static const tc_test tests[] = {
        {"numbers unchanged", test_numbers},
        {"texts unchanged", test_texts},
    };

    return tc_run("test_reasons", "reason codes", NULL, NULL, tests,
                  sizeof(tests) / sizeof(tests[0]));
}
