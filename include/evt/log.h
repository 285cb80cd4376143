/*
 * evt_log: formatted log lines through the board's log sink (evt_hal_sys.log_write).
 *
 * Rule: never pass a name, an ID number, an ecToken or a raw QR payload to these functions.
 * Use evt_mask_* (mask.h) first; reviewers grep for evt_log calls with personal fields.
 */
#ifndef EVT_LOG_H
#define EVT_LOG_H

#include "evt/hal_sys.h"

void evt_log_init(const evt_hal_sys *sys);
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
void evt_log(evt_log_level level, const char *module, const char *fmt, ...);

/* "DEBUG", "INFO", "WARN", "ERROR" ("?" for anything else): the name every board's log sink
 * writes in front of a line. */
const char *evt_log_level_name(evt_log_level level);

#define EVT_LOGD(mod, ...) evt_log(EVT_LOG_DEBUG, mod, __VA_ARGS__)
#define EVT_LOGI(mod, ...) evt_log(EVT_LOG_INFO, mod, __VA_ARGS__)
#define EVT_LOGW(mod, ...) evt_log(EVT_LOG_WARN, mod, __VA_ARGS__)
#define EVT_LOGE(mod, ...) evt_log(EVT_LOG_ERROR, mod, __VA_ARGS__)

#endif /* EVT_LOG_H */
