/*
 * m2msec status: does the provider load (and pass its module self-check),
 * which policy is in force, and what does the device integrity status
 * record say (authenticated with provider/integrity_status.c, the code the
 * provider itself uses).
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

#include "integrity_status.h"
#include "tool.h"

static void usage(FILE *out)
{
    fputs("usage: m2msec status [--conf OPENSSL_CONF] [--policy FILE]\n"
          "                     [--status-file F --device-key-file K]\n"
          "\n"
          "Show whether the m2msec provider loads from the OpenSSL configuration and\n"
          "passes its module self-check (status active or inactive), the policy in force\n"
          "(the provider's config section, then the [session] section of its policy file),\n"
          "and the device integrity status record, authenticated with the device key.\n"
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
          "configured) is authentic and says passed; 1 the provider does not load or is\n"
          "inactive, or the status record is missing, forged or says failed; 2 usage or\n"
          "input error (unreadable configuration, policy or device key file).\n",
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

/*
 * The configuration activates m2msec but it is not there: OpenSSL 3.0 says
 * nothing about why. Load the module by itself (no config values) in a
 * fresh context to tell a module that does not load from a refused value.
 */
static void explain_failed_activation(CONF *cnf, const char *sect)
{
    OSSL_LIB_CTX *ctx = OSSL_LIB_CTX_new();
    OSSL_PROVIDER *prov;
    const char *module;

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

int tool_provider_probe(const char *conf, TOOL_PROVIDER_INFO *info)
{
    OSSL_LIB_CTX *ctx = OSSL_LIB_CTX_new();
    OSSL_PROVIDER *prov = NULL;
    CONF *cnf = NULL;
    char *name = NULL, *version = NULL, *buildinfo = NULL;
    const char *sect, *activate = NULL;
    int status = 0, ok = 0;
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
        if (activate != NULL) {
            explain_failed_activation(cnf, sect);
            goto end;
        }
    }
    /* activated: one more reference; else loaded here (its section, if any, applies) */
    prov = OSSL_PROVIDER_load(ctx, "m2msec");
    if (prov == NULL) {
        tool_print_errors();
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
    return ok;
}

/* The policy keys shown, in order, with the provider's defaults. */
static const struct {
    const char *key, *def;
} shown[] = {
    {"max_lifetime", "86400"},     {"min_key_bits", "128"},
    {"replay_window", "256"},      {"allowed_aeads", "any (not restricted)"},
    {"require_integrity", "no"},   {"integrity_status", "(none)"},
    {"device_key_file", "(none)"},
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

static int view_from_policy(POLICY_VIEW *pv, const char *path)
{
    CONF *cnf = tool_conf_load("policy", path);
    STACK_OF(CONF_VALUE) * sk;

    if (cnf == NULL)
        return 0;
    ERR_set_mark();
    sk = NCONF_get_section(cnf, "session");
    ERR_pop_to_mark();
    for (int i = 0; sk != NULL && i < sk_CONF_VALUE_num(sk); i++) {
        const CONF_VALUE *cv = sk_CONF_VALUE_value(sk, i);

        view_set(pv, cv->name, cv->value, "policy [session]");
    }
    ERR_clear_error();
    NCONF_free(cnf);
    return 1;
}

static const char *view_get(const POLICY_VIEW *pv, const char *key)
{
    for (size_t i = 0; i < NSHOWN; i++)
        if (strcmp(shown[i].key, key) == 0)
            return pv->val[i];
    return NULL;
}

/* 1 passed, 0 failed/missing/forged (message printed), -1 input error. */
static int check_status_record(const char *path, const char *keyfile)
{
    unsigned char key[TOOL_DEVICE_KEY_MAX];
    char buf[M2M_STATUS_MAX];
    size_t keylen = 0, len = 0;
    M2M_INTEGRITY_STATUS st = {0};
    EVP_MAC *hmac = NULL;
    const char *why;
    char when[64];
    struct tm tm;
    time_t t;
    int fd, res = -1;
    ssize_t n;

    if (!tool_read_device_key(keyfile, key, &keylen))
        return -1;
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        printf("integrity status: %s: missing (%s)\n", tool_name(path), strerror(errno));
        res = 0;
        goto end;
    }
    while (len < sizeof(buf)) {
        n = read(fd, buf + len, sizeof(buf) - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    if ((hmac = EVP_MAC_fetch(NULL, "HMAC", NULL)) == NULL) {
        tool_print_errors();
        goto end;
    }
    why = m2m_status_verify(hmac, key, keylen, buf, len, &st);
    if (why != NULL) {
        printf("integrity status: %s: not accepted: %s\n", tool_name(path), why);
        res = 0;
        goto end;
    }
    t = (time_t)st.time;
    if (gmtime_r(&t, &tm) == NULL ||
        strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
        snprintf(when, sizeof(when), "%llu", (unsigned long long)st.time);
    printf("integrity status: %s: %s, manifest version %llu, written %s (MAC verified)\n",
           tool_name(path), st.passed ? "passed" : "FAILED",
           (unsigned long long)st.manifest_version, when);
    res = st.passed;
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
        st = check_status_record(sa.status_file, sa.keyfile);
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
