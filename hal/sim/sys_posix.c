/* evt_sim_sys: POSIX clocks, getrandom() entropy and a stderr/file log sink. */
#include "evt_sim/sys_posix.h"

#include "evt/civil.h"
#include "evt/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "sim_util.h"

#define CST_OFFSET_S (8 * 3600)

struct evt_sim_sys {
    evt_hal_sys hal;
    evt_sim_sys_options opt;
    FILE *log_file;
    uint64_t log_count;
    uint64_t monotonic_ahead_ms; /* evt_sim_sys_advance_monotonic */
};

/* Integer calendar arithmetic (evt_civil), so the result never depends on the C library's
 * idea of the local zone. */
evt_err evt_sim_cst_from_unix(int64_t unix_s, evt_datetime *out)
{
    if (out == NULL) {
        return EVT_ERR_ARG;
    }
    evt_civil c;
    evt_civil_from_unix(unix_s + CST_OFFSET_S, &c);
    if (c.year < 2000 || c.year > 2099) {
        return EVT_ERR_UNSUPPORTED;
    }
    out->year = (uint16_t)c.year;
    out->month = (uint8_t)c.month;
    out->day = (uint8_t)c.day;
    out->hour = (uint8_t)c.hour;
    out->minute = (uint8_t)c.minute;
    out->second = (uint8_t)c.second;
    return EVT_OK;
}

static uint64_t sys_monotonic_ms(void *ctx)
{
    const evt_sim_sys *sys = ctx;
    return evt_sim_util_now_ms() + sys->monotonic_ahead_ms;
}

static int64_t sys_unix_seconds(void *ctx)
{
    const evt_sim_sys *sys = ctx;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec + sys->opt.clock_offset_s;
}

static evt_err sys_local_time(void *ctx, evt_datetime *out)
{
    return evt_sim_cst_from_unix(sys_unix_seconds(ctx), out);
}

static evt_err sys_entropy(void *ctx, uint8_t *buf, size_t len)
{
    (void)ctx;
    if (buf == NULL && len > 0) {
        return EVT_ERR_ARG;
    }
    size_t done = 0;
    while (done < len) {
        ssize_t n = getrandom(buf + done, len - done, 0);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return EVT_ERR_INTERNAL;
        }
        done += (size_t)n;
    }
    return EVT_OK;
}

static void sys_sleep_ms(void *ctx, uint32_t ms)
{
    (void)ctx;
    evt_sim_util_sleep_ms(ms);
}

static void sys_log_write(void *ctx, evt_log_level level, const char *module, const char *line)
{
    evt_sim_sys *sys = ctx;
    if (level < sys->opt.min_level) {
        return;
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    evt_datetime dt;
    char stamp[48];
    if (evt_sim_cst_from_unix((int64_t)ts.tv_sec + sys->opt.clock_offset_s, &dt) == EVT_OK) {
        snprintf(stamp, sizeof stamp, "%04u-%02u-%02u %02u:%02u:%02u.%03d", dt.year, dt.month,
                 dt.day, dt.hour, dt.minute, dt.second, (int)(ts.tv_nsec / 1000000L));
    } else {
        snprintf(stamp, sizeof stamp, "@%lld", (long long)ts.tv_sec);
    }
    const char *lvl = evt_log_level_name(level);
    const char *mod = module != NULL ? module : "-";
    const char *text = line != NULL ? line : "";
    /* One fprintf per sink keeps a line whole even when other writers share stderr. */
    if (sys->opt.log_to_stderr) {
        fprintf(stderr, "%s %s %s: %s\n", stamp, lvl, mod, text);
    }
    if (sys->log_file != NULL) {
        fprintf(sys->log_file, "%s %s %s: %s\n", stamp, lvl, mod, text);
        fflush(sys->log_file);
    }
    sys->log_count++;
}

evt_err evt_sim_sys_open(evt_sim_sys **out, const evt_sim_sys_options *opt)
{
    if (out == NULL) {
        return EVT_ERR_ARG;
    }
    *out = NULL;
    evt_sim_sys *sys = calloc(1, sizeof *sys);
    if (sys == NULL) {
        return EVT_ERR_NOMEM;
    }
    if (opt != NULL) {
        sys->opt = *opt;
    } else {
        sys->opt.log_to_stderr = true;
        sys->opt.min_level = EVT_LOG_INFO;
    }
    if (sys->opt.log_path != NULL) {
        sys->log_file = fopen(sys->opt.log_path, "ae");
        if (sys->log_file == NULL) {
            free(sys);
            return EVT_ERR_STORAGE_IO;
        }
    }
    sys->opt.log_path = NULL; /* not kept: the caller's string may not outlive us */
    sys->hal = (evt_hal_sys){
        .ctx = sys,
        .monotonic_ms = sys_monotonic_ms,
        .unix_seconds = sys_unix_seconds,
        .local_time = sys_local_time,
        .entropy = sys_entropy,
        .sleep_ms = sys_sleep_ms,
        .log_write = sys_log_write,
    };
    *out = sys;
    return EVT_OK;
}

void evt_sim_sys_close(evt_sim_sys *sys)
{
    if (sys == NULL) {
        return;
    }
    if (sys->log_file != NULL) {
        fclose(sys->log_file);
    }
    free(sys);
}

const evt_hal_sys *evt_sim_sys_hal(evt_sim_sys *sys)
{
    return &sys->hal;
}

void evt_sim_sys_advance_monotonic(evt_sim_sys *sys, uint32_t ms)
{
    sys->monotonic_ahead_ms += ms;
}

void evt_sim_sys_set_clock_offset(evt_sim_sys *sys, int64_t offset_s)
{
    sys->opt.clock_offset_s = offset_s;
}

uint64_t evt_sim_sys_log_count(const evt_sim_sys *sys)
{
    return sys->log_count;
}
