/*
 * What QEMU's Arm virt machine gives both of its boards (virt-aarch64, virt-armv7): the PL011
 * console, the sbrk-like heap, and core bring-up through PSCI. The boot core counts the cores
 * with AFFINITY_INFO, then starts each with CPU_ON at the board's board_secondary_entry
 * (start.S), which sets up the core and calls board_secondary_main. The board provides
 * board_psci_call (its SMCCC conduit) and board_exit. PSCI function IDs are the SMC64 ones on
 * AArch64 and SMC32 on AArch32.
 */
#include <stdbool.h>
#include <stdint.h>

#include "board.h"
#include "board_local.h"

#if defined(__aarch64__)
#define PSCI_CPU_ON 0xC4000003u
#define PSCI_AFFINITY_INFO 0xC4000004u
#define MPIDR_AFFINITY_MASK 0xFF00FFFFFFul /* Aff3, Aff2, Aff1, Aff0 */
static uintptr_t own_mpidr(void) {
    uint64_t mpidr;
    __asm__("mrs %0, mpidr_el1" : "=r"(mpidr));
    return mpidr & MPIDR_AFFINITY_MASK;
}
#else
#define PSCI_CPU_ON 0x84000003u
#define PSCI_AFFINITY_INFO 0x84000004u
#define MPIDR_AFFINITY_MASK 0x00FFFFFFu /* Aff2, Aff1, Aff0 */
static uintptr_t own_mpidr(void) {
    uint32_t mpidr;
    __asm__("mrc p15, 0, %0, c0, c0, 5" : "=r"(mpidr));
    return mpidr & MPIDR_AFFINITY_MASK;
}
#endif
#define PSCI_INVALID_PARAMETERS (-2)
#define PL011_BASE 0x09000000u
#define PL011_DR 0x00u
#define PL011_FR 0x18u
#define PL011_FR_TXFF (1u << 5)
#define EXIT_STATUS_BOARD_FAULT 3 /* failed bring-up: distinct from test results */

long board_psci_call(unsigned long function, unsigned long arg1, unsigned long arg2,
                     unsigned long arg3);
void board_secondary_entry(void); /* start.S */
void board_primary_main(void) __attribute__((noreturn));
void board_secondary_main(unsigned core_id);

extern char __bm_heap_start[], __bm_heap_end[];

static uintptr_t core_mpidr[BOARD_MAX_CORES];
static unsigned core_count = 1;
static void (*secondary_entry)(unsigned core_id);

/* Counts the cores PSCI knows of without starting them: AFFINITY_INFO answers
 * INVALID_PARAMETERS for an MPIDR that does not exist. QEMU numbers cores Aff0 = 0, 1, ...
 * within clusters of 8 (GICv2) or 16 (GICv3), so scan each cluster until a hole, and stop at
 * the first empty cluster. */
static void discover_cores(void) {
    uintptr_t self = own_mpidr();
    core_mpidr[0] = self;
    for (uintptr_t aff1 = 0; aff1 < 256 && core_count < BOARD_MAX_CORES; aff1++) {
        uintptr_t aff0;
        for (aff0 = 0; aff0 < 256 && core_count < BOARD_MAX_CORES; aff0++) {
            uintptr_t mpidr = aff1 << 8 | aff0;
            if (board_psci_call(PSCI_AFFINITY_INFO, mpidr, 0, 0) == PSCI_INVALID_PARAMETERS)
                break;
            if (mpidr != self)
                core_mpidr[core_count++] = mpidr;
        }
        if (aff0 == 0)
            break;
    }
}

void board_putc(char c) {
    while (*(volatile uint32_t *)(uintptr_t)(PL011_BASE + PL011_FR) & PL011_FR_TXFF)
        ;
    *(volatile uint32_t *)(uintptr_t)(PL011_BASE + PL011_DR) = (uint8_t)c;
}

/* Grows through the linker-script heap; used when built with -DBOARD_HEAP_SBRK. */
void *board_sbrk(void *ctx, uintptr_t incr) {
    static uintptr_t brk;
    (void)ctx;
    uintptr_t old = __atomic_load_n(&brk, __ATOMIC_RELAXED);
    do {
        uintptr_t base = old ? old : (uintptr_t)__bm_heap_start;
        if (incr > (uintptr_t)__bm_heap_end - base)
            return 0;
        if (__atomic_compare_exchange_n(&brk, &old, base + incr, true, __ATOMIC_RELAXED,
                                        __ATOMIC_RELAXED))
            return (void *)base;
    } while (true);
}

unsigned board_core_count(void) { return core_count; }

void board_primary_main(void) {
    discover_cores();
    board_exit(guest_main());
}

void board_start_secondaries(void (*entry)(unsigned core_id)) {
    /* The secondaries read this only after their MMU and caches are on, so the release store
     * and their acquire load meet in coherent memory. */
    __atomic_store_n(&secondary_entry, entry, __ATOMIC_RELEASE);
    for (unsigned id = 1; id < core_count; id++) {
        long status = board_psci_call(PSCI_CPU_ON, core_mpidr[id],
                                      (uintptr_t)board_secondary_entry, id);
        if (status != 0) {
            board_printf("[%s] PSCI CPU_ON failed for MPIDR 0x%lx, status %ld\n", board_name(),
                         (unsigned long)core_mpidr[id], status);
            board_exit(EXIT_STATUS_BOARD_FAULT);
        }
    }
}

void board_secondary_main(unsigned core_id) {
    void (*entry)(unsigned) = __atomic_load_n(&secondary_entry, __ATOMIC_ACQUIRE);
    entry(core_id);
}
