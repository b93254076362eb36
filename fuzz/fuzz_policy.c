/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_policy: the one strict reader of the device policy file
 * (common/policy_file.c, docs/POLICY.md) through its two users,
 * libm2msec's m2msec_policy_load and the provider's m2m_policy_load, and
 * the check of the provider's openssl.cnf section (common/conf_check.c).
 *
 * Input:
 *   u8 mode: bit 0 the fake core get_params fails ("no config section")
 *            bit 1 the section has 'policy' naming the policy file
 *            bit 2 'device_key_file' names the key file (else a missing file)
 *            bit 3 the section has 'manifest_state' naming a state file
 *   u8 mask: bits 0..6: which of seven keys the section has (max_lifetime,
 *            min_key_bits, replay_window, allowed_aeads, require_integrity,
 *            integrity_status, device_key_file); bit 7: one more line
 *   for each key in the mask: u8 length + value bytes
 *   with mask bit 7: u8 length + the bytes of one more section line
 *   u8 length + device key file content
 *   the rest: the policy file content
 *
 * The harness writes an openssl.cnf whose m2msec section holds those lines
 * ("include" in the extra line is neutralised, so that OpenSSL's config
 * reader never reads other files),
 * names it in OPENSSL_CONF (the file the provider checks), parses it with
 * OpenSSL's NCONF and serves exactly that section's keys and values through
 * the fake core, as libcrypto's provider configuration does. The policy
 * file goes to both readers, as on a device.
 *
 * Checks, besides the sanitizers:
 *   - a policy the provider accepts is within the documented bounds
 *     (lifetime 1..10 years, key bits 128..8192 and a multiple of 8,
 *     window 64..32768, a non-empty set of M2M-REC ciphers, require_integrity
 *     only with a status path, a manifest state and a 16..64-byte device
 *     key, a max_status_age of 1..366 days) and every path in it is absolute;
 *   - the provider never accepts a section holding a key it does not know;
 *   - libm2msec and the provider read one file with one reader: when the
 *     provider read the policy file and accepted, libm2msec accepted it too;
 *   - an accepted policy file holds none of what the reader must refuse:
 *     a directive, section::key, a $variable, quotes, a backslash in a
 *     value, a section other than the five kinds, CR or NUL (checked here by
 *     an independent line scan);
 *   - m2msec_policy_action answers a known action for any path.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <openssl/bio.h>
#include <openssl/conf.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/params.h>

#include "conf_check.h"
#include "fuzz_common.h"
#include "m2msec/integrity.h"
#include "policy.h"
#include "policy_file.h"

#define NKEYS 7
static const char *const cnf_keys[NKEYS] = {
    "max_lifetime",      "min_key_bits",     "replay_window",  "allowed_aeads",
    "require_integrity", "integrity_status", "device_key_file"};

static char p_policy[600], p_key[600], p_missing[600], p_cnf[600], p_state[600];

/* What the fake core serves: the m2msec section as NCONF parsed it. */
#define MAX_SERVED 64
static struct {
    int fail;
    size_t n;
    const char *name[MAX_SERVED];
    const char *value[MAX_SERVED];
} served;

static int fake_get_params(const OSSL_CORE_HANDLE *handle, OSSL_PARAM params[])
{
    (void)handle;
    if (served.fail)
        return 0;
    for (OSSL_PARAM *p = params; p->key != NULL; p++) {
        if (strcmp(p->key, OSSL_PROV_PARAM_CORE_PROV_NAME) == 0) {
            if (!OSSL_PARAM_set_utf8_ptr(p, "m2msec"))
                return 0;
            continue;
        }
        /* the core fills only the keys its config section has (the last one wins) */
        for (size_t i = 0; i < served.n; i++)
            if (strcmp(p->key, served.name[i]) == 0 && !OSSL_PARAM_set_utf8_ptr(p, served.value[i]))
                return 0;
    }
    return 1;
}

static char *take_string(fz_in *in)
{
    size_t got;
    const uint8_t *p = fz_bytes(in, fz_u8(in), &got);
    char *s = malloc(got + 1);

    memcpy(s, p, got);
    s[got] = 0;
    return s;
}

/* A value on one line of openssl.cnf: cut at the first line break or NUL. */
static void one_line(char *s)
{
    s[strcspn(s, "\r\n")] = '\0';
}

/* strcasestr without _GNU_SOURCE. */
static char *strcasestr_simple(char *s, const char *w)
{
    size_t n = strlen(w);

    for (; *s != '\0'; s++)
        if (strncasecmp(s, w, n) == 0)
            return s;
    return NULL;
}

static int known_cnf_key(const char *name)
{
    for (int i = 0; i < M2M_CK_COUNT; i++)
        if (strcmp(name, m2m_cnf_keys[i]) == 0)
            return 1;
    return 0;
}

/*
 * Independent of the reader: does the text hold anything the strict reader
 * must refuse? (Not everything it refuses: a lower bound.)
 */
static int obviously_refused(const unsigned char *text, size_t len)
{
    const char *p = (const char *)text, *end = p + len;

    if (memchr(text, '\0', len) != NULL || memchr(text, '\r', len) != NULL)
        return 1;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p)), *le = nl != NULL ? nl : end;
        const char *b = p, *e = p;

        while (e < le && *e != '#')
            e++;
        while (b < e && (*b == ' ' || *b == '\t'))
            b++;
        while (e > b && (e[-1] == ' ' || e[-1] == '\t'))
            e--;
        if (b < e) {
            const char *eq = memchr(b, '=', (size_t)(e - b));

            if (*b == '.')
                return 1;
            for (const char *q = b; q < e; q++)
                if (*q == '$' || *q == '"' || *q == '\'')
                    return 1;
            /* section::key (a "::" in a value, e.g. an IPv6 URL, is no reference) */
            for (const char *q = b; q + 1 < (eq != NULL ? eq : e); q++)
                if (q[0] == ':' && q[1] == ':')
                    return 1;
            if (eq != NULL && memchr(eq, '\\', (size_t)(e - eq)) != NULL)
                return 1;
            if (*b == '[') {
                size_t n = (size_t)(e - b);

                if (!((n == 9 && memcmp(b, "[session]", 9) == 0) ||
                      (n == 11 && memcmp(b, "[integrity]", 11) == 0) ||
                      (n == 7 && memcmp(b, "[rules]", 7) == 0) ||
                      (n == 13 && memcmp(b, "[association]", 13) == 0) ||
                      (n > 7 && memcmp(b, "[exec.", 6) == 0) || memchr(b, ' ', n) != NULL ||
                      memchr(b, '\t', n) != NULL))
                    return 1;
            }
        }
        p = nl != NULL ? nl + 1 : end;
    }
    return 0;
}

static void check_provider_policy(const M2M_POLICY *pol)
{
    FZ_CHECK(pol->max_lifetime >= 1 && pol->max_lifetime <= M2M_POLICY_CEIL_MAX_LIFETIME,
             "max_lifetime %llu accepted", (unsigned long long)pol->max_lifetime);
    FZ_CHECK(pol->min_key_bits >= 128 && pol->min_key_bits <= 8192 && pol->min_key_bits % 8 == 0,
             "min_key_bits %llu accepted", (unsigned long long)pol->min_key_bits);
    FZ_CHECK(pol->replay_window >= 64 && pol->replay_window <= 32768, "replay_window %llu accepted",
             (unsigned long long)pol->replay_window);
    FZ_CHECK(pol->max_status_age >= 1 && pol->max_status_age <= 366ull * 86400,
             "max_status_age %llu accepted", (unsigned long long)pol->max_status_age);
    FZ_CHECK(pol->allowed_aeads != 0 && (pol->allowed_aeads >> M2M_PF_NAEADS) == 0,
             "allowed_aeads mask %#x accepted", pol->allowed_aeads);
    FZ_CHECK(pol->device_key_len == 0 || (pol->device_key_len >= M2M_DEVICE_KEY_MIN &&
                                          pol->device_key_len <= M2M_DEVICE_KEY_MAX),
             "device key of %zu bytes accepted", pol->device_key_len);
    FZ_CHECK(!pol->require_integrity ||
                 (pol->status_path != NULL && pol->state_path != NULL && pol->device_key_len > 0),
             "require_integrity accepted without status path, manifest state and device key");
    FZ_CHECK(pol->status_path == NULL || pol->status_path[0] == '/', "relative status path");
    FZ_CHECK(pol->state_path == NULL || pol->state_path[0] == '/', "relative state path");
    FZ_CHECK(pol->policy_path == NULL || pol->policy_path[0] == '/', "relative policy path");
    /* Exact names only: the label is bound into session keys. */
    FZ_CHECK(!m2m_policy_aead_allowed(pol, "m2m-rec-aes-128-gcm", 19) || !pol->aeads_restricted,
             "a restricted policy allows a lower-case label");
    for (unsigned i = 0; i < M2M_PF_NAEADS; i++)
        FZ_CHECK(m2m_policy_aead_allowed(pol, m2m_aead_names[i], strlen(m2m_aead_names[i])) ==
                     (!pol->aeads_restricted || ((pol->allowed_aeads >> i) & 1)),
                 "allowed_aeads and m2m_policy_aead_allowed disagree on %s", m2m_aead_names[i]);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    /* Loading the provider once gives its error functions a core to raise through. */
    (void)fz_libctx_new(0);
    fz_tmppath(p_policy, sizeof(p_policy), "policy.cnf");
    fz_tmppath(p_key, sizeof(p_key), "device.key");
    fz_tmppath(p_missing, sizeof(p_missing), "missing");
    fz_tmppath(p_cnf, sizeof(p_cnf), "openssl.cnf");
    fz_tmppath(p_state, sizeof(p_state), "manifest.state");
    fz_write_file(p_state, "m2msec-manifest-state 1\nversion 3\n", 34);
    /* the provider checks its section in the file OpenSSL reads by default */
    setenv("OPENSSL_CONF", p_cnf, 1);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_in in = {data, size};
    uint8_t mode = fz_u8(&in), mask = fz_u8(&in);
    char *vals[NKEYS] = {NULL}, *extra = NULL, *keytext, *cnf;
    unsigned char *text;
    const uint8_t *rest;
    size_t len, cap, o;
    m2msec_policy *lp;
    M2M_POLICY pol;
    CONF *conf = NULL;
    BIO *bio = NULL;
    STACK_OF(CONF_VALUE) *sect = NULL;
    int ok, lib_ok, unknown = 0;

    for (int i = 0; i < NKEYS; i++)
        if (mask & (1u << i)) {
            vals[i] = take_string(&in);
            one_line(vals[i]);
        }
    if (mask & 0x80) {
        extra = take_string(&in);
        one_line(extra);
        /* keep OpenSSL's config reader inside the temporary directory */
        for (char *p = extra; (p = strcasestr_simple(p, "include")) != NULL; p++)
            p[3] = 'X';
    }
    keytext = take_string(&in);
    rest = fz_rest(&in, &len);
    text = malloc(len + 1);
    if (len > 0)
        memcpy(text, rest, len);
    fz_write_file(p_policy, text, len);
    fz_write_file(p_key, keytext, strlen(keytext));

    /* libm2msec: the whole file */
    lp = m2msec_policy_load(p_policy);
    lib_ok = lp != NULL;
    fz_stat(lib_ok ? "m2msec_policy_load ok" : "m2msec_policy_load refused");
    if (lp != NULL) {
        static const char *const paths[] = {"bin/app", "etc/conf",           ".hidden",
                                            "a/b/c/d", "lib/libm2msec.so.0", ""};

        FZ_CHECK(!obviously_refused(text, len), "a policy file the reader must refuse accepted");
        for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
            m2msec_action a = m2msec_policy_action(lp, paths[i]);

            FZ_CHECK(a >= M2MSEC_ACTION_DENY && a <= M2MSEC_ACTION_REMEDIATE,
                     "policy action %d for '%s'", (int)a, paths[i]);
        }
        FZ_CHECK(m2msec_policy_action(lp, NULL) == M2MSEC_ACTION_DENY, "NULL path not denied");
        m2msec_policy_free(lp);
    }
    fz_errors("m2msec_policy_load");

    /* the provider: openssl.cnf with its section, served by the fake core as NCONF parsed it */
    cap = 4096 + 2 * 600;
    for (int i = 0; i < NKEYS; i++)
        cap += vals[i] != NULL ? strlen(vals[i]) + 32 : 0;
    cap += extra != NULL ? strlen(extra) + 2 : 0;
    cnf = malloc(cap);
    o = (size_t)snprintf(cnf, cap,
                         "openssl_conf = init\n[init]\nproviders = provs\n[provs]\n"
                         "m2msec = m2msec_sect\n[m2msec_sect]\n");
    for (int i = 0; i < NKEYS; i++) {
        const char *v = vals[i];

        if (v == NULL)
            continue;
        if (i == 6) /* device_key_file: the key file, or one that does not exist */
            v = (mode & 4) ? p_key : p_missing;
        o += (size_t)snprintf(cnf + o, cap - o, "%s = %s\n", cnf_keys[i], v);
    }
    if (mode & 2)
        o += (size_t)snprintf(cnf + o, cap - o, "policy = %s\n", p_policy);
    if (mode & 8)
        o += (size_t)snprintf(cnf + o, cap - o, "manifest_state = %s\n", p_state);
    if (extra != NULL)
        o += (size_t)snprintf(cnf + o, cap - o, "%s\n", extra);
    fz_write_file(p_cnf, cnf, o);
    memset(&served, 0, sizeof(served));
    served.fail = mode & 1;
    ERR_set_mark();
    conf = NCONF_new(NULL);
    bio = BIO_new_mem_buf(cnf, (int)o);
    if (conf != NULL && bio != NULL && NCONF_load_bio(conf, bio, NULL) > 0)
        sect = NCONF_get_section(conf, "m2msec_sect");
    ERR_pop_to_mark();
    if (sect == NULL)
        served.fail = 1; /* libcrypto would not have loaded this file */
    for (int i = 0; sect != NULL && i < sk_CONF_VALUE_num(sect) && served.n < MAX_SERVED; i++) {
        const CONF_VALUE *cv = sk_CONF_VALUE_value(sect, i);

        served.name[served.n] = cv->name;
        served.value[served.n++] = cv->value;
        unknown |= !known_cnf_key(cv->name);
    }
    fz_stat(served.fail ? "no config section" : "config section served");
    ok = m2m_policy_load(&pol, NULL, fake_get_params);
    fz_stat(ok ? "m2m_policy_load ok" : "m2m_policy_load refused");
    if (ok) {
        check_provider_policy(&pol);
        FZ_CHECK(served.fail || !unknown, "a section with an unknown key accepted");
        FZ_CHECK(pol.policy_path == NULL || lib_ok,
                 "the provider accepted a policy file that libm2msec refused");
    }
    m2m_policy_cleanup(&pol);
    fz_errors("m2m_policy_load");

    BIO_free(bio);
    NCONF_free(conf);
    free(cnf);
    for (int i = 0; i < NKEYS; i++)
        free(vals[i]);
    free(extra);
    free(keytext);
    free(text);
    return 0;
}
