/*
 * Interrupt safety and masked time on one Cortex-M3.
 *
 * isr_stress_checks: SysTick fires every 6000-11000 instructions at a varying phase; its
 * handler allocates and frees small pattern-filled blocks while main allocates and frees
 * blocks of every kind through both bm_* and the C library's names. PRIMASK masking in the
 * port is what keeps the two from corrupting each other: any overlap shows up as a broken
 * pattern, a fault or a bm_check violation.
 *
 * masked_time_report measures, in instructions, how long the allocator keeps interrupts
 * masked. Under QEMU -icount shift=7 each instruction takes 128 ns and SysTick on the 25 MHz
 * processor clock advances 3.2 ticks per instruction, deterministically (QEMU-NOTES); a board
 * on another clock gives its own ratio (BOARD_SYST_TICKS_PER_INSN_NUM/DEN).
 *   1. Per call, interrupts off: the cost of every allocation and free of a mixed workload
 *      (bm_* and the C library's names, calloc, aligned, sized free). A masked stretch lies
 *      inside its call, so the longest call bounds it from above.
 *   2. Probe, same workload: SysTick pends every 150 instructions and its handler notes how
 *      long ago the interrupt became pending, on CMSDK timer 0 running free on the same clock
 *      (so a stretch masked across several SysTick periods is still timed from the first).
 *      A masked stretch of L instructions is entered less than one period before a pending,
 *      so the longest delay, less the unmasked entry cost, is the longest stretch to within
 *      150 instructions, with the interrupted PC (where that stretch ended).
 *   3. The first bm_malloc creates the core's cache, once: a one-shot SysTick pending early in
 *      it measures that stretch.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "baremalloc.h"
#include "board_local.h"
#include "firmware.h"
#include "realtime_bounds.h"

/* SysTick ticks per instruction, NUM/DEN: 3.2 = 16/5 on a 25 MHz board (mps2-an385); a board
 * on another clock defines both in board_local.h (mps2-an521: 20 MHz, 64/25). */
#ifndef BOARD_SYST_TICKS_PER_INSN_NUM
#define BOARD_SYST_TICKS_PER_INSN_NUM 16u
#define BOARD_SYST_TICKS_PER_INSN_DEN 5u
#endif
/* Ticks to instructions, rounded to nearest. */
static uint32_t instructions_from_ticks(uint32_t ticks) {
    return (ticks * BOARD_SYST_TICKS_PER_INSN_DEN + BOARD_SYST_TICKS_PER_INSN_NUM / 2u) / BOARD_SYST_TICKS_PER_INSN_NUM;
}
static uint32_t ticks_from_instructions(uint32_t instructions) {
    return instructions * BOARD_SYST_TICKS_PER_INSN_NUM / BOARD_SYST_TICKS_PER_INSN_DEN;
}

/* ---------------------------------------------------------------------------------------
 * Pattern-checked blocks, shared by both sides.
 * ------------------------------------------------------------------------------------- */
typedef struct tracked_block {
    uint8_t *data;
    uint32_t size;
    uint8_t seed;
    bool aligned; /* from bm_aligned_alloc: a sized free would not match its class */
} tracked_block_t;

/* The pattern covers the first and last 32 bytes and every 32nd byte between: enough to
 * catch two live blocks overlapping, cheap enough that main spends its time in the allocator
 * (where the interrupts should land) rather than in fill loops. */
static uint32_t pattern_next(uint32_t i, uint32_t size) {
    uint32_t tail_start = size > 32 ? size - 32 : 0;
    if (i + 1 < 32 || i + 1 >= tail_start)
        return i + 1;
    return i + 32 < tail_start ? i + 32 : tail_start;
}

static uint8_t pattern_byte(const tracked_block_t *block, uint32_t i) { return (uint8_t)(block->seed + i * 7u); }

static void fill_pattern(tracked_block_t *block) {
    for (uint32_t i = 0; i < block->size; i = pattern_next(i, block->size))
        block->data[i] = pattern_byte(block, i);
}

static bool pattern_intact(const tracked_block_t *block) {
    for (uint32_t i = 0; i < block->size; i = pattern_next(i, block->size))
        if (block->data[i] != pattern_byte(block, i))
            return false;
    return true;
}

/* ---------------------------------------------------------------------------------------
 * SysTick: one handler for the stress and the probes. Every interrupt records how long it
 * waited after becoming pending; in the stress it also allocates and frees.
 * ------------------------------------------------------------------------------------- */
#define ISR_SLOTS 8
#define ISR_OPS_PER_TICK 3
#define ISR_MAX_SIZE 128
#define ISR_TICKS_WANTED 3000u
/* Stress periods of 20000..36383 ticks (6250..11370 instructions): the handler's own work
 * never starves main, and the varying phase lands interrupts everywhere in main's loop. */
#define STRESS_PERIOD_TICKS 20000u
#define STRESS_SPREAD_MASK 0x3FFFu

typedef struct latency {
    uint32_t samples, pc_at_max;
    int32_t min_ticks, max_ticks; /* signed: the dense probe's estimate may be a tick early */
} latency_t;

typedef enum { PROBE_STRESS, PROBE_ONESHOT, PROBE_DENSE, PROBE_COUNT } probe_mode_t;

static volatile probe_mode_t probe_mode;
static volatile bool isr_allocates;
static volatile uint32_t period_base_ticks, period_spread_mask;
static volatile latency_t latency; /* written by the handler, read by main */

/* Dense probe: SysTick wraps every period ticks from first_wrap on, on timer 0's clock
 * (ticks elapsed since start). */
static struct {
    uint32_t start, period, first_wrap, previous_entry;
} dense;

static uint32_t isr_random = 0x9E3779B9u;

static tracked_block_t isr_blocks[ISR_SLOTS];
static volatile uint32_t isr_ticks, isr_allocations, isr_frees, isr_alloc_failures, isr_broken_patterns;
/* Set while main is inside an allocator call during the stress, to count the interrupts that
 * arrive in the middle of one (between its masked sections). */
static volatile bool main_in_allocator;
static volatile uint32_t isr_inside_main_allocator;
static volatile uint32_t count_ticks, count_inside_allocator; /* PROBE_COUNT */

static void isr_allocate_and_free(void) {
    for (unsigned op = 0; op < ISR_OPS_PER_TICK; op++) {
        uint32_t random = xorshift32(&isr_random);
        tracked_block_t *block = &isr_blocks[random % ISR_SLOTS];
        if (block->data != NULL) {
            if (!pattern_intact(block))
                isr_broken_patterns++;
            bm_free(block->data);
            block->data = NULL;
            isr_frees++;
            continue;
        }
        block->size = 1 + (random >> 8) % ISR_MAX_SIZE;
        block->seed = (uint8_t)(random >> 24);
        block->data = bm_malloc(block->size);
        if (block->data == NULL) {
            isr_alloc_failures++;
            continue;
        }
        fill_pattern(block);
        isr_allocations++;
    }
}

static void latency_record(int32_t since_pending, uint32_t pc) {
    latency.samples++;
    if (since_pending < latency.min_ticks)
        latency.min_ticks = since_pending;
    if (since_pending > latency.max_ticks) {
        latency.max_ticks = since_pending;
        latency.pc_at_max = pc; /* stacked PC: where main resumes, just past the unmask */
    }
}

/* The SysTick wrap that pended this interrupt: the first after the previous handler ran, and
 * not after now (a wrap just before the previous handler read the clock re-pended it). */
static uint32_t dense_pending_wrap(uint32_t now) {
    uint32_t j = 0;
    if (dense.previous_entry >= dense.first_wrap)
        j = (dense.previous_entry - dense.first_wrap) / dense.period + 1;
    uint32_t wrap = dense.first_wrap + j * dense.period;
    while (j > 0 && (int32_t)(wrap - now) > 0) {
        j--;
        wrap -= dense.period;
    }
    return wrap;
}

void systick_service(const uint32_t *frame) __attribute__((used));
void systick_service(const uint32_t *frame) {
    if (probe_mode == PROBE_COUNT) { /* BASEPRI checks: count, never allocate */
        count_ticks++;
#if defined(BM_CORTEX_M_BASEPRI)
        /* Exception entry leaves BASEPRI alone: what it holds now is what the interrupted code
         * held, so a non-zero value means this interrupt arrived inside an allocator section. */
        uint32_t basepri;
        __asm__ volatile("mrs %0, basepri" : "=r"(basepri));
        if (basepri != 0)
            count_inside_allocator++;
#endif
        return;
    }
    if (probe_mode == PROBE_DENSE) {
        uint32_t now = dense.start - BOARD_TIMER0_VALUE;
        latency_record((int32_t)(now - dense_pending_wrap(now)), frame[6]);
        dense.previous_entry = now;
        return;
    }
    /* The counter reloaded from RVR when the interrupt became pending, and RVR still holds
     * the value that reload used (it is rewritten only below). */
    latency_record((int32_t)(BOARD_SYST_RVR - BOARD_SYST_CVR), frame[6]);
    if (probe_mode == PROBE_ONESHOT) {
        BOARD_SYST_CSR = 0;
        return;
    }
    BOARD_SYST_RVR = period_base_ticks + (xorshift32(&isr_random) & period_spread_mask);
    if (!isr_allocates)
        return;
    if (main_in_allocator)
        isr_inside_main_allocator++;
    isr_allocate_and_free();
    isr_ticks++;
}

/* Hands the exception frame (on MSP: main runs in thread mode on MSP) to systick_service. */
__attribute__((naked)) void SysTick_Handler(void) {
    __asm__ volatile("mov r0, sp\n\t"
                     "b systick_service\n");
}

static void systick_stop(void) {
    BOARD_SYST_CSR = 0;
    BOARD_SYST_CVR = 0;
}

static void systick_periodic(uint32_t base_ticks, uint32_t spread_mask, bool allocate) {
    systick_stop();
    latency = (latency_t){.min_ticks = INT32_MAX};
    period_base_ticks = base_ticks;
    period_spread_mask = spread_mask;
    isr_allocates = allocate;
    probe_mode = PROBE_STRESS;
    BOARD_SYST_RVR = base_ticks;
    BOARD_SYST_CVR = 0; /* any write clears the counter; it reloads from RVR on the next tick */
    BOARD_SYST_CSR = BOARD_SYST_CSR_ENABLE | BOARD_SYST_CSR_TICKINT | BOARD_SYST_CSR_CLKSOURCE;
}

/* One interrupt, pending after_ticks from now. The wrap that pends it reloads the maximum,
 * so the handler measures its delay against a count that cannot wrap again meanwhile. */
static void systick_oneshot(uint32_t after_ticks) {
    systick_stop();
    latency = (latency_t){.min_ticks = INT32_MAX};
    isr_allocates = false;
    probe_mode = PROBE_ONESHOT;
    BOARD_SYST_RVR = after_ticks;
    BOARD_SYST_CVR = 0;
    BOARD_SYST_CSR = BOARD_SYST_CSR_ENABLE | BOARD_SYST_CSR_TICKINT | BOARD_SYST_CSR_CLKSOURCE;
    while (BOARD_SYST_CVR == 0) /* the counter has loaded after_ticks */
        ;
    BOARD_SYST_RVR = BOARD_SYST_COUNTER_MASK;
}

/* Interrupt-free clock for timing calls: maximum reload, no TICKINT. Returns the cost of the
 * two counter reads around a call, in instructions, to subtract from every sample. */
static uint32_t systick_free_running(void) {
    systick_stop();
    BOARD_SYST_RVR = BOARD_SYST_COUNTER_MASK;
    BOARD_SYST_CVR = 0;
    BOARD_SYST_CSR = BOARD_SYST_CSR_ENABLE | BOARD_SYST_CSR_CLKSOURCE;
    uint32_t before = BOARD_SYST_CVR;
    uint32_t after = BOARD_SYST_CVR;
    return instructions_from_ticks((before - after) & BOARD_SYST_COUNTER_MASK);
}

/* Ticks from before to after on the free-running 24-bit down-counter (wraps once at most). */
static uint32_t ticks_between(uint32_t before, uint32_t after) { return (before - after) & BOARD_SYST_COUNTER_MASK; }

/* SysTick every period_ticks, timed against timer 0. The first wrap is estimated a little
 * early, so every delay reads a constant few ticks long: the minimum delay absorbs it. */
#define DENSE_FIRST_WRAP_MARGIN 16u

static void probe_dense_start(uint32_t period_ticks) {
    systick_stop();
    latency = (latency_t){.min_ticks = INT32_MAX};
    isr_allocates = false;
    probe_mode = PROBE_DENSE;
    BOARD_TIMER0_CTRL = 0;
    BOARD_TIMER0_RELOAD = UINT32_MAX;
    BOARD_TIMER0_VALUE = UINT32_MAX;
    BOARD_TIMER0_CTRL = BOARD_TIMER_CTRL_ENABLE;
    dense.start = BOARD_TIMER0_VALUE;
    dense.period = period_ticks;
    dense.previous_entry = 0;
    BOARD_SYST_RVR = period_ticks - 1; /* a period is RVR + 1 ticks */
    BOARD_SYST_CVR = 0;
    dense.first_wrap = dense.start - BOARD_TIMER0_VALUE + period_ticks - DENSE_FIRST_WRAP_MARGIN;
    BOARD_SYST_CSR = BOARD_SYST_CSR_ENABLE | BOARD_SYST_CSR_TICKINT | BOARD_SYST_CSR_CLKSOURCE;
}

static void probe_dense_stop(void) {
    systick_stop();
    BOARD_TIMER0_CTRL = 0;
}

/* The dense probe relies on timer 0 and SysTick counting the same clock: both count an
 * interval of about 120000 instructions. */
static bool timer0_runs_with_systick(uint32_t *systick_ticks, uint32_t *timer_ticks) {
    systick_free_running();
    BOARD_TIMER0_CTRL = 0;
    BOARD_TIMER0_RELOAD = UINT32_MAX;
    BOARD_TIMER0_VALUE = UINT32_MAX;
    BOARD_TIMER0_CTRL = BOARD_TIMER_CTRL_ENABLE;
    uint32_t systick_before = BOARD_SYST_CVR, timer_before = BOARD_TIMER0_VALUE;
    for (volatile uint32_t spin = 0; spin < 20000; spin++)
        ;
    uint32_t systick_after = BOARD_SYST_CVR, timer_after = BOARD_TIMER0_VALUE;
    systick_stop();
    BOARD_TIMER0_CTRL = 0;
    *systick_ticks = ticks_between(systick_before, systick_after);
    *timer_ticks = timer_before - timer_after;
    /* The reads land a few ticks apart; a different clock would be off by thousands. */
    return *systick_ticks > 100000 && *timer_ticks + 32 >= *systick_ticks && *timer_ticks <= *systick_ticks + 32;
}

/* ---------------------------------------------------------------------------------------
 * The main side: sizes across all three kinds of the small geometry (small classes up to
 * 224 B, large runs up to 14 KiB, huge spans above), with a budget on live memory so the
 * 256 KiB heap is not the reason an allocation fails. A huge block counts as the whole
 * 16 KiB chunks it occupies.
 * ------------------------------------------------------------------------------------- */
#define MAIN_SLOTS 48
#define MAIN_LIVE_BUDGET (96u * 1024u)
#define SMALL_GEOMETRY_CHUNK (16u * 1024u)
#define SMALL_GEOMETRY_SMALL_MAX 224u
#define LARGEST_LARGE 14336u

static uint32_t footprint(uint32_t size) {
    if (size <= LARGEST_LARGE)
        return size;
    return (size + SMALL_GEOMETRY_CHUNK - 1) / SMALL_GEOMETRY_CHUNK * SMALL_GEOMETRY_CHUNK;
}

/* Measured calls: the instruction count of each allocation or free, per kind of block. */
enum { KIND_SMALL, KIND_LARGE, KIND_HUGE, KINDS };
static const char *const kind_names[KINDS] = {"small", "large", "huge"};

typedef struct call_cost {
    uint32_t calls[KINDS], max[KINDS], max_size[KINDS];
    uint64_t total[KINDS];
} call_cost_t;

/* Entry points, timed apart: calloc's zeroing and the aligned path differ from malloc. */
enum { ENTRY_MALLOC, ENTRY_CALLOC, ENTRY_ALIGNED, ENTRY_FREE, ENTRIES };
static const char *const entry_names[ENTRIES] = {"malloc", "calloc", "aligned", "free"};

static unsigned kind_of(uint32_t size) {
    return size <= SMALL_GEOMETRY_SMALL_MAX ? KIND_SMALL : size <= LARGEST_LARGE ? KIND_LARGE : KIND_HUGE;
}

static uint32_t cost_max(const call_cost_t *cost) {
    uint32_t max = 0;
    for (unsigned kind = 0; kind < KINDS; kind++)
        max = cost->max[kind] > max ? cost->max[kind] : max;
    return max;
}

static uint32_t cost_calls(const call_cost_t *cost) {
    return cost->calls[KIND_SMALL] + cost->calls[KIND_LARGE] + cost->calls[KIND_HUGE];
}

typedef struct workload {
    tracked_block_t blocks[MAIN_SLOTS];
    uint32_t random;
    uint32_t live_bytes;
    uint32_t allocations, frees, alloc_failures, broken_patterns;
    /* Timed mode: every allocation and every free is timed into these. */
    call_cost_t *costs; /* [ENTRIES], or NULL */
    uint32_t read_overhead; /* instructions */
} workload_t;

static uint32_t workload_size(uint32_t random) {
    uint32_t kind = random % 100;
    if (kind < 70)
        return 1 + (random >> 8) % 224;
    if (kind < 95)
        return 225 + (random >> 8) % 4000;
    return 14337 + (random >> 8) % 6000; /* a huge span of two chunks */
}

static void cost_add(const workload_t *w, call_cost_t *cost, uint32_t ticks, uint32_t size) {
    uint32_t instructions = instructions_from_ticks(ticks);
    instructions = instructions > w->read_overhead ? instructions - w->read_overhead : 0;
    unsigned kind = kind_of(size);
    cost->calls[kind]++;
    cost->total[kind] += instructions;
    if (instructions > cost->max[kind]) {
        cost->max[kind] = instructions;
        cost->max_size[kind] = size;
    }
}

/* Every call goes through one of the entry points (bm_*, the C library's names, sized free,
 * aligned), timed when the workload collects costs: the counter reads sit just outside. */
static void release_block(workload_t *w, tracked_block_t *block, unsigned how) {
    if (!pattern_intact(block))
        w->broken_patterns++;
    w->live_bytes -= footprint(block->size);
    main_in_allocator = true;
    uint32_t before = BOARD_SYST_CVR;
    if (how == 1)
        free(block->data); /* the C library's name (core/alloc.c's alias under BM_EXPORT_STD_NAMES) */
    else if (how == 2 && !block->aligned)
        bm_free_sized(block->data, block->size);
    else
        bm_free(block->data);
    uint32_t after = BOARD_SYST_CVR;
    main_in_allocator = false;
    if (w->costs != NULL)
        cost_add(w, &w->costs[ENTRY_FREE], ticks_between(before, after), block->size);
    block->data = NULL;
    w->frees++;
}

static void *allocate(workload_t *w, uint32_t size, unsigned how, bool *aligned) {
    uint8_t *data;
    *aligned = how == 3;
    main_in_allocator = true;
    uint32_t before = BOARD_SYST_CVR;
    if (how == 0)
        data = bm_malloc(size);
    else if (how == 1)
        data = malloc(size); /* the C library's name, likewise */
    else if (how == 2)
        data = calloc(1, size);
    else
        data = bm_aligned_alloc(64, size);
    uint32_t after = BOARD_SYST_CVR;
    main_in_allocator = false;
    if (w->costs != NULL)
        cost_add(w, &w->costs[how == 0 || how == 1 ? ENTRY_MALLOC : how == 2 ? ENTRY_CALLOC : ENTRY_ALIGNED],
                 ticks_between(before, after), size);
    for (uint32_t i = 0; how == 2 && data != NULL && i < size; i = pattern_next(i, size))
        if (data[i] != 0) {
            w->broken_patterns++; /* calloc memory not zero */
            break;
        }
    return data;
}

/* One step: free a random occupied slot or fill an empty one, with a random entry point. */
static void workload_step(workload_t *w) {
    uint32_t random = xorshift32(&w->random);
    tracked_block_t *block = &w->blocks[random % MAIN_SLOTS];
    unsigned how = (random >> 28) % 4;
    if (block->data != NULL) {
        release_block(w, block, how);
        return;
    }
    uint32_t size = workload_size(xorshift32(&w->random));
    if (w->live_bytes + footprint(size) > MAIN_LIVE_BUDGET)
        return;
    block->data = allocate(w, size, how, &block->aligned);
    if (block->data == NULL) {
        if (w->alloc_failures++ < 3)
            printf("allocation of %lu bytes failed with %lu bytes live (huge blocks as whole chunks) in %lu blocks "
                   "(bm_last_error %d)\n",
                   (unsigned long)size, (unsigned long)w->live_bytes,
                   (unsigned long)(w->allocations - w->frees), bm_last_error());
        return;
    }
    block->size = size;
    block->seed = (uint8_t)random;
    fill_pattern(block);
    w->live_bytes += footprint(size);
    w->allocations++;
}

static void workload_drain(workload_t *w) {
    for (unsigned slot = 0; slot < MAIN_SLOTS; slot++)
        if (w->blocks[slot].data != NULL)
            release_block(w, &w->blocks[slot], 0);
}

static void workload_run(workload_t *w, uint32_t seed, uint32_t steps) {
    w->random = seed;
    for (uint32_t step = 0; step < steps; step++)
        workload_step(w);
    workload_drain(w);
}

static bool workload_clean(const workload_t *w, const char *name) {
    if (w->alloc_failures != 0 || w->broken_patterns != 0)
        printf("%s: %lu allocations failed, %lu patterns broken\n", name, (unsigned long)w->alloc_failures,
               (unsigned long)w->broken_patterns);
    return w->alloc_failures == 0 && w->broken_patterns == 0;
}

/* ---------------------------------------------------------------------------------------
 * The checks.
 * ------------------------------------------------------------------------------------- */
static workload_t stress;

void isr_stress_checks(void) {
    stress.random = 0x12345678u;
    systick_periodic(STRESS_PERIOD_TICKS, STRESS_SPREAD_MASK, true);
    /* Bounded so a SysTick that never fires fails the check instead of hanging the run. */
    for (uint32_t steps = 0; isr_ticks < ISR_TICKS_WANTED && steps < 10000000u; steps++)
        workload_step(&stress);
    systick_stop();

    uint32_t isr_leftover = 0;
    for (unsigned slot = 0; slot < ISR_SLOTS; slot++) {
        tracked_block_t *block = &isr_blocks[slot];
        if (block->data == NULL)
            continue;
        if (!pattern_intact(block))
            isr_broken_patterns++;
        bm_free(block->data);
        block->data = NULL;
        isr_leftover++;
    }
    workload_drain(&stress);

    printf("ISR stress: %lu SysTick interrupts made %lu allocations and %lu frees (+%lu at the end); main made "
           "%lu allocations and %lu frees meanwhile; %lu interrupts arrived in the middle of one of main's "
           "allocator calls\n",
           (unsigned long)isr_ticks, (unsigned long)isr_allocations, (unsigned long)isr_frees,
           (unsigned long)isr_leftover, (unsigned long)stress.allocations, (unsigned long)stress.frees,
           (unsigned long)isr_inside_main_allocator);
    printf("ISR stress: handler entered %lu..%lu instructions after SysTick became pending\n",
           (unsigned long)instructions_from_ticks((uint32_t)latency.min_ticks),
           (unsigned long)instructions_from_ticks((uint32_t)latency.max_ticks));
    firmware_check(isr_ticks >= ISR_TICKS_WANTED && isr_allocations >= ISR_TICKS_WANTED,
                   "SysTick handler allocated on every tick while main was allocating");
    firmware_check(isr_inside_main_allocator > 0, "interrupts allocated in the middle of main's allocator calls");
    firmware_check(isr_broken_patterns == 0 && stress.broken_patterns == 0,
                   "no block was overwritten by the other side (patterns intact)");
    if (isr_alloc_failures != 0)
        printf("ISR stress: %lu allocations failed in the handler\n", (unsigned long)isr_alloc_failures);
    firmware_check(isr_alloc_failures == 0 && workload_clean(&stress, "ISR stress, main"),
                   "no allocation failed in the ISR or in main");
    firmware_check(bm_check() == 0, "bm_check is clean after the ISR stress");
}

static void report_cost(const char *name, const call_cost_t *cost) {
    for (unsigned kind = 0; kind < KINDS; kind++)
        printf("  %-9s %-5s %6lu calls, mean %4lu, max %5lu instructions (size %lu)\n", name, kind_names[kind],
               (unsigned long)cost->calls[kind],
               (unsigned long)(cost->calls[kind] ? cost->total[kind] / cost->calls[kind] : 0),
               (unsigned long)cost->max[kind], (unsigned long)cost->max_size[kind]);
}

/* The one-shot pends this long after arming: inside the first bm_malloc's slow path, once
 * its masked section has begun (the fast path before it masks only briefly). */
#define FIRST_MALLOC_PROBE_INSTRUCTIONS 100u

/* The first bm_malloc's masked stretch, for the summary (valid if this firmware initialised). */
static init_cost_t first_call;

#if defined(BM_CORTEX_M_BASEPRI)
/* SysTick's priority (SHPR3 bits 31:24): below the allocator's mask for every check that lets
 * the handler allocate, above it only for basepri_checks. */
#define BOARD_SHPR3 BOARD_REG(0xE000ED20)
#define BOARD_ICSR BOARD_REG(0xE000ED04)
#define BOARD_ICSR_PENDSTSET (1u << 26)
#define SYSTICK_BELOW_MASK 0xC0u
#define SYSTICK_ABOVE_MASK 0x00u
static void systick_priority(uint32_t priority) { BOARD_SHPR3 = (BOARD_SHPR3 & 0x00FFFFFFu) | (priority << 24); }
#endif

init_cost_t measure_initialisation(void) {
#if defined(BM_CORTEX_M_BASEPRI)
    systick_priority(SYSTICK_BELOW_MASK);
#endif
    init_cost_t cost;
    uint32_t read_overhead = systick_free_running();
    uint32_t before_init = BOARD_SYST_CVR;
    cost.status = bm_init(NULL);
    uint32_t after_init = BOARD_SYST_CVR;
    cost.init_instructions = instructions_from_ticks(ticks_between(before_init, after_init)) - read_overhead;

    /* Interrupt entry with nothing masked: the delay to subtract. */
    systick_oneshot(ticks_from_instructions(FIRST_MALLOC_PROBE_INSTRUCTIONS));
    while (latency.samples == 0)
        ;
    int32_t entry_ticks = latency.min_ticks;

    systick_oneshot(ticks_from_instructions(FIRST_MALLOC_PROBE_INSTRUCTIONS));
    void *first = bm_malloc(16);
    while (latency.samples == 0) /* (it has run: the call unmasked before returning) */
        ;
    /* A delay a tick shorter than the unmasked entry is tick-phase jitter: nothing was masked. */
    cost.first_malloc_masked =
        latency.max_ticks > entry_ticks ? instructions_from_ticks((uint32_t)(latency.max_ticks - entry_ticks)) : 0;
    cost.first_malloc_pc = latency.pc_at_max;
    systick_stop();
    bm_free(first);
    first_call = cost;
    return cost;
}

#define MEASURED_SEED 0xC0FFEEu
#define MEASURED_STEPS 40000u
#define DENSE_PERIOD_INSTRUCTIONS 150u

static workload_t timed, probed;

void masked_time_report(void) {
    call_cost_t costs[ENTRIES] = {0};
    timed.costs = costs;
    timed.read_overhead = systick_free_running();
    workload_run(&timed, MEASURED_SEED, MEASURED_STEPS);
    systick_stop();
    printf("per-call cost, interrupts off (-icount shift=7: SysTick %u/%u ticks/instruction; the %lu-instruction "
           "counter read removed); malloc = bm_malloc or the C library's malloc, aligned = bm_aligned_alloc(64), "
           "free = bm_free, the C library's free or bm_free_sized:\n",
           (unsigned)BOARD_SYST_TICKS_PER_INSN_NUM, (unsigned)BOARD_SYST_TICKS_PER_INSN_DEN,
           (unsigned long)timed.read_overhead);
    for (unsigned entry = 0; entry < ENTRIES; entry++)
        report_cost(entry_names[entry], &costs[entry]);
    firmware_check(workload_clean(&timed, "timed workload") && cost_calls(&costs[ENTRY_MALLOC]) > 1000 &&
                       cost_calls(&costs[ENTRY_FREE]) > 1000,
                   "timed workload: every allocation served, patterns intact");

    uint32_t systick_ticks, timer_ticks;
    if (!firmware_check(timer0_runs_with_systick(&systick_ticks, &timer_ticks),
                        "timer 0 and SysTick count the same clock (the probe's premise)"))
        printf("over one interval SysTick counted %lu ticks, timer 0 %lu\n", (unsigned long)systick_ticks,
               (unsigned long)timer_ticks);
    probe_dense_start(ticks_from_instructions(DENSE_PERIOD_INSTRUCTIONS));
    workload_run(&probed, MEASURED_SEED, MEASURED_STEPS);
    probe_dense_stop();
    /* The unmasked entry cost is the shortest delay; anything beyond it was spent masked. */
    uint32_t masked = instructions_from_ticks((uint32_t)(latency.max_ticks - latency.min_ticks));
    printf("interrupt probe: %lu SysTick interrupts, one every %u instructions, during the same workload; the "
           "longest wait beyond the unmasked entry (%lu) was %lu instructions, ending at pc 0x%08lx\n",
           (unsigned long)latency.samples, DENSE_PERIOD_INSTRUCTIONS,
           (unsigned long)instructions_from_ticks((uint32_t)latency.min_ticks), (unsigned long)masked,
           (unsigned long)latency.pc_at_max);
    firmware_check(workload_clean(&probed, "probed workload") && latency.samples > 10000,
                   "probed workload: every allocation served, patterns intact, interrupts sampled");

    /* The stretch began less than a period before the pending, and lies inside one call. */
    uint32_t longest_call = 0;
    for (unsigned entry = 0; entry < ENTRIES; entry++)
        longest_call = cost_max(&costs[entry]) > longest_call ? cost_max(&costs[entry]) : longest_call;
    uint32_t upper = masked + DENSE_PERIOD_INSTRUCTIONS < longest_call ? masked + DENSE_PERIOD_INSTRUCTIONS : longest_call;
    printf("MASKED-TIME: longest stretch with interrupts masked %lu..%lu instructions; longest malloc call %lu, "
           "longest free call %lu instructions",
           (unsigned long)masked, (unsigned long)(upper > masked ? upper : masked),
           (unsigned long)cost_max(&costs[ENTRY_MALLOC]), (unsigned long)cost_max(&costs[ENTRY_FREE]));
    if (first_call.status == 0)
        printf("; once, the first bm_malloc masks >= %lu", (unsigned long)first_call.first_malloc_masked);
    printf("\n");
    /* The real-time profile's promise (docs/REALTIME.md): no call masks interrupts longer than
     * its documented bound, huge blocks and the failed-allocation retry included. */
    bool realtime = false;
    size_t len = sizeof realtime;
    if (bm_ctl("config.realtime", &realtime, &len, NULL, 0) == 0 && realtime) {
        /* Every small and large call within its bound (huge blocks are outside it). */
        static const uint32_t bounds[ENTRIES] = {BM_RT_BOUND_MALLOC, 0, BM_RT_BOUND_MALLOC, BM_RT_BOUND_FREE};
        for (unsigned entry = 0; entry < ENTRIES; entry++)
            for (unsigned kind = 0; kind < KINDS - 1 && bounds[entry]; kind++)
                if (!firmware_check(costs[entry].max[kind] <= bounds[entry], "real-time profile: a call within its documented bound"))
                    printf("%s %s: %lu instructions, bound %lu\n", entry_names[entry], kind_names[kind],
                           (unsigned long)costs[entry].max[kind], (unsigned long)bounds[entry]);
        uint32_t worst = masked > first_call.first_malloc_masked ? masked : first_call.first_malloc_masked;
        if (!firmware_check(worst <= BM_RT_BOUND_MASKED,
                            "real-time profile: interrupts masked no longer than the documented bound"))
            printf("longest masked stretch %lu instructions, bound %u\n", (unsigned long)worst, BM_RT_BOUND_MASKED);
    }
}

#if defined(BM_CORTEX_M_BASEPRI)
#include "bm_port.h" /* the port's own save/restore, to test the mask itself */

static workload_t above_mask;

/* Pends SysTick by software and says whether its handler ran by the time the pipeline has
 * taken any interrupt that is not masked. */
static uint32_t pend_systick_and_count(void) {
    BOARD_ICSR = BOARD_ICSR_PENDSTSET;
    __asm__ volatile("dsb\n\tisb" ::: "memory");
    return count_ticks;
}

/* BASEPRI masking (-DBM_CORTEX_M_BASEPRI=0x80 in this variant): an interrupt at a masked
 * priority waits for the allocator's critical section and runs when it ends; one above the
 * mask runs inside it; and while main allocates and frees, interrupts above the mask keep
 * arriving inside allocator calls (the allocator never falls back to PRIMASK). */
void basepri_checks(void) {
    systick_stop();
    probe_mode = PROBE_COUNT;
    count_ticks = count_inside_allocator = 0;

    systick_priority(SYSTICK_BELOW_MASK);
    bm_irq_state_t irq = bm_port_irq_save();
    uint32_t while_masked = pend_systick_and_count();
    bm_port_irq_restore(irq);
    __asm__ volatile("isb" ::: "memory");
    uint32_t after_restore = count_ticks;
    if (!firmware_check(while_masked == 0 && after_restore == 1,
                        "BASEPRI: an interrupt at the masked priority waits for the critical section, then runs"))
        printf("handler runs: %lu while masked, %lu after\n", (unsigned long)while_masked, (unsigned long)after_restore);

    systick_priority(SYSTICK_ABOVE_MASK);
    irq = bm_port_irq_save();
    uint32_t through = pend_systick_and_count();
    bm_port_irq_restore(irq);
    firmware_check(through == 2, "BASEPRI: an interrupt above the mask runs inside the critical section");

    count_ticks = count_inside_allocator = 0;
    BOARD_SYST_RVR = ticks_from_instructions(400);
    BOARD_SYST_CVR = 0;
    BOARD_SYST_CSR = BOARD_SYST_CSR_ENABLE | BOARD_SYST_CSR_TICKINT | BOARD_SYST_CSR_CLKSOURCE;
    workload_run(&above_mask, 0xBA5E, 4000);
    systick_stop();
    uint32_t ticks = count_ticks, inside = count_inside_allocator;
    systick_priority(SYSTICK_BELOW_MASK);
    probe_mode = PROBE_STRESS;
    printf("BASEPRI 0x%02x: %lu SysTick interrupts above the mask during 4000 workload steps, %lu of them inside an "
           "allocator's masked section\n", (unsigned)(BM_CORTEX_M_BASEPRI), (unsigned long)ticks, (unsigned long)inside);
    firmware_check(workload_clean(&above_mask, "workload under interrupts above the mask") && ticks > 1000 && inside > 100,
                   "BASEPRI: interrupts above the mask keep arriving inside the allocator's masked sections");
}
#endif
