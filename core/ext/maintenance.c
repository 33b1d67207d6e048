/*
 * bm_maintenance, the idle hook: trims idle cache bins, purges dirty pages and releases
 * pooled chunks, each in bounded steps. The mechanisms are the allocator's (cache.c, arena.c,
 * region.c); this file only decides when to use them.
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
 *
 * Pooled chunks (whole chunks back in a region's pool) decay too, unless retain: sync purging
 * releases the oldest dirty span once it has been dirty for purge_age run operations of all
 * arenas (region.c), bm_maintenance the BM_MAINT_SPANS oldest whatever their age.
 *
 * bm_trim (malloc_trim in the drop-in library) is the explicit, unbounded counterpart: the
 * calling core's cache, every arena's dirty pages and every dirty pooled chunk, retain or not.
 */
#include "ext.h"

/* bm_maintenance's idle detection: each arena's lock count at the end of the previous call.
 * Only one core runs the shared part of bm_maintenance at a time (maint_busy). */
static bm_stat_t maint_last_locks[BM_MAX_ARENAS];
static int maint_busy;

/* ---- bm_maintenance ------------------------------------------------------------------------- */

/* O(classes + objects flushed + arenas x BM_MAINT_RUNS + BM_MAINT_SPANS); nothing before
 * initialisation. One lock at a time: arena locks (the cache trim's, then each arena's, raw),
 * then pool_lock. Not from an interrupt handler (it may purge through the release hook). */
void bm_maintenance(void) {
    if (!bm_is_ready())
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
        size_t target = locks == maint_last_locks[a] ? 0 : bm_purge_bound_locked(arena);
        size_t purged = 0;
        if (target == 0) /* idle: the empty runs the real-time profile keeps go back too */
            bm_bin_release_retained_locked(arena, BM_MAINT_RUNS);
        if (arena->ndirty > target)
            purged = bm_arena_purge_oldest_locked(arena, target, BM_MAINT_RUNS, 0);
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

/* ---- bm_trim ---------------------------------------------------------------------------------- */

size_t bm_arena_give_back(bm_arena_t *arena) {
    bm_irq_state_t irq = bm_port_irq_save();
    bm_arena_lock(arena);
    bm_bin_release_retained_locked(arena, SIZE_MAX);
    bm_arena_unlock(arena);
    size_t purged = bm_arena_purge(arena, 0);
    bm_port_irq_restore(irq);
    return purged;
}

/* O(cached objects + every arena's dirty runs + dirty pooled spans), with a release call per
 * run and span: each arena's lock held for its whole purge, then pool_lock for all the pool,
 * one lock at a time, interrupts masked during each. 0 before initialisation (nothing to
 * release). Not from an interrupt handler (unbounded). */
int bm_trim(void) {
    if (!bm_is_ready())
        return 0;
    bm_cache_flush(); /* what it held becomes free runs, purged below */
    size_t purged = 0;
    for (unsigned a = 0; a < bm_state.narenas; a++)
        purged += bm_arena_give_back(bm_state.arenas[a]);
    size_t released = bm_pool_release_dirty();
    return purged != 0 || released != 0;
}
