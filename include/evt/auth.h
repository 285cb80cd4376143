/*
 * evt_auth: who may take a decision at the terminal that the cashier alone may not — today a
 * supervisor releasing an order blocked after an unusable settlement answer (docs/protocol-
 * decisions.md); operators and their shifts build on it later.
 *
 * A PIN is provisioned as a PBKDF2-HMAC-SHA256 hash with its own salt (evt_pin_hash, made by
 * tools/pin-hash), never as the PIN. Wrong PINs are counted in the journal per role, so a
 * reboot does not reset them: after EVT_AUTH_MAX_FAILURES in a row the role is locked for
 * EVT_AUTH_LOCK_SECONDS of the board's wall clock.
 */
#ifndef EVT_AUTH_H
#define EVT_AUTH_H

#include <stddef.h>

#include "evt/config.h"
#include "evt/err.h"
#include "evt/hal_sys.h"
#include "evt/journal.h"

/* Five wrong PINs in a row: a guess of a 6-digit PIN then takes ~300 000 lock periods. */
#define EVT_AUTH_MAX_FAILURES 5u
#define EVT_AUTH_LOCK_SECONDS 900u
/* Journal key prefix of the failure counters: "auth/<role>". */
#define EVT_AUTH_PREFIX  "auth/"
#define EVT_AUTH_PIN_MAX 12 /* digits a PIN may have */

/*
 * Checks pin (NUL-terminated digits) against hash for role ("supervisor").
 * EVT_OK: right, the failure count is reset. EVT_ERR_AUTH_FAILED: wrong (counted).
 * EVT_ERR_AUTH_LOCKED: too many wrong PINs, try after *retry_after_s seconds (may be NULL);
 * the PIN is not even checked then. EVT_ERR_CONFIG_MISSING: no hash provisioned.
 * EVT_ERR_ARG; journal errors (then nothing is decided: refuse).
 */
evt_err evt_auth_check_pin(evt_journal *j, const evt_hal_sys *sys, const char *role,
                           const evt_pin_hash *hash, const char *pin, uint32_t *retry_after_s);

#endif /* EVT_AUTH_H */
