/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libm2msec internal: what the policy actions share. actions.c dispatches
 * each failed result to quarantine.c or remediate.c (which downloads
 * through fetch.c) and holds the shared helpers declared here. Nothing
 * here is exported (libm2msec.map); tests reach the test hook through the
 * static twin of libm2msec.
 */
#ifndef M2MSEC_LIBM2MSEC_ACTIONS_INTERNAL_H
#define M2MSEC_LIBM2MSEC_ACTIONS_INTERNAL_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <openssl/types.h>

#include "escape.h"
#include "m2msec/integrity.h"
#include "safe_open.h"

#define WHY_MAX 2048

typedef struct actx {
    OSSL_LIB_CTX *libctx;
    const m2msec_policy *pol;
    const m2msec_manifest *m;
    int rootfd;
    int qfd;                   /* quarantine directory, -1 until needed */
    char qshown[M2M_ESC_NAME]; /* its path, escaped for messages */
    uint64_t copy_max;         /* quarantine_copy_max */
    int logfd;                 /* -1: log to stderr */
    int logerr;                /* errno why the log cannot be used */
    char logwhy[WHY_MAX];      /* and the reason, or "" */
    unsigned seq;              /* temporary-file names */
} actx;

typedef struct qmove {
    char name[NAME_MAX + 1]; /* in the quarantine directory */
    struct stat st;          /* the verified entry as it was moved (owner, mode, times) */
    m2m_ident vid;           /* its identity */
    m2m_ident qid;           /* what is under name in the quarantine directory */
    int copied;              /* copied to another filesystem, the original unlinked */
} qmove;

/* Quarantine results: done, or nothing there (the entry is gone), or failed. */
enum { Q_FAILED = 0, Q_DONE = 1, Q_GONE = 2 };

/* snprintf() whose truncation is accepted: messages are cut, never overflowed. */
__attribute__((format(printf, 3, 4))) void m2m_act_fmt(char *buf, size_t len, const char *f, ...);
/* Append to the NUL-terminated @p buf of @p len bytes. */
__attribute__((format(printf, 3, 4))) void m2m_act_fmt_add(char *buf, size_t len, const char *f,
                                                           ...);

/*
 * Tests only. When set, the remediation calls @p hook after each step with
 * the file's path and the step's name: "downloaded" (the verified copy is
 * in its temporary file), "swapped" (the verified copy is in place, the
 * old file under the temporary name), "quarantined" (the old file is in
 * the quarantine directory). A non-zero return is treated as an errno
 * value of a failure at that point, so the undo of every later state can
 * be tested. NULL removes it. Not thread-safe.
 */
typedef int (*m2msec_actions_test_hook)(void *arg, const char *step, const char *path);
void m2msec_actions_set_test_hook(m2msec_actions_test_hook hook, void *arg);
/* The test hook's verdict on @p step of @p path: 0, or an errno value to fail with. */
int m2m_act_hook(const char *step, const char *path);

/* ---- actions.c: log, identity, directories ---- */

/* Current UTC time, ISO 8601 ("2025-01-31T12:00:00Z") or compact ("20250131T120000Z"). */
void m2m_act_time_text(char *buf, size_t len, int compact);
/* Copy @p s to line + *n, as much as fits before the last byte (kept for the newline). */
void m2m_act_put(char *line, size_t *n, const char *s);
/*
 * Open the entry @p name of the directory @p dfd itself (O_PATH |
 * O_NOFOLLOW: a symlink is not followed, nothing is read) and check that
 * it is @p id. The descriptor, with its fstat in @p st (and its identity in
 * @p now unless NULL); or -1 with errno ENOENT (nothing there), ESTALE
 * (another object: @p st describes it) or that of the failed call.
 */
int m2m_act_open_ident(int dfd, const char *name, const m2m_ident *id, struct stat *st,
                       m2m_ident *now);
/* Is the entry @p name of @p dfd (not followed) the object @p id? */
int m2m_act_is_at(int dfd, const char *name, const m2m_ident *id);
/*
 * Why m2m_act_open_ident() of @p shown failed (errno @p err, @p now as it gave it),
 * as "<shown> <reason>".
 */
void m2m_act_why_ident(const char *shown, const m2m_ident *id, int err, const struct stat *now,
                       const char *when, char *why, size_t whylen);
/* Split @p path into its directory (may be "") and last component. */
int m2m_act_split_path(const char *path, char *dir, size_t dlen, char *base, size_t blen);
/* The directory @p dir below the root (or the root for ""), without following symlinks. */
int m2m_act_open_dir_beneath(actx *c, const char *dir);
void m2m_act_why_open_dir(actx *c, const char *dir, int err, char *why, size_t whylen);
/* Remove the directories of @p dir from offset @p from on (those that were created). */
void m2m_act_remove_created(actx *c, const char *dir, size_t from);
/*
 * Open @p dir below the root; if it is missing, create the missing
 * directories (mode 0755). *created gets the offset in @p dir of the first
 * created component, or (size_t)-1.
 */
int m2m_act_open_or_create_dir(actx *c, const char *dir, size_t *created, char *why, size_t whylen);

/* ---- quarantine.c ---- */

/* renameat2(RENAME_NOREPLACE), or a check + renameat() where the filesystem lacks it. */
int m2m_act_rename_noreplace(int fromfd, const char *from, int tofd, const char *to);
/*
 * Put the quarantined entry @p q back at pdfd/base as it was (@p shown:
 * the file's path for messages). Its permission bits are restored while it
 * is still in the quarantine directory; a copy is copied back into a new
 * file with the original owner, mode and times (q->vid then becomes the
 * identity of that new file). 1, or 0 with a reason.
 */
int m2m_act_quarantine_undo(actx *c, int pdfd, const char *base, const char *shown, qmove *q,
                            char *why, size_t whylen);
/*
 * Move the verified entry pdfd/base (the file @p path, @p shown escaped)
 * into quarantine with its permission bits cleared. Q_DONE, Q_GONE when
 * nothing is there, or Q_FAILED with a reason; on failure nothing of the
 * verified entry has changed.
 */
int m2m_act_quarantine_entry(actx *c, int pdfd, const char *base, const char *path,
                             const char *shown, const m2m_ident *id, qmove *q, char *why,
                             size_t whylen);
/*
 * Quarantine the verified entry of @p res (@p id: what verification saw);
 * @p qpath gets where it went, or "" when there is nothing at the path any
 * more (its directory was already moved by the action on a shallower
 * result, or it is gone since verification).
 */
int m2m_act_quarantine(actx *c, const m2msec_file_result *res, const char *shown,
                       const m2m_ident *id, char *qpath, size_t qlen, char *why, size_t whylen);

/* ---- remediate.c ---- */

int m2m_act_remediate(actx *c, const m2msec_file_result *res, const char *shown,
                      const m2m_ident *id, const m2msec_manifest_entry *e, char *done,
                      size_t donelen, char *why, size_t whylen);

#endif
