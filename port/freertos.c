/*
 * FreeRTOS heap on baremalloc: compile this file instead of heap_4.c or heap_5.c; nothing else
 * in the FreeRTOS project changes. It calls only the public API (include/baremalloc.h) and no
 * C library function.
 *
 * The heap is the regions given to vPortDefineHeapRegions (heap_5), or, if the first
 * allocation comes before any, the port's default page sources (heap_4: port/baremetal.c takes
 * __bm_heap_start..__bm_heap_end from the linker script).
 *
 * Locking: none here. baremalloc masks interrupts around its own critical sections, so the
 * scheduler need not be suspended (heap_4 suspends it) and pvPortMalloc, pvPortCalloc and
 * vPortFree may even be called from an interrupt handler (FreeRTOS's own heaps may not be: code
 * meant to run on either should not rely on it). The statistics functions read baremalloc's
 * statistics through bm_ctl, which takes locks: tasks only, never an interrupt handler.
 *
 * What "free" means (xPortGetFreeHeapSize, xAvailableHeapSpaceInBytes): the bytes of the page
 * sources (stats.nodes.<n>.size over every node) less the allocator's metadata
 * (stats.metadata: chunk headers, chunk tables, arenas, per-core caches' slot arrays) less the
 * live blocks at their size class (stats.allocated, which counts blocks parked in per-core
 * caches, less stats.cores.<c>.cached_bytes of every core below BM_FREERTOS_MAX_CORES). Blocks
 * parked in per-core caches count as free: a failed allocation gives its core's cached blocks
 * back and retries, so they never make an allocation fail on a single core (on several cores,
 * another core's cache, bounded by tcache_slots, is usable by that core only until it flushes).
 * The headers and unused tails of small runs count as free too, so the figure is an upper bound
 * of what one more allocation can get, as heap_4's is (its free blocks' headers are counted).
 *
 * Options (-D): BM_FREERTOS_MAX_REGIONS (default BM_MAX_REGIONS, 4: keep the two equal),
 * BM_FREERTOS_MAX_CORES (default BM_MAX_CORES, 64: cores whose caches are looked at),
 * BM_FREERTOS_MAX_NODES (16: memory node ids looked for), BM_FREERTOS_MALLOC_FAILED_HOOK (1:
 * call vApplicationMallocFailedHook when pvPortMalloc returns NULL; default
 * configUSE_MALLOC_FAILED_HOOK with FreeRTOS's headers, else 0), BM_FREERTOS_HAVE_PORTABLE_H
 * (take the declarations from FreeRTOS.h/portable.h, see freertos_heap.h).
 */
#ifdef BM_FREERTOS_HAVE_PORTABLE_H
/* As heap_4.c: FreeRTOS.h must not map the API onto MPU wrappers in the file defining it. */
#define MPU_WRAPPERS_INCLUDED_FROM_API_FILE
#endif
#include "freertos_heap.h"
#ifdef BM_FREERTOS_HAVE_PORTABLE_H
#undef MPU_WRAPPERS_INCLUDED_FROM_API_FILE
#endif

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "baremalloc.h"

#ifndef BM_FREERTOS_MAX_REGIONS
#ifdef BM_MAX_REGIONS
#define BM_FREERTOS_MAX_REGIONS BM_MAX_REGIONS
#else
#define BM_FREERTOS_MAX_REGIONS 4 /* core/bm_config.h's BM_MAX_REGIONS */
#endif
#endif

#ifndef BM_FREERTOS_MAX_CORES
#ifdef BM_MAX_CORES
#define BM_FREERTOS_MAX_CORES BM_MAX_CORES
#else
#define BM_FREERTOS_MAX_CORES 64 /* port/bm_port.h's BM_MAX_CORES */
#endif
#endif

#ifndef BM_FREERTOS_MAX_NODES
#define BM_FREERTOS_MAX_NODES 16
#endif

#ifndef BM_FREERTOS_MALLOC_FAILED_HOOK
#ifdef configUSE_MALLOC_FAILED_HOOK
#define BM_FREERTOS_MALLOC_FAILED_HOOK configUSE_MALLOC_FAILED_HOOK
#else
#define BM_FREERTOS_MALLOC_FAILED_HOOK 0
#endif
#endif

#if BM_FREERTOS_MALLOC_FAILED_HOOK
/* The application's hook (FreeRTOS: configUSE_MALLOC_FAILED_HOOK). Weak: without a
 * definition it is not called. */
extern void vApplicationMallocFailedHook(void) __attribute__((weak));
#endif

/* FreeRTOS's trace macros when its headers are in (FreeRTOS.h defines them empty by default). */
#ifndef traceMALLOC
#define traceMALLOC(pv, size)
#endif
#ifndef traceFREE
#define traceFREE(pv, size)
#endif

/* ---- the adapter's own counters (atomics: any core, any context) ------------------------- */

static size_t n_allocations;         /* successful pvPortMalloc/pvPortCalloc since reset */
static size_t n_frees;               /* successful vPortFree since reset */
static size_t live_bytes;            /* usable bytes of the blocks pvPortMalloc handed out, live */
static size_t peak_bytes;            /* highest live_bytes since reset */
static size_t min_free = SIZE_MAX;   /* lowest free size derived so far; SIZE_MAX: none since reset */
static bool heap_ready;              /* the adapter has set up or used the heap */
static int regions_status = BM_ENOENT;

/* O(1), any context. Statistics report 0 until the heap exists, as heap_4's do before the first
 * pvPortMalloc: reading them through bm_ctl would initialise the allocator from the default
 * sources and make a later vPortDefineHeapRegions fail. */
static bool heap_in_use(void) { return __atomic_load_n(&heap_ready, __ATOMIC_ACQUIRE); }

static void heap_mark_in_use(void) {
    if (!__atomic_load_n(&heap_ready, __ATOMIC_RELAXED))
        __atomic_store_n(&heap_ready, true, __ATOMIC_RELEASE);
}

/* O(1) plus compare-exchange retries under contention; any context. Counts a block handed out. */
static void count_allocation(void *block) {
    __atomic_fetch_add(&n_allocations, 1, __ATOMIC_RELAXED);
    size_t now = __atomic_add_fetch(&live_bytes, bm_usable_size(block), __ATOMIC_RELAXED);
    size_t peak = __atomic_load_n(&peak_bytes, __ATOMIC_RELAXED);
    while (now > peak && !__atomic_compare_exchange_n(&peak_bytes, &peak, now, true, __ATOMIC_RELAXED,
                                                      __ATOMIC_RELAXED))
        ;
}

/* O(1); any context (the hook then runs there too). heap_4 calls the hook for every NULL it
 * returns, a 0-byte request's included. */
static void *allocation_failed(void) {
#if BM_FREERTOS_MALLOC_FAILED_HOOK
    if (vApplicationMallocFailedHook)
        vApplicationMallocFailedHook();
#endif
    return NULL;
}

/* ---- allocation ------------------------------------------------------------------------- */

/* heap_4's pvPortMalloc: 0 bytes returns NULL (baremalloc's malloc(0) would return a block);
 * NULL when the heap cannot serve the size; either NULL calls the malloc-failed hook if built
 * with it. Aligned as bm_malloc (8 bytes on 32-bit targets: portBYTE_ALIGNMENT's usual value).
 * O(1) on a per-core cache hit, otherwise bounded (bm_malloc), plus a few atomics. Interrupt
 * handlers may call it (heap_4's may not). Before vPortDefineHeapRegions it initialises the
 * heap from the port's default sources, and the regions are then refused. */
void *pvPortMalloc(size_t xWantedSize) {
    heap_mark_in_use();
    void *block = xWantedSize ? bm_malloc(xWantedSize) : NULL;
    traceMALLOC(block, xWantedSize);
    if (!block)
        return allocation_failed();
    count_allocation(block);
    return block;
}

/* heap_4's pvPortCalloc: xNum * xSize zeroed bytes; NULL without the hook when the product
 * overflows, otherwise as pvPortMalloc (0 bytes: NULL and the hook). Bounded plus the zeroing
 * (bm_calloc). Interrupt handlers may call it. */
void *pvPortCalloc(size_t xNum, size_t xSize) {
    size_t bytes;
    if (__builtin_mul_overflow(xNum, xSize, &bytes))
        return NULL;
    heap_mark_in_use();
    void *block = bytes ? bm_calloc(xNum, xSize) : NULL;
    traceMALLOC(block, bytes);
    if (!block)
        return allocation_failed();
    count_allocation(block);
    return block;
}

/* heap_4's vPortFree: NULL is ignored. A pointer that is not a live block's start (foreign,
 * interior, freed twice) is reported once through baremalloc's error hook by bm_usable_size, and
 * ignored and not counted (heap_4 would configASSERT). O(1) on a per-core cache hit, otherwise
 * bounded (bm_free_sized with the usable size, which spares the fast path a lookup). Interrupt
 * handlers may call it (heap_4's may not). */
void vPortFree(void *pv) {
    if (!pv)
        return;
    heap_mark_in_use();
    size_t usable = bm_usable_size(pv);
    if (!usable)
        return; /* not a live block: reported, as bm_free would have */
    traceFREE(pv, usable);
    bm_free_sized(pv, usable);
    __atomic_fetch_sub(&live_bytes, usable, __ATOMIC_RELAXED);
    __atomic_fetch_add(&n_frees, 1, __ATOMIC_RELAXED);
}

/* heap_4: nothing to do (baremalloc initialises itself). O(1), any context. */
void vPortInitialiseBlocks(void) {}

/* ---- heap_5's regions ------------------------------------------------------------------- */

/* heap_5's vPortDefineHeapRegions: the regions, up to the entry whose size is 0 (heap_5 stops
 * there; its start should be NULL), become baremalloc's page sources, one each, through bm_init.
 * Any alignment (each region is used to within a page at each end; the later ones follow the
 * first one's chunk grid, so a region that is not chunk-aligned loses up to a chunk, and one
 * smaller than a chunk, 16 KiB in the small geometry, may be left unused) and any order (heap_5
 * wants ascending addresses; here it does not matter). As heap_5 requires, it must come before
 * the first allocation: called again, or after anything initialised baremalloc (pvPortMalloc,
 * newlib's malloc, bm_*), it changes nothing and bm_freertos_regions_status() says BM_EBUSY
 * (heap_5 would configASSERT). NULL, an empty list, more than BM_FREERTOS_MAX_REGIONS regions or
 * a region bm_init refuses (NULL start, overlap, too small for the allocator's tables): nothing
 * changes, BM_EINVAL, and a later correct call may still succeed. O(regions^2) plus bm_init's
 * O(chunk-table size). Not from an interrupt handler (bm_init); call it before the scheduler
 * starts, as heap_5 requires. */
void vPortDefineHeapRegions(const HeapRegion_t *const pxHeapRegions) {
    static bm_page_source_t sources[BM_FREERTOS_MAX_REGIONS]; /* off main's stack; bm_init copies them */
    int status = BM_EINVAL;
    unsigned n = 0;
    if (pxHeapRegions) {
        while (n <= BM_FREERTOS_MAX_REGIONS && pxHeapRegions[n].xSizeInBytes != 0)
            n++;
    }
    if (n > 0 && n <= BM_FREERTOS_MAX_REGIONS) {
        /* field by field: an initialiser would make the compiler call memset */
        for (unsigned i = 0; i < n; i++) {
            sources[i].base = pxHeapRegions[i].pucStartAddress;
            sources[i].size = pxHeapRegions[i].xSizeInBytes;
            sources[i].grow = NULL;
            sources[i].release = NULL;
            sources[i].ctx = NULL;
            sources[i].node = 0;
        }
        bm_config_t config;
        config.sources = sources;
        config.nsources = n;
        config.options = NULL;
        config.error_hook = NULL;
        status = bm_init(&config);
    }
    if (status == 0 || status == BM_EBUSY) /* the heap exists: its statistics are real */
        heap_mark_in_use();
    __atomic_store_n(&regions_status, status, __ATOMIC_RELEASE);
}

/* O(1), any context. */
int bm_freertos_regions_status(void) { return __atomic_load_n(&regions_status, __ATOMIC_ACQUIRE); }

/* ---- statistics (bm_ctl; tasks only) ------------------------------------------------------- */

/* Writes text then, if index >= 0, its decimal digits, at p; returns the end. O(length), no
 * bound check: every caller's buffer holds its longest name (NAME_LEN below). */
static char *put(char *p, const char *text, long index) {
    while (*text)
        *p++ = *text++;
    if (index >= 0) {
        char digits[24];
        unsigned n = 0;
        unsigned long v = (unsigned long)index;
        do
            digits[n++] = (char)('0' + v % 10);
        while ((v /= 10) != 0);
        while (n)
            *p++ = digits[--n];
    }
    *p = 0;
    return p;
}

#define NAME_LEN 64 /* "stats.arenas.<10 digits>.bins.<10 digits>.curregs", 48 bytes, is the longest */

/* Reads the value of name into out (len bytes); false if bm_ctl refuses (no such index). */
static bool ctl_read(const char *name, void *out, size_t len) {
    return bm_ctl(name, out, &len, NULL, 0) == 0;
}

/* name = prefix<i>suffix (or prefix<i>mid<j>suffix with j >= 0), read as a size_t; 0 if absent. */
static size_t ctl_size_at(const char *prefix, long i, const char *mid, long j, const char *suffix) {
    char name[NAME_LEN];
    char *p = put(name, prefix, i);
    if (mid)
        p = put(p, mid, j);
    put(p, suffix, -1);
    size_t value = 0;
    return ctl_read(name, &value, sizeof value) ? value : 0;
}

static unsigned ctl_unsigned(const char *name) {
    unsigned value = 0;
    return ctl_read(name, &value, sizeof value) ? value : 0;
}

static size_t ctl_size(const char *name) {
    size_t value = 0;
    return ctl_read(name, &value, sizeof value) ? value : 0;
}

/* The free bytes (see the top of the file), from a fresh snapshot (epoch written):
 * O(nodes + BM_FREERTOS_MAX_CORES) bm_ctl calls, the snapshot itself O(arenas x bins). */
static size_t free_bytes(void) {
    uint64_t epoch = 1;
    bm_ctl("epoch", NULL, NULL, &epoch, sizeof epoch);
    unsigned nnodes = ctl_unsigned("arenas.nnodes"), found = 0;
    size_t total = 0;
    for (unsigned id = 0; id < BM_FREERTOS_MAX_NODES && found < nnodes; id++) {
        size_t size = ctl_size_at("stats.nodes.", id, NULL, -1, ".size");
        if (size) {
            total += size;
            found++;
        }
    }
    size_t cached = 0;
    for (unsigned core = 0; core < BM_FREERTOS_MAX_CORES; core++)
        cached += ctl_size_at("stats.cores.", core, NULL, -1, ".cached_bytes");
    size_t allocated = ctl_size("stats.allocated"), metadata = ctl_size("stats.metadata");
    size_t live = allocated > cached ? allocated - cached : 0;
    size_t used = metadata + live;
    return total > used ? total - used : 0;
}

/* The minimum ever free size given the free size now: now, less how far the blocks of
 * pvPortMalloc/pvPortCalloc have been above their present total since the last reset (exact at
 * the usable sizes, which are the size classes baremalloc counts; other users of the heap, such
 * as newlib's malloc, and the metadata count at their present level). Only goes down until a
 * reset. O(1) plus retries; any context. */
static size_t minimum_ever(size_t free_now) {
    size_t peak = __atomic_load_n(&peak_bytes, __ATOMIC_RELAXED);
    size_t live = __atomic_load_n(&live_bytes, __ATOMIC_RELAXED);
    size_t above = peak > live ? peak - live : 0;
    size_t candidate = free_now > above ? free_now - above : 0;
    size_t old = __atomic_load_n(&min_free, __ATOMIC_RELAXED);
    while (candidate < old && !__atomic_compare_exchange_n(&min_free, &old, candidate, true, __ATOMIC_RELAXED,
                                                           __ATOMIC_RELAXED))
        ;
    return candidate < old ? candidate : old;
}

/* heap_4's xPortGetFreeHeapSize: the free bytes (top of the file); 0 until the heap exists.
 * O(arenas x bins + nodes + BM_FREERTOS_MAX_CORES) (free_bytes); no bad input. Not from an interrupt
 * handler (bm_ctl takes locks). */
size_t xPortGetFreeHeapSize(void) {
    if (!heap_in_use())
        return 0;
    size_t now = free_bytes();
    minimum_ever(now);
    return now;
}

/* heap_4's xPortGetMinimumEverFreeHeapSize: the lowest free size since start or the last reset
 * (minimum_ever above: derived from the peak of the adapter's live bytes, so a peak between two
 * calls shows); 0 until the heap exists. As xPortGetFreeHeapSize: tasks only. */
size_t xPortGetMinimumEverFreeHeapSize(void) {
    if (!heap_in_use())
        return 0;
    return minimum_ever(free_bytes());
}

/* heap_4's xPortResetHeapMinimumEverFreeHeapSize: the minimum becomes the free size now (taken
 * at the next read). O(1): a few atomics, any context. */
void xPortResetHeapMinimumEverFreeHeapSize(void) {
    __atomic_store_n(&peak_bytes, __atomic_load_n(&live_bytes, __ATOMIC_RELAXED), __ATOMIC_RELAXED);
    __atomic_store_n(&min_free, SIZE_MAX, __ATOMIC_RELAXED);
}

/* FreeRTOS 11's vPortHeapResetState (heap_4/5 forget the whole heap so that the scheduler can be
 * restarted). baremalloc cannot be initialised again, so this resets only the adapter's
 * counters: successful allocations and frees to 0, and the minimum ever free size to the free
 * size now (as xPortResetHeapMinimumEverFreeHeapSize). The heap, its regions and every live
 * block stay: blocks allocated before stay allocated (free them, or they stay in use), the
 * adapter's live byte count stays right for them, and vPortDefineHeapRegions is still refused.
 * baremalloc's own statistics (stats.*) are not touched. O(1), any context. */
void vPortHeapResetState(void) {
    __atomic_store_n(&n_allocations, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&n_frees, 0, __ATOMIC_RELAXED);
    xPortResetHeapMinimumEverFreeHeapSize();
}

/* heap_4's vPortGetHeapStats, every field (NULL: nothing done). Until the heap exists every
 * field is 0 but the two counts. Where baremalloc keeps no such figure, an approximation:
 * - xAvailableHeapSpaceInBytes: xPortGetFreeHeapSize's value (cached blocks count as free).
 * - xSizeOfLargestFreeBlockInBytes: a size one request from the calling core can get without
 *   the page sources growing: stats.largest_free when that is a span of pooled chunks (at least
 *   a chunk: a request of that many bytes takes them whole); otherwise the calling core's
 *   arena's longest free page run (stats.arenas.<thread.arena>.largest_free) rounded down to a
 *   large size class, or the largest small class with a free region in that arena's runs if
 *   that is more. Free regions elsewhere may be larger: it is a lower bound.
 * - xSizeOfSmallestFreeBlockInBytes: the smallest small size class with a free region in some
 *   arena's runs (stats.arenas.<i>.bins.<j>: curruns x nregs > curregs); objects in per-core
 *   caches are not looked at (no statistic gives their classes). None: the largest free block.
 * - xNumberOfFreeBlocks: free regions of small runs (curruns x nregs - curregs, every arena and
 *   bin), plus the objects in per-core caches (stats.cores.<c>.ncached), plus 1 for the largest
 *   free extent if stats.largest_free is not 0; other free page runs are not counted (no
 *   statistic counts them): a lower bound.
 * - xMinimumEverFreeBytesRemaining: xPortGetMinimumEverFreeHeapSize's value.
 * - xNumberOfSuccessfulAllocations / xNumberOfSuccessfulFrees: the adapter's exact counts of
 *   non-NULL pvPortMalloc/pvPortCalloc results and of vPortFree calls that freed a block, since
 *   start or vPortHeapResetState.
 * O(arenas x bins + large classes + BM_FREERTOS_MAX_CORES) bm_ctl calls. Not from an interrupt
 * handler (bm_ctl takes locks). */
void vPortGetHeapStats(HeapStats_t *pxHeapStats) {
    if (!pxHeapStats)
        return;
    HeapStats_t s = {.xAvailableHeapSpaceInBytes = 0};
    s.xNumberOfSuccessfulAllocations = __atomic_load_n(&n_allocations, __ATOMIC_RELAXED);
    s.xNumberOfSuccessfulFrees = __atomic_load_n(&n_frees, __ATOMIC_RELAXED);
    if (!heap_in_use()) {
        *pxHeapStats = s;
        return;
    }
    s.xAvailableHeapSpaceInBytes = free_bytes();
    s.xMinimumEverFreeBytesRemaining = minimum_ever(s.xAvailableHeapSpaceInBytes);

    unsigned narenas = ctl_unsigned("arenas.narenas"), nbins = ctl_unsigned("arenas.nbins");
    unsigned mine = ctl_unsigned("thread.arena");
    size_t smallest = 0, mine_small = 0, nfree = 0;
    for (unsigned j = 0; j < nbins; j++) {
        char name[NAME_LEN];
        uint32_t nregs = 0;
        size_t len = sizeof nregs;
        put(put(name, "arenas.bin.", j), ".nregs", -1);
        if (bm_ctl(name, &nregs, &len, NULL, 0) != 0)
            continue;
        size_t size = ctl_size_at("arenas.bin.", j, NULL, -1, ".size");
        for (unsigned a = 0; a < narenas; a++) {
            size_t runs = ctl_size_at("stats.arenas.", a, ".bins.", j, ".curruns");
            size_t regs = ctl_size_at("stats.arenas.", a, ".bins.", j, ".curregs");
            size_t slots = runs * nregs;
            if (slots <= regs)
                continue;
            nfree += slots - regs;
            if (!smallest || size < smallest)
                smallest = size;
            if (a == mine && size > mine_small)
                mine_small = size;
        }
    }
    for (unsigned core = 0; core < BM_FREERTOS_MAX_CORES; core++)
        nfree += ctl_size_at("stats.cores.", core, NULL, -1, ".ncached");

    size_t extent = ctl_size("stats.largest_free"), largest;
    if (extent && extent >= ctl_size("arenas.chunk")) {
        largest = extent; /* pooled chunks: arena runs are shorter than a chunk */
    } else {
        size_t run = ctl_size_at("stats.arenas.", mine, NULL, -1, ".largest_free");
        unsigned nlarge = ctl_unsigned("arenas.nlarge");
        largest = 0;
        for (unsigned k = 0; k < nlarge; k++) {
            size_t size = ctl_size_at("arenas.large.", k, NULL, -1, ".size");
            if (size > run)
                break; /* ascending */
            largest = size;
        }
        if (mine_small > largest)
            largest = mine_small;
    }
    if (extent)
        nfree++;
    s.xSizeOfLargestFreeBlockInBytes = largest;
    s.xSizeOfSmallestFreeBlockInBytes = smallest ? smallest : largest;
    s.xNumberOfFreeBlocks = nfree;
    *pxHeapStats = s;
}
