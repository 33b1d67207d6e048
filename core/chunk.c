/*
 * Regions, the chunk table, the chunk pool, huge allocations and base metadata.
 *
 * Invariants (checked by bm_check):
 *  - every granted chunk has a table entry of type POOL, ARENA or HUGE; ungranted ones
 *    are UNGRANTED;
 *  - a POOL span's head entry holds its length, its tail entry the distance to the head, and
 *    its first bytes a bm_pool_span_t in the region's pool tree; two POOL spans never touch
 *    (they are merged when freed);
 *  - a HUGE span's head entry holds its length and owning arena; its other entries point back;
 *  - with BM_CHUNK_MAPS, a region's maps[i] is chunk i's own page map if it is an ARENA chunk
 *    and bm_no_pages otherwise (pool, huge, ungranted).
 */
#include "internal.h"

bm_region_t *bm_region_of(const void *p) {
    for (unsigned i = 0; i < bm_state.nregions; i++) {
        bm_region_t *r = &bm_state.regions[i];
        if ((uintptr_t)p - r->base < (r->nchunks << BM_LG_CHUNK))
            return r;
    }
    return NULL;
}

/* ---- chunk pool ------------------------------------------------------------------------ */

int bm_pool_span_cmp(const bm_rbnode_t *a, const bm_rbnode_t *b) {
    const bm_pool_span_t *x = (const bm_pool_span_t *)a, *y = (const bm_pool_span_t *)b;
    if (x->nchunks != y->nchunks)
        return x->nchunks < y->nchunks ? -1 : 1;
    return (uintptr_t)x < (uintptr_t)y ? -1 : (uintptr_t)x > (uintptr_t)y;
}

static int pool_span_key_cmp(const void *key, const bm_rbnode_t *n) {
    return *(const size_t *)key <= ((const bm_pool_span_t *)n)->nchunks ? -1 : 1;
}

const bm_pagemap_t bm_no_pages[BM_CHUNK_PAGES] = {
    [0 ... BM_CHUNK_PAGES - 1] = (bm_pagemap_t)BM_BIN_INVALID << BM_PM_CLASS_SHIFT};

/* An arena chunk's map is published by bm_chunk_init, once written; every other change of a
 * chunk's type goes through table_mark or pool_insert, which withdraw it here. */
static void maps_withdraw(bm_region_t *r, size_t index, size_t n) {
    for (size_t i = 0; r->maps && i < n; i++)
        r->maps[index + i] = bm_no_pages;
}

static void table_mark(bm_region_t *r, size_t index, size_t n, unsigned type, unsigned arena) {
    r->table[index] = bm_ct_make(type, true, arena, n);
    for (size_t i = 1; i < n; i++)
        r->table[index + i] = bm_ct_make(type, false, arena, i);
    maps_withdraw(r, index, n);
}

/* Puts [index, index + n) into the pool, merged with free neighbours. Pool lock held.
 * entries_are_pool: the chunks are what is left of a pool span just split, so every entry but
 * the new head and tail is already right; not rewriting them keeps taking a chunk from a large
 * static region O(1) (it was O(chunks in the region)). */
static void pool_insert(bm_region_t *r, size_t index, size_t n, bool dirty, bool entries_are_pool) {
    if (!entries_are_pool) {
        for (size_t i = 0; i < n; i++)
            r->table[index + i] = bm_ct_make(BM_CT_POOL, false, 0, 0);
        maps_withdraw(r, index, n);
    }
    if (index > 0 && bm_ct_type(r->table[index - 1]) == BM_CT_POOL) {
        bm_ctentry_t tail = r->table[index - 1];
        size_t head = index - 1 - (bm_ct_head(tail) ? 0 : bm_ct_value(tail));
        bm_pool_span_t *left = bm_region_chunk(r, head);
        dirty |= left->dirty;
        bm_rb_remove(&r->pool, &left->node);
        r->table[index - 1] = bm_ct_make(BM_CT_POOL, false, 0, 0);
        n += index - head;
        index = head;
    }
    size_t after = index + n;
    if (after < r->ngranted && bm_ct_type(r->table[after]) == BM_CT_POOL) {
        bm_pool_span_t *right = bm_region_chunk(r, after);
        dirty |= right->dirty;
        bm_rb_remove(&r->pool, &right->node);
        n += right->nchunks;
        r->table[after] = bm_ct_make(BM_CT_POOL, false, 0, 0);
    }
    r->table[index] = bm_ct_make(BM_CT_POOL, true, 0, n);
    if (n > 1)
        r->table[index + n - 1] = bm_ct_make(BM_CT_POOL, false, 0, n - 1);
    bm_pool_span_t *span = bm_region_chunk(r, index);
    BM_UNPOISON(span, sizeof *span);
    span->region = r;
    span->nchunks = n;
    span->dirty = dirty;
    bm_rb_insert(&r->pool, &span->node, bm_pool_span_cmp);
}

/* Makes chunks [0, upto) of a growing region usable. Pool lock held. */
static bool region_grant(bm_region_t *r, size_t upto) {
    if (upto <= r->ngranted)
        return true;
    if (!r->source.grow || upto > r->nchunks)
        return false;
    uintptr_t target = r->base + (upto << BM_LG_CHUNK);
    void *got = r->source.grow(r->source.ctx, target - r->grow_end);
    if (!got)
        return false;
    if ((uintptr_t)got != r->grow_end) {
        bm_report("page source grew somewhere else than its previous end; growth stopped", got);
        r->nchunks = r->ngranted; /* never ask again */
        return false;
    }
    r->grow_end = target;
    r->ngranted = upto;
    return true;
}

/* Takes n chunks aligned to align_chunks from r's pool or by growing r. Pool lock held. */
static void *region_take(bm_region_t *r, size_t n, size_t align_chunks) {
    size_t need = n + align_chunks - 1;
    bm_pool_span_t *span = (bm_pool_span_t *)bm_rb_lower_bound(&r->pool, &need, pool_span_key_cmp);
    size_t start;
    if (span) {
        size_t head = ((uintptr_t)span - r->base) >> BM_LG_CHUNK, len = span->nchunks;
        bool dirty = span->dirty;
        bm_rb_remove(&r->pool, &span->node);
        r->pool_chunks -= len;
        start = bm_align_up(head + (r->base >> BM_LG_CHUNK), align_chunks) - (r->base >> BM_LG_CHUNK);
        /* Claim the taken chunks before giving the remainders back, so pool_insert sees a
         * non-pool neighbour and does not merge them into the span again. The caller writes
         * the final type. */
        table_mark(r, start, n, BM_CT_ARENA, 0);
        if (start > head) {
            pool_insert(r, head, start - head, dirty, true);
            r->pool_chunks += start - head;
        }
        if (head + len > start + n) {
            pool_insert(r, start + n, head + len - start - n, dirty, true);
            r->pool_chunks += head + len - start - n;
        }
    } else {
        size_t old = r->ngranted;
        start = bm_align_up(old + (r->base >> BM_LG_CHUNK), align_chunks) - (r->base >> BM_LG_CHUNK);
        if (start + n > r->nchunks || !region_grant(r, start + n))
            return NULL;
        if (start > old) {
            pool_insert(r, old, start - old, false, false);
            r->pool_chunks += start - old;
        }
    }
    return bm_region_chunk(r, start);
}

void *bm_chunks_alloc(size_t nchunks, size_t align, unsigned node, unsigned arena_index,
                      unsigned type) {
    size_t align_chunks = align > BM_CHUNK ? align >> BM_LG_CHUNK : 1;
    void *addr = NULL;
    bm_lock_acquire(&bm_state.pool_lock);
    /* First the regions of the caller's memory node, then any other. */
    for (unsigned pass = 0; pass < 2 && !addr; pass++) {
        for (unsigned i = 0; i < bm_state.nregions && !addr; i++) {
            bm_region_t *r = &bm_state.regions[i];
            if ((r->source.node == node) == (pass == 0))
                addr = region_take(r, nchunks, align_chunks);
            if (addr)
                table_mark(r, ((uintptr_t)addr - r->base) >> BM_LG_CHUNK, nchunks, type,
                           arena_index);
        }
    }
    bm_lock_release(&bm_state.pool_lock);
    return addr;
}

static void chunks_free_locked(bm_region_t *r, size_t index, size_t n) {
    pool_insert(r, index, n, true, false);
    r->pool_chunks += n;
}

void bm_chunks_free(void *addr) {
    bm_region_t *r = bm_region_of(addr);
    bm_lock_acquire(&bm_state.pool_lock);
    size_t index = ((uintptr_t)addr - r->base) >> BM_LG_CHUNK;
    chunks_free_locked(r, index, bm_ct_value(r->table[index]));
    bm_lock_release(&bm_state.pool_lock);
}

/* Releases the pages of dirty pooled spans (all but the first page, which holds the span's
 * tree node) through the page source. Returns bytes released. */
size_t bm_pool_release_dirty(void) {
    size_t released = 0;
    bm_irq_state_t irq = bm_port_irq_save(); /* like every lock hold (arena.<n>.purge calls it unmasked) */
    bm_lock_acquire(&bm_state.pool_lock);
    for (unsigned i = 0; i < bm_state.nregions; i++) {
        bm_region_t *r = &bm_state.regions[i];
        if (!r->source.release)
            continue;
        for (bm_rbnode_t *n = bm_rb_first(&r->pool); n; n = bm_rb_next(n)) {
            bm_pool_span_t *span = (bm_pool_span_t *)n;
            if (!span->dirty)
                continue;
            size_t len = (span->nchunks << BM_LG_CHUNK) - BM_PAGE;
            if (r->source.release(r->source.ctx, (char *)span + BM_PAGE, len))
                released += len;
            span->dirty = false;
        }
    }
    bm_lock_release(&bm_state.pool_lock);
    bm_port_irq_restore(irq);
    return released;
}

/* ---- huge allocations ------------------------------------------------------------------ */

void *bm_huge_alloc(bm_arena_t *arena, size_t size, size_t align) {
    if (size > ((size_t)1 << (sizeof(size_t) * 8 - 2)))
        return NULL;
    size_t n = (size + BM_CHUNK_MASK) >> BM_LG_CHUNK;
    void *p = bm_chunks_alloc(n, align, arena->node, arena->index, BM_CT_HUGE);
    if (!p) {
        /* Arenas keep one free chunk each as a spare; a huge block needs them more. */
        for (unsigned a = 0; a < bm_state.narenas; a++)
            bm_arena_release_spare(bm_state.arenas[a]);
        p = bm_chunks_alloc(n, align, arena->node, arena->index, BM_CT_HUGE);
    }
    if (p) {
        bm_lock_acquire(&bm_state.pool_lock);
        BM_STAT_ADD(arena->stats.huge_nmalloc, 1);
        BM_STAT_ADD(arena->stats.huge_allocated, n << BM_LG_CHUNK);
        bm_stats_live_add(n << BM_LG_CHUNK);
        bm_lock_release(&bm_state.pool_lock);
        BM_UNPOISON(p, n << BM_LG_CHUNK);
    }
    return p;
}

size_t bm_huge_usable(bm_ctentry_t entry) { return bm_ct_value(entry) << BM_LG_CHUNK; }

void bm_huge_free(void *ptr, bm_region_t *r, bm_ctentry_t entry) {
    bm_arena_t *arena = bm_state.arenas[bm_ct_arena(entry)];
    size_t n = bm_ct_value(entry);
    BM_POISON(ptr, n << BM_LG_CHUNK);
    bm_lock_acquire(&bm_state.pool_lock);
    BM_STAT_ADD(arena->stats.huge_ndalloc, 1);
    BM_STAT_SUB(arena->stats.huge_allocated, n << BM_LG_CHUNK);
    bm_stats_live_add(-(n << BM_LG_CHUNK));
    chunks_free_locked(r, ((uintptr_t)ptr - r->base) >> BM_LG_CHUNK, n);
    bm_lock_release(&bm_state.pool_lock);
}

bool bm_huge_shrink(void *ptr, bm_region_t *r, size_t new_size) {
    size_t index = ((uintptr_t)ptr - r->base) >> BM_LG_CHUNK;
    bm_lock_acquire(&bm_state.pool_lock);
    bm_ctentry_t entry = r->table[index];
    size_t n = bm_ct_value(entry), keep = (new_size + BM_CHUNK_MASK) >> BM_LG_CHUNK;
    if (keep < n) {
        bm_arena_t *arena = bm_state.arenas[bm_ct_arena(entry)];
        r->table[index] = bm_ct_make(BM_CT_HUGE, true, bm_ct_arena(entry), keep);
        BM_STAT_SUB(arena->stats.huge_allocated, (n - keep) << BM_LG_CHUNK);
        bm_stats_live_add(-((n - keep) << BM_LG_CHUNK));
        BM_POISON((char *)ptr + (keep << BM_LG_CHUNK), (n - keep) << BM_LG_CHUNK);
        chunks_free_locked(r, index + keep, n - keep);
    }
    bm_lock_release(&bm_state.pool_lock);
    return true;
}

/* ---- base metadata ----------------------------------------------------------------------- */

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

static size_t region_setup(bm_region_t *r, const bm_page_source_t *src) {
    uintptr_t start = (uintptr_t)src->base, end = start + src->size;
    uintptr_t first = bm_align_up(start, BM_CHUNK), last = end & ~(uintptr_t)BM_CHUNK_MASK;
    if (end < start || last <= first)
        return 0;
    r->source = *src;
    r->base = first;
    r->nchunks = (last - first) >> BM_LG_CHUNK;
    r->grow_end = start;
    r->ngranted = src->grow ? 0 : r->nchunks;
    return r->nchunks;
}

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
    for (unsigned i = 0; i < nsources && nregions < BM_MAX_REGIONS; i++) {
        bm_region_t *r = &bm_state.regions[nregions];
        size_t n = region_setup(r, &sources[i]);
        size_t fits = (room - table_bytes) / (sizeof(bm_ctentry_t) + BM_CHUNK_MAPS * sizeof(bm_pagemap_t *));
        if (n > fits) {
            bm_port_log("baremalloc: a page source is larger than the chunk table can cover; using its start only");
            r->nchunks = n = fits;
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
        return BM_ENOMEM;
    bm_state.nregions = nregions;
    for (unsigned i = 0; i < nregions; i++)
        bm_state.pages_releasable |= bm_state.regions[i].source.release != NULL;
    bm_region_t *r0 = &bm_state.regions[0];
    if (!region_grant(r0, 1))
        return BM_ENOMEM;

    /* The first chunk holds the metadata that has to exist before any other chunk can be
     * tracked: chunk tables and arenas, in pages marked META right after its header. */
    size_t meta_pages = bm_align_up(table_bytes + narenas * arena_bytes, BM_PAGE) >> BM_LG_PAGE;
    if (meta_pages + BM_CHUNK_HEADER_PAGES >= BM_CHUNK_PAGES)
        return BM_ENOMEM;
    bm_chunk_t *chunk0 = (bm_chunk_t *)r0->base;
    BM_UNPOISON(chunk0, BM_CHUNK_HEADER_PAGES * BM_PAGE + meta_pages * BM_PAGE);
    bm_state.base_next = (char *)chunk0 + (BM_CHUNK_HEADER_PAGES << BM_LG_PAGE);
    bm_state.base_end = bm_state.base_next + (meta_pages << BM_LG_PAGE);
    for (unsigned i = 0; i < nregions; i++) {
        bm_region_t *r = &bm_state.regions[i];
        r->table = bm_base_alloc(r->nchunks * sizeof(bm_ctentry_t));
        if (BM_CHUNK_MAPS) {
            r->maps = bm_base_alloc(r->nchunks * sizeof(bm_pagemap_t *));
            maps_withdraw(r, 0, r->nchunks);
        }
    }
    for (unsigned a = 0; a < narenas; a++) {
        bm_arena_t *arena = bm_base_alloc(sizeof(bm_arena_t));
        bm_arena_init(arena, a, bm_state.regions[a % nregions].source.node);
        bm_state.arenas[a] = arena;
    }
    bm_state.narenas = narenas;
    bm_chunk_init(chunk0, bm_state.arenas[0], meta_pages);
    r0->table[0] = bm_ct_make(BM_CT_ARENA, true, 0, 1);
    /* Whatever a static region holds beyond that starts in the pool. */
    for (unsigned i = 0; i < nregions; i++) {
        bm_region_t *r = &bm_state.regions[i];
        size_t first = (r == r0) ? 1 : 0;
        if (r->ngranted > first)
            chunks_free_locked(r, first, r->ngranted - first);
    }
    return 0;
}
