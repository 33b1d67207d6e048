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
 *    and bm_no_pages otherwise (pool, huge, ungranted);
 *  - a region's dirty list holds exactly its dirty POOL spans, oldest first, and pool_dirty
 *    their chunks (only a region whose source has a release hook has dirty spans).
 *
 * Pooled chunks' pages go back to the page source (all but each span's first page, which
 * holds its header) by age, as arenas' dirty runs do: the pool clock counts the page runs the
 * arenas take and give back (each arena adds its count at unlock), a span freed into the pool
 * is stamped with it, and a merge keeps the newest stamp: a span is as old as the chunks freed
 * into it last, the likeliest to be taken again (keeping the oldest released chunks a program
 * was about to reuse: a huge block freed next to an old span went back with it, and the
 * "large" benchmark ran at half its speed). So an old part keeps its pages while chunks are
 * freed next to it at least every purge_age run operations. Sync purging releases at most
 * BM_POOL_SYNC_SPANS spans per arena unlock, those dirty for purge_age run operations;
 * bm_maintenance the oldest BM_MAINT_SPANS whatever their age; arena.<i>.purge and bm_trim
 * all of them.
 *
 * Functions named _locked need the pool lock held, interrupts masked; the others take it.
 */
#include "internal.h"

bm_region_t *bm_region_of(const void *p) {
    /* acquire: a region bm_region_add publishes is complete (runtime.c adds them while other
     * cores allocate) */
    unsigned n = __atomic_load_n(&bm_state.nregions, __ATOMIC_ACQUIRE);
    for (unsigned i = 0; i < n; i++) {
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

/* ---- the pool's dirty spans ---------------------------------------------------------------- */

/* The pool clock (atomic: arenas add to it at unlock, under their own locks only), the age of
 * the oldest dirty span of any region as a stamp (pool lock to write, read relaxed), the
 * chunks of every region's dirty spans, and whether the decay is enabled and armed. */
static bm_stat_t pool_clock;
static bm_stat_t pool_oldest_since;
static size_t pool_dirty_total;
static bool pool_decay_enabled;
bool bm_pool_decay_armed;
unsigned bm_pool_epoch;

/* O(1). Links dirty span after prev on r's dirty list (prev NULL: as its oldest); its dirty
 * range must be set. Pool lock held. */
static void dirty_link(bm_region_t *r, bm_pool_span_t *span, bm_pool_span_t *prev) {
    span->dirty_prev = prev;
    span->dirty_next = prev ? prev->dirty_next : r->dirty_oldest;
    if (span->dirty_next)
        span->dirty_next->dirty_prev = span;
    else
        r->dirty_newest = span;
    if (prev)
        prev->dirty_next = span;
    else
        r->dirty_oldest = span;
    r->pool_dirty += span->dirty_hi - span->dirty_lo;
    pool_dirty_total += span->dirty_hi - span->dirty_lo;
}

/* O(1). Takes dirty span off r's dirty list (its fields are left as they were). Pool lock. */
static void dirty_unlink(bm_region_t *r, bm_pool_span_t *span) {
    if (span->dirty_prev)
        span->dirty_prev->dirty_next = span->dirty_next;
    else
        r->dirty_oldest = span->dirty_next;
    if (span->dirty_next)
        span->dirty_next->dirty_prev = span->dirty_prev;
    else
        r->dirty_newest = span->dirty_prev;
    r->pool_dirty -= span->dirty_hi - span->dirty_lo;
    pool_dirty_total -= span->dirty_hi - span->dirty_lo;
}

/* O(regions). After the dirty lists changed: the oldest stamp and the armed flag the unlocked
 * decay test reads. Pool lock held. */
static void pool_dirty_changed(void) {
    bm_stat_t now = __atomic_load_n(&pool_clock, __ATOMIC_RELAXED), oldest = now;
    for (unsigned i = 0; i < bm_state.nregions; i++) {
        const bm_pool_span_t *span = bm_state.regions[i].dirty_oldest;
        if (span && now - span->dirty_since > now - oldest)
            oldest = span->dirty_since;
    }
    __atomic_store_n(&pool_oldest_since, oldest, __ATOMIC_RELAXED);
    bool armed = pool_decay_enabled && pool_dirty_total != 0;
    if (armed && !__atomic_load_n(&bm_pool_decay_armed, __ATOMIC_RELAXED))
        __atomic_store_n(&bm_pool_epoch, bm_pool_epoch + 1, __ATOMIC_RELAXED);
    __atomic_store_n(&bm_pool_decay_armed, armed, __ATOMIC_RELAXED);
}

static void table_mark(bm_region_t *r, size_t index, size_t n, unsigned type, unsigned arena) {
    r->table[index] = bm_ct_make(type, true, arena, n);
    for (size_t i = 1; i < n; i++)
        r->table[index + i] = bm_ct_make(type, false, arena, i);
    bm_region_maps_withdraw(r, index, n);
}

/* A part of a span being merged: its dirty chunk range (absolute chunk indices, empty when
 * lo >= hi), stamp and dirty-list place. */
typedef struct pool_part {
    size_t lo, hi;
    bm_stat_t since;
    bm_pool_span_t *span; /* on the dirty list; NULL for the part being inserted */
} pool_part_t;

/* O(1). The part of span (head chunk index head) as it is now. */
static pool_part_t pool_part_of(bm_pool_span_t *span, size_t head) {
    pool_part_t p = {0, 0, 0, NULL};
    if (span->dirty)
        p = (pool_part_t){head + span->dirty_lo, head + span->dirty_hi, span->dirty_since, span};
    return p;
}

/* O(1). The dirty side of a merge into span (at chunk index, its entries written): parts[0] and
 * parts[2] the neighbours merged (empty if none or clean), parts[1] the chunks inserted. The
 * merged dirty range is the hull of the parts' (exact when they touch, as they do when chunks
 * are freed in order), its stamp the newest, and the span takes the dirty-list place of the
 * newest dirty part: a neighbour's, or for the inserted part the newest place (newest) or the
 * one after prev (NULL: first). Pool lock held; r's source can release. */
static void pool_dirty_merge(bm_region_t *r, bm_pool_span_t *span, size_t index, pool_part_t *parts, bool newest,
                             bm_pool_span_t *prev) {
    /* The hull of the dirty parts and the newest of them (keep); the neighbours leave the
     * list, keep last, once its place is noted (the others may be its list neighbours). */
    bm_stat_t now = __atomic_load_n(&pool_clock, __ATOMIC_RELAXED);
    pool_part_t *keep = NULL;
    size_t lo = 0, hi = 0;
    for (unsigned i = 0; i < 3; i++) {
        pool_part_t *p = &parts[i];
        if (p->lo >= p->hi)
            continue;
        lo = keep ? (p->lo < lo ? p->lo : lo) : p->lo;
        hi = keep ? (p->hi > hi ? p->hi : hi) : p->hi;
        if (!keep || now - p->since < now - keep->since)
            keep = p;
    }
    span->dirty = keep != NULL;
    if (!keep)
        return;
    for (unsigned i = 0; i < 3; i += 2)
        if (parts[i].span && parts[i].span != keep->span)
            dirty_unlink(r, parts[i].span);
    bm_stat_t since = keep->since;
    if (keep->span) {
        prev = keep->span->dirty_prev;
        newest = false;
        dirty_unlink(r, keep->span);
    }
    span->dirty_lo = lo - index;
    span->dirty_hi = hi - index;
    span->dirty_since = since;
    dirty_link(r, span, newest ? r->dirty_newest : prev);
}

/* O(log spans). Puts [index, index + n) into the pool, merged with free neighbours. mine
 * (NULL: none) is the part of it that is dirty, with its stamp; it counts only if r's source
 * can release, and then pool_dirty_merge places the merged span (newest, prev: its place on
 * the dirty list if it keeps the inserted part's). Without a release hook nothing of that
 * runs: the Cortex-M3 firmware's pool costs what it did. Pool lock held.
 * entries_are_pool: the chunks are what is left of a pool span just split, so every entry but
 * the new head and tail is already right; not rewriting them keeps taking a chunk from a large
 * static region O(1) (it was O(chunks in the region)). */
static void pool_insert(bm_region_t *r, size_t index, size_t n, const pool_part_t *mine, bool newest,
                        bm_pool_span_t *prev, bool entries_are_pool) {
    bool track = r->source.release != NULL;
    pool_part_t parts[3];
    if (track) {
        parts[0] = parts[2] = (pool_part_t){0, 0, 0, NULL};
        parts[1] = mine ? *mine : parts[0];
    }
    if (!entries_are_pool) {
        for (size_t i = 0; i < n; i++)
            r->table[index + i] = bm_ct_make(BM_CT_POOL, false, 0, 0);
        bm_region_maps_withdraw(r, index, n);
    }
    if (index > 0 && bm_ct_type(r->table[index - 1]) == BM_CT_POOL) {
        bm_ctentry_t tail = r->table[index - 1];
        size_t head = index - 1 - (bm_ct_head(tail) ? 0 : bm_ct_value(tail));
        bm_pool_span_t *left = bm_region_chunk(r, head);
        if (track)
            parts[0] = pool_part_of(left, head);
        bm_rb_remove(&r->pool, &left->node);
        r->table[index - 1] = bm_ct_make(BM_CT_POOL, false, 0, 0);
        n += index - head;
        index = head;
    }
    size_t after = index + n;
    if (after < r->ngranted && bm_ct_type(r->table[after]) == BM_CT_POOL) {
        bm_pool_span_t *right = bm_region_chunk(r, after);
        if (track)
            parts[2] = pool_part_of(right, after);
        bm_rb_remove(&r->pool, &right->node);
        n += right->nchunks;
        r->table[after] = bm_ct_make(BM_CT_POOL, false, 0, 0);
    }
    r->table[index] = bm_ct_make(BM_CT_POOL, true, 0, n);
    if (n > 1)
        r->table[index + n - 1] = bm_ct_make(BM_CT_POOL, false, 0, n - 1);
    bm_pool_span_t *span = bm_region_chunk(r, index);
    BM_UNPOISON(span, sizeof *span);
    if (track)
        pool_dirty_merge(r, span, index, parts, newest, prev); /* reads a left neighbour's header first */
    else
        span->dirty = false;
    span->region = r;
    span->nchunks = n;
    bm_rb_insert(&r->pool, &span->node, bm_pool_span_cmp);
}

/* ---- the no-grow mark (BM_MALLOCX_NOGROW) ------------------------------------------------- */

/* One word per core and one shared by callers without a core slot. Only its own core writes a
 * core's word (with save/restore, so an interrupt handler's call nests inside another's). */
static unsigned nogrow_mark[BM_MAX_CORES + 1];

BM_INLINE unsigned *nogrow_slot(void) {
    unsigned core = bm_this_core();
    return &nogrow_mark[core < BM_MAX_CORES ? core : BM_MAX_CORES];
}

/* O(1), any context. */
unsigned bm_nogrow_set(unsigned on) {
    unsigned *slot = nogrow_slot();
    unsigned old = __atomic_load_n(slot, __ATOMIC_RELAXED);
    __atomic_store_n(slot, on, __ATOMIC_RELAXED);
    return old;
}

/* O(1), any context: the calling core's mark. */
static bool bm_nogrow_get(void) { return __atomic_load_n(nogrow_slot(), __ATOMIC_RELAXED) != 0; }

/* Makes chunks [0, upto) of a growing region usable. Pool lock held. */
bool bm_region_grant_locked(bm_region_t *r, size_t upto) {
    bm_lock_assert_held(&bm_state.pool_lock);
    if (upto <= r->ngranted)
        return true;
    if (!r->source.grow || upto > r->nchunks || bm_nogrow_get())
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

/* Takes n chunks aligned to align_chunks from r's pool or by growing r; *dirty: some of them
 * lay in a dirty span's dirty range (their pages may be backed). O(log spans) plus the grow
 * hook. Pool lock held. */
static void *region_take(bm_region_t *r, size_t n, size_t align_chunks, bool *dirty) {
    size_t need = n + align_chunks - 1;
    bm_pool_span_t *span = (bm_pool_span_t *)bm_rb_lower_bound(&r->pool, &need, pool_span_key_cmp);
    size_t start;
    *dirty = false;
    if (span) {
        size_t head = ((uintptr_t)span - r->base) >> BM_LG_CHUNK, len = span->nchunks;
        pool_part_t part = pool_part_of(span, head);
        bm_pool_span_t *prev = NULL;
        if (part.span) { /* the remainders keep its place on the dirty list and its stamp */
            prev = span->dirty_prev;
            dirty_unlink(r, span);
        }
        bm_rb_remove(&r->pool, &span->node);
        r->pool_chunks -= len;
        start = bm_align_up(head + (r->base >> BM_LG_CHUNK), align_chunks) - (r->base >> BM_LG_CHUNK);
        *dirty = part.lo < start + n && part.hi > start;
        /* Claim the taken chunks before giving the remainders back, so pool_insert sees a
         * non-pool neighbour and does not merge them into the span again. The caller writes
         * the final type. Each remainder keeps the part of the dirty range it holds. */
        table_mark(r, start, n, BM_CT_ARENA, 0);
        if (head + len > start + n) {
            pool_part_t upper = {part.lo > start + n ? part.lo : start + n, part.hi, part.since, NULL};
            pool_insert(r, start + n, head + len - start - n, &upper, false, prev, true);
            r->pool_chunks += head + len - start - n;
        }
        if (start > head) { /* linked after prev too: before the piece above, same stamp */
            pool_part_t lower = {part.lo, part.hi < start ? part.hi : start, part.since, NULL};
            pool_insert(r, head, start - head, &lower, false, prev, true);
            r->pool_chunks += start - head;
        }
    } else {
        size_t old = r->ngranted;
        start = bm_align_up(old + (r->base >> BM_LG_CHUNK), align_chunks) - (r->base >> BM_LG_CHUNK);
        if (start + n > r->nchunks || !bm_region_grant_locked(r, start + n))
            return NULL;
        if (start > old) {
            pool_insert(r, old, start - old, NULL, false, NULL, false);
            r->pool_chunks += start - old;
        }
    }
    return bm_region_chunk(r, start);
}

/* O(regions x log spans), plus the grow hook; NULL when no region can serve it (bad input is
 * the callers': nchunks >= 1, align a power of two). Pool lock held (so a caller's own
 * bookkeeping, such as the huge counters, changes in the same hold as the table: a fork or the
 * validator never sees one without the other); interrupts masked by the caller, so it is as
 * interrupt-safe as the API slow path that calls it. *dirty, if dirty is not NULL: the chunks
 * came from a dirty pooled range (their pages may be backed). */
void *bm_chunks_alloc_locked(size_t nchunks, size_t align, unsigned node, unsigned arena_index,
                             unsigned type, bool *dirty) {
    bm_lock_assert_held(&bm_state.pool_lock);
    if (dirty)
        *dirty = false;
    /* Every chunk lies on the grid (internal.h): it has the phase's alignment, and more only
     * when the phase is 0. */
    if (align > 1 && (bm_grid_phase & (align - 1)) != 0)
        return NULL;
    size_t align_chunks = align > BM_CHUNK ? align >> BM_LG_CHUNK : 1;
    void *addr = NULL;
    bool was_dirty = false;
    /* First the regions of the caller's memory node, then any other. */
    for (unsigned pass = 0; pass < 2 && !addr; pass++) {
        for (unsigned i = 0; i < bm_state.nregions && !addr; i++) {
            bm_region_t *r = &bm_state.regions[i];
            if ((r->source.node == node) == (pass == 0))
                addr = region_take(r, nchunks, align_chunks, &was_dirty);
            if (addr)
                table_mark(r, ((uintptr_t)addr - r->base) >> BM_LG_CHUNK, nchunks, type,
                           arena_index);
        }
    }
    if (was_dirty)
        pool_dirty_changed();
    if (dirty)
        *dirty = was_dirty;
    return addr;
}

/* bm_chunks_alloc_locked in one hold of the pool lock, taken here. */
void *bm_chunks_alloc(size_t nchunks, size_t align, unsigned node, unsigned arena_index,
                      unsigned type, bool *dirty) {
    bm_lock_acquire(&bm_state.pool_lock);
    void *addr = bm_chunks_alloc_locked(nchunks, align, node, arena_index, type, dirty);
    bm_lock_release(&bm_state.pool_lock);
    return addr;
}

/* O(log spans + regions). Chunks [index, index + n) of r go back to the pool, dirty (as the
 * newest) if r's source can release pages. Pool lock held, interrupts masked. Before
 * initialisation completes the one caller is bootstrap, handing over a static region's
 * never-used chunks: those are clean. */
void bm_chunks_free_locked(bm_region_t *r, size_t index, size_t n) {
    bm_lock_assert_held(&bm_state.pool_lock);
    r->pool_chunks += n;
    if (!r->source.release || !bm_is_ready()) {
        pool_insert(r, index, n, NULL, false, NULL, false);
        return;
    }
    pool_part_t freed = {index, index + n, __atomic_load_n(&pool_clock, __ATOMIC_RELAXED), NULL};
    pool_insert(r, index, n, &freed, true, NULL, false);
    pool_dirty_changed();
}

void bm_chunks_free(void *addr) {
    bm_region_t *r = bm_region_of(addr);
    bm_lock_acquire(&bm_state.pool_lock);
    size_t index = ((uintptr_t)addr - r->base) >> BM_LG_CHUNK;
    bm_chunks_free_locked(r, index, bm_ct_value(r->table[index]));
    bm_lock_release(&bm_state.pool_lock);
}

/* O(1) plus one release call. Takes dirty span off r's dirty list and offers the pages of its
 * dirty range (but the span's first page, which holds its header) to the page source; the
 * span counts clean whatever the hook answers (it would refuse again). Returns bytes the
 * source took. Pool lock held. */
static size_t pool_span_release_locked(bm_region_t *r, bm_pool_span_t *span) {
    dirty_unlink(r, span);
    span->dirty = false;
    size_t from = span->dirty_lo ? span->dirty_lo << BM_LG_CHUNK : BM_PAGE;
    size_t len = (span->dirty_hi << BM_LG_CHUNK) - from;
    return r->source.release(r->source.ctx, (char *)span + from, len) ? len : 0;
}

/* O(regions x max_spans) plus max_spans release calls. Releases up to max_spans of the oldest
 * dirty spans of every region, those dirty for at least min_age of the pool clock. Returns
 * bytes released. Pool lock held. */
static size_t pool_release_oldest_locked(unsigned max_spans, bm_stat_t min_age) {
    bm_stat_t now = __atomic_load_n(&pool_clock, __ATOMIC_RELAXED);
    size_t released = 0;
    for (unsigned n = 0; n < max_spans; n++) {
        bm_region_t *oldest = NULL;
        for (unsigned i = 0; i < bm_state.nregions; i++) {
            bm_region_t *r = &bm_state.regions[i];
            if (r->dirty_oldest &&
                (!oldest || now - r->dirty_oldest->dirty_since > now - oldest->dirty_oldest->dirty_since))
                oldest = r;
        }
        if (!oldest || now - oldest->dirty_oldest->dirty_since < min_age)
            break;
        released += pool_span_release_locked(oldest, oldest->dirty_oldest);
    }
    pool_dirty_changed();
    return released;
}

/* O(dirty spans) release calls, all under one pool_lock hold with interrupts masked (masks them
 * itself): for the explicit purges (arena.<i>.purge, bm_trim), not the slow paths. Not from an
 * interrupt handler (unbounded). */
size_t bm_pool_release_dirty(void) {
    bm_irq_state_t irq = bm_port_irq_save();
    bm_lock_acquire(&bm_state.pool_lock);
    size_t released = 0;
    for (unsigned i = 0; i < bm_state.nregions; i++) {
        bm_region_t *r = &bm_state.regions[i];
        while (r->dirty_oldest)
            released += pool_span_release_locked(r, r->dirty_oldest);
    }
    pool_dirty_changed();
    bm_lock_release(&bm_state.pool_lock);
    bm_port_irq_restore(irq);
    return released;
}

/* O(regions x max_spans) plus max_spans release calls, one pool_lock hold (interrupts masked
 * by itself): the max_spans oldest dirty spans, whatever their age (bm_maintenance). Never
 * visits a clean span. Not from an interrupt handler (the release hook may be slow). */
size_t bm_pool_release_bounded(unsigned max_spans) {
    bm_irq_state_t irq = bm_port_irq_save();
    bm_lock_acquire(&bm_state.pool_lock);
    size_t released = pool_release_oldest_locked(max_spans, 0);
    bm_lock_release(&bm_state.pool_lock);
    bm_port_irq_restore(irq);
    return released;
}

/* Called while bm_pool_decay_armed. O(1) when no span is old enough (an atomic add and a
 * load); else one pool_lock hold of O(regions x BM_POOL_SYNC_SPANS) and as many release calls.
 * From bm_arena_unlock, that arena's lock held (arena -> pool is the lock order), interrupts
 * masked: what any API slow path may do, so as interrupt-safe as the call it ends. */
void bm_pool_decay(bm_stat_t ops, bm_stat_t min_age) {
    bm_stat_t now = __atomic_add_fetch(&pool_clock, ops, __ATOMIC_RELAXED);
    if (now - __atomic_load_n(&pool_oldest_since, __ATOMIC_RELAXED) < min_age)
        return;
    bm_lock_acquire(&bm_state.pool_lock);
    size_t released = pool_release_oldest_locked(BM_POOL_SYNC_SPANS, min_age);
    bm_lock_release(&bm_state.pool_lock);
    if (released)
        __atomic_fetch_add(&bm_maint_stats.decayed, released, __ATOMIC_RELAXED);
}

/* O(regions), under pool_lock (taken here; interrupts masked by itself). The purge policy
 * (arena.c) says whether slow paths may release pooled chunks. Any context but an interrupt
 * handler that interrupted a pool_lock holder (the policy is set from bm_init and bm_ctl). */
void bm_pool_decay_enable(bool on) {
    bm_irq_state_t irq = bm_port_irq_save();
    bm_lock_acquire(&bm_state.pool_lock);
    pool_decay_enabled = on;
    pool_dirty_changed();
    bm_lock_release(&bm_state.pool_lock);
    bm_port_irq_restore(irq);
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


/* ---- regions added at run time (bm_add_source, runtime.c) ------------------------------------ */

/* O(its chunks + log spans). See internal.h. The region is written completely, its chunks in the
 * pool, before nregions (read with acquire by bm_region_of) counts it: a core that finds one of
 * its blocks finds the region too. */
int bm_region_add(const bm_region_t *staged) {
    bm_lock_acquire(&bm_state.pool_lock);
    unsigned n = bm_state.nregions;
    if (n >= BM_MAX_REGIONS) {
        bm_lock_release(&bm_state.pool_lock);
        return BM_ENOMEM;
    }
    bm_region_t *r = &bm_state.regions[n];
    *r = *staged;
    bm_region_maps_withdraw(r, 0, r->nchunks);
    if (r->ngranted)
        pool_insert(r, 0, r->ngranted, NULL, false, NULL, false); /* never used: clean */
    r->pool_chunks = r->ngranted;
    __atomic_store_n(&bm_state.nregions, n + 1, __ATOMIC_RELEASE);
    bm_lock_release(&bm_state.pool_lock);
    return 0;
}
