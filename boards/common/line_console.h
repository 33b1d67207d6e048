/*
 * A console shared by every core of a board: each core collects its output in its own line
 * buffer and writes whole lines under a lock, so output from several cores stays readable.
 * The board provides line_console_putc (raw UART output); used by pc-x86_64 and virt-riscv64.
 */
#ifndef LINE_CONSOLE_H
#define LINE_CONSOLE_H

#ifndef LINE_CONSOLE_MAX_CORES
#define LINE_CONSOLE_MAX_CORES 32 /* cores with their own line buffer; others write directly */
#endif

void line_console_putc(char c);       /* raw UART output (the board's board.c) */
void line_console_end_own_line(void); /* ends and writes the calling core's unfinished line,
                                         so a board message starts on its own */
void line_console_printf(const char *format, ...) __attribute__((format(printf, 1, 2)));
                                      /* board_vprintf's conversions, no lock */
#endif
