/* ARMv7-M / ARMv8-M: PRIMASK masks every configurable-priority exception (SysTick included). */
#ifndef BM_ARCH_ARMV7M_H
#define BM_ARCH_ARMV7M_H
typedef uint32_t bm_irq_state_t;
static inline bm_irq_state_t bm_port_irq_save(void) {
    bm_irq_state_t primask;
    __asm__ volatile("mrs %0, primask\n\tcpsid i" : "=r"(primask)::"memory");
    return primask;
}
static inline void bm_port_irq_restore(bm_irq_state_t primask) {
    __asm__ volatile("msr primask, %0" ::"r"(primask) : "memory");
}
static inline void bm_port_cpu_relax(void) { __asm__ volatile("" ::: "memory"); }
#endif
