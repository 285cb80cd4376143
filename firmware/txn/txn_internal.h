/*
 * The steps the flows of evt_txn share — the pharmacy sale (txn.c), its refund and the reprints
 * (refund.c) — in txn_steps.c: a flow is a list of these steps, never a copy of another flow.
 * Internal to firmware/txn.
 */
#ifndef EVT_TXN_INTERNAL_H
#define EVT_TXN_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "evt/orders.h"
#include "evt/platform.h"
#include "evt/proto.h"
#include "evt/txn.h"

#define TXN_MOD "txn"
/* Scanner buffer: one byte more than the longest voucher so over-long codes are seen. */
#define TXN_SCAN_BYTES (EVT_VOUCHER_MAX_LEN + 64)
/* "yyyy-MM-dd HH:mm" and its NUL. */
#define TXN_WHEN_BYTES 17

/* ---- the cashier -------------------------------------------------------------------------- */

/* Waits (bounded) for OK or CANCEL on the screen shown; keys pressed before it appeared, and an
 * OK sooner than min_dwell_ms after it appeared, do not count (ui.h). EVT_OK with *confirmed;
 * otherwise why there was no decision (a board QUIT also stops the terminal). */
evt_err evt_txn_cashier_decision(evt_txn *t, uint32_t min_dwell_ms, bool *confirmed);
/* The cashier confirmed the decision on screen: EVT_OK, or why not. */
evt_err evt_txn_cashier_confirmed(evt_txn *t, uint32_t min_dwell_ms);
/* Shows an error screen and waits for the cashier to acknowledge it (bounded). */
void evt_txn_show_error_and_wait(evt_txn *t, const char *title, evt_err err, const char *detail);
/* Why the insurance record the platform refused cannot settle, in the platform's own terms:
 * "职工基本医疗保险 终止参保（2024-01-01）" (the record's insutype, status, and its
 * paus_insu_date when given). insu may be NULL (then out is empty). */
void evt_txn_insurance_refusal(const evt_insurance *insu, char *out, size_t cap);

/* ---- results ------------------------------------------------------------------------------- */

/* What the POS (or the HIS) is told about an order or a visit, from its record. */
void evt_txn_result_from_record(const char *order_id, const evt_order_record *rec,
                                evt_ecr_result *r);
/* The result's message for the POS: err's cashier text, then "：" and detail when given (NULL or
 * ""), cut on a UTF-8 character boundary. */
void evt_txn_result_message(evt_ecr_result *r, evt_err err, const char *detail);
/* A result that is not the record's (nothing recorded: invalid input, no room), for the POS
 * and the counters; returns err. */
evt_err evt_txn_result_unrecorded(evt_txn *t, evt_ecr_result *r, evt_ecr_status status, evt_err err,
                                  const char *detail);
/* The result in the terminal's counters. */
void evt_txn_count_result(evt_txn *t, evt_ecr_status status);

/* The operator on shift into rec->opter (the one who confirms the case at the terminal). */
void evt_txn_record_operator(evt_txn *t, evt_order_record *rec);
/* The name a receipt prints for the operator id a record keeps: the provisioned name, the id
 * of an operator no longer provisioned, the legacy opter for records from before operators. */
#define TXN_OPERATOR_NAME_BYTES 51
void evt_txn_operator_name(const evt_txn *t, const char *opter, char out[TXN_OPERATOR_NAME_BYTES]);

/* The flow's outcome is final and recorded: it goes to the result hook (evt_txn_set_result_hook)
 * before anything the cashier has to acknowledge. */
void evt_txn_publish(evt_txn *t, const evt_ecr_result *result);

/* Nobody on shift: the order or visit is refused at once (EVT_ERR_NOT_SIGNED_IN, 请操作员先登录
 * 签到), nothing recorded, nothing sent; the POS may send it again after the login. EVT_OK when
 * an operator is signed in. */
evt_err evt_txn_refuse_off_shift(evt_txn *t, evt_ecr_result *result);

/* ---- records ------------------------------------------------------------------------------- */

/* The platform's words (may be NULL) into the record, cut on a UTF-8 character boundary. */
void evt_txn_record_detail(evt_order_record *rec, const char *detail);
/* A call that failed before money moved: REFUSED when the platform refused, else FAILED. */
evt_order_state evt_txn_state_for_call_error(evt_err err);

/* ---- scanning ------------------------------------------------------------------------------ */

typedef enum evt_txn_scan_outcome {
    EVT_TXN_SCAN_GOT_CODE,
    EVT_TXN_SCAN_CANCELLED,
    EVT_TXN_SCAN_TIMED_OUT,
    EVT_TXN_SCAN_QUIT,
} evt_txn_scan_outcome;

/* Takes a scanned code (len bytes, not NUL-terminated): EVT_OK ends the wait, any other error
 * is the refusal the prompt then shows under it. */
typedef evt_err (*evt_txn_scan_accept_fn)(void *arg, const uint8_t *code, size_t len);
/* Draws the prompt with notice (may be empty). */
typedef void (*evt_txn_scan_prompt_fn)(void *arg, const char *notice);

/* Waits (t->scan_timeout_ms) for a code accept takes, showing prompt and under it why the last
 * code was refused (notice: EVT_UI_LINE_BYTES, kept by the caller across waits). The cashier's
 * CANCEL ends it; QUIT stops the terminal. */
evt_txn_scan_outcome evt_txn_wait_scan(evt_txn *t, evt_txn_scan_prompt_fn prompt,
                                       evt_txn_scan_accept_fn accept, void *arg, char *notice);

/* ---- platform steps before the money --------------------------------------------------------- */

/* Parses an answer into the flow's state (arg). */
typedef evt_err (*evt_txn_parse_fn)(void *arg, const evt_proto_response *resp, evt_json_diag *diag);

/* One platform call that moves no money, its answer parsed by parse(arg): the progress screen
 * (NULL: none), the call, the parse. The platform's own words (err_msg) end up in msg. */
evt_err evt_txn_platform_step(evt_txn *t, const char *progress, const char *infno,
                              const char *insuplc, evt_platform_build_fn build,
                              evt_txn_parse_fn parse, void *arg, char msg[EVT_PROTO_MSG_BYTES]);

/* The patient of a flow: who showed the code and what the platform knows of them. */
typedef struct evt_txn_patient {
    evt_txn *t;
    const evt_order *order; /* what the scan prompt shows (its id names the flow in the log) */
    evt_voucher_info voucher;
    evt_person person;
    const evt_insurance *insu; /* the insurance settled under (in person) */
    char scan_notice[EVT_UI_LINE_BYTES];
    char qr_text[TXN_SCAN_BYTES + 1];
    bool connection_prepared;
    /* Why the patient step stopped, for the screen shown once the flow's outcome is recorded
     * and sent (evt_txn_tell_failure); NULL when the cashier needs no screen (a cancel). */
    const char *fail_title;
} evt_txn_patient;

/*
 * scan -> ec.query (its refusals shown under the prompt: the customer may show another code)
 * -> 1101 (the same person as the voucher) -> the insurance to settle under -> the identity
 * screen confirmed by the cashier. EVT_OK, or why not: *stop is the state the flow records
 * (REFUSED, or FAILED when the platform could not be reached) and detail what it records with
 * it ("" none). The cashier is told why by evt_txn_tell_failure, after the flow recorded and
 * sent its outcome.
 */
evt_err evt_txn_identify(evt_txn_patient *p, evt_order_state *stop,
                         char detail[EVT_PROTO_MSG_BYTES]);
/* The screen of a failed evt_txn_identify (p->fail_title), acknowledged by the cashier. */
void evt_txn_tell_failure(const evt_txn_patient *p, evt_err err, const char *detail);

/* The patient has a personal account (employee insurance): the split shows it. */
bool evt_txn_has_account(const evt_insurance *insu);

/* ---- the money: a settlement-type request (2102, 2103) ------------------------------------- */

/* Parses and checks the answer of the call into the flow's own state and, on EVT_OK, writes
 * the result into *rec (setl_id, amounts); leaves *rec alone otherwise. */
typedef evt_err (*evt_txn_answer_fn)(void *arg, const evt_proto_response *resp, evt_json_diag *diag,
                                     evt_order_record *rec);

typedef struct evt_txn_money_call {
    evt_txn *t;
    evt_orders_book book;  /* the record that follows the request: a sale's or a refund's */
    const char *order_id;  /* its key */
    evt_order_record *rec; /* state 0 (fresh) on entry; written at every step */
    const char *infno;     /* EVT_INFNO_SETTLE, EVT_INFNO_SETTLE_CANCEL */
    const char *psn_no;    /* the person, for the platform's pending and reversal records */
    const char *insuplc;   /* the person's insured region */
    evt_platform_build_fn build;
    evt_txn_answer_fn answer;
    void *arg; /* of build and answer */
    /* results */
    evt_err why;   /* why not DONE */
    bool reversed; /* UNKNOWN: the reversal was acknowledged at once (*rec is REVERSED) */
    char platform_msg[EVT_PROTO_MSG_BYTES];
} evt_txn_money_call;

typedef enum evt_txn_money_outcome {
    EVT_TXN_MONEY_NOT_SENT, /* stopped before the record said SETTLING: nothing left the terminal,
                           nothing was recorded */
    EVT_TXN_MONEY_REFUSED,  /* refused by the platform, or never sent: REFUSED/FAILED recorded */
    EVT_TXN_MONEY_DONE,     /* answered, checked and recorded: SETTLED */
    EVT_TXN_MONEY_UNKNOWN,  /* no usable answer: UNKNOWN recorded, a 2601 owed and tried once */
} evt_txn_money_outcome;

/*
 * Sends the request with the discipline of docs/protocol-decisions.md: the record says SETTLING
 * (with the msgid) before the platform journals its pending record and sends; the outcome is
 * recorded before the pending record is dropped; an answer that is missing, unusable or cannot
 * be recorded makes the outcome UNKNOWN and the pending record a reversal owed, tried at once.
 */
evt_txn_money_outcome evt_txn_money(evt_txn_money_call *c);

/* The settlement's references and split into the record (an answer's last step). */
void evt_txn_record_split(evt_order_record *rec, const evt_settlement *setl);

/*
 * The money step of a flow that pays (a sale's 2102, a visit's 2207): c sent by evt_txn_money,
 * then, unless NOT_SENT, *r from the record and the cashier told — refused, reversed, in doubt;
 * or, settled, the receipt record, the receipt (items: its lines, NULL none) and the settled
 * screen. setl: where c->answer put the settlement. p: the patient.
 */
evt_txn_money_outcome evt_txn_settle(evt_txn_money_call *c, const evt_txn_patient *p,
                                     const evt_settlement *setl, const evt_order *items,
                                     evt_ecr_result *r);

/* ---- receipts ------------------------------------------------------------------------------ */

/*
 * Prints a receipt from the order's record (references, amounts) and its receipt record
 * (what else it shows): a sale's or a refund's (rc->book), the original or a copy (reprint).
 * items: the order's lines, or NULL when not at hand. original_setl_id: a refund's sale.
 * Printer errors are counted and logged; a receipt that did not reach paper is remembered
 * (t->unprinted_msgid) so that its next print is not marked as a copy.
 */
evt_err evt_txn_print_receipt(evt_txn *t, const char *msgid, const evt_order_record *rec,
                              const evt_orders_receipt *rc, const char *original_setl_id,
                              bool reprint, const evt_order *items);

/* "yyyy-MM-dd HH:mm" of a record's day and time. */
void evt_txn_format_when(uint32_t day, uint32_t hms, char out[TXN_WHEN_BYTES]);
/* yyyymmdd of a local time. */
uint32_t evt_txn_day_of(const evt_datetime *d);
/* A new flow's record: its day and time (yyyymmdd, hhmmss) and the total it is about. */
void evt_txn_record_begin(evt_order_record *rec, const evt_datetime *now, evt_fen total);

/* masked copy of a name or ID number into out (EVT_ORDERS_MASKED_BYTES); "***" when it cannot
 * be masked, cut on a character boundary when it is longer. */
void evt_txn_mask_into(const char *clear, bool is_id, char out[EVT_ORDERS_MASKED_BYTES]);

#endif /* EVT_TXN_INTERNAL_H */
