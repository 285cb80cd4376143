/*
 * The outpatient visit (门诊, 2201-2207) end to end: the terminal's real drivers and firmware
 * against the platform emulator over real TLS on loopback, the cashier a key script, the fee
 * lines handed over batch by batch as the HIS sends them, every amount checked to the fen and
 * the ledger read back with platform-emu's own commands.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evt/arena.h"
#include "evt/journal.h"
#include "evt/receipt.h"
#include "ecr_pos.h"
#include "harness.h"

#define CONSULT      "001102000010000"         /* 甲, ceiling 10.00 */
#define BLOOD        "250101001000000"         /* 甲, ceiling 20.00 */
#define HBA1C        "250302002000000"         /* 乙 */
#define METFORMIN    "XA10BAA030A001010300582" /* 甲 */
#define UNLISTED     "XA11GAV003A001010100777" /* 丙: not in the catalogue */
#define Y(yuan, fen) ((evt_fen)(yuan)*100 + (fen))

#define VISIT_KEYS "请核对患者身份 => OK\n请确认结算金额 => OK\n结算成功 => OK\n"

typedef it_fixture fixture;

typedef struct fee {
    const char *code;
    uint32_t qty;
    evt_fen price;
} fee;

/* The HIS's side: the visit's lines handed over in batches of at most batch_max, counting
 * what it was asked for. */
typedef struct his {
    const fee *lines;
    size_t count; /* distinct lines; repeated to reach total */
    size_t total; /* lines of the visit */
    size_t sent;  /* handed over so far */
    size_t batch_max;
    unsigned batches;
    size_t arena_at[4]; /* arena in use as batches 1..3 were handed over */
    term *cut;          /* power cut as the second batch is handed over (NULL: none) */
} his;

static evt_err his_next(void *ctx, evt_order *batch, bool *last)
{
    his *h = ctx;
    size_t n = h->total - h->sent < h->batch_max ? h->total - h->sent : h->batch_max;
    for (size_t i = 0; i < n; i++) {
        const fee *f = &h->lines[(h->sent + i) % h->count];
        char medins[32];
        snprintf(medins, sizeof medins, "H-%s", f->code);
        evt_err err = evt_order_add_item(batch, f->code, medins, "费用", f->qty, f->price);
        if (err != EVT_OK) {
            return err;
        }
    }
    h->sent += n;
    h->batches++;
    *last = h->sent == h->total;
    if (h->batches < 4) {
        evt_arena_stats st;
        evt_arena_get_stats(&st);
        h->arena_at[h->batches] = st.in_use;
    }
    if (h->batches == 2 && h->cut != NULL) {
        evt_sim_storage_inject_power_cut(h->cut->flash, 0, EVT_SIM_CUT_PREFIX, 0);
    }
    return EVT_OK;
}

static void visit_make(evt_visit *v, const char *id, const char *otp, const char *med_type,
                       const char *dise, size_t lines, evt_fen total)
{
    memset(v, 0, sizeof *v);
    snprintf(v->visit_id, sizeof v->visit_id, "%s", id);
    snprintf(v->ipt_otp_no, sizeof v->ipt_otp_no, "%s", otp);
    snprintf(v->med_type, sizeof v->med_type, "%s", med_type);
    snprintf(v->dise_codg, sizeof v->dise_codg, "%s", dise);
    snprintf(v->dise_name, sizeof v->dise_name, "%s", dise[0] ? "慢性病" : "");
    snprintf(v->dept_code, sizeof v->dept_code, "A03");
    snprintf(v->dept_name, sizeof v->dept_name, "内科");
    snprintf(v->atddr_no, sizeof v->atddr_no, "D001");
    snprintf(v->dr_name, sizeof v->dr_name, "刘医生");
    snprintf(v->caty, sizeof v->caty, "A03");
    v->use_personal_account = true;
    v->line_count = (uint32_t)lines;
    v->total = total;
}

static void start(fixture *f, const char *keys, const term_options *more)
{
    term_options opt = {.keys = keys, .keys_no_wait = true};
    if (more != NULL) {
        opt = *more;
    }
    assert_int_equal(term_start(&f->t, &f->e, "clinic", &opt), 0);
}

static void show_code(fixture *f, const char *person)
{
    char code[128];
    assert_int_equal(emu_code(&f->e, person, NULL, 120, code, sizeof code), 0);
    term_scan(&f->t, code);
}

static void assert_split(const evt_ecr_result *r, evt_fen total, evt_fen fund, evt_fen acct,
                         evt_fen mulaid, evt_fen cash)
{
    assert_int_equal(r->status, EVT_ECR_SETTLED);
    assert_int_equal(r->total, total);
    assert_int_equal(r->fund, fund);
    assert_int_equal(r->account, acct);
    assert_int_equal(r->mutual_aid, mulaid);
    assert_int_equal(r->cash, cash);
    assert_int_equal(fund + acct + mulaid + cash, total);
}

/* 甲 over its ceiling, 甲, 乙, 丙 in one visit: the split and the per-line answer to the fen. */
static void general_visit_with_mixed_classes(void **state)
{
    fixture *f = *state;
    start(f,
          VISIT_KEYS "就绪 => MENU\n功能菜单 => TYPE:2\n补打：选择今日结算单 => TYPE:1\n"
                     "结算单已补打 => OK\n",
          NULL);
    const fee lines[] = {
        {CONSULT, 1, Y(15, 0)},   /* ceiling 10.00: 5.00 over the limit */
        {BLOOD, 1, Y(18, 0)},     /* 甲 within */
        {HBA1C, 1, Y(60, 0)},     /* 乙: 6.00 first self-paid */
        {UNLISTED, 2, Y(12, 50)}, /* 丙: 25.00 all self-paid */
    };
    his h = {.lines = lines, .count = 4, .total = 4, .batch_max = 100};
    evt_visit v;
    visit_make(&v, "V-MIXED-1", "MZ1001", "11", "", 4, Y(118, 0));
    show_code(f, "employee");
    evt_ecr_result r;
    assert_int_equal(evt_app_visit(f->t.app, &v, his_next, &h, &r), EVT_OK);
    /* scope 10 + 18 + 54 = 82.00, fund 50 % = 41.00; the rest from the own account */
    assert_split(&r, Y(118, 0), Y(41, 0), Y(77, 0), 0, 0);
    assert_true(term_screen_seen(&f->t, "甲类 2 项  乙类 1 项  丙类 1 项"));
    assert_true(term_screen_seen(&f->t, "乙类先行自付：6.00 元"));
    assert_true(term_screen_seen(&f->t, "丙类全自费：25.00 元"));
    assert_true(term_screen_seen(&f->t, "超限价自付：5.00 元"));
    assert_int_equal(emu_balance_fen(&f->e, "employee"), Y(2923, 0));
    assert_int_equal(emu_count(&f->e, "live_settlements"), 1);
    assert_int_equal(emu_count(&f->e, "live_amount"), Y(118, 0));
    assert_int_equal(emu_count(&f->e, "open_visits"), 1); /* settled visits stay registered */
    assert_int_equal(emu_handled_count(&f->e, "2202"), 0);

    /* The 门诊结算单: title, the visit's id, amounts, masked name, the reference QR. */
    char *text = NULL, qr[EVT_RECEIPT_REF_MAX];
    assert_int_equal(term_receipt(&f->t, NULL, &text, qr, sizeof qr), 0);
    assert_non_null(strstr(text, "门诊结算单"));
    assert_non_null(strstr(text, "就诊ID"));
    assert_non_null(strstr(text, "费用明细见医院收费清单"));
    assert_non_null(strstr(text, "张*国"));
    assert_null(strstr(text, "张建国"));
    assert_non_null(strstr(text, "118.00"));
    assert_non_null(strstr(text, "41.00"));
    assert_non_null(strstr(text, "77.00"));
    assert_int_equal(strncmp(qr, "EVTS1|", 6), 0);
    assert_non_null(strstr(qr, r.setl_id));
    free(text);

    /* The same visit id again: the stored result, no second settlement. */
    evt_ecr_result again;
    h.sent = 0;
    assert_int_equal(evt_app_visit(f->t.app, &v, his_next, &h, &again), EVT_OK);
    assert_int_equal(again.status, EVT_ECR_SETTLED);
    assert_string_equal(again.setl_id, r.setl_id);
    assert_int_equal(emu_handled_count(&f->e, "2207"), 1);

    /* [功能] → 补打: the visit is listed as 门诊 and its receipt printed again, the same. */
    assert_true(term_run_script(&f->t, 300));
    assert_true(term_screen_seen(&f->t, "门诊 张*国 118.00元 V-MIXED-1"));
    char path[PATH_MAX], qr2[EVT_RECEIPT_REF_MAX];
    snprintf(path, sizeof path, "%s/%s-2.bin", f->t.print_dir, r.msgid);
    assert_int_equal(term_receipt(&f->t, path, &text, qr2, sizeof qr2), 0);
    assert_non_null(strstr(text, "门诊结算单"));
    assert_non_null(strstr(text, "重打印"));
    assert_non_null(strstr(text, "77.00"));
    assert_string_equal(qr2, qr);
    free(text);
}

/* 300 lines: three batches of 100, the terminal's memory the same after the first batch as at
 * the end, the ledger holding every line once. */
static void visit_of_300_lines_in_batches(void **state)
{
    fixture *f = *state;
    start(f, VISIT_KEYS, NULL);
    const fee lines[] = {{BLOOD, 1, Y(1, 0)}, {HBA1C, 1, Y(2, 0)}, {UNLISTED, 1, Y(0, 50)}};
    his h = {.lines = lines, .count = 3, .total = 300, .batch_max = 100};
    evt_visit v;
    visit_make(&v, "V-300", "MZ1300", "11", "", 300, Y(350, 0));
    show_code(f, "employee");
    evt_ecr_result r;
    assert_int_equal(evt_app_visit(f->t.app, &v, his_next, &h, &r), EVT_OK);
    assert_int_equal(h.batches, 3u);
    /* Memory does not grow with the visit: the same arena in use at every batch. */
    assert_int_equal(h.arena_at[2], h.arena_at[1]);
    assert_int_equal(h.arena_at[3], h.arena_at[1]);
    assert_int_equal(emu_handled_count(&f->e, "2204"), 3);
    assert_int_equal(emu_count(&f->e, "live_fee_lines"), 300);
    /* 100 × 1.00 甲 + 100 × 2.00 乙 (0.20 first self-paid each) + 100 × 0.50 丙:
     * scope 100 + 180 = 280.00, fund 50 % = 140.00 */
    assert_split(&r, Y(350, 0), Y(140, 0), Y(210, 0), 0, 0);
    assert_true(term_screen_seen(&f->t, "已上传 300 / 300 项，合计 350.00 元"));
    assert_true(term_screen_seen(&f->t, "甲类 100 项  乙类 100 项  丙类 100 项"));
    assert_int_equal(emu_balance_fen(&f->e, "employee"), Y(2790, 0));

    /* Over the limit: refused with a clear message before a code is spent. */
    evt_visit big;
    visit_make(&big, "V-BIG", "MZ1301", "11", "", EVT_VISIT_MAX_LINES + 1, Y(9000, 0));
    assert_int_equal(evt_app_visit(f->t.app, &big, his_next, &h, &r), EVT_ERR_ORDER_TOO_LARGE);
    assert_non_null(strstr(r.message, "2000"));
    assert_int_equal(emu_handled_count(&f->e, "2201"), 1);
}

/* 门诊慢特病 (14) with the recognised disease: 70 % from the fund, the parent's account, then
 * 共济 from the employee's, then cash. */
static void chronic_visit(void **state)
{
    fixture *f = *state;
    start(f, VISIT_KEYS, NULL);
    const fee lines[] = {{METFORMIN, 5, Y(20, 0)}, {HBA1C, 1, Y(60, 0)}};
    his h = {.lines = lines, .count = 2, .total = 2, .batch_max = 100};
    evt_visit v;
    visit_make(&v, "V-CHRONIC", "MZ1014", "14", "E11.900", 2, Y(160, 0));
    show_code(f, "parent");
    evt_ecr_result r;
    assert_int_equal(evt_app_visit(f->t.app, &v, his_next, &h, &r), EVT_OK);
    /* scope 154.00, fund 70 % = 107.80; own account 35.20, 共济 11.00, cash 6.00 */
    assert_split(&r, Y(160, 0), Y(107, 80), Y(35, 20), Y(11, 0), Y(6, 0));
    assert_int_equal(emu_balance_fen(&f->e, "parent"), 0);
    assert_int_equal(emu_balance_fen(&f->e, "employee"), Y(2989, 0));
}

/* The cashier does not confirm the split: the registration is undone (2202), nothing settled,
 * no line left live, and the visit may come again. */
static void abandoned_visit_is_unregistered(void **state)
{
    fixture *f = *state;
    start(f, "请核对患者身份 => OK\n请确认结算金额 => CANCEL\n", NULL);
    const fee lines[] = {{BLOOD, 1, Y(18, 0)}};
    his h = {.lines = lines, .count = 1, .total = 1, .batch_max = 100};
    evt_visit v;
    visit_make(&v, "V-GONE", "MZ1202", "11", "", 1, Y(18, 0));
    show_code(f, "employee");
    evt_ecr_result r;
    assert_int_equal(evt_app_visit(f->t.app, &v, his_next, &h, &r), EVT_ERR_CANCELLED);
    assert_int_equal(r.status, EVT_ECR_REFUSED);
    assert_int_equal(emu_handled_count(&f->e, "2202"), 1);
    assert_int_equal(emu_count(&f->e, "cancelled_visits"), 1);
    assert_int_equal(emu_count(&f->e, "open_visits"), 0);
    assert_int_equal(emu_count(&f->e, "live_fee_lines"), 0);
    assert_int_equal(emu_count(&f->e, "settlements"), 0);
    assert_int_equal(emu_balance_fen(&f->e, "employee"), Y(3000, 0));

    /* The HIS sends the visit again (a new outpatient number): it settles. */
    term_stop(&f->t);
    term_options opt = {.keys = VISIT_KEYS, .keys_no_wait = true, .reuse_flash = true};
    start(f, NULL, &opt);
    snprintf(v.ipt_otp_no, sizeof v.ipt_otp_no, "MZ1203");
    h.sent = 0;
    show_code(f, "employee");
    assert_int_equal(evt_app_visit(f->t.app, &v, his_next, &h, &r), EVT_OK);
    assert_split(&r, Y(18, 0), Y(9, 0), Y(9, 0), 0, 0);
}

/* The first batch's 2204 is processed but its answer cut: the lines may be stored, so the batch
 * is undone (2205) and sent again — the platform then holds each line once, and the visit
 * settles to the fen. */
static void lost_fee_answer_undone_and_sent_again(void **state)
{
    fixture *f = *state;
    start(f, VISIT_KEYS, NULL);
    const fee lines[] = {{BLOOD, 1, Y(1, 0)}, {HBA1C, 1, Y(2, 0)}, {UNLISTED, 1, Y(0, 50)}};
    his h = {.lines = lines, .count = 3, .total = 150, .batch_max = 100};
    evt_visit v;
    visit_make(&v, "V-2205", "MZ1205", "11", "", 150, Y(175, 0));
    assert_int_equal(emu_fault(&f->e, "2204", "close_mid", NULL, 1), 0);
    show_code(f, "employee");
    evt_ecr_result r;
    assert_int_equal(evt_app_visit(f->t.app, &v, his_next, &h, &r), EVT_OK);
    assert_int_equal(emu_handled_count(&f->e, "2205"), 1);
    assert_int_equal(emu_handled_count(&f->e, "2204"), 3); /* the cut one, again, the second */
    assert_int_equal(emu_count(&f->e, "live_fee_lines"), 150);
    /* 50 × 1.00 甲 + 50 × 2.00 乙 (0.20 first self-paid each) + 50 × 0.50 丙:
     * scope 50 + 90 = 140.00, fund 50 % = 70.00 */
    assert_split(&r, Y(175, 0), Y(70, 0), Y(105, 0), 0, 0);
    assert_int_equal(emu_count(&f->e, "live_amount"), Y(175, 0));
}

/* The power goes as the second batch is handed over: the terminal cannot write its journal any
 * more (every request's msgid is journalled first, so nothing more leaves). At the next start
 * the open visit is found in the journal and its registration undone (2202): the first batch's
 * lines die with it, nothing settled. */
static void power_cut_during_the_fee_lines_undone_at_start(void **state)
{
    fixture *f = *state;
    start(f, "请核对患者身份 => OK\n费用明细上传失败 => OK\n", NULL);
    const fee lines[] = {{BLOOD, 1, Y(1, 0)}};
    his h = {.lines = lines, .count = 1, .total = 150, .batch_max = 100, .cut = &f->t};
    evt_visit v;
    visit_make(&v, "V-CUT", "MZ1500", "11", "", 150, Y(150, 0));
    show_code(f, "employee");
    evt_ecr_result r;
    assert_int_not_equal(evt_app_visit(f->t.app, &v, his_next, &h, &r), EVT_OK);
    assert_true(evt_sim_storage_is_cut(f->t.flash));
    assert_int_equal(emu_handled_count(&f->e, "2204"), 1);
    assert_int_equal(emu_count(&f->e, "live_fee_lines"), 100); /* the first batch */
    assert_int_equal(emu_handled_count(&f->e, "2202"), 0);     /* it could not be sent */

    term_stop(&f->t);
    term_options opt = {.keys = "", .keys_no_wait = true, .reuse_flash = true};
    start(f, NULL, &opt);
    assert_int_equal(emu_handled_count(&f->e, "2202"), 1);
    assert_int_equal(emu_count(&f->e, "cancelled_visits"), 1);
    assert_int_equal(emu_count(&f->e, "live_fee_lines"), 0);
    assert_int_equal(emu_count(&f->e, "settlements"), 0);
    assert_int_equal(emu_balance_fen(&f->e, "employee"), Y(3000, 0));
}

/* Cuts the power at the nth write of a journal record whose key starts with key (the record
 * torn: the journal programs the key's bytes on their own). */
typedef struct key_cut {
    fixture *f;
    char key[64];
    unsigned nth, seen;
} key_cut;

static void cut_at_key(void *arg, uint64_t offset, const uint8_t *data, size_t len)
{
    (void)offset;
    key_cut *c = arg;
    size_t klen = strlen(c->key);
    if (len >= klen && len <= EVT_JOURNAL_KEY_MAX && memcmp(data, c->key, klen) == 0 &&
        ++c->seen == c->nth) {
        evt_sim_storage_inject_power_cut(c->f->t.flash, 0, EVT_SIM_CUT_PREFIX, 0);
    }
}

/* The power goes as the terminal records that the 2207 settled (its record's second write; the
 * first said SETTLING before the 2207 left): the platform settled, the terminal cannot know.
 * At the next start the 2207 is in doubt: reversed (2601), then the visit undone (2202) — the
 * ledger holds no money of it, the patient's account is whole. */
static void power_cut_as_the_settlement_is_recorded(void **state)
{
    fixture *f = *state;
    key_cut cut = {.f = f, .key = "visit/V-SETTLE-CUT", .nth = 2};
    term_options opt = {
        .keys = "请核对患者身份 => OK\n请确认结算金额 => OK\n结算结果未知 => OK\n",
        .keys_no_wait = true,
        .write_tap = cut_at_key,
        .write_tap_arg = &cut,
    };
    start(f, NULL, &opt);
    const fee lines[] = {{BLOOD, 1, Y(18, 0)}};
    his h = {.lines = lines, .count = 1, .total = 1, .batch_max = 100};
    evt_visit v;
    visit_make(&v, "V-SETTLE-CUT", "MZ1600", "11", "", 1, Y(18, 0));
    show_code(f, "employee");
    evt_ecr_result r;
    evt_app_visit(f->t.app, &v, his_next, &h, &r);
    assert_true(evt_sim_storage_is_cut(f->t.flash));
    assert_int_equal(emu_count(&f->e, "live_settlements"), 1); /* the platform settled */
    assert_int_equal(emu_balance_fen(&f->e, "employee"), Y(2991, 0));

    term_stop(&f->t);
    term_options again = {.keys = "", .keys_no_wait = true, .reuse_flash = true};
    start(f, NULL, &again);
    assert_int_equal(term_deliver_reversals(&f->t, 10), 0u);
    assert_int_equal(emu_count(&f->e, "reversals"), 1);
    assert_int_equal(emu_count(&f->e, "live_settlements"), 0);
    assert_int_equal(emu_balance_fen(&f->e, "employee"), Y(3000, 0));
    assert_int_equal(emu_handled_count(&f->e, "2207"), 1); /* never sent again */
    /* The registration is undone at start-up once the reversal is through, or before the next
     * visit at the latest. */
    if (emu_handled_count(&f->e, "2202") == 0) {
        evt_ecr_result none;
        evt_visit other;
        visit_make(&other, "V-NEXT", "MZ1601", "11", "", 1, Y(18, 0));
        h.sent = 0;
        evt_app_visit(f->t.app, &other, his_next, &h, &none);
    }
    assert_int_equal(emu_handled_count(&f->e, "2202"), 1);
    assert_int_equal(emu_count(&f->e, "cancelled_visits"), 1);
}

/* ---- the visit from the HIS over the ECR link ---------------------------------------------- */

/* ---- the refund of a settled visit (2208) --------------------------------------------- */

#define PIN "246810"
/* From the idle screen: [功能] → 5 退费 from today's list → the newest. */
#define REFUND_FROM_LIST "就绪 => MENU\n功能菜单 => TYPE:5\n退费：选择今日交易 => TYPE:1\n"
/* From the idle screen: [功能] → 4 退费 by the receipt's QR (the code is already waiting). */
#define REFUND_BY_SCAN        "就绪 => MENU\n功能菜单 => TYPE:4\n"
#define CONFIRM_WITH_PIN      "请确认退费 => OK\n主管密码 => DIGITS:" PIN "\n"
#define REFUND_FROM_LIST_NONE "就绪 => MENU\n功能菜单 => TYPE:5\n今日没有可退费的交易 => OK\n"

/* A terminal with the supervisor's PIN; then the chronic visit of `parent` (共济 from
 * `employee`), settled: 160.00 = fund 107.80 + own account 35.20 + 共济 11.00 + cash 6.00. */
static char pin_line[256];

static void settled_chronic_visit(fixture *f, const term_options *more, const char *visit_id,
                                  const char *otp, evt_ecr_result *r)
{
    if (pin_line[0] == '\0') {
        supervisor_pin_line(PIN, pin_line, sizeof pin_line);
    }
    static char extra[512];
    snprintf(extra, sizeof extra, "%s%s", pin_line,
             more->extra_config != NULL ? more->extra_config : "");
    term_options opt = *more;
    opt.extra_config = extra;
    opt.keys_no_wait = true;
    start(f, NULL, &opt);
    const fee lines[] = {{METFORMIN, 5, Y(20, 0)}, {HBA1C, 1, Y(60, 0)}};
    his h = {.lines = lines, .count = 2, .total = 2, .batch_max = 100};
    evt_visit v;
    visit_make(&v, visit_id, otp, "14", "E11.900", 2, Y(160, 0));
    show_code(f, "parent");
    assert_int_equal(evt_app_visit(f->t.app, &v, his_next, &h, r), EVT_OK);
    assert_split(r, Y(160, 0), Y(107, 80), Y(35, 20), Y(11, 0), Y(6, 0));
    assert_int_equal(emu_balance_fen(&f->e, "parent"), 0);
    assert_int_equal(emu_balance_fen(&f->e, "employee"), Y(2989, 0));
}

/* The ledger holds the visit's settlement cancelled, nothing of it live, both accounts back to
 * the fen, the registration standing (2208 alone: docs/protocol-decisions.md). entries: the
 * cancelling entries the ledger holds (a reversed one stays, undone). */
static void visit_refunded_once(fixture *f, int entries)
{
    assert_int_equal(emu_balance_fen(&f->e, "parent"), Y(35, 20));
    assert_int_equal(emu_balance_fen(&f->e, "employee"), Y(3000, 0));
    assert_int_equal(emu_count(&f->e, "cancellations"), entries);
    assert_int_equal(emu_count(&f->e, "live_settlements"), 0);
    assert_int_equal(emu_count(&f->e, "live_amount"), 0);
    assert_int_equal(emu_handled_count(&f->e, "2202"), 0);
    assert_int_equal(emu_count(&f->e, "open_visits"), 1);
}

/* From today's list (the visit shown as 门诊): the refund screen says where each part goes,
 * the supervisor authorises, the 2208 gives both accounts back, the 医保退费单 (门诊) prints. */
static void visit_refunded_from_the_list(void **state)
{
    fixture *f = *state;
    evt_ecr_result r;
    settled_chronic_visit(
        f, &(term_options){.keys = VISIT_KEYS REFUND_FROM_LIST CONFIRM_WITH_PIN "退费成功 => OK\n"},
        "V-REFUND-1", "MZ2208", &r);
    char *text = NULL, qr[EVT_RECEIPT_REF_MAX];
    assert_int_equal(term_receipt(&f->t, NULL, &text, qr, sizeof qr), 0);
    assert_non_null(strstr(text, "退费、补打凭此码办理\n")); /* the 门诊结算单's QR hint */
    assert_null(strstr(text, "门诊结算凭证"));
    free(text);

    assert_true(term_run_script(&f->t, 400));
    visit_refunded_once(f, 1);
    assert_int_equal(emu_handled_count(&f->e, "2208"), 1);
    assert_int_equal(emu_handled_count(&f->e, "2103"), 0);
    assert_true(term_screen_seen(&f->t, "门诊 李*英 160.00元 V-REFUND-1"));
    assert_true(term_screen_seen(&f->t, "退费总额：160.00 元"));
    assert_true(term_screen_seen(&f->t, "退回医保基金：107.80 元"));
    assert_true(term_screen_seen(&f->t, "退回本人个人账户：35.20 元"));
    assert_true(term_screen_seen(&f->t, "退回亲属账户（共济）：11.00 元"));
    assert_true(term_screen_seen(&f->t, "请退还顾客现金：6.00 元"));

    assert_int_equal(term_receipts(&f->t), 2);
    assert_int_equal(term_receipt(&f->t, NULL, &text, qr, sizeof qr), 0);
    assert_non_null(strstr(text, "医保退费单\n"));
    assert_non_null(strstr(text, "** 门诊退费 **\n"));
    assert_non_null(strstr(text, "全单退费，费用明细见医院收费清单"));
    assert_non_null(strstr(text, "就诊ID"));
    assert_non_null(strstr(text, r.setl_id)); /* 原结算ID */
    assert_non_null(strstr(text, "160.00"));
    assert_non_null(strstr(text, "107.80"));
    assert_non_null(strstr(text, "35.20"));
    assert_non_null(strstr(text, "11.00"));
    assert_non_null(strstr(text, "6.00"));
    assert_non_null(strstr(text, "退费凭证，补打凭此码办理"));
    assert_null(strstr(text, "李建英"));
    free(text);
}

/* By the 门诊结算单's QR; the second time refused with the date of the first, by the QR and in
 * the list alike; one 2208. */
static void visit_refund_twice_is_refused_with_the_date(void **state)
{
    fixture *f = *state;
    evt_ecr_result r;
    settled_chronic_visit(
        f,
        &(term_options){.keys = VISIT_KEYS REFUND_BY_SCAN CONFIRM_WITH_PIN
                        "退费成功 => OK\n" REFUND_BY_SCAN "不能退费 => OK\n"
                        "就绪 => MENU\n功能菜单 => TYPE:5\n今日没有可退费的交易 => OK\n"},
        "V-REFUND-2", "MZ2209", &r);
    char *text = NULL, qr[EVT_RECEIPT_REF_MAX];
    assert_int_equal(term_receipt(&f->t, NULL, &text, qr, sizeof qr), 0);
    free(text);
    term_scan(&f->t, qr);
    term_scan(&f->t, qr);
    assert_true(term_run_script(&f->t, 400));
    visit_refunded_once(f, 1);
    assert_int_equal(emu_handled_count(&f->e, "2208"), 1);
    assert_true(term_screen_seen(&f->t, "该笔结算已退费，不能重复退费"));
    assert_true(term_screen_seen(&f->t, "已于 "));
    assert_true(term_screen_seen(&f->t, "今日没有可退费的交易"));
    assert_int_equal(term_receipts(&f->t), 2);
}

/* The 2208's answer is lost after the platform refunded: reversed at once (2601 of the 2208),
 * the visit's settlement stands again, nothing handed back; done again, it refunds once. */
static void visit_refund_whose_answer_is_lost_ends_reversed(void **state)
{
    fixture *f = *state;
    evt_ecr_result r;
    settled_chronic_visit(f,
                          &(term_options){.keys = VISIT_KEYS REFUND_FROM_LIST CONFIRM_WITH_PIN
                                          "退费未完成 => OK\n" REFUND_FROM_LIST CONFIRM_WITH_PIN
                                          "退费成功 => OK\n"},
                          "V-REFUND-3", "MZ2210", &r);
    assert_int_equal(emu_fault(&f->e, "2208", "close_mid", NULL, 1), 0);
    assert_true(term_run_script(&f->t, 400));
    assert_true(term_screen_seen(&f->t, "已冲正，未退费；可重新办理"));
    assert_int_equal(emu_handled_count(&f->e, "2208"), 2);
    assert_int_equal(emu_handled_count(&f->e, "2601"), 1);
    assert_int_equal(emu_count(&f->e, "reversals"), 1); /* the first 2208, undone */
    visit_refunded_once(f, 2);
    evt_app_figures fig;
    evt_app_get_figures(f->t.app, &fig);
    assert_int_equal(fig.reversals_pending, 0);
    assert_int_equal(term_receipts(&f->t), 2); /* the visit's and the one refund's */
}

/* The power goes as the terminal records that the 2208 refunded (the refund record's second
 * write): the platform gave the money back, the terminal cannot know. At the next start the
 * 2208 is in doubt: reversed (2601 of the 2208), the visit's settlement stands again (nothing
 * was handed back); then the visit is refunded, once. */
static void visit_refund_in_doubt_at_start_up_is_reversed(void **state)
{
    fixture *f = *state;
    key_cut cut = {.f = f, .key = "vrefund/V-REFUND-4", .nth = 2};
    evt_ecr_result r;
    settled_chronic_visit(
        f,
        &(term_options){.keys = VISIT_KEYS REFUND_FROM_LIST CONFIRM_WITH_PIN "退费结果未知 => OK\n",
                        .write_tap = cut_at_key,
                        .write_tap_arg = &cut},
        "V-REFUND-4", "MZ2211", &r);
    assert_true(term_run_script(&f->t, 400));
    assert_true(evt_sim_storage_is_cut(f->t.flash));
    assert_int_equal(emu_handled_count(&f->e, "2208"), 1);
    assert_int_equal(emu_balance_fen(&f->e, "parent"), Y(35, 20)); /* the platform refunded */

    /* Power back on, the platform not answering 2601 for a while: the 2208 found in doubt at
     * start-up blocks a second refund (the visit is not in the list). */
    assert_int_equal(emu_fault(&f->e, "2601", "close_before", NULL, 100), 0);
    term_stop(&f->t);
    term_options opt = {.keys = REFUND_FROM_LIST_NONE,
                        .extra_config = pin_line,
                        .keys_no_wait = true,
                        .reuse_flash = true};
    start(f, NULL, &opt);
    assert_true(term_run_script(&f->t, 300));
    assert_true(term_screen_seen(&f->t, "今日没有可退费的交易"));
    assert_int_equal(emu_handled_count(&f->e, "2208"), 1);
    assert_int_equal(emu_fault_clear(&f->e), 0);
    assert_int_equal(term_deliver_reversals(&f->t, 10), 0u);
    assert_int_equal(emu_count(&f->e, "reversals"), 1);
    assert_int_equal(emu_balance_fen(&f->e, "parent"), 0); /* the refund undone */
    assert_int_equal(emu_balance_fen(&f->e, "employee"), Y(2989, 0));
    assert_int_equal(emu_count(&f->e, "live_amount"), Y(160, 0));

    term_stop(&f->t);
    opt.keys = REFUND_FROM_LIST CONFIRM_WITH_PIN "退费成功 => OK\n";
    start(f, NULL, &opt);
    assert_true(term_run_script(&f->t, 400));
    assert_int_equal(emu_handled_count(&f->e, "2208"), 2);
    visit_refunded_once(f, 2);
}

/* ---- the daily close of a day with a refunded visit -------------------------------------------
 */

#define CLOSE_KEYS "就绪 => MENU\n功能菜单 => TYPE:8\n日结 => OK\n"

/* A general visit (11) of one 甲 line within its ceiling: 18.00 = fund 9.00 + own account 9.00. */
static void blood_test_visit(fixture *f, const char *visit_id, const char *otp, const char *person)
{
    const fee lines[] = {{BLOOD, 1, Y(18, 0)}};
    his h = {.lines = lines, .count = 1, .total = 1, .batch_max = 100};
    evt_visit v;
    visit_make(&v, visit_id, otp, "11", "", 1, Y(18, 0));
    show_code(f, person);
    evt_ecr_result r;
    assert_int_equal(evt_app_visit(f->t.app, &v, his_next, &h, &r), EVT_OK);
    assert_split(&r, Y(18, 0), Y(9, 0), Y(9, 0), 0, 0);
}

/* A visit cancelled by its 2208 nets to nothing at the platform: the daily close leaves it out of
 * the clearing-type-11 totals (3201 of the visit that stands) and the day balances; the report
 * still counts both visits and the refund. When another terminal's visit makes the totals
 * differ, 3202 lists the cancelled visit flagged refunded, so the only difference is the
 * settlement this terminal never made. */
static void refunded_visit_left_out_of_the_close(void **state)
{
    fixture *f = *state;
    evt_ecr_result a;
    /* Visit A (chronic, 160.00) then visit B (18.00); A refunded from the list (B is newest). */
    settled_chronic_visit(f,
                          &(term_options){.keys = VISIT_KEYS VISIT_KEYS
                                          "就绪 => MENU\n功能菜单 => TYPE:5\n退费：选择今日交易 => "
                                          "TYPE:2\n" CONFIRM_WITH_PIN
                                          "退费成功 => OK\n" CLOSE_KEYS},
                          "V-CLOSE-A", "MZ3001", &a);
    blood_test_visit(f, "V-CLOSE-B", "MZ3002", "employee");
    assert_true(term_run_script(&f->t, 400));
    assert_int_equal(emu_handled_count(&f->e, "2208"), 1);
    assert_true(term_screen_seen(&f->t, "门诊 李*英 160.00元 V-CLOSE-A"));
    assert_int_equal(emu_count(&f->e, "live_settlements"), 1);

    assert_true(term_screen_seen(&f->t, "日结完成：对账一致"));
    assert_int_equal(emu_handled_count(&f->e, "3201"), 1); /* one group: 门诊 310/120100 */
    assert_int_equal(emu_handled_count(&f->e, "3202"), 0);
    assert_true(term_screen_seen(&f->t, "门诊结算 2 笔 178.00"));
    assert_true(term_screen_seen(&f->t, "退费 1 笔 160.00"));
    assert_true(term_screen_seen(&f->t, "门诊 险种/清算机构 310/120100"));
    char *text = term_close_report(&f->t);
    assert_non_null(strstr(text, "1笔 18.00 基金9.00 个账9.00")); /* B alone */
    /* The operator's line: both visits, the refund, net what stands (178.00 - 160.00). */
    assert_non_null(strstr(text, "销0 诊2 退1 18.00"));
    assert_non_null(strstr(text, "对账一致：平台结算1笔"));
    assert_non_null(strstr(text, "对账结果：一致，本日已结"));
    free(text);

    /* Another terminal of the institution settles a visit this one has no record of. */
    term_stop(&f->t);
    term_options other = {.keys = VISIT_KEYS, .keys_no_wait = true, .msgid_slot = 6};
    assert_int_equal(term_start(&f->t, &f->e, "clinic-2", &other), 0);
    blood_test_visit(f, "V-CLOSE-L", "MZ3003", "stranger");
    term_stop(&f->t);
    start(f, NULL, &(term_options){.keys = CLOSE_KEYS, .keys_no_wait = true, .reuse_flash = true});
    assert_true(term_run_script(&f->t, 100));
    assert_true(term_screen_seen(&f->t, "日结：对账不平"));
    assert_int_equal(emu_handled_count(&f->e, "3201"), 2);
    assert_int_equal(emu_handled_count(&f->e, "3202"), 1);
    assert_true(term_screen_seen(&f->t, "本机 1笔 18.00")); /* still B alone */
    assert_true(term_screen_seen(&f->t, "明细对账差异 1 笔"));
    assert_true(term_screen_seen(&f->t, "平台有结算，本机无记录"));
    /* A's cancelling entry agrees with the flag: no 一方已退费或冲正 about it. */
    char masked[64];
    snprintf(masked, sizeof masked, "%.4s****%s", a.setl_id, a.setl_id + strlen(a.setl_id) - 4);
    assert_false(term_screen_seen(&f->t, masked));
    assert_false(term_screen_seen(&f->t, "一方已退费或冲正"));
}

/* The HIS asks for the refund of a settled visit over the ECR link: the same refund screen and
 * supervisor's PIN at the terminal, one 2208, both accounts back to the fen, the result with
 * what went back; asked again, refused with the first refund's date, no second 2208. */
static void visit_refunded_from_the_pos(void **state)
{
    fixture *f = *state;
    char ecr[256];
    uint8_t key[32];
    uint16_t port = 0;
    assert_int_equal(term_ecr_lines(ecr, sizeof ecr, 0x5A, &port, key), 0);
    evt_ecr_result r;
    settled_chronic_visit(f,
                          &(term_options){.keys = VISIT_KEYS CONFIRM_WITH_PIN "退费成功 => OK\n",
                                          .extra_config = ecr,
                                          .ui_stall_limit = 100000},
                          "V-REFUND-5", "MZ2212", &r);
    ecr_pos hisc;
    char line[4096];
    ecr_pos_connect(&hisc, port, key);
    ecr_pos_pair(&hisc, term_pos_wait, &f->t, line, sizeof line);
    ecr_pos_send(&hisc, "{\"v\":2,\"type\":\"refund\",\"order_id\":\"V-REFUND-5\"}\n");
    assert_string_equal(term_pos_wait(&hisc, line, sizeof line, &f->t),
                        "{\"v\":2,\"type\":\"ack\",\"order_id\":\"V-REFUND-5\","
                        "\"request\":\"refund\"}");
    const char *result = term_pos_wait(&hisc, line, sizeof line, &f->t);
    assert_non_null(strstr(result, "\"request\":\"refund\",\"status\":\"refunded\""));
    assert_non_null(strstr(result, "\"total\":\"160.00\",\"fund\":\"107.80\","
                                   "\"account\":\"35.20\",\"mutual_aid\":\"11.00\","
                                   "\"cash\":\"6.00\""));
    assert_true(term_screen_seen(&f->t, "退回亲属账户（共济）：11.00 元"));
    assert_true(term_screen_seen(&f->t, "请退还顾客现金：6.00 元"));
    visit_refunded_once(f, 1);
    assert_int_equal(emu_handled_count(&f->e, "2208"), 1);

    ecr_pos_send(&hisc, "{\"v\":2,\"type\":\"refund\",\"order_id\":\"V-REFUND-5\"}\n");
    result = term_pos_wait(&hisc, line, sizeof line, &f->t);
    assert_non_null(strstr(result, "\"status\":\"refused\",\"error\":\"EVT_ERR_REFUND_DONE\""));
    assert_non_null(strstr(result, "已于 "));
    assert_int_equal(emu_handled_count(&f->e, "2208"), 1);
    visit_refunded_once(f, 1);
    assert_int_equal(term_receipts(&f->t), 2);
    ecr_pos_close(&hisc);
}

/* The HIS sends the visit of 300 lines: its header, then three batches of 100 as the terminal
 * asks for them (sent ahead here: each waits in the connection until asked for). The terminal
 * settles it, the HIS gets the result with the split. */
static void visit_from_the_his_over_the_ecr_link(void **state)
{
    fixture *f = *state;
    uint8_t key[32];
    char cfg[256];
    uint16_t port = 0;
    assert_int_equal(term_ecr_lines(cfg, sizeof cfg, 0x3C, &port, key), 0);
    term_options opt = {.keys = VISIT_KEYS, .extra_config = cfg, .ui_stall_limit = 100000};
    start(f, NULL, &opt);
    ecr_pos hisc;
    char line[4096];
    ecr_pos_connect(&hisc, port, key);
    ecr_pos_pair(&hisc, term_pos_wait, &f->t, line, sizeof line);

    static char text[4 * 16384];
    char *w = text;
    w += sprintf(w, "{\"v\":2,\"type\":\"visit\",\"order_id\":\"HIS-V-300\",\"ipt_otp_no\":"
                    "\"MZ2300\",\"med_type\":\"11\",\"dise_codg\":\"\",\"dise_name\":\"\","
                    "\"dept_code\":\"A03\",\"dept_name\":\"内科\",\"atddr_no\":\"D01\","
                    "\"dr_name\":\"刘医生\",\"caty\":\"A03\",\"use_personal_account\":true,"
                    "\"lines\":300,\"total\":\"350.00\"}\n");
    static const char *const codes[] = {BLOOD, HBA1C, UNLISTED};
    static const char *const prices[] = {"1.00", "2.00", "0.50"};
    for (int b = 1; b <= 3; b++) {
        w += sprintf(w,
                     "{\"v\":2,\"type\":\"fees\",\"order_id\":\"HIS-V-300\",\"batch\":%d,"
                     "\"items\":[",
                     b);
        for (int i = 0; i < 100; i++) {
            int k = ((b - 1) * 100 + i) % 3;
            w += sprintf(w,
                         "%s{\"med_list_codg\":\"%s\",\"medins_list_codg\":\"H-%d\","
                         "\"name\":\"费\",\"qty\":1,\"price\":\"%s\"}",
                         i ? "," : "", codes[k], k, prices[k]);
        }
        w += sprintf(w, "],\"last\":%s}\n", b == 3 ? "true" : "false");
    }
    show_code(f, "employee");
    ecr_pos_send(&hisc, text);
    assert_string_equal(term_pos_wait(&hisc, line, sizeof line, &f->t),
                        "{\"v\":2,\"type\":\"ack\",\"order_id\":\"HIS-V-300\"}");
    for (int b = 1; b <= 3; b++) {
        char want[128];
        snprintf(want, sizeof want,
                 "{\"v\":2,\"type\":\"fees\",\"order_id\":\"HIS-V-300\","
                 "\"batch\":%d}",
                 b);
        assert_string_equal(term_pos_wait(&hisc, line, sizeof line, &f->t), want);
    }
    const char *result = term_pos_wait(&hisc, line, sizeof line, &f->t);
    assert_non_null(strstr(result, "\"status\":\"settled\""));
    assert_non_null(strstr(result, "\"total\":\"350.00\""));
    assert_non_null(strstr(result, "\"fund\":\"140.00\""));
    assert_non_null(strstr(result, "\"account\":\"210.00\""));
    assert_int_equal(emu_count(&f->e, "live_fee_lines"), 300);
    assert_int_equal(emu_count(&f->e, "live_amount"), Y(350, 0));
    assert_int_equal(emu_balance_fen(&f->e, "employee"), Y(2790, 0));

    /* The HIS asks for the visit's status: the stored result. */
    ecr_pos_send(&hisc, "{\"v\":2,\"type\":\"status\",\"order_id\":\"HIS-V-300\"}\n");
    assert_non_null(strstr(term_pos_wait(&hisc, line, sizeof line, &f->t), "\"settled\""));
    ecr_pos_close(&hisc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(general_visit_with_mixed_classes, it_setup, it_teardown),
        cmocka_unit_test_setup_teardown(visit_of_300_lines_in_batches, it_setup, it_teardown),
        cmocka_unit_test_setup_teardown(chronic_visit, it_setup, it_teardown),
        cmocka_unit_test_setup_teardown(abandoned_visit_is_unregistered, it_setup, it_teardown),
        cmocka_unit_test_setup_teardown(lost_fee_answer_undone_and_sent_again, it_setup,
                                        it_teardown),
        cmocka_unit_test_setup_teardown(power_cut_during_the_fee_lines_undone_at_start, it_setup,
                                        it_teardown),
        cmocka_unit_test_setup_teardown(power_cut_as_the_settlement_is_recorded, it_setup,
                                        it_teardown),
        cmocka_unit_test_setup_teardown(visit_refunded_from_the_list, it_setup, it_teardown),
        cmocka_unit_test_setup_teardown(visit_refund_twice_is_refused_with_the_date, it_setup,
                                        it_teardown),
        cmocka_unit_test_setup_teardown(visit_refund_whose_answer_is_lost_ends_reversed, it_setup,
                                        it_teardown),
        cmocka_unit_test_setup_teardown(visit_refund_in_doubt_at_start_up_is_reversed, it_setup,
                                        it_teardown),
        cmocka_unit_test_setup_teardown(refunded_visit_left_out_of_the_close, it_setup,
                                        it_teardown),
        cmocka_unit_test_setup_teardown(visit_refunded_from_the_pos, it_setup, it_teardown),
        cmocka_unit_test_setup_teardown(visit_from_the_his_over_the_ecr_link, it_setup,
                                        it_teardown),
    };
    if (getenv("EVT_TEST_FILTER") != NULL) {
        cmocka_set_test_filter(getenv("EVT_TEST_FILTER"));
    }
    return cmocka_run_group_tests_name("integration.clinic", tests, NULL, NULL);
}
