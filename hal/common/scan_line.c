/* evt_scan_line: serial scan engine lines; see scan_line.h. */
#include "evt_common/scan_line.h"

#include <string.h>

void evt_scan_line_init(evt_scan_line *sl, uint8_t *storage, size_t line_max)
{
    sl->line = storage;
    sl->line_max = line_max;
    sl->len = 0;
    sl->dropped = 0;
}

bool evt_scan_line_feed(evt_scan_line *sl, uint8_t c)
{
    if (c == '\r' || c == '\n') {
        /* Second half of CRLF, or a blank line: nothing to hand over. */
        return sl->len > 0 || sl->dropped > 0;
    }
    if (sl->len < sl->line_max) {
        sl->line[sl->len++] = c;
    } else {
        sl->dropped++;
    }
    return false;
}

bool evt_scan_line_pending(const evt_scan_line *sl)
{
    return sl->len > 0 || sl->dropped > 0;
}

evt_err evt_scan_line_take(evt_scan_line *sl, uint8_t *buf, size_t cap, size_t *len)
{
    size_t true_len = sl->len + sl->dropped;
    bool too_long = sl->dropped > 0;
    sl->len = 0;
    sl->dropped = 0;
    *len = true_len;
    if (too_long || true_len > cap) {
        return EVT_ERR_OVERFLOW;
    }
    if (true_len > 0) {
        memcpy(buf, sl->line, true_len);
    }
    return EVT_OK;
}
