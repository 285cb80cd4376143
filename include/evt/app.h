/*
 * evt_app: the terminal application — start-up and the main loop.
 *
 * The board hands over its drivers (evt_hal), the provisioning text, the CA bundle and one
 * buffer for the heap arena; the app parses the configuration, opens the journal, signs the
 * operator in and then serves the counter until the board asks it to stop (EVT_KEY_QUIT).
 */
#ifndef EVT_APP_H
#define EVT_APP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "evt/arena.h"
#include "evt/config.h"
#include "evt/ecr.h"
#include "evt/err.h"
#include "evt/hal.h"
#include "evt/txn.h"

typedef struct evt_app_boot {
    const evt_hal *hal;
    const char *config_text; /* provisioning file contents (UTF-8) */
    size_t config_len;
    const uint8_t *ca_pem; /* CA bundle (PEM), NUL-terminated; ca_len includes the NUL */
    size_t ca_len;
    void *arena; /* the firmware heap (evt_arena_init); must outlive the app */
    size_t arena_len;
} evt_app_boot;

typedef struct evt_app_figures {
    evt_arena_stats arena;
    uint32_t sales_settled;
    uint32_t sales_refused;
    uint32_t sales_failed;
    uint32_t sales_unknown;
    uint32_t reversals_pending;
} evt_app_figures;

typedef struct evt_app evt_app;

/*
 * Starts the application. On failure msg holds a reason for the technician (never a secret)
 * and the screen shows it too. The app object lives in the arena; *out stays valid until
 * evt_app_stop.
 */
evt_err evt_app_start(const evt_app_boot *boot, evt_app **out, char *msg, size_t msg_cap);

/* Serves the counter until the board's UI returns EVT_KEY_QUIT. */
evt_err evt_app_run(evt_app *app);

/* One pass of the main loop (polls ECR, scanner, keys, reversal retries) for up to
 * timeout_ms; *quit set when the board asked to stop. Tests drive the app with it. */
evt_err evt_app_step(evt_app *app, uint32_t timeout_ms, bool *quit);

/* Runs one sale at once, as if it had come from the POS (tests, keyed sales). */
evt_err evt_app_sale(evt_app *app, const evt_order *order, evt_ecr_result *result);

/* Runs one outpatient visit at once (evt_txn_clinic_visit), its fee lines from next(ctx). */
evt_err evt_app_visit(evt_app *app, const evt_visit *visit, evt_visit_next_fn next, void *ctx,
                      evt_ecr_result *result);

void evt_app_get_figures(const evt_app *app, evt_app_figures *out);

/* What the terminal says of an order, as the POS's status query gets it: EVT_OK with *result,
 * or EVT_ERR_NOT_FOUND when it has no record of the order. */
evt_err evt_app_order_status(evt_app *app, const char *order_id, evt_ecr_result *result);

/* Closes connections and releases the app's memory. */
void evt_app_stop(evt_app *app);

#endif /* EVT_APP_H */
