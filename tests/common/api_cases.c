/*
 * The API cases written once for the host test (tests/host/test_api.c) and the guest program
 * (tests/guest, on core 0 before the other cores start): results, alignment, bad input, error
 * reports, a randomized sequence. Request sizes scale with case_heap_size() so that small-heap
 * boards run the same cases; everything here is freestanding and 32-bit clean.
 */
#include "cases.h"

#define MAX_ALIGN (2 * sizeof(void *)) /* malloc's alignment for blocks of that size or more */

static char not_from_the_heap[64];

/* The strictest alignment an object of `size` bytes can need: its lowest set bit, capped at
 * MAX_ALIGN. */
static size_t natural_alignment(size_t size) {
    size_t lowest = size & (0 - size);
    return size == 0 || lowest > MAX_ALIGN ? MAX_ALIGN : lowest;
}

static bool aligned(const void *p, size_t alignment) {
    return ((uintptr_t)p & (alignment - 1)) == 0;
}

/* Request sizes scale with the heap so small-heap boards run the same cases. */
static size_t heap_fraction(size_t divisor) { return case_heap_size() / divisor; }

static size_t capped(size_t size, size_t cap) { return size < cap ? size : cap; }

static const size_t common_sizes[] = {
    1,    2,    3,    7,    8,     9,     15,    16,    17,    24,     31,     32,     33,
    48,   63,   64,   65,   96,    100,   127,   128,   129,   192,    255,    256,    257,
    384,  511,  512,  513,  1000,  1024,  1025,  2000,  2048,  3000,   4095,   4096,   4097,
    6000, 8192, 9000, 16384, 16385, 32768, 32769, 40000, 65536, 100000, 131072, 262144, 1000000,
    (size_t)3 << 20};
#define NCOMMON (sizeof common_sizes / sizeof common_sizes[0])

/* ------------------------------------------------------------------------------------- */

/* The largest cap on common_sizes that keeps them all live at once in a quarter of the heap. */
static size_t common_size_limit(void) {
    size_t limit = heap_fraction(16);
    for (;; limit /= 2) {
        size_t total = 0;
        for (unsigned i = 0; i < NCOMMON; i++)
            total += capped(common_sizes[i], limit);
        if (total <= heap_fraction(4))
            return limit;
    }
}

static void test_malloc_free(void) {
    void *blocks[NCOMMON];
    size_t limit = common_size_limit();
    for (unsigned i = 0; i < NCOMMON; i++) {
        size_t size = capped(common_sizes[i], limit);
        blocks[i] = bm_malloc(size);
        if (!EXPECT(blocks[i] != NULL))
            continue;
        EXPECT(aligned(blocks[i], natural_alignment(size)));
        case_pattern_fill(blocks[i], size, case_pattern_seed(blocks[i], i), true);
    }
    /* All live at once: any overlap shows up as a wrong pattern. */
    for (unsigned i = 0; i < NCOMMON; i++) {
        size_t size = capped(common_sizes[i], limit);
        if (blocks[i])
            case_pattern_check(blocks[i], size, case_pattern_seed(blocks[i], i), true);
    }
    for (unsigned i = 0; i < NCOMMON; i += 2) /* every other one, then the rest */
        bm_free(blocks[i]);
    for (unsigned i = 1; i < NCOMMON; i += 2)
        bm_free(blocks[i]);

    void *zero_a = bm_malloc(0), *zero_b = bm_malloc(0);
    EXPECT(zero_a != NULL && zero_b != NULL && zero_a != zero_b);
    EXPECT(bm_usable_size(zero_a) >= 1 && bm_usable_size(zero_b) >= 1);
    bm_free(zero_a);
    bm_free(zero_b);

    /* The same size again and again must not leak: 64 rounds of an eighth of the heap. */
    size_t churn = heap_fraction(8);
    for (unsigned round = 0; round < 64; round++) {
        void *p = bm_malloc(churn);
        if (!EXPECT(p != NULL))
            break;
        bm_free(p);
    }
    EXPECT(bm_check() == 0);
}

static void test_calloc_zeroes(void) {
    static const size_t sizes[] = {1, 24, 100, 1000, 4096, 10000, 65536, 300000, (size_t)5 << 20};
    for (unsigned i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t size = capped(sizes[i], heap_fraction(8));
        /* Dirty memory first, so calloc must really clear what it hands back. */
        for (unsigned round = 0; round < 2; round++) {
            void *dirty = bm_malloc(size);
            if (!EXPECT(dirty != NULL))
                return;
            case_pattern_fill(dirty, size, case_pattern_seed(dirty, 99), true);
            bm_free(dirty);
            void *clean = round ? bm_calloc(size, 1) : bm_calloc(1, size);
            if (!EXPECT(clean != NULL))
                return;
            EXPECT(case_all_zero(clean, size));
            bm_free(clean);
        }
    }
    void *array = bm_calloc(37, 91); /* n * size that is no size class */
    if (EXPECT(array != NULL)) {
        EXPECT(case_all_zero(array, 37 * 91));
        bm_free(array);
    }
}

static void test_realloc_keeps_contents(void) {
    static const size_t steps[] = {10, 100, 5000, 70000, (size_t)3 << 20, 3000, 20, 20, 4096, 1};
    size_t size = steps[0];
    unsigned char *p = bm_realloc(NULL, size); /* realloc(NULL, n) is malloc(n) */
    if (!EXPECT(p != NULL))
        return;
    uintptr_t seed = case_pattern_seed(p, 0);
    case_pattern_fill(p, size, seed, true);
    for (unsigned i = 1; i < sizeof steps / sizeof steps[0]; i++) {
        size_t new_size = capped(steps[i], heap_fraction(8));
        unsigned char *q = bm_realloc(p, new_size);
        if (!EXPECT(q != NULL)) {
            bm_free(p);
            return;
        }
        EXPECT(bm_usable_size(q) >= new_size);
        EXPECT(aligned(q, natural_alignment(new_size)));
        case_pattern_check(q, size < new_size ? size : new_size, seed, true);
        p = q;
        size = new_size;
        seed = case_pattern_seed(p, i);
        case_pattern_fill(p, size, seed, true);
    }
    /* realloc(p, 0) frees p and hands back a minimum-size block. */
    void *minimum = bm_realloc(p, 0);
    if (EXPECT(minimum != NULL))
        bm_free(minimum);

    /* An aligned block keeps its alignment when realloc has to move it. */
    size_t alignment = capped(4096, heap_fraction(64));
    void *a = bm_aligned_alloc(alignment, 100);
    if (EXPECT(a != NULL)) {
        case_pattern_fill(a, 100, case_pattern_seed(a, 1), true);
        void *b = bm_realloc(a, 20000);
        if (EXPECT(b != NULL)) {
            EXPECT(aligned(b, alignment));
            case_pattern_check(b, 100, case_pattern_seed(a, 1), true);
            bm_free(b);
        } else {
            bm_free(a);
        }
    }
    EXPECT(bm_check() == 0);
}

static void test_aligned_alloc(void) {
    size_t max_alignment = capped((size_t)4 << 20, heap_fraction(8));
    for (size_t alignment = 1; alignment <= max_alignment; alignment *= 2) {
        size_t sizes[] = {1, alignment / 2 + 1, alignment, 3 * alignment + 5};
        for (unsigned i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
            size_t size = capped(sizes[i], heap_fraction(8));
            void *p = bm_aligned_alloc(alignment, size);
            if (!EXPECT(p != NULL))
                continue;
            if (!EXPECT(aligned(p, alignment)))
                case_note("  aligned_alloc(%zu, %zu) = %p\n", alignment, size, p);
            EXPECT(bm_usable_size(p) >= size);
            case_pattern_fill(p, size, case_pattern_seed(p, 7), false);
            case_pattern_check(p, size, case_pattern_seed(p, 7), false);
            bm_free(p);
        }
    }
    EXPECT(bm_aligned_alloc(0, 16) == NULL && bm_last_error() == BM_EINVAL);
    EXPECT(bm_aligned_alloc(3, 16) == NULL && bm_last_error() == BM_EINVAL);
    EXPECT(bm_aligned_alloc(48, 16) == NULL && bm_last_error() == BM_EINVAL);
    EXPECT(bm_check() == 0);
}

static void test_posix_memalign(void) {
    void *untouched = not_from_the_heap;
    void *p = untouched;
    const size_t invalid[] = {0, 3, sizeof(void *) / 2, 3 * sizeof(void *), 48, (size_t)1 << 31 | 8};
    for (unsigned i = 0; i < sizeof invalid / sizeof invalid[0]; i++) {
        EXPECT(bm_posix_memalign(&p, invalid[i], 16) == BM_EINVAL);
        EXPECT(p == untouched);
    }
    const size_t valid[] = {sizeof(void *), 16, 64, 256, 4096, 65536};
    for (unsigned i = 0; i < sizeof valid / sizeof valid[0]; i++) {
        p = untouched;
        if (!EXPECT(bm_posix_memalign(&p, valid[i], 200) == 0))
            continue;
        EXPECT(p != untouched && aligned(p, valid[i]));
        case_pattern_fill(p, 200, 12345, true);
        bm_free(p);
    }
    p = untouched;
    EXPECT(bm_posix_memalign(&p, 64, SIZE_MAX - 4096) == BM_ENOMEM);
    EXPECT(p == untouched);
    EXPECT(bm_posix_memalign(&p, 256, SIZE_MAX / 2) == BM_ENOMEM);
    EXPECT(p == untouched);
}

/* The bytes of a block the caller may write: all it can use, except in an ASan build of the
 * core, which exposes only the requested ones. */
static size_t writable_bytes(size_t requested, size_t usable) {
#ifdef CASES_ASAN
    (void)usable;
    return requested;
#else
    (void)requested;
    return usable;
#endif
}

static void test_usable_size(void) {
    EXPECT(bm_usable_size(NULL) == 0);
    for (size_t size = 0; size <= 1100; size += size < 64 ? 1 : 13) {
        unsigned char *p = bm_malloc(size);
        if (!EXPECT(p != NULL))
            return;
        size_t usable = bm_usable_size(p);
        if (!EXPECT(usable >= size))
            case_note("  usable_size(malloc(%zu)) = %zu\n", size, usable);
        /* Every usable byte belongs to the caller: writing them all must corrupt nothing. */
        size_t writable = writable_bytes(size, usable);
        case_pattern_fill(p, writable, case_pattern_seed(p, 3), true);
        case_pattern_check(p, writable, case_pattern_seed(p, 3), true);
        bm_free(p);
    }
    for (unsigned i = 0; i < NCOMMON; i++) {
        size_t size = capped(common_sizes[i], heap_fraction(8));
        void *p = bm_malloc(size);
        if (!EXPECT(p != NULL))
            return;
        size_t usable = bm_usable_size(p);
        EXPECT(usable >= size);
        case_pattern_fill(p, writable_bytes(size, usable), case_pattern_seed(p, 4), false);
        bm_free(p);
    }
    EXPECT(bm_check() == 0);
}

static void test_calloc_overflow(void) {
    size_t half_bits = (size_t)1 << (sizeof(size_t) * 4);
    EXPECT(bm_calloc(SIZE_MAX, 2) == NULL);
    EXPECT(bm_calloc(2, SIZE_MAX) == NULL);
    EXPECT(bm_calloc(SIZE_MAX / 2 + 1, 2) == NULL);
    EXPECT(bm_calloc(half_bits, half_bits) == NULL);
    EXPECT(bm_calloc(half_bits + 1, half_bits - 1) == NULL);
    EXPECT(bm_calloc(SIZE_MAX, SIZE_MAX) == NULL);
    EXPECT(bm_calloc(SIZE_MAX / 2, 3) == NULL && bm_last_error() == BM_ENOMEM);
}

static void test_huge_requests(void) {
    size_t heap = case_heap_limit(); /* no request this large can be served */
    const size_t sizes[] = {SIZE_MAX, SIZE_MAX - 4096, SIZE_MAX / 2, SIZE_MAX / 4, heap * 2, heap + 1};
    for (unsigned i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        EXPECT(bm_malloc(sizes[i]) == NULL);
        EXPECT(bm_last_error() == BM_ENOMEM);
    }
    EXPECT(bm_calloc(1, heap * 2) == NULL);
    EXPECT(bm_aligned_alloc(64, SIZE_MAX - 32) == NULL);
    EXPECT(bm_aligned_alloc(4096, heap + 4096) == NULL);
    EXPECT(bm_realloc(NULL, SIZE_MAX) == NULL);

    /* A failed realloc leaves the block alone. */
    void *p = bm_malloc(300);
    if (EXPECT(p != NULL)) {
        case_pattern_fill(p, 300, 777, true);
        EXPECT(bm_realloc(p, SIZE_MAX - 8) == NULL);
        EXPECT(bm_realloc(p, heap * 2) == NULL);
        EXPECT(bm_realloc(p, SIZE_MAX / 2) == NULL);
        case_pattern_check(p, 300, 777, true);
        bm_free(p);
    }
    /* And nothing was lost on the way: a large block still fits. */
    p = bm_malloc(case_heap_size() / 4);
    EXPECT(p != NULL);
    bm_free(p);
    EXPECT(bm_check() == 0);
}

static void test_free_null(void) {
    case_errors_begin();
    bm_free(NULL);
    bm_free_sized(NULL, 16);
    EXPECT(bm_usable_size(NULL) == 0);
    EXPECT(case_errors_end(0));
}

/* Runs one bad call and expects exactly one report through the error hook. */
#define EXPECT_ONE_REPORT(call)                                                                   \
    do {                                                                                          \
        case_errors_begin();                                                    \
        call;                                                                                     \
        if (!EXPECT(case_errors_end(1)))                                        \
            case_note("  for: %s\n", #call);                                                   \
    } while (0)

static void test_bad_pointers(void) {
    unsigned char *small = bm_malloc(1000);
    unsigned char *large = bm_malloc(capped(65536, heap_fraction(16)));
    if (!EXPECT(small != NULL && large != NULL))
        return;
    case_pattern_fill(small, 1000, 5, true);

    EXPECT_ONE_REPORT(bm_free(not_from_the_heap));
    EXPECT_ONE_REPORT(bm_free(small + 40));     /* interior of a small block */
    EXPECT_ONE_REPORT(bm_free(small + 1));      /* not even aligned */
    EXPECT_ONE_REPORT(bm_free(large + 4096));   /* interior page of a large block */
    EXPECT_ONE_REPORT(EXPECT(bm_usable_size(small + 40) == 0));
    EXPECT_ONE_REPORT(EXPECT(bm_realloc(small + 40, 10) == NULL));
    case_pattern_check(small, 1000, 5, true); /* the bad calls left the real block alone */

    /* A sized free with the wrong size is reported, and the block is freed all the same. */
    void *tiny = bm_malloc(100);
    if (EXPECT(tiny != NULL))
        EXPECT_ONE_REPORT(bm_free_sized(tiny, 2000));
    EXPECT_ONE_REPORT(bm_free_sized(small, 5000));
    bm_free(large);

    /* Double frees of a small, a large and a huge block, each straight after the first free. */
    const size_t sizes[] = {48, capped(65536, heap_fraction(16)), capped((size_t)3 << 20, heap_fraction(8))};
    for (unsigned i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        void *p = bm_malloc(sizes[i]);
        if (!EXPECT(p != NULL))
            continue;
        bm_free(p);
        EXPECT_ONE_REPORT(bm_free(p));
    }

    case_errors_begin();
    EXPECT(bm_check() == 0);
    EXPECT(case_errors_end(0));

    /* The heap still works normally. */
    void *p = bm_malloc(48);
    EXPECT(p != NULL);
    bm_free(p);
}

/* A freed block is no one's: a free, realloc or usable_size of it (straight after the free,
 * or after its copy in this core's cache has gone back to its run) and of a region a refill
 * cached but malloc never handed out is reported once, and no block comes out twice. */
static void test_freed_blocks_are_not_live(void) {
    enum { DRAWN = 64 };
    void *drawn[DRAWN];
    unsigned char *p = bm_malloc(48);
    if (!EXPECT(p != NULL))
        return;
    /* The next region (cached by the refill, never handed out); with hardening level 2 the
     * usable size is the class size minus a canary, and this is an interior pointer. */
    EXPECT_ONE_REPORT(bm_free(p + bm_usable_size(p)));
    unsigned char *q = bm_malloc(48);
    bm_free(q);
    EXPECT_ONE_REPORT(EXPECT(bm_realloc(q, 40) == NULL)); /* same class: must not hand q back */
    EXPECT_ONE_REPORT(EXPECT(bm_realloc(q, 400) == NULL)); /* must not copy a freed block */
    EXPECT_ONE_REPORT(EXPECT(bm_usable_size(q) == 0));
    bm_cache_flush(); /* q is back in its run */
    EXPECT_ONE_REPORT(bm_free(q));
    EXPECT_ONE_REPORT(EXPECT(bm_realloc(q, 40) == NULL));
    unsigned twice = 0;
    for (unsigned i = 0; i < DRAWN; i++) {
        drawn[i] = bm_malloc(48);
        twice += drawn[i] == p;
        for (unsigned j = 0; j < i; j++)
            twice += drawn[j] == drawn[i];
    }
    EXPECT(twice == 0);
    for (unsigned i = 0; i < DRAWN; i++)
        bm_free(drawn[i]);
    bm_free(p);
    case_errors_begin();
    EXPECT(bm_check() == 0);
    EXPECT(case_errors_end(0));
}

/* ------------------------------------------------------------------------------------- */

struct tracked_block {
    unsigned char *ptr;
    size_t size;
    uintptr_t seed;
    size_t alignment; /* what the block was allocated with; realloc keeps it */
    bool sized_free_ok; /* straight from malloc/calloc: a sized free takes the request size */
};

static struct tracked_block tracked[GUEST_RANDOM_SLOTS];

/* xorshift32: a tiny deterministic generator. */
static uint32_t case_random(uint32_t *state) {
    uint32_t x = *state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return *state = x;
}
static size_t case_random_below(uint32_t *state, size_t bound) {
    return bound ? case_random(state) % bound : 0;
}

/* A size in [low, high], or in [low, low] when the heap is too small for the tier. */
static size_t size_in_tier(uint32_t *rng, size_t low, size_t high) {
    return high > low ? low + case_random_below(rng, high - low + 1) : low;
}

/* Mostly small, some medium and large, a few huge-ish; tiers shrink with small heaps. */
static size_t random_request_size(uint32_t *rng) {
    size_t medium = capped(16384, heap_fraction(256));
    size_t large = capped(262144, heap_fraction(128));
    unsigned pick = (unsigned)case_random_below(rng, 1000);
    if (pick < 700)
        return size_in_tier(rng, 1, 512);
    if (pick < 950)
        return size_in_tier(rng, 513, medium);
    if (pick < 995)
        return size_in_tier(rng, medium + 1, large);
    return size_in_tier(rng, large + 1, heap_fraction(32));
}

static size_t random_alignment(uint32_t *rng) {
    unsigned pick = (unsigned)case_random_below(rng, 100);
    size_t shift = pick < 90 ? 3 + case_random_below(rng, 10) /* 8 B .. 4 KiB */
                             : 13 + case_random_below(rng, 4); /* 8 KiB .. 64 KiB */
    while (shift > 3 && ((size_t)1 << shift) > heap_fraction(64))
        shift--;
    return (size_t)1 << shift;
}

static void place(struct tracked_block *slot, void *p, size_t size, size_t alignment,
                  uint32_t tag) {
    slot->ptr = p;
    slot->size = size;
    slot->alignment = alignment;
    slot->seed = case_pattern_seed(p, tag);
    case_pattern_fill(p, size, slot->seed, true);
}

static void random_allocate(struct tracked_block *slot, uint32_t *rng, uint32_t tag) {
    size_t size = random_request_size(rng);
    size_t alignment = natural_alignment(size);
    unsigned pick = (unsigned)case_random_below(rng, 100);
    void *p;
    bool zeroed = false;
    if (pick < 60) {
        p = bm_malloc(size);
    } else if (pick < 75) {
        p = bm_calloc(1, size);
        zeroed = true;
    } else if (pick < 85) {
        alignment = random_alignment(rng);
        p = bm_aligned_alloc(alignment, size);
    } else if (pick < 95) {
        alignment = random_alignment(rng);
        p = NULL;
        EXPECT(bm_posix_memalign(&p, alignment, size) == 0);
    } else {
        p = bm_realloc(NULL, size);
    }
    if (!EXPECT(p != NULL)) {
        case_note("  allocation of %zu bytes (alignment %zu) failed\n", size, alignment);
        return;
    }
    EXPECT(aligned(p, alignment));
    EXPECT(bm_usable_size(p) >= size);
    if (zeroed)
        EXPECT(case_all_zero(p, size));
    slot->sized_free_ok = pick < 75;
    place(slot, p, size, alignment, tag);
}

static void random_release(struct tracked_block *slot, uint32_t *rng, uint32_t tag) {
    case_pattern_check(slot->ptr, slot->size, slot->seed, true);
    unsigned pick = (unsigned)case_random_below(rng, 100);
    if (pick < 45) {
        bm_free(slot->ptr);
    } else if (pick < 60 && slot->sized_free_ok) {
        bm_free_sized(slot->ptr, slot->size);
    } else if (pick < 60) {
        bm_free(slot->ptr);
    } else {
        size_t new_size = random_request_size(rng);
        void *q = bm_realloc(slot->ptr, new_size);
        if (!EXPECT(q != NULL)) {
            bm_free(slot->ptr);
        } else {
            if (!EXPECT(aligned(q, slot->alignment)))
                case_note("  realloc(%p (%zu bytes, alignment %zu), %zu) = %p\n",
                             (void *)slot->ptr, slot->size, slot->alignment, new_size, q);
            EXPECT(bm_usable_size(q) >= new_size);
            case_pattern_check(q, slot->size < new_size ? slot->size : new_size, slot->seed,
                                true);
            place(slot, q, new_size, slot->alignment, tag);
            slot->sized_free_ok = false; /* the API promises sized free for malloc sizes only */
            return;
        }
    }
    slot->ptr = NULL;
}

static void test_random_sequence(void) {
    uint32_t rng = 0x2545F491u;
    for (uint32_t op = 1; op <= GUEST_RANDOM_OPS; op++) {
        struct tracked_block *slot = &tracked[case_random_below(&rng, GUEST_RANDOM_SLOTS)];
        if (slot->ptr)
            random_release(slot, &rng, op);
        else
            random_allocate(slot, &rng, op);
        if (op % 10000 == 0)
            EXPECT(bm_check() == 0);
        if (case_failure_count() > 100)
            break; /* the heap is broken; stop before the output drowns */
    }
    for (unsigned i = 0; i < GUEST_RANDOM_SLOTS; i++) {
        if (tracked[i].ptr) {
            case_pattern_check(tracked[i].ptr, tracked[i].size, tracked[i].seed, true);
            bm_free(tracked[i].ptr);
            tracked[i].ptr = NULL;
        }
    }
    EXPECT(bm_check() == 0);
}

const struct api_case api_cases[] = {
    {"malloc/free", test_malloc_free},
    {"calloc zeroes", test_calloc_zeroes},
    {"realloc keeps contents", test_realloc_keeps_contents},
    {"aligned_alloc alignment", test_aligned_alloc},
    {"posix_memalign EINVAL/ENOMEM", test_posix_memalign},
    {"usable_size >= request", test_usable_size},
    {"calloc overflow", test_calloc_overflow},
    {"huge requests", test_huge_requests},
    {"free(NULL)", test_free_null},
    {"bad pointers and double free", test_bad_pointers},
    {"freed blocks are not live", test_freed_blocks_are_not_live},
    {"randomized sequence", test_random_sequence},
};
const unsigned api_case_count = sizeof api_cases / sizeof api_cases[0];
