/*
 * Bring-up test for any SMP board, without the allocator: every core increments a shared
 * counter under the port's ticket lock, and the total must come out exact. A lost update
 * means broken exclusives (MMU/caches off, or wrong memory attributes on some core) or broken
 * lock code. Build it instead of the guest tests with
 *   make -f mk/guest.mk BOARD=<board> GUEST_SRCS=boards/virt-aarch64/smoke.c run
 *
 * Cores contend two at a time, pair after pair, and then all at once for a short round. Why
 * not all at once throughout: the ticket lock hands over in FIFO order, and when QEMU runs
 * more vCPUs than the host has CPUs, the vCPU holding the next ticket is often descheduled,
 * so every hand-over waits for the host scheduler (measured on a 2-CPU host: 4 vCPUs did not
 * finish 4 x 10^5 contended increments in 200 s; a pair does 2 x 10^5 in 0.1 s).
 */
#include "bm_port.h"
#include "board.h"

#ifndef SMOKE_INCREMENTS
#define SMOKE_INCREMENTS 100000u /* per core, in its pair's round */
#endif
#ifndef SMOKE_ALL_CORES_INCREMENTS
#define SMOKE_ALL_CORES_INCREMENTS 1000u /* per core, in the round where all contend */
#endif

static bm_lock_t counter_lock = BM_LOCK_INITIALIZER;
static unsigned long counter;
static unsigned cores;
static unsigned round_now;   /* pair 0, pair 1, ..., then the all-core round */
static unsigned arrived[BM_MAX_CORES + 1], finished[BM_MAX_CORES + 1]; /* per round */
static unsigned all_done;
static unsigned contended[BM_MAX_CORES];

static void put_text(const char *text) {
    while (*text)
        board_putc(*text++);
}

static void put_decimal(unsigned long value) {
    char digits[24];
    unsigned n = 0;
    do
        digits[n++] = (char)('0' + value % 10);
    while (value /= 10);
    while (n)
        board_putc(digits[--n]);
}

/* Runs one round: waits for its turn, starts together with the round's other members (a lock
 * that is never contended proves nothing), counts, and the last one out opens the next round. */
static void run_round(unsigned core_id, unsigned round, unsigned members, unsigned increments) {
    while (__atomic_load_n(&round_now, __ATOMIC_ACQUIRE) != round)
        bm_port_cpu_relax();
    __atomic_fetch_add(&arrived[round], 1, __ATOMIC_RELAXED);
    while (__atomic_load_n(&arrived[round], __ATOMIC_RELAXED) != members)
        bm_port_cpu_relax();
    for (unsigned i = 0; i < increments; i++) {
        if (bm_lock_acquire(&counter_lock))
            contended[core_id]++;
        counter++; /* plain access: only the lock makes this exact */
        bm_lock_release(&counter_lock);
    }
    if (__atomic_add_fetch(&finished[round], 1, __ATOMIC_ACQ_REL) == members)
        __atomic_store_n(&round_now, round + 1, __ATOMIC_RELEASE);
}

static void count(unsigned core_id) {
    unsigned pairs = (cores + 1) / 2;
    unsigned pair = core_id / 2;
    unsigned pair_members = pair * 2 + 1 < cores ? 2 : 1;
    run_round(core_id, pair, pair_members, SMOKE_INCREMENTS);
    run_round(core_id, pairs, cores, SMOKE_ALL_CORES_INCREMENTS);
    __atomic_fetch_add(&all_done, 1, __ATOMIC_RELEASE);
}

int guest_main(void) {
    cores = board_core_count();
    if (cores > BM_MAX_CORES)
        cores = BM_MAX_CORES;
    put_text("smoke: ");
    put_text(board_name());
    put_text(", ");
    put_decimal(cores);
    put_text(" cores\n");
    if (cores > 1)
        board_start_secondaries(count);
    count(0);
    while (__atomic_load_n(&all_done, __ATOMIC_ACQUIRE) != cores)
        bm_port_cpu_relax();

    unsigned long expected = (unsigned long)cores * (SMOKE_INCREMENTS + SMOKE_ALL_CORES_INCREMENTS);
    unsigned long waits = 0;
    for (unsigned id = 0; id < cores; id++)
        waits += contended[id];
    put_text("smoke: counter ");
    put_decimal(counter);
    put_text(" expected ");
    put_decimal(expected);
    put_text(", contended acquisitions ");
    put_decimal(waits);
    put_text(counter == expected ? "\n1 passed, 0 failed\n" : "\n0 passed, 1 failed\n");
    return counter == expected ? 0 : 1;
}
