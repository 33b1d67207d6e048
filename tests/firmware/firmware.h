/* The mps2-an385 firmware's own checks (libc glue, SysTick ISR stress, masked time). */
#ifndef MPS2_AN385_FIRMWARE_H
#define MPS2_AN385_FIRMWARE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Counts one check and prints a line for it; returns ok. */
bool firmware_check(bool ok, const char *what);

/* True if [block, block + size) lies inside the baremalloc heap. */
bool in_bm_heap(const void *block, size_t size);

/* Small deterministic generator: the run is the same every time under -icount. */
static inline uint32_t xorshift32(uint32_t *state) {
    uint32_t x = *state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return *state = x;
}

/* Times bm_init(NULL) with interrupts off, and how long the first bm_malloc keeps them
 * masked (one SysTick probe); prints nothing. */
typedef struct init_cost {
    int status; /* bm_init's: 0, or BM_EBUSY when something initialised the allocator before */
    uint32_t init_instructions, first_malloc_masked, first_malloc_pc;
} init_cost_t;
init_cost_t measure_initialisation(void);

/* The C library's allocator is baremalloc (newlib, or picolibc): stdio, entry points, errno. */
void libc_glue_checks(void);
void isr_stress_checks(void);
void masked_time_report(void);
void freertos_checks(void); /* the FreeRTOS heap API (port/freertos.c) */
#if defined(BM_CORTEX_M_BASEPRI)
void basepri_checks(void); /* masking by BASEPRI, not PRIMASK (the basepri board variant) */
#endif

#endif
