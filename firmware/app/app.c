/* evt_app: start-up and the main loop. See app.h. */
#include "evt/app.h"

#include <stdio.h>
#include <string.h>

#include "evt/arena.h"
#include "evt/ecr.h"
#include "evt/https.h"
#include "evt/journal.h"
#include "evt/json.h"
#include "evt/log.h"
#include "evt/money.h"
#include "evt/platform.h"
#include "evt/txn.h"
#include "evt/ui.h"

#define MOD "app"
/* Journal index: live keys the RAM index can hold (settled orders dominate). */
#define APP_JOURNAL_MAX_KEYS 512u
/* How often owed reversals are retried while the counter is idle. */
#define APP_REVERSAL_RETRY_MS 15000u
#define APP_IDLE_SLICE_MS     100u

struct evt_app {
    const evt_hal *hal;
    evt_config cfg;
    evt_journal journal;
    void *journal_work;
    evt_platform *platform;
    evt_ui ui;
    evt_ecr ecr;
    bool ecr_open;
    evt_txn txn;
    bool reply_owed; /* the flow running came from the ECR link and its result is not sent */
    bool idle_shown;
    unsigned reversals_shown;
    uint64_t next_reversal_retry;
    /* Why the operator on shift is not signed in at the platform (the last 9001 failed); ""
     * when signed in or nobody is on shift. The idle screen shows it instead of 就绪. */
    char not_ready[EVT_UI_LINE_BYTES];
    uint64_t next_sign_in_retry;
    /* The operator on shift (operator_N provisioning): the platform's envelope points at its id
     * and name; its PIN hash is wiped once checked. */
    evt_config_operator shift;
    /* How the last order or visit ended, for the idle screen ("" before the first). */
    char last_order[EVT_ORDER_ID_BYTES];
    char last_outcome[EVT_UI_LINE_BYTES];
};

static void send_result_to_pos(void *ctx, const evt_ecr_result *result);

/* Journal-backed ECR store: the POS gets the same answer for an order after a reboot. */
static evt_err ecr_store_lookup(void *ctx, const char *order_id, evt_ecr_result *out)
{
    return evt_txn_lookup_order(ctx, order_id, out);
}

static evt_err ecr_store_save(void *ctx, const evt_ecr_result *result)
{
    /* Nothing to write: the transaction engine journals every order's result itself, before
     * the reply goes out. */
    (void)ctx;
    (void)result;
    return EVT_OK;
}

/* A refund the POS asks for: answered by the link itself when its outcome stands or it cannot
 * be made (docs/ecr-link.md "refund"); EVT_ERR_NOT_FOUND lets it start. */
static evt_err ecr_refund_lookup(void *ctx, const char *order_id, evt_ecr_result *out)
{
    return evt_txn_refund_answer(ctx, order_id, out) ? EVT_OK : EVT_ERR_NOT_FOUND;
}

/* While the cashier is busy at the terminal (a sale, the menu, a refund), the POS is answered
 * from every wait of the UI: a new order gets "busy" at once and never starts by itself later
 * (docs/ecr-link.md). */
static void answer_pos_while_busy(void *ctx)
{
    evt_app *app = ctx;
    evt_err err = evt_ecr_serve_busy(&app->ecr, 0);
    if (err != EVT_OK && err != EVT_ERR_TIMEOUT && err != EVT_ERR_NET_TIMEOUT) {
        EVT_LOGW(MOD, "ECR link while busy: %s", evt_err_name(err));
    }
}

static evt_err fail_start(evt_app *app, evt_err err, char *msg, size_t cap, const char *what)
{
    snprintf(msg, cap, "%s: %s", what, evt_err_log_text(err));
    EVT_LOGE(MOD, "start-up failed: %s", msg);
    evt_ui_show_error(&app->ui, "终端启动失败", err, what);
    /* PSA keeps its state in the arena, which the next start initialises afresh. */
    evt_platform_free(app->platform);
    app->platform = NULL;
    evt_https_platform_deinit();
    return err;
}

/* 9001 for the operator on shift. A failure is not fatal (the platform may be unreachable for a
 * while): the idle screen says the terminal is not ready and why, the main loop tries again, and
 * every sale signs in first when it has to. */
static evt_err shift_sign_in(evt_app *app)
{
    evt_ui_show_progress(&app->ui, "正在签到", app->cfg.fixmedins_name);
    evt_err err = evt_platform_sign_in(app->platform);
    if (err != EVT_OK) {
        EVT_LOGW(MOD, "sign-in failed (%s); will retry", evt_err_name(err));
        snprintf(app->not_ready, sizeof app->not_ready, "%s", evt_err_cashier_text(err));
        app->next_sign_in_retry =
            app->hal->sys->monotonic_ms(app->hal->sys->ctx) + APP_REVERSAL_RETRY_MS;
    } else {
        app->not_ready[0] = '\0';
    }
    app->idle_shown = false;
    evt_platform_disconnect(app->platform);
    return err;
}

evt_err evt_app_start(const evt_app_boot *boot, evt_app **out, char *msg, size_t msg_cap)
{
    evt_arena_init(boot->arena, boot->arena_len);
    evt_log_init(boot->hal->sys);
    evt_app *app = evt_calloc(1, sizeof *app);
    if (app == NULL) {
        snprintf(msg, msg_cap, "arena too small for the application");
        return EVT_ERR_NOMEM;
    }
    app->hal = boot->hal;
    evt_ui_init(&app->ui, boot->hal->ui, boot->hal->sys);

    evt_err err = evt_config_parse(boot->config_text, boot->config_len, &app->cfg, msg, msg_cap);
    if (err != EVT_OK) {
        EVT_LOGE(MOD, "provisioning: %s", msg);
        evt_ui_show_error(&app->ui, "终端配置错误", err, msg);
        return err;
    }
    err = evt_https_platform_init(boot->hal->sys);
    if (err != EVT_OK) {
        return fail_start(app, err, msg, msg_cap, "crypto platform");
    }

    const evt_hal_storage *st = boot->hal->storage;
    size_t work_len = EVT_JOURNAL_WORK_SIZE(st->size / st->sector_size, APP_JOURNAL_MAX_KEYS);
    app->journal_work = evt_malloc(work_len);
    if (app->journal_work == NULL) {
        return fail_start(app, EVT_ERR_NOMEM, msg, msg_cap, "journal index");
    }
    uint32_t corrupt = 0;
    err = evt_journal_open(&app->journal, st, app->journal_work, work_len, &corrupt);
    if (err != EVT_OK) {
        return fail_start(app, err, msg, msg_cap, "journal");
    }
    if (corrupt > 0) {
        /* Damaged records are skipped, never fatal: the rest of the journal is intact. */
        EVT_LOGW(MOD, "journal: %u corrupt records skipped", (unsigned)corrupt);
        evt_ui_show_error(&app->ui, "交易日志检查", EVT_ERR_JOURNAL_CORRUPT, NULL);
    }

    err = evt_platform_new(&app->cfg, (const char *)boot->ca_pem, boot->hal, &app->journal,
                           &app->platform);
    if (err != EVT_OK) {
        return fail_start(app, err, msg, msg_cap, "platform client");
    }
    err = evt_txn_init(&app->txn, boot->hal, &app->cfg, app->platform, &app->journal, &app->ui);
    if (err != EVT_OK) {
        return fail_start(app, err, msg, msg_cap, "transaction engine");
    }
    evt_txn_set_result_hook(&app->txn, send_result_to_pos, app);
    /* Before anything else talks to the platform: what was in flight when power went. */
    err = evt_txn_recover(&app->txn);
    if (err != EVT_OK) {
        return fail_start(app, err, msg, msg_cap, "journal recovery");
    }
    if (app->cfg.ecr_port != 0) {
        evt_ecr_config ecfg = {
            .net = boot->hal->net,
            .sys = boot->hal->sys,
            .bind_addr = app->cfg.ecr_bind,
            .port = app->cfg.ecr_port,
            .store = {.ctx = &app->txn,
                      .lookup = ecr_store_lookup,
                      .save = ecr_store_save,
                      .refund_lookup = ecr_refund_lookup},
            .order_max_total = app->cfg.order_max_total,
            .terminal_id = app->cfg.dev_no,
        };
        _Static_assert(sizeof ecfg.key == sizeof app->cfg.ecr_key, "one pairing key size");
        memcpy(ecfg.key, app->cfg.ecr_key, sizeof ecfg.key);
        err = evt_ecr_open(&app->ecr, &ecfg);
        memset(ecfg.key, 0, sizeof ecfg.key);
        if (err != EVT_OK) {
            return fail_start(app, err, msg, msg_cap, "ECR link");
        }
        app->ecr_open = true;
        evt_ui_set_background(&app->ui, answer_pos_while_busy, app);
    }

    /* Legacy provisioning: the one operator signs in now. With operator_N lines nobody is on
     * shift until an operator logs in ([功能] → 操作员登录签到). */
    if (app->cfg.operator_count == 0) {
        shift_sign_in(app);
    }
    /* A visit a power cut left open: finished or undone now (or after its reversal). */
    err = evt_txn_clinic_recover(&app->txn);
    if (err != EVT_OK) {
        EVT_LOGW(MOD, "open visit not resolved yet (%s)", evt_err_name(err));
    }
    evt_platform_disconnect(app->platform);
    evt_arena_stats mem;
    evt_arena_get_stats(&mem);
    /* The idle state's share of the arena: what every sale's TLS session comes on top of. */
    EVT_LOGI(MOD, "terminal %s of %s ready (arena %lu of %lu bytes held at idle)", app->cfg.dev_no,
             app->cfg.fixmedins_code, (unsigned long)mem.in_use, (unsigned long)mem.capacity);
    *out = app;
    msg[0] = '\0';
    return EVT_OK;
}

/* The name of the operator on shift, NULL when nobody is. */
static const char *operator_on_shift(const evt_app *app)
{
    if (evt_platform_operator(app->platform) == NULL) {
        return NULL;
    }
    if (app->cfg.operator_count > 0) {
        return app->shift.name;
    }
    return app->cfg.opter_name[0] ? app->cfg.opter_name : app->cfg.opter;
}

static void show_idle(evt_app *app)
{
    unsigned pending = evt_platform_pending_reversals(app->platform);
    if (app->not_ready[0] != '\0' && evt_platform_signed_in(app->platform)) {
        app->not_ready[0] = '\0'; /* a sale signed in meanwhile */
        app->idle_shown = false;
    }
    if (!app->idle_shown || pending != app->reversals_shown) {
        evt_ui_idle idle = {
            .institution = app->cfg.fixmedins_name,
            .operator_name = operator_on_shift(app),
            .not_ready = app->not_ready[0] ? app->not_ready : NULL,
            .pending_reversals = pending,
            .last_order = app->last_order[0] ? app->last_order : NULL,
            .last_outcome = app->last_outcome,
        };
        evt_ui_show_idle(&app->ui, &idle);
        app->idle_shown = true;
        app->reversals_shown = pending;
    }
}

/* While the operator on shift is not signed in (the start-up's or a login's 9001 failed), the
 * idle counter tries again now and then. */
static void retry_sign_in(evt_app *app)
{
    uint64_t now = app->hal->sys->monotonic_ms(app->hal->sys->ctx);
    if (app->not_ready[0] == '\0' || now < app->next_sign_in_retry) {
        return;
    }
    shift_sign_in(app);
}

static void retry_reversals(evt_app *app)
{
    uint64_t now = app->hal->sys->monotonic_ms(app->hal->sys->ctx);
    if (now < app->next_reversal_retry) {
        return;
    }
    app->next_reversal_retry = now + APP_REVERSAL_RETRY_MS;
    if (evt_platform_pending_reversals(app->platform) == 0) {
        return;
    }
    unsigned left = 0;
    evt_platform_retry_reversals(app->platform, 4, &left);
    evt_platform_disconnect(app->platform);
}

/* The result of an order or visit from the ECR link goes to the POS (or HIS) once: the moment
 * the flow publishes it (evt_txn_set_result_hook: outcome final and recorded, before the
 * cashier's key), or when the flow returns if it never did (a repeated order's stored result). */
static void send_result_to_pos(void *ctx, const evt_ecr_result *result)
{
    evt_app *app = ctx;
    if (!app->reply_owed) {
        return;
    }
    app->reply_owed = false;
    evt_err err = evt_ecr_reply(&app->ecr, result);
    if (err != EVT_OK) {
        EVT_LOGW(MOD, "order %s: result not delivered to the POS (%s)", result->order_id,
                 evt_err_name(err));
    }
}

/* The idle screen's line on how the order ended: whether money moved, and for a cancel or a
 * timeout that the order is over (nothing else says so once the terminal is back at idle). */
static void remember_outcome(evt_app *app, const evt_ecr_result *r)
{
    char total[24], cash[24];
    switch (r->status) {
    case EVT_ECR_SETTLED:
        evt_money_format(r->total, total, sizeof total);
        evt_money_format(r->cash, cash, sizeof cash);
        snprintf(app->last_outcome, sizeof app->last_outcome, "已结算 %s 元，现金 %s 元", total,
                 cash);
        break;
    case EVT_ECR_UNKNOWN:
        snprintf(app->last_outcome, sizeof app->last_outcome, "结果未知，已冲正或待冲正，勿另收款");
        break;
    case EVT_ECR_REFUSED:
    case EVT_ECR_FAILED:
        if (r->blocked) {
            snprintf(app->last_outcome, sizeof app->last_outcome, "未扣款，需主管放行后重办");
        } else if (r->error == EVT_ERR_CANCELLED) {
            snprintf(app->last_outcome, sizeof app->last_outcome, "已取消，未扣款");
        } else {
            snprintf(app->last_outcome, sizeof app->last_outcome, "未扣款：%s",
                     evt_err_cashier_text(r->error));
        }
        break;
    case EVT_ECR_BUSY:
    case EVT_ECR_REFUNDED:
        return; /* answered for another order; a refund's own screens say how it ended */
    }
    snprintf(app->last_order, sizeof app->last_order, "%s", r->order_id);
}

/* A sale or visit has ended: the POS gets the result if the flow did not publish it yet, and
 * the idle screen says how it ended. */
static void flow_ended(evt_app *app, const evt_ecr_result *result)
{
    send_result_to_pos(app, result);
    remember_outcome(app, result);
    app->idle_shown = false;
}

static void serve_order(evt_app *app, const evt_order *order, bool from_ecr)
{
    evt_ecr_result result;
    app->reply_owed = from_ecr;
    evt_txn_pharmacy_sale(&app->txn, order, &result);
    flow_ended(app, &result);
}

/* A refund from the POS (acked by the link): the refund's own steps, its result sent the
 * moment it is final. While it runs the link answers "busy" (an order is open). */
static void serve_refund(evt_app *app, const char *refund_id, bool *quit)
{
    char order_id[EVT_ORDER_ID_BYTES];
    snprintf(order_id, sizeof order_id, "%s", refund_id);
    evt_ecr_result result;
    app->reply_owed = true;
    evt_txn_refund_for_pos(&app->txn, order_id, &result, quit);
    send_result_to_pos(app, &result);
    app->idle_shown = false;
    *quit = *quit || app->txn.quit_requested;
}

#define APP_KEYED_TIMEOUT_MS 120000u
#define APP_KEYED_MAX_QTY    999u

/* Parses a short decimal typed on the keypad; 0 when empty or out of range. */
static uint32_t keyed_value(const char *typed, uint32_t max)
{
    uint32_t v = 0;
    for (const char *p = typed; *p != '\0'; p++) {
        v = v * 10u + (uint32_t)(*p - '0');
        if (v > max) {
            return 0;
        }
    }
    return v;
}

/* Builds an order from the provisioned item list, keyed in by number and quantity, for when
 * the POS is down. Returns false if the cashier gave up (or the board asked to quit). */
static bool keyed_order(evt_app *app, evt_order *o, bool *quit)
{
    memset(o, 0, sizeof *o);
    o->source = EVT_ORDER_FROM_KEYED;
    o->use_personal_account = true;
    const char *notice = NULL;
    char typed[8];
    while (o->item_count < EVT_ORDER_MAX_ITEMS) {
        evt_err err = evt_ui_read_number(&app->ui, &app->cfg, o, "品号（直接确认结束）", notice,
                                         APP_KEYED_TIMEOUT_MS, typed, sizeof typed, quit);
        if (err != EVT_OK) {
            return false;
        }
        if (typed[0] == '\0') {
            if (o->item_count > 0) {
                break;
            }
            notice = "请至少录入一项药品";
            continue;
        }
        uint32_t index = keyed_value(typed, EVT_CONFIG_MAX_ITEMS);
        if (index == 0 || app->cfg.items[index - 1].med_list_codg[0] == '\0') {
            notice = "品号不存在，请重新输入";
            continue;
        }
        const evt_config_item *it = &app->cfg.items[index - 1];
        /* The quantity prompt names the item, and a bad quantity asks for the quantity again:
         * the item chosen stays chosen. */
        char prompt[EVT_UI_LINE_BYTES];
        size_t shown = evt_json_utf8_prefix(it->name, strlen(it->name), sizeof prompt / 2);
        snprintf(prompt, sizeof prompt, "%.*s 数量", (int)shown, it->name);
        uint32_t qty = 0;
        const char *qty_notice = NULL;
        while (qty == 0) {
            err = evt_ui_read_number(&app->ui, &app->cfg, o, prompt, qty_notice,
                                     APP_KEYED_TIMEOUT_MS, typed, sizeof typed, quit);
            if (err != EVT_OK) {
                return false;
            }
            qty = keyed_value(typed, APP_KEYED_MAX_QTY);
            qty_notice = "数量应为 1-999，请重新输入";
        }
        err = evt_order_add_item(o, it->med_list_codg, it->medins_list_codg, it->name, qty,
                                 it->price);
        if (err != EVT_OK) {
            /* Full (text area or total): what is keyed so far is the order. */
            EVT_LOGW(MOD, "keyed item %u not added: %s", (unsigned)index, evt_err_name(err));
            notice = err == EVT_ERR_ORDER_TOO_LARGE ? "订单已满，请直接确认" : "金额超出范围";
            continue;
        }
        notice = NULL;
    }
    /* K + local time + msgid slot: unique per terminal, within the platform's 30 characters. */
    evt_datetime now;
    if (app->hal->sys->local_time(app->hal->sys->ctx, &now) != EVT_OK) {
        return false;
    }
    snprintf(o->order_id, sizeof o->order_id, "K%04u%02u%02u%02u%02u%02u-%u", (unsigned)now.year,
             (unsigned)now.month, (unsigned)now.day, (unsigned)now.hour, (unsigned)now.minute,
             (unsigned)now.second, (unsigned)app->cfg.msgid_slot);
    return true;
}

/* While the cashier works on the terminal itself (a keyed sale, a refund, a reprint), the POS
 * is told the terminal is busy. */
static void ecr_busy(evt_app *app, bool busy)
{
    if (app->ecr_open) {
        evt_ecr_set_external_busy(&app->ecr, busy);
    }
}

static void keyed_sale(evt_app *app, bool *quit)
{
    /* The entry writes into the one order buffer, where the last receipt's items are. */
    evt_txn_forget_last_receipt(&app->txn);
    evt_order *order = evt_txn_order(&app->txn);
    if (keyed_order(app, order, quit)) {
        serve_order(app, order, false);
        *quit = *quit || app->txn.quit_requested;
    }
}

/* An error screen the cashier acknowledges (bounded); a board QUIT stops the terminal. */
static void menu_error(evt_app *app, const char *title, evt_err err, const char *detail, bool *quit)
{
    evt_ui_show_error(&app->ui, title, err, detail);
    bool ok = false;
    if (evt_ui_wait_decision(&app->ui, APP_KEYED_TIMEOUT_MS, &ok) == EVT_ERR_CANCELLED) {
        *quit = true;
    }
}

/* Orders blocked after an unusable settlement answer listed at once (the menu keys 1-9). */
#define APP_RELEASE_LIST_MAX 9u

typedef struct release_list {
    char ids[APP_RELEASE_LIST_MAX][EVT_ORDER_ID_BYTES];
    const char *options[APP_RELEASE_LIST_MAX];
} release_list;

/* [功能] → 主管放行订单: a supervisor, having checked with the platform that an order blocked
 * after an unusable settlement answer moved no money, lets the POS try it again. */
static void supervisor_release(evt_app *app, bool *quit)
{
    release_list *l = evt_calloc(1, sizeof *l); /* only while the menu is open */
    unsigned count = 0;
    evt_err err = l == NULL
                      ? EVT_ERR_NOMEM
                      : evt_txn_blocked_orders(&app->txn, l->ids, APP_RELEASE_LIST_MAX, &count);
    if (err != EVT_OK || count == 0) {
        menu_error(app, "主管放行订单", err != EVT_OK ? err : EVT_ERR_NOT_FOUND,
                   err != EVT_OK ? NULL : "没有等待主管放行的订单", quit);
        evt_free(l);
        return;
    }
    for (unsigned i = 0; i < count; i++) {
        l->options[i] = l->ids[i];
    }
    unsigned choice = 0;
    char line[EVT_UI_LINE_BYTES];
    err = evt_ui_choose(&app->ui, "选择要放行的订单", l->options, count, APP_KEYED_TIMEOUT_MS,
                        &choice, quit);
    if (err == EVT_OK) {
        snprintf(line, sizeof line, "放行订单 %s", l->ids[choice - 1]);
        err = evt_txn_supervisor_approves(&app->txn, "主管放行订单", line,
                                          "核实医保平台未扣款后再放行", quit);
    }
    if (err == EVT_OK) {
        err = evt_txn_release_order(&app->txn, l->ids[choice - 1]);
        if (err != EVT_OK) {
            menu_error(app, "主管放行订单", err, NULL, quit);
        } else {
            evt_ui_show_progress(&app->ui, "订单已放行", "收银系统可重新发起该订单");
        }
    }
    evt_free(l);
}

/* Work that is done in an operator's name needs one on shift. */
static bool on_shift(evt_app *app, const char *title, bool *quit)
{
    if (evt_platform_operator(app->platform) != NULL) {
        return true;
    }
    menu_error(app, title, EVT_ERR_NOT_SIGNED_IN, "请先选择 操作员登录签到", quit);
    return false;
}

/* [功能] → 操作员登录签到: the operator chooses their name, gives their PIN (evt_auth lockout per
 * operator) and is signed in (9001) for the shift; whoever was on shift is signed out first.
 * Legacy provisioning (one opter, no PIN): the sign-in again. */
static void operator_login(evt_app *app, bool *quit)
{
    const evt_config *c = &app->cfg;
    if (c->operator_count == 0) {
        evt_platform_set_operator(app->platform, c->opter, c->opter_name);
    } else {
        /* Read from the provisioning text only while the login runs (arena, given back). */
        evt_config_operator *ops = evt_calloc(c->operator_count, sizeof *ops);
        const char *options[EVT_CONFIG_MAX_OPERATORS];
        for (unsigned i = 0; ops != NULL && i < c->operator_count; i++) {
            evt_config_operator_get(c, i, &ops[i]);
            options[i] = ops[i].name;
        }
        unsigned choice = 0;
        evt_err err = ops == NULL
                          ? EVT_ERR_NOMEM
                          : evt_ui_choose(&app->ui, "操作员登录：选择操作员", options,
                                          c->operator_count, APP_KEYED_TIMEOUT_MS, &choice, quit);
        const evt_config_operator *op = err == EVT_OK ? &ops[choice - 1] : NULL;
        if (op != NULL) {
            /* The operator's own PIN: the screen does not call it a supervisor's. */
            evt_txn_pin_ask ask = {.title = "操作员密码", .line = op->name, .label = "密码"};
            err = evt_txn_operator_approves(&app->txn, op, &ask, quit);
        }
        if (err == EVT_OK) {
            if (evt_platform_operator(app->platform) != NULL) {
                evt_platform_sign_out(app->platform);
            }
            app->shift = *op;
            memset(&app->shift.pin, 0, sizeof app->shift.pin);
            evt_platform_set_operator(app->platform, app->shift.id, app->shift.name);
        }
        if (ops != NULL) {
            memset(ops, 0, c->operator_count * sizeof *ops);
        }
        evt_free(ops);
        if (err != EVT_OK) {
            return;
        }
    }
    if (shift_sign_in(app) != EVT_OK) {
        menu_error(app, "签到失败", EVT_ERR_NOT_SIGNED_IN, app->not_ready, quit);
    }
}

/* [功能] → 操作员签退: 9002; nobody is on shift afterwards, the terminal does not sell. */
static void operator_logout(evt_app *app, bool *quit)
{
    if (!on_shift(app, "操作员签退", quit)) {
        return;
    }
    evt_ui_show_progress(&app->ui, "正在签退", operator_on_shift(app));
    evt_err err = evt_platform_sign_out(app->platform);
    app->not_ready[0] = '\0';
    if (err != EVT_OK) {
        /* The shift ends at the terminal anyway; the platform's sign_no expires by itself. */
        menu_error(app, "签退未送达医保平台", err, "本机已签退", quit);
    }
}

/* [功能] → 日结: the day reconciled with the platform, the batch report printed and sent to the
 * POS (docs/ecr-link.md "batch_report"). */
static void daily_close(evt_app *app, bool *quit)
{
    evt_txn_close_summary sum;
    evt_err err = evt_txn_daily_close(&app->txn, &sum);
    *quit = *quit || app->txn.quit_requested; /* the board's QUIT on the result screen */
    if (err != EVT_OK) {
        menu_error(app, "日结未完成", err, NULL, quit);
        return;
    }
    if (app->ecr_open) {
        evt_ecr_report rep = {
            .date = sum.date,
            .balanced = sum.balanced,
            .sales = sum.sales,
            .visits = sum.visits,
            .refunds = sum.refunds,
            .reversals = sum.reversals,
            .differences = sum.differences,
            .sold = sum.sold,
            .visited = sum.visited,
            .refunded = sum.refunded,
            .operators = sum.operators,
            .operator_count = sum.operator_count,
        };
        err = evt_ecr_send_report(&app->ecr, &rep);
        if (err != EVT_OK) {
            EVT_LOGW(MOD, "batch report not sent to the POS: %s", evt_err_name(err));
        }
    }
}

/* [功能]: what the cashier can do without the POS. */
static void function_menu(evt_app *app, bool *quit)
{
    /* 退费 two ways: from the receipt's QR code, or from today's sales. */
    static const char *const options[] = {
        "手工录入订单",           "补打结算单",     "主管放行订单", "退费：扫描结算单二维码",
        "退费：从今日交易中选择", "操作员登录签到", "操作员签退",   "日结"};
    unsigned choice = 0;
    if (evt_ui_choose(&app->ui, "功能菜单", options, sizeof options / sizeof options[0],
                      APP_KEYED_TIMEOUT_MS, &choice, quit) == EVT_OK) {
        ecr_busy(app, true);
        if (choice == 1) {
            if (on_shift(app, "手工录入订单", quit)) {
                keyed_sale(app, quit);
            }
        } else if (choice == 2) {
            evt_txn_reprint_from_list(&app->txn, quit);
        } else if (choice == 3) {
            supervisor_release(app, quit);
        } else if (choice == 4 || choice == 5) {
            if (on_shift(app, "退费", quit)) {
                if (choice == 4) {
                    evt_txn_refund_by_scan(&app->txn, quit);
                } else {
                    evt_txn_refund_from_list(&app->txn, quit);
                }
            }
        } else if (choice == 6) {
            operator_login(app, quit);
        } else if (choice == 7) {
            operator_logout(app, quit);
        } else if (on_shift(app, "日结", quit)) {
            daily_close(app, quit);
        }
        ecr_busy(app, false);
    }
    app->idle_shown = false;
}

evt_err evt_app_step(evt_app *app, uint32_t timeout_ms, bool *quit)
{
    *quit = false;
    retry_sign_in(app);
    show_idle(app);
    retry_reversals(app);
    /* A connection kept between sales (keep_connection_s) or prepared for an abandoned order
     * is closed once idle too long, before the platform drops it under a sale's first call. */
    evt_platform_idle(app->platform);
    if (app->ecr_open) {
        bool got = false;
        evt_err err = evt_ecr_poll(&app->ecr, timeout_ms / 2, evt_txn_order(&app->txn), &got);
        if (err != EVT_OK && err != EVT_ERR_TIMEOUT) {
            EVT_LOGW(MOD, "ECR link: %s", evt_err_name(err));
        }
        const evt_visit *visit = got ? evt_ecr_visit(&app->ecr) : NULL;
        const char *refund_id = got ? evt_ecr_refund(&app->ecr) : NULL;
        if (refund_id != NULL) {
            serve_refund(app, refund_id, quit);
            return EVT_OK;
        }
        if (visit != NULL) {
            /* An outpatient visit from the HIS: its fee lines come batch by batch. */
            evt_ecr_result result;
            app->reply_owed = true;
            evt_txn_clinic_visit(&app->txn, visit, evt_ecr_visit_fees, &app->ecr, &result);
            flow_ended(app, &result);
            *quit = app->txn.quit_requested;
            return EVT_OK;
        }
        if (got) {
            serve_order(app, evt_txn_order(&app->txn), true);
            *quit = app->txn.quit_requested;
            return EVT_OK;
        }
    }
    evt_key_event ev = {0};
    evt_err err =
        app->hal->ui->read_key(app->hal->ui->ctx, app->ecr_open ? timeout_ms / 2 : timeout_ms, &ev);
    if (err == EVT_OK && ev.key == EVT_KEY_QUIT) {
        *quit = true;
    } else if (err == EVT_OK && ev.key == EVT_KEY_MENU) {
        function_menu(app, quit);
    }
    return EVT_OK;
}

evt_err evt_app_run(evt_app *app)
{
    bool quit = false;
    while (!quit) {
        evt_err err = evt_app_step(app, APP_IDLE_SLICE_MS * 2, &quit);
        if (err != EVT_OK) {
            return err;
        }
    }
    EVT_LOGI(MOD, "stopping");
    return EVT_OK;
}

void evt_app_get_figures(const evt_app *app, evt_app_figures *out)
{
    memset(out, 0, sizeof *out);
    evt_arena_get_stats(&out->arena);
    out->sales_settled = app->txn.counters.settled;
    out->sales_refused = app->txn.counters.refused;
    out->sales_failed = app->txn.counters.failed;
    out->sales_unknown = app->txn.counters.unknown;
    out->reversals_pending = evt_platform_pending_reversals(app->platform);
}

void evt_app_stop(evt_app *app)
{
    if (app == NULL) {
        return;
    }
    if (app->ecr_open) {
        evt_ecr_close(&app->ecr);
    }
    evt_txn_deinit(&app->txn);
    evt_platform_free(app->platform);
    evt_free(app->journal_work);
    evt_free(app);
    evt_https_platform_deinit();
}

evt_err evt_app_order_status(evt_app *app, const char *order_id, evt_ecr_result *result)
{
    return evt_txn_lookup_order(&app->txn, order_id, result);
}

evt_err evt_app_visit(evt_app *app, const evt_visit *visit, evt_visit_next_fn next, void *ctx,
                      evt_ecr_result *result)
{
    evt_err err = evt_txn_clinic_visit(&app->txn, visit, next, ctx, result);
    flow_ended(app, result);
    return err;
}

evt_err evt_app_sale(evt_app *app, const evt_order *order, evt_ecr_result *result)
{
    evt_err err = evt_txn_pharmacy_sale(&app->txn, order, result);
    flow_ended(app, result);
    return err;
}
