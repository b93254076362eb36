/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libm2msec internal: building and annotating verification reports.
 *
 * For libm2msec's own files (verify.c builds reports; actions.c records
 * the actions it carried out) and the tests. Not an installed header. The
 * functions carry the m2msec_ prefix, so the version script exports them,
 * but they are not part of the API and may change.
 */
#ifndef M2MSEC_LIBM2MSEC_REPORT_INTERNAL_H
#define M2MSEC_LIBM2MSEC_REPORT_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "m2msec/integrity.h"
#include "safe_open.h"

/* An empty report; @p root is copied (may be NULL). */
m2msec_report *m2msec_report_new(const char *root, uint64_t manifest_version);

/*
 * Append a result: @p path and @p detail (may be NULL) are copied, action
 * NONE, action_ok 0, action_detail NULL, nothing known about what was
 * seen at the path (so an action refuses to touch it). Returns 1, or 0
 * out of memory. @p detail is a human-readable text: any name in it must
 * be escaped already (escape.h).
 */
int m2msec_report_add(m2msec_report *r, const char *path, m2msec_file_status status,
                      const char *detail);

/*
 * m2msec_report_add() that also records what verification saw at @p path:
 * the identity of the entry (not followed, safe_open.h), or NULL when
 * nothing was there or it could not be looked at (an action then refuses
 * to touch what it finds).
 */
int m2msec_report_add_seen(m2msec_report *r, const char *path, m2msec_file_status status,
                           const char *detail, const m2m_ident *seen);

/* What verification saw at the path of result @p i (NULL if out of range). */
const m2m_ident *m2msec_report_seen(const m2msec_report *r, size_t i);

/*
 * Sort the results by path (bytewise), then status, so that a report is
 * reproducible. A report that is in order already is only checked (one
 * pass).
 */
void m2msec_report_sort(m2msec_report *r);

/* The order of m2msec_report_sort(): <0, 0 or >0 as (path_a, st_a) sorts before (path_b, st_b). */
int m2msec_report_cmp(const char *path_a, m2msec_file_status st_a, const char *path_b,
                      m2msec_file_status st_b);

/* Room for @p n results in all, so that adding up to that many does not reallocate. 1, or 0 with an
 * error queued. */
int m2msec_report_reserve(m2msec_report *r, size_t n);

/*
 * Writable access to result @p i (NULL if out of range), for the code that
 * carries out the policy: it sets `action` and `action_ok` directly. The
 * strings (path, detail, action_detail) belong to the report: change
 * action_detail only with m2msec_report_set_action_detail().
 */
m2msec_file_result *m2msec_report_at_mut(m2msec_report *r, size_t i);

/* Replace the action_detail of result @p i by a copy of @p detail (NULL clears). 1 or 0. */
int m2msec_report_set_action_detail(m2msec_report *r, size_t i, const char *detail);

const char *m2msec_report_root(const m2msec_report *r);
uint64_t m2msec_report_manifest_version(const m2msec_report *r);

/*
 * Tests only. When set, m2msec_tree_verify() (and m2msec_manifest_from_tree)
 * call @p hook for every listed regular file after the first fstat() of the
 * opened descriptor @p fd and before hashing it. The hook may change the
 * file (to test CHANGED) or return an errno value, which is then treated
 * as if reading the file had failed with it (to test UNREADABLE, e.g. EIO);
 * 0 goes on normally. It runs in the worker threads. NULL removes it. Not
 * thread-safe with respect to a verification in progress.
 */
typedef int (*m2msec_verify_test_hook)(void *arg, const char *path, int fd);
void m2msec_verify_set_test_hook(m2msec_verify_test_hook hook, void *arg);

#endif
