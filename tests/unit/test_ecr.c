/*
 * evt_ecr over real loopback sockets: the link runs on the sim's POSIX net driver, the "POS"
 * is the test POS of tests/support/ecr_pos (a plain blocking socket that pairs with the
 * terminal, signs every line it sends and checks every line it gets, docs/ecr-link.md). Every
 * wait is bounded (poll timeouts, a fixed number of rounds).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ecr_pos.h"
#include "evt/arena.h"
#include "evt/ecr.h"
#include "evt_sim/net_posix.h"
#include "evt_sim/sys_posix.h"

static uint8_t arena[512 * 1024];
static evt_hal_net net;
static evt_sim_sys *sim_sys;

typedef ecr_pos pos;

typedef struct fixture {
    evt_ecr ecr;
    evt_ecr_ram_store rs;
    evt_ecr_store store;
    uint16_t port;
    pos pos;
    evt_order order;
    size_t arena_in_use_at_open;
} fixture;

static fixture fx;

static void test_key(uint8_t key[32])
{
    for (int i = 0; i < 32; i++) {
        key[i] = (uint8_t)(0xA0 + i);
    }
}

static void pos_connect(pos *p, uint16_t port)
{
    uint8_t key[32];
    test_key(key);
    ecr_pos_connect(p, port, key);
}

/* True when the terminal closed this POS connection (EOF within a short wait) while the link
 * is polled. */
static bool pos_sees_eof_after_pumping(pos *p);

/* Polls the link until the POS has a reply line (at most ~2 s). Records a handed-out order. */
static const char *pump_reply(pos *p, char *out, size_t cap, bool *got_order)
{
    if (got_order != NULL) {
        *got_order = false;
    }
    for (int round = 0; round < 100; round++) {
        const char *line = ecr_pos_take_line(p, out, cap);
        if (line != NULL) {
            return line;
        }
        bool got = false;
        evt_err err = evt_ecr_poll(&fx.ecr, 20, &fx.order, &got);
        assert_int_equal(err, EVT_OK);
        if (got) {
            assert_non_null(got_order);
            assert_false(*got_order);
            *got_order = true;
        }
    }
    fail_msg("no reply from the ECR link");
    return NULL;
}

/* Sends one request line and returns the reply line. */
static const char *exchange(const char *request, bool *got_order)
{
    static char reply[4096];
    ecr_pos_send(&fx.pos, request);
    return pump_reply(&fx.pos, reply, sizeof reply, got_order);
}

static bool pos_sees_eof_after_pumping(pos *p)
{
    for (int i = 0; i < 100; i++) {
        bool got = false;
        assert_int_equal(evt_ecr_poll(&fx.ecr, 10, &fx.order, &got), EVT_OK);
        assert_false(got);
        char c[512];
        ssize_t n = recv(p->fd, c, sizeof c, MSG_DONTWAIT);
        if (n == 0) {
            return true;
        }
    }
    return false;
}

static const char *wait_reply(pos *p, char *out, size_t cap, void *arg)
{
    (void)arg;
    return pump_reply(p, out, cap, NULL);
}

/* Pairs p with the link: hello (its challenge), the auth line, auth_ok (checked). */
static void pos_pair(pos *p)
{
    char line[1024];
    ecr_pos_pair(p, wait_reply, NULL, line, sizeof line);
    assert_string_equal(line, "{\"v\":2,\"type\":\"auth_ok\",\"terminal\":\"EVT-T1\"}");
}

static void assert_contains(const char *haystack, const char *needle)
{
    if (strstr(haystack, needle) == NULL) {
        fail_msg("expected %s in %s", needle, haystack);
    }
}

static void no_more_replies(void)
{
    char line[256];
    for (int i = 0; i < 3; i++) {
        bool got = false;
        assert_int_equal(evt_ecr_poll(&fx.ecr, 10, &fx.order, &got), EVT_OK);
        assert_false(got);
    }
    assert_null(ecr_pos_take_line(&fx.pos, line, sizeof line));
}

static evt_ecr_config link_config(const evt_ecr_store *store)
{
    evt_ecr_config cfg = {.net = &net,
                          .sys = evt_sim_sys_hal(sim_sys),
                          .bind_addr = "127.0.0.1",
                          .store = *store,
                          .order_max_total = 2000000, /* 20000.00 yuan */
                          .terminal_id = "EVT-T1",
                          .auth_timeout_ms = 300};
    test_key(cfg.key);
    return cfg;
}

static void open_link(const evt_ecr_store *store)
{
    evt_ecr_config cfg = link_config(store);
    assert_int_equal(evt_ecr_open(&fx.ecr, &cfg), EVT_OK);
    fx.port = evt_sim_net_posix_local_port(fx.ecr.listener);
    assert_true(fx.port != 0);
    pos_connect(&fx.pos, fx.port);
    pos_pair(&fx.pos);
}

static int setup(void **state)
{
    (void)state;
    memset(&fx, 0, sizeof fx);
    evt_ecr_ram_store_init(&fx.rs, &fx.store);
    evt_arena_stats st;
    evt_arena_get_stats(&st);
    fx.arena_in_use_at_open = st.in_use;
    open_link(&fx.store);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    close(fx.pos.fd);
    evt_ecr_close(&fx.ecr);
    /* Every message's tree and reply buffer went back to the arena. */
    evt_arena_stats st;
    evt_arena_get_stats(&st);
    assert_int_equal(st.in_use, fx.arena_in_use_at_open);
    return 0;
}

#define SALE_A                                                                                      \
    "{\"v\":2,\"type\":\"sale\",\"order_id\":\"POS-20240501-0001\",\"use_personal_account\":true,"  \
    "\"items\":[{\"med_list_codg\":\"XA01BAA0001\",\"medins_list_codg\":\"YP0001\","                \
    "\"name\":\"阿莫西林胶囊\",\"qty\":2,\"price\":\"12.50\"},"                               \
    "{\"med_list_codg\":\"XB02CCC0002\",\"medins_list_codg\":\"YP0002\",\"name\":\"布洛芬片\"," \
    "\"qty\":1,\"price\":3.2,\"amount\":\"3.20\"}],\"total\":28.20}\n"

/* SALE_A from the POS, which must open an order for the app. */
static void open_sale_a(void)
{
    bool got = false;
    exchange(SALE_A, &got);
    assert_true(got);
}

/* The app's outcome for an order; every other field zero. */
static evt_ecr_result result_of(const char *order_id, evt_ecr_status status, evt_err error)
{
    evt_ecr_result r;
    memset(&r, 0, sizeof r);
    snprintf(r.order_id, sizeof r.order_id, "%s", order_id);
    r.status = status;
    r.error = error;
    return r;
}

static void settle(const char *order_id)
{
    evt_ecr_result r = result_of(order_id, EVT_ECR_SETTLED, EVT_OK);
    snprintf(r.setl_id, sizeof r.setl_id, "S120104000000000001");
    snprintf(r.msgid, sizeof r.msgid, "H12010400001202405011200001001");
    r.total = 2820;
    r.fund = 1000;
    r.account = 1500;
    r.mutual_aid = 200;
    r.cash = 120;
    r.balance = 34567;
    r.balance_present = true;
    assert_int_equal(evt_ecr_reply(&fx.ecr, &r), EVT_OK);
}

static void test_sale_ack_order_and_result(void **state)
{
    (void)state;
    bool got = false;
    const char *reply = exchange(SALE_A, &got);
    assert_string_equal(reply, "{\"v\":2,\"type\":\"ack\",\"order_id\":\"POS-20240501-0001\"}");
    assert_true(got);
    assert_true(evt_ecr_order_open(&fx.ecr));
    const evt_order *o = &fx.order;
    assert_string_equal(o->order_id, "POS-20240501-0001");
    assert_int_equal(o->source, EVT_ORDER_FROM_ECR);
    assert_true(o->use_personal_account);
    assert_int_equal(o->item_count, 2);
    evt_order_item first = evt_order_item_at(o, 0), second = evt_order_item_at(o, 1);
    assert_string_equal(first.med_list_codg, "XA01BAA0001");
    assert_string_equal(first.medins_list_codg, "YP0001");
    assert_string_equal(first.name, "阿莫西林胶囊");
    assert_int_equal(first.quantity, 2);
    assert_int_equal(first.price, 1250);
    assert_int_equal(first.amount, 2500);
    assert_int_equal(second.price, 320); /* JSON number 3.2, exactly */
    assert_int_equal(second.amount, 320);
    assert_int_equal(o->total, 2820);

    settle("POS-20240501-0001");
    assert_false(evt_ecr_order_open(&fx.ecr));
    char line[4096];
    assert_non_null(pump_reply(&fx.pos, line, sizeof line, NULL));
    assert_string_equal(line,
                        "{\"v\":2,\"type\":\"result\",\"order_id\":\"POS-20240501-0001\","
                        "\"status\":\"settled\",\"error\":\"EVT_OK\",\"message\":\"结算成功\","
                        "\"setl_id\":\"S120104000000000001\","
                        "\"msgid\":\"H12010400001202405011200001001\",\"total\":\"28.20\","
                        "\"fund\":\"10.00\",\"account\":\"15.00\",\"mutual_aid\":\"2.00\","
                        "\"cash\":\"1.20\",\"balance\":\"345.67\"}");
    no_more_replies();
}

static void test_idempotent_by_order_id(void **state)
{
    (void)state;
    open_sale_a();
    bool got = false;
    settle("POS-20240501-0001");
    char line[4096];
    pump_reply(&fx.pos, line, sizeof line, NULL);

    /* The same sale again: the stored result, no second order for the app. */
    const char *reply = exchange(SALE_A, &got);
    assert_false(got);
    assert_contains(reply, "\"type\":\"result\"");
    assert_contains(reply, "\"status\":\"settled\"");
    assert_contains(reply, "\"setl_id\":\"S120104000000000001\"");

    reply = exchange("{\"v\":2,\"type\":\"status\",\"order_id\":\"POS-20240501-0001\"}\n", &got);
    assert_false(got);
    assert_contains(reply, "\"status\":\"settled\"");
    assert_contains(reply, "\"total\":\"28.20\"");
}

static void test_open_order_resend_status_and_busy(void **state)
{
    (void)state;
    open_sale_a();
    bool got = false;
    /* Resent while running: ack again, not a second order. */
    const char *reply = exchange(SALE_A, &got);
    assert_false(got);
    assert_string_equal(reply, "{\"v\":2,\"type\":\"ack\",\"order_id\":\"POS-20240501-0001\"}");
    reply = exchange("{\"type\":\"status\",\"order_id\":\"POS-20240501-0001\"}\n", &got);
    assert_contains(reply, "\"type\":\"ack\"");
    /* Another order while one runs: busy, not stored. */
    reply =
        exchange("{\"v\":2,\"type\":\"sale\",\"order_id\":\"B2\",\"use_personal_account\":false,"
                 "\"items\":[{\"med_list_codg\":\"X\",\"medins_list_codg\":\"Y\",\"name\":\"药\","
                 "\"qty\":1,\"price\":\"1.00\"}]}\n",
                 &got);
    assert_false(got);
    assert_string_equal(reply,
                        "{\"v\":2,\"type\":\"result\",\"order_id\":\"B2\",\"status\":\"busy\","
                        "\"error\":\"EVT_ERR_BUSY\",\"message\":\"终端忙，请稍候\"}");
    reply = exchange("{\"type\":\"status\",\"order_id\":\"B2\"}\n", &got);
    assert_contains(reply, "\"type\":\"error\"");
    assert_contains(reply, "\"error\":\"EVT_ERR_NOT_FOUND\"");
}

/* The app's order buffer also holds the last receipt's items (evt_txn_order): a sale the link
 * answers by itself (busy, resent, refused, malformed) must not write into it. */
static void test_order_written_only_when_handed_out(void **state)
{
    (void)state;
    open_sale_a();
    evt_order before = fx.order;
    assert_string_equal(before.order_id, "POS-20240501-0001");
    assert_int_equal(before.item_count, 2);
    bool got = false;
    exchange("{\"v\":2,\"type\":\"sale\",\"order_id\":\"B2\",\"use_personal_account\":false,"
             "\"items\":[{\"med_list_codg\":\"X\",\"medins_list_codg\":\"Y\",\"name\":\"药\","
             "\"qty\":1,\"price\":\"1.00\"}]}\n",
             &got); /* busy */
    assert_false(got);
    exchange(SALE_A, &got); /* resent while running */
    assert_false(got);
    const char *reply =
        exchange("{\"v\":2,\"type\":\"sale\",\"order_id\":\"B3\",\"use_personal_account\":true,"
                 "\"items\":[{\"med_list_codg\":\"X\",\"medins_list_codg\":\"Y\",\"name\":\"药\","
                 "\"qty\":1,\"price\":\"1.00\"},7]}\n",
                 &got); /* its first item valid, the second not */
    assert_false(got);
    assert_contains(reply, "items[1]: must be an object");
    assert_memory_equal(&fx.order, &before, sizeof before);
}

static void test_refused_can_retry_unknown_cannot(void **state)
{
    (void)state;
    open_sale_a();
    bool got = false;
    evt_ecr_result r = result_of("POS-20240501-0001", EVT_ECR_REFUSED, EVT_ERR_VOUCHER_WECHAT_PAY);
    assert_int_equal(evt_ecr_reply(&fx.ecr, &r), EVT_OK);
    char line[4096];
    pump_reply(&fx.pos, line, sizeof line, NULL);
    assert_string_equal(line, "{\"v\":2,\"type\":\"result\",\"order_id\":\"POS-20240501-0001\","
                              "\"status\":\"refused\",\"error\":\"EVT_ERR_VOUCHER_WECHAT_PAY\","
                              "\"message\":\"这是微信付款码，请出示医保电子凭证\"}");

    /* A refused order may be tried again: a new attempt is handed out. */
    open_sale_a();
    r = result_of("POS-20240501-0001", EVT_ECR_UNKNOWN, EVT_ERR_OUTCOME_UNKNOWN);
    snprintf(r.msgid, sizeof r.msgid, "H12010400001202405011200001002");
    snprintf(r.message, sizeof r.message, "结算结果未知，请勿重复收费");
    evt_ecr_reply(&fx.ecr, &r);
    pump_reply(&fx.pos, line, sizeof line, NULL);
    assert_contains(line, "\"status\":\"unknown\"");
    assert_contains(line, "\"message\":\"结算结果未知，请勿重复收费\"");
    assert_contains(line, "\"msgid\":\"H12010400001202405011200001002\"");

    /* Outcome unknown: money may have moved, so no new attempt — the stored result. */
    const char *reply = exchange(SALE_A, &got);
    assert_false(got);
    assert_contains(reply, "\"status\":\"unknown\"");
}

static void test_external_busy(void **state)
{
    (void)state;
    evt_ecr_set_external_busy(&fx.ecr, true);
    bool got = false;
    const char *reply = exchange(SALE_A, &got);
    assert_false(got);
    assert_contains(reply, "\"status\":\"busy\"");
    evt_ecr_set_external_busy(&fx.ecr, false);
    open_sale_a();
}

/* While the cashier is busy at the terminal, the app runs evt_ecr_serve_busy from its waits:
 * a sale is answered "busy" at once though no order is open, nothing is handed out, and the
 * same sale is not waiting in the link afterwards. */
static void test_serve_busy_answers_and_hands_nothing_out(void **state)
{
    (void)state;
    ecr_pos_send(&fx.pos, SALE_A);
    char line[1024];
    const char *reply = NULL;
    for (int i = 0; i < 200 && reply == NULL; i++) { /* bounded; the line is on loopback */
        assert_int_equal(evt_ecr_serve_busy(&fx.ecr, 10), EVT_OK);
        reply = ecr_pos_take_line(&fx.pos, line, sizeof line);
    }
    assert_non_null(reply);
    assert_contains(reply, "\"status\":\"busy\"");
    assert_false(evt_ecr_order_open(&fx.ecr));
    no_more_replies(); /* a normal poll now finds no order left over */
    open_sale_a();     /* sent again once the cashier is free, it is taken */
}

typedef struct bad_case {
    const char *line;
    const char *error;
    const char *detail;
} bad_case;

#define ITEM_OK                                                                                     \
    "{\"med_list_codg\":\"X\",\"medins_list_codg\":\"Y\",\"name\":\"药\",\"qty\":1,\"price\":\"1." \
    "00\"}"
#define SALE_HEAD "{\"v\":2,\"type\":\"sale\",\"order_id\":\"O1\",\"use_personal_account\":true,"
#define X10       "xxxxxxxxxx"
#define X50       X10 X10 X10 X10 X10
#define X100      X50 X50
#define X400      X100 X100 X100 X100 /* longer than the parser's token text */
#define Z100                                                                                       \
    "00000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000" \
    "00000000"
#define Z400 Z100 Z100 Z100 Z100

static const bad_case bad_cases[] = {
    {"not json", "EVT_ERR_ECR_MALFORMED", "not one valid JSON value"},
    {"{\"type\":\"sale\",}", "EVT_ERR_ECR_MALFORMED", "not one valid JSON value"},
    {"[1,2]", "EVT_ERR_ECR_MALFORMED", "not one valid JSON value"},
    {"{\"v\":2}", "EVT_ERR_ECR_MALFORMED", "type: missing"},
    {"{\"v\":2,\"type\":7}", "EVT_ERR_ECR_MALFORMED", "type: must be a string"},
    {"{\"v\":2,\"type\":\"void\",\"order_id\":\"O1\"}", "EVT_ERR_ECR_MALFORMED",
     "type: must be \\\"sale\\\", \\\"status\\\", \\\"visit\\\", \\\"fees\\\" or \\\"refund\\\""},
    /* A refund names the order and nothing else; its id follows the order id's rules. */
    {"{\"v\":2,\"type\":\"refund\"}", "EVT_ERR_ECR_MALFORMED", "order_id: missing"},
    {"{\"v\":2,\"type\":\"refund\",\"order_id\":7}", "EVT_ERR_ECR_MALFORMED",
     "order_id: must be a string"},
    {"{\"v\":2,\"type\":\"refund\",\"order_id\":\"\"}", "EVT_ERR_ECR_MALFORMED",
     "order_id: must not be empty"},
    {"{\"v\":2,\"type\":\"refund\",\"order_id\":\"A B\"}", "EVT_ERR_ECR_MALFORMED",
     "order_id: must be printable"},
    {"{\"v\":2,\"type\":\"refund\",\"order_id\":\"12345678901234567890123456789012345678901\"}",
     "EVT_ERR_ECR_MALFORMED", "order_id: longer than 40 characters"},
    {"{\"v\":2,\"type\":\"refund\",\"order_id\":\"" X400 "\"}", "EVT_ERR_ECR_MALFORMED",
     "order_id: longer than 40 characters"},
    {"{\"v\":2,\"type\":\"refund\",\"order_id\":\"O1\",\"total\":\"1.00\"}",
     "EVT_ERR_ECR_MALFORMED", "unknown field total"},
    {"{\"v\":3,\"type\":\"refund\",\"order_id\":\"O1\"}", "EVT_ERR_ECR_VERSION",
     "v: this terminal"},
    /* A link whose store takes no refunds says so (the fixture's RAM store). */
    {"{\"v\":2,\"type\":\"refund\",\"order_id\":\"O1\"}", "EVT_ERR_UNSUPPORTED",
     "refund: not taken from the POS"},
    {"{\"v\":1,\"type\":\"sale\",\"order_id\":\"O1\"}", "EVT_ERR_ECR_VERSION", "v: this terminal"},
    {"{\"v\":3,\"type\":\"sale\",\"order_id\":\"O1\"}", "EVT_ERR_ECR_VERSION", "v: this terminal"},
    {"{\"v\":\"2\",\"type\":\"status\",\"order_id\":\"O1\"}", "EVT_ERR_ECR_VERSION", "v:"},
    {"{\"v\":2.0,\"type\":\"status\",\"order_id\":\"O1\"}", "EVT_ERR_ECR_VERSION", "v:"},
    {"{\"v\":2,\"type\":\"status\"}", "EVT_ERR_ECR_MALFORMED", "order_id: missing"},
    {"{\"v\":2,\"type\":\"status\",\"order_id\":12}", "EVT_ERR_ECR_MALFORMED",
     "order_id: must be a string"},
    {"{\"v\":2,\"type\":\"status\",\"order_id\":\"\"}", "EVT_ERR_ECR_MALFORMED",
     "order_id: must not be empty"},
    {"{\"v\":2,\"type\":\"status\",\"order_id\":\"A B\"}", "EVT_ERR_ECR_MALFORMED",
     "order_id: must be printable"},
    {"{\"v\":2,\"type\":\"status\",\"order_id\":\"12345678901234567890123456789012345678901\"}",
     "EVT_ERR_ECR_MALFORMED", "order_id: longer than 40 characters"},
    {"{\"v\":2,\"type\":\"status\",\"order_id\":\"O1\",\"x\":1}", "EVT_ERR_ECR_MALFORMED",
     "unknown field x"},
    {"{\"v\":2,\"type\":\"status\",\"order_id\":\"O1\",\"order_id\":\"O2\"}",
     "EVT_ERR_ECR_MALFORMED", "no duplicate keys"},
    {SALE_HEAD "\"items\":[" ITEM_OK "],\"totl\":\"1.00\"}", "EVT_ERR_ECR_MALFORMED",
     "unknown field totl"},
    {"{\"v\":2,\"type\":\"sale\",\"order_id\":\"O1\",\"items\":[" ITEM_OK "]}",
     "EVT_ERR_ECR_MALFORMED", "use_personal_account: missing"},
    {"{\"v\":2,\"type\":\"sale\",\"order_id\":\"O1\",\"use_personal_account\":1,\"items\":[" ITEM_OK
     "]}",
     "EVT_ERR_ECR_MALFORMED", "use_personal_account: must be true or false"},
    {SALE_HEAD "\"items\":[]}", "EVT_ERR_ECR_MALFORMED", "items: must hold 1 to 100 items"},
    {SALE_HEAD "\"items\":{}}", "EVT_ERR_ECR_MALFORMED", "items: must be an array"},
    {SALE_HEAD "\"items\":[7]}", "EVT_ERR_ECR_MALFORMED", "items[0]: must be an object"},
    {SALE_HEAD
     "\"items\":[{\"medins_list_codg\":\"Y\",\"name\":\"药\",\"qty\":1,\"price\":\"1.00\"}]}",
     "EVT_ERR_ECR_MALFORMED", "items[0].med_list_codg: missing"},
    {SALE_HEAD "\"items\":[" ITEM_OK
               ",{\"med_list_codg\":\"X\",\"medins_list_codg\":\"Y\",\"name\":\"\","
               "\"qty\":1,\"price\":\"1.00\"}]}",
     "EVT_ERR_ECR_MALFORMED", "items[1].name: must not be empty"},
    {SALE_HEAD
     "\"items\":[{\"med_list_codg\":\"X\",\"medins_list_codg\":\"Y\",\"name\":\"a\\u0001b\","
     "\"qty\":1,\"price\":\"1.00\"}]}",
     "EVT_ERR_ECR_MALFORMED", "items[0].name: must not contain control characters"},
    {SALE_HEAD "\"items\":[{\"med_list_codg\":\"X\",\"medins_list_codg\":\"Y\",\"name\":\"药\","
               "\"qty\":1.5,\"price\":\"1.00\"}]}",
     "EVT_ERR_ECR_MALFORMED", "items[0].qty: must be a whole number 1-99999"},
    {SALE_HEAD "\"items\":[{\"med_list_codg\":\"X\",\"medins_list_codg\":\"Y\",\"name\":\"药\","
               "\"qty\":\"2\",\"price\":\"1.00\"}]}",
     "EVT_ERR_ECR_MALFORMED", "items[0].qty: must be a whole number"},
    {SALE_HEAD "\"items\":[{\"med_list_codg\":\"X\",\"medins_list_codg\":\"Y\",\"name\":\"药\","
               "\"qty\":0,\"price\":\"1.00\"}]}",
     "EVT_ERR_ECR_MALFORMED", "items[0].qty: must be a whole number"},
    {SALE_HEAD "\"items\":[{\"med_list_codg\":\"X\",\"medins_list_codg\":\"Y\",\"name\":\"药\","
               "\"qty\":100000,\"price\":\"1.00\"}]}",
     "EVT_ERR_ECR_MALFORMED", "items[0].qty: must be a whole number"},
    {SALE_HEAD "\"items\":[{\"med_list_codg\":\"X\",\"medins_list_codg\":\"Y\",\"name\":\"药\","
               "\"qty\":1,\"price\":\"1.005\"}]}",
     "EVT_ERR_ECR_MALFORMED", "items[0].price: not an exact amount"},
    {SALE_HEAD "\"items\":[{\"med_list_codg\":\"X\",\"medins_list_codg\":\"Y\",\"name\":\"药\","
               "\"qty\":1,\"price\":1e2}]}",
     "EVT_ERR_ECR_MALFORMED", "items[0].price: not an exact amount"},
    {SALE_HEAD "\"items\":[{\"med_list_codg\":\"X\",\"medins_list_codg\":\"Y\",\"name\":\"药\","
               "\"qty\":1,\"price\":\"-1.00\"}]}",
     "EVT_ERR_ECR_MALFORMED", "items[0].price: must not be negative"},
    {SALE_HEAD "\"items\":[{\"med_list_codg\":\"X\",\"medins_list_codg\":\"Y\",\"name\":\"药\","
               "\"qty\":1,\"price\":\"0.00\"}]}",
     "EVT_ERR_ECR_MALFORMED", "items[0].price: must be greater than 0"},
    {SALE_HEAD "\"items\":[{\"med_list_codg\":\"X\",\"medins_list_codg\":\"Y\",\"name\":\"药\","
               "\"qty\":1,\"price\":\"\"}]}",
     "EVT_ERR_ECR_MALFORMED", "items[0].price: must not be empty"},
    {SALE_HEAD "\"items\":[{\"med_list_codg\":\"X\",\"medins_list_codg\":\"Y\",\"name\":\"药\","
               "\"qty\":1,\"price\":true}]}",
     "EVT_ERR_ECR_MALFORMED", "items[0].price: must be an amount"},
    {SALE_HEAD "\"items\":[{\"med_list_codg\":\"X\",\"medins_list_codg\":\"Y\",\"name\":\"药\","
               "\"qty\":3,\"price\":\"1.10\",\"amount\":\"3.31\"}]}",
     "EVT_ERR_ORDER_INVALID", "items[0].amount: is not qty * price"},
    {SALE_HEAD "\"items\":[{\"med_list_codg\":\"X\",\"medins_list_codg\":\"Y\",\"name\":\"药\","
               "\"qty\":99999,\"price\":\"99999999999999.99\"}]}",
     "EVT_ERR_ORDER_INVALID", "items[0].amount: qty * price too large"},
    {SALE_HEAD "\"items\":[{\"med_list_codg\":\"X\",\"medins_list_codg\":\"Y\",\"name\":\"药\","
               "\"qty\":1,\"price\":\"1.00\",\"colour\":\"red\"}]}",
     "EVT_ERR_ECR_MALFORMED", "items[0]: unknown field colour"},
    {SALE_HEAD "\"items\":[" ITEM_OK "," ITEM_OK "],\"total\":\"3.00\"}", "EVT_ERR_ORDER_INVALID",
     "total: is not the sum of the item amounts"},
    {SALE_HEAD "\"items\":[" ITEM_OK "],\"total\":\"abc\"}", "EVT_ERR_ECR_MALFORMED",
     "total: not an exact amount"},
    {"{\"v\":2,\"type\":\"status\",\"order_id\":\"\xE5\xBC\"}", "EVT_ERR_ECR_MALFORMED",
     "not one valid JSON value"},
    /* Duplicate keys anywhere, as the tree parser refused them; the whole line is judged as
     * JSON before any of its fields, so no field's error wins over it. */
    {SALE_HEAD "\"items\":[{\"med_list_codg\":\"X\",\"med_list_codg\":\"X\",\"medins_list_codg\":"
               "\"Y\",\"name\":\"药\",\"qty\":1,\"price\":\"1.00\"}]}",
     "EVT_ERR_ECR_MALFORMED", "no duplicate keys"},
    {SALE_HEAD "\"items\":[" ITEM_OK "],\"items\":[" ITEM_OK "]}", "EVT_ERR_ECR_MALFORMED",
     "no duplicate keys"},
    {SALE_HEAD "\"items\":[" ITEM_OK "],\"x\":{\"a\":1,\"b\":[{\"a\":1,\"a\":2}]}}",
     "EVT_ERR_ECR_MALFORMED", "no duplicate keys"},
    {SALE_HEAD "\"items\":[7,{\"qty\":1,\"qty\":2}]}", "EVT_ERR_ECR_MALFORMED",
     "no duplicate keys"},
    /* What the streaming reader must follow: the kinds of values and where they are. */
    {SALE_HEAD "\"items\":\"x\"}", "EVT_ERR_ECR_MALFORMED", "items: must be an array"},
    {SALE_HEAD "\"items\":null}", "EVT_ERR_ECR_MALFORMED", "items: must be an array"},
    {SALE_HEAD "\"items\":[[" ITEM_OK "]]}", "EVT_ERR_ECR_MALFORMED",
     "items[0]: must be an object"},
    {SALE_HEAD "\"items\":[" ITEM_OK ",null]}", "EVT_ERR_ECR_MALFORMED",
     "items[1]: must be an object"},
    {SALE_HEAD "\"items\":[{\"med_list_codg\":\"X\",\"medins_list_codg\":\"Y\",\"name\":{\"a\":1},"
               "\"qty\":1,\"price\":\"1.00\"}]}",
     "EVT_ERR_ECR_MALFORMED", "items[0].name: must be a string"},
    {SALE_HEAD "\"items\":[{\"med_list_codg\":\"X\",\"medins_list_codg\":\"Y\",\"name\":\"药\","
               "\"qty\":1,\"price\":{\"price\":[\"1.00\"]}}]}",
     "EVT_ERR_ECR_MALFORMED", "items[0].price: must be an amount"},
    {SALE_HEAD "\"items\":[{\"med_list_codg\":\"X\",\"medins_list_codg\":\"Y\",\"name\":\"药\","
               "\"qty\":[1],\"price\":\"1.00\"}]}",
     "EVT_ERR_ECR_MALFORMED", "items[0].qty: must be a whole number 1-99999"},
    {SALE_HEAD "\"items\":[{\"med_list_codg\":\"X\",\"medins_list_codg\":\"Y\",\"name\":\"药\","
               "\"qty\":1,\"price\":\"1.00\",\"amount\":{}}]}",
     "EVT_ERR_ECR_MALFORMED", "items[0].amount: must be an amount"},
    {SALE_HEAD "\"items\":[{\"med_list_codg\":\"X\",\"medins_list_codg\":\"Y\",\"name\":\"药\","
               "\"qty\":1,\"price\":\"1.00\",\"colour\":{\"med_list_codg\":\"\",\"qty\":0}}]}",
     "EVT_ERR_ECR_MALFORMED", "items[0]: unknown field colour"},
    {SALE_HEAD "\"items\":[" ITEM_OK "],\"x\":{\"items\":[7]}}", "EVT_ERR_ECR_MALFORMED",
     "unknown field x"},
    {"{\"v\":2,\"type\":\"status\",\"order_id\":{\"order_id\":\"O1\"}}", "EVT_ERR_ECR_MALFORMED",
     "order_id: must be a string"},
    {"{\"v\":2,\"type\":{\"type\":\"sale\"},\"order_id\":\"O1\"}", "EVT_ERR_ECR_MALFORMED",
     "type: must be a string"},
    {"{\"v\":2,\"type\":null,\"order_id\":\"O1\"}", "EVT_ERR_ECR_MALFORMED",
     "type: must be a string"},
    {"{\"v\":null,\"type\":\"status\",\"order_id\":\"O1\"}", "EVT_ERR_ECR_VERSION", "v:"},
    {"{\"v\":[2],\"type\":\"status\",\"order_id\":\"O1\"}", "EVT_ERR_ECR_VERSION", "v:"},
    {"{\"v\":2,\"type\":\"auth\",\"order_id\":\"O1\"}", "EVT_ERR_ECR_MALFORMED",
     "type: must be \\\"sale\\\", \\\"status\\\", \\\"visit\\\", \\\"fees\\\" or \\\"refund\\\""},
    {"{\"v\":2,\"type\":\"sale\",\"order_id\":\"O1\",\"use_personal_account\":{\"a\":true},"
     "\"items\":[" ITEM_OK "]}",
     "EVT_ERR_ECR_MALFORMED", "use_personal_account: must be true or false"},
    /* A number where a string is required, and the reverse. */
    {SALE_HEAD "\"items\":[{\"med_list_codg\":12345,\"medins_list_codg\":\"Y\",\"name\":\"药\","
               "\"qty\":1,\"price\":\"1.00\"}]}",
     "EVT_ERR_ECR_MALFORMED", "items[0].med_list_codg: must be a string"},
    {SALE_HEAD "\"items\":[{\"med_list_codg\":\"X\",\"medins_list_codg\":true,\"name\":\"药\","
               "\"qty\":1,\"price\":\"1.00\"}]}",
     "EVT_ERR_ECR_MALFORMED", "items[0].medins_list_codg: must be a string"},
    {SALE_HEAD "\"items\":[{\"med_list_codg\":\"X\",\"medins_list_codg\":\"Y\",\"name\":7,"
               "\"qty\":1,\"price\":\"1.00\"}]}",
     "EVT_ERR_ECR_MALFORMED", "items[0].name: must be a string"},
    /* Lengths at and past the field's limit, and past the parser's token text (cut there, yet
     * "too long" by its full length). */
    {SALE_HEAD "\"items\":[{\"med_list_codg\":\"X\",\"medins_list_codg\":\"Y\",\"name\":\"" X100
               "x\",\"qty\":1,\"price\":\"1.00\"}]}",
     "EVT_ERR_ECR_MALFORMED", "items[0].name: too long"},
    {SALE_HEAD "\"items\":[{\"med_list_codg\":\"X\",\"medins_list_codg\":\"Y\",\"name\":\"" X400
               "\",\"qty\":1,\"price\":\"1.00\"}]}",
     "EVT_ERR_ECR_MALFORMED", "items[0].name: too long"},
    {SALE_HEAD "\"items\":[{\"med_list_codg\":\"" X50 "x\",\"medins_list_codg\":\"Y\",\"name\":"
               "\"药\",\"qty\":1,\"price\":\"1.00\"}]}",
     "EVT_ERR_ECR_MALFORMED", "items[0].med_list_codg: too long"},
    {SALE_HEAD "\"items\":[{\"med_list_codg\":\"X\",\"medins_list_codg\":\"" X400 "\",\"name\":"
               "\"药\",\"qty\":1,\"price\":\"1.00\"}]}",
     "EVT_ERR_ECR_MALFORMED", "items[0].medins_list_codg: too long"},
    {"{\"v\":2,\"type\":\"status\",\"order_id\":\"" X400 "\"}", "EVT_ERR_ECR_MALFORMED",
     "order_id: longer than 40 characters"},
    {SALE_HEAD "\"items\":[{\"med_list_codg\":\"X\",\"medins_list_codg\":\"Y\",\"name\":\"药\","
               "\"qty\":1,\"price\":\"1." Z400 "\"}]}",
     "EVT_ERR_ECR_MALFORMED", "items[0].price: not an exact amount"},
    {SALE_HEAD "\"items\":[{\"med_list_codg\":\"X\",\"medins_list_codg\":\"Y\",\"name\":\"药\","
               "\"qty\":1,\"price\":1." Z400 "}]}",
     "EVT_ERR_ECR_MALFORMED", "items[0].price: not an exact amount"},
    {SALE_HEAD "\"items\":[{\"med_list_codg\":\"X\",\"medins_list_codg\":\"Y\",\"name\":\"药\","
               "\"qty\":1" Z400 ",\"price\":\"1.00\"}]}",
     "EVT_ERR_ECR_MALFORMED", "items[0].qty: must be a whole number 1-99999"},
    {SALE_HEAD "\"items\":[" ITEM_OK "],\"total\":\"" Z400 "\"}", "EVT_ERR_ECR_MALFORMED",
     "total: not an exact amount"},
    {SALE_HEAD "\"items\":[" ITEM_OK "],\"total\":\"\"}", "EVT_ERR_ECR_MALFORMED",
     "total: not an exact amount"},
    /* Unknown names are echoed only when short plain ASCII. */
    {"{\"v\":2,\"type\":\"status\",\"order_id\":\"O1\",\"" X10 X10 X10 "yy\":1}",
     "EVT_ERR_ECR_MALFORMED", "\"unknown field " X10 X10 X10 "yy\""},
    {"{\"v\":2,\"type\":\"status\",\"order_id\":\"O1\",\"" X10 X10 X10 "yyy\":1}",
     "EVT_ERR_ECR_MALFORMED", "\"unknown field \""},
    {"{\"v\":2,\"type\":\"status\",\"order_id\":\"O1\",\"" X400 "\":1}", "EVT_ERR_ECR_MALFORMED",
     "\"unknown field \""},
    /* The order of the checks: unknown member, use_personal_account, items, the items in turn
     * (their fields in the documented order), total. */
    {"{\"v\":2,\"type\":\"sale\",\"order_id\":\"O1\",\"items\":{},\"zz\":1}",
     "EVT_ERR_ECR_MALFORMED", "unknown field zz"},
    {"{\"v\":2,\"type\":\"sale\",\"order_id\":\"O1\",\"items\":{}}", "EVT_ERR_ECR_MALFORMED",
     "use_personal_account: missing"},
    {SALE_HEAD "\"items\":[{\"amount\":\"x\",\"price\":\"x\",\"qty\":\"x\",\"name\":\"\","
               "\"medins_list_codg\":\"\",\"med_list_codg\":\"\"}]}",
     "EVT_ERR_ECR_MALFORMED", "items[0].med_list_codg: must not be empty"},
    {SALE_HEAD "\"items\":[{\"amount\":\"x\",\"price\":\"x\",\"qty\":\"x\",\"name\":\"\","
               "\"medins_list_codg\":\"\",\"med_list_codg\":\"X\"}]}",
     "EVT_ERR_ECR_MALFORMED", "items[0].medins_list_codg: must not be empty"},
    {SALE_HEAD "\"items\":[{\"amount\":\"x\",\"price\":\"x\",\"qty\":\"x\",\"name\":\"\","
               "\"medins_list_codg\":\"Y\",\"med_list_codg\":\"X\"}]}",
     "EVT_ERR_ECR_MALFORMED", "items[0].name: must not be empty"},
    {SALE_HEAD "\"items\":[{\"amount\":\"x\",\"price\":\"x\",\"qty\":\"x\",\"name\":\"药\","
               "\"medins_list_codg\":\"Y\",\"med_list_codg\":\"X\"}]}",
     "EVT_ERR_ECR_MALFORMED", "items[0].qty: must be a whole number"},
    {SALE_HEAD "\"items\":[{\"amount\":\"x\",\"price\":\"x\",\"qty\":2,\"name\":\"药\","
               "\"medins_list_codg\":\"Y\",\"med_list_codg\":\"X\"}]}",
     "EVT_ERR_ECR_MALFORMED", "items[0].price: not an exact amount"},
    {SALE_HEAD "\"items\":[{\"amount\":\"x\",\"price\":\"1.00\",\"qty\":2,\"name\":\"药\","
               "\"medins_list_codg\":\"Y\",\"med_list_codg\":\"X\"}]}",
     "EVT_ERR_ECR_MALFORMED", "items[0].amount: not an exact amount"},
    {SALE_HEAD "\"items\":[{\"amount\":\"x\",\"price\":\"99999999999999.99\",\"qty\":2,"
               "\"name\":\"药\",\"medins_list_codg\":\"Y\",\"med_list_codg\":\"X\"}]}",
     "EVT_ERR_ORDER_INVALID", "items[0].amount: qty * price too large"},
    {SALE_HEAD "\"total\":\"abc\",\"items\":[" ITEM_OK ",{\"qty\":1}]}", "EVT_ERR_ECR_MALFORMED",
     "items[1].med_list_codg: missing"},
    {SALE_HEAD "\"items\":[{\"med_list_codg\":\"X\",\"medins_list_codg\":\"Y\",\"name\":\"药\","
               "\"qty\":1,\"price\":\"abc\"},7]}",
     "EVT_ERR_ECR_MALFORMED", "items[0].price: not an exact amount"},
    {SALE_HEAD "\"items\":[{\"med_list_codg\":\"X\",\"medins_list_codg\":\"Y\",\"name\":\"药\","
               "\"qty\":1,\"price\":\"99999999999999.99\"},"
               "{\"med_list_codg\":\"X\",\"medins_list_codg\":\"Y\",\"name\":\"药\","
               "\"qty\":1,\"price\":\"1.00\"},7]}",
     "EVT_ERR_ORDER_INVALID", "total: sum of items too large"},
};

static void test_malformed_lines_keep_link_up(void **state)
{
    (void)state;
    char line[32768];
    for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
        snprintf(line, sizeof line, "%s\n", bad_cases[i].line);
        bool got = false;
        const char *reply = exchange(line, &got);
        if (got || strstr(reply, "\"type\":\"error\"") == NULL ||
            strstr(reply, bad_cases[i].error) == NULL ||
            strstr(reply, bad_cases[i].detail) == NULL) {
            fail_msg("case %zu (%s): got %s", i, bad_cases[i].line, reply);
        }
        assert_contains(reply, "\"message\":\"");
    }
    /* Still up: a good sale goes through on the same connection. */
    open_sale_a();
}

/* More members than the parser remembers for the duplicate check (EVT_JSTREAM_MAX_KEYS in the
 * open objects together) is no message of the link: refused as such, not as invalid JSON and
 * not as out of memory. Up to the limit the usual check names the first unknown member. */
static void test_too_many_members(void **state)
{
    (void)state;
    static char line[8192];
    for (int extra = 128 - 3; extra <= 128 - 2; extra++) {
        size_t o = (size_t)snprintf(line, sizeof line, "{\"type\":\"status\",\"order_id\":\"O1\"");
        for (int i = 0; i < extra; i++) {
            o += (size_t)snprintf(line + o, sizeof line - o, ",\"k%d\":%d", i, i);
        }
        snprintf(line + o, sizeof line - o, "}\n"); /* + "seq": 128 members, then 129 */
        bool got = false;
        const char *reply = exchange(line, &got);
        assert_false(got);
        assert_contains(reply, "\"error\":\"EVT_ERR_ECR_MALFORMED\"");
        assert_contains(reply, extra == 128 - 3
                                   ? "unknown field k0"
                                   : "more than 128 fields in an object and the objects around it");
    }
    open_sale_a(); /* the link is still up */
}

static void test_error_reply_shape(void **state)
{
    (void)state;
    bool got = false;
    const char *reply =
        exchange("{\"v\":2,\"type\":\"status\",\"order_id\":\"O1\",\"x\":1}\n", &got);
    assert_string_equal(reply,
                        "{\"v\":2,\"type\":\"error\",\"order_id\":\"O1\","
                        "\"error\":\"EVT_ERR_ECR_MALFORMED\","
                        "\"message\":\"收银系统消息格式错误\",\"detail\":\"unknown field x\"}");
}

/* A sale of n items with short codes and names (C000, M000, 药品0; qty i + 1, price i + 1
 * fen), item bad_item's price replaced by "abc" (-1: none), as one request line in line. */
static void sale_of_items(char *line, size_t cap, const char *order_id, int n, int bad_item)
{
    size_t o = (size_t)snprintf(line, cap,
                                "{\"v\":2,\"type\":\"sale\",\"order_id\":\"%s\","
                                "\"use_personal_account\":true,\"items\":[",
                                order_id);
    for (int i = 0; i < n; i++) {
        char price[16];
        snprintf(price, sizeof price, "%d.%02d", (i + 1) / 100, (i + 1) % 100);
        o += (size_t)snprintf(line + o, cap - o,
                              "%s{\"med_list_codg\":\"C%03d\",\"medins_list_codg\":\"M%03d\","
                              "\"name\":\"药品%d\",\"qty\":%d,\"price\":\"%s\"}",
                              i ? "," : "", i, i, i, i + 1, i == bad_item ? "abc" : price);
    }
    assert_true(o + 4 < cap);
    snprintf(line + o, cap - o, "]}\n");
}

static void test_most_items_ok_one_more_not(void **state)
{
    (void)state;
    static char line[16384];
    const int most = EVT_ORDER_MAX_ITEMS;
    for (int n = most; n <= most + 1; n++) {
        char id[16];
        snprintf(id, sizeof id, "MANY%d", n);
        sale_of_items(line, sizeof line, id, n, -1);
        bool got = false;
        const char *reply = exchange(line, &got);
        if (n == most) {
            assert_true(got);
            assert_contains(reply, "\"type\":\"ack\"");
            assert_int_equal(fx.order.item_count, most);
            evt_fen want = 0;
            for (int i = 0; i < most; i++) {
                want += (evt_fen)(i + 1) * (i + 1);
            }
            assert_int_equal(fx.order.total, want);
            evt_order_item last = evt_order_item_at(&fx.order, (size_t)most - 1);
            assert_string_equal(last.med_list_codg, "C099");
            assert_string_equal(last.name, "药品99");
            assert_int_equal(last.amount, (evt_fen)most * most);
            settle(id);
            char r[4096];
            pump_reply(&fx.pos, r, sizeof r, NULL);
        } else {
            /* Well-formed, only too long for one sale: the size error, not "malformed". */
            assert_false(got);
            assert_contains(reply, "\"error\":\"EVT_ERR_ORDER_TOO_LARGE\"");
            assert_contains(reply, "items: 101 lines, above the terminal's maximum of 100");
        }
    }
    /* Too many lines is reported before a bad line: the POS must split the order anyway. */
    sale_of_items(line, sizeof line, "MANY-BAD", most + 1, 0);
    bool got = false;
    const char *reply = exchange(line, &got);
    assert_false(got);
    assert_contains(reply, "items: 101 lines, above the terminal's maximum of 100");
    sale_of_items(line, sizeof line, "MANY-BAD", most, 0);
    reply = exchange(line, &got);
    assert_contains(reply, "items[0].price: not an exact amount");
}

/* The string of `len` bytes for field `field` of item i: a tag, the index, then filler. */
static void dense_string(char *out, size_t len, const char *tag, int i)
{
    int n = snprintf(out, len + 1, "%s%02d", tag, i);
    memset(out + n, 'a' + i % 26, len - (size_t)n);
    out[len] = '\0';
}

/* The densest order one ECR line can carry (docs/ecr-link.md, "Order size"): 64 items whose
 * strings are all at their longest and a 65th with 100 bytes of them fill a line of exactly
 * EVT_ECR_LINE_MAX bytes with 11 815 bytes of order text (NULs included). The order's text area
 * (EVT_ORDER_TEXT_BYTES) must take all of it. */
static void test_densest_line_fits_the_order(void **state)
{
    (void)state;
    enum { ITEMS = 65 };
    static char line[EVT_ECR_LINE_MAX + 512];
    static char wire[EVT_ECR_LINE_MAX + 512];
    static char names[ITEMS][3][EVT_ORDER_NAME_MAX + 1];
    for (size_t last_name = 20; last_name <= 21; last_name++) {
        size_t o = (size_t)snprintf(line, sizeof line,
                                    "{\"type\":\"sale\",\"order_id\":\"D\","
                                    "\"use_personal_account\":true,\"items\":[");
        for (int i = 0; i < ITEMS; i++) {
            dense_string(names[i][0], EVT_ORDER_CODE_MAX, "N", i);
            dense_string(names[i][1], EVT_ORDER_MEDINS_CODE_MAX, "P", i);
            /* UTF-8 counts in bytes: 药品 is 6 of the name's 100 */
            dense_string(names[i][2], i < ITEMS - 1 ? EVT_ORDER_NAME_MAX : last_name, "药品", i);
            o += (size_t)snprintf(line + o, sizeof line - o,
                                  "%s{\"med_list_codg\":\"%s\",\"medins_list_codg\":\"%s\","
                                  "\"name\":\"%s\",\"qty\":1,\"price\":1}",
                                  i ? "," : "", names[i][0], names[i][1], names[i][2]);
        }
        o += (size_t)snprintf(line + o, sizeof line - o, "]}");
        size_t n = ecr_pos_seal(&fx.pos, line, o, wire, sizeof wire - 1);
        wire[n++] = '\n';
        ecr_pos_send_raw(&fx.pos, wire, n);
        char reply[4096];
        bool got = false;
        pump_reply(&fx.pos, reply, sizeof reply, &got);
        if (last_name == 21) {
            /* One byte of text more and the line is too long: nothing denser reaches the order. */
            assert_int_equal(n - 1, EVT_ECR_LINE_MAX + 1);
            assert_false(got);
            assert_contains(reply, "EVT_ERR_ECR_TOO_LONG");
            break;
        }
        assert_int_equal(n - 1, EVT_ECR_LINE_MAX); /* seq 2 and the MAC included */
        assert_true(got);
        assert_contains(reply, "\"type\":\"ack\"");
        assert_int_equal(fx.order.item_count, ITEMS);
        assert_int_equal(fx.order.text_used, 11815);
        assert_int_equal(fx.order.total, ITEMS * 100);
        for (int i = 0; i < ITEMS; i++) {
            evt_order_item it = evt_order_item_at(&fx.order, (size_t)i);
            assert_string_equal(it.med_list_codg, names[i][0]);
            assert_string_equal(it.medins_list_codg, names[i][1]);
            assert_string_equal(it.name, names[i][2]);
            assert_int_equal(it.quantity, 1);
            assert_int_equal(it.price, 100);
        }
        settle("D");
        pump_reply(&fx.pos, reply, sizeof reply, NULL);
    }
}

/* A line is read in fixed memory: reading, acking and handing out a sale of 100 items takes
 * no more of the arena at its peak than a sale of one item, and gives all of it back. */
static void test_sale_read_in_fixed_memory(void **state)
{
    (void)state;
    static char line[EVT_ECR_LINE_MAX];
    const int counts[2] = {1, EVT_ORDER_MAX_ITEMS};
    size_t peak_above_idle[2];
    for (int k = 0; k < 2; k++) {
        char id[16];
        snprintf(id, sizeof id, "FIXED%d", counts[k]);
        sale_of_items(line, sizeof line, id, counts[k], -1);
        evt_arena_stats before, after;
        evt_arena_reset_peak();
        evt_arena_get_stats(&before);
        bool got = false;
        exchange(line, &got);
        evt_arena_get_stats(&after);
        assert_true(got);
        assert_int_equal(fx.order.item_count, counts[k]);
        assert_int_equal(after.in_use, before.in_use);
        peak_above_idle[k] = after.peak - before.in_use;
        settle(id);
        char r[4096];
        pump_reply(&fx.pos, r, sizeof r, NULL);
    }
    print_message("arena peak while a sale is read, acked and handed out: %zu bytes above idle "
                  "for 1 item, %zu for %d items\n",
                  peak_above_idle[0], peak_above_idle[1], EVT_ORDER_MAX_ITEMS);
    assert_int_equal(peak_above_idle[1], peak_above_idle[0]);
}

/* A sealed line of exactly `target` bytes: spaces after the opening brace pad it. */
static size_t sealed_of_length(pos *p, const char *json, size_t target, char *out, size_t cap)
{
    static char padded[EVT_ECR_LINE_MAX + 64];
    for (size_t pad = 0; pad < target; pad++) {
        pos probe = *p; /* the same seq as the real one will get */
        size_t n = (size_t)snprintf(padded, sizeof padded, "{%*s%s", (int)pad, "", json + 1);
        size_t sealed = ecr_pos_seal(&probe, padded, n, out, cap);
        if (sealed == target) {
            *p = probe;
            return sealed;
        }
        if (sealed > target) {
            break;
        }
    }
    fail_msg("cannot make a sealed line of %zu bytes", target);
    return 0;
}

static void test_too_long_line_resyncs(void **state)
{
    (void)state;
    static char big[EVT_ECR_LINE_MAX * 2 + 64];
    memset(big, 'x', EVT_ECR_LINE_MAX * 2);
    big[EVT_ECR_LINE_MAX * 2] = '\0';
    ecr_pos_send_raw(&fx.pos, big, strlen(big)); /* framing is checked before the MAC */
    ecr_pos_send(&fx.pos, "\n{\"type\":\"status\",\"order_id\":\"Q1\"}\n");
    char line[4096];
    pump_reply(&fx.pos, line, sizeof line, NULL);
    assert_contains(line, "\"error\":\"EVT_ERR_ECR_TOO_LONG\"");
    pump_reply(&fx.pos, line, sizeof line, NULL);
    assert_contains(line, "\"error\":\"EVT_ERR_NOT_FOUND\""); /* the next line was read */
    no_more_replies();

    /* One byte over the limit, newline included in the same chunk: also refused. */
    size_t n = sealed_of_length(&fx.pos, "{\"type\":\"status\",\"order_id\":\"Q2\"}",
                                EVT_ECR_LINE_MAX + 1, big, sizeof big);
    memcpy(big + n, "\n", 2);
    ecr_pos_send_raw(&fx.pos, big, n + 1);
    pump_reply(&fx.pos, line, sizeof line, NULL);
    assert_contains(line, "EVT_ERR_ECR_TOO_LONG");

    /* Exactly the limit (CR LF not counted) is fine. */
    n = sealed_of_length(&fx.pos, "{\"type\":\"status\",\"order_id\":\"Q3\"}", EVT_ECR_LINE_MAX,
                         big, sizeof big);
    memcpy(big + n, "\r\n", 3);
    ecr_pos_send_raw(&fx.pos, big, n + 2);
    pump_reply(&fx.pos, line, sizeof line, NULL);
    assert_contains(line, "\"order_id\":\"Q3\"");
    assert_contains(line, "EVT_ERR_NOT_FOUND");
}

static void test_several_lines_in_one_write_crlf_and_blank(void **state)
{
    (void)state;
    /* Blank lines are keep-alives; CR LF accepted; the sale stops the pass, the status
     * behind it is answered on the next one. */
    ecr_pos_send(&fx.pos, "\r\n  \n{\"type\":\"status\",\"order_id\":\"Z1\"}\r\n" SALE_A
                          "{\"type\":\"status\",\"order_id\":\"POS-20240501-0001\"}\n");
    char line[4096];
    bool got = false;
    pump_reply(&fx.pos, line, sizeof line, &got);
    assert_contains(line, "\"order_id\":\"Z1\"");
    pump_reply(&fx.pos, line, sizeof line, &got);
    assert_contains(line, "\"type\":\"ack\"");
    pump_reply(&fx.pos, line, sizeof line, &got);
    assert_contains(line, "\"type\":\"ack\""); /* status of the running order */
    assert_contains(line, "\"order_id\":\"POS-20240501-0001\"");
    no_more_replies();
}

static void test_split_across_reads(void **state)
{
    (void)state;
    static const char text[] = "{\"type\":\"status\",\"order_id\":\"SPLIT\"}";
    char req[512];
    size_t len = ecr_pos_seal(&fx.pos, text, strlen(text), req, sizeof req - 1);
    req[len++] = '\n';
    char line[4096];
    for (size_t i = 0; i < len; i += 5) {
        ecr_pos_send_raw(&fx.pos, req + i, len - i < 5 ? len - i : 5);
        bool got = false;
        assert_int_equal(evt_ecr_poll(&fx.ecr, 10, &fx.order, &got), EVT_OK);
    }
    pump_reply(&fx.pos, line, sizeof line, NULL);
    assert_contains(line, "\"order_id\":\"SPLIT\"");
}

static void test_new_connection_replaces_old(void **state)
{
    (void)state;
    open_sale_a();
    /* The POS believes the link died and reconnects; the terminal adopts the new socket. */
    pos second;
    pos_connect(&second, fx.port);
    pos_pair(&second);
    ecr_pos_send(&second, "{\"type\":\"status\",\"order_id\":\"POS-20240501-0001\"}\n");
    char line[4096];
    pump_reply(&second, line, sizeof line, NULL);
    assert_contains(line, "\"type\":\"ack\"");
    assert_true(ecr_pos_sees_eof(&fx.pos, 500));
    settle("POS-20240501-0001");
    pump_reply(&second, line, sizeof line, NULL);
    assert_contains(line, "\"status\":\"settled\"");
    close(fx.pos.fd);
    fx.pos = second;
}

/* A POS that does not wait for auth_ok: its auth line and its first request in one write. The
 * request is read after the auth line, not dropped with the rest of the authentication buffer
 * (which would cut it and fail its MAC). */
static void test_request_right_behind_the_auth_line(void **state)
{
    (void)state;
    pos second;
    pos_connect(&second, fx.port);
    char hello[1024];
    pump_reply(&second, hello, sizeof hello, NULL);
    memcpy(second.session, strstr(hello, "\"challenge\":\"") + 13, 32);
    second.session[32] = '\0';
    static const char nonce[] = "00112233445566778899aabbccddeeff";
    static const char auth[] = "{\"v\":2,\"type\":\"auth\",\"pos\":\"eager\",\"nonce\":"
                               "\"00112233445566778899aabbccddeeff\"}";
    char wire[2048];
    size_t n = ecr_pos_seal(&second, auth, strlen(auth), wire, sizeof wire - 1);
    wire[n++] = '\n';
    strcat(second.session, nonce);
    second.paired = true;
    /* a request longer than what is left of the authentication buffer after the auth line */
    n += ecr_pos_seal(&second, SALE_A, strlen(SALE_A) - 1, wire + n, sizeof wire - n - 1);
    wire[n++] = '\n';
    ecr_pos_send_raw(&second, wire, n);
    char line[4096];
    bool with_auth = false, after = false; /* the sale may come out in the auth_ok's pass */
    pump_reply(&second, line, sizeof line, &with_auth);
    assert_string_equal(line, "{\"v\":2,\"type\":\"auth_ok\",\"terminal\":\"EVT-T1\"}");
    pump_reply(&second, line, sizeof line, &after);
    assert_contains(line, "\"type\":\"ack\"");
    assert_true(with_auth != after);
    assert_string_equal(fx.order.order_id, "POS-20240501-0001");
    close(fx.pos.fd);
    fx.pos = second;
}

static void test_disconnect_then_query(void **state)
{
    (void)state;
    open_sale_a();
    bool got = false;
    close(fx.pos.fd);
    /* The link notices the closed connection... */
    for (int i = 0; i < 20 && fx.ecr.client.sock != NULL; i++) {
        evt_ecr_poll(&fx.ecr, 10, &fx.order, &got);
    }
    assert_null(fx.ecr.client.sock);
    /* ...the result cannot be sent but is kept... */
    evt_ecr_result r = result_of("POS-20240501-0001", EVT_ECR_FAILED, EVT_ERR_NET_TIMEOUT);
    assert_int_equal(evt_ecr_reply(&fx.ecr, &r), EVT_ERR_NET_CLOSED);
    /* ...and the reconnected POS gets it by asking. */
    pos_connect(&fx.pos, fx.port);
    pos_pair(&fx.pos);
    const char *reply =
        exchange("{\"type\":\"status\",\"order_id\":\"POS-20240501-0001\"}\n", NULL);
    assert_contains(reply, "\"status\":\"failed\"");
    assert_contains(reply, "\"error\":\"EVT_ERR_NET_TIMEOUT\"");
    assert_contains(reply, "\"message\":\"医保平台响应超时\"");
}

/* ---- who may talk ------------------------------------------------------------------------ */

/* Polls the link a few rounds; no order may come out of it. */
static void pump_no_order(int rounds)
{
    for (int i = 0; i < rounds; i++) {
        bool got = false;
        assert_int_equal(evt_ecr_poll(&fx.ecr, 10, &fx.order, &got), EVT_OK);
        assert_false(got);
    }
}

/* Waits (bounded) until the terminal closed the stranger; returns what it said before. */
static void expect_refused(pos *stranger, const char *said)
{
    char all[4096] = "";
    size_t used = 0;
    for (int i = 0; i < 100; i++) {
        pump_no_order(1);
        ssize_t n = recv(stranger->fd, all + used, sizeof all - 1 - used, MSG_DONTWAIT);
        if (n == 0) {
            all[used] = '\0';
            if (said != NULL) {
                assert_contains(all, said);
            }
            return;
        }
        if (n > 0) {
            used += (size_t)n;
        }
    }
    fail_msg("the stranger's connection was not closed; it got: %s", all);
}

static void test_stranger_cannot_start_a_sale(void **state)
{
    (void)state;
    pos stranger;
    pos_connect(&stranger, fx.port);
    ecr_pos_send(&stranger, SALE_A); /* a perfectly good sale, without the key */
    expect_refused(&stranger, "EVT_ERR_ECR_UNAUTHENTICATED");
    close(stranger.fd);
    /* the paired POS was not replaced and still works */
    open_sale_a();
}

static void test_wrong_key_cannot_pair(void **state)
{
    (void)state;
    pos stranger;
    pos_connect(&stranger, fx.port);
    stranger.key[0] ^= 1;
    char line[1024];
    pump_reply(&stranger, line, sizeof line, NULL); /* hello */
    memcpy(stranger.session, strstr(line, "\"challenge\":\"") + 13, 32);
    char wire[512];
    static const char auth[] =
        "{\"v\":2,\"type\":\"auth\",\"pos\":\"x\",\"nonce\":\"00112233445566778899aabbccddeeff\"}";
    size_t n = ecr_pos_seal(&stranger, auth, strlen(auth), wire, sizeof wire - 1);
    wire[n++] = '\n';
    ecr_pos_send_raw(&stranger, wire, n);
    expect_refused(&stranger, "EVT_ERR_ECR_UNAUTHENTICATED");
    close(stranger.fd);
    open_sale_a();
}

/* A new connection answers the hello with auth (its text, signed with the pairing key over the
 * challenge; "seq" 1 is added): refused with `refusal` in the reply, or paired when it is NULL
 * (the new connection then is the POS's). */
static void auth_with(const char *auth, const char *refusal)
{
    static const char nonce[] = "00112233445566778899aabbccddeeff";
    pos other;
    pos_connect(&other, fx.port);
    char line[1024];
    pump_reply(&other, line, sizeof line, NULL); /* hello */
    memcpy(other.session, strstr(line, "\"challenge\":\"") + 13, 32);
    other.session[32] = '\0';
    char wire[1024];
    size_t n = ecr_pos_seal(&other, auth, strlen(auth), wire, sizeof wire - 1);
    wire[n++] = '\n';
    ecr_pos_send_raw(&other, wire, n);
    if (refusal != NULL) {
        expect_refused(&other, refusal);
        close(other.fd);
        return;
    }
    assert_non_null(strstr(auth, nonce));
    strcat(other.session, nonce);
    other.paired = true;
    pump_reply(&other, line, sizeof line, NULL);
    assert_string_equal(line, "{\"v\":2,\"type\":\"auth_ok\",\"terminal\":\"EVT-T1\"}");
    close(fx.pos.fd);
    fx.pos = other;
}

/* The auth line is read like any other: its members, their kinds, duplicates. */
static void test_auth_line_checked(void **state)
{
    (void)state;
#define NONCE "\"nonce\":\"00112233445566778899aabbccddeeff\""
    static const char rule[] = "auth: v 2, type auth, nonce (32 hex), seq 1";
    auth_with("{\"v\":2,\"type\":\"auth\",\"pos\":\"x\"," NONCE ",\"order_id\":\"O1\"}",
              "unknown field order_id");
    auth_with("{\"v\":2,\"type\":\"auth\",\"pos\":\"x\",\"nonce\":\"0011\"}", rule);
    auth_with("{\"v\":2,\"type\":\"auth\",\"pos\":\"x\",\"nonce\":7}", rule);
    auth_with("{\"type\":\"auth\",\"pos\":\"x\"," NONCE "}", rule);
    auth_with("{\"v\":2,\"type\":\"sale\",\"pos\":\"x\"," NONCE "}", rule);
    auth_with("{\"v\":2,\"type\":\"auth\",\"type\":\"auth\",\"pos\":\"x\"," NONCE "}",
              "EVT_ERR_ECR_UNAUTHENTICATED");
    /* "pos" names the POS and may be anything, however nested. */
    auth_with("{\"v\":2,\"type\":\"auth\",\"pos\":{\"name\":\"收银1\",\"ver\":[1,{\"nonce\":null}]}"
              "," NONCE "}",
              NULL);
#undef NONCE
    open_sale_a();
}

/* A stranger on the LAN during a sale: it can neither see the sale's result nor take over. */
static void test_stranger_cannot_read_a_result(void **state)
{
    (void)state;
    open_sale_a();
    pos stranger;
    pos_connect(&stranger, fx.port);
    ecr_pos_send(&stranger, "{\"v\":2,\"type\":\"status\",\"order_id\":\"POS-20240501-0001\"}\n");
    expect_refused(&stranger, NULL);
    settle("POS-20240501-0001");
    char line[4096];
    pump_reply(&fx.pos, line, sizeof line, NULL);
    assert_contains(line, "\"status\":\"settled\"");
    char heard[256];
    assert_true(recv(stranger.fd, heard, sizeof heard, MSG_DONTWAIT) <= 0);
    close(stranger.fd);
}

/* The same sealed bytes twice: the second time the sequence number is stale. */
/* Sends text (a JSON object) signed as it stands: no "seq" is added. */
static void send_signed_as_is(pos *p, const char *text)
{
    char mac[65];
    size_t len = strlen(text);
    ecr_pos_mac_hex(p, 'P', text, len, mac);
    char wire[1024];
    int n = snprintf(wire, sizeof wire, "%.*s,\"mac\":\"%s\"}\n", (int)len - 1, text, mac);
    ecr_pos_send_raw(p, wire, (size_t)n);
}

/* The sequence number is checked before anything else in the line: a line without a fresh
 * integer seq closes the connection unanswered, however wrong the rest of it is. */
static void test_seq_checked_first(void **state)
{
    (void)state;
    static const char *const lines[] = {
        "{\"type\":\"refund\",\"order_id\":\"O1\",\"x\":1}",
        "{\"type\":\"status\",\"order_id\":\"O1\",\"seq\":\"9\"}",
        "{\"type\":\"status\",\"order_id\":\"O1\",\"seq\":0}",
        "{\"type\":\"status\",\"order_id\":\"O1\",\"seq\":2.5}",
        "{\"type\":\"status\",\"order_id\":\"O1\",\"seq\":null}",
        "{\"type\":\"status\",\"order_id\":\"O1\",\"seq\":{\"seq\":9}}",
        "{\"type\":\"status\",\"order_id\":\"O1\",\"seq\":9" Z400 "}",
        "{\"type\":\"sale\",\"items\":[7],\"seq\":1}", /* not fresh: the auth line was 1 */
    };
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        send_signed_as_is(&fx.pos, lines[i]);
        char c[512];
        bool eof = false;
        for (int round = 0; round < 100 && !eof; round++) {
            pump_no_order(1);
            ssize_t n = recv(fx.pos.fd, c, sizeof c, MSG_DONTWAIT);
            assert_true(n <= 0); /* no reply of any kind */
            eof = n == 0;
        }
        if (!eof) {
            fail_msg("line %zu did not close the connection", i);
        }
        close(fx.pos.fd);
        pos_connect(&fx.pos, fx.port);
        pos_pair(&fx.pos);
    }
    /* With a fresh seq the same kind of line is answered. */
    send_signed_as_is(&fx.pos, "{\"type\":\"status\",\"order_id\":\"O1\",\"seq\":7}");
    char line[1024];
    pump_reply(&fx.pos, line, sizeof line, NULL);
    assert_contains(line, "EVT_ERR_NOT_FOUND");
}

static void test_replayed_line_refused(void **state)
{
    (void)state;
    static const char text[] = "{\"v\":2,\"type\":\"status\",\"order_id\":\"R1\"}";
    char wire[512];
    size_t n = ecr_pos_seal(&fx.pos, text, strlen(text), wire, sizeof wire - 1);
    wire[n++] = '\n';
    ecr_pos_send_raw(&fx.pos, wire, n);
    char line[1024];
    pump_reply(&fx.pos, line, sizeof line, NULL);
    assert_contains(line, "EVT_ERR_NOT_FOUND");
    ecr_pos_send_raw(&fx.pos, wire, n);
    assert_true(pos_sees_eof_after_pumping(&fx.pos));
}

/* A line sealed on one connection is worthless on another (its session differs). */
static void test_line_from_another_session_refused(void **state)
{
    (void)state;
    char wire[1024];
    size_t n = ecr_pos_seal(&fx.pos, SALE_A, strlen(SALE_A) - 1, wire, sizeof wire - 1);
    wire[n++] = '\n';
    pos second;
    pos_connect(&second, fx.port);
    pos_pair(&second);
    second.tx_seq = 0;
    ecr_pos_send_raw(&second, wire, n);
    assert_true(pos_sees_eof_after_pumping(&second));
    close(second.fd);
}

static void test_tampered_line_refused(void **state)
{
    (void)state;
    char wire[1024];
    size_t n = ecr_pos_seal(&fx.pos, SALE_A, strlen(SALE_A) - 1, wire, sizeof wire - 1);
    char *price = strstr(wire, "12.50");
    assert_non_null(price);
    price[0] = '9'; /* 92.50: the MAC no longer fits */
    wire[n++] = '\n';
    ecr_pos_send_raw(&fx.pos, wire, n);
    assert_true(pos_sees_eof_after_pumping(&fx.pos));
    assert_false(evt_ecr_order_open(&fx.ecr));
}

/* More unauthenticated connections than slots: the rest are closed at once; the ones that
 * never say anything are closed when their time is up; the paired POS is served meanwhile. */
static void test_connection_flood_and_silent_clients(void **state)
{
    (void)state;
    enum { FLOOD = EVT_ECR_PENDING_MAX + 6 };
    pos crowd[FLOOD];
    for (int i = 0; i < FLOOD; i++) {
        pos_connect(&crowd[i], fx.port);
        pump_no_order(1);
    }
    assert_true(fx.ecr.refused_connections >= FLOOD - EVT_ECR_PENDING_MAX);
    open_sale_a();
    for (int i = 0; i < FLOOD; i++) {
        expect_refused(&crowd[i], NULL);
        close(crowd[i].fd);
    }
    for (int i = 0; i < EVT_ECR_PENDING_MAX; i++) {
        assert_null(fx.ecr.pending[i].sock);
    }
}

static void test_absurd_total_refused(void **state)
{
    (void)state;
    bool got = false;
    const char *reply =
        exchange("{\"v\":2,\"type\":\"sale\",\"order_id\":\"BIG1\",\"use_personal_account\":true,"
                 "\"items\":[{\"med_list_codg\":\"X\",\"medins_list_codg\":\"Y\",\"name\":\"药\","
                 "\"qty\":1,\"price\":\"10000000000000.00\"}]}\n",
                 &got);
    assert_false(got);
    assert_contains(reply, "\"error\":\"EVT_ERR_ORDER_TOO_LARGE\"");
    assert_contains(reply, "above the terminal's maximum 20000.00");
    reply =
        exchange("{\"v\":2,\"type\":\"sale\",\"order_id\":\"BIG2\",\"use_personal_account\":true,"
                 "\"items\":[{\"med_list_codg\":\"X\",\"medins_list_codg\":\"Y\",\"name\":\"药\","
                 "\"qty\":2,\"price\":\"10000.00\"}]}\n",
                 &got);
    assert_true(got); /* exactly the maximum is allowed */
}

/* The POS vanishes while the terminal answers its malformed line: that costs the connection,
 * and poll says nothing is wrong with the link (its header's contract). */
static void test_lost_while_answering_malformed_line(void **state)
{
    (void)state;
    for (int i = 0; i < 20; i++) {
        ecr_pos_send(&fx.pos, "not json at all\n");
    }
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    setsockopt(fx.pos.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close(fx.pos.fd); /* RST: the replies cannot be delivered */
    for (int i = 0; i < 50 && fx.ecr.client.sock != NULL; i++) {
        bool got = false;
        assert_int_equal(evt_ecr_poll(&fx.ecr, 10, &fx.order, &got), EVT_OK);
    }
    assert_null(fx.ecr.client.sock);
    pos_connect(&fx.pos, fx.port);
    pos_pair(&fx.pos);
}

static void test_ram_store_ring(void **state)
{
    (void)state;
    evt_ecr_ram_store rs;
    evt_ecr_store st;
    evt_ecr_ram_store_init(&rs, &st);
    evt_ecr_result r;
    memset(&r, 0, sizeof r);
    for (int i = 0; i < EVT_ECR_RAM_STORE_SLOTS + 1; i++) {
        snprintf(r.order_id, sizeof r.order_id, "R%d", i);
        r.total = i;
        assert_int_equal(st.save(st.ctx, &r), EVT_OK);
    }
    evt_ecr_result out;
    assert_int_equal(st.lookup(st.ctx, "R0", &out), EVT_ERR_NOT_FOUND);
    assert_int_equal(st.lookup(st.ctx, "R1", &out), EVT_OK);
    assert_int_equal(out.total, 1);
    assert_int_equal(st.lookup(st.ctx, "R32", &out), EVT_OK);
    /* Saving an order again replaces its entry rather than taking a new slot. */
    snprintf(r.order_id, sizeof r.order_id, "R5");
    r.total = 555;
    st.save(st.ctx, &r);
    assert_int_equal(st.lookup(st.ctx, "R1", &out), EVT_OK);
    assert_int_equal(st.lookup(st.ctx, "R5", &out), EVT_OK);
    assert_int_equal(out.total, 555);
}

/* A store hook standing in for the transaction engine's persistent journal. */
static int saves;
static evt_err journal_lookup(void *ctx, const char *order_id, evt_ecr_result *out)
{
    (void)ctx;
    if (strcmp(order_id, "FROM-JOURNAL") != 0) {
        return EVT_ERR_NOT_FOUND;
    }
    memset(out, 0, sizeof *out);
    snprintf(out->order_id, sizeof out->order_id, "%s", order_id);
    out->status = EVT_ECR_SETTLED;
    out->total = 100;
    out->cash = 100;
    return EVT_OK;
}
static evt_err journal_save(void *ctx, const evt_ecr_result *r)
{
    (void)ctx;
    (void)r;
    saves++;
    return EVT_ERR_STORAGE_IO;
}

static void test_custom_store_hook(void **state)
{
    (void)state;
    evt_ecr_close(&fx.ecr);
    close(fx.pos.fd);
    evt_ecr_store st = {.ctx = NULL, .lookup = journal_lookup, .save = journal_save};
    open_link(&st);
    bool got = false;
    const char *reply = exchange("{\"v\":2,\"type\":\"sale\",\"order_id\":\"FROM-JOURNAL\","
                                 "\"use_personal_account\":true,\"items\":[" ITEM_OK "]}\n",
                                 &got);
    assert_false(got);
    assert_contains(reply, "\"cash\":\"1.00\"");
    assert_contains(reply, "\"balance\":\"\""); /* not present: empty, like the platform */
    /* A save failure is reported to the caller (the POS still gets the result). */
    open_sale_a();
    evt_ecr_result r = result_of("POS-20240501-0001", EVT_ECR_FAILED, EVT_ERR_NET_CONNECT);
    assert_int_equal(evt_ecr_reply(&fx.ecr, &r), EVT_ERR_STORAGE_IO);
    assert_int_equal(saves, 1);
    char line[4096];
    pump_reply(&fx.pos, line, sizeof line, NULL);
    assert_contains(line, "\"status\":\"failed\"");
}

static void test_bad_args(void **state)
{
    (void)state;
    bool got = true;
    evt_order o;
    assert_int_equal(evt_ecr_poll(NULL, 0, &o, &got), EVT_ERR_ARG);
    assert_false(got);
    assert_int_equal(evt_ecr_poll(&fx.ecr, 0, NULL, &got), EVT_ERR_ARG);
    assert_int_equal(evt_ecr_reply(&fx.ecr, NULL), EVT_ERR_ARG);
    evt_ecr e;
    assert_int_equal(evt_ecr_open(&e, NULL), EVT_ERR_ARG);
    evt_ecr_config cfg = link_config(&fx.store);
    memset(cfg.key, 0, sizeof cfg.key); /* an unprovisioned (all-zero) key pairs nobody */
    assert_int_equal(evt_ecr_open(&e, &cfg), EVT_ERR_ARG);
    cfg = link_config(&fx.store);
    cfg.sys = NULL;
    assert_int_equal(evt_ecr_open(&e, &cfg), EVT_ERR_ARG);
    assert_string_equal(evt_ecr_status_name(EVT_ECR_UNKNOWN), "unknown");
    /* A port already taken is the driver's error, and nothing leaks. */
    evt_ecr other;
    cfg = link_config(&fx.store);
    cfg.port = fx.port;
    assert_int_not_equal(evt_ecr_open(&other, &cfg), EVT_OK);
}

/* ---- the outpatient visit: a header, then the fee lines batch by batch on request ---------- */

#define VISIT_V1                                                                                     \
    "{\"v\":2,\"type\":\"visit\",\"order_id\":\"V1\",\"ipt_otp_no\":\"MZ0001\",\"med_type\":"        \
    "\"11\","                                                                                        \
    "\"dise_codg\":\"\",\"dise_name\":\"\",\"dept_code\":\"A03\",\"dept_name\":\"内科\","          \
    "\"atddr_no\":\"D01\",\"dr_name\":\"刘医生\",\"caty\":\"A03\",\"use_personal_account\":true," \
    "\"lines\":3,\"total\":\"118.00\"}\n"
#define FEE(code, qty, price)                                                                      \
    "{\"med_list_codg\":\"" code "\",\"medins_list_codg\":\"H-" code "\",\"name\":\"费\","        \
    "\"qty\":" #qty ",\"price\":\"" price "\"}"

static void test_visit_header_then_batches(void **state)
{
    (void)state;
    pos_connect(&fx.pos, fx.port);
    pos_pair(&fx.pos);
    bool got = false;
    const char *reply = exchange(VISIT_V1, &got);
    assert_true(got);
    assert_string_equal(reply, "{\"v\":2,\"type\":\"ack\",\"order_id\":\"V1\"}");
    const evt_visit *v = evt_ecr_visit(&fx.ecr);
    assert_non_null(v);
    assert_string_equal(v->visit_id, "V1");
    assert_string_equal(v->ipt_otp_no, "MZ0001");
    assert_string_equal(v->med_type, "11");
    assert_string_equal(v->dr_name, "刘医生");
    assert_true(v->use_personal_account);
    assert_int_equal(v->line_count, 3);
    assert_int_equal(v->total, 11800);

    /* Another order meanwhile: busy; the visit goes on. */
    assert_contains(exchange(SALE_A, &got), "\"type\":\"result\"");
    assert_false(got);

    /* Batch 1 (sent ahead of the request: it waits in the socket until asked for). */
    evt_order batch;
    memset(&batch, 0, sizeof batch);
    bool last = true;
    ecr_pos_send(&fx.pos,
                 "{\"v\":2,\"type\":\"fees\",\"order_id\":\"V1\",\"batch\":1,\"items\":[" FEE(
                     "001102000010000", 1, "15.00") "," FEE("250101001000000", 1,
                                                            "18.00") "],\"last\":false}\n");
    assert_int_equal(evt_ecr_visit_fees(&fx.ecr, &batch, &last), EVT_OK);
    assert_false(last);
    assert_int_equal(batch.item_count, 2);
    assert_int_equal(batch.total, 3300);
    char line[512];
    assert_string_equal(ecr_pos_take_line(&fx.pos, line, sizeof line),
                        "{\"v\":2,\"type\":\"fees\",\"order_id\":\"V1\",\"batch\":1}");

    /* A batch that is not the one asked for is refused, and the visit cannot go on. */
    ecr_pos_send(&fx.pos,
                 "{\"v\":2,\"type\":\"fees\",\"order_id\":\"V1\",\"batch\":7,\"items\":[" FEE(
                     "250302002000000", 1, "60.00") "],\"last\":true}\n");
    assert_int_equal(evt_ecr_visit_fees(&fx.ecr, &batch, &last), EVT_ERR_ECR_MALFORMED);
    assert_string_equal(ecr_pos_take_line(&fx.pos, line, sizeof line),
                        "{\"v\":2,\"type\":\"fees\",\"order_id\":\"V1\",\"batch\":2}");
    assert_contains(ecr_pos_take_line(&fx.pos, line, sizeof line), "batch: not the one asked for");

    /* The next request, answered right: its lines, the last batch. */
    ecr_pos_send(&fx.pos,
                 "{\"v\":2,\"type\":\"fees\",\"order_id\":\"V1\",\"batch\":3,\"items\":[" FEE(
                     "250302002000000", 1, "60.00") "],\"last\":true}\n");
    assert_int_equal(evt_ecr_visit_fees(&fx.ecr, &batch, &last), EVT_OK);
    assert_true(last);
    assert_int_equal(batch.item_count, 1);
    assert_int_equal(batch.total, 6000);
    assert_contains(ecr_pos_take_line(&fx.pos, line, sizeof line), "\"batch\":3");

    /* The result closes the visit: a fees line now is not asked for. */
    evt_ecr_result res = {.order_id = "V1", .status = EVT_ECR_REFUSED, .error = EVT_ERR_CANCELLED};
    assert_int_equal(evt_ecr_reply(&fx.ecr, &res), EVT_OK);
    assert_null(evt_ecr_visit(&fx.ecr));
    assert_contains(pump_reply(&fx.pos, line, sizeof line, NULL), "\"type\":\"result\"");
}

static void test_visit_header_refusals(void **state)
{
    (void)state;
    pos_connect(&fx.pos, fx.port);
    pos_pair(&fx.pos);
    static const struct {
        const char *from, *to, *error, *detail;
    } cases[] = {
        {"\"med_type\":\"11\"", "\"med_type\":\"12\"", "EVT_ERR_ECR_MALFORMED", "med_type:"},
        {"\"med_type\":\"11\"", "\"med_type\":\"14\"", "EVT_ERR_ECR_MALFORMED", "dise_codg:"},
        {"\"lines\":3", "\"lines\":2001", "EVT_ERR_ORDER_TOO_LARGE", "maximum of 2000"},
        {"\"lines\":3", "\"lines\":0", "EVT_ERR_ECR_MALFORMED", "lines:"},
        {"\"ipt_otp_no\":\"MZ0001\",", "", "EVT_ERR_ECR_MALFORMED", "ipt_otp_no: missing"},
        {"\"total\":\"118.00\"", "\"total\":\"0\"", "EVT_ERR_ECR_MALFORMED", "total:"},
        {"\"caty\":\"A03\"", "\"caty\":\"A03\",\"items\":[]", "EVT_ERR_ECR_MALFORMED",
         "unknown field items"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[1024];
        const char *at = strstr(VISIT_V1, cases[i].from);
        assert_non_null(at);
        snprintf(text, sizeof text, "%.*s%s%s", (int)(at - VISIT_V1), VISIT_V1, cases[i].to,
                 at + strlen(cases[i].from));
        bool got = false;
        const char *reply = exchange(text, &got);
        assert_false(got);
        assert_contains(reply, cases[i].error);
        assert_contains(reply, cases[i].detail);
    }
    assert_null(evt_ecr_visit(&fx.ecr));
}

/* The daily close's batch report reaches the paired POS as one signed line (docs/ecr-link.md
 * "batch_report", the example there is this line). */
/* ---- refunds from the POS (docs/ecr-link.md "refund") ------------------------------------- */

/* The order book's answers the app's hook would give, by order id. */
static unsigned refund_lookups;
static evt_err refund_book(void *ctx, const char *order_id, evt_ecr_result *out)
{
    (void)ctx;
    refund_lookups++;
    if (strncmp(order_id, "SOLD-", 5) == 0) {
        return EVT_ERR_NOT_FOUND; /* settled today, never refunded: it may start */
    }
    if (strcmp(order_id, "BROKEN") == 0) {
        return EVT_ERR_STORAGE_IO;
    }
    memset(out, 0, sizeof *out);
    out->status = EVT_ECR_REFUSED;
    if (strcmp(order_id, "DONE-1") == 0) {
        out->error = EVT_ERR_REFUND_DONE;
        snprintf(out->message, sizeof out->message,
                 "该笔结算已退费，不能重复退费：已于 "
                 "2026-05-01 10:15 退费");
        snprintf(out->refunded_at, sizeof out->refunded_at, "2026-05-01 10:15");
        snprintf(out->setl_id, sizeof out->setl_id, "C120104000000000009");
        snprintf(out->msgid, sizeof out->msgid, "H12010400001202605011015002001");
        out->total = 2820; /* not sent: the sale's amounts, which the POS has */
    } else if (strcmp(order_id, "DOUBT-1") == 0) {
        out->status = EVT_ECR_UNKNOWN;
        out->error = EVT_ERR_REFUND_IN_DOUBT;
        snprintf(out->msgid, sizeof out->msgid, "H12010400001202605011015002002");
    } else if (strcmp(order_id, "OLD-1") == 0) {
        out->error = EVT_ERR_REFUND_NOT_TODAY;
    } else {
        out->error = EVT_ERR_REFUND_UNKNOWN_SALE;
    }
    return EVT_OK;
}

/* The fixture's link, its store taking refunds through refund_book. */
static int setup_refunds(void **state)
{
    setup(state);
    evt_ecr_close(&fx.ecr);
    close(fx.pos.fd);
    fx.store.refund_lookup = refund_book;
    refund_lookups = 0;
    open_link(&fx.store);
    return 0;
}

#define REFUND_OF(id) "{\"v\":2,\"type\":\"refund\",\"order_id\":\"" id "\"}\n"

/* A refund that may start is acked and handed out (the app's order buffer untouched); while it
 * runs every other order, a second refund of the same order and the sale's resend get "busy"
 * or their stored answer, nothing is handed out; its result goes out with "request":"refund"
 * and does not take the place of the sale's stored result. */
static void test_refund_handed_out_busy_meanwhile_and_answered(void **state)
{
    (void)state;
    open_sale_a();
    settle("POS-20240501-0001");
    char line[4096];
    pump_reply(&fx.pos, line, sizeof line, NULL);
    evt_order before = fx.order;

    bool got = false;
    const char *reply = exchange(REFUND_OF("SOLD-1"), &got);
    assert_string_equal(
        reply, "{\"v\":2,\"type\":\"ack\",\"order_id\":\"SOLD-1\",\"request\":\"refund\"}");
    assert_true(got);
    assert_true(evt_ecr_order_open(&fx.ecr));
    assert_non_null(evt_ecr_refund(&fx.ecr));
    assert_string_equal(evt_ecr_refund(&fx.ecr), "SOLD-1");
    assert_null(evt_ecr_visit(&fx.ecr));
    assert_memory_equal(&fx.order, &before, sizeof before);

    /* The same refund again while it waits for the supervisor: busy, never a second one. */
    reply = exchange(REFUND_OF("SOLD-1"), &got);
    assert_false(got);
    assert_string_equal(reply, "{\"v\":2,\"type\":\"result\",\"order_id\":\"SOLD-1\","
                               "\"request\":\"refund\",\"status\":\"busy\","
                               "\"error\":\"EVT_ERR_BUSY\",\"message\":\"终端忙，请稍候\"}");
    /* Another refund, and a new sale: busy. A refund already made: its stored answer. */
    reply = exchange(REFUND_OF("SOLD-2"), &got);
    assert_false(got);
    assert_contains(reply, "\"request\":\"refund\",\"status\":\"busy\"");
    reply = exchange("{\"v\":2,\"type\":\"sale\",\"order_id\":\"B2\",\"use_personal_account\":"
                     "false,\"items\":[" ITEM_OK "]}\n",
                     &got);
    assert_false(got);
    assert_contains(reply, "\"order_id\":\"B2\",\"status\":\"busy\"");
    reply = exchange(REFUND_OF("DONE-1"), &got);
    assert_false(got);
    assert_contains(reply, "\"error\":\"EVT_ERR_REFUND_DONE\"");
    /* The sale resent or asked for while its refund runs: the sale's stored result. */
    reply = exchange(SALE_A, &got);
    assert_false(got);
    assert_contains(reply, "\"status\":\"settled\"");
    reply = exchange("{\"v\":2,\"type\":\"status\",\"order_id\":\"POS-20240501-0001\"}\n", &got);
    assert_contains(reply, "\"status\":\"settled\"");
    assert_string_equal(evt_ecr_refund(&fx.ecr), "SOLD-1");

    /* The refund's result: refunded, what went back, when. */
    evt_ecr_result r = result_of("SOLD-1", EVT_ECR_REFUNDED, EVT_OK);
    r.refund = true;
    snprintf(r.setl_id, sizeof r.setl_id, "C120104000000000010");
    snprintf(r.msgid, sizeof r.msgid, "H12010400001202605011015002003");
    snprintf(r.refunded_at, sizeof r.refunded_at, "2026-05-01 10:15");
    r.total = 8400;
    r.fund = 4200;
    r.account = 3520;
    r.mutual_aid = 680;
    r.cash = 0;
    r.balance = 3520;
    r.balance_present = true;
    assert_int_equal(evt_ecr_reply(&fx.ecr, &r), EVT_OK);
    assert_false(evt_ecr_order_open(&fx.ecr));
    assert_null(evt_ecr_refund(&fx.ecr));
    pump_reply(&fx.pos, line, sizeof line, NULL);
    assert_string_equal(
        line, "{\"v\":2,\"type\":\"result\",\"order_id\":\"SOLD-1\",\"request\":\"refund\","
              "\"status\":\"refunded\",\"error\":\"EVT_OK\",\"message\":\"退费成功\","
              "\"setl_id\":\"C120104000000000010\",\"msgid\":\"H12010400001202605011015002003\","
              "\"total\":\"84.00\",\"fund\":\"42.00\",\"account\":\"35.20\","
              "\"mutual_aid\":\"6.80\",\"cash\":\"0.00\",\"balance\":\"35.20\","
              "\"refunded_at\":\"2026-05-01 10:15\"}");
    /* Not saved in the sale's store: the sale's result is what status gives. */
    reply = exchange("{\"v\":2,\"type\":\"status\",\"order_id\":\"SOLD-1\"}\n", &got);
    assert_contains(reply, "\"error\":\"EVT_ERR_NOT_FOUND\"");
    reply = exchange(SALE_A, &got);
    assert_false(got);
    assert_contains(reply, "\"status\":\"settled\"");
    /* Free again: the next refund is taken. */
    reply = exchange(REFUND_OF("SOLD-2"), &got);
    assert_true(got);
    assert_contains(reply, "\"type\":\"ack\"");
}

/* What the order book answers goes back at once, with no ack and nothing handed out: no such
 * sale, not of today, refunded before (its date and references, no amounts), in doubt; a book
 * that cannot be read is an error. */
static void test_refund_answered_at_once(void **state)
{
    (void)state;
    bool got = false;
    const char *reply = exchange(REFUND_OF("NOPE-1"), &got);
    assert_false(got);
    assert_string_equal(reply, "{\"v\":2,\"type\":\"result\",\"order_id\":\"NOPE-1\","
                               "\"request\":\"refund\",\"status\":\"refused\","
                               "\"error\":\"EVT_ERR_REFUND_UNKNOWN_SALE\","
                               "\"message\":\"本终端没有这笔结算的记录，不能退费\"}");
    reply = exchange(REFUND_OF("OLD-1"), &got);
    assert_false(got);
    assert_contains(reply, "\"status\":\"refused\",\"error\":\"EVT_ERR_REFUND_NOT_TODAY\"");
    reply = exchange(REFUND_OF("DONE-1"), &got);
    assert_false(got);
    assert_string_equal(
        reply, "{\"v\":2,\"type\":\"result\",\"order_id\":\"DONE-1\",\"request\":\"refund\","
               "\"status\":\"refused\",\"error\":\"EVT_ERR_REFUND_DONE\","
               "\"message\":\"该笔结算已退费，不能重复退费：已于 2026-05-01 10:15 退费\","
               "\"setl_id\":\"C120104000000000009\",\"msgid\":\"H12010400001202605011015002001\","
               "\"refunded_at\":\"2026-05-01 10:15\"}");
    reply = exchange(REFUND_OF("DOUBT-1"), &got);
    assert_false(got);
    assert_contains(reply, "\"status\":\"unknown\",\"error\":\"EVT_ERR_REFUND_IN_DOUBT\"");
    assert_contains(reply, "\"msgid\":\"H12010400001202605011015002002\"");
    reply = exchange(REFUND_OF("BROKEN"), &got);
    assert_false(got);
    assert_contains(reply, "\"type\":\"error\",\"order_id\":\"BROKEN\"");
    assert_contains(reply, "\"error\":\"EVT_ERR_STORAGE_IO\"");
    assert_false(evt_ecr_order_open(&fx.ecr));
    assert_int_equal(refund_lookups, 5);
    /* Malformed: refused before the order book is asked. */
    reply = exchange("{\"v\":2,\"type\":\"refund\",\"order_id\":\"SOLD-1\",\"items\":[]}\n", &got);
    assert_false(got);
    assert_contains(reply, "unknown field items");
    assert_int_equal(refund_lookups, 5);
}

/* While the cashier works at the terminal (evt_ecr_serve_busy) a refund that could start gets
 * "busy" and is not left in the link to start by itself. */
static void test_refund_during_serve_busy(void **state)
{
    (void)state;
    ecr_pos_send(&fx.pos, REFUND_OF("SOLD-1"));
    char line[1024];
    const char *reply = NULL;
    for (int i = 0; i < 200 && reply == NULL; i++) { /* bounded; the line is on loopback */
        assert_int_equal(evt_ecr_serve_busy(&fx.ecr, 10), EVT_OK);
        reply = ecr_pos_take_line(&fx.pos, line, sizeof line);
    }
    assert_non_null(reply);
    assert_contains(reply, "\"request\":\"refund\",\"status\":\"busy\"");
    assert_false(evt_ecr_order_open(&fx.ecr));
    no_more_replies();
}

/* A refund line is authenticated like every other: altered (another order id under the same
 * MAC) or unsigned, it closes the connection and nothing starts. */
static void test_refund_needs_its_mac(void **state)
{
    (void)state;
    char wire[512];
    const char *text = REFUND_OF("SOLD-1");
    size_t n = ecr_pos_seal(&fx.pos, text, strlen(text) - 1, wire, sizeof wire - 1);
    char *id = strstr(wire, "SOLD-1");
    assert_non_null(id);
    id[5] = '2'; /* SOLD-2: the MAC no longer fits */
    wire[n++] = '\n';
    ecr_pos_send_raw(&fx.pos, wire, n);
    assert_true(pos_sees_eof_after_pumping(&fx.pos));
    assert_false(evt_ecr_order_open(&fx.ecr));
    assert_int_equal(refund_lookups, 0);

    close(fx.pos.fd);
    pos_connect(&fx.pos, fx.port);
    pos_pair(&fx.pos);
    ecr_pos_send_raw(&fx.pos, text, strlen(text)); /* no seq, no MAC */
    assert_true(pos_sees_eof_after_pumping(&fx.pos));
    assert_false(evt_ecr_order_open(&fx.ecr));
    assert_int_equal(refund_lookups, 0);
}

static void test_batch_report(void **state)
{
    (void)state;
    const evt_ecr_report_operator ops[] = {{"0001", 2, 1, 1, 5000, 11800, 2500},
                                           {"0002", 1, 0, 0, 1860, 0, 0}};
    const evt_ecr_report rep = {.date = "2026-11-28",
                                .balanced = false,
                                .sales = 3,
                                .visits = 1,
                                .refunds = 1,
                                .reversals = 1,
                                .differences = 1,
                                .sold = 6860,
                                .visited = 11800,
                                .refunded = 2500,
                                .operators = ops,
                                .operator_count = 2};
    assert_int_equal(evt_ecr_send_report(&fx.ecr, &rep), EVT_OK);
    char line[1024];
    assert_string_equal(
        pump_reply(&fx.pos, line, sizeof line, NULL),
        "{\"v\":2,\"type\":\"batch_report\",\"report_version\":2,\"date\":\"2026-11-28\","
        "\"balanced\":false,\"sales\":3,\"sales_total\":\"68.60\",\"visits\":1,"
        "\"visits_total\":\"118.00\",\"refunds\":1,\"refunds_total\":\"25.00\",\"reversals\":1,"
        "\"differences\":1,\"operators\":[{\"opter\":\"0001\",\"sales\":2,\"sales_total\":"
        "\"50.00\",\"visits\":1,\"visits_total\":\"118.00\",\"refunds\":1,\"refunds_total\":"
        "\"25.00\"},{\"opter\":\"0002\",\"sales\":1,\"sales_total\":\"18.60\",\"visits\":0,"
        "\"visits_total\":\"0.00\",\"refunds\":0,\"refunds_total\":\"0.00\"}]}");
    /* No POS connected: nothing to send it to (it is printed anyway). */
    ecr_pos_close(&fx.pos);
    no_more_replies();
    assert_int_equal(evt_ecr_send_report(&fx.ecr, &rep), EVT_ERR_NOT_FOUND);
}

int main(void)
{
    evt_arena_init(arena, sizeof arena);
    evt_sim_net_posix_init(&net);
    evt_sim_sys_options sopt = {0};
    if (evt_sim_sys_open(&sim_sys, &sopt) != EVT_OK) {
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_sale_ack_order_and_result, setup, teardown),
        cmocka_unit_test_setup_teardown(test_visit_header_then_batches, setup, teardown),
        cmocka_unit_test_setup_teardown(test_visit_header_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idempotent_by_order_id, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_order_resend_status_and_busy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_order_written_only_when_handed_out, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refused_can_retry_unknown_cannot, setup, teardown),
        cmocka_unit_test_setup_teardown(test_external_busy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_serve_busy_answers_and_hands_nothing_out, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_malformed_lines_keep_link_up, setup, teardown),
        cmocka_unit_test_setup_teardown(test_error_reply_shape, setup, teardown),
        cmocka_unit_test_setup_teardown(test_too_many_members, setup, teardown),
        cmocka_unit_test_setup_teardown(test_most_items_ok_one_more_not, setup, teardown),
        cmocka_unit_test_setup_teardown(test_densest_line_fits_the_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sale_read_in_fixed_memory, setup, teardown),
        cmocka_unit_test_setup_teardown(test_too_long_line_resyncs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_several_lines_in_one_write_crlf_and_blank, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_split_across_reads, setup, teardown),
        cmocka_unit_test_setup_teardown(test_new_connection_replaces_old, setup, teardown),
        cmocka_unit_test_setup_teardown(test_request_right_behind_the_auth_line, setup, teardown),
        cmocka_unit_test_setup_teardown(test_disconnect_then_query, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stranger_cannot_start_a_sale, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_key_cannot_pair, setup, teardown),
        cmocka_unit_test_setup_teardown(test_auth_line_checked, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stranger_cannot_read_a_result, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replayed_line_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_seq_checked_first, setup, teardown),
        cmocka_unit_test_setup_teardown(test_line_from_another_session_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tampered_line_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connection_flood_and_silent_clients, setup, teardown),
        cmocka_unit_test_setup_teardown(test_absurd_total_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lost_while_answering_malformed_line, setup, teardown),
        cmocka_unit_test(test_ram_store_ring),
        cmocka_unit_test_setup_teardown(test_custom_store_hook, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_args, setup, teardown),
        cmocka_unit_test_setup_teardown(test_batch_report, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refund_handed_out_busy_meanwhile_and_answered,
                                        setup_refunds, teardown),
        cmocka_unit_test_setup_teardown(test_refund_answered_at_once, setup_refunds, teardown),
        cmocka_unit_test_setup_teardown(test_refund_during_serve_busy, setup_refunds, teardown),
        cmocka_unit_test_setup_teardown(test_refund_needs_its_mac, setup_refunds, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
