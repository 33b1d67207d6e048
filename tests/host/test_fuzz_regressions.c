/*
 * What the fuzzer (tests/fuzz/fuzz_ops.c, `make fuzz`) found, each as the smallest program
 * that shows it: a bad call must be reported exactly once, change nothing and leave the heap
 * consistent. Not in the unchecked variant: these need the free checks.
 */
#include <stdint.h>

#include "ext.h"
#include "test.h"

/* The run holding small block p: its first page (internal.h's page map). */
static unsigned char *run_of(void *p) {
    bm_pagemap_t e = bm_chunk_of(p)->map[bm_page_index(p)];
    return bm_page_addr(bm_chunk_of(p), bm_page_index(p) - bm_pm_value(e));
}

/* fuzz: "freed block: 2 error reports, expected 1". A sized free of an already freed block,
 * with a size larger than the block, is reported twice: once as a wrong size (the size check
 * classifies the pointer without asking whether the block is live) and once as a double free. */
TEST(sized_free_of_a_freed_block_reports_once) {
    size_t sizes[] = {8, BM_SMALL_MAX + 1}; /* a small block, a large one */
    for (unsigned i = 0; i < 2; i++) {
        void *p = bm_malloc(sizes[i]);
        CHECK(p != NULL);
        bm_free(p);
        unsigned before = test_error_reports;
        bm_free_sized(p, 4 * BM_CHUNK);
        CHECK_EQ(test_error_reports - before, 1);
        CHECK_EQ(bm_check(), 0);
    }
}

/* fuzz, kernel and small geometry: "wild pointer: 0 error reports, expected 1" and
 * "bm_realloc(wild pointer ..., 14337) returned ..., not NULL". A pointer into a small run that
 * is not one of its regions passes the checks whenever its distance to region 0 is a multiple
 * of the class size: one into the run's header before region 0 (for class 8: every aligned
 * word of it), or one past the last region in the slack at the run's end (class 2048 in the
 * kernel geometry: region 21 of 21, 1792 bytes before the run ends). Nothing checks that the
 * region index lies in [0, nregs): usable_size answers the class size, realloc copies and frees
 * it, free pushes it onto the core's cache and a later malloc of the class hands it out: the
 * run's metadata, or a block reaching past the run's end over its neighbour, becomes a user
 * block (bm_check then crashes). The tests stop at the first silent acceptance, so that they
 * fail without corrupting the heap of the ones after them. */

/* For small class cls: the pointer before region 0 (header) or past the last region (tail)
 * of the run of a block of the class, at a multiple of the size from region 0; NULL if the run
 * has none. The block stays allocated, so the run stays. */
static unsigned char *not_a_region(unsigned cls, int tail) {
    static void *keep[BM_NSMALL];
    if (!keep[cls])
        keep[cls] = bm_malloc(bm_classes[cls].size);
    const bm_class_info_t *ci = &bm_classes[cls];
    unsigned char *run = run_of(keep[cls]);
    if (!tail)
        return ci->reg0 >= ci->size ? run + ci->reg0 - ci->size : NULL;
    size_t end = ci->reg0 + (size_t)ci->nregs * ci->size;
    return end < ci->run_pages * BM_PAGE ? run + end : NULL;
}

TEST(usable_size_and_realloc_of_a_small_run_header_or_tail_are_reported) {
    unsigned tried = 0;
    for (unsigned cls = 0; cls < BM_NSMALL; cls++) {
        for (int tail = 0; tail < 2; tail++) {
            unsigned char *q = not_a_region(cls, tail);
            if (!q)
                continue;
            tried++;
            unsigned before = test_error_reports;
            size_t usable = bm_usable_size(q);
            if (usable != 0 || test_error_reports - before != 1) {
                fprintf(stderr, "  class %u (%u B): %s pointer %p taken for a block (usable %zu)\n", cls,
                        bm_classes[cls].size, tail ? "tail" : "header", (void *)q, usable);
                CHECK_EQ(test_error_reports - before, 1);
                continue; /* realloc would take it as a block and free it */
            }
            before = test_error_reports;
            CHECK(bm_realloc(q, 16) == NULL);
            CHECK_EQ(test_error_reports - before, 1);
        }
    }
    CHECK(tried > 0);
    CHECK_EQ(bm_check(), 0);
}

/* free of each: reported, and never handed out afterwards */
static void free_is_reported(unsigned char *q, size_t size) {
    unsigned before = test_error_reports;
    bm_free(q);
    CHECK_EQ(test_error_reports - before, 1);
    void *got[64];
    unsigned handed_out = 0;
    for (unsigned k = 0; k < 64; k++)
        handed_out += (got[k] = bm_malloc(size)) == q;
    CHECK_EQ(handed_out, 0);
    if (test_error_reports - before != 1 || handed_out)
        return; /* the heap is corrupted: nothing more to learn */
    for (unsigned k = 0; k < 64; k++)
        bm_free(got[k]);
    CHECK_EQ(bm_check(), 0);
}

/* A pointer into a small run's header at a multiple of the size before region 0 passed the
 * fast path's start test (divisibility only), entered the core's cache and a later malloc
 * handed it out: the run's header became a user block. Every class with such a position. */
TEST(free_of_a_small_run_header_is_reported) {
    unsigned tried = 0;
    for (unsigned cls = 0; cls < BM_NSMALL; cls++)
        if (not_a_region(cls, 0)) {
            tried++;
            unsigned before = test_error_reports;
            free_is_reported(not_a_region(cls, 0), bm_classes[cls].size);
            if (test_error_reports - before != 1) {
                fprintf(stderr, "  class %u (%u B): header pointer taken for a block\n", cls, bm_classes[cls].size);
                return;
            }
        }
    CHECK(tried > 0);
}

TEST(free_past_the_last_region_of_a_small_run_is_reported) {
    for (unsigned cls = 0; cls < BM_NSMALL; cls++)
        if (not_a_region(cls, 1)) {
            free_is_reported(not_a_region(cls, 1), bm_classes[cls].size);
            return;
        }
    CHECK(!"no small run with slack after its last region");
}

/* fuzz (kernel build, after the full-bin free was folded): a wild pointer into one of region 0's
 * chunks that was never granted (PROT_NONE on the host) sent free_fast to read its first word
 * for the freed mark: a SEGV. That page's map entry is the never-usable bin's, which looks full:
 * the mark must not be read on that path. */
TEST(free_of_a_wild_pointer_into_an_ungranted_chunk_is_reported) {
    bm_free(bm_malloc(16)); /* initialised, region 0 set up */
    CHECK(bm_fast_region_span > 2 * BM_CHUNK);
    void *wild = (void *)(bm_fast_region_base + bm_fast_region_span - BM_CHUNK + BM_PAGE + 64);
    unsigned before = test_error_reports;
    bm_free(wild);
    CHECK_EQ(test_error_reports - before, 1);
    CHECK_EQ(bm_check(), 0);
}

/* The same fold: a block freed twice in a row, the second time into the bin its first free just
 * filled, went on to the cache as if live (a flush then gave it to its run while it was still
 * cached: two owners). Each double free is reported, whichever state the bin is in. */
TEST(double_free_into_a_full_bin_is_reported) {
    enum { N = 1200 };
    static void *blocks[N];
    for (unsigned i = 0; i < N; i++) {
        blocks[i] = bm_malloc(48);
        CHECK(blocks[i] != NULL);
    }
    unsigned missed = 0;
    for (unsigned i = 0; i < N; i++) {
        bm_free(blocks[i]);
        unsigned before = test_error_reports;
        bm_free(blocks[i]); /* again, at once */
        missed += test_error_reports - before != 1;
    }
    CHECK_EQ(missed, 0);
    CHECK_EQ(bm_check(), 0);
    /* nothing handed out twice */
    for (unsigned i = 0; i < N; i++)
        blocks[i] = bm_malloc(48);
    for (unsigned i = 0; i < N; i++)
        for (unsigned j = i + 1; j < N && blocks[i]; j++)
            if (blocks[i] == blocks[j])
                missed++;
    CHECK_EQ(missed, 0);
    for (unsigned i = 0; i < N; i++)
        bm_free(blocks[i]);
    CHECK_EQ(bm_check(), 0);
}

int main(void) {
    bm_set_error_hook(test_count_error);
    return test_main();
}
