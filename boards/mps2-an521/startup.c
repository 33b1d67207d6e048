/*
 * mps2-an521 start-up: the two vector tables and both reset handlers (the fault report and the
 * stack fix-up: boards/common/cortex_m_fault.c).
 *
 * CPU0 starts from board_vectors_boot (QEMU's INITSVTOR0 reset value, 0x10000000, where the
 * linker script puts it) and runs newlib's semihosting crt0 (_start from --specs=rdimon.specs),
 * which clears .bss, runs constructors and calls main; main's return value goes to exit() and
 * becomes QEMU's exit status. CPU1 is held in CPUWAIT until board_start_secondaries (board.c)
 * points INITSVTOR1 at board_vectors_smp and releases it: it then starts from that table's
 * reset entry on its own stack, long after .bss was cleared.
 */
#include <stdint.h>

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
