/*
 * Shared helpers for the allocator workloads in bench/.
 *
 * Every workload uses only the standard malloc API, so one binary runs under any allocator
 * through LD_PRELOAD. Each prints one line
 *   RESULT workload=<name> threads=<t> ops=<n> seconds=<wall> cpu_seconds=<cpu> mops=<m>
 *          peak_rss_kb=<k> check=<c> ...
 * for bench/run.py. "ops" counts allocator calls (malloc, realloc, free each count one);
 * mops is ops per wall-clock second, in millions.
 * "check" is a checksum of bytes read back from the blocks just before they are freed: it does
 * not depend on the allocator or on thread interleaving, so a value that differs between
 * allocators means an allocator returned overlapping or corrupted blocks.
 *
 * Arguments are key=value words: scale=<f> multiplies the operation count (the runner's quick
 * mode uses it), threads=<n> where a workload is threaded.
 */
#ifndef BENCH_UTIL_H
#define BENCH_UTIL_H

#define _POSIX_C_SOURCE 200809L

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* xorshift64*: fast, and the same sequence on every allocator and every run. */
typedef struct bench_rng {
    uint64_t state;
} bench_rng_t;

static inline void bench_rng_seed(bench_rng_t *rng, uint64_t seed)
{
    /* splitmix64 step so that small seeds (0, 1, 2 per thread) give unrelated streams */
    uint64_t z = seed + 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    rng->state = z ? z : 1;
}

static inline uint64_t bench_rng_next(bench_rng_t *rng)
{
    uint64_t x = rng->state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    rng->state = x;
    return x * 0x2545f4914f6cdd1dULL;
}

/* Uniform in [0, n) for n < 2^32, without a division. */
static inline uint32_t bench_rng_below(bench_rng_t *rng, uint32_t n)
{
    return (uint32_t)(((bench_rng_next(rng) >> 32) * (uint64_t)n) >> 32);
}

static inline size_t bench_size_uniform(bench_rng_t *rng, size_t lo, size_t hi)
{
    return lo + bench_rng_below(rng, (uint32_t)(hi - lo + 1));
}

/* Log-uniform in [lo, hi] (lo, hi powers of two): each power-of-two band is equally likely,
 * so small blocks dominate by count and large ones by bytes, as in real programs. */
static inline size_t bench_size_log(bench_rng_t *rng, size_t lo, size_t hi)
{
    unsigned lo_bits = 0, hi_bits = 0;
    while (((size_t)1 << lo_bits) < lo)
        lo_bits++;
    while (((size_t)1 << hi_bits) < hi)
        hi_bits++;
    if (hi_bits == lo_bits)
        return lo;
    unsigned band = lo_bits + bench_rng_below(rng, hi_bits - lo_bits);
    size_t base = (size_t)1 << band;
    return base + bench_rng_below(rng, (uint32_t)base);
}

static inline double bench_clock(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Wall time, and the CPU time of the whole process (all threads). For a single-threaded
 * workload the CPU time leaves out time the process spent descheduled, so it is much less
 * disturbed by other load on a shared machine; the runner uses it for those workloads. */
typedef struct bench_timer {
    double wall, cpu;
} bench_timer_t;

static inline bench_timer_t bench_timer_start(void)
{
    bench_timer_t t = {bench_clock(CLOCK_MONOTONIC), bench_clock(CLOCK_PROCESS_CPUTIME_ID)};
    return t;
}

/* Turns the start times into elapsed times. */
static inline void bench_timer_stop(bench_timer_t *t)
{
    t->wall = bench_clock(CLOCK_MONOTONIC) - t->wall;
    t->cpu = bench_clock(CLOCK_PROCESS_CPUTIME_ID) - t->cpu;
}

/* A field of /proc/self/status in kB (VmHWM: peak RSS, VmRSS: current), or -1. */
static inline long bench_status_kb(const char *field)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return -1;
    char line[256];
    long kb = -1;
    size_t len = strlen(field);
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, field, len) == 0 && line[len] == ':') {
            kb = strtol(line + len + 1, NULL, 10);
            break;
        }
    }
    fclose(f);
    return kb;
}

/* Value of key=<value> among the arguments, or fallback. */
static inline double bench_arg(int argc, char **argv, const char *key, double fallback)
{
    size_t len = strlen(key);
    for (int i = 1; i < argc; i++)
        if (strncmp(argv[i], key, len) == 0 && argv[i][len] == '=')
            return strtod(argv[i] + len + 1, NULL);
    return fallback;
}

/* String value of key=<value> among the arguments, or fallback. */
static inline const char *bench_arg_str(int argc, char **argv, const char *key, const char *fallback)
{
    size_t len = strlen(key);
    for (int i = 1; i < argc; i++)
        if (strncmp(argv[i], key, len) == 0 && argv[i][len] == '=')
            return argv[i] + len + 1;
    return fallback;
}

static inline uint64_t bench_scaled(int argc, char **argv, uint64_t base_ops)
{
    double scale = bench_arg(argc, argv, "scale", 1.0);
    uint64_t n = (uint64_t)((double)base_ops * scale);
    return n ? n : 1;
}

/* Marks a block: first and last byte derive from its size, so a reader needs nothing else. */
static inline void bench_fill(void *block, size_t size)
{
    unsigned char *bytes = block;
    bytes[0] = (unsigned char)size;
    bytes[size - 1] = (unsigned char)(size >> 8);
}

/* Reads the marks back (the checksum contribution of one block). A block whose marks were
 * overwritten by another block's marks changes the run's checksum. */
static inline uint64_t bench_read(const void *block, size_t size)
{
    const unsigned char *bytes = block;
    return (uint64_t)bytes[0] * 3u + bytes[size - 1];
}

static inline void *bench_xmalloc(size_t size)
{
    void *p = malloc(size);
    if (!p) {
        fprintf(stderr, "bench: malloc(%zu) failed\n", size);
        exit(2);
    }
    return p;
}

static inline void *bench_xrealloc(void *old, size_t size)
{
    void *p = realloc(old, size);
    if (!p) {
        fprintf(stderr, "bench: realloc(%zu) failed\n", size);
        exit(2);
    }
    return p;
}

/* timer: stopped; extra: additional " key=value" fields, or "". */
static inline void bench_report(const char *workload, int threads, uint64_t ops,
                                const bench_timer_t *timer, uint64_t check, const char *extra)
{
    printf("RESULT workload=%s threads=%d ops=%llu seconds=%.6f cpu_seconds=%.6f mops=%.3f "
           "peak_rss_kb=%ld check=%llu%s\n",
           workload, threads, (unsigned long long)ops, timer->wall, timer->cpu,
           timer->wall > 0 ? (double)ops / timer->wall / 1e6 : 0.0, bench_status_kb("VmHWM"),
           (unsigned long long)check, extra);
    fflush(stdout);
}

#endif /* BENCH_UTIL_H */
