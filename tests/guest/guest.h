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
#include "cases.h"   /* EXPECT, the block patterns, the shared API cases (tests/common) */

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


/* Failures of EXPECT (tests/common/cases.h) so far. */
unsigned guest_failure_count(void);

/* The allocator's error hook, replaced by one that counts. Calls outside a
 * case_errors_begin/end window (tests/common/cases.h) are failures of their own. */
void guest_install_error_hook(void);
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

/* The heap the board's linker script gives the allocator. */
size_t guest_heap_size(void);

/* Test cases: the shared API cases (api_cases[]) run first, then the SMP stress. */
void guest_smp_stress(void);

#endif
