/*
 * The outpatient visit at a clinic's billing window (门诊): 2201 registration, 2202 its
 * cancellation, 2203 the visit's information (diagnosis, med_type), 2204 fee lines in
 * batches, 2205 a batch undone, 2206 pre-settlement, 2207 settlement, 2208 its cancellation.
 * Contract and rules: docs/platform-emulator.md ("Outpatient visit"). The money steps are the
 * pharmacy sale's (txn_int.h): the same patient checks, split, ledger and cancellation.
 */
#include "txn_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Fee lines in one 2204 request, and in one visit. The national specification leaves the
 * batch size to the region; 100 per request is what provincial gateways commonly allow. */
#define CLINIC_BATCH_MAX 100
#define CLINIC_VISIT_MAX 2000

/* The fund's share of the policy scope: general outpatient (11), and chronic or special
 * disease outpatient (14) for a recognised disease. */
#define FUND_PCT_GENERAL 50
#define FUND_PCT_CHRONIC 70

typedef struct {
    char psn_no[32], insutype[8], inst[16], med_type[8], dise_codg[32], state[16];
} visit;

/* 1 when the visit does not exist. */
static int load_visit(ctx *c, const char *mdtrt_id, visit *v)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(c->db,
                           "SELECT psn_no, insutype, fixmedins_code, med_type, dise_codg, state "
                           "FROM visits WHERE mdtrt_id=?",
                           -1, &st, NULL) != SQLITE_OK)
        return db_fail(c);
    sqlite3_bind_text(st, 1, mdtrt_id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        snprintf(v->psn_no, sizeof v->psn_no, "%s", sqlite3_column_text(st, 0));
        snprintf(v->insutype, sizeof v->insutype, "%s", sqlite3_column_text(st, 1));
        snprintf(v->inst, sizeof v->inst, "%s", sqlite3_column_text(st, 2));
        snprintf(v->med_type, sizeof v->med_type, "%s", sqlite3_column_text(st, 3));
        snprintf(v->dise_codg, sizeof v->dise_codg, "%s", sqlite3_column_text(st, 4));
        snprintf(v->state, sizeof v->state, "%s", sqlite3_column_text(st, 5));
    }
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? 1 : db_fail(c);
}

/* The visit of this request, open, of this patient and institution. With `unsettled`, a visit
 * with a live settlement is refused (its lines and information are fixed until 2208). */
static int open_visit(ctx *c, const char *mdtrt_id, const char *psn_no, bool unsettled, visit *v)
{
    int rc = load_visit(c, mdtrt_id, v);
    if (rc != 0)
        return rc < 0 ? -1 : fail(c, "就诊ID mdtrt_id不存在：%s", mdtrt_id);
    if (strcmp(v->psn_no, psn_no) != 0)
        return fail(c, "就诊记录与人员编号psn_no不一致");
    if (strcmp(v->inst, c->fixmedins_code) != 0)
        return fail(c, "不能办理其他定点机构的就诊");
    if (strcmp(v->state, "open") != 0)
        return fail(c, "该就诊已撤销挂号");
    if (!unsettled)
        return 0;
    int64_t live = 0;
    if (emu_db_scalar(c->db, &live,
                      "SELECT count(*) FROM settlements WHERE mdtrt_id=? AND cancelled=''",
                      mdtrt_id, NULL) != 0)
        return db_fail(c);
    return live ? fail(c, "该就诊已结算，请先撤销结算(2208)") : 0;
}

static int exec_bound(ctx *c, const char *sql, const char *const *texts, int n)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(c->db, sql, -1, &st, NULL) != SQLITE_OK)
        return db_fail(c);
    for (int i = 0; i < n; i++)
        sqlite3_bind_text(st, i + 1, texts[i], -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : db_fail(c);
}

/* ---- 2201 / 2202 ---- */

int emu_clinic_2201(ctx *c, json_object **out)
{
    json_object *d = need_obj(c, c->input, "data");
    const char *psn_no, *insutype, *begntime, *cert_type, *cert_no, *otp_no, *atddr_no, *dr_name,
        *dept_code, *dept_name, *caty;
    if (d == NULL || need_str(c, d, "data.", "psn_no", 30, false, &psn_no) ||
        need_str(c, d, "data.", "insutype", 6, false, &insutype) ||
        need_str(c, d, "data.", "begntime", 19, false, &begntime) ||
        need_str(c, d, "data.", "mdtrt_cert_type", 3, false, &cert_type) ||
        need_str(c, d, "data.", "mdtrt_cert_no", 50, false, &cert_no) ||
        need_str(c, d, "data.", "ipt_otp_no", 30, false, &otp_no) ||
        need_str(c, d, "data.", "atddr_no", 30, false, &atddr_no) ||
        need_str(c, d, "data.", "dr_name", 50, false, &dr_name) ||
        need_str(c, d, "data.", "dept_code", 30, false, &dept_code) ||
        need_str(c, d, "data.", "dept_name", 100, false, &dept_name) ||
        need_str(c, d, "data.", "caty", 10, false, &caty))
        return -1;
    if (!emu_time_text_valid(begntime))
        return fail(c, "字段data.begntime格式错误，应为yyyy-MM-dd HH:mm:ss");
    person p;
    if (check_patient(c, psn_no, cert_type, cert_no, insutype, &p) != 0)
        return -1;
    int64_t seen = 0;
    if (emu_db_scalar(c->db, &seen,
                      "SELECT count(*) FROM visits WHERE fixmedins_code=? AND ipt_otp_no=?",
                      c->fixmedins_code, otp_no, NULL) != 0)
        return db_fail(c);
    if (seen)
        return fail(c, "门诊号ipt_otp_no已登记：%s", otp_no);
    char setl_unused[40], mdtrt_id[40];
    if (new_ids(c, setl_unused, mdtrt_id) != 0)
        return -1;
    const char *vals[] = {mdtrt_id, psn_no,   insutype,  c->fixmedins_code,
                          otp_no,   begntime, dept_name, dr_name};
    if (exec_bound(c,
                   "INSERT INTO visits(mdtrt_id, psn_no, insutype, fixmedins_code, ipt_otp_no, "
                   "begntime, dept_name, dr_name) VALUES (?,?,?,?,?,?,?,?)",
                   vals, 8) != 0)
        return -1;
    json_object *o = json_object_new_object(), *data = json_object_new_object();
    put_str(data, "mdtrt_id", mdtrt_id);
    put_str(data, "psn_no", psn_no);
    put_str(data, "ipt_otp_no", otp_no);
    json_object_object_add(o, "data", data);
    *out = o;
    return 0;
}

int emu_clinic_2202(ctx *c, json_object **out)
{
    json_object *d = need_obj(c, c->input, "data");
    const char *psn_no, *mdtrt_id, *otp_no;
    if (d == NULL || need_str(c, d, "data.", "psn_no", 30, false, &psn_no) ||
        need_str(c, d, "data.", "mdtrt_id", 30, false, &mdtrt_id) ||
        need_str(c, d, "data.", "ipt_otp_no", 30, false, &otp_no))
        return -1;
    visit v;
    if (open_visit(c, mdtrt_id, psn_no, true, &v) != 0)
        return -1;
    const char *ids[] = {mdtrt_id};
    if (exec_bound(c, "UPDATE visits SET state='cancelled' WHERE mdtrt_id=?", ids, 1) != 0 ||
        exec_bound(c, "UPDATE fee_lines SET live=0 WHERE mdtrt_id=?", ids, 1) != 0)
        return -1;
    *out = json_object_new_object();
    return 0;
}

/* ---- 2203 ---- */

int emu_clinic_2203(ctx *c, json_object **out)
{
    json_object *m = need_obj(c, c->input, "mdtrtinfo");
    const char *mdtrt_id, *psn_no, *med_type, *begntime, *dise_codg, *dise_name;
    if (m == NULL || need_str(c, m, "mdtrtinfo.", "mdtrt_id", 30, false, &mdtrt_id) ||
        need_str(c, m, "mdtrtinfo.", "psn_no", 30, false, &psn_no) ||
        need_str(c, m, "mdtrtinfo.", "med_type", 6, false, &med_type) ||
        need_str(c, m, "mdtrtinfo.", "begntime", 19, false, &begntime) ||
        need_str(c, m, "mdtrtinfo.", "dise_codg", 30, true, &dise_codg) ||
        need_str(c, m, "mdtrtinfo.", "dise_name", 100, true, &dise_name))
        return -1;
    if (!emu_time_text_valid(begntime))
        return fail(c, "字段mdtrtinfo.begntime格式错误，应为yyyy-MM-dd HH:mm:ss");
    if (strcmp(med_type, "11") != 0 && strcmp(med_type, "14") != 0)
        return fail(c, "医疗类别med_type应为11（普通门诊）或14（门诊慢特病）");
    visit v;
    if (open_visit(c, mdtrt_id, psn_no, true, &v) != 0)
        return -1;
    if (strcmp(med_type, "14") == 0) {
        if (dise_codg[0] == '\0')
            return fail(c, "门诊慢特病就诊须填写病种编码dise_codg");
        int64_t certified = 0;
        if (emu_db_scalar(c->db, &certified,
                          "SELECT count(*) FROM chronic_certs WHERE psn_no=? AND dise_codg=?",
                          psn_no, dise_codg, NULL) != 0)
            return db_fail(c);
        if (!certified)
            return fail(c, "参保人未办理该病种(%s)的门诊慢特病待遇认定", dise_codg);
    }
    const char *vals[] = {med_type, dise_codg, dise_name, mdtrt_id};
    if (exec_bound(c, "UPDATE visits SET med_type=?, dise_codg=?, dise_name=? WHERE mdtrt_id=?",
                   vals, 4) != 0)
        return -1;
    *out = json_object_new_object();
    return 0;
}

/* ---- 2204 / 2205 ---- */

static int store_fee_line(ctx *c, const char *mdtrt_id, const char *bchno, const line_meta *m)
{
    sqlite3_stmt *st;
    /* a line number undone by 2205 may come again; a live one may not */
    if (sqlite3_prepare_v2(c->db,
                           "INSERT INTO fee_lines(mdtrt_id, feedetl_sn, chrg_bchno, med_list_codg, "
                           "medins_list_codg, amount, cls, overlmt) VALUES (?,?,?,?,?,?,?,?) "
                           "ON CONFLICT(mdtrt_id, feedetl_sn) DO UPDATE SET "
                           "chrg_bchno=excluded.chrg_bchno, med_list_codg=excluded.med_list_codg, "
                           "medins_list_codg=excluded.medins_list_codg, amount=excluded.amount, "
                           "cls=excluded.cls, overlmt=excluded.overlmt, live=1 WHERE live=0",
                           -1, &st, NULL) != SQLITE_OK)
        return db_fail(c);
    const char *texts[] = {mdtrt_id, m->feedetl_sn, bchno, m->med_list_codg, m->medins_list_codg};
    for (int i = 0; i < 5; i++)
        sqlite3_bind_text(st, i + 1, texts[i], -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 6, m->line.amount);
    sqlite3_bind_int(st, 7, (int)m->line.cls);
    sqlite3_bind_int64(st, 8, m->line.overlmt);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return db_fail(c);
    return sqlite3_changes(c->db) == 1
               ? 0
               : fail(c, "费用明细流水号feedetl_sn已上传：%s", m->feedetl_sn);
}

int emu_clinic_2204(ctx *c, json_object **out)
{
    json_object *lines;
    if (!json_object_object_get_ex(c->input, "feedetail", &lines) ||
        json_object_get_type(lines) != json_type_array)
        return fail(c, "入参缺少数组：input.feedetail");
    size_t n = json_object_array_length(lines);
    if (n == 0)
        return fail(c, "费用明细feedetail不能为空");
    if (n > CLINIC_BATCH_MAX)
        return fail(c, "单次上传费用明细超过%d条，请分批上传", CLINIC_BATCH_MAX);
    line_meta *meta = calloc(n, sizeof *meta);
    if (meta == NULL)
        return fail(c, "平台内部错误，请稍后重试");
    int ret = -1;
    const char *mdtrt_id = NULL, *psn_no = NULL, *bchno = NULL;
    visit v;
    for (size_t i = 0; i < n; i++) {
        json_object *d = json_object_array_get_idx(lines, i);
        char where[32];
        snprintf(where, sizeof where, "feedetail[%zu].", i);
        if (json_object_get_type(d) != json_type_object) {
            fail(c, "%s应为对象", where);
            goto done;
        }
        const char *l_mdtrt, *l_psn, *l_bch, *l_med_type;
        if (need_str(c, d, where, "mdtrt_id", 30, false, &l_mdtrt) ||
            need_str(c, d, where, "psn_no", 30, false, &l_psn) ||
            need_str(c, d, where, "chrg_bchno", 30, false, &l_bch) ||
            need_str(c, d, where, "med_type", 6, false, &l_med_type))
            goto done;
        if (i == 0) {
            mdtrt_id = l_mdtrt, psn_no = l_psn, bchno = l_bch;
            if (open_visit(c, mdtrt_id, psn_no, true, &v) != 0)
                goto done;
            if (v.med_type[0] == '\0') {
                fail(c, "请先上传就诊信息(2203)");
                goto done;
            }
        } else if (strcmp(l_mdtrt, mdtrt_id) != 0 || strcmp(l_psn, psn_no) != 0 ||
                   strcmp(l_bch, bchno) != 0) {
            fail(c, "同一批费用明细的mdtrt_id、psn_no、chrg_bchno须一致（%s）", where);
            goto done;
        }
        if (strcmp(l_med_type, v.med_type) != 0) {
            fail(c, "字段%smed_type与就诊信息不一致", where);
            goto done;
        }
        if (parse_fee_line(c, d, where, &meta[i]) != 0 ||
            store_fee_line(c, mdtrt_id, bchno, &meta[i]) != 0)
            goto done;
    }
    int64_t count = 0;
    if (emu_db_scalar(c->db, &count, "SELECT count(*) FROM fee_lines WHERE mdtrt_id=? AND live=1",
                      mdtrt_id, NULL) != 0) {
        db_fail(c);
        goto done;
    }
    if (count > CLINIC_VISIT_MAX) {
        fail(c, "一次就诊的费用明细超过%d条", CLINIC_VISIT_MAX);
        goto done;
    }
    json_object *o = json_object_new_object(), *result = json_object_new_array();
    for (size_t i = 0; i < n; i++)
        json_object_array_add(result, fee_line_result_json(c, &meta[i]));
    json_object_object_add(o, "result", result);
    *out = o;
    ret = 0;
done:
    free(meta);
    return ret;
}

int emu_clinic_2205(ctx *c, json_object **out)
{
    json_object *d = need_obj(c, c->input, "data");
    const char *mdtrt_id, *bchno, *psn_no;
    if (d == NULL || need_str(c, d, "data.", "mdtrt_id", 30, false, &mdtrt_id) ||
        need_str(c, d, "data.", "chrg_bchno", 30, false, &bchno) ||
        need_str(c, d, "data.", "psn_no", 30, false, &psn_no))
        return -1;
    visit v;
    if (open_visit(c, mdtrt_id, psn_no, true, &v) != 0)
        return -1;
    const char *ids[] = {mdtrt_id, bchno};
    if (exec_bound(c, "UPDATE fee_lines SET live=0 WHERE mdtrt_id=? AND chrg_bchno=? AND live=1",
                   ids, 2) != 0)
        return -1;
    if (sqlite3_changes(c->db) == 0)
        return fail(c, "收费批次号chrg_bchno无有效费用明细：%s", bchno);
    *out = json_object_new_object();
    return 0;
}

/* ---- 2206 / 2207 / 2208 ---- */

/* The visit's live fee lines (malloc'd into *lines, count in *n). */
static int load_visit_lines(ctx *c, const char *mdtrt_id, emu_line **lines, size_t *n)
{
    int64_t count = 0;
    if (emu_db_scalar(c->db, &count, "SELECT count(*) FROM fee_lines WHERE mdtrt_id=? AND live=1",
                      mdtrt_id, NULL) != 0)
        return db_fail(c);
    if (count == 0)
        return fail(c, "该就诊无有效费用明细，请先上传(2204)");
    *lines = calloc((size_t)count, sizeof **lines);
    if (*lines == NULL)
        return fail(c, "平台内部错误，请稍后重试");
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(c->db,
                           "SELECT amount, cls, overlmt FROM fee_lines WHERE mdtrt_id=? AND live=1 "
                           "ORDER BY feedetl_sn",
                           -1, &st, NULL) != SQLITE_OK)
        return db_fail(c);
    sqlite3_bind_text(st, 1, mdtrt_id, -1, SQLITE_STATIC);
    size_t i = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && i < (size_t)count) {
        (*lines)[i].amount = sqlite3_column_int64(st, 0);
        (*lines)[i].cls = (emu_drug_class)sqlite3_column_int(st, 1);
        (*lines)[i].overlmt = sqlite3_column_int64(st, 2);
        i++;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        return db_fail(c);
    *n = i;
    return 0;
}

int emu_clinic_2206_2207(ctx *c, bool settle, json_object **out)
{
    json_object *d = need_obj(c, c->input, "data");
    const char *psn_no, *cert_type, *cert_no, *med_type, *setlway, *mdtrt_id, *bchno, *insutype,
        *acct_flag;
    emu_fen sumamt;
    if (d == NULL || need_str(c, d, "data.", "psn_no", 30, false, &psn_no) ||
        need_str(c, d, "data.", "mdtrt_cert_type", 3, false, &cert_type) ||
        need_str(c, d, "data.", "mdtrt_cert_no", 50, false, &cert_no) ||
        need_str(c, d, "data.", "med_type", 6, false, &med_type) ||
        need_str(c, d, "data.", "psn_setlway", 6, false, &setlway) ||
        need_str(c, d, "data.", "mdtrt_id", 30, false, &mdtrt_id) ||
        need_str(c, d, "data.", "chrg_bchno", 30, false, &bchno) ||
        need_str(c, d, "data.", "insutype", 6, false, &insutype) ||
        need_str(c, d, "data.", "acct_used_flag", 1, false, &acct_flag) ||
        parse_amount_field(c, d, "data.", "medfee_sumamt", 2, &sumamt, NULL))
        return -1;
    if (strcmp(acct_flag, "0") != 0 && strcmp(acct_flag, "1") != 0)
        return fail(c, "字段data.acct_used_flag应为\"0\"或\"1\"");
    if (strcmp(setlway, "01") != 0)
        return fail(c, "结算方式psn_setlway仅支持01（按项目结算）");
    visit v;
    person p;
    if (check_patient(c, psn_no, cert_type, cert_no, insutype, &p) != 0 ||
        open_visit(c, mdtrt_id, psn_no, true, &v) != 0)
        return -1;
    if (v.med_type[0] == '\0')
        return fail(c, "请先上传就诊信息(2203)");
    if (strcmp(med_type, v.med_type) != 0)
        return fail(c, "医疗类别med_type与就诊信息不一致");
    int64_t batch = 0;
    if (emu_db_scalar(c->db, &batch,
                      "SELECT count(*) FROM fee_lines WHERE mdtrt_id=? AND chrg_bchno=? AND live=1",
                      mdtrt_id, bchno, NULL) != 0)
        return db_fail(c);
    if (!batch)
        return fail(c, "收费批次号chrg_bchno无有效费用明细：%s", bchno);
    emu_line *lines = NULL;
    size_t n = 0;
    int ret = -1;
    if (load_visit_lines(c, mdtrt_id, &lines, &n) != 0)
        goto done;
    emu_fen sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += lines[i].amount;
    if (sum != sumamt) {
        fail(c, "医疗费总额medfee_sumamt与已上传费用明细合计不符");
        goto done;
    }
    person authoriser;
    bool has_authoriser = false;
    emu_split_result r;
    int pct = strcmp(v.med_type, "14") == 0 ? FUND_PCT_CHRONIC : FUND_PCT_GENERAL;
    if (split_payment(c, &p, acct_flag[0] == '1', lines, n, pct, &authoriser, &has_authoriser,
                      &r) != 0)
        goto done;
    setl_view sv = {
        .sign = 1, .medins_setl_id = c->msgid, .mdtrt_id = mdtrt_id, .med_type = v.med_type};
    emu_time_text(c->now, sv.setl_time);
    sv.balc_na = !p.has_balance;
    sv.balc = p.balance - r.acct_pay;
    char setl_id[40];
    if (settle) {
        if (new_ids(c, setl_id, NULL) != 0)
            goto done;
        sv.setl_id = setl_id;
        /* no institution-side settlement number in 2207: the visit is the reference */
        if (record_settlement(c, &p, &sv, "", &r, has_authoriser ? &authoriser : NULL) != 0)
            goto done;
    }
    json_object *o = json_object_new_object();
    json_object_object_add(o, "setlinfo", setlinfo_json(c, &p, &sv, &r));
    if (settle)
        json_object_object_add(o, "setldetail", setldetail_json(c, &p, &r, 1));
    *out = o;
    ret = 0;
done:
    free(lines);
    return ret;
}

int emu_clinic_2208(ctx *c, json_object **out)
{
    json_object *d = need_obj(c, c->input, "data");
    const char *setl_id, *mdtrt_id, *psn_no;
    if (d == NULL || need_str(c, d, "data.", "setl_id", 30, false, &setl_id) ||
        need_str(c, d, "data.", "mdtrt_id", 30, false, &mdtrt_id) ||
        need_str(c, d, "data.", "psn_no", 30, false, &psn_no))
        return -1;
    return cancel_settlement(c, setl_id, psn_no, mdtrt_id, out);
}
