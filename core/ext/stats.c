/*
 * Statistics: totals, per-arena, per-bin and per-core summaries, the peak, and the field list
 * of each group (what bm_stats_print writes and bm_ctl serves). No output here: print.c.
 *
 * Nothing on the fast path counts bytes: arena counters change under the arena lock, cache
 * counters on their own core, and the readers here sum them on demand. Small blocks held in
 * per-core caches count as allocated, as in jemalloc: they are out of the arena until a flush
 * returns them. Readers take one lock at a time (an arena's, the pool's), briefly, with the
 * raw lock calls so that reading statistics does not show up in the lock counters it reads.
 *
 * Unless said otherwise a function here may not be called from an interrupt handler: it takes
 * arena or pool locks, which an interrupted holder on the same core would never release.
 */
#include "ext.h"

/* O(narenas x bins), no lock: momentary counters. Interrupt-safe (level 2: O(narenas x
 * quarantine slots) more, under each arena's lock, so not from an interrupt handler). */
/* a - b, 0 if b is larger: counters read while a drain moves bytes between them */
static size_t minus_clamped(size_t a, size_t b) { return a > b ? a - b : 0; }

size_t bm_stats_allocated(void) {
    size_t total = 0;
    for (unsigned a = 0; a < bm_state.narenas; a++) {
        bm_arena_t *arena = bm_state.arenas[a];
        size_t before = total;
        for (unsigned cls = 0; cls < BM_NSMALL; cls++)
            total += BM_STAT_GET(arena->bins[cls].stats.curregs) * bm_classes[cls].size;
        total += BM_STAT_GET(arena->stats.large_allocated) + BM_STAT_GET(arena->stats.huge_allocated);
        /* freed by other cores, on their way back */
        total = before + minus_clamped(total - before, bm_arena_inbox_bytes(arena));
        for (unsigned id = 1; id <= BM_MAX_OBJCACHES; id++) { /* object caches' regions too */
            const bm_objcache_t *oc = __atomic_load_n(&bm_objcache_table[id], __ATOMIC_ACQUIRE);
            if (oc)
                total += BM_STAT_GET(bm_objcache_bin(oc, a)->stats.curregs) * bm_classes[oc->cls].size;
        }
#if BM_HARDENING >= 2
        /* Quarantined blocks are freed by the program, only not yet back in their runs. */
        bm_irq_state_t irq = bm_port_irq_save();
        bm_arena_lock(arena);
        for (unsigned i = 0; i < BM_QUARANTINE_SLOTS; i++)
            if (arena->quarantine[i])
                total -= bm_classes[bm_pm_class(bm_chunk_of(arena->quarantine[i])->map[bm_page_index(arena->quarantine[i])])].size;
        bm_arena_unlock(arena);
        bm_port_irq_restore(irq);
#endif
    }
    return total;
}

/* ---- peak ----------------------------------------------------------------------------------- */

/* O(1), interrupt-safe. */
void bm_stats_peak_reset(void) {
    __atomic_store_n(&bm_state.peak_allocated, __atomic_load_n(&bm_state.live_allocated, __ATOMIC_RELAXED),
                     __ATOMIC_RELAXED);
}

/* ---- summaries ------------------------------------------------------------------------------ */

/* O(bins + log runs), one hold of the arena lock. */
void bm_arena_summarize(bm_arena_t *arena, bm_arena_summary_t *s) {
    __builtin_memset(s, 0, sizeof *s);
    bm_irq_state_t irq = bm_port_irq_save();
    bm_lock_acquire(&arena->lock);
    s->node = arena->node;
    s->nchunks = arena->nchunks;
    s->pactive = arena->nactive;
    s->pdirty = arena->ndirty;
    s->dirty_bound = bm_purge_bound_locked(arena);
    s->largest_free = bm_arena_largest_free_locked(arena) << BM_LG_PAGE;
    for (unsigned cls = 0; cls < BM_NSMALL; cls++) {
        const bm_bin_stats_t *bs = &arena->bins[cls].stats;
        s->small_nmalloc += BM_STAT_GET(bs->nmalloc);
        s->small_ndalloc += BM_STAT_GET(bs->ndalloc);
        s->small_nrequests += BM_STAT_GET(bs->nrequests);
    }
    const bm_arena_stats_t *st = &arena->stats;
    s->small_allocated = BM_STAT_GET(st->small_allocated);
    s->large_allocated = BM_STAT_GET(st->large_allocated);
    s->large_nmalloc = BM_STAT_GET(st->large_nmalloc);
    s->large_ndalloc = BM_STAT_GET(st->large_ndalloc);
    s->lock_acquisitions = BM_STAT_GET(st->lock_acquisitions);
    s->lock_contended = BM_STAT_GET(st->lock_contended);
    s->npurge = BM_STAT_GET(st->npurge);
    s->purged = BM_STAT_GET(st->purged);
#if BM_REMOTE_INBOX
    s->inbox_pushes = __atomic_load_n(&arena->inbox_pushes, __ATOMIC_RELAXED);
    s->inbox_drained = BM_STAT_GET(arena->inbox_drained);
#endif
    s->inbox_bytes = bm_arena_inbox_bytes(arena);
    bm_lock_release(&arena->lock);
    bm_port_irq_restore(irq);
    /* huge counters change under the pool lock: read them as they are */
    s->huge_allocated = BM_STAT_GET(st->huge_allocated);
    s->huge_nmalloc = BM_STAT_GET(st->huge_nmalloc);
    s->huge_ndalloc = BM_STAT_GET(st->huge_ndalloc);
    s->allocated = minus_clamped(s->small_allocated + s->large_allocated + s->huge_allocated, s->inbox_bytes);
}

/* O(classes), no lock; false for a core index out of range or without a cache. */
bool bm_core_summarize(unsigned core, bm_core_summary_t *s) {
    __builtin_memset(s, 0, sizeof *s);
    if (core >= BM_MAX_CORES)
        return false;
    bm_cache_t *cache = __atomic_load_n(&bm_state.caches[core], __ATOMIC_ACQUIRE);
    if (!cache)
        return false;
    /* Another core's counters and stack heads: momentary values, as documented. */
    bm_arena_t *arena = __atomic_load_n(&cache->arena, __ATOMIC_RELAXED);
    s->arena = arena ? arena->index : 0;
    s->flush_pending = __atomic_load_n(&cache->flush_request, __ATOMIC_RELAXED) != 0;
    for (unsigned cls = 0; cls < cache->ncached && cls < BM_NCLASSES; cls++) {
        const bm_cache_bin_info_t *info = &cache->info[cls];
        if (!info->nmax)
            continue;
        bm_cache_bin_t bin = cache->bins[cls];
        unsigned count = bm_cache_bin_count(&bin);
        if (count > info->nmax) /* torn read of a stack being pushed to: ignore */
            count = 0;
        s->ncached += count;
        s->cached_bytes += (size_t)count * bm_classes[cls].size;
        s->nfills += BM_STAT_GET(info->nfills);
        s->nflushes += BM_STAT_GET(info->nflushes);
        s->nfilled += BM_STAT_GET(info->nfilled);
        s->nflushed += BM_STAT_GET(info->nflushed);
        s->nmisses += BM_STAT_GET(info->nmisses);
    }
    s->cross_frees = BM_STAT_GET(cache->cross_frees);
    s->nhits = BM_STAT_GET(cache->nhits);
    s->nrequests = s->nhits + s->nmisses; /* requests that reached the cache */
    return true;
}

/* O(1), no lock: momentary counters (bin must be < BM_NSMALL). Interrupt-safe. */
void bm_bin_summarize(bm_arena_t *arena, unsigned bin, bm_bin_summary_t *s) {
    const bm_bin_stats_t *bs = &arena->bins[bin].stats;
    s->nmalloc = BM_STAT_GET(bs->nmalloc);
    s->ndalloc = BM_STAT_GET(bs->ndalloc);
    s->nrequests = BM_STAT_GET(bs->nrequests);
    s->nruns = BM_STAT_GET(bs->nruns);
    s->curruns = BM_STAT_GET(bs->curruns);
    s->curregs = BM_STAT_GET(bs->curregs);
}

/* O(arenas + cores), no lock: momentary counters. Interrupt-safe. index: the cache's id - 1. */
bool bm_objcache_summarize(unsigned index, bm_objcache_summary_t *s) {
    __builtin_memset(s, 0, sizeof *s);
    const bm_objcache_t *oc = index < BM_MAX_OBJCACHES ? __atomic_load_n(&bm_objcache_table[index + 1], __ATOMIC_ACQUIRE) : NULL;
    if (!oc || !__atomic_load_n(&oc->live, __ATOMIC_RELAXED))
        return false;
    s->name = oc->name;
    s->size = oc->size;
    s->align = oc->align;
    s->class_size = bm_classes[oc->cls].size;
    s->nalloc = BM_STAT_GET(oc->nalloc_direct);
    s->nfree = BM_STAT_GET(oc->nfree_direct);
    for (unsigned core = 0; core < bm_state.ncores; core++) {
        const bm_objcache_stack_t *st = &oc->stacks[core];
        s->nalloc += BM_STAT_GET(st->nalloc);
        s->nfree += BM_STAT_GET(st->nfree);
        s->cached += __atomic_load_n(&st->count, __ATOMIC_RELAXED);
    }
    for (unsigned a = 0; a < bm_state.narenas; a++) {
        const bm_bin_stats_t *bs = &bm_objcache_bin(oc, a)->stats;
        s->curruns += BM_STAT_GET(bs->curruns);
        s->curregs += BM_STAT_GET(bs->curregs);
        s->nruns += BM_STAT_GET(bs->nruns);
    }
    s->live = s->nalloc >= s->nfree ? (size_t)(s->nalloc - s->nfree) : 0; /* torn reads: never below 0 */
    return true;
}

/* O(narenas + nregions), one lock at a time. */
size_t bm_stats_largest_free(void) {
    size_t largest = 0;
    for (unsigned a = 0; a < bm_state.narenas; a++) {
        bm_arena_t *arena = bm_state.arenas[a];
        bm_irq_state_t irq = bm_port_irq_save();
        bm_lock_acquire(&arena->lock);
        size_t bytes = bm_arena_largest_free_locked(arena) << BM_LG_PAGE;
        bm_lock_release(&arena->lock);
        bm_port_irq_restore(irq);
        if (bytes > largest)
            largest = bytes;
    }
    bm_irq_state_t irq = bm_port_irq_save();
    bm_lock_acquire(&bm_state.pool_lock);
    for (unsigned i = 0; i < bm_state.nregions; i++) {
        const bm_pool_span_t *span = (const bm_pool_span_t *)bm_rb_last(&bm_state.regions[i].pool);
        if (span && (span->nchunks << BM_LG_CHUNK) > largest)
            largest = span->nchunks << BM_LG_CHUNK;
    }
    bm_lock_release(&bm_state.pool_lock);
    bm_port_irq_restore(irq);
    return largest;
}

/* As bm_stats_largest_free. */
void bm_live_totals(bm_live_totals_t *out) {
    out->peak_allocated = __atomic_load_n(&bm_state.peak_allocated, __ATOMIC_RELAXED);
    out->largest_free = bm_stats_largest_free();
}

/* ---- totals and the epoch --------------------------------------------------------------------- */

static bm_lock_t snapshot_lock = BM_LOCK_INITIALIZER;
static bm_totals_t snapshot; /* epoch 0: never taken */

/* O(nodes). Node id's entry in t, added if new; NULL once BM_MAX_REGIONS are listed (cannot
 * happen: every node has a region). No lock, any context. */
static bm_node_totals_t *node_entry(bm_totals_t *t, unsigned id) {
    for (unsigned i = 0; i < t->nnodes; i++)
        if (t->nodes[i].id == id)
            return &t->nodes[i];
    if (t->nnodes == BM_MAX_REGIONS)
        return NULL; /* cannot happen: every node has a region */
    bm_node_totals_t *n = &t->nodes[t->nnodes++];
    n->id = id;
    return n;
}

/* O(arenas x bins + regions). Fills t afresh (epoch 0): pool_lock, each arena's lock (through
 * bm_arena_summarize), then base_lock, one at a time. Not from an interrupt handler. */
static void totals_compute(bm_totals_t *t) {
    __builtin_memset(t, 0, sizeof *t);
    bm_irq_state_t irq = bm_port_irq_save();
    bm_lock_acquire(&bm_state.pool_lock);
    for (unsigned i = 0; i < bm_state.nregions; i++) {
        const bm_region_t *r = &bm_state.regions[i];
        bm_node_totals_t *n = node_entry(t, r->source.node);
        if (!n)
            continue;
        n->nregions++;
        size_t missing = bm_region_missing_pages(r) << BM_LG_PAGE; /* the partial chunk's */
        n->size += (r->nchunks << BM_LG_CHUNK) - missing;
        n->mapped += ((r->ngranted - r->pool_chunks) << BM_LG_CHUNK) - (r->ngranted == r->nchunks ? missing : 0);
        n->retained += r->pool_chunks << BM_LG_CHUNK;
        t->retained_dirty += r->pool_dirty << BM_LG_CHUNK;
    }
    bm_lock_release(&bm_state.pool_lock);
    bm_port_irq_restore(irq);
    for (unsigned i = 0; i < t->nnodes; i++) {
        t->mapped += t->nodes[i].mapped;
        t->retained += t->nodes[i].retained;
    }
    for (unsigned a = 0; a < bm_state.narenas; a++) {
        bm_arena_summary_t s;
        bm_arena_summarize(bm_state.arenas[a], &s);
        t->allocated += s.allocated;
        t->active += (s.pactive << BM_LG_PAGE) + s.huge_allocated;
        t->metadata += (s.nchunks * BM_CHUNK_HEADER_PAGES) << BM_LG_PAGE;
        bm_node_totals_t *n = node_entry(t, s.node);
        if (n) {
            n->narenas++;
            n->allocated += s.allocated;
        }
    }
    for (unsigned core = 0; core < BM_MAX_CORES; core++) {
        bm_core_summary_t c;
        if (bm_core_summarize(core, &c))
            t->cached += c.cached_bytes;
    }
    irq = bm_port_irq_save();
    bm_lock_acquire(&bm_state.base_lock);
    t->metadata += bm_state.base_allocated;
    bm_lock_release(&bm_state.base_lock);
    bm_port_irq_restore(irq);
}

/* O(narenas x bins + nregions), one lock at a time. */
uint64_t bm_stats_epoch_advance(void) {
    bm_totals_t t;
    totals_compute(&t);
    bm_irq_state_t irq = bm_port_irq_save();
    bm_lock_acquire(&snapshot_lock);
    t.epoch = snapshot.epoch + 1;
    snapshot = t;
    bm_lock_release(&snapshot_lock);
    bm_port_irq_restore(irq);
    return t.epoch;
}

/* O(sizeof snapshot) under the snapshot lock; the first call takes a snapshot. */
void bm_stats_totals(bm_totals_t *out) {
    for (;;) {
        bm_irq_state_t irq = bm_port_irq_save();
        bm_lock_acquire(&snapshot_lock);
        *out = snapshot;
        bm_lock_release(&snapshot_lock);
        bm_port_irq_restore(irq);
        if (out->epoch)
            return;
        bm_stats_epoch_advance();
    }
}

/* ---- field lists ------------------------------------------------------------------------------ */

/* O(1); a field of an unknown type reads 0. Interrupt-safe. */
uint64_t bm_field_get(const bm_field_t *f, const void *base) {
    const char *p = (const char *)base + f->offset;
    switch (f->type) {
    case BM_FIELD_BOOL:
        return *(const bool *)p;
    case BM_FIELD_UNSIGNED:
        return *(const unsigned *)p;
    case BM_FIELD_SIZE:
        return *(const size_t *)p;
    case BM_FIELD_U64:
        return *(const uint64_t *)p;
    case BM_FIELD_STAT:
        return BM_STAT_GET(*(const bm_stat_t *)p);
    default:
        return 0;
    }
}

#define FIELD(st, member, name, label, type) {name, label, BM_FIELD_##type, offsetof(st, member)}
#define LIST(a) {a, sizeof a / sizeof a[0]}

#define T(member, label, type) FIELD(bm_totals_t, member, #member, label, type)
static const bm_field_t totals_fields[] = {
    T(allocated, "allocated", SIZE), T(active, "active", SIZE),     T(mapped, "mapped", SIZE),
    T(retained, "retained", SIZE),   T(metadata, "metadata", SIZE),
    T(retained_dirty, "retained dirty", SIZE),
    T(cached, "of allocated, free in caches", SIZE),
};
#undef T
const bm_field_list_t bm_totals_fields = LIST(totals_fields);

static const bm_field_t live_fields[] = {
    FIELD(bm_live_totals_t, peak_allocated, "peak_allocated", "peak allocated", SIZE),
    FIELD(bm_live_totals_t, largest_free, "largest_free", "largest free extent", SIZE),
};
const bm_field_list_t bm_live_fields = LIST(live_fields);

#define M(member, label) FIELD(bm_maint_stats_t, member, #member, label, STAT)
static const bm_field_t maint_fields[] = {
    M(calls, "calls"),           M(purged, "purged pages"),
    M(released, "released bytes"), M(trimmed, "trimmed objects"),
    M(flushes_honoured, "flush requests honoured"), M(decayed, "decayed bytes (slow paths)"),
};
#undef M
const bm_field_list_t bm_maint_fields = LIST(maint_fields);

#define N(member, label, type) FIELD(bm_node_totals_t, member, #member, label, type)
static const bm_field_t node_fields[] = {
    N(nregions, "regions", UNSIGNED), N(narenas, "arenas", UNSIGNED), N(size, "size", SIZE),
    N(mapped, "mapped", SIZE),        N(retained, "retained", SIZE),  N(allocated, "allocated", SIZE),
};
#undef N
const bm_field_list_t bm_node_fields = LIST(node_fields);

/* Nested groups (a dot in the name) last, each group's fields together. */
#define A(member, name, label, type) FIELD(bm_arena_summary_t, member, name, label, type)
static const bm_field_t arena_fields[] = {
    A(node, "node", "(node", UNSIGNED),
    A(nchunks, "nchunks", "chunks", SIZE),
    A(pactive, "pactive", "active pages", SIZE),
    A(pdirty, "pdirty", "dirty pages", SIZE),
    A(dirty_bound, "dirty_bound", "dirty bound pages", SIZE),
    A(largest_free, "largest_free", "largest free run bytes", SIZE),
    A(allocated, "allocated", "allocated", SIZE),
    A(npurge, "npurge", "purge passes", U64),
    A(purged, "purged", "purged pages", U64),
    A(small_allocated, "small.allocated", "allocated", SIZE),
    A(small_nmalloc, "small.nmalloc", "nmalloc", U64),
    A(small_ndalloc, "small.ndalloc", "ndalloc", U64),
    A(small_nrequests, "small.nrequests", "nrequests", U64),
    A(large_allocated, "large.allocated", "allocated", SIZE),
    A(large_nmalloc, "large.nmalloc", "nmalloc", U64),
    A(large_ndalloc, "large.ndalloc", "ndalloc", U64),
    A(huge_allocated, "huge.allocated", "allocated", SIZE),
    A(huge_nmalloc, "huge.nmalloc", "nmalloc", U64),
    A(huge_ndalloc, "huge.ndalloc", "ndalloc", U64),
    A(lock_acquisitions, "lock.acquisitions", "acquisitions", U64),
    A(lock_contended, "lock.contended", "contended", U64),
    A(inbox_bytes, "inbox.bytes", "inbox bytes", SIZE),
    A(inbox_pushes, "inbox.pushes", "inbox pushes", U64),
    A(inbox_drained, "inbox.drained", "inbox drained", U64),
};
#undef A
const bm_field_list_t bm_arena_fields = LIST(arena_fields);

/* The text is a table: each label heads its column. */
#define B(member, type) FIELD(bm_bin_summary_t, member, #member, #member, type)
static const bm_field_t bin_fields[] = {
    B(nmalloc, U64), B(ndalloc, U64),  B(nrequests, U64),
    B(nruns, U64),   B(curruns, SIZE), B(curregs, SIZE),
};
#undef B
const bm_field_list_t bm_bin_fields = LIST(bin_fields);

#define C(member, name, label, type) FIELD(bm_core_summary_t, member, name, label, type)
static const bm_field_t core_fields[] = {
    C(arena, "arena", "arena", UNSIGNED),
    C(ncached, "ncached", "cached objects", SIZE),
    C(cached_bytes, "cached_bytes", "cached bytes", SIZE),
    C(nfills, "nfills", "fills", U64),
    C(nfilled, "nfilled", "filled objects", U64),
    C(nflushes, "nflushes", "flushes", U64),
    C(nflushed, "nflushed", "flushed objects", U64),
    C(nmisses, "nmisses", "misses", U64),
    C(cross_frees, "cross_frees", "cross-core frees", U64),
#if BM_STATS_FAST
    /* Only with BM_STATS_FAST: without it the fast path counts nothing, and a made-up hit
     * count would mislead, so the fields do not exist (bm_ctl: BM_ENOENT). */
    C(nhits, "hits", "hits", U64),
    C(nrequests, "nrequests", "requests", U64),
#endif
    C(flush_pending, "flush_pending", "flush pending", BOOL),
};
#undef C
const bm_field_list_t bm_core_fields = LIST(core_fields);

#define O(member, label, type) FIELD(bm_objcache_summary_t, member, #member, label, type)
static const bm_field_t objcache_fields[] = {
    O(size, "object size", SIZE), O(align, "align", SIZE),       O(class_size, "class size", SIZE),
    O(nalloc, "allocs", U64),     O(nfree, "frees", U64),        O(live, "live objects", SIZE),
    O(cached, "cached objects", SIZE), O(curruns, "runs", SIZE), O(curregs, "regions out", SIZE),
    O(nruns, "runs formed", U64),
};
#undef O
const bm_field_list_t bm_objcache_fields = LIST(objcache_fields);
