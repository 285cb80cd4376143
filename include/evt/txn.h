/*
 * evt_txn: the pharmacy sale (药店购药), from an order to a printed receipt.
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

/* What the last receipt showed, kept (personal data already masked) so the cashier can
 * reprint it after a paper jam or paper-out. RAM only: lost at power-off, like a printer's
 * own buffer; the settlement itself is safe on the platform and in the journal. Its items are
 * the engine's one order buffer (evt_txn.order), so the next order ends it. */
typedef struct evt_txn_last_receipt {
    bool valid;
    bool printed;
    char msgid[31];
    evt_settlement setl;
    char name_masked[EVT_NAME_BYTES * 2];
    char id_masked[40];
    char holder_masked[EVT_NAME_BYTES * 2];
    bool via_family_account;
    char insutype[7];
    char insured_region[7];
} evt_txn_last_receipt;

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
    bool quit_requested;        /* the board asked to stop during a sale */
    evt_txn_last_receipt *last; /* from the arena */
    uint32_t scan_timeout_ms;
    uint32_t decision_timeout_ms;
    uint32_t order_keep_days; /* retention of order records (evt_orders_make_room) */
} evt_txn;

evt_err evt_txn_init(evt_txn *t, const evt_hal *hal, const evt_config *cfg, evt_platform *platform,
                     evt_journal *journal, evt_ui *ui);
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
 * from evt_txn_order (copied there unless it is already that buffer): the last receipt ends. A
 * journal without room for the sale's records refuses it before anything is scanned.
 */
evt_err evt_txn_pharmacy_sale(evt_txn *t, const evt_order *order, evt_ecr_result *result);

/*
 * The one order buffer, for whoever brings the next order to evt_txn_pharmacy_sale: the ECR
 * link (which writes it only when it hands a sale out) or the keyed entry. It holds the last
 * receipt's items until then: a writer that may give up half-way calls
 * evt_txn_forget_last_receipt first.
 */
evt_order *evt_txn_order(evt_txn *t);

/* Ends the last receipt (its items are about to be overwritten): a reprint then says none. */
void evt_txn_forget_last_receipt(evt_txn *t);

/* Prints the last settlement's receipt again, marked 重打印. EVT_ERR_NOT_FOUND when there is
 * none since start-up; printer errors as the printer reports them. */
evt_err evt_txn_reprint_last(evt_txn *t);

/* Stored result of an order (ECR idempotency and status). EVT_ERR_NOT_FOUND if none; an
 * unreadable record gives EVT_OK with a blocked refusal (EVT_ERR_ORDER_RECORD_UNREADABLE). */
evt_err evt_txn_lookup_order(evt_txn *t, const char *order_id, evt_ecr_result *out);

/* A supervisor's release of an order blocked after an unusable settlement answer (it may be
 * tried again). EVT_ERR_NOT_FOUND when no such blocked order; journal errors. */
evt_err evt_txn_release_order(evt_txn *t, const char *order_id);

/* Up to max ids of orders waiting for a supervisor's release (ids: EVT_ORDER_ID_BYTES each). */
evt_err evt_txn_blocked_orders(evt_txn *t, char (*ids)[EVT_ORDER_ID_BYTES], unsigned max,
                               unsigned *count);

#endif /* EVT_TXN_H */
