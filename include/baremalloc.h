/*
 * baremalloc: a freestanding memory allocator for firmware and SMP kernels.
 *
 * Every function is safe to call from any core at any time, and from an interrupt handler
 * unless its comment says otherwise: the port masks interrupts around each per-core cache
 * and arena critical section, so an interrupt that allocates on the same core waits for
 * nothing and corrupts nothing.
 *
 * Complexity: "bounded" means the work does not grow with heap size or with the number of
 * live blocks; it is at most a refill/flush batch plus O(log n) tree steps, where n is the
 * number of free page runs of one arena (or free chunk spans). Constant-time cases are noted.
 *
 * Initialisation is lazy (the first call initialises from the port's default page sources)
 * or explicit (bm_init). Concurrent first calls from several cores are safe: one initialises,
 * the others wait for it.
 */
#ifndef BAREMALLOC_H
#define BAREMALLOC_H

#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The API stays visible when the library is built with -fvisibility=hidden (the shared
 * library is: its internal symbols then need no GOT indirection). */
#pragma GCC visibility push(default)

#define BM_VERSION "0.1.0"

/* A page source: memory the allocator may carve up (port/bm_port.h states the contract and
 * when grow and release are called). A heap handed to bm_init needs base and size only: any
 * alignment, used to within a page at each end. */
typedef struct bm_page_source {
    void *base;
    size_t size;
    void *(*grow)(void *ctx, size_t incr);              /* NULL: the whole range is usable now */
    bool (*release)(void *ctx, void *addr, size_t len); /* NULL: pages are never given back */
    void *ctx;
    unsigned node; /* memory node (SRAM bank, NUMA node) this range belongs to */
} bm_page_source_t;

/* Run-time configuration for bm_init. Zero/NULL fields take the compile-time defaults. */
typedef struct bm_config {
    const struct bm_page_source *sources; /* NULL (with nsources 0): the port's default sources */
    unsigned nsources;
    const char *options; /* "narenas:2,tcache_max:1024"; NULL: bm_malloc_conf / environment */
    /* NULL: the port's bm_port_error. Called for every bad pointer and heap inconsistency
     * found, possibly with an allocator lock held and interrupts masked (from free, realloc,
     * bm_check, a cache flush): it must not allocate or free (malloc, free, bm_check, any
     * bm_* call that takes a lock: a deadlock on the lock its own core holds), must not
     * block, and should be short. See bm_port_error in port/bm_port.h. */
    void (*error_hook)(const char *msg, const void *addr);
} bm_config_t;

/* Explicit initialisation. Returns 0, or an error code (BM_EINVAL: bad config; BM_EBUSY:
 * already initialised; BM_ENOMEM: the page sources cannot hold the allocator's metadata).
 * Bad config: sources NULL with nsources > 0, sources with nsources 0, a source with a NULL
 * base, size 0 or a range that wraps, or two sources that overlap; the reason goes to the
 * port's log hook (as a bad option's does), and nothing changes, so a correct bm_init may
 * follow. O(nsources^2) for that check, then O(chunk-table size). Not from an interrupt
 * handler. */
int bm_init(const bm_config_t *config);

/* The size of a page source (any alignment) that guarantees no malloc, calloc or free fails
 * for a program whose live bytes (the sizes it asked for, not yet freed) never exceed
 * max_live, every request at most max_request bytes, on ncores cores, with this build's
 * configuration and the options in force (their defaults before bm_init). Covers plain and
 * zeroed allocation; a realloc counts its new block as live beside the old one; aligned
 * allocation is not covered. 0 when max_request exceeds the largest large class (14 KiB in the
 * small geometry, 1.75 MiB in the kernel one: huge blocks are not covered) or the arguments
 * are out of range. docs/REALTIME.md derives the bound. O(cores + classes), any context. */
size_t bm_heap_size_for(size_t max_live, size_t max_request, unsigned ncores);

/* Options string the application may define, read at initialisation (like jemalloc's
 * malloc_conf); a weak NULL default exists. */
extern const char *bm_malloc_conf;

/* malloc: a block of at least size bytes, aligned for any object of that size (16 bytes on
 * 64-bit targets for sizes >= 16, 8 on 32-bit). size 0 returns a unique minimum-size block
 * that must be freed. NULL with errno-style BM_ENOMEM recorded when the heap is exhausted or
 * size is too large to serve. O(1) on a per-core cache hit; otherwise bounded. */
void *bm_malloc(size_t size);

/* calloc: n * size zeroed bytes; NULL if n * size overflows or cannot be served. Bounded,
 * plus the cost of zeroing all n * size bytes (even pages fresh from the platform). */
void *bm_calloc(size_t n, size_t size);

/* realloc: resize keeping the contents up to the smaller size and the alignment the block
 * was allocated with. realloc(NULL, n) is bm_malloc(n). realloc(p, 0) frees p and returns a
 * minimum-size block (as malloc(0)), never NULL on success. On failure returns NULL and p is
 * untouched. A bad p (not a live block's start: foreign, interior, already freed), whatever
 * the size, 0 included, is reported once through the error hook and NULL returned
 * (BM_EINVAL); nothing is freed or allocated. Bounded + copy. */
void *bm_realloc(void *ptr, size_t size);

/* free: free(NULL) does nothing. A pointer that is not the start of a live block (foreign,
 * interior, never handed out, or already freed, on this core or another) is reported through
 * the error hook and otherwise ignored: no block ever gets two owners (with the default
 * BM_FREE_CHECKS; a write into a block after its free can defeat the check).
 * O(1) on a per-core cache hit; otherwise bounded. */
void bm_free(void *ptr);

/* Sized free: size must lie between the size requested (from malloc, calloc, realloc or
 * aligned_alloc) and bm_usable_size. It saves the fast path a lookup only when it names the
 * block's class; any other valid size takes the slow path. A size larger than the block is
 * reported through the error hook and the block is freed all the same. */
void bm_free_sized(void *ptr, size_t size);

/* aligned_alloc: alignment must be a power of two (any size is accepted, C17 semantics).
 * NULL (BM_EINVAL) for alignment 0 or not a power of two. Bounded. */
void *bm_aligned_alloc(size_t alignment, size_t size);

/* memalign, as glibc's: any alignment, rounded up to a power of two (0 and 1: none). NULL
 * (BM_EINVAL) only if no power of two is that large. Bounded. */
void *bm_memalign(size_t alignment, size_t size);

/* posix_memalign: 0 on success; BM_EINVAL if alignment is not a power of two multiple of
 * sizeof(void *), BM_ENOMEM if it cannot be served (then *memptr is untouched). */
int bm_posix_memalign(void **memptr, size_t alignment, size_t size);

/* Usable size of a live block (>= the size requested). 0 for NULL; a bad pointer (as for
 * bm_free, a freed block included) is reported and 0 returned. O(1). */
size_t bm_usable_size(const void *ptr);

/* Validator: walks every arena, chunk, run, bin and per-core cache and checks every invariant.
 * Returns the number of violations found (0: consistent), each also reported through the
 * error hook. Call it while no other core allocates. O(heap size). Not from an interrupt. */
unsigned bm_check(void);

/* The calling core flushes its per-core cache back to the arenas (also done for a hosted
 * thread when it exits). Bounded by the cache size. */
void bm_cache_flush(void);

/* Replace the error hook at run time (NULL restores the port's). Returns the previous one.
 * The hook runs possibly with an allocator lock held and interrupts masked (a bad free found
 * while a cache flushes or an arena frees the block; bm_check holds every lock): it must not
 * allocate or free, nor call any other bm_* function that takes a lock (a deadlock on the lock
 * its own core holds; a -DBM_DEBUG_LOCKS build traps there instead), must not block, and
 * should be short. */
typedef void (*bm_error_hook_t)(const char *msg, const void *addr);
bm_error_hook_t bm_set_error_hook(bm_error_hook_t hook);

/* For ports: take every allocator lock before fork() and release them in both processes
 * after it, so the child never inherits a lock held by a thread that does not exist there. */
void bm_prefork(void);
void bm_postfork(void);
/* For a port's fork child handler, after bm_postfork: the child runs only the forking thread,
 * on core keep_core. Every other core's cache is dropped with the blocks it held (they stay
 * allocated in the child; a thread may have been halfway through a push when fork copied
 * it), so the port can give those cores to new threads, which start fresh caches; each arena's
 * inbox count is recounted from its chain for the same reason. */
void bm_postfork_child(unsigned keep_core);

/* Error codes (the values match Linux errno so the standard-name wrappers can pass them on). */
#define BM_ENOMEM 12
#define BM_EBUSY 16
#define BM_EINVAL 22
#define BM_ENOENT 2
#define BM_EPERM 1

/* The last error code set on the calling core (BM_ENOMEM, BM_EINVAL), 0 if none: per thread
 * on the host port, on every thread (beyond its BM_MAX_CORES slots too); the standard-name
 * wrappers copy it to errno. O(1); any context. */
int bm_last_error(void);

/* ---------------------------------------------------------------------------------------
 * Control and statistics (core/ext/: ctl.c, stats.c, print.c, maintenance.c; docs/CTL.md lists
 * every name, its type and what it means).
 * ------------------------------------------------------------------------------------- */

/* mallctl-style control: name is dotted ("stats.arenas.0.pdirty"). Reads copy the value to
 * oldp when oldp != NULL, which needs *oldlenp == the value's size (else BM_EINVAL and
 * *oldlenp is set to that size; oldp NULL with oldlenp set just asks for the size). Writes
 * take newp/newlen (newlen == the value's size). Returns 0, BM_ENOENT (unknown name or index
 * out of range), BM_EINVAL (bad length or value, oldp without oldlenp), BM_EPERM (write to a
 * read-only name, or old/new given to an action), BM_EBUSY (action refused in this state),
 * BM_ENOMEM (the allocator could not initialise). Allocates nothing; holds at most one arena
 * lock (or the pool lock) at a time, briefly. Bounded, except arena.<i>.purge and reading
 * stats.*largest_free (O(log n) per arena). Not from an interrupt handler. */
int bm_ctl(const char *name, void *oldp, size_t *oldlenp, const void *newp, size_t newlen);

/* The control namespace by number (jemalloc's mallctlnametomib/mallctlbymib): look a name up
 * once, then read or write it with no string compare. A MIB is BM_CTL_MIB_LEN numbers; those
 * from mib[2] on are the name's decimal indices in order ("stats.arenas.<i>.bins.<j>.curregs":
 * mib[2] = i, mib[3] = j), which the caller may change to reach another arena, bin, core or
 * cache. nametomib: 0, BM_ENOENT for an unknown name, BM_EINVAL for NULL arguments or *miblen
 * below BM_CTL_MIB_LEN (then set to it); not from an interrupt handler. bymib: as bm_ctl, and
 * BM_ENOENT for a MIB no name gives; from an interrupt handler for the names docs/CTL.md marks
 * interrupt-safe. */
#define BM_CTL_MIB_LEN 5
int bm_ctl_nametomib(const char *name, size_t *mib, size_t *miblen);
int bm_ctl_bymib(const size_t *mib, size_t miblen, void *oldp, size_t *oldlenp, const void *newp, size_t newlen);

/* Statistics as text (like jemalloc's malloc_stats_print), or JSON when opts contains 'J'.
 * Output goes to write_cb in pieces (NULL: line by line through the port's log hook). opts
 * letters omit sections: 'g' options, 'n' nodes, 'a' arenas, 'b' bins, 'c' per-core caches,
 * 'm' the heap map, 'o' the object caches. Formats on the stack (about 1 KiB) and allocates nothing; write_cb is
 * never called with an allocator lock held, so it may allocate. Not from an interrupt. */
void bm_stats_print(void (*write_cb)(void *opaque, const char *text), void *opaque, const char *opts);

/* Background work for an idle hook or idle thread, bounded per call: purges up to a fixed
 * number of dirty page runs per arena toward the dirty bound (to zero for an arena unused
 * since the previous call), releases up to a fixed number of pooled chunk spans (the oldest)
 * unless the option retain is set, and trims the calling core's per-core cache (flushes half
 * of what stayed unused since the previous call; everything if another core asked,
 * tcache.flush_all). Not from an interrupt handler. */
void bm_maintenance(void);

/* Gives back every page that can be given back now (glibc's malloc_trim, which the drop-in
 * library exports as this): flushes the calling core's per-core cache, purges every dirty page
 * of every arena and releases every dirty pooled chunk (all but each span's first page), the
 * option retain notwithstanding. Returns 1 if any page went back to the page sources (or was
 * offered: a release hook that declines still counts), 0 if there was nothing to give back or
 * the allocator is not initialised. No bad input. Unbounded: O(cached objects + dirty runs +
 * dirty pooled spans), one release call per run and span, one lock at a time with interrupts
 * masked during each hold. Not from an interrupt handler. Other cores' caches are left alone
 * (tcache.flush_all asks them). */
int bm_trim(void);

/* ---------------------------------------------------------------------------------------
 * Kernel API (core/mallocx.c, core/runtime.c): per-call flags and memory added at run
 * time. A program that calls none of them does not link them.
 * ------------------------------------------------------------------------------------- */

/* Flags for bm_mallocx/bm_rallocx/bm_sdallocx; they combine with |. 0 is bm_malloc's own
 * behaviour. A bad flag (an arena or node no arena has, an alignment that is 0 or not a power
 * of two, an index too large to encode, an unknown bit) makes the call return NULL with
 * BM_EINVAL and change nothing (bm_sdallocx then frees nothing).
 *   BM_MALLOCX_ZERO       the block is zeroed (its whole usable size);
 *   BM_MALLOCX_ALIGN(a)   aligned to a (a power of two);
 *   BM_MALLOCX_ARENA(i)   from arena i (arenas.narenas); implies
 *                         NOCACHE for the allocation (the core's cache holds any arena's blocks);
 *   BM_MALLOCX_NODE(n)    from an arena of memory node n (the calling core's own arena if it is
 *                         on n, else the first arena on n); with ARENA the two must agree;
 *   BM_MALLOCX_NOCACHE    the core's cache is neither taken from nor given to: the block comes
 *                         from (and bm_sdallocx/bm_rallocx give it back to) its arena directly;
 *   BM_MALLOCX_NOGROW     no grow hook runs during the call: it uses what the heap already
 *                         holds (free runs, pooled chunks, granted chunks) and returns NULL
 *                         (BM_ENOMEM) rather than grow a region. For an interrupt handler or a
 *                         caller holding a spinlock, where the page source cannot be waited on. */
#define BM_MALLOCX_LG_ALIGN_MASK 0x3f
#define BM_MALLOCX_ALIGN(a) \
    ((int)((a) != 0 && ((a) & ((a) - 1)) == 0 ? (__builtin_ctzll((unsigned long long)(a)) + 1) : 0x3f))
#define BM_MALLOCX_ZERO 0x40
#define BM_MALLOCX_NOCACHE 0x80
#define BM_MALLOCX_NOGROW 0x100
#define BM_MALLOCX_BAD_INDEX 0x40000000 /* an index that cannot be encoded: refused */
#define BM_MALLOCX_ARENA(i) ((int)((unsigned)(i) < 255u ? ((unsigned)(i) + 1u) << 12 : BM_MALLOCX_BAD_INDEX))
#define BM_MALLOCX_NODE(n) ((int)((unsigned)(n) < 255u ? ((unsigned)(n) + 1u) << 20 : BM_MALLOCX_BAD_INDEX))

/* mallocx: a block of at least size bytes (0: a unique minimum-size block) as flags say. NULL
 * with BM_EINVAL for a bad flag, BM_ENOMEM when it cannot be served (with NOGROW: when the heap
 * as it is cannot serve it). O(1) with flags 0 or ZERO/ALIGN on a cache hit (plus the zeroing);
 * with ARENA/NODE/NOCACHE one arena lock hold (bounded), huge sizes O(log spans). Any context
 * with NOGROW (no hook runs but the error hook); without it, as bm_malloc (the grow hook may
 * run). */
void *bm_mallocx(size_t size, int flags);

/* rallocx: ptr resized to size (0: the minimum size) under flags, contents kept up to the
 * smaller size; ZERO zeroes what lies past the old usable size. In place when the new size has
 * the old block's class (and its arena and alignment meet the flags), else a new block, a copy
 * and a free of the old one (to its arena directly with NOCACHE). NULL ptr: bm_mallocx. On
 * failure NULL and ptr untouched: BM_EINVAL for a bad flag or a bad ptr (reported through the
 * error hook as bm_realloc does), BM_ENOMEM when it cannot be served. Bounded + copy. Any
 * context with NOGROW, else as bm_realloc. */
void *bm_rallocx(void *ptr, size_t size, int flags);

/* sdallocx: sized free with flags (NOCACHE: straight to the block's arena; the others are
 * accepted and ignored, as jemalloc does). size as for bm_free_sized (a larger one is reported
 * and the block freed all the same). Bad flags: nothing freed, BM_EINVAL recorded. A bad ptr is
 * reported and ignored. O(1) on a cache hit, else one arena lock hold. Any context (a free
 * never grows the heap). */
void bm_sdallocx(void *ptr, size_t size, int flags);

/* Adds a page source after initialisation (initialising first if no call has yet), safely
 * while other cores allocate: its chunks join the pool in one hold of the pool lock, and its
 * region is published last. Returns 0, BM_EINVAL for a bad source (NULL, NULL base, size 0, a
 * range that wraps, one that holds no whole chunk on the chunk grid, or one sharing a byte with
 * a region already in use), BM_ENOMEM when BM_MAX_REGIONS regions exist or base metadata for
 * its chunk table runs out. A static source's pages past its last whole chunk are not used.
 * O(regions + its chunks). Not from an interrupt handler (takes the base lock and the pool
 * lock; writes the chunk table). */
int bm_add_source(const bm_page_source_t *src);

/* Typed object caches (core/objcache.c; Linux's kmem_cache, jemalloc's arenas.create in spirit).
 * Objects of one cache come from runs of their own: they never share a run with another cache's
 * objects or with bm_malloc's blocks, so one type's churn does not fragment the others and a
 * write after free lands on an object of the same type. Each core keeps a small stack of a
 * cache's free objects, served with interrupts masked and no lock, as the size classes are.
 * Objects are small blocks: size (rounded up to align) at most the largest small class, which
 * bm_ctl reads as "objcache.size_max". */
typedef struct bm_objcache bm_objcache_t;
#define BM_OBJCACHE_ZERO 0x1 /* every object is handed out zeroed (its size bytes) */

/* A new cache for objects of size bytes aligned to align (0: the natural alignment of a block
 * of that size; else a power of two). name (copied, at most 23 characters) is how statistics and
 * bm_ctl ("objcache.<i>.*") show it. NULL with BM_EINVAL for a NULL or empty or longer name, a
 * size of 0 or above objcache.size_max, a bad alignment, an unknown flag; NULL with
 * BM_ENOMEM when BM_MAX_OBJCACHES caches exist or base metadata runs out. O(cores + arenas) the
 * first time an id is used, O(1) when it reuses a destroyed cache's. Not from an interrupt
 * handler (base metadata lock). */
bm_objcache_t *bm_objcache_create(const char *name, size_t size, size_t align, int flags);

/* An object of cache oc, or NULL with BM_ENOMEM when memory is exhausted (BM_EINVAL for a NULL or
 * destroyed oc, reported). O(1) from the core's stack; a refill moves a bounded batch under the
 * core's arena lock (and may call the grow hook); when the core's arena is full, other arenas'
 * free chunks are given back one per masked section and the refill tried after each (O(chunks)
 * per attempt, as malloc's retry). Any context where bm_malloc may be called. */
void *bm_objcache_alloc(bm_objcache_t *oc);

/* Gives obj back to oc. NULL is ignored. An object of another cache, a bm_malloc block, an
 * interior, stale or already freed pointer is reported through the error hook and ignored
 * (BM_EINVAL recorded). O(regions) to classify obj, then O(1) onto the core's stack; a full
 * stack flushes a bounded batch to the objects' arenas. Any context (a free never grows). */
void bm_objcache_free(bm_objcache_t *oc, void *obj);

/* Destroys oc: 0 once every core's stack has given its objects back and every run of oc is
 * empty and returned to its arena. If objects are still live (allocated and not freed) the
 * destruction is reported through the error hook and refused: BM_EBUSY, oc unchanged and still
 * usable. BM_EINVAL for NULL or an already destroyed oc (reported). No core may use oc during
 * or after a successful destroy. O(cores x stack slots + arenas). Not from an interrupt handler. */
int bm_objcache_destroy(bm_objcache_t *oc);

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif

#endif /* BAREMALLOC_H */
