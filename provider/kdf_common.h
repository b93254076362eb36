/* SPDX-License-Identifier: Apache-2.0 */
/*
 * m2msec provider: the context handling the three KDFs share. Each KDF
 * context begins with an M2M_KDF_BASE and is described by an M2M_KDF_TYPE
 * (its size, its defaults, its output size and its parameters); creation,
 * reset, copy, wiping and reading and answering parameters are done here
 * once. Each KDF file keeps only its own parameters' meaning and its
 * derivation.
 *
 * A KDF lists its parameters ONCE, as a macro list of lines
 *
 *     P(T, name, KIND, target)
 *
 * in the order they are applied (and listed to applications): T is the
 * context type, name the parameter name (include/m2msec/names.h or
 * <openssl/core_names.h>), KIND one of
 *
 *     SECRET   octet string, into the M2M_BYTES member target, wiped when
 *              replaced, reset or freed (key, salt)
 *     OCTETS   octet string, into the M2M_BYTES member target
 *     IDENT    identifier: NFKC-normalised UTF-8, not empty, into the
 *              M2M_BYTES member target
 *     U64      unsigned integer, into the uint64_t member target
 *     DIGEST   a digest name (SHA2-256, SHA2-384, SHA2-512), into the m2m_md
 *              member target; gettable as well
 *     UTF8_FN, U64_FN, INT32_FN
 *              a UTF-8 string, an unsigned or a signed (32-bit) integer,
 *              read by the KDF's own setter target
 *
 * and M2M_KDF_TABLES(prefix, T, LIST) expands the list into everything
 * that used to be kept in step by hand: the reader table prefix_params[],
 * the settable OSSL_PARAM table (names and types, in list order), the
 * gettable one (OSSL_KDF_PARAM_SIZE, then every DIGEST parameter), and the
 * KDF's OSSL_FUNC_KDF_SETTABLE_CTX_PARAMS / GETTABLE_CTX_PARAMS functions
 * prefix_settable_ctx_params and prefix_gettable_ctx_params. All of it is
 * built at compile time: constant, nothing to initialise, nothing to lock.
 */
#ifndef M2M_KDF_COMMON_H
#define M2M_KDF_COMMON_H

#include <stddef.h>
#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/params.h>

#include "hmac.h"
#include "params.h"
#include "prov.h"

struct m2m_kdf_type_st;

/* The first member of every KDF context. */
typedef struct m2m_kdf_base_st {
    const struct m2m_kdf_type_st *type; /* what the rest of the context is */
    M2M_PROVCTX *pc;
    M2M_HMAC hmac;
    M2M_BYTES key, salt; /* secrets: wiped when replaced, reset or freed */
} M2M_KDF_BASE;

/* How one parameter is read into the context (the KINDs above). */
typedef enum {
    M2M_KP_SECRET,
    M2M_KP_OCTETS,
    M2M_KP_IDENT,
    M2M_KP_U64,
    M2M_KP_DIGEST,
    M2M_KP_UTF8_FN,
    M2M_KP_U64_FN,
    M2M_KP_INT32_FN
} m2m_kdf_kind;

typedef struct m2m_kdf_param_st {
    const char *name;
    m2m_kdf_kind kind;
    size_t offset;                              /* of the member (not the *_FN kinds) */
    int (*set)(void *ctx, const OSSL_PARAM *p); /* the *_FN kinds: 0 after raising */
} M2M_KDF_PARAM;

typedef struct m2m_kdf_type_st {
    const char *name;                  /* for error details, e.g. M2MSEC_KDF_SESSION */
    size_t size;                       /* of the whole context */
    void (*defaults)(void *ctx);       /* sets the scalar members; NULL: all zero */
    size_t (*out_size)(const void *c); /* OSSL_KDF_PARAM_SIZE: the largest output */
    const M2M_KDF_PARAM *params;       /* applied in this order */
    size_t nparams;
} M2M_KDF_TYPE;

/* One line of a KDF's parameter list, expanded for the reader table. */
#define M2M_KP_ENTRY(T, n, k, t) M2M_KP_ENTRY_##k(T, n, t)
#define M2M_KP_ENTRY_SECRET(T, n, m) {n, M2M_KP_SECRET, offsetof(T, m), NULL},
#define M2M_KP_ENTRY_OCTETS(T, n, m) {n, M2M_KP_OCTETS, offsetof(T, m), NULL},
#define M2M_KP_ENTRY_IDENT(T, n, m) {n, M2M_KP_IDENT, offsetof(T, m), NULL},
#define M2M_KP_ENTRY_U64(T, n, m) {n, M2M_KP_U64, offsetof(T, m), NULL},
#define M2M_KP_ENTRY_DIGEST(T, n, m) {n, M2M_KP_DIGEST, offsetof(T, m), NULL},
#define M2M_KP_ENTRY_UTF8_FN(T, n, f) {n, M2M_KP_UTF8_FN, 0, f},
#define M2M_KP_ENTRY_U64_FN(T, n, f) {n, M2M_KP_U64_FN, 0, f},
#define M2M_KP_ENTRY_INT32_FN(T, n, f) {n, M2M_KP_INT32_FN, 0, f},

/* ... for the settable table: the OSSL_PARAM type each kind reads. */
#define M2M_KP_SETTABLE(T, n, k, t) M2M_KP_SETTABLE_##k(n)
#define M2M_KP_SETTABLE_SECRET(n) OSSL_PARAM_octet_string(n, NULL, 0),
#define M2M_KP_SETTABLE_OCTETS(n) OSSL_PARAM_octet_string(n, NULL, 0),
#define M2M_KP_SETTABLE_IDENT(n) OSSL_PARAM_utf8_string(n, NULL, 0),
#define M2M_KP_SETTABLE_U64(n) OSSL_PARAM_uint64(n, NULL),
#define M2M_KP_SETTABLE_DIGEST(n) OSSL_PARAM_utf8_string(n, NULL, 0),
#define M2M_KP_SETTABLE_UTF8_FN(n) OSSL_PARAM_utf8_string(n, NULL, 0),
#define M2M_KP_SETTABLE_U64_FN(n) OSSL_PARAM_uint64(n, NULL),
#define M2M_KP_SETTABLE_INT32_FN(n) OSSL_PARAM_int32(n, NULL),

/* ... for the gettable table: only a DIGEST is read back. */
#define M2M_KP_GETTABLE(T, n, k, t) M2M_KP_GETTABLE_##k(n)
#define M2M_KP_GETTABLE_SECRET(n)
#define M2M_KP_GETTABLE_OCTETS(n)
#define M2M_KP_GETTABLE_IDENT(n)
#define M2M_KP_GETTABLE_U64(n)
#define M2M_KP_GETTABLE_DIGEST(n) OSSL_PARAM_utf8_string(n, NULL, 0),
#define M2M_KP_GETTABLE_UTF8_FN(n)
#define M2M_KP_GETTABLE_U64_FN(n)
#define M2M_KP_GETTABLE_INT32_FN(n)

/* The tables and table functions of one KDF, from its parameter list (see the top). */
#define M2M_KDF_TABLES(prefix, T, LIST)                                                            \
    static const M2M_KDF_PARAM prefix##_params[] = {LIST(M2M_KP_ENTRY, T)};                        \
    static const OSSL_PARAM prefix##_settable[] = {LIST(M2M_KP_SETTABLE, T) OSSL_PARAM_END};       \
    static const OSSL_PARAM prefix##_gettable[] = {OSSL_PARAM_size_t(OSSL_KDF_PARAM_SIZE, NULL),   \
                                                   LIST(M2M_KP_GETTABLE, T) OSSL_PARAM_END};       \
    static OSSL_FUNC_kdf_settable_ctx_params_fn prefix##_settable_ctx_params;                      \
    static OSSL_FUNC_kdf_gettable_ctx_params_fn prefix##_gettable_ctx_params;                      \
    static const OSSL_PARAM *prefix##_settable_ctx_params(void *vctx, void *provctx)               \
    {                                                                                              \
        (void)vctx;                                                                                \
        (void)provctx;                                                                             \
        return prefix##_settable;                                                                  \
    }                                                                                              \
    static const OSSL_PARAM *prefix##_gettable_ctx_params(void *vctx, void *provctx)               \
    {                                                                                              \
        (void)vctx;                                                                                \
        (void)provctx;                                                                             \
        return prefix##_gettable;                                                                  \
    }

#define M2M_KDF_NPARAMS(prefix) (sizeof(prefix##_params) / sizeof(prefix##_params[0]))

/*
 * A new context of type t; NULL after raising (or when the module self-check
 * failed). The functions below take such a context; they are the KDFs'
 * OSSL_FUNC_KDF_RESET, FREECTX, DUPCTX, SET_CTX_PARAMS and GET_CTX_PARAMS.
 */
void *m2m_kdf_new(void *provctx, const M2M_KDF_TYPE *t);
/* Frees every byte-string member (secrets wiped) and restores the defaults. */
OSSL_FUNC_kdf_reset_fn m2m_kdf_reset;
OSSL_FUNC_kdf_freectx_fn m2m_kdf_free;
/* A deep copy; nothing in it aliases src. NULL on failure. */
OSSL_FUNC_kdf_dupctx_fn m2m_kdf_dup;
/* Applies the type's parameters found in params, in list order; 0 at the first refusal. */
OSSL_FUNC_kdf_set_ctx_params_fn m2m_kdf_set_ctx_params;
/* Answers OSSL_KDF_PARAM_SIZE (type->out_size) and every DIGEST parameter asked for. */
OSSL_FUNC_kdf_get_ctx_params_fn m2m_kdf_get_ctx_params;

/* The three KDFs' types (their parameter lists), for the tests. */
extern const M2M_KDF_TYPE m2m_session_kdf_type;
extern const M2M_KDF_TYPE m2m_onem2m_kdf_type;
extern const M2M_KDF_TYPE m2m_oscore_kdf_type;

#endif
