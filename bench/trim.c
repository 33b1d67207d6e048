/*
 * Trim: how much memory an allocator gives back after a burst (issue 11). The program
 * allocates TOTAL bytes (1 GiB) in blocks of 16-256 B, writes each one, frees them all, and
 * reads its resident set (/proc/self/statm, no allocation) at each step:
 *   rss_peak_kb    everything allocated;
 *   rss_freed_kb   right after the last free;
 *   rss_idle_kb    after the program went on allocating a little: IDLE_ROUNDS rounds that
 *                  allocate 1 MiB in 16-256 B blocks and free it (no allocator-specific call:
 *                  what the default options give back by themselves);
 *   rss_purge_kb   after the allocator's own purge call, found with dlsym: baremalloc
 *                  bm_ctl("arena.<i>.purge") on every arena, jemalloc mallctl("arena.4096.purge")
 *                  (every arena), mimalloc mi_collect(true), tcmalloc
 *                  MallocExtension_ReleaseFreeMemory; glibc has none (the same as before);
 *   rss_trim_kb    after malloc_trim(0) (glibc's, or the preloaded allocator's if it exports
 *                  one; trim_result is its return value, -1 when the process has none).
 * The array of block pointers (TOTAL / 136 words, about 60 MiB at scale 1) stays allocated and
 * resident throughout: it is the floor every allocator shares.
 *
 * Arguments: scale=<f> multiplies TOTAL (the runner's quick mode uses it).
 */
#define _GNU_SOURCE
#include "bench_util.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <stdbool.h>
#include <unistd.h>

enum { LO = 16, HI = 256, IDLE_ROUNDS = 64, IDLE_BYTES = 1 << 20 };
#define TOTAL ((size_t)1 << 30)

/* VmRSS in kB from /proc/self/statm with open/read (stdio would allocate); -1 on failure. */
static long rss_kb(void)
{
    char buf[128];
    int fd = open("/proc/self/statm", O_RDONLY);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = 0;
    char *p = buf;
    strtol(p, &p, 10); /* size */
    long pages = strtol(p, NULL, 10);
    return pages * (sysconf(_SC_PAGESIZE) / 1024);
}

/* The allocator's purge-everything call, if the process has one; returns its name or "none". */
static const char *allocator_purge(void)
{
    typedef int bm_ctl_fn(const char *, void *, size_t *, const void *, size_t);
    typedef int mallctl_fn(const char *, void *, size_t *, void *, size_t);
    bm_ctl_fn *bm_ctl = (bm_ctl_fn *)dlsym(RTLD_DEFAULT, "bm_ctl");
    if (bm_ctl) {
        unsigned narenas = 0;
        size_t len = sizeof narenas;
        bm_ctl("arenas.narenas", &narenas, &len, NULL, 0);
        char name[64];
        for (unsigned i = 0; i < narenas; i++) {
            snprintf(name, sizeof name, "arena.%u.purge", i);
            bm_ctl(name, NULL, NULL, NULL, 0);
        }
        return "bm_ctl";
    }
    mallctl_fn *mallctl = (mallctl_fn *)dlsym(RTLD_DEFAULT, "mallctl");
    if (mallctl) {
        mallctl("arena.4096.purge", NULL, NULL, NULL, 0);
        return "mallctl";
    }
    void (*mi_collect)(bool) = (void (*)(bool))dlsym(RTLD_DEFAULT, "mi_collect");
    if (mi_collect) {
        mi_collect(true);
        return "mi_collect";
    }
    void (*tc_release)(void) = (void (*)(void))dlsym(RTLD_DEFAULT, "MallocExtension_ReleaseFreeMemory");
    if (tc_release) {
        tc_release();
        return "tcmalloc_release";
    }
    return "none";
}

int main(int argc, char **argv)
{
    double scale = bench_arg(argc, argv, "scale", 1.0);
    size_t total = (size_t)((double)TOTAL * (scale < 1.0 ? scale : 1.0));
    bench_rng_t rng;
    bench_rng_seed(&rng, 11);
    size_t cap = total / 128 + 1024; /* sizes average 136 B: room for every block */
    unsigned char **blocks = bench_xmalloc(cap * sizeof *blocks);
    memset(blocks, 0, cap * sizeof *blocks);
    long rss_base = rss_kb();

    uint64_t ops = 0, check = 0;
    size_t count = 0, bytes = 0;
    bench_timer_t timer = bench_timer_start();
    while (bytes < total && count < cap) {
        size_t size = bench_size_uniform(&rng, LO, HI);
        unsigned char *p = bench_xmalloc(size);
        memset(p, (int)(size & 0xff), size);
        bench_fill(p, size);
        blocks[count++] = p;
        bytes += size;
        ops++;
    }
    long rss_peak = rss_kb();
    for (size_t i = 0; i < count; i++) {
        check += blocks[i][0];
        free(blocks[i]);
        ops++;
    }
    long rss_freed = rss_kb();

    /* Going on allocating a little: 1 MiB live at a time, allocated and freed again. */
    for (unsigned round = 0; round < IDLE_ROUNDS; round++) {
        size_t n = 0, live = 0;
        while (live < IDLE_BYTES && n < cap) {
            size_t size = bench_size_uniform(&rng, LO, HI);
            unsigned char *p = bench_xmalloc(size);
            memset(p, (int)(size & 0xff), size);
            blocks[n++] = p;
            live += size;
            ops++;
        }
        for (size_t i = 0; i < n; i++) {
            check += blocks[i][0];
            free(blocks[i]);
            ops++;
        }
    }
    long rss_idle = rss_kb();
    bench_timer_stop(&timer);

    const char *purge = allocator_purge();
    long rss_purge = rss_kb();
    int (*trim)(size_t) = (int (*)(size_t))dlsym(RTLD_DEFAULT, "malloc_trim");
    int trim_result = trim ? trim(0) : -1;
    long rss_trim = rss_kb();

    char extra[512];
    snprintf(extra, sizeof extra,
             " base_rss_kb=%ld rss_peak_kb=%ld rss_freed_kb=%ld rss_idle_kb=%ld rss_purge_kb=%ld"
             " rss_trim_kb=%ld trim_result=%d purge=%s",
             rss_base, rss_peak, rss_freed, rss_idle, rss_purge, rss_trim, trim_result, purge);
    bench_report("trim", 1, ops, &timer, check, extra);
    free(blocks);
    return 0;
}
