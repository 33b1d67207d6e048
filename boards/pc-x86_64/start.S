/*
 * pc-x86_64 start-up: multiboot v1 entry (32-bit protected mode), the switch to long mode shared
 * by the boot core and the APs, the real-mode AP trampoline, the interrupt stubs, the GDT and
 * the page tables.
 *
 * Why the image is a 64-bit ELF with an a.out-kludge multiboot header: QEMU's -kernel refuses a
 * 64-bit multiboot ELF, gcc-multilib (for a 32-bit link) is not installable next to the cross
 * compilers, and an objcopy -O elf32-i386 step would need a post-link rule in mk/guest.mk. With
 * flag bit 16 QEMU ignores the ELF headers and loads the file as a flat image from the addresses
 * in the header, so the ELF that mk/guest.mk links boots as is, and gdb still reads it as 64-bit.
 * The 32-bit and 16-bit parts are written here with .code32/.code16 inside the 64-bit object.
 */
#include "board_local.h"

#define MULTIBOOT_MAGIC 0x1BADB002
/* bit 16: a.out kludge (load addresses below); bit 1: memory information */
#define MULTIBOOT_FLAGS 0x00010002

#define CR0_PE (1 << 0)
#define CR0_NW (1 << 29)
#define CR0_CD (1 << 30)
#define CR0_PG (1 << 31)
#define CR4_PAE (1 << 5)
#define MSR_EFER 0xC0000080
#define EFER_LME (1 << 8)

#define PTE_PRESENT 0x01
#define PTE_WRITABLE 0x02
#define PTE_WRITE_THROUGH 0x08
#define PTE_CACHE_DISABLE 0x10
#define PTE_LARGE 0x80
#define PDE_RAM (PTE_PRESENT | PTE_WRITABLE | PTE_LARGE)
#define PDE_MMIO (PDE_RAM | PTE_WRITE_THROUGH | PTE_CACHE_DISABLE)

/* ---------------------------------------------------------------------------------------------
 * Multiboot header: QEMU looks for it in the first 8 KiB of the file; the linker script puts it
 * first. The addresses make QEMU copy [__image_start, __image_load_end) from the file and zero
 * up to __image_bss_end.
 * ------------------------------------------------------------------------------------------- */
    .section .multiboot, "a"
    .balign 4
pc_multiboot_header:
    .long MULTIBOOT_MAGIC
    .long MULTIBOOT_FLAGS
    .long -(MULTIBOOT_MAGIC + MULTIBOOT_FLAGS)
    .long pc_multiboot_header
    .long __image_start
    .long __image_load_end
    .long __image_bss_end
    .long pc_multiboot_entry

/* ---------------------------------------------------------------------------------------------
 * 32-bit protected mode, paging off (boot core from the multiboot loader, APs from the
 * trampoline). No stack is used until long mode.
 * ------------------------------------------------------------------------------------------- */
    .text
    .code32
    .globl pc_multiboot_entry
pc_multiboot_entry:
    cli
    cld
    movl %eax, pc_multiboot_magic /* checked in C: .data is loaded, .bss is not cleared yet */
    movl %ebx, pc_multiboot_info
    /* The loader zeroes .bss too, but clearing it here keeps the board independent of that. */
    movl $__bss_start, %edi
    movl $__bss_end, %ecx
    subl %edi, %ecx
    shrl $2, %ecx
    xorl %eax, %eax
    rep stosl
    xorl %edi, %edi /* %edi = 0: boot core (kept across the mode switch) */
    jmp pc_enter_long_mode

pc_ap_entry32:
    /* The data segments still hold real-mode bases (0x8000): reload them before any access. */
    movw $BOARD_SEL_DATA, %ax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %ss
    movl $1, %edi /* %edi = 1: application processor */

pc_enter_long_mode:
    lgdt pc_gdt_pointer
    movl %cr4, %eax
    orl $CR4_PAE, %eax
    movl %eax, %cr4
    movl $pc_pml4, %eax
    movl %eax, %cr3
    movl $MSR_EFER, %ecx
    rdmsr
    orl $EFER_LME, %eax
    wrmsr
    movl %cr0, %eax
    andl $~(CR0_CD | CR0_NW), %eax /* an AP leaves INIT with caches disabled */
    orl $(CR0_PG | CR0_PE), %eax
    movl %eax, %cr0
    ljmp $BOARD_SEL_CODE64, $pc_long_mode_entry

/* ---------------------------------------------------------------------------------------------
 * 64-bit long mode. The boot core runs on stack 0; each AP takes a ticket that is its dense
 * core id and picks its stack from it. Tickets past BOARD_MAX_CORES (or taken after the boot core
 * closed the count) park the AP for good.
 * ------------------------------------------------------------------------------------------- */
    .code64
pc_long_mode_entry:
    movw $BOARD_SEL_DATA, %ax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %ss
    xorl %eax, %eax
    movw %ax, %fs
    movw %ax, %gs /* the GS base (per-CPU data) is set afterwards through its MSR */
    xorl %ebp, %ebp
    testl %edi, %edi
    jnz 1f
    leaq pc_stacks + BOARD_STACK_SIZE(%rip), %rsp
    call pc_boot_main
    jmp pc_park

1:  movl $1, %eax
    lock xaddl %eax, pc_ap_tickets(%rip)
    cmpl $(BOARD_MAX_CORES - 1), %eax
    jae pc_park
    leal 1(%rax), %edi /* core id: the boot core is 0 */
    leal 1(%rdi), %eax
    shlq $BOARD_STACK_SHIFT, %rax
    leaq pc_stacks(%rip), %rsp
    addq %rax, %rsp /* top of stack [core id] */
    call pc_ap_main

    .globl pc_park
pc_park:
    cli
    hlt
    jmp pc_park

/* ---------------------------------------------------------------------------------------------
 * AP trampoline: copied to BOARD_TRAMPOLINE_ADDR, entered in real mode at CS:IP = 0x0800:0000 by
 * the SIPI. It only switches to protected mode and jumps to pc_ap_entry32 in the image, so the
 * long-mode switch is the same code for every core. Read-only: all APs run it at once.
 * ------------------------------------------------------------------------------------------- */
    .code16
    .globl pc_trampoline_start, pc_trampoline_end
pc_trampoline_start:
    cli
    cld
    movw %cs, %ax
    movw %ax, %ds
    lgdtl pc_trampoline_gdtr - pc_trampoline_start
    movl %cr0, %eax
    orl $CR0_PE, %eax
    movl %eax, %cr0
    ljmpl $BOARD_SEL_CODE32, $pc_ap_entry32
    .balign 8
pc_trampoline_gdtr:
    .word pc_gdt_end - pc_gdt - 1
    .long pc_gdt
pc_trampoline_end:

/* ---------------------------------------------------------------------------------------------
 * Interrupt stubs: 256 of them, 16 bytes apart (pc_isr_stubs + 16 * vector), each pushing a
 * dummy error code where the CPU pushes none, then the vector.
 * ------------------------------------------------------------------------------------------- */
    .code64
    .balign 16
    .globl pc_isr_stubs
pc_isr_stubs:
    .set vector, 0
    .rept 256
    .balign 16
    .if (vector == 8 || (vector >= 10 && vector <= 14) || vector == 17 || vector == 21 || \
         vector == 29 || vector == 30) == 0
    pushq $0
    .endif
    pushq $vector
    jmp pc_isr_common
    .set vector, vector + 1
    .endr

pc_isr_common:
    /* The CPU aligned the stack to 16 before its 5 pushes; with the 2 above and 9 here the call
     * below sees a 16-byte aligned stack. Only caller-saved registers need saving. */
    pushq %rax
    pushq %rcx
    pushq %rdx
    pushq %rsi
    pushq %rdi
    pushq %r8
    pushq %r9
    pushq %r10
    pushq %r11
    movq %rsp, %rdi
    cld
    call pc_interrupt
    popq %r11
    popq %r10
    popq %r9
    popq %r8
    popq %rdi
    popq %rsi
    popq %rdx
    popq %rcx
    popq %rax
    addq $16, %rsp
    iretq

/* ---------------------------------------------------------------------------------------------
 * Data (page-aligned away from .text by the linker script).
 * ------------------------------------------------------------------------------------------- */
    .data
    .balign 4
    .globl pc_multiboot_magic, pc_multiboot_info
pc_multiboot_magic:
    .long 0
pc_multiboot_info:
    .long 0

    /* Accessed bits preset, so the CPU never writes to the table when it loads a selector. */
    .balign 16
pc_gdt:
    .quad 0
    .quad 0x00AF9B000000FFFF /* BOARD_SEL_CODE64: long mode code */
    .quad 0x00CF93000000FFFF /* BOARD_SEL_DATA: flat data */
    .quad 0x00CF9B000000FFFF /* BOARD_SEL_CODE32: flat 32-bit code, for the trampoline's hop */
pc_gdt_end:
    .balign 8
    .word 0
pc_gdt_pointer: /* limit + base; lgdt in 32-bit mode reads the low 4 bytes of the base */
    .word pc_gdt_end - pc_gdt - 1
    .quad pc_gdt

    /* Identity map of the first 4 GiB with 2 MiB pages: RAM below 3 GiB write-back, the top GiB
     * (local APIC, I/O APIC, other MMIO) uncached. Static, so no code has to build it. */
    .balign 4096
    .globl pc_pml4
pc_pml4:
    .quad pc_pdpt + PTE_PRESENT + PTE_WRITABLE
    .fill 511, 8, 0
pc_pdpt:
    .quad pc_pd + 0x0000 + PTE_PRESENT + PTE_WRITABLE
    .quad pc_pd + 0x1000 + PTE_PRESENT + PTE_WRITABLE
    .quad pc_pd + 0x2000 + PTE_PRESENT + PTE_WRITABLE
    .quad pc_pd + 0x3000 + PTE_PRESENT + PTE_WRITABLE
    .fill 508, 8, 0
pc_pd:
    .set address, 0
    .rept 3 * 512
    .quad address + PDE_RAM
    .set address, address + 0x200000
    .endr
    .rept 512
    .quad address + PDE_MMIO
    .set address, address + 0x200000
    .endr

    .section .note.GNU-stack, "", @progbits
