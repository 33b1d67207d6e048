/*
 * One block never has two owners: every free, sized free, realloc and usable_size of an address
 * that is not a live block's start is reported once and changes nothing, whether the block is
 * in this core's cache, another core's, back in its run, never handed out, or on pages purged
 * and recycled since. Each case ends by allocating many blocks of the class and checking that
 * none comes out twice (the harm a missed report does).
 */
#include <pthread.h>
#include <stdint.h>

#include "ext.h"
#include "test.h"

#define DRAW 600 /* blocks drawn after a bad call: more than a cache bin and a run hold */

/* Allocates DRAW blocks of size (plus the extra live blocks given), checks that no address
 * comes out twice, frees them. */
static void check_no_second_owner(size_t size, void *const *live, unsigned nlive) {
    static void *drawn[DRAW];
    unsigned dup = 0;
    for (unsigned i = 0; i < DRAW; i++) {
        drawn[i] = bm_malloc(size);
        CHECK(drawn[i] != NULL);
        for (unsigned j = 0; j < nlive; j++)
            dup += drawn[i] == live[j];
        for (unsigned j = 0; j < i && drawn[i]; j++)
            dup += drawn[j] == drawn[i];
    }
    CHECK_EQ(dup, 0);
    for (unsigned i = 0; i < DRAW; i++)
        bm_free(drawn[i]);
    CHECK_EQ(bm_check(), 0);
}

static unsigned reports_since(unsigned before) { return test_error_reports - before; }

/* A refill moves a batch of regions into the cache; the second was never handed out. */
TEST(free_of_a_cached_region_never_handed_out_is_reported) {
    char *p = bm_malloc(48);
    CHECK(p != NULL);
    size_t step = bm_usable_size(p) + BM_CANARY_BYTES; /* the class size */
    unsigned before = test_error_reports;
    bm_free(p + step);
    CHECK_EQ(reports_since(before), 1);
    check_no_second_owner(48, (void *[]){p}, 1);
    bm_free(p);
}

/* A block aligned beyond a page records its alignment in its page map (for realloc): a pointer
 * inside it at the record's offset is no block either. The record once sat in the head
 * entry's phase, which the free fast path reads as the offset of the first block, and such a
 * pointer went into the cache (found by the fuzzer). */
TEST(free_inside_a_block_aligned_beyond_a_page_is_reported) {
    size_t align = 4 * BM_PAGE;
    char *p = bm_aligned_alloc(align, BM_PAGE);
    CHECK(p != NULL && ((uintptr_t)p & (align - 1)) == 0);
    unsigned before = test_error_reports;
    for (unsigned lg = 1; lg < 32; lg++) /* every offset a record in the phase field could take */
        bm_free(p + ((size_t)lg << 1));
    CHECK_EQ(reports_since(before), 31);
    size_t size = bm_usable_size(p);
    check_no_second_owner(size, (void *[]){p}, 1);
    bm_free(p);
    CHECK_EQ(bm_check(), 0);
}

/* Regions per run of the small class whose regions are size bytes (0 if none is). */
static unsigned regions_per_run(size_t size) {
    for (unsigned j = 0;; j++) {
        char name[64];
        size_t class_size, len = sizeof class_size;
        snprintf(name, sizeof name, "arenas.bin.%u.size", j);
        if (bm_ctl(name, &class_size, &len, NULL, 0) != 0)
            return 0;
        if (class_size == size) {
            uint32_t nregs;
            len = sizeof nregs;
            snprintf(name, sizeof name, "arenas.bin.%u.nregs", j);
            return bm_ctl(name, &nregs, &len, NULL, 0) == 0 ? nregs : 0;
        }
    }
}

/* A region half a run past a fresh block (its run was new, so p is near its start): past
 * what any refill took (the real-time profile's runs are short, but so are its refills),
 * free in the run's bitmap, its first word never written. */
TEST(free_of_a_region_free_in_its_run_is_reported) {
    unsigned nregs = regions_per_run(16);
    CHECK(nregs > (BM_REALTIME ? 4 * BM_TCACHE_BATCH_MAX : 64));
    char *p = bm_malloc(16);
    CHECK(p != NULL);
    unsigned before = test_error_reports;
    bm_free(p + 16 * (nregs / 2));
    CHECK_EQ(reports_since(before), 1);
    check_no_second_owner(16, (void *[]){p}, 1);
    bm_free(p);
}

/* The delayed double free: runs empty, their pages are purged (they read back as zero), the
 * pages become runs of the class again, and the old pointers are freed a second time. */
TEST(double_free_after_purge_and_reuse_is_reported) {
    enum { N = 3000 }; /* several runs: the bin's current run stays, the others go back */
    static void *old[N], *fresh[N];
    for (unsigned i = 0; i < N; i++)
        old[i] = bm_malloc(96);
    for (unsigned i = 0; i < N; i++)
        bm_free(old[i]);
    bm_cache_flush();
    CHECK_EQ(bm_ctl("arena.0.purge", NULL, NULL, NULL, 0), 0);
    for (unsigned i = 0; i < N; i++)
        fresh[i] = bm_malloc(96);
    unsigned before = test_error_reports, stale = 0;
    for (unsigned i = 0; i < N; i++) {
        bool live = false;
        for (unsigned j = 0; j < N && !live; j++)
            live = fresh[j] == old[i];
        if (!live) {
            bm_free(old[i]);
            stale++;
        }
    }
    CHECK(stale > 0);
    CHECK_EQ(reports_since(before), stale);
    check_no_second_owner(96, fresh, N);
    for (unsigned i = 0; i < N; i++)
        bm_free(fresh[i]);
}

/* ---- across cores (host threads hold distinct core slots while alive) ---- */

static pthread_mutex_t step_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t step_cond = PTHREAD_COND_INITIALIZER;
static int step;
static void *shared_block;
static size_t shared_size;

static void wait_step(int want) {
    pthread_mutex_lock(&step_lock);
    while (step < want)
        pthread_cond_wait(&step_cond, &step_lock);
    pthread_mutex_unlock(&step_lock);
}

static void set_step(int value) {
    pthread_mutex_lock(&step_lock);
    step = value;
    pthread_cond_broadcast(&step_cond);
    pthread_mutex_unlock(&step_lock);
}

/* Core A: allocates and frees the block (it stays in A's cache), waits for B's second free,
 * then draws blocks of the class. */
static void *core_a(void *unused) {
    (void)unused;
    shared_block = bm_malloc(shared_size);
    bm_free(shared_block);
    set_step(1);
    wait_step(2);
    void *mine = bm_malloc(shared_size); /* very likely the block itself, from A's cache */
    set_step(3);
    wait_step(4);
    bm_free(mine);
    return mine;
}

static void *core_b(void *unused) {
    (void)unused;
    wait_step(1);
    bm_free(shared_block); /* the second free, on another core */
    set_step(2);
    wait_step(3);
    void *drawn[DRAW];
    for (unsigned i = 0; i < DRAW; i++)
        drawn[i] = bm_malloc(shared_size);
    unsigned hits = 0;
    for (unsigned i = 0; i < DRAW; i++)
        hits += drawn[i] == shared_block;
    for (unsigned i = 0; i < DRAW; i++)
        bm_free(drawn[i]);
    set_step(4);
    return (void *)(uintptr_t)hits;
}

static void cross_core_case(size_t size) {
    shared_size = size;
    step = 0;
    unsigned before = test_error_reports;
    pthread_t a, b;
    void *a_result, *b_hits;
    pthread_create(&a, NULL, core_a, NULL);
    pthread_create(&b, NULL, core_b, NULL);
    pthread_join(a, &a_result);
    pthread_join(b, &b_hits);
    CHECK_EQ(reports_since(before), 1);
    /* A got the block back; B must not have got it too while A held it. */
    CHECK_EQ((uintptr_t)b_hits, 0);
    CHECK_EQ(bm_check(), 0);
}

TEST(double_free_across_cores_is_reported) {
    cross_core_case(40);
    cross_core_case(20000); /* a large class, cached too */
}

/* ---- realloc, usable_size and sized free of a freed block ---- */

TEST(realloc_of_a_freed_block_is_reported_and_returns_null) {
    void *p = bm_malloc(24);
    bm_free(p);
    unsigned before = test_error_reports;
    CHECK(bm_realloc(p, 20) == NULL); /* same class: must not hand p back */
    CHECK_EQ(reports_since(before), 1);
    CHECK(bm_realloc(p, 300) == NULL); /* another class: must not copy a freed block */
    CHECK_EQ(reports_since(before), 2);
    CHECK_EQ(bm_last_error(), BM_EINVAL);
    void *large = bm_malloc(20000);
    bm_free(large);
    CHECK(bm_realloc(large, 30000) == NULL);
    CHECK_EQ(reports_since(before), 3);
    check_no_second_owner(24, NULL, 0);
}

TEST(usable_size_and_sized_free_of_a_freed_block_are_reported) {
    void *p = bm_malloc(56);
    bm_free(p);
    unsigned before = test_error_reports;
    CHECK_EQ(bm_usable_size(p), 0);
    CHECK_EQ(reports_since(before), 1);
    bm_free_sized(p, 56);
    CHECK_EQ(reports_since(before), 2);
    check_no_second_owner(56, NULL, 0);
}

int main(void) {
    bm_set_error_hook(test_count_error);
    return test_main();
}
