/* mps2-an386: mps2-an385's constants (the same FPGA image with a Cortex-M4F); the name and the
 * core come from board.mk. */
#include "../mps2-an385/board_local.h"
