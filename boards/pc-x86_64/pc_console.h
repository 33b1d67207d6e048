/*
 * pc-x86_64 console: COM1, line-buffered per core so that lines from several cores never mix.
 */
#ifndef PC_CONSOLE_H
#define PC_CONSOLE_H

void pc_console_putc(char c);               /* raw UART output (board.c) */
void pc_console_end_own_line(void);         /* ends and writes the calling core's unfinished
                                               line, so a board message starts on its own */
void pc_console_printf(const char *format, ...) __attribute__((format(printf, 1, 2)));
                                            /* %s %c %d %u %x %ld %lu %lx %p %% only */
#endif
