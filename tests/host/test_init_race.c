/* Lazy initialisation when many threads make their first call at the same moment: exactly one
 * initialises, the others wait, and everything they allocate is consistent afterwards. */
#include <pthread.h>

#include "ext.h"
#include "test.h"

#define RACERS 16
static pthread_barrier_t start_line;
static void *first_blocks[RACERS];

static void *racer(void *arg) {
    unsigned i = (unsigned)(uintptr_t)arg;
    pthread_barrier_wait(&start_line);
    first_blocks[i] = bm_malloc(64 + i);
    return NULL;
}

TEST(init_race_first_calls_all_succeed) {
    pthread_t t[RACERS];
    pthread_barrier_init(&start_line, NULL, RACERS);
    for (unsigned i = 0; i < RACERS; i++)
        pthread_create(&t[i], NULL, racer, (void *)(uintptr_t)i);
    for (unsigned i = 0; i < RACERS; i++)
        pthread_join(t[i], NULL);
    CHECK_EQ(__atomic_load_n(&bm_state.init_state, __ATOMIC_ACQUIRE), BM_INIT_READY);
    for (unsigned i = 0; i < RACERS; i++) {
        CHECK(first_blocks[i] != NULL);
        for (unsigned j = 0; j < i; j++)
            CHECK(first_blocks[i] != first_blocks[j]);
    }
    for (unsigned i = 0; i < RACERS; i++)
        bm_free(first_blocks[i]);
    bm_cache_flush();
    CHECK_EQ(bm_stats_allocated(), 0);
    CHECK_EQ(bm_check(), 0);
    bm_config_t config = {0};
    CHECK_EQ(bm_init(&config), BM_EBUSY); /* too late for explicit initialisation */
}

int main(void) {
    bm_set_error_hook(test_count_error);
    return test_main();
}
