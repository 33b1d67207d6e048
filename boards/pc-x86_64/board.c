/*
 * pc-x86_64 board (QEMU pc, multiboot v1): per-CPU data, interrupts, AP bring-up, exit.
 *
 * Boot: start.S takes the boot core to long mode and calls pc_boot_main, which counts the CPUs
 * in the ACPI MADT, starts the APs with INIT-SIPI-SIPI and waits until they have checked in.
 * Each AP reaches long mode through the same page tables, takes a dense core id, and parks in
 * hlt (not a spin loop, so idle vCPUs cost the host nothing) until board_start_secondaries sends
 * the wake IPI. The boot core and released cores run with interrupts masked.
 *
 * Exit: isa-debug-exit at port 0xf4 makes QEMU exit with (value << 1) | 1, so pass is
 * BOARD_EXIT_PASS -> 33 and fail BOARD_EXIT_FAIL -> 35 (board.mk's QEMU_PASS must match).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "board.h"
#include "bm_port.h"
#include "board_local.h"
#include "line_console.h"

#define BOARD_EXIT_PORT 0xf4
#define BOARD_EXIT_PASS 0x10
#define BOARD_EXIT_FAIL 0x11
#define BOARD_FAULT_STATUS 3 /* guest status reported when a CPU exception kills the run */

#define MSR_APIC_BASE 0x1B
#define MSR_GS_BASE 0xC0000101
#define APIC_BASE_ENABLE (1u << 11)
#define LAPIC_EOI 0x0B0
#define LAPIC_SVR 0x0F0
#define LAPIC_ICR_LOW 0x300
#define LAPIC_ICR_HIGH 0x310
#define LAPIC_SVR_ENABLE 0x100
#define ICR_ALL_BUT_SELF (3u << 18)
#define ICR_LEVEL_ASSERT (1u << 14)
#define ICR_DELIVERY_PENDING (1u << 12)
#define ICR_FIXED 0x000u
#define ICR_INIT 0x500u
#define ICR_STARTUP 0x600u

#define PIT_HZ 1193182u
#define AP_CHECKIN_TIMEOUT_MS 5000u /* MADT count known: only an AP that never starts waits */
#define AP_PROBE_TIMEOUT_MS 200u    /* no MADT: count whatever starts within this time */
#define BOARD_TICKETS_CLOSED 0x40000000u
#define STACK_CANARY 0x57ac4ca4a7157ac4ull

#define MULTIBOOT_BOOTLOADER_MAGIC 0x2BADB002u
#define MULTIBOOT_INFO_MEMORY 0x1u

extern char __bm_heap_start[], __bm_heap_end[];
extern const char pc_trampoline_start[], pc_trampoline_end[];
extern const char pc_isr_stubs[];
extern uint32_t pc_multiboot_magic, pc_multiboot_info; /* start.S, saved from EAX/EBX */

/* Per-CPU data, reached through the GS base: board_core_id() is one load. */
struct pc_cpu {
    uint32_t core_id;
} __attribute__((aligned(64)));

struct pc_idt_gate {
    uint16_t offset_low, selector;
    uint8_t ist, type_attributes;
    uint16_t offset_mid;
    uint32_t offset_high, reserved;
};

unsigned char pc_stacks[BOARD_MAX_CORES][BOARD_STACK_SIZE] __attribute__((aligned(4096)));
uint32_t pc_ap_tickets; /* start.S: lock xadd by each AP for its core id */
static struct pc_cpu pc_cpus[BOARD_MAX_CORES];
static struct pc_idt_gate pc_idt[256] __attribute__((aligned(4096)));
static unsigned pc_core_count = 1;
static uint32_t pc_aps_ready;
static uint32_t pc_secondaries_released;
static uint32_t pc_start_requested;
static void (*pc_secondary_entry)(unsigned core_id);
static uintptr_t pc_lapic;

/* A pointer to a fixed physical address (identity map). The empty asm hides the constant from
 * GCC 12, which otherwise warns about dereferencing addresses below 4 KiB (the BIOS data area). */
static inline volatile void *phys(uintptr_t address) {
    __asm__("" : "+r"(address));
    return (volatile void *)address;
}

static inline void outb(uint16_t port, uint8_t value) {
    __asm__ volatile("outb %0, %1" ::"a"(value), "Nd"(port) : "memory");
}
static inline uint8_t inb(uint16_t port) {
    uint8_t value;
    __asm__ volatile("inb %1, %0" : "=a"(value) : "Nd"(port) : "memory");
    return value;
}
static inline void outl(uint16_t port, uint32_t value) {
    __asm__ volatile("outl %0, %1" ::"a"(value), "Nd"(port) : "memory");
}
static inline uint64_t rdmsr(uint32_t msr) {
    uint32_t low, high;
    __asm__ volatile("rdmsr" : "=a"(low), "=d"(high) : "c"(msr));
    return ((uint64_t)high << 32) | low;
}
static inline void wrmsr(uint32_t msr, uint64_t value) {
    uint32_t low = (uint32_t)value, high = (uint32_t)(value >> 32);
    __asm__ volatile("wrmsr" ::"c"(msr), "a"(low), "d"(high) : "memory");
}
static inline uint32_t lapic_read(unsigned reg) { return *(volatile uint32_t *)(pc_lapic + reg); }
static inline void lapic_write(unsigned reg, uint32_t value) {
    *(volatile uint32_t *)(pc_lapic + reg) = value;
}

/* ------------------------------------------------------------------------------------------ */
/* Board interface                                                                             */
/* ------------------------------------------------------------------------------------------ */

unsigned board_core_id(void) {
    unsigned id;
    __asm__("movl %%gs:%c1, %0" : "=r"(id) : "i"(offsetof(struct pc_cpu, core_id)));
    return id;
}

unsigned board_core_count(void) { return pc_core_count; }

const char *board_name(void) { return "pc-x86_64"; }

void line_console_putc(char c) {
    while (!(inb(0x3F8 + 5) & 0x20)) /* COM1 LSR: transmit holding register empty */
        bm_port_cpu_relax();
    outb(0x3F8, (uint8_t)c);
}

static bool pc_stacks_intact(void) {
    bool intact = true;
    for (unsigned core = 0; core < pc_core_count; core++) {
        if (*(volatile uint64_t *)(void *)pc_stacks[core] != STACK_CANARY) {
            line_console_printf("[pc-x86_64] core %u overflowed its %u KiB stack\n", core,
                              BOARD_STACK_SIZE / 1024);
            intact = false;
        }
    }
    return intact;
}

void board_exit(int status) {
    bm_port_irq_save(); /* for good: nothing may run on this core after the exit */
    line_console_end_own_line();
    if (!pc_stacks_intact() && status == 0)
        status = 1;
    if (status != 0)
        line_console_printf("[pc-x86_64] core %u: exit status %d\n", board_core_id(), status);
    outl(BOARD_EXIT_PORT, status == 0 ? BOARD_EXIT_PASS : BOARD_EXIT_FAIL);
    /* No isa-debug-exit device: triple-fault instead (an empty IDT turns int3 into one), which
     * -no-reboot makes QEMU exit with status 0, never the pass status. */
    static const struct {
        uint16_t limit;
        uint64_t base;
    } __attribute__((packed)) empty_idt = {0, 0};
    __asm__ volatile("lidt %0\n\tint3" ::"m"(empty_idt));
    for (;;)
        __asm__ volatile("hlt");
}

void board_start_secondaries(void (*entry)(unsigned core_id)) {
    if (__atomic_exchange_n(&pc_start_requested, 1, __ATOMIC_ACQ_REL))
        return; /* the cores were released already; they cannot run a second entry */
    pc_secondary_entry = entry;
    __atomic_store_n(&pc_secondaries_released, 1, __ATOMIC_SEQ_CST);
    if (pc_core_count > 1) {
        while (lapic_read(LAPIC_ICR_LOW) & ICR_DELIVERY_PENDING)
            bm_port_cpu_relax();
        lapic_write(LAPIC_ICR_HIGH, 0);
        lapic_write(LAPIC_ICR_LOW,
                    ICR_ALL_BUT_SELF | ICR_LEVEL_ASSERT | ICR_FIXED | BOARD_WAKE_VECTOR);
    }
}

/* Not used: this board's heap is the static region (the riscv64 board exercises the sbrk path). */
void *board_sbrk(void *ctx, uintptr_t incr) {
    (void)ctx;
    (void)incr;
    return NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* Interrupts                                                                                  */
/* ------------------------------------------------------------------------------------------ */

static void pc_idt_init(void) {
    for (unsigned vector = 0; vector < 256; vector++) {
        uintptr_t stub = (uintptr_t)pc_isr_stubs + 16 * vector;
        pc_idt[vector] = (struct pc_idt_gate){
            .offset_low = (uint16_t)stub,
            .selector = BOARD_SEL_CODE64,
            .type_attributes = 0x8E, /* present, ring 0, 64-bit interrupt gate (clears IF) */
            .offset_mid = (uint16_t)(stub >> 16),
            .offset_high = (uint32_t)(stub >> 32),
        };
    }
}

static void pc_cpu_init(unsigned core_id) {
    static const struct {
        uint16_t limit;
        uint64_t base;
    } __attribute__((packed)) idt_pointer = {sizeof pc_idt - 1, (uint64_t)(uintptr_t)pc_idt};
    pc_cpus[core_id].core_id = core_id;
    wrmsr(MSR_GS_BASE, (uintptr_t)&pc_cpus[core_id]);
    __asm__ volatile("lidt %0" ::"m"(idt_pointer));
}

static const char *pc_exception_name(uint64_t vector) {
    static const char *const names[32] = {
        [0] = "divide error",         [1] = "debug",
        [2] = "NMI",                  [3] = "breakpoint",
        [4] = "overflow",             [5] = "bound range",
        [6] = "invalid opcode",       [7] = "device not available",
        [8] = "double fault",         [10] = "invalid TSS",
        [11] = "segment not present", [12] = "stack fault",
        [13] = "general protection",  [14] = "page fault",
        [16] = "x87 error",           [17] = "alignment check",
        [18] = "machine check",       [19] = "SIMD error",
    };
    return names[vector] ? names[vector] : "reserved";
}

void pc_interrupt(struct pc_interrupt_frame *frame) {
    if (frame->vector < 32) {
        uint64_t cr2;
        __asm__ volatile("mov %%cr2, %0" : "=r"(cr2));
        line_console_end_own_line();
        line_console_printf("[pc-x86_64] core %u: CPU exception %u (%s), error code 0x%lx, "
                          "rip 0x%lx, rsp 0x%lx, cr2 0x%lx\n",
                          board_core_id(), (unsigned)frame->vector,
                          pc_exception_name(frame->vector), frame->error_code, frame->rip,
                          frame->rsp, cr2);
        board_exit(BOARD_FAULT_STATUS);
    }
    if (frame->vector != BOARD_SPURIOUS_VECTOR)
        lapic_write(LAPIC_EOI, 0);
}

/* ------------------------------------------------------------------------------------------ */
/* Timing: PIT channel 2 one-shot, polled through port 0x61 (the only PC timer that needs no  */
/* calibration and no interrupt).                                                              */
/* ------------------------------------------------------------------------------------------ */

static void pit_oneshot_start(unsigned microseconds) {
    unsigned ticks = (unsigned)((uint64_t)PIT_HZ * microseconds / 1000000u);
    if (ticks == 0)
        ticks = 1;
    if (ticks > 0xFFFF)
        ticks = 0xFFFF;
    outb(0x61, (uint8_t)((inb(0x61) & 0xFC) | 0x01)); /* gate on, speaker off */
    outb(0x43, 0xB0); /* channel 2, low then high byte, mode 0 (interrupt on terminal count) */
    outb(0x42, (uint8_t)ticks);
    outb(0x42, (uint8_t)(ticks >> 8));
}

static bool pit_oneshot_done(void) { return inb(0x61) & 0x20; }

static void pit_delay_us(unsigned microseconds) {
    pit_oneshot_start(microseconds);
    while (!pit_oneshot_done())
        bm_port_cpu_relax();
}

/* Waits until *counter reaches target or timeout_ms passes; returns the last value seen. */
static uint32_t pc_wait_for_count(const uint32_t *counter, uint32_t target, unsigned timeout_ms) {
    for (unsigned elapsed_ms = 0; elapsed_ms < timeout_ms; elapsed_ms++) {
        pit_oneshot_start(1000);
        while (!pit_oneshot_done()) {
            if (__atomic_load_n(counter, __ATOMIC_ACQUIRE) >= target)
                return target;
            bm_port_cpu_relax();
        }
    }
    return __atomic_load_n(counter, __ATOMIC_ACQUIRE);
}

/* ------------------------------------------------------------------------------------------ */
/* ACPI: the MADT lists one local APIC per CPU (QEMU marks the -smp maxcpus extras disabled).  */
/* ------------------------------------------------------------------------------------------ */

static bool acpi_checksum_ok(const volatile uint8_t *table, uint32_t length) {
    uint8_t sum = 0;
    for (uint32_t i = 0; i < length; i++)
        sum = (uint8_t)(sum + table[i]);
    return sum == 0;
}

static uint32_t read_le32(const volatile uint8_t *bytes) {
    return (uint32_t)bytes[0] | (uint32_t)bytes[1] << 8 | (uint32_t)bytes[2] << 16 |
           (uint32_t)bytes[3] << 24;
}

static bool signature_is(const volatile uint8_t *bytes, const char *signature) {
    for (unsigned i = 0; signature[i]; i++)
        if (bytes[i] != (uint8_t)signature[i])
            return false;
    return true;
}

static const volatile uint8_t *acpi_find_rsdp_in(uintptr_t start, uintptr_t end) {
    for (uintptr_t address = start; address + 20 <= end; address += 16) {
        const volatile uint8_t *candidate = phys(address);
        if (signature_is(candidate, "RSD PTR ") && acpi_checksum_ok(candidate, 20))
            return candidate;
    }
    return NULL;
}

/* Enabled CPUs in the MADT, or 0 if there is no usable MADT. */
static unsigned acpi_count_cpus(void) {
    uintptr_t ebda = (uintptr_t)*(const volatile uint16_t *)phys(0x40E) << 4;
    const volatile uint8_t *rsdp = NULL;
    if (ebda >= 0x80000 && ebda < 0xA0000)
        rsdp = acpi_find_rsdp_in(ebda, ebda + 1024);
    if (!rsdp)
        rsdp = acpi_find_rsdp_in(0xE0000, 0x100000);
    if (!rsdp)
        return 0;
    const volatile uint8_t *rsdt = phys(read_le32(rsdp + 16));
    if (!signature_is(rsdt, "RSDT") || !acpi_checksum_ok(rsdt, read_le32(rsdt + 4)))
        return 0;
    uint32_t rsdt_length = read_le32(rsdt + 4);
    for (uint32_t entry = 36; entry + 4 <= rsdt_length; entry += 4) {
        const volatile uint8_t *madt = phys(read_le32(rsdt + entry));
        if (!signature_is(madt, "APIC"))
            continue;
        uint32_t madt_length = read_le32(madt + 4);
        if (!acpi_checksum_ok(madt, madt_length))
            return 0;
        unsigned cpus = 0;
        for (uint32_t offset = 44; offset + 2 <= madt_length;) {
            uint8_t type = madt[offset], length = madt[offset + 1];
            if (length < 2)
                break;
            if (type == 0 && length >= 8 && (read_le32(madt + offset + 4) & 1)) /* local APIC */
                cpus++;
            else if (type == 9 && length >= 16 && (read_le32(madt + offset + 8) & 1)) /* x2APIC */
                cpus++;
            offset += length;
        }
        return cpus;
    }
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Boot                                                                                        */
/* ------------------------------------------------------------------------------------------ */

static void pc_start_aps(void) {
    unsigned described = acpi_count_cpus();
    if (described == 1)
        return;
    unsigned expected_aps = described ? described - 1 : BOARD_MAX_CORES - 1;
    if (expected_aps > BOARD_MAX_CORES - 1) {
        line_console_printf("[pc-x86_64] %u CPUs described, using the first %u\n", described,
                          BOARD_MAX_CORES);
        expected_aps = BOARD_MAX_CORES - 1;
    }

    volatile char *trampoline = phys(BOARD_TRAMPOLINE_ADDR);
    for (const char *byte = pc_trampoline_start; byte < pc_trampoline_end; byte++)
        *trampoline++ = *byte;

    lapic_write(LAPIC_ICR_HIGH, 0);
    lapic_write(LAPIC_ICR_LOW, ICR_ALL_BUT_SELF | ICR_LEVEL_ASSERT | ICR_INIT);
    pit_delay_us(10000);
    for (int sipi = 0; sipi < 2; sipi++) { /* the second SIPI is ignored by APs already running */
        while (lapic_read(LAPIC_ICR_LOW) & ICR_DELIVERY_PENDING)
            bm_port_cpu_relax();
        lapic_write(LAPIC_ICR_LOW,
                    ICR_ALL_BUT_SELF | ICR_LEVEL_ASSERT | ICR_STARTUP | BOARD_SIPI_VECTOR);
        pit_delay_us(200);
    }

    pc_wait_for_count(&pc_aps_ready, expected_aps,
                      described ? AP_CHECKIN_TIMEOUT_MS : AP_PROBE_TIMEOUT_MS);
    /* Close the count: an AP that takes its ticket from now on parks (start.S). Those that got
     * one before are running and finish their set-up within microseconds. */
    uint32_t aps = __atomic_exchange_n(&pc_ap_tickets, BOARD_TICKETS_CLOSED, __ATOMIC_SEQ_CST);
    if (aps > BOARD_MAX_CORES - 1)
        aps = BOARD_MAX_CORES - 1;
    if (pc_wait_for_count(&pc_aps_ready, aps, AP_CHECKIN_TIMEOUT_MS) < aps) {
        line_console_printf("[pc-x86_64] an AP took a core id but never checked in\n");
        board_exit(1);
    }
    pc_core_count = 1 + aps;
    if (described && aps != expected_aps)
        line_console_printf("[pc-x86_64] warning: %u of %u APs started\n", aps, expected_aps);
}

static void pc_check_memory(void) {
    static const uint32_t data_probe = 0x1ead0da7;
    /* The flat load needs the file laid out like memory; a wrong layout shows up in .data. */
    if (*(const volatile uint32_t *)&data_probe != 0x1ead0da7 ||
        pc_multiboot_magic != MULTIBOOT_BOOTLOADER_MAGIC) {
        line_console_printf("[pc-x86_64] image not loaded by a multiboot loader as linked\n");
        board_exit(1);
    }
    const volatile uint32_t *info = phys(pc_multiboot_info);
    if (info[0] & MULTIBOOT_INFO_MEMORY) {
        uint64_t ram_end = 0x100000 + (uint64_t)info[2] * 1024; /* mem_upper: KiB above 1 MiB */
        if ((uintptr_t)__bm_heap_end > ram_end) {
            line_console_printf("[pc-x86_64] heap ends at 0x%lx but RAM at 0x%lx: "
                              "run QEMU with more -m\n",
                              (unsigned long)(uintptr_t)__bm_heap_end, (unsigned long)ram_end);
            board_exit(1);
        }
    }
}

void pc_boot_main(void) {
    pc_idt_init();
    pc_cpu_init(0);
    for (unsigned core = 0; core < BOARD_MAX_CORES; core++)
        *(volatile uint64_t *)(void *)pc_stacks[core] = STACK_CANARY;
    pc_check_memory();

    uint64_t apic_base = rdmsr(MSR_APIC_BASE);
    pc_lapic = (uintptr_t)(apic_base & ~0xFFFull);
    wrmsr(MSR_APIC_BASE, apic_base | APIC_BASE_ENABLE);
    lapic_write(LAPIC_SVR, LAPIC_SVR_ENABLE | BOARD_SPURIOUS_VECTOR);
    pc_start_aps();

    line_console_printf("[pc-x86_64] %u cores in long mode, heap %lu MiB at 0x%lx\n", pc_core_count,
                      (unsigned long)((__bm_heap_end - __bm_heap_start) >> 20),
                      (unsigned long)(uintptr_t)__bm_heap_start);
    board_exit(guest_main());
}

void pc_ap_main(unsigned core_id) {
    pc_cpu_init(core_id);
    /* A software-disabled local APIC drops the wake IPI. */
    lapic_write(LAPIC_SVR, LAPIC_SVR_ENABLE | BOARD_SPURIOUS_VECTOR);
    __atomic_fetch_add(&pc_aps_ready, 1, __ATOMIC_SEQ_CST); /* also orders the SVR write first */
    /* sti's one-instruction shadow makes "sti; hlt" atomic: a wake IPI sent after the flag test
     * stays pending until hlt, then wakes it. */
    while (!__atomic_load_n(&pc_secondaries_released, __ATOMIC_ACQUIRE))
        __asm__ volatile("sti\n\thlt\n\tcli" ::: "memory");
    pc_secondary_entry(core_id);
    for (;;) /* entry returned: park */
        __asm__ volatile("cli\n\thlt");
}
