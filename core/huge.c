/*
 * Huge blocks: requests above the largest large class, or aligned to more than half a chunk,
 * take a span of whole chunks from the pool; the chunk table's head entry holds the length and
 * the owning arena (whose counters it updates under the pool lock). O(1) apart from the
 * pool's tree. Calls the region layer only.
 */
#include "internal.h"

/* O(1) plus the pool's tree (O(log spans)), plus the grow hook. NULL when the pool and the
 * page sources have no such span. Masks nothing itself: the caller has interrupts masked. */
void *bm_huge_alloc(bm_arena_t *arena, size_t size, size_t align) {
    if (size > ((size_t)1 << (sizeof(size_t) * 8 - 2)))
        return NULL;
    size_t n = (size + BM_CHUNK_MASK) >> BM_LG_CHUNK;
    /* The table and the counters change in one hold of the pool lock: a fork between them
     * left a child whose validator found a huge span its counters did not (preload test
     * fork_while_threads_allocate, about 1 run in 30). */
    bm_lock_acquire(&bm_state.pool_lock);
    void *p = bm_chunks_alloc_locked(n, align, arena->node, arena->index, BM_CT_HUGE, NULL);
    if (p) {
        BM_STAT_ADD(arena->stats.huge_nmalloc, 1);
        BM_STAT_ADD(arena->stats.huge_allocated, n << BM_LG_CHUNK);
        bm_live_add(n << BM_LG_CHUNK);
    }
    bm_lock_release(&bm_state.pool_lock);
    if (p)
        BM_UNPOISON(p, n << BM_LG_CHUNK);
    return p;
}

size_t bm_huge_usable(bm_ctentry_t entry) { return bm_ct_value(entry) << BM_LG_CHUNK; }

/* O(log spans). ptr is a huge block's start (the caller classified it). */
void bm_huge_free(void *ptr, bm_region_t *r, bm_ctentry_t entry) {
    bm_arena_t *arena = bm_state.arenas[bm_ct_arena(entry)];
    size_t n = bm_ct_value(entry);
    BM_POISON(ptr, n << BM_LG_CHUNK);
    bm_lock_acquire(&bm_state.pool_lock);
    BM_STAT_ADD(arena->stats.huge_ndalloc, 1);
    BM_STAT_SUB(arena->stats.huge_allocated, n << BM_LG_CHUNK);
    bm_live_add(-(n << BM_LG_CHUNK));
    bm_chunks_free_locked(r, ((uintptr_t)ptr - r->base) >> BM_LG_CHUNK, n);
    bm_lock_release(&bm_state.pool_lock);
}

/* O(log spans). Gives back the chunks past new_size (> BM_LARGE_MAX) of the huge block at ptr. */
void bm_huge_shrink(void *ptr, bm_region_t *r, size_t new_size) {
    size_t index = ((uintptr_t)ptr - r->base) >> BM_LG_CHUNK;
    bm_lock_acquire(&bm_state.pool_lock);
    bm_ctentry_t entry = r->table[index];
    size_t n = bm_ct_value(entry), keep = (new_size + BM_CHUNK_MASK) >> BM_LG_CHUNK;
    if (keep < n) {
        bm_arena_t *arena = bm_state.arenas[bm_ct_arena(entry)];
        r->table[index] = bm_ct_make(BM_CT_HUGE, true, bm_ct_arena(entry), keep);
        BM_STAT_SUB(arena->stats.huge_allocated, (n - keep) << BM_LG_CHUNK);
        bm_live_add(-((n - keep) << BM_LG_CHUNK));
        BM_POISON((char *)ptr + (keep << BM_LG_CHUNK), (n - keep) << BM_LG_CHUNK);
        bm_chunks_free_locked(r, index + keep, n - keep);
    }
    bm_lock_release(&bm_state.pool_lock);
}

