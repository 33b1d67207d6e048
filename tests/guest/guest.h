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

/* Test cases: the shared API cases (api_cases[]) run first, then the SMP stress, then the
 * kernel API cases on every core (guest_kernel.c), then guest_smp_finish. */
void guest_smp_stress(void);

/* The SMP cases' cores (guest_smp.c). guest_smp_stress starts the secondaries, once; from then
 * on they serve guest_on_every_core until guest_smp_finish lets them return to the board. */
unsigned guest_active_cores(void); /* cores taking part: 1 on a single-core board */
/* From core 0: runs fn(core id) on every active core at once (core 0's call on the caller) and
 * returns when every call has; meanwhile, and until the next call, the other cores wait with
 * their interrupts masked, so core 0 may check the heap alone between calls. */
void guest_on_every_core(void (*fn)(unsigned id));
/* Inside such an fn, every active core calls it at the same point: core 0 runs fn(arg) while
 * every other core waits with its interrupts masked (no interrupt of theirs allocates: what
 * bm_check needs), then all go on. */
void guest_core0_alone(unsigned id, void (*fn)(void *arg), void *arg);
void guest_smp_finish(void); /* from core 0, after the last guest_on_every_core */

/* Kernel API cases (guest_kernel.c), from core 0 after guest_smp_stress. */
void guest_kernel_objcaches(void);  /* object caches on every core, cross-core frees */
void guest_kernel_add_source(void); /* bm_add_source while the other cores allocate (2+ cores) */
void guest_kernel_nogrow(void);     /* BM_MALLOCX_NOGROW on every core and in its timer, if any */

#endif
