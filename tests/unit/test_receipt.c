/*
 * evt_receipt: the job is rendered back with evt_escpos_render (which decodes GB18030 with
 * iconv) and checked line by line as the paper would show it; the QR code is decoded from
 * the rendered pixels with zbar.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "escpos_render.h"
#include "fake_hal.h"
#include "qr_decode.h"
#include "evt/gb18030.h"
#include "evt/receipt.h"

#define PATIENT_NAME   "张建国"
#define PATIENT_ID     "120104198001011234"
#define PATIENT_MASKED "张*国"
#define ID_MASKED      "1201**********1234"
#define HOLDER_NAME    "李秀英"
#define HOLDER_MASKED  "李*英"
#define FIXMEDINS_CODE "H12010400001"
#define MSGID          "H12010400001202406150930121001"
#define SETL_ID        "S20240615093012000000000000001"
#define MDTRT_ID       "M20240615093012000000000000001"
#define PSN_NO         "P12010419800101123400000000001"

/* Room for any receipt built here into a buffer (evt_receipt_build); the worst case,
 * EVT_ORDER_MAX_ITEMS lines of the longest names on 80 mm, is ~13 KB at 32 lines. The
 * firmware itself streams the job and has no such buffer. */
#define JOB_CAP (64u * 1024u)

typedef struct fixture {
    evt_order order;
    evt_settlement setl;
    evt_receipt receipt;
    uint8_t *job;
    size_t job_len;
    evt_escpos_page page;
} fixture;

static void add_item(evt_order *o, const char *name, uint32_t qty, evt_fen price)
{
    char code[16];
    snprintf(code, sizeof code, "XJ01CAA%03u", o->item_count + 1u);
    assert_int_equal(evt_order_add_item(o, code, "", name, qty, price), EVT_OK);
}

/* The order again with line index named name instead (the order's text is packed, so a name
 * is changed by building the order anew). */
static void rename_item(evt_order *o, unsigned index, const char *name)
{
    static evt_order before;
    before = *o;
    evt_order_clear_items(o);
    for (unsigned i = 0; i < before.item_count; i++) {
        evt_order_item it = evt_order_item_at(&before, i);
        assert_int_equal(evt_order_add_item(o, it.med_list_codg, it.medins_list_codg,
                                            i == index ? name : it.name, it.quantity, it.price),
                         EVT_OK);
    }
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->job = malloc(JOB_CAP);
    assert_non_null(f->job);
    snprintf(f->order.order_id, sizeof f->order.order_id, "POS-0001");
    add_item(&f->order, "阿莫西林胶囊 0.25g*24粒", 2, 1250);
    add_item(&f->order, "复方甘草片", 1, 830);
    add_item(&f->order, "布洛芬缓释胶囊(芬必得) 0.3g*20粒 中美天津史克制药有限公司", 3, 2390);

    evt_settlement *s = &f->setl;
    snprintf(s->setl_id, sizeof s->setl_id, "%s", SETL_ID);
    snprintf(s->mdtrt_id, sizeof s->mdtrt_id, "%s", MDTRT_ID);
    snprintf(s->psn_no, sizeof s->psn_no, "%s", PSN_NO);
    snprintf(s->psn_name, sizeof s->psn_name, "%s", PATIENT_NAME);
    snprintf(s->insutype, sizeof s->insutype, "310");
    snprintf(s->setl_time, sizeof s->setl_time, "2024-06-15 09:30:15");
    s->medfee_sumamt = 10500;
    s->fund_pay_sumamt = 4200;
    s->acct_pay = 3000;
    s->acct_mulaid_pay = 1800;
    s->psn_cash_pay = 1500;
    s->fulamt_ownpay_amt = 830;
    s->overlmt_selfpay = 0;
    s->preselfpay_amt = 717;
    s->balc = 12345;
    s->balc_present = true;

    evt_receipt *r = &f->receipt;
    r->paper = EVT_RECEIPT_PAPER_58MM;
    r->qr_mode = EVT_RECEIPT_QR_RASTER;
    r->kind = EVT_RECEIPT_SALE;
    r->fixmedins_name = "天津市和平区惠民大药房连锁有限公司第十二分店";
    r->fixmedins_code = FIXMEDINS_CODE;
    r->terminal_id = "T0001";
    r->operator_name = "王收银";
    r->datetime = "2024-06-15 09:30:16";
    r->msgid = MSGID;
    r->order = &f->order;
    r->settlement = &f->setl;
    r->patient_name = PATIENT_NAME;
    r->patient_id_no = PATIENT_ID;
    r->insutype = "310";
    r->insured_region = "120000";
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    evt_escpos_page_free(&f->page);
    free(f->job);
    free(f);
    return 0;
}

static void write_artifact(const fixture *f, const char *name)
{
    /* Kept in the build tree so a person can look at what the tests printed. */
    char dir[512], path[600];
    snprintf(dir, sizeof dir, "%s/test-out", EVT_BINARY_DIR);
    mkdir(dir, 0755);
    snprintf(path, sizeof path, "%s/%s.png", dir, name);
    assert_int_equal(evt_escpos_page_write_png(&f->page, path), EVT_OK);
    snprintf(path, sizeof path, "%s/%s.bin", dir, name);
    FILE *out = fopen(path, "wb");
    assert_non_null(out);
    assert_int_equal(fwrite(f->job, 1, f->job_len, out), f->job_len);
    fclose(out);
}

/* Builds and renders; checks what must hold for every receipt. */
static void build_and_render(fixture *f)
{
    evt_escpos_page_free(&f->page);
    assert_int_equal(evt_receipt_build(&f->receipt, f->job, JOB_CAP, &f->job_len), EVT_OK);
    evt_escpos_render_options opt = {.width_dots = evt_receipt_dots(f->receipt.paper)};
    assert_int_equal(evt_escpos_render(f->job, f->job_len, &opt, &f->page), EVT_OK);
    assert_int_equal(f->page.unknown_commands, 0);
    assert_int_equal(f->page.wrapped_lines, 0);
    assert_int_equal(f->page.truncated, 0);
    assert_int_equal(f->page.invalid_chars, 0);
    assert_int_equal(f->page.missing_glyphs, 0);
    assert_int_equal(f->page.cuts, 1);
    /* Starts with reset + Chinese mode, ends with the cut. */
    assert_memory_equal(f->job, "\x1B@\x1C&", 4);
    assert_memory_equal(f->job + f->job_len - 4, "\x1DV\x42\x00", 4);

    /* No printed line is wider than the paper (in columns of font A). */
    unsigned cols = evt_receipt_columns(f->receipt.paper);
    const char *p = f->page.text;
    while (*p != '\0') {
        const char *nl = strchr(p, '\n');
        assert_non_null(nl);
        if (*p != '[') {
            size_t w = evt_gb18030_width(p, (size_t)(nl - p));
            if (w > cols) {
                fail_msg("line wider than %u columns: %.*s", cols, (int)(nl - p), p);
            }
        }
        p = nl + 1;
    }
}

/* The printed line that starts with `label` (after leading spaces), or NULL. */
static const char *find_line(const fixture *f, const char *label, char *out, size_t cap)
{
    const char *p = f->page.text;
    while (*p != '\0') {
        const char *nl = strchr(p, '\n');
        const char *s = p;
        while (*s == ' ') {
            s++;
        }
        if (strncmp(s, label, strlen(label)) == 0) {
            snprintf(out, cap, "%.*s", (int)(nl - p), p);
            return out;
        }
        p = nl + 1;
    }
    return NULL;
}

/* Asserts a "label ..... value" line filling the paper's width exactly. */
static void assert_pair(const fixture *f, const char *label, const char *value)
{
    char line[256];
    if (find_line(f, label, line, sizeof line) == NULL) {
        fail_msg("no line '%s' in:\n%s", label, f->page.text);
    }
    size_t n = strlen(line), v = strlen(value);
    if (n < v || strcmp(line + n - v, value) != 0) {
        fail_msg("line '%s' does not end with '%s'", line, value);
    }
    assert_int_equal(evt_gb18030_width(line, n), evt_receipt_columns(f->receipt.paper));
}

static bool has_text(const fixture *f, const char *needle)
{
    return strstr(f->page.text, needle) != NULL;
}

static const char *expected_ref(void)
{
    return "EVTS1|" FIXMEDINS_CODE "|" SETL_ID "|" MDTRT_ID "|" PSN_NO "|" MSGID;
}

static void test_sale_58mm_amounts_and_layout(void **state)
{
    fixture *f = *state;
    build_and_render(f);
    write_artifact(f, "receipt_58_raster");
    assert_true(has_text(f, "医保结算单"));
    assert_false(has_text(f, "重打印"));
    assert_false(has_text(f, "结算撤销"));
    assert_pair(f, "医疗费总额", "105.00");
    assert_pair(f, "基金支付", "42.00");
    assert_pair(f, "个人账户支付", "30.00");
    assert_pair(f, "共济支付（亲属账户）", "18.00");
    assert_pair(f, "个人现金支付", "15.00");
    assert_pair(f, "结算后账户余额", "123.45");
    assert_pair(f, "全自费", "8.30");
    assert_pair(f, "先行自付", "7.17");
    assert_null(find_line(f, "超限价", (char[64]){0}, 64)); /* zero: not printed */
    assert_pair(f, "机构编码", FIXMEDINS_CODE);
    assert_pair(f, "终端号", "T0001");
    assert_pair(f, "操作员", "王收银");
    assert_pair(f, "打印时间", "2024-06-15 09:30:16");
    assert_pair(f, "结算时间", "2024-06-15 09:30:15");
    assert_pair(f, "险种", "职工基本医疗保险");
    assert_pair(f, "参保地", "120000");
    /* 30-character ids do not fit beside their label on 58 mm: right-aligned below it. */
    char line[256];
    assert_non_null(find_line(f, SETL_ID, line, sizeof line));
    assert_int_equal(strlen(line), 32);
    assert_non_null(find_line(f, MSGID, line, sizeof line));
    /* Items: name on its own line(s), then quantity x price and amount. */
    assert_true(has_text(f, "阿莫西林胶囊 0.25g*24粒\n"));
    assert_pair(f, "2 x 12.50", "25.00");
    assert_pair(f, "1 x 8.30", "8.30");
    assert_pair(f, "3 x 23.90", "71.70");
    /* The long institution name and item name wrap instead of overflowing. */
    assert_true(has_text(f, "布洛芬缓释胶囊"));
    assert_true(has_text(f, "[raster "));
    assert_int_equal(f->page.rasters, 1);
}

static void test_personal_data_masked(void **state)
{
    fixture *f = *state;
    f->receipt.via_family_account = true;
    f->receipt.holder_name = HOLDER_NAME;
    build_and_render(f);
    assert_pair(f, "姓名", PATIENT_MASKED);
    assert_pair(f, "证件号码", ID_MASKED);
    assert_false(has_text(f, PATIENT_NAME));
    assert_false(has_text(f, PATIENT_ID));
    assert_false(has_text(f, HOLDER_NAME));
    /* Not in the raw job either, in any encoding the printer would print. */
    uint8_t gb[32];
    size_t n;
    assert_int_equal(evt_gb18030_from_utf8(PATIENT_NAME, strlen(PATIENT_NAME), gb, sizeof gb, &n),
                     EVT_OK);
    assert_null(memmem(f->job, f->job_len, gb, n));
    assert_null(memmem(f->job, f->job_len, PATIENT_ID, strlen(PATIENT_ID)));
    assert_int_equal(evt_gb18030_from_utf8(HOLDER_NAME, strlen(HOLDER_NAME), gb, sizeof gb, &n),
                     EVT_OK);
    assert_null(memmem(f->job, f->job_len, gb, n));
    /* The family-account marker and the masked holder. */
    assert_true(has_text(f, "亲情账户代展码\n"));
    assert_pair(f, "代展人", HOLDER_MASKED);
}

static void test_no_family_marker_for_own_code(void **state)
{
    fixture *f = *state;
    f->receipt.holder_name = HOLDER_NAME; /* ignored unless via_family_account */
    build_and_render(f);
    assert_false(has_text(f, "亲情账户"));
    assert_false(has_text(f, "代展人"));
}

static void test_qr_raster_decodes_to_reference(void **state)
{
    fixture *f = *state;
    build_and_render(f);
    char got[256] = "";
    assert_int_equal(qr_decode_page(&f->page, got, sizeof got), 1);
    assert_string_equal(got, expected_ref());
    evt_receipt_ref ref;
    assert_int_equal(evt_receipt_ref_parse(got, strlen(got), &ref), EVT_OK);
    assert_string_equal(ref.setl_id, SETL_ID);
    assert_string_equal(ref.psn_no, PSN_NO);
}

static void test_qr_native_80mm(void **state)
{
    fixture *f = *state;
    f->receipt.paper = EVT_RECEIPT_PAPER_80MM;
    f->receipt.qr_mode = EVT_RECEIPT_QR_NATIVE;
    build_and_render(f);
    write_artifact(f, "receipt_80_native");
    char want[256];
    snprintf(want, sizeof want, "[qr %s]\n", expected_ref());
    assert_true(has_text(f, want));
    assert_int_equal(f->page.qr_codes, 1);
    assert_int_equal(f->page.rasters, 0);
    char got[256] = "";
    assert_int_equal(qr_decode_page(&f->page, got, sizeof got), 1);
    assert_string_equal(got, expected_ref());
    /* Native mode keeps the job small: no bitmap in it. */
    assert_true(f->job_len < 4096);
}

static void test_80mm_columns(void **state)
{
    fixture *f = *state;
    f->receipt.paper = EVT_RECEIPT_PAPER_80MM;
    build_and_render(f);
    write_artifact(f, "receipt_80_raster");
    assert_int_equal(f->page.width, 576);
    /* Ids fit beside their labels on 48 columns. */
    assert_pair(f, "结算ID", SETL_ID);
    assert_pair(f, "报文ID", MSGID);
    assert_pair(f, "医疗费总额", "105.00");
    /* Item table: name column of 24, then quantity, unit price and amount columns. */
    char line[256];
    assert_non_null(find_line(f, "品名", line, sizeof line));
    assert_int_equal(evt_gb18030_width(line, strlen(line)), 48);
    assert_non_null(find_line(f, "阿莫西林", line, sizeof line));
    assert_string_equal(line, "阿莫西林胶囊 0.25g*24粒     2    12.50     25.00");
    /* The long name wraps inside its column; the numbers stay on its first line. */
    assert_non_null(find_line(f, "布洛芬", line, sizeof line));
    assert_int_equal(evt_gb18030_width(line, strlen(line)), 48);
    assert_true(strstr(line, "    3    23.90     71.70") != NULL);
    char qr[256] = "";
    assert_int_equal(qr_decode_page(&f->page, qr, sizeof qr), 1);
    assert_string_equal(qr, expected_ref());
}

static void test_resident_insurance_no_account(void **state)
{
    fixture *f = *state;
    f->receipt.insutype = "390";
    f->setl.acct_pay = 0;
    f->setl.acct_mulaid_pay = 0;
    f->setl.psn_cash_pay = 6300;
    f->setl.balc_present = false;
    f->setl.balc = 0;
    f->setl.fulamt_ownpay_amt = 0;
    f->setl.preselfpay_amt = 0;
    f->setl.overlmt_selfpay = 120;
    build_and_render(f);
    assert_pair(f, "险种", "城乡居民基本医疗保险");
    assert_pair(f, "个人账户支付", "0.00");
    assert_pair(f, "共济支付（亲属账户）", "0.00"); /* always printed */
    assert_pair(f, "个人现金支付", "63.00");
    assert_pair(f, "结算后账户余额", "—");
    assert_pair(f, "超限价", "1.20");
    char line[64];
    assert_null(find_line(f, "全自费", line, sizeof line));
    assert_null(find_line(f, "先行自付", line, sizeof line));
}

static void test_reprint_and_refund_marks(void **state)
{
    fixture *f = *state;
    f->receipt.reprint = true;
    build_and_render(f);
    write_artifact(f, "receipt_58_reprint");
    assert_true(has_text(f, "医保结算单\n"));
    assert_true(has_text(f, "** 重打印 **\n"));
    assert_pair(f, "医疗费总额", "105.00");
    assert_false(has_text(f, "药品明细见原结算单")); /* the items are there */

    /* A reprint from the journal has no item lines: it says where they are. */
    f->receipt.order = NULL;
    build_and_render(f);
    assert_true(has_text(f, "药品明细见原结算单\n"));
    assert_pair(f, "医疗费总额", "105.00");

    /* A refund: what went back (positive), and where each part goes. */
    f->receipt.reprint = false;
    f->receipt.kind = EVT_RECEIPT_REFUND;
    f->receipt.original_setl_id = "S20240615093012000000000000000";
    build_and_render(f);
    write_artifact(f, "receipt_58_refund");
    assert_true(has_text(f, "医保退费单\n"));
    assert_true(has_text(f, "** 退费 **\n"));
    assert_false(has_text(f, "重打印"));
    assert_true(has_text(f, "全单退费，药品明细见原结算单\n"));
    assert_pair(f, "退费总额", "105.00");
    assert_pair(f, "基金退回医保基金", "42.00");
    assert_pair(f, "退回本人个人账户", "30.00");
    assert_pair(f, "共济退回亲属账户", "18.00");
    assert_pair(f, "退还现金", "15.00");
    assert_pair(f, "退费后账户余额", "123.45");
    char line[64];
    assert_null(find_line(f, "医疗费总额", line, sizeof line));
    assert_null(find_line(f, "全自费", line, sizeof line));
    assert_true(has_text(f, "S20240615093012000000000000000\n"));
    assert_true(has_text(f, "退费凭证，补打凭此码办理\n"));
    /* Authorised with the shared supervisor_pin: nobody to name. */
    assert_null(find_line(f, "授权主管", line, sizeof line));

    /* Authorised by a supervisor operator: the staff name as the 操作员 line prints it, with the
     * id; an id whose operator is no longer provisioned prints alone. A sale never names one. */
    f->receipt.approver_id = "0002";
    f->receipt.approver_name = "王建华";
    build_and_render(f);
    assert_pair(f, "授权主管", "王建华 0002");
    f->receipt.approver_name = "";
    build_and_render(f);
    assert_pair(f, "授权主管", " 0002");
    f->receipt.kind = EVT_RECEIPT_SALE;
    build_and_render(f);
    assert_null(find_line(f, "授权主管", line, sizeof line));
    f->receipt.kind = EVT_RECEIPT_REFUND;
    f->receipt.approver_id = NULL;

    f->receipt.reprint = true;
    build_and_render(f);
    assert_true(has_text(f, "** 退费 **\n"));
    assert_true(has_text(f, "** 重打印 **\n"));
    assert_pair(f, "退费总额", "105.00");
}

static void test_untrusted_text_cannot_inject_commands(void **state)
{
    fixture *f = *state;
    /* An item name from the POS with ESC @, a cut and a line feed in it. */
    rename_item(&f->order, 1, "坏\x1B@\x1DV\x01名\n字");
    f->receipt.operator_name = "a\x1C.b";
    build_and_render(f); /* asserts no unknown commands, one cut */
    assert_true(has_text(f, "坏 @ V 名 字\n"));
    assert_pair(f, "操作员", "a .b");
    /* Invalid UTF-8 prints as '?'. */
    rename_item(&f->order, 0, "药\xE5\x8C品");
    build_and_render(f);
    assert_true(has_text(f, "药?品\n"));
}

/* Streams f->receipt into a fresh fake printer's open job (the sink is its write). */
static evt_err stream_into(fixture *f, fake_printer *p)
{
    fake_printer_init(p);
    return evt_receipt_stream(&f->receipt, p->hal.write, p->hal.ctx);
}

/* The streamed job is the built one, byte for byte, in pieces of the stage's size: every
 * piece full but the last, so no piece is larger (or the job held whole) and none smaller. */
static void assert_streams_as_built(fixture *f)
{
    fake_printer p;
    assert_int_equal(stream_into(f, &p), EVT_OK);
    assert_int_equal(p.open_len, f->job_len);
    assert_memory_equal(p.open_job, f->job, f->job_len);
    assert_int_equal(p.largest_write, EVT_RECEIPT_STAGE_BYTES);
    assert_int_equal(p.writes,
                     (f->job_len + EVT_RECEIPT_STAGE_BYTES - 1) / EVT_RECEIPT_STAGE_BYTES);
    fake_printer_free(&p);
}

static void test_stream_is_the_built_job_in_stage_pieces(void **state)
{
    fixture *f = *state;
    const evt_receipt_paper papers[] = {EVT_RECEIPT_PAPER_58MM, EVT_RECEIPT_PAPER_80MM};
    const evt_receipt_qr_mode modes[] = {EVT_RECEIPT_QR_RASTER, EVT_RECEIPT_QR_NATIVE};
    const evt_receipt_kind kinds[] = {EVT_RECEIPT_SALE, EVT_RECEIPT_SALE, EVT_RECEIPT_REFUND};
    for (size_t p = 0; p < 2; p++) {
        for (size_t m = 0; m < 2; m++) {
            for (size_t k = 0; k < 3; k++) {
                f->receipt.paper = papers[p];
                f->receipt.qr_mode = modes[m];
                f->receipt.kind = kinds[k];
                f->receipt.reprint = k == 1;
                f->receipt.via_family_account = k == 1;
                f->receipt.holder_name = HOLDER_NAME;
                build_and_render(f);
                assert_streams_as_built(f);
            }
        }
    }
}

static void test_worst_case_streams(void **state)
{
    fixture *f = *state;
    evt_order_clear_items(&f->order);
    for (int i = 0; i < EVT_ORDER_MAX_ITEMS; i++) {
        /* 33 CJK characters: the longest name the 101-byte field holds. */
        add_item(&f->order, "复方氨酚烷胺片复方氨酚烷胺片复方氨酚烷胺片复方氨酚烷胺片复方氨酚烷",
                 999, 99999999);
    }
    const evt_receipt_paper papers[] = {EVT_RECEIPT_PAPER_58MM, EVT_RECEIPT_PAPER_80MM};
    for (size_t p = 0; p < 2; p++) {
        f->receipt.paper = papers[p];
        f->receipt.qr_mode = EVT_RECEIPT_QR_RASTER;
        f->receipt.via_family_account = true;
        f->receipt.holder_name = HOLDER_NAME;
        build_and_render(f);
        /* 99999999 x 999 does not fit the 80 mm columns: the item falls back to two lines. */
        assert_true(has_text(f, "999 x 999999.99"));
        /* Dozens of stage-sized pieces: the longest job never exists whole. */
        assert_true(f->job_len > 40u * EVT_RECEIPT_STAGE_BYTES);
        assert_streams_as_built(f);
    }
}

/* The sink refuses piece n (the first, one in the middle, the last): the stream ends with
 * its error, after exactly the pieces before it and that one. */
static void test_sink_error_ends_the_job(void **state)
{
    fixture *f = *state;
    build_and_render(f);
    unsigned pieces =
        (unsigned)((f->job_len + EVT_RECEIPT_STAGE_BYTES - 1) / EVT_RECEIPT_STAGE_BYTES);
    assert_true(pieces > 3);
    const unsigned fail_at[] = {1, pieces / 2, pieces};
    for (size_t i = 0; i < 3; i++) {
        fake_printer p;
        fake_printer_init(&p);
        p.fail_write_at = fail_at[i];
        p.write_err = EVT_ERR_PRINTER_IO;
        assert_int_equal(evt_receipt_stream(&f->receipt, p.hal.write, p.hal.ctx),
                         EVT_ERR_PRINTER_IO);
        assert_int_equal(p.writes, fail_at[i]);
        assert_int_equal(p.open_len, (fail_at[i] - 1) * EVT_RECEIPT_STAGE_BYTES);
        assert_memory_equal(p.open_job, f->job, p.open_len);
        fake_printer_free(&p);
    }
}

/* evt_receipt_print: begin, the job, end; nothing at all for a receipt that cannot print. */
static void test_print_on_the_printer_hal(void **state)
{
    fixture *f = *state;
    build_and_render(f);
    fake_printer p;
    fake_printer_init(&p);
    size_t written = 1;
    assert_int_equal(evt_receipt_print(&f->receipt, &p.hal, MSGID, &written), EVT_OK);
    assert_int_equal(p.begun, 1);
    assert_int_equal(p.ended, 1);
    assert_string_equal(p.job_name, MSGID);
    assert_int_equal(written, f->job_len);
    assert_int_equal(p.job_len, f->job_len);
    assert_memory_equal(p.job, f->job, f->job_len);
    assert_int_equal(p.largest_write, EVT_RECEIPT_STAGE_BYTES);

    /* Invalid receipts: no begin, no write, no end. */
    f->receipt.msgid = "";
    assert_int_equal(evt_receipt_print(&f->receipt, &p.hal, MSGID, &written), EVT_ERR_ARG);
    f->receipt.msgid = MSGID;
    f->order.item_count = EVT_ORDER_MAX_ITEMS + 1;
    assert_int_equal(evt_receipt_print(&f->receipt, &p.hal, MSGID, &written), EVT_ERR_ARG);
    f->order.item_count = 3;
    assert_int_equal(evt_receipt_print(NULL, &p.hal, MSGID, &written), EVT_ERR_ARG);
    assert_int_equal(written, 0);
    assert_int_equal(evt_receipt_print(&f->receipt, NULL, MSGID, &written), EVT_ERR_ARG);
    assert_int_equal(p.begun, 1);
    assert_int_equal(p.ended, 1);
    unsigned writes = p.writes;

    /* Out of paper at begin: its error, nothing written, nothing to end. */
    p.refuse_next = 1;
    assert_int_equal(evt_receipt_print(&f->receipt, &p.hal, MSGID, &written),
                     EVT_ERR_PRINTER_PAPER_OUT);
    assert_int_equal(p.writes, writes);
    assert_int_equal(p.ended, 1);

    /* Paper out at the third write: no fourth, the job is still ended, its error returned. */
    p.fail_write_at = writes + 3;
    assert_int_equal(evt_receipt_print(&f->receipt, &p.hal, MSGID, &written),
                     EVT_ERR_PRINTER_PAPER_OUT);
    assert_int_equal(p.writes, writes + 3);
    assert_int_equal(p.begun, 2);
    assert_int_equal(p.ended, 2);
    assert_int_equal(written, 2 * EVT_RECEIPT_STAGE_BYTES);
    fake_printer_free(&p);
}

static void test_build_errors(void **state)
{
    fixture *f = *state;
    size_t len = 123;
    assert_int_equal(evt_receipt_build(NULL, f->job, 100, &len), EVT_ERR_ARG);
    assert_int_equal(evt_receipt_build(&f->receipt, NULL, 100, &len), EVT_ERR_ARG);
    assert_int_equal(evt_receipt_build(&f->receipt, f->job, 100, NULL), EVT_ERR_ARG);
    assert_int_equal(evt_receipt_stream(&f->receipt, NULL, NULL), EVT_ERR_ARG);
    /* Too small: overflow, whatever the mode. */
    assert_int_equal(evt_receipt_build(&f->receipt, f->job, 100, &len), EVT_ERR_OVERFLOW);
    assert_int_equal(len, 0);
    assert_int_equal(evt_receipt_build(&f->receipt, f->job, 2000, &len), EVT_ERR_OVERFLOW);
    f->receipt.qr_mode = EVT_RECEIPT_QR_NATIVE;
    assert_int_equal(evt_receipt_build(&f->receipt, f->job, 200, &len), EVT_ERR_OVERFLOW);
    /* The exact size is enough. */
    assert_int_equal(evt_receipt_build(&f->receipt, f->job, JOB_CAP, &len), EVT_OK);
    size_t exact = len;
    assert_int_equal(evt_receipt_build(&f->receipt, f->job, exact, &len), EVT_OK);
    assert_int_equal(evt_receipt_build(&f->receipt, f->job, exact - 1, &len), EVT_ERR_OVERFLOW);
    /* The QR reference needs these. */
    f->receipt.msgid = "";
    assert_int_equal(evt_receipt_build(&f->receipt, f->job, JOB_CAP, &len), EVT_ERR_ARG);
    f->receipt.msgid = "H1201|04000012024";
    assert_int_equal(evt_receipt_build(&f->receipt, f->job, JOB_CAP, &len), EVT_ERR_ARG);
    f->receipt.msgid = MSGID;
    f->setl.setl_id[0] = '\0';
    assert_int_equal(evt_receipt_build(&f->receipt, f->job, JOB_CAP, &len), EVT_ERR_ARG);
    snprintf(f->setl.setl_id, sizeof f->setl.setl_id, "%s", SETL_ID);
    f->receipt.paper = (evt_receipt_paper)7;
    assert_int_equal(evt_receipt_build(&f->receipt, f->job, JOB_CAP, &len), EVT_ERR_ARG);
    f->receipt.paper = EVT_RECEIPT_PAPER_58MM;
    f->order.item_count = EVT_ORDER_MAX_ITEMS + 1;
    assert_int_equal(evt_receipt_build(&f->receipt, f->job, JOB_CAP, &len), EVT_ERR_ARG);
    f->receipt.order = NULL; /* no item section is fine */
    assert_int_equal(evt_receipt_build(&f->receipt, f->job, JOB_CAP, &len), EVT_OK);
    assert_int_equal(evt_receipt_columns(EVT_RECEIPT_PAPER_58MM), 32);
    assert_int_equal(evt_receipt_columns(EVT_RECEIPT_PAPER_80MM), 48);
    assert_int_equal(evt_receipt_dots(EVT_RECEIPT_PAPER_80MM), 576);
}

static void test_ref_format_and_parse(void **state)
{
    (void)state;
    evt_receipt_ref ref = {0};
    snprintf(ref.fixmedins_code, sizeof ref.fixmedins_code, "%s", FIXMEDINS_CODE);
    snprintf(ref.setl_id, sizeof ref.setl_id, "%s", SETL_ID);
    snprintf(ref.msgid, sizeof ref.msgid, "%s", MSGID);
    char text[EVT_RECEIPT_REF_MAX];
    assert_int_equal(evt_receipt_ref_format(&ref, text, sizeof text), EVT_OK);
    assert_string_equal(text, "EVTS1|" FIXMEDINS_CODE "|" SETL_ID "|||" MSGID);
    evt_receipt_ref back;
    assert_int_equal(evt_receipt_ref_parse(text, strlen(text), &back), EVT_OK);
    assert_memory_equal(&back, &ref, sizeof ref);
    assert_int_equal(evt_receipt_ref_format(&ref, text, 20), EVT_ERR_OVERFLOW);

    /* Full-size fields fit EVT_RECEIPT_REF_MAX. */
    memset(ref.setl_id, 'S', 30);
    memset(ref.mdtrt_id, 'M', 30);
    memset(ref.psn_no, 'P', 30);
    assert_int_equal(evt_receipt_ref_format(&ref, text, sizeof text), EVT_OK);
    assert_int_equal(evt_receipt_ref_parse(text, strlen(text), &back), EVT_OK);
    assert_memory_equal(&back, &ref, sizeof ref);

    const char *bad[] = {
        "",
        "EVTS1",
        "EVTS2|H12010400001|S1|M1|P1|MSG",
        "EVTS1|H12010400001|S1|M1|P1",           /* four fields */
        "EVTS1|H12010400001|S1|M1|P1|MSG|extra", /* six */
        "EVTS1||S1|M1|P1|MSG",                   /* empty institution */
        "EVTS1|H12010400001||M1|P1|MSG",         /* empty setl_id */
        "EVTS1|H12010400001|S1|M1|P1|",          /* empty msgid */
        "EVTS1|H120104000011|S1|M1|P1|MSG",      /* 13-character institution code */
        "EVTS1|H12010400001|S 1|M1|P1|MSG",      /* space */
        "EVTS1|H12010400001|S1|M1|P1|MSG\n",
        "https://example.com/?EVTS1|a|b|c|d|e",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (evt_receipt_ref_parse(bad[i], strlen(bad[i]), &back) != EVT_ERR_RECEIPT_REF_INVALID) {
            fail_msg("accepted '%s'", bad[i]);
        }
        assert_string_equal(back.setl_id, "");
    }
    /* Embedded NUL is not a shorter text. */
    assert_int_equal(evt_receipt_ref_parse("EVTS1|H1|S1|M1|P1|MSG\0x", 23, &back),
                     EVT_ERR_RECEIPT_REF_INVALID);
    ref.psn_no[3] = '|';
    assert_int_equal(evt_receipt_ref_format(&ref, text, sizeof text), EVT_ERR_ARG);
    assert_int_equal(evt_receipt_ref_format(NULL, text, sizeof text), EVT_ERR_ARG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_sale_58mm_amounts_and_layout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_personal_data_masked, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_family_marker_for_own_code, setup, teardown),
        cmocka_unit_test_setup_teardown(test_qr_raster_decodes_to_reference, setup, teardown),
        cmocka_unit_test_setup_teardown(test_qr_native_80mm, setup, teardown),
        cmocka_unit_test_setup_teardown(test_80mm_columns, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resident_insurance_no_account, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reprint_and_refund_marks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_untrusted_text_cannot_inject_commands, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_worst_case_streams, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stream_is_the_built_job_in_stage_pieces, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_sink_error_ends_the_job, setup, teardown),
        cmocka_unit_test_setup_teardown(test_print_on_the_printer_hal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_build_errors, setup, teardown),
        cmocka_unit_test(test_ref_format_and_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
