/* evt_txn: the pharmacy sale. See txn.h for the flow. */
#include "evt/txn.h"

#include <stdio.h>
#include <string.h>

#include "evt/arena.h"
#include "evt/log.h"
#include "evt/mask.h"
#include "evt/proto.h"
#include "evt/receipt.h"

#define MOD                             "txn"
#define TXN_SCAN_SLICE_MS               250
#define TXN_DEFAULT_SCAN_TIMEOUT_MS     180000u
#define TXN_DEFAULT_DECISION_TIMEOUT_MS 180000u
/* Order records are kept at least this many days when no daily close marks their day closed
 * (docs/journal.md, retention), if the configuration does not say (order_keep_days). */
#define TXN_DEFAULT_ORDER_KEEP_DAYS EVT_CONFIG_DEFAULT_ORDER_KEEP_DAYS
/* Scanner buffer: one byte more than the longest voucher so over-long codes are seen. */
#define TXN_SCAN_BYTES        (EVT_VOUCHER_MAX_LEN + 64)
#define TXN_ORDER_ID_WIRE_MAX 30
/* In-doubt orders handled per walk at start-up (the journal cannot be written while walked);
 * the walk repeats until none is left to handle. */
#define TXN_RECOVER_BATCH 8u

/* Everything learned about the patient during one sale; wiped when the sale ends. */
typedef struct sale_state {
    evt_txn *t;
    const evt_order *order;
    evt_order_record rec; /* the order's record, written at every outcome */
    evt_voucher_info voucher;
    evt_person person;
    const evt_insurance *insu;
    evt_settlement pre;
    evt_settlement setl;
    evt_datetime begntime;
    char scan_notice[EVT_UI_LINE_BYTES];
    char qr_text[TXN_SCAN_BYTES + 1];
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
    t->last = evt_calloc(1, sizeof *t->last);
    t->order = evt_calloc(1, sizeof *t->order);
    return t->last && t->order ? EVT_OK : EVT_ERR_NOMEM;
}

evt_order *evt_txn_order(evt_txn *t)
{
    return t->order;
}

void evt_txn_forget_last_receipt(evt_txn *t)
{
    if (t->last != NULL) {
        memset(t->last, 0, sizeof *t->last);
    }
}

void evt_txn_deinit(evt_txn *t)
{
    if (t->last != NULL) {
        memset(t->last, 0, sizeof *t->last);
        evt_free(t->last);
        t->last = NULL;
    }
    if (t->order != NULL) {
        memset(t->order, 0, sizeof *t->order);
        evt_free(t->order);
        t->order = NULL;
    }
}

/* ---- results: the order's record is the result ------------------------------------------- */

static void message_set(evt_ecr_result *r, evt_err err, const char *detail)
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
static void result_from_record(const char *order_id, const evt_order_record *rec, evt_ecr_result *r)
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
        message_set(r, rec->error,
                    rec->needs_supervisor ? "已冲正，未扣款；平台应答异常，需主管核实后放行"
                                          : "已冲正，未扣款");
        return;
    }
    message_set(r, r->error, rec->detail);
}

static void count_result(evt_txn *t, evt_ecr_status status)
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
static evt_err result_unrecorded(evt_txn *t, evt_ecr_result *r, evt_ecr_status status, evt_err err,
                                 const char *detail)
{
    r->status = status;
    r->error = err;
    message_set(r, err, detail);
    count_result(t, status);
    EVT_LOGI(MOD, "order %s: %s (%s), not recorded", r->order_id, evt_ecr_status_name(status),
             evt_err_name(err));
    return err;
}

static void detail_set(evt_order_record *rec, const char *detail)
{
    const char *d = detail != NULL ? detail : "";
    size_t keep = evt_json_utf8_prefix(d, strlen(d), sizeof rec->detail - 1);
    memcpy(rec->detail, d, keep);
    rec->detail[keep] = '\0';
}

/* Ends the sale in `state`: the record first (durable), then the result for the POS. */
static evt_err sale_end(sale_state *s, evt_ecr_result *r, evt_order_state state, evt_err err,
                        const char *detail)
{
    evt_txn *t = s->t;
    s->rec.state = state;
    s->rec.error = err;
    detail_set(&s->rec, detail);
    if (evt_orders_put(t->journal, s->order->order_id, &s->rec) != EVT_OK) {
        /* Only outcomes without money get here unrecorded (settle() handles its own): the
         * POS may re-send them, which is what it may do anyway. */
        EVT_LOGE(MOD, "order %s: result not journalled", s->order->order_id);
    }
    result_from_record(s->order->order_id, &s->rec, r);
    count_result(t, r->status);
    EVT_LOGI(MOD, "order %s: %s (%s)", r->order_id, evt_order_state_name(state), evt_err_name(err));
    return state == EVT_ORDER_SETTLED ? EVT_OK : r->error;
}

static evt_order_state state_for_call_error(evt_err err)
{
    return err == EVT_ERR_PLATFORM_REJECTED ? EVT_ORDER_REFUSED : EVT_ORDER_FAILED;
}

/* Waits (bounded) for the cashier's OK or CANCEL on the screen shown; keys pressed before it
 * appeared, and an OK sooner than min_dwell_ms after it appeared, do not count (ui.h).
 * EVT_OK with *confirmed; otherwise the reason there was no decision (a board QUIT also stops
 * the terminal). */
static evt_err cashier_decision(evt_txn *t, uint32_t min_dwell_ms, bool *confirmed)
{
    evt_err err =
        evt_ui_wait_decision_guarded(t->ui, t->decision_timeout_ms, min_dwell_ms, confirmed);
    if (err == EVT_ERR_CANCELLED) {
        t->quit_requested = true;
    }
    return err;
}

/* The cashier confirmed the decision on screen: EVT_OK, or why not (for the result). */
static evt_err cashier_confirmed(evt_txn *t, uint32_t min_dwell_ms)
{
    bool confirmed = false;
    evt_err err = cashier_decision(t, min_dwell_ms, &confirmed);
    return err != EVT_OK ? err : confirmed ? EVT_OK : EVT_ERR_CANCELLED;
}

/* Shows an error screen and waits for the cashier to acknowledge it (bounded). */
static void show_error_and_wait(evt_txn *t, const char *title, evt_err err, const char *detail)
{
    evt_ui_show_error(t->ui, title, err, detail);
    bool ok = false;
    cashier_decision(t, 0, &ok);
}

/* ---- platform request builders ------------------------------------------------------------ */

static evt_err build_ec_query(void *arg, const evt_proto_identity *id,
                              const evt_proto_envelope *env, evt_json_writer *w,
                              evt_json_diag *diag)
{
    const sale_state *s = arg;
    return evt_proto_write_ec_query(id, env, s->qr_text, w, diag);
}

static evt_err build_person(void *arg, const evt_proto_identity *id, const evt_proto_envelope *env,
                            evt_json_writer *w, evt_json_diag *diag)
{
    const sale_state *s = arg;
    return evt_proto_write_person_query(id, env, &s->voucher, w, diag);
}

static evt_err build_drug(const sale_state *s, bool final, const evt_proto_identity *id,
                          const evt_proto_envelope *env, evt_json_writer *w, evt_json_diag *diag)
{
    evt_proto_sale sale = {
        .order = s->order,
        .person = &s->person,
        .voucher = &s->voucher,
        .insurance = s->insu,
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

/* ---- scanning ---------------------------------------------------------------------------- */

typedef enum scan_outcome {
    SCAN_GOT_CODE,
    SCAN_CANCELLED,
    SCAN_TIMED_OUT,
    SCAN_QUIT,
} scan_outcome;

/* Polls the cashier's keypad once: CANCEL ends the scan wait, QUIT stops the terminal. */
static scan_outcome poll_cancel(evt_txn *t)
{
    evt_key_event ev = {0};
    if (t->hal->ui->read_key(t->hal->ui->ctx, 0, &ev) != EVT_OK) {
        return SCAN_GOT_CODE; /* nothing pressed: keep scanning */
    }
    if (ev.key == EVT_KEY_CANCEL) {
        return SCAN_CANCELLED;
    }
    if (ev.key == EVT_KEY_QUIT) {
        return SCAN_QUIT;
    }
    return SCAN_GOT_CODE;
}

/* Waits for a code that passes local classification and was not scanned before in this
 * sale. Refusals are shown as a notice under the prompt; the sale stays open so the
 * customer can show the right code. */
static scan_outcome wait_for_voucher(evt_txn *t, sale_state *s)
{
    uint64_t start = t->hal->sys->monotonic_ms(t->hal->sys->ctx);
    evt_ui_show_scan_prompt(t->ui, s->order, s->scan_notice);
    for (;;) {
        uint64_t now = t->hal->sys->monotonic_ms(t->hal->sys->ctx);
        if (now - start >= t->scan_timeout_ms) {
            return SCAN_TIMED_OUT;
        }
        uint8_t buf[TXN_SCAN_BYTES];
        size_t len = 0;
        evt_scan_source source = EVT_SCAN_SERIAL;
        evt_err err = t->hal->scanner->read(t->hal->scanner->ctx, TXN_SCAN_SLICE_MS, buf,
                                            sizeof buf, &len, &source);
        if (err == EVT_ERR_TIMEOUT) {
            scan_outcome key = poll_cancel(t);
            if (key != SCAN_GOT_CODE) {
                return key;
            }
            continue;
        }
        evt_err refusal = err;
        if (err == EVT_ERR_OVERFLOW) {
            refusal = EVT_ERR_VOUCHER_TOO_LONG;
        } else if (err == EVT_OK) {
            evt_voucher_class cls;
            evt_voucher_classify(buf, len, &cls);
            char what[64];
            evt_voucher_describe(buf, len, what, sizeof what);
            refusal = cls.err;
            if (refusal == EVT_OK) {
                refusal = evt_voucher_guard_accept(&t->guard, buf, cls.code_len);
            }
            EVT_LOGI(MOD, "scan (%s): %s -> %s", source == EVT_SCAN_CAMERA ? "camera" : "serial",
                     what, evt_err_name(refusal));
            if (refusal == EVT_OK) {
                memcpy(s->qr_text, buf, cls.code_len);
                s->qr_text[cls.code_len] = '\0';
                return SCAN_GOT_CODE;
            }
        } else {
            EVT_LOGW(MOD, "scanner: %s", evt_err_name(err));
        }
        snprintf(s->scan_notice, sizeof s->scan_notice, "%s", evt_err_cashier_text(refusal));
        evt_ui_show_scan_prompt(t->ui, s->order, s->scan_notice);
    }
}

/* ---- the patient: ec.query, 1101, cross-checks ------------------------------------------ */

/* One platform call whose answer is parsed into the sale: the step the transactions before
 * the money share. The platform's own words (err_msg) end up in msg. */
typedef evt_err (*step_parse_fn)(sale_state *s, const evt_proto_response *resp,
                                 evt_json_diag *diag);

static evt_err platform_step(sale_state *s, const char *progress, const char *infno,
                             const char *insuplc, evt_platform_build_fn build, step_parse_fn parse,
                             char msg[EVT_PROTO_MSG_BYTES])
{
    evt_ui_show_progress(s->t->ui, progress, NULL);
    evt_platform_reply reply;
    evt_err err = evt_platform_call(s->t->platform, infno, insuplc, build, s, NULL, &reply);
    if (err == EVT_OK) {
        err = parse(s, &reply.resp, &reply.diag);
        if (err != EVT_OK) {
            EVT_LOGE(MOD, "%s answer rejected: %s (field %s)", infno, evt_err_name(err),
                     reply.diag.field);
        }
    }
    snprintf(msg, EVT_PROTO_MSG_BYTES, "%s", reply.resp.err_msg);
    evt_platform_reply_free(&reply);
    return err;
}

/* A step failed before any money could move: the cashier reads why, the order ends. */
static evt_err step_failed(sale_state *s, evt_ecr_result *r, const char *title, evt_err err,
                           const char *platform_msg)
{
    show_error_and_wait(s->t, title, err, platform_msg);
    return sale_end(s, r, state_for_call_error(err), err, platform_msg);
}

static evt_err parse_voucher(sale_state *s, const evt_proto_response *resp, evt_json_diag *diag)
{
    return evt_proto_parse_ec_query(resp, &s->voucher, diag);
}

/* ID numbers compare without regard to the case of the check character (x / X). */
static bool same_id_number(const char *a, const char *b)
{
    for (; *a != '\0' && *b != '\0'; a++, b++) {
        char ca = *a >= 'a' && *a <= 'z' ? (char)(*a - 'a' + 'A') : *a;
        char cb = *b >= 'a' && *b <= 'z' ? (char)(*b - 'a' + 'A') : *b;
        if (ca != cb) {
            return false;
        }
    }
    return *a == '\0' && *b == '\0';
}

/* Names compare exactly, except for ASCII spaces around them that some systems pad with. */
static bool same_name(const char *a, const char *b)
{
    while (*a == ' ') {
        a++;
    }
    while (*b == ' ') {
        b++;
    }
    size_t la = strlen(a), lb = strlen(b);
    while (la > 0 && a[la - 1] == ' ') {
        la--;
    }
    while (lb > 0 && b[lb - 1] == ' ') {
        lb--;
    }
    return la == lb && memcmp(a, b, la) == 0;
}

/* 1101 must describe the person the voucher was decoded to: otherwise the cashier would check
 * (and the fund would pay for) somebody else. */
static evt_err parse_person(sale_state *s, const evt_proto_response *resp, evt_json_diag *diag)
{
    evt_err err = evt_proto_parse_person(resp, &s->person, diag);
    if (err != EVT_OK) {
        return err;
    }
    if (!same_id_number(s->person.certno, s->voucher.id_no)) {
        snprintf(diag->field, sizeof diag->field, "output.baseinfo.certno");
        return EVT_ERR_PERSON_VOUCHER_MISMATCH;
    }
    if (!same_name(s->person.psn_name, s->voucher.user_name)) {
        snprintf(diag->field, sizeof diag->field, "output.baseinfo.psn_name");
        return EVT_ERR_PERSON_VOUCHER_MISMATCH;
    }
    return EVT_OK;
}

static evt_err parse_presettlement(sale_state *s, const evt_proto_response *resp,
                                   evt_json_diag *diag)
{
    return evt_proto_parse_settlement(resp, EVT_PROTO_PRESETTLE, s->order->total, s->person.psn_no,
                                      &s->pre, diag);
}

/* "凭证无效：<platform text>", cut on a UTF-8 character boundary to fit the screen line. */
static void notice_with_platform_text(sale_state *s, const char *platform_text)
{
    static const char prefix[] = "凭证无效：";
    size_t room = sizeof s->scan_notice - sizeof prefix;
    size_t keep = evt_json_utf8_prefix(platform_text, strlen(platform_text), room);
    memcpy(s->scan_notice, prefix, sizeof prefix - 1);
    memcpy(s->scan_notice + sizeof prefix - 1, platform_text, keep);
    s->scan_notice[sizeof prefix - 1 + keep] = '\0';
}

static bool has_account(const evt_insurance *insu)
{
    return insu->balc_present;
}

/* ---- receipts ----------------------------------------------------------------------------- */

/* Keeps what the receipt shows, masked, for a reprint. */
static void remember_receipt(evt_txn *t, const sale_state *s, const char *msgid)
{
    evt_txn_last_receipt *l = t->last;
    memset(l, 0, sizeof *l);
    snprintf(l->msgid, sizeof l->msgid, "%s", msgid);
    l->setl = s->setl;
    /* A value that cannot be masked is not printed at all. */
    if (evt_mask_name(s->person.psn_name, l->name_masked, sizeof l->name_masked) != EVT_OK) {
        snprintf(l->name_masked, sizeof l->name_masked, "***");
    }
    if (evt_mask_id(s->person.certno, l->id_masked, sizeof l->id_masked) != EVT_OK) {
        snprintf(l->id_masked, sizeof l->id_masked, "****");
    }
    if (evt_mask_name(s->voucher.holder_name, l->holder_masked, sizeof l->holder_masked) !=
        EVT_OK) {
        snprintf(l->holder_masked, sizeof l->holder_masked, "***");
    }
    /* The settlement's own copy of the name is not needed on paper twice: wipe it. */
    memset(l->setl.psn_name, 0, sizeof l->setl.psn_name);
    l->via_family_account = s->voucher.via_family_account;
    snprintf(l->insutype, sizeof l->insutype, "%s", s->insu->insutype);
    snprintf(l->insured_region, sizeof l->insured_region, "%s", s->insu->insuplc_admdvs);
    l->valid = true;
}

/* Prints the remembered receipt. The receipt module masks names and IDs; masking an already
 * masked value leaves it unchanged, so the remembered copies print exactly as before. */
static evt_err print_last_receipt(evt_txn *t, evt_receipt_kind kind)
{
    const evt_txn_last_receipt *l = t->last;
    evt_datetime now;
    char when[EVT_INF_TIME_BYTES] = "";
    if (t->hal->sys->local_time(t->hal->sys->ctx, &now) == EVT_OK) {
        evt_proto_format_time(&now, when);
    }
    evt_receipt r = {
        .paper = t->cfg->paper_width_mm == 80 ? EVT_RECEIPT_PAPER_80MM : EVT_RECEIPT_PAPER_58MM,
        .qr_mode = t->cfg->receipt_qr,
        .kind = kind,
        .fixmedins_name = t->cfg->fixmedins_name,
        .fixmedins_code = t->cfg->fixmedins_code,
        .terminal_id = t->cfg->dev_no,
        .operator_name = t->cfg->opter_name[0] ? t->cfg->opter_name : t->cfg->opter,
        .datetime = when,
        .msgid = l->msgid,
        .order = t->order,
        .settlement = &l->setl,
        .patient_name = l->name_masked,
        .patient_id_no = l->id_masked,
        .insutype = l->insutype,
        .insured_region = l->insured_region,
        .via_family_account = l->via_family_account,
        .holder_name = l->holder_masked,
    };
    /* Streamed to the printer as it is made: no job buffer, whatever the order's length. */
    size_t len = 0;
    evt_err err = evt_receipt_print(&r, t->hal->printer, l->msgid, &len);
    if (err != EVT_OK) {
        t->counters.receipts_failed++;
        EVT_LOGE(MOD, "receipt for msgid %s not printed: %s", l->msgid, evt_err_name(err));
        return err;
    }
    EVT_LOGI(MOD, "%sreceipt for msgid %s printed (%lu bytes)",
             kind == EVT_RECEIPT_REPRINT ? "reprinted " : "", l->msgid, (unsigned long)len);
    return EVT_OK;
}

static bool has_last_receipt(const evt_txn *t)
{
    return t->last != NULL && t->last->valid;
}

evt_err evt_txn_reprint_last(evt_txn *t)
{
    if (!has_last_receipt(t)) {
        return EVT_ERR_NOT_FOUND;
    }
    evt_err err = print_last_receipt(t, t->last->printed ? EVT_RECEIPT_REPRINT : EVT_RECEIPT_SALE);
    if (err == EVT_OK) {
        t->last->printed = true;
    }
    return err;
}

/* ---- the money: 2102 ------------------------------------------------------------------- */

/* Before the 2102 leaves: the order's record says it may move money, with the msgid. */
static evt_err record_settling(void *ctx, const char *msgid)
{
    sale_state *s = ctx;
    s->rec.state = EVT_ORDER_SETTLING;
    s->rec.error = EVT_ERR_OUTCOME_UNKNOWN;
    s->rec.detail[0] = '\0';
    snprintf(s->rec.msgid, sizeof s->rec.msgid, "%s", msgid);
    snprintf(s->rec.psn_no, sizeof s->rec.psn_no, "%s", s->person.psn_no);
    snprintf(s->rec.insuplc_admdvs, sizeof s->rec.insuplc_admdvs, "%s", s->insu->insuplc_admdvs);
    return evt_orders_put(s->t->journal, s->order->order_id, &s->rec);
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

static void record_settlement(evt_order_record *rec, const evt_settlement *setl)
{
    snprintf(rec->setl_id, sizeof rec->setl_id, "%s", setl->setl_id);
    rec->total = setl->medfee_sumamt;
    rec->fund = setl->fund_pay_sumamt;
    rec->account = setl->acct_pay;
    rec->mutual_aid = setl->acct_mulaid_pay;
    rec->cash = setl->psn_cash_pay;
    rec->balance = setl->balc;
    rec->balance_present = setl->balc_present;
}

/* The 2102's outcome could not be learned (or not recorded): UNKNOWN first, then the platform
 * turns its pending record into a reversal and tries it at once. */
static evt_err settle_unknown(sale_state *s, evt_ecr_result *r, evt_err why)
{
    evt_txn *t = s->t;
    s->rec.state = EVT_ORDER_UNKNOWN;
    s->rec.error = why;
    s->rec.detail[0] = '\0';
    if (evt_orders_put(t->journal, s->order->order_id, &s->rec) != EVT_OK) {
        /* The pending record, written before sending, still guards the order. */
        EVT_LOGE(MOD, "order %s: unknown outcome not journalled", s->order->order_id);
    }
    bool reversed = false;
    evt_err jerr = evt_platform_settle_done(t->platform, s->rec.msgid, false, &reversed);
    if (jerr != EVT_OK) {
        EVT_LOGE(MOD, "journal after 2102 msgid %s: %s", s->rec.msgid, evt_err_name(jerr));
    }
    if (reversed && (evt_orders_get(t->journal, s->order->order_id, &s->rec) != EVT_OK ||
                     s->rec.state != EVT_ORDER_REVERSED)) {
        reversed = false;
    }
    result_from_record(s->order->order_id, &s->rec, r);
    count_result(t, r->status);
    EVT_LOGI(MOD, "order %s: %s (%s)", r->order_id, evt_order_state_name(s->rec.state),
             evt_err_name(why));
    if (reversed && s->rec.needs_supervisor) {
        /* Trying again would settle and reverse again: a person decides (hole of a loop). */
        show_error_and_wait(t, "结算未完成", why, "已冲正，患者未被扣款；平台应答异常，请主管核实");
    } else if (reversed) {
        show_error_and_wait(t, "结算未完成", why, "已冲正，患者未被扣款，可重新结算");
    } else {
        show_error_and_wait(t, "结算结果未知", EVT_ERR_OUTCOME_UNKNOWN, evt_err_cashier_text(why));
    }
    return r->error;
}

/* The money step: every way the 2102 can end is decided here (docs/protocol-decisions.md). */
static evt_err settle(sale_state *s, evt_ecr_result *r)
{
    evt_txn *t = s->t;
    evt_ui_show_progress(t->ui, "正在结算", "请勿离开，结算进行中…");
    evt_platform_settle_ref ref = {
        .psn_no = s->person.psn_no,
        .insuplc_admdvs = s->insu->insuplc_admdvs,
        .order_ref = s->order->order_id,
        .before_send = record_settling,
        .ctx = s,
    };
    evt_platform_reply reply;
    evt_err err = evt_platform_call(t->platform, EVT_INFNO_SETTLE, s->insu->insuplc_admdvs,
                                    build_settle, s, &ref, &reply);
    bool journalled = s->rec.state == EVT_ORDER_SETTLING;
    evt_err why = err;
    if (err == EVT_OK) {
        why = evt_proto_parse_settlement(&reply.resp, EVT_PROTO_SETTLE, s->order->total,
                                         s->person.psn_no, &s->setl, &reply.diag);
        if (why != EVT_OK) {
            /* An answer that cannot be printed as correct may still have moved money: it is
             * reversed rather than trusted, and trying again needs a supervisor. */
            EVT_LOGE(MOD, "2102 answer rejected: %s (field %s)", evt_err_name(why),
                     reply.diag.field);
            s->rec.answer_unusable = true;
        }
    } else if (journalled && reply.request_sent && err != EVT_ERR_PLATFORM_REJECTED) {
        s->rec.answer_unusable = !transport_fault(err, reply.http_status);
    }
    char platform_msg[EVT_PROTO_MSG_BYTES];
    snprintf(platform_msg, sizeof platform_msg, "%s", reply.resp.err_msg);
    evt_platform_reply_free(&reply);

    if (!journalled) {
        /* Stopped before the request was journalled: it never left the terminal. */
        return step_failed(s, r, "结算失败", err, platform_msg);
    }
    if (err == EVT_OK && why == EVT_OK) {
        record_settlement(&s->rec, &s->setl);
        s->rec.state = EVT_ORDER_SETTLED;
        s->rec.error = EVT_OK;
        why = evt_orders_put(t->journal, s->order->order_id, &s->rec);
        if (why != EVT_OK) {
            /* Settled but not recorded: a re-sent order would settle again, so the settlement
             * is reversed instead of printed. */
            s->rec.state = EVT_ORDER_SETTLING;
            s->rec.answer_unusable = false;
        }
    }
    if (why != EVT_OK && (err == EVT_OK || reply.request_sent) &&
        err != EVT_ERR_PLATFORM_REJECTED) {
        return settle_unknown(s, r, why);
    }
    bool reversed = false;
    if (err != EVT_OK) {
        /* Refused by the platform, or the request never left: no money moved. The record says
         * so before the pending record goes. */
        sale_end(s, r, state_for_call_error(err), err, platform_msg);
        evt_platform_settle_done(t->platform, s->rec.msgid, true, &reversed);
        show_error_and_wait(t, "结算失败", err, platform_msg);
        return err;
    }
    evt_platform_settle_done(t->platform, s->rec.msgid, true, &reversed);
    result_from_record(s->order->order_id, &s->rec, r);
    count_result(t, r->status);
    EVT_LOGI(MOD, "order %s: settled", r->order_id);
    remember_receipt(t, s, s->rec.msgid);
    bool printed = print_last_receipt(t, EVT_RECEIPT_SALE) == EVT_OK;
    t->last->printed = printed;
    evt_ui_show_settled(t->ui, &s->setl, has_account(s->insu), printed);
    bool ok = false;
    cashier_decision(t, 0, &ok);
    return EVT_OK;
}

static evt_err run_sale(sale_state *s, evt_ecr_result *r)
{
    evt_txn *t = s->t;
    char platform_msg[EVT_PROTO_MSG_BYTES];
    evt_err err;
    /* 1. a voucher; ec.query refusals (expired, used) send the customer back to refresh */
    for (;;) {
        scan_outcome got = wait_for_voucher(t, s);
        if (got == SCAN_QUIT) {
            t->quit_requested = true;
            return sale_end(s, r, EVT_ORDER_REFUSED, EVT_ERR_CANCELLED, NULL);
        }
        if (got == SCAN_CANCELLED) {
            return sale_end(s, r, EVT_ORDER_REFUSED, EVT_ERR_CANCELLED, NULL);
        }
        if (got == SCAN_TIMED_OUT) {
            return sale_end(s, r, EVT_ORDER_REFUSED, EVT_ERR_TIMEOUT, "未扫描到医保电子凭证");
        }
        err = platform_step(s, "正在解码电子凭证", EVT_INFNO_EC_QUERY, NULL, build_ec_query,
                            parse_voucher, platform_msg);
        memset(s->qr_text, 0, sizeof s->qr_text);
        if (err == EVT_ERR_PLATFORM_REJECTED) {
            notice_with_platform_text(s, platform_msg);
            continue;
        }
        if (err != EVT_OK) {
            return step_failed(s, r, "电子凭证解码失败", err, NULL);
        }
        break;
    }

    /* 2. who is it: 1101, the same person the voucher was decoded to */
    err = platform_step(s, "正在查询参保信息", EVT_INFNO_PERSON, s->voucher.insu_org, build_person,
                        parse_person, platform_msg);
    if (err == EVT_ERR_PERSON_VOUCHER_MISMATCH) {
        show_error_and_wait(t, "身份核验失败", err, NULL);
        return sale_end(s, r, EVT_ORDER_REFUSED, err, NULL);
    }
    if (err != EVT_OK) {
        return step_failed(s, r, "参保信息查询失败", err, platform_msg);
    }
    err = evt_proto_select_insurance(&s->person, NULL, &s->insu);
    if (err != EVT_OK) {
        char detail[64] = "";
        if (err == EVT_ERR_INSURANCE_SUSPENDED && s->person.insu_count > 0 &&
            s->person.insu[0].paus_insu_date[0] != '\0') {
            snprintf(detail, sizeof detail, "暂停日期 %s", s->person.insu[0].paus_insu_date);
        }
        show_error_and_wait(t, "不能结算", err, detail);
        return sale_end(s, r, EVT_ORDER_REFUSED, err, detail);
    }
    EVT_LOGI(MOD, "order %s: patient insutype %s, family-account display %s", r->order_id,
             s->insu->insutype, s->voucher.via_family_account ? "yes" : "no");

    /* 3. the cashier checks the person in front of them */
    evt_ui_show_identity(t->ui, &s->voucher, &s->person, s->insu);
    err = cashier_confirmed(t, 0);
    if (err != EVT_OK) {
        return sale_end(s, r, EVT_ORDER_REFUSED, err, "收银员未确认身份");
    }

    /* 4. pre-settlement: the split, nothing moves yet */
    err = platform_step(s, "正在预结算", EVT_INFNO_PRESETTLE, s->insu->insuplc_admdvs,
                        build_presettle, parse_presettlement, platform_msg);
    if (err != EVT_OK) {
        return step_failed(s, r, "预结算失败", err, platform_msg);
    }
    evt_ui_show_split(t->ui, &s->pre, has_account(s->insu));
    /* The confirmation that moves money: not in the same instant as the identity's. */
    err = cashier_confirmed(t, EVT_UI_MONEY_CONFIRM_DWELL_MS);
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
        result_from_record(order->order_id, &rec, result);
        EVT_LOGI(MOD, "order %s already %s: stored result returned", order->order_id,
                 evt_order_state_name(rec.state));
        return result->error;
    }
    if (err == EVT_ERR_JOURNAL_CORRUPT) {
        /* The terminal cannot prove this order did not settle: it refuses, and says who can
         * decide. */
        result->blocked = true;
        show_error_and_wait(t, "不能结算", EVT_ERR_ORDER_RECORD_UNREADABLE, order->order_id);
        return result_unrecorded(t, result, EVT_ECR_REFUSED, EVT_ERR_ORDER_RECORD_UNREADABLE, NULL);
    }
    return result_unrecorded(t, result, EVT_ECR_FAILED, err, NULL);
}

static uint32_t day_of(const evt_datetime *d)
{
    return (uint32_t)d->year * 10000u + (uint32_t)d->month * 100u + (uint32_t)d->day;
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
        return result_unrecorded(t, result, EVT_ECR_REFUSED, EVT_ERR_ORDER_INVALID, NULL);
    }
    if (t->cfg->order_max_total > 0 && order->total > t->cfg->order_max_total) {
        return result_unrecorded(t, result, EVT_ECR_REFUSED, EVT_ERR_ORDER_TOO_LARGE, NULL);
    }
    bool start = false;
    evt_err err = order_may_start(t, order, result, &start);
    if (!start) {
        return err;
    }
    evt_datetime now;
    if (t->hal->sys->local_time(t->hal->sys->ctx, &now) != EVT_OK) {
        return result_unrecorded(t, result, EVT_ECR_FAILED, EVT_ERR_INTERNAL, "时钟未设置");
    }
    err = evt_orders_make_room(t->journal, day_of(&now), t->order_keep_days, NULL);
    if (err != EVT_OK) {
        /* Better no sale than a sale the terminal could not remember. */
        show_error_and_wait(t, "不能开始交易", err, NULL);
        return result_unrecorded(t, result, EVT_ECR_REFUSED, err, NULL);
    }
    char total[24];
    evt_money_format(order->total, total, sizeof total);
    EVT_LOGI(MOD, "order %s: %u items, total %s", order->order_id, (unsigned)order->item_count,
             total);

    sale_state *s = evt_calloc(1, sizeof *s);
    if (s == NULL) {
        return result_unrecorded(t, result, EVT_ECR_FAILED, EVT_ERR_NOMEM, NULL);
    }
    s->t = t;
    s->order = order;
    s->begntime = now;
    s->rec.day = day_of(&now);
    s->rec.hms = (uint32_t)now.hour * 10000u + (uint32_t)now.minute * 100u + now.second;
    s->rec.total = order->total;
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

static bool owner_outcome_recorded(void *ctx, const char *order_ref, const char *msgid)
{
    evt_txn *t = ctx;
    evt_order_record rec;
    return evt_orders_get(t->journal, order_ref, &rec) == EVT_OK && strcmp(rec.msgid, msgid) == 0 &&
           !evt_orders_in_doubt(&rec);
}

static evt_err owner_reversed(void *ctx, const char *order_ref, const char *msgid)
{
    evt_txn *t = ctx;
    evt_order_record rec;
    evt_err err = evt_orders_get(t->journal, order_ref, &rec);
    if (err == EVT_ERR_NOT_FOUND || err == EVT_ERR_JOURNAL_CORRUPT) {
        /* Nothing to update (an unreadable record keeps the order blocked anyway). */
        return EVT_OK;
    }
    if (err != EVT_OK) {
        return err;
    }
    if (strcmp(rec.msgid, msgid) != 0 || !evt_orders_in_doubt(&rec)) {
        return EVT_OK; /* the reversal of an earlier attempt */
    }
    rec.state = EVT_ORDER_REVERSED;
    rec.needs_supervisor = rec.answer_unusable;
    err = evt_orders_put(t->journal, order_ref, &rec);
    if (err == EVT_OK) {
        EVT_LOGI(MOD, "order %s: reversed%s", order_ref,
                 rec.needs_supervisor ? ", waits for a supervisor" : "");
    }
    return err;
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

/* An order in doubt at start-up: its 2102 may have left, so a reversal is owed (re-created
 * from the order's record when the platform's own record is gone; owing one too many is
 * harmless) and the order is UNKNOWN until the reversal is acknowledged. */
static evt_err recover_order(evt_txn *t, const char *order_id)
{
    evt_order_record rec;
    evt_err err = evt_orders_get(t->journal, order_id, &rec);
    if (err != EVT_OK || !evt_orders_in_doubt(&rec)) {
        return err == EVT_ERR_JOURNAL_CORRUPT ? EVT_OK : err;
    }
    if (evt_platform_owed(t->platform, rec.msgid) == EVT_PLATFORM_OWED_NONE) {
        evt_platform_settle_ref ref = {
            .psn_no = rec.psn_no, .insuplc_admdvs = rec.insuplc_admdvs, .order_ref = order_id};
        err = evt_platform_owe_reversal(t->platform, EVT_INFNO_SETTLE, rec.msgid, &ref);
        if (err != EVT_OK) {
            return err;
        }
    }
    EVT_LOGW(MOD, "order %s was in doubt at start-up (%s): reversal owed", order_id,
             evt_order_state_name(rec.state));
    rec.state = EVT_ORDER_UNKNOWN;
    rec.error = EVT_ERR_OUTCOME_UNKNOWN;
    return evt_orders_put(t->journal, order_id, &rec);
}

evt_err evt_txn_recover(evt_txn *t)
{
    evt_platform_owner owner = {
        .ctx = t, .outcome_recorded = owner_outcome_recorded, .reversed = owner_reversed};
    evt_platform_set_owner(t->platform, &owner);
    evt_err err = evt_platform_recover(t->platform);
    if (err != EVT_OK) {
        return err;
    }
    recover_walk *w = &(recover_walk){.t = t};
    /* Bounded: each handled order leaves the set the walk collects (UNKNOWN, reversal owed). */
    do {
        w->count = 0;
        err = evt_orders_iterate(t->journal, recover_visit, w, NULL);
        for (unsigned i = 0; err == EVT_OK && i < w->count; i++) {
            err = recover_order(t, w->ids[i]);
        }
    } while (err == EVT_OK && w->count == TXN_RECOVER_BATCH);
    return err;
}

/* ---- lookups, supervisor release ----------------------------------------------------------- */

evt_err evt_txn_lookup_order(evt_txn *t, const char *order_id, evt_ecr_result *out)
{
    evt_order_record rec;
    evt_err err = evt_orders_get(t->journal, order_id, &rec);
    if (err == EVT_ERR_JOURNAL_CORRUPT) {
        memset(out, 0, sizeof *out);
        snprintf(out->order_id, sizeof out->order_id, "%s", order_id);
        out->status = EVT_ECR_REFUSED;
        out->error = EVT_ERR_ORDER_RECORD_UNREADABLE;
        out->blocked = true;
        message_set(out, out->error, NULL);
        return EVT_OK;
    }
    if (err == EVT_OK) {
        result_from_record(order_id, &rec, out);
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
    err = evt_orders_put(t->journal, order_id, &rec);
    if (err == EVT_OK) {
        EVT_LOGI(MOD, "order %s released by a supervisor", order_id);
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
