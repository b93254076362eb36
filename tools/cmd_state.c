/* SPDX-License-Identifier: Apache-2.0 */
/*
 * m2msec state init | show: the state file of a record session
 * (docs/PROTOCOL.md 6.4). A session refuses a missing state, so that a
 * deleted state is never taken for a first start: `state init` is the
 * explicit first start, m2msec_store_init() on the file store.
 */
#include <errno.h>
#include <limits.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <openssl/err.h>

#include "m2msec/session.h"
#include "tool.h"

static void usage_state(FILE *out)
{
    fputs("usage: m2msec state init FILE\n"
          "       m2msec state show FILE\n"
          "\n"
          "The state file of a libm2msec record session (the epoch a sender may have used,\n"
          "or the epoch and sequence floor a receiver accepts from). A session refuses to\n"
          "start without one: 'init' is the explicit first start.\n"
          "\n"
          "'m2msec state SUBCOMMAND --help' describes a subcommand.\n"
          "\n"
          "Exit codes: 0 done, 1 refused (init: a state exists or a session holds it;\n"
          "show: no valid state), 2 usage or input error.\n",
          out);
}

static void usage_init(FILE *out)
{
    fputs("usage: m2msec state init FILE\n"
          "\n"
          "First start of a record session: write the initial state (epoch 0, seq-floor 0)\n"
          "to FILE atomically, under the session lock (an exclusive lock on FILE.lock,\n"
          "created if missing). A sender then starts at epoch 1, a receiver accepts from\n"
          "epoch 0.\n"
          "\n"
          "Refused if anything exists at FILE, even a malformed state, or if a session\n"
          "holds the state. Never run it again for a state that was deleted or lost: the\n"
          "epochs and records it covered would be used or accepted a second time; provision\n"
          "a new service-layer key instead (docs/SECURITY.md).\n"
          "\n"
          "Options:\n"
          "  -h, --help   show this help\n"
          "\n"
          "Exit codes: 0 initialised, 1 refused (a state exists at FILE, or a session holds\n"
          "it), 2 usage error or FILE cannot be written.\n",
          out);
}

static void usage_show(FILE *out)
{
    fputs("usage: m2msec state show FILE\n"
          "\n"
          "Print the state that FILE holds, as two lines:\n"
          "  epoch N\n"
          "  seq-floor N\n"
          "It takes no lock (the file is replaced atomically), so it also works while a\n"
          "session runs.\n"
          "\n"
          "Options:\n"
          "  -h, --help   show this help\n"
          "\n"
          "Exit codes: 0 shown, 1 no valid state at FILE (missing, malformed, unreadable),\n"
          "2 usage error.\n",
          out);
}

static int no_option(const char *cmd, void *ctx, int c, const char *arg)
{
    (void)ctx;
    (void)arg;
    return tool_usage_error(cmd, "unknown option -%c", c);
}

/* The FILE operand of a subcommand, made absolute; NULL after a usage error (*rc set). */
static const char *state_file(const TOOL_CMD *cmd, int argc, char **argv, int *rc)
{
    static char abs[PATH_MAX];
    const char *p;

    *rc = tool_parse_options(cmd, argc, argv, NULL);
    if (*rc != TOOL_PARSED)
        return NULL;
    if (argc - optind != 1) {
        *rc = tool_usage_error(cmd->name, "expected exactly one FILE");
        return NULL;
    }
    if (argv[optind][0] == '\0') {
        *rc = tool_usage_error(cmd->name, "FILE must not be empty");
        return NULL;
    }
    if ((p = tool_abs_path(argv[optind], abs, sizeof(abs))) == NULL)
        *rc = EXIT_USAGE;
    return p;
}

static int state_init(int argc, char **argv)
{
    static const struct option opts[] = {TOOL_OPTS_END};
    static const TOOL_CMD cmd = {"state init", "h", opts, usage_init, 1, no_option};
    m2msec_store fs;
    struct stat st;
    void *h = NULL;
    int rc, busy, lk;
    const char *path = state_file(&cmd, argc, argv, &rc);

    if (path == NULL)
        return rc;
    if (!m2msec_store_file(&fs, path)) {
        tool_print_errors();
        return EXIT_USAGE;
    }
    if (m2msec_store_init(&fs)) {
        printf("%s: initialised (epoch 0, seq-floor 0); lock file %s.lock\n", path, path);
        m2msec_store_clear(&fs);
        return EXIT_OK;
    }
    tool_print_errors();
    /* Refused (1) when a state exists or a session holds it; anything else is an input error. */
    if (lstat(path, &st) == 0) {
        tool_err("%s was not initialised: something already exists there", path);
        m2msec_store_clear(&fs);
        return EXIT_INTEGRITY;
    }
    lk = fs.lock(fs.arg, &h);
    if (lk == 1)
        fs.unlock(fs.arg, h);
    m2msec_store_clear(&fs);
    busy = lk == 0;
    ERR_clear_error();
    tool_err("%s was not initialised%s", path, busy ? ": a session holds it" : "");
    return busy ? EXIT_INTEGRITY : EXIT_USAGE;
}

static int state_show(int argc, char **argv)
{
    static const struct option opts[] = {TOOL_OPTS_END};
    static const TOOL_CMD cmd = {"state show", "h", opts, usage_show, 1, no_option};
    m2msec_store fs;
    m2msec_session_state st = {0, 0};
    int rc, r;
    const char *path = state_file(&cmd, argc, argv, &rc);

    if (path == NULL)
        return rc;
    if (!m2msec_store_file(&fs, path)) {
        tool_print_errors();
        return EXIT_USAGE;
    }
    r = fs.load(fs.arg, NULL, &st); /* a read without the lock: the file is replaced atomically */
    m2msec_store_clear(&fs);
    if (r == 1) {
        printf("epoch %" PRIu64 "\nseq-floor %" PRIu64 "\n", st.epoch, st.seq_floor);
        return EXIT_OK;
    }
    if (r == 0)
        tool_err("no stored state at %s: never initialised (m2msec state init), or deleted "
                 "(then do not initialise it again: docs/SECURITY.md)",
                 path);
    else
        tool_fail("%s holds no valid state", path);
    return EXIT_INTEGRITY;
}

int cmd_state(int argc, char **argv)
{
    static const TOOL_SUB subs[] = {
        {"init", state_init},
        {"show", state_show},
    };

    return TOOL_DISPATCH("state", usage_state, subs, argc, argv);
}
