/* SPDX-License-Identifier: Apache-2.0 */
/* m2msec provider: integrity gate for session-key derivation (see integrity_gate.c). */
#ifndef M2M_INTEGRITY_GATE_H
#define M2M_INTEGRITY_GATE_H

#include "prov.h"

/* 1 if keys may be derived; 0 with M2MSEC_R_INTEGRITY_FAILED raised otherwise. */
int m2m_integrity_gate(const M2M_PROVCTX *pc);

#endif
