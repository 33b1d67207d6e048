/*
 * One thread, a tight batch loop (the shape of mimalloc-bench's glibc-simple): allocate n
 * blocks of one size, write each, free them all in allocation order, repeat.
 *   n=<list>     batch lengths, comma separated (default 300)
 *   size=<list>  block sizes, comma separated (default 32)
 * Every (size, n) pair gets the same number of operations, run one pair after the other
 * (sizes outer, batch lengths inner). The defaults are the cache-edge case: a batch just
 * past the 256 slots baremalloc's per-core bin for 32 B starts with, so a bin that only
 * flushes when full and refills when empty swings between the two on every batch.
 * n=25,100,400,1600 size=16,32,64 is glibc-simple's own mix.
 */
#include "bench_util.h"

enum { MAX_LIST = 16, MAX_BATCH = 1 << 16, BASE_OPS = 400000000 };

/* Parses a comma-separated list of positive integers into out (at most MAX_LIST); exits with
 * status 2 on anything else. Returns the count. */
static unsigned parse_list(const char *text, const char *what, unsigned long limit, unsigned long *out)
{
    unsigned count = 0;
    while (*text) {
        char *end;
        unsigned long v = strtoul(text, &end, 10);
        if (end == text || v == 0 || v > limit || count == MAX_LIST || (*end && *end != ',')) {
            fprintf(stderr, "batch: bad %s list (positive integers up to %lu, at most %d)\n", what, limit,
                    MAX_LIST);
            exit(2);
        }
        out[count++] = v;
        text = *end ? end + 1 : end;
    }
    if (!count) {
        fprintf(stderr, "batch: empty %s list\n", what);
        exit(2);
    }
    return count;
}

int main(int argc, char **argv)
{
    unsigned long ns[MAX_LIST], sizes[MAX_LIST];
    unsigned nn = parse_list(bench_arg_str(argc, argv, "n", "300"), "n", MAX_BATCH, ns);
    unsigned nsizes = parse_list(bench_arg_str(argc, argv, "size", "32"), "size", 1 << 20, sizes);
    uint64_t ops_per_pair = bench_scaled(argc, argv, BASE_OPS) / (nn * nsizes);
    static void *blocks[MAX_BATCH];

    uint64_t check = 0, ops = 0;
    bench_timer_t timer = bench_timer_start();
    for (unsigned s = 0; s < nsizes; s++) {
        size_t size = sizes[s];
        for (unsigned k = 0; k < nn; k++) {
            unsigned long n = ns[k];
            uint64_t rounds = ops_per_pair / (2 * n);
            if (!rounds)
                rounds = 1;
            for (uint64_t r = 0; r < rounds; r++) {
                for (unsigned long i = 0; i < n; i++) {
                    void *p = bench_xmalloc(size);
                    bench_fill(p, size);
                    blocks[i] = p;
                }
                for (unsigned long i = 0; i < n; i++) {
                    check += bench_read(blocks[i], size);
                    free(blocks[i]);
                }
            }
            ops += rounds * 2 * n;
        }
    }
    bench_timer_stop(&timer);
    bench_report("batch", 1, ops, &timer, check, "");
    return 0;
}
