/*
 * The sim board's POSIX network driver (hal/sim/net_posix.c) against the evt_hal_net contract:
 * IPv4/IPv6 loopback, name checks, refusals, orderly and abortive closes, timeouts on every
 * blocking call, listener reuse, and no SIGPIPE.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "evt/hal_net.h"
#include "evt_sim/net_posix.h"
#include "skip_policy.h"

static evt_hal_net net;

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

typedef struct pair {
    evt_net_sock *listener;
    evt_net_sock *client;
    evt_net_sock *server;
} pair;

static void open_pair(pair *p, const char *bind_addr, const char *connect_host)
{
    memset(p, 0, sizeof(*p));
    assert_int_equal(net.listen(net.ctx, bind_addr, 0, &p->listener), EVT_OK);
    uint16_t port = evt_sim_net_posix_local_port(p->listener);
    assert_true(port != 0);
    assert_int_equal(net.connect(net.ctx, connect_host, port, 2000, &p->client), EVT_OK);
    assert_int_equal(net.accept(net.ctx, p->listener, 2000, &p->server), EVT_OK);
}

static void close_pair(pair *p)
{
    net.close(net.ctx, p->client);
    net.close(net.ctx, p->server);
    net.close(net.ctx, p->listener);
}

static void send_all(evt_net_sock *s, const char *text)
{
    size_t len = strlen(text), done = 0;
    while (done < len) {
        size_t sent = 0;
        assert_int_equal(
            net.send(net.ctx, s, (const uint8_t *)text + done, len - done, 1000, &sent), EVT_OK);
        assert_true(sent > 0);
        done += sent;
    }
}

static void expect_text(evt_net_sock *s, const char *text)
{
    char buf[256];
    size_t len = strlen(text), got_total = 0;
    assert_true(len < sizeof(buf));
    while (got_total < len) {
        size_t got = 0;
        assert_int_equal(
            net.recv(net.ctx, s, (uint8_t *)buf + got_total, len - got_total, 1000, &got), EVT_OK);
        assert_true(got > 0);
        got_total += got;
    }
    assert_memory_equal(buf, text, len);
}

static void exchange(pair *p)
{
    send_all(p->client, "ping from terminal");
    expect_text(p->server, "ping from terminal");
    send_all(p->server, "pong from ECR");
    expect_text(p->client, "pong from ECR");
}

static void test_ipv4_loopback_exchange(void **state)
{
    (void)state;
    pair p;
    open_pair(&p, NULL, "127.0.0.1"); /* NULL bind address: the sim uses loopback */
    exchange(&p);
    close_pair(&p);
}

static void test_ipv6_loopback_exchange(void **state)
{
    (void)state;
    pair p;
    open_pair(&p, "::1", "::1");
    exchange(&p);
    close_pair(&p);
}

static void test_connect_by_name(void **state)
{
    (void)state;
    pair p;
    open_pair(&p, "127.0.0.1", "localhost");
    exchange(&p);
    close_pair(&p);
}

static uint16_t unused_port(void)
{
    evt_net_sock *l = NULL;
    assert_int_equal(net.listen(net.ctx, NULL, 0, &l), EVT_OK);
    uint16_t port = evt_sim_net_posix_local_port(l);
    net.close(net.ctx, l);
    return port;
}

static void test_connect_refused(void **state)
{
    (void)state;
    uint16_t port = unused_port();
    evt_net_sock *s = (evt_net_sock *)&net; /* must be reset to NULL */
    assert_int_equal(net.connect(net.ctx, "127.0.0.1", port, 2000, &s), EVT_ERR_NET_CONNECT);
    assert_null(s);
    assert_int_equal(net.connect(net.ctx, "::1", port, 2000, &s), EVT_ERR_NET_CONNECT);
}

static void test_illegal_names_never_reach_the_resolver(void **state)
{
    (void)state;
    const char *bad[] = {"",
                         "bad..name",
                         "-leading-dash",
                         "with space",
                         "semi;colon",
                         ".leading.dot",
                         "UTF8-\xe5\x8c\xbb\xe4\xbf\x9d"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        evt_net_sock *s = NULL;
        uint64_t t0 = now_ms();
        assert_int_equal(net.connect(net.ctx, bad[i], 443, 2000, &s), EVT_ERR_NET_RESOLVE);
        assert_true(now_ms() - t0 < 500); /* refused locally, no DNS wait */
        assert_null(s);
    }
    evt_net_sock *l = NULL;
    assert_int_equal(net.listen(net.ctx, "not an address", 0, &l), EVT_ERR_NET_RESOLVE);
}

static void test_arguments_checked(void **state)
{
    (void)state;
    evt_net_sock *s = NULL;
    assert_int_equal(net.connect(net.ctx, NULL, 80, 100, &s), EVT_ERR_ARG);
    assert_int_equal(net.connect(net.ctx, "127.0.0.1", 0, 100, &s), EVT_ERR_ARG);
    size_t n = 0;
    uint8_t b[1];
    assert_int_equal(net.send(net.ctx, NULL, b, 1, 0, &n), EVT_ERR_ARG);
    assert_int_equal(net.recv(net.ctx, NULL, b, 1, 0, &n), EVT_ERR_ARG);
    net.close(net.ctx, NULL); /* ignored */
    assert_int_equal(evt_sim_net_posix_local_port(NULL), 0);
}

static void test_recv_timeout(void **state)
{
    (void)state;
    pair p;
    open_pair(&p, NULL, "127.0.0.1");
    uint8_t buf[16];
    size_t got = 99;
    uint64_t t0 = now_ms();
    assert_int_equal(net.recv(net.ctx, p.client, buf, sizeof(buf), 150, &got), EVT_ERR_NET_TIMEOUT);
    uint64_t took = now_ms() - t0;
    assert_int_equal(got, 0);
    assert_true(took >= 140 && took < 2000);
    /* 0 = look once and return. */
    t0 = now_ms();
    assert_int_equal(net.recv(net.ctx, p.client, buf, sizeof(buf), 0, &got), EVT_ERR_NET_TIMEOUT);
    assert_true(now_ms() - t0 < 100);
    close_pair(&p);
}

static void test_orderly_close_is_closed(void **state)
{
    (void)state;
    pair p;
    open_pair(&p, NULL, "127.0.0.1");
    send_all(p.server, "last words");
    net.close(net.ctx, p.server);
    p.server = NULL;
    /* Data sent before the close still arrives, then the end is reported. */
    expect_text(p.client, "last words");
    uint8_t buf[16];
    size_t got = 0;
    assert_int_equal(net.recv(net.ctx, p.client, buf, sizeof(buf), 1000, &got), EVT_ERR_NET_CLOSED);
    close_pair(&p);
}

static void test_reset_is_io_error_and_no_sigpipe(void **state)
{
    (void)state;
    /* Default SIGPIPE disposition kills the process: the driver must not raise it. */
    signal(SIGPIPE, SIG_DFL);
    pair p;
    open_pair(&p, NULL, "127.0.0.1");
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    assert_int_equal(
        setsockopt(evt_sim_net_posix_fd(p.server), SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
    net.close(net.ctx, p.server); /* RST instead of FIN */
    p.server = NULL;
    uint8_t buf[16];
    size_t got = 0;
    assert_int_equal(net.recv(net.ctx, p.client, buf, sizeof(buf), 1000, &got), EVT_ERR_NET_IO);
    /* Writing to the dead connection: closed, and still alive to assert it. */
    evt_err err = EVT_OK;
    for (int i = 0; i < 8 && err == EVT_OK; i++) {
        size_t sent = 0;
        err = net.send(net.ctx, p.client, (const uint8_t *)"x", 1, 500, &sent);
    }
    assert_int_equal(err, EVT_ERR_NET_CLOSED);
    close_pair(&p);
}

static void test_send_timeout_when_peer_does_not_read(void **state)
{
    (void)state;
    pair p;
    open_pair(&p, NULL, "127.0.0.1");
    static uint8_t block[64 * 1024];
    memset(block, 'z', sizeof(block));
    evt_err err = EVT_OK;
    size_t total = 0;
    /* Socket buffers on loopback hold a few MiB at most; bounded at 256 MiB. */
    for (int i = 0; i < 4096 && err == EVT_OK; i++) {
        size_t sent = 0;
        err = net.send(net.ctx, p.client, block, sizeof(block), 100, &sent);
        total += sent;
        if (err != EVT_OK) {
            assert_int_equal(sent, 0); /* a timeout means nothing was taken */
        }
    }
    assert_int_equal(err, EVT_ERR_NET_TIMEOUT);
    assert_true(total > 0);
    close_pair(&p);
}

static void test_accept_timeout(void **state)
{
    (void)state;
    evt_net_sock *l = NULL;
    assert_int_equal(net.listen(net.ctx, NULL, 0, &l), EVT_OK);
    evt_net_sock *s = NULL;
    uint64_t t0 = now_ms();
    assert_int_equal(net.accept(net.ctx, l, 120, &s), EVT_ERR_NET_TIMEOUT);
    assert_true(now_ms() - t0 >= 110);
    assert_null(s);
    net.close(net.ctx, l);
}

static void test_listener_port_reuse(void **state)
{
    (void)state;
    pair p;
    open_pair(&p, NULL, "127.0.0.1");
    uint16_t port = evt_sim_net_posix_local_port(p.listener);
    /* A second listener on the same port is refused while the first lives. */
    evt_net_sock *second = NULL;
    assert_int_equal(net.listen(net.ctx, NULL, port, &second), EVT_ERR_NET_CONNECT);
    exchange(&p);
    /* The server side closes first, leaving TIME_WAIT behind: an ECR service restarted right
     * away must still get its port (SO_REUSEADDR). */
    net.close(net.ctx, p.server);
    p.server = NULL;
    uint8_t b[4];
    size_t got = 0;
    assert_int_equal(net.recv(net.ctx, p.client, b, sizeof(b), 1000, &got), EVT_ERR_NET_CLOSED);
    net.close(net.ctx, p.client);
    p.client = NULL;
    net.close(net.ctx, p.listener);
    p.listener = NULL;
    evt_net_sock *again = NULL;
    assert_int_equal(net.listen(net.ctx, NULL, port, &again), EVT_OK);
    assert_int_equal(evt_sim_net_posix_local_port(again), port);
    net.close(net.ctx, again);
}

static void test_connect_timeout_on_full_backlog(void **state)
{
    (void)state;
    /* A listener that never accepts, with the smallest backlog: once its queue is full the
     * kernel drops further SYNs, which is a silent server as far as connect() can tell. */
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(lfd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(lfd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(lfd, 0), 0);
    socklen_t sl = sizeof(a);
    getsockname(lfd, (struct sockaddr *)&a, &sl);
    uint16_t port = ntohs(a.sin_port);

    evt_net_sock *held[16] = {0};
    evt_err err = EVT_OK;
    int n = 0;
    uint64_t took = 0;
    for (; n < 16 && err == EVT_OK; n++) {
        uint64_t t0 = now_ms();
        err = net.connect(net.ctx, "127.0.0.1", port, 200, &held[n]);
        took = now_ms() - t0;
    }
    for (int i = 0; i < 16; i++) {
        net.close(net.ctx, held[i]);
    }
    close(lfd);
    if (err == EVT_OK) {
        /* Some kernels (gVisor) accept without bound: the timeout cannot be observed on
         * loopback there, which is a failure in CI, not a pass (skip_policy.h). */
        skip_policy_cannot_run("this kernel took 16 connections on a listener with backlog 0 and "
                               "never dropped a SYN (gVisor does), so a connect timeout cannot be "
                               "provoked on loopback");
    }
    assert_int_equal(err, EVT_ERR_NET_TIMEOUT);
    assert_true(took >= 190 && took < 2000);
}

int main(void)
{
    evt_sim_net_posix_init(&net);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ipv4_loopback_exchange),
        cmocka_unit_test(test_ipv6_loopback_exchange),
        cmocka_unit_test(test_connect_by_name),
        cmocka_unit_test(test_connect_refused),
        cmocka_unit_test(test_illegal_names_never_reach_the_resolver),
        cmocka_unit_test(test_arguments_checked),
        cmocka_unit_test(test_recv_timeout),
        cmocka_unit_test(test_orderly_close_is_closed),
        cmocka_unit_test(test_reset_is_io_error_and_no_sigpipe),
        cmocka_unit_test(test_send_timeout_when_peer_does_not_read),
        cmocka_unit_test(test_accept_timeout),
        cmocka_unit_test(test_listener_port_reuse),
        cmocka_unit_test(test_connect_timeout_on_full_backlog),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
