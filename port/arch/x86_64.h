/* x86-64 in ring 0: save RFLAGS, clear IF. */
#ifndef BM_ARCH_X86_64_H
#define BM_ARCH_X86_64_H
typedef uint64_t bm_irq_state_t;
static inline bm_irq_state_t bm_port_irq_save(void) {
    bm_irq_state_t flags;
    __asm__ volatile("pushfq\n\tpopq %0\n\tcli" : "=r"(flags)::"memory");
    return flags;
}
static inline void bm_port_irq_restore(bm_irq_state_t flags) {
    __asm__ volatile("pushq %0\n\tpopfq" ::"r"(flags) : "memory", "cc");
}
static inline void bm_port_cpu_relax(void) { __asm__ volatile("pause" ::: "memory"); }
#endif
