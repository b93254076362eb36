/* SPDX-License-Identifier: Apache-2.0 */
/* The integrity gate's rule, once: common/integrity_rule.h. */
#include <errno.h>

#include "integrity_rule.h"
#include "manifest_state.h"
#include "status_record.h"

int m2m_integrity_rule(EVP_MAC *hmac, const unsigned char *key, size_t keylen,
                       const char *status_path, const char *state_path, uint64_t max_status_age,
                       uint64_t now, M2M_ERRMSG *err)
{
    M2M_INTEGRITY_STATUS st;
    M2M_ERRMSG e;
    uint64_t accepted = 0;
    int r;

    r = m2m_status_read(hmac, key, keylen, status_path, &st, &e);
    if (r == 0 && e.sys_errno == ENOENT) {
        m2m_errmsg_set(err, "no device integrity status at %s; run m2msec verify", status_path);
        return 0;
    }
    if (r == 0) {
        m2m_errmsg_set(err, "%s", e.text);
        return 0;
    }
    if (r < 0) {
        m2m_errmsg_set(err, "%s: %s", status_path, e.text);
        return 0;
    }
    if (st.verifying) {
        m2m_errmsg_set(err,
                       "a verification started at %llu has not finished (in progress, "
                       "interrupted, or its result could not be written); run m2msec verify",
                       (unsigned long long)st.time);
        return 0;
    }
    if (!st.passed) {
        m2m_errmsg_set(err,
                       "the device failed integrity verification (manifest version %llu); "
                       "remediate and verify again",
                       (unsigned long long)st.manifest_version);
        return 0;
    }
    if (st.time > now) {
        m2m_errmsg_set(err,
                       "the status record is dated %llu, after the current time %llu (the clock "
                       "went back?); run m2msec verify",
                       (unsigned long long)st.time, (unsigned long long)now);
        return 0;
    }
    if (now - st.time > max_status_age) {
        m2m_errmsg_set(err,
                       "the last verification passed %llu s ago, longer than the policy's "
                       "max_status_age of %llu s; run m2msec verify",
                       (unsigned long long)(now - st.time), (unsigned long long)max_status_age);
        return 0;
    }
    if (!m2m_manifest_state_read(state_path, &accepted, &e)) {
        if (e.sys_errno == ENOENT)
            m2m_errmsg_set(err,
                           "no manifest state at %s (m2msec verify --state %s keeps the newest "
                           "accepted manifest version)",
                           state_path, state_path);
        else
            m2m_errmsg_set(err, "%s", e.text);
        return 0;
    }
    if (st.manifest_version < accepted) {
        m2m_errmsg_set(err,
                       "the status record is for manifest version %llu, but version %llu has "
                       "been accepted on this device; run m2msec verify",
                       (unsigned long long)st.manifest_version, (unsigned long long)accepted);
        return 0;
    }
    return 1;
}
