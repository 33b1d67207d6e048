/*
 * QEMU virt, ARMv7-A (Cortex-A15): semihosting exit, exceptions; the PL011 console, the heap's
 * sbrk and PSCI core bring-up are in boards/common/arm_virt.c.
 * start.S has already turned the MMU and caches on for the calling core.
 */
#include <stdbool.h>
#include <stdint.h>

#include "board.h"
#include "board_local.h"

#define SEMIHOSTING_SYS_EXIT_EXTENDED 0x20u
#define SEMIHOSTING_APPLICATION_EXIT 0x20026u

#define EXIT_STATUS_BOARD_FAULT 3 /* exception: distinct from test results */

void board_exception(unsigned kind, uint32_t return_address, uint32_t fault_status,
                     uint32_t fault_address) __attribute__((noreturn));

void board_exit(int status) {
    /* Never let a failure wrap round to 0 in an 8-bit process status. */
    uint32_t code = status == 0 ? 0 : ((status & 0xff) ? (status & 0xff) : 1);
    uint32_t block[2] = {SEMIHOSTING_APPLICATION_EXIT, code};
    register uint32_t r0 __asm__("r0") = SEMIHOSTING_SYS_EXIT_EXTENDED;
    register uint32_t *r1 __asm__("r1") = block;
    __asm__ volatile("svc 0x123456" : "+r"(r0) : "r"(r1) : "memory", "lr");
    for (;;) /* only without -semihosting */
        __asm__ volatile("wfe");
}

unsigned board_core_id(void) {
    uint32_t id;
    __asm__("mrc p15, 0, %0, c13, c0, 4" : "=r"(id)); /* TPIDRPRW, set by start.S */
    return id;
}

const char *board_name(void) { return "virt-armv7"; }

void board_exception(unsigned kind, uint32_t return_address, uint32_t fault_status,
                     uint32_t fault_address) {
    static const char *const names[8] = {"reset", "undefined instruction", "svc",
                                         "prefetch abort", "data abort", "reserved",
                                         "irq", "fiq"};
    /* Unlocked output: the faulting core may hold the program's console lock. */
    board_puts("\n[virt-armv7] unexpected exception on core ");
    board_put_hex(board_core_id());
    board_puts(": ");
    board_puts(names[kind & 7]);
    board_puts(", LR ");
    board_put_hex(return_address);
    board_puts(" FSR ");
    board_put_hex(fault_status);
    board_puts(" FAR ");
    board_put_hex(fault_address);
    board_putc('\n');
    board_exit(EXIT_STATUS_BOARD_FAULT);
}
