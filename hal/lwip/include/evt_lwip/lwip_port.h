/*
 * What lwIP needs from the board, provided once for every lwIP board: sys_now() from the
 * HAL's monotonic clock, LWIP_RAND() from the HAL's entropy, assertion failures reported
 * through the HAL's log and then handed to the board (which resets on a real terminal), and
 * the SNTP answer handed to the board's clock.
 */
#ifndef EVT_LWIP_LWIP_PORT_H
#define EVT_LWIP_LWIP_PORT_H

#include <stdint.h>

#include "evt/hal_sys.h"

typedef struct evt_lwip_port {
    const evt_hal_sys *sys;
    /* Called after an lwIP assertion failed and was logged; must not return on a board
     * (reset), a test may abort. */
    void (*fatal)(void *ctx);
    void *fatal_ctx;
    /* Called with the time an SNTP server gave (Unix seconds, UTC); NULL: ignored. */
    void (*set_time)(void *ctx, int64_t unix_seconds);
    void *set_time_ctx;
} evt_lwip_port;

/* Must be called before lwip_init(); port is kept (the board owns it). */
void evt_lwip_port_init(const evt_lwip_port *port);

#endif /* EVT_LWIP_LWIP_PORT_H */
