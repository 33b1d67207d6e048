/*
 * mps2-an385 start-up: the vector table and the reset handler (the fault report and the stack
 * fix-up: boards/common/cortex_m_fault.c).
 *
 * Reset runs the C library's crt0: newlib's semihosting one (_start from --specs=rdimon.specs),
 * which clears .bss, opens the semihosting console, runs constructors and calls main, or
 * picolibc's (LIBC=picolibc: --crt0=semihost), which also copies .data in place and sets the
 * thread pointer for its thread-local errno. main's return value goes to exit() and becomes
 * QEMU's exit status.
 */
#include <stdint.h>

#include "board.h"
#include "board_local.h"

extern uint32_t __stack[];
void _start(void) __attribute__((noreturn)); /* the C library's crt0 (newlib or picolibc) */

void Reset_Handler(void) __attribute__((noreturn));
void Reset_Handler(void) {
#if defined(__ARM_FP)
    /* Cortex-M4F (mps2-an386): the FPU (CP10, CP11) on before the hard-float libc runs. */
    BOARD_SCB_CPACR |= 0xFu << 20;
    __asm__ volatile("dsb\n\tisb" ::: "memory");
#endif
    _start();
}

/* The test program overrides the handlers it uses; the rest report and fail
 * (boards/common/cortex_m_fault.c). Weak functions that jump there, not aliases: an alias must
 * name a function of this file. */
void board_unexpected_exception(void);
__attribute__((naked)) static void unexpected_exception(void) { __asm__ volatile("b board_unexpected_exception"); }
void NMI_Handler(void) __attribute__((weak, alias("unexpected_exception")));
void HardFault_Handler(void) __attribute__((weak, alias("unexpected_exception")));
void MemManage_Handler(void) __attribute__((weak, alias("unexpected_exception")));
void BusFault_Handler(void) __attribute__((weak, alias("unexpected_exception")));
void UsageFault_Handler(void) __attribute__((weak, alias("unexpected_exception")));
void SVC_Handler(void) __attribute__((weak, alias("unexpected_exception")));
void DebugMon_Handler(void) __attribute__((weak, alias("unexpected_exception")));
void PendSV_Handler(void) __attribute__((weak, alias("unexpected_exception")));
void SysTick_Handler(void) __attribute__((weak, alias("unexpected_exception")));

#define AN385_EXTERNAL_IRQS 32

typedef void (*vector_t)(void);

__attribute__((section(".vectors"), used)) static const vector_t vector_table[16 + AN385_EXTERNAL_IRQS] = {
    [0] = (vector_t)(uintptr_t)__stack,
    [1] = Reset_Handler,
    [2] = NMI_Handler,
    [3] = HardFault_Handler,
    [4] = MemManage_Handler,
    [5] = BusFault_Handler,
    [6] = UsageFault_Handler,
    [11] = SVC_Handler,
    [12] = DebugMon_Handler,
    [14] = PendSV_Handler,
    [15] = SysTick_Handler,
    [16 ... 16 + AN385_EXTERNAL_IRQS - 1] = unexpected_exception,
};
