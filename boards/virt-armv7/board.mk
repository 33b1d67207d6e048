# QEMU virt, Cortex-A15 cores in SVC mode. The core count is found at run time (PSCI), so one
# build runs with any SMP: make -f mk/guest.mk BOARD=virt-armv7 SMP=2 run
SMP ?= 4
CROSS := arm-none-eabi-
# Soft float: no VFP/NEON state to enable or save. __atomic builtins become LDREX/STREX.
ARCH_CFLAGS := -mcpu=cortex-a15 -marm -mfloat-abi=soft -fno-asynchronous-unwind-tables \
               -fno-unwind-tables
ARCH_LDFLAGS := -nostdlib -static -Wl,--build-id=none -Wl,-z,noexecstack
BOARD_SRCS := boards/virt-armv7/start.S boards/virt-armv7/board.c boards/common/arm_virt.c
GEOMETRY := kernel
QEMU_CMD := qemu-system-arm -M virt -cpu cortex-a15 -smp $(SMP) -nographic -semihosting
QEMU_PASS := 0
QEMU_TIMEOUT := 110
# HEAP_SBRK=1 grows the heap through board_sbrk instead of handing it over whole. Objects do
# not track flags, so build it in its own directory: ... HEAP_SBRK=1 B=build/<board>-sbrk run
ifeq ($(HEAP_SBRK),1)
ARCH_CFLAGS += -DBOARD_HEAP_SBRK
endif
