/* evt_txn: the refund of a settled sale (2103) or visit (2208) and the reprint of any receipt of
 * the day, made of the steps in txn_steps.c. See txn.h. */
#include <stdio.h>
#include <string.h>

#include "evt/arena.h"
#include "evt/log.h"
#include "evt/receipt.h"
#include "txn_internal.h"

#define MOD TXN_MOD

/* ---- today's lists ------------------------------------------------------------------------- */

/* Entries in time order; the msgid (unique) orders entries of the same second. */
static int entry_cmp(const evt_txn_day_entry *a, const evt_txn_day_entry *b)
{
    if (a->hms != b->hms) {
        return a->hms < b->hms ? -1 : 1;
    }
    return strcmp(a->msgid, b->msgid);
}

typedef struct day_walk {
    evt_txn *t;
    evt_txn_day_list list;
    uint32_t today;
    const evt_txn_day_entry *before; /* NULL: from the newest */
    evt_txn_day_entry *page;         /* newest first */
    unsigned count;
    bool more;
} day_walk;

/* Keeps the EVT_TXN_DAY_PAGE newest entries older than w->before, newest first: the page never
 * holds more, however long the day. */
static void day_offer(day_walk *w, const evt_txn_day_entry *e)
{
    if (w->before != NULL && entry_cmp(e, w->before) >= 0) {
        return;
    }
    unsigned k = w->count;
    for (; k > 0 && entry_cmp(&w->page[k - 1], e) < 0; k--) {
        if (k < EVT_TXN_DAY_PAGE) {
            w->page[k] = w->page[k - 1];
        }
    }
    w->more = w->more || w->count == EVT_TXN_DAY_PAGE;
    if (k < EVT_TXN_DAY_PAGE) {
        w->page[k] = *e;
        w->count += w->count < EVT_TXN_DAY_PAGE;
    }
}

/* A refund record that lets the sale be refunded: none moved money (refused, failed, reversed;
 * a supervisor authorises every refund, so an unusable answer reversed needs no other release). */
static bool refund_allows_another(const evt_order_record *refund)
{
    return refund->state != EVT_ORDER_SETTLED && !evt_orders_in_doubt(refund);
}

/* Both lists come from today's receipt records: every receipt; or the receipts of the sales and
 * visits that have not been refunded (a settled sale always has one, unless its record could not be
 * written: it is then refunded from its receipt's QR code). */
static evt_err day_visit(void *arg, const char *msgid, const evt_orders_receipt *rc)
{
    day_walk *w = arg;
    evt_txn_day_entry e = {.book = rc->book, .total = rc->total};
    uint32_t day = 0;
    if (!evt_orders_msgid_time(msgid, &day, &e.hms) || day != w->today) {
        return EVT_OK;
    }
    if (w->list == EVT_TXN_DAY_REFUNDABLE) {
        evt_order_record refund;
        /* Sales and visits are refunded; a refund's receipt is not. */
        evt_err err = evt_orders_book_is_refund(rc->book)
                          ? EVT_ERR_ARG
                          : evt_orders_book_get(w->t->journal, evt_orders_book_partner(rc->book),
                                                rc->order_id, &refund);
        if (err == EVT_ERR_STORAGE_IO) {
            return err;
        }
        if (err != EVT_ERR_NOT_FOUND && (err != EVT_OK || !refund_allows_another(&refund))) {
            return EVT_OK;
        }
    }
    snprintf(e.order_id, sizeof e.order_id, "%s", rc->order_id);
    snprintf(e.msgid, sizeof e.msgid, "%s", msgid);
    snprintf(e.patient, sizeof e.patient, "%s", rc->patient);
    day_offer(w, &e);
    return EVT_OK;
}

evt_err evt_txn_day_page(evt_txn *t, evt_txn_day_list list, const evt_txn_day_entry *before,
                         evt_txn_day_entry page[EVT_TXN_DAY_PAGE], unsigned *count, bool *more)
{
    evt_datetime now;
    day_walk w = {.t = t, .list = list, .before = before, .page = page};
    evt_err err = t->hal->sys->local_time(t->hal->sys->ctx, &now);
    if (err == EVT_OK) {
        w.today = evt_txn_day_of(&now);
        err = evt_orders_receipt_iterate(t->journal, day_visit, &w);
    }
    *count = w.count;
    *more = w.more;
    return err;
}

typedef struct day_pick {
    evt_txn_day_entry page[EVT_TXN_DAY_PAGE];
    char text[EVT_TXN_DAY_PAGE][EVT_UI_LINE_BYTES];
    const char *options[EVT_TXN_DAY_PAGE + 1];
} day_pick;

static void entry_text(const evt_txn_day_entry *e, evt_txn_day_list list, char *out)
{
    char total[24];
    evt_money_format(e->total, total, sizeof total);
    const char *kind = e->book == EVT_ORDERS_VISITS         ? "门诊 "
                       : list == EVT_TXN_DAY_REFUNDABLE     ? ""
                       : evt_orders_book_is_refund(e->book) ? "退费 "
                                                            : "结算 ";
    int n = snprintf(out, EVT_UI_LINE_BYTES, "%02u:%02u %s%s %s元 %s", (unsigned)(e->hms / 10000u),
                     (unsigned)(e->hms / 100u % 100u), kind, e->patient[0] ? e->patient : "—",
                     total, e->order_id);
    if (n >= EVT_UI_LINE_BYTES) {
        /* Cut: maybe in the middle of a character. */
        out[evt_json_utf8_prefix(out, strlen(out), EVT_UI_LINE_BYTES - 1)] = '\0';
    }
}

/* The cashier picks one entry of today's list, a page at a time (9: the next page). EVT_OK with
 * *chosen; EVT_ERR_NOT_FOUND when the list is empty (said on screen, with `none`); the cashier's
 * cancel, a timeout, QUIT (*quit), journal errors (said on screen). */
static evt_err choose_from_day(evt_txn *t, evt_txn_day_list list, const char *title,
                               const char *none, evt_txn_day_entry *chosen, bool *quit)
{
    *quit = false;
    day_pick *p = evt_calloc(1, sizeof *p);
    if (p == NULL) {
        evt_txn_show_error_and_wait(t, title, EVT_ERR_NOMEM, NULL);
        return EVT_ERR_NOMEM;
    }
    evt_txn_day_entry before;
    bool paged = false;
    evt_err err;
    /* Bounded: every further page starts strictly older than the last one shown. */
    for (;;) {
        unsigned count = 0, choice = 0;
        bool more = false;
        err = evt_txn_day_page(t, list, paged ? &before : NULL, p->page, &count, &more);
        if (err == EVT_OK && count == 0) {
            err = EVT_ERR_NOT_FOUND;
        }
        if (err != EVT_OK) {
            evt_txn_show_error_and_wait(t, title, err, err == EVT_ERR_NOT_FOUND ? none : NULL);
            break;
        }
        for (unsigned i = 0; i < count; i++) {
            entry_text(&p->page[i], list, p->text[i]);
            p->options[i] = p->text[i];
        }
        p->options[count] = "下一页";
        err = evt_ui_choose(t->ui, title, p->options, count + (more ? 1u : 0u),
                            t->decision_timeout_ms, &choice, quit);
        if (err != EVT_OK) {
            break;
        }
        if (choice > count) {
            before = p->page[count - 1];
            paged = true;
            continue;
        }
        *chosen = p->page[choice - 1];
        break;
    }
    t->quit_requested = t->quit_requested || *quit;
    evt_free(p);
    return err;
}

/* ---- reprints ------------------------------------------------------------------------------ */

evt_err evt_txn_reprint(evt_txn *t, const char *msgid)
{
    evt_orders_receipt rc;
    evt_err err = evt_orders_receipt_get(t->journal, msgid, &rc);
    evt_order_record rec;
    if (err == EVT_OK) {
        err = evt_orders_book_get(t->journal, rc.book, rc.order_id, &rec);
    }
    if (err != EVT_OK) {
        return err;
    }
    if (rec.state != EVT_ORDER_SETTLED || strcmp(rec.msgid, msgid) != 0) {
        return EVT_ERR_NOT_FOUND; /* no record proves this receipt's money */
    }
    evt_order_record sale;
    const char *original = NULL;
    if (evt_orders_book_is_refund(rc.book) &&
        evt_orders_book_get(t->journal, evt_orders_book_partner(rc.book), rc.order_id, &sale) ==
            EVT_OK) {
        original = sale.setl_id;
    }
    const evt_order *items =
        rc.book == EVT_ORDERS_SALES && strcmp(t->items_msgid, msgid) == 0 ? t->order : NULL;
    bool copy = strcmp(t->unprinted_msgid, msgid) != 0;
    return evt_txn_print_receipt(t, msgid, &rec, &rc, original, copy, items);
}

void evt_txn_reprint_from_list(evt_txn *t, bool *quit)
{
    evt_txn_day_entry e;
    if (choose_from_day(t, EVT_TXN_DAY_RECEIPTS, "补打：选择今日结算单", "今日没有可补打的结算单",
                        &e, quit) != EVT_OK) {
        return;
    }
    evt_err err = evt_txn_reprint(t, e.msgid);
    if (err != EVT_OK) {
        evt_txn_show_error_and_wait(
            t, "补打失败", err,
            err == EVT_ERR_NOT_FOUND || err == EVT_ERR_JOURNAL_CORRUPT ? "终端已无该单记录" : NULL);
        return;
    }
    evt_ui_show_message(t->ui, EVT_UI_SUCCESS, "结算单已补打", "[确认] 返回", "请交顾客", NULL);
    bool ok = false;
    evt_txn_cashier_decision(t, 0, &ok);
}

/* ---- the refund ---------------------------------------------------------------------------- */

typedef struct refund_state {
    evt_txn *t;
    evt_orders_book book;  /* what is refunded: a sale (2103) or a visit (2208) */
    const char *order_id;  /* its key: the POS order id, the HIS visit id */
    evt_order_record sale; /* the sale's or the visit's record */
    evt_order_record rec;  /* the refund's */
    evt_orders_receipt rc; /* the sale's receipt record (who, masked); empty when not kept */
    evt_settlement back;   /* the 2103's answer: the cancelling entry, amounts negative */
    char sold_at[TXN_WHEN_BYTES];
    evt_ui_refund view;     /* what the screens show */
    evt_ecr_result *result; /* the outcome, published the moment it is final (the POS's) */
} refund_state;

_Static_assert(TXN_WHEN_BYTES == EVT_ECR_WHEN_BYTES, "one date format for screen and POS");

/* What the POS is told of a refund, from the refund's record. A refund that moved no money is
 * not blocked: the supervisor authorises every refund. */
static void refund_result_from_record(const char *order_id, const evt_order_record *refund,
                                      evt_ecr_result *out)
{
    evt_txn_result_from_record(order_id, refund, out);
    out->refund = true;
    out->blocked = false;
    if (refund->state == EVT_ORDER_SETTLED) {
        out->status = EVT_ECR_REFUNDED;
        evt_txn_format_when(refund->day, refund->hms, out->refunded_at);
    } else if (out->status == EVT_ECR_UNKNOWN) {
        out->error = EVT_ERR_REFUND_IN_DOUBT;
        evt_txn_result_message(out, out->error, "终端将自动冲正，请勿退还现金");
    } else if (refund->state == EVT_ORDER_REVERSED) {
        evt_txn_result_message(out, out->error, "已冲正，未退费；可重新办理");
    }
}

/* A refund that ended without a record of its own (refused before its 2103, cancelled, not
 * authorised), for the POS. */
static void refund_result_unrecorded(const char *order_id, evt_ecr_status status, evt_err err,
                                     const char *detail, evt_ecr_result *out)
{
    memset(out, 0, sizeof *out);
    snprintf(out->order_id, sizeof out->order_id, "%s", order_id);
    out->refund = true;
    out->status = status;
    out->error = err;
    evt_txn_result_message(out, err, detail);
}

/* The refund's outcome is final (and, with money, recorded): the POS is told before the cashier
 * acknowledges anything. */
static void refund_publish(refund_state *r)
{
    EVT_LOGI(MOD, "refund of order %s: %s (%s)", r->order_id,
             evt_ecr_status_name(r->result->status), evt_err_name(r->result->error));
    evt_txn_publish(r->t, r->result);
}

static void refund_ends_unrecorded(refund_state *r, evt_ecr_status status, evt_err err,
                                   const char *detail)
{
    refund_result_unrecorded(r->order_id, status, err, detail, r->result);
    refund_publish(r);
}

static void supervisor_refused(void *ctx, evt_err err)
{
    refund_ends_unrecorded(ctx, EVT_ECR_REFUSED, err, "主管未授权，未退费");
}

/* Whether the sale or visit (book) may be refunded: EVT_OK, or why not (detail: what the screen
 * adds). */
static evt_err refund_may_start(evt_txn *t, evt_orders_book book, const char *order_id,
                                evt_order_record *sale, evt_order_record *refund, char detail[48])
{
    evt_err err = evt_orders_book_get(t->journal, book, order_id, sale);
    if (err != EVT_OK) {
        return err == EVT_ERR_NOT_FOUND         ? EVT_ERR_REFUND_UNKNOWN_SALE
               : err == EVT_ERR_JOURNAL_CORRUPT ? EVT_ERR_ORDER_RECORD_UNREADABLE
                                                : err;
    }
    if (sale->state != EVT_ORDER_SETTLED) {
        return evt_orders_in_doubt(sale) ? EVT_ERR_OUTCOME_UNKNOWN : EVT_ERR_REFUND_NOT_SETTLED;
    }
    err = evt_orders_book_get(t->journal, evt_orders_book_partner(book), order_id, refund);
    if (err == EVT_ERR_NOT_FOUND) {
        return EVT_OK;
    }
    if (err != EVT_OK) {
        /* Damaged: it cannot be proven that the sale was not refunded. */
        return err == EVT_ERR_JOURNAL_CORRUPT ? EVT_ERR_ORDER_RECORD_UNREADABLE : err;
    }
    if (refund->state == EVT_ORDER_SETTLED) {
        /* Refunded once: a second refund is refused with the first one's date. */
        char when[TXN_WHEN_BYTES];
        evt_txn_format_when(refund->day, refund->hms, when);
        snprintf(detail, 48, "已于 %s 退费", when);
        return EVT_ERR_REFUND_DONE;
    }
    if (evt_orders_in_doubt(refund)) {
        /* Its 2103 may have moved money: not again before the reversal says it did not. */
        return EVT_ERR_REFUND_IN_DOUBT;
    }
    return EVT_OK;
}

static evt_err build_cancel(void *arg, const evt_proto_identity *id, const evt_proto_envelope *env,
                            evt_json_writer *w, evt_json_diag *diag)
{
    const refund_state *r = arg;
    if (r->book == EVT_ORDERS_VISITS) {
        return evt_proto_write_visit_settle_cancel(id, env, r->sale.setl_id, r->rc.mdtrt_id,
                                                   r->sale.psn_no, w, diag);
    }
    return evt_proto_write_settle_cancel(id, env, r->sale.setl_id, r->sale.psn_no, w, diag);
}

static evt_err answer_cancel(void *arg, const evt_proto_response *resp, evt_json_diag *diag,
                             evt_order_record *rec)
{
    refund_state *r = arg;
    const evt_settlement *b = &r->back;
    evt_err err = evt_proto_parse_settlement(resp, EVT_PROTO_CANCEL, r->sale.total, r->sale.psn_no,
                                             &r->back, diag);
    if (err != EVT_OK) {
        return err;
    }
    if (b->setl_id[0] == '\0') {
        evt_json_diag_set(diag, "output.setlinfo.setl_id");
        return EVT_ERR_PROTO_FIELD_MISSING;
    }
    /* The cancelling entry gives back exactly what the sale took, part by part: a refund shown
     * or printed with other figures would hand back the wrong cash. */
    if (-b->fund_pay_sumamt != r->sale.fund || -b->acct_pay != r->sale.account ||
        -b->acct_mulaid_pay != r->sale.mutual_aid || -b->psn_cash_pay != r->sale.cash) {
        evt_json_diag_set(diag, "output.setlinfo");
        return EVT_ERR_MONEY_MISMATCH;
    }
    snprintf(rec->setl_id, sizeof rec->setl_id, "%s", b->setl_id);
    rec->total = -b->medfee_sumamt;
    rec->fund = r->sale.fund;
    rec->account = r->sale.account;
    rec->mutual_aid = r->sale.mutual_aid;
    rec->cash = r->sale.cash;
    rec->balance = b->balc;
    rec->balance_present = b->balc_present;
    return EVT_OK;
}

static void refund_view(refund_state *r)
{
    r->view = (evt_ui_refund){
        .order_id = r->order_id,
        .sold_at = r->sold_at,
        .patient = r->rc.patient,
        .total = r->sale.total,
        .fund = r->sale.fund,
        .account = r->sale.account,
        .mutual_aid = r->sale.mutual_aid,
        .cash = r->sale.cash,
    };
}

/* Refunded and recorded: the receipt record, the refund receipt, the result screen. */
static evt_err refund_done(refund_state *r)
{
    evt_txn *t = r->t;
    EVT_LOGI(MOD, "refund of order %s: %s (%s)", r->order_id, "refunded", r->rec.msgid);
    refund_result_from_record(r->order_id, &r->rec, r->result);
    refund_publish(r);
    evt_orders_receipt rc = r->rc; /* the patient, as on the sale's receipt */
    rc.book = evt_orders_book_partner(r->book);
    if (rc.patient[0] == '\0') {
        /* A sale recorded before receipt records existed: the platform's answer names them. */
        evt_txn_mask_into(r->back.psn_name, false, rc.patient);
        snprintf(rc.insutype, sizeof rc.insutype, "%s", r->back.insutype);
    }
    snprintf(rc.order_id, sizeof rc.order_id, "%s", r->order_id);
    snprintf(rc.mdtrt_id, sizeof rc.mdtrt_id, "%s", r->back.mdtrt_id);
    snprintf(rc.setl_time, sizeof rc.setl_time, "%s", r->back.setl_time);
    rc.total = r->rec.total;
    rc.fulamt_ownpay_amt = -r->back.fulamt_ownpay_amt;
    rc.overlmt_selfpay = -r->back.overlmt_selfpay;
    rc.preselfpay_amt = -r->back.preselfpay_amt;
    /* Without it only a reprint is lost (logged by evt_orders): the refund stands. */
    evt_orders_receipt_put(t->journal, r->rec.msgid, &rc);
    evt_err printed =
        evt_txn_print_receipt(t, r->rec.msgid, &r->rec, &rc, r->sale.setl_id, false, NULL);
    r->view.balance_present = r->rec.balance_present;
    r->view.balance = r->rec.balance;
    evt_ui_show_refund(t->ui, &r->view, true, printed);
    bool ok = false;
    evt_txn_cashier_decision(t, 0, &ok);
    return EVT_OK;
}

/* The 2103 and what the cashier is told of each way it can end. */
static evt_err refund_money(refund_state *r)
{
    evt_txn *t = r->t;
    evt_ui_show_progress(t->ui, "正在退费", "请勿离开");
    evt_txn_money_call c = {
        .t = t,
        .book = evt_orders_book_partner(r->book),
        .order_id = r->order_id,
        .rec = &r->rec,
        .infno =
            r->book == EVT_ORDERS_VISITS ? EVT_INFNO_VISIT_SETTLE_CANCEL : EVT_INFNO_SETTLE_CANCEL,
        .psn_no = r->sale.psn_no,
        .insuplc = r->sale.insuplc_admdvs,
        .build = build_cancel,
        .answer = answer_cancel,
        .arg = r,
    };
    evt_txn_money_outcome outcome = evt_txn_money(&c);
    if (outcome == EVT_TXN_MONEY_NOT_SENT) {
        refund_ends_unrecorded(r,
                               evt_txn_state_for_call_error(c.why) == EVT_ORDER_REFUSED
                                   ? EVT_ECR_REFUSED
                                   : EVT_ECR_FAILED,
                               c.why, c.platform_msg);
    } else if (outcome != EVT_TXN_MONEY_DONE) {
        refund_result_from_record(r->order_id, &r->rec, r->result);
        refund_publish(r);
    }
    switch (outcome) {
    case EVT_TXN_MONEY_NOT_SENT:
    case EVT_TXN_MONEY_REFUSED:
        EVT_LOGI(MOD, "refund of order %s: %s (%s)", r->order_id, "not refunded",
                 evt_err_name(c.why));
        evt_txn_show_error_and_wait(t, "退费失败：未退费，原结算仍有效", c.why, c.platform_msg);
        return c.why;
    case EVT_TXN_MONEY_UNKNOWN:
        EVT_LOGW(MOD, "refund of order %s: %s (%s)", r->order_id,
                 c.reversed ? "reversed" : "unknown", evt_err_name(c.why));
        if (c.reversed) {
            evt_txn_show_error_and_wait(t, "退费未完成", c.why, "已冲正，未退费；可重新办理");
            return c.why;
        }
        evt_txn_show_error_and_wait(t, "退费结果未知", EVT_ERR_REFUND_IN_DOUBT,
                                    "终端将自动冲正，请勿退还现金");
        return EVT_ERR_REFUND_IN_DOUBT;
    case EVT_TXN_MONEY_DONE:
        break;
    }
    return refund_done(r);
}

static evt_err refund_run(refund_state *r, bool *quit)
{
    evt_txn *t = r->t;
    char detail[48] = "";
    evt_datetime now;
    evt_err err =
        t->hal->sys->local_time(t->hal->sys->ctx, &now) == EVT_OK ? EVT_OK : EVT_ERR_INTERNAL;
    if (err == EVT_OK) {
        /* Better no refund than a refund the terminal could not remember. Room first: what
         * it removes is then not what the refund reads. */
        err = evt_orders_make_room(t->journal, evt_txn_day_of(&now), t->order_keep_days, NULL);
    }
    evt_order_record refund;
    if (err == EVT_OK) {
        err = refund_may_start(t, r->book, r->order_id, &r->sale, &refund, detail);
    }
    if (err == EVT_OK && evt_orders_receipt_get(t->journal, r->sale.msgid, &r->rc) != EVT_OK) {
        memset(&r->rc, 0, sizeof r->rc); /* older than receipt records, or removed for room */
    }
    if (err == EVT_OK && r->book == EVT_ORDERS_VISITS && r->rc.mdtrt_id[0] == '\0') {
        /* The 2208 names the visit's mdtrt_id, which only its receipt record keeps. */
        snprintf(detail, 48, "终端已无该就诊的就诊ID");
        err = EVT_ERR_NOT_FOUND;
    }
    if (err != EVT_OK) {
        refund_ends_unrecorded(r, EVT_ECR_REFUSED, err, detail);
        evt_txn_show_error_and_wait(t, "不能退费", err, detail);
        return err;
    }
    evt_txn_format_when(r->sale.day, r->sale.hms, r->sold_at);
    refund_view(r);
    evt_ui_show_refund(t->ui, &r->view, false, EVT_OK);
    /* The confirmation that moves money: the same dwell as the sale's split. */
    err = evt_txn_cashier_confirmed(t, EVT_UI_MONEY_CONFIRM_DWELL_MS);
    if (err != EVT_OK) {
        refund_ends_unrecorded(r, EVT_ECR_REFUSED, err, "收银员未确认退费，未退费");
        *quit = t->quit_requested;
        return err;
    }
    char total[24], line[EVT_UI_LINE_BYTES];
    evt_money_format(r->sale.total, total, sizeof total);
    snprintf(line, sizeof line, "退费 %s 元  订单 %s", total, r->order_id);
    /* A refusal (wrong PIN, locked, nobody provisioned) ends the refund: published before the
     * PIN step's screen of why waits for the cashier; a cancel or a timeout has no such screen
     * and is published when the step returns. */
    t->before_error_screen = supervisor_refused;
    t->before_error_screen_ctx = r;
    err = evt_txn_supervisor_approves(t, "主管授权退费", line, NULL, quit);
    bool published = t->before_error_screen == NULL;
    t->before_error_screen = NULL;
    if (err != EVT_OK) {
        if (!published) {
            supervisor_refused(r, err);
        }
        return err;
    }
    evt_txn_record_begin(&r->rec, &now, r->sale.total);
    evt_txn_record_operator(t, &r->rec);
    snprintf(r->rec.approver, sizeof r->rec.approver, "%s", t->approver);
    return refund_money(r);
}

/* The refund of the settled sale or visit (book) order_id, whichever way it was started: its
 * outcome in *result, published (evt_txn_publish) the moment it is final. */
static evt_err refund_order(evt_txn *t, evt_orders_book book, const char *order_id,
                            evt_ecr_result *result, bool *quit)
{
    *quit = false;
    refund_state *r = evt_calloc(1, sizeof *r);
    if (r == NULL) {
        refund_result_unrecorded(order_id, EVT_ECR_FAILED, EVT_ERR_NOMEM, NULL, result);
        evt_txn_publish(t, result);
        evt_txn_show_error_and_wait(t, "不能退费", EVT_ERR_NOMEM, NULL);
        return EVT_ERR_NOMEM;
    }
    r->t = t;
    r->book = book;
    r->order_id = order_id;
    r->result = result;
    evt_err err = refund_run(r, quit);
    evt_platform_disconnect(t->platform);
    memset(r, 0, sizeof *r);
    evt_free(r);
    *quit = *quit || t->quit_requested;
    return err;
}

evt_err evt_txn_refund(evt_txn *t, const char *order_id, bool *quit)
{
    evt_ecr_result result;
    return refund_order(t, EVT_ORDERS_SALES, order_id, &result, quit);
}

/* ---- the refund the POS asks for (docs/ecr-link.md "refund") ------------------------------ */

/* The sale or visit the POS names: today's sale, else today's visit (a sale's and a visit's ids
 * are keys of two books); else the first that exists, *today false. EVT_ERR_NOT_FOUND when
 * neither exists; journal errors. */
static evt_err pos_refund_target(evt_txn *t, const char *order_id, evt_orders_book *book,
                                 bool *today)
{
    evt_datetime now;
    if (t->hal->sys->local_time(t->hal->sys->ctx, &now) != EVT_OK) {
        return EVT_ERR_INTERNAL;
    }
    static const evt_orders_book books[] = {EVT_ORDERS_SALES, EVT_ORDERS_VISITS};
    evt_err first = EVT_ERR_NOT_FOUND;
    *today = false;
    for (size_t b = 0; b < sizeof books / sizeof books[0]; b++) {
        evt_order_record rec;
        evt_err err = evt_orders_book_get(t->journal, books[b], order_id, &rec);
        if (err == EVT_OK && rec.day == evt_txn_day_of(&now)) {
            *book = books[b];
            *today = true;
            return EVT_OK;
        }
        if (err != EVT_ERR_NOT_FOUND && first == EVT_ERR_NOT_FOUND) {
            first = err; /* an older one, or one that cannot be read */
            *book = books[b];
        }
    }
    return first;
}

bool evt_txn_refund_answer(evt_txn *t, const char *order_id, evt_ecr_result *out)
{
    evt_orders_book book = EVT_ORDERS_SALES;
    bool today = false;
    char detail[48] = "";
    evt_err err = pos_refund_target(t, order_id, &book, &today);
    evt_order_record sale, refund;
    if (err == EVT_ERR_NOT_FOUND) {
        err = EVT_ERR_REFUND_UNKNOWN_SALE;
    } else if (err == EVT_OK || err == EVT_ERR_JOURNAL_CORRUPT) {
        err = refund_may_start(t, book, order_id, &sale, &refund, detail);
    }
    if (err == EVT_ERR_REFUND_DONE || err == EVT_ERR_REFUND_IN_DOUBT) {
        /* The refund's own outcome stands: refunded (refused again, with its date and
         * references), or in doubt (the POS hands nothing back). */
        refund_result_from_record(order_id, &refund, out);
        if (err == EVT_ERR_REFUND_DONE) {
            out->status = EVT_ECR_REFUSED;
            out->error = err;
            evt_txn_result_message(out, err, detail);
        }
        return true;
    }
    if (err == EVT_OK && !today) {
        err = EVT_ERR_REFUND_NOT_TODAY;
    }
    if (err == EVT_OK) {
        return false;
    }
    refund_result_unrecorded(order_id, EVT_ECR_REFUSED, err, detail, out);
    return true;
}

evt_err evt_txn_refund_for_pos(evt_txn *t, const char *order_id, evt_ecr_result *result, bool *quit)
{
    *quit = false;
    if (evt_platform_operator(t->platform) == NULL) {
        /* As a sale's: done in an operator's name, refused at once while nobody is on shift. */
        refund_result_unrecorded(order_id, EVT_ECR_REFUSED, EVT_ERR_NOT_SIGNED_IN,
                                 "请操作员先登录签到", result);
        evt_txn_publish(t, result);
        return result->error;
    }
    /* The link checked it a moment ago (evt_txn_refund_answer); whatever changed since is
     * answered the same way. */
    evt_orders_book book = EVT_ORDERS_SALES;
    bool today = false;
    evt_err err = EVT_OK;
    if (!evt_txn_refund_answer(t, order_id, result)) {
        err = pos_refund_target(t, order_id, &book, &today);
        if (err == EVT_OK) {
            return refund_order(t, book, order_id, result, quit);
        }
        refund_result_unrecorded(order_id, EVT_ECR_FAILED, err, NULL, result);
    }
    evt_txn_publish(t, result);
    return result->error;
}

/* ---- the refund's two starts --------------------------------------------------------------- */

typedef struct ref_scan {
    evt_txn *t;
    evt_receipt_ref ref;
    evt_orders_book book; /* the book walked: the found sale's or visit's once found */
    char order_id[EVT_ORDER_ID_BYTES];
    evt_err found;
} ref_scan;

/* The settled sale or visit the receipt's reference names (settlement, msgid and person all
 * match). */
static evt_err sale_of_ref_visit(void *arg, const char *order_id, const evt_order_record *rec)
{
    ref_scan *rs = arg;
    if (rec->state == EVT_ORDER_SETTLED && strcmp(rec->setl_id, rs->ref.setl_id) == 0) {
        bool same =
            strcmp(rec->msgid, rs->ref.msgid) == 0 && strcmp(rec->psn_no, rs->ref.psn_no) == 0;
        rs->found = same ? EVT_OK : EVT_ERR_RECEIPT_REF_INVALID;
        snprintf(rs->order_id, sizeof rs->order_id, "%s", order_id);
    }
    return EVT_OK;
}

static evt_err refund_of_ref_visit(void *arg, const char *order_id, const evt_order_record *rec)
{
    (void)order_id;
    ref_scan *rs = arg;
    if (rec->state == EVT_ORDER_SETTLED && strcmp(rec->setl_id, rs->ref.setl_id) == 0) {
        rs->found = EVT_ERR_RECEIPT_IS_REFUND;
    }
    return EVT_OK;
}

static evt_err ref_accept(void *arg, const uint8_t *code, size_t len)
{
    ref_scan *rs = arg;
    evt_err err = evt_receipt_ref_parse((const char *)code, len, &rs->ref);
    if (err != EVT_OK) {
        return err;
    }
    if (strcmp(rs->ref.fixmedins_code, rs->t->cfg->fixmedins_code) != 0) {
        return EVT_ERR_RECEIPT_REF_FOREIGN;
    }
    rs->found = EVT_ERR_REFUND_UNKNOWN_SALE;
    /* Sales, visits, then the refunds of either (a refund's receipt is not refunded). */
    static const evt_orders_book books[] = {EVT_ORDERS_SALES, EVT_ORDERS_VISITS, EVT_ORDERS_REFUNDS,
                                            EVT_ORDERS_VISIT_REFUNDS};
    for (size_t b = 0; b < sizeof books / sizeof books[0] && err == EVT_OK &&
                       rs->found == EVT_ERR_REFUND_UNKNOWN_SALE;
         b++) {
        rs->book = books[b];
        err = evt_orders_book_iterate(rs->t->journal, books[b],
                                      evt_orders_book_is_refund(books[b]) ? refund_of_ref_visit
                                                                          : sale_of_ref_visit,
                                      rs, NULL);
    }
    return err != EVT_OK ? err : rs->found;
}

static void ref_prompt(void *arg, const char *notice)
{
    const ref_scan *rs = arg;
    evt_ui_show_message(rs->t->ui, EVT_UI_NORMAL, "退费：请扫描结算单二维码", "[取消] 返回",
                        "请扫描顾客结算单底部的二维码", notice);
}

evt_err evt_txn_refund_by_scan(evt_txn *t, bool *quit)
{
    *quit = false;
    ref_scan rs = {.t = t};
    char notice[EVT_UI_LINE_BYTES] = "";
    switch (evt_txn_wait_scan(t, ref_prompt, ref_accept, &rs, notice)) {
    case EVT_TXN_SCAN_GOT_CODE:
        break;
    case EVT_TXN_SCAN_QUIT:
        *quit = true;
        return EVT_ERR_CANCELLED;
    case EVT_TXN_SCAN_CANCELLED:
        return EVT_ERR_CANCELLED;
    case EVT_TXN_SCAN_TIMED_OUT:
        evt_txn_show_error_and_wait(t, "退费", EVT_ERR_TIMEOUT, "未扫描到结算单二维码，未退费");
        return EVT_ERR_TIMEOUT;
    }
    evt_ecr_result result;
    return refund_order(t, rs.book, rs.order_id, &result, quit);
}

evt_err evt_txn_refund_from_list(evt_txn *t, bool *quit)
{
    evt_txn_day_entry e;
    evt_err err = choose_from_day(t, EVT_TXN_DAY_REFUNDABLE, "退费：选择今日交易",
                                  "今日没有可退费的交易", &e, quit);
    evt_ecr_result result;
    return err != EVT_OK ? err : refund_order(t, e.book, e.order_id, &result, quit);
}
