/*
 * A heap of any alignment and size is used in full, to within a page at each end, and one too
 * small to be useful is refused with BM_EINVAL: this program initialises the allocator with
 * one static page source that starts 3 KiB + 100 B past a chunk boundary and whose size is not
 * a multiple of a chunk (so both ends cut a chunk), then fills it.
 */
#include <stdint.h>

#include "ext.h"
#include "test.h"

#define HEAP_CHUNKS 6
#define HEAP_SKEW (3072 + 100) /* not even page aligned */
#define HEAP_SIZE (HEAP_CHUNKS * BM_CHUNK + BM_CHUNK / 2 + 777)

static _Alignas(BM_CHUNK) unsigned char arena_space[(HEAP_CHUNKS + 2) * BM_CHUNK];
static int init_result = -1, small_result = -1;

/* Every block of size bytes the heap gives until it runs out (kept live), as bytes. */
static size_t fill_with(size_t size, void **blocks, unsigned max, unsigned *count) {
    size_t total = 0;
    unsigned n = 0;
    while (n < max) {
        void *p = bm_malloc(size);
        if (!p)
            break;
        blocks[n++] = p;
        total += bm_usable_size(p);
    }
    *count = n;
    return total;
}

static void free_all(void **blocks, unsigned n) {
    for (unsigned i = 0; i < n; i++)
        bm_free(blocks[i]);
}

#define MAX_BLOCKS 400000
static void *blocks[MAX_BLOCKS];

TEST(bm_init_refuses_a_heap_too_small_to_use) {
    /* Runs before the real initialisation (main): a refused bm_init changes nothing. */
    CHECK_EQ(small_result, BM_EINVAL);
    CHECK_EQ(init_result, 0);
}

TEST(an_unaligned_heap_is_used_to_within_a_page_at_each_end) {
    /* The region covers the source but for the page rounding at each end. */
    size_t covered = 0, len = sizeof covered;
    CHECK_EQ(bm_ctl("stats.nodes.0.size", &covered, &len, NULL, 0), 0);
    fprintf(stderr, "  source %u B, region %zu B\n", (unsigned)HEAP_SIZE, covered);
    CHECK(covered <= HEAP_SIZE && HEAP_SIZE - covered < 2 * BM_PAGE);
    /* 4 KiB blocks fill it up to every chunk's header, the metadata and, per chunk, the pages
     * after the last whole block. */
    unsigned n;
    size_t got = fill_with(4096, blocks, MAX_BLOCKS, &n);
    /* What is lost: a page at each end, every chunk's header, the metadata (chunk table,
     * arenas, this core's cache) and, per chunk, the pages after the last whole block. */
    size_t chunks = HEAP_SIZE / BM_CHUNK + 2;
    size_t lost_bound = 2 * BM_PAGE + chunks * (BM_CHUNK_HEADER_PAGES * BM_PAGE + 4096) + 8 * 1024 + HEAP_SIZE / 64;
    fprintf(stderr, "  heap %u B at chunk offset %u: %u blocks of 4 KiB, %zu B (%.1f%%)\n",
            (unsigned)HEAP_SIZE, (unsigned)HEAP_SKEW, n, got, 100.0 * got / HEAP_SIZE);
    CHECK(got + lost_bound >= HEAP_SIZE);
    /* Every block lies inside the source. */
    unsigned outside = 0;
    for (unsigned i = 0; i < n; i++) {
        uintptr_t p = (uintptr_t)blocks[i];
        outside += p < (uintptr_t)arena_space + HEAP_SKEW ||
                   p + 4096 > (uintptr_t)arena_space + HEAP_SKEW + HEAP_SIZE;
    }
    CHECK_EQ(outside, 0);
    CHECK_EQ(bm_check(), 0);
    free_all(blocks, n);
    /* Small blocks reach both ends too: the lowest and the highest pages of the source. */
    size_t small = fill_with(48, blocks, MAX_BLOCKS, &n);
    uintptr_t low = UINTPTR_MAX, high = 0;
    for (unsigned i = 0; i < n; i++) {
        uintptr_t p = (uintptr_t)blocks[i];
        low = p < low ? p : low;
        high = p > high ? p : high;
    }
    fprintf(stderr, "  48 B blocks: %u, %zu B; lowest at +%zu, highest ends %zu B before the end\n", n,
            small, (size_t)(low - (uintptr_t)arena_space - HEAP_SKEW),
            (size_t)((uintptr_t)arena_space + HEAP_SKEW + HEAP_SIZE - high - 48));
    CHECK(low - ((uintptr_t)arena_space + HEAP_SKEW) < BM_CHUNK / 2);
    CHECK((uintptr_t)arena_space + HEAP_SKEW + HEAP_SIZE - (high + 48) < 2 * BM_PAGE + 4096); /* + a run */
    CHECK_EQ(bm_check(), 0);
    free_all(blocks, n);
    CHECK_EQ(bm_check(), 0);
}

TEST(alignment_is_absolute_on_a_skewed_heap) {
    /* Chunks start off a chunk boundary here: alignments up to a quarter chunk (large runs)
     * are served and exact; a huge block has the grid's alignment (one page here), and asking
     * one for more fails cleanly. */
    for (size_t align = 16; align <= BM_CHUNK / 4; align <<= 1) {
        void *p = bm_aligned_alloc(align, align);
        CHECK(p != NULL);
        CHECK(((uintptr_t)p & (align - 1)) == 0);
        bm_free(p);
    }
    void *big = bm_aligned_alloc(BM_PAGE, BM_CHUNK + 100); /* a huge block */
    CHECK(big != NULL);
    CHECK(((uintptr_t)big & (BM_PAGE - 1)) == 0);
    bm_free(big);
    unsigned before = test_error_reports;
    CHECK(bm_aligned_alloc(BM_CHUNK, BM_CHUNK) == NULL); /* no chunk of this heap has that */
    CHECK_EQ(bm_last_error(), BM_ENOMEM);
    CHECK_EQ(test_error_reports, before);
    CHECK_EQ(bm_check(), 0);
}

int main(void) {
    bm_set_error_hook(test_count_error);
    bm_page_source_t tiny = {.base = arena_space + HEAP_SKEW, .size = 3 * BM_PAGE};
    bm_config_t tiny_config = {.sources = &tiny, .nsources = 1};
    small_result = bm_init(&tiny_config);
    bm_page_source_t source = {.base = arena_space + HEAP_SKEW, .size = HEAP_SIZE};
    bm_config_t config = {.sources = &source, .nsources = 1};
    init_result = bm_init(&config);
    return test_main();
}
