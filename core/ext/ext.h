/*
 * The observability layer: statistics (stats.c), the emitter (emit.c), the printer
 * (print.c) and its heap map (heapmap.c), the control namespace (ctl.c), background
 * maintenance (maintenance.c) and the validator (check.c). It sits above the allocator and calls down into it; nothing in core/ calls up
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
    size_t retained_dirty; /* bytes of pooled chunks not released since they were last used */
    size_t cached;         /* bytes of free blocks in per-core caches, counted in allocated */
    unsigned nnodes;
    bm_node_totals_t nodes[BM_MAX_REGIONS];
} bm_totals_t;

typedef struct bm_arena_summary {
    unsigned node;
    size_t nchunks, pactive, pdirty, dirty_bound, largest_free; /* largest_free: bytes of the longest free run */
    size_t allocated, small_allocated, large_allocated, huge_allocated;
    uint64_t small_nmalloc, small_ndalloc, small_nrequests;
    uint64_t large_nmalloc, large_ndalloc, huge_nmalloc, huge_ndalloc;
    uint64_t lock_acquisitions, lock_contended, npurge, purged;
    size_t inbox_bytes;            /* freed by other cores into its inbox, not yet back in runs */
    uint64_t inbox_pushes, inbox_drained;
} bm_arena_summary_t;

typedef struct bm_core_summary {
    unsigned arena;
    bool flush_pending;
    size_t ncached, cached_bytes;
    uint64_t nfills, nflushes, nfilled, nflushed, nmisses, cross_frees, nhits, nrequests;
} bm_core_summary_t;

typedef struct bm_bin_summary {
    uint64_t nmalloc, ndalloc, nrequests, nruns;
    size_t curruns, curregs;
} bm_bin_summary_t;

/* One object cache (stats.objcaches.<i>, i = its id - 1), summed over arenas and cores. */
typedef struct bm_objcache_summary {
    const char *name;
    size_t size, align, class_size;
    uint64_t nalloc, nfree;    /* objects handed out / given back, every core */
    size_t live;               /* nalloc - nfree: objects the program holds */
    size_t cached;             /* objects free in the cores' stacks */
    size_t curruns, curregs;   /* its runs now; regions out of them (live + cached) */
    uint64_t nruns;            /* runs formed */
} bm_objcache_summary_t;

typedef struct bm_live_totals { /* read when asked, not part of the snapshot */
    size_t peak_allocated, largest_free;
} bm_live_totals_t;

/* One list of fields per statistics group: the printer writes each field (print.c) and bm_ctl
 * serves it as a name (ctl.c), so a new counter costs one line in its list (stats.c) and the
 * line that computes it. name: the bm_ctl suffix and JSON key, a dot nesting it one object
 * deeper ("small.nmalloc"); label: how the text reads (emit.h); offset: in the group's struct. */
typedef enum { BM_FIELD_BOOL, BM_FIELD_UNSIGNED, BM_FIELD_SIZE, BM_FIELD_U64, BM_FIELD_STAT } bm_field_type_t;

typedef struct bm_field {
    const char *name, *label;
    uint8_t type;    /* bm_field_type_t; BM_FIELD_STAT: a bm_stat_t, read as a uint64_t */
    uint16_t offset;
} bm_field_t;

typedef struct bm_field_list {
    const bm_field_t *fields;
    unsigned n;
} bm_field_list_t;

extern const bm_field_list_t bm_totals_fields; /* bm_totals_t: the snapshot */
extern const bm_field_list_t bm_live_fields;   /* bm_live_totals_t */
extern const bm_field_list_t bm_maint_fields;  /* bm_maint_stats_t */
extern const bm_field_list_t bm_node_fields;   /* bm_node_totals_t */
extern const bm_field_list_t bm_arena_fields;  /* bm_arena_summary_t */
extern const bm_field_list_t bm_bin_fields;    /* bm_bin_summary_t */
extern const bm_field_list_t bm_core_fields;   /* bm_core_summary_t */
extern const bm_field_list_t bm_objcache_fields; /* bm_objcache_summary_t (name aside) */

uint64_t bm_field_get(const bm_field_t *f, const void *base); /* the field's value, widened */

uint64_t bm_stats_epoch_advance(void);       /* new snapshot; returns the new epoch */
void bm_stats_totals(bm_totals_t *out);      /* the snapshot (taken first if there is none) */
void bm_arena_summarize(bm_arena_t *arena, bm_arena_summary_t *out);
bool bm_core_summarize(unsigned core, bm_core_summary_t *out); /* false: no cache there */
void bm_bin_summarize(bm_arena_t *arena, unsigned bin, bm_bin_summary_t *out);
bool bm_objcache_summarize(unsigned index, bm_objcache_summary_t *out); /* false: no live cache there */
void bm_live_totals(bm_live_totals_t *out);
size_t bm_stats_largest_free(void);         /* bytes: longest free run or pooled span */
void bm_stats_peak_reset(void);
size_t bm_stats_allocated(void); /* bytes in live blocks, cached ones included */

/* maintenance.c: arena gives back what it holds unused: its retained empty runs (real-time
 * profile), then every dirty page (bm_arena_purge to 0); returns the pages purged. O(retained
 * runs + dirty runs), two lock holds, masked. Not from an interrupt handler (release hook). */
size_t bm_arena_give_back(bm_arena_t *arena);

/* Heap map section of bm_stats_print (heapmap.c). */
struct emit;
void bm_print_heap_map(struct emit *e);

/* Small string helpers for core/ext (bm_text_len is internal.h's). O(length); NULL-safe
 * where said. */
static inline bool bm_text_is(const char *a, const char *b) { /* equal strings */
    while (*a && *a == *b)
        a++, b++;
    return *a == *b;
}

static inline bool bm_text_has(const char *s, char c) { /* s NULL: false */
    for (; s && *s; s++)
        if (*s == c)
            return true;
    return false;
}

#endif /* BM_EXT_H */
