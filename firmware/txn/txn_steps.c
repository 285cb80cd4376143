/* evt_txn: the steps the sale, the refund and the reprints share. See txn_internal.h. */
#include <stdio.h>
#include <string.h>

#include "evt/arena.h"
#include "evt/auth.h"
#include "evt/json.h"
#include "evt/log.h"
#include "evt/mask.h"
#include "evt/proto.h"
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
    void (*before)(void *ctx, evt_err err) = t->before_error_screen;
    t->before_error_screen = NULL;
    if (before != NULL) {
        before(t->before_error_screen_ctx, err);
    }
    evt_ui_show_error(t->ui, title, err, detail);
    bool ok = false;
    evt_txn_cashier_decision(t, 0, &ok);
}

void evt_txn_insurance_refusal(const evt_insurance *insu, char *out, size_t cap)
{
    out[0] = '\0';
    if (insu == NULL) {
        return;
    }
    const char *type = evt_proto_insutype_name(insu->insutype);
    const char *status = evt_proto_insu_status_name(insu->psn_insu_stas);
    char type_code[16], status_code[24];
    if (type == NULL) {
        snprintf(type_code, sizeof type_code, "险种 %s", insu->insutype);
        type = type_code;
    }
    if (status == NULL) {
        snprintf(status_code, sizeof status_code, "参保状态 %s", insu->psn_insu_stas);
        status = status_code;
    }
    if (insu->paus_insu_date[0] != '\0') {
        snprintf(out, cap, "%s %s（%s）", type, status, insu->paus_insu_date);
    } else {
        snprintf(out, cap, "%s %s", type, status);
    }
}

evt_err evt_txn_refuse_off_shift(evt_txn *t, evt_ecr_result *result)
{
    if (evt_platform_operator(t->platform) != NULL) {
        return EVT_OK;
    }
    return evt_txn_result_unrecorded(t, result, EVT_ECR_REFUSED, EVT_ERR_NOT_SIGNED_IN,
                                     "请操作员先登录签到");
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
                             const evt_txn_pin_ask *ask, bool *quit)
{
    *quit = false;
    char pin[EVT_AUTH_PIN_MAX + 1];
    const char *title = ask->title, *line = ask->line, *label = ask->label, *notice = ask->notice;
    evt_err err = evt_ui_read_pin(t->ui, title, line, label, notice, t->decision_timeout_ms, pin,
                                  sizeof pin, quit);
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

evt_err evt_txn_operator_approves(evt_txn *t, const evt_config_operator *op,
                                  const evt_txn_pin_ask *ask, bool *quit)
{
    char role[EVT_JOURNAL_KEY_MAX];
    snprintf(role, sizeof role, "op/%s", op->id);
    return evt_txn_pin_approves(t, role, &op->pin, ask, quit);
}

/* The supervisors the approval lists: operators of role supervisor, in provisioning order. */
typedef struct supervisor_list {
    char names[EVT_CONFIG_MAX_OPERATORS][sizeof(((evt_config_operator *)0)->name)];
    const char *options[EVT_CONFIG_MAX_OPERATORS];
    uint8_t index[EVT_CONFIG_MAX_OPERATORS]; /* for evt_config_operator_get */
    unsigned count;
} supervisor_list;

static void supervisors_of(const evt_config *c, supervisor_list *l)
{
    evt_config_operator op;
    for (unsigned i = 0; i < c->operator_count; i++) {
        /* The one role check: a cashier is never offered, so their PIN is never asked for. */
        if (evt_config_operator_get(c, i, &op) == EVT_OK && op.role == EVT_OPERATOR_SUPERVISOR) {
            snprintf(l->names[l->count], sizeof l->names[0], "%s", op.name);
            l->options[l->count] = l->names[l->count];
            l->index[l->count++] = (uint8_t)i;
        }
    }
    memset(&op, 0, sizeof op);
}

/* Which supervisor (the list, skipped for one), then their PIN. */
static evt_err supervisor_operator_approves(evt_txn *t, const char *title, const char *line,
                                            const char *notice, bool *quit)
{
    supervisor_list *l = evt_calloc(1, sizeof *l); /* only while the supervisor is chosen */
    evt_config_operator op;
    memset(&op, 0, sizeof op);
    unsigned choice = 1;
    evt_err err = l == NULL ? EVT_ERR_NOMEM : EVT_OK;
    if (l != NULL) {
        supervisors_of(t->cfg, l);
        err = l->count == 0 ? EVT_ERR_CONFIG_INVALID : EVT_OK; /* the text changed under us */
    }
    if (err == EVT_OK && l->count > 1) {
        err = evt_ui_choose(t->ui, "选择授权主管", l->options, l->count, t->decision_timeout_ms,
                            &choice, quit);
    }
    if (err == EVT_OK) {
        err = evt_config_operator_get(t->cfg, l->index[choice - 1], &op);
    }
    evt_free(l);
    if (err == EVT_ERR_NOMEM || err == EVT_ERR_CONFIG_INVALID) {
        evt_txn_show_error_and_wait(t, title, err, NULL);
    }
    if (err == EVT_OK) {
        /* Whose PIN is asked for, above the caller's notice. */
        char who[EVT_UI_LINE_BYTES];
        snprintf(who, sizeof who, "主管：%s%s%s", op.name, notice != NULL ? "  " : "",
                 notice != NULL ? notice : "");
        who[evt_json_utf8_prefix(who, strlen(who), sizeof who - 1)] = '\0';
        evt_txn_pin_ask ask = {.title = title, .line = line, .label = "主管密码", .notice = who};
        err = evt_txn_operator_approves(t, &op, &ask, quit);
    }
    if (err == EVT_OK) {
        snprintf(t->approver, sizeof t->approver, "%s", op.id);
        EVT_LOGI(MOD, "supervisor %s approved", op.id);
    }
    memset(&op, 0, sizeof op);
    t->quit_requested = t->quit_requested || *quit;
    return err;
}

evt_err evt_txn_supervisor_approves(evt_txn *t, const char *title, const char *line,
                                    const char *notice, bool *quit)
{
    *quit = false;
    t->approver[0] = '\0';
    if (t->cfg->supervisor_count > 0) {
        return supervisor_operator_approves(t, title, line, notice, quit);
    }
    if (!t->cfg->supervisor_pin.set) {
        evt_txn_show_error_and_wait(t, title, EVT_ERR_CONFIG_MISSING,
                                    "未配置主管密码，请联系技术员");
        return EVT_ERR_CONFIG_MISSING;
    }
    evt_txn_pin_ask ask = {.title = title, .line = line, .label = "主管密码", .notice = notice};
    return evt_txn_pin_approves(t, "supervisor", &t->cfg->supervisor_pin, &ask, quit);
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
    t->scan_seconds_left = (t->scan_timeout_ms + 999u) / 1000u;
    prompt(arg, notice);
    for (;;) {
        uint64_t now = t->hal->sys->monotonic_ms(t->hal->sys->ctx);
        if (now - start >= t->scan_timeout_ms) {
            return EVT_TXN_SCAN_TIMED_OUT;
        }
        /* The prompt counts down in steps of ten seconds: the cashier sees the order will not
         * wait for ever, without a redraw every second. */
        uint32_t left = (uint32_t)((t->scan_timeout_ms - (now - start) + 999u) / 1000u);
        if ((left + 9u) / 10u != (t->scan_seconds_left + 9u) / 10u) {
            t->scan_seconds_left = left;
            prompt(arg, notice);
        }
        /* The POS is answered while the patient opens the code (an order now is "busy"). */
        evt_ui_background(t->ui);
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

/* ---- the patient: scan, ec.query, 1101, identity ------------------------------------------ */

static void voucher_prompt(void *arg, const char *notice)
{
    evt_txn_patient *s = arg;
    evt_ui_show_scan_prompt(s->t->ui, s->order, notice, s->t->scan_seconds_left);
    if (!s->connection_prepared) {
        /* While the patient opens the code on the phone: the connection and its handshake
         * leave the critical path (docs/performance.md). The prompt is already drawn, a code
         * scanned meanwhile waits in the scanner, and a failure here only means the first
         * call connects as before. */
        s->connection_prepared = true;
        evt_err err = evt_platform_prepare(s->t->platform);
        if (err != EVT_OK) {
            EVT_LOGW(MOD, "connection not prepared ahead (%s): the first call connects",
                     evt_err_name(err));
        }
    }
}

/* A code that passes local classification and was not scanned before in this sale. */
static evt_err voucher_accept(void *arg, const uint8_t *code, size_t len)
{
    evt_txn_patient *s = arg;
    evt_voucher_class cls;
    evt_voucher_classify(code, len, &cls);
    evt_err refusal = cls.err;
    if (refusal == EVT_OK) {
        refusal = evt_voucher_guard_accept(&s->t->guard, code, cls.code_len);
    }
    if (refusal == EVT_OK) {
        memcpy(s->qr_text, code, cls.code_len);
        s->qr_text[cls.code_len] = '\0';
    }
    return refusal;
}

evt_err evt_txn_platform_step(evt_txn *t, const char *progress, const char *infno,
                              const char *insuplc, evt_platform_build_fn build,
                              evt_txn_parse_fn parse, void *arg, char msg[EVT_PROTO_MSG_BYTES])
{
    if (progress != NULL) {
        evt_ui_show_progress(t->ui, progress, NULL);
    }
    evt_platform_reply reply;
    evt_err err = evt_platform_call(t->platform, infno, insuplc, build, arg, NULL, &reply);
    if (err == EVT_OK) {
        err = parse(arg, &reply.resp, &reply.diag);
        if (err != EVT_OK) {
            EVT_LOGE(MOD, "%s answer rejected: %s (field %s)", infno, evt_err_name(err),
                     reply.diag.field);
        }
    }
    snprintf(msg, EVT_PROTO_MSG_BYTES, "%s", reply.resp.err_msg);
    evt_platform_reply_free(&reply);
    return err;
}

static evt_err parse_voucher(void *arg, const evt_proto_response *resp, evt_json_diag *diag)
{
    evt_txn_patient *s = arg;
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
static evt_err parse_person(void *arg, const evt_proto_response *resp, evt_json_diag *diag)
{
    evt_txn_patient *s = arg;
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

static evt_err build_ec_query(void *arg, const evt_proto_identity *id,
                              const evt_proto_envelope *env, evt_json_writer *w,
                              evt_json_diag *diag)
{
    const evt_txn_patient *s = arg;
    return evt_proto_write_ec_query(id, env, s->qr_text, w, diag);
}

static evt_err build_person(void *arg, const evt_proto_identity *id, const evt_proto_envelope *env,
                            evt_json_writer *w, evt_json_diag *diag)
{
    const evt_txn_patient *s = arg;
    return evt_proto_write_person_query(id, env, &s->voucher, w, diag);
}

/* "凭证无效：<platform text>", cut on a UTF-8 character boundary to fit the screen line. */
static void notice_with_platform_text(evt_txn_patient *s, const char *platform_text)
{
    static const char prefix[] = "凭证无效：";
    size_t room = sizeof s->scan_notice - sizeof prefix;
    size_t keep = evt_json_utf8_prefix(platform_text, strlen(platform_text), room);
    memcpy(s->scan_notice, prefix, sizeof prefix - 1);
    memcpy(s->scan_notice + sizeof prefix - 1, platform_text, keep);
    s->scan_notice[sizeof prefix - 1 + keep] = '\0';
}

bool evt_txn_has_account(const evt_insurance *insu)
{
    return insu->balc_present;
}

/* The step failed before money could move: the cashier reads why (title, err, detail). */
static evt_err identify_failed(evt_txn_patient *s, const char *title, evt_err err)
{
    s->fail_title = title;
    return err;
}

void evt_txn_tell_failure(const evt_txn_patient *p, evt_err err, const char *detail)
{
    if (p->fail_title != NULL) {
        evt_txn_show_error_and_wait(p->t, p->fail_title, err,
                                    detail != NULL && detail[0] ? detail : NULL);
    }
}

void evt_txn_publish(evt_txn *t, const evt_ecr_result *result)
{
    if (t->on_result != NULL) {
        t->on_result(t->on_result_ctx, result);
    }
}

evt_err evt_txn_identify(evt_txn_patient *s, evt_order_state *stop,
                         char detail[EVT_PROTO_MSG_BYTES])
{
    evt_txn *t = s->t;
    evt_err err;
    *stop = EVT_ORDER_REFUSED;
    detail[0] = '\0';
    s->fail_title = NULL;
    /* 1. a voucher; ec.query refusals (expired, used) send the customer back to refresh */
    for (;;) {
        /* Refusals are shown under the prompt; the flow stays open so the customer can show
         * the right code. */
        evt_txn_scan_outcome got =
            evt_txn_wait_scan(t, voucher_prompt, voucher_accept, s, s->scan_notice);
        if (got == EVT_TXN_SCAN_QUIT || got == EVT_TXN_SCAN_CANCELLED) {
            return EVT_ERR_CANCELLED;
        }
        if (got == EVT_TXN_SCAN_TIMED_OUT) {
            /* The cashier may have been away: the screen says the order ended and why. */
            snprintf(detail, EVT_PROTO_MSG_BYTES, "未扫描到医保电子凭证，本单已取消");
            return identify_failed(s, "等待扫码超时", EVT_ERR_TIMEOUT);
        }
        err = evt_txn_platform_step(t, "正在解码电子凭证", EVT_INFNO_EC_QUERY, NULL, build_ec_query,
                                    parse_voucher, s, detail);
        memset(s->qr_text, 0, sizeof s->qr_text);
        if (err == EVT_ERR_PLATFORM_REJECTED) {
            notice_with_platform_text(s, detail);
            continue;
        }
        if (err != EVT_OK) {
            *stop = evt_txn_state_for_call_error(err);
            detail[0] = '\0';
            /* Only the platform's answer is about the code; a network or TLS failure of the
             * flow's first call is the connection's, and the patient's code is not to blame. */
            return identify_failed(
                s, evt_err_is_connection(err) ? "医保平台通信失败" : "电子凭证解码失败", err);
        }
        break;
    }

    /* 2. who is it: 1101, the same person the voucher was decoded to */
    err = evt_txn_platform_step(t, "正在查询参保信息", EVT_INFNO_PERSON, s->voucher.insu_org,
                                build_person, parse_person, s, detail);
    if (err == EVT_ERR_PERSON_VOUCHER_MISMATCH) {
        detail[0] = '\0';
        return identify_failed(s, "身份核验失败", err);
    }
    if (err != EVT_OK) {
        *stop = evt_txn_state_for_call_error(err);
        return identify_failed(s, "参保信息查询失败", err);
    }
    detail[0] = '\0';
    err = evt_proto_select_insurance(&s->person, NULL, &s->insu);
    if (err != EVT_OK) {
        if (err == EVT_ERR_INSURANCE_SUSPENDED) {
            evt_txn_insurance_refusal(s->insu, detail, EVT_PROTO_MSG_BYTES);
        }
        return identify_failed(s, "不能结算", err);
    }
    EVT_LOGI(MOD, "order %s: patient insutype %s, family-account display %s", s->order->order_id,
             s->insu->insutype, s->voucher.via_family_account ? "yes" : "no");

    /* 3. the cashier checks the person in front of them */
    evt_ui_show_identity(t->ui, &s->voucher, &s->person, s->insu);
    err = evt_txn_cashier_confirmed(t, 0);
    if (err != EVT_OK) {
        snprintf(detail, EVT_PROTO_MSG_BYTES, "收银员未确认身份");
    }
    return err;
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

void evt_txn_record_split(evt_order_record *rec, const evt_settlement *setl)
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

/* What the receipt shows beyond the record, masked, kept for reprints. */
static void receipt_record(const evt_txn_money_call *c, const evt_txn_patient *p,
                           const evt_settlement *setl, evt_orders_receipt *rc)
{
    memset(rc, 0, sizeof *rc);
    rc->book = c->book;
    snprintf(rc->order_id, sizeof rc->order_id, "%s", c->order_id);
    snprintf(rc->mdtrt_id, sizeof rc->mdtrt_id, "%s", setl->mdtrt_id);
    snprintf(rc->setl_time, sizeof rc->setl_time, "%s", setl->setl_time);
    snprintf(rc->insutype, sizeof rc->insutype, "%s", p->insu->insutype);
    evt_txn_mask_into(p->person.psn_name, false, rc->patient);
    evt_txn_mask_into(p->person.certno, true, rc->patient_id);
    rc->via_family_account = p->voucher.via_family_account;
    if (rc->via_family_account) {
        evt_txn_mask_into(p->voucher.holder_name, false, rc->holder);
    }
    rc->total = setl->medfee_sumamt;
    rc->fulamt_ownpay_amt = setl->fulamt_ownpay_amt;
    rc->overlmt_selfpay = setl->overlmt_selfpay;
    rc->preselfpay_amt = setl->preselfpay_amt;
}

evt_txn_money_outcome evt_txn_settle(evt_txn_money_call *c, const evt_txn_patient *p,
                                     const evt_settlement *setl, const evt_order *items,
                                     evt_ecr_result *r)
{
    evt_txn *t = c->t;
    evt_txn_money_outcome out = evt_txn_money(c);
    if (out == EVT_TXN_MONEY_NOT_SENT) {
        return out;
    }
    evt_txn_result_from_record(c->order_id, c->rec, r);
    evt_txn_count_result(t, r->status);
    EVT_LOGI(MOD, "order %s: %s (%s)", c->order_id, evt_order_state_name(c->rec->state),
             evt_err_name(c->why));
    evt_txn_publish(t, r);
    if (out == EVT_TXN_MONEY_REFUSED) {
        evt_txn_show_error_and_wait(t, "结算失败", c->why, c->platform_msg);
    } else if (out == EVT_TXN_MONEY_UNKNOWN && c->reversed && c->rec->needs_supervisor) {
        /* Trying again would settle and reverse again: a person decides (hole of a loop). */
        evt_txn_show_error_and_wait(t, "结算未完成", c->why,
                                    "已冲正，患者未被扣款；平台应答异常，请主管核实");
    } else if (out == EVT_TXN_MONEY_UNKNOWN && c->reversed) {
        evt_txn_show_error_and_wait(t, "结算未完成", c->why, "已冲正，患者未被扣款，可重新结算");
    } else if (out == EVT_TXN_MONEY_UNKNOWN) {
        evt_txn_show_error_and_wait(t, "结算结果未知", EVT_ERR_OUTCOME_UNKNOWN,
                                    evt_err_cashier_text(c->why));
    } else {
        evt_orders_receipt rc;
        receipt_record(c, p, setl, &rc);
        /* Without it only a reprint is lost (logged by evt_orders): the settlement stands. */
        evt_orders_receipt_put(t->journal, c->rec->msgid, &rc);
        if (items != NULL) {
            snprintf(t->items_msgid, sizeof t->items_msgid, "%s", c->rec->msgid);
        }
        evt_err printed = evt_txn_print_receipt(t, c->rec->msgid, c->rec, &rc, NULL, false, items);
        evt_ui_show_settled(t->ui, setl, evt_txn_has_account(p->insu), printed);
        bool ok = false;
        evt_txn_cashier_decision(t, 0, &ok);
    }
    return out;
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

void evt_txn_record_begin(evt_order_record *rec, const evt_datetime *now, evt_fen total)
{
    rec->day = evt_txn_day_of(now);
    rec->hms = (uint32_t)now->hour * 10000u + (uint32_t)now->minute * 100u + now->second;
    rec->total = total;
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
    /* The approving supervisor's provisioned name ("" when no longer provisioned: the id). */
    evt_config_operator approver;
    evt_config_operator_find(t->cfg, rec->approver, &approver);
    evt_receipt r = {
        .paper = t->cfg->paper_width_mm == 80 ? EVT_RECEIPT_PAPER_80MM : EVT_RECEIPT_PAPER_58MM,
        .qr_mode = t->cfg->receipt_qr,
        .kind = rc->book == EVT_ORDERS_REFUNDS         ? EVT_RECEIPT_REFUND
                : rc->book == EVT_ORDERS_VISITS        ? EVT_RECEIPT_CLINIC
                : rc->book == EVT_ORDERS_VISIT_REFUNDS ? EVT_RECEIPT_CLINIC_REFUND
                                                       : EVT_RECEIPT_SALE,
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
        .approver_id = rec->approver,
        .approver_name = approver.name,
    };
    /* Streamed to the printer as it is made: no job buffer, whatever the order's length. */
    size_t len = 0;
    evt_err err = evt_receipt_print(&r, t->hal->printer, msgid, &len);
    memset(&approver.pin, 0, sizeof approver.pin);
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
