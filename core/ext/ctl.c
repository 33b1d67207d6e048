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

/* O(1). Bytes of a value of type t; 0 for T_VOID (actions) and any unknown type. Any context. */
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

/* version: O(1), no lock, any context; ix and arg unused, nothing to get wrong. */
static int rd_version(const unsigned *ix, size_t arg, ctl_value_t *v) {
    (void)ix, (void)arg;
    v->s = BM_VERSION;
    return 0;
}

/* epoch: the snapshot's, O(snapshot) under snapshot_lock (the first call takes the snapshot, as
 * bm_stats_totals says); ix and arg unused. Not from an interrupt handler. */
static int rd_epoch(const unsigned *ix, size_t arg, ctl_value_t *v) {
    (void)ix, (void)arg;
    bm_totals_t t;
    bm_stats_totals(&t);
    v->q = t.epoch;
    return 0;
}

/* epoch write: any value takes a new snapshot (bm_stats_epoch_advance: O(arenas x bins +
 * regions), pool, arena, base, snapshot locks one at a time). Not from an interrupt handler. */
static int wr_epoch(const unsigned *ix, size_t arg, const ctl_value_t *v) {
    (void)ix, (void)arg, (void)v; /* any value: a write means "refresh" */
    bm_stats_epoch_advance();
    return 0;
}

enum { K_NARENAS, K_NNODES, K_PAGE, K_CHUNK, K_NBINS, K_NLARGE, K_THREAD_CORE, K_REALTIME, K_HARDENING,
       K_OBJCACHE_MAX, K_OBJCACHE_SIZE_MAX };

/* The arenas.* constants and thread.core, by arg (an unknown arg reads thread.core). O(1), no
 * lock, any context; but arenas.nnodes reads the snapshot as rd_epoch does (snapshot_lock, not
 * from an interrupt handler). */
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
    case K_REALTIME:
        v->b = BM_REALTIME != 0;
        break;
    case K_HARDENING:
        v->u = BM_HARDENING;
        break;
    case K_OBJCACHE_MAX:
        v->u = BM_MAX_OBJCACHES;
        break;
    case K_OBJCACHE_SIZE_MAX: /* the largest small class, less the level-2 canary */
        v->z = bm_classes[BM_NSMALL - 1].size - BM_CANARY_BYTES;
        break;
    default:
        v->u = bm_this_core();
        break;
    }
    return 0;
}

enum { C_SIZE, C_NREGS, C_RUN_SIZE };

/* arenas.bin.<i>.size/nregs/run_size by arg. O(1), no lock, any context; i not a small class:
 * BM_ENOENT. */
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

/* arenas.large.<i>.size. O(1), no lock, any context; i past the large classes: BM_ENOENT. */
static int rd_large_class(const unsigned *ix, size_t arg, ctl_value_t *v) {
    (void)arg;
    if (ix[0] >= BM_NCLASSES - BM_NSMALL)
        return BM_ENOENT;
    v->z = bm_classes[BM_NSMALL + ix[0]].size;
    return 0;
}

/* arenas.dirty_max/dirty_min/purge_age/purge by arg: the live policy (relaxed loads). O(1), no
 * lock, any context; nothing to get wrong. */
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

/* Sets the live purge policy. O(1), no lock (relaxed stores), any context; a value bm_purge_set
 * refuses, or a mode neither "sync" nor "idle" (NULL included): BM_EINVAL. */
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
    if (bm_text_is(v->s, "sync"))
        return bm_purge_set(BM_PURGE_MODE, 0);
    if (bm_text_is(v->s, "idle"))
        return bm_purge_set(BM_PURGE_MODE, 1);
    return BM_EINVAL;
}

/* arena.<i>.purge: the empty runs arena i keeps (real-time profile) and every dirty page of
 * it now (bm_arena_give_back: two lock holds); i == narenas: every
 * arena; then, either way, every dirty pooled chunk (the pool is every arena's, retain or not);
 * i above: BM_ENOENT. O(dirty runs) per arena lock hold, O(dirty pool spans) under pool_lock,
 * masked. Not from an interrupt handler. */
static int act_arena_purge(const unsigned *ix, size_t arg, const ctl_value_t *v) {
    (void)arg, (void)v;
    if (ix[0] > bm_state.narenas)
        return BM_ENOENT;
    for (unsigned a = 0; a < bm_state.narenas; a++) {
        if (a != ix[0] && ix[0] != bm_state.narenas)
            continue;
        bm_arena_give_back(bm_state.arenas[a]);
    }
    bm_pool_release_dirty();
    return 0;
}

/* thread.arena: the calling core's arena (its cache's, or its binding before it has a cache).
 * O(1), masked, no lock, any context; ix and arg unused. */
static int rd_thread_arena(const unsigned *ix, size_t arg, ctl_value_t *v) {
    (void)ix, (void)arg;
    bm_irq_state_t irq = bm_port_irq_save();
    bm_cache_t *cache = *bm_core_local();
    v->u = cache != &bm_cache_unset ? cache->arena->index : bm_arena_for_core(bm_this_core())->index;
    bm_port_irq_restore(irq);
    return 0;
}

/* Rebinds the calling core, its cache flushed first so that what it allocates next comes from
 * the new arena. O(cached objects), arena locks one at a time, masked: any context, as
 * bm_cache_flush. Arena index >= narenas: BM_EINVAL; a caller with no core slot: BM_EPERM. */
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

/* thread.tcache.flush: bm_cache_flush. O(cached objects), arena locks one at a time, masked:
 * any context, as bm_cache_flush; ix, arg and v unused. */
static int act_thread_flush(const unsigned *ix, size_t arg, const ctl_value_t *v) {
    (void)ix, (void)arg, (void)v;
    bm_cache_flush();
    return 0;
}

/* tcache.flush_all: the caller's cache now, every other core's by a request it honours on its
 * next slow path or bm_maintenance (flushing it from here would race with its lock-free fast
 * path). O(own cache + cores), arena locks one at a time, as bm_cache_flush: any context. */
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

/* arenas.create: a new arena (runtime.c's bm_arena_create) on the node written, or without a
 * write on the calling core's node; reads back its index. bm_ctl calls it in place of a reader
 * and a writer. O(1) plus base metadata, base_lock. Not from an interrupt handler. A node no
 * region is on: BM_EINVAL; no room for another arena: BM_ENOMEM. */
static int rd_arenas_create(const unsigned *ix, size_t arg, ctl_value_t *v) {
    (void)ix, (void)arg;
    return bm_arena_create(v->u, &v->u);
}

/* objcache.<i>.name: the name of the object cache of index i (its id - 1). O(1), no lock, any
 * context; no live cache there: BM_ENOENT. */
static int rd_objcache_name(const unsigned *ix, size_t arg, ctl_value_t *v) {
    (void)arg;
    bm_objcache_summary_t s;
    if (!bm_objcache_summarize(ix[0], &s))
        return BM_ENOENT;
    v->s = s.name;
    return 0;
}

/* stats.peak_reset: the peak drops to the live bytes now. O(1), no lock, any context. */
static int act_peak_reset(const unsigned *ix, size_t arg, const ctl_value_t *v) {
    (void)ix, (void)arg, (void)v;
    bm_stats_peak_reset();
    return 0;
}

/* ---- statistics groups: one name per field of each list (stats.c) ------------------------------ */

typedef union ctl_buf {
    bm_totals_t totals;
    bm_live_totals_t live;
    bm_arena_summary_t arena;
    bm_bin_summary_t bin;
    bm_core_summary_t core;
    bm_objcache_summary_t objcache;
} ctl_buf_t;

/* Fills buf for the indices of the name; returns the group's struct, NULL: no such index
 * (an index out of range is bad input, not an error). O(one summary), locks as stats.c says. */
typedef const void *(*ctl_fill_t)(const unsigned *ix, ctl_buf_t *buf);

/* stats.<total>: the snapshot, O(snapshot) under snapshot_lock (taken first if there is none);
 * no index. Not from an interrupt handler. */
static const void *fill_totals(const unsigned *ix, ctl_buf_t *buf) {
    (void)ix;
    bm_stats_totals(&buf->totals);
    return &buf->totals;
}

/* stats.peak_allocated, stats.largest_free: O(arenas + regions), each arena's lock then
 * pool_lock, one at a time; no index. Not from an interrupt handler. */
static const void *fill_live(const unsigned *ix, ctl_buf_t *buf) {
    (void)ix;
    bm_live_totals(&buf->live);
    return &buf->live;
}

/* stats.maintenance.*: the counters as they are. O(1), no lock, any context; no index. */
static const void *fill_maint(const unsigned *ix, ctl_buf_t *buf) {
    (void)ix, (void)buf;
    return &bm_maint_stats;
}

/* stats.nodes.<id>.*: the snapshot (as fill_totals) plus O(nodes); NULL for an id no node has.
 * Not from an interrupt handler. */
static const void *fill_node(const unsigned *ix, ctl_buf_t *buf) {
    bm_stats_totals(&buf->totals);
    for (unsigned i = 0; i < buf->totals.nnodes; i++)
        if (buf->totals.nodes[i].id == ix[0])
            return &buf->totals.nodes[i];
    return NULL;
}

/* stats.arenas.<i>.*: O(bins + log runs), one hold of arena i's lock; NULL for i >= narenas.
 * Not from an interrupt handler. */
static const void *fill_arena(const unsigned *ix, ctl_buf_t *buf) {
    if (ix[0] >= bm_state.narenas)
        return NULL;
    bm_arena_summarize(bm_state.arenas[ix[0]], &buf->arena);
    return &buf->arena;
}

/* stats.arenas.<i>.bins.<j>.*: O(1), no lock (momentary counters), any context; NULL for i >=
 * narenas or j not a small class. */
static const void *fill_bin(const unsigned *ix, ctl_buf_t *buf) {
    if (ix[0] >= bm_state.narenas || ix[1] >= BM_NSMALL)
        return NULL;
    bm_bin_summarize(bm_state.arenas[ix[0]], ix[1], &buf->bin);
    return &buf->bin;
}

/* stats.cores.<i>.*: O(classes), no lock (momentary counters), any context; NULL for a core
 * index out of range or without a cache. */
static const void *fill_core(const unsigned *ix, ctl_buf_t *buf) {
    return bm_core_summarize(ix[0], &buf->core) ? &buf->core : NULL;
}

/* stats.objcaches.<i>.*: O(arenas + cores), no lock (momentary counters), any context; NULL
 * when no live object cache has index i. */
static const void *fill_objcache(const unsigned *ix, ctl_buf_t *buf) {
    return bm_objcache_summarize(ix[0], &buf->objcache) ? &buf->objcache : NULL;
}

/* Most specific prefix first: a name falls through to the next group whose prefix it matches. */
static const struct ctl_group {
    const char *prefix;
    const bm_field_list_t *list;
    ctl_fill_t fill;
} ctl_groups[] = {
    {"stats.arenas.#.bins.#.", &bm_bin_fields, fill_bin},
    {"stats.arenas.#.", &bm_arena_fields, fill_arena},
    {"stats.cores.#.", &bm_core_fields, fill_core},
    {"stats.objcaches.#.", &bm_objcache_fields, fill_objcache},
    {"stats.nodes.#.", &bm_node_fields, fill_node},
    {"stats.maintenance.", &bm_maint_fields, fill_maint},
    {"stats.", &bm_totals_fields, fill_totals},
    {"stats.", &bm_live_fields, fill_live},
};

#define GROUP_ARG(g, f) ((size_t)(g) << 16 | (f))

/* arg: GROUP_ARG(group, field). One summary of the group, O(that summary), locked as its fill
 * says (not from an interrupt handler, then); an index the fill refuses: BM_ENOENT. */
static int rd_group(const unsigned *ix, size_t arg, ctl_value_t *v) {
    const struct ctl_group *g = &ctl_groups[arg >> 16];
    const bm_field_t *f = &g->list->fields[arg & 0xffff];
    ctl_buf_t buf;
    const void *base = g->fill(ix, &buf);
    if (!base)
        return BM_ENOENT;
    uint64_t value = bm_field_get(f, base);
    if (f->type == BM_FIELD_BOOL)
        v->b = value != 0;
    else if (f->type == BM_FIELD_UNSIGNED)
        v->u = (unsigned)value;
    else if (f->type == BM_FIELD_SIZE)
        v->z = (size_t)value;
    else
        v->q = value;
    return 0;
}

static const ctl_type_t field_ctl_type[] = {
    [BM_FIELD_BOOL] = T_BOOL, [BM_FIELD_UNSIGNED] = T_UNSIGNED, [BM_FIELD_SIZE] = T_SIZE,
    [BM_FIELD_U64] = T_U64,   [BM_FIELD_STAT] = T_U64,
};

/* ---- the table ---------------------------------------------------------------------------- */

static const ctl_entry_t ctl_table[] = {
    {"version", T_STR, rd_version, NULL, 0},
    {"epoch", T_U64, rd_epoch, wr_epoch, 0},

    {"config.realtime", T_BOOL, rd_const, NULL, K_REALTIME},
    {"config.hardening", T_UNSIGNED, rd_const, NULL, K_HARDENING},
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
    {"arenas.create", T_UNSIGNED, rd_arenas_create, NULL, 0},
    {"objcache.max", T_UNSIGNED, rd_const, NULL, K_OBJCACHE_MAX},
    {"objcache.size_max", T_SIZE, rd_const, NULL, K_OBJCACHE_SIZE_MAX},
    {"objcache.#.name", T_STR, rd_objcache_name, NULL, 0},

    {"arena.#.purge", T_VOID, NULL, act_arena_purge, 0},

    {"thread.arena", T_UNSIGNED, rd_thread_arena, wr_thread_arena, 0},
    {"thread.core", T_UNSIGNED, rd_const, NULL, K_THREAD_CORE},
    {"thread.tcache.flush", T_VOID, NULL, act_thread_flush, 0},
    {"tcache.flush_all", T_VOID, NULL, act_flush_all, 0},

    {"stats.peak_reset", T_VOID, NULL, act_peak_reset, 0},
    /* every other stats.* name: ctl_groups */
};

/* '#' in the pattern matches a decimal index captured into ix (no digit, over 9 digits or over
 * CTL_MAX_INDEX indices: no match). rest NULL: the whole name must match; else the pattern is
 * a prefix, *rest the remainder. O(length of the name), no lock, any context. */
static bool ctl_match(const char *pattern, const char *name, unsigned *ix, const char **rest) {
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
    if (rest)
        *rest = name;
    return rest || *name == 0;
}

/* A name resolved to what serves it: a table entry, a group's field or an option, with the
 * indices its '#'s captured. The MIB (bm_ctl_nametomib) is this, as numbers. */
enum { CTL_KIND_TABLE = 1, CTL_KIND_GROUP = 2, CTL_KIND_OPT = 3 };
typedef struct ctl_ref {
    unsigned kind;
    size_t which; /* table index, GROUP_ARG(group, field) or option index */
    unsigned ix[CTL_MAX_INDEX];
} ctl_ref_t;

/* A stats.* name of a group: its GROUP_ARG in *which; false for no such name. O(groups x
 * fields x name length), no lock, any context. */
static bool ctl_group_find(const char *name, unsigned *ix, size_t *which) {
    for (size_t g = 0; g < sizeof ctl_groups / sizeof ctl_groups[0]; g++) {
        const char *leaf;
        if (!ctl_match(ctl_groups[g].prefix, name, ix, &leaf))
            continue;
        const bm_field_list_t *list = ctl_groups[g].list;
        for (unsigned f = 0; f < list->n; f++) {
            if (bm_text_is(leaf, list->fields[f].name)) {
                *which = GROUP_ARG(g, f);
                return true;
            }
        }
    }
    return false;
}

/* O(table + groups x fields + options, each x name length), no lock, any context. name to ref;
 * BM_ENOENT for a name nothing serves. */
static int ctl_resolve(const char *name, ctl_ref_t *ref) {
    *ref = (ctl_ref_t){0, 0, {0, 0, 0}};
    if (name[0] == 'o' && name[1] == 'p' && name[2] == 't' && name[3] == '.') {
        for (unsigned i = 0; i < bm_option_count(); i++) {
            if (bm_text_is(name + 4, bm_option_name(i))) {
                ref->kind = CTL_KIND_OPT;
                ref->which = i;
                return 0;
            }
        }
        return BM_ENOENT;
    }
    for (size_t i = 0; i < sizeof ctl_table / sizeof ctl_table[0]; i++) {
        if (ctl_match(ctl_table[i].name, name, ref->ix, NULL)) {
            ref->kind = CTL_KIND_TABLE;
            ref->which = i;
            return 0;
        }
    }
    if (ctl_group_find(name, ref->ix, &ref->which)) {
        ref->kind = CTL_KIND_GROUP;
        return 0;
    }
    return BM_ENOENT;
}

/* opt.<name> by option index i: typed by the option (bool, enumeration as text, number). O(1),
 * no lock, any context. */
static void ctl_opt_read(unsigned i, ctl_type_t *type, ctl_value_t *v) {
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
}

/* One read and/or write of what ref names, as docs/CTL.md says: O(1) plus its reader or writer
 * (a summary: O(bins) for an arena, O(classes) for a core). Bad input: BM_EINVAL, BM_ENOENT or
 * BM_EPERM, never a crash. Interrupt-safe exactly for the names docs/CTL.md marks so. */
static int ctl_access(const ctl_ref_t *ref, void *oldp, size_t *oldlenp, const void *newp, size_t newlen) {
    ctl_value_t value;
    ctl_type_t type;
    const ctl_entry_t *entry = NULL;
    ctl_entry_t made;
    if (ref->kind == CTL_KIND_OPT) {
        ctl_opt_read((unsigned)ref->which, &type, &value);
    } else if (ref->kind == CTL_KIND_TABLE) {
        entry = &ctl_table[ref->which];
    } else {
        const struct ctl_group *g = &ctl_groups[ref->which >> 16];
        made = (ctl_entry_t){g->prefix, field_ctl_type[g->list->fields[ref->which & 0xffff].type], rd_group, NULL,
                             ref->which};
        entry = &made;
    }
    if (entry)
        type = entry->type;
    if (type == T_VOID) /* an action: neither reads nor writes a value */
        return oldp || oldlenp || newp || newlen ? BM_EPERM : entry->write(ref->ix, entry->arg, NULL);

    size_t size = type_size(type);
    if (oldp && !oldlenp)
        return BM_EINVAL;
    if (oldp && *oldlenp != size) {
        *oldlenp = size;
        return BM_EINVAL;
    }
    bool writing = newp || newlen;
    bool creates = entry && entry->read == rd_arenas_create; /* its written value is the input */
    if (writing) {
        if (!entry || (!entry->write && !creates))
            return BM_EPERM;
        if (!newp || newlen != size)
            return BM_EINVAL;
    }
    ctl_value_t incoming;
    if (writing)
        __builtin_memcpy(&incoming, newp, size);
    if (creates) {
        value.u = writing ? incoming.u : bm_port_core_node(bm_this_core());
        writing = false;
    }
    /* epoch reports the epoch after the refresh, as in jemalloc; other names the old value */
    if (writing && entry->read == rd_epoch) {
        int err = entry->write(ref->ix, entry->arg, &incoming);
        if (err)
            return err;
        writing = false;
    }
    if (entry) {
        int err = entry->read(ref->ix, entry->arg, &value);
        if (err)
            return err;
    }
    if (writing) {
        int err = entry->write(ref->ix, entry->arg, &incoming);
        if (err)
            return err;
    }
    if (oldp)
        __builtin_memcpy(oldp, &value, size);
    if (oldlenp)
        *oldlenp = size;
    return 0;
}

/* O(table + groups x fields) to find the name, plus ctl_access. NULL name: BM_EINVAL. Not from
 * an interrupt handler (initialisation; and the name search is long: use a MIB there). */
int bm_ctl(const char *name, void *oldp, size_t *oldlenp, const void *newp, size_t newlen) {
    if (!name)
        return BM_EINVAL;
    if (!bm_ensure_init())
        return BM_ENOMEM;
    ctl_ref_t ref;
    int err = ctl_resolve(name, &ref);
    return err ? err : ctl_access(&ref, oldp, oldlenp, newp, newlen);
}

/* O(as bm_ctl's search). The MIB of name into mib[0 .. BM_CTL_MIB_LEN). NULL name, mib or
 * miblen, or *miblen below BM_CTL_MIB_LEN: BM_EINVAL (*miblen set to BM_CTL_MIB_LEN when it was
 * short); no such name: BM_ENOENT. Not from an interrupt handler. */
int bm_ctl_nametomib(const char *name, size_t *mib, size_t *miblen) {
    if (!name || !mib || !miblen)
        return BM_EINVAL;
    if (*miblen < BM_CTL_MIB_LEN) {
        *miblen = BM_CTL_MIB_LEN;
        return BM_EINVAL;
    }
    if (!bm_ensure_init())
        return BM_ENOMEM;
    ctl_ref_t ref;
    int err = ctl_resolve(name, &ref);
    if (err)
        return err;
    mib[0] = ref.kind;
    mib[1] = ref.which;
    for (unsigned k = 0; k < CTL_MAX_INDEX; k++)
        mib[2 + k] = ref.ix[k];
    *miblen = BM_CTL_MIB_LEN;
    return 0;
}

/* O(1) to decode, plus ctl_access. A MIB no name gives (kind or number out of range, an index
 * over 9 digits), or a miblen other than BM_CTL_MIB_LEN: BM_ENOENT. Before initialisation:
 * BM_ENOMEM (a MIB comes from bm_ctl_nametomib, which initialises). From an interrupt handler
 * for the names docs/CTL.md marks interrupt-safe. */
int bm_ctl_bymib(const size_t *mib, size_t miblen, void *oldp, size_t *oldlenp, const void *newp, size_t newlen) {
    if (!mib || miblen != BM_CTL_MIB_LEN)
        return BM_ENOENT;
    if (!bm_is_ready())
        return BM_ENOMEM;
    ctl_ref_t ref = {(unsigned)mib[0], mib[1], {0, 0, 0}};
    for (unsigned k = 0; k < CTL_MAX_INDEX; k++) {
        if (mib[2 + k] > 999999999u)
            return BM_ENOENT;
        ref.ix[k] = (unsigned)mib[2 + k];
    }
    bool known;
    switch (ref.kind) {
    case CTL_KIND_TABLE:
        known = ref.which < sizeof ctl_table / sizeof ctl_table[0];
        break;
    case CTL_KIND_GROUP:
        known = (ref.which >> 16) < sizeof ctl_groups / sizeof ctl_groups[0] &&
                (ref.which & 0xffff) < ctl_groups[ref.which >> 16].list->n;
        break;
    case CTL_KIND_OPT:
        known = ref.which < bm_option_count();
        break;
    default:
        known = false;
        break;
    }
    return known ? ctl_access(&ref, oldp, oldlenp, newp, newlen) : BM_ENOENT;
}
