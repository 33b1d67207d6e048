/* Hosted (Linux) build: threads own their core slot, so there is nothing to mask. */
#ifndef BM_ARCH_HOST_H
#define BM_ARCH_HOST_H
typedef int bm_irq_state_t;
static inline bm_irq_state_t bm_port_irq_save(void) { return 0; }
static inline void bm_port_irq_restore(bm_irq_state_t state) { (void)state; }
#if defined(__x86_64__) || defined(__i386__)
static inline void bm_port_cpu_relax(void) { __asm__ volatile("pause" ::: "memory"); }
#elif defined(__aarch64__) || defined(__arm__)
static inline void bm_port_cpu_relax(void) { __asm__ volatile("yield" ::: "memory"); }
#else
static inline void bm_port_cpu_relax(void) { __asm__ volatile("" ::: "memory"); }
#endif
#endif
