/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libm2msec: key export from an established association (TS-0003 10.3.1,
 * docs/PROTOCOL.md 10.4): the RFC 5705 exporter with one of the three
 * oneM2M labels, no context, 48 bytes. The standard calls the key the 32
 * least significant bytes and the ID the 16 most significant ones without
 * saying how the output is read as a number; m2msec reads it big-endian
 * (the usual reading of an octet string as an integer, RFC 8017 OS2IP):
 * ID = bytes 0..15, key = bytes 16..47.
 */
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/ssl.h>

#include "association_internal.h"

const char *m2msec_association_export_label(int which)
{
    switch (which) {
    case M2MSEC_ASSOC_EXPORT_CONNECTION:
        return "EXPORTER-oneM2M-Connection";
    case M2MSEC_ASSOC_EXPORT_BOOTSTRAP:
        return "EXPORTER-oneM2M-Bootstrap";
    case M2MSEC_ASSOC_EXPORT_ESCERTKE:
        return "EXPORTER-oneM2M-ESCertKE";
    default:
        return NULL;
    }
}

int m2msec_association_export(SSL *ssl, int which, unsigned char key[M2MSEC_ASSOC_EXPORT_KEY_LEN],
                              unsigned char id[M2MSEC_ASSOC_EXPORT_ID_LEN])
{
    const char *label = m2msec_association_export_label(which);
    const M2M_ASSOC_CONN *c = m2m_assoc_conn_get(ssl);
    unsigned char out[M2MSEC_ASSOC_EXPORT_LEN];
    int ok;

    OPENSSL_cleanse(key, M2MSEC_ASSOC_EXPORT_KEY_LEN);
    OPENSSL_cleanse(id, M2MSEC_ASSOC_EXPORT_ID_LEN);
    if (label == NULL) {
        M2M_ASSOC_ERR(M2MSEC_R_ASSOC_EXPORT,
                      "unknown export label %d (1 Connection, 2 Bootstrap, "
                      "3 ESCertKE)",
                      which);
        return 0;
    }
    if (m2m_assoc_of(ssl) == NULL || c == NULL || c->established == 0 ||
        !SSL_is_init_finished(ssl)) {
        M2M_ASSOC_ERR(M2MSEC_R_ASSOC_STATE, "export needs an established association");
        return 0;
    }
    if (!c->psk_used) {
        M2M_ASSOC_ERR(M2MSEC_R_ASSOC_NOT_PSK, "the session was not authenticated by the "
                                              "association's PSK: nothing exported");
        return 0;
    }
    ok = SSL_export_keying_material(ssl, out, sizeof(out), label, strlen(label), NULL, 0, 0) == 1;
    if (!ok) {
        OPENSSL_cleanse(out, sizeof(out));
        M2M_ASSOC_ERR(M2MSEC_R_ASSOC_EXPORT, "the TLS exporter failed for label %s", label);
        return 0;
    }
    memcpy(id, out, M2MSEC_ASSOC_EXPORT_ID_LEN);
    memcpy(key, out + M2MSEC_ASSOC_EXPORT_ID_LEN, M2MSEC_ASSOC_EXPORT_KEY_LEN);
    OPENSSL_cleanse(out, sizeof(out));
    return 1;
}
