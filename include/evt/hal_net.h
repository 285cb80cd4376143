/*
 * HAL contract: stream sockets (TCP). POSIX sockets on the sim and Linux boards, lwIP raw or
 * netconn API on bare-metal boards. TLS is layered on top by the firmware (mbedTLS), in the
 * style of mbedtls_ssl_set_bio: this contract only moves bytes.
 *
 * Ownership: buffers belong to the caller and are not kept after a call returns.
 * Blocking: every call blocks at most timeout_ms (0 = poll once and return).
 */
#ifndef EVT_HAL_NET_H
#define EVT_HAL_NET_H

#include <stddef.h>
#include <stdint.h>

#include "evt/err.h"

/* Opaque, owned by the driver; valid from connect/accept until close. */
typedef struct evt_net_sock evt_net_sock;

typedef struct evt_hal_net {
    void *ctx;
    /* Resolves host (name or literal IPv4/IPv6) and connects.
     * Errors: EVT_ERR_NET_RESOLVE, EVT_ERR_NET_CONNECT, EVT_ERR_NET_TIMEOUT. */
    evt_err (*connect)(void *ctx, const char *host, uint16_t port, uint32_t timeout_ms,
                       evt_net_sock **out);
    /* Sends some of data; *sent > 0 on EVT_OK. Errors: EVT_ERR_NET_TIMEOUT (nothing sent),
     * EVT_ERR_NET_CLOSED, EVT_ERR_NET_IO. */
    evt_err (*send)(void *ctx, evt_net_sock *sock, const uint8_t *data, size_t len,
                    uint32_t timeout_ms, size_t *sent);
    /* Receives up to cap bytes; *got > 0 on EVT_OK. EVT_ERR_NET_CLOSED when the peer closed
     * in order (no more data), EVT_ERR_NET_TIMEOUT when nothing arrived in time. */
    evt_err (*recv)(void *ctx, evt_net_sock *sock, uint8_t *buf, size_t cap,
                    uint32_t timeout_ms, size_t *got);
    /* Closes and frees the socket; sock is invalid afterwards. NULL is ignored. */
    void (*close)(void *ctx, evt_net_sock *sock);
    /* Listens on a local TCP port for the ECR link (bind_addr NULL = board default, the
     * sim uses loopback). */
    evt_err (*listen)(void *ctx, const char *bind_addr, uint16_t port, evt_net_sock **out);
    /* Accepts one pending connection; EVT_ERR_NET_TIMEOUT when none arrived in time. */
    evt_err (*accept)(void *ctx, evt_net_sock *listener, uint32_t timeout_ms,
                      evt_net_sock **out);
    /* The terminal's own address and hardware address as the platform's sign-in (9001) wants
     * them: ip as text ("192.0.2.7" or an IPv6 literal), mac as "AA-BB-CC-DD-EE-FF". May be
     * NULL on boards that cannot tell; the firmware then sends what the provisioning says. */
    evt_err (*local_identity)(void *ctx, char *ip, size_t ip_cap, char *mac, size_t mac_cap);
} evt_hal_net;

#endif /* EVT_HAL_NET_H */
