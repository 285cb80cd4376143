/*
 * evt_order: one pharmacy order in a compact form, in memory that does not depend on how long
 * its codes and names are.
 *
 * A line keeps its numbers (unit price, quantity) and the offset of its three strings in the
 * order's text area, where they are packed one after another, each NUL-terminated. The text
 * area is sized so that every order the ECR link can deliver fits (EVT_ORDER_TEXT_BYTES,
 * below); a line costs 16 bytes plus its own strings instead of the 208 bytes of fixed-size
 * fields it took before (docs/ecr-link.md, "Order size").
 *
 * Still plain data without pointers: an order can be copied whole. Readers take a line as an
 * evt_order_item view (pointers into the order, valid while the order is not changed);
 * writers append with evt_order_add_item, which keeps the invariants every reader relies on:
 * amount = quantity * price within a 16,2 field, the total is the sum of the amounts.
 */
#ifndef EVT_ORDER_H
#define EVT_ORDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "evt/err.h"
#include "evt/money.h"

#define EVT_ORDER_ID_BYTES 41
/* Lines of one order: the decided maximum (docs/ecr-link.md, "Order size": what one ECR line
 * carries with real catalogue data). An ECR sale with more is refused with
 * EVT_ERR_ORDER_TOO_LARGE before anything starts. */
#define EVT_ORDER_MAX_ITEMS 100

/* Longest strings of a line (bytes, without the NUL): the platform's field lengths. */
#define EVT_ORDER_CODE_MAX        50  /* med_list_codg, national catalogue code */
#define EVT_ORDER_MEDINS_CODE_MAX 30  /* medins_list_codg, the pharmacy's own code */
#define EVT_ORDER_NAME_MAX        100 /* drug name, UTF-8 */

/*
 * Text area of one order. A string reaches the terminal inside one ECR line of at most
 * EVT_ECR_LINE_MAX (16 384) bytes, where it costs at least its own bytes (escapes only make it
 * longer) and each item carries 71 bytes of names and punctuation besides its strings, the
 * message 149 more. The densest line therefore carries 64 items whose strings are all at their
 * longest and a 65th with 100 bytes of strings (65 at their longest would need 16 464 bytes):
 * 11 815 bytes of text with their NULs (worked out in docs/ecr-link.md, "Order size", and
 * checked by test_ecr's test_densest_line_fits_the_order). 12 KiB holds it; an order built
 * otherwise (keyed in at the terminal) that does not fit is refused with
 * EVT_ERR_ORDER_TOO_LARGE.
 */
#define EVT_ORDER_TEXT_BYTES 12288u

typedef enum evt_order_source {
    EVT_ORDER_FROM_ECR,   /* sent by the pharmacy's POS software over the ECR link */
    EVT_ORDER_FROM_KEYED, /* keyed in by the cashier */
} evt_order_source;

/* One line as stored. */
typedef struct evt_order_line {
    evt_fen price;     /* unit price, fen, > 0 */
    uint32_t quantity; /* whole selling units (boxes, bottles), >= 1 */
    uint16_t text;     /* offset of med_list_codg, medins_list_codg, name in the text area */
} evt_order_line;

typedef struct evt_order {
    char order_id[EVT_ORDER_ID_BYTES]; /* POS order number; sales are idempotent by it */
    evt_order_source source;
    bool use_personal_account; /* acct_used_flag: may the personal account pay */
    uint8_t item_count;
    uint16_t text_used;
    evt_fen total; /* sum of item amounts (medfee_sumamt) */
    evt_order_line lines[EVT_ORDER_MAX_ITEMS];
    char text[EVT_ORDER_TEXT_BYTES];
} evt_order;

/* One line as read: pointers into the order's text, valid until the order changes. */
typedef struct evt_order_item {
    const char *med_list_codg;    /* national medical catalogue code */
    const char *medins_list_codg; /* the pharmacy's own item code (may be empty) */
    const char *name;             /* drug name for screen and receipt */
    uint32_t quantity;            /* whole selling units */
    evt_fen price;                /* unit price, fen */
    evt_fen amount;               /* quantity * price, fen (det_item_fee_sumamt) */
} evt_order_item;

/* Empties the order's lines (item_count, total and the text area); the rest is kept. */
void evt_order_clear_items(evt_order *order);

/*
 * Appends a line; its amount (quantity * price) is added to the total.
 * EVT_ERR_ARG: NULL strings, an empty med_list_codg or name, a string longer than its
 * maximum above, quantity 0, price <= 0.
 * EVT_ERR_ORDER_INVALID: quantity * price, or the total, beyond a 16,2 field (EVT_FEN_MAX).
 * EVT_ERR_ORDER_TOO_LARGE: EVT_ORDER_MAX_ITEMS lines already, or the text area is full.
 * On error the order is unchanged.
 */
evt_err evt_order_add_item(evt_order *order, const char *med_list_codg,
                           const char *medins_list_codg, const char *name, uint32_t quantity,
                           evt_fen price);

/* Line index (< item_count) as a view. index out of range gives an all-empty view. */
evt_order_item evt_order_item_at(const evt_order *order, size_t index);

#endif /* EVT_ORDER_H */
