/*
 * virt-riscv64 start-up, M-mode. QEMU (-bios none) starts every hart here at once with
 * a0 = hart id and a1 = the device tree. Hart 0 clears .bss and then runs the board's C code;
 * the others wait, without touching memory they do not own, until .bss is clear (their stacks
 * live there), then check in from C. tp holds the hart id for board_core_id(): nothing else uses
 * it in a program without thread-local storage.
 */
#include "board_local.h"

    .section .text.boot, "ax"
    .globl _start
_start:
    csrw mie, zero
    csrw mstatus, zero /* MIE off: the board runs with interrupts masked */
    la t0, rv_trap_entry
    csrw mtvec, t0
    .option push
    .option norelax /* gp itself must not be computed relative to gp */
    la gp, __global_pointer$
    .option pop
    mv tp, a0
    li t0, BOARD_MAX_CORES
    bgeu a0, t0, rv_park
    addi t0, a0, 1
    slli t0, t0, BOARD_STACK_SHIFT
    la sp, rv_stacks
    add sp, sp, t0 /* top of this hart's stack */
    bnez a0, 2f

    la t0, __bss_start
    la t1, __bss_end
1:  bgeu t0, t1, 1f
    sd zero, 0(t0)
    addi t0, t0, 8
    j 1b
1:  fence rw, rw
    li t0, 1
    la t1, rv_bss_cleared
    sw t0, 0(t1)
    mv a0, a1
    call rv_boot_main
    j rv_park

2:  la t1, rv_bss_cleared
3:  lw t0, 0(t1)
    beqz t0, 3b
    fence r, rw
    mv a0, tp
    call rv_secondary_main

    .globl rv_park
rv_park:
    csrw mie, zero
1:  wfi
    j 1b

/* Every trap is fatal here (interrupts stay masked): report it from C on the current stack. */
    .balign 4
rv_trap_entry:
    csrr a0, mcause
    csrr a1, mepc
    csrr a2, mtval
    call rv_trap
    j rv_park

    .data
    .balign 4
rv_bss_cleared: /* in .data, not .bss: the secondaries read it before .bss is clear */
    .word 0
