/*
 * Start-up for QEMU virt, Cortex-A53 at EL1 (no EL2/EL3 in the model, PSCI through hvc).
 *
 * Every core, the boot core included, runs the same path: mask interrupts, put its core id in
 * TPIDR_EL1 (board_core_id reads it back in one instruction), take its own stack, install the
 * exception vectors, and turn on the MMU and caches with the identity map below. Only then is
 * any C code or shared variable touched, so every access the allocator makes is to Normal
 * cacheable memory (exclusives on Device memory are not architecturally guaranteed).
 * Core 0 then clears .bss and runs the program; a secondary, started by PSCI CPU_ON with its
 * core id as the context argument, runs the entry the program handed to
 * board_start_secondaries.
 */
#include "board_local.h"

/* MAIR_EL1 slots used by the descriptors below. */
#define ATTR_DEVICE 0 /* Device-nGnRnE: the UART and the rest of the low 1 GiB of MMIO */
#define ATTR_NORMAL 1 /* Normal, inner/outer write-back read/write-allocate */
#define MAIR_VALUE ((0xff << (8 * ATTR_NORMAL)) | (0x00 << (8 * ATTR_DEVICE)))

/* TCR_EL1: 4 GiB of VA (T0SZ = 32, so the walk starts at level 1 with 4 entries), 4 KiB
 * granule, walks cacheable write-back inner shareable, TTBR1 walks disabled, 32-bit PA. */
#define TCR_VALUE ((32 << 0) | (1 << 8) | (1 << 10) | (3 << 12) | (0 << 14) | (1 << 23))

/* Level-1 block descriptors (1 GiB each): valid block, AttrIndx, AF, EL1 read/write. */
#define BLOCK_VALID 0x1
#define BLOCK_AF (1 << 10)
#define BLOCK_INNER_SHAREABLE (3 << 8)
#define BLOCK_NO_EXEC ((1 << 53) | (1 << 54)) /* PXN | UXN: never fetch from MMIO */
#define BLOCK_NORMAL (BLOCK_VALID | (ATTR_NORMAL << 2) | BLOCK_INNER_SHAREABLE | BLOCK_AF)
#define BLOCK_DEVICE (BLOCK_VALID | (ATTR_DEVICE << 2) | BLOCK_AF | BLOCK_NO_EXEC)

/* SCTLR_EL1: MMU, data cache and instruction cache on; no alignment faults (the allocator's
 * callers may do unaligned accesses), no write-implies-XN, little-endian data. */
#define SCTLR_SET ((1 << 0) | (1 << 2) | (1 << 12))
#define SCTLR_CLEAR ((1 << 1) | (1 << 19) | (1 << 25))

    .section .text.boot, "ax"
    .global _start
_start:
    mov     x0, #0
    /* Core 0 falls through into the path every secondary takes. */

    .global board_secondary_entry
board_secondary_entry:          /* x0 = core id (PSCI CPU_ON context argument) */
    msr     daifset, #0xf
    msr     spsel, #1
    msr     tpidr_el1, x0
    mov     x19, x0
    ldr     x1, =board_stacks
    mov     x2, #BOARD_STACK_SIZE
    madd    x1, x19, x2, x1
    add     sp, x1, x2
    ldr     x1, =board_vectors
    msr     vbar_el1, x1
    isb
    bl      mmu_enable
    cbnz    x19, 2f

    ldr     x1, =__bss_start
    ldr     x2, =__bss_end
1:  cmp     x1, x2
    b.hs    3f
    str     xzr, [x1], #8
    b       1b
3:  bl      board_primary_main      /* does not return */

2:  mov     x0, x19
    bl      board_secondary_main
park:                               /* a secondary whose entry returned */
    wfe
    b       park

/* Identity map with caches on. Leaf routine: uses x1, x2 only. */
mmu_enable:
    ldr     x1, =MAIR_VALUE
    msr     mair_el1, x1
    ldr     x1, =TCR_VALUE
    msr     tcr_el1, x1
    ldr     x1, =board_identity_map
    msr     ttbr0_el1, x1
    isb
    tlbi    vmalle1
    dsb     nsh
    isb
    mrs     x1, sctlr_el1
    ldr     x2, =SCTLR_SET
    orr     x1, x1, x2
    ldr     x2, =SCTLR_CLEAR
    bic     x1, x1, x2
    msr     sctlr_el1, x1
    isb
    ic      iallu
    dsb     nsh
    isb
    ret

/* long board_psci_call(function, arg1, arg2, arg3): SMCCC through the hypervisor conduit. */
    .text
    .global board_psci_call
board_psci_call:
    hvc     #0
    ret

/* Exception vectors: nothing here expects an exception, so each entry reports what happened
 * and exits. The handler gets a fresh stack at the top of the core's own stack, because a
 * stack overflow is a likely cause. */
    .balign 0x800
board_vectors:
    .irp kind, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15
    .balign 0x80
    mov     x0, #\kind
    b       exception_entry
    .endr

exception_entry:
    mrs     x1, esr_el1
    mrs     x2, elr_el1
    mrs     x3, far_el1
    mrs     x4, tpidr_el1
    ldr     x5, =board_stacks
    mov     x6, #BOARD_STACK_SIZE
    madd    x5, x4, x6, x5
    add     sp, x5, x6
    bl      board_exception         /* does not return */
    b       park

/* Read-only and never written after link time: a page-table walk only reads it. */
    .section .rodata.pagetable, "a"
    .balign 4096
board_identity_map:
    .quad   0x00000000 | BLOCK_DEVICE  /* 0-1 GiB: flash, GIC, PL011, virtio MMIO */
    .quad   0x40000000 | BLOCK_NORMAL  /* 1-2 GiB: RAM */
    .quad   0
    .quad   0

    .section .stacks, "aw", %nobits
    .balign 16
board_stacks:
    .space  BOARD_MAX_CORES * BOARD_STACK_SIZE

    .section .note.GNU-stack, "", %progbits
