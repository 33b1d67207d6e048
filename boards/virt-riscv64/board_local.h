/*
 * virt-riscv64 board constants shared by start.S and the C files.
 */
#ifndef BOARD_LOCAL_H
#define BOARD_LOCAL_H

#define BOARD_MAX_CORES 32   /* stacks and console slots; harts with a larger id are parked */
#define BOARD_STACK_SHIFT 16 /* 64 KiB per hart */
#define BOARD_STACK_SIZE (1 << BOARD_STACK_SHIFT)

#ifndef __ASSEMBLER__
void rv_boot_main(const void *device_tree) __attribute__((noreturn));
void rv_secondary_main(unsigned hart) __attribute__((noreturn));
void rv_trap(unsigned long cause, unsigned long pc, unsigned long value) __attribute__((noreturn));
#endif

#endif
