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

#define EVT_ORDER_ID_BYTES 41
/* Lines of one order. The decided maximum is 100 (docs/ecr-link.md, "Order size": what one
 * ECR line carries with real catalogue data); it stays 32 until the order is held in one
 * compact copy. An ECR sale with more lines is refused with EVT_ERR_ORDER_TOO_LARGE. */
#define EVT_ORDER_MAX_ITEMS 32
#define EVT_NAME_BYTES 64 /* psn_name and similar (50 bytes on the wire, UTF-8) */

/* One line of a pharmacy order. */
typedef struct evt_order_item {
    char med_list_codg[51];    /* national medical catalogue code */
    char medins_list_codg[31]; /* the pharmacy's own item code */
    char name[101];            /* drug name for screen and receipt */
    uint32_t quantity;         /* whole selling units (boxes, bottles) */
    evt_fen price;             /* unit price, fen */
    evt_fen amount;            /* quantity * price, fen (det_item_fee_sumamt) */
} evt_order_item;

typedef enum evt_order_source {
    EVT_ORDER_FROM_ECR,   /* sent by the pharmacy's POS software over the ECR link */
    EVT_ORDER_FROM_KEYED, /* keyed in by the cashier */
} evt_order_source;

typedef struct evt_order {
    char order_id[EVT_ORDER_ID_BYTES]; /* POS order number; sales are idempotent by it */
    evt_order_source source;
    bool use_personal_account; /* acct_used_flag: may the personal account pay */
    uint8_t item_count;
    evt_order_item items[EVT_ORDER_MAX_ITEMS];
    evt_fen total; /* sum of item amounts (medfee_sumamt) */
} evt_order;

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
    char insutype[7];       /* 310 employee, 390 resident */
    char psn_type[7];
    char psn_insu_stas[3];  /* 1 normal; other values refused */
    char insuplc_admdvs[7]; /* insured region */
    char paus_insu_date[11];
    char emp_name[101];
    evt_fen balc;       /* personal account balance */
    bool balc_present;  /* resident insurance has no account: "" on the wire */
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
} evt_settlement;

#endif /* EVT_SALE_H */
