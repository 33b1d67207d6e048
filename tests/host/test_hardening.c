/*
 * Hardening level 2 (BM_HARDENING=2, the `hardened` host variant): a write past the end of a
 * block is reported when the block is freed or reallocated, a write into a freed block is
 * reported when the block leaves its arena's quarantine, a double free is refused even after a
 * write erased the freed mark, and in every case the heap stays consistent and keeps working. The misuse cases run at level 2 only (below it a write past the end is the
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

/* Frees BM_QUARANTINE_SLOTS fresh blocks of size: everything quarantined before leaves it. */
static void push_through_quarantine(size_t size) {
    void *blocks[BM_QUARANTINE_SLOTS];
    for (unsigned k = 0; k < BM_QUARANTINE_SLOTS; k++)
        blocks[k] = bm_malloc(size);
    for (unsigned k = 0; k < BM_QUARANTINE_SLOTS; k++)
        bm_free(blocks[k]);
}

static const size_t waf_sizes[] = {16, 40, 200, 2000, 20000};

TEST(write_after_free_is_reported_when_the_block_leaves_quarantine) {
    if (BM_HARDENING < 2)
        return;
    for (unsigned i = 0; i < sizeof waf_sizes / sizeof waf_sizes[0]; i++) {
        for (int first_word = 0; first_word < 2; first_word++) {
            unsigned char *p = bm_malloc(waf_sizes[i]);
            CHECK(p != NULL);
            bm_free(p);
            unsigned before = test_error_reports;
            size_t at = first_word ? 0 : (waf_sizes[i] < BM_HARDEN_FILL_MAX ? waf_sizes[i] : BM_HARDEN_FILL_MAX) / 2;
            p[at] ^= 0xff; /* the program writes into the freed block, where it is filled */
            push_through_quarantine(waf_sizes[i]);
            if (reports_since(before) != 1)
                fprintf(stderr, "  %zu B, write at %s: %u reports\n", waf_sizes[i], first_word ? "word 0" : "the middle",
                        reports_since(before));
            CHECK_EQ(reports_since(before), 1);
        }
    }
    CHECK_EQ(bm_check(), 0);
}

TEST(a_freed_block_is_not_reused_while_in_quarantine) {
    if (BM_HARDENING < 2)
        return;
    for (unsigned i = 0; i < sizeof waf_sizes / sizeof waf_sizes[0]; i++) {
        void *p = bm_malloc(waf_sizes[i]);
        bm_free(p);
        void *got[BM_QUARANTINE_SLOTS - 1];
        unsigned reused = 0;
        for (unsigned k = 0; k < BM_QUARANTINE_SLOTS - 1; k++)
            reused += (got[k] = bm_malloc(waf_sizes[i])) == p;
        CHECK_EQ(reused, 0);
        for (unsigned k = 0; k < BM_QUARANTINE_SLOTS - 1; k++)
            bm_free(got[k]);
    }
    CHECK_EQ(bm_check(), 0);
}

/* Level 1 is defeated by a write that erases the freed mark before a double free; level 2 asks
 * the run, page map and quarantine, so the second free, a realloc and usable_size are still
 * refused, and the block never gets two owners. */
TEST(double_free_after_a_write_after_free_is_reported) {
    if (BM_HARDENING < 2)
        return;
    for (unsigned i = 0; i < sizeof waf_sizes / sizeof waf_sizes[0]; i++) {
        for (int released = 0; released < 2; released++) {
            size_t size = waf_sizes[i];
            unsigned char *p = bm_malloc(size);
            bm_free(p);
            if (released)
                push_through_quarantine(size); /* p is back in its run (or its pages free) */
            unsigned before = test_error_reports;
            memset(p, 0x33, sizeof(uintptr_t)); /* erases the mark */
            bm_free(p);
            CHECK_EQ(reports_since(before), 1);
            CHECK(bm_realloc(p, size + 1) == NULL);
            CHECK_EQ(bm_usable_size(p), 0);
            CHECK_EQ(reports_since(before), 3);
            void *got[2 * BM_QUARANTINE_SLOTS];
            unsigned owners = 0;
            for (unsigned k = 0; k < 2 * BM_QUARANTINE_SLOTS; k++)
                owners += (got[k] = bm_malloc(size)) == p;
            CHECK(owners <= 1);
            for (unsigned k = 0; k < 2 * BM_QUARANTINE_SLOTS; k++)
                bm_free(got[k]);
        }
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
