/*
 * boards/board.h for mps2-an521 (QEMU: the SSE-200 with two Cortex-M33, both in Secure state).
 *
 * Console: semihosting SYS_WRITEC, the channel newlib's stdio (rdimon) writes to, so the
 * guest's board_putc output and printf output interleave in program order. Exit: newlib's
 * exit(), which ends with semihosting SYS_EXIT_EXTENDED (QEMU exits with the status).
 *
 * Cores: core ids are the SSE-200's CPU_IDENTITY register (0 on CPU0, 1 on CPU1, each CPU
 * sees its own). CPU1 is held in reset by the system control block's CPUWAIT bit 1 (QEMU's
 * reset value for the SSE-200 is 2); board_start_secondaries writes CPU1's Secure vector
 * table to INITSVTOR1 and clears that bit, and QEMU then resets CPU1 from the new table.
 * While both cores run the guest's SMP stress, SysTick fires on each of them and its handler
 * allocates and frees (tick.c); the checks run when the guest returns (__wrap_guest_main).
 *
 * Built with -DBOARD_MTTCG (the "mttcg" variant of tools/run-guest-tests.sh), the board runs
 * without -icount, so QEMU runs the two vCPUs on two host threads, truly at once; tests/firmware
 * (which times instructions through -icount) is not linked, and main below runs the guest and
 * the board's checks alone.
 */
#include <stdbool.h>
#include <stdlib.h>

#include "baremalloc.h"
#include "board.h"
#include "board_local.h"
#include "../../tests/firmware/firmware.h" /* firmware_check: the board's checks join its tally */

/* Spins core 0 waits for core 1 to stop its tick after the guest returned; far more than
 * that takes (a few hundred instructions), and finite so a lost core fails the run. */
#define CORE1_DONE_SPINS 50000000u

void board_exit(int status) { exit(status); }

/* O(1). Both cores exist from reset; CPU1 just waits to be released. */
unsigned board_core_count(void) { return BOARD_CORES; }

/* O(1): one load from the calling CPU's own CPU_IDENTITY block (dense: 0 and 1). Any context,
 * masked or not; no lock. */
unsigned board_core_id(void) { return BOARD_CPUID; }

const char *board_name(void) { return BOARD_MPS2_NAME; }

static void (*secondary_entry)(unsigned core_id);
static bool secondaries_started;
static unsigned core1_done;

/* O(1). Releases CPU1 into entry(1) and starts core 0's allocating tick. A second call does
 * nothing (CPU1 runs one entry per boot). Core 0, thread mode; not from an interrupt. */
void board_start_secondaries(void (*entry)(unsigned core_id)) {
    if (secondaries_started || entry == NULL)
        return;
    secondaries_started = true;
    /* CPU1 reads it only after its release, so the store and its acquire load pair up. */
    __atomic_store_n(&secondary_entry, entry, __ATOMIC_RELEASE);
    BOARD_SYSCTL_INITSVTOR1 = (uint32_t)(uintptr_t)board_vectors_smp;
    __asm__ volatile("dsb" ::: "memory");
    /* Clearing the bit resets CPU1 from INITSVTOR1 (QEMU: iotkit-sysctl cpuwait_write). */
    BOARD_SYSCTL_CPUWAIT &= ~(1u << 1);
    board_tick_start(0);
}

/* CPU1 after reset (startup.c), on its own stack: ticks on, the guest's entry, ticks off and
 * its cache back in the arenas, then parked until core 0 ends the run. */
void board_secondary_main(void) __attribute__((noreturn));
void board_secondary_main(void) {
    unsigned id = board_core_id();
    void (*entry)(unsigned) = __atomic_load_n(&secondary_entry, __ATOMIC_ACQUIRE);
    board_tick_start(id);
    if (entry != NULL)
        entry(id);
    board_tick_stop(id);
    bm_cache_flush();
    __atomic_store_n(&core1_done, 1, __ATOMIC_RELEASE);
    for (;;)
        __asm__ volatile("wfe");
}

/*
 * tests/firmware's main calls guest_main; the link (board.mk: --wrap=guest_main) sends that
 * call here, so the board can check what its ticks did once the guest's SMP stress is over
 * and add those checks to the firmware's tally. O(ticks) for the reports. Core 0, once.
 */
int __real_guest_main(void) __attribute__((weak));
int __wrap_guest_main(void);
int __wrap_guest_main(void) {
    if (__real_guest_main == NULL)
        return 0; /* no guest program linked: board checks only */
    if (board_core_id() != 0) {
        board_puts(BOARD_MPS2_NAME ": main does not run on CPU0\n");
        return 1;
    }
    int status = __real_guest_main();
    if (!secondaries_started) {
        firmware_check(false, "the guest started CPU1 (board_start_secondaries)");
        return status;
    }
    board_tick_stop(0);
    unsigned spins = 0;
    while (!__atomic_load_n(&core1_done, __ATOMIC_ACQUIRE) && spins < CORE1_DONE_SPINS)
        spins++;
    firmware_check(__atomic_load_n(&core1_done, __ATOMIC_ACQUIRE) == 1,
                   "CPU1 (released through CPUWAIT) ran the guest's SMP entry and stopped its tick");
    firmware_check(board_tick_report(0), "SysTick on core 0 allocated and freed during the SMP stress");
    firmware_check(board_tick_report(1), "SysTick on core 1 allocated and freed during the SMP stress");
    firmware_check(bm_check() == 0, "bm_check is clean after both cores' ticks stopped");
    return status;
}

#ifdef BOARD_MTTCG
#include <stdio.h>

static unsigned checks_passed, checks_failed;

/* O(1) plus the print. tests/firmware's firmware_check, for the build without it. Core 0,
 * thread mode. */
bool firmware_check(bool ok, const char *what) {
    if (ok)
        checks_passed++;
    else
        checks_failed++;
    board_printf("%s: %s\n", ok ? "ok" : "FAIL", what);
    return ok;
}

/* The guest (through __wrap_guest_main: the SMP stress with both cores' ticks, then the
 * board's checks), one "N passed, M failed" line over both, and the exit status: 0 pass, 1 fail. */
int main(void) {
    int guest_status = guest_main();
    unsigned guest_passed = 0, guest_failed = 0;
    firmware_check(guest_status == 0, "tests/guest (guest_main) returned 0");
    if (!board_console_summary(&guest_passed, &guest_failed))
        firmware_check(false, "tests/guest printed its \"N passed, M failed\" line");
    unsigned failed = guest_failed + checks_failed;
    board_printf("tests/guest: %u passed, %u failed; board checks: %u passed, %u failed\n", guest_passed,
                 guest_failed, checks_passed, checks_failed);
    board_printf("%u passed, %u failed\n", guest_passed + checks_passed, failed);
    return failed == 0 ? 0 : 1;
}
#endif
