/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libm2msec internal: ESPrim (m2msec/esprim.h). The m2m_ functions are not
 * exported (libm2msec.map exports m2msec_* only); tests reach them through
 * the static twin of the ESPrim sources (libm2msec/meson.build).
 *
 *   esprim_json.c   base64url and a strict JSON reader
 *   esprim_rand.c   RandObjects: JSON form, checks, sessionESPrimKey
 *   esprim_jwe.c    the JWE Compact Serialization: strict parser, header writer
 *   esprim_cache.c  sessions and the replay cache (IVs seen per session key)
 *   esprim_state.c  the Receiver's state file (lock, strict format, read-back)
 *   esprim.c        the end: seal and open
 */
#ifndef M2MSEC_LIBM2MSEC_ESPRIM_INTERNAL_H
#define M2MSEC_LIBM2MSEC_ESPRIM_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include "m2msec/errors.h"
#include "m2msec/esprim.h"
#include "m2msec/session.h"

/* Raise reason r (M2MSEC_R_*) with a detail; the first argument is a string literal. */
#define M2M_ESP_ERR(r, ...) ERR_raise_data(ERR_LIB_USER, (r), "m2msec: ESPrim: " __VA_ARGS__)

#define M2M_ESP_IV_LEN 12
#define M2M_ESP_TAG_LEN 16
#define M2M_ESP_B64_RAND 22 /* base64url characters of a 16-byte value */

/* ---- clock and test hooks (esprim_rand.c) ---- */

/* Seconds since 1970 (CLOCK_REALTIME), or the test clock if one is set. */
uint64_t m2m_esp_now(void);
/* Tests: a fixed clock (0: the real one again). */
void m2m_esp_test_set_time(uint64_t t);
/* Tests: the next sealed object uses this IV (once); NULL cancels. */
void m2m_esp_test_set_iv(const unsigned char *iv);
/* Tests: the next Originator RandObject gets this ID and value (once); NULL cancels. */
void m2m_esp_test_set_orig(const char *id, const unsigned char *value);
int m2m_esp_test_take_orig(char id[M2MSEC_ESPRIM_ID_MAX + 1],
                           unsigned char value[M2MSEC_ESPRIM_RAND_LEN]);
/* The test IV if one is pending (copied to iv, then cleared): 1, else 0. */
int m2m_esp_test_take_iv(unsigned char iv[M2M_ESP_IV_LEN]);

/* ---- base64url (RFC 4648 section 5, no padding) and JSON (esprim_json.c) ---- */

size_t m2m_b64url_len(size_t n);
/* Writes exactly m2m_b64url_len(n) characters (no NUL). */
void m2m_b64url_encode(const unsigned char *in, size_t n, char *out);
/*
 * Strict decoding of n characters: only A-Z a-z 0-9 - _, no padding, no
 * length of the form 4k+1, unused bits of the last character zero. out
 * needs n / 4 * 3 + 2 bytes. 1 on success; 0 with *bad set to the offset
 * of the first offending character (n for a bad length or last character).
 */
int m2m_b64url_decode(const char *in, size_t n, unsigned char *out, size_t *outlen, size_t *bad);
/* The checks of m2m_b64url_decode() alone (nothing written). */
int m2m_b64url_check(const char *in, size_t n, size_t *bad);
/* Decoding of n characters that m2m_b64url_check() accepted (or a multiple-of-4 slice of them). */
size_t m2m_b64url_decode_checked(const char *in, size_t n, unsigned char *out);
/* The decoded length of n valid characters. */
size_t m2m_b64url_decoded_len(size_t n);

/*
 * A strict JSON reader (RFC 8259) over a buffer. Every function returns 1,
 * or 0 with j->err (a static text) and j->pos (the offset) set.
 */
typedef struct m2m_json {
    const char *s;
    size_t n, pos;
    const char *err;
} m2m_json;

void m2m_json_init(m2m_json *j, const char *s, size_t n);
/* Expect '{'. */
int m2m_json_object(m2m_json *j);
/*
 * The next member of the object: *more = 0 at the closing '}'; else the
 * key (decoded, NUL-terminated, at most cap - 1 bytes, no NUL inside; key
 * NULL: checked only) and the ':' after it were read.
 */
int m2m_json_member(m2m_json *j, int *more, char *key, size_t cap);
/* A string value, decoded (UTF-8 checked, no NUL inside), NUL-terminated; at most cap - 1. */
int m2m_json_string(m2m_json *j, char *out, size_t cap, size_t *len);
/* An integer 0..max: digits only, no sign, fraction, exponent or leading zero. */
int m2m_json_uint(m2m_json *j, unsigned max, unsigned *v);
/* Expect '['. */
int m2m_json_array(m2m_json *j);
/* The next element of an array: *more = 0 at the closing ']'. */
int m2m_json_element(m2m_json *j, int *more);
/* Skip any value (nested at most 16 deep). */
int m2m_json_skip(m2m_json *j);
/* The offsets of the value that starts here (after white space): [*start, *end). */
int m2m_json_span(m2m_json *j, size_t *start, size_t *end);
/* Only white space is left. */
int m2m_json_end(m2m_json *j);
/* The next non-space character, without consuming it ('\0' at the end). */
char m2m_json_peek(m2m_json *j);

/* ---- RandObjects (esprim_rand.c) ---- */

struct m2msec_esprim_rand {
    int role;
    char id[M2MSEC_ESPRIM_ID_MAX + 1];
    unsigned char value[M2MSEC_ESPRIM_RAND_LEN];
    uint64_t expiry;
    int keygen[M2MSEC_ESPRIM_MAX_ALGS];
    size_t nkeygen;
    int aead[M2MSEC_ESPRIM_MAX_ALGS];
    size_t naead;
};

/* An esprimRandID: 1..64 ASCII characters, an NCName: [A-Za-z_][A-Za-z0-9._-]*. */
int m2m_esp_id_ok(const char *id, size_t len);
/* A kid or cty: 1..256 characters 0x21..0x7e except '"' and '\\' (cty: space allowed too). */
int m2m_esp_token_ok(const char *s, size_t len, int allow_space);
/* Parse into r (no allocation); errors raised (M2MSEC_R_ESPRIM_BAD_RAND, ..._JSON_DUPLICATE). */
int m2m_esp_rand_parse_into(m2msec_esprim_rand *r, const char *json, size_t len, int role,
                            const char *where);
/* JSON form into buf (cap >= M2MSEC_ESPRIM_RAND_JSON_MAX); returns its length, 0 if cap too small.
 */
size_t m2m_esp_rand_json(const m2msec_esprim_rand *r, char *buf, size_t cap);
/* Same content (role, id, value, expiry, lists). */
int m2m_esp_rand_equal(const m2msec_esprim_rand *a, const m2msec_esprim_rand *b);
int m2m_esp_has(const int *list, size_t n, int v);
/* esprimRandExpiry text "YYYYMMDDTHHMMSS" of t into out[16]; 0 if t is past 9999. */
int m2m_esp_time_text(uint64_t t, char out[16]);
/* Parse "YYYYMMDDTHHMMSS" with an optional ",f..." (1-6 digits, dropped); 1 or 0. */
int m2m_esp_time_parse(const char *s, size_t len, uint64_t *t);
/* Fresh random ID: prefix + 16 base64url characters of 12 random bytes. */
int m2m_esp_new_id(OSSL_LIB_CTX *libctx, char prefix, char out[M2MSEC_ESPRIM_ID_MAX + 1]);
/* sessionESPrimKey with an already fetched ONEM2M-KDF; checks as m2msec_esprim_derive(). */
int m2m_esp_derive(EVP_KDF *kdf, const unsigned char *key, size_t key_len,
                   const m2msec_esprim_rand *receiver, const m2msec_esprim_rand *originator,
                   unsigned char *out, size_t out_len);
/* esprimProtocolAndAlgID -> "A128GCM" ..., key bytes; NULL / 0 if not a JWE AES-GCM ID. */
const char *m2m_esp_enc_name(int aead);
size_t m2m_esp_enc_keylen(int aead);
/* "A128GCM" ... -> 10 .. 12; 0 if unknown. */
int m2m_esp_enc_id(const char *name);

/* ---- JWE compact (esprim_jwe.c) ---- */

typedef struct m2m_jwe {
    const char *hdr_b64; /* the first part: the AAD */
    size_t hdr_b64_len;
    const char *ct_b64; /* the fourth part */
    size_t ct_b64_len, ct_len;
    unsigned char iv[M2M_ESP_IV_LEN];
    unsigned char tag[M2M_ESP_TAG_LEN];
    /* the protected header */
    int enc; /* 10, 11, 12 */
    char kid[M2MSEC_ESPRIM_KID_MAX + 1];
    char ori[M2MSEC_ESPRIM_ID_MAX + 1];
    char rri[M2MSEC_ESPRIM_ID_MAX + 1];
    int has_oro, has_rro;
    m2msec_esprim_rand oro, rro;
} m2m_jwe;

/* Parse and check a JWE Compact Serialization (docs/PROTOCOL.md 9.4); errors raised. */
int m2m_jwe_parse(const char *s, size_t n, m2m_jwe *j);
/*
 * The protected header JSON of an object into buf (cap >= M2MSEC_ESPRIM_HEADER_MAX);
 * oro may be NULL. Returns its length, 0 if it does not fit.
 */
size_t m2m_jwe_header(char *buf, size_t cap, int enc, const char *kid, const char *cty,
                      const char *ori, const char *rri, const m2msec_esprim_rand *oro);

/* ---- sessions and the replay cache (esprim_cache.c) ---- */

typedef struct m2m_esp_ivset {
    unsigned char *slots; /* cap slots of 16 bytes: 12 IV bytes, 1 used flag, 3 spare */
    size_t cap, n;
} m2m_esp_ivset;

typedef struct m2m_esp_session {
    char rri[M2MSEC_ESPRIM_ID_MAX + 1];
    char ori[M2MSEC_ESPRIM_ID_MAX + 1];
    uint64_t expiry; /* the Originator RandObject's: the session ends then */
    uint64_t order;  /* creation order: the oldest is evicted first */
    int closed;      /* refused from now on (restart, eviction, limit) */
    int confirmed;   /* Originator: a response opened: no more "oro" */
    int have_orig;   /* orig holds the whole Originator RandObject */
    m2msec_esprim_rand orig;
    unsigned char key[M2MSEC_ESPRIM_SESSION_KEY_LEN];
    int have_key;
    EVP_CIPHER_CTX *ectx, *dctx; /* keyed for ectx_aead / dctx_aead (0: not yet) */
    int ectx_aead, dctx_aead;
    uint64_t count; /* objects sealed and opened under the key */
    m2m_esp_ivset ivs;
} m2m_esp_session;

typedef struct m2m_esp_cache {
    m2m_esp_session **s;
    size_t n, cap;
    size_t ivs, max_ivs, max_sessions;
    uint64_t order;
} m2m_esp_cache;

void m2m_esp_cache_init(m2m_esp_cache *c, size_t max_ivs, size_t max_sessions);
void m2m_esp_cache_free(m2m_esp_cache *c);
m2m_esp_session *m2m_esp_cache_find(const m2m_esp_cache *c, const char *rri, const char *ori);
/* Drop sessions whose expiry is at or before now; returns how many were dropped. */
size_t m2m_esp_cache_purge(m2m_esp_cache *c, uint64_t now);
/*
 * A new session; an open one needs a free slot (purge first), a closed one
 * (known from the state file) is always added. NULL after an error.
 */
m2m_esp_session *m2m_esp_cache_add(m2m_esp_cache *c, const char *rri, const char *ori,
                                   uint64_t expiry, int closed);
/* Close a session: its keys and IVs are dropped, it stays listed until it expires. */
void m2m_esp_session_close(m2m_esp_cache *c, m2m_esp_session *s);
/* 1 if iv was sealed or accepted under s. */
int m2m_esp_iv_seen(const m2m_esp_session *s, const unsigned char iv[M2M_ESP_IV_LEN]);
/*
 * 1 if one more IV can be remembered for s: below max_ivs, or another open
 * session can be closed to make room.
 */
int m2m_esp_iv_room(const m2m_esp_cache *c, const m2m_esp_session *s);
/* Remember iv for s (closing the oldest other session if the cache is full); 0 after an error. */
int m2m_esp_iv_add(m2m_esp_cache *c, m2m_esp_session *s, const unsigned char iv[M2M_ESP_IV_LEN]);
size_t m2m_esp_cache_memory(const m2m_esp_cache *c);

/* ---- the Receiver's state file (esprim_state.c) ---- */

typedef struct m2m_esp_state_session {
    char rri[M2MSEC_ESPRIM_ID_MAX + 1];
    char ori[M2MSEC_ESPRIM_ID_MAX + 1];
    uint64_t expiry;
} m2m_esp_state_session;

/* What a state file holds. */
typedef struct m2m_esp_state_data {
    char kid[M2MSEC_ESPRIM_KID_MAX + 1];
    m2msec_esprim_rand *rands;
    size_t nrands;
    m2m_esp_state_session *sessions;
    size_t nsessions;
} m2m_esp_state_data;

typedef struct m2m_esp_state {
    char *path;
    m2msec_store lockstore; /* the file store of libm2msec: only its lock is used */
    void *lock;
    int locked;
    dev_t lock_dev;
    ino_t lock_ino;
    char *last; /* the bytes last read or written */
    size_t last_len;
    int broken; /* changed outside this end: no more saves */
} m2m_esp_state;

#define M2M_ESP_STATE_MAX ((size_t)8 << 20)

/* Lock path's state and load it (strict); errors raised (M2MSEC_R_ESPRIM_STATE). */
int m2m_esp_state_open(m2m_esp_state *st, const char *path, m2m_esp_state_data *d);
void m2m_esp_state_close(m2m_esp_state *st);
void m2m_esp_state_data_free(m2m_esp_state_data *d);
/* Serialise d and replace the file atomically, after reading it back (unchanged?). */
int m2m_esp_state_save(m2m_esp_state *st, const m2m_esp_state_data *d);
/* Strict parse of a state text (exposed for the tests and the fuzz harness). */
int m2m_esp_state_parse(const char *text, size_t len, const char *name, m2m_esp_state_data *d);
/* The text of d (OPENSSL_malloc'ed) or NULL after an error. */
char *m2m_esp_state_text(const m2m_esp_state_data *d, size_t *len);

#endif
