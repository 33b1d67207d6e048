/*
 * Statistics: totals, per-arena and per-core summaries, the peak, and bm_stats_print.
 *
 * Nothing on the fast path counts bytes: arena counters change under the arena lock, cache
 * counters on their own core, and the readers here sum them on demand. Small blocks held in
 * per-core caches count as allocated, as in jemalloc: they are out of the arena until a flush
 * returns them. Readers take one lock at a time (an arena's, the pool's), briefly, with the
 * raw lock calls so that reading statistics does not show up in the lock counters it reads.
 *
 * bm_stats_print formats into a buffer on its own stack and hands it to the caller's write
 * callback between lock holds, never during one: a callback on a slow console (or one that
 * allocates) cannot stall allocating cores or deadlock.
 */
#include <stdarg.h>

#include "ext.h"

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

/* ---- peak ----------------------------------------------------------------------------------- */

void bm_stats_peak_reset(void) {
    __atomic_store_n(&bm_state.peak_allocated, __atomic_load_n(&bm_state.live_allocated, __ATOMIC_RELAXED),
                     __ATOMIC_RELAXED);
}

/* ---- summaries ------------------------------------------------------------------------------ */

void bm_arena_summarize(bm_arena_t *arena, bm_arena_summary_t *s) {
    __builtin_memset(s, 0, sizeof *s);
    bm_irq_state_t irq = bm_port_irq_save();
    bm_lock_acquire(&arena->lock);
    s->node = arena->node;
    s->nchunks = arena->nchunks;
    s->pactive = arena->nactive;
    s->pdirty = arena->ndirty;
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
    bm_lock_release(&arena->lock);
    bm_port_irq_restore(irq);
    /* huge counters change under the pool lock: read them as they are */
    s->huge_allocated = BM_STAT_GET(st->huge_allocated);
    s->huge_nmalloc = BM_STAT_GET(st->huge_nmalloc);
    s->huge_ndalloc = BM_STAT_GET(st->huge_ndalloc);
    s->allocated = s->small_allocated + s->large_allocated + s->huge_allocated;
}

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
    return true;
}

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

/* ---- totals and the epoch --------------------------------------------------------------------- */

static bm_lock_t snapshot_lock = BM_LOCK_INITIALIZER;
static bm_totals_t snapshot; /* epoch 0: never taken */

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
        n->size += r->nchunks << BM_LG_CHUNK;
        n->mapped += (r->ngranted - r->pool_chunks) << BM_LG_CHUNK;
        n->retained += r->pool_chunks << BM_LG_CHUNK;
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
    irq = bm_port_irq_save();
    bm_lock_acquire(&bm_state.base_lock);
    t->metadata += bm_state.base_allocated;
    bm_lock_release(&bm_state.base_lock);
    bm_port_irq_restore(irq);
}

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

/* ---- output: a tiny formatter on a stack buffer ---------------------------------------------- */

#define MAP_RUNBUF 64  /* runs copied per arena lock hold */
#define MAP_CELLS 64   /* characters of a chunk's bar in the text map */

typedef struct out {
    void (*cb)(void *opaque, const char *text); /* NULL: line by line to bm_port_log */
    void *opaque;
    bool json;
    unsigned depth;    /* JSON nesting */
    uint32_t nonempty; /* JSON: bit d set once the container at depth d has an element */
    size_t len;
    char buf[BM_STATS_BUF];
} out_t;

static void out_flush(out_t *o) {
    if (!o->len && o->cb)
        return;
    o->buf[o->len] = 0;
    if (o->cb)
        o->cb(o->opaque, o->buf);
    else
        bm_port_log(o->buf);
    o->len = 0;
}

static void out_char(out_t *o, char c) {
    if (!o->cb && c == '\n') {
        out_flush(o); /* the log hook takes one line without its newline */
        return;
    }
    o->buf[o->len++] = c;
    if (o->len == sizeof o->buf - 1)
        out_flush(o);
}

static void out_str(out_t *o, const char *s) {
    while (*s)
        out_char(o, *s++);
}

/* v / 10 and v % 10 without a 64-bit division, which 32-bit targets would take from libgcc. */
static uint64_t div10(uint64_t v, unsigned *rem) {
#if __SIZEOF_POINTER__ == 8
    *rem = (unsigned)(v % 10);
    return v / 10;
#else
    uint64_t q = (v >> 1) + (v >> 2);
    q += q >> 4;
    q += q >> 8;
    q += q >> 16;
    q += q >> 32;
    q >>= 3;
    uint64_t r = v - q * 10;
    while (r > 9) {
        q++;
        r -= 10;
    }
    *rem = (unsigned)r;
    return q;
#endif
}

static void out_number(out_t *o, uint64_t v, bool negative, unsigned base, unsigned width, bool left, bool zero) {
    char digits[24];
    unsigned n = 0;
    do {
        unsigned d;
        if (base == 16) {
            d = (unsigned)(v & 15);
            v >>= 4;
        } else {
            v = div10(v, &d);
        }
        digits[n++] = "0123456789abcdef"[d];
    } while (v);
    if (negative)
        digits[n++] = '-';
    unsigned pad = width > n ? width - n : 0;
    if (!left)
        for (; pad; pad--)
            out_char(o, zero ? '0' : ' ');
    while (n)
        out_char(o, digits[--n]);
    for (; pad; pad--)
        out_char(o, ' ');
}

/* printf subset: %s %c %d %u %zu %llu %x %zx %p, width, '-' (left) and '0' flags, %%. */
static void out_printf(out_t *o, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    for (; *fmt; fmt++) {
        if (*fmt != '%') {
            out_char(o, *fmt);
            continue;
        }
        fmt++;
        bool left = false, zero = false;
        for (; *fmt == '-' || *fmt == '0'; fmt++) {
            if (*fmt == '-')
                left = true;
            else
                zero = true;
        }
        unsigned width = 0;
        for (; *fmt >= '0' && *fmt <= '9'; fmt++)
            width = width * 10 + (unsigned)(*fmt - '0');
        int size = 0; /* 0 int, 1 size_t, 2 long long */
        if (*fmt == 'z') {
            size = 1;
            fmt++;
        } else if (fmt[0] == 'l' && fmt[1] == 'l') {
            size = 2;
            fmt += 2;
        }
        uint64_t v = 0;
        switch (*fmt) {
        case 's': {
            const char *s = va_arg(ap, const char *);
            unsigned n = 0;
            while (s[n])
                n++;
            if (!left)
                for (; width > n; width--)
                    out_char(o, ' ');
            out_str(o, s);
            for (; width > n; width--)
                out_char(o, ' ');
            break;
        }
        case 'c':
            out_char(o, (char)va_arg(ap, int));
            break;
        case 'd': {
            int d = va_arg(ap, int);
            out_number(o, d < 0 ? (uint64_t)-(int64_t)d : (uint64_t)d, d < 0, 10, width, left, zero);
            break;
        }
        case 'u':
        case 'x':
            v = size == 1 ? va_arg(ap, size_t) : size == 2 ? va_arg(ap, unsigned long long) : va_arg(ap, unsigned);
            out_number(o, v, false, *fmt == 'x' ? 16 : 10, width, left, zero);
            break;
        case 'p':
            out_str(o, "0x");
            out_number(o, (uintptr_t)va_arg(ap, void *), false, 16, width, left, zero);
            break;
        case '%':
            out_char(o, '%');
            break;
        default:
            out_char(o, '?');
            if (!*fmt)
                fmt--;
            break;
        }
    }
    va_end(ap);
}

/* ---- JSON emitter ----------------------------------------------------------------------------- */

static void j_newline(out_t *o) {
    out_char(o, '\n');
    for (unsigned i = 0; i < o->depth; i++)
        out_char(o, ' ');
}

/* Before an element of the current container: the comma, and a new line unless inline. */
static void j_element(out_t *o, bool newline) {
    uint32_t bit = (uint32_t)1 << o->depth;
    if (o->nonempty & bit)
        out_char(o, ',');
    o->nonempty |= bit;
    if (newline)
        j_newline(o);
}

static void j_key(out_t *o, const char *key) {
    j_element(o, true);
    if (key)
        out_printf(o, "\"%s\": ", key);
}

static void j_open(out_t *o, const char *key, char bracket) {
    j_key(o, key);
    out_char(o, bracket);
    o->depth++;
    o->nonempty &= ~((uint32_t)1 << o->depth);
}

static void j_close(out_t *o, char bracket) {
    bool had = (o->nonempty >> o->depth) & 1u;
    o->depth--;
    if (had)
        j_newline(o);
    out_char(o, bracket);
}

static void j_u(out_t *o, const char *key, uint64_t v) {
    j_key(o, key);
    out_printf(o, "%llu", (unsigned long long)v);
}

static void j_b(out_t *o, const char *key, bool v) {
    j_key(o, key);
    out_str(o, v ? "true" : "false");
}

static void j_s(out_t *o, const char *key, const char *s) {
    j_key(o, key);
    out_char(o, '"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            out_char(o, '\\');
        if ((unsigned char)*s >= 0x20)
            out_char(o, *s);
    }
    out_char(o, '"');
}

static void j_hex(out_t *o, const char *key, uintptr_t v) {
    j_key(o, key);
    out_printf(o, "\"%p\"", (void *)v);
}

/* ---- sections ----------------------------------------------------------------------------- */

static bool opt_has(const char *opts, char c) {
    for (; opts && *opts; opts++)
        if (*opts == c)
            return true;
    return false;
}

/* thousandths as "0.123" */
static void out_ratio(out_t *o, size_t num, size_t den) {
    size_t milli = den ? (num >= den ? 1000 : num * 1000 / den) : 0;
    out_printf(o, "%zu.%03zu", milli / 1000, milli % 1000);
}

static void print_header(out_t *o, const bm_totals_t *t) {
    if (o->json) {
        j_s(o, "version", BM_VERSION);
        j_open(o, "geometry", '{');
        j_u(o, "page", BM_PAGE);
        j_u(o, "chunk", BM_CHUNK);
        j_u(o, "chunk_pages", BM_CHUNK_PAGES);
        j_u(o, "header_pages", BM_CHUNK_HEADER_PAGES);
        j_u(o, "nbins", BM_NSMALL);
        j_u(o, "nlarge", BM_NCLASSES - BM_NSMALL);
        j_u(o, "small_max", BM_SMALL_MAX);
        j_u(o, "large_max", BM_LARGE_MAX);
        j_u(o, "narenas", bm_state.narenas);
        j_u(o, "nregions", bm_state.nregions);
        j_u(o, "nnodes", t->nnodes);
        j_close(o, '}');
        /* [size, regions per run, run pages] of every class, for readers of the map */
        j_open(o, "classes", '[');
        for (unsigned c = 0; c < BM_NCLASSES; c++) {
            j_element(o, c % 8 == 0);
            out_printf(o, "[%u,%u,%u]", bm_classes[c].size, bm_classes[c].nregs, bm_classes[c].run_pages);
        }
        j_close(o, ']');
    } else {
        out_printf(o, "___ baremalloc %s statistics ___\n", BM_VERSION);
        out_printf(o, "page %zu, chunk %zu (%zu pages, %u header), small classes %u (up to %u), "
                      "large classes %u (up to %u)\n",
                   BM_PAGE, BM_CHUNK, BM_CHUNK_PAGES, BM_CHUNK_HEADER_PAGES, BM_NSMALL, BM_SMALL_MAX,
                   BM_NCLASSES - BM_NSMALL, BM_LARGE_MAX);
        out_printf(o, "arenas %u, regions %u, nodes %u\n", bm_state.narenas, bm_state.nregions, t->nnodes);
    }
}

static void print_options(out_t *o) {
    if (o->json)
        j_open(o, "options", '{');
    else
        out_str(o, "options:");
    for (unsigned i = 0; i < bm_option_count(); i++) {
        size_t v = bm_option_value(&bm_state.opt, i);
        const char *text = bm_option_text(i, v);
        if (o->json) {
            if (text)
                j_s(o, bm_option_name(i), text);
            else if (bm_option_is_bool(i))
                j_b(o, bm_option_name(i), v != 0);
            else
                j_u(o, bm_option_name(i), v);
        } else {
            out_printf(o, " %s:", bm_option_name(i));
            if (text)
                out_str(o, text);
            else if (bm_option_is_bool(i))
                out_str(o, v ? "true" : "false");
            else
                out_printf(o, "%zu", v);
        }
    }
    if (o->json)
        j_close(o, '}');
    else
        out_char(o, '\n');
}

static void print_totals(out_t *o, const bm_totals_t *t) {
    size_t peak = __atomic_load_n(&bm_state.peak_allocated, __ATOMIC_RELAXED);
    size_t largest = bm_stats_largest_free();
    size_t dirty_max = bm_purge_get(BM_PURGE_DIRTY_MAX), dirty_min = bm_purge_get(BM_PURGE_DIRTY_MIN);
    const char *mode = bm_purge_get(BM_PURGE_MODE) ? "idle" : "sync";
    size_t age = bm_purge_get(BM_PURGE_AGE);
    const bm_maint_stats_t *m = &bm_maint_stats;
    if (o->json) {
        j_open(o, "totals", '{');
        j_u(o, "epoch", t->epoch);
        j_u(o, "allocated", t->allocated);
        j_u(o, "active", t->active);
        j_u(o, "mapped", t->mapped);
        j_u(o, "retained", t->retained);
        j_u(o, "metadata", t->metadata);
        j_u(o, "peak_allocated", peak);
        j_u(o, "largest_free", largest);
        j_close(o, '}');
        j_open(o, "purge", '{');
        j_u(o, "dirty_max", dirty_max);
        j_u(o, "dirty_min", dirty_min);
        j_s(o, "mode", mode);
        j_u(o, "age", age);
        j_close(o, '}');
        j_open(o, "maintenance", '{');
        j_u(o, "calls", BM_STAT_GET(m->calls));
        j_u(o, "purged", BM_STAT_GET(m->purged));
        j_u(o, "released", BM_STAT_GET(m->released));
        j_u(o, "trimmed", BM_STAT_GET(m->trimmed));
        j_u(o, "flushes_honoured", BM_STAT_GET(m->flushes_honoured));
        j_close(o, '}');
    } else {
        out_printf(o, "totals (epoch %llu): allocated %zu, active %zu, mapped %zu, retained %zu, metadata %zu\n",
                   (unsigned long long)t->epoch, t->allocated, t->active, t->mapped, t->retained, t->metadata);
        out_printf(o, "peak allocated %zu, largest free extent %zu\n", peak, largest);
        out_printf(o, "purge: dirty_max %zu%%, dirty_min %zu bytes, mode %s, age %zu run operations\n", dirty_max,
                   dirty_min, mode, age);
        out_printf(o, "maintenance: calls %llu, purged %llu pages, released %llu bytes, trimmed %llu objects, "
                      "flush requests honoured %llu\n",
                   (unsigned long long)BM_STAT_GET(m->calls), (unsigned long long)BM_STAT_GET(m->purged),
                   (unsigned long long)BM_STAT_GET(m->released), (unsigned long long)BM_STAT_GET(m->trimmed),
                   (unsigned long long)BM_STAT_GET(m->flushes_honoured));
    }
}

static void print_nodes(out_t *o, const bm_totals_t *t) {
    if (o->json)
        j_open(o, "nodes", '[');
    for (unsigned i = 0; i < t->nnodes; i++) {
        const bm_node_totals_t *n = &t->nodes[i];
        if (o->json) {
            j_open(o, NULL, '{');
            j_u(o, "id", n->id);
            j_u(o, "regions", n->nregions);
            j_u(o, "arenas", n->narenas);
            j_u(o, "size", n->size);
            j_u(o, "mapped", n->mapped);
            j_u(o, "retained", n->retained);
            j_u(o, "allocated", n->allocated);
            j_close(o, '}');
        } else {
            out_printf(o, "node %u: regions %u, arenas %u, size %zu, mapped %zu, retained %zu, allocated %zu\n",
                       n->id, n->nregions, n->narenas, n->size, n->mapped, n->retained, n->allocated);
        }
    }
    if (o->json)
        j_close(o, ']');
}

static void print_bins(out_t *o, bm_arena_t *arena) {
    bool header = false;
    if (o->json)
        j_open(o, "bins", '[');
    for (unsigned j = 0; j < BM_NSMALL; j++) {
        const bm_bin_stats_t *bs = &arena->bins[j].stats;
        uint64_t nmalloc = BM_STAT_GET(bs->nmalloc), ndalloc = BM_STAT_GET(bs->ndalloc);
        uint64_t nrequests = BM_STAT_GET(bs->nrequests), nruns = BM_STAT_GET(bs->nruns);
        size_t curruns = BM_STAT_GET(bs->curruns), curregs = BM_STAT_GET(bs->curregs);
        if (!nmalloc && !curregs)
            continue; /* bins never used: left out, in both forms */
        const bm_class_info_t *ci = &bm_classes[j];
        if (o->json) {
            j_open(o, NULL, '{');
            j_u(o, "bin", j);
            j_u(o, "size", ci->size);
            j_u(o, "nregs", ci->nregs);
            j_u(o, "run_size", (size_t)ci->run_pages << BM_LG_PAGE);
            j_u(o, "nmalloc", nmalloc);
            j_u(o, "ndalloc", ndalloc);
            j_u(o, "nrequests", nrequests);
            j_u(o, "nruns", nruns);
            j_u(o, "curruns", curruns);
            j_u(o, "curregs", curregs);
            j_close(o, '}');
        } else {
            if (!header) {
                out_str(o, "  bins:  bin  size nregs run_size    nmalloc    ndalloc  nrequests   nruns curruns "
                           "  curregs  util\n");
                header = true;
            }
            out_printf(o, "        %4u %5u %5u %8zu %10llu %10llu %10llu %7llu %7zu %9zu  ", j, ci->size, ci->nregs,
                       (size_t)ci->run_pages << BM_LG_PAGE, (unsigned long long)nmalloc,
                       (unsigned long long)ndalloc, (unsigned long long)nrequests, (unsigned long long)nruns,
                       curruns, curregs);
            out_ratio(o, curregs, curruns * ci->nregs);
            out_char(o, '\n');
        }
    }
    if (o->json)
        j_close(o, ']');
}

static void print_arenas(out_t *o, bool bins) {
    if (o->json)
        j_open(o, "arenas", '[');
    for (unsigned a = 0; a < bm_state.narenas; a++) {
        bm_arena_t *arena = bm_state.arenas[a];
        bm_arena_summary_t s;
        bm_arena_summarize(arena, &s);
        if (o->json) {
            j_open(o, NULL, '{');
            j_u(o, "index", a);
            j_u(o, "node", s.node);
            j_u(o, "nchunks", s.nchunks);
            j_u(o, "pactive", s.pactive);
            j_u(o, "pdirty", s.pdirty);
            j_u(o, "largest_free", s.largest_free);
            j_u(o, "allocated", s.allocated);
            j_u(o, "npurge", s.npurge);
            j_u(o, "purged", s.purged);
            j_open(o, "small", '{');
            j_u(o, "allocated", s.small_allocated);
            j_u(o, "nmalloc", s.small_nmalloc);
            j_u(o, "ndalloc", s.small_ndalloc);
            j_u(o, "nrequests", s.small_nrequests);
            j_close(o, '}');
            j_open(o, "large", '{');
            j_u(o, "allocated", s.large_allocated);
            j_u(o, "nmalloc", s.large_nmalloc);
            j_u(o, "ndalloc", s.large_ndalloc);
            j_close(o, '}');
            j_open(o, "huge", '{');
            j_u(o, "allocated", s.huge_allocated);
            j_u(o, "nmalloc", s.huge_nmalloc);
            j_u(o, "ndalloc", s.huge_ndalloc);
            j_close(o, '}');
            j_open(o, "lock", '{');
            j_u(o, "acquisitions", s.lock_acquisitions);
            j_u(o, "contended", s.lock_contended);
            j_close(o, '}');
        } else {
            out_printf(o, "arena %u (node %u): chunks %zu, active %zu pages, dirty %zu pages, allocated %zu "
                          "(small %zu, large %zu, huge %zu)\n",
                       a, s.node, s.nchunks, s.pactive, s.pdirty, s.allocated, s.small_allocated,
                       s.large_allocated, s.huge_allocated);
            out_printf(o, "  purge: %llu passes, %llu pages; lock: %llu acquisitions, %llu contended; "
                          "largest free run %zu bytes\n",
                       (unsigned long long)s.npurge, (unsigned long long)s.purged,
                       (unsigned long long)s.lock_acquisitions, (unsigned long long)s.lock_contended,
                       s.largest_free);
            out_printf(o, "  small: nmalloc %llu, ndalloc %llu, nrequests %llu\n", (unsigned long long)s.small_nmalloc,
                       (unsigned long long)s.small_ndalloc, (unsigned long long)s.small_nrequests);
            out_printf(o, "  large: nmalloc %llu, ndalloc %llu\n", (unsigned long long)s.large_nmalloc,
                       (unsigned long long)s.large_ndalloc);
            out_printf(o, "  huge:  nmalloc %llu, ndalloc %llu\n", (unsigned long long)s.huge_nmalloc,
                       (unsigned long long)s.huge_ndalloc);
        }
        if (bins)
            print_bins(o, arena);
        if (o->json)
            j_close(o, '}');
    }
    if (o->json)
        j_close(o, ']');
}

static void print_cores(out_t *o) {
    if (o->json)
        j_open(o, "cores", '[');
    for (unsigned c = 0; c < BM_MAX_CORES; c++) {
        bm_core_summary_t s;
        if (!bm_core_summarize(c, &s))
            continue;
        if (o->json) {
            j_open(o, NULL, '{');
            j_u(o, "core", c);
            j_u(o, "arena", s.arena);
            j_u(o, "ncached", s.ncached);
            j_u(o, "cached_bytes", s.cached_bytes);
            j_u(o, "nfills", s.nfills);
            j_u(o, "nflushes", s.nflushes);
            j_u(o, "nfilled", s.nfilled);
            j_u(o, "nflushed", s.nflushed);
            j_u(o, "nmisses", s.nmisses);
            j_u(o, "cross_frees", s.cross_frees);
#if BM_STATS_FAST
            j_u(o, "hits", s.nhits);
            j_u(o, "nrequests", s.nhits + s.nmisses);
#endif
            j_b(o, "flush_pending", s.flush_pending);
            j_close(o, '}');
        } else {
            out_printf(o, "core %u: arena %u, cached %zu objects (%zu bytes), fills %llu (%llu objects), "
                          "flushes %llu (%llu objects), misses %llu, cross-core frees %llu",
                       c, s.arena, s.ncached, s.cached_bytes, (unsigned long long)s.nfills,
                       (unsigned long long)s.nfilled, (unsigned long long)s.nflushes,
                       (unsigned long long)s.nflushed, (unsigned long long)s.nmisses,
                       (unsigned long long)s.cross_frees);
#if BM_STATS_FAST
            out_printf(o, ", hits %llu, requests %llu", (unsigned long long)s.nhits,
                       (unsigned long long)(s.nhits + s.nmisses));
#endif
            out_str(o, s.flush_pending ? ", flush pending\n" : "\n");
        }
    }
    if (o->json)
        j_close(o, ']');
}

/* ---- heap map ------------------------------------------------------------------------------ */

typedef struct map_run {
    uint16_t page, npages;
    uint16_t value; /* free: pages counted dirty (0: purged); small: live regions */
    uint8_t cls;    /* BM_BIN_INVALID for free and metadata runs */
    char kind;      /* F free, S small, L large, M metadata */
} map_run_t;

/* Copies up to MAP_RUNBUF runs of an arena chunk, starting at the first run head at or after
 * *page, under the arena's lock. Returns how many; *gone when the chunk no longer belongs to
 * the arena (it went back to the pool between two pieces). */
static unsigned map_collect(bm_region_t *r, size_t index, bm_arena_t *arena, size_t *page, map_run_t *buf,
                            bool *gone) {
    unsigned n = 0;
    bm_irq_state_t irq = bm_port_irq_save();
    bm_lock_acquire(&arena->lock);
    /* The owner's lock makes the entry stable: a chunk changes hands only under it. */
    bm_ctentry_t e = __atomic_load_n(&r->table[index], __ATOMIC_RELAXED);
    bm_chunk_t *chunk = bm_region_chunk(r, index);
    if (bm_ct_type(e) != BM_CT_ARENA || bm_ct_arena(e) != arena->index || chunk->magic != BM_CHUNK_MAGIC ||
        chunk->arena != arena) {
        *gone = true;
    } else {
        size_t p = *page;
        while (p < BM_CHUNK_PAGES && n < MAP_RUNBUF) {
            bm_pagemap_t pm = chunk->map[p];
            if (!bm_pm_head(pm)) { /* the chunk changed since the previous piece: resync */
                p++;
                continue;
            }
            map_run_t *run = &buf[n];
            unsigned cls = bm_pm_class(pm);
            size_t len = bm_pm_value(pm);
            run->cls = BM_BIN_INVALID;
            run->value = 0;
            switch (bm_pm_kind(pm)) {
            case BM_PAGE_FREE:
                run->kind = 'F';
                run->value = bm_pm_dirty(pm) ? (uint16_t)((bm_free_run_t *)bm_page_addr(chunk, p))->ndirty : 0;
                break;
            case BM_PAGE_SMALL:
                run->kind = 'S';
                len = cls < BM_NSMALL ? bm_classes[cls].run_pages : 1;
                if (cls < BM_NSMALL) {
                    run->cls = (uint8_t)cls;
                    run->value = (uint16_t)(bm_classes[cls].nregs - ((bm_run_t *)bm_page_addr(chunk, p))->nfree);
                }
                break;
            case BM_PAGE_LARGE:
                run->kind = 'L';
                run->cls = (uint8_t)cls;
                break;
            default:
                run->kind = 'M';
                break;
            }
            if (len == 0 || p + len > BM_CHUNK_PAGES) {
                p = BM_CHUNK_PAGES; /* inconsistent entry (bm_check would say): stop here */
                break;
            }
            run->page = (uint16_t)p;
            run->npages = (uint16_t)len;
            n++;
            p += len;
        }
        *page = p;
    }
    bm_lock_release(&arena->lock);
    bm_port_irq_restore(irq);
    return n;
}

static char map_cell_char(const map_run_t *run) {
    switch (run->kind) {
    case 'F':
        return run->value ? 'd' : '.';
    case 'S':
        return run->value * 2 > bm_classes[run->cls].nregs ? 'S' : 's';
    case 'L':
        return 'L';
    default:
        return 'M';
    }
}

static void print_arena_chunk(out_t *o, bm_region_t *r, size_t index, bm_arena_t *arena, bool runs) {
    map_run_t buf[MAP_RUNBUF];
    size_t page = 0, pages[4] = {0, 0, 0, 0}, dirty = 0, nruns = 0; /* pages: F S L M */
    const size_t cells = BM_CHUNK_PAGES < MAP_CELLS ? BM_CHUNK_PAGES : MAP_CELLS;
    const size_t per_cell = BM_CHUNK_PAGES / cells;
    char bar[MAP_CELLS + 1];
    __builtin_memset(bar, '?', cells);
    bar[cells] = 0;
    bool gone = false;
    void *base = bm_region_chunk(r, index);
    if (o->json) {
        j_open(o, NULL, '{');
        j_u(o, "chunk", index);
        j_u(o, "n", 1);
        j_s(o, "type", "arena");
        j_u(o, "arena", arena->index);
        j_hex(o, "addr", (uintptr_t)base);
        if (runs)
            j_open(o, "runs", '[');
    }
    while (page < BM_CHUNK_PAGES && !gone) {
        unsigned n = map_collect(r, index, arena, &page, buf, &gone);
        for (unsigned i = 0; i < n; i++) {
            const map_run_t *run = &buf[i];
            int k = run->kind == 'F' ? 0 : run->kind == 'S' ? 1 : run->kind == 'L' ? 2 : 3;
            pages[k] += run->npages;
            if (run->kind == 'F')
                dirty += run->value;
            for (size_t c = (run->page + per_cell - 1) / per_cell; c < cells && c * per_cell < (size_t)run->page + run->npages; c++)
                bar[c] = map_cell_char(run);
            if (o->json && runs) {
                j_element(o, nruns % 8 == 0);
                out_printf(o, "[%u,%u,\"%c\",%d,%u]", run->page, run->npages, run->kind,
                           run->cls == BM_BIN_INVALID ? -1 : (int)run->cls, run->value);
            }
            nruns++;
        }
    }
    if (o->json) {
        if (runs)
            j_close(o, ']');
        j_u(o, "free", pages[0]);
        j_u(o, "dirty", dirty);
        j_u(o, "small", pages[1]);
        j_u(o, "large", pages[2]);
        j_u(o, "meta", pages[3]);
        j_u(o, "nruns", nruns);
        if (gone)
            j_b(o, "changed", true);
        j_close(o, '}');
    } else {
        out_printf(o, "  chunk %zu %p arena %u: small %zu, large %zu, meta %zu, free %zu (dirty %zu) pages, %zu runs%s\n",
                   index, base, arena->index, pages[1], pages[2], pages[3], pages[0], dirty, nruns,
                   gone ? " (changed while read)" : "");
        if (runs)
            out_printf(o, "    |%s|\n", bar);
    }
}

/* Walks each region's chunk table in address order: pool spans, huge blocks, arena chunks. */
static void print_map(out_t *o) {
    unsigned spans = 0, detailed = 0;
    bool truncated = false;
    if (o->json) {
        j_open(o, "heap", '{');
        j_open(o, "regions", '[');
    } else {
        out_printf(o, "heap map (bar: %zu page(s) per character; . free, d dirty free, s small run at most half "
                      "full, S small, L large, M metadata):\n",
                   BM_CHUNK_PAGES < MAP_CELLS ? (size_t)1 : BM_CHUNK_PAGES / MAP_CELLS);
    }
    for (unsigned i = 0; i < bm_state.nregions; i++) {
        bm_region_t *r = &bm_state.regions[i];
        bm_irq_state_t irq = bm_port_irq_save();
        bm_lock_acquire(&bm_state.pool_lock);
        size_t granted = r->ngranted, nchunks = r->nchunks;
        bm_lock_release(&bm_state.pool_lock);
        bm_port_irq_restore(irq);
        if (o->json) {
            j_open(o, NULL, '{');
            j_u(o, "index", i);
            j_u(o, "node", r->source.node);
            j_hex(o, "base", r->base);
            j_u(o, "nchunks", nchunks);
            j_u(o, "granted", granted);
            j_open(o, "spans", '[');
        } else {
            out_printf(o, "region %u (node %u) at %p: %zu chunks, %zu granted\n", i, r->source.node, (void *)r->base,
                       nchunks, granted);
        }
        size_t index = 0;
        while (index < granted) {
            if (spans == BM_STATS_MAP_SPANS) {
                truncated = true;
                break;
            }
            bm_ctentry_t e = __atomic_load_n(&r->table[index], __ATOMIC_RELAXED);
            size_t len = bm_ct_value(e);
            if (!bm_ct_head(e) || len == 0 || index + len > granted) {
                index++; /* changing under us: skip to the next chunk */
                continue;
            }
            spans++;
            switch (bm_ct_type(e)) {
            case BM_CT_POOL: {
                bool dirty = false;
                irq = bm_port_irq_save();
                bm_lock_acquire(&bm_state.pool_lock);
                bm_ctentry_t now = r->table[index];
                if (bm_ct_type(now) == BM_CT_POOL && bm_ct_head(now)) {
                    const bm_pool_span_t *span = bm_region_chunk(r, index);
                    dirty = span->dirty;
                    len = span->nchunks;
                }
                bm_lock_release(&bm_state.pool_lock);
                bm_port_irq_restore(irq);
                if (o->json) {
                    j_open(o, NULL, '{');
                    j_u(o, "chunk", index);
                    j_u(o, "n", len);
                    j_s(o, "type", "pool");
                    j_b(o, "dirty", dirty);
                    j_close(o, '}');
                } else {
                    out_printf(o, "  chunks %zu-%zu: pool, %s\n", index, index + len - 1, dirty ? "dirty" : "released");
                }
                break;
            }
            case BM_CT_HUGE:
                if (o->json) {
                    j_open(o, NULL, '{');
                    j_u(o, "chunk", index);
                    j_u(o, "n", len);
                    j_s(o, "type", "huge");
                    j_u(o, "arena", bm_ct_arena(e));
                    j_close(o, '}');
                } else {
                    out_printf(o, "  chunks %zu-%zu: huge block of arena %u\n", index, index + len - 1, bm_ct_arena(e));
                }
                break;
            case BM_CT_ARENA:
                len = 1;
                if (bm_ct_arena(e) < bm_state.narenas) {
                    print_arena_chunk(o, r, index, bm_state.arenas[bm_ct_arena(e)], detailed < BM_STATS_MAP_CHUNKS);
                    detailed++;
                }
                break;
            default:
                break;
            }
            index += len;
        }
        if (o->json) {
            j_close(o, ']');
            j_close(o, '}');
        }
    }
    if (o->json) {
        j_close(o, ']');
        j_b(o, "truncated", truncated || detailed > BM_STATS_MAP_CHUNKS);
        j_u(o, "map_chunks_max", BM_STATS_MAP_CHUNKS);
        j_u(o, "map_spans_max", BM_STATS_MAP_SPANS);
        j_close(o, '}');
    } else if (truncated || detailed > BM_STATS_MAP_CHUNKS) {
        out_printf(o, "  (map truncated: at most %u spans and %u chunk bars)\n", BM_STATS_MAP_SPANS, BM_STATS_MAP_CHUNKS);
    }
}

void bm_stats_print(void (*write_cb)(void *opaque, const char *text), void *opaque, const char *opts) {
    out_t o;
    o.cb = write_cb;
    o.opaque = opaque;
    o.json = opt_has(opts, 'J');
    o.depth = 0;
    o.nonempty = 0;
    o.len = 0;
    if (!bm_ensure_init()) {
        out_str(&o, o.json ? "{\"baremalloc\": null}\n" : "baremalloc: not initialised\n");
        out_flush(&o);
        return;
    }
    bm_stats_epoch_advance(); /* as jemalloc's malloc_stats_print: fresh totals */
    bm_totals_t t;
    bm_stats_totals(&t);
    if (o.json) {
        out_char(&o, '{');
        o.depth = 1;
        j_open(&o, "baremalloc", '{');
    }
    print_header(&o, &t);
    if (!opt_has(opts, 'g'))
        print_options(&o);
    print_totals(&o, &t);
    if (!opt_has(opts, 'n'))
        print_nodes(&o, &t);
    if (!opt_has(opts, 'a'))
        print_arenas(&o, !opt_has(opts, 'b'));
    if (!opt_has(opts, 'c'))
        print_cores(&o);
    if (!opt_has(opts, 'm'))
        print_map(&o);
    if (o.json) {
        j_close(&o, '}');
        o.depth = 0;
        out_str(&o, "\n}\n");
    } else {
        out_str(&o, "--- end of baremalloc statistics ---\n");
    }
    out_flush(&o);
}
