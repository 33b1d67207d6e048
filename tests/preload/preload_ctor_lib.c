/*
 * libpreload_ctor_lib.so: a shared library that preload_check links. The dynamic loader runs
 * its constructor before the program's (a dependency is initialised first) and its destructor
 * after the program's destructors and atexit handlers, so it allocates earlier and later than
 * any code of the program can:
 *   - constructor: finds baremalloc's API with dlsym, installs the error hook, allocates blocks
 *     of many sizes (up to 6 MiB) before main and keeps them, for main to check and free;
 *     keeps three more for its destructor;
 *   - destructor: checks and frees those three, allocates and frees again, reports
 *     "after_main_lib_dtor" and "no_allocator_error_reports", prints the closing
 *     "N passed, N failed" and exits with status 1 if any check failed (a failure found after
 *     main returned must reach the exit status).
 * It also holds the tally and helpers of preload.h.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "preload.h"

struct pc_bm pc_bm;
struct pc_block pc_lib_blocks[PC_LIB_BLOCKS];
unsigned pc_lib_nblocks;
struct pc_why pc_lib_ctor_why;
int pc_lib_ctor_ran;
int pc_main_started;

static pthread_mutex_t tally_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned passed, failed;
static unsigned error_reports;
static const char *first_error;
static const void *first_error_addr;

/* ---- tally ------------------------------------------------------------------------------- */

static int in_list(const char *list, const char *name) {
    size_t n = strlen(name);
    for (const char *s = list; *s;) {
        const char *end = strchr(s, ',');
        size_t len = end ? (size_t)(end - s) : strlen(s);
        if (len == n && strncmp(s, name, n) == 0)
            return 1;
        if (!end)
            break;
        s = end + 1;
    }
    return 0;
}

int pc_wanted(const char *name) {
    const char *only = getenv("PRELOAD_CHECK_ONLY");
    return !only || !*only || in_list(only, name);
}

void pc_report(const char *name, const char *why) {
    if (!pc_wanted(name))
        return;
    const char *forced = getenv("PRELOAD_CHECK_FAIL");
    if (forced && *forced && in_list(forced, name))
        why = "forced by PRELOAD_CHECK_FAIL (self-test of the harness)";
    pthread_mutex_lock(&tally_lock);
    if (!why || !*why) {
        passed++;
        printf("ok %s\n", name);
    } else {
        failed++;
        printf("FAIL %s: %s\n", name, why);
    }
    fflush(stdout);
    pthread_mutex_unlock(&tally_lock);
}

unsigned pc_failed(void) { return __atomic_load_n(&failed, __ATOMIC_RELAXED); }

/* Called by the allocator, possibly with its locks held: no allocation, no stdio. */
static void count_error(const char *msg, const void *addr) {
    if (__atomic_fetch_add(&error_reports, 1, __ATOMIC_RELAXED) == 0) {
        first_error = msg;
        first_error_addr = addr;
    }
}
unsigned pc_error_reports(void) { return __atomic_load_n(&error_reports, __ATOMIC_RELAXED); }
const char *pc_first_error(void) { return first_error ? first_error : "(none)"; }

/* ---- helpers ----------------------------------------------------------------------------- */

static inline unsigned char pattern_byte(size_t i, unsigned seed) {
    return (unsigned char)(seed * 131u + (unsigned)i * 7u + (unsigned)(i >> 9) + 1u);
}

void pc_fill(void *p, size_t n, unsigned seed) {
    unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        b[i] = pattern_byte(i, seed);
}

size_t pc_verify(const void *p, size_t n, unsigned seed) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i] != pattern_byte(i, seed))
            return i;
    return (size_t)-1;
}

int pc_all_zero(const void *p, size_t n) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i])
            return 0;
    return 1;
}

int pc_is_ours(const void *p, size_t n) {
    if (!p || !pc_bm.usable_size)
        return 0;
    unsigned before = pc_error_reports();
    size_t usable = pc_bm.usable_size(p);
    return usable >= n && pc_error_reports() == before;
}

/* ---- before main ------------------------------------------------------------------------- */

static struct pc_block kept[3]; /* for the destructor */

static void keep(struct pc_why *w, void *p, size_t size, unsigned seed) {
    PC_EXPECT(w, p != NULL, "lib constructor: allocation of %zu bytes returned NULL", size);
    if (!p)
        return;
    pc_fill(p, size, seed);
    if (pc_lib_nblocks < PC_LIB_BLOCKS)
        pc_lib_blocks[pc_lib_nblocks++] = (struct pc_block){p, size, seed};
}

__attribute__((constructor)) static void lib_ctor(void) {
    struct pc_why *w = &pc_lib_ctor_why;
    /* dlsym allocates nothing here, but may: this is the allocator's first or nearly first
     * caller in the process */
    pc_bm.check = (unsigned (*)(void))dlsym(RTLD_DEFAULT, "bm_check");
    pc_bm.usable_size = (size_t(*)(const void *))dlsym(RTLD_DEFAULT, "bm_usable_size");
    pc_bm.ctl = (int (*)(const char *, void *, size_t *, const void *, size_t))dlsym(RTLD_DEFAULT, "bm_ctl");
    pc_bm.set_error_hook = (bm_error_hook_t(*)(bm_error_hook_t))dlsym(RTLD_DEFAULT, "bm_set_error_hook");
    if (pc_bm.set_error_hook)
        pc_bm.set_error_hook(count_error);
    PC_EXPECT(w, !pc_main_started, "lib constructor ran after main started");

    static const size_t sizes[] = {1, 24, 100, 1000, 5000, 40000, 300000, (1u << 20) + 3, (5u << 20) + 17};
    for (unsigned i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        keep(w, malloc(sizes[i]), sizes[i], 100 + i);

    unsigned char *z = calloc(3000, 7);
    PC_EXPECT(w, z && pc_all_zero(z, 3000 * 7), "lib constructor: calloc(3000, 7) not zeroed");
    keep(w, z, 3000 * 7, 120);

    /* realloc chain from 16 bytes to 6 MiB: the contents move along */
    size_t n = 16;
    char *r = malloc(n);
    pc_fill(r, n, 121);
    while (r && n < (6u << 20)) {
        size_t grown = n * 4;
        char *g = realloc(r, grown);
        PC_EXPECT(w, g != NULL, "lib constructor: realloc to %zu returned NULL", grown);
        if (!g)
            break;
        PC_EXPECT(w, pc_verify(g, n, 121) == (size_t)-1, "lib constructor: realloc %zu -> %zu lost the contents", n,
                  grown);
        pc_fill(g, grown, 121);
        r = g;
        n = grown;
    }
    keep(w, r, n, 121);

    void *a = aligned_alloc(4096, 10000);
    PC_EXPECT(w, ((uintptr_t)a & 4095) == 0, "lib constructor: aligned_alloc(4096) gave %p", a);
    keep(w, a, 10000, 122);
    void *pm = NULL;
    int err = posix_memalign(&pm, 65536, 3000);
    PC_EXPECT(w, err == 0 && ((uintptr_t)pm & 65535) == 0, "lib constructor: posix_memalign(65536) gave %d, %p", err,
              pm);
    keep(w, err ? NULL : pm, 3000, 123);
    char *s = strdup("allocated by strdup in a constructor");
    PC_EXPECT(w, s != NULL, "lib constructor: strdup returned NULL");
    if (s && pc_lib_nblocks < PC_LIB_BLOCKS)
        pc_lib_blocks[pc_lib_nblocks++] = (struct pc_block){s, 0, 0}; /* size 0: a string */

    static const size_t kept_sizes[3] = {64, 70000, (6u << 20) + 5};
    for (unsigned i = 0; i < 3; i++) {
        kept[i] = (struct pc_block){malloc(kept_sizes[i]), kept_sizes[i], 130 + i};
        PC_EXPECT(w, kept[i].p != NULL, "lib constructor: malloc(%zu) for the destructor returned NULL",
                  kept_sizes[i]);
        if (kept[i].p)
            pc_fill(kept[i].p, kept[i].size, kept[i].seed);
    }
    pc_lib_ctor_ran = 1;
}

/* ---- after main -------------------------------------------------------------------------- */

__attribute__((destructor)) static void lib_dtor(void) {
    if (pc_wanted("after_main_lib_dtor")) {
        struct pc_why w = {{0}};
        for (unsigned i = 0; i < 3; i++) {
            if (!kept[i].p)
                continue;
            size_t bad = pc_verify(kept[i].p, kept[i].size, kept[i].seed);
            PC_EXPECT(&w, bad == (size_t)-1, "block of %zu bytes from the constructor changed at offset %zu",
                      kept[i].size, bad);
            PC_EXPECT(&w, !pc_bm.usable_size || pc_is_ours(kept[i].p, kept[i].size),
                      "block of %zu bytes from the constructor is not a live baremalloc block", kept[i].size);
            free(kept[i].p);
        }
        for (unsigned round = 0; round < 50; round++) {
            size_t size = round % 10 == 9 ? (5u << 20) + round : 16u + round * 97u;
            unsigned char *p = malloc(size);
            PC_EXPECT(&w, p != NULL, "malloc(%zu) after main returned NULL", size);
            if (!p)
                continue;
            pc_fill(p, size, round);
            unsigned char *c = calloc(1, size);
            PC_EXPECT(&w, c && pc_all_zero(c, size), "calloc(1, %zu) after main not zeroed", size);
            PC_EXPECT(&w, pc_verify(p, size, round) == (size_t)-1, "block of %zu bytes changed after main", size);
            free(c);
            free(p);
        }
        pc_report("after_main_lib_dtor", w.text);
    }
    if (pc_wanted("no_allocator_error_reports")) {
        char why[256] = "";
        if (pc_error_reports())
            snprintf(why, sizeof why, "%u reports from baremalloc's error hook, the first: \"%s\" (address %p)",
                     pc_error_reports(), pc_first_error(), first_error_addr);
        pc_report("no_allocator_error_reports", why);
    }
    printf("%u passed, %u failed\n", passed, failed);
    fflush(stdout);
    if (failed) {
        fflush(stderr);
        _exit(1); /* main may have returned 0 before the failure */
    }
}
