/*
 * virt-riscv64 board (QEMU virt, -bios none, M-mode): hart bring-up, console, exit, and the
 * sbrk-like heap source (BOARD_HEAP_SBRK, see port/baremetal.c).
 *
 * Boot: every hart enters start.S at once. Hart 0 clears .bss, counts the harts in the device
 * tree and waits until the others have checked in; they then sleep in wfi (not a spin loop, so
 * idle vCPUs cost the host nothing) with only the machine software interrupt enabled, until
 * board_start_secondaries raises it through the CLINT. mstatus.MIE stays clear throughout: wfi
 * wakes on a pending enabled interrupt without taking it.
 *
 * Exit: the SiFive test device at 0x100000; 0x5555 makes QEMU exit 0, (code << 16) | 0x3333
 * exit with code.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "board.h"
#include "bm_port.h"
#include "board_local.h"
#include "line_console.h"

#define UART0 0x10000000ul
#define UART_LSR 5
#define UART_LSR_THR_EMPTY 0x20
#define TEST_DEVICE 0x100000ul
#define TEST_PASS 0x5555u
#define TEST_FAIL 0x3333u
#define CLINT_MSIP 0x2000000ul /* one 32-bit word per hart */
#define CLINT_MTIME 0x200BFF8ul
#define MTIME_HZ 10000000u /* virt's timebase-frequency */
#define MIE_MSIE (1ul << 3)
#define TRAP_STATUS 3

#define HART_CHECKIN_TIMEOUT_MS 5000u /* count known: only a hart that never runs waits it out */
#define HART_PROBE_TIMEOUT_MS 200u    /* no device tree: count whatever checks in by then */
#define STACK_CANARY 0x57ac4ca4a7157ac4ull

#define FDT_MAGIC 0xd00dfeedu
#define FDT_BEGIN_NODE 1u
#define FDT_END_NODE 2u
#define FDT_PROP 3u
#define FDT_NOP 4u
#define FDT_END 9u

extern char __bm_heap_start[], __bm_heap_end[];

unsigned char rv_stacks[BOARD_MAX_CORES][BOARD_STACK_SIZE] __attribute__((aligned(4096)));
static unsigned rv_core_count = 1;
static uint32_t rv_harts_checked_in;
static uint32_t rv_secondaries_released;
static uint32_t rv_start_requested;
static void (*rv_secondary_entry)(unsigned core_id);
static bm_lock_t rv_sbrk_lock = BM_LOCK_INITIALIZER;
static char *rv_heap_break = __bm_heap_start;

static inline volatile uint32_t *mmio32(uintptr_t address) { return (volatile uint32_t *)address; }
static inline volatile uint8_t *mmio8(uintptr_t address) { return (volatile uint8_t *)address; }
static inline uint64_t mtime(void) { return *(volatile uint64_t *)CLINT_MTIME; }

/* ------------------------------------------------------------------------------------------ */
/* Board interface                                                                             */
/* ------------------------------------------------------------------------------------------ */

unsigned board_core_id(void) {
    unsigned long id;
    __asm__("mv %0, tp" : "=r"(id)); /* start.S: tp = hart id, dense 0..n-1 on virt */
    return (unsigned)id;
}

unsigned board_core_count(void) { return rv_core_count; }

const char *board_name(void) { return "virt-riscv64"; }

void line_console_putc(char c) {
    while (!(*mmio8(UART0 + UART_LSR) & UART_LSR_THR_EMPTY))
        bm_port_cpu_relax();
    *mmio8(UART0) = (uint8_t)c;
}

/* The heap grows by moving a break through [__bm_heap_start, __bm_heap_end); the lock makes
 * concurrent callers get disjoint ranges. Returns the old break, or NULL if incr does not fit. */
void *board_sbrk(void *ctx, uintptr_t incr) {
    (void)ctx;
    bm_irq_state_t irq = bm_port_irq_save();
    bm_lock_acquire(&rv_sbrk_lock);
    char *old_break = rv_heap_break;
    void *granted = NULL;
    if (incr <= (uintptr_t)(__bm_heap_end - old_break)) {
        rv_heap_break = old_break + incr;
        granted = old_break;
    }
    bm_lock_release(&rv_sbrk_lock);
    bm_port_irq_restore(irq);
    return granted;
}

static bool rv_stacks_intact(void) {
    bool intact = true;
    for (unsigned core = 0; core < rv_core_count; core++) {
        if (*(volatile uint64_t *)(void *)rv_stacks[core] != STACK_CANARY) {
            line_console_printf("[virt-riscv64] core %u overflowed its %u KiB stack\n", core,
                              BOARD_STACK_SIZE / 1024);
            intact = false;
        }
    }
    return intact;
}

void board_exit(int status) {
    bm_port_irq_save(); /* for good: nothing may run on this hart after the exit */
    line_console_end_own_line();
    if (!rv_stacks_intact() && status == 0)
        status = 1;
    if (status != 0) {
        line_console_printf("[virt-riscv64] core %u: exit status %d\n", board_core_id(), status);
        /* QEMU's exit status keeps the low 8 bits: never let a failure read as 0. */
        uint32_t code = (uint32_t)status & 0xff ? (uint32_t)status & 0xff : 1;
        *mmio32(TEST_DEVICE) = code << 16 | TEST_FAIL;
    } else {
        *mmio32(TEST_DEVICE) = TEST_PASS;
    }
    for (;;)
        __asm__ volatile("wfi");
}

void board_start_secondaries(void (*entry)(unsigned core_id)) {
    if (__atomic_exchange_n(&rv_start_requested, 1, __ATOMIC_ACQ_REL))
        return; /* the harts were released already; they cannot run a second entry */
    rv_secondary_entry = entry;
    __atomic_store_n(&rv_secondaries_released, 1, __ATOMIC_SEQ_CST);
    __asm__ volatile("fence w, o" ::: "memory"); /* the flag is visible before the interrupt */
    for (unsigned hart = 1; hart < rv_core_count; hart++)
        *mmio32(CLINT_MSIP + 4 * hart) = 1;
}

void rv_trap(unsigned long cause, unsigned long pc, unsigned long value) {
    line_console_end_own_line();
    line_console_printf("[virt-riscv64] core %u: trap, mcause 0x%lx, mepc 0x%lx, mtval 0x%lx\n",
                      board_core_id(), cause, pc, value);
    board_exit(TRAP_STATUS);
}

/* ------------------------------------------------------------------------------------------ */
/* Device tree: how many harts, and where the RAM holding the heap ends.                       */
/* ------------------------------------------------------------------------------------------ */

struct rv_platform {
    unsigned harts;
    uint64_t heap_ram_end; /* end of the memory range holding __bm_heap_start; 0 if unknown */
};

static uint32_t be32(const uint8_t *bytes) {
    return (uint32_t)bytes[0] << 24 | (uint32_t)bytes[1] << 16 | (uint32_t)bytes[2] << 8 | bytes[3];
}

static uint64_t be_cells(const uint8_t *bytes, uint32_t cells) {
    uint64_t value = 0;
    for (uint32_t i = 0; i < cells; i++)
        value = value << 32 | be32(bytes + 4 * i);
    return value;
}

static bool starts_with(const char *text, const char *prefix) {
    while (*prefix)
        if (*text++ != *prefix++)
            return false;
    return true;
}

static bool equals(const char *a, const char *b) {
    while (*a && *a == *b)
        a++, b++;
    return *a == *b;
}

static size_t padded(size_t length) { return (length + 3) & ~(size_t)3; }

/* Returns false if there is no valid device tree at fdt. */
static bool rv_scan_device_tree(const uint8_t *fdt, struct rv_platform *platform) {
    if (!fdt || be32(fdt) != FDT_MAGIC)
        return false;
    const uint8_t *token_at = fdt + be32(fdt + 8), *end = token_at + be32(fdt + 36);
    const char *strings = (const char *)fdt + be32(fdt + 12);
    uint32_t address_cells = 2, size_cells = 1; /* the spec's defaults for the root */
    unsigned depth = 0;
    bool in_cpus = false, in_cpu = false, cpu_enabled = false, in_memory = false;
    platform->harts = 0;
    platform->heap_ram_end = 0;
    while (token_at + 4 <= end) {
        uint32_t token = be32(token_at);
        token_at += 4;
        if (token == FDT_BEGIN_NODE) {
            const char *name = (const char *)token_at;
            size_t length = 0;
            while (name[length])
                length++;
            token_at += padded(length + 1);
            depth++; /* the root is depth 1, its children depth 2 */
            if (depth == 2 && equals(name, "cpus"))
                in_cpus = true;
            else if (depth == 3 && in_cpus && starts_with(name, "cpu@"))
                in_cpu = cpu_enabled = true;
            else if (depth == 2 && (equals(name, "memory") || starts_with(name, "memory@")))
                in_memory = true;
        } else if (token == FDT_END_NODE) {
            if (depth == 3 && in_cpu) {
                platform->harts += cpu_enabled;
                in_cpu = false;
            } else if (depth == 2) {
                in_cpus = in_memory = false;
            }
            if (depth-- == 0)
                return false;
        } else if (token == FDT_PROP) {
            uint32_t length = be32(token_at);
            const char *property = strings + be32(token_at + 4);
            const uint8_t *value = token_at + 8;
            token_at += 8 + padded(length);
            if (depth == 1 && equals(property, "#address-cells"))
                address_cells = be32(value);
            else if (depth == 1 && equals(property, "#size-cells"))
                size_cells = be32(value);
            else if (in_cpu && depth == 3 && equals(property, "status"))
                cpu_enabled = equals((const char *)value, "okay") ||
                              equals((const char *)value, "ok");
            else if (in_memory && depth == 2 && equals(property, "reg") && address_cells <= 2 &&
                     size_cells <= 2) {
                uint32_t entry_bytes = 4 * (address_cells + size_cells);
                for (uint32_t at = 0; at + entry_bytes <= length; at += entry_bytes) {
                    uint64_t base = be_cells(value + at, address_cells);
                    uint64_t size = be_cells(value + at + 4 * address_cells, size_cells);
                    uintptr_t heap = (uintptr_t)__bm_heap_start;
                    if (base <= heap && heap < base + size)
                        platform->heap_ram_end = base + size;
                }
            }
        } else if (token == FDT_END) {
            return true;
        } else if (token != FDT_NOP) {
            return false;
        }
    }
    return false;
}

/* ------------------------------------------------------------------------------------------ */
/* Boot                                                                                        */
/* ------------------------------------------------------------------------------------------ */

static uint32_t rv_wait_for_checkins(uint32_t target, unsigned timeout_ms) {
    uint64_t deadline = mtime() + (uint64_t)timeout_ms * (MTIME_HZ / 1000);
    while (__atomic_load_n(&rv_harts_checked_in, __ATOMIC_ACQUIRE) < target && mtime() < deadline)
        bm_port_cpu_relax();
    return __atomic_load_n(&rv_harts_checked_in, __ATOMIC_ACQUIRE);
}

void rv_boot_main(const void *device_tree) {
    for (unsigned core = 0; core < BOARD_MAX_CORES; core++)
        *(volatile uint64_t *)(void *)rv_stacks[core] = STACK_CANARY;

    struct rv_platform platform;
    bool described = rv_scan_device_tree(device_tree, &platform) && platform.harts > 0;
    if (described && platform.heap_ram_end && (uintptr_t)__bm_heap_end > platform.heap_ram_end) {
        line_console_printf("[virt-riscv64] heap ends at 0x%lx but RAM at 0x%lx: "
                          "run QEMU with more -m\n",
                          (unsigned long)(uintptr_t)__bm_heap_end,
                          (unsigned long)platform.heap_ram_end);
        board_exit(1);
    }
    unsigned expected = described ? platform.harts : BOARD_MAX_CORES;
    if (expected > BOARD_MAX_CORES) {
        line_console_printf("[virt-riscv64] %u harts described, using the first %u\n", expected,
                          BOARD_MAX_CORES);
        expected = BOARD_MAX_CORES;
    }
    uint32_t secondaries = rv_wait_for_checkins(expected - 1, described ? HART_CHECKIN_TIMEOUT_MS
                                                                        : HART_PROBE_TIMEOUT_MS);
    if (described && secondaries < expected - 1) {
        /* Core ids are hart ids: with a hart missing they would not be dense. */
        line_console_printf("[virt-riscv64] only %u of %u harts started\n", secondaries + 1,
                          expected);
        board_exit(1);
    }
    rv_core_count = 1 + (secondaries < expected - 1 ? secondaries : expected - 1);

    line_console_printf("[virt-riscv64] %u harts in M-mode, heap %lu MiB at 0x%lx (sbrk)\n",
                      rv_core_count, (unsigned long)((__bm_heap_end - __bm_heap_start) >> 20),
                      (unsigned long)(uintptr_t)__bm_heap_start);
    board_exit(guest_main());
}

void rv_secondary_main(unsigned hart) {
    __atomic_fetch_add(&rv_harts_checked_in, 1, __ATOMIC_SEQ_CST);
    __asm__ volatile("csrs mie, %0" ::"r"(MIE_MSIE));
    while (!__atomic_load_n(&rv_secondaries_released, __ATOMIC_ACQUIRE) || hart >= rv_core_count)
        __asm__ volatile("wfi" ::: "memory");
    *mmio32(CLINT_MSIP + 4 * hart) = 0;
    __asm__ volatile("csrc mie, %0" ::"r"(MIE_MSIE));
    rv_secondary_entry(hart);
    for (;;) /* entry returned: park (mie is clear, so nothing wakes this hart for good) */
        __asm__ volatile("wfi");
}
