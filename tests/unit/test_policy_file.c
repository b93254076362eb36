/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for common/: the one strict reader of the device policy file
 * (policy_file.c), the check of the provider's openssl.cnf section
 * (conf_check.c, also through the built module and OSSL_LIB_CTX_load_config),
 * the manifest state reader, the file reader's refusals (symlinks, FIFOs,
 * size), and the status record invalidation of libm2msec
 * (m2msec_integrity_status_invalidate), whose MAC is checked with OpenSSL's own HMAC
 * (EVP_Q_mac on the default provider), never with the code under test.
 */
#define _DEFAULT_SOURCE /* realpath() */

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CUnit/Basic.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/provider.h>

#include "conf_check.h"
#include "m2msec/integrity.h"
#include "manifest_state.h"
#include "policy_file.h"
#include "test_run.h"

static char dir[] = "/tmp/m2msec-policy-file.XXXXXX";
static const char *mods;

static void pathf(char *out, const char *name)
{
    snprintf(out, PATH_MAX, "%s/%s", dir, name);
}

static int write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    if (f == NULL)
        return 0;
    fputs(text, f);
    return fclose(f) == 0;
}

static int parse(const char *text, M2M_POLICY_FILE *pf, M2M_ERRMSG *err)
{
    return m2m_policy_file_parse("P", text, strlen(text), pf, err);
}

/* ---- a valid file, every section ---- */

static void test_valid(void)
{
    static const char text[] = "# device policy\n"
                               "\n"
                               "[session]\n"
                               "max_lifetime = 600   # ten minutes\n"
                               "  min_key_bits=256\n"
                               "allowed_aeads = M2M-REC-AES-256-GCM, M2M-REC-CHACHA20-POLY1305\n"
                               "require_integrity = YES\n"
                               "integrity_status = /var/lib/m2msec/status\n"
                               "device_key_file = /etc/m2msec/device.key\n"
                               "manifest_state = /var/lib/m2msec/manifest.state\n"
                               "max_status_age = 900\n"
                               "[ integrity ]\n"
                               "default_action = Quarantine\n"
                               "quarantine_dir = /q\n"
                               "repository = https://updates.example.com/base/\n"
                               "[rules]\n"
                               "lib/plugins/* = quarantine\n"
                               "lib/* = deny\n"
                               "etc/my?file.conf = alert\n"
                               "[exec.bin/app]\n"
                               "requires = lib/a.so, etc/app.conf\n";
    M2M_POLICY_FILE pf;
    M2M_ERRMSG err;
    const M2M_SESSION_VALUES *sv = &pf.session;

    CHECK(parse(text, &pf, &err), "valid file refused: %s", err.text);
    CHECK(sv->num[M2M_SK_MAX_LIFETIME] == 600 && sv->num[M2M_SK_MIN_KEY_BITS] == 256 &&
              sv->num[M2M_SK_MAX_STATUS_AGE] == 900,
          "numbers");
    CHECK(sv->aeads == ((1u << 1) | (1u << 2)), "aeads mask %#x", sv->aeads);
    CHECK(sv->require_integrity == 1, "require_integrity");
    CHECK(sv->path[M2M_SK_MANIFEST_STATE] != NULL &&
              strcmp(sv->path[M2M_SK_MANIFEST_STATE], "/var/lib/m2msec/manifest.state") == 0,
          "manifest_state");
    CHECK(sv->line[M2M_SK_MAX_LIFETIME] == 4 && sv->line[M2M_SK_MIN_KEY_BITS] == 5, "lines %ld %ld",
          sv->line[M2M_SK_MAX_LIFETIME], sv->line[M2M_SK_MIN_KEY_BITS]);
    CHECK(!(sv->set & (1u << M2M_SK_REPLAY_WINDOW)), "replay_window not given");
    CHECK(pf.default_action == M2M_PF_QUARANTINE && pf.quarantine_dir != NULL &&
              pf.repository != NULL && pf.log == NULL,
          "[integrity]");
    CHECK(pf.nrules == 3 && strcmp(pf.rules[0].pattern, "lib/plugins/*") == 0 &&
              pf.rules[0].action == M2M_PF_QUARANTINE &&
              strcmp(pf.rules[1].pattern, "lib/*") == 0 && pf.rules[2].action == M2M_PF_ALERT &&
              pf.rules[2].line == 19,
          "[rules] in file order");
    CHECK(pf.nexecs == 1 && strcmp(pf.execs[0].program, "bin/app") == 0 &&
              strcmp(pf.execs[0].requires, "lib/a.so, etc/app.conf") == 0,
          "[exec.bin/app]");
    m2m_policy_file_clear(&pf);

    CHECK(parse("", &pf, &err) && pf.default_action == M2M_PF_DENY && pf.nrules == 0,
          "an empty file: defaults, deny: %s", err.text);
    m2m_policy_file_clear(&pf);
}

/* ---- every refusal names the line and says what is wrong ---- */

static void test_refused(void)
{
    static const struct {
        const char *text, *want;
    } cases[] = {
        /* typo classes of issue 9.6 */
        {"[sesion]\nmax_lifetime = 600\n", "line 1: unknown section [sesion]"},
        {"[rule]\nbin/* = deny\n", "line 1: unknown section [rule]"},
        {"[Session]\n", "line 1: unknown section [Session]"},
        {"[session]\nmax_lifetme = 60\n", "line 2: unknown key 'max_lifetme' in [session]"},
        {"[integrity]\nlog_file = /x\n", "line 2: unknown key 'log_file' in [integrity]"},
        {"[exec.bin/app]\nrequire = x\n", "line 2: unknown key 'require' in [exec.bin/app]"},
        {"max_lifetime = 600\n", "line 1: 'max_lifetime' is outside any section"},
        {"[integrity]\nrules::bin/* = alert\n",
         "line 2: cross-section reference 'rules::bin/*' is not allowed"},
        {"[session]\nsession::max_lifetime = 9\n", "line 2: cross-section reference"},
        {"[session]\nmax_lifetime = $ENV::X\n", "line 2: variable reference ('$')"},
        {"[session]\nmax_lifetime = ${session::y}\n", "line 2: variable reference"},
        {"[rules]\n.include /etc/other.cnf\n", "line 2: directive '.include' is not allowed"},
        {".include=/etc/other.cnf\n", "line 1: directive '.include' is not allowed"},
        {".pragma dollarid:on\n", "line 1: directive '.pragma' is not allowed"},
        {"[session]\nintegrity_status = status\n",
         "line 2: policy integrity_status = 'status' is not an absolute path"},
        {"[session]\ndevice_key_file = ./k\n", "line 2: policy device_key_file = './k' is not"},
        {"[session]\nmanifest_state = m.state\n", "line 2: policy manifest_state = 'm.state'"},
        {"[integrity]\nquarantine_dir = q\n", "line 2: quarantine_dir = 'q' is not an absolute"},
        /* duplicates */
        {"[session]\nmax_lifetime = 600\n\nmax_lifetime = 86400\n",
         "line 4: key 'max_lifetime' appears twice in [session] (first at line 2)"},
        {"[integrity]\nlog = /a\nlog = /b\n", "line 3: key 'log' appears twice in [integrity]"},
        {"[rules]\nbin/* = deny\netc/* = alert\nbin/* = alert\n",
         "line 4: pattern 'bin/*' appears twice in [rules] (first at line 2)"},
        {"[session]\n[rules]\n[session]\n", "line 3: section [session] appears twice (first at "
                                            "line 1)"},
        {"[exec.a]\n[exec.a]\n", "line 2: section [exec.a] appears twice"},
        /* syntax */
        {"[session\n", "line 1: syntax error: '[session' has no closing ']'"},
        {"[session] x\n", "line 1: syntax error: text after the section header"},
        {"[session]\nmax_lifetime\n", "line 2: syntax error: 'max_lifetime' is not 'key = value'"},
        {"[session]\n = 5\n", "line 2: syntax error: no key before '='"},
        {"[session]\nmax_lifetime =\n", "line 2: 'max_lifetime' has no value"},
        {"[session]\nMax_lifetime = 5\n", "line 2: syntax error: 'Max_lifetime' is not a key"},
        {"[rules]\nbin/[ab] = deny\n", "line 2: syntax error: rule pattern 'bin/[ab]' holds '['"},
        {"[rules]\nbin/my file = deny\n", "line 2: syntax error: rule pattern 'bin/my file'"},
        {"[session]\nmax_lifetime = \"600\"\n", "line 2: quotes are not allowed"},
        {"[integrity]\nlog = /var/log/a\\\n", "line 2: a backslash"},
        {"[integrity]\nlog = /var/log/a\tb\n", "line 2: a tab inside the value of 'log'"},
        {"[session]\r\n", "line 1: CR (carriage return)"},
        {"[session]\nmax_lifetime = 6\x01\n", "line 2: control character 0x01"},
        /* values */
        {"[session]\nmax_lifetime = 0600\n", "line 2: policy max_lifetime = '0600' has a leading"},
        {"[session]\nmax_lifetime = 0\n", "line 2: policy max_lifetime = 0 is out of range"},
        {"[session]\nmax_lifetime = 600s\n", "policy max_lifetime = '600s' is not a decimal"},
        {"[session]\nmax_lifetime = 99999999999999999999\n", "is out of range"},
        {"[session]\nmin_key_bits = 132\n", "policy min_key_bits = 132 is not a multiple of 8"},
        {"[session]\nmin_key_bits = 64\n", "policy min_key_bits = 64 is out of range [128, 8192]"},
        {"[session]\nreplay_window = 63\n",
         "policy replay_window = 63 is out of range [64, 32768]"},
        {"[session]\nmax_status_age = 0\n", "policy max_status_age = 0 is out of range [1, "},
        {"[session]\nrequire_integrity = maybe\n", "policy require_integrity = 'maybe' is not yes"},
        {"[session]\nallowed_aeads = m2m-rec-aes-128-gcm\n",
         "names 'm2m-rec-aes-128-gcm': names are exact (the label is bound into session keys); "
         "write 'M2M-REC-AES-128-GCM'"},
        {"[session]\nallowed_aeads = AES-GCM\n", "names 'AES-GCM', which is not an M2M-REC cipher"},
        {"[session]\nallowed_aeads = ,\n", "policy allowed_aeads is empty"},
        {"[integrity]\ndefault_action = explode\n",
         "line 2: default_action = 'explode' is not deny, quarantine, alert or remediate"},
        {"[rules]\nbin/* = burn\n", "line 2: rule 'bin/* = burn': the action is not"},
        {"[rules]\n/bin/* = deny\n", "line 2: rule pattern '/bin/*' starts with '/'"},
        {"[integrity]\nrepository = http://h/x?y=1\n", "line 2: repository URL must be"},
        {"[integrity]\nrepository = https:///x\n", "line 2: repository URL must be"},
        {"[integrity]\ndefault_action = quarantine\n",
         "line 2: quarantine and remediate need quarantine_dir"},
        {"[integrity]\nquarantine_dir = /q\n[rules]\nx = alert\netc/* = remediate\n",
         "line 5: remediate needs repository"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        M2M_POLICY_FILE pf;
        M2M_ERRMSG err;
        int ok = parse(cases[i].text, &pf, &err);

        CHECK(!ok, "case %zu accepted: %s", i, cases[i].text);
        if (ok) {
            m2m_policy_file_clear(&pf);
            continue;
        }
        CHECK(strncmp(err.text, "policy file P", 13) == 0 &&
                  strstr(err.text, cases[i].want) != NULL,
              "case %zu: '%s' lacks '%s'", i, err.text, cases[i].want);
        CHECK(pf.rules == NULL && pf.nrules == 0 && pf.session.set == 0, "case %zu: *pf not empty",
              i);
    }
    {
        /* a NUL byte: not a text file */
        static const char nul[] = "[session]\nmax_lifetime = 6\0\n";
        M2M_POLICY_FILE pf;
        M2M_ERRMSG err;

        CHECK(!m2m_policy_file_parse("P", nul, sizeof(nul) - 1, &pf, &err) &&
                  strstr(err.text, "line 2: NUL byte") != NULL,
              "NUL: %s", err.text);
    }
}

/* ---- session values set from openssl.cnf go through the same checks ---- */

static void test_session_set(void)
{
    M2M_SESSION_VALUES sv;
    M2M_ERRMSG err;

    memset(&sv, 0, sizeof(sv));
    CHECK(m2m_session_set(&sv, M2M_SK_MAX_LIFETIME, "316224000", "W", 3, &err) &&
              sv.num[M2M_SK_MAX_LIFETIME] == 316224000u && sv.line[M2M_SK_MAX_LIFETIME] == 3,
          "max_lifetime ceiling accepted: %s", err.text);
    CHECK(!m2m_session_set(&sv, M2M_SK_MAX_LIFETIME, "316224001", "W", 3, &err) &&
              strcmp(err.text,
                     "W: policy max_lifetime = 316224001 is out of range [1, 316224000]") == 0,
          "max_lifetime above the ceiling: %s", err.text);
    CHECK(sv.num[M2M_SK_MAX_LIFETIME] == 316224000u, "a refused value keeps the old one");
    CHECK(m2m_session_set(&sv, M2M_SK_ALLOWED_AEADS, "M2M-REC-AES-128-CCM\tM2M-REC-AES-128-GCM",
                          "W", 0, &err) &&
              sv.aeads == 9u,
          "tab-separated aeads (openssl.cnf values may hold tabs): %#x", sv.aeads);
    CHECK(!m2m_session_set(&sv, M2M_SK_DEVICE_KEY_FILE, "dev.key", "W", 0, &err) &&
              strstr(err.text, "'dev.key' is not an absolute path") != NULL,
          "relative device_key_file: %s", err.text);
    CHECK(m2m_skey_lookup("max_status_age") == M2M_SK_MAX_STATUS_AGE &&
              m2m_skey_lookup("max_lifetme") == -1,
          "m2m_skey_lookup");
    m2m_session_values_clear(&sv);
    CHECK(sv.set == 0 && sv.path[M2M_SK_DEVICE_KEY_FILE] == NULL, "cleared");
    /* the cnf key list starts with the session keys, in order */
    for (int k = 0; k < M2M_SK_COUNT; k++)
        CHECK(strcmp(m2m_cnf_keys[k], m2m_skey_names[k]) == 0, "m2m_cnf_keys[%d]", k);
}

/* ---- the manifest rollback state ---- */

static void test_manifest_state(void)
{
    static const struct {
        const char *text;
        int ok;
        uint64_t v;
    } cases[] = {
        {"m2msec-manifest-state 1\nversion 6\n", 1, 6},
        {"m2msec-manifest-state 1\nversion 0\n", 1, 0},
        {"m2msec-manifest-state 1\nversion 18446744073709551615\n", 1, UINT64_MAX},
        {"m2msec-manifest-state 1\nversion 18446744073709551616\n", 0, 0},
        {"m2msec-manifest-state 1\nversion 06\n", 0, 0},
        {"m2msec-manifest-state 1\nversion 6", 0, 0},
        {"m2msec-manifest-state 1\nversion  6\n", 0, 0},
        {"m2msec-manifest-state 2\nversion 6\n", 0, 0},
        {"m2msec-manifest-state 1\nversion 6\n\n", 0, 0},
        {"m2msec-manifest-state 1\r\nversion 6\n", 0, 0},
        {"", 0, 0},
    };
    char path[PATH_MAX];
    uint64_t v;
    M2M_ERRMSG err;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        v = 12345;
        CHECK(m2m_manifest_state_parse(cases[i].text, strlen(cases[i].text), &v) == cases[i].ok &&
                  (!cases[i].ok || v == cases[i].v),
              "state case %zu", i);
    }
    pathf(path, "manifest.state");
    CHECK(!m2m_manifest_state_read(path, &v, &err) && err.sys_errno == ENOENT,
          "missing state: ENOENT (%s)", err.text);
    CHECK(write_text(path, "m2msec-manifest-state 1\nversion 9\n") &&
              m2m_manifest_state_read(path, &v, &err) && v == 9,
          "state read: %s", err.text);
    CHECK(write_text(path, "version 9\n") && !m2m_manifest_state_read(path, &v, &err) &&
              strstr(err.text, "is malformed") != NULL,
          "malformed state: %s", err.text);
    unlink(path);
}

/* ---- the file reader: symlinks, FIFOs, directories, size ---- */

static void test_cfile(void)
{
    char real[PATH_MAX + 16], sub[PATH_MAX], link[PATH_MAX], via[PATH_MAX + 16], fifo[PATH_MAX];
    unsigned char *buf = NULL;
    size_t len = 0;
    M2M_ERRMSG err;
    M2M_POLICY_FILE pf;

    pathf(sub, "realdir");
    pathf(link, "linkdir");
    CHECK(mkdir(sub, 0700) == 0 && symlink(sub, link) == 0, "directories");
    snprintf(real, sizeof(real), "%s/policy.cnf", sub);
    snprintf(via, sizeof(via), "%s/policy.cnf", link);
    CHECK(write_text(real, "[session]\nmax_lifetime = 600\n"), "policy written");
    CHECK(m2m_policy_file_load(real, &pf, &err), "the real path loads: %s", err.text);
    m2m_policy_file_clear(&pf);
    CHECK(!m2m_policy_file_load(via, &pf, &err) &&
              strstr(err.text, "is a symlink (not followed: name the real path)") != NULL &&
              strstr(err.text, link) != NULL,
          "a symlinked directory on the way: %s", err.text);
    /* followed only where asked (openssl.cnf is read the way libcrypto reads it) */
    CHECK(m2m_cf_read(via, 0, 100, "file", &buf, &len, &err) && len == 29, "followed: %s",
          err.text);
    OPENSSL_free(buf);
    pathf(fifo, "fifo");
    CHECK(mkfifo(fifo, 0600) == 0, "mkfifo");
    CHECK(!m2m_policy_file_load(fifo, &pf, &err) && strstr(err.text, "is a fifo") != NULL,
          "a FIFO is refused without blocking: %s", err.text);
    CHECK(!m2m_policy_file_load(dir, &pf, &err) && strstr(err.text, "is a directory") != NULL,
          "a directory: %s", err.text);
    CHECK(!m2m_cf_read(real, M2M_CF_NO_SYMLINKS, 28, "file", &buf, &len, &err) &&
              strstr(err.text, "larger than 28 bytes") != NULL,
          "size cap: %s", err.text);
    CHECK(m2m_cf_read(real, M2M_CF_NO_SYMLINKS, 29, "file", &buf, &len, &err) && len == 29 &&
              buf[29] == '\0',
          "exactly the cap: %s", err.text);
    OPENSSL_free(buf);
    unlink(fifo);
    unlink(real);
    unlink(link);
    rmdir(sub);
}

/* ---- the provider's openssl.cnf section (common/conf_check.c, then the module) ---- */

/* An openssl.cnf for the built module: m2msec's section @p sect with @p lines. */
static void write_cnf(const char *path, const char *provname, const char *sect, const char *lines)
{
    char text[4 * PATH_MAX], mod[PATH_MAX];

    CHECK(realpath(mods, mod) != NULL, "module directory");
    snprintf(text, sizeof(text),
             "openssl_conf = openssl_init\n[openssl_init]\nproviders = provider_sect\n"
             "[provider_sect]\ndefault = default_sect\n%s = %s\n[default_sect]\nactivate = 1\n"
             "[%s]\nmodule = %s/m2msec.so\nactivate = 1\n%s",
             provname, sect, sect, mod, lines);
    CHECK(write_text(path, text), "write %s", path);
}

static int m2msec_from(const char *cnf)
{
    OSSL_LIB_CTX *ctx = OSSL_LIB_CTX_new();
    int ok =
        ctx != NULL && OSSL_LIB_CTX_load_config(ctx, cnf) && OSSL_PROVIDER_available(ctx, "m2msec");

    OSSL_LIB_CTX_free(ctx);
    ERR_clear_error();
    return ok;
}

static void test_conf_check(void)
{
    char a[PATH_MAX], b[PATH_MAX], inc[PATH_MAX], text[2 * PATH_MAX];
    const char *core[M2M_CK_COUNT] = {NULL};
    M2M_CNF_SOURCE src;
    M2M_ERRMSG err;

    pathf(a, "a.cnf");
    pathf(b, "b.cnf");
    write_cnf(a, "m2msec", "m2msec_sect", "max_lifetime = 600\n");
    write_cnf(b, "m2msec", "m2msec_sect", "max_lifetime = 900\n");

    /* the core's values agree with a.cnf: checked there, with lines */
    setenv("OPENSSL_CONF", a, 1);
    core[M2M_SK_MAX_LIFETIME] = "600";
    core[M2M_CK_ACTIVATE] = "1";
    core[M2M_CK_MODULE] = NULL;
    {
        char mod[PATH_MAX], modpath[PATH_MAX + 16];

        CHECK(realpath(mods, mod) != NULL, "module directory");
        snprintf(modpath, sizeof(modpath), "%s/m2msec.so", mod);
        core[M2M_CK_MODULE] = modpath;
        CHECK(m2m_cnf_check("m2msec", core, &src, &err) && strcmp(src.file, a) == 0 &&
                  strcmp(src.section, "m2msec_sect") == 0 && src.line[M2M_SK_MAX_LIFETIME] == 12,
              "a.cnf checked: %s (line %ld)", err.text, src.line[M2M_SK_MAX_LIFETIME]);
        /* another value than the file's: the section the core used is not there */
        core[M2M_SK_MAX_LIFETIME] = "900";
        CHECK(!m2m_cnf_check("m2msec", core, &src, &err) &&
                  strstr(err.text, "cannot be checked for unknown keys") != NULL &&
                  strstr(err.text, a) != NULL && strstr(err.text, "OPENSSL_CONF") != NULL,
              "the section came from elsewhere: %s", err.text);
        core[M2M_SK_MAX_LIFETIME] = "600";
    }
    /* nothing from the core, and no section in the file: nothing to check */
    memset(core, 0, sizeof(core));
    CHECK(m2m_cnf_check("other-provider", core, &src, &err) && src.file[0] == '\0',
          "no configuration for this name: %s", err.text);

    /* through the module: a.cnf loads only while it is the file OpenSSL reads by default */
    CHECK(m2msec_from(a), "a.cnf with OPENSSL_CONF=a.cnf: m2msec loads");
    setenv("OPENSSL_CONF", b, 1);
    CHECK(!m2msec_from(a), "a.cnf with OPENSSL_CONF=b.cnf: the section cannot be checked");
    unsetenv("OPENSSL_CONF");
    CHECK(!m2msec_from(a), "a.cnf without OPENSSL_CONF: refused");

    /* the section found by identity, under another init section than openssl_conf */
    snprintf(text, sizeof(text), "max_lifetime = 600\nidentity = m2msec\n");
    write_cnf(a, "renamed", "sect2", text);
    {
        /* write_cnf names the init section openssl_init; rename the appname key */
        char body[4 * PATH_MAX];
        FILE *f = fopen(a, "r");
        size_t n = f != NULL ? fread(body, 1, sizeof(body) - 1, f) : 0;

        if (f != NULL)
            fclose(f);
        body[n] = '\0';
        memcpy(body, "myapp_conf  ", 12); /* "openssl_conf" -> "myapp_conf  " */
        CHECK(write_text(a, body), "appname config");
    }
    CHECK(m2m_cnf_check_file(a, "m2msec", &src, &err) && strcmp(src.section, "sect2") == 0,
          "found by identity and appname: %s", err.text);

    /* the strict checks, with the file and line */
    {
        static const struct {
            const char *lines, *want;
        } cases[] = {
            {"max_lifetme = 60\n", "line 12: unknown key 'max_lifetme' in [m2msec_sect]"},
            {"policy = policy.cnf\n", "line 12: policy = 'policy.cnf' is not an absolute path"},
            {"integrity_status = st\n", "line 12: policy integrity_status = 'st' is not an"},
            {"max_lifetime = 600\nmax_lifetime = 86400\n",
             "line 13: key 'max_lifetime' appears twice in [m2msec_sect] (also at line 12)"},
            {"max_lifetime = default_sect\n", "names the section [default_sect]"},
            {"max_lifetime = $ENV::HOME\n", "is a variable reference ('$ENV::HOME')"},
            {"max_lifetime = abc\n", "line 12: policy max_lifetime = 'abc' is not a decimal"},
            {"[other]\nm2msec_sect::max_lifetime = 1\n",
             "line 13: 'm2msec_sect::max_lifetime' sets a key of m2msec's section"},
        };

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
            write_cnf(a, "m2msec", "m2msec_sect", cases[i].lines);
            CHECK(!m2m_cnf_check_file(a, "m2msec", &src, &err) &&
                      strstr(err.text, cases[i].want) != NULL && strstr(err.text, a) != NULL,
                  "cnf case %zu: '%s' lacks '%s'", i, err.text, cases[i].want);
            setenv("OPENSSL_CONF", a, 1);
            CHECK(!m2msec_from(a), "cnf case %zu: the module refuses to load", i);
            unsetenv("OPENSSL_CONF");
        }
    }

    /* keys in an included file are checked too */
    pathf(inc, "inc.cnf");
    CHECK(write_text(inc, "max_lifetme = 60\n"), "included file");
    snprintf(text, sizeof(text), ".include %s\n", inc);
    write_cnf(a, "m2msec", "m2msec_sect", text);
    {
        char want[2 * PATH_MAX + 128];

        snprintf(want, sizeof(want),
                 "config file %s line 1 (included from %s): unknown key "
                 "'max_lifetme'",
                 inc, a);
        CHECK(!m2m_cnf_check_file(a, "m2msec", &src, &err) && strstr(err.text, want) != NULL,
              "typo in an included file: %s", err.text);
    }
    write_cnf(a, "m2msec", "m2msec_sect", "max_lifetime = 600\n");
    CHECK(m2m_cnf_check_file(a, "m2msec", &src, &err), "a clean section: %s", err.text);
    unlink(inc);
    unlink(a);
    unlink(b);
}

/* ---- libm2msec: invalidate first, and a failed write leaves it invalid ---- */

static void test_invalidate(void)
{
    static const unsigned char key[32] = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11,
                                          12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22,
                                          23, 24, 25, 26, 27, 28, 29, 30, 31, 32};
    OSSL_LIB_CTX *ref = OSSL_LIB_CTX_new();
    OSSL_PROVIDER *def = ref != NULL ? OSSL_PROVIDER_load(ref, "default") : NULL;
    char path[PATH_MAX], text[600], want[600], hex[65];
    unsigned char mac[32];
    size_t maclen = 0, body;
    FILE *f;
    size_t n;

    CHECK(def != NULL, "default provider");
    pathf(path, "integrity.status");
    CHECK(m2msec_integrity_status_write(ref, path, key, sizeof(key), 1, 7, 1767225600u),
          "passed written");
    CHECK(m2msec_integrity_status_invalidate(ref, path, key, sizeof(key), 1767225700u),
          "invalidated");
    /* the writer fails (a key the provider would not accept): nothing is written */
    CHECK(!m2msec_integrity_status_write(ref, path, key, 8, 1, 8, 1767225800u), "a failing write");
    ERR_clear_error();
    f = fopen(path, "r");
    n = f != NULL ? fread(text, 1, sizeof(text) - 1, f) : 0;
    if (f != NULL)
        fclose(f);
    text[n] = '\0';
    body = (size_t)snprintf(want, sizeof(want),
                            "m2msec-integrity-status 2\nresult verifying\nmanifest-version 0\n"
                            "time 1767225700\n");
    CHECK(EVP_Q_mac(ref, "HMAC", NULL, "SHA256", NULL, key, sizeof(key),
                    (const unsigned char *)want, body, mac, sizeof(mac), &maclen) != NULL &&
              maclen == 32,
          "reference HMAC");
    for (size_t i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", mac[i]);
    snprintf(want + body, sizeof(want) - body, "mac %s\n", hex);
    CHECK(strcmp(text, want) == 0, "still the verifying record after the failed write:\n%s", text);
    CHECK(!m2msec_integrity_status_invalidate(ref, path, NULL, 32, 1), "NULL key refused");
    CHECK(!m2msec_integrity_status_invalidate(ref, path, key, 65, 1), "a 65-byte key refused");
    ERR_clear_error();
    unlink(path);
    OSSL_PROVIDER_unload(def);
    OSSL_LIB_CTX_free(ref);
}

int main(void)
{
    static const tc_test tests[] = {
        {"a valid policy file, every section", test_valid},
        {"refusals name the line and the problem", test_refused},
        {"session values (also for openssl.cnf)", test_session_set},
        {"manifest rollback state", test_manifest_state},
        {"file reader: symlinks, FIFOs, size", test_cfile},
        {"openssl.cnf section check", test_conf_check},
        {"status record invalidated before verifying", test_invalidate},
    };
    int rc;

    mods = getenv("M2M_MODULES");
    if (mods == NULL || mkdtemp(dir) == NULL) {
        fprintf(stderr, "M2M_MODULES must name the built module's directory\n");
        return 1;
    }
    unsetenv("OPENSSL_CONF");
    rc = tc_run("test_policy_file", "policy file and configuration", NULL, NULL, tests,
                sizeof(tests) / sizeof(tests[0]));
    rmdir(dir);
    return rc;
}
