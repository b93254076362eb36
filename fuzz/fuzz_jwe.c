/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_jwe: the ESPrim parsers and the Receiver (libm2msec/esprim*.c,
 * docs/PROTOCOL.md section 9).
 *
 * The Receiver of every input is the one of the PROTOCOL.md 9.7 examples
 * (key 40..5f, kid "m2msec-example-kid", receiver RandObject rRecv01), on
 * a fresh state file, with the clock fixed at the examples' time
 * (20991231T230000), so the documented JWEs are genuine objects for it.
 * LLVMFuzzerInitialize also seals 12 genuine objects with two originators
 * (one of them past its first response, so its objects carry no "oro"),
 * over A128GCM, A192GCM and A256GCM.
 *
 * Input: u8 mode, then
 *   mode 0: u8 role (bit 0: receiver, else originator), the rest a
 *           RandObject's JSON for m2msec_esprim_rand_parse;
 *   mode 1: the rest is a JWE for m2m_jwe_parse and m2msec_esprim_open;
 *   mode 2: u8 index of a genuine object, then up to 8 edits (u8 kind:
 *           0 flip a bit at u16 position, u8 bit; 1 cut at u16 length;
 *           2 insert u8 byte at u16 position; 3 delete the byte at u16
 *           position; 4 replace part u8 (mod 5) with u8 length fuzzer bytes)
 *           and the result is opened;
 *   mode 3: up to 32 steps on one Receiver (u8 kind: 0 open genuine object
 *           u8 index; 1 restart the Receiver on its state; 2 move the clock
 *           forward by u16 seconds).
 *
 * Checks, besides the sanitizers:
 *   - a RandObject that parses writes JSON that parses to the same object,
 *     and writing that again gives the same text;
 *   - m2m_jwe_parse and m2msec_esprim_open agree (open never accepts what
 *     the parser refuses);
 *   - an object is accepted only if it is byte for byte a genuine one, with
 *     that one's primitive; an edited object is always refused;
 *   - a genuine object is accepted at most once on one state, across
 *     restarts too, and none from a session older than the last restart;
 *   - a refusal leaves no output (the buffer untouched or zero), sets the
 *     length to 0, and carries a reason of m2msec/errors.h: a JWE, ESPrim
 *     or authentication reason, never "cryptographic operation failed".
 */
#define _GNU_SOURCE /* mkdtemp */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include <openssl/err.h>

#include "esprim_internal.h"
#include "fuzz_common.h"
#include "m2msec/esprim.h"

#define NGENUINE 12
#define OUTCAP 4096
#define FILL 0xa5
#define T_EXAMPLES 4102441200ULL /* 20991231T230000 */

static OSSL_LIB_CTX *libctx;
static const char KID[] = "m2msec-example-kid";
static unsigned char key[32];
static char rand_json[M2MSEC_ESPRIM_RAND_JSON_MAX];
static char state_text[512];
static char *genuine[NGENUINE];
static char plain[NGENUINE][64];
static int session_of[NGENUINE]; /* 0 or 1: which originator sealed it */
/*
 * State files go to a directory on /dev/shm when there is one: a new session
 * is written with fsync, which costs milliseconds on a disk and nothing on
 * tmpfs (the file store's behaviour is the same).
 */
static char shm_dir[64];

static void rm_shm(void)
{
    static const char *const names[] = {"shared.state", "shared.state.lock", "seq.state",
                                        "seq.state.lock"};
    char p[160];

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        snprintf(p, sizeof(p), "%s/%s", shm_dir, names[i]);
        unlink(p);
    }
    rmdir(shm_dir);
}

static void state_path(char *path, size_t cap, const char *name)
{
    if (shm_dir[0] == '\0') {
        snprintf(shm_dir, sizeof(shm_dir), "/dev/shm/m2msec-fuzz-jwe.XXXXXX");
        if (mkdtemp(shm_dir) != NULL)
            atexit(rm_shm);
        else
            shm_dir[0] = '-'; /* no /dev/shm: the harness's temporary directory */
    }
    if (shm_dir[0] == '/')
        snprintf(path, cap, "%s/%s", shm_dir, name);
    else
        fz_tmppath(path, cap, name);
}

/*
 * The Receiver of modes 1 and 2, on a fresh state: made again only after it
 * accepted something (a refusal changes nothing), which keeps inputs fast.
 */
static m2msec_esprim *shared;
static int shared_dirty;

static m2msec_esprim *receiver(const char *path);
static void write_state(const char *path);

static m2msec_esprim *fresh_receiver(void)
{
    char path[600];

    if (shared != NULL && !shared_dirty)
        return shared;
    m2msec_esprim_free(shared);
    state_path(path, sizeof(path), "shared.state");
    write_state(path);
    shared = receiver(path);
    shared_dirty = 0;
    return shared;
}

static void write_state(const char *path)
{
    fz_write_file(path, state_text, strlen(state_text));
}

static m2msec_esprim *receiver(const char *path)
{
    m2msec_esprim_config c;
    m2msec_esprim *ep;

    memset(&c, 0, sizeof(c));
    c.role = M2MSEC_ESPRIM_RECEIVER;
    c.libctx = libctx;
    c.key = key;
    c.key_len = sizeof(key);
    c.kid = KID;
    c.state = path;
    ep = m2msec_esprim_new(&c);
    FZ_CHECK(ep != NULL, "the receiver does not start");
    return ep;
}

static m2msec_esprim *originator(int enc)
{
    m2msec_esprim_config c;
    m2msec_esprim_rand *r = m2msec_esprim_rand_parse(rand_json, strlen(rand_json), 2);
    m2msec_esprim *ep;

    memset(&c, 0, sizeof(c));
    c.role = M2MSEC_ESPRIM_ORIGINATOR;
    c.libctx = libctx;
    c.key = key;
    c.key_len = sizeof(key);
    c.kid = KID;
    c.enc = enc;
    c.rand_lifetime = 1800;
    ep = m2msec_esprim_new(&c);
    FZ_CHECK(ep != NULL && r != NULL && m2msec_esprim_accept(ep, r), "originator set-up");
    m2msec_esprim_rand_free(r);
    return ep;
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    unsigned char rv[16];
    char path[600], out[OUTCAP], val[32];
    m2msec_esprim *o[2], *recv;
    m2msec_esprim_info info;
    size_t len;
    unsigned char pt[OUTCAP];

    (void)argc;
    (void)argv;
    libctx = fz_libctx_new(1);
    m2m_esp_test_set_time(T_EXAMPLES);
    for (int i = 0; i < 32; i++)
        key[i] = (unsigned char)(0x40 + i);
    for (int i = 0; i < 16; i++)
        rv[i] = (unsigned char)(0xa0 + i);
    m2m_b64url_encode(rv, sizeof(rv), val);
    val[22] = '\0';
    snprintf(rand_json, sizeof(rand_json),
             "{\"esprimRandID\":\"rRecv01\",\"esprimRandValue\":\"%s\",\"esprimRandExpiry\":"
             "\"21000101T000000\",\"esprimKeyGenAlgIDs\":[1],\"esprimProtocolAndAlgIDs\":"
             "[10,11,12]}",
             val);
    snprintf(state_text, sizeof(state_text),
             "m2msec-esprim-state 1\nkid %s\nrand rRecv01 %s 4102444800 1 10,11,12\n", KID, val);
    fz_tmppath(path, sizeof(path), "init.state");
    write_state(path);
    recv = receiver(path);
    o[0] = originator(M2MSEC_ESPRIM_JWE_A128GCM);
    o[1] = originator(M2MSEC_ESPRIM_JWE_A256GCM);
    for (int i = 0; i < NGENUINE; i++) {
        int s = i % 2;

        session_of[i] = s;
        snprintf(plain[i], sizeof(plain[i]), "genuine primitive %d", i);
        FZ_CHECK(m2msec_esprim_seal(o[s], 0, (const unsigned char *)plain[i], strlen(plain[i]), out,
                                    sizeof(out), &len, &info),
                 "seal %d", i);
        genuine[i] = strdup(out);
        if (i == 0) {
            /* a response confirms originator 0's session: its later objects carry no oro */
            FZ_CHECK(m2msec_esprim_open(recv, out, len, pt, sizeof(pt), &len, &info) &&
                         m2msec_esprim_seal_reply(recv, &info, (const unsigned char *)"r", 1, out,
                                                  sizeof(out), &len) &&
                         m2msec_esprim_open(o[0], out, len, pt, sizeof(pt), &len, NULL),
                     "confirming session 0");
        }
    }
    m2msec_esprim_free(o[0]);
    m2msec_esprim_free(o[1]);
    m2msec_esprim_free(recv);
    ERR_clear_error();
    return 0;
}

/* A refusal: no output, a known reason. */
static void check_refusal(const unsigned char *out, size_t outlen, const char *what)
{
    unsigned long e = ERR_peek_last_error();
    int r = ERR_GET_REASON(e);

    FZ_CHECK(outlen == 0, "%s: refused with output length %zu", what, outlen);
    for (size_t i = 0; i < OUTCAP; i++)
        FZ_CHECK(out[i] == FILL || out[i] == 0, "%s: refused but byte %zu was written", what, i);
    FZ_CHECK(e != 0 && ((r >= M2MSEC_R_JWE_PARTS && r <= M2MSEC_R_ESPRIM_STATE) ||
                        r == M2MSEC_R_AUTH_FAILED || r == M2MSEC_R_MALLOC_FAILURE),
             "%s: refused with reason %d", what, r);
    fz_errors(what);
}

/* The genuine object jwe is, or -1. */
static int genuine_index(const char *jwe, size_t len)
{
    for (int i = 0; i < NGENUINE; i++)
        if (strlen(genuine[i]) == len && memcmp(genuine[i], jwe, len) == 0)
            return i;
    return -1;
}

/* Open jwe on ep; returns the genuine index accepted, -1 refused. */
static int open_one(m2msec_esprim *ep, const char *jwe, size_t len, const char *what)
{
    unsigned char out[OUTCAP];
    size_t outlen = 99;
    m2m_jwe w;
    int parsed, ok, g;

    memset(out, FILL, sizeof(out));
    parsed = m2m_jwe_parse(jwe, len, &w);
    ERR_clear_error();
    ok = m2msec_esprim_open(ep, jwe, len, out, sizeof(out), &outlen, NULL);
    if (!ok) {
        fz_stat("refused");
        check_refusal(out, outlen, what);
        return -1;
    }
    g = genuine_index(jwe, len);
    FZ_CHECK(parsed, "%s: open accepted what the parser refuses", what);
    if (g < 0) {
        /* the documented examples are genuine too: they must open to their plaintext */
        FZ_CHECK(outlen > 0 && outlen < OUTCAP, "%s: accepted an unknown object", what);
        fz_stat("accepted a documented example");
        return -2;
    }
    FZ_CHECK(outlen == strlen(plain[g]) && memcmp(out, plain[g], outlen) == 0,
             "%s: genuine object %d opened to another primitive", what, g);
    fz_stat("accepted a genuine object");
    return g;
}

static void mode_rand(fz_in *in)
{
    int role = (fz_u8(in) & 1) ? M2MSEC_ESPRIM_RECEIVER : M2MSEC_ESPRIM_ORIGINATOR;
    size_t n;
    const uint8_t *json = fz_rest(in, &n);
    m2msec_esprim_rand *r = m2msec_esprim_rand_parse((const char *)json, n, role), *r2;
    char a[M2MSEC_ESPRIM_RAND_JSON_MAX], b[M2MSEC_ESPRIM_RAND_JSON_MAX];
    size_t al, bl;

    if (r == NULL) {
        int reason = ERR_GET_REASON(ERR_peek_last_error());

        FZ_CHECK(reason == M2MSEC_R_ESPRIM_BAD_RAND || reason == M2MSEC_R_JSON_DUPLICATE ||
                     reason == M2MSEC_R_MALLOC_FAILURE,
                 "RandObject refused with reason %d", reason);
        fz_errors("rand");
        return;
    }
    fz_stat("RandObject parsed");
    FZ_CHECK(m2msec_esprim_rand_get_json(r, a, sizeof(a), &al), "a parsed RandObject writes");
    r2 = m2msec_esprim_rand_parse(a, al, role);
    FZ_CHECK(r2 != NULL && m2m_esp_rand_equal(r, r2), "written RandObject JSON parses back");
    FZ_CHECK(m2msec_esprim_rand_get_json(r2, b, sizeof(b), &bl) && al == bl &&
                 memcmp(a, b, al) == 0,
             "the JSON form is stable");
    m2msec_esprim_rand_free(r);
    m2msec_esprim_rand_free(r2);
}

static void mode_jwe(fz_in *in)
{
    size_t n;
    const uint8_t *jwe = fz_rest(in, &n);
    m2msec_esprim *ep = fresh_receiver();

    if (open_one(ep, (const char *)jwe, n, "raw JWE") != -1) {
        shared_dirty = 1;
        /* accepted once: never twice */
        FZ_CHECK(open_one(ep, (const char *)jwe, n, "raw JWE again") == -1,
                 "an object was accepted twice");
    }
}

static void mode_edit(fz_in *in)
{
    int g = fz_u8(in) % NGENUINE;
    size_t len = strlen(genuine[g]), cap = len + 2048;
    char *s = malloc(cap + 1);
    m2msec_esprim *ep;
    int edits = 0, acc;

    FZ_CHECK(s != NULL, "malloc");
    memcpy(s, genuine[g], len);
    for (int k = 0; k < 8 && in->n > 0; k++) {
        int kind = fz_u8(in) % 5;
        size_t pos = fz_u16(in);

        switch (kind) {
        case 0:
            if (len > 0) {
                s[pos % len] = (char)(s[pos % len] ^ (1 << (fz_u8(in) % 8)));
                edits++;
            }
            break;
        case 1:
            if (pos < len) {
                len = pos;
                edits++;
            }
            break;
        case 2:
            if (len < cap) {
                pos %= len + 1;
                memmove(s + pos + 1, s + pos, len - pos);
                s[pos] = (char)fz_u8(in);
                len++;
                edits++;
            }
            break;
        case 3:
            if (len > 0) {
                pos %= len;
                memmove(s + pos, s + pos + 1, len - pos - 1);
                len--;
                edits++;
            }
            break;
        default: {
            int part = (int)(pos % 5);
            size_t start = 0, end, rl;
            int p = 0;
            const uint8_t *rep;

            for (size_t i = 0; i < len && p < part; i++)
                if (s[i] == '.') {
                    p++;
                    start = i + 1;
                }
            end = start;
            while (end < len && s[end] != '.')
                end++;
            rep = fz_bytes(in, fz_u8(in), &rl);
            if (len - (end - start) + rl <= cap) {
                memmove(s + start + rl, s + end, len - end);
                memcpy(s + start, rep, rl);
                len = len - (end - start) + rl;
                edits++;
            }
            break;
        }
        }
    }
    ep = fresh_receiver();
    acc = open_one(ep, s, len, "edited object");
    if (acc != -1)
        shared_dirty = 1;
    if (acc >= 0)
        FZ_CHECK(len == strlen(genuine[g]) && memcmp(s, genuine[g], len) == 0,
                 "an edited object (%d edits) was accepted", edits);
    FZ_CHECK(acc != -2, "an edited object (%d edits) was accepted as another object", edits);
    free(s);
}

static void mode_sequence(fz_in *in)
{
    char path[600];
    m2msec_esprim *ep;
    int accepted[NGENUINE] = {0};
    int run_of_session[2] = {-1, -1}; /* in which run each session was first accepted */
    int run = 0;
    uint64_t clock = T_EXAMPLES;

    state_path(path, sizeof(path), "seq.state");
    write_state(path);
    ep = receiver(path);
    for (int k = 0; k < 32 && in->n > 0; k++) {
        int kind = fz_u8(in) % 3;

        if (kind == 0) {
            int g = fz_u8(in) % NGENUINE,
                got = open_one(ep, genuine[g], strlen(genuine[g]), "genuine object");

            if (got >= 0) {
                int s = session_of[got];

                FZ_CHECK(!accepted[got], "genuine object %d accepted twice", got);
                FZ_CHECK(run_of_session[s] == -1 || run_of_session[s] == run,
                         "object %d of a session from before a restart was accepted", got);
                accepted[got] = 1;
                run_of_session[s] = run;
            }
        } else if (kind == 1) {
            m2msec_esprim_free(ep);
            ep = receiver(path);
            run++;
            fz_stat("restart");
        } else {
            /* forward only: a clock set back between runs is outside the guarantees
               (docs/SECURITY.md 2.5); within a run an end's clock never goes back */
            clock += fz_u16(in);
            m2m_esp_test_set_time(clock);
        }
    }
    m2msec_esprim_free(ep);
    m2m_esp_test_set_time(T_EXAMPLES);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_in in = {data, size};

    m2m_esp_test_set_time(T_EXAMPLES);
    ERR_clear_error();
    switch (fz_u8(&in) % 4) {
    case 0:
        mode_rand(&in);
        break;
    case 1:
        mode_jwe(&in);
        break;
    case 2:
        mode_edit(&in);
        break;
    default:
        mode_sequence(&in);
        break;
    }
    ERR_clear_error();
    return 0;
}
