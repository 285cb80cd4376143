/*
 * What the target tests change in the board runtime: a fault ends the emulation with a
 * failure status (after startup.c printed the faulting PC on UART0 — not connected in ctest —
 * the same line goes to semihosting stderr), instead of resetting the board and running the
 * test again until ctest's timeout.
 */
#include <stdio.h>

#include "board.h"
#include "evt_mps2/semihost.h"

void evt_board_fault_reset(void)
{
    fputs("target test: CPU fault (see the fault line on UART0), stopping\n", stderr);
    evt_mps2_sh_exit(134);
}
