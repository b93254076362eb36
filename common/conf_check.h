/* SPDX-License-Identifier: Apache-2.0 */
/*
 * common: the strict check of the m2msec provider's own openssl.cnf section
 * (docs/POLICY.md section 1.4).
 *
 * OpenSSL 3's core hands a provider the keys of its configuration section
 * only one by one, by name (core_get_params answers the keys it is asked
 * for; crypto/provider_core.c), so a provider cannot list them and a
 * misspelt key would go unseen. The provider therefore reads the
 * configuration file that libcrypto reads by default, the way libcrypto
 * finds it (CONF_get1_default_config_file(): $OPENSSL_CONF, else
 * OPENSSLDIR/openssl.cnf), finds its section through the chain
 * default section -> init section -> "providers" -> entry with its name (or
 * "identity"), makes sure it is the section OpenSSL passed (every key
 * m2msec knows has the same value in both), and checks that section
 * strictly: no unknown key, no key twice, no value that names another
 * section (OpenSSL would pass its keys as KEY.* instead), no variable
 * reference ($...) in an m2msec key, an absolute policy path.
 *
 * When the core passed m2msec any key but no section of that file agrees
 * with it (the application loaded another file, e.g. with
 * OSSL_LIB_CTX_load_config()), the section cannot be checked and the
 * provider refuses to load: set OPENSSL_CONF to that file. When the core
 * passed no key at all and the file has no section for it, there is
 * nothing to check (the provider runs with its defaults).
 */
#ifndef M2M_COMMON_CONF_CHECK_H
#define M2M_COMMON_CONF_CHECK_H

#include <stddef.h>

#include "cfile.h"
#include "policy_file.h"

/* The keys of m2msec's section. 0 .. M2M_SK_COUNT-1: the session keys, in M2M_SKEY order. */
enum {
    M2M_CK_POLICY = M2M_SK_COUNT, /* the device policy file */
    M2M_CK_MODULE_MAC,            /* the module self-check (m2msec provider-install) */
    M2M_CK_MODULE,                /* OpenSSL's own keys of a provider section */
    M2M_CK_ACTIVATE,
    M2M_CK_IDENTITY,
    M2M_CK_SOFT_LOAD,
    M2M_CK_COUNT
};

/* Their names, indexed as above. */
extern const char *const m2m_cnf_keys[M2M_CK_COUNT];

/* Where the section was found. */
typedef struct m2m_cnf_source {
    char file[4096];         /* the configuration file, "" when none was checked */
    char section[256];       /* the section's name */
    long line[M2M_CK_COUNT]; /* line of each key in that file (0: not in its own text) */
} M2M_CNF_SOURCE;

/*
 * The provider's check, at load. @p provname is the provider's name (the
 * core's "provider-name"), @p core[i] the value the core gave for
 * m2m_cnf_keys[i] or NULL. Returns 1 (src->file is "" when there was
 * nothing to check), or 0 with err saying what is wrong and where
 * ("config file F line N: unknown key 'max_lifetme' in [m2msec_sect] ...").
 * The values themselves are checked by the caller (m2m_session_set).
 */
int m2m_cnf_check(const char *provname, const char *const core[M2M_CK_COUNT], M2M_CNF_SOURCE *src,
                  M2M_ERRMSG *err);

/*
 * The same checks, and the session values too, for every section of the
 * configuration file @p file that configures provider @p provname (for
 * `m2msec status`, which shows why the provider refused to load). Returns 1
 * if every such section is fine (src names the last one; src->file is ""
 * if there is none), 0 with err otherwise.
 */
int m2m_cnf_check_file(const char *file, const char *provname, M2M_CNF_SOURCE *src,
                       M2M_ERRMSG *err);

/* "config file F line N, section [S]" for key @p key, for messages. */
void m2m_cnf_where(const M2M_CNF_SOURCE *src, int key, char *out, size_t cap);

#endif
