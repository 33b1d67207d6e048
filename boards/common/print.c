/*
 * The printf subset every board program uses (tests/guest, the demo, the boards' own
 * messages), written through board_putc: %d %i %u %x %p %s %c %%, length l or z, width, and
 * the '0' and '-' flags; and the fault reports' unlocked board_puts and board_put_hex.
 * Nothing here allocates.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include "bm_port.h"
#include "board.h"

static bm_lock_t console_lock = BM_LOCK_INITIALIZER;

static void put_padded(const char *text, unsigned length, unsigned width, bool left, char pad) {
    if (!left)
        for (unsigned i = length; i < width; i++)
            board_putc(pad);
    for (unsigned i = 0; i < length; i++)
        board_putc(text[i]);
    if (left)
        for (unsigned i = length; i < width; i++)
            board_putc(' ');
}

/* Digits of value in base 10 or 16 (unsigned long is pointer-sized on every guest target, and
 * dividing it needs no 64-bit helper on 32-bit cores). */
static unsigned format_unsigned(char *out, unsigned long value, unsigned base) {
    char reversed[3 * sizeof value];
    unsigned n = 0;
    do {
        reversed[n++] = "0123456789abcdef"[value % base];
        value /= base;
    } while (value);
    for (unsigned i = 0; i < n; i++)
        out[i] = reversed[n - 1 - i];
    return n;
}

void board_vprintf(const char *format, va_list args) {
    for (const char *f = format; *f; f++) {
        if (*f != '%') {
            board_putc(*f);
            continue;
        }
        f++;
        bool left = false;
        char pad = ' ';
        for (;; f++) {
            if (*f == '-')
                left = true;
            else if (*f == '0')
                pad = '0';
            else
                break;
        }
        unsigned width = 0;
        while (*f >= '0' && *f <= '9')
            width = width * 10 + (unsigned)(*f++ - '0');
        enum { INT, LONG, SIZE } length = INT;
        if (*f == 'l') {
            length = LONG;
            f++;
        } else if (*f == 'z') {
            length = SIZE;
            f++;
        }
        char digits[3 * sizeof(unsigned long) + 2];
        unsigned n;
        switch (*f) {
        case 'd':
        case 'i': {
            long value = length == LONG   ? va_arg(args, long)
                         : length == SIZE ? (long)va_arg(args, size_t)
                                          : va_arg(args, int);
            unsigned long magnitude = value < 0 ? 0ul - (unsigned long)value : (unsigned long)value;
            n = 0;
            if (value < 0)
                digits[n++] = '-';
            n += format_unsigned(digits + n, magnitude, 10);
            put_padded(digits, n, width, left, pad);
            break;
        }
        case 'u':
        case 'x': {
            unsigned long value = length == LONG   ? va_arg(args, unsigned long)
                                  : length == SIZE ? va_arg(args, size_t)
                                                   : va_arg(args, unsigned);
            n = format_unsigned(digits, value, *f == 'x' ? 16 : 10);
            put_padded(digits, n, width, left, pad);
            break;
        }
        case 'p':
            digits[0] = '0';
            digits[1] = 'x';
            n = 2 + format_unsigned(digits + 2, (unsigned long)(uintptr_t)va_arg(args, void *), 16);
            put_padded(digits, n, width, left, pad);
            break;
        case 's': {
            const char *text = va_arg(args, const char *);
            if (!text)
                text = "(null)";
            unsigned len = 0;
            while (text[len])
                len++;
            put_padded(text, len, width, left, ' ');
            break;
        }
        case 'c':
            digits[0] = (char)va_arg(args, int);
            put_padded(digits, 1, width, left, ' ');
            break;
        case '%':
            board_putc('%');
            break;
        default: /* unknown conversion: show it rather than guess at its argument */
            board_putc('%');
            if (!*f)
                return;
            board_putc(*f);
            break;
        }
    }
}

void board_printf(const char *format, ...) {
    va_list args;
    va_start(args, format);
    /* Masked like every hold of a bm_lock: an interrupt handler printing on this core must
     * not find the lock taken by the code it interrupted. */
    bm_irq_state_t irq = bm_port_irq_save();
    bm_lock_acquire(&console_lock);
    board_vprintf(format, args);
    bm_lock_release(&console_lock);
    bm_port_irq_restore(irq);
    va_end(args);
}

void board_puts(const char *text) {
    while (*text)
        board_putc(*text++);
}

void board_put_hex(uintptr_t value) {
    board_puts("0x");
    for (int shift = 8 * (int)sizeof value - 4; shift >= 0; shift -= 4)
        board_putc("0123456789abcdef"[(value >> shift) & 15]);
}
