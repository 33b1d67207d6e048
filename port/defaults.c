/*
 * Weak defaults, in one place, for the hooks a port or a board may leave out. Every build
 * links this file (the Makefile's host tests, libraries and libbaremalloc.so, mk/guest.mk's
 * boards); a strong definition anywhere else wins. Calling contexts: port/bm_port.h.
 *
 *   every port     bm_port_set_errno (no errno), bm_port_core_node (one memory node),
 *                  bm_port_entropy (none);
 *   bare metal     the board hooks of port/baremetal.h (one core, console output dropped) and
 *                  bm_port_error / bm_port_log printing through board_putc, which a board or an
 *                  application may replace (a fault log, a LED). The host port defines its own
 *                  reports and has no board, so these are left out of host builds.
 * The application-side option string bm_malloc_conf keeps its weak NULL default in the core
 * (core/base.c): it is the application's knob, not the port's.
 */
#include "bm_port.h"

/* ---- every port --------------------------------------------------------------------------- */

/* No errno to set (a freestanding core has none): any code is ignored. O(1), any context. */
__attribute__((weak)) void bm_port_set_errno(int code) { (void)code; }

/* No source of randomness: freed blocks carry a mark fixed per build. O(1), any context. */
__attribute__((weak)) uintptr_t bm_port_entropy(void) { return 0; }

/* Every core is nearest to memory node 0, whatever its index. O(1), any context. */
__attribute__((weak)) unsigned bm_port_core_node(unsigned core) {
    (void)core;
    return 0;
}

#ifndef BM_PORT_HOST
/* ---- bare metal: what a board provides (port/baremetal.h) ---------------------------------- */
#include "baremetal.h"
#include "port_hex.h"

/* No console: the character is dropped. O(1), any context. */
__attribute__((weak)) void board_putc(char c) { (void)c; }
/* One core: always 0. O(1), any context. */
__attribute__((weak)) unsigned board_core_id(void) { return 0; }
/* One core. O(1); once, at initialisation. */
__attribute__((weak)) unsigned board_core_count(void) { return 1; }

/* ---- bare metal: reports through the board's console --------------------------------------- */

/* O(length). text through board_putc (text must not be NULL). No lock, no allocation: any
 * context board_putc allows (port/baremetal.h). */
static void defaults_puts(const char *text) {
    while (*text)
        board_putc(*text++);
}

/* O(msg). "baremalloc: error: msg (address 0x...)" on the board console; msg must not be NULL.
 * Any context, allocator locks held and masked included: board_putc only. */
__attribute__((weak)) void bm_port_error(const char *msg, const void *addr) {
    char hex[BM_PORT_HEX_SIZE];
    defaults_puts("baremalloc: error: ");
    defaults_puts(msg);
    defaults_puts(" (address ");
    defaults_puts(bm_port_hex(hex, (uintptr_t)addr));
    defaults_puts(")\n");
}

/* O(msg). msg and a newline on the board console (msg must not be NULL). Any context,
 * initialisation included: board_putc only. */
__attribute__((weak)) void bm_port_log(const char *msg) {
    defaults_puts(msg);
    board_putc('\n');
}
#endif /* !BM_PORT_HOST */
