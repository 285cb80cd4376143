/* evt_txn: the outpatient visit (门诊). See txn.h for the flow; it is made of the steps the
 * sale shares (txn_steps.c: the patient, the money, the receipt), never of a copy of the sale. */
#include <stdio.h>
#include <string.h>

#include "evt/arena.h"
#include "evt/log.h"
#include "evt/proto.h"
#include "evt/txn.h"
#include "txn_internal.h"

#define MOD TXN_MOD
/* The open visit's record: one visit at a time is open on a terminal. */
#define VISIT_OPEN_KEY     "vopen"
#define VISIT_OPEN_VERSION 1u

/* What undoes an open visit (2202), in the journal from before its 2201 leaves until it is
 * settled or undone. Plain character arrays: stored as they are, after a version byte. */
typedef struct visit_open {
    char visit_id[EVT_ORDER_ID_BYTES];
    char mdtrt_id[31]; /* "" until the 2201 answered */
    char psn_no[31];
    char insuplc[7];
    char ipt_otp_no[31];
} visit_open;

/* One visit; wiped when it ends. Of its fee lines only the running totals. */
typedef struct visit_state {
    evt_txn *t;
    const evt_visit *visit; /* NULL when only its undo is at hand (recovery) */
    const char *infno;      /* the request being built */
    evt_order_record rec;   /* the visit's record (EVT_ORDERS_VISITS) */
    evt_txn_patient p;
    visit_open open;
    evt_datetime begntime;
    char bchno[12];   /* chrg_bchno of the batch being sent: its number */
    uint32_t batches; /* sent so far */
    evt_fee_summary fees, batch_fees;
    evt_settlement pre, setl;
} visit_state;

/* ---- the open visit's record -------------------------------------------------------------- */

static evt_err open_put(evt_txn *t, const visit_open *o)
{
    uint8_t buf[1 + sizeof *o];
    buf[0] = VISIT_OPEN_VERSION;
    memcpy(buf + 1, o, sizeof *o);
    return evt_journal_put(t->journal, VISIT_OPEN_KEY, buf, sizeof buf);
}

/* EVT_ERR_NOT_FOUND when no visit is open; a damaged record reads as corrupt. */
static evt_err open_get(evt_txn *t, visit_open *o)
{
    uint8_t buf[1 + sizeof *o + 1];
    size_t len = 0;
    evt_err err = evt_journal_get(t->journal, VISIT_OPEN_KEY, buf, sizeof buf, &len);
    if (err != EVT_OK) {
        return err;
    }
    memcpy(o, buf + 1, sizeof *o);
    bool ok = len == 1 + sizeof *o && buf[0] == VISIT_OPEN_VERSION &&
              memchr(o->visit_id, 0, sizeof o->visit_id) && memchr(o->mdtrt_id, 0, 31) &&
              memchr(o->psn_no, 0, 31) && memchr(o->insuplc, 0, 7) && memchr(o->ipt_otp_no, 0, 31);
    return ok ? EVT_OK : EVT_ERR_JOURNAL_CORRUPT;
}

static void open_drop(evt_txn *t, const char *why)
{
    evt_err err = evt_journal_del(t->journal, VISIT_OPEN_KEY);
    if (err != EVT_OK && err != EVT_ERR_NOT_FOUND) {
        EVT_LOGE(MOD, "open visit record not removed: %s", evt_err_name(err));
    }
    EVT_LOGI(MOD, "open visit closed: %s", why);
}

/* ---- requests ----------------------------------------------------------------------------- */

static evt_err build_visit(void *arg, const evt_proto_identity *id, const evt_proto_envelope *env,
                           evt_json_writer *w, evt_json_diag *diag)
{
    const visit_state *s = arg;
    const evt_visit *v = s->visit;
    evt_proto_visit pv = {
        .psn_no = s->open.psn_no,
        .mdtrt_id = s->open.mdtrt_id,
        .ipt_otp_no = s->open.ipt_otp_no,
        .begntime = s->begntime,
        .chrg_bchno = s->bchno,
        .batch = s->t->order,
        .first_sn = s->fees.lines + 1u,
    };
    if (v != NULL) {
        pv.insutype = s->p.insu->insutype;
        pv.ec_token = s->p.voucher.ec_token;
        pv.atddr_no = v->atddr_no;
        pv.dr_name = v->dr_name;
        pv.dept_code = v->dept_code;
        pv.dept_name = v->dept_name;
        pv.caty = v->caty;
        pv.med_type = v->med_type;
        pv.dise_codg = v->dise_codg;
        pv.dise_name = v->dise_name;
        pv.medfee_sumamt = v->total;
        pv.use_personal_account = v->use_personal_account;
    }
    return evt_proto_write_visit(id, env, s->infno, &pv, w, diag);
}

static evt_err parse_ack(void *arg, const evt_proto_response *resp, evt_json_diag *diag)
{
    (void)arg;
    (void)diag;
    return evt_proto_parse_ack(resp);
}

static evt_err parse_register(void *arg, const evt_proto_response *resp, evt_json_diag *diag)
{
    visit_state *s = arg;
    return evt_proto_parse_visit_register(resp, s->open.mdtrt_id, diag);
}

static evt_err parse_fees(void *arg, const evt_proto_response *resp, evt_json_diag *diag)
{
    visit_state *s = arg;
    const evt_order *b = s->t->order;
    return evt_proto_parse_fee_lines(resp, b->item_count, b->total, &s->batch_fees, diag);
}

static evt_err parse_presettle(void *arg, const evt_proto_response *resp, evt_json_diag *diag)
{
    visit_state *s = arg;
    return evt_proto_parse_settlement(resp, EVT_PROTO_PRESETTLE, s->visit->total, s->open.psn_no,
                                      &s->pre, diag);
}

static evt_err answer_settle(void *arg, const evt_proto_response *resp, evt_json_diag *diag,
                             evt_order_record *rec)
{
    visit_state *s = arg;
    evt_err err = evt_proto_parse_settlement(resp, EVT_PROTO_SETTLE, s->visit->total,
                                             s->open.psn_no, &s->setl, diag);
    if (err == EVT_OK) {
        evt_txn_record_split(rec, &s->setl);
    }
    return err;
}

/* One request of the visit that moves no money. */
static evt_err visit_step(visit_state *s, const char *progress, const char *infno,
                          evt_txn_parse_fn parse, char msg[EVT_PROTO_MSG_BYTES])
{
    s->infno = infno;
    return evt_txn_platform_step(s->t, progress, infno, s->open.insuplc, build_visit, parse, s,
                                 msg);
}

/* 2202: the registration undone (no settlement stands). The open record goes when the platform
 * says the visit is gone — undone now, or refused because it was undone before. */
static evt_err unregister(visit_state *s)
{
    if (s->open.mdtrt_id[0] == '\0') {
        /* The 2201 never answered: there is no id to undo it by. A registration moves no money;
         * the HIS's outpatient number shows it at the platform. */
        EVT_LOGW(MOD, "visit %s: registration without an id, not undone", s->open.visit_id);
        open_drop(s->t, "no registration id");
        return EVT_OK;
    }
    char msg[EVT_PROTO_MSG_BYTES];
    evt_err err = visit_step(s, "正在撤销挂号", EVT_INFNO_VISIT_UNREGISTER, parse_ack, msg);
    EVT_LOGI(MOD, "visit %s: 2202 %s", s->open.visit_id, evt_err_name(err));
    if (err == EVT_OK || err == EVT_ERR_PLATFORM_REJECTED) {
        open_drop(s->t, err == EVT_OK ? "registration undone" : "registration refused undo");
        return EVT_OK;
    }
    return err;
}

/* ---- the visit ---------------------------------------------------------------------------- */

/* Ends the visit in `state`: the record first (durable), then the result. */
static evt_err visit_end(visit_state *s, evt_ecr_result *r, evt_order_state state, evt_err err,
                         const char *detail)
{
    s->rec.state = state;
    s->rec.error = err;
    evt_txn_record_detail(&s->rec, detail);
    if (evt_orders_book_put(s->t->journal, EVT_ORDERS_VISITS, s->visit->visit_id, &s->rec) !=
        EVT_OK) {
        EVT_LOGE(MOD, "visit %s: result not journalled", s->visit->visit_id);
    }
    evt_txn_result_from_record(s->visit->visit_id, &s->rec, r);
    evt_txn_count_result(s->t, r->status);
    EVT_LOGI(MOD, "visit %s: %s (%s)", r->order_id, evt_order_state_name(state), evt_err_name(err));
    evt_txn_publish(s->t, r);
    return r->error;
}

/* The visit is given up before money moved: the cashier reads why (title NULL: the cashier
 * cancelled), the registration is undone, the record says state. */
static evt_err abandon(visit_state *s, evt_ecr_result *r, const char *title, evt_err err,
                       evt_order_state state, const char *detail)
{
    if (unregister(s) != EVT_OK) {
        EVT_LOGW(MOD, "visit %s: registration left open, undone later", s->visit->visit_id);
    }
    /* Recorded and told to the HIS first; then the cashier reads why. */
    evt_err ended = visit_end(s, r, state, err, detail);
    if (title != NULL) {
        evt_txn_show_error_and_wait(s->t, title, err, detail);
    }
    return ended;
}

/* 2204 of the batch in the order buffer. An answer lost or unusable may still have stored the
 * lines: the batch is undone (2205) and sent once more — a line undone may come again. */
static evt_err send_batch(visit_state *s, char msg[EVT_PROTO_MSG_BYTES])
{
    evt_err err = visit_step(s, NULL, EVT_INFNO_VISIT_FEES, parse_fees, msg);
    if (err == EVT_OK || err == EVT_ERR_PLATFORM_REJECTED) {
        return err;
    }
    EVT_LOGW(MOD, "visit %s: batch %s unanswered (%s): undone and sent again", s->open.visit_id,
             s->bchno, evt_err_name(err));
    evt_err undo = visit_step(s, NULL, EVT_INFNO_VISIT_FEES_UNDO, parse_ack, msg);
    if (undo != EVT_OK && undo != EVT_ERR_PLATFORM_REJECTED) {
        return err; /* refused: none of the batch was stored */
    }
    return visit_step(s, NULL, EVT_INFNO_VISIT_FEES, parse_fees, msg);
}

/* The fee lines, batch after batch from next(): each forwarded (2204), its answer summed and
 * shown; never more lines than announced, and in the end exactly the announced lines and total. */
static evt_err send_fee_lines(visit_state *s, evt_visit_next_fn next, void *ctx,
                              char msg[EVT_PROTO_MSG_BYTES])
{
    evt_txn *t = s->t;
    const evt_visit *v = s->visit;
    evt_order *b = t->order;
    evt_ui_show_visit_fees(t->ui, &s->fees, v->line_count);
    for (bool last = false; !last;) {
        /* Bounded: every batch brings at least one line, and no more than announced. */
        evt_order_clear_items(b);
        evt_err err = next(ctx, b, &last);
        snprintf(b->order_id, sizeof b->order_id, "%s", v->visit_id);
        if (err != EVT_OK) {
            snprintf(msg, EVT_PROTO_MSG_BYTES, "收费系统未送达费用明细");
            return err;
        }
        if (b->item_count == 0 || b->item_count > v->line_count - s->fees.lines) {
            snprintf(msg, EVT_PROTO_MSG_BYTES, "费用明细与收费系统申报的 %lu 项不符",
                     (unsigned long)v->line_count);
            return EVT_ERR_ORDER_INVALID;
        }
        snprintf(s->bchno, sizeof s->bchno, "%lu", (unsigned long)++s->batches);
        err = send_batch(s, msg);
        if (err != EVT_OK) {
            return err;
        }
        s->fees.lines += s->batch_fees.lines;
        s->fees.amount += s->batch_fees.amount;
        s->fees.fulamt_ownpay_amt += s->batch_fees.fulamt_ownpay_amt;
        s->fees.overlmt_amt += s->batch_fees.overlmt_amt;
        s->fees.preselfpay_amt += s->batch_fees.preselfpay_amt;
        for (unsigned c = 0; c < 3; c++) {
            s->fees.by_class[c] += s->batch_fees.by_class[c];
        }
        evt_ui_show_visit_fees(t->ui, &s->fees, v->line_count);
    }
    if (s->fees.lines != v->line_count || s->fees.amount != v->total) {
        snprintf(msg, EVT_PROTO_MSG_BYTES, "费用明细合计与收费系统申报的不符");
        return EVT_ERR_MONEY_MISMATCH;
    }
    return EVT_OK;
}

static evt_err settle(visit_state *s, evt_ecr_result *r)
{
    evt_txn *t = s->t;
    evt_ui_show_progress(t->ui, "正在结算", "请勿离开，结算进行中…");
    s->infno = EVT_INFNO_VISIT_SETTLE;
    evt_txn_money_call c = {
        .t = t,
        .book = EVT_ORDERS_VISITS,
        .order_id = s->visit->visit_id,
        .rec = &s->rec,
        .infno = EVT_INFNO_VISIT_SETTLE,
        .psn_no = s->open.psn_no,
        .insuplc = s->open.insuplc,
        .build = build_visit,
        .answer = answer_settle,
        .arg = s,
    };
    evt_txn_money_outcome out = evt_txn_settle(&c, &s->p, &s->setl, NULL, r);
    if (out == EVT_TXN_MONEY_NOT_SENT) {
        return abandon(s, r, "结算失败", c.why, evt_txn_state_for_call_error(c.why),
                       c.platform_msg);
    }
    if (out == EVT_TXN_MONEY_DONE) {
        open_drop(t, "settled");
        return EVT_OK;
    }
    /* Refused, or reversed at once: no money moved, the visit is undone. In doubt: the reversal
     * comes first, the visit is undone after it (evt_txn_clinic_recover). */
    if ((out == EVT_TXN_MONEY_REFUSED || c.reversed) && unregister(s) != EVT_OK) {
        EVT_LOGW(MOD, "visit %s: registration left open, undone later", s->visit->visit_id);
    }
    return r->error;
}

static evt_err run_visit(visit_state *s, evt_visit_next_fn next, void *ctx, evt_ecr_result *r)
{
    evt_txn *t = s->t;
    const evt_visit *v = s->visit;
    char msg[EVT_PROTO_MSG_BYTES];
    /* 1-3. the patient: scanned, decoded, looked up, checked by the cashier */
    evt_order_state stop = EVT_ORDER_REFUSED;
    evt_err err = evt_txn_identify(&s->p, &stop, msg);
    if (err != EVT_OK) {
        evt_err ended = visit_end(s, r, stop, err, msg);
        evt_txn_tell_failure(&s->p, err, msg);
        return ended;
    }
    /* The operator who confirmed the identity: on the record, the 门诊结算单 and the close. */
    evt_txn_record_operator(t, &s->rec);
    snprintf(s->open.visit_id, sizeof s->open.visit_id, "%s", v->visit_id);
    snprintf(s->open.psn_no, sizeof s->open.psn_no, "%s", s->p.person.psn_no);
    snprintf(s->open.insuplc, sizeof s->open.insuplc, "%s", s->p.insu->insuplc_admdvs);
    snprintf(s->open.ipt_otp_no, sizeof s->open.ipt_otp_no, "%s", v->ipt_otp_no);

    /* 4. registration: the open visit is journalled before it leaves, and again with its id */
    err = open_put(t, &s->open);
    if (err != EVT_OK) {
        evt_err ended = visit_end(s, r, EVT_ORDER_FAILED, err, NULL);
        evt_txn_show_error_and_wait(t, "挂号失败", err, NULL);
        return ended;
    }
    err = visit_step(s, "正在挂号", EVT_INFNO_VISIT_REGISTER, parse_register, msg);
    if (err == EVT_OK) {
        err = open_put(t, &s->open);
    }
    if (err != EVT_OK) {
        return abandon(s, r, "挂号失败", err, evt_txn_state_for_call_error(err), msg);
    }
    EVT_LOGI(MOD, "visit %s: registered (med_type %s)", v->visit_id, v->med_type);

    /* 5. the visit's information: med_type, the diagnosis (14: the recognised disease) */
    err = visit_step(s, "正在上传就诊信息", EVT_INFNO_VISIT_INFO, parse_ack, msg);
    if (err != EVT_OK) {
        return abandon(s, r, "就诊信息上传失败", err, evt_txn_state_for_call_error(err), msg);
    }

    /* 6. the fee lines, in the batches the HIS sends */
    err = send_fee_lines(s, next, ctx, msg);
    if (err != EVT_OK) {
        return abandon(s, r, "费用明细上传失败", err, evt_txn_state_for_call_error(err), msg);
    }
    EVT_LOGI(MOD, "visit %s: %lu fee lines in %lu batches", v->visit_id,
             (unsigned long)s->fees.lines, (unsigned long)s->batches);

    /* 7. pre-settlement: the split, nothing moves yet */
    err = visit_step(s, "正在预结算", EVT_INFNO_VISIT_PRESETTLE, parse_presettle, msg);
    if (err != EVT_OK) {
        return abandon(s, r, "预结算失败", err, evt_txn_state_for_call_error(err), msg);
    }
    evt_ui_show_split(t->ui, &s->pre, evt_txn_has_account(s->p.insu));
    err = evt_txn_cashier_confirmed(t, EVT_UI_MONEY_CONFIRM_DWELL_MS);
    if (err != EVT_OK) {
        return abandon(s, r, NULL, err, EVT_ORDER_REFUSED, "收银员未确认金额");
    }

    /* 8. money */
    return settle(s, r);
}

/* The header's own checks: what the platform would refuse anyway is refused before a code is
 * spent. */
static bool visit_valid(const evt_visit *v)
{
    size_t id_len = strlen(v->visit_id);
    bool chronic = strcmp(v->med_type, "14") == 0;
    return id_len > 0 && id_len <= 30 && v->ipt_otp_no[0] != '\0' && v->line_count > 0 &&
           v->total > 0 && (chronic || strcmp(v->med_type, "11") == 0) &&
           (!chronic || v->dise_codg[0] != '\0');
}

evt_err evt_txn_clinic_visit(evt_txn *t, const evt_visit *visit, evt_visit_next_fn next, void *ctx,
                             evt_ecr_result *result)
{
    evt_txn_forget_last_receipt(t);
    memset(result, 0, sizeof *result);
    snprintf(result->order_id, sizeof result->order_id, "%s", visit->visit_id);
    result->total = visit->total;
    if (!visit_valid(visit)) {
        return evt_txn_result_unrecorded(t, result, EVT_ECR_REFUSED, EVT_ERR_ORDER_INVALID, NULL);
    }
    evt_err off_shift = evt_txn_refuse_off_shift(t, result);
    if (off_shift != EVT_OK) {
        return off_shift;
    }
    if (visit->line_count > EVT_VISIT_MAX_LINES ||
        (t->cfg->order_max_total > 0 && visit->total > t->cfg->order_max_total)) {
        char detail[64];
        snprintf(detail, sizeof detail, "一次就诊最多 %u 项费用明细", EVT_VISIT_MAX_LINES);
        evt_err refused =
            evt_txn_result_unrecorded(t, result, EVT_ECR_REFUSED, EVT_ERR_ORDER_TOO_LARGE, detail);
        evt_txn_show_error_and_wait(t, "不能开始就诊结算", EVT_ERR_ORDER_TOO_LARGE, detail);
        return refused;
    }
    evt_err err = evt_txn_clinic_recover(t);
    if (err != EVT_OK) {
        evt_err failed = evt_txn_result_unrecorded(t, result, EVT_ECR_FAILED, err, NULL);
        evt_txn_show_error_and_wait(t, "不能开始就诊结算", err, "上一就诊尚未撤销，请稍后重试");
        return failed;
    }
    evt_order_record rec;
    err = evt_orders_book_get(t->journal, EVT_ORDERS_VISITS, visit->visit_id, &rec);
    if (err == EVT_OK && !evt_orders_may_retry(&rec)) {
        /* Settled or in doubt: the same answer, no second settlement. */
        evt_txn_result_from_record(visit->visit_id, &rec, result);
        return result->error;
    }
    if (err != EVT_OK && err != EVT_ERR_NOT_FOUND) {
        result->blocked = err == EVT_ERR_JOURNAL_CORRUPT;
        return evt_txn_result_unrecorded(t, result, EVT_ECR_REFUSED,
                                         result->blocked ? EVT_ERR_ORDER_RECORD_UNREADABLE : err,
                                         NULL);
    }
    evt_datetime now;
    if (t->hal->sys->local_time(t->hal->sys->ctx, &now) != EVT_OK) {
        return evt_txn_result_unrecorded(t, result, EVT_ECR_FAILED, EVT_ERR_INTERNAL, "时钟未设置");
    }
    err = evt_orders_make_room(t->journal, evt_txn_day_of(&now), t->order_keep_days, NULL);
    visit_state *s = err == EVT_OK ? evt_calloc(1, sizeof *s) : NULL;
    if (s == NULL) {
        err = err == EVT_OK ? EVT_ERR_NOMEM : err;
        evt_err refused = evt_txn_result_unrecorded(t, result, EVT_ECR_REFUSED, err, NULL);
        evt_txn_show_error_and_wait(t, "不能开始就诊结算", err, NULL);
        return refused;
    }
    EVT_LOGI(MOD, "visit %s: med_type %s, %lu fee lines announced", visit->visit_id,
             visit->med_type, (unsigned long)visit->line_count);
    /* The scan prompt shows the visit: no lines yet, the announced total. */
    evt_order *o = t->order;
    evt_order_clear_items(o);
    snprintf(o->order_id, sizeof o->order_id, "%s", visit->visit_id);
    o->total = visit->total;
    s->t = t;
    s->visit = visit;
    s->p.t = t;
    s->p.order = o;
    s->begntime = now;
    evt_txn_record_begin(&s->rec, &now, visit->total);
    evt_voucher_guard_reset(&t->guard);
    err = run_visit(s, next, ctx, result);
    evt_voucher_guard_reset(&t->guard);
    evt_platform_disconnect(t->platform);
    /* Personal data lives only for the visit; the order buffer held fee lines, not a receipt. */
    memset(s, 0, sizeof *s);
    evt_free(s);
    evt_order_clear_items(o);
    return err;
}

/* ---- start-up: the visit left open -------------------------------------------------------- */

evt_err evt_txn_clinic_recover(evt_txn *t)
{
    visit_open o;
    evt_err err = open_get(t, &o);
    if (err == EVT_ERR_NOT_FOUND) {
        return EVT_OK;
    }
    if (err == EVT_ERR_JOURNAL_CORRUPT) {
        EVT_LOGE(MOD, "open visit record unreadable: removed");
        open_drop(t, "unreadable");
        return EVT_OK;
    }
    if (err != EVT_OK) {
        return err;
    }
    evt_order_record rec;
    err = evt_orders_book_get(t->journal, EVT_ORDERS_VISITS, o.visit_id, &rec);
    if (err == EVT_OK && evt_orders_in_doubt(&rec)) {
        /* The 2207 may have settled: its reversal first, then the visit may be undone. */
        unsigned left = 0;
        evt_platform_retry_reversals(t->platform, 1, &left);
        err = evt_orders_book_get(t->journal, EVT_ORDERS_VISITS, o.visit_id, &rec);
        if (err == EVT_OK && evt_orders_in_doubt(&rec)) {
            EVT_LOGW(MOD, "visit %s: settlement in doubt, undone after its reversal", o.visit_id);
            return EVT_ERR_REVERSAL_PENDING;
        }
    }
    if (err == EVT_OK && rec.state == EVT_ORDER_SETTLED) {
        EVT_LOGI(MOD, "visit %s: found settled at start-up", o.visit_id);
        open_drop(t, "settled");
        return EVT_OK;
    }
    visit_state *s = evt_calloc(1, sizeof *s);
    if (s == NULL) {
        return EVT_ERR_NOMEM;
    }
    s->t = t;
    s->open = o;
    if (t->hal->sys->local_time(t->hal->sys->ctx, &s->begntime) != EVT_OK) {
        evt_free(s);
        return EVT_ERR_INTERNAL;
    }
    EVT_LOGW(MOD, "visit %s was left open: undoing its registration", o.visit_id);
    err = unregister(s);
    evt_platform_disconnect(t->platform);
    memset(s, 0, sizeof *s);
    evt_free(s);
    return err;
}
