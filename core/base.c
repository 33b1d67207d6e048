/*
 * Base metadata and bootstrap. Base metadata (chunk tables, arenas, caches) comes from a bump
 * range in META pages of arena 0 and is never freed. Bootstrap lays the regions out and puts
 * the tables in the first chunk. Initialisation, which runs bootstrap, is init.c's.
 */
#include "internal.h"

/* ---- base metadata ----------------------------------------------------------------------- */

/* O(1) (O(pages) when it takes a new block from arena 0). Zeroed, cache-line aligned, never
 * freed; NULL when arena 0 has no pages. Takes base_lock, then arena 0's. */
void *bm_base_alloc(size_t size) {
    size = bm_align_up(size, BM_CACHELINE);
    bm_lock_acquire(&bm_state.base_lock);
    if ((size_t)(bm_state.base_end - bm_state.base_next) < size) {
        size_t npages = bm_align_up(size, BM_PAGE) >> BM_LG_PAGE;
        char *block = bm_arena_meta_alloc(bm_state.arenas[0], npages);
        if (!block) {
            bm_lock_release(&bm_state.base_lock);
            return NULL;
        }
        bm_state.base_next = block;
        bm_state.base_end = block + (npages << BM_LG_PAGE);
    }
    char *p = bm_state.base_next;
    bm_state.base_next += size;
    bm_state.base_allocated += size;
    bm_lock_release(&bm_state.base_lock);
    BM_UNPOISON(p, size);
    __builtin_memset(p, 0, size);
    return p;
}

/* ---- bootstrap ----------------------------------------------------------------------------- */

/* O(regions + arenas + chunks of static regions). 0 or BM_ENOMEM. */
int bm_bootstrap(const bm_page_source_t *sources, unsigned nsources, unsigned narenas) {
    unsigned nregions = 0;
    size_t table_bytes = 0;
    size_t arena_bytes = bm_align_up(sizeof(bm_arena_t), BM_CACHELINE);
    /* Chunk tables and page-map pointers must fit in the first chunk beside the arenas: a
     * region larger than they can describe is used only up to what they can (64-bit, 2 MiB
     * chunks: about 340 GiB; 32-bit, 16 KiB chunks: about 30 MiB; 64-bit, 16 KiB chunks,
     * which keeps no map pointers: about 45 MiB). */
    size_t room = ((BM_CHUNK_PAGES - BM_CHUNK_HEADER_PAGES - 1) << BM_LG_PAGE) - narenas * arena_bytes -
                  2 * BM_MAX_REGIONS * BM_CACHELINE;
    /* The chunk grid starts at the first source's first page (internal.h). */
    if (nsources)
        bm_grid_phase = bm_align_up((uintptr_t)sources[0].base, BM_PAGE) & BM_CHUNK_MASK;
    for (unsigned i = 0; i < nsources && nregions < BM_MAX_REGIONS; i++) {
        bm_region_t *r = &bm_state.regions[nregions];
        size_t n = bm_region_setup(r, &sources[i]);
        size_t fits = (room - table_bytes) / (sizeof(bm_ctentry_t) + BM_CHUNK_MAPS * sizeof(bm_pagemap_t *));
        if (n > fits) {
            bm_port_log("baremalloc: a page source is larger than the chunk table can cover; using its start only");
            r->nchunks = n = fits;
            r->tail_pages = 0;
            if (r->ngranted > n)
                r->ngranted = n;
        }
        if (n) {
            table_bytes += bm_align_up(n * sizeof(bm_ctentry_t), BM_CACHELINE) +
                           BM_CHUNK_MAPS * bm_align_up(n * sizeof(bm_pagemap_t *), BM_CACHELINE);
            nregions++;
        }
    }
    if (nregions == 0)
        return BM_EINVAL; /* no source holds a chunk header and a page */
    bm_state.nregions = nregions;
    for (unsigned i = 0; i < nregions; i++)
        bm_state.pages_releasable |= bm_state.regions[i].source.release != NULL;
    bm_region_t *r0 = &bm_state.regions[0];
    /* No other core runs yet; the pool lock is taken anyway so that every _locked call keeps
     * its contract (the debug build checks it). */
    bm_lock_acquire(&bm_state.pool_lock);
    bool granted = bm_region_grant_locked(r0, 1);
    bm_lock_release(&bm_state.pool_lock);
    if (!granted)
        return BM_ENOMEM;

    /* The first chunk holds the metadata that has to exist before any other chunk can be
     * tracked: chunk tables and arenas, in pages marked META right after its header. */
    size_t meta_pages = bm_align_up(table_bytes + narenas * arena_bytes, BM_PAGE) >> BM_LG_PAGE;
    if (meta_pages + BM_CHUNK_HEADER_PAGES >= BM_CHUNK_PAGES)
        return BM_ENOMEM;
    bm_chunk_t *chunk0 = (bm_chunk_t *)r0->base;
    size_t pages0 = bm_region_whole_chunks(r0) ? BM_CHUNK_PAGES : r0->tail_pages; /* a partial one */
    if (meta_pages + BM_CHUNK_HEADER_PAGES >= pages0)
        return BM_EINVAL; /* too small to hold the allocator's own tables and a block */
    BM_UNPOISON(chunk0, BM_CHUNK_HEADER_PAGES * BM_PAGE + meta_pages * BM_PAGE);
    bm_state.base_next = (char *)chunk0 + (BM_CHUNK_HEADER_PAGES << BM_LG_PAGE);
    bm_state.base_end = bm_state.base_next + (meta_pages << BM_LG_PAGE);
    for (unsigned i = 0; i < nregions; i++) {
        bm_region_t *r = &bm_state.regions[i];
        r->table = bm_base_alloc(r->nchunks * sizeof(bm_ctentry_t));
        if (BM_CHUNK_MAPS) {
            r->maps = bm_base_alloc(r->nchunks * sizeof(bm_pagemap_t *));
            bm_region_maps_withdraw(r, 0, r->nchunks);
        }
    }
    for (unsigned a = 0; a < narenas; a++) {
        bm_arena_t *arena = bm_base_alloc(sizeof(bm_arena_t));
        bm_arena_init(arena, a, bm_state.regions[a % nregions].source.node);
        bm_state.arenas[a] = arena;
    }
    bm_state.narenas = narenas;
    bm_arena_chunk_init(chunk0, bm_state.arenas[0], meta_pages, pages0);
    r0->table[0] = bm_ct_make(BM_CT_ARENA, true, 0, 1);
    /* Whatever a static region holds beyond that starts in the pool, but a partial last chunk,
     * which arena 0 keeps (a huge block spanning it would run past the source's end). */
    bm_lock_acquire(&bm_state.pool_lock);
    for (unsigned i = 0; i < nregions; i++) {
        bm_region_t *r = &bm_state.regions[i];
        size_t first = (r == r0) ? 1 : 0, whole = bm_region_whole_chunks(r);
        size_t upto = r->ngranted < whole ? r->ngranted : whole;
        if (upto > first)
            bm_chunks_free_locked(r, first, upto - first);
    }
    bm_lock_release(&bm_state.pool_lock);
    for (unsigned i = 0; i < nregions; i++) {
        bm_region_t *r = &bm_state.regions[i];
        size_t whole = bm_region_whole_chunks(r);
        if (r->tail_pages && (r != r0 || whole > 0)) { /* else the partial chunk is chunk 0 */
            r->table[whole] = bm_ct_make(BM_CT_ARENA, true, 0, 1);
            bm_arena_chunk_init(bm_region_chunk(r, whole), bm_state.arenas[0], 0, r->tail_pages);
        }
    }
    return 0;
}

/* ---- every lock at once -------------------------------------------------------------------- */

/* O(arenas). Takes every lock in the documented order (base, arenas by index, pool) for fork
 * and the validator; bm_unlock_all releases them in reverse. The caller masks interrupts. */
void bm_lock_all(void) {
    bm_lock_acquire(&bm_state.base_lock);
    for (unsigned a = 0; a < bm_state.narenas; a++)
        bm_lock_acquire(&bm_state.arenas[a]->lock);
    bm_lock_acquire(&bm_state.pool_lock);
}

void bm_unlock_all(void) {
    bm_lock_release(&bm_state.pool_lock);
    for (unsigned a = bm_state.narenas; a-- > 0;)
        bm_lock_release(&bm_state.arenas[a]->lock);
    bm_lock_release(&bm_state.base_lock);
}
