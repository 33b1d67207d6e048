# virt-riscv64: QEMU virt machine, -bios none (M-mode from reset), all harts start at once,
# NS16550 console, SiFive test device for the exit status. The heap comes from board_sbrk.
SMP ?= 4
CROSS := riscv64-unknown-elf-
# -misa-spec=2.2: under the newer ISA spec that GCC 12 defaults to, CSR instructions need
# _zicsr in -march, and rv64imac_zicsr matches no multilib, so -lgcc would come from the
# rv64gc/lp64d build and fail to link. Under 2.2 Zicsr is part of I.
ARCH_CFLAGS := -Iboards/common -march=rv64imac -misa-spec=2.2 -mabi=lp64 -mcmodel=medany -fno-pic \
               -fno-stack-protector -fno-asynchronous-unwind-tables -DBOARD_HEAP_SBRK
ARCH_LDFLAGS := -nostdlib -nostartfiles -static -Wl,--build-id=none
BOARD_SRCS := boards/virt-riscv64/start.S boards/virt-riscv64/board.c boards/common/line_console.c
GEOMETRY := kernel
QEMU_CMD := qemu-system-riscv64 -M virt -smp $(SMP) -bios none -nographic
QEMU_PASS := 0
QEMU_TIMEOUT := 100
