/*
 * Regions and the chunk pool. A region is the address range of one page source, cut into
 * naturally aligned chunks; its chunk table says what each chunk is. Free chunk spans of a
 * region sit in its pool, a red-black tree by (length, address): best fit, then lowest
 * address. Arenas and huge blocks take chunks here and give them back. Calls the page source
 * hooks (grow, release) and nothing above.
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
 *
 * Functions named _locked need the pool lock held, interrupts masked; the others take it.
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
void bm_region_maps_withdraw(bm_region_t *r, size_t index, size_t n) {
    for (size_t i = 0; r->maps && i < n; i++)
        r->maps[index + i] = bm_no_pages;
}

static void table_mark(bm_region_t *r, size_t index, size_t n, unsigned type, unsigned arena) {
    r->table[index] = bm_ct_make(type, true, arena, n);
    for (size_t i = 1; i < n; i++)
        r->table[index + i] = bm_ct_make(type, false, arena, i);
    bm_region_maps_withdraw(r, index, n);
}

/* Puts [index, index + n) into the pool, merged with free neighbours. Pool lock held.
 * entries_are_pool: the chunks are what is left of a pool span just split, so every entry but
 * the new head and tail is already right; not rewriting them keeps taking a chunk from a large
 * static region O(1) (it was O(chunks in the region)). */
static void pool_insert(bm_region_t *r, size_t index, size_t n, bool dirty, bool entries_are_pool) {
    if (!entries_are_pool) {
        for (size_t i = 0; i < n; i++)
            r->table[index + i] = bm_ct_make(BM_CT_POOL, false, 0, 0);
        bm_region_maps_withdraw(r, index, n);
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
bool bm_region_grant_locked(bm_region_t *r, size_t upto) {
    bm_lock_assert_held(&bm_state.pool_lock);
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
        if (start + n > r->nchunks || !bm_region_grant_locked(r, start + n))
            return NULL;
        if (start > old) {
            pool_insert(r, old, start - old, false, false);
            r->pool_chunks += start - old;
        }
    }
    return bm_region_chunk(r, start);
}

/* O(regions x log spans), plus the grow hook. Pool lock held (so a caller's own bookkeeping,
 * such as the huge counters, changes in the same hold as the table: a fork or the validator
 * never sees one without the other). */
void *bm_chunks_alloc_locked(size_t nchunks, size_t align, unsigned node, unsigned arena_index,
                             unsigned type) {
    bm_lock_assert_held(&bm_state.pool_lock);
    /* Every chunk lies on the grid (internal.h): it has the phase's alignment, and more only
     * when the phase is 0. */
    if (align > 1 && (bm_grid_phase & (align - 1)) != 0)
        return NULL;
    size_t align_chunks = align > BM_CHUNK ? align >> BM_LG_CHUNK : 1;
    void *addr = NULL;
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
    return addr;
}

void *bm_chunks_alloc(size_t nchunks, size_t align, unsigned node, unsigned arena_index,
                      unsigned type) {
    bm_lock_acquire(&bm_state.pool_lock);
    void *addr = bm_chunks_alloc_locked(nchunks, align, node, arena_index, type);
    bm_lock_release(&bm_state.pool_lock);
    return addr;
}

void bm_chunks_free_locked(bm_region_t *r, size_t index, size_t n) {
    bm_lock_assert_held(&bm_state.pool_lock);
    pool_insert(r, index, n, true, false);
    r->pool_chunks += n;
}

void bm_chunks_free(void *addr) {
    bm_region_t *r = bm_region_of(addr);
    bm_lock_acquire(&bm_state.pool_lock);
    size_t index = ((uintptr_t)addr - r->base) >> BM_LG_CHUNK;
    bm_chunks_free_locked(r, index, bm_ct_value(r->table[index]));
    bm_lock_release(&bm_state.pool_lock);
}

/* Offers a dirty pooled span's pages (all but the first, which holds its tree node) to the page
 * source. Returns bytes the source took. Pool lock held; r has a release hook. */
static size_t pool_span_release_locked(bm_region_t *r, bm_pool_span_t *span) {
    if (!span->dirty)
        return 0;
    span->dirty = false;
    size_t len = (span->nchunks << BM_LG_CHUNK) - BM_PAGE;
    return r->source.release(r->source.ctx, (char *)span + BM_PAGE, len) ? len : 0;
}

/* O(pooled spans). Releases every dirty pooled span; returns bytes released. Masks
 * interrupts itself; not from an interrupt handler (unbounded). */
size_t bm_pool_release_dirty(void) {
    size_t released = 0;
    bm_irq_state_t irq = bm_port_irq_save();
    bm_lock_acquire(&bm_state.pool_lock);
    for (unsigned i = 0; i < bm_state.nregions; i++) {
        bm_region_t *r = &bm_state.regions[i];
        for (bm_rbnode_t *n = bm_rb_first(&r->pool); n && r->source.release; n = bm_rb_next(n))
            released += pool_span_release_locked(r, (bm_pool_span_t *)n);
    }
    bm_lock_release(&bm_state.pool_lock);
    bm_port_irq_restore(irq);
    return released;
}

/* Resume points of the bounded pool passes, per region under the pool lock: a (length,
 * address) key rather than a node pointer, because the node may be gone. (Arenas need none:
 * they purge their oldest dirty runs first.) */
typedef struct purge_cursor {
    size_t len;
    uintptr_t addr;
} purge_cursor_t;
static purge_cursor_t pool_cursor[BM_MAX_REGIONS];

static int pool_cursor_cmp(const void *key, const bm_rbnode_t *n) {
    const purge_cursor_t *c = key;
    size_t len = ((const bm_pool_span_t *)n)->nchunks;
    if (c->len != len)
        return c->len < len ? -1 : 1;
    return c->addr <= (uintptr_t)n ? -1 : 1;
}

/* O(max_spans). Releases dirty pooled spans, visiting at most max_spans, resuming where the
 * previous call stopped; returns bytes released. Masks interrupts itself. */
size_t bm_pool_release_bounded(unsigned max_spans) {
    size_t released = 0;
    unsigned visited = 0;
    bm_irq_state_t irq = bm_port_irq_save();
    bm_lock_acquire(&bm_state.pool_lock);
    for (unsigned i = 0; i < bm_state.nregions && visited < max_spans; i++) {
        bm_region_t *r = &bm_state.regions[i];
        if (!r->source.release)
            continue;
        purge_cursor_t *cursor = &pool_cursor[i];
        bm_rbnode_t *n = bm_rb_lower_bound(&r->pool, cursor, pool_cursor_cmp);
        bool wrapped = false;
        if (!n) {
            n = bm_rb_first(&r->pool);
            wrapped = true;
        }
        for (; n && visited < max_spans; visited++) {
            released += pool_span_release_locked(r, (bm_pool_span_t *)n);
            n = bm_rb_next(n);
            if (!n && !wrapped) {
                n = bm_rb_first(&r->pool);
                wrapped = true;
            }
        }
        cursor->len = n ? ((bm_pool_span_t *)n)->nchunks : 0;
        cursor->addr = (uintptr_t)n;
    }
    bm_lock_release(&bm_state.pool_lock);
    bm_port_irq_restore(irq);
    return released;
}


/* ---- set-up ------------------------------------------------------------------------------- */

/* O(1). Describes src's chunk-aligned part in r; returns its chunks (0: too small or bad). A
 * range that is not chunk aligned loses its unaligned ends. */
/* O(1). Lays region r over src on the chunk grid: whole chunks from the first grid point at or
 * after its start, and for a static source the pages after the last whole chunk as a partial
 * chunk (kept by an arena for good) when they hold more than a chunk header. Returns the
 * chunk slots (0: src holds none). */
size_t bm_region_setup(bm_region_t *r, const bm_page_source_t *src) {
    uintptr_t start = (uintptr_t)src->base, end = start + src->size;
    if (end < start)
        return 0;
    uintptr_t first = bm_align_up(start - bm_grid_phase, BM_CHUNK) + bm_grid_phase;
    uintptr_t last = ((end - bm_grid_phase) & ~(uintptr_t)BM_CHUNK_MASK) + bm_grid_phase;
    if (first > end || last < first)
        return 0;
    size_t tail = src->grow ? 0 : (end - last) >> BM_LG_PAGE;
    r->source = *src;
    r->base = first;
    r->tail_pages = tail > BM_CHUNK_HEADER_PAGES ? tail : 0;
    r->nchunks = ((last - first) >> BM_LG_CHUNK) + (r->tail_pages != 0);
    r->grow_end = start;
    r->ngranted = src->grow ? 0 : r->nchunks;
    return r->nchunks;
}

/* O(1). Chunks of r that can be pooled: every one but a partial last chunk. */
size_t bm_region_whole_chunks(const bm_region_t *r) { return r->nchunks - (r->tail_pages != 0); }

