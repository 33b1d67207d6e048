/*
 * Churn: peak footprint against peak live bytes. The program runs PHASES phases; each draws
 * block sizes from a different size band (tiny, medium, large, ...), allocates until the live
 * bytes reach TARGET_LIVE, then frees a random three quarters of everything live. The
 * survivors stay scattered over memory that the next phase, with its different sizes, can
 * only reuse if the allocator gives back or recycles partly empty runs and pages. Each block
 * is written in full (memset), so every page it covers is resident, as in a real program.
 *
 * Reported: peak_rss_kb (VmHWM), peak_live_kb (largest sum of requested sizes live at once),
 * base_rss_kb (VmRSS once the bookkeeping arrays are allocated and touched, before the first
 * block) and overhead = (peak_rss - base_rss) / peak_live. The runner compares peak_rss_kb.
 */
#include "bench_util.h"

enum { TARGET_LIVE = 32 << 20, MAX_BLOCKS = 1 << 19, PHASES = 24 };

static const struct {
    uint32_t lo, hi;
} bands[] = {
    {16, 128}, {2048, 16384}, {128, 1024}, {32768, 262144}, {48, 384}, {512, 4096},
};
enum { NBANDS = sizeof bands / sizeof bands[0] };

int main(int argc, char **argv)
{
    /* scale shrinks the live target (a quick run) rather than the phase count, so that every
     * size band still takes its turn. */
    double scale = bench_arg(argc, argv, "scale", 1.0);
    size_t target_live = (size_t)((double)TARGET_LIVE * (scale < 1.0 ? scale : 1.0));
    bench_rng_t rng;
    bench_rng_seed(&rng, 5);

    unsigned char **blocks = bench_xmalloc(MAX_BLOCKS * sizeof *blocks);
    uint32_t *sizes = bench_xmalloc(MAX_BLOCKS * sizeof *sizes);
    memset(blocks, 0, MAX_BLOCKS * sizeof *blocks);
    memset(sizes, 0, MAX_BLOCKS * sizeof *sizes);
    long base_rss_kb = bench_status_kb("VmRSS");

    size_t live = 0, peak_live = 0, count = 0;
    uint64_t ops = 0, check = 0;
    bench_timer_t timer = bench_timer_start();
    for (unsigned phase = 0; phase < PHASES; phase++) {
        uint32_t lo = bands[phase % NBANDS].lo, hi = bands[phase % NBANDS].hi;
        while (live < target_live && count < MAX_BLOCKS) {
            size_t size = bench_size_uniform(&rng, lo, hi);
            unsigned char *p = bench_xmalloc(size);
            memset(p, (int)(size & 0xff), size);
            bench_fill(p, size);
            blocks[count] = p;
            sizes[count] = (uint32_t)size;
            count++;
            live += size;
            ops++;
        }
        if (live > peak_live)
            peak_live = live;
        /* Free about 3/4 of all live blocks, keeping the survivors packed at the front. */
        size_t kept = 0;
        for (size_t i = 0; i < count; i++) {
            if (bench_rng_below(&rng, 4) != 0) {
                check += bench_read(blocks[i], sizes[i]);
                free(blocks[i]);
                live -= sizes[i];
                ops++;
            } else {
                blocks[kept] = blocks[i];
                sizes[kept] = sizes[i];
                kept++;
            }
        }
        count = kept;
    }
    for (size_t i = 0; i < count; i++) {
        check += bench_read(blocks[i], sizes[i]);
        free(blocks[i]);
        ops++;
    }
    bench_timer_stop(&timer);

    long peak_rss_kb = bench_status_kb("VmHWM");
    char extra[160];
    snprintf(extra, sizeof extra, " peak_live_kb=%zu base_rss_kb=%ld overhead=%.3f", peak_live / 1024,
             base_rss_kb, (double)(peak_rss_kb - base_rss_kb) / ((double)peak_live / 1024.0));
    bench_report("churn", 1, ops, &timer, check, extra);
    free(blocks);
    free(sizes);
    return 0;
}
