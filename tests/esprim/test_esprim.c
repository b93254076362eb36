/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ESPrim objects (m2msec/esprim.h, docs/PROTOCOL.md section 9):
 *
 *  - the worked examples of PROTOCOL.md 9.7 (computed with Python's hmac
 *    and the cryptography package) are reproduced byte for byte: the
 *    sessionESPrimKey, and every JWE sealed with the documented IV and
 *    Originator RandObject (test hooks), then opened by the other end;
 *  - objects built by a reference implementation in this test (stock
 *    OpenSSL HMAC and AES-GCM, RFC 7516 by hand) are opened, and m2msec's
 *    objects are decrypted by it;
 *  - RandObject JSON: round trip and strict refusals, each with its reason;
 *  - malformed JWE: wrong number of parts, bad base64url, oversized
 *    header, unknown alg/enc, alg none, duplicate members, zip, crit,
 *    truncated tag, wrong kid, ... each with its own reason, nothing
 *    written to the output;
 *  - every receiver check of TS-0003 8.4.2 C.6 with its reason, and the
 *    same object accepted once the one wrong field is right (control);
 *  - tampered header, ciphertext and tag refused, output wiped;
 *  - replays and reflections refused; API misuse refused.
 */
#define _DEFAULT_SOURCE /* timegm */

#include <sys/wait.h>
#include <time.h>

#include "esprim_test.h"

/* ---------------------------------------------------------------- small helpers */

static int hexval(int c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static size_t unhex(const char *h, unsigned char *out, size_t cap)
{
    size_t n = strlen(h) / 2;

    if (n > cap)
        return 0;
    for (size_t i = 0; i < n; i++)
        out[i] = (unsigned char)(hexval(h[2 * i]) << 4 | hexval(h[2 * i + 1]));
    return n;
}

static uint64_t parse_ts(const char *s)
{
    struct tm tm;

    memset(&tm, 0, sizeof(tm));
    if (sscanf(s, "%4d%2d%2dT%2d%2d%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
               &tm.tm_min, &tm.tm_sec) != 6)
        return 0;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (uint64_t)timegm(&tm);
}

/* A receiver whose state holds exactly the RandObject r (written as the state file would). */
static m2msec_esprim *receiver_with(const char *name, const m2msec_esprim_rand *r,
                                    const unsigned char *key, size_t keylen, const char *kid,
                                    const m2msec_esprim_config *base)
{
    m2m_esp_state_data d;
    m2msec_esprim_config c;
    char path[600], *text;
    size_t len;
    m2msec_esprim *ep;

    memset(&d, 0, sizeof(d));
    snprintf(d.kid, sizeof(d.kid), "%s", kid);
    d.rands = (m2msec_esprim_rand *)r;
    d.nrands = r != NULL ? 1 : 0;
    text = m2m_esp_state_text(&d, &len);
    pathf(path, sizeof(path), "%s/%s", et_dir, name);
    write_bytes(path, text, len, 0600);
    OPENSSL_free(text);
    if (base != NULL)
        c = *base;
    else
        memset(&c, 0, sizeof(c));
    c.key = key;
    c.key_len = keylen;
    c.kid = kid;
    ep = et_receiver(path, &c);
    if (ep == NULL)
        ERR_print_errors_fp(stderr);
    return ep;
}

/* ---------------------------------------------------------------- the worked examples */

#define MAXF 24

typedef struct {
    char name[MAXF][32];
    char *value[MAXF];
    int n;
} block;

static const char *field(const block *b, const char *name)
{
    for (int i = 0; i < b->n; i++)
        if (strcmp(b->name[i], name) == 0)
            return b->value[i];
    return NULL;
}

/* Every ```esprim-example block of the document text doc (modified in place). */
static int doc_blocks(char *doc, block *out, int max)
{
    int nb = 0;
    char *line = doc, *next;
    block *cur = NULL;

    for (; line != NULL && *line != '\0'; line = next) {
        next = strchr(line, '\n');
        if (next != NULL)
            *next++ = '\0';
        if (cur == NULL) {
            if (strcmp(line, "```esprim-example") == 0 && nb < max) {
                cur = &out[nb];
                memset(cur, 0, sizeof(*cur));
            }
            continue;
        }
        if (strcmp(line, "```") == 0) {
            nb++;
            cur = NULL;
            continue;
        }
        if ((line[0] == ' ' || line[0] == '\t') && cur->n > 0) {
            char *v = cur->value[cur->n - 1], *t = line;
            size_t ol = strlen(v);

            while (*t == ' ' || *t == '\t')
                t++;
            v = realloc(v, ol + strlen(t) + 1);
            strcpy(v + ol, t);
            cur->value[cur->n - 1] = v;
            continue;
        }
        {
            char *eq = strstr(line, " = ");

            if (eq == NULL || cur->n == MAXF)
                continue;
            *eq = '\0';
            snprintf(cur->name[cur->n], sizeof(cur->name[0]), "%s", line);
            cur->value[cur->n] = strdup(eq + 3);
            cur->n++;
        }
    }
    return nb;
}

typedef struct {
    char ori[M2MSEC_ESPRIM_ID_MAX + 1];
    m2msec_esprim *ep;
    m2msec_esprim_info last; /* the receiver's info of its last request */
} orig_end;

static void test_protocol_examples(void)
{
    char path[600], *doc;
    const char *src = getenv("M2M_SOURCE_DIR");
    block *b = calloc(16, sizeof(block));
    orig_end ends[8];
    int nends = 0, nb;
    m2msec_esprim *recv = NULL;

    memset(ends, 0, sizeof(ends));
    CHECK(src != NULL, "M2M_SOURCE_DIR is not set");
    if (src == NULL)
        return;
    pathf(path, sizeof(path), "%s/docs/PROTOCOL.md", src);
    doc = read_all(path, NULL);
    CHECK(doc != NULL, "cannot read %s", path);
    if (doc == NULL)
        return;
    nb = doc_blocks(doc, b, 16);
    CHECK(nb >= 4, "PROTOCOL.md has %d esprim-example blocks, want at least 4", nb);
    for (int i = 0; i < nb; i++) {
        const char *dir = field(&b[i], "direction"), *kid = field(&b[i], "kid");
        const char *jwe = field(&b[i], "jwe"), *pt = field(&b[i], "plaintext");
        const char *hdr = field(&b[i], "protected-header"), *enc = field(&b[i], "enc");
        unsigned char key[64], want[32], got[32], iv[12], ov[16];
        size_t keylen, outlen;
        m2msec_esprim_rand *r, *o;
        orig_end *e = NULL;
        char out[8192];
        unsigned char plain[4096];
        m2msec_esprim_info info;

        if (dir == NULL || kid == NULL || jwe == NULL || pt == NULL || hdr == NULL || enc == NULL ||
            field(&b[i], "key") == NULL || field(&b[i], "iv") == NULL) {
            CHECK(0, "example %d: a field is missing", i + 1);
            continue;
        }
        keylen = unhex(field(&b[i], "key"), key, sizeof(key));
        r = m2msec_esprim_rand_parse(field(&b[i], "receiver-rand"),
                                     strlen(field(&b[i], "receiver-rand")), M2MSEC_ESPRIM_RECEIVER);
        o = m2msec_esprim_rand_parse(field(&b[i], "originator-rand"),
                                     strlen(field(&b[i], "originator-rand")),
                                     M2MSEC_ESPRIM_ORIGINATOR);
        CHECK(r != NULL && o != NULL, "example %d: RandObjects parse", i + 1);
        if (r == NULL || o == NULL) {
            ERR_print_errors_fp(stderr);
            m2msec_esprim_rand_free(r);
            m2msec_esprim_rand_free(o);
            continue;
        }
        /* sessionESPrimKey */
        unhex(field(&b[i], "session-key"), want, sizeof(want));
        CHECK(m2msec_esprim_derive(et_libctx, key, keylen, r, o, got, 32) &&
                  memcmp(got, want, 32) == 0,
              "example %d: m2msec_esprim_derive gives the documented sessionESPrimKey", i + 1);
        /* RandObject JSON written by m2msec is the documented text */
        CHECK(m2msec_esprim_rand_get_json(r, out, sizeof(out), &outlen) &&
                  strcmp(out, field(&b[i], "receiver-rand")) == 0,
              "example %d: receiver RandObject JSON round trip", i + 1);
        CHECK(m2msec_esprim_rand_get_json(o, out, sizeof(out), &outlen) &&
                  strcmp(out, field(&b[i], "originator-rand")) == 0,
              "example %d: originator RandObject JSON round trip", i + 1);
        m2m_esp_test_set_time(parse_ts(field(&b[i], "now")));
        if (recv == NULL)
            recv = receiver_with("examples.state", r, key, keylen, kid, NULL);
        CHECK(recv != NULL, "example %d: receiver set up", i + 1);
        for (int k = 0; k < nends; k++)
            if (strcmp(ends[k].ori, m2msec_esprim_rand_get_id(o)) == 0)
                e = &ends[k];
        unhex(field(&b[i], "iv"), iv, sizeof(iv));
        if (strcmp(dir, "request") == 0 && e == NULL && nends < 8 && recv != NULL) {
            m2msec_esprim_config c;
            int aeads[8];
            char cty[64] = "";
            const char *cp = strstr(hdr, "\"cty\":\"");

            memset(&c, 0, sizeof(c));
            c.key = key;
            c.key_len = keylen;
            c.kid = kid;
            c.naeads = m2msec_esprim_rand_get_aeads(o, aeads, 8);
            c.aeads = aeads;
            c.enc = m2m_esp_enc_id(enc);
            c.rand_lifetime = strtoull(field(&b[i], "originator-lifetime"), NULL, 10);
            if (cp != NULL) {
                sscanf(cp + 7, "%63[^\"]", cty);
                c.cty = cty;
            }
            e = &ends[nends++];
            snprintf(e->ori, sizeof(e->ori), "%s", m2msec_esprim_rand_get_id(o));
            e->ep = et_originator(&c);
            CHECK(e->ep != NULL && m2msec_esprim_accept(e->ep, r), "example %d: originator set up",
                  i + 1);
            m2msec_esprim_rand_get_value(o, ov);
            m2m_esp_test_set_orig(e->ori, ov);
        }
        if (e == NULL || e->ep == NULL || recv == NULL) {
            CHECK(0, "example %d: no end for this %s", i + 1, dir);
            m2msec_esprim_rand_free(r);
            m2msec_esprim_rand_free(o);
            ERR_print_errors_fp(stderr);
            continue;
        }
        m2m_esp_test_set_iv(iv);
        if (strcmp(dir, "request") == 0) {
            int ok = m2msec_esprim_seal(e->ep, 0, (const unsigned char *)pt, strlen(pt), out,
                                        sizeof(out), &outlen, &info);

            CHECK(ok && strcmp(out, jwe) == 0,
                  "example %d: the Originator seals the documented "
                  "JWE byte for byte\n  got:  %s\n  want: %s",
                  i + 1, ok ? out : "(error)", jwe);
            ok =
                m2msec_esprim_open(recv, jwe, strlen(jwe), plain, sizeof(plain), &outlen, &e->last);
            CHECK(ok && outlen == strlen(pt) && memcmp(plain, pt, outlen) == 0,
                  "example %d: the Receiver opens it", i + 1);
            CHECK(e->last.new_session == (strstr(hdr, "\"oro\"") != NULL),
                  "example %d: a new session exactly when oro is carried", i + 1);
        } else {
            int ok = m2msec_esprim_seal_reply(recv, &e->last, (const unsigned char *)pt, strlen(pt),
                                              out, sizeof(out), &outlen);

            CHECK(ok && strcmp(out, jwe) == 0,
                  "example %d: the Receiver seals the documented "
                  "response byte for byte\n  got:  %s\n  want: %s",
                  i + 1, ok ? out : "(error)", jwe);
            ok = m2msec_esprim_open(e->ep, jwe, strlen(jwe), plain, sizeof(plain), &outlen, &info);
            CHECK(ok && outlen == strlen(pt) && memcmp(plain, pt, outlen) == 0,
                  "example %d: the Originator opens the response", i + 1);
        }
        ERR_print_errors_fp(stderr);
        m2m_esp_test_set_iv(NULL);
        m2m_esp_test_set_orig(NULL, NULL);
        m2msec_esprim_rand_free(r);
        m2msec_esprim_rand_free(o);
    }
    m2m_esp_test_set_time(0);
    for (int k = 0; k < nends; k++)
        m2msec_esprim_free(ends[k].ep);
    m2msec_esprim_free(recv);
    for (int i = 0; i < nb; i++)
        for (int k = 0; k < b[i].n; k++)
            free(b[i].value[k]);
    free(b);
    free(doc);
}

/* ---------------------------------------------------------------- a conversation */

/* Reference object from the test's own implementation, for session (r, orand). */
static char *ref_object(const unsigned char rval[16], const unsigned char oval[16], int aead,
                        const char *hdr, const unsigned char iv[12], const char *pt)
{
    unsigned char sk[32];

    if (!et_ref_session_key(et_key, sizeof(et_key), rval, oval, sk))
        return NULL;
    return et_ref_jwe(sk, m2m_esp_enc_keylen(aead), hdr, iv, (const unsigned char *)pt, strlen(pt));
}

static void test_reference_interop(void)
{
    char state[600], rj[600], oj[600], hdr[2048], out[8192];
    unsigned char rval[16], oval[16], iv[12], plain[4096];
    m2msec_esprim *recv, *orig;
    m2msec_esprim_rand *r;
    m2msec_esprim_info info;
    size_t len;
    char *jwe;

    et_state(state, sizeof(state), "interop.state");
    recv = et_receiver(state, NULL);
    orig = et_originator(NULL);
    CHECK(recv != NULL && orig != NULL, "ends created");
    if (recv == NULL || orig == NULL)
        goto end;
    r = m2msec_esprim_rand_new(recv, 0);
    CHECK(r != NULL, "receiver issues a RandObject");
    if (r == NULL)
        goto end;
    m2msec_esprim_rand_get_value(r, rval);
    /* m2msec seals, the reference decrypts: the derivation and the format are as documented */
    CHECK(m2msec_esprim_accept(orig, r), "originator accepts it");
    for (int aead = 10; aead <= 12; aead++) {
        static const char *const pts[3] = {"a", "0123456789abcdef0123456789abcdef",
                                           "the quick brown fox jumps over the lazy dog"};
        const char *pt = pts[aead - 10];
        m2msec_esprim_config c;
        m2msec_esprim *o2;
        int one = aead;

        memset(&c, 0, sizeof(c));
        c.aeads = &one;
        c.naeads = 1;
        o2 = et_originator(&c);
        CHECK(o2 != NULL && m2msec_esprim_accept(o2, r), "originator for %d", aead);
        if (o2 == NULL)
            continue;
        CHECK(m2msec_esprim_seal(o2, 0, (const unsigned char *)pt, strlen(pt), out, sizeof(out),
                                 &len, &info),
              "seal %d", aead);
        /* rebuild the object with the reference from what travelled in clear */
        {
            char *dot = strchr(out, '.'), h64[2048], hjson[2048];
            unsigned char hb[2048], ivb[16];
            size_t hl, ivl, bad;
            m2m_jwe w;

            CHECK(dot != NULL && m2m_jwe_parse(out, len, &w) && w.has_oro,
                  "sealed object parses, carries oro");
            memcpy(h64, out, (size_t)(dot - out));
            h64[dot - out] = '\0';
            m2m_b64url_decode(h64, strlen(h64), hb, &hl, &bad);
            memcpy(hjson, hb, hl);
            hjson[hl] = '\0';
            m2m_b64url_decode(dot + 2, 16, ivb, &ivl, &bad);
            m2msec_esprim_rand_get_value(&w.oro, oval);
            jwe = ref_object(rval, oval, aead, hjson, ivb, pt);
            CHECK(jwe != NULL && strcmp(jwe, out) == 0,
                  "%s: the reference implementation builds the same object from the key, "
                  "the two RandObject values, the header and the IV",
                  m2m_esp_enc_name(aead));
            free(jwe);
        }
        CHECK(m2msec_esprim_open(recv, out, len, plain, sizeof(plain), &len, &info) &&
                  len == strlen(pt) && memcmp(plain, pt, len) == 0,
              "the receiver opens %s", m2m_esp_enc_name(aead));
        m2msec_esprim_free(o2);
    }
    /* the reference seals a request (its own originator RandObject), m2msec opens it */
    memset(oval, 0x5c, sizeof(oval));
    et_rand_json(oj, sizeof(oj), "oRef1", oval, m2msec_esprim_rand_get_expiry(r) - 10, "1",
                 "[10,12]");
    snprintf(hdr, sizeof(hdr),
             "{\"alg\":\"dir\",\"enc\":\"A256GCM\",\"kid\":\"%s\",\"ori\":\"oRef1\",\"rri\":\"%s\","
             "\"oro\":%s}",
             ET_KID, m2msec_esprim_rand_get_id(r), oj);
    memset(iv, 0x42, sizeof(iv));
    jwe = ref_object(rval, oval, 12, hdr, iv, "hello from the reference");
    CHECK(jwe != NULL &&
              m2msec_esprim_open(recv, jwe, strlen(jwe), plain, sizeof(plain), &len, &info) &&
              len == 24 && memcmp(plain, "hello from the reference", 24) == 0 && info.new_session &&
              info.aead == 12 && strcmp(info.ori, "oRef1") == 0,
          "m2msec opens the reference's A256GCM request");
    /* and the receiver's response to it, decrypted by the reference */
    CHECK(m2msec_esprim_seal_reply(recv, &info, (const unsigned char *)"reply", 5, out, sizeof(out),
                                   &len),
          "reply sealed");
    {
        m2m_jwe w;
        char h64[2048], hjson[2048];
        unsigned char hb[2048];
        size_t hl, bad;
        char *again;

        CHECK(m2m_jwe_parse(out, len, &w) && !w.has_oro && !w.has_rro, "reply parses");
        memcpy(h64, w.hdr_b64, w.hdr_b64_len);
        h64[w.hdr_b64_len] = '\0';
        m2m_b64url_decode(h64, strlen(h64), hb, &hl, &bad);
        memcpy(hjson, hb, hl);
        hjson[hl] = '\0';
        snprintf(hdr, sizeof(hdr),
                 "{\"alg\":\"dir\",\"enc\":\"A256GCM\",\"kid\":\"%s\","
                 "\"ori\":\"oRef1\",\"rri\":\"%s\"}",
                 ET_KID, m2msec_esprim_rand_get_id(r));
        CHECK(strcmp(hjson, hdr) == 0, "the reply's header is exactly %s", hdr);
        again = ref_object(rval, oval, 12, hjson, w.iv, "reply");
        CHECK(again != NULL && strcmp(again, out) == 0, "the reference rebuilds the reply");
        free(again);
    }
    free(jwe);
    /* unknown header members are ignored (RFC 7516 4), known ones still checked */
    snprintf(hdr, sizeof(hdr),
             "{\"typ\":\"JOSE\",\"alg\":\"dir\",\"x-extra\":{\"a\":[1,2.5e3,true,null]},"
             "\"enc\":\"A128GCM\",\"kid\":\"%s\",\"cty\":\"application/json; charset=utf-8\","
             "\"ori\":\"oRef1\",\"rri\":\"%s\"}",
             ET_KID, m2msec_esprim_rand_get_id(r));
    memset(iv, 0x43, sizeof(iv));
    jwe = ref_object(rval, oval, 10, hdr, iv, "x");
    CHECK(jwe != NULL &&
              m2msec_esprim_open(recv, jwe, strlen(jwe), plain, sizeof(plain), &len, &info) &&
              !info.new_session,
          "unknown members (typ, x-extra) are ignored; cty with a space is fine");
    free(jwe);
    (void)rj;
    m2msec_esprim_rand_free(r);
end:
    ERR_print_errors_fp(stderr);
    m2msec_esprim_free(recv);
    m2msec_esprim_free(orig);
}

/* ---------------------------------------------------------------- RandObject JSON */

static void test_rand_json(void)
{
    static const struct {
        int role, reason;
        const char *json, *what;
    } bad[] = {
#define RV "\"esprimRandValue\":\"AAECAwQFBgcICQoLDA0ODw\""
#define RX "\"esprimRandExpiry\":\"20300101T000000\""
#define RP "\"esprimProtocolAndAlgIDs\":[10]"
#define RID "\"esprimRandID\":\"r1\""
#define RK "\"esprimKeyGenAlgIDs\":[1]"
#define OK1 "\"esprimKeyGenAlgIDs\":1"
        {2, M2MSEC_R_ESPRIM_BAD_RAND, "[]", "an array"},
        {2, M2MSEC_R_ESPRIM_BAD_RAND, "", "empty"},
        {2, M2MSEC_R_ESPRIM_BAD_RAND, "{" RID "," RV "," RX "," RK "}", "missing member"},
        {2, M2MSEC_R_ESPRIM_BAD_RAND, "{" RID "," RV "," RX "," RK "," RP ",\"x\":1}",
         "unknown member"},
        {2, M2MSEC_R_ESPRIM_BAD_RAND, "{\"esri\":\"r1\"," RV "," RX "," RK "," RP "}",
         "short member names"},
        {2, M2MSEC_R_JSON_DUPLICATE, "{" RID "," RV "," RX "," RK "," RP "," RID "}", "duplicate"},
        {2, M2MSEC_R_JSON_DUPLICATE,
         "{" RID "," RV "," RX "," RK "," RP ",\"esprimRand\\u0049D\":\"r2\"}",
         "duplicate through an escape"},
        {2, M2MSEC_R_ESPRIM_BAD_RAND,
         "{" RID ",\"esprimRandValue\":\"AAECAwQFBgcICQoLDA0ODw==\"," RX "," RK "," RP "}",
         "padding"},
        {2, M2MSEC_R_ESPRIM_BAD_RAND,
         "{" RID ",\"esprimRandValue\":\"AAECAwQFBgcICQoLDA0ODx\"," RX "," RK "," RP "}",
         "non-canonical last character"},
        {2, M2MSEC_R_ESPRIM_BAD_RAND,
         "{" RID ",\"esprimRandValue\":\"AAECAwQFBgcICQoLDA0O\"," RX "," RK "," RP "}", "120 bits"},
        {2, M2MSEC_R_ESPRIM_BAD_RAND,
         "{" RID ",\"esprimRandValue\":\"AAECAwQFBgcICQoLDA0O+w\"," RX "," RK "," RP "}",
         "base64 not base64url"},
        {2, M2MSEC_R_ESPRIM_BAD_RAND,
         "{" RID "," RV ",\"esprimRandExpiry\":\"20300230T000000\"," RK "," RP "}", "Feb 30"},
        {2, M2MSEC_R_ESPRIM_BAD_RAND,
         "{" RID "," RV ",\"esprimRandExpiry\":\"2030-01-01T00:00:00\"," RK "," RP "}",
         "extended format"},
        {2, M2MSEC_R_ESPRIM_BAD_RAND, "{" RID "," RV ",\"esprimRandExpiry\":3600," RK "," RP "}",
         "relative expiry"},
        {2, M2MSEC_R_ESPRIM_BAD_RAND,
         "{" RID "," RV ",\"esprimRandExpiry\":\"20300101T000000,1234567\"," RK "," RP "}",
         "7 fraction digits"},
        {2, M2MSEC_R_ESPRIM_BAD_RAND, "{" RID "," RV "," RX "," OK1 "," RP "}",
         "receiver keygen not a list"},
        {1, M2MSEC_R_ESPRIM_BAD_RAND, "{\"esprimRandID\":\"o1\"," RV "," RX "," RK "," RP "}",
         "originator keygen a list"},
        {2, M2MSEC_R_ESPRIM_BAD_RAND, "{" RID "," RV "," RX ",\"esprimKeyGenAlgIDs\":[]," RP "}",
         "empty list"},
        {2, M2MSEC_R_ESPRIM_BAD_RAND,
         "{" RID "," RV "," RX "," RK ",\"esprimProtocolAndAlgIDs\":[10,10]}", "repeated ID"},
        {2, M2MSEC_R_ESPRIM_BAD_RAND,
         "{" RID "," RV "," RX "," RK ",\"esprimProtocolAndAlgIDs\":[010]}", "leading zero"},
        {2, M2MSEC_R_ESPRIM_BAD_RAND,
         "{" RID "," RV "," RX "," RK ",\"esprimProtocolAndAlgIDs\":[-10]}", "negative"},
        {2, M2MSEC_R_ESPRIM_BAD_RAND,
         "{" RID "," RV "," RX "," RK ",\"esprimProtocolAndAlgIDs\":[10.0]}", "fraction"},
        {2, M2MSEC_R_ESPRIM_BAD_RAND,
         "{" RID "," RV "," RX "," RK ",\"esprimProtocolAndAlgIDs\":[\"10\"]}", "string"},
        {2, M2MSEC_R_ESPRIM_BAD_RAND,
         "{" RID "," RV "," RX "," RK ",\"esprimProtocolAndAlgIDs\":[1,2,3,4,5,6,7,8,9]}", "9 IDs"},
        {2, M2MSEC_R_ESPRIM_BAD_RAND,
         "{" RID "," RV "," RX "," RK ",\"esprimProtocolAndAlgIDs\":[65536]}", "ID too large"},
        {2, M2MSEC_R_ESPRIM_BAD_RAND, "{\"esprimRandID\":\"1r\"," RV "," RX "," RK "," RP "}",
         "ID not an NCName"},
        {2, M2MSEC_R_ESPRIM_BAD_RAND, "{\"esprimRandID\":\"r:1\"," RV "," RX "," RK "," RP "}",
         "ID with a colon"},
        {2, M2MSEC_R_ESPRIM_BAD_RAND,
         "{\"esprimRandID\":"
         "\"r12345678901234567890123456789012345678901234567890123456789012345\"," RV "," RX "," RK
         "," RP "}",
         "ID of 65 characters"},
        {2, M2MSEC_R_ESPRIM_BAD_RAND, "{" RID "," RV "," RX "," RK "," RP "} x", "trailing"},
        {2, M2MSEC_R_ESPRIM_BAD_RAND, "{" RID "," RV "," RX "," RK "," RP ",}", "trailing comma"},
        {2, M2MSEC_R_ESPRIM_BAD_RAND, "{\"esprimRandID\":\"r\x01\"," RV "," RX "," RK "," RP "}",
         "control character"},
        {2, M2MSEC_R_ESPRIM_BAD_RAND, "{\"esprimRandID\":\"r\xc3\"," RV "," RX "," RK "," RP "}",
         "bad UTF-8"},
        {2, M2MSEC_R_ESPRIM_BAD_RAND, "{\"esprimRandID\":\"r\\ud800\"," RV "," RX "," RK "," RP "}",
         "lone surrogate"},
        {3, M2MSEC_R_INVALID_PARAMETER, "{" RID "," RV "," RX "," RK "," RP "}", "bad role"},
    };
    static const char *const good[] = {
        "{" RID "," RV "," RX "," RK "," RP "}",
        " { \"esprimProtocolAndAlgIDs\" : [ 10 , 12 ] ,\n\t" RK " , " RX "," RV ",\"esprimRandID\""
        ":\"\\u0072\\u0031\"}",
        "{" RID "," RV ",\"esprimRandExpiry\":\"20300101T000000,5\"," RK "," RP "}",
        "{" RID "," RV ",\"esprimRandExpiry\":\"20280229T235959\",\"esprimKeyGenAlgIDs\":[2,1],"
        "\"esprimProtocolAndAlgIDs\":[99,10,11,12]}",
    };
    char json[M2MSEC_ESPRIM_RAND_JSON_MAX], got[512];

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        m2msec_esprim_rand *r =
            m2msec_esprim_rand_parse(bad[i].json, strlen(bad[i].json), bad[i].role);
        int reason = et_reason_text(NULL, got, sizeof(got));

        CHECK(r == NULL && reason == bad[i].reason,
              "RandObject (%s) refused with reason %d, got %d (%s)", bad[i].what, bad[i].reason,
              reason, got);
        m2msec_esprim_rand_free(r);
    }
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        m2msec_esprim_rand *r = m2msec_esprim_rand_parse(good[i], strlen(good[i]), 2), *r2;
        size_t len;

        CHECK(r != NULL, "RandObject %zu accepted", i);
        if (r == NULL) {
            ERR_print_errors_fp(stderr);
            continue;
        }
        CHECK(m2msec_esprim_rand_get_json(r, json, sizeof(json), &len) && strlen(json) == len,
              "JSON written");
        r2 = m2msec_esprim_rand_parse(json, len, 2);
        CHECK(r2 != NULL && m2m_esp_rand_equal(r, r2), "written JSON parses to the same object");
        m2msec_esprim_rand_free(r2);
        m2msec_esprim_rand_free(r);
    }
    {
        m2msec_esprim_rand *r = m2msec_esprim_rand_parse(good[1], strlen(good[1]), 2);
        int aeads[4];
        size_t jl = 99;

        CHECK(r != NULL && strcmp(m2msec_esprim_rand_get_id(r), "r1") == 0,
              "an ID written with \\u escapes is decoded (\\u0072\\u0031 = r1)");
        m2msec_esprim_rand_free(r);
        r = m2msec_esprim_rand_parse(good[0], strlen(good[0]), 2);
        CHECK(r != NULL && m2msec_esprim_rand_get_expiry(r) == 1893456000 &&
                  m2msec_esprim_rand_get_aeads(r, aeads, 4) == 1 && aeads[0] == 10 &&
                  m2msec_esprim_rand_get_role(r) == M2MSEC_ESPRIM_RECEIVER,
              "expiry 20300101T000000 = 1893456000 (date -u -d 2030-01-01 +%%s), lists");
        CHECK(r != NULL && !m2msec_esprim_rand_get_json(r, json, 40, &jl),
              "a too small buffer is refused");
        CHECK(et_reason() == M2MSEC_R_INVALID_PARAMETER && json[0] == '\0' && jl == 0,
              "reason invalid parameter, the buffer wiped");
        m2msec_esprim_rand_free(r);
    }
}

/* ---------------------------------------------------------------- malformed JWE */

static char *b64u_str(const char *s)
{
    char *o = malloc(strlen(s) * 2 + 4);

    et_b64u((const unsigned char *)s, strlen(s), o);
    return o;
}

static void test_jwe_bad_input(void)
{
    char state[600], rj[512], good_hdr[2048], big[4096], out[8192];
    unsigned char rval[16], oval[16], iv[12], plain[4096];
    m2msec_esprim *recv;
    m2msec_esprim_rand *r;
    size_t len;
    char *valid;
    const char *rid;

    et_state(state, sizeof(state), "bad.state");
    recv = et_receiver(state, NULL);
    r = recv != NULL ? m2msec_esprim_rand_new(recv, 0) : NULL;
    CHECK(r != NULL, "receiver and RandObject");
    if (r == NULL)
        goto end;
    rid = m2msec_esprim_rand_get_id(r);
    m2msec_esprim_rand_get_value(r, rval);
    memset(oval, 7, sizeof(oval));
    et_rand_json(rj, sizeof(rj), "oBad", oval, m2msec_esprim_rand_get_expiry(r), "1", "[10]");
    snprintf(good_hdr, sizeof(good_hdr),
             "{\"alg\":\"dir\",\"enc\":\"A128GCM\",\"kid\":\"%s\",\"ori\":\"oBad\",\"rri\":\"%s\","
             "\"oro\":%s}",
             ET_KID, rid, rj);
    memset(iv, 1, sizeof(iv));
    valid = ref_object(rval, oval, 10, good_hdr, iv, "a valid primitive");
    {
        /* header variants: each refused with its reason before any key is used */
        static const struct {
            const char *fmt; /* %s: kid, then rri, then oro */
            int reason;
            const char *what, *detail;
        } hv[] = {
            {"{\"alg\":\"none\",\"enc\":\"A128GCM\",\"kid\":\"%s\",\"ori\":\"oBad\",\"rri\":\"%s\","
             "\"oro\":%s}",
             M2MSEC_R_JWE_ALG_NONE, "alg none", "\"alg\":\"none\""},
            {"{\"alg\":\"RSA-OAEP\",\"enc\":\"A128GCM\",\"kid\":\"%s\",\"ori\":\"oBad\",\"rri\":"
             "\"%s\",\"oro\":%s}",
             M2MSEC_R_JWE_UNSUPPORTED_ALG, "alg RSA-OAEP", "RSA-OAEP"},
            {"{\"alg\":\"dir\",\"enc\":\"A128CBC-HS256\",\"kid\":\"%s\",\"ori\":\"oBad\",\"rri\":"
             "\"%s\",\"oro\":%s}",
             M2MSEC_R_JWE_UNSUPPORTED_ALG, "enc A128CBC-HS256", "A128CBC-HS256"},
            {"{\"alg\":\"dir\",\"alg\":\"dir\",\"enc\":\"A128GCM\",\"kid\":\"%s\",\"ori\":\"oBad\","
             "\"rri\":\"%s\",\"oro\":%s}",
             M2MSEC_R_JSON_DUPLICATE, "duplicate alg", "\"alg\" given twice"},
            {"{\"alg\":\"dir\",\"enc\":\"A128GCM\",\"kid\":\"%s\",\"ori\":\"oBad\",\"rri\":\"%s\","
             "\"oro\":%s,\"k\\u0069d\":\"x\"}",
             M2MSEC_R_JSON_DUPLICATE, "duplicate kid through an escape", "\"kid\" given twice"},
            {"{\"alg\":\"dir\",\"enc\":\"A128GCM\",\"zip\":\"DEF\",\"kid\":\"%s\",\"ori\":\"oBad\","
             "\"rri\":\"%s\",\"oro\":%s}",
             M2MSEC_R_JWE_ZIP, "zip", "\"zip\""},
            {"{\"alg\":\"dir\",\"enc\":\"A128GCM\",\"crit\":[\"exp\"],\"exp\":1,\"kid\":\"%s\","
             "\"ori\":\"oBad\",\"rri\":\"%s\",\"oro\":%s}",
             M2MSEC_R_JWE_CRIT, "crit", "\"crit\""},
            {"{\"alg\":\"dir\",\"enc\":\"A128GCM\",\"ori\":\"oBad\",\"rri\":\"%.0s%s\","
             "\"oro\":%s}",
             M2MSEC_R_JWE_BAD_HEADER, "no kid", "\"kid\" is missing"},
            {"{\"alg\":\"dir\",\"enc\":\"A128GCM\",\"kid\":\"other-kid%.0s\",\"ori\":\"oBad\","
             "\"rri\":\"%s\",\"oro\":%s}",
             M2MSEC_R_ESPRIM_UNKNOWN_KID, "wrong kid", "other-kid"},
            {"{\"alg\":\"dir\",\"enc\":10,\"kid\":\"%s\",\"ori\":\"oBad\",\"rri\":\"%s\","
             "\"oro\":%s}",
             M2MSEC_R_JWE_BAD_HEADER, "enc a number", "must be a string"},
            {"{\"alg\":\"dir\",\"enc\":\"A128GCM\",\"kid\":\"%s\",\"ori\":\"o:Bad\",\"rri\":\"%s\","
             "\"oro\":%s}",
             M2MSEC_R_JWE_BAD_HEADER, "ori not an NCName", "esprimRandID"},
            {"{\"alg\":\"dir\",\"enc\":\"A128GCM\",\"kid\":\"%s\",\"ori\":\"oBad\",\"rri\":\"%s\","
             "\"oro\":\"%s\"}",
             M2MSEC_R_JWE_BAD_HEADER, "oro a string", "must be a RandObject"},
            {"{\"alg\":\"dir\",\"enc\":\"A128GCM\",\"kid\":\"%s\",\"ori\":\"oBad\",\"rri\":\"%s\","
             "\"rro\":%s}",
             M2MSEC_R_ESPRIM_BAD_RAND, "rro with an originator object", "rro"},
            {"[\"alg\",\"dir\",\"%s\",\"%s\",%s]", M2MSEC_R_JWE_BAD_HEADER, "an array",
             "not a JSON object"},
            {"{\"alg\":\"dir\",\"enc\":\"A128GCM\",\"kid\":\"%s\",\"ori\":\"oBad\",\"rri\":\"%s\","
             "\"oro\":%s}}",
             M2MSEC_R_JWE_BAD_HEADER, "trailing brace", "trailing characters"},
            {"{\"alg\":\"dir\",\"enc\":\"A128GCM\",\"kid\":\"%s\",\"ori\":\"oBad\",\"rri\":\"%s\","
             "\"oro\":%s,\"x\":[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]}",
             M2MSEC_R_JWE_BAD_HEADER, "nested too deeply", "nested too deeply"},
        };

        for (size_t i = 0; i < sizeof(hv) / sizeof(hv[0]); i++) {
            char h[2048], got[512], *jwe;
            int reason;

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
            snprintf(h, sizeof(h), hv[i].fmt, ET_KID, rid, rj);
#pragma GCC diagnostic pop
            jwe = ref_object(rval, oval, 10, h, iv, "a primitive");
            memset(plain, 0xaa, sizeof(plain));
            CHECK(jwe != NULL &&
                      !m2msec_esprim_open(recv, jwe, strlen(jwe), plain, sizeof(plain), &len, NULL),
                  "%s: refused", hv[i].what);
            reason = et_reason_text(hv[i].detail, got, sizeof(got));
            CHECK(reason == hv[i].reason && len == 0 && plain[0] == 0xaa,
                  "%s: reason %d with \"%s\" in the detail, got %d (%s); no output", hv[i].what,
                  hv[i].reason, hv[i].detail, reason, got);
            free(jwe);
        }
    }
    {
        /* structure variants of the valid object */
        char *h64 = strndup(valid, (size_t)(strchr(valid, '.') - valid));
        const char *rest = strchr(valid, '.') + 2; /* iv.ct.tag */
        char *iv_end = strchr(rest, '.');
        char *ct = iv_end + 1, *tag = strrchr(valid, '.') + 1;
        char ivs[64], cts[256], tags[64];
        struct {
            char *jwe;
            int reason;
            const char *what;
        } sv[24];
        int n = 0;
        char *bighdr;

        snprintf(ivs, sizeof(ivs), "%.*s", (int)(iv_end - rest), rest);
        snprintf(cts, sizeof(cts), "%.*s", (int)(tag - 1 - ct), ct);
        snprintf(tags, sizeof(tags), "%s", tag);
#define SV(r, w, ...)                                                                              \
    do {                                                                                           \
        sv[n].jwe = malloc(16384);                                                                 \
        snprintf(sv[n].jwe, 16384, __VA_ARGS__);                                                   \
        sv[n].reason = (r);                                                                        \
        sv[n].what = (w);                                                                          \
        n++;                                                                                       \
    } while (0)
        SV(M2MSEC_R_JWE_PARTS, "4 parts", "%s..%s.%s", h64, ivs, cts);
        SV(M2MSEC_R_JWE_PARTS, "6 parts", "%s..%s.%s.%s.", h64, ivs, cts, tags);
        SV(M2MSEC_R_JWE_PARTS, "1 part", "%s", h64);
        SV(M2MSEC_R_JWE_PARTS, "JWS-like 3 parts", "%s.%s.%s", h64, cts, tags);
        SV(M2MSEC_R_JWE_BASE64, "header with '*'", "*%s..%s.%s.%s", h64 + 1, ivs, cts, tags);
        SV(M2MSEC_R_JWE_BASE64, "header with padding", "%s=..%s.%s.%s", h64, ivs, cts, tags);
        SV(M2MSEC_R_JWE_BASE64, "ciphertext with '+'", "%s..%s.+%s.%s", h64, ivs, cts + 1, tags);
        SV(M2MSEC_R_JWE_BASE64, "ciphertext with a space", "%s..%s.%.4s %s.%s", h64, ivs, cts,
           cts + 5, tags);
        SV(M2MSEC_R_JWE_BASE64, "tag with '/'", "%s..%s.%s./%s", h64, ivs, cts, tags + 1);
        SV(M2MSEC_R_JWE_BAD_LENGTH, "truncated tag (15 bytes)", "%s..%s.%s.%.20s", h64, ivs, cts,
           tags);
        SV(M2MSEC_R_JWE_BAD_LENGTH, "no tag", "%s..%s.%s.", h64, ivs, cts);
        SV(M2MSEC_R_JWE_BAD_LENGTH, "tag of 17 bytes", "%s..%s.%s.%sAA", h64, ivs, cts, tags);
        SV(M2MSEC_R_JWE_BAD_LENGTH, "IV of 9 bytes", "%s..%.12s.%s.%s", h64, ivs, cts, tags);
        SV(M2MSEC_R_JWE_BAD_LENGTH, "IV of 16 bytes", "%s..%sAAAAAA.%s.%s", h64, ivs, cts, tags);
        SV(M2MSEC_R_JWE_BAD_LENGTH, "an encrypted key with dir",
           "%s.AAAAAAAAAAAAAAAAAAAAAA.%s.%s.%s", h64, ivs, cts, tags);
        SV(M2MSEC_R_JWE_BAD_LENGTH, "empty ciphertext", "%s..%s..%s", h64, ivs, tags);
        SV(M2MSEC_R_JWE_BAD_HEADER, "empty header", "..%s.%s.%s", ivs, cts, tags);
        SV(M2MSEC_R_JWE_BAD_HEADER, "header not JSON", "bm90IGpzb24..%s.%s.%s", ivs, cts, tags);
        bighdr = malloc(8192);
        memset(big, 'a', 3000);
        big[3000] = '\0';
        snprintf(bighdr, 8192, "{\"alg\":\"dir\",\"pad\":\"%s\"}", big);
        {
            char *bh = b64u_str(bighdr);

            SV(M2MSEC_R_JWE_TOO_LARGE, "oversized header (3 KB)", "%s..%s.%s.%s", bh, ivs, cts,
               tags);
            free(bh);
        }
        free(bighdr);
        SV(0, "the valid object (control)", "%s", valid);
        for (int i = 0; i < n; i++) {
            char got[512];
            int ok, reason;

            memset(plain, 0xaa, sizeof(plain));
            ok = m2msec_esprim_open(recv, sv[i].jwe, strlen(sv[i].jwe), plain, sizeof(plain), &len,
                                    NULL);
            reason = et_reason_text(NULL, got, sizeof(got));
            if (sv[i].reason == 0)
                CHECK(ok && len == 17 && memcmp(plain, "a valid primitive", 17) == 0,
                      "%s: accepted (%s)", sv[i].what, got);
            else
                CHECK(!ok && reason == sv[i].reason && len == 0 && plain[0] == 0xaa,
                      "%s: refused with reason %d, got %d (%s), nothing written", sv[i].what,
                      sv[i].reason, reason, got);
            free(sv[i].jwe);
        }
        free(h64);
    }
    /* the same object again: a replay */
    CHECK(!m2msec_esprim_open(recv, valid, strlen(valid), plain, sizeof(plain), &len, NULL) &&
              et_reason() == M2MSEC_R_ESPRIM_REPLAY,
          "the valid object again: replay");
    /* tampering: header (re-encoded with one more member), ciphertext, tag */
    {
        char h[2048], *t;
        const char *dot;

        snprintf(h, sizeof(h), "%.*s,\"x\":1}", (int)strlen(good_hdr) - 1, good_hdr);
        t = b64u_str(h);
        dot = strchr(valid, '.');
        snprintf(out, sizeof(out), "%s%s", t, dot);
        free(t);
        /* a new IV so that the replay check does not answer first */
        memset(plain, 0xaa, sizeof(plain));
        CHECK(!m2msec_esprim_open(recv, out, strlen(out), plain, sizeof(plain), &len, NULL) &&
                  et_reason() == M2MSEC_R_ESPRIM_REPLAY,
              "a changed header on a replayed IV: replay (checked before decryption)");
        memset(iv, 2, sizeof(iv));
        t = ref_object(rval, oval, 10, good_hdr, iv, "another primitive");
        dot = strchr(t, '.');
        {
            char *t2 = b64u_str(h);

            snprintf(out, sizeof(out), "%s%s", t2, dot);
            free(t2);
        }
        memset(plain, 0xaa, sizeof(plain));
        CHECK(!m2msec_esprim_open(recv, out, strlen(out), plain, sizeof(plain), &len, NULL) &&
                  et_reason() == M2MSEC_R_AUTH_FAILED && len == 0,
              "tampered protected header (one member added): authentication failed");
        for (size_t i = 0; i < 17; i++)
            CHECK(plain[i] == 0 || plain[i] == 0xaa, "no plaintext left after a failure");
        snprintf(out, sizeof(out), "%s", t);
        {
            char *ctp = strrchr(out, '.') - 3; /* inside the ciphertext */

            *ctp = *ctp == 'A' ? 'B' : 'A';
        }
        memset(plain, 0xaa, sizeof(plain));
        CHECK(!m2msec_esprim_open(recv, out, strlen(out), plain, sizeof(plain), &len, NULL) &&
                  et_reason() == M2MSEC_R_AUTH_FAILED && len == 0,
              "tampered ciphertext: authentication failed");
        for (size_t i = 0; i < 17; i++)
            CHECK(plain[i] == 0 || plain[i] == 0xaa, "no plaintext left after a failure");
        snprintf(out, sizeof(out), "%s", t);
        {
            char *tp = strrchr(out, '.') + 3;

            *tp = *tp == 'A' ? 'B' : 'A';
        }
        CHECK(!m2msec_esprim_open(recv, out, strlen(out), plain, sizeof(plain), &len, NULL) &&
                  et_reason() == M2MSEC_R_AUTH_FAILED,
              "tampered tag: authentication failed");
        CHECK(m2msec_esprim_open(recv, t, strlen(t), plain, sizeof(plain), &len, NULL) && len == 17,
              "the untampered object is accepted after the forgeries (they were not remembered)");
        free(t);
    }
    free(valid);
    m2msec_esprim_rand_free(r);
end:
    ERR_print_errors_fp(stderr);
    m2msec_esprim_free(recv);
}

/* ---------------------------------------------------------------- TS-0003 8.4.2 C.6 */

static void test_c6_checks(void)
{
    char state[600], rj[512], h[2048], got[512];
    unsigned char rval[16], oval[16], iv[12], plain[256];
    m2msec_esprim *recv;
    m2msec_esprim_rand *r;
    uint64_t rexp;
    size_t len;
    const char *rid;
    unsigned ivn = 0;
    /* one wrong field each; the originator RandObject is "oC6_<n>" */
    static const struct {
        const char *what;
        int64_t oexp_delta; /* originator expiry relative to the receiver's */
        const char *keygen, *aeads, *enc, *rri_override;
        int with_oro, reason;
    } cases[] = {
        {"unknown receiver RandObject (rri)", -100, "1", "[10]", "A128GCM", "rNope", 1,
         M2MSEC_R_ESPRIM_UNKNOWN_RAND},
        {"unknown originator RandObject, no oro", -100, "1", "[10]", "A128GCM", NULL, 0,
         M2MSEC_R_ESPRIM_UNKNOWN_RAND},
        {"expired originator RandObject", -(int64_t)(ET_T0 + 1000), "1", "[10]", "A128GCM", NULL, 1,
         M2MSEC_R_ESPRIM_EXPIRED},
        {"originator expiry later than the receiver's", 1, "1", "[10]", "A128GCM", NULL, 1,
         M2MSEC_R_ESPRIM_EXPIRY_ORDER},
        {"key generation algorithm 2", -100, "2", "[10]", "A128GCM", NULL, 1,
         M2MSEC_R_ESPRIM_NOT_OFFERED},
        {"originator AEAD the receiver does not offer", -100, "1", "[10,12]", "A128GCM", NULL, 1,
         M2MSEC_R_ESPRIM_NOT_OFFERED},
        {"enc not among the originator's AEADs", -100, "1", "[10]", "A192GCM", NULL, 1,
         M2MSEC_R_ESPRIM_NOT_OFFERED},
        {"control: everything right", -100, "1", "[10,11]", "A192GCM", NULL, 1, 0},
    };
    m2msec_esprim_config c;
    int aeads[2] = {10, 11};

    m2m_esp_test_set_time(ET_T0);
    et_state(state, sizeof(state), "c6.state");
    memset(&c, 0, sizeof(c));
    c.aeads = aeads;
    c.naeads = 2; /* the receiver offers A128GCM and A192GCM only */
    recv = et_receiver(state, &c);
    r = recv != NULL ? m2msec_esprim_rand_new(recv, ET_T0 + 3600) : NULL;
    CHECK(r != NULL, "receiver and RandObject");
    if (r == NULL)
        goto end;
    rid = m2msec_esprim_rand_get_id(r);
    rexp = m2msec_esprim_rand_get_expiry(r);
    m2msec_esprim_rand_get_value(r, rval);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char oid[32], *jwe;
        uint64_t oexp = (uint64_t)((int64_t)rexp + cases[i].oexp_delta);
        int ok, reason;

        snprintf(oid, sizeof(oid), "oC6_%zu", i);
        memset(oval, (int)i + 1, sizeof(oval));
        et_rand_json(rj, sizeof(rj), oid, oval, oexp, cases[i].keygen, cases[i].aeads);
        snprintf(
            h, sizeof(h),
            "{\"alg\":\"dir\",\"enc\":\"%s\",\"kid\":\"%s\",\"ori\":\"%s\",\"rri\":\"%s\"%s%s}",
            cases[i].enc, ET_KID, oid, cases[i].rri_override ? cases[i].rri_override : rid,
            cases[i].with_oro ? ",\"oro\":" : "", cases[i].with_oro ? rj : "");
        memset(iv, 0, sizeof(iv));
        iv[0] = (unsigned char)++ivn;
        jwe = ref_object(rval, oval, m2m_esp_enc_id(cases[i].enc), h, iv, "c6 primitive");
        m2m_esp_test_set_time(ET_T0);
        memset(plain, 0xaa, sizeof(plain));
        ok = m2msec_esprim_open(recv, jwe, strlen(jwe), plain, sizeof(plain), &len, NULL);
        reason = et_reason_text(NULL, got, sizeof(got));
        if (cases[i].reason == 0)
            CHECK(ok && len == 12, "%s: accepted (%s)", cases[i].what, got);
        else
            CHECK(!ok && reason == cases[i].reason && plain[0] == 0xaa,
                  "%s: refused with reason %d, got %d (%s)", cases[i].what, cases[i].reason, reason,
                  got);
        free(jwe);
    }
    /* a known session: its next object needs no oro; an oro that differs is refused */
    {
        char *jwe;

        m2m_esp_test_set_time(ET_T0);
        memset(oval, 8, sizeof(oval)); /* the control case's value (index 7 -> 8) */
        snprintf(h, sizeof(h),
                 "{\"alg\":\"dir\",\"enc\":\"A128GCM\",\"kid\":\"%s\",\"ori\":\"oC6_7\","
                 "\"rri\":\"%s\"}",
                 ET_KID, rid);
        iv[0] = (unsigned char)++ivn;
        jwe = ref_object(rval, oval, 10, h, iv, "second");
        CHECK(m2msec_esprim_open(recv, jwe, strlen(jwe), plain, sizeof(plain), &len, NULL) &&
                  len == 6,
              "the known session's next object, without oro, is accepted");
        free(jwe);
        et_rand_json(rj, sizeof(rj), "oC6_7", oval, rexp - 99, "1", "[10,11]");
        snprintf(h, sizeof(h),
                 "{\"alg\":\"dir\",\"enc\":\"A128GCM\",\"kid\":\"%s\",\"ori\":\"oC6_7\","
                 "\"rri\":\"%s\",\"oro\":%s}",
                 ET_KID, rid, rj);
        iv[0] = (unsigned char)++ivn;
        jwe = ref_object(rval, oval, 10, h, iv, "third");
        CHECK(!m2msec_esprim_open(recv, jwe, strlen(jwe), plain, sizeof(plain), &len, NULL) &&
                  et_reason() == M2MSEC_R_JWE_BAD_HEADER,
              "an oro that differs from the one accepted (expiry) is refused");
        free(jwe);
        et_rand_json(rj, sizeof(rj), "oOther", oval, rexp - 100, "1", "[10]");
        snprintf(h, sizeof(h),
                 "{\"alg\":\"dir\",\"enc\":\"A128GCM\",\"kid\":\"%s\",\"ori\":\"oC6_new\","
                 "\"rri\":\"%s\",\"oro\":%s}",
                 ET_KID, rid, rj);
        iv[0] = (unsigned char)++ivn;
        jwe = ref_object(rval, oval, 10, h, iv, "fourth");
        CHECK(!m2msec_esprim_open(recv, jwe, strlen(jwe), plain, sizeof(plain), &len, NULL) &&
                  et_reason() == M2MSEC_R_JWE_BAD_HEADER,
              "an oro whose ID is not ori (in-band renewal) is refused");
        free(jwe);
        /* last, since an end's clock never goes back: the receiver RandObject expires */
        m2m_esp_test_set_time(rexp);
        memset(oval, 0x33, sizeof(oval));
        et_rand_json(rj, sizeof(rj), "oLate", oval, rexp - 100, "1", "[10]");
        snprintf(h, sizeof(h),
                 "{\"alg\":\"dir\",\"enc\":\"A128GCM\",\"kid\":\"%s\",\"ori\":\"oLate\","
                 "\"rri\":\"%s\",\"oro\":%s}",
                 ET_KID, rid, rj);
        iv[0] = (unsigned char)++ivn;
        jwe = ref_object(rval, oval, 10, h, iv, "late");
        CHECK(!m2msec_esprim_open(recv, jwe, strlen(jwe), plain, sizeof(plain), &len, NULL) &&
                  et_reason() == M2MSEC_R_ESPRIM_EXPIRED,
              "expired receiver RandObject: refused with reason expired");
        free(jwe);
    }
    m2msec_esprim_rand_free(r);
end:
    m2m_esp_test_set_time(0);
    ERR_print_errors_fp(stderr);
    m2msec_esprim_free(recv);
}

/* ---------------------------------------------------------------- replay, reflection, API */

static void test_replay_and_api(void)
{
    char state[600], req[4096], rsp[4096], req2[4096];
    unsigned char plain[256];
    m2msec_esprim *recv, *orig;
    m2msec_esprim_rand *r;
    m2msec_esprim_info oi, ri, info;
    size_t len, rl, sl, r2l;

    et_state(state, sizeof(state), "replay.state");
    recv = et_receiver(state, NULL);
    orig = et_originator(NULL);
    r = recv != NULL ? m2msec_esprim_rand_new(recv, 0) : NULL;
    CHECK(r != NULL && orig != NULL && m2msec_esprim_accept(orig, r), "ends");
    if (r == NULL || orig == NULL)
        goto end;
    CHECK(
        !m2msec_esprim_seal(recv, 0, (const unsigned char *)"x", 1, req, sizeof(req), &len, NULL) &&
            et_reason() == M2MSEC_R_INVALID_PARAMETER,
        "a Receiver does not seal requests");
    CHECK(m2msec_esprim_rand_new(orig, 0) == NULL && et_reason() == M2MSEC_R_INVALID_PARAMETER,
          "an Originator does not issue RandObjects with rand_new");
    CHECK(!m2msec_esprim_accept(recv, r) && et_reason() == M2MSEC_R_INVALID_PARAMETER,
          "a Receiver does not accept RandObjects");
    CHECK(
        !m2msec_esprim_seal(orig, 0, (const unsigned char *)"x", 0, req, sizeof(req), &len, NULL) &&
            et_reason() == M2MSEC_R_INVALID_PARAMETER && len == 0,
        "an empty primitive is refused");
    memset(req, 'Z', sizeof(req));
    CHECK(!m2msec_esprim_seal(orig, 0, (const unsigned char *)"hello", 5, req, 100, &len, NULL) &&
              et_reason() == M2MSEC_R_INVALID_PARAMETER && req[0] == '\0' && req[99] == '\0',
          "a buffer below M2MSEC_ESPRIM_SEAL_SIZE is refused and wiped");
    CHECK(m2msec_esprim_seal(orig, 0, (const unsigned char *)"hello", 5, req, sizeof(req), &rl,
                             &oi) &&
              oi.with_oro && oi.new_session && rl == strlen(req) &&
              rl <= M2MSEC_ESPRIM_SEAL_SIZE(5),
          "first request: oro, new session, NUL-terminated, within SEAL_SIZE");
    CHECK(!m2msec_esprim_open(recv, req, rl, plain, 4, &len, &ri) &&
              et_reason() == M2MSEC_R_INVALID_PARAMETER,
          "an output buffer smaller than the primitive is refused");
    CHECK(m2msec_esprim_open(recv, req, rl, plain, sizeof(plain), &len, &ri) && len == 5 &&
              ri.new_session && strcmp(ri.ori, oi.ori) == 0,
          "the receiver opens it");
    CHECK(!m2msec_esprim_open(recv, req, rl, plain, sizeof(plain), &len, &info) &&
              et_reason() == M2MSEC_R_ESPRIM_REPLAY && info.ori[0] == '\0',
          "the same request again: replay");
    CHECK(m2msec_esprim_seal(orig, 0, (const unsigned char *)"again", 5, req2, sizeof(req2), &r2l,
                             &oi) &&
              oi.with_oro && !oi.new_session,
          "second request before any response: still carries oro");
    CHECK(m2msec_esprim_seal_reply(recv, &ri, (const unsigned char *)"answer", 6, rsp, sizeof(rsp),
                                   &sl),
          "the receiver replies");
    CHECK(!m2msec_esprim_open(recv, rsp, sl, plain, sizeof(plain), &len, NULL) &&
              et_reason() == M2MSEC_R_ESPRIM_REPLAY,
          "the receiver's own response reflected back to it: refused (replay)");
    CHECK(m2msec_esprim_open(orig, rsp, sl, plain, sizeof(plain), &len, &info) && len == 6 &&
              memcmp(plain, "answer", 6) == 0,
          "the originator opens the response");
    CHECK(!m2msec_esprim_open(orig, rsp, sl, plain, sizeof(plain), &len, NULL) &&
              et_reason() == M2MSEC_R_ESPRIM_REPLAY,
          "the response again: replay");
    CHECK(m2msec_esprim_seal(orig, 0, (const unsigned char *)"third", 5, req, sizeof(req), &rl,
                             &oi) &&
              !oi.with_oro,
          "after a response, requests no longer carry oro");
    CHECK(!m2msec_esprim_open(orig, req, rl, plain, sizeof(plain), &len, NULL) &&
              et_reason() == M2MSEC_R_ESPRIM_REPLAY,
          "the originator's own request reflected back to it: refused (replay)");
    CHECK(!m2msec_esprim_open(orig, req2, r2l, plain, sizeof(plain), &len, NULL) &&
              et_reason() == M2MSEC_R_JWE_BAD_HEADER,
          "a request with oro reflected to the originator: refused (oro in a response)");
    CHECK(m2msec_esprim_open(recv, req2, r2l, plain, sizeof(plain), &len, NULL) &&
              m2msec_esprim_open(recv, req, rl, plain, sizeof(plain), &len, NULL),
          "the receiver takes both outstanding requests, in any order");
    CHECK(m2msec_esprim_seal(orig, M2MSEC_ESPRIM_SEAL_NEW_SESSION, (const unsigned char *)"n", 1,
                             req, sizeof(req), &rl, &oi) &&
              oi.new_session && oi.with_oro,
          "M2MSEC_ESPRIM_SEAL_NEW_SESSION starts a new originator RandObject");
    {
        m2msec_esprim_stats st;

        m2msec_esprim_get_stats(recv, &st);
        CHECK(st.opened == 3 && st.refused == 3 && st.sealed == 1 && st.sessions == 1 &&
                  st.ivs == 4 && st.state_saves == 2 && st.memory > 0,
              "receiver stats: %llu opened, %llu refused, %llu sealed, %llu sessions, %llu IVs, "
              "%llu saves",
              (unsigned long long)st.opened, (unsigned long long)st.refused,
              (unsigned long long)st.sealed, (unsigned long long)st.sessions,
              (unsigned long long)st.ivs, (unsigned long long)st.state_saves);
    }
    /* fork: the child's copy refuses */
    {
        pid_t pid;
        int status = -1;

        fflush(NULL);
        pid = fork();
        if (pid == 0) {
            int bad = m2msec_esprim_seal(orig, 0, (const unsigned char *)"c", 1, req, sizeof(req),
                                         &rl, NULL) ||
                      ERR_GET_REASON(ERR_peek_last_error()) != M2MSEC_R_ESPRIM_STATE ||
                      m2msec_esprim_open(recv, req2, r2l, plain, sizeof(plain), &len, NULL);

            /* the child frees its copies (no unlock, no save in a child) before it exits */
            ERR_clear_error();
            m2msec_esprim_free(orig);
            m2msec_esprim_free(recv);
            m2msec_esprim_rand_free(r);
            _exit(bad ? 1 : 0);
        }
        CHECK(pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
                  WEXITSTATUS(status) == 0,
              "in a forked child both ends refuse (ESPrim state: used after fork)");
        CHECK(
            m2msec_esprim_seal(orig, 0, (const unsigned char *)"p", 1, req, sizeof(req), &rl, NULL),
            "the parent goes on");
    }
    /* configuration errors */
    {
        m2msec_esprim_config c;
        int bad_aead[1] = {13}, dup[2] = {10, 10};
        struct {
            const char *what;
            int role;
            const char *kid, *state;
            const int *aeads;
            size_t naeads;
            int enc;
            uint64_t max_objects;
            int reason;
        } cv[] = {
            {"no role", 0, ET_KID, NULL, NULL, 0, 0, 0, M2MSEC_R_INVALID_PARAMETER},
            {"kid with a space", 1, "a b", NULL, NULL, 0, 0, 0, M2MSEC_R_INVALID_PARAMETER},
            {"kid with a quote", 1, "a\"b", NULL, NULL, 0, 0, 0, M2MSEC_R_INVALID_PARAMETER},
            {"originator with a state", 1, ET_KID, state, NULL, 0, 0, 0,
             M2MSEC_R_INVALID_PARAMETER},
            {"receiver without a state", 2, ET_KID, NULL, NULL, 0, 0, 0,
             M2MSEC_R_INVALID_PARAMETER},
            {"AEAD 13", 1, ET_KID, NULL, bad_aead, 1, 0, 0, M2MSEC_R_INVALID_PARAMETER},
            {"AEAD listed twice", 1, ET_KID, NULL, dup, 2, 0, 0, M2MSEC_R_INVALID_PARAMETER},
            {"enc not offered", 1, ET_KID, NULL, dup, 1, 12, 0, M2MSEC_R_INVALID_PARAMETER},
            {"max_objects above 2^32", 1, ET_KID, NULL, NULL, 0, 0, ((uint64_t)1 << 32) + 1,
             M2MSEC_R_INVALID_PARAMETER},
        };

        for (size_t i = 0; i < sizeof(cv) / sizeof(cv[0]); i++) {
            m2msec_esprim *e;

            memset(&c, 0, sizeof(c));
            c.role = cv[i].role;
            c.libctx = et_libctx;
            c.key = et_key;
            c.key_len = sizeof(et_key);
            c.kid = cv[i].kid;
            c.state = cv[i].state;
            c.aeads = cv[i].aeads;
            c.naeads = cv[i].naeads;
            c.enc = cv[i].enc;
            c.max_objects = cv[i].max_objects;
            e = m2msec_esprim_new(&c);
            CHECK(e == NULL && et_reason() == cv[i].reason, "config %s refused", cv[i].what);
            m2msec_esprim_free(e);
        }
        memset(&c, 0, sizeof(c));
        c.role = M2MSEC_ESPRIM_ORIGINATOR;
        c.libctx = et_libctx;
        c.key = et_key;
        c.key_len = 8;
        c.kid = ET_KID;
        CHECK(m2msec_esprim_new(&c) == NULL && et_reason() == M2MSEC_R_KEY_TOO_SHORT,
              "a 64-bit pairwiseESPrimKey is refused at creation (policy min_key_bits)");
    }
    m2msec_esprim_rand_free(r);
end:
    ERR_print_errors_fp(stderr);
    m2msec_esprim_free(recv);
    m2msec_esprim_free(orig);
}

/* rro: a Receiver may hand a new RandObject in a response (reference-built here) */
static void test_rro(void)
{
    char state[600], req[4096], rj[600], h[2048];
    unsigned char rval[16], oval[16], nval[16], iv[12], plain[256];
    m2msec_esprim *recv, *orig;
    m2msec_esprim_rand *r;
    m2msec_esprim_info oi, info;
    size_t rl, len;
    char *jwe;
    m2m_jwe w;

    et_state(state, sizeof(state), "rro.state");
    recv = et_receiver(state, NULL);
    orig = et_originator(NULL);
    r = recv != NULL ? m2msec_esprim_rand_new(recv, 0) : NULL;
    CHECK(r != NULL && orig != NULL && m2msec_esprim_accept(orig, r), "ends");
    if (r == NULL || orig == NULL)
        goto end;
    CHECK(m2msec_esprim_seal(orig, 0, (const unsigned char *)"q", 1, req, sizeof(req), &rl, &oi) &&
              m2m_jwe_parse(req, rl, &w),
          "request");
    m2msec_esprim_rand_get_value(r, rval);
    m2msec_esprim_rand_get_value(&w.oro, oval);
    memset(nval, 0x77, sizeof(nval));
    et_rand_json(rj, sizeof(rj), "rNext", nval, m2msec_esprim_rand_get_expiry(r) + 100, "[1]",
                 "[10]");
    snprintf(h, sizeof(h),
             "{\"alg\":\"dir\",\"enc\":\"%s\",\"kid\":\"%s\",\"ori\":\"%s\",\"rri\":\"%s\","
             "\"rro\":%s}",
             m2m_esp_enc_name(oi.aead), ET_KID, oi.ori, oi.rri, rj);
    memset(iv, 0x31, sizeof(iv));
    jwe = ref_object(rval, oval, oi.aead, h, iv, "response with rro");
    CHECK(jwe != NULL &&
              m2msec_esprim_open(orig, jwe, strlen(jwe), plain, sizeof(plain), &len, &info) &&
              info.new_peer_rand,
          "a response with rro is opened and the RandObject taken");
    free(jwe);
    CHECK(m2msec_esprim_seal(orig, 0, (const unsigned char *)"q2", 2, req, sizeof(req), &rl, &oi) &&
              strcmp(oi.rri, "rNext") == 0 && oi.new_session,
          "the next request uses the new Receiver RandObject, with a new session");
    m2msec_esprim_rand_free(r);
end:
    ERR_print_errors_fp(stderr);
    m2msec_esprim_free(recv);
    m2msec_esprim_free(orig);
}

static int init(void)
{
    return et_setup() ? 0 : 1;
}

static int cleanup(void)
{
    et_teardown();
    return 0;
}

int main(void)
{
    static const tc_test tests[] = {
        {"PROTOCOL.md 9.7 worked examples, byte for byte", test_protocol_examples},
        {"reference implementation <-> m2msec", test_reference_interop},
        {"RandObject JSON: round trip and strict refusals", test_rand_json},
        {"malformed and tampered JWE", test_jwe_bad_input},
        {"TS-0003 8.4.2 C.6 receiver checks", test_c6_checks},
        {"replay, reflection, API and configuration errors", test_replay_and_api},
        {"rro in a response", test_rro},
    };

    return tc_run("test_esprim", "esprim", init, cleanup, tests, sizeof(tests) / sizeof(tests[0]));
}
