/*
 * boards/board.h for mps2-an385 (QEMU, one Cortex-M3).
 *
 * Console: boards/common/semihost_console.c (semihosting SYS_WRITEC). Exit: the C library's
 * exit(), which flushes stdio and ends with semihosting SYS_EXIT_EXTENDED, so QEMU exits with
 * the status itself.
 */
#include <stdbool.h>
#include <stdlib.h>

#include "board.h"
#include "board_local.h"

void board_exit(int status) { exit(status); }

unsigned board_core_count(void) { return 1; }

unsigned board_core_id(void) { return 0; }

/* One core: there is nothing to start. */
void board_start_secondaries(void (*entry)(unsigned core_id)) { (void)entry; }

const char *board_name(void) { return BOARD_MPS2_NAME; }
