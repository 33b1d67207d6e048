/*
 * bm_heap_size_for: this program initialises the allocator with one page source of exactly
 * the size the function gives for its (max_live, max_request, 1 core) and then drives it with
 * adversaries that keep the live bytes (the sizes asked for) at or under max_live and every
 * request at or under max_request: no allocation may fail. The adversaries pin one block per
 * run of each small class after filling the budget with that class's smallest request,
 * punch holes in page runs with large blocks before asking for the largest, and churn random
 * sizes. A fresh process per configuration (its own main).
 */
#include <stdint.h>
#include <sys/mman.h>

#include "ext.h"
#include "test.h"

#if defined(BM_GEOMETRY_SMALL)
#define MAX_LIVE ((size_t)16 << 10)
#define MAX_REQUEST ((size_t)1024)
#else
#define MAX_LIVE ((size_t)256 << 10)
#define MAX_REQUEST ((size_t)8192)
#endif
#define MAX_BLOCKS (MAX_LIVE + 1) /* a 1-byte request is the smallest */

static void *blocks[MAX_BLOCKS];
static size_t sizes[MAX_BLOCKS];
static size_t nblocks, live, failures, heap_size;
static unsigned char *heap;
static int init_result = -1;

static bool take(size_t size) {
    if (live + size > MAX_LIVE || nblocks == MAX_BLOCKS)
        return false;
    void *p = bm_malloc(size);
    if (!p) {
        failures++;
        return false;
    }
    blocks[nblocks] = p;
    sizes[nblocks++] = size;
    live += size;
    return true;
}

static void give_back(size_t i) { /* block i goes; the last one takes its place */
    bm_free(blocks[i]);
    live -= sizes[i];
    blocks[i] = blocks[--nblocks];
    sizes[i] = sizes[nblocks];
}

static void give_back_all(void) {
    while (nblocks)
        give_back(nblocks - 1);
}

static uint32_t rng = 0x12345678u;
static uint32_t next_random(void) {
    rng ^= rng << 13;
    rng ^= rng >> 17;
    rng ^= rng << 5;
    return rng;
}

TEST(the_bound_is_given_and_used) {
    CHECK_EQ(init_result, 0);
    CHECK(heap_size > MAX_LIVE);
    CHECK_EQ(bm_heap_size_for(MAX_LIVE, BM_LARGE_MAX + 1, 1), 0); /* huge requests: not covered */
    CHECK_EQ(bm_heap_size_for(MAX_LIVE, 0, 1), 0);
    CHECK(bm_heap_size_for(2 * MAX_LIVE, MAX_REQUEST, 1) >= heap_size); /* more live, no less heap */
    fprintf(stderr, "  max_live %zu B, max_request %zu B, 1 core: heap %zu B (%.1f x max_live)\n", MAX_LIVE,
            MAX_REQUEST, heap_size, (double)heap_size / MAX_LIVE);
}

TEST(one_block_pinned_per_run_of_every_small_class) {
    /* Each class in turn: its smallest request until the budget is spent, then all but every
     * regions-per-run-th block freed (one left in each run), the pins kept for the next class. */
    for (unsigned cls = 0; cls < BM_NSMALL && bm_classes[cls].size <= MAX_REQUEST; cls++) {
        size_t size = cls ? bm_classes[cls - 1].size + 1 : 1, first = nblocks;
        while (take(size)) {
        }
        for (size_t i = nblocks; i-- > first;)
            if ((i - first) % bm_classes[cls].nregs != 0)
                give_back(i);
    }
    CHECK_EQ(failures, 0);
    give_back_all();
    CHECK_EQ(bm_check(), 0);
}

TEST(holes_in_page_runs_then_the_largest_request) {
    /* Large blocks of the smallest large request until the budget is spent, every other one
     * freed (holes of a page or so), then the largest request into what is left, repeatedly. */
    if (MAX_REQUEST > BM_SMALL_MAX) {
        for (int round = 0; round < 8; round++) {
            size_t size = BM_SMALL_MAX + 1 + (size_t)round * 37, first = nblocks;
            while (take(size)) {
            }
            for (size_t i = nblocks; i-- > first;)
                if ((i - first) % 2)
                    give_back(i);
            while (take(MAX_REQUEST)) {
            }
        }
    }
    CHECK_EQ(failures, 0);
    give_back_all();
    CHECK_EQ(bm_check(), 0);
}

TEST(random_churn_within_the_budget) {
    for (unsigned step = 0; step < 300000; step++) {
        uint32_t r = next_random();
        if (nblocks && (r & 3) == 0) {
            give_back(next_random() % nblocks);
            continue;
        }
        size_t size = (r >> 8) % 8 ? 1 + (r >> 12) % 256 : 1 + (r >> 12) % MAX_REQUEST;
        if (!take(size) && nblocks) /* over the budget: make room */
            give_back(next_random() % nblocks);
    }
    CHECK_EQ(failures, 0);
    give_back_all();
    CHECK_EQ(bm_check(), 0);
}

int main(void) {
    bm_set_error_hook(test_count_error);
    heap_size = bm_heap_size_for(MAX_LIVE, MAX_REQUEST, 1);
    heap = mmap(NULL, heap_size + BM_CHUNK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (heap != MAP_FAILED && heap_size) {
        /* an unaligned start: the bound must hold for a heap of any alignment */
        bm_page_source_t source = {.base = heap + 3 * BM_PAGE + 40, .size = heap_size};
        bm_config_t config = {.sources = &source, .nsources = 1, .options = "narenas:1"};
        init_result = bm_init(&config);
    }
    return test_main();
}
