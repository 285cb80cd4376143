/* evt_receipt: builds the settlement receipt as ESC/POS; layout in docs/receipts.md. */
#include "evt/receipt.h"

#include <qrencode.h>
#include <stdio.h>
#include <string.h>

#include "evt/gb18030.h"
#include "evt/mask.h"
#include "evt/money.h"
#include "evt/proto.h"

/* ESC/POS bytes the job uses. */
#define ESC 0x1B
#define GS  0x1D
#define FS  0x1C
#define LF  0x0A

/* Item table on 80 mm paper: name | quantity | unit price | amount (columns). */
#define WIDE_QTY_COLS    5
#define WIDE_PRICE_COLS  9
#define WIDE_AMOUNT_COLS 10

/* QR module size in dots: big enough for a phone or a scan engine at arm's length, small
 * enough that the symbol stays under two thirds of the paper width. */
#define QR_MIN_SCALE 3
#define QR_MAX_SCALE 6

#define MONEY_TEXT  24
#define MASKED_TEXT (EVT_NAME_BYTES + 8)

/* The job being streamed: bytes collect in `stage` and go to the sink each time it fills, so
 * the memory a receipt needs does not depend on how long it is. */
typedef struct job {
    evt_receipt_write_fn write;
    void *ctx;
    evt_err err; /* the sink's first error: nothing more is written after it */
    size_t staged;
    size_t written; /* bytes the sink has accepted */
    unsigned cols;
    uint8_t stage[EVT_RECEIPT_STAGE_BYTES];
} job;

static void flush(job *j)
{
    if (j->err == EVT_OK && j->staged > 0) {
        j->err = j->write(j->ctx, j->stage, j->staged);
        if (j->err == EVT_OK) {
            j->written += j->staged;
        }
    }
    j->staged = 0;
}

static void put(job *j, const void *data, size_t n)
{
    const uint8_t *p = data;
    while (n > 0 && j->err == EVT_OK) {
        size_t room = sizeof j->stage - j->staged;
        size_t k = n < room ? n : room;
        memcpy(j->stage + j->staged, p, k);
        j->staged += k;
        p += k;
        n -= k;
        if (j->staged == sizeof j->stage) {
            flush(j);
        }
    }
}

static void put_byte(job *j, uint8_t b)
{
    put(j, &b, 1);
}

static void put_spaces(job *j, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        put_byte(j, ' ');
    }
}

static void newline(job *j)
{
    put_byte(j, LF);
}

static void align(job *j, uint8_t how) /* 0 left, 1 centre, 2 right */
{
    const uint8_t cmd[] = {ESC, 'a', how};
    put(j, cmd, sizeof cmd);
}

static void bold(job *j, bool on)
{
    const uint8_t cmd[] = {ESC, 'E', on ? 1 : 0};
    put(j, cmd, sizeof cmd);
}

static void char_size(job *j, uint8_t width_mul, uint8_t height_mul) /* 1..8 each */
{
    const uint8_t cmd[] = {GS, '!', (uint8_t)(((width_mul - 1u) << 4) | (height_mul - 1u))};
    put(j, cmd, sizeof cmd);
}

static void feed_lines(job *j, uint8_t n)
{
    const uint8_t cmd[] = {ESC, 'd', n};
    put(j, cmd, sizeof cmd);
}

static const char *str_or_empty(const char *s)
{
    return s != NULL ? s : "";
}

/*
 * Writes utf8[0..len) as GB18030. Control characters become spaces: item names come from the
 * pharmacy's POS, and an ESC or LF inside one must not turn into a printer command.
 */
static void put_text(job *j, const char *utf8, size_t len)
{
    size_t in = 0;
    while (in < len) {
        uint32_t cp;
        in += evt_gb18030_utf8_next(utf8 + in, len - in, &cp);
        if (cp < 0x20u || cp == 0x7Fu) {
            cp = ' ';
        }
        uint8_t enc[4];
        size_t n = evt_gb18030_encode(cp, enc);
        put(j, enc, n);
    }
}

static size_t text_width(const char *utf8)
{
    return evt_gb18030_width(utf8, strlen(utf8));
}

static bool is_word_char(uint32_t cp)
{
    return cp > 0x20u && cp < 0x7Fu;
}

/*
 * Bytes of the longest prefix of utf8[0..len) (whole characters) that fits in max_cols;
 * *cols gets its width. Like a word processor it does not split a run of ASCII (a dosage
 * such as "0.3g*20" or an id) when an earlier break exists: after a space or next to a
 * Chinese character, where breaking is normal. Always takes at least one character so
 * wrapping makes progress.
 */
static size_t fit_prefix(const char *utf8, size_t len, size_t max_cols, size_t *cols)
{
    size_t in = 0, used = 0;
    size_t brk = 0, brk_cols = 0; /* last break opportunity */
    uint32_t prev = 0;
    while (in < len) {
        uint32_t cp;
        size_t n = evt_gb18030_utf8_next(utf8 + in, len - in, &cp);
        size_t w = evt_gb18030_width(utf8 + in, n);
        if (in > 0 && !(is_word_char(prev) && is_word_char(cp))) {
            brk = in;
            brk_cols = used;
        }
        if (used + w > max_cols && in > 0) {
            if (is_word_char(prev) && is_word_char(cp) && brk > 0) {
                in = brk;
                used = brk_cols;
            }
            break;
        }
        in += n;
        used += w;
        prev = cp;
    }
    *cols = used;
    return in;
}

/* Spaces where a line was broken would only indent the next line. */
static size_t skip_break_spaces(const char *rest, size_t offset)
{
    size_t n = 0;
    if (offset > 0) {
        while (rest[n] == ' ') {
            n++;
        }
    }
    return n;
}

/* Text over as many lines as it needs, each at most `width` columns, indented by `indent`. */
static void put_wrapped(job *j, const char *utf8, size_t indent, size_t width)
{
    size_t len = strlen(utf8);
    size_t in = 0;
    do {
        in += skip_break_spaces(utf8 + in, in);
        size_t cols;
        size_t n = fit_prefix(utf8 + in, len - in, width, &cols);
        put_spaces(j, indent);
        put_text(j, utf8 + in, n);
        newline(j);
        in += n;
    } while (in + skip_break_spaces(utf8 + in, in) < len);
}

static void line_text(job *j, const char *utf8)
{
    put_wrapped(j, utf8, 0, j->cols);
}

static void line_centered(job *j, const char *utf8)
{
    align(j, 1);
    line_text(j, utf8);
    align(j, 0);
}

/* "label          value": value flush right; on its own right-aligned line(s) when both
 * do not fit on one. */
static void line_pair(job *j, const char *label, const char *value)
{
    size_t wl = text_width(label), wv = text_width(value);
    if (wl + 1 + wv <= j->cols) {
        put_text(j, label, strlen(label));
        put_spaces(j, j->cols - wl - wv);
        put_text(j, value, strlen(value));
        newline(j);
        return;
    }
    line_text(j, label);
    if (wv <= j->cols) {
        put_spaces(j, j->cols - wv);
        put_text(j, value, strlen(value));
        newline(j);
    } else {
        line_text(j, value);
    }
}

static void line_money(job *j, const char *label, evt_fen fen)
{
    char text[MONEY_TEXT];
    if (evt_money_format(fen, text, sizeof text) == 0) {
        text[0] = '\0'; /* cannot happen with 24 bytes; an empty value is visibly wrong */
    }
    line_pair(j, label, text);
}

static void separator(job *j)
{
    for (unsigned i = 0; i < j->cols; i++) {
        put_byte(j, '-');
    }
    newline(j);
}

static void masked_name(const char *name, char *out, size_t cap)
{
    if (evt_mask_name(str_or_empty(name), out, cap) != EVT_OK) {
        memcpy(out, "***", 4);
    }
}

static void masked_id(const char *id, char *out, size_t cap)
{
    if (evt_mask_id(str_or_empty(id), out, cap) != EVT_OK) {
        memcpy(out, "***", 4);
    }
}

/* The table's name, or the code itself when the table does not know it. */
static const char *insutype_label(const char *insutype)
{
    const char *name = evt_proto_insutype_name(insutype);
    return name != NULL ? name : insutype;
}

static bool is_refund(const evt_receipt *r)
{
    return r->kind == EVT_RECEIPT_REFUND || r->kind == EVT_RECEIPT_CLINIC_REFUND;
}

/* 授权主管: who authorised a refund, by name and id. A staff name, printed in clear like the
 * 操作员 line's (docs/receipts.md): one rule for the staff on a receipt; masking is for the
 * patient's and the relative's personal data. */
static void approver(job *j, const evt_receipt *r)
{
    const char *name = str_or_empty(r->approver_name);
    char value[96];
    snprintf(value, sizeof value, "%s%s%.30s", name, name[0] != '\0' ? " " : "", r->approver_id);
    line_pair(j, "授权主管", value);
}

static void header(job *j, const evt_receipt *r)
{
    const uint8_t init[] = {ESC, '@', FS, '&'}; /* reset, then Chinese (GB18030) mode on */
    put(j, init, sizeof init);

    bool refund = is_refund(r);
    align(j, 1);
    bold(j, true);
    char_size(j, 2, 2);
    line_text(j, refund                          ? "医保退费单"
                 : r->kind == EVT_RECEIPT_CLINIC ? "门诊结算单"
                                                 : "医保结算单");
    char_size(j, 1, 2);
    if (refund) {
        line_text(j, r->kind == EVT_RECEIPT_CLINIC_REFUND ? "** 门诊退费 **" : "** 退费 **");
    }
    if (r->reprint) {
        line_text(j, "** 重打印 **");
    }
    char_size(j, 1, 1);
    bold(j, false);
    align(j, 0);
    if (str_or_empty(r->fixmedins_name)[0] != '\0') {
        line_centered(j, r->fixmedins_name);
    }
    line_pair(j, "机构编码", str_or_empty(r->fixmedins_code));
    line_pair(j, "终端号", str_or_empty(r->terminal_id));
    line_pair(j, "操作员", str_or_empty(r->operator_name));
    if (refund && str_or_empty(r->approver_id)[0] != '\0') {
        approver(j, r);
    }
    line_pair(j, "打印时间", str_or_empty(r->datetime));
    separator(j);
}

static void patient(job *j, const evt_receipt *r)
{
    char name[MASKED_TEXT], id[MASKED_TEXT];
    masked_name(r->patient_name, name, sizeof name);
    masked_id(r->patient_id_no, id, sizeof id);
    line_pair(j, "姓名", name);
    line_pair(j, "证件号码", id);
    line_pair(j, "险种", insutype_label(str_or_empty(r->insutype)));
    line_pair(j, "参保地", str_or_empty(r->insured_region));
    if (r->via_family_account) {
        /* The cashier must see that somebody else's app showed this code. */
        char holder[MASKED_TEXT];
        masked_name(r->holder_name, holder, sizeof holder);
        bold(j, true);
        line_text(j, "亲情账户代展码");
        bold(j, false);
        line_pair(j, "代展人", holder);
    }
    separator(j);
}

static size_t format_quantity(uint32_t q, char *out)
{
    char rev[10];
    size_t n = 0;
    do {
        rev[n++] = (char)('0' + (int)(q % 10u));
        q /= 10u;
    } while (q != 0);
    for (size_t i = 0; i < n; i++) {
        out[i] = rev[n - 1 - i];
    }
    out[n] = '\0';
    return n;
}

static void put_right(job *j, const char *text, size_t cols)
{
    size_t w = text_width(text);
    put_spaces(j, cols > w ? cols - w : 0);
    put_text(j, text, strlen(text));
}

/* 58 mm (or numbers too wide for the 80 mm columns): name lines, then
 * "  qty x price" left and the amount right. */
static void item_narrow(job *j, const evt_order_item *it, const char *qty, const char *price,
                        const char *amount)
{
    line_text(j, it->name);
    char detail[64];
    size_t n = 0;
    const char *parts[] = {"  ", qty, " x ", price};
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
        size_t k = strlen(parts[i]);
        memcpy(detail + n, parts[i], k);
        n += k;
    }
    detail[n] = '\0';
    line_pair(j, detail, amount);
}

/* 80 mm: the name wraps inside its column; the numbers stand on the first line. */
static void item_wide(job *j, const evt_order_item *it, const char *qty, const char *price,
                      const char *amount, size_t name_cols)
{
    const char *name = it->name;
    size_t len = strlen(name), in = 0;
    bool first = true;
    do {
        in += skip_break_spaces(name + in, in);
        size_t cols;
        size_t n = fit_prefix(name + in, len - in, name_cols, &cols);
        put_text(j, name + in, n);
        in += n;
        if (first) {
            put_spaces(j, name_cols - cols);
            put_right(j, qty, WIDE_QTY_COLS);
            put_right(j, price, WIDE_PRICE_COLS);
            put_right(j, amount, WIDE_AMOUNT_COLS);
            first = false;
        }
        newline(j);
    } while (in + skip_break_spaces(name + in, in) < len);
}

static void items(job *j, const evt_order *order)
{
    bool wide = j->cols >= 48;
    size_t name_cols = j->cols - (WIDE_QTY_COLS + WIDE_PRICE_COLS + WIDE_AMOUNT_COLS);
    if (wide) {
        put_text(j, "品名", strlen("品名"));
        put_spaces(j, name_cols - 4);
        put_right(j, "数量", WIDE_QTY_COLS);
        put_right(j, "单价", WIDE_PRICE_COLS);
        put_right(j, "金额", WIDE_AMOUNT_COLS);
        newline(j);
    } else {
        line_pair(j, "品名  数量 x 单价", "金额");
    }
    for (uint8_t i = 0; i < order->item_count; i++) {
        const evt_order_item line = evt_order_item_at(order, i);
        const evt_order_item *it = &line;
        char qty[12], price[MONEY_TEXT], amount[MONEY_TEXT];
        format_quantity(it->quantity, qty);
        if (evt_money_format(it->price, price, sizeof price) == 0 ||
            evt_money_format(it->amount, amount, sizeof amount) == 0) {
            price[0] = amount[0] = '\0';
        }
        /* A column is only used when every number keeps a space before it. */
        bool fits = strlen(qty) < WIDE_QTY_COLS && strlen(price) < WIDE_PRICE_COLS &&
                    strlen(amount) < WIDE_AMOUNT_COLS;
        if (wide && fits) {
            item_wide(j, it, qty, price, amount, name_cols);
        } else {
            item_narrow(j, it, qty, price, amount);
        }
    }
    separator(j);
}

/* The split, and the balance after it. A refund's lines say where each part went back (the
 * money is the platform's to move, the cash the cashier's to hand back); 共济 is always printed,
 * also when zero: patients ask whether a relative's account paid — neither 2102 nor 2103 names
 * that relative (docs/receipts.md). */
static void amounts(job *j, const evt_settlement *s, bool refund)
{
    static const char *const labels[2][6] = {
        {"医疗费总额", "基金支付", "个人账户支付", "共济支付（亲属账户）", "个人现金支付",
         "结算后账户余额"},
        {"退费总额", "基金退回医保基金", "退回本人个人账户", "共济退回亲属账户", "退还现金",
         "退费后账户余额"},
    };
    const char *const *l = labels[refund];
    const evt_fen split[] = {s->medfee_sumamt, s->fund_pay_sumamt, s->acct_pay, s->acct_mulaid_pay,
                             s->psn_cash_pay};
    for (size_t i = 0; i < 5; i++) {
        line_money(j, l[i], split[i]);
    }
    if (s->balc_present) {
        line_money(j, l[5], s->balc);
    } else {
        line_pair(j, l[5], "—"); /* resident insurance has no personal account */
    }
    if (!refund && s->fulamt_ownpay_amt != 0) {
        line_money(j, "全自费", s->fulamt_ownpay_amt);
    }
    if (!refund && s->overlmt_selfpay != 0) {
        line_money(j, "超限价", s->overlmt_selfpay);
    }
    if (!refund && s->preselfpay_amt != 0) {
        line_money(j, "先行自付", s->preselfpay_amt);
    }
    separator(j);
}

static void references(job *j, const evt_receipt *r)
{
    const evt_settlement *s = r->settlement;
    line_pair(j, "结算ID", s->setl_id);
    if (r->kind == EVT_RECEIPT_CLINIC || r->kind == EVT_RECEIPT_CLINIC_REFUND) {
        line_pair(j, "就诊ID", s->mdtrt_id);
    }
    if (is_refund(r) && str_or_empty(r->original_setl_id)[0] != '\0') {
        line_pair(j, "原结算ID", r->original_setl_id);
    }
    line_pair(j, "报文ID", str_or_empty(r->msgid));
    if (s->setl_time[0] != '\0') {
        line_pair(j, "结算时间", s->setl_time);
    }
}

static uint8_t qr_scale(int modules, unsigned dots)
{
    int scale = (int)(dots * 2u / 3u) / modules;
    if (scale > QR_MAX_SCALE) {
        scale = QR_MAX_SCALE;
    }
    if (scale < QR_MIN_SCALE) {
        scale = QR_MIN_SCALE;
    }
    return (uint8_t)scale;
}

/* The widest raster row: QR version 40 (177 modules) at the largest scale. */
#define QR_ROW_BYTES_MAX ((177u * QR_MAX_SCALE + 7u) / 8u)

/* GS v 0: the symbol as a raster bit image, each module scale x scale dots. Made row by row
 * as it is sent: the whole bitmap (~7-10 KB) never exists. Each module row is packed once
 * and sent scale times (packing it per dot row was a quarter of a steady-state sale's
 * instructions, docs/performance.md). */
static void qr_raster(job *j, const QRcode *qr, unsigned dots)
{
    int modules = qr->width;
    uint8_t scale = qr_scale(modules, dots);
    size_t side = (size_t)modules * scale;
    size_t row_bytes = (side + 7u) / 8u;
    const uint8_t cmd[] = {GS,
                           'v',
                           '0',
                           0,
                           (uint8_t)(row_bytes & 0xFFu),
                           (uint8_t)(row_bytes >> 8),
                           (uint8_t)(side & 0xFFu),
                           (uint8_t)(side >> 8)};
    uint8_t packed[QR_ROW_BYTES_MAX];
    if (row_bytes > sizeof packed) {
        j->err = EVT_ERR_ARG; /* libqrencode makes no symbol wider than version 40 */
        return;
    }
    put(j, cmd, sizeof cmd);
    for (int my = 0; my < modules && j->err == EVT_OK; my++) {
        const unsigned char *row = qr->data + (size_t)my * (size_t)modules;
        memset(packed, 0, row_bytes);
        for (size_t x = 0; x < side; x++) {
            /* Bit 0 of each libqrencode cell is "dark module". */
            if ((row[x / scale] & 1u) != 0) {
                packed[x / 8u] |= (uint8_t)(0x80u >> (x % 8u));
            }
        }
        for (uint8_t k = 0; k < scale; k++) {
            put(j, packed, row_bytes);
        }
    }
}

/* GS ( k, function 165-181: model 2, module size, level M, store, print. */
static void qr_native(job *j, const char *payload, unsigned dots)
{
    size_t n = strlen(payload) + 3u;
    const uint8_t model[] = {GS, '(', 'k', 4, 0, 49, 65, 50, 0};
    const uint8_t size[] = {GS, '(', 'k', 3, 0, 49, 67, dots >= 576u ? 6 : 5};
    const uint8_t level[] = {GS, '(', 'k', 3, 0, 49, 69, 49};
    const uint8_t store[] = {GS, '(', 'k', (uint8_t)(n & 0xFFu), (uint8_t)(n >> 8), 49, 80, 48};
    const uint8_t print[] = {GS, '(', 'k', 3, 0, 49, 81, 48};
    put(j, model, sizeof model);
    put(j, size, sizeof size);
    put(j, level, sizeof level);
    put(j, store, sizeof store);
    put(j, payload, strlen(payload));
    put(j, print, sizeof print);
}

static bool copy_field(char *dst, size_t cap, const char *src)
{
    size_t n = strlen(src);
    if (n >= cap) {
        return false;
    }
    memcpy(dst, src, n + 1);
    return true;
}

unsigned evt_receipt_columns(evt_receipt_paper paper)
{
    switch (paper) {
    case EVT_RECEIPT_PAPER_58MM:
        return 32;
    case EVT_RECEIPT_PAPER_80MM:
        return 48;
    }
    return 0;
}

unsigned evt_receipt_dots(evt_receipt_paper paper)
{
    switch (paper) {
    case EVT_RECEIPT_PAPER_58MM:
        return 384;
    case EVT_RECEIPT_PAPER_80MM:
        return 576;
    }
    return 0;
}

/* What is checked and made before the first byte goes out, so that an invalid receipt, or a
 * QR code libqrencode cannot make, never starts a printer job. */
typedef struct prepared {
    unsigned cols, dots;
    char payload[EVT_RECEIPT_REF_MAX];
    QRcode *qr; /* raster mode: the symbol (modules, not dots), held while the job streams */
} prepared;

static evt_err prepare(const evt_receipt *r, prepared *p)
{
    memset(p, 0, sizeof *p);
    if (r == NULL || r->settlement == NULL) {
        return EVT_ERR_ARG;
    }
    p->cols = evt_receipt_columns(r->paper);
    p->dots = evt_receipt_dots(r->paper);
    if (p->cols == 0 ||
        (r->qr_mode != EVT_RECEIPT_QR_RASTER && r->qr_mode != EVT_RECEIPT_QR_NATIVE) ||
        (unsigned)r->kind > (unsigned)EVT_RECEIPT_CLINIC_REFUND ||
        (r->order != NULL && r->order->item_count > EVT_ORDER_MAX_ITEMS)) {
        return EVT_ERR_ARG;
    }

    const evt_settlement *s = r->settlement;
    evt_receipt_ref ref;
    memset(&ref, 0, sizeof ref);
    if (!copy_field(ref.fixmedins_code, sizeof ref.fixmedins_code,
                    str_or_empty(r->fixmedins_code)) ||
        !copy_field(ref.setl_id, sizeof ref.setl_id, s->setl_id) ||
        !copy_field(ref.mdtrt_id, sizeof ref.mdtrt_id, s->mdtrt_id) ||
        !copy_field(ref.psn_no, sizeof ref.psn_no, s->psn_no) ||
        !copy_field(ref.msgid, sizeof ref.msgid, str_or_empty(r->msgid)) ||
        evt_receipt_ref_format(&ref, p->payload, sizeof p->payload) != EVT_OK) {
        return EVT_ERR_ARG;
    }
    if (r->qr_mode == EVT_RECEIPT_QR_RASTER) {
        p->qr = QRcode_encodeString(p->payload, 0, QR_ECLEVEL_M, QR_MODE_8, 1);
        if (p->qr == NULL) {
            return EVT_ERR_NOMEM;
        }
    }
    return EVT_OK;
}

static void release(prepared *p)
{
    if (p->qr != NULL) {
        QRcode_free(p->qr);
        p->qr = NULL;
    }
}

/* Writes the whole job to the sink; the sink's first error, which ends the job early. */
static evt_err emit(const evt_receipt *r, const prepared *p, evt_receipt_write_fn write, void *ctx,
                    size_t *written)
{
    job j = {.write = write, .ctx = ctx, .err = EVT_OK, .cols = p->cols};
    header(&j, r);
    patient(&j, r);
    if (r->kind == EVT_RECEIPT_CLINIC_REFUND) {
        line_text(&j, "全单退费，费用明细见医院收费清单");
        separator(&j);
    } else if (r->kind == EVT_RECEIPT_CLINIC) {
        /* Hundreds of fee lines: the hospital's list carries them, the terminal never holds
         * them all. */
        line_text(&j, "费用明细见医院收费清单");
        separator(&j);
    } else if (r->order != NULL && r->order->item_count > 0) {
        items(&j, r->order);
    } else if (r->kind == EVT_RECEIPT_REFUND || r->reprint) {
        /* The journal keeps no item lines (docs/receipts.md, "Reprints"). */
        line_text(&j, r->kind == EVT_RECEIPT_REFUND ? "全单退费，药品明细见原结算单"
                                                    : "药品明细见原结算单");
        separator(&j);
    }
    amounts(&j, r->settlement, is_refund(r));
    references(&j, r);

    /* A blank line above and below keeps the QR's quiet zone clear of text. */
    feed_lines(&j, 1);
    align(&j, 1);
    if (p->qr != NULL) {
        qr_raster(&j, p->qr, p->dots);
    } else {
        qr_native(&j, p->payload, p->dots);
    }
    newline(&j);
    /* A sale's and a visit's receipt are refunded (2103, 2208) and reprinted from this code. */
    line_text(&j, is_refund(r) ? "退费凭证，补打凭此码办理" : "退费、补打凭此码办理");
    if (r->reprint) {
        line_text(&j, "重打印");
    }
    align(&j, 0);

    /* Feed past the cutter, then a partial cut (GS V 66 n). */
    feed_lines(&j, 3);
    const uint8_t cut[] = {GS, 'V', 66, 0};
    put(&j, cut, sizeof cut);
    flush(&j);
    if (written != NULL) {
        *written = j.written;
    }
    return j.err;
}

evt_err evt_receipt_stream(const evt_receipt *r, evt_receipt_write_fn write, void *ctx)
{
    if (write == NULL) {
        return EVT_ERR_ARG;
    }
    prepared p;
    evt_err err = prepare(r, &p);
    if (err == EVT_OK) {
        err = emit(r, &p, write, ctx, NULL);
    }
    release(&p);
    return err;
}

static evt_err printer_write(void *ctx, const uint8_t *data, size_t len)
{
    const evt_hal_printer *printer = ctx;
    return printer->write(printer->ctx, data, len);
}

evt_err evt_receipt_print(const evt_receipt *r, const evt_hal_printer *printer,
                          const char *job_name, size_t *written)
{
    if (written != NULL) {
        *written = 0;
    }
    if (printer == NULL) {
        return EVT_ERR_ARG;
    }
    prepared p;
    evt_err err = prepare(r, &p);
    if (err == EVT_OK) {
        err = printer->begin(printer->ctx, job_name);
    }
    if (err == EVT_OK) {
        evt_hal_printer target = *printer;
        err = emit(r, &p, printer_write, &target, written);
        /* After a failed write too: end closes (or drops) the printer's job, so the next one
         * can begin. The write's error is the one reported. */
        evt_err end_err = printer->end(printer->ctx);
        err = err == EVT_OK ? end_err : err;
    }
    release(&p);
    return err;
}

evt_err evt_receipt_print_report(evt_receipt_paper paper, const char *title,
                                 const evt_receipt_line *lines, size_t count,
                                 const evt_hal_printer *printer, const char *job_name)
{
    if (printer == NULL || title == NULL || (lines == NULL && count > 0)) {
        return EVT_ERR_ARG;
    }
    evt_err err = printer->begin(printer->ctx, job_name);
    if (err != EVT_OK) {
        return err;
    }
    evt_hal_printer target = *printer;
    job j = {.write = printer_write,
             .ctx = &target,
             .err = EVT_OK,
             .cols = (unsigned)evt_receipt_columns(paper)};
    const uint8_t init[] = {ESC, '@', FS, '&'}; /* as a receipt: reset, GB18030 mode */
    put(&j, init, sizeof init);
    bold(&j, true);
    char_size(&j, 1, 2);
    line_centered(&j, title);
    char_size(&j, 1, 1);
    bold(&j, false);
    separator(&j);
    for (size_t i = 0; i < count; i++) {
        if (lines[i].value != NULL) {
            line_pair(&j, lines[i].label, lines[i].value);
        } else if (lines[i].label[0] == '\0') {
            separator(&j);
        } else {
            line_text(&j, lines[i].label);
        }
    }
    feed_lines(&j, 3);
    const uint8_t cut[] = {GS, 'V', 66, 0};
    put(&j, cut, sizeof cut);
    flush(&j);
    evt_err end_err = printer->end(printer->ctx);
    return j.err == EVT_OK ? end_err : j.err;
}

/* evt_receipt_build's sink: appends to the caller's buffer while it has room. */
typedef struct buffer_sink {
    uint8_t *out;
    size_t cap;
    size_t len;
} buffer_sink;

static evt_err buffer_append(void *ctx, const uint8_t *data, size_t len)
{
    buffer_sink *b = ctx;
    if (len > b->cap - b->len) {
        return EVT_ERR_OVERFLOW;
    }
    memcpy(b->out + b->len, data, len);
    b->len += len;
    return EVT_OK;
}

evt_err evt_receipt_build(const evt_receipt *r, uint8_t *out, size_t cap, size_t *len)
{
    if (out == NULL || len == NULL) {
        return EVT_ERR_ARG;
    }
    *len = 0;
    buffer_sink b = {.out = out, .cap = cap, .len = 0};
    evt_err err = evt_receipt_stream(r, buffer_append, &b);
    if (err == EVT_OK) {
        *len = b.len;
    }
    return err;
}
