/*
 * evt_mps2_sys: evt_hal_sys on the mps2-an385 board.
 *
 * - monotonic_ms: SysTick milliseconds (evt_mps2_clock).
 * - unix_seconds: the RTC read once at start-up (evt_mps2_sh_time: semihosting SYS_TIME
 *   stands in for the battery-backed RTC a real terminal has) plus the milliseconds since.
 *   SNTP through lwIP sets it (evt_mps2_sys_set_time) when a time server is provisioned.
 * - local_time: China Standard Time (UTC+8, no DST), integer arithmetic (evt_civil);
 *   outside 2000..2099 the "RTC is not set".
 * - entropy: timer jitter (evt_mps2_jitter_entropy); with the NV seed (evt_mps2_nv_seed) it
 *   feeds mbedTLS. Only acceptable in emulation: docs/board-mps2-an385.md.
 * - sleep_ms: WFI until the time has passed.
 * - log_write: "<ms> LEVEL module: line" on the log UART.
 */
#ifndef EVT_MPS2_SYS_H
#define EVT_MPS2_SYS_H

#include "evt/hal_sys.h"
#include "evt_mps2/cmsdk_uart.h"

typedef struct evt_mps2_sys {
    evt_hal_sys hal;
    evt_mps2_uart *log_uart; /* NULL: logs go nowhere */
    evt_log_level min_level;
    int64_t rtc_at_start; /* Unix seconds read from the RTC when the clock started */
    uint64_t ms_at_start;
} evt_mps2_sys;

/* The clock (evt_mps2_clock_init) must already run. */
void evt_mps2_sys_init(evt_mps2_sys *sys, evt_mps2_uart *log_uart, evt_log_level min_level);

/* Sets the wall clock (an SNTP answer): unix_seconds() reads unix_s now. */
void evt_mps2_sys_set_time(evt_mps2_sys *sys, int64_t unix_s);

/* UTC seconds -> China Standard Time. EVT_ERR_UNSUPPORTED outside 2000..2099. */
evt_err evt_mps2_cst_from_unix(int64_t unix_s, evt_datetime *out);

/* len bytes from timer jitter: each output byte is conditioned (SHA-256) from many samples of
 * the SysTick counter taken around work whose duration varies. Emulation only. */
evt_err evt_mps2_jitter_entropy(uint8_t *buf, size_t len);

#endif /* EVT_MPS2_SYS_H */
