/*
 * The daily close (日结, issue 7) end to end: the day's totals computed from the terminal's
 * journal, reconciled with the platform emulator's 3201 per insurance type and clearing
 * institution, 3202 finding the settlement the terminal has no record of, the batch report on
 * the screen and on paper (rendered back from the printer's ESC/POS bytes).
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
#define SALE_KEYS   "请核对患者身份 => OK\n请确认结算金额 => OK\n结算成功 => OK\n"
#define CLOSE_KEYS  "就绪 => MENU\n功能菜单 => TYPE:8\n日结 => OK\n"

typedef it_fixture fixture;

static void start(fixture *f, const char *name, const char *keys, unsigned slot)
{
    term_options opt = {.keys = keys, .keys_no_wait = true, .msgid_slot = slot};
    assert_int_equal(term_start(&f->t, &f->e, name, &opt), 0);
}

static void sell(fixture *f, const char *person, evt_ecr_result *r)
{
    char id[40], code[128];
    evt_order o;
    order_make(&o, order_id_next(id, sizeof id), AMOXICILLIN, "阿莫西林胶囊", 2, 1250);
    assert_int_equal(emu_code(&f->e, person, NULL, 120, code, sizeof code), 0);
    term_scan(&f->t, code);
    evt_app_sale(f->t.app, &o, r);
    assert_int_equal(r->status, EVT_ECR_SETTLED);
}

/* Two sales of two insurance types (employee 310, resident 390): each total agrees with the
 * platform's, no detail needed, the report prints both and says the day is closed. */
static void balanced_day(void **state)
{
    fixture *f = *state;
    start(f, "balanced", SALE_KEYS SALE_KEYS CLOSE_KEYS, 0);
    evt_ecr_result a, b;
    sell(f, "employee", &a);
    sell(f, "child", &b);
    assert_true(term_run_script(&f->t, 20));
    assert_true(term_screen_seen(&f->t, "日结完成：对账一致"));
    assert_true(term_screen_seen(&f->t, "销售 2 笔 50.00"));
    assert_false(term_screen_seen(&f->t, "本机 ")); /* shown only where a total differs */
    assert_int_equal(emu_handled_count(&f->e, "3201"), 2);
    assert_int_equal(emu_handled_count(&f->e, "3202"), 0);
    char *text = term_close_report(&f->t);
    assert_non_null(strstr(text, "日结对账单"));
    assert_non_null(strstr(text, "对账结果：一致，本日已结"));
    assert_non_null(strstr(text, "刘晓梅")); /* the operator's line */
    assert_null(strstr(text, "不平"));
    free(text);
}

/* The platform holds a settlement this terminal's journal never recorded (its flash was
 * replaced after the first sale): 3201 is not balanced and shows both sides; 3202 names that
 * settlement, masked, on screen and on paper. */
static void unbalanced_day_finds_the_settlement(void **state)
{
    fixture *f = *state;
    start(f, "lost", SALE_KEYS, 0);
    evt_ecr_result lost, kept;
    sell(f, "employee", &lost);
    term_stop(&f->t);
    start(f, "fresh", SALE_KEYS CLOSE_KEYS, 5);
    sell(f, "employee", &kept);
    assert_true(term_run_script(&f->t, 20));
    assert_true(term_screen_seen(&f->t, "日结：对账不平"));
    assert_int_equal(emu_handled_count(&f->e, "3201"), 1);
    assert_int_equal(emu_handled_count(&f->e, "3202"), 1);
    size_t n = strlen(lost.setl_id);
    char masked[64], line[128];
    snprintf(masked, sizeof masked, "%.4s****%s", lost.setl_id, lost.setl_id + n - 4);
    snprintf(line, sizeof line, "%s 平台有结算，本机无记录", masked);
    assert_true(term_screen_seen(&f->t, line));
    assert_true(term_screen_seen(&f->t, "本机 1笔 25.00"));
    char *text = term_close_report(&f->t);
    assert_non_null(strstr(text, masked));
    assert_null(strstr(text, lost.setl_id)); /* never the whole reference */
    assert_non_null(strstr(text, "平台结算2笔"));
    assert_non_null(strstr(text, "对账结果：不平"));
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(balanced_day, it_setup, it_teardown),
        cmocka_unit_test_setup_teardown(unbalanced_day_finds_the_settlement, it_setup, it_teardown),
    };
    if (getenv("EVT_TEST_FILTER") != NULL) {
        cmocka_set_test_filter(getenv("EVT_TEST_FILTER"));
    }
    return cmocka_run_group_tests_name("integration.close", tests, NULL, NULL);
}
