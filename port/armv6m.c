/*
 * ARMv6-M (Cortex-M0, M0+, M1) has no load/store-exclusive instructions, so GCC turns the
 * core's atomic read-modify-writes (the locks, the one-time initialisation gate, a few
 * counters) into calls to these library functions, which no toolchain library provides for
 * bare metal. On one core, masking interrupts (PRIMASK, as the port does) makes each of them
 * atomic. A multi-core ARMv6-M chip (RP2040) needs its hardware spinlocks instead: not
 * provided, hence the #error. Each: O(1), any context (interrupt handlers included).
 */
#include <stdbool.h>
#include <stdint.h>

#include "bm_arch.h"
#include "bm_port.h"

#if defined(__ARM_ARCH_6M__)
#if BM_MAX_CORES != 1
#error "baremalloc: ARMv6-M atomics by interrupt masking serve one core only (-DBM_MAX_CORES=1)"
#endif

/* The word's old value; the new one is the old plus value (add) or value itself. */
static unsigned int read_modify_write(volatile void *ptr, unsigned int value, bool add) {
    volatile unsigned int *word = ptr;
    bm_irq_state_t irq = bm_port_irq_save();
    unsigned int old = *word;
    *word = add ? old + value : value;
    bm_port_irq_restore(irq);
    return old;
}

unsigned int __atomic_fetch_add_4(volatile void *ptr, unsigned int value, int order) {
    (void)order;
    return read_modify_write(ptr, value, true);
}

unsigned int __atomic_exchange_4(volatile void *ptr, unsigned int value, int order) {
    (void)order;
    return read_modify_write(ptr, value, false);
}

/* On failure *expected receives the value found, as the builtin promises. */
bool __atomic_compare_exchange_4(volatile void *ptr, void *expected, unsigned int desired, bool weak,
                                 int success_order, int failure_order) {
    (void)weak, (void)success_order, (void)failure_order;
    volatile unsigned int *word = ptr;
    unsigned int *want = expected;
    bm_irq_state_t irq = bm_port_irq_save();
    unsigned int old = *word;
    bool swapped = old == *want;
    if (swapped)
        *word = desired;
    bm_port_irq_restore(irq);
    if (!swapped)
        *want = old;
    return swapped;
}
#endif
