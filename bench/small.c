/*
 * Single thread, small objects (8-512 B uniform): allocate a batch of BATCH blocks, then free
 * the whole batch in one of three orders:
 *   order=lifo    newest first (stack-like: the best case for free lists)
 *   order=fifo    oldest first (queue-like: the freed block is the coldest one)
 *   order=random  a random permutation (scatters frees across runs and size classes)
 * Sizes and permutations are drawn before the clock starts, so the timed loop is allocator
 * work plus two byte writes and two byte reads per block.
 */
#include "bench_util.h"

enum { BATCH = 1024, SIZE_TABLE = 1 << 16, PERMUTATIONS = 16, BASE_BATCHES = 30000 };

int main(int argc, char **argv)
{
    const char *order = bench_arg_str(argc, argv, "order", "lifo");
    int lifo = strcmp(order, "lifo") == 0, fifo = strcmp(order, "fifo") == 0;
    if (!lifo && !fifo && strcmp(order, "random") != 0) {
        fprintf(stderr, "small: order must be lifo, fifo or random\n");
        return 2;
    }
    uint64_t batches = bench_scaled(argc, argv, BASE_BATCHES);

    bench_rng_t rng;
    bench_rng_seed(&rng, 1);
    static uint16_t sizes[SIZE_TABLE];
    for (unsigned i = 0; i < SIZE_TABLE; i++)
        sizes[i] = (uint16_t)bench_size_uniform(&rng, 8, 512);
    static uint16_t perms[PERMUTATIONS][BATCH];
    for (unsigned p = 0; p < PERMUTATIONS; p++) {
        for (unsigned i = 0; i < BATCH; i++)
            perms[p][i] = (uint16_t)i;
        for (unsigned i = BATCH - 1; i > 0; i--) { /* Fisher-Yates */
            unsigned j = bench_rng_below(&rng, i + 1);
            uint16_t t = perms[p][i];
            perms[p][i] = perms[p][j];
            perms[p][j] = t;
        }
    }
    static void *blocks[BATCH];
    static uint16_t block_sizes[BATCH];

    uint64_t check = 0;
    unsigned next_size = 0;
    bench_timer_t timer = bench_timer_start();
    for (uint64_t b = 0; b < batches; b++) {
        for (unsigned i = 0; i < BATCH; i++) {
            size_t size = sizes[next_size++ & (SIZE_TABLE - 1)];
            void *p = bench_xmalloc(size);
            bench_fill(p, size);
            blocks[i] = p;
            block_sizes[i] = (uint16_t)size;
        }
        if (lifo) {
            for (unsigned i = BATCH; i-- > 0;) {
                check += bench_read(blocks[i], block_sizes[i]);
                free(blocks[i]);
            }
        } else if (fifo) {
            for (unsigned i = 0; i < BATCH; i++) {
                check += bench_read(blocks[i], block_sizes[i]);
                free(blocks[i]);
            }
        } else {
            const uint16_t *perm = perms[b % PERMUTATIONS];
            for (unsigned i = 0; i < BATCH; i++) {
                unsigned k = perm[i];
                check += bench_read(blocks[k], block_sizes[k]);
                free(blocks[k]);
            }
        }
    }
    bench_timer_stop(&timer);

    char name[32];
    snprintf(name, sizeof name, "small_%s", order);
    bench_report(name, 1, batches * BATCH * 2, &timer, check, "");
    return 0;
}
