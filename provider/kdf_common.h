/*
 * m2msec provider: the context handling the three KDFs share. Each KDF
 * context begins with an M2M_KDF_BASE and is described by an M2M_KDF_TYPE
 * (its size, its other byte-string members, its defaults and its
 * parameters); creation, reset, copy, wiping and reading parameters are
 * done here once. Each KDF file keeps only its own parameters' meaning and
 * its derivation.
 */
#ifndef M2M_KDF_COMMON_H
#define M2M_KDF_COMMON_H

#include <stddef.h>
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

/* How one settable parameter is read into the context. */
typedef enum {
    M2M_KP_SECRET, /* octet string into an M2M_BYTES that is wiped (key, salt) */
    M2M_KP_OCTETS, /* octet string into an M2M_BYTES */
    M2M_KP_IDENT,  /* identifier: NFKC-normalised UTF-8, not empty, into an M2M_BYTES */
    M2M_KP_U64,    /* unsigned integer into a uint64_t */
    M2M_KP_CUSTOM  /* the KDF's own setter */
} m2m_kdf_kind;

typedef struct m2m_kdf_param_st {
    const char *name;
    m2m_kdf_kind kind;
    size_t offset;                              /* of the member (not M2M_KP_CUSTOM) */
    int (*set)(void *ctx, const OSSL_PARAM *p); /* M2M_KP_CUSTOM: 0 after raising */
} M2M_KDF_PARAM;

typedef struct m2m_kdf_type_st {
    const char *name;     /* for error details, e.g. "M2M-SESSION-KDF" */
    size_t size;          /* of the whole context */
    const size_t *others; /* offsets of the non-secret M2M_BYTES members */
    size_t nothers;
    void (*defaults)(void *ctx); /* sets the scalar members; NULL: all zero */
    const M2M_KDF_PARAM *params; /* applied in this order */
    size_t nparams;
} M2M_KDF_TYPE;

/*
 * A new context of type t; NULL after raising (or when the module self-check
 * failed). The functions below take such a context (they are the KDFs'
 * OSSL_FUNC_KDF_RESET, FREECTX, DUPCTX and SET_CTX_PARAMS).
 */
void *m2m_kdf_new(void *provctx, const M2M_KDF_TYPE *t);
/* Frees every byte-string member (secrets wiped) and restores the defaults. */
void m2m_kdf_reset(void *ctx);
void m2m_kdf_free(void *ctx);
/* A deep copy; nothing in it aliases src. NULL on failure. */
void *m2m_kdf_dup(void *src);
/* Applies the type's parameters found in params, in table order; 0 at the first refusal. */
int m2m_kdf_set_ctx_params(void *ctx, const OSSL_PARAM params[]);
/* Answers OSSL_KDF_PARAM_SIZE with size, if it is asked for. */
int m2m_kdf_get_size(OSSL_PARAM params[], size_t size);
/* The gettable table of a KDF whose only gettable parameter is OSSL_KDF_PARAM_SIZE. */
const OSSL_PARAM *m2m_kdf_gettable_size(void *vctx, void *provctx);

#endif
