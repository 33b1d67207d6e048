/*
 * mps2-an385 start-up: the vector table, the reset handler and the fault report.
 *
 * Reset runs the C library's crt0: newlib's semihosting one (_start from --specs=rdimon.specs),
 * which clears .bss, opens the semihosting console, runs constructors and calls main, or
 * picolibc's (LIBC=picolibc: --crt0=semihost), which also copies .data in place and sets the
 * thread pointer for its thread-local errno. main's return value goes to exit() and becomes
 * QEMU's exit status.
 */
#include <stdint.h>
#include <unistd.h>

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

/*
 * newlib's crt0 sets SP from the semihosting HEAPINFO answer, which QEMU derives from the
 * largest RAM it finds (the top of the 16 MiB PSRAM), not from our layout. crt0 calls this
 * weak hook right after, before anything is pushed, so it can put SP back on the linker
 * script's stack. (picolibc's crt0 keeps the SP the vector table gave and never calls it.)
 */
__attribute__((naked)) void _stack_init(void) {
    __asm__ volatile("movw r0, #:lower16:__stack\n\t"
                     "movt r0, #:upper16:__stack\n\t"
                     "mov sp, r0\n\t"
                     "bx lr\n");
}

/* Print the exception number, the stacked PC/LR and the fault status registers, then exit
 * with a failure status: a fault inside the allocator must fail the run, not hang it. */
void fault_report(const uint32_t *frame, uint32_t ipsr) __attribute__((noreturn, used));
void fault_report(const uint32_t *frame, uint32_t ipsr) {
    board_puts("\n" BOARD_MPS2_NAME ": unexpected exception ");
    board_put_hex(ipsr);
    board_puts(" pc ");
    board_put_hex(frame[6]);
    board_puts(" lr ");
    board_put_hex(frame[5]);
    board_puts(" cfsr ");
    board_put_hex(BOARD_SCB_CFSR);
    board_puts(" hfsr ");
    board_put_hex(BOARD_SCB_HFSR);
    board_puts(" bfar ");
    board_put_hex(BOARD_SCB_BFAR);
    board_puts("\n");
    _exit(BOARD_FAULT_STATUS); /* straight to semihosting: stdio may be mid-update */
}

/* Finds the exception frame (MSP or PSP, from EXC_RETURN bit 2) and hands it to the C report. */
__attribute__((naked)) static void unexpected_exception(void) {
    __asm__ volatile("tst lr, #4\n\t"
                     "ite eq\n\t"
                     "mrseq r0, msp\n\t"
                     "mrsne r0, psp\n\t"
                     "mrs r1, ipsr\n\t"
                     "b fault_report\n");
}

/* The test program overrides the handlers it uses; the rest report and fail. */
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
