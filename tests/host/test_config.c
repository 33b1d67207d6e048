/* Run-time configuration through bm_init: per-core caches off, a chosen arena count, options
 * that are wrong (reported, defaults kept), and a caller-supplied error hook. */
#include <pthread.h>

#include "ext.h"
#include "test.h"

TEST(config_options_applied) {
    CHECK_EQ(bm_state.narenas, 3);
    CHECK_EQ(bm_state.opt.tcache, 0);
    CHECK_EQ(bm_state.opt.tcache_slots, test_default_slots(0)); /* "tcache_slots:0" rejected */
}

TEST(config_without_cache_serves_from_arenas) {
    void *p[500];
    for (int i = 0; i < 500; i++)
        p[i] = bm_malloc((size_t)(i % 50) * 16 + 1);
    bm_cache_t *cache = *bm_core_local();
    CHECK(cache != &bm_cache_unset);
    CHECK_EQ(cache->ncached, 0);
    size_t live = bm_stats_allocated();
    CHECK(live > 0);
    for (int i = 0; i < 500; i++)
        bm_free(p[i]);
    /* nothing can hide in a cache: every byte is back without a flush */
    CHECK_EQ(bm_stats_allocated(), 0);
    CHECK_EQ(bm_check(), 0);
}

static void *thread_work(void *arg) {
    (void)arg;
    for (int i = 0; i < 10000; i++)
        bm_free(bm_malloc((size_t)(i % 300) + 1));
    return NULL;
}

TEST(config_cores_map_to_arenas_round_robin) {
    for (unsigned core = 0; core < 7; core++)
        CHECK_EQ(bm_state.core_arena[core], core % 3);
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, thread_work, NULL);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    CHECK_EQ(bm_stats_allocated(), 0);
    CHECK_EQ(bm_check(), 0);
}

TEST(config_error_hook_from_config_is_used) {
    unsigned before = test_error_reports;
    int local;
    bm_free(&local);
    CHECK_EQ(test_error_reports, before + 1);
}

#if BM_FREE_CHECKS /* -DBM_FREE_CHECKS=0 trusts the caller: realloc does not look for freed blocks */
/* Caches off: a freed small block went straight back to its run; realloc of it, to size 0
 * as to any other, is reported and NULL (to 0 it used to report the free and hand out a
 * block). */
TEST(config_realloc_of_a_freed_block_without_cache_is_reported) {
    char *p = bm_malloc(48), *keep = bm_malloc(48);
    bm_free(p);
    size_t sizes[] = {0, 48, 1000};
    for (unsigned i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        unsigned before = test_error_reports;
        CHECK(bm_realloc(p, sizes[i]) == NULL);
        CHECK_EQ(test_error_reports, before + 1);
    }
    unsigned before = test_error_reports;
    void *q = bm_realloc(keep, 48);
    CHECK(q == keep);
    bm_free(q);
    CHECK_EQ(test_error_reports, before);
    CHECK_EQ(bm_stats_allocated(), 0);
    CHECK_EQ(bm_check(), 0);
}
#endif

int main(void) {
    bm_config_t config = {.options = "narenas:3,tcache:false,tcache_slots:0,unknown_thing:4",
                          .error_hook = test_count_error};
    CHECK_EQ(bm_init(&config), 0);
    return test_main();
}
