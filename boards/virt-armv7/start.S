/*
 * Start-up for QEMU virt, Cortex-A15 in SVC mode (no Hyp or Monitor in the model, PSCI
 * through hvc).
 *
 * Every core, the boot core included, runs the same path: mask interrupts, put its core id in
 * TPIDRPRW (board_core_id reads it back in one instruction), take its own stack, install the
 * exception vectors, and turn on the MMU and caches with the identity map below. Only then is
 * any C code or shared variable touched: LDREX/STREX need Normal cacheable memory to give
 * exclusivity between cores. Core 0 then clears .bss and runs the program; a secondary,
 * started by PSCI CPU_ON with its core id as the context argument, runs the entry the program
 * handed to board_start_secondaries.
 */
#include "board_local.h"

    .syntax unified
    .arm
    .arch_extension virt                /* hvc */

#define MODE_FIQ 0x11
#define MODE_IRQ 0x12
#define MODE_SVC 0x13
#define MODE_ABT 0x17
#define MODE_UND 0x1b

/* Short-descriptor 1 MiB sections: full access at PL1 (AP = 0b011), domain 0. */
#define SECTION (0x2 | (3 << 10))
#define SECTION_NORMAL (SECTION | (1 << 12) | (1 << 3) | (1 << 2) | (1 << 16)) /* WB-WA, shareable */
#define SECTION_DEVICE (SECTION | (1 << 2) | (1 << 4)) /* shareable Device, execute-never */

/* TTBR0 walk attributes: inner and outer write-back write-allocate, shareable. */
#define TTBR_WALK_FLAGS ((1 << 6) | (1 << 3) | (1 << 1))

/* SCTLR: MMU, data cache, branch prediction, instruction cache on; no alignment faults, low
 * vectors through VBAR, little-endian, no TEX remap, no access-flag model, ARM exceptions. */
#define SCTLR_SET ((1 << 0) | (1 << 2) | (1 << 11) | (1 << 12))
#define SCTLR_CLEAR ((1 << 1) | (1 << 13) | (1 << 25) | (1 << 28) | (1 << 29) | (1 << 30))

    .section .text.boot, "ax"
    .global _start
_start:
    mov     r0, #0
    /* Core 0 falls through into the path every secondary takes. */

    .global board_secondary_entry
board_secondary_entry:                  /* r0 = core id (PSCI CPU_ON context argument) */
    cpsid   aif, #MODE_SVC
    mcr     p15, 0, r0, c13, c0, 4      /* TPIDRPRW */
    mov     r4, r0
    ldr     r1, =board_stacks
    ldr     r2, =BOARD_STACK_SIZE
    mla     r1, r4, r2, r1
    add     r1, r1, r2
    /* The exception modes only report and exit, so they may reuse the top of the stack. */
    cps     #MODE_ABT
    mov     sp, r1
    cps     #MODE_UND
    mov     sp, r1
    cps     #MODE_IRQ
    mov     sp, r1
    cps     #MODE_FIQ
    mov     sp, r1
    cps     #MODE_SVC
    mov     sp, r1
    ldr     r1, =board_vectors
    mcr     p15, 0, r1, c12, c0, 0      /* VBAR */
    bl      mmu_enable
    cmp     r4, #0
    bne     2f

    ldr     r1, =__bss_start
    ldr     r2, =__bss_end
    mov     r3, #0
1:  cmp     r1, r2
    strlo   r3, [r1], #4
    blo     1b
    bl      board_primary_main          /* does not return */

2:  mov     r0, r4
    bl      board_secondary_main
park:                                   /* a secondary whose entry returned */
    wfe
    b       park

/* Identity map with caches on. Leaf routine: uses r1, r2 only. */
mmu_enable:
    mrc     p15, 0, r1, c1, c0, 1       /* ACTLR.SMP: take part in coherency (real A15) */
    orr     r1, r1, #(1 << 6)
    mcr     p15, 0, r1, c1, c0, 1
    mov     r1, #0
    mcr     p15, 0, r1, c2, c0, 2       /* TTBCR: short descriptors, TTBR0 for all of VA */
    ldr     r1, =board_identity_map + TTBR_WALK_FLAGS
    mcr     p15, 0, r1, c2, c0, 0       /* TTBR0 */
    ldr     r1, =0x55555555
    mcr     p15, 0, r1, c3, c0, 0       /* DACR: every domain is a client (AP bits apply) */
    mov     r1, #0
    mcr     p15, 0, r1, c8, c7, 0       /* TLBIALL */
    mcr     p15, 0, r1, c7, c5, 0       /* ICIALLU */
    mcr     p15, 0, r1, c7, c5, 6       /* BPIALL */
    dsb
    isb
    mrc     p15, 0, r1, c1, c0, 0
    ldr     r2, =SCTLR_SET
    orr     r1, r1, r2
    ldr     r2, =SCTLR_CLEAR
    bic     r1, r1, r2
    mcr     p15, 0, r1, c1, c0, 0
    isb
    bx      lr

    .text
/* long board_psci_call(function, arg1, arg2, arg3): SMCCC through the hypervisor conduit. */
    .global board_psci_call
board_psci_call:
    push    {r4-r7, lr}                 /* SMCCC lets the callee clobber r4-r7 */
    hvc     #0
    pop     {r4-r7, pc}

/* Exception vectors: nothing here expects an exception, so each entry reports what happened
 * and exits, on the exception mode's stack (the top of the core's stack). */
    .balign 32
board_vectors:
    .irp    kind, 0, 1, 2, 3, 4, 5, 6, 7
    b       vector_\kind
    .endr
    .irp    kind, 0, 1, 2, 3, 4, 5, 6, 7
vector_\kind:
    mov     r0, #\kind
    b       exception_entry
    .endr

exception_entry:
    mov     r1, lr
    cmp     r0, #3                      /* prefetch abort: instruction fault registers */
    mrceq   p15, 0, r2, c5, c0, 1       /* IFSR */
    mrceq   p15, 0, r3, c6, c0, 2       /* IFAR */
    mrcne   p15, 0, r2, c5, c0, 0       /* DFSR */
    mrcne   p15, 0, r3, c6, c0, 0       /* DFAR */
    bl      board_exception             /* does not return */
    b       park

/* Read-only and never written after link time: a table walk only reads it. */
    .section .rodata.pagetable, "a"
    .balign 16384
board_identity_map:
    .set    section_index, 0
    .rept   1024                        /* 0-1 GiB: flash, GIC, PL011, virtio MMIO */
    .word   (section_index << 20) | SECTION_DEVICE
    .set    section_index, section_index + 1
    .endr
    .rept   1024                        /* 1-2 GiB: RAM */
    .word   (section_index << 20) | SECTION_NORMAL
    .set    section_index, section_index + 1
    .endr
    .fill   2048, 4, 0                  /* 2-4 GiB: unmapped */

    .section .stacks, "aw", %nobits
    .balign 16
board_stacks:
    .space  BOARD_MAX_CORES * BOARD_STACK_SIZE

    .section .note.GNU-stack, "", %progbits
