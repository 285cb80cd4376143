/*
 * HAL contract: the code scanner. Camera engines decode frames (zbar on Linux boards),
 * serial engines send one text line per scan; either way the firmware receives the raw
 * payload bytes of one code, exactly as encoded (may be binary).
 */
#ifndef EVT_HAL_SCANNER_H
#define EVT_HAL_SCANNER_H

#include <stddef.h>
#include <stdint.h>

#include "evt/err.h"

typedef enum evt_scan_source {
    EVT_SCAN_CAMERA, /* decoded from an image frame */
    EVT_SCAN_SERIAL, /* text line from a serial scan engine */
} evt_scan_source;

typedef struct evt_hal_scanner {
    void *ctx;
    /* Waits up to timeout_ms for one scan and copies its payload into buf.
     * EVT_OK: *len bytes written, *source set.
     * EVT_ERR_NET_TIMEOUT is never used here: EVT_ERR_TIMEOUT means nothing was scanned.
     * EVT_ERR_SCAN_UNREADABLE: a frame was seen but held no decodable code (the firmware
     *   tells the cashier to brighten the phone screen).
     * EVT_ERR_OVERFLOW: the payload was longer than cap (the firmware refuses it as over-long;
     *   *len holds the true length when known). */
    evt_err (*read)(void *ctx, uint32_t timeout_ms, uint8_t *buf, size_t cap, size_t *len,
                    evt_scan_source *source);
} evt_hal_scanner;

#endif /* EVT_HAL_SCANNER_H */
