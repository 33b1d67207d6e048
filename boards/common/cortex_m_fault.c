/*
 * What every Cortex-M board here (mps2-an385, mps2-an386, mps2-an521) does the same way before
 * and after its tests: put SP back on the linker script's stack when newlib's crt0 moved it,
 * and turn an unexpected exception into a report and a failing exit status. The board's
 * board_local.h gives the System Control Block registers (BOARD_SCB_CFSR, _HFSR, _BFAR; and
 * BOARD_CPUID, BOARD_SCB_SFSR where the core has them) and BOARD_FAULT_STATUS.
 */
#include <stdint.h>
#include <unistd.h>

#include "board.h"
#include "board_local.h"

/*
 * newlib's crt0 sets SP from the semihosting HEAPINFO answer, which QEMU derives from the
 * largest RAM it finds, not from our layout. crt0 calls this weak hook right after, before
 * anything is pushed, so it can put SP back on the linker script's stack. (picolibc's crt0
 * keeps the SP the vector table gave and never calls it.) O(1).
 */
__attribute__((naked)) void _stack_init(void) {
    __asm__ volatile("movw r0, #:lower16:__stack\n\t"
                     "movt r0, #:upper16:__stack\n\t"
                     "mov sp, r0\n\t"
                     "bx lr\n");
}

/* O(1). Prints the exception number (and the core, where there are several), the stacked PC
 * and LR and the fault status registers, then exits with BOARD_FAULT_STATUS: a fault inside the
 * allocator must fail the run, not hang it. Unlocked output (the faulting core may hold the
 * console lock). */
void board_fault_report(const uint32_t *frame, uint32_t ipsr) __attribute__((noreturn, used));
void board_fault_report(const uint32_t *frame, uint32_t ipsr) {
    board_puts("\n" BOARD_MPS2_NAME ": unexpected exception ");
    board_put_hex(ipsr);
#ifdef BOARD_CPUID
    board_puts(" on core ");
    board_put_hex(BOARD_CPUID);
#endif
    board_puts(" pc ");
    board_put_hex(frame[6]);
    board_puts(" lr ");
    board_put_hex(frame[5]);
    board_puts(" cfsr ");
    board_put_hex(BOARD_SCB_CFSR);
    board_puts(" hfsr ");
    board_put_hex(BOARD_SCB_HFSR);
#ifdef BOARD_SCB_SFSR
    board_puts(" sfsr ");
    board_put_hex(BOARD_SCB_SFSR);
#endif
    board_puts(" bfar ");
    board_put_hex(BOARD_SCB_BFAR);
    board_puts("\n");
    _exit(BOARD_FAULT_STATUS); /* straight to semihosting: stdio may be mid-update */
}

/* Finds the exception frame (MSP or PSP, from EXC_RETURN bit 2) and hands it to the report.
 * The vector tables point every exception they do not handle here (startup.c's weak aliases
 * name it by board_unexpected_exception). */
__attribute__((naked)) void board_unexpected_exception(void) {
    __asm__ volatile("tst lr, #4\n\t"
                     "ite eq\n\t"
                     "mrseq r0, msp\n\t"
                     "mrsne r0, psp\n\t"
                     "mrs r1, ipsr\n\t"
                     "b board_fault_report\n");
}
