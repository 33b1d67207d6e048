/*
 * bm_stats_print: every section written once against the emitter (emit.h), which makes it
 * text or JSON. Statistics groups are written from their field lists (stats.c), the same
 * lists bm_ctl serves, so the printer and bm_ctl cannot disagree on a name or a value.
 *
 * The emitter's buffer is on this function's stack; it reaches the caller's callback only
 * between lock holds (every summary is taken before its values are written), so a callback on
 * a slow console (or one that allocates) cannot stall allocating cores or deadlock.
 * Not from an interrupt handler: the summaries take arena and pool locks. Each section is
 * O(what it writes); bad opts letters are ignored, a NULL opts prints everything.
 */
#include "emit.h"

/* Writes a group's fields from base; a dotted name opens a nested object named by its
 * prefix (fields of one prefix stand together in the list; a prefix of 16 characters or more
 * is not split off). O(fields). No lock; not from an interrupt handler (the callback). */
static void print_fields(emit_t *e, const bm_field_list_t *list, const void *base) {
    char group[16] = "";
    for (unsigned i = 0; i < list->n; i++) {
        const bm_field_t *f = &list->fields[i];
        const char *leaf = f->name;
        size_t n = 0;
        while (leaf[n] && leaf[n] != '.')
            n++;
        char now[sizeof group] = "";
        if (leaf[n] == '.' && n < sizeof now) {
            __builtin_memcpy(now, leaf, n);
            now[n] = 0;
            leaf += n + 1;
        }
        if (!bm_text_is(now, group)) {
            if (group[0])
                emit_close(e);
            __builtin_memcpy(group, now, sizeof group);
            if (group[0])
                emit_open_object(e, group, group);
        }
        uint64_t v = bm_field_get(f, base);
        if (f->type == BM_FIELD_BOOL)
            emit_kv_bool(e, leaf, f->label, v != 0);
        else
            emit_kv_u64(e, leaf, f->label, v);
    }
    if (group[0])
        emit_close(e);
}

/* O(classes). Version, geometry and (JSON only) the class table; t is the snapshot. No lock;
 * not from an interrupt handler (the callback). */
static void print_header(emit_t *e, const bm_totals_t *t) {
    emit_text_line(e, "___ baremalloc %s statistics ___", BM_VERSION);
    emit_kv_str(e, "version", NULL, BM_VERSION);
    emit_open_object(e, "geometry", "geometry");
    emit_kv_u64(e, "page", "page", BM_PAGE);
    emit_kv_u64(e, "chunk", "chunk", BM_CHUNK);
    emit_kv_u64(e, "chunk_pages", "chunk pages", BM_CHUNK_PAGES);
    emit_kv_u64(e, "header_pages", "header pages", BM_CHUNK_HEADER_PAGES);
    emit_kv_u64(e, "nbins", "small classes", BM_NSMALL);
    emit_kv_u64(e, "nlarge", "large classes", BM_NCLASSES - BM_NSMALL);
    emit_kv_u64(e, "small_max", "small max", BM_SMALL_MAX);
    emit_kv_u64(e, "large_max", "large max", BM_LARGE_MAX);
    emit_kv_u64(e, "narenas", "arenas", bm_state.narenas);
    emit_kv_u64(e, "nregions", "regions", bm_state.nregions);
    emit_kv_u64(e, "nnodes", "nodes", t->nnodes);
    emit_close(e);
    /* [size, regions per run, run pages] of every class, for readers of the map */
    emit_open_array(e, "classes", NULL);
    for (unsigned c = 0; c < BM_NCLASSES; c++)
        emit_json_item(e, c % 8 == 0, "[%u,%u,%u]", bm_classes[c].size, bm_classes[c].nregs, bm_classes[c].run_pages);
    emit_close(e);
}

/* In text the options read as an options string: " name:value". O(options), no lock; not
 * from an interrupt handler (the callback). */
static void print_options(emit_t *e) {
    emit_open_options(e, "options", "options:");
    for (unsigned i = 0; i < bm_option_count(); i++) {
        size_t v = bm_option_value(&bm_state.opt, i);
        const char *text = bm_option_text(i, v), *name = bm_option_name(i);
        if (text)
            emit_kv_str(e, name, name, text);
        else if (bm_option_is_bool(i))
            emit_kv_bool(e, name, name, v != 0);
        else
            emit_kv_u64(e, name, name, v);
    }
    emit_close(e);
}

/* O(arenas + regions). The snapshot's totals, the live ones (each arena's lock, then pool_lock,
 * one at a time), the purge policy and maintenance counters. Not from an interrupt handler. */
static void print_totals(emit_t *e, const bm_totals_t *t) {
    bm_live_totals_t live;
    bm_live_totals(&live);
    emit_open_object(e, "totals", "totals");
    emit_kv_u64(e, "epoch", "(epoch", t->epoch);
    print_fields(e, &bm_totals_fields, t);
    print_fields(e, &bm_live_fields, &live);
    emit_close(e);
    emit_open_object(e, "purge", "purge");
    emit_kv_u64(e, "dirty_max", "dirty_max", bm_purge_get(BM_PURGE_DIRTY_MAX));
    emit_kv_u64(e, "dirty_min", "dirty_min", bm_purge_get(BM_PURGE_DIRTY_MIN));
    emit_kv_str(e, "mode", "mode", bm_purge_get(BM_PURGE_MODE) ? "idle" : "sync");
    emit_kv_u64(e, "age", "age", bm_purge_get(BM_PURGE_AGE));
    emit_close(e);
    emit_open_object(e, "maintenance", "maintenance");
    print_fields(e, &bm_maint_fields, &bm_maint_stats);
    emit_close(e);
}

/* O(nodes), from the snapshot t. No lock; not from an interrupt handler (the callback). */
static void print_nodes(emit_t *e, const bm_totals_t *t) {
    emit_open_array(e, "nodes", NULL);
    for (unsigned i = 0; i < t->nnodes; i++) {
        emit_open_object(e, NULL, "node");
        emit_kv_u64(e, "id", "", t->nodes[i].id);
        print_fields(e, &bm_node_fields, &t->nodes[i]);
        emit_close(e);
    }
    emit_close(e);
}

/* One table row per bin ever used; in text the first row is preceded by the labels. O(fields),
 * no lock (util: 0 for a bin with no runs); not from an interrupt handler (the callback). */
static void print_bin(emit_t *e, unsigned j, const bm_bin_summary_t *s) {
    const bm_class_info_t *ci = &bm_classes[j];
    emit_open_row(e, "bins:");
    emit_kv_u64(e, "bin", "bin", j);
    emit_kv_u64(e, "size", "size", ci->size);
    emit_kv_u64(e, "nregs", "nregs", ci->nregs);
    emit_kv_u64(e, "run_size", "run_size", (size_t)ci->run_pages << BM_LG_PAGE);
    print_fields(e, &bm_bin_fields, s);
    size_t den = s->curruns * ci->nregs;
    emit_kv_milli(e, NULL, "util", den ? (unsigned)(s->curregs >= den ? 1000 : s->curregs * 1000 / den) : 0);
    emit_close(e);
}

/* O(bins), no lock (momentary counters); bins never used are left out, text puts the labels
 * before the first row. Not from an interrupt handler (the callback). */
static void print_bins(emit_t *e, bm_arena_t *arena) {
    bool head = false;
    emit_open_array(e, "bins", NULL);
    for (unsigned j = 0; j < BM_NSMALL; j++) {
        bm_bin_summary_t s;
        bm_bin_summarize(arena, j, &s);
        if (!s.nmalloc && !s.curregs)
            continue; /* bins never used: left out */
        if (!head && emit_head_begin(e)) {
            print_bin(e, j, &s);
            emit_head_end(e);
        }
        head = true;
        print_bin(e, j, &s);
    }
    emit_close(e);
}

/* O(arenas x bins): each arena summarised in one hold of its lock, then written (bins: its bin
 * table too). Not from an interrupt handler. */
static void print_arenas(emit_t *e, bool bins) {
    emit_open_array(e, "arenas", NULL);
    for (unsigned a = 0; a < bm_state.narenas; a++) {
        bm_arena_summary_t s;
        bm_arena_summarize(bm_state.arenas[a], &s);
        emit_open_object(e, NULL, "arena");
        emit_kv_u64(e, "index", "", a);
        print_fields(e, &bm_arena_fields, &s);
        if (bins)
            print_bins(e, bm_state.arenas[a]);
        emit_close(e);
    }
    emit_close(e);
}

/* O(cores x classes), no lock (momentary counters); cores without a cache are left out. Not
 * from an interrupt handler (the callback). */
static void print_cores(emit_t *e) {
    emit_open_array(e, "cores", NULL);
    for (unsigned c = 0; c < BM_MAX_CORES; c++) {
        bm_core_summary_t s;
        if (!bm_core_summarize(c, &s))
            continue;
        emit_open_object(e, NULL, "core");
        emit_kv_u64(e, "core", "", c);
        print_fields(e, &bm_core_fields, &s);
        emit_close(e);
    }
    emit_close(e);
}

/* O(object caches x (arenas + cores)), no lock (momentary counters); destroyed or unused ids
 * are left out. Not from an interrupt handler (the callback). */
static void print_objcaches(emit_t *e) {
    emit_open_array(e, "objcaches", NULL);
    for (unsigned i = 0; i < BM_MAX_OBJCACHES; i++) {
        bm_objcache_summary_t s;
        if (!bm_objcache_summarize(i, &s))
            continue;
        emit_open_object(e, NULL, "object cache");
        emit_kv_u64(e, "index", "", i);
        emit_kv_str(e, "name", "name", s.name);
        print_fields(e, &bm_objcache_fields, &s);
        emit_close(e);
    }
    emit_close(e);
}

/* O(narenas x bins + cores + the map, bounded by BM_STATS_MAP_SPANS and BM_STATS_MAP_CHUNKS).
 * opts NULL: everything, as text. Without a callback, line by line to bm_port_log. */
void bm_stats_print(void (*write_cb)(void *opaque, const char *text), void *opaque, const char *opts) {
    emit_t e;
    emit_init(&e, write_cb, opaque, bm_text_has(opts, 'J'));
    if (!bm_ensure_init()) {
        emit_raw(&e, e.json ? "{\"baremalloc\": null}\n" : "baremalloc: not initialised\n");
        emit_flush(&e);
        return;
    }
    bm_stats_epoch_advance(); /* as jemalloc's malloc_stats_print: fresh totals */
    bm_totals_t t;
    bm_stats_totals(&t);
    emit_open_object(&e, NULL, NULL);
    emit_open_object(&e, "baremalloc", NULL);
    print_header(&e, &t);
    if (!bm_text_has(opts, 'g'))
        print_options(&e);
    print_totals(&e, &t);
    if (!bm_text_has(opts, 'n'))
        print_nodes(&e, &t);
    if (!bm_text_has(opts, 'a'))
        print_arenas(&e, !bm_text_has(opts, 'b'));
    if (!bm_text_has(opts, 'c'))
        print_cores(&e);
    if (!bm_text_has(opts, 'o'))
        print_objcaches(&e);
    if (!bm_text_has(opts, 'm'))
        bm_print_heap_map(&e);
    emit_close(&e);
    emit_close(&e);
    emit_text_line(&e, "--- end of baremalloc statistics ---");
    emit_raw(&e, "\n");
    emit_flush(&e);
}
