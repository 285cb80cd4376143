/* evt_ui: the cashier's screens show masked personal data and every amount; decisions and
 * keyed numbers come from the keypad, and only keys pressed after the screen appeared count
 * (issue 5: keys pressed ahead of a screen must not move money). Driven through the sim UI
 * driver in memory, and through a keypad whose key times the test sets, on a clock that moves
 * only when the test moves it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>
#include <unistd.h>

#include "evt/ui.h"
#include "evt_sim/ui_tty.h"
#include "manual_clock.h"

typedef struct fixture {
    manual_clock clock;
    evt_sim_ui *sim;
    evt_ui ui;
} fixture;

static fixture *open_ui(const char *script)
{
    static fixture f;
    memset(&f, 0, sizeof f);
    manual_clock_init(&f.clock, 10000);
    evt_sim_ui_options opt = {
        .key_fd = -1, .script_text = script, .script_no_wait = true, .clock = &f.clock.hal};
    assert_int_equal(evt_sim_ui_open(&f.sim, &opt), EVT_OK);
    evt_ui_init(&f.ui, evt_sim_ui_hal(f.sim), &f.clock.hal);
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

/* Draws the identity screen (which must succeed) and expects present on it and not absent. */
static void expect_identity(fixture *f, const evt_voucher_info *v, const evt_person *p,
                            const evt_insurance *insu, const char *const *present,
                            const char *const *absent)
{
    assert_int_equal(evt_ui_show_identity(&f->ui, v, p, insu), EVT_OK);
    expect_screen(f, present, absent);
}

/* Draws the amounts screen of s for an insured with an account (which must succeed) and expects
 * present on it. */
static void expect_split(fixture *f, const evt_settlement *s, const char *const *present)
{
    assert_int_equal(evt_ui_show_split(&f->ui, s, true), EVT_OK);
    expect_screen(f, present, NULL);
}

static void identity_screen_masks_and_marks_family_account(void **state)
{
    (void)state;
    fixture *f = open_ui("");
    evt_person p;
    evt_insurance *insu;
    person(&p, &insu);
    evt_voucher_info v = {.via_family_account = true, .holder_name = "张建国"};
    static const char *const on_screen[] = {
        "李*英", "1201**********0468", "女",    "72", "职工基本医疗保险", "天津市 120104",
        "35.20", "亲情账户代展码",     "张*国", NULL};
    static const char *const not_on_screen[] = {"李秀英", "张建国", "120104195301020468", NULL};
    expect_identity(f, &v, &p, insu, on_screen, not_on_screen);
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
    evt_voucher_info v = {0};
    static const char *const on_screen[] = {"城乡居民基本医疗保险",
                                            "个人账户：无（居民医保不设个人账户）", NULL};
    static const char *const not_on_screen[] = {"亲情账户", NULL};
    expect_identity(f, &v, &p, insu, on_screen, not_on_screen);
    evt_sim_ui_close(f->sim);
}

/* An employee whose record carries no balance is not called a resident, and a code the
 * table does not know is shown as the code, not renamed. */
static void employee_without_account_and_unknown_insutype(void **state)
{
    (void)state;
    fixture *f = open_ui("");
    evt_person p;
    evt_insurance *insu;
    person(&p, &insu);
    insu->balc_present = false; /* 310, no balance in the answer */
    evt_voucher_info v = {0};
    static const char *const employee[] = {"职工基本医疗保险", "个人账户：无", NULL};
    static const char *const not_resident[] = {"居民", NULL};
    expect_identity(f, &v, &p, insu, employee, not_resident);
    strcpy(insu->insutype, "999");
    static const char *const code[] = {"险种：代码 999", NULL};
    expect_identity(f, &v, &p, insu, code, NULL);
    evt_sim_ui_close(f->sim);
}

/* The platform's warn_msg (here why 共济 did not pay) is on the amounts screen. */
static void split_shows_the_platform_note(void **state)
{
    (void)state;
    fixture *f = open_ui("");
    evt_settlement s = {.medfee_sumamt = 8400,
                        .fund_pay_sumamt = 4200,
                        .psn_cash_pay = 4200,
                        .platform_note = "家庭共济未支付：授权人个人账户余额未超过留存额度"};
    static const char *const on_screen[] = {
        "平台提示：家庭共济未支付：授权人个人账户余额未超过留存额度", NULL};
    expect_split(f, &s, on_screen);
    evt_sim_ui_close(f->sim);
}

static void split_shows_every_amount(void **state)
{
    (void)state;
    fixture *f = open_ui("");
    evt_settlement s = {.medfee_sumamt = 8400,
                        .fund_pay_sumamt = 4200,
                        .acct_pay = 3520,
                        .acct_mulaid_pay = 680,
                        .balc = 0,
                        .balc_present = true};
    static const char *const on_screen[] = {"医疗费总额：84.00",
                                            "基金支付：  42.00",
                                            "个人账户：  35.20",
                                            "共济支付（亲属账户）：6.80",
                                            "现金支付：  0.00",
                                            "结算后个人账户余额：0.00",
                                            NULL};
    expect_split(f, &s, on_screen);
    evt_ui_show_settled(&f->ui, &s, true, EVT_ERR_PRINTER_IO);
    assert_true(shown(f, "结算单打印失败（打印机故障），可在功能菜单补打"));
    evt_ui_show_settled(&f->ui, &s, true, EVT_ERR_PRINTER_PAPER_OUT);
    assert_true(shown(f, "打印机缺纸：装纸后在功能菜单补打结算单"));
    evt_ui_show_settled(&f->ui, &s, true, EVT_OK);
    assert_true(shown(f, "结算单已打印，请交顾客"));
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

/* ---- keys pressed ahead of a screen ---------------------------------------------------- */

/* A keypad whose presses the test stamps itself. show() counts screens and lets draw_ms pass
 * on the clock (drawing takes time on a real LCD too). */
typedef struct keypad {
    evt_hal_ui hal;
    manual_clock clock;
    uint32_t draw_ms;
    evt_key_event keys[8];
    size_t next, count;
    unsigned screens;
    evt_ui ui;
} keypad;

static evt_err keypad_show(void *ctx, const evt_ui_screen *screen)
{
    keypad *k = ctx;
    (void)screen;
    k->screens++;
    k->clock.now_ms += k->draw_ms;
    return EVT_OK;
}

static evt_err keypad_read(void *ctx, uint32_t timeout_ms, evt_key_event *out)
{
    keypad *k = ctx;
    (void)timeout_ms; /* nothing else can press a key while the test waits */
    if (k->next == k->count) {
        return EVT_ERR_TIMEOUT;
    }
    *out = k->keys[k->next++];
    return EVT_OK;
}

static keypad *open_keypad(uint64_t start_ms, uint32_t draw_ms)
{
    static keypad k;
    memset(&k, 0, sizeof k);
    manual_clock_init(&k.clock, start_ms);
    k.draw_ms = draw_ms;
    k.hal = (evt_hal_ui){.ctx = &k, .show = keypad_show, .read_key = keypad_read};
    evt_ui_init(&k.ui, &k.hal, &k.clock.hal);
    return &k;
}

static void press(keypad *k, evt_key key, char ch, uint64_t at_ms)
{
    assert_true(k->count < sizeof k->keys / sizeof k->keys[0]);
    k->keys[k->count++] = (evt_key_event){.key = key, .ch = ch, .pressed_ms = at_ms};
}

static void sample_split(evt_settlement *s)
{
    memset(s, 0, sizeof *s);
    s->medfee_sumamt = 2500;
    s->fund_pay_sumamt = 1250;
    s->acct_pay = 1250;
}

/* An OK pressed before the identity screen was drawn (or in the very millisecond it was)
 * answers an earlier screen: discarded; the cashier's later CANCEL is what counts. */
static void key_pressed_before_the_screen_is_discarded(void **state)
{
    (void)state;
    keypad *k = open_keypad(1000, 0);
    press(k, EVT_KEY_OK, 0, 900);
    press(k, EVT_KEY_OK, 0, 1000);
    press(k, EVT_KEY_CANCEL, 0, 1800);
    evt_person p;
    evt_insurance *insu;
    person(&p, &insu);
    evt_voucher_info v;
    memset(&v, 0, sizeof v);
    assert_int_equal(evt_ui_show_identity(&k->ui, &v, &p, insu), EVT_OK);
    bool ok = true;
    assert_int_equal(evt_ui_wait_decision(&k->ui, 1000, &ok), EVT_OK);
    assert_false(ok);
    assert_int_equal(k->next, 3);
}

/* The split moves money: an OK 8 ms after it appeared (the second Enter of a double press on
 * the identity screen) is discarded and not kept for later, so the wait times out; so is one
 * a millisecond short of the dwell. An OK after the dwell confirms. */
static void money_confirmation_needs_the_dwell(void **state)
{
    (void)state;
    keypad *k = open_keypad(2000, 0);
    press(k, EVT_KEY_OK, 0, 2008);
    press(k, EVT_KEY_OK, 0, 2000 + EVT_UI_MONEY_CONFIRM_DWELL_MS - 1);
    evt_settlement s;
    sample_split(&s);
    assert_int_equal(evt_ui_show_split(&k->ui, &s, true), EVT_OK);
    bool ok = true;
    assert_int_equal(evt_ui_wait_decision_guarded(&k->ui, 1000, EVT_UI_MONEY_CONFIRM_DWELL_MS, &ok),
                     EVT_ERR_TIMEOUT);
    assert_false(ok);
    assert_int_equal(k->next, 2);
    press(k, EVT_KEY_OK, 0, 2000 + EVT_UI_MONEY_CONFIRM_DWELL_MS);
    assert_int_equal(evt_ui_wait_decision_guarded(&k->ui, 1000, EVT_UI_MONEY_CONFIRM_DWELL_MS, &ok),
                     EVT_OK);
    assert_true(ok);

    /* Refusing never moves money: CANCEL counts at once. */
    k = open_keypad(3000, 0);
    press(k, EVT_KEY_CANCEL, 0, 3008);
    assert_int_equal(evt_ui_show_split(&k->ui, &s, true), EVT_OK);
    ok = true;
    assert_int_equal(evt_ui_wait_decision_guarded(&k->ui, 1000, EVT_UI_MONEY_CONFIRM_DWELL_MS, &ok),
                     EVT_OK);
    assert_false(ok);

    /* Screens that move no money keep the plain rule: 8 ms after is after. */
    k = open_keypad(4000, 0);
    press(k, EVT_KEY_OK, 0, 4008);
    assert_int_equal(evt_ui_show_error(&k->ui, "结算失败", EVT_ERR_TIMEOUT, NULL), EVT_OK);
    assert_int_equal(evt_ui_wait_decision(&k->ui, 1000, &ok), EVT_OK);
    assert_true(ok);
}

/* 取消 pressed while 正在结算 is shown is not the answer to the result screen: the result
 * stays up (the wait goes on) until the cashier presses a key on it. */
static void cancel_during_progress_is_not_taken_by_the_result(void **state)
{
    (void)state;
    keypad *k = open_keypad(5000, 0);
    assert_int_equal(evt_ui_show_progress(&k->ui, "正在结算", "请勿离开，结算进行中…"), EVT_OK);
    press(k, EVT_KEY_CANCEL, 0, 5100);
    k->clock.now_ms = 6200; /* 2102 answered */
    evt_settlement s;
    sample_split(&s);
    assert_int_equal(evt_ui_show_settled(&k->ui, &s, true, EVT_OK), EVT_OK);
    bool ok = true;
    assert_int_equal(evt_ui_wait_decision(&k->ui, 1000, &ok), EVT_ERR_TIMEOUT);
    assert_int_equal(k->next, 1);
    press(k, EVT_KEY_OK, 0, 7000);
    assert_int_equal(evt_ui_wait_decision(&k->ui, 1000, &ok), EVT_OK);
    assert_true(ok);
}

/* Number entry counts keys from the moment the entry screen first appeared: a digit typed
 * before is dropped, while digits typed ahead of the echo redraws are the number. A menu
 * choice typed before the menu appeared is dropped too. */
static void entry_and_menu_drop_keys_typed_before_them(void **state)
{
    (void)state;
    keypad *k = open_keypad(1000, 10); /* each draw takes 10 ms: entry drawn at 1010 */
    press(k, EVT_KEY_DIGIT, '9', 1005);
    press(k, EVT_KEY_DIGIT, '1', 1015);
    press(k, EVT_KEY_DIGIT, '2', 1016); /* before the redraw that echoes '1' (1020) */
    press(k, EVT_KEY_OK, 0, 1017);
    evt_config cfg;
    memset(&cfg, 0, sizeof cfg);
    evt_order o;
    memset(&o, 0, sizeof o);
    char typed[8];
    bool quit = true;
    assert_int_equal(
        evt_ui_read_number(&k->ui, &cfg, &o, "数量", NULL, 2000, typed, sizeof typed, &quit),
        EVT_OK);
    assert_string_equal(typed, "12");
    assert_false(quit);

    k = open_keypad(2000, 10); /* menu drawn at 2010 */
    press(k, EVT_KEY_DIGIT, '1', 2009);
    press(k, EVT_KEY_DIGIT, '2', 2400);
    static const char *const options[] = {"手工录入", "补打结算单"};
    unsigned choice = 0;
    assert_int_equal(evt_ui_choose(&k->ui, "功能", options, 2, 1000, &choice, &quit), EVT_OK);
    assert_int_equal(choice, 2);
}

/* QUIT is the board asking to stop, not an answer to the screen: never discarded. */
static void quit_counts_whenever_pressed(void **state)
{
    (void)state;
    keypad *k = open_keypad(1000, 0);
    press(k, EVT_KEY_QUIT, 0, 0);
    assert_int_equal(evt_ui_show_progress(&k->ui, "请确认", NULL), EVT_OK);
    bool ok = true;
    assert_int_equal(evt_ui_wait_decision(&k->ui, 1000, &ok), EVT_ERR_CANCELLED);
    assert_false(ok);
}

/* The sim's interactive keys over a pipe, on the manual clock: the bytes the cashier types,
 * read by the real driver. */
typedef struct piped {
    fixture f;
    int pipefd[2];
} piped;

static piped *open_piped(void)
{
    static piped p;
    memset(&p, 0, sizeof p);
    assert_int_equal(pipe(p.pipefd), 0);
    manual_clock_init(&p.f.clock, 1000);
    evt_sim_ui_options opt = {.key_fd = p.pipefd[0], .clock = &p.f.clock.hal};
    assert_int_equal(evt_sim_ui_open(&p.f.sim, &opt), EVT_OK);
    evt_ui_init(&p.f.ui, evt_sim_ui_hal(p.f.sim), &p.f.clock.hal);
    return &p;
}

static void type(piped *p, const char *text)
{
    assert_int_equal(write(p->pipefd[1], text, strlen(text)), (ssize_t)strlen(text));
}

static void close_piped(piped *p)
{
    evt_sim_ui_close(p->f.sim);
    close(p->pipefd[0]);
    close(p->pipefd[1]);
}

static void show_identity(evt_ui *ui)
{
    evt_person per;
    evt_insurance *insu;
    person(&per, &insu);
    evt_voucher_info v;
    memset(&v, 0, sizeof v);
    assert_int_equal(evt_ui_show_identity(ui, &v, &per, insu), EVT_OK);
}

/* Enter pressed twice at the identity screen: both reach the driver together, the first
 * confirms the identity, the second was pressed before the split appeared and must not
 * confirm it, however soon or late the split's wait reads it. The cashier then reads the
 * amounts and cancels: that is the answer the split gets. */
static void double_enter_at_identity_does_not_confirm_the_split(void **state)
{
    (void)state;
    piped *p = open_piped();
    bool ok = false;
    show_identity(&p->f.ui);
    p->f.clock.now_ms += 300; /* the cashier reads the identity */
    type(p, "\n\n");
    assert_int_equal(evt_ui_wait_decision(&p->f.ui, 1000, &ok), EVT_OK);
    assert_true(ok);
    evt_ui_show_progress(&p->f.ui, "正在预结算", NULL);
    p->f.clock.now_ms += 8; /* 2101 answered at once */
    evt_settlement s;
    sample_split(&s);
    evt_ui_show_split(&p->f.ui, &s, true);
    p->f.clock.now_ms += 2000; /* the cashier reads the amounts and refuses */
    type(p, "c\n");
    ok = true;
    assert_int_equal(
        evt_ui_wait_decision_guarded(&p->f.ui, 1000, EVT_UI_MONEY_CONFIRM_DWELL_MS, &ok), EVT_OK);
    assert_false(ok);
    close_piped(p);
}

/* Two Enters typed while 正在预结算 is up sit in the pipe until the split is drawn: the driver
 * takes them in when it draws the split, as typed before it, so the split's wait drops them
 * even when it first reads long after. */
static void enters_typed_during_progress_are_drained_at_the_next_screen(void **state)
{
    (void)state;
    piped *p = open_piped();
    bool ok = false;
    show_identity(&p->f.ui);
    p->f.clock.now_ms += 300;
    type(p, "\n");
    assert_int_equal(evt_ui_wait_decision(&p->f.ui, 1000, &ok), EVT_OK);
    assert_true(ok);
    evt_ui_show_progress(&p->f.ui, "正在预结算", NULL);
    p->f.clock.now_ms += 100;
    type(p, "\n\n"); /* nobody reads keys while the platform call runs */
    p->f.clock.now_ms += 100;
    evt_settlement s;
    sample_split(&s);
    evt_ui_show_split(&p->f.ui, &s, true);
    p->f.clock.now_ms += 2000;
    type(p, "c\n");
    ok = true;
    assert_int_equal(
        evt_ui_wait_decision_guarded(&p->f.ui, 1000, EVT_UI_MONEY_CONFIRM_DWELL_MS, &ok), EVT_OK);
    assert_false(ok);
    close_piped(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(identity_screen_masks_and_marks_family_account),
        cmocka_unit_test(resident_without_account),
        cmocka_unit_test(employee_without_account_and_unknown_insutype),
        cmocka_unit_test(split_shows_the_platform_note),
        cmocka_unit_test(split_shows_every_amount),
        cmocka_unit_test(decisions),
        cmocka_unit_test(keyed_number),
        cmocka_unit_test(key_pressed_before_the_screen_is_discarded),
        cmocka_unit_test(money_confirmation_needs_the_dwell),
        cmocka_unit_test(cancel_during_progress_is_not_taken_by_the_result),
        cmocka_unit_test(entry_and_menu_drop_keys_typed_before_them),
        cmocka_unit_test(quit_counts_whenever_pressed),
        cmocka_unit_test(double_enter_at_identity_does_not_confirm_the_split),
        cmocka_unit_test(enters_typed_during_progress_are_drained_at_the_next_screen),
    };
    return cmocka_run_group_tests_name("ui", tests, NULL, NULL);
}
