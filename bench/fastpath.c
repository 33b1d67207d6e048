/*
 * Instruction count of the allocator's fast path: one warm malloc(32) + free pair per call of
 * measured_pair(), run under
 *   valgrind --tool=callgrind --toggle-collect=measured_pair ./fastpath pairs=<n>
 * so that only instructions executed inside measured_pair and what it calls are counted.
 * The runner runs n and 2n pairs and divides the difference by n (start-up and warm-up costs
 * cancel; periodic work such as cache garbage collection stays in, amortised), then
 * subtracts the instructions spent in this binary itself (the call sequence and PLT stubs).
 *
 * BALLAST_BLOCKS blocks of the same size stay live throughout, as in any real program: with
 * nothing else live, freeing the one block empties its page and some allocators (mimalloc)
 * then take a page-retire path on every free, which is not the cache-hit path measured here.
 *
 * The pointer is stored to a volatile object so the compiler cannot pair up and delete the
 * malloc/free calls, and both functions are noinline so callgrind sees them as functions.
 */
#include "bench_util.h"

enum { WARM_PAIRS = 10000, OBJECT_SIZE = 32, BALLAST_BLOCKS = 64 };

void *volatile last_block;

__attribute__((noinline)) void measured_pair(void)
{
    void *p = malloc(OBJECT_SIZE);
    last_block = p;
    free(p);
}

/* Same body, not collected: fills the thread cache and resolves the PLT entries. */
__attribute__((noinline)) void warm_pair(void)
{
    void *p = malloc(OBJECT_SIZE);
    last_block = p;
    free(p);
}

int main(int argc, char **argv)
{
    long pairs = (long)bench_arg(argc, argv, "pairs", 100000);
    static void *ballast[BALLAST_BLOCKS];
    for (int i = 0; i < BALLAST_BLOCKS; i++)
        ballast[i] = bench_xmalloc(OBJECT_SIZE);
    for (int i = 0; i < WARM_PAIRS; i++)
        warm_pair();
    for (long i = 0; i < pairs; i++)
        measured_pair();
    for (int i = 0; i < BALLAST_BLOCKS; i++)
        free(ballast[i]);
    printf("RESULT workload=fastpath pairs=%ld\n", pairs);
    return 0;
}
