/* SPDX-License-Identifier: Apache-2.0 */
/*
 * m2msec provider: the integrity gate. With the policy's require_integrity,
 * M2M-SESSION-KDF derives session keys only while the device's last
 * verification result (the status record the verifier writes,
 * authenticated with HMAC-SHA-256 under the device key; docs/PROTOCOL.md
 * section 8) says passed, is at most max_status_age seconds old, and is for
 * a manifest at least as new as the newest one accepted on the device (the
 * manifest rollback state that m2msec verify --state keeps). A verifier
 * writes "verifying" before it starts, so a verification in progress, one
 * that was killed, or one whose final record could not be written never
 * leaves an old "passed" behind.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <openssl/crypto.h>

#include "cfile.h"
#include "errors.h"
#include "integrity_gate.h"
#include "status_record.h"
#include "manifest_state.h"

int m2m_integrity_gate(const M2M_PROVCTX *pc)
{
    const M2M_POLICY *pol = &pc->policy;
    M2M_INTEGRITY_STATUS st;
    M2M_ERRMSG err;
    uint64_t accepted = 0, now;
    time_t t;
    int r;

    if (!pol->require_integrity)
        return 1;
    r = m2m_status_read(pc->hmac, pol->device_key, pol->device_key_len, pol->status_path, &st,
                        &err);
    if (r == 0 && err.sys_errno == ENOENT) {
        M2M_RAISE(M2MSEC_R_INTEGRITY_FAILED,
                  "session keys refused: no device integrity status at %s; run m2msec verify",
                  pol->status_path);
        return 0;
    }
    if (r == 0) {
        M2M_RAISE(M2MSEC_R_INTEGRITY_FAILED, "session keys refused: %s", err.text);
        return 0;
    }
    if (r < 0) {
        M2M_RAISE(M2MSEC_R_INTEGRITY_FAILED, "session keys refused: %s: %s", pol->status_path,
                  err.text);
        return 0;
    }
    if (st.verifying) {
        M2M_RAISE(M2MSEC_R_INTEGRITY_FAILED,
                  "session keys refused: a verification started at %llu has not finished (in "
                  "progress, interrupted, or its result could not be written); run m2msec "
                  "verify",
                  (unsigned long long)st.time);
        return 0;
    }
    if (!st.passed) {
        M2M_RAISE(M2MSEC_R_INTEGRITY_FAILED,
                  "session keys refused: the device failed integrity verification (manifest "
                  "version %llu); remediate and verify again",
                  (unsigned long long)st.manifest_version);
        return 0;
    }
    t = time(NULL);
    now = t < 0 ? 0 : (uint64_t)t;
    if (st.time > now) {
        M2M_RAISE(M2MSEC_R_INTEGRITY_FAILED,
                  "session keys refused: the status record is dated %llu, after the current "
                  "time %llu (the clock went back?); run m2msec verify",
                  (unsigned long long)st.time, (unsigned long long)now);
        return 0;
    }
    if (now - st.time > pol->max_status_age) {
        M2M_RAISE(M2MSEC_R_INTEGRITY_FAILED,
                  "session keys refused: the last verification passed %llu s ago, longer than "
                  "the policy's max_status_age of %llu s; run m2msec verify",
                  (unsigned long long)(now - st.time), (unsigned long long)pol->max_status_age);
        return 0;
    }
    if (!m2m_manifest_state_read(pol->state_path, &accepted, &err)) {
        if (err.sys_errno == ENOENT)
            M2M_RAISE(M2MSEC_R_INTEGRITY_FAILED,
                      "session keys refused: no manifest state at %s (m2msec verify --state %s "
                      "keeps the newest accepted manifest version)",
                      pol->state_path, pol->state_path);
        else
            M2M_RAISE(M2MSEC_R_INTEGRITY_FAILED, "session keys refused: %s", err.text);
        return 0;
    }
    if (st.manifest_version < accepted) {
        M2M_RAISE(M2MSEC_R_INTEGRITY_FAILED,
                  "session keys refused: the status record is for manifest version %llu, but "
                  "version %llu has been accepted on this device; run m2msec verify",
                  (unsigned long long)st.manifest_version, (unsigned long long)accepted);
        return 0;
    }
    return 1;
}
