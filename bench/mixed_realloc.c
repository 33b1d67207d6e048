/*
 * Single thread, mixed sizes 8 B - 64 KiB (log-uniform) with realloc growth: SLOTS live slots;
 * each step picks a random slot and
 *   - empty slot: malloc a fresh block;
 *   - otherwise, half the time: realloc it 1.25x-2x bigger (a growing buffer; freed instead
 *     once it would pass 64 KiB), else free it.
 * This crosses size classes, small/large boundaries and in-place versus moving realloc.
 */
#include "bench_util.h"

enum { SLOTS = 4096, MAX_SIZE = 64 * 1024, BASE_STEPS = 4000000 };

int main(int argc, char **argv)
{
    uint64_t steps = bench_scaled(argc, argv, BASE_STEPS);
    bench_rng_t rng;
    bench_rng_seed(&rng, 2);
    static void *blocks[SLOTS];
    static uint32_t block_sizes[SLOTS];

    uint64_t check = 0, ops = 0;
    bench_timer_t timer = bench_timer_start();
    for (uint64_t s = 0; s < steps; s++) {
        uint64_t r = bench_rng_next(&rng);
        unsigned slot = (unsigned)(r >> 52) & (SLOTS - 1);
        size_t size = block_sizes[slot];
        if (!blocks[slot]) {
            size = bench_size_log(&rng, 8, MAX_SIZE);
            blocks[slot] = bench_xmalloc(size);
            bench_fill(blocks[slot], size);
            block_sizes[slot] = (uint32_t)size;
            ops++;
            continue;
        }
        /* 1.25x plus up to 0.75x more, from the low byte of r */
        size_t grown = size + (size >> 2) + (size_t)((r & 0xff) * size >> 8) * 3 / 4;
        if ((r & 0x100) && grown <= MAX_SIZE) {
            /* The mark at [0] must survive the move; the old tail mark is now inside. */
            unsigned char *p = bench_xrealloc(blocks[slot], grown);
            check += p[0];
            bench_fill(p, grown);
            blocks[slot] = p;
            block_sizes[slot] = (uint32_t)grown;
        } else {
            check += bench_read(blocks[slot], size);
            free(blocks[slot]);
            blocks[slot] = NULL;
        }
        ops++;
    }
    for (unsigned i = 0; i < SLOTS; i++) {
        if (blocks[i]) {
            check += bench_read(blocks[i], block_sizes[i]);
            free(blocks[i]);
            ops++;
        }
    }
    bench_timer_stop(&timer);
    bench_report("mixed_realloc", 1, ops, &timer, check, "");
    return 0;
}
