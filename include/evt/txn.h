/*
 * evt_txn: the pharmacy sale (药店购药), from an order to a printed receipt.
 *
 *   order -> "请出示医保电子凭证" -> scan -> local classification -> ec.query -> 1101
 *   -> identity screen (cashier confirms) -> 2101 -> split screen (cashier confirms)
 *   -> 2102 (journalled first) -> receipt -> result
 *
 * Money moves only in 2102, and only after the cashier confirmed both the identity and the
 * split. Every way out of a sale ends in exactly one evt_ecr_result for the POS.
 */
#ifndef EVT_TXN_H
#define EVT_TXN_H

#include <stdbool.h>
#include <stdint.h>

#include "evt/config.h"
#include "evt/ecr.h"
#include "evt/hal.h"
#include "evt/journal.h"
#include "evt/platform.h"
#include "evt/ui.h"
#include "evt/voucher.h"

/* Day totals for the daily close (3201), kept in the journal under day/<yyyymmdd>; written
 * by every settled sale, read by the daily close when it lands. */
typedef struct evt_txn_day_totals {
    uint32_t count;
    evt_fen total;
    evt_fen fund;
    evt_fen account;
    evt_fen mutual_aid;
    evt_fen cash;
} evt_txn_day_totals;

typedef struct evt_txn_counters {
    uint32_t settled;
    uint32_t refused;
    uint32_t failed;
    uint32_t unknown;
    uint32_t receipts_failed;
} evt_txn_counters;

/* What the last receipt showed, kept (personal data already masked) so the cashier can
 * reprint it after a paper jam or paper-out. RAM only: lost at power-off, like a printer's
 * own buffer; the settlement itself is safe on the platform and in the journal. */
typedef struct evt_txn_last_receipt {
    bool valid;
    bool printed;
    char msgid[31];
    evt_order order;
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
    uint8_t *receipt_job; /* EVT_RECEIPT_JOB_BYTES from the arena */
    evt_voucher_guard guard;
    evt_txn_counters counters;
    bool quit_requested;        /* the board asked to stop during a sale */
    evt_txn_last_receipt *last; /* from the arena */
    uint32_t scan_timeout_ms;
    uint32_t decision_timeout_ms;
} evt_txn;

evt_err evt_txn_init(evt_txn *t, const evt_hal *hal, const evt_config *cfg, evt_platform *platform,
                     evt_journal *journal, evt_ui *ui);
void evt_txn_deinit(evt_txn *t);

/*
 * Runs one pharmacy sale. Always fills *result (status, error, amounts when settled) and
 * returns its error (EVT_OK when settled). A settled order id is remembered: running it
 * again returns the stored result without a second settlement.
 */
evt_err evt_txn_pharmacy_sale(evt_txn *t, const evt_order *order, evt_ecr_result *result);

/* Prints the last settlement's receipt again, marked 重打印. EVT_ERR_NOT_FOUND when there is
 * none since start-up; printer errors as the printer reports them. */
evt_err evt_txn_reprint_last(evt_txn *t);

/* Stored result of a settled order (ECR idempotency). EVT_ERR_NOT_FOUND if none. */
evt_err evt_txn_lookup_order(evt_txn *t, const char *order_id, evt_ecr_result *out);

#endif /* EVT_TXN_H */
