/* Limits shared by the start-up assembly and the C side of the virt-armv7 board. */
#ifndef BOARD_LOCAL_H
#define BOARD_LOCAL_H

#define BOARD_MAX_CORES 8 /* QEMU virt's GICv2 models at most 8 CPUs */
#define BOARD_STACK_SIZE 0x10000 /* per core; the stress test keeps its tables on the stack */

#endif
