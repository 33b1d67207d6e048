/*
 * Arenas: chunks, page runs, small runs and bins.
 *
 * Invariants (checked by bm_check):
 *  - the pages of a chunk are tiled by runs: each run's head entry holds its length; every
 *    page of a SMALL run holds its class, its distance to the head and its phase;
 *  - a FREE run's head and tail entries are exact, its first page holds its list links, and
 *    no page inside it is marked SMALL or a LARGE head; two FREE runs never touch;
 *  - every FREE run is on the arena's list for its length, the bitmap marks exactly the
 *    non-empty lists, and the run's copy of its length matches its head entry;
 *  - the arena's dirty list holds exactly its dirty FREE runs, in the order they became dirty;
 *  - chunk->nfree is the number of pages in FREE runs; arena->ndirty the sum of the free runs'
 *    dirty counts. A run's count is exact when it is freed (all its pages) and when merged
 *    (a purged neighbour adds none); a split gives each piece its share rounded up, so a
 *    piece of a dirty run is never counted clean (pages that may be backed are never lost to
 *    purging), at worst a page over per piece;
 *  - a small run's nfree equals the set bits of its bitmap; a run with free regions that is
 *    not its bin's current run is in the bin's non-full tree, and a full run is in no tree.
 */
#include "internal.h"

void bm_arena_lock(bm_arena_t *arena) {
    bool contended = bm_lock_acquire(&arena->lock);
    BM_STAT_ADD(arena->stats.lock_acquisitions, 1);
    if (contended)
        BM_STAT_ADD(arena->stats.lock_contended, 1);
}

void bm_arena_unlock(bm_arena_t *arena) {
    bm_arena_unlock_hook(arena); /* peak tracking and ratio purging (internal.h) */
    bm_lock_release(&arena->lock);
}

void bm_arena_init(bm_arena_t *arena, unsigned index, unsigned node) {
    bm_lock_init(&arena->lock);
    arena->dirty_runs.dirty_next = arena->dirty_runs.dirty_prev = &arena->dirty_runs;
    arena->index = index;
    arena->node = node;
}

/* ---- free page runs ------------------------------------------------------------------------ */

BM_INLINE void free_runs_mark(bm_free_runs_t *runs, size_t len) {
    size_t w = len / BM_BITMAP_BITS;
    runs->nonempty[w] |= (uintptr_t)1 << (len % BM_BITMAP_BITS);
    runs->summary |= (uintptr_t)1 << w;
}

BM_INLINE void free_runs_unmark(bm_free_runs_t *runs, size_t len) {
    size_t w = len / BM_BITMAP_BITS;
    runs->nonempty[w] &= ~((uintptr_t)1 << (len % BM_BITMAP_BITS));
    if (!runs->nonempty[w])
        runs->summary &= ~((uintptr_t)1 << w);
}

void bm_free_runs_insert(bm_free_runs_t *runs, bm_free_run_t *run, size_t npages) {
    bm_free_run_t *head = runs->heads[npages];
    run->npages = npages;
    run->prev = NULL;
    run->next = head;
    if (head)
        head->prev = run;
    else
        free_runs_mark(runs, npages);
    runs->heads[npages] = run;
    runs->count++;
}

void bm_free_runs_remove(bm_free_runs_t *runs, bm_free_run_t *run) {
    if (run->prev)
        run->prev->next = run->next;
    else if (!(runs->heads[run->npages] = run->next))
        free_runs_unmark(runs, run->npages);
    if (run->next)
        run->next->prev = run->prev;
    runs->count--;
}

/* The smallest length >= len that has a run, or 0. */
static size_t free_runs_length_at_least(const bm_free_runs_t *runs, size_t len) {
    if (len >= BM_FREE_RUN_LISTS)
        return 0;
    size_t w = len / BM_BITMAP_BITS;
    uintptr_t bits = runs->nonempty[w] & (~(uintptr_t)0 << (len % BM_BITMAP_BITS));
    if (!bits) {
        /* Words above w: shifting by w + 1 is defined because w + 1 <= BM_FREE_RUN_WORDS. */
        uintptr_t above = w + 1 < BM_BITMAP_BITS ? runs->summary & (~(uintptr_t)0 << (w + 1)) : 0;
        if (!above)
            return 0;
        w = bm_ctz(above);
        bits = runs->nonempty[w];
    }
    return w * BM_BITMAP_BITS + bm_ctz(bits);
}

bm_free_run_t *bm_free_runs_fit(const bm_free_runs_t *runs, size_t npages) {
    size_t len = free_runs_length_at_least(runs, npages ? npages : 1);
    return len ? runs->heads[len] : NULL;
}

bm_free_run_t *bm_free_runs_first(const bm_free_runs_t *runs, size_t npages) {
    return bm_free_runs_fit(runs, npages);
}

bm_free_run_t *bm_free_runs_next(const bm_free_runs_t *runs, const bm_free_run_t *run) {
    if (run->next)
        return run->next;
    size_t len = free_runs_length_at_least(runs, run->npages + 1);
    return len ? runs->heads[len] : NULL;
}

size_t bm_free_runs_largest(const bm_free_runs_t *runs) {
    if (!runs->summary)
        return 0;
    size_t w = BM_FREE_RUN_WORDS;
    while (!runs->nonempty[--w]) {
    }
    uintptr_t bits = runs->nonempty[w];
    unsigned top = 0;
    while (bits >>= 1) /* statistics only: a loop instead of a count-leading-zeros helper */
        top++;
    return w * BM_BITMAP_BITS + top;
}

size_t bm_arena_largest_free(const bm_arena_t *arena) {
    size_t dirty = bm_free_runs_largest(&arena->runs_dirty), clean = bm_free_runs_largest(&arena->runs_clean);
    return dirty > clean ? dirty : clean;
}

long bm_free_runs_validate(const bm_free_runs_t *runs) {
    size_t total = 0;
    for (size_t len = 0; len < BM_FREE_RUN_LISTS; len++) {
        const bm_free_run_t *prev = NULL;
        for (const bm_free_run_t *r = runs->heads[len]; r; prev = r, r = r->next) {
            if (r->npages != len || r->prev != prev || ++total > runs->count)
                return -1;
        }
        bool marked = (runs->nonempty[len / BM_BITMAP_BITS] >> (len % BM_BITMAP_BITS)) & 1;
        if (marked != (runs->heads[len] != NULL))
            return -1;
    }
    for (size_t w = 0; w < BM_FREE_RUN_WORDS; w++)
        if (((runs->summary >> w) & 1) != (runs->nonempty[w] != 0))
            return -1;
    return total == runs->count ? (long)total : -1;
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
static void pages_mark_free(bm_chunk_t *chunk, size_t head, size_t npages) {
    const bm_pagemap_t value = bm_pm_make(BM_PAGE_FREE, false, 0, 0, BM_BIN_INVALID);
    bm_pagemap_t *entry = &chunk->map[head];
    for (; npages >= 4; npages -= 4, entry += 4)
        entry[0] = entry[1] = entry[2] = entry[3] = value;
    for (; npages; npages--)
        *entry++ = value;
}

void bm_chunk_init(bm_chunk_t *chunk, bm_arena_t *arena, size_t meta_pages) {
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
    pages_mark_free(chunk, first_free, BM_CHUNK_PAGES - first_free);
    chunk->nfree = BM_CHUNK_PAGES - first_free;
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

static bm_chunk_t *arena_chunk_new(bm_arena_t *arena) {
    bm_chunk_t *chunk = bm_chunks_alloc(1, BM_CHUNK, arena->node, arena->index, BM_CT_ARENA);
    if (chunk) {
        BM_POISON(chunk, BM_CHUNK);
        bm_chunk_init(chunk, arena, 0);
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
    bm_chunk_t *spare = arena->spare;
    if (BM_KEEP_SPARE_CHUNK &&
        (!spare || spare == chunk || spare->nfree != BM_CHUNK_PAGES - BM_CHUNK_HEADER_PAGES)) {
        arena->spare = chunk;
        return;
    }
    arena_chunk_release(arena, chunk);
}

void bm_arena_release_spare(bm_arena_t *arena) {
    const size_t all_free = BM_CHUNK_PAGES - BM_CHUNK_HEADER_PAGES;
    bm_arena_lock(arena);
    bm_chunk_t *spare = arena->spare;
    arena->spare = NULL;
    if (spare && spare->nfree == all_free)
        arena_chunk_release(arena, spare);
    bm_arena_unlock(arena);
}

/* Takes a run of npages whose first page index is a multiple of align_pages; on return the
 * run's pages are still marked FREE (non-head) and the caller writes their entries. */
static bool arena_run_alloc(bm_arena_t *arena, size_t npages, size_t align_pages,
                            bm_chunk_t **chunk_out, size_t *page_out) {
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
        node = bm_free_runs_fit(&arena->runs_clean, need);
        if (!node)
            return false;
    }
    bm_chunk_t *chunk = bm_chunk_of(node);
    size_t head = bm_page_index(node);
    bm_pagemap_t entry = chunk->map[head];
    size_t len = bm_pm_value(entry), ndirty = node->ndirty;
    free_run_remove(arena, chunk, head);
    size_t start = bm_align_up(head, align_pages);
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
static void arena_run_dalloc(bm_arena_t *arena, bm_chunk_t *chunk, size_t head, size_t npages) {
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
    if (arena_run_alloc(arena, npages, 1, &chunk, &head)) {
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
static void large_run_mark(bm_chunk_t *chunk, size_t head, size_t npages, unsigned cls) {
    chunk->map[head] = bm_pm_make(BM_PAGE_LARGE, true, 0, npages, cls);
    if (npages > 1)
        chunk->map[head + npages - 1] = bm_pm_make(BM_PAGE_LARGE, false, 0, npages - 1, BM_BIN_INVALID);
}

void *bm_arena_large_alloc(bm_arena_t *arena, unsigned cls, size_t align) {
    size_t npages = bm_classes[cls].run_pages;
    size_t align_pages = align > BM_PAGE ? align >> BM_LG_PAGE : 1;
    bm_chunk_t *chunk;
    size_t head;
    void *p = NULL;
    bm_arena_lock(arena);
    if (arena_run_alloc(arena, npages, align_pages, &chunk, &head)) {
        large_run_mark(chunk, head, npages, cls);
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
        large_run_mark(chunk, head, keep, new_cls);
        BM_STAT_SUB(arena->stats.large_allocated, (npages - keep) << BM_LG_PAGE);
        BM_POISON(bm_page_addr(chunk, head + keep), (npages - keep) << BM_LG_PAGE);
        arena_run_dalloc(arena, chunk, head + keep, npages - keep);
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
        large_run_mark(chunk, head, want, new_cls);
        BM_STAT_ADD(arena->stats.large_allocated, extra << BM_LG_PAGE);
        BM_UNPOISON(bm_page_addr(chunk, after), extra << BM_LG_PAGE);
        grown = true;
    }
    bm_arena_unlock(arena);
    return grown;
}

/* ---- small runs and bins -------------------------------------------------------------------- */

static bm_run_t *arena_small_run_new(bm_arena_t *arena, unsigned cls) {
    const bm_class_info_t *ci = &bm_classes[cls];
    bm_chunk_t *chunk;
    size_t head;
    if (!arena_run_alloc(arena, ci->run_pages, 1, &chunk, &head))
        return NULL;
    /* phase: how far each page's start is past the last region boundary before it; page 0
     * starts reg0 before region 0, and each page moves it on by a page (mod size). */
    uint32_t phase = (ci->size - ci->reg0 % ci->size) % ci->size, step = (uint32_t)(BM_PAGE % ci->size);
    chunk->map[head] = bm_pm_make(BM_PAGE_SMALL, true, phase, 0, cls);
    /* The other entries step the packed fields of one word (distance +1, phase +step mod size)
     * instead of packing each afresh: a 10-page run's set-up was most of the worst-case
     * malloc on the Cortex-M3. */
    bm_pagemap_t entry = bm_pm_make(BM_PAGE_SMALL, false, phase, 0, cls);
    const bm_pagemap_t next = ((bm_pagemap_t)1 << BM_PM_VALUE_SHIFT) + (step << BM_PM_PHASE_SHIFT);
    const bm_pagemap_t wrap = (bm_pagemap_t)ci->size << BM_PM_PHASE_SHIFT;
    for (size_t j = 1; j < ci->run_pages; j++) {
        phase += step;
        entry += next;
        if (phase >= ci->size) {
            phase -= ci->size;
            entry -= wrap;
        }
        chunk->map[head + j] = entry;
    }
    bm_run_t *run = bm_page_addr(chunk, head);
    BM_POISON(run, ci->run_pages << BM_LG_PAGE);
    BM_UNPOISON(run, ci->reg0);
    run->cls = (uint16_t)cls;
    run->nfree = (uint16_t)ci->nregs;
    size_t words = BM_BITMAP_WORDS(ci->nregs);
    for (size_t w = 0; w < words; w++) {
        size_t bits = ci->nregs - w * BM_BITMAP_BITS;
        run->bitmap[w] = bits >= BM_BITMAP_BITS ? ~(uintptr_t)0 : (((uintptr_t)1 << bits) - 1);
    }
    bm_bin_t *bin = &arena->bins[cls];
    BM_STAT_ADD(bin->stats.nruns, 1);
    BM_STAT_ADD(bin->stats.curruns, 1);
    return run;
}

/* The run to take regions from: the current one if it has room, else the lowest-address
 * non-full run, else a new one. */
static bm_run_t *bin_current_run(bm_arena_t *arena, bm_bin_t *bin, unsigned cls) {
    bm_run_t *run = bin->current;
    if (run && run->nfree)
        return run;
    bm_rbnode_t *lowest = bm_rb_first(&bin->nonfull);
    if (lowest) {
        bm_rb_remove(&bin->nonfull, lowest);
        run = (bm_run_t *)lowest;
    } else {
        run = arena_small_run_new(arena, cls);
    }
    bin->current = run;
    return run;
}

unsigned bm_arena_bin_fill(bm_arena_t *arena, unsigned cls, void **out, unsigned n) {
    const bm_class_info_t *ci = &bm_classes[cls];
    bm_bin_t *bin = &arena->bins[cls];
    unsigned got = 0;
    while (got < n) {
        bm_run_t *run = bin_current_run(arena, bin, cls);
        if (!run)
            break;
        char *reg0 = (char *)run + ci->reg0;
        size_t words = BM_BITMAP_WORDS(ci->nregs);
        for (size_t w = 0; w < words && got < n && run->nfree; w++) {
            uintptr_t bits = run->bitmap[w];
            while (bits && got < n) {
                unsigned bit = bm_ctz(bits);
                bits &= bits - 1;
                out[got++] = reg0 + (w * BM_BITMAP_BITS + bit) * ci->size;
                run->nfree--;
            }
            run->bitmap[w] = bits;
        }
    }
    BM_STAT_ADD(bin->stats.nmalloc, got);
    BM_STAT_ADD(bin->stats.curregs, got);
    BM_STAT_ADD(arena->stats.small_allocated, (size_t)got * ci->size);
    BM_STAT_ADD(bin->stats.nrequests, 1);
    return got;
}

/* An empty small run (not current, in no tree) gives its pages back. */
static void small_run_dalloc(bm_arena_t *arena, bm_bin_t *bin, bm_run_t *run) {
    bm_chunk_t *chunk = bm_chunk_of(run);
    size_t head = bm_page_index(run), npages = bm_classes[run->cls].run_pages;
    BM_STAT_SUB(bin->stats.curruns, 1);
    pages_mark_free(chunk, head, npages);
    arena_run_dalloc(arena, chunk, head, npages);
}

static bool small_dalloc(bm_arena_t *arena, bm_chunk_t *chunk, size_t page, bm_pagemap_t entry,
                         void *ptr) {
    unsigned cls = bm_pm_class(entry);
    const bm_class_info_t *ci = &bm_classes[cls];
    size_t head = page - bm_pm_value(entry);
    bm_run_t *run = bm_page_addr(chunk, head);
    uintptr_t offset = (uintptr_t)ptr - ((uintptr_t)run + ci->reg0);
    /* For a multiple of the size, the divisibility test's rotated product is the exact
     * quotient (size = odd * 2^shift, inverse = odd^-1 mod 2^32): no division instruction. */
    uint32_t r = (uint32_t)offset * ci->div_inverse;
    size_t index = (r >> ci->div_shift) | (r << ((32 - ci->div_shift) & 31));
    if (offset >= (uintptr_t)ci->nregs * ci->size || index > ci->div_limit || index >= ci->nregs) {
        bm_report("free of a pointer that is not the start of a block (inside a small run)", ptr);
        return false;
    }
    uintptr_t mask = (uintptr_t)1 << (index % BM_BITMAP_BITS);
    if (run->bitmap[index / BM_BITMAP_BITS] & mask) {
        bm_report("double free of a small block", ptr);
        return false;
    }
    BM_POISON(ptr, ci->size);
    run->bitmap[index / BM_BITMAP_BITS] |= mask;
    run->nfree++;
    bm_bin_t *bin = &arena->bins[cls];
    BM_STAT_ADD(bin->stats.ndalloc, 1);
    BM_STAT_SUB(bin->stats.curregs, 1);
    BM_STAT_SUB(arena->stats.small_allocated, ci->size);
    if (run == bin->current)
        return true;
    if (run->nfree == ci->nregs) {
        /* Empty: its pages go back to the arena. It sat in the non-full tree unless it was
         * full until this free (possible only with one region per run). */
        if (ci->nregs > 1)
            bm_rb_remove(&bin->nonfull, &run->node);
        small_run_dalloc(arena, bin, run);
    } else if (run->nfree == 1) {
        /* Was full, so in no tree. Prefer the lower address as the current run. */
        if (bin->current && (uintptr_t)run < (uintptr_t)bin->current) {
            bm_run_t *old = bin->current;
            bin->current = run;
            if (old->nfree == ci->nregs)
                small_run_dalloc(arena, bin, old);
            else if (old->nfree)
                bm_rb_insert(&bin->nonfull, &old->node, bm_rb_addr_cmp);
        } else {
            bm_rb_insert(&bin->nonfull, &run->node, bm_rb_addr_cmp);
        }
    }
    return true;
}

bool bm_arena_region_is_free(bm_chunk_t *chunk, const void *ptr) {
    size_t page = bm_page_index(ptr);
    bm_pagemap_t entry = chunk->map[page];
    if (bm_pm_kind(entry) != BM_PAGE_SMALL)
        return false;
    const bm_class_info_t *ci = &bm_classes[bm_pm_class(entry)];
    bm_run_t *run = bm_page_addr(chunk, page - bm_pm_value(entry));
    size_t index = ((uintptr_t)ptr - (uintptr_t)run - ci->reg0) / ci->size;
    return (run->bitmap[index / BM_BITMAP_BITS] >> (index % BM_BITMAP_BITS)) & 1;
}

bool bm_arena_dalloc_locked(bm_arena_t *arena, bm_chunk_t *chunk, void *ptr) {
    size_t page = bm_page_index(ptr);
    bm_pagemap_t entry = chunk->map[page];
    switch (bm_pm_kind(entry)) {
    case BM_PAGE_SMALL:
        return small_dalloc(arena, chunk, page, entry, ptr);
    case BM_PAGE_LARGE:
        if (bm_pm_head(entry) && ptr == bm_page_addr(chunk, page)) {
            size_t npages = bm_pm_value(entry);
            BM_STAT_ADD(arena->stats.large_ndalloc, 1);
            BM_STAT_SUB(arena->stats.large_allocated, npages << BM_LG_PAGE);
            BM_POISON(ptr, npages << BM_LG_PAGE);
            chunk->map[page] = bm_pm_make(BM_PAGE_FREE, false, 0, 0, BM_BIN_INVALID);
            arena_run_dalloc(arena, chunk, page, npages);
            return true;
        }
        bm_report("free of a pointer that is not the start of a block (inside a large block)", ptr);
        return false;
    case BM_PAGE_META:
        bm_report("free of a pointer into the allocator's own metadata", ptr);
        return false;
    default:
        bm_report("double free, or free of a pointer never allocated (the page is free)", ptr);
        return false;
    }
}

/* ---- purging ---------------------------------------------------------------------------------- */

size_t bm_arena_purge_run(bm_arena_t *arena, bm_free_run_t *run) {
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

size_t bm_arena_purge_oldest(bm_arena_t *arena, size_t target, unsigned max_runs, bm_stat_t min_age) {
    size_t purged = 0;
    for (unsigned n = 0; n < max_runs && arena->ndirty > target; n++) {
        bm_free_run_t *oldest = arena->dirty_runs.dirty_next;
        if (oldest == &arena->dirty_runs || arena->run_ops - oldest->dirty_since < min_age)
            break;
        purged += bm_arena_purge_run(arena, oldest);
    }
    if (purged) {
        BM_STAT_ADD(arena->stats.npurge, 1);
        BM_STAT_ADD(arena->stats.purged, purged);
    }
    return purged;
}

size_t bm_arena_purge(bm_arena_t *arena, size_t keep_dirty) {
    bm_arena_lock(arena);
    size_t purged = bm_arena_purge_oldest(arena, keep_dirty, ~0u, 0);
    bm_arena_unlock(arena);
    return purged;
}
