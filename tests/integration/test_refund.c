/*
 * Refunds (2103) and reprints end to end: the terminal's real drivers and firmware against the
 * platform emulator over real TLS on loopback, the cashier a key script on the function menu,
 * the supervisor's PIN provisioned as tools/pin-hash makes it, every amount checked to the fen
 * and the ledger read back with platform-emu's own commands.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ecr_pos.h"
#include "evt/journal.h"
#include "evt/receipt.h"
#include "harness.h"

#define AMLODIPINE  "XC08CAA077A001010100001" /* class A */
#define AMOXICILLIN "XJ01CAA040A001010100001" /* class A */
#define CHILD_COLD  "XR05CBA086A001020100001" /* class B */
#define PIN         "246810"

#define SALE_KEYS "请核对患者身份 => OK\n请确认结算金额 => OK\n结算成功 => OK\n"
/* From the idle screen: [功能] → 5 退费 from today's sales → the newest. */
#define REFUND_FROM_LIST "就绪 => MENU\n功能菜单 => TYPE:5\n退费：选择今日交易 => TYPE:1\n"
/* From the idle screen: [功能] → 4 退费 by the receipt's QR (the code is already waiting). */
#define REFUND_BY_SCAN   "就绪 => MENU\n功能菜单 => TYPE:4\n"
#define CONFIRM_WITH_PIN "请确认退费 => OK\n主管密码 => DIGITS:" PIN "\n"

typedef it_fixture fixture;

static char pin_line[256];

static int setup(void **state)
{
    if (pin_line[0] == '\0') {
        supervisor_pin_line(PIN, pin_line, sizeof pin_line);
    }
    return it_setup(state);
}

/* A terminal with the supervisor PIN and the cashier's keys; no screen waits for real time. */
static void start(fixture *f, const char *name, const char *keys, bool reuse_flash)
{
    term_options opt = {
        .keys = keys, .extra_config = pin_line, .keys_no_wait = true, .reuse_flash = reuse_flash};
    assert_int_equal(term_start(&f->t, &f->e, name, &opt), 0);
}

static void restart(fixture *f, const char *name, const char *keys)
{
    term_stop(&f->t);
    start(f, name, keys, true);
}

/* The ledger holds the order's settlement cancelled exactly once and nothing of it live;
 * returns how many of its settlements were reversed (2601). */
static int settlement_cancelled_once(fixture *f, const char *order_id)
{
    int live = -1, reversed = -1, cancelled = -1;
    assert_int_equal(emu_order_money(&f->e, order_id, &live, &reversed, &cancelled), 0);
    assert_int_equal(live, 0);
    assert_int_equal(cancelled, 1);
    return reversed;
}

static void sale(fixture *f, const char *person, const char *holder, const char *med_code,
                 const char *name, uint32_t qty, evt_fen price, evt_order *o, evt_ecr_result *r)
{
    char id[40], code[128];
    order_make(o, order_id_next(id, sizeof id), med_code, name, qty, price);
    assert_int_equal(emu_code(&f->e, person, holder, 120, code, sizeof code), 0);
    term_scan(&f->t, code);
    evt_app_sale(f->t.app, o, r);
    assert_int_equal(r->status, EVT_ECR_SETTLED);
    assert_int_equal(r->fund + r->account + r->mutual_aid + r->cash, r->total);
}

/* The last receipt's rendered text and QR text. */
static char *last_receipt(fixture *f, char *qr, size_t cap)
{
    char *text = NULL;
    assert_int_equal(term_receipt(&f->t, NULL, &text, qr, cap), 0);
    return text;
}

/* The copy of the receipt of msgid (the printer names a second job of one name "<name>-2"). */
static char *copy_of(fixture *f, const char *msgid, char *qr, size_t cap)
{
    char path[PATH_MAX], *text = NULL;
    snprintf(path, sizeof path, "%s/%s-2.bin", f->t.print_dir, msgid);
    assert_int_equal(term_receipt(&f->t, path, &text, qr, cap), 0);
    return text;
}

/* A printed line "<label>   <value>" (the value right-aligned on the same line). */
static bool has_pair(const char *text, const char *label, const char *value)
{
    size_t ll = strlen(label), vl = strlen(value);
    for (const char *line = text; line != NULL && *line != '\0';) {
        const char *end = strchr(line, '\n');
        size_t n = end != NULL ? (size_t)(end - line) : strlen(line);
        if (n >= ll + vl && strncmp(line, label, ll) == 0 &&
            memcmp(line + n - vl, value, vl) == 0) {
            bool spaces = true;
            for (size_t i = ll; i < n - vl; i++) {
                spaces = spaces && line[i] == ' ';
            }
            if (spaces) {
                return true;
            }
        }
        line = end != NULL ? end + 1 : NULL;
    }
    return false;
}

/* The printed line that starts with label, for comparing two receipts. */
static void line_of(const char *text, const char *label, char *out, size_t cap)
{
    const char *p = strstr(text, label);
    out[0] = '\0';
    if (p != NULL) {
        const char *end = strchr(p, '\n');
        size_t n = end != NULL ? (size_t)(end - p) : strlen(p);
        snprintf(out, cap, "%.*s", (int)n, p);
    }
}

static void money(evt_fen fen, char *out, size_t cap)
{
    assert_true(evt_money_format(fen, out, cap) > 0);
}

/* Today on the terminal's clock (the sim board keeps China Standard Time, UTC+8). */
static void today_cst(char out[11])
{
    time_t now = time(NULL) + 8 * 3600;
    struct tm tm;
    gmtime_r(&now, &tm);
    snprintf(out, 11, "%04d-%02d-%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
}

/* ---- refunds ------------------------------------------------------------------------------ */

/* Own account: the fund and the patient's own account get their shares back, to the fen. */
static void refund_of_own_account_sale_restores_the_account(void **state)
{
    fixture *f = *state;
    start(f, "own", SALE_KEYS REFUND_FROM_LIST CONFIRM_WITH_PIN "退费成功 => OK\n", false);
    int64_t before = emu_balance_fen(&f->e, "employee");
    evt_order o;
    evt_ecr_result r;
    sale(f, "employee", NULL, AMOXICILLIN, "阿莫西林胶囊", 2, 1250, &o, &r);
    assert_int_equal(r.total, 2500);
    assert_int_equal(r.fund, 1250);
    assert_int_equal(r.account, 1250);
    assert_int_equal(emu_balance_fen(&f->e, "employee"), before - 1250);
    char sale_qr[EVT_RECEIPT_REF_MAX];
    free(last_receipt(f, sale_qr, sizeof sale_qr));

    assert_true(term_run_script(&f->t, 300));
    assert_int_equal(emu_balance_fen(&f->e, "employee"), before);
    assert_int_equal(emu_count(&f->e, "cancellations"), 1);
    assert_int_equal(settlement_cancelled_once(f, o.order_id), 0); /* none reversed */

    /* The list named the sale; the screens said where each part went back. */
    assert_true(term_screen_seen(&f->t, "张*国 25.00元"));
    assert_true(term_screen_seen(&f->t, "退费总额：25.00 元"));
    assert_true(term_screen_seen(&f->t, "退回医保基金：12.50 元"));
    assert_true(term_screen_seen(&f->t, "退回本人个人账户：12.50 元"));
    assert_true(term_screen_seen(&f->t, "退回亲属账户（共济）：0.00 元"));
    assert_true(term_screen_seen(&f->t, "请退还顾客现金：0.00 元"));
    char balance[24], line[64];
    money(before, balance, sizeof balance);
    snprintf(line, sizeof line, "退费后本人账户余额：%s 元", balance);
    assert_true(term_screen_seen(&f->t, line));
    assert_true(term_screen_seen(&f->t, "退费凭证已打印，请交顾客"));
    assert_false(term_screen_seen(&f->t, "张建国"));

    /* The refund receipt: marked, where each part went, the sale it cancels, its own QR. */
    assert_int_equal(term_receipts(&f->t), 2);
    char qr[EVT_RECEIPT_REF_MAX];
    char *text = last_receipt(f, qr, sizeof qr);
    assert_non_null(strstr(text, "医保退费单\n"));
    assert_non_null(strstr(text, "** 退费 **\n"));
    assert_null(strstr(text, "重打印"));
    assert_true(has_pair(text, "退费总额", "25.00"));
    assert_true(has_pair(text, "基金退回医保基金", "12.50"));
    assert_true(has_pair(text, "退回本人个人账户", "12.50"));
    assert_true(has_pair(text, "共济退回亲属账户", "0.00"));
    assert_true(has_pair(text, "退还现金", "0.00"));
    assert_true(has_pair(text, "退费后账户余额", balance));
    assert_true(has_pair(text, "姓名", "张*国"));
    assert_non_null(strstr(text, r.setl_id)); /* 原结算ID */
    evt_receipt_ref ref, sold;
    assert_int_equal(evt_receipt_ref_parse(qr, strlen(qr), &ref), EVT_OK);
    assert_int_equal(evt_receipt_ref_parse(sale_qr, strlen(sale_qr), &sold), EVT_OK);
    assert_string_equal(sold.setl_id, r.setl_id);
    assert_string_not_equal(ref.setl_id, r.setl_id); /* the cancelling entry */
    assert_string_not_equal(ref.msgid, r.msgid);     /* the 2103's */
    free(text);
    /* The POS asking about the order still learns that it settled (and never settles it
     * again). */
    evt_ecr_result st;
    assert_int_equal(evt_app_order_status(f->t.app, o.order_id, &st), EVT_OK);
    assert_int_equal(st.status, EVT_ECR_SETTLED);
}

/* The parent's 84.00 from the employee's phone: the fund pays half, the parent's own account
 * all it holds, 共济 from the employee's account the rest. The balances before, in the ledger. */
static void mutual_aid_sale(fixture *f, int64_t *employee, int64_t *parent, evt_order *o,
                            evt_ecr_result *r)
{
    *employee = emu_balance_fen(&f->e, "employee");
    *parent = emu_balance_fen(&f->e, "parent");
    sale(f, "parent", "employee", AMLODIPINE, "苯磺酸氨氯地平片", 3, 2800, o, r);
    assert_int_equal(r->total, 8400);
    assert_int_equal(r->fund, 4200);
    assert_int_equal(r->account, *parent);
    assert_int_equal(r->mutual_aid, 4200 - *parent);
    assert_true(r->mutual_aid > 0);
    assert_int_equal(emu_balance_fen(&f->e, "parent"), 0);
    assert_int_equal(emu_balance_fen(&f->e, "employee"), *employee - r->mutual_aid);
}

/* 共济 by scanning the printed receipt: the parent's own account and the relative's account
 * both get back what they paid. A code that is no receipt, and a receipt of another
 * institution, are told apart before the right one is scanned. */
static void refund_of_mutual_aid_sale_by_scanning_its_receipt(void **state)
{
    fixture *f = *state;
    start(f, "mulaid", SALE_KEYS REFUND_BY_SCAN CONFIRM_WITH_PIN "退费成功 => OK\n", false);
    int64_t employee, parent;
    evt_order o;
    evt_ecr_result r;
    mutual_aid_sale(f, &employee, &parent, &o, &r);
    char qr[EVT_RECEIPT_REF_MAX];
    free(last_receipt(f, qr, sizeof qr));

    term_scan(&f->t, "not a receipt");
    char foreign[EVT_RECEIPT_REF_MAX];
    snprintf(foreign, sizeof foreign, "EVTS1|H99999999999|%s||%s|H99999999999202611271030002001",
             r.setl_id, "12010400000010000302");
    term_scan(&f->t, foreign);
    term_scan(&f->t, qr);
    assert_true(term_run_script(&f->t, 300));

    assert_true(term_screen_seen(&f->t, "不是本系统结算单上的二维码"));
    assert_true(term_screen_seen(&f->t, "这是其他机构的结算单，不能在本机构退费"));
    assert_int_equal(emu_balance_fen(&f->e, "parent"), parent);
    assert_int_equal(emu_balance_fen(&f->e, "employee"), employee);
    assert_int_equal(emu_count(&f->e, "cancellations"), 1);
    char line[96], amount[24];
    money(r.mutual_aid, amount, sizeof amount);
    snprintf(line, sizeof line, "退回亲属账户（共济）：%s 元", amount);
    assert_true(term_screen_seen(&f->t, line));
    assert_true(term_screen_seen(&f->t, "患者：李*英"));
    assert_true(term_screen_seen(&f->t, "退费成功"));
    char *text = last_receipt(f, qr, sizeof qr);
    assert_true(has_pair(text, "退费总额", "84.00"));
    assert_true(has_pair(text, "基金退回医保基金", "42.00"));
    money(r.account, amount, sizeof amount);
    assert_true(has_pair(text, "退回本人个人账户", amount));
    money(r.mutual_aid, amount, sizeof amount);
    assert_true(has_pair(text, "共济退回亲属账户", amount));
    assert_true(has_pair(text, "退费后账户余额", "35.20"));
    assert_non_null(strstr(text, "亲情账户代展码"));
    free(text);
}

/* A sale refunded once is refused the second time, with the date of the first refund — by its
 * receipt's QR and in the list alike — and no second 2103 leaves the terminal. */
static void refund_twice_is_refused_with_the_date(void **state)
{
    fixture *f = *state;
    start(f, "twice",
          SALE_KEYS REFUND_FROM_LIST CONFIRM_WITH_PIN "退费成功 => OK\n" REFUND_BY_SCAN
                                                      "不能退费 => OK\n"
                                                      "就绪 => MENU\n功能菜单 => TYPE:5\n"
                                                      "今日没有可退费的交易 => OK\n",
          false);
    int64_t before = emu_balance_fen(&f->e, "stranger");
    evt_order o;
    evt_ecr_result r;
    sale(f, "stranger", NULL, AMOXICILLIN, "阿莫西林胶囊", 1, 1250, &o, &r);
    char qr[EVT_RECEIPT_REF_MAX];
    free(last_receipt(f, qr, sizeof qr));
    term_scan(&f->t, qr);
    assert_true(term_run_script(&f->t, 400));

    char today[11], line[64];
    today_cst(today);
    snprintf(line, sizeof line, "已于 %s ", today);
    assert_true(term_screen_seen(&f->t, "该笔结算已退费，不能重复退费"));
    assert_true(term_screen_seen(&f->t, line));
    assert_true(term_screen_seen(&f->t, "今日没有可退费的交易"));
    assert_int_equal(emu_handled_count(&f->e, "2103"), 1);
    assert_int_equal(emu_count(&f->e, "cancellations"), 1);
    assert_int_equal(emu_balance_fen(&f->e, "stranger"), before);
    assert_int_equal(term_receipts(&f->t), 2);
}

/* The POS refunds a 共济 sale over the ECR link (docs/ecr-link.md "refund"): the terminal shows
 * the same refund screen (the relative's share named), the supervisor's PIN authorises it, one
 * 2103 gives the parent's own account and the relative's account back their shares to the fen,
 * and the POS's result says what went back. The POS sends it again: refused with the first
 * refund's date, no second 2103, the ledger unchanged. */
static void mutual_aid_sale_refunded_from_the_pos(void **state)
{
    fixture *f = *state;
    char extra[512];
    uint8_t key[32];
    uint16_t port = 0;
    size_t n = (size_t)snprintf(extra, sizeof extra, "%s", pin_line);
    assert_int_equal(term_ecr_lines(extra + n, sizeof extra - n, 0x77, &port, key), 0);
    term_options opt = {.keys = SALE_KEYS CONFIRM_WITH_PIN "退费成功 => OK\n",
                        .extra_config = extra,
                        .keys_no_wait = true,
                        .ui_stall_limit = 100000};
    assert_int_equal(term_start(&f->t, &f->e, "pos", &opt), 0);
    int64_t employee, parent;
    evt_order o;
    evt_ecr_result r;
    mutual_aid_sale(f, &employee, &parent, &o, &r);

    ecr_pos pos;
    char line[4096], request[128];
    ecr_pos_connect(&pos, port, key);
    ecr_pos_pair(&pos, term_pos_wait, &f->t, line, sizeof line);
    snprintf(request, sizeof request, "{\"v\":2,\"type\":\"refund\",\"order_id\":\"%s\"}\n",
             o.order_id);
    ecr_pos_send(&pos, request);
    char want[256];
    snprintf(want, sizeof want,
             "{\"v\":2,\"type\":\"ack\",\"order_id\":\"%s\",\"request\":\"refund\"}", o.order_id);
    assert_string_equal(term_pos_wait(&pos, line, sizeof line, &f->t), want);
    const char *result = term_pos_wait(&pos, line, sizeof line, &f->t);
    char account[24], mutual_aid[24];
    money(r.account, account, sizeof account);
    money(r.mutual_aid, mutual_aid, sizeof mutual_aid);
    snprintf(want, sizeof want,
             "\"total\":\"84.00\",\"fund\":\"42.00\",\"account\":\"%s\",\"mutual_aid\":\"%s\","
             "\"cash\":\"0.00\"",
             account, mutual_aid);
    assert_non_null(strstr(result, "\"request\":\"refund\",\"status\":\"refunded\""));
    assert_non_null(strstr(result, want));
    char today[11];
    today_cst(today);
    snprintf(want, sizeof want, "\"refunded_at\":\"%s ", today);
    assert_non_null(strstr(result, want));

    /* The ledger: both accounts back to the fen, the settlement cancelled once. */
    assert_int_equal(emu_balance_fen(&f->e, "parent"), parent);
    assert_int_equal(emu_balance_fen(&f->e, "employee"), employee);
    assert_int_equal(emu_handled_count(&f->e, "2103"), 1);
    assert_int_equal(settlement_cancelled_once(f, o.order_id), 0);
    /* At the terminal: the refund screen said where each part goes, the PIN was asked. */
    snprintf(line, sizeof line, "退回亲属账户（共济）：%s 元", mutual_aid);
    assert_true(term_screen_seen(&f->t, line));
    assert_true(term_screen_seen(&f->t, "患者：李*英"));
    assert_true(term_screen_seen(&f->t, "主管密码"));
    assert_int_equal(term_receipts(&f->t), 2);

    /* Sent again: refused with the first refund's date; nothing reaches the platform. */
    ecr_pos_send(&pos, request);
    result = term_pos_wait(&pos, line, sizeof line, &f->t);
    assert_non_null(strstr(result, "\"request\":\"refund\",\"status\":\"refused\","
                                   "\"error\":\"EVT_ERR_REFUND_DONE\""));
    snprintf(want, sizeof want, "已于 %s ", today);
    assert_non_null(strstr(result, want));
    assert_int_equal(emu_handled_count(&f->e, "2103"), 1);
    assert_int_equal(emu_count(&f->e, "cancellations"), 1);
    assert_int_equal(emu_balance_fen(&f->e, "parent"), parent);
    assert_int_equal(emu_balance_fen(&f->e, "employee"), employee);
    assert_int_equal(term_receipts(&f->t), 2);
    /* An order the terminal never sold: refused at once. */
    ecr_pos_send(&pos, "{\"v\":2,\"type\":\"refund\",\"order_id\":\"NEVER-SOLD\"}\n");
    result = term_pos_wait(&pos, line, sizeof line, &f->t);
    assert_non_null(strstr(result, "\"error\":\"EVT_ERR_REFUND_UNKNOWN_SALE\""));
    ecr_pos_close(&pos);
}

/* Nothing is refunded without the supervisor: a cancel at the refund screen and a wrong PIN
 * send nothing; the right PIN refunds. Resident insurance: the cash goes back by hand. */
static void wrong_supervisor_pin_refunds_nothing(void **state)
{
    fixture *f = *state;
    start(f, "pin",
          SALE_KEYS REFUND_FROM_LIST
          "请确认退费 => CANCEL\n" REFUND_FROM_LIST
          "请确认退费 => OK\n主管密码 => DIGITS:111111\n密码错误 => OK\n" REFUND_FROM_LIST
              CONFIRM_WITH_PIN "退费成功 => OK\n",
          false);
    evt_order o;
    evt_ecr_result r;
    sale(f, "child", "employee", CHILD_COLD, "小儿氨酚黄那敏颗粒", 1, 1860, &o, &r);
    assert_int_equal(r.fund, 837);
    assert_int_equal(r.cash, 1023);
    assert_false(r.balance_present);
    assert_true(term_run_script(&f->t, 400));

    assert_true(term_screen_seen(&f->t, "密码错误"));
    assert_true(term_screen_seen(&f->t, "未获授权，请重新办理"));
    /* Three refund screens, one 2103: the one after the right PIN. */
    assert_int_equal(emu_handled_count(&f->e, "2103"), 1);
    assert_int_equal(emu_count(&f->e, "cancellations"), 1);
    assert_true(term_screen_seen(&f->t, "退还顾客现金：10.23 元"));
    assert_true(term_screen_seen(&f->t, "请退还顾客现金：10.23 元"));
    assert_false(term_screen_seen(&f->t, "退费后本人账户余额"));
    char qr[EVT_RECEIPT_REF_MAX];
    char *text = last_receipt(f, qr, sizeof qr);
    assert_true(has_pair(text, "退还现金", "10.23"));
    assert_true(has_pair(text, "退费后账户余额", "—"));
    free(text);
}

/* Issue 7, supervisors provisioned as operators: the refund asks which supervisor (the list
 * names the supervisors only), then that supervisor's own PIN; a cashier's PIN authorises
 * nothing. The refund receipt names who authorised it (masked name and id), and so does its
 * reprint from the journal after a restart: the refund's record keeps the supervisor's id. */
static void supervisor_operator_authorises_refund(void **state)
{
    fixture *f = *state;
    static char operators[1024];
    if (operators[0] == '\0') {
        char cashier[256], wang[256], li[256];
        pin_hash_of("135790", cashier, sizeof cashier);
        pin_hash_of("246802", wang, sizeof wang);
        pin_hash_of(PIN, li, sizeof li);
        snprintf(operators, sizeof operators,
                 "operator_1 = 0001|刘晓梅|cashier|%s\noperator_2 = 0002|王建华|supervisor|%s\n"
                 "operator_3 = 0003|李秀芳|supervisor|%s\n",
                 cashier, wang, li);
    }
#define LOGIN_CASHIER                                                                              \
    "未签到 => MENU\n功能菜单 => TYPE:6\n操作员登录：选择操作员 => TYPE:1\n"     \
    "操作员密码 => DIGITS:135790\n"
    term_options opt = {.keys = LOGIN_CASHIER SALE_KEYS REFUND_FROM_LIST
                        "请确认退费 => OK\n选择授权主管 => TYPE:1\n主管密码 => DIGITS:135790\n"
                        "密码错误 => OK\n" REFUND_FROM_LIST
                        "请确认退费 => OK\n选择授权主管 => TYPE:2\n主管密码 => DIGITS:" PIN "\n"
                        "退费成功 => OK\n",
                        .operators = operators,
                        .keys_no_wait = true};
    assert_int_equal(term_start(&f->t, &f->e, "supervisors", &opt), 0);
    term_run_script(&f->t, 2); /* the cashier's login */
    evt_order o;
    evt_ecr_result r;
    sale(f, "employee", NULL, AMLODIPINE, "苯磺酸氨氯地平片", 1, 2800, &o, &r);
    char qr[EVT_RECEIPT_REF_MAX], qr_refund[EVT_RECEIPT_REF_MAX];
    char *text = last_receipt(f, qr, sizeof qr);
    assert_null(strstr(text, "授权主管")); /* a sale needs no supervisor */
    free(text);
    assert_true(term_run_script(&f->t, 400));

    assert_true(term_screen_seen(&f->t, "1 王建华"));
    assert_true(term_screen_seen(&f->t, "2 李秀芳"));
    assert_false(term_screen_seen(&f->t, "3 刘晓梅")); /* the cashier is never offered */
    assert_true(term_screen_seen(&f->t, "主管：李秀芳"));
    assert_true(term_screen_seen(&f->t, "未获授权，请重新办理"));
    assert_int_equal(emu_handled_count(&f->e, "2103"), 1); /* after 李秀芳's PIN only */
    assert_int_equal(settlement_cancelled_once(f, o.order_id), 0);
    text = last_receipt(f, qr_refund, sizeof qr_refund);
    assert_true(has_pair(text, "操作员", "刘晓梅"));
    assert_true(has_pair(text, "授权主管", "李秀芳 0003"));
    free(text);

    /* From the journal, after a restart (nobody on shift: a reprint needs nobody). */
    term_stop(&f->t);
    opt.keys = "未签到 => MENU\n功能菜单 => TYPE:2\n补打：选择今日结算单 => TYPE:1\n"
               "结算单已补打 => OK\n";
    opt.reuse_flash = true;
    assert_int_equal(term_start(&f->t, &f->e, "supervisors", &opt), 0);
    assert_true(term_run_script(&f->t, 300));
    evt_receipt_ref refund;
    assert_int_equal(evt_receipt_ref_parse(qr_refund, strlen(qr_refund), &refund), EVT_OK);
    text = copy_of(f, refund.msgid, qr, sizeof qr);
    assert_non_null(strstr(text, "** 重打印 **\n"));
    assert_true(has_pair(text, "授权主管", "李秀芳 0003"));
    free(text);
#undef LOGIN_CASHIER
}

/* The 2103's answer is lost after the platform refunded: the terminal reverses it at once (the
 * sale stands again, nothing was handed back), says so, and the refund done again refunds once. */
static void refund_whose_answer_is_lost_ends_reversed(void **state)
{
    fixture *f = *state;
    start(f, "lost",
          SALE_KEYS REFUND_FROM_LIST CONFIRM_WITH_PIN
          "退费未完成 => OK\n" REFUND_FROM_LIST CONFIRM_WITH_PIN "退费成功 => OK\n",
          false);
    int64_t before = emu_balance_fen(&f->e, "employee");
    evt_order o;
    evt_ecr_result r;
    sale(f, "employee", NULL, AMOXICILLIN, "阿莫西林胶囊", 2, 1250, &o, &r);
    assert_int_equal(emu_fault(&f->e, "2103", "close_mid", NULL, 1), 0);
    assert_true(term_run_script(&f->t, 400));

    assert_true(term_screen_seen(&f->t, "已冲正，未退费；可重新办理"));
    assert_int_equal(emu_handled_count(&f->e, "2103"), 2);
    assert_int_equal(emu_count(&f->e, "reversals"), 1); /* the first 2103, undone */
    assert_int_equal(emu_balance_fen(&f->e, "employee"), before);
    settlement_cancelled_once(f, o.order_id);
    evt_app_figures fig;
    evt_app_get_figures(f->t.app, &fig);
    assert_int_equal(fig.reversals_pending, 0);
    assert_int_equal(term_receipts(&f->t), 2); /* the sale's and the one refund's */
}

/* The platform refuses the 2103: its words are shown, nothing went back, and the refund can
 * be done again. Then an answer the terminal cannot use (the platform refunded, the JSON came
 * back cut): reversed rather than trusted. The third try refunds, once. */
static void refund_refused_or_unusable_moves_no_money(void **state)
{
    fixture *f = *state;
    start(f, "refused",
          SALE_KEYS REFUND_FROM_LIST CONFIRM_WITH_PIN
          "退费失败 => OK\n" REFUND_FROM_LIST CONFIRM_WITH_PIN
          "退费未完成 => OK\n" REFUND_FROM_LIST CONFIRM_WITH_PIN "退费成功 => OK\n",
          false);
    int64_t before = emu_balance_fen(&f->e, "employee");
    evt_order o;
    evt_ecr_result r;
    sale(f, "employee", NULL, AMOXICILLIN, "阿莫西林胶囊", 2, 1250, &o, &r);
    assert_int_equal(emu_fault(&f->e, "2103", "business_error", "结算已超过可撤销期限", 1), 0);
    assert_int_equal(emu_fault(&f->e, "2103", "malformed_json", NULL, 1), 0);
    assert_true(term_run_script(&f->t, 400));

    assert_true(term_screen_seen(&f->t, "退费失败：未退费，原结算仍有效"));
    assert_true(term_screen_seen(&f->t, "结算已超过可撤销期限"));
    assert_true(term_screen_seen(&f->t, "已冲正，未退费；可重新办理"));
    assert_true(term_screen_seen(&f->t, "退费成功"));
    assert_int_equal(emu_handled_count(&f->e, "2103"), 3);
    assert_int_equal(emu_count(&f->e, "reversals"), 1);
    assert_int_equal(emu_balance_fen(&f->e, "employee"), before);
    settlement_cancelled_once(f, o.order_id);
}

/* While a refund's outcome is unknown (its 2601 not yet acknowledged) the sale is not refunded
 * again — not after a restart either; once the reversal is acknowledged it may be. */
static void refund_in_doubt_is_not_refunded_again_until_reversed(void **state)
{
    fixture *f = *state;
    start(f, "doubt",
          SALE_KEYS REFUND_FROM_LIST CONFIRM_WITH_PIN "退费结果未知 => OK\n" REFUND_BY_SCAN
                                                      "不能退费 => OK\n",
          false);
    int64_t before = emu_balance_fen(&f->e, "employee");
    evt_order o;
    evt_ecr_result r;
    sale(f, "employee", NULL, AMOXICILLIN, "阿莫西林胶囊", 2, 1250, &o, &r);
    char qr[EVT_RECEIPT_REF_MAX];
    free(last_receipt(f, qr, sizeof qr));
    term_scan(&f->t, qr);
    assert_int_equal(emu_fault(&f->e, "2103", "close_mid", NULL, 1), 0);
    assert_int_equal(emu_fault(&f->e, "2601", "close_before", NULL, 100), 0);
    assert_true(term_run_script(&f->t, 400));

    assert_true(term_screen_seen(&f->t, "终端将自动冲正，请勿退还现金"));
    assert_true(term_screen_seen(&f->t, "该笔退费结果未知"));
    assert_int_equal(emu_handled_count(&f->e, "2103"), 1);
    evt_app_figures fig;
    evt_app_get_figures(f->t.app, &fig);
    assert_int_equal(fig.reversals_pending, 1);

    /* Power off and on: the refund is still in doubt. */
    restart(f, "doubt", REFUND_BY_SCAN "不能退费 => OK\n");
    term_scan(&f->t, qr);
    assert_true(term_run_script(&f->t, 400));
    assert_true(term_screen_seen(&f->t, "该笔退费结果未知"));
    assert_int_equal(emu_handled_count(&f->e, "2103"), 1);

    /* The platform acknowledges the reversal: the refund is undone there, the sale stands. */
    assert_int_equal(emu_fault_clear(&f->e), 0);
    assert_int_equal(term_deliver_reversals(&f->t, 10), 0u);
    assert_int_equal(emu_balance_fen(&f->e, "employee"), before - 1250);

    restart(f, "doubt", REFUND_FROM_LIST CONFIRM_WITH_PIN "退费成功 => OK\n");
    assert_true(term_run_script(&f->t, 400));
    assert_int_equal(emu_handled_count(&f->e, "2103"), 2);
    assert_int_equal(emu_balance_fen(&f->e, "employee"), before);
    settlement_cancelled_once(f, o.order_id);
}

/* The power goes just after the platform refunded: the refund's record still says SETTLING
 * (its SETTLED write is the one cut). After the reboot the 2103 is in doubt — reversed, not
 * trusted — and the sale is not refunded again until the reversal is acknowledged; then it is,
 * once. */
typedef struct refund_cut {
    fixture *f;
    char key[64]; /* the journal key (or its start) whose nth write the power does not survive */
    unsigned nth;
    bool armed;
    unsigned seen;
} refund_cut;

/* The journal programs a record as header, key, value, CRC, commit: a program of exactly the
 * key's bytes is the record's key; cut there, the record is torn. */
static void cut_at_key(void *arg, uint64_t offset, const uint8_t *data, size_t len)
{
    (void)offset;
    refund_cut *c = arg;
    size_t klen = strlen(c->key);
    if (c->armed && len >= klen && len <= EVT_JOURNAL_KEY_MAX && memcmp(data, c->key, klen) == 0 &&
        ++c->seen == c->nth) {
        evt_sim_storage_inject_power_cut(c->f->t.flash, 0, EVT_SIM_CUT_PREFIX, 0);
    }
}

static void power_cut_after_the_platform_refunded(void **state)
{
    fixture *f = *state;
    /* The first write of the refund's record is SETTLING (before the 2103), the second SETTLED. */
    refund_cut cut = {.f = f, .nth = 2};
    term_options opt = {
        .keys = SALE_KEYS REFUND_FROM_LIST CONFIRM_WITH_PIN "退费结果未知 => OK\n",
        .extra_config = pin_line,
        .keys_no_wait = true,
        .write_tap = cut_at_key,
        .write_tap_arg = &cut,
    };
    assert_int_equal(term_start(&f->t, &f->e, "cut", &opt), 0);
    int64_t before = emu_balance_fen(&f->e, "employee");
    evt_order o;
    evt_ecr_result r;
    sale(f, "employee", NULL, AMOXICILLIN, "阿莫西林胶囊", 2, 1250, &o, &r);
    char qr[EVT_RECEIPT_REF_MAX];
    free(last_receipt(f, qr, sizeof qr));
    snprintf(cut.key, sizeof cut.key, "refund/%s", o.order_id);
    cut.armed = true;
    assert_true(term_run_script(&f->t, 300));
    assert_true(evt_sim_storage_is_cut(f->t.flash));
    assert_true(term_screen_seen(&f->t, "终端将自动冲正，请勿退还现金"));
    assert_int_equal(emu_balance_fen(&f->e, "employee"), before); /* the platform refunded */

    /* Power back on, the platform not answering 2601 for a while: the 2103 found in doubt at
     * start-up is owed a reversal and blocks a second refund. */
    assert_int_equal(emu_fault(&f->e, "2601", "close_before", NULL, 100), 0);
    restart(f, "cut", REFUND_BY_SCAN "不能退费 => OK\n");
    term_scan(&f->t, qr);
    assert_true(term_run_script(&f->t, 300));
    assert_true(term_screen_seen(&f->t, "该笔退费结果未知"));
    assert_int_equal(emu_handled_count(&f->e, "2103"), 1);
    assert_int_equal(emu_fault_clear(&f->e), 0);
    assert_int_equal(term_deliver_reversals(&f->t, 10), 0u);
    assert_int_equal(emu_count(&f->e, "reversals"), 1);
    assert_int_equal(emu_balance_fen(&f->e, "employee"), before - 1250); /* undone */

    restart(f, "cut", REFUND_FROM_LIST CONFIRM_WITH_PIN "退费成功 => OK\n");
    assert_true(term_run_script(&f->t, 300));
    assert_int_equal(emu_handled_count(&f->e, "2103"), 2);
    assert_int_equal(emu_balance_fen(&f->e, "employee"), before);
    settlement_cancelled_once(f, o.order_id);
}

/* The power goes after the refund's record said SETTLING but before the platform's pending
 * record of the 2103 was written: nothing was sent, and only the refund's record knows the
 * msgid. At start-up the reversal is owed from it (a 2601 the platform acknowledges for a msgid
 * it never saw), and the sale may then be refunded, once. */
static void power_cut_before_the_2103_left(void **state)
{
    fixture *f = *state;
    refund_cut cut = {.f = f, .key = "pend/", .nth = 1};
    term_options opt = {
        .keys = SALE_KEYS REFUND_FROM_LIST CONFIRM_WITH_PIN "退费失败 => OK\n",
        .extra_config = pin_line,
        .keys_no_wait = true,
        .write_tap = cut_at_key,
        .write_tap_arg = &cut,
    };
    assert_int_equal(term_start(&f->t, &f->e, "cutpend", &opt), 0);
    int64_t before = emu_balance_fen(&f->e, "employee");
    evt_order o;
    evt_ecr_result r;
    sale(f, "employee", NULL, AMOXICILLIN, "阿莫西林胶囊", 2, 1250, &o, &r);
    cut.armed = true;
    assert_true(term_run_script(&f->t, 300));
    assert_true(evt_sim_storage_is_cut(f->t.flash));
    assert_true(term_screen_seen(&f->t, "未退费，原结算仍有效"));
    assert_int_equal(emu_handled_count(&f->e, "2103"), 0);

    restart(f, "cutpend", REFUND_FROM_LIST CONFIRM_WITH_PIN "退费成功 => OK\n");
    assert_int_equal(term_deliver_reversals(&f->t, 10), 0u);
    assert_int_equal(emu_handled_count(&f->e, "2601"), 1);
    assert_true(term_run_script(&f->t, 300));
    assert_int_equal(emu_handled_count(&f->e, "2103"), 1);
    assert_int_equal(emu_balance_fen(&f->e, "employee"), before);
    settlement_cancelled_once(f, o.order_id);
}

/* ---- reprints ----------------------------------------------------------------------------- */

static const char *const printed_labels[] = {
    "姓名",         "证件号码",       "险种",         "参保地",
    "医疗费总额",   "基金支付",       "个人账户支付", "共济支付（亲属账户）",
    "个人现金支付", "结算后账户余额", "报文ID",       "结算时间",
};

/* After a power-off, any receipt of the day prints again from the journal: an earlier sale's
 * (its figures and QR as on the original, the items said to be on it) and a refund's. */
static void reprint_of_an_earlier_receipt_after_a_restart(void **state)
{
    fixture *f = *state;
    start(f, "reprint", SALE_KEYS SALE_KEYS REFUND_FROM_LIST CONFIRM_WITH_PIN "退费成功 => OK\n",
          false);
    evt_order a, b;
    evt_ecr_result ra, rb;
    sale(f, "stranger", NULL, AMOXICILLIN, "阿莫西林胶囊", 2, 1250, &a, &ra);
    char qr_a[EVT_RECEIPT_REF_MAX], qr_refund[EVT_RECEIPT_REF_MAX], qr[EVT_RECEIPT_REF_MAX];
    char *original = last_receipt(f, qr_a, sizeof qr_a);
    assert_non_null(strstr(original, "阿莫西林胶囊"));
    sale(f, "employee", NULL, AMLODIPINE, "苯磺酸氨氯地平片", 1, 2800, &b, &rb);
    assert_true(term_run_script(&f->t, 300)); /* refunds the newest: b */
    free(last_receipt(f, qr_refund, sizeof qr_refund));
    assert_int_equal(term_receipts(&f->t), 3);

    /* Newest first: b's refund, b, a. */
    restart(f, "reprint",
            "就绪 => MENU\n功能菜单 => TYPE:2\n补打：选择今日结算单 => TYPE:3\n结算单已补打 => OK\n"
            "就绪 => MENU\n功能菜单 => TYPE:2\n补打：选择今日结算单 => TYPE:1\n"
            "结算单已补打 => OK\n");
    assert_true(term_run_script(&f->t, 300));
    assert_int_equal(term_receipts(&f->t), 5);
    assert_true(term_screen_seen(&f->t, "退费 张*国 28.00元"));
    assert_true(term_screen_seen(&f->t, "结算 张*国 28.00元"));
    assert_true(term_screen_seen(&f->t, "结算 王*华 25.00元"));

    /* a's copy: the figures and the QR of the original, the items said to be on it. */
    char *copy = copy_of(f, ra.msgid, qr, sizeof qr);
    assert_string_equal(qr, qr_a);
    assert_non_null(strstr(copy, "医保结算单\n"));
    assert_non_null(strstr(copy, "** 重打印 **\n"));
    assert_non_null(strstr(copy, "药品明细见原结算单\n"));
    assert_null(strstr(copy, "阿莫西林胶囊"));
    for (size_t i = 0; i < sizeof printed_labels / sizeof printed_labels[0]; i++) {
        char was[128], now[128];
        line_of(original, printed_labels[i], was, sizeof was);
        line_of(copy, printed_labels[i], now, sizeof now);
        assert_true(was[0] != '\0');
        assert_string_equal(now, was);
    }
    assert_non_null(strstr(copy, ra.setl_id));
    free(copy);
    free(original);

    /* The refund's copy. */
    evt_receipt_ref refund;
    assert_int_equal(evt_receipt_ref_parse(qr_refund, strlen(qr_refund), &refund), EVT_OK);
    copy = copy_of(f, refund.msgid, qr, sizeof qr);
    assert_string_equal(qr, qr_refund);
    assert_non_null(strstr(copy, "** 退费 **\n"));
    assert_non_null(strstr(copy, "** 重打印 **\n"));
    assert_true(has_pair(copy, "退费总额", "28.00"));
    assert_true(has_pair(copy, "共济退回亲属账户", "0.00"));
    assert_non_null(strstr(copy, rb.setl_id)); /* 原结算ID */
    free(copy);
    assert_int_equal(emu_count(&f->e, "settlements"), 2);
}

/* A day longer than a page: the list shows the newest eight and 9 for the next page, which
 * holds the rest; the oldest receipt of the day is reached and printed again. */
static void reprint_list_pages_through_the_day(void **state)
{
    fixture *f = *state;
    enum { SALES = 10 };
    static char keys[SALES * sizeof SALE_KEYS + 256];
    keys[0] = '\0';
    for (int i = 0; i < SALES; i++) {
        strcat(keys, SALE_KEYS);
    }
    strcat(keys, "就绪 => MENU\n功能菜单 => TYPE:2\n补打：选择今日结算单 => TYPE:9\n"
                 "补打：选择今日结算单 => TYPE:2\n结算单已补打 => OK\n");
    term_options opt = {.keys = keys, .keys_no_wait = true, .no_receipt_preview = true};
    assert_int_equal(term_start(&f->t, &f->e, "pages", &opt), 0);
    char first_qr[EVT_RECEIPT_REF_MAX], qr[EVT_RECEIPT_REF_MAX];
    evt_ecr_result first;
    for (int i = 0; i < SALES; i++) {
        evt_order o;
        evt_ecr_result r;
        sale(f, "stranger", NULL, AMOXICILLIN, "阿莫西林胶囊", 1, 100 + i, &o, &r);
        if (i == 0) {
            first = r;
            free(last_receipt(f, first_qr, sizeof first_qr));
        }
    }
    assert_true(term_run_script(&f->t, 300));
    assert_true(term_screen_seen(&f->t, "9 下一页"));
    assert_true(term_screen_seen(&f->t, "王*华 1.09元")); /* the newest, on page one */
    assert_true(term_screen_seen(&f->t, "王*华 1.00元")); /* the oldest, on page two */
    char *copy = copy_of(f, first.msgid, qr, sizeof qr);
    assert_string_equal(qr, first_qr);
    assert_true(has_pair(copy, "医疗费总额", "1.00"));
    free(copy);
    assert_int_equal(term_receipts(&f->t), SALES + 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(refund_of_own_account_sale_restores_the_account, setup,
                                        it_teardown),
        cmocka_unit_test_setup_teardown(refund_of_mutual_aid_sale_by_scanning_its_receipt, setup,
                                        it_teardown),
        cmocka_unit_test_setup_teardown(refund_twice_is_refused_with_the_date, setup, it_teardown),
        cmocka_unit_test_setup_teardown(mutual_aid_sale_refunded_from_the_pos, setup, it_teardown),
        cmocka_unit_test_setup_teardown(wrong_supervisor_pin_refunds_nothing, setup, it_teardown),
        cmocka_unit_test_setup_teardown(supervisor_operator_authorises_refund, setup, it_teardown),
        cmocka_unit_test_setup_teardown(refund_whose_answer_is_lost_ends_reversed, setup,
                                        it_teardown),
        cmocka_unit_test_setup_teardown(refund_refused_or_unusable_moves_no_money, setup,
                                        it_teardown),
        cmocka_unit_test_setup_teardown(refund_in_doubt_is_not_refunded_again_until_reversed, setup,
                                        it_teardown),
        cmocka_unit_test_setup_teardown(power_cut_after_the_platform_refunded, setup, it_teardown),
        cmocka_unit_test_setup_teardown(power_cut_before_the_2103_left, setup, it_teardown),
        cmocka_unit_test_setup_teardown(reprint_of_an_earlier_receipt_after_a_restart, setup,
                                        it_teardown),
        cmocka_unit_test_setup_teardown(reprint_list_pages_through_the_day, setup, it_teardown),
    };
    if (getenv("EVT_TEST_FILTER") != NULL) {
        cmocka_set_test_filter(getenv("EVT_TEST_FILTER"));
    }
    return cmocka_run_group_tests_name("integration.refund", tests, NULL, NULL);
}
