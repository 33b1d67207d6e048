/* mps2-an521 board constants: the SSE-200 registers this board touches (addresses from QEMU's
 * hw/arm/armsse.c, hw/misc/iotkit-sysctl.c and hw/arm/mps2-tz.c), the Cortex-M33 system
 * registers (ARMv8-M ARM, B11), and what tests/firmware needs from a board. Everything runs in
 * Secure state, so peripherals are reached through their Secure aliases (0x5xxxxxxx). */
#ifndef BOARD_LOCAL_H
#define BOARD_LOCAL_H

#include <stdbool.h>
#include <stdint.h>

#define BOARD_REG(addr) (*(volatile uint32_t *)(uintptr_t)(addr))

#define BOARD_MPS2_NAME "mps2-an521"
#define BOARD_CPU_NAME "2x Cortex-M33"
#define BOARD_CORES 2

/* SSE-200 system control block (Secure only): CPU1's initial Secure VTOR, and CPUWAIT,
 * whose bit n holds CPU n in reset (QEMU resets it to 2: CPU1 waits). */
#define BOARD_SYSCTL_INITSVTOR1 BOARD_REG(0x50021114)
#define BOARD_SYSCTL_CPUWAIT BOARD_REG(0x50021118)
/* CPU_IDENTITY block, private to each CPU: CPUID reads 0 on CPU0 and 1 on CPU1. */
#define BOARD_CPUID BOARD_REG(0x5001F000)

/* SysTick, one per core in its own SCS. QEMU wires no reference clock on the SSE-200, so
 * CLKSOURCE must be 1: the 20 MHz processor clock (mps2-tz.c sysclk_frq). */
#define BOARD_SYST_CSR BOARD_REG(0xE000E010)
#define BOARD_SYST_RVR BOARD_REG(0xE000E014)
#define BOARD_SYST_CVR BOARD_REG(0xE000E018)
#define BOARD_SYST_CSR_ENABLE (1u << 0)
#define BOARD_SYST_CSR_TICKINT (1u << 1)
#define BOARD_SYST_CSR_CLKSOURCE (1u << 2)
#define BOARD_SYST_COUNTER_MASK 0x00FFFFFFu
/* SysTick ticks per instruction under -icount shift=7 (128 ns each) at 20 MHz: 2.56 = 64/25
 * (tests/firmware/isr_stress.c converts with it; mps2-an385's 25 MHz gives 16/5). */
#define BOARD_SYST_TICKS_PER_INSN_NUM 64u
#define BOARD_SYST_TICKS_PER_INSN_DEN 25u

/* CMSDK APB timer 0 of the SSE-200 (Secure alias of 0x40000000), on the same 20 MHz clock. */
#define BOARD_TIMER0_CTRL BOARD_REG(0x50000000)
#define BOARD_TIMER0_VALUE BOARD_REG(0x50000004)
#define BOARD_TIMER0_RELOAD BOARD_REG(0x50000008)
#define BOARD_TIMER_CTRL_ENABLE (1u << 0)

#define BOARD_SCB_ICSR BOARD_REG(0xE000ED04)
/* System handler priorities 12-15 (SysTick in bits 31:24); each CPU has its own SCB. */
#define BOARD_SCB_SHPR3 BOARD_REG(0xE000ED20)
#define BOARD_SCB_ICSR_PENDSTCLR (1u << 25)
#define BOARD_SCB_VTOR BOARD_REG(0xE000ED08)
#define BOARD_SCB_CFSR BOARD_REG(0xE000ED28)
#define BOARD_SCB_HFSR BOARD_REG(0xE000ED2C)
#define BOARD_SCB_BFAR BOARD_REG(0xE000ED38)
#define BOARD_SCB_SFSR BOARD_REG(0xE000EDE4) /* SecureFault status (ARMv8-M Security Extension) */

/* Exit status of a run that took an unexpected exception (neither pass 0 nor test fail 1). */
#define BOARD_FAULT_STATUS 2

/* What this board's console saw: the numbers of the last line written through board_putc
 * that read exactly "N passed, M failed"; false if there was none (tests/firmware folds the
 * guest's tally into its own with it). */
bool board_console_summary(unsigned *passed, unsigned *failed);

/* Vector tables (startup.c): CPU0's reset table, and the one CPU1 starts from, which core 0
 * also uses while both cores run the SMP stress (its SysTick entry is the board's tick). */
typedef void (*board_vector_t)(void);
extern const board_vector_t board_vectors_boot[];
extern const board_vector_t board_vectors_smp[];

/* The per-core SysTick allocation (tick.c). */
void board_tick_start(unsigned core);          /* on the calling core: table + SysTick on */
void board_tick_stop(unsigned core);           /* SysTick off, its blocks freed */
void board_tick_entry(void);                   /* the SysTick vector of board_vectors_smp */
bool board_tick_report(unsigned core);         /* prints the core's counts; true if sound */

#endif
