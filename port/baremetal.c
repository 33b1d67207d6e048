/*
 * Bare-metal port: the heap is the linker script's [__bm_heap_start, __bm_heap_end), either
 * used whole from the start (static region) or grown chunk by chunk through the board's
 * sbrk-like hook (BOARD_HEAP_SBRK). Cores, console and exit come from the board (boards/board.h);
 * an integrator linking libbaremalloc.a without a board gets weak single-core defaults and
 * overrides what it needs.
 */
#include "bm_port.h"
#include "board.h"

extern char __bm_heap_start[], __bm_heap_end[];

__attribute__((weak)) void board_putc(char c) { (void)c; }
__attribute__((weak)) unsigned board_core_id(void) { return 0; }
__attribute__((weak)) unsigned board_core_count(void) { return 1; }

static bm_page_source_t baremetal_heap;

unsigned bm_port_default_sources(const bm_page_source_t **sources) {
    baremetal_heap.base = __bm_heap_start;
    baremetal_heap.size = (size_t)(__bm_heap_end - __bm_heap_start);
#ifdef BOARD_HEAP_SBRK
    baremetal_heap.grow = (void *(*)(void *, size_t))board_sbrk;
#endif
    *sources = &baremetal_heap;
    return 1;
}

const char *bm_port_env_options(void) { return NULL; }

unsigned bm_port_core_id(void) { return board_core_id(); }
unsigned bm_port_core_count(void) { return board_core_count(); }

static void baremetal_puts(const char *text) {
    while (*text)
        board_putc(*text++);
}

static void baremetal_put_hex(uintptr_t value) {
    char digits[2 + 2 * sizeof value + 1];
    unsigned n = 2 + 2 * sizeof value;
    digits[0] = '0';
    digits[1] = 'x';
    digits[n] = 0;
    for (unsigned i = n; i > 2; i--, value >>= 4)
        digits[i - 1] = "0123456789abcdef"[value & 15];
    baremetal_puts(digits);
}

/* Weak so a board or an application can route reports elsewhere (a fault log, a LED). */
__attribute__((weak)) void bm_port_error(const char *msg, const void *addr) {
    baremetal_puts("baremalloc: error: ");
    baremetal_puts(msg);
    baremetal_puts(" (address ");
    baremetal_put_hex((uintptr_t)addr);
    baremetal_puts(")\n");
}

__attribute__((weak)) void bm_port_log(const char *msg) {
    baremetal_puts(msg);
    board_putc('\n');
}
