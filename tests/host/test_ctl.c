/*
 * bm_ctl and bm_stats_print: every name is read (and written where writable) and its value
 * checked against what the test did; malformed names and calls are refused with the
 * documented codes. Runs on the host port's default page source with three arenas.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <unistd.h>

#include "ext.h"
#include "test.h"
#include "ctl_read.h"

#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TEST_TSAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define TEST_TSAN 1
#endif

#define NARENAS 3

/* ---- typed readers beyond ctl_read.h's ---- */

DEFINE_READER(rs, const char *)
DEFINE_READER(r32, uint32_t)

static uint64_t epoch_advance(void) {
    uint64_t e = 0;
    size_t len = sizeof e;
    CHECK_EQ(bm_ctl("epoch", &e, &len, &e, sizeof e), 0);
    return e;
}

static unsigned my_core(void) {
    bm_free(bm_malloc(1)); /* this thread has its cache from here on */
    return ru("thread.core");
}
static unsigned my_arena(void) { return ru("thread.arena"); }

/* A large size that per-core caches never hold (above tcache_max): one arena lock per call. */
static size_t uncached_large(void) { return BM_LARGE_MAX / 4; }

/* ---- constants, options ---- */

TEST(ctl_version_and_geometry) {
    CHECK(strcmp(rs("version"), BM_VERSION) == 0);
    CHECK_EQ(ru("arenas.narenas"), NARENAS);
    CHECK_EQ(ru("arenas.narenas"), bm_state.narenas);
    CHECK_EQ(rz("arenas.page"), BM_PAGE);
    CHECK_EQ(rz("arenas.chunk"), BM_CHUNK);
    CHECK_EQ(ru("arenas.nbins"), BM_NSMALL);
    CHECK_EQ(ru("arenas.nlarge"), BM_NCLASSES - BM_NSMALL);
    CHECK_EQ(rb("config.realtime"), BM_REALTIME != 0);
    CHECK_EQ(ru("config.hardening"), BM_HARDENING);
    for (unsigned i = 0; i < BM_NSMALL; i++) {
        CHECK_EQ(rz("arenas.bin.%u.size", i), bm_classes[i].size);
        CHECK_EQ(r32("arenas.bin.%u.nregs", i), bm_classes[i].nregs);
        CHECK_EQ(rz("arenas.bin.%u.run_size", i), (size_t)bm_classes[i].run_pages * BM_PAGE);
        /* a block of the bin's size really comes from that class */
        void *p = bm_malloc(bm_classes[i].size);
        CHECK_EQ(bm_usable_size(p), rz("arenas.bin.%u.size", i));
        bm_free(p);
    }
    for (unsigned i = 0; i < BM_NCLASSES - BM_NSMALL; i++)
        CHECK_EQ(rz("arenas.large.%u.size", i), bm_classes[BM_NSMALL + i].size);
    size_t len = 0;
    CHECK_EQ(bm_ctl("arenas.bin.0.size", NULL, &len, NULL, 0), 0); /* size query */
    CHECK_EQ(len, sizeof(size_t));
}

TEST(ctl_every_option_is_readable_and_read_only) {
    for (unsigned i = 0; i < bm_option_count(); i++) {
        char name[64];
        snprintf(name, sizeof name, "opt.%s", bm_option_name(i));
        size_t value = bm_option_value(&bm_state.opt, i), len = 0;
        CHECK_EQ(bm_ctl(name, NULL, &len, NULL, 0), 0);
        const char *text = bm_option_text(i, value);
        if (text) {
            CHECK_EQ(len, sizeof(const char *));
            CHECK(strcmp(rs("%s", name), text) == 0);
        } else if (bm_option_is_bool(i)) {
            CHECK_EQ(len, sizeof(bool));
            CHECK_EQ(rb("%s", name), value != 0);
        } else if (len == sizeof(unsigned)) {
            CHECK_EQ(ru("%s", name), value);
        } else {
            CHECK_EQ(len, sizeof(size_t));
            CHECK_EQ(rz("%s", name), value);
        }
        uint64_t any[2] = {0, 0};
        CHECK_EQ(bm_ctl(name, NULL, NULL, any, len), BM_EPERM);
    }
    /* the values main() passed in */
    CHECK_EQ(ru("opt.narenas"), NARENAS);
    CHECK_EQ(rb("opt.tcache"), true);
    CHECK_EQ(rz("opt.tcache_max"), BM_DEFAULT_TCACHE_MAX);
    CHECK_EQ(ru("opt.tcache_slots"), test_default_slots(0));
    CHECK_EQ(ru("opt.tcache_slots_large"), test_default_slots(1));
    CHECK_EQ(ru("opt.tcache_batch"), 50);
    CHECK_EQ(ru("opt.tcache_flush"), 50);
    CHECK_EQ(ru("opt.dirty_max"), 30);
    CHECK_EQ(rb("opt.retain"), false);
    CHECK(strcmp(rs("opt.arena_rule"), "core") == 0);
    CHECK_EQ(rz("opt.dirty_min"), 64 * BM_PAGE);
    CHECK(strcmp(rs("opt.purge"), "sync") == 0);
}

/* Malformed options: each rejected entry is reported through the port's log hook (stderr on
 * the host, captured here) naming the option, and its default kept. */
TEST(options_reject_malformed_entries_by_name) {
    char path[64];
    snprintf(path, sizeof path, "build/host/ctl_log.%d.txt", (int)getpid());
    fflush(stderr);
    int saved = dup(2);
    FILE *log = fopen(path, "w+");
    CHECK(log != NULL);
    if (!log)
        return;
    dup2(fileno(log), 2);
    bm_options_t opt;
    bm_options_defaults(&opt);
    int rejected = bm_options_parse(&opt, "purge:never,dirty_min:12q,arena_rule:numa,dirty_max:1001,"
                                          "retain:maybe,purge,:3,dirty_min:-1,purge:idle,dirty_min:1m");
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    CHECK_EQ(rejected, 8);
    CHECK_EQ(opt.purge, 1); /* the good entries still apply */
    CHECK_EQ(opt.dirty_min, 1 << 20);
    CHECK_EQ(opt.arena_rule, 0);
    bm_options_t defaults;
    bm_options_defaults(&defaults);
    CHECK_EQ(opt.dirty_max_pct, defaults.dirty_max_pct); /* "dirty_max:abc" left it alone */
    CHECK_EQ(opt.retain, defaults.retain); /* "retain:maybe" left it alone */
    char text[2048] = {0};
    rewind(log);
    size_t n = fread(text, 1, sizeof text - 1, log);
    fclose(log);
    remove(path);
    CHECK(n > 0);
    CHECK(strstr(text, "baremalloc: option 'purge': malformed value; default kept") != NULL);
    CHECK(strstr(text, "option 'dirty_min': malformed value") != NULL);
    CHECK(strstr(text, "option 'arena_rule': malformed value") != NULL);
    CHECK(strstr(text, "option 'dirty_max': value out of range") != NULL);
    CHECK(strstr(text, "option 'retain': malformed value") != NULL);
    CHECK(strstr(text, "option 'purge': expected name:value") != NULL);
    CHECK(strstr(text, "option '': unknown option") != NULL);
}

/* ---- malformed calls ---- */

TEST(ctl_rejects_malformed_names_and_calls) {
    size_t z = 0, len = sizeof z;
    const char *unknown[] = {"",
                             "nope",
                             "arenas",
                             "arenas.",
                             "arenas.page.",
                             ".arenas.page",
                             "arenas..page",
                             "arenas.bin.x.size",
                             "arenas.bin..size",
                             "arenas.bin.-1.size",
                             "arenas.bin.1",
                             "arenas.bin.1.size.x",
                             "arenas.bin.1234567890.size",
                             "arenas.bin.99.size",
                             "arenas.large.999.size",
                             "stats.arenas.3.pdirty",
                             "stats.arenas.0.bins.999.nmalloc",
                             "stats.arenas.0.bins.0",
                             "stats.nodes.7.size",
                             "stats.cores.99999.nfills",
                             "opt.",
                             "opt.bogus",
                             "opt.narenas.x",
                             "Version",
                             "version ",
                             "stats.cores.0.hitz"};
    for (unsigned i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        len = sizeof z;
        int rc = bm_ctl(unknown[i], &z, &len, NULL, 0);
        if (rc != BM_ENOENT)
            fprintf(stderr, "  \"%s\" gave %d\n", unknown[i], rc);
        CHECK_EQ(rc, BM_ENOENT);
    }
    CHECK_EQ(bm_ctl(NULL, &z, &len, NULL, 0), BM_EINVAL);
    /* a core without a cache: the last slot is never used by this test */
    CHECK_EQ(bm_ctl("stats.cores.255.nfills", NULL, &len, NULL, 0), BM_ENOENT);
    /* oldp without oldlenp */
    CHECK_EQ(bm_ctl("arenas.page", &z, NULL, NULL, 0), BM_EINVAL);
    /* short and long buffers: refused, the right size reported, nothing written */
    uint32_t small = 0xabcd;
    len = sizeof small;
    CHECK_EQ(bm_ctl("arenas.page", &small, &len, NULL, 0), BM_EINVAL);
    CHECK_EQ(len, sizeof(size_t));
    CHECK_EQ(small, 0xabcd);
    char big[32];
    len = sizeof big;
    CHECK_EQ(bm_ctl("arenas.narenas", big, &len, NULL, 0), BM_EINVAL);
    CHECK_EQ(len, sizeof(unsigned));
    /* writes to read-only names */
    len = sizeof z;
    CHECK_EQ(bm_ctl("arenas.page", NULL, NULL, &z, sizeof z), BM_EPERM);
    CHECK_EQ(bm_ctl("stats.allocated", &z, &len, &z, sizeof z), BM_EPERM);
    CHECK_EQ(bm_ctl("version", NULL, NULL, NULL, 8), BM_EPERM);
    /* writes with a bad length or no value */
    unsigned idx = 0;
    CHECK_EQ(bm_ctl("thread.arena", NULL, NULL, &idx, sizeof idx + 1), BM_EINVAL);
    CHECK_EQ(bm_ctl("thread.arena", NULL, NULL, NULL, sizeof idx), BM_EINVAL);
    CHECK_EQ(bm_ctl("epoch", NULL, NULL, &idx, sizeof idx), BM_EINVAL);
    /* writes of bad values */
    idx = NARENAS;
    CHECK_EQ(bm_ctl("thread.arena", NULL, NULL, &idx, sizeof idx), BM_EINVAL);
    unsigned pct = 1001;
    CHECK_EQ(bm_ctl("arenas.dirty_max", NULL, NULL, &pct, sizeof pct), BM_EINVAL);
    const char *mode = "sometimes";
    CHECK_EQ(bm_ctl("arenas.purge", NULL, NULL, &mode, sizeof mode), BM_EINVAL);
    mode = NULL;
    CHECK_EQ(bm_ctl("arenas.purge", NULL, NULL, &mode, sizeof mode), BM_EINVAL);
    CHECK(strcmp(rs("arenas.purge"), "sync") == 0); /* unchanged by the refusals */
    CHECK_EQ(ru("arenas.dirty_max"), 30);
    /* actions take neither an old nor a new value */
    len = sizeof z;
    CHECK_EQ(bm_ctl("thread.tcache.flush", &z, &len, NULL, 0), BM_EPERM);
    CHECK_EQ(bm_ctl("thread.tcache.flush", NULL, &len, NULL, 0), BM_EPERM);
    CHECK_EQ(bm_ctl("tcache.flush_all", NULL, NULL, &z, sizeof z), BM_EPERM);
    CHECK_EQ(bm_ctl("arena.0.purge", NULL, NULL, NULL, 4), BM_EPERM);
    /* indices of actions */
    CHECK_EQ(act("arena.%u.purge", NARENAS + 1), BM_ENOENT);
    CHECK_EQ(act("arena.0.reset"), BM_ENOENT); /* removed: an arena cannot call back cached blocks */
    CHECK_EQ(act("arena.x.purge"), BM_ENOENT);
    CHECK_EQ(bm_check(), 0);
}

/* ---- bins, small, large, huge ---- */

TEST(ctl_bin_counters_follow_allocations) {
    unsigned core = my_core(), a = my_arena(), cls = bm_size_to_class(48);
    enum { N = 1000 };
    static void *p[N];
    CHECK_EQ(act("thread.tcache.flush"), 0);
    uint64_t m0 = rq("stats.arenas.%u.bins.%u.nmalloc", a, cls), d0 = rq("stats.arenas.%u.bins.%u.ndalloc", a, cls);
    uint64_t r0 = rq("stats.arenas.%u.bins.%u.nrequests", a, cls), runs0 = rq("stats.arenas.%u.bins.%u.nruns", a, cls);
    size_t c0 = rz("stats.arenas.%u.bins.%u.curregs", a, cls), cr0 = rz("stats.arenas.%u.bins.%u.curruns", a, cls);
    uint64_t sm0 = rq("stats.arenas.%u.small.nmalloc", a), sd0 = rq("stats.arenas.%u.small.ndalloc", a);
    uint64_t sr0 = rq("stats.arenas.%u.small.nrequests", a);
    size_t sa0 = rz("stats.arenas.%u.small.allocated", a);
    uint64_t fills0 = rq("stats.cores.%u.nfills", core), filled0 = rq("stats.cores.%u.nfilled", core);
    uint64_t miss0 = rq("stats.cores.%u.nmisses", core);
    for (int i = 0; i < N; i++)
        p[i] = bm_malloc(48);
    CHECK_EQ(act("thread.tcache.flush"), 0);
    uint64_t m1 = rq("stats.arenas.%u.bins.%u.nmalloc", a, cls), d1 = rq("stats.arenas.%u.bins.%u.ndalloc", a, cls);
    uint64_t r1 = rq("stats.arenas.%u.bins.%u.nrequests", a, cls);
    uint64_t fills1 = rq("stats.cores.%u.nfills", core);
    /* N live after the flush: nmalloc rose by N plus what the flush gave back */
    CHECK(m1 - m0 >= N);
    CHECK_EQ((m1 - m0) - (d1 - d0), N);
    CHECK_EQ(rz("stats.arenas.%u.bins.%u.curregs", a, cls) - c0, N);
    CHECK_EQ(rq("stats.arenas.%u.small.nmalloc", a) - sm0, m1 - m0);
    CHECK_EQ(rq("stats.arenas.%u.small.ndalloc", a) - sd0, d1 - d0);
    CHECK_EQ(rq("stats.arenas.%u.small.nrequests", a) - sr0, r1 - r0);
    CHECK_EQ(rz("stats.arenas.%u.small.allocated", a) - sa0, (size_t)N * 48);
    /* every refill is one bin request, one miss, and brings what nmalloc counted */
    CHECK(fills1 > fills0);
    CHECK_EQ(r1 - r0, fills1 - fills0);
    CHECK_EQ(rq("stats.cores.%u.nmisses", core) - miss0, fills1 - fills0);
    CHECK_EQ(rq("stats.cores.%u.nfilled", core) - filled0, m1 - m0);
    /* runs: at least N / nregs of them now, all counted as created */
    size_t cr1 = rz("stats.arenas.%u.bins.%u.curruns", a, cls);
    CHECK(cr1 - cr0 >= N / bm_classes[cls].nregs);
    CHECK(rq("stats.arenas.%u.bins.%u.nruns", a, cls) - runs0 >= cr1 - cr0);
    for (int i = 0; i < N; i++)
        bm_free(p[i]);
    CHECK_EQ(act("thread.tcache.flush"), 0);
    CHECK_EQ(rq("stats.arenas.%u.bins.%u.nmalloc", a, cls), m1);
    CHECK_EQ(rq("stats.arenas.%u.bins.%u.ndalloc", a, cls) - d1, N);
    CHECK_EQ(rz("stats.arenas.%u.bins.%u.curregs", a, cls), c0);
    CHECK_EQ(rz("stats.arenas.%u.small.allocated", a), sa0);
    CHECK_EQ(bm_check(), 0);
}

TEST(ctl_large_and_huge_counters) {
    my_core();
    unsigned a = my_arena();
    size_t size = uncached_large(), cls_size = bm_classes[bm_size_to_class(size)].size;
    enum { M = 5 };
    void *p[M];
    uint64_t ln0 = rq("stats.arenas.%u.large.nmalloc", a), ld0 = rq("stats.arenas.%u.large.ndalloc", a);
    size_t la0 = rz("stats.arenas.%u.large.allocated", a), all0 = rz("stats.arenas.%u.allocated", a);
    for (int i = 0; i < M; i++)
        p[i] = bm_malloc(size);
    CHECK_EQ(rq("stats.arenas.%u.large.nmalloc", a) - ln0, M);
    CHECK_EQ(rz("stats.arenas.%u.large.allocated", a) - la0, M * cls_size);
    CHECK_EQ(rz("stats.arenas.%u.allocated", a) - all0, M * cls_size);
    for (int i = 0; i < M; i++)
        bm_free(p[i]);
    CHECK_EQ(rq("stats.arenas.%u.large.ndalloc", a) - ld0, M);
    CHECK_EQ(rz("stats.arenas.%u.large.allocated", a), la0);

    uint64_t hn0 = rq("stats.arenas.%u.huge.nmalloc", a), hd0 = rq("stats.arenas.%u.huge.ndalloc", a);
    size_t ha0 = rz("stats.arenas.%u.huge.allocated", a);
    void *h = bm_malloc(2 * BM_CHUNK + 1);
    CHECK(h != NULL);
    CHECK_EQ(rq("stats.arenas.%u.huge.nmalloc", a) - hn0, 1);
    CHECK_EQ(rz("stats.arenas.%u.huge.allocated", a) - ha0, 3 * BM_CHUNK);
    bm_free(h);
    CHECK_EQ(rq("stats.arenas.%u.huge.ndalloc", a) - hd0, 1);
    CHECK_EQ(rz("stats.arenas.%u.huge.allocated", a), ha0);
    CHECK_EQ(bm_check(), 0);
}

/* ---- totals, epoch, peak ---- */

/* stats.cached: the free blocks parked in caches, which stats.allocated counts too. */
TEST(ctl_cached_says_what_allocated_holds_in_caches) {
    my_core();
    CHECK_EQ(act("thread.tcache.flush"), 0);
    epoch_advance();
    size_t cached0 = rz("stats.cached");
    void *blocks[4];
    for (unsigned i = 0; i < 4; i++)
        blocks[i] = bm_malloc(64);
    for (unsigned i = 0; i < 4; i++)
        bm_free(blocks[i]);
    epoch_advance();
    size_t cached = rz("stats.cached");
    CHECK(cached >= cached0 + 4 * 64); /* the four freed blocks, and the refill's leftovers */
    CHECK(cached <= rz("stats.allocated"));
    CHECK_EQ(act("thread.tcache.flush"), 0);
    epoch_advance();
    CHECK(rz("stats.cached") <= cached - 4 * 64);
}

TEST(ctl_totals_follow_the_epoch) {
    my_core();
    CHECK_EQ(act("thread.tcache.flush"), 0);
    uint64_t e0 = rq("epoch");
    uint64_t e1 = epoch_advance();
    CHECK_EQ(e1, e0 + 1);
    CHECK_EQ(rq("epoch"), e1);
    size_t alloc0 = rz("stats.allocated"), active0 = rz("stats.active"), mapped0 = rz("stats.mapped");
    size_t retained0 = rz("stats.retained");
    CHECK_EQ(alloc0, bm_stats_allocated()); /* nothing else runs: the sum of every counter */
    CHECK(active0 >= alloc0);
    CHECK(mapped0 >= active0);
    CHECK(rz("stats.metadata") > 0);
    /* a huge block: allocated, active and mapped rise by its chunks, retained falls (it came
     * from the pool) or stays (the region grew) */
    size_t size = 3 * BM_CHUNK;
    void *h = bm_malloc(size);
    CHECK_EQ(rz("stats.allocated"), alloc0); /* snapshot: unchanged until the epoch moves */
    epoch_advance();
    CHECK_EQ(rz("stats.allocated") - alloc0, size);
    CHECK_EQ(rz("stats.active") - active0, size);
    CHECK_EQ(rz("stats.mapped") - mapped0, size);
    CHECK(rz("stats.retained") <= retained0);
    size_t retained1 = rz("stats.retained"), mapped1 = rz("stats.mapped");
    bm_free(h);
    epoch_advance();
    CHECK_EQ(rz("stats.allocated"), alloc0);
    CHECK_EQ(rz("stats.retained") - retained1, size); /* back in the pool */
    CHECK_EQ(mapped1 - rz("stats.mapped"), size);
    /* uncached large block */
    size_t large = bm_classes[bm_size_to_class(uncached_large())].size;
    void *l = bm_malloc(uncached_large());
    epoch_advance();
    CHECK_EQ(rz("stats.allocated") - alloc0, large);
    CHECK(rz("stats.active") - active0 >= large);
    bm_free(l);
    epoch_advance();
    CHECK_EQ(rz("stats.allocated"), bm_stats_allocated());
    CHECK_EQ(bm_check(), 0);
}

TEST(ctl_peak_tracks_the_highest_live_total) {
    my_core();
    CHECK_EQ(act("thread.tcache.flush"), 0);
    CHECK_EQ(act("stats.peak_reset"), 0);
    epoch_advance();
    size_t live = rz("stats.allocated");
    CHECK_EQ(bm_state.live_allocated, live); /* the slow-path counter agrees with the sum */
    CHECK_EQ(rz("stats.peak_allocated"), live);
    size_t size = bm_classes[bm_size_to_class(uncached_large())].size;
    void *a = bm_malloc(uncached_large()), *b = bm_malloc(uncached_large());
    void *h = bm_malloc(BM_CHUNK * 2);
    CHECK_EQ(rz("stats.peak_allocated"), live + 2 * size + 2 * BM_CHUNK);
    bm_free(h);
    bm_free(b);
    CHECK_EQ(rz("stats.peak_allocated"), live + 2 * size + 2 * BM_CHUNK); /* a peak stays */
    void *c = bm_malloc(uncached_large());
    CHECK_EQ(rz("stats.peak_allocated"), live + 2 * size + 2 * BM_CHUNK);
    CHECK_EQ(act("stats.peak_reset"), 0);
    CHECK_EQ(rz("stats.peak_allocated"), live + 2 * size);
    bm_free(a);
    bm_free(c);
    CHECK_EQ(bm_state.live_allocated, live);
    CHECK_EQ(rz("stats.peak_allocated"), live + 2 * size);
}

TEST(ctl_largest_free_is_the_longest_free_run) {
    my_core();
    size_t overall = 0;
    for (unsigned a = 0; a < NARENAS; a++) {
        bm_arena_t *arena = bm_state.arenas[a];
        size_t longest = 0;
        bm_arena_lock(arena);
        const bm_free_runs_t *sets[] = {&arena->runs_dirty, &arena->runs_clean};
        for (unsigned k = 0; k < 2; k++)
            for (bm_free_run_t *n = bm_free_runs_first(sets[k], 1); n; n = bm_free_runs_next(sets[k], n)) {
                size_t pages = bm_pm_value(bm_chunk_of(n)->map[bm_page_index(n)]);
                longest = pages > longest ? pages : longest;
            }
        bm_arena_unlock(arena);
        CHECK_EQ(rz("stats.arenas.%u.largest_free", a), longest * BM_PAGE);
        overall = longest * BM_PAGE > overall ? longest * BM_PAGE : overall;
    }
    for (unsigned i = 0; i < bm_state.nregions; i++)
        for (bm_rbnode_t *n = bm_rb_first(&bm_state.regions[i].pool); n; n = bm_rb_next(n))
            if ((((bm_pool_span_t *)n)->nchunks << BM_LG_CHUNK) > overall)
                overall = ((bm_pool_span_t *)n)->nchunks << BM_LG_CHUNK;
    CHECK_EQ(rz("stats.largest_free"), overall);
    /* a block of that size fits without the heap growing (when it is a pooled span: a free
     * run of an arena can only serve a large block, which a pooled span would not) */
    if (overall < BM_CHUNK)
        return;
    epoch_advance();
    size_t mapped = rz("stats.mapped") + rz("stats.retained");
    void *p = bm_malloc(rz("stats.largest_free"));
    CHECK(p != NULL);
    epoch_advance();
    CHECK_EQ(rz("stats.mapped") + rz("stats.retained"), mapped);
    bm_free(p);
}

/* ---- purging ---- */

TEST(ctl_purge_and_dirty_pages) {
    unsigned core = my_core(), a = my_arena();
    (void)core;
    const char *mode = "idle";
    CHECK_EQ(bm_ctl("arenas.purge", NULL, NULL, &mode, sizeof mode), 0);
    CHECK(strcmp(rs("arenas.purge"), "idle") == 0);
    CHECK_EQ(act("arena.%u.purge", a), 0);
    CHECK_EQ(rz("stats.arenas.%u.pdirty", a), 0);
    size_t size = uncached_large(), pages = bm_classes[bm_size_to_class(size)].run_pages;
    size_t active0 = rz("stats.arenas.%u.pactive", a);
    void *p[4];
    for (int i = 0; i < 4; i++)
        p[i] = bm_malloc(size);
    /* A live block after them keeps their chunk in the arena: without a spare chunk (small
     * geometry) a chunk that empties goes straight back to the pool and its pages with it. */
    void *keeper = bm_malloc(size);
    CHECK_EQ(rz("stats.arenas.%u.pactive", a) - active0, 5 * pages);
    for (int i = 0; i < 4; i++)
        bm_free(p[i]);
    CHECK_EQ(rz("stats.arenas.%u.pactive", a), active0 + pages);
    size_t dirty = rz("stats.arenas.%u.pdirty", a);
    CHECK(dirty >= 4 * pages);
    uint64_t npurge = rq("stats.arenas.%u.npurge", a), purged = rq("stats.arenas.%u.purged", a);
    CHECK_EQ(act("arena.%u.purge", a), 0);
    CHECK_EQ(rz("stats.arenas.%u.pdirty", a), 0);
    CHECK_EQ(rq("stats.arenas.%u.npurge", a), npurge + 1);
    CHECK_EQ(rq("stats.arenas.%u.purged", a), purged + dirty);
    bm_free(keeper);
    /* arena.<narenas>.purge: all of them */
    for (int i = 0; i < 4; i++)
        p[i] = bm_malloc(size);
    for (int i = 0; i < 4; i++)
        bm_free(p[i]);
    CHECK(rz("stats.arenas.%u.pdirty", a) > 0);
    CHECK_EQ(act("arena.%u.purge", NARENAS), 0);
    for (unsigned i = 0; i < NARENAS; i++)
        CHECK_EQ(rz("stats.arenas.%u.pdirty", i), 0);
    mode = "sync";
    CHECK_EQ(bm_ctl("arenas.purge", NULL, NULL, &mode, sizeof mode), 0);
    CHECK(strcmp(rs("arenas.purge"), "sync") == 0);
    CHECK_EQ(bm_check(), 0);
}

TEST(ctl_dirty_bound_follows_the_settings) {
    my_core();
    unsigned a = my_arena();
    unsigned pct = 50, old_pct = 0;
    size_t len = sizeof old_pct;
    CHECK_EQ(bm_ctl("arenas.dirty_max", &old_pct, &len, &pct, sizeof pct), 0);
    CHECK_EQ(old_pct, 30); /* the old value comes back */
    size_t min = 0, old_min = 0;
    len = sizeof old_min;
    CHECK_EQ(bm_ctl("arenas.dirty_min", &old_min, &len, &min, sizeof min), 0);
    CHECK_EQ(old_min, 64 * BM_PAGE);
    CHECK_EQ(ru("arenas.dirty_max"), 50);
    CHECK_EQ(rz("arenas.dirty_min"), 0);
    CHECK_EQ(rz("stats.arenas.%u.dirty_bound", a), rz("stats.arenas.%u.pactive", a) * 50 / 100);
    min = 100000 * BM_PAGE;
    CHECK_EQ(bm_ctl("arenas.dirty_min", NULL, NULL, &min, sizeof min), 0);
    CHECK_EQ(rz("stats.arenas.%u.dirty_bound", a), 100000);
    /* sync purging keeps the arena at its bound: with dirty_max 0 and dirty_min 0 every
     * unlock purges what exceeds zero, one pass at a time */
    pct = 0;
    min = 0;
    unsigned age = 0, old_age = 0;
    len = sizeof old_age;
    CHECK_EQ(bm_ctl("arenas.purge_age", &old_age, &len, &age, sizeof age), 0); /* purge at once */
    CHECK_EQ(old_age, BM_DEFAULT_PURGE_AGE);
    CHECK_EQ(bm_ctl("arenas.dirty_max", NULL, NULL, &pct, sizeof pct), 0);
    CHECK_EQ(bm_ctl("arenas.dirty_min", NULL, NULL, &min, sizeof min), 0);
    CHECK_EQ(rz("stats.arenas.%u.dirty_bound", a), 0);
    uint64_t purged = rq("stats.arenas.%u.purged", a);
    void *p = bm_malloc(uncached_large());
    bm_free(p);
    CHECK(rq("stats.arenas.%u.purged", a) > purged);
    /* each pass visits a bounded number of runs: a few more unlocks finish the sweep */
    int holds = 0;
    for (; holds < 1000 && rz("stats.arenas.%u.pdirty", a) > 0; holds++) {
        bm_free(bm_malloc(64)); /* a refill: one lock hold */
        CHECK_EQ(act("thread.tcache.flush"), 0); /* a flush: another */
    }
    CHECK_EQ(rz("stats.arenas.%u.pdirty", a), 0);
    printf("  sync purge reached 0 dirty pages after %d more lock-hold pairs\n", holds);
    CHECK_EQ(bm_ctl("arenas.dirty_max", NULL, NULL, &old_pct, sizeof old_pct), 0);
    CHECK_EQ(bm_ctl("arenas.dirty_min", NULL, NULL, &old_min, sizeof old_min), 0);
    CHECK_EQ(bm_ctl("arenas.purge_age", NULL, NULL, &old_age, sizeof old_age), 0);
    CHECK_EQ(bm_check(), 0);
}

/* ---- locks ---- */

static int hammer_stop;

static void *hammer(void *arg) {
    unsigned arena = *(unsigned *)arg;
    CHECK_EQ(bm_ctl("thread.arena", NULL, NULL, &arena, sizeof arena), 0);
    while (!__atomic_load_n(&hammer_stop, __ATOMIC_RELAXED))
        bm_free(bm_malloc(uncached_large()));
    return NULL;
}

TEST(ctl_lock_counters) {
    my_core();
    unsigned a = my_arena();
    uint64_t acq = rq("stats.arenas.%u.lock.acquisitions", a);
    void *p = bm_malloc(uncached_large());
    CHECK_EQ(rq("stats.arenas.%u.lock.acquisitions", a), acq + 1); /* reading takes none */
    bm_free(p);
    CHECK_EQ(rq("stats.arenas.%u.lock.acquisitions", a), acq + 2);
    /* four threads on one arena: some acquisitions wait */
    uint64_t contended = rq("stats.arenas.%u.lock.contended", a);
    pthread_t t[4];
    __atomic_store_n(&hammer_stop, 0, __ATOMIC_RELAXED);
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, hammer, &a);
    for (int i = 0; i < 2000 && rq("stats.arenas.%u.lock.contended", a) == contended; i++)
        usleep(1000);
    __atomic_store_n(&hammer_stop, 1, __ATOMIC_RELAXED);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    CHECK(rq("stats.arenas.%u.lock.contended", a) > contended);
    CHECK(rq("stats.arenas.%u.lock.contended", a) <= rq("stats.arenas.%u.lock.acquisitions", a));
    CHECK_EQ(bm_check(), 0);
}

/* ---- per-core caches ---- */

TEST(ctl_thread_arena_rebinds_the_calling_core) {
    unsigned core = my_core(), a0 = my_arena(), a1 = (a0 + 1) % NARENAS, old = 99;
    CHECK_EQ(ru("stats.cores.%u.arena", core), a0);
    size_t len = sizeof old;
    CHECK_EQ(bm_ctl("thread.arena", &old, &len, &a1, sizeof a1), 0);
    CHECK_EQ(old, a0);
    CHECK_EQ(my_arena(), a1);
    CHECK_EQ(ru("stats.cores.%u.arena", core), a1);
    CHECK_EQ(bm_state.core_arena[core], a1);
    /* what this core allocates now comes from a1, cached or not */
    void *small = bm_malloc(64), *large = bm_malloc(uncached_large());
    CHECK(bm_chunk_of(small)->arena == bm_state.arenas[a1]);
    CHECK(bm_chunk_of(large)->arena == bm_state.arenas[a1]);
    bm_free(small);
    bm_free(large);
    CHECK_EQ(bm_ctl("thread.arena", NULL, NULL, &a0, sizeof a0), 0);
    CHECK_EQ(my_arena(), a0);
    CHECK_EQ(bm_check(), 0);
}

TEST(ctl_core_cache_counters) {
    unsigned core = my_core();
    unsigned cls = bm_size_to_class(96);
    bm_cache_t *cache = bm_state.caches[core];
    unsigned nmax = cache->info[cls].nmax;
    CHECK_EQ(act("thread.tcache.flush"), 0);
    CHECK_EQ(rz("stats.cores.%u.ncached", core), 0);
    CHECK_EQ(rz("stats.cores.%u.cached_bytes", core), 0);
    uint64_t fills = rq("stats.cores.%u.nfills", core), filled = rq("stats.cores.%u.nfilled", core);
    uint64_t flushes = rq("stats.cores.%u.nflushes", core), flushed = rq("stats.cores.%u.nflushed", core);
    void *p = bm_malloc(96); /* empty bin: one refill of half the slots */
    unsigned batch = bm_min((nmax * bm_state.opt.tcache_batch_pct + 99) / 100, BM_TCACHE_BATCH_MAX);
    CHECK_EQ(rq("stats.cores.%u.nfills", core), fills + 1);
    CHECK_EQ(rq("stats.cores.%u.nfilled", core), filled + batch);
    CHECK_EQ(rz("stats.cores.%u.ncached", core), batch - 1);
    CHECK_EQ(rz("stats.cores.%u.cached_bytes", core), (batch - 1) * bm_classes[cls].size);
    bm_free(p);
    CHECK_EQ(rz("stats.cores.%u.ncached", core), batch);
    CHECK_EQ(act("thread.tcache.flush"), 0);
    CHECK_EQ(rq("stats.cores.%u.nflushes", core), flushes + 1);
    CHECK_EQ(rq("stats.cores.%u.nflushed", core), flushed + batch);
    CHECK_EQ(rz("stats.cores.%u.ncached", core), 0);
    CHECK_EQ(rb("stats.cores.%u.flush_pending", core), false);
#if BM_STATS_FAST
    /* the next batch - 1 allocations of the class are fast-path hits */
    uint64_t hits = rq("stats.cores.%u.hits", core), misses = rq("stats.cores.%u.nmisses", core);
    uint64_t requests = rq("stats.cores.%u.nrequests", core);
    static void *q[BM_TCACHE_SLOTS_MAX];
    CHECK(batch <= BM_TCACHE_SLOTS_MAX);
    for (unsigned i = 0; i < batch; i++)
        q[i] = bm_malloc(96);
    CHECK_EQ(rq("stats.cores.%u.nmisses", core), misses + 1);
    CHECK_EQ(rq("stats.cores.%u.hits", core), hits + batch - 1);
    CHECK_EQ(rq("stats.cores.%u.nrequests", core), requests + batch);
    for (unsigned i = 0; i < batch; i++)
        bm_free(q[i]);
    CHECK_EQ(act("thread.tcache.flush"), 0);
#else
    uint64_t v;
    size_t len = sizeof v;
    CHECK_EQ(bm_ctl("stats.cores.0.hits", &v, &len, NULL, 0), BM_ENOENT);
    CHECK_EQ(bm_ctl("stats.cores.0.nrequests", &v, &len, NULL, 0), BM_ENOENT);
#endif
}

typedef struct peer {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int step;            /* main -> peer: 1 fill, 3 do a slow path, 5 exit */
    int done;            /* peer -> main: last step finished */
    unsigned core, arena;
    void *theirs[200];   /* blocks the peer allocated, for cross-core frees */
} peer_t;

static void peer_wait(peer_t *p, int step) {
    pthread_mutex_lock(&p->mu);
    while (p->step < step)
        pthread_cond_wait(&p->cv, &p->mu);
    pthread_mutex_unlock(&p->mu);
}

static void peer_signal(peer_t *p, int *field, int value) {
    pthread_mutex_lock(&p->mu);
    *field = value;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

static void main_wait(peer_t *p, int done) {
    pthread_mutex_lock(&p->mu);
    while (p->done < done)
        pthread_cond_wait(&p->cv, &p->mu);
    pthread_mutex_unlock(&p->mu);
}

static void *peer_main(void *arg) {
    peer_t *p = arg;
    p->core = my_core();
    p->arena = my_arena();
    peer_wait(p, 1);
    for (int i = 0; i < 200; i++)
        p->theirs[i] = bm_malloc(48);
    void *mine[16];
    for (int i = 0; i < 16; i++)
        mine[i] = bm_malloc(160);
    for (int i = 0; i < 16; i++)
        bm_free(mine[i]); /* into this core's cache */
    peer_signal(p, &p->done, 2);
    peer_wait(p, 3);
    bm_free(bm_malloc(1000)); /* a slow path (a class this core never used) */
    peer_signal(p, &p->done, 4);
    peer_wait(p, 5);
    return NULL;
}

TEST(ctl_flush_all_reaches_other_cores_on_their_slow_path) {
    unsigned me = my_core();
    static peer_t p = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0, 0, {0}};
    pthread_t t;
    pthread_create(&t, NULL, peer_main, &p);
    peer_signal(&p, &p.step, 1);
    main_wait(&p, 2);
    CHECK(p.core != me);
    size_t theirs_cached = rz("stats.cores.%u.ncached", p.core);
    CHECK(theirs_cached > 0);
    void *mine = bm_malloc(160);
    bm_free(mine);
    CHECK(rz("stats.cores.%u.ncached", me) > 0);
    uint64_t honoured = rq("stats.maintenance.flushes_honoured");
    CHECK_EQ(act("tcache.flush_all"), 0);
    CHECK_EQ(rz("stats.cores.%u.ncached", me), 0);            /* the caller's: now */
    CHECK_EQ(rb("stats.cores.%u.flush_pending", me), false);
    CHECK_EQ(rz("stats.cores.%u.ncached", p.core), theirs_cached); /* theirs: requested */
    CHECK_EQ(rb("stats.cores.%u.flush_pending", p.core), true);
    peer_signal(&p, &p.step, 3);
    main_wait(&p, 4);
    CHECK_EQ(rb("stats.cores.%u.flush_pending", p.core), false);
    /* flushed, then the slow path's own refill of one class (minus the block it returned,
     * freed again into the cache) */
    unsigned cls = bm_size_to_class(1000);
    unsigned batch = bm_min((bm_state.caches[p.core]->info[cls].nmax * bm_state.opt.tcache_batch_pct + 99) / 100,
                            BM_TCACHE_BATCH_MAX);
    if (!bm_class_is_small(cls)) /* a large class's bin fills only by frees: the one block */
        batch = 1;
    CHECK_EQ(rz("stats.cores.%u.ncached", p.core), batch);
    CHECK_EQ(rq("stats.maintenance.flushes_honoured"), honoured + 1);

    /* cross-core frees: the peer's 200 blocks freed here go back to its arena on my flush */
    uint64_t cross = rq("stats.cores.%u.cross_frees", me);
    for (int i = 0; i < 200; i++)
        bm_free(p.theirs[i]);
    CHECK_EQ(act("thread.tcache.flush"), 0);
    if (p.arena != my_arena())
        CHECK_EQ(rq("stats.cores.%u.cross_frees", me) - cross, 200);
    else
        CHECK_EQ(rq("stats.cores.%u.cross_frees", me), cross);
    peer_signal(&p, &p.step, 5);
    pthread_join(t, NULL);
    CHECK_EQ(bm_check(), 0);
}

/* ---- nodes, maintenance counters ---- */

TEST(ctl_single_node_totals) {
    my_core();
    CHECK_EQ(act("thread.tcache.flush"), 0);
    epoch_advance();
    CHECK_EQ(ru("arenas.nnodes"), 1);
    CHECK_EQ(ru("stats.nodes.0.nregions"), 1);
    CHECK_EQ(ru("stats.nodes.0.narenas"), NARENAS);
    CHECK_EQ(rz("stats.nodes.0.size"), bm_state.regions[0].nchunks << BM_LG_CHUNK);
    CHECK_EQ(rz("stats.nodes.0.mapped"), rz("stats.mapped"));
    CHECK_EQ(rz("stats.nodes.0.retained"), rz("stats.retained"));
    CHECK_EQ(rz("stats.nodes.0.allocated"), rz("stats.allocated"));
    for (unsigned a = 0; a < NARENAS; a++)
        CHECK_EQ(ru("stats.arenas.%u.node", a), 0);
    size_t chunks = 0;
    for (unsigned a = 0; a < NARENAS; a++)
        chunks += rz("stats.arenas.%u.nchunks", a);
    CHECK(chunks >= 1);
    CHECK(rz("stats.mapped") >= chunks * BM_CHUNK);
}

TEST(ctl_maintenance_counters) {
    my_core();
    uint64_t calls = rq("stats.maintenance.calls"), trimmed = rq("stats.maintenance.trimmed");
    uint64_t purged = rq("stats.maintenance.purged"), released = rq("stats.maintenance.released");
    bm_maintenance();
    bm_maintenance();
    CHECK_EQ(rq("stats.maintenance.calls"), calls + 2);
    CHECK(rq("stats.maintenance.trimmed") >= trimmed);
    CHECK(rq("stats.maintenance.purged") >= purged);
    CHECK(rq("stats.maintenance.released") >= released); /* pooled chunks, unless retain */
    CHECK_EQ(bm_check(), 0);
}

/* ---- bm_stats_print ---- */

typedef struct sink {
    char *text;
    size_t len, cap;
    unsigned calls;
} sink_t;

static void sink_write(void *opaque, const char *text) {
    sink_t *s = opaque;
    size_t n = strlen(text);
    if (s->len + n + 1 > s->cap) {
        s->cap = (s->len + n + 1) * 2;
        s->text = realloc(s->text, s->cap);
    }
    memcpy(s->text + s->len, text, n + 1);
    s->len += n;
    s->calls++;
}

static sink_t print_to_sink(const char *opts) {
    sink_t s = {NULL, 0, 0, 0};
    sink_write(&s, "");
    s.calls = 0;
    bm_stats_print(sink_write, &s, opts);
    return s;
}

TEST(stats_print_text) {
    my_core();
    void *keep = bm_malloc(200);
    sink_t s = print_to_sink(NULL);
    CHECK(s.calls > 1); /* in pieces from a small buffer */
    CHECK(strstr(s.text, "___ baremalloc " BM_VERSION " statistics ___") != NULL);
    CHECK(strstr(s.text, "options: narenas:3 tcache:true") != NULL);
    CHECK(strstr(s.text, "arena_rule:core") != NULL);
    CHECK(strstr(s.text, "totals (epoch") != NULL);
    CHECK(strstr(s.text, "node 0: regions 1, arenas 3") != NULL);
    CHECK(strstr(s.text, "arena 0 (node 0)") != NULL);
    CHECK(strstr(s.text, "arena 2 (node 0)") != NULL);
    CHECK(strstr(s.text, "  bins:  bin  size") != NULL);
    CHECK(strstr(s.text, "core ") != NULL);
    CHECK(strstr(s.text, "heap map") != NULL);
    CHECK(strstr(s.text, "region 0 (node 0)") != NULL);
    CHECK(strstr(s.text, "    |M") != NULL); /* chunk 0 starts with its header */
    CHECK(strstr(s.text, "--- end of baremalloc statistics ---") != NULL);
    /* the totals printed are those of the epoch the print took */
    char line[160];
    snprintf(line, sizeof line, "totals (epoch %llu): allocated %zu, active %zu, mapped %zu", (unsigned long long)rq("epoch"),
             rz("stats.allocated"), rz("stats.active"), rz("stats.mapped"));
    CHECK(strstr(s.text, line) != NULL);
    free(s.text);
    /* sections left out on request */
    s = print_to_sink("gnabcm");
    CHECK(strstr(s.text, "options:") == NULL);
    CHECK(strstr(s.text, "node 0:") == NULL);
    CHECK(strstr(s.text, "arena 0 (") == NULL);
    CHECK(strstr(s.text, "core 0:") == NULL);
    CHECK(strstr(s.text, "heap map") == NULL);
    CHECK(strstr(s.text, "totals (epoch") != NULL);
    free(s.text);
    s = print_to_sink("b");
    CHECK(strstr(s.text, "arena 0 (") != NULL);
    CHECK(strstr(s.text, "  bins:") == NULL);
    free(s.text);
    bm_free(keep);
    /* without a callback: line by line through the port's log hook (stderr on the host) */
    bm_stats_print(NULL, NULL, "gnabcm");
}

/* Writes the JSON embedded in console noise (as from a serial port) and checks it with
 * Python's json module against values read through bm_ctl at the same epoch. */
TEST(stats_print_json_is_valid) {
    unsigned core = my_core(), a = my_arena();
    void *keep[50];
    for (int i = 0; i < 50; i++)
        keep[i] = bm_malloc((size_t)(i + 1) * 24);
    void *huge = bm_malloc(BM_CHUNK + 1);
    sink_t s = print_to_sink("J");
    CHECK(s.text[0] == '{');
    char path[64];
    snprintf(path, sizeof path, "build/host/ctl_stats.%d.json", (int)getpid());
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (!f)
        return;
    fputs(s.text, f);
    fclose(f);
    free(s.text);
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "python3 -c '\n"
             "import json, sys\n"
             "d = json.load(open(\"%s\"))[\"baremalloc\"]\n"
             "t = d[\"totals\"]\n"
             "assert d[\"version\"] == \"%s\"\n"
             "assert t[\"epoch\"] == %llu and t[\"allocated\"] == %zu and t[\"mapped\"] == %zu, t\n"
             "assert t[\"peak_allocated\"] >= t[\"allocated\"]\n"
             "assert d[\"options\"][\"narenas\"] == 3 and d[\"options\"][\"tcache\"] is True\n"
             "assert d[\"options\"][\"arena_rule\"] == \"core\"\n"
             "assert len(d[\"arenas\"]) == 3 and d[\"geometry\"][\"page\"] == %zu\n"
             "ar = d[\"arenas\"][%u]\n"
             "assert ar[\"large\"][\"nmalloc\"] == %llu and ar[\"huge\"][\"allocated\"] == %zu, (ar[\"large\"], ar[\"huge\"])\n"
             "assert any(b[\"size\"] == 48 for b in ar[\"bins\"])\n"
             "c = [c for c in d[\"cores\"] if c[\"core\"] == %u][0]\n"
             "assert c[\"arena\"] == %u and c[\"nfills\"] == %llu\n"
             "spans = [s for r in d[\"heap\"][\"regions\"] for s in r[\"spans\"]]\n"
             "assert any(s[\"type\"] == \"huge\" for s in spans)\n"
             "runs = [r for s in spans if s[\"type\"] == \"arena\" for r in s.get(\"runs\", [])]\n"
             "assert any(r[2] == \"S\" for r in runs) and any(r[2] == \"M\" for r in runs)\n"
             "for s in spans:\n"
             "    if s[\"type\"] == \"arena\" and \"runs\" in s:\n"
             "        assert sum(r[1] for r in s[\"runs\"]) == d[\"geometry\"][\"chunk_pages\"], s\n"
             "'",
             path, BM_VERSION, (unsigned long long)rq("epoch"), rz("stats.allocated"), rz("stats.mapped"), BM_PAGE,
             a, (unsigned long long)rq("stats.arenas.%u.large.nmalloc", a), rz("stats.arenas.%u.huge.allocated", a),
             core, a, (unsigned long long)rq("stats.cores.%u.nfills", core));
    CHECK_EQ(system(cmd), 0);
    remove(path);
    for (int i = 0; i < 50; i++)
        bm_free(keep[i]);
    bm_free(huge);
    CHECK_EQ(bm_check(), 0);
}

/* BM_STATS_FAST changes the fast path, so it needs its own build: the kernel variant builds
 * this same test with it and runs it (the other variants skip this case). */
TEST(ctl_stats_fast_build) {
#if !BM_STATS_FAST && !defined(BM_GEOMETRY_SMALL) && BM_FREE_CHECKS && !defined(BM_ASAN) && !defined(TEST_TSAN) && \
    !defined(BM_DEBUG_LOCKS)
    CHECK_EQ(test_rebuild_and_run("test_ctl", "statsfast", "-DBM_STATS_FAST=1", ""), 0);
#endif
}

int main(void) {
    bm_config_t config = {.options = "narenas:3,dirty_max:30,dirty_min:16k", .error_hook = test_count_error};
#ifndef BM_GEOMETRY_SMALL
    config.options = "narenas:3,dirty_max:30,dirty_min:256k";
#endif
    if (bm_init(&config) != 0) {
        printf("bm_init failed\n0 passed, 1 failed\n");
        return 1;
    }
    return test_main();
}
