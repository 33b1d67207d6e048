/*
 * Weak defaults, in one place, for the hooks a port or a board may leave out. Every build
 * links this file (the Makefile's host tests, libraries and libbaremalloc.so, mk/guest.mk's
 * boards); a strong definition anywhere else wins. Calling contexts: port/bm_port.h.
 *
 *   every port     bm_port_set_errno (no errno), bm_port_core_node (one memory node);
 *   bare metal     the board hooks of port/baremetal.h (one core, console output dropped) and
 *                  bm_port_error / bm_port_log printing through board_putc, which a board or an
 *                  application may replace (a fault log, a LED). The host port defines its own
 *                  reports and has no board, so these are left out of host builds.
 * The application-side option string bm_malloc_conf keeps its weak NULL default in the core
 * (core/base.c): it is the application's knob, not the port's.
 */
#include "bm_port.h"

/* ---- every port --------------------------------------------------------------------------- */

/* No errno to set (a freestanding core has none). */
__attribute__((weak)) void bm_port_set_errno(int code) { (void)code; }

/* Every core is nearest to memory node 0. */
__attribute__((weak)) unsigned bm_port_core_node(unsigned core) {
    (void)core;
    return 0;
}

#ifndef BM_PORT_HOST
/* ---- bare metal: what a board provides (port/baremetal.h) ---------------------------------- */
#include "baremetal.h"
#include "port_hex.h"

__attribute__((weak)) void board_putc(char c) { (void)c; }
__attribute__((weak)) unsigned board_core_id(void) { return 0; }
__attribute__((weak)) unsigned board_core_count(void) { return 1; }

/* ---- bare metal: reports through the board's console --------------------------------------- */

static void defaults_puts(const char *text) {
    while (*text)
        board_putc(*text++);
}

__attribute__((weak)) void bm_port_error(const char *msg, const void *addr) {
    char hex[BM_PORT_HEX_SIZE];
    defaults_puts("baremalloc: error: ");
    defaults_puts(msg);
    defaults_puts(" (address ");
    defaults_puts(bm_port_hex(hex, (uintptr_t)addr));
    defaults_puts(")\n");
}

__attribute__((weak)) void bm_port_log(const char *msg) {
    defaults_puts(msg);
    board_putc('\n');
}
#endif /* !BM_PORT_HOST */
