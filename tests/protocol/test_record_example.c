/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Checks the worked record examples of docs/PROTOCOL.md section 6.6
 * (values computed there by an independent implementation; one block per
 * example, the default AES-128-GCM and AES-128-CCM with an 8-byte tag): a
 * libm2msec sender must produce exactly the documented record bytes, and a
 * receiver must open them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <CUnit/Basic.h>
#include <openssl/crypto.h>
#include <openssl/err.h>

#include "m2msec/m2msec.h"
#include "m2msec/session.h"
#include "mem_store.h"
#include "test_run.h"
#include "session_call.h"

#define MAX_RECORDS 8
#define MAX_EXAMPLES 4

typedef struct {
    unsigned char key[64];
    long keylen;
    char originator[64], receiver[64], aead[64];
    unsigned long long stored_epoch, tag_len;
    int n;
    unsigned char *pt[MAX_RECORDS], *rec[MAX_RECORDS];
    long ptlen[MAX_RECORDS], reclen[MAX_RECORDS];
} example;

static example exs[MAX_EXAMPLES];
static int nex;
static OSSL_LIB_CTX *libctx;

static unsigned char *hex(const char *s, long *len)
{
    if (strcmp(s, "(empty)") == 0) {
        *len = 0;
        return OPENSSL_zalloc(1);
    }
    return OPENSSL_hexstr2buf(s, len);
}

/*
 * Parse every ```record-example block (key, originator, receiver,
 * stored-epoch, optional aead and tag-len, records); 1 on success.
 */
static int load_examples(const char *path)
{
    char line[1024];
    int in = 0, ok = 1;
    example *ex = NULL;
    FILE *f = fopen(path, "r");

    if (f == NULL)
        return 0;
    while (ok && fgets(line, sizeof(line), f) != NULL) {
        char b[512], c[512];
        unsigned long long seq;

        line[strcspn(line, "\n")] = '\0';
        if (!in) {
            in = strcmp(line, "```record-example") == 0;
            if (in) {
                ok = nex < MAX_EXAMPLES;
                ex = ok ? &exs[nex++] : NULL;
            }
            continue;
        }
        if (strcmp(line, "```") == 0) {
            ok = ex->n > 0 && ex->keylen > 0;
            in = 0;
            continue;
        }
        if (sscanf(line, "key = %511s", b) == 1) {
            unsigned char *k = hex(b, &ex->keylen);

            ok = k != NULL && ex->keylen <= (long)sizeof(ex->key);
            if (ok)
                memcpy(ex->key, k, (size_t)ex->keylen);
            OPENSSL_free(k);
        } else if (sscanf(line, "originator = %63s", ex->originator) == 1 ||
                   sscanf(line, "receiver = %63s", ex->receiver) == 1 ||
                   sscanf(line, "aead = %63s", ex->aead) == 1 ||
                   sscanf(line, "tag-len = %llu", &ex->tag_len) == 1 ||
                   sscanf(line, "stored-epoch = %llu", &ex->stored_epoch) == 1) {
            continue;
        } else if (sscanf(line, "record = %llu %511s %511s", &seq, c, b) == 3 &&
                   ex->n < MAX_RECORDS && seq == (unsigned long long)ex->n) {
            ex->pt[ex->n] = hex(c, &ex->ptlen[ex->n]);
            ex->rec[ex->n] = hex(b, &ex->reclen[ex->n]);
            ok = ex->pt[ex->n] != NULL && ex->rec[ex->n] != NULL;
            ex->n++;
        } else {
            ok = 0;
        }
    }
    fclose(f);
    return ok && !in && nex > 0;
}

static m2msec_session *make(const example *ex, m2msec_session_role role, mem_store *ms)
{
    m2msec_store store = mem_store_of(ms);
    m2msec_session_config cfg = {0};
    m2msec_session_policy pol = {0};

    pol.aead = ex->aead[0] != '\0' ? ex->aead : NULL;
    pol.tag_len = (size_t)ex->tag_len;
    cfg.role = role;
    cfg.libctx = libctx;
    cfg.key = ex->key;
    cfg.key_len = (size_t)ex->keylen;
    cfg.originator = ex->originator;
    cfg.receiver = ex->receiver;
    cfg.policy = &pol;
    cfg.store = &store;
    return m2msec_session_new(&cfg);
}

static void test_sender_matches_document(void)
{
    for (int e = 0; e < nex; e++) {
        const example *ex = &exs[e];
        mem_store ms = {0};
        m2msec_session *tx;
        unsigned char out[256];
        size_t outlen;

        ms.st.epoch = ex->stored_epoch; /* the state the document's sender starts from */
        ms.have = 1;
        tx = make(ex, M2MSEC_SESSION_SENDER, &ms);
        CU_ASSERT_PTR_NOT_NULL_FATAL(tx);
        CU_ASSERT_EQUAL(ms.st.epoch, ex->stored_epoch + 1); /* persisted before use */
        for (int i = 0; i < ex->n; i++) {
            CU_ASSERT_EQUAL(t_seal(tx, ex->pt[i], (size_t)ex->ptlen[i], out, sizeof(out), &outlen),
                            M2MSEC_SESSION_OK);
            CU_ASSERT_EQUAL(outlen, (size_t)ex->reclen[i]);
            CU_ASSERT(outlen == (size_t)ex->reclen[i] && memcmp(out, ex->rec[i], outlen) == 0);
        }
        m2msec_session_free(tx);
    }
}

static void test_receiver_opens_document(void)
{
    for (int e = 0; e < nex; e++) {
        const example *ex = &exs[e];
        mem_store ms = MEM_STORE_FIRST_START; /* a first start: m2msec_store_init's state */
        m2msec_session *rx = make(ex, M2MSEC_SESSION_RECEIVER, &ms);
        unsigned char out[256];
        size_t outlen;

        CU_ASSERT_PTR_NOT_NULL_FATAL(rx);
        for (int i = 0; i < ex->n; i++) {
            CU_ASSERT_EQUAL(
                t_open(rx, ex->rec[i], (size_t)ex->reclen[i], out, sizeof(out), &outlen),
                M2MSEC_SESSION_OK);
            CU_ASSERT(outlen == (size_t)ex->ptlen[i] && memcmp(out, ex->pt[i], outlen) == 0);
            /* and the same record again is a replay */
            CU_ASSERT_EQUAL(
                t_open(rx, ex->rec[i], (size_t)ex->reclen[i], out, sizeof(out), &outlen),
                M2MSEC_SESSION_ERR_REPLAY);
        }
        CU_ASSERT_EQUAL(ms.st.epoch, ex->stored_epoch + 1);
        m2msec_session_free(rx);
    }
}

int main(void)
{
    char path[4096];
    const char *src = getenv("M2M_SOURCE_DIR");
    static const tc_test tests[] = {
        {"sender reproduces PROTOCOL.md 6.6", test_sender_matches_document},
        {"receiver opens PROTOCOL.md 6.6", test_receiver_opens_document},
    };
    int rc;

    snprintf(path, sizeof(path), "%s/docs/PROTOCOL.md", src != NULL ? src : ".");
    if (!load_examples(path)) {
        fprintf(stderr, "cannot read the record-example blocks of %s\n", path);
        return 1;
    }
    libctx = OSSL_LIB_CTX_new();
    if (libctx == NULL || m2msec_provider_load(libctx, getenv("M2M_MODULES"), NULL) == NULL) {
        ERR_print_errors_fp(stderr);
        return 1;
    }
    rc = tc_run("test_record_example", "protocol record example", NULL, NULL, tests,
                sizeof(tests) / sizeof(tests[0]));
    printf("%d record examples\n", nex);
    for (int e = 0; e < nex; e++)
        for (int i = 0; i < exs[e].n; i++) {
            OPENSSL_free(exs[e].pt[i]);
            OPENSSL_free(exs[e].rec[i]);
        }
    OSSL_LIB_CTX_free(libctx);
    return rc;
}
