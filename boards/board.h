/*
 * What a board gives the programs that run on it (tests/guest, the demo) and the bare-metal
 * port (port/baremetal.c, whose part is port/baremetal.h). One implementation per folder in
 * boards/.
 *
 * Boot contract: the board's start-up code sets up stacks, clears .bss, turns on whatever the
 * allocator needs (MMU + caches with an identity map on A-profile cores, long mode on x86),
 * then calls guest_main() on the boot core. Secondary cores run nothing until the program
 * calls board_start_secondaries(); each then calls entry(core_id) with its own stack and the
 * same MMU/cache setup. The heap is [__bm_heap_start, __bm_heap_end) from the linker script.
 */
#ifndef BOARD_H
#define BOARD_H

#include <stdarg.h>
#include <stdint.h>

/* board_putc, board_core_count, board_core_id and the optional board_sbrk: what the
 * bare-metal port needs from a board, declared (and documented) there. */
#include "baremetal.h"

/* Entry point of the guest program, on the boot core (core 0). Its return value is the exit
 * status passed to board_exit. */
int guest_main(void);

void board_exit(int status) __attribute__((noreturn)); /* 0 = pass; QEMU exits with a status
                                                 that the runner maps back to pass/fail */
/* Starts every secondary core; each calls entry(its core id) and must not return (a return
 * parks the core). Returns once all have been released (not necessarily running yet). */
void board_start_secondaries(void (*entry)(unsigned core_id));
const char *board_name(void);

/* Optional (weak: NULL where the board has none): from thread mode, makes hook(core) run at the
 * end of the board's periodic timer interrupt on each core that runs the secondaries' entry and
 * on core 0 after board_start_secondaries (mps2-an521: each core's SysTick); NULL stops it.
 * Returns nonzero: the board has such a timer. The hook runs in interrupt context. */
int board_set_timer_hook(void (*hook)(unsigned core)) __attribute__((weak));

/* Formatted output through board_putc (boards/common/print.c, linked into every board
 * program): %d %i %u %x %p %s %c %%, length l or z, width, '0' and '-' flags. board_printf
 * writes one call's output whole, under a lock; board_vprintf takes no lock (fault reports). */
void board_printf(const char *format, ...) __attribute__((format(printf, 1, 2)));
void board_vprintf(const char *format, va_list args);

/* Fault reports (boards/common/print.c): straight to board_putc, no lock, no formatting.
 * board_put_hex writes 0x and 2 * sizeof(uintptr_t) hex digits (leading zeros kept). */
void board_puts(const char *text);
void board_put_hex(uintptr_t value);

#endif
