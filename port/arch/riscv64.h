/* RISC-V in M-mode: clear mstatus.MIE (bit 3), restore it as it was. */
#ifndef BM_ARCH_RISCV64_H
#define BM_ARCH_RISCV64_H
/* CSR instructions belong to Zicsr, which -march=rv64imac leaves out under the ISA spec GCC 12
 * defaults to; enabling it here keeps the header independent of how -march is spelled. */
#define BM_RISCV_WITH_ZICSR(insn) ".option push\n\t.option arch, +zicsr\n\t" insn "\n\t.option pop"
typedef unsigned long bm_irq_state_t;
static inline bm_irq_state_t bm_port_irq_save(void) {
    bm_irq_state_t mstatus;
    __asm__ volatile(BM_RISCV_WITH_ZICSR("csrrci %0, mstatus, 8") : "=r"(mstatus)::"memory");
    return mstatus & 8;
}
static inline void bm_port_irq_restore(bm_irq_state_t mie) {
    __asm__ volatile(BM_RISCV_WITH_ZICSR("csrs mstatus, %0") ::"r"(mie) : "memory");
}
static inline void bm_port_cpu_relax(void) { __asm__ volatile("" ::: "memory"); }
#endif
