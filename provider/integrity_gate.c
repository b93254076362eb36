/*
 * m2msec provider: the integrity gate. With the policy's require_integrity,
 * M2M-SESSION-KDF derives session keys only while the device's last
 * verification result (the status record the verifier writes,
 * authenticated with HMAC-SHA-256 under the device key) says passed.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "errors.h"
#include "integrity_gate.h"
#include "integrity_status.h"

int m2m_integrity_gate(const M2M_PROVCTX *pc)
{
    const M2M_POLICY *pol = &pc->policy;
    char buf[M2M_STATUS_MAX];
    M2M_INTEGRITY_STATUS st;
    const char *why;
    ssize_t n;
    int fd;

    if (!pol->require_integrity)
        return 1;
    fd = open(pol->status_path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        M2M_RAISE(M2M_R_INTEGRITY_FAILED,
                  "session keys refused: no device integrity status at %s (%s); run m2msec "
                  "verify",
                  pol->status_path, strerror(errno));
        return 0;
    }
    n = read(fd, buf, sizeof(buf));
    close(fd);
    if (n < 0) {
        M2M_RAISE(M2M_R_INTEGRITY_FAILED, "session keys refused: cannot read %s", pol->status_path);
        return 0;
    }
    why = m2m_status_verify(pc->hmac, pol->device_key, pol->device_key_len, buf, (size_t)n, &st);
    if (why != NULL) {
        M2M_RAISE(M2M_R_INTEGRITY_FAILED, "session keys refused: %s: %s", pol->status_path, why);
        return 0;
    }
    if (!st.passed) {
        M2M_RAISE(M2M_R_INTEGRITY_FAILED,
                  "session keys refused: the device failed integrity verification (manifest "
                  "version %llu); remediate and verify again",
                  (unsigned long long)st.manifest_version);
        return 0;
    }
    return 1;
}
