/*
 * Keys pressed ahead of a screen do not move money (issue 5), end to end: the real firmware,
 * the sim board's interactive keypad over a pipe, the platform emulator's ledger. The test's
 * cashier types into the keypad pipe and lets time pass on the terminal's monotonic clock
 * (term_advance_ms): reading a screen takes time, nothing sleeps.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "harness.h"

#define AMOXICILLIN "XJ01CAA040A001010100001"

typedef it_fixture fixture;

/* What the cashier has done so far in one sale. */
typedef struct cashier {
    size_t handled; /* number of the screen (evt_sim_ui_screen_count) last acted on */
    bool refused;
} cashier;

/* True the first time the cashier is asked while a new screen with title is up. */
static bool first_look(term *t, cashier *c, const char *title)
{
    size_t shown = evt_sim_ui_screen_count(t->ui);
    if (shown == c->handled || !evt_sim_ui_screen_contains(term_screen(t), title)) {
        return false;
    }
    c->handled = shown;
    return true;
}

static bool showing(term *t, const char *title)
{
    return evt_sim_ui_screen_contains(term_screen(t), title);
}

/* On the split screen, after the early keys: the cashier reads the amounts and refuses. */
static void refuse_split_after_reading(term *t, cashier *c)
{
    if (!c->refused && showing(t, "请确认结算金额")) {
        term_advance_ms(t, 2000);
        term_type(t, "c\n");
        c->refused = true;
    }
}

static void start(fixture *f, const char *name, term_cashier_fn fn, cashier *c)
{
    memset(c, 0, sizeof *c);
    term_options opt = {.key_pipe = true, .cashier = fn, .cashier_arg = c};
    assert_int_equal(term_start(&f->t, &f->e, name, &opt), 0);
}

static void sale(fixture *f, evt_ecr_result *r)
{
    char code[128], id[40];
    assert_int_equal(emu_code(&f->e, "employee", NULL, 120, code, sizeof code), 0);
    term_scan(&f->t, code);
    evt_order o;
    order_make(&o, order_id_next(id, sizeof id), AMOXICILLIN, "阿莫西林胶囊", 2, 1250);
    evt_app_sale(f->t.app, &o, r);
}

/* The sale stopped at the split: refused there, nothing settled, the balance untouched. */
static void assert_stopped_at_split(fixture *f, const evt_ecr_result *r, int64_t balance)
{
    assert_int_equal(r->status, EVT_ECR_REFUSED);
    assert_int_equal(r->error, EVT_ERR_CANCELLED);
    assert_non_null(strstr(r->message, "收银员未确认金额"));
    assert_true(term_screen_seen(&f->t, "请确认结算金额"));
    assert_false(term_screen_seen(&f->t, "结算成功"));
    assert_int_equal(emu_count(&f->e, "settlements"), 0);
    assert_int_equal(emu_balance_fen(&f->e, "employee"), balance);
}

/* "\n\n" at the identity screen: both Enters arrive together; the first confirms the
 * identity, the second was pressed before the split existed and does not confirm it. */
static void enter_enter_at_identity(term *t, term_ui_moment moment, void *arg)
{
    cashier *c = arg;
    if (moment != TERM_UI_READ) {
        return;
    }
    if (first_look(t, c, "请核对患者身份")) {
        term_advance_ms(t, 800);
        term_type(t, "\n\n");
        return;
    }
    refuse_split_after_reading(t, c);
}

/* A sale with the cashier script `keys`: it must stop at the split, nothing paid, and the
 * cashier's refusal there must have been what ended it. */
static void sale_stops_at_split(fixture *f, const char *name, term_cashier_fn keys)
{
    cashier c;
    start(f, name, keys, &c);
    int64_t balance = emu_balance_fen(&f->e, "employee");
    evt_ecr_result r;
    sale(f, &r);
    assert_stopped_at_split(f, &r, balance);
    assert_true(c.refused);
}

static void double_enter_at_identity_stops_at_split(void **state)
{
    sale_stops_at_split(*state, "enter-enter", enter_enter_at_identity);
}

/* The second Enter of a double press lands 8 ms after the split appeared (the platform
 * answered 2101 that fast): pressed after the split was drawn, but too soon to have read it. */
static void second_enter_8ms_into_split(term *t, term_ui_moment moment, void *arg)
{
    cashier *c = arg;
    if (moment != TERM_UI_READ) {
        return;
    }
    if (first_look(t, c, "请核对患者身份")) {
        term_advance_ms(t, 800);
        term_type(t, "\n");
        return;
    }
    if (first_look(t, c, "请确认结算金额")) {
        term_advance_ms(t, 8);
        term_type(t, "\n");
        return;
    }
    refuse_split_after_reading(t, c);
}

static void enter_8ms_after_split_appeared_stops_at_split(void **state)
{
    sale_stops_at_split(*state, "enter-8ms", second_enter_8ms_into_split);
}

/* The cashier confirms both screens after reading them, then presses 取消 while 正在结算 is
 * up; the result screen must wait for a key pressed on it, here 下一位 a second later. */
static void cancel_while_settling(term *t, term_ui_moment moment, void *arg)
{
    cashier *c = arg;
    if (moment == TERM_UI_SHOWN) {
        if (first_look(t, c, "正在结算")) {
            term_advance_ms(t, 200);
            term_type(t, "c\n");
        }
        return;
    }
    if (first_look(t, c, "请核对患者身份")) {
        term_advance_ms(t, 800);
        term_type(t, "\n");
    } else if (first_look(t, c, "请确认结算金额")) {
        term_advance_ms(t, 1500);
        term_type(t, "\n");
    } else if (first_look(t, c, "结算成功")) {
        term_advance_ms(t, 1000);
        term_type(t, "\n");
    }
}

static void cancel_while_settling_is_not_next_customer(void **state)
{
    fixture *f = *state;
    cashier c;
    start(f, "cancel-settling", cancel_while_settling, &c);
    int64_t balance = emu_balance_fen(&f->e, "employee");
    evt_ecr_result r;
    sale(f, &r);
    /* Both confirmations were given after reading: the sale settles. */
    assert_int_equal(r.status, EVT_ECR_SETTLED);
    assert_int_equal(emu_count(&f->e, "settlements"), 1);
    assert_int_equal(emu_balance_fen(&f->e, "employee"), balance - r.account);
    assert_true(term_screen_seen(&f->t, "结算成功"));
    /* The result screen was closed by the cashier's 下一位, typed after it appeared, not by
     * the 取消 from before it: nothing the cashier typed is left over. */
    const evt_hal_ui *keypad = evt_sim_ui_hal(f->t.ui);
    evt_key_event ev;
    assert_int_equal(keypad->read_key(keypad->ctx, 0, &ev), EVT_ERR_TIMEOUT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(double_enter_at_identity_stops_at_split, it_setup,
                                        it_teardown),
        cmocka_unit_test_setup_teardown(enter_8ms_after_split_appeared_stops_at_split, it_setup,
                                        it_teardown),
        cmocka_unit_test_setup_teardown(cancel_while_settling_is_not_next_customer, it_setup,
                                        it_teardown),
    };
    return cmocka_run_group_tests_name("keys pressed ahead of a screen", tests, NULL, NULL);
}
