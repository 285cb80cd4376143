/* evt_mps2_net_none: no network until lwIP lands; see net_none.h. */
#include "evt_mps2/net_none.h"

#include <stddef.h>

static evt_err none_connect(void *ctx, const char *host, uint16_t port, uint32_t timeout_ms,
                            evt_net_sock **out)
{
    (void)ctx;
    (void)host;
    (void)port;
    (void)timeout_ms;
    *out = NULL;
    return EVT_ERR_NET_CONNECT;
}

static evt_err none_send(void *ctx, evt_net_sock *sock, const uint8_t *data, size_t len,
                         uint32_t timeout_ms, size_t *sent)
{
    (void)ctx;
    (void)sock;
    (void)data;
    (void)len;
    (void)timeout_ms;
    *sent = 0;
    return EVT_ERR_NET_CLOSED;
}

static evt_err none_recv(void *ctx, evt_net_sock *sock, uint8_t *buf, size_t cap,
                         uint32_t timeout_ms, size_t *got)
{
    (void)ctx;
    (void)sock;
    (void)buf;
    (void)cap;
    (void)timeout_ms;
    *got = 0;
    return EVT_ERR_NET_CLOSED;
}

static void none_close(void *ctx, evt_net_sock *sock)
{
    (void)ctx;
    (void)sock;
}

static evt_err none_listen(void *ctx, const char *bind_addr, uint16_t port, evt_net_sock **out)
{
    (void)ctx;
    (void)bind_addr;
    (void)port;
    *out = NULL;
    return EVT_ERR_NET_CONNECT;
}

static evt_err none_accept(void *ctx, evt_net_sock *listener, uint32_t timeout_ms,
                           evt_net_sock **out)
{
    (void)ctx;
    (void)listener;
    (void)timeout_ms;
    *out = NULL;
    return EVT_ERR_NET_CONNECT;
}

void evt_mps2_net_none_init(evt_hal_net *out)
{
    *out = (evt_hal_net){.ctx = NULL,
                         .connect = none_connect,
                         .send = none_send,
                         .recv = none_recv,
                         .close = none_close,
                         .listen = none_listen,
                         .accept = none_accept,
                         .local_identity = NULL};
}
