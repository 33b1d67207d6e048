/*
 * QEMU virt, AArch64: semihosting exit, exceptions; the PL011 console, the heap's
 * sbrk and PSCI core bring-up are in boards/common/arm_virt.c.
 * start.S has already turned the MMU and caches on for the calling core.
 */
#include <stdbool.h>
#include <stdint.h>

#include "board.h"
#include "board_local.h"

#define SEMIHOSTING_SYS_EXIT 0x18u
#define SEMIHOSTING_APPLICATION_EXIT 0x20026u

#define EXIT_STATUS_BOARD_FAULT 3 /* exception: distinct from test results */

void board_exception(unsigned kind, uint64_t esr, uint64_t elr, uint64_t far)
    __attribute__((noreturn));

void board_exit(int status) {
    /* QEMU keeps only the low 8 bits; never let a failure wrap round to 0. */
    uint64_t code = status == 0 ? 0 : ((status & 0xff) ? (status & 0xff) : 1);
    uint64_t block[2] = {SEMIHOSTING_APPLICATION_EXIT, code};
    register uint64_t x0 __asm__("x0") = SEMIHOSTING_SYS_EXIT;
    register uint64_t *x1 __asm__("x1") = block;
    __asm__ volatile("hlt #0xf000" : "+r"(x0) : "r"(x1) : "memory");
    for (;;) /* only without -semihosting */
        __asm__ volatile("wfe");
}

unsigned board_core_id(void) {
    uint64_t id;
    __asm__("mrs %0, tpidr_el1" : "=r"(id));
    return (unsigned)id;
}

const char *board_name(void) { return "virt-aarch64"; }

void board_exception(unsigned kind, uint64_t esr, uint64_t elr, uint64_t far) {
    /* Unlocked output: the faulting core may hold the program's console lock. */
    board_puts("\n[virt-aarch64] unexpected exception on core ");
    board_put_hex(board_core_id());
    board_puts(": vector ");
    board_put_hex(kind);
    board_puts(" ESR ");
    board_put_hex(esr);
    board_puts(" ELR ");
    board_put_hex(elr);
    board_puts(" FAR ");
    board_put_hex(far);
    board_putc('\n');
    board_exit(EXIT_STATUS_BOARD_FAULT);
}
