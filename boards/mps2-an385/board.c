/*
 * boards/board.h for mps2-an385 (QEMU, one Cortex-M3).
 *
 * Console: semihosting SYS_WRITEC, the same channel newlib's stdio (rdimon) writes to, so the
 * guest's board_putc output and printf output interleave in program order without any UART
 * set-up. Exit: newlib's exit(), which flushes stdio and ends with semihosting
 * SYS_EXIT_EXTENDED, so QEMU exits with the status itself.
 */
#include <stdbool.h>
#include <stdlib.h>

#include "board.h"
#include "board_local.h"

#define SEMIHOSTING_SYS_WRITEC 0x03

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

/* Reads a decimal number at *text, advancing past it; false if there is none. */
static bool parse_unsigned(const char **text, unsigned *value) {
    const char *p = *text;
    if (*p < '0' || *p > '9')
        return false;
    for (*value = 0; *p >= '0' && *p <= '9'; p++)
        *value = *value * 10 + (unsigned)(*p - '0');
    *text = p;
    return true;
}

static bool skip_text(const char **text, const char *expected) {
    const char *p = *text;
    for (; *expected; expected++, p++)
        if (*p != *expected)
            return false;
    *text = p;
    return true;
}

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

void board_putc(char c) {
    semihosting_call(SEMIHOSTING_SYS_WRITEC, &c);
    if (c == '\n')
        console_line_done();
    else if (console_length < sizeof console_line - 1)
        console_line[console_length++] = c;
}

bool board_console_summary(unsigned *passed, unsigned *failed) {
    *passed = summary_passed;
    *failed = summary_failed;
    return summary_seen;
}

void board_exit(int status) { exit(status); }

unsigned board_core_count(void) { return 1; }

unsigned board_core_id(void) { return 0; }

/* One core: there is nothing to start. */
void board_start_secondaries(void (*entry)(unsigned core_id)) { (void)entry; }

const char *board_name(void) { return BOARD_MPS2_NAME; }
