/*
 * Purging, background maintenance and the core -> arena rule.
 *
 * Dirty pages are free pages not yet offered back through the page source's release hook.
 * The bound an arena may keep is max(dirty_min, dirty_max% of its active pages). Two ways to
 * get back under it:
 *  - purge:sync (default): bm_arena_unlock checks the arena's dirty count against a global
 *    trigger (one compare on every unlock) and, when over the bound, purges up to
 *    BM_PURGE_SYNC_RUNS free runs before releasing the lock;
 *  - purge:idle: only bm_maintenance (and arena.<i>.purge) purge, so allocating cores never
 *    pay for it.
 * Either way a pass purges a bounded number of runs, the oldest dirty ones first (each arena
 * keeps its dirty runs on a list in the order they became dirty), and never visits a clean run.
 * Sync purging also spares runs dirty for fewer than purge_age of the arena's run operations
 * (page runs taken or given back): pages freed a moment ago are the likeliest to be reused,
 * and purging them would cost a release and page faults for nothing.
 *
 * bm_maintenance adds a decay: an arena that took no lock since the previous call is idle and
 * is purged toward zero dirty pages instead of toward the bound.
 */
#include "internal.h"

#ifndef BM_PURGE_SYNC_RUNS
#define BM_PURGE_SYNC_RUNS 8 /* free runs one slow-path purge may visit */
#endif
#ifndef BM_MAINT_RUNS
#define BM_MAINT_RUNS 32 /* free runs bm_maintenance may visit per arena per call */
#endif
#ifndef BM_MAINT_SPANS
#define BM_MAINT_SPANS 8 /* pooled chunk spans bm_maintenance may visit per call */
#endif

size_t bm_purge_trigger = SIZE_MAX; /* no purging on unlock until the policy is set up */
bm_maint_stats_t bm_maint_stats;

/* The live purge policy (arenas.dirty_max/dirty_min/purge write it; opt.* keep the start-up
 * values). Relaxed atomics: a reader only needs whole values. */
static unsigned purge_dirty_max_pct;
static size_t purge_dirty_min_pages;
static unsigned purge_mode; /* 0 sync, 1 idle */
static unsigned purge_age;  /* run operations a dirty run is spared by sync purging */

/* Resume points of the bounded pool passes, per region under the pool lock: a (length,
 * address) key rather than a node pointer, because the node may be gone. (Arenas need none:
 * they purge their oldest dirty runs first.) */
typedef struct purge_cursor {
    size_t len;
    uintptr_t addr;
} purge_cursor_t;
static purge_cursor_t pool_cursor[BM_MAX_REGIONS];

/* bm_maintenance's idle detection: each arena's lock count at the end of the previous call.
 * Only one core runs the shared part of bm_maintenance at a time (maint_busy). */
static bm_stat_t maint_last_locks[BM_MAX_ARENAS];
static int maint_busy;

static void purge_trigger_update(void) {
    /* Page sources that cannot take pages back (a static heap) make sync purging pure cost. */
    size_t trigger = bm_state.pages_releasable && __atomic_load_n(&purge_mode, __ATOMIC_RELAXED) == 0
                         ? __atomic_load_n(&purge_dirty_min_pages, __ATOMIC_RELAXED)
                         : SIZE_MAX;
    __atomic_store_n(&bm_purge_trigger, trigger, __ATOMIC_RELAXED);
}

void bm_policies_init(unsigned narenas) {
    /* arena_rule:node: the least loaded arena of the core's node; core mod narenas when the
     * rule is "core" or no arena draws from that node. */
    unsigned load[BM_MAX_ARENAS] = {0};
    for (unsigned core = 0; core < BM_MAX_CORES; core++) {
        unsigned pick = core % narenas;
        if (bm_state.opt.arena_rule == 1) {
            unsigned node = bm_port_core_node(core), best = narenas;
            for (unsigned a = 0; a < narenas; a++)
                if (bm_state.arenas[a]->node == node && (best == narenas || load[a] < load[best]))
                    best = a;
            if (best < narenas)
                pick = best;
        }
        load[pick]++;
        bm_state.core_arena[core] = pick;
    }
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

size_t bm_purge_bound(const bm_arena_t *arena) {
    size_t bound = arena->nactive / 100 * __atomic_load_n(&purge_dirty_max_pct, __ATOMIC_RELAXED) +
                   arena->nactive % 100 * __atomic_load_n(&purge_dirty_max_pct, __ATOMIC_RELAXED) / 100;
    size_t floor = __atomic_load_n(&purge_dirty_min_pages, __ATOMIC_RELAXED);
    return bound > floor ? bound : floor;
}

/* ---- bounded passes ------------------------------------------------------------------------ */

void bm_purge_excess_locked(bm_arena_t *arena) {
    size_t bound = bm_purge_bound(arena);
    if (arena->ndirty > bound)
        bm_arena_purge_oldest(arena, bound, BM_PURGE_SYNC_RUNS, __atomic_load_n(&purge_age, __ATOMIC_RELAXED));
}

static int pool_cursor_cmp(const void *key, const bm_rbnode_t *n) {
    const purge_cursor_t *c = key;
    size_t len = ((const bm_pool_span_t *)n)->nchunks;
    if (c->len != len)
        return c->len < len ? -1 : 1;
    return c->addr <= (uintptr_t)n ? -1 : 1;
}

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
            bm_pool_span_t *span = (bm_pool_span_t *)n;
            if (span->dirty) {
                /* the first page keeps the span's header and tree node */
                size_t len = (span->nchunks << BM_LG_CHUNK) - BM_PAGE;
                if (r->source.release(r->source.ctx, (char *)span + BM_PAGE, len))
                    released += len;
                span->dirty = false;
            }
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

/* ---- per-core caches ------------------------------------------------------------------------ */

void bm_cache_flush_requested(bm_cache_t *cache) {
    __atomic_store_n(&cache->flush_request, 0, __ATOMIC_RELAXED);
    bm_cache_flush_all(cache);
    __atomic_fetch_add(&bm_maint_stats.flushes_honoured, 1, __ATOMIC_RELAXED);
}

/* ---- bm_maintenance ------------------------------------------------------------------------- */

void bm_maintenance(void) {
    if (__atomic_load_n(&bm_state.init_state, __ATOMIC_ACQUIRE) != 2)
        return;
    __atomic_fetch_add(&bm_maint_stats.calls, 1, __ATOMIC_RELAXED);

    /* The calling core's cache first: what it returns becomes dirty pages purged below. */
    bm_irq_state_t irq = bm_port_irq_save();
    bm_cache_t *cache = *bm_core_local();
    if (cache != &bm_cache_unset) {
        if (__atomic_load_n(&cache->flush_request, __ATOMIC_RELAXED))
            bm_cache_flush_requested(cache);
        else
            __atomic_fetch_add(&bm_maint_stats.trimmed, bm_cache_trim_idle(cache), __ATOMIC_RELAXED);
    }
    bm_port_irq_restore(irq);

    /* Arenas and the pool: one core at a time; a core that finds another at it skips. */
    if (__atomic_exchange_n(&maint_busy, 1, __ATOMIC_ACQUIRE))
        return;
    for (unsigned a = 0; a < bm_state.narenas; a++) {
        bm_arena_t *arena = bm_state.arenas[a];
        irq = bm_port_irq_save();
        /* The raw lock: maintenance must not count as activity, nor run the unlock hook. */
        bm_lock_acquire(&arena->lock);
        bm_stat_t locks = BM_STAT_GET(arena->stats.lock_acquisitions);
        size_t target = locks == maint_last_locks[a] ? 0 : bm_purge_bound(arena);
        size_t purged = 0;
        if (arena->ndirty > target)
            purged = bm_arena_purge_oldest(arena, target, BM_MAINT_RUNS, 0);
        maint_last_locks[a] = locks;
        bm_lock_release(&arena->lock);
        bm_port_irq_restore(irq);
        if (purged)
            __atomic_fetch_add(&bm_maint_stats.purged, purged, __ATOMIC_RELAXED);
    }
    if (!bm_state.opt.retain) {
        size_t released = bm_pool_release_bounded(BM_MAINT_SPANS);
        if (released)
            __atomic_fetch_add(&bm_maint_stats.released, released, __ATOMIC_RELAXED);
    }
    __atomic_store_n(&maint_busy, 0, __ATOMIC_RELEASE);
}
