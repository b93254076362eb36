/* SPDX-License-Identifier: Apache-2.0 */
/*
 * m2msec status: does the provider load (and pass its module self-check),
 * which policy is in force, and what does the device integrity status
 * record say (read and authenticated with common/status_record.c, the
 * code the provider itself uses).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <openssl/conf.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/provider.h>

#include "conf_check.h"
#include "status_record.h"
#include "manifest_state.h"
#include "policy_file.h"
#include "tool.h"

static void usage(FILE *out)
{
    fputs("usage: m2msec status [--conf OPENSSL_CONF] [--policy FILE]\n"
          "                     [--status-file F --device-key-file K]\n"
          "\n"
          "Show whether the m2msec provider loads from the OpenSSL configuration and\n"
          "passes its module self-check (status active or inactive), and if it refuses to\n"
          "load, why; the policy in force (the provider's config section, then the\n"
          "[session] section of its policy file), and the device integrity status record,\n"
          "authenticated with the device key and checked as the provider's gate does.\n"
          "\n"
          "Options:\n"
          "  --conf FILE            OpenSSL configuration (default: $OPENSSL_CONF, else\n"
          "                         OpenSSL's default file)\n"
          "  --policy FILE          policy file (default: 'policy =' of the config section)\n"
          "  --status-file F        status record (default: integrity_status of the policy)\n"
          "  --device-key-file K    device key (default: device_key_file of the policy)\n"
          "  -h, --help             show this help\n"
          "\n"
          "Exit codes: 0 the provider is active and the status record (if one is\n"
          "configured) would unlock session keys: authentic, passed, not older than\n"
          "max_status_age, for a manifest not older than manifest_state; 1 the provider\n"
          "does not load or is inactive, or the status record is missing, forged, failed,\n"
          "verifying, too old or for an older manifest; 2 usage or input error\n"
          "(unreadable configuration, policy or device key file).\n",
          out);
}

/* The name of the m2msec provider section: openssl_conf -> providers -> m2msec. */
static const char *m2msec_section(CONF *cnf)
{
    const char *init, *provs, *sect;

    ERR_set_mark();
    init = NCONF_get_string(cnf, NULL, "openssl_conf");
    provs = init != NULL ? NCONF_get_string(cnf, init, "providers") : NULL;
    sect = provs != NULL ? NCONF_get_string(cnf, provs, "m2msec") : NULL;
    ERR_pop_to_mark();
    return sect;
}

/* The value of @p key in section @p sect itself (not the default section), or NULL. */
static const char *section_value(const CONF *cnf, const char *sect, const char *key)
{
    STACK_OF(CONF_VALUE) * sk;
    const char *v = NULL;

    ERR_set_mark();
    sk = NCONF_get_section(cnf, sect);
    ERR_pop_to_mark();
    for (int i = 0; sk != NULL && i < sk_CONF_VALUE_num(sk); i++)
        if (strcmp(sk_CONF_VALUE_value(sk, i)->name, key) == 0)
            v = sk_CONF_VALUE_value(sk, i)->value;
    return v;
}

/*
 * Why the provider refuses to load with configuration @p conf: the checks it
 * runs at load, with the same code (common/: the section of the
 * configuration file and its values, the policy file; the device key file).
 * 1 with the reason in @p why, 0 if none of them fails.
 */
static int refusal_reason(const char *conf, char *why, size_t cap)
{
    M2M_CNF_SOURCE *src = calloc(1, sizeof(*src));
    M2M_SESSION_VALUES sv;
    M2M_POLICY_FILE pf;
    M2M_ERRMSG err;
    CONF *cnf = NULL;
    const char *policy, *keyfile = NULL;
    unsigned set;
    int found = 0, ri = 0;

    memset(&pf, 0, sizeof(pf));
    memset(&sv, 0, sizeof(sv));
    if (src == NULL)
        return 0;
    if (!m2m_cnf_check_file(conf, "m2msec", src, &err)) {
        snprintf(why, cap, "%s", err.text);
        found = 1;
        goto end;
    }
    if (src->file[0] == '\0' || (cnf = NCONF_new(NULL)) == NULL || NCONF_load(cnf, conf, NULL) <= 0)
        goto end;
    /* the section's values were checked above: these cannot fail */
    for (int k = 0; k < M2M_SK_COUNT; k++) {
        const char *v = section_value(cnf, src->section, m2m_skey_names[k]);

        if (v != NULL)
            m2m_session_set(&sv, (M2M_SKEY)k, v, conf, 0, &err);
    }
    set = sv.set;
    ri = sv.require_integrity;
    keyfile = sv.path[M2M_SK_DEVICE_KEY_FILE];
    policy = section_value(cnf, src->section, "policy");
    if (policy != NULL) {
        if (!m2m_policy_file_load(policy, &pf, &err)) {
            snprintf(why, cap, "%s", err.text);
            found = 1;
            goto end;
        }
        set |= pf.session.set;
        if (pf.session.set & (1u << M2M_SK_REQUIRE_INTEGRITY))
            ri = pf.session.require_integrity;
        if (pf.session.set & (1u << M2M_SK_DEVICE_KEY_FILE))
            keyfile = pf.session.path[M2M_SK_DEVICE_KEY_FILE];
    }
    if (keyfile != NULL) {
        unsigned char key[M2M_DEVICE_KEY_MAX];
        size_t keylen = 0;
        int r = m2m_device_key_read(keyfile, key, &keylen);

        OPENSSL_cleanse(key, sizeof(key));
        if (r != 0) {
            snprintf(why, cap, "policy device_key_file %s: %s", keyfile, m2m_device_key_error(r));
            found = 1;
            goto end;
        }
    }
    if (ri && (!(set & (1u << M2M_SK_INTEGRITY_STATUS)) || keyfile == NULL ||
               !(set & (1u << M2M_SK_MANIFEST_STATE)))) {
        snprintf(why, cap,
                 "policy require_integrity needs integrity_status, device_key_file and "
                 "manifest_state (missing:%s%s%s)",
                 set & (1u << M2M_SK_INTEGRITY_STATUS) ? "" : " integrity_status",
                 keyfile != NULL ? "" : " device_key_file",
                 set & (1u << M2M_SK_MANIFEST_STATE) ? "" : " manifest_state");
        found = 1;
    }
end:
    m2m_session_values_clear(&sv);
    m2m_policy_file_clear(&pf);
    NCONF_free(cnf);
    ERR_clear_error();
    free(src);
    return found;
}

/*
 * The configuration activates m2msec but it is not there: OpenSSL 3.0 says
 * nothing about why. Run the provider's own load checks; if none fails,
 * load the module by itself (no config values) in a fresh context to tell
 * a module that does not load from a refused value.
 */
static void explain_failed_activation(CONF *cnf, const char *conf, const char *sect)
{
    OSSL_LIB_CTX *ctx;
    OSSL_PROVIDER *prov;
    const char *module;
    char why[M2M_ERRMSG_MAX];

    if (refusal_reason(conf, why, sizeof(why))) {
        tool_err("the configuration activates m2msec, but the provider refuses to load: %s", why);
        return;
    }
    ctx = OSSL_LIB_CTX_new();
    ERR_set_mark();
    module = NCONF_get_string(cnf, sect, "module");
    ERR_pop_to_mark();
    if (module == NULL)
        module = "m2msec";
    prov = ctx != NULL ? OSSL_PROVIDER_load(ctx, module) : NULL;
    if (prov == NULL) {
        tool_fail("the configuration activates m2msec, but the module %s does not load",
                  tool_name(module));
    } else {
        tool_err("the configuration activates m2msec, and the module %s loads by itself: a "
                 "value of [%s] was refused (policy value, policy or device key file); "
                 "comment out its 'activate' line and run 'openssl list -providers -provider "
                 "m2msec' to see the reason",
                 tool_name(module), tool_name(sect));
    }
    OSSL_PROVIDER_unload(prov);
    OSSL_LIB_CTX_free(ctx);
}

/*
 * The provider checks its configuration section against the file OpenSSL
 * reads by default ($OPENSSL_CONF), so the probe names @p conf there while it
 * loads it. Returns a copy of the old value (or NULL) for env_restore().
 */
static char *env_use_conf(const char *conf, int *had)
{
    const char *old = getenv("OPENSSL_CONF");
    char *copy = old != NULL ? strdup(old) : NULL;

    *had = old != NULL;
    setenv("OPENSSL_CONF", conf, 1);
    return copy;
}

static void env_restore(char *old, int had)
{
    if (had && old != NULL)
        setenv("OPENSSL_CONF", old, 1);
    else
        unsetenv("OPENSSL_CONF");
    free(old);
}

/*
 * Does the running OpenSSL activate a provider whose section says
 * "activate = @p v"? OpenSSL 3.0 to 3.2: any value does, even "0" or "no".
 * From 3.3 on: 1, yes, true and on (all lower or all upper case) do; 0, no,
 * false and off do not; any other value ("False", "maybe") does not either,
 * and makes the configuration fail to load - silently for most
 * applications, fatally when the file sets config_diagnostics = 1. A value
 * of that last kind is reported here, naming the section.
 */
static int activate_value_activates(const char *sect, const char *v)
{
    static const char *const on[] = {"1", "yes", "YES", "true", "TRUE", "on", "ON"};
    static const char *const off[] = {"0", "no", "NO", "false", "FALSE", "off", "OFF"};

    if (OPENSSL_version_major() == 3 && OPENSSL_version_minor() < 3)
        return 1;
    for (size_t i = 0; i < sizeof(on) / sizeof(on[0]); i++) {
        if (strcmp(v, on[i]) == 0)
            return 1;
        if (strcmp(v, off[i]) == 0)
            return 0;
    }
    tool_err("[%s] activate = '%s': OpenSSL %u.%u takes 1, yes, true or on (lower or upper case) "
             "to activate a provider, 0, no, false or off not to; any other value makes the "
             "configuration fail to load, silently unless config_diagnostics = 1, and m2msec is "
             "not activated",
             tool_name(sect), v, OPENSSL_version_major(), OPENSSL_version_minor());
    return 0;
}

int tool_provider_probe(const char *conf, TOOL_PROVIDER_INFO *info)
{
    OSSL_LIB_CTX *ctx = OSSL_LIB_CTX_new();
    OSSL_PROVIDER *prov = NULL;
    CONF *cnf = NULL;
    char *name = NULL, *version = NULL, *buildinfo = NULL;
    const char *sect, *activate = NULL;
    int status = 0, ok = 0, had = 0;
    char *old_env = env_use_conf(conf, &had);
    OSSL_PARAM p[5];

    memset(info, 0, sizeof(*info));
    if (ctx == NULL || (cnf = tool_conf_load("configuration", conf)) == NULL)
        goto end;
    ok = 1;
    if (!OSSL_LIB_CTX_load_config(ctx, conf))
        tool_fail("configuration %s: OpenSSL does not accept it", tool_name(conf));
    ERR_clear_error();
    info->from_config = OSSL_PROVIDER_available(ctx, "m2msec");
    if (!info->from_config && (sect = m2msec_section(cnf)) != NULL) {
        ERR_set_mark();
        activate = NCONF_get_string(cnf, sect, "activate");
        ERR_pop_to_mark();
        if (activate != NULL && activate_value_activates(sect, activate)) {
            explain_failed_activation(cnf, conf, sect);
            goto end;
        }
    }
    /* activated: one more reference; else loaded here (its section, if any, applies) */
    prov = OSSL_PROVIDER_load(ctx, "m2msec");
    if (prov == NULL) {
        char why[M2M_ERRMSG_MAX];

        tool_print_errors();
        if (refusal_reason(conf, why, sizeof(why)))
            tool_err("the provider refuses to load: %s", why);
        goto end;
    }
    info->loaded = 1;
    p[0] = OSSL_PARAM_construct_utf8_ptr(OSSL_PROV_PARAM_NAME, &name, 0);
    p[1] = OSSL_PARAM_construct_utf8_ptr(OSSL_PROV_PARAM_VERSION, &version, 0);
    p[2] = OSSL_PARAM_construct_utf8_ptr(OSSL_PROV_PARAM_BUILDINFO, &buildinfo, 0);
    p[3] = OSSL_PARAM_construct_int(OSSL_PROV_PARAM_STATUS, &status);
    p[4] = OSSL_PARAM_construct_end();
    if (OSSL_PROVIDER_get_params(prov, p)) {
        snprintf(info->name, sizeof(info->name), "%s", name != NULL ? name : "?");
        snprintf(info->version, sizeof(info->version), "%s", version != NULL ? version : "?");
        snprintf(info->buildinfo, sizeof(info->buildinfo), "%s",
                 buildinfo != NULL ? buildinfo : "?");
        info->active = OSSL_PARAM_modified(&p[3]) && status == 1;
    }
    ERR_clear_error();
end:
    OSSL_PROVIDER_unload(prov);
    NCONF_free(cnf);
    OSSL_LIB_CTX_free(ctx);
    env_restore(old_env, had);
    return ok;
}

/* The policy keys shown, in order, with the provider's defaults. */
static const struct {
    const char *key, *def;
} shown[] = {
    {"max_lifetime", "86400"},     {"min_key_bits", "128"},
    {"replay_window", "256"},      {"allowed_aeads", "any (not restricted)"},
    {"require_integrity", "no"},   {"integrity_status", "(none)"},
    {"device_key_file", "(none)"}, {"manifest_state", "(none)"},
    {"max_status_age", "3600"},
};
#define NSHOWN (sizeof(shown) / sizeof(shown[0]))

typedef struct {
    char *val[NSHOWN];
    const char *src[NSHOWN];
    char *policy_file; /* from the config section */
    int has_mac;
} POLICY_VIEW;

static void view_set(POLICY_VIEW *pv, const char *key, const char *val, const char *src)
{
    for (size_t i = 0; i < NSHOWN; i++)
        if (strcmp(shown[i].key, key) == 0) {
            free(pv->val[i]);
            pv->val[i] = strdup(val);
            pv->src[i] = src;
        }
}

/* Config section keys, then (later, by the caller) the policy file's [session]. */
static void view_from_conf(POLICY_VIEW *pv, const char *conf)
{
    CONF *cnf = NCONF_new(NULL);
    STACK_OF(CONF_VALUE) * sk;
    const char *sect;
    long line = -1;

    if (cnf == NULL || NCONF_load(cnf, conf, &line) <= 0 || (sect = m2msec_section(cnf)) == NULL)
        goto end;
    sk = NCONF_get_section(cnf, sect);
    for (int i = 0; sk != NULL && i < sk_CONF_VALUE_num(sk); i++) {
        const CONF_VALUE *cv = sk_CONF_VALUE_value(sk, i);

        if (strcmp(cv->name, "policy") == 0) {
            free(pv->policy_file);
            pv->policy_file = strdup(cv->value);
        } else if (strcmp(cv->name, "module-mac") == 0) {
            pv->has_mac = 1;
        } else {
            view_set(pv, cv->name, cv->value, "openssl.cnf");
        }
    }
end:
    ERR_clear_error();
    NCONF_free(cnf);
}

/* Session value @p k of @p sv as text. */
static void value_text(const M2M_SESSION_VALUES *sv, int k, char *out, size_t cap)
{
    size_t o = 0;

    out[0] = '\0';
    switch (k) {
    case M2M_SK_ALLOWED_AEADS:
        for (size_t i = 0; i < M2M_PF_NAEADS; i++)
            if (sv->aeads & (1u << i)) {
                int w = snprintf(out + o, cap - o, "%s%s", o > 0 ? ", " : "", m2m_aead_names[i]);

                if (w < 0 || (size_t)w >= cap - o)
                    return;
                o += (size_t)w;
            }
        return;
    case M2M_SK_REQUIRE_INTEGRITY:
        snprintf(out, cap, "%s", sv->require_integrity ? "yes" : "no");
        return;
    case M2M_SK_INTEGRITY_STATUS:
    case M2M_SK_DEVICE_KEY_FILE:
    case M2M_SK_MANIFEST_STATE:
        snprintf(out, cap, "%s", sv->path[k] != NULL ? sv->path[k] : "");
        return;
    default:
        snprintf(out, cap, "%llu", (unsigned long long)sv->num[k]);
        return;
    }
}

/* The policy file's [session], read by the provider's own (strict) reader. */
static int view_from_policy(POLICY_VIEW *pv, const char *path)
{
    M2M_POLICY_FILE pf;
    M2M_ERRMSG err;
    char text[4200];

    if (!m2m_policy_file_load(path, &pf, &err)) {
        tool_err("%s", err.text);
        return 0;
    }
    for (int k = 0; k < M2M_SK_COUNT; k++)
        if (pf.session.set & (1u << k)) {
            value_text(&pf.session, k, text, sizeof(text));
            view_set(pv, m2m_skey_names[k], text, "policy [session]");
        }
    m2m_policy_file_clear(&pf);
    return 1;
}

static const char *view_get(const POLICY_VIEW *pv, const char *key)
{
    for (size_t i = 0; i < NSHOWN; i++)
        if (strcmp(shown[i].key, key) == 0)
            return pv->val[i];
    return NULL;
}

static void time_text(uint64_t when, char *out, size_t cap)
{
    time_t t = (time_t)when;
    struct tm tm;

    if (gmtime_r(&t, &tm) == NULL || strftime(out, cap, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
        snprintf(out, cap, "%llu", (unsigned long long)when);
}

/*
 * The status record checked as the provider's gate checks it (integrity_gate.c).
 * 1 keys would be derived, 0 refused (message printed), -1 input error.
 */
static int check_status_record(const char *path, const char *keyfile, const char *max_age_text,
                               const char *state_path)
{
    unsigned char key[M2M_DEVICE_KEY_MAX];
    size_t keylen = 0;
    M2M_INTEGRITY_STATUS st = {0, 0, 0, 0};
    EVP_MAC *hmac = NULL;
    M2M_ERRMSG err;
    uint64_t max_age = M2M_PF_DEFAULT_MAX_STATUS_AGE, accepted = 0, now = tool_now();
    char when[64];
    int res = -1, r;

    if (max_age_text != NULL && !tool_parse_u64(max_age_text, 1, UINT64_MAX, &max_age)) {
        tool_err("max_status_age '%s' is not a number", max_age_text);
        return -1;
    }
    if (!tool_read_device_key(keyfile, key, &keylen))
        return -1;
    if ((hmac = EVP_MAC_fetch(NULL, "HMAC", NULL)) == NULL) {
        tool_print_errors();
        goto end;
    }
    r = m2m_status_read(hmac, key, keylen, path, &st, &err);
    if (r == 0 && err.sys_errno == ENOENT)
        printf("integrity status: %s: missing (%s)\n", tool_name(path), strerror(ENOENT));
    else if (r == 0)
        printf("integrity status: not accepted: %s\n", tool_name(err.text));
    else if (r < 0)
        printf("integrity status: %s: not accepted: %s\n", tool_name(path), err.text);
    if (r <= 0) {
        res = 0;
        goto end;
    }
    time_text(st.time, when, sizeof(when));
    if (st.verifying) {
        printf("integrity status: %s: VERIFYING since %s (a verification is running, was "
               "interrupted, or could not write its result; MAC verified): session keys "
               "refused\n",
               tool_name(path), when);
        res = 0;
        goto end;
    }
    printf("integrity status: %s: %s, manifest version %llu, written %s (MAC verified)\n",
           tool_name(path), st.passed ? "passed" : "FAILED",
           (unsigned long long)st.manifest_version, when);
    res = st.passed;
    if (!st.passed)
        goto end;
    if (st.time > now) {
        printf("integrity status: dated after the current time (the clock went back?): session "
               "keys refused\n");
        res = 0;
    } else if (now - st.time > max_age) {
        printf("integrity status: %llu s old, older than max_status_age %llu s: session keys "
               "refused until m2msec verify runs again\n",
               (unsigned long long)(now - st.time), (unsigned long long)max_age);
        res = 0;
    }
    if (state_path == NULL)
        goto end;
    if (!m2m_manifest_state_read(state_path, &accepted, &err)) {
        printf("manifest state: %s: session keys refused\n", tool_name(err.text));
        res = 0;
    } else if (st.manifest_version < accepted) {
        printf("manifest state: %s: version %llu accepted, newer than the record's %llu: "
               "session keys refused\n",
               tool_name(state_path), (unsigned long long)accepted,
               (unsigned long long)st.manifest_version);
        res = 0;
    } else {
        printf("manifest state: %s: version %llu\n", tool_name(state_path),
               (unsigned long long)accepted);
    }
end:
    EVP_MAC_free(hmac);
    OPENSSL_cleanse(key, sizeof(key));
    return res;
}

/* The command line of status. */
typedef struct {
    const char *conf, *policy, *status_file, *keyfile;
} STATUS_ARGS;

static int status_option(const char *cmd, void *ctx, int c, const char *arg)
{
    STATUS_ARGS *sa = ctx;

    switch (c) {
    case 'c':
        sa->conf = arg;
        return 0;
    case 'P':
        sa->policy = arg;
        return 0;
    case 'f':
        sa->status_file = arg;
        return 0;
    case 'k':
        sa->keyfile = arg;
        return 0;
    default:
        return tool_usage_error(cmd, "unknown option -%c", c);
    }
}

int cmd_status(int argc, char **argv)
{
    static const struct option opts[] = {
        {"conf", required_argument, NULL, 'c'},
        {"policy", required_argument, NULL, 'P'},
        {"status-file", required_argument, NULL, 'f'},
        {"device-key-file", required_argument, NULL, 'k'},
        TOOL_OPTS_END,
    };
    static const TOOL_CMD cmd = {"status", "h", opts, usage, 0, status_option};
    STATUS_ARGS sa = {0};
    const char *conf_src = "--conf", *policy_src = "--policy";
    char *def_conf = NULL;
    POLICY_VIEW pv = {0};
    TOOL_PROVIDER_INFO info;
    int fine = 1, st, rc = tool_parse_options(&cmd, argc, argv, &sa);

    if (rc != TOOL_PARSED)
        return rc;
    rc = EXIT_USAGE;
    if (sa.conf == NULL && (sa.conf = getenv("OPENSSL_CONF")) != NULL && *sa.conf != '\0') {
        conf_src = "OPENSSL_CONF";
    } else if (sa.conf == NULL || *sa.conf == '\0') {
        sa.conf = def_conf = CONF_get1_default_config_file();
        conf_src = "OpenSSL's default";
        if (sa.conf == NULL) {
            tool_err("no OpenSSL configuration file");
            goto end;
        }
    }

    printf("configuration: %s (%s)\n", tool_name(sa.conf), conf_src);
    if (!tool_provider_probe(sa.conf, &info))
        goto end;
    if (!info.loaded) {
        printf("provider: m2msec does not load (the reason is on stderr)\n");
        fine = 0;
    } else {
        printf("provider: %s, version %s, status %s%s\n", tool_name(info.name),
               tool_name(info.version), info.active ? "active" : "inactive",
               info.from_config ? ""
                                : " (loaded on request: the configuration does not "
                                  "activate it)");
        if (!info.active) {
            printf("provider: module integrity check failed: m2msec.so does not match the "
                   "module-mac of its configuration; every operation is refused\n");
            fine = 0;
        }
    }

    view_from_conf(&pv, sa.conf);
    printf("module self-check: %s\n",
           pv.has_mac ? (info.loaded && info.active ? "module-mac set, passed" : "module-mac set")
                      : "off (no module-mac; run m2msec provider-install)");
    if (sa.policy == NULL && pv.policy_file != NULL) {
        sa.policy = pv.policy_file;
        policy_src = "openssl.cnf";
    }
    if (sa.policy != NULL && !view_from_policy(&pv, sa.policy))
        goto end;
    if (sa.policy != NULL)
        printf("policy: %s (%s)\n", tool_name(sa.policy), policy_src);
    else
        printf("policy: no policy file; the provider's config section and defaults\n");
    for (size_t i = 0; i < NSHOWN; i++)
        printf("  %-18s %s (%s)\n", shown[i].key,
               tool_name(pv.val[i] != NULL ? pv.val[i] : shown[i].def),
               pv.val[i] != NULL ? pv.src[i] : "default");

    if (sa.status_file == NULL)
        sa.status_file = view_get(&pv, "integrity_status");
    if (sa.keyfile == NULL)
        sa.keyfile = view_get(&pv, "device_key_file");
    if (sa.status_file == NULL) {
        printf("integrity status: not configured\n");
    } else if (sa.keyfile == NULL) {
        tool_usage_error(cmd.name, "the status record %s needs --device-key-file",
                         tool_name(sa.status_file));
        goto end;
    } else {
        st = check_status_record(sa.status_file, sa.keyfile, view_get(&pv, "max_status_age"),
                                 view_get(&pv, "manifest_state"));
        if (st < 0)
            goto end;
        if (st == 0)
            fine = 0;
    }
    rc = fine ? EXIT_OK : EXIT_INTEGRITY;
end:
    for (size_t i = 0; i < NSHOWN; i++)
        free(pv.val[i]);
    free(pv.policy_file);
    OPENSSL_free(def_conf);
    return rc;
}
