/*
 * bm_mallocx / bm_rallocx / bm_sdallocx: every flag and every bad flag. The heap is two page
 * sources given to bm_init: region 0 grows through a hook that counts its calls (node 0), region 1
 * is static (node 1), with two arenas, one per node. A bad flag must return NULL with BM_EINVAL
 * and change nothing (compared through the statistics and the validator).
 */
#include <stdint.h>

#include "ctl_read.h"
#include "ext.h"
#include "test.h"

/* Small geometry: the chunk table covers about 45 MiB; keep every huge block small there. */
#if defined(BM_GEOMETRY_IS_SMALL)
#define GROW_BYTES ((size_t)40 << 20)
#define STATIC_BYTES ((size_t)4 << 20)
#define HUGE_MAX ((size_t)1 << 20)
#define LG_ALIGN_MAX 20
#else
#define GROW_BYTES ((size_t)256 << 20)
#define STATIC_BYTES ((size_t)8 << 20)
#define HUGE_MAX ((size_t)3 << 20)
#define LG_ALIGN_MAX 23
#endif
static unsigned char heap0[GROW_BYTES] __attribute__((aligned(BM_CHUNK)));
static unsigned char heap1[STATIC_BYTES] __attribute__((aligned(BM_CHUNK)));
static size_t grown;
static unsigned grow_calls;

static void *grow0(void *ctx, size_t incr) {
    (void)ctx;
    if (grown + incr > GROW_BYTES)
        return NULL;
    void *p = heap0 + grown;
    grown += incr;
    grow_calls++;
    return p;
}

static bool in_range(const void *p, const void *base, size_t size) {
    return (uintptr_t)p - (uintptr_t)base < size;
}
static bool in_region1(const void *p) { return in_range(p, heap1, STATIC_BYTES); }

/* The bytes of a block the test may touch: its usable size, but only the requested bytes under
 * ASan (which sees the rest as poisoned). */
static size_t visible(const void *p, size_t size) {
#ifdef BM_ASAN
    (void)p;
    return size;
#else
    (void)size;
    return bm_usable_size(p);
#endif
}

static bool all_zero(const unsigned char *p, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return false;
    return true;
}

/* The counters a bad call must leave alone: the calling core's cached objects and the small
 * and large counters of both arenas. */
typedef struct snapshot {
    size_t ncached;
    uint64_t nmalloc[2], ndalloc[2], large[2];
} snapshot_t;

static snapshot_t snap(void) {
    snapshot_t s;
    unsigned core = ru("thread.core");
    s.ncached = rz("stats.cores.%u.ncached", core);
    for (unsigned a = 0; a < 2; a++) {
        s.nmalloc[a] = rq("stats.arenas.%u.small.nmalloc", a);
        s.ndalloc[a] = rq("stats.arenas.%u.small.ndalloc", a);
        s.large[a] = rq("stats.arenas.%u.large.nmalloc", a);
    }
    return s;
}

static bool same(const snapshot_t *a, const snapshot_t *b) { return memcmp(a, b, sizeof *a) == 0; }

TEST(plain_flags_zero_is_malloc) {
    void *p = bm_mallocx(40, 0);
    CHECK(p != NULL);
    CHECK(bm_usable_size(p) >= 40);
    bm_sdallocx(p, 40, 0);
    void *q = bm_mallocx(40, 0); /* the cache gives the same block back */
    CHECK(q == p);
    bm_sdallocx(q, 40, 0);
    CHECK_EQ(bm_check(), 0);
}

TEST(zero_flag_zeroes_the_whole_usable_size) {
    for (size_t size = 8; size <= HUGE_MAX; size = size * 3 + 5) {
        unsigned char *p = bm_malloc(size);
        CHECK(p != NULL);
        memset(p, 0xa5, visible(p, size));
        bm_free(p); /* a cached class: the next one is the same block */
        unsigned char *z = bm_mallocx(size, BM_MALLOCX_ZERO);
        CHECK(z != NULL);
        CHECK(all_zero(z, visible(z, size)));
        bm_free(z);
    }
    CHECK_EQ(bm_check(), 0);
}

TEST(align_flag_aligns_small_large_and_huge) {
    for (unsigned lg = 0; lg <= LG_ALIGN_MAX; lg++) {
        size_t align = (size_t)1 << lg;
        for (size_t size = 1; size <= HUGE_MAX; size = size * 7 + 3) {
            void *p = bm_mallocx(size, BM_MALLOCX_ALIGN(align));
            CHECK(p != NULL);
            CHECK_EQ((uintptr_t)p & (align - 1), 0);
            CHECK(bm_usable_size(p) >= size);
            bm_free(p);
        }
    }
    CHECK_EQ(bm_check(), 0);
}

TEST(arena_flag_takes_the_block_from_that_arena) {
    unsigned narenas = ru("arenas.narenas");
    CHECK(narenas >= 2);
    void *p = bm_mallocx(64, BM_MALLOCX_ARENA(1));
    void *q = bm_mallocx(64 << 10, BM_MALLOCX_ARENA(1));
    void *h = bm_mallocx(HUGE_MAX, BM_MALLOCX_ARENA(1)); /* huge: from arena 1's node */
    CHECK(p && q && h);
    CHECK(in_region1(p));
    CHECK(in_region1(q) || (BM_REALTIME && q && bm_usable_size(q) > BM_LARGE_MAX));
    /* huge blocks: the node's pooled chunks first (the real-time profile hands every pooled
     * chunk to an arena at bm_init, so there the node's regions may have none) */
    CHECK(in_region1(h) || BM_REALTIME);
    void *r = bm_mallocx(64, BM_MALLOCX_ARENA(0));
    CHECK(r != NULL && !in_region1(r));
    bm_free(p);
    bm_free(q);
    bm_free(h);
    bm_free(r);
    CHECK_EQ(bm_check(), 0);
}

TEST(node_flag_takes_the_block_from_that_node) {
    void *p = bm_mallocx(200, BM_MALLOCX_NODE(1));
    void *q = bm_mallocx(200, BM_MALLOCX_NODE(0));
    CHECK(p && q);
    CHECK(in_region1(p));
    CHECK(!in_region1(q));
    void *both = bm_mallocx(200, BM_MALLOCX_NODE(1) | BM_MALLOCX_ARENA(1)); /* they agree */
    CHECK(both != NULL && in_region1(both));
    bm_free(p);
    bm_free(q);
    bm_free(both);
    CHECK_EQ(bm_check(), 0);
}

TEST(nocache_bypasses_the_core_cache_both_ways) {
    unsigned core = ru("thread.core");
    void *cached = bm_malloc(96);
    bm_free(cached); /* now on top of this core's stack for the class */
    size_t before = rz("stats.cores.%u.ncached", core);
    void *p = bm_mallocx(96, BM_MALLOCX_NOCACHE);
    CHECK(p != NULL && p != cached);
    CHECK_EQ(rz("stats.cores.%u.ncached", core), before); /* nothing popped */
    uint64_t ndalloc = rq("stats.arenas.0.small.ndalloc") + rq("stats.arenas.1.small.ndalloc");
    bm_sdallocx(p, 96, BM_MALLOCX_NOCACHE);
    CHECK_EQ(rz("stats.cores.%u.ncached", core), before); /* nothing pushed */
    CHECK_EQ(rq("stats.arenas.0.small.ndalloc") + rq("stats.arenas.1.small.ndalloc"), ndalloc + 1);
    CHECK(bm_malloc(96) == cached); /* the cache is as it was */
    bm_free(cached);
    /* a NOCACHE free of a block that was never double-freed is quiet; a second one is reported */
    unsigned reports = test_error_reports;
    void *b = bm_mallocx(500, BM_MALLOCX_NOCACHE);
    bm_sdallocx(b, 500, BM_MALLOCX_NOCACHE);
    CHECK_EQ(test_error_reports, reports);
#if BM_FREE_CHECKS
    bm_sdallocx(b, 500, BM_MALLOCX_NOCACHE);
    CHECK_EQ(test_error_reports, reports + 1);
#endif
    CHECK_EQ(bm_check(), 0);
}

/* Region 0 grows only through grow0. A huge block larger than region 1 and than what region 0
 * has granted needs the hook: with NOGROW it is refused and the hook never runs. */
TEST(nogrow_never_calls_the_grow_hook) {
    size_t size = GROW_BYTES - grown - 2 * BM_CHUNK; /* more than region 1 and all region 0 granted */
    if (!(size > STATIC_BYTES && size > grown))
        fprintf(stderr, "  region 0 grew to %zu bytes already\n", grown);
    CHECK(size > STATIC_BYTES && size > grown);
    unsigned calls = grow_calls;
    size_t granted = grown;
    /* (a failed request may flush this core's cache and give free chunks back, as any failed
     * allocation does: what the heap holds, not the grow hook) */
    void *p = bm_mallocx(size, BM_MALLOCX_NOGROW);
    CHECK(p == NULL);
    CHECK_EQ(bm_last_error(), BM_ENOMEM);
    CHECK_EQ(grow_calls, calls);
    CHECK_EQ(grown, granted);
    CHECK_EQ(bm_check(), 0);
    /* small and large requests the heap can serve still work under NOGROW */
    void *s = bm_mallocx(48, BM_MALLOCX_NOGROW);
    void *l = bm_mallocx(40000, BM_MALLOCX_NOGROW | BM_MALLOCX_NOCACHE);
    CHECK(s && l);
    CHECK_EQ(grow_calls, calls);
    bm_free(s);
    bm_free(l);
    /* the same request without the flag grows the region */
    p = bm_mallocx(size, 0);
    CHECK(p != NULL);
    CHECK(grow_calls > calls);
    bm_free(p);
    /* and the mark does not outlive the call */
    CHECK_EQ(bm_nogrow_set(0), 0);
    CHECK_EQ(bm_check(), 0);
}

TEST(bad_flags_return_null_einval_and_change_nothing) {
    const int bad[] = {
        BM_MALLOCX_ALIGN(0), BM_MALLOCX_ALIGN(3), BM_MALLOCX_ALIGN(48), BM_MALLOCX_ALIGN(4095),
        BM_MALLOCX_ARENA(200), BM_MALLOCX_ARENA(254), BM_MALLOCX_ARENA(1000), BM_MALLOCX_NODE(7),
        BM_MALLOCX_NODE(300), BM_MALLOCX_ARENA(0) | BM_MALLOCX_NODE(1), 1 << 9, 1 << 29, 1 << 30,
        -1, BM_MALLOCX_ZERO | (1 << 10), BM_MALLOCX_NOGROW | BM_MALLOCX_ARENA(64),
    };
    void *live = bm_malloc(100);
    test_fill(live, 100, 7);
    unsigned reports = test_error_reports;
    for (unsigned i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snapshot_t before = snap();
        bm_set_error(0);
        CHECK(bm_mallocx(64, bad[i]) == NULL);
        CHECK_EQ(bm_last_error(), BM_EINVAL);
        bm_set_error(0);
        CHECK(bm_rallocx(live, 5000, bad[i]) == NULL);
        CHECK_EQ(bm_last_error(), BM_EINVAL);
        bm_set_error(0);
        bm_sdallocx(live, 100, bad[i]); /* not freed */
        CHECK_EQ(bm_last_error(), BM_EINVAL);
        snapshot_t after = snap();
        CHECK(same(&before, &after));
    }
    CHECK_EQ(test_error_reports, reports);
    CHECK(bm_usable_size(live) >= 100 && test_verify(live, 100, 7));
    CHECK_EQ(test_error_reports, reports);
    bm_free(live);
    CHECK_EQ(bm_check(), 0);
}

TEST(rallocx_keeps_contents_and_meets_the_flags) {
    unsigned char *p = bm_mallocx(100, 0);
    test_fill_seq(p, 100, 3);
    size_t old_usable = bm_usable_size(p);
    unsigned char *q = bm_rallocx(p, 5000, BM_MALLOCX_ZERO);
    CHECK(q != NULL);
    CHECK(test_verify_seq(q, 100, 3));
    CHECK(all_zero(q + old_usable, visible(q, 5000) - old_usable));
    unsigned char *a = bm_rallocx(q, 3000, BM_MALLOCX_ALIGN(8192));
    CHECK(a != NULL && ((uintptr_t)a & 8191) == 0);
    CHECK(test_verify_seq(a, 100, 3));
    unsigned char *n = bm_rallocx(a, 300, BM_MALLOCX_ARENA(1) | BM_MALLOCX_NOCACHE);
    CHECK(n != NULL && in_region1(n));
    CHECK(test_verify_seq(n, 100, 3));
    unsigned char *same_place = bm_rallocx(n, 290, BM_MALLOCX_ARENA(1)); /* same class, same arena */
    CHECK(same_place == n);
    unsigned char *g = bm_rallocx(n, 2000, BM_MALLOCX_NOGROW);
    CHECK(g != NULL && test_verify_seq(g, 100, 3));
    unsigned char *m = bm_rallocx(NULL, 64, BM_MALLOCX_ZERO); /* NULL: mallocx */
    CHECK(m != NULL && all_zero(m, 64));
    bm_free(m);
    bm_sdallocx(g, 2000, 0);
    CHECK_EQ(bm_check(), 0);
}

#if BM_FREE_CHECKS
TEST(bad_pointers_are_reported_by_rallocx_and_sdallocx) {
    char *p = bm_malloc(64);
    unsigned reports = test_error_reports;
    CHECK(bm_rallocx(p + 8, 100, BM_MALLOCX_ZERO) == NULL);
    CHECK_EQ(bm_last_error(), BM_EINVAL);
    CHECK_EQ(test_error_reports, reports + 1);
    bm_sdallocx(p + 8, 64, BM_MALLOCX_NOCACHE);
    CHECK_EQ(test_error_reports, reports + 2);
    bm_sdallocx(p, 4096, BM_MALLOCX_NOCACHE); /* too large a size: reported, freed anyway */
    CHECK_EQ(test_error_reports, reports + 3);
    bm_free(p); /* already freed: reported */
    CHECK_EQ(test_error_reports, reports + 4);
    CHECK_EQ(bm_check(), 0);
}
#endif

int main(void) {
    bm_set_error_hook(test_count_error);
    bm_page_source_t sources[2] = {
        {.base = heap0, .size = GROW_BYTES, .grow = grow0, .node = 0},
        {.base = heap1, .size = STATIC_BYTES, .node = 1},
    };
    bm_config_t config = {.sources = sources, .nsources = 2, .options = "narenas:2"};
    int err = bm_init(&config);
    if (err) {
        fprintf(stderr, "bm_init: %d\n", err);
        return 1;
    }
    return test_main();
}
