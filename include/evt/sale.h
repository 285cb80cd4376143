/*
 * Plain data of one sale, shared by the ECR link, the protocol, the transaction engine, the
 * cashier screens and the receipt. Strings are UTF-8, NUL-terminated, sized by the platform's
 * field lengths (+1). No pointers: a whole sale can be copied and journalled.
 */
#ifndef EVT_SALE_H
#define EVT_SALE_H

#include <stdbool.h>
#include <stdint.h>

#include "evt/money.h"
#include "evt/order.h" /* the order itself: compact, with its own functions */

#define EVT_NAME_BYTES 64 /* psn_name and similar (50 bytes on the wire, UTF-8) */

/* Result of ec.query: who the scanned code belongs to. */
typedef struct evt_voucher_info {
    char ec_token[129];
    char id_no[33];
    char user_name[EVT_NAME_BYTES];
    char id_type[8];
    char insu_org[7]; /* insured region (6 digits) */
    char ec_index_no[65];
    bool via_family_account; /* 亲情账户代展码: shown from a relative's (holder's) app */
    char holder_name[EVT_NAME_BYTES];
    char holder_id_no[33];
} evt_voucher_info;

#define EVT_PERSON_MAX_INSU 4

typedef struct evt_insurance {
    char insutype[7]; /* 310 employee, 390 resident */
    char psn_type[7];
    char psn_insu_stas[3];  /* 1 normal; other values refused */
    char insuplc_admdvs[7]; /* insured region */
    char paus_insu_date[11];
    char emp_name[101];
    evt_fen balc;      /* personal account balance */
    bool balc_present; /* resident insurance has no account: "" on the wire */
} evt_insurance;

/* Result of 1101. */
typedef struct evt_person {
    char psn_no[31];
    char psn_cert_type[4];
    char certno[33];
    char psn_name[EVT_NAME_BYTES];
    char gend[2]; /* 1 male, 2 female, 9 unknown */
    char brdy[11];
    uint16_t age;
    uint8_t insu_count;
    evt_insurance insu[EVT_PERSON_MAX_INSU];
} evt_person;

#define EVT_SETTLEMENT_NOTE_BYTES 128

/* setlinfo of 2101/2102/2103: the split of one settlement, all in fen. */
typedef struct evt_settlement {
    char setl_id[31];
    char mdtrt_id[31];
    char psn_no[31];
    char psn_name[EVT_NAME_BYTES];
    char insutype[7];
    char setl_time[20];
    char medins_setl_id[31];
    char clr_optins[7];
    char clr_way[7];
    char clr_type[7];
    evt_fen medfee_sumamt;     /* total */
    evt_fen fulamt_ownpay_amt; /* fully self-paid (outside the catalogue) */
    evt_fen overlmt_selfpay;   /* over the price limit */
    evt_fen preselfpay_amt;    /* class-B first self-paid share */
    evt_fen inscp_scp_amt;     /* within policy scope */
    evt_fen fund_pay_sumamt;   /* fund paid */
    evt_fen psn_part_amt;      /* patient's share */
    evt_fen acct_pay;          /* own personal account */
    evt_fen acct_mulaid_pay;   /* family mutual aid (共济) */
    evt_fen psn_cash_pay;      /* cash */
    evt_fen hosp_part_amt;     /* borne by the institution */
    evt_fen balc;              /* own account balance after */
    bool balc_present;
    /* The platform's warn_msg with this answer (e.g. why 共济 did not pay), cut on a UTF-8
     * boundary; shown to the cashier, never parsed. */
    char platform_note[EVT_SETTLEMENT_NOTE_BYTES];
} evt_settlement;

/* An outpatient visit's fee lines as the platform classified them (the 2204 answers' result[],
 * one entry per line), summed as they passed: what the cashier is shown, in memory that does not
 * grow with the visit. */
typedef struct evt_fee_summary {
    uint32_t lines;
    uint32_t by_class[3];      /* chrgitm_lv 01 甲, 02 乙, 03 丙 */
    evt_fen amount;            /* det_item_fee_sumamt */
    evt_fen fulamt_ownpay_amt; /* 丙: all the patient's own */
    evt_fen overlmt_amt;       /* above the price ceiling (pric_uplmt_amt) */
    evt_fen preselfpay_amt;    /* 乙's first self-paid share (the line's selfpay_prop) */
} evt_fee_summary;

/* An outpatient visit (门诊) as the clinic's HIS describes it: what 2201 and 2203 need and what
 * its fee lines must add up to (evt_txn_clinic_visit; over the ECR link: docs/ecr-link.md). */
#define EVT_VISIT_MAX_LINES 2000u /* fee lines of one visit (the platform's limit) */

typedef struct evt_visit {
    char visit_id[EVT_ORDER_ID_BYTES]; /* the HIS's id, 1..30: the visit's key in the order book */
    char ipt_otp_no[31];               /* the HIS's outpatient number (unique per institution) */
    char med_type[3];                  /* "11" general outpatient, "14" chronic/special */
    char dise_codg[31];                /* required for 14 */
    char dise_name[101];
    char dept_code[31], dept_name[51], atddr_no[31], dr_name[51], caty[11];
    bool use_personal_account; /* acct_used_flag */
    uint32_t line_count;       /* the fee lines the HIS announced, 1..EVT_VISIT_MAX_LINES */
    evt_fen total;             /* their total */
} evt_visit;

#endif /* EVT_SALE_H */
