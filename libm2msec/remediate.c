/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libm2msec: the remediation action (m2msec_policy_apply dispatches to it
 * from actions.c; the rules every action follows are written there). The
 * download itself is fetch.c.
 *
 * Remediation downloads the expected copy into a temporary file in the
 * target's directory (O_EXCL), hashing it while writing; only when the
 * digest (and size, when recorded) equals the manifest does anything
 * change: the copy is exchanged with the old file in one step
 * (RENAME_EXCHANGE), checked, then the old file is moved to quarantine.
 * Every step has an undo, run in reverse order when a later step fails.
 * An undo puts the permission bits back while the entry is still in the
 * quarantine directory, before it is renamed back.
 */
#define _GNU_SOURCE /* renameat2(), RENAME_EXCHANGE, RENAME_NOREPLACE, O_PATH, SEEK_DATA */

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include <openssl/err.h>

#include "actions_internal.h"
#include "escape.h"
#include "fetch.h"
#include "m2msec/integrity.h"
#include "policy_internal.h"
#include "report_internal.h"
#include "safe_open.h"

typedef struct remedy {
    char dir[PATH_MAX], base[NAME_MAX + 1], tmp[64];
    const char *shown; /* the file's path, escaped */
    const m2m_ident *id;
    int pdfd;
    m2m_ident tmpid; /* our temporary file */
    size_t created;  /* offset of the first created directory, or (size_t)-1 */
    int tmp_present; /* our temporary file exists under tmp */
    int swapped;     /* new file at base, old one under tmp */
    int placed;      /* new file at base, nothing was there before */
    int quarantined;
    const char *qfrom; /* name the old file had when it was quarantined */
    qmove q;
} remedy;

/* Our new file still at pdfd/name? */
static int is_ours(const remedy *x, const char *name)
{
    return m2m_act_is_at(x->pdfd, name, &x->tmpid);
}

/* Undo, in reverse order, what the remediation did; append to @p why what could not be undone. */
static void remedy_undo(actx *c, remedy *x, char *why, size_t whylen)
{
    char extra[WHY_MAX];
    const m2m_ident *old = x->id; /* the old file: the verified one, or its copy put back */

    /* the new file placed where nothing was, or where the old one was before quarantine */
    if (x->placed && is_ours(x, x->base))
        unlinkat(x->pdfd, x->base, 0);
    if (x->quarantined) {
        if (m2m_act_quarantine_undo(c, x->pdfd, x->qfrom, x->shown, &x->q, extra, sizeof(extra)))
            old = &x->q.vid;
        else
            m2m_act_fmt_add(why, whylen, "; undo failed: %s", extra);
    }
    if (x->swapped) {
        if (renameat2(x->pdfd, x->tmp, x->pdfd, x->base, RENAME_EXCHANGE) != 0)
            m2m_act_fmt_add(why, whylen, "; undo failed: cannot swap back (%s)", strerror(errno));
        else if (!m2m_act_is_at(x->pdfd, x->base, old))
            m2m_act_fmt_add(why, whylen,
                            "; undo failed: after swapping back, %s is not the old file", x->shown);
    }
    if ((x->tmp_present || x->swapped) && is_ours(x, x->tmp))
        unlinkat(x->pdfd, x->tmp, 0);
    (void)fsync(x->pdfd);
    close(x->pdfd);
    x->pdfd = -1;
    m2m_act_remove_created(c, x->dir, x->created);
}

static int hook_fail(const char *step, const char *path, char *why, size_t whylen)
{
    int err = m2m_act_hook(step, path);

    if (err != 0)
        m2m_act_fmt(why, whylen, "failure after step '%s': %s", step, strerror(err));
    return err != 0;
}

/*
 * After the exchange of our copy (x->tmp) with the old file (x->base):
 * is our copy at base and the verified old file under tmp? 1, or 0 with a
 * reason.
 */
static int exchange_ok(remedy *x, char *why, size_t whylen)
{
    if (!m2m_act_is_at(x->pdfd, x->base, &x->tmpid) || !m2m_act_is_at(x->pdfd, x->tmp, x->id)) {
        m2m_act_fmt(why, whylen, "%s changed while it was being replaced; not touched", x->shown);
        return 0;
    }
    return 1;
}

int m2m_act_remediate(actx *c, const m2msec_file_result *res, const char *shown,
                      const m2m_ident *id, const m2msec_manifest_entry *e, char *done,
                      size_t donelen, char *why, size_t whylen)
{
    unsigned char md[M2MSEC_DIGEST_MAX];
    size_t mdlen = sizeof(md);
    uint64_t nbytes = 0, limit;
    char repo[M2M_ESC_NAME];
    remedy x;
    int tmpfd = -1, pfd;
    struct stat st;

    memset(&x, 0, sizeof(x));
    x.pdfd = -1;
    x.created = (size_t)-1;
    x.shown = shown;
    x.id = id;
    m2m_repository_display(m2m_policy_repository(c->pol), repo, sizeof(repo));
    if (!m2m_act_split_path(res->path, x.dir, sizeof(x.dir), x.base, sizeof(x.base))) {
        m2m_act_fmt(why, whylen, "path too long");
        return 0;
    }
    if (res->status != M2MSEC_FILE_MISSING && !id->known) {
        m2m_act_fmt(
            why, whylen,
            "what is at %s could not be looked at during verification, so it cannot be told "
            "from something put there since; not touched",
            shown);
        return 0;
    }
    x.pdfd = res->status == M2MSEC_FILE_MISSING
                 ? m2m_act_open_or_create_dir(c, x.dir, &x.created, why, whylen)
                 : m2m_act_open_dir_beneath(c, x.dir);
    if (x.pdfd < 0) {
        if (res->status != M2MSEC_FILE_MISSING)
            m2m_act_why_open_dir(c, x.dir, errno, why, whylen);
        return 0;
    }
    /* before anything is written: is the entry still the verified one (or still absent)? */
    if (res->status == M2MSEC_FILE_MISSING) {
        if (fstatat(x.pdfd, x.base, &st, AT_SYMLINK_NOFOLLOW) == 0) {
            m2m_act_fmt(why, whylen, "%s was missing when verified and is there now; not touched",
                        shown);
            goto fail;
        }
    } else {
        pfd = m2m_act_open_ident(x.pdfd, x.base, id, &st, NULL);
        if (pfd < 0) {
            m2m_act_why_ident(shown, id, errno, &st, "since it was verified", why, whylen);
            goto fail;
        }
        close(pfd);
        if (!S_ISDIR(st.st_mode) && st.st_nlink > 1) {
            m2m_act_fmt(
                why, whylen,
                "%s has %ju hard links: its old copy could not be quarantined without changing "
                "the file under its other names; not touched (remove the other links)",
                shown, (uintmax_t)st.st_nlink);
            goto fail;
        }
    }

    /* 1. download into a new temporary file next to the target, hashing it */
    for (int n = 0; n < 100 && tmpfd < 0; n++) {
        m2m_act_fmt(x.tmp, sizeof(x.tmp), ".m2msec-%ld-%u.tmp", (long)getpid(), c->seq++);
        tmpfd = openat(x.pdfd, x.tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (tmpfd < 0 && errno != EEXIST)
            break;
    }
    if (tmpfd < 0) {
        char dshown[M2M_ESC_NAME];

        m2m_act_fmt(why, whylen, "cannot create a temporary file in %s: %s",
                    x.dir[0] ? m2m_esc(x.dir, dshown, sizeof(dshown)) : "the root",
                    strerror(errno));
        goto fail;
    }
    x.tmp_present = 1;
    if (m2m_ident_fd(tmpfd, &x.tmpid) != 0) {
        m2m_act_fmt(why, whylen, "cannot stat the temporary file: %s", strerror(errno));
        goto fail;
    }
    limit = e->size >= 0 ? (uint64_t)e->size : M2M_FETCH_MAX;
    if (!m2m_fetch(c->libctx, m2m_policy_repository(c->pol), res->path, tmpfd,
                   m2msec_manifest_digest(c->m), limit, md, &mdlen, &nbytes, why, whylen))
        goto fail;
    if (mdlen != e->digest_len || CRYPTO_memcmp(md, e->digest, mdlen) != 0) {
        m2m_act_fmt(why, whylen, "the copy from %s does not match the manifest digest", repo);
        goto fail;
    }
    if (e->size >= 0 && nbytes != (uint64_t)e->size) {
        m2m_act_fmt(why, whylen, "the copy from %s has %llu bytes, the manifest says %lld", repo,
                    (unsigned long long)nbytes, (long long)e->size);
        goto fail;
    }
    if (fchmod(tmpfd, e->mode >= 0 ? (mode_t)e->mode : 0644) != 0 || fsync(tmpfd) != 0) {
        m2m_act_fmt(why, whylen, "cannot write the temporary file: %s", strerror(errno));
        goto fail;
    }
    if (close(tmpfd) != 0) {
        tmpfd = -1;
        m2m_act_fmt(why, whylen, "cannot write the temporary file: %s", strerror(errno));
        goto fail;
    }
    tmpfd = -1;
    if (hook_fail("downloaded", res->path, why, whylen))
        goto fail;

    /* 2. put it in place */
    if (res->status == M2MSEC_FILE_MISSING) {
        /* nothing there (missing): no old file to keep */
        if (m2m_act_rename_noreplace(x.pdfd, x.tmp, x.pdfd, x.base) != 0) {
            if (errno == EEXIST)
                m2m_act_fmt(why, whylen,
                            "%s was missing when verified and is there now; not touched", shown);
            else
                m2m_act_fmt(why, whylen, "cannot rename the verified copy into place: %s",
                            strerror(errno));
            goto fail;
        }
        x.tmp_present = 0;
        x.placed = 1;
        if (!is_ours(&x, x.base)) {
            m2m_act_fmt(why, whylen, "%s changed while it was being restored", shown);
            goto fail;
        }
    } else if (renameat2(x.pdfd, x.tmp, x.pdfd, x.base, RENAME_EXCHANGE) == 0) {
        x.swapped = 1; /* the old file is now under x.tmp */
        x.tmp_present = 0;
        if (!exchange_ok(&x, why, whylen))
            goto fail;
        if (hook_fail("swapped", res->path, why, whylen))
            goto fail;
        if (m2m_act_quarantine_entry(c, x.pdfd, x.tmp, res->path, shown, id, &x.q, why, whylen) !=
            Q_DONE) {
            if (why[0] == '\0')
                m2m_act_fmt(why, whylen, "%s disappeared while it was being replaced", shown);
            goto fail;
        }
        x.quarantined = 1;
        x.qfrom = x.tmp;
    } else if (errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP) {
        /* no RENAME_EXCHANGE here: old file to quarantine first, then the copy in place */
        if (m2m_act_quarantine_entry(c, x.pdfd, x.base, res->path, shown, id, &x.q, why, whylen) !=
            Q_DONE) {
            if (why[0] == '\0')
                m2m_act_fmt(why, whylen, "%s disappeared while it was being replaced", shown);
            goto fail;
        }
        x.quarantined = 1;
        x.qfrom = x.base;
        if (m2m_act_rename_noreplace(x.pdfd, x.tmp, x.pdfd, x.base) != 0) {
            m2m_act_fmt(why, whylen, "cannot rename the verified copy into place: %s",
                        strerror(errno));
            goto fail;
        }
        x.tmp_present = 0;
        x.placed = 1;
        if (!is_ours(&x, x.base)) {
            m2m_act_fmt(why, whylen, "%s changed while it was being replaced", shown);
            goto fail;
        }
    } else {
        m2m_act_fmt(why, whylen, "cannot exchange %s with the verified copy: %s", shown,
                    strerror(errno));
        goto fail;
    }
    if (x.quarantined && hook_fail("quarantined", res->path, why, whylen))
        goto fail;
    if (fsync(x.pdfd) != 0) {
        m2m_act_fmt(why, whylen, "cannot sync the directory of %s: %s", shown, strerror(errno));
        goto fail;
    }
    if (x.quarantined)
        m2m_act_fmt(done, donelen, "replaced by the verified copy from %s; old file in %s/%s", repo,
                    c->qshown, x.q.name);
    else
        m2m_act_fmt(done, donelen, "restored from %s", repo);
    close(x.pdfd);
    return 1;
fail:
    if (tmpfd >= 0)
        close(tmpfd);
    remedy_undo(c, &x, why, whylen);
    return 0;
}
