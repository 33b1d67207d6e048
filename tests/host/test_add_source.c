/*
 * bm_add_source: a page source added after bm_init serves allocations once the first one is
 * used up; bad sources (NULL, NULL base, size 0, wrapping, overlapping a region in use, holding
 * no whole chunk) are refused with BM_EINVAL and change nothing; a source added while other
 * threads allocate and free loses nothing (the validator after the storm).
 */
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "ext.h"
#include "test.h"

#define CHUNKS0 4
static unsigned char heap0[CHUNKS0 * BM_CHUNK] __attribute__((aligned(BM_CHUNK)));
static unsigned char heap1[4 * BM_CHUNK] __attribute__((aligned(BM_CHUNK)));
static unsigned char heap2[8 * BM_CHUNK] __attribute__((aligned(BM_CHUNK)));

static bool inside(const void *p, const void *base, size_t size) {
    return (uintptr_t)p - (uintptr_t)base < size;
}

/* Blocks held until the test frees them. */
#define HELD_MAX 4096
static void *held[HELD_MAX];
static unsigned nheld;

static void free_held(void) {
    while (nheld)
        bm_free(held[--nheld]);
}

TEST(bad_sources_are_refused_and_change_nothing) {
    unsigned before = 0;
    size_t len = sizeof before;
    CHECK_EQ(bm_ctl("arenas.nnodes", &before, &len, NULL, 0), 0);
    CHECK_EQ(bm_add_source(NULL), BM_EINVAL);
    bm_page_source_t bad = {.base = NULL, .size = BM_CHUNK};
    CHECK_EQ(bm_add_source(&bad), BM_EINVAL);
    bad = (bm_page_source_t){.base = heap1, .size = 0};
    CHECK_EQ(bm_add_source(&bad), BM_EINVAL);
    bad = (bm_page_source_t){.base = (void *)(UINTPTR_MAX - BM_CHUNK + 1), .size = 2 * BM_CHUNK};
    CHECK_EQ(bm_add_source(&bad), BM_EINVAL); /* wraps */
    bad = (bm_page_source_t){.base = heap0 + BM_CHUNK, .size = BM_CHUNK};
    CHECK_EQ(bm_add_source(&bad), BM_EINVAL); /* inside region 0 */
    bad = (bm_page_source_t){.base = heap0 + sizeof heap0 - 256, .size = 2 * BM_CHUNK};
    CHECK_EQ(bm_add_source(&bad), BM_EINVAL); /* its first bytes are region 0's last */
    bad = (bm_page_source_t){.base = heap1 + 1, .size = BM_CHUNK};
    CHECK_EQ(bm_add_source(&bad), BM_EINVAL); /* no whole chunk on the chunk grid */
    unsigned after = 0;
    CHECK_EQ(bm_ctl("arenas.nnodes", &after, &len, NULL, 0), 0);
    CHECK_EQ(after, before);
    CHECK_EQ(bm_check(), 0);
}

TEST(an_added_source_serves_once_the_first_is_full) {
    /* Fill region 0 with large blocks until an allocation fails. */
    void *p;
    while (nheld < HELD_MAX && (p = bm_malloc(BM_CHUNK / 8)) != NULL)
        held[nheld++] = p;
    CHECK(nheld < HELD_MAX);
    CHECK(bm_malloc(BM_CHUNK / 8) == NULL);
    bm_page_source_t src = {.base = heap1, .size = sizeof heap1};
    CHECK_EQ(bm_add_source(&src), 0);
    p = bm_malloc(BM_CHUNK / 8);
    CHECK(p != NULL);
    CHECK(inside(p, heap1, sizeof heap1));
    memset(p, 0xa5, BM_CHUNK / 8);
    CHECK_EQ(bm_usable_size(p) >= BM_CHUNK / 8, 1);
    bm_free(p);
    /* The same range again, or one overlapping it, is refused now. */
    CHECK_EQ(bm_add_source(&src), BM_EINVAL);
    bm_page_source_t part = {.base = heap1 + BM_CHUNK, .size = BM_CHUNK};
    CHECK_EQ(bm_add_source(&part), BM_EINVAL);
    free_held();
    CHECK_EQ(bm_check(), 0);
}

static volatile int storm_stop;

static void *storm(void *arg) {
    unsigned seed = (unsigned)(uintptr_t)arg, n = 0;
    void *mine[64] = {0};
    while (!__atomic_load_n(&storm_stop, __ATOMIC_RELAXED) || n < 20000) {
        seed = seed * 1103515245u + 12345u;
        unsigned slot = (seed >> 8) % 64;
        if (mine[slot]) {
            bm_free(mine[slot]);
            mine[slot] = NULL;
        } else {
            size_t size = 8 + (seed >> 16) % 2048;
            mine[slot] = bm_malloc(size);
            if (mine[slot])
                memset(mine[slot], (int)slot, size);
        }
        n++;
    }
    for (unsigned i = 0; i < 64; i++)
        bm_free(mine[i]);
    return NULL;
}

TEST(a_source_added_while_threads_allocate_loses_nothing) {
    pthread_t threads[2];
    for (unsigned i = 0; i < 2; i++)
        CHECK_EQ(pthread_create(&threads[i], NULL, storm, (void *)(uintptr_t)(i + 7)), 0);
    bm_page_source_t src = {.base = heap2, .size = sizeof heap2};
    CHECK_EQ(bm_add_source(&src), 0);
    /* the new chunks are usable at once, from this thread too */
    void *p;
    while (nheld < HELD_MAX && (p = bm_malloc(BM_CHUNK / 8)) != NULL) {
        held[nheld++] = p;
        if (inside(p, heap2, sizeof heap2))
            break;
    }
    CHECK(nheld > 0 && inside(held[nheld - 1], heap2, sizeof heap2));
    __atomic_store_n(&storm_stop, 1, __ATOMIC_RELAXED);
    for (unsigned i = 0; i < 2; i++)
        pthread_join(threads[i], NULL);
    free_held();
    CHECK_EQ(bm_check(), 0);
}

int main(void) {
    bm_set_error_hook(test_count_error);
    bm_page_source_t sources[1] = {{.base = heap0, .size = sizeof heap0}};
    bm_config_t config = {.sources = sources, .nsources = 1};
    int err = bm_init(&config);
    if (err) {
        fprintf(stderr, "bm_init: %d\n", err);
        return 1;
    }
    return test_main();
}
