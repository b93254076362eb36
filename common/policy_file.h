/* SPDX-License-Identifier: Apache-2.0 */
/*
 * common: the ONE strict reader of the device policy file (docs/POLICY.md)
 * and the one list of its sections, keys and values. The provider reads
 * [session] through it (and checks its openssl.cnf section's values with
 * the same m2m_session_set), libm2msec reads [integrity] and [rules]
 * through it; both parse the whole file and refuse the same files.
 *
 * The file is a strict subset of OpenSSL's configuration syntax: every
 * line is blank, a '#' comment, a section header "[name]" or
 * "key = value" (blanks around the key and the value are removed, '#'
 * starts a comment anywhere). Sections: [session], [integrity], [rules],
 * [association] (libm2msec's security associations) and [exec.PROGRAM] (key "requires", read by
 * m2msec exec). Refused, with the file name and line number: NUL bytes, CR, control characters; any
 * other section, or one written twice; a key outside a section; an
 * unknown key; a key (or rule pattern) written twice; directives
 * (.include, .pragma, ...); cross-section references (section::key);
 * variables ($name, ${...}); quotes and backslashes in values (escapes,
 * line continuations); a line that is not key = value; an empty value;
 * characters a rule pattern may not hold; and every value that is not
 * valid for its key.
 */
#ifndef M2M_COMMON_POLICY_FILE_H
#define M2M_COMMON_POLICY_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "cfile.h"

/* Largest policy file read (bytes). */
#define M2M_POLICY_FILE_MAX (1024u * 1024u)

/* Ranges of the session-policy values (docs/POLICY.md section 1.1). */
#define M2M_PF_MAX_LIFETIME_CEIL (10ull * 366 * 86400) /* ten years */
#define M2M_PF_MIN_KEY_BITS_FLOOR 128u                 /* a policy may raise it, never lower */
#define M2M_PF_MIN_KEY_BITS_CEIL 8192u
#define M2M_PF_REPLAY_MIN 64u
#define M2M_PF_REPLAY_MAX 32768u
#define M2M_PF_MAX_STATUS_AGE_CEIL (366ull * 86400) /* one year */
/* Default max_status_age: one hour (docs/POLICY.md explains the choice). */
#define M2M_PF_DEFAULT_MAX_STATUS_AGE 3600u

/* The session-policy keys: in the provider's openssl.cnf section and in [session]. */
typedef enum m2m_skey {
    M2M_SK_MAX_LIFETIME = 0,
    M2M_SK_MIN_KEY_BITS,
    M2M_SK_REPLAY_WINDOW,
    M2M_SK_MAX_RECORDS,
    M2M_SK_MAX_BYTES,
    M2M_SK_MAX_FAILURES,
    M2M_SK_ALLOWED_AEADS,
    M2M_SK_REQUIRE_INTEGRITY,
    M2M_SK_INTEGRITY_STATUS,
    M2M_SK_DEVICE_KEY_FILE,
    M2M_SK_MANIFEST_STATE,
    M2M_SK_MAX_STATUS_AGE,
    M2M_SK_COUNT
} M2M_SKEY;

/* Their names, in M2M_SKEY order (also for static tables elsewhere). */
#define M2M_SKEY_NAMES                                                                             \
    "max_lifetime", "min_key_bits", "replay_window", "max_records", "max_bytes", "max_failures",   \
        "allowed_aeads", "require_integrity", "integrity_status", "device_key_file",               \
        "manifest_state", "max_status_age"

/* Their names, indexed by M2M_SKEY. */
extern const char *const m2m_skey_names[M2M_SK_COUNT];

/* The M2M_SKEY of @p name, or -1. */
int m2m_skey_lookup(const char *name);

/* The names allowed_aeads accepts, exactly (the label is bound into session keys). */
/*
 * The names allowed_aeads accepts, exactly (the label is bound into session
 * keys): the four M2M-REC ciphers, then M2M-REC-AES-128-CCM-8, the label of
 * AES-128-CCM with an 8-byte tag (weaker: listing M2M-REC-AES-128-CCM does
 * not allow it).
 */
#define M2M_PF_NAEADS 5
#define M2M_PF_AEAD_CCM8 "M2M-REC-AES-128-CCM-8"
extern const char *const m2m_aead_names[M2M_PF_NAEADS];

/* Session-policy values, as given (a key not given keeps the reader's default). */
typedef struct m2m_session_values {
    unsigned set;               /* bit (1u << M2M_SK_x): the key was given */
    long line[M2M_SK_COUNT];    /* where it was given (0: not known) */
    uint64_t num[M2M_SK_COUNT]; /* the numeric keys */
    unsigned aeads;             /* allowed_aeads: bit i = m2m_aead_names[i] */
    int require_integrity;
    char *path[M2M_SK_COUNT]; /* integrity_status, device_key_file, manifest_state */
} M2M_SESSION_VALUES;

/*
 * Check @p value for session key @p key and store it in @p sv (replacing an
 * earlier value). @p where names the place for the message (e.g. "policy
 * file /etc/m2msec/policy.cnf line 3"). Numbers are plain decimal (digits
 * only, no sign, no leading zero, no unit); paths are absolute; booleans
 * are yes/no/true/false/1/0; allowed_aeads is a list of the exact names
 * of m2m_aead_names separated by commas and/or blanks. Returns 1, or 0 with
 * err = "WHERE: policy KEY = 'VALUE' ..." saying what is wrong.
 */
int m2m_session_set(M2M_SESSION_VALUES *sv, M2M_SKEY key, const char *value, const char *where,
                    long line, M2M_ERRMSG *err);

/* Free the strings; the structure is zeroed. */
void m2m_session_values_clear(M2M_SESSION_VALUES *sv);

/* Default of [integrity] quarantine_copy_max: 64 MiB of data (docs/POLICY.md 4.1). */
#define M2M_PF_QUARANTINE_COPY_MAX_DEFAULT (64ull * 1024 * 1024)

/* Actions of [integrity] default_action and [rules]; the values of m2msec_action. */
enum { M2M_PF_DENY = 1, M2M_PF_QUARANTINE, M2M_PF_ALERT, M2M_PF_REMEDIATE };

typedef struct m2m_pf_rule {
    char *pattern;
    int action;
    long line;
} M2M_PF_RULE;

/* An [exec.PROGRAM] section: the files PROGRAM requires (m2msec exec). */
typedef struct m2m_pf_exec {
    char *program;  /* as listed in the manifest */
    char *requires; /* the "requires" value as written (names separated by commas/blanks) */
    long line;      /* of the section header */
} M2M_PF_EXEC;

/*
 * [association] (libm2msec m2msec/association.h, docs/POLICY.md section 5):
 * suites (OpenSSL names of m2m_assoc_suite_names, separated by commas
 * and/or blanks), min_version (1.2 or 1.3), forward_secrecy (preferred,
 * required, off), max_lifetime (seconds), max_records, max_bytes.
 */
typedef enum m2m_akey {
    M2M_AK_SUITES = 0,
    M2M_AK_MIN_VERSION,
    M2M_AK_FORWARD_SECRECY,
    M2M_AK_MAX_LIFETIME,
    M2M_AK_MAX_RECORDS,
    M2M_AK_MAX_BYTES,
    M2M_AK_COUNT
} M2M_AKEY;
/* The suite names, bit i = name i (the M2MSEC_ASSOC_* bits of m2msec/association.h). */
#define M2M_PF_ASSOC_NSUITES 8
#define M2M_PF_ASSOC_SUITE_BITS 0xffu
extern const char *const m2m_assoc_suite_names[M2M_PF_ASSOC_NSUITES];
typedef struct m2m_assoc_values {
    unsigned set;               /* bit (1u << M2M_AK_x): the key was given */
    long line[M2M_AK_COUNT];    /* where */
    uint64_t num[M2M_AK_COUNT]; /* min_version 0x0303/0x0304; forward_secrecy 0 preferred,
                                   1 required, 2 off; the limits */
    unsigned suites;
} M2M_ASSOC_VALUES;

/* The whole policy file, checked. */
typedef struct m2m_policy_file {
    M2M_SESSION_VALUES session;   /* [session] */
    M2M_ASSOC_VALUES association; /* [association] */
    int default_action;           /* [integrity]; M2M_PF_DENY when not given */
    long default_action_line;
    char *quarantine_dir, *log, *repository;
    uint64_t quarantine_copy_max; /* [integrity]; bytes of data copied to another filesystem */
    M2M_PF_RULE *rules;           /* [rules], in file order (first match wins) */
    size_t nrules;
    M2M_PF_EXEC *execs; /* [exec.PROGRAM] sections, in file order */
    size_t nexecs;
} M2M_POLICY_FILE;

/*
 * Read the policy file @p path (m2m_cf_read: no symlink in any component,
 * a regular file of at most M2M_POLICY_FILE_MAX bytes) and parse it with
 * m2m_policy_file_parse(). Returns 1, or 0 with err = "policy file PATH
 * [line N]: ..." and *pf empty.
 */
int m2m_policy_file_load(const char *path, M2M_POLICY_FILE *pf, M2M_ERRMSG *err);

/* Parse @p len bytes of policy text; @p path names the file in messages. */
int m2m_policy_file_parse(const char *path, const char *text, size_t len, M2M_POLICY_FILE *pf,
                          M2M_ERRMSG *err);

/* Free everything; *pf is zeroed. */
void m2m_policy_file_clear(M2M_POLICY_FILE *pf);

/*
 * The action words: "deny", "quarantine", "alert", "remediate"
 * (case-insensitive). M2M_PF_* or 0.
 */
int m2m_pf_action_parse(const char *text);

#endif
