/*
 * Heap sizing: the size of a page source that guarantees that no malloc, calloc or free
 * fails for a program whose live bytes (the sum of the sizes it asked for, of the blocks it has
 * not freed) never exceed max_live, with every request at most max_request bytes, on ncores
 * cores, with this build's configuration and the options in force (or their defaults before
 * initialisation). docs/REALTIME.md ("Heap sizing") derives it; in short, per arena:
 *
 *  - small class k (regions of s_k bytes, m_k per run of P_k pages): a run is created only when
 *    every run of the class is full, so the class never has more than
 *    ceil(regions_k / m_k) + 1 runs, where regions_k <= max_live / (s_(k-1) + 1) live regions
 *    (the smallest request the class serves) plus ncores x slots_k cached ones;
 *  - large blocks: at most max_live / (BM_SMALL_MAX + 1) of them, each at most its request
 *    times the largest class-to-request ratio plus a page, plus what the caches hold;
 *  - fragmentation: a request of P pages fails only if every free page run is shorter than
 *    P; free runs never touch (they are merged), so there are at most as many as allocated
 *    runs plus chunks, and at most (P_max - 1) pages are lost per free run;
 *  - the allocator's own metadata (chunk tables, arenas, caches), pages and chunk headers.
 * Each arena gets its share of the chunks at initialisation (real-time profile) or from the
 * pool, and needs no more than this bound, so the heap holds one such bound per arena. Loose
 * by design: it must hold against an adversary.
 */
#include "ext.h"

static size_t ceil_div(size_t a, size_t b) { return (a + b - 1) / b; }

/* O(classes). Pages one arena may need; *runs_out: how many runs it may hold at once. */
static size_t arena_pages_needed(const bm_options_t *opt, size_t live, size_t request, unsigned ncores,
                                 size_t *runs_out, size_t *max_pages_out) {
    size_t pages = 0, runs = 0, max_pages = 1, large_ratio_x256 = 256, cached_large_pages = 0, cached_large = 0;
    for (unsigned cls = 0; cls < BM_NCLASSES; cls++) {
        const bm_class_info_t *ci = &bm_classes[cls];
        size_t smallest = cls ? bm_classes[cls - 1].size + 1 : 1; /* the least request it serves */
        if (smallest > request)
            break;
        size_t slots = bm_cache_slots_for(opt, cls);
        if (ci->run_pages > max_pages)
            max_pages = ci->run_pages;
        if (bm_class_is_small(cls)) {
            size_t regions = live / smallest + (size_t)ncores * slots;
            size_t class_runs = ceil_div(regions, ci->nregs) + 1;
            runs += class_runs;
            pages += class_runs * ci->run_pages;
        } else {
            size_t ratio = ((size_t)ci->size * 256 + smallest - 1) / smallest;
            large_ratio_x256 = ratio > large_ratio_x256 ? ratio : large_ratio_x256;
            cached_large += (size_t)ncores * slots;
            cached_large_pages += (size_t)ncores * slots * ci->run_pages;
        }
    }
    if (request > BM_SMALL_MAX) {
        size_t live_large = live / (BM_SMALL_MAX + 1);
        pages += ceil_div(live / 256 * large_ratio_x256 + 255, BM_PAGE) + live_large + cached_large_pages;
        runs += live_large + cached_large;
    }
    *runs_out = runs;
    *max_pages_out = max_pages;
    return pages;
}

/* O(cores x classes). The allocator's own metadata, in pages (chunk0's meta pages or pages
 * taken from arena 0), for nchunks chunks. */
static size_t metadata_pages(const bm_options_t *opt, unsigned ncores, unsigned narenas, size_t nchunks) {
    size_t bytes = (size_t)narenas * bm_align_up(sizeof(bm_arena_t), BM_CACHELINE) + 2 * BM_MAX_REGIONS * BM_CACHELINE +
                   bm_align_up(nchunks * (sizeof(bm_ctentry_t) + sizeof(bm_pagemap_t *)), BM_CACHELINE) * 2;
    size_t slots = 0;
    for (unsigned cls = 0; cls < BM_NCLASSES; cls++)
        slots += bm_cache_slots_for(opt, cls) + 1;
    size_t per_core = bm_align_up(sizeof(bm_cache_t), BM_CACHELINE) +
                      bm_align_up(BM_NCLASSES * sizeof(bm_cache_bin_info_t), BM_CACHELINE) +
                      bm_align_up(slots * sizeof(void *), BM_CACHELINE);
    return ceil_div(bytes + (size_t)ncores * per_core, BM_PAGE) + 1;
}

/* O(classes) for one set of resolved options: bm_heap_size_for's answer. */
static size_t heap_size_with(const bm_options_t *opt, size_t max_live, size_t max_request, unsigned ncores) {
    unsigned narenas = opt->narenas ? opt->narenas : ncores;
    if (narenas > BM_MAX_ARENAS)
        narenas = BM_MAX_ARENAS;
    size_t runs, max_pages;
    size_t pages = arena_pages_needed(opt, max_live, max_request, ncores, &runs, &max_pages);
    if (BM_HARDENING >= 2) /* the quarantine holds freed blocks back */
        pages += BM_QUARANTINE_SLOTS * (ceil_div(max_request, BM_PAGE) + 1);
    const size_t usable = BM_CHUNK_PAGES - BM_CHUNK_HEADER_PAGES;
    size_t chunks = ceil_div(pages, usable);
    for (int round = 0; round < 4; round++) { /* the waste grows with the chunks it needs */
        size_t need = pages + (max_pages - 1) * (runs + chunks + 1) + max_pages;
        size_t next = ceil_div(need, usable);
        if (next <= chunks)
            break;
        chunks = next;
    }
    size_t total = narenas * (chunks + 1);
    total += ceil_div(metadata_pages(opt, ncores, narenas, total), usable);
    /* Two pages for a heap of any alignment (the grid starts at its first whole page). */
    return total * BM_CHUNK + 2 * BM_PAGE;
}

size_t bm_heap_size_for(size_t max_live, size_t max_request, unsigned ncores) {
    if (max_request == 0 || max_request > BM_LARGE_MAX || ncores == 0 || ncores > BM_MAX_CORES ||
        max_live > ((size_t)1 << (sizeof(size_t) * 8 - 10)))
        return 0;
    if (max_live < max_request)
        max_live = max_request;
    bm_options_t opt;
    if (bm_is_ready())
        opt = bm_state.opt;
    else
        bm_options_defaults(&opt);
    /* Slot counts and bin bytes that scale with the heap (bm_options_resolve) are those of the
     * heap returned: each size gives at least as many slots as the one before, at most the
     * cap's, so sizing again from the last answer reaches a fixed point in a few rounds. */
    size_t size = 0;
    for (int round = 0; round < 8; round++) {
        bm_options_resolve(&opt, size + 2 * BM_CHUNK, ncores); /* at least the chunks bm_init counts */
        size_t next = heap_size_with(&opt, max_live, max_request, ncores);
        if (next <= size)
            break;
        size = next;
    }
    return size;
}
