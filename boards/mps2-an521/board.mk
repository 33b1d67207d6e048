# mps2-an521 (QEMU): the SSE-200 with two Cortex-M33, both Secure; Debian's newlib with
# semihosting (rdimon), baremalloc as newlib's allocator (port/newlib.c), as mps2-an385 but with
# two cores: the guest's SMP stress runs on both, CPU1 released through the SSE-200's CPUWAIT
# (board.c), and each core's SysTick allocates meanwhile (tick.c). Variables: mk/guest.mk.
#   make -f mk/guest.mk BOARD=mps2-an521 run
CROSS := arm-none-eabi-
# Soft float (CPU0 of QEMU's SSE-200 has no FPU); two cores, one arena each; function and data
# sections with --gc-sections as a microcontroller build; 128 random guest slots as on
# mps2-an385 (the same 256 KiB heap).
ARCH_CFLAGS := -mcpu=cortex-m33 -mthumb -mfloat-abi=soft --specs=rdimon.specs -DBM_MAX_CORES=2 \
               -ffunction-sections -fdata-sections -DGUEST_RANDOM_SLOTS=128 -DBM_EXPORT_STD_NAMES
# --cref for tools/check-newlib-malloc.sh; --wrap sends tests/firmware's guest_main call to the
# board (board.c), which checks the ticks after the guest.
ARCH_LDFLAGS := -Wl,--cref -Wl,--gc-sections -Wl,--wrap=guest_main
ARCH_LDLIBS := -lgcc
GEOMETRY := small
PORT_SRCS := port/baremetal.c port/newlib.c port/freertos.c # FreeRTOS's heap API too (tests/firmware)
BOARD_SRCS := boards/mps2-an521/startup.c boards/mps2-an521/board.c boards/common/semihost_console.c boards/common/cortex_m_fault.c boards/mps2-an521/tick.c
# mps2-an385's run.sh: the link-map check (newlib's malloc not linked) and size report, then
# QEMU. -icount shift=7: 128 ns per instruction, so SysTick counts instructions (2.56 ticks
# each at 20 MHz); it also makes QEMU run the two vCPUs round-robin on one host thread.
# The mttcg variant (EXTRA_CFLAGS=-DBOARD_MTTCG, its own build directory; tools/run-guest-tests.sh
# runs it): no -icount, so the two vCPUs run on two host threads at once (MTTCG), where races
# between the cores show; tests/firmware needs -icount, so board.c's main runs the guest alone.
# Ten times the guest's SMP operations there: the stress then lasts seconds, not 0.2 s.
ifneq ($(filter -DBOARD_MTTCG,$(EXTRA_CFLAGS)),)
ARCH_CFLAGS += -DGUEST_SMP_OPS=1000000
QEMU_CMD := boards/mps2-an385/run.sh qemu-system-arm -M mps2-an521 -nographic -semihosting -accel tcg,thread=multi
else
BOARD_SRCS += $(sort $(wildcard tests/firmware/*.c))
QEMU_CMD := boards/mps2-an385/run.sh qemu-system-arm -M mps2-an521 -nographic -semihosting -icount shift=7
endif
QEMU_PASS := 0
QEMU_TIMEOUT := 200
