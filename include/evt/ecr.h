/*
 * evt_ecr: the ECR link — the pharmacy's POS software sends sales to the terminal and gets
 * the results back. JSON lines ("v":2) over TCP on the LAN, every line authenticated with the
 * pairing key both sides were provisioned with; the protocol is in docs/ecr-link.md.
 *
 * Runs inside the firmware's single main loop through the evt_hal_net contract only: the
 * app calls evt_ecr_poll() every pass, which accepts, authenticates, reads, answers status
 * queries and malformed lines by itself, and hands over a validated sale (evt_order) at most
 * once per call. The app runs the sale and finishes it with evt_ecr_reply().
 *
 * Who may talk: a new connection gets a hello with a fresh challenge and must answer with an
 * auth line MACed with the pairing key within EVT_ECR_AUTH_TIMEOUT_MS; until then it is one of
 * at most EVT_ECR_PENDING_MAX pending connections and can neither start a sale nor read a
 * result (more connections are closed at once). Once authenticated it replaces the current
 * POS connection (a POS reconnects when it believes the old one is dead; a half-open socket
 * must not lock it out). Every later line, both ways, carries a sequence number and a MAC
 * bound to the session; a line that fails either check closes the connection.
 *
 * Idempotency by order id: results go through an evt_ecr_store. A sale request for an
 * order already settled, in doubt, or blocked for a supervisor gets the stored result again
 * and is not handed to the app. A refund request ("refund": a sale or visit of the day given
 * back) is answered through the store's refund_lookup when its refund was made, is in doubt or
 * cannot be made; otherwise it is handed out (evt_ecr_refund) like a sale, and every other
 * order gets "busy" until its result. evt_ecr_ram_store is a small in-RAM table; the transaction
 * engine supplies a persistent store (the journal) through the same two hooks.
 *
 * Memory: the current connection's line buffer (EVT_ECR_LINE_MAX + 2 bytes) comes from the
 * arena at open; pending connections use small buffers inside evt_ecr. A line is read while it
 * is parsed (evt_jstream, its state on the stack), never built into a tree: the same memory for
 * a sale of one item or of EVT_ORDER_MAX_ITEMS; a reply takes a fixed buffer of arena while it
 * is sent. A sale is validated first without storing anything, then read again into the
 * caller's order only when handed out.
 */
#ifndef EVT_ECR_H
#define EVT_ECR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "evt/err.h"
#include "evt/hal_net.h"
#include "evt/hal_sys.h"
#include "evt/money.h"
#include "evt/sale.h"

#define EVT_ECR_PROTOCOL_VERSION 2
#define EVT_ECR_LINE_MAX         16384 /* bytes of one message, without its CR LF / LF */
#define EVT_ECR_KEY_BYTES        32    /* pairing key (provisioned ecr_key) */
#define EVT_ECR_PENDING_MAX      4     /* connections waiting to authenticate */
#define EVT_ECR_AUTH_LINE_MAX    320   /* bytes of an auth line (a few fields and the MAC) */
#define EVT_ECR_AUTH_TIMEOUT_MS  5000  /* a connection must authenticate within this */
#define EVT_ECR_ITEM_QTY_MAX     99999
#define EVT_ECR_MESSAGE_BYTES    192   /* Chinese message for the POS operator, UTF-8 */
#define EVT_ECR_FEES_TIMEOUT_MS  30000 /* the HIS answers a "fees" request within this */
#define EVT_ECR_WHEN_BYTES       17    /* "yyyy-MM-dd HH:mm" and its NUL */

typedef enum evt_ecr_status {
    EVT_ECR_SETTLED,  /* money moved; setl_id and the split are valid */
    EVT_ECR_REFUSED,  /* refused before money moved (wrong code, insurance, cashier cancel) */
    EVT_ECR_FAILED,   /* failed before money moved (network, platform error) */
    EVT_ECR_UNKNOWN,  /* settlement sent, outcome unknown: reversal queued, do not charge */
    EVT_ECR_BUSY,     /* terminal busy with another sale; try again later */
    EVT_ECR_REFUNDED, /* a refund: the sale's or visit's money went back (2103 / 2208) */
} evt_ecr_status;

/* "settled", "refused", "failed", "unknown", "busy", "refunded" as on the wire. */
const char *evt_ecr_status_name(evt_ecr_status status);

typedef struct evt_ecr_result {
    char order_id[EVT_ORDER_ID_BYTES];
    evt_ecr_status status;
    evt_err error;                       /* EVT_OK when settled */
    char message[EVT_ECR_MESSAGE_BYTES]; /* "" = the error's cashier text */
    char setl_id[31];                    /* settled */
    char msgid[31];                      /* settled / unknown: the 2102 msgid */
    evt_fen total;                       /* medfee_sumamt */
    evt_fen fund;                        /* fund_pay_sumamt */
    evt_fen account;                     /* acct_pay */
    evt_fen mutual_aid;                  /* acct_mulaid_pay (共济) */
    evt_fen cash;                        /* psn_cash_pay */
    evt_fen balance;                     /* balc after */
    bool balance_present;                /* false: resident insurance, sent as "" */
    /* Refused or failed, yet not to be started again: a supervisor must decide first (the
     * settlement answer was unusable and reversed, or the order's record is unreadable). */
    bool blocked;
    /* The answer to a "refund" request (docs/ecr-link.md "refund"): sent with
     * "request":"refund", since a sale and its refund share the order id. setl_id and msgid are
     * then the refund's (the cancelling entry, the 2103's or 2208's msgid) and the amounts what
     * went back. Never saved in the store: the refund's record is its outcome. */
    bool refund;
    /* A refund's "yyyy-MM-dd HH:mm": when it was made (refunded, or refused as
     * EVT_ERR_REFUND_DONE); "" otherwise. */
    char refunded_at[EVT_ECR_WHEN_BYTES];
} evt_ecr_result;

/*
 * Where results live, for idempotency. lookup returns EVT_OK with *out filled, or
 * EVT_ERR_NOT_FOUND; save replaces any earlier result of the same order id. Both are called
 * from the main loop only.
 */
typedef struct evt_ecr_store {
    void *ctx;
    evt_err (*lookup)(void *ctx, const char *order_id, evt_ecr_result *out);
    evt_err (*save)(void *ctx, const evt_ecr_result *result);
    /* A "refund" request for order_id: EVT_OK with *out when the link answers it by itself and
     * nothing starts — the refund's stored outcome (refunded once already: refused with its
     * date; in doubt) or why it cannot be refunded (no such sale or visit, not of today, not
     * settled); EVT_ERR_NOT_FOUND when no outcome stands and the refund may start; other errors
     * when the order book cannot be read. NULL: the terminal takes no refunds from the POS
     * (answered with an error EVT_ERR_UNSUPPORTED). */
    evt_err (*refund_lookup)(void *ctx, const char *order_id, evt_ecr_result *out);
} evt_ecr_store;

#define EVT_ECR_RAM_STORE_SLOTS 32

/* The in-RAM store: the last EVT_ECR_RAM_STORE_SLOTS orders (oldest overwritten); lost at
 * reboot. */
typedef struct evt_ecr_ram_store {
    evt_ecr_result slots[EVT_ECR_RAM_STORE_SLOTS];
    uint8_t count;
    uint8_t next;
} evt_ecr_ram_store;

/* Empties rs and fills *store with hooks onto it. */
void evt_ecr_ram_store_init(evt_ecr_ram_store *rs, evt_ecr_store *store);

/* One TCP connection of the link. */
typedef struct evt_ecr_conn {
    evt_net_sock *sock;
    char session[65];  /* the challenge (hex); + the POS's nonce once authenticated */
    uint64_t rx_seq;   /* last sequence number accepted from the POS */
    uint64_t tx_seq;   /* last sequence number sent */
    uint64_t deadline; /* pending: monotonic ms by which it must authenticate */
    uint8_t *buf;
    size_t cap;
    size_t fill;
    bool discarding; /* dropping the rest of an over-long line until its newline */
} evt_ecr_conn;

typedef struct evt_ecr_config {
    const evt_hal_net *net;
    const evt_hal_sys *sys; /* entropy for challenges, monotonic clock for deadlines */
    const char *bind_addr;  /* NULL = board default */
    uint16_t port;
    evt_ecr_store store; /* copied */
    uint8_t key[EVT_ECR_KEY_BYTES];
    evt_fen order_max_total;  /* a larger total is refused (EVT_ERR_ORDER_TOO_LARGE); 0 = none */
    const char *terminal_id;  /* named in the hello (copied, up to 31 bytes) */
    uint32_t auth_timeout_ms; /* 0 = EVT_ECR_AUTH_TIMEOUT_MS */
} evt_ecr_config;

typedef struct evt_ecr {
    const evt_hal_net *net;
    const evt_hal_sys *sys;
    evt_ecr_store store;
    uint8_t key[EVT_ECR_KEY_BYTES];
    evt_fen order_max_total;
    char terminal_id[32];
    evt_net_sock *listener;
    evt_ecr_conn client; /* the authenticated POS connection (sock NULL when none) */
    evt_ecr_conn pending[EVT_ECR_PENDING_MAX];
    uint8_t pending_buf[EVT_ECR_PENDING_MAX][EVT_ECR_AUTH_LINE_MAX + 2];
    bool order_open;  /* an order was handed to the app and has no reply yet */
    bool refund_open; /* the open order is a refund of open_order_id (evt_ecr_refund) */
    /* The open order is an outpatient visit (its header here), fed batch by batch. */
    bool visit_open;
    evt_visit visit;
    uint32_t fees_batch; /* the batch asked for last */
    evt_order *fees_out; /* where the asked batch goes (NULL: none asked) */
    bool fees_got, fees_last;
    evt_err fees_err;   /* the HIS's batch was refused: the visit is given up */
    bool external_busy; /* the cashier runs a sale that did not come from the POS */
    bool serving_busy;  /* inside evt_ecr_serve_busy: every new sale or visit is "busy" */
    char open_order_id[EVT_ORDER_ID_BYTES];
    uint32_t send_timeout_ms;
    uint32_t auth_timeout_ms;
    uint32_t refused_connections; /* closed unauthenticated (figures, tests) */
} evt_ecr;

/*
 * Listens on cfg->bind_addr:cfg->port through cfg->net. Errors: EVT_ERR_ARG (missing net, sys,
 * store hooks; an all-zero key), EVT_ERR_NOMEM (line buffer), the driver's listen errors.
 */
evt_err evt_ecr_open(evt_ecr *ecr, const evt_ecr_config *cfg);

/* Closes every connection and the listener, frees the line buffer. Safe on a closed ecr. */
void evt_ecr_close(evt_ecr *ecr);

/*
 * One pass: waits up to about timeout_ms for a connection or data, authenticates new
 * connections, answers everything it can by itself (status queries, stored results, busy,
 * malformed lines) and returns at most one new sale in *out with *got = true — the POS has
 * then already been sent {"type":"ack"}. Messages already buffered are handled before waiting.
 * *out is written only when a sale is handed out (*got = true): a message answered by the link
 * itself (malformed, busy, stored result) leaves it as it was, so it may be the one order buffer
 * that still holds the last receipt's order (evt_txn_order). Connection loss, an unauthenticated
 * line or a failed reply only cost that connection (the link keeps listening) and are not errors.
 * Errors: EVT_ERR_ARG; EVT_ERR_NOMEM when a message did not fit the arena (it was answered with an
 * error if possible); listener errors from the driver other than a timeout.
 */
evt_err evt_ecr_poll(evt_ecr *ecr, uint32_t timeout_ms, evt_order *out, bool *got);

/*
 * A pass of evt_ecr_poll while the terminal cannot take an order (a sale, the function menu, a
 * refund are on the screen): the POS is answered at once — a new sale "busy" (or its stored
 * result, as always), status queries and resends as usual, pairing goes on — and no order is
 * handed out, so nothing waits in the link to start by itself later. The UI's wait loops call
 * it through the app (evt_ui_set_background). While a visit is open it does nothing: the HIS's
 * lines then belong to the visit and are read by evt_ecr_visit_fees. Errors as evt_ecr_poll's.
 */
evt_err evt_ecr_serve_busy(evt_ecr *ecr, uint32_t timeout_ms);

/*
 * Finishes a sale: saves result in the store (any status except busy) and sends it to the
 * connected POS. Clears the open order when result->order_id is the one handed out by poll.
 * Returns EVT_OK when sent; EVT_ERR_NET_CLOSED when no POS is connected or the send failed
 * (the result is saved anyway: the POS gets it with a status query or by resending the sale);
 * the store's error if saving failed; EVT_ERR_ARG.
 */
evt_err evt_ecr_reply(evt_ecr *ecr, const evt_ecr_result *result);

/* The visit handed out by the last evt_ecr_poll that set *got (its *out left alone), or NULL
 * when that was a sale. */
const evt_visit *evt_ecr_visit(const evt_ecr *ecr);

/* The order id of the refund handed out by the last evt_ecr_poll that set *got (its *out left
 * alone; the POS has its "ack"), or NULL when that was a sale or a visit. Valid until its
 * evt_ecr_reply. The app runs the refund and replies with a result whose refund flag is set. */
const char *evt_ecr_refund(const evt_ecr *ecr);

/*
 * The next batch of the open visit's fee lines (an evt_visit_next_fn: ctx is the evt_ecr): asks
 * the HIS with a "fees" line and reads its answer into batch, at most EVT_ORDER_MAX_ITEMS lines
 * (docs/ecr-link.md, "visit"). Meanwhile status queries are answered and other orders get
 * "busy". EVT_ERR_TIMEOUT after EVT_ECR_FEES_TIMEOUT_MS, EVT_ERR_NET_CLOSED when the HIS is
 * gone, the refusal's code when its batch was malformed (it was told why).
 */
evt_err evt_ecr_visit_fees(void *ecr, evt_order *batch, bool *last);

/* While set, new ECR sales are answered "busy" (a keyed sale is running at the counter). */
void evt_ecr_set_external_busy(evt_ecr *ecr, bool busy);

/* True when an order from poll is waiting for its evt_ecr_reply. */
bool evt_ecr_order_open(const evt_ecr *ecr);

/* ---- the daily close's batch report (docs/ecr-link.md "batch_report") ---------------- */

#define EVT_ECR_REPORT_VERSION   2
#define EVT_ECR_REPORT_OPERATORS 9
typedef struct evt_ecr_report_operator {
    char id[31];
    uint32_t sales, visits, refunds; /* refunds: of sales (2103) and visits (2208) */
    evt_fen sold, visited, refunded;
} evt_ecr_report_operator;

typedef struct evt_ecr_report {
    const char *date; /* yyyy-MM-dd */
    bool balanced;
    uint32_t sales, visits, refunds, reversals, differences;
    evt_fen sold, visited, refunded;
    const evt_ecr_report_operator *operators;
    unsigned operator_count;
} evt_ecr_report;

/* Pushes the report to the paired POS as one signed line. EVT_ERR_NOT_FOUND when no POS is
 * connected (the report is printed anyway); send errors. */
evt_err evt_ecr_send_report(evt_ecr *ecr, const evt_ecr_report *report);

#endif /* EVT_ECR_H */
