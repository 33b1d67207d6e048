/* ARMv7-A in a privileged mode: mask IRQ and FIQ through the CPSR I and F bits. */
#ifndef BM_ARCH_ARMV7A_H
#define BM_ARCH_ARMV7A_H
typedef uint32_t bm_irq_state_t;
static inline bm_irq_state_t bm_port_irq_save(void) {
    bm_irq_state_t cpsr;
    __asm__ volatile("mrs %0, cpsr\n\tcpsid if" : "=r"(cpsr)::"memory");
    return cpsr;
}
static inline void bm_port_irq_restore(bm_irq_state_t cpsr) {
    __asm__ volatile("msr cpsr_c, %0" ::"r"(cpsr) : "memory");
}
static inline void bm_port_cpu_relax(void) { __asm__ volatile("yield" ::: "memory"); }
#endif
