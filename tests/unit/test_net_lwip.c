/*
 * The lwIP hal_net driver (hal/lwip/net_lwip.c) on the host, over lwIP's loopback interface:
 * both ends of every connection are this one lwIP, so each test drives the server and the
 * client side through the same evt_hal_net. Time is the test's own: every pass of the service
 * function moves the clock 1 ms, so timeouts are exact and nothing sleeps. After each test the
 * sockets and lwIP's pools must be back to empty (no pbuf or pcb leaked).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "evt_lwip/lwip_port.h"
#include "evt_lwip/net_lwip.h"
#include "lwip/etharp.h"
#include "netif/ethernet.h"
#include "lwip/init.h"
#include "lwip/memp.h"
#include "lwip/netif.h"
#include "lwip/stats.h"
#include "lwip/tcp.h"
#include "lwip/timeouts.h"

#define PORT 7001

static uint64_t clock_ms;
static unsigned service_passes;
static evt_lwip_net state;
static evt_hal_net net;
static struct netif lan;

static uint64_t fake_monotonic(void *ctx)
{
    (void)ctx;
    return clock_ms;
}

static evt_err fake_entropy(void *ctx, uint8_t *buf, size_t len)
{
    (void)ctx;
    static uint8_t next = 1;
    for (size_t i = 0; i < len; i++) {
        buf[i] = next++;
    }
    return EVT_OK;
}

static void fake_log(void *ctx, evt_log_level level, const char *module, const char *line)
{
    (void)ctx;
    (void)level;
    (void)module;
    (void)line;
}

static const evt_hal_sys sys = {
    .monotonic_ms = fake_monotonic,
    .entropy = fake_entropy,
    .log_write = fake_log,
};

static void abort_test(void *ctx)
{
    (void)ctx;
    fail_msg("lwIP assertion failed");
}

static const evt_lwip_port port = {.sys = &sys, .fatal = abort_test};

static void service(void *ctx)
{
    (void)ctx;
    service_passes++;
    clock_ms++;
    netif_poll_all();
    sys_check_timeouts();
}

/* A LAN interface that only has an address and a MAC, for local_identity. */
static err_t drop_frame(struct netif *netif, struct pbuf *p)
{
    (void)netif;
    (void)p;
    return ERR_OK;
}

static err_t lan_init(struct netif *netif)
{
    static const uint8_t mac[6] = {0x02, 0x00, 0x5e, 0x10, 0xab, 0x01};
    netif->hwaddr_len = 6;
    memcpy(netif->hwaddr, mac, 6);
    netif->mtu = 1500;
    netif->flags = NETIF_FLAG_BROADCAST | NETIF_FLAG_ETHARP | NETIF_FLAG_ETHERNET;
    netif->output = etharp_output;
    netif->linkoutput = drop_frame;
    return ERR_OK;
}

static int group_setup(void **st)
{
    (void)st;
    evt_lwip_port_init(&port);
    lwip_init();
    ip4_addr_t ip, mask, gw;
    IP4_ADDR(&ip, 192, 0, 2, 7);
    IP4_ADDR(&mask, 255, 255, 255, 0);
    IP4_ADDR(&gw, 192, 0, 2, 1);
    netif_add(&lan, &ip, &mask, &gw, NULL, lan_init, ethernet_input);
    netif_set_up(&lan);
    netif_set_link_up(&lan);
    return 0;
}

static int setup(void **st)
{
    (void)st;
    evt_lwip_net_init(&net, &state, &sys, &lan, service, NULL);
    service_passes = 0;
    return 0;
}

/* Lets TIME_WAIT and closing pcbs run out (2 * MSL, lwIP's default 60 s), then checks that
 * nothing is left: the driver's sockets, lwIP's pbufs and connection pcbs. */
static int teardown(void **st)
{
    (void)st;
    assert_int_equal(evt_lwip_net_sockets_in_use(&state), 0);
    for (int i = 0; i < 130000; i++) {
        service(NULL);
    }
    assert_int_equal(lwip_stats.memp[MEMP_PBUF_POOL]->used, 0);
    assert_int_equal(lwip_stats.memp[MEMP_TCP_PCB]->used, 0);
    assert_int_equal(lwip_stats.memp[MEMP_TCP_SEG]->used, 0);
    assert_int_equal(lwip_stats.mem.used, 0);
    return 0;
}

/* A connected pair through the listener: client (connect) and server (accept). */
static void open_pair(evt_net_sock **listener, evt_net_sock **client, evt_net_sock **server)
{
    assert_int_equal(net.listen(net.ctx, "127.0.0.1", PORT, listener), EVT_OK);
    assert_int_equal(net.connect(net.ctx, "127.0.0.1", PORT, 1000, client), EVT_OK);
    assert_int_equal(net.accept(net.ctx, *listener, 1000, server), EVT_OK);
}

static void send_all(evt_net_sock *s, const uint8_t *data, size_t len)
{
    while (len > 0) {
        size_t sent = 0;
        assert_int_equal(net.send(net.ctx, s, data, len, 1000, &sent), EVT_OK);
        assert_true(sent > 0 && sent <= len);
        data += sent;
        len -= sent;
    }
}

static void recv_exactly(evt_net_sock *s, uint8_t *buf, size_t len)
{
    while (len > 0) {
        size_t got = 0;
        assert_int_equal(net.recv(net.ctx, s, buf, len, 1000, &got), EVT_OK);
        assert_true(got > 0 && got <= len);
        buf += got;
        len -= got;
    }
}

static void test_exchange_both_ways(void **st)
{
    (void)st;
    evt_net_sock *listener, *client, *server;
    open_pair(&listener, &client, &server);
    static const uint8_t request[] = "POST /settle HTTP/1.1\r\n\r\n";
    static const uint8_t answer[] = "HTTP/1.1 200 OK\r\n\r\n{}";
    uint8_t buf[64];
    send_all(client, request, sizeof request);
    recv_exactly(server, buf, sizeof request);
    assert_memory_equal(buf, request, sizeof request);
    send_all(server, answer, sizeof answer);
    recv_exactly(client, buf, sizeof answer);
    assert_memory_equal(buf, answer, sizeof answer);
    net.close(net.ctx, client);
    net.close(net.ctx, server);
    net.close(net.ctx, listener);
}

/* 200 KB written as fast as the sender may, read only after the sender has to wait: the
 * sender waits for window and send buffer, what waits unread at the receiver never exceeds
 * one receive window, and every byte arrives in order. */
static void test_bulk_transfer_bounded_by_window(void **st)
{
    (void)st;
    evt_net_sock *listener, *client, *server;
    open_pair(&listener, &client, &server);
    enum { TOTAL = 200 * 1024 };
    static uint8_t out[4096], in[1000];
    size_t sent_total = 0, got_total = 0;
    unsigned max_unread = 0, sender_waits = 0;
    while (got_total < TOTAL) {
        /* the sender runs ahead until the stack makes it wait */
        while (sent_total < TOTAL) {
            size_t len = TOTAL - sent_total < sizeof out ? TOTAL - sent_total : sizeof out;
            for (size_t i = 0; i < len; i++) {
                out[i] = (uint8_t)((sent_total + i) * 7u);
            }
            size_t sent = 0;
            evt_err e = net.send(net.ctx, client, out, len, 5, &sent);
            if (e == EVT_ERR_NET_TIMEOUT) {
                sender_waits++;
                break;
            }
            assert_int_equal(e, EVT_OK);
            sent_total += sent;
        }
        for (int i = 0; i < 20; i++) {
            service(NULL);
        }
        if (server->unread != NULL && server->unread->tot_len > max_unread) {
            max_unread = server->unread->tot_len;
        }
        size_t got = 0;
        evt_err e = net.recv(net.ctx, server, in, sizeof in, 0, &got);
        assert_true(e == EVT_OK || e == EVT_ERR_NET_TIMEOUT);
        for (size_t i = 0; i < got; i++) {
            assert_int_equal(in[i], (uint8_t)((got_total + i) * 7u));
        }
        got_total += got;
        assert_true(service_passes < 5000000u);
    }
    assert_true(sender_waits > 0);
    assert_true(max_unread > TCP_WND / 2); /* the window was really filled */
    assert_true(max_unread <= TCP_WND);
    net.close(net.ctx, client);
    net.close(net.ctx, server);
    net.close(net.ctx, listener);
}

static void test_recv_times_out_exactly(void **st)
{
    (void)st;
    evt_net_sock *listener, *client, *server;
    open_pair(&listener, &client, &server);
    uint8_t buf[8];
    size_t got = 99;
    uint64_t before = clock_ms;
    assert_int_equal(net.recv(net.ctx, client, buf, sizeof buf, 250, &got), EVT_ERR_NET_TIMEOUT);
    assert_int_equal(got, 0);
    assert_true(clock_ms - before >= 250 && clock_ms - before <= 252);
    /* timeout 0 polls once */
    before = clock_ms;
    assert_int_equal(net.recv(net.ctx, client, buf, sizeof buf, 0, &got), EVT_ERR_NET_TIMEOUT);
    assert_true(clock_ms - before <= 1);
    net.close(net.ctx, client);
    net.close(net.ctx, server);
    net.close(net.ctx, listener);
}

/* The peer's orderly close: what it sent before is still read, then CLOSED. */
static void test_peer_close_after_data(void **st)
{
    (void)st;
    evt_net_sock *listener, *client, *server;
    open_pair(&listener, &client, &server);
    static const uint8_t tail[] = "last bytes";
    send_all(server, tail, sizeof tail);
    net.close(net.ctx, server);
    uint8_t buf[sizeof tail];
    recv_exactly(client, buf, sizeof tail);
    assert_memory_equal(buf, tail, sizeof tail);
    size_t got = 0;
    assert_int_equal(net.recv(net.ctx, client, buf, sizeof buf, 1000, &got), EVT_ERR_NET_CLOSED);
    net.close(net.ctx, client);
    net.close(net.ctx, listener);
}

/* A reset is not an orderly end: recv says I/O error, send says closed. */
static void test_reset_by_peer(void **st)
{
    (void)st;
    evt_net_sock *listener, *client, *server;
    open_pair(&listener, &client, &server);
    tcp_abort(server->pcb); /* sends RST; the driver's error callback frees nothing twice */
    uint8_t buf[8];
    size_t got = 0, sent = 0;
    assert_int_equal(net.recv(net.ctx, client, buf, sizeof buf, 1000, &got), EVT_ERR_NET_IO);
    assert_int_equal(net.send(net.ctx, client, buf, sizeof buf, 1000, &sent), EVT_ERR_NET_CLOSED);
    net.close(net.ctx, client);
    net.close(net.ctx, server);
    net.close(net.ctx, listener);
}

static void test_connect_refused_and_unresolvable(void **st)
{
    (void)st;
    evt_net_sock *s = NULL;
    assert_int_equal(net.connect(net.ctx, "127.0.0.1", PORT + 1, 1000, &s), EVT_ERR_NET_CONNECT);
    assert_null(s);
    /* No DNS server is known: a name cannot be looked up; IPv6 is not built in. */
    assert_int_equal(net.connect(net.ctx, "platform.example", 443, 1000, &s), EVT_ERR_NET_RESOLVE);
    assert_int_equal(net.connect(net.ctx, "::1", 443, 1000, &s), EVT_ERR_NET_RESOLVE);
    assert_int_equal(net.listen(net.ctx, "not-an-address", PORT, &s), EVT_ERR_NET_RESOLVE);
}

static void test_accept_times_out_and_port_in_use(void **st)
{
    (void)st;
    evt_net_sock *listener, *other = NULL, *s = NULL;
    assert_int_equal(net.listen(net.ctx, NULL, PORT, &listener), EVT_OK);
    assert_int_equal(net.listen(net.ctx, NULL, PORT, &other), EVT_ERR_NET_CONNECT);
    uint64_t before = clock_ms;
    assert_int_equal(net.accept(net.ctx, listener, 100, &s), EVT_ERR_NET_TIMEOUT);
    assert_true(clock_ms - before >= 100);
    net.close(net.ctx, listener);
}

/* More connections than the driver has sockets: the surplus is refused at once by the stack,
 * the table never overflows, and once connections close new ones are served again. */
static void test_flood_is_refused_not_queued(void **st)
{
    (void)st;
    evt_net_sock *listener;
    assert_int_equal(net.listen(net.ctx, "127.0.0.1", PORT, &listener), EVT_OK);
    evt_net_sock *clients[EVT_LWIP_NET_SOCKETS] = {0};
    size_t opened = 0, refused = 0;
    for (size_t i = 0; i < EVT_LWIP_NET_SOCKETS; i++) {
        evt_net_sock *c = NULL;
        evt_err e = net.connect(net.ctx, "127.0.0.1", PORT, 200, &c);
        if (e == EVT_OK) {
            clients[opened++] = c;
        } else {
            assert_true(e == EVT_ERR_NET_CONNECT || e == EVT_ERR_NET_IO);
            refused++;
        }
    }
    /* listener + clients + their accepted ends all come from the one table */
    assert_true(refused > 0);
    assert_true(evt_lwip_net_sockets_in_use(&state) <= EVT_LWIP_NET_SOCKETS);
    assert_true(listener->accepted_count <= EVT_LWIP_NET_ACCEPT_QUEUE);
    evt_net_sock *accepted[EVT_LWIP_NET_ACCEPT_QUEUE];
    size_t n_accepted = 0;
    while (n_accepted < EVT_LWIP_NET_ACCEPT_QUEUE &&
           net.accept(net.ctx, listener, 0, &accepted[n_accepted]) == EVT_OK) {
        n_accepted++;
    }
    assert_true(n_accepted > 0);
    for (size_t i = 0; i < n_accepted; i++) {
        net.close(net.ctx, accepted[i]);
    }
    for (size_t i = 0; i < opened; i++) {
        net.close(net.ctx, clients[i]);
    }
    evt_net_sock *client, *server;
    assert_int_equal(net.connect(net.ctx, "127.0.0.1", PORT, 1000, &client), EVT_OK);
    assert_int_equal(net.accept(net.ctx, listener, 1000, &server), EVT_OK);
    net.close(net.ctx, client);
    net.close(net.ctx, server);
    net.close(net.ctx, listener);
}

/* Closing the listener closes connections accepted by lwIP but not yet handed out. */
static void test_listener_close_frees_queue(void **st)
{
    (void)st;
    evt_net_sock *listener, *client;
    assert_int_equal(net.listen(net.ctx, "127.0.0.1", PORT, &listener), EVT_OK);
    assert_int_equal(net.connect(net.ctx, "127.0.0.1", PORT, 1000, &client), EVT_OK);
    assert_int_equal(listener->accepted_count, 1);
    net.close(net.ctx, listener);
    assert_int_equal(evt_lwip_net_sockets_in_use(&state), 1);
    uint8_t buf[4];
    size_t got = 0;
    evt_err e = net.recv(net.ctx, client, buf, sizeof buf, 1000, &got);
    assert_true(e == EVT_ERR_NET_CLOSED || e == EVT_ERR_NET_IO);
    net.close(net.ctx, client);
}

static void test_local_identity(void **st)
{
    (void)st;
    char ip[20], mac[20];
    assert_int_equal(net.local_identity(net.ctx, ip, sizeof ip, mac, sizeof mac), EVT_OK);
    assert_string_equal(ip, "192.0.2.7");
    assert_string_equal(mac, "02-00-5E-10-AB-01");
    assert_int_equal(net.local_identity(net.ctx, ip, 4, mac, sizeof mac), EVT_ERR_ARG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_exchange_both_ways, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bulk_transfer_bounded_by_window, setup, teardown),
        cmocka_unit_test_setup_teardown(test_recv_times_out_exactly, setup, teardown),
        cmocka_unit_test_setup_teardown(test_peer_close_after_data, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reset_by_peer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connect_refused_and_unresolvable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_accept_times_out_and_port_in_use, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flood_is_refused_not_queued, setup, teardown),
        cmocka_unit_test_setup_teardown(test_listener_close_frees_queue, setup, teardown),
        cmocka_unit_test_setup_teardown(test_local_identity, setup, teardown),
    };
    return cmocka_run_group_tests(tests, group_setup, NULL);
}
