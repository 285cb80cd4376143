/*
 * evt_sim_sys: the sim board's system services (evt_hal_sys) on POSIX.
 *
 * - monotonic_ms: CLOCK_MONOTONIC, plus whatever evt_sim_sys_advance_monotonic added.
 * - unix_seconds: CLOCK_REALTIME plus a settable offset, so tests can model a terminal whose
 *   clock is off (gateway timestamp checks, certificate validity, msgid clock steps).
 * - local_time: China Standard Time (UTC+8, no DST) computed arithmetically from
 *   unix_seconds, never from the machine's TZ: a terminal in a Shanghai pharmacy prints Beijing
 *   time even when CI runs in UTC. Outside 2000..2099 the "RTC is not set".
 * - entropy: getrandom(2), blocking until the kernel pool is initialised.
 * - log_write: "YYYY-MM-DD HH:MM:SS.mmm LEVEL module: line" to stderr and/or a log file.
 */
#ifndef EVT_SIM_SYS_POSIX_H
#define EVT_SIM_SYS_POSIX_H

#include <stdbool.h>
#include <stdint.h>

#include "evt/hal_sys.h"

typedef struct evt_sim_sys_options {
    bool log_to_stderr;      /* write log lines to stderr */
    const char *log_path;    /* NULL: no log file; else appended, line-buffered */
    evt_log_level min_level; /* lines below this level are dropped */
    int64_t clock_offset_s;  /* added to the real UTC clock (clock-skew tests) */
} evt_sim_sys_options;

typedef struct evt_sim_sys evt_sim_sys;

/* opt NULL: log to stderr at INFO and above, no offset. EVT_ERR_STORAGE_IO if the log file
 * cannot be opened. */
evt_err evt_sim_sys_open(evt_sim_sys **out, const evt_sim_sys_options *opt);
void evt_sim_sys_close(evt_sim_sys *sys);
/* The contract struct; valid until evt_sim_sys_close. */
const evt_hal_sys *evt_sim_sys_hal(evt_sim_sys *sys);
void evt_sim_sys_set_clock_offset(evt_sim_sys *sys, int64_t offset_s);
/* Moves monotonic_ms forward by ms at once, without sleeping: a test lets time pass for the
 * firmware (a cashier reading a screen before pressing a key) deterministically. Only
 * forward, so the clock still never goes back; unix_seconds is not affected. */
void evt_sim_sys_advance_monotonic(evt_sim_sys *sys, uint32_t ms);
/* Lines written to the sinks since open (dropped-by-level lines not counted). */
uint64_t evt_sim_sys_log_count(const evt_sim_sys *sys);

/* UTC seconds -> China Standard Time civil time. EVT_ERR_UNSUPPORTED outside 2000..2099. */
evt_err evt_sim_cst_from_unix(int64_t unix_s, evt_datetime *out);

#endif /* EVT_SIM_SYS_POSIX_H */
