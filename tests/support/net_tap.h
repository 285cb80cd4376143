/*
 * net_tap: a network HAL (include/evt/hal_net.h) put around another one, so a benchmark or a
 * test sees what the terminal does on the network without changing it: connections, bytes each
 * way, round trips, and every buffer the terminal sends (on_send). Install it through the
 * integration harness's term_options.wrap_net = net_tap_wrap, wrap_net_arg = &tap.
 *
 * A round trip (docs/performance.md): the terminal sent bytes on a connection and then waits
 * for the peer's; it is counted when the first bytes come back after one or more sends (so a
 * TLS flight in several records, or a NewSessionTicket before the answer, counts once). A TCP
 * connect counts one (SYN / SYN-ACK). Probes that find nothing and close_notify do not count.
 * Bytes and round trips are counted on the first NET_TAP_SOCKETS connections open at once;
 * listening, accepting and the local identity go straight to the driver below.
 */
#ifndef NET_TAP_H
#define NET_TAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "evt/hal_net.h"

#define NET_TAP_SOCKETS 8

typedef struct net_tap_counts {
    unsigned round_trips;
    unsigned connects;
    unsigned long long bytes_up, bytes_down;
    double wait_ms; /* time in the receive that ended each round trip: the RTT plus the
                     * peer's processing (at RTT 0, the processing alone) */
} net_tap_counts;

typedef struct net_tap {
    evt_hal_net inner;         /* the driver below (set by net_tap_wrap) */
    uint32_t connect_delay_ms; /* added before each connect: the RTT loopback does not add */
    /* Called with every buffer the terminal hands to send, before the driver sees it. */
    void (*on_send)(void *arg, const uint8_t *data, size_t len);
    void *on_send_arg;
    net_tap_counts n;
    evt_net_sock *sock[NET_TAP_SOCKETS];
    bool awaiting[NET_TAP_SOCKETS]; /* sent since the peer's last bytes */
} net_tap;

/* term_options.wrap_net: puts the tap (arg) around *net; the tap keeps the driver below. */
void net_tap_wrap(void *arg, evt_hal_net *net);

/* Forgets the sends that wait for an answer: the round trips they began are not counted when
 * the answer comes (it was waited for off the path being measured). */
void net_tap_forget_waiting(net_tap *tap);

/* Milliseconds of the monotonic clock, the time base of wait_ms. */
double net_tap_now_ms(void);

#endif /* NET_TAP_H */
