/* SPDX-License-Identifier: Apache-2.0 */
/*
 * attacker: a man-in-the-middle UDP relay between device and gateway.
 *
 * It holds no key. It forwards every datagram it receives exactly once
 * (device -> attacker -> gateway) and, with the given probabilities, also
 * attacks the stream:
 *
 *   replay    re-send a copy of an earlier datagram it already forwarded
 *   reorder   hold a datagram and forward it after the next one
 *   truncate  send a copy cut to a random shorter length
 *   flip      send a copy with one random bit flipped in the header,
 *             the ciphertext or the tag
 *
 * Truncated and flipped copies go out just BEFORE the original, so they
 * test authentication: a copy sent after its original would be refused by
 * the replay check before any decryption. Replays go out after the
 * original they copy. Every injected datagram must therefore be rejected
 * by the gateway, and every original accepted.
 *
 * Wire faults (all off by default; tests/faults uses them): an original
 * may be lost (--loss-pct), duplicated (--dup-pct) or corrupted in place
 * (--corrupt-pct, one bit flipped, no intact copy sent). --log records the
 * fate of every original, --capture the intact originals forwarded, and
 * --replay-file sends captured datagrams again (no relaying). See --help.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

#define PROG "attacker"
#define MAX_MS (10 * 60 * 1000)
#define HISTORY 512 /* datagrams kept for replays */
#define HDR_LEN 11  /* m2msec record header: version | epoch (4) | seq (6) */
#define TAG_LEN 16  /* AEAD tag at the end of a record */

typedef struct {
    unsigned char b[EX_MAX_DATAGRAM];
    size_t len;
    int dup;     /* --dup-pct: forward it twice */
    int corrupt; /* --corrupt-pct: a bit of the original was flipped */
} datagram;

typedef struct {
    uint64_t received, forwarded, reordered, flushed, replayed, truncated;
    uint64_t flip_version, flip_epoch, flip_seq, flip_ct, flip_tag, send_errors;
    uint64_t dropped, duplicated, corrupted;
} counters;

typedef struct {
    int out;       /* socket towards the gateway */
    uint16_t port; /* gateway port */
    int verbose;
    uint64_t rng;
    counters c;
    datagram hist[HISTORY];
    uint64_t nhist; /* total ever stored; slot = nhist % HISTORY */
    int log_fd;     /* --log, or -1 */
    int cap_fd;     /* --capture, or -1 */
} relay;

static void usage(void)
{
    printf("Usage: " PROG " --listen PORT --forward PORT [options]\n"
           "\n"
           "Man-in-the-middle UDP relay on 127.0.0.1: forwards every datagram from the\n"
           "device to the gateway exactly once, and injects attacks. It has no key.\n"
           "\n"
           "Options:\n"
           "  --listen PORT        port on 127.0.0.1 to receive on (required; 0 = any free)\n"
           "  --forward PORT       gateway port on 127.0.0.1 (required)\n"
           "  --port-file FILE     write the listening port to FILE once listening\n"
           "  --replay-pct P       per datagram: also re-send an earlier forwarded datagram\n"
           "                       (default 10)\n"
           "  --reorder-pct P      hold a datagram, forward it after the next one (default 10)\n"
           "  --truncate-pct P     also send a truncated copy first (default 5)\n"
           "  --flip-pct P         also send a copy with one bit flipped first (default 10)\n"
           "  --loss-pct P         wire fault: drop the original (default 0)\n"
           "  --dup-pct P          wire fault: forward the original twice (default 0)\n"
           "  --corrupt-pct P      wire fault: flip one bit of the original itself and\n"
           "                       forward only that (default 0)\n"
           "  --log FILE           append one line per datagram received: EPOCH SEQ FATE\n"
           "                       (header as received; FATE fwd, dup, corrupt or drop)\n"
           "  --capture FILE       append every intact original forwarded, one hex line each\n"
           "  --replay-file FILE   no relay: send every datagram of FILE (hex lines, as\n"
           "                       written by --capture) to --forward, then exit\n"
           "  --interval-ms MS     pause between datagrams of --replay-file (default 1)\n"
           "  --seed N             random seed (default: from the clock; printed)\n"
           "  --idle-ms MS         end after MS without any datagram; a held datagram is\n"
           "                       forwarded first (default 1000)\n"
           "  --max-ms MS          end after MS in any case (default 60000, at most %d)\n"
           "  -v, --verbose        print every action\n"
           "  -h, --help           this text\n"
           "\n"
           "Summary ends with one line\n"
           "  attacker: counts received=N forwarded=N reordered=N flushed=N replayed=N\n"
           "            truncated=N flipped=N flipped_version=N flipped_epoch=N flipped_seq=N\n"
           "            flipped_ciphertext=N flipped_tag=N injected=N dropped=N\n"
           "            duplicated=N corrupted=N\n"
           "(injected = replays + truncated + flipped copies + duplicates; dropped and\n"
           "corrupted originals are not injected). With --replay-file:\n"
           "  attacker: counts sent=N\n"
           "\n"
           "Exit status: 0 ended normally (silence, --max-ms, signal) and every datagram\n"
           "was sent or dropped on purpose; 1 failure (socket, send or file error);\n"
           "2 usage error.\n",
           MAX_MS);
}

/* splitmix64: reproducible attack choices from --seed (not for cryptography). */
static uint64_t rnd(relay *r)
{
    uint64_t z = (r->rng += 0x9e3779b97f4a7c15ull);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static int chance(relay *r, uint64_t pct)
{
    return rnd(r) % 100 < pct;
}

static uint64_t below(relay *r, uint64_t n)
{
    return n == 0 ? 0 : rnd(r) % n;
}

static void send_dg(relay *r, const unsigned char *b, size_t len)
{
    if (!ex_udp_send(r->out, r->port, b, len)) {
        r->c.send_errors++;
        fprintf(stderr, PROG ": cannot send %zu bytes to 127.0.0.1:%u\n", len, (unsigned)r->port);
    }
}

/* Append one line (ex_append_line); a failure counts as a send error. */
static void append_line(relay *r, int fd, const char *line, size_t len)
{
    if (!ex_append_line(PROG, "a log line", fd, line, len))
        r->c.send_errors++;
}

/* --log: the fate of an original, with the header it arrived with. */
static void log_fate(relay *r, const datagram *d, const char *fate)
{
    char line[128];

    if (r->log_fd >= 0)
        append_line(r, r->log_fd, line, ex_header_line(line, sizeof(line), d->b, d->len, fate));
}

/* --capture: an intact original as one hex line. */
static void capture(relay *r, const datagram *d)
{
    char line[2 * EX_MAX_DATAGRAM + 2];
    size_t i;

    if (r->cap_fd < 0 || d->corrupt)
        return;
    for (i = 0; i < d->len; i++)
        snprintf(line + 2 * i, 3, "%02x", d->b[i]);
    line[2 * i] = '\n';
    append_line(r, r->cap_fd, line, 2 * i + 1);
}

/* Forward an original datagram and remember it for later replays. */
static void forward(relay *r, const datagram *d)
{
    send_dg(r, d->b, d->len);
    r->c.forwarded++;
    capture(r, d);
    if (d->dup) {
        send_dg(r, d->b, d->len);
        r->c.duplicated++;
        if (r->verbose)
            printf(PROG ": duplicate: datagram forwarded twice\n");
    }
    r->hist[r->nhist % HISTORY] = *d;
    r->nhist++;
}

/* --corrupt-pct: one random bit of the original itself. */
static void corrupt_original(relay *r, datagram *d)
{
    size_t pos;

    if (d->len == 0)
        return;
    pos = (size_t)below(r, d->len);
    d->b[pos] ^= (unsigned char)(1u << below(r, 8));
    d->corrupt = 1;
    r->c.corrupted++;
    if (r->verbose)
        printf(PROG ": corrupt: datagram %" PRIu64 " forwarded with a bit of byte %zu flipped\n",
               r->c.received, pos);
}

/* --replay-file: send every hex line of path to the gateway; 1 if all were sent. */
static int replay_file(relay *r, const char *path, uint64_t interval)
{
    FILE *f = fopen(path, "r");
    char *line = NULL;
    size_t cap = 0, lineno = 0;
    uint64_t sent = 0;
    ssize_t n;
    int ok = 1;

    if (f == NULL) {
        fprintf(stderr, PROG ": cannot open %s: %s\n", path, strerror(errno));
        return 0;
    }
    while (!ex_stop && (n = getline(&line, &cap, f)) >= 0) {
        datagram d;
        size_t len;

        lineno++;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            n--;
        len = (size_t)n / 2;
        if (n == 0 || n % 2 != 0 || len > sizeof(d.b)) {
            fprintf(stderr, PROG ": %s:%zu: not a hex datagram\n", path, lineno);
            ok = 0;
            break;
        }
        for (size_t i = 0; i < len; i++) {
            int hi = ex_hexval(line[2 * i]), lo = ex_hexval(line[2 * i + 1]);

            if (hi < 0 || lo < 0) {
                fprintf(stderr, PROG ": %s:%zu: not a hex datagram\n", path, lineno);
                ok = 0;
                goto end;
            }
            d.b[i] = (unsigned char)(hi << 4 | lo);
        }
        send_dg(r, d.b, len);
        sent++;
        if (interval > 0)
            ex_sleep_ms(interval);
    }
end:
    free(line);
    if (ferror(f)) {
        fprintf(stderr, PROG ": cannot read %s\n", path);
        ok = 0;
    }
    fclose(f);
    printf(PROG ": sent %" PRIu64 " datagrams from %s to 127.0.0.1:%u\n", sent, path,
           (unsigned)r->port);
    printf(PROG ": counts sent=%" PRIu64 "\n", sent);
    return ok && r->c.send_errors == 0;
}

static void flip_copy(relay *r, const datagram *d)
{
    datagram x = *d;
    size_t ctlen = d->len > HDR_LEN + TAG_LEN ? d->len - HDR_LEN - TAG_LEN : 0;
    size_t pos;
    const char *where;

    if (d->len == 0)
        return;
    switch (ctlen > 0 ? below(r, 3) : 0) {
    case 1:
        pos = HDR_LEN + (size_t)below(r, ctlen);
        break;
    case 2:
        pos = d->len - TAG_LEN + (size_t)below(r, TAG_LEN);
        break;
    default:
        pos = (size_t)below(r, d->len < HDR_LEN ? d->len : HDR_LEN);
        break;
    }
    x.b[pos] ^= (unsigned char)(1u << below(r, 8));
    if (pos == 0) {
        r->c.flip_version++;
        where = "version";
    } else if (pos < 5) {
        r->c.flip_epoch++;
        where = "epoch";
    } else if (pos < HDR_LEN) {
        r->c.flip_seq++;
        where = "sequence number";
    } else if (pos < d->len - TAG_LEN) {
        r->c.flip_ct++;
        where = "ciphertext";
    } else {
        r->c.flip_tag++;
        where = "tag";
    }
    if (r->verbose)
        printf(PROG ": flip: copy of datagram %" PRIu64 " with a bit of byte %zu (%s) flipped\n",
               r->c.received, pos, where);
    send_dg(r, x.b, x.len);
}

static void truncate_copy(relay *r, const datagram *d)
{
    size_t len;

    if (d->len == 0)
        return;
    len = (size_t)below(r, d->len);
    r->c.truncated++;
    if (r->verbose)
        printf(PROG ": truncate: copy of datagram %" PRIu64 " cut from %zu to %zu bytes\n",
               r->c.received, d->len, len);
    send_dg(r, d->b, len);
}

static void replay_one(relay *r)
{
    uint64_t n = r->nhist < HISTORY ? r->nhist : HISTORY;
    uint64_t back;
    const datagram *d;

    if (n == 0)
        return;
    back = below(r, n); /* 0: the latest */
    d = &r->hist[(r->nhist - 1 - back) % HISTORY];
    r->c.replayed++;
    if (r->verbose)
        printf(PROG ": replay: datagram forwarded %" PRIu64 " datagrams ago, again\n", back);
    send_dg(r, d->b, d->len);
}

static void summary(const relay *r, uint64_t ms, const char *why)
{
    const counters *c = &r->c;
    uint64_t flipped = c->flip_version + c->flip_epoch + c->flip_seq + c->flip_ct + c->flip_tag;
    uint64_t injected = c->replayed + c->truncated + flipped + c->duplicated;

    printf(PROG ": ended after %" PRIu64 " ms (%s)\n", ms, why);
    printf(PROG ": forwarded %" PRIu64 " of %" PRIu64 " datagrams, each exactly once (%" PRIu64
                " reordered, %" PRIu64 " held until the end)\n",
           c->forwarded, c->received, c->reordered, c->flushed);
    printf(PROG ": injected %" PRIu64 ": %" PRIu64 " replays, %" PRIu64
                " truncated copies, %" PRIu64 " bit-flipped copies (version %" PRIu64
                ", epoch %" PRIu64 ", sequence %" PRIu64 ", ciphertext %" PRIu64 ", tag %" PRIu64
                ")\n",
           injected, c->replayed, c->truncated, flipped, c->flip_version, c->flip_epoch,
           c->flip_seq, c->flip_ct, c->flip_tag);
    if (c->dropped + c->duplicated + c->corrupted != 0)
        printf(PROG ": wire faults: %" PRIu64 " originals dropped, %" PRIu64
                    " duplicated (counted as injected), %" PRIu64 " corrupted\n",
               c->dropped, c->duplicated, c->corrupted);
    printf(PROG ": counts received=%" PRIu64 " forwarded=%" PRIu64 " reordered=%" PRIu64
                " flushed=%" PRIu64 " replayed=%" PRIu64 " truncated=%" PRIu64 " flipped=%" PRIu64
                " flipped_version=%" PRIu64 " flipped_epoch=%" PRIu64 " flipped_seq=%" PRIu64
                " flipped_ciphertext=%" PRIu64 " flipped_tag=%" PRIu64 " injected=%" PRIu64
                " dropped=%" PRIu64 " duplicated=%" PRIu64 " corrupted=%" PRIu64 "\n",
           c->received, c->forwarded, c->reordered, c->flushed, c->replayed, c->truncated, flipped,
           c->flip_version, c->flip_epoch, c->flip_seq, c->flip_ct, c->flip_tag, injected,
           c->dropped, c->duplicated, c->corrupted);
}

int main(int argc, char **argv)
{
    static relay r;
    static datagram in, held;
    uint64_t listen = 0, fwd = 0, replay = 10, reorder = 10, trunc = 5, flip = 10;
    uint64_t idle = 1000, max_ms = 60000, start, last;
    uint64_t loss = 0, dup = 0, corrupt = 0, interval = 1;
    const char *port_file = NULL, *v, *why = "silence";
    const char *log_path = NULL, *cap_path = NULL, *replay_path = NULL;
    int have_listen = 0, have_held = 0, have_seed = 0, fd = -1, rc = EX_FAIL;
    uint16_t bound = 0;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage();
            return EX_OK;
        } else if (strcmp(argv[i], "-v") == 0 || strcmp(argv[i], "--verbose") == 0) {
            r.verbose = 1;
        } else if (ex_opt(PROG, argc, argv, &i, "--listen", &v)) {
            listen = ex_u64(PROG, "--listen", v, 0, 65535);
            have_listen = 1;
        } else if (ex_opt(PROG, argc, argv, &i, "--forward", &v)) {
            fwd = ex_u64(PROG, "--forward", v, 1, 65535);
        } else if (ex_opt(PROG, argc, argv, &i, "--port-file", &port_file)) {
        } else if (ex_opt(PROG, argc, argv, &i, "--replay-pct", &v)) {
            replay = ex_u64(PROG, "--replay-pct", v, 0, 100);
        } else if (ex_opt(PROG, argc, argv, &i, "--reorder-pct", &v)) {
            reorder = ex_u64(PROG, "--reorder-pct", v, 0, 100);
        } else if (ex_opt(PROG, argc, argv, &i, "--truncate-pct", &v)) {
            trunc = ex_u64(PROG, "--truncate-pct", v, 0, 100);
        } else if (ex_opt(PROG, argc, argv, &i, "--flip-pct", &v)) {
            flip = ex_u64(PROG, "--flip-pct", v, 0, 100);
        } else if (ex_opt(PROG, argc, argv, &i, "--loss-pct", &v)) {
            loss = ex_u64(PROG, "--loss-pct", v, 0, 100);
        } else if (ex_opt(PROG, argc, argv, &i, "--dup-pct", &v)) {
            dup = ex_u64(PROG, "--dup-pct", v, 0, 100);
        } else if (ex_opt(PROG, argc, argv, &i, "--corrupt-pct", &v)) {
            corrupt = ex_u64(PROG, "--corrupt-pct", v, 0, 100);
        } else if (ex_opt(PROG, argc, argv, &i, "--log", &log_path)) {
        } else if (ex_opt(PROG, argc, argv, &i, "--capture", &cap_path)) {
        } else if (ex_opt(PROG, argc, argv, &i, "--replay-file", &replay_path)) {
        } else if (ex_opt(PROG, argc, argv, &i, "--interval-ms", &v)) {
            interval = ex_u64(PROG, "--interval-ms", v, 0, 60000);
        } else if (ex_opt(PROG, argc, argv, &i, "--seed", &v)) {
            r.rng = ex_u64(PROG, "--seed", v, 0, UINT64_MAX);
            have_seed = 1;
        } else if (ex_opt(PROG, argc, argv, &i, "--idle-ms", &v)) {
            idle = ex_u64(PROG, "--idle-ms", v, 1, MAX_MS);
        } else if (ex_opt(PROG, argc, argv, &i, "--max-ms", &v)) {
            max_ms = ex_u64(PROG, "--max-ms", v, 1, MAX_MS);
        } else {
            ex_usage_error(PROG, "unknown argument '%s'", argv[i]);
        }
    }
    if (replay_path != NULL && fwd == 0)
        ex_usage_error(PROG, "--replay-file needs --forward");
    if (replay_path == NULL && (!have_listen || fwd == 0))
        ex_usage_error(PROG, "--listen and --forward are required");
    if (!have_seed)
        r.rng = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
    r.port = (uint16_t)fwd;
    r.log_fd = r.cap_fd = -1;
    ex_catch_signals();

    if (replay_path != NULL) {
        if ((r.out = ex_udp_bind(PROG, 0, NULL)) < 0)
            return EX_FAIL;
        rc = replay_file(&r, replay_path, interval) ? EX_OK : EX_FAIL;
        close(r.out);
        return rc;
    }
    if (log_path != NULL && (r.log_fd = ex_open_log(PROG, log_path)) < 0)
        return EX_FAIL;
    if (cap_path != NULL && (r.cap_fd = ex_open_log(PROG, cap_path)) < 0)
        goto end_files;
    if ((fd = ex_udp_bind(PROG, (uint16_t)listen, &bound)) < 0)
        goto end_files;
    if ((r.out = ex_udp_bind(PROG, 0, NULL)) < 0)
        goto end_fd;
    if (port_file != NULL && !ex_write_port_file(PROG, port_file, bound))
        goto end;
    printf(PROG ": relaying 127.0.0.1:%u -> 127.0.0.1:%u, seed %" PRIu64 ", replay %" PRIu64
                " %%, reorder %" PRIu64 " %%, truncate %" PRIu64 " %%, flip %" PRIu64 " %%\n",
           (unsigned)bound, (unsigned)fwd, r.rng, replay, reorder, trunc, flip);
    if (loss + dup + corrupt != 0)
        printf(PROG ": wire faults: loss %" PRIu64 " %%, duplication %" PRIu64
                    " %%, corruption %" PRIu64 " %%\n",
               loss, dup, corrupt);
    fflush(stdout);

    start = last = ex_now_ms();
    for (;;) {
        uint64_t now = ex_now_ms(), wait;
        long n;

        if (ex_stop || now - start >= max_ms) {
            why = ex_stop ? "signal" : "--max-ms reached";
            break;
        }
        if (now - last >= idle) {
            if (!have_held)
                break;
            /* Nothing came after the held datagram: forward it now. */
            forward(&r, &held);
            r.c.flushed++;
            have_held = 0;
            last = now;
            continue;
        }
        wait = idle - (now - last);
        if (wait > max_ms - (now - start))
            wait = max_ms - (now - start);
        n = ex_udp_recv(PROG, fd, in.b, sizeof(in.b), wait);
        if (n == -2)
            goto end;
        if (n < 0)
            continue;
        last = ex_now_ms();
        in.len = (size_t)n;
        in.dup = in.corrupt = 0;
        r.c.received++;
        /* Wire faults draw random numbers only when enabled (same runs for a seed as before). */
        if (loss > 0 && chance(&r, loss)) {
            r.c.dropped++;
            log_fate(&r, &in, "drop");
            if (r.verbose)
                printf(PROG ": loss: datagram %" PRIu64 " dropped\n", r.c.received);
            fflush(stdout);
            continue;
        }
        /* Tampered copies first: they must fail authentication, not the replay check. */
        if (chance(&r, flip))
            flip_copy(&r, &in);
        if (chance(&r, trunc))
            truncate_copy(&r, &in);
        if (corrupt > 0 && chance(&r, corrupt)) {
            log_fate(&r, &in, "corrupt");
            corrupt_original(&r, &in);
        } else if (dup > 0 && chance(&r, dup)) {
            in.dup = 1;
            log_fate(&r, &in, "dup");
        } else {
            log_fate(&r, &in, "fwd");
        }
        if (have_held) {
            forward(&r, &in);
            forward(&r, &held);
            r.c.reordered++;
            have_held = 0;
            if (r.verbose)
                printf(PROG ": reorder: datagram %" PRIu64 " forwarded before datagram %" PRIu64
                            "\n",
                       r.c.received, r.c.received - 1);
        } else if (chance(&r, reorder)) {
            held = in;
            have_held = 1;
        } else {
            forward(&r, &in);
        }
        if (chance(&r, replay))
            replay_one(&r);
        fflush(stdout);
    }
    if (have_held) {
        forward(&r, &held);
        r.c.flushed++;
    }
    summary(&r, ex_now_ms() - start, why);
    rc = r.c.send_errors == 0 && r.c.forwarded + r.c.dropped == r.c.received ? EX_OK : EX_FAIL;
end:
    close(r.out);
end_fd:
    close(fd);
end_files:
    if (r.log_fd >= 0)
        close(r.log_fd);
    if (r.cap_fd >= 0)
        close(r.cap_fd);
    return rc;
}
