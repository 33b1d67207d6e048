# QEMU virt, Cortex-A53 cores at EL1. The core count is found at run time (PSCI), so one
# build runs with any SMP: make -f mk/guest.mk BOARD=virt-aarch64 SMP=8 run
SMP ?= 4
CROSS := aarch64-linux-gnu-
# -mno-outline-atomics: the Linux cross compiler would otherwise call __aarch64_ldadd4_acq_rel
# & co., which pick LSE or exclusives from a flag set by Linux start-up code.
# -mgeneral-regs-only: FP/SIMD stays trapped (CPACR_EL1 reset value), so any use shows up.
ARCH_CFLAGS := -mcpu=cortex-a53 -mno-outline-atomics -mgeneral-regs-only -fno-pie \
               -fno-asynchronous-unwind-tables -fno-unwind-tables
ARCH_LDFLAGS := -nostdlib -static -no-pie -Wl,--build-id=none
BOARD_SRCS := boards/virt-aarch64/start.S boards/virt-aarch64/board.c boards/common/arm_virt.c
GEOMETRY := kernel
QEMU_CMD := qemu-system-aarch64 -M virt -cpu cortex-a53 -smp $(SMP) -nographic -semihosting
QEMU_PASS := 0
QEMU_TIMEOUT := 100
# HEAP_SBRK=1 grows the heap through board_sbrk instead of handing it over whole. Objects do
# not track flags, so build it in its own directory: ... HEAP_SBRK=1 B=build/<board>-sbrk run
ifeq ($(HEAP_SBRK),1)
ARCH_CFLAGS += -DBOARD_HEAP_SBRK
endif
