/*
 * Console shared by every core: each core collects its output in its own line buffer and
 * writes whole lines under a lock, so concurrent output stays readable line by line. A line is
 * written at '\n', when the buffer fills, or at board_exit / on a fault.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

#include "board.h"
#include "bm_port.h"
#include "line_console.h"

#define CONSOLE_LINE_MAX 160

struct console_line {
    char text[CONSOLE_LINE_MAX];
    unsigned length;
} __attribute__((aligned(64)));

static struct console_line console_lines[LINE_CONSOLE_MAX_CORES];
static bm_lock_t console_lock = BM_LOCK_INITIALIZER;
static unsigned console_owner; /* core id + 1 of the core writing a line, 0 if none */

static void console_write(unsigned core, const char *text, unsigned length) {
    /* A fault report from a core already inside this function must not wait for itself. */
    bool nested = __atomic_load_n(&console_owner, __ATOMIC_RELAXED) == core + 1;
    if (!nested) {
        bm_lock_acquire(&console_lock);
        __atomic_store_n(&console_owner, core + 1, __ATOMIC_RELAXED);
    }
    for (unsigned i = 0; i < length; i++)
        line_console_putc(text[i]);
    if (!nested) {
        __atomic_store_n(&console_owner, 0, __ATOMIC_RELAXED);
        bm_lock_release(&console_lock);
    }
}

void board_putc(char c) {
    bm_irq_state_t irq = bm_port_irq_save(); /* an interrupt handler may print on this core */
    unsigned core = board_core_id();
    if (core >= LINE_CONSOLE_MAX_CORES) {
        console_write(core, &c, 1);
    } else {
        struct console_line *line = &console_lines[core];
        line->text[line->length++] = c;
        if (c == '\n' || line->length == CONSOLE_LINE_MAX) {
            console_write(core, line->text, line->length);
            line->length = 0;
        }
    }
    bm_port_irq_restore(irq);
}

void line_console_end_own_line(void) {
    bm_irq_state_t irq = bm_port_irq_save();
    unsigned core = board_core_id();
    if (core < LINE_CONSOLE_MAX_CORES && console_lines[core].length) {
        struct console_line *line = &console_lines[core];
        if (line->length < CONSOLE_LINE_MAX)
            line->text[line->length++] = '\n';
        console_write(core, line->text, line->length);
        line->length = 0;
    }
    bm_port_irq_restore(irq);
}

void line_console_printf(const char *format, ...) {
    va_list args;
    va_start(args, format);
    board_vprintf(format, args); /* no print lock: a fault report may come from inside it */
    va_end(args);
}
