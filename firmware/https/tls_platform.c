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

/* Days since 1970-01-01 to proleptic Gregorian civil date (H. Hinnant's algorithm): integer
 * only, valid for the whole int64 range a certificate can carry. */
static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const unsigned doe = (unsigned)(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
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
    int64_t t = (int64_t)*tt;
    int64_t days = t / 86400;
    int64_t secs = t % 86400;
    if (secs < 0) {
        secs += 86400;
        days -= 1;
    }
    int64_t year;
    unsigned month, day;
    civil_from_days(days, &year, &month, &day);
    if (year - 1900 > INT32_MAX || year - 1900 < INT32_MIN) {
        return NULL;
    }
    static const uint16_t days_before_month[12] = {0,   31,  59,  90,  120, 151,
                                                   181, 212, 243, 273, 304, 334};
    memset(tm_buf, 0, sizeof(*tm_buf));
    tm_buf->tm_year = (int)(year - 1900);
    tm_buf->tm_mon = (int)month - 1;
    tm_buf->tm_mday = (int)day;
    tm_buf->tm_hour = (int)(secs / 3600);
    tm_buf->tm_min = (int)(secs / 60 % 60);
    tm_buf->tm_sec = (int)(secs % 60);
    /* 1970-01-01 was a Thursday (4). */
    int64_t wday = (days + 4) % 7;
    tm_buf->tm_wday = (int)(wday < 0 ? wday + 7 : wday);
    tm_buf->tm_yday =
        (int)(days_before_month[month - 1] + day - 1 + (month > 2 && is_leap(year) ? 1 : 0));
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
