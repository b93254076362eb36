/* SPDX-License-Identifier: Apache-2.0 */
/*
 * common: the manifest rollback state file that `m2msec verify --state`
 * keeps (docs/PROTOCOL.md section 7.3): the newest manifest version
 * accepted on the device. The provider's integrity gate reads it to refuse
 * a status record for an older manifest (docs/PROTOCOL.md section 8).
 *
 *   m2msec-manifest-state 1\n
 *   version <canonical decimal>\n
 */
#ifndef M2M_COMMON_MANIFEST_STATE_H
#define M2M_COMMON_MANIFEST_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "cfile.h"

/* Largest state file read (bytes). */
#define M2M_MANIFEST_STATE_MAX 128

/* Exactly the canonical form: 1 with *version set, else 0. */
int m2m_manifest_state_parse(const char *buf, size_t len, uint64_t *version);

/*
 * Read and parse the state file @p path (m2m_cf_read_into: no symlink in any
 * component, a regular file). 1 with *version; 0 with err ("manifest state
 * PATH: ..."; err->sys_errno is ENOENT when the file does not exist).
 */
int m2m_manifest_state_read(const char *path, uint64_t *version, M2M_ERRMSG *err);

#endif
