/* mps2-an385 board constants: the Cortex-M3 system registers (ARMv7-M ARM, B3.2 and B3.3),
 * the one mps2-an385 peripheral this board's code touches, and what the console saw. */
#ifndef BOARD_LOCAL_H
#define BOARD_LOCAL_H

#include <stdbool.h>
#include <stdint.h>

#define BOARD_REG(addr) (*(volatile uint32_t *)(uintptr_t)(addr))

/* mps2-an386 is the same FPGA image with a Cortex-M4F and builds this board's code with
 * these two set (boards/mps2-an386/board.mk). */
#ifndef BOARD_MPS2_NAME
#define BOARD_MPS2_NAME "mps2-an385"
#endif
#ifndef BOARD_CPU_NAME
#define BOARD_CPU_NAME "Cortex-M3"
#endif
#define BOARD_SCB_CPACR BOARD_REG(0xE000ED88)

/* SysTick: a 24-bit down-counter; CLKSOURCE=1 counts the 25 MHz processor clock. */
#define BOARD_SYST_CSR BOARD_REG(0xE000E010)
#define BOARD_SYST_RVR BOARD_REG(0xE000E014)
#define BOARD_SYST_CVR BOARD_REG(0xE000E018)
#define BOARD_SYST_CSR_ENABLE (1u << 0)
#define BOARD_SYST_CSR_TICKINT (1u << 1)
#define BOARD_SYST_CSR_CLKSOURCE (1u << 2)
#define BOARD_SYST_COUNTER_MASK 0x00FFFFFFu

/* CMSDK APB timer 0 of the MPS2 FPGA image: a 32-bit down-counter on the same 25 MHz clock. */
#define BOARD_TIMER0_CTRL BOARD_REG(0x40000000)
#define BOARD_TIMER0_VALUE BOARD_REG(0x40000004)
#define BOARD_TIMER0_RELOAD BOARD_REG(0x40000008)
#define BOARD_TIMER_CTRL_ENABLE (1u << 0)

#define BOARD_SCB_CFSR BOARD_REG(0xE000ED28)
#define BOARD_SCB_HFSR BOARD_REG(0xE000ED2C)
#define BOARD_SCB_BFAR BOARD_REG(0xE000ED38)

/* Exit status of a run that took an unexpected exception (neither pass 0 nor test fail 1). */
#define BOARD_FAULT_STATUS 2

/* What this board's console saw: lets the firmware fold the guest's own tally into its one
 * summary line without tests/guest exporting anything. The numbers of the last line written
 * through board_putc that read exactly "N passed, M failed"; false if there was none. */
bool board_console_summary(unsigned *passed, unsigned *failed);

#endif
