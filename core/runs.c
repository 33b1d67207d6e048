/*
 * The free page run index: one list per run length in pages and a two-level bitmap of the
 * lengths that have a run, so the smallest run of at least n pages is two bit scans (TLSF's
 * idea, with one list per exact length because a chunk has few pages). Within a length the
 * most recently filed run comes first. A pure data structure: it calls nothing, and the arena
 * that owns an index holds its lock around every call.
 */
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

