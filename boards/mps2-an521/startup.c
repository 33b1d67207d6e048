/*
 * mps2-an521 start-up: the two vector tables, both reset handlers and the fault report.
 *
 * CPU0 starts from board_vectors_boot (QEMU's INITSVTOR0 reset value, 0x10000000, where the
 * linker script puts it) and runs newlib's semihosting crt0 (_start from --specs=rdimon.specs),
 * which clears .bss, runs constructors and calls main; main's return value goes to exit() and
 * becomes QEMU's exit status. CPU1 is held in CPUWAIT until board_start_secondaries (board.c)
 * points INITSVTOR1 at board_vectors_smp and releases it: it then starts from that table's
 * reset entry on its own stack, long after .bss was cleared.
 */
#include <stdint.h>
#include <unistd.h>

#include "board.h"
#include "board_local.h"

extern uint32_t __stack[], __core1_stack[];
void _start(void) __attribute__((noreturn)); /* newlib crt0 */
void board_secondary_main(void) __attribute__((noreturn)); /* board.c */

void Reset_Handler(void) __attribute__((noreturn));
/* O(1). CPU0's reset: straight into crt0 (soft float: no FPU to turn on). */
void Reset_Handler(void) { _start(); }

/* O(1). CPU1's reset: SP is already its own (board_vectors_smp[0]); board.c takes over. */
static void __attribute__((noreturn)) core1_reset(void) { board_secondary_main(); }

/*
 * crt0 sets SP from the semihosting HEAPINFO answer, which QEMU derives from the largest RAM
 * (the 16 MiB at 0x80000000), not from our layout. crt0 calls this weak hook right after,
 * before anything is pushed, so it can put SP back on the linker script's stack. O(1).
 */
__attribute__((naked)) void _stack_init(void) {
    __asm__ volatile("movw r0, #:lower16:__stack\n\t"
                     "movt r0, #:upper16:__stack\n\t"
                     "mov sp, r0\n\t"
                     "bx lr\n");
}

/* Prints the core, the exception number, the stacked PC/LR and the fault status registers,
 * then exits with a failure status: a fault inside the allocator must fail the run, not hang
 * it. O(1); unlocked output (the faulting core may hold the console lock). */
void fault_report(const uint32_t *frame, uint32_t ipsr) __attribute__((noreturn, used));
void fault_report(const uint32_t *frame, uint32_t ipsr) {
    board_puts("\n" BOARD_MPS2_NAME ": unexpected exception ");
    board_put_hex(ipsr);
    board_puts(" on core ");
    board_put_hex(BOARD_CPUID);
    board_puts(" pc ");
    board_put_hex(frame[6]);
    board_puts(" lr ");
    board_put_hex(frame[5]);
    board_puts(" cfsr ");
    board_put_hex(BOARD_SCB_CFSR);
    board_puts(" hfsr ");
    board_put_hex(BOARD_SCB_HFSR);
    board_puts(" sfsr ");
    board_put_hex(BOARD_SCB_SFSR);
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
void SecureFault_Handler(void) __attribute__((weak, alias("unexpected_exception")));
void SVC_Handler(void) __attribute__((weak, alias("unexpected_exception")));
void DebugMon_Handler(void) __attribute__((weak, alias("unexpected_exception")));
void PendSV_Handler(void) __attribute__((weak, alias("unexpected_exception")));
void SysTick_Handler(void) __attribute__((weak, alias("unexpected_exception")));

/* 32 SSE-200 interrupts; nothing here enables an external one, so the table stops there.
 * 48 entries: VTOR needs 256-byte alignment (the next power of two), see link.ld. */
#define AN521_TABLE_ENTRIES (16 + 32)

#define EXCEPTIONS(sp, reset, systick)                                                         \
    [0] = (board_vector_t)(uintptr_t)(sp), [1] = (reset), [2] = NMI_Handler,                   \
    [3] = HardFault_Handler, [4] = MemManage_Handler, [5] = BusFault_Handler,                  \
    [6] = UsageFault_Handler, [7] = SecureFault_Handler, [11] = SVC_Handler,                   \
    [12] = DebugMon_Handler, [14] = PendSV_Handler, [15] = (systick),                          \
    [16 ... AN521_TABLE_ENTRIES - 1] = unexpected_exception

__attribute__((section(".vectors"), used)) const board_vector_t board_vectors_boot[AN521_TABLE_ENTRIES] = {
    EXCEPTIONS(__stack, Reset_Handler, SysTick_Handler)};

/* CPU1's table (its initial SP and reset entry), also core 0's during the SMP stress: the
 * SysTick entry is the board's allocating tick, not tests/firmware's handler. */
__attribute__((section(".vectors_smp"), used)) const board_vector_t board_vectors_smp[AN521_TABLE_ENTRIES] = {
    EXCEPTIONS(__core1_stack, core1_reset, board_tick_entry)};
