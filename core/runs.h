/*
 * The free page run index's O(1) operations (runs.c has the rest): inline, because the arena
 * calls several of them for every page run it takes or gives back, and a call each cost the
 * Cortex-M3 trace's large-block path about 20 instructions per call. The caller holds the
 * lock of the arena that owns the index.
 */
#ifndef BM_RUNS_H
#define BM_RUNS_H

#include "internal.h"

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

static inline void bm_free_runs_insert(bm_free_runs_t *runs, bm_free_run_t *run, size_t npages) {
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

static inline void bm_free_runs_remove(bm_free_runs_t *runs, bm_free_run_t *run) {
    if (run->prev)
        run->prev->next = run->next;
    else if (!(runs->heads[run->npages] = run->next))
        free_runs_unmark(runs, run->npages);
    if (run->next)
        run->next->prev = run->prev;
    runs->count--;
}

/* The smallest length >= len that has a run, or 0. */
BM_INLINE size_t free_runs_length_at_least(const bm_free_runs_t *runs, size_t len) {
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

static inline bm_free_run_t *bm_free_runs_fit(const bm_free_runs_t *runs, size_t npages) {
    size_t len = free_runs_length_at_least(runs, npages ? npages : 1);
    return len ? runs->heads[len] : NULL;
}

#endif /* BM_RUNS_H */
