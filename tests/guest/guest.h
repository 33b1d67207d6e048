/*
 * The guest test program shared by every QEMU board. It uses only boards/board.h,
 * include/baremalloc.h and the spinlock/relax hint of port/bm_port.h: no libc.
 *
 * A slow board lowers the work with -D in its ARCH_CFLAGS (e.g. -DGUEST_SMP_OPS=20000).
 */
#ifndef GUEST_H
#define GUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bm_port.h" /* BM_MAX_CORES, the spinlock, the relax hint */
#include "board.h"   /* board_printf and the rest of the board contract */

#ifndef GUEST_SMP_OPS
#define GUEST_SMP_OPS 100000 /* malloc + free calls per core in the SMP stress */
#endif
#ifndef GUEST_SMP_SLOTS
#define GUEST_SMP_SLOTS 64 /* blocks each core keeps live in the SMP stress */
#endif
#ifndef GUEST_MAX_CORES /* cores taking part in the SMP stress; any further ones idle */
#if BM_MAX_CORES < 8
#define GUEST_MAX_CORES BM_MAX_CORES
#else
#define GUEST_MAX_CORES 8
#endif
#endif
#ifndef GUEST_RANDOM_OPS
#define GUEST_RANDOM_OPS 30000 /* operations in the single-core randomized sequence */
#endif
#ifndef GUEST_RANDOM_SLOTS
#define GUEST_RANDOM_SLOTS 256 /* blocks live at once in the randomized sequence */
#endif


/* Expectations. A false one prints where it failed and counts against the running case. */
#define EXPECT(cond) guest_expect((cond), __FILE__, __LINE__, #cond)
bool guest_expect(bool ok, const char *file, int line, const char *what); /* returns ok */
unsigned guest_failure_count(void);

/* The allocator's error hook, replaced by one that counts. Calls outside an
 * expect_allocator_errors() window are failures of their own. */
void guest_install_error_hook(void);
void guest_expect_allocator_errors_begin(void);
/* Ends the window; true if exactly `expected` reports arrived within it. */
bool guest_expect_allocator_errors_end(unsigned expected);
unsigned guest_unexpected_allocator_errors(void);

/* xorshift32: a tiny deterministic generator per core. */
static inline uint32_t guest_random(uint32_t *state) {
    uint32_t x = *state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return *state = x;
}
static inline size_t guest_random_below(uint32_t *state, size_t bound) {
    return bound ? guest_random(state) % bound : 0;
}

/* Block contents. The seed mixes the block's address with a per-allocation tag, so two owners
 * handed the same memory write different patterns. Dense fills every byte; sparse fills the
 * first and last 8 words and every 8th word between (it still catches any overlap of more
 * than 8 words, and keeps the SMP stress fast under TCG). */
uintptr_t guest_pattern_seed(const void *block, uint32_t tag);
void guest_pattern_fill(void *block, size_t size, uintptr_t seed, bool dense);
/* True if intact; otherwise reports the first wrong byte offset through EXPECT. */
bool guest_pattern_check(const void *block, size_t size, uintptr_t seed, bool dense);
bool guest_all_zero(const void *block, size_t size);

/* The heap the board's linker script gives the allocator. */
size_t guest_heap_size(void);

/* Test cases. */
void guest_single_core_cases(void (*run)(const char *name, void (*test)(void)));
void guest_smp_stress(void);

#endif
