/* SPDX-License-Identifier: Apache-2.0 */
/* libm2msec: the 11-byte record header (docs/PROTOCOL.md section 6.1). */
#ifndef M2MSEC_RECORD_HEADER_H
#define M2MSEC_RECORD_HEADER_H

#include <stddef.h>
#include <stdint.h>

#define M2MSEC_RECORD_VERSION 1
#define M2MSEC_MAX_EPOCH 0xFFFFFFFFull
#define M2MSEC_MAX_SEQ 0xFFFFFFFFFFFFull

/* version (1) | epoch (u32be) | seq (u48be). epoch and seq must fit. */
void m2msec_header_write(unsigned char h[11], uint64_t epoch, uint64_t seq);
/* 1 if h holds a version-1 header; fills epoch and seq. */
int m2msec_header_read(const unsigned char h[11], uint64_t *epoch, uint64_t *seq);

#endif
