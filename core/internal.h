/*
 * baremalloc core: the structures every layer of the allocator shares and the invariants they
 * keep. The observability layer (statistics, their printer, the heap map, bm_ctl, maintenance,
 * the validator) lives in core/ext/ with its own header and is not linked by a program that
 * calls only the allocation API.
 *
 * Layers, from the platform up; each file calls only the files above it in this list (and the
 * port), never one below it:
 *   state.c   globals: size classes, bm_state, per-core cache pointers, error reporting, the
 *             live-bytes counter.
 *   options.c the options string.
 *   rbtree.c  intrusive red-black tree (the chunk pool and the bins' non-full runs).
 *   runs.c    the free page run index: one list per length, found by two bit scans.
 *   region.c  page sources cut into chunks, the chunk table, the chunk pool.
 *   huge.c    huge blocks: spans of whole chunks.
 *   arena.c   an arena's chunks (2^lg_chunk bytes, header = page map), page runs, large runs,
 *             the purge mechanism and the sync purge policy.
 *   bin.c     small runs (equal regions of one class, header and bitmap at the start) and
 *             bins; the block dispatch and the one pointer classifier.
 *   base.c    base metadata, bootstrap (the tables in the first chunk), the lock-everything
 *             helper.
 *   cache.c   per core, per class, a stack of free objects; every slow path of the API, and
 *             the one decision between the core's cache and the arena.
 *   init.c    initialisation: the options, bootstrap once, the arenas' and caches' set-up.
 *   alloc.c   the public entry points and their fast paths.
 *   mallocx.c bm_mallocx/bm_rallocx/bm_sdallocx: per-call flags over alloc.c and the arenas.
 *   runtime.c regions added after initialisation (bm_add_source).
 *   objcache.c typed object caches: bins and per-core stacks of their own over bin.c's runs.
 *   (These three sit beside alloc.c at the top: a program that does not call them does not
 *   link them.)
 *
 * Locks and calling contexts (the port's side of it is in port/bm_port.h):
 *   0. objcache_lock (objcache.c): object cache creation and destruction (the table's slots);
 *      taken alone, outside every other lock.
 *   1. init_state (init.c): not a lock but a one-time gate; the one core initialising holds it
 *      with interrupts masked while the others spin; it calls bm_port_log, the option hooks
 *      and, through the first chunk, the grow hook.
 *   2. base_lock: the base metadata bump range (bm_state.base_next/base_end/base_allocated).
 *      Held while taking pages from arena 0, so it nests outside arena locks.
 *   3. arena->lock, one per arena: everything in bm_arena_t (its chunks' page maps, free runs,
 *      bins, runs, counters). At most one arena lock is held at a time, except by bm_lock_all,
 *      which takes them in index order. bm_arena_unlock runs the sync purge (the page source's
 *      release hook) with the lock still held.
 *   4. pool_lock: every region's chunk table, map pointers and pool, region growth (the grow
 *      hook runs under it), huge blocks and the huge counters of every arena.
 *   5. snapshot_lock (ext/stats.c): the statistics snapshot; nests inside nothing, taken alone.
 *   Order: objcache -> base -> arena -> pool. Every hold of 2-5 and every cache update runs with
 *   interrupts masked; interrupts are masked for the whole of any call that takes one. So no
 *   hook called under a lock (grow, release, the error hook, bm_port_error) may call the
 *   allocator: on the same core it would wait for a lock it holds. A function that needs a
 *   lock held ends in _locked, or says so in its first comment line.
 */
#ifndef BM_INTERNAL_H
#define BM_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "baremalloc.h"
#include "bm_config.h"
#include "bm_port.h"
#include "size_classes.h"

/* Nothing below leaves the library: in a shared build every internal symbol binds locally, so
 * the fast paths reach the globals of state.c with one RIP-relative load, not through the GOT. */
#pragma GCC visibility push(hidden)

#define BM_LIKELY(x) __builtin_expect(!!(x), 1)
#define BM_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define BM_INLINE static inline __attribute__((always_inline))
#define BM_NOINLINE __attribute__((noinline))
#define BM_CACHELINE 64

/* AddressSanitizer: the core poisons every byte that is not part of a live block (free
 * regions, cached objects, free pages), so ASan sees use-after-free and overflows into
 * neighbours inside the allocator's own memory. */
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define BM_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define BM_ASAN 1
#endif
#ifdef BM_ASAN
void __asan_poison_memory_region(void const volatile *addr, size_t size);
void __asan_unpoison_memory_region(void const volatile *addr, size_t size);
#define BM_POISON(p, n) __asan_poison_memory_region((p), (n))
#define BM_UNPOISON(p, n) __asan_unpoison_memory_region((p), (n))
/* A block handed to the user: exactly the requested bytes are addressable, as with ASan's
 * own allocator, so an overflow into the rest of the size class is caught too. */
#define BM_EXPOSE(p, size, usable) (BM_POISON((p), (usable)), BM_UNPOISON((p), (size)))
#else
#define BM_POISON(p, n) ((void)(p), (void)(n))
#define BM_UNPOISON(p, n) ((void)(p), (void)(n))
#define BM_EXPOSE(p, size, usable) ((void)0) /* arguments unevaluated: usable may be a call */
#endif


/* Bit scans without libgcc helpers: an instruction where the architecture has one, a de
 * Bruijn multiply elsewhere (RV64 without Zbb). Arguments are non-zero. */
#if defined(__x86_64__) || defined(__i386__) || defined(__aarch64__) || defined(__arm__)
BM_INLINE unsigned bm_ctz(uintptr_t x) { return (unsigned)__builtin_ctzl(x); }
#else
BM_INLINE unsigned bm_ctz(uintptr_t x) {
#if __SIZEOF_POINTER__ == 8
    static const uint8_t table[64] = {0,  1,  2,  53, 3,  7,  54, 27, 4,  38, 41, 8,  34, 55, 48, 28,
                                      62, 5,  39, 46, 44, 42, 22, 9,  24, 35, 59, 56, 49, 18, 29, 11,
                                      63, 52, 6,  26, 37, 40, 33, 47, 61, 45, 43, 21, 23, 58, 17, 10,
                                      51, 25, 36, 32, 60, 20, 57, 16, 50, 31, 19, 15, 30, 14, 13, 12};
    return table[((x & -x) * 0x022fdd63cc95386dull) >> 58];
#else
    static const uint8_t table[32] = {0,  1,  28, 2,  29, 14, 24, 3, 30, 22, 20, 15, 25, 17, 4,  8,
                                      31, 27, 13, 23, 21, 19, 16, 7, 26, 12, 18, 6,  11, 5,  10, 9};
    return table[((uint32_t)(x & -x) * 0x077CB531u) >> 27];
#endif
}
#endif

BM_INLINE unsigned bm_popcount(uintptr_t x) {
    unsigned n = 0;
    for (; x; x &= x - 1)
        n++;
    return n;
}

/* Statistics counters: 64-bit where that is one machine word; 32-bit elsewhere, because a
 * 32-bit core has no single-copy-atomic 64-bit load (they would wrap after 4 G events). */
#if __SIZEOF_POINTER__ == 8
typedef uint64_t bm_stat_t;
#else
typedef uint32_t bm_stat_t;
#endif

/* ---------------------------------------------------------------------------------------
 * Size classes (size_classes.h, generated).
 * ------------------------------------------------------------------------------------- */
typedef struct bm_class_info {
    uint32_t size;       /* bytes per region (small) or per run (large) */
    uint32_t run_pages;  /* pages per run */
    uint32_t nregs;      /* regions per run (1 for large) */
    uint32_t reg0;       /* offset of region 0 from the run start (after the run header) */
    uint32_t align;      /* every region of this class is aligned to this */
    uint32_t div_shift;  /* divisibility test, see size_classes.h */
    uint32_t div_inverse;
    uint32_t div_limit;
} bm_class_info_t;

/* One more entry than classes: BM_BIN_INVALID's, all zero, whose divisibility test passes
 * so that the fast path needs no bounds check before reaching the never-usable bin. */
extern const bm_class_info_t bm_classes[BM_NCLASSES + 1];
extern const uint8_t bm_size_lookup[BM_LOOKUP_MAX / 8 + 1];

#define BM_BIN_INVALID BM_NCLASSES /* class index stored for pages no block starts in */

BM_INLINE unsigned bm_lookup_class(size_t size) { return bm_size_lookup[(size + 7) >> 3]; }
unsigned bm_size_to_class(size_t size); /* size <= BM_LARGE_MAX, after initialisation; O(1) */
BM_INLINE bool bm_class_is_small(unsigned cls) { return cls < BM_NSMALL; }

/* x is a multiple of the class size (x < 2^32). */
BM_INLINE bool bm_class_divides(const bm_class_info_t *ci, uint32_t x) {
    uint32_t r = x * ci->div_inverse;
    r = (r >> ci->div_shift) | (r << ((32 - ci->div_shift) & 31));
    return r <= ci->div_limit;
}

/* ---------------------------------------------------------------------------------------
 * Red-black tree (rbtree.c), intrusive, with the colour in the parent pointer's low bit.
 * ------------------------------------------------------------------------------------- */
typedef struct bm_rbnode {
    uintptr_t parent_color;
    struct bm_rbnode *left, *right;
} bm_rbnode_t;

typedef int (*bm_rb_cmp_t)(const bm_rbnode_t *a, const bm_rbnode_t *b);
typedef struct bm_rbtree {
    bm_rbnode_t *root;
    bm_rbnode_t *last; /* the greatest node, kept up to date so that reading it is O(1) */
} bm_rbtree_t;

void bm_rb_insert(bm_rbtree_t *tree, bm_rbnode_t *node, bm_rb_cmp_t cmp);
void bm_rb_remove(bm_rbtree_t *tree, bm_rbnode_t *node);
bm_rbnode_t *bm_rb_first(const bm_rbtree_t *tree);
BM_INLINE bm_rbnode_t *bm_rb_last(const bm_rbtree_t *tree) { return tree->last; } /* O(1) */
bm_rbnode_t *bm_rb_next(const bm_rbnode_t *node);
/* Smallest node n with key_cmp(key, n) <= 0, i.e. the first node not ordered before key. */
bm_rbnode_t *bm_rb_lower_bound(const bm_rbtree_t *tree, const void *key,
                               int (*key_cmp)(const void *key, const bm_rbnode_t *n));
int bm_rb_addr_cmp(const bm_rbnode_t *a, const bm_rbnode_t *b); /* by node address */
/* Checks colours, black height and order; returns the node count or -1 when broken. */
long bm_rb_validate(const bm_rbtree_t *tree, bm_rb_cmp_t cmp);

/* ---------------------------------------------------------------------------------------
 * Page map entries (one per page of a chunk).
 *   kind  2 bits  FREE, SMALL (page of a small run), LARGE (page of a large run), META
 *   head  1 bit   first page of its run
 *   phase P bits  SMALL pages: the offset in the page of the first region boundary at or
 *                 after the page's start (the head page: region 0's offset, past the run
 *                 header; a later page: (region 0 offset - page offset in run) mod size), so
 *                 that a pointer p in this page starts a region (or the run's slack) iff
 *                 (p & page mask) - phase is a non-negative multiple of the size: a pointer
 *                 into the header is below the head page's phase. FREE heads: bit 0 = dirty.
 *   value V bits  heads: run length in pages; other pages: distance to the head in pages
 *                 (kept exact for every SMALL page and for FREE run tails).
 *   class 7 bits  SMALL pages and LARGE heads: the size class; everything else BM_BIN_INVALID,
 *                 so that a per-core cache lookup by class lands on a bin that is never
 *                 usable and the slow path reports the bad pointer.
 * ------------------------------------------------------------------------------------- */
typedef uint32_t bm_pagemap_t;

enum { BM_PAGE_FREE = 0, BM_PAGE_SMALL = 1, BM_PAGE_LARGE = 2, BM_PAGE_META = 3 };

#define BM_PM_HEAD_BIT 2u
#define BM_PM_PHASE_SHIFT 3u
#if defined(BM_GEOMETRY_IS_SMALL)
#define BM_PM_PHASE_BITS 8u
#define BM_PM_VALUE_BITS 7u
#else
#define BM_PM_PHASE_BITS 12u
#define BM_PM_VALUE_BITS 10u
#endif
#define BM_PM_VALUE_SHIFT (BM_PM_PHASE_SHIFT + BM_PM_PHASE_BITS)
#define BM_PM_CLASS_SHIFT (BM_PM_VALUE_SHIFT + BM_PM_VALUE_BITS)
#define BM_PM_PHASE_MASK ((1u << BM_PM_PHASE_BITS) - 1)
#define BM_PM_VALUE_MASK ((1u << BM_PM_VALUE_BITS) - 1)

_Static_assert(BM_PM_CLASS_SHIFT + 7 <= 32, "page map entry must fit 32 bits");
_Static_assert(BM_SMALL_MAX < (1u << BM_PM_PHASE_BITS), "phase field too narrow");
_Static_assert(BM_CHUNK_PAGES <= BM_PM_VALUE_MASK, "value field too narrow");
_Static_assert(BM_NCLASSES < 128, "class field too narrow");

BM_INLINE bm_pagemap_t bm_pm_make(unsigned kind, bool head, unsigned phase, unsigned value,
                                  unsigned cls) {
    return (bm_pagemap_t)(kind | ((unsigned)head << BM_PM_HEAD_BIT) |
                          (phase << BM_PM_PHASE_SHIFT) | (value << BM_PM_VALUE_SHIFT) |
                          (cls << BM_PM_CLASS_SHIFT));
}
BM_INLINE unsigned bm_pm_kind(bm_pagemap_t e) { return e & 3u; }
BM_INLINE bool bm_pm_head(bm_pagemap_t e) { return (e >> BM_PM_HEAD_BIT) & 1u; }
BM_INLINE unsigned bm_pm_phase(bm_pagemap_t e) {
    return (e >> BM_PM_PHASE_SHIFT) & BM_PM_PHASE_MASK;
}
BM_INLINE unsigned bm_pm_value(bm_pagemap_t e) {
    return (e >> BM_PM_VALUE_SHIFT) & BM_PM_VALUE_MASK;
}
BM_INLINE unsigned bm_pm_class(bm_pagemap_t e) { return e >> BM_PM_CLASS_SHIFT; }
BM_INLINE bool bm_pm_dirty(bm_pagemap_t e) { return bm_pm_phase(e) & 1u; }
/* A LARGE run of two pages or more records in its tail entry's phase field (bits 1-5) log2 of
 * the alignment it was asked for when that is above a page (0: a page), which realloc keeps:
 * the address alone would claim up to half a chunk for any block that happens to sit at such
 * a boundary, and a move that demands it fails where the heap is fragmented. Not the head's
 * phase: the free fast path's start test reads it (and bit 0 is the validator's mark), and a
 * record there let an interior pointer at that offset pass for the block (found by the fuzzer).
 * A one-page run asked for more than a page has only its chunk's aligned_heads bit: realloc
 * then believes the address, as it did for every run before. (Two pages for every such
 * request instead cost the two-core mps2-an521 the free chunks its 16 KB blocks need.) */
BM_INLINE unsigned bm_pm_large_lg_align(size_t align) {
    return align > BM_PAGE ? (unsigned)bm_ctz(align) << 1 : 0;
}
/* ---------------------------------------------------------------------------------------
 * Chunks and runs.
 * ------------------------------------------------------------------------------------- */
struct bm_arena;

typedef struct bm_chunk {
    struct bm_arena *arena;
    uint32_t magic;      /* BM_CHUNK_MAGIC while owned by an arena */
    uint32_t nfree;      /* free pages (to spot a fully free chunk in O(1)) */
    struct bm_chunk *next, *prev; /* the arena's chunk list (validator, reset) */
    uint32_t nretained;  /* real-time profile: pages of the empty runs its bins keep here (bin.c) */
    uint8_t pad[BM_CHUNK_HEADER_FIXED_BYTES - 2 * sizeof(void *) - 12 - sizeof(void *)];
    bm_pagemap_t map[BM_CHUNK_PAGES];
    /* Bit p: the LARGE run at page p was asked for an alignment above a page (in the header
     * pages' slack after the map). A run of two pages or more records which in its tail entry;
     * a one-page run has no tail, so realloc believes its address (internal.h). */
    uint8_t aligned_heads[BM_CHUNK_PAGES / 8];
} bm_chunk_t;

/* O(1). The alignment the LARGE run whose head is page head of chunk was asked for: its record,
 * a page if it was asked no more, and for a one-page run asked more the address's own (at most
 * half a chunk). */
BM_INLINE size_t bm_large_align(const bm_chunk_t *chunk, size_t head) {
    if (!((chunk->aligned_heads[head / 8] >> (head % 8)) & 1u))
        return BM_PAGE;
    size_t npages = bm_pm_value(chunk->map[head]);
    if (npages > 1)
        return (size_t)1 << ((bm_pm_phase(chunk->map[head + npages - 1]) >> 1) & 31u);
    uintptr_t addr = (uintptr_t)chunk + (head << BM_LG_PAGE), own = addr & -addr;
    return own < BM_CHUNK / 2 ? own : BM_CHUNK / 2;
}
#define BM_CHUNK_MAGIC 0xb3a6c4a1u

_Static_assert(sizeof(bm_chunk_t) <= BM_CHUNK_HEADER_PAGES * BM_PAGE,
               "chunk header larger than size_classes.h assumed");

/* The chunk grid: chunks lie BM_CHUNK apart from an origin of bm_grid_phase, the first page
 * source's start rounded up to a page, modulo a chunk (state.c; set once by bootstrap, 0 for
 * a chunk-aligned source, as the host's). So a heap at any address is cut into whole chunks
 * from its first page, not from the next chunk boundary. Absolute alignments up to the
 * phase's lowest set bit come free; a huge block asking for more fails (bm_chunks_alloc). */
extern uintptr_t bm_grid_phase;
BM_INLINE uintptr_t bm_grid_offset(const void *p) { return (uintptr_t)p - bm_grid_phase; }
BM_INLINE bm_chunk_t *bm_chunk_of(const void *p) {
    return (bm_chunk_t *)((bm_grid_offset(p) & ~(uintptr_t)BM_CHUNK_MASK) + bm_grid_phase);
}
BM_INLINE size_t bm_page_index(const void *p) { return (bm_grid_offset(p) & BM_CHUNK_MASK) >> BM_LG_PAGE; }
BM_INLINE bool bm_is_chunk_start(const void *p) { return (bm_grid_offset(p) & BM_CHUNK_MASK) == 0; }
BM_INLINE void *bm_page_addr(bm_chunk_t *chunk, size_t page) {
    return (char *)chunk + (page << BM_LG_PAGE);
}

/* Header at the start of every small run. bitmap bit set = region free. */
typedef struct bm_run {
    bm_rbnode_t node; /* in the bin's non-full tree (unless current or full) */
    uint8_t cls;
    /* 0: a run of plain malloc's bin for cls; else the object cache (objcache.c) whose bin it
     * belongs to, and then every page map entry of the run holds class BM_BIN_INVALID, so that
     * no core's size-class cache and no plain free takes its regions. */
    uint8_t owner;
    uint16_t nfree;
    uintptr_t bitmap[];
} bm_run_t;

#define BM_BITMAP_BITS (8 * sizeof(uintptr_t))
#define BM_BITMAP_WORDS(nregs) (((nregs) + BM_BITMAP_BITS - 1) / BM_BITMAP_BITS)

/* Free page runs of an arena, one list per length in pages and a bitmap of the lengths that
 * have a run: the smallest run of at least n pages is found by two bit scans, so taking and
 * giving back pages is O(1) whatever the heap holds (TLSF's idea, with one list per exact
 * length because a chunk has few pages). A free run keeps its list links in its own first
 * page, with its length (the head entry stays authoritative; the validator checks they agree).
 * Within a length, the most recently freed run is used first. Dirty runs (pages written since
 * they were last given back to the page source) are also on a list of their own, oldest
 * first, so purging takes them in O(1) each and never visits a clean run. */
typedef struct bm_free_run {
    struct bm_free_run *next, *prev;             /* its length's list */
    struct bm_free_run *dirty_next, *dirty_prev; /* the arena's dirty runs, oldest first */
    size_t npages;
    size_t ndirty;         /* its pages counted dirty: 1..npages on the dirty list, else 0 */
    bm_stat_t dirty_since; /* the arena's run_ops when it became dirty */
} bm_free_run_t;

#define BM_FREE_RUN_LISTS BM_CHUNK_PAGES /* list i: runs of i pages (0 stays empty) */
#define BM_FREE_RUN_WORDS ((BM_FREE_RUN_LISTS + BM_BITMAP_BITS - 1) / BM_BITMAP_BITS)
_Static_assert(BM_FREE_RUN_WORDS <= BM_BITMAP_BITS, "free run summary word too narrow");

typedef struct bm_free_runs {
    uintptr_t summary;                     /* bit w: nonempty[w] != 0 */
    uintptr_t nonempty[BM_FREE_RUN_WORDS]; /* bit i: heads[i] != NULL */
    size_t count;                          /* runs filed */
    bm_free_run_t *heads[BM_FREE_RUN_LISTS];
} bm_free_runs_t;

/* Inserting, removing and the smallest fit (O(1)) are inline in runs.h. */
size_t bm_free_runs_largest(const bm_free_runs_t *runs); /* pages; 0 when none */
/* Iteration by length, then list order: the first run of length >= npages, and the next. */
bm_free_run_t *bm_free_runs_first(const bm_free_runs_t *runs, size_t npages);
bm_free_run_t *bm_free_runs_next(const bm_free_runs_t *runs, const bm_free_run_t *run);
/* Checks links, lengths and bitmaps; returns the number of runs, or -1 when broken. */
long bm_free_runs_validate(const bm_free_runs_t *runs);

int bm_pool_span_cmp(const bm_rbnode_t *a, const bm_rbnode_t *b); /* by (chunks, address) */

/* ---------------------------------------------------------------------------------------
 * Statistics counters. Arena counters change under the arena lock; cache counters only on
 * their own core. Readers on other cores get a momentary value (relaxed loads).
 * ------------------------------------------------------------------------------------- */
typedef struct bm_bin_stats {
    bm_stat_t nmalloc, ndalloc; /* regions handed out / taken back by the arena */
    bm_stat_t nrequests;        /* cache refills and direct allocations served */
    bm_stat_t nruns;            /* runs created */
    bm_stat_t curruns;          /* runs live now */
    bm_stat_t curregs;          /* regions live now (allocated or sitting in caches) */
} bm_bin_stats_t;

typedef struct bm_arena_stats {
    bm_stat_t large_nmalloc, large_ndalloc, large_allocated; /* bytes live in large runs */
    bm_stat_t huge_nmalloc, huge_ndalloc, huge_allocated;
    bm_stat_t lock_acquisitions, lock_contended;
    bm_stat_t npurge, purged; /* purge passes, pages purged */
    bm_stat_t small_allocated; /* bytes in small regions handed out (cached ones included) */
    size_t live_seen;          /* small + large bytes last folded into bm_state.live_allocated */
} bm_arena_stats_t;

/* ---------------------------------------------------------------------------------------
 * Arenas.
 * ------------------------------------------------------------------------------------- */
typedef struct bm_bin {
    bm_run_t *current;    /* run regions come from now; NULL when none */
#if BM_REALTIME
    /* Other runs with free regions, a doubly linked list through node (bin.c); and runs that
     * emptied, still formatted for this class, linked through node.right: a refill takes one
     * before it forms a run. The same size as the general profile's tree. */
    bm_rbnode_t *nonfull;
    bm_run_t *empty;
#else
    bm_rbtree_t nonfull;  /* other runs with free regions, by address */
#endif
    bm_bin_stats_t stats;
} bm_bin_t;

typedef struct bm_arena {
    bm_lock_t lock;
    unsigned index;
    unsigned node;             /* memory node its chunks come from */
    /* Free page runs of all its chunks, by length, in two sets: runs holding pages not purged
     * since they were freed (dirty, still backed) and purged ones. Allocation takes the best
     * fit of both, the dirty run on a tie: reusing backed pages costs no page faults. */
    bm_free_runs_t runs_dirty, runs_clean;
    bm_free_run_t dirty_runs;  /* list head (links only) of its dirty free runs, oldest first */
    bm_chunk_t *chunks;        /* list of its chunks */
    bm_chunk_t *spare;         /* one fully free chunk kept instead of returned to the pool */
    size_t nchunks;
    size_t ndirty;             /* pages in dirty free runs */
    size_t nactive;            /* pages in small, large and meta runs */
    size_t nretained_pages;    /* real-time profile: pages of the empty runs its bins keep (bin.c) */
    bm_stat_t run_ops;         /* page runs taken and given back: the clock dirty runs age by */
    bm_stat_t pool_ops_seen;   /* run_ops at its last unlock while the pool decay was armed */
    unsigned pool_epoch;       /* bm_pool_epoch then: a new arming resets pool_ops_seen */
    bm_arena_stats_t stats;
    bm_bin_t bins[BM_NSMALL];
#if BM_REMOTE_INBOX
    /* Blocks of its chunks that other cores freed and flushed, not yet back in their runs: a
     * stack linked through each block's second word (the first keeps the freed mark, so a double
     * free of one is still seen), pushed without the lock (bm_arena_inbox_push), emptied by
     * whoever next takes the lock (bm_arena_lock). Freed, so the statistics subtract inbox_bytes
     * from what is allocated (bm_arena_inbox_bytes). On its own cache line: other cores write it. */
    _Alignas(BM_CACHELINE) void *inbox;
    size_t inbox_bytes;        /* class bytes of the blocks in it (atomic: pushers add) */
    bm_stat_t inbox_pushes, inbox_drained; /* chains pushed; blocks given back from the inbox */
#endif
#if BM_HARDENING >= 2
    /* Level 2: the last blocks freed into this arena, not yet given back to their runs
     * (a ring, oldest at quarantine_next once full): delayed reuse makes a write after free
     * land on a block nobody owns, and the fill check when a block leaves catches it. */
    void *quarantine[BM_QUARANTINE_SLOTS];
    unsigned quarantine_next;
#endif
} bm_arena_t;
/* ---------------------------------------------------------------------------------------
 * Regions, chunk table, chunk pool (region.c).
 * Chunk table entry: type (2 bits), head (1), arena index (7), value (22): heads hold the
 * span length in chunks, other chunks of a span the distance to the head.
 * ------------------------------------------------------------------------------------- */
enum { BM_CT_UNGRANTED = 0, BM_CT_POOL = 1, BM_CT_ARENA = 2, BM_CT_HUGE = 3 };
typedef uint32_t bm_ctentry_t;
#define BM_CT_HEAD_BIT 2u
#define BM_CT_ARENA_SHIFT 3u
#define BM_CT_VALUE_SHIFT 10u

BM_INLINE bm_ctentry_t bm_ct_make(unsigned type, bool head, unsigned arena, size_t value) {
    return (bm_ctentry_t)(type | ((unsigned)head << BM_CT_HEAD_BIT) |
                          (arena << BM_CT_ARENA_SHIFT) | ((uint32_t)value << BM_CT_VALUE_SHIFT));
}
BM_INLINE unsigned bm_ct_type(bm_ctentry_t e) { return e & 3u; }
BM_INLINE bool bm_ct_head(bm_ctentry_t e) { return (e >> BM_CT_HEAD_BIT) & 1u; }
BM_INLINE unsigned bm_ct_arena(bm_ctentry_t e) { return (e >> BM_CT_ARENA_SHIFT) & 127u; }
BM_INLINE size_t bm_ct_value(bm_ctentry_t e) { return e >> BM_CT_VALUE_SHIFT; }

typedef struct bm_region {
    uintptr_t base;        /* first chunk (on the chunk grid) */
    size_t nchunks;        /* chunk slots the range holds, the partial last one included */
    size_t tail_pages;     /* pages of a partial last chunk (an arena's for good), or 0 */
    size_t ngranted;       /* chunks made usable so far (all of them for a static region) */
    uintptr_t grow_end;    /* growing source: the break, end of what it granted */
    bm_page_source_t source;
    bm_ctentry_t *table;   /* nchunks entries */
    /* With BM_CHUNK_MAPS, nchunks entries: an ARENA chunk's page map once bm_chunk_init has
     * written it, else bm_no_pages. The free fast path reads a page's entry through it with
     * no type test. NULL without BM_CHUNK_MAPS. */
    const bm_pagemap_t **maps;
    bm_rbtree_t pool;      /* free chunk spans (bm_pool_span_t) by (nchunks, address) */
    size_t pool_chunks;    /* chunks in those spans */
    /* Its dirty spans, oldest first (by dirty_since), and the chunks of their dirty ranges. */
    struct bm_pool_span *dirty_oldest, *dirty_newest;
    size_t pool_dirty;
} bm_region_t;

/* Free span of chunks in the pool: the node lives in the span's first bytes. A dirty span
 * (some chunks written since they were last offered to the page source's release hook) is on
 * its region's dirty list, oldest first: chunks [dirty_lo, dirty_hi) of it hold every such
 * chunk, and dirty_since is the pool clock (bm_pool_decay) when the last of them was freed
 * into it. */
typedef struct bm_pool_span {
    bm_rbnode_t node;
    bm_region_t *region;
    size_t nchunks;
    bool dirty; /* not released to the page source since last used */
    /* dirty spans only: */
    struct bm_pool_span *dirty_prev, *dirty_next;
    size_t dirty_lo, dirty_hi; /* chunk offsets in the span, dirty_lo < dirty_hi */
    bm_stat_t dirty_since;
} bm_pool_span_t;

/* The page map of every chunk that is not an arena's: no page holds a block (class
 * BM_BIN_INVALID, whose cache bin is never usable), so a lookup through it ends on a slow path. */
extern const bm_pagemap_t bm_no_pages[BM_CHUNK_PAGES];

BM_INLINE bm_ctentry_t *bm_region_entry(bm_region_t *region, const void *p) {
    return &region->table[((uintptr_t)p - region->base) >> BM_LG_CHUNK];
}
BM_INLINE void *bm_region_chunk(const bm_region_t *region, size_t index) {
    return (void *)(region->base + (index << BM_LG_CHUNK));
}

/* ---------------------------------------------------------------------------------------
 * Per-core caches (cache.c). A bin is a stack of free objects growing down from `empty`
 * to `full`; only the low 16 bits of those two positions are kept, which is enough because
 * one bin's stack is far shorter than 64 KiB. A bin with no slots (class not cached, or the
 * zeroed bm_cache_unset before initialisation) has head == full == empty, so every fast
 * path on it falls through to the slow path.
 * ------------------------------------------------------------------------------------- */
typedef struct bm_cache_bin {
    void **head;        /* most recently freed object; == empty position when none */
    uint16_t low_empty; /* low 16 bits of head when the stack is empty */
    uint16_t low_full;  /* low 16 bits of head when the stack is full */
    uint32_t div_magic; /* bm_bin_div_magic(class), 0 without slots: the free fast path's
                           region-start test reads it from the bin it touches anyway, not
                           from bm_classes (bin stays 16 bytes on 64-bit: index = class << 4) */
} bm_cache_bin_t;

/* The free fast path's "ptr starts a region of its class": (page offset - phase) is a
 * non-negative multiple of the size, with one constant per bin and a fixed limit. x = (page
 * offset - phase) << 3 mod 2^32 (the phase is masked out of the page map entry in place, no
 * shift) and D = size << 3, m = floor(2^32 / D) + 1, so e = m * D - 2^32 is in 1..D.
 * For 0 <= x < 2^16, x * m mod 2^32 is below x if D divides x, and at least m otherwise
 * (Lemire et al., "Faster remainder by direct computation"): for D <= 2^15 the limit 2^16
 * separates the two. A large class (its blocks start pages: only x = 0 is a start) gets
 * m = 2^13, which puts every other x, negative or not, at 2^16 or more. A negative difference (a pointer before the page's first region
 * boundary, such as into the run header) wraps x to 2^32 - y with y < 2^16, and x * m mod 2^32
 * is 2^32 - (y * m mod 2^32), at least 2^32 - 2^16: the +1 in m keeps e above 0 for a power
 * of two (without it every negative multiple would pass). Exhaustively checked for every class
 * and every difference a page map entry can give by the test divisibility_magic_matches_modulo.
 * A bin with no slots (m = 0) passes, and its full check (head == full) sends the pointer to
 * the slow path. */
#define BM_BIN_DIV_LIMIT (1u << 16) /* the test below shifts by 16 */
_Static_assert((BM_PAGE << BM_PM_PHASE_SHIFT) <= BM_BIN_DIV_LIMIT / 2, "x would reach the limit");
_Static_assert((BM_SMALL_MAX << BM_PM_PHASE_SHIFT) < BM_BIN_DIV_LIMIT / 2, "small class too large for the test");
BM_INLINE uint32_t bm_bin_div_magic(unsigned cls) {
    uint32_t d = bm_classes[cls].size << BM_PM_PHASE_SHIFT;
    if (d >= BM_BIN_DIV_LIMIT / 2)
        return BM_BIN_DIV_LIMIT >> BM_PM_PHASE_SHIFT;
    /* floor(2^32 / d) in 32-bit arithmetic (a 64-bit division is a libgcc call on 32-bit
     * targets, outside the port contract): (2^32 - 1) / d is one short exactly when d, a
     * power of two here, divides 2^32. */
    uint32_t q = UINT32_MAX / d + ((d & (d - 1)) == 0);
    return q + 1;
}
BM_INLINE bool bm_bin_region_start(const bm_cache_bin_t *bin, const void *ptr, bm_pagemap_t pm) {
    uint32_t x = (uint32_t)(((uintptr_t)ptr & BM_PAGE_MASK) << BM_PM_PHASE_SHIFT) -
                 (pm & (BM_PM_PHASE_MASK << BM_PM_PHASE_SHIFT));
    return (uint32_t)(x * bin->div_magic) >> 16 == 0; /* < BM_BIN_DIV_LIMIT, one compare on AArch64 */
}

typedef struct bm_cache_bin_info {
    uint16_t nmax;      /* slots */
    uint16_t low_water; /* fewest objects held since the last maintenance pass */
    uint16_t nrefill;   /* objects a refill asks for (cache.c: cache_bin_set_nmax) */
    bm_stat_t nfills, nflushes, nfilled, nflushed, nmisses;
} bm_cache_bin_info_t;

typedef struct bm_cache {
    bm_cache_bin_t bins[BM_NCLASSES + 1]; /* + the BM_BIN_INVALID bin, never usable */
    bm_arena_t *arena;                    /* the arena this core allocates from */
    unsigned ncached;                     /* classes 0..ncached-1 have slots */
    void **slots;                         /* storage of every bin's stack */
    bm_stat_t cross_frees;                /* objects flushed to another core's arena */
    uint32_t flush_request;               /* set by tcache.flush_all on another core (atomic) */
    bm_stat_t nhits;                      /* fast-path allocations (counted with BM_STATS_FAST) */
    bm_cache_bin_info_t *info;            /* [BM_NCLASSES], beside the slots: keeps the
                                             zeroed bm_cache_unset small (it lives in .bss) */
} bm_cache_t;

BM_INLINE unsigned bm_cache_bin_count(const bm_cache_bin_t *bin) {
    return (uint16_t)(bin->low_empty - (uint16_t)(uintptr_t)bin->head) / sizeof(void *);
}

/* The freed mark (the no-silent-corruption rule, with BM_FREE_CHECKS): every small region and
 * cached large run that is not handed out holds its key, its address plus a per-boot secret,
 * in its first word: a run writes it into every region when it is formed, a free when the
 * block comes back (to a cache or to its run), and handing a block out clears it. So a
 * pointer whose first word is its key is not a live block (in some core's cache or free in
 * its run), conclusively unless the program wrote that very word after the free, and a
 * free, realloc or usable_size of it is reported in O(1) on any core. The secret is odd, so a
 * key is never 0 (the cleared mark); live data holds the key only by forging it. */
#define BM_FREED_KEY ((uintptr_t)0x5bd1e995u) /* the secret without port entropy */
extern uintptr_t bm_freed_secret;
BM_INLINE uintptr_t bm_freed_key(const void *ptr) { return (uintptr_t)ptr + bm_freed_secret; }
#ifdef BM_ASAN
/* The first word of a block already freed is poisoned: read it without ASan's check so that
 * the allocator's own report wins over a use-after-poison abort. */
static inline __attribute__((no_sanitize_address, noinline)) uintptr_t bm_first_word(const void *ptr) {
    return *(const volatile uintptr_t *)ptr;
}
static inline __attribute__((no_sanitize_address, noinline)) void bm_mark_freed(void *ptr) {
    *(volatile uintptr_t *)ptr = bm_freed_key(ptr);
}
static inline __attribute__((no_sanitize_address, noinline)) void bm_mark_allocated(void *ptr) {
    *(volatile uintptr_t *)ptr = 0;
}
/* realloc copies the old block's whole usable size, of which ASan knows only the requested
 * part as addressable. */
static inline __attribute__((no_sanitize_address, noinline)) void bm_copy_block(void *dst, const void *src,
                                                                                size_t n) {
    volatile unsigned char *d = dst;
    const volatile unsigned char *s = src;
    while (n--)
        *d++ = *s++;
}
#else
BM_INLINE void bm_copy_block(void *dst, const void *src, size_t n) { __builtin_memcpy(dst, src, n); }
BM_INLINE uintptr_t bm_first_word(const void *ptr) { return *(const uintptr_t *)ptr; }
BM_INLINE void bm_mark_freed(void *ptr) { *(uintptr_t *)ptr = bm_freed_key(ptr); }
/* Handing a block out clears the key, so a block the user never writes to still frees on the
 * fast path (a common pattern: malloc, fill later or never, free). */
BM_INLINE void bm_mark_allocated(void *ptr) { *(uintptr_t *)ptr = 0; }
#endif

/* Hardening level 2 (state.c; bm_config.h): a freed block's fill pattern, checked when it is
 * handed out again, and the canary word at the end of its class size. */
#if BM_HARDENING >= 2
#ifdef BM_ASAN
#error "BM_HARDENING 2 and AddressSanitizer check the same misuse: build one or the other"
#endif
void bm_harden_fill(void *ptr, size_t size);             /* O(min(size, BM_HARDEN_FILL_MAX)) */
void bm_harden_check_fill(const void *ptr, size_t size); /* same; reports a write after free */
bool bm_harden_fill_intact(const void *ptr, size_t size); /* same; false if the fill changed */
void bm_harden_canary_set(void *ptr, size_t size);       /* O(1) */
bool bm_harden_canary_intact(const void *ptr, size_t size);
#endif

/* O(1) (level 2: O(fill)). A block of class size `size` leaves the program: the freed mark,
 * and at level 2 the fill. */
BM_INLINE void bm_block_retire(void *ptr, size_t size) {
    bm_mark_freed(ptr);
#if BM_HARDENING >= 2
    bm_harden_fill(ptr, size);
#else
    (void)size;
#endif
}

/* O(1) (level 2: O(fill)). A small or large block of class size `size` is handed out: at
 * level 2 a small block's fill is checked first and its canary written; then the mark is
 * cleared. (A large block's pages may have been other blocks since a cache filled them, so a
 * mark found on one proves nothing about its fill.) */
BM_INLINE void bm_block_handout(void *ptr, size_t size) {
#if BM_HARDENING >= 2
    if (size <= BM_SMALL_MAX && bm_first_word(ptr) == bm_freed_key(ptr))
        bm_harden_check_fill(ptr, size);
    bm_harden_canary_set(ptr, size);
#else
    (void)size;
#endif
    bm_mark_allocated(ptr);
}

/* The size to serve for a request of size bytes: at level 2 room for the canary, unless the
 * request then outgrows the large classes (a huge block has no canary). */
BM_INLINE size_t bm_request_size(size_t size) {
    if (!BM_CANARY_BYTES || size > BM_LARGE_MAX)
        return size;
    return size <= BM_LARGE_MAX - BM_CANARY_BYTES ? size + BM_CANARY_BYTES : BM_LARGE_MAX + 1;
}
/* ---------------------------------------------------------------------------------------
 * Global state (state.c).
 * ------------------------------------------------------------------------------------- */
typedef enum { BM_INIT_NONE, BM_INIT_RUNNING, BM_INIT_READY, BM_INIT_FAILED } bm_init_state_t;

typedef struct bm_options {
    unsigned narenas;
    bool tcache;
    size_t tcache_max;
    unsigned tcache_slots;       /* per small class (0 until bm_options_resolve: scaled) */
    unsigned tcache_slots_large; /* per large class (the same) */
    unsigned tcache_batch_pct;   /* refill fills this % of a bin's slots */
    unsigned tcache_flush_pct;   /* a full bin flushes this % of its slots */
    unsigned dirty_max_pct;      /* purge when dirty pages exceed this % of active */
    bool retain;                 /* keep pooled chunks' pages instead of releasing them */
    unsigned arena_rule;         /* 0: core mod narenas; 1: by memory node */
    size_t dirty_min;            /* bytes of dirty pages an arena may always keep */
    unsigned purge;              /* 0: slow paths purge over the bound; 1: only bm_maintenance */
    unsigned purge_age;          /* sync purging spares dirty runs younger than this many run operations */
    /* Derived by bm_options_resolve, not options: a small bin's byte bound (BM_TCACHE_BIN_BYTES
     * or its share of the heap), and which slot counts it scaled with the heap (bit 0 small,
     * bit 1 large), so that bm_heap_size_for can scale them for another heap. */
    size_t tcache_bin_bytes;
    unsigned tcache_scaled;
} bm_options_t;

typedef struct bm_state {
    int init_state; /* bm_init_state_t (atomic) */
    bm_options_t opt;
    unsigned narenas;
    unsigned nregions;
    unsigned ncores;
    /* Some region's page source can take pages back. Without one (a static heap) there is
     * nothing to purge, and free runs are never counted dirty. */
    bool pages_releasable;
    bm_arena_t *arenas[BM_MAX_ARENAS];
    bm_region_t regions[BM_MAX_REGIONS];
    bm_cache_t *caches[BM_MAX_CORES]; /* created on a core's first call */
    unsigned core_arena[BM_MAX_CORES];
    bm_lock_t pool_lock;
    bm_lock_t base_lock;
    char *base_next, *base_end;       /* bump range for metadata */
    size_t base_allocated;
    size_t peak_allocated;
    size_t live_allocated;            /* bytes in live blocks, folded in at arena unlock (atomic) */
    bm_error_hook_t error_hook;
} bm_state_t;


/* Counters the allocator's own paths update for bm_maintenance's statistics (the rest are
 * written by ext/maintenance.c). decayed: bytes of pooled chunks the slow paths released. */
typedef struct bm_maint_stats {
    bm_stat_t calls, purged, released, trimmed, flushes_honoured; /* purged: pages */
    bm_stat_t decayed;
} bm_maint_stats_t;

extern bm_state_t bm_state;
extern bm_maint_stats_t bm_maint_stats;
extern bm_cache_t bm_cache_unset; /* every bin empty and full: each access takes a slow path */

/* The fast path keeps region 0's bounds here so checking a pointer is two instructions. */
extern uintptr_t bm_fast_region_base;
extern size_t bm_fast_region_span;
extern const bm_pagemap_t **bm_fast_region_maps; /* NULL without BM_CHUNK_MAPS */
extern bm_ctentry_t *bm_fast_region_table;

BM_INLINE bool bm_is_ready(void) {
    return __atomic_load_n(&bm_state.init_state, __ATOMIC_ACQUIRE) == BM_INIT_READY;
}

/* The calling core: a constant on a uniprocessor build, so its fast paths make no call. */
BM_INLINE unsigned bm_this_core(void) { return BM_MAX_CORES == 1 ? 0 : bm_port_core_id(); }

/* This core's cache pointer: &bm_cache_unset until the core's first slow path creates it. */
#ifdef BM_PORT_HAS_CORE_LOCAL
BM_INLINE bm_cache_t **bm_core_local(void) { return bm_port_core_local(); }
#else
/* One slot per core and one more, which stays &bm_cache_unset: a core id the port gives
 * outside 0 .. BM_MAX_CORES-1 lands there (one compare, no branch), so its calls take the
 * slow path, which reports the id once and serves it without a cache. */
extern bm_cache_t *bm_core_local_table[BM_MAX_CORES + 1];
BM_INLINE bm_cache_t **bm_core_local(void) {
    unsigned core = bm_this_core();
    return &bm_core_local_table[core < BM_MAX_CORES ? core : BM_MAX_CORES];
}
#endif

BM_INLINE size_t bm_min(size_t a, size_t b) { return a < b ? a : b; }
BM_INLINE size_t bm_align_up(size_t v, size_t a) { return (v + a - 1) & ~(a - 1); }
BM_INLINE size_t bm_text_len(const char *s) { /* strlen, which a freestanding core lacks */
    size_t n = 0;
    while (s[n])
        n++;
    return n;
}

/* Statistics updates: relaxed atomics so a reader on another core sees whole values, and
 * plain read-modify-write because only lock holders (or the owning core) write. */
#define BM_STAT_ADD(field, n) \
    __atomic_store_n(&(field), __atomic_load_n(&(field), __ATOMIC_RELAXED) + (n), __ATOMIC_RELAXED)
#define BM_STAT_SUB(field, n) \
    __atomic_store_n(&(field), __atomic_load_n(&(field), __ATOMIC_RELAXED) - (n), __ATOMIC_RELAXED)
#define BM_STAT_GET(field) __atomic_load_n(&(field), __ATOMIC_RELAXED)
#if BM_STATS_FAST
#define BM_STATS_FAST_HIT(cache) BM_STAT_ADD((cache)->nhits, 1)
#else
#define BM_STATS_FAST_HIT(cache) ((void)0)
#endif

void bm_size_classes_init(void);
void bm_freed_secret_init(void);
void bm_report(const char *msg, const void *addr); /* the error hook, or bm_port_error */
void bm_set_error(int code);                       /* for bm_last_error (and errno) */
bm_arena_t *bm_arena_for_core(unsigned core);
void bm_live_peak_raise(size_t now);
/* O(1). The live-bytes count (for the peak) changes by delta, which may be "negative". Every
 * caller holds a lock, so interrupts are masked. */
BM_INLINE void bm_live_add(size_t delta) {
#if BM_MAX_CORES == 1
    /* One core, every writer masked: a load and a store cannot be interleaved with another
     * write, and cost no exclusive loop (about 8 Cortex-M3 instructions per arena unlock). */
    size_t now = __atomic_load_n(&bm_state.live_allocated, __ATOMIC_RELAXED) + delta;
    __atomic_store_n(&bm_state.live_allocated, now, __ATOMIC_RELAXED);
    if (BM_UNLIKELY(now > __atomic_load_n(&bm_state.peak_allocated, __ATOMIC_RELAXED)))
        __atomic_store_n(&bm_state.peak_allocated, now, __ATOMIC_RELAXED);
#else
    size_t now = __atomic_add_fetch(&bm_state.live_allocated, delta, __ATOMIC_RELAXED);
    if (BM_UNLIKELY(now > __atomic_load_n(&bm_state.peak_allocated, __ATOMIC_RELAXED)))
        bm_live_peak_raise(now);
#endif
}

/* ---------------------------------------------------------------------------------------
 * Options (options.c).
 * ------------------------------------------------------------------------------------- */
void bm_options_defaults(bm_options_t *opt);
/* O(1). Fills what the defaults leave to the heap (slot counts 0, BM_TCACHE_BIN_BYTES 0) for a
 * heap of heap_bytes shared by ncores caches; values an option set stay. Any context; no bad
 * input. */
void bm_options_resolve(bm_options_t *opt, size_t heap_bytes, unsigned ncores);
int bm_options_parse(bm_options_t *opt, const char *text); /* returns entries rejected */
unsigned bm_option_count(void);
const char *bm_option_name(unsigned i);
size_t bm_option_value(const bm_options_t *opt, unsigned i);
/* The option's value as text for enumerations ("core", "sync"), NULL for numbers and bools. */
const char *bm_option_text(unsigned i, size_t value);
bool bm_option_is_bool(unsigned i);
size_t bm_option_size(unsigned i); /* of the field: sizeof(unsigned) or sizeof(size_t) */

/* ---------------------------------------------------------------------------------------
 * Regions and the chunk pool (region.c). Functions named _locked need pool_lock.
 * ------------------------------------------------------------------------------------- */
bm_region_t *bm_region_of(const void *p); /* O(regions): the region holding p, or NULL */
size_t bm_region_setup(bm_region_t *r, const bm_page_source_t *src); /* bootstrap */
size_t bm_region_whole_chunks(const bm_region_t *r);
/* Pages the chunk slots of r span but its source lacks (past the end of its partial chunk). */
BM_INLINE size_t bm_region_missing_pages(const bm_region_t *r) {
    return r->tail_pages ? BM_CHUNK_PAGES - r->tail_pages : 0;
}
bool bm_region_grant_locked(bm_region_t *r, size_t upto); /* grows r to upto chunks */
/* The calling core's no-grow mark (BM_MALLOCX_NOGROW): while it is set bm_region_grant_locked
 * refuses to call a grow hook. Sets it to on (0 or 1) and returns the previous value, for the
 * caller to restore. O(1), any context (a per-core word; a caller without a core slot shares
 * one word with the others: their growth may be refused meanwhile, never allowed wrongly). */
unsigned bm_nogrow_set(unsigned on);
/* Adds a region staged by the caller (bm_region_setup on the new source, its tail dropped,
 * table and maps zeroed from base metadata, overlap checked) in one hold of pool_lock (taken
 * here; interrupts masked by the caller): copied into the next slot, its granted chunks put into
 * the pool clean, and only then published (nregions, a release store). 0, or BM_ENOMEM when all
 * BM_MAX_REGIONS slots are used. O(its chunks) (the table's maps withdrawn). */
int bm_region_add(const bm_region_t *staged);
void bm_region_maps_withdraw(bm_region_t *r, size_t index, size_t n);
/* nchunks contiguous chunks aligned to align (>= chunk), preferring node, marked type for
 * arena_index; NULL if none. *dirty (if dirty is not NULL): they came from a dirty pooled span,
 * so their pages may still be backed. O(regions x log spans), plus the grow hook. Takes
 * pool_lock. */
void *bm_chunks_alloc(size_t nchunks, size_t align, unsigned node, unsigned arena_index,
                      unsigned type, bool *dirty);
void *bm_chunks_alloc_locked(size_t nchunks, size_t align, unsigned node, unsigned arena_index,
                             unsigned type, bool *dirty);
void bm_chunks_free(void *addr); /* a span head whose type the caller checked; takes pool_lock */
void bm_chunks_free_locked(bm_region_t *r, size_t index, size_t n);
/* Releasing pooled chunks' pages (all but each span's first page), oldest dirty span first.
 * Each returns the bytes the page sources took, takes pool_lock and masks interrupts itself. */
size_t bm_pool_release_dirty(void);                /* every dirty span: O(dirty spans) */
size_t bm_pool_release_bounded(unsigned max_spans); /* the max_spans oldest, whatever their age */
/* The pool's decay, from an arena unlock (that arena's lock held, interrupts masked): the pool
 * clock advances by ops (the arena's page runs taken and given back since its previous tick)
 * and, if the oldest dirty span has been dirty for min_age of them, up to BM_POOL_SYNC_SPANS
 * spans that old are released under pool_lock. O(1) when nothing is old enough; otherwise
 * O(regions x BM_POOL_SYNC_SPANS) plus as many release calls. */
void bm_pool_decay(bm_stat_t ops, bm_stat_t min_age);
/* The decay is armed (bm_pool_decay worth calling) while a pooled span is dirty and it is
 * enabled; arena.c enables it (O(1), any context) from the purge policy. bm_pool_epoch counts
 * the armings: the run operations an arena did while the decay was not armed do not age spans. */
extern bool bm_pool_decay_armed;
extern unsigned bm_pool_epoch;
void bm_pool_decay_enable(bool on);

/* ---------------------------------------------------------------------------------------
 * Huge blocks (huge.c). Each takes pool_lock itself.
 * ------------------------------------------------------------------------------------- */
void *bm_huge_alloc(bm_arena_t *arena, size_t size, size_t align);
void bm_huge_free(void *ptr, bm_region_t *region, bm_ctentry_t entry);
size_t bm_huge_usable(bm_ctentry_t entry);
void bm_huge_shrink(void *ptr, bm_region_t *region, size_t new_size);

/* ---------------------------------------------------------------------------------------
 * Arenas (arena.c). Functions named _locked need the arena's lock; the others take it.
 * ------------------------------------------------------------------------------------- */
void bm_arena_init(bm_arena_t *arena, unsigned index, unsigned node);
void bm_arena_lock(bm_arena_t *arena); /* also gives back the blocks in its inbox */
bool bm_arena_trylock(bm_arena_t *arena); /* bm_arena_lock if that needs no wait; whether it did */
#if BM_REMOTE_INBOX
/* O(1) plus compare-exchange retries; no lock. Pushes the chain first..last (linked through
 * bm_inbox_link) of blocks of arena's chunks, each marked freed, onto arena's inbox. Any
 * context that may free; interrupts masked or not. */
void bm_arena_inbox_push(bm_arena_t *arena, void *first, void *last, size_t bytes);
/* O(blocks in the inbox). inbox_bytes recounted from the chain: in a fork child, where a
 * thread of the parent may have added a chain's bytes and not pushed it (its blocks are lost
 * with its cache, as every other thread's cached blocks are). One thread only. */
void bm_arena_inbox_recount(bm_arena_t *arena);
/* The link word of a block in a chain: its second word (blocks of 16 bytes and more). */
BM_INLINE void **bm_inbox_link(void *block) { return (void **)block + 1; }
#define BM_INBOX_MIN_SIZE (2 * sizeof(void *))
#endif
/* O(1), no lock. Bytes of arena's blocks freed into its inbox and not yet back in their runs:
 * freed, so the statistics do not count them as allocated (0 without the inbox). */
BM_INLINE size_t bm_arena_inbox_bytes(const bm_arena_t *arena) {
#if BM_REMOTE_INBOX
    return __atomic_load_n(&arena->inbox_bytes, __ATOMIC_RELAXED);
#else
    return (void)arena, 0;
#endif
}
void bm_arena_unlock(bm_arena_t *arena); /* runs the sync purge policy before releasing */
/* Formats a fresh chunk for arena with meta_pages of metadata after its header: arena lock
 * held, or from bootstrap. O(chunk pages). */
/* npages: pages the chunk has (BM_CHUNK_PAGES, fewer for a region's partial last chunk, whose
 * missing pages are marked META for good, so it is never whole-free and never pooled). */
void bm_arena_chunk_init(bm_chunk_t *chunk, bm_arena_t *arena, size_t meta_pages, size_t npages);
/* A run of npages at a page index that is a multiple of align_pages, taken from the free
 * runs or a new chunk; its entries are left FREE non-head for the caller to write. */
bool bm_arena_run_alloc_locked(bm_arena_t *arena, size_t npages, size_t align_pages,
                               bm_chunk_t **chunk_out, size_t *page_out);
/* Gives back pages [head, head + npages) (entries already FREE non-head), merging. */
void bm_arena_run_dalloc_locked(bm_arena_t *arena, bm_chunk_t *chunk, size_t head, size_t npages);
void bm_pages_mark_free(bm_chunk_t *chunk, size_t head, size_t npages);
size_t bm_arena_largest_free_locked(const bm_arena_t *arena); /* pages, both sets */
/* Large run of class cls (a page multiple), aligned to align (a power of two >= page). */
void *bm_arena_large_alloc(bm_arena_t *arena, unsigned cls, size_t align);
bool bm_arena_large_dalloc_locked(bm_arena_t *arena, bm_chunk_t *chunk, void *ptr);
void bm_arena_large_shrink(bm_arena_t *arena, void *ptr, unsigned new_cls); /* in place */
bool bm_arena_large_grow(bm_arena_t *arena, void *ptr, unsigned new_cls);   /* if room follows */
void *bm_arena_meta_alloc(bm_arena_t *arena, size_t npages); /* META pages for base.c */
/* The failed-allocation path, one masked section per call: the arena's lowest entirely free
 * chunk (NULL: none), and giving such a chunk back to the pool if it still is one of the
 * arena's entirely free chunks. */
bm_chunk_t *bm_arena_lowest_free_chunk(bm_arena_t *arena);
bool bm_arena_release_chunk_if_free(bm_arena_t *arena, bm_chunk_t *chunk);
void bm_arenas_take_pool(void); /* real-time profile, from bm_init: every pooled chunk to an arena */
/* Purge the oldest dirty runs until ndirty <= target, at most max_runs of them, none dirty for
 * fewer than min_age of the arena's run operations. Returns pages purged. */
size_t bm_arena_purge_oldest_locked(bm_arena_t *arena, size_t target, unsigned max_runs, bm_stat_t min_age);
size_t bm_arena_purge(bm_arena_t *arena, size_t keep_dirty); /* all of them down to keep_dirty */
/* The purge policy: live values behind arenas.dirty_max/dirty_min/purge/purge_age. */
typedef enum { BM_PURGE_DIRTY_MAX, BM_PURGE_DIRTY_MIN, BM_PURGE_MODE, BM_PURGE_AGE } bm_purge_param_t;
void bm_purge_policy_init(void);
size_t bm_purge_get(bm_purge_param_t which); /* percent, bytes, 0 sync / 1 idle, run operations */
int bm_purge_set(bm_purge_param_t which, size_t value); /* 0 or BM_EINVAL */
size_t bm_purge_bound_locked(const bm_arena_t *arena); /* dirty pages it may keep */

/* ---------------------------------------------------------------------------------------
 * Small runs, bins, the block dispatch and the pointer classifier (bin.c).
 * ------------------------------------------------------------------------------------- */
/* Up to n regions of small class cls into out[] (ascending address); returns how many (0
 * only when memory is exhausted). O(n), plus at most one new run per run filled. */
unsigned bm_bin_fill_locked(bm_arena_t *arena, unsigned cls, void **out, unsigned n);
/* The same from bin, the bin of object cache owner (1..BM_MAX_OBJCACHES) in arena: runs it
 * forms are that cache's alone (bm_run_t.owner). */
unsigned bm_bin_fill_owned_locked(bm_arena_t *arena, bm_bin_t *bin, unsigned cls, unsigned owner,
                                  void **out, unsigned n);
/* O(run pages). An object cache's bin gives back its current run if that run is empty (the
 * only empty run a bin keeps); true when the bin then holds no run at all. */
bool bm_bin_release_empty_locked(bm_arena_t *arena, bm_bin_t *bin);
/* Real-time profile: gives back up to max of the arena's retained empty runs (its size-class
 * bins', then its object cache bins'), returns how many. O(classes + caches + max x a run's
 * release). Arena lock held. 0 in the general profile (nothing is retained). */
size_t bm_bin_release_retained_locked(bm_arena_t *arena, size_t max);

/* Object caches (objcache.c creates them; the table is state.c's so that the validator and the
 * statistics read them without linking objcache.c). Cache id's runs carry owner id; its bin in
 * arena a is *bins[a], guarded by arena a's lock; each core's stack of free objects is touched
 * only by that core with interrupts masked (and by bm_objcache_destroy, see there). A bin exists
 * for every arena there was at create and is made on first use for arenas created later
 * (NULL until then: nothing of the cache is in that arena); bm_objcache_bin reads either. A
 * destroyed cache keeps its table slot, bins and stacks for the next create (live false). */
#define BM_OBJCACHE_NAME_MAX 24
typedef struct bm_objcache_stack {
    uint16_t count, nmax;      /* objects held, slots */
    void **slots;
    bm_stat_t nalloc, nfree;   /* objects handed out / taken back on this core */
} bm_objcache_stack_t;

struct bm_objcache {
    uint8_t id;                /* 1..BM_MAX_OBJCACHES: its runs' owner byte */
    uint8_t cls;               /* the small class its objects take */
    bool live;                 /* created and not destroyed */
    bool zero;                 /* BM_OBJCACHE_ZERO: every object handed out zeroed */
    size_t size, align;        /* as created */
    char name[BM_OBJCACHE_NAME_MAX];
    bm_bin_t *bins[BM_MAX_ARENAS]; /* per arena, NULL where the cache never was (see above) */
    bm_objcache_stack_t *stacks; /* [bm_state.ncores] */
    bm_stat_t nalloc_direct, nfree_direct; /* by cores without a stack (atomic adds) */
};
extern bm_objcache_t *bm_objcache_table[BM_MAX_OBJCACHES + 1]; /* [0] unused: owner 0 is malloc */
extern const bm_bin_t bm_objcache_no_bin; /* all zero: the bin of an arena the cache never used */
/* O(1). oc's bin in arena a for reading (validator, statistics): an empty one if it has none. */
BM_INLINE const bm_bin_t *bm_objcache_bin(const bm_objcache_t *oc, unsigned a) {
    const bm_bin_t *bin = __atomic_load_n(&oc->bins[a], __ATOMIC_ACQUIRE);
    return bin ? bin : &bm_objcache_no_bin;
}
/* The bin a small run belongs to: its arena's bin for the class, or its object cache's (which
 * exists: the run was formed through it). */
BM_INLINE bm_bin_t *bm_run_bin(bm_arena_t *arena, const bm_run_t *run) {
    return run->owner ? bm_objcache_table[run->owner]->bins[arena->index] : &arena->bins[run->cls];
}
long bm_bin_empty_count(const bm_bin_t *bin);   /* the retained empty runs linked, -1 if one is not empty (bm_check) */
long bm_bin_nonfull_count(const bm_bin_t *bin); /* the non-full runs linked, -1 if the links are broken (bm_check) */
/* Gives back the small region or large run at ptr; reports and ignores bad pointers. */
bool bm_block_dalloc_locked(bm_arena_t *arena, bm_chunk_t *chunk, void *ptr);

typedef enum { BM_PTR_BAD, BM_PTR_SMALL, BM_PTR_LARGE, BM_PTR_HUGE } bm_ptr_kind_t;
typedef struct bm_ptr_info {
    bm_ptr_kind_t kind;
    unsigned owner;      /* an object cache's object (then kind BAD, cls and usable set), else 0 */
    unsigned cls;        /* SMALL, LARGE: the class; HUGE: BM_NCLASSES; BAD: BM_BIN_INVALID */
    size_t usable;       /* bytes the block holds; 0 for BAD */
    bm_region_t *region; /* NULL only when outside every region */
    bm_ctentry_t entry;  /* its chunk's table entry */
    const char *why;     /* BAD: what is wrong with the pointer, for the report */
} bm_ptr_info_t;
bm_ptr_kind_t bm_ptr_classify(const void *ptr, bm_ptr_info_t *out);

#if BM_HARDENING >= 2
/* Level 2 (bin.c): the block of class cls at ptr is in its arena's quarantine or free in its
 * run, whatever its first word says (a write after free may have erased the mark). O(quarantine
 * slots); takes the arena lock. */
bool bm_harden_block_is_free(const void *ptr, unsigned cls);
/* Level 2 (bin.c): the block at ptr (class size size, checked live) is marked and filled and
 * enters its arena's quarantine; the oldest one there leaves for its run, its mark and fill
 * checked (a write after free reported). O(fill). Arena lock held, interrupts masked. */
void bm_quarantine_locked(bm_arena_t *arena, void *ptr, size_t size);
/* Level 2: every block in arena's quarantine back to its run. O(slots x fill). Lock held. */
void bm_quarantine_drain_locked(bm_arena_t *arena);
#endif

/* O(1) after the classification (level 2: O(quarantine slots)). bm_ptr_classify, and a block
 * that holds the freed mark (in some core's cache or free in its run) is BAD too: what free,
 * realloc and usable_size accept. At level 2 the run, page map and quarantine are asked as
 * well, so a block whose mark a write after free erased is still refused. Without
 * BM_FREE_CHECKS no mark exists and this is bm_ptr_classify. */
BM_INLINE bm_ptr_kind_t bm_ptr_classify_live(const void *ptr, bm_ptr_info_t *out) {
    bm_ptr_kind_t kind = bm_ptr_classify(ptr, out);
    if (BM_FREE_CHECKS && (kind == BM_PTR_SMALL || kind == BM_PTR_LARGE) &&
        (bm_first_word(ptr) == bm_freed_key(ptr)
#if BM_HARDENING >= 2
         || bm_harden_block_is_free(ptr, out->cls)
#endif
         )) {
        out->why = "block already freed (it is in a core's cache or back in its run): a double free or a stale pointer";
        out->usable = 0;
        return out->kind = BM_PTR_BAD;
    }
    return kind;
}

/* ---------------------------------------------------------------------------------------
 * Base metadata and initialisation (base.c).
 * ------------------------------------------------------------------------------------- */
void *bm_base_alloc(size_t size); /* zeroed, cache-line aligned, never freed; takes base_lock */
int bm_bootstrap(const bm_page_source_t *sources, unsigned nsources, unsigned narenas); /* 0 or BM_E* */
bool bm_ensure_init(void);        /* init.c: initialises on the first call; false if that failed */
void bm_lock_all(void);           /* every lock in order (fork, the validator) */
void bm_unlock_all(void);

/* ---------------------------------------------------------------------------------------
 * Per-core caches and the slow paths (cache.c). Interrupts masked by each entry point.
 * ------------------------------------------------------------------------------------- */
void *bm_alloc_slow(size_t size, size_t align); /* any size, power-of-two align (0: natural) */
/* runtime.c: a new arena on memory node node, its index in *index (arenas.create); 0, BM_EINVAL
 * (no region on node) or BM_ENOMEM (BM_MAX_ARENAS reached, no metadata). Not from an interrupt. */
int bm_arena_create(unsigned node, unsigned *index);
void *bm_alloc_uncached(bm_arena_t *arena, size_t size, size_t align); /* from arena, no cache */
/* O(arenas x their chunks). The lowest entirely free chunk of all arenas back to the pool, where
 * any arena (or a huge block) can take it: 1 if one went back, 0 if the one found was taken
 * meanwhile (call again), -1 if no arena has a free chunk. Interrupts enabled on entry: each
 * arena is looked at, and the chunk released, in a masked section of its own. */
int bm_release_lowest_free_chunk(void);
unsigned bm_cache_slots_for(const bm_options_t *opt, unsigned cls); /* slots per class, 0: not cached */
int bm_caches_prepare(void); /* real-time profile, from bm_init: every core's cache; 0 or BM_ENOMEM */
void *bm_malloc_slow(size_t size);              /* NULL when not served: then bm_alloc_slow */
/* bm_malloc_slow for a size whose class cls the caller knows (bm_malloc's miss), called with
 * interrupts masked (irq: the state to restore), which it restores. */
void *bm_malloc_empty_masked(size_t size, unsigned cls, bm_irq_state_t irq);
void bm_free_slow(void *ptr);
/* A pointer of page map entry pm that passed the fast path's start test but found its bin full,
 * its class not cached by this core, or the never-usable bin (a page in no run); interrupts
 * masked (irq: the state to restore), which it restores. It reads the freed mark only where the
 * page is a run's (a marked block goes to bm_free_slow). O(1) (real-time: the block to its
 * arena), O(batch) for a flush. */
void bm_free_full_masked(void *ptr, bm_pagemap_t pm, bm_irq_state_t irq);
void bm_cache_flush_all(bm_cache_t *cache);
void bm_cache_flush_requested(bm_cache_t *cache); /* honours tcache.flush_all */
/* Flush part of each bin that stayed unused since the last call; returns objects flushed. */
size_t bm_cache_trim_idle(bm_cache_t *cache);

#pragma GCC visibility pop

#endif /* BM_INTERNAL_H */
