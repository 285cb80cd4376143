/*
 * evt_ui: the cashier's screens. Composes evt_ui_screen contents (Chinese, masked personal
 * data) and shows them through the board's evt_hal_ui; waits for the cashier's decision.
 * Every screen a sale can show is built here, so wording and masking live in one place.
 */
#ifndef EVT_UI_H
#define EVT_UI_H

#include <stdbool.h>

#include "evt/config.h"
#include "evt/hal_sys.h"
#include "evt/hal_ui.h"
#include "evt/sale.h"

/*
 * The shortest time between drawing a screen that moves money (the split, 请确认结算金额) and
 * an OK that confirms it. An earlier OK is discarded, not queued: it was pressed before the
 * cashier could have read the amounts. 500 ms because a double press of one key comes
 * 100-250 ms apart and a plain visual reaction takes about 250 ms, while reading five amounts
 * takes well over a second, so a cashier who reads the screen never notices the guard.
 */
#define EVT_UI_MONEY_CONFIRM_DWELL_MS 500u

typedef struct evt_ui {
    const evt_hal_ui *hal;
    const evt_hal_sys *sys; /* monotonic clock: when each screen was drawn */
    evt_ui_screen current;  /* last screen shown (tests and redraws) */
    uint64_t drawn_ms;      /* when current was drawn (sys->monotonic_ms after show returned) */
    void (*background)(void *ctx); /* evt_ui_set_background */
    void *background_ctx;
} evt_ui;

/* sys gives the clock keys are stamped on (evt_key_event.pressed_ms). */
void evt_ui_init(evt_ui *ui, const evt_hal_ui *hal, const evt_hal_sys *sys);

/*
 * Work that must go on while the cashier is busy at the terminal: fn runs once per key-wait
 * slice of every wait (decisions, menus, entries, the scan wait), and must not block. The app
 * answers the POS with it (evt_ecr_serve_busy), so an order sent during a sale or the menu is
 * told "busy" at once instead of waiting in the link. NULL fn: nothing.
 */
void evt_ui_set_background(evt_ui *ui, void (*fn)(void *ctx), void *ctx);
/* Runs the background work once (the wait loops outside evt_ui call it per slice too). */
void evt_ui_background(evt_ui *ui);

/* What the idle screen shows. */
typedef struct evt_ui_idle {
    const char *institution;
    const char *operator_name; /* NULL: nobody signed in, the terminal does not sell */
    const char *not_ready;     /* why not ready (e.g. the sign-in failed); NULL when ready */
    unsigned pending_reversals;
    /* How the last order or visit ended ("已取消，未扣款"): a cancel or a scan timeout drops
     * back to idle, and the cashier sees it ended and whether money moved. NULL: none yet. */
    const char *last_order;
    const char *last_outcome;
} evt_ui_idle;

/* Idle: ready (or not ready with the reason), institution, operator, pending reversals, the
 * last order's outcome. */
evt_err evt_ui_show_idle(evt_ui *ui, const evt_ui_idle *idle);
/* "请出示医保电子凭证" with the order total and item count and the seconds the wait has left.
 * notice is an optional extra line (e.g. why the last scan was refused), NULL for none. */
evt_err evt_ui_show_scan_prompt(evt_ui *ui, const evt_order *order, const char *notice,
                                unsigned seconds_left);
/* A short progress screen ("正在查询参保信息…"). */
evt_err evt_ui_show_progress(evt_ui *ui, const char *title, const char *line);
/* Identity check before money moves: masked name and ID, gender, age, insurance type,
 * insured region, balance, and the 亲情账户 marker with the masked holder. */
evt_err evt_ui_show_identity(evt_ui *ui, const evt_voucher_info *voucher, const evt_person *person,
                             const evt_insurance *insu);
/* Pre-settlement split for the cashier to confirm. */
evt_err evt_ui_show_split(evt_ui *ui, const evt_settlement *setl, bool has_account);
/* An outpatient visit's fee lines so far, as the platform classified them (甲/乙/丙, the
 * self-paid parts: 乙's ratio, 丙, over the price ceiling), of the announced count. */
evt_err evt_ui_show_visit_fees(evt_ui *ui, const evt_fee_summary *f, uint32_t announced);
/* Final result of a settled sale (cash to collect; the receipt printed, EVT_OK, or why not:
 * out of paper says so). */
evt_err evt_ui_show_settled(evt_ui *ui, const evt_settlement *setl, bool has_account,
                            evt_err receipt_printed);
/* A refund (退费) of a settled sale: what goes back where, all amounts positive. */
typedef struct evt_ui_refund {
    const char *order_id;
    const char *sold_at; /* "2026-06-15 09:30" */
    const char *patient; /* masked; "" when the journal does not keep it */
    evt_fen total, fund, account, mutual_aid, cash;
    bool balance_present; /* the refunded screen: the account's balance after the refund */
    evt_fen balance;
} evt_ui_refund;

/* The refund, where each part goes back: before the 2103 (done false: for the cashier to confirm;
 * a supervisor's PIN follows), or once refunded (done: the balance after it, the cash to hand
 * back, whether the refund receipt printed). */
evt_err evt_ui_show_refund(evt_ui *ui, const evt_ui_refund *r, bool done, evt_err receipt_printed);
/* A screen of one or two lines (line, notice: NULL for none) with its hint: what finished
 * (a reprint: EVT_UI_SUCCESS, "[确认] 返回"), or what to do now (the refund's scan prompt). */
evt_err evt_ui_show_message(evt_ui *ui, evt_ui_tone tone, const char *title, const char *hint,
                            const char *line, const char *notice);

/* A screen of up to EVT_UI_MAX_LINES lines (more are dropped) under title, with hint. */
evt_err evt_ui_show_lines(evt_ui *ui, evt_ui_tone tone, const char *title, const char *hint,
                          const char *const *lines, unsigned count);

/* An error or refusal: the evt_err's cashier text, plus an optional detail (e.g. the
 * platform's err_msg) on its own line. */
evt_err evt_ui_show_error(evt_ui *ui, const char *title, evt_err err, const char *detail);

/* Keyed order entry: the keyable items, the lines entered so far, the prompt and what the
 * cashier has typed. */
evt_err evt_ui_show_keyed_entry(evt_ui *ui, const evt_config *cfg, const evt_order *order,
                                const char *prompt, const char *typed, const char *notice);

/*
 * Key handling on every screen that waits for the cashier (read_number, choose,
 * wait_decision): a key pressed before the screen was drawn is discarded, because it answers
 * an earlier screen (typed ahead, or pressed during a progress screen). QUIT is the board
 * asking to stop, not an answer, and is never discarded.
 */

/*
 * Reads a number typed on the keypad (digits, BACKSPACE, OK to finish), redrawing the keyed
 * entry screen as it goes. Keys pressed before the entry screen first appeared are discarded;
 * the redraws after each digit are echo, so keys typed ahead of them count. EVT_OK with out
 * possibly empty (OK alone); EVT_ERR_CANCELLED on CANCEL; EVT_ERR_TIMEOUT when the cashier typed
 * nothing for timeout_ms. *quit set on QUIT.
 */
evt_err evt_ui_read_number(evt_ui *ui, const evt_config *cfg, const evt_order *order,
                           const char *prompt, const char *notice, uint32_t timeout_ms, char *out,
                           size_t cap, bool *quit);

/*
 * A PIN typed on the keypad, shown as one '*' per digit after label ("主管密码", "密码") under
 * title and line (may be NULL); notice (may be NULL) says why a previous try failed. Returns as
 * evt_ui_read_number.
 */
evt_err evt_ui_read_pin(evt_ui *ui, const char *title, const char *line, const char *label,
                        const char *notice, uint32_t timeout_ms, char *out, size_t cap, bool *quit);

/*
 * A numbered menu: shows title and options ("1 …", "2 …") and waits for a digit key naming
 * one (1-based in *choice). EVT_ERR_CANCELLED on CANCEL or QUIT (*quit set for QUIT),
 * EVT_ERR_TIMEOUT after timeout_ms without a choice.
 */
evt_err evt_ui_choose(evt_ui *ui, const char *title, const char *const *options, unsigned count,
                      uint32_t timeout_ms, unsigned *choice, bool *quit);

/*
 * Waits for OK or CANCEL on the screen last shown (other keys, and keys pressed before it was
 * drawn, are ignored). *confirmed = true for OK.
 * timeout_ms bounds the whole wait; EVT_ERR_TIMEOUT if the cashier did nothing.
 * EVT_ERR_CANCELLED if the board asked to quit (sim/test QUIT key).
 */
evt_err evt_ui_wait_decision(evt_ui *ui, uint32_t timeout_ms, bool *confirmed);

/*
 * The same for a confirmation that moves money: an OK pressed less than min_dwell_ms after
 * the screen was drawn is discarded too (use EVT_UI_MONEY_CONFIRM_DWELL_MS). CANCEL is taken
 * at once: refusing never moves money.
 */
evt_err evt_ui_wait_decision_guarded(evt_ui *ui, uint32_t timeout_ms, uint32_t min_dwell_ms,
                                     bool *confirmed);

/* Labels for codes the platform sends. */
const char *evt_ui_gender_label(const char *gend); /* 1 -> 男 */

#endif /* EVT_UI_H */
