/*
 * The public allocation API. The fast paths are here, in full; everything they cannot finish
 * goes down to the cache layer (cache.c), which decides between the core's cache and the
 * arenas.
 *
 * malloc: size -> class by table, pop the class's stack in this core's cache.
 * free:   pointer -> its chunk's page map (one load through region 0's map pointers) -> class,
 *         the checks, push onto this core's stack.
 * Both run with interrupts masked (a no-op on the host port), take no lock and do no atomic
 * read-modify-write: O(1), safe from an interrupt handler.
 */
#include "internal.h"

/* Every allocation the fast path does not finish: initialise on the first call (init.c), then
 * the cache layer's slow path. O(1) once initialised, plus bm_alloc_slow's cost; NULL with
 * BM_ENOMEM if initialisation failed. From an interrupt handler as bm_alloc_slow. */
static void *alloc_slow(size_t size, size_t align) {
    if (BM_UNLIKELY(!bm_ensure_init())) {
        bm_set_error(BM_ENOMEM);
        return NULL;
    }
    return bm_alloc_slow(size, align);
}

/* ---- malloc -------------------------------------------------------------------------------------- */

/* A malloc the cache did not serve: the cache layer's short path, else the full one. Not
 * inlined, so that bm_malloc's miss stays a tail call (no register saves on its hit path:
 * 8 instructions per malloc+free pair on x86-64). */
BM_NOINLINE static void *malloc_miss(size_t size) {
    /* A size of the lookup table goes straight to the refill with its class (about 10 Cortex-M3
     * instructions fewer than bm_malloc_slow's checks and class search). Masking again here,
     * rather than passing the fast path's state, keeps bm_malloc's hit path as short as it is:
     * passing it cost a register copy on every hit (GCC 13, Cortex-M3 and x86-64). */
    void *p = BM_LIKELY(size <= BM_LOOKUP_MAX) ? bm_malloc_empty_masked(size, bm_lookup_class(size), bm_port_irq_save())
                                               : bm_malloc_slow(size);
    return BM_LIKELY(p != NULL) ? p : alloc_slow(size, 0);
}

void *bm_malloc(size_t size) {
    if (BM_HARDENING >= 2) /* every block gets its fill checked and its canary */
        return alloc_slow(size, 0);
    if (BM_LIKELY(size <= BM_LOOKUP_MAX)) {
        unsigned cls = bm_lookup_class(size);
        bm_irq_state_t irq = bm_port_irq_save();
        bm_cache_bin_t *bin = &(*bm_core_local())->bins[cls];
        void **head = bin->head;
        if (BM_LIKELY((uint16_t)(uintptr_t)head != bin->low_empty)) {
            bin->head = head + 1;
            BM_STATS_FAST_HIT(*bm_core_local()); /* compiled out unless BM_STATS_FAST */
            void *p = *head;
            bm_port_irq_restore(irq);
#if BM_FREE_CHECKS
            bm_block_handout(p, bm_classes[cls].size);
#endif
            BM_EXPOSE(p, size, bm_classes[cls].size);
            return p;
        }
        bm_port_irq_restore(irq);
    }
    return malloc_miss(size);
}

/* ---- free ------------------------------------------------------------------------------------------ */

/* Pushes ptr (of the class of page map entry pm) onto this core's cache if every check
 * passes, or finishes it through bm_free_full_masked when the bin is full (or holds no blocks);
 * false, for a pointer a check refused, sends the caller to bm_free_slow, which reports it. */
BM_INLINE bool free_fast(void *ptr, bm_pagemap_t pm, unsigned cls) {
    bm_irq_state_t irq = bm_port_irq_save();
    bm_cache_bin_t *bin = &(*bm_core_local())->bins[cls];
#if BM_FREE_CHECKS
    /* The start test refuses a pointer into the run's header (below the head page's phase)
     * and one inside a region. One into the slack after the last region carries the freed
     * mark a new run writes there (bin.c), so the mark test below sends it down. */
    if (BM_UNLIKELY(!bm_bin_region_start(bin, ptr, pm))) {
        bm_port_irq_restore(irq);
        return false;
    }
#endif
    void **head = bin->head;
    if (BM_UNLIKELY((uint16_t)(uintptr_t)head == bin->low_full)) {
        /* A full bin, a class this core does not cache, or no block at all (the never-usable
         * bin of a page in no run: its first word must not be read, the page may not even be
         * mapped): finished still masked, so no interrupt on this core can free the block in
         * between, and the freed mark is read there only where a block can be. */
        bm_free_full_masked(ptr, pm, irq);
        return true;
    }
    if (BM_FREE_CHECKS && BM_UNLIKELY(bm_first_word(ptr) == bm_freed_key(ptr))) {
        bm_port_irq_restore(irq); /* a possible double free: the slow path decides */
        return false;
    }
#if BM_FREE_CHECKS
    bm_block_retire(ptr, bm_classes[cls].size);
#endif
    head[-1] = ptr;
#if defined(__x86_64__) || defined(__i386__)
    bin->head--; /* read again after the stores above, as one subtract from memory on x86 */
#else
    bin->head = head - 1; /* reading it again would cost a load-store machine a load */
#endif
    bm_port_irq_restore(irq);
    BM_POISON(ptr, bm_classes[cls].size);
    return true;
}

/* The page map entry for ptr (BM_BIN_INVALID's if ptr is in region 0 but not in an arena
 * chunk), or false if ptr is outside region 0. */
BM_INLINE bool free_lookup(void *ptr, bm_pagemap_t *pm) {
    uintptr_t addr = (uintptr_t)ptr;
#if BM_FREE_CHECKS && BM_CHUNK_MAPS
    /* Inside region 0, one load gives the chunk's page map: an arena chunk's own, or
     * bm_no_pages for a chunk in the pool, a huge block or not yet granted. */
    uintptr_t offset = addr - bm_fast_region_base;
    if (BM_UNLIKELY(offset >= bm_fast_region_span))
        return false;
    *pm = bm_fast_region_maps[offset >> BM_LG_CHUNK][(offset & BM_CHUNK_MASK) >> BM_LG_PAGE];
    return true;
#elif BM_FREE_CHECKS
    uintptr_t offset = addr - bm_fast_region_base;
    if (BM_UNLIKELY(offset >= bm_fast_region_span) ||
        BM_UNLIKELY(bm_ct_type(bm_fast_region_table[offset >> BM_LG_CHUNK]) != BM_CT_ARENA))
        return false;
    *pm = ((bm_chunk_t *)(bm_fast_region_base + (offset & ~(uintptr_t)BM_CHUNK_MASK)))->map[(offset & BM_CHUNK_MASK) >> BM_LG_PAGE];
    return true;
#else
    /* Trusting the caller still needs a test: a huge block starts at a chunk boundary, where
     * an arena chunk has its header, so its page map must not be read; and NULL, which a skewed
     * chunk grid (a heap not aligned to a chunk) does not put on a boundary, is no block. */
    if (BM_UNLIKELY(bm_is_chunk_start(ptr) || !ptr))
        return false;
    (void)addr;
    *pm = bm_chunk_of(ptr)->map[bm_page_index(ptr)];
    return true;
#endif
}

void bm_free(void *ptr) {
    bm_pagemap_t pm;
    /* level 2: every canary checked, so no fast path */
    if (BM_HARDENING < 2 && BM_LIKELY(free_lookup(ptr, &pm)) && BM_LIKELY(free_fast(ptr, pm, bm_pm_class(pm))))
        return;
    bm_free_slow(ptr); /* outside region 0, or refused by a check: classified and reported there */
}

/* ---- sized free, usable size ------------------------------------------------------------------------ */

/* Classifies ptr, or reports what is wrong with it (false). */
static bool block_classify_or_report(const void *ptr, bm_ptr_info_t *info) {
    if (!bm_is_ready()) {
        bm_report("pointer given before the allocator was initialised (not from this allocator)", ptr);
        return false;
    }
    if (bm_ptr_classify_live(ptr, info) == BM_PTR_BAD) {
        bm_report(info->why, ptr);
        return false;
    }
    return true;
}

/* A sized free the fast path did not take: check the size against the block, then free. Any
 * size from the one requested up to the usable size is right; only a larger one is detectably
 * wrong (aligned_alloc and realloc may hand out a bigger class). */
BM_NOINLINE static void free_sized_slow(void *ptr, size_t size) {
    bm_ptr_info_t info;
    /* A freed or bad pointer is bm_free_slow's to report, once: no size verdict on it. */
    if (ptr && bm_is_ready() && bm_ptr_classify_live(ptr, &info) != BM_PTR_BAD && size > info.usable)
        bm_report("sized free with a size larger than the block", ptr);
    bm_free_slow(ptr);
}

void bm_free_sized(void *ptr, size_t size) {
    bm_pagemap_t pm = 0;
    if (BM_HARDENING < 2 && BM_LIKELY(size <= BM_LOOKUP_MAX) && BM_LIKELY(free_lookup(ptr, &pm))) {
        unsigned cls = bm_lookup_class(size);
        if (!BM_FREE_CHECKS || BM_LIKELY(bm_pm_class(pm) == cls)) {
            if (BM_LIKELY(free_fast(ptr, pm, cls)))
                return;
            /* The size matches the block's class: a pointer the checks refused is a plain
             * free's to report. */
            bm_free_slow(ptr);
            return;
        }
    }
    free_sized_slow(ptr, size);
}

size_t bm_usable_size(const void *ptr) {
    bm_ptr_info_t info;
    return ptr && block_classify_or_report(ptr, &info) ? info.usable : 0;
}

/* ---- the rest of the API ----------------------------------------------------------------------------- */

void *bm_calloc(size_t n, size_t size) {
    size_t total;
    if (__builtin_mul_overflow(n, size, &total)) {
        bm_set_error(BM_ENOMEM);
        return NULL;
    }
    void *p = bm_malloc(total);
    if (p)
        __builtin_memset(p, 0, total);
    return p;
}

void *bm_aligned_alloc(size_t alignment, size_t size) {
    if (alignment == 0 || (alignment & (alignment - 1))) {
        bm_set_error(BM_EINVAL);
        return NULL;
    }
    return alloc_slow(size, alignment);
}

void *bm_memalign(size_t alignment, size_t size) {
    size_t power = 1;
    while (power < alignment) {
        power <<= 1;
        if (power == 0) {
            bm_set_error(BM_EINVAL);
            return NULL;
        }
    }
    return alloc_slow(size, power);
}

int bm_posix_memalign(void **memptr, size_t alignment, size_t size) {
    if (alignment < sizeof(void *) || (alignment & (alignment - 1)))
        return BM_EINVAL;
    void *p = alloc_slow(size, alignment);
    if (!p)
        return BM_ENOMEM;
    *memptr = p;
    return 0;
}

/* Bounded, plus the copy when the block moves. A bad ptr (not a live block's start: foreign,
 * interior, already freed), whatever the size, 0 included: classified first, reported once,
 * NULL with BM_EINVAL, nothing freed or allocated. From an interrupt handler as bm_alloc_slow. */
void *bm_realloc(void *ptr, size_t size) {
    if (!ptr)
        return bm_malloc(size);
    bm_ptr_info_t old;
    if (!block_classify_or_report(ptr, &old)) {
        bm_set_error(BM_EINVAL);
        return NULL;
    }
    if (size == 0) {
        bm_free(ptr);
        return bm_malloc(0);
    }
    unsigned old_cls = old.cls;
    size_t old_size = old.usable, served = bm_request_size(size); /* level 2: + the canary */
#if BM_HARDENING >= 2
    if (old_cls < BM_NCLASSES && !bm_harden_canary_intact(ptr, bm_classes[old_cls].size)) {
        bm_report("write past the end of a block (its canary was overwritten), found by realloc", ptr);
        bm_harden_canary_set(ptr, bm_classes[old_cls].size); /* reported once, not again by the free */
    }
#endif
    /* Keep the alignment the old block may have been asked for: a large run's page map entry
     * records it (internal.h); elsewhere the address is the evidence, believed up to what the
     * old block's kind makes plausible: a small block's class alignment; for a huge block half
     * a chunk if it shrinks into a large run (an aligned request is served huge when no arena
     * run has room for it: its alignment must survive the shrink), a chunk while it stays huge. */
    uintptr_t addr_align = (uintptr_t)ptr & -(uintptr_t)ptr;
    size_t cap = old_cls == BM_NCLASSES       ? (served > BM_LARGE_MAX ? BM_CHUNK : BM_CHUNK / 2)
                 : bm_class_is_small(old_cls) ? bm_classes[old_cls].align
                                              : bm_large_align(bm_chunk_of(ptr), bm_page_index(ptr));
    size_t align = addr_align < cap ? addr_align : cap;
    if (served <= BM_LARGE_MAX && old_cls < BM_NCLASSES) {
        unsigned new_cls = bm_size_to_class(served);
        if (align > BM_PAGE && new_cls < BM_NSMALL)
            new_cls = BM_NSMALL; /* over-page alignment: only large runs (or chunks) have it */
        while (bm_classes[new_cls].align < align && align <= BM_PAGE)
            new_cls++; /* ends at a large class at the latest: those are page aligned */
        if (new_cls == old_cls) {
            BM_EXPOSE(ptr, size, old_size);
            return ptr;
        }
        if (!bm_class_is_small(old_cls) && !bm_class_is_small(new_cls)) {
            bm_arena_t *arena = bm_chunk_of(ptr)->arena;
            bm_irq_state_t irq = bm_port_irq_save();
            bool done = true;
            if (new_cls < old_cls)
                bm_arena_large_shrink(arena, ptr, new_cls);
            else
                done = bm_arena_large_grow(arena, ptr, new_cls);
            bm_port_irq_restore(irq);
            if (done) {
#if BM_HARDENING >= 2
                bm_harden_canary_set(ptr, bm_classes[new_cls].size);
#endif
                BM_EXPOSE(ptr, size, bm_classes[new_cls].size);
                return ptr;
            }
        }
    } else if (served > BM_LARGE_MAX && old_cls == BM_NCLASSES && size <= old_size) {
        bm_irq_state_t irq = bm_port_irq_save();
        bm_huge_shrink(ptr, old.region, size);
        bm_port_irq_restore(irq);
        BM_EXPOSE(ptr, size, bm_usable_size(ptr));
        return ptr;
    }
    void *p = alloc_slow(size, align);
    if (!p)
        return NULL;
    bm_copy_block(p, ptr, old_size < size ? old_size : size);
    bm_free(ptr);
    return p;
}

void bm_cache_flush(void) {
    if (!bm_is_ready())
        return;
    bm_irq_state_t irq = bm_port_irq_save();
    bm_cache_t *cache = *bm_core_local();
    if (cache != &bm_cache_unset)
        bm_cache_flush_all(cache);
    bm_port_irq_restore(irq);
}

void bm_prefork(void) {
    if (bm_is_ready())
        bm_lock_all();
}

void bm_postfork(void) {
    if (bm_is_ready())
        bm_unlock_all();
}

void bm_postfork_child(unsigned keep_core) {
    if (!bm_is_ready())
        return;
    for (unsigned core = 0; core < BM_MAX_CORES; core++) {
        if (core == keep_core)
            continue;
        __atomic_store_n(&bm_state.caches[core], NULL, __ATOMIC_RELEASE);
#ifndef BM_PORT_HAS_CORE_LOCAL
        bm_core_local_table[core] = &bm_cache_unset;
#endif
    }
#if BM_REMOTE_INBOX
    for (unsigned a = 0; a < bm_state.narenas; a++)
        bm_arena_inbox_recount(bm_state.arenas[a]);
#endif
}

#ifdef BM_EXPORT_STD_NAMES
/* The standard names of the hot calls are these very functions, not wrappers around them
 * (a wrapper costs malloc a call, a test and a return): errno on failure comes from
 * bm_set_error through bm_port_set_errno, which port/stdnames.c defines. The other names
 * are wrappers in port/stdnames.c. */
#define BM_STD_ALIAS(target) __attribute__((alias(#target), visibility("default")))
void *malloc(size_t size) BM_STD_ALIAS(bm_malloc);
void *calloc(size_t n, size_t size) BM_STD_ALIAS(bm_calloc);
void free(void *ptr) BM_STD_ALIAS(bm_free);
#endif
