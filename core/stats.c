/*
 * Statistics totals, summed over arenas on demand (nothing on the fast path counts bytes).
 * Small blocks held in per-core caches count as allocated, as in jemalloc: they are out of the
 * arena until a flush returns them.
 */
#include "internal.h"

size_t bm_stats_allocated(void) {
    size_t total = 0;
    for (unsigned a = 0; a < bm_state.narenas; a++) {
        bm_arena_t *arena = bm_state.arenas[a];
        for (unsigned cls = 0; cls < BM_NSMALL; cls++)
            total += BM_STAT_GET(arena->bins[cls].stats.curregs) * bm_classes[cls].size;
        total += BM_STAT_GET(arena->stats.large_allocated) + BM_STAT_GET(arena->stats.huge_allocated);
    }
    return total;
}
