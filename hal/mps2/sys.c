/* evt_mps2_sys: clocks, RTC, entropy and log sink of the mps2-an385 board; see sys.h. */
#include "evt_mps2/sys.h"

#include <stdio.h>
#include <string.h>

#include <mbedtls/sha256.h>
#include <mbedtls/platform_util.h>

#include "evt/civil.h"
#include "evt/log.h"
#include "evt_mps2/clock.h"
#include "evt_mps2/semihost.h"

#define CST_OFFSET_S (8 * 3600)
/* Jitter samples per 32 output bytes: conservatively one bit of entropy per 8 samples. */
#define JITTER_SAMPLES_PER_BLOCK 2048u

evt_err evt_mps2_cst_from_unix(int64_t unix_s, evt_datetime *out)
{
    evt_civil c;
    evt_civil_from_unix(unix_s + CST_OFFSET_S, &c);
    if (c.year < 2000 || c.year > 2099) {
        return EVT_ERR_UNSUPPORTED;
    }
    *out = (evt_datetime){.year = (uint16_t)c.year,
                          .month = (uint8_t)c.month,
                          .day = (uint8_t)c.day,
                          .hour = (uint8_t)c.hour,
                          .minute = (uint8_t)c.minute,
                          .second = (uint8_t)c.second};
    return EVT_OK;
}

static uint64_t sys_monotonic_ms(void *ctx)
{
    (void)ctx;
    return evt_mps2_clock_ms();
}

static int64_t sys_unix_seconds(void *ctx)
{
    evt_mps2_sys *sys = ctx;
    return sys->rtc_at_start + (int64_t)((evt_mps2_clock_ms() - sys->ms_at_start) / 1000u);
}

void evt_mps2_sys_set_time(evt_mps2_sys *sys, int64_t unix_s)
{
    sys->ms_at_start = evt_mps2_clock_ms();
    sys->rtc_at_start = unix_s;
}

static evt_err sys_local_time(void *ctx, evt_datetime *out)
{
    return evt_mps2_cst_from_unix(sys_unix_seconds(ctx), out);
}

/* Work whose duration depends on the data it churns: the timing of memory accesses, flash
 * wait states and (under QEMU) the host's scheduling show up in the low counter bits. */
static uint32_t jitter_sample(uint32_t *state)
{
    uint32_t t0 = evt_mps2_clock_cycles();
    uint32_t rounds = (*state & 0x1Fu) + 1u;
    for (uint32_t i = 0; i < rounds; i++) {
        *state = *state * 1664525u + 1013904223u;
    }
    return t0 ^ evt_mps2_clock_cycles();
}

evt_err evt_mps2_jitter_entropy(uint8_t *buf, size_t len)
{
    uint32_t state = evt_mps2_clock_cycles();
    uint8_t block[32];
    while (len > 0) {
        mbedtls_sha256_context sha;
        mbedtls_sha256_init(&sha);
        if (mbedtls_sha256_starts(&sha, 0) != 0) {
            mbedtls_sha256_free(&sha);
            return EVT_ERR_INTERNAL;
        }
        for (uint32_t i = 0; i < JITTER_SAMPLES_PER_BLOCK; i++) {
            uint32_t s = jitter_sample(&state);
            mbedtls_sha256_update(&sha, (const unsigned char *)&s, sizeof s);
        }
        uint64_t ms = evt_mps2_clock_ms();
        mbedtls_sha256_update(&sha, (const unsigned char *)&ms, sizeof ms);
        mbedtls_sha256_finish(&sha, block);
        mbedtls_sha256_free(&sha);
        size_t n = len < sizeof block ? len : sizeof block;
        memcpy(buf, block, n);
        buf += n;
        len -= n;
    }
    mbedtls_platform_zeroize(block, sizeof block);
    return EVT_OK;
}

static evt_err sys_entropy(void *ctx, uint8_t *buf, size_t len)
{
    (void)ctx;
    return evt_mps2_jitter_entropy(buf, len);
}

static void sys_sleep_ms(void *ctx, uint32_t ms)
{
    (void)ctx;
    evt_mps2_clock_sleep_ms(ms);
}

static void sys_log_write(void *ctx, evt_log_level level, const char *module, const char *line)
{
    evt_mps2_sys *sys = ctx;
    if (sys->log_uart == NULL || level < sys->min_level) {
        return;
    }
    char head[48];
    uint64_t ms = evt_mps2_clock_ms();
    snprintf(head, sizeof head, "%lu.%03u %s %s: ", (unsigned long)(ms / 1000u),
             (unsigned)(ms % 1000u), evt_log_level_name(level), module);
    evt_mps2_uart_puts(sys->log_uart, head);
    evt_mps2_uart_puts(sys->log_uart, line);
    evt_mps2_uart_puts(sys->log_uart, "\r\n");
}

void evt_mps2_sys_init(evt_mps2_sys *sys, evt_mps2_uart *log_uart, evt_log_level min_level)
{
    memset(sys, 0, sizeof *sys);
    sys->log_uart = log_uart;
    sys->min_level = min_level;
    sys->ms_at_start = evt_mps2_clock_ms();
    sys->rtc_at_start = evt_mps2_sh_time();
    sys->hal = (evt_hal_sys){.ctx = sys,
                             .monotonic_ms = sys_monotonic_ms,
                             .unix_seconds = sys_unix_seconds,
                             .local_time = sys_local_time,
                             .entropy = sys_entropy,
                             .sleep_ms = sys_sleep_ms,
                             .log_write = sys_log_write};
}
