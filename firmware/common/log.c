/* evt_log: formats into a fixed line buffer (no heap) and hands it to the board. */
#include "evt/log.h"

#include <stdarg.h>
#include <stdio.h>

#define LOG_LINE_BYTES 256

static const evt_hal_sys *log_sys;

void evt_log_init(const evt_hal_sys *sys)
{
    log_sys = sys;
}

void evt_log(evt_log_level level, const char *module, const char *fmt, ...)
{
    if (log_sys == NULL || log_sys->log_write == NULL) {
        return;
    }
    char line[LOG_LINE_BYTES];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n < 0) {
        return;
    }
    log_sys->log_write(log_sys->ctx, level, module, line);
}

const char *evt_log_level_name(evt_log_level level)
{
    switch (level) {
    case EVT_LOG_DEBUG:
        return "DEBUG";
    case EVT_LOG_INFO:
        return "INFO";
    case EVT_LOG_WARN:
        return "WARN";
    case EVT_LOG_ERROR:
        return "ERROR";
    }
    return "?";
}
