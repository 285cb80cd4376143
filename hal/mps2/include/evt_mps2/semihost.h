/*
 * evt_mps2_semihost: ARM semihosting calls (BKPT 0xAB on M-profile) — the emulated board's
 * host services: files for the flash model and the provisioning, the host clock standing in
 * for a battery-backed RTC, the command line, and the exit status of target tests.
 *
 * Only under an emulator or a debugger: on a board running alone BKPT is a HardFault. The
 * mps2-an385 board uses it because QEMU has no battery-backed RTC or persistent flash of its
 * own; docs/board-mps2-an385.md lists what a real board uses instead.
 */
#ifndef EVT_MPS2_SEMIHOST_H
#define EVT_MPS2_SEMIHOST_H

#include <stddef.h>
#include <stdint.h>

/* SYS_OPEN modes (ISO C fopen modes in the order the ARM spec numbers them). */
enum {
    EVT_SH_MODE_RB = 1,     /* "rb" */
    EVT_SH_MODE_RPLUSB = 3, /* "r+b" */
    EVT_SH_MODE_W = 4,      /* "w" */
    EVT_SH_MODE_WPLUSB = 7, /* "w+b" */
    EVT_SH_MODE_A = 8,      /* "a" */
};

/* Returns a host handle, or -1. */
int evt_mps2_sh_open(const char *path, int mode);
int evt_mps2_sh_close(int handle);
/* Bytes NOT written (0 = all written), as the spec says. */
size_t evt_mps2_sh_write(int handle, const void *buf, size_t len);
/* Bytes NOT read (len = end of file). */
size_t evt_mps2_sh_read(int handle, void *buf, size_t len);
/* 0 on success. */
int evt_mps2_sh_seek(int handle, uint32_t pos);
/* File length, or -1. */
long evt_mps2_sh_flen(int handle);
/* Seconds since the Unix epoch from the host clock. */
int64_t evt_mps2_sh_time(void);
/* The command line given to the emulator (-semihosting-config arg=...), NUL-terminated;
 * 0 on success. */
int evt_mps2_sh_cmdline(char *buf, size_t cap);
/* Ends the emulation with an exit status (SYS_EXIT_EXTENDED, ADP_Stopped_ApplicationExit). */
_Noreturn void evt_mps2_sh_exit(int status);

#endif /* EVT_MPS2_SEMIHOST_H */
