/*
 * Guest benchmark: one fixed trace of malloc/free, instructions per call.
 *
 * The same deterministic trace (xorshift32, fixed seed; the decisions never depend on what the
 * allocator returns) runs on every board and with every allocator. TRACE_KIND picks it:
 *   0 mixed: TRACE_STEPS steps over 128 slots: a random slot is freed if it holds a block,
 *     else filled with a new block; then every remaining block is freed; sizes 60% 8-128 B,
 *     25% 129-1024 B, 13% 1 KiB-4 KiB, 2% 4 KiB-12 KiB.
 *   1 firmware: 20,000 calls in sawtooth phases of at most 256 live blocks (a phase mallocs
 *     three times in four until 256 are live, the next frees three times in four until none
 *     is), sizes 95% uniform 8-256 B and 5% 257-4096 B.
 *   2 adversarial: every slow path on purpose, 16 rounds of: a burst of 192 blocks of one
 *     small class (refills from an empty arena, new runs), all freed in order, every third by
 *     sized free where the allocator has one (frees into full bins that empty runs), 8 large blocks, a block grown by realloc in small steps (in
 *     place) and then past a page (moving) and shrunk, 16 callocs, 8 memaligns (64 B to
 *     1 KiB), all freed; then exhaustion (1 KiB blocks until malloc fails, every other one
 *     freed, 512 B blocks into the holes until it fails again, all freed) and recovery (a
 *     12 KiB block must then succeed). NULLs during exhaustion are expected, not failures.
 * Every block's first and last byte are written when it is allocated and checked when it is
 * freed (a mismatch counts as a failure).
 * Each malloc and free is timed on its own with the board's instruction counter:
 *   - Cortex-M3 (mps2-an385): SysTick on the processor clock under QEMU -icount shift=7
 *     (3.2 ticks per instruction, docs/shared QEMU notes);
 *   - AArch64 (virt): PMU event counter 0 counting INST_RETIRED (event 0x08), which QEMU
 *     implements (exactly) only under -icount.
 * The counter reads' own cost is measured (two reads back to back) and subtracted, and the
 * counter is checked against straight-line blocks of 100 and 1000 nops before the trace.
 * The count covers the call as the program sees it: argument set-up, call, return.
 *
 * Allocator: BENCH_BM=1 calls bm_malloc/bm_free (AArch64 baremalloc: the board has no libc);
 * otherwise malloc/free (newlib's or picolibc's, or baremalloc through port/newlib.c).
 * BENCH_ALLOCATOR names it in the output; BENCH_CONF sets baremalloc's options string.
 *
 * Output: "guest-bench:" lines parsed by bench/guest/run.py. Exit status 0, or 1 if a malloc
 * failed or the counter calibration is off.
 */
#include <stddef.h>
#include <stdint.h>

#include "board.h"

#ifndef BENCH_ALLOCATOR
#define BENCH_ALLOCATOR "unknown"
#endif
#ifndef TRACE_STEPS
#define TRACE_STEPS 20000u
#endif
#ifndef TRACE_KIND
#define TRACE_KIND 0
#endif
#if TRACE_KIND == 0
#define TRACE_NAME "mixed"
#elif TRACE_KIND == 1
#define TRACE_NAME "firmware"
#else
#define TRACE_NAME "adversarial"
#endif
#ifndef TRACE_SLOTS
#define TRACE_SLOTS (TRACE_KIND == 0 ? 128u : 256u)
#endif
#define SLOTS_MAX 320u /* slots of every kind: 256, or the adversarial burst plus its extras */
#define HIST_BUCKETS 4096u /* exact per-instruction histogram up to 4095, then one bucket */

/* BENCH_CONF: a baremalloc options string for this build (bm_malloc_conf is weak in core). */
#ifdef BENCH_CONF
const char *bm_malloc_conf = BENCH_CONF;
#endif

#if defined(BENCH_INIT) && BENCH_INIT
#include "baremalloc.h" /* bm_init, timed before the first malloc (baremalloc's own variants) */
#endif
#if defined(BENCH_BM) && BENCH_BM
#include "baremalloc.h"
#define BENCH_MALLOC bm_malloc
#define BENCH_FREE bm_free
#define BENCH_REALLOC bm_realloc
#define BENCH_CALLOC bm_calloc
#define BENCH_MEMALIGN bm_memalign
#else
void *malloc(size_t size);
void free(void *ptr);
void *realloc(void *ptr, size_t size);
void *calloc(size_t n, size_t size);
void *memalign(size_t align, size_t size);
#define BENCH_MALLOC malloc
#define BENCH_FREE free
#define BENCH_REALLOC realloc
#define BENCH_CALLOC calloc
#define BENCH_MEMALIGN memalign
#endif
#if (defined(BENCH_INIT) && BENCH_INIT) || (defined(BENCH_BM) && BENCH_BM)
#define BENCH_FREE_SIZED(p, size) bm_free_sized((p), (size))
#else
#define BENCH_FREE_SIZED(p, size) ((void)(size), BENCH_FREE(p)) /* the peers have no sized free */
#endif

/* ---- instruction counter ------------------------------------------------------------- */
#if defined(__aarch64__)
static void counter_start(void) {
    /* Let EL0/EL1 FP/SIMD run (a libc's memcpy/memset may use SIMD registers). */
    uint64_t cpacr;
    __asm__ volatile("mrs %0, cpacr_el1" : "=r"(cpacr));
    __asm__ volatile("msr cpacr_el1, %0\n\tisb" : : "r"(cpacr | (3u << 20)));
    __asm__ volatile("msr pmselr_el0, %0" : : "r"((uint64_t)0));
    __asm__ volatile("msr pmxevtyper_el0, %0" : : "r"((uint64_t)0x08)); /* INST_RETIRED */
    __asm__ volatile("msr pmcntenset_el0, %0" : : "r"((uint64_t)1));
    __asm__ volatile("msr pmcr_el0, %0\n\tisb" : : "r"((uint64_t)3)); /* E, reset event counters */
}
static inline uint32_t counter_read(void) {
    uint64_t value;
    __asm__ volatile("mrs %0, pmevcntr0_el0" : "=r"(value) : : "memory");
    return (uint32_t)value;
}
/* Counter units between two reads -> instructions (before the read overhead is removed). */
static inline uint32_t counter_elapsed(uint32_t before, uint32_t after) { return after - before; }
#define COUNTER_NAME "PMU INST_RETIRED (event 0x08) under -icount"
#define NOP_BLOCK(n) __asm__ volatile(".rept " #n "\n\tnop\n\t.endr" ::: "memory")
#elif defined(__ARM_ARCH_7M__)
#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)
static void counter_start(void) {
    SYST_CSR = 0;
    SYST_RVR = 0x00FFFFFFu;
    SYST_CVR = 0;
    SYST_CSR = (1u << 0) | (1u << 2); /* enable, processor clock, no interrupt */
}
static inline uint32_t counter_read(void) {
    uint32_t value = SYST_CVR;
    __asm__ volatile("" ::: "memory");
    return value;
}
/* 24-bit down-counter, 3.2 ticks per instruction under -icount shift=7: round to nearest. */
static inline uint32_t counter_elapsed(uint32_t before, uint32_t after) {
    uint32_t ticks = (before - after) & 0x00FFFFFFu;
    return (ticks * 5u + 8u) / 16u;
}
#define COUNTER_NAME "SysTick (processor clock) under -icount shift=7, 3.2 ticks/instruction"
#define NOP_BLOCK(n) __asm__ volatile(".rept " #n "\n\tnop.n\n\t.endr" ::: "memory")
#else
#error "bench/guest/trace.c: no instruction counter for this target"
#endif

/* ---- output ---------------------------------------------------------------------------- */
static void put_text(const char *text) {
    while (*text)
        board_putc(*text++);
}

static void put_uint(uint64_t value) {
    char digits[24];
    unsigned n = 0;
    do {
        digits[n++] = (char)('0' + value % 10);
        value /= 10;
    } while (value);
    while (n)
        board_putc(digits[--n]);
}

static void put_field(const char *name, uint64_t value) {
    board_putc(' ');
    put_text(name);
    board_putc('=');
    put_uint(value);
}

/* ---- statistics ----------------------------------------------------------------------- */
typedef struct op_stats {
    uint32_t calls;
    uint64_t total;
    uint32_t max, max_size;
    uint32_t hist[HIST_BUCKETS];
} op_stats_t;

static op_stats_t malloc_stats, free_stats;

/* The same per size band (the trace's four bands), mean and maximum only. */
#define BANDS 4
typedef struct band_stats {
    uint32_t calls;
    uint64_t total;
    uint32_t max;
} band_stats_t;
static band_stats_t malloc_bands[BANDS], free_bands[BANDS];
#if TRACE_KIND == 2
static band_stats_t other_bands[BANDS]; /* realloc, calloc, memalign: not printed */
#endif
static const char *const band_names[BANDS] = {"8-128", "129-1024", "1025-4096", "4097-12288"};

static unsigned band_of(uint32_t size) { return size <= 128 ? 0 : size <= 1024 ? 1 : size <= 4096 ? 2 : 3; }

static void band_add(band_stats_t *bands, uint32_t instructions, uint32_t size) {
    band_stats_t *band = &bands[band_of(size)];
    band->calls++;
    band->total += instructions;
    band->max = instructions > band->max ? instructions : band->max;
}

static void bands_print(const char *op, const band_stats_t *bands) {
    for (unsigned i = 0; i < BANDS; i++) {
        put_text("guest-bench: board=");
        put_text(board_name());
        put_text(" allocator=" BENCH_ALLOCATOR " op=");
        put_text(op);
        put_text(" band=");
        put_text(band_names[i]);
        put_field("calls", bands[i].calls);
        put_field("mean_x100", bands[i].calls ? (bands[i].total * 100 + bands[i].calls / 2) / bands[i].calls : 0);
        put_field("max", bands[i].max);
        board_putc('\n');
    }
}

static void stats_add(op_stats_t *stats, uint32_t instructions, uint32_t size) {
    stats->calls++;
    stats->total += instructions;
    if (instructions > stats->max || stats->calls == 1) {
        stats->max = instructions;
        stats->max_size = size;
    }
    stats->hist[instructions < HIST_BUCKETS ? instructions : HIST_BUCKETS - 1]++;
}

static uint32_t stats_percentile(const op_stats_t *stats, uint32_t per_10k) {
    uint64_t wanted = ((uint64_t)stats->calls * per_10k + 9999) / 10000;
    uint64_t seen = 0;
    for (uint32_t i = 0; i < HIST_BUCKETS; i++) {
        seen += stats->hist[i];
        if (seen >= wanted && wanted)
            return i;
    }
    return HIST_BUCKETS - 1;
}

static void stats_print(const char *op, const op_stats_t *stats) {
    put_text("guest-bench: board=");
    put_text(board_name());
    put_text(" allocator=" BENCH_ALLOCATOR " op=");
    put_text(op);
    put_field("calls", stats->calls);
    /* mean in hundredths of an instruction, rounded */
    put_field("mean_x100", stats->calls ? (stats->total * 100 + stats->calls / 2) / stats->calls : 0);
    put_field("p50", stats_percentile(stats, 5000));
    put_field("p99", stats_percentile(stats, 9900));
    put_field("p999", stats_percentile(stats, 9990));
    put_field("max", stats->max);
    put_field("max_size", stats->max_size);
    board_putc('\n');
}

/* ---- the trace -------------------------------------------------------------------------- */
static uint32_t xorshift32(uint32_t *state) {
    uint32_t x = *state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return *state = x;
}

static uint8_t *slots[SLOTS_MAX];
static uint32_t slot_sizes[SLOTS_MAX];
static uint32_t read_overhead;
static uint32_t corruptions; /* a block's first or last byte changed while it was live */

static uint32_t measure_read_overhead(void) {
    uint32_t best = UINT32_MAX;
    for (int i = 0; i < 8; i++) {
        uint32_t before = counter_read();
        uint32_t after = counter_read();
        uint32_t elapsed = counter_elapsed(before, after);
        best = elapsed < best ? elapsed : best;
    }
    return best;
}

static uint32_t timed_nops_0(void) {
    uint32_t before = counter_read();
    uint32_t after = counter_read();
    return counter_elapsed(before, after);
}
static uint32_t timed_nops_100(void) {
    uint32_t before = counter_read();
    NOP_BLOCK(100);
    uint32_t after = counter_read();
    return counter_elapsed(before, after);
}
static uint32_t timed_nops_1000(void) {
    uint32_t before = counter_read();
    NOP_BLOCK(1000);
    uint32_t after = counter_read();
    return counter_elapsed(before, after);
}

/* Each timed call: the counter read just before and just after, its own cost subtracted. */
#define TIMED(stats, bands, size, call)                                           \
    do {                                                                          \
        uint32_t before_ = counter_read();                                        \
        call;                                                                     \
        uint32_t after_ = counter_read();                                         \
        uint32_t elapsed_ = counter_elapsed(before_, after_);                     \
        elapsed_ = elapsed_ > read_overhead ? elapsed_ - read_overhead : 0;       \
        stats_add(&(stats), elapsed_, (size));                                    \
        band_add((bands), elapsed_, (size));                                      \
    } while (0)

/* The block now in slot: its first and last byte written, as a program would. */
static void slot_fill(uint32_t slot, uint8_t *block, uint32_t size) {
    block[0] = (uint8_t)slot;
    block[size - 1] = (uint8_t)size;
    slots[slot] = block;
    slot_sizes[slot] = size;
}

static void slot_check(uint32_t slot) {
    const uint8_t *block = slots[slot];
    uint32_t size = slot_sizes[slot];
    if (block[0] != (uint8_t)slot || block[size - 1] != (uint8_t)size)
        corruptions++;
}

/* A malloc into an empty slot; a NULL counts in *failures (NULL: expected, not counted). */
static int timed_malloc(uint32_t slot, uint32_t size, uint32_t *failures) {
    uint8_t *block;
    TIMED(malloc_stats, malloc_bands, size, block = BENCH_MALLOC(size));
    if (block == NULL) {
        if (failures)
            (*failures)++;
        return 0;
    }
    slot_fill(slot, block, size);
    return 1;
}

static void timed_free(uint32_t slot) {
    uint8_t *block = slots[slot];
    slot_check(slot);
    TIMED(free_stats, free_bands, slot_sizes[slot], BENCH_FREE(block));
    slots[slot] = NULL;
}

#if TRACE_KIND == 2
/* baremalloc: bm_free_sized (the peers: free), with the size asked for. */
static void timed_free_sized(uint32_t slot) {
    uint8_t *block = slots[slot];
    slot_check(slot);
    TIMED(free_stats, free_bands, slot_sizes[slot], BENCH_FREE_SIZED(block, slot_sizes[slot]));
    slots[slot] = NULL;
}
#endif

static void free_all_slots(void) {
    for (uint32_t slot = 0; slot < SLOTS_MAX; slot++)
        if (slots[slot] != NULL)
            timed_free(slot);
}

#if TRACE_KIND == 0
static uint32_t trace_size(uint32_t *random) {
    uint32_t kind = xorshift32(random) % 100, r = xorshift32(random);
    if (kind < 60)
        return 8 + r % 121; /* 8..128 */
    if (kind < 85)
        return 129 + r % 896; /* 129..1024 */
    if (kind < 98)
        return 1025 + r % 3072; /* 1025..4096 */
    return 4097 + r % 8192; /* 4097..12288 */
}

static void run_trace(uint32_t *failures) {
    uint32_t random = 0x2545F491u;
    for (uint32_t step = 0; step < TRACE_STEPS; step++) {
        uint32_t slot = xorshift32(&random) % TRACE_SLOTS;
        if (slots[slot] != NULL)
            timed_free(slot);
        else
            timed_malloc(slot, trace_size(&random), failures);
    }
    free_all_slots();
}
#elif TRACE_KIND == 1
static uint32_t trace_size(uint32_t *random) {
    uint32_t kind = xorshift32(random) % 100, r = xorshift32(random);
    return kind < 95 ? 8 + r % 249 : 257 + r % 3840; /* 8..256, 257..4096 */
}

static void run_trace(uint32_t *failures) {
    uint32_t random = 0x2545F491u, live = 0;
    int filling = 1;
    for (uint32_t calls = 0; calls < TRACE_STEPS; calls++) {
        if (live == TRACE_SLOTS)
            filling = 0;
        else if (live == 0)
            filling = 1;
        uint32_t roll = xorshift32(&random) % 4;
        int do_malloc = live == 0 || (live < TRACE_SLOTS && (filling ? roll != 0 : roll == 0));
        /* a random slot of the wanted state, found by walking from a random start */
        uint32_t slot = xorshift32(&random) % TRACE_SLOTS;
        while ((slots[slot] == NULL) != do_malloc)
            slot = (slot + 1) % TRACE_SLOTS;
        if (do_malloc) {
            live += (uint32_t)timed_malloc(slot, trace_size(&random), failures);
        } else {
            timed_free(slot);
            live--;
        }
    }
    free_all_slots();
}
#else
static op_stats_t realloc_stats, calloc_stats, aligned_stats, exhaust_stats, huge_stats;

/* Blocks of size into slots first, first + step, ... below end until malloc fails, timed as
 * op=malloc_exhaustion (a NULL is expected here); returns the slot index where it stopped. */
static uint32_t exhaust(uint32_t first, uint32_t step, uint32_t end, uint32_t size) {
    uint32_t slot = first;
    for (; slot < end; slot += step) {
        uint8_t *block;
        TIMED(exhaust_stats, other_bands, size, block = BENCH_MALLOC(size));
        if (!block)
            break;
        slot_fill(slot, block, size);
    }
    return slot;
}

static void run_trace(uint32_t *failures) {
    uint32_t random = 0x2545F491u;
    for (uint32_t round = 0; round < 16; round++) {
        /* a burst of one small class (8..256 B by round), freed in allocation order */
        uint32_t small = 8 + round * 16;
        for (uint32_t i = 0; i < 192; i++)
            timed_malloc(i, small, failures);
        for (uint32_t i = 0; i < 192; i++)
            if (slots[i] && i % 3 == 2)
                timed_free_sized(i);
            else if (slots[i])
                timed_free(i);
        /* a huge block (its chunk comes from the pool, or from an arena that gives back a free
         * one) freed at once: its chunk goes back to the pool, so the large blocks below may
         * need an arena to take a chunk from the pool and set it up */
        {
            uint32_t size = 16384 + xorshift32(&random) % 4096;
            uint8_t *huge;
            TIMED(huge_stats, other_bands, size, huge = BENCH_MALLOC(size));
            if (!huge) {
                (*failures)++;
            } else {
                slot_fill(199, huge, size);
                timed_free(199);
            }
        }
        /* large blocks */
        for (uint32_t i = 0; i < 8; i++)
            timed_malloc(200 + i, 1024 + xorshift32(&random) % 7168, failures);
        /* realloc: small steps (in place where the allocator can), then past a page, shrunk */
        uint32_t size = 24;
        uint8_t *block;
        TIMED(malloc_stats, malloc_bands, size, block = BENCH_MALLOC(size));
        if (!block) {
            (*failures)++;
        } else {
            slot_fill(210, block, size);
            static const uint32_t steps[] = {40, 56, 100, 200, 240, 700, 1500, 3000, 6000, 900, 60};
            for (uint32_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
                uint8_t *moved;
                slot_check(210);
                TIMED(realloc_stats, other_bands, steps[i], moved = BENCH_REALLOC(slots[210], steps[i]));
                if (!moved) {
                    (*failures)++;
                    break;
                }
                uint32_t keep = slot_sizes[210] < steps[i] ? slot_sizes[210] : steps[i];
                if (moved[0] != 210u % 256u || (keep == slot_sizes[210] && moved[keep - 1] != (uint8_t)keep))
                    corruptions++; /* the contents must survive the move */
                slot_fill(210, moved, steps[i]);
            }
        }
        /* callocs: every byte must read zero */
        for (uint32_t i = 0; i < 16; i++) {
            uint32_t n = 1 + xorshift32(&random) % 16, each = 4 + xorshift32(&random) % 60;
            uint8_t *zeroed;
            TIMED(calloc_stats, other_bands, n * each, zeroed = BENCH_CALLOC(n, each));
            if (!zeroed) {
                (*failures)++;
                continue;
            }
            for (uint32_t b = 0; b < n * each; b++)
                corruptions += zeroed[b] != 0;
            slot_fill(220 + i, zeroed, n * each);
        }
        /* aligned blocks, 64 B to 1 KiB */
        for (uint32_t i = 0; i < 8; i++) {
            uint32_t align = 64u << (i % 5), bytes = 16 + xorshift32(&random) % 2000;
            uint8_t *aligned;
            TIMED(aligned_stats, other_bands, bytes, aligned = BENCH_MEMALIGN(align, bytes));
            if (!aligned || ((uintptr_t)aligned & (align - 1))) {
                (*failures)++;
                continue;
            }
            slot_fill(240 + i, aligned, bytes);
        }
        free_all_slots();
    }
    /* exhaustion and recovery: these mallocs are timed apart (op=malloc_exhaustion), since a
     * malloc that fails, or that succeeds only after giving back what the caches and arenas
     * park, does work that grows with the heap */
    uint32_t held = exhaust(0, 1, SLOTS_MAX, 1024);
    for (uint32_t i = 0; i < held; i += 2)
        timed_free(i);
    exhaust(0, 2, held, 512);
    free_all_slots();
    if (!timed_malloc(0, 12288, failures))
        put_text("guest-bench: no recovery: a 12 KiB block failed after exhaustion\n");
    free_all_slots();
}
#endif

static int bench_run(void) {
    counter_start();
    read_overhead = measure_read_overhead();
    /* Straight-line calibration: 0, 100 and 1000 nops must read 0, 100 and 1000 more. */
    uint32_t n0 = timed_nops_0(), n100 = timed_nops_100(), n1000 = timed_nops_1000();
    /* SysTick counts 3.2 ticks per instruction, so a reading rounds to +-1 instruction (seen
     * on the -Os build, where the nop block sits at another alignment): allow that much. */
    int calibration_ok = n100 - n0 - 99u <= 2u && n1000 - n0 - 999u <= 2u;
    put_text("guest-bench: board=");
    put_text(board_name());
    put_text(" counter=\"" COUNTER_NAME "\"");
    put_field("read_overhead", read_overhead);
    put_field("nops0", n0);
    put_field("nops100", n100);
    put_field("nops1000", n1000);
    put_text(calibration_ok ? " calibration=ok\n" : " calibration=BAD\n");

    /* A firmware initialises baremalloc at boot (BENCH_INIT): that is timed and reported on
     * its own. Then the first call (newlib: the first sbrk; baremalloc without BENCH_INIT:
     * bm_init from the board's heap), timed, reported on its own, kept out of the trace. */
    uint32_t init_cost = 0;
#if defined(BENCH_INIT) && BENCH_INIT
    {
        uint32_t t0 = counter_read();
        int err = bm_init(NULL);
        uint32_t t1 = counter_read();
        init_cost = counter_elapsed(t0, t1) - read_overhead;
        if (err)
            put_text("guest-bench: bm_init FAILED\n");
    }
#endif
    uint32_t before = counter_read();
    void *first = BENCH_MALLOC(16);
    uint32_t after = counter_read();
    uint32_t first_malloc = counter_elapsed(before, after) - read_overhead;
    BENCH_FREE(first);

    uint32_t failures = 0;
    run_trace(&failures);

    put_text("guest-bench: board=");
    put_text(board_name());
    put_text(" allocator=" BENCH_ALLOCATOR " op=first_malloc");
    put_field("instructions", first_malloc);
    put_field("failures", failures);
    put_field("init", init_cost);
    put_field("corruptions", corruptions);
    put_text(" trace=" TRACE_NAME);
    board_putc('\n');
    stats_print("malloc", &malloc_stats);
    stats_print("free", &free_stats);
#if TRACE_KIND == 2
    stats_print("realloc", &realloc_stats);
    stats_print("calloc", &calloc_stats);
    stats_print("aligned", &aligned_stats);
    stats_print("malloc_exhaustion", &exhaust_stats);
    stats_print("malloc_huge", &huge_stats);
#endif
    bands_print("malloc", malloc_bands);
    bands_print("free", free_bands);
    int ok = failures == 0 && corruptions == 0 && calibration_ok;
    put_text(ok ? "guest-bench: done ok\n" : "guest-bench: done FAILED\n");
    return ok ? 0 : 1;
}

#if defined(__ARM_ARCH_7M__)
/* mps2-an385: newlib's crt0 calls main; its return value is QEMU's exit status. */
int main(void) { return bench_run(); }
#else
/* virt-aarch64: the board calls guest_main on the boot core. */
int guest_main(void) { return bench_run(); }
#endif
