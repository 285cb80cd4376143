/* evt_txn: the steps the sale, the refund and the reprints share. See txn_internal.h. */
#include <stdio.h>
#include <string.h>

#include "evt/auth.h"
#include "evt/json.h"
#include "evt/log.h"
#include "evt/mask.h"
#include "evt/receipt.h"
#include "txn_internal.h"

#define MOD TXN_MOD
/* How often the scan wait looks at the keypad between scanner reads. */
#define TXN_SCAN_SLICE_MS 250

/* ---- the cashier -------------------------------------------------------------------------- */

evt_err evt_txn_cashier_decision(evt_txn *t, uint32_t min_dwell_ms, bool *confirmed)
{
    evt_err err =
        evt_ui_wait_decision_guarded(t->ui, t->decision_timeout_ms, min_dwell_ms, confirmed);
    if (err == EVT_ERR_CANCELLED) {
        t->quit_requested = true;
    }
    return err;
}

evt_err evt_txn_cashier_confirmed(evt_txn *t, uint32_t min_dwell_ms)
{
    bool confirmed = false;
    evt_err err = evt_txn_cashier_decision(t, min_dwell_ms, &confirmed);
    return err != EVT_OK ? err : confirmed ? EVT_OK : EVT_ERR_CANCELLED;
}

void evt_txn_show_error_and_wait(evt_txn *t, const char *title, evt_err err, const char *detail)
{
    evt_ui_show_error(t->ui, title, err, detail);
    bool ok = false;
    evt_txn_cashier_decision(t, 0, &ok);
}

void evt_txn_record_operator(evt_txn *t, evt_order_record *rec)
{
    const char *op = evt_platform_operator(t->platform);
    snprintf(rec->opter, sizeof rec->opter, "%s", op != NULL ? op : "");
}

void evt_txn_operator_name(const evt_txn *t, const char *opter, char out[TXN_OPERATOR_NAME_BYTES])
{
    const evt_config *c = t->cfg;
    evt_config_operator op;
    const char *name = c->opter_name[0] ? c->opter_name : c->opter;
    if (evt_config_operator_find(c, opter, &op) == EVT_OK) {
        name = op.name;
    } else if (opter[0] != '\0' && strcmp(opter, c->opter) != 0) {
        name = opter;
    }
    snprintf(out, TXN_OPERATOR_NAME_BYTES, "%s", name);
}

evt_err evt_txn_pin_approves(evt_txn *t, const char *role, const evt_pin_hash *hash,
                             const char *title, const char *line, const char *notice, bool *quit)
{
    *quit = false;
    char pin[EVT_AUTH_PIN_MAX + 1];
    evt_err err =
        evt_ui_read_pin(t->ui, title, line, notice, t->decision_timeout_ms, pin, sizeof pin, quit);
    if (err == EVT_OK) {
        uint32_t retry_s = 0;
        err = evt_auth_check_pin(t->journal, t->hal->sys, role, hash, pin, &retry_s);
        char detail[64] = "未获授权，请重新办理";
        if (err == EVT_ERR_AUTH_LOCKED) {
            snprintf(detail, sizeof detail, "请 %u 分钟后再试", (unsigned)(retry_s + 59) / 60);
        }
        if (err != EVT_OK) {
            evt_txn_show_error_and_wait(t, title, err, detail);
        }
    }
    memset(pin, 0, sizeof pin);
    t->quit_requested = t->quit_requested || *quit;
    return err;
}

evt_err evt_txn_supervisor_approves(evt_txn *t, const char *title, const char *line,
                                    const char *notice, bool *quit)
{
    *quit = false;
    if (!t->cfg->supervisor_pin.set) {
        evt_txn_show_error_and_wait(t, title, EVT_ERR_CONFIG_MISSING,
                                    "未配置主管密码，请联系技术员");
        return EVT_ERR_CONFIG_MISSING;
    }
    return evt_txn_pin_approves(t, "supervisor", &t->cfg->supervisor_pin, title, line, notice,
                                quit);
}

/* ---- scanning ------------------------------------------------------------------------------ */

/* Polls the cashier's keypad once: CANCEL ends the scan wait, QUIT stops the terminal. */
static evt_txn_scan_outcome poll_cancel(evt_txn *t)
{
    evt_key_event ev = {0};
    if (t->hal->ui->read_key(t->hal->ui->ctx, 0, &ev) != EVT_OK) {
        return EVT_TXN_SCAN_GOT_CODE; /* nothing pressed: keep scanning */
    }
    if (ev.key == EVT_KEY_CANCEL) {
        return EVT_TXN_SCAN_CANCELLED;
    }
    if (ev.key == EVT_KEY_QUIT) {
        t->quit_requested = true;
        return EVT_TXN_SCAN_QUIT;
    }
    return EVT_TXN_SCAN_GOT_CODE;
}

evt_txn_scan_outcome evt_txn_wait_scan(evt_txn *t, evt_txn_scan_prompt_fn prompt,
                                       evt_txn_scan_accept_fn accept, void *arg, char *notice)
{
    uint64_t start = t->hal->sys->monotonic_ms(t->hal->sys->ctx);
    prompt(arg, notice);
    for (;;) {
        uint64_t now = t->hal->sys->monotonic_ms(t->hal->sys->ctx);
        if (now - start >= t->scan_timeout_ms) {
            return EVT_TXN_SCAN_TIMED_OUT;
        }
        uint8_t buf[TXN_SCAN_BYTES];
        size_t len = 0;
        evt_scan_source source = EVT_SCAN_SERIAL;
        evt_err err = t->hal->scanner->read(t->hal->scanner->ctx, TXN_SCAN_SLICE_MS, buf,
                                            sizeof buf, &len, &source);
        if (err == EVT_ERR_TIMEOUT) {
            evt_txn_scan_outcome key = poll_cancel(t);
            if (key != EVT_TXN_SCAN_GOT_CODE) {
                return key;
            }
            continue;
        }
        evt_err refusal = err;
        if (err == EVT_ERR_OVERFLOW) {
            refusal = EVT_ERR_VOUCHER_TOO_LONG;
        } else if (err == EVT_OK) {
            refusal = accept(arg, buf, len);
            char what[64];
            evt_voucher_describe(buf, len, what, sizeof what);
            EVT_LOGI(MOD, "scan (%s): %s -> %s", source == EVT_SCAN_CAMERA ? "camera" : "serial",
                     what, evt_err_name(refusal));
            if (refusal == EVT_OK) {
                return EVT_TXN_SCAN_GOT_CODE;
            }
        } else {
            EVT_LOGW(MOD, "scanner: %s", evt_err_name(err));
        }
        snprintf(notice, EVT_UI_LINE_BYTES, "%s", evt_err_cashier_text(refusal));
        prompt(arg, notice);
    }
}

/* ---- the money ----------------------------------------------------------------------------- */

/* Before the request leaves: the record says it may move money, with the msgid. */
static evt_err record_settling(void *ctx, const char *msgid)
{
    evt_txn_money_call *c = ctx;
    evt_order_record *rec = c->rec;
    rec->state = EVT_ORDER_SETTLING;
    rec->error = EVT_ERR_OUTCOME_UNKNOWN;
    rec->detail[0] = '\0';
    snprintf(rec->msgid, sizeof rec->msgid, "%s", msgid);
    snprintf(rec->psn_no, sizeof rec->psn_no, "%s", c->psn_no);
    snprintf(rec->insuplc_admdvs, sizeof rec->insuplc_admdvs, "%s", c->insuplc);
    return evt_orders_book_put(c->t->journal, c->book, c->order_id, rec);
}

/* A failure of the connection rather than of the platform's answer: retrying may work. */
static bool transport_fault(evt_err err, int http_status)
{
    switch (err) {
    case EVT_ERR_NET_RESOLVE:
    case EVT_ERR_NET_CONNECT:
    case EVT_ERR_NET_CLOSED:
    case EVT_ERR_NET_IO:
    case EVT_ERR_NET_TIMEOUT:
    case EVT_ERR_TIMEOUT:
    case EVT_ERR_TLS_ALERT:
    case EVT_ERR_TLS_HANDSHAKE:
    case EVT_ERR_STORAGE_IO:
        return true;
    default:
        return http_status >= 500;
    }
}

void evt_txn_record_detail(evt_order_record *rec, const char *detail)
{
    const char *d = detail != NULL ? detail : "";
    size_t keep = evt_json_utf8_prefix(d, strlen(d), sizeof rec->detail - 1);
    memcpy(rec->detail, d, keep);
    rec->detail[keep] = '\0';
}

evt_order_state evt_txn_state_for_call_error(evt_err err)
{
    return err == EVT_ERR_PLATFORM_REJECTED ? EVT_ORDER_REFUSED : EVT_ORDER_FAILED;
}

/* The outcome could not be learned (or not recorded): UNKNOWN first, then the platform turns
 * its pending record into a reversal and tries it at once. */
static evt_txn_money_outcome money_unknown(evt_txn_money_call *c, evt_err why)
{
    evt_txn *t = c->t;
    c->why = why;
    c->rec->state = EVT_ORDER_UNKNOWN;
    c->rec->error = why;
    c->rec->detail[0] = '\0';
    if (evt_orders_book_put(t->journal, c->book, c->order_id, c->rec) != EVT_OK) {
        /* The pending record, written before sending, still guards the money. */
        EVT_LOGE(MOD, "order %s: unknown outcome not journalled", c->order_id);
    }
    bool reversed = false;
    evt_err jerr = evt_platform_settle_done(t->platform, c->rec->msgid, false, &reversed);
    if (jerr != EVT_OK) {
        EVT_LOGE(MOD, "journal after %s msgid %s: %s", c->infno, c->rec->msgid, evt_err_name(jerr));
    }
    /* The owner hook recorded the acknowledged reversal: the record says REVERSED now. */
    c->reversed = reversed &&
                  evt_orders_book_get(t->journal, c->book, c->order_id, c->rec) == EVT_OK &&
                  c->rec->state == EVT_ORDER_REVERSED;
    return EVT_TXN_MONEY_UNKNOWN;
}

evt_txn_money_outcome evt_txn_money(evt_txn_money_call *c)
{
    evt_txn *t = c->t;
    evt_platform_settle_ref ref = {
        .psn_no = c->psn_no,
        .insuplc_admdvs = c->insuplc,
        .order_ref = c->order_id,
        .before_send = record_settling,
        .ctx = c,
    };
    evt_platform_reply reply;
    evt_err err =
        evt_platform_call(t->platform, c->infno, c->insuplc, c->build, c->arg, &ref, &reply);
    bool journalled = c->rec->state == EVT_ORDER_SETTLING;
    evt_err why = err;
    if (err == EVT_OK) {
        why = c->answer(c->arg, &reply.resp, &reply.diag, c->rec);
        if (why != EVT_OK) {
            /* An answer that cannot be printed as correct may still have moved money: it is
             * reversed rather than trusted, and trying again needs a supervisor. */
            EVT_LOGE(MOD, "%s answer rejected: %s (field %s)", c->infno, evt_err_name(why),
                     reply.diag.field);
            c->rec->answer_unusable = true;
        }
    } else if (journalled && reply.request_sent && err != EVT_ERR_PLATFORM_REJECTED) {
        c->rec->answer_unusable = !transport_fault(err, reply.http_status);
    }
    snprintf(c->platform_msg, sizeof c->platform_msg, "%s", reply.resp.err_msg);
    evt_platform_reply_free(&reply);

    c->why = err;
    if (!journalled) {
        return EVT_TXN_MONEY_NOT_SENT; /* stopped before the record: it never left the terminal */
    }
    if (err == EVT_OK && why == EVT_OK) {
        c->rec->state = EVT_ORDER_SETTLED;
        c->rec->error = EVT_OK;
        why = evt_orders_book_put(t->journal, c->book, c->order_id, c->rec);
        if (why != EVT_OK) {
            /* Done but not recorded: the terminal would not know it moved money, so it is
             * reversed instead of printed. */
            c->rec->state = EVT_ORDER_SETTLING;
            c->rec->answer_unusable = false;
        }
    }
    if (why != EVT_OK && (err == EVT_OK || reply.request_sent) &&
        err != EVT_ERR_PLATFORM_REJECTED) {
        return money_unknown(c, why);
    }
    bool reversed = false;
    if (err != EVT_OK) {
        /* Refused by the platform, or the request never left: no money moved. The record says
         * so before the pending record goes. */
        c->rec->state = evt_txn_state_for_call_error(err);
        c->rec->error = err;
        evt_txn_record_detail(c->rec, c->platform_msg);
        if (evt_orders_book_put(t->journal, c->book, c->order_id, c->rec) != EVT_OK) {
            EVT_LOGE(MOD, "order %s: result not journalled", c->order_id);
        }
        evt_platform_settle_done(t->platform, c->rec->msgid, true, &reversed);
        return EVT_TXN_MONEY_REFUSED;
    }
    evt_platform_settle_done(t->platform, c->rec->msgid, true, &reversed);
    c->why = EVT_OK;
    return EVT_TXN_MONEY_DONE;
}

/* ---- receipts ------------------------------------------------------------------------------ */

void evt_txn_format_when(uint32_t day, uint32_t hms, char out[TXN_WHEN_BYTES])
{
    snprintf(out, TXN_WHEN_BYTES, "%04u-%02u-%02u %02u:%02u", (unsigned)(day / 10000u % 10000u),
             (unsigned)(day / 100u % 100u), (unsigned)(day % 100u), (unsigned)(hms / 10000u % 100u),
             (unsigned)(hms / 100u % 100u));
}

uint32_t evt_txn_day_of(const evt_datetime *d)
{
    return (uint32_t)d->year * 10000u + (uint32_t)d->month * 100u + (uint32_t)d->day;
}

void evt_txn_mask_into(const char *clear, bool is_id, char out[EVT_ORDERS_MASKED_BYTES])
{
    char masked[EVT_NAME_BYTES * 2];
    evt_err err = is_id ? evt_mask_id(clear, masked, sizeof masked)
                        : evt_mask_name(clear, masked, sizeof masked);
    if (err != EVT_OK) {
        snprintf(masked, sizeof masked, "***"); /* a value that cannot be masked is not kept */
    }
    size_t keep = evt_json_utf8_prefix(masked, strlen(masked), EVT_ORDERS_MASKED_BYTES - 1);
    memcpy(out, masked, keep);
    out[keep] = '\0';
}

/* The settlement a receipt prints, from the two records: a reprint and the original are made
 * the same way, so they print the same. */
static void receipt_settlement(const evt_order_record *rec, const evt_orders_receipt *rc,
                               evt_settlement *s)
{
    memset(s, 0, sizeof *s);
    snprintf(s->setl_id, sizeof s->setl_id, "%s", rec->setl_id);
    snprintf(s->mdtrt_id, sizeof s->mdtrt_id, "%s", rc->mdtrt_id);
    snprintf(s->psn_no, sizeof s->psn_no, "%s", rec->psn_no);
    snprintf(s->insutype, sizeof s->insutype, "%s", rc->insutype);
    snprintf(s->setl_time, sizeof s->setl_time, "%s", rc->setl_time);
    s->medfee_sumamt = rec->total;
    s->fund_pay_sumamt = rec->fund;
    s->acct_pay = rec->account;
    s->acct_mulaid_pay = rec->mutual_aid;
    s->psn_cash_pay = rec->cash;
    s->balc = rec->balance;
    s->balc_present = rec->balance_present;
    s->fulamt_ownpay_amt = rc->fulamt_ownpay_amt;
    s->overlmt_selfpay = rc->overlmt_selfpay;
    s->preselfpay_amt = rc->preselfpay_amt;
}

evt_err evt_txn_print_receipt(evt_txn *t, const char *msgid, const evt_order_record *rec,
                              const evt_orders_receipt *rc, const char *original_setl_id,
                              bool reprint, const evt_order *items)
{
    evt_datetime now;
    char when[EVT_INF_TIME_BYTES] = "";
    if (t->hal->sys->local_time(t->hal->sys->ctx, &now) == EVT_OK) {
        evt_proto_format_time(&now, when);
    }
    evt_settlement setl;
    receipt_settlement(rec, rc, &setl);
    char operator_name[TXN_OPERATOR_NAME_BYTES];
    evt_txn_operator_name(t, rec->opter, operator_name);
    evt_receipt r = {
        .paper = t->cfg->paper_width_mm == 80 ? EVT_RECEIPT_PAPER_80MM : EVT_RECEIPT_PAPER_58MM,
        .qr_mode = t->cfg->receipt_qr,
        .kind = rc->book == EVT_ORDERS_REFUNDS ? EVT_RECEIPT_REFUND : EVT_RECEIPT_SALE,
        .reprint = reprint,
        .fixmedins_name = t->cfg->fixmedins_name,
        .fixmedins_code = t->cfg->fixmedins_code,
        .terminal_id = t->cfg->dev_no,
        .operator_name = operator_name,
        .datetime = when,
        .msgid = msgid,
        .order = items,
        .settlement = &setl,
        /* Masked already: masking a masked value leaves it unchanged. */
        .patient_name = rc->patient,
        .patient_id_no = rc->patient_id,
        .insutype = rc->insutype,
        .insured_region = rec->insuplc_admdvs,
        .via_family_account = rc->via_family_account,
        .holder_name = rc->holder,
        .original_setl_id = original_setl_id,
    };
    /* Streamed to the printer as it is made: no job buffer, whatever the order's length. */
    size_t len = 0;
    evt_err err = evt_receipt_print(&r, t->hal->printer, msgid, &len);
    if (err != EVT_OK) {
        t->counters.receipts_failed++;
        snprintf(t->unprinted_msgid, sizeof t->unprinted_msgid, "%s", msgid);
        EVT_LOGE(MOD, "receipt for msgid %s not printed: %s", msgid, evt_err_name(err));
        return err;
    }
    if (strcmp(t->unprinted_msgid, msgid) == 0) {
        t->unprinted_msgid[0] = '\0';
    }
    EVT_LOGI(MOD, "receipt for msgid %s printed (%lu bytes%s)", msgid, (unsigned long)len,
             reprint ? ", a copy" : "");
    return EVT_OK;
}
