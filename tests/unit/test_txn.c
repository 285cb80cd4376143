/*
 * evt_txn, the pharmacy sale, over a scripted platform (the GnuTLS test server answers each
 * request as the test says) and fake scanner, keypad, screen and printer (fake_hal), with the
 * journal on the RAM NOR model behind a storage that fails on demand. Every way out of a sale
 * is driven here, including those the platform emulator cannot produce, and each one checks
 * the order's record in the journal, the result for the POS, the screens and what was sent.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena_fixture.h"
#include "evt/arena.h"
#include "evt/auth.h"
#include "evt/config.h"
#include "evt/gb18030.h"
#include "evt/https.h"
#include "evt/log.h"
#include "evt/orders.h"
#include "evt/receipt.h"
#include "evt/txn.h"
#include "fake_hal.h"
#include "ram_nor.h"
#include "sale_script.h"
#include "skip_policy.h"
#include "tls_test_server.h"

#define ARENA_BYTES  (1024u * 1024u)
#define FLASH_BYTES  (64u * 1024u)
#define SECTOR_BYTES 4096u
#define MAX_KEYS     512u

#define SCAN_PROMPT "请出示医保电子凭证"
#define IDENTITY    "请核对患者身份"
#define SPLIT       "请确认结算金额"

static unsigned char arena_buf[ARENA_BYTES] __attribute__((aligned(16)));
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
    uint32_t work[EVT_JOURNAL_WORK_SIZE(FLASH_BYTES / SECTOR_BYTES, MAX_KEYS) / 4];
    evt_journal j;
    evt_config cfg;
    evt_hal hal;
    evt_platform *p;
    evt_ui eui;
    evt_txn t;
    bool txn_up;
    size_t req0; /* requests before the test's own */
} fx;

/* ---- fixture ------------------------------------------------------------------------------- */

/* Mounts the journal, creates the platform client and the engine; recovery only if asked (a
 * test may first put the flash in the state it wants recovered). */
static void fx_boot(fx *f, bool recover)
{
    assert_int_equal(evt_journal_open(&f->j, &f->flash.hal, f->work, sizeof f->work, NULL), EVT_OK);
    assert_int_equal(evt_platform_new(&f->cfg, peer.ca_pem, &f->hal, &f->j, &f->p), EVT_OK);
    evt_ui_init(&f->eui, &f->ui.hal, f->hal.sys);
    assert_int_equal(evt_txn_init(&f->t, &f->hal, &f->cfg, f->p, &f->j, &f->eui), EVT_OK);
    f->txn_up = true;
    if (recover) {
        assert_int_equal(evt_txn_recover(&f->t), EVT_OK);
    }
}

static void fx_down(fx *f)
{
    if (f->txn_up) {
        evt_txn_deinit(&f->t);
        f->txn_up = false;
    }
    evt_platform_free(f->p);
    f->p = NULL;
}

/* Power off and on, the flash holding image (NULL: as it is). */
static void fx_reboot(fx *f, const uint8_t *image, bool recover)
{
    fx_down(f);
    atomic_store(&f->flash.fail_reads, 0);
    atomic_store(&f->flash.fail_programs, 0);
    if (image != NULL) {
        evt_ram_nor_load(&f->nor, image);
    }
    fx_boot(f, recover);
}

static void sign_in(fx *f)
{
    ss_push(f->srv, ss_sign_in());
    assert_int_equal(evt_platform_sign_in(f->p), EVT_OK);
    evt_platform_disconnect(f->p);
}

static int setup(void **state)
{
    arena_fixture_setup(state);
    fake_sys_init(&sys);
    *state = NULL;
    if (!peer.have_peer) {
        return 0;
    }
    assert_int_equal(evt_https_platform_init(&sys.hal), EVT_OK);
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
    char text[2048], msg[128];
    ss_config_text(text, sizeof text, tls_ts_port(f->srv), NULL);
    assert_int_equal(evt_config_parse(text, strlen(text), &f->cfg, msg, sizeof msg), EVT_OK);
    fx_boot(f, true);
    sign_in(f);
    f->req0 = tls_ts_request_count(f->srv);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    if (f != NULL) {
        fx_down(f);
        tls_ts_stop(f->srv);
        fake_ui_free(&f->ui);
        fake_scanner_free(&f->scan);
        fake_printer_free(&f->prn);
        evt_ram_nor_free(&f->nor);
        free(f);
        evt_https_platform_deinit();
    }
    (void)state;
    return arena_fixture_teardown_over(arena_buf, sizeof arena_buf);
}

static fx *fixture(void **state)
{
    if (*state == NULL) {
        tls_ts_peer_require(&peer);
    }
    return *state;
}

/* ---- helpers ----------------------------------------------------------------------------- */

static evt_err sale(fx *f, const char *order_id, evt_ecr_result *r)
{
    evt_order o;
    ss_order(&o, order_id);
    return evt_txn_pharmacy_sale(&f->t, &o, r);
}

static evt_order_record record_of(fx *f, const char *order_id)
{
    evt_order_record rec;
    evt_err err = evt_orders_get(&f->j, order_id, &rec);
    if (err != EVT_OK) {
        fail_msg("order %s: no record (%s)", order_id, evt_err_name(err));
    }
    return rec;
}

/* Runs the sale of order_id and checks how it ended: what the engine returned, the POS's status
 * in *r and the state of the order's record, which it returns. */
static evt_order_record sale_ends(fx *f, const char *order_id, evt_err err, evt_ecr_status status,
                                  evt_order_state state, evt_ecr_result *r)
{
    assert_int_equal(sale(f, order_id, r), err);
    assert_int_equal(r->status, status);
    evt_order_record rec = record_of(f, order_id);
    assert_int_equal(rec.state, state);
    return rec;
}

static void assert_infnos_since(fx *f, size_t from, const char *want)
{
    char got[512];
    ss_infnos(f->srv, from, got, sizeof got);
    assert_string_equal(got, want);
}

static void assert_infnos(fx *f, const char *want)
{
    assert_infnos_since(f, f->req0, want);
}

static uint32_t today(void)
{
    evt_datetime now;
    assert_int_equal(sys.hal.local_time(sys.hal.ctx, &now), EVT_OK);
    return (uint32_t)now.year * 10000u + (uint32_t)now.month * 100u + now.day;
}

/* The n-th request from req0 carries "key":"want". */
static void assert_request_field(fx *f, size_t n, const char *key, const char *want)
{
    char v[128];
    assert_true(ss_request_field(f->srv, f->req0 + n, key, v, sizeof v));
    assert_string_equal(v, want);
}

static bool message_has(const evt_ecr_result *r, const char *text)
{
    return strstr(r->message, text) != NULL;
}

/* A complete sale that settles (the canned patient and split); *r its result. */
static void settled_sale(fx *f, const char *order_id, evt_ecr_result *r)
{
    fake_scanner_push(&f->scan, SS_CODE);
    ss_push_until_2102(f->srv);
    ss_push(f->srv, ss_settlement("S-OK", SS_PSN_NO, &SS_SPLIT));
    assert_int_equal(sale(f, order_id, r), EVT_OK);
    assert_int_equal(r->status, EVT_ECR_SETTLED);
}

/* The sale is refused before the money with nothing more than ec.query and 1101 answered. */
static void assert_no_money_step(fx *f, const char *order_id)
{
    evt_order_record rec = record_of(f, order_id);
    assert_string_equal(rec.msgid, "");
    assert_int_equal(f->prn.begun, 0);
    assert_int_equal(evt_platform_pending_reversals(f->p), 0);
}

/* Names, ID numbers, tokens and scanned codes never reach a log line. */
static void assert_no_personal_data_logged(void)
{
    static const char *const secrets[] = {SS_NAME, SS_CERTNO, "12010419800101", "ECTOKEN0001",
                                          SS_CODE, SS_CODE_2, SS_CODE_3,        "张建军"};
    for (size_t i = 0; i < sizeof secrets / sizeof secrets[0]; i++) {
        if (fake_sys_logged(&sys, secrets[i])) {
            fail_msg("personal data in the log: %s", secrets[i]);
        }
    }
}

/* ---- the happy path: what a settled sale leaves behind ----------------------------------- */

static void settled_sale_recorded_printed_and_told(void **state)
{
    fx *f = fixture(state);
    ss_snapshot snap = {0};
    ss_snapshot_arm(&snap, &f->nor, "2102");
    tls_ts_set_request_hook(f->srv, ss_snapshot_hook, &snap);
    evt_ecr_result r;
    settled_sale(f, "ORD-1", &r);
    tls_ts_set_request_hook(f->srv, NULL, NULL);

    /* The POS's result. */
    assert_string_equal(r.order_id, "ORD-1");
    assert_int_equal(r.error, EVT_OK);
    assert_string_equal(r.setl_id, "S-OK");
    assert_int_equal(r.total, 3180);
    assert_int_equal(r.fund, 1556);
    assert_int_equal(r.account, 1624);
    assert_int_equal(r.mutual_aid, 0);
    assert_int_equal(r.cash, 0);
    assert_true(r.balance_present);
    assert_int_equal(r.balance, 98376);
    assert_false(r.blocked);
    assert_string_equal(r.message, "");

    /* The order's record. */
    evt_order_record rec = record_of(f, "ORD-1");
    assert_int_equal(rec.state, EVT_ORDER_SETTLED);
    assert_int_equal(rec.error, EVT_OK);
    assert_string_equal(rec.setl_id, "S-OK");
    assert_string_equal(rec.msgid, r.msgid);
    assert_string_equal(rec.psn_no, SS_PSN_NO);
    assert_string_equal(rec.insuplc_admdvs, SS_REGION);
    assert_int_equal(rec.total, 3180);
    assert_int_equal(rec.fund, 1556);
    assert_int_equal(rec.account, 1624);
    assert_true(rec.balance_present);
    assert_int_equal(rec.balance, 98376);
    assert_false(rec.answer_unusable);
    assert_false(rec.needs_supervisor);
    assert_int_equal(rec.day, today());

    /* What was sent: four requests, the 2102 for this order with the recorded msgid. */
    assert_infnos(f, "ec.query,1101,2101,2102");
    assert_request_field(f, 0, "ecQrCode", SS_CODE);
    assert_request_field(f, 3, "msgid", rec.msgid);
    assert_request_field(f, 3, "fixmedins_setl_id", "ORD-1");
    assert_request_field(f, 3, "psn_no", SS_PSN_NO);
    assert_request_field(f, 3, "insuplc_admdvs", SS_REGION);
    assert_int_equal(evt_platform_owed(f->p, rec.msgid), EVT_PLATFORM_OWED_NONE);
    assert_int_equal(evt_platform_pending_reversals(f->p), 0);

    /* Before the 2102 reached the platform, the flash said the order may move money. */
    assert_true(atomic_load(&snap.taken));
    ss_image_journal ij;
    assert_int_equal(ss_image_journal_open(&ij, snap.image, FLASH_BYTES, SECTOR_BYTES), EVT_OK);
    evt_order_record then;
    assert_int_equal(evt_orders_get(&ij.j, "ORD-1", &then), EVT_OK);
    assert_int_equal(then.state, EVT_ORDER_SETTLING);
    assert_string_equal(then.msgid, rec.msgid);
    assert_string_equal(then.psn_no, SS_PSN_NO);
    size_t len = 0;
    assert_int_equal(evt_journal_twin_get(&ij.j, "pend", rec.msgid, NULL, 0, &len, NULL),
                     EVT_ERR_OVERFLOW);
    ss_image_journal_close(&ij);
    ss_snapshot_free(&snap);

    /* The cashier saw identity and split before the money, and the receipt was printed. */
    assert_int_equal(fake_ui_seen(&f->ui, IDENTITY), 1);
    assert_int_equal(fake_ui_seen(&f->ui, SPLIT), 1);
    const evt_ui_screen *done = fake_ui_screen(&f->ui, 0);
    assert_true(fake_ui_screen_has(done, "结算成功"));
    assert_true(fake_ui_screen_has(done, "结算单已打印"));
    assert_int_equal(f->prn.ended, 1);
    assert_string_equal(f->prn.job_name, rec.msgid);
    assert_int_equal(f->t.counters.settled, 1);
    assert_int_equal(fake_ui_keys_left(&f->ui), 0);
    assert_no_personal_data_logged();
}

/* ---- before the money: scanning ----------------------------------------------------------- */

static void scan_cancelled_refused(void **state)
{
    fx *f = fixture(state);
    fake_ui_key(&f->ui, SCAN_PROMPT, EVT_KEY_CANCEL);
    evt_ecr_result r;
    evt_order_record rec =
        sale_ends(f, "ORD-C", EVT_ERR_CANCELLED, EVT_ECR_REFUSED, EVT_ORDER_REFUSED, &r);
    assert_int_equal(r.error, EVT_ERR_CANCELLED);
    assert_string_equal(r.message, "已取消");
    assert_int_equal(rec.error, EVT_ERR_CANCELLED);
    assert_infnos(f, "");
    assert_no_money_step(f, "ORD-C");
    assert_false(f->t.quit_requested);

    /* Nothing moved: the POS may send the order again, and it settles. */
    settled_sale(f, "ORD-C", &r);
    assert_int_equal(record_of(f, "ORD-C").state, EVT_ORDER_SETTLED);
}

static void scan_timed_out_refused(void **state)
{
    fx *f = fixture(state);
    int64_t before = sys.skew_ms;
    evt_ecr_result r;
    assert_int_equal(sale(f, "ORD-T", &r), EVT_ERR_TIMEOUT);
    assert_true(sys.skew_ms - before >= 180000);
    assert_int_equal(r.status, EVT_ECR_REFUSED);
    assert_int_equal(r.error, EVT_ERR_TIMEOUT);
    assert_string_equal(r.message, "操作超时：未扫描到医保电子凭证，本单已取消");
    evt_order_record rec = record_of(f, "ORD-T");
    assert_int_equal(rec.state, EVT_ORDER_REFUSED);
    assert_int_equal(rec.error, EVT_ERR_TIMEOUT);
    assert_string_equal(rec.detail, "未扫描到医保电子凭证，本单已取消");
    /* The prompt counted the wait down, ten seconds at a time. */
    assert_true(fake_ui_seen(&f->ui, "（20 秒内）") > 0);
    assert_true(fake_ui_seen(&f->ui, "（10 秒内）") > 0);
    /* Not back to 就绪 without a word: the cashier may have been away. */
    const evt_ui_screen *s = fake_ui_last_titled(&f->ui, "等待扫码超时");
    assert_non_null(s);
    assert_true(fake_ui_screen_has(s, "本单已取消"));
    assert_infnos(f, "");
    assert_no_money_step(f, "ORD-T");
}

static void quit_during_scan_refused_and_stops(void **state)
{
    fx *f = fixture(state);
    fake_ui_key(&f->ui, SCAN_PROMPT, EVT_KEY_QUIT);
    evt_ecr_result r;
    assert_int_equal(sale(f, "ORD-Q", &r), EVT_ERR_CANCELLED);
    assert_int_equal(r.status, EVT_ECR_REFUSED);
    assert_true(f->t.quit_requested);
    assert_int_equal(record_of(f, "ORD-Q").state, EVT_ORDER_REFUSED);
    assert_infnos(f, "");
}

static void refused_codes_keep_the_sale_open(void **state)
{
    fx *f = fixture(state);
    fake_scanner_push(&f->scan, "134567890123456789"); /* a WeChat Pay code: never sent */
    fake_scanner_push(&f->scan, SS_CODE);              /* expired at the platform */
    fake_scanner_push(&f->scan, SS_CODE);              /* the same code again */
    fake_scanner_push(&f->scan, SS_CODE_2);            /* refreshed: accepted */
    ss_push(f->srv, ss_refused("电子凭证二维码已过期，请刷新后重试"));
    ss_push_until_2102(f->srv);
    ss_push(f->srv, ss_settlement("S-2", SS_PSN_NO, &SS_SPLIT));
    evt_ecr_result r;
    assert_int_equal(sale(f, "ORD-R", &r), EVT_OK);
    assert_int_equal(r.status, EVT_ECR_SETTLED);
    assert_infnos(f, "ec.query,ec.query,1101,2101,2102");
    assert_request_field(f, 0, "ecQrCode", SS_CODE);
    assert_request_field(f, 1, "ecQrCode", SS_CODE_2);
    assert_true(fake_ui_seen(&f->ui, "这是微信付款码，请出示医保电子凭证") > 0);
    assert_true(fake_ui_seen(&f->ui, "凭证无效：电子凭证二维码已过期，请刷新后重试") > 0);
    assert_true(fake_ui_seen(&f->ui, "该码本单已用过，请在手机上刷新电子凭证后出示新码") > 0);
    assert_int_equal(record_of(f, "ORD-R").state, EVT_ORDER_SETTLED);
    assert_no_personal_data_logged();
}

static void malformed_voucher_answer_fails(void **state)
{
    fx *f = fixture(state);
    fake_scanner_push(&f->scan, SS_CODE);
    ss_push(f->srv, "{\"infcode\":0,\"output\":{\"data\":{\"idNo\":\"" SS_CERTNO
                    "\",\"userName\":\"" SS_NAME "\"}}}");
    evt_ecr_result r;
    evt_order_record rec =
        sale_ends(f, "ORD-M", EVT_ERR_PROTO_FIELD_MISSING, EVT_ECR_FAILED, EVT_ORDER_FAILED, &r);
    assert_int_equal(rec.error, EVT_ERR_PROTO_FIELD_MISSING);
    assert_infnos(f, "ec.query");
    assert_non_null(fake_ui_last_titled(&f->ui, "电子凭证解码失败"));
    assert_int_equal(fake_ui_seen(&f->ui, IDENTITY), 0);
    assert_no_money_step(f, "ORD-M");
}

/* ---- before the money: the person ------------------------------------------------------- */

static void person_not_the_vouchers_refused_before_2101(void **state)
{
    fx *f = fixture(state);
    static const struct {
        const char *order, *certno, *name;
    } others[] = {
        {"ORD-P1", "120104198001019999", SS_NAME}, /* another ID number */
        {"ORD-P2", SS_CERTNO, "张建军"},           /* another name */
    };
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++) {
        size_t from = tls_ts_request_count(f->srv);
        fake_scanner_push(&f->scan, SS_CODE);
        ss_push(f->srv, ss_voucher(SS_CERTNO, SS_NAME));
        ss_push(f->srv, ss_person(SS_PSN_NO, others[i].certno, others[i].name, "1", ""));
        evt_ecr_result r;
        assert_int_equal(sale(f, others[i].order, &r), EVT_ERR_PERSON_VOUCHER_MISMATCH);
        assert_int_equal(r.status, EVT_ECR_REFUSED);
        assert_int_equal(r.error, EVT_ERR_PERSON_VOUCHER_MISMATCH);
        evt_order_record rec = record_of(f, others[i].order);
        assert_int_equal(rec.state, EVT_ORDER_REFUSED);
        assert_int_equal(rec.error, EVT_ERR_PERSON_VOUCHER_MISMATCH);
        assert_infnos_since(f, from, "ec.query,1101");
        assert_no_money_step(f, others[i].order);
    }
    /* The cashier never saw the other person's identity to confirm. */
    assert_int_equal(fake_ui_seen(&f->ui, IDENTITY), 0);
    assert_int_equal(fake_ui_seen(&f->ui, "身份核验失败"), 2);

    /* The same person written a little differently (x for X, padding) is the same person. */
    size_t from = tls_ts_request_count(f->srv);
    fake_scanner_push(&f->scan, SS_CODE_2);
    ss_push(f->srv, ss_voucher(SS_CERTNO, SS_NAME));
    ss_push(f->srv, ss_person(SS_PSN_NO, "12010419800101123x", " " SS_NAME " ", "1", ""));
    ss_push(f->srv, ss_settlement(NULL, SS_PSN_NO, &SS_SPLIT));
    ss_push(f->srv, ss_settlement("S-P3", SS_PSN_NO, &SS_SPLIT));
    evt_ecr_result r;
    assert_int_equal(sale(f, "ORD-P3", &r), EVT_OK);
    assert_infnos_since(f, from, "ec.query,1101,2101,2102");
    assert_no_personal_data_logged();
}

/* The refusal names the record's insurance and status in the platform's terms, with its date. */
static void refused_insurance(void **state, const char *stas, const char *order_id,
                              const char *detail)
{
    fx *f = fixture(state);
    fake_scanner_push(&f->scan, SS_CODE);
    ss_push(f->srv, ss_voucher(SS_CERTNO, SS_NAME));
    ss_push(f->srv, ss_person(SS_PSN_NO, SS_CERTNO, SS_NAME, stas, "2023-12-31"));
    evt_ecr_result r;
    assert_int_equal(sale(f, order_id, &r), EVT_ERR_INSURANCE_SUSPENDED);
    assert_int_equal(r.status, EVT_ECR_REFUSED);
    char message[160];
    snprintf(message, sizeof message, "参保状态异常，不能结算：%s", detail);
    assert_string_equal(r.message, message);
    evt_order_record rec = record_of(f, order_id);
    assert_int_equal(rec.state, EVT_ORDER_REFUSED);
    assert_int_equal(rec.error, EVT_ERR_INSURANCE_SUSPENDED);
    assert_string_equal(rec.detail, detail);
    const evt_ui_screen *s = fake_ui_last_titled(&f->ui, "不能结算");
    assert_non_null(s);
    assert_true(fake_ui_screen_has(s, detail));
    assert_infnos(f, "ec.query,1101");
    assert_no_money_step(f, order_id);
}

static void suspended_insurance_refused(void **state)
{
    refused_insurance(state, "2", "ORD-S", "职工基本医疗保险 暂停参保（2023-12-31）");
}

static void terminated_insurance_refused(void **state)
{
    refused_insurance(state, "4", "ORD-T", "职工基本医疗保险 终止参保（2023-12-31）");
}

/* ---- before the money: the cashier --------------------------------------------------------- */

/* The cashier presses Cancel at `screen`: the sale is refused with why, recorded as refused,
 * nothing after `infnos` is sent and no money step begins. */
static void cashier_declines(void **state, const char *screen, const char *order_id,
                             const char *message, const char *detail, const char *infnos)
{
    fx *f = fixture(state);
    fake_scanner_push(&f->scan, SS_CODE);
    ss_push_until_2102(f->srv);
    fake_ui_key(&f->ui, screen, EVT_KEY_CANCEL);
    evt_ecr_result r;
    evt_order_record rec =
        sale_ends(f, order_id, EVT_ERR_CANCELLED, EVT_ECR_REFUSED, EVT_ORDER_REFUSED, &r);
    assert_string_equal(r.message, message);
    assert_int_equal(rec.error, EVT_ERR_CANCELLED);
    assert_string_equal(rec.detail, detail);
    assert_infnos(f, infnos);
    assert_no_money_step(f, order_id);
}

static void cashier_declines_identity(void **state)
{
    cashier_declines(state, IDENTITY, "ORD-I", "已取消：收银员未确认身份", "收银员未确认身份",
                     "ec.query,1101");
}

static void cashier_silent_at_identity(void **state)
{
    fx *f = fixture(state);
    fake_scanner_push(&f->scan, SS_CODE);
    ss_push_until_2102(f->srv);
    f->ui.auto_ack = false;
    evt_ecr_result r;
    evt_order_record rec =
        sale_ends(f, "ORD-I2", EVT_ERR_TIMEOUT, EVT_ECR_REFUSED, EVT_ORDER_REFUSED, &r);
    assert_int_equal(rec.error, EVT_ERR_TIMEOUT);
    assert_string_equal(rec.detail, "收银员未确认身份");
    assert_infnos(f, "ec.query,1101");
}

static void cashier_declines_split(void **state)
{
    cashier_declines(state, SPLIT, "ORD-X", "已取消：收银员未确认金额", "收银员未确认金额",
                     "ec.query,1101,2101");
}

/* ---- before the money: pre-settlement ------------------------------------------------------ */

static void presettlement_not_adding_up_fails(void **state)
{
    fx *f = fixture(state);
    fake_scanner_push(&f->scan, SS_CODE);
    ss_push(f->srv, ss_voucher(SS_CERTNO, SS_NAME));
    ss_push(f->srv, ss_person(SS_PSN_NO, SS_CERTNO, SS_NAME, "1", ""));
    ss_split off = SS_SPLIT;
    off.cash = 1; /* one fen more than the total */
    ss_push(f->srv, ss_settlement(NULL, SS_PSN_NO, &off));
    evt_ecr_result r;
    evt_order_record rec =
        sale_ends(f, "ORD-2101", EVT_ERR_MONEY_MISMATCH, EVT_ECR_FAILED, EVT_ORDER_FAILED, &r);
    assert_int_equal(rec.error, EVT_ERR_MONEY_MISMATCH);
    assert_infnos(f, "ec.query,1101,2101");
    assert_non_null(fake_ui_last_titled(&f->ui, "预结算失败"));
    assert_int_equal(fake_ui_seen(&f->ui, SPLIT), 0);
    assert_no_money_step(f, "ORD-2101");
}

static void presettlement_refused(void **state)
{
    fx *f = fixture(state);
    fake_scanner_push(&f->scan, SS_CODE);
    ss_push(f->srv, ss_voucher(SS_CERTNO, SS_NAME));
    ss_push(f->srv, ss_person(SS_PSN_NO, SS_CERTNO, SS_NAME, "1", ""));
    ss_push(f->srv, ss_refused("药品目录编码不存在"));
    evt_ecr_result r;
    evt_order_record rec = sale_ends(f, "ORD-2101R", EVT_ERR_PLATFORM_REJECTED, EVT_ECR_REFUSED,
                                     EVT_ORDER_REFUSED, &r);
    assert_string_equal(r.message, "医保平台拒绝交易：药品目录编码不存在");
    assert_string_equal(rec.detail, "药品目录编码不存在");
    assert_infnos(f, "ec.query,1101,2101");
    assert_no_money_step(f, "ORD-2101R");
}

/* ---- the money: answers that end it -------------------------------------------------------- */

static void settlement_refused_moves_nothing(void **state)
{
    fx *f = fixture(state);
    /* A business refusal under 200, and the gateway refusing under 401: both the platform's
     * word that nothing moved. */
    static const struct {
        const char *order;
        int status;
    } cases[] = {{"ORD-F1", 200}, {"ORD-F2", 401}};
    for (size_t i = 0; i < 2; i++) {
        size_t from = tls_ts_request_count(f->srv);
        fake_scanner_push(&f->scan, SS_CODE);
        ss_push_until_2102(f->srv);
        ss_push_status(f->srv, cases[i].status, ss_refused("个人账户余额不足"), false);
        evt_ecr_result r;
        assert_int_equal(sale(f, cases[i].order, &r), EVT_ERR_PLATFORM_REJECTED);
        assert_int_equal(r.status, EVT_ECR_REFUSED);
        assert_string_equal(r.message, "医保平台拒绝交易：个人账户余额不足");
        assert_false(r.blocked);
        evt_order_record rec = record_of(f, cases[i].order);
        assert_int_equal(rec.state, EVT_ORDER_REFUSED);
        assert_int_equal(rec.error, EVT_ERR_PLATFORM_REJECTED);
        assert_string_equal(rec.detail, "个人账户余额不足");
        assert_string_equal(r.msgid, rec.msgid);
        assert_int_equal(strlen(rec.msgid), 30);
        assert_infnos_since(f, from, "ec.query,1101,2101,2102");
        assert_int_equal(evt_platform_owed(f->p, rec.msgid), EVT_PLATFORM_OWED_NONE);
        const evt_ui_screen *s = fake_ui_last_titled(&f->ui, "结算失败");
        assert_non_null(s);
        assert_true(fake_ui_screen_has(s, "个人账户余额不足"));
    }
    assert_int_equal(f->prn.begun, 0);
    assert_int_equal(evt_platform_pending_reversals(f->p), 0);
    assert_int_equal(f->t.counters.refused, 2);
}

/* The connection the 2102 needs is refused: the request never left. */
static void refuse_connections_from_now(void *arg, size_t index, const char *request, size_t len)
{
    (void)index;
    (void)len;
    gate_net *g = arg;
    if (strstr(request, "\"infno\":\"2101\"") != NULL) {
        atomic_store(&g->refuse_connects, true);
    }
}

static void settlement_never_sent_fails(void **state)
{
    fx *f = fixture(state);
    fake_scanner_push(&f->scan, SS_CODE);
    ss_push(f->srv, ss_voucher(SS_CERTNO, SS_NAME));
    ss_push(f->srv, ss_person(SS_PSN_NO, SS_CERTNO, SS_NAME, "1", ""));
    /* The 2101 is answered and the server hangs up; from then on connecting is refused. */
    ss_push_status(f->srv, 200, ss_settlement(NULL, SS_PSN_NO, &SS_SPLIT), true);
    tls_ts_set_request_hook(f->srv, refuse_connections_from_now, &f->net);
    unsigned connects = atomic_load(&f->net.connects);
    evt_ecr_result r;
    assert_int_equal(sale(f, "ORD-N", &r), EVT_ERR_NET_CONNECT);
    tls_ts_set_request_hook(f->srv, NULL, NULL);
    assert_true(atomic_load(&f->net.connects) > connects + 1); /* the 2102 tried */
    assert_int_equal(r.status, EVT_ECR_FAILED);
    assert_int_equal(r.error, EVT_ERR_NET_CONNECT);
    evt_order_record rec = record_of(f, "ORD-N");
    assert_int_equal(rec.state, EVT_ORDER_FAILED);
    assert_int_equal(rec.error, EVT_ERR_NET_CONNECT);
    assert_int_equal(strlen(rec.msgid), 30);
    assert_false(rec.answer_unusable);
    assert_infnos(f, "ec.query,1101,2101");
    assert_int_equal(evt_platform_owed(f->p, rec.msgid), EVT_PLATFORM_OWED_NONE);
    assert_int_equal(evt_platform_pending_reversals(f->p), 0);
    assert_non_null(fake_ui_last_titled(&f->ui, "结算失败"));
    assert_int_equal(f->prn.begun, 0);

    /* Nothing moved: once the network is back the same order settles. */
    atomic_store(&f->net.refuse_connects, false);
    fake_scanner_push(&f->scan, SS_CODE_2);
    ss_push_until_2102(f->srv);
    ss_push(f->srv, ss_settlement("S-N", SS_PSN_NO, &SS_SPLIT));
    assert_int_equal(sale(f, "ORD-N", &r), EVT_OK);
    assert_int_equal(record_of(f, "ORD-N").state, EVT_ORDER_SETTLED);
}

/* ---- the money: no usable answer ----------------------------------------------------------- */

static void lost_answer_reversed_may_retry(void **state)
{
    fx *f = fixture(state);
    fake_scanner_push(&f->scan, SS_CODE);
    ss_push_until_2102(f->srv);
    tls_ts_push(f->srv, (tls_ts_step){.action = TLS_TS_CLOSE_NO_RESPONSE});
    ss_push(f->srv, ss_ack());
    evt_ecr_result r;
    evt_order_record rec =
        sale_ends(f, "ORD-L", EVT_ERR_NET_CLOSED, EVT_ECR_FAILED, EVT_ORDER_REVERSED, &r);
    assert_int_equal(r.error, EVT_ERR_NET_CLOSED);
    assert_false(r.blocked);
    assert_true(message_has(&r, "已冲正，未扣款"));
    assert_false(rec.answer_unusable);
    assert_false(rec.needs_supervisor);
    assert_string_equal(r.msgid, rec.msgid);
    assert_infnos(f, "ec.query,1101,2101,2102,2601");
    assert_request_field(f, 4, "omsgid", rec.msgid);
    assert_request_field(f, 4, "oinfno", "2102");
    assert_request_field(f, 4, "psn_no", SS_PSN_NO);
    assert_int_equal(evt_platform_owed(f->p, rec.msgid), EVT_PLATFORM_OWED_NONE);
    assert_int_equal(f->prn.begun, 0);
    assert_int_equal(fake_ui_seen(&f->ui, "结算成功"), 0);
    const evt_ui_screen *s = fake_ui_last_titled(&f->ui, "结算未完成");
    assert_non_null(s);
    assert_true(fake_ui_screen_has(s, "已冲正，患者未被扣款，可重新结算"));

    /* Reversed for a network cause: the order may simply be tried again. */
    settled_sale(f, "ORD-L", &r);
    assert_int_equal(record_of(f, "ORD-L").state, EVT_ORDER_SETTLED);
}

static void lost_answer_unreversed_stays_unknown(void **state)
{
    fx *f = fixture(state);
    fake_scanner_push(&f->scan, SS_CODE);
    ss_push_until_2102(f->srv);
    tls_ts_push(f->srv, (tls_ts_step){.action = TLS_TS_CLOSE_NO_RESPONSE});
    tls_ts_push(f->srv, (tls_ts_step){.action = TLS_TS_CLOSE_NO_RESPONSE});
    evt_ecr_result r;
    evt_order_record rec =
        sale_ends(f, "ORD-U", EVT_ERR_OUTCOME_UNKNOWN, EVT_ECR_UNKNOWN, EVT_ORDER_UNKNOWN, &r);
    assert_int_equal(r.error, EVT_ERR_OUTCOME_UNKNOWN);
    assert_int_equal(rec.error, EVT_ERR_NET_CLOSED);
    assert_string_equal(r.msgid, rec.msgid);
    assert_int_equal(evt_platform_owed(f->p, rec.msgid), EVT_PLATFORM_OWED_REVERSAL);
    assert_int_equal(evt_platform_pending_reversals(f->p), 1);
    assert_non_null(fake_ui_last_titled(&f->ui, "结算结果未知"));
    assert_int_equal(f->t.counters.unknown, 1);
    assert_int_equal(f->prn.begun, 0);

    /* Sent again while in doubt: the stored answer, no scan, nothing sent. */
    size_t sent = tls_ts_request_count(f->srv);
    fake_scanner_push(&f->scan, SS_CODE_2);
    evt_ecr_result again;
    assert_int_equal(sale(f, "ORD-U", &again), EVT_ERR_OUTCOME_UNKNOWN);
    assert_int_equal(again.status, EVT_ECR_UNKNOWN);
    assert_string_equal(again.msgid, rec.msgid);
    assert_int_equal(f->scan.delivered, 1);
    assert_int_equal(tls_ts_request_count(f->srv), sent);

    /* The idle loop's retry gets the reversal through: the order is settled as reversed. */
    ss_push(f->srv, ss_ack());
    assert_int_equal(evt_platform_retry_reversals(f->p, 4, NULL), EVT_OK);
    assert_infnos_since(f, sent, "2601");
    rec = record_of(f, "ORD-U");
    assert_int_equal(rec.state, EVT_ORDER_REVERSED);
    assert_false(rec.needs_supervisor);
    assert_int_equal(evt_platform_pending_reversals(f->p), 0);
    assert_int_equal(evt_txn_lookup_order(&f->t, "ORD-U", &again), EVT_OK);
    assert_int_equal(again.status, EVT_ECR_FAILED);
    assert_false(again.blocked);
}

static void gateway_5xx_reversed_not_blocked(void **state)
{
    fx *f = fixture(state);
    fake_scanner_push(&f->scan, SS_CODE);
    ss_push_until_2102(f->srv);
    ss_push_status(f->srv, 503, ss_settlement("S-503", SS_PSN_NO, &SS_SPLIT), false);
    ss_push(f->srv, ss_ack());
    evt_ecr_result r;
    evt_order_record rec =
        sale_ends(f, "ORD-5", EVT_ERR_HTTP_STATUS, EVT_ECR_FAILED, EVT_ORDER_REVERSED, &r);
    assert_false(r.blocked);
    assert_false(rec.answer_unusable);
    assert_false(rec.needs_supervisor);
    assert_string_equal(rec.setl_id, "");
    assert_infnos(f, "ec.query,1101,2101,2102,2601");
    assert_int_equal(f->prn.begun, 0);
}

static void http_202_reversed_and_blocked_until_released(void **state)
{
    fx *f = fixture(state);
    fake_scanner_push(&f->scan, SS_CODE);
    ss_push_until_2102(f->srv);
    ss_push_status(f->srv, 202, ss_settlement("S-202", SS_PSN_NO, &SS_SPLIT), false);
    ss_push(f->srv, ss_ack());
    evt_ecr_result r;
    evt_order_record rec =
        sale_ends(f, "ORD-B", EVT_ERR_HTTP_STATUS, EVT_ECR_FAILED, EVT_ORDER_REVERSED, &r);
    assert_true(r.blocked);
    assert_true(message_has(&r, "需主管核实"));
    assert_true(rec.answer_unusable);
    assert_true(rec.needs_supervisor);
    assert_infnos(f, "ec.query,1101,2101,2102,2601");
    assert_int_equal(f->prn.begun, 0);
    const evt_ui_screen *s = fake_ui_last_titled(&f->ui, "结算未完成");
    assert_non_null(s);
    assert_true(fake_ui_screen_has(s, "请主管核实"));

    /* Sent again: the blocked answer, nothing scanned or sent (no settle-reverse loop). */
    size_t sent = tls_ts_request_count(f->srv);
    fake_scanner_push(&f->scan, SS_CODE_2);
    evt_ecr_result again;
    assert_int_equal(sale(f, "ORD-B", &again), EVT_ERR_HTTP_STATUS);
    assert_int_equal(again.status, EVT_ECR_FAILED);
    assert_true(again.blocked);
    assert_int_equal(tls_ts_request_count(f->srv), sent);
    assert_int_equal(f->scan.delivered, 1);
    char ids[4][EVT_ORDER_ID_BYTES];
    unsigned count = 0;
    assert_int_equal(evt_txn_blocked_orders(&f->t, ids, 4, &count), EVT_OK);
    assert_int_equal(count, 1);
    assert_string_equal(ids[0], "ORD-B");

    /* A supervisor releases it; the POS may then try again. */
    assert_int_equal(evt_txn_release_order(&f->t, "ORD-NONE"), EVT_ERR_NOT_FOUND);
    assert_int_equal(evt_txn_release_order(&f->t, "ORD-B"), EVT_OK);
    assert_int_equal(evt_txn_release_order(&f->t, "ORD-B"), EVT_ERR_NOT_FOUND);
    assert_int_equal(evt_txn_blocked_orders(&f->t, ids, 4, &count), EVT_OK);
    assert_int_equal(count, 0);
    rec = record_of(f, "ORD-B");
    assert_int_equal(rec.state, EVT_ORDER_REVERSED);
    assert_false(rec.needs_supervisor);
    ss_push_until_2102(f->srv);
    ss_push(f->srv, ss_settlement("S-B", SS_PSN_NO, &SS_SPLIT));
    assert_int_equal(sale(f, "ORD-B", &again), EVT_OK);
    assert_int_equal(again.status, EVT_ECR_SETTLED);
}

static void unusable_settlement_answers_reversed_and_blocked(void **state)
{
    fx *f = fixture(state);
    ss_split unbalanced = SS_SPLIT;
    unbalanced.cash = 1;
    ss_split other_total = SS_SPLIT;
    other_total.total += 100;
    other_total.fund += 100;
    char bodies[5][4096];
    snprintf(bodies[0], sizeof bodies[0], "%s",
             ss_settlement("S-U", "12010400000000000000000002", &SS_SPLIT));
    snprintf(bodies[1], sizeof bodies[1], "%s", ss_settlement(NULL, SS_PSN_NO, &SS_SPLIT));
    snprintf(bodies[2], sizeof bodies[2], "%s", ss_settlement("S-U", SS_PSN_NO, &unbalanced));
    snprintf(bodies[3], sizeof bodies[3], "%s", ss_settlement("S-U", SS_PSN_NO, &other_total));
    snprintf(bodies[4], sizeof bodies[4], "{\"infcode\":0,\"output\":{\"setlinfo\":");
    static const struct {
        const char *what;
        evt_err err;
    } cases[] = {
        {"another person's settlement", EVT_ERR_PROTO_PERSON_MISMATCH},
        {"no setl_id", EVT_ERR_PROTO_FIELD_MISSING},
        {"amounts not adding up", EVT_ERR_MONEY_MISMATCH},
        {"medfee_sumamt not the order total", EVT_ERR_MONEY_MISMATCH},
        {"body not JSON", EVT_ERR_JSON_MALFORMED},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char order[16];
        snprintf(order, sizeof order, "ORD-U%zu", i);
        size_t from = tls_ts_request_count(f->srv);
        fake_scanner_push(&f->scan, i % 2 ? SS_CODE : SS_CODE_2);
        ss_push_until_2102(f->srv);
        ss_push(f->srv, bodies[i]);
        ss_push(f->srv, ss_ack());
        evt_ecr_result r;
        evt_err err = sale(f, order, &r);
        evt_order_record rec = record_of(f, order);
        if (err != cases[i].err || r.status != EVT_ECR_FAILED || !r.blocked ||
            rec.state != EVT_ORDER_REVERSED || !rec.needs_supervisor || !rec.answer_unusable) {
            fail_msg("%s: %s, POS %s blocked=%d, record %s supervisor=%d", cases[i].what,
                     evt_err_name(err), evt_ecr_status_name(r.status), r.blocked,
                     evt_order_state_name(rec.state), rec.needs_supervisor);
        }
        assert_int_equal(rec.error, cases[i].err);
        assert_infnos_since(f, from, "ec.query,1101,2101,2102,2601");
        char omsgid[EVT_MSGID_BYTES];
        ss_request_field(f->srv, from + 4, "omsgid", omsgid, sizeof omsgid);
        assert_string_equal(omsgid, rec.msgid);
    }
    /* Nothing was printed or shown as settled. */
    assert_int_equal(f->prn.begun, 0);
    assert_int_equal(fake_ui_seen(&f->ui, "结算成功"), 0);
    assert_int_equal(f->t.counters.settled, 0);
    assert_int_equal(evt_platform_pending_reversals(f->p), 0);
    assert_no_personal_data_logged();
}

/* The answer arrives; the flash then fails the one read the SETTLED record needs. */
static void fail_next_read(void *arg, size_t index, const char *request, size_t len)
{
    (void)index;
    (void)len;
    flaky_storage *fs = arg;
    if (strstr(request, "\"infno\":\"2102\"") != NULL) {
        atomic_store(&fs->fail_reads, 1);
    }
}

static void unrecordable_settlement_reversed_not_printed(void **state)
{
    fx *f = fixture(state);
    fake_scanner_push(&f->scan, SS_CODE);
    ss_push_until_2102(f->srv);
    ss_push(f->srv, ss_settlement("S-W", SS_PSN_NO, &SS_SPLIT));
    ss_push(f->srv, ss_ack());
    tls_ts_set_request_hook(f->srv, fail_next_read, &f->flash);
    evt_ecr_result r;
    evt_err err = sale(f, "ORD-W", &r);
    tls_ts_set_request_hook(f->srv, NULL, NULL);
    assert_int_equal(atomic_load(&f->flash.failed), 1);
    /* Settled but not recorded would let a re-sent order settle again: reversed instead. */
    assert_int_equal(err, EVT_ERR_STORAGE_IO);
    assert_int_equal(r.status, EVT_ECR_FAILED);
    assert_false(r.blocked);
    assert_true(message_has(&r, "已冲正，未扣款"));
    evt_order_record rec = record_of(f, "ORD-W");
    assert_int_equal(rec.state, EVT_ORDER_REVERSED);
    assert_int_equal(rec.error, EVT_ERR_STORAGE_IO);
    assert_false(rec.needs_supervisor);
    assert_infnos(f, "ec.query,1101,2101,2102,2601");
    assert_request_field(f, 4, "omsgid", rec.msgid);
    assert_int_equal(f->prn.begun, 0);
    assert_int_equal(fake_ui_seen(&f->ui, "结算成功"), 0);
    assert_int_equal(f->t.counters.settled, 0);
}

static void fail_next_read_at_2601(void *arg, size_t index, const char *request, size_t len)
{
    (void)index;
    (void)len;
    flaky_storage *fs = arg;
    if (strstr(request, "\"infno\":\"2601\"") != NULL) {
        atomic_store(&fs->fail_reads, 1);
    }
}

/* The platform acknowledges the reversal but the order's record cannot be updated: the order
 * stays UNKNOWN with its reversal owed (it is repeated later). The cashier must then be told
 * what the POS is told — outcome unknown — not that the sale may be settled again. */
static void unrecorded_reversal_not_shown_as_done(void **state)
{
    fx *f = fixture(state);
    fake_scanner_push(&f->scan, SS_CODE);
    ss_push_until_2102(f->srv);
    tls_ts_push(f->srv, (tls_ts_step){.action = TLS_TS_CLOSE_NO_RESPONSE});
    ss_push(f->srv, ss_ack());
    tls_ts_set_request_hook(f->srv, fail_next_read_at_2601, &f->flash);
    evt_ecr_result r;
    assert_int_equal(sale(f, "ORD-H", &r), EVT_ERR_OUTCOME_UNKNOWN);
    tls_ts_set_request_hook(f->srv, NULL, NULL);
    assert_int_equal(atomic_load(&f->flash.failed), 1);
    assert_infnos(f, "ec.query,1101,2101,2102,2601");
    assert_int_equal(r.status, EVT_ECR_UNKNOWN);
    evt_order_record rec = record_of(f, "ORD-H");
    assert_int_equal(rec.state, EVT_ORDER_UNKNOWN);
    assert_int_equal(evt_platform_owed(f->p, rec.msgid), EVT_PLATFORM_OWED_REVERSAL);
    const evt_ui_screen *last = fake_ui_screen(&f->ui, 0);
    if (fake_ui_screen_has(last, "可重新结算") || !fake_ui_screen_has(last, "结算结果未知")) {
        fail_msg("POS told %s, record %s, but the cashier reads \"%s / %s\"",
                 evt_ecr_status_name(r.status), evt_order_state_name(rec.state), last->title,
                 last->line_count > 1 ? last->lines[1] : "");
    }
}

/* ---- orders that are not started ------------------------------------------------------------ */

static void put_record(fx *f, const char *order_id, evt_order_state state, bool needs_supervisor)
{
    evt_order_record rec = {
        .state = state,
        .error = state == EVT_ORDER_REVERSED ? EVT_ERR_MONEY_MISMATCH : EVT_ERR_OUTCOME_UNKNOWN,
        .answer_unusable = needs_supervisor,
        .needs_supervisor = needs_supervisor,
        .day = today(),
        .total = 3180,
    };
    static unsigned seq;
    snprintf(rec.msgid, sizeof rec.msgid, "H12010400001202403151030003%03u", seq++ % 1000);
    snprintf(rec.psn_no, sizeof rec.psn_no, SS_PSN_NO);
    snprintf(rec.insuplc_admdvs, sizeof rec.insuplc_admdvs, SS_REGION);
    assert_int_equal(evt_orders_put(&f->j, order_id, &rec), EVT_OK);
}

static void recorded_orders_not_started_again(void **state)
{
    fx *f = fixture(state);
    evt_ecr_result first;
    settled_sale(f, "ORD-DONE", &first);
    put_record(f, "ORD-SETTLING", EVT_ORDER_SETTLING, false);
    put_record(f, "ORD-UNKNOWN", EVT_ORDER_UNKNOWN, false);
    put_record(f, "ORD-BLOCKED", EVT_ORDER_REVERSED, true);
    put_record(f, "ORD-ROTTEN", EVT_ORDER_SETTLED, false);
    assert_int_equal(ss_damage_key(&f->nor, "order/ORD-ROTTEN"), 1);
    assert_int_equal(ss_damage_key(&f->nor, "order#ORD-ROTTEN"), 1);

    size_t sent = tls_ts_request_count(f->srv);
    unsigned printed = f->prn.begun;
    fake_scanner_push(&f->scan, SS_CODE_2);
    static const struct {
        const char *order;
        evt_ecr_status status;
        evt_err err;
        bool blocked;
    } cases[] = {
        {"ORD-DONE", EVT_ECR_SETTLED, EVT_OK, false},
        {"ORD-SETTLING", EVT_ECR_UNKNOWN, EVT_ERR_OUTCOME_UNKNOWN, false},
        {"ORD-UNKNOWN", EVT_ECR_UNKNOWN, EVT_ERR_OUTCOME_UNKNOWN, false},
        {"ORD-BLOCKED", EVT_ECR_FAILED, EVT_ERR_MONEY_MISMATCH, true},
        {"ORD-ROTTEN", EVT_ECR_REFUSED, EVT_ERR_ORDER_RECORD_UNREADABLE, true},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        evt_ecr_result r;
        evt_err err = sale(f, cases[i].order, &r);
        if (err != cases[i].err || r.status != cases[i].status || r.blocked != cases[i].blocked) {
            fail_msg("%s: %s, POS %s blocked=%d", cases[i].order, evt_err_name(err),
                     evt_ecr_status_name(r.status), r.blocked);
        }
    }
    /* The settled order's stored result is the first one, word for word. */
    evt_ecr_result again;
    assert_int_equal(sale(f, "ORD-DONE", &again), EVT_OK);
    assert_string_equal(again.setl_id, first.setl_id);
    assert_string_equal(again.msgid, first.msgid);
    assert_int_equal(again.fund, first.fund);
    assert_int_equal(again.account, first.account);
    /* Nothing was scanned, sent or printed for any of them. */
    assert_int_equal(f->scan.delivered, 1);
    assert_int_equal(tls_ts_request_count(f->srv), sent);
    assert_int_equal(f->prn.begun, printed);
    assert_int_equal(fake_ui_seen(&f->ui, SCAN_PROMPT), 1);
    const evt_ui_screen *s = fake_ui_last_titled(&f->ui, "不能结算");
    assert_non_null(s);
    assert_true(fake_ui_screen_has(s, "该订单交易记录损坏"));
}

static void orders_refused_without_a_record(void **state)
{
    fx *f = fixture(state);
    evt_order o;
    evt_ecr_result r;
    /* Longer than the platform's 30 characters for fixmedins_setl_id. */
    ss_order(&o, "ORD-0123456789012345678901234567");
    assert_int_equal(evt_txn_pharmacy_sale(&f->t, &o, &r), EVT_ERR_ORDER_INVALID);
    assert_int_equal(r.status, EVT_ECR_REFUSED);
    ss_order(&o, "ORD-EMPTY");
    o.item_count = 0;
    assert_int_equal(evt_txn_pharmacy_sale(&f->t, &o, &r), EVT_ERR_ORDER_INVALID);
    ss_order(&o, "ORD-BIG");
    o.total = f->cfg.order_max_total + 1;
    assert_int_equal(evt_txn_pharmacy_sale(&f->t, &o, &r), EVT_ERR_ORDER_TOO_LARGE);
    assert_int_equal(r.status, EVT_ECR_REFUSED);
    /* No clock, no sale: the records and msgids need the date. */
    sys.rtc_unset = true;
    ss_order(&o, "ORD-CLOCK");
    assert_int_equal(evt_txn_pharmacy_sale(&f->t, &o, &r), EVT_ERR_INTERNAL);
    sys.rtc_unset = false;
    assert_int_equal(r.status, EVT_ECR_FAILED);
    assert_true(message_has(&r, "时钟未设置"));
    evt_order_record rec;
    assert_int_equal(evt_orders_get(&f->j, "ORD-EMPTY", &rec), EVT_ERR_NOT_FOUND);
    assert_int_equal(evt_orders_get(&f->j, "ORD-BIG", &rec), EVT_ERR_NOT_FOUND);
    assert_int_equal(evt_orders_get(&f->j, "ORD-CLOCK", &rec), EVT_ERR_NOT_FOUND);
    assert_infnos(f, "");
    assert_int_equal(f->scan.reads, 0);
}

/* Refused before anything is scanned, so the customer's code is not spent on a sale the
 * terminal could not remember. */
static void assert_refused_for_room(fx *f, const char *order_id)
{
    size_t sent = tls_ts_request_count(f->srv);
    fake_scanner_push(&f->scan, SS_CODE);
    evt_ecr_result r;
    assert_int_equal(sale(f, order_id, &r), EVT_ERR_JOURNAL_FULL);
    assert_int_equal(r.status, EVT_ECR_REFUSED);
    assert_int_equal(r.error, EVT_ERR_JOURNAL_FULL);
    assert_int_equal(f->scan.delivered, 0);
    assert_int_equal(tls_ts_request_count(f->srv), sent);
    evt_order_record rec;
    assert_int_equal(evt_orders_get(&f->j, order_id, &rec), EVT_ERR_NOT_FOUND);
    assert_non_null(fake_ui_last_titled(&f->ui, "不能开始交易"));
    assert_int_equal(fake_ui_seen(&f->ui, SCAN_PROMPT), 0);
}

static void full_journal_refused_before_scanning(void **state)
{
    fx *f = fixture(state);
    /* The journal's index is full of keys no retention rule may remove. */
    unsigned n = 0;
    for (; n < MAX_KEYS && evt_orders_make_room(&f->j, today(), 2, NULL) == EVT_OK; n++) {
        char key[32];
        snprintf(key, sizeof key, "fill/%u", n);
        assert_int_equal(evt_journal_put(&f->j, key, "", 0), EVT_OK);
    }
    assert_true(n > 10 && n < MAX_KEYS);
    assert_refused_for_room(f, "ORD-FULL");
}

/* make_room's "a sale can be recorded" must hold: while it says so, another order record
 * always fits, and once it says no, the sale is refused before scanning. */
static void room_reported_is_room_there(void **state)
{
    fx *f = fixture(state);
    /* Today's settled orders may not go (the POS may still re-send them): fill with them. */
    evt_order_record rec = {.state = EVT_ORDER_SETTLED, .day = today(), .total = 100, .fund = 100};
    unsigned n = 0;
    for (; n < 1000 && evt_orders_make_room(&f->j, today(), 2, NULL) == EVT_OK; n++) {
        char id[32];
        snprintf(id, sizeof id, "FILL-%u", n);
        snprintf(rec.setl_id, sizeof rec.setl_id, "S-%u", n);
        evt_err err = evt_orders_put(&f->j, id, &rec);
        if (err != EVT_OK) {
            evt_journal_stats st;
            evt_journal_stats_get(&f->j, &st);
            fail_msg("make_room said a sale fits, yet order record %u was refused (%s): "
                     "free_bytes %u of %u, live keys %u of %u",
                     n, evt_err_name(err), st.free_bytes, st.capacity_bytes, st.live_keys,
                     st.index_capacity);
        }
    }
    assert_true(n > 10 && n < 1000);
    assert_refused_for_room(f, "ORD-FULL");
}

/* ---- start-up recovery ------------------------------------------------------------------- */

/* A sale whose flash is photographed when its 2102 reaches the platform; the sale itself
 * then ends as the script says. */
static void sale_photographed_at_2102(fx *f, const char *order_id, ss_snapshot *snap)
{
    ss_snapshot_arm(snap, &f->nor, "2102");
    tls_ts_set_request_hook(f->srv, ss_snapshot_hook, snap);
    evt_ecr_result r;
    settled_sale(f, order_id, &r);
    tls_ts_set_request_hook(f->srv, NULL, NULL);
    assert_true(atomic_load(&snap->taken));
}

static void recovery_makes_every_order_in_doubt_owe_a_reversal(void **state)
{
    fx *f = fixture(state);
    /* A: power went while its 2102 was out: SETTLING and its pend record. */
    ss_snapshot snap = {0};
    sale_photographed_at_2102(f, "ORD-A", &snap);
    evt_order_record a = record_of(f, "ORD-A");
    fx_reboot(f, snap.image, false);
    ss_snapshot_free(&snap);
    assert_int_equal(record_of(f, "ORD-A").state, EVT_ORDER_SETTLING);
    /* B: SETTLING whose pend had already become a reversal owed. */
    put_record(f, "ORD-B", EVT_ORDER_SETTLING, false);
    evt_order_record b = record_of(f, "ORD-B");
    evt_platform_settle_ref ref = {
        .psn_no = SS_PSN_NO, .insuplc_admdvs = SS_REGION, .order_ref = "ORD-B"};
    assert_int_equal(evt_platform_owe_reversal(f->p, EVT_INFNO_SETTLE, b.msgid, &ref), EVT_OK);
    /* C: SETTLING and nothing of the platform's (the pend record is gone). */
    put_record(f, "ORD-C", EVT_ORDER_SETTLING, false);
    evt_order_record c = record_of(f, "ORD-C");
    snprintf(c.psn_no, sizeof c.psn_no, "12010400000000000000000003");
    snprintf(c.insuplc_admdvs, sizeof c.insuplc_admdvs, "120105");
    assert_int_equal(evt_orders_put(&f->j, "ORD-C", &c), EVT_OK);
    fx_reboot(f, NULL, false);

    size_t sent = tls_ts_request_count(f->srv);
    assert_int_equal(evt_txn_recover(&f->t), EVT_OK);
    assert_int_equal(tls_ts_request_count(f->srv), sent); /* recovery only journals */
    const evt_order_record *all[] = {&a, &b, &c};
    const char *ids[] = {"ORD-A", "ORD-B", "ORD-C"};
    for (int i = 0; i < 3; i++) {
        evt_order_record rec = record_of(f, ids[i]);
        assert_int_equal(rec.state, EVT_ORDER_UNKNOWN);
        assert_int_equal(rec.error, EVT_ERR_OUTCOME_UNKNOWN);
        assert_string_equal(rec.msgid, all[i]->msgid);
        assert_int_equal(evt_platform_owed(f->p, rec.msgid), EVT_PLATFORM_OWED_REVERSAL);
        evt_ecr_result r;
        assert_int_equal(evt_txn_lookup_order(&f->t, ids[i], &r), EVT_OK);
        assert_int_equal(r.status, EVT_ECR_UNKNOWN);
    }
    assert_int_equal(evt_platform_pending_reversals(f->p), 3);
    /* Recovering again changes nothing (no second reversal for B). */
    assert_int_equal(evt_txn_recover(&f->t), EVT_OK);
    assert_int_equal(evt_platform_pending_reversals(f->p), 3);

    /* The reversals go out (C's from its own record) and each order ends reversed. */
    ss_push(f->srv, ss_sign_in());
    ss_push(f->srv, ss_ack());
    ss_push(f->srv, ss_ack());
    ss_push(f->srv, ss_ack());
    assert_int_equal(evt_platform_retry_reversals(f->p, 4, NULL), EVT_OK);
    assert_infnos_since(f, sent, "9001,2601,2601,2601");
    assert_int_equal(ss_count_with(f->srv, sent, "omsgid", c.msgid), 1);
    for (size_t i = sent + 1; i < sent + 4; i++) {
        char omsgid[EVT_MSGID_BYTES], psn[40], region[8];
        ss_request_field(f->srv, i, "omsgid", omsgid, sizeof omsgid);
        if (strcmp(omsgid, c.msgid) == 0) {
            ss_request_field(f->srv, i, "psn_no", psn, sizeof psn);
            ss_request_field(f->srv, i, "insuplc_admdvs", region, sizeof region);
            assert_string_equal(psn, "12010400000000000000000003");
            assert_string_equal(region, "120105");
        }
    }
    for (int i = 0; i < 3; i++) {
        evt_order_record rec = record_of(f, ids[i]);
        assert_int_equal(rec.state, EVT_ORDER_REVERSED);
        assert_false(rec.needs_supervisor);
    }
    assert_int_equal(evt_platform_pending_reversals(f->p), 0);
}

static void settled_order_with_its_pend_is_not_reversed(void **state)
{
    fx *f = fixture(state);
    ss_snapshot snap = {0};
    sale_photographed_at_2102(f, "ORD-D", &snap);
    evt_order_record settled = record_of(f, "ORD-D");
    /* Power went after the SETTLED record was written, before the pend record was dropped. */
    fx_reboot(f, snap.image, false);
    ss_snapshot_free(&snap);
    assert_int_equal(evt_orders_put(&f->j, "ORD-D", &settled), EVT_OK);
    assert_int_equal(evt_platform_owed(f->p, settled.msgid), EVT_PLATFORM_OWED_PENDING);
    assert_int_equal(evt_txn_recover(&f->t), EVT_OK);
    /* The money moved and the terminal knows it: the pend record goes, nothing is reversed. */
    assert_int_equal(evt_platform_owed(f->p, settled.msgid), EVT_PLATFORM_OWED_NONE);
    assert_int_equal(evt_platform_pending_reversals(f->p), 0);
    evt_order_record rec = record_of(f, "ORD-D");
    assert_int_equal(rec.state, EVT_ORDER_SETTLED);
    assert_string_equal(rec.setl_id, settled.setl_id);
    evt_ecr_result r;
    size_t sent = tls_ts_request_count(f->srv);
    assert_int_equal(sale(f, "ORD-D", &r), EVT_OK);
    assert_int_equal(r.status, EVT_ECR_SETTLED);
    assert_int_equal(tls_ts_request_count(f->srv), sent);
}

/* ---- day totals, receipts -------------------------------------------------------------------- */

static void day_totals_from_the_records(void **state)
{
    fx *f = fixture(state);
    evt_ecr_result r;
    settled_sale(f, "ORD-T1", &r);
    /* A second sale with 共济 and cash in its split. */
    ss_split mixed = {.total = 3180,
                      .fund = 1556,
                      .account = 1000,
                      .mutual_aid = 400,
                      .cash = 224,
                      .balance = 0,
                      .balance_present = true};
    fake_scanner_push(&f->scan, SS_CODE_2);
    ss_push(f->srv, ss_voucher(SS_CERTNO, SS_NAME));
    ss_push(f->srv, ss_person(SS_PSN_NO, SS_CERTNO, SS_NAME, "1", ""));
    ss_push(f->srv, ss_settlement(NULL, SS_PSN_NO, &mixed));
    ss_push(f->srv, ss_settlement("S-T2", SS_PSN_NO, &mixed));
    assert_int_equal(sale(f, "ORD-T2", &r), EVT_OK);
    assert_int_equal(r.mutual_aid, 400);
    assert_int_equal(r.cash, 224);
    /* A refusal and a reversal move nothing; yesterday's sale belongs to yesterday. */
    fake_ui_key(&f->ui, SCAN_PROMPT, EVT_KEY_CANCEL);
    assert_int_equal(sale(f, "ORD-T3", &r), EVT_ERR_CANCELLED);
    fake_scanner_push(&f->scan, SS_CODE_3);
    ss_push_until_2102(f->srv);
    tls_ts_push(f->srv, (tls_ts_step){.action = TLS_TS_CLOSE_NO_RESPONSE});
    ss_push(f->srv, ss_ack());
    assert_int_equal(sale(f, "ORD-T4", &r), EVT_ERR_NET_CLOSED);
    evt_order_record old = record_of(f, "ORD-T1");
    old.day = evt_orders_days_between(20240101, today()) > 0 ? 20240101 : 20230101;
    assert_int_equal(evt_orders_put(&f->j, "ORD-OLD", &old), EVT_OK);

    evt_orders_totals t;
    assert_int_equal(evt_orders_day_totals(&f->j, today(), &t), EVT_OK);
    assert_int_equal(t.count, 2);
    assert_int_equal(t.total, 6360);
    assert_int_equal(t.fund, 3112);
    assert_int_equal(t.account, 2624);
    assert_int_equal(t.mutual_aid, 400);
    assert_int_equal(t.cash, 224);
    assert_int_equal(evt_orders_day_totals(&f->j, old.day, &t), EVT_OK);
    assert_int_equal(t.count, 1);
    assert_int_equal(t.total, 3180);
}

static bool job_says(const fake_printer *p, const char *utf8)
{
    uint8_t gb[64];
    size_t n = 0;
    assert_int_equal(evt_gb18030_from_utf8(utf8, strlen(utf8), gb, sizeof gb, &n), EVT_OK);
    return fake_printer_job_has(p, gb, n);
}

static void failed_receipt_reprinted(void **state)
{
    fx *f = fixture(state);
    assert_int_equal(evt_txn_reprint(&f->t, "H12010400001202611271030002001"), EVT_ERR_NOT_FOUND);
    f->prn.refuse_next = 1; /* out of paper */
    evt_ecr_result r;
    settled_sale(f, "ORD-PAPER", &r);
    assert_int_equal(r.status, EVT_ECR_SETTLED);
    assert_int_equal(record_of(f, "ORD-PAPER").state, EVT_ORDER_SETTLED);
    assert_int_equal(f->prn.ended, 0);
    assert_int_equal(f->t.counters.receipts_failed, 1);
    const evt_ui_screen *s = fake_ui_last_titled(&f->ui, "结算成功");
    assert_non_null(s);
    assert_true(fake_ui_screen_has(s, "打印机缺纸：装纸后在功能菜单补打结算单"));

    /* Paper in: the receipt the customer never got is printed as the original ... */
    assert_int_equal(evt_txn_reprint(&f->t, r.msgid), EVT_OK);
    assert_int_equal(f->prn.ended, 1);
    assert_string_equal(f->prn.job_name, r.msgid);
    assert_true(job_says(&f->prn, "退费、补打凭此码办理"));
    assert_false(job_says(&f->prn, "重打印"));
    /* ... and any further copy says it is one. */
    assert_int_equal(evt_txn_reprint(&f->t, r.msgid), EVT_OK);
    assert_int_equal(f->prn.ended, 2);
    assert_true(job_says(&f->prn, "重打印"));
}

/* Paper out at the third write of the receipt (issue 6: the job streams, so a printer can fail
 * in the middle of it): the sale stays settled, the failure is counted, logged and shown, the
 * printer gets no further write and its job is ended; with paper back the reprint is whole. */
static void receipt_failing_mid_job(void **state)
{
    fx *f = fixture(state);
    f->prn.fail_write_at = 3;
    fake_sys_log_clear(&sys);
    evt_ecr_result r;
    settled_sale(f, "ORD-MIDJOB", &r);
    assert_int_equal(record_of(f, "ORD-MIDJOB").state, EVT_ORDER_SETTLED);
    assert_int_equal(f->t.counters.receipts_failed, 1);
    assert_int_equal(f->prn.begun, 1);
    assert_int_equal(f->prn.writes, 3);
    assert_int_equal(f->prn.ended, 1);
    assert_int_equal(f->prn.job_len, 2 * EVT_RECEIPT_STAGE_BYTES);
    assert_true(fake_sys_logged(&sys, "not printed: EVT_ERR_PRINTER_PAPER_OUT"));
    const evt_ui_screen *s = fake_ui_last_titled(&f->ui, "结算成功");
    assert_non_null(s);
    assert_true(fake_ui_screen_has(s, "打印机缺纸：装纸后在功能菜单补打结算单"));

    assert_int_equal(evt_txn_reprint(&f->t, r.msgid), EVT_OK);
    assert_int_equal(f->prn.ended, 2);
    assert_true(f->prn.writes > 3 + 8);
    assert_true(job_says(&f->prn, "退费、补打凭此码办理"));
    assert_false(job_says(&f->prn, "重打印")); /* the customer never got the original */
    assert_memory_equal(f->prn.job + f->prn.job_len - 4, "\x1DV\x42\x00", 4);
    assert_int_equal(f->t.counters.receipts_failed, 1);
}

/* An order of `lines` lines of long names adding up to SS_SPLIT's total: 0.10 each,
 * the last line the rest. */
static void long_order(evt_order *o, const char *order_id, unsigned lines)
{
    ss_order(o, order_id);
    evt_order_clear_items(o);
    for (unsigned i = 0; i < lines; i++) {
        char medins[16];
        snprintf(medins, sizeof medins, "YP%04u", i);
        evt_fen price = i + 1 < lines ? 10 : SS_SPLIT.total - 10 * (evt_fen)(lines - 1);
        /* 25 CJK characters (75 bytes): long names that 100 lines can have in one order
         * (EVT_ORDER_TEXT_BYTES; the 33-character longest name fits 65 lines, as in one ECR
         * line). */
        assert_int_equal(evt_order_add_item(o, "XJ01CAA040A001010100001", medins,
                                            "复方氨酚烷胺片复方氨酚烷胺片复方氨酚烷胺片复方氨酚", 1,
                                            price),
                         EVT_OK);
    }
    assert_int_equal(o->total, SS_SPLIT.total);
}

/* Issue 6: the receipt streams to the printer, so an order of EVT_ORDER_MAX_ITEMS lines (100)
 * prints in the memory a 1-line order does: the engine holds no job buffer (its arena is the order
 * and the last receipt), printing takes the same arena peak (none on the host, where libqrencode is
 * not in the arena), and the printer gets stage-sized pieces. */
static void receipt_memory_does_not_grow_with_lines(void **state)
{
    fx *f = fixture(state);
    evt_txn spare;
    evt_arena_stats before, after;
    evt_arena_get_stats(&before);
    assert_int_equal(evt_txn_init(&spare, &f->hal, &f->cfg, f->p, &f->j, &f->eui), EVT_OK);
    evt_arena_get_stats(&after);
    evt_txn_deinit(&spare);
    assert_true(after.in_use - before.in_use <= sizeof(evt_order) + 16);

    const unsigned lines[2] = {1, EVT_ORDER_MAX_ITEMS};
    size_t peak[2], job_len[2];
    for (size_t i = 0; i < 2; i++) {
        char id[32];
        snprintf(id, sizeof id, "ORD-LINES-%u", lines[i]);
        evt_order o;
        long_order(&o, id, lines[i]);
        fake_scanner_push(&f->scan, SS_CODE);
        ss_push_until_2102(f->srv);
        ss_push(f->srv, ss_settlement("S-OK", SS_PSN_NO, &SS_SPLIT));
        evt_ecr_result r;
        assert_int_equal(evt_txn_pharmacy_sale(&f->t, &o, &r), EVT_OK);
        f->prn.largest_write = 0;
        evt_arena_stats idle, printing;
        evt_arena_get_stats(&idle);
        evt_arena_reset_peak();
        assert_int_equal(evt_txn_reprint(&f->t, r.msgid), EVT_OK);
        evt_arena_get_stats(&printing);
        peak[i] = printing.peak - idle.in_use;
        assert_int_equal(printing.in_use, idle.in_use);
        job_len[i] = f->prn.job_len;
        assert_int_equal(f->prn.largest_write, EVT_RECEIPT_STAGE_BYTES);
    }
    assert_int_equal(peak[1], peak[0]);
    /* The long receipt really is longer: at least one more printed line per extra line. */
    assert_true(job_len[1] > job_len[0] + (EVT_ORDER_MAX_ITEMS - 1) * 48u);
}

/* ---- supervisors ------------------------------------------------------------------------------
 */

/* PIN hashes made by tools/pin-hash --iterations 1000 (the PINs are never provisioned). */
#define HASH_111111                                                                                \
    "pbkdf2-sha256$1000$1e51db8d0dc517018f37d7f21dd03031$"                                         \
    "1055692e68d32f69263210a505e59a4aa91433beb2dc2269629946da862ec5e3"
#define HASH_222222                                                                                \
    "pbkdf2-sha256$1000$bd74d0f78414a3d137643137d8e01e5d$"                                         \
    "06884382b3fecefe974347db9158831bcd4c1bb0480f99e58fee2cf84d5ce1ec"
#define HASH_333333                                                                                \
    "pbkdf2-sha256$1000$ac713b4501c22734471440261d1e43e1$"                                         \
    "2e961e9e72eb19729d208517928f83b28c34cbce8c0d20108ba51fb93bd8e30a"
#define CASHIER_0001 "operator_1 = 0001|刘晓梅|cashier|" HASH_111111 "\n"
#define SUPERVISORS_0002_0003                                                                      \
    "operator_2 = 0002|王建华|supervisor|" HASH_222222 "\n"                                        \
    "operator_3 = 0003|李秀芳|supervisor|" HASH_333333 "\n"
#define APPROVE_TITLE "主管授权退费"
#define CHOOSE_TITLE  "选择授权主管"

/* The fixture's terminal provisioned again: the legacy opter lines replaced by extra (operator
 * lines, supervisor_pin). The engine reads f->cfg, so it sees the new file at once. */
static void provision(fx *f, const char *extra)
{
    static char text[4096]; /* operator lines are read from the text while the terminal runs */
    char base[4096], msg[160];
    ss_config_text(base, sizeof base, tls_ts_port(f->srv), extra);
    const char *a = strstr(base, "opter = ");
    const char *b = strstr(base, "opter_type");
    bool legacy = strstr(extra, "operator_1") == NULL;
    snprintf(text, sizeof text, "%.*s%s", legacy ? (int)strlen(base) : (int)(a - base), base,
             legacy ? "" : b);
    if (evt_config_parse(text, strlen(text), &f->cfg, msg, sizeof msg) != EVT_OK) {
        fail_msg("provisioning refused: %s", msg);
    }
}

static evt_err approve(fx *f)
{
    bool quit = false;
    evt_err err = evt_txn_supervisor_approves(&f->t, APPROVE_TITLE, "退费 31.80 元", NULL, &quit);
    assert_false(quit);
    return err;
}

/* Issue 7: only a supervisor authorises. The list offers the supervisors, never a cashier, so a
 * cashier's PIN is checked against the chosen supervisor's hash and refused; each supervisor's
 * own PIN approves and the engine knows who it was. */
static void only_a_supervisor_operator_approves(void **state)
{
    fx *f = fixture(state);
    provision(f, CASHIER_0001 SUPERVISORS_0002_0003);
    assert_int_equal(f->cfg.supervisor_count, 2);

    fake_ui_char(&f->ui, CHOOSE_TITLE, '1');
    fake_ui_digits(&f->ui, APPROVE_TITLE, "111111"); /* the cashier's own PIN */
    assert_int_equal(approve(f), EVT_ERR_AUTH_FAILED);
    assert_string_equal(f->t.approver, "");
    const evt_ui_screen *list = fake_ui_last_titled(&f->ui, CHOOSE_TITLE);
    assert_non_null(list);
    assert_int_equal(list->line_count, 2);
    assert_true(fake_ui_screen_has(list, "1 王建华"));
    assert_true(fake_ui_screen_has(list, "2 李秀芳"));
    assert_false(fake_ui_screen_has(list, "刘晓梅"));
    assert_true(fake_ui_seen(&f->ui, "未获授权，请重新办理") > 0);

    fake_ui_char(&f->ui, CHOOSE_TITLE, '2');
    fake_ui_digits(&f->ui, APPROVE_TITLE, "333333");
    assert_int_equal(approve(f), EVT_OK);
    assert_string_equal(f->t.approver, "0003");
    assert_true(fake_ui_screen_has(fake_ui_last_titled(&f->ui, APPROVE_TITLE), "主管：李秀芳"));

    /* Another supervisor's PIN is not this one's. */
    fake_ui_char(&f->ui, CHOOSE_TITLE, '1');
    fake_ui_digits(&f->ui, APPROVE_TITLE, "333333");
    assert_int_equal(approve(f), EVT_ERR_AUTH_FAILED);
    assert_string_equal(f->t.approver, "");

    /* Cancelled at the list: nothing approved, no PIN asked. */
    fake_ui_clear(&f->ui);
    fake_ui_key(&f->ui, CHOOSE_TITLE, EVT_KEY_CANCEL);
    assert_int_equal(approve(f), EVT_ERR_CANCELLED);
    assert_null(fake_ui_last_titled(&f->ui, APPROVE_TITLE));
    assert_int_equal(fake_ui_keys_left(&f->ui), 0);
}

/* Five wrong PINs lock that supervisor (their login too: one counter per person), not the other
 * one; a locked supervisor's right PIN is refused. */
static void wrong_pins_lock_one_supervisor(void **state)
{
    fx *f = fixture(state);
    provision(f, CASHIER_0001 SUPERVISORS_0002_0003);
    for (unsigned i = 0; i < EVT_AUTH_MAX_FAILURES; i++) {
        fake_ui_char(&f->ui, CHOOSE_TITLE, '1');
        fake_ui_digits(&f->ui, APPROVE_TITLE, "999999");
        assert_int_equal(approve(f),
                         i + 1 < EVT_AUTH_MAX_FAILURES ? EVT_ERR_AUTH_FAILED : EVT_ERR_AUTH_LOCKED);
    }
    fake_ui_char(&f->ui, CHOOSE_TITLE, '1');
    fake_ui_digits(&f->ui, APPROVE_TITLE, "222222");
    assert_int_equal(approve(f), EVT_ERR_AUTH_LOCKED);
    assert_true(fake_ui_seen(&f->ui, "请 15 分钟后再试") > 0);
    fake_ui_char(&f->ui, CHOOSE_TITLE, '2');
    fake_ui_digits(&f->ui, APPROVE_TITLE, "333333");
    assert_int_equal(approve(f), EVT_OK);
    assert_string_equal(f->t.approver, "0003");
    /* Their login counts against the same lock. */
    evt_config_operator op;
    assert_int_equal(evt_config_operator_find(&f->cfg, "0002", &op), EVT_OK);
    fake_ui_digits(&f->ui, "操作员密码", "222222");
    bool quit = false;
    const evt_txn_pin_ask login = {.title = "操作员密码", .line = op.name, .label = "密码"};
    size_t supervisor_prompts = fake_ui_seen(&f->ui, "主管密码");
    size_t pin_prompts = fake_ui_seen(&f->ui, "密码：");
    assert_int_equal(evt_txn_operator_approves(&f->t, &op, &login, &quit), EVT_ERR_AUTH_LOCKED);
    /* A login asks for the operator's own PIN: its screen does not call it a supervisor's. */
    assert_true(fake_ui_seen(&f->ui, "密码：") > pin_prompts);
    assert_int_equal(fake_ui_seen(&f->ui, "主管密码"), supervisor_prompts);
}

/* One supervisor: no list, their PIN at once; the release of a blocked order keeps who released
 * it. Without supervisor operators the shared supervisor_pin approves (nobody named); with
 * neither, nobody can. */
static void one_supervisor_shared_pin_or_nobody(void **state)
{
    fx *f = fixture(state);
    provision(f, CASHIER_0001 "operator_2 = 0002|王建华|supervisor|" HASH_222222 "\n");
    put_record(f, "ORD-HELD", EVT_ORDER_REVERSED, true);
    fake_ui_digits(&f->ui, APPROVE_TITLE, "222222");
    assert_int_equal(approve(f), EVT_OK);
    assert_string_equal(f->t.approver, "0002");
    assert_null(fake_ui_last_titled(&f->ui, CHOOSE_TITLE));
    assert_int_equal(evt_txn_release_order(&f->t, "ORD-HELD"), EVT_OK);
    evt_order_record rec = record_of(f, "ORD-HELD");
    assert_false(rec.needs_supervisor);
    assert_string_equal(rec.approver, "0002");

    provision(f, CASHIER_0001 "supervisor_pin = " HASH_222222 "\n");
    assert_int_equal(f->cfg.supervisor_count, 0);
    fake_ui_digits(&f->ui, APPROVE_TITLE, "111111");
    assert_int_equal(approve(f), EVT_ERR_AUTH_FAILED);
    fake_ui_digits(&f->ui, APPROVE_TITLE, "222222");
    assert_int_equal(approve(f), EVT_OK);
    assert_string_equal(f->t.approver, "");

    provision(f, CASHIER_0001);
    fake_ui_clear(&f->ui);
    assert_int_equal(approve(f), EVT_ERR_CONFIG_MISSING);
    assert_true(fake_ui_seen(&f->ui, "未配置主管密码，请联系技术员") > 0);
}

/* ---- program -------------------------------------------------------------------------------- */

static int group_setup(void **state)
{
    (void)state;
    evt_arena_init(arena_buf, sizeof arena_buf);
    fake_sys_init(&sys);
    evt_log_init(&sys.hal);
    return tls_ts_peer_setup(&peer, "test_txn");
}

static int group_teardown(void **state)
{
    (void)state;
    tls_ts_peer_teardown(&peer);
    return 0;
}

#define TXN_TEST(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        TXN_TEST(settled_sale_recorded_printed_and_told),
        TXN_TEST(scan_cancelled_refused),
        TXN_TEST(scan_timed_out_refused),
        TXN_TEST(quit_during_scan_refused_and_stops),
        TXN_TEST(refused_codes_keep_the_sale_open),
        TXN_TEST(malformed_voucher_answer_fails),
        TXN_TEST(person_not_the_vouchers_refused_before_2101),
        TXN_TEST(suspended_insurance_refused),
        TXN_TEST(terminated_insurance_refused),
        TXN_TEST(cashier_declines_identity),
        TXN_TEST(cashier_silent_at_identity),
        TXN_TEST(cashier_declines_split),
        TXN_TEST(presettlement_not_adding_up_fails),
        TXN_TEST(presettlement_refused),
        TXN_TEST(settlement_refused_moves_nothing),
        TXN_TEST(settlement_never_sent_fails),
        TXN_TEST(lost_answer_reversed_may_retry),
        TXN_TEST(lost_answer_unreversed_stays_unknown),
        TXN_TEST(gateway_5xx_reversed_not_blocked),
        TXN_TEST(http_202_reversed_and_blocked_until_released),
        TXN_TEST(unusable_settlement_answers_reversed_and_blocked),
        TXN_TEST(unrecordable_settlement_reversed_not_printed),
        TXN_TEST(unrecorded_reversal_not_shown_as_done),
        TXN_TEST(recorded_orders_not_started_again),
        TXN_TEST(orders_refused_without_a_record),
        TXN_TEST(full_journal_refused_before_scanning),
        TXN_TEST(room_reported_is_room_there),
        TXN_TEST(recovery_makes_every_order_in_doubt_owe_a_reversal),
        TXN_TEST(settled_order_with_its_pend_is_not_reversed),
        TXN_TEST(day_totals_from_the_records),
        TXN_TEST(failed_receipt_reprinted),
        TXN_TEST(receipt_failing_mid_job),
        TXN_TEST(receipt_memory_does_not_grow_with_lines),
        TXN_TEST(only_a_supervisor_operator_approves),
        TXN_TEST(wrong_pins_lock_one_supervisor),
        TXN_TEST(one_supervisor_shared_pin_or_nobody),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
