# pc-x86_64: QEMU pc machine, multiboot v1 -kernel, SMP through INIT-SIPI-SIPI, COM1 console,
# isa-debug-exit. Built with the host gcc as a 64-bit kernel linked low (see start.S for why the
# image is a 64-bit ELF).
SMP ?= 4
CROSS :=
# No red zone (interrupts push onto the interrupted stack), no FPU/SSE state to manage,
# no stack protector (it would read %gs:40, and GS holds the per-CPU pointer).
ARCH_CFLAGS := -Iboards/common -m64 -march=x86-64 -mno-red-zone -mno-mmx -mno-sse -mno-80387 -mgeneral-regs-only \
               -mcmodel=small -fno-pic -fno-pie -fno-stack-protector -fcf-protection=none \
               -fno-asynchronous-unwind-tables
ARCH_LDFLAGS := -nostdlib -static -no-pie -Wl,-z,max-page-size=4096 -Wl,--build-id=none \
                -Wl,-z,noexecstack
BOARD_SRCS := boards/pc-x86_64/start.S boards/pc-x86_64/board.c boards/common/line_console.c
GEOMETRY := kernel
QEMU_CMD := qemu-system-x86_64 -smp $(SMP) -m 512M -display none -vga none -nic none \
            -serial stdio -no-reboot -device isa-debug-exit,iobase=0xf4,iosize=0x04
# isa-debug-exit: status = (value << 1) | 1; the board writes 0x10 on pass (0x11 on fail: 35).
QEMU_PASS := 33
QEMU_TIMEOUT := 100
