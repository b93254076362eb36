/* SPDX-License-Identifier: Apache-2.0 */
/*
 * common: names in human-readable output (docs/PROTOCOL.md section 7.5,
 * "Names in human-readable output"), linked into libm2msec and the m2msec
 * tool; not exported, not installed.
 *
 * A name (a path from the file system or the command line, a manifest
 * entry) may hold any byte but NUL. Wherever one is put into a message, a
 * report line or a log line it is escaped, so that it can neither start a
 * new line nor send a terminal escape sequence nor be confused with the
 * text around it:
 *
 *   '\'  -> \\        LF -> \n        CR -> \r        TAB -> \t
 *   every other byte 0x00-0x1f, and 0x7f         -> \xHH (lowercase hex)
 *   a UTF-8 sequence of a C1 control (U+0080-U+009F), of U+2028/U+2029 or of
 *   a bidirectional control (U+061C, U+200E, U+200F, U+202A-U+202E,
 *   U+2066-U+2069)                               -> \xHH for each of its bytes
 *   a byte that does not begin a valid UTF-8 sequence (overlong forms,
 *   surrogates and code points above U+10FFFF are invalid) -> \xHH
 *   with M2M_ESC_BLANK, also ' '                 -> \x20
 *
 * Everything else is copied. Decoding the escapes gives back the exact
 * bytes. As GNU sha256sum does, a report or log line that holds an escape
 * starts with one '\' (the report table and the action log do that; see
 * m2m_escape_needed()).
 */
#ifndef M2MSEC_LIBM2MSEC_ESCAPE_H
#define M2MSEC_LIBM2MSEC_ESCAPE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Also escape the blank (a field of the action log stays one word). */
#define M2M_ESC_BLANK 1u
/*
 * The input is a composed text (a message, a detail) whose names are
 * escaped already: a backslash is copied as it is, everything else
 * follows the rule above. Used as a last line of defence on output, so a
 * control character can never reach a terminal or a log whatever built
 * the text.
 */
#define M2M_ESC_TEXT 2u

/*
 * Buffer size for one name in a message: a name of up to 255 bytes always
 * fits escaped in full; a longer one may be cut (ending with "...").
 */
#define M2M_ESC_NAME 1024

/*
 * Escape @p in (NULL is shown as "(null)") into @p out of @p len bytes,
 * always NUL-terminated when @p len > 0. Returns the length of the whole
 * escaped text (as snprintf does), so a caller can size a buffer. When
 * it does not fit, the text is cut between two escapes and ends with
 * "...".
 */
size_t m2m_escape(const char *in, unsigned flags, char *out, size_t len);

/* m2m_escape(in, 0, buf, len), returning @p buf: for a "%s" argument. */
const char *m2m_esc(const char *in, char *buf, size_t len);

/*
 * Length of the valid UTF-8 sequence at @p p (at most @p n bytes) with its
 * code point in *cp; 0 when it is not one (overlong forms, surrogates,
 * code points above U+10FFFF, a sequence cut short by n or by a
 * non-continuation byte such as a NUL). The one UTF-8 decoder of the
 * escaping, the JSON report, the manifest's path check and the ESPrim
 * JSON reader.
 */
size_t m2m_utf8_decode(const unsigned char *p, size_t n, uint32_t *cp);

/*
 * 1 for a code point above ASCII that the rule escapes although it is
 * valid UTF-8: a C1 control, U+2028/U+2029 or a bidirectional control
 * (the JSON report writes these as \uXXXX).
 */
int m2m_escape_special(uint32_t cp);

/* 1 if m2m_escape(in, flags) differs from @p in (something is escaped). */
int m2m_escape_needed(const char *in, unsigned flags);

/*
 * Write @p in escaped to @p f (no length limit). Returns the number of
 * columns written (escape characters, plus one per kept UTF-8 character).
 * With @p f NULL, only counts.
 */
size_t m2m_escape_fputs(const char *in, unsigned flags, FILE *f);

#endif
