/*
 * Arenas: their chunks, the page runs of those chunks, large runs, and the purge mechanism
 * and its sync policy. Calls the region layer for chunks and the run index for free runs.
 *
 * Invariants (checked by bm_check):
 *  - the pages of a chunk are tiled by runs: each run's head entry holds its length;
 *  - a FREE run's head and tail entries are exact, its first page holds its list links, and
 *    no page inside it is marked SMALL or a LARGE head; two FREE runs never touch;
 *  - every FREE run is on the arena's list for its length, the bitmap marks exactly the
 *    non-empty lists, and the run's copy of its length matches its head entry;
 *  - the arena's dirty list holds exactly its dirty FREE runs, in the order they became dirty;
 *  - chunk->nfree is the number of pages in FREE runs; arena->ndirty the sum of the free runs'
 *    dirty counts. A run's count is exact when it is freed (all its pages) and when merged
 *    (a purged neighbour adds none); a split gives each piece its share rounded up, so a
 *    piece of a dirty run is never counted clean (pages that may be backed are never lost to
 *    purging), at worst a page over per piece.
 *
 * Sync purging (purge:sync, the default): every unlock compares the arena's dirty pages with
 * one global trigger and, over the bound max(dirty_min, dirty_max% of active pages), purges at
 * most BM_PURGE_SYNC_RUNS of the oldest dirty runs dirty for at least purge_age run
 * operations, before the lock is released. It also adds the page runs it took and gave back to
 * the pool clock, and releases up to BM_POOL_SYNC_SPANS pooled chunk spans dirty for purge_age
 * of those (region.c), unless retain. purge:idle leaves purging to bm_maintenance.
 */
#include "runs.h"

#if BM_REMOTE_INBOX
/* O(1). The class bytes a block in an inbox counts for (its page map names its class). */
static size_t inbox_block_bytes(void *block) {
    return bm_classes[bm_pm_class(bm_chunk_of(block)->map[bm_page_index(block)])].size;
}

/* O(blocks in the inbox). Takes the whole inbox and gives each block back to its run (the run's
 * bitmap reports a double free that got past the flushing core's checks). Lock held. */
static BM_NOINLINE void inbox_drain_locked(bm_arena_t *arena) {
    void *block = __atomic_exchange_n(&arena->inbox, NULL, __ATOMIC_ACQUIRE);
    bm_stat_t n = 0;
    size_t bytes = 0;
    while (block) {
        void *next = *bm_inbox_link(block);
        BM_POISON(bm_inbox_link(block), sizeof(void *)); /* the pusher exposed it for the link */
        bytes += inbox_block_bytes(block);
        bm_block_dalloc_locked(arena, bm_chunk_of(block), block);
        block = next;
        n++;
    }
    __atomic_fetch_sub(&arena->inbox_bytes, bytes, __ATOMIC_RELAXED);
    BM_STAT_ADD(arena->inbox_drained, n);
}

void bm_arena_inbox_recount(bm_arena_t *arena) {
    size_t bytes = 0;
    for (void *block = arena->inbox; block; block = *bm_inbox_link(block))
        bytes += inbox_block_bytes(block);
    arena->inbox_bytes = bytes;
}

void bm_arena_inbox_push(bm_arena_t *arena, void *first, void *last, size_t bytes) {
    __atomic_fetch_add(&arena->inbox_bytes, bytes, __ATOMIC_RELAXED); /* before: never below 0 */
    void *head = __atomic_load_n(&arena->inbox, __ATOMIC_RELAXED);
    do
        *bm_inbox_link(last) = head;
    while (!__atomic_compare_exchange_n(&arena->inbox, &head, first, true, __ATOMIC_RELEASE, __ATOMIC_RELAXED));
    __atomic_fetch_add(&arena->inbox_pushes, 1, __ATOMIC_RELAXED); /* the lock is not held */
}
#endif

/* O(1) plus the inbox. Just taken: counts it and gives the inbox's blocks back first, so
 * every path that then looks at the arena (a refill, the retry's free chunks, trim) sees them
 * in their runs. One load when the inbox is empty. */
static void arena_locked(bm_arena_t *arena, bool contended) {
    BM_STAT_ADD(arena->stats.lock_acquisitions, 1);
    if (contended)
        BM_STAT_ADD(arena->stats.lock_contended, 1);
#if BM_REMOTE_INBOX
    if (BM_UNLIKELY(__atomic_load_n(&arena->inbox, __ATOMIC_RELAXED) != NULL))
        inbox_drain_locked(arena);
#endif
}

void bm_arena_lock(bm_arena_t *arena) { arena_locked(arena, bm_lock_acquire(&arena->lock)); }

bool bm_arena_trylock(bm_arena_t *arena) {
    if (!bm_lock_try_acquire(&arena->lock))
        return false;
    arena_locked(arena, false);
    return true;
}

/* The trigger below which an unlock does not look at the purge bound (SIZE_MAX: never). */
static size_t purge_trigger = SIZE_MAX;
static unsigned purge_age; /* run operations a dirty run or pooled span is spared by sync purging */
static void purge_excess_locked(bm_arena_t *arena);

/* While the pool's decay is armed, from bm_arena_unlock (lock held, masked): adds the page runs
 * the arena took and gave back since its previous tick to the pool clock, which may release
 * up to BM_POOL_SYNC_SPANS spans (bm_pool_decay); the first tick after a new arming only
 * notes the count. O(1) plus what bm_pool_decay does. No bad input. */
static BM_NOINLINE void pool_tick_locked(bm_arena_t *arena) {
    unsigned epoch = __atomic_load_n(&bm_pool_epoch, __ATOMIC_RELAXED);
    bm_stat_t ops = arena->run_ops - arena->pool_ops_seen;
    arena->pool_ops_seen = arena->run_ops;
    if (arena->pool_epoch != epoch)
        arena->pool_epoch = epoch;
    else if (ops)
        bm_pool_decay(ops, __atomic_load_n(&purge_age, __ATOMIC_RELAXED));
}

/* O(1), or O(BM_PURGE_SYNC_RUNS) release calls when it purges, plus O(BM_POOL_SYNC_SPANS)
 * when the pool decays. Before releasing the lock: folds the arena's change of live bytes into
 * the global count (for the peak), purges over the bound, and ticks the pool's decay with the
 * page runs taken and given back since its previous unlock. The arena's lock must be held;
 * interrupts masked, as every lock hold: as interrupt-safe as the API call it ends. */
void bm_arena_unlock(bm_arena_t *arena) {
    size_t live = BM_STAT_GET(arena->stats.small_allocated) + BM_STAT_GET(arena->stats.large_allocated);
    if (live != arena->stats.live_seen) {
        bm_live_add(live - arena->stats.live_seen);
        arena->stats.live_seen = live;
    }
    if (BM_UNLIKELY(arena->ndirty > __atomic_load_n(&purge_trigger, __ATOMIC_RELAXED)))
        purge_excess_locked(arena);
    if (BM_UNLIKELY(__atomic_load_n(&bm_pool_decay_armed, __ATOMIC_RELAXED)))
        pool_tick_locked(arena);
    bm_lock_release(&arena->lock);
}

void bm_arena_init(bm_arena_t *arena, unsigned index, unsigned node) {
    bm_lock_init(&arena->lock);
    arena->dirty_runs.dirty_next = arena->dirty_runs.dirty_prev = &arena->dirty_runs;
    arena->index = index;
    arena->node = node;
}

size_t bm_arena_largest_free_locked(const bm_arena_t *arena) {
    size_t dirty = bm_free_runs_largest(&arena->runs_dirty), clean = bm_free_runs_largest(&arena->runs_clean);
    return dirty > clean ? dirty : clean;
}

/* Writes the head and tail of a free run whose interior pages are already FREE, and files it
 * with ndirty pages counted dirty (0: clean), which arena->ndirty gains. */
static void free_run_insert(bm_arena_t *arena, bm_chunk_t *chunk, size_t head, size_t n, size_t ndirty) {
    bool dirty = ndirty != 0;
    chunk->map[head] = bm_pm_make(BM_PAGE_FREE, true, dirty, n, BM_BIN_INVALID);
    if (n > 1)
        chunk->map[head + n - 1] = bm_pm_make(BM_PAGE_FREE, false, 0, n - 1, BM_BIN_INVALID);
    bm_free_run_t *run = bm_page_addr(chunk, head);
    BM_UNPOISON(run, sizeof *run);
    run->ndirty = ndirty;
    bm_free_runs_insert(dirty ? &arena->runs_dirty : &arena->runs_clean, run, n);
    if (dirty) { /* newest at the tail */
        arena->ndirty += ndirty;
        bm_free_run_t *list = &arena->dirty_runs;
        run->dirty_since = arena->run_ops;
        run->dirty_next = list;
        run->dirty_prev = list->dirty_prev;
        list->dirty_prev->dirty_next = run;
        list->dirty_prev = run;
    }
}

/* A piece of part pages cut from a run of whole pages with ndirty dirty: its share, rounded
 * up (see the invariants above). */
static size_t dirty_share(size_t ndirty, size_t part, size_t whole) {
    if (!ndirty)
        return 0;
    size_t share = (ndirty * part + whole - 1) / whole;
    return share < part ? share : part;
}

static void dirty_unlink(bm_free_run_t *run) {
    run->dirty_prev->dirty_next = run->dirty_next;
    run->dirty_next->dirty_prev = run->dirty_prev;
}

/* Unfiles the free run at head (arena->ndirty loses its count); its head entry must still be
 * the run's (dirty bit intact). */
static void free_run_remove(bm_arena_t *arena, bm_chunk_t *chunk, size_t head) {
    bm_free_run_t *run = bm_page_addr(chunk, head);
    if (bm_pm_dirty(chunk->map[head])) {
        arena->ndirty -= run->ndirty;
        bm_free_runs_remove(&arena->runs_dirty, run);
        dirty_unlink(run);
    } else {
        bm_free_runs_remove(&arena->runs_clean, run);
    }
}

/* Marks pages [head, head + npages) plain free, four entries a step: setting up a chunk writes
 * every entry, the longest straight stretch of the worst-case calls (-120 instructions per
 * 16 KiB chunk on the Cortex-M3). */
void bm_pages_mark_free(bm_chunk_t *chunk, size_t head, size_t npages) {
    const bm_pagemap_t value = bm_pm_make(BM_PAGE_FREE, false, 0, 0, BM_BIN_INVALID);
    bm_pagemap_t *entry = &chunk->map[head];
    for (; npages >= 4; npages -= 4, entry += 4)
        entry[0] = entry[1] = entry[2] = entry[3] = value;
    for (; npages; npages--)
        *entry++ = value;
}

/* O(pages). Makes chunk arena's, its pages past the header and meta_pages free. */
void bm_arena_chunk_init(bm_chunk_t *chunk, bm_arena_t *arena, size_t meta_pages, size_t npages) {
    BM_UNPOISON(chunk, BM_CHUNK_HEADER_PAGES << BM_LG_PAGE);
    chunk->arena = arena;
    chunk->magic = BM_CHUNK_MAGIC;
    size_t p = 0;
    chunk->map[p++] = bm_pm_make(BM_PAGE_META, true, 0, BM_CHUNK_HEADER_PAGES, BM_BIN_INVALID);
    for (; p < BM_CHUNK_HEADER_PAGES; p++)
        chunk->map[p] = bm_pm_make(BM_PAGE_META, false, 0, p, BM_BIN_INVALID);
    if (meta_pages) {
        chunk->map[p] = bm_pm_make(BM_PAGE_META, true, 0, meta_pages, BM_BIN_INVALID);
        for (size_t i = 1; i < meta_pages; i++)
            chunk->map[p + i] = bm_pm_make(BM_PAGE_META, false, 0, i, BM_BIN_INVALID);
        p += meta_pages;
    }
    size_t first_free = p;
    if (npages < BM_CHUNK_PAGES) { /* the pages past the end of the source */
        chunk->map[npages] = bm_pm_make(BM_PAGE_META, true, 0, BM_CHUNK_PAGES - npages, BM_BIN_INVALID);
        for (size_t i = npages + 1; i < BM_CHUNK_PAGES; i++)
            chunk->map[i] = bm_pm_make(BM_PAGE_META, false, 0, i - npages, BM_BIN_INVALID);
    }
    bm_pages_mark_free(chunk, first_free, npages - first_free);
    chunk->nfree = (uint32_t)(npages - first_free);
    chunk->nretained = 0;
    arena->nactive += first_free - BM_CHUNK_HEADER_PAGES;
    chunk->prev = NULL;
    chunk->next = arena->chunks;
    if (arena->chunks)
        arena->chunks->prev = chunk;
    arena->chunks = chunk;
    arena->nchunks++;
    if (chunk->nfree)
        free_run_insert(arena, chunk, first_free, chunk->nfree, 0);
    bm_region_t *region = bm_region_of(chunk);
    if (region->maps) /* published last: the map is written */
        region->maps[((uintptr_t)chunk - region->base) >> BM_LG_CHUNK] = chunk->map;
}

/* O(chunk pages) plus the pool's O(log spans). A chunk from the pool formatted for arena; its
 * free run counts dirty if the chunk came from a dirty pooled span (its pages may be backed:
 * counted clean, purging would never return them). NULL when no chunk is left. Lock held. */
static bm_chunk_t *arena_chunk_new(bm_arena_t *arena) {
    bool dirty;
    bm_chunk_t *chunk = bm_chunks_alloc(1, 1, arena->node, arena->index, BM_CT_ARENA, &dirty); /* on the grid */
    if (chunk) {
        BM_POISON(chunk, BM_CHUNK);
        bm_arena_chunk_init(chunk, arena, 0, BM_CHUNK_PAGES);
        if (dirty && chunk->nfree) {
            free_run_remove(arena, chunk, BM_CHUNK_HEADER_PAGES);
            free_run_insert(arena, chunk, BM_CHUNK_HEADER_PAGES, chunk->nfree, chunk->nfree);
        }
    }
    return chunk;
}

/* A chunk whose pages are all free goes back to the pool, unless the arena keeps it as its
 * spare (one per arena, so a workload oscillating around a chunk boundary does not bounce
 * chunks through the pool lock). */
static void arena_chunk_release(bm_arena_t *arena, bm_chunk_t *chunk) {
    free_run_remove(arena, chunk, BM_CHUNK_HEADER_PAGES);
    if (chunk->prev)
        chunk->prev->next = chunk->next;
    else
        arena->chunks = chunk->next;
    if (chunk->next)
        chunk->next->prev = chunk->prev;
    arena->nchunks--;
    chunk->magic = 0;
    BM_POISON(chunk, BM_CHUNK);
    bm_chunks_free(chunk);
}

static void arena_chunk_maybe_release(bm_arena_t *arena, bm_chunk_t *chunk) {
    if (BM_REALTIME)
        return; /* kept: a chunk's set-up or release on a call would grow with its pages */
    bm_chunk_t *spare = arena->spare;
    if (BM_KEEP_SPARE_CHUNK &&
        (!spare || spare == chunk || spare->nfree != BM_CHUNK_PAGES - BM_CHUNK_HEADER_PAGES)) {
        arena->spare = chunk;
        return;
    }
    arena_chunk_release(arena, chunk);
}

/* O(the arena's chunks). The lowest-addressed chunk of the arena whose pages are all free (its
 * spare; in the real-time profile, any), or NULL. Arena lock held. */
static bm_chunk_t *lowest_free_chunk_locked(const bm_arena_t *arena) {
    const size_t all_free = BM_CHUNK_PAGES - BM_CHUNK_HEADER_PAGES;
    bm_chunk_t *lowest = NULL;
    for (bm_chunk_t *chunk = arena->chunks; chunk; chunk = chunk->next)
        if (chunk->nfree == all_free && (!lowest || (uintptr_t)chunk < (uintptr_t)lowest))
            lowest = chunk;
    return lowest;
}

bm_chunk_t *bm_arena_lowest_free_chunk(bm_arena_t *arena) {
    bm_arena_lock(arena);
    bm_chunk_t *lowest = lowest_free_chunk_locked(arena);
    bm_arena_unlock(arena);
    return lowest;
}

/* O(1): the failed-allocation path only. chunk, which bm_arena_lowest_free_chunk gave in an
 * earlier masked section, goes back to the pool if it is still an entirely free chunk of this
 * arena (the chunk table says whose it is: its header is not read unless it is this arena's,
 * so a chunk that became a huge block meanwhile is left alone); false otherwise. Takes the
 * arena lock; the caller masks interrupts around each call, so that it may unmask between
 * chunks. */
bool bm_arena_release_chunk_if_free(bm_arena_t *arena, bm_chunk_t *chunk) {
    const size_t all_free = BM_CHUNK_PAGES - BM_CHUNK_HEADER_PAGES;
    bm_region_t *region = bm_region_of(chunk);
    bm_arena_lock(arena);
    /* An arena chunk leaves its arena only under this lock: the entry cannot change now. */
    bm_ctentry_t entry = region ? *bm_region_entry(region, chunk) : 0;
    bool release = region && bm_ct_type(entry) == BM_CT_ARENA && bm_ct_arena(entry) == arena->index &&
                   chunk->nfree == all_free;
    if (release) {
        if (arena->spare == chunk)
            arena->spare = NULL;
        arena_chunk_release(arena, chunk);
    }
    bm_arena_unlock(arena);
    return release;
}

#if BM_REALTIME
/* O(pooled chunks x chunk pages), once, from bm_init: every chunk in the pool is formatted
 * and given to an arena, round robin, so that no call sets up a chunk while the heap lasts.
 * Chunks a region could still grow by stay where they are (they are set up when taken). */
void bm_arenas_take_pool(void) {
    for (unsigned a = 0;; a = (a + 1) % bm_state.narenas) {
        size_t pooled = 0;
        for (unsigned i = 0; i < bm_state.nregions; i++)
            pooled += bm_state.regions[i].pool_chunks;
        if (!pooled)
            return;
        bm_arena_t *arena = bm_state.arenas[a];
        bm_arena_lock(arena);
        bm_chunk_t *chunk = arena_chunk_new(arena);
        bm_arena_unlock(arena);
        if (!chunk)
            return;
    }
}
#endif

/* Takes a run of npages whose first page index is a multiple of align_pages; on return the
 * run's pages are still marked FREE (non-head) and the caller writes their entries. */
bool bm_arena_run_alloc_locked(bm_arena_t *arena, size_t npages, size_t align_pages,
                            bm_chunk_t **chunk_out, size_t *page_out) {
    bm_lock_assert_held(&arena->lock);
    size_t need = npages + align_pages - 1;
    arena->run_ops++;
    /* Best fit over both sets; on a tie, backed pages (purged ones come back as page faults).
     * Preferring a longer dirty run to a fitting clean one fragmented small heaps. */
    bm_free_run_t *node = arena->ndirty ? bm_free_runs_fit(&arena->runs_dirty, need) : NULL;
    bm_free_run_t *clean = bm_free_runs_fit(&arena->runs_clean, need);
    if (!node || (clean && clean->npages < node->npages))
        node = clean;
    if (!node) {
        if (need > BM_CHUNK_PAGES - BM_CHUNK_HEADER_PAGES || !arena_chunk_new(arena))
            return false;
        node = bm_free_runs_fit(&arena->runs_clean, need); /* the new chunk's run: either set */
        if (!node)
            node = bm_free_runs_fit(&arena->runs_dirty, need);
        if (!node)
            return false;
    }
    bm_chunk_t *chunk = bm_chunk_of(node);
    size_t head = bm_page_index(node);
    bm_pagemap_t entry = chunk->map[head];
    size_t len = bm_pm_value(entry), ndirty = node->ndirty;
    free_run_remove(arena, chunk, head);
    /* Aligned as an address: a chunk on a skewed grid (internal.h) starts mid-alignment. */
    size_t skew = ((uintptr_t)chunk >> BM_LG_PAGE) & (align_pages - 1);
    size_t start = bm_align_up(head + skew, align_pages) - skew;
    /* The old head and tail entries fall inside the new pieces or the taken run: reset them
     * to plain free pages before writing the new boundaries. */
    chunk->map[head] = bm_pm_make(BM_PAGE_FREE, false, 0, 0, BM_BIN_INVALID);
    chunk->map[head + len - 1] = bm_pm_make(BM_PAGE_FREE, false, 0, 0, BM_BIN_INVALID);
    if (start > head) {
        size_t piece = start - head;
        free_run_insert(arena, chunk, head, piece, dirty_share(ndirty, piece, len));
    }
    if (head + len > start + npages) {
        size_t piece = head + len - start - npages;
        free_run_insert(arena, chunk, start + npages, piece, dirty_share(ndirty, piece, len));
    }
    chunk->nfree -= npages;
    arena->nactive += npages;
    *chunk_out = chunk;
    *page_out = start;
    return true;
}

/* Gives back pages [head, head + npages) of chunk, merging with free neighbours. The pages'
 * entries must already be FREE non-head (the caller resets them). */
void bm_arena_run_dalloc_locked(bm_arena_t *arena, bm_chunk_t *chunk, size_t head, size_t npages) {
    bm_lock_assert_held(&arena->lock);
    arena->run_ops++;
    chunk->nfree += npages;
    arena->nactive -= npages;
    /* the merged run's dirty count: a purged neighbour adds none */
    size_t ndirty = bm_state.pages_releasable ? npages : 0;
    if (head > BM_CHUNK_HEADER_PAGES) {
        bm_pagemap_t left = chunk->map[head - 1];
        if (bm_pm_kind(left) == BM_PAGE_FREE) {
            size_t lhead = head - 1 - (bm_pm_head(left) ? 0 : bm_pm_value(left));
            ndirty += ((bm_free_run_t *)bm_page_addr(chunk, lhead))->ndirty;
            free_run_remove(arena, chunk, lhead);
            chunk->map[lhead] = bm_pm_make(BM_PAGE_FREE, false, 0, 0, BM_BIN_INVALID);
            chunk->map[head - 1] = bm_pm_make(BM_PAGE_FREE, false, 0, 0, BM_BIN_INVALID);
            npages += head - lhead;
            head = lhead;
        }
    }
    size_t after = head + npages;
    if (after < BM_CHUNK_PAGES && bm_pm_kind(chunk->map[after]) == BM_PAGE_FREE) {
        bm_pagemap_t rentry = chunk->map[after];
        size_t rlen = bm_pm_value(rentry);
        ndirty += ((bm_free_run_t *)bm_page_addr(chunk, after))->ndirty;
        free_run_remove(arena, chunk, after);
        chunk->map[after] = bm_pm_make(BM_PAGE_FREE, false, 0, 0, BM_BIN_INVALID);
        chunk->map[after + rlen - 1] = bm_pm_make(BM_PAGE_FREE, false, 0, 0, BM_BIN_INVALID);
        npages += rlen;
    }
    free_run_insert(arena, chunk, head, npages, ndirty);
    if (npages == BM_CHUNK_PAGES - BM_CHUNK_HEADER_PAGES)
        arena_chunk_maybe_release(arena, chunk);
}


void *bm_arena_meta_alloc(bm_arena_t *arena, size_t npages) {
    bm_chunk_t *chunk;
    size_t head;
    void *p = NULL;
    bm_arena_lock(arena);
    if (bm_arena_run_alloc_locked(arena, npages, 1, &chunk, &head)) {
        chunk->map[head] = bm_pm_make(BM_PAGE_META, true, 0, npages, BM_BIN_INVALID);
        for (size_t i = 1; i < npages; i++)
            chunk->map[head + i] = bm_pm_make(BM_PAGE_META, false, 0, i, BM_BIN_INVALID);
        p = bm_page_addr(chunk, head);
    }
    bm_arena_unlock(arena);
    return p;
}

/* ---- large runs ----------------------------------------------------------------------------- */

/* Only the head and the tail are written: the pages between stay FREE non-head, which free()
 * rejects as not the start of a block, so a large allocation costs O(1) page map writes. The
 * tail must not look free, or the run after it would merge across it. */
static void large_run_mark(bm_chunk_t *chunk, size_t head, size_t npages, unsigned cls, size_t align) {
    chunk->map[head] = bm_pm_make(BM_PAGE_LARGE, true, 0, npages, cls);
    uint8_t bit = (uint8_t)(1u << (head % 8));
    chunk->aligned_heads[head / 8] = (uint8_t)(align > BM_PAGE ? chunk->aligned_heads[head / 8] | bit
                                                               : chunk->aligned_heads[head / 8] & ~bit);
    if (npages > 1) /* the tail keeps the alignment asked for (internal.h) */
        chunk->map[head + npages - 1] =
            bm_pm_make(BM_PAGE_LARGE, false, bm_pm_large_lg_align(align), npages - 1, BM_BIN_INVALID);
}

void *bm_arena_large_alloc(bm_arena_t *arena, unsigned cls, size_t align) {
    size_t npages = bm_classes[cls].run_pages;
    size_t align_pages = align > BM_PAGE ? align >> BM_LG_PAGE : 1;
    bm_chunk_t *chunk;
    size_t head;
    void *p = NULL;
    bm_arena_lock(arena);
    if (bm_arena_run_alloc_locked(arena, npages, align_pages, &chunk, &head)) {
        large_run_mark(chunk, head, npages, cls, align);
        BM_STAT_ADD(arena->stats.large_nmalloc, 1);
        BM_STAT_ADD(arena->stats.large_allocated, npages << BM_LG_PAGE);
        p = bm_page_addr(chunk, head);
    }
    bm_arena_unlock(arena);
    if (p)
        BM_UNPOISON(p, npages << BM_LG_PAGE);
    return p;
}

void bm_arena_large_shrink(bm_arena_t *arena, void *ptr, unsigned new_cls) {
    bm_chunk_t *chunk = bm_chunk_of(ptr);
    size_t head = bm_page_index(ptr), keep = bm_classes[new_cls].run_pages;
    bm_arena_lock(arena);
    size_t npages = bm_pm_value(chunk->map[head]);
    if (keep < npages) {
        large_run_mark(chunk, head, keep, new_cls, bm_large_align(chunk, head));
        BM_STAT_SUB(arena->stats.large_allocated, (npages - keep) << BM_LG_PAGE);
        BM_POISON(bm_page_addr(chunk, head + keep), (npages - keep) << BM_LG_PAGE);
        bm_arena_run_dalloc_locked(arena, chunk, head + keep, npages - keep);
    }
    bm_arena_unlock(arena);
}

bool bm_arena_large_grow(bm_arena_t *arena, void *ptr, unsigned new_cls) {
    bm_chunk_t *chunk = bm_chunk_of(ptr);
    size_t head = bm_page_index(ptr), want = bm_classes[new_cls].run_pages;
    bool grown = false;
    bm_arena_lock(arena);
    size_t npages = bm_pm_value(chunk->map[head]);
    size_t after = head + npages, extra = want - npages;
    if (after < BM_CHUNK_PAGES && bm_pm_kind(chunk->map[after]) == BM_PAGE_FREE &&
        bm_pm_value(chunk->map[after]) >= extra) {
        bm_pagemap_t rentry = chunk->map[after];
        size_t rlen = bm_pm_value(rentry), ndirty = ((bm_free_run_t *)bm_page_addr(chunk, after))->ndirty;
        free_run_remove(arena, chunk, after);
        chunk->map[after] = bm_pm_make(BM_PAGE_FREE, false, 0, 0, BM_BIN_INVALID);
        chunk->map[after + rlen - 1] = bm_pm_make(BM_PAGE_FREE, false, 0, 0, BM_BIN_INVALID);
        if (rlen > extra)
            free_run_insert(arena, chunk, after + extra, rlen - extra, dirty_share(ndirty, rlen - extra, rlen));
        chunk->nfree -= extra;
        arena->nactive += extra;
        large_run_mark(chunk, head, want, new_cls, bm_large_align(chunk, head));
        BM_STAT_ADD(arena->stats.large_allocated, extra << BM_LG_PAGE);
        BM_UNPOISON(bm_page_addr(chunk, after), extra << BM_LG_PAGE);
        grown = true;
    }
    bm_arena_unlock(arena);
    return grown;
}

/* O(1). The large run at ptr, a page of chunk whose entry is LARGE, goes back to the free
 * runs; anything but a run's first byte is reported and ignored (false). Lock held. */
bool bm_arena_large_dalloc_locked(bm_arena_t *arena, bm_chunk_t *chunk, void *ptr) {
    bm_lock_assert_held(&arena->lock);
    size_t page = bm_page_index(ptr);
    bm_pagemap_t entry = chunk->map[page];
    if (!bm_pm_head(entry) || ptr != bm_page_addr(chunk, page)) {
        bm_report("free of a pointer that is not the start of a block (inside a large block)", ptr);
        return false;
    }
    size_t npages = bm_pm_value(entry);
    BM_STAT_ADD(arena->stats.large_ndalloc, 1);
    BM_STAT_SUB(arena->stats.large_allocated, npages << BM_LG_PAGE);
    BM_POISON(ptr, npages << BM_LG_PAGE);
    chunk->map[page] = bm_pm_make(BM_PAGE_FREE, false, 0, 0, BM_BIN_INVALID);
    bm_arena_run_dalloc_locked(arena, chunk, page, npages);
    return true;
}

/* ---- purging ---------------------------------------------------------------------------------- */

static size_t purge_run_locked(bm_arena_t *arena, bm_free_run_t *run) {
    bm_chunk_t *chunk = bm_chunk_of(run);
    size_t head = bm_page_index(run);
    bm_pagemap_t entry = chunk->map[head];
    if (!bm_pm_dirty(entry))
        return 0;
    size_t npages = bm_pm_value(entry);
    bm_region_t *r = bm_region_of(chunk);
    /* The first page keeps the run's list links; the rest can go. */
    if (npages > 1 && r && r->source.release)
        r->source.release(r->source.ctx, bm_page_addr(chunk, head + 1), (npages - 1) << BM_LG_PAGE);
    size_t counted = run->ndirty;
    free_run_remove(arena, chunk, head);
    free_run_insert(arena, chunk, head, npages, 0); /* refiled clean */
    return counted;
}

size_t bm_arena_purge_oldest_locked(bm_arena_t *arena, size_t target, unsigned max_runs, bm_stat_t min_age) {
    bm_lock_assert_held(&arena->lock);
    size_t purged = 0;
    for (unsigned n = 0; n < max_runs && arena->ndirty > target; n++) {
        bm_free_run_t *oldest = arena->dirty_runs.dirty_next;
        if (oldest == &arena->dirty_runs || arena->run_ops - oldest->dirty_since < min_age)
            break;
        purged += purge_run_locked(arena, oldest);
    }
    if (purged) {
        BM_STAT_ADD(arena->stats.npurge, 1);
        BM_STAT_ADD(arena->stats.purged, purged);
    }
    return purged;
}

size_t bm_arena_purge(bm_arena_t *arena, size_t keep_dirty) {
    bm_arena_lock(arena);
    size_t purged = bm_arena_purge_oldest_locked(arena, keep_dirty, ~0u, 0);
    bm_arena_unlock(arena);
    return purged;
}

/* ---- the purge policy ------------------------------------------------------------------------- */

/* The live purge policy (arenas.dirty_max/dirty_min/purge write it; opt.* keep the start-up
 * values). Relaxed atomics: a reader only needs whole values. */
static unsigned purge_dirty_max_pct;
static size_t purge_dirty_min_pages;
static unsigned purge_mode; /* 0 sync, 1 idle */

/* O(regions) (the pool's part takes pool_lock). After a policy change: the unlock's trigger,
 * and whether slow paths release pooled chunks (sync mode, releasable pages, not retain). */
static void purge_trigger_update(void) {
    /* Page sources that cannot take pages back (a static heap) make sync purging pure cost. */
    bool sync = bm_state.pages_releasable && __atomic_load_n(&purge_mode, __ATOMIC_RELAXED) == 0;
    size_t trigger = sync ? __atomic_load_n(&purge_dirty_min_pages, __ATOMIC_RELAXED) : SIZE_MAX;
    __atomic_store_n(&purge_trigger, trigger, __ATOMIC_RELAXED);
    bm_pool_decay_enable(sync && !bm_state.opt.retain);
}

/* O(1). From bm_init, once the options are read. */
void bm_purge_policy_init(void) {
    purge_dirty_max_pct = bm_state.opt.dirty_max_pct;
    purge_dirty_min_pages = bm_state.opt.dirty_min >> BM_LG_PAGE;
    purge_mode = bm_state.opt.purge;
    purge_age = bm_state.opt.purge_age;
    purge_trigger_update();
}

size_t bm_purge_get(bm_purge_param_t which) {
    switch (which) {
    case BM_PURGE_DIRTY_MAX:
        return __atomic_load_n(&purge_dirty_max_pct, __ATOMIC_RELAXED);
    case BM_PURGE_DIRTY_MIN:
        return __atomic_load_n(&purge_dirty_min_pages, __ATOMIC_RELAXED) << BM_LG_PAGE;
    case BM_PURGE_AGE:
        return __atomic_load_n(&purge_age, __ATOMIC_RELAXED);
    default:
        return __atomic_load_n(&purge_mode, __ATOMIC_RELAXED);
    }
}

int bm_purge_set(bm_purge_param_t which, size_t value) {
    switch (which) {
    case BM_PURGE_DIRTY_MAX:
        if (value > 1000)
            return BM_EINVAL;
        __atomic_store_n(&purge_dirty_max_pct, (unsigned)value, __ATOMIC_RELAXED);
        break;
    case BM_PURGE_DIRTY_MIN:
        __atomic_store_n(&purge_dirty_min_pages, value >> BM_LG_PAGE, __ATOMIC_RELAXED);
        break;
    case BM_PURGE_AGE:
        if (value > UINT32_MAX)
            return BM_EINVAL;
        __atomic_store_n(&purge_age, (unsigned)value, __ATOMIC_RELAXED);
        break;
    default:
        if (value > 1)
            return BM_EINVAL;
        __atomic_store_n(&purge_mode, (unsigned)value, __ATOMIC_RELAXED);
        break;
    }
    purge_trigger_update();
    return 0;
}

size_t bm_purge_bound_locked(const bm_arena_t *arena) {
    size_t bound = arena->nactive / 100 * __atomic_load_n(&purge_dirty_max_pct, __ATOMIC_RELAXED) +
                   arena->nactive % 100 * __atomic_load_n(&purge_dirty_max_pct, __ATOMIC_RELAXED) / 100;
    size_t floor = __atomic_load_n(&purge_dirty_min_pages, __ATOMIC_RELAXED);
    return bound > floor ? bound : floor;
}

static void purge_excess_locked(bm_arena_t *arena) {
    size_t bound = bm_purge_bound_locked(arena);
    if (arena->ndirty > bound)
        bm_arena_purge_oldest_locked(arena, bound, BM_PURGE_SYNC_RUNS, __atomic_load_n(&purge_age, __ATOMIC_RELAXED));
}

