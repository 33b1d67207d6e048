/*
 * Per-core caches, and every allocation and free the fast paths in alloc.c could not finish.
 * A hit touches only the calling core's cache (alloc.c); this file is the slow side: creating
 * a core's cache, refilling an empty bin from the arena in one batch under one lock, flushing
 * part of a full bin back to the arenas that own the objects (each arena's lock once per
 * flush), deciding for every block whether the cache or the arena takes it (cache_holds, the
 * one place that decides), and the retry after a failed allocation. In the general profile a
 * bin that keeps swinging between full and empty grows (see "bin capacity").
 *
 * Objects freed on core B that core A allocated simply enter B's cache; when B flushes, each
 * goes back to its own arena (its chunk says which). So a cross-core free costs B no lock on
 * the fast path and a bounded share of a flush later.
 *
 * Everything here runs with interrupts masked (the entry points mask them) and on the calling
 * core's own cache, so no lock guards a cache; the arena locks are taken one at a time.
 */
#include "internal.h"

/* ---- creating a cache ------------------------------------------------------------------------ */

/* ---- bin capacity ------------------------------------------------------------------------------ */

/* General profile: a bin whose contents swing between full and empty (a flush, a refill, a
 * flush again) is too small for the program's working set, and pays a flush and a refill under
 * the arena lock on every swing. A swing counts when the objects refilled between the two
 * flushes were at most BM_TCACHE_GROW_SPAN times the bin's capacity: a working set a few times
 * the bin's, not a program phase that allocates megabytes of the class and then frees them
 * (a bigger bin would only hold more memory there). After BM_TCACHE_GROW_SWINGS such flushes its capacity doubles,
 * up to its ceiling (BM_TCACHE_BIN_BYTES of blocks, at most BM_TCACHE_GROW_FACTOR times
 * tcache_slots and BM_TCACHE_GROW_SLOTS_MAX slots); the first growth moves the bin to an array
 * of the ceiling's size, taken from base metadata. bm_maintenance's idle trim halves it again
 * after an interval without a swing. The real-time profile keeps every bin at its first size. */
#ifndef BM_TCACHE_GROW_SWINGS
#define BM_TCACHE_GROW_SWINGS 2
#endif
#ifndef BM_TCACHE_GROW_SPAN
#define BM_TCACHE_GROW_SPAN 8
#endif
#ifndef BM_TCACHE_GROW_FACTOR
#define BM_TCACHE_GROW_FACTOR 16
#endif
#ifndef BM_TCACHE_GROW_SLOTS_MAX
#define BM_TCACHE_GROW_SLOTS_MAX 4096 /* 32 KiB of pointers: a bin's stack stays well under 64 KiB */
#endif
_Static_assert(BM_TCACHE_GROW_SLOTS_MAX * sizeof(void *) < 65536, "a bin's stack must span less than 64 KiB");

/* A bin's adaptive state, beside the cache's bm_cache_bin_info_t array (cache_create puts
 * BM_NCLASSES of these right after it, in the same block). */
typedef struct cache_bin_adapt {
    uint32_t refilled; /* objects refilled since the bin last flushed (saturating) */
    uint8_t emptied;   /* refilled since the bin last flushed */
    uint8_t swings;    /* flushes that found it refilled, since it last grew */
    uint8_t busy;      /* such a flush since the last idle trim */
    uint8_t grown;     /* the bin lives in its own array of its ceiling's size */
} cache_bin_adapt_t;

/* O(1). Class cls's adaptive state in cache. Any context; no bad input (cls < BM_NCLASSES). */
BM_INLINE cache_bin_adapt_t *bin_adapt(const bm_cache_t *cache, unsigned cls) {
    return (cache_bin_adapt_t *)(void *)(cache->info + BM_NCLASSES) + cls;
}

/* O(1). The slots a bin of class cls starts with under options opt (0: not cached). Any
 * context; no bad input (cls < BM_NCLASSES). */
static unsigned first_slots(const bm_options_t *opt, unsigned cls) {
    /* Level 2 caches nothing: a block's run or page map then says whether it is free, which a
     * write after free cannot erase the way it erases the freed mark. */
    if (BM_HARDENING >= 2 || !opt->tcache || bm_classes[cls].size > opt->tcache_max)
        return 0;
    if (!bm_class_is_small(cls)) {
#if !BM_TCACHE_BIN_BYTES
        /* Scaled bins: a large class holds at most half its bin bytes (the same mean on the
         * Cortex-M3 firmware trace within 1.5 instructions for 30 KiB less held idle at
         * 256 KiB), and at least one block. */
        unsigned by_bytes = (unsigned)(opt->tcache_bin_bytes / 2 / bm_classes[cls].size);
        by_bytes = by_bytes ? by_bytes : 1;
        return opt->tcache_slots_large < by_bytes ? opt->tcache_slots_large : by_bytes;
#else
        return opt->tcache_slots_large;
#endif
    }
    /* Hold at most two runs' worth of a class, or its bin bytes if that is more: a
     * class with few regions per run (448 B: 9) would otherwise refill and flush through the
     * arena lock every few calls. */
    unsigned slots = opt->tcache_slots, limit = 2 * bm_classes[cls].nregs;
    unsigned by_bytes = (unsigned)(opt->tcache_bin_bytes / bm_classes[cls].size);
    if (limit < by_bytes)
        limit = by_bytes;
    return slots < limit ? slots : limit;
}

/* O(1). The most slots a bin of class cls may grow to (its first size in the real-time
 * profile, for large classes and where the byte bound is no more than that). Any context; no
 * bad input. */
static unsigned ceiling_slots(const bm_options_t *opt, unsigned cls) {
    unsigned first = first_slots(opt, cls);
    if (BM_REALTIME || !first || !bm_class_is_small(cls))
        return first;
    /* Growth only with a fixed byte bound: the small geometry's bins keep the size its heap
     * gives them (bm_options_resolve). */
    unsigned ceiling = (unsigned)(BM_TCACHE_BIN_BYTES / bm_classes[cls].size);
    if (ceiling > BM_TCACHE_GROW_FACTOR * opt->tcache_slots)
        ceiling = BM_TCACHE_GROW_FACTOR * opt->tcache_slots;
    if (ceiling > BM_TCACHE_GROW_SLOTS_MAX)
        ceiling = BM_TCACHE_GROW_SLOTS_MAX;
    return ceiling > first ? ceiling : first;
}

/* O(1). The slots a core's cache may hold for class cls under options opt, counting storage:
 * the bin's first array and, for a bin that may grow, the array of its ceiling's size (one
 * more slot each, the guard, is the caller's to add). 0: not cached. Bounds both the blocks a
 * bin can hold and its storage, for the heap-size bound (ext/sizing.c). Any context; no bad
 * input (cls < BM_NCLASSES). */
unsigned bm_cache_slots_for(const bm_options_t *opt, unsigned cls) {
    unsigned first = first_slots(opt, cls), ceiling = ceiling_slots(opt, cls);
    return ceiling > first ? first + 1 + ceiling : first;
}

/* O(1). How many objects a refill of a bin of nmax slots of class cls asks for: the
 * tcache_batch share of its slots, at least 1, at most BM_TCACHE_BATCH_MAX and two runs. Kept
 * in the bin's info (bm_cache_bin_info_t.nrefill), so that no refill divides. */
static void cache_bin_set_nmax(bm_cache_t *cache, unsigned cls, unsigned nmax) {
    unsigned want = (nmax * bm_state.opt.tcache_batch_pct + 99) / 100;
    if (want < 1)
        want = 1;
    if (want > nmax)
        want = nmax;
    if (want > BM_TCACHE_BATCH_MAX)
        want = BM_TCACHE_BATCH_MAX;
    if (bm_class_is_small(cls) && want > 2 * bm_classes[cls].nregs) /* at most two new runs formed in one call */
        want = 2 * bm_classes[cls].nregs;
    cache->info[cls].nmax = (uint16_t)nmax;
    cache->info[cls].nrefill = (uint16_t)want;
}

/* O(classes). A core's cache, every bin at its first size; NULL when base metadata is
 * exhausted. Interrupts masked; no lock held (takes base_lock). */
static bm_cache_t *cache_create(unsigned core) {
    unsigned total = 0, ncached = 0;
    for (unsigned cls = 0; cls < BM_NCLASSES; cls++) {
        unsigned slots = first_slots(&bm_state.opt, cls);
        if (slots) {
            total += slots + 1; /* + one guard slot, the "empty" position, always NULL */
            ncached = cls + 1;
        }
    }
    bm_cache_t *cache = bm_base_alloc(sizeof(bm_cache_t));
    /* the bins' adaptive state right after their info (bin_adapt) */
    _Static_assert(sizeof(bm_cache_bin_info_t) % _Alignof(cache_bin_adapt_t) == 0, "adapt state misaligned");
    size_t adapt_bytes = BM_REALTIME ? 0 : BM_NCLASSES * sizeof(cache_bin_adapt_t); /* real-time: none */
    bm_cache_bin_info_t *info = bm_base_alloc(BM_NCLASSES * sizeof(bm_cache_bin_info_t) + adapt_bytes);
    void **slots = total ? bm_base_alloc(total * sizeof(void *)) : NULL;
    if (!cache || !info || (total && !slots))
        return NULL;
    cache->info = info;
    cache->arena = bm_arena_for_core(core);
    cache->slots = slots;
    cache->ncached = ncached;
    unsigned offset = 0;
    for (unsigned cls = 0; cls <= BM_NCLASSES; cls++) {
        bm_cache_bin_t *bin = &cache->bins[cls];
        unsigned n = cls < BM_NCLASSES ? first_slots(&bm_state.opt, cls) : 0;
        if (!n)
            continue; /* head NULL, marks 0: empty and full at once, never usable */
        void **full = &slots[offset], **empty = &slots[offset + n];
        bin->head = empty;
        bin->low_empty = (uint16_t)(uintptr_t)empty;
        bin->low_full = (uint16_t)(uintptr_t)full;
        bin->div_magic = bm_bin_div_magic(cls); /* for the free fast path's start test */
        cache_bin_set_nmax(cache, cls, n);
        offset += n + 1;
    }
    return cache;
}

/* O(1), O(classes) on the core's first call. This core's cache, created on first use; NULL
 * for a core beyond the slots or when there is no memory for it. Interrupts masked. */
static bm_cache_t *current_cache(void) {
    bm_cache_t **slot = bm_core_local();
    bm_cache_t *cache = *slot;
    if (BM_LIKELY(cache != &bm_cache_unset))
        return cache;
    unsigned core = bm_this_core();
    if (BM_UNLIKELY(core >= BM_MAX_CORES)) {
        /* Core ids must be dense from 0 (port/bm_port.h): a raw hardware id would index past
         * every per-core table. Said once; the core is served from arena 0 without a cache. */
#ifndef BM_PORT_HAS_CORE_LOCAL /* with a core-local slot, BM_MAX_CORES is the port's "no slot" */
        static unsigned reported; /* a word: not every target has byte atomics */
        if (!__atomic_exchange_n(&reported, 1u, __ATOMIC_RELAXED))
            bm_report("bm_port_core_id() gave a core id of BM_MAX_CORES or more: that core runs without a cache", NULL);
#endif
        return NULL;
    }
    cache = bm_state.caches[core];
    if (!cache) {
        cache = cache_create(core);
        __atomic_store_n(&bm_state.caches[core], cache, __ATOMIC_RELEASE);
    }
    if (cache)
        *slot = cache;
    return cache;
}

#if BM_REALTIME
/* O(cores x classes), once, from bm_init: every core's cache is built now, so that no core's
 * first call does it (about 6,500 Cortex-M3 instructions). BM_ENOMEM when base metadata runs
 * out. Where the core keeps the cache pointers (no port core-local slot), each core's slot is
 * set too, and its first malloc goes straight to a refill. */
int bm_caches_prepare(void) {
    for (unsigned core = 0; core < bm_state.ncores; core++) {
        bm_cache_t *cache = cache_create(core);
        if (!cache)
            return BM_ENOMEM;
        __atomic_store_n(&bm_state.caches[core], cache, __ATOMIC_RELEASE);
#ifndef BM_PORT_HAS_CORE_LOCAL
        bm_core_local_table[core] = cache;
#endif
    }
    return 0;
}
#endif

/* ---- the cache-or-arena decision --------------------------------------------------------------- */

/* The one place that decides whether a core's cache holds blocks of class cls: the class has
 * slots in this cache (a class above tcache_max, or any with caches off, has none). */
BM_INLINE bool cache_holds(const bm_cache_t *cache, unsigned cls) {
    return cache && cls < cache->ncached && cache->info[cls].nmax != 0;
}

/* A flush request (tcache.flush_all from another core) is honoured on this core's slow paths. */
BM_INLINE void honour_flush_request(bm_cache_t *cache) {
    if (BM_UNLIKELY(cache && __atomic_load_n(&cache->flush_request, __ATOMIC_RELAXED)))
        bm_cache_flush_requested(cache);
}

/* O(1). One block of class cls straight from the arena: a large run or one small region. */
static void *arena_alloc(bm_arena_t *arena, unsigned cls) {
    if (!bm_class_is_small(cls))
        return bm_arena_large_alloc(arena, cls, BM_PAGE);
    void *p = NULL;
    bm_arena_lock(arena);
    unsigned got = bm_bin_fill_locked(arena, cls, &p, 1);
    bm_arena_unlock(arena);
    return got ? p : NULL;
}

BM_INLINE void **cache_bin_empty_pos(const bm_cache_bin_t *bin) {
    return (void **)((char *)bin->head + (uint16_t)(bin->low_empty - (uint16_t)(uintptr_t)bin->head));
}

/* O(batch). Refills the empty bin of small class cls from the arena and pops one. */
static void *cache_refill(bm_cache_t *cache, unsigned cls) {
    bm_arena_t *arena = cache->arena;
    bm_cache_bin_t *bin = &cache->bins[cls];
    bm_cache_bin_info_t *info = &cache->info[cls];
    /* Regions arrive in ascending address order and the lowest is popped first. */
    unsigned want = info->nrefill;
    void **empty = cache_bin_empty_pos(bin);
    bm_arena_lock(arena);
    unsigned got = bm_bin_fill_locked(arena, cls, empty - want, want);
    bm_arena_unlock(arena);
    if (got == 0)
        return NULL;
    if (got < want)
        __builtin_memmove(empty - got, empty - want, got * sizeof(void *));
    info->nfills++;
    info->nfilled += got;
    info->nmisses++;
    if (!BM_REALTIME) { /* the bin ran empty: a flush before the next refill is a swing */
        cache_bin_adapt_t *adapt = bin_adapt(cache, cls);
        adapt->emptied = 1;
        if (adapt->refilled < UINT32_MAX - BM_TCACHE_BATCH_MAX)
            adapt->refilled += got;
    }
    void *p = empty[-(long)got];
    bin->head = empty - got + 1;
    if (info->low_water > got - 1)
        info->low_water = (uint16_t)(got - 1);
    return p;
}

/* O(1) on a hit, O(batch) on a refill. A block of class cls for this core: its cache bin, a
 * refill, or the arena for a class the cache does not hold (or with no cache). */
static void *alloc_class(bm_cache_t *cache, bm_arena_t *arena, unsigned cls) {
    if (cache) {
        /* A class the cache does not hold has an empty bin (head == empty == full): no hit. */
        bm_cache_bin_t *bin = &cache->bins[cls];
        if ((uint16_t)(uintptr_t)bin->head != bin->low_empty) {
            BM_STATS_FAST_HIT(cache);
            return *bin->head++;
        }
    }
    honour_flush_request(cache);
    if (!bm_class_is_small(cls)) /* a large class's bin fills only by frees */
        return bm_arena_large_alloc(arena, cls, BM_PAGE);
    return cache_holds(cache, cls) ? cache_refill(cache, cls) : arena_alloc(arena, cls);
}

/* One attempt at a block of any size and power-of-two alignment; interrupts masked. */
static void *alloc_attempt(bm_cache_t *cache, bm_arena_t *arena, size_t size, size_t align) {
    void *p = NULL;
    if (size <= BM_LARGE_MAX && align <= BM_PAGE) {
        /* Every large class is page aligned, so the search always ends on a class. */
        unsigned cls = bm_size_to_class(size);
        while (bm_classes[cls].align < align)
            cls++;
        p = alloc_class(cache, arena, cls);
    } else if (size <= BM_LARGE_MAX && align < BM_CHUNK) {
        unsigned cls = bm_size_to_class(size);
        p = bm_arena_large_alloc(arena, cls < BM_NSMALL ? BM_NSMALL : cls, align);
    }
    if (!p && (size > BM_LARGE_MAX || align > BM_PAGE))
        p = bm_huge_alloc(arena, size, align); /* chunk aligned on the grid, and align if it can */
    return p;
}

/* The block handed out: the freed key cleared, exactly size bytes exposed to ASan. A macro:
 * without ASan, usable (possibly a call) is not evaluated. */
#if BM_HARDENING >= 2
/* Level 2: the block's class decides its fill and canary (a huge block has neither). */
static void *handed_out_hardened(void *p) {
    bm_ptr_info_t info;
    bm_ptr_kind_t kind = bm_ptr_classify(p, &info);
    if (kind == BM_PTR_SMALL || kind == BM_PTR_LARGE)
        bm_block_handout(p, bm_classes[info.cls].size);
    else
        bm_mark_allocated(p);
    return p;
}
#define handed_out(p, size, usable) handed_out_hardened(p)
#elif BM_FREE_CHECKS
#define handed_out(p, size, usable) (bm_mark_allocated(p), BM_EXPOSE((p), (size), (usable)), (p))
#else
#define handed_out(p, size, usable) (BM_EXPOSE((p), (size), (usable)), (p))
#endif

/* One attempt with interrupts masked, on this core's cache as it is now (an interrupt may have
 * run on this core since the caller last looked). */
static void *alloc_attempt_masked(size_t size, size_t align) {
    bm_irq_state_t irq = bm_port_irq_save();
    bm_cache_t *cache = current_cache();
    void *p = alloc_attempt(cache, cache ? cache->arena : bm_arena_for_core(bm_this_core()), size, align);
    bm_port_irq_restore(irq);
    return p;
}

/* O(arenas' free chunks x (arenas x chunks + an attempt)) (level 2: plus the quarantines).
 * The arenas' entirely free chunks go back to the pool one at a time, lowest address first,
 * each in its own masked section, and the allocation is tried again after each: a huge block
 * takes what it needs, not every free chunk (each of which an arena would later have to set
 * up again). The block, or NULL when no free chunk is left. Interrupts enabled on entry (as
 * the caller found them). uncached: the attempts take from that arena without any core's cache
 * (bm_alloc_uncached); NULL: through this core's cache. */
static void *attempt_masked(bm_arena_t *uncached, size_t size, size_t align) {
    if (!uncached)
        return alloc_attempt_masked(size, align);
    bm_irq_state_t irq = bm_port_irq_save();
    void *p = alloc_attempt(NULL, uncached, size, align); /* no cache: the arena's blocks only */
    bm_port_irq_restore(irq);
    return p;
}

int bm_release_lowest_free_chunk(void) {
    /* the lowest free chunk of all arenas, so that huge blocks gather at low addresses */
    bm_arena_t *owner = NULL;
    bm_chunk_t *lowest = NULL;
    for (unsigned a = 0; a < bm_state.narenas; a++) {
        bm_irq_state_t irq = bm_port_irq_save();
        bm_chunk_t *chunk = bm_arena_lowest_free_chunk(bm_state.arenas[a]);
        bm_port_irq_restore(irq);
        if (chunk && (!lowest || (uintptr_t)chunk < (uintptr_t)lowest)) {
            owner = bm_state.arenas[a];
            lowest = chunk;
        }
    }
    if (!owner)
        return -1;
    bm_irq_state_t irq = bm_port_irq_save();
    bool released = bm_arena_release_chunk_if_free(owner, lowest);
    bm_port_irq_restore(irq);
    return released; /* 0: another core used it meanwhile */
}

/* The arenas' entirely free chunks back to the pool, lowest first, one per masked section,
 * the allocation tried after each; NULL when none is left. */
static void *release_chunks_and_retry(bm_arena_t *uncached, size_t size, size_t align) {
    for (int released; (released = bm_release_lowest_free_chunk()) >= 0;) {
        void *p = released ? attempt_masked(uncached, size, align) : NULL;
        if (p)
            return p;
    }
    return NULL;
}

#if BM_REALTIME && BM_RETAIN_DIVISOR
/* O(retained runs), one per masked section: every empty run the bins keep (bin.c) goes back
 * to its arena's pages; whether any did. */
static bool release_retained_runs(void) {
    bool any = false;
    for (unsigned a = 0; a < bm_state.narenas; a++) {
        for (size_t got = 1; got;) {
            bm_irq_state_t irq = bm_port_irq_save();
            bm_arena_lock(bm_state.arenas[a]);
            got = bm_bin_release_retained_locked(bm_state.arenas[a], 1);
            bm_arena_unlock(bm_state.arenas[a]);
            bm_port_irq_restore(irq);
            any |= got != 0;
        }
    }
    return any;
}
#endif

static void *release_free_chunks_and_retry(bm_arena_t *uncached, size_t size, size_t align) {
#if BM_HARDENING >= 2
    for (unsigned a = 0; a < bm_state.narenas; a++) {
        bm_irq_state_t irq = bm_port_irq_save();
        bm_arena_lock(bm_state.arenas[a]);
        bm_quarantine_drain_locked(bm_state.arenas[a]);
        bm_arena_unlock(bm_state.arenas[a]);
        bm_port_irq_restore(irq);
    }
    void *drained = attempt_masked(uncached, size, align);
    if (drained)
        return drained;
#endif
    void *p = release_chunks_and_retry(uncached, size, align);
#if BM_REALTIME && BM_RETAIN_DIVISOR
    /* Then the kept empty runs: their pages may be what the request needs, or free a chunk. */
    if (!p && release_retained_runs()) {
        p = attempt_masked(uncached, size, align);
        if (!p)
            p = release_chunks_and_retry(uncached, size, align);
    }
#endif
    return p;
}

static void cache_bin_flush(bm_cache_t *cache, unsigned cls, unsigned nflush);

/* O(cached objects), BM_TCACHE_BATCH_MAX objects per masked section. Every block in this
 * core's cache goes back to its arena. Interrupts enabled on entry. */
static void flush_all_unmasked_between(void) {
    for (unsigned cls = 0;; cls++) {
        for (;;) { /* this class, a batch per masked section */
            bm_irq_state_t irq = bm_port_irq_save();
            bm_cache_t *cache = current_cache(); /* again: an interrupt may have run on this core */
            if (!cache || cls >= cache->ncached) {
                bm_port_irq_restore(irq);
                return;
            }
            /* A large block's free merges page runs (up to 400 Cortex-M3 instructions): one per
             * masked section, where four small ones fit (a bin of four large blocks flushed at
             * once masked 1,175-1,325 on mps2-an521). */
            unsigned batch = bm_class_is_small(cls) ? BM_TCACHE_BATCH_MAX : 1;
            unsigned left = bm_cache_bin_count(&cache->bins[cls]);
            cache_bin_flush(cache, cls, left < batch ? left : batch);
            cache->info[cls].low_water = 0;
            bm_port_irq_restore(irq);
            if (left <= batch)
                break;
        }
    }
}

/* O(1) plus a refill, a run or a chunk taken; on failure O(arenas' chunks) for the first
 * retry and O(cached objects + chunks) for the second. Any size and power-of-two alignment
 * (0: the size's natural one); NULL with BM_ENOMEM when even the retry fails. The allocator must be initialised (alloc.c sees to it: init.c
 * sits above this layer). From an interrupt handler only if the grow hook allows it. */
void *bm_alloc_slow(size_t size, size_t align) {
    if (size == 0)
        size = 1;
    size = bm_request_size(size); /* level 2: room for the canary */
    void *p = alloc_attempt_masked(size, align);
    if (BM_UNLIKELY(!p)) {
        /* What is missing may be parked: the arenas' free chunks (a huge block needs them;
         * in the real-time profile arenas keep every chunk, so each huge block that finds the
         * pool empty comes here), then this core's cached blocks (on a small heap a real
         * share of it). Give them back, the cheaper first, in short masked sections, and try
         * again after each. */
        p = release_free_chunks_and_retry(NULL, size, align);
        if (!p) {
            flush_all_unmasked_between();
            p = alloc_attempt_masked(size, align);
            if (!p)
                p = release_free_chunks_and_retry(NULL, size, align);
        }
    }
    if (!p) {
        bm_set_error(BM_ENOMEM);
        return NULL;
    }
    return handed_out(p, size, bm_usable_size(p));
}

/* As bm_alloc_slow, from arena and never through a core's cache (bm_mallocx's ARENA and
 * NOCACHE): one attempt, then the arenas' free chunks given back one per masked section with an
 * attempt after each (no cache flush: no cache is used). NULL with BM_ENOMEM. Same bounds and
 * contexts as bm_alloc_slow. */
void *bm_alloc_uncached(bm_arena_t *arena, size_t size, size_t align) {
    if (size == 0)
        size = 1;
    size = bm_request_size(size);
    void *p = attempt_masked(arena, size, align);
    if (BM_UNLIKELY(!p))
        p = release_free_chunks_and_retry(arena, size, align);
    if (!p) {
        bm_set_error(BM_ENOMEM);
        return NULL;
    }
    return handed_out(p, size, bm_usable_size(p));
}

/* A malloc the fast path did not serve. Up to the largest class, once this core has its
 * cache: alloc_class directly (a size past the lookup table was not tried by the fast path),
 * skipping bm_alloc_slow's set-up (about 70 Cortex-M3 instructions). NULL when not served
 * (failure, size 0, huge sizes, a core's first call, before initialisation): the caller then
 * goes through bm_alloc_slow, which flushes and retries. O(1) plus a refill or a run. */
void *bm_malloc_slow(size_t size) {
    if (size - 1 < BM_LARGE_MAX && bm_is_ready())
        return bm_malloc_empty_masked(size, bm_size_to_class(size), bm_port_irq_save());
    return NULL; /* not served: the caller goes through initialisation and bm_alloc_slow */
}

/* O(1) plus a refill or a run, as bm_malloc_slow. NULL when not served (then bm_alloc_slow). */
void *bm_malloc_empty_masked(size_t size, unsigned cls, bm_irq_state_t irq) {
    bm_cache_t *cache = *bm_core_local();
    void *p = cache != &bm_cache_unset ? alloc_class(cache, cache->arena, cls) : NULL;
    bm_port_irq_restore(irq);
    (void)size; /* handed_out reads it only under ASan */
    return p ? handed_out(p, size, bm_classes[cls].size) : NULL;
}

/* ---- flushing ------------------------------------------------------------------------------------ */

/* Returns objects[0..n), all of class cls, to their arenas, O(n x distinct arenas), n <=
 * BM_TCACHE_BATCH_MAX; entries are set to NULL as they go. An arena whose lock is free gets
 * them in one lock hold; one whose lock another core holds gets them as one chain pushed onto
 * its inbox (BM_REMOTE_INBOX, blocks of 16 bytes and more) without the lock: a flush never
 * waits, and the arena gives them back the next time its lock is taken (arena.c). Without the
 * inbox, one lock hold per distinct arena. */
static void cache_return_objects(bm_cache_t *cache, unsigned cls, void **objects, unsigned n) {
    bool large = !bm_class_is_small(cls); /* large runs go to the arena without the dispatch */
#if BM_REMOTE_INBOX
    bool chained = bm_classes[cls].size >= BM_INBOX_MIN_SIZE;
#endif
    unsigned left = n;
    while (left) {
        bm_arena_t *arena = NULL;
#if BM_REMOTE_INBOX
        bool remote = false;
        void *first = NULL, *last = NULL;
        unsigned pushed = 0;
#endif
        for (unsigned i = 0; i < n; i++) {
            if (!objects[i])
                continue;
            bm_chunk_t *chunk = bm_chunk_of(objects[i]);
            if (!arena) {
                arena = chunk->arena;
#if BM_REMOTE_INBOX
                /* An arena whose lock another core holds gets them through its inbox: a
                 * flush never waits on a lock. A free lock is taken and the blocks given back
                 * here (the owner is not left all the work). */
                remote = chained && !bm_arena_trylock(arena);
                if (!chained)
                    bm_arena_lock(arena);
#else
                bm_arena_lock(arena);
#endif
            }
            if (chunk->arena != arena)
                continue;
#if BM_REMOTE_INBOX
            if (remote) {
                void *block = objects[i];
                BM_UNPOISON(bm_inbox_link(block), sizeof(void *)); /* the link; drain poisons it */
                if (last)
                    *bm_inbox_link(last) = block;
                else
                    first = block;
                last = block;
                pushed++;
            } else
#endif
            if (large)
                bm_arena_large_dalloc_locked(arena, chunk, objects[i]);
            else
                bm_block_dalloc_locked(arena, chunk, objects[i]);
            if (arena != cache->arena)
                cache->cross_frees++;
            objects[i] = NULL;
            left--;
        }
#if BM_REMOTE_INBOX
        if (remote) {
            bm_arena_inbox_push(arena, first, last, pushed * bm_classes[cls].size);
            continue;
        }
#endif
        bm_arena_unlock(arena);
    }
}

/* Flushes the nflush oldest objects (the bottom of the stack) of bin cls. */
static void cache_bin_flush(bm_cache_t *cache, unsigned cls, unsigned nflush) {
    bm_cache_bin_t *bin = &cache->bins[cls];
    unsigned count = bm_cache_bin_count(bin);
    if (nflush > count)
        nflush = count;
    if (!nflush)
        return;
    void **empty = cache_bin_empty_pos(bin);
    cache_return_objects(cache, cls, empty - nflush, nflush);
    /* Move the survivors (the most recently freed) down to the bottom, top one first (the
     * ranges may overlap). A loop, not memmove, for a few pointers (a library call would cost
     * more than the copy on a microcontroller, and the real-time profile keeps its loop); the
     * general profile's bins hold hundreds, which memmove copies several at a time. */
    unsigned survivors = count - nflush;
    if (!BM_REALTIME && survivors > 16)
        __builtin_memmove(bin->head + nflush, bin->head, survivors * sizeof(void *));
    else
        for (unsigned i = survivors; i-- > 0;)
            bin->head[nflush + i] = bin->head[i];
    bin->head += nflush;
    empty[0] = NULL; /* the guard slot stays NULL for the double-free check */
    cache->info[cls].nflushes++;
    cache->info[cls].nflushed += nflush;
}

/* O(cached objects of the bin). Gives bin cls (small, held by this cache) the capacity cap,
 * at most its ceiling and at least its count: the first time it exceeds the bin's first size
 * the stack moves to an array of the ceiling's size from base metadata (never freed; the first
 * array stays unused). False, nothing changed, when base metadata is exhausted. Interrupts
 * masked, no lock held (base_lock is taken). */
static bool cache_bin_set_capacity(bm_cache_t *cache, unsigned cls, unsigned cap) {
    bm_cache_bin_t *bin = &cache->bins[cls];
    cache_bin_adapt_t *adapt = bin_adapt(cache, cls);
    void **empty = cache_bin_empty_pos(bin);
    if (!adapt->grown && cap > first_slots(&bm_state.opt, cls)) {
        unsigned ceiling = ceiling_slots(&bm_state.opt, cls), count = bm_cache_bin_count(bin);
        void **array = bm_base_alloc((ceiling + 1) * sizeof(void *)); /* zeroed: the guard is NULL */
        if (!array)
            return false;
        empty = array + ceiling;
        for (unsigned i = 0; i < count; i++) /* same order: the newest stays on top */
            (empty - count)[i] = bin->head[i];
        bin->head = empty - count;
        bin->low_empty = (uint16_t)(uintptr_t)empty;
        adapt->grown = 1;
    }
    bin->low_full = (uint16_t)(uintptr_t)(empty - cap);
    cache_bin_set_nmax(cache, cls, cap);
    return true;
}

/* O(cached objects of the bin) when it grows, else O(1). After bin cls flushed because it was
 * full: a flush since which the bin ran empty and was refilled (by at most BM_TCACHE_GROW_SPAN
 * times its capacity) is a swing between the two, and
 * after BM_TCACHE_GROW_SWINGS of them the bin's capacity doubles (up to its ceiling). Nothing
 * in the real-time profile. Interrupts masked, no lock held. */
static void cache_adapt_after_flush(bm_cache_t *cache, unsigned cls) {
    cache_bin_adapt_t *adapt = bin_adapt(cache, cls);
    if (BM_REALTIME || !adapt->emptied)
        return;
    unsigned refilled = adapt->refilled;
    adapt->emptied = 0;
    adapt->refilled = 0;
    if (refilled > BM_TCACHE_GROW_SPAN * cache->info[cls].nmax)
        return; /* a phase through far more than the bin holds, not a swing at its edge */
    adapt->busy = 1;
    if (++adapt->swings < BM_TCACHE_GROW_SWINGS)
        return;
    adapt->swings = 0;
    unsigned cap = cache->info[cls].nmax, ceiling = ceiling_slots(&bm_state.opt, cls);
    if (cap < ceiling)
        cache_bin_set_capacity(cache, cls, 2 * cap < ceiling ? 2 * cap : ceiling);
}

/* O(1), O(batch) when the bin is full and flushes first (real-time profile: ptr goes to its
 * arena instead, O(1)); O(cached objects of the bin) when it then grows. Pushes ptr, a
 * checked block of class cls, which this cache holds. */
static void arena_free(void *ptr, bool large);

static void cache_push(bm_cache_t *cache, unsigned cls, void *ptr) {
    bm_cache_bin_t *bin = &cache->bins[cls];
    if ((uint16_t)(uintptr_t)bin->head == bin->low_full) {
        if (BM_REALTIME) {
            /* The block itself goes to its arena: one block's work, no survivors moved. */
            if (bm_chunk_of(ptr)->arena != cache->arena)
                cache->cross_frees++;
            arena_free(ptr, !bm_class_is_small(cls));
            return;
        }
        unsigned nflush = (cache->info[cls].nmax * bm_state.opt.tcache_flush_pct + 99) / 100;
        nflush = nflush > BM_TCACHE_BATCH_MAX ? BM_TCACHE_BATCH_MAX : nflush;
        cache_bin_flush(cache, cls, nflush ? nflush : 1);
        cache_adapt_after_flush(cache, cls);
    }
    bm_block_retire(ptr, bm_classes[cls].size);
    BM_POISON(ptr, bm_classes[cls].size);
    *--bin->head = ptr;
}

void bm_cache_flush_all(bm_cache_t *cache) {
    for (unsigned cls = 0; cls < cache->ncached; cls++) {
        cache_bin_flush(cache, cls, bm_cache_bin_count(&cache->bins[cls]));
        cache->info[cls].low_water = 0;
        if (!BM_REALTIME) { /* a cache emptied on request starts counting swings afresh */
            bin_adapt(cache, cls)->swings = 0;
            bin_adapt(cache, cls)->emptied = 0;
            bin_adapt(cache, cls)->refilled = 0;
        }
    }
}

size_t bm_cache_trim_idle(bm_cache_t *cache) {
    size_t flushed = 0;
    for (unsigned cls = 0; cls < cache->ncached; cls++) {
        bm_cache_bin_info_t *info = &cache->info[cls];
        /* Objects below the low-water mark sat unused for a whole interval: return half. */
        unsigned idle = info->low_water;
        if (idle) {
            unsigned n = (idle + 1) / 2;
            cache_bin_flush(cache, cls, n);
            flushed += n;
        }
        /* A grown bin that did not swing for a whole interval halves, down to its first size;
         * what it holds beyond the new capacity goes back first (oldest first). */
        if (!BM_REALTIME) {
            cache_bin_adapt_t *adapt = bin_adapt(cache, cls);
            unsigned first = first_slots(&bm_state.opt, cls);
            if (info->nmax > first && !adapt->busy) {
                unsigned cap = info->nmax / 2 > first ? info->nmax / 2 : first;
                unsigned count = bm_cache_bin_count(&cache->bins[cls]);
                if (count > cap) {
                    cache_bin_flush(cache, cls, count - cap);
                    flushed += count - cap;
                }
                cache_bin_set_capacity(cache, cls, cap); /* it has its array: nothing allocated */
            }
            adapt->busy = 0;
        }
        info->low_water = (uint16_t)bm_cache_bin_count(&cache->bins[cls]);
    }
    return flushed;
}

/* O(cached objects). Honours another core's tcache.flush_all request. */
void bm_cache_flush_requested(bm_cache_t *cache) {
    __atomic_store_n(&cache->flush_request, 0, __ATOMIC_RELAXED);
    bm_cache_flush_all(cache);
    __atomic_fetch_add(&bm_maint_stats.flushes_honoured, 1, __ATOMIC_RELAXED);
}

/* ---- frees the fast path did not finish ------------------------------------------------------- */

/* O(1), O(run pages) when a run empties. The block at ptr goes back to the arena owning its
 * chunk, which checks it under its lock; large: its page is known to be a large run's head. */
static void arena_free(void *ptr, bool large) {
    bm_chunk_t *chunk = bm_chunk_of(ptr);
    bm_arena_t *arena = chunk->arena;
    bm_arena_lock(arena);
#if BM_HARDENING >= 2
    (void)large;
    bm_quarantine_locked(arena, ptr, bm_classes[bm_pm_class(chunk->map[bm_page_index(ptr)])].size);
#else
    if (large)
        bm_arena_large_dalloc_locked(arena, chunk, ptr);
    else
        bm_block_dalloc_locked(arena, chunk, ptr);
#endif
    bm_arena_unlock(arena);
}

/* O(1), O(batch) for a flush. A live block of class cls in an arena chunk (the freed mark
 * already ruled out) goes to this core's cache if it holds the class, else to its arena,
 * which checks it again under its lock. */
static void free_class(bm_cache_t *cache, void *ptr, unsigned cls) {
    if (cache_holds(cache, cls))
        cache_push(cache, cls, ptr);
    else
        arena_free(ptr, false);
}

/* The general free: classifies ptr from scratch and acts. A bad pointer is reported with what
 * is wrong and ignored. */
void bm_free_slow(void *ptr) {
    if (!ptr)
        return;
    if (!bm_is_ready()) {
        bm_report("free before the allocator was initialised (pointer not from this allocator)", ptr);
        return;
    }
    bm_irq_state_t irq = bm_port_irq_save();
    bm_cache_t *cache = current_cache();
    honour_flush_request(cache);
    bm_ptr_info_t info;
    switch (bm_ptr_classify_live(ptr, &info)) {
    case BM_PTR_BAD:
        bm_report(info.why, ptr);
        break;
    case BM_PTR_HUGE:
        bm_huge_free(ptr, info.region, info.entry);
        break;
    default:
#if BM_HARDENING >= 2
        if (!bm_harden_canary_intact(ptr, bm_classes[info.cls].size))
            bm_report("write past the end of a block (its canary was overwritten); freed all the same", ptr);
#endif
        free_class(cache, ptr, info.cls);
        break;
    }
    bm_port_irq_restore(irq);
}

void bm_free_full_masked(void *ptr, bm_pagemap_t pm, bm_irq_state_t irq) {
    unsigned cls = bm_pm_class(pm);
    bm_cache_t *cache = *bm_core_local();
    if (cls != BM_BIN_INVALID && cache != &bm_cache_unset) {
        /* The page is in a run of class cls: its first word can be read. A marked block may be
         * a double free: the slow path decides (pushed, a flush would give it two owners). */
        if (cache_holds(cache, cls)) {
            if (!BM_FREE_CHECKS || bm_first_word(ptr) != bm_freed_key(ptr)) {
                honour_flush_request(cache);
                cache_push(cache, cls, ptr); /* flushes part of the full bin first */
                bm_port_irq_restore(irq);
                return;
            }
        } else if (bm_pm_kind(pm) == BM_PAGE_LARGE && bm_pm_head(pm)) {
            honour_flush_request(cache);
            arena_free(ptr, true); /* its page map tells a freed run: reported there */
            bm_port_irq_restore(irq);
            return;
        }
    }
    bm_port_irq_restore(irq);
    bm_free_slow(ptr); /* no cache yet, a marked block, or not a block this path can place */
}

