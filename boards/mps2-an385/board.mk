# mps2-an385 (QEMU): one Cortex-M3, Debian's newlib with semihosting (rdimon), baremalloc as
# newlib's allocator (port/newlib.c); or Debian's picolibc (LIBC=picolibc). Variables: see the
# top of mk/guest.mk.
#   make -f mk/guest.mk BOARD=mps2-an385 run                full newlib (default)
#   make -f mk/guest.mk BOARD=mps2-an385 NEWLIB=nano run    newlib-nano (rm -rf build/mps2-an385 first)
#   make -f mk/guest.mk BOARD=mps2-an385 LIBC=picolibc run  picolibc (build/mps2-an385-picolibc)
CROSS := arm-none-eabi-
LIBCS := newlib picolibc
LIBC_DEFAULT := newlib
LIBC ?= $(LIBC_DEFAULT)
NEWLIB ?= full
NEWLIB_SPECS_full := --specs=rdimon.specs
# nano's printf drops %f unless asked; the firmware prints floats (dtoa allocates through _calloc_r).
NEWLIB_SPECS_nano := --specs=nano.specs --specs=rdimon.specs -u _printf_float
# The C library: its specs (headers, crt0, libraries: on the compile too, since they choose the
# headers), extra link flags, and the glue that makes baremalloc its allocator.
LIBC_SPECS_newlib := $(NEWLIB_SPECS_$(NEWLIB))
LIBC_GLUE_newlib := port/newlib.c
# picolibc 1.8 (picolibc-arm-none-eabi): its semihosting crt0 (clears .bss, sets up TLS, passes
# main's return value to exit) and libsemihost (stdout and exit through semihosting, exit
# status with SYS_EXIT_EXTENDED). picolibc's stdio never allocates; its strdup, asprintf & co.
# call malloc/realloc, which port/picolibc.c defines, so its own allocator is not linked.
LIBC_SPECS_picolibc := --specs=picolibc.specs
LIBC_LDFLAGS_picolibc := --crt0=semihost --oslib=semihost
LIBC_GLUE_picolibc := port/picolibc.c
# Compile flags: the specs (nano.specs switches to nano's headers, so they go here, not only on
# the link); one core, so the per-core and per-arena tables are sized for one (as make lib
# TARGET=armv7m does); function and data sections so that --gc-sections keeps only what the
# firmware calls, as a microcontroller build would (size-report.sh counts what was kept).
# The randomized guest sequence keeps 128 blocks live, not 256: with 256 (about 46% of this
# 256 KiB heap live, blocks up to 8 KiB) a 31-page block finds no 16 KiB chunk with that many
# contiguous free pages a few times per run. That is the small geometry's real limit (large
# blocks must fit inside one chunk beside small runs), recorded in the README.
# BM_EXPORT_STD_NAMES: malloc, calloc and free are the core's own functions (port/newlib.c).
ARCH_CFLAGS := -mcpu=cortex-m3 -mthumb $(LIBC_SPECS_$(LIBC)) -DBM_MAX_CORES=1 -DBM_MAX_ARENAS=1 \
               -ffunction-sections -fdata-sections -DGUEST_RANDOM_SLOTS=128 -DBM_EXPORT_STD_NAMES
# --cref adds the symbol cross-reference table tools/check-newlib-malloc.sh reads.
ARCH_LDFLAGS := -Wl,--cref -Wl,--gc-sections $(LIBC_LDFLAGS_$(LIBC))
# crt0, libc and librdimon (libsemihost) come from the specs; libgcc for the compiler's helpers.
ARCH_LDLIBS := -lgcc
GEOMETRY := small
# The C library provides memcpy & co., so no libc_mini.c.
PORT_SRCS := port/baremetal.c $(LIBC_GLUE_$(LIBC)) port/freertos.c # FreeRTOS's heap API too (tests/firmware)
# main() is the firmware test's (tests/firmware: libc glue, SysTick ISR stress, masked time),
# which runs the guest program (GUEST_SRCS, tests/guest by default) first; it is linked with
# every program on this board (bench/guest/run.py sets BOARD_SRCS to the first four only).
BOARD_SRCS := boards/mps2-an385/startup.c boards/mps2-an385/board.c boards/common/semihost_console.c boards/common/cortex_m_fault.c $(sort $(wildcard tests/firmware/*.c))
# run.sh checks the link map (the C library's malloc not linked) and prints baremalloc's size, then
# runs QEMU. -icount shift=7: 128 ns per instruction, so SysTick counts instructions.
QEMU_CMD := boards/mps2-an385/run.sh qemu-system-arm -M mps2-an385 -nographic -semihosting -icount shift=7
QEMU_PASS := 0
QEMU_TIMEOUT := 100
