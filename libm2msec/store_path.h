/* SPDX-License-Identifier: Apache-2.0 */
/* libm2msec internal: the check of where a session state store may live (store_path.c). */
#ifndef M2MSEC_STORE_PATH_H
#define M2MSEC_STORE_PATH_H

/*
 * 1 if @p path is absolute and its directory and every directory above it
 * are owned by this user or root and writable by nobody else (a sticky
 * directory above the state's own is accepted); else 0 with an error queued
 * that names @p what ("state file", "LMDB state store"), the path and what
 * to change.
 */
int m2m_store_path_check(const char *path, const char *what);

#endif
