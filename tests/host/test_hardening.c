/*
 * Hardening level 2 (BM_HARDENING=2, the `hardened` host variant): a write past the end of a
 * block is reported when the block is freed or reallocated, a write into a freed small block is
 * reported when the block is handed out again, and in both cases the heap stays consistent and
 * keeps working. The misuse cases run at level 2 only (below it a write past the end is the
 * program's undefined behaviour); the last case runs at every level.
 */
#include "ext.h"
#include "test.h"

static unsigned reports_since(unsigned before) { return test_error_reports - before; }

static const size_t sizes[] = {1, 24, 100, 1000, 3000, 20000};

TEST(overflow_past_the_end_is_reported_on_free_and_realloc) {
    if (BM_HARDENING < 2)
        return;
    for (unsigned i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        unsigned char *p = bm_malloc(sizes[i]);
        CHECK(p != NULL);
        size_t usable = bm_usable_size(p);
        CHECK(usable >= sizes[i]);
        memset(p, 0x5a, usable); /* every usable byte may be written: no report */
        unsigned before = test_error_reports;
        void *q = bm_realloc(p, usable); /* same size: stays in place */
        CHECK(q == p);
        CHECK_EQ(reports_since(before), 0);
        p[usable] = 0xa5; /* one byte past the end */
        bm_free(p);
        CHECK_EQ(reports_since(before), 1);
        unsigned char *r = bm_malloc(sizes[i]);
        r[bm_usable_size(r)] ^= 1;
        before = test_error_reports;
        r = bm_realloc(r, sizes[i] * 3);
        CHECK(r != NULL);
        CHECK_EQ(reports_since(before), 1);
        bm_free(r);
        CHECK_EQ(reports_since(before), 1);
    }
    CHECK_EQ(bm_check(), 0);
}

TEST(write_after_free_is_reported_when_the_block_comes_back) {
    if (BM_HARDENING < 2)
        return;
    const size_t small_sizes[] = {16, 40, 200, 2000};
    for (unsigned i = 0; i < sizeof small_sizes / sizeof small_sizes[0]; i++) {
        unsigned char *p = bm_malloc(small_sizes[i]);
        CHECK(p != NULL);
        bm_free(p);
        unsigned before = test_error_reports;
        p[small_sizes[i] / 2] ^= 0xff; /* the program writes into the freed block */
        unsigned char *again = bm_malloc(small_sizes[i]); /* the last freed: p again */
        CHECK(again == p);
        CHECK_EQ(reports_since(before), 1);
        bm_free(again);
    }
    CHECK_EQ(bm_check(), 0);
}

TEST(hardened_blocks_are_usable_in_full) {
    /* Random sizes, every usable byte written and checked (the requested ones under ASan,
     * which exposes no more), no report at any level. */
    unsigned before = test_error_reports;
    void *blocks[512];
    size_t written[512];
    unsigned seed = 1;
    for (unsigned round = 0; round < 20; round++) {
        for (unsigned i = 0; i < 512; i++) {
            seed = seed * 1103515245u + 12345u;
            size_t size = 1 + (seed >> 8) % (round % 4 == 3 ? 40000 : 600);
            blocks[i] = bm_malloc(size);
            CHECK(blocks[i] != NULL);
#ifdef BM_ASAN
            written[i] = size;
#else
            written[i] = bm_usable_size(blocks[i]);
#endif
            test_fill(blocks[i], written[i], i);
        }
        for (unsigned i = 0; i < 512; i++) {
            CHECK(test_verify(blocks[i], written[i], i));
            bm_free(blocks[i]);
        }
    }
    CHECK_EQ(reports_since(before), 0);
    CHECK_EQ(bm_check(), 0);
}

int main(void) {
    bm_set_error_hook(test_count_error);
    return test_main();
}
