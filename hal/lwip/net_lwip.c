/* evt_hal_net over lwIP's raw TCP API: see include/evt_lwip/net_lwip.h. */
#include "evt_lwip/net_lwip.h"

#include <stdio.h>
#include <string.h>

#include "lwip/apps/sntp.h"
#include "lwip/dhcp.h"
#include "lwip/dns.h"
#include "lwip/err.h"
#include "lwip/ip_addr.h"
#include "lwip/netif.h"
#include "lwip/pbuf.h"
#include "lwip/tcp.h"

/* ---- sockets ---------------------------------------------------------------------------- */

static evt_net_sock *sock_alloc(evt_lwip_net *n, evt_lwip_sock_state state)
{
    for (size_t i = 0; i < EVT_LWIP_NET_SOCKETS; i++) {
        evt_net_sock *s = &n->socks[i];
        if (s->state == EVT_LWIP_SOCK_FREE) {
            memset(s, 0, sizeof *s);
            s->net = n;
            s->state = state;
            return s;
        }
    }
    return NULL;
}

/* Detaches the socket from its pcb (no callback reaches it afterwards) and ends the pcb:
 * an orderly close when lwIP can send the FIN, else an abort. */
static void release_pcb(evt_net_sock *s)
{
    struct tcp_pcb *pcb = s->pcb;
    s->pcb = NULL;
    if (pcb == NULL) {
        return;
    }
    tcp_arg(pcb, NULL);
    if (s->state == EVT_LWIP_SOCK_LISTENING) {
        tcp_accept(pcb, NULL);
    } else {
        tcp_recv(pcb, NULL);
        tcp_sent(pcb, NULL);
        tcp_err(pcb, NULL);
    }
    if (tcp_close(pcb) != ERR_OK) {
        tcp_abort(pcb);
    }
}

static void sock_free(evt_net_sock *s)
{
    release_pcb(s);
    if (s->unread != NULL) {
        pbuf_free(s->unread);
        s->unread = NULL;
    }
    s->state = EVT_LWIP_SOCK_FREE;
}

/* ---- lwIP callbacks ------------------------------------------------------------------------ */

static void on_error(void *arg, err_t err)
{
    /* lwIP has already freed the pcb. */
    evt_net_sock *s = arg;
    if (s != NULL) {
        s->pcb = NULL;
        s->failure = (int8_t)(err != ERR_OK ? err : ERR_CLSD);
    }
}

static err_t on_receive(void *arg, struct tcp_pcb *pcb, struct pbuf *p, err_t err)
{
    evt_net_sock *s = arg;
    if (p == NULL) {
        if (s != NULL) {
            s->peer_closed = true;
        }
        return ERR_OK;
    }
    if (s == NULL || err != ERR_OK) {
        tcp_recved(pcb, p->tot_len);
        pbuf_free(p);
        return ERR_OK;
    }
    /* Kept until read; the window is only reopened by tcp_recved() in net_recv(), so what
     * waits here never exceeds TCP_WND (and fits pbuf's 16-bit tot_len). */
    if (s->unread == NULL) {
        s->unread = p;
    } else {
        pbuf_cat(s->unread, p);
    }
    return ERR_OK;
}

static err_t on_connected(void *arg, struct tcp_pcb *pcb, err_t err)
{
    (void)pcb;
    evt_net_sock *s = arg;
    if (s != NULL && err == ERR_OK) {
        s->state = EVT_LWIP_SOCK_OPEN;
    }
    return ERR_OK;
}

static void attach(evt_net_sock *s, struct tcp_pcb *pcb)
{
    s->pcb = pcb;
    tcp_arg(pcb, s);
    tcp_recv(pcb, on_receive);
    tcp_err(pcb, on_error);
}

static err_t on_accept(void *arg, struct tcp_pcb *pcb, err_t err)
{
    evt_net_sock *listener = arg;
    if (listener == NULL || pcb == NULL || err != ERR_OK) {
        return ERR_VAL;
    }
    if (listener->accepted_count >= EVT_LWIP_NET_ACCEPT_QUEUE) {
        return ERR_MEM; /* lwIP resets it: the queue is bounded, a flood is refused */
    }
    evt_net_sock *s = sock_alloc(listener->net, EVT_LWIP_SOCK_OPEN);
    if (s == NULL) {
        return ERR_MEM;
    }
    attach(s, pcb);
    s->queued = true;
    listener->accepted[listener->accepted_count++] = s;
    return ERR_OK;
}

/* ---- waiting --------------------------------------------------------------------------------- */

static uint64_t now_ms(const evt_lwip_net *n)
{
    return n->sys->monotonic_ms(n->sys->ctx);
}

typedef bool (*condition)(const void *arg);

/* Services the stack until cond(arg) holds or deadline passes; looks at least once, so a
 * timeout of 0 polls. Bounded: the monotonic clock reaches any deadline. */
static bool wait_for(evt_lwip_net *n, condition cond, const void *arg, uint64_t deadline)
{
    for (;;) {
        n->service(n->service_ctx);
        if (cond(arg)) {
            return true;
        }
        if (now_ms(n) >= deadline) {
            return false;
        }
    }
}

static bool connect_settled(const void *arg)
{
    const evt_net_sock *s = arg;
    return s->state != EVT_LWIP_SOCK_CONNECTING || s->pcb == NULL;
}

static bool readable(const void *arg)
{
    const evt_net_sock *s = arg;
    return s->unread != NULL || s->peer_closed || s->pcb == NULL;
}

static bool writable(const void *arg)
{
    const evt_net_sock *s = arg;
    return s->pcb == NULL || (tcp_sndbuf(s->pcb) > 0 && tcp_sndqueuelen(s->pcb) < TCP_SND_QUEUELEN);
}

static bool has_accepted(const void *arg)
{
    const evt_net_sock *s = arg;
    return s->accepted_count > 0;
}

static bool lookup_done(const void *arg)
{
    const evt_lwip_net *n = arg;
    return n->lookup.done;
}

/* ---- name lookup ---------------------------------------------------------------------------- */

static void on_lookup(const char *name, const ip_addr_t *addr, void *arg)
{
    evt_lwip_net *n = arg;
    /* An answer for a lookup that already timed out is ignored. */
    if (!n->lookup.active || strcmp(name, n->lookup.name) != 0) {
        return;
    }
    n->lookup.done = true;
    n->lookup.found = addr != NULL;
    if (addr != NULL) {
        ip_addr_copy(n->lookup.addr, *addr);
    }
}

static evt_err resolve(evt_lwip_net *n, const char *host, uint64_t deadline, ip_addr_t *out)
{
    if (ipaddr_aton(host, out)) {
        return EVT_OK;
    }
    size_t len = strlen(host);
    if (len == 0 || len >= sizeof n->lookup.name) {
        return EVT_ERR_NET_RESOLVE;
    }
    memcpy(n->lookup.name, host, len + 1);
    n->lookup.active = true;
    n->lookup.done = false;
    n->lookup.found = false;
    err_t e = dns_gethostbyname(host, out, on_lookup, n);
    if (e == ERR_OK) {
        n->lookup.active = false;
        return EVT_OK;
    }
    if (e != ERR_INPROGRESS) {
        n->lookup.active = false;
        return EVT_ERR_NET_RESOLVE; /* no DNS server known, or a name lwIP refuses */
    }
    bool answered = wait_for(n, lookup_done, n, deadline);
    n->lookup.active = false;
    if (!answered) {
        return EVT_ERR_NET_TIMEOUT;
    }
    if (!n->lookup.found) {
        return EVT_ERR_NET_RESOLVE;
    }
    ip_addr_copy(*out, n->lookup.addr);
    return EVT_OK;
}

/* ---- the contract ---------------------------------------------------------------------------- */

static evt_err net_connect(void *ctx, const char *host, uint16_t port, uint32_t timeout_ms,
                           evt_net_sock **out)
{
    evt_lwip_net *n = ctx;
    if (host == NULL || out == NULL || port == 0) {
        return EVT_ERR_ARG;
    }
    *out = NULL;
    uint64_t deadline = now_ms(n) + timeout_ms;
    ip_addr_t addr;
    evt_err err = resolve(n, host, deadline, &addr);
    if (err != EVT_OK) {
        return err;
    }
    evt_net_sock *s = sock_alloc(n, EVT_LWIP_SOCK_CONNECTING);
    if (s == NULL) {
        return EVT_ERR_NET_IO;
    }
    struct tcp_pcb *pcb = tcp_new_ip_type(IP_GET_TYPE(&addr));
    if (pcb == NULL) {
        s->state = EVT_LWIP_SOCK_FREE;
        return EVT_ERR_NET_IO;
    }
    attach(s, pcb);
    if (tcp_connect(pcb, &addr, port, on_connected) != ERR_OK) {
        sock_free(s);
        return EVT_ERR_NET_CONNECT;
    }
    if (!wait_for(n, connect_settled, s, deadline)) {
        sock_free(s);
        return EVT_ERR_NET_TIMEOUT;
    }
    if (s->state != EVT_LWIP_SOCK_OPEN || s->pcb == NULL) {
        sock_free(s); /* reset (nobody listening) or unreachable */
        return EVT_ERR_NET_CONNECT;
    }
    *out = s;
    return EVT_OK;
}

/* What ended a connection, as the contract names it for a sender. */
static evt_err send_failure(const evt_net_sock *s)
{
    return s->failure == ERR_RST || s->failure == ERR_CLSD ? EVT_ERR_NET_CLOSED : EVT_ERR_NET_IO;
}

static evt_err net_send(void *ctx, evt_net_sock *s, const uint8_t *data, size_t len,
                        uint32_t timeout_ms, size_t *sent)
{
    evt_lwip_net *n = ctx;
    if (s == NULL || s->state != EVT_LWIP_SOCK_OPEN || data == NULL || len == 0 || sent == NULL) {
        return EVT_ERR_ARG;
    }
    *sent = 0;
    uint64_t deadline = now_ms(n) + timeout_ms;
    for (;;) {
        if (s->pcb == NULL) {
            return send_failure(s);
        }
        if (writable(s)) {
            u16_t room = tcp_sndbuf(s->pcb);
            u16_t chunk = len < room ? (u16_t)len : room;
            err_t e = tcp_write(s->pcb, data, chunk, TCP_WRITE_FLAG_COPY);
            if (e == ERR_OK) {
                tcp_output(s->pcb);
                *sent = chunk;
                return EVT_OK;
            }
            if (e != ERR_MEM) {
                return EVT_ERR_NET_IO;
            }
            /* ERR_MEM: no segment or heap for the copy now; acknowledgements free them. */
        }
        if (now_ms(n) >= deadline) {
            return EVT_ERR_NET_TIMEOUT;
        }
        n->service(n->service_ctx);
    }
}

static evt_err net_recv(void *ctx, evt_net_sock *s, uint8_t *buf, size_t cap, uint32_t timeout_ms,
                        size_t *got)
{
    evt_lwip_net *n = ctx;
    if (s == NULL || s->state != EVT_LWIP_SOCK_OPEN || buf == NULL || cap == 0 || got == NULL) {
        return EVT_ERR_ARG;
    }
    *got = 0;
    if (!readable(s) && !wait_for(n, readable, s, now_ms(n) + timeout_ms)) {
        return EVT_ERR_NET_TIMEOUT;
    }
    if (s->unread != NULL) {
        u16_t take = cap < s->unread->tot_len ? (u16_t)cap : s->unread->tot_len;
        pbuf_copy_partial(s->unread, buf, take, 0);
        s->unread = pbuf_free_header(s->unread, take);
        if (s->pcb != NULL) {
            tcp_recved(s->pcb, take);
        }
        *got = take;
        return EVT_OK;
    }
    if (s->peer_closed) {
        return EVT_ERR_NET_CLOSED;
    }
    /* Reset or aborted: data in flight may be lost, which is not the orderly end. */
    return EVT_ERR_NET_IO;
}

static void net_close(void *ctx, evt_net_sock *s)
{
    (void)ctx;
    if (s == NULL || s->state == EVT_LWIP_SOCK_FREE) {
        return;
    }
    if (s->state == EVT_LWIP_SOCK_LISTENING) {
        for (uint8_t i = 0; i < s->accepted_count; i++) {
            sock_free(s->accepted[i]);
        }
        s->accepted_count = 0;
    }
    sock_free(s);
}

static evt_err net_listen(void *ctx, const char *bind_addr, uint16_t port, evt_net_sock **out)
{
    evt_lwip_net *n = ctx;
    if (out == NULL || port == 0) {
        return EVT_ERR_ARG;
    }
    *out = NULL;
    ip_addr_t addr;
    if (bind_addr == NULL) {
        ip_addr_copy(addr, *IP_ANY_TYPE); /* the board's LAN: the POS is another machine */
    } else if (!ipaddr_aton(bind_addr, &addr)) {
        return EVT_ERR_NET_RESOLVE;
    }
    evt_net_sock *s = sock_alloc(n, EVT_LWIP_SOCK_LISTENING);
    if (s == NULL) {
        return EVT_ERR_NET_IO;
    }
    struct tcp_pcb *pcb = tcp_new_ip_type(IP_GET_TYPE(&addr));
    if (pcb == NULL) {
        s->state = EVT_LWIP_SOCK_FREE;
        return EVT_ERR_NET_IO;
    }
    if (tcp_bind(pcb, &addr, port) != ERR_OK) {
        tcp_close(pcb);
        s->state = EVT_LWIP_SOCK_FREE;
        return EVT_ERR_NET_CONNECT; /* port in use: as the POSIX driver reports EADDRINUSE */
    }
    struct tcp_pcb *listening = tcp_listen(pcb);
    if (listening == NULL) {
        tcp_close(pcb);
        s->state = EVT_LWIP_SOCK_FREE;
        return EVT_ERR_NET_IO;
    }
    s->pcb = listening;
    tcp_arg(listening, s);
    tcp_accept(listening, on_accept);
    *out = s;
    return EVT_OK;
}

static evt_err net_accept(void *ctx, evt_net_sock *listener, uint32_t timeout_ms,
                          evt_net_sock **out)
{
    evt_lwip_net *n = ctx;
    if (listener == NULL || listener->state != EVT_LWIP_SOCK_LISTENING || out == NULL) {
        return EVT_ERR_ARG;
    }
    *out = NULL;
    if (!has_accepted(listener) && !wait_for(n, has_accepted, listener, now_ms(n) + timeout_ms)) {
        return EVT_ERR_NET_TIMEOUT;
    }
    evt_net_sock *s = listener->accepted[0];
    listener->accepted_count--;
    memmove(&listener->accepted[0], &listener->accepted[1],
            listener->accepted_count * sizeof listener->accepted[0]);
    s->queued = false;
    *out = s;
    return EVT_OK;
}

static evt_err net_local_identity(void *ctx, char *ip, size_t ip_cap, char *mac, size_t mac_cap)
{
    evt_lwip_net *n = ctx;
    if (ip == NULL || mac == NULL || ip_cap < IP4ADDR_STRLEN_MAX || mac_cap < 18) {
        return EVT_ERR_ARG;
    }
    if (n->netif == NULL || !netif_is_up(n->netif) ||
        ip4_addr_isany_val(*netif_ip4_addr(n->netif)) || n->netif->hwaddr_len != 6) {
        return EVT_ERR_NET_IO; /* no address yet (DHCP has not answered) */
    }
    ip4addr_ntoa_r(netif_ip4_addr(n->netif), ip, (int)ip_cap);
    const uint8_t *h = n->netif->hwaddr;
    snprintf(mac, mac_cap, "%02X-%02X-%02X-%02X-%02X-%02X", h[0], h[1], h[2], h[3], h[4], h[5]);
    return EVT_OK;
}

void evt_lwip_net_init(evt_hal_net *net_out, evt_lwip_net *state, const evt_hal_sys *sys,
                       struct netif *netif, void (*service)(void *ctx), void *service_ctx)
{
    memset(state, 0, sizeof *state);
    state->sys = sys;
    state->netif = netif;
    state->service = service;
    state->service_ctx = service_ctx;
    *net_out = (evt_hal_net){
        .ctx = state,
        .connect = net_connect,
        .send = net_send,
        .recv = net_recv,
        .close = net_close,
        .listen = net_listen,
        .accept = net_accept,
        .local_identity = net_local_identity,
    };
}

static bool has_lease(const void *arg)
{
    const struct netif *netif = arg;
    return dhcp_supplied_address(netif);
}

evt_err evt_lwip_net_dhcp(evt_lwip_net *n, uint32_t timeout_ms)
{
    if (n->netif == NULL) {
        return EVT_ERR_ARG;
    }
    if (!dhcp_supplied_address(n->netif) && dhcp_start(n->netif) != ERR_OK) {
        return EVT_ERR_NET_IO;
    }
    return wait_for(n, has_lease, n->netif, now_ms(n) + timeout_ms) ? EVT_OK : EVT_ERR_NET_TIMEOUT;
}

void evt_lwip_net_sntp_start(const char *server)
{
    if (server == NULL || server[0] == '\0') {
        return;
    }
    sntp_setoperatingmode(SNTP_OPMODE_POLL);
    sntp_setservername(0, server);
    sntp_init();
}

void evt_lwip_net_service(evt_lwip_net *state)
{
    state->service(state->service_ctx);
}

size_t evt_lwip_net_sockets_in_use(const evt_lwip_net *state)
{
    size_t used = 0;
    for (size_t i = 0; i < EVT_LWIP_NET_SOCKETS; i++) {
        used += state->socks[i].state != EVT_LWIP_SOCK_FREE;
    }
    return used;
}
