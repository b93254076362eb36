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
#include "integrity_rule.h"

int m2m_integrity_gate(const M2M_PROVCTX *pc)
{
    const M2M_POLICY *pol = &pc->policy;
    M2M_ERRMSG err;
    time_t t;

    if (!pol->require_integrity)
        return 1;
    t = time(NULL);
    if (m2m_integrity_rule(pc->hmac, pol->device_key, pol->device_key_len, pol->status_path,
                           pol->state_path, pol->max_status_age, t < 0 ? 0 : (uint64_t)t, &err))
        return 1;
    M2M_RAISE(M2MSEC_R_INTEGRITY_FAILED, "session keys refused: %s", err.text);
    return 0;
}
