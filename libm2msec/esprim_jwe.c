/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libm2msec ESPrim: the JWE Compact Serialization (RFC 7516 section 7.1)
 * of ESPrim objects, docs/PROTOCOL.md 9.4:
 *
 *   BASE64URL(header JSON) "." "" "." BASE64URL(IV, 12) "."
 *   BASE64URL(ciphertext) "." BASE64URL(tag, 16)
 *
 * The parser checks everything that does not need the key, each failure
 * with its own reason: the number of parts, base64url, sizes, the header
 * JSON (strict, no duplicate member), "alg" exactly "dir" ("none" has a
 * reason of its own), "enc" one of A128GCM / A192GCM / A256GCM, no "zip",
 * no "crit", the oneM2M members, an empty encrypted key, a 12-byte IV and
 * a 16-byte tag.
 */
#include <stdio.h>
#include <string.h>

#include "esprim_internal.h"

#define MAX_MEMBERS 32
#define NAME_MAX_LEN 256

static int bad_header(const m2m_json *j, const char *what)
{
    M2M_ESP_ERR(M2MSEC_R_JWE_BAD_HEADER, "JWE protected header: %s (at offset %zu)", what, j->pos);
    return 0;
}

/* A string member into out (cap bytes); 0 after an error naming member. */
static int str_member(m2m_json *j, const char *member, char *out, size_t cap, size_t *len)
{
    char msg[128];

    if (m2m_json_peek(j) != '"') {
        snprintf(msg, sizeof(msg), "\"%s\" must be a string", member);
        return bad_header(j, msg);
    }
    if (!m2m_json_string(j, out, cap, len)) {
        if (strcmp(j->err, "string too long") == 0)
            snprintf(msg, sizeof(msg), "\"%s\" is longer than %zu characters", member, cap - 1);
        else
            snprintf(msg, sizeof(msg), "\"%s\": %s", member, j->err);
        return bad_header(j, msg);
    }
    return 1;
}

static int parse_header(const char *h, size_t hl, m2m_jwe *w)
{
    m2m_json j;
    char seen[MAX_MEMBERS][NAME_MAX_LEN + 1], name[NAME_MAX_LEN + 1],
        text[M2MSEC_ESPRIM_KID_MAX + 1], msg[160];
    size_t nseen = 0, len, start, end;
    int more, have_alg = 0;

    m2m_json_init(&j, h, hl);
    if (!m2m_json_object(&j))
        return bad_header(&j, "not a JSON object");
    for (;;) {
        if (!m2m_json_member(&j, &more, name, sizeof(name)))
            return bad_header(&j, strcmp(j.err, "string too long") == 0 ? "member name too long"
                                                                        : j.err);
        if (!more)
            break;
        for (size_t i = 0; i < nseen; i++)
            if (strcmp(seen[i], name) == 0) {
                M2M_ESP_ERR(M2MSEC_R_JSON_DUPLICATE,
                            "JWE protected header: member \"%.64s\" "
                            "given twice (RFC 7515 4: names must be unique; at offset %zu)",
                            name, j.pos);
                return 0;
            }
        if (nseen == MAX_MEMBERS)
            return bad_header(&j, "more than 32 members");
        memcpy(seen[nseen++], name, sizeof(name));

        if (strcmp(name, "alg") == 0) {
            if (!str_member(&j, "alg", text, sizeof(text), &len))
                return 0;
            if (strcmp(text, "none") == 0) {
                M2M_ESP_ERR(M2MSEC_R_JWE_ALG_NONE, "JWE protected header: \"alg\":\"none\" "
                                                   "(an unsecured object) is never accepted");
                return 0;
            }
            if (strcmp(text, "dir") != 0) {
                M2M_ESP_ERR(M2MSEC_R_JWE_UNSUPPORTED_ALG,
                            "JWE protected header: \"alg\" \"%.64s\" "
                            "is not supported: ESPrim uses \"dir\" (the CEK is sessionESPrimKey)",
                            text);
                return 0;
            }
            have_alg = 1;
        } else if (strcmp(name, "enc") == 0) {
            if (!str_member(&j, "enc", text, sizeof(text), &len))
                return 0;
            if ((w->enc = m2m_esp_enc_id(text)) == 0) {
                M2M_ESP_ERR(M2MSEC_R_JWE_UNSUPPORTED_ALG,
                            "JWE protected header: \"enc\" \"%.64s\" "
                            "is not supported (A128GCM, A192GCM or A256GCM: "
                            "esprimProtocolAndAlgID 10, 11, 12)",
                            text);
                return 0;
            }
        } else if (strcmp(name, "zip") == 0) {
            M2M_ESP_ERR(M2MSEC_R_JWE_ZIP,
                        "JWE protected header: \"zip\" (compression before "
                        "encryption leaks the plaintext's content through its length) is never "
                        "accepted");
            return 0;
        } else if (strcmp(name, "crit") == 0) {
            M2M_ESP_ERR(M2MSEC_R_JWE_CRIT,
                        "JWE protected header: \"crit\" names extensions that "
                        "must be understood; m2msec understands none, so it refuses the object "
                        "(RFC 7515 4.1.11)");
            return 0;
        } else if (strcmp(name, "kid") == 0) {
            if (!str_member(&j, "kid", w->kid, sizeof(w->kid), &len))
                return 0;
            if (!m2m_esp_token_ok(w->kid, len, 0))
                return bad_header(&j, "\"kid\" is not 1..256 printable ASCII characters without "
                                      "space, '\"' or '\\'");
        } else if (strcmp(name, "cty") == 0) {
            if (!str_member(&j, "cty", text, sizeof(text), &len))
                return 0;
            if (!m2m_esp_token_ok(text, len, 1))
                return bad_header(&j, "\"cty\" is not 1..256 printable ASCII characters");
        } else if (strcmp(name, "ori") == 0 || strcmp(name, "rri") == 0) {
            char *id = name[0] == 'o' ? w->ori : w->rri;

            if (!str_member(&j, name, id, M2MSEC_ESPRIM_ID_MAX + 1, &len))
                return 0;
            if (!m2m_esp_id_ok(id, len)) {
                snprintf(msg, sizeof(msg),
                         "\"%.3s\" is not an esprimRandID (an NCName of 1..64 "
                         "ASCII characters)",
                         name);
                return bad_header(&j, msg);
            }
        } else if (strcmp(name, "oro") == 0 || strcmp(name, "rro") == 0) {
            int orig = name[0] == 'o';

            if (m2m_json_peek(&j) != '{') {
                snprintf(msg, sizeof(msg), "\"%.3s\" must be a RandObject (a JSON object)", name);
                return bad_header(&j, msg);
            }
            if (!m2m_json_span(&j, &start, &end))
                return bad_header(&j, j.err);
            if (!m2m_esp_rand_parse_into(orig ? &w->oro : &w->rro, h + start, end - start,
                                         orig ? M2MSEC_ESPRIM_ORIGINATOR : M2MSEC_ESPRIM_RECEIVER,
                                         orig ? "JWE header \"oro\"" : "JWE header \"rro\""))
                return 0;
            if (orig)
                w->has_oro = 1;
            else
                w->has_rro = 1;
        } else {
            /* RFC 7516 4: other members are ignored, but they must be valid JSON */
            if (!m2m_json_skip(&j))
                return bad_header(&j, j.err);
        }
    }
    if (!m2m_json_end(&j))
        return bad_header(&j, j.err);
    if (!have_alg || w->enc == 0 || w->kid[0] == '\0' || w->ori[0] == '\0' || w->rri[0] == '\0') {
        snprintf(msg, sizeof(msg),
                 "member \"%s\" is missing (alg, enc, kid, ori and rri are "
                 "required)",
                 !have_alg           ? "alg"
                 : w->enc == 0       ? "enc"
                 : w->kid[0] == '\0' ? "kid"
                 : w->ori[0] == '\0' ? "ori"
                                     : "rri");
        return bad_header(&j, msg);
    }
    return 1;
}

/* Decode a short part (IV, tag) of exactly want bytes; errors name the part. */
static int short_part(const char *p, size_t n, unsigned char *out, size_t want, const char *what)
{
    unsigned char buf[48];
    size_t got, bad;

    if (n > 40) {
        M2M_ESP_ERR(M2MSEC_R_JWE_BAD_LENGTH,
                    "JWE %s: %zu base64url characters; it has %zu "
                    "bytes (%zu characters)",
                    what, n, want, m2m_b64url_len(want));
        return 0;
    }
    if (!m2m_b64url_decode(p, n, buf, &got, &bad)) {
        M2M_ESP_ERR(M2MSEC_R_JWE_BASE64, "JWE %s: invalid base64url at character %zu", what, bad);
        return 0;
    }
    if (got != want) {
        M2M_ESP_ERR(M2MSEC_R_JWE_BAD_LENGTH, "JWE %s of %zu bytes: %s (%zu bytes needed)", what,
                    got, got < want ? "truncated" : "too long", want);
        return 0;
    }
    memcpy(out, buf, want);
    return 1;
}

int m2m_jwe_parse(const char *s, size_t n, m2m_jwe *w)
{
    const char *part[5];
    size_t plen[5], np = 0, start = 0, got, bad;
    unsigned char hdr[M2MSEC_ESPRIM_HEADER_MAX + 2];

    memset(w, 0, sizeof(*w));
    for (;;) {
        const char *dot = memchr(s + start, '.', n - start);
        size_t end = dot != NULL ? (size_t)(dot - s) : n;

        if (np < 5) {
            part[np] = s + start;
            plen[np] = end - start;
        }
        np++;
        if (dot == NULL)
            break;
        start = end + 1;
    }
    if (np != 5) {
        M2M_ESP_ERR(M2MSEC_R_JWE_PARTS,
                    "a JWE in compact form has 5 parts separated by '.' "
                    "(header, encrypted key, IV, ciphertext, tag); this one has %zu",
                    np);
        return 0;
    }
    /* 1. protected header */
    if (plen[0] == 0) {
        M2M_ESP_ERR(M2MSEC_R_JWE_BAD_HEADER, "JWE protected header is empty");
        return 0;
    }
    if (plen[0] > m2m_b64url_len(M2MSEC_ESPRIM_HEADER_MAX)) {
        M2M_ESP_ERR(M2MSEC_R_JWE_TOO_LARGE,
                    "JWE protected header of %zu base64url characters: "
                    "more than %d bytes of JSON (the limit)",
                    plen[0], M2MSEC_ESPRIM_HEADER_MAX);
        return 0;
    }
    if (!m2m_b64url_decode(part[0], plen[0], hdr, &got, &bad)) {
        M2M_ESP_ERR(M2MSEC_R_JWE_BASE64,
                    "JWE protected header: invalid base64url at character "
                    "%zu",
                    bad);
        return 0;
    }
    if (!parse_header((const char *)hdr, got, w))
        return 0;
    w->hdr_b64 = part[0];
    w->hdr_b64_len = plen[0];
    /* 2. encrypted key: empty with "dir" (RFC 7518 4.5) */
    if (plen[1] != 0) {
        M2M_ESP_ERR(M2MSEC_R_JWE_BAD_LENGTH,
                    "JWE encrypted key must be empty with \"alg\":\"dir\"; "
                    "it has %zu characters",
                    plen[1]);
        return 0;
    }
    /* 3. IV */
    if (!short_part(part[2], plen[2], w->iv, M2M_ESP_IV_LEN, "initialization vector"))
        return 0;
    /* 4. ciphertext: only checked here, decoded while it is decrypted */
    {
        unsigned char chunk[768];
        size_t off = 0;

        while (off < plen[3]) {
            size_t take = plen[3] - off > 1024 ? 1024 : plen[3] - off;

            if (!m2m_b64url_decode(part[3] + off, take, chunk, &got, &bad)) {
                M2M_ESP_ERR(M2MSEC_R_JWE_BASE64,
                            "JWE ciphertext: invalid base64url at character "
                            "%zu",
                            off + bad);
                return 0;
            }
            off += take;
        }
        w->ct_b64 = part[3];
        w->ct_b64_len = plen[3];
        w->ct_len = m2m_b64url_decoded_len(plen[3]);
        if (w->ct_len == 0) {
            M2M_ESP_ERR(M2MSEC_R_JWE_BAD_LENGTH, "JWE ciphertext is empty (an ESPrim object "
                                                 "always carries a primitive)");
            return 0;
        }
        if (w->ct_len > M2MSEC_ESPRIM_MAX_PRIMITIVE) {
            M2M_ESP_ERR(M2MSEC_R_JWE_TOO_LARGE,
                        "JWE ciphertext of %zu bytes: more than %zu (the "
                        "limit)",
                        w->ct_len, (size_t)M2MSEC_ESPRIM_MAX_PRIMITIVE);
            return 0;
        }
    }
    /* 5. tag */
    return short_part(part[4], plen[4], w->tag, M2M_ESP_TAG_LEN, "authentication tag");
}

/* Append n bytes at *o if they fit below cap (with room for a NUL); 0 otherwise. */
static int put(char *buf, size_t cap, size_t *o, const char *s, size_t n)
{
    if (cap - *o <= n)
        return 0;
    memcpy(buf + *o, s, n);
    *o += n;
    return 1;
}

#define PUT_LIT(lit) put(buf, cap, &o, (lit), sizeof(lit) - 1)
#define PUT_STR(str) put(buf, cap, &o, (str), strlen(str))

size_t m2m_jwe_header(char *buf, size_t cap, int enc, const char *kid, const char *cty,
                      const char *ori, const char *rri, const m2msec_esprim_rand *oro)
{
    char rj[M2MSEC_ESPRIM_RAND_JSON_MAX];
    const char *name = m2m_esp_enc_name(enc);
    size_t rl = 0, o = 0;
    int ok;

    if (name == NULL || cap == 0 ||
        (oro != NULL && (rl = m2m_esp_rand_json(oro, rj, sizeof(rj))) == 0))
        return 0;
    /* the order and spelling of PROTOCOL.md 9.4, without snprintf (it is per object) */
    ok = PUT_LIT("{\"alg\":\"dir\",\"enc\":\"") && PUT_STR(name) && PUT_LIT("\",\"kid\":\"") &&
         PUT_STR(kid) && PUT_LIT("\"") &&
         (cty == NULL || (PUT_LIT(",\"cty\":\"") && PUT_STR(cty) && PUT_LIT("\""))) &&
         PUT_LIT(",\"ori\":\"") && PUT_STR(ori) && PUT_LIT("\",\"rri\":\"") && PUT_STR(rri) &&
         PUT_LIT("\"") && (oro == NULL || (PUT_LIT(",\"oro\":") && put(buf, cap, &o, rj, rl))) &&
         PUT_LIT("}");
    if (!ok)
        return 0;
    buf[o] = '\0';
    return o;
}
