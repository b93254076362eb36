/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Shared helpers of the m2msec fuzz harnesses (fuzz/README.md).
 *
 * Every harness builds the provider sources into its own binary and
 * registers them with OSSL_PROVIDER_add_builtin(), so libFuzzer sees the
 * provider's coverage and the sanitizers watch it.
 */
#ifndef M2M_FUZZ_COMMON_H
#define M2M_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <openssl/types.h>

/* Print a message and abort(): the way a harness reports a broken invariant. */
#if defined(__GNUC__)
__attribute__((noreturn, format(printf, 1, 2)))
#endif
void fz_fail(const char *fmt, ...);

#define FZ_CHECK(cond, ...)                                                                        \
    do {                                                                                           \
        if (!(cond))                                                                               \
            fz_fail(__VA_ARGS__);                                                                  \
    } while (0)

/*
 * A new library context with the m2msec provider built in (and loaded), and
 * the default provider when with_default is set. Aborts on failure: a
 * harness without its provider would fuzz nothing.
 */
OSSL_LIB_CTX *fz_libctx_new(int with_default);

/*
 * A new library context configured from the OpenSSL config text cnf (written
 * to the temporary directory as name), with m2msec registered as a built-in
 * first, so that a [m2msec_sect] there activates it with its policy keys.
 * Aborts unless m2msec ends up available.
 */
OSSL_LIB_CTX *fz_libctx_from_config(const char *name, const char *cnf);

/* A per-process temporary directory, removed (recursively) at exit. */
const char *fz_tmpdir(void);
/* fz_tmpdir() "/" name into buf (static storage per call site is the caller's). */
void fz_tmppath(char *buf, size_t cap, const char *name);
/* Replace the file at path with len bytes; aborts on I/O errors. */
void fz_write_file(const char *path, const void *data, size_t len);
/* Read a whole file (malloc'ed, NUL-terminated); NULL if missing. */
unsigned char *fz_read_file(const char *path, size_t *len);

/* Reading a fuzz input front to back; past the end every read gives zeros. */
typedef struct {
    const uint8_t *p;
    size_t n;
} fz_in;

uint8_t fz_u8(fz_in *in);
uint16_t fz_u16(fz_in *in); /* big-endian */
uint32_t fz_u32(fz_in *in);
uint64_t fz_u64(fz_in *in);
/* Up to len bytes: *got says how many there really were. */
const uint8_t *fz_bytes(fz_in *in, size_t len, size_t *got);
/* Copy exactly len bytes into out, zero-padding past the end of the input. */
void fz_copy(fz_in *in, void *out, size_t len);
/* Everything left. */
const uint8_t *fz_rest(fz_in *in, size_t *len);

/*
 * Count an event by name (a string literal); with M2M_FUZZ_STATS set the
 * counts are printed at exit, to see which paths a corpus reaches.
 */
void fz_stat(const char *name);

/* Print the OpenSSL error queue when M2M_FUZZ_VERBOSE is set, then clear it. */
void fz_errors(const char *what);

#endif
