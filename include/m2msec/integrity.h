/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file integrity.h
 * @brief Integrity verification of device files against signed manifests,
 *        and policy-based actions when it fails.
 *
 * A manifest lists files under a root with their digests, in the line
 * format of sha256sum (so `sha256sum -c` checks it), plus `#` header lines
 * (version, expiry, digest, optional size and mode per file). It is signed
 * with a detached Ed25519 (default) or ECDSA P-256 signature that the stock
 * openssl command verifies. The format is in docs/PROTOCOL.md section 7.
 *
 * The return convention of m2msec/m2msec.h: functions return 1 / a pointer
 * on success and 0 / NULL on failure with an OpenSSL error queued whose text
 * names the problem (file, line); getters that cannot fail return values.
 */
#ifndef M2MSEC_INTEGRITY_H
#define M2MSEC_INTEGRITY_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <openssl/types.h>

#include "m2msec/m2msec.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ */
/* Manifests (libm2msec/manifest.c)                                    */
/* ------------------------------------------------------------------ */

typedef struct m2msec_manifest m2msec_manifest;

/** Largest digest a manifest holds (SHA-512), in bytes. */
#define M2MSEC_DIGEST_MAX 64

/** One listed file. */
typedef struct m2msec_manifest_entry {
    const char *path; /**< relative to the root: no leading '/', no '.' or '..' */
    unsigned char digest[64];
    size_t digest_len; /**< 32, 48 or 64 */
    int64_t size;      /**< bytes, or -1 when not recorded */
    int32_t mode;      /**< permission bits (07777), or -1 when not recorded */
    /**
     * 1 when owner, group and mtime are recorded (a '# attr' line,
     * docs/PROTOCOL.md 7.1), 0 when not: a zeroed entry records none.
     */
    int has_attr;
    uint32_t uid, gid; /**< numeric owner and group (st_uid, st_gid), when has_attr */
    int64_t mtime;     /**< modification time, seconds since 1970 (st_mtime), when has_attr */
} m2msec_manifest_entry;

/** Bits of m2msec_manifest_from_tree()'s @p with_meta. */
#define M2MSEC_META_SIZE_MODE 1 /**< '# meta': size and mode */
#define M2MSEC_META_ATTR 2      /**< '# attr': numeric owner, group and mtime */

/** An empty manifest; @p digest is "SHA256" (default when NULL), "SHA384" or "SHA512". */
M2MSEC_WARN_UNUSED m2msec_manifest *m2msec_manifest_new(const char *digest, uint64_t version,
                                                        uint64_t expires);
void m2msec_manifest_free(m2msec_manifest *m);
/** Add or replace an entry (copied). Paths are validated. */
M2MSEC_WARN_UNUSED int m2msec_manifest_add(m2msec_manifest *m, const m2msec_manifest_entry *e);

/** Parse manifest text (strict; errors name the line). */
M2MSEC_WARN_UNUSED m2msec_manifest *m2msec_manifest_parse(const unsigned char *buf, size_t len);
/** Serialise (entries sorted by path); *buf from OPENSSL_malloc. */
M2MSEC_WARN_UNUSED int m2msec_manifest_serialize(const m2msec_manifest *m, unsigned char **buf,
                                                 size_t *len);
/** Write to @p path atomically (temp file, fsync, rename). */
M2MSEC_WARN_UNUSED int m2msec_manifest_write(const m2msec_manifest *m, const char *path);

uint64_t m2msec_manifest_version(const m2msec_manifest *m);
uint64_t m2msec_manifest_expires(const m2msec_manifest *m);   /**< seconds since 1970 */
const char *m2msec_manifest_digest(const m2msec_manifest *m); /**< "SHA256", ... */
size_t m2msec_manifest_count(const m2msec_manifest *m);
const m2msec_manifest_entry *m2msec_manifest_entry_at(const m2msec_manifest *m, size_t i);
const m2msec_manifest_entry *m2msec_manifest_find(const m2msec_manifest *m, const char *path);

/**
 * Hash every regular file under @p root (symlinks are not followed;
 * anything else is refused) into a new manifest.
 * @param with_meta 0, or M2MSEC_META_SIZE_MODE (also 1, as before) to record
 *        each file's size and mode, | M2MSEC_META_ATTR to record its owner,
 *        group and mtime
 * @param jobs worker threads, 0 = one per core
 */
M2MSEC_WARN_UNUSED M2MSEC_NONNULL(2) m2msec_manifest *m2msec_manifest_from_tree(
    OSSL_LIB_CTX *libctx, const char *root, const char *digest, uint64_t version, uint64_t expires,
    int with_meta, unsigned jobs);

/**
 * Sign the file @p manifest_path with the PEM private key at @p key_path
 * into @p sig_path (NULL: @p manifest_path with ".sig" appended). The
 * signature is detached, over the exact file bytes: Ed25519 (raw 64 bytes)
 * or ECDSA P-256 with SHA-256 (DER); other keys are refused, and so is a
 * file that is not a valid manifest. The signature file is written
 * atomically (temp file, fsync, rename): on failure nothing is left behind.
 */
M2MSEC_WARN_UNUSED int m2msec_manifest_sign(OSSL_LIB_CTX *libctx, const char *manifest_path,
                                            const char *key_path, const char *sig_path);

/** Why a manifest was refused. */
typedef enum m2msec_manifest_verdict {
    M2MSEC_MANIFEST_OK = 0,
    M2MSEC_MANIFEST_UNSIGNED,      /**< no signature file */
    M2MSEC_MANIFEST_BAD_SIGNATURE, /**< signature does not verify with the key */
    M2MSEC_MANIFEST_EXPIRED,       /**< expiry time has passed */
    M2MSEC_MANIFEST_ROLLBACK,      /**< version lower than the last accepted one */
    M2MSEC_MANIFEST_MALFORMED,     /**< not a valid manifest */
    M2MSEC_MANIFEST_ERROR          /**< I/O or other error */
} m2msec_manifest_verdict;

M2MSEC_WARN_UNUSED const char *m2msec_manifest_verdict_text(m2msec_manifest_verdict v);

/**
 * Read, verify and accept a manifest: signature with the PEM public key,
 * expiry against @p now, and version against the rollback state file
 * (NULL: no rollback check). On acceptance the state file is updated
 * atomically to the manifest's version. *out gets the manifest on OK.
 *
 * The checks run in this order, the first failure deciding the verdict:
 * manifest readable (ERROR), signature file present (UNSIGNED), public key
 * readable (ERROR), signature over the exact bytes read (BAD_SIGNATURE;
 * nothing is parsed before it verifies), syntax (MALFORMED), expires > now
 * (EXPIRED), version >= the version in the state file (ROLLBACK; a missing
 * state file accepts any version, a malformed one is an ERROR), state file
 * written (ERROR; only when the version differs from the stored one).
 * @p sig_path NULL means @p manifest_path with ".sig" appended.
 * @param verdict NULL, or where to store the verdict (M2MSEC_MANIFEST_OK
 *                on success)
 * @return 1 if the manifest is accepted (*out set), 0 otherwise with an
 *         error queued naming the file (*out NULL).
 */
M2MSEC_WARN_UNUSED M2MSEC_NONNULL(2, 7) int m2msec_manifest_accept(
    OSSL_LIB_CTX *libctx, const char *manifest_path, const char *sig_path, const char *pubkey_path,
    const char *rollback_state, uint64_t now, m2msec_manifest **out,
    m2msec_manifest_verdict *verdict);

/* ------------------------------------------------------------------ */
/* Verification (libm2msec/verify.c)                                   */
/* ------------------------------------------------------------------ */

typedef enum m2msec_file_status {
    M2MSEC_FILE_OK = 0,
    M2MSEC_FILE_MODIFIED,   /**< digest or size differs */
    M2MSEC_FILE_MISSING,    /**< listed, not present */
    M2MSEC_FILE_WRONG_TYPE, /**< not a regular file (symlink, directory, device, ...) */
    M2MSEC_FILE_WRONG_MODE, /**< permission bits differ from the manifest */
    M2MSEC_FILE_UNREADABLE, /**< cannot be opened or read */
    M2MSEC_FILE_CHANGED,    /**< changed while it was being verified */
    M2MSEC_FILE_EXTRA,      /**< present under the root, not listed */
    /** owner, group or mtime differ from the '# attr' line (only with check_attr) */
    M2MSEC_FILE_WRONG_ATTR,
    M2MSEC_FILE_STATUS_COUNT
} m2msec_file_status;

/**
 * "ok", "modified", "missing", "wrong-type", "wrong-mode", "unreadable", "changed", "extra",
 * "wrong-attr".
 */
M2MSEC_WARN_UNUSED const char *m2msec_file_status_text(m2msec_file_status st);

typedef enum m2msec_action {
    M2MSEC_ACTION_NONE = 0,   /**< file is fine */
    M2MSEC_ACTION_DENY,       /**< refuse to run: overall failure */
    M2MSEC_ACTION_QUARANTINE, /**< moved to the quarantine directory, permissions stripped */
    M2MSEC_ACTION_ALERT,      /**< logged, nothing else */
    M2MSEC_ACTION_REMEDIATE   /**< replaced by a verified copy from the repository */
} m2msec_action;

/** "none", "deny", "quarantine", "alert", "remediate". */
M2MSEC_WARN_UNUSED const char *m2msec_action_text(m2msec_action a);

typedef struct m2msec_file_result {
    const char *path;
    m2msec_file_status status;
    const char *detail;   /**< e.g. "expected 1234 bytes, found 1200"; may be NULL; names
                             in it are escaped (docs/PROTOCOL.md 7.5) */
    m2msec_action action; /**< decided by the policy (m2msec_policy_apply) */
    int action_ok;        /**< the action was carried out completely */
    const char *action_detail;
} m2msec_file_result;

typedef struct m2msec_tree_verify_options {
    unsigned jobs;    /**< worker threads; 0 = one per online core */
    int report_extra; /**< also report files under the root that are not listed */
    /** Called from the calling thread now and then; may be NULL. */
    void (*progress)(void *arg, uint64_t bytes_done, uint64_t bytes_total, size_t files_done,
                     size_t files_total);
    void *progress_arg;
    /**
     * NULL, or a NULL-terminated list of paths relative to the root that are
     * never reported as extra (a directory covers everything below it),
     * e.g. the manifest and its signature when they live under the root.
     */
    const char *const *ignore;
    /**
     * Also compare owner, group and mtime with the entries that record them
     * ('# attr' lines): a difference is M2MSEC_FILE_WRONG_ATTR. 0: ignored.
     */
    int check_attr;
} m2msec_tree_verify_options;

typedef struct m2msec_report m2msec_report;

/**
 * Verify every listed file under @p root: opened without following
 * symlinks anywhere below the root (openat2 RESOLVE_BENEATH |
 * RESOLVE_NO_SYMLINKS), hashed from the opened descriptor by worker
 * threads through EVP, memory bounded independently of file sizes.
 */
M2MSEC_WARN_UNUSED m2msec_report *m2msec_tree_verify(OSSL_LIB_CTX *libctx, const m2msec_manifest *m,
                                                     const char *root,
                                                     const m2msec_tree_verify_options *opt);
void m2msec_report_free(m2msec_report *r);
size_t m2msec_report_count(const m2msec_report *r);
const m2msec_file_result *m2msec_report_at(const m2msec_report *r, size_t i);
/** Number of results with a status other than OK. */
size_t m2msec_report_failures(const m2msec_report *r);
/** Flags of m2msec_report_print(). */
#define M2MSEC_REPORT_JSON 1          /**< JSON document instead of the table */
#define M2MSEC_REPORT_FAILURES_ONLY 2 /**< leave out the results that are OK */
/**
 * Human-readable table (status, path, detail, action; then a summary line)
 * or, with M2MSEC_REPORT_JSON in @p flags, a JSON document:
 * {"root":..., "manifest_version":N, "files":[{"path":..., "status":...,
 * "detail":...|null, "action":..., "action_ok":true|false,
 * "action_detail":...|null}], "summary":{"ok":N, "modified":N, ...,
 * "failures":N}}. Path bytes that are not valid UTF-8 are shown as U+FFFD
 * in "path" and the exact bytes are added as "path_hex"; in the table,
 * names are escaped by the rule of docs/PROTOCOL.md 7.5 (\\, \n, \r, \t,
 * \xHH for other control characters, C1 and bidirectional controls and
 * invalid bytes) and a line that holds an escape starts with a backslash,
 * as in sha256sum's output. The detail texts of the results hold their
 * names escaped already.
 */
M2MSEC_WARN_UNUSED int m2msec_report_print(const m2msec_report *r, FILE *out, int flags);

/**
 * Hash the already opened descriptor @p fd from its current offset to the
 * end with @p digest ("SHA256", "SHA384", "SHA512"; NULL = SHA256), through
 * EVP with one bounded buffer. @p outlen: on input the size of @p out
 * (M2MSEC_DIGEST_MAX always suffices), on output the digest length.
 */
M2MSEC_WARN_UNUSED int m2msec_file_hash(OSSL_LIB_CTX *libctx, int fd, const char *digest,
                                        unsigned char *out, size_t *outlen);

/**
 * Open @p path (relative: no leading '/', no empty, '.' or '..' component)
 * read-only below the directory @p rootfd without following any symlink on
 * the way or at the end: openat2() with RESOLVE_BENEATH |
 * RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS, or a component-by-component
 * openat(O_NOFOLLOW) walk where openat2 is not available. The flags are
 * O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK (so a FIFO cannot block;
 * it does not change reads of regular files). The caller still has to
 * fstat() the result: it may be a directory, FIFO or device.
 * @return the descriptor, or -1 with errno set (ENOENT missing; ELOOP,
 * EXDEV or ENOTDIR: a symlink or non-directory on the way; EINVAL: bad
 * path) and an error queued (ERR_LIB_SYS with errno as its reason, naming
 * the path).
 */
M2MSEC_WARN_UNUSED M2MSEC_NONNULL(2) int m2msec_file_open_beneath(int rootfd, const char *path);

/* ------------------------------------------------------------------ */
/* Policy (libm2msec/policy.c) and actions (libm2msec/actions.c:       */
/* quarantine.c, remediate.c, fetch.c)                                 */
/* ------------------------------------------------------------------ */

/**
 * The one policy file (OpenSSL config syntax, read with NCONF): the
 * [integrity] section (quarantine_dir, log, repository, default action),
 * the [rules] section (path pattern = action, first match wins) and the
 * [session] section that the provider reads too (docs/POLICY.md).
 */
typedef struct m2msec_policy m2msec_policy;

M2MSEC_WARN_UNUSED m2msec_policy *m2msec_policy_load(const char *path);
void m2msec_policy_free(m2msec_policy *p);
/** Action for a failed file at @p path (relative to the root). */
m2msec_action m2msec_policy_action(const m2msec_policy *p, const char *path);

/**
 * Carry out the policy for every failed result of @p r (files under
 * @p root, listed in the accepted manifest @p m). Quarantine moves the file
 * to the quarantine directory with permissions stripped and logs it;
 * alert logs; remediate fetches the file from the repository (directory or
 * http(s) URL), verifies it against @p m, and replaces it atomically,
 * keeping the old copy in quarantine - if any step fails, everything stays
 * as it was. Results record the action and whether it succeeded.
 * @return 1 if the device may run (no deny and every action succeeded), 0
 *         otherwise, with an error queued naming the first file denied or
 *         whose action failed.
 */
M2MSEC_WARN_UNUSED int m2msec_policy_apply(OSSL_LIB_CTX *libctx, const m2msec_policy *p,
                                           const m2msec_manifest *m, const char *root,
                                           m2msec_report *r);

/* ------------------------------------------------------------------ */
/* Integrity status record (libm2msec/status.c; read by the provider)  */
/* ------------------------------------------------------------------ */

/**
 * Write the device's verification result, authenticated with
 * HMAC-SHA-256 under the device key (docs/PROTOCOL.md section 8), atomically
 * (temporary file, fsync, rename): "passed" if @p passed, else "failed",
 * for manifest version @p manifest_version, dated @p when (seconds since
 * 1970). With the policy's require_integrity, M2M-SESSION-KDF refuses to
 * derive while this record is missing, forged, says failed or verifying,
 * is older than max_status_age, or is for a manifest version older than
 * the one in the policy's manifest_state. Call m2msec_integrity_status_invalidate()
 * before verifying: if this write then fails, the record stays invalid.
 * @return 1, or 0 with an error queued (the old record is untouched).
 */
M2MSEC_WARN_UNUSED int m2msec_integrity_status_write(OSSL_LIB_CTX *libctx, const char *path,
                                                     const unsigned char *key, size_t keylen,
                                                     int passed, uint64_t manifest_version,
                                                     uint64_t when);

/**
 * Replace the status record with "result verifying" (manifest version 0,
 * dated @p when), atomically, before a verification starts: the provider's
 * gate refuses it, so an old "passed" never outlives a verification that
 * is running, was killed, or whose result could not be written. A
 * verifier must stop (not verify) when this fails.
 * @return 1, or 0 with an error queued.
 */
M2MSEC_WARN_UNUSED int m2msec_integrity_status_invalidate(OSSL_LIB_CTX *libctx, const char *path,
                                                          const unsigned char *key, size_t keylen,
                                                          uint64_t when);

#ifdef __cplusplus
}
#endif

#endif
