/*
 * The observability layer: statistics (stats.c), their printer and the heap map (print.c),
 * the control namespace (ctl.c), background maintenance (maintenance.c) and the validator
 * (check.c). It sits above the allocator and calls down into it; nothing in core/ calls up
 * into it, so a program that calls only the allocation API links none of it.
 *
 * Readers here take one lock at a time with the raw lock calls (bm_lock_acquire, not
 * bm_arena_lock), so that reading statistics does not show up in the lock counters it reads.
 */
#ifndef BM_EXT_H
#define BM_EXT_H

#include "../internal.h"

/* Statistics gathered for bm_ctl and bm_stats_print (stats.c). Totals are a snapshot taken
 * when the epoch advances; arena and core summaries are read on demand. */
typedef struct bm_node_totals {
    unsigned id, nregions, narenas;
    size_t size, mapped, retained, allocated;
} bm_node_totals_t;

typedef struct bm_totals {
    uint64_t epoch;
    size_t allocated, active, mapped, retained, metadata;
    unsigned nnodes;
    bm_node_totals_t nodes[BM_MAX_REGIONS];
} bm_totals_t;

typedef struct bm_arena_summary {
    unsigned node;
    size_t nchunks, pactive, pdirty, largest_free; /* largest_free: bytes of the longest free run */
    size_t allocated, small_allocated, large_allocated, huge_allocated;
    uint64_t small_nmalloc, small_ndalloc, small_nrequests;
    uint64_t large_nmalloc, large_ndalloc, huge_nmalloc, huge_ndalloc;
    uint64_t lock_acquisitions, lock_contended, npurge, purged;
} bm_arena_summary_t;

typedef struct bm_core_summary {
    unsigned arena;
    bool flush_pending;
    size_t ncached, cached_bytes;
    uint64_t nfills, nflushes, nfilled, nflushed, nmisses, cross_frees, nhits;
} bm_core_summary_t;

uint64_t bm_stats_epoch_advance(void);       /* new snapshot; returns the new epoch */
void bm_stats_totals(bm_totals_t *out);      /* the snapshot (taken first if there is none) */
void bm_arena_summarize(bm_arena_t *arena, bm_arena_summary_t *out);
bool bm_core_summarize(unsigned core, bm_core_summary_t *out); /* false: no cache there */
size_t bm_stats_largest_free(void);         /* bytes: longest free run or pooled span */
void bm_stats_peak_reset(void);
size_t bm_stats_allocated(void); /* bytes in live blocks, cached ones included */

#endif /* BM_EXT_H */
