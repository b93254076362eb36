/* SPDX-License-Identifier: Apache-2.0 */
/*
 * gateway: receives protected sensor readings over UDP and opens them.
 *
 * Binds 127.0.0.1:PORT, opens every datagram as one m2msec record
 * (libm2msec receiver session), follows the device's re-keys, and counts
 * what it accepted and what it rejected, by reason. It ends after a
 * silence of --idle-ms, after --expect records, at --max-ms, or on
 * SIGINT/SIGTERM, and prints a summary. See --help.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <openssl/err.h>

#include "common.h"

#define PROG "gateway"
#define MAX_MS (10 * 60 * 1000)
#define SEEN_SLOTS 65536 /* duplicate detection: fingerprints of accepted plaintexts */

static void usage(void)
{
    printf("Usage: " PROG " --port PORT --key-file FILE --state FILE [options]\n"
           "\n"
           "Receive m2msec records as UDP datagrams on 127.0.0.1:PORT, open them, and\n"
           "count accepted records and rejections by reason. Follows the device's re-keys.\n"
           "\n"
           "Options:\n"
           "  --port PORT          port on 127.0.0.1 to bind (required; 0 = any free port)\n"
           "  --port-file FILE     write the bound port to FILE once listening\n"
           "  --idle-ms MS         end after MS without any datagram (default 3000)\n"
           "  --max-ms MS          end after MS in any case (default 60000, at most %d)\n"
           "  --expect N           end once N records were accepted\n"
           "  --replay-window N    receiver replay window in records, 64..32768\n"
           "                       (default: provider policy)\n"
           "  --log FILE           append one line per ACCEPTED record to FILE, written once\n"
           "                       it is accepted: EPOCH SEQ SHA256-OF-PLAINTEXT (hex)\n"
           "  --reject-log FILE    append one line per rejected datagram to FILE:\n"
           "                       EPOCH SEQ REASON (as in the counts line; '- -' when the\n"
           "                       datagram is shorter than a record header)\n"
           "%s"
           "  -v, --verbose        print every accepted reading and every rejection\n"
           "  -h, --help           this text\n"
           "\n"
           "Summary: accepted, rejected by reason, epochs seen and re-keys, then\n"
           "  gateway: counts accepted=N rejected=N replayed=N outside_window=N auth=N\n"
           "           expired=N stale_epoch=N malformed=N other=N epochs=N rekeys=N\n"
           "           duplicates=N datagrams=N epoch_bound=N          (one line)\n"
           "\n"
           "Exit status: 0 ended normally (silence, --expect reached, signal); 1 failure\n"
           "(provider, key, state, socket, an internal or storage error while opening, or\n"
           "--expect not reached by --max-ms); 2 usage error.\n",
           MAX_MS, ex_session_help);
}

/* FNV-1a, 64 bit: fingerprint of an accepted plaintext (not a security function). */
static uint64_t fingerprint(const unsigned char *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;

    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h != 0 ? h : 1;
}

/* 1 if fp was seen before (then it is not stored again); the table is bounded. */
static int seen_before(uint64_t *slots, uint64_t fp)
{
    size_t i = (size_t)(fp % SEEN_SLOTS);

    for (size_t probes = 0; probes < SEEN_SLOTS; probes++, i = (i + 1) % SEEN_SLOTS) {
        if (slots[i] == fp)
            return 1;
        if (slots[i] == 0) {
            slots[i] = fp;
            return 0;
        }
    }
    return 0; /* full: no longer tracked */
}

/* Reason words of --reject-log, the keys of the counts line. */
static const char *reason_word(m2msec_session_status st)
{
    switch (st) {
    case M2MSEC_SESSION_ERR_REPLAY:
        return "replayed";
    case M2MSEC_SESSION_ERR_TOO_OLD:
        return "outside_window";
    case M2MSEC_SESSION_ERR_AUTH:
        return "auth";
    case M2MSEC_SESSION_ERR_EXPIRED:
        return "expired";
    case M2MSEC_SESSION_ERR_OLD_EPOCH:
        return "stale_epoch";
    case M2MSEC_SESSION_ERR_MALFORMED:
        return "malformed";
    case M2MSEC_SESSION_ERR_EPOCH_AHEAD:
    case M2MSEC_SESSION_ERR_RATE_LIMIT:
        return "epoch_bound"; /* refused before any derivation (docs/PROTOCOL.md 6.3) */
    default:
        return "other";
    }
}

/*
 * --reject-log: one line per rejected datagram, appended with a single
 * write(2), so a kill -9 loses at most the line being written.
 */
static int log_rejected(int fd, const unsigned char *rec, size_t len, m2msec_session_status st)
{
    char line[128];

    return ex_append_line(PROG, "a log line", fd, line,
                          ex_header_line(line, sizeof(line), rec, len, reason_word(st)));
}

int main(int argc, char **argv)
{
    static uint64_t seen[SEEN_SLOTS];
    static const m2msec_session_status reasons[] = {
        M2MSEC_SESSION_ERR_REPLAY,      M2MSEC_SESSION_ERR_TOO_OLD,    M2MSEC_SESSION_ERR_AUTH,
        M2MSEC_SESSION_ERR_EXPIRED,     M2MSEC_SESSION_ERR_OLD_EPOCH,  M2MSEC_SESSION_ERR_MALFORMED,
        M2MSEC_SESSION_ERR_EPOCH_AHEAD, M2MSEC_SESSION_ERR_RATE_LIMIT,
    };
    ex_session_opts so;
    ex_session es;
    uint64_t port = 0, idle = 3000, max_ms = 60000, expect = 0;
    uint64_t start, last, datagrams = 0, duplicates = 0, epochs = 0, max_epoch = 0;
    uint64_t min_epoch = 0, rekeys_seen = 0, other, epoch_bound, rejected = 0;
    unsigned char buf[EX_MAX_DATAGRAM], out[EX_MAX_DATAGRAM];
    const char *port_file = NULL, *v, *why = "silence", *log_path = NULL, *rej_path = NULL;
    m2msec_session_stats st;
    uint16_t bound = 0;
    int verbose = 0, have_port = 0, fd, log_fd = -1, rej_fd = -1, rc = EX_FAIL;

    ex_session_opts_init(&so);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage();
            return EX_OK;
        } else if (strcmp(argv[i], "-v") == 0 || strcmp(argv[i], "--verbose") == 0) {
            verbose = 1;
        } else if (ex_opt(PROG, argc, argv, &i, "--port", &v)) {
            port = ex_u64(PROG, "--port", v, 0, 65535);
            have_port = 1;
        } else if (ex_opt(PROG, argc, argv, &i, "--port-file", &port_file)) {
        } else if (ex_opt(PROG, argc, argv, &i, "--idle-ms", &v)) {
            idle = ex_u64(PROG, "--idle-ms", v, 1, MAX_MS);
        } else if (ex_opt(PROG, argc, argv, &i, "--max-ms", &v)) {
            max_ms = ex_u64(PROG, "--max-ms", v, 1, MAX_MS);
        } else if (ex_opt(PROG, argc, argv, &i, "--expect", &v)) {
            expect = ex_u64(PROG, "--expect", v, 1, UINT64_MAX);
        } else if (ex_opt(PROG, argc, argv, &i, "--replay-window", &v)) {
            so.replay_window = ex_u64(PROG, "--replay-window", v, 64, 32768);
        } else if (ex_opt(PROG, argc, argv, &i, "--log", &log_path)) {
        } else if (ex_opt(PROG, argc, argv, &i, "--reject-log", &rej_path)) {
        } else if (!ex_session_opt(PROG, &so, argc, argv, &i)) {
            ex_usage_error(PROG, "unknown argument '%s'", argv[i]);
        }
    }
    if (!have_port)
        ex_usage_error(PROG, "--port is required");
    ex_session_opts_check(PROG, &so);
    ex_catch_signals();

    if (!ex_session_open(PROG, &so, M2MSEC_SESSION_RECEIVER, &es))
        return EX_FAIL;
    if ((log_path != NULL && (log_fd = ex_open_log(PROG, log_path)) < 0) ||
        (rej_path != NULL && (rej_fd = ex_open_log(PROG, rej_path)) < 0))
        goto end;
    if ((fd = ex_udp_bind(PROG, (uint16_t)port, &bound)) < 0)
        goto end;
    if (port_file != NULL && !ex_write_port_file(PROG, port_file, bound))
        goto end_fd;
    printf(PROG ": %s <- %s, %s, listening on 127.0.0.1:%u\n", so.gateway_id, so.device_id, so.aead,
           (unsigned)bound);
    fflush(stdout);

    start = last = ex_now_ms();
    for (;;) {
        uint64_t now = ex_now_ms(), wait;
        size_t outlen = 0;
        m2msec_session_status ms;
        long n;

        if (ex_stop) {
            why = "signal";
            break;
        }
        if (now - start >= max_ms) {
            why = "--max-ms reached";
            break;
        }
        if (now - last >= idle)
            break;
        wait = idle - (now - last);
        if (wait > max_ms - (now - start))
            wait = max_ms - (now - start);
        n = ex_udp_recv(PROG, fd, buf, sizeof(buf), wait);
        if (n == -2)
            goto end_fd;
        if (n < 0)
            continue;
        last = ex_now_ms();
        datagrams++;
        if (!m2msec_session_open(es.s, buf, (size_t)n, out, sizeof(out), &outlen, &ms)) {
            if (verbose)
                printf(PROG ": rejected datagram %" PRIu64 " (%ld bytes): %s\n", datagrams, n,
                       m2msec_session_status_text(ms));
            if (ms == M2MSEC_SESSION_ERR_INTERNAL || ms == M2MSEC_SESSION_ERR_STORAGE) {
                fprintf(stderr, PROG ": datagram %" PRIu64 ": %s\n", datagrams,
                        m2msec_session_status_text(ms));
                ERR_print_errors_fp(stderr);
            }
            /* every refusal queues its error: handled, so drop it */
            ERR_clear_error();
            if (rej_fd >= 0 && !log_rejected(rej_fd, buf, (size_t)n, ms))
                goto end_fd;
            continue;
        }
        if (log_fd >= 0 && !ex_log_record(PROG, "a log line", log_fd, es.libctx, buf, out, outlen))
            goto end_fd;
        {
            uint64_t e = ex_header_epoch(buf);

            if (epochs == 0 || e > max_epoch) {
                if (epochs == 0)
                    min_epoch = e;
                epochs++;
                max_epoch = e;
            }
        }
        m2msec_session_get_stats(es.s, &st);
        if (st.rekeys != rekeys_seen) {
            printf(PROG ": re-key %" PRIu64 ": now in epoch %" PRIu64
                        " (key derived locally, first record of the epoch authenticated)\n",
                   st.rekeys, st.epoch);
            rekeys_seen = st.rekeys;
        }
        if (seen_before(seen, fingerprint(out, outlen))) {
            duplicates++;
            printf(PROG ": DUPLICATE reading accepted: %.*s\n", (int)outlen, (const char *)out);
        } else if (verbose) {
            printf(PROG ": accepted: %.*s\n", (int)outlen, (const char *)out);
        }
        fflush(stdout);
        if (expect != 0 && st.records >= expect) {
            why = "--expect reached";
            break;
        }
    }

    m2msec_session_get_stats(es.s, &st);
    other = st.rejected[M2MSEC_SESSION_ERR_BUFFER] + st.rejected[M2MSEC_SESSION_ERR_STORAGE] +
            st.rejected[M2MSEC_SESSION_ERR_INTERNAL];
    epoch_bound =
        st.rejected[M2MSEC_SESSION_ERR_EPOCH_AHEAD] + st.rejected[M2MSEC_SESSION_ERR_RATE_LIMIT];
    for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
        rejected += st.rejected[reasons[i]];
    rejected += other;
    printf(PROG ": ended after %" PRIu64 " ms (%s), %" PRIu64 " datagrams\n", ex_now_ms() - start,
           why, datagrams);
    printf(PROG ": accepted %" PRIu64 "\n", st.records);
    printf(PROG ": rejected %" PRIu64 ":", rejected);
    for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
        printf("%s %s %" PRIu64, i == 0 ? "" : ",", m2msec_session_status_text(reasons[i]),
               st.rejected[reasons[i]]);
    if (other != 0)
        printf(", other errors %" PRIu64, other);
    printf("\n");
    if (epochs == 0)
        printf(PROG ": epochs seen 0, re-keys %" PRIu64 "\n", st.rekeys);
    else
        printf(PROG ": epochs seen %" PRIu64 " (%" PRIu64 "..%" PRIu64 "), re-keys %" PRIu64 "\n",
               epochs, min_epoch, max_epoch, st.rekeys);
    printf(PROG ": counts accepted=%" PRIu64 " rejected=%" PRIu64 " replayed=%" PRIu64
                " outside_window=%" PRIu64 " auth=%" PRIu64 " expired=%" PRIu64
                " stale_epoch=%" PRIu64 " malformed=%" PRIu64 " other=%" PRIu64 " epochs=%" PRIu64
                " rekeys=%" PRIu64 " duplicates=%" PRIu64 " datagrams=%" PRIu64
                " epoch_bound=%" PRIu64 "\n",
           st.records, rejected, st.rejected[M2MSEC_SESSION_ERR_REPLAY],
           st.rejected[M2MSEC_SESSION_ERR_TOO_OLD], st.rejected[M2MSEC_SESSION_ERR_AUTH],
           st.rejected[M2MSEC_SESSION_ERR_EXPIRED], st.rejected[M2MSEC_SESSION_ERR_OLD_EPOCH],
           st.rejected[M2MSEC_SESSION_ERR_MALFORMED], other, epochs, st.rekeys, duplicates,
           datagrams, epoch_bound);
    rc = EX_OK;
    if (st.rejected[M2MSEC_SESSION_ERR_STORAGE] + st.rejected[M2MSEC_SESSION_ERR_INTERNAL] != 0) {
        fprintf(stderr, PROG ": internal or storage errors while opening records\n");
        rc = EX_FAIL;
    }
    if (expect != 0 && st.records < expect) {
        fprintf(stderr, PROG ": expected %" PRIu64 " records, accepted %" PRIu64 "\n", expect,
                st.records);
        rc = EX_FAIL;
    }
end_fd:
    close(fd);
end:
    if (log_fd >= 0)
        close(log_fd);
    if (rej_fd >= 0)
        close(rej_fd);
    ex_session_close(&es);
    return rc;
}
