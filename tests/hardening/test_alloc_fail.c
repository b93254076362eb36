/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Allocation failures in every public operation of m2msec.
 *
 * A counting allocator is installed with CRYPTO_set_mem_functions() before
 * any other OpenSSL call. The provider is loaded into this process and
 * uses the same libcrypto, so its OPENSSL_malloc calls go through it too.
 * (libutf8proc allocates with plain malloc: a failure inside utf8proc_map
 * cannot be injected here; its UTF8PROC_ERROR_NOMEM path stays untested.)
 *
 * Each operation runs with the N-th allocation failing, for N = 1, 2, ...
 * until it completes without any injected failure, in two modes: only the
 * N-th allocation fails ("one"), or every allocation from the N-th on
 * fails ("from"). Each time:
 *
 *  - it must not crash;
 *  - it either fails cleanly (0 / NULL / an error status) or succeeds with
 *    the right result (an operation may survive a failed allocation, e.g.
 *    a cache insert);
 *  - a failure queues an OpenSSL error where the API promises one (every
 *    libm2msec function; for the provider through EVP: whenever the failed
 *    allocation was m2msec's own, since EVP itself does not promise an
 *    error for an allocation failure in OpenSSL 3.0);
 *  - nothing leaks: the number of live blocks after cleanup equals the
 *    number before setup (a difference is re-run once: a real leak repeats,
 *    a cache filled by the run does not, and is only reported);
 *  - no partial output: output buffers wiped or untouched as documented,
 *    files unchanged and no temporary files left in the test directory;
 *  - the same operation then succeeds when nothing fails, on the same
 *    state (a session that failed to re-key must re-key on the next try).
 *
 * Who is to blame. OpenSSL 3.0 itself is not robust against allocation
 * failures everywhere (library context creation, child contexts, the
 * provider store): it crashes, leaks or stays broken in places. So every
 * problem is attributed: a crash to the module of the faulting
 * instruction (operations that can crash inside libcrypto run each
 * iteration in a forked child); a leak to m2msec if a leaked block was
 * allocated by m2msec's code; a missing error to m2msec for libm2msec
 * functions and for m2msec's own allocations; a failed retry by its
 * earliest error. m2msec's problems fail the test; libcrypto's are printed
 * (the first two of each kind per operation, all with M2M_ALLOC_VERBOSE)
 * and counted, with the stacks of the failed allocation and leaked blocks.
 *
 * Runtime: operations with thousands of allocations (provider load, PEM
 * keys in sign and open) are tried exhaustively up to a cap, above it at
 * every stride-th allocation and at every allocation made by m2msec's own
 * code; the output gives, per operation and mode, the runs, the largest N
 * and the allocations of one uninjected run. M2M_ALLOC_QUICK (set in
 * sanitizer builds) lowers the cap to 20 and the stride to 1000;
 * M2M_ALLOC_CAP sets the cap, M2M_ALLOC_ONLY picks operations by name,
 * M2M_ALLOC_N runs one N.
 */
#define _GNU_SOURCE /* dladdr1, REG_RIP */

#include <dlfcn.h>
#include <execinfo.h>
#include <limits.h>
#include <link.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <ucontext.h>

#include <openssl/conf.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include "hard_test.h"
#include "mem_store.h"
#include "m2msec/integrity.h"
#include "m2msec/session.h"
#include "session_call.h"

/* ======================================================================== */
/* The allocator                                                            */
/* ======================================================================== */

#define BT_MAX 14

typedef struct blk {
    struct blk *prev, *next;
    size_t size;
    uint64_t serial;
    const char *file;
    int line;
    unsigned magic;
    int nbt; /* frames in bt (tracing only) */
    void *bt[BT_MAX];
} blk;

#define BLK_MAGIC 0x6d326d61u
#define HDR ((sizeof(blk) + 15u) & ~(size_t)15u)

static pthread_mutex_t mem_mu = PTHREAD_MUTEX_INITIALIZER;
static blk mem_head = {&mem_head, &mem_head, 0, 0, NULL, 0, 0, 0, {NULL}};
static size_t mem_live;
static uint64_t mem_serial;
static atomic_int mem_trace; /* record a backtrace with every block */

enum { FAIL_ONE = 1, FAIL_FROM = 2 };

/* Shared with the forked child that runs one iteration (MAP_SHARED). */
#define MAXMSG 12
typedef struct {
    atomic_ulong attempts; /* allocation attempts while armed */
    atomic_ulong injected; /* failures injected while armed */
    int done;              /* the child finished normally */
    int completed;         /* the run had no injected failure */
    int ok, survived, failed, noerr_crypto, caches;
    int harness; /* failed in the test's own EVP call, without an error: nobody's fault */
    unsigned long checks;
    int crash_sig, crash_m2m;
    char crash[900];
    int nmsg, lost;
    struct {
        int m2m; /* 1: m2msec's fault (a test failure); 0: libcrypto's (a note) */
        char cat[16];
        char text[2400];
    } msg[MAXMSG];
} child_report;
static child_report *rep;

static atomic_int inj_armed;
static unsigned long inj_at;
static int inj_mode;
static const char *inj_file; /* site of the first injected failure */
static int inj_line;
static void *inj_bt[BT_MAX];
static int inj_nbt;

/* Sites of the allocations of one uninjected run (warm-up), by attempt number. */
#define MAX_SITES 20000
static const char *site_file[MAX_SITES + 1];
static atomic_int site_record;

static int should_fail(const char *file, int line)
{
    unsigned long n;
    int fail;

    if (!atomic_load(&inj_armed))
        return 0;
    n = atomic_fetch_add(&rep->attempts, 1) + 1;
    if (atomic_load(&site_record) && n <= MAX_SITES)
        site_file[n] = file;
    fail = inj_mode == FAIL_ONE ? n == inj_at : n >= inj_at;
    if (fail && atomic_fetch_add(&rep->injected, 1) == 0) {
        inj_file = file;
        inj_line = line;
        inj_nbt = backtrace(inj_bt, BT_MAX);
    }
    return fail;
}

static void link_blk(blk *b)
{
    b->prev = &mem_head;
    b->next = mem_head.next;
    mem_head.next->prev = b;
    mem_head.next = b;
    mem_live++;
}

static void unlink_blk(blk *b)
{
    b->prev->next = b->next;
    b->next->prev = b->prev;
    mem_live--;
}

static void *h_malloc(size_t num, const char *file, int line)
{
    blk *b;

    if (num == 0 || should_fail(file, line))
        return NULL;
    b = malloc(HDR + num);
    if (b == NULL)
        return NULL;
    b->size = num;
    b->file = file;
    b->line = line;
    b->magic = BLK_MAGIC;
    b->nbt = atomic_load(&mem_trace) ? backtrace(b->bt, BT_MAX) : 0;
    pthread_mutex_lock(&mem_mu);
    b->serial = ++mem_serial;
    link_blk(b);
    pthread_mutex_unlock(&mem_mu);
    return (unsigned char *)b + HDR;
}

static void h_free(void *p, const char *file, int line)
{
    blk *b;

    if (p == NULL)
        return;
    b = (blk *)(void *)((unsigned char *)p - HDR);
    if (b->magic != BLK_MAGIC) {
        fprintf(stderr, "h_free: not a live block of this allocator (%s:%d)\n", file, line);
        abort();
    }
    pthread_mutex_lock(&mem_mu);
    unlink_blk(b);
    pthread_mutex_unlock(&mem_mu);
    b->magic = 0;
    free(b);
}

static void *h_realloc(void *p, size_t num, const char *file, int line)
{
    blk *b, *nb;

    if (p == NULL)
        return h_malloc(num, file, line);
    if (num == 0) {
        h_free(p, file, line);
        return NULL;
    }
    if (should_fail(file, line))
        return NULL;
    b = (blk *)(void *)((unsigned char *)p - HDR);
    if (b->magic != BLK_MAGIC) {
        fprintf(stderr, "h_realloc: not a live block of this allocator (%s:%d)\n", file, line);
        abort();
    }
    pthread_mutex_lock(&mem_mu);
    unlink_blk(b);
    nb = realloc(b, HDR + num);
    if (nb == NULL) {
        link_blk(b);
        pthread_mutex_unlock(&mem_mu);
        return NULL;
    }
    nb->size = num;
    link_blk(nb);
    pthread_mutex_unlock(&mem_mu);
    return (unsigned char *)nb + HDR;
}

static size_t live_blocks(void)
{
    size_t n;

    pthread_mutex_lock(&mem_mu);
    n = mem_live;
    pthread_mutex_unlock(&mem_mu);
    return n;
}

static uint64_t serial_now(void)
{
    uint64_t s;

    pthread_mutex_lock(&mem_mu);
    s = mem_serial;
    pthread_mutex_unlock(&mem_mu);
    return s;
}

static void arm(unsigned long at, int mode)
{
    inj_at = at;
    inj_mode = mode;
    inj_file = NULL;
    inj_line = 0;
    inj_nbt = 0;
    atomic_store(&rep->attempts, 0);
    atomic_store(&rep->injected, 0);
    atomic_store(&inj_armed, 1);
}

static void disarm(void)
{
    atomic_store(&inj_armed, 0);
}

/* ---- who is to blame: allocation sites and stack frames ---- */

/* Is this allocation site in m2msec's own code (the provider or libm2msec)? */
static int m2m_site(const char *file)
{
    return file != NULL &&
           (strstr(file, "provider/") != NULL || strstr(file, "libm2msec/") != NULL);
}

enum { MOD_OTHER, MOD_EXE, MOD_CRYPTO, MOD_M2M, MOD_LIBC };
static void *exe_base;

/* The module of a return address, and its function name where the symbol really covers it. */
static int frame_mod(void *pc, const char **sym, char *where, size_t wlen)
{
    const ElfW(Sym) *es = NULL;
    const char *base;
    uintptr_t a = (uintptr_t)pc - 1;
    Dl_info di;
    int kind;

    *sym = NULL;
    if (!dladdr1((void *)a, &di, (void **)&es, RTLD_DL_SYMENT) || di.dli_fname == NULL) {
        snprintf(where, wlen, "%p", pc);
        return MOD_OTHER;
    }
    if (di.dli_sname != NULL && es != NULL && a >= (uintptr_t)di.dli_saddr &&
        a < (uintptr_t)di.dli_saddr + es->st_size)
        *sym = di.dli_sname;
    base = strrchr(di.dli_fname, '/');
    base = base != NULL ? base + 1 : di.dli_fname;
    if (di.dli_fbase == exe_base)
        kind = MOD_EXE;
    else if (strstr(base, "libcrypto") != NULL)
        kind = MOD_CRYPTO;
    else if (strcmp(base, "m2msec.so") == 0 || strncmp(base, "libm2msec", 9) == 0)
        kind = MOD_M2M;
    else if (strncmp(base, "libc.so", 7) == 0)
        kind = MOD_LIBC;
    else
        kind = MOD_OTHER;
    snprintf(where, wlen, "%s+0x%lx%s%s%s", kind == MOD_EXE ? "test" : base,
             (unsigned long)(a - (uintptr_t)di.dli_fbase), *sym != NULL ? "(" : "",
             *sym != NULL ? *sym : "", *sym != NULL ? ")" : "");
    return kind;
}

static int is_mem_fn(const char *sym)
{
    static const char *const fns[] = {
        "CRYPTO_malloc",        "CRYPTO_zalloc",  "CRYPTO_realloc",    "CRYPTO_clear_realloc",
        "CRYPTO_strdup",        "CRYPTO_strndup", "CRYPTO_memdup",     "CRYPTO_secure_malloc",
        "CRYPTO_secure_zalloc", "CRYPTO_free",    "CRYPTO_clear_free", "CRYPTO_secure_clear_free",
        "CRYPTO_secure_free"};

    for (size_t i = 0; sym != NULL && i < sizeof(fns) / sizeof(fns[0]); i++)
        if (strcmp(sym, fns[i]) == 0)
            return 1;
    return 0;
}

/*
 * Frames of an allocation (captured in the allocator): the allocator, then
 * libcrypto's CRYPTO_* memory functions, then the function that asked for
 * the memory, then its caller. 1 if the memory belongs to m2msec: asked
 * for by m2msec itself, or by a libcrypto function that m2msec called
 * directly (a constructor whose result m2msec owns, e.g. EVP_MAC_CTX_new).
 * A block allocated deeper inside libcrypto is libcrypto's business.
 */
static int m2m_owned(void *const *bt, int n, char *trace, size_t tlen)
{
    const char *sym;
    char where[160];
    int i = 0, kind = MOD_OTHER, owned = 0;
    size_t off = 0;

    trace[0] = '\0';
    for (int k = 0; k < n && off + 1 < tlen; k++) {
        frame_mod(bt[k], &sym, where, sizeof(where));
        off += (size_t)snprintf(trace + off, tlen - off, "%s%s", k ? " <- " : "", where);
    }
    while (i < n && frame_mod(bt[i], &sym, where, sizeof(where)) == MOD_EXE)
        i++;
    while (i < n && (kind = frame_mod(bt[i], &sym, where, sizeof(where))) == MOD_CRYPTO &&
           is_mem_fn(sym))
        i++;
    if (i < n && kind == MOD_M2M)
        owned = 1;
    else if (i + 1 < n && kind == MOD_CRYPTO)
        owned = frame_mod(bt[i + 1], &sym, where, sizeof(where)) == MOD_M2M;
    return owned;
}

/* 1 if the allocating libcrypto function was called by the test itself, not through m2msec. */
static int harness_call(void *const *bt, int n)
{
    const char *sym;
    char where[160];
    int i = 0, kind = MOD_OTHER;

    while (i < n && frame_mod(bt[i], &sym, where, sizeof(where)) == MOD_EXE)
        i++;
    while (i < n && (kind = frame_mod(bt[i], &sym, where, sizeof(where))) == MOD_CRYPTO &&
           is_mem_fn(sym))
        i++;
    if (kind == MOD_EXE) /* e.g. EVP_CIPHER_CTX_new tail-calls CRYPTO_zalloc */
        return 1;
    return kind == MOD_CRYPTO && i + 1 < n &&
           frame_mod(bt[i + 1], &sym, where, sizeof(where)) == MOD_EXE;
}

/* ---- the crash handler of a child ---- */

static void crash_handler(int sig, siginfo_t *si, void *ucv)
{
    ucontext_t *uc = ucv;
    void *bt[32], *pc = NULL;
    const char *sym;
    char where[160];
    int n = backtrace(bt, 32), kind = MOD_OTHER;
    size_t off;

    (void)si;
#if defined(__x86_64__)
    if (sig != SIGABRT)
        pc = (void *)((uintptr_t)uc->uc_mcontext.gregs[REG_RIP] + 1);
#else
    (void)uc;
#endif
    if (pc != NULL) {
        kind = frame_mod(pc, &sym, where, sizeof(where));
    } else {
        /* abort(): the first frame that is not libc, the allocator or a CRYPTO_* memory function */
        for (int i = 1; i < n; i++) {
            kind = frame_mod(bt[i], &sym, where, sizeof(where));
            if (kind == MOD_LIBC || (kind == MOD_EXE && i < 4) ||
                (kind == MOD_CRYPTO && is_mem_fn(sym)))
                continue;
            break;
        }
    }
    rep->crash_sig = sig;
    rep->crash_m2m = kind != MOD_CRYPTO;
    off = (size_t)snprintf(rep->crash, sizeof(rep->crash), "signal %d in %s; stack:", sig, where);
    for (int i = 1; i < n && i < 12 && off + 1 < sizeof(rep->crash); i++) {
        frame_mod(bt[i], &sym, where, sizeof(where));
        off += (size_t)snprintf(rep->crash + off, sizeof(rep->crash) - off, " %s", where);
    }
    _exit(100 + sig);
}

static void install_crash_handler(void)
{
    struct sigaction sa;
    static const int sigs[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT};

    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = crash_handler;
    sa.sa_flags = SA_SIGINFO | SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
        sigaction(sigs[i], &sa, NULL);
}

/* ======================================================================== */
/* Shared state                                                             */
/* ======================================================================== */

static const char *mods;
static OSSL_LIB_CTX *libctx; /* m2msec + default */
static OSSL_PROVIDER *prov, *prov_default;
static OSSL_LIB_CTX *refctx; /* default only: references */
static OSSL_PROVIDER *ref_default;
static char tmp[PATH_MAX];
static unsigned long uniq; /* unique names and keys */
static char label[160];    /* the operation and N, for messages */

static const unsigned char service_key[32] = {
    0x3c, 0x91, 0x0e, 0x7a, 0x55, 0xd2, 0x18, 0xf4, 0x6b, 0x20, 0xa9, 0x4d, 0xe3, 0x07, 0xbc, 0x62,
    0x1f, 0x88, 0x35, 0xca, 0x70, 0x0b, 0xd6, 0x49, 0x9e, 0x24, 0x5f, 0xe1, 0x13, 0xa6, 0x7d, 0xc8,
};
static const unsigned char device_key[32] = {
    0xd0, 0x4e, 0x1a, 0x93, 0x27, 0xfc, 0x60, 0x85, 0x3b, 0xe9, 0x12, 0x7f, 0xa4, 0x58, 0xc1, 0x06,
    0x6d, 0xb2, 0x49, 0xf0, 0x8e, 0x15, 0xd7, 0x3a, 0xc5, 0x61, 0x0c, 0x9b, 0x74, 0xe8, 0x2f, 0x53,
};

/* 1 if every byte of p[0..n) is @p v. */
static int all_bytes(const unsigned char *p, size_t n, unsigned char v)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != v)
            return 0;
    return 1;
}

/* Wiped (all zero) or untouched (all 0xAA): no partial output. */
static int wiped_or_untouched(const unsigned char *p, size_t n)
{
    return all_bytes(p, n, 0x00) || all_bytes(p, n, 0xAA);
}

/* No temporary file of an atomic write or a remediation left in @p list. */
static int no_temp_files(const char *list)
{
    return list == NULL || (strstr(list, ".tmp.") == NULL && strstr(list, ".m2msec-") == NULL);
}

/* ======================================================================== */
/* The driver                                                               */
/* ======================================================================== */

typedef struct op {
    const char *name;
    int api;           /* a libm2msec function: a failure always queues an error */
    unsigned long cap; /* exhaustive up to this N, then m2msec's own sites and a sample */
    unsigned stride;   /* above the cap: every stride-th allocation (and all of m2msec's) */
    int isolate;       /* run each iteration in a child process (libcrypto may crash) */
    void *(*setup)(void);
    int (*run)(void *st);
    void (*after)(void *st, int ok); /* outputs and files after a run (CHECKs) */
    int (*retry)(void *st);          /* the uninjected re-run; NULL: run */
    void (*cleanup)(void *st);
} op;

typedef struct {
    unsigned long allocs;  /* allocations of one uninjected run */
    unsigned long maxn[3]; /* largest N tried, per mode */
    unsigned long tried[3];
    unsigned long failed[3], survived[3], crypto_notes[3];
} op_stats;

/* Totals, and libcrypto's share by category. */
static unsigned long total_runs, total_m2m;
enum { C_CRASH, C_LEAK, C_NOERR, C_RETRY, C_CACHE, C_NCAT };
static const char *const cat_names[C_NCAT] = {"crash", "leak", "no-error", "retry", "cache"};
static unsigned long crypto_cat[C_NCAT];
static unsigned long cap_override;

static void child_msg(int m2m, const char *cat, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void child_msg(int m2m, const char *cat, const char *fmt, ...)
{
    va_list ap;

    if (rep->nmsg >= MAXMSG) {
        rep->lost++;
        return;
    }
    rep->msg[rep->nmsg].m2m = m2m;
    snprintf(rep->msg[rep->nmsg].cat, sizeof(rep->msg[0].cat), "%s", cat);
    va_start(ap, fmt);
    vsnprintf(rep->msg[rep->nmsg].text, sizeof(rep->msg[0].text), fmt, ap);
    va_end(ap);
    rep->nmsg++;
}

static void child_fail_hook(const char *msg)
{
    child_msg(1, "check", "%s", msg);
}

/* The earliest queued error, as text; *m2m: raised by m2msec (libm2msec or the provider). */
static void first_error(char *buf, size_t len, int *m2m)
{
    unsigned long e = ERR_peek_error();
    int lib = ERR_GET_LIB(e);

    *m2m = e == 0 || lib >= ERR_LIB_USER || lib == ERR_LIB_SYS;
    if (e == 0)
        snprintf(buf, len, "no error queued");
    else
        ERR_error_string_n(e, buf, len);
}

static int do_retry(const op *o, void *st)
{
    return o->retry != NULL ? o->retry(st) : o->run(st);
}

/*
 * The live blocks allocated after @p since: 1 if one of them was allocated
 * by m2msec's own code (a leak of m2msec). The first ones are described,
 * with their stacks when they were traced; *owned is set if one was
 * allocated by a libcrypto function that m2msec called directly. With
 * @p core_drops (core_drops_provctx), 0 when m2msec's provider context is
 * among them.
 */
static int describe_leak(uint64_t since, char *out, size_t len, int *owned, int core_drops)
{
    char trace[700];
    size_t off = 0;
    int mine = 0, shown = 0, provctx = 0;

    out[0] = '\0';
    *owned = 0;
    pthread_mutex_lock(&mem_mu);
    for (blk *b = mem_head.next; b != &mem_head; b = b->next) {
        int m, o;

        if (b->serial <= since)
            continue;
        m = m2m_site(b->file);
        provctx |= m && strstr(HT_S(b->file), "provider/provider.c") != NULL;
        o = b->nbt > 0 && m2m_owned(b->bt, b->nbt, trace, sizeof(trace));
        mine |= m;
        *owned |= o;
        if (shown++ < 4 && off + 1 < len)
            off += (size_t)snprintf(out + off, len - off, "\n      %zu bytes from %s:%d%s%s",
                                    b->size, HT_S(b->file), b->line, b->nbt > 0 ? ": " : "",
                                    b->nbt > 0 ? trace : "");
    }
    pthread_mutex_unlock(&mem_mu);
    return mine && !(core_drops && provctx);
}

/*
 * OpenSSL 3.5 and later can lose a provider whose OSSL_provider_init has
 * succeeded. Seen with 3.5.9 in scripts/ossl-matrix, provider loads with
 * "all from the N-th fail" at N = 3300..4000: m2msec's OSSL_provider_init
 * returned 1, then the core failed an allocation of its own and gave the
 * provider up without calling its teardown (crypto/provider_core.c's
 * provider_init leaves by "goto end" after a successful init, e.g. when it
 * cannot allocate its copy of the reason strings). Everything the provider
 * context holds - the context itself, allocated in provider/provider.c,
 * its policy strings, its child library context (some 3000 blocks) - is
 * then lost by libcrypto, not leaked by m2msec: m2msec's own error path
 * frees that context last, so a leaked provider context means m2msec's
 * freeing code never ran. OpenSSL 3.0's allocations differ so that this
 * test's injections never get there, and there every block of m2msec's
 * counts, the error path of OSSL_provider_init included. So for the
 * provider loads under 3.5 and later only, a leak that includes the
 * provider context is libcrypto's (still reported, with its stacks);
 * any other leak with a block of m2msec's is still m2msec's.
 */
static int core_drops_provctx(const op *o)
{
    return strncmp(o->name, "provider load", 13) == 0 &&
           (OPENSSL_version_major() > 3 ||
            (OPENSSL_version_major() == 3 && OPENSSL_version_minor() >= 5));
}

/* setup, run under injection, retry if it failed, cleanup: what a leak check repeats. */
static void rerun(const op *o, unsigned long n, int mode)
{
    void *st = o->setup();

    if (st == NULL)
        return;
    arm(n, mode);
    if (!o->run(st)) {
        disarm();
        ERR_clear_error();
        (void)do_retry(o, st);
    }
    disarm();
    ERR_clear_error();
    o->cleanup(st);
    ERR_clear_error();
}

static atomic_ulong *traced_leaks; /* leaks described with stacks so far (shared with children) */

/* One iteration (in a forked child or in this process): everything reported through rep. */
static void one_iteration(const op *o, unsigned long n, int mode, const char *lbl, int forked)
{
    size_t live0, live1;
    unsigned char rnd[8];
    unsigned long done;
    char err[256], trace[700];
    void *st;
    int ok, errq, m2m;

    if (forked) {
        tc_fail_hook = child_fail_hook;
        install_crash_handler();
        /* the fork is noticed at the next random bytes: reseed now, not in the count */
        RAND_bytes_ex(libctx, rnd, sizeof(rnd), 0);
        RAND_priv_bytes_ex(libctx, rnd, sizeof(rnd), 0);
    }
    ERR_clear_error();
    live0 = live_blocks();
    st = o->setup();
    if (st == NULL) {
        child_msg(1, "setup", "%s: setup failed", lbl);
        rep->completed = 1;
        rep->done = 1;
        return;
    }
    ERR_clear_error();
    arm(n, mode);
    ok = o->run(st);
    disarm();
    done = atomic_load(&rep->injected);
    errq = ERR_peek_error() != 0;
    rep->completed = done == 0;
    rep->ok = ok;
    if (rep->completed) {
        if (!ok) {
            first_error(err, sizeof(err), &m2m);
            child_msg(1, "fail", "%s: no allocation failed, yet the operation failed (%s)", lbl,
                      err);
        }
    } else if (ok) {
        rep->survived = 1;
    } else {
        rep->failed = 1;
        if (!errq) {
            int owned = m2m_owned(inj_bt, inj_nbt, trace, sizeof(trace));

            if (!o->api && !m2m_site(inj_file) && harness_call(inj_bt, inj_nbt))
                rep->harness++; /* the test's own EVP call (e.g. EVP_CIPHER_CTX_new) */
            else if (o->api || m2m_site(inj_file))
                child_msg(1, "no-error",
                          "%s: failed without an error queued (failed allocation at %s:%d: %s)",
                          lbl, HT_S(inj_file), inj_line, trace);
            else
                child_msg(0, "no-error",
                          "%s: failed without an error queued; the failed allocation was "
                          "libcrypto's (%s:%d), %s: %s",
                          lbl, HT_S(inj_file), inj_line,
                          owned ? "asked for by m2msec through EVP" : "not asked for by m2msec",
                          trace);
        }
    }
    ERR_clear_error();
    o->after(st, ok);
    if (!ok && !rep->completed) {
        int ok2 = do_retry(o, st);

        if (!ok2) {
            /* Blame: the root cause is the earliest error of the retry. */
            first_error(err, sizeof(err), &m2m);
            m2m_owned(inj_bt, inj_nbt, trace, sizeof(trace));
            child_msg(m2m || m2m_site(inj_file), "retry",
                      "%s: fails again when nothing fails: %s (after the injected failure at "
                      "%s:%d: %s)",
                      lbl, err, HT_S(inj_file), inj_line, trace);
            ERR_clear_error();
        }
        o->after(st, ok2);
    }
    o->cleanup(st);
    ERR_clear_error();
    live1 = live_blocks();
    if (live1 != live0) {
        /* Same iteration again: a leak repeats, a cache filled once does not. */
        size_t l0 = live_blocks(), l1, again;
        uint64_t since = serial_now();
        char desc[2400];
        int mine, owned;

        tc_fail_hook = NULL;
        rerun(o, n, mode);
        l1 = live_blocks();
        if (l1 == l0) {
            child_msg(0, "cache", "%s: %zd blocks kept once (a cache filled), not again", lbl,
                      (ssize_t)(live1 - live0));
        } else {
            again = l1 - l0;
            mine = describe_leak(since, desc, sizeof(desc), &owned, core_drops_provctx(o));
            if (mine || atomic_fetch_add(traced_leaks, 1) < 3) {
                /* once more with stacks, to say where the leaked blocks came from */
                since = serial_now();
                l0 = live_blocks();
                atomic_store(&mem_trace, 1);
                rerun(o, n, mode);
                atomic_store(&mem_trace, 0);
                mine |= describe_leak(since, desc, sizeof(desc), &owned, core_drops_provctx(o));
            }
            m2m_owned(inj_bt, inj_nbt, trace, sizeof(trace));
            child_msg(mine, "leak",
                      "%s: %zd live blocks more after cleanup, again on a re-run%s; failed "
                      "allocation at %s:%d: %s; leaked:%s",
                      lbl, (ssize_t)again,
                      owned ? " (one allocated by a libcrypto function m2msec called directly)"
                            : "",
                      HT_S(inj_file), inj_line, trace, desc);
        }
        if (forked)
            tc_fail_hook = child_fail_hook;
    }
    rep->checks = tc_checks;
    rep->done = 1;
}

/* Print the first notes of a category per operation, count all. */
static void crypto_note(const char *opname, const char *cat, const char *text)
{
    static char last_op[96];
    static unsigned long shown[C_NCAT];
    int c = 0;

    for (int i = 0; i < C_NCAT; i++)
        if (strcmp(cat, cat_names[i]) == 0)
            c = i;
    crypto_cat[c]++;
    if (strcmp(last_op, opname) != 0) {
        snprintf(last_op, sizeof(last_op), "%s", opname);
        memset(shown, 0, sizeof(shown));
    }
    if (shown[c]++ < 2 || getenv("M2M_ALLOC_VERBOSE") != NULL)
        printf("  libcrypto %s: %s\n", cat, text);
}

/* One injected iteration in a child process; 1 when it ran without any injected failure. */
static int iterate(const op *o, op_stats *s, unsigned long n, int mode)
{
    char lbl[160];
    pid_t pid;
    int status = 0;

    snprintf(lbl, sizeof(lbl), "%s N=%lu (%s)", o->name, n,
             mode == FAIL_ONE ? "only the N-th fails" : "all from the N-th fail");
    memset(rep, 0, sizeof(*rep));
    snprintf(label, sizeof(label), "%s", lbl);
    total_runs++;
    s->tried[mode]++;
    if (!o->isolate) {
        one_iteration(o, n, mode, lbl, 0);
    } else {
        unsigned long checks0 = tc_checks;

        fflush(stdout);
        fflush(stderr);
        pid = fork();
        if (pid < 0) {
            CHECK(0, "%s: fork: %s", lbl, strerror(errno));
            return 1;
        }
        if (pid == 0) {
            struct timespec c0, c1;

            clock_gettime(CLOCK_MONOTONIC, &c0);
            one_iteration(o, n, mode, lbl, 1);
            clock_gettime(CLOCK_MONOTONIC, &c1);
            if (getenv("M2M_ALLOC_TIMING") != NULL)
                fprintf(stderr, "child %.3f ms\n",
                        (double)(c1.tv_sec - c0.tv_sec) * 1e3 +
                            (double)(c1.tv_nsec - c0.tv_nsec) / 1e6);
            _exit(0);
        }
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
            ;
        tc_checks = checks0 + (rep->checks > checks0 ? rep->checks - checks0 : 0);
    }
    if (!rep->done) {
        if (rep->crash_sig != 0 && !rep->crash_m2m) {
            crypto_note(o->name, "crash", rep->crash);
            s->crypto_notes[mode]++;
        } else {
            CHECK(0, "%s: crashed: %s", lbl,
                  rep->crash_sig != 0 ? rep->crash : "no report from the child");
            total_m2m++;
        }
        return atomic_load(&rep->injected) == 0;
    }
    for (int i = 0; i < rep->nmsg; i++) {
        if (rep->msg[i].m2m) {
            CHECK(0, "%s", rep->msg[i].text);
            total_m2m++;
        } else {
            crypto_note(o->name, rep->msg[i].cat, rep->msg[i].text);
            s->crypto_notes[mode]++;
        }
    }
    CHECK(rep->lost == 0, "%s: %d more problems not shown", lbl, rep->lost);
    s->survived[mode] += (unsigned long)rep->survived;
    s->failed[mode] += (unsigned long)rep->failed;
    return rep->completed;
}

static const char *only;     /* M2M_ALLOC_ONLY: run only operations whose name contains this */
static unsigned long only_n; /* M2M_ALLOC_N: only this N (debugging) */
static int quick;            /* M2M_ALLOC_QUICK: sample the large operations sparsely */

static void drive(const op *o)
{
    op_stats s;
    unsigned long cap = cap_override != 0 ? cap_override : o->cap;
    unsigned stride = o->stride != 0 ? o->stride : 100;

    /* sanitizer builds (M2M_ALLOC_QUICK): the large operations only at m2msec's own sites */
    if (quick && o->cap != 0) {
        cap = 20;
        stride = 1000;
    }
    struct timespec t0, t1;
    void *st;

    if (only != NULL && strstr(o->name, only) == NULL)
        return;
    memset(&s, 0, sizeof(s));
    clock_gettime(CLOCK_MONOTONIC, &t0);
    /* Warm-up (caches, per-thread state), then count the allocations of one run. */
    memset(rep, 0, sizeof(*rep));
    for (int w = 0; w < 3; w++) {
        snprintf(label, sizeof(label), "%s (warm-up)", o->name);
        st = o->setup();
        CHECK(st != NULL, "%s: setup", label);
        if (st == NULL)
            return;
        memset(site_file, 0, sizeof(site_file));
        atomic_store(&site_record, 1);
        arm(ULONG_MAX, FAIL_ONE);
        {
            int ok = o->run(st);

            disarm();
            atomic_store(&site_record, 0);
            CHECK(ok, "%s: the operation fails without any injected failure", label);
            if (!ok) {
                ERR_print_errors_fp(stderr);
                o->cleanup(st);
                return;
            }
            o->after(st, ok);
        }
        s.allocs = atomic_load(&rep->attempts);
        o->cleanup(st);
        ERR_clear_error();
    }
    for (int mode = FAIL_ONE; mode <= FAIL_FROM; mode++) {
        for (unsigned long n = 1;; n++) {
            /* beyond the cap: m2msec's own allocations and every stride-th */
            if (only_n == 0 && cap != 0 && n > cap && n <= s.allocs && n % stride != 0 &&
                !(n <= MAX_SITES && m2m_site(site_file[n])))
                continue;
            if (only_n != 0 && n != only_n) {
                if (n > only_n)
                    break;
                continue;
            }
            s.maxn[mode] = n;
            if (iterate(o, &s, n, mode))
                break;
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    printf("%-40s %5lu allocs | one: %lu runs, N<=%lu, %lu failed, %lu survived | from: %lu runs, "
           "N<=%lu, %lu failed, %lu survived | libcrypto notes %lu%s | %.1f s\n",
           o->name, s.allocs, s.tried[FAIL_ONE], s.maxn[FAIL_ONE], s.failed[FAIL_ONE],
           s.survived[FAIL_ONE], s.tried[FAIL_FROM], s.maxn[FAIL_FROM], s.failed[FAIL_FROM],
           s.survived[FAIL_FROM], s.crypto_notes[FAIL_ONE] + s.crypto_notes[FAIL_FROM],
           cap != 0 && s.allocs > cap ? " (sampled above the cap)" : "",
           (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
    if (cap != 0 && s.allocs > cap)
        printf("    N = 1..%lu exhaustively, above that every %uth and all of m2msec's own "
               "allocations\n",
               cap, stride);
    fflush(stdout);
}

/* ======================================================================== */
/* Provider load                                                            */
/* ======================================================================== */

typedef struct {
    OSSL_LIB_CTX *ctx;
    OSSL_PROVIDER *prov, *deflt;
} load_st;

static char cnfpath[PATH_MAX]; /* openssl.cnf with the m2msec section (policy, no activate) */
static int load_with_cnf;

static void *load_setup(void)
{
    load_st *s = calloc(1, sizeof(*s));

    if (s != NULL && (s->ctx = OSSL_LIB_CTX_new()) == NULL) {
        free(s);
        return NULL;
    }
    /* The policy from the config reaches m2msec when it is loaded, under injection. */
    if (s != NULL && load_with_cnf && !OSSL_LIB_CTX_load_config(s->ctx, cnfpath)) {
        OSSL_LIB_CTX_free(s->ctx);
        free(s);
        return NULL;
    }
    return s;
}

static int load_run(void *v)
{
    load_st *s = v;

    s->prov = m2msec_provider_load(s->ctx, mods, &s->deflt);
    return s->prov != NULL;
}

static void load_after(void *v, int ok)
{
    load_st *s = v;
    unsigned char out[32], ref[32];
    m2msec_session_key_spec spec = {0};

    if (!ok) {
        CHECK(s->prov == NULL && s->deflt == NULL, "%s: a handle returned on failure", label);
        CHECK(!OSSL_PROVIDER_available(s->ctx, "m2msec"), "%s: m2msec left loaded after failure",
              label);
        return;
    }
    /* The provider loaded under injection must work. */
    spec.key = service_key;
    spec.key_len = sizeof(service_key);
    spec.purpose = "record";
    spec.originator = "CAE01";
    spec.receiver = "CSE02";
    spec.lifetime = 600;
    if (!m2msec_session_key_derive(s->ctx, &spec, out, sizeof(out))) {
        /* libcrypto remembers a failed lazy initialisation of a library context for good */
        char err[256];
        int m2m;

        first_error(err, sizeof(err), &m2m);
        if (m2m)
            CHECK(0, "%s: the loaded provider cannot derive: %s", label, err);
        else
            child_msg(0, "retry", "%s: the library context cannot derive afterwards: %s", label,
                      err);
        ERR_clear_error();
        return;
    }
    CHECK(ht_ref_session_kdf(refctx, service_key, sizeof(service_key), "record", "CAE01", "CSE02",
                             0, 0, 600, M2MSEC_REC_AES_128_GCM, ref, sizeof(ref)) &&
              memcmp(out, ref, sizeof(out)) == 0,
          "%s: the loaded provider derives the reference key", label);
    ERR_clear_error();
}

static void load_cleanup(void *v)
{
    load_st *s = v;

    OSSL_PROVIDER_unload(s->prov);
    OSSL_PROVIDER_unload(s->deflt);
    OSSL_LIB_CTX_free(s->ctx);
    /* every OSSL_LIB_CTX_load_config() adds to a process-wide list of module instances */
    if (load_with_cnf)
        CONF_modules_finish();
    free(s);
}

/* ======================================================================== */
/* KDFs                                                                     */
/* ======================================================================== */

#define KDF_MAXP 16

typedef struct kdf_case {
    const char *name;
    const char *kdf; /* NULL: m2msec_session_key_derive */
    OSSL_PARAM params[KDF_MAXP];
    size_t outlen;
    unsigned char ref[64];
    int have_ref;
} kdf_case;

typedef struct {
    kdf_case *c;
    EVP_KDF *kdf;
    unsigned char out[64];
} kdf_st;

static kdf_case *cur_kdf;
static uint64_t kdf_epoch = 7, kdf_lifetime = 600, kdf_suid = 42;
static int32_t oscore_alg = 10;
static unsigned char kdf_salt[16], rrand[16], orand[16],
    oscore_id[1] = {0x01}, oscore_ctx[8] = {0x37, 0xcb, 0xf3, 0x21, 0x00, 0x17, 0xa2, 0xd3};

static void *kdf_setup(void)
{
    kdf_st *s = calloc(1, sizeof(*s));

    if (s == NULL)
        return NULL;
    s->c = cur_kdf;
    if (s->c->kdf != NULL && (s->kdf = EVP_KDF_fetch(libctx, s->c->kdf, NULL)) == NULL) {
        free(s);
        return NULL;
    }
    memset(s->out, 0xAA, sizeof(s->out));
    return s;
}

static m2msec_session_key_spec lib_spec(void)
{
    static const unsigned char salt[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    m2msec_session_key_spec spec = {0};

    spec.key = service_key;
    spec.key_len = sizeof(service_key);
    spec.salt = salt;
    spec.salt_len = sizeof(salt);
    spec.purpose = "record";
    spec.originator = "\xef\xbc\xa3\xef\xbc\xa1\xef\xbc\xa5\xef\xbc\x90\xef\xbc\x91";
    spec.receiver = "CSE02";
    spec.epoch = 3;
    spec.lifetime = 900;
    spec.aead = M2MSEC_REC_CHACHA20_POLY1305;
    return spec;
}

static int kdf_run(void *v)
{
    kdf_st *s = v;
    EVP_KDF_CTX *kctx;
    int ok;

    if (s->kdf == NULL) {
        m2msec_session_key_spec spec = lib_spec();

        return m2msec_session_key_derive(libctx, &spec, s->out, s->c->outlen);
    }
    kctx = EVP_KDF_CTX_new(s->kdf);
    ok = kctx != NULL && EVP_KDF_derive(kctx, s->out, s->c->outlen, s->c->params) > 0;
    EVP_KDF_CTX_free(kctx);
    return ok;
}

static void kdf_after(void *v, int ok)
{
    kdf_st *s = v;

    if (!ok) {
        CHECK(wiped_or_untouched(s->out, s->c->outlen),
              "%s: a failed derivation left partial output", label);
        memset(s->out, 0xAA, sizeof(s->out));
        return;
    }
    if (!s->c->have_ref) {
        memcpy(s->c->ref, s->out, s->c->outlen);
        s->c->have_ref = 1;
    }
    CHECK(memcmp(s->out, s->c->ref, s->c->outlen) == 0, "%s: output differs from the reference",
          label);
    memset(s->out, 0xAA, sizeof(s->out));
}

static void kdf_cleanup(void *v)
{
    kdf_st *s = v;

    EVP_KDF_free(s->kdf);
    free(s);
}

static void kdf_session_params(kdf_case *c, const char *originator, const char *receiver)
{
    OSSL_PARAM *p = c->params;

    *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)service_key,
                                             sizeof(service_key));
    *p++ = OSSL_PARAM_construct_utf8_string("purpose", (char *)"record", 0);
    *p++ = OSSL_PARAM_construct_utf8_string("originator", (char *)originator, 0);
    *p++ = OSSL_PARAM_construct_utf8_string("receiver", (char *)receiver, 0);
    *p++ = OSSL_PARAM_construct_uint64("epoch", &kdf_epoch);
    *p++ = OSSL_PARAM_construct_uint64("lifetime", &kdf_lifetime);
    *p = OSSL_PARAM_construct_end();
    c->kdf = "M2M-SESSION-KDF";
    c->outlen = 44;
}

static void kdf_onem2m_params(kdf_case *c, const char *derivation)
{
    OSSL_PARAM *p = c->params;

    *p++ = OSSL_PARAM_construct_utf8_string("derivation", (char *)derivation, 0);
    *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)service_key,
                                             sizeof(service_key));
    *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, kdf_salt, sizeof(kdf_salt));
    *p++ = OSSL_PARAM_construct_utf8_string("maf-id", (char *)"MAF-\xc3\xa9t\xc3\xa9", 0);
    *p++ = OSSL_PARAM_construct_utf8_string("enrolee-id", (char *)"CAE-enrolee-01", 0);
    *p++ = OSSL_PARAM_construct_uint64("suid", &kdf_suid);
    *p++ = OSSL_PARAM_construct_utf8_string("target-id", (char *)"CSE-target", 0);
    *p++ = OSSL_PARAM_construct_octet_string("receiver-rand", rrand, sizeof(rrand));
    *p++ = OSSL_PARAM_construct_octet_string("originator-rand", orand, sizeof(orand));
    *p = OSSL_PARAM_construct_end();
    c->kdf = "ONEM2M-KDF";
    c->outlen = 32;
}

static void kdf_oscore_params(kdf_case *c, int iv)
{
    OSSL_PARAM *p = c->params;

    *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)service_key, 16);
    *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, kdf_salt, 8);
    *p++ = OSSL_PARAM_construct_octet_string("id", oscore_id, iv ? 0 : sizeof(oscore_id));
    *p++ = OSSL_PARAM_construct_octet_string("id-context", oscore_ctx, sizeof(oscore_ctx));
    *p++ = OSSL_PARAM_construct_utf8_string("type", (char *)(iv ? "iv" : "key"), 0);
    *p++ = OSSL_PARAM_construct_int32("alg", &oscore_alg);
    *p = OSSL_PARAM_construct_end();
    c->kdf = "OSCORE-KDF";
    c->outlen = iv ? 13 : 16;
}

static void test_kdfs(void)
{
    static const char *const derivations[] = {"km",           "kpsa",         "usage-key",
                                              "e2e-master",   "e2e-msg-auth", "e2e-msg-conf",
                                              "e2e-att-auth", "e2e-att-conf", "esprim-session"};
    static kdf_case cases[16];
    static char names[16][48];
    size_t nc = 0;
    unsigned char ref[44];

    ht_bytes(kdf_salt, sizeof(kdf_salt), 11);
    ht_bytes(rrand, sizeof(rrand), 12);
    ht_bytes(orand, sizeof(orand), 13);
    kdf_session_params(&cases[nc], "CAE01", "CSE02");
    cases[nc++].name = "M2M-SESSION-KDF (ASCII)";
    /* fullwidth CAE01 and U+FB01 "fi": NFKC through utf8proc */
    kdf_session_params(&cases[nc], "\xef\xbc\xa3\xef\xbc\xa1\xef\xbc\xa5\xef\xbc\x90\xef\xbc\x91",
                       "\xef\xac\x81"
                       "eld-gw");
    cases[nc++].name = "M2M-SESSION-KDF (NFKC)";
    for (size_t i = 0; i < sizeof(derivations) / sizeof(derivations[0]); i++) {
        kdf_onem2m_params(&cases[nc], derivations[i]);
        snprintf(names[nc], sizeof(names[nc]), "ONEM2M-KDF %s", derivations[i]);
        cases[nc].name = names[nc];
        nc++;
    }
    kdf_oscore_params(&cases[nc], 0);
    cases[nc++].name = "OSCORE-KDF key";
    kdf_oscore_params(&cases[nc], 1);
    cases[nc++].name = "OSCORE-KDF iv";
    cases[nc].kdf = NULL;
    cases[nc].outlen = 44;
    cases[nc++].name = "m2msec_session_key_derive";

    for (size_t i = 0; i < nc; i++) {
        op o = {cases[i].name, cases[i].kdf == NULL, 0, 0, 0, kdf_setup, kdf_run, kdf_after,
                NULL,          kdf_cleanup};

        cur_kdf = &cases[i];
        drive(&o);
    }
    /* The references taken from the uninjected runs are the right keys. */
    if (!cases[0].have_ref || !cases[1].have_ref)
        return; /* not run (M2M_ALLOC_ONLY) */
    CHECK(ht_ref_session_kdf(refctx, service_key, sizeof(service_key), "record", "CAE01", "CSE02",
                             7, 0, 600, M2MSEC_REC_AES_128_GCM, ref, sizeof(ref)) &&
              memcmp(ref, cases[0].ref, sizeof(ref)) == 0,
          "M2M-SESSION-KDF reference = stock HKDF");
    CHECK(ht_ref_session_kdf(refctx, service_key, sizeof(service_key), "record", "CAE01",
                             "field-gw", 7, 0, 600, M2MSEC_REC_AES_128_GCM, ref, sizeof(ref)) &&
              memcmp(ref, cases[1].ref, sizeof(ref)) == 0,
          "M2M-SESSION-KDF (NFKC) reference = stock HKDF of the NFKC forms");
}

/* ======================================================================== */
/* Record ciphers                                                           */
/* ======================================================================== */

static const unsigned char rec_aad[13] = "m2msec-aad-1";
static unsigned char rec_pt[64];

typedef struct {
    const ht_alg *alg;
    EVP_CIPHER *cipher;
    unsigned char key[32], iv[HT_IVLEN];
    unsigned char ct[64], tag[HT_TAGLEN], pt[64];
    uint64_t seq;
} rec_st;

static const ht_alg *cur_alg;
static int cur_enc;

static void *rec_setup(void)
{
    rec_st *s = calloc(1, sizeof(*s));

    if (s == NULL)
        return NULL;
    s->alg = cur_alg;
    s->cipher = EVP_CIPHER_fetch(libctx, s->alg->m2m, NULL);
    ht_bytes(s->iv, sizeof(s->iv), 0x1000 + uniq);
    ht_bytes(s->key, sizeof(s->key), 0x2000);
    if (s->cipher == NULL) {
        free(s);
        return NULL;
    }
    if (!cur_enc) {
        /* a record from OpenSSL's own AEAD: decrypting claims nothing, one key will do */
        s->seq = 5;
        if (!ht_ref_record(refctx, s->alg, s->key, s->iv, 3, s->seq, rec_aad, sizeof(rec_aad),
                           rec_pt, sizeof(rec_pt), s->ct, s->tag)) {
            EVP_CIPHER_free(s->cipher);
            free(s);
            return NULL;
        }
    }
    return s;
}

static int rec_run(void *v)
{
    rec_st *s = v;
    EVP_CIPHER_CTX *ctx;
    int ok;

    if (cur_enc) {
        /* An encrypting context claims its key for good: a fresh key for every run. */
        ht_bytes(s->key, sizeof(s->key), 0x10000 + ++uniq);
        ctx = ht_rec_ctx(s->cipher, 1, s->key, s->iv, 3);
        ok = ctx != NULL && ht_rec_seal(ctx, rec_aad, sizeof(rec_aad), rec_pt, sizeof(rec_pt),
                                        s->ct, s->tag, &s->seq);
    } else {
        memset(s->pt, 0xAA, sizeof(s->pt));
        ctx = ht_rec_ctx(s->cipher, 0, s->key, s->iv, 3);
        ok = ctx != NULL && ht_rec_open(ctx, s->seq, rec_aad, sizeof(rec_aad), s->ct,
                                        sizeof(rec_pt), s->tag, s->pt);
    }
    EVP_CIPHER_CTX_free(ctx);
    return ok;
}

static void rec_after(void *v, int ok)
{
    rec_st *s = v;
    unsigned char ct[64], tag[HT_TAGLEN];

    if (!ok)
        return; /* decrypting: plaintext is not to be used before final (record.h) */
    if (cur_enc)
        CHECK(s->seq == 0 &&
                  ht_ref_record(refctx, s->alg, s->key, s->iv, 3, 0, rec_aad, sizeof(rec_aad),
                                rec_pt, sizeof(rec_pt), ct, tag) &&
                  memcmp(ct, s->ct, sizeof(ct)) == 0 && memcmp(tag, s->tag, sizeof(tag)) == 0,
              "%s: record differs from OpenSSL's %s", label, s->alg->evp);
    else
        CHECK(memcmp(s->pt, rec_pt, sizeof(rec_pt)) == 0, "%s: wrong plaintext", label);
}

static void rec_cleanup(void *v)
{
    rec_st *s = v;

    EVP_CIPHER_free(s->cipher);
    free(s);
}

static void test_records(void)
{
    ht_bytes(rec_pt, sizeof(rec_pt), 77);
    for (size_t a = 0; a < HT_NALGS; a++)
        for (int enc = 1; enc >= 0; enc--) {
            char name[64];
            op o = {name, 0, 0, 0, 0, rec_setup, rec_run, rec_after, NULL, rec_cleanup};

            snprintf(name, sizeof(name), "%s %s", ht_algs[a].m2m, enc ? "encrypt" : "decrypt");
            cur_alg = &ht_algs[a];
            cur_enc = enc;
            drive(&o);
        }
}

/* ======================================================================== */
/* Sessions                                                                 */
/* ======================================================================== */

enum { S_NEW_SENDER, S_NEW_RECEIVER, S_SEAL, S_OPEN, S_REKEY_SENDER, S_REKEY_RECEIVER, S_NKINDS };
static const char *const skind_names[S_NKINDS] = {
    "new sender", "new receiver", "seal", "open", "re-key (sender)", "re-key (receiver)"};

#define SREC 64
#define SBUF (SREC + 27)

typedef struct {
    int kind, file;
    char dir[PATH_MAX], spath[PATH_MAX], rpath[PATH_MAX], origin[64];
    mem_store ms, mr;
    m2msec_store ss, sr;
    m2msec_session_policy pol;
    m2msec_session *snd, *rcv, *made;
    unsigned char pt[SREC], rec[4][SBUF], out[SBUF];
    size_t reclen[4], outlen;
    char *before; /* listing of dir before the run */
} sess_st;

static int cur_skind, cur_sfile;

static m2msec_session *sess_make(sess_st *s, m2msec_session_role role)
{
    m2msec_session_config cfg = {0};

    cfg.role = role;
    cfg.libctx = libctx;
    cfg.key = service_key;
    cfg.key_len = sizeof(service_key);
    cfg.originator = s->origin;
    cfg.receiver = "MN-CSE-alloc";
    cfg.policy = &s->pol;
    cfg.store = role == M2MSEC_SESSION_SENDER ? &s->ss : &s->sr;
    return m2msec_session_new(&cfg);
}

static void sess_cleanup(void *v)
{
    sess_st *s = v;

    m2msec_session_free(s->snd);
    m2msec_session_free(s->rcv);
    m2msec_session_free(s->made);
    m2msec_store_clear(&s->ss); /* after the sessions that used them */
    m2msec_store_clear(&s->sr);
    if (s->file)
        ht_rmtree(s->dir);
    free(s->before);
    free(s);
}

static void *sess_setup(void)
{
    sess_st *s = calloc(1, sizeof(*s));
    size_t n;
    int ok = 1;

    if (s == NULL)
        return NULL;
    s->kind = cur_skind;
    s->file = cur_sfile;
    /* Every sender needs keys no other sender used (key registry): a new originator each time. */
    snprintf(s->origin, sizeof(s->origin), "CAE-alloc-%lu", ++uniq);
    ht_bytes(s->pt, sizeof(s->pt), uniq);
    if (s->kind == S_REKEY_SENDER || s->kind == S_REKEY_RECEIVER)
        s->pol.max_records = 2; /* re-key after every record */
    if (s->file) {
        pathf(s->dir, sizeof(s->dir), "%s/sess-%lu", tmp, uniq);
        pathf(s->spath, sizeof(s->spath), "%s/sender.state", s->dir);
        pathf(s->rpath, sizeof(s->rpath), "%s/receiver.state", s->dir);
        if (mkdir(s->dir, 0700) != 0) {
            free(s);
            return NULL;
        }
        ok = m2msec_store_file(&s->ss, s->spath) && m2msec_store_file(&s->sr, s->rpath) &&
             m2msec_store_init(&s->ss) && m2msec_store_init(&s->sr); /* first start */
    } else {
        s->ms = (mem_store)MEM_STORE_FIRST_START;
        s->mr = (mem_store)MEM_STORE_FIRST_START;
        s->ss = mem_store_of(&s->ms);
        s->sr = mem_store_of(&s->mr);
    }
    if (ok && s->kind != S_NEW_SENDER) {
        s->snd = sess_make(s, M2MSEC_SESSION_SENDER);
        ok = s->snd != NULL;
    }
    if (ok && s->kind != S_NEW_RECEIVER && s->kind != S_NEW_SENDER) {
        s->rcv = sess_make(s, M2MSEC_SESSION_RECEIVER);
        ok = s->rcv != NULL;
    }
    /* records 0 and 1 (with re-keying: epochs 1 and 2; a sender's first epoch is 1) */
    for (int i = 0; ok && s->snd != NULL && i < 2; i++)
        ok = t_seal(s->snd, s->pt, sizeof(s->pt), s->rec[i], SBUF, &s->reclen[i]) ==
             M2MSEC_SESSION_OK;
    if (ok && s->rcv != NULL && s->kind != S_NEW_RECEIVER)
        ok = t_open(s->rcv, s->rec[0], s->reclen[0], s->out, sizeof(s->out), &n) ==
             M2MSEC_SESSION_OK;
    if (!ok) {
        ERR_print_errors_fp(stderr);
        sess_cleanup(s);
        return NULL;
    }
    s->before = s->file ? ht_list(s->dir) : NULL;
    memset(s->out, 0xAA, sizeof(s->out));
    return s;
}

static int sess_run(void *v)
{
    sess_st *s = v;

    s->outlen = 99;
    switch (s->kind) {
    case S_NEW_SENDER:
    case S_NEW_RECEIVER:
        m2msec_session_free(s->made);
        s->made =
            sess_make(s, s->kind == S_NEW_SENDER ? M2MSEC_SESSION_SENDER : M2MSEC_SESSION_RECEIVER);
        return s->made != NULL;
    case S_SEAL:
    case S_REKEY_SENDER:
        return t_seal(s->snd, s->pt, sizeof(s->pt), s->out, sizeof(s->out), &s->outlen) ==
               M2MSEC_SESSION_OK;
    default: /* open record 1 (S_REKEY_RECEIVER: the first of epoch 2) */
        return t_open(s->rcv, s->rec[1], s->reclen[1], s->out, sizeof(s->out), &s->outlen) ==
               M2MSEC_SESSION_OK;
    }
}

/* The file store's state file, if present, is complete and loads. */
static int state_file_ok(const char *path)
{
    m2msec_store fs;
    m2msec_session_state st;
    int r;

    if (!file_exists(path))
        return 1;
    if (!m2msec_store_file(&fs, path))
        return 0;
    r = fs.load(fs.arg, NULL, &st);
    m2msec_store_clear(&fs);
    ERR_clear_error();
    return r == 1;
}

static void sess_after(void *v, int ok)
{
    sess_st *s = v;
    m2msec_session_stats stats;
    size_t n = 0;

    if (s->file) {
        char *now = ht_list(s->dir);

        CHECK(no_temp_files(now), "%s: temporary file left behind:\n%s", label, HT_S(now));
        CHECK(state_file_ok(s->spath) && state_file_ok(s->rpath), "%s: state file not loadable",
              label);
        free(now);
    }
    if (s->kind == S_NEW_SENDER || s->kind == S_NEW_RECEIVER) {
        if (!ok)
            CHECK(s->made == NULL, "%s: a session returned on failure", label);
        if (ok && s->kind == S_NEW_SENDER)
            CHECK(t_seal(s->made, s->pt, sizeof(s->pt), s->out, sizeof(s->out), &n) ==
                      M2MSEC_SESSION_OK,
                  "%s: the new sender seals", label);
        if (ok && s->kind == S_NEW_RECEIVER)
            CHECK(t_open(s->made, s->rec[0], s->reclen[0], s->out, sizeof(s->out), &n) ==
                      M2MSEC_SESSION_OK,
                  "%s: the new receiver opens", label);
        ERR_clear_error();
        memset(s->out, 0xAA, sizeof(s->out));
        return;
    }
    if (!ok) {
        /* seal wipes the whole record; open wipes the plaintext (ctlen bytes), if it wrote any */
        int sealing = s->kind == S_SEAL || s->kind == S_REKEY_SENDER;

        CHECK(s->outlen == 0, "%s: outlen %zu after a failure", label, s->outlen);
        CHECK(sealing ? wiped_or_untouched(s->out, sizeof(s->out))
                      : wiped_or_untouched(s->out, SREC) &&
                            all_bytes(s->out + SREC, sizeof(s->out) - SREC, 0xAA),
              "%s: partial output after a failure", label);
        return;
    }
    if (s->kind == S_SEAL || s->kind == S_REKEY_SENDER) {
        /* the receiver opens what was sealed (records 0 and 1 first, for the re-key) */
        unsigned char rec[SBUF];
        size_t rl = s->outlen;

        memcpy(rec, s->out, rl);
        if (s->kind == S_SEAL) {
            CHECK(t_open(s->rcv, rec, rl, s->out, sizeof(s->out), &n) == M2MSEC_SESSION_OK &&
                      n == SREC && memcmp(s->out, s->pt, SREC) == 0,
                  "%s: the sealed record opens", label);
        } else {
            m2msec_session_get_stats(s->snd, &stats);
            CHECK(stats.epoch >= 3, "%s: sender at epoch %" PRIu64 " after the re-key", label,
                  stats.epoch);
            CHECK(t_open(s->rcv, rec, rl, s->out, sizeof(s->out), &n) == M2MSEC_SESSION_OK &&
                      n == SREC && memcmp(s->out, s->pt, SREC) == 0,
                  "%s: the record of the new epoch opens", label);
        }
        ERR_clear_error();
    } else {
        CHECK(s->outlen == SREC && memcmp(s->out, s->pt, SREC) == 0, "%s: wrong plaintext", label);
        if (s->kind == S_REKEY_RECEIVER) {
            m2msec_session_get_stats(s->rcv, &stats);
            CHECK(stats.epoch == 2, "%s: receiver at epoch %" PRIu64, label, stats.epoch);
        }
    }
    memset(s->out, 0xAA, sizeof(s->out));
}

static void test_sessions(void)
{
    for (int file = 0; file <= 1; file++)
        for (int k = 0; k < S_NKINDS; k++) {
            char name[64];
            op o = {name, 1, 0, 0, 0, sess_setup, sess_run, sess_after, NULL, sess_cleanup};

            snprintf(name, sizeof(name), "session %s (%s store)", skind_names[k],
                     file ? "file" : "memory");
            cur_skind = k;
            cur_sfile = file;
            drive(&o);
        }
}

/* ======================================================================== */
/* Manifests, verification, policy, status                                  */
/* ======================================================================== */

static char mdir[PATH_MAX], root[PATH_MAX], keyed[PATH_MAX], keyec[PATH_MAX], pubed[PATH_MAX],
    pubec[PATH_MAX], mpath[PATH_MAX], spath[PATH_MAX], polpath[PATH_MAX];
static unsigned char *mtext;
static size_t mtext_len;
static m2msec_manifest *good_m; /* of the tree as it should be */

static const struct {
    const char *path, *good, *bad;
} files[] = {
    {"bin/app", "#!/bin/sh\necho app\n", "#!/bin/sh\necho evil\n"},
    {"bin/helper", "helper v1\n", NULL},
    {"etc/app.conf", "level = 3\n", "level = 0\n"},
    {"lib/libx.so",
     "\x7f"
     "ELF fake library\n",
     NULL},
    {"share/readme", "read me\n", NULL},
};
#define NFILES (sizeof(files) / sizeof(files[0]))

static int write_pem_keys(void)
{
    EVP_PKEY *ed = EVP_PKEY_Q_keygen(refctx, NULL, "ED25519");
    EVP_PKEY *ec = EVP_PKEY_Q_keygen(refctx, NULL, "EC", "P-256");
    const char *paths[4] = {keyed, pubed, keyec, pubec};
    int ok = ed != NULL && ec != NULL;

    for (int i = 0; ok && i < 4; i++) {
        FILE *f = fopen(paths[i], "w");
        EVP_PKEY *k = i < 2 ? ed : ec;

        ok = f != NULL && (i % 2 == 0 ? PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL)
                                      : PEM_write_PUBKEY(f, k));
        if (f != NULL)
            ok &= fclose(f) == 0;
    }
    EVP_PKEY_free(ed);
    EVP_PKEY_free(ec);
    return ok;
}

/* The tree under @p dir: good files, or with @p bad the modified ones (and an extra file). */
static int make_tree(const char *dir, int bad)
{
    char p[PATH_MAX];
    static const char *const dirs[] = {"bin", "etc", "lib", "share"};

    ht_rmtree(dir);
    if (mkdir(dir, 0755) != 0)
        return 0;
    for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
        pathf(p, sizeof(p), "%s/%s", dir, dirs[i]);
        if (mkdir(p, 0755) != 0)
            return 0;
    }
    for (size_t i = 0; i < NFILES; i++) {
        pathf(p, sizeof(p), "%s/%s", dir, files[i].path);
        if (!ht_write_str(p, bad && files[i].bad != NULL ? files[i].bad : files[i].good))
            return 0;
    }
    if (bad) {
        pathf(p, sizeof(p), "%s/bin/dropped.bin", dir);
        return ht_write_str(p, "not listed\n");
    }
    return 1;
}

static int manifests_init(void)
{
    pathf(mdir, sizeof(mdir), "%s/manifest", tmp);
    pathf(root, sizeof(root), "%s/good-tree", tmp);
    pathf(keyed, sizeof(keyed), "%s/ed25519.pem", tmp);
    pathf(pubed, sizeof(pubed), "%s/ed25519.pub.pem", tmp);
    pathf(keyec, sizeof(keyec), "%s/p256.pem", tmp);
    pathf(pubec, sizeof(pubec), "%s/p256.pub.pem", tmp);
    pathf(mpath, sizeof(mpath), "%s/signed.manifest", tmp);
    pathf(spath, sizeof(spath), "%s/signed.manifest.sig", tmp);
    if (!write_pem_keys() || !make_tree(root, 0))
        return 0;
    good_m = m2msec_manifest_from_tree(libctx, root, "SHA256", 5, 4000000000u, 1, 1);
    if (good_m == NULL || !m2msec_manifest_serialize(good_m, &mtext, &mtext_len))
        return 0;
    return write_file(mpath, mtext, mtext_len, 0644) &&
           m2msec_manifest_sign(libctx, mpath, keyed, NULL);
}

/* A fresh directory for one run: tmp/run-N. */
typedef struct {
    char dir[PATH_MAX], path[PATH_MAX], path2[PATH_MAX];
    m2msec_manifest *m;
    unsigned char *buf;
    size_t len;
    m2msec_report *r;
    m2msec_policy *pol;
    char *before;
    int which;
} man_st;

static int cur_which;

static man_st *man_new(void)
{
    man_st *s = calloc(1, sizeof(*s));

    if (s == NULL)
        return NULL;
    s->which = cur_which;
    pathf(s->dir, sizeof(s->dir), "%s/run-%lu", tmp, ++uniq);
    if (mkdir(s->dir, 0700) != 0) {
        free(s);
        return NULL;
    }
    return s;
}

static void man_cleanup(void *v)
{
    man_st *s = v;

    m2msec_manifest_free(s->m);
    OPENSSL_free(s->buf);
    m2msec_report_free(s->r);
    m2msec_policy_free(s->pol);
    ht_rmtree(s->dir);
    free(s->before);
    free(s);
}

/*
 * The file @p name in the run's directory with @p len bytes of @p data
 * (s->path), then the listing of the directory (s->before). NULL (and @p s
 * freed) on failure, or if @p s is NULL.
 */
static man_st *man_with_file(man_st *s, const char *name, const void *data, size_t len)
{
    if (s == NULL)
        return NULL;
    pathf(s->path, sizeof(s->path), "%s/%s", s->dir, name);
    if (!write_file(s->path, data, len, 0644)) {
        man_cleanup(s);
        return NULL;
    }
    s->before = ht_list(s->dir);
    return s;
}

/* ---- parse ---- */

static void *parse_setup(void)
{
    return man_new();
}

static int parse_run(void *v)
{
    man_st *s = v;

    m2msec_manifest_free(s->m);
    s->m = m2msec_manifest_parse(mtext, mtext_len);
    return s->m != NULL;
}

static void parse_after(void *v, int ok)
{
    man_st *s = v;
    unsigned char *b = NULL;
    size_t n = 0;

    if (!ok) {
        CHECK(s->m == NULL, "%s: manifest returned on failure", label);
        return;
    }
    CHECK(m2msec_manifest_count(s->m) == NFILES && m2msec_manifest_serialize(s->m, &b, &n) &&
              n == mtext_len && memcmp(b, mtext, n) == 0,
          "%s: the parsed manifest serialises to the text", label);
    OPENSSL_free(b);
}

/* ---- serialize ---- */

static unsigned char sentinel[1];

static void *ser_setup(void)
{
    man_st *s = man_new();

    if (s != NULL && (s->m = m2msec_manifest_parse(mtext, mtext_len)) == NULL) {
        man_cleanup(s);
        return NULL;
    }
    return s;
}

static int ser_run(void *v)
{
    man_st *s = v;

    OPENSSL_free(s->buf == sentinel ? NULL : s->buf);
    s->buf = sentinel;
    s->len = 12345;
    if (m2msec_manifest_serialize(s->m, &s->buf, &s->len))
        return 1;
    return 0;
}

static void ser_after(void *v, int ok)
{
    man_st *s = v;

    if (!ok) {
        CHECK(s->buf == sentinel && s->len == 12345, "%s: outputs written on failure", label);
        s->buf = NULL;
        return;
    }
    CHECK(s->len == mtext_len && memcmp(s->buf, mtext, s->len) == 0, "%s: wrong text", label);
}

/* ---- write ---- */

static void *write_setup(void)
{
    return man_with_file(ser_setup(), "device.manifest", "old manifest\n", 13);
}

static int write_run(void *v)
{
    man_st *s = v;

    return m2msec_manifest_write(s->m, s->path);
}

static void write_after(void *v, int ok)
{
    man_st *s = v;
    char *now = ht_list(s->dir);

    CHECK(no_temp_files(now), "%s: temporary file left:\n%s", label, HT_S(now));
    if (!ok)
        CHECK(ht_file_is(s->path, "old manifest\n", 13), "%s: the old manifest was changed", label);
    else
        CHECK(ht_file_is(s->path, mtext, mtext_len), "%s: wrong manifest written", label);
    free(now);
}

/* ---- sign ---- */

static void *sign_setup(void)
{
    man_st *s = man_with_file(man_new(), "device.manifest", mtext, mtext_len);

    if (s != NULL)
        pathf(s->path2, sizeof(s->path2), "%s/device.manifest.sig", s->dir);
    return s;
}

static int sign_run(void *v)
{
    man_st *s = v;

    return m2msec_manifest_sign(libctx, s->path, s->which ? keyec : keyed, NULL);
}

static void sign_after(void *v, int ok)
{
    man_st *s = v;
    char *now = ht_list(s->dir);

    if (!ok) {
        CHECK(now != NULL && s->before != NULL && strcmp(now, s->before) == 0,
              "%s: files changed by a failed signing:\n%s", label, HT_S(now));
    } else {
        m2msec_manifest *m = NULL;

        CHECK(no_temp_files(now), "%s: temporary file left:\n%s", label, HT_S(now));
        CHECK(m2msec_manifest_accept(libctx, s->path, NULL, s->which ? pubec : pubed, NULL, 1000,
                                     &m, NULL) == 1,
              "%s: the signature verifies", label);
        m2msec_manifest_free(m);
        ERR_clear_error();
        unlink(s->path2);
    }
    free(now);
}

/* ---- open ---- */

static void *open_setup(void)
{
    return man_with_file(man_new(), "rollback.state", "m2msec-manifest-state 1\nversion 1\n", 34);
}

static int open_run(void *v)
{
    man_st *s = v;

    m2msec_manifest_free(s->m);
    s->m = (m2msec_manifest *)sentinel;
    return m2msec_manifest_accept(libctx, mpath, NULL, pubed, s->path, 1000, &s->m, NULL);
}

static void open_after(void *v, int ok)
{
    man_st *s = v;
    char *now = ht_list(s->dir);

    CHECK(no_temp_files(now), "%s: temporary file left:\n%s", label, HT_S(now));
    if (!ok) {
        CHECK(s->m == NULL, "%s: a manifest returned on failure", label);
        s->m = NULL;
        CHECK(ht_file_is(s->path, "m2msec-manifest-state 1\nversion 1\n", 34),
              "%s: rollback state changed by a failed open", label);
    } else {
        CHECK(s->m != NULL && m2msec_manifest_count(s->m) == NFILES &&
                  m2msec_manifest_version(s->m) == 5,
              "%s: wrong manifest", label);
        CHECK(ht_file_is(s->path, "m2msec-manifest-state 1\nversion 5\n", 34),
              "%s: rollback state not updated", label);
    }
    free(now);
}

/* ---- verify_tree ---- */

static void *verify_setup(void)
{
    man_st *s = man_new();

    if (s == NULL)
        return NULL;
    pathf(s->path, sizeof(s->path), "%s/tree", s->dir);
    if (!make_tree(s->path, 1)) {
        man_cleanup(s);
        return NULL;
    }
    return s;
}

static int verify_run(void *v)
{
    man_st *s = v;
    m2msec_tree_verify_options opt = {0};

    opt.jobs = 2;
    opt.report_extra = 1;
    m2msec_report_free(s->r);
    s->r = m2msec_tree_verify(libctx, good_m, s->path, &opt);
    return s->r != NULL;
}

static void verify_after(void *v, int ok)
{
    man_st *s = v;
    size_t mod = 0, extra = 0, good = 0;

    if (!ok) {
        CHECK(s->r == NULL, "%s: report returned on failure", label);
        return;
    }
    for (size_t i = 0; i < m2msec_report_count(s->r); i++) {
        const m2msec_file_result *r = m2msec_report_at(s->r, i);

        mod += r->status == M2MSEC_FILE_MODIFIED;
        extra += r->status == M2MSEC_FILE_EXTRA;
        good += r->status == M2MSEC_FILE_OK;
    }
    CHECK(m2msec_report_count(s->r) == NFILES + 1 && mod == 2 && extra == 1 && good == 3,
          "%s: wrong report (%zu results, %zu modified, %zu extra, %zu ok)", label,
          m2msec_report_count(s->r), mod, extra, good);
}

/* ---- policy ---- */

/* The policy text with quarantine directory and log in @p dir, the good tree as repository. */
static void policy_text(const char *dir, char *text, size_t len)
{
    snprintf(text, len,
             "# integrity policy of the allocation-failure test\n"
             "[integrity]\n"
             "default_action = quarantine\n"
             "quarantine_dir = %s/QDIR\n"
             "log = %s/LOG\n"
             "repository = %s\n"
             "\n"
             "[rules]\n"
             "bin/app = remediate\n"
             "etc/* = quarantine\n"
             "bin/*.bin = quarantine\n"
             "share/* = alert\n"
             "lib/* = deny\n",
             dir, dir, root);
}

static int write_policy(void)
{
    char text[4 * PATH_MAX];

    pathf(polpath, sizeof(polpath), "%s/policy.cnf", tmp);
    policy_text(tmp, text, sizeof(text));
    return ht_write_str(polpath, text);
}

static void *polload_setup(void)
{
    return man_new();
}

static int polload_run(void *v)
{
    man_st *s = v;

    m2msec_policy_free(s->pol);
    s->pol = m2msec_policy_load(polpath);
    return s->pol != NULL;
}

static void polload_after(void *v, int ok)
{
    man_st *s = v;

    if (!ok) {
        CHECK(s->pol == NULL, "%s: policy returned on failure", label);
        return;
    }
    CHECK(m2msec_policy_action(s->pol, "bin/app") == M2MSEC_ACTION_REMEDIATE &&
              m2msec_policy_action(s->pol, "etc/x") == M2MSEC_ACTION_QUARANTINE &&
              m2msec_policy_action(s->pol, "lib/libx.so") == M2MSEC_ACTION_DENY &&
              m2msec_policy_action(s->pol, "share/readme") == M2MSEC_ACTION_ALERT &&
              m2msec_policy_action(s->pol, "other") == M2MSEC_ACTION_QUARANTINE,
          "%s: wrong rules", label);
}

/* ---- apply_policy: remediate bin/app, quarantine etc/app.conf and bin/dropped.bin ---- */

/* The policy of one run: quarantine and log inside its directory. */
static m2msec_policy *run_policy(const man_st *s)
{
    char text[4 * PATH_MAX], path[PATH_MAX];

    policy_text(s->dir, text, sizeof(text));
    pathf(path, sizeof(path), "%s/policy.cnf", s->dir);
    return ht_write_str(path, text) ? m2msec_policy_load(path) : NULL;
}

static void *apply_setup(void)
{
    man_st *s = man_new();
    m2msec_tree_verify_options opt = {0};

    if (s == NULL)
        return NULL;
    pathf(s->path, sizeof(s->path), "%s/tree", s->dir);
    opt.jobs = 1;
    opt.report_extra = 1;
    /* lib/libx.so would be "deny": keep it good, so the only failures are actions */
    if (!make_tree(s->path, 1) || (s->pol = run_policy(s)) == NULL ||
        (s->r = m2msec_tree_verify(libctx, good_m, s->path, &opt)) == NULL) {
        ERR_print_errors_fp(stderr);
        man_cleanup(s);
        return NULL;
    }
    return s;
}

static int apply_run(void *v)
{
    man_st *s = v;

    return m2msec_policy_apply(libctx, s->pol, good_m, s->path, s->r);
}

/* Verify again and apply again: after a failed run, the next one must converge. */
static int apply_retry(void *v)
{
    man_st *s = v;
    m2msec_tree_verify_options opt = {0};

    opt.jobs = 1;
    opt.report_extra = 1;
    m2msec_report_free(s->r);
    s->r = m2msec_tree_verify(libctx, good_m, s->path, &opt);
    return s->r != NULL && m2msec_policy_apply(libctx, s->pol, good_m, s->path, s->r);
}

static void apply_after(void *v, int ok)
{
    man_st *s = v;
    char p[PATH_MAX], *now = ht_list(s->path);
    int all_ok = 1;

    CHECK(no_temp_files(now), "%s: temporary file left in the tree:\n%s", label, HT_S(now));
    for (size_t i = 0; i < m2msec_report_count(s->r); i++) {
        const m2msec_file_result *r = m2msec_report_at(s->r, i);
        const char *bad = NULL, *good = NULL;

        if (r->status == M2MSEC_FILE_OK)
            continue;
        all_ok &= r->action_ok;
        for (size_t k = 0; k < NFILES; k++)
            if (strcmp(files[k].path, r->path) == 0) {
                bad = files[k].bad;
                good = files[k].good;
            }
        if (strcmp(r->path, "bin/dropped.bin") == 0)
            bad = "not listed\n";
        pathf(p, sizeof(p), "%s/%s", s->path, r->path);
        if (r->status == M2MSEC_FILE_MISSING) /* a later run: already quarantined */
            CHECK(!file_exists(p), "%s: %s reappeared", label, r->path);
        else if (r->action == M2MSEC_ACTION_REMEDIATE && r->action_ok)
            CHECK(good != NULL && ht_file_is(p, good, strlen(good)), "%s: %s not remediated", label,
                  r->path);
        else if (r->action == M2MSEC_ACTION_QUARANTINE && r->action_ok)
            CHECK(!file_exists(p), "%s: %s still in place after quarantine", label, r->path);
        else if (!r->action_ok)
            CHECK(bad != NULL && ht_file_is(p, bad, strlen(bad)),
                  "%s: %s changed by a failed action (%s)", label, r->path,
                  r->action_detail != NULL ? r->action_detail : "");
    }
    CHECK(ok == all_ok, "%s: apply_policy returned %d, actions ok %d", label, ok, all_ok);
    free(now);
}

/* ---- status ---- */

static const char old_status[] = "m2msec-integrity-status 1\nresult failed\n";
static char *status_ref;

static void *status_setup(void)
{
    man_st *s = man_new();

    if (s == NULL)
        return NULL;
    pathf(s->path, sizeof(s->path), "%s/integrity.status", s->dir);
    if (!ht_write_str(s->path, old_status)) {
        man_cleanup(s);
        return NULL;
    }
    return s;
}

static int status_run(void *v)
{
    man_st *s = v;

    return m2msec_integrity_status_write(libctx, s->path, device_key, sizeof(device_key), 1, 5,
                                         1700000000);
}

static void status_after(void *v, int ok)
{
    man_st *s = v;
    char *now = ht_list(s->dir), *text = read_all(s->path, NULL);

    CHECK(no_temp_files(now), "%s: temporary file left:\n%s", label, HT_S(now));
    if (!ok) {
        CHECK(text != NULL && strcmp(text, old_status) == 0, "%s: status changed by a failure",
              label);
    } else {
        if (status_ref == NULL && text != NULL)
            status_ref = strdup(text);
        CHECK(text != NULL && status_ref != NULL && strcmp(text, status_ref) == 0,
              "%s: wrong status record", label);
    }
    free(text);
    free(now);
}

static void test_integrity(void)
{
    const op ops[] = {
        {"manifest parse", 1, 0, 0, 0, parse_setup, parse_run, parse_after, NULL, man_cleanup},
        {"manifest serialize", 1, 0, 0, 0, ser_setup, ser_run, ser_after, NULL, man_cleanup},
        {"manifest write", 1, 0, 0, 0, write_setup, write_run, write_after, NULL, man_cleanup},
        {"manifest sign (Ed25519)", 1, 60, 100, 1, sign_setup, sign_run, sign_after, NULL,
         man_cleanup},
        {"manifest sign (ECDSA P-256)", 1, 60, 100, 1, sign_setup, sign_run, sign_after, NULL,
         man_cleanup},
        {"manifest open", 1, 60, 100, 1, open_setup, open_run, open_after, NULL, man_cleanup},
        {"verify_tree", 1, 0, 0, 0, verify_setup, verify_run, verify_after, NULL, man_cleanup},
        {"policy load", 1, 0, 0, 0, polload_setup, polload_run, polload_after, NULL, man_cleanup},
        {"apply_policy", 1, 0, 0, 0, apply_setup, apply_run, apply_after, apply_retry, man_cleanup},
        {"status write", 1, 0, 0, 0, status_setup, status_run, status_after, NULL, man_cleanup},
    };
    int ready = manifests_init() && write_policy();

    CHECK(ready, "manifest, keys and policy for the integrity operations");
    if (!ready) {
        ERR_print_errors_fp(stderr);
        return;
    }
    for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
        cur_which = strstr(ops[i].name, "P-256") != NULL;
        drive(&ops[i]);
    }
}

/* ======================================================================== */

/*
 * The config: m2msec's section (without activate) names the device policy
 * file, whose [session] section restricts the AEADs and requires a passed
 * integrity status authenticated with the device key.
 */
static int write_config(void)
{
    char sess[PATH_MAX], status[PATH_MAX], keyfile[PATH_MAX], text[4 * PATH_MAX], hex[65];
    char mod[PATH_MAX], state[PATH_MAX];

    pathf(sess, sizeof(sess), "%s/device-policy.cnf", tmp);
    pathf(status, sizeof(status), "%s/integrity.status", tmp);
    pathf(state, sizeof(state), "%s/manifest.state", tmp);
    pathf(keyfile, sizeof(keyfile), "%s/device.key", tmp);
    pathf(cnfpath, sizeof(cnfpath), "%s/openssl.cnf", tmp);
    /* the provider checks its section in the file OpenSSL reads by default */
    setenv("OPENSSL_CONF", cnfpath, 1);
    if (realpath(mods, mod) == NULL)
        return 0;
    for (size_t i = 0; i < sizeof(device_key); i++)
        snprintf(hex + 2 * i, 3, "%02x", device_key[i]);
    snprintf(text, sizeof(text),
             "[session]\nmax_lifetime = 7200\nmin_key_bits = 128\nrequire_integrity = yes\n"
             "allowed_aeads = M2M-REC-AES-128-GCM, M2M-REC-CHACHA20-POLY1305\n"
             "integrity_status = %s\ndevice_key_file = %s\nmanifest_state = %s\n",
             status, keyfile, state);
    /* a passed record of now (max_status_age) for the manifest version in the state */
    if (!ht_write_str(sess, text) || !write_file(keyfile, hex, 64, 0600) ||
        !ht_write_str(state, "m2msec-manifest-state 1\nversion 5\n") ||
        !m2msec_integrity_status_write(libctx, status, device_key, sizeof(device_key), 1, 5,
                                       (uint64_t)time(NULL)))
        return 0;
    snprintf(text, sizeof(text),
             "openssl_conf = openssl_init\n[openssl_init]\nproviders = provider_sect\n"
             "[provider_sect]\nm2msec = m2msec_sect\n[m2msec_sect]\nmodule = %s/m2msec.so\n"
             "policy = %s\n",
             mod, sess);
    return ht_write_str(cnfpath, text);
}

static void test_provider_load(void)
{
    op o = {"provider load (fresh libctx)",
            1,
            100,
            100,
            1,
            load_setup,
            load_run,
            load_after,
            NULL,
            load_cleanup};
    op c = {"provider load (policy from config)",
            1,
            100,
            100,
            1,
            load_setup,
            load_run,
            load_after,
            NULL,
            load_cleanup};

    drive(&o);
    CHECK(write_config(), "config and device policy written");
    load_with_cnf = 1;
    drive(&c);
    load_with_cnf = 0;
}

static void test_summary(void)
{
    printf("total: %lu injected runs, %lu problems of m2msec\n", total_runs, total_m2m);
    printf("libcrypto's own (reported above, not failures):");
    for (int c = 0; c < C_NCAT; c++)
        printf(" %s %lu%s", cat_names[c], crypto_cat[c], c + 1 < C_NCAT ? "," : "\n");
    CHECK(total_m2m == 0, "no problem attributed to m2msec");
}

int main(int argc, char **argv)
{
    static const tc_test tests[] = {
        {"provider load", test_provider_load}, {"KDF derivations", test_kdfs},
        {"record ciphers", test_records},      {"sessions", test_sessions},
        {"integrity", test_integrity},         {"summary", test_summary},
    };
    const char *capenv = getenv("M2M_ALLOC_CAP");
    int rc;

    (void)argc;
    /* Before any other OpenSSL call. */
    if (!CRYPTO_set_mem_functions(h_malloc, h_realloc, h_free)) {
        fprintf(stderr, "%s: CRYPTO_set_mem_functions refused (OpenSSL already allocated)\n",
                argv[0]);
        return 2;
    }
    if (capenv != NULL)
        cap_override = strtoul(capenv, NULL, 10);
    rep = mmap(NULL, sizeof(*rep) + 64, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (rep == MAP_FAILED) {
        perror("mmap");
        return 2;
    }
    traced_leaks =
        (atomic_ulong *)(void *)((unsigned char *)rep + ((sizeof(*rep) + 15) & ~(size_t)15));
    {
        Dl_info di;
        void *bt[2];

        if (dladdr((void *)(uintptr_t)main, &di))
            exe_base = di.dli_fbase;
        (void)backtrace(bt, 2); /* loads the unwinder now */
    }
    only = getenv("M2M_ALLOC_ONLY");
    quick = getenv("M2M_ALLOC_QUICK") != NULL && *getenv("M2M_ALLOC_QUICK") != '\0';
    if (getenv("M2M_ALLOC_N") != NULL)
        only_n = strtoul(getenv("M2M_ALLOC_N"), NULL, 10);
    mods = getenv("M2M_MODULES");
    if (mods == NULL) {
        fprintf(stderr, "M2M_MODULES is not set (directory of the built m2msec.so)\n");
        return 2;
    }
    libctx = OSSL_LIB_CTX_new();
    refctx = OSSL_LIB_CTX_new();
    prov = libctx != NULL ? m2msec_provider_load(libctx, mods, &prov_default) : NULL;
    ref_default = refctx != NULL ? OSSL_PROVIDER_load(refctx, "default") : NULL;
    if (prov == NULL || ref_default == NULL || !ht_tmpdir(tmp, sizeof(tmp), "alloc")) {
        ERR_print_errors_fp(stderr);
        return 2;
    }
    /* Every slot of the error queue gets its data buffer now, not in the middle of a count. */
    for (int i = 0; i < 2 * ERR_NUM_ERRORS; i++)
        ERR_raise_data(ERR_LIB_USER, ERR_R_PASSED_INVALID_ARGUMENT, "warm-up %d of the error queue",
                       i);
    ERR_clear_error();
    rc = tc_run(argv[0], "alloc-fail", NULL, NULL, tests, sizeof(tests) / sizeof(tests[0]));
    m2msec_manifest_free(good_m);
    OPENSSL_free(mtext);
    free(status_ref);
    OSSL_PROVIDER_unload(prov);
    OSSL_PROVIDER_unload(prov_default);
    OSSL_PROVIDER_unload(ref_default);
    OSSL_LIB_CTX_free(libctx);
    OSSL_LIB_CTX_free(refctx);
    ht_rmtree(tmp);
    return rc;
}
