/* libm2msec: encoding and decoding of the record header. */
#include "record_header.h"

void m2msec_header_write(unsigned char h[11], uint64_t epoch, uint64_t seq)
{
    h[0] = M2MSEC_RECORD_VERSION;
    for (int i = 0; i < 4; i++)
        h[1 + i] = (unsigned char)(epoch >> (8 * (3 - i)));
    for (int i = 0; i < 6; i++)
        h[5 + i] = (unsigned char)(seq >> (8 * (5 - i)));
}

int m2msec_header_read(const unsigned char h[11], uint64_t *epoch, uint64_t *seq)
{
    uint64_t e = 0, s = 0;

    if (h[0] != M2MSEC_RECORD_VERSION)
        return 0;
    for (int i = 0; i < 4; i++)
        e = (e << 8) | h[1 + i];
    for (int i = 0; i < 6; i++)
        s = (s << 8) | h[5 + i];
    *epoch = e;
    *seq = s;
    return 1;
}
