# baremalloc: the two commands a new user needs are `make run` and `make test`.
# Other entry points: make test-host, make qemu BOARD=<name>, make lib TARGET=<target>, make bench.

SHELL := /bin/bash
.DEFAULT_GOAL := help

CORE_SRCS := $(sort $(wildcard core/*.c core/ext/*.c))
CORE_HDRS := $(wildcard core/*.h core/ext/*.h include/*.h port/*.h port/arch/*.h)
WARN := -Wall -Wextra -Werror

# ---- host builds -------------------------------------------------------------------------------
HOST_CC ?= gcc
HOST_DEFS := -DBM_PORT_HOST -DBM_MAX_CORES=256 -D_GNU_SOURCE
HOST_INC := -Iinclude -Iport -Icore -Icore/ext -Itests/host -Itests/common
HOST_SRCS := $(CORE_SRCS) port/host.c port/defaults.c
# test_locks proves the debug lock checks fire: built in the debug variant only (TESTS_debug)
HOST_TESTS := $(filter-out test_main test_locks,$(basename $(notdir $(wildcard tests/host/test_*.c))))

# variant -> compiler and flags; tools/run-host-tests.sh says which tests run in which variant
VARIANT_CC_kernel := $(HOST_CC)
VARIANT_FLAGS_kernel := -O2
VARIANT_CC_small := $(HOST_CC)
VARIANT_FLAGS_small := -O2 -DBM_GEOMETRY_SMALL
# the small geometry's default is the real-time profile; smallgeneral keeps the general one
VARIANT_CC_smallgeneral := $(HOST_CC)
VARIANT_FLAGS_smallgeneral := -O2 -DBM_GEOMETRY_SMALL -DBM_REALTIME=0
VARIANT_CC_unchecked := $(HOST_CC)
VARIANT_FLAGS_unchecked := -O2 -DBM_FREE_CHECKS=0
VARIANT_CC_asan := clang
VARIANT_FLAGS_asan := -O1 -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
VARIANT_CC_tsan := clang
VARIANT_FLAGS_tsan := -O1 -fsanitize=thread
VARIANT_CC_debug := $(HOST_CC)
VARIANT_FLAGS_debug := -O1 -DBM_DEBUG_LOCKS
VARIANT_CC_hardened := $(HOST_CC)
VARIANT_FLAGS_hardened := -O2 -DBM_HARDENING=2
VARIANTS := kernel small smallgeneral unchecked asan tsan debug hardened

# Each variant compiles the core once: build/host/<variant>/obj/<source path>.o (object paths
# mirror source paths, so sources in subfolders of core/ work), archived in
# build/host/<variant>/libbaremalloc_test.a, which every test of the variant links whole
# (--whole-archive: the same objects the binary had when it compiled them itself).
# test_stdnames needs BM_EXPORT_STD_NAMES in every core source (malloc, calloc and free are
# aliases in core/alloc.c under it) and port/stdnames.c: its own objects (obj-stdnames/) and
# archive, libbaremalloc_stdnames.a. Test sources compile into the same obj/ trees.
HOST_TEST_HDRS := $(wildcard tests/host/*.h tests/common/*.h)
host_objs = $(patsubst %.c,build/host/$(1)/$(2)/%.o,$(3))
define host_variant
build/host/$(1)/obj/%.o: %.c $(CORE_HDRS) $(HOST_TEST_HDRS)
	@mkdir -p $$(dir $$@)
	$$(VARIANT_CC_$(1)) -std=c11 -g $(WARN) $$(VARIANT_FLAGS_$(1)) $(HOST_DEFS) $$(EXTRA_DEFS) $(HOST_INC) -c -o $$@ $$<
build/host/$(1)/obj-stdnames/%.o: %.c $(CORE_HDRS) $(HOST_TEST_HDRS)
	@mkdir -p $$(dir $$@)
	$$(VARIANT_CC_$(1)) -std=c11 -g $(WARN) $$(VARIANT_FLAGS_$(1)) $(HOST_DEFS) -DBM_EXPORT_STD_NAMES $(HOST_INC) -c -o $$@ $$<
build/host/$(1)/libbaremalloc_test.a: $(call host_objs,$(1),obj,$(HOST_SRCS))
	@rm -f $$@
	ar rcs $$@ $$^
build/host/$(1)/libbaremalloc_stdnames.a: $(call host_objs,$(1),obj-stdnames,$(HOST_SRCS) port/stdnames.c)
	@rm -f $$@
	ar rcs $$@ $$^
$(addprefix build/host/$(1)/,$(HOST_TESTS) test_locks): build/host/$(1)/%: build/host/$(1)/obj/tests/host/test_main.o \
        build/host/$(1)/obj/tests/host/%.o
	$$(VARIANT_CC_$(1)) -g $$(VARIANT_FLAGS_$(1)) -o $$@ $$(filter %.o,$$^) \
	    -Wl,--whole-archive $$(filter %.a,$$^) -Wl,--no-whole-archive -lpthread
# the tests' extra objects and archives (prerequisites of the rule above)
$(filter-out build/host/$(1)/test_stdnames,$(addprefix build/host/$(1)/,$(HOST_TESTS) test_locks)): build/host/$(1)/libbaremalloc_test.a
build/host/$(1)/test_stdnames: build/host/$(1)/libbaremalloc_stdnames.a
build/host/$(1)/test_print: build/host/$(1)/obj/boards/common/print.o
build/host/$(1)/test_api: $(call host_objs,$(1),obj,$(wildcard tests/common/*.c))
build/host/$(1)/test_freertos: build/host/$(1)/obj/port/freertos.o
endef
# test_stdnames replaces the C library's malloc with the standard names from port/stdnames.c;
# its own sources compile with the define too.
build/host/%/obj/tests/host/test_stdnames.o: EXTRA_DEFS := -DBM_EXPORT_STD_NAMES
# test_print checks the boards' printf subset (boards/common/print.c) against the C library's
build/host/%/obj/tests/host/test_print.o: EXTRA_DEFS := -Iboards
build/host/%/obj/boards/common/print.o: EXTRA_DEFS := -Iboards
# test_freertos checks the FreeRTOS heap adapter (port/freertos.c, linked into it only), both
# built with the adapter's malloc-failed hook
build/host/%/obj/port/freertos.o build/host/%/obj/tests/host/test_freertos.o: EXTRA_DEFS := -DBM_FREERTOS_MALLOC_FAILED_HOOK=1
$(foreach v,$(VARIANTS),$(eval $(call host_variant,$(v))))

# Which tests run in which variant (tools/run-host-tests.sh runs whatever was built): the
# unchecked build skips the bad-pointer tests, which need the free checks; TSan runs the
# threaded ones; debug (-DBM_DEBUG_LOCKS: every lock checks its holder) runs every allocator
# test, and test_locks, which makes the checks fire. test_print does not depend on the
# allocator's build: kernel and ASan only.
TESTS_kernel := $(HOST_TESTS)
TESTS_small := $(filter-out test_print,$(HOST_TESTS))
TESTS_smallgeneral := $(TESTS_small)
TESTS_unchecked := $(filter-out test_api test_ownership test_fuzz_regressions test_stdnames test_print,$(HOST_TESTS))
TESTS_asan := $(filter-out test_stdnames,$(HOST_TESTS)) # the sanitizers own malloc there
TESTS_tsan := test_units test_threads test_init_race test_inbox
TESTS_debug := $(filter-out test_print,$(HOST_TESTS)) test_locks
# hardened (BM_HARDENING=2) runs the API-level tests; the others read internals (usable size
# equal to the class size, fast-path counters) that level 2 changes on purpose.
TESTS_hardened := test_api test_ownership test_hardening test_random test_threads test_config test_stdnames test_init_race
HOST_TEST_BINS := $(foreach v,$(VARIANTS),$(addprefix build/host/$(v)/,$(TESTS_$(v))))


.PHONY: install
.PHONY: help deps deps-qemu host-tests-build test-host test run demo lib qemu bench bench-help \
        check-generated check-freestanding clean guest-tests so preload-tests-build fuzz fuzz-build

help:
	@echo "make run                  SMP demo on QEMU virt-aarch64 with 4 cores (make demo BOARD=<name> elsewhere)"
	@echo "make test                 every test: host (8 build variants), freestanding check, QEMU boards, fuzzing"
	@echo "make test-host            host tests only (and the LD_PRELOAD tests of the drop-in library)"
	@echo "make qemu BOARD=<name>    build and run one board ($(BOARDS)); mps2-an385 also with LIBC=picolibc"
	@echo "make lib TARGET=<target>  build/<target>/libbaremalloc.a ($(LIB_TARGETS))"
	@echo "make bench [QUICK=1]      benchmarks against glibc, jemalloc, mimalloc, tcmalloc, then the QEMU guests"
	@echo "                          (6 minutes; QUICK=1: 3; QUICK=1 GUEST=0: 1.5; more when busy): make bench-help"
	@echo "make fuzz [FUZZ_TIME=s]   libFuzzer on the whole API, each build for FUZZ_TIME seconds (default 60)"

deps:
	@tools/deps.sh all

host-tests-build: $(HOST_TEST_BINS)

# Host tests, then the drop-in library under LD_PRELOAD (tools/run-preload-tests.sh); both run
# whatever the other gives, and the target fails if either does.
test-host: deps host-tests-build preload-tests-build
	@tools/run-host-tests.sh $(HOST_TEST_BINS); host=$$?; tools/run-preload-tests.sh; preload=$$?; \
	    [ $$host -eq 0 ] && [ $$preload -eq 0 ]

check-generated:
	@python3 tools/gen_size_classes.py --check

check-freestanding:
	@tools/check-freestanding.sh

BOARDS := $(notdir $(patsubst %/board.mk,%,$(wildcard boards/*/board.mk)))

guest-tests: deps
	@tools/run-guest-tests.sh $(BOARDS)

# make test ends with the fuzz builds, each for FUZZ_TEST_TIME seconds (60; `make fuzz` runs
# longer); FUZZ=0 leaves them out.
FUZZ ?= 1
FUZZ_TEST_TIME ?= 60
test: deps host-tests-build preload-tests-build $(if $(filter 1,$(FUZZ)),fuzz-build)
	@HOST_TEST_BINS="$(HOST_TEST_BINS)" FUZZ_TIME=$(FUZZ_TEST_TIME) FUZZ_BUILDS="$(if $(filter 1,$(FUZZ)),$(FUZZ_BUILDS))" \
	    tools/run-all-tests.sh $(BOARDS)

# The main job: the SMP demo on QEMU virt-aarch64 with 4 cores (demo/smp_demo.c).
DEMO_SRCS := demo/smp_demo.c tests/guest/guest_support.c
run: deps
	@$(MAKE) --no-print-directory -f mk/guest.mk BOARD=virt-aarch64 SMP=4 B=build/demo-virt-aarch64 \
	    GUEST_SRCS="$(DEMO_SRCS)" run

# The same demo on any board: make demo BOARD=pc-x86_64 SMP=8
demo: deps
	@$(MAKE) --no-print-directory -f mk/guest.mk BOARD=$(BOARD) B=build/demo-$(BOARD) GUEST_SRCS="$(DEMO_SRCS)" run

# ---- fuzzing (tests/fuzz/) -------------------------------------------------------------------------
# One libFuzzer target, tests/fuzz/fuzz_ops.c, built with the core and the host port as the asan
# variant is (plus libFuzzer's coverage), in three builds: both geometries on the host port's
# range (1 GiB of it in the kernel one), and the small geometry on a 1 MiB static region given
# to bm_init (exhaustion).
# tools/run-fuzz.sh runs each for FUZZ_TIME seconds from its seed corpus in
# tests/fuzz/corpus/<build>/ (read-only: new inputs and crash files go to build/fuzz/<build>/).
FUZZ_CC := clang
FUZZ_FLAGS := -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
FUZZ_BUILDS := kernel small static
FUZZ_DEFS_kernel := -DBM_HOST_RESERVE="((size_t)1 << 30)" # not 64 GiB: bm_check walks its chunk table
FUZZ_DEFS_small := -DBM_GEOMETRY_SMALL
FUZZ_DEFS_static := -DBM_GEOMETRY_SMALL -DFUZZ_STATIC_HEAP=1048576
FUZZ_TIME ?= 60
FUZZ_BINS := $(foreach b,$(FUZZ_BUILDS),build/fuzz/$(b)/fuzz_ops)
# Coverage guides the fuzzer through the allocator, except where it only costs time
# (tests/fuzz/coverage-ignore.txt says where).
FUZZ_COV := -fsanitize=fuzzer-no-link -fsanitize-coverage-ignorelist=tests/fuzz/coverage-ignore.txt
define fuzz_build
build/fuzz/$(1)/obj/%.o: %.c $(CORE_HDRS) tests/fuzz/coverage-ignore.txt
	@mkdir -p $$(dir $$@)
	$(FUZZ_CC) -std=c11 $(WARN) $(FUZZ_FLAGS) $(FUZZ_COV) $(FUZZ_DEFS_$(1)) $(HOST_DEFS) $(HOST_INC) -c -o $$@ $$<
build/fuzz/$(1)/fuzz_ops: $(patsubst %.c,build/fuzz/$(1)/obj/%.o,$(HOST_SRCS) tests/fuzz/fuzz_ops.c)
	$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer -o $$@ $$^ -lpthread
endef
$(foreach b,$(FUZZ_BUILDS),$(eval $(call fuzz_build,$(b))))

fuzz-build: $(FUZZ_BINS)

fuzz: deps fuzz-build
	@tools/run-fuzz.sh $(FUZZ_TIME) $(FUZZ_BUILDS)

# ---- QEMU boards -----------------------------------------------------------------------------------
BOARD ?= virt-aarch64
qemu: deps
	@$(MAKE) --no-print-directory -f mk/guest.mk BOARD=$(BOARD) run

# ---- libraries -------------------------------------------------------------------------------------
# TARGET -> compiler, flags, port sources. One Cortex-M target per core type; armv7m is another
# name for cortex-m3. Bare-metal targets are built without PIE (the boards link them so).
LIB_TARGETS := host x86_64 aarch64 armv7a armv7m cortex-m0plus cortex-m3 cortex-m4f cortex-m33 riscv64
TARGET ?= host
LIB_CC_host := $(HOST_CC)
LIB_FLAGS_host := -O2 -fPIC $(HOST_DEFS)
LIB_PORT_host := port/host.c port/defaults.c
LIB_CC_x86_64 := gcc
LIB_FLAGS_x86_64 := -O2 -ffreestanding -fno-pie -mno-red-zone -mgeneral-regs-only
LIB_CC_aarch64 := aarch64-linux-gnu-gcc
LIB_FLAGS_aarch64 := -O2 -ffreestanding -fno-pie -mno-outline-atomics -mgeneral-regs-only -mcpu=cortex-a53
LIB_CC_armv7a := arm-none-eabi-gcc
LIB_FLAGS_armv7a := -O2 -ffreestanding -fno-pie -mcpu=cortex-a15 -marm -mfloat-abi=soft
# Cortex-M: the small geometry, hence the real-time profile (docs/REALTIME.md); newlib or
# picolibc supplies memcpy & co. M0+ (ARMv6-M, no exclusives): one core, atomics by masking
# (port/armv6m.c). M4F and M33: the hard-float ABI. M33 (ARMv8-M Mainline): several cores.
LIB_CORTEX_M := -Os -ffreestanding -fno-pie -mthumb -DBM_GEOMETRY_SMALL
LIB_ONE_CORE := -DBM_MAX_CORES=1 -DBM_MAX_ARENAS=1
LIB_CC_cortex-m0plus := arm-none-eabi-gcc
LIB_FLAGS_cortex-m0plus := $(LIB_CORTEX_M) -mcpu=cortex-m0plus -mfloat-abi=soft $(LIB_ONE_CORE)
LIB_PORT_cortex-m0plus := port/baremetal.c port/defaults.c port/armv6m.c
LIB_CC_cortex-m3 := arm-none-eabi-gcc
LIB_FLAGS_cortex-m3 := $(LIB_CORTEX_M) -mcpu=cortex-m3 -mfloat-abi=soft $(LIB_ONE_CORE)
LIB_PORT_cortex-m3 := port/baremetal.c port/defaults.c
LIB_CC_armv7m := $(LIB_CC_cortex-m3)
LIB_FLAGS_armv7m := $(LIB_FLAGS_cortex-m3)
LIB_PORT_armv7m := $(LIB_PORT_cortex-m3)
LIB_CC_cortex-m4f := arm-none-eabi-gcc
LIB_FLAGS_cortex-m4f := $(LIB_CORTEX_M) -mcpu=cortex-m4 -mfloat-abi=hard -mfpu=fpv4-sp-d16 $(LIB_ONE_CORE)
LIB_PORT_cortex-m4f := port/baremetal.c port/defaults.c
LIB_CC_cortex-m33 := arm-none-eabi-gcc
LIB_FLAGS_cortex-m33 := $(LIB_CORTEX_M) -mcpu=cortex-m33 -mfloat-abi=hard -mfpu=fpv5-sp-d16 -DBM_MAX_CORES=4
LIB_PORT_cortex-m33 := port/baremetal.c port/defaults.c
LIB_CC_riscv64 := riscv64-unknown-elf-gcc
LIB_FLAGS_riscv64 := -O2 -ffreestanding -fno-pie -march=rv64imac -mabi=lp64 -mcmodel=medany
# Function and data sections, so an integrator's --gc-sections drops what the program never calls.
LIB_SECTIONS := -ffunction-sections -fdata-sections
LIB_PORT_default := port/baremetal.c port/defaults.c port/libc_mini.c
LIB_PORT = $(or $(LIB_PORT_$(TARGET)),$(LIB_PORT_default))
LIB_SRCS = $(CORE_SRCS) $(LIB_PORT)
LIB_DIR = build/$(TARGET)
LIB_OBJS = $(patsubst %.c,$(LIB_DIR)/obj/%.o,$(LIB_SRCS))
# LIB_CFLAGS: the integrator's own additions (-DBM_HARDENING=2, -O2, ...).
LIB_CFLAGS ?=
LIB_COMMAND = $(LIB_CC_$(TARGET)) -std=c11 -g $(WARN) $(LIB_FLAGS_$(TARGET)) $(LIB_SECTIONS) $(LIB_CFLAGS) -Iinclude -Iport -Icore -Icore/ext

lib:
	@if [ -z "$(filter $(TARGET),$(LIB_TARGETS))" ]; then \
	    echo "make lib: unknown TARGET '$(TARGET)'; the targets are: $(LIB_TARGETS)" >&2; exit 2; fi
	@tools/deps.sh cc $(LIB_CC_$(TARGET))
	@$(MAKE) --no-print-directory $(LIB_DIR)/libbaremalloc.a $(if $(filter cortex-m% armv7m,$(TARGET)),$(LIB_DIR)/baremalloc_newlib.o $(LIB_DIR)/baremalloc_picolibc.o $(LIB_DIR)/baremalloc_freertos.o) TARGET=$(TARGET)
	@echo "built $(LIB_DIR)/libbaremalloc.a$(if $(filter cortex-m% armv7m,$(TARGET)), with the libc glue objects $(LIB_DIR)/baremalloc_newlib.o and baremalloc_picolibc.o (link one as an object: the C library's own allocator is then never linked) and the FreeRTOS heap $(LIB_DIR)/baremalloc_freertos.o (instead of heap_4.c))"

# The compile command as last used: a change of flags (LIB_CFLAGS, a target's flags) rebuilds
# every object instead of reusing the old ones.
$(LIB_DIR)/flags: FORCE
	@mkdir -p $(dir $@)
	@echo '$(LIB_COMMAND) $(LIB_PORT)' | cmp -s - $@ || echo '$(LIB_COMMAND) $(LIB_PORT)' > $@
FORCE:
.PHONY: FORCE

# The library needs nothing from boards/: what a board provides is declared in port/baremetal.h.
$(LIB_DIR)/obj/%.o: %.c $(CORE_HDRS) $(LIB_DIR)/flags
	@mkdir -p $(dir $@)
	$(LIB_COMMAND) -c -o $@ $<

# newlib glue (port/newlib.c): an object, not an archive member, so the linker always takes it
# and never newlib's own malloc (which an archive member would lose to when libc is searched
# for _malloc_r after the archive). Needs newlib's headers.
$(LIB_DIR)/baremalloc_newlib.o: port/newlib.c include/baremalloc.h $(LIB_DIR)/flags
	@mkdir -p $(dir $@)
	$(LIB_COMMAND) -c -o $@ $<

# The FreeRTOS heap API (port/freertos.c), an object to link instead of heap_4.c/heap_5.c.
$(LIB_DIR)/baremalloc_freertos.o: port/freertos.c port/freertos_heap.h include/baremalloc.h $(LIB_DIR)/flags
	@mkdir -p $(dir $@)
	$(LIB_COMMAND) -c -o $@ $<

# picolibc glue (port/picolibc.c), likewise an object, compiled against picolibc's headers.
$(LIB_DIR)/baremalloc_picolibc.o: port/picolibc.c include/baremalloc.h $(LIB_DIR)/flags
	@mkdir -p $(dir $@)
	$(LIB_COMMAND) --specs=picolibc.specs -c -o $@ $<

$(LIB_DIR)/libbaremalloc.a: $(LIB_OBJS) $(LIB_DIR)/flags
	@rm -f $@
	$(patsubst %gcc,%ar,$(LIB_CC_$(TARGET))) rcs $@ $(LIB_OBJS)

# make install PREFIX=<dir> TARGET=<target>: the library, its one header, the newlib glue
# (Cortex-M targets), the CMake package (find_package(baremalloc): baremalloc::baremalloc,
# baremalloc::newlib) and baremalloc.pc, in the layout CMake's own install writes.
PREFIX ?= /usr/local
BM_VERSION_STRING := $(shell sed -n 's/^\#define BM_VERSION "\(.*\)"/\1/p' include/baremalloc.h)
INSTALL_GLUE = $(if $(filter cortex-m% armv7m,$(TARGET)),1,0)
INSTALL_LINK_EXTRA = $(if $(filter host,$(TARGET)),-lpthread)
install: lib
	@mkdir -p $(PREFIX)/lib/cmake/baremalloc $(PREFIX)/lib/pkgconfig $(PREFIX)/include
	cp $(LIB_DIR)/libbaremalloc.a $(PREFIX)/lib/
	cp include/baremalloc.h $(PREFIX)/include/
	$(if $(filter 1,$(INSTALL_GLUE)),cp $(LIB_DIR)/baremalloc_newlib.o $(LIB_DIR)/baremalloc_picolibc.o $(LIB_DIR)/baremalloc_freertos.o $(PREFIX)/lib/)
	sed -e 's|@BM_VERSION@|$(BM_VERSION_STRING)|' -e 's|@BM_LINK_EXTRA@|$(INSTALL_LINK_EXTRA)|' \
	    -e 's|@BM_HAS_NEWLIB_GLUE@|$(INSTALL_GLUE)|' cmake/baremallocConfig.cmake.in > $(PREFIX)/lib/cmake/baremalloc/baremallocConfig.cmake
	sed -e 's|@BM_VERSION@|$(BM_VERSION_STRING)|' -e 's|@BM_LINK_EXTRA@|$(INSTALL_LINK_EXTRA)|' \
	    -e 's|@CMAKE_INSTALL_PREFIX@|$(abspath $(PREFIX))|' cmake/baremalloc.pc.in > $(PREFIX)/lib/pkgconfig/baremalloc.pc
	@echo "installed $(TARGET) into $(PREFIX)"

# Drop-in shared library with the standard names, for LD_PRELOAD.
build/host/libbaremalloc.so: $(HOST_SRCS) port/stdnames.c $(CORE_HDRS)
	@mkdir -p $(dir $@)
	$(HOST_CC) -std=c11 -O2 -g -fPIC -shared -fvisibility=hidden -ftls-model=initial-exec $(WARN) \
	    $(HOST_DEFS) -DBM_EXPORT_STD_NAMES $(HOST_INC) -Wl,-Bsymbolic -o $@ $(HOST_SRCS) port/stdnames.c -lpthread

so: build/host/libbaremalloc.so

# The preload layer (tools/run-preload-tests.sh): preload_check runs with
# LD_PRELOAD=build/host/libbaremalloc.so and links a small shared library whose constructor and
# destructor allocate before and after main. -fno-builtin: GCC must not drop malloc/free pairs.
PRELOAD_CFLAGS := -std=c11 -O2 -g -fno-builtin $(WARN) -Iinclude
build/host/preload/libpreload_ctor_lib.so: tests/preload/preload_ctor_lib.c tests/preload/preload.h include/baremalloc.h
	@mkdir -p $(dir $@)
	$(HOST_CC) $(PRELOAD_CFLAGS) -fPIC -shared -o $@ $< -ldl -lpthread
build/host/preload/preload_check: tests/preload/preload_check.c tests/preload/preload.h include/baremalloc.h \
                                  build/host/preload/libpreload_ctor_lib.so
	$(HOST_CC) $(PRELOAD_CFLAGS) -o $@ $< -Lbuild/host/preload -lpreload_ctor_lib -Wl,-rpath,'$$ORIGIN' -ldl -lpthread
# (preload_check does not link the allocator: it finds it in the process)
preload-tests-build: build/host/preload/preload_check build/host/libbaremalloc.so

bench: deps build/host/libbaremalloc.so
	@$(MAKE) --no-print-directory -f mk/bench.mk

# What make bench does, how long it takes and where its results go (mk/bench.mk, bench/run.py,
# bench/guest/run.py, docs/BENCHMARKS.md). The times were measured on this 2-core VM.
bench-help:
	@echo "make bench: the host benchmarks, then the QEMU guest benchmarks (mk/bench.mk; docs/BENCHMARKS.md)"
	@echo "  1. host: 15 workloads in bench/ (plain C, the standard malloc API), each run under baremalloc"
	@echo "     (LD_PRELOAD of build/host/libbaremalloc.so), glibc, jemalloc, mimalloc and tcmalloc,"
	@echo "     interleaved in rounds (5; QUICK=1: 3 at 0.4x the work), then callgrind's x86-64"
	@echo "     instruction counts (bench/run.py)"
	@echo "  2. guests: instructions per malloc/free on one trace under QEMU -icount (Cortex-M3:"
	@echo "     baremalloc, newlib, newlib-nano; AArch64: baremalloc, picolibc), the real-time traces"
	@echo "     against their bounds, and baremalloc's code size per target (bench/guest/run.py)"
	@echo "time, measured on this 2-CPU VM: make bench 6.1 minutes when it was quiet (host part 280 s,"
	@echo "  guests about 1.5 minutes), 8.3 minutes while other tests ran (host part 423 s: runs that"
	@echo "  other processes disturbed are repeated, for up to 300 s); make bench QUICK=1 2.8 minutes"
	@echo "  quiet (host part 94 s), 8.4 minutes busy (host 179 s; the QEMU guests slowed most);"
	@echo "  QUICK=1 GUEST=0 leaves the guests out (about 1.5 minutes)"
	@echo "prints: per workload a table, one row per allocator (millions of operations per second,"
	@echo "  the median over the rounds, min, max, spread, peak RSS, baremalloc/this ratio; churn:"
	@echo "  footprint; trim: the memory given back), the 2-thread scaling, callgrind's instructions"
	@echo "  per malloc+free pair and per operation (batch, xmalloc), PASS/MISS lines for the targets,"
	@echo "  then the guests' tables (Markdown)"
	@echo "results: build/bench/results.json (every run), build/bench/results.md (the host tables),"
	@echo "  build/bench/callgrind/*.out; the guests' builds and logs in build/guest-bench/;"
	@echo "  make -f mk/bench.mk doc | guest-doc rewrites the results in docs/BENCHMARKS.md"
	@echo "options: QUICK=1  ROUNDS=n  ONLY=small_lifo,churn (host only)  ALLOCATORS=baremalloc,mimalloc"
	@echo "  GUEST=0 (no guests)  WAIT_QUIET=s (wait for an idle machine); make -f mk/bench.mk guest"
	@echo "  runs the guests alone; python3 bench/run.py --list names the workloads"

clean:
	rm -rf build
