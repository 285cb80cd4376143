/*
 * HAL contract: system services every board provides — clocks, entropy, log sink.
 *
 * All functions are called from the firmware's single main loop; none may block longer than
 * stated. Boards fill an evt_hal_sys with their functions and a context pointer.
 */
#ifndef EVT_HAL_SYS_H
#define EVT_HAL_SYS_H

#include <stddef.h>
#include <stdint.h>

#include "evt/err.h"

/* Local civil time at the counter (China Standard Time on real terminals). */
typedef struct evt_datetime {
    uint16_t year;  /* 2000..2099 */
    uint8_t month;  /* 1..12 */
    uint8_t day;    /* 1..31 */
    uint8_t hour;   /* 0..23 */
    uint8_t minute; /* 0..59 */
    uint8_t second; /* 0..59 */
} evt_datetime;

typedef enum evt_log_level {
    EVT_LOG_DEBUG,
    EVT_LOG_INFO,
    EVT_LOG_WARN,
    EVT_LOG_ERROR,
} evt_log_level;

typedef struct evt_hal_sys {
    void *ctx;
    /* Milliseconds since an arbitrary start; never goes backwards. Does not block. */
    uint64_t (*monotonic_ms)(void *ctx);
    /* Seconds since the Unix epoch (UTC), for gateway timestamps and certificate checks. */
    int64_t (*unix_seconds)(void *ctx);
    /* Local civil time. Returns EVT_ERR_UNSUPPORTED if the RTC is not set. */
    evt_err (*local_time)(void *ctx, evt_datetime *out);
    /* Fills buf with len bytes of cryptographic-quality entropy; may block briefly. */
    evt_err (*entropy)(void *ctx, uint8_t *buf, size_t len);
    /* Sleeps at least ms milliseconds (yields the CPU on boards that can). */
    void (*sleep_ms)(void *ctx, uint32_t ms);
    /* Writes one finished log line (UTF-8, no newline). The firmware has already removed
     * personal data; the board only stores or prints it. Must not fail loudly. */
    void (*log_write)(void *ctx, evt_log_level level, const char *module, const char *line);
} evt_hal_sys;

#endif /* EVT_HAL_SYS_H */
