/* A counting, observing network HAL around another one; see net_tap.h. */
#include <string.h>
#include <time.h>

#include "net_tap.h"

double net_tap_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void sleep_ms(uint32_t ms)
{
    struct timespec ts = {ms / 1000u, (long)(ms % 1000u) * 1000000L};
    nanosleep(&ts, NULL);
}

static int slot_of(const net_tap *tap, const evt_net_sock *s)
{
    for (int i = 0; i < NET_TAP_SOCKETS; i++) {
        if (tap->sock[i] == s) {
            return i;
        }
    }
    return -1;
}

void net_tap_forget_waiting(net_tap *tap)
{
    memset(tap->awaiting, 0, sizeof tap->awaiting);
}

static evt_err tap_connect(void *ctx, const char *host, uint16_t port, uint32_t timeout_ms,
                           evt_net_sock **out)
{
    net_tap *tap = ctx;
    if (tap->connect_delay_ms) {
        sleep_ms(tap->connect_delay_ms);
    }
    evt_err err = tap->inner.connect(tap->inner.ctx, host, port, timeout_ms, out);
    tap->n.connects++;
    tap->n.round_trips++;
    int i = err == EVT_OK ? slot_of(tap, NULL) : -1;
    if (i >= 0) {
        tap->sock[i] = *out;
        tap->awaiting[i] = false;
    }
    return err;
}

static evt_err tap_send(void *ctx, evt_net_sock *s, const uint8_t *d, size_t len, uint32_t t,
                        size_t *sent)
{
    net_tap *tap = ctx;
    if (tap->on_send != NULL) {
        tap->on_send(tap->on_send_arg, d, len);
    }
    evt_err err = tap->inner.send(tap->inner.ctx, s, d, len, t, sent);
    int i = slot_of(tap, s);
    if (err == EVT_OK && i >= 0) {
        tap->n.bytes_up += *sent;
        tap->awaiting[i] = true;
    }
    return err;
}

static evt_err tap_recv(void *ctx, evt_net_sock *s, uint8_t *buf, size_t cap, uint32_t t,
                        size_t *got)
{
    net_tap *tap = ctx;
    double t0 = net_tap_now_ms();
    evt_err err = tap->inner.recv(tap->inner.ctx, s, buf, cap, t, got);
    int i = slot_of(tap, s);
    if (err == EVT_OK && i >= 0) {
        tap->n.bytes_down += *got;
        if (tap->awaiting[i]) {
            tap->n.round_trips++;
            tap->n.wait_ms += net_tap_now_ms() - t0;
            tap->awaiting[i] = false;
        }
    }
    return err;
}

static void tap_close(void *ctx, evt_net_sock *s)
{
    net_tap *tap = ctx;
    int i = s ? slot_of(tap, s) : -1;
    if (i >= 0) {
        tap->sock[i] = NULL;
    }
    tap->inner.close(tap->inner.ctx, s);
}

static evt_err tap_listen(void *ctx, const char *a, uint16_t p, evt_net_sock **o)
{
    net_tap *tap = ctx;
    return tap->inner.listen(tap->inner.ctx, a, p, o);
}

static evt_err tap_accept(void *ctx, evt_net_sock *l, uint32_t t, evt_net_sock **o)
{
    net_tap *tap = ctx;
    return tap->inner.accept(tap->inner.ctx, l, t, o);
}

static evt_err tap_identity(void *ctx, char *ip, size_t ic, char *mac, size_t mc)
{
    net_tap *tap = ctx;
    return tap->inner.local_identity(tap->inner.ctx, ip, ic, mac, mc);
}

void net_tap_wrap(void *arg, evt_hal_net *net)
{
    net_tap *tap = arg;
    tap->inner = *net;
    *net = (evt_hal_net){.ctx = tap,
                         .connect = tap_connect,
                         .send = tap_send,
                         .recv = tap_recv,
                         .close = tap_close,
                         .listen = net->listen ? tap_listen : NULL,
                         .accept = net->accept ? tap_accept : NULL,
                         .local_identity = net->local_identity ? tap_identity : NULL};
}
