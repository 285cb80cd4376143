/*
 * evt_hal_net over lwIP's raw TCP API, for boards that run lwIP with NO_SYS in the firmware's
 * one cooperative loop. Every call that waits services the stack itself (the board's service
 * function: frames from the Ethernet driver into lwIP, then lwIP's timers) until its condition
 * holds or its timeout passes, so the contract's "blocks at most timeout_ms" holds with no
 * threads. Other drivers that wait (keys, scans) call evt_lwip_net_service() in their loops so
 * TCP keeps running while the firmware waits for a person.
 *
 * Memory: sockets come from a fixed table in evt_lwip_net; received data stays in lwIP's pbufs
 * until read and is bounded by the TCP window (lwipopts.h), so nothing grows with traffic.
 * Connections beyond the table are refused by the stack (RST), never queued without bound.
 */
#ifndef EVT_LWIP_NET_LWIP_H
#define EVT_LWIP_NET_LWIP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "evt/hal_net.h"
#include "evt/hal_sys.h"
#include "lwip/ip_addr.h"

struct netif;
struct pbuf;
struct tcp_pcb;

/* One platform connection, the ECR listener, the paired POS, EVT_ECR_PENDING_MAX (4)
 * connections authenticating, and one just accepted that the ECR link will close. */
#define EVT_LWIP_NET_SOCKETS      8
#define EVT_LWIP_NET_ACCEPT_QUEUE 4

typedef enum evt_lwip_sock_state {
    EVT_LWIP_SOCK_FREE,
    EVT_LWIP_SOCK_CONNECTING,
    EVT_LWIP_SOCK_OPEN,
    EVT_LWIP_SOCK_LISTENING,
} evt_lwip_sock_state;

struct evt_net_sock {
    struct evt_lwip_net *net;
    struct tcp_pcb *pcb; /* NULL once lwIP has freed it (reset, abort) */
    struct pbuf *unread; /* received, not yet read: at most one receive window */
    evt_lwip_sock_state state;
    int8_t failure;   /* lwIP err_t that ended the connection, 0 while it lives */
    bool peer_closed; /* FIN received: what is unread is all there will be */
    bool queued;      /* accepted by lwIP, not yet handed out by accept() */
    /* Listener only: accepted connections in arrival order. */
    struct evt_net_sock *accepted[EVT_LWIP_NET_ACCEPT_QUEUE];
    uint8_t accepted_count;
};

typedef struct evt_lwip_net {
    const evt_hal_sys *sys;
    struct netif *netif;
    void (*service)(void *ctx);
    void *service_ctx;
    struct evt_net_sock socks[EVT_LWIP_NET_SOCKETS];
    /* The one name lookup in flight (the firmware resolves one host at a time). */
    struct {
        bool active, done, found;
        char name[128];
        ip_addr_t addr;
    } lookup;
} evt_lwip_net;

/* Fills *net_out with the driver; state is owned by the board for the firmware's lifetime.
 * service(service_ctx) must move received frames into lwIP and run sys_check_timeouts();
 * netif is the interface whose address local_identity reports (NULL: none). */
void evt_lwip_net_init(evt_hal_net *net_out, evt_lwip_net *state, const evt_hal_sys *sys,
                       struct netif *netif, void (*service)(void *ctx), void *service_ctx);

/* Starts DHCP on the driver's netif and services the stack until it holds a lease or
 * timeout_ms passes (EVT_ERR_NET_TIMEOUT: no lease yet; DHCP goes on in the background and
 * the firmware's sign-in reports the network until it has one). */
evt_err evt_lwip_net_dhcp(evt_lwip_net *state, uint32_t timeout_ms);

/* Asks server (DNS name or IPv4 literal; the string must live as long as the stack) for the
 * time now and every SNTP_UPDATE_DELAY; the answer reaches the port's set_time. NULL or ""
 * does nothing. */
void evt_lwip_net_sntp_start(const char *server);

/* One pass of the board's service function: for drivers that wait on something else. */
void evt_lwip_net_service(evt_lwip_net *state);

/* Sockets in use (for the footprint report and tests). */
size_t evt_lwip_net_sockets_in_use(const evt_lwip_net *state);

#endif /* EVT_LWIP_NET_LWIP_H */
