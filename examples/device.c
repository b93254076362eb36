/* SPDX-License-Identifier: Apache-2.0 */
/*
 * device: an M2M sensor that sends protected readings over UDP.
 *
 * Each reading is a small JSON object sealed into one m2msec record
 * (libm2msec sender session) and sent as one datagram to 127.0.0.1:PORT.
 * The session re-keys by itself when an epoch key reaches its soft limit;
 * the device prints every epoch change. See --help.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <openssl/err.h>
#include <openssl/rand.h>

#include "common.h"

#define PROG "device"
#define MAX_COUNT 1000000
#define MAX_INTERVAL_MS 60000

static void usage(void)
{
    printf("Usage: " PROG " --port PORT --key-file FILE --state FILE [options]\n"
           "\n"
           "Send --count sensor readings, each sealed into one m2msec record, as UDP\n"
           "datagrams to 127.0.0.1:PORT (a gateway, or an attacker relay in front of it).\n"
           "The record session re-keys by itself; every epoch change is printed.\n"
           "\n"
           "Options:\n"
           "  --port PORT          destination port on 127.0.0.1 (required)\n"
           "  --count N            readings to send (default 100, at most %d)\n"
           "  --interval-ms MS     pause between readings (default 100, at most %d)\n"
           "  --log FILE           append one line per record to FILE, written before the\n"
           "                       record is sent: EPOCH SEQ SHA256-OF-PLAINTEXT (hex)\n"
           "%s"
           "  -v, --verbose        print every reading sent\n"
           "  -h, --help           this text\n"
           "\n"
           "Output: one line per epoch change, then\n"
           "  device: counts sent=N epochs=N rekeys=N first_epoch=E last_epoch=E\n"
           "\n"
           "Exit status: 0 all readings sent, 1 failure (provider, key, state, socket,\n"
           "sealing), 2 usage error.\n",
           MAX_COUNT, MAX_INTERVAL_MS, ex_session_help);
}

/* A reading that changes a little from record to record; `boot` tells runs apart. */
static int reading(char *buf, size_t cap, const char *id, const char *boot, uint64_t n,
                   uint64_t t_ms)
{
    unsigned temp = 180 + (unsigned)((n * 7) % 61); /* tenths of a degree */
    unsigned rh = 40 + (unsigned)((n * 13) % 21);

    return snprintf(buf, cap,
                    "{\"id\":\"%s\",\"boot\":\"%s\",\"n\":%" PRIu64 ",\"t_ms\":%" PRIu64
                    ",\"temp_c\":%u.%u,\"rh_pct\":%u}",
                    id, boot, n, t_ms, temp / 10, temp % 10, rh);
}

int main(int argc, char **argv)
{
    ex_session_opts so;
    ex_session es;
    uint64_t port = 0, count = 100, interval = 100, sent = 0, start, first_epoch = 0;
    unsigned char rec[EX_MAX_DATAGRAM], rnd[4];
    char text[512], boot[9];
    m2msec_session_stats st;
    int verbose = 0, fd, log_fd = -1, rc = EX_FAIL;
    const char *v, *log_path = NULL;

    ex_session_opts_init(&so);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage();
            return EX_OK;
        } else if (strcmp(argv[i], "-v") == 0 || strcmp(argv[i], "--verbose") == 0) {
            verbose = 1;
        } else if (ex_opt(PROG, argc, argv, &i, "--port", &v)) {
            port = ex_u64(PROG, "--port", v, 1, 65535);
        } else if (ex_opt(PROG, argc, argv, &i, "--count", &v)) {
            count = ex_u64(PROG, "--count", v, 0, MAX_COUNT);
        } else if (ex_opt(PROG, argc, argv, &i, "--interval-ms", &v)) {
            interval = ex_u64(PROG, "--interval-ms", v, 0, MAX_INTERVAL_MS);
        } else if (ex_opt(PROG, argc, argv, &i, "--log", &log_path)) {
        } else if (!ex_session_opt(PROG, &so, argc, argv, &i)) {
            ex_usage_error(PROG, "unknown argument '%s'", argv[i]);
        }
    }
    if (port == 0)
        ex_usage_error(PROG, "--port is required");
    ex_session_opts_check(PROG, &so);
    ex_catch_signals();

    if (!ex_session_open(PROG, &so, M2MSEC_SESSION_SENDER, &es))
        return EX_FAIL;
    if (log_path != NULL && (log_fd = ex_open_log(PROG, log_path)) < 0)
        goto end;
    if ((fd = ex_udp_bind(PROG, 0, NULL)) < 0)
        goto end;
    if (RAND_bytes_ex(es.libctx, rnd, sizeof(rnd), 0) <= 0) {
        ERR_print_errors_fp(stderr);
        goto end_fd;
    }
    snprintf(boot, sizeof(boot), "%02x%02x%02x%02x", rnd[0], rnd[1], rnd[2], rnd[3]);
    m2msec_session_get_stats(es.s, &st);
    first_epoch = st.epoch;
    printf(PROG ": %s -> %s, %s, sending %" PRIu64 " readings to 127.0.0.1:%u, epoch %" PRIu64 "\n",
           so.device_id, so.gateway_id, so.aead, count, (unsigned)port, st.epoch);
    fflush(stdout);

    start = ex_now_ms();
    for (uint64_t n = 1; n <= count && !ex_stop; n++) {
        uint64_t before = st.epoch;
        size_t reclen = 0;
        m2msec_session_status ms;
        int len = reading(text, sizeof(text), so.device_id, boot, n, ex_now_ms() - start);

        if (len < 0 || (size_t)len >= sizeof(text))
            goto end_fd;
        if (!m2msec_session_seal(es.s, (const unsigned char *)text, (size_t)len, rec, sizeof(rec),
                                 &reclen, &ms)) {
            fprintf(stderr, PROG ": cannot seal reading %" PRIu64 ": %s\n", n,
                    m2msec_session_status_text(ms));
            ERR_print_errors_fp(stderr);
            goto end_fd;
        }
        m2msec_session_get_stats(es.s, &st);
        if (st.epoch != before)
            printf(PROG ": re-key %" PRIu64 ": epoch %" PRIu64 " -> %" PRIu64 " at reading %" PRIu64
                        " (no message sent for it)\n",
                   st.rekeys, before, st.epoch, n);
        /* --log: the line is written before the record is sent, so every record on the
         * wire has its line */
        if (log_fd >= 0 && !ex_log_record(PROG, "the record log", log_fd, es.libctx, rec,
                                          (const unsigned char *)text, (size_t)len))
            goto end_fd;
        if (!ex_udp_send(fd, (uint16_t)port, rec, reclen)) {
            fprintf(stderr, PROG ": cannot send reading %" PRIu64 " to 127.0.0.1:%u\n", n,
                    (unsigned)port);
            goto end_fd;
        }
        sent++;
        if (verbose)
            printf(PROG ": sent %zu bytes, epoch %" PRIu64 ": %s\n", reclen, st.epoch, text);
        fflush(stdout);
        if (n < count && interval > 0)
            ex_sleep_ms(interval);
    }
    rc = sent == count ? EX_OK : EX_FAIL;
    if (rc != EX_OK)
        fprintf(stderr, PROG ": interrupted after %" PRIu64 " of %" PRIu64 " readings\n", sent,
                count);
    printf(PROG ": sent %" PRIu64 " readings in %" PRIu64 " ms, epochs %" PRIu64 "..%" PRIu64
                ", re-keys %" PRIu64 "\n",
           sent, ex_now_ms() - start, first_epoch, st.epoch, st.rekeys);
    printf(PROG ": counts sent=%" PRIu64 " epochs=%" PRIu64 " rekeys=%" PRIu64
                " first_epoch=%" PRIu64 " last_epoch=%" PRIu64 "\n",
           sent, st.epoch - first_epoch + 1, st.rekeys, first_epoch, st.epoch);
end_fd:
    close(fd);
end:
    if (log_fd >= 0)
        close(log_fd);
    ex_session_close(&es);
    return rc;
}
