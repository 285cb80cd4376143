/* Sim board system services: China Standard Time independent of TZ, clock offset, monotonic
 * clock, entropy, sleep, and the log sink's line format. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "evt/log.h"
#include "evt_sim/sys_posix.h"

static void assert_dt(const evt_datetime *dt, int y, int mo, int d, int h, int mi, int s)
{
    assert_int_equal(dt->year, y);
    assert_int_equal(dt->month, mo);
    assert_int_equal(dt->day, d);
    assert_int_equal(dt->hour, h);
    assert_int_equal(dt->minute, mi);
    assert_int_equal(dt->second, s);
}

static void test_cst_conversion(void **state)
{
    (void)state;
    evt_datetime dt;
    /* 2000-01-01 00:00:00 CST is 1999-12-31 16:00:00 UTC. */
    assert_int_equal(evt_sim_cst_from_unix(946656000, &dt), EVT_OK);
    assert_dt(&dt, 2000, 1, 1, 0, 0, 0);
    assert_int_equal(evt_sim_cst_from_unix(946655999, &dt), EVT_ERR_UNSUPPORTED);
    /* 2024-02-29 15:59:59 UTC = 23:59:59 CST; a second later is 1 March in Beijing. */
    assert_int_equal(evt_sim_cst_from_unix(1709222399, &dt), EVT_OK);
    assert_dt(&dt, 2024, 2, 29, 23, 59, 59);
    assert_int_equal(evt_sim_cst_from_unix(1709222400, &dt), EVT_OK);
    assert_dt(&dt, 2024, 3, 1, 0, 0, 0);
    /* 2026-11-25 11:00:33 UTC -> 19:00:33 CST. */
    assert_int_equal(evt_sim_cst_from_unix(1795604433, &dt), EVT_OK);
    assert_dt(&dt, 2026, 11, 25, 19, 0, 33);
    /* 2099-12-31 23:59:59 CST is the last representable second. */
    assert_int_equal(evt_sim_cst_from_unix(4102415999, &dt), EVT_OK);
    assert_dt(&dt, 2099, 12, 31, 23, 59, 59);
    assert_int_equal(evt_sim_cst_from_unix(4102416000, &dt), EVT_ERR_UNSUPPORTED);
    assert_int_equal(evt_sim_cst_from_unix(-1, &dt), EVT_ERR_UNSUPPORTED);
}

static void test_local_time_ignores_tz(void **state)
{
    (void)state;
    /* Whatever the machine's zone, the counter shows Beijing time. */
    setenv("TZ", "America/New_York", 1);
    tzset();
    evt_sim_sys *sys;
    evt_sim_sys_options opt = {.min_level = EVT_LOG_ERROR};
    assert_int_equal(evt_sim_sys_open(&sys, &opt), EVT_OK);
    const evt_hal_sys *hal = evt_sim_sys_hal(sys);
    int64_t t = hal->unix_seconds(hal->ctx);
    int64_t real = (int64_t)time(NULL);
    assert_true(t >= real - 1 && t <= real + 1);
    evt_datetime dt, want;
    assert_int_equal(hal->local_time(hal->ctx, &dt), EVT_OK);
    int64_t t2 = hal->unix_seconds(hal->ctx);
    /* Compare with the UTC clock shifted by eight hours, computed by the C library. */
    time_t shifted = (time_t)(t2 + 8 * 3600);
    struct tm tm;
    gmtime_r(&shifted, &tm);
    want = (evt_datetime){.year = (uint16_t)(tm.tm_year + 1900),
                          .month = (uint8_t)(tm.tm_mon + 1),
                          .day = (uint8_t)tm.tm_mday,
                          .hour = (uint8_t)tm.tm_hour,
                          .minute = (uint8_t)tm.tm_min,
                          .second = (uint8_t)tm.tm_sec};
    /* Same second unless the clock ticked in between. */
    if (t2 == t) {
        assert_memory_equal(&dt, &want, sizeof dt);
    }
    assert_int_equal(dt.year, want.year);

    /* Skew: an hour fast, and a clock set before 2000 ("RTC not set"). */
    evt_sim_sys_set_clock_offset(sys, 3600);
    int64_t fast = hal->unix_seconds(hal->ctx);
    assert_true(fast - t >= 3599 && fast - t <= 3602);
    evt_sim_sys_set_clock_offset(sys, -(int64_t)time(NULL));
    assert_true(hal->unix_seconds(hal->ctx) < 5);
    assert_int_equal(hal->local_time(hal->ctx, &dt), EVT_ERR_UNSUPPORTED);
    evt_sim_sys_close(sys);
    unsetenv("TZ");
    tzset();
}

static void test_monotonic_sleep_entropy(void **state)
{
    (void)state;
    evt_sim_sys *sys;
    assert_int_equal(evt_sim_sys_open(&sys, NULL), EVT_OK);
    const evt_hal_sys *hal = evt_sim_sys_hal(sys);
    uint64_t a = hal->monotonic_ms(hal->ctx);
    hal->sleep_ms(hal->ctx, 25);
    uint64_t b = hal->monotonic_ms(hal->ctx);
    assert_true(b >= a + 25);
    assert_true(b < a + 5000);
    hal->sleep_ms(hal->ctx, 0);
    /* Time a test lets pass without sleeping: the clock jumps forward at once. */
    evt_sim_sys_advance_monotonic(sys, 60000);
    uint64_t c = hal->monotonic_ms(hal->ctx);
    assert_true(c >= b + 60000);
    assert_true(c < b + 65000);

    uint8_t x[64], y[64];
    memset(x, 0, sizeof x);
    memset(y, 0, sizeof y);
    assert_int_equal(hal->entropy(hal->ctx, x, sizeof x), EVT_OK);
    assert_int_equal(hal->entropy(hal->ctx, y, sizeof y), EVT_OK);
    assert_memory_not_equal(x, y, sizeof x);
    size_t zero = 0;
    for (size_t i = 0; i < sizeof x; i++) {
        zero += x[i] == 0;
    }
    assert_true(zero < 16);
    assert_int_equal(hal->entropy(hal->ctx, NULL, 0), EVT_OK);
    assert_int_equal(hal->entropy(hal->ctx, NULL, 4), EVT_ERR_ARG);
    evt_sim_sys_close(sys);
}

static void test_log_file_format_and_level(void **state)
{
    (void)state;
    char path[] = "/tmp/evt_sys_log_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    evt_sim_sys_options opt = {.log_to_stderr = false, .log_path = path, .min_level = EVT_LOG_INFO};
    evt_sim_sys *sys;
    assert_int_equal(evt_sim_sys_open(&sys, &opt), EVT_OK);
    evt_log_init(evt_sim_sys_hal(sys));
    EVT_LOGD("txn", "dropped below the level");
    EVT_LOGI("txn", "sale %d settled", 42);
    EVT_LOGE("net", "connect failed: %s", "EVT_ERR_NET_CONNECT");
    assert_int_equal(evt_sim_sys_log_count(sys), 2);
    evt_log_init(NULL);
    evt_sim_sys_close(sys);

    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char line1[256], line2[256], line3[256];
    assert_non_null(fgets(line1, sizeof line1, f));
    assert_non_null(fgets(line2, sizeof line2, f));
    assert_null(fgets(line3, sizeof line3, f));
    fclose(f);
    unlink(path);
    unsigned y, mo, d, h, mi, s, ms;
    char level[8], module[16], rest[128];
    assert_int_equal(sscanf(line1, "%4u-%2u-%2u %2u:%2u:%2u.%3u %7s %15[^:]: %127[^\n]", &y, &mo,
                            &d, &h, &mi, &s, &ms, level, module, rest),
                     10);
    assert_true(y >= 2024 && mo >= 1 && mo <= 12 && ms < 1000);
    assert_string_equal(level, "INFO");
    assert_string_equal(module, "txn");
    assert_string_equal(rest, "sale 42 settled");
    assert_non_null(strstr(line2, " ERROR net: connect failed: EVT_ERR_NET_CONNECT\n"));

    evt_sim_sys *bad = NULL;
    evt_sim_sys_options nofile = {.log_path = "/proc/evt-no-such/log"};
    assert_int_equal(evt_sim_sys_open(&bad, &nofile), EVT_ERR_STORAGE_IO);
    assert_null(bad);
    assert_string_equal(evt_log_level_name(EVT_LOG_WARN), "WARN");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cst_conversion),
        cmocka_unit_test(test_local_time_ignores_tz),
        cmocka_unit_test(test_monotonic_sleep_entropy),
        cmocka_unit_test(test_log_file_format_and_level),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
