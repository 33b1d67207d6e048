/*
 * Larson-like server workload: NSETS sets of SLOTS blocks circulate between threads=<n>
 * worker threads (default 2) through a shared FIFO of sets. A worker takes the oldest set,
 * replaces STEPS_PER_TURN random blocks in it (free the old one, malloc a new one of a random
 * size 16-1024 B, as a server replaces per-connection objects), and puts the set back. Since
 * there are more sets than threads and the FIFO rotates them, each set is worked on by every
 * thread in turn: blocks are routinely freed by a thread other than their allocator, as in
 * Larson & Krishnan's benchmark, but without its thread creation per round.
 */
#include "bench_threads.h"

enum {
    NSETS = 8,
    SLOTS = 2048,
    STEPS_PER_TURN = 256,
    BASE_TURNS_PER_THREAD = 30000,
    MAX_THREADS = 64,
    MIN_SIZE = 16,
    MAX_SIZE = 1024
};

typedef struct block_set {
    void *blocks[SLOTS];
    uint16_t sizes[SLOTS];
} block_set_t;

/* FIFO of sets not currently held by a worker. */
static struct {
    pthread_mutex_t lock;
    block_set_t *sets[NSETS];
    unsigned first, count;
} pool = {.lock = PTHREAD_MUTEX_INITIALIZER};


static block_set_t *take_set(void)
{
    pthread_mutex_lock(&pool.lock);
    /* NSETS > threads, so a set is always waiting. */
    block_set_t *set = pool.sets[pool.first];
    pool.first = (pool.first + 1) % NSETS;
    pool.count--;
    pthread_mutex_unlock(&pool.lock);
    return set;
}

static void return_set(block_set_t *set)
{
    pthread_mutex_lock(&pool.lock);
    pool.sets[(pool.first + pool.count) % NSETS] = set;
    pool.count++;
    pthread_mutex_unlock(&pool.lock);
}

static void *worker_main(void *arg)
{
    bench_worker_t *w = arg;
    bench_rng_t rng;
    bench_rng_seed(&rng, 200 + w->id);
    uint64_t ops = 0, check = 0;
    bench_worker_ready();
    for (uint64_t t = 0; t < w->work; t++) {
        block_set_t *set = take_set();
        for (unsigned s = 0; s < STEPS_PER_TURN; s++) {
            uint64_t r = bench_rng_next(&rng);
            unsigned slot = (unsigned)(r >> 53) & (SLOTS - 1);
            size_t size = MIN_SIZE + (size_t)(((r & 0xffffffffu) * (MAX_SIZE - MIN_SIZE + 1)) >> 32);
            if (set->blocks[slot]) {
                check += bench_read(set->blocks[slot], set->sizes[slot]);
                free(set->blocks[slot]);
                ops++;
            }
            void *p = bench_xmalloc(size);
            bench_fill(p, size);
            set->blocks[slot] = p;
            set->sizes[slot] = (uint16_t)size;
            ops++;
        }
        return_set(set);
    }
    w->ops = ops;
    w->check = check;
    return NULL;
}

int main(int argc, char **argv)
{
    int nthreads = bench_threads_arg(argc, argv, "larson", NSETS - 1);
    static bench_worker_t workers[MAX_THREADS];
    uint64_t turns = bench_scaled(argc, argv, BASE_TURNS_PER_THREAD);
    for (unsigned i = 0; i < NSETS; i++) {
        block_set_t *set = calloc(1, sizeof *set);
        if (!set)
            return 2;
        return_set(set);
    }
    bench_timer_t timer = bench_workers_start("larson", workers, nthreads, turns, worker_main);
    uint64_t ops = 0, check = 0;
    bench_workers_join(workers, nthreads, &ops, &check);
    /* The main thread frees what is left: more cross-thread frees, inside the timing. */
    for (unsigned i = 0; i < NSETS; i++) {
        block_set_t *set = take_set();
        for (unsigned s = 0; s < SLOTS; s++) {
            if (set->blocks[s]) {
                check += bench_read(set->blocks[s], set->sizes[s]);
                free(set->blocks[s]);
                ops++;
            }
        }
        free(set);
    }
    bench_timer_stop(&timer);
    bench_report("larson", nthreads, ops, &timer, check, "");
    return 0;
}
