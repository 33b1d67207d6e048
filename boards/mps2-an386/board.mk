# mps2-an386 (QEMU): the MPS2 FPGA image of mps2-an385 with one Cortex-M4F: the same memory map
# and peripherals, so this board builds mps2-an385's start-up and board code and the same
# firmware test (tests/firmware), for the hard-float ABI (Debian's newlib multilib
# thumb/v7e-m+fp/hard). Variables: see the top of mk/guest.mk.
CROSS := arm-none-eabi-
ARCH_CFLAGS := -mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16 --specs=rdimon.specs \
               -DBM_MAX_CORES=1 -DBM_MAX_ARENAS=1 -ffunction-sections -fdata-sections -DGUEST_RANDOM_SLOTS=128 \
               -DBM_EXPORT_STD_NAMES -DBOARD_MPS2_NAME=\"mps2-an386\" -DBOARD_CPU_NAME=\"Cortex-M4F\"
ARCH_LDFLAGS := -Wl,--cref -Wl,--gc-sections
ARCH_LDLIBS := -lgcc
GEOMETRY := small
PORT_SRCS := port/baremetal.c port/newlib.c port/freertos.c # FreeRTOS's heap API too (tests/firmware)
BOARD_SRCS := boards/mps2-an385/startup.c boards/mps2-an385/board.c boards/common/semihost_console.c boards/common/cortex_m_fault.c $(sort $(wildcard tests/firmware/*.c))
QEMU_CMD := boards/mps2-an385/run.sh qemu-system-arm -M mps2-an386 -nographic -semihosting -icount shift=7
QEMU_PASS := 0
QEMU_TIMEOUT := 100
