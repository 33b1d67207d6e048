/* Unit tests per layer: size classes, page map, red-black tree, bitmap/run, bin, arena,
 * cache, huge, pool, options, port lock. They use the core's internal interfaces. */
#include <pthread.h>
#include <stdint.h>

#include "ext.h"
#include "test.h"

/* ---- size classes ---- */

TEST(size_classes_are_ordered_and_four_per_doubling) {
    for (unsigned c = 1; c < BM_NCLASSES; c++)
        CHECK(bm_classes[c].size > bm_classes[c - 1].size);
    CHECK_EQ(bm_classes[0].size, 8);
    /* Between 128 and BM_SMALL_MAX: exactly four classes in every (2^k, 2^(k+1)]. */
    for (size_t lo = 128; lo * 2 <= BM_SMALL_MAX; lo *= 2) {
        unsigned n = 0;
        for (unsigned c = 0; c < BM_NSMALL; c++)
            n += bm_classes[c].size > lo && bm_classes[c].size <= 2 * lo;
        CHECK_EQ(n, 4);
    }
    CHECK_EQ(bm_classes[BM_NSMALL - 1].size, BM_SMALL_MAX);
    CHECK_EQ(bm_classes[BM_NCLASSES - 1].size, BM_LARGE_MAX);
    for (unsigned c = BM_NSMALL; c < BM_NCLASSES; c++)
        CHECK_EQ(bm_classes[c].size % BM_PAGE, 0);
}

TEST(size_classes_meet_abi_alignment) {
    size_t quantum = (size_t)1 << BM_LG_QUANTUM;
    for (unsigned c = 0; c < BM_NCLASSES; c++) {
        const bm_class_info_t *ci = &bm_classes[c];
        size_t need = ci->size < quantum ? ci->size : quantum;
        CHECK(ci->align >= need);
        CHECK_EQ(ci->reg0 % ci->align, 0);
        CHECK_EQ(ci->size % ci->align, 0);
        if (c < BM_NSMALL) {
            /* the run header and bitmap fit before region 0, the regions inside the run */
            size_t header = sizeof(bm_run_t) + BM_BITMAP_WORDS(ci->nregs) * sizeof(uintptr_t);
            CHECK(ci->reg0 >= header);
            CHECK(ci->reg0 + (size_t)ci->nregs * ci->size <= ci->run_pages * BM_PAGE);
            CHECK(ci->nregs <= BM_RUN_MAX_REGS);
        }
    }
}

TEST(size_lookup_matches_bisection) {
    bm_free(bm_malloc(1)); /* the large-class table is built at initialisation */
    for (size_t size = 0; size <= BM_LARGE_MAX; size += size < 5000 ? 1 : 997) {
        unsigned c = bm_size_to_class(size);
        if (c >= BM_NCLASSES) {
            CHECK(c < BM_NCLASSES);
            break;
        }
        CHECK(bm_classes[c].size >= size);
        if (c > 0)
            CHECK(bm_classes[c - 1].size < (size ? size : 1));
    }
}

TEST(divisibility_test_matches_modulo) {
    for (unsigned c = 0; c < BM_NCLASSES; c++) {
        const bm_class_info_t *ci = &bm_classes[c];
        for (uint32_t x = 0; x < 3 * ci->size + 2 * BM_PAGE; x += (x < 4096 ? 1 : 61))
            if (bm_class_divides(ci, x) != (x % ci->size == 0)) {
                CHECK(bm_class_divides(ci, x) == (x % ci->size == 0));
                break;
            }
    }
}

/* The free fast path's version (bm_bin_region_start, one constant per cache bin) against
 * the modulo, for every class and every page offset - phase a page map entry can give
 * (negative: a pointer before the page's first region boundary, such as into the run header),
 * with the entry's other fields and the pointer's high bits set to show they are masked out. */
TEST(divisibility_magic_matches_modulo) {
    for (unsigned c = 0; c < BM_NCLASSES; c++) {
        bm_cache_bin_t bin = {.div_magic = bm_bin_div_magic(c)};
        long size = bm_classes[c].size;
        for (long diff = -(long)BM_PM_PHASE_MASK; diff <= (long)BM_PAGE_MASK; diff++) {
            long offset = diff < 0 ? 0 : diff, phase = offset - diff;
            bm_pagemap_t pm = bm_pm_make(BM_PAGE_SMALL, true, (unsigned)phase, BM_PM_VALUE_MASK, BM_BIN_INVALID);
            void *ptr = (void *)(((uintptr_t)0x7f5a5a5a5a5a5a5aull & ~(uintptr_t)BM_PAGE_MASK) + (uintptr_t)offset);
            bool expected = diff >= 0 && diff % size == 0;
            if (bm_bin_region_start(&bin, ptr, pm) != expected) {
                fprintf(stderr, "  class %u (%ld B): offset %ld phase %ld\n", c, size, offset, phase);
                CHECK(bm_bin_region_start(&bin, ptr, pm) == expected);
                break;
            }
        }
    }
}

/* On a real run of every small class, the fast path's start test takes exactly region 0 and
 * the positions a multiple of the size after it (regions, then the slack the freed mark
 * guards): never a position in the run header. */
TEST(region_start_test_refuses_the_run_header) {
    for (unsigned c = 0; c < BM_NSMALL; c++) {
        const bm_class_info_t *ci = &bm_classes[c];
        void *block = bm_malloc(ci->size);
        CHECK(block != NULL);
        bm_chunk_t *chunk = bm_chunk_of(block);
        bm_pagemap_t pm = chunk->map[bm_page_index(block)];
        unsigned char *run = bm_page_addr(chunk, bm_page_index(block) - bm_pm_value(pm));
        bm_cache_bin_t bin = {.div_magic = bm_bin_div_magic(c)};
        for (size_t at = 0; at < ci->run_pages * BM_PAGE; at++) {
            unsigned char *ptr = run + at;
            bool expected = at >= ci->reg0 && (at - ci->reg0) % ci->size == 0;
            if (bm_bin_region_start(&bin, ptr, chunk->map[bm_page_index(ptr)]) != expected) {
                fprintf(stderr, "  class %u (%u B, region 0 at %u): run offset %zu\n", c, ci->size, ci->reg0, at);
                CHECK(!"start test wrong");
                break;
            }
        }
        bm_free(block);
    }
    CHECK_EQ(bm_check(), 0);
}

/* Every class's region 0 offset fits the page map's phase field and the head page. */
TEST(region_0_offsets_fit_the_phase_field) {
    for (unsigned c = 0; c < BM_NSMALL; c++) {
        CHECK(bm_classes[c].reg0 <= BM_PM_PHASE_MASK);
        CHECK(bm_classes[c].reg0 < BM_PAGE);
    }
}

TEST(generated_table_is_current) {
    CHECK_EQ(system("python3 tools/gen_size_classes.py --check >/dev/null"), 0);
}

/* ---- page map ---- */

TEST(page_map_fields_round_trip) {
    unsigned kinds[] = {BM_PAGE_FREE, BM_PAGE_SMALL, BM_PAGE_LARGE, BM_PAGE_META};
    for (unsigned k = 0; k < 4; k++)
        for (unsigned head = 0; head < 2; head++) {
            unsigned phase = BM_SMALL_MAX - 1, value = BM_CHUNK_PAGES, cls = BM_BIN_INVALID;
            bm_pagemap_t e = bm_pm_make(kinds[k], head, phase, value, cls);
            CHECK_EQ(bm_pm_kind(e), kinds[k]);
            CHECK_EQ(bm_pm_head(e), head);
            CHECK_EQ(bm_pm_phase(e), phase);
            CHECK_EQ(bm_pm_value(e), value);
            CHECK_EQ(bm_pm_class(e), cls);
        }
}

/* ---- red-black tree ---- */

typedef struct keyed {
    bm_rbnode_t node;
    unsigned key;
    int in_tree;
} keyed_t;

static int keyed_cmp(const bm_rbnode_t *a, const bm_rbnode_t *b) {
    unsigned x = ((const keyed_t *)a)->key, y = ((const keyed_t *)b)->key;
    if (x != y)
        return x < y ? -1 : 1;
    return a < b ? -1 : a > b;
}

static int keyed_key_cmp(const void *key, const bm_rbnode_t *n) {
    return *(const unsigned *)key <= ((const keyed_t *)n)->key ? -1 : 1;
}

TEST(rbtree_random_insert_remove_keeps_invariants) {
    enum { N = 2000 };
    static keyed_t nodes[N];
    bm_rbtree_t tree = {NULL, NULL};
    uint64_t s = 88172645463325252ull;
    long count = 0;
    for (int step = 0; step < 40000; step++) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        keyed_t *k = &nodes[s % N];
        if (k->in_tree) {
            bm_rb_remove(&tree, &k->node);
            k->in_tree = 0;
            count--;
        } else {
            k->key = (unsigned)(s >> 32) % 500;
            bm_rb_insert(&tree, &k->node, keyed_cmp);
            k->in_tree = 1;
            count++;
        }
        if (step % 97 == 0) {
            CHECK_EQ(bm_rb_validate(&tree, keyed_cmp), count);
            unsigned want = (unsigned)(s % 520);
            keyed_t *lb = (keyed_t *)bm_rb_lower_bound(&tree, &want, keyed_key_cmp);
            unsigned best = 1000;
            for (int i = 0; i < N; i++)
                if (nodes[i].in_tree && nodes[i].key >= want && nodes[i].key < best)
                    best = nodes[i].key;
            CHECK_EQ(lb ? lb->key : 1000, best);
        }
    }
    unsigned prev = 0, seen = 0;
    for (bm_rbnode_t *n = bm_rb_first(&tree); n; n = bm_rb_next(n), seen++) {
        CHECK(((keyed_t *)n)->key >= prev);
        prev = ((keyed_t *)n)->key;
    }
    CHECK_EQ(seen, count);
}

/* ---- options scaled with the heap ---- */

/* Slot counts left at 0 follow each core's share of the heap divided again by the core count
 * (8 KiB a small slot within 8-32, 32 KiB a large one within 2-8), and the bin byte bound a
 * thirty-second of it where
 * BM_TCACHE_BIN_BYTES is 0; counts an option set are kept, and a resolved set resolves again
 * for another heap (what bm_heap_size_for does). */
TEST(options_resolve_scales_caches_with_the_heap_and_the_core_count) {
    static const struct { size_t heap; unsigned cores, small, large; } want[] = {
        {16u << 10, 1, 8, 2}, {64u << 10, 1, 8, 2}, {128u << 10, 1, 16, 4}, {256u << 10, 1, 32, 8},
        {256u << 10, 2, 8, 2}, {1u << 30, 1, 32, 8}, {1u << 30, 64, 32, 8}, {0, 1, 8, 2},
        {1u << 20, 2, 32, 8}, {1u << 20, 4, 8, 2},
    };
    for (unsigned i = 0; i < sizeof want / sizeof want[0]; i++) {
        bm_options_t opt;
        bm_options_defaults(&opt);
        opt.tcache_slots = opt.tcache_slots_large = 0; /* what the small geometry's defaults leave */
        bm_options_resolve(&opt, want[i].heap, want[i].cores);
        CHECK_EQ(opt.tcache_slots, want[i].small);
        CHECK_EQ(opt.tcache_slots_large, want[i].large);
        size_t fixed_bytes = BM_TCACHE_BIN_BYTES;
        CHECK_EQ(opt.tcache_bin_bytes, fixed_bytes ? fixed_bytes : want[i].heap / want[i].cores / want[i].cores / 32);
        bm_options_resolve(&opt, 256u << 10, 1); /* scaled once, scaled again */
        CHECK_EQ(opt.tcache_slots, 32);
    }
    bm_options_t set;
    bm_options_defaults(&set);
    CHECK_EQ(bm_options_parse(&set, "tcache_slots:5,tcache_slots_large:3"), 0);
    bm_options_resolve(&set, 1u << 30, 1);
    CHECK_EQ(set.tcache_slots, 5);
    CHECK_EQ(set.tcache_slots_large, 3);
}

/* ---- runs, bins, arenas ---- */

static bm_arena_t *my_arena(void) {
    bm_free(bm_malloc(1)); /* make sure this thread has its cache */
    return bm_arena_for_core(bm_port_core_id());
}

static void *run_of(void *p) {
    bm_pagemap_t e = bm_chunk_of(p)->map[bm_page_index(p)];
    return bm_page_addr(bm_chunk_of(p), bm_page_index(p) - bm_pm_value(e));
}

TEST(run_bitmap_hands_out_ascending_regions) {
    bm_arena_t *arena = my_arena();
    unsigned cls = bm_size_to_class(96);
    const bm_class_info_t *ci = &bm_classes[cls];
    void *out[2 * BM_RUN_MAX_REGS];
    unsigned n = ci->nregs + 3;
    bm_arena_lock(arena);
    /* The real-time fill takes from one run per call (bin.c): calls until n are out, none of
     * which may span two runs. */
    unsigned got = 0, calls = 0;
    while (got < n && calls++ < n) {
        unsigned before = got;
        got += bm_bin_fill_locked(arena, cls, out + got, n - got);
        if (BM_REALTIME)
            for (unsigned i = before + 1; i < got; i++)
                CHECK(run_of(out[i]) == run_of(out[before]));
    }
    bm_arena_unlock(arena);
    CHECK_EQ(got, n);
    CHECK(BM_REALTIME ? calls >= 2 : calls == 1);
    unsigned ascending_breaks = 0;
    for (unsigned i = 1; i < got; i++)
        ascending_breaks += out[i] < out[i - 1];
    CHECK(ascending_breaks <= 2); /* only where one run ends and the next begins */
    for (unsigned i = 1; i < got; i++)
        if (run_of(out[i]) == run_of(out[i - 1])) /* within a run: consecutive regions */
            CHECK_EQ((char *)out[i] - (char *)out[i - 1], ci->size);
    bm_arena_lock(arena);
    for (unsigned i = 0; i < got; i++)
        CHECK(bm_block_dalloc_locked(arena, bm_chunk_of(out[i]), out[i]));
    bm_arena_unlock(arena);
    CHECK_EQ(bm_check(), 0);
}

TEST(bin_prefers_lowest_address_run) {
    bm_arena_t *arena = my_arena();
    unsigned cls = bm_size_to_class(200);
    unsigned nregs = bm_classes[cls].nregs;
    static void *out[4 * BM_RUN_MAX_REGS];
    bm_arena_lock(arena);
    unsigned got = bm_bin_fill_locked(arena, cls, out, 3 * nregs); /* three full runs */
    /* free one region in the lowest run and one in the highest */
    void *lowest = out[0], *highest = out[0];
    for (unsigned i = 0; i < got; i++) {
        if (out[i] < lowest)
            lowest = out[i];
        if (out[i] > highest)
            highest = out[i];
    }
    bm_block_dalloc_locked(arena, bm_chunk_of(highest), highest);
    bm_block_dalloc_locked(arena, bm_chunk_of(lowest), lowest);
    void *next = NULL;
    bm_bin_fill_locked(arena, cls, &next, 1);
    bm_arena_unlock(arena);
    CHECK(next == lowest);
    bm_arena_lock(arena);
    for (unsigned i = 0; i < got; i++)
        if (out[i] != highest)
            bm_block_dalloc_locked(arena, bm_chunk_of(out[i]), out[i]);
    bm_arena_unlock(arena);
    CHECK_EQ(bm_check(), 0);
}

TEST(large_runs_coalesce_when_freed) {
    bm_arena_t *arena = my_arena();
    unsigned cls = BM_NSMALL + 2;
    void *a = bm_arena_large_alloc(arena, cls, BM_PAGE);
    void *b = bm_arena_large_alloc(arena, cls, BM_PAGE);
    void *c = bm_arena_large_alloc(arena, cls, BM_PAGE);
    CHECK(a && b && c);
    size_t dirty_before = arena->ndirty;
    bm_arena_lock(arena);
    bm_block_dalloc_locked(arena, bm_chunk_of(a), a);
    bm_block_dalloc_locked(arena, bm_chunk_of(c), c);
    bm_block_dalloc_locked(arena, bm_chunk_of(b), b);
    bm_arena_unlock(arena);
    CHECK(arena->ndirty >= dirty_before + 3 * bm_classes[cls].run_pages);
    /* a, b and c were adjacent: one free run now starts at the lowest of them */
    void *first = a < b ? (a < c ? a : c) : (b < c ? b : c);
    bm_pagemap_t e = bm_chunk_of(first)->map[bm_page_index(first)];
    if (bm_chunk_of(a) == bm_chunk_of(c)) {
        CHECK_EQ(bm_pm_kind(e), BM_PAGE_FREE);
        CHECK(bm_pm_value(e) >= 3 * bm_classes[cls].run_pages);
    }
    CHECK_EQ(bm_check(), 0);
}

TEST(large_shrink_and_grow_in_place) {
    bm_arena_t *arena = my_arena();
    unsigned big = BM_NCLASSES - 8, small = BM_NSMALL + 1;
    void *p = bm_arena_large_alloc(arena, big, BM_PAGE);
    CHECK(p != NULL);
    bm_arena_large_shrink(arena, p, small);
    CHECK_EQ(bm_usable_size(p), bm_classes[small].size);
    CHECK(bm_arena_large_grow(arena, p, big)); /* the pages it gave back are still free */
    CHECK_EQ(bm_usable_size(p), bm_classes[big].size);
    CHECK_EQ(bm_check(), 0);
    bm_free(p);
    CHECK_EQ(bm_check(), 0);
}

TEST(purge_returns_dirty_pages) {
    bm_arena_t *arena = my_arena();
    void *p = bm_malloc(BM_LARGE_MAX / 2);
    memset(p, 1, BM_LARGE_MAX / 2);
    bm_free(p);
    bm_cache_flush();
    CHECK(arena->ndirty > 0);
    size_t purged = bm_arena_purge(arena, 0);
    CHECK(purged > 0);
    CHECK_EQ(arena->ndirty, 0);
    CHECK_EQ(bm_check(), 0);
}

/* ---- caches ---- */

TEST(cache_refills_in_one_batch_and_flushes_half) {
    bm_free(bm_malloc(1));
    bm_cache_t *cache = *bm_core_local();
    CHECK(cache != &bm_cache_unset);
    unsigned cls = bm_size_to_class(32);
    bm_cache_flush();
    bm_arena_t *arena = cache->arena;
    uint64_t locks = arena->stats.lock_acquisitions, fills = cache->info[cls].nfills;
    unsigned nmax = cache->info[cls].nmax;
    void *ptrs[1024];
    unsigned batch = bm_min(nmax / 2, BM_TCACHE_BATCH_MAX); /* half the slots, capped */
    for (unsigned i = 0; i < batch; i++)
        ptrs[i] = bm_malloc(32);
    CHECK_EQ(cache->info[cls].nfills, fills + 1); /* one refill served them all */
    CHECK_EQ(arena->stats.lock_acquisitions, locks + 1);
    bm_free(bm_malloc(32)); /* the next one refills again */
    CHECK_EQ(cache->info[cls].nfills, fills + 2);
    for (unsigned i = 0; i < batch; i++)
        bm_free(ptrs[i]);
    /* fill the bin to the top, then one more free flushes part of it */
    for (unsigned i = 0; i < nmax + 1; i++)
        ptrs[i] = bm_malloc(32);
    uint64_t flushes = cache->info[cls].nflushes;
    bm_stat_t dallocs = arena->bins[cls].stats.ndalloc;
    unsigned cached_before = bm_cache_bin_count(&cache->bins[cls]); /* a refill's leftovers */
    for (unsigned i = 0; i < nmax + 1; i++)
        bm_free(ptrs[i]);
#if BM_REALTIME
    /* Real-time profile: no flush; each block that found the bin full went to its run. */
    CHECK_EQ(cache->info[cls].nflushes, flushes);
    CHECK_EQ(arena->bins[cls].stats.ndalloc, dallocs + cached_before + 1);
    CHECK_EQ(bm_cache_bin_count(&cache->bins[cls]), nmax);
#else
    (void)cached_before;
    CHECK_EQ(cache->info[cls].nflushes, flushes + 1);
    CHECK(arena->bins[cls].stats.ndalloc > dallocs);
    CHECK(bm_cache_bin_count(&cache->bins[cls]) <= nmax);
#endif
    CHECK_EQ(bm_check(), 0);
}

static void *other_thread_allocates(void *arg) {
    void **out = arg;
    for (int i = 0; i < 200; i++)
        out[i] = bm_malloc(48);
    return NULL;
}

TEST(cross_core_free_returns_to_owner_arena) {
    static void *theirs[200];
    pthread_t t;
    pthread_create(&t, NULL, other_thread_allocates, theirs);
    pthread_join(t, NULL);
    bm_free(bm_malloc(1));
    bm_cache_t *cache = *bm_core_local();
    uint64_t cross = cache->cross_frees;
    for (int i = 0; i < 200; i++)
        bm_free(theirs[i]);
    bm_cache_flush();
    if (bm_state.narenas > 1 && bm_chunk_of(theirs[0])->arena != cache->arena)
        CHECK(cache->cross_frees > cross);
    CHECK_EQ(bm_check(), 0);
}

/* ---- huge and pool ---- */

TEST(huge_blocks_reuse_freed_chunks_lowest_first) {
    void *a = bm_malloc(3 * BM_CHUNK), *b = bm_malloc(3 * BM_CHUNK);
    CHECK(a && b);
    CHECK_EQ(((uintptr_t)a & BM_CHUNK_MASK), 0);
    CHECK_EQ(bm_usable_size(a), 3 * BM_CHUNK);
    bm_free(a);
    void *c = bm_malloc(2 * BM_CHUNK);
    CHECK(c == a); /* best fit, lowest address */
    bm_free(b);
    bm_free(c);
    CHECK_EQ(bm_check(), 0);
}

TEST(huge_realloc_shrinks_in_place) {
    char *p = bm_malloc(5 * BM_CHUNK);
    p[0] = 7;
    char *q = bm_realloc(p, 2 * BM_CHUNK + 1);
    CHECK(q == p && q[0] == 7);
    CHECK_EQ(bm_usable_size(q), 3 * BM_CHUNK);
    bm_free(q);
    CHECK_EQ(bm_check(), 0);
}

/* ---- options ---- */

TEST(options_parse_and_reject) {
    bm_options_t opt;
    bm_options_defaults(&opt);
    CHECK_EQ(bm_options_parse(&opt, "narenas:3,tcache:false,tcache_max:1k,retain:true,arena_rule:node"), 0);
    CHECK_EQ(opt.narenas, 3);
    CHECK_EQ(opt.tcache, 0);
    CHECK_EQ(opt.tcache_max, 1024);
    CHECK_EQ(opt.arena_rule, 1);
    bm_options_defaults(&opt);
    CHECK_EQ(bm_options_parse(&opt, "bogus:1,narenas:x,tcache_batch:0,tcache_max:99999999999999999999,noval,,narenas:2"), 5);
    CHECK_EQ(opt.narenas, 2);
    CHECK_EQ(opt.tcache_batch_pct, 50);
    CHECK_EQ(opt.tcache_max, BM_DEFAULT_TCACHE_MAX);
    CHECK_EQ(bm_options_parse(&opt, NULL), 0);
}

/* ---- port lock ---- */

static bm_lock_t counter_lock = BM_LOCK_INITIALIZER;
static unsigned long counter;

static void *count_up(void *arg) {
    (void)arg;
    for (int i = 0; i < 200000; i++) {
        bm_lock_acquire(&counter_lock);
        counter++;
        bm_lock_release(&counter_lock);
    }
    return NULL;
}

TEST(port_lock_excludes) {
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, count_up, NULL);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    CHECK_EQ(counter, 800000);
}

TEST(port_core_slots_are_distinct) {
    unsigned mine = bm_port_core_id();
    CHECK(mine < BM_MAX_CORES);
    CHECK_EQ(bm_port_core_id(), mine);
}

/* ---- the validator finds what it promises to find ---- */

/* bm_check on a heap with one deliberate corruption: how many violations it reports. */
static unsigned check_count(void) {
    unsigned before = test_error_reports;
    unsigned found = bm_check();
    CHECK_EQ(test_error_reports - before, found); /* each one reported through the hook */
    return found;
}

TEST(validator_reports_each_corrupted_structure) {
    bm_free(bm_malloc(1));
    bm_cache_t *cache = *bm_core_local();
    bm_arena_t *arena = cache->arena;
    /* a dirty free run: a small block's run freed and flushed back, with purging held off */
    unsigned age = UINT32_MAX, old_age = 0;
    size_t len = sizeof old_age;
    CHECK_EQ(bm_ctl("arenas.purge_age", &old_age, &len, &age, sizeof age), 0);
    void *large = bm_malloc(5 * BM_PAGE);
    void *keep = bm_malloc(5 * BM_PAGE); /* keeps the freed run from merging into the rest */
    void *small = bm_malloc(48);
    bm_free(large);
    bm_cache_flush();
    CHECK_EQ(check_count(), 0);

    bm_lock_acquire(&arena->lock);
    bm_free_run_t *dirty = arena->dirty_runs.dirty_next;
    bm_lock_release(&arena->lock);
    CHECK(dirty != &arena->dirty_runs);

    size_t saved = dirty->npages; /* the free run's length copy disagrees with its page map */
    dirty->npages = saved + 1;
    CHECK(check_count() > 0);
    dirty->npages = saved;

    bm_free_run_t *next = dirty->dirty_next; /* the dirty list skips a dirty run */
    dirty->dirty_prev->dirty_next = next;
    CHECK(check_count() > 0);
    dirty->dirty_prev->dirty_next = dirty;
    CHECK_EQ(check_count(), 0);

    size_t ndirty = arena->ndirty; /* the arena's dirty count is off */
    arena->ndirty = ndirty + 1;
    CHECK(check_count() > 0);
    arena->ndirty = ndirty;

    unsigned cls = bm_size_to_class(48); /* a small run's bitmap calls a live block free */
    bm_chunk_t *chunk = bm_chunk_of(small);
    bm_pagemap_t pm = chunk->map[bm_page_index(small)];
    bm_run_t *run = bm_page_addr(chunk, bm_page_index(small) - bm_pm_value(pm));
    size_t index = ((uintptr_t)small - (uintptr_t)run - bm_classes[cls].reg0) / bm_classes[cls].size;
    uintptr_t bit = (uintptr_t)1 << (index % BM_BITMAP_BITS);
    run->bitmap[index / BM_BITMAP_BITS] |= bit;
    CHECK(check_count() > 0);
    run->bitmap[index / BM_BITMAP_BITS] &= ~bit;

    uint32_t magic = cache->bins[cls].div_magic; /* a cache bin's region-start constant */
    cache->bins[cls].div_magic = magic + 1;
    CHECK(check_count() > 0);
    cache->bins[cls].div_magic = magic;

    bm_stat_t regs = arena->bins[cls].stats.curregs; /* a statistic the runs contradict */
    arena->bins[cls].stats.curregs = regs + 1;
    CHECK(check_count() > 0);
    arena->bins[cls].stats.curregs = regs;

    bm_region_t *region = bm_region_of(small); /* an arena chunk's page-map pointer */
    if (region->maps) {
        size_t at = ((uintptr_t)chunk - region->base) >> BM_LG_CHUNK;
        const bm_pagemap_t *own = region->maps[at];
        CHECK(own == chunk->map);
        region->maps[at] = bm_no_pages;
        CHECK(check_count() > 0);
        region->maps[at] = own;
    }

    CHECK_EQ(check_count(), 0); /* every corruption undone: clean again */
    bm_free(small);
    bm_free(keep);
    CHECK_EQ(bm_ctl("arenas.purge_age", NULL, NULL, &old_age, sizeof old_age), 0);
    CHECK_EQ(check_count(), 0);
}

int main(void) {
    bm_set_error_hook(test_count_error);
    return test_main();
}
