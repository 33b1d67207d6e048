/*
 * The public API's contract: results, alignment, bad input, error reports. The cases a guest
 * runs too are in tests/common/api_cases.c (registered below through tests/common/cases.h);
 * the ones here need the host (sizes past a guest heap, BM_CHUNK and BM_PAGE, cache flushes,
 * ASan).
 */
#include <stdarg.h>
#include <stdint.h>

#include "cases.h"
#include "ext.h"
#include "test.h"

/* ---- tests/common/cases.h over test.h ---- */

bool case_expect(bool ok, const char *file, int line, const char *what) {
    if (!ok) {
        test_failures_in_case++;
        fprintf(stderr, "  FAILED %s:%d: %s\n", file, line, what);
    }
    return ok;
}

unsigned case_failure_count(void) { return test_failures_in_case; }

void case_note(const char *format, ...) {
    va_list args;
    va_start(args, format);
    vfprintf(stderr, format, args);
    va_end(args);
}

/* The host port's region (64 GiB of address space in the kernel geometry, 48 MiB in the small
 * one): nothing larger can be served. */
size_t case_heap_limit(void) {
    static size_t limit;
    if (!limit) {
        size_t len = sizeof limit;
        bm_free(bm_malloc(1)); /* initialised */
        if (bm_ctl("stats.nodes.0.size", &limit, &len, NULL, 0) != 0 || limit == 0) {
            fprintf(stderr, "  bm_ctl(\"stats.nodes.0.size\") failed\n");
            limit = (size_t)64 << 20;
        }
    }
    return limit;
}

/* Requests scale as on the guest of the same geometry: the virt boards' 64 MiB heap, or the
 * Cortex-M3's 256 KiB (whose scale also keeps random alignments within what realloc keeps
 * in the small geometry). */
size_t case_heap_size(void) {
#ifdef BM_GEOMETRY_SMALL
    size_t nominal = (size_t)256 << 10, limit = case_heap_limit();
#else
    size_t nominal = (size_t)64 << 20, limit = case_heap_limit();
#endif
    return limit < nominal ? limit : nominal;
}

static unsigned errors_window_start;

void case_errors_begin(void) { errors_window_start = test_error_reports; }

bool case_errors_end(unsigned expected) {
    unsigned seen = test_error_reports - errors_window_start;
    if (seen != expected)
        fprintf(stderr, "  allocator error reports: %u, expected %u\n", seen, expected);
    return seen == expected;
}

/* The shared cases, under their own names. */
__attribute__((constructor)) static void register_shared_cases(void) {
    for (unsigned i = 0; i < api_case_count && test_count < TEST_MAX; i++)
        test_cases[test_count++] = (struct test_case){api_cases[i].name, api_cases[i].fn};
}

/* ---- host-only cases ---- */

static unsigned reports_during(void (*fn)(void *), void *arg) {
    unsigned before = test_error_reports;
    fn(arg);
    return test_error_reports - before;
}

static void call_free(void *p) { bm_free(p); }

TEST(malloc_returns_usable_aligned_blocks) {
    for (size_t size = 0; size <= 70000; size = size < 64 ? size + 1 : size * 5 / 4) {
        unsigned char *p = bm_malloc(size);
        CHECK(p != NULL);
        if (!p)
            continue;
        size_t want_align = size >= 16 ? 16 : 8;
        CHECK(((uintptr_t)p & (want_align - 1)) == 0);
        CHECK(bm_usable_size(p) >= (size ? size : 1));
#ifdef BM_ASAN
        size_t writable = size; /* ASan builds expose only the requested bytes */
#else
        size_t writable = bm_usable_size(p);
#endif
        test_fill(p, writable, 1);
        CHECK(test_verify(p, writable, 1));
        bm_free(p);
    }
    CHECK_EQ(bm_check(), 0);
}

TEST(aligned_alloc_honours_every_power_of_two) {
    for (size_t align = 1; align <= ((size_t)8 << 20); align *= 2) {
        size_t sizes[] = {1, 24, align, align + 1, 3 * align / 2 + 7};
        for (unsigned i = 0; i < 5; i++) {
            void *p = bm_aligned_alloc(align, sizes[i]);
            CHECK(p != NULL);
            CHECK(((uintptr_t)p & (align - 1)) == 0);
            CHECK(bm_usable_size(p) >= sizes[i]);
            test_fill(p, sizes[i], 3);
            CHECK(test_verify(p, sizes[i], 3));
            bm_free(p);
        }
    }
    CHECK_EQ(bm_check(), 0);
}

TEST(realloc_keeps_contents_across_classes) {
    size_t size = 1;
    unsigned char *p = bm_malloc(size);
    test_fill_seq(p, size, 7);
    while (size < ((size_t)6 << 20)) {
        size_t next = size * 3 / 2 + 1;
        unsigned char *q = bm_realloc(p, next);
        CHECK(q != NULL);
        if (!q)
            break;
        CHECK(test_verify_seq(q, size, 7));
        test_fill_seq(q, next, 7);
        p = q;
        size = next;
    }
    while (size > 1) { /* and back down */
        size_t next = size / 3;
        unsigned char *q = bm_realloc(p, next ? next : 1);
        CHECK(q != NULL);
        CHECK(test_verify_seq(q, next, 7));
        p = q;
        size = next ? next : 1;
        test_fill_seq(p, size, 7);
    }
    bm_free(p);
    CHECK_EQ(bm_check(), 0);
}

TEST(realloc_of_a_huge_block_to_a_small_size_gives_memory_back) {
    char *p = bm_malloc(3 * BM_CHUNK);
    p[0] = 42;
    char *q = bm_realloc(p, 20);
    CHECK(q != NULL && q[0] == 42);
    CHECK(bm_usable_size(q) <= BM_PAGE); /* not a chunk kept for a 20-byte block */
    bm_free(q);
    CHECK_EQ(bm_check(), 0);
}

TEST(realloc_keeps_alignment) {
    size_t aligns[] = {32, 64, 256, BM_PAGE, 4 * BM_PAGE};
    for (unsigned i = 0; i < 5; i++) {
        void *p = bm_aligned_alloc(aligns[i], 100);
        CHECK(((uintptr_t)p & (aligns[i] - 1)) == 0);
        test_fill_seq(p, 100, 9);
        size_t sizes[] = {BM_PAGE + 100, 30, BM_LARGE_MAX / 2, 2 * BM_PAGE, 200, 20};
        size_t kept = 100; /* bytes whose contents every realloc so far preserved */
        for (unsigned j = 0; j < 6; j++) {
            p = bm_realloc(p, sizes[j]);
            CHECK(p != NULL);
            CHECK(((uintptr_t)p & (aligns[i] - 1)) == 0);
            kept = kept < sizes[j] ? kept : sizes[j];
            CHECK(test_verify_seq(p, kept, 9));
        }
        bm_free(p);
    }
    CHECK_EQ(bm_check(), 0);
}

/* An aligned request served as a huge block (here by its size; on a small heap also when no
 * arena run has room for the alignment) keeps its alignment when realloc shrinks it into a
 * large run. It used to get page alignment only (found by the Cortex-M3 guest's random
 * sequence once the real-time profile's arenas kept every chunk). */
TEST(realloc_keeps_the_alignment_of_a_huge_block_it_shrinks) {
    size_t align = BM_CHUNK / 4;
    char *p = bm_aligned_alloc(align, BM_LARGE_MAX + 1);
    CHECK(p != NULL && ((uintptr_t)p & (align - 1)) == 0);
    p[0] = 7;
    char *q = bm_realloc(p, 30);
    CHECK(q != NULL && q[0] == 7);
    CHECK(((uintptr_t)q & (align - 1)) == 0);
    bm_free(q);
    CHECK_EQ(bm_check(), 0);
}

TEST(usable_size_and_sized_free) {
    for (size_t size = 1; size < 100000; size = size * 2 + 1) {
        void *p = bm_malloc(size);
        size_t usable = bm_usable_size(p);
        CHECK(usable >= size && usable <= size * 2 + 16);
        unsigned before = test_error_reports;
        bm_free_sized(p, size);
        CHECK_EQ(test_error_reports, before);
    }
    /* sizes larger than the block, small, large and huge: reported, block still freed */
    size_t too_big[][2] = {{100, 200}, {100, 2000}, {1000, 5000}, {100, 40000}, {5000, 3 << 20},
                           {3 << 20, 9 << 20}};
    for (unsigned i = 0; i < sizeof too_big / sizeof too_big[0]; i++) {
        void *p = bm_malloc(too_big[i][0]);
        unsigned before = test_error_reports;
        bm_free_sized(p, too_big[i][1]);
        CHECK_EQ(test_error_reports, before + 1);
    }
    /* smaller than the class but within the block (realloc/aligned_alloc blocks): accepted */
    size_t within[][2] = {{100, 8}, {3000, 100}, {20000, 100}, {3 << 20, 100}};
    for (unsigned i = 0; i < sizeof within / sizeof within[0]; i++) {
        void *p = bm_malloc(within[i][0]);
        unsigned before = test_error_reports;
        bm_free_sized(p, within[i][1]);
        CHECK_EQ(test_error_reports, before);
    }
    void *q = bm_realloc(bm_malloc(100000), 100);
    unsigned before = test_error_reports;
    bm_free_sized(q, 100);
    CHECK_EQ(test_error_reports, before);
    CHECK_EQ(bm_check(), 0);
}

static void double_free_case(size_t size) {
    void *p = bm_malloc(size);
    void *keep = bm_malloc(size); /* so the run/chunk stays around */
    bm_free(p);
    CHECK_EQ(reports_during(call_free, p), 1);
    CHECK_EQ(bm_check(), 0);
    void *q = bm_malloc(size);
    CHECK(q != NULL);
    bm_free(q);
    bm_free(keep);
}

TEST(double_free_small_is_reported) {
    double_free_case(24);
    /* not the most recent free: the slow path scans the cache */
    void *a = bm_malloc(40), *b = bm_malloc(40);
    bm_free(a);
    bm_free(b);
    CHECK_EQ(reports_during(call_free, a), 1);
    /* double free after the first copy has left the cache */
    void *c = bm_malloc(40);
    bm_free(c);
    bm_cache_flush();
    CHECK_EQ(reports_during(call_free, c), 1); /* found free in its run */
    /* a block whose first word still holds the freed key after reuse is not a false alarm */
    void *d = bm_malloc(40);
    unsigned before = test_error_reports;
    bm_free(d);
    void *e = bm_malloc(40);
    CHECK(e == d || BM_HARDENING >= 2); /* level 2 quarantines d: not reused at once */
    bm_free(e); /* e's first word was never overwritten */
    CHECK_EQ(test_error_reports, before);
    CHECK_EQ(bm_check(), 0);
}

TEST(double_free_large_is_reported) { double_free_case(20000); double_free_case(300000); }

TEST(double_free_huge_is_reported) { double_free_case(5 << 20); }

TEST(foreign_pointers_are_reported) {
    static char not_heap[64];
    int on_stack;
    CHECK_EQ(reports_during(call_free, not_heap + 16), 1);
    CHECK_EQ(reports_during(call_free, &on_stack), 1);
    char *p = bm_malloc(48);
    CHECK_EQ(reports_during(call_free, p + 8), 1);
    CHECK_EQ(reports_during(call_free, p + 16), 1);
    char *l = bm_malloc(50000);
    CHECK_EQ(reports_during(call_free, l + 4096), 1);
    CHECK_EQ(reports_during(call_free, l + 8), 1);
    char *h = bm_malloc(6 << 20);
    CHECK_EQ(reports_during(call_free, h + 4096), 1);
    CHECK_EQ(reports_during(call_free, h + (2 << 20)), 1);
    unsigned before = test_error_reports;
    CHECK_EQ(bm_usable_size(p + 8), 0);
    CHECK_EQ(test_error_reports, before + 1);
    CHECK_EQ(bm_check(), 0);
    bm_free(p);
    bm_free(l);
    bm_free(h);
    CHECK_EQ(bm_check(), 0);
    void *again = bm_malloc(48);
    CHECK(again != NULL);
    bm_free(again);
}

/* What the calling core's cache holds, class by class, and the arenas' allocated bytes (which
 * count cached blocks): both the same after a call that allocated nothing. */
typedef struct alloc_mark {
    void **heads[BM_NCLASSES];
    size_t allocated;
} alloc_mark_t;

static void alloc_mark(alloc_mark_t *mark) {
    bm_cache_t *cache = *bm_core_local();
    for (unsigned cls = 0; cls < BM_NCLASSES; cls++)
        mark->heads[cls] = cache->bins[cls].head;
    mark->allocated = bm_stats_allocated();
}

static bool alloc_mark_same(const alloc_mark_t *a, const alloc_mark_t *b) {
    return memcmp(a->heads, b->heads, sizeof a->heads) == 0 && a->allocated == b->allocated;
}

/* realloc(bad, n), n = 0 as much as any other: one report, NULL, BM_EINVAL, nothing allocated
 * (realloc(bad, 0) used to report the free and hand out a minimum-size block). */
static void realloc_bad_case(void *bad, size_t old_size) {
    size_t sizes[] = {0, 8, old_size, 100000};
    for (unsigned i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        CHECK(bm_calloc(SIZE_MAX, 2) == NULL); /* bm_last_error: BM_ENOMEM, nothing allocated */
        alloc_mark_t before, after;
        alloc_mark(&before);
        unsigned reports = test_error_reports;
        void *p = bm_realloc(bad, sizes[i]);
        alloc_mark(&after);
        CHECK(p == NULL);
        CHECK_EQ(test_error_reports, reports + 1);
        CHECK_EQ(bm_last_error(), BM_EINVAL);
        if (!alloc_mark_same(&before, &after)) {
            test_failures_in_case++;
            fprintf(stderr, "  FAILED: realloc(%p, %zu) allocated\n", bad, sizes[i]);
        }
    }
}

TEST(realloc_of_a_bad_pointer_returns_null_and_allocates_nothing) {
    static char not_heap[64];
    char *small = bm_malloc(48), *large = bm_malloc(50000), *huge = bm_malloc(6 << 20);
    char *keep = bm_malloc(48); /* keeps the run of the freed small blocks */
    CHECK(small && large && huge && keep);
    test_fill(small, 48, 9);
    realloc_bad_case(not_heap + 16, 48);
    realloc_bad_case(small + 16, 32);     /* interior of a small block */
    realloc_bad_case(large + 4096, 4096); /* interior page of a large block */
    realloc_bad_case(huge + 4096, 4096);  /* inside a huge block */
    CHECK(test_verify(small, 48, 9));     /* the real block left alone */
    bm_free(small);
    bm_free(large);
    bm_free(huge);
    bm_cache_flush();
    /* freed blocks: small and large in this core's cache, small back in its run, large and
     * huge back in their arena or pool */
    char *cached = bm_malloc(48), *cached_large = bm_malloc(20000);
    char *in_run = bm_malloc(48), *large_freed = bm_malloc(300000), *huge_freed = bm_malloc(5 << 20);
    bm_free(in_run);
    bm_cache_flush();
    bm_free(cached);
    bm_free(cached_large);
    bm_free(large_freed);
    bm_free(huge_freed);
    realloc_bad_case(cached, 48);
    realloc_bad_case(cached_large, 20000);
    realloc_bad_case(in_run, 48);
    realloc_bad_case(large_freed, 300000);
    realloc_bad_case(huge_freed, 5 << 20);
    CHECK_EQ(bm_check(), 0);
    bm_free(keep);
    unsigned reports = test_error_reports;
    void *p = bm_realloc(bm_malloc(100), 0); /* a good pointer: freed, a minimum-size block */
    CHECK(p != NULL);
    p = bm_realloc(p, 5000);
    CHECK(p != NULL);
    bm_free(p);
    CHECK_EQ(test_error_reports, reports);
    CHECK_EQ(bm_check(), 0);
}

TEST(no_report_for_valid_use) {
    unsigned before = test_error_reports;
    void *ptrs[1000];
    for (int i = 0; i < 1000; i++)
        ptrs[i] = bm_malloc((size_t)(i * 37) % 5000 + 1);
    for (int i = 999; i >= 0; i--)
        bm_free(ptrs[i]);
    CHECK_EQ(test_error_reports, before);
    CHECK_EQ(bm_check(), 0);
}

#ifdef BM_ASAN
#include <sys/wait.h>
#include <unistd.h>

/* The core's poisoning lets ASan see misuse of baremalloc's blocks: each case must kill a
 * child process with an ASan report. */
static int child_dies(void (*misuse)(void)) {
    pid_t pid = fork();
    if (pid == 0) {
        freopen("/dev/null", "w", stderr);
        misuse();
        _exit(0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    return !(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void overflow_small(void) { volatile char *p = bm_malloc(24); p[24] = 1; }
static void overflow_large(void) { volatile char *p = bm_malloc(10000); p[10000] = 1; }
static void use_after_free(void) { volatile char *p = bm_malloc(48); bm_free((void *)p); p[8] = 1; }
static void read_free_huge(void) { volatile char *p = bm_malloc(3 << 20); bm_free((void *)p); (void)p[100]; }

TEST(asan_sees_misuse_of_baremalloc_blocks) {
    CHECK(child_dies(overflow_small));
    CHECK(child_dies(overflow_large));
    CHECK(child_dies(use_after_free));
    CHECK(child_dies(read_free_huge));
}
#endif

int main(void) {
    bm_set_error_hook(test_count_error);
    return test_main();
}
