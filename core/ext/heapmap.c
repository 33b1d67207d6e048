/*
 * The heap map section of bm_stats_print: each region's chunk table in address order (pool
 * spans, huge blocks, arena chunks), and each arena chunk's page runs, copied MAP_RUNBUF at a
 * time under the arena lock and written after the lock is released. Text shows a chunk as a
 * bar of MAP_CELLS characters; JSON lists its runs. Not from an interrupt handler (locks).
 */
#include "emit.h"

#define MAP_RUNBUF 64 /* runs copied per arena lock hold */
#define MAP_CELLS 64  /* characters of a chunk's bar in the text map */

typedef struct map_run {
    uint16_t page, npages;
    uint16_t value; /* free: pages counted dirty (0: purged); small: live regions */
    uint8_t cls;    /* BM_BIN_INVALID for free and metadata runs */
    char kind;      /* F free, S small, L large, M metadata */
} map_run_t;

/* Copies up to MAP_RUNBUF runs of an arena chunk, starting at the first run head at or after
 * *page, under the arena's lock (O(MAP_RUNBUF + pages skipped)). Returns how many; *gone when
 * the chunk no longer belongs to the arena (it went back to the pool between two pieces). An
 * inconsistent page map (bm_check would say) ends the chunk there. */
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
                if (cls == BM_BIN_INVALID) /* an object cache's run: its header has the class */
                    cls = ((bm_run_t *)bm_page_addr(chunk, p))->cls;
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

/* O(1). A run's character in the text bar; an unknown kind reads as metadata. No lock, any
 * context. */
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

/* One arena chunk: its runs (JSON, when runs), page counts, and its bar (text, when runs).
 * O(chunk pages), the arena's lock per MAP_RUNBUF runs (map_collect), written between holds;
 * a chunk that changes hands meanwhile is marked changed. Not from an interrupt handler. */
static void print_arena_chunk(emit_t *e, bm_region_t *r, size_t index, bm_arena_t *arena, bool runs) {
    map_run_t buf[MAP_RUNBUF];
    size_t page = 0, pages[4] = {0, 0, 0, 0}, dirty = 0, nruns = 0; /* pages: F S L M */
    const size_t cells = BM_CHUNK_PAGES < MAP_CELLS ? BM_CHUNK_PAGES : MAP_CELLS;
    const size_t per_cell = BM_CHUNK_PAGES / cells;
    char bar[MAP_CELLS + 1];
    __builtin_memset(bar, '?', cells);
    bar[cells] = 0;
    bool gone = false;
    emit_open_object(e, NULL, "chunk");
    emit_kv_u64(e, "chunk", "", index);
    emit_kv_u64(e, "n", "(chunks", 1);
    emit_kv_str(e, "type", "", "arena");
    emit_kv_u64(e, "arena", "arena", arena->index);
    emit_kv_ptr(e, "addr", "at", (uintptr_t)bm_region_chunk(r, index));
    if (runs)
        emit_open_array(e, "runs", NULL);
    while (page < BM_CHUNK_PAGES && !gone) {
        unsigned n = map_collect(r, index, arena, &page, buf, &gone);
        for (unsigned i = 0; i < n; i++) {
            const map_run_t *run = &buf[i];
            int k = run->kind == 'F' ? 0 : run->kind == 'S' ? 1 : run->kind == 'L' ? 2 : 3;
            pages[k] += run->npages;
            if (run->kind == 'F')
                dirty += run->value;
            for (size_t c = (run->page + per_cell - 1) / per_cell;
                 c < cells && c * per_cell < (size_t)run->page + run->npages; c++)
                bar[c] = map_cell_char(run);
            if (runs)
                emit_json_item(e, nruns % 8 == 0, "[%u,%u,\"%c\",%d,%u]", run->page, run->npages, run->kind,
                               run->cls == BM_BIN_INVALID ? -1 : (int)run->cls, run->value);
            nruns++;
        }
    }
    if (runs)
        emit_close(e);
    emit_kv_u64(e, "free", "free pages", pages[0]);
    emit_kv_u64(e, "dirty", "dirty pages", dirty);
    emit_kv_u64(e, "small", "small pages", pages[1]);
    emit_kv_u64(e, "large", "large pages", pages[2]);
    emit_kv_u64(e, "meta", "meta pages", pages[3]);
    emit_kv_u64(e, "nruns", "runs", nruns);
    if (gone)
        emit_kv_bool(e, "changed", "changed while read", true);
    if (runs)
        emit_text_line(e, "|%s|", bar);
    emit_close(e);
}

/* A pool span or a huge block: chunks index..index+len-1, its object left open for the
 * caller's values. O(1), no lock; not from an interrupt handler (the callback). */
static void print_span(emit_t *e, size_t index, size_t len, const char *type) {
    emit_open_object(e, NULL, "chunk");
    emit_kv_u64(e, "chunk", "", index);
    emit_kv_u64(e, "n", "(chunks", len);
    emit_kv_str(e, "type", "", type);
}

/* One region's chunk table; *spans counts spans written (at most BM_STATS_MAP_SPANS), *detailed
 * arena chunks (with their runs up to BM_STATS_MAP_CHUNKS). Returns false when cut short; an
 * entry changing meanwhile is skipped. O(granted chunks + detailed chunks x pages), pool_lock
 * briefly, arena locks as print_arena_chunk takes them. Not from an interrupt handler. */
static bool print_region(emit_t *e, unsigned i, unsigned *spans, unsigned *detailed) {
    bm_region_t *r = &bm_state.regions[i];
    bm_irq_state_t irq = bm_port_irq_save();
    bm_lock_acquire(&bm_state.pool_lock);
    size_t granted = r->ngranted, nchunks = r->nchunks;
    bm_lock_release(&bm_state.pool_lock);
    bm_port_irq_restore(irq);
    emit_open_object(e, NULL, "region");
    emit_kv_u64(e, "index", "", i);
    emit_kv_u64(e, "node", "(node", r->source.node);
    emit_kv_ptr(e, "base", "at", r->base);
    emit_kv_u64(e, "nchunks", "chunks", nchunks);
    emit_kv_u64(e, "granted", "granted", granted);
    emit_open_array(e, "spans", NULL);
    bool complete = true;
    size_t index = 0;
    while (index < granted) {
        if (*spans == BM_STATS_MAP_SPANS) {
            complete = false;
            break;
        }
        bm_ctentry_t ent = __atomic_load_n(&r->table[index], __ATOMIC_RELAXED);
        size_t len = bm_ct_value(ent);
        if (!bm_ct_head(ent) || len == 0 || index + len > granted) {
            index++; /* changing under us: skip to the next chunk */
            continue;
        }
        ++*spans;
        switch (bm_ct_type(ent)) {
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
            print_span(e, index, len, "pool");
            emit_kv_bool(e, "dirty", "dirty", dirty);
            emit_close(e);
            break;
        }
        case BM_CT_HUGE:
            print_span(e, index, len, "huge");
            emit_kv_u64(e, "arena", "arena", bm_ct_arena(ent));
            emit_close(e);
            break;
        case BM_CT_ARENA:
            len = 1;
            if (bm_ct_arena(ent) < bm_state.narenas) {
                print_arena_chunk(e, r, index, bm_state.arenas[bm_ct_arena(ent)], *detailed < BM_STATS_MAP_CHUNKS);
                ++*detailed;
            }
            break;
        default:
            break;
        }
        index += len;
    }
    emit_close(e);
    emit_close(e);
    return complete;
}

/* O(spans + detailed chunks x pages), bounded by BM_STATS_MAP_SPANS and BM_STATS_MAP_CHUNKS;
 * one lock hold at a time (pool lock, or an arena lock per MAP_RUNBUF runs). Not from an
 * interrupt handler. */
void bm_print_heap_map(emit_t *e) {
    unsigned spans = 0, detailed = 0;
    bool complete = true;
    emit_text_line(e, "heap map (bar: %zu page(s) per character; . free, d dirty free, s small run at most half "
                      "full, S small, L large, M metadata):",
                   BM_CHUNK_PAGES < MAP_CELLS ? (size_t)1 : BM_CHUNK_PAGES / MAP_CELLS);
    emit_open_object(e, "heap", NULL);
    emit_open_array(e, "regions", NULL);
    for (unsigned i = 0; i < bm_state.nregions; i++)
        complete = print_region(e, i, &spans, &detailed) && complete;
    emit_close(e);
    bool truncated = !complete || detailed > BM_STATS_MAP_CHUNKS;
    emit_kv_bool(e, "truncated", NULL, truncated);
    emit_kv_u64(e, "map_chunks_max", NULL, BM_STATS_MAP_CHUNKS);
    emit_kv_u64(e, "map_spans_max", NULL, BM_STATS_MAP_SPANS);
    if (truncated)
        emit_text_line(e, "(map truncated: at most %u spans and %u chunk bars)", BM_STATS_MAP_SPANS,
                       BM_STATS_MAP_CHUNKS);
    emit_close(e);
}
