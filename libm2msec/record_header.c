/* SPDX-License-Identifier: Apache-2.0 */
/* libm2msec: encoding and decoding of the record header. */
#include "record_header.h"

void m2msec_header_write(unsigned char h[11], uint64_t epoch, uint64_t seq)
{
    h[0] = M2MSEC_RECORD_VERSION;
    h[1] = (unsigned char)(epoch >> 24);
    h[2] = (unsigned char)(epoch >> 16);
    h[3] = (unsigned char)(epoch >> 8);
    h[4] = (unsigned char)epoch;
    h[5] = (unsigned char)(seq >> 40);
    h[6] = (unsigned char)(seq >> 32);
    h[7] = (unsigned char)(seq >> 24);
    h[8] = (unsigned char)(seq >> 16);
    h[9] = (unsigned char)(seq >> 8);
    h[10] = (unsigned char)seq;
}

int m2msec_header_read(const unsigned char h[11], uint64_t *epoch, uint64_t *seq)
{
    if (h[0] != M2MSEC_RECORD_VERSION)
        return 0;
    *epoch = (uint64_t)h[1] << 24 | (uint64_t)h[2] << 16 | (uint64_t)h[3] << 8 | h[4];
    *seq = (uint64_t)h[5] << 40 | (uint64_t)h[6] << 32 | (uint64_t)h[7] << 24 |
           (uint64_t)h[8] << 16 | (uint64_t)h[9] << 8 | h[10];
    return 1;
}
