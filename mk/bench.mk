# Allocator benchmarks: make -f mk/bench.mk [run|build|doc|clean] [QUICK=1] [ROUNDS=n] [ONLY=a,b]
#   run (default)  build the workloads into build/bench/ and run bench/run.py, printing the tables
#   build          only build the workloads
#   doc            run, then rewrite the results section of docs/BENCHMARKS.md
#   QUICK=1        3 rounds at 0.4x the operations (1-2 minutes instead of about 4)
#   ROUNDS=n, ONLY=small_lifo,churn, ALLOCATORS=baremalloc,mimalloc: passed to bench/run.py
#   WAIT_QUIET=s   before each round wait up to s seconds for other processes to go idle
#                  (doc defaults to 120: published numbers should come from a quiet machine)
#   guest          QEMU guests (bench/guest/run.py, about 1 minute): instructions per malloc/free
#                  on one trace on the Cortex-M3 and AArch64 boards (baremalloc, newlib,
#                  newlib-nano, picolibc), and baremalloc's code size per target; run also
#                  after the host tables by `run` unless GUEST=0 (or ONLY is given)
#   guest-doc      guest, then rewrite the guest results section of docs/BENCHMARKS.md
# baremalloc is measured if build/host/libbaremalloc.so exists (BAREMALLOC_LIB=... to override);
# this file does not build it, so the root Makefile's bench target should depend on it.
# Workloads are plain hosted C11 programs using the standard malloc API only.

BENCH_DIR := build/bench
BENCH_CC ?= gcc
BENCH_CFLAGS := -std=c11 -O2 -g -pthread -Wall -Wextra -Werror
BENCH_PROGRAMS := small batch xmalloc handoff mixed_realloc large threads prodcons larson churn trim fastpath which_malloc
BENCH_BINS := $(addprefix $(BENCH_DIR)/,$(BENCH_PROGRAMS))
BAREMALLOC_LIB ?= build/host/libbaremalloc.so
PYTHON ?= python3

BENCH_RUN_ARGS = --bin-dir $(BENCH_DIR) --lib $(BAREMALLOC_LIB) \
    $(if $(QUICK),--quick) $(if $(ROUNDS),--rounds $(ROUNDS)) \
    $(if $(ONLY),--only $(ONLY)) $(if $(ALLOCATORS),--allocators $(ALLOCATORS)) \
    $(if $(WAIT_QUIET),--wait-quiet $(WAIT_QUIET))

.PHONY: run build doc clean guest guest-doc
GUEST ?= $(if $(ONLY),0,1)
run: build
	$(PYTHON) bench/run.py $(BENCH_RUN_ARGS)
ifneq ($(GUEST),0)
	$(PYTHON) bench/guest/run.py
endif

guest:
	$(PYTHON) bench/guest/run.py

guest-doc:
	$(PYTHON) bench/guest/run.py --verify-min --update-doc docs/BENCHMARKS.md

build: $(BENCH_BINS)

doc: WAIT_QUIET ?= 120
doc: build
	$(PYTHON) bench/run.py $(BENCH_RUN_ARGS) --update-doc docs/BENCHMARKS.md

$(BENCH_DIR)/%: bench/%.c bench/bench_util.h bench/bench_threads.h
	@mkdir -p $(BENCH_DIR)
	$(BENCH_CC) $(BENCH_CFLAGS) -o $@ $< $(BENCH_LDLIBS)
# trim finds each allocator's purge call (bm_ctl, mallctl, mi_collect, ...) with dlsym
$(BENCH_DIR)/trim: BENCH_LDLIBS := -ldl

clean:
	rm -rf $(BENCH_DIR)
