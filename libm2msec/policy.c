/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libm2msec: the integrity part of the device policy file (docs/POLICY.md,
 * "Integrity rules"), read by the one strict reader of the whole file
 * (common/policy_file.c), the reader the provider uses for [session]:
 *
 *   [integrity]
 *   default_action = deny | quarantine | alert | remediate   (default deny)
 *   quarantine_dir = /absolute/dir      (needed by quarantine and remediate)
 *   log = /absolute/file                (append-only action log; default stderr)
 *   repository = /absolute/dir | http://host/base | https://host/base
 *
 *   [rules]
 *   bin/<star> = deny                   (pattern = action, first match wins)
 *
 * Patterns are fnmatch(3) globs matched against the path relative to the
 * root with flags 0: FNM_PATHNAME is off, so '*' and '?' also match '/'
 * ("bin/" followed by a star covers bin/sub/x too), and FNM_PERIOD is off
 * (a leading '.' is matched by '*'). A pattern holds letters, digits and
 * ! % & * + , - . / ; ? @ ^ ~ | _ (and backslash): use '?' for any other
 * character. Rules keep the order of the file.
 *
 * The whole file is checked, [session] included, so that libm2msec and the
 * provider accept and refuse the same files.
 */
#include <fnmatch.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/err.h>

#include "m2msec/integrity.h"
#include "policy_file.h"
#include "policy_internal.h"

_Static_assert((int)M2M_PF_DENY == (int)M2MSEC_ACTION_DENY &&
                   (int)M2M_PF_QUARANTINE == (int)M2MSEC_ACTION_QUARANTINE &&
                   (int)M2M_PF_ALERT == (int)M2MSEC_ACTION_ALERT &&
                   (int)M2M_PF_REMEDIATE == (int)M2MSEC_ACTION_REMEDIATE,
               "common/policy_file.h actions differ from m2msec_action");

struct m2msec_policy {
    char *path;
    M2M_POLICY_FILE pf;
};

m2msec_policy *m2msec_policy_load(const char *path)
{
    m2msec_policy *p;
    M2M_ERRMSG err;

    if (path == NULL) {
        ERR_raise_data(ERR_LIB_USER, ERR_R_PASSED_NULL_PARAMETER, "m2msec: no policy file given");
        return NULL;
    }
    p = OPENSSL_zalloc(sizeof(*p));
    if (p == NULL || (p->path = OPENSSL_strdup(path)) == NULL) {
        OPENSSL_free(p);
        ERR_raise_data(ERR_LIB_USER, ERR_R_MALLOC_FAILURE, "m2msec: out of memory");
        return NULL;
    }
    if (!m2m_policy_file_load(path, &p->pf, &err)) {
        if (err.sys_errno != 0)
            ERR_raise_data(ERR_LIB_SYS, err.sys_errno, "m2msec: %s", err.text);
        else
            ERR_raise_data(ERR_LIB_USER, ERR_R_PASSED_INVALID_ARGUMENT, "m2msec: %s", err.text);
        m2msec_policy_free(p);
        return NULL;
    }
    return p;
}

void m2msec_policy_free(m2msec_policy *p)
{
    if (p == NULL)
        return;
    m2m_policy_file_clear(&p->pf);
    OPENSSL_free(p->path);
    OPENSSL_free(p);
}

m2msec_action m2msec_policy_action(const m2msec_policy *p, const char *path)
{
    if (p == NULL || path == NULL)
        return M2MSEC_ACTION_DENY;
    for (size_t i = 0; i < p->pf.nrules; i++)
        if (fnmatch(p->pf.rules[i].pattern, path, 0) == 0)
            return (m2msec_action)p->pf.rules[i].action;
    return (m2msec_action)p->pf.default_action;
}

const char *m2m_policy_quarantine_dir(const m2msec_policy *p)
{
    return p->pf.quarantine_dir;
}

uint64_t m2m_policy_quarantine_copy_max(const m2msec_policy *p)
{
    return p->pf.quarantine_copy_max;
}

const char *m2m_policy_log(const m2msec_policy *p)
{
    return p->pf.log;
}

const char *m2m_policy_repository(const m2msec_policy *p)
{
    return p->pf.repository;
}

const char *m2m_policy_path(const m2msec_policy *p)
{
    return p->path;
}
