/*
 * emu.clinic: the outpatient visit (2201-2208) as a clinic's billing window drives it, over
 * real HTTPS on loopback, with exact fen values from the rules in docs/platform-emulator.md
 * ("Outpatient visit"): catalogue classes 甲/乙/丙, price ceilings, the fund's share for general
 * (11) and chronic (14) outpatient, 共济, batches, undo steps and the ledger after each; and
 * the day's close (3201 totals, 3202 settlements) over sales and visits ("Daily close").
 */
#include "emu_client.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#define Y(yuan, fen) ((emu_fen)(yuan)*100 + (fen))

/* catalogue (seeded, docs/platform-emulator.md) */
#define CONSULT   "001102000010000"         /* 甲, ceiling 10.00 */
#define BLOOD     "250101001000000"         /* 甲, ceiling 20.00 */
#define HBA1C     "250302002000000"         /* 乙 */
#define METFORMIN "XA10BAA030A001010300582" /* 甲 */
#define UNLISTED  "XA11GAV003A001010100777" /* 丙: not in the catalogue */

typedef struct {
    emu_server srv;
    emu_term t;
    emu_scan_result s;
    char mdtrt_id[40];
    char med_type[4];
    char day[11]; /* the platform's date of the last sale (its clock, its time zone) */
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    *state = f;
    if (f == NULL || emu_server_start(&f->srv, "server", NULL) != 0)
        return -1;
    return emu_term_open(&f->t, &f->srv) == 0 && emu_sign_in(&f->t) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
    fixture *f = *state;
    if (f == NULL)
        return 0;
    emu_scan_free(&f->s);
    emu_term_close(&f->t);
    int rc = emu_server_stop(&f->srv);
    free(f);
    return rc == 0 ? 0 : -1;
}

static void expect_ok(json_object *r, const char *what)
{
    assert_non_null(r);
    if (!emu_ok(r))
        fprintf(stderr, "%s refused: %s\n", what, emu_err_msg(r));
    assert_true(emu_ok(r));
}

static void expect_refused(json_object *r, const char *needle)
{
    assert_non_null(r);
    assert_false(emu_ok(r));
    if (strstr(emu_err_msg(r), needle) == NULL) {
        fprintf(stderr, "err_msg '%s' lacks '%s'\n", emu_err_msg(r), needle);
        fail();
    }
    json_object_put(r);
}

static void add(json_object *o, const char *k, const char *v)
{
    json_object_object_add(o, k, json_object_new_string(v));
}

static json_object *call(fixture *f, const char *infno, json_object *in, char msgid[31])
{
    return emu_call(&f->t, infno, in, f->s.insuplc, msgid);
}

/* Scans the patient's code and registers a visit (2201). */
static void register_visit(fixture *f, const char *person, const char *otp_no)
{
    int rc = emu_scan(&f->t, person, NULL, &f->s);
    assert_int_equal(rc, 0);
    char now[20];
    emu_time_text(time(NULL), now);
    json_object *in = json_object_new_object(), *d = json_object_new_object();
    add(d, "psn_no", f->s.psn_no);
    add(d, "insutype", emu_path_str(f->s.person, "output.insuinfo.0.insutype"));
    add(d, "begntime", now);
    add(d, "mdtrt_cert_type", "01");
    add(d, "mdtrt_cert_no", f->s.token);
    add(d, "ipt_otp_no", otp_no);
    add(d, "atddr_no", "D0001");
    add(d, "dr_name", "周医生");
    add(d, "dept_code", "A03");
    add(d, "dept_name", "内科");
    add(d, "caty", "A03");
    json_object_object_add(in, "data", d);
    json_object *r = call(f, "2201", in, NULL);
    expect_ok(r, "2201");
    snprintf(f->mdtrt_id, sizeof f->mdtrt_id, "%s", emu_path_str(r, "output.data.mdtrt_id"));
    assert_true(strlen(f->mdtrt_id) > 0);
    json_object_put(r);
}

static json_object *visit_info(fixture *f, const char *med_type, const char *dise_codg)
{
    snprintf(f->med_type, sizeof f->med_type, "%s", med_type);
    char now[20];
    emu_time_text(time(NULL), now);
    json_object *in = json_object_new_object(), *m = json_object_new_object();
    add(m, "mdtrt_id", f->mdtrt_id);
    add(m, "psn_no", f->s.psn_no);
    add(m, "med_type", med_type);
    add(m, "begntime", now);
    add(m, "main_cond_dscr", "复诊");
    add(m, "dise_codg", dise_codg);
    add(m, "dise_name", dise_codg[0] ? "慢病" : "");
    json_object_object_add(in, "mdtrtinfo", m);
    json_object_object_add(in, "diseinfo", json_object_new_array());
    return call(f, "2203", in, NULL);
}

typedef struct {
    const char *codg;
    int cnt;
    const char *pric, *amount;
} line;

/* 2204: lines first_sn, first_sn+1, ... in batch bchno. */
static json_object *fee_lines(fixture *f, const char *bchno, unsigned first_sn, const line *l,
                              size_t n)
{
    char now[20];
    emu_time_text(time(NULL), now);
    json_object *in = json_object_new_object(), *arr = json_object_new_array();
    for (size_t i = 0; i < n; i++) {
        json_object *d = json_object_new_object();
        char sn[16];
        snprintf(sn, sizeof sn, "%u", first_sn + (unsigned)i);
        add(d, "feedetl_sn", sn);
        add(d, "mdtrt_id", f->mdtrt_id);
        add(d, "psn_no", f->s.psn_no);
        add(d, "chrg_bchno", bchno);
        add(d, "med_type", f->med_type);
        add(d, "fee_ocur_time", now);
        add(d, "med_list_codg", l[i].codg);
        add(d, "medins_list_codg", "HIS0001");
        add(d, "det_item_fee_sumamt", l[i].amount);
        json_object_object_add(d, "cnt", json_object_new_int(l[i].cnt));
        add(d, "pric", l[i].pric);
        json_object_array_add(arr, d);
    }
    json_object_object_add(in, "feedetail", arr);
    return call(f, "2204", in, NULL);
}

static json_object *settle(fixture *f, const char *infno, const char *bchno, emu_fen total,
                           bool use_account, char msgid[31])
{
    json_object *in = json_object_new_object(), *d = json_object_new_object();
    char sum[32];
    emu_fen_format(total, sum, sizeof sum);
    add(d, "psn_no", f->s.psn_no);
    add(d, "mdtrt_cert_type", "01");
    add(d, "mdtrt_cert_no", f->s.token);
    add(d, "med_type", f->med_type);
    add(d, "medfee_sumamt", sum);
    add(d, "psn_setlway", "01");
    add(d, "mdtrt_id", f->mdtrt_id);
    add(d, "chrg_bchno", bchno);
    add(d, "insutype", emu_path_str(f->s.person, "output.insuinfo.0.insutype"));
    add(d, "acct_used_flag", use_account ? "1" : "0");
    json_object_object_add(in, "data", d);
    return call(f, infno, in, msgid);
}

static json_object *cancel(fixture *f, const char *setl_id)
{
    json_object *in = json_object_new_object(), *d = json_object_new_object();
    add(d, "setl_id", setl_id);
    add(d, "mdtrt_id", f->mdtrt_id);
    add(d, "psn_no", f->s.psn_no);
    json_object_object_add(in, "data", d);
    return call(f, "2208", in, NULL);
}

#define SETL(r, k) emu_path_fen((r), "output.setlinfo." k)

static void assert_split(json_object *r, emu_fen total, emu_fen fund, emu_fen acct, emu_fen mulaid,
                         emu_fen cash)
{
    expect_ok(r, "settlement");
    assert_int_equal(SETL(r, "medfee_sumamt"), total);
    assert_int_equal(SETL(r, "fund_pay_sumamt"), fund);
    assert_int_equal(SETL(r, "acct_pay"), acct);
    assert_int_equal(SETL(r, "acct_mulaid_pay"), mulaid);
    assert_int_equal(SETL(r, "psn_cash_pay"), cash);
    /* the parts add up to the total, as the terminal checks */
    assert_int_equal(fund + acct + mulaid + cash, total);
}

/* 甲 over its price ceiling, 甲 within, 乙, 丙: each part lands where the rules say. */
static void general_visit_mixed_classes(void **state)
{
    fixture *f = *state;
    register_visit(f, "employee", "MZ0001");
    json_object *r = visit_info(f, "11", "");
    expect_ok(r, "2203");
    json_object_put(r);
    const line l[] = {
        {CONSULT, 1, "15.00", "15.00"}, /* ceiling 10.00: 5.00 over the limit */
        {BLOOD, 1, "18.00", "18.00"},
        {HBA1C, 1, "60.00", "60.00"},    /* 乙: 6.00 paid first by the patient */
        {UNLISTED, 2, "12.50", "25.00"}, /* 丙: all self-paid */
    };
    r = fee_lines(f, "B1", 1, l, 4);
    expect_ok(r, "2204");
    assert_int_equal(emu_path_fen(r, "output.result.0.overlmt_amt"), Y(5, 0));
    assert_int_equal(emu_path_fen(r, "output.result.0.pric_uplmt_amt"), Y(10, 0));
    assert_int_equal(emu_path_fen(r, "output.result.0.inscp_scp_amt"), Y(10, 0));
    assert_string_equal(emu_path_str(r, "output.result.0.chrgitm_lv"), "01");
    assert_int_equal(emu_path_fen(r, "output.result.1.overlmt_amt"), 0);
    assert_int_equal(emu_path_fen(r, "output.result.2.preselfpay_amt"), Y(6, 0));
    assert_string_equal(emu_path_str(r, "output.result.2.selfpay_prop"), "0.10");
    assert_int_equal(emu_path_fen(r, "output.result.3.fulamt_ownpay_amt"), Y(25, 0));
    assert_string_equal(emu_path_str(r, "output.result.3.chrgitm_lv"), "03");
    json_object_put(r);

    /* pre-settlement moves nothing */
    r = settle(f, "2206", "B1", Y(118, 0), true, NULL);
    assert_split(r, Y(118, 0), Y(41, 0), Y(77, 0), 0, 0);
    json_object_put(r);
    assert_int_equal(emu_balance(&f->srv, "employee"), Y(3000, 0));

    r = settle(f, "2207", "B1", Y(118, 0), true, NULL);
    /* scope 10 + 18 + 54 = 82.00, fund 50 % = 41.00; over-limit 5.00, 乙 6.00, 丙 25.00 */
    assert_split(r, Y(118, 0), Y(41, 0), Y(77, 0), 0, 0);
    assert_int_equal(SETL(r, "overlmt_selfpay"), Y(5, 0));
    assert_int_equal(SETL(r, "preselfpay_amt"), Y(6, 0));
    assert_int_equal(SETL(r, "fulamt_ownpay_amt"), Y(25, 0));
    assert_int_equal(SETL(r, "inscp_scp_amt"), Y(82, 0));
    assert_string_equal(emu_path_str(r, "output.setlinfo.med_type"), "11");
    assert_string_equal(emu_path_str(r, "output.setlinfo.mdtrt_id"), f->mdtrt_id);
    json_object_put(r);
    assert_int_equal(emu_balance(&f->srv, "employee"), Y(2923, 0));

    /* settled: lines and information are fixed, a second settlement is refused */
    expect_refused(settle(f, "2207", "B1", Y(118, 0), true, NULL), "已结算");
    expect_refused(fee_lines(f, "B2", 9, l, 1), "已结算");
    assert_int_equal(emu_balance(&f->srv, "employee"), Y(2923, 0));
}

/* 门诊慢特病 (14): the fund pays 70 % for a recognised disease, 共济 the rest of the scope. */
static void chronic_visit_with_mutual_aid(void **state)
{
    fixture *f = *state;
    register_visit(f, "parent", "MZ0002");
    expect_refused(visit_info(f, "14", ""), "病种编码");
    expect_refused(visit_info(f, "14", "I10.x00"), "待遇认定"); /* not her disease */
    json_object *r = visit_info(f, "14", "E11.900");
    expect_ok(r, "2203");
    json_object_put(r);
    const line l[] = {{METFORMIN, 5, "20.00", "100.00"}, {HBA1C, 1, "60.00", "60.00"}};
    r = fee_lines(f, "B1", 1, l, 2);
    expect_ok(r, "2204");
    json_object_put(r);
    char msgid[31];
    r = settle(f, "2207", "B1", Y(160, 0), true, msgid);
    /* scope 100 + 54 = 154.00, fund 70 % = 107.80, patient 52.20: own account 35.20 (all of
     * it), 共济 the rest of the scope's self-paid part (46.20 - 35.20 = 11.00), cash 6.00 */
    assert_split(r, Y(160, 0), Y(107, 80), Y(35, 20), Y(11, 0), Y(6, 0));
    assert_string_equal(emu_path_str(r, "output.setlinfo.med_type"), "14");
    char setl_id[40];
    snprintf(setl_id, sizeof setl_id, "%s", emu_path_str(r, "output.setlinfo.setl_id"));
    json_object_put(r);
    assert_int_equal(emu_balance(&f->srv, "parent"), 0);
    assert_int_equal(emu_balance(&f->srv, "employee"), Y(2989, 0));

    /* a visit's settlement is not a pharmacy sale's: 2103 refuses it */
    json_object *in = json_object_new_object(), *d = json_object_new_object();
    add(d, "setl_id", setl_id);
    add(d, "psn_no", f->s.psn_no);
    json_object_object_add(in, "data", d);
    expect_refused(call(f, "2103", in, NULL), "2208");

    /* 2208 gives both accounts back; a second 2208 is refused */
    r = cancel(f, setl_id);
    assert_split(r, -Y(160, 0), -Y(107, 80), -Y(35, 20), -Y(11, 0), -Y(6, 0));
    json_object_put(r);
    assert_int_equal(emu_balance(&f->srv, "parent"), Y(35, 20));
    assert_int_equal(emu_balance(&f->srv, "employee"), Y(3000, 0));
    expect_refused(cancel(f, setl_id), "已撤销");

    /* the visit may be settled again after the cancellation; 2601 of that 2207 reverses it */
    r = settle(f, "2207", "B1", Y(160, 0), true, msgid);
    assert_split(r, Y(160, 0), Y(107, 80), Y(35, 20), Y(11, 0), Y(6, 0));
    json_object_put(r);
    in = json_object_new_object();
    d = json_object_new_object();
    add(d, "psn_no", f->s.psn_no);
    add(d, "omsgid", msgid);
    add(d, "oinfno", "2207");
    json_object_object_add(in, "data", d);
    r = call(f, "2601", in, NULL);
    expect_ok(r, "2601");
    json_object_put(r);
    assert_int_equal(emu_balance(&f->srv, "parent"), Y(35, 20));
    assert_int_equal(emu_balance(&f->srv, "employee"), Y(3000, 0));
}

/* 250 lines in batches of at most 100; a batch undone (2205) and sent again. */
static void visit_of_hundreds_of_lines(void **state)
{
    fixture *f = *state;
    register_visit(f, "employee", "MZ0003");
    json_object *r = visit_info(f, "11", "");
    expect_ok(r, "2203");
    json_object_put(r);
    static line l[101];
    for (size_t i = 0; i < 101; i++)
        l[i] = (line){BLOOD, 1, "1.00", "1.00"};
    expect_refused(fee_lines(f, "B1", 1, l, 101), "分批");
    const char *batch[] = {"B1", "B2", "B3"};
    const size_t count[] = {100, 100, 50};
    unsigned sn = 1;
    for (int b = 0; b < 3; b++) {
        r = fee_lines(f, batch[b], sn, l, count[b]);
        expect_ok(r, "2204");
        assert_int_equal(json_object_array_length(emu_path(r, "output.result")), count[b]);
        json_object_put(r);
        sn += (unsigned)count[b];
    }
    /* a line number already live is refused */
    expect_refused(fee_lines(f, "B4", 1, l, 1), "已上传");

    /* B2 undone: 150 lines left; the total of 250 no longer matches */
    json_object *in = json_object_new_object(), *d = json_object_new_object();
    add(d, "mdtrt_id", f->mdtrt_id);
    add(d, "chrg_bchno", "B2");
    add(d, "psn_no", f->s.psn_no);
    json_object_object_add(in, "data", d);
    json_object *again = json_object_get(in);
    r = call(f, "2205", in, NULL);
    expect_ok(r, "2205");
    json_object_put(r);
    expect_refused(call(f, "2205", again, NULL), "无有效费用明细");
    expect_refused(settle(f, "2206", "B3", Y(250, 0), true, NULL), "不符");
    r = settle(f, "2206", "B3", Y(150, 0), true, NULL);
    assert_split(r, Y(150, 0), Y(75, 0), Y(75, 0), 0, 0);
    json_object_put(r);

    /* the undone lines come again (same numbers) and the visit settles whole */
    r = fee_lines(f, "B2", 101, l, 100);
    expect_ok(r, "2204");
    json_object_put(r);
    r = settle(f, "2207", "B3", Y(250, 0), true, NULL);
    assert_split(r, Y(250, 0), Y(125, 0), Y(125, 0), 0, 0);
    json_object_put(r);
    assert_int_equal(emu_balance(&f->srv, "employee"), Y(2875, 0));
}

/* 2202: the visit abandoned before settlement; nothing can be added to it afterwards. */
static void abandoned_visit(void **state)
{
    fixture *f = *state;
    register_visit(f, "employee", "MZ0004");
    snprintf(f->med_type, sizeof f->med_type, "11");
    json_object *r = fee_lines(f, "B1", 1, (line[]){{CONSULT, 1, "10.00", "10.00"}}, 1);
    expect_refused(r, "2203"); /* lines need the visit's information first */
    r = visit_info(f, "11", "");
    expect_ok(r, "2203");
    json_object_put(r);
    r = fee_lines(f, "B1", 1, (line[]){{CONSULT, 1, "10.00", "10.00"}}, 1);
    expect_ok(r, "2204");
    json_object_put(r);
    json_object *in = json_object_new_object(), *d = json_object_new_object();
    add(d, "psn_no", f->s.psn_no);
    add(d, "mdtrt_id", f->mdtrt_id);
    add(d, "ipt_otp_no", "MZ0004");
    json_object_object_add(in, "data", d);
    json_object *again = json_object_get(in);
    r = call(f, "2202", in, NULL);
    expect_ok(r, "2202");
    json_object_put(r);
    expect_refused(call(f, "2202", again, NULL), "已撤销");
    expect_refused(settle(f, "2207", "B1", Y(10, 0), true, NULL), "已撤销");
    assert_int_equal(emu_balance(&f->srv, "employee"), Y(3000, 0));
}

/* ---- the daily close ---- */

static json_object *totals(fixture *f, const char *clr_type, emu_fen total, emu_fen fund,
                           emu_fen acct, int count)
{
    const char *today = f->day;
    char t[32], fu[32], a[32], n[16];
    json_object *in = json_object_new_object(), *d = json_object_new_object();
    add(d, "insutype", "310");
    add(d, "clr_type", clr_type);
    add(d, "setl_optins", "120100");
    add(d, "stmt_begndate", today);
    add(d, "stmt_enddate", today);
    add(d, "medfee_sumamt", emu_fen_format(total, t, sizeof t));
    add(d, "fund_pay_sumamt", emu_fen_format(fund, fu, sizeof fu));
    add(d, "acct_pay", emu_fen_format(acct, a, sizeof a));
    snprintf(n, sizeof n, "%d", count);
    add(d, "fixmedins_setl_cnt", n);
    json_object_object_add(in, "data", d);
    return emu_call(&f->t, "3201", in, NULL, NULL);
}

typedef struct {
    const char *setl_id;
    emu_fen total, fund, acct;
    bool refunded;
} mine;

static json_object *details(fixture *f, const mine *m, size_t n)
{
    const char *today = f->day;
    json_object *in = json_object_new_object(), *d = json_object_new_object(),
                *arr = json_object_new_array();
    add(d, "clr_type", "41");
    add(d, "setl_optins", "120100");
    add(d, "stmt_begndate", today);
    add(d, "stmt_enddate", today);
    for (size_t i = 0; i < n; i++) {
        json_object *e = json_object_new_object();
        char t[32], fu[32], a[32];
        add(e, "setl_id", m[i].setl_id);
        add(e, "refd_setl_flag", m[i].refunded ? "1" : "0");
        add(e, "medfee_sumamt", emu_fen_format(m[i].total, t, sizeof t));
        add(e, "fund_pay_sumamt", emu_fen_format(m[i].fund, fu, sizeof fu));
        add(e, "acct_pay", emu_fen_format(m[i].acct, a, sizeof a));
        json_object_array_add(arr, e);
    }
    json_object_object_add(in, "data", d);
    json_object_object_add(in, "detail", arr);
    return emu_call(&f->t, "3202", in, NULL, NULL);
}

static char *pharmacy_sale(fixture *f, const char *infno_extra_cancel)
{
    emu_scan_result s;
    assert_int_equal(emu_scan(&f->t, "employee", NULL, &s), 0);
    emu_test_line l[] = {{"XJ01CAA040A001010100001", 2, "15.90", "31.80"}};
    json_object *in = emu_sale_input(&s, "310", true, l, 1, "ORD-RECON");
    json_object *r = emu_call(&f->t, "2102", in, s.insuplc, NULL);
    expect_ok(r, "2102");
    char *id = strdup(emu_path_str(r, "output.setlinfo.setl_id"));
    snprintf(f->day, sizeof f->day, "%.10s", emu_path_str(r, "output.setlinfo.setl_time"));
    json_object_put(r);
    if (infno_extra_cancel != NULL) {
        json_object *cin = json_object_new_object(), *d = json_object_new_object();
        add(d, "setl_id", id);
        add(d, "psn_no", s.psn_no);
        json_object_object_add(cin, "data", d);
        r = emu_call(&f->t, infno_extra_cancel, cin, s.insuplc, NULL);
        expect_ok(r, "2103");
        json_object_put(r);
    }
    emu_scan_free(&s);
    return id;
}

/* A day with a sale, a cancelled sale and a visit: the platform's totals per clearing type,
 * and the settlements that differ found one by one. */
static void daily_close(void **state)
{
    fixture *f = *state;
    char *sale = pharmacy_sale(f, NULL);
    char *cancelled = pharmacy_sale(f, "2103");
    register_visit(f, "employee", "MZ0005");
    json_object *r = visit_info(f, "11", "");
    expect_ok(r, "2203");
    json_object_put(r);
    r = fee_lines(f, "B1", 1, (line[]){{BLOOD, 1, "18.00", "18.00"}}, 1);
    expect_ok(r, "2204");
    json_object_put(r);
    r = settle(f, "2207", "B1", Y(18, 0), true, NULL);
    expect_ok(r, "2207");
    json_object_put(r);

    /* 41: the one live sale (31.80, fund 15.90, account 15.90) */
    r = totals(f, "41", Y(31, 80), Y(15, 90), Y(15, 90), 1);
    expect_ok(r, "3201");
    assert_string_equal(emu_path_str(r, "output.data.stmt_rslt"), "0");
    json_object_put(r);
    r = totals(f, "41", Y(63, 60), Y(31, 80), Y(31, 80), 2); /* counting the cancelled one */
    expect_ok(r, "3201");
    assert_string_equal(emu_path_str(r, "output.data.stmt_rslt"), "1");
    assert_non_null(strstr(emu_path_str(r, "output.data.stmt_rslt_dscr"), "平台结算1笔"));
    assert_non_null(strstr(emu_path_str(r, "output.data.stmt_rslt_dscr"), "31.80"));
    json_object_put(r);
    /* 11: the visit */
    r = totals(f, "11", Y(18, 0), Y(9, 0), Y(9, 0), 1);
    assert_string_equal(emu_path_str(r, "output.data.stmt_rslt"), "0");
    json_object_put(r);

    /* 3202: the terminal's list as it should be: nothing differs */
    mine ok[] = {{sale, Y(31, 80), Y(15, 90), Y(15, 90), false},
                 {cancelled, Y(31, 80), Y(15, 90), Y(15, 90), true}};
    r = details(f, ok, 2);
    expect_ok(r, "3202");
    assert_int_equal(json_object_array_length(emu_path(r, "output.result")), 0);
    json_object_put(r);
    /* one fen off, a cancelled sale held live, a settlement the platform never made */
    mine bad[] = {{sale, Y(31, 81), Y(15, 90), Y(15, 90), false},
                  {cancelled, Y(31, 80), Y(15, 90), Y(15, 90), false},
                  {"STL-NOT-ON-PLATFORM", Y(1, 0), 0, 0, false}};
    r = details(f, bad, 3);
    expect_ok(r, "3202");
    assert_int_equal(json_object_array_length(emu_path(r, "output.result")), 3);
    assert_string_equal(emu_path_str(r, "output.result.0.stmt_rslt"), "3");
    assert_string_equal(emu_path_str(r, "output.result.1.stmt_rslt"), "4");
    assert_string_equal(emu_path_str(r, "output.result.2.stmt_rslt"), "2");
    json_object_put(r);
    /* a live settlement missing from the terminal's list */
    r = details(f, NULL, 0);
    assert_int_equal(json_object_array_length(emu_path(r, "output.result")), 1);
    assert_string_equal(emu_path_str(r, "output.result.0.setl_id"), sale);
    assert_string_equal(emu_path_str(r, "output.result.0.stmt_rslt"), "1");
    json_object_put(r);
    free(sale);
    free(cancelled);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(general_visit_mixed_classes, setup, teardown),
        cmocka_unit_test_setup_teardown(chronic_visit_with_mutual_aid, setup, teardown),
        cmocka_unit_test_setup_teardown(visit_of_hundreds_of_lines, setup, teardown),
        cmocka_unit_test_setup_teardown(abandoned_visit, setup, teardown),
        cmocka_unit_test_setup_teardown(daily_close, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
