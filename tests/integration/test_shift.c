/*
 * Operators and shifts end to end (issue 7): operators provisioned with their PINs log in on the
 * terminal's function menu, sign in (9001) for their shift and out (9002), the platform emulator
 * checks that every request carries the sign_no of the operator in its envelope; no sale while
 * nobody is signed in; a sign_no the platform stopped accepting renewed; wrong PINs locked out per
 * operator; a failed start-up sign-in shown as not ready.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define AMOXICILLIN "XJ01CAA040A001010100001" /* class A */
#define PIN_1       "135790"
#define PIN_2       "246802"

#define SALE_KEYS "请核对患者身份 => OK\n请确认结算金额 => OK\n结算成功 => OK\n"
/* From the idle screen without anybody on shift: [功能] → 6 → the operator → the PIN. */
#define LOGIN(who, pin)                                                                            \
    "未签到 => MENU\n功能菜单 => TYPE:6\n操作员登录：选择操作员 => TYPE:" who "\n"                 \
    "操作员密码 => DIGITS:" pin "\n"
#define LOGOUT "就绪 => MENU\n功能菜单 => TYPE:7\n"

typedef it_fixture fixture;

static char operators[1024];

static int setup(void **state)
{
    if (operators[0] == '\0') {
        char h1[256], h2[256];
        pin_hash_of(PIN_1, h1, sizeof h1);
        pin_hash_of(PIN_2, h2, sizeof h2);
        snprintf(operators, sizeof operators,
                 "operator_1 = 0001|刘晓梅|cashier|%s\noperator_2 = 0002|王建华|supervisor|%s\n",
                 h1, h2);
    }
    return it_setup(state);
}

static void start(fixture *f, const char *name, const char *keys)
{
    term_options opt = {.keys = keys, .operators = operators, .keys_no_wait = true};
    assert_int_equal(term_start(&f->t, &f->e, name, &opt), 0);
}

static int signed_in(fixture *f, const char *opter)
{
    char what[64];
    snprintf(what, sizeof what, "signed_in:%s", opter);
    return emu_count(&f->e, what);
}

static evt_ecr_status sell(fixture *f, evt_ecr_result *r)
{
    char id[40], code[128];
    evt_order o;
    order_make(&o, order_id_next(id, sizeof id), AMOXICILLIN, "阿莫西林胶囊", 2, 1250);
    assert_int_equal(emu_code(&f->e, "employee", NULL, 120, code, sizeof code), 0);
    term_scan(&f->t, code);
    evt_app_sale(f->t.app, &o, r);
    return r->status;
}

/* The receipt's "操作员 <name>" line (printed right-aligned on the label's line). */
static bool receipt_operator_is(const char *text, const char *name)
{
    const char *p = strstr(text, "\n操作员");
    const char *end = p != NULL ? strchr(p + 1, '\n') : NULL;
    const char *hit = p != NULL ? strstr(p, name) : NULL;
    return hit != NULL && (end == NULL || hit < end);
}

/* Nobody on shift: the terminal says so and refuses an order at once, before anything reaches
 * the platform (not even a 9001 in somebody's name). */
static void no_sale_while_nobody_is_signed_in(void **state)
{
    fixture *f = *state;
    start(f, "nobody", "");
    term_run_script(&f->t, 1);
    assert_true(term_screen_seen(&f->t, "医保电子凭证终端 未签到"));
    assert_true(term_screen_seen(&f->t, "暂停收费：没有操作员签到"));
    assert_false(term_screen_seen(&f->t, "就绪"));
    evt_ecr_result r;
    char id[40];
    evt_order o;
    order_make(&o, order_id_next(id, sizeof id), AMOXICILLIN, "阿莫西林胶囊", 2, 1250);
    evt_app_sale(f->t.app, &o, &r);
    assert_int_equal(r.status, EVT_ECR_REFUSED);
    assert_int_equal(r.error, EVT_ERR_NOT_SIGNED_IN);
    assert_non_null(strstr(r.message, "请操作员先登录签到"));
    assert_false(term_screen_seen(&f->t, "请出示医保电子凭证")); /* not even the scan prompt */
    assert_int_equal(emu_handled_count(&f->e, "9001"), 0);
    assert_int_equal(emu_handled_count(&f->e, "ec.query"), 0);
    assert_int_equal(emu_handled_count(&f->e, "1101"), 0);
    /* Nothing recorded: the POS may send the order again once somebody signed in. */
    assert_true(term_would_start(&f->t, o.order_id));
}

/* An operator's shift: login with the PIN, 9001 in their name, a sale under their sign_no with
 * their name on the receipt, 9002 from the menu; the next operator's reprint of that receipt
 * still names who served the patient (the order record keeps it). */
static void shift_login_sale_sign_out(void **state)
{
    fixture *f = *state;
    start(f, "shift",
          LOGIN("1", PIN_1) SALE_KEYS LOGOUT LOGIN(
              "2", PIN_2) "就绪 => MENU\n功能菜单 => TYPE:2\n补打：选择今日结算单 => "
                          "TYPE:1\n结算单已补打 => OK\n");
    term_run_script(&f->t, 2);
    assert_int_equal(emu_handled_count(&f->e, "9001"), 1);
    assert_int_equal(signed_in(f, "0001"), 1);
    assert_true(term_screen_seen(&f->t, "医保电子凭证终端 就绪"));
    assert_true(term_screen_seen(&f->t, "操作员：刘晓梅"));
    evt_ecr_result r;
    assert_int_equal(sell(f, &r), EVT_ECR_SETTLED);
    char *text = NULL, qr[256];
    assert_int_equal(term_receipt(&f->t, NULL, &text, qr, sizeof qr), 0);
    assert_true(receipt_operator_is(text, "刘晓梅"));
    free(text);
    assert_true(term_run_script(&f->t, 40));
    /* 9002 for 0001's sign_no: the platform refuses it from now on. */
    assert_int_equal(emu_handled_count(&f->e, "9002"), 1);
    assert_int_equal(signed_in(f, "0001"), 0);
    assert_int_equal(signed_in(f, "0002"), 1);
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s-2.bin", f->t.print_dir, r.msgid);
    assert_int_equal(term_receipt(&f->t, path, &text, qr, sizeof qr), 0);
    assert_true(receipt_operator_is(text, "刘晓梅"));
    assert_false(receipt_operator_is(text, "王建华"));
    free(text);
}

/* The platform stopped accepting the sign_no (midnight, a sign-in elsewhere): the next sale's
 * person query is refused for it, the terminal signs in again and the sale goes on. */
static void stale_sign_in_renewed(void **state)
{
    fixture *f = *state;
    start(f, "stale", LOGIN("1", PIN_1) SALE_KEYS SALE_KEYS);
    term_run_script(&f->t, 2);
    evt_ecr_result r;
    assert_int_equal(sell(f, &r), EVT_ECR_SETTLED);
    char out[64];
    const char *const expire[] = {"expire-sign-ins", NULL};
    assert_int_equal(emu_cli(&f->e, out, sizeof out, expire), 0);
    assert_int_equal(atoi(out), 1);
    assert_int_equal(signed_in(f, "0001"), 0);
    assert_int_equal(sell(f, &r), EVT_ECR_SETTLED);
    assert_int_equal(emu_handled_count(&f->e, "9001"), 2);
    assert_int_equal(emu_handled_count(&f->e, "1101"), 3); /* the refused one, sent again */
    assert_int_equal(emu_handled_count(&f->e, "2102"), 2); /* one per sale, never again */
    assert_int_equal(signed_in(f, "0001"), 1);
}

/* Wrong PINs lock that operator out (and only that one) for a while, across the right PIN too;
 * nobody signs in on a wrong PIN. */
static void wrong_pin_lockout(void **state)
{
    fixture *f = *state;
#define WRONG LOGIN("1", "000000") "密码错误 => OK\n"
    start(f, "lockout",
          WRONG WRONG WRONG WRONG LOGIN("1", "000000") "密码错误次数过多 => OK\n" LOGIN(
              "1", PIN_1) "密码错误次数过多 => OK\n" LOGIN("2", PIN_2));
#undef WRONG
    assert_true(term_run_script(&f->t, 40));
    assert_true(term_screen_seen(&f->t, "请 15 分钟后再试"));
    assert_int_equal(signed_in(f, "0001"), 0);
    assert_int_equal(signed_in(f, "0002"), 1);
    assert_int_equal(emu_handled_count(&f->e, "9001"), 1);
    assert_true(term_screen_seen(&f->t, "操作员：王建华"));
}

/* Legacy provisioning (one opter): the start-up sign-in refused shows the terminal not ready
 * with the reason instead of 就绪; once the platform takes it again the terminal is ready. */
static void failed_start_up_sign_in_is_not_ready(void **state)
{
    fixture *f = *state;
    assert_int_equal(emu_fault(&f->e, "9001", "business_error", "医保平台系统繁忙", 1), 0);
    term_options opt = {.keys = "", .keys_no_wait = true};
    assert_int_equal(term_start(&f->t, &f->e, "notready", &opt), 0);
    term_run_script(&f->t, 1);
    assert_true(term_screen_seen(&f->t, "医保电子凭证终端 签到失败"));
    assert_true(term_screen_seen(&f->t, "暂停收费："));
    assert_false(term_screen_seen(&f->t, "就绪"));
    term_advance_ms(&f->t, 16000);
    term_run_script(&f->t, 1);
    assert_int_equal(emu_handled_count(&f->e, "9001"), 2);
    assert_true(term_screen_seen(&f->t, "医保电子凭证终端 就绪"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(no_sale_while_nobody_is_signed_in, setup, it_teardown),
        cmocka_unit_test_setup_teardown(shift_login_sale_sign_out, setup, it_teardown),
        cmocka_unit_test_setup_teardown(stale_sign_in_renewed, setup, it_teardown),
        cmocka_unit_test_setup_teardown(wrong_pin_lockout, setup, it_teardown),
        cmocka_unit_test_setup_teardown(failed_start_up_sign_in_is_not_ready, setup, it_teardown),
    };
    if (getenv("EVT_TEST_FILTER") != NULL) {
        cmocka_set_test_filter(getenv("EVT_TEST_FILTER"));
    }
    return cmocka_run_group_tests_name("integration.shift", tests, NULL, NULL);
}
