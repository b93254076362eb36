/* SPDX-License-Identifier: Apache-2.0 */
/*
 * common: the one strict text parser for the small files and arguments
 * that carry security decisions: an unsigned decimal, and the lines of a
 * "key value" format (the status record, the session state, the manifest
 * rollback state, the ESPrim state, the manifest header).
 *
 * Decimal: ASCII digits only. No sign, no "+", no white space before,
 * after or inside, no "0x", never empty, and a value above the caller's
 * maximum (at most 2^64 - 1) is refused, never saturated or wrapped.
 * Leading zeros: refused by default, so that a number written by our code
 * has one spelling only ("0" itself is fine); M2M_DEC_LEADING_ZEROS lets
 * them through where a person types the number (command-line arguments)
 * or where an existing reader always accepted them (the session state),
 * so that no file or argument that worked before is refused now.
 */
#ifndef M2M_COMMON_TEXT_H
#define M2M_COMMON_TEXT_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    M2M_DEC_OK = 0,
    M2M_DEC_NOT_DECIMAL,  /* empty, or a byte that is not 0-9 */
    M2M_DEC_LEADING_ZERO, /* "0" followed by more digits (without M2M_DEC_LEADING_ZEROS) */
    M2M_DEC_TOO_BIG       /* above max (2^64 - 1 at most) */
} M2M_DEC;

/* Flags of m2m_dec_parse(). */
#define M2M_DEC_LEADING_ZEROS 1u /* accept "007" as 7 */

/*
 * Parse the @p n bytes at @p s (no NUL needed) as a decimal of at most
 * @p max. M2M_DEC_OK with *out set; else *out is untouched. The result
 * names the first thing wrong in this order: not decimal, leading zero,
 * too big.
 */
M2M_DEC m2m_dec_parse(const char *s, size_t n, uint64_t max, unsigned flags, uint64_t *out);

/* The same for a NUL-terminated @p s (NULL is not decimal). */
M2M_DEC m2m_dec_parse_str(const char *s, uint64_t max, unsigned flags, uint64_t *out);

/* A piece of a buffer: n bytes at p, not NUL-terminated. */
typedef struct m2m_span {
    const char *p;
    size_t n;
} M2M_SPAN;

/* Reading a buffer line by line (m2m_lines_init, then m2m_line_next). */
typedef struct m2m_lines {
    const char *p, *end;
    size_t no; /* 1-based number of the line m2m_line_next returned last */
} M2M_LINES;

void m2m_lines_init(M2M_LINES *r, const char *buf, size_t len);

/*
 * The next line, without its LF, into *line: 1; 0 when the buffer is used
 * up; -1 when the rest has no LF (a last line without its end).
 */
int m2m_line_next(M2M_LINES *r, M2M_SPAN *line);

/* 1 if the span is exactly the text @p text. */
int m2m_span_is(const M2M_SPAN *s, const char *text);

/*
 * A "key value" line: 1 if @p line is @p key, one space, then the value
 * (possibly empty, possibly with further spaces, which are the caller's to
 * judge), with *value set to the value; else 0.
 */
int m2m_kv_value(const M2M_SPAN *line, const char *key, M2M_SPAN *value);

/*
 * A "key <decimal>" line: M2M_DEC_OK with *v; M2M_DEC_NOT_DECIMAL also
 * when the key or its one space is missing.
 */
M2M_DEC m2m_kv_u64(const M2M_SPAN *line, const char *key, uint64_t max, unsigned flags,
                   uint64_t *v);

#endif
