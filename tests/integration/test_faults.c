/*
 * What the terminal does when the platform or the connection misbehaves: every fault knob
 * of the emulator gives the cashier a clear message and no receipt, money that may have moved
 * is reversed (2601), and a reversal that cannot be delivered survives a reboot. Also the TLS
 * refusals: untrusted certificate, wrong host name.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

#define AMOXICILLIN "XJ01CAA040A001010100001"

/* Confirm identity and split; acknowledge whatever error screen follows. */
static const char confirm_then_ack[] = "请核对患者身份 => OK\n"
                                       "请确认结算金额 => OK\n"
                                       "结算 => OK\n";

typedef it_fixture fixture;

static void run_sale(fixture *f, const char *person, evt_ecr_result *r)
{
    char code[128], id[40];
    assert_int_equal(emu_code(&f->e, person, NULL, 120, code, sizeof code), 0);
    term_scan(&f->t, code);
    evt_order o;
    order_make(&o, order_id_next(id, sizeof id), AMOXICILLIN, "阿莫西林胶囊", 2, 1250);
    evt_app_sale(f->t.app, &o, r);
}

/* A fault on 2102 after which the platform's ledger must end where it started: the terminal
 * could not learn the outcome, so it reversed the settlement. The ledger is read only once the
 * emulator itself has recorded what it did with the 2102 (a delayed request is processed after
 * the terminal gave up): never after a sleep. `handled` is what that record must say. */
static void settlement_fault_is_reversed_as(fixture *f, const char *kind, const char *value,
                                            const char *handled)
{
    term_options opt = {.keys = confirm_then_ack, .http_timeout_ms = 2000};
    assert_int_equal(term_start(&f->t, &f->e, kind, &opt), 0);
    int64_t before = emu_balance_fen(&f->e, "employee");
    assert_int_equal(emu_fault(&f->e, "2102", kind, value, 1), 0);
    evt_ecr_result r;
    run_sale(f, "employee", &r);
    assert_int_equal(r.status, EVT_ECR_FAILED); /* reversal acknowledged: nothing charged */
    assert_true(strstr(r.message, "已冲正") != NULL);
    char record[256];
    assert_int_equal(emu_handled(&f->e, r.msgid, 10000, record, sizeof record), 0);
    if (strstr(record, handled) == NULL) {
        fail_msg("the emulator handled the 2102 as \"%s\", expected \"%s\"", record, handled);
    }
    assert_true(term_screen_seen(&f->t, "结算未完成"));
    assert_true(term_screen_seen(&f->t, "患者未被扣款"));
    assert_int_equal(term_receipts(&f->t), 0);
    assert_int_equal(emu_balance_fen(&f->e, "employee"), before);
    assert_true(emu_count(&f->e, "reversals") >= 1);
    evt_app_figures fig;
    evt_app_get_figures(f->t.app, &fig);
    assert_int_equal(fig.reversals_pending, 0);
}

static void close_before_answer(void **state)
{
    settlement_fault_is_reversed_as(*state, "close_before", NULL, "fault=close_before");
}

static void close_mid_response_after_money_moved(void **state)
{
    fixture *f = *state;
    settlement_fault_is_reversed_as(f, "close_mid", NULL, "infcode=0 fault=close_mid");
    /* The emulator did settle before cutting the answer; the reversal cancelled it. */
    assert_int_equal(emu_count(&f->e, "settlements"), 1);
}

static void malformed_json_answer(void **state)
{
    settlement_fault_is_reversed_as(*state, "malformed_json", NULL,
                                    "infcode=0 fault=malformed_json");
}

static void http_500_from_gateway(void **state)
{
    settlement_fault_is_reversed_as(*state, "http_status", "500", "fault=http_status");
}

/* The answer comes after the terminal gave up and reversed: the reversal reached the platform
 * first and barred the msgid, so the late 2102 is refused and moves no money. */
static void answer_slower_than_timeout(void **state)
{
    fixture *f = *state;
    settlement_fault_is_reversed_as(f, "delay", "3500", "infcode=-1 fault=delay");
    assert_int_equal(emu_count(&f->e, "settlements"), 0);
}

/* A business error is a definitive answer: no reversal, the platform's reason on screen. */
static void business_error_shown(void **state)
{
    fixture *f = *state;
    term_options opt = {.keys = confirm_then_ack};
    assert_int_equal(term_start(&f->t, &f->e, "business", &opt), 0);
    int64_t before = emu_balance_fen(&f->e, "employee");
    assert_int_equal(emu_fault(&f->e, "2102", "business_error", "定点机构结算资格暂停", 1), 0);
    evt_ecr_result r;
    run_sale(f, "employee", &r);
    assert_int_equal(r.status, EVT_ECR_REFUSED);
    assert_int_equal(r.error, EVT_ERR_PLATFORM_REJECTED);
    assert_true(term_screen_seen(&f->t, "定点机构结算资格暂停"));
    assert_int_equal(term_receipts(&f->t), 0);
    assert_int_equal(emu_count(&f->e, "reversals"), 0);
    assert_int_equal(emu_balance_fen(&f->e, "employee"), before);
}

/* Faults before money can move: a clear failure, no reversal needed. */
static void person_query_http_503(void **state)
{
    fixture *f = *state;
    term_options opt = {.keys = "参保信息查询失败 => OK\n"};
    assert_int_equal(term_start(&f->t, &f->e, "p503", &opt), 0);
    assert_int_equal(emu_fault(&f->e, "1101", "http_status", "503", 1), 0);
    evt_ecr_result r;
    run_sale(f, "employee", &r);
    assert_int_equal(r.status, EVT_ECR_FAILED);
    assert_int_equal(r.error, EVT_ERR_HTTP_STATUS);
    assert_true(term_screen_seen(&f->t, "医保平台服务异常"));
    assert_int_equal(emu_count(&f->e, "settlements"), 0);
    assert_int_equal(emu_count(&f->e, "reversals"), 0);
    assert_int_equal(term_receipts(&f->t), 0);
}

static void decode_answer_malformed(void **state)
{
    fixture *f = *state;
    term_options opt = {.keys = "电子凭证解码失败 => OK\n"};
    assert_int_equal(term_start(&f->t, &f->e, "ecjson", &opt), 0);
    assert_int_equal(emu_fault(&f->e, "ec.query", "malformed_json", NULL, 1), 0);
    evt_ecr_result r;
    run_sale(f, "employee", &r);
    assert_int_equal(r.status, EVT_ECR_FAILED);
    assert_int_equal(r.error, EVT_ERR_JSON_MALFORMED);
    assert_true(term_screen_seen(&f->t, "平台应答数据损坏"));
    assert_int_equal(term_receipts(&f->t), 0);
}

/* The connection dies after 2102 and the reversal cannot get through either: the outcome
 * stays unknown, the reversal is owed across a reboot and delivered once the platform is
 * reachable again. No money is lost either way. */
static void reversal_survives_reboot(void **state)
{
    fixture *f = *state;
    term_options opt = {.keys = confirm_then_ack, .http_timeout_ms = 2000};
    assert_int_equal(term_start(&f->t, &f->e, "reboot", &opt), 0);
    int64_t before = emu_balance_fen(&f->e, "employee");
    assert_int_equal(emu_fault(&f->e, "2102", "close_mid", NULL, 1), 0);
    assert_int_equal(emu_fault(&f->e, "2601", "close_before", NULL, 3), 0);
    evt_ecr_result r;
    run_sale(f, "employee", &r);
    assert_int_equal(r.status, EVT_ECR_UNKNOWN);
    assert_int_equal(r.error, EVT_ERR_OUTCOME_UNKNOWN);
    assert_true(term_screen_seen(&f->t, "结算结果未知"));
    assert_int_equal(term_receipts(&f->t), 0);
    /* money moved on the platform and is not yet reversed */
    assert_true(emu_balance_fen(&f->e, "employee") < before);

    /* power cut: the terminal restarts from its flash */
    term_stop(&f->t);
    term_options again = {.reuse_flash = true, .http_timeout_ms = 2000};
    assert_int_equal(term_start(&f->t, &f->e, "reboot", &again), 0);
    evt_app_figures fig;
    evt_app_get_figures(f->t.app, &fig);
    assert_int_equal(fig.reversals_pending, 1);

    /* the idle loop retries (the emulator's 2601 fault has attempts left: bounded loop) */
    emu_fault_clear(&f->e);
    for (int i = 0; i < 20 && fig.reversals_pending > 0; i++) {
        bool quit = false;
        evt_app_step(f->t.app, 100, &quit);
        evt_app_get_figures(f->t.app, &fig);
    }
    assert_int_equal(fig.reversals_pending, 0);
    assert_int_equal(emu_balance_fen(&f->e, "employee"), before);
}

/* A damaged journal record (flash bit rot) is skipped with a message; the terminal keeps
 * working. */
static void corrupt_journal_record_skipped(void **state)
{
    fixture *f = *state;
    term_options opt = {.keys = "请核对患者身份 => OK\n请确认结算金额 => OK\n结算成功 => OK\n"};
    assert_int_equal(term_start(&f->t, &f->e, "rot", &opt), 0);
    evt_ecr_result r;
    run_sale(f, "employee", &r);
    assert_int_equal(r.status, EVT_ECR_SETTLED);
    char key[64];
    snprintf(key, sizeof key, "order/%s", r.order_id);
    term_stop(&f->t);

    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/term-rot/flash.img", f->e.dir);
    FILE *fl = fopen(path, "r+b");
    assert_non_null(fl);
    static unsigned char img[64 * 1024];
    assert_int_equal(fread(img, 1, sizeof img, fl), sizeof img);
    unsigned char *hit = memmem(img, sizeof img, key, strlen(key));
    assert_non_null(hit);
    long off = (long)(hit - img) + (long)strlen(key) + 8; /* inside the stored result */
    img[off] ^= 0x10;                                     /* NOR rot: any bit may flip */
    fseek(fl, off, SEEK_SET);
    fputc(img[off], fl);
    fclose(fl);

    term_options again = {.reuse_flash = true, .keys = opt.keys};
    assert_int_equal(term_start(&f->t, &f->e, "rot", &again), 0);
    assert_true(term_screen_seen(&f->t, "交易日志损坏，已跳过损坏记录"));
    run_sale(f, "employee", &r);
    assert_int_equal(r.status, EVT_ECR_SETTLED);
    assert_int_equal(term_receipts(&f->t), 2);
}

static void untrusted_certificate_refused(void **state)
{
    fixture *f = *state;
    term_options opt = {.keys = "医保平台通信失败 => OK\n", .ca_file = "rogue-ca.pem"};
    assert_int_equal(term_start(&f->t, &f->e, "rogue", &opt), 0);
    evt_ecr_result r;
    run_sale(f, "employee", &r);
    assert_int_equal(r.status, EVT_ECR_FAILED);
    assert_int_equal(r.error, EVT_ERR_TLS_CERT_UNTRUSTED);
    assert_true(term_screen_seen(&f->t, "平台证书不受信任"));
    /* The connection's failure, not the patient's code: the title says so. */
    assert_true(term_screen_seen(&f->t, "医保平台通信失败"));
    assert_false(term_screen_seen(&f->t, "电子凭证解码失败"));
    assert_int_equal(emu_count(&f->e, "settlements"), 0);
}

static void wrong_hostname_refused(void **state)
{
    fixture *f = *state;
    term_options opt = {.keys = "医保平台通信失败 => OK\n", .server_name = "wrong.evt.test"};
    assert_int_equal(term_start(&f->t, &f->e, "hostname", &opt), 0);
    evt_ecr_result r;
    run_sale(f, "employee", &r);
    assert_int_equal(r.status, EVT_ECR_FAILED);
    assert_int_equal(r.error, EVT_ERR_TLS_HOSTNAME);
    assert_true(term_screen_seen(&f->t, "平台证书与地址不符"));
    assert_false(term_screen_seen(&f->t, "电子凭证解码失败"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(close_before_answer, it_setup, it_teardown),
        cmocka_unit_test_setup_teardown(close_mid_response_after_money_moved, it_setup,
                                        it_teardown),
        cmocka_unit_test_setup_teardown(malformed_json_answer, it_setup, it_teardown),
        cmocka_unit_test_setup_teardown(http_500_from_gateway, it_setup, it_teardown),
        cmocka_unit_test_setup_teardown(answer_slower_than_timeout, it_setup, it_teardown),
        cmocka_unit_test_setup_teardown(business_error_shown, it_setup, it_teardown),
        cmocka_unit_test_setup_teardown(person_query_http_503, it_setup, it_teardown),
        cmocka_unit_test_setup_teardown(decode_answer_malformed, it_setup, it_teardown),
        cmocka_unit_test_setup_teardown(reversal_survives_reboot, it_setup, it_teardown),
        cmocka_unit_test_setup_teardown(corrupt_journal_record_skipped, it_setup, it_teardown),
        cmocka_unit_test_setup_teardown(untrusted_certificate_refused, it_setup, it_teardown),
        cmocka_unit_test_setup_teardown(wrong_hostname_refused, it_setup, it_teardown),
    };
    return cmocka_run_group_tests_name("integration.faults", tests, NULL, NULL);
}
