/*
 * evt_orders: the terminal's order book — what became of every order id it was given, kept in
 * the journal so that an order re-sent by the POS, after a lost reply or a power cut, can never
 * move money twice.
 *
 * One record per order id, stored as a journal twin record (two copies: one damaged record
 * cannot make the terminal forget that an order settled). The record follows the order through
 * its states:
 *
 *   (none) --cashier/insurance/platform refusal-------------------------------> REFUSED
 *          --network/platform fault before 2102----------------------------> FAILED
 *          --2102 about to be sent--> SETTLING --answer used--------------> SETTLED
 *                                              --business refusal---------> REFUSED
 *                                              --never sent---------------> FAILED
 *                                              --no usable answer---------> UNKNOWN
 *                                   UNKNOWN --reversal acknowledged-------> REVERSED
 *
 * SETTLING and UNKNOWN are "in doubt": the platform may have moved money; the order is not
 * started again until a reversal resolves it. SETTLED never starts again. REFUSED, FAILED and
 * REVERSED provably moved no money and may be tried again — except a REVERSED order whose
 * settlement answer the terminal could not use (it would just settle and reverse again): that
 * one waits for a supervisor's release (docs/protocol-decisions.md).
 *
 * Retention: a record is kept at least until its business day is over and the day has been
 * closed (evt_orders_close_day, the daily close) or is `keep_days` old; records in doubt or
 * waiting for a supervisor are never removed. evt_orders_make_room removes what may go, oldest
 * day first, and says EVT_ERR_JOURNAL_FULL when a new order could not be recorded — the sale
 * is then refused before anything is scanned.
 */
#ifndef EVT_ORDERS_H
#define EVT_ORDERS_H

#include <stdbool.h>
#include <stdint.h>

#include "evt/err.h"
#include "evt/journal.h"
#include "evt/money.h"
#include "evt/sale.h"

/* Journal twin name of the order records: "order/<id>" and "order#<id>". */
#define EVT_ORDERS_TWIN_NAME "order"
/* Journal twin name of the refund records, by the sale's order id: "refund/<id>", "refund#<id>". */
#define EVT_ORDERS_REFUND_TWIN_NAME "refund"
/* Journal twin name of the outpatient visits' settlement records (2207), by the HIS's visit id:
 * "visit/<id>", "visit#<id>". */
#define EVT_ORDERS_VISIT_TWIN_NAME "visit"
/* Journal twin name of the refund records of visits (2208), by the visit id: "vrefund/<id>". */
#define EVT_ORDERS_VISIT_REFUND_TWIN_NAME "vrefund"
/* Journal key prefix of the receipt records, by the msgid that settled: "rcpt/<msgid>". */
#define EVT_ORDERS_PREFIX_RECEIPT "rcpt/"
/* Journal key prefix of the day-closed markers: "close/<yyyymmdd>". */
#define EVT_ORDERS_PREFIX_CLOSED "close/"
#define EVT_ORDERS_DETAIL_BYTES  64 /* platform's reason, UTF-8, cut on a character boundary */

/* Stored values: append only (the byte is on flash). */
typedef enum evt_order_state {
    EVT_ORDER_SETTLING = 1, /* 2102 journalled, about to be or being sent: in doubt */
    EVT_ORDER_SETTLED = 2,  /* money moved, split known */
    EVT_ORDER_REFUSED = 3,  /* refused before money moved */
    EVT_ORDER_FAILED = 4,   /* failed before money moved */
    EVT_ORDER_UNKNOWN = 5,  /* 2102 sent, no usable answer: reversal owed (in doubt) */
    EVT_ORDER_REVERSED = 6, /* the reversal was acknowledged: no money moved */
} evt_order_state;

/* "settling", "settled", ... for logs and tests. */
const char *evt_order_state_name(evt_order_state state);

/*
 * The two books of the order book, both keyed by the POS order id of the sale. A refund (2103,
 * 药店结算撤销) of a settled sale is kept in its own record beside the sale's, in the same states
 * and under the same rules, so a refund follows the discipline of a sale:
 *
 *   (none) --refused/failed before money moved-----------------------------> REFUSED / FAILED
 *          --2103 about to be sent--> SETTLING --answer used (refunded)----> SETTLED
 *                                              --no usable answer---------> UNKNOWN
 *                                   UNKNOWN --2601 acknowledged (refund undone)--> REVERSED
 *
 * In the refund book: msgid is the 2103's, setl_id the cancelling entry's, day/hms when the
 * refund began, the amounts are what went back (positive: fund, own account, 共济, cash) and
 * balance the account's balance after the refund. The sale's record stays SETTLED: the
 * settlement happened. A sale may be refunded when its refund record is absent or proves no
 * money moved (REFUSED, FAILED, REVERSED); SETTLED (refunded) and in-doubt refund records refuse
 * a second refund.
 */
typedef enum evt_orders_book {
    EVT_ORDERS_SALES = 0,   /* EVT_ORDERS_TWIN_NAME */
    EVT_ORDERS_REFUNDS = 1, /* EVT_ORDERS_REFUND_TWIN_NAME */
    /* An outpatient visit's 2207, by the visit id, in the states of a sale (its msgid the
     * 2207's, total the visit's). */
    EVT_ORDERS_VISITS = 2, /* EVT_ORDERS_VISIT_TWIN_NAME */
    /* The refund (2208) of a settled visit, by the visit id, as EVT_ORDERS_REFUNDS is a sale's. */
    EVT_ORDERS_VISIT_REFUNDS = 3, /* EVT_ORDERS_VISIT_REFUND_TWIN_NAME */
} evt_orders_book;
#define EVT_ORDERS_BOOK_COUNT 4

/* The refund book of a book that settles (SALES, VISITS), or the settling book of a refund
 * book: the record that goes with an order's. */
evt_orders_book evt_orders_book_partner(evt_orders_book book);
/* A refund book (REFUNDS, VISIT_REFUNDS). */
bool evt_orders_book_is_refund(evt_orders_book book);

typedef struct evt_order_record {
    evt_order_state state;
    evt_err error;          /* why it ended so (EVT_OK when settled) */
    bool answer_unusable;   /* UNKNOWN/REVERSED because the platform's answer was unusable */
    bool needs_supervisor;  /* REVERSED after an unusable answer: retry needs a release */
    bool balance_present;   /* balc given (employee insurance) */
    uint32_t day;           /* yyyymmdd the sale started (local) */
    uint32_t hms;           /* hhmmss */
    char msgid[31];         /* the 2102, from SETTLING on */
    char setl_id[31];       /* SETTLED */
    char psn_no[31];        /* the person settled, for the reversal */
    char insuplc_admdvs[7]; /* the person's insured region, for the reversal */
    evt_fen total;          /* order total; medfee_sumamt once settled */
    evt_fen fund, account, mutual_aid, cash, balance; /* SETTLED: the split */
    char detail[EVT_ORDERS_DETAIL_BYTES];             /* the platform's words, if any */
    /* The operator on shift who confirmed the patient's identity ("" in records written before
     * operators were recorded, or before the identity check). Stored after the detail, which
     * then keeps only what fits in one twin record (a 30-character id leaves it 53 bytes). */
    char opter[31];
    /* The supervisor operator whose PIN authorised it (a refund; a sale's release after an
     * unusable answer): "" when the shared supervisor_pin did, or in records written before
     * supervisors were recorded. Stored last, after the opter, and cuts the detail the same way. */
    char approver[31];
} evt_order_record;

/*
 * Reads the sale record of order_id (evt_orders_book_get with EVT_ORDERS_SALES).
 * EVT_ERR_NOT_FOUND: the terminal never recorded it.
 * EVT_ERR_JOURNAL_CORRUPT: a record exists but no copy reads back intact — the terminal cannot
 * prove what happened to the order and must not start it (a supervisor decides).
 * EVT_ERR_ARG, EVT_ERR_STORAGE_IO.
 */
evt_err evt_orders_get(evt_journal *j, const char *order_id, evt_order_record *out);

/* Writes the sale record (both copies; durable on EVT_OK). Errors as evt_journal_twin_put. */
evt_err evt_orders_put(evt_journal *j, const char *order_id, const evt_order_record *rec);

/* The same for either book (the refund record of order_id in EVT_ORDERS_REFUNDS). */
evt_err evt_orders_book_get(evt_journal *j, evt_orders_book book, const char *order_id,
                            evt_order_record *out);
evt_err evt_orders_book_put(evt_journal *j, evt_orders_book book, const char *order_id,
                            const evt_order_record *rec);

/* True when the platform may have moved money and no answer or reversal has told (SETTLING,
 * UNKNOWN). */
bool evt_orders_in_doubt(const evt_order_record *rec);

/* True when the order may be started again: it provably moved no money (REFUSED, FAILED,
 * REVERSED) and no supervisor decision is pending. */
bool evt_orders_may_retry(const evt_order_record *rec);

/* Called for every recorded order; the rules of evt_journal_iterate apply (no writes). */
typedef evt_err (*evt_orders_visit_fn)(void *arg, const char *order_id,
                                       const evt_order_record *rec);
/* Visits every readable sale record; unreadable ones are counted in *unreadable (may be NULL). */
evt_err evt_orders_iterate(evt_journal *j, evt_orders_visit_fn visit, void *arg,
                           uint32_t *unreadable);
/* The same over either book. */
evt_err evt_orders_book_iterate(evt_journal *j, evt_orders_book book, evt_orders_visit_fn visit,
                                void *arg, uint32_t *unreadable);

/*
 * Receipt records: what a receipt shows beyond the order's record, kept so that any receipt of
 * the day can be printed again after a power-off. One per receipt (a settled sale, a refund),
 * under the msgid of the request that moved the money; a single copy (it guards no money: a
 * damaged one costs a reprint, never a settlement). Personal data only masked. The amounts and
 * references the receipt prints come from the order's record (evt_orders_book_get with book
 * and order_id); the item lines are not kept (docs/receipts.md, "Reprints").
 */
#define EVT_ORDERS_MASKED_BYTES 40 /* masked name or ID number, UTF-8, cut on a character */

typedef struct evt_orders_receipt {
    evt_orders_book book; /* a sale's receipt or a refund's */
    char order_id[EVT_ORDER_ID_BYTES];
    char mdtrt_id[31];
    char setl_time[20]; /* the platform's setl_time, as printed */
    char insutype[7];
    char patient[EVT_ORDERS_MASKED_BYTES];    /* masked name */
    char patient_id[EVT_ORDERS_MASKED_BYTES]; /* masked ID number */
    bool via_family_account;
    char holder[EVT_ORDERS_MASKED_BYTES]; /* masked name of the family account's holder */
    evt_fen total;                        /* medfee_sumamt (the refund's: what went back) */
    evt_fen fulamt_ownpay_amt, overlmt_selfpay, preselfpay_amt;
} evt_orders_receipt;

/* The local day (yyyymmdd) and time (hhmmss) a msgid was made: institution code (12), then
 * yyyyMMddHHmmss. False when msgid has no such time. */
bool evt_orders_msgid_time(const char *msgid, uint32_t *day, uint32_t *hms);

/* Writes the receipt record of msgid (durable on EVT_OK). EVT_ERR_ARG for an empty order id or a
 * field that does not fit; journal errors. */
evt_err evt_orders_receipt_put(evt_journal *j, const char *msgid, const evt_orders_receipt *rc);
/* Reads it. EVT_ERR_NOT_FOUND; EVT_ERR_JOURNAL_CORRUPT (damaged, or of another layout). */
evt_err evt_orders_receipt_get(evt_journal *j, const char *msgid, evt_orders_receipt *out);
/* Every readable receipt record; the rules of evt_journal_iterate apply (no writes). */
typedef evt_err (*evt_orders_receipt_visit_fn)(void *arg, const char *msgid,
                                               const evt_orders_receipt *rc);
evt_err evt_orders_receipt_iterate(evt_journal *j, evt_orders_receipt_visit_fn visit, void *arg);

/* Marks day (yyyymmdd) as closed by the daily close: its records may go once it is over. */
evt_err evt_orders_close_day(evt_journal *j, uint32_t day);

/* Totals of one day's settled orders (count, total, fund, account, 共济, cash), computed from the
 * records: the daily close's figures. */
typedef struct evt_orders_totals {
    uint32_t count;
    evt_fen total, fund, account, mutual_aid, cash;
} evt_orders_totals;
evt_err evt_orders_day_totals(evt_journal *j, uint32_t day, evt_orders_totals *out);

/*
 * Frees room for one more sale or refund: if the journal has less free room (bytes or index keys)
 * than one needs (its record, pending and reversal records, and its receipt record), removes,
 * until there is room: orders that may go (their day is before `today`, is closed or at least
 * keep_days old, and neither the sale nor its refund is in doubt or waiting for a supervisor) —
 * the sale's record, its refund's and both receipt records — oldest day first; then the oldest
 * receipt records (past days' first), but only if removing all of them would make the room: a
 * sale is never refused for a reprint, and no reprint is lost for nothing. EVT_OK when a sale can
 * be recorded; EVT_ERR_JOURNAL_FULL when not even then; journal errors. *removed (may be NULL)
 * counts the orders removed.
 */
evt_err evt_orders_make_room(evt_journal *j, uint32_t today, uint32_t keep_days, uint32_t *removed);

/* Days between two yyyymmdd dates (b - a), for the retention rule; 0 for an invalid date. */
int32_t evt_orders_days_between(uint32_t a, uint32_t b);

#endif /* EVT_ORDERS_H */
