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
 * by the gateway, and every original accepted. See --help.
 */
#include <inttypes.h>
#include <stdio.h>
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
} datagram;

typedef struct {
    uint64_t received, forwarded, reordered, flushed, replayed, truncated;
    uint64_t flip_version, flip_epoch, flip_seq, flip_ct, flip_tag, send_errors;
} counters;

typedef struct {
    int out;       /* socket towards the gateway */
    uint16_t port; /* gateway port */
    int verbose;
    uint64_t rng;
    counters c;
    datagram hist[HISTORY];
    uint64_t nhist; /* total ever stored; slot = nhist % HISTORY */
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
           "            flipped_ciphertext=N flipped_tag=N injected=N\n"
           "\n"
           "Exit status: 0 ended normally (silence, --max-ms, signal) and every datagram\n"
           "was sent; 1 failure (socket or send error); 2 usage error.\n",
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

/* Forward an original datagram and remember it for later replays. */
static void forward(relay *r, const datagram *d)
{
    send_dg(r, d->b, d->len);
    r->c.forwarded++;
    r->hist[r->nhist % HISTORY] = *d;
    r->nhist++;
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
    uint64_t injected = c->replayed + c->truncated + flipped;

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
    printf(PROG ": counts received=%" PRIu64 " forwarded=%" PRIu64 " reordered=%" PRIu64
                " flushed=%" PRIu64 " replayed=%" PRIu64 " truncated=%" PRIu64 " flipped=%" PRIu64
                " flipped_version=%" PRIu64 " flipped_epoch=%" PRIu64 " flipped_seq=%" PRIu64
                " flipped_ciphertext=%" PRIu64 " flipped_tag=%" PRIu64 " injected=%" PRIu64 "\n",
           c->received, c->forwarded, c->reordered, c->flushed, c->replayed, c->truncated, flipped,
           c->flip_version, c->flip_epoch, c->flip_seq, c->flip_ct, c->flip_tag, injected);
}

int main(int argc, char **argv)
{
    static relay r;
    static datagram in, held;
    uint64_t listen = 0, fwd = 0, replay = 10, reorder = 10, trunc = 5, flip = 10;
    uint64_t idle = 1000, max_ms = 60000, start, last;
    const char *port_file = NULL, *v, *why = "silence";
    int have_listen = 0, have_held = 0, have_seed = 0, fd, rc = EX_FAIL;
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
    if (!have_listen || fwd == 0)
        ex_usage_error(PROG, "--listen and --forward are required");
    if (!have_seed)
        r.rng = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
    r.port = (uint16_t)fwd;
    ex_catch_signals();

    if ((fd = ex_udp_bind(PROG, (uint16_t)listen, &bound)) < 0)
        return EX_FAIL;
    if ((r.out = ex_udp_bind(PROG, 0, NULL)) < 0)
        goto end_fd;
    if (port_file != NULL && !ex_write_port_file(PROG, port_file, bound))
        goto end;
    printf(PROG ": relaying 127.0.0.1:%u -> 127.0.0.1:%u, seed %" PRIu64 ", replay %" PRIu64
                " %%, reorder %" PRIu64 " %%, truncate %" PRIu64 " %%, flip %" PRIu64 " %%\n",
           (unsigned)bound, (unsigned)fwd, r.rng, replay, reorder, trunc, flip);
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
        r.c.received++;
        /* Tampered copies first: they must fail authentication, not the replay check. */
        if (chance(&r, flip))
            flip_copy(&r, &in);
        if (chance(&r, trunc))
            truncate_copy(&r, &in);
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
    rc = r.c.send_errors == 0 && r.c.forwarded == r.c.received ? EX_OK : EX_FAIL;
end:
    close(r.out);
end_fd:
    close(fd);
    return rc;
}
