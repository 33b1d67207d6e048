# Builds and runs one QEMU board: make -f mk/guest.mk BOARD=<name> [run|elf]
# The board's linker script is boards/<name>/link.ld; its boards/<name>/board.mk sets:
#   CROSS          cross-compiler prefix (e.g. aarch64-linux-gnu-)
#   ARCH_CFLAGS    target flags for C and assembly
#   ARCH_LDFLAGS   target link flags (before the objects)
#   ARCH_LDLIBS    libraries after the objects (default -lgcc)
#   BOARD_SRCS     start-up, console, exit, core bring-up (.c/.S in boards/<name>/), and a
#                  board's own test program if it has one (mps2-an385: tests/firmware/)
#   GEOMETRY       kernel | small   (see core/bm_config.h)
#   QEMU_CMD       the QEMU command line without -kernel
#   QEMU_PASS      exit status QEMU returns when the guest passed (default 0)
#   QEMU_TIMEOUT   seconds before a hung guest is killed (default 300)
#   GUEST_SRCS     (optional) the program to run; default: tests/guest/*.c tests/common/*.c
#   PORT_SRCS      (optional) default: port/baremetal.c port/libc_mini.c; port/defaults.c (the
#                  weak defaults) is linked whenever the core is (CORE_SRCS not emptied)
#   LIBCS          (optional) the C libraries the board can build against, LIBC_DEFAULT the one
#                  it uses unless LIBC=<name> is given (mps2-an385: newlib, or picolibc)
# A LIBC other than the board's default builds in build/<board>-<libc>; a board without LIBCS
# refuses LIBC.
BOARD ?= virt-aarch64
include boards/$(BOARD)/board.mk

ifneq ($(filter-out $(LIBCS),$(LIBC)),)
$(error BOARD=$(BOARD) has no LIBC=$(LIBC); it builds against: $(or $(LIBCS),its own choice only))
endif
# The run's name in the PASS/FAIL line and its build directory
RUN_NAME := $(BOARD)$(if $(filter-out $(LIBC_DEFAULT),$(LIBC)),-$(LIBC))
B := build/$(RUN_NAME)
CC := $(CROSS)gcc
GEOMETRY ?= kernel
QEMU_PASS ?= 0
QEMU_TIMEOUT ?= 300
ARCH_LDLIBS ?= -lgcc
GUEST_SRCS ?= $(wildcard tests/guest/*.c tests/common/*.c)
PORT_SRCS ?= port/baremetal.c port/libc_mini.c
CORE_SRCS := $(wildcard core/*.c core/ext/*.c)
PORT_DEFAULTS := $(if $(strip $(CORE_SRCS)),port/defaults.c)

GEOMETRY_FLAGS_kernel := -DBM_GEOMETRY_KERNEL
GEOMETRY_FLAGS_small := -DBM_GEOMETRY_SMALL
CFLAGS := -std=c11 -O2 -g -ffreestanding -fno-builtin-malloc -Wall -Wextra -Werror \
          -Iinclude -Iport -Iboards -Iboards/$(BOARD) -Itests/guest -Itests/common \
          $(GEOMETRY_FLAGS_$(GEOMETRY)) $(ARCH_CFLAGS) $(EXTRA_CFLAGS)

SRCS := $(CORE_SRCS) $(filter-out port/defaults.c,$(PORT_SRCS)) $(PORT_DEFAULTS) $(BOARD_SRCS) boards/common/print.c $(GUEST_SRCS)
OBJS := $(patsubst %,$(B)/obj/%.o,$(SRCS))

.PHONY: elf run
elf: $(B)/guest.elf
run: $(B)/guest.elf
	@tools/run-qemu.sh "$(RUN_NAME)" "$(QEMU_TIMEOUT)" "$(QEMU_PASS)" $(QEMU_CMD) -kernel $(B)/guest.elf

$(B)/guest.elf: $(OBJS) boards/$(BOARD)/link.ld
	$(CC) $(ARCH_CFLAGS) $(ARCH_LDFLAGS) -T boards/$(BOARD)/link.ld -Wl,-Map=$(B)/guest.map -o $@ $(OBJS) $(ARCH_LDLIBS)

$(B)/obj/%.c.o: %.c $(wildcard include/*.h core/*.h core/ext/*.h port/*.h port/arch/*.h boards/*.h tests/*/*.h boards/$(BOARD)/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

$(B)/obj/%.S.o: %.S
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<
