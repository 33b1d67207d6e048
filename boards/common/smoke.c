/*
 * Board smoke test (runs without the allocator): brings up every core, has each increment a
 * shared counter under the port's lock, checks the total, core ids, the heap bounds and (on
 * boards that define BOARD_HEAP_SBRK) board_sbrk from all cores at once.
 *   make -f mk/guest.mk BOARD=<board> GUEST_SRCS=boards/common/smoke.c B=build/smoke-<board> run
 * (its own B, or a later plain "make run" would find guest.elf up to date and rerun the smoke).
 * Uses only boards/board.h (board_printf included) and port/bm_port.h, so the same file
 * serves every board.
 * With more vCPUs than free host CPUs, the FIFO ticket lock (-DBM_LOCK_TICKET) crawls at ~1000
 * hand-overs per second (each waits for the one vCPU whose turn it is to be scheduled); that
 * measurement is why the port's default lock is test-and-test-and-set.
 */
#include <stdbool.h>
#include <stdint.h>

#include "board.h"
#include "bm_port.h"

#define INCREMENTS_PER_CORE 100000u
#define SMOKE_MAX_CORES 64u
#define MIN_HEAP_BYTES (64u << 20)
#define HEAP_ALIGNMENT (2u << 20)
#define SBRK_STEP 64u
#define SBRK_STEPS_PER_CORE 1000u

extern char __bm_heap_start[], __bm_heap_end[];

static bm_lock_t counter_lock = BM_LOCK_INITIALIZER;
static uint64_t counter; /* deliberately a plain variable: only the lock protects it */
static unsigned cores_arrived, cores_finished, core_id_mismatches;
#ifdef BOARD_HEAP_SBRK
static unsigned sbrk_failures;
#endif
static unsigned passed, failed;

static void check(bool ok, const char *what) {
    if (ok) {
        passed++;
        return;
    }
    failed++;
    board_printf("FAILED: %s\n", what);
}

static void run_on_this_core(unsigned core_id) {
    if (board_core_id() != core_id)
        __atomic_fetch_add(&core_id_mismatches, 1, __ATOMIC_RELAXED);
    /* Start together so the lock is contended from the first increment. */
    __atomic_fetch_add(&cores_arrived, 1, __ATOMIC_ACQ_REL);
    while (__atomic_load_n(&cores_arrived, __ATOMIC_ACQUIRE) < board_core_count())
        bm_port_cpu_relax();

    for (unsigned i = 0; i < INCREMENTS_PER_CORE; i++) {
        bm_lock_acquire(&counter_lock);
        counter++;
        bm_lock_release(&counter_lock);
    }
#ifdef BOARD_HEAP_SBRK
    for (unsigned i = 0; i < SBRK_STEPS_PER_CORE; i++)
        if (!board_sbrk(NULL, SBRK_STEP))
            __atomic_fetch_add(&sbrk_failures, 1, __ATOMIC_RELAXED);
#endif
    board_printf("core %u: %u locked increments done\n", core_id, INCREMENTS_PER_CORE);
    __atomic_fetch_add(&cores_finished, 1, __ATOMIC_RELEASE);
}

static void secondary_main(unsigned core_id) { run_on_this_core(core_id); }

int guest_main(void) {
    unsigned cores = board_core_count();
    board_printf("smoke test on %s: %u cores\n", board_name(), cores);
    check(cores >= 1 && cores <= SMOKE_MAX_CORES && cores <= BM_MAX_CORES, "core count in range");
    check(board_core_id() == 0, "boot core is core 0");

    uintptr_t heap_start = (uintptr_t)__bm_heap_start, heap_end = (uintptr_t)__bm_heap_end;
    check(heap_start % HEAP_ALIGNMENT == 0, "heap start 2 MiB aligned");
    check(heap_end > heap_start && heap_end - heap_start >= MIN_HEAP_BYTES,
          "heap of 64 MiB or more");
#ifdef BOARD_HEAP_SBRK
    char *first_break = board_sbrk(NULL, 0);
    check(first_break == __bm_heap_start, "sbrk starts at the heap start");
    check(board_sbrk(NULL, heap_end - heap_start + 1) == NULL, "sbrk past the heap end fails");
    check(board_sbrk(NULL, 0) == first_break, "a failed sbrk leaves the break alone");
#endif

    board_start_secondaries(secondary_main);
    run_on_this_core(0);
    while (__atomic_load_n(&cores_finished, __ATOMIC_ACQUIRE) < cores)
        bm_port_cpu_relax();

    check(core_id_mismatches == 0, "board_core_id() matches the id passed to each core");
    check(counter == (uint64_t)cores * INCREMENTS_PER_CORE, "locked counter total");
    /* At most 64 cores x 100000: fits an unsigned long on every board. */
    board_printf("counter %lu, expected %lu\n", (unsigned long)counter,
                 (unsigned long)cores * INCREMENTS_PER_CORE);
#ifdef BOARD_HEAP_SBRK
    check(sbrk_failures == 0, "concurrent sbrk never failed");
    uintptr_t sbrk_granted = (uintptr_t)cores * SBRK_STEPS_PER_CORE * SBRK_STEP;
    check((char *)board_sbrk(NULL, 0) == first_break + sbrk_granted,
          "concurrent sbrk moved the break by exactly what was asked");
#endif

    board_printf("%u passed, %u failed\n", passed, failed);
    return failed ? 1 : 0;
}
