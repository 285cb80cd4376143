/*
 * Pharmacy sales end to end: the terminal's real drivers and firmware against the platform
 * emulator over real TLS on loopback. Each test gets a fresh emulator (own ledger) and a
 * fresh terminal (own flash, printer directory, scripted cashier).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <iconv.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

#define AMLODIPINE  "XC08CAA077A001010100001" /* class A */
#define AMOXICILLIN "XJ01CAA040A001010100001" /* class A */
#define CHILD_COLD  "XR05CBA086A001020100001" /* class B */
#define VOUCHER_GEN EVT_BINARY_DIR "/tools/voucher-gen/voucher-gen"

static const char confirm_all[] = "请核对患者身份 => OK\n"
                                  "请确认结算金额 => OK\n"
                                  "结算成功 => OK\n";

typedef it_fixture fixture;

/* Receipts (ESC/POS bytes, Chinese in GB18030) that contain text. */
static int receipts_with_text(const term *t, const char *utf8)
{
    char gb[64];
    iconv_t cd = iconv_open("GB18030", "UTF-8");
    assert_true(cd != (iconv_t)-1);
    char *in = (char *)utf8, *out = gb;
    size_t inl = strlen(utf8), outl = sizeof gb;
    assert_true(iconv(cd, &in, &inl, &out, &outl) != (size_t)-1);
    iconv_close(cd);
    size_t gblen = sizeof gb - outl;
    DIR *d = opendir(t->print_dir);
    assert_non_null(d);
    int found = 0;
    for (struct dirent *de; (de = readdir(d)) != NULL;) {
        size_t n = strlen(de->d_name);
        if (n < 4 || strcmp(de->d_name + n - 4, ".bin") != 0) {
            continue;
        }
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/%s", t->print_dir, de->d_name);
        FILE *fl = fopen(path, "rb");
        assert_non_null(fl);
        static char buf[64 * 1024];
        size_t len = fread(buf, 1, sizeof buf, fl);
        fclose(fl);
        found += memmem(buf, len, gb, gblen) != NULL;
    }
    closedir(d);
    return found;
}

static void assert_split_adds_up(const evt_ecr_result *r)
{
    assert_int_equal(r->fund + r->account + r->mutual_aid + r->cash, r->total);
}

static void sale(fixture *f, const char *person, const char *holder, const evt_order *o,
                 evt_ecr_result *r)
{
    char code[128];
    assert_int_equal(emu_code(&f->e, person, holder, 120, code, sizeof code), 0);
    term_scan(&f->t, code);
    evt_app_sale(f->t.app, o, r);
}

/* One-item order for person's fresh code, run as a sale. */
static void sale_item(fixture *f, const char *person, const char *holder, const char *med_code,
                      const char *name, uint32_t qty, evt_fen price, evt_order *o,
                      evt_ecr_result *r)
{
    char id[40];
    order_make(o, order_id_next(id, sizeof id), med_code, name, qty, price);
    sale(f, person, holder, o, r);
}

static void own_code_sale(void **state)
{
    fixture *f = *state;
    term_options opt = {.keys = confirm_all};
    assert_int_equal(term_start(&f->t, &f->e, "own", &opt), 0);
    int64_t before = emu_balance_fen(&f->e, "employee");
    evt_order o;
    evt_ecr_result r;
    sale_item(f, "employee", NULL, AMOXICILLIN, "阿莫西林胶囊", 2, 1250, &o, &r);
    assert_int_equal(r.status, EVT_ECR_SETTLED);
    assert_int_equal(r.error, EVT_OK);
    assert_int_equal(r.total, 2500);
    assert_split_adds_up(&r);
    /* 甲: all in policy scope, fund 50 %, the own account pays the rest */
    assert_int_equal(r.fund, 1250);
    assert_int_equal(r.account, 1250);
    assert_int_equal(r.mutual_aid, 0);
    assert_int_equal(r.cash, 0);
    assert_true(r.balance_present);
    assert_int_equal(emu_balance_fen(&f->e, "employee"), before - r.account);
    assert_int_equal(r.balance, before - r.account);
    assert_true(r.setl_id[0] != '\0');
    assert_int_equal(strlen(r.msgid), 30);
    assert_int_equal(term_receipts(&f->t), 1);
    assert_true(term_screen_seen(&f->t, "张*国"));
    assert_false(term_screen_seen(&f->t, "张建国")); /* never unmasked on screen */
    assert_false(term_screen_seen(&f->t, "亲情账户代展码"));
    assert_int_equal(emu_count(&f->e, "settlements"), 1);
}

/* 亲情账户: the parent's code shown from the employee's phone; the parent's own account pays. */
static void family_account_relative_pays(void **state)
{
    fixture *f = *state;
    term_options opt = {.keys = confirm_all};
    assert_int_equal(term_start(&f->t, &f->e, "family", &opt), 0);
    int64_t employee = emu_balance_fen(&f->e, "employee");
    int64_t parent = emu_balance_fen(&f->e, "parent");
    evt_order o;
    evt_ecr_result r;
    sale_item(f, "parent", "employee", AMLODIPINE, "苯磺酸氨氯地平片", 1, 2000, &o, &r);
    assert_int_equal(r.status, EVT_ECR_SETTLED);
    assert_split_adds_up(&r);
    assert_int_equal(r.total, 2000);
    assert_int_equal(r.fund, 1000);
    assert_int_equal(r.account, 1000); /* the parent's own 35.20 covers it */
    assert_int_equal(r.mutual_aid, 0);
    assert_int_equal(r.cash, 0);
    assert_int_equal(emu_balance_fen(&f->e, "parent"), parent - r.account);
    assert_int_equal(emu_balance_fen(&f->e, "employee"), employee); /* display only */
    assert_true(term_screen_seen(&f->t, "亲情账户代展码"));
    assert_true(term_screen_seen(&f->t, "李*英"));
    assert_int_equal(term_receipts(&f->t), 1);
}

/* 共济: the parent's balance is not enough; the employee's account pays the rest of the
 * policy-scope share. */
static void mutual_aid_authoriser_pays(void **state)
{
    fixture *f = *state;
    term_options opt = {.keys = confirm_all};
    assert_int_equal(term_start(&f->t, &f->e, "mulaid", &opt), 0);
    int64_t employee = emu_balance_fen(&f->e, "employee");
    int64_t parent = emu_balance_fen(&f->e, "parent");
    evt_order o;
    evt_ecr_result r;
    sale_item(f, "parent", "employee", AMLODIPINE, "苯磺酸氨氯地平片", 3, 2800, &o, &r);
    assert_int_equal(r.status, EVT_ECR_SETTLED);
    assert_split_adds_up(&r);
    assert_int_equal(r.total, 8400);
    assert_int_equal(r.fund, 4200);
    assert_int_equal(r.account, parent); /* own account first, all of it */
    assert_int_equal(r.mutual_aid, 4200 - parent);
    assert_int_equal(r.cash, 0);
    assert_int_equal(emu_balance_fen(&f->e, "parent"), 0);
    assert_int_equal(emu_balance_fen(&f->e, "employee"), employee - r.mutual_aid);
    assert_true(term_screen_seen(&f->t, "共济支付（亲属账户）："));
    assert_int_equal(term_receipts(&f->t), 1);
}

/* Resident insurance has no personal account: fund plus cash. Shown through the parent's
 * family account, and read by the camera from a distorted phone-screen image. */
static void resident_insurance_cash_remainder_camera(void **state)
{
    fixture *f = *state;
    char scan_dir[PATH_MAX];
    snprintf(scan_dir, sizeof scan_dir, "%s/scan", f->e.dir);
    mkdir(scan_dir, 0755);
    term_options opt = {.keys = confirm_all, .scan_dir = scan_dir};
    assert_int_equal(term_start(&f->t, &f->e, "resident", &opt), 0);
    char cmd[PATH_MAX * 3];
    snprintf(cmd, sizeof cmd,
             "'%s' --emu '%s' --db '%s' --person child --holder employee --out '%s/child.png' "
             "--rotate 12 --noise 15 --blur 1 --seed 7 >/dev/null",
             VOUCHER_GEN, EVT_BINARY_DIR "/tools/platform-emu/platform-emu", f->e.db, scan_dir);
    assert_int_equal(system(cmd), 0);
    evt_order o;
    char id[40];
    order_make(&o, order_id_next(id, sizeof id), CHILD_COLD, "小儿氨酚黄那敏颗粒", 1, 1860);
    evt_ecr_result r;
    evt_app_sale(f->t.app, &o, &r);
    assert_int_equal(r.status, EVT_ECR_SETTLED);
    assert_split_adds_up(&r);
    /* 乙: 10 % first self-paid (1.86), fund 50 % of 16.74 = 8.37, cash 10.23 (no account) */
    assert_int_equal(r.total, 1860);
    assert_int_equal(r.fund, 837);
    assert_int_equal(r.account, 0);
    assert_int_equal(r.mutual_aid, 0);
    assert_int_equal(r.cash, 1023);
    assert_false(r.balance_present);
    assert_true(term_screen_seen(&f->t, "个人账户：无"));
    assert_true(term_screen_seen(&f->t, "亲情账户代展码"));
    assert_int_equal(term_receipts(&f->t), 1);
}

static void suspended_insurance_refused(void **state)
{
    fixture *f = *state;
    term_options opt = {.keys = "不能结算 => OK\n"};
    assert_int_equal(term_start(&f->t, &f->e, "suspended", &opt), 0);
    evt_order o;
    evt_ecr_result r;
    sale_item(f, "suspended", NULL, AMOXICILLIN, "阿莫西林胶囊", 1, 1250, &o, &r);
    assert_int_equal(r.status, EVT_ECR_REFUSED);
    assert_int_equal(r.error, EVT_ERR_INSURANCE_SUSPENDED);
    assert_true(term_screen_seen(&f->t, "暂停参保"));
    assert_int_equal(emu_count(&f->e, "settlements"), 0);
    assert_int_equal(term_receipts(&f->t), 0);
}

static void wechat_code_refused(void **state)
{
    fixture *f = *state;
    term_options opt = {.keys = "微信付款码 => CANCEL\n"};
    assert_int_equal(term_start(&f->t, &f->e, "wechat", &opt), 0);
    evt_order o;
    char id[40];
    order_make(&o, order_id_next(id, sizeof id), AMOXICILLIN, "阿莫西林胶囊", 1, 1250);
    term_scan(&f->t, "134567890123456789");
    evt_ecr_result r;
    evt_app_sale(f->t.app, &o, &r);
    assert_int_equal(r.status, EVT_ECR_REFUSED);
    assert_int_equal(r.error, EVT_ERR_CANCELLED);
    assert_true(term_screen_seen(&f->t, "这是微信付款码，请出示医保电子凭证"));
    assert_int_equal(emu_count(&f->e, "settlements"), 0);
    assert_int_equal(term_receipts(&f->t), 0);
}

/* An expired code is refused by the platform; scanned again in the same sale it is not sent
 * a second time. */
static void expired_code_refused_and_duplicate_scan_ignored(void **state)
{
    fixture *f = *state;
    term_options opt = {.keys = "该码本单已用过 => CANCEL\n"};
    assert_int_equal(term_start(&f->t, &f->e, "expired", &opt), 0);
    char code[128];
    assert_int_equal(emu_code(&f->e, "employee", NULL, 1, code, sizeof code), 0);
    sleep(2); /* the code's lifetime is 1 s */
    term_scan(&f->t, code);
    term_scan(&f->t, code);
    evt_order o;
    char id[40];
    order_make(&o, order_id_next(id, sizeof id), AMOXICILLIN, "阿莫西林胶囊", 1, 1250);
    evt_ecr_result r;
    evt_app_sale(f->t.app, &o, &r);
    assert_int_equal(r.status, EVT_ECR_REFUSED);
    assert_true(term_screen_seen(&f->t, "过期"));
    assert_true(term_screen_seen(&f->t, "该码本单已用过"));
    assert_int_equal(emu_count(&f->e, "settlements"), 0);
    assert_int_equal(term_receipts(&f->t), 0);
}

/* The POS sends the same order again (lost reply): same result, money moved once. */
static void repeated_order_settles_once(void **state)
{
    fixture *f = *state;
    term_options opt = {.keys = confirm_all};
    assert_int_equal(term_start(&f->t, &f->e, "repeat", &opt), 0);
    evt_order o;
    evt_ecr_result first, second;
    sale_item(f, "stranger", NULL, AMOXICILLIN, "阿莫西林胶囊", 1, 1250, &o, &first);
    assert_int_equal(first.status, EVT_ECR_SETTLED);
    int64_t balance = emu_balance_fen(&f->e, "stranger");
    evt_app_sale(f->t.app, &o, &second);
    assert_int_equal(second.status, EVT_ECR_SETTLED);
    assert_string_equal(second.setl_id, first.setl_id);
    assert_string_equal(second.msgid, first.msgid);
    assert_int_equal(emu_count(&f->e, "settlements"), 1);
    assert_int_equal(emu_balance_fen(&f->e, "stranger"), balance);
    assert_int_equal(term_receipts(&f->t), 1);
}

/* The cashier refuses the identity: nothing is settled. */
static void cashier_rejects_identity(void **state)
{
    fixture *f = *state;
    term_options opt = {.keys = "请核对患者身份 => CANCEL\n"};
    assert_int_equal(term_start(&f->t, &f->e, "reject", &opt), 0);
    evt_order o;
    evt_ecr_result r;
    sale_item(f, "stranger", NULL, AMOXICILLIN, "阿莫西林胶囊", 1, 1250, &o, &r);
    assert_int_equal(r.status, EVT_ECR_REFUSED);
    assert_int_equal(r.error, EVT_ERR_CANCELLED);
    assert_int_equal(emu_count(&f->e, "settlements"), 0);
}

/* Paper ran out during the sale: the sale stands, the receipt is printed from the function
 * menu once paper is back, and can be printed again as a marked reprint. */
static void paper_out_then_reprint(void **state)
{
    fixture *f = *state;
    term_options opt = {.keys = "请核对患者身份 => OK\n请确认结算金额 => OK\n结算成功 => OK\n"
                                "就绪 => MENU\n功能菜单 => TYPE:2\n"
                                "补打：选择今日结算单 => TYPE:1\n结算单已补打 => OK\n"
                                "就绪 => MENU\n功能菜单 => TYPE:2\n"
                                "补打：选择今日结算单 => TYPE:1\n结算单已补打 => OK\n"};
    assert_int_equal(term_start(&f->t, &f->e, "paper", &opt), 0);
    char flag[PATH_MAX];
    snprintf(flag, sizeof flag, "%s/PAPER_OUT", f->t.print_dir);
    FILE *pf = fopen(flag, "w");
    assert_non_null(pf);
    fclose(pf);
    evt_order o;
    char id[40], code[128];
    order_make(&o, order_id_next(id, sizeof id), AMOXICILLIN, "阿莫西林胶囊", 1, 1250);
    assert_int_equal(emu_code(&f->e, "stranger", NULL, 120, code, sizeof code), 0);
    term_scan(&f->t, code);
    evt_ecr_result r;
    evt_app_sale(f->t.app, &o, &r);
    assert_int_equal(r.status, EVT_ECR_SETTLED);
    /* The cashier is told what to fix: the paper. */
    assert_true(term_screen_seen(&f->t, "打印机缺纸：装纸后在功能菜单补打结算单"));
    assert_int_equal(term_receipts(&f->t), 0);

    unlink(flag); /* paper loaded */
    bool quit = false;
    for (int i = 0; i < 100 && !quit; i++) { /* bounded: the script ends with QUIT */
        evt_app_step(f->t.app, 100, &quit);
    }
    assert_true(term_screen_seen(&f->t, "结算单已补打"));
    assert_int_equal(term_receipts(&f->t), 2); /* the original, then a marked reprint */
    assert_int_equal(emu_count(&f->e, "settlements"), 1);
    /* the first copy that reached paper is the receipt, the second carries the mark */
    assert_int_equal(receipts_with_text(&f->t, "重打印"), 1);
}

/* An order id longer than the platform's fixmedins_setl_id is refused before any code is
 * spent. */
static void overlong_order_id_refused_up_front(void **state)
{
    fixture *f = *state;
    assert_int_equal(term_start(&f->t, &f->e, "longid", NULL), 0);
    evt_order o;
    order_make(&o, "ORDER-0123456789-0123456789-XYZ", AMOXICILLIN, "阿莫西林胶囊", 1, 1250);
    assert_int_equal(strlen(o.order_id), 31);
    evt_ecr_result r;
    evt_app_sale(f->t.app, &o, &r);
    assert_int_equal(r.status, EVT_ECR_REFUSED);
    assert_int_equal(r.error, EVT_ERR_ORDER_INVALID);
    assert_false(term_screen_seen(&f->t, "请出示医保电子凭证"));
}

/* The POS is down: the cashier keys the order in from the provisioned item list. */
static void keyed_order_from_item_list(void **state)
{
    fixture *f = *state;
    term_options opt = {
        .keys = "就绪 => MENU\n"
                "功能菜单 => TYPE:1\n"
                "品号（直接确认结束）：_ => DIGITS:2\n"
                "数量：_ => DIGITS:3\n"
                "品号（直接确认结束）：_ => DIGITS:1\n"
                "数量：_ => DIGITS:1\n"
                "品号（直接确认结束）：_ => OK\n"
                "请核对患者身份 => OK\n"
                "请确认结算金额 => OK\n"
                "结算成功 => OK\n",
        .extra_config = "item_1 = " AMOXICILLIN "|YP0001|阿莫西林胶囊|12.50\n"
                        "item_2 = " AMLODIPINE "|YP0021|苯磺酸氨氯地平片|28.00\n",
    };
    assert_int_equal(term_start(&f->t, &f->e, "keyed", &opt), 0);
    char code[128];
    assert_int_equal(emu_code(&f->e, "stranger", NULL, 120, code, sizeof code), 0);
    term_scan(&f->t, code);
    bool quit = false;
    for (int i = 0; i < 200 && !quit; i++) { /* bounded: the script ends with QUIT */
        evt_app_step(f->t.app, 100, &quit);
    }
    assert_true(quit);
    assert_int_equal(emu_count(&f->e, "settlements"), 1);
    assert_int_equal(term_receipts(&f->t), 1);
    assert_true(term_screen_seen(&f->t, "已录入 2 项，合计 96.50 元"));
    assert_true(term_screen_seen(&f->t, "医疗费总额：96.50"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(own_code_sale, it_setup, it_teardown),
        cmocka_unit_test_setup_teardown(family_account_relative_pays, it_setup, it_teardown),
        cmocka_unit_test_setup_teardown(mutual_aid_authoriser_pays, it_setup, it_teardown),
        cmocka_unit_test_setup_teardown(resident_insurance_cash_remainder_camera, it_setup,
                                        it_teardown),
        cmocka_unit_test_setup_teardown(suspended_insurance_refused, it_setup, it_teardown),
        cmocka_unit_test_setup_teardown(wechat_code_refused, it_setup, it_teardown),
        cmocka_unit_test_setup_teardown(expired_code_refused_and_duplicate_scan_ignored, it_setup,
                                        it_teardown),
        cmocka_unit_test_setup_teardown(repeated_order_settles_once, it_setup, it_teardown),
        cmocka_unit_test_setup_teardown(cashier_rejects_identity, it_setup, it_teardown),
        cmocka_unit_test_setup_teardown(keyed_order_from_item_list, it_setup, it_teardown),
        cmocka_unit_test_setup_teardown(paper_out_then_reprint, it_setup, it_teardown),
        cmocka_unit_test_setup_teardown(overlong_order_id_refused_up_front, it_setup, it_teardown),
    };
    return cmocka_run_group_tests_name("integration.sale_flow", tests, NULL, NULL);
}
