/* lwIP's hooks to the HAL: see include/evt_lwip/lwip_port.h. */
#include "evt_lwip/lwip_port.h"

#include <stdio.h>

#include "lwip/arch.h"
#include "lwip/sys.h"

static const evt_lwip_port *port;

void evt_lwip_port_init(const evt_lwip_port *p)
{
    port = p;
}

u32_t sys_now(void)
{
    /* lwIP compares u32_t differences, so the wrap after 49 days is harmless. */
    return port != NULL ? (u32_t)port->sys->monotonic_ms(port->sys->ctx) : 0u;
}

uint32_t evt_lwip_rand(void)
{
    uint8_t b[4] = {0};
    if (port == NULL || port->sys->entropy(port->sys->ctx, b, sizeof b) != EVT_OK) {
        /* Only port numbers, TCP sequence numbers and DHCP/DNS ids depend on it; a failing
         * entropy source is reported by the firmware's own DRBG seeding, not here. */
        static uint32_t fallback = 0x9E3779B9u;
        fallback = fallback * 1664525u + 1013904223u + sys_now();
        return fallback;
    }
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

void evt_lwip_assert_failed(const char *message, const char *file, int line)
{
    if (port != NULL) {
        char text[160];
        const char *base = file;
        for (const char *c = file; *c != '\0'; c++) {
            if (*c == '/') {
                base = c + 1;
            }
        }
        snprintf(text, sizeof text, "lwIP assertion failed: %s (%s:%d)", message, base, line);
        port->sys->log_write(port->sys->ctx, EVT_LOG_ERROR, "lwip", text);
        if (port->fatal != NULL) {
            port->fatal(port->fatal_ctx);
        }
    }
    for (;;) {
        /* A broken network stack must not go on moving money: wait for the watchdog. */
    }
}

void evt_lwip_sntp_set_time(unsigned long unix_seconds)
{
    if (port != NULL && port->set_time != NULL) {
        port->set_time(port->set_time_ctx, (int64_t)unix_seconds);
    }
}
