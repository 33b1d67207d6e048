/* AArch64 at EL1: mask IRQ and FIQ through DAIF. */
#ifndef BM_ARCH_AARCH64_H
#define BM_ARCH_AARCH64_H
typedef uint64_t bm_irq_state_t;
static inline bm_irq_state_t bm_port_irq_save(void) {
    bm_irq_state_t daif;
    __asm__ volatile("mrs %0, daif\n\tmsr daifset, #3" : "=r"(daif)::"memory");
    return daif;
}
static inline void bm_port_irq_restore(bm_irq_state_t daif) {
    __asm__ volatile("msr daif, %0" ::"r"(daif) : "memory");
}
static inline void bm_port_cpu_relax(void) { __asm__ volatile("yield" ::: "memory"); }
#endif
