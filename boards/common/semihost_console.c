/*
 * The semihosting console of the MPS2 boards (mps2-an385, mps2-an386, mps2-an521):
 * board_putc writes each character with SYS_WRITEC, the channel newlib's and picolibc's stdio
 * write to as well, so the guest's output and printf's interleave in program order with no UART
 * set-up; and it keeps the line being written, so that board_console_summary can give the last
 * "N passed, M failed" line to the firmware checks (tests/firmware).
 */
#include <stdbool.h>
#include <stdint.h>

#include "board.h"

#define SEMIHOSTING_SYS_WRITEC 0x03

/* O(1). A semihosting call: the debugger (QEMU) performs operation on parameter. */
static void semihosting_call(uint32_t operation, const void *parameter) {
    register uint32_t r0 __asm__("r0") = operation;
    register const void *r1 __asm__("r1") = parameter;
    __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
}

/* The console line being written, to pick out a "N passed, M failed" summary. */
static char console_line[96];
static unsigned console_length;
static bool summary_seen;
static unsigned summary_passed, summary_failed;

/* O(digits). Reads a decimal number at *text, advancing past it; false if there is none. */
static bool parse_unsigned(const char **text, unsigned *value) {
    const char *p = *text;
    if (*p < '0' || *p > '9')
        return false;
    for (*value = 0; *p >= '0' && *p <= '9'; p++)
        *value = *value * 10 + (unsigned)(*p - '0');
    *text = p;
    return true;
}

/* O(length of expected). Advances past expected if *text starts with it. */
static bool skip_text(const char **text, const char *expected) {
    const char *p = *text;
    for (; *expected; expected++, p++)
        if (*p != *expected)
            return false;
    *text = p;
    return true;
}

/* O(line). The line ends: keep its counts if it is a summary line. */
static void console_line_done(void) {
    console_line[console_length] = 0;
    const char *p = console_line;
    unsigned passed, failed;
    if (parse_unsigned(&p, &passed) && skip_text(&p, " passed, ") && parse_unsigned(&p, &failed) &&
        skip_text(&p, " failed") && *p == 0) {
        summary_seen = true;
        summary_passed = passed;
        summary_failed = failed;
    }
    console_length = 0;
}

/* O(1) (O(line) at a newline). One character to the semihosting console. Lines longer than
 * the buffer are cut for the summary scan only. The line buffer is shared: callers on two
 * cores serialise through board_printf's lock (fault reports are unlocked, and last). Any
 * context. */
void board_putc(char c) {
    semihosting_call(SEMIHOSTING_SYS_WRITEC, &c);
    if (c == '\n')
        console_line_done();
    else if (console_length < sizeof console_line - 1)
        console_line[console_length++] = c;
}

/* O(1). */
bool board_console_summary(unsigned *passed, unsigned *failed) {
    *passed = summary_passed;
    *failed = summary_failed;
    return summary_seen;
}

