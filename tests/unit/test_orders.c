/*
 * evt_orders on the in-memory NOR model: records round-trip in every state, the retry rules,
 * the retention rule (what may go, oldest day first, what never goes), a full journal, the
 * day totals, and the calendar arithmetic behind retention.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "evt/orders.h"
#include "ram_nor.h"

#define SECTOR 2048u

static uint32_t work[EVT_JOURNAL_WORK_SIZE(16, 256) / 4];

typedef struct fixture {
    evt_ram_nor nor;
    evt_journal j;
} fixture;

static int setup_sized(void **state, uint32_t sectors)
{
    fixture *f = calloc(1, sizeof *f);
    assert_int_equal(evt_ram_nor_init(&f->nor, sectors * SECTOR, SECTOR), EVT_OK);
    assert_int_equal(evt_journal_open(&f->j, &f->nor.hal, work, sizeof work, NULL), EVT_OK);
    *state = f;
    return 0;
}

static int setup(void **state)
{
    return setup_sized(state, 16);
}

static int setup_small(void **state)
{
    return setup_sized(state, 4);
}

static int teardown(void **state)
{
    fixture *f = *state;
    evt_ram_nor_free(&f->nor);
    free(f);
    return 0;
}

static evt_order_record settled_on(uint32_t day, evt_fen total)
{
    evt_order_record r = {
        .state = EVT_ORDER_SETTLED,
        .error = EVT_OK,
        .day = day,
        .hms = 103000,
        .msgid = "H12010400001202611271030002001",
        .setl_id = "S000000001",
        .psn_no = "12010400000010000301",
        .insuplc_admdvs = "120104",
        .total = total,
        .fund = total / 2,
        .account = total - total / 2,
        .balance = 299999,
        .balance_present = true,
    };
    return r;
}

static void round_trip_every_state(void **state)
{
    fixture *f = *state;
    for (int s = EVT_ORDER_SETTLING; s <= EVT_ORDER_REVERSED; s++) {
        evt_order_record in = settled_on(20261127, 2500);
        in.state = (evt_order_state)s;
        in.error = s == EVT_ORDER_SETTLED ? EVT_OK : EVT_ERR_OUTCOME_UNKNOWN;
        in.answer_unusable = s % 2 == 0;
        in.needs_supervisor = s == EVT_ORDER_REVERSED;
        in.mutual_aid = 680;
        in.cash = -1; /* stored exactly, whatever the value */
        /* a detail longer than the field, cut on a character boundary (3-byte characters) */
        static const char longer[] = "定点机构结算资格暂停定点机构结算资格暂停定点机构结算资格暂停";
        memcpy(in.detail, longer, sizeof in.detail - 1); /* 63 bytes: cuts a character */
        in.detail[sizeof in.detail - 1] = '\0';
        assert_int_equal(evt_orders_put(&f->j, "POS-1", &in), EVT_OK);
        evt_order_record out;
        assert_int_equal(evt_orders_get(&f->j, "POS-1", &out), EVT_OK);
        assert_int_equal(out.state, in.state);
        assert_int_equal(out.error, in.error);
        assert_int_equal(out.answer_unusable, in.answer_unusable);
        assert_int_equal(out.needs_supervisor, in.needs_supervisor);
        assert_true(out.balance_present);
        assert_int_equal(out.day, 20261127);
        assert_int_equal(out.hms, 103000);
        assert_string_equal(out.msgid, in.msgid);
        assert_string_equal(out.setl_id, in.setl_id);
        assert_string_equal(out.psn_no, in.psn_no);
        assert_string_equal(out.insuplc_admdvs, in.insuplc_admdvs);
        assert_int_equal(out.total, 2500);
        assert_int_equal(out.fund, 1250);
        assert_int_equal(out.account, 1250);
        assert_int_equal(out.mutual_aid, 680);
        assert_int_equal(out.cash, -1);
        assert_int_equal(out.balance, 299999);
        assert_true(strlen(out.detail) <= EVT_ORDERS_DETAIL_BYTES - 1);
        assert_int_equal(strlen(out.detail) % 3, 0); /* whole characters only */
        assert_memory_equal(out.detail, in.detail, strlen(out.detail));
    }
    evt_order_record out;
    assert_int_equal(evt_orders_get(&f->j, "POS-2", &out), EVT_ERR_NOT_FOUND);
    evt_order_record bad = settled_on(20261127, 1);
    bad.state = (evt_order_state)0;
    assert_int_equal(evt_orders_put(&f->j, "POS-3", &bad), EVT_ERR_ARG);
}

/* The record's optional tails: the operator's id and the approving supervisor's. Records of
 * the layouts before them (ending after the detail, or after the operator's id) are exactly what
 * a record without those ids encodes to, so they read as before; each id comes back alone or
 * with the other; with two 30-character ids the platform's words keep 29 bytes, cut on a
 * character. */
static void operator_and_approver_ids(void **state)
{
    fixture *f = *state;
    static const char words[] = "定点机构结算资格暂停定点机构结算资格暂停定点机构结算资格暂停";
    const char *id30 = "OPERATOR-ID-OF-THIRTY-CHARS-01";
    const struct {
        const char *opter, *approver;
        size_t stored_bytes; /* the twin value: fixed part, detail, tails */
        size_t detail_bytes;
    } cases[] = {
        {"", "", 161 + 63, 63},         /* before operators were recorded */
        {"0001", "", 161 + 63 + 5, 63}, /* before supervisors were recorded */
        {"0001", "0002", 161 + 63 + 5 + 5, 63},
        {"", "0002", 161 + 63 + 1 + 5, 63},   /* the operator's id stored empty */
        {id30, id30, 161 + 27 + 31 + 31, 27}, /* 29 bytes of room: nine whole characters */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        evt_order_record in = settled_on(20261127, 2500), out;
        memcpy(in.detail, words, sizeof in.detail - 1);
        in.detail[sizeof in.detail - 1] = '\0';
        snprintf(in.opter, sizeof in.opter, "%s", cases[i].opter);
        snprintf(in.approver, sizeof in.approver, "%s", cases[i].approver);
        assert_int_equal(evt_orders_book_put(&f->j, EVT_ORDERS_REFUNDS, "R-1", &in), EVT_OK);
        uint8_t raw[512];
        size_t len = 0;
        assert_int_equal(evt_journal_twin_get(&f->j, "refund", "R-1", raw, sizeof raw, &len, NULL),
                         EVT_OK);
        assert_int_equal(len, cases[i].stored_bytes);
        assert_int_equal(evt_orders_book_get(&f->j, EVT_ORDERS_REFUNDS, "R-1", &out), EVT_OK);
        assert_string_equal(out.opter, cases[i].opter);
        assert_string_equal(out.approver, cases[i].approver);
        assert_int_equal(strlen(out.detail), cases[i].detail_bytes);
        assert_memory_equal(out.detail, words, cases[i].detail_bytes);
        assert_int_equal(out.total, 2500);
    }
}

static void retry_rules(void **state)
{
    (void)state;
    struct {
        evt_order_state s;
        bool supervisor;
        bool doubt;
        bool retry;
    } cases[] = {
        {EVT_ORDER_SETTLING, false, true, false}, {EVT_ORDER_SETTLED, false, false, false},
        {EVT_ORDER_REFUSED, false, false, true},  {EVT_ORDER_FAILED, false, false, true},
        {EVT_ORDER_UNKNOWN, false, true, false},  {EVT_ORDER_REVERSED, false, false, true},
        {EVT_ORDER_REVERSED, true, false, false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        evt_order_record r = {.state = cases[i].s, .needs_supervisor = cases[i].supervisor};
        assert_int_equal(evt_orders_in_doubt(&r), cases[i].doubt);
        assert_int_equal(evt_orders_may_retry(&r), cases[i].retry);
    }
}

static void put_order(fixture *f, const char *id, evt_order_record r)
{
    assert_int_equal(evt_orders_put(&f->j, id, &r), EVT_OK);
}

static bool exists(fixture *f, const char *id)
{
    evt_order_record r;
    return evt_orders_get(&f->j, id, &r) == EVT_OK;
}

/* Fills a small journal, then asks for room: what may go goes, oldest day first; what may
 * not (today's, in doubt, waiting for a supervisor) stays, and when only that is left the
 * answer is "full". */
static void retention_oldest_removable_first(void **state)
{
    fixture *f = *state;
    const uint32_t today = 20260301;
    evt_order_record doubt = settled_on(20260220, 100);
    doubt.state = EVT_ORDER_UNKNOWN;
    put_order(f, "OLD-UNKNOWN", doubt);
    evt_order_record blocked = settled_on(20260221, 100);
    blocked.state = EVT_ORDER_REVERSED;
    blocked.needs_supervisor = true;
    put_order(f, "OLD-BLOCKED", blocked);
    char id[32];
    unsigned n = 0;
    /* 2026-02-26 (3 days old), 2026-02-28 (yesterday), today; until the journal is full */
    static const uint32_t days[] = {20260226, 20260228, 20260301};
    for (int d = 0; d < 3; d++) {
        for (int i = 0; i < 3; i++, n++) {
            snprintf(id, sizeof id, "D%u-%02d", (unsigned)days[d] % 100, i);
            put_order(f, id, settled_on(days[d], 100 + i));
        }
    }
    evt_journal_stats st;
    evt_journal_stats_get(&f->j, &st);
    uint32_t removed = 0;
    evt_err err = evt_orders_make_room(&f->j, today, 2, &removed);
    /* the 3-day-old day went first; the rest may not go */
    assert_false(exists(f, "D26-00"));
    assert_true(exists(f, "OLD-UNKNOWN"));
    assert_true(exists(f, "OLD-BLOCKED"));
    assert_true(exists(f, "D28-00"));
    assert_true(exists(f, "D1-00"));
    if (err == EVT_OK) {
        assert_true(removed > 0);
    } else {
        assert_int_equal(err, EVT_ERR_JOURNAL_FULL);
        assert_int_equal(removed, 3); /* all of the old day, nothing else */
    }
    /* Keep filling today: eventually full, and nothing that may not go was removed. */
    for (int i = 0; i < 40; i++) {
        snprintf(id, sizeof id, "T-%02d", i);
        if (evt_orders_make_room(&f->j, today, 2, NULL) != EVT_OK) {
            break;
        }
        put_order(f, id, settled_on(today, 1));
    }
    assert_int_equal(evt_orders_make_room(&f->j, today, 2, NULL), EVT_ERR_JOURNAL_FULL);
    assert_true(exists(f, "OLD-UNKNOWN"));
    assert_true(exists(f, "OLD-BLOCKED"));
    assert_true(exists(f, "D1-02"));
    /* The daily close of yesterday lets its records go although younger than keep_days. */
    assert_int_equal(evt_orders_close_day(&f->j, 20260228), EVT_OK);
    assert_int_equal(evt_orders_make_room(&f->j, today, 2, &removed), EVT_OK);
    assert_true(removed > 0);
    assert_false(exists(f, "D28-00"));
    assert_true(exists(f, "D1-00"));
}

static evt_err count_visit(void *arg, const char *order_id, const evt_order_record *rec)
{
    (void)order_id;
    (void)rec;
    (*(unsigned *)arg)++;
    return EVT_OK;
}

static evt_order_record with_msgid(evt_order_record r, const char *msgid)
{
    snprintf(r.msgid, sizeof r.msgid, "%s", msgid);
    return r;
}

static evt_orders_receipt receipt_of(evt_orders_book book, const char *order_id)
{
    evt_orders_receipt rc = {
        .book = book,
        .mdtrt_id = "MDT000000000000000000000000001",
        .setl_time = "2026-02-26 10:30:00",
        .insutype = "310",
        .patient = "张*国",
        .patient_id = "1201**********0314",
        .via_family_account = true,
        .holder = "李*英",
        .total = 8400,
        .fulamt_ownpay_amt = 120,
        .overlmt_selfpay = 0,
        .preselfpay_amt = 7,
    };
    snprintf(rc.order_id, sizeof rc.order_id, "%s", order_id);
    return rc;
}

static bool has_receipt(fixture *f, const char *msgid)
{
    evt_orders_receipt rc;
    return evt_orders_receipt_get(&f->j, msgid, &rc) == EVT_OK;
}

static bool in_book(fixture *f, evt_orders_book book, const char *id)
{
    evt_order_record r;
    return evt_orders_book_get(&f->j, book, id, &r) == EVT_OK;
}

static evt_err receipt_count_visit(void *arg, const char *msgid, const evt_orders_receipt *rc)
{
    (void)msgid;
    (void)rc;
    (*(unsigned *)arg)++;
    return EVT_OK;
}

/* A refund is its own record beside the sale's, under the same order id; the receipt records
 * round-trip every field, refuse what does not fit, and a damaged one reads as damaged. */
static void refund_book_and_receipt_records(void **state)
{
    fixture *f = *state;
    evt_order_record sale = settled_on(20261127, 2500);
    evt_order_record refund =
        with_msgid(settled_on(20261127, 2500), "H12010400001202611271130002009");
    snprintf(refund.setl_id, sizeof refund.setl_id, "STL-CANCEL-1");
    put_order(f, "ORD-1", sale);
    assert_int_equal(evt_orders_book_put(&f->j, EVT_ORDERS_REFUNDS, "ORD-1", &refund), EVT_OK);
    evt_order_record got;
    assert_int_equal(evt_orders_get(&f->j, "ORD-1", &got), EVT_OK);
    assert_string_equal(got.setl_id, "S000000001");
    assert_int_equal(evt_orders_book_get(&f->j, EVT_ORDERS_REFUNDS, "ORD-1", &got), EVT_OK);
    assert_string_equal(got.setl_id, "STL-CANCEL-1");
    assert_string_equal(got.msgid, refund.msgid);
    assert_int_equal(evt_orders_book_get(&f->j, EVT_ORDERS_REFUNDS, "ORD-2", &got),
                     EVT_ERR_NOT_FOUND);
    unsigned sales = 0, refunds = 0;
    assert_int_equal(evt_orders_iterate(&f->j, count_visit, &sales, NULL), EVT_OK);
    assert_int_equal(
        evt_orders_book_iterate(&f->j, EVT_ORDERS_REFUNDS, count_visit, &refunds, NULL), EVT_OK);
    assert_int_equal(sales, 1);
    assert_int_equal(refunds, 1);

    evt_orders_receipt in = receipt_of(EVT_ORDERS_REFUNDS, "ORD-1"), out;
    assert_int_equal(evt_orders_receipt_put(&f->j, refund.msgid, &in), EVT_OK);
    assert_int_equal(evt_orders_receipt_get(&f->j, refund.msgid, &out), EVT_OK);
    assert_memory_equal(&in, &out, sizeof in);
    assert_int_equal(evt_orders_receipt_get(&f->j, sale.msgid, &out), EVT_ERR_NOT_FOUND);

    evt_orders_receipt bad = in;
    bad.order_id[0] = '\0';
    assert_int_equal(evt_orders_receipt_put(&f->j, sale.msgid, &bad), EVT_ERR_ARG);
    bad = in;
    bad.total = EVT_FEN_MAX + 1;
    assert_int_equal(evt_orders_receipt_put(&f->j, sale.msgid, &bad), EVT_ERR_ARG);
    assert_int_equal(evt_orders_receipt_get(&f->j, sale.msgid, &out), EVT_ERR_NOT_FOUND);

    /* Another layout under a receipt's key: damaged, and skipped by the walk. */
    assert_int_equal(evt_journal_put(&f->j, "rcpt/H12010400001202611271030002001", "\x02zz", 3),
                     EVT_OK);
    assert_int_equal(evt_orders_receipt_get(&f->j, sale.msgid, &out), EVT_ERR_JOURNAL_CORRUPT);
    unsigned receipts = 0;
    assert_int_equal(evt_orders_receipt_iterate(&f->j, receipt_count_visit, &receipts), EVT_OK);
    assert_int_equal(receipts, 1);
}

/* Retention takes an order whole — the sale, its refund and both receipt records — and only
 * when the refund may go too; a refund left without its sale goes by itself. */
static void retention_takes_a_refund_with_its_sale(void **state)
{
    fixture *f = *state;
    const uint32_t today = 20260301;
    put_order(f, "SOLD", with_msgid(settled_on(20260226, 300), "H12010400001202602261030002001"));
    evt_order_record refund =
        with_msgid(settled_on(20260227, 300), "H12010400001202602270930002001");
    assert_int_equal(evt_orders_book_put(&f->j, EVT_ORDERS_REFUNDS, "SOLD", &refund), EVT_OK);
    evt_orders_receipt rc = receipt_of(EVT_ORDERS_SALES, "SOLD");
    assert_int_equal(evt_orders_receipt_put(&f->j, "H12010400001202602261030002001", &rc), EVT_OK);
    rc.book = EVT_ORDERS_REFUNDS;
    assert_int_equal(evt_orders_receipt_put(&f->j, refund.msgid, &rc), EVT_OK);
    /* A refund whose outcome is unknown keeps its sale. */
    put_order(f, "HELD", with_msgid(settled_on(20260226, 400), "H12010400001202602261030002002"));
    evt_order_record doubt =
        with_msgid(settled_on(20260226, 400), "H12010400001202602261130002003");
    doubt.state = EVT_ORDER_UNKNOWN;
    assert_int_equal(evt_orders_book_put(&f->j, EVT_ORDERS_REFUNDS, "HELD", &doubt), EVT_OK);
    evt_order_record orphan =
        with_msgid(settled_on(20260225, 500), "H12010400001202602251130002004");
    assert_int_equal(evt_orders_book_put(&f->j, EVT_ORDERS_REFUNDS, "GONE", &orphan), EVT_OK);

    char id[32];
    for (int i = 0; i < 60; i++) {
        snprintf(id, sizeof id, "T-%02d", i);
        if (evt_orders_make_room(&f->j, today, 2, NULL) != EVT_OK) {
            break;
        }
        put_order(f, id, settled_on(today, 1));
    }
    assert_int_equal(evt_orders_make_room(&f->j, today, 2, NULL), EVT_ERR_JOURNAL_FULL);
    assert_false(in_book(f, EVT_ORDERS_SALES, "SOLD"));
    assert_false(in_book(f, EVT_ORDERS_REFUNDS, "SOLD"));
    assert_false(has_receipt(f, "H12010400001202602261030002001"));
    assert_false(has_receipt(f, refund.msgid));
    assert_false(in_book(f, EVT_ORDERS_REFUNDS, "GONE"));
    assert_true(in_book(f, EVT_ORDERS_SALES, "HELD"));
    assert_true(in_book(f, EVT_ORDERS_REFUNDS, "HELD"));
    assert_true(in_book(f, EVT_ORDERS_SALES, "T-00"));
}

/* Room comes first from receipt records of past days, then from orders that may go, and only
 * then from today's oldest receipt records: a sale is never refused for a reprint, and the
 * receipts kept are the newest. */
static void room_is_made_from_receipts_first(void **state)
{
    fixture *f = *state;
    const uint32_t today = 20260301;
    put_order(f, "OLD", with_msgid(settled_on(20260226, 300), "H12010400001202602261030000001"));
    evt_orders_receipt rc = receipt_of(EVT_ORDERS_SALES, "OLD");
    assert_int_equal(evt_orders_receipt_put(&f->j, "H12010400001202602261030000001", &rc), EVT_OK);
    char id[32], msgid[31];
    unsigned sold = 0;
    for (; sold < 200; sold++) {
        if (evt_orders_make_room(&f->j, today, 2, NULL) != EVT_OK) {
            break;
        }
        snprintf(id, sizeof id, "T-%03u", sold);
        snprintf(msgid, sizeof msgid, "H1201040000120260301%06u0001", 80000u + sold);
        put_order(f, id, with_msgid(settled_on(today, 1), msgid));
        rc = receipt_of(EVT_ORDERS_SALES, id);
        assert_int_equal(evt_orders_receipt_put(&f->j, msgid, &rc), EVT_OK);
    }
    assert_true(sold > 10 && sold < 200);
    assert_false(has_receipt(f, "H12010400001202602261030000001"));
    assert_false(in_book(f, EVT_ORDERS_SALES, "OLD"));
    /* Every sale of today is still known; the receipts kept are the newest ones. */
    bool kept = false;
    for (unsigned i = 0; i < sold; i++) {
        snprintf(id, sizeof id, "T-%03u", i);
        snprintf(msgid, sizeof msgid, "H1201040000120260301%06u0001", 80000u + i);
        assert_true(in_book(f, EVT_ORDERS_SALES, id));
        bool has = has_receipt(f, msgid);
        assert_true(has || !kept); /* once one is kept, every newer one is */
        kept = kept || has;
    }
    assert_true(kept);
    snprintf(msgid, sizeof msgid, "H1201040000120260301%06u0001", 80000u);
    assert_false(has_receipt(f, msgid)); /* the oldest of today gave way */
    /* Full even without any receipt: the newest ones were not thrown away for nothing. */
    snprintf(msgid, sizeof msgid, "H1201040000120260301%06u0001", 80000u + sold - 1);
    assert_true(has_receipt(f, msgid));
}

/* A record whose amounts are beyond 16,2 was not written by evt_orders_put (every amount it
 * stores passed the money checks): foreign data, or damage the CRCs cannot see. Decoded, it
 * put impossible figures into results and overflowed the day totals (signed overflow), so it
 * reads as unreadable, like any record of another layout. Found by the journal fuzzer
 * (tests/fuzz/fuzz_journal.c). */
static void record_with_amount_beyond_16_2_is_unreadable(void **state)
{
    fixture *f = *state;
    const evt_fen marker = 0x0102030405LL; /* its 8 little-endian bytes locate the total */
    evt_order_record rec = settled_on(20261127, marker);
    assert_int_equal(evt_orders_put(&f->j, "O-BIG", &rec), EVT_OK);
    uint8_t raw[512];
    size_t len = 0;
    assert_int_equal(evt_journal_twin_get(&f->j, "order", "O-BIG", raw, sizeof raw, &len, NULL),
                     EVT_OK);
    const uint8_t le[8] = {0x05, 0x04, 0x03, 0x02, 0x01, 0, 0, 0};
    size_t at = len;
    for (size_t i = 0; i + 8 <= len; i++) {
        if (memcmp(raw + i, le, 8) == 0) {
            at = i;
        }
    }
    assert_true(at < len);
    memset(raw + at, 0xFF, 7); /* INT64_MAX: the journal stores it with good CRCs */
    raw[at + 7] = 0x7F;
    assert_int_equal(evt_journal_twin_put(&f->j, "order", "O-BIG", raw, len), EVT_OK);

    evt_order_record out;
    assert_int_equal(evt_orders_get(&f->j, "O-BIG", &out), EVT_ERR_JOURNAL_CORRUPT);
    uint32_t unreadable = 0;
    unsigned readable = 0;
    evt_orders_totals t;
    assert_int_equal(evt_orders_day_totals(&f->j, 20261127, &t), EVT_OK);
    assert_int_equal(t.count, 0);
    assert_int_equal(evt_orders_iterate(&f->j, count_visit, &readable, &unreadable), EVT_OK);
    assert_int_equal(readable, 0);
    assert_int_equal(unreadable, 1);
}

static void day_totals_from_records(void **state)
{
    fixture *f = *state;
    put_order(f, "A", settled_on(20261127, 2500));
    put_order(f, "B", settled_on(20261127, 1000));
    evt_order_record refused = settled_on(20261127, 999);
    refused.state = EVT_ORDER_REFUSED;
    put_order(f, "C", refused);
    put_order(f, "D", settled_on(20261126, 7777));
    evt_orders_totals t;
    assert_int_equal(evt_orders_day_totals(&f->j, 20261127, &t), EVT_OK);
    assert_int_equal(t.count, 2);
    assert_int_equal(t.total, 3500);
    assert_int_equal(t.fund, 1250 + 500);
    assert_int_equal(t.account, 1250 + 500);
    unsigned all = 0;
    uint32_t unreadable = 9;
    assert_int_equal(evt_orders_iterate(&f->j, count_visit, &all, &unreadable), EVT_OK);
    assert_int_equal(all, 4);
    assert_int_equal(unreadable, 0);
}

static void calendar(void **state)
{
    (void)state;
    assert_int_equal(evt_orders_days_between(20261127, 20261127), 0);
    assert_int_equal(evt_orders_days_between(20261130, 20261201), 1);
    assert_int_equal(evt_orders_days_between(20261231, 20270101), 1);
    assert_int_equal(evt_orders_days_between(20240228, 20240301), 2); /* leap year */
    assert_int_equal(evt_orders_days_between(20260228, 20260301), 1);
    assert_int_equal(evt_orders_days_between(21000228, 21000301), 1); /* 2100 is not leap */
    assert_int_equal(evt_orders_days_between(20261201, 20261127), -4);
    assert_int_equal(evt_orders_days_between(20261300, 20261201), 0); /* invalid: 0 */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(round_trip_every_state, setup, teardown),
        cmocka_unit_test_setup_teardown(record_with_amount_beyond_16_2_is_unreadable, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(operator_and_approver_ids, setup, teardown),
        cmocka_unit_test(retry_rules),
        cmocka_unit_test_setup_teardown(retention_oldest_removable_first, setup_small, teardown),
        cmocka_unit_test_setup_teardown(refund_book_and_receipt_records, setup, teardown),
        cmocka_unit_test_setup_teardown(retention_takes_a_refund_with_its_sale, setup_small,
                                        teardown),
        cmocka_unit_test_setup_teardown(room_is_made_from_receipts_first, setup, teardown),
        cmocka_unit_test_setup_teardown(day_totals_from_records, setup, teardown),
        cmocka_unit_test(calendar),
    };
    return cmocka_run_group_tests_name("unit.orders", tests, NULL, NULL);
}
