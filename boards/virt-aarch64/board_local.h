/* Limits shared by the start-up assembly and the C side of the virt-aarch64 board. */
#ifndef BOARD_LOCAL_H
#define BOARD_LOCAL_H

/* QEMU virt with GICv2 models at most 8 CPUs; 16 leaves room for gic-version=3 runs. */
#define BOARD_MAX_CORES 16
#define BOARD_STACK_SIZE 0x10000 /* per core; the stress test keeps its tables on the stack */

#endif
