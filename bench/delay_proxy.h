/*
 * delay_proxy: a TCP proxy on 127.0.0.1 that delays every byte by a fixed one-way time in each
 * direction, so that a request/answer exchange through it costs RTT = 2 x one_way more than on
 * plain loopback. Used by bench_protocol to measure the wall-time slope against RTT.
 *
 * Each accepted connection is forwarded to 127.0.0.1:target_port by its own thread, which
 * keeps what it read with a due time and writes it once due (bounded: DELAY_PROXY_QUEUE
 * pieces of at most 16 KiB per direction; reading stops while a queue is full). The kernel
 * answers the TCP handshake itself, so the connect is not delayed here: bench_protocol's HAL
 * wrapper adds one RTT to each connect instead.
 */
#ifndef DELAY_PROXY_H
#define DELAY_PROXY_H

#include <stdint.h>

#define DELAY_PROXY_QUEUE 64

typedef struct delay_proxy delay_proxy;

/* NULL on failure. */
delay_proxy *delay_proxy_start(int target_port, uint32_t one_way_ms);
int delay_proxy_port(const delay_proxy *p);
/* Stops accepting; connections still open end when their peers close. */
void delay_proxy_stop(delay_proxy *p);

#endif /* DELAY_PROXY_H */
