/*
 * The free page run index: one list per run length in pages and a two-level bitmap of the
 * lengths that have a run, so the smallest run of at least n pages is two bit scans (TLSF's
 * idea, with one list per exact length because a chunk has few pages). Within a length the
 * most recently filed run comes first. A pure data structure: it calls nothing, and the arena
 * that owns an index holds its lock around every call.
 */
#include "runs.h"

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

