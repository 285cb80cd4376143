/*
 * evt_txn: the pharmacy sale (药店购药), from an order to a printed receipt, its refund (退费)
 * and the reprint of any receipt of the day.
 *
 *   order -> "请出示医保电子凭证" -> scan -> local classification -> ec.query -> 1101
 *   -> identity screen (cashier confirms) -> 2101 -> split screen (cashier confirms)
 *   -> 2102 (journalled first) -> receipt -> result
 *
 * Money moves only in 2102, and only after the cashier confirmed both the identity and the
 * split. Every way out of a sale ends in exactly one evt_ecr_result for the POS, and in the
 * order's record in the journal (evt_orders): the record is written before anything else
 * happens after each outcome — before the pending 2102 record is dropped, before the receipt,
 * before the POS is told — so a power cut can only leave the order in doubt, never forgotten.
 *
 * A refund (evt_txn_refund, refund.c) of a settled sale of the order book:
 *
 *   receipt QR or today's list -> sale settled, not refunded, no refund in doubt -> refund
 *   screen (cashier confirms) -> supervisor PIN -> 2103 (its own record, journalled first)
 *   -> refund receipt -> result
 *
 * with the same discipline: the refund's record (EVT_ORDERS_REFUNDS) says SETTLING before the
 * 2103 leaves, an unknown outcome is reversed (2601), and the sale is not refunded again while
 * its refund is in doubt. Every receipt printed keeps a receipt record (evt_orders_receipt),
 * so any receipt of the day can be printed again, after a power-off too (evt_txn_reprint).
 */
#ifndef EVT_TXN_H
#define EVT_TXN_H

#include <stdbool.h>
#include <stdint.h>

#include "evt/config.h"
#include "evt/ecr.h"
#include "evt/hal.h"
#include "evt/journal.h"
#include "evt/orders.h"
#include "evt/platform.h"
#include "evt/ui.h"
#include "evt/voucher.h"

typedef struct evt_txn_counters {
    uint32_t settled;
    uint32_t refused;
    uint32_t failed;
    uint32_t unknown;
    uint32_t receipts_failed;
} evt_txn_counters;

typedef struct evt_txn {
    const evt_hal *hal;
    const evt_config *cfg;
    evt_platform *platform;
    evt_journal *journal;
    evt_ui *ui;
    /* The terminal's one copy of an order (arena): the order being served, then the last
     * receipt's items until the next order is written into it (evt_txn_order). */
    evt_order *order;
    evt_voucher_guard guard;
    evt_txn_counters counters;
    bool quit_requested; /* the board asked to stop during a sale */
    /* The receipt (msgid) whose items the order buffer still holds: its reprint prints them
     * ("" none). Everything else a reprint needs is in the journal (evt_orders_receipt). */
    char items_msgid[EVT_MSGID_BYTES];
    /* A receipt that did not reach paper (printer error): its next print is the original, not
     * a copy marked 重打印 ("" none). RAM only: after a power-off every print is a copy. */
    char unprinted_msgid[EVT_MSGID_BYTES];
    uint32_t scan_timeout_ms;
    uint32_t scan_seconds_left; /* of the scan wait running: its prompt counts them down */
    uint32_t decision_timeout_ms;
    uint32_t order_keep_days; /* retention of order records (evt_orders_make_room) */
    /* Who the last evt_txn_supervisor_approves let through: the supervisor operator's id, ""
     * when the shared supervisor_pin did (or it refused). What they authorise records it. */
    char approver[EVT_CONFIG_OPERATOR_ID];
    /* evt_txn_set_result_hook */
    void (*on_result)(void *ctx, const evt_ecr_result *result);
    void *on_result_ctx;
    /* Set by a flow around a step that ends it when refused (the supervisor's PIN of a refund):
     * called once, with the refusal, just before that step draws its screen of why, so the
     * POS has the outcome before a screen waits for the cashier's key. Cleared when called. */
    void (*before_error_screen)(void *ctx, evt_err err);
    void *before_error_screen_ctx;
} evt_txn;

evt_err evt_txn_init(evt_txn *t, const evt_hal *hal, const evt_config *cfg, evt_platform *platform,
                     evt_journal *journal, evt_ui *ui);

/*
 * fn is called once per sale, visit or refund, the moment its outcome is final and recorded —
 * before the receipt prints and before the cashier acknowledges the result or error screen —
 * with the result the flow then also returns (a refund's has its refund flag set; one refused
 * by the supervisor's PIN step comes once that step returned). The app sends it to the POS from
 * there, so the POS never waits for the cashier's key (issue 7). Refusals before the flow starts
 * (an invalid order, no operator, a full journal) are published too; a stored result returned for a
 * repeated order comes back only as the flow's return. NULL: none.
 */
void evt_txn_set_result_hook(evt_txn *t, void (*fn)(void *ctx, const evt_ecr_result *result),
                             void *ctx);
void evt_txn_deinit(evt_txn *t);

/*
 * Start-up recovery, after evt_platform_recover: every order still in doubt gets its reversal
 * owed (re-created from the order's record if the platform's record is gone) and is marked
 * UNKNOWN. Registers the engine as the platform's settlement owner first.
 */
evt_err evt_txn_recover(evt_txn *t);

/*
 * Runs one pharmacy sale. Always fills *result (status, error, amounts when settled) and
 * returns its error (EVT_OK when settled). An order id the terminal already has a record of is
 * not started again unless that record proves no money moved (refused, failed, reversed) and
 * no supervisor decision is pending: the stored result is returned instead. The order is served
 * from evt_txn_order (copied there unless it is already that buffer): the last receipt's items
 * go (its reprint prints without them). A
 * journal without room for the sale's records refuses it before anything is scanned.
 */
evt_err evt_txn_pharmacy_sale(evt_txn *t, const evt_order *order, evt_ecr_result *result);

/*
 * The one order buffer, for whoever brings the next order to evt_txn_pharmacy_sale: the ECR
 * link (which writes it only when it hands a sale out) or the keyed entry. It holds the last
 * receipt's items until then (a reprint of that receipt prints them): a writer that may give
 * up half-way calls evt_txn_forget_last_receipt first.
 */
evt_order *evt_txn_order(evt_txn *t);

/* The order buffer's items are about to be overwritten: a reprint of the last receipt then
 * prints without them (it says they are on the original). */
void evt_txn_forget_last_receipt(evt_txn *t);

/*
 * Prints the receipt of msgid again — a sale's or a refund's, of any day the journal still
 * keeps, after a power-off too — from its receipt record and its order's record, marked 重打印
 * (unless it never reached paper: then it is the original). The item lines are printed when the
 * order buffer still holds them, else a line says they are on the original receipt.
 * EVT_ERR_NOT_FOUND: no receipt record of msgid (an older sale, or removed with its order);
 * EVT_ERR_JOURNAL_CORRUPT: the record is damaged; printer and journal errors.
 */
evt_err evt_txn_reprint(evt_txn *t, const char *msgid);

/* One line of a list of the day: a receipt to reprint, or a sale to refund. */
typedef struct evt_txn_day_entry {
    evt_orders_book book; /* a sale's receipt, or a refund's */
    char order_id[EVT_ORDER_ID_BYTES];
    char msgid[EVT_MSGID_BYTES];           /* of the 2102 (a sale) or the 2103 (a refund) */
    uint32_t hms;                          /* hhmmss */
    char patient[EVT_ORDERS_MASKED_BYTES]; /* masked; "" when not kept */
    evt_fen total;
} evt_txn_day_entry;

typedef enum evt_txn_day_list {
    EVT_TXN_DAY_RECEIPTS,   /* receipts printed today (sales and refunds) */
    EVT_TXN_DAY_REFUNDABLE, /* today's settled sales and visits that have not been refunded */
} evt_txn_day_list;

#define EVT_TXN_DAY_PAGE 8u /* entries per page: the menu keys 1-8, 9 for the next page */

/*
 * One page of today's list, newest first: the entries older than *before (NULL: from the
 * newest), at most EVT_TXN_DAY_PAGE; *more tells whether older ones follow. Walks the journal
 * once per page and holds only the page: the day's length costs no memory. Journal errors.
 */
evt_err evt_txn_day_page(evt_txn *t, evt_txn_day_list list, const evt_txn_day_entry *before,
                         evt_txn_day_entry page[EVT_TXN_DAY_PAGE], unsigned *count, bool *more);

/* [功能] → 补打结算单: today's receipts listed, the chosen one reprinted, the cashier told. */
void evt_txn_reprint_from_list(evt_txn *t, bool *quit);

/*
 * Refund (退费, 2103) of a settled sale of the order book, with the cashier's screens: the sale
 * is checked (settled; not refunded, no refund in doubt: else refused with the first refund's
 * date), the refund is shown (where each part goes back) and confirmed, a supervisor's PIN
 * authorises it, the 2103 follows the unknown-outcome discipline of a sale (refund record before
 * sending, 2601 when the outcome is unknown), the refund receipt is printed. Returns EVT_OK when
 * refunded, else why not (the screens said so).
 */
evt_err evt_txn_refund(evt_txn *t, const char *order_id, bool *quit);
/* The refund started by scanning the receipt's QR code (EVTS1 reference): of a sale (2103) or,
 * from a 门诊结算单, of a visit (2208, on the same steps, its record in
 * EVT_ORDERS_VISIT_REFUNDS; the registration stays: docs/protocol-decisions.md). */
evt_err evt_txn_refund_by_scan(evt_txn *t, bool *quit);
/* The refund of a sale or a visit chosen from today's settled sales and visits. */
evt_err evt_txn_refund_from_list(evt_txn *t, bool *quit);

/*
 * A refund the POS asks for over the ECR link (docs/ecr-link.md "refund"), judged without a
 * screen: today's sale order_id, else today's visit. true with *out (refund flag set) when it
 * must not start — its refund's outcome stands (refunded: refused EVT_ERR_REFUND_DONE with the
 * date and the refund's references; in doubt: unknown, EVT_ERR_REFUND_IN_DOUBT) or it cannot
 * be refunded (EVT_ERR_REFUND_UNKNOWN_SALE, EVT_ERR_REFUND_NOT_TODAY, EVT_ERR_REFUND_NOT_SETTLED,
 * the sale in doubt, an unreadable record); false when it may start (nothing refunded, or its
 * last refund moved no money). Reads the journal only.
 */
bool evt_txn_refund_answer(evt_txn *t, const char *order_id, evt_ecr_result *out);

/*
 * Runs the refund the POS asked for (after evt_txn_refund_answer let it start and the POS got
 * its ack) on the same steps as the menu's: the refund screen, the cashier's confirmation, the
 * supervisor's PIN, the 2103 or 2208 with its record and reversal discipline, the refund
 * receipt. *result (refund flag set): refunded with the amounts that went back, refused (why),
 * failed or unknown; published through the result hook the moment it is final. Nobody on
 * shift: refused EVT_ERR_NOT_SIGNED_IN at once, as a sale.
 */
evt_err evt_txn_refund_for_pos(evt_txn *t, const char *order_id, evt_ecr_result *result,
                               bool *quit);

/* What the PIN screen says: title, line (may be NULL), whose PIN it asks for after the stars'
 * label ("主管密码" for a supervisor's approval, "密码" for an operator's login) and a notice
 * (may be NULL). */
typedef struct evt_txn_pin_ask {
    const char *title;
    const char *line;
    const char *label;
    const char *notice;
} evt_txn_pin_ask;

/*
 * The one "ask for a PIN" step: the PIN screen (*ask), the check against hash for role (evt_auth:
 * "supervisor", "op/<operator id>") with its lockout, and the screen that says why not. EVT_OK when
 * right; EVT_ERR_AUTH_FAILED, EVT_ERR_AUTH_LOCKED (shown, acknowledged); EVT_ERR_CANCELLED or
 * EVT_ERR_TIMEOUT (*quit set for the board's QUIT); journal errors.
 */
evt_err evt_txn_pin_approves(evt_txn *t, const char *role, const evt_pin_hash *hash,
                             const evt_txn_pin_ask *ask, bool *quit);

/* evt_txn_pin_approves with an operator's own PIN and lockout (evt_auth "op/<operator id>"):
 * their login, and their approval as a supervisor, count wrong PINs together. */
evt_err evt_txn_operator_approves(evt_txn *t, const evt_config_operator *op,
                                  const evt_txn_pin_ask *ask, bool *quit);

/*
 * The one "ask for the supervisor's PIN" step. With supervisor operators provisioned
 * (cfg->supervisor_count): which supervisor (a list of the supervisors only, skipped when there
 * is one), then that supervisor's PIN, checked against their own hash with their own lockout
 * (evt_auth "op/<id>", the counter of their login); a cashier's PIN never authorises. Without
 * them: the shared supervisor_pin (evt_auth "supervisor"). The PIN screen shows title, line
 * and notice (may be NULL) and the supervisor's name; a refusal is shown until acknowledged.
 * EVT_OK when a supervisor approved, t->approver then names them ("" for supervisor_pin);
 * EVT_ERR_CONFIG_MISSING (nobody provisioned to authorise), EVT_ERR_AUTH_FAILED,
 * EVT_ERR_AUTH_LOCKED; EVT_ERR_CANCELLED or EVT_ERR_TIMEOUT (no supervisor chosen or no PIN
 * given; *quit set for the board's QUIT); EVT_ERR_NOMEM, journal errors.
 */
evt_err evt_txn_supervisor_approves(evt_txn *t, const char *title, const char *line,
                                    const char *notice, bool *quit);

/*
 * The outpatient visit (门诊) at a clinic's billing window (clinic.c):
 *
 *   visit header -> scan -> ec.query -> 1101 -> identity (cashier confirms) -> 2201 registration
 *   -> 2203 visit information (med_type 11 general, 14 chronic/special with its disease code)
 *   -> 2204 fee lines, batch after batch as the HIS sends them (each batch's answer shown:
 *   甲/乙/丙, the self-paid parts) -> 2206 pre-settlement -> split (cashier confirms)
 *   -> 2207 (the sale's money discipline: its record in EVT_ORDERS_VISITS before it leaves,
 *   2601 when the outcome is unknown) -> 门诊结算单 -> result
 *
 * The terminal never holds the visit: one batch at a time in the order buffer (evt_txn_order),
 * of the visit only running totals. A visit given up after its registration is undone (2202);
 * a batch whose 2204 answer was lost is undone (2205) and sent again once. The open visit's
 * record ("vopen" in the journal, written before the 2201 leaves) lets a visit cut by a power
 * cut be undone or found finished at the next start (evt_txn_clinic_recover).
 */
/* Fills batch (its lines cleared, order_id the visit's) with the visit's next fee lines, at most
 * EVT_ORDER_MAX_ITEMS (evt_order_add_item); *last set with the visit's final batch. An error
 * abandons the visit (2202). */
typedef evt_err (*evt_visit_next_fn)(void *ctx, evt_order *batch, bool *last);

/*
 * Runs one outpatient visit with the cashier's screens; *result as for a sale (the visit id as
 * order_id, the 2207's msgid). Refused before anything is scanned: a bad header, more lines than
 * EVT_VISIT_MAX_LINES (EVT_ERR_ORDER_TOO_LARGE), a visit id already settled or in doubt, no
 * room in the journal, an earlier visit not yet undone.
 */
evt_err evt_txn_clinic_visit(evt_txn *t, const evt_visit *visit, evt_visit_next_fn next, void *ctx,
                             evt_ecr_result *result);

/*
 * A visit the terminal left open (power cut, lost connection): finished when its 2207 settled,
 * undone (2202) when nothing settled; left for later while its 2207 is in doubt (the reversal
 * comes first) or the platform cannot be reached. Called at start-up after the sign-in and
 * before each visit. EVT_OK when no visit is left open; EVT_ERR_REVERSAL_PENDING or the call's
 * error when one still is.
 */
evt_err evt_txn_clinic_recover(evt_txn *t);

/* Stored result of an order (ECR idempotency and status). EVT_ERR_NOT_FOUND if none; an
 * unreadable record gives EVT_OK with a blocked refusal (EVT_ERR_ORDER_RECORD_UNREADABLE). */
evt_err evt_txn_lookup_order(evt_txn *t, const char *order_id, evt_ecr_result *out);

/* A supervisor's release of an order blocked after an unusable settlement answer (it may be
 * tried again), after evt_txn_supervisor_approves: the record and the log line keep who
 * (t->approver). EVT_ERR_NOT_FOUND when no such blocked order; journal errors. */
evt_err evt_txn_release_order(evt_txn *t, const char *order_id);

/* Up to max ids of orders waiting for a supervisor's release (ids: EVT_ORDER_ID_BYTES each). */
evt_err evt_txn_blocked_orders(evt_txn *t, char (*ids)[EVT_ORDER_ID_BYTES], unsigned max,
                               unsigned *count);

/* What the daily close found (the batch report's figures). */
typedef struct evt_txn_close_summary {
    char date[16]; /* yyyy-MM-dd */
    bool balanced; /* every group's 3201 balanced, no settlement differs, nothing unreadable */
    bool printed;  /* the batch report reached the printer */
    uint32_t sales, visits, refunds, reversals, differences; /* refunds: 2103s and 2208s */
    evt_fen sold, visited, refunded;
    /* Per operator (id as the records keep it), the report's table. */
    evt_ecr_report_operator operators[EVT_ECR_REPORT_OPERATORS];
    unsigned operator_count;
} evt_txn_close_summary;

/*
 * The daily close (日结) of today: totals of the settled sales standing (not refunded) per
 * insurance type and clearing institution, computed from the order records one at a time
 * (bounded memory, whatever the day's length); 3201 for each; where any differs, 3202 with the
 * day's settlements finds which; the batch report (sales, refunds, reversals, per operator,
 * both sides of every total, the differing settlements by masked reference) printed and shown.
 * A balanced day is marked closed (evt_orders_close_day). EVT_OK when the close ran (balanced or
 * not: *summary says); journal errors, EVT_ERR_NOMEM.
 */
evt_err evt_txn_daily_close(evt_txn *t, evt_txn_close_summary *summary);

#endif /* EVT_TXN_H */
