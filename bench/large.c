/*
 * Single thread, large and huge blocks 64 KiB - 8 MiB (log-uniform): SLOTS live slots, each
 * step frees a random slot and allocates a new block there. A block is written at its start,
 * middle and end (three pages), so an allocator that hands memory back to the kernel and maps
 * it again pays the page faults, as a real program using the block would.
 */
#include "bench_util.h"

enum { SLOTS = 16, BASE_STEPS = 300000 };

static uint64_t read_block(const unsigned char *p, size_t size)
{
    return bench_read(p, size) + p[size / 2];
}

int main(int argc, char **argv)
{
    uint64_t steps = bench_scaled(argc, argv, BASE_STEPS);
    bench_rng_t rng;
    bench_rng_seed(&rng, 3);
    static unsigned char *blocks[SLOTS];
    static size_t block_sizes[SLOTS];

    uint64_t check = 0, ops = 0;
    bench_timer_t timer = bench_timer_start();
    for (uint64_t s = 0; s < steps; s++) {
        unsigned slot = bench_rng_below(&rng, SLOTS);
        if (blocks[slot]) {
            check += read_block(blocks[slot], block_sizes[slot]);
            free(blocks[slot]);
            ops++;
        }
        size_t size = bench_size_log(&rng, 64 * 1024, 8 * 1024 * 1024);
        unsigned char *p = bench_xmalloc(size);
        bench_fill(p, size);
        p[size / 2] = (unsigned char)(size >> 16);
        blocks[slot] = p;
        block_sizes[slot] = size;
        ops++;
    }
    for (unsigned i = 0; i < SLOTS; i++) {
        if (blocks[i]) {
            check += read_block(blocks[i], block_sizes[i]);
            free(blocks[i]);
            ops++;
        }
    }
    bench_timer_stop(&timer);
    bench_report("large", 1, ops, &timer, check, "");
    return 0;
}
