/*
 * Exhaustion on a static region handed to bm_init (as firmware does with a linker-script
 * array): allocation returns NULL when memory runs out, never crashes, and after freeing
 * everything the same number of blocks fits again, round after round (nothing stays lost in
 * caches or fragments for good).
 */
#include <stdint.h>
#include <string.h>

#include "bm_port.h"
#include "ext.h"
#include "test.h"

#ifdef BM_GEOMETRY_SMALL
#define HEAP_BYTES ((size_t)256 << 10)
#else
#define HEAP_BYTES ((size_t)24 << 20)
#endif
static unsigned char heap[HEAP_BYTES] __attribute__((aligned(4096)));
static void *blocks[1 << 22];

/* Allocates blocks of sizes from the pattern until NULL; returns how many. */
static size_t fill_heap(const size_t *sizes, unsigned nsizes) {
    size_t n = 0;
    for (;;) {
        void *p = bm_malloc(sizes[n % nsizes]);
        if (!p)
            break;
        ((unsigned char *)p)[0] = 0x5A;
        blocks[n++] = p;
        if (n == sizeof blocks / sizeof blocks[0])
            break;
    }
    return n;
}

static void free_heap(size_t n, int reverse) {
    for (size_t i = 0; i < n; i++)
        bm_free(blocks[reverse ? n - 1 - i : i]);
    bm_cache_flush();
}

static void rounds_agree(const size_t *sizes, unsigned nsizes) {
    /* From a trimmed heap: the real-time profile keeps the runs an earlier pattern emptied
     * (docs/REALTIME.md), and this pattern's first round would fit its blocks between them. */
    bm_trim();
    size_t counts[3];
    for (int round = 0; round < 3; round++) {
        counts[round] = fill_heap(sizes, nsizes);
        CHECK(counts[round] > 0);
        CHECK_EQ(bm_last_error(), BM_ENOMEM);
        CHECK_EQ(bm_check(), 0);
        free_heap(counts[round], round & 1);
        CHECK_EQ(bm_check(), 0);
        CHECK_EQ(bm_stats_allocated(), 0);
    }
    CHECK_EQ(counts[1], counts[0]);
    CHECK_EQ(counts[2], counts[0]);
    printf("  sizes %zu..: %zu blocks per round\n", sizes[0], counts[0]);
}

TEST(exhaust_small_blocks) {
    size_t sizes[] = {16};
    rounds_agree(sizes, 1);
}

TEST(exhaust_mixed_blocks) {
    size_t sizes[] = {8, 100, 24, 1000, 48, 3000, 200};
    rounds_agree(sizes, 7);
}

TEST(exhaust_large_blocks) {
    size_t sizes[] = {BM_SMALL_MAX + 1, 3 * BM_PAGE + 5, BM_LARGE_MAX / 3};
    rounds_agree(sizes, 3);
}

TEST(exhaust_huge_blocks) {
    size_t sizes[] = {BM_CHUNK + 1, 2 * BM_CHUNK};
    rounds_agree(sizes, 2);
}

TEST(exhaust_then_all_kinds_still_work) {
    size_t sizes[] = {64};
    size_t n = fill_heap(sizes, 1);
    CHECK(bm_malloc(BM_LARGE_MAX) == NULL);
    CHECK(bm_malloc(3 * BM_CHUNK) == NULL);
    CHECK(bm_aligned_alloc(BM_CHUNK, BM_CHUNK) == NULL);
    CHECK(bm_calloc(1000, 1000) == NULL);
    free_heap(n, 0);
    void *a = bm_malloc(BM_LARGE_MAX), *b = bm_malloc(10), *c = bm_aligned_alloc(BM_PAGE * 2, 100);
    CHECK(a && b && c);
    bm_free(a);
    bm_free(b);
    bm_free(c);
    CHECK_EQ(bm_check(), 0);
}

/* The longest huge block the heap can give, in chunks (everything free and flushed). */
static size_t longest_huge_chunks(void) {
    size_t best = 0;
    for (size_t k = 1; k * BM_CHUNK <= HEAP_BYTES; k++) {
        void *p = bm_malloc(k * BM_CHUNK);
        if (!p)
            break;
        bm_free(p);
        best = k;
    }
    return best;
}

TEST(exhaust_failure_takes_back_cached_blocks) {
    bm_cache_flush();
    size_t k = longest_huge_chunks();
    CHECK(k > 0);
    size_t sizes[] = {64};
    size_t n = fill_heap(sizes, 1);
    for (size_t i = 0; i < n; i++)
        bm_free(blocks[i]); /* no flush: this core's cache keeps the last ones, pinning their run */
    bm_cache_t *cache = bm_state.caches[bm_port_core_id()];
    CHECK(cache && bm_cache_bin_count(&cache->bins[bm_size_to_class(64)]) > 0);
    /* only satisfiable with those blocks back in their run and every chunk free */
    void *p = bm_malloc(k * BM_CHUNK);
    CHECK(p != NULL);
    bm_free(p);
    CHECK_EQ(bm_check(), 0);
}

/* free(NULL) does nothing at every hardening level, on a heap whose chunk grid is skewed (this
 * static array is page aligned, not chunk aligned): the level that trusts the caller once read
 * a page map through NULL's chunk, because NULL is no chunk boundary of a skewed grid. */
TEST(free_of_null_is_a_no_op_on_a_heap_off_the_chunk_grid) {
    unsigned before = test_error_reports;
    size_t live = bm_stats_allocated();
    bm_free(NULL);
    bm_free_sized(NULL, 24);
    CHECK_EQ(test_error_reports, before);
    CHECK_EQ(bm_stats_allocated(), live);
    CHECK_EQ(bm_check(), 0);
}

/* The index of the block at address a among blocks[0..n), or n. */
static size_t block_at(size_t n, uintptr_t a) {
    for (size_t i = 0; i < n; i++)
        if ((uintptr_t)blocks[i] == a)
            return i;
    return n;
}

/* A plain large block that happens to start at half a chunk asks realloc for no more than a
 * page's alignment (its page map entry records what was asked): in a heap whose only free
 * pages are not so aligned the move succeeds. The address alone once claimed half a chunk and
 * realloc returned NULL there (the Cortex-M3 board's randomized sequence). A block asked for
 * half a chunk keeps it. */
TEST(realloc_keeps_the_alignment_asked_for_not_the_one_the_address_shows) {
    bm_trim();
    size_t sizes[] = {BM_PAGE};
    size_t n = fill_heap(sizes, 1);
    size_t x = n;
    for (size_t i = 0; i < n && x == n; i++)
        if (((uintptr_t)blocks[i] & (BM_CHUNK / 2 - 1)) == 0 && !bm_is_chunk_start(blocks[i]) &&
            block_at(n, (uintptr_t)blocks[i] + BM_PAGE) < n)
            x = i;
    CHECK(x < n);
    /* two neighbouring one-page blocks freed, the first not at a half-chunk boundary (the
     * second cannot be one and start a two-page run either: its successor is another chunk's
     * header or a page not freed), neither x nor the page after it */
    size_t a = n, b = n;
    uintptr_t after_x = (uintptr_t)blocks[x < n ? x : 0] + BM_PAGE;
    for (size_t i = 0; i < n && b == n; i++) {
        uintptr_t at = (uintptr_t)blocks[i];
        if ((at & (BM_CHUNK / 2 - 1)) == 0 || at == after_x || at + BM_PAGE == (uintptr_t)blocks[x < n ? x : 0] ||
            ((at + BM_PAGE) & BM_CHUNK_MASK) == 0 || at + BM_PAGE == after_x)
            continue;
        size_t j = block_at(n, at + BM_PAGE);
        if (j < n)
            a = i, b = j;
    }
    CHECK(x < n && a < n && b < n);
    if (x < n && a < n && b < n) {
        bm_free(blocks[a]);
        bm_free(blocks[b]);
        blocks[a] = blocks[b] = NULL;
        bm_cache_flush();
        memset(blocks[x], 0x77, BM_PAGE);
        void *moved = bm_realloc(blocks[x], 2 * BM_PAGE);
        CHECK(moved != NULL);
        if (moved) {
            CHECK(((unsigned char *)moved)[0] == 0x77 && ((unsigned char *)moved)[BM_PAGE - 1] == 0x77);
            blocks[x] = moved;
        }
    }
    for (size_t i = 0; i < n; i++)
        bm_free(blocks[i]);
    bm_cache_flush();
    CHECK_EQ(bm_check(), 0);
    void *asked = bm_aligned_alloc(BM_CHUNK / 2, BM_PAGE);
    CHECK(asked != NULL && ((uintptr_t)asked & (BM_CHUNK / 2 - 1)) == 0);
    void *grown = bm_realloc(asked, 3 * BM_PAGE); /* a class of its own: grown or moved, still aligned */
    CHECK(grown != NULL && ((uintptr_t)grown & (BM_CHUNK / 2 - 1)) == 0);
    bm_free(grown ? grown : asked);
    CHECK_EQ(bm_check(), 0);
}

#if BM_REALTIME && BM_RETAIN_DIVISOR
static size_t kept_pages(void) { return bm_arena_for_core(bm_port_core_id())->nretained_pages; }

/* The real-time profile keeps emptied runs formatted on their bins, up to one page per
 * BM_RETAIN_DIVISOR of the arena's pages and only in chunks where something else lives: the
 * next fill of the class reuses them (no run formed), the runs past the budget go back at once,
 * bm_trim gives the kept ones back, and so does a failed allocation that needs their pages. */
TEST(emptied_runs_are_kept_reused_and_given_back) {
    static void *pins[1 << 12];
    bm_cache_flush();
    bm_trim();
    CHECK_EQ(kept_pages(), 0);
    size_t k = longest_huge_chunks();
    bm_arena_t *arena = bm_arena_for_core(bm_port_core_id());
    unsigned cls = bm_size_to_class(64);
    bm_bin_t *bin = &arena->bins[cls];
    size_t n = 4 * (size_t)bm_classes[cls].nregs; /* four runs of them */
    CHECK(n <= sizeof pins / sizeof pins[0]);
    /* 32 B blocks between them, left live: the 64 B runs share chunks with something */
    for (size_t i = 0; i < n; i++) {
        CHECK((blocks[i] = bm_malloc(64)) != NULL);
        CHECK((pins[i] = bm_malloc(32)) != NULL);
    }
    for (int round = 0; round < 3; round++) {
        bm_stat_t formed = BM_STAT_GET(bin->stats.nruns);
        if (round > 0) {
            for (size_t i = 0; i < n; i++)
                CHECK((blocks[i] = bm_malloc(64)) != NULL);
            CHECK(BM_STAT_GET(bin->stats.nruns) < formed + 4); /* kept runs reused: not four formed */
        }
        free_heap(n, round & 1);
        CHECK(kept_pages() > 0);
        CHECK(kept_pages() % bm_classes[cls].run_pages == 0);
        CHECK_EQ(bm_check(), 0); /* the validator walks the kept lists and counts each chunk's */
    }
    for (size_t i = 0; i < n; i++)
        bm_free(pins[i]);
    /* a whole heap of 64 B blocks: far more emptied runs than the budget keeps */
    size_t sizes[] = {64};
    size_t all = fill_heap(sizes, 1);
    free_heap(all, 0);
    CHECK(kept_pages() <= arena->nchunks * BM_CHUNK_PAGES / BM_RETAIN_DIVISOR); /* the budget now */
    /* a huge block of the heap's whole length takes their pages back through the retry */
    void *p = bm_malloc(k * BM_CHUNK);
    CHECK(p != NULL);
    bm_free(p);
    CHECK_EQ(kept_pages(), 0);
    for (size_t i = 0; i < n; i++) {
        CHECK((blocks[i] = bm_malloc(64)) != NULL);
        CHECK((pins[i] = bm_malloc(32)) != NULL);
    }
    free_heap(n, 0);
    CHECK(kept_pages() > 0);
    bm_trim();
    CHECK_EQ(kept_pages(), 0);
    for (size_t i = 0; i < n; i++)
        bm_free(pins[i]);
    bm_cache_flush();
    CHECK_EQ(BM_STAT_GET(bin->stats.curruns), bin->current ? 1 : 0);
    CHECK_EQ(bm_check(), 0);
}
#endif

/* The kept runs are off by default (BM_RETAIN_DIVISOR 0): the small variant builds this
 * test with them on and runs the case above. */
TEST(kept_runs_build) {
#if defined(BM_GEOMETRY_SMALL) && BM_REALTIME && !BM_RETAIN_DIVISOR && BM_FREE_CHECKS && !defined(BM_ASAN) && \
    !defined(BM_DEBUG_LOCKS) && BM_HARDENING < 2
    CHECK_EQ(test_rebuild_and_run("test_exhaust", "kept", "-DBM_GEOMETRY_SMALL -DBM_RETAIN_DIVISOR=16",
                                  "BM_TEST_ONLY=emptied_runs_are_kept_reused_and_given_back"), 0);
#endif
}

int main(void) {
    bm_page_source_t source = {.base = heap, .size = sizeof heap};
    bm_config_t config = {.sources = &source, .nsources = 1, .error_hook = test_count_error};
    if (bm_init(&config) != 0) {
        printf("bm_init failed\n0 passed, 1 failed\n");
        return 1;
    }
    CHECK_EQ(bm_init(&config), BM_EBUSY);
    return test_main();
}
