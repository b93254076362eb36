/* SPDX-License-Identifier: Apache-2.0 */
/*
 * verify_bench: m2msec_tree_verify against coreutils `sha256sum -c` and a
 * single-thread OpenSSL SHA-256 loop, over the same files.
 *
 * Two trees are built in a temporary directory: a few large files (4 x 256
 * MiB of pseudo-random bytes) and many small ones (20,000 files of 1-16
 * KiB in 100 directories). Each tree gets a manifest (SHA-256) written next
 * to it. Then, for each tree:
 *
 *   m2msec    m2msec_tree_verify with one job per online core, extra-file
 *             walk on (what `m2msec verify` does by default);
 *   m2msec 1  the same with one job (`m2msec verify --jobs 1`), for CPU per
 *             file against the loop below;
 *   openssl   the anchor for CPU: one thread, open each listed file, read it
 *             in 256 KiB blocks into one EVP_MD_CTX (SHA-256), compare;
 *   sha256sum the anchor for wall time: `sha256sum --quiet --strict -c
 *             MANIFEST` in the root.
 *
 * Every contender runs as its own process (this program re-executes itself
 * for the first three, fork + exec for sha256sum), so the peak resident set
 * reported (VmHWM of the child; ru_maxrss for sha256sum) is that contender's own. The children
 * time themselves from after the manifest is parsed to the last digest
 * (wall, and CPU of all their threads); sha256sum is timed from fork to exit
 * (it reads the manifest itself: a few milliseconds at most), its CPU from
 * wait4().
 *
 * The page cache is warmed by one untimed run of each; then the contenders
 * run once per round in an order that alternates per round
 * (bench_timing.h), and the ratios are taken per round and printed as
 * minimum / median / maximum. MB/s are 10^6 bytes per second of file data
 * in the best round. Missed targets (on the median) are printed as lines
 * starting with "MISSED:". The temporary tree is removed at the end (also
 * after an error).
 *
 * Usage: verify_bench [-s] [-x] [-d DIR] [-r ROUNDS] [-j JOBS]
 */
#define _GNU_SOURCE /* wait4, nftw */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include "m2msec/integrity.h"

#include "bench_timing.h"

#define BUF_SIZE (256 * 1024)
#define MAX_ROUNDS BT_MAX_ROUNDS
#define MANIFEST_MAX (64u << 20)

/* Targets on a 2-core machine (the ratios are what is compared). */
#define TARGET_LARGE_VS_OPENSSL 1.8
#define TARGET_LARGE_VS_SHA256SUM 5.0
#define TARGET_SMALL_VS_SHA256SUM 3.5 /* issue 13 */
#define TARGET_CPU_VS_LOOP 1.05       /* issue 13: m2msec --jobs 1 CPU / loop CPU, at most */

enum { C_M2MSEC, C_M2MSEC1, C_OPENSSL, C_SHA256SUM, NCONTENDERS };
static const char *const cname[NCONTENDERS] = {"m2msec", "m2msec", "openssl", "sha256sum"};

typedef struct {
    double wall[MAX_ROUNDS]; /* seconds per round */
    double cpu[MAX_ROUNDS];  /* CPU seconds (all threads) per round */
    double best;             /* least wall seconds */
    long maxrss_kib;         /* largest peak RSS (KiB) over the runs */
} RESULT;

static char workdir[PATH_MAX];
static int no_extra; /* -x: m2msec without the extra-file walk */
static char self_exe[PATH_MAX];

static double now(void)
{
    return bt_wall();
}

/* CPU time of the whole process (every thread), for the children. */
static double cpu_now(void)
{
    return bt_clock(CLOCK_PROCESS_CPUTIME_ID);
}

static double cpu_child; /* set by the child functions */

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path) != 0 && errno != ENOENT ? -1 : 0;
}

static void cleanup(void)
{
    if (workdir[0] != '\0') {
        nftw(workdir, rm_entry, 64, FTW_DEPTH | FTW_PHYS);
        workdir[0] = '\0';
    }
}

static void on_signal(int sig)
{
    /* not async-signal-safe, but the alternative is leaving a GiB behind */
    cleanup();
    signal(sig, SIG_DFL);
    raise(sig);
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void die(const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "verify_bench: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    ERR_print_errors_fp(stderr);
    cleanup();
    exit(2);
}

/* ------------------------------------------------------------------ */
/* Tree generation                                                     */
/* ------------------------------------------------------------------ */

static uint64_t rng_state = 0x243f6a8885a308d3ull;

static uint64_t rng(void)
{
    /* splitmix64: fast, and random enough for file contents and sizes */
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void fill(unsigned char *buf, size_t n)
{
    size_t i = 0;

    for (; i + 8 <= n; i += 8) {
        uint64_t v = rng();

        memcpy(buf + i, &v, 8);
    }
    for (; i < n; i++)
        buf[i] = (unsigned char)rng();
}

static void write_file(const char *path, uint64_t size, unsigned char *buf)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

    if (fd < 0)
        die("cannot create %s", path);
    while (size > 0) {
        size_t n = size > BUF_SIZE ? BUF_SIZE : (size_t)size;
        ssize_t w;

        fill(buf, n);
        w = write(fd, buf, n);
        if (w < 0 || (size_t)w != n)
            die("cannot write %s", path);
        size -= n;
    }
    if (close(fd) != 0)
        die("cannot write %s", path);
}

static uint64_t make_large(const char *root, int nfiles, uint64_t size, unsigned char *buf)
{
    char path[2 * PATH_MAX];

    if (mkdir(root, 0755) != 0)
        die("cannot create %s", root);
    for (int i = 0; i < nfiles; i++) {
        snprintf(path, sizeof(path), "%s/large-%d.bin", root, i);
        write_file(path, size, buf);
    }
    return (uint64_t)nfiles * size;
}

static uint64_t make_small(const char *root, int nfiles, unsigned char *buf)
{
    char path[2 * PATH_MAX];
    uint64_t total = 0;
    const int per_dir = 200;

    if (mkdir(root, 0755) != 0)
        die("cannot create %s", root);
    for (int i = 0; i < nfiles; i++) {
        uint64_t size = 1024 + rng() % (15 * 1024 + 1);

        if (i % per_dir == 0) {
            snprintf(path, sizeof(path), "%s/d%03d", root, i / per_dir);
            if (mkdir(path, 0755) != 0)
                die("cannot create %s", path);
        }
        snprintf(path, sizeof(path), "%s/d%03d/f%05d", root, i / per_dir, i);
        write_file(path, size, buf);
        total += size;
    }
    return total;
}

static void make_manifest(const char *root, const char *manifest)
{
    m2msec_manifest *m =
        m2msec_manifest_from_tree(NULL, root, "SHA256", 1, (uint64_t)time(NULL) + 86400, 0, 0);

    if (m == NULL || !m2msec_manifest_write(m, manifest))
        die("cannot make the manifest %s", manifest);
    m2msec_manifest_free(m);
}

/* ------------------------------------------------------------------ */
/* Children: "verify_bench --child m2msec|openssl MANIFEST ROOT JOBS"   */
/* ------------------------------------------------------------------ */

static m2msec_manifest *load_manifest(const char *path)
{
    unsigned char *buf = malloc(MANIFEST_MAX);
    size_t len = 0;
    ssize_t n;
    m2msec_manifest *m;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0 || buf == NULL)
        die("cannot read %s", path);
    while ((n = read(fd, buf + len, MANIFEST_MAX - len)) > 0)
        len += (size_t)n;
    close(fd);
    if (n < 0 || len == MANIFEST_MAX)
        die("cannot read %s", path);
    m = m2msec_manifest_parse(buf, len);
    free(buf);
    if (m == NULL)
        die("cannot parse %s", path);
    return m;
}

static double child_m2msec(const m2msec_manifest *m, const char *root, unsigned jobs)
{
    m2msec_tree_verify_options opt = {0};
    m2msec_report *r;
    double t0, t1;

    opt.jobs = jobs;
    opt.report_extra = !no_extra;
    cpu_child = cpu_now();
    t0 = now();
    r = m2msec_tree_verify(NULL, m, root, &opt);
    t1 = now();
    cpu_child = cpu_now() - cpu_child;
    if (r == NULL || m2msec_report_failures(r) != 0)
        die("m2msec_tree_verify failed on %s", root);
    m2msec_report_free(r);
    return t1 - t0;
}

static double child_openssl(const m2msec_manifest *m, const char *root)
{
    EVP_MD *md = EVP_MD_fetch(NULL, "SHA256", NULL);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned char *buf = malloc(BUF_SIZE), out[EVP_MAX_MD_SIZE];
    unsigned outlen;
    int rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    double t0, t1;

    if (md == NULL || ctx == NULL || buf == NULL || rootfd < 0)
        die("cannot set up the OpenSSL loop for %s", root);
    cpu_child = cpu_now();
    t0 = now();
    for (size_t i = 0; i < m2msec_manifest_count(m); i++) {
        const m2msec_manifest_entry *e = m2msec_manifest_entry_at(m, i);
        int fd = openat(rootfd, e->path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        ssize_t n;

        if (fd < 0 || !EVP_DigestInit_ex2(ctx, md, NULL))
            die("cannot open %s", e->path);
        while ((n = read(fd, buf, BUF_SIZE)) > 0)
            if (!EVP_DigestUpdate(ctx, buf, (size_t)n))
                die("digest failed on %s", e->path);
        close(fd);
        if (n < 0 || !EVP_DigestFinal_ex(ctx, out, &outlen) || outlen != e->digest_len ||
            memcmp(out, e->digest, outlen) != 0)
            die("digest mismatch on %s", e->path);
    }
    t1 = now();
    cpu_child = cpu_now() - cpu_child;
    close(rootfd);
    free(buf);
    EVP_MD_CTX_free(ctx);
    EVP_MD_free(md);
    return t1 - t0;
}

/*
 * Peak resident set of this process image, from /proc/self/status (VmHWM).
 * Not ru_maxrss: that also counts the copy of the parent between fork and
 * exec, and the parent holds the manifests it made.
 */
static long vm_hwm_kib(void)
{
    char line[256];
    long kib = -1;
    FILE *f = fopen("/proc/self/status", "r");

    if (f == NULL)
        return -1;
    while (fgets(line, sizeof(line), f) != NULL)
        if (strncmp(line, "VmHWM:", 6) == 0) {
            kib = strtol(line + 6, NULL, 10);
            break;
        }
    fclose(f);
    return kib;
}

static int child_main(int argc, char **argv)
{
    m2msec_manifest *m;
    double t;

    if (argc != 7)
        return 2;
    no_extra = strcmp(argv[6], "x") == 0;
    m = load_manifest(argv[3]);
    if (strcmp(argv[2], "m2msec") == 0)
        t = child_m2msec(m, argv[4], (unsigned)strtoul(argv[5], NULL, 10));
    else
        t = child_openssl(m, argv[4]);
    m2msec_manifest_free(m);
    printf("%.9f %.9f %ld\n", t, cpu_child, vm_hwm_kib());
    return fflush(stdout) == 0 ? 0 : 2;
}

/* ------------------------------------------------------------------ */
/* Parent: run one contender                                           */
/* ------------------------------------------------------------------ */

/* Run contender c on (manifest, root); returns seconds and the child's peak RSS. */
static double run_one(int c, const char *manifest, const char *root, unsigned jobs,
                      long *maxrss_kib, double *cpu)
{
    int pfd[2] = {-1, -1}, status = 0;
    char jobs_s[16], line[64] = {0};
    struct rusage ru;
    double t0 = now(), t1;
    pid_t pid;
    ssize_t n;

    snprintf(jobs_s, sizeof(jobs_s), "%u", c == C_M2MSEC1 ? 1 : jobs);
    if (c != C_SHA256SUM && pipe(pfd) != 0)
        die("%s", "pipe failed");
    fflush(stdout);
    pid = fork();
    if (pid < 0)
        die("%s", "fork failed");
    if (pid == 0) {
        if (c == C_SHA256SUM) {
            int null = open("/dev/null", O_WRONLY);

            if (chdir(root) != 0 || null < 0 || dup2(null, STDOUT_FILENO) < 0)
                _exit(127);
            execlp("sha256sum", "sha256sum", "--quiet", "--strict", "-c", manifest, (char *)NULL);
            _exit(127);
        }
        close(pfd[0]);
        if (dup2(pfd[1], STDOUT_FILENO) < 0)
            _exit(127);
        execl(self_exe, "verify_bench", "--child", cname[c], manifest, root, jobs_s,
              no_extra ? "x" : "-", (char *)NULL);
        _exit(127);
    }
    if (c != C_SHA256SUM) {
        size_t got = 0;

        close(pfd[1]);
        while (got < sizeof(line) - 1 && (n = read(pfd[0], line + got, sizeof(line) - 1 - got)) > 0)
            got += (size_t)n;
        close(pfd[0]);
    }
    if (wait4(pid, &status, 0, &ru) != pid)
        die("%s", "wait4 failed");
    t1 = now();
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        die("%s failed (did every file verify?)", cname[c]);
    if (c == C_SHA256SUM) {
        /* its own peak plus, at most, the parent's resident set at the fork */
        if (ru.ru_maxrss > *maxrss_kib)
            *maxrss_kib = ru.ru_maxrss;
        *cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
               (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
        return t1 - t0;
    } else {
        char *end = NULL;
        double w = strtod(line, &end);
        long hwm;

        *cpu = strtod(end, &end);
        hwm = strtol(end, NULL, 10);
        if (hwm > *maxrss_kib)
            *maxrss_kib = hwm;
        return w;
    }
}

static void bench_tree(const char *label, const char *manifest, const char *root, uint64_t bytes,
                       size_t files, unsigned jobs, int rounds, RESULT res[NCONTENDERS])
{
    for (int c = 0; c < NCONTENDERS; c++) {
        long rss = 0;
        double cpu;

        memset(&res[c], 0, sizeof(res[c]));
        res[c].best = 1e30;
        run_one(c, manifest, root, jobs, &rss, &cpu); /* warm the page cache */
    }
    for (int r = 0; r < rounds; r++)
        for (int i = 0; i < NCONTENDERS; i++) {
            int c = bt_order(r, i, NCONTENDERS);
            double t = run_one(c, manifest, root, jobs, &res[c].maxrss_kib, &res[c].cpu[r]);

            res[c].wall[r] = t;
            if (t < res[c].best)
                res[c].best = t;
        }
    printf("\n%s: %zu files, %.1f MiB\n", label, files, (double)bytes / 1048576.0);
    printf("  %-34s %9s %9s %11s %12s %11s\n", "contender", "MB/s", "best s", "median CPU s",
           "CPU us/file", "peak RSS");
    for (int c = 0; c < NCONTENDERS; c++) {
        char what[64];
        bt_stats cpu = bt_summary(res[c].cpu, rounds);

        if (c == C_M2MSEC)
            snprintf(what, sizeof(what), "m2msec_tree_verify, %u jobs", jobs);
        else if (c == C_M2MSEC1)
            snprintf(what, sizeof(what), "m2msec_tree_verify, 1 job");
        else if (c == C_OPENSSL)
            snprintf(what, sizeof(what), "OpenSSL SHA-256 loop, 1 thread");
        else
            snprintf(what, sizeof(what), "sha256sum -c (coreutils)");
        printf("  %-34s %9.0f %9.3f %11.3f %12.2f %7.1f MiB\n", what,
               (double)bytes / 1e6 / res[c].best, res[c].best, cpu.med,
               cpu.med * 1e6 / (double)files, (double)res[c].maxrss_kib / 1024.0);
    }
}

/* The 1-minute load average, or -1: the machine is shared, so say how busy it was. */
static double loadavg(void)
{
    double l = -1;
    FILE *f = fopen("/proc/loadavg", "r");

    if (f != NULL) {
        if (fscanf(f, "%lf", &l) != 1)
            l = -1;
        fclose(f);
    }
    return l;
}

/* Print min / median / max of a per-round ratio; 1 when the median meets the target. */
static int ratio_line(const char *what, const double *num, const double *den, int rounds,
                      double target, int at_most)
{
    char buf[64];
    bt_stats st = bt_ratio(num, den, rounds);
    int ok = at_most ? st.med <= target : st.med >= target;

    printf("  %-46s %s  (target %s %.2fx)\n", what, bt_fmt(buf, sizeof(buf), st),
           at_most ? "<=" : ">=", target);
    if (!ok)
        printf("MISSED: %s: median %.3fx, target %s %.2fx\n", what, st.med,
               at_most ? "<=" : ">=", target);
    return ok;
}

/* ------------------------------------------------------------------ */
/* Cost growth (issue 13 point 5): against file count and file size     */
/* ------------------------------------------------------------------ */

typedef struct {
    double wall, cpu1, loop_cpu; /* medians: m2msec all jobs wall; CPU of 1 job; CPU of the loop */
    long rss_kib;                /* peak RSS of m2msec (all jobs) */
} POINT;

static POINT measure_point(const char *manifest, const char *root, unsigned jobs, int rounds)
{
    double w[MAX_ROUNDS], c1[MAX_ROUNDS], cl[MAX_ROUNDS], cpu;
    long rss = 0, rss1 = 0, rssl = 0;
    POINT pt;

    run_one(C_M2MSEC, manifest, root, jobs, &rss, &cpu); /* warm the page cache */
    for (int r = 0; r < rounds; r++) {
        for (int i = 0; i < 3; i++) {
            switch (bt_order(r, i, 3)) {
            case 0:
                w[r] = run_one(C_M2MSEC, manifest, root, jobs, &rss, &cpu);
                break;
            case 1:
                run_one(C_M2MSEC1, manifest, root, jobs, &rss1, &c1[r]);
                break;
            default:
                run_one(C_OPENSSL, manifest, root, jobs, &rssl, &cl[r]);
            }
        }
    }
    pt.wall = bt_summary(w, rounds).med;
    pt.cpu1 = bt_summary(c1, rounds).med;
    pt.loop_cpu = bt_summary(cl, rounds).med;
    pt.rss_kib = rss;
    return pt;
}

static void remove_tree(const char *path)
{
    nftw(path, rm_entry, 64, FTW_DEPTH | FTW_PHYS);
}

static void growth(int large, unsigned jobs, int rounds)
{
    static const int counts[] = {1000, 5000, 20000, 50000, 200000};
    static const struct {
        uint64_t size;
        int files;
    } sizes[] = {{1024, 4000}, {16384, 2000}, {262144, 256}, {4u << 20, 32}, {64u << 20, 4}};
    const int ncounts = large ? 5 : 3;
    char root[PATH_MAX + 32], man[PATH_MAX + 48];
    unsigned char *buf = malloc(BUF_SIZE);
    POINT first = {0};

    if (buf == NULL)
        die("%s", "out of memory");
    rounds = rounds > 3 ? 3 : rounds;
    printf("\ncost against the number of files (1-16 KiB each; medians of %d rounds; %u jobs for "
           "the wall time):\n",
           rounds, jobs);
    printf("  %7s %10s %11s %14s %14s %9s %12s %10s\n", "files", "wall s", "wall us/file",
           "CPU us/file 1j", "loop us/file", "1j/loop", "peak RSS MiB", "B/file");
    for (int c = 0; c < ncounts; c++) {
        uint64_t bytes;
        POINT pt;

        snprintf(root, sizeof(root), "%s/grow-%d", workdir, counts[c]);
        snprintf(man, sizeof(man), "%s/grow-%d.manifest", workdir, counts[c]);
        bytes = make_small(root, counts[c], buf);
        make_manifest(root, man);
        pt = measure_point(man, root, jobs, rounds);
        if (c == 0)
            first = pt;
        printf("  %7d %10.3f %11.2f %14.2f %14.2f %9.3f %12.1f", counts[c], pt.wall,
               pt.wall * 1e6 / counts[c], pt.cpu1 * 1e6 / counts[c], pt.loop_cpu * 1e6 / counts[c],
               pt.cpu1 / pt.loop_cpu, (double)pt.rss_kib / 1024.0);
        if (c == 0)
            printf(" %10s\n", "-");
        else
            printf(" %10.0f\n",
                   (double)(pt.rss_kib - first.rss_kib) * 1024.0 / (double)(counts[c] - counts[0]));
        (void)bytes;
        remove_tree(root);
        remove(man);
    }
    printf("  (B/file: peak RSS growth per file over the first row; -G adds 50,000 and 200,000 "
           "files)\n");
    printf("\ncost against the file size (medians of %d rounds):\n", rounds);
    printf("  %9s %6s %10s %10s %14s %14s %9s %12s\n", "size", "files", "wall s", "MB/s",
           "CPU ns/B 1j", "loop ns/B", "1j/loop", "peak RSS MiB");
    for (size_t z = 0; z < sizeof(sizes) / sizeof(sizes[0]); z++) {
        uint64_t bytes;
        POINT pt;

        snprintf(root, sizeof(root), "%s/size-%zu", workdir, z);
        snprintf(man, sizeof(man), "%s/size-%zu.manifest", workdir, z);
        bytes = make_large(root, sizes[z].files, sizes[z].size, buf);
        make_manifest(root, man);
        pt = measure_point(man, root, jobs, rounds);
        printf("  %9" PRIu64 " %6d %10.3f %10.0f %14.3f %14.3f %9.3f %12.1f\n", sizes[z].size,
               sizes[z].files, pt.wall, (double)bytes / 1e6 / pt.wall,
               pt.cpu1 * 1e9 / (double)bytes, pt.loop_cpu * 1e9 / (double)bytes,
               pt.cpu1 / pt.loop_cpu, (double)pt.rss_kib / 1024.0);
        remove_tree(root);
        remove(man);
    }
    free(buf);
}

static void usage(void)
{
    fprintf(stderr,
            "usage: verify_bench [-s] [-x] [-d DIR] [-r ROUNDS] [-j JOBS]\n"
            "  -s         small run: 4 x 16 MiB and 2,000 small files (default 4 x 256 MiB\n"
            "             and 20,000 files of 1-16 KiB)\n"
            "  -d DIR     make the temporary tree in DIR (default $TMPDIR, then /tmp)\n"
            "  -r ROUNDS  interleaved timed rounds (default 5)\n"
            "  -j JOBS    m2msec jobs (default: online cores)\n"
            "  -x         m2msec without the walk for extra files (as --no-extra)\n"
            "  -g         only the cost-growth tables (files 1,000 to 20,000; sizes 1 KiB to\n"
            "             64 MiB)\n"
            "  -G         the growth tables up to 200,000 files (needs about 2 GiB in DIR)\n"
            "  -n         no growth tables\n");
    exit(2);
}

int main(int argc, char **argv)
{
    const char *base = getenv("TMPDIR");
    char large_root[PATH_MAX + 16], small_root[PATH_MAX + 16];
    char large_man[PATH_MAX + 32], small_man[PATH_MAX + 32];
    int small_run = 0, rounds = 5, opt, missed = 0, grow_only = 0, grow_large = 0, no_grow = 0;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    unsigned jobs = cores > 0 ? (unsigned)cores : 1;
    int large_n = 4, small_n = 20000;
    uint64_t large_size = 256ull << 20, large_bytes, small_bytes;
    RESULT large[NCONTENDERS], small[NCONTENDERS];
    unsigned char *buf;
    ssize_t n;
    double t;

    if (argc >= 2 && strcmp(argv[1], "--child") == 0)
        return child_main(argc, argv);
    while ((opt = getopt(argc, argv, "sxd:r:j:gGn")) != -1) {
        switch (opt) {
        case 'g':
            grow_only = 1;
            break;
        case 'G':
            grow_large = 1;
            break;
        case 'n':
            no_grow = 1;
            break;
        case 'x':
            no_extra = 1;
            break;
        case 's':
            small_run = 1;
            break;
        case 'd':
            base = optarg;
            break;
        case 'r':
            rounds = atoi(optarg);
            if (rounds < 1 || rounds > MAX_ROUNDS)
                usage();
            break;
        case 'j':
            jobs = (unsigned)atoi(optarg);
            if (jobs < 1 || jobs > 256)
                usage();
            break;
        default:
            usage();
        }
    }
    if (optind != argc)
        usage();
    if (small_run) {
        large_size = 16ull << 20;
        small_n = 2000;
    }
    if ((n = readlink("/proc/self/exe", self_exe, sizeof(self_exe) - 1)) <= 0)
        die("%s", "cannot find my own executable (/proc/self/exe)");
    self_exe[n] = '\0';
    if (base == NULL || *base == '\0')
        base = "/tmp";
    if ((size_t)snprintf(workdir, sizeof(workdir), "%s/verify_bench.XXXXXX", base) >=
            sizeof(workdir) ||
        mkdtemp(workdir) == NULL) {
        workdir[0] = '\0';
        die("cannot create a temporary directory in %s", base);
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    snprintf(large_root, sizeof(large_root), "%s/large", workdir);
    snprintf(small_root, sizeof(small_root), "%s/small", workdir);
    snprintf(large_man, sizeof(large_man), "%s/large.manifest", workdir);
    snprintf(small_man, sizeof(small_man), "%s/small.manifest", workdir);
    if ((buf = malloc(BUF_SIZE)) == NULL)
        die("%s", "out of memory");

    printf("verify_bench: %ld online cores, m2msec jobs %u%s, %d rounds, %s\n", cores, jobs,
           no_extra ? " without the extra-file walk" : "", rounds,
           OpenSSL_version(OPENSSL_VERSION));
    printf("tree: %s; load average at the start %.2f\n", workdir, loadavg());
    fflush(stdout);
    if (grow_only) {
        free(buf);
        growth(grow_large, jobs, rounds);
        printf("load average at the end %.2f\n", loadavg());
        cleanup();
        return 0;
    }
    t = now();
    large_bytes = make_large(large_root, large_n, large_size, buf);
    small_bytes = make_small(small_root, small_n, buf);
    free(buf);
    make_manifest(large_root, large_man);
    make_manifest(small_root, small_man);
    printf("made %d x %" PRIu64 " MiB and %d small files with their manifests in %.1f s\n", large_n,
           large_size >> 20, small_n, now() - t);

    bench_tree("large files", large_man, large_root, large_bytes, (size_t)large_n, jobs, rounds,
               large);
    bench_tree("small files (1-16 KiB)", small_man, small_root, small_bytes, (size_t)small_n, jobs,
               rounds, small);

    printf("\nratios per round, min / median / max (wall: time of the other / time of m2msec; "
           "CPU: m2msec 1 job / the loop):\n");
    missed += !ratio_line("large: m2msec vs OpenSSL 1 thread (wall)", large[C_OPENSSL].wall,
                          large[C_M2MSEC].wall, rounds, TARGET_LARGE_VS_OPENSSL, 0);
    missed += !ratio_line("large: m2msec vs sha256sum (wall)", large[C_SHA256SUM].wall,
                          large[C_M2MSEC].wall, rounds, TARGET_LARGE_VS_SHA256SUM, 0);
    missed += !ratio_line("small: m2msec vs sha256sum (wall)", small[C_SHA256SUM].wall,
                          small[C_M2MSEC].wall, rounds, TARGET_SMALL_VS_SHA256SUM, 0);
    missed += !ratio_line("small: CPU of m2msec 1 job / OpenSSL loop", small[C_M2MSEC1].cpu,
                          small[C_OPENSSL].cpu, rounds, TARGET_CPU_VS_LOOP, 1);
    missed += !ratio_line("large: CPU of m2msec 1 job / OpenSSL loop", large[C_M2MSEC1].cpu,
                          large[C_OPENSSL].cpu, rounds, TARGET_CPU_VS_LOOP, 1);
    if (missed == 0)
        printf("all verify targets met in this run\n");
    if (!no_grow) {
        remove_tree(large_root);
        remove_tree(small_root);
        growth(grow_large, jobs, rounds);
    }
    if (jobs < 2)
        printf("note: one core only; the targets assume two\n");
    printf("load average at the end %.2f (above ~0.5 per core, other processes share the "
           "cores and the multi-thread figures suffer most)\n",
           loadavg());
    cleanup();
    return 0;
}
