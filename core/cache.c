/*
 * Per-core caches. A hit in malloc or free touches only the calling core's cache (alloc.c has
 * the fast paths); this file is the slow side: creating a cache, refilling an empty bin from
 * the arena in one batch under one lock, and flushing part of a full bin back to the arenas
 * that own the objects, taking each arena's lock once per flush.
 *
 * Objects freed on core B that core A allocated simply enter B's cache; when B flushes, each
 * goes back to its own arena (its chunk says which). So a cross-core free costs B no lock on
 * the fast path and a bounded share of a flush later.
 */
#include "internal.h"

static unsigned cache_slots_for(unsigned cls) {
    const bm_options_t *opt = &bm_state.opt;
    if (!opt->tcache || bm_classes[cls].size > opt->tcache_max)
        return 0;
    if (!bm_class_is_small(cls))
        return opt->tcache_slots_large;
    /* Hold at most two runs' worth of a class, or BM_TCACHE_BIN_BYTES if that is more: a
     * class with few regions per run (448 B: 9) would otherwise refill and flush through the
     * arena lock every few calls. */
    unsigned slots = opt->tcache_slots, limit = 2 * bm_classes[cls].nregs;
    unsigned by_bytes = (unsigned)(BM_TCACHE_BIN_BYTES / bm_classes[cls].size);
    if (limit < by_bytes)
        limit = by_bytes;
    return slots < limit ? slots : limit;
}

bm_cache_t *bm_cache_create(unsigned core) {
    unsigned total = 0, ncached = 0;
    for (unsigned cls = 0; cls < BM_NCLASSES; cls++) {
        unsigned slots = cache_slots_for(cls);
        if (slots) {
            total += slots + 1; /* + one guard slot, the "empty" position, always NULL */
            ncached = cls + 1;
        }
    }
    bm_cache_t *cache = bm_base_alloc(sizeof(bm_cache_t));
    bm_cache_bin_info_t *info = bm_base_alloc(BM_NCLASSES * sizeof(bm_cache_bin_info_t));
    void **slots = total ? bm_base_alloc(total * sizeof(void *)) : NULL;
    if (!cache || !info || (total && !slots))
        return NULL;
    cache->info = info;
    cache->core = core;
    cache->arena = bm_arena_for_core(core);
    cache->slots = slots;
    cache->ncached = ncached;
    unsigned offset = 0;
    for (unsigned cls = 0; cls <= BM_NCLASSES; cls++) {
        bm_cache_bin_t *bin = &cache->bins[cls];
        unsigned n = cls < BM_NCLASSES ? cache_slots_for(cls) : 0;
        if (!n)
            continue; /* head NULL, marks 0: empty and full at once, never usable */
        void **full = &slots[offset], **empty = &slots[offset + n];
        bin->head = empty;
        bin->low_empty = (uint16_t)(uintptr_t)empty;
        bin->low_full = (uint16_t)(uintptr_t)full;
        bin->div_magic = bm_bin_div_magic(cls); /* for the free fast path's start test */
        cache->info[cls].nmax = (uint16_t)n;
        offset += n + 1;
    }
    return cache;
}

BM_INLINE void **cache_bin_empty_pos(const bm_cache_bin_t *bin) {
    return (void **)((char *)bin->head + (uint16_t)(bin->low_empty - (uint16_t)(uintptr_t)bin->head));
}

void *bm_cache_alloc_slow(bm_cache_t *cache, unsigned cls) {
    bm_cache_check_flush_request(cache); /* tcache.flush_all from another core */
    bm_arena_t *arena = cache->arena;
    if (!bm_class_is_small(cls))
        return bm_arena_large_alloc(arena, cls, BM_PAGE);
    bm_cache_bin_t *bin = &cache->bins[cls];
    bm_cache_bin_info_t *info = &cache->info[cls];
    void *p = NULL;
    if (cls >= cache->ncached || info->nmax == 0) {
        bm_arena_lock(arena);
        unsigned got = bm_arena_bin_fill(arena, cls, &p, 1);
        bm_arena_unlock(arena);
        return got ? p : NULL;
    }
    /* Refill: regions arrive in ascending address order and the lowest is popped first. */
    unsigned want = (unsigned)(info->nmax * bm_state.opt.tcache_batch_pct + 99) / 100;
    if (want < 1)
        want = 1;
    if (want > info->nmax)
        want = info->nmax;
    if (want > BM_TCACHE_BATCH_MAX)
        want = BM_TCACHE_BATCH_MAX;
    if (want > 2 * bm_classes[cls].nregs) /* at most two new runs formed in one call */
        want = 2 * bm_classes[cls].nregs;
    void **empty = cache_bin_empty_pos(bin);
    bm_arena_lock(arena);
    unsigned got = bm_arena_bin_fill(arena, cls, empty - want, want);
    bm_arena_unlock(arena);
    if (got == 0)
        return NULL;
    if (got < want)
        __builtin_memmove(empty - got, empty - want, got * sizeof(void *));
    info->nfills++;
    info->nfilled += got;
    info->nmisses++;
    p = empty[-(long)got];
    bin->head = empty - got + 1;
    if (info->low_water > got - 1)
        info->low_water = (uint16_t)(got - 1);
    return p;
}

/* Returns objects[0..n) to their arenas: one lock hold per distinct arena. Entries are set to
 * NULL as they go. */
static void cache_return_objects(bm_cache_t *cache, void **objects, unsigned n) {
    unsigned left = n;
    while (left) {
        bm_arena_t *arena = NULL;
        for (unsigned i = 0; i < n; i++) {
            if (!objects[i])
                continue;
            bm_chunk_t *chunk = bm_chunk_of(objects[i]);
            if (!arena) {
                arena = chunk->arena;
                bm_arena_lock(arena);
            }
            if (chunk->arena != arena)
                continue;
            bm_arena_dalloc_locked(arena, chunk, objects[i]);
            if (arena != cache->arena)
                cache->cross_frees++;
            objects[i] = NULL;
            left--;
        }
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
    cache_return_objects(cache, empty - nflush, nflush);
    /* Move the survivors (the most recently freed) down to the bottom, top one first (the
     * ranges may overlap). A loop, not memmove: usually a few pointers, and a library call
     * would cost more than the copy on a microcontroller. */
    for (unsigned i = count - nflush; i-- > 0;)
        bin->head[nflush + i] = bin->head[i];
    bin->head += nflush;
    empty[0] = NULL; /* the guard slot stays NULL for the double-free check */
    cache->info[cls].nflushes++;
    cache->info[cls].nflushed += nflush;
}

/* The block carries the freed key: confirm whether it is really free already (in this
 * core's cache, or back in its run) and report it if so. */
static bool cache_free_is_double(bm_cache_t *cache, bm_cache_bin_t *bin, bm_chunk_t *chunk, void *ptr) {
    (void)cache;
    for (void **slot = bin->head; slot != cache_bin_empty_pos(bin); slot++) {
        if (*slot == ptr) {
            bm_report("double free of a block (it is already in this core's cache)", ptr);
            return true;
        }
    }
    bool already_free = false;
    if (bm_pm_kind(chunk->map[bm_page_index(ptr)]) == BM_PAGE_SMALL) {
        bm_arena_lock(chunk->arena);
        already_free = bm_arena_region_is_free(chunk, ptr);
        bm_arena_unlock(chunk->arena);
    }
    if (already_free)
        bm_report("double free of a small block (it is already free in its run)", ptr);
    return already_free;
}

/* A free the fast path could not finish: the pointer failed a check, the bin is full or not
 * cached, or the pointer lies in another region. Classifies it exactly and acts. */
void bm_cache_free_slow(bm_cache_t *cache, void *ptr) {
    bm_cache_check_flush_request(cache); /* tcache.flush_all from another core */
    bm_region_t *region = bm_region_of(ptr);
    if (!region) {
        bm_report("free of a pointer outside every heap region (not from this allocator)", ptr);
        return;
    }
    bm_ctentry_t entry = *bm_region_entry(region, ptr);
    switch (bm_ct_type(entry)) {
    case BM_CT_HUGE:
        if (bm_ct_head(entry) && ((uintptr_t)ptr & BM_CHUNK_MASK) == 0)
            bm_huge_free(ptr, region, entry);
        else
            bm_report("free of a pointer that is not the start of a block (inside a huge block)", ptr);
        return;
    case BM_CT_ARENA:
        break;
    default:
        bm_report("double free of a huge block, or free of a pointer never allocated", ptr);
        return;
    }
    bm_chunk_t *chunk = bm_chunk_of(ptr);
    bm_pagemap_t pm = chunk->map[bm_page_index(ptr)];
    unsigned cls = bm_pm_class(pm);
    bool valid = cls != BM_BIN_INVALID &&
                 bm_class_divides(&bm_classes[cls], (uint32_t)(((uintptr_t)ptr & BM_PAGE_MASK) + bm_pm_phase(pm)));
    if (!valid || !cache || cls >= cache->ncached || cache->info[cls].nmax == 0) {
        /* Not cacheable (or bad: the arena reports exactly what is wrong). */
        bm_arena_t *arena = chunk->arena;
        bm_arena_lock(arena);
        bm_arena_dalloc_locked(arena, chunk, ptr);
        bm_arena_unlock(arena);
        return;
    }
    bm_cache_bin_t *bin = &cache->bins[cls];
    if (bm_first_word(ptr) == bm_freed_key(ptr) && cache_free_is_double(cache, bin, chunk, ptr))
        return;
    bm_cache_push(cache, cls, ptr);
}

void bm_cache_push(bm_cache_t *cache, unsigned cls, void *ptr) {
    bm_cache_bin_t *bin = &cache->bins[cls];
    if ((uint16_t)(uintptr_t)bin->head == bin->low_full) {
        unsigned nflush = (cache->info[cls].nmax * bm_state.opt.tcache_flush_pct + 99) / 100;
        nflush = nflush > BM_TCACHE_BATCH_MAX ? BM_TCACHE_BATCH_MAX : nflush;
        cache_bin_flush(cache, cls, nflush ? nflush : 1);
    }
    bm_mark_freed(ptr);
    BM_POISON(ptr, bm_classes[cls].size);
    *--bin->head = ptr;
}

void bm_cache_flush_all(bm_cache_t *cache) {
    for (unsigned cls = 0; cls < cache->ncached; cls++) {
        cache_bin_flush(cache, cls, bm_cache_bin_count(&cache->bins[cls]));
        cache->info[cls].low_water = 0;
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
        info->low_water = (uint16_t)bm_cache_bin_count(&cache->bins[cls]);
    }
    return flushed;
}
