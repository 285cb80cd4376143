/*
 * evt_proto: the platform transactions as bytes — request envelopes built, response envelopes
 * parsed and cross-checked. No I/O: the HTTPS client carries the bytes, the transaction engine
 * decides what to send when. Follows docs/protocol-decisions.md (the platform emulator is
 * written from the same page).
 *
 * Memory: builders allocate through cJSON's hooks (the arena) and give it all back before
 * returning. Responses are read while they arrive (evt_jstream) into a fixed-size answer that
 * is owned until evt_proto_response_free: an answer's length does not change what it costs.
 *
 * Errors carry an evt_json_diag naming the offending field (a path such as
 * "output.setlinfo.acct_pay", or the identity key for configuration errors) so the log can
 * say which field without printing its value.
 */
#ifndef EVT_PROTO_H
#define EVT_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "evt/err.h"
#include "evt/hal_sys.h"
#include "evt/json.h"
#include "evt/money.h"
#include "evt/sale.h"

/* Transaction codes (infno). */
#define EVT_INFNO_SIGN_IN       "9001"
#define EVT_INFNO_SIGN_OUT      "9002"
#define EVT_INFNO_RECON_TOTALS  "3201"
#define EVT_INFNO_RECON_DETAIL  "3202"
#define EVT_INFNO_EC_QUERY      "ec.query"
#define EVT_INFNO_PERSON        "1101"
#define EVT_INFNO_PRESETTLE     "2101"
#define EVT_INFNO_SETTLE        "2102"
#define EVT_INFNO_SETTLE_CANCEL "2103"
#define EVT_INFNO_REVERSAL      "2601"
/* The outpatient visit (门诊). */
#define EVT_INFNO_VISIT_REGISTER      "2201"
#define EVT_INFNO_VISIT_UNREGISTER    "2202"
#define EVT_INFNO_VISIT_INFO          "2203"
#define EVT_INFNO_VISIT_FEES          "2204"
#define EVT_INFNO_VISIT_FEES_UNDO     "2205"
#define EVT_INFNO_VISIT_PRESETTLE     "2206"
#define EVT_INFNO_VISIT_SETTLE        "2207"
#define EVT_INFNO_VISIT_SETTLE_CANCEL "2208"

#define EVT_MSGID_LEN       30
#define EVT_MSGID_BYTES     (EVT_MSGID_LEN + 1)
#define EVT_SIGN_NO_BYTES   31
#define EVT_PROTO_MSG_BYTES 256 /* err_msg / warn_msg copies, cut on a UTF-8 boundary */
#define EVT_INF_TIME_BYTES  20  /* "yyyy-MM-dd HH:mm:ss" + NUL */

/*
 * Longest answer body the terminal reads (docs/protocol-decisions.md, "Answer size"). Answers
 * are parsed while they arrive in fixed memory, so this bounds time on the wire, not RAM. The
 * largest answer the protocol allows is a 2101/2102 for an order of EVT_ORDER_MAX_ITEMS lines:
 * envelope, setlinfo and setldetail (a few KiB) plus one detlcutinfo entry per line (about 30
 * fields of the national specification, at most 2 KiB with its 500-byte memo). 2 KiB per line
 * + 64 KiB for everything else, rounded up: an answer over it is not one the protocol allows.
 */
#define EVT_PROTO_ANSWER_MAX_BYTES (64u * 1024u + EVT_ORDER_MAX_ITEMS * 2048u)

/*
 * Who is sending: filled by the app from the provisioning config. Pointers to NUL-terminated
 * UTF-8 strings that must stay valid while a builder runs; NULL reads as "". Lengths are the
 * wire limits in bytes; evt_proto_identity_check enforces them.
 */
typedef struct evt_proto_identity {
    const char *fixmedins_code;  /* required, exactly 12 ASCII letters/digits */
    const char *fixmedins_name;  /* required, <= 200 */
    const char *mdtrtarea_admvs; /* required, 6 digits: region where care happens */
    const char *recer_sys_code;  /* <= 10 */
    const char *dev_no;          /* <= 100 */
    const char *dev_safe_info;   /* <= 2000 */
    const char *infver;          /* required, <= 6, e.g. "V1.0" */
    const char *opter_type;      /* required, "1" staff, "2" self-service, "3" mobile */
    const char *opter;           /* required, <= 30: operator id (also opter_no / operatorId) */
    const char *opter_name;      /* required, <= 50 */
    const char *office_id;       /* ec.query officeId, <= 30 */
    const char *office_name;     /* ec.query officeName, <= 100 */
    const char *business_type;   /* ec.query businessType, 5 digits: 02121 pharmacy purchase */
    const char *paas_id;         /* gateway x-tif-paasid, required for signing, <= 64 */
    const char *paas_token;      /* gateway secret, required for signing, never logged */
    uint8_t msgid_slot;          /* 0..9, different for each terminal of one institution */
} evt_proto_identity;

/* EVT_ERR_CONFIG_MISSING (required key empty) or EVT_ERR_CONFIG_INVALID (bad form or too
 * long); diag names the identity field. Gateway keys are checked by evt_proto_gateway_sign. */
evt_err evt_proto_identity_check(const evt_proto_identity *id, evt_json_diag *diag);

/* ---- msgid ------------------------------------------------------------------------------ */

/*
 * msgid = fixmedins_code (12) + yyyyMMddHHmmss (14) + slot (1) + counter (3).
 * The generator never hands out a (second, counter) at or before the last one it handed out,
 * even if the clock steps back: it then keeps the last second and counts on; past counter 999
 * it moves to the next second. The caller persists each msgid it uses (before sending) and
 * gives the last one to evt_msgid_init after a reboot.
 */
typedef struct evt_msgid_gen {
    char fixmedins_code[13];
    uint8_t slot;
    bool has_last;
    evt_datetime last_time;
    uint16_t last_counter;
} evt_msgid_gen;

/* last_msgid: the last msgid used (persisted), or NULL / "" on a fresh terminal. One of
 * another institution (re-provisioned terminal) is ignored: it cannot collide.
 * EVT_ERR_CONFIG_INVALID for a bad code or slot > 9; EVT_ERR_PROTO_MSGID if last_msgid is
 * not a well-formed msgid (a corrupt record must not silently reset the sequence). */
evt_err evt_msgid_init(evt_msgid_gen *gen, const char *fixmedins_code, uint8_t slot,
                       const char *last_msgid);

/* Next msgid for local time now. EVT_ERR_ARG if now is not a valid date in 2000..2099;
 * EVT_ERR_PROTO_MSGID if the sequence would pass 2099-12-31 23:59:59. */
evt_err evt_msgid_next(evt_msgid_gen *gen, const evt_datetime *now, char out[EVT_MSGID_BYTES]);

/* Checks the form: 30 characters, 12 letters/digits, a real date-time, 4 digits; and, when
 * fixmedins_code is not NULL, that it is the prefix. EVT_OK or EVT_ERR_PROTO_MSGID. */
evt_err evt_msgid_validate(const char *msgid, const char *fixmedins_code);

/* "yyyy-MM-dd HH:mm:ss". EVT_ERR_ARG if t is not a valid date-time in 2000..2099. */
evt_err evt_proto_format_time(const evt_datetime *t, char out[EVT_INF_TIME_BYTES]);

/* ---- gateway headers -------------------------------------------------------------------- */

typedef struct evt_proto_gateway {
    char paasid[65];    /* x-tif-paasid */
    char timestamp[21]; /* x-tif-timestamp: Unix seconds, decimal */
    char nonce[33];     /* x-tif-nonce: 32 lowercase hex */
    char signature[65]; /* x-tif-signature: lowercase hex SHA-256 */
} evt_proto_gateway;

/*
 * Fills the four headers. nonce = lowercase hex of the 16 entropy bytes (from the board's
 * entropy source: a fresh nonce per request, the gateway refuses a reused one); signature =
 * SHA-256(timestamp + paas_token + nonce + timestamp). EVT_ERR_CONFIG_MISSING /
 * EVT_ERR_CONFIG_INVALID for paas_id / paas_token, EVT_ERR_ARG for unix_seconds <= 0.
 */
evt_err evt_proto_gateway_sign(const evt_proto_identity *id, int64_t unix_seconds,
                               const uint8_t entropy[16], evt_proto_gateway *out);

/* ---- requests --------------------------------------------------------------------------- */

/* Per-request envelope values. */
typedef struct evt_proto_envelope {
    const char *msgid; /* from evt_msgid_next; must carry the identity's fixmedins_code */
    evt_datetime inf_time;
    const char *sign_no; /* from 9001; required for all but 9001 and ec.query */
    /* Patient's insured region for 2103 / 2601 (from the settlement being cancelled or
     * reversed). 1101 takes it from the voucher, 2101/2102 from the chosen insurance. */
    const char *insuplc_admdvs;
} evt_proto_envelope;

/*
 * Every builder writes one complete request envelope, compact JSON, into out (cap bytes incl.
 * NUL), *len = its length. All envelope fields of protocol.md are always present (empty
 * string when not applicable: cainfo, signtype, sign_no of 9001/ec.query, insuplc_admdvs
 * when no person is involved); amounts are exact JSON numbers with two decimals.
 * Errors: configuration (see evt_proto_identity_check), EVT_ERR_PROTO_MSGID (msgid),
 * EVT_ERR_NOT_SIGNED_IN (no sign_no where needed), EVT_ERR_ARG (bad input, diag names it),
 * EVT_ERR_ORDER_INVALID (order does not add up), EVT_ERR_OVERFLOW (out too small),
 * EVT_ERR_NOMEM (arena).
 */

/*
 * Request builders. Each evt_proto_write_* writes one request, checks first (nothing is written
 * when a check fails), through an evt_json_writer: the platform client streams it into the TLS
 * connection through a small staging buffer (docs/money-and-json.md, "Writing requests").
 * Each evt_proto_build_* is the same request into out (cap bytes incl. the NUL; *len excludes
 * it; EVT_ERR_OVERFLOW when it does not fit).
 */

/* 9001 {"signIn": {opter_no, mac, ip}}. */
evt_err evt_proto_write_sign_in(const evt_proto_identity *id, const evt_proto_envelope *env,
                                const char *mac, const char *ip, evt_json_writer *w,
                                evt_json_diag *diag);
evt_err evt_proto_build_sign_in(const evt_proto_identity *id, const evt_proto_envelope *env,
                                const char *mac, const char *ip, char *out, size_t cap, size_t *len,
                                evt_json_diag *diag);

/* 9002 {"signOut": {sign_no, opter_no}}. */
evt_err evt_proto_write_sign_out(const evt_proto_identity *id, const evt_proto_envelope *env,
                                 evt_json_writer *w, evt_json_diag *diag);
evt_err evt_proto_build_sign_out(const evt_proto_identity *id, const evt_proto_envelope *env,
                                 char *out, size_t cap, size_t *len, evt_json_diag *diag);

/* ec.query {"data": {orgId, businessType, operatorId, operatorName, officeId, officeName,
 * ecQrCode}}. qr_text: the raw scanned text, non-empty UTF-8 (never logged). */
evt_err evt_proto_write_ec_query(const evt_proto_identity *id, const evt_proto_envelope *env,
                                 const char *qr_text, evt_json_writer *w, evt_json_diag *diag);
evt_err evt_proto_build_ec_query(const evt_proto_identity *id, const evt_proto_envelope *env,
                                 const char *qr_text, char *out, size_t cap, size_t *len,
                                 evt_json_diag *diag);

/* 1101 {"data": {mdtrt_cert_type "01", mdtrt_cert_no ecToken, card_sn "", begntime "",
 * psn_cert_type "01", certno idNo, psn_name userName}}; insuplc_admdvs = voucher insu_org. */
evt_err evt_proto_write_person_query(const evt_proto_identity *id, const evt_proto_envelope *env,
                                     const evt_voucher_info *voucher, evt_json_writer *w,
                                     evt_json_diag *diag);
evt_err evt_proto_build_person_query(const evt_proto_identity *id, const evt_proto_envelope *env,
                                     const evt_voucher_info *voucher, char *out, size_t cap,
                                     size_t *len, evt_json_diag *diag);

/* What a 2101/2102 is built from. */
typedef struct evt_proto_sale {
    const evt_order *order;          /* items, total, acct_used_flag, fixmedins_setl_id */
    const evt_person *person;        /* psn_no */
    const evt_voucher_info *voucher; /* ecToken (mdtrt_cert_no) */
    const evt_insurance *insurance;  /* chosen entry: insutype, insuplc_admdvs */
    evt_datetime begntime;           /* sale time: begntime and every fee_ocur_time */
} evt_proto_sale;

/* 2101 (final = false) or 2102 (final = true): druginfo + drugdetail[] with feedetl_sn = the
 * line's 1-based position ("1", "2", ...), cnt = quantity, pric and det_item_fee_sumamt exact.
 * The order must add up (each amount = quantity * price, total = sum, all >=
 * 0, 1..EVT_ORDER_MAX_ITEMS items, order_id 1..30 characters: fixmedins_setl_id's wire size) or
 * EVT_ERR_ORDER_INVALID. */
evt_err evt_proto_write_drug_settle(const evt_proto_identity *id, const evt_proto_envelope *env,
                                    bool final, const evt_proto_sale *sale, evt_json_writer *w,
                                    evt_json_diag *diag);
evt_err evt_proto_build_drug_settle(const evt_proto_identity *id, const evt_proto_envelope *env,
                                    bool final, const evt_proto_sale *sale, char *out, size_t cap,
                                    size_t *len, evt_json_diag *diag);

/* 2103 {"data": {setl_id, psn_no}}; env->insuplc_admdvs required. */
evt_err evt_proto_write_settle_cancel(const evt_proto_identity *id, const evt_proto_envelope *env,
                                      const char *setl_id, const char *psn_no, evt_json_writer *w,
                                      evt_json_diag *diag);
evt_err evt_proto_build_settle_cancel(const evt_proto_identity *id, const evt_proto_envelope *env,
                                      const char *setl_id, const char *psn_no, char *out,
                                      size_t cap, size_t *len, evt_json_diag *diag);

/* 2208 {"data": {setl_id, mdtrt_id, psn_no}}: a visit's 2207 cancelled (its answer is parsed
 * as a 2103's, EVT_PROTO_CANCEL); env->insuplc_admdvs required. */
evt_err evt_proto_write_visit_settle_cancel(const evt_proto_identity *id,
                                            const evt_proto_envelope *env, const char *setl_id,
                                            const char *mdtrt_id, const char *psn_no,
                                            evt_json_writer *w, evt_json_diag *diag);

/* 2601 {"data": {psn_no, omsgid, oinfno}}: reverses the transaction sent as omsgid/oinfno
 * whose outcome is unknown; env->insuplc_admdvs required. */
evt_err evt_proto_write_reversal(const evt_proto_identity *id, const evt_proto_envelope *env,
                                 const char *psn_no, const char *omsgid, const char *oinfno,
                                 evt_json_writer *w, evt_json_diag *diag);
evt_err evt_proto_build_reversal(const evt_proto_identity *id, const evt_proto_envelope *env,
                                 const char *psn_no, const char *omsgid, const char *oinfno,
                                 char *out, size_t cap, size_t *len, evt_json_diag *diag);

/*
 * What the outpatient visit's requests (2201-2207) are built from; each takes the fields it
 * needs (protocol.md): 2201 psn_no, insutype, ec_token, begntime, ipt_otp_no, doctor and
 * department; 2202 psn_no, mdtrt_id, ipt_otp_no; 2203 mdtrt_id, psn_no, med_type, begntime,
 * diagnosis; 2204 the batch's lines as feedetail[] (feedetl_sn = first_sn + the line's
 * position, all under chrg_bchno, fee_ocur_time = begntime); 2205 mdtrt_id, chrg_bchno, psn_no;
 * 2206/2207 psn_no, ec_token, med_type, medfee_sumamt, mdtrt_id, chrg_bchno, insutype,
 * acct_used_flag. env->insuplc_admdvs is the patient's insured region (required).
 */
typedef struct evt_proto_visit {
    const char *psn_no, *insutype, *ec_token;
    evt_datetime begntime;
    const char *ipt_otp_no, *atddr_no, *dr_name, *dept_code, *dept_name, *caty;
    const char *mdtrt_id, *med_type, *dise_codg, *dise_name;
    const char *chrg_bchno;
    const evt_order *batch; /* 2204: 1..EVT_ORDER_MAX_ITEMS lines that add up */
    uint32_t first_sn;      /* 2204: feedetl_sn of the batch's first line */
    evt_fen medfee_sumamt;  /* 2206/2207: the visit's total */
    bool use_personal_account;
} evt_proto_visit;

/* One of 2201-2207 (infno) for the visit v. Errors as the other builders. */
evt_err evt_proto_write_visit(const evt_proto_identity *id, const evt_proto_envelope *env,
                              const char *infno, const evt_proto_visit *v, evt_json_writer *w,
                              evt_json_diag *diag);

/* ---- responses -------------------------------------------------------------------------- */

/* What the terminal keeps of an answer (response.c): the members it uses, each in a slot of
 * the field's size, and the 1101 insurance list reduced as it passed. */
typedef struct evt_proto_answer evt_proto_answer;

typedef struct evt_proto_response {
    evt_proto_answer *root;            /* owned (arena); evt_proto_response_free */
    int64_t infcode;                   /* 0 success; sent as number or string */
    char inf_refmsgid[65];             /* platform's message id */
    char err_msg[EVT_PROTO_MSG_BYTES]; /* may name the patient: show, do not log */
    char warn_msg[EVT_PROTO_MSG_BYTES];
    const evt_proto_answer *output; /* NULL when absent (or infcode != 0) */
} evt_proto_response;

/*
 * Parses a response envelope. EVT_OK means a complete, well-formed envelope: the outcome is
 * known (success or a business refusal in infcode/err_msg). Any error means the body is not
 * a valid answer: EVT_ERR_JSON_MALFORMED (broken, truncated, not an object, a member twice),
 * EVT_ERR_JSON_TOO_LARGE (more members in the open objects than EVT_JSTREAM_MAX_KEYS),
 * EVT_ERR_PROTO_FIELD_MISSING / _INVALID (infcode absent or not an integer; on success,
 * output neither an object nor absent/null/""), EVT_ERR_NOMEM. inf_refmsgid, err_msg and
 * warn_msg are informational: copied, cut on a UTF-8 boundary if long, never refused.
 * On error nothing is owned (out->root NULL).
 * Memory: fixed (the kept members plus the streaming parser), whatever len is.
 */
evt_err evt_proto_response_parse(const char *body, size_t len, evt_proto_response *out,
                                 evt_json_diag *diag);

/*
 * The same, read while the body arrives: _begin (EVT_ERR_NOMEM), _feed with each piece (an
 * error is kept: once the body is known to be invalid the rest is ignored), _end when the body
 * is complete, which returns what evt_proto_response_parse would have for the whole body and
 * frees the reading state. After a failed _end nothing is owned; after _begin without _end,
 * evt_proto_response_free releases everything.
 */
evt_err evt_proto_response_begin(evt_proto_response *out);
evt_err evt_proto_response_feed(evt_proto_response *resp, const void *data, size_t len);
evt_err evt_proto_response_end(evt_proto_response *resp, evt_json_diag *diag);
void evt_proto_response_free(evt_proto_response *resp);

/*
 * Typed parsers. Each first returns EVT_ERR_PLATFORM_REJECTED if infcode != 0 (text in
 * resp->err_msg), then EVT_ERR_PROTO_FIELD_MISSING if output is absent, then field errors.
 * out is fully written only on EVT_OK.
 */

/* 9002, 2601 and any reply whose output the terminal does not need. */
evt_err evt_proto_parse_ack(const evt_proto_response *resp);

/* 9001: output.signinoutb.sign_no. */
evt_err evt_proto_parse_sign_in(const evt_proto_response *resp, char sign_no[EVT_SIGN_NO_BYTES],
                                evt_json_diag *diag);

/* ec.query: output.data. ecShowType "02" (亲情账户代展码) sets via_family_account and requires
 * holderName / holderIdNo; "01", "" or absent is the person's own code; anything else is
 * EVT_ERR_PROTO_FIELD_INVALID. */
evt_err evt_proto_parse_ec_query(const evt_proto_response *resp, evt_voucher_info *out,
                                 evt_json_diag *diag);

/* 1101: baseinfo + insuinfo[] (up to EVT_PERSON_MAX_INSU entries; with more, entries in
 * normal status are kept in preference). age accepts 45, "45", 45.6 (floored). */
evt_err evt_proto_parse_person(const evt_proto_response *resp, evt_person *out,
                               evt_json_diag *diag);

/*
 * Chooses the insuinfo entry to settle under: a normal one ("1") of preferred_insutype if
 * given and present, else a normal 310 (it has the personal account), else any normal one.
 * None normal but some listed: EVT_ERR_INSURANCE_SUSPENDED with *out at the first such entry
 * (its paus_insu_date and psn_insu_stas tell the cashier why). None at all:
 * EVT_ERR_INSURANCE_NONE with *out NULL.
 */
evt_err evt_proto_select_insurance(const evt_person *person, const char *preferred_insutype,
                                   const evt_insurance **out);

/*
 * The platform's codes in words, one table for screen, receipt and reports: 险种 (310 ->
 * 职工基本医疗保险) and 人员参保状态 (2 -> 暂停参保, 4 -> 终止参保). NULL for a code the table does
 * not know (the caller shows the code itself: a new code is not silently renamed).
 */
const char *evt_proto_insutype_name(const char *insutype);
const char *evt_proto_insu_status_name(const char *psn_insu_stas);

/* 2201: output.data.mdtrt_id (the visit's id at the platform). */
evt_err evt_proto_parse_visit_register(const evt_proto_response *resp, char mdtrt_id[31],
                                       evt_json_diag *diag);

/* 2204: the result[] summary; it must name exactly the lines sent (lines, amount), else
 * EVT_ERR_MONEY_MISMATCH. */
evt_err evt_proto_parse_fee_lines(const evt_proto_response *resp, uint32_t lines, evt_fen amount,
                                  evt_fee_summary *out, evt_json_diag *diag);

/* Settlement kinds, for the cross-checks. */
typedef enum evt_proto_settle_kind {
    EVT_PROTO_PRESETTLE, /* 2101 */
    EVT_PROTO_SETTLE,    /* 2102: must carry setl_id */
    EVT_PROTO_CANCEL,    /* 2103: the cancelling entry, amounts <= 0 */
} evt_proto_settle_kind;

/*
 * 2101 / 2102 / 2103: output.setlinfo into out, then evt_proto_check_settlement.
 * order_total: the sale's total; psn_no: the person of the sale.
 */
evt_err evt_proto_parse_settlement(const evt_proto_response *resp, evt_proto_settle_kind kind,
                                   evt_fen order_total, const char *psn_no, evt_settlement *out,
                                   evt_json_diag *diag);

/*
 * The cross-checks, usable on a journalled settlement too. diag names the failing field.
 * - EVT_ERR_MONEY_MISMATCH: fund_pay_sumamt + acct_pay + acct_mulaid_pay + psn_cash_pay +
 *   hosp_part_amt != medfee_sumamt; psn_part_amt (when psn_part_present) !=
 *   acct_pay + acct_mulaid_pay + psn_cash_pay; a negative amount on a sale (2101/2102) or a
 *   positive one on a cancel (2103); medfee_sumamt != order_total (2101/2102) or
 *   != -order_total (2103).
 * - EVT_ERR_PROTO_FIELD_MISSING: 2102 without setl_id.
 * - EVT_ERR_PROTO_PERSON_MISMATCH: psn_no differs from the sale's person.
 */
evt_err evt_proto_check_settlement(const evt_settlement *s, bool psn_part_present,
                                   evt_proto_settle_kind kind, evt_fen order_total,
                                   const char *psn_no, evt_json_diag *diag);

/* True for the transactions that move money and so need the unknown-outcome protocol
 * (journal before sending, 2601 until acknowledged): 2102, 2103, 2207, 2208. */
bool evt_proto_is_settlement(const char *infno);

/* ---- the daily close: 3201 (totals) and 3202 (settlements), docs/platform-emulator.md ---- */

/* One reconciliation: the period (yyyy-MM-dd, inclusive), clearing type ("41" pharmacy) and
 * clearing institution (the insured city + "00"); for 3201 also the insurance type and the
 * terminal's totals of the settlements standing. */
typedef struct evt_proto_recon {
    const char *insutype, *clr_type, *setl_optins, *begndate, *enddate;
    evt_fen total, fund, account;
    uint32_t count;
} evt_proto_recon;

/* 3201 {"data": {insutype, clr_type, setl_optins, stmt_begndate, stmt_enddate, medfee_sumamt,
 * fund_pay_sumamt, acct_pay, fixmedins_setl_cnt}}. */
evt_err evt_proto_write_recon_totals(const evt_proto_identity *id, const evt_proto_envelope *env,
                                     const evt_proto_recon *r, evt_json_writer *w,
                                     evt_json_diag *diag);
/* 3202 {"data": {the period}, "detail": [lines]}: lines writes the elements (with
 * evt_proto_write_recon_line), the same ones each time it is called (twice per request). */
typedef evt_err (*evt_proto_recon_lines_fn)(void *ctx, evt_json_writer *w);
evt_err evt_proto_write_recon_detail(const evt_proto_identity *id, const evt_proto_envelope *env,
                                     const evt_proto_recon *r, evt_proto_recon_lines_fn lines,
                                     void *ctx, evt_json_writer *w, evt_json_diag *diag);
/* One detail element {setl_id, refd_setl_flag ("1": refunded), medfee_sumamt, fund_pay_sumamt,
 * acct_pay}. */
evt_err evt_proto_write_recon_line(evt_json_writer *w, const char *setl_id, bool refunded,
                                   evt_fen total, evt_fen fund, evt_fen account);

/* 3201: output.data.stmt_rslt ("0" balanced, "1" not) and stmt_rslt_dscr (the platform's
 * figures, "" when absent; EVT_PROTO_MSG_BYTES, cut on a character). */
evt_err evt_proto_parse_recon_totals(const evt_proto_response *resp, bool *balanced,
                                     char dscr[EVT_PROTO_MSG_BYTES], evt_json_diag *diag);

/* 3202: output.result[], the settlements that differ: the first EVT_PROTO_RECON_DIFF_MAX kept
 * while the answer arrived (*diffs points into resp, valid until it is freed), *total how many
 * the list had. stmt_rslt: "1" platform only, "2" terminal only, "3" amounts, "4" refunded on
 * one side. */
#define EVT_PROTO_RECON_DIFF_MAX 8
typedef struct evt_proto_recon_diff {
    char setl_id[31];
    char rslt[2];
} evt_proto_recon_diff;
evt_err evt_proto_parse_recon_detail(const evt_proto_response *resp,
                                     const evt_proto_recon_diff **diffs, unsigned *count,
                                     uint32_t *total, evt_json_diag *diag);

#endif /* EVT_PROTO_H */
