/*
 * bm_check: walks every region, chunk, run, bin and per-core cache and checks the invariants
 * written at the top of chunk.c, arena.c and cache.c. Each violation is reported through the
 * error hook with the address concerned; the return value is how many were found.
 *
 * Objects held in per-core caches are marked while they are checked (the bitmap bit of a small
 * region is set, the dirty bit of a large run's head entry is set) and unmarked at the end, so
 * an object cached twice, or cached while free, is found in O(cached objects).
 */
#include "ext.h"

typedef struct check_ctx {
    unsigned errors;
    size_t free_runs[BM_MAX_ARENAS];
    size_t nonfull_runs[BM_MAX_ARENAS][BM_NSMALL];
    size_t empty_runs[BM_MAX_ARENAS][BM_NSMALL]; /* real-time profile: retained, not current */
    bm_stat_t live_regions[BM_MAX_ARENAS][BM_NSMALL];
    bm_stat_t small_runs[BM_MAX_ARENAS][BM_NSMALL];
    /* the same for each object cache's bin (index: its id) */
    size_t owner_nonfull[BM_MAX_ARENAS][BM_MAX_OBJCACHES + 1];
    size_t owner_empty[BM_MAX_ARENAS][BM_MAX_OBJCACHES + 1];
    bm_stat_t owner_live[BM_MAX_ARENAS][BM_MAX_OBJCACHES + 1];
    bm_stat_t owner_runs[BM_MAX_ARENAS][BM_MAX_OBJCACHES + 1];
    size_t dirty_pages[BM_MAX_ARENAS];
    size_t dirty_runs[BM_MAX_ARENAS];
    size_t active_pages[BM_MAX_ARENAS];
    size_t large_bytes[BM_MAX_ARENAS];
    size_t huge_bytes[BM_MAX_ARENAS];
    size_t arena_chunks[BM_MAX_ARENAS];
} check_ctx_t;

static check_ctx_t check_ctx; /* static: too big for small stacks; bm_check is not reentrant */

/* Cached objects found bad while marking: the unmarking pass must leave them alone. */
#define CHECK_BAD_MAX 64
static void *check_bad[CHECK_BAD_MAX];
static unsigned check_nbad;

/* O(CHECK_BAD_MAX). Whether the verify pass found obj bad; any obj (compared, never read).
 * bm_check's context: every lock held, interrupts masked. */
static bool check_is_bad(const void *obj) {
    for (unsigned i = 0; i < check_nbad; i++)
        if (check_bad[i] == obj)
            return true;
    return false;
}

/* O(1). Counts and reports a violation when !ok (what and where go to the error hook as they
 * are); returns ok. Every lock held (bm_check), interrupts masked. */
static bool expect(check_ctx_t *ctx, bool ok, const char *what, const void *where) {
    if (!ok) {
        ctx->errors++;
        bm_report(what, where);
    }
    return ok;
}

/* O(run pages + bitmap words). The small run whose head is page head: its page map entries,
 * header and bitmap; a bad class is reported and ends the check. Every lock held (bm_check). */
/* O(1). The class of the small run at head: its page map's, or for an object cache's run (whose
 * entries hold BM_BIN_INVALID) its header's; BM_BIN_INVALID when neither is a small class. */
static unsigned small_run_class(bm_chunk_t *chunk, size_t head) {
    unsigned cls = bm_pm_class(chunk->map[head]);
    if (cls == BM_BIN_INVALID)
        cls = ((bm_run_t *)bm_page_addr(chunk, head))->cls;
    return cls < BM_NSMALL ? cls : BM_BIN_INVALID;
}

/* O(1). Whether an object cache's run (owner byte owner, class cls) belongs to a live cache of
 * that class: objects of one cache never sit in another's run or in malloc's. */
static bool owner_is_live_cache(unsigned owner, unsigned cls) {
    const bm_objcache_t *oc = owner <= BM_MAX_OBJCACHES ? bm_objcache_table[owner] : NULL;
    return oc && oc->live && oc->id == owner && oc->cls == cls;
}

/* O(run pages + regions). One small run checked and counted; whether it is an empty run its
 * bin keeps (real-time profile). Violations reported. Every lock held (bm_check). */
static bool check_small_run(check_ctx_t *ctx, bm_arena_t *arena, bm_chunk_t *chunk, size_t head) {
    unsigned cls = small_run_class(chunk, head);
    if (!expect(ctx, cls < BM_NSMALL, "check: small run with a bad class", bm_page_addr(chunk, head)))
        return false;
    const bm_class_info_t *ci = &bm_classes[cls];
    bm_run_t *run = bm_page_addr(chunk, head);
    unsigned owner = run->owner;
    if (owner && !expect(ctx, owner_is_live_cache(owner, cls),
                         "check: small run owned by no live object cache of its class", run))
        return false;
    unsigned pm_cls = owner ? BM_BIN_INVALID : cls;
    for (size_t j = 0; j < ci->run_pages; j++) {
        bm_pagemap_t e = chunk->map[head + j];
        /* the page's first region boundary (internal.h): region 0 on the head page */
        long ahead = (long)ci->reg0 - (long)(j << BM_LG_PAGE);
        unsigned phase = (unsigned)(ahead >= 0 ? ahead : ((ahead % (long)ci->size) + (long)ci->size) % (long)ci->size);
        expect(ctx, bm_pm_kind(e) == BM_PAGE_SMALL && bm_pm_class(e) == pm_cls && bm_pm_value(e) == j &&
                        bm_pm_phase(e) == phase && bm_pm_head(e) == (j == 0),
               "check: page map entry of a small run is wrong", bm_page_addr(chunk, head + j));
    }
    expect(ctx, run->cls == cls, "check: small run header has the wrong class", run);
    unsigned nfree = 0;
    size_t words = BM_BITMAP_WORDS(ci->nregs);
    for (size_t w = 0; w < words; w++) {
        uintptr_t bits = run->bitmap[w];
        size_t valid = ci->nregs - w * BM_BITMAP_BITS;
        if (valid < BM_BITMAP_BITS)
            expect(ctx, (bits >> valid) == 0, "check: run bitmap has bits past the last region", run);
        nfree += bm_popcount(bits);
    }
    expect(ctx, nfree == run->nfree, "check: run nfree differs from its bitmap", run);
    bm_bin_t *bin = bm_run_bin(arena, run);
    unsigned a = arena->index;
    *(owner ? &ctx->owner_live[a][owner] : &ctx->live_regions[a][cls]) += ci->nregs - run->nfree;
    (*(owner ? &ctx->owner_runs[a][owner] : &ctx->small_runs[a][cls]))++;
    if (run == bin->current)
        return false;
    bool kept = run->nfree == ci->nregs;
    if (kept)
        (*(owner ? &ctx->owner_empty[a][owner] : &ctx->empty_runs[a][cls]))++;
    expect(ctx, BM_REALTIME || !kept, "check: empty small run kept (should have been freed)", run);
    if (run->nfree && !kept)
        (*(owner ? &ctx->owner_nonfull[a][owner] : &ctx->nonfull_runs[a][cls]))++;
    return kept;
}

/* O(n). The free run of n pages at head (after_free: the run before it is free too, a missed
 * merge); returns n. Violations reported. Every lock held (bm_check). */
static size_t check_free_run(check_ctx_t *ctx, bm_arena_t *arena, bm_chunk_t *chunk, size_t head,
                             size_t n, bool after_free) {
    void *where = bm_page_addr(chunk, head);
    expect(ctx, !after_free, "check: two free runs touch (should have been merged)", where);
    if (n > 1) {
        bm_pagemap_t tail = chunk->map[head + n - 1];
        expect(ctx, bm_pm_kind(tail) == BM_PAGE_FREE && !bm_pm_head(tail) && bm_pm_value(tail) == n - 1,
               "check: free run tail entry is wrong", where);
    }
    for (size_t j = 1; j + 1 < n; j++) {
        bm_pagemap_t e = chunk->map[head + j];
        expect(ctx, !bm_pm_head(e) && bm_pm_kind(e) != BM_PAGE_SMALL && bm_pm_class(e) == BM_BIN_INVALID,
               "check: a page inside a free run looks allocated", bm_page_addr(chunk, head + j));
    }
    expect(ctx, ((bm_free_run_t *)where)->npages == n, "check: free run node length differs from its page map",
           where);
    ctx->free_runs[arena->index]++;
    size_t ndirty = ((bm_free_run_t *)where)->ndirty;
    expect(ctx, bm_pm_dirty(chunk->map[head]) ? ndirty >= 1 && ndirty <= n : ndirty == 0,
           "check: free run dirty count out of range (1..length if dirty, else 0)", where);
    if (bm_pm_dirty(chunk->map[head]))
        ctx->dirty_pages[arena->index] += ndirty, ctx->dirty_runs[arena->index]++;
    return n;
}

/* O(chunk pages). Walks an arena chunk's page map run by run; a corrupt header or a map that
 * does not tile the chunk is reported and ends the walk. Every lock held (bm_check). */
/* O(regions). Pages a region's partial last chunk lacks (META for good, not active), or 0. */
static size_t pages_missing(const bm_chunk_t *chunk) {
    const bm_region_t *r = bm_region_of(chunk);
    if (!r || !r->tail_pages || (uintptr_t)chunk != (uintptr_t)bm_region_chunk(r, bm_region_whole_chunks(r)))
        return 0;
    return bm_region_missing_pages(r);
}

static void check_chunk(check_ctx_t *ctx, bm_arena_t *arena, bm_chunk_t *chunk) {
    if (!expect(ctx, chunk->magic == BM_CHUNK_MAGIC && chunk->arena == arena,
                "check: arena chunk header is corrupt", chunk))
        return;
    ctx->arena_chunks[arena->index]++;
    size_t nfree = 0, page = 0, retained = 0;
    bool prev_free = false;
    while (page < BM_CHUNK_PAGES) {
        bm_pagemap_t e = chunk->map[page];
        size_t n = bm_pm_value(e);
        if (bm_pm_kind(e) == BM_PAGE_SMALL) { /* small pages hold their distance to the head */
            unsigned cls = bm_pm_head(e) ? small_run_class(chunk, page) : BM_BIN_INVALID;
            n = cls < BM_NSMALL ? bm_classes[cls].run_pages : 0;
        }
        if (!expect(ctx, bm_pm_head(e) && n >= 1 && page + n <= BM_CHUNK_PAGES,
                    "check: page map does not tile the chunk with runs", bm_page_addr(chunk, page)))
            return;
        switch (bm_pm_kind(e)) {
        case BM_PAGE_FREE:
            nfree += check_free_run(ctx, arena, chunk, page, n, prev_free);
            prev_free = true;
            page += n;
            continue;
        case BM_PAGE_SMALL:
            if (check_small_run(ctx, arena, chunk, page))
                retained += n;
            break;
        case BM_PAGE_LARGE:
            expect(ctx, bm_pm_class(e) >= BM_NSMALL && bm_pm_class(e) < BM_NCLASSES &&
                            bm_classes[bm_pm_class(e)].run_pages == n,
                   "check: large run length differs from its class", bm_page_addr(chunk, page));
            expect(ctx, ((uintptr_t)bm_page_addr(chunk, page) & (bm_large_align(chunk, page) - 1)) == 0,
                   "check: large run not aligned as its page map entry records", bm_page_addr(chunk, page));
            if (n > 1)
                expect(ctx, bm_pm_kind(chunk->map[page + n - 1]) == BM_PAGE_LARGE,
                       "check: large run tail entry is wrong", bm_page_addr(chunk, page));
            for (size_t j = 1; j < n; j++)
                expect(ctx, !bm_pm_head(chunk->map[page + j]) && bm_pm_kind(chunk->map[page + j]) != BM_PAGE_SMALL,
                       "check: a page inside a large run is marked as a run start", bm_page_addr(chunk, page + j));
            ctx->large_bytes[arena->index] += n << BM_LG_PAGE;
            break;
        default:
            for (size_t j = 1; j < n; j++)
                expect(ctx, bm_pm_kind(chunk->map[page + j]) == BM_PAGE_META,
                       "check: metadata run has a foreign page", bm_page_addr(chunk, page + j));
            break;
        }
        bool beyond_the_source = page + n == BM_CHUNK_PAGES && n == pages_missing(chunk);
        if (page >= BM_CHUNK_HEADER_PAGES && !beyond_the_source)
            ctx->active_pages[arena->index] += n;
        prev_free = false;
        page += n;
    }
    expect(ctx, nfree == chunk->nfree, "check: chunk free page count is wrong", chunk);
    expect(ctx, !BM_REALTIME || retained == chunk->nretained, "check: chunk's count of kept empty run pages is wrong", chunk);
}


/* O(dirty spans), bounded by the count the table walk found. r's dirty list: each entry a
 * dirty pool span head of r, linked both ways, and together dirty_spans spans of dirty_chunks
 * chunks, the count r->pool_dirty keeps. Every lock held (bm_check). */
static void check_pool_dirty_list(check_ctx_t *ctx, bm_region_t *r, size_t dirty_spans, size_t dirty_chunks) {
    size_t spans = 0, chunks = 0;
    const bm_pool_span_t *prev = NULL;
    for (const bm_pool_span_t *span = r->dirty_oldest; span; prev = span, span = span->dirty_next) {
        size_t index = ((uintptr_t)span - r->base) >> BM_LG_CHUNK;
        bool ok = (uintptr_t)span - r->base < (r->ngranted << BM_LG_CHUNK) &&
                  bm_ct_type(r->table[index]) == BM_CT_POOL && bm_ct_head(r->table[index]) && span->dirty &&
                  span->dirty_prev == prev && ++spans <= dirty_spans;
        if (!expect(ctx, ok, "check: pool dirty list holds something that is not a dirty pool span", span))
            return;
        expect(ctx, span->dirty_lo < span->dirty_hi && span->dirty_hi <= span->nchunks,
               "check: pool span's dirty range is not inside it", span);
        chunks += span->dirty_hi - span->dirty_lo;
    }
    expect(ctx, r->dirty_newest == prev, "check: pool dirty list's newest entry is wrong", (void *)r->base);
    expect(ctx, spans == dirty_spans, "check: pool dirty list misses dirty spans", (void *)r->base);
    expect(ctx, chunks == dirty_chunks && r->pool_dirty == dirty_chunks, "check: pool dirty chunk count is wrong",
           (void *)r->base);
}

/* O(granted chunks + arena chunks x chunk pages + pool spans). Walks r's chunk table span by
 * span, then its pool tree and dirty list; a table that does not tile is reported and ends the
 * walk. Every lock held (bm_check). */
static void check_region(check_ctx_t *ctx, bm_region_t *r) {
    size_t index = 0, pool_spans = 0, pool_chunks = 0, dirty_spans = 0, dirty_chunks = 0;
    bool prev_pool = false;
    while (index < r->ngranted) {
        bm_ctentry_t e = r->table[index];
        void *chunk = bm_region_chunk(r, index);
        size_t n = bm_ct_value(e);
        if (!expect(ctx, bm_ct_head(e) && n >= 1 && index + n <= r->ngranted,
                    "check: chunk table does not tile the region with spans", chunk))
            return;
        for (size_t j = 1; j < n; j++) {
            bm_ctentry_t body = r->table[index + j];
            expect(ctx, bm_ct_type(body) == bm_ct_type(e) && !bm_ct_head(body),
                   "check: chunk table span has a foreign entry", bm_region_chunk(r, index + j));
        }
        switch (bm_ct_type(e)) {
        case BM_CT_POOL: {
            bm_pool_span_t *span = chunk;
            expect(ctx, !prev_pool, "check: two pool spans touch (should have been merged)", chunk);
            expect(ctx, span->nchunks == n && span->region == r, "check: pool span header is wrong", chunk);
            if (n > 1)
                expect(ctx, bm_ct_value(r->table[index + n - 1]) == n - 1, "check: pool span tail entry is wrong", chunk);
            pool_spans++;
            pool_chunks += n;
            if (span->dirty) {
                expect(ctx, r->source.release != NULL, "check: pool span dirty in a region that cannot release", chunk);
                dirty_spans++;
                dirty_chunks += span->dirty_hi - span->dirty_lo;
            }
            break;
        }
        case BM_CT_HUGE:
            for (size_t j = 1; j < n; j++)
                expect(ctx, bm_ct_value(r->table[index + j]) == j, "check: huge span entry is wrong",
                       bm_region_chunk(r, index + j));
            if (bm_ct_arena(e) < bm_state.narenas)
                ctx->huge_bytes[bm_ct_arena(e)] += n << BM_LG_CHUNK;
            break;
        case BM_CT_ARENA:
            expect(ctx, n == 1 && bm_ct_arena(e) < bm_state.narenas, "check: arena chunk entry is wrong", chunk);
            if (bm_ct_arena(e) < bm_state.narenas)
                check_chunk(ctx, bm_state.arenas[bm_ct_arena(e)], chunk);
            break;
        default:
            expect(ctx, false, "check: granted chunk marked ungranted", chunk);
            break;
        }
        for (size_t j = 0; r->maps && j < n; j++) {
            const bm_pagemap_t *own = bm_ct_type(e) == BM_CT_ARENA ? ((bm_chunk_t *)chunk)->map : bm_no_pages;
            expect(ctx, r->maps[index + j] == own,
                   "check: chunk's page-map pointer is not its own map (arena) or bm_no_pages (other)",
                   bm_region_chunk(r, index + j));
        }
        prev_pool = bm_ct_type(e) == BM_CT_POOL;
        index += n;
    }
    for (; index < r->nchunks; index++) {
        expect(ctx, bm_ct_type(r->table[index]) == BM_CT_UNGRANTED, "check: ungranted chunk has an entry",
               bm_region_chunk(r, index));
        expect(ctx, !r->maps || r->maps[index] == bm_no_pages, "check: ungranted chunk has a page map",
               bm_region_chunk(r, index));
    }
    long tree_spans = bm_rb_validate(&r->pool, bm_pool_span_cmp);
    expect(ctx, tree_spans == (long)pool_spans, "check: pool tree is broken or misses spans", (void *)r->base);
    expect(ctx, pool_chunks == r->pool_chunks, "check: pool chunk count is wrong", (void *)r->base);
    check_pool_dirty_list(ctx, r, dirty_spans, dirty_chunks);
}



/* O(free runs + chunks + non-full runs). Compares the arena's lists, trees and counters with
 * what the region walk counted in ctx; each mismatch reported. Every lock held (bm_check). */
static void check_arena(check_ctx_t *ctx, bm_arena_t *arena) {
    unsigned a = arena->index;
    long dirty_runs = bm_free_runs_validate(&arena->runs_dirty), clean_runs = bm_free_runs_validate(&arena->runs_clean);
    expect(ctx, dirty_runs >= 0 && clean_runs >= 0 && dirty_runs + clean_runs == (long)ctx->free_runs[a],
           "check: arena free-run lists are broken or miss runs", arena);
    expect(ctx, dirty_runs == (long)ctx->dirty_runs[a], "check: a run is in the wrong free-run set (dirty/clean)",
           arena);
    expect(ctx, arena->ndirty == ctx->dirty_pages[a], "check: arena dirty page count is wrong", arena);
    /* The dirty list holds exactly the dirty free runs, linked both ways, oldest first. */
    size_t listed_runs = 0, listed_pages = 0;
    const bm_free_run_t *list = &arena->dirty_runs, *prev = list;
    for (const bm_free_run_t *r = list->dirty_next; r != list && listed_runs <= ctx->dirty_runs[a];
         prev = r, r = r->dirty_next) {
        bm_pagemap_t head = bm_chunk_of(r)->map[bm_page_index(r)];
        if (!expect(ctx, r->dirty_prev == prev && bm_pm_kind(head) == BM_PAGE_FREE && bm_pm_head(head) &&
                             bm_pm_dirty(head) && bm_pm_value(head) == r->npages,
                    "check: arena dirty-run list holds a run that is not a dirty free run", r))
            break;
        listed_runs++;
        listed_pages += r->ndirty;
    }
    expect(ctx, listed_runs == ctx->dirty_runs[a] && listed_pages == arena->ndirty && list->dirty_prev == prev,
           "check: arena dirty-run list misses dirty runs or is broken", arena);
    expect(ctx, arena->nactive == ctx->active_pages[a], "check: arena active page count is wrong", arena);
    expect(ctx, arena->nchunks == ctx->arena_chunks[a], "check: arena chunk count is wrong", arena);
    expect(ctx, BM_STAT_GET(arena->stats.large_allocated) == ctx->large_bytes[a],
           "check: large bytes statistic differs from the large runs found", arena);
    expect(ctx, BM_STAT_GET(arena->stats.huge_allocated) == ctx->huge_bytes[a],
           "check: huge bytes statistic differs from the huge spans found", arena);
    size_t listed = 0;
    for (bm_chunk_t *c = arena->chunks; c && listed <= arena->nchunks; c = c->next)
        listed++;
    expect(ctx, listed == arena->nchunks, "check: arena chunk list length is wrong", arena);
    size_t retained = 0;
    for (unsigned cls = 0; cls < BM_NSMALL; cls++) {
        bm_bin_t *bin = &arena->bins[cls];
        expect(ctx, bm_bin_nonfull_count(bin) == (long)ctx->nonfull_runs[a][cls],
               "check: bin non-full tree is broken or misses runs", bin);
        expect(ctx, bm_bin_empty_count(bin) == (long)ctx->empty_runs[a][cls],
               "check: bin's retained empty runs are broken or miss runs", bin);
        retained += ctx->empty_runs[a][cls] * bm_classes[cls].run_pages;
        expect(ctx, !bin->current || bin->current->cls == cls, "check: bin current run has another class", bin);
        expect(ctx, BM_STAT_GET(bin->stats.curregs) == ctx->live_regions[a][cls],
               "check: bin live-region statistic differs from the run bitmaps", bin);
        expect(ctx, BM_STAT_GET(bin->stats.curruns) == ctx->small_runs[a][cls],
               "check: bin run statistic differs from the runs found", bin);
    }
    for (unsigned id = 1; id <= BM_MAX_OBJCACHES; id++) {
        const bm_objcache_t *oc = __atomic_load_n(&bm_objcache_table[id], __ATOMIC_ACQUIRE);
        if (!oc)
            continue;
        const bm_bin_t *bin = bm_objcache_bin(oc, a);
        expect(ctx, bm_bin_nonfull_count(bin) == (long)ctx->owner_nonfull[a][id],
               "check: object cache bin's non-full runs are broken or miss runs", bin);
        expect(ctx, bm_bin_empty_count(bin) == (long)ctx->owner_empty[a][id],
               "check: object cache bin's retained empty runs are broken or miss runs", bin);
        retained += ctx->owner_empty[a][id] * bm_classes[oc->cls].run_pages;
        expect(ctx, !bin->current || (bin->current->owner == id && bin->current->cls == oc->cls),
               "check: object cache bin's current run is another cache's or class's", bin);
        expect(ctx, BM_STAT_GET(bin->stats.curregs) == ctx->owner_live[a][id],
               "check: object cache live-object statistic differs from the run bitmaps", bin);
        expect(ctx, BM_STAT_GET(bin->stats.curruns) == ctx->owner_runs[a][id],
               "check: object cache run statistic differs from the runs found", bin);
        expect(ctx, oc->live || (!bin->current && ctx->owner_runs[a][id] == 0),
               "check: a destroyed object cache still has runs", bin);
    }
    expect(ctx, retained == arena->nretained_pages, "check: arena's count of retained empty runs' pages is wrong", arena);
}

enum { CACHE_VERIFY, CACHE_MARK, CACHE_UNMARK };

/* The word and bit that mark a cached object: a small region's bitmap bit (clear while the
 * region is allocated), or the spare bit of a large run's head entry. NULL if obj is bad
 * (reported). O(regions) to classify it; every lock held (bm_check). */
static bm_pagemap_t *cached_object_flag(check_ctx_t *ctx, unsigned owner, unsigned cls, void *obj,
                                        uintptr_t **word, uintptr_t *bit) {
    bm_ptr_info_t info;
    bm_ptr_kind_t kind = bm_ptr_classify(obj, &info);
    if (owner) /* an object cache's stack: objects of its own runs only */
        kind = kind == BM_PTR_BAD && info.owner == owner ? BM_PTR_SMALL : BM_PTR_BAD;
    if (!expect(ctx, kind == BM_PTR_SMALL || kind == BM_PTR_LARGE,
                owner ? "check: object in an object cache's stack is not an object of that cache"
                      : "check: cached object is not a block in an arena chunk",
                obj) ||
        !expect(ctx, info.cls == cls, "check: cached object is not the start of a block of its bin's class", obj))
        return NULL;
    bm_chunk_t *chunk = bm_chunk_of(obj);
    size_t page = bm_page_index(obj);
    *word = NULL;
    if (kind == BM_PTR_SMALL) {
        const bm_class_info_t *ci = &bm_classes[cls];
        bm_run_t *run = bm_page_addr(chunk, page - bm_pm_value(chunk->map[page]));
        size_t index = ((uintptr_t)obj - (uintptr_t)run - ci->reg0) / ci->size;
        *word = &run->bitmap[index / BM_BITMAP_BITS];
        *bit = (uintptr_t)1 << (index % BM_BITMAP_BITS);
    }
    return &chunk->map[page];
}

/* VERIFY: each cached object is a live block of its class (bad ones are remembered).
 * MARK: sets each good object's flag; a flag already set means it is cached twice.
 * UNMARK: clears the flags again. O(regions); every lock held (bm_check). */
static void check_cached_object(check_ctx_t *ctx, unsigned owner, unsigned cls, void *obj, int pass) {
    if (pass != CACHE_VERIFY && check_is_bad(obj))
        return;
    uintptr_t *word, bit;
    bm_pagemap_t *entry = cached_object_flag(ctx, owner, cls, obj, &word, &bit);
    if (!entry) {
        if (check_nbad < CHECK_BAD_MAX)
            check_bad[check_nbad++] = obj;
        return;
    }
    const bm_pagemap_t large_mark = (bm_pagemap_t)1 << BM_PM_PHASE_SHIFT;
    bool marked = word ? (*word & bit) != 0 : (*entry & large_mark) != 0;
    if (pass == CACHE_VERIFY) {
        if (!expect(ctx, !marked, "check: cached object is free in its run", obj) && check_nbad < CHECK_BAD_MAX)
            check_bad[check_nbad++] = obj;
    } else if (pass == CACHE_MARK) {
        if (expect(ctx, !marked, "check: object cached twice", obj)) {
            if (word)
                *word |= bit;
            else
                *entry |= large_mark;
        }
    } else if (word) {
        *word &= ~bit;
    } else {
        *entry &= ~large_mark;
    }
}

#if BM_REMOTE_INBOX
/* O(blocks in inboxes x regions). One pass over every arena's inbox, as over a cache: each block
 * a live block of that arena's chunks holding the freed mark, none also cached or in two
 * inboxes (MARK), the byte count right, the chain no longer than the arena has blocks out (a
 * cycle ends there). Every lock held, and no other core flushing (bm_check's condition). */
static void check_inboxes(check_ctx_t *ctx, int pass) {
    for (unsigned a = 0; a < bm_state.narenas; a++) {
        bm_arena_t *arena = bm_state.arenas[a];
        size_t bytes = 0, limit = 1;
        for (unsigned cls = 0; cls < BM_NSMALL; cls++)
            limit += BM_STAT_GET(arena->bins[cls].stats.curregs);
        limit += BM_STAT_GET(arena->stats.large_allocated) >> BM_LG_PAGE;
        void *block = __atomic_load_n(&arena->inbox, __ATOMIC_ACQUIRE);
        for (size_t n = 0; block; n++) {
            if (n == limit) {
                if (pass == CACHE_VERIFY)
                    expect(ctx, false, "check: an arena's inbox is longer than its blocks out (a cycle)", arena);
                break;
            }
            bm_ptr_info_t info;
            bm_ptr_kind_t kind = bm_ptr_classify(block, &info);
            bool ours = (kind == BM_PTR_SMALL || kind == BM_PTR_LARGE) && bm_chunk_of(block)->arena == arena;
            if (pass == CACHE_VERIFY) {
                if (!expect(ctx, ours, "check: a block in an arena's inbox is not a block of that arena", block))
                    break; /* its link cannot be trusted either */
                expect(ctx, !BM_FREE_CHECKS || bm_first_word(block) == bm_freed_key(block),
                       "check: a block in an arena's inbox lost its freed mark (written after free)", block);
                bytes += bm_classes[info.cls].size;
            }
            if (!ours)
                break;
            check_cached_object(ctx, 0, info.cls, block, pass);
            block = *bm_inbox_link(block);
        }
        if (pass == CACHE_VERIFY && !block)
            expect(ctx, bytes == bm_arena_inbox_bytes(arena), "check: an arena's inbox byte count differs from its blocks", arena);
    }
}
#endif

/* O(cores x (classes + object caches) + cached objects x regions). One pass (VERIFY, MARK or UNMARK) over every
 * core's cache and (BM_REMOTE_INBOX) every arena's inbox; a bin holding more than its slots is reported and skipped.
 * Every lock held. */
static void check_caches(check_ctx_t *ctx, int pass) {
#if BM_REMOTE_INBOX
    check_inboxes(ctx, pass);
#endif
    for (unsigned core = 0; core < BM_MAX_CORES; core++) {
        bm_cache_t *cache = __atomic_load_n(&bm_state.caches[core], __ATOMIC_ACQUIRE);
        if (!cache)
            continue;
        for (unsigned cls = 0; cls < cache->ncached; cls++) {
            bm_cache_bin_t *bin = &cache->bins[cls];
            unsigned count = bm_cache_bin_count(bin);
            if (pass == CACHE_VERIFY && cache->info[cls].nmax)
                expect(ctx, bin->div_magic == bm_bin_div_magic(cls),
                       "check: cache bin's region-start constant is corrupt", bin);
            if (count > cache->info[cls].nmax) {
                if (pass == CACHE_VERIFY)
                    expect(ctx, false, "check: cache bin holds more than its slots", bin);
                continue;
            }
            for (unsigned i = 0; i < count; i++)
                check_cached_object(ctx, 0, cls, bin->head[i], pass);
        }
    }
    for (unsigned id = 1; id <= BM_MAX_OBJCACHES; id++) {
        const bm_objcache_t *oc = __atomic_load_n(&bm_objcache_table[id], __ATOMIC_ACQUIRE);
        for (unsigned core = 0; oc && core < bm_state.ncores; core++) {
            const bm_objcache_stack_t *st = &oc->stacks[core];
            if (st->count > st->nmax || (!oc->live && st->count)) {
                if (pass == CACHE_VERIFY)
                    expect(ctx, false, "check: object cache stack holds more than its slots, or a destroyed cache's objects", st);
                continue;
            }
            for (unsigned i = 0; i < st->count; i++)
                check_cached_object(ctx, id, oc->cls, st->slots[i], pass);
        }
    }
}

/* O(heap size). Violations found, each reported; 0 before initialisation. Every lock taken
 * (bm_lock_all), interrupts masked throughout. Not from an interrupt handler, nor while another
 * core allocates or checks (caches are read unlocked, check_ctx is cleared before the locks). */
unsigned bm_check(void) {
    if (!bm_is_ready())
        return 0;
    bm_irq_state_t irq = bm_port_irq_save();
    check_ctx_t *ctx = &check_ctx;
    __builtin_memset(ctx, 0, sizeof *ctx);
    bm_lock_all();
    for (unsigned i = 0; i < bm_state.nregions; i++) {
        bm_region_t *r = &bm_state.regions[i];
        check_region(ctx, r);
    }
    for (unsigned a = 0; a < bm_state.narenas; a++)
        check_arena(ctx, bm_state.arenas[a]);
    check_nbad = 0;
    check_caches(ctx, CACHE_VERIFY);
    check_caches(ctx, CACHE_MARK);
    check_caches(ctx, CACHE_UNMARK);
    bm_unlock_all();
    bm_port_irq_restore(irq);
    return ctx->errors;
}
