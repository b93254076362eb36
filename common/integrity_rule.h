/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The integrity gate's rule, once (docs/POLICY.md 4.6): the device may have
 * session keys (provider/integrity_gate.c) or open a security association
 * (libm2msec/association_limits.c) only if its status record (docs/PROTOCOL.md
 * section 8) authenticates under the device key, says "passed" (not "failed",
 * not "verifying"), is not dated in the future, is at most max_status_age
 * seconds old, and is for a manifest at least as new as the one the manifest
 * state says was accepted. Each caller raises the refusal its own way.
 */
#ifndef M2M_COMMON_INTEGRITY_RULE_H
#define M2M_COMMON_INTEGRITY_RULE_H

#include <stddef.h>
#include <stdint.h>
#include <openssl/evp.h>

#include "cfile.h"

/*
 * 1 when the device passes; 0 with err->text saying why not, ending with
 * what to do ("...; run m2msec verify"), without a prefix. hmac: a fetched
 * HMAC; now: the current time in seconds since 1970.
 */
int m2m_integrity_rule(EVP_MAC *hmac, const unsigned char *key, size_t keylen,
                       const char *status_path, const char *state_path, uint64_t max_status_age,
                       uint64_t now, M2M_ERRMSG *err);

#endif
