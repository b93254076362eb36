/* SPDX-License-Identifier: Apache-2.0 */
/* m2msec tool: helpers shared by the subcommands. */
#define _XOPEN_SOURCE 700 /* realpath */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <openssl/crypto.h>
#include <openssl/err.h>

#include "escape.h"
#include "io.h"
#include "status_record.h"
#include "text.h"
#include "tool.h"

const char *tool_name(const char *name)
{
    /* a name of PATH_MAX bytes fits escaped in full (4 bytes each at most) */
    static char ring[8][4 * PATH_MAX + 8];
    static unsigned next;
    char *buf = ring[next++ % 8];

    m2m_escape(name, 0, buf, sizeof(ring[0]));
    return buf;
}

/* vfprintf(stderr) of a message, escaped with its backslashes kept (see tool.h). */
static void vmessage(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));
static void vmessage(const char *fmt, va_list ap)
{
    char small[1024], *text = small;
    va_list ap2;
    int n;

    va_copy(ap2, ap);
    n = vsnprintf(small, sizeof(small), fmt, ap);
    if (n >= (int)sizeof(small) && (text = malloc((size_t)n + 1)) != NULL)
        vsnprintf(text, (size_t)n + 1, fmt, ap2);
    else if (text == NULL)
        text = small; /* cut, but still printed */
    va_end(ap2);
    if (n >= 0)
        m2m_escape_fputs(text, M2M_ESC_TEXT, stderr);
    if (text != small)
        free(text);
}

void tool_err(const char *fmt, ...)
{
    va_list ap;

    fputs("m2msec: ", stderr);
    va_start(ap, fmt);
    vmessage(fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

void tool_print_errors(void)
{
    const char *file, *func, *data;
    int line, flags;
    unsigned long e;

    while ((e = ERR_get_error_all(&file, &line, &func, &data, &flags)) != 0) {
        const char *reason = ERR_reason_error_string(e);
        const char *lib = ERR_lib_error_string(e);
        int has_data = data != NULL && *data != '\0' && (flags & ERR_TXT_STRING);

        if (has_data && strncmp(data, "m2msec: ", 8) == 0) {
            /* libm2msec's own messages say everything (their names are escaped) */
            m2m_escape_fputs(data, M2M_ESC_TEXT, stderr);
            fputc('\n', stderr);
            continue;
        }
        tool_err("%s%s%s%s%s", lib != NULL ? lib : "", lib != NULL ? ": " : "",
                 reason != NULL ? reason : "error", has_data ? ": " : "", has_data ? data : "");
    }
}

void tool_fail(const char *fmt, ...)
{
    va_list ap;

    tool_print_errors();
    fputs("m2msec: ", stderr);
    va_start(ap, fmt);
    vmessage(fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

int tool_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;

    fputs("m2msec: ", stderr);
    va_start(ap, fmt);
    vmessage(fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry 'm2msec %s --help'.\n", cmd);
    return EXIT_USAGE;
}

const char *tool_abs_path(const char *path, char *buf, size_t len)
{
    char cwd[PATH_MAX];
    int n;

    if (path[0] == '/')
        return path;
    if (getcwd(cwd, sizeof(cwd)) == NULL) {
        tool_err("cannot read the working directory for the relative path %s: %s", tool_name(path),
                 strerror(errno));
        return NULL;
    }
    n = snprintf(buf, len, "%s/%s", strcmp(cwd, "/") == 0 ? "" : cwd, path);
    if (n < 0 || (size_t)n >= len) {
        tool_err("the path %s is too long", tool_name(path));
        return NULL;
    }
    return buf;
}

int tool_dispatch(const char *cmd, void (*usage)(FILE *out), const TOOL_SUB *subs, size_t n,
                  int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        usage(stdout);
        return EXIT_OK;
    }
    for (size_t i = 0; i < n; i++)
        if (strcmp(argv[1], subs[i].name) == 0)
            return subs[i].run(argc - 1, argv + 1);
    return tool_usage_error(cmd, "unknown %s subcommand '%s'", cmd, tool_name(argv[1]));
}

int tool_bad_option(const char *cmd, char **argv)
{
    const char *arg = optind > 0 ? argv[optind - 1] : "";

    if (strncmp(arg, "--", 2) != 0 && optopt > 0 && optopt < 128)
        return tool_usage_error(cmd, "unknown option or missing value: -%c", optopt);
    return tool_usage_error(cmd, "unknown option or missing value: %s", tool_name(arg));
}

int tool_parse_options(const TOOL_CMD *cmd, int argc, char **argv, void *ctx)
{
    int c, rc;

    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, cmd->shortopts, cmd->opts, NULL)) != -1) {
        if (c == 'h') {
            cmd->usage(stdout);
            return EXIT_OK;
        }
        if (c == '?' || c == ':')
            return tool_bad_option(cmd->name, argv);
        if ((rc = cmd->option(cmd->name, ctx, c, optarg)) != 0)
            return rc;
    }
    if (!cmd->operands && optind != argc)
        return tool_usage_error(cmd->name, "unexpected argument '%s'", tool_name(argv[optind]));
    return TOOL_PARSED;
}

int tool_manifest_option(TOOL_MANIFEST_ARGS *a, int c, const char *arg)
{
    switch (c) {
    case 'm':
        a->manifest = arg;
        return 1;
    case 's':
        a->sig = arg;
        return 1;
    case 'p':
        a->pubkey = arg;
        return 1;
    case 'r':
        a->root = arg;
        return 1;
    case 'S':
        a->state = arg;
        return 1;
    case 'P':
        a->policy = arg;
        return 1;
    default:
        return 0;
    }
}

int tool_manifest_args_check(const char *cmd, const TOOL_MANIFEST_ARGS *a)
{
    if (a->manifest == NULL || a->pubkey == NULL || a->root == NULL)
        return tool_usage_error(cmd, "--manifest, --pubkey and --root are required");
    return EXIT_OK;
}

int tool_manifest_accept(const TOOL_MANIFEST_ARGS *a, m2msec_manifest **m, const char **why)
{
    m2msec_manifest_verdict v = M2MSEC_MANIFEST_ERROR;

    if (m2msec_manifest_accept(NULL, a->manifest, a->sig, a->pubkey, a->state, tool_now(), m, &v))
        return EXIT_OK;
    tool_print_errors();
    *why = m2msec_manifest_verdict_text(v);
    return v == M2MSEC_MANIFEST_ERROR ? EXIT_USAGE : EXIT_INTEGRITY;
}

m2msec_policy *tool_policy_load(const char *path, const char *name)
{
    m2msec_policy *p = m2msec_policy_load(path);

    if (p == NULL)
        tool_fail("policy %s cannot be used", tool_name(name));
    return p;
}

CONF *tool_conf_load(const char *what, const char *path)
{
    CONF *conf = NCONF_new(NULL);
    long line = -1;

    if (conf == NULL || NCONF_load(conf, path, &line) > 0)
        return conf;
    ERR_clear_error();
    if (line > 0)
        tool_err("%s %s: syntax error at line %ld", what, tool_name(path), line);
    else
        tool_err("%s %s cannot be read", what, tool_name(path));
    NCONF_free(conf);
    return NULL;
}

int tool_parse_u64(const char *text, uint64_t lo, uint64_t hi, uint64_t *out)
{
    uint64_t v;

    /* typed by a person: leading zeros are fine ("007" is 7) */
    if (m2m_dec_parse_str(text, hi, M2M_DEC_LEADING_ZEROS, &v) != M2M_DEC_OK || v < lo)
        return 0;
    *out = v;
    return 1;
}

int tool_parse_jobs(const char *cmd, const char *text, unsigned *jobs)
{
    uint64_t v;

    if (!tool_parse_u64(text, 0, 256, &v)) {
        tool_usage_error(cmd, "--jobs '%s': expected a number from 0 (one per core) to 256",
                         tool_name(text));
        return 0;
    }
    *jobs = (unsigned)v;
    return 1;
}

int tool_read_device_key(const char *path, unsigned char key[M2M_DEVICE_KEY_MAX], size_t *keylen)
{
    int r = m2m_device_key_read(path, key, keylen);

    if (r != 0)
        tool_err("device key file %s: %s", tool_name(path), m2m_device_key_error(r));
    return r == 0;
}

char *tool_path_below(const char *root_real, const char *path)
{
    char dir[PATH_MAX], real[PATH_MAX], *copy, *slash, *res = NULL;
    const char *base;
    size_t rl = strlen(root_real);

    if (realpath(path, real) == NULL) {
        /* not there (yet): resolve its directory */
        copy = strdup(path);
        if (copy == NULL)
            return NULL;
        slash = strrchr(copy, '/');
        if (slash == NULL) {
            base = path;
            if (getcwd(dir, sizeof(dir)) == NULL) {
                free(copy);
                return NULL;
            }
        } else {
            *slash = '\0';
            base = path + (slash - copy) + 1;
            if (realpath(*copy != '\0' ? copy : "/", dir) == NULL) {
                free(copy);
                return NULL;
            }
        }
        free(copy);
        if (*base == '\0' || strcmp(base, ".") == 0 || strcmp(base, "..") == 0 ||
            (size_t)snprintf(real, sizeof(real), "%s/%s", strcmp(dir, "/") == 0 ? "" : dir, base) >=
                sizeof(real))
            return NULL;
    }
    if (strcmp(root_real, "/") == 0)
        return real[1] != '\0' ? strdup(real + 1) : NULL;
    if (strncmp(real, root_real, rl) == 0 && real[rl] == '/' && real[rl + 1] != '\0')
        res = strdup(real + rl + 1);
    return res;
}

char *tool_realpath(const char *path, char *out)
{
    return realpath(path, out);
}

int tool_resolve_root(const char *root, char *out)
{
    if (tool_realpath(root, out) != NULL)
        return 1;
    tool_err("root %s: cannot resolve it", tool_name(root));
    return 0;
}

uint64_t tool_now(void)
{
    time_t t = time(NULL);

    return t < 0 ? 0 : (uint64_t)t;
}

const char *tool_iso_time(uint64_t t, char buf[TOOL_ISO_MAX])
{
    struct tm tm;
    time_t tt = (time_t)t;

    if (t > (uint64_t)INT64_MAX || (uint64_t)tt != t || gmtime_r(&tt, &tm) == NULL ||
        strftime(buf, TOOL_ISO_MAX, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(buf, TOOL_ISO_MAX, "(out of range)");
    return buf;
}

unsigned char *tool_read_input(const char *path, size_t max, size_t *len, const char *what)
{
    int std = path == NULL || strcmp(path, "-") == 0;
    int fd = std ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
    const char *name = std ? "(standard input)" : tool_name(path);
    unsigned char *b = NULL;
    int err;

    *len = 0;
    if (fd < 0) {
        tool_err("%s %s: cannot open it: %s", what, name, strerror(errno));
        return NULL;
    }
    err = m2m_read_fd_alloc(fd, max, 4096, &b, len);
    if (!std)
        close(fd);
    if (err == EFBIG)
        tool_err("%s %s: larger than %zu bytes", what, name, max);
    else if (err == ENOMEM)
        tool_err("out of memory");
    else if (err != 0)
        tool_err("%s %s: cannot read it: %s", what, name, strerror(err));
    return b;
}

int tool_write_output(const char *path, const void *buf, size_t len, const char *what)
{
    char tmp[PATH_MAX];
    int fd;

    if (path == NULL || strcmp(path, "-") == 0) {
        if (fwrite(buf, 1, len, stdout) != len || fflush(stdout) != 0) {
            tool_err("cannot write the %s to standard output", what);
            return 0;
        }
        return 1;
    }
    if (snprintf(tmp, sizeof(tmp), "%s.tmpXXXXXX", path) >= (int)sizeof(tmp)) {
        tool_err("%s: path too long", tool_name(path));
        return 0;
    }
    if ((fd = mkstemp(tmp)) < 0) {
        tool_err("cannot create a temporary file next to %s: %s", tool_name(path), strerror(errno));
        return 0;
    }
    if (fchmod(fd, 0600) != 0 || !m2m_write_all(fd, buf, len) || fsync(fd) != 0) {
        tool_err("cannot write the %s to %s: %s", what, tool_name(tmp), strerror(errno));
        close(fd);
        unlink(tmp);
        return 0;
    }
    if (close(fd) != 0 || rename(tmp, path) != 0) {
        tool_err("cannot write the %s to %s: %s", what, tool_name(path), strerror(errno));
        unlink(tmp);
        return 0;
    }
    return 1;
}
