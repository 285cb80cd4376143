/* evt_ui: the cashier's screens show masked personal data and every amount; decisions and
 * keyed numbers come from the keypad. Driven through the sim UI driver in memory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "evt/ui.h"
#include "evt_sim/ui_tty.h"

typedef struct fixture {
    evt_sim_ui *sim;
    evt_ui ui;
} fixture;

static fixture *open_ui(const char *script)
{
    static fixture f;
    memset(&f, 0, sizeof f);
    evt_sim_ui_options opt = {.key_fd = -1, .script_text = script, .script_no_wait = true};
    assert_int_equal(evt_sim_ui_open(&f.sim, &opt), EVT_OK);
    evt_ui_init(&f.ui, evt_sim_ui_hal(f.sim));
    return &f;
}

static bool shown(fixture *f, const char *text)
{
    return evt_sim_ui_screen_contains(evt_sim_ui_screen(f->sim, 0), text);
}

/* Every text of `present` is on the screen and none of `absent`; both lists end with NULL. */
static void expect_screen(fixture *f, const char *const *present, const char *const *absent)
{
    for (; present != NULL && *present != NULL; present++) {
        if (!shown(f, *present)) {
            fail_msg("not on the screen: %s", *present);
        }
    }
    for (; absent != NULL && *absent != NULL; absent++) {
        if (shown(f, *absent)) {
            fail_msg("on the screen: %s", *absent);
        }
    }
}

static void person(evt_person *p, evt_insurance **insu)
{
    memset(p, 0, sizeof *p);
    strcpy(p->psn_name, "李秀英");
    strcpy(p->certno, "120104195301020468");
    strcpy(p->gend, "2");
    p->age = 72;
    p->insu_count = 1;
    strcpy(p->insu[0].insutype, "310");
    strcpy(p->insu[0].insuplc_admdvs, "120104");
    strcpy(p->insu[0].psn_insu_stas, "1");
    p->insu[0].balc = 3520;
    p->insu[0].balc_present = true;
    *insu = &p->insu[0];
}

static void identity_screen_masks_and_marks_family_account(void **state)
{
    (void)state;
    fixture *f = open_ui("");
    evt_person p;
    evt_insurance *insu;
    person(&p, &insu);
    evt_voucher_info v;
    memset(&v, 0, sizeof v);
    v.via_family_account = true;
    strcpy(v.holder_name, "张建国");
    assert_int_equal(evt_ui_show_identity(&f->ui, &v, &p, insu), EVT_OK);
    static const char *const on_screen[] = {
        "李*英", "1201**********0468", "女",    "72", "职工基本医疗保险", "天津市 120104",
        "35.20", "亲情账户代展码",     "张*国", NULL};
    static const char *const not_on_screen[] = {"李秀英", "张建国", "120104195301020468", NULL};
    expect_screen(f, on_screen, not_on_screen);
    evt_sim_ui_close(f->sim);
}

static void resident_without_account(void **state)
{
    (void)state;
    fixture *f = open_ui("");
    evt_person p;
    evt_insurance *insu;
    person(&p, &insu);
    strcpy(insu->insutype, "390");
    insu->balc_present = false;
    evt_voucher_info v;
    memset(&v, 0, sizeof v);
    evt_ui_show_identity(&f->ui, &v, &p, insu);
    static const char *const on_screen[] = {"城乡居民基本医疗保险", "个人账户：无", NULL};
    static const char *const not_on_screen[] = {"亲情账户", NULL};
    expect_screen(f, on_screen, not_on_screen);
    evt_sim_ui_close(f->sim);
}

static void split_shows_every_amount(void **state)
{
    (void)state;
    fixture *f = open_ui("");
    evt_settlement s;
    memset(&s, 0, sizeof s);
    s.medfee_sumamt = 8400;
    s.fund_pay_sumamt = 4200;
    s.acct_pay = 3520;
    s.acct_mulaid_pay = 680;
    s.balc = 0;
    s.balc_present = true;
    evt_ui_show_split(&f->ui, &s, true);
    static const char *const on_screen[] = {"医疗费总额：84.00",
                                            "基金支付：  42.00",
                                            "个人账户：  35.20",
                                            "共济支付：  6.80",
                                            "现金支付：  0.00",
                                            "账户余额：  0.00",
                                            NULL};
    expect_screen(f, on_screen, NULL);
    evt_ui_show_settled(&f->ui, &s, true, false);
    assert_true(shown(f, "补打"));
    evt_sim_ui_close(f->sim);
}

static void decisions(void **state)
{
    (void)state;
    fixture *f = open_ui("请确认 => OK\n请确认 => CANCEL\n");
    evt_ui_show_progress(&f->ui, "请确认", NULL);
    bool ok = false;
    assert_int_equal(evt_ui_wait_decision(&f->ui, 1000, &ok), EVT_OK);
    assert_true(ok);
    assert_int_equal(evt_ui_wait_decision(&f->ui, 1000, &ok), EVT_OK);
    assert_false(ok);
    /* script exhausted: the board asks to quit */
    assert_int_equal(evt_ui_wait_decision(&f->ui, 1000, &ok), EVT_ERR_CANCELLED);
    evt_sim_ui_close(f->sim);

    f = open_ui("never shown => OK\n");
    evt_ui_show_progress(&f->ui, "请确认", NULL);
    assert_int_equal(evt_ui_wait_decision(&f->ui, 600, &ok), EVT_ERR_TIMEOUT);
    evt_sim_ui_close(f->sim);
}

static void keyed_number(void **state)
{
    (void)state;
    fixture *f = open_ui("数量 => TYPE:12\n数量 => BACKSPACE\n数量 => DIGITS:5\n");
    evt_config cfg;
    memset(&cfg, 0, sizeof cfg);
    strcpy(cfg.items[0].med_list_codg, "XJ01CAA040A001010100001");
    strcpy(cfg.items[0].name, "阿莫西林胶囊");
    cfg.items[0].price = 1250;
    evt_order o;
    memset(&o, 0, sizeof o);
    char typed[8];
    bool quit = false;
    assert_int_equal(
        evt_ui_read_number(&f->ui, &cfg, &o, "数量", NULL, 2000, typed, sizeof typed, &quit),
        EVT_OK);
    assert_string_equal(typed, "15");
    assert_false(quit);
    assert_true(evt_sim_ui_screen_contains(evt_sim_ui_screen(f->sim, 1), "1 阿莫西林胶囊 12.50"));
    evt_sim_ui_close(f->sim);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(identity_screen_masks_and_marks_family_account),
        cmocka_unit_test(resident_without_account),
        cmocka_unit_test(split_shows_every_amount),
        cmocka_unit_test(decisions),
        cmocka_unit_test(keyed_number),
    };
    return cmocka_run_group_tests_name("ui", tests, NULL, NULL);
}
