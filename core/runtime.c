/*
 * Memory added after initialisation: bm_add_source (a second RAM bank, memory the boot loader
 * freed, hot-plugged memory). A layer at the top of the core beside alloc.c; it calls init.c,
 * base.c and the region layer, through internal.h. A program that never calls it does not link
 * this file.
 *
 * It only appends: a region or an arena (arenas.create in bm_ctl), once published, stays. Readers that walk the regions without a
 * lock (the pointer classifier, the statistics) load the count with acquire and find every slot
 * below it complete.
 */
#include "internal.h"

/* O(regions). NULL when src may be added, else why not (a NULL base, size 0, a wrapping range,
 * or one sharing a byte with a region in use). Any context. */
static const char *source_refused(const bm_page_source_t *src) {
    uintptr_t base = (uintptr_t)src->base;
    if (!base)
        return "baremalloc: bm_add_source: a NULL base; nothing added";
    if (src->size == 0)
        return "baremalloc: bm_add_source: size 0; nothing added";
    if (src->size - 1 > UINTPTR_MAX - base)
        return "baremalloc: bm_add_source: the range wraps past the end of the address space; nothing added";
    unsigned n = __atomic_load_n(&bm_state.nregions, __ATOMIC_ACQUIRE);
    for (unsigned i = 0; i < n; i++) {
        const bm_page_source_t *old = &bm_state.regions[i].source;
        uintptr_t other = (uintptr_t)old->base;
        if (base - other < old->size || other - base < src->size)
            return "baremalloc: bm_add_source: the range overlaps a region in use; nothing added";
    }
    return NULL;
}

/* Serialises bm_add_source callers (two adding the same range at once must not both pass the
 * overlap check). A word spun on with interrupts enabled: bm_add_source is not for interrupts. */
static unsigned add_source_busy;

/* O(regions + its chunks); see baremalloc.h. */
int bm_add_source(const bm_page_source_t *src) {
    if (!src)
        return BM_EINVAL;
    if (!bm_ensure_init())
        return BM_ENOMEM;
    while (__atomic_exchange_n(&add_source_busy, 1u, __ATOMIC_ACQUIRE))
        bm_port_cpu_relax();
    int err = 0;
    const char *refused = source_refused(src);
    bm_region_t staged;
    __builtin_memset(&staged, 0, sizeof staged);
    if (refused) {
        bm_port_log(refused);
        err = BM_EINVAL;
    } else if (__atomic_load_n(&bm_state.nregions, __ATOMIC_ACQUIRE) >= BM_MAX_REGIONS) {
        bm_port_log("baremalloc: bm_add_source: BM_MAX_REGIONS regions exist already; nothing added");
        err = BM_ENOMEM;
    } else if (bm_region_setup(&staged, src) == 0 || bm_region_whole_chunks(&staged) == 0) {
        bm_port_log("baremalloc: bm_add_source: the range holds no whole chunk on the chunk grid; nothing added");
        err = BM_EINVAL;
    } else {
        /* A partial last chunk would need an arena to own it for good: not used here. */
        staged.nchunks = bm_region_whole_chunks(&staged);
        staged.tail_pages = 0;
        if (staged.ngranted > staged.nchunks)
            staged.ngranted = staged.nchunks;
        staged.table = bm_base_alloc(staged.nchunks * sizeof(bm_ctentry_t));
        if (BM_CHUNK_MAPS)
            staged.maps = bm_base_alloc(staged.nchunks * sizeof(bm_pagemap_t *));
        if (!staged.table || (BM_CHUNK_MAPS && !staged.maps)) {
            err = BM_ENOMEM;
        } else {
            bm_irq_state_t irq = bm_port_irq_save();
            err = bm_region_add(&staged);
            bm_port_irq_restore(irq);
        }
        if (!err && src->release && !bm_state.pages_releasable) {
            /* The purge policy's trigger depends on it: set the mode again to recompute it. */
            __atomic_store_n(&bm_state.pages_releasable, true, __ATOMIC_RELAXED);
            bm_purge_set(BM_PURGE_MODE, bm_purge_get(BM_PURGE_MODE));
        }
    }
    __atomic_store_n(&add_source_busy, 0u, __ATOMIC_RELEASE);
    return err;
}

/* ---- arenas created at run time (arenas.create) ------------------------------------------------- */

/* O(regions). Whether some region's page source is on memory node node. Any context. */
static bool node_exists(unsigned node) {
    unsigned n = __atomic_load_n(&bm_state.nregions, __ATOMIC_ACQUIRE);
    for (unsigned i = 0; i < n; i++)
        if (bm_state.regions[i].source.node == node)
            return true;
    return false;
}

/* O(1) plus base metadata for the arena. A new arena drawing its chunks from node, appended
 * after the others: its index in *index. BM_EINVAL for a node no region is on, BM_ENOMEM when
 * BM_MAX_ARENAS arenas exist (at most 128: the chunk table names an arena in 7 bits) or base
 * metadata runs out. It serves BM_MALLOCX_ARENA(i) calls and cores bound to it (thread.arena);
 * no core is bound to it by default. Published under base_lock, which bm_lock_all takes first,
 * so a walk over every arena's lock never sees the count change. Not from an interrupt handler. */
int bm_arena_create(unsigned node, unsigned *index) {
    if (!bm_ensure_init())
        return BM_ENOMEM;
    if (!node_exists(node))
        return BM_EINVAL;
    bm_irq_state_t irq = bm_port_irq_save();
    bm_arena_t *arena = bm_base_alloc(sizeof(bm_arena_t));
    int err = arena ? 0 : BM_ENOMEM;
    bm_lock_acquire(&bm_state.base_lock);
    unsigned n = bm_state.narenas;
    if (!err && (n >= BM_MAX_ARENAS || n >= 128)) /* base metadata taken stays unused */
        err = BM_ENOMEM;
    if (!err) {
        bm_arena_init(arena, n, node);
        bm_state.arenas[n] = arena;
        __atomic_store_n(&bm_state.narenas, n + 1, __ATOMIC_RELEASE);
        *index = n;
    }
    bm_lock_release(&bm_state.base_lock);
    bm_port_irq_restore(irq);
    return err;
}
