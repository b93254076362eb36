/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libm2msec internal: what actions.c needs from a loaded policy
 * (libm2msec/policy.c). Not exported (m2m_ prefix), not installed.
 */
#ifndef M2MSEC_LIBM2MSEC_POLICY_INTERNAL_H
#define M2MSEC_LIBM2MSEC_POLICY_INTERNAL_H

#include <stdint.h>

#include "m2msec/integrity.h"

/* [integrity] quarantine_dir, or NULL when not set. */
const char *m2m_policy_quarantine_dir(const m2msec_policy *p);
/* [integrity] log, or NULL: actions are logged to stderr. */
const char *m2m_policy_log(const m2msec_policy *p);
/* [integrity] repository (absolute directory or http(s) base URL), or NULL. */
const char *m2m_policy_repository(const m2msec_policy *p);
/* Default of [integrity] quarantine_copy_max (bytes): 64 MiB. */
#define M2M_QUARANTINE_COPY_MAX_DEFAULT (64ull * 1024 * 1024)
/*
 * [integrity] quarantine_copy_max: the most bytes of data (holes not
 * counted) that quarantine copies when the quarantine directory is on
 * another filesystem; 0 never copies.
 */
uint64_t m2m_policy_quarantine_copy_max(const m2msec_policy *p);
/* The policy file's path, for messages. */
const char *m2m_policy_path(const m2msec_policy *p);

#endif
