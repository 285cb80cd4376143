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
/* Scanner buffer: one byte more than the longest voucher so over-long codes are seen. */
#define TXN_SCAN_BYTES           (EVT_VOUCHER_MAX_LEN + 64)
#define TXN_ORDER_RECORD_VERSION 1
#define TXN_ORDER_ID_WIRE_MAX    30

/* Everything learned about the patient during one sale; wiped when the sale ends. */
typedef struct sale_state {
    const evt_order *order;
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
    t->receipt_job = evt_malloc(EVT_RECEIPT_JOB_BYTES);
    t->last = evt_calloc(1, sizeof *t->last);
    return t->receipt_job && t->last ? EVT_OK : EVT_ERR_NOMEM;
}

void evt_txn_deinit(evt_txn *t)
{
    evt_free(t->receipt_job);
    t->receipt_job = NULL;
    if (t->last != NULL) {
        memset(t->last, 0, sizeof *t->last);
        evt_free(t->last);
        t->last = NULL;
    }
}

/* ---- results ------------------------------------------------------------------------------ */

static void result_begin(evt_ecr_result *r, const evt_order *order)
{
    memset(r, 0, sizeof *r);
    snprintf(r->order_id, sizeof r->order_id, "%s", order->order_id);
    r->total = order->total;
}

static evt_err result_end(evt_txn *t, evt_ecr_result *r, evt_ecr_status status, evt_err err,
                          const char *detail)
{
    r->status = status;
    r->error = err;
    if (detail != NULL && detail[0] != '\0') {
        snprintf(r->message, sizeof r->message, "%s：%s", evt_err_cashier_text(err), detail);
    } else {
        snprintf(r->message, sizeof r->message, "%s", evt_err_cashier_text(err));
    }
    /* snprintf may have cut a character in half; the POS must get valid UTF-8. */
    r->message[evt_json_utf8_prefix(r->message, strlen(r->message), sizeof r->message - 1)] = '\0';
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
    EVT_LOGI(MOD, "order %s: %s (%s)", r->order_id, evt_ecr_status_name(status), evt_err_name(err));
    return err;
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

/* ---- journal records: settled orders and day totals --------------------------------------- */

typedef struct order_record {
    uint8_t version;
    evt_ecr_result result;
} order_record;

evt_err evt_txn_lookup_order(evt_txn *t, const char *order_id, evt_ecr_result *out)
{
    char key[EVT_JOURNAL_KEY_MAX + 1];
    snprintf(key, sizeof key, "%s%s", EVT_JOURNAL_PREFIX_ORDER, order_id);
    order_record rec;
    size_t len = 0;
    evt_err err = evt_journal_get(t->journal, key, &rec, sizeof rec, &len);
    if (err != EVT_OK) {
        return err;
    }
    if (len != sizeof rec || rec.version != TXN_ORDER_RECORD_VERSION) {
        return EVT_ERR_JOURNAL_CORRUPT;
    }
    *out = rec.result;
    return EVT_OK;
}

static evt_err save_order(evt_txn *t, const evt_ecr_result *result)
{
    char key[EVT_JOURNAL_KEY_MAX + 1];
    if (strlen(EVT_JOURNAL_PREFIX_ORDER) + strlen(result->order_id) > EVT_JOURNAL_KEY_MAX) {
        return EVT_ERR_ARG;
    }
    snprintf(key, sizeof key, "%s%s", EVT_JOURNAL_PREFIX_ORDER, result->order_id);
    order_record rec;
    memset(&rec, 0, sizeof rec);
    rec.version = TXN_ORDER_RECORD_VERSION;
    rec.result = *result;
    return evt_journal_put(t->journal, key, &rec, sizeof rec);
}

static void day_key(const evt_datetime *d, char *key, size_t cap)
{
    snprintf(key, cap, "%s%04u%02u%02u", EVT_JOURNAL_PREFIX_DAY_TOTALS, (unsigned)d->year,
             (unsigned)d->month, (unsigned)d->day);
}

static evt_err day_totals_add(evt_txn *t, const evt_datetime *when, const evt_settlement *s)
{
    char key[EVT_JOURNAL_KEY_MAX + 1];
    day_key(when, key, sizeof key);
    evt_txn_day_totals totals;
    size_t len = 0;
    if (evt_journal_get(t->journal, key, &totals, sizeof totals, &len) != EVT_OK ||
        len != sizeof totals) {
        memset(&totals, 0, sizeof totals);
    }
    totals.count++;
    totals.total += s->medfee_sumamt;
    totals.fund += s->fund_pay_sumamt;
    totals.account += s->acct_pay;
    totals.mutual_aid += s->acct_mulaid_pay;
    totals.cash += s->psn_cash_pay;
    return evt_journal_put(t->journal, key, &totals, sizeof totals);
}

/* ---- platform request builders ------------------------------------------------------------ */

static evt_err build_ec_query(void *arg, const evt_proto_identity *id,
                              const evt_proto_envelope *env, char *out, size_t cap, size_t *len,
                              evt_json_diag *diag)
{
    const sale_state *s = arg;
    return evt_proto_build_ec_query(id, env, s->qr_text, out, cap, len, diag);
}

static evt_err build_person(void *arg, const evt_proto_identity *id, const evt_proto_envelope *env,
                            char *out, size_t cap, size_t *len, evt_json_diag *diag)
{
    const sale_state *s = arg;
    return evt_proto_build_person_query(id, env, &s->voucher, out, cap, len, diag);
}

static evt_err build_drug(const sale_state *s, bool final, const evt_proto_identity *id,
                          const evt_proto_envelope *env, char *out, size_t cap, size_t *len,
                          evt_json_diag *diag)
{
    evt_proto_sale sale = {
        .order = s->order,
        .person = &s->person,
        .voucher = &s->voucher,
        .insurance = s->insu,
        .begntime = s->begntime,
    };
    return evt_proto_build_drug_settle(id, env, final, &sale, out, cap, len, diag);
}

static evt_err build_presettle(void *arg, const evt_proto_identity *id,
                               const evt_proto_envelope *env, char *out, size_t cap, size_t *len,
                               evt_json_diag *diag)
{
    return build_drug(arg, false, id, env, out, cap, len, diag);
}

static evt_err build_settle(void *arg, const evt_proto_identity *id, const evt_proto_envelope *env,
                            char *out, size_t cap, size_t *len, evt_json_diag *diag)
{
    return build_drug(arg, true, id, env, out, cap, len, diag);
}

/* ---- steps -------------------------------------------------------------------------------- */

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

static evt_ecr_status status_for_call_error(evt_err err)
{
    return err == EVT_ERR_PLATFORM_REJECTED ? EVT_ECR_REFUSED : EVT_ECR_FAILED;
}

static bool has_account(const evt_insurance *insu)
{
    return insu->balc_present;
}

/* Keeps what the receipt shows, masked, for a reprint. */
static void remember_receipt(evt_txn *t, const sale_state *s, const char *msgid)
{
    evt_txn_last_receipt *l = t->last;
    memset(l, 0, sizeof *l);
    snprintf(l->msgid, sizeof l->msgid, "%s", msgid);
    l->order = *s->order;
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
        .order = &l->order,
        .settlement = &l->setl,
        .patient_name = l->name_masked,
        .patient_id_no = l->id_masked,
        .insutype = l->insutype,
        .insured_region = l->insured_region,
        .via_family_account = l->via_family_account,
        .holder_name = l->holder_masked,
    };
    size_t len = 0;
    evt_err err = evt_receipt_build(&r, t->receipt_job, EVT_RECEIPT_JOB_BYTES, &len);
    const evt_hal_printer *pr = t->hal->printer;
    if (err == EVT_OK) {
        err = pr->begin(pr->ctx, l->msgid);
    }
    if (err == EVT_OK) {
        err = pr->write(pr->ctx, t->receipt_job, len);
        evt_err end_err = pr->end(pr->ctx);
        err = err == EVT_OK ? end_err : err;
    }
    if (err != EVT_OK) {
        t->counters.receipts_failed++;
        EVT_LOGE(MOD, "receipt for msgid %s not printed: %s", l->msgid, evt_err_name(err));
        return err;
    }
    EVT_LOGI(MOD, "%sreceipt for msgid %s printed (%zu bytes)",
             kind == EVT_RECEIPT_REPRINT ? "reprinted " : "", l->msgid, len);
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

/* The money step: 2102, journalled first; every way it can end is decided here. */
static evt_err settle(evt_txn *t, sale_state *s, evt_ecr_result *r)
{
    if (evt_platform_order_has_reversal(t->platform, s->order->order_id)) {
        return result_end(t, r, EVT_ECR_REFUSED, EVT_ERR_REVERSAL_PENDING, NULL);
    }
    evt_ui_show_progress(t->ui, "正在结算", "请勿离开，结算进行中…");
    evt_platform_settle_ref ref = {
        .psn_no = s->person.psn_no,
        .insuplc_admdvs = s->insu->insuplc_admdvs,
        .order_id = s->order->order_id,
    };
    evt_platform_reply reply;
    evt_err err = evt_platform_call(t->platform, EVT_INFNO_SETTLE, s->insu->insuplc_admdvs,
                                    build_settle, s, &ref, &reply);
    snprintf(r->msgid, sizeof r->msgid, "%s", reply.msgid);
    bool outcome_known;
    evt_err parse_err = EVT_OK;
    if (err == EVT_OK) {
        parse_err = evt_proto_parse_settlement(&reply.resp, EVT_PROTO_SETTLE, s->order->total,
                                               s->person.psn_no, &s->setl, &reply.diag);
        /* An answer we cannot print as correct (amounts not adding up, missing setl_id) may
         * still have moved money: it is reversed rather than trusted. */
        outcome_known = parse_err == EVT_OK;
        if (parse_err != EVT_OK) {
            EVT_LOGE(MOD, "2102 answer rejected: %s (field %s)", evt_err_name(parse_err),
                     reply.diag.field);
        }
    } else if (err == EVT_ERR_PLATFORM_REJECTED || !reply.request_sent) {
        outcome_known = true; /* refused, or never left the terminal: no money moved */
    } else {
        outcome_known = false;
    }
    char platform_msg[EVT_PROTO_MSG_BYTES];
    snprintf(platform_msg, sizeof platform_msg, "%s", reply.resp.err_msg);
    evt_platform_reply_free(&reply);

    bool reversed = false;
    evt_err jerr = evt_platform_settle_done(t->platform, r->msgid, outcome_known, &reversed);
    if (jerr != EVT_OK) {
        EVT_LOGE(MOD, "journal after 2102 msgid %s: %s", r->msgid, evt_err_name(jerr));
    }
    if (!outcome_known) {
        evt_err why = parse_err != EVT_OK ? parse_err : err;
        if (reversed) {
            /* The platform confirmed the reversal: whatever happened, no money moved. */
            show_error_and_wait(t, "结算未完成", why, "已冲正，患者未被扣款，可重新结算");
            return result_end(t, r, EVT_ECR_FAILED, why, "已冲正，未扣款");
        }
        show_error_and_wait(t, "结算结果未知", EVT_ERR_OUTCOME_UNKNOWN, evt_err_cashier_text(why));
        return result_end(t, r, EVT_ECR_UNKNOWN, EVT_ERR_OUTCOME_UNKNOWN, NULL);
    }
    if (err != EVT_OK) {
        show_error_and_wait(t, "结算失败", err, platform_msg);
        return result_end(t, r, status_for_call_error(err), err, platform_msg);
    }

    /* Settled. Record first (ECR idempotency, day totals), then paper. */
    snprintf(r->setl_id, sizeof r->setl_id, "%s", s->setl.setl_id);
    r->total = s->setl.medfee_sumamt;
    r->fund = s->setl.fund_pay_sumamt;
    r->account = s->setl.acct_pay;
    r->mutual_aid = s->setl.acct_mulaid_pay;
    r->cash = s->setl.psn_cash_pay;
    r->balance = s->setl.balc;
    r->balance_present = s->setl.balc_present;
    result_end(t, r, EVT_ECR_SETTLED, EVT_OK, NULL);
    r->message[0] = '\0';
    if (save_order(t, r) != EVT_OK || day_totals_add(t, &s->begntime, &s->setl) != EVT_OK) {
        EVT_LOGE(MOD, "order %s settled but not journalled", r->order_id);
    }
    remember_receipt(t, s, r->msgid);
    bool printed = print_last_receipt(t, EVT_RECEIPT_SALE) == EVT_OK;
    t->last->printed = printed;
    evt_ui_show_settled(t->ui, &s->setl, has_account(s->insu), printed);
    bool ok = false;
    cashier_decision(t, 0, &ok);
    return EVT_OK;
}

static evt_err run_sale(evt_txn *t, sale_state *s, evt_ecr_result *r)
{
    evt_err err;
    /* 1. a voucher; ec.query refusals (expired, used) send the customer back to refresh */
    for (;;) {
        scan_outcome got = wait_for_voucher(t, s);
        if (got == SCAN_QUIT) {
            t->quit_requested = true;
            return result_end(t, r, EVT_ECR_REFUSED, EVT_ERR_CANCELLED, NULL);
        }
        if (got == SCAN_CANCELLED) {
            return result_end(t, r, EVT_ECR_REFUSED, EVT_ERR_CANCELLED, NULL);
        }
        if (got == SCAN_TIMED_OUT) {
            return result_end(t, r, EVT_ECR_REFUSED, EVT_ERR_TIMEOUT, "未扫描到医保电子凭证");
        }
        evt_ui_show_progress(t->ui, "正在解码电子凭证", NULL);
        evt_platform_reply reply;
        err = evt_platform_call(t->platform, EVT_INFNO_EC_QUERY, NULL, build_ec_query, s, NULL,
                                &reply);
        memset(s->qr_text, 0, sizeof s->qr_text);
        if (err == EVT_OK) {
            err = evt_proto_parse_ec_query(&reply.resp, &s->voucher, &reply.diag);
        }
        if (err == EVT_ERR_PLATFORM_REJECTED) {
            notice_with_platform_text(s, reply.resp.err_msg);
            evt_platform_reply_free(&reply);
            continue;
        }
        evt_platform_reply_free(&reply);
        if (err != EVT_OK) {
            show_error_and_wait(t, "电子凭证解码失败", err, NULL);
            return result_end(t, r, EVT_ECR_FAILED, err, NULL);
        }
        break;
    }

    /* 2. who is it: 1101 */
    evt_ui_show_progress(t->ui, "正在查询参保信息", NULL);
    evt_platform_reply reply;
    err = evt_platform_call(t->platform, EVT_INFNO_PERSON, s->voucher.insu_org, build_person, s,
                            NULL, &reply);
    if (err == EVT_OK) {
        err = evt_proto_parse_person(&reply.resp, &s->person, &reply.diag);
    }
    char platform_msg[EVT_PROTO_MSG_BYTES];
    snprintf(platform_msg, sizeof platform_msg, "%s", reply.resp.err_msg);
    evt_platform_reply_free(&reply);
    if (err != EVT_OK) {
        show_error_and_wait(t, "参保信息查询失败", err, platform_msg);
        return result_end(t, r, status_for_call_error(err), err, platform_msg);
    }
    err = evt_proto_select_insurance(&s->person, NULL, &s->insu);
    if (err != EVT_OK) {
        char detail[64] = "";
        if (err == EVT_ERR_INSURANCE_SUSPENDED && s->person.insu_count > 0 &&
            s->person.insu[0].paus_insu_date[0] != '\0') {
            snprintf(detail, sizeof detail, "暂停日期 %s", s->person.insu[0].paus_insu_date);
        }
        EVT_LOGI(MOD, "order %s: insurance refused (%s)", r->order_id, evt_err_name(err));
        show_error_and_wait(t, "不能结算", err, detail);
        return result_end(t, r, EVT_ECR_REFUSED, err, detail);
    }
    EVT_LOGI(MOD, "order %s: patient insutype %s, family-account display %s", r->order_id,
             s->insu->insutype, s->voucher.via_family_account ? "yes" : "no");

    /* 3. the cashier checks the person in front of them */
    evt_ui_show_identity(t->ui, &s->voucher, &s->person, s->insu);
    err = cashier_confirmed(t, 0);
    if (err != EVT_OK) {
        return result_end(t, r, EVT_ECR_REFUSED, err, "收银员未确认身份");
    }

    /* 4. pre-settlement: the split, nothing moves yet */
    evt_ui_show_progress(t->ui, "正在预结算", NULL);
    err = evt_platform_call(t->platform, EVT_INFNO_PRESETTLE, s->insu->insuplc_admdvs,
                            build_presettle, s, NULL, &reply);
    if (err == EVT_OK) {
        err = evt_proto_parse_settlement(&reply.resp, EVT_PROTO_PRESETTLE, s->order->total,
                                         s->person.psn_no, &s->pre, &reply.diag);
        if (err != EVT_OK) {
            EVT_LOGE(MOD, "2101 answer rejected: %s (field %s)", evt_err_name(err),
                     reply.diag.field);
        }
    }
    snprintf(platform_msg, sizeof platform_msg, "%s", reply.resp.err_msg);
    evt_platform_reply_free(&reply);
    if (err != EVT_OK) {
        show_error_and_wait(t, "预结算失败", err, platform_msg);
        return result_end(t, r, status_for_call_error(err), err, platform_msg);
    }
    evt_ui_show_split(t->ui, &s->pre, has_account(s->insu));
    /* The confirmation that moves money: not in the same instant as the identity's. */
    err = cashier_confirmed(t, EVT_UI_MONEY_CONFIRM_DWELL_MS);
    if (err != EVT_OK) {
        return result_end(t, r, EVT_ECR_REFUSED, err, "收银员未确认金额");
    }

    /* 5. money */
    return settle(t, s, r);
}

evt_err evt_txn_pharmacy_sale(evt_txn *t, const evt_order *order, evt_ecr_result *result)
{
    result_begin(result, order);
    /* The order id travels as fixmedins_setl_id (30 characters on the wire): refuse a longer
     * one before the customer's code is spent on ec.query. */
    if (order->item_count == 0 || order->total <= 0 || strlen(order->order_id) == 0 ||
        strlen(order->order_id) > TXN_ORDER_ID_WIRE_MAX) {
        return result_end(t, result, EVT_ECR_REFUSED, EVT_ERR_ORDER_INVALID, NULL);
    }
    evt_ecr_result stored;
    if (evt_txn_lookup_order(t, order->order_id, &stored) == EVT_OK) {
        /* The POS asked again (lost reply, retry): same answer, no second settlement. */
        *result = stored;
        EVT_LOGI(MOD, "order %s already settled: stored result returned", order->order_id);
        return EVT_OK;
    }
    EVT_LOGI(MOD, "order %s: %u items, total %lld fen", order->order_id,
             (unsigned)order->item_count, (long long)order->total);

    sale_state *s = evt_calloc(1, sizeof *s);
    if (s == NULL) {
        return result_end(t, result, EVT_ECR_FAILED, EVT_ERR_NOMEM, NULL);
    }
    s->order = order;
    if (t->hal->sys->local_time(t->hal->sys->ctx, &s->begntime) != EVT_OK) {
        evt_free(s);
        return result_end(t, result, EVT_ECR_FAILED, EVT_ERR_INTERNAL, "时钟未设置");
    }
    evt_voucher_guard_reset(&t->guard);
    evt_err err = run_sale(t, s, result);
    evt_voucher_guard_reset(&t->guard);
    evt_platform_disconnect(t->platform);
    /* Personal data lives only for the sale. */
    memset(s, 0, sizeof *s);
    evt_free(s);
    return err;
}
