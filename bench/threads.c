/*
 * threads=<n> threads without sharing: each thread owns SLOTS slots and repeatedly frees a
 * random slot and allocates a new small block (8-512 B) there. Every thread does the same
 * work, so with perfect scaling n threads finish in the time one does; the runner divides the
 * 2-thread throughput by the 1-thread throughput. The clock covers all threads from a common
 * start (a barrier) to the last one finishing.
 */
#include "bench_threads.h"

enum { SLOTS = 4096, INDEX_TABLE = 1 << 16, BASE_STEPS_PER_THREAD = 36000000, MAX_THREADS = 64 };

static void *worker_main(void *arg)
{
    bench_worker_t *w = arg;
    bench_rng_t rng;
    bench_rng_seed(&rng, 100 + w->id);
    /* Tables come from the allocator under test too, but before the timed part. Draws are
     * precomputed so the loop is allocator work, not PRNG work. */
    uint16_t *slot_of_step = bench_xmalloc(INDEX_TABLE * sizeof *slot_of_step);
    uint16_t *size_of_step = bench_xmalloc(INDEX_TABLE * sizeof *size_of_step);
    void **blocks = calloc(SLOTS, sizeof *blocks);
    uint16_t *block_sizes = calloc(SLOTS, sizeof *block_sizes);
    if (!blocks || !block_sizes)
        exit(2);
    for (unsigned i = 0; i < INDEX_TABLE; i++) {
        slot_of_step[i] = (uint16_t)bench_rng_below(&rng, SLOTS);
        size_of_step[i] = (uint16_t)bench_size_uniform(&rng, 8, 512);
    }

    bench_worker_ready();
    uint64_t check = 0, ops = 0;
    for (uint64_t s = 0; s < w->work; s++) {
        unsigned slot = slot_of_step[s & (INDEX_TABLE - 1)];
        if (blocks[slot]) {
            check += bench_read(blocks[slot], block_sizes[slot]);
            free(blocks[slot]);
            ops++;
        }
        /* Offset by the pass number so later passes do not repeat slot/size pairs. */
        size_t size = size_of_step[(s + (s >> 16)) & (INDEX_TABLE - 1)];
        void *p = bench_xmalloc(size);
        bench_fill(p, size);
        blocks[slot] = p;
        block_sizes[slot] = (uint16_t)size;
        ops++;
    }
    for (unsigned i = 0; i < SLOTS; i++) {
        if (blocks[i]) {
            check += bench_read(blocks[i], block_sizes[i]);
            free(blocks[i]);
            ops++;
        }
    }
    w->ops = ops;
    w->check = check;
    free(slot_of_step);
    free(size_of_step);
    free(blocks);
    free(block_sizes);
    return NULL;
}

int main(int argc, char **argv)
{
    int nthreads = bench_threads_arg(argc, argv, "threads", MAX_THREADS);
    static bench_worker_t workers[MAX_THREADS];
    uint64_t steps = bench_scaled(argc, argv, BASE_STEPS_PER_THREAD);
    bench_timer_t timer = bench_workers_start("threads", workers, nthreads, steps, worker_main);
    uint64_t ops = 0, check = 0;
    bench_workers_join(workers, nthreads, &ops, &check);
    bench_timer_stop(&timer);
    bench_report("threads", nthreads, ops, &timer, check, "");
    return 0;
}
