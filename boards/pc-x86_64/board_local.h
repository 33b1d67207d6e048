/*
 * pc-x86_64 board constants shared by start.S and the C files (hence no C in the first part).
 */
#ifndef BOARD_LOCAL_H
#define BOARD_LOCAL_H

#define BOARD_MAX_CORES 32     /* stacks and per-CPU slots; APs beyond this are parked */
#define BOARD_STACK_SHIFT 16   /* 64 KiB per core */
#define BOARD_STACK_SIZE (1 << BOARD_STACK_SHIFT)

/* GDT selectors (start.S builds the table in this order). */
#define BOARD_SEL_CODE64 0x08
#define BOARD_SEL_DATA 0x10
#define BOARD_SEL_CODE32 0x18

/* The AP trampoline runs in real mode, so it must sit below 1 MiB on a 4 KiB boundary; the SIPI
 * vector is its page number. 0x8000 is conventional RAM nobody else uses after the BIOS. */
#define BOARD_TRAMPOLINE_ADDR 0x8000
#define BOARD_SIPI_VECTOR (BOARD_TRAMPOLINE_ADDR >> 12)

#define BOARD_WAKE_VECTOR 0x40     /* IPI that releases the parked APs */
#define BOARD_SPURIOUS_VECTOR 0xFF /* local APIC spurious vector (needs no EOI) */

#ifndef __ASSEMBLER__
#include <stdint.h>

/* Registers pushed by pc_isr_common (start.S), lowest address first. */
struct pc_interrupt_frame {
    uint64_t r11, r10, r9, r8, rdi, rsi, rdx, rcx, rax;
    uint64_t vector, error_code; /* error_code is 0 for vectors without one */
    uint64_t rip, cs, rflags, rsp, ss;
};

void pc_boot_main(void) __attribute__((noreturn));
void pc_ap_main(unsigned core_id) __attribute__((noreturn));
void pc_interrupt(struct pc_interrupt_frame *frame);
#endif

#endif
