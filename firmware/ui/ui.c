/* evt_ui: the cashier's screens. See ui.h. */
#include "evt/ui.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "evt/log.h"
#include "evt/mask.h"
#include "evt/money.h"
#include "evt/proto.h"

#define MOD "ui"
/* Longest wait slice: keeps the loop responsive to QUIT without busy-polling. */
#define UI_KEY_SLICE_MS 200

void evt_ui_init(evt_ui *ui, const evt_hal_ui *hal, const evt_hal_sys *sys)
{
    memset(ui, 0, sizeof *ui);
    ui->hal = hal;
    ui->sys = sys;
}

void evt_ui_set_background(evt_ui *ui, void (*fn)(void *ctx), void *ctx)
{
    ui->background = fn;
    ui->background_ctx = ctx;
}

void evt_ui_background(evt_ui *ui)
{
    if (ui->background != NULL) {
        ui->background(ui->background_ctx);
    }
}

/* One key-wait slice of any wait: the background work first (ui.h), then the keypad. */
static evt_err read_key(evt_ui *ui, uint32_t timeout_ms, evt_key_event *ev)
{
    evt_ui_background(ui);
    return ui->hal->read_key(ui->hal->ctx, timeout_ms, ev);
}

/* True when the key answers a screen drawn at drawn_ms: pressed after it appeared. A key
 * stamped in the same millisecond as the draw cannot have been a reaction to it. QUIT is the
 * board asking to stop, whenever it was pressed. */
static bool pressed_after(const evt_key_event *ev, uint64_t drawn_ms)
{
    if (ev->key == EVT_KEY_QUIT || ev->pressed_ms > drawn_ms) {
        return true;
    }
    static const char *const names[] = {
        [EVT_KEY_OK] = "OK",       [EVT_KEY_CANCEL] = "CANCEL",       [EVT_KEY_MENU] = "MENU",
        [EVT_KEY_DIGIT] = "digit", [EVT_KEY_BACKSPACE] = "BACKSPACE",
    };
    const char *name = (unsigned)ev->key < sizeof names / sizeof names[0] ? names[ev->key] : NULL;
    EVT_LOGD(MOD, "%s pressed %lu ms before the screen appeared: discarded",
             name != NULL ? name : "key", (unsigned long)(drawn_ms - ev->pressed_ms));
    return false;
}

static void screen_begin(evt_ui *ui, evt_ui_tone tone, const char *title, const char *hint)
{
    memset(&ui->current, 0, sizeof ui->current);
    ui->current.tone = tone;
    snprintf(ui->current.title, sizeof ui->current.title, "%s", title);
    snprintf(ui->current.hint, sizeof ui->current.hint, "%s", hint ? hint : "");
}

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static void
screen_line(evt_ui *ui, const char *fmt, ...)
{
    if (ui->current.line_count >= EVT_UI_MAX_LINES) {
        return; /* screens are designed to fit; a dropped line is better than a crash */
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ui->current.lines[ui->current.line_count], EVT_UI_LINE_BYTES, fmt, ap);
    va_end(ap);
    ui->current.line_count++;
}

static evt_err screen_show(evt_ui *ui)
{
    if (ui->hal == NULL || ui->hal->show == NULL || ui->sys == NULL) {
        return EVT_ERR_ARG;
    }
    evt_err err = ui->hal->show(ui->hal->ctx, &ui->current);
    /* Read after show() returned: the screen is visible from here on, and the driver has
     * stamped every key pressed before this moment no later than it (hal_ui.h). */
    ui->drawn_ms = ui->sys->monotonic_ms(ui->sys->ctx);
    return err;
}

/* "12.30" for the screen; fen are always printed with two decimals. */
static const char *yuan(evt_fen fen, char buf[24])
{
    if (evt_money_format(fen, buf, 24) == 0) {
        snprintf(buf, 24, "?");
    }
    return buf;
}

const char *evt_ui_gender_label(const char *gend)
{
    if (strcmp(gend, "1") == 0) {
        return "男";
    }
    if (strcmp(gend, "2") == 0) {
        return "女";
    }
    return "未知";
}

/* Province of a 6-digit region code (医保区划): the first two digits (GB/T 2260). The full
 * district list is platform data the terminal does not carry; the code itself is shown too. */
static const char *region_province(const char *admdvs)
{
    static const struct {
        char prefix[3];
        const char *name;
    } provinces[] = {
        {"11", "北京市"}, {"12", "天津市"}, {"13", "河北省"}, {"14", "山西省"},
        {"15", "内蒙古"}, {"21", "辽宁省"}, {"22", "吉林省"}, {"23", "黑龙江省"},
        {"31", "上海市"}, {"32", "江苏省"}, {"33", "浙江省"}, {"34", "安徽省"},
        {"35", "福建省"}, {"36", "江西省"}, {"37", "山东省"}, {"41", "河南省"},
        {"42", "湖北省"}, {"43", "湖南省"}, {"44", "广东省"}, {"45", "广西"},
        {"46", "海南省"}, {"50", "重庆市"}, {"51", "四川省"}, {"52", "贵州省"},
        {"53", "云南省"}, {"54", "西藏"},   {"61", "陕西省"}, {"62", "甘肃省"},
        {"63", "青海省"}, {"64", "宁夏"},   {"65", "新疆"},   {"66", "新疆兵团"},
    };
    for (size_t i = 0; i < sizeof provinces / sizeof provinces[0]; i++) {
        if (strncmp(admdvs, provinces[i].prefix, 2) == 0) {
            return provinces[i].name;
        }
    }
    return "未知地区";
}

evt_err evt_ui_show_idle(evt_ui *ui, const evt_ui_idle *idle)
{
    /* Not ready: nobody may sell, and the titles say why (neither contains 就绪). */
    if (idle->not_ready != NULL) {
        screen_begin(ui, EVT_UI_ERROR, "医保电子凭证终端 签到失败", "[功能] 操作员登录签到");
    } else if (idle->operator_name == NULL) {
        screen_begin(ui, EVT_UI_NORMAL, "医保电子凭证终端 未签到", "[功能] 操作员登录签到");
    } else {
        screen_begin(ui, EVT_UI_NORMAL, "医保电子凭证终端 就绪",
                     "[功能] 手工录入  等待收银系统订单");
    }
    screen_line(ui, "%s", idle->institution);
    if (idle->not_ready != NULL) {
        screen_line(ui, "暂停收费：%s", idle->not_ready);
    } else if (idle->operator_name == NULL) {
        screen_line(ui, "暂停收费：没有操作员签到");
    } else {
        screen_line(ui, "操作员：%s", idle->operator_name);
    }
    if (idle->pending_reversals > 0) {
        screen_line(ui, "待冲正交易：%u 笔（自动重试中）", idle->pending_reversals);
    }
    if (idle->last_order != NULL && idle->last_outcome != NULL) {
        screen_line(ui, "上一单：%s", idle->last_order);
        screen_line(ui, "%s", idle->last_outcome);
    }
    return screen_show(ui);
}

evt_err evt_ui_show_scan_prompt(evt_ui *ui, const evt_order *order, const char *notice,
                                unsigned seconds_left)
{
    char total[24];
    screen_begin(ui, EVT_UI_NORMAL, "请出示医保电子凭证", "[取消] 终止本单");
    screen_line(ui, "订单：%s", order->order_id);
    if (order->item_count > 0) {
        screen_line(ui, "药品 %u 项，合计 %s 元", (unsigned)order->item_count,
                    yuan(order->total, total));
    } else { /* an outpatient visit: its fee lines come after the registration */
        screen_line(ui, "门诊费用合计 %s 元", yuan(order->total, total));
    }
    screen_line(ui, "请扫描患者手机上的医保码（%u 秒内）", seconds_left);
    if (notice != NULL && notice[0] != '\0') {
        screen_line(ui, "%s", notice);
    }
    return screen_show(ui);
}

evt_err evt_ui_show_lines(evt_ui *ui, evt_ui_tone tone, const char *title, const char *hint,
                          const char *const *lines, unsigned count)
{
    screen_begin(ui, tone, title, hint);
    for (unsigned i = 0; i < count; i++) {
        screen_line(ui, "%s", lines[i]);
    }
    return screen_show(ui);
}

evt_err evt_ui_show_progress(evt_ui *ui, const char *title, const char *line)
{
    screen_begin(ui, EVT_UI_NORMAL, title, "请稍候");
    if (line != NULL) {
        screen_line(ui, "%s", line);
    }
    return screen_show(ui);
}

evt_err evt_ui_show_identity(evt_ui *ui, const evt_voucher_info *voucher, const evt_person *person,
                             const evt_insurance *insu)
{
    char name[EVT_NAME_BYTES * 2], id[40], money[24];
    screen_begin(ui, EVT_UI_CONFIRM, "请核对患者身份", "[确认] 本人无误  [取消] 终止");
    if (evt_mask_name(person->psn_name, name, sizeof name) != EVT_OK) {
        snprintf(name, sizeof name, "***");
    }
    if (evt_mask_id(person->certno, id, sizeof id) != EVT_OK) {
        snprintf(id, sizeof id, "****");
    }
    screen_line(ui, "姓名：%s  性别：%s  年龄：%u", name, evt_ui_gender_label(person->gend),
                (unsigned)person->age);
    screen_line(ui, "证件号：%s", id);
    const char *insutype = evt_proto_insutype_name(insu->insutype);
    if (insutype != NULL) {
        screen_line(ui, "险种：%s", insutype);
    } else {
        screen_line(ui, "险种：代码 %s", insu->insutype);
    }
    screen_line(ui, "参保地：%s %s", region_province(insu->insuplc_admdvs), insu->insuplc_admdvs);
    if (insu->balc_present) {
        screen_line(ui, "个人账户余额（结算前）：%s 元", yuan(insu->balc, money));
    } else if (strcmp(insu->insutype, "390") == 0) {
        screen_line(ui, "个人账户：无（居民医保不设个人账户）");
    } else {
        /* An employee whose record has no balance: not resident insurance, just no account
         * to pay from today (the platform said nothing of one). */
        screen_line(ui, "个人账户：无");
    }
    if (voucher->via_family_account) {
        char holder[EVT_NAME_BYTES * 2];
        if (evt_mask_name(voucher->holder_name, holder, sizeof holder) != EVT_OK) {
            snprintf(holder, sizeof holder, "***");
        }
        screen_line(ui, "【亲情账户代展码】展码人：%s", holder);
        screen_line(ui, "请确认就医者为上述本人，非展码人");
    }
    return screen_show(ui);
}

static void split_lines(evt_ui *ui, const evt_settlement *setl, bool has_account)
{
    char m[24];
    screen_line(ui, "医疗费总额：%s", yuan(setl->medfee_sumamt, m));
    screen_line(ui, "基金支付：  %s", yuan(setl->fund_pay_sumamt, m));
    screen_line(ui, "个人账户：  %s", yuan(setl->acct_pay, m));
    screen_line(ui, "共济支付（亲属账户）：%s", yuan(setl->acct_mulaid_pay, m));
    screen_line(ui, "现金支付：  %s", yuan(setl->psn_cash_pay, m));
    if (has_account && setl->balc_present) {
        screen_line(ui, "结算后个人账户余额：%s", yuan(setl->balc, m));
    }
    if (setl->fulamt_ownpay_amt != 0) {
        screen_line(ui, "其中全自费：%s", yuan(setl->fulamt_ownpay_amt, m));
    }
    if (setl->platform_note[0] != '\0') {
        /* What the platform says about this split, e.g. why 共济 did not pay. */
        screen_line(ui, "平台提示：%s", setl->platform_note);
    }
}

evt_err evt_ui_show_split(evt_ui *ui, const evt_settlement *setl, bool has_account)
{
    screen_begin(ui, EVT_UI_CONFIRM, "请确认结算金额", "[确认] 结算  [取消] 终止");
    split_lines(ui, setl, has_account);
    return screen_show(ui);
}

/* What became of the receipt: printed, or why not and what to do (paper first: the commonest
 * failure at a counter, and the one the cashier can fix at once). */
static void receipt_line(evt_ui *ui, evt_err printed, const char *what)
{
    if (printed == EVT_OK) {
        screen_line(ui, "%s已打印，请交顾客", what);
    } else if (printed == EVT_ERR_PRINTER_PAPER_OUT) {
        screen_line(ui, "打印机缺纸：装纸后在功能菜单补打%s", what);
    } else {
        screen_line(ui, "%s打印失败（%s），可在功能菜单补打", what, evt_err_cashier_text(printed));
    }
}

evt_err evt_ui_show_visit_fees(evt_ui *ui, const evt_fee_summary *f, uint32_t announced)
{
    char m[24];
    screen_begin(ui, EVT_UI_NORMAL, "正在上传费用明细", "请稍候");
    screen_line(ui, "已上传 %lu / %lu 项，合计 %s 元", (unsigned long)f->lines,
                (unsigned long)announced, yuan(f->amount, m));
    screen_line(ui, "甲类 %lu 项  乙类 %lu 项  丙类 %lu 项", (unsigned long)f->by_class[0],
                (unsigned long)f->by_class[1], (unsigned long)f->by_class[2]);
    screen_line(ui, "乙类先行自付：%s 元", yuan(f->preselfpay_amt, m));
    screen_line(ui, "丙类全自费：%s 元", yuan(f->fulamt_ownpay_amt, m));
    screen_line(ui, "超限价自付：%s 元", yuan(f->overlmt_amt, m));
    return screen_show(ui);
}

evt_err evt_ui_show_settled(evt_ui *ui, const evt_settlement *setl, bool has_account,
                            evt_err receipt_printed)
{
    char cash[24];
    screen_begin(ui, EVT_UI_SUCCESS, "结算成功", "[确认] 下一位");
    split_lines(ui, setl, has_account);
    screen_line(ui, "请收取现金：%s 元", yuan(setl->psn_cash_pay, cash));
    receipt_line(ui, receipt_printed, "结算单");
    return screen_show(ui);
}

/* Where each part of a refund goes back. 共济 is named by where it goes only: neither 2102 nor
 * 2103 names the relative whose account paid it (docs/cashier-ui.md). */
evt_err evt_ui_show_refund(evt_ui *ui, const evt_ui_refund *r, bool done, evt_err receipt_printed)
{
    char m[24];
    screen_begin(ui, done ? EVT_UI_SUCCESS : EVT_UI_CONFIRM, done ? "退费成功" : "请确认退费",
                 done ? "[确认] 返回" : "[确认] 请主管输入密码  [取消] 不退费");
    screen_line(ui, "订单：%s  结算于 %s", r->order_id, r->sold_at);
    screen_line(ui, "患者：%s", r->patient[0] != '\0' ? r->patient : "（未记录）");
    screen_line(ui, "退费总额：%s 元", yuan(r->total, m));
    screen_line(ui, "退回医保基金：%s 元", yuan(r->fund, m));
    screen_line(ui, "退回本人个人账户：%s 元", yuan(r->account, m));
    screen_line(ui, "退回亲属账户（共济）：%s 元", yuan(r->mutual_aid, m));
    screen_line(ui, "%s退还顾客现金：%s 元", done ? "请" : "", yuan(r->cash, m));
    if (done && r->balance_present) {
        screen_line(ui, "退费后本人账户余额：%s 元", yuan(r->balance, m));
    }
    if (done) {
        receipt_line(ui, receipt_printed, "退费凭证");
    }
    return screen_show(ui);
}

evt_err evt_ui_show_message(evt_ui *ui, evt_ui_tone tone, const char *title, const char *hint,
                            const char *line, const char *notice)
{
    screen_begin(ui, tone, title, hint);
    if (line != NULL) {
        screen_line(ui, "%s", line);
    }
    if (notice != NULL && notice[0] != '\0') {
        screen_line(ui, "%s", notice);
    }
    return screen_show(ui);
}

evt_err evt_ui_show_error(evt_ui *ui, const char *title, evt_err err, const char *detail)
{
    screen_begin(ui, EVT_UI_ERROR, title, "[确认] 返回");
    screen_line(ui, "%s", evt_err_cashier_text(err));
    if (detail != NULL && detail[0] != '\0') {
        screen_line(ui, "%s", detail);
    }
    return screen_show(ui);
}

evt_err evt_ui_wait_decision(evt_ui *ui, uint32_t timeout_ms, bool *confirmed)
{
    return evt_ui_wait_decision_guarded(ui, timeout_ms, 0, confirmed);
}

evt_err evt_ui_wait_decision_guarded(evt_ui *ui, uint32_t timeout_ms, uint32_t min_dwell_ms,
                                     bool *confirmed)
{
    const uint64_t drawn_ms = ui->drawn_ms;
    uint32_t waited = 0;
    *confirmed = false;
    /* Every read counts a whole slice, discarded keys too: a stuck key cannot keep the wait
     * alive beyond timeout_ms. */
    while (waited < timeout_ms) {
        uint32_t slice =
            timeout_ms - waited < UI_KEY_SLICE_MS ? timeout_ms - waited : UI_KEY_SLICE_MS;
        evt_key_event ev = {0};
        evt_err err = read_key(ui, slice, &ev);
        waited += slice;
        if (err == EVT_ERR_TIMEOUT) {
            continue;
        }
        if (err != EVT_OK) {
            return err;
        }
        if (!pressed_after(&ev, drawn_ms)) {
            continue;
        }
        if (ev.key == EVT_KEY_OK) {
            if (ev.pressed_ms < drawn_ms + min_dwell_ms) {
                EVT_LOGI(MOD, "OK %lu ms after the screen appeared: too soon to confirm, discarded",
                         (unsigned long)(ev.pressed_ms - drawn_ms));
                continue;
            }
            *confirmed = true;
            return EVT_OK;
        }
        if (ev.key == EVT_KEY_CANCEL) {
            return EVT_OK;
        }
        if (ev.key == EVT_KEY_QUIT) {
            return EVT_ERR_CANCELLED;
        }
    }
    return EVT_ERR_TIMEOUT;
}

evt_err evt_ui_show_keyed_entry(evt_ui *ui, const evt_config *cfg, const evt_order *order,
                                const char *prompt, const char *typed, const char *notice)
{
    char m[24];
    screen_begin(ui, EVT_UI_NORMAL, "手工录入订单", "数字键输入 [确认] 下一步 [取消] 放弃");
    for (unsigned i = 0; i < EVT_CONFIG_MAX_ITEMS; i++) {
        const evt_config_item *it = &cfg->items[i];
        if (it->med_list_codg[0] != '\0' && ui->current.line_count < EVT_UI_MAX_LINES - 4) {
            screen_line(ui, "%u %s %s", i + 1, it->name, yuan(it->price, m));
        }
    }
    screen_line(ui, "已录入 %u 项，合计 %s 元", (unsigned)order->item_count, yuan(order->total, m));
    if (notice != NULL && notice[0] != '\0') {
        screen_line(ui, "%s", notice);
    }
    screen_line(ui, "%s：%s_", prompt, typed);
    return screen_show(ui);
}

/* Redraws the entry screen with what was typed so far. */
typedef void (*digits_redraw_fn)(evt_ui *ui, const char *typed, const void *arg);

/* Digits typed on the keypad (BACKSPACE, OK to finish), the screen redrawn by redraw after each
 * key: the loop keyed orders and PINs share. */
static evt_err read_digits(evt_ui *ui, uint32_t timeout_ms, char *out, size_t cap, bool *quit,
                           digits_redraw_fn redraw, const void *arg)
{
    size_t len = 0;
    uint32_t idle = 0;
    *quit = false;
    out[0] = '\0';
    redraw(ui, out, arg);
    /* The redraws below echo what was typed; keys count from the first drawing on. */
    const uint64_t entry_drawn_ms = ui->drawn_ms;
    while (idle < timeout_ms) {
        evt_key_event ev = {0};
        evt_err err = read_key(ui, UI_KEY_SLICE_MS, &ev);
        if (err == EVT_ERR_TIMEOUT) {
            idle += UI_KEY_SLICE_MS;
            continue;
        }
        if (err != EVT_OK) {
            return err;
        }
        if (!pressed_after(&ev, entry_drawn_ms)) {
            idle += UI_KEY_SLICE_MS; /* a stale key is not the cashier typing */
            continue;
        }
        idle = 0;
        switch (ev.key) {
        case EVT_KEY_OK:
            return EVT_OK;
        case EVT_KEY_CANCEL:
            return EVT_ERR_CANCELLED;
        case EVT_KEY_QUIT:
            *quit = true;
            return EVT_ERR_CANCELLED;
        case EVT_KEY_BACKSPACE:
            if (len > 0) {
                out[--len] = '\0';
            }
            break;
        case EVT_KEY_DIGIT:
            if (ev.ch >= '0' && ev.ch <= '9' && len + 1 < cap) {
                out[len++] = ev.ch;
                out[len] = '\0';
            }
            break;
        default:
            break;
        }
        redraw(ui, out, arg);
    }
    return EVT_ERR_TIMEOUT;
}

typedef struct keyed_entry {
    const evt_config *cfg;
    const evt_order *order;
    const char *prompt;
    const char *notice;
} keyed_entry;

static void redraw_keyed_entry(evt_ui *ui, const char *typed, const void *arg)
{
    const keyed_entry *k = arg;
    evt_ui_show_keyed_entry(ui, k->cfg, k->order, k->prompt, typed, k->notice);
}

evt_err evt_ui_read_number(evt_ui *ui, const evt_config *cfg, const evt_order *order,
                           const char *prompt, const char *notice, uint32_t timeout_ms, char *out,
                           size_t cap, bool *quit)
{
    keyed_entry k = {.cfg = cfg, .order = order, .prompt = prompt, .notice = notice};
    return read_digits(ui, timeout_ms, out, cap, quit, redraw_keyed_entry, &k);
}

typedef struct pin_entry {
    const char *title;
    const char *line;
    const char *label;
    const char *notice;
} pin_entry;

/* A PIN is never on the screen: one '*' per digit typed. */
static void redraw_pin(evt_ui *ui, const char *typed, const void *arg)
{
    const pin_entry *p = arg;
    char stars[EVT_UI_LINE_BYTES];
    size_t n = strlen(typed) < sizeof stars - 1 ? strlen(typed) : sizeof stars - 1;
    memset(stars, '*', n);
    stars[n] = '\0';
    screen_begin(ui, EVT_UI_CONFIRM, p->title, "数字键输入密码 [确认] 提交 [取消] 返回");
    if (p->line != NULL) {
        screen_line(ui, "%s", p->line);
    }
    screen_line(ui, "%s：%s", p->label, stars);
    if (p->notice != NULL) {
        screen_line(ui, "%s", p->notice);
    }
    screen_show(ui);
}

evt_err evt_ui_read_pin(evt_ui *ui, const char *title, const char *line, const char *label,
                        const char *notice, uint32_t timeout_ms, char *out, size_t cap, bool *quit)
{
    pin_entry p = {.title = title, .line = line, .label = label, .notice = notice};
    return read_digits(ui, timeout_ms, out, cap, quit, redraw_pin, &p);
}

evt_err evt_ui_choose(evt_ui *ui, const char *title, const char *const *options, unsigned count,
                      uint32_t timeout_ms, unsigned *choice, bool *quit)
{
    *quit = false;
    *choice = 0;
    screen_begin(ui, EVT_UI_NORMAL, title, "数字键选择  [取消] 返回");
    for (unsigned i = 0; i < count && i < 9; i++) {
        screen_line(ui, "%u %s", i + 1, options[i]);
    }
    evt_err err = screen_show(ui);
    if (err != EVT_OK) {
        return err;
    }
    const uint64_t drawn_ms = ui->drawn_ms;
    for (uint32_t waited = 0; waited < timeout_ms; waited += UI_KEY_SLICE_MS) {
        evt_key_event ev = {0};
        err = read_key(ui, UI_KEY_SLICE_MS, &ev);
        if (err == EVT_ERR_TIMEOUT) {
            continue;
        }
        if (err != EVT_OK) {
            return err;
        }
        if (!pressed_after(&ev, drawn_ms)) {
            continue;
        }
        if (ev.key == EVT_KEY_CANCEL || ev.key == EVT_KEY_QUIT) {
            *quit = ev.key == EVT_KEY_QUIT;
            return EVT_ERR_CANCELLED;
        }
        if (ev.key == EVT_KEY_DIGIT && ev.ch >= '1' && (unsigned)(ev.ch - '0') <= count) {
            *choice = (unsigned)(ev.ch - '0');
            return EVT_OK;
        }
    }
    return EVT_ERR_TIMEOUT;
}
