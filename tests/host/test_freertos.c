/*
 * The FreeRTOS heap adapter (port/freertos.c) on two static regions given to
 * vPortDefineHeapRegions, heap_5's way: malloc/calloc/free semantics, the malloc-failed hook
 * (the adapter and this file are built with -DBM_FREERTOS_MALLOC_FAILED_HOOK=1), the free and
 * minimum-ever free heap sizes, every HeapStats_t field, the regions' refusals and
 * vPortHeapResetState.
 *
 * Nothing initialises baremalloc before main (the harness's constructors only register cases),
 * so main defines the regions before any case runs, after recording what the refusals and the
 * statistics said before (checked by the cases, so BM_TEST_ONLY can pick any one). A child
 * process, forked before that, allocates first and then defines regions: heap_4's lazy default
 * sources, and the regions refused.
 *
 * Blocks parked in per-core caches count as free for FreeRTOS (port/freertos.c): a block
 * freed into this core's cache gives its bytes back to xPortGetFreeHeapSize at once, and the
 * cases check the cache did take it.
 */
#include <stdint.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ext.h"
#include "freertos_heap.h"
#include "test.h"

#define REGION_A_CHUNKS 4
#define REGION_B_CHUNKS 8
static unsigned char region_a[REGION_A_CHUNKS * BM_CHUNK] __attribute__((aligned(BM_CHUNK)));
static unsigned char region_b[REGION_B_CHUNKS * BM_CHUNK] __attribute__((aligned(BM_CHUNK)));
static const HeapRegion_t regions[] = {
    {region_a, sizeof region_a},
    {region_b, sizeof region_b},
    {NULL, 0},
};

#ifdef BM_GEOMETRY_SMALL
#define SMALL_SIZE 100
#define LARGE_SIZE 1000 /* a cached large class (tcache_max 1024) */
#else
#define SMALL_SIZE 100
#define LARGE_SIZE 10000
#endif
#define HUGE_SIZE (3 * BM_CHUNK)

static unsigned hook_calls;
void vApplicationMallocFailedHook(void) { hook_calls++; }

static bool in_region(const void *p, size_t n, const unsigned char *region, size_t size) {
    const unsigned char *b = p;
    return b >= region && b + n <= region + size;
}

static bool in_regions(const void *p, size_t n) {
    return in_region(p, n, region_a, sizeof region_a) || in_region(p, n, region_b, sizeof region_b);
}

/* ---- what main records before the regions exist ---- */

static int refused_null, refused_empty, refused_too_many, refused_null_start;
static int status_before, status_good;
static size_t free_before, minimum_before;
static HeapStats_t stats_before;
static int child_status = -1;

/* The child: the first allocation comes before vPortDefineHeapRegions. Exit status bits: 1 the
 * allocation failed, 2 the regions were not refused with BM_EBUSY, 4 a block came from them. */
static int allocate_then_define(void) {
    int bad = 0;
    void *first = pvPortMalloc(SMALL_SIZE);
    if (!first)
        bad |= 1;
    vPortDefineHeapRegions(regions);
    if (bm_freertos_regions_status() != BM_EBUSY)
        bad |= 2;
    void *next = pvPortMalloc(HUGE_SIZE);
    if ((first && in_regions(first, SMALL_SIZE)) || (next && in_regions(next, HUGE_SIZE)))
        bad |= 4;
    vPortFree(next);
    vPortFree(first);
    return bad;
}

static int run_child(int (*fn)(void)) {
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0)
        _exit(fn());
    int status = 0;
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
        return -1;
    return WEXITSTATUS(status);
}

/* ---- helpers ---- */

static size_t ctl_cached_objects(void) {
    unsigned core = 0;
    size_t len = sizeof core, n = 0;
    if (bm_ctl("thread.core", &core, &len, NULL, 0) != 0)
        return (size_t)-1;
    char name[64];
    snprintf(name, sizeof name, "stats.cores.%u.ncached", core);
    len = sizeof n;
    if (bm_ctl(name, &n, &len, NULL, 0) != 0)
        return (size_t)-1;
    return n;
}

static HeapStats_t heap_stats(void) {
    HeapStats_t s;
    memset(&s, 0xA5, sizeof s); /* every field must be written */
    vPortGetHeapStats(&s);
    return s;
}

/* One malloc and free of size first, so that its class's run and cache exist. */
static void warm(size_t size) { vPortFree(pvPortMalloc(size)); }

/* ---- cases ---- */

TEST(statistics_are_zero_before_the_heap_exists) {
    CHECK_EQ(status_before, BM_ENOENT);
    CHECK_EQ(free_before, 0);
    CHECK_EQ(minimum_before, 0);
    CHECK_EQ(stats_before.xAvailableHeapSpaceInBytes, 0);
    CHECK_EQ(stats_before.xSizeOfLargestFreeBlockInBytes, 0);
    CHECK_EQ(stats_before.xSizeOfSmallestFreeBlockInBytes, 0);
    CHECK_EQ(stats_before.xNumberOfFreeBlocks, 0);
    CHECK_EQ(stats_before.xMinimumEverFreeBytesRemaining, 0);
    CHECK_EQ(stats_before.xNumberOfSuccessfulAllocations, 0);
    CHECK_EQ(stats_before.xNumberOfSuccessfulFrees, 0);
}

TEST(bad_region_lists_are_refused_and_a_good_one_follows) {
    CHECK_EQ(refused_null, BM_EINVAL);
    CHECK_EQ(refused_empty, BM_EINVAL);
    CHECK_EQ(refused_too_many, BM_EINVAL);
    CHECK_EQ(refused_null_start, BM_EINVAL);
    CHECK_EQ(status_good, 0);
}

TEST(an_allocation_before_the_regions_uses_the_default_sources) {
    CHECK_EQ(child_status, 0);
}

TEST(regions_defined_twice_are_refused) {
    static unsigned char other[4 * BM_CHUNK] __attribute__((aligned(BM_CHUNK)));
    HeapRegion_t again[] = {{other, sizeof other}, {NULL, 0}};
    vPortDefineHeapRegions(again);
    CHECK_EQ(bm_freertos_regions_status(), BM_EBUSY);
    void *p = pvPortMalloc(SMALL_SIZE);
    CHECK(p && in_regions(p, SMALL_SIZE));
    vPortFree(p);
    vPortDefineHeapRegions(regions); /* the same regions again: refused as well */
    CHECK_EQ(bm_freertos_regions_status(), BM_EBUSY);
}

TEST(blocks_come_from_both_regions) {
    size_t sizes[] = {1, SMALL_SIZE, LARGE_SIZE, HUGE_SIZE};
    void *blocks[4];
    for (unsigned i = 0; i < 4; i++) {
        blocks[i] = pvPortMalloc(sizes[i]);
        CHECK(blocks[i] && in_regions(blocks[i], sizes[i]));
        CHECK(((uintptr_t)blocks[i] & 7) == 0);
        if (blocks[i])
            test_fill(blocks[i], sizes[i], i);
    }
    /* more than region A holds: region B's */
    size_t big = (REGION_A_CHUNKS + 1) * BM_CHUNK;
    void *b = pvPortMalloc(big);
    CHECK(b && in_region(b, big, region_b, sizeof region_b));
    vPortFree(b);
    for (unsigned i = 0; i < 4; i++) {
        CHECK(blocks[i] && test_verify(blocks[i], sizes[i], i));
        vPortFree(blocks[i]);
    }
    CHECK_EQ(bm_check(), 0);
}

TEST(malloc_free_and_calloc_semantics) {
    unsigned hooks = hook_calls;
    HeapStats_t s0 = heap_stats();
    CHECK(pvPortMalloc(0) == NULL); /* heap_4: NULL, and the hook */
    CHECK_EQ(hook_calls, hooks + 1);
    CHECK(pvPortMalloc(SIZE_MAX / 2) == NULL);
    CHECK_EQ(hook_calls, hooks + 2);
    CHECK(pvPortCalloc(SIZE_MAX / 2, 3) == NULL); /* overflow: NULL without the hook */
    CHECK(pvPortCalloc(3, SIZE_MAX / 2) == NULL);
    CHECK(pvPortCalloc((size_t)1 << (sizeof(size_t) * 4), (size_t)1 << (sizeof(size_t) * 4)) == NULL);
    CHECK_EQ(hook_calls, hooks + 2);
    CHECK(pvPortCalloc(0, 16) == NULL); /* 0 bytes, as pvPortMalloc(0) */
    CHECK_EQ(hook_calls, hooks + 3);
    vPortFree(NULL);

    /* calloc zeroes memory that held something */
    unsigned char *dirty = pvPortMalloc(LARGE_SIZE);
    CHECK(dirty != NULL);
    if (dirty)
        memset(dirty, 0xAB, LARGE_SIZE);
    vPortFree(dirty);
    size_t sizes[] = {SMALL_SIZE, LARGE_SIZE, HUGE_SIZE};
    for (unsigned i = 0; i < 3; i++) {
        unsigned char *z = pvPortCalloc(sizes[i] / 4, 4);
        CHECK(z && in_regions(z, sizes[i]));
        size_t nonzero = 0;
        for (size_t k = 0; z && k < sizes[i]; k++)
            nonzero += z[k] != 0;
        CHECK_EQ(nonzero, 0);
        vPortFree(z);
    }
    HeapStats_t s1 = heap_stats();
    /* the dirty block, three calloc blocks; failures and NULL count nothing */
    CHECK_EQ(s1.xNumberOfSuccessfulAllocations - s0.xNumberOfSuccessfulAllocations, 4);
    CHECK_EQ(s1.xNumberOfSuccessfulFrees - s0.xNumberOfSuccessfulFrees, 4);
    CHECK_EQ(hook_calls, hooks + 3);
    CHECK_EQ(bm_check(), 0);
}

#if BM_FREE_CHECKS
TEST(a_double_free_is_reported_once_and_not_counted) {
    void *p = pvPortMalloc(SMALL_SIZE);
    CHECK(p != NULL);
    vPortFree(p);
    HeapStats_t s0 = heap_stats();
    unsigned reports = test_error_reports;
    vPortFree(p);
    CHECK_EQ(test_error_reports, reports + 1);
    int local;
    vPortFree(&local); /* foreign */
    CHECK_EQ(test_error_reports, reports + 2);
    HeapStats_t s1 = heap_stats();
    CHECK_EQ(s1.xNumberOfSuccessfulFrees, s0.xNumberOfSuccessfulFrees);
    CHECK_EQ(s1.xAvailableHeapSpaceInBytes, s0.xAvailableHeapSpaceInBytes);
    CHECK_EQ(bm_check(), 0);
}
#endif

TEST(free_heap_size_falls_by_the_size_and_comes_back) {
    size_t total = sizeof region_a + sizeof region_b;
    size_t sizes[] = {SMALL_SIZE, LARGE_SIZE, HUGE_SIZE};
    for (unsigned i = 0; i < 3; i++) {
        warm(sizes[i]);
        size_t before = xPortGetFreeHeapSize();
        CHECK(before > 0 && before < total);
        size_t cached = ctl_cached_objects();
        void *p = pvPortMalloc(sizes[i]);
        CHECK(p != NULL);
        size_t during = xPortGetFreeHeapSize();
        CHECK(during + sizes[i] <= before);
        CHECK(during + bm_usable_size(p) == before); /* exactly its size class */
        vPortFree(p);
        CHECK_EQ(xPortGetFreeHeapSize(), before);
        if (sizes[i] != HUGE_SIZE) /* the block went to this core's cache, and counts as free */
            CHECK_EQ(ctl_cached_objects(), cached);
    }
    /* several at once */
    size_t before = xPortGetFreeHeapSize();
    void *blocks[16];
    size_t sum = 0;
    for (unsigned i = 0; i < 16; i++) {
        size_t n = i % 2 ? SMALL_SIZE * (i + 1) : LARGE_SIZE;
        blocks[i] = pvPortMalloc(n);
        CHECK(blocks[i] != NULL);
        sum += n;
    }
    CHECK(xPortGetFreeHeapSize() + sum <= before);
    for (unsigned i = 0; i < 16; i++)
        vPortFree(blocks[i]);
    CHECK(xPortGetFreeHeapSize() <= before + BM_CHUNK); /* a run may have gone back */
    CHECK(xPortGetFreeHeapSize() + BM_CHUNK >= before);
}

TEST(free_blocks_in_the_cache_count_as_free) {
    warm(SMALL_SIZE);
    size_t cached = ctl_cached_objects(), before = xPortGetFreeHeapSize();
    void *p = pvPortMalloc(SMALL_SIZE); /* from this core's cache */
    CHECK_EQ(ctl_cached_objects() + 1, cached);
    vPortFree(p);                          /* back into it */
    CHECK_EQ(ctl_cached_objects(), cached);
    CHECK_EQ(xPortGetFreeHeapSize(), before);
}

TEST(minimum_ever_free_goes_down_and_reflects_a_peak) {
    /* In the real-time profile (small geometry) the first huge block makes arenas give their
     * free chunks back to the pool, whose headers then count as free: done first. */
    warm(HUGE_SIZE);
    xPortResetHeapMinimumEverFreeHeapSize(); /* no earlier case's peak */
    size_t min0 = xPortGetMinimumEverFreeHeapSize(), free0 = xPortGetFreeHeapSize();
    CHECK_EQ(min0, free0);
    CHECK(min0 > 0);
    void *p = pvPortMalloc(HUGE_SIZE);
    CHECK(p != NULL);
    vPortFree(p);
    /* the peak happened between two reads, and shows */
    size_t min1 = xPortGetMinimumEverFreeHeapSize(), free1 = xPortGetFreeHeapSize();
    CHECK(min1 <= min0);
    CHECK(min1 + HUGE_SIZE <= free0);
    CHECK(free1 >= min1 + HUGE_SIZE);
    /* never up */
    void *q = pvPortMalloc(SMALL_SIZE);
    vPortFree(q);
    CHECK(xPortGetMinimumEverFreeHeapSize() <= min1);
    CHECK_EQ(heap_stats().xMinimumEverFreeBytesRemaining, xPortGetMinimumEverFreeHeapSize());
}

TEST(every_heap_stats_field) {
    vPortHeapResetState();
    warm(48);
    warm(LARGE_SIZE);
    HeapStats_t s = heap_stats();
    CHECK_EQ(s.xAvailableHeapSpaceInBytes, xPortGetFreeHeapSize());
    CHECK_EQ(s.xMinimumEverFreeBytesRemaining, xPortGetMinimumEverFreeHeapSize());
    CHECK(s.xMinimumEverFreeBytesRemaining <= s.xAvailableHeapSpaceInBytes);
    CHECK_EQ(s.xNumberOfSuccessfulAllocations, 2);
    CHECK_EQ(s.xNumberOfSuccessfulFrees, 2);
    CHECK(s.xSizeOfLargestFreeBlockInBytes >= LARGE_SIZE);
    CHECK(s.xSizeOfLargestFreeBlockInBytes <= s.xAvailableHeapSpaceInBytes);
    CHECK(s.xSizeOfSmallestFreeBlockInBytes > 0);
    CHECK(s.xSizeOfSmallestFreeBlockInBytes <= s.xSizeOfLargestFreeBlockInBytes);
    CHECK(s.xNumberOfFreeBlocks > 0);

    /* the largest free block is a size that then succeeds */
    void *big = pvPortMalloc(s.xSizeOfLargestFreeBlockInBytes);
    CHECK(big && in_regions(big, s.xSizeOfLargestFreeBlockInBytes));
    vPortFree(big);

    /* a block from the cache is one free block less, its free back one more */
    HeapStats_t before = heap_stats();
    void *p = pvPortMalloc(48);
    HeapStats_t during = heap_stats();
    vPortFree(p);
    HeapStats_t after = heap_stats();
    CHECK_EQ(during.xNumberOfFreeBlocks + 1, before.xNumberOfFreeBlocks);
    CHECK_EQ(after.xNumberOfFreeBlocks, before.xNumberOfFreeBlocks);
    CHECK_EQ(during.xAvailableHeapSpaceInBytes + 48, before.xAvailableHeapSpaceInBytes); /* 48: a class */
    CHECK_EQ(after.xAvailableHeapSpaceInBytes, before.xAvailableHeapSpaceInBytes);
    CHECK_EQ(during.xNumberOfSuccessfulAllocations, before.xNumberOfSuccessfulAllocations + 1);
    CHECK_EQ(after.xNumberOfSuccessfulFrees, before.xNumberOfSuccessfulFrees + 1);

    /* exact counts: 4 more successes (big, p, and two below), failures not counted */
    void *a = pvPortMalloc(7), *c = pvPortCalloc(5, 9);
    CHECK(pvPortMalloc(0) == NULL);
    CHECK(pvPortCalloc(SIZE_MAX, 2) == NULL);
    vPortFree(a);
    vPortFree(NULL);
    HeapStats_t end = heap_stats();
    CHECK_EQ(end.xNumberOfSuccessfulAllocations, 6);
    CHECK_EQ(end.xNumberOfSuccessfulFrees, 5);
    vPortFree(c);
    CHECK_EQ(heap_stats().xNumberOfSuccessfulFrees, 6);
    vPortGetHeapStats(NULL); /* ignored */
}

TEST(exhaustion_fails_with_the_hook_and_recovers) {
    enum { MAX_BLOCKS = 4096 };
    static void *blocks[MAX_BLOCKS];
    size_t size = BM_CHUNK / 4, before = xPortGetFreeHeapSize();
    unsigned hooks = hook_calls, n = 0;
    HeapStats_t s0 = heap_stats();
    while (n < MAX_BLOCKS && (blocks[n] = pvPortMalloc(size)) != NULL) {
        CHECK(in_regions(blocks[n], size));
        n++;
    }
    CHECK(n < MAX_BLOCKS);
    CHECK(n > 0);
    CHECK_EQ(hook_calls, hooks + 1);
    size_t exhausted = xPortGetFreeHeapSize();
    CHECK(exhausted + (size_t)n * size <= before);
    CHECK(xPortGetMinimumEverFreeHeapSize() <= exhausted);
    HeapStats_t s1 = heap_stats();
    CHECK_EQ(s1.xNumberOfSuccessfulAllocations - s0.xNumberOfSuccessfulAllocations, n);
    CHECK(s1.xSizeOfLargestFreeBlockInBytes < size); /* that size just failed */
    for (unsigned i = 0; i < n; i++)
        vPortFree(blocks[i]);
    CHECK(xPortGetFreeHeapSize() + BM_CHUNK >= before);
    void *again = pvPortMalloc(size);
    CHECK(again != NULL);
    vPortFree(again);
    CHECK_EQ(bm_check(), 0);
}

TEST(reset_state_resets_the_counters_only) {
    void *kept = pvPortMalloc(LARGE_SIZE);
    CHECK(kept != NULL);
    void *p = pvPortMalloc(HUGE_SIZE); /* a peak */
    vPortFree(p);
    CHECK(xPortGetMinimumEverFreeHeapSize() + HUGE_SIZE <= xPortGetFreeHeapSize());
    vPortHeapResetState();
    HeapStats_t s = heap_stats();
    CHECK_EQ(s.xNumberOfSuccessfulAllocations, 0);
    CHECK_EQ(s.xNumberOfSuccessfulFrees, 0);
    CHECK_EQ(s.xMinimumEverFreeBytesRemaining, s.xAvailableHeapSpaceInBytes);
    CHECK_EQ(xPortGetMinimumEverFreeHeapSize(), xPortGetFreeHeapSize());
    /* the heap stays: the block allocated before is still live and frees normally */
    size_t free_now = xPortGetFreeHeapSize();
    vPortFree(kept);
    CHECK_EQ(heap_stats().xNumberOfSuccessfulFrees, 1);
    CHECK(xPortGetFreeHeapSize() >= free_now + LARGE_SIZE);
    CHECK_EQ(xPortGetMinimumEverFreeHeapSize(), free_now); /* the free raised nothing */
    vPortDefineHeapRegions(regions);
    CHECK_EQ(bm_freertos_regions_status(), BM_EBUSY);
    /* the minimum follows new peaks after a reset */
    xPortResetHeapMinimumEverFreeHeapSize();
    size_t base = xPortGetFreeHeapSize();
    CHECK_EQ(xPortGetMinimumEverFreeHeapSize(), base);
    p = pvPortMalloc(LARGE_SIZE);
    vPortFree(p);
    CHECK(xPortGetMinimumEverFreeHeapSize() + LARGE_SIZE <= base);
    vPortInitialiseBlocks(); /* nothing to do */
    CHECK_EQ(bm_check(), 0);
}

int main(void) {
    bm_set_error_hook(test_count_error);
    child_status = run_child(allocate_then_define);
    /* before the heap exists */
    status_before = bm_freertos_regions_status();
    free_before = xPortGetFreeHeapSize();
    minimum_before = xPortGetMinimumEverFreeHeapSize();
    memset(&stats_before, 0xA5, sizeof stats_before);
    vPortGetHeapStats(&stats_before);
    /* refusals change nothing (bm_init logs the NULL start on stderr) */
    vPortDefineHeapRegions(NULL);
    refused_null = bm_freertos_regions_status();
    vPortDefineHeapRegions(&regions[2]);
    refused_empty = bm_freertos_regions_status();
    HeapRegion_t many[7];
    for (unsigned i = 0; i < 6; i++)
        many[i] = (HeapRegion_t){region_b + i * BM_CHUNK, BM_CHUNK};
    many[6] = (HeapRegion_t){NULL, 0};
    vPortDefineHeapRegions(many);
    refused_too_many = bm_freertos_regions_status();
    HeapRegion_t null_start[] = {{region_a, sizeof region_a}, {NULL, BM_CHUNK}, {NULL, 0}};
    vPortDefineHeapRegions(null_start);
    refused_null_start = bm_freertos_regions_status();
    vPortDefineHeapRegions(regions);
    status_good = bm_freertos_regions_status();
    return test_main();
}
