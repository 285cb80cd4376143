/*
 * mbedTLS platform hooks backed by the board's HAL (see include/evt_mbedtls_config.h).
 *
 * The hooks live in the same object as evt_https_platform_init on purpose: a static link
 * pulls this object in because the program calls that function, so mbedTLS's references to
 * mbedtls_hardware_poll, mbedtls_ms_time and mbedtls_platform_gmtime_r always resolve even
 * though libmbedcrypto comes after libevt_core on the link line.
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <mbedtls/entropy.h>
#include <mbedtls/platform.h>
#include <mbedtls/platform_time.h>
#include <mbedtls/platform_util.h>
#include <psa/crypto.h>
#include <psa/crypto_extra.h>

#include "evt/civil.h"
#include "evt/https.h"
#include "evt/log.h"

#define MOD "tls"

static const evt_hal_sys *platform_sys;
static bool platform_psa_ready;

int mbedtls_hardware_poll(void *data, unsigned char *output, size_t len, size_t *olen);

int mbedtls_hardware_poll(void *data, unsigned char *output, size_t len, size_t *olen)
{
    (void)data;
    *olen = 0;
    if (!platform_sys || !platform_sys->entropy) {
        return MBEDTLS_ERR_ENTROPY_SOURCE_FAILED;
    }
    if (platform_sys->entropy(platform_sys->ctx, output, len) != EVT_OK) {
        EVT_LOGE(MOD, "HAL entropy source failed");
        return MBEDTLS_ERR_ENTROPY_SOURCE_FAILED;
    }
    *olen = len;
    return 0;
}

static mbedtls_time_t hal_wall_clock(mbedtls_time_t *out)
{
    /* Before init there is no clock: 0 makes every certificate "not yet valid", which fails
     * closed rather than accepting expired ones. */
    mbedtls_time_t now =
        platform_sys ? (mbedtls_time_t)platform_sys->unix_seconds(platform_sys->ctx) : 0;
    if (out) {
        *out = now;
    }
    return now;
}

mbedtls_ms_time_t mbedtls_ms_time(void)
{
    return platform_sys ? (mbedtls_ms_time_t)platform_sys->monotonic_ms(platform_sys->ctx) : 0;
}

static bool is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

struct tm *mbedtls_platform_gmtime_r(const mbedtls_time_t *tt, struct tm *tm_buf)
{
    if (!tt || !tm_buf) {
        return NULL;
    }
    evt_civil c;
    evt_civil_from_unix((int64_t)*tt, &c);
    if (c.year - 1900 > INT32_MAX || c.year - 1900 < INT32_MIN) {
        return NULL;
    }
    static const uint16_t days_before_month[12] = {0,   31,  59,  90,  120, 151,
                                                   181, 212, 243, 273, 304, 334};
    memset(tm_buf, 0, sizeof(*tm_buf));
    tm_buf->tm_year = (int)(c.year - 1900);
    tm_buf->tm_mon = (int)c.month - 1;
    tm_buf->tm_mday = (int)c.day;
    tm_buf->tm_hour = (int)c.hour;
    tm_buf->tm_min = (int)c.minute;
    tm_buf->tm_sec = (int)c.second;
    /* 1970-01-01 was a Thursday (4). */
    int64_t wday = (c.days + 4) % 7;
    tm_buf->tm_wday = (int)(wday < 0 ? wday + 7 : wday);
    tm_buf->tm_yday = (int)(days_before_month[c.month - 1] + c.day - 1 +
                            (c.month > 2 && is_leap(c.year) ? 1 : 0));
    tm_buf->tm_isdst = 0;
    return tm_buf;
}

evt_err evt_https_platform_init(const evt_hal_sys *sys)
{
    if (!sys || !sys->entropy || !sys->unix_seconds || !sys->monotonic_ms) {
        return EVT_ERR_ARG;
    }
    platform_sys = sys;
    mbedtls_platform_set_time(hal_wall_clock);
    if (!platform_psa_ready) {
        psa_status_t st = psa_crypto_init();
        if (st != PSA_SUCCESS) {
            EVT_LOGE(MOD, "psa_crypto_init failed: %d", (int)st);
            return st == PSA_ERROR_INSUFFICIENT_MEMORY ? EVT_ERR_NOMEM : EVT_ERR_TLS_CONFIG;
        }
        platform_psa_ready = true;
    }
    return EVT_OK;
}

bool evt_https_platform_ready(void)
{
    return platform_psa_ready;
}

void evt_https_platform_deinit(void)
{
    /* PSA keeps key slots and its DRBG in the arena: free them before the arena is reused. */
    if (platform_psa_ready) {
        mbedtls_psa_crypto_free();
        platform_psa_ready = false;
    }
    platform_sys = NULL;
}
