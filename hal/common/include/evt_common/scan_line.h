/*
 * evt_scan_line: splits the byte stream of a serial scan engine into scans, for every board
 * that has one (the sim's fd driver, the mps2 UART driver). Pure C, no I/O; the caller gives
 * the line buffer (line_max bytes: the engine's own line buffer).
 *
 * One scan = one line. CR, LF and CRLF all end a line; empty lines are ignored (so CRLF is one
 * terminator). A line longer than line_max is dropped whole (resync at the next terminator)
 * and reported as EVT_ERR_OVERFLOW with its true length. Payloads cannot contain CR or LF —
 * a limit of serial scan engines, not of this model.
 */
#ifndef EVT_COMMON_SCAN_LINE_H
#define EVT_COMMON_SCAN_LINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "evt/err.h"

typedef struct evt_scan_line {
    uint8_t *line;   /* the line being assembled */
    size_t line_max; /* its capacity */
    size_t len;      /* bytes kept in line */
    size_t dropped;  /* bytes of an over-long line beyond line_max */
} evt_scan_line;

void evt_scan_line_init(evt_scan_line *sl, uint8_t *storage, size_t line_max);
/* One received byte; true when it ended a non-empty line (collect it with evt_scan_line_take
 * before feeding more). */
bool evt_scan_line_feed(evt_scan_line *sl, uint8_t byte);
/* True while a line is partly received (end of input turns it into a scan). */
bool evt_scan_line_pending(const evt_scan_line *sl);
/* Hands over the finished (or, at end of input, the partial) line and starts the next one:
 * EVT_OK with *len bytes in buf, or EVT_ERR_OVERFLOW (longer than cap or than line_max)
 * with *len its true length. */
evt_err evt_scan_line_take(evt_scan_line *sl, uint8_t *buf, size_t cap, size_t *len);

#endif /* EVT_COMMON_SCAN_LINE_H */
