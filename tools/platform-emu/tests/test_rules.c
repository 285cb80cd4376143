/* emu.rules: the settlement split, number by number (docs/platform-emulator.md "Rules"). */
#include "emu.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#define Y(yuan, fen) ((emu_fen)(yuan)*100 + (fen))

static void assert_sums(const emu_split_result *r)
{
    assert_int_equal(r->fund + r->acct_pay + r->mulaid_pay + r->cash, r->total);
    assert_int_equal(r->inscp + r->preselfpay + r->fulamt_ownpay + r->overlmt_selfpay, r->total);
    assert_int_equal(r->psn_part, r->total - r->fund);
    assert_true(r->acct_pay >= 0 && r->mulaid_pay >= 0 && r->cash >= 0);
}

static const emu_split_params own_account = {
    .patient_has_account = true,
    .use_account = true,
    .patient_balance = Y(3000, 0),
    .patient_normal = true,
};

/* Outpatient lines: above the price ceiling is the patient's own whatever the class; 乙's
 * first self-paid 10 % is of the part within the ceiling; the fund's share is the caller's. */
static void price_ceiling_and_fund_share(void **state)
{
    (void)state;
    emu_line l[] = {{Y(15, 0), EMU_CLASS_A, Y(5, 0)},
                    {Y(60, 0), EMU_CLASS_B, Y(10, 0)},
                    {Y(25, 0), EMU_CLASS_NONE, Y(25, 0)}}; /* 丙: all its own, never "over" */
    emu_split_result r;
    emu_split(l, 3, &own_account, &r);
    assert_sums(&r);
    assert_int_equal(r.overlmt_selfpay, Y(15, 0));
    assert_int_equal(r.preselfpay, Y(5, 0));
    assert_int_equal(r.fulamt_ownpay, Y(25, 0));
    assert_int_equal(r.inscp, Y(10, 0) + Y(45, 0));
    assert_int_equal(r.fund, Y(27, 50)); /* the default 50 % */
    emu_split_params chronic = own_account;
    chronic.fund_pct = 70;
    emu_split(l, 3, &chronic, &r);
    assert_sums(&r);
    assert_int_equal(r.fund, Y(38, 50));
    /* a ceiling "above" the whole amount cannot make the scope negative */
    emu_line odd[] = {{Y(1, 0), EMU_CLASS_B, Y(9, 0)}};
    emu_split(odd, 1, &own_account, &r);
    assert_sums(&r);
    assert_int_equal(r.overlmt_selfpay, Y(1, 0));
    assert_int_equal(r.inscp, 0);
}

static void classes_and_rounding(void **state)
{
    (void)state;
    /* 甲 25.00, 乙 6.80 (10 % = 0.68 first self-paid), not listed 30.00 */
    emu_line l[] = {
        {Y(25, 0), EMU_CLASS_A, 0}, {Y(6, 80), EMU_CLASS_B, 0}, {Y(30, 0), EMU_CLASS_NONE, 0}};
    emu_split_result r;
    emu_split(l, 3, &own_account, &r);
    assert_int_equal(r.total, Y(61, 80));
    assert_int_equal(r.preselfpay, 68);
    assert_int_equal(r.fulamt_ownpay, Y(30, 0));
    assert_int_equal(r.inscp, Y(31, 12));
    assert_int_equal(r.fund, Y(15, 56));
    assert_int_equal(r.psn_part, Y(46, 24));
    assert_int_equal(r.acct_pay, Y(46, 24));
    assert_int_equal(r.cash, 0);
    assert_sums(&r);
    /* odd fen: fund rounds down, preselfpay rounds down */
    emu_line odd[] = {{1, EMU_CLASS_A, 0}, {19, EMU_CLASS_B, 0}};
    emu_split(odd, 2, &own_account, &r);
    assert_int_equal(r.preselfpay, 1);
    assert_int_equal(r.inscp, 19);
    assert_int_equal(r.fund, 9);
    assert_sums(&r);
}

static void account_not_used_or_short(void **state)
{
    (void)state;
    emu_line l[] = {{Y(100, 0), EMU_CLASS_A, 0}};
    emu_split_params p = own_account;
    emu_split_result r;
    p.use_account = false;
    emu_split(l, 1, &p, &r);
    assert_int_equal(r.acct_pay, 0);
    assert_int_equal(r.cash, Y(50, 0));
    p.use_account = true;
    p.patient_balance = Y(12, 34);
    emu_split(l, 1, &p, &r);
    assert_int_equal(r.acct_pay, Y(12, 34));
    assert_int_equal(r.cash, Y(37, 66));
    assert_sums(&r);
}

static void resident_has_no_account(void **state)
{
    (void)state;
    emu_line l[] = {{Y(18, 60), EMU_CLASS_B, 0}};
    emu_split_params p = {
        .patient_has_account = false, .use_account = true, .patient_normal = true};
    emu_split_result r;
    emu_split(l, 1, &p, &r);
    assert_int_equal(r.preselfpay, 186);
    assert_int_equal(r.fund, 837);
    assert_int_equal(r.acct_pay, 0);
    assert_int_equal(r.mulaid_pay, 0);
    assert_int_equal(r.cash, 1023);
    assert_sums(&r);
}

static emu_split_params mutual_aid(void)
{
    emu_split_params p = {
        .patient_has_account = true,
        .use_account = true,
        .patient_balance = Y(35, 20),
        .has_authoriser = true,
        .patient_normal = true,
        .authoriser_normal = true,
        .authoriser_balance = Y(3000, 0),
        .retained_minimum = Y(2000, 0),
        .same_city = true,
    };
    return p;
}

static void mutual_aid_pays_scope_remainder(void **state)
{
    (void)state;
    emu_line l[] = {{Y(84, 0), EMU_CLASS_A, 0}};
    emu_split_params p = mutual_aid();
    emu_split_result r;
    emu_split(l, 1, &p, &r);
    assert_int_equal(r.fund, Y(42, 0));
    assert_int_equal(r.acct_pay, Y(35, 20));
    assert_int_equal(r.mulaid_pay, Y(6, 80));
    assert_int_equal(r.cash, 0);
    assert_null(r.mulaid_refusal);
    assert_sums(&r);
}

static void mutual_aid_never_pays_outside_scope(void **state)
{
    (void)state;
    /* 乙 first self-paid and unlisted items stay cash even with a rich authoriser */
    emu_line l[] = {{Y(50, 0), EMU_CLASS_B, 0}, {Y(20, 0), EMU_CLASS_NONE, 0}};
    emu_split_params p = mutual_aid();
    p.patient_balance = 0;
    emu_split_result r;
    emu_split(l, 2, &p, &r);
    assert_int_equal(r.inscp, Y(45, 0));
    assert_int_equal(r.fund, Y(22, 50));
    assert_int_equal(r.mulaid_pay, Y(22, 50));
    assert_int_equal(r.cash, Y(5, 0) + Y(20, 0));
    assert_sums(&r);
    /* own account is counted against the scope part first */
    p.patient_balance = Y(30, 0);
    emu_split(l, 2, &p, &r);
    assert_int_equal(r.acct_pay, Y(30, 0));
    assert_int_equal(r.mulaid_pay, 0);
    assert_int_equal(r.cash, Y(17, 50));
    assert_sums(&r);
}

static void retained_minimum_caps(void **state)
{
    (void)state;
    emu_line l[] = {{Y(2800, 0), EMU_CLASS_A, 0}};
    emu_split_params p = mutual_aid();
    emu_split_result r;
    emu_split(l, 1, &p, &r);
    assert_int_equal(r.acct_pay, Y(35, 20));
    assert_int_equal(r.mulaid_pay, Y(1000, 0));
    assert_int_equal(r.cash, Y(364, 80));
    assert_sums(&r);
    p.authoriser_balance = Y(2000, 0);
    emu_split(l, 1, &p, &r);
    assert_int_equal(r.mulaid_pay, 0);
    assert_non_null(r.mulaid_refusal);
    assert_non_null(strstr(r.mulaid_refusal, "留存"));
}

static void refusals(void **state)
{
    (void)state;
    emu_line l[] = {{Y(84, 0), EMU_CLASS_A, 0}};
    emu_split_result r;
    emu_split_params p = mutual_aid();
    p.same_city = false;
    emu_split(l, 1, &p, &r);
    assert_int_equal(r.mulaid_pay, 0);
    assert_int_equal(r.cash, Y(6, 80));
    assert_non_null(strstr(r.mulaid_refusal, "市域外"));
    p.allow_out_of_city = true;
    emu_split(l, 1, &p, &r);
    assert_int_equal(r.mulaid_pay, Y(6, 80));
    p = mutual_aid();
    p.authoriser_normal = false;
    emu_split(l, 1, &p, &r);
    assert_int_equal(r.mulaid_pay, 0);
    assert_non_null(strstr(r.mulaid_refusal, "授权人"));
    p = mutual_aid();
    p.patient_normal = false;
    emu_split(l, 1, &p, &r);
    assert_int_equal(r.mulaid_pay, 0);
    p = mutual_aid();
    p.use_account = false;
    emu_split(l, 1, &p, &r);
    assert_int_equal(r.acct_pay + r.mulaid_pay, 0);
    assert_null(r.mulaid_refusal);
    assert_sums(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(classes_and_rounding),
        cmocka_unit_test(price_ceiling_and_fund_share),
        cmocka_unit_test(account_not_used_or_short),
        cmocka_unit_test(resident_has_no_account),
        cmocka_unit_test(mutual_aid_pays_scope_remainder),
        cmocka_unit_test(mutual_aid_never_pays_outside_scope),
        cmocka_unit_test(retained_minimum_caps),
        cmocka_unit_test(refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
