/*
 * bm_ctl: the mallctl-style control namespace.
 *
 * Names are matched against a table of patterns in which '#' stands for a decimal index
 * ("stats.arenas.#.bins.#.nmalloc"); opt.<name> comes from the options table. Each entry has
 * a value type, a reader and, when writable, a writer; actions (flushes, purges) have neither
 * an old nor a new value. Nothing here allocates: values pass through a union on the stack.
 * docs/CTL.md lists every name.
 */
#include "ext.h"

typedef enum { T_VOID, T_BOOL, T_UNSIGNED, T_U32, T_SIZE, T_U64, T_STR } ctl_type_t;

typedef union ctl_value {
    bool b;
    unsigned u;
    uint32_t u32;
    size_t z;
    uint64_t q;
    const char *s;
} ctl_value_t;

#define CTL_MAX_INDEX 3
typedef int (*ctl_read_t)(const unsigned *ix, size_t arg, ctl_value_t *v);
typedef int (*ctl_write_t)(const unsigned *ix, size_t arg, const ctl_value_t *v);

typedef struct ctl_entry {
    const char *name;
    ctl_type_t type;
    ctl_read_t read;   /* NULL for actions */
    ctl_write_t write; /* NULL: read-only */
    size_t arg;        /* field offset or selector for shared readers */
} ctl_entry_t;

static size_t type_size(ctl_type_t t) {
    switch (t) {
    case T_BOOL:
        return sizeof(bool);
    case T_UNSIGNED:
        return sizeof(unsigned);
    case T_U32:
        return sizeof(uint32_t);
    case T_SIZE:
        return sizeof(size_t);
    case T_U64:
        return sizeof(uint64_t);
    case T_STR:
        return sizeof(const char *);
    default:
        return 0;
    }
}

/* ---- readers and writers ------------------------------------------------------------------ */

static int rd_version(const unsigned *ix, size_t arg, ctl_value_t *v) {
    (void)ix, (void)arg;
    v->s = BM_VERSION;
    return 0;
}

static int rd_epoch(const unsigned *ix, size_t arg, ctl_value_t *v) {
    (void)ix, (void)arg;
    bm_totals_t t;
    bm_stats_totals(&t);
    v->q = t.epoch;
    return 0;
}

static int wr_epoch(const unsigned *ix, size_t arg, const ctl_value_t *v) {
    (void)ix, (void)arg, (void)v; /* any value: a write means "refresh" */
    bm_stats_epoch_advance();
    return 0;
}

enum { K_NARENAS, K_NNODES, K_PAGE, K_CHUNK, K_NBINS, K_NLARGE, K_THREAD_CORE };

static int rd_const(const unsigned *ix, size_t arg, ctl_value_t *v) {
    (void)ix;
    switch (arg) {
    case K_NARENAS:
        v->u = bm_state.narenas;
        break;
    case K_NNODES: {
        bm_totals_t t;
        bm_stats_totals(&t);
        v->u = t.nnodes;
        break;
    }
    case K_PAGE:
        v->z = BM_PAGE;
        break;
    case K_CHUNK:
        v->z = BM_CHUNK;
        break;
    case K_NBINS:
        v->u = BM_NSMALL;
        break;
    case K_NLARGE:
        v->u = BM_NCLASSES - BM_NSMALL;
        break;
    default:
        v->u = bm_this_core();
        break;
    }
    return 0;
}

enum { C_SIZE, C_NREGS, C_RUN_SIZE };

static int rd_bin_class(const unsigned *ix, size_t arg, ctl_value_t *v) {
    if (ix[0] >= BM_NSMALL)
        return BM_ENOENT;
    const bm_class_info_t *ci = &bm_classes[ix[0]];
    if (arg == C_SIZE)
        v->z = ci->size;
    else if (arg == C_NREGS)
        v->u32 = ci->nregs;
    else
        v->z = (size_t)ci->run_pages << BM_LG_PAGE;
    return 0;
}

static int rd_large_class(const unsigned *ix, size_t arg, ctl_value_t *v) {
    (void)arg;
    if (ix[0] >= BM_NCLASSES - BM_NSMALL)
        return BM_ENOENT;
    v->z = bm_classes[BM_NSMALL + ix[0]].size;
    return 0;
}

static int rd_purge_param(const unsigned *ix, size_t arg, ctl_value_t *v) {
    (void)ix;
    size_t value = bm_purge_get((bm_purge_param_t)arg);
    if (arg == BM_PURGE_DIRTY_MAX)
        v->u = (unsigned)value;
    else if (arg == BM_PURGE_DIRTY_MIN)
        v->z = value;
    else if (arg == BM_PURGE_AGE)
        v->u = (unsigned)value;
    else
        v->s = value ? "idle" : "sync";
    return 0;
}

static bool text_is(const char *a, const char *b) {
    while (*a && *a == *b)
        a++, b++;
    return *a == *b;
}

static int wr_purge_param(const unsigned *ix, size_t arg, const ctl_value_t *v) {
    (void)ix;
    if (arg == BM_PURGE_DIRTY_MAX)
        return bm_purge_set(BM_PURGE_DIRTY_MAX, v->u);
    if (arg == BM_PURGE_DIRTY_MIN)
        return bm_purge_set(BM_PURGE_DIRTY_MIN, v->z);
    if (arg == BM_PURGE_AGE)
        return bm_purge_set(BM_PURGE_AGE, v->u);
    if (!v->s)
        return BM_EINVAL;
    if (text_is(v->s, "sync"))
        return bm_purge_set(BM_PURGE_MODE, 0);
    if (text_is(v->s, "idle"))
        return bm_purge_set(BM_PURGE_MODE, 1);
    return BM_EINVAL;
}

/* arena.<i>.purge: every dirty page of arena i now (one lock hold); i == narenas: every
 * arena, then the pooled chunks unless retain. */
static int act_arena_purge(const unsigned *ix, size_t arg, const ctl_value_t *v) {
    (void)arg, (void)v;
    if (ix[0] > bm_state.narenas)
        return BM_ENOENT;
    for (unsigned a = 0; a < bm_state.narenas; a++) {
        if (a != ix[0] && ix[0] != bm_state.narenas)
            continue;
        bm_irq_state_t irq = bm_port_irq_save();
        bm_arena_purge(bm_state.arenas[a], 0);
        bm_port_irq_restore(irq);
    }
    if (ix[0] == bm_state.narenas && !bm_state.opt.retain)
        bm_pool_release_dirty();
    return 0;
}

static int rd_thread_arena(const unsigned *ix, size_t arg, ctl_value_t *v) {
    (void)ix, (void)arg;
    bm_irq_state_t irq = bm_port_irq_save();
    bm_cache_t *cache = *bm_core_local();
    v->u = cache != &bm_cache_unset ? cache->arena->index : bm_arena_for_core(bm_this_core())->index;
    bm_port_irq_restore(irq);
    return 0;
}

/* Rebinds the calling core: its cache is flushed first, so what it allocates next comes from
 * the new arena (the flushed objects go back to their own arenas). */
static int wr_thread_arena(const unsigned *ix, size_t arg, const ctl_value_t *v) {
    (void)ix, (void)arg;
    if (v->u >= bm_state.narenas)
        return BM_EINVAL;
    unsigned core = bm_this_core();
    if (core >= BM_MAX_CORES)
        return BM_EPERM; /* a caller without a core slot has no binding to change */
    bm_irq_state_t irq = bm_port_irq_save();
    bm_cache_t *cache = *bm_core_local();
    if (cache != &bm_cache_unset) {
        bm_cache_flush_all(cache);
        __atomic_store_n(&cache->arena, bm_state.arenas[v->u], __ATOMIC_RELAXED);
    }
    __atomic_store_n(&bm_state.core_arena[core], v->u, __ATOMIC_RELAXED);
    bm_port_irq_restore(irq);
    return 0;
}

static int act_thread_flush(const unsigned *ix, size_t arg, const ctl_value_t *v) {
    (void)ix, (void)arg, (void)v;
    bm_cache_flush();
    return 0;
}

/* tcache.flush_all: the caller's cache now; every other core's cache by request, honoured
 * by that core on its next slow path or bm_maintenance (a cache belongs to its core: flushing
 * it from here would race with that core's lock-free fast path). */
static int act_flush_all(const unsigned *ix, size_t arg, const ctl_value_t *v) {
    (void)ix, (void)arg, (void)v;
    bm_cache_flush();
    bm_cache_t *mine = *bm_core_local();
    for (unsigned c = 0; c < BM_MAX_CORES; c++) {
        bm_cache_t *cache = __atomic_load_n(&bm_state.caches[c], __ATOMIC_ACQUIRE);
        if (cache && cache != mine)
            __atomic_store_n(&cache->flush_request, 1, __ATOMIC_RELAXED);
    }
    return 0;
}

enum { S_ALLOCATED, S_ACTIVE, S_MAPPED, S_RETAINED, S_METADATA, S_PEAK, S_LARGEST };

static int rd_total(const unsigned *ix, size_t arg, ctl_value_t *v) {
    (void)ix;
    if (arg == S_PEAK) {
        v->z = __atomic_load_n(&bm_state.peak_allocated, __ATOMIC_RELAXED);
        return 0;
    }
    if (arg == S_LARGEST) {
        v->z = bm_stats_largest_free();
        return 0;
    }
    bm_totals_t t;
    bm_stats_totals(&t);
    v->z = arg == S_ALLOCATED ? t.allocated : arg == S_ACTIVE ? t.active : arg == S_MAPPED ? t.mapped
         : arg == S_RETAINED  ? t.retained
                              : t.metadata;
    return 0;
}

static int act_peak_reset(const unsigned *ix, size_t arg, const ctl_value_t *v) {
    (void)ix, (void)arg, (void)v;
    bm_stats_peak_reset();
    return 0;
}

static int rd_maint(const unsigned *ix, size_t arg, ctl_value_t *v) {
    (void)ix;
    v->q = BM_STAT_GET(*(bm_stat_t *)((char *)&bm_maint_stats + arg));
    return 0;
}

enum { N_SIZE, N_MAPPED, N_RETAINED, N_ALLOCATED, N_NARENAS, N_NREGIONS };

static int rd_node(const unsigned *ix, size_t arg, ctl_value_t *v) {
    bm_totals_t t;
    bm_stats_totals(&t);
    for (unsigned i = 0; i < t.nnodes; i++) {
        const bm_node_totals_t *n = &t.nodes[i];
        if (n->id != ix[0])
            continue;
        switch (arg) {
        case N_SIZE:
            v->z = n->size;
            break;
        case N_MAPPED:
            v->z = n->mapped;
            break;
        case N_RETAINED:
            v->z = n->retained;
            break;
        case N_ALLOCATED:
            v->z = n->allocated;
            break;
        case N_NARENAS:
            v->u = n->narenas;
            break;
        default:
            v->u = n->nregions;
            break;
        }
        return 0;
    }
    return BM_ENOENT;
}

/* stats.arenas.<i>.<field>: arg is the field's offset in bm_arena_summary_t, the entry's type
 * says whether it is a size_t, a uint64_t or (node) an unsigned. */
#define ASUM(field) offsetof(bm_arena_summary_t, field)
#define ABOUND ((size_t)-1)

static int rd_arena_field(const unsigned *ix, size_t arg, ctl_value_t *v, ctl_type_t type) {
    if (ix[0] >= bm_state.narenas)
        return BM_ENOENT;
    bm_arena_t *arena = bm_state.arenas[ix[0]];
    if (arg == ABOUND) { /* the dirty bound in pages, under the lock like the counts it uses */
        bm_irq_state_t irq = bm_port_irq_save();
        bm_lock_acquire(&arena->lock);
        v->z = bm_purge_bound_locked(arena);
        bm_lock_release(&arena->lock);
        bm_port_irq_restore(irq);
        return 0;
    }
    bm_arena_summary_t s;
    bm_arena_summarize(arena, &s);
    const char *field = (const char *)&s + arg;
    if (type == T_UNSIGNED)
        __builtin_memcpy(&v->u, field, sizeof v->u);
    else if (type == T_SIZE)
        __builtin_memcpy(&v->z, field, sizeof v->z);
    else
        __builtin_memcpy(&v->q, field, sizeof v->q);
    return 0;
}
static int rd_arena_z(const unsigned *ix, size_t arg, ctl_value_t *v) { return rd_arena_field(ix, arg, v, T_SIZE); }
static int rd_arena_q(const unsigned *ix, size_t arg, ctl_value_t *v) { return rd_arena_field(ix, arg, v, T_U64); }
static int rd_arena_u(const unsigned *ix, size_t arg, ctl_value_t *v) { return rd_arena_field(ix, arg, v, T_UNSIGNED); }

#define BSTAT(field) offsetof(bm_bin_stats_t, field)

static int rd_bin_stat(const unsigned *ix, size_t arg, ctl_value_t *v, bool as_size) {
    if (ix[0] >= bm_state.narenas || ix[1] >= BM_NSMALL)
        return BM_ENOENT;
    const bm_bin_stats_t *bs = &bm_state.arenas[ix[0]]->bins[ix[1]].stats;
    bm_stat_t value = BM_STAT_GET(*(const bm_stat_t *)((const char *)bs + arg));
    if (as_size)
        v->z = (size_t)value;
    else
        v->q = value;
    return 0;
}
static int rd_bin_q(const unsigned *ix, size_t arg, ctl_value_t *v) { return rd_bin_stat(ix, arg, v, false); }
static int rd_bin_z(const unsigned *ix, size_t arg, ctl_value_t *v) { return rd_bin_stat(ix, arg, v, true); }

#define CSUM(field) offsetof(bm_core_summary_t, field)
#define CREQUESTS ((size_t)-1)

static int rd_core_field(const unsigned *ix, size_t arg, ctl_value_t *v, ctl_type_t type) {
    bm_core_summary_t s;
    if (!bm_core_summarize(ix[0], &s))
        return BM_ENOENT;
    if (arg == CREQUESTS) { /* allocation requests that reached the cache: hits + misses */
        v->q = s.nhits + s.nmisses;
        return 0;
    }
    const char *field = (const char *)&s + arg;
    if (type == T_UNSIGNED)
        __builtin_memcpy(&v->u, field, sizeof v->u);
    else if (type == T_BOOL)
        __builtin_memcpy(&v->b, field, sizeof v->b);
    else if (type == T_SIZE)
        __builtin_memcpy(&v->z, field, sizeof v->z);
    else
        __builtin_memcpy(&v->q, field, sizeof v->q);
    return 0;
}
static int rd_core_z(const unsigned *ix, size_t arg, ctl_value_t *v) { return rd_core_field(ix, arg, v, T_SIZE); }
static int rd_core_q(const unsigned *ix, size_t arg, ctl_value_t *v) { return rd_core_field(ix, arg, v, T_U64); }
static int rd_core_u(const unsigned *ix, size_t arg, ctl_value_t *v) { return rd_core_field(ix, arg, v, T_UNSIGNED); }
static int rd_core_b(const unsigned *ix, size_t arg, ctl_value_t *v) { return rd_core_field(ix, arg, v, T_BOOL); }

/* ---- the table ---------------------------------------------------------------------------- */

#define MSTAT(field) offsetof(bm_maint_stats_t, field)

static const ctl_entry_t ctl_table[] = {
    {"version", T_STR, rd_version, NULL, 0},
    {"epoch", T_U64, rd_epoch, wr_epoch, 0},

    {"arenas.narenas", T_UNSIGNED, rd_const, NULL, K_NARENAS},
    {"arenas.nnodes", T_UNSIGNED, rd_const, NULL, K_NNODES},
    {"arenas.page", T_SIZE, rd_const, NULL, K_PAGE},
    {"arenas.chunk", T_SIZE, rd_const, NULL, K_CHUNK},
    {"arenas.nbins", T_UNSIGNED, rd_const, NULL, K_NBINS},
    {"arenas.nlarge", T_UNSIGNED, rd_const, NULL, K_NLARGE},
    {"arenas.bin.#.size", T_SIZE, rd_bin_class, NULL, C_SIZE},
    {"arenas.bin.#.nregs", T_U32, rd_bin_class, NULL, C_NREGS},
    {"arenas.bin.#.run_size", T_SIZE, rd_bin_class, NULL, C_RUN_SIZE},
    {"arenas.large.#.size", T_SIZE, rd_large_class, NULL, 0},
    {"arenas.dirty_max", T_UNSIGNED, rd_purge_param, wr_purge_param, BM_PURGE_DIRTY_MAX},
    {"arenas.dirty_min", T_SIZE, rd_purge_param, wr_purge_param, BM_PURGE_DIRTY_MIN},
    {"arenas.purge_age", T_UNSIGNED, rd_purge_param, wr_purge_param, BM_PURGE_AGE},
    {"arenas.purge", T_STR, rd_purge_param, wr_purge_param, BM_PURGE_MODE},

    {"arena.#.purge", T_VOID, NULL, act_arena_purge, 0},

    {"thread.arena", T_UNSIGNED, rd_thread_arena, wr_thread_arena, 0},
    {"thread.core", T_UNSIGNED, rd_const, NULL, K_THREAD_CORE},
    {"thread.tcache.flush", T_VOID, NULL, act_thread_flush, 0},
    {"tcache.flush_all", T_VOID, NULL, act_flush_all, 0},

    {"stats.allocated", T_SIZE, rd_total, NULL, S_ALLOCATED},
    {"stats.active", T_SIZE, rd_total, NULL, S_ACTIVE},
    {"stats.mapped", T_SIZE, rd_total, NULL, S_MAPPED},
    {"stats.retained", T_SIZE, rd_total, NULL, S_RETAINED},
    {"stats.metadata", T_SIZE, rd_total, NULL, S_METADATA},
    {"stats.peak_allocated", T_SIZE, rd_total, NULL, S_PEAK},
    {"stats.peak_reset", T_VOID, NULL, act_peak_reset, 0},
    {"stats.largest_free", T_SIZE, rd_total, NULL, S_LARGEST},

    {"stats.maintenance.calls", T_U64, rd_maint, NULL, MSTAT(calls)},
    {"stats.maintenance.purged", T_U64, rd_maint, NULL, MSTAT(purged)},
    {"stats.maintenance.released", T_U64, rd_maint, NULL, MSTAT(released)},
    {"stats.maintenance.trimmed", T_U64, rd_maint, NULL, MSTAT(trimmed)},
    {"stats.maintenance.flushes_honoured", T_U64, rd_maint, NULL, MSTAT(flushes_honoured)},

    {"stats.nodes.#.size", T_SIZE, rd_node, NULL, N_SIZE},
    {"stats.nodes.#.mapped", T_SIZE, rd_node, NULL, N_MAPPED},
    {"stats.nodes.#.retained", T_SIZE, rd_node, NULL, N_RETAINED},
    {"stats.nodes.#.allocated", T_SIZE, rd_node, NULL, N_ALLOCATED},
    {"stats.nodes.#.narenas", T_UNSIGNED, rd_node, NULL, N_NARENAS},
    {"stats.nodes.#.nregions", T_UNSIGNED, rd_node, NULL, N_NREGIONS},

    {"stats.arenas.#.node", T_UNSIGNED, rd_arena_u, NULL, ASUM(node)},
    {"stats.arenas.#.nchunks", T_SIZE, rd_arena_z, NULL, ASUM(nchunks)},
    {"stats.arenas.#.pactive", T_SIZE, rd_arena_z, NULL, ASUM(pactive)},
    {"stats.arenas.#.pdirty", T_SIZE, rd_arena_z, NULL, ASUM(pdirty)},
    {"stats.arenas.#.dirty_bound", T_SIZE, rd_arena_z, NULL, ABOUND},
    {"stats.arenas.#.largest_free", T_SIZE, rd_arena_z, NULL, ASUM(largest_free)},
    {"stats.arenas.#.allocated", T_SIZE, rd_arena_z, NULL, ASUM(allocated)},
    {"stats.arenas.#.npurge", T_U64, rd_arena_q, NULL, ASUM(npurge)},
    {"stats.arenas.#.purged", T_U64, rd_arena_q, NULL, ASUM(purged)},
    {"stats.arenas.#.small.allocated", T_SIZE, rd_arena_z, NULL, ASUM(small_allocated)},
    {"stats.arenas.#.small.nmalloc", T_U64, rd_arena_q, NULL, ASUM(small_nmalloc)},
    {"stats.arenas.#.small.ndalloc", T_U64, rd_arena_q, NULL, ASUM(small_ndalloc)},
    {"stats.arenas.#.small.nrequests", T_U64, rd_arena_q, NULL, ASUM(small_nrequests)},
    {"stats.arenas.#.large.allocated", T_SIZE, rd_arena_z, NULL, ASUM(large_allocated)},
    {"stats.arenas.#.large.nmalloc", T_U64, rd_arena_q, NULL, ASUM(large_nmalloc)},
    {"stats.arenas.#.large.ndalloc", T_U64, rd_arena_q, NULL, ASUM(large_ndalloc)},
    {"stats.arenas.#.huge.allocated", T_SIZE, rd_arena_z, NULL, ASUM(huge_allocated)},
    {"stats.arenas.#.huge.nmalloc", T_U64, rd_arena_q, NULL, ASUM(huge_nmalloc)},
    {"stats.arenas.#.huge.ndalloc", T_U64, rd_arena_q, NULL, ASUM(huge_ndalloc)},
    {"stats.arenas.#.lock.acquisitions", T_U64, rd_arena_q, NULL, ASUM(lock_acquisitions)},
    {"stats.arenas.#.lock.contended", T_U64, rd_arena_q, NULL, ASUM(lock_contended)},
    {"stats.arenas.#.bins.#.nmalloc", T_U64, rd_bin_q, NULL, BSTAT(nmalloc)},
    {"stats.arenas.#.bins.#.ndalloc", T_U64, rd_bin_q, NULL, BSTAT(ndalloc)},
    {"stats.arenas.#.bins.#.nrequests", T_U64, rd_bin_q, NULL, BSTAT(nrequests)},
    {"stats.arenas.#.bins.#.nruns", T_U64, rd_bin_q, NULL, BSTAT(nruns)},
    {"stats.arenas.#.bins.#.curruns", T_SIZE, rd_bin_z, NULL, BSTAT(curruns)},
    {"stats.arenas.#.bins.#.curregs", T_SIZE, rd_bin_z, NULL, BSTAT(curregs)},

    {"stats.cores.#.arena", T_UNSIGNED, rd_core_u, NULL, CSUM(arena)},
    {"stats.cores.#.flush_pending", T_BOOL, rd_core_b, NULL, CSUM(flush_pending)},
    {"stats.cores.#.ncached", T_SIZE, rd_core_z, NULL, CSUM(ncached)},
    {"stats.cores.#.cached_bytes", T_SIZE, rd_core_z, NULL, CSUM(cached_bytes)},
    {"stats.cores.#.nfills", T_U64, rd_core_q, NULL, CSUM(nfills)},
    {"stats.cores.#.nflushes", T_U64, rd_core_q, NULL, CSUM(nflushes)},
    {"stats.cores.#.nfilled", T_U64, rd_core_q, NULL, CSUM(nfilled)},
    {"stats.cores.#.nflushed", T_U64, rd_core_q, NULL, CSUM(nflushed)},
    {"stats.cores.#.nmisses", T_U64, rd_core_q, NULL, CSUM(nmisses)},
    {"stats.cores.#.cross_frees", T_U64, rd_core_q, NULL, CSUM(cross_frees)},
#if BM_STATS_FAST
    /* Only with BM_STATS_FAST: without it the fast path counts nothing, and a made-up hit
     * count would mislead, so the names do not exist (BM_ENOENT). */
    {"stats.cores.#.hits", T_U64, rd_core_q, NULL, CSUM(nhits)},
    {"stats.cores.#.nrequests", T_U64, rd_core_q, NULL, CREQUESTS},
#endif
};

/* '#' in the pattern matches a decimal index (at most 9 digits) captured into ix. */
static bool ctl_match(const char *pattern, const char *name, unsigned *ix) {
    unsigned nix = 0;
    while (*pattern) {
        if (*pattern == '#') {
            unsigned value = 0, digits = 0;
            for (; *name >= '0' && *name <= '9'; name++) {
                if (++digits > 9)
                    return false;
                value = value * 10 + (unsigned)(*name - '0');
            }
            if (!digits || nix == CTL_MAX_INDEX)
                return false;
            ix[nix++] = value;
            pattern++;
            continue;
        }
        if (*pattern++ != *name++)
            return false;
    }
    return *name == 0;
}

/* opt.<name>: read-only, typed by the option (bool, enumeration as text, number). */
static int ctl_opt(const char *name, ctl_type_t *type, ctl_value_t *v) {
    for (unsigned i = 0; i < bm_option_count(); i++) {
        if (!text_is(name, bm_option_name(i)))
            continue;
        size_t value = bm_option_value(&bm_state.opt, i);
        const char *text = bm_option_text(i, value);
        if (text) {
            *type = T_STR;
            v->s = text;
        } else if (bm_option_is_bool(i)) {
            *type = T_BOOL;
            v->b = value != 0;
        } else if (bm_option_size(i) == sizeof(unsigned)) {
            *type = T_UNSIGNED;
            v->u = (unsigned)value;
        } else {
            *type = T_SIZE;
            v->z = value;
        }
        return 0;
    }
    return BM_ENOENT;
}

int bm_ctl(const char *name, void *oldp, size_t *oldlenp, const void *newp, size_t newlen) {
    if (!name)
        return BM_EINVAL;
    if (!bm_ensure_init())
        return BM_ENOMEM;
    unsigned ix[CTL_MAX_INDEX] = {0, 0, 0};
    ctl_value_t value;
    ctl_type_t type;
    const ctl_entry_t *entry = NULL;
    if (name[0] == 'o' && name[1] == 'p' && name[2] == 't' && name[3] == '.') {
        int err = ctl_opt(name + 4, &type, &value);
        if (err)
            return err;
    } else {
        for (size_t i = 0; i < sizeof ctl_table / sizeof ctl_table[0] && !entry; i++)
            if (ctl_match(ctl_table[i].name, name, ix))
                entry = &ctl_table[i];
        if (!entry)
            return BM_ENOENT;
        type = entry->type;
    }
    if (type == T_VOID) /* an action: neither reads nor writes a value */
        return oldp || oldlenp || newp || newlen ? BM_EPERM : entry->write(ix, entry->arg, NULL);

    size_t size = type_size(type);
    if (oldp && !oldlenp)
        return BM_EINVAL;
    if (oldp && *oldlenp != size) {
        *oldlenp = size;
        return BM_EINVAL;
    }
    bool writing = newp || newlen;
    if (writing) {
        if (!entry || !entry->write)
            return BM_EPERM;
        if (!newp || newlen != size)
            return BM_EINVAL;
    }
    ctl_value_t incoming;
    if (writing)
        __builtin_memcpy(&incoming, newp, size);
    /* epoch reports the epoch after the refresh, as in jemalloc; other names the old value */
    if (writing && entry->read == rd_epoch) {
        int err = entry->write(ix, entry->arg, &incoming);
        if (err)
            return err;
        writing = false;
    }
    if (entry) {
        int err = entry->read(ix, entry->arg, &value);
        if (err)
            return err;
    }
    if (writing) {
        int err = entry->write(ix, entry->arg, &incoming);
        if (err)
            return err;
    }
    if (oldp)
        __builtin_memcpy(oldp, &value, size);
    if (oldlenp)
        *oldlenp = size;
    return 0;
}
