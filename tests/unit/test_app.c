/*
 * evt_app: start-up (a journal with damaged records, recovery before the sign-in, a broken
 * provisioning file), the main loop's step (reversal retries on their period, the QUIT key),
 * the order status the POS gets for every state an order can be in, and the function menu
 * (reprint, keyed orders and their checks) — over fake keypad, screen, scanner and printer, a
 * RAM NOR flash and a scripted platform (the GnuTLS test server).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "arena_fixture.h"
#include "evt/app.h"
#include "evt/arena.h"
#include "evt/gb18030.h"
#include "evt/https.h"
#include "evt/log.h"
#include "evt/money.h"
#include "evt/orders.h"
#include "evt/proto.h"
#include "ecr_pos.h"
#include "fake_hal.h"
#include "ram_nor.h"
#include "sale_script.h"
#include "skip_policy.h"
#include "tls_test_server.h"

#define ARENA_BYTES  (1024u * 1024u)
#define FLASH_BYTES  (64u * 1024u)
#define SECTOR_BYTES 4096u
#define IDLE         "就绪"
#define MENU         "功能菜单"
#define KEYED        "手工录入订单"
#define REPRINT_LIST "补打：选择今日结算单"

static unsigned char app_arena[ARENA_BYTES] __attribute__((aligned(16)));
static fake_sys sys;
static tls_ts_peer peer;

typedef struct fx {
    tls_test_server *srv;
    gate_net net;
    fake_ui ui;
    fake_scanner scan;
    fake_printer prn;
    evt_ram_nor nor;
    flaky_storage flash;
    evt_hal hal;
    char config[4096];
    evt_app *app;
    char msg[160];
} fx;

/* ---- fixture ------------------------------------------------------------------------------- */

static int setup(void **state)
{
    arena_fixture_setup(state);
    fake_sys_init(&sys);
    *state = NULL;
    if (!peer.have_peer) {
        return 0;
    }
    fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    tls_ts_options o = {.cert_file = peer.certs.server_pem, .key_file = peer.certs.server_key};
    f->srv = tls_ts_start(&o);
    assert_non_null(f->srv);
    gate_net_init(&f->net);
    fake_ui_init(&f->ui, &sys);
    fake_scanner_init(&f->scan, &sys);
    fake_printer_init(&f->prn);
    assert_int_equal(evt_ram_nor_init(&f->nor, FLASH_BYTES, SECTOR_BYTES), EVT_OK);
    flaky_storage_init(&f->flash, &f->nor.hal);
    f->hal = (evt_hal){.sys = &sys.hal,
                       .net = &f->net.hal,
                       .scanner = &f->scan.hal,
                       .printer = &f->prn.hal,
                       .storage = &f->flash.hal,
                       .ui = &f->ui.hal};
    ss_config_text(f->config, sizeof f->config, tls_ts_port(f->srv),
                   "item_1 = XJ01CAA040A001010100001|YP0001|阿莫西林胶囊|15.90\n"
                   "item_2 = XC08CAA077A001010100001|YP0021|苯磺酸氨氯地平片|28.00\n");
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    if (f != NULL) {
        evt_app_stop(f->app);
        tls_ts_stop(f->srv);
        fake_ui_free(&f->ui);
        fake_scanner_free(&f->scan);
        fake_printer_free(&f->prn);
        evt_ram_nor_free(&f->nor);
        free(f);
    }
    /* The app hands every byte of its arena back when it stops. */
    (void)state;
    return arena_fixture_teardown_over(app_arena, sizeof app_arena);
}

static fx *fixture(void **state)
{
    if (*state == NULL) {
        tls_ts_peer_require(&peer);
    }
    return *state;
}

static evt_err app_start(fx *f)
{
    evt_app_boot boot = {
        .hal = &f->hal,
        .config_text = f->config,
        .config_len = strlen(f->config),
        .ca_pem = (const uint8_t *)peer.ca_pem,
        .ca_len = strlen(peer.ca_pem) + 1,
        .arena = app_arena,
        .arena_len = sizeof app_arena,
    };
    return evt_app_start(&boot, &f->app, f->msg, sizeof f->msg);
}

static void start(fx *f)
{
    ss_push(f->srv, ss_sign_in());
    evt_err err = app_start(f);
    if (err != EVT_OK) {
        fail_msg("app did not start: %s (%s)", evt_err_name(err), f->msg);
    }
}

static void step(fx *f, uint32_t ms, bool *quit)
{
    assert_int_equal(evt_app_step(f->app, ms, quit), EVT_OK);
}

/* The journal as the terminal left it before this start: the test writes what it needs. */
typedef struct seed {
    uint32_t work[EVT_JOURNAL_WORK_SIZE(FLASH_BYTES / SECTOR_BYTES, 64) / 4];
    evt_journal j;
} seed;

static evt_journal *seed_open(fx *f, seed *s)
{
    assert_int_equal(evt_journal_open(&s->j, &f->nor.hal, s->work, sizeof s->work, NULL), EVT_OK);
    return &s->j;
}

static evt_order_record seed_record(evt_order_state state, evt_err error, const char *msgid)
{
    evt_order_record rec = {.state = state, .error = error, .day = 20240315, .hms = 103000};
    snprintf(rec.msgid, sizeof rec.msgid, "%s", msgid);
    snprintf(rec.psn_no, sizeof rec.psn_no, SS_PSN_NO);
    snprintf(rec.insuplc_admdvs, sizeof rec.insuplc_admdvs, SS_REGION);
    rec.total = 3180;
    return rec;
}

/* ---- start-up ------------------------------------------------------------------------------- */

static void damaged_journal_warned_and_survived(void **state)
{
    fx *f = fixture(state);
    seed s;
    evt_journal *j = seed_open(f, &s);
    evt_order_record refused = seed_record(EVT_ORDER_REFUSED, EVT_ERR_CANCELLED, "");
    evt_order_record settled =
        seed_record(EVT_ORDER_SETTLED, EVT_OK, "H12010400001202403151030003001");
    snprintf(settled.setl_id, sizeof settled.setl_id, "S-1");
    settled.fund = 1556;
    settled.account = 1624;
    assert_int_equal(evt_orders_put(j, "ORD-1", &refused), EVT_OK);
    assert_int_equal(evt_orders_put(j, "ORD-2", &settled), EVT_OK);
    /* One copy of the settled order's record rots on the flash. */
    assert_int_equal(ss_damage_key(&f->nor, "order/ORD-2"), 1);

    start(f);
    const evt_ui_screen *warn = fake_ui_last_titled(&f->ui, "交易日志检查");
    assert_non_null(warn);
    assert_true(fake_ui_screen_has(warn, "交易日志损坏，已跳过损坏记录"));
    assert_true(fake_sys_logged(&sys, "journal: 1 corrupt records skipped"));
    /* The twin copy still proves the settlement; the other order is untouched. */
    evt_ecr_result r;
    assert_int_equal(evt_app_order_status(f->app, "ORD-2", &r), EVT_OK);
    assert_int_equal(r.status, EVT_ECR_SETTLED);
    assert_string_equal(r.setl_id, "S-1");
    assert_int_equal(evt_app_order_status(f->app, "ORD-1", &r), EVT_OK);
    assert_int_equal(r.status, EVT_ECR_REFUSED);
    char infnos[64];
    ss_infnos(f->srv, 0, infnos, sizeof infnos);
    assert_string_equal(infnos, "9001");
}

static void recovery_runs_before_sign_in(void **state)
{
    fx *f = fixture(state);
    const char *msgid = "H12010400001202403151030003002";
    seed s;
    evt_journal *j = seed_open(f, &s);
    evt_order_record settling = seed_record(EVT_ORDER_SETTLING, EVT_ERR_OUTCOME_UNKNOWN, msgid);
    assert_int_equal(evt_orders_put(j, "ORD-R", &settling), EVT_OK);

    /* What the flash holds when the sign-in reaches the platform. */
    ss_snapshot snap = {0};
    ss_snapshot_arm(&snap, &f->nor, "9001");
    tls_ts_set_request_hook(f->srv, ss_snapshot_hook, &snap);
    start(f);
    tls_ts_set_request_hook(f->srv, NULL, NULL);
    assert_true(atomic_load(&snap.taken));
    ss_image_journal ij;
    assert_int_equal(ss_image_journal_open(&ij, snap.image, FLASH_BYTES, SECTOR_BYTES), EVT_OK);
    evt_order_record then;
    assert_int_equal(evt_orders_get(&ij.j, "ORD-R", &then), EVT_OK);
    assert_int_equal(then.state, EVT_ORDER_UNKNOWN);
    size_t len = 0;
    assert_int_equal(evt_journal_twin_get(&ij.j, "rev", msgid, NULL, 0, &len, NULL),
                     EVT_ERR_OVERFLOW);
    ss_image_journal_close(&ij);
    ss_snapshot_free(&snap);

    evt_app_figures fig;
    evt_app_get_figures(f->app, &fig);
    assert_int_equal(fig.reversals_pending, 1);
    evt_ecr_result r;
    assert_int_equal(evt_app_order_status(f->app, "ORD-R", &r), EVT_OK);
    assert_int_equal(r.status, EVT_ECR_UNKNOWN);
    assert_string_equal(r.msgid, msgid);
}

static void broken_provisioning_stops_start_up(void **state)
{
    fx *f = fixture(state);
    /* Without the gateway token the terminal cannot sign a single request. */
    char *token = strstr(f->config, "paas_token");
    assert_non_null(token);
    memcpy(token, "#aas_token", 10);
    assert_int_equal(app_start(f), EVT_ERR_CONFIG_MISSING);
    assert_string_equal(f->msg, "missing key: paas_token");
    const evt_ui_screen *s = fake_ui_screen(&f->ui, 0);
    assert_non_null(s);
    assert_true(fake_ui_screen_has(s, "终端配置错误"));
    assert_int_equal(tls_ts_request_count(f->srv), 0);
    f->app = NULL;
    /* A failed start hands nothing back (the board stops; a new start takes the whole arena
     * again), so this test's leak check starts from a fresh arena. */
    evt_arena_init(app_arena, sizeof app_arena);
}

/* A start that fails once the crypto is up (here: the flash cannot be read, so the journal
 * cannot be mounted) must leave nothing behind that the next start trips over: PSA's state
 * lives in the arena the next start initialises afresh. */
static void failed_start_can_be_retried(void **state)
{
    fx *f = fixture(state);
    atomic_store(&f->flash.fail_reads, -1);
    assert_int_equal(app_start(f), EVT_ERR_STORAGE_IO);
    assert_string_equal(f->msg, "journal: storage I/O error");
    const evt_ui_screen *s = fake_ui_last_titled(&f->ui, "终端启动失败");
    assert_non_null(s);
    assert_true(fake_ui_screen_has(s, "journal"));
    assert_int_equal(tls_ts_request_count(f->srv), 0);
    f->app = NULL;

    /* The flash answers again: the board's next start gives a whole terminal that sells and
     * stops cleanly (the teardown checks the arena). */
    atomic_store(&f->flash.fail_reads, 0);
    start(f);
    fake_scanner_push(&f->scan, SS_CODE);
    ss_push_until_2102(f->srv);
    ss_push(f->srv, ss_settlement("S-AGAIN", SS_PSN_NO, &SS_SPLIT));
    evt_order o;
    ss_order(&o, "ORD-AGAIN");
    evt_ecr_result r;
    assert_int_equal(evt_app_sale(f->app, &o, &r), EVT_OK);
    assert_string_equal(r.setl_id, "S-AGAIN");
    evt_app_stop(f->app);
    f->app = NULL;
}

/* ---- the main loop ------------------------------------------------------------------------- */

static unsigned reversals_on_idle(const fx *f)
{
    const evt_ui_screen *idle = fake_ui_last_titled(&f->ui, IDLE);
    assert_non_null(idle);
    unsigned n = 0;
    for (unsigned i = 0; i < idle->line_count; i++) {
        if (sscanf(idle->lines[i], "待冲正交易：%u", &n) == 1) {
            return n;
        }
    }
    return 0;
}

static void idle_loop_retries_reversals_on_its_period(void **state)
{
    fx *f = fixture(state);
    const char *msgid = "H12010400001202403151030003003";
    seed s;
    evt_order_record settling = seed_record(EVT_ORDER_SETTLING, EVT_ERR_OUTCOME_UNKNOWN, msgid);
    assert_int_equal(evt_orders_put(seed_open(f, &s), "ORD-I", &settling), EVT_OK);
    start(f);
    size_t sent = tls_ts_request_count(f->srv);

    /* First pass: the reversal is tried at once, and the platform does not answer. */
    tls_ts_push(f->srv, (tls_ts_step){.action = TLS_TS_CLOSE_NO_RESPONSE});
    bool quit = false;
    int64_t tried_at = sys.skew_ms;
    step(f, 1000, &quit);
    assert_false(quit);
    assert_int_equal(tls_ts_request_count(f->srv), sent + 1);
    assert_int_equal(reversals_on_idle(f), 1);

    /* Not again before the period is over; then at once. */
    ss_push(f->srv, ss_ack());
    int64_t retried_at = -1;
    for (int i = 0; i < 30 && retried_at < 0; i++) {
        int64_t now = sys.skew_ms;
        step(f, 1000, &quit);
        if (tls_ts_request_count(f->srv) > sent + 1) {
            retried_at = now;
        }
    }
    /* Each step waits 1 s of virtual time for a key; the real time the steps take (well
     * under a second) may bring the retry one step earlier, never later. */
    assert_true(retried_at >= 0);
    assert_true(retried_at - tried_at >= 14000);
    assert_true(retried_at - tried_at <= 15000);
    char infnos[64];
    ss_infnos(f->srv, sent, infnos, sizeof infnos);
    assert_string_equal(infnos, "2601,2601");
    char v[EVT_MSGID_BYTES];
    ss_request_field(f->srv, sent + 1, "omsgid", v, sizeof v);
    assert_string_equal(v, msgid);

    /* Acknowledged: the order is reversed and the idle screen says nothing is owed. */
    step(f, 1000, &quit);
    assert_int_equal(reversals_on_idle(f), 0);
    evt_app_figures fig;
    evt_app_get_figures(f->app, &fig);
    assert_int_equal(fig.reversals_pending, 0);
    evt_ecr_result r;
    assert_int_equal(evt_app_order_status(f->app, "ORD-I", &r), EVT_OK);
    assert_int_equal(r.status, EVT_ECR_FAILED);
    assert_true(strstr(r.message, "已冲正，未扣款") != NULL);

    /* With nothing owed, later periods send nothing. */
    unsigned connects = atomic_load(&f->net.connects);
    for (int i = 0; i < 40; i++) {
        step(f, 1000, &quit);
    }
    assert_int_equal(tls_ts_request_count(f->srv), sent + 2);
    assert_int_equal(atomic_load(&f->net.connects), connects);
}

static void quit_key_leaves_the_loop(void **state)
{
    fx *f = fixture(state);
    start(f);
    fake_ui_key(&f->ui, IDLE, EVT_KEY_QUIT);
    bool quit = false;
    step(f, 1000, &quit);
    assert_true(quit);
    assert_int_equal(fake_ui_keys_left(&f->ui), 0);
}

/* ---- what the POS is told about an order ------------------------------------------------- */

static void order_status_for_every_state(void **state)
{
    fx *f = fixture(state);
    seed s;
    evt_journal *j = seed_open(f, &s);
    evt_order_record rec = seed_record(EVT_ORDER_REFUSED, EVT_ERR_PLATFORM_REJECTED, "");
    snprintf(rec.detail, sizeof rec.detail, "药品目录编码不存在");
    assert_int_equal(evt_orders_put(j, "ORD-REFUSED", &rec), EVT_OK);
    rec = seed_record(EVT_ORDER_FAILED, EVT_ERR_NET_CONNECT, "");
    assert_int_equal(evt_orders_put(j, "ORD-FAILED", &rec), EVT_OK);
    rec = seed_record(EVT_ORDER_SETTLED, EVT_OK, "H12010400001202403151030003010");
    snprintf(rec.setl_id, sizeof rec.setl_id, "S-10");
    rec.fund = 1556;
    rec.account = 1000;
    rec.mutual_aid = 400;
    rec.cash = 224;
    rec.balance = 5000;
    rec.balance_present = true;
    assert_int_equal(evt_orders_put(j, "ORD-SETTLED", &rec), EVT_OK);
    rec = seed_record(EVT_ORDER_REVERSED, EVT_ERR_NET_CLOSED, "H12010400001202403151030003011");
    assert_int_equal(evt_orders_put(j, "ORD-REVERSED", &rec), EVT_OK);
    rec = seed_record(EVT_ORDER_REVERSED, EVT_ERR_MONEY_MISMATCH, "H12010400001202403151030003012");
    rec.answer_unusable = rec.needs_supervisor = true;
    assert_int_equal(evt_orders_put(j, "ORD-BLOCKED", &rec), EVT_OK);
    rec =
        seed_record(EVT_ORDER_SETTLING, EVT_ERR_OUTCOME_UNKNOWN, "H12010400001202403151030003013");
    assert_int_equal(evt_orders_put(j, "ORD-SETTLING", &rec), EVT_OK);
    rec = seed_record(EVT_ORDER_UNKNOWN, EVT_ERR_NET_TIMEOUT, "H12010400001202403151030003014");
    assert_int_equal(evt_orders_put(j, "ORD-UNKNOWN", &rec), EVT_OK);
    rec = seed_record(EVT_ORDER_SETTLED, EVT_OK, "H12010400001202403151030003015");
    assert_int_equal(evt_orders_put(j, "ORD-ROTTEN", &rec), EVT_OK);
    start(f);
    /* Both copies rot while the terminal runs: it can no longer prove what happened. */
    assert_int_equal(ss_damage_key(&f->nor, "order/ORD-ROTTEN"), 1);
    assert_int_equal(ss_damage_key(&f->nor, "order#ORD-ROTTEN"), 1);

    static const struct {
        const char *order;
        evt_ecr_status status;
        evt_err error;
        bool blocked;
        const char *message;
    } cases[] = {
        {"ORD-REFUSED", EVT_ECR_REFUSED, EVT_ERR_PLATFORM_REJECTED, false,
         "医保平台拒绝交易：药品目录编码不存在"},
        {"ORD-FAILED", EVT_ECR_FAILED, EVT_ERR_NET_CONNECT, false, "无法连接医保平台，请检查网络"},
        {"ORD-SETTLED", EVT_ECR_SETTLED, EVT_OK, false, ""},
        {"ORD-REVERSED", EVT_ECR_FAILED, EVT_ERR_NET_CLOSED, false,
         "平台连接被中断：已冲正，未扣款"},
        {"ORD-BLOCKED", EVT_ECR_FAILED, EVT_ERR_MONEY_MISMATCH, true,
         "结算金额不平，请勿交付，联系平台：已冲正，未扣款；平台应答异常，需主管核实后放行"},
        {"ORD-SETTLING", EVT_ECR_UNKNOWN, EVT_ERR_OUTCOME_UNKNOWN, false,
         "结算结果未知，已登记冲正，请勿重复收费"},
        {"ORD-UNKNOWN", EVT_ECR_UNKNOWN, EVT_ERR_OUTCOME_UNKNOWN, false,
         "结算结果未知，已登记冲正，请勿重复收费"},
        {"ORD-ROTTEN", EVT_ECR_REFUSED, EVT_ERR_ORDER_RECORD_UNREADABLE, true,
         "该订单交易记录损坏，无法确认是否已结算，请主管与医保平台核实"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        evt_ecr_result r;
        memset(&r, 0x5a, sizeof r);
        assert_int_equal(evt_app_order_status(f->app, cases[i].order, &r), EVT_OK);
        if (r.status != cases[i].status || r.error != cases[i].error ||
            r.blocked != cases[i].blocked || strcmp(r.message, cases[i].message) != 0 ||
            strcmp(r.order_id, cases[i].order) != 0) {
            fail_msg("%s: %s %s blocked=%d \"%s\"", cases[i].order, evt_ecr_status_name(r.status),
                     evt_err_name(r.error), r.blocked, r.message);
        }
    }
    evt_ecr_result r;
    assert_int_equal(evt_app_order_status(f->app, "ORD-SETTLED", &r), EVT_OK);
    assert_string_equal(r.setl_id, "S-10");
    assert_string_equal(r.msgid, "H12010400001202403151030003010");
    assert_int_equal(r.total, 3180);
    assert_int_equal(r.fund, 1556);
    assert_int_equal(r.account, 1000);
    assert_int_equal(r.mutual_aid, 400);
    assert_int_equal(r.cash, 224);
    assert_true(r.balance_present);
    assert_int_equal(r.balance, 5000);
    assert_int_equal(evt_app_order_status(f->app, "ORD-UNKNOWN", &r), EVT_OK);
    assert_string_equal(r.msgid, "H12010400001202403151030003014");
    assert_int_equal(evt_app_order_status(f->app, "ORD-NEVER", &r), EVT_ERR_NOT_FOUND);
    /* Both orders in doubt owe their reversal since the start. */
    evt_app_figures fig;
    evt_app_get_figures(f->app, &fig);
    assert_int_equal(fig.reversals_pending, 2);
}

/* ---- the function menu --------------------------------------------------------------------- */

static bool job_says(const fake_printer *p, const char *utf8)
{
    uint8_t gb[64];
    size_t n = 0;
    assert_int_equal(evt_gb18030_from_utf8(utf8, strlen(utf8), gb, sizeof gb, &n), EVT_OK);
    return fake_printer_job_has(p, gb, n);
}

/* Steps the loop until the queued keys are used up (bounded). */
static void step_through_keys(fx *f)
{
    bool quit = false;
    for (int i = 0; i < 20 && fake_ui_keys_left(&f->ui) > 0; i++) {
        step(f, 1000, &quit);
        assert_false(quit);
    }
    assert_int_equal(fake_ui_keys_left(&f->ui), 0);
}

static void menu_reprint_and_keyed_sale(void **state)
{
    fx *f = fixture(state);
    start(f);
    size_t sent = tls_ts_request_count(f->srv);

    /* Reprint before any sale: nothing to print, the cashier is told why. */
    fake_ui_key(&f->ui, IDLE, EVT_KEY_MENU);
    fake_ui_char(&f->ui, MENU, '2');
    step_through_keys(f);
    const evt_ui_screen *s = fake_ui_last_titled(&f->ui, REPRINT_LIST);
    assert_non_null(s);
    assert_true(fake_ui_screen_has(s, "今日没有可补打的结算单"));
    assert_int_equal(f->prn.begun, 0);

    /* A keyed order: item 1 twice, then OK alone to finish; it is sold like any other. */
    fake_ui_key(&f->ui, IDLE, EVT_KEY_MENU);
    fake_ui_char(&f->ui, MENU, '1');
    fake_ui_digits(&f->ui, KEYED, "1");
    fake_ui_digits(&f->ui, KEYED, "2");
    fake_ui_key(&f->ui, KEYED, EVT_KEY_OK);
    fake_scanner_push(&f->scan, SS_CODE);
    ss_push_until_2102(f->srv);
    ss_push(f->srv, ss_settlement("S-K", SS_PSN_NO, &SS_SPLIT));
    step_through_keys(f);
    char infnos[64];
    ss_infnos(f->srv, sent, infnos, sizeof infnos);
    assert_string_equal(infnos, "ec.query,1101,2101,2102");
    char order_id[64], code[64];
    ss_request_field(f->srv, sent + 3, "fixmedins_setl_id", order_id, sizeof order_id);
    ss_request_field(f->srv, sent + 3, "med_list_codg", code, sizeof code);
    assert_string_equal(code, "XJ01CAA040A001010100001");
    assert_int_equal(order_id[0], 'K');
    assert_string_equal(order_id + strlen(order_id) - 2, "-3"); /* the msgid slot */
    evt_ecr_result r;
    assert_int_equal(evt_app_order_status(f->app, order_id, &r), EVT_OK);
    assert_int_equal(r.status, EVT_ECR_SETTLED);
    assert_int_equal(r.total, 3180);
    assert_int_equal(f->prn.ended, 1);
    assert_false(job_says(&f->prn, "重打印"));
    evt_app_figures fig;
    evt_app_get_figures(f->app, &fig);
    assert_int_equal(fig.sales_settled, 1);

    /* Reprint now: today's receipts listed, the one chosen printed again, marked as a copy,
     * with its items (the order buffer still holds them). */
    fake_ui_key(&f->ui, IDLE, EVT_KEY_MENU);
    fake_ui_char(&f->ui, MENU, '2');
    fake_ui_char(&f->ui, REPRINT_LIST, '1');
    step_through_keys(f);
    s = fake_ui_last_titled(&f->ui, REPRINT_LIST);
    assert_non_null(s);
    assert_true(fake_ui_screen_has(s, "结算 "));
    assert_true(fake_ui_screen_has(s, "31.80元"));
    assert_int_equal(f->prn.ended, 2);
    assert_true(job_says(&f->prn, "重打印"));
    assert_true(job_says(&f->prn, "阿莫西林"));
    assert_false(job_says(&f->prn, "药品明细见原结算单"));
    assert_non_null(fake_ui_last_titled(&f->ui, "结算单已补打"));

    /* Leaving the menu does nothing. */
    fake_ui_key(&f->ui, IDLE, EVT_KEY_MENU);
    fake_ui_key(&f->ui, MENU, EVT_KEY_CANCEL);
    step_through_keys(f);
    assert_int_equal(f->prn.begun, 2);
    assert_int_equal(tls_ts_request_count(f->srv), sent + 4);

    /* A keyed entry writes into the one order buffer, which held the receipt's items: once
     * begun (here given up after one item), the reprint comes from the journal alone, never
     * with the half-typed order's lines: it says where the items are. */
    fake_ui_key(&f->ui, IDLE, EVT_KEY_MENU);
    fake_ui_char(&f->ui, MENU, '1');
    fake_ui_digits(&f->ui, KEYED, "1");
    fake_ui_digits(&f->ui, KEYED, "1");
    fake_ui_key(&f->ui, KEYED, EVT_KEY_CANCEL);
    step_through_keys(f);
    fake_ui_key(&f->ui, IDLE, EVT_KEY_MENU);
    fake_ui_char(&f->ui, MENU, '2');
    fake_ui_char(&f->ui, REPRINT_LIST, '1');
    step_through_keys(f);
    assert_int_equal(f->prn.begun, 3);
    assert_int_equal(f->prn.ended, 3);
    assert_true(job_says(&f->prn, "重打印"));
    assert_true(job_says(&f->prn, "药品明细见原结算单"));
    assert_false(job_says(&f->prn, "阿莫西林"));
}

static void keyed_entry_checks_what_is_typed(void **state)
{
    fx *f = fixture(state);
    start(f);
    size_t sent = tls_ts_request_count(f->srv);
    fake_ui_key(&f->ui, IDLE, EVT_KEY_MENU);
    fake_ui_char(&f->ui, MENU, '1');
    fake_ui_key(&f->ui, KEYED, EVT_KEY_OK); /* nothing entered yet */
    fake_ui_digits(&f->ui, KEYED, "9");     /* an empty slot */
    fake_ui_digits(&f->ui, KEYED, "1");
    fake_ui_digits(&f->ui, KEYED, "0");    /* no quantity */
    fake_ui_digits(&f->ui, KEYED, "1000"); /* too many: asked again, the item still chosen */
    fake_ui_key(&f->ui, KEYED, EVT_KEY_CANCEL);
    step_through_keys(f);
    assert_true(fake_ui_seen(&f->ui, "请至少录入一项药品") > 0);
    assert_true(fake_ui_seen(&f->ui, "品号不存在，请重新输入") > 0);
    assert_true(fake_ui_seen(&f->ui, "数量应为 1-999，请重新输入") > 0);
    /* The quantity prompt names the item each of the three times it asks (drawn, and redrawn
     * per digit typed: 1 + 1, 1 + 4, 1). */
    assert_int_equal(fake_ui_seen(&f->ui, "阿莫西林胶囊 数量"), 8);
    /* Given up: no sale, nothing scanned or sent. */
    assert_int_equal(fake_ui_seen(&f->ui, "请出示医保电子凭证"), 0);
    assert_int_equal(f->scan.reads, 0);
    assert_int_equal(tls_ts_request_count(f->srv), sent);
    evt_app_figures fig;
    evt_app_get_figures(f->app, &fig);
    assert_int_equal(fig.sales_settled + fig.sales_refused + fig.sales_failed, 0);
}

/* ---- program -------------------------------------------------------------------------------- */

/* ---- the POS while the cashier is busy ------------------------------------------------------ */

#define POS_SALE                                                                                   \
    "{\"v\":2,\"type\":\"sale\",\"order_id\":\"POS-BUSY-1\",\"use_personal_account\":true,"        \
    "\"items\":[{\"med_list_codg\":\"XJ01CAA040A001010100001\",\"medins_list_codg\":\"YP0001\","   \
    "\"name\":\"阿莫西林胶囊\",\"qty\":1,\"price\":\"15.90\"}],\"total\":\"15.90\"}\n"

typedef struct busy_pos {
    fx *f;
    ecr_pos pos;
    bool sent;
    const char *screen;    /* the screen at which the POS looks for its result */
    bool result_at_screen; /* the result had arrived when that screen appeared */
    char result[1024];
} busy_pos;

static void pos_key(uint8_t key[32])
{
    for (int i = 0; i < 32; i++) {
        key[i] = (uint8_t)(0x40 + i);
    }
}

/* A loopback port nobody listens on right now, for the terminal's ECR link. */
static uint16_t free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t len = sizeof a;
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

static const char *pump_app(ecr_pos *p, char *out, size_t cap, void *arg)
{
    fx *f = arg;
    for (int i = 0; i < 200; i++) { /* bounded */
        const char *line = ecr_pos_take_line(p, out, cap);
        if (line != NULL) {
            return line;
        }
        bool quit = false;
        step(f, 20, &quit);
    }
    fail_msg("no reply from the terminal");
    return NULL;
}

/* Starts the terminal with its ECR link on a free loopback port (and more provisioning lines,
 * may be NULL) and pairs a POS with it. */
static void start_with_pos_and(fx *f, busy_pos *b, const char *more)
{
    uint16_t port = free_port();
    char extra[512] = "ecr_bind = 127.0.0.1\n";
    snprintf(extra + strlen(extra), sizeof extra - strlen(extra),
             "ecr_port = %u\necr_key = ", (unsigned)port);
    uint8_t key[32];
    pos_key(key);
    for (int i = 0; i < 32; i++) {
        snprintf(extra + strlen(extra), sizeof extra - strlen(extra), "%02x", key[i]);
    }
    strcat(extra, "\n");
    if (more != NULL) {
        snprintf(extra + strlen(extra), sizeof extra - strlen(extra), "%s", more);
    }
    ss_config_text(f->config, sizeof f->config, tls_ts_port(f->srv), extra);
    start(f);
    memset(b, 0, sizeof *b);
    b->f = f;
    ecr_pos_connect(&b->pos, port, key);
    char line[1024];
    ecr_pos_pair(&b->pos, pump_app, f, line, sizeof line);
}

static void start_with_pos(fx *f, busy_pos *b)
{
    start_with_pos_and(f, b, NULL);
}

/* The POS sends its order the moment the function menu is on the screen. */
static void send_when_menu_opens(void *arg, const evt_ui_screen *screen)
{
    busy_pos *b = arg;
    if (!b->sent && strstr(screen->title, MENU) != NULL) {
        b->sent = true;
        ecr_pos_send(&b->pos, POS_SALE);
    }
}

/* An order sent while the cashier is in the menu is answered "busy" at once, from the menu's
 * own wait, and is not started by itself once the menu closes (issue 7: the POS is never kept
 * waiting, nothing queued). */
static void order_during_the_menu_is_answered_busy(void **state)
{
    fx *f = fixture(state);
    static busy_pos b;
    start_with_pos(f, &b);
    char line[1024];
    f->ui.on_show = send_when_menu_opens;
    f->ui.on_show_arg = &b;
    fake_ui_key(&f->ui, IDLE, EVT_KEY_MENU);
    fake_ui_key(&f->ui, MENU, EVT_KEY_CANCEL);
    step_through_keys(f);
    assert_true(b.sent);
    /* Answered while the menu was open: the reply is there before the app polls the link
     * again. */
    const char *reply = ecr_pos_take_line(&b.pos, line, sizeof line);
    assert_non_null(reply);
    assert_non_null(strstr(reply, "\"order_id\":\"POS-BUSY-1\""));
    assert_non_null(strstr(reply, "\"status\":\"busy\""));
    /* Back at idle, the order does not start by itself. */
    for (int i = 0; i < 5; i++) {
        bool quit = false;
        step(f, 20, &quit);
    }
    assert_int_equal(fake_ui_seen(&f->ui, "请出示医保电子凭证"), 0);
    assert_null(ecr_pos_take_line(&b.pos, line, sizeof line));
    f->ui.on_show = NULL;
    ecr_pos_close(&b.pos);
}

/* The POS looks for the result the moment b->screen appears (it reads what has arrived). */
static void look_for_result(void *arg, const evt_ui_screen *screen)
{
    busy_pos *b = arg;
    if (b->result_at_screen || strstr(screen->title, b->screen) == NULL) {
        return;
    }
    char line[1024];
    const char *got;
    while ((got = ecr_pos_take_line(&b->pos, line, sizeof line)) != NULL) {
        if (strstr(got, "\"type\":\"result\"") != NULL) {
            b->result_at_screen = true;
            snprintf(b->result, sizeof b->result, "%s", got);
        }
    }
}

#define POS_SALE_OF(id, qty, total)                                                                \
    "{\"v\":2,\"type\":\"sale\",\"order_id\":\"" id "\",\"use_personal_account\":true,"            \
    "\"items\":[{\"med_list_codg\":\"XJ01CAA040A001010100001\",\"medins_list_codg\":\"YP0001\","   \
    "\"name\":\"阿莫西林胶囊\",\"qty\":" qty ",\"price\":\"15.90\"}],\"total\":\"" total "\"}\n"

/* Steps the terminal until the screen appeared (bounded). */
static void step_until_screen(fx *f, const char *title)
{
    for (int i = 0; i < 50 && fake_ui_seen(&f->ui, title) == 0; i++) {
        bool quit = false;
        step(f, 20, &quit);
    }
    assert_true(fake_ui_seen(&f->ui, title) > 0);
}

/* The POS gets a sale's result as soon as it is final: a settled sale's before the result
 * screen waits for 下一位, a failed one's before the error screen waits for [确认] (issue 7). */
static void result_reaches_the_pos_before_the_cashiers_key(void **state)
{
    fx *f = fixture(state);
    static busy_pos b;
    start_with_pos(f, &b);
    f->ui.on_show = look_for_result;
    f->ui.on_show_arg = &b;

    b.screen = "结算成功";
    fake_scanner_push(&f->scan, SS_CODE);
    ss_push_until_2102(f->srv);
    ss_push(f->srv, ss_settlement("S-FINAL", SS_PSN_NO, &SS_SPLIT));
    ecr_pos_send(&b.pos, POS_SALE_OF("POS-FINAL-1", "2", "31.80"));
    step_until_screen(f, b.screen);
    assert_true(b.result_at_screen);
    assert_non_null(strstr(b.result, "\"status\":\"settled\""));

    /* 1101 cannot be reached: the POS has "failed" when the error screen appears. */
    b.screen = "参保信息查询失败";
    b.result_at_screen = false;
    fake_scanner_push(&f->scan, SS_CODE_2);
    ss_push(f->srv, ss_voucher(SS_CERTNO, SS_NAME));
    ss_push_status(f->srv, 503, "busy", false);
    ecr_pos_send(&b.pos, POS_SALE_OF("POS-FINAL-2", "1", "15.90"));
    step_until_screen(f, b.screen);
    assert_true(b.result_at_screen);
    assert_non_null(strstr(b.result, "\"order_id\":\"POS-FINAL-2\""));
    assert_non_null(strstr(b.result, "\"status\":\"failed\""));
    f->ui.on_show = NULL;
    ecr_pos_close(&b.pos);
}

/* Back at idle, the screen says how the last order ended: settled with its amounts, or
 * cancelled at the scan prompt with no money moved (issue 7: a cancel dropped back to 就绪
 * without a word). */
static void idle_says_how_the_last_order_ended(void **state)
{
    fx *f = fixture(state);
    start(f);
    bool quit = false;
    step(f, 20, &quit);
    assert_false(fake_ui_screen_has(fake_ui_last_titled(&f->ui, IDLE), "上一单"));

    fake_scanner_push(&f->scan, SS_CODE);
    ss_push_until_2102(f->srv);
    ss_push(f->srv, ss_settlement("S-LAST", SS_PSN_NO, &SS_SPLIT));
    evt_order o;
    ss_order(&o, "ORD-LAST-1");
    evt_ecr_result r;
    assert_int_equal(evt_app_sale(f->app, &o, &r), EVT_OK);
    assert_int_equal(r.status, EVT_ECR_SETTLED);
    step(f, 20, &quit);
    const evt_ui_screen *idle = fake_ui_last_titled(&f->ui, IDLE);
    char total[24], cash[24], line[96];
    evt_money_format(r.total, total, sizeof total);
    evt_money_format(r.cash, cash, sizeof cash);
    snprintf(line, sizeof line, "已结算 %s 元，现金 %s 元", total, cash);
    assert_true(fake_ui_screen_has(idle, "上一单：ORD-LAST-1"));
    assert_true(fake_ui_screen_has(idle, line));

    fake_ui_key(&f->ui, "请出示医保电子凭证", EVT_KEY_CANCEL);
    ss_order(&o, "ORD-LAST-2");
    evt_app_sale(f->app, &o, &r);
    assert_int_equal(r.status, EVT_ECR_REFUSED);
    step(f, 20, &quit);
    idle = fake_ui_last_titled(&f->ui, IDLE);
    assert_true(fake_ui_screen_has(idle, "上一单：ORD-LAST-2"));
    assert_true(fake_ui_screen_has(idle, "已取消，未扣款"));
}

/* ---- refunds the POS asks for (docs/ecr-link.md "refund") ------------------------------------ */

/* The supervisor's PIN 246810 as tools/pin-hash provisions it (a published test PIN). */
#define SUPERVISOR_PIN_LINE                                                                        \
    "supervisor_pin = pbkdf2-sha256$1000$532b58c74e49dc5e2180ddfd5e73f36d$"                        \
    "14260f5d6f3482ff1cf051d0eeb4ba583b59f57206c1f41e5a6c7db466211888\n"
#define PIN_SCREEN     "主管授权退费"
#define REFUND_SCREEN  "请确认退费"
#define POS_REFUND(id) "{\"v\":2,\"type\":\"refund\",\"order_id\":\"" id "\"}\n"

/* The 2103's answer for the canned sale: the cancelling entry gives back its whole split. */
static const char *cancel_answer(const char *setl_id)
{
    static const ss_split back = {.total = -3180,
                                  .fund = -1556,
                                  .account = -1624,
                                  .balance = 100000,
                                  .balance_present = true};
    return ss_settlement(setl_id, SS_PSN_NO, &back);
}

/* What the POS saw, as the terminal's screens came: every line it got, in order; what it sends
 * when a given screen appears. */
typedef struct pos_watch {
    ecr_pos *pos;
    char lines[8][1024];
    unsigned count;
    const char *screen;       /* when this screen appears ... */
    const char *send[2];      /* ... the POS sends these (NULL: none) */
    unsigned lines_at_screen; /* lines the POS had when it appeared */
    bool sent;
    const char *result_screen; /* the screen at which the result must be there */
    bool result_before;        /* a "result" line had come when it appeared */
    bool error_seen;           /* an error screen appeared ... */
    bool result_before_error;  /* ... and a "result" line had come by then */
} pos_watch;

static void watch_take(pos_watch *w)
{
    char line[1024];
    const char *got;
    while ((got = ecr_pos_take_line(w->pos, line, sizeof line)) != NULL) {
        assert_true(w->count < 8);
        snprintf(w->lines[w->count++], sizeof w->lines[0], "%s", got);
    }
}

static bool watch_has(const pos_watch *w, unsigned from, unsigned to, const char *text)
{
    for (unsigned i = from; i < to && i < w->count; i++) {
        if (strstr(w->lines[i], text) != NULL) {
            return true;
        }
    }
    return false;
}

static void watch_screens(void *arg, const evt_ui_screen *screen)
{
    pos_watch *w = arg;
    watch_take(w);
    if (w->screen != NULL && !w->sent && strstr(screen->title, w->screen) != NULL) {
        w->sent = true;
        w->lines_at_screen = w->count;
        for (int i = 0; i < 2 && w->send[i] != NULL; i++) {
            ecr_pos_send(w->pos, w->send[i]);
        }
    }
    if (w->result_screen != NULL && strstr(screen->title, w->result_screen) != NULL &&
        !w->result_before) {
        w->result_before = watch_has(w, 0, w->count, "\"type\":\"result\"");
    }
    if (screen->tone == EVT_UI_ERROR && !w->error_seen) {
        w->error_seen = true;
        w->result_before_error = watch_has(w, 0, w->count, "\"type\":\"result\"");
    }
}

/* Steps the terminal until the POS has a line containing text (bounded). */
static void step_until_pos_has(fx *f, pos_watch *w, const char *text)
{
    for (int i = 0; i < 300 && !watch_has(w, 0, w->count, text); i++) {
        bool quit = false;
        step(f, 20, &quit);
        watch_take(w);
    }
    if (!watch_has(w, 0, w->count, text)) {
        fail_msg("the POS never got %s (%u lines, last: %s)", text, w->count,
                 w->count ? w->lines[w->count - 1] : "none");
    }
}

/* The flow that published its result ran to its end within the same step: one more step
 * draws the idle screen again. */
static void back_to_idle(fx *f)
{
    bool quit = false;
    step(f, 20, &quit);
    assert_non_null(strstr(fake_ui_screen(&f->ui, 0)->title, IDLE));
}

/* A sale from the POS, settled (31.80: fund 15.56, own account 16.24), its lines taken. */
static void pos_sale_settled(fx *f, pos_watch *w, const char *sale, const char *setl_id)
{
    fake_scanner_push(&f->scan, SS_CODE);
    ss_push_until_2102(f->srv);
    ss_push(f->srv, ss_settlement(setl_id, SS_PSN_NO, &SS_SPLIT));
    ecr_pos_send(w->pos, sale);
    step_until_pos_has(f, w, "\"status\":\"settled\"");
    back_to_idle(f);
}

/* Starts the app with the POS paired and a supervisor's PIN provisioned (refunds need one), w
 * watching what reaches the POS as the screens come. */
static void start_refunding_pos(fx *f, busy_pos *b, pos_watch *w)
{
    start_with_pos_and(f, b, SUPERVISOR_PIN_LINE);
    memset(w, 0, sizeof *w);
    w->pos = &b->pos;
    f->ui.on_show = watch_screens;
    f->ui.on_show_arg = w;
}

/* The POS refunds a sale it sent: ack, the refund screen and the supervisor's PIN at the
 * terminal, the 2103, and the result — refunded, with what went back — reaches the POS before
 * the success screen waits for the cashier's key. Sent again afterwards: refused with the
 * first refund's date, and nothing reaches the platform. */
static void refund_from_the_pos(void **state)
{
    fx *f = fixture(state);
    static busy_pos b;
    static pos_watch w;
    start_refunding_pos(f, &b, &w);
    pos_sale_settled(f, &w, POS_SALE_OF("POS-R-1", "2", "31.80"), "S-R-1");
    w.count = 0;

    size_t sent = tls_ts_request_count(f->srv);
    w.result_screen = "退费成功";
    fake_ui_digits(&f->ui, PIN_SCREEN, "246810");
    ss_push(f->srv, cancel_answer("C-R-1"));
    ecr_pos_send(&b.pos, POS_REFUND("POS-R-1"));
    step_until_pos_has(f, &w, "\"type\":\"result\"");
    back_to_idle(f);
    assert_string_equal(
        w.lines[0], "{\"v\":2,\"type\":\"ack\",\"order_id\":\"POS-R-1\",\"request\":\"refund\"}");
    assert_int_equal(w.count, 2);
    const char *result = w.lines[1];
    assert_non_null(strstr(result, "{\"v\":2,\"type\":\"result\",\"order_id\":\"POS-R-1\","
                                   "\"request\":\"refund\",\"status\":\"refunded\","
                                   "\"error\":\"EVT_OK\",\"message\":\"退费成功\","
                                   "\"setl_id\":\"C-R-1\",\"msgid\":\"H12010400001"));
    assert_non_null(strstr(result, "\"total\":\"31.80\",\"fund\":\"15.56\",\"account\":\"16.24\","
                                   "\"mutual_aid\":\"0.00\",\"cash\":\"0.00\","
                                   "\"balance\":\"1000.00\",\"refunded_at\":\""));
    assert_true(w.result_before);
    /* The refund screen said where the money goes, the supervisor's PIN was asked. */
    assert_true(fake_ui_seen(&f->ui, REFUND_SCREEN) > 0);
    assert_true(fake_ui_seen(&f->ui, "退回本人个人账户：16.24 元") > 0);
    assert_true(fake_ui_seen(&f->ui, PIN_SCREEN) > 0);
    char infnos[64];
    ss_infnos(f->srv, sent, infnos, sizeof infnos);
    assert_string_equal(infnos, "2103");
    assert_int_equal(fake_ui_keys_left(&f->ui), 0);

    /* Sent again: the stored outcome at once — refused, with the date and the refund's
     * references; no screen, no second 2103. */
    w.count = 0;
    size_t screens = f->ui.shown;
    ecr_pos_send(&b.pos, POS_REFUND("POS-R-1"));
    step_until_pos_has(f, &w, "\"type\":\"result\"");
    assert_int_equal(w.count, 1);
    assert_non_null(strstr(w.lines[0], "\"request\":\"refund\",\"status\":\"refused\","
                                       "\"error\":\"EVT_ERR_REFUND_DONE\","
                                       "\"message\":\"该笔结算已退费，不能重复退费：已于 "));
    assert_non_null(strstr(w.lines[0], "\"setl_id\":\"C-R-1\""));
    assert_non_null(strstr(w.lines[0], "\"refunded_at\":\""));
    assert_null(strstr(w.lines[0], "\"total\""));
    assert_int_equal(tls_ts_request_count(f->srv), sent + 1);
    assert_int_equal(f->ui.shown, screens);
    /* The sale itself is still reported as it settled. */
    ecr_pos_send(&b.pos, "{\"v\":2,\"type\":\"status\",\"order_id\":\"POS-R-1\"}\n");
    step_until_pos_has(f, &w, "\"setl_id\":\"S-R-1\"");
    f->ui.on_show = NULL;
    ecr_pos_close(&b.pos);
}

/* What cannot be refunded is answered at once, without an ack and without a screen: an order
 * the terminal never sold; a refund the supervisor does not authorise (a wrong PIN) is refused
 * with the reason and sends nothing. */
static void refund_from_the_pos_refused(void **state)
{
    fx *f = fixture(state);
    static busy_pos b;
    static pos_watch w;
    start_refunding_pos(f, &b, &w);
    size_t sent = tls_ts_request_count(f->srv);
    size_t screens = f->ui.shown;
    ecr_pos_send(&b.pos, POS_REFUND("NEVER-SOLD"));
    step_until_pos_has(f, &w, "\"type\":\"result\"");
    assert_int_equal(w.count, 1);
    assert_string_equal(w.lines[0], "{\"v\":2,\"type\":\"result\",\"order_id\":\"NEVER-SOLD\","
                                    "\"request\":\"refund\",\"status\":\"refused\","
                                    "\"error\":\"EVT_ERR_REFUND_UNKNOWN_SALE\","
                                    "\"message\":\"本终端没有这笔结算的记录，不能退费\"}");
    assert_int_equal(f->ui.shown, screens);
    assert_int_equal(tls_ts_request_count(f->srv), sent);

    pos_sale_settled(f, &w, POS_SALE_OF("POS-R-2", "2", "31.80"), "S-R-2");
    w.count = 0;
    w.error_seen = false;
    sent = tls_ts_request_count(f->srv);
    fake_ui_digits(&f->ui, PIN_SCREEN, "135790");
    ecr_pos_send(&b.pos, POS_REFUND("POS-R-2"));
    step_until_pos_has(f, &w, "\"type\":\"result\"");
    assert_non_null(strstr(w.lines[w.count - 1], "\"request\":\"refund\",\"status\":\"refused\","
                                                 "\"error\":\"EVT_ERR_AUTH_FAILED\""));
    assert_true(fake_ui_seen(&f->ui, PIN_SCREEN) > 0);
    /* The POS had the refusal before the screen of why waited for the cashier's key. */
    assert_true(w.error_seen);
    assert_true(w.result_before_error);
    assert_int_equal(tls_ts_request_count(f->srv), sent);
    f->ui.on_show = NULL;
    ecr_pos_close(&b.pos);
}

/* While the refund waits for the supervisor's PIN, a new sale and the same refund sent again
 * are answered "busy" at once (from the PIN screen's wait), and neither starts afterwards; a
 * refund sent while a sale runs is "busy" too. */
static void refund_from_the_pos_busy_meanwhile(void **state)
{
    fx *f = fixture(state);
    static busy_pos b;
    static pos_watch w;
    start_refunding_pos(f, &b, &w);
    pos_sale_settled(f, &w, POS_SALE_OF("POS-R-3", "2", "31.80"), "S-R-3");
    w.count = 0;

    /* A sale runs (its identity screen up): the refund of the first gets "busy". */
    w.screen = "请核对患者身份";
    w.send[0] = POS_REFUND("POS-R-3");
    pos_sale_settled(f, &w, POS_SALE_OF("POS-R-4", "2", "31.80"), "S-R-4");
    assert_true(w.sent);
    assert_int_equal(w.count, 3);
    assert_non_null(strstr(w.lines[0], "\"type\":\"ack\",\"order_id\":\"POS-R-4\""));
    assert_string_equal(w.lines[1], "{\"v\":2,\"type\":\"result\",\"order_id\":\"POS-R-3\","
                                    "\"request\":\"refund\",\"status\":\"busy\","
                                    "\"error\":\"EVT_ERR_BUSY\",\"message\":\"终端忙，请稍候\"}");
    assert_non_null(strstr(w.lines[2], "\"order_id\":\"POS-R-4\",\"status\":\"settled\""));

    /* The refund of the first, at its PIN screen: a new sale and the same refund arrive. */
    memset(&w, 0, sizeof w);
    w.pos = &b.pos;
    w.screen = PIN_SCREEN;
    w.send[0] = POS_SALE;
    w.send[1] = POS_REFUND("POS-R-3");
    size_t sent = tls_ts_request_count(f->srv);
    fake_ui_digits(&f->ui, PIN_SCREEN, "246810");
    ss_push(f->srv, cancel_answer("C-R-3"));
    ecr_pos_send(&b.pos, POS_REFUND("POS-R-3"));
    step_until_pos_has(f, &w, "\"status\":\"refunded\"");
    back_to_idle(f);
    assert_true(w.sent);
    assert_int_equal(w.count, 4);
    assert_non_null(strstr(w.lines[0], "\"type\":\"ack\",\"order_id\":\"POS-R-3\""));
    assert_string_equal(w.lines[1], "{\"v\":2,\"type\":\"result\",\"order_id\":\"POS-BUSY-1\","
                                    "\"status\":\"busy\",\"error\":\"EVT_ERR_BUSY\","
                                    "\"message\":\"终端忙，请稍候\"}");
    assert_string_equal(w.lines[2],
                        "{\"v\":2,\"type\":\"result\",\"order_id\":\"POS-R-3\","
                        "\"request\":\"refund\",\"status\":\"busy\",\"error\":\"EVT_ERR_BUSY\","
                        "\"message\":\"终端忙，请稍候\"}");
    assert_non_null(strstr(w.lines[3], "\"request\":\"refund\",\"status\":\"refunded\""));
    char infnos[64];
    ss_infnos(f->srv, sent, infnos, sizeof infnos);
    assert_string_equal(infnos, "2103");
    /* Back at idle, nothing left in the link starts by itself. */
    size_t scans = fake_ui_seen(&f->ui, "请出示医保电子凭证");
    for (int i = 0; i < 5; i++) {
        bool quit = false;
        step(f, 20, &quit);
    }
    watch_take(&w);
    assert_int_equal(w.count, 4);
    assert_int_equal(fake_ui_seen(&f->ui, "请出示医保电子凭证"), scans);
    assert_int_equal(tls_ts_request_count(f->srv), sent + 1);
    f->ui.on_show = NULL;
    ecr_pos_close(&b.pos);
}

static int group_setup(void **state)
{
    (void)state;
    evt_arena_init(app_arena, sizeof app_arena);
    fake_sys_init(&sys);
    evt_log_init(&sys.hal);
    return tls_ts_peer_setup(&peer, "test_app");
}

static int group_teardown(void **state)
{
    (void)state;
    tls_ts_peer_teardown(&peer);
    return 0;
}

#define APP_TEST(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        APP_TEST(damaged_journal_warned_and_survived),
        APP_TEST(recovery_runs_before_sign_in),
        APP_TEST(broken_provisioning_stops_start_up),
        APP_TEST(failed_start_can_be_retried),
        APP_TEST(idle_loop_retries_reversals_on_its_period),
        APP_TEST(quit_key_leaves_the_loop),
        APP_TEST(order_status_for_every_state),
        APP_TEST(menu_reprint_and_keyed_sale),
        APP_TEST(keyed_entry_checks_what_is_typed),
        APP_TEST(order_during_the_menu_is_answered_busy),
        APP_TEST(result_reaches_the_pos_before_the_cashiers_key),
        APP_TEST(idle_says_how_the_last_order_ended),
        APP_TEST(refund_from_the_pos),
        APP_TEST(refund_from_the_pos_refused),
        APP_TEST(refund_from_the_pos_busy_meanwhile),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
