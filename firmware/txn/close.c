/* evt_txn: the daily close (日结). See txn.h and docs/cashier-ui.md "The daily close". */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "evt/arena.h"
#include "evt/json.h"
#include "evt/log.h"
#include "evt/receipt.h"
#include "txn_internal.h"

#define MOD TXN_MOD
/* Insurance types x clearing institutions of one day the close reconciles; a counter serves a
 * handful (employee and resident insurance, the city and a few others). */
#define CLOSE_GROUPS    8
#define CLOSE_OPERATORS EVT_ECR_REPORT_OPERATORS
/* Clearing types (clr_type) the terminal settles under: each is reconciled apart. */
#define CLOSE_CLR_PHARMACY "41" /* pharmacy sale (2102) */
#define CLOSE_CLR_CLINIC   "11" /* general or chronic outpatient visit (2207) */
/* Lines of the printed batch report (each CLOSE_TEXT bytes). */
#define CLOSE_LINES 64
#define CLOSE_TEXT  72

/* Settlements of one insurance type and clearing institution standing at the end of the day,
 * and the platform's verdict on them. */
typedef struct close_group {
    bool clinic; /* clearing type CLOSE_CLR_CLINIC, else CLOSE_CLR_PHARMACY */
    char insutype[7];
    char optins[7]; /* the insured city: the first four digits of the region + "00" */
    uint32_t count;
    evt_fen total, fund, account;
    evt_err err; /* the 3201's: EVT_OK answered (balanced or not) */
    bool balanced;
    char platform[EVT_PROTO_MSG_BYTES]; /* stmt_rslt_dscr: the platform's figures */
} close_group;

typedef evt_ecr_report_operator close_operator;

typedef struct close_state {
    evt_txn *t;
    uint32_t day;
    char date[16]; /* yyyy-MM-dd */
    close_group g[CLOSE_GROUPS];
    unsigned groups;
    uint32_t ungrouped; /* settled sales whose insurance type is not recorded, or no room */
    close_operator ops[CLOSE_OPERATORS];
    char names[CLOSE_OPERATORS][TXN_OPERATOR_NAME_BYTES]; /* the report's operator labels */
    unsigned op_count;
    uint32_t sales, refunds, reversals, unreadable;
    evt_fen sold, refunded;
    evt_proto_recon_diff diffs[EVT_PROTO_RECON_DIFF_MAX];
    unsigned diff_count;
    uint32_t diff_total;
    uint32_t visits; /* outpatient visits settled */
    evt_fen visited;
    const char *optins; /* the 3202 being written: its clearing institution */
    bool clinic;        /* and its clearing type */
    evt_json_writer *w;
    evt_receipt_line lines[CLOSE_LINES];
    char text[CLOSE_LINES][CLOSE_TEXT];
    bool on_screen[CLOSE_LINES]; /* the lines the cashier sees too */
    unsigned line_count;
    bool screen_mode; /* lines added now are shown too */
    char screen[EVT_UI_MAX_LINES][EVT_UI_LINE_BYTES];
    const char *screen_lines[EVT_UI_MAX_LINES];
} close_state;

static close_operator *operator_of(close_state *s, const char *opter)
{
    for (unsigned i = 0; i < s->op_count; i++) {
        if (strcmp(s->ops[i].id, opter) == 0) {
            return &s->ops[i];
        }
    }
    if (s->op_count == CLOSE_OPERATORS) {
        return &s->ops[CLOSE_OPERATORS - 1]; /* unprovisioned ids beyond the table share one */
    }
    close_operator *op = &s->ops[s->op_count++];
    snprintf(op->id, sizeof op->id, "%s", opter);
    return op;
}

static void optins_of(const evt_order_record *rec, char out[7])
{
    snprintf(out, 7, "%.4s00", rec->insuplc_admdvs);
}

/* A sale (or visit) of the day that settled and was not refunded stands at the platform. */
static bool refunded_in(close_state *s, evt_orders_book refunds, const char *id)
{
    evt_order_record rf;
    return evt_orders_book_get(s->t->journal, refunds, id, &rf) == EVT_OK &&
           rf.state == EVT_ORDER_SETTLED;
}

static bool refunded(close_state *s, const char *order_id)
{
    return refunded_in(s, EVT_ORDERS_REFUNDS, order_id);
}

/* A settlement of the day standing at the platform, into its group (insurance type, clearing
 * institution, clearing type). */
static const char *clr_type_of(bool clinic)
{
    return clinic ? CLOSE_CLR_CLINIC : CLOSE_CLR_PHARMACY;
}

static void add_to_group(close_state *s, const evt_order_record *rec, bool clinic)
{
    evt_orders_receipt rc;
    char optins[7];
    optins_of(rec, optins);
    if (evt_orders_receipt_get(s->t->journal, rec->msgid, &rc) != EVT_OK || rc.insutype[0] == 0) {
        s->ungrouped++;
        return;
    }
    unsigned i = 0;
    while (i < s->groups && (strcmp(s->g[i].insutype, rc.insutype) != 0 ||
                             strcmp(s->g[i].optins, optins) != 0 || s->g[i].clinic != clinic)) {
        i++;
    }
    if (i == CLOSE_GROUPS) {
        s->ungrouped++;
        return;
    }
    close_group *g = &s->g[i];
    if (i == s->groups) {
        s->groups++;
        g->clinic = clinic;
        snprintf(g->insutype, sizeof g->insutype, "%s", rc.insutype);
        snprintf(g->optins, sizeof g->optins, "%s", optins);
    }
    g->count++;
    g->total += rec->total;
    g->fund += rec->fund;
    g->account += rec->account;
}

/* A record of the day's: a reversal is counted; true when it settled. */
static bool settled_today(close_state *s, const evt_order_record *rec)
{
    if (rec->day != s->day) {
        return false;
    }
    if (rec->state == EVT_ORDER_REVERSED) {
        s->reversals++;
    }
    return rec->state == EVT_ORDER_SETTLED;
}

static evt_err visit_sale(void *arg, const char *order_id, const evt_order_record *rec)
{
    close_state *s = arg;
    if (!settled_today(s, rec)) {
        return EVT_OK;
    }
    s->sales++;
    s->sold += rec->total;
    close_operator *op = operator_of(s, rec->opter);
    op->sales++;
    op->sold += rec->total;
    if (refunded(s, order_id)) {
        return EVT_OK; /* with its cancelling entry it nets to nothing at the platform */
    }
    add_to_group(s, rec, false);
    return EVT_OK;
}

/* An outpatient visit of the day (EVT_ORDERS_VISITS): reconciled under its own clearing type. */
static evt_err visit_visit(void *arg, const char *order_id, const evt_order_record *rec)
{
    close_state *s = arg;
    if (!settled_today(s, rec)) {
        return EVT_OK;
    }
    s->visits++;
    s->visited += rec->total;
    /* The operator's visits too: their refunds (2208) are counted against them in visit_refund. */
    close_operator *op = operator_of(s, rec->opter);
    op->visits++;
    op->visited += rec->total;
    if (refunded_in(s, EVT_ORDERS_VISIT_REFUNDS, order_id)) {
        return EVT_OK; /* cancelled by its 2208: nothing stands at the platform */
    }
    add_to_group(s, rec, true);
    return EVT_OK;
}

static evt_err visit_refund(void *arg, const char *order_id, const evt_order_record *rec)
{
    (void)order_id;
    close_state *s = arg;
    if (rec->day == s->day && rec->state == EVT_ORDER_SETTLED) {
        s->refunds++;
        s->refunded += rec->total;
        close_operator *op = operator_of(s, rec->opter);
        op->refunds++;
        op->refunded += rec->total;
    }
    return EVT_OK;
}

/* ---- the platform ------------------------------------------------------------------------- */

static void period_of(const close_state *s, const char *optins, const char *clr_type,
                      evt_proto_recon *r)
{
    memset(r, 0, sizeof *r);
    r->clr_type = clr_type;
    r->setl_optins = optins;
    r->begndate = s->date;
    r->enddate = s->date;
}

static evt_err build_totals(void *arg, const evt_proto_identity *id, const evt_proto_envelope *env,
                            evt_json_writer *w, evt_json_diag *diag)
{
    return evt_proto_write_recon_totals(id, env, arg, w, diag);
}

/* 3201 for one group: its verdict and the platform's figures into the group. */
static void reconcile_totals(close_state *s, close_group *g)
{
    evt_proto_recon r;
    period_of(s, g->optins, clr_type_of(g->clinic), &r);
    r.insutype = g->insutype;
    r.total = g->total;
    r.fund = g->fund;
    r.account = g->account;
    r.count = g->count;
    evt_platform_reply reply;
    g->err = evt_platform_call(s->t->platform, EVT_INFNO_RECON_TOTALS, NULL, build_totals, &r, NULL,
                               &reply);
    if (g->err == EVT_OK) {
        g->err = evt_proto_parse_recon_totals(&reply.resp, &g->balanced, g->platform, &reply.diag);
    } else if (g->err == EVT_ERR_PLATFORM_REJECTED) {
        snprintf(g->platform, sizeof g->platform, "%s", reply.resp.err_msg);
    }
    EVT_LOGI(MOD, "daily close %s %s/%s/%s: %u settlements, %s", s->date, g->insutype, g->optins,
             clr_type_of(g->clinic), (unsigned)g->count,
             g->err != EVT_OK ? evt_err_name(g->err)
             : g->balanced    ? "balanced"
                              : "not balanced");
    evt_platform_reply_free(&reply);
}

/* 3202's detail: every settlement of the day of that clearing institution and type (sales,
 * refunded ones flagged; or visits); written straight from the journal into the request
 * (twice: counted, then sent). */
static evt_err visit_line(void *arg, const char *order_id, const evt_order_record *rec)
{
    close_state *s = arg;
    char optins[7];
    optins_of(rec, optins);
    if (rec->day != s->day || rec->state != EVT_ORDER_SETTLED || strcmp(optins, s->optins) != 0) {
        return EVT_OK;
    }
    evt_orders_book refunds = s->clinic ? EVT_ORDERS_VISIT_REFUNDS : EVT_ORDERS_REFUNDS;
    return evt_proto_write_recon_line(s->w, rec->setl_id, refunded_in(s, refunds, order_id),
                                      rec->total, rec->fund, rec->account);
}

static evt_err write_lines(void *ctx, evt_json_writer *w)
{
    close_state *s = ctx;
    s->w = w;
    evt_orders_book book = s->clinic ? EVT_ORDERS_VISITS : EVT_ORDERS_SALES;
    return evt_orders_book_iterate(s->t->journal, book, visit_line, s, NULL);
}

typedef struct detail_arg {
    close_state *s;
    evt_proto_recon r;
} detail_arg;

static evt_err build_detail(void *arg, const evt_proto_identity *id, const evt_proto_envelope *env,
                            evt_json_writer *w, evt_json_diag *diag)
{
    detail_arg *d = arg;
    return evt_proto_write_recon_detail(id, env, &d->r, write_lines, d->s, w, diag);
}

/* 3202 for a clearing institution and type: the settlements that differ, added to s->diffs. */
static evt_err reconcile_detail(close_state *s, const char *optins, bool clinic)
{
    detail_arg d = {.s = s};
    period_of(s, optins, clr_type_of(clinic), &d.r);
    s->optins = optins;
    s->clinic = clinic;
    evt_platform_reply reply;
    evt_err err = evt_platform_call(s->t->platform, EVT_INFNO_RECON_DETAIL, NULL, build_detail, &d,
                                    NULL, &reply);
    const evt_proto_recon_diff *diffs = NULL;
    unsigned count = 0;
    uint32_t total = 0;
    if (err == EVT_OK) {
        err = evt_proto_parse_recon_detail(&reply.resp, &diffs, &count, &total, &reply.diag);
    }
    for (unsigned i = 0; err == EVT_OK && i < count && s->diff_count < EVT_PROTO_RECON_DIFF_MAX;
         i++) {
        s->diffs[s->diff_count++] = diffs[i];
    }
    s->diff_total += total;
    EVT_LOGI(MOD, "daily close %s %s detail: %s, %u differing", s->date, optins, evt_err_name(err),
             (unsigned)total);
    evt_platform_reply_free(&reply);
    return err;
}

/* ---- the report --------------------------------------------------------------------------- */

/* A settlement id as the report shows it: enough to find it, not the whole reference. */
static void masked_ref(const char *id, char out[CLOSE_TEXT])
{
    size_t n = strlen(id);
    snprintf(out, CLOSE_TEXT, n > 8 ? "%.4s****%s" : "%s", id, n > 8 ? id + n - 4 : "");
}

static const char *diff_words(const char *rslt)
{
    switch (rslt[0]) {
    case '1':
        return "平台有结算，本机无记录";
    case '2':
        return "本机有结算，平台无记录";
    case '3':
        return "金额不一致";
    case '4':
        return "一方已退费或冲正";
    default:
        return "不一致";
    }
}

/* Appends a report line; value NULL: the text alone; both NULL: a separator. */
static void add(close_state *s, const char *label, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void add(close_state *s, const char *label, const char *fmt, ...)
{
    if (s->line_count == CLOSE_LINES) {
        return;
    }
    evt_receipt_line *l = &s->lines[s->line_count];
    s->on_screen[s->line_count] = s->screen_mode && (label != NULL || fmt != NULL);
    char *v = s->text[s->line_count++];
    l->label = label != NULL ? label : "";
    l->value = NULL;
    if (fmt != NULL) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(v, CLOSE_TEXT, fmt, ap);
        va_end(ap);
        v[evt_json_utf8_prefix(v, strlen(v), CLOSE_TEXT - 1)] = '\0'; /* whole characters */
        l->value = v;
    }
}

static const char *yuan(evt_fen fen, char out[24])
{
    evt_money_format(fen, out, 24);
    return out;
}

static bool all_balanced(const close_state *s)
{
    bool ok = s->ungrouped == 0 && s->unreadable == 0 && s->diff_total == 0;
    for (unsigned i = 0; i < s->groups; i++) {
        ok = ok && s->g[i].err == EVT_OK && s->g[i].balanced;
    }
    return ok;
}

static void build_report(close_state *s)
{
    const evt_config *c = s->t->cfg;
    char a[24], b[24], e[24];
    add(s, "机构", "%s", c->fixmedins_name);
    add(s, "终端号", "%s", c->dev_no);
    add(s, "日期", "%s", s->date);
    add(s, NULL, NULL);
    s->screen_mode = true;
    add(s, "销售", "%u 笔 %s", (unsigned)s->sales, yuan(s->sold, a));
    add(s, "退费", "%u 笔 %s", (unsigned)s->refunds, yuan(s->refunded, a));
    if (s->visits > 0) {
        add(s, "门诊结算", "%u 笔 %s", (unsigned)s->visits, yuan(s->visited, a));
    }
    add(s, "冲正（未扣款）", "%u 笔", (unsigned)s->reversals);
    s->screen_mode = false;
    for (unsigned i = 0; i < s->op_count; i++) {
        const close_operator *op = &s->ops[i];
        evt_txn_operator_name(s->t, op->id, s->names[i]);
        /* Net of the operator's day: sales and visits less the refunds they made. */
        add(s, s->names[i], "销%u 诊%u 退%u %s", (unsigned)op->sales, (unsigned)op->visits,
            (unsigned)op->refunds, yuan(op->sold + op->visited - op->refunded, a));
    }
    add(s, NULL, NULL);
    s->screen_mode = true;
    for (unsigned i = 0; i < s->groups; i++) {
        const close_group *g = &s->g[i];
        add(s, g->clinic ? "门诊 险种/清算机构" : "药店 险种/清算机构", "%s/%s", g->insutype,
            g->optins);
        add(s, "本机", "%u笔 %s 基金%s 个账%s", (unsigned)g->count, yuan(g->total, a),
            yuan(g->fund, b), yuan(g->account, e));
        s->on_screen[s->line_count - 1] = !g->balanced || g->err != EVT_OK;
        add(s, "对账", "%s", g->err != EVT_OK ? "未完成" : g->balanced ? "一致" : "不平");
        if (g->platform[0] != '\0') {
            add(s, "平台：", "-");
            s->lines[s->line_count - 1].value = g->platform; /* the platform's figures, whole */
        }
    }
    if (s->ungrouped > 0) {
        add(s, "险种未记录，未对账", "%u 笔", (unsigned)s->ungrouped);
    }
    if (s->diff_total > 0) {
        add(s, NULL, NULL);
        add(s, "明细对账差异", "%u 笔", (unsigned)s->diff_total);
        for (unsigned i = 0; i < s->diff_count; i++) {
            char ref[CLOSE_TEXT];
            masked_ref(s->diffs[i].setl_id, ref);
            add(s, NULL, "%s %s", ref, diff_words(s->diffs[i].rslt));
            s->lines[s->line_count - 1].label = s->text[s->line_count - 1];
            s->lines[s->line_count - 1].value = NULL;
        }
    }
    add(s, NULL, NULL);
    add(s, all_balanced(s) ? "对账结果：一致，本日已结" : "对账结果：不平，请核查后重新日结", NULL);
}

/* The report's on-screen lines ("label value"), as many as the screen has, then OK. */
static void show_close(close_state *s, const evt_txn_close_summary *sum)
{
    unsigned n = 0;
    for (unsigned i = 0; i < s->line_count && n < EVT_UI_MAX_LINES; i++) {
        if (s->on_screen[i]) {
            const evt_receipt_line *l = &s->lines[i];
            snprintf(s->screen[n], EVT_UI_LINE_BYTES, "%s%s%s", l->label, l->value ? " " : "",
                     l->value ? l->value : "");
            s->screen[n][evt_json_utf8_prefix(s->screen[n], strlen(s->screen[n]),
                                              EVT_UI_LINE_BYTES - 1)] = '\0';
            s->screen_lines[n] = s->screen[n];
            n++;
        }
    }
    evt_ui_show_lines(s->t->ui, sum->balanced ? EVT_UI_SUCCESS : EVT_UI_ERROR,
                      sum->balanced ? "日结完成：对账一致" : "日结：对账不平",
                      sum->printed ? "[确认] 返回  日结对账单已打印"
                                   : "[确认] 返回  对账单打印失败",
                      s->screen_lines, n);
    bool ok = false;
    evt_txn_cashier_decision(s->t, 0, &ok);
}

/* ---- the close ---------------------------------------------------------------------------- */

evt_err evt_txn_daily_close(evt_txn *t, evt_txn_close_summary *summary)
{
    memset(summary, 0, sizeof *summary);
    evt_datetime now;
    if (t->hal->sys->local_time(t->hal->sys->ctx, &now) != EVT_OK) {
        return EVT_ERR_INTERNAL;
    }
    close_state *s = evt_calloc(1, sizeof *s); /* only while the close runs */
    if (s == NULL) {
        return EVT_ERR_NOMEM;
    }
    s->t = t;
    s->day = evt_txn_day_of(&now);
    snprintf(s->date, sizeof s->date, "%04u-%02u-%02u", (unsigned)now.year, (unsigned)now.month,
             (unsigned)now.day);
    evt_ui_show_progress(t->ui, "正在日结", "统计本机今日交易");
    /* Bounded memory: one record at a time, whatever the day's length. */
    evt_err err = evt_orders_iterate(t->journal, visit_sale, s, &s->unreadable);
    if (err == EVT_OK) {
        err = evt_orders_book_iterate(t->journal, EVT_ORDERS_REFUNDS, visit_refund, s, NULL);
    }
    if (err == EVT_OK) { /* a visit's refund (2208) is a refund of the day like a sale's */
        err = evt_orders_book_iterate(t->journal, EVT_ORDERS_VISIT_REFUNDS, visit_refund, s, NULL);
    }
    uint32_t unreadable_visits = 0; /* the iteration sets its count: added to the sales' */
    if (err == EVT_OK) {
        err = evt_orders_book_iterate(t->journal, EVT_ORDERS_VISITS, visit_visit, s,
                                      &unreadable_visits);
        s->unreadable += unreadable_visits;
    }
    if (err == EVT_OK) {
        evt_ui_show_progress(t->ui, "正在日结", "与医保平台对总账");
        for (unsigned i = 0; i < s->groups; i++) {
            reconcile_totals(s, &s->g[i]);
        }
        /* Where the totals differ, 3202 finds the settlements, once per clearing institution
         * and type. */
        for (unsigned i = 0; i < s->groups; i++) {
            const close_group *gi = &s->g[i];
            bool done = false;
            for (unsigned k = 0; k < i; k++) {
                done = done ||
                       (strcmp(s->g[k].optins, gi->optins) == 0 && s->g[k].clinic == gi->clinic);
            }
            bool differs = gi->err != EVT_OK || !gi->balanced;
            for (unsigned k = i + 1; k < s->groups && !differs; k++) {
                differs = strcmp(s->g[k].optins, gi->optins) == 0 && s->g[k].clinic == gi->clinic &&
                          (s->g[k].err != EVT_OK || !s->g[k].balanced);
            }
            if (!done && differs) {
                evt_ui_show_progress(t->ui, "正在日结", "明细对账");
                reconcile_detail(s, gi->optins, gi->clinic);
            }
        }
        evt_platform_disconnect(t->platform);
        build_report(s);
        summary->balanced = all_balanced(s);
        summary->sales = s->sales;
        summary->refunds = s->refunds;
        summary->reversals = s->reversals;
        summary->sold = s->sold;
        summary->visits = s->visits;
        summary->visited = s->visited;
        summary->refunded = s->refunded;
        summary->differences = s->diff_total;
        memcpy(summary->date, s->date, sizeof summary->date);
        memcpy(summary->operators, s->ops, sizeof s->ops);
        summary->operator_count = s->op_count;
        evt_err perr = evt_receipt_print_report(
            t->cfg->paper_width_mm == 80 ? EVT_RECEIPT_PAPER_80MM : EVT_RECEIPT_PAPER_58MM,
            "日结对账单", s->lines, s->line_count, t->hal->printer, "daily-close");
        summary->printed = perr == EVT_OK;
        if (summary->balanced) {
            /* Its records may go once the day is over (retention, docs/journal.md). */
            err = evt_orders_close_day(t->journal, s->day);
        }
        show_close(s, summary);
    }
    EVT_LOGI(MOD, "daily close %s: %s (%u sales, %u visits, %u refunds, %u differences)", s->date,
             err != EVT_OK       ? evt_err_name(err)
             : summary->balanced ? "balanced"
                                 : "not balanced",
             (unsigned)s->sales, (unsigned)s->visits, (unsigned)s->refunds,
             (unsigned)s->diff_total);
    evt_free(s);
    return err;
}
