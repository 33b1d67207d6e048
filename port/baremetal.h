/*
 * What a bare-metal board provides to the bare-metal port (port/baremetal.c). boards/board.h
 * includes this header, so a board implements these once and the port needs nothing else
 * from boards/. An integrator linking libbaremalloc.a without a board gets the weak
 * single-core defaults of port/defaults.c (core 0 of 1, console output dropped) and overrides
 * what it needs.
 *
 * When the allocator calls them (the calling-context contract of port/bm_port.h applies):
 *   board_core_id     through bm_port_core_id: from every allocator call, interrupts masked,
 *                     possibly with an allocator lock held; no locks, no allocation, no
 *                     blocking. Not called at all in a BM_MAX_CORES == 1 build.
 *   board_core_count  through bm_port_core_count: once, during initialisation.
 *   board_putc        through the default bm_port_error / bm_port_log (port/defaults.c):
 *                     error reports, possibly with an allocator lock held and interrupts
 *                     masked, and log lines; must not allocate, should not wait long.
 *   board_sbrk        the grow hook of the heap's page source (BOARD_HEAP_SBRK): under the
 *                     allocator's pool lock with interrupts masked (see bm_page_source_t).
 */
#ifndef BM_PORT_BAREMETAL_H
#define BM_PORT_BAREMETAL_H

#include <stdint.h>

void board_putc(char c);         /* blocking console output */
unsigned board_core_count(void); /* cores this board brings up, boot core included */
unsigned board_core_id(void);    /* 0 .. board_core_count()-1, the calling core */

/* Optional: a sbrk-like page source, used by port/baremetal.c when built with
 * -DBOARD_HEAP_SBRK: makes the next incr bytes of [__bm_heap_start, __bm_heap_end) usable
 * and returns where they start, or NULL. */
void *board_sbrk(void *ctx, uintptr_t incr);

/* The heap, from the linker script. Weak: a firmware that hands bm_init its own page sources
 * need not define them (without them and without sources, bm_init returns BM_EINVAL). */
extern char __bm_heap_start[] __attribute__((weak)), __bm_heap_end[] __attribute__((weak));

#endif /* BM_PORT_BAREMETAL_H */
