/* ARMv6-M / ARMv7-M / ARMv8-M. By default PRIMASK masks every configurable-priority exception
 * (SysTick included). With -DBM_CORTEX_M_BASEPRI=<priority> (ARMv7-M and ARMv8-M Mainline
 * only), BASEPRI masks exceptions of that priority value and lower urgency, as an RTOS's
 * critical sections do (FreeRTOS: configMAX_SYSCALL_INTERRUPT_PRIORITY): interrupts more
 * urgent than it keep running through the allocator and must never call it. Save raises the
 * mask (BASEPRI_MAX never lowers it), restore puts the old value back, so sections nest. */
#ifndef BM_ARCH_ARMV7M_H
#define BM_ARCH_ARMV7M_H
typedef uint32_t bm_irq_state_t;
#if defined(BM_CORTEX_M_BASEPRI)
#if defined(__ARM_ARCH_6M__) || defined(__ARM_ARCH_8M_BASE__)
#error "baremalloc: BM_CORTEX_M_BASEPRI needs BASEPRI (ARMv7-M or ARMv8-M Mainline), not this core"
#endif
#if (BM_CORTEX_M_BASEPRI) <= 0 || (BM_CORTEX_M_BASEPRI) > 255
#error "baremalloc: BM_CORTEX_M_BASEPRI must be a priority value 1..255 (0 would mask nothing)"
#endif
static inline bm_irq_state_t bm_port_irq_save(void) {
    bm_irq_state_t basepri;
    __asm__ volatile("mrs %0, basepri\n\tmsr basepri_max, %1" : "=&r"(basepri) : "r"((uint32_t)(BM_CORTEX_M_BASEPRI)) : "memory");
    return basepri;
}
static inline void bm_port_irq_restore(bm_irq_state_t basepri) {
    __asm__ volatile("msr basepri, %0" ::"r"(basepri) : "memory");
}
#else
static inline bm_irq_state_t bm_port_irq_save(void) {
    bm_irq_state_t primask;
    __asm__ volatile("mrs %0, primask\n\tcpsid i" : "=r"(primask)::"memory");
    return primask;
}
static inline void bm_port_irq_restore(bm_irq_state_t primask) {
    __asm__ volatile("msr primask, %0" ::"r"(primask) : "memory");
}
#endif
static inline void bm_port_cpu_relax(void) { __asm__ volatile("" ::: "memory"); }
#endif
