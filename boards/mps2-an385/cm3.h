/* The Cortex-M3 system registers (ARMv7-M ARM, B3.2 and B3.3) and the one mps2-an385
 * peripheral this board's code touches. */
#ifndef MPS2_AN385_CM3_H
#define MPS2_AN385_CM3_H

#include <stdint.h>

#define CM3_REG(addr) (*(volatile uint32_t *)(uintptr_t)(addr))

/* SysTick: a 24-bit down-counter; CLKSOURCE=1 counts the 25 MHz processor clock. */
#define SYST_CSR CM3_REG(0xE000E010)
#define SYST_RVR CM3_REG(0xE000E014)
#define SYST_CVR CM3_REG(0xE000E018)
#define SYST_CSR_ENABLE (1u << 0)
#define SYST_CSR_TICKINT (1u << 1)
#define SYST_CSR_CLKSOURCE (1u << 2)
#define SYST_COUNTER_MASK 0x00FFFFFFu

/* CMSDK APB timer 0 of the MPS2 FPGA image: a 32-bit down-counter on the same 25 MHz clock. */
#define TIMER0_CTRL CM3_REG(0x40000000)
#define TIMER0_VALUE CM3_REG(0x40000004)
#define TIMER0_RELOAD CM3_REG(0x40000008)
#define TIMER_CTRL_ENABLE (1u << 0)

#define SCB_CFSR CM3_REG(0xE000ED28)
#define SCB_HFSR CM3_REG(0xE000ED2C)
#define SCB_BFAR CM3_REG(0xE000ED38)

/* Exit status of a run that took an unexpected exception (neither pass 0 nor test fail 1). */
#define BOARD_FAULT_STATUS 2

#endif
