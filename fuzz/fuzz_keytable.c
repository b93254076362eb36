/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_keytable: the association key table parser
 * (libm2msec/association_keytable.c, docs/PROTOCOL.md 10.3) through
 * m2msec_association_keytable_parse.
 *
 * Input: the table text, as it would be read from the file.
 *
 * Checks, besides the sanitizers:
 *   - a refusal leaves an error whose reason is M2MSEC_R_ASSOC_KEYTABLE;
 *   - an accepted table is what an independent line scan written here from
 *     PROTOCOL.md 10.3 accepts: first line "m2msec-keytable 1", every line
 *     ends with LF, no control characters, each entry exactly three fields
 *     separated by single spaces, an identity of 1..128 printable
 *     characters, 32..128 lowercase hex digits (even), a decimal not-after
 *     without leading zero, at most 2^63 - 1, and no identity twice;
 *   - the count equals the number of entries of the scan, and every entry
 *     is found by m2msec_association_keytable_find with exactly its key
 *     and not-after;
 *   - the scan accepting a table implies the parser accepts it too.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/err.h>

#include "fuzz_common.h"
#include "m2msec/association.h"
#include "m2msec/errors.h"

#define MAX_ENTRIES 64

typedef struct {
    char id[M2MSEC_ASSOC_IDENTITY_MAX + 1];
    unsigned char key[M2MSEC_ASSOC_PSK_MAX];
    size_t key_len;
    uint64_t not_after;
} entry;

static int hexv(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* The independent scan: 1 and the entries (up to MAX_ENTRIES; -1 if more) if valid. */
static int scan(const char *t, size_t n, entry *e, int *ne)
{
    static const char magic[] = "m2msec-keytable 1";
    size_t p = 0;
    int line = 0;

    *ne = 0;
    if (n == 0 || t[n - 1] != '\n')
        return 0;
    while (p < n) {
        size_t q = p, f[3], fl[3], nf = 0;

        while (t[q] != '\n')
            q++;
        for (size_t i = p; i < q; i++)
            if ((unsigned char)t[i] < 0x20 || t[i] == 0x7f)
                return 0;
        line++;
        if (line == 1) {
            if (q - p != sizeof(magic) - 1 || memcmp(t + p, magic, q - p) != 0)
                return 0;
        } else if (q > p && t[p] != '#') {
            size_t s = p;

            for (size_t i = p; i <= q; i++)
                if (i == q || t[i] == ' ') {
                    if (nf == 3)
                        return 0;
                    f[nf] = s;
                    fl[nf++] = i - s;
                    s = i + 1;
                }
            if (nf != 3 || fl[0] == 0 || fl[0] > M2MSEC_ASSOC_IDENTITY_MAX)
                return 0;
            for (size_t i = 0; i < fl[0]; i++)
                if ((unsigned char)t[f[0] + i] <= 0x20 || (unsigned char)t[f[0] + i] >= 0x7f)
                    return 0;
            if (fl[1] % 2 != 0 || fl[1] < 32 || fl[1] > 128)
                return 0;
            for (size_t i = 0; i < fl[1]; i++)
                if (hexv(t[f[1] + i]) < 0)
                    return 0;
            if (fl[2] == 0 || fl[2] > 19 || t[f[2]] == '0')
                return 0;
            {
                uint64_t v = 0;

                for (size_t i = 0; i < fl[2]; i++) {
                    if (t[f[2] + i] < '0' || t[f[2] + i] > '9')
                        return 0;
                    v = v * 10 + (uint64_t)(t[f[2] + i] - '0');
                }
                if (v > (uint64_t)INT64_MAX)
                    return 0; /* at most 2^63 - 1 (19 digits fit in 64 bits) */
                if (*ne < MAX_ENTRIES) {
                    entry *x = &e[*ne];

                    memcpy(x->id, t + f[0], fl[0]);
                    x->id[fl[0]] = '\0';
                    for (size_t i = 0; i < fl[1]; i += 2)
                        x->key[i / 2] =
                            (unsigned char)(hexv(t[f[1] + i]) << 4 | hexv(t[f[1] + i + 1]));
                    x->key_len = fl[1] / 2;
                    x->not_after = v;
                    for (int k = 0; k < *ne; k++)
                        if (strcmp(e[k].id, x->id) == 0)
                            return 0;
                }
                (*ne)++;
            }
        }
        p = q + 1;
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static entry e[MAX_ENTRIES];
    m2msec_association_keytable *kt;
    int ne = 0, ok;

    if (size > 1 << 16)
        return 0;
    ERR_clear_error();
    kt = m2msec_association_keytable_parse((const char *)data, size, "fuzz");
    ok = scan((const char *)data, size, e, &ne);
    if (kt == NULL) {
        unsigned long err = ERR_peek_error();

        if (ERR_GET_REASON(err) != M2MSEC_R_ASSOC_KEYTABLE)
            fz_fail("refusal without the key table reason");
        if (ok)
            fz_fail("the parser refused a table the scan accepts");
        ERR_clear_error();
        return 0;
    }
    if (!ok)
        fz_fail("the parser accepted a table the scan refuses");
    if (ne > MAX_ENTRIES) {
        m2msec_association_keytable_free(kt);
        return 0; /* (duplicates beyond MAX_ENTRIES are not scanned) */
    }
    if (m2msec_association_keytable_count(kt) != (size_t)ne)
        fz_fail("entry count differs from the scan");
    for (int i = 0; i < ne && i < MAX_ENTRIES; i++) {
        unsigned char key[M2MSEC_ASSOC_PSK_MAX];
        size_t len = 0;
        uint64_t na = 0;

        if (m2msec_association_keytable_find(kt, e[i].id, key, &len, &na) != 1 ||
            len != e[i].key_len || memcmp(key, e[i].key, len) != 0 || na != e[i].not_after)
            fz_fail("an entry is not found with its key and not-after");
    }
    m2msec_association_keytable_free(kt);
    ERR_clear_error();
    return 0;
}
