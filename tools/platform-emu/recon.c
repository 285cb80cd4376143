/*
 * The daily close: 3201 (对总账, totals of a period reconciled) and 3202 (明细对账, the
 * settlements themselves). The platform's side is the ledger's settlements of the calling
 * institution whose setl_time falls in the period (dates inclusive), per insurance type,
 * clearing type (41 pharmacy, 11 outpatient) and clearing institution (the patient's city,
 * `clr_optins`). A settlement cancelled (2103/2208) or reversed (2601) is not counted: with its
 * cancelling entry it nets to nothing. Contract: docs/platform-emulator.md ("Daily close").
 */
#include "txn_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Settlements listed in one 3202 request (the real interface takes a file; here the list
 * travels inline, docs/platform-emulator.md). */
#define RECON_DETAIL_MAX 500

/* The ledger's view of a settlement for reconciliation: the clearing type and institution
 * derived as the answers of 2102/2207 state them. */
#define RECON_SETTLEMENTS                                                                          \
    "SELECT s.setl_id, s.medfee_sumamt, s.fund_pay_sumamt, s.acct_pay, s.cancelled, "              \
    "CASE WHEN EXISTS (SELECT 1 FROM visits v WHERE v.mdtrt_id = s.mdtrt_id) THEN '11' "           \
    "ELSE '41' END AS clr_type, substr(p.insuplc_admdvs, 1, 4) || '00' AS clr_optins, "            \
    "s.insutype FROM settlements s JOIN persons p ON p.psn_no = s.psn_no "                         \
    "WHERE s.fixmedins_code = ?1 AND s.setl_time >= ?2 || ' 00:00:00' "                            \
    "AND s.setl_time <= ?3 || ' 23:59:59'"

typedef struct {
    const char *begn, *end, *clr_type, *optins;
} period;

static bool date_valid(const char *d)
{
    char t[20];
    snprintf(t, sizeof t, "%.10s 00:00:00", d);
    return strlen(d) == 10 && emu_time_text_valid(t);
}

static int read_period(ctx *c, json_object *d, period *p)
{
    if (need_str(c, d, "data.", "stmt_begndate", 10, false, &p->begn) ||
        need_str(c, d, "data.", "stmt_enddate", 10, false, &p->end) ||
        need_str(c, d, "data.", "clr_type", 6, false, &p->clr_type) ||
        need_str(c, d, "data.", "setl_optins", 6, false, &p->optins))
        return -1;
    if (!date_valid(p->begn) || !date_valid(p->end) || strcmp(p->begn, p->end) > 0)
        return fail(c, "对账日期stmt_begndate/stmt_enddate应为yyyy-MM-dd且起不晚于止");
    if (strcmp(p->clr_type, "41") != 0 && strcmp(p->clr_type, "11") != 0)
        return fail(c, "清算类别clr_type应为41（药店购药）或11（普通门诊）");
    if (!emu_digits(p->optins, 6))
        return fail(c, "清算经办机构setl_optins应为6位数字");
    return 0;
}

static sqlite3_stmt *select_period(ctx *c, const period *p, const char *extra_where)
{
    char sql[1024];
    snprintf(sql, sizeof sql,
             "SELECT * FROM (" RECON_SETTLEMENTS ") WHERE clr_type = ?4 AND clr_optins = ?5%s",
             extra_where);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(c->db, sql, -1, &st, NULL) != SQLITE_OK) {
        db_fail(c);
        return NULL;
    }
    const char *vals[] = {c->fixmedins_code, p->begn, p->end, p->clr_type, p->optins};
    for (int i = 0; i < 5; i++)
        sqlite3_bind_text(st, i + 1, vals[i], -1, SQLITE_STATIC);
    return st;
}

/* ---- 3201 ---- */

int emu_recon_3201(ctx *c, json_object **out)
{
    json_object *d = need_obj(c, c->input, "data");
    period p;
    const char *insutype;
    emu_fen total, fund, acct;
    int64_t count;
    if (d == NULL || read_period(c, d, &p) != 0 ||
        need_str(c, d, "data.", "insutype", 6, false, &insutype) ||
        parse_amount_field(c, d, "data.", "medfee_sumamt", 2, &total, NULL) ||
        parse_amount_field(c, d, "data.", "fund_pay_sumamt", 2, &fund, NULL) ||
        parse_amount_field(c, d, "data.", "acct_pay", 2, &acct, NULL) ||
        parse_amount_field(c, d, "data.", "fixmedins_setl_cnt", 0, &count, NULL))
        return -1;
    sqlite3_stmt *st = select_period(c, &p, " AND cancelled = '' AND insutype = ?6");
    if (st == NULL)
        return -1;
    sqlite3_bind_text(st, 6, insutype, -1, SQLITE_STATIC);
    emu_fen pt = 0, pf = 0, pa = 0;
    int64_t pc = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        pt += sqlite3_column_int64(st, 1);
        pf += sqlite3_column_int64(st, 2);
        pa += sqlite3_column_int64(st, 3);
        pc++;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return db_fail(c);
    bool balanced = pt == total && pf == fund && pa == acct && pc == count;
    char t[32], f[32], a[32], dscr[256];
    emu_fen_format(pt, t, sizeof t);
    emu_fen_format(pf, f, sizeof f);
    emu_fen_format(pa, a, sizeof a);
    snprintf(dscr, sizeof dscr, "%s：平台结算%lld笔，医疗费总额%s，基金支付%s，个人账户支付%s",
             balanced ? "对账一致" : "对账不平", (long long)pc, t, f, a);
    json_object *o = json_object_new_object(), *data = json_object_new_object();
    put_str(data, "setl_optins", p.optins);
    put_str(data, "stmt_rslt", balanced ? "0" : "1");
    put_str(data, "stmt_rslt_dscr", dscr);
    json_object_object_add(o, "data", data);
    *out = o;
    return 0;
}

/* ---- 3202 ---- */

typedef struct {
    const char *setl_id;
    emu_fen total, fund, acct;
    bool refunded; /* refd_setl_flag "1": the terminal holds it cancelled */
    bool matched;
} terminal_line;

static void add_result(json_object *arr, const char *setl_id, const char *rslt, const char *memo)
{
    json_object *r = json_object_new_object();
    put_str(r, "setl_id", setl_id);
    put_str(r, "stmt_rslt", rslt);
    put_str(r, "memo", memo);
    json_object_array_add(arr, r);
}

int emu_recon_3202(ctx *c, json_object **out)
{
    json_object *d = need_obj(c, c->input, "data");
    period p;
    json_object *list;
    if (d == NULL || read_period(c, d, &p) != 0)
        return -1;
    if (!json_object_object_get_ex(c->input, "detail", &list) ||
        json_object_get_type(list) != json_type_array)
        return fail(c, "入参缺少数组：input.detail");
    size_t n = json_object_array_length(list);
    if (n > RECON_DETAIL_MAX)
        return fail(c, "明细对账单次超过%d条，请分段对账", RECON_DETAIL_MAX);
    terminal_line *t = calloc(n ? n : 1, sizeof *t);
    if (t == NULL)
        return fail(c, "平台内部错误，请稍后重试");
    int ret = -1;
    for (size_t i = 0; i < n; i++) {
        json_object *e = json_object_array_get_idx(list, i);
        char where[32];
        snprintf(where, sizeof where, "detail[%zu].", i);
        const char *flag;
        if (json_object_get_type(e) != json_type_object) {
            fail(c, "%s应为对象", where);
            goto done;
        }
        if (need_str(c, e, where, "setl_id", 30, false, &t[i].setl_id) ||
            need_str(c, e, where, "refd_setl_flag", 1, false, &flag) ||
            parse_amount_field(c, e, where, "medfee_sumamt", 2, &t[i].total, NULL) ||
            parse_amount_field(c, e, where, "fund_pay_sumamt", 2, &t[i].fund, NULL) ||
            parse_amount_field(c, e, where, "acct_pay", 2, &t[i].acct, NULL))
            goto done;
        t[i].refunded = flag[0] == '1';
    }
    sqlite3_stmt *st = select_period(c, &p, "");
    if (st == NULL)
        goto done;
    json_object *results = json_object_new_array();
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *id = (const char *)sqlite3_column_text(st, 0);
        bool live = sqlite3_column_text(st, 4)[0] == '\0';
        terminal_line *mine = NULL;
        for (size_t i = 0; i < n && mine == NULL; i++)
            if (!t[i].matched && strcmp(t[i].setl_id, id) == 0)
                mine = &t[i];
        if (mine == NULL) {
            if (live)
                add_result(results, id, "1", "平台有结算，机构无记录");
            continue;
        }
        mine->matched = true;
        if (mine->refunded == live)
            add_result(results, id, "4",
                       live ? "机构记为已撤销，平台为有效结算" : "平台已撤销或冲正，机构记为有效");
        else if (live && (mine->total != sqlite3_column_int64(st, 1) ||
                          mine->fund != sqlite3_column_int64(st, 2) ||
                          mine->acct != sqlite3_column_int64(st, 3)))
            add_result(results, id, "3", "金额不一致");
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        json_object_put(results);
        db_fail(c);
        goto done;
    }
    for (size_t i = 0; i < n; i++)
        if (!t[i].matched && !t[i].refunded)
            add_result(results, t[i].setl_id, "2", "机构有结算，平台无记录");
    json_object *o = json_object_new_object();
    json_object_object_add(o, "result", results);
    *out = o;
    ret = 0;
done:
    free(t);
    return ret;
}
