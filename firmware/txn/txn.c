/* evt_txn: the pharmacy sale. See txn.h for the flow; the steps it shares with the refund and
 * the reprints are in txn_steps.c, the refund and the reprints in refund.c. */
#include "evt/txn.h"

#include <stdio.h>
#include <string.h>

#include "evt/arena.h"
#include "evt/log.h"
#include "evt/proto.h"
#include "txn_internal.h"

#define MOD                             TXN_MOD
#define TXN_DEFAULT_SCAN_TIMEOUT_MS     180000u
#define TXN_DEFAULT_DECISION_TIMEOUT_MS 180000u
/* Order records are kept at least this many days when no daily close marks their day closed
 * (docs/journal.md, retention), if the configuration does not say (order_keep_days). */
#define TXN_DEFAULT_ORDER_KEEP_DAYS EVT_CONFIG_DEFAULT_ORDER_KEEP_DAYS
#define TXN_ORDER_ID_WIRE_MAX       30
/* In-doubt orders handled per walk at start-up (the journal cannot be written while walked);
 * the walk repeats until none is left to handle. */
#define TXN_RECOVER_BATCH 8u

/* Everything learned about the patient during one sale; wiped when the sale ends. */
typedef struct sale_state {
    evt_txn *t;
    const evt_order *order;
    evt_order_record rec; /* the order's record, written at every outcome */
    evt_txn_patient p;
    evt_settlement pre;
    evt_settlement setl;
    evt_datetime begntime;
} sale_state;

evt_err evt_txn_init(evt_txn *t, const evt_hal *hal, const evt_config *cfg, evt_platform *platform,
                     evt_journal *journal, evt_ui *ui)
{
    memset(t, 0, sizeof *t);
    t->hal = hal;
    t->cfg = cfg;
    t->platform = platform;
    t->journal = journal;
    t->ui = ui;
    t->scan_timeout_ms = TXN_DEFAULT_SCAN_TIMEOUT_MS;
    t->decision_timeout_ms = TXN_DEFAULT_DECISION_TIMEOUT_MS;
    t->order_keep_days =
        cfg->order_keep_days > 0 ? cfg->order_keep_days : TXN_DEFAULT_ORDER_KEEP_DAYS;
    t->order = evt_calloc(1, sizeof *t->order);
    return t->order != NULL ? EVT_OK : EVT_ERR_NOMEM;
}

evt_order *evt_txn_order(evt_txn *t)
{
    return t->order;
}

void evt_txn_set_result_hook(evt_txn *t, void (*fn)(void *ctx, const evt_ecr_result *result),
                             void *ctx)
{
    t->on_result = fn;
    t->on_result_ctx = ctx;
}

void evt_txn_forget_last_receipt(evt_txn *t)
{
    t->items_msgid[0] = '\0';
}

void evt_txn_deinit(evt_txn *t)
{
    if (t->order != NULL) {
        memset(t->order, 0, sizeof *t->order);
        evt_free(t->order);
        t->order = NULL;
    }
}

/* ---- results: the order's record is the result ------------------------------------------- */

void evt_txn_result_message(evt_ecr_result *r, evt_err err, const char *detail)
{
    if (detail != NULL && detail[0] != '\0') {
        snprintf(r->message, sizeof r->message, "%s：%s", evt_err_cashier_text(err), detail);
    } else {
        snprintf(r->message, sizeof r->message, "%s", evt_err_cashier_text(err));
    }
    /* snprintf may have cut a character in half; the POS must get valid UTF-8. */
    r->message[evt_json_utf8_prefix(r->message, strlen(r->message), sizeof r->message - 1)] = '\0';
}

/* What the POS is told about an order, from its record. */
void evt_txn_result_from_record(const char *order_id, const evt_order_record *rec,
                                evt_ecr_result *r)
{
    memset(r, 0, sizeof *r);
    snprintf(r->order_id, sizeof r->order_id, "%s", order_id);
    snprintf(r->msgid, sizeof r->msgid, "%s", rec->msgid);
    r->total = rec->total;
    r->error = rec->error;
    switch (rec->state) {
    case EVT_ORDER_SETTLED:
        r->status = EVT_ECR_SETTLED;
        snprintf(r->setl_id, sizeof r->setl_id, "%s", rec->setl_id);
        r->fund = rec->fund;
        r->account = rec->account;
        r->mutual_aid = rec->mutual_aid;
        r->cash = rec->cash;
        r->balance = rec->balance;
        r->balance_present = rec->balance_present;
        return; /* message "" = 结算成功 */
    case EVT_ORDER_SETTLING:
    case EVT_ORDER_UNKNOWN:
        r->status = EVT_ECR_UNKNOWN;
        r->error = EVT_ERR_OUTCOME_UNKNOWN;
        break;
    case EVT_ORDER_REFUSED:
        r->status = EVT_ECR_REFUSED;
        break;
    case EVT_ORDER_FAILED:
        r->status = EVT_ECR_FAILED;
        break;
    case EVT_ORDER_REVERSED:
        r->status = EVT_ECR_FAILED;
        r->blocked = rec->needs_supervisor;
        evt_txn_result_message(r, rec->error,
                               rec->needs_supervisor
                                   ? "已冲正，未扣款；平台应答异常，需主管核实后放行"
                                   : "已冲正，未扣款");
        return;
    }
    evt_txn_result_message(r, r->error, rec->detail);
}

void evt_txn_count_result(evt_txn *t, evt_ecr_status status)
{
    switch (status) {
    case EVT_ECR_SETTLED:
        t->counters.settled++;
        break;
    case EVT_ECR_REFUSED:
        t->counters.refused++;
        break;
    case EVT_ECR_UNKNOWN:
        t->counters.unknown++;
        break;
    default:
        t->counters.failed++;
        break;
    }
}

/* A result that is not the order's (nothing recorded: invalid order, no room, unreadable
 * record), for the POS and the counters. */
evt_err evt_txn_result_unrecorded(evt_txn *t, evt_ecr_result *r, evt_ecr_status status, evt_err err,
                                  const char *detail)
{
    r->status = status;
    r->error = err;
    evt_txn_result_message(r, err, detail);
    evt_txn_count_result(t, status);
    EVT_LOGI(MOD, "order %s: %s (%s), not recorded", r->order_id, evt_ecr_status_name(status),
             evt_err_name(err));
    evt_txn_publish(t, r);
    return err;
}

/* Ends the sale in `state`: the record first (durable), then the result for the POS. */
static evt_err sale_end(sale_state *s, evt_ecr_result *r, evt_order_state state, evt_err err,
                        const char *detail)
{
    evt_txn *t = s->t;
    s->rec.state = state;
    s->rec.error = err;
    evt_txn_record_detail(&s->rec, detail);
    if (evt_orders_put(t->journal, s->order->order_id, &s->rec) != EVT_OK) {
        /* Only outcomes without money get here unrecorded (settle() handles its own): the
         * POS may re-send them, which is what it may do anyway. */
        EVT_LOGE(MOD, "order %s: result not journalled", s->order->order_id);
    }
    evt_txn_result_from_record(s->order->order_id, &s->rec, r);
    evt_txn_count_result(t, r->status);
    EVT_LOGI(MOD, "order %s: %s (%s)", r->order_id, evt_order_state_name(state), evt_err_name(err));
    evt_txn_publish(t, r);
    return state == EVT_ORDER_SETTLED ? EVT_OK : r->error;
}

/* ---- platform request builders ------------------------------------------------------------ */

static evt_err build_drug(const sale_state *s, bool final, const evt_proto_identity *id,
                          const evt_proto_envelope *env, evt_json_writer *w, evt_json_diag *diag)
{
    evt_proto_sale sale = {
        .order = s->order,
        .person = &s->p.person,
        .voucher = &s->p.voucher,
        .insurance = s->p.insu,
        .begntime = s->begntime,
    };
    return evt_proto_write_drug_settle(id, env, final, &sale, w, diag);
}

static evt_err build_presettle(void *arg, const evt_proto_identity *id,
                               const evt_proto_envelope *env, evt_json_writer *w,
                               evt_json_diag *diag)
{
    return build_drug(arg, false, id, env, w, diag);
}

static evt_err build_settle(void *arg, const evt_proto_identity *id, const evt_proto_envelope *env,
                            evt_json_writer *w, evt_json_diag *diag)
{
    return build_drug(arg, true, id, env, w, diag);
}

/* A step failed before any money could move: the order ends (recorded, the POS told), then
 * the cashier reads why. */
static evt_err step_failed(sale_state *s, evt_ecr_result *r, const char *title, evt_err err,
                           const char *platform_msg)
{
    evt_err ended = sale_end(s, r, evt_txn_state_for_call_error(err), err, platform_msg);
    evt_txn_show_error_and_wait(s->t, title, err, platform_msg);
    return ended;
}

static evt_err parse_presettlement(void *arg, const evt_proto_response *resp, evt_json_diag *diag)
{
    sale_state *s = arg;
    return evt_proto_parse_settlement(resp, EVT_PROTO_PRESETTLE, s->order->total,
                                      s->p.person.psn_no, &s->pre, diag);
}

/* ---- the money: 2102 ------------------------------------------------------------------- */

static evt_err answer_settle(void *arg, const evt_proto_response *resp, evt_json_diag *diag,
                             evt_order_record *rec)
{
    sale_state *s = arg;
    evt_err err = evt_proto_parse_settlement(resp, EVT_PROTO_SETTLE, s->order->total,
                                             s->p.person.psn_no, &s->setl, diag);
    if (err == EVT_OK) {
        evt_txn_record_split(rec, &s->setl);
    }
    return err;
}

/* The money step: every way the 2102 can end is decided by evt_txn_money
 * (docs/protocol-decisions.md) and told by evt_txn_settle. */
static evt_err settle(sale_state *s, evt_ecr_result *r)
{
    evt_txn *t = s->t;
    evt_ui_show_progress(t->ui, "正在结算", "请勿离开，结算进行中…");
    evt_txn_money_call c = {
        .t = t,
        .book = EVT_ORDERS_SALES,
        .order_id = s->order->order_id,
        .rec = &s->rec,
        .infno = EVT_INFNO_SETTLE,
        .psn_no = s->p.person.psn_no,
        .insuplc = s->p.insu->insuplc_admdvs,
        .build = build_settle,
        .answer = answer_settle,
        .arg = s,
    };
    evt_txn_money_outcome out = evt_txn_settle(&c, &s->p, &s->setl, t->order, r);
    if (out == EVT_TXN_MONEY_NOT_SENT) {
        return step_failed(s, r, "结算失败", c.why, c.platform_msg);
    }
    return out == EVT_TXN_MONEY_DONE ? EVT_OK : r->error;
}

static evt_err run_sale(sale_state *s, evt_ecr_result *r)
{
    evt_txn *t = s->t;
    char platform_msg[EVT_PROTO_MSG_BYTES];
    evt_err err;
    /* 1-3. the patient: scanned, decoded, looked up, checked by the cashier */
    evt_order_state stop = EVT_ORDER_REFUSED;
    err = evt_txn_identify(&s->p, &stop, platform_msg);
    if (err != EVT_OK) {
        evt_err ended = sale_end(s, r, stop, err, platform_msg);
        evt_txn_tell_failure(&s->p, err, platform_msg);
        return ended;
    }
    evt_txn_record_operator(t, &s->rec);

    /* 4. pre-settlement: the split, nothing moves yet */
    err = evt_txn_platform_step(t, "正在预结算", EVT_INFNO_PRESETTLE, s->p.insu->insuplc_admdvs,
                                build_presettle, parse_presettlement, s, platform_msg);
    if (err != EVT_OK) {
        return step_failed(s, r, "预结算失败", err, platform_msg);
    }
    evt_ui_show_split(t->ui, &s->pre, evt_txn_has_account(s->p.insu));
    /* The confirmation that moves money: not in the same instant as the identity's. */
    err = evt_txn_cashier_confirmed(t, EVT_UI_MONEY_CONFIRM_DWELL_MS);
    if (err != EVT_OK) {
        return sale_end(s, r, EVT_ORDER_REFUSED, err, "收银员未确认金额");
    }

    /* 5. money */
    return settle(s, r);
}

/* Whether this order may start: EVT_OK, or *result holds the answer already (stored result,
 * unreadable record, journal error) and is returned. */
static evt_err order_may_start(evt_txn *t, const evt_order *order, evt_ecr_result *result,
                               bool *start)
{
    *start = false;
    evt_order_record rec;
    evt_err err = evt_orders_get(t->journal, order->order_id, &rec);
    if (err == EVT_ERR_NOT_FOUND || (err == EVT_OK && evt_orders_may_retry(&rec))) {
        *start = true;
        return EVT_OK;
    }
    if (err == EVT_OK) {
        /* Settled, in doubt, or waiting for a supervisor: the same answer, no second
         * settlement. */
        evt_txn_result_from_record(order->order_id, &rec, result);
        EVT_LOGI(MOD, "order %s already %s: stored result returned", order->order_id,
                 evt_order_state_name(rec.state));
        return result->error;
    }
    if (err == EVT_ERR_JOURNAL_CORRUPT) {
        /* The terminal cannot prove this order did not settle: it refuses, and says who can
         * decide. */
        result->blocked = true;
        evt_err refused = evt_txn_result_unrecorded(t, result, EVT_ECR_REFUSED,
                                                    EVT_ERR_ORDER_RECORD_UNREADABLE, NULL);
        evt_txn_show_error_and_wait(t, "不能结算", EVT_ERR_ORDER_RECORD_UNREADABLE,
                                    order->order_id);
        return refused;
    }
    return evt_txn_result_unrecorded(t, result, EVT_ECR_FAILED, err, NULL);
}

evt_err evt_txn_pharmacy_sale(evt_txn *t, const evt_order *given, evt_ecr_result *result)
{
    /* One copy of the order on the terminal: it is served from (and its receipt reprinted
     * from) the engine's buffer, which the ECR link and the keyed entry fill in place. */
    evt_txn_forget_last_receipt(t);
    if (given != t->order) {
        memcpy(t->order, given, sizeof *t->order);
    }
    const evt_order *order = t->order;
    memset(result, 0, sizeof *result);
    snprintf(result->order_id, sizeof result->order_id, "%s", order->order_id);
    result->total = order->total;
    /* The order id travels as fixmedins_setl_id (30 characters on the wire): refuse a longer
     * one before the customer's code is spent on ec.query. */
    if (order->item_count == 0 || order->total <= 0 || strlen(order->order_id) == 0 ||
        strlen(order->order_id) > TXN_ORDER_ID_WIRE_MAX) {
        return evt_txn_result_unrecorded(t, result, EVT_ECR_REFUSED, EVT_ERR_ORDER_INVALID, NULL);
    }
    if (t->cfg->order_max_total > 0 && order->total > t->cfg->order_max_total) {
        return evt_txn_result_unrecorded(t, result, EVT_ECR_REFUSED, EVT_ERR_ORDER_TOO_LARGE, NULL);
    }
    evt_err off_shift = evt_txn_refuse_off_shift(t, result);
    if (off_shift != EVT_OK) {
        return off_shift;
    }
    bool start = false;
    evt_err err = order_may_start(t, order, result, &start);
    if (!start) {
        return err;
    }
    evt_datetime now;
    if (t->hal->sys->local_time(t->hal->sys->ctx, &now) != EVT_OK) {
        return evt_txn_result_unrecorded(t, result, EVT_ECR_FAILED, EVT_ERR_INTERNAL, "时钟未设置");
    }
    err = evt_orders_make_room(t->journal, evt_txn_day_of(&now), t->order_keep_days, NULL);
    if (err != EVT_OK) {
        /* Better no sale than a sale the terminal could not remember. */
        evt_err refused = evt_txn_result_unrecorded(t, result, EVT_ECR_REFUSED, err, NULL);
        evt_txn_show_error_and_wait(t, "不能开始交易", err, NULL);
        return refused;
    }
    char total[24];
    evt_money_format(order->total, total, sizeof total);
    EVT_LOGI(MOD, "order %s: %u items, total %s", order->order_id, (unsigned)order->item_count,
             total);

    sale_state *s = evt_calloc(1, sizeof *s);
    if (s == NULL) {
        return evt_txn_result_unrecorded(t, result, EVT_ECR_FAILED, EVT_ERR_NOMEM, NULL);
    }
    s->t = t;
    s->order = order;
    s->p.t = t;
    s->p.order = order;
    s->begntime = now;
    evt_txn_record_begin(&s->rec, &now, order->total);
    evt_voucher_guard_reset(&t->guard);
    err = run_sale(s, result);
    evt_voucher_guard_reset(&t->guard);
    evt_platform_disconnect(t->platform);
    /* Personal data lives only for the sale. */
    memset(s, 0, sizeof *s);
    evt_free(s);
    return err;
}

/* ---- the platform's settlement owner, start-up recovery ----------------------------------- */

/* A settlement-type request of an order is a sale's 2102 or a refund's 2103: the book whose
 * record names the msgid. */
static const evt_orders_book txn_books[] = {EVT_ORDERS_SALES, EVT_ORDERS_REFUNDS, EVT_ORDERS_VISITS,
                                            EVT_ORDERS_VISIT_REFUNDS};
#define TXN_BOOK_COUNT (sizeof txn_books / sizeof txn_books[0])

static const char *infno_of(evt_orders_book book)
{
    return book == EVT_ORDERS_REFUNDS         ? EVT_INFNO_SETTLE_CANCEL
           : book == EVT_ORDERS_VISITS        ? EVT_INFNO_VISIT_SETTLE
           : book == EVT_ORDERS_VISIT_REFUNDS ? EVT_INFNO_VISIT_SETTLE_CANCEL
                                              : EVT_INFNO_SETTLE;
}

static bool owner_outcome_recorded(void *ctx, const char *order_ref, const char *msgid)
{
    evt_txn *t = ctx;
    for (size_t b = 0; b < TXN_BOOK_COUNT; b++) {
        evt_order_record rec;
        if (evt_orders_book_get(t->journal, txn_books[b], order_ref, &rec) == EVT_OK &&
            strcmp(rec.msgid, msgid) == 0) {
            return !evt_orders_in_doubt(&rec);
        }
    }
    return false;
}

static evt_err owner_reversed(void *ctx, const char *order_ref, const char *msgid)
{
    evt_txn *t = ctx;
    for (size_t b = 0; b < TXN_BOOK_COUNT; b++) {
        evt_order_record rec;
        evt_err err = evt_orders_book_get(t->journal, txn_books[b], order_ref, &rec);
        if (err == EVT_ERR_NOT_FOUND || err == EVT_ERR_JOURNAL_CORRUPT) {
            /* Nothing to update (an unreadable record keeps the order blocked anyway). */
            continue;
        }
        if (err != EVT_OK) {
            return err;
        }
        if (strcmp(rec.msgid, msgid) != 0 || !evt_orders_in_doubt(&rec)) {
            continue; /* the reversal of an earlier attempt, or of the other book's request */
        }
        rec.state = EVT_ORDER_REVERSED;
        /* A sale reversed after an unusable answer waits for a supervisor's release; a refund
         * needs none: a supervisor authorises every refund anyway. */
        rec.needs_supervisor = rec.answer_unusable && !evt_orders_book_is_refund(txn_books[b]);
        err = evt_orders_book_put(t->journal, txn_books[b], order_ref, &rec);
        if (err == EVT_OK) {
            EVT_LOGI(MOD, "%s %s: reversed%s",
                     evt_orders_book_is_refund(txn_books[b]) ? "refund of" : "order", order_ref,
                     rec.needs_supervisor ? ", waits for a supervisor" : "");
        }
        return err;
    }
    return EVT_OK;
}

typedef struct recover_walk {
    evt_txn *t;
    char ids[TXN_RECOVER_BATCH][EVT_ORDER_ID_BYTES];
    unsigned count;
} recover_walk;

/* In doubt and not yet UNKNOWN with its reversal owed: needs handling. */
static evt_err recover_visit(void *arg, const char *order_id, const evt_order_record *rec)
{
    recover_walk *w = arg;
    bool act = rec->state == EVT_ORDER_SETTLING ||
               (rec->state == EVT_ORDER_UNKNOWN &&
                evt_platform_owed(w->t->platform, rec->msgid) == EVT_PLATFORM_OWED_NONE);
    if (act && w->count < TXN_RECOVER_BATCH) {
        snprintf(w->ids[w->count++], EVT_ORDER_ID_BYTES, "%s", order_id);
    }
    return EVT_OK;
}

/* An order (a sale or its refund) in doubt at start-up: its 2102/2103 may have left, so a
 * reversal is owed (re-created from the record when the platform's own record is gone; owing one
 * too many is harmless) and the record is UNKNOWN until the reversal is acknowledged. */
static evt_err recover_order(evt_txn *t, evt_orders_book book, const char *order_id)
{
    evt_order_record rec;
    evt_err err = evt_orders_book_get(t->journal, book, order_id, &rec);
    if (err != EVT_OK || !evt_orders_in_doubt(&rec)) {
        return err == EVT_ERR_JOURNAL_CORRUPT ? EVT_OK : err;
    }
    if (evt_platform_owed(t->platform, rec.msgid) == EVT_PLATFORM_OWED_NONE) {
        evt_platform_settle_ref ref = {
            .psn_no = rec.psn_no, .insuplc_admdvs = rec.insuplc_admdvs, .order_ref = order_id};
        err = evt_platform_owe_reversal(t->platform, infno_of(book), rec.msgid, &ref);
        if (err != EVT_OK) {
            return err;
        }
    }
    EVT_LOGW(MOD, "%s %s was in doubt at start-up (%s): reversal owed",
             evt_orders_book_is_refund(book) ? "refund of" : "order", order_id,
             evt_order_state_name(rec.state));
    rec.state = EVT_ORDER_UNKNOWN;
    rec.error = EVT_ERR_OUTCOME_UNKNOWN;
    return evt_orders_book_put(t->journal, book, order_id, &rec);
}

evt_err evt_txn_recover(evt_txn *t)
{
    evt_platform_owner owner = {
        .ctx = t, .outcome_recorded = owner_outcome_recorded, .reversed = owner_reversed};
    evt_platform_set_owner(t->platform, &owner);
    evt_err err = evt_platform_recover(t->platform);
    recover_walk *w = &(recover_walk){.t = t};
    for (size_t b = 0; err == EVT_OK && b < TXN_BOOK_COUNT; b++) {
        /* Bounded: each handled record leaves the set the walk collects (UNKNOWN, reversal
         * owed). */
        do {
            w->count = 0;
            err = evt_orders_book_iterate(t->journal, txn_books[b], recover_visit, w, NULL);
            for (unsigned i = 0; err == EVT_OK && i < w->count; i++) {
                err = recover_order(t, txn_books[b], w->ids[i]);
            }
        } while (err == EVT_OK && w->count == TXN_RECOVER_BATCH);
    }
    return err;
}

/* ---- lookups, supervisor release ----------------------------------------------------------- */

evt_err evt_txn_lookup_order(evt_txn *t, const char *order_id, evt_ecr_result *out)
{
    evt_order_record rec;
    evt_err err = evt_orders_get(t->journal, order_id, &rec);
    if (err == EVT_ERR_NOT_FOUND) { /* an outpatient visit's, by its visit id */
        err = evt_orders_book_get(t->journal, EVT_ORDERS_VISITS, order_id, &rec);
    }
    if (err == EVT_ERR_JOURNAL_CORRUPT) {
        memset(out, 0, sizeof *out);
        snprintf(out->order_id, sizeof out->order_id, "%s", order_id);
        out->status = EVT_ECR_REFUSED;
        out->error = EVT_ERR_ORDER_RECORD_UNREADABLE;
        out->blocked = true;
        evt_txn_result_message(out, out->error, NULL);
        return EVT_OK;
    }
    if (err == EVT_OK) {
        evt_txn_result_from_record(order_id, &rec, out);
    }
    return err;
}

evt_err evt_txn_release_order(evt_txn *t, const char *order_id)
{
    evt_order_record rec;
    evt_err err = evt_orders_get(t->journal, order_id, &rec);
    if (err != EVT_OK) {
        return err;
    }
    if (rec.state != EVT_ORDER_REVERSED || !rec.needs_supervisor) {
        return EVT_ERR_NOT_FOUND;
    }
    rec.needs_supervisor = false;
    /* Who released it (evt_txn_supervisor_approves just before), in the record and the log. */
    snprintf(rec.approver, sizeof rec.approver, "%s", t->approver);
    err = evt_orders_put(t->journal, order_id, &rec);
    if (err == EVT_OK) {
        EVT_LOGI(MOD, "order %s released by supervisor %s", order_id,
                 t->approver[0] != '\0' ? t->approver : "(supervisor_pin)");
    }
    return err;
}

typedef struct blocked_walk {
    char (*ids)[EVT_ORDER_ID_BYTES];
    unsigned max;
    unsigned count;
} blocked_walk;

static evt_err blocked_visit(void *arg, const char *order_id, const evt_order_record *rec)
{
    blocked_walk *w = arg;
    if (rec->state == EVT_ORDER_REVERSED && rec->needs_supervisor && w->count < w->max) {
        snprintf(w->ids[w->count++], EVT_ORDER_ID_BYTES, "%s", order_id);
    }
    return EVT_OK;
}

evt_err evt_txn_blocked_orders(evt_txn *t, char (*ids)[EVT_ORDER_ID_BYTES], unsigned max,
                               unsigned *count)
{
    blocked_walk w = {.ids = ids, .max = max};
    evt_err err = evt_orders_iterate(t->journal, blocked_visit, &w, NULL);
    *count = w.count;
    return err;
}
