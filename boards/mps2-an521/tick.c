/*
 * Allocation from an interrupt on each core while both cores allocate (the guest's SMP
 * stress): each core's own SysTick fires every 5000-8200 instructions (50-100 us of host time
 * in the MTTCG variant) at a varying phase, and its handler frees or allocates a few small
 * pattern-filled blocks, checking each pattern before the free. The port masks interrupts (PRIMASK) around every per-core cache update and
 * lock hold, so the handler may interrupt its own core's allocator calls; a lapse shows up as
 * a broken pattern, a failed allocation, a fault or a bm_check violation. The handler also
 * records how often it interrupted baremalloc's own code (the stacked PC inside core/'s text,
 * linker symbols in link.ld): proof that the interrupts landed inside allocator calls. Then it
 * runs the program's hook, if one was set (board_set_timer_hook, boards/board.h).
 */
#include <stdbool.h>
#include <stdint.h>

#include "baremalloc.h"
#include "board.h"
#include "board_local.h"

#define TICK_SLOTS 8
#define TICK_OPS 3
#define TICK_MAX_SIZE 192
#ifdef BOARD_MTTCG
/* Without -icount SysTick counts host time at 20 MHz: 1000..2023 ticks, 50..100 us. */
#define TICK_PERIOD_TICKS 1000u
#define TICK_SPREAD_MASK 0x3FFu
#else
/* 12800..20991 ticks at 2.56 per instruction under -icount shift=7: 5000..8200 instructions. */
#define TICK_PERIOD_TICKS 12800u
#define TICK_SPREAD_MASK 0x1FFFu
#endif
#if defined(BM_CORTEX_M_BASEPRI)
#define TICK_PRIORITY 0xC0u /* less urgent than the mask (a larger value): masked by it */
#endif
#define TICK_MIN_TICKS 100u /* far fewer than the stress lasts: a core that ticked less is wrong */

extern const char __bm_core_text_start[], __bm_core_text_end[];

struct tick_block {
    uint8_t *data;
    uint32_t size;
    uint8_t seed;
};

struct tick_state {
    _Alignas(32) uint32_t rng;
    unsigned ticks, allocations, frees, failures, broken, inside_allocator;
    struct tick_block slots[TICK_SLOTS];
};

static struct tick_state tick_states[BOARD_CORES];

static void (*tick_hook)(unsigned core); /* the program's, run after each tick's own work */

/* O(1). boards/board.h: hook runs at the end of every later tick, on either core. Thread mode. */
int board_set_timer_hook(void (*hook)(unsigned core)) {
    __atomic_store_n(&tick_hook, hook, __ATOMIC_RELEASE);
    return 1;
}

static uint32_t tick_random(struct tick_state *state) {
    uint32_t x = state->rng;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return state->rng = x;
}

/* O(size). */
static void pattern_fill(const struct tick_block *block) {
    for (uint32_t i = 0; i < block->size; i++)
        block->data[i] = (uint8_t)(block->seed + i * 7u);
}

/* O(size). */
static bool pattern_intact(const struct tick_block *block) {
    for (uint32_t i = 0; i < block->size; i++)
        if (block->data[i] != (uint8_t)(block->seed + i * 7u))
            return false;
    return true;
}

/* O(size). Checks and frees a live block; nothing for an empty slot. */
static void block_release(struct tick_state *state, struct tick_block *block) {
    if (block->data == NULL)
        return;
    if (!pattern_intact(block))
        state->broken++;
    bm_free(block->data);
    block->data = NULL;
    state->frees++;
}

/* The SysTick handler's body: O(TICK_OPS * TICK_MAX_SIZE) plus the allocator calls. Only from
 * the SysTick exception (frame = the interrupted context's stacked registers). */
void board_tick(const uint32_t *frame) __attribute__((used));
void board_tick(const uint32_t *frame) {
    struct tick_state *state = &tick_states[board_core_id() % BOARD_CORES];
    const char *pc = (const char *)(uintptr_t)frame[6];
    state->ticks++;
    if (pc >= __bm_core_text_start && pc < __bm_core_text_end)
        state->inside_allocator++;
    /* The next period, taken at the next reload: the phase against the stress keeps moving. */
    BOARD_SYST_RVR = TICK_PERIOD_TICKS + (tick_random(state) & TICK_SPREAD_MASK);
    for (unsigned op = 0; op < TICK_OPS; op++) {
        struct tick_block *block = &state->slots[tick_random(state) % TICK_SLOTS];
        if (block->data != NULL) {
            block_release(state, block);
            continue;
        }
        block->size = 1 + tick_random(state) % TICK_MAX_SIZE;
        block->seed = (uint8_t)tick_random(state);
        block->data = bm_malloc(block->size);
        if (block->data == NULL) {
            state->failures++;
            continue;
        }
        state->allocations++;
        pattern_fill(block);
    }
    void (*hook)(unsigned) = __atomic_load_n(&tick_hook, __ATOMIC_ACQUIRE);
    if (hook != NULL)
        hook(board_core_id() % BOARD_CORES);
}

/* The vector: hands the stacked frame (MSP or PSP, from EXC_RETURN bit 2) to board_tick, which
 * returns through the EXC_RETURN still in LR. */
__attribute__((naked)) void board_tick_entry(void) {
    __asm__ volatile("tst lr, #4\n\t"
                     "ite eq\n\t"
                     "mrseq r0, msp\n\t"
                     "mrsne r0, psp\n\t"
                     "b board_tick\n");
}

/* O(1). On the calling core: its SysTick vector is board_tick_entry (board_vectors_smp, which
 * CPU1 starts from and core 0 switches to here) and its SysTick starts. core >= BOARD_CORES:
 * nothing. Thread mode only. */
void board_tick_start(unsigned core) {
    if (core >= BOARD_CORES)
        return;
    struct tick_state *state = &tick_states[core];
    state->rng = 0x2545F491u ^ (core * 0x9E3779B9u);
    BOARD_SCB_VTOR = (uint32_t)(uintptr_t)board_vectors_smp;
#if defined(BM_CORTEX_M_BASEPRI)
    /* SysTick resets to priority 0, above any BASEPRI mask: a handler that allocates must sit
     * at or below the allocator's mask, or it could spin on a lock its own core holds. */
    BOARD_SCB_SHPR3 = (BOARD_SCB_SHPR3 & 0x00FFFFFFu) | ((uint32_t)TICK_PRIORITY << 24);
#endif
    __asm__ volatile("dsb\n\tisb" ::: "memory");
    BOARD_SYST_RVR = TICK_PERIOD_TICKS;
    BOARD_SYST_CVR = 0;
    BOARD_SYST_CSR = BOARD_SYST_CSR_ENABLE | BOARD_SYST_CSR_TICKINT | BOARD_SYST_CSR_CLKSOURCE;
}

/* O(TICK_SLOTS * TICK_MAX_SIZE). On the calling core: SysTick off, a pending tick dropped, the
 * handler's live blocks checked and freed; core 0 gets its boot table back (tests/firmware's
 * SysTick handler). core >= BOARD_CORES: nothing. Thread mode only. */
void board_tick_stop(unsigned core) {
    if (core >= BOARD_CORES)
        return;
    BOARD_SYST_CSR = 0;
    BOARD_SCB_ICSR = BOARD_SCB_ICSR_PENDSTCLR;
    __asm__ volatile("dsb\n\tisb" ::: "memory");
    struct tick_state *state = &tick_states[core];
    for (unsigned i = 0; i < TICK_SLOTS; i++)
        block_release(state, &state->slots[i]);
    if (core == 0) {
        BOARD_SCB_VTOR = (uint32_t)(uintptr_t)board_vectors_boot;
        __asm__ volatile("dsb\n\tisb" ::: "memory");
    }
}

/* O(1). Prints the core's counts (after board_tick_stop on that core); true if it ticked
 * often enough, allocated, landed inside allocator code, and saw no failure or broken block.
 * Thread mode. */
bool board_tick_report(unsigned core) {
    if (core >= BOARD_CORES)
        return false;
    const struct tick_state *s = &tick_states[core];
    board_printf("  core %u SysTick: %u interrupts (%u inside baremalloc's code), %u allocations, "
                 "%u frees, %u failed, %u broken patterns\n",
                 core, s->ticks, s->inside_allocator, s->allocations, s->frees, s->failures,
                 s->broken);
    return s->ticks >= TICK_MIN_TICKS && s->allocations > 0 && s->allocations == s->frees &&
           s->inside_allocator > 0 && s->failures == 0 && s->broken == 0;
}
